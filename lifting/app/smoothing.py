"""Temporal smoothing of lifted video, and the jitter it removes.

The lifter sees one frame at a time (Chen et al. close by suggesting temporal models for video), so
its lifts of a video shake from frame to frame. `gaussian` averages each joint over neighbouring
frames; `acceleration_error` measures the shake against ground truth. `benchmarks/smoothing.py`
measures both on the bandai test sequences (README: "Smoothing lifted video").
"""

from __future__ import annotations

import numpy as np


def gaussian(poses: np.ndarray, sigma: float, valid: np.ndarray | None = None) -> np.ndarray:
  """``poses [T, ..., D]`` averaged over time with a Gaussian of ``sigma`` frames (0: unchanged).

  The kernel is cut at 3 sigma and renormalised over the frames it covers, so the ends of the video
  are averaged over the frames they have, not over padding. Frames that are not ``valid [T]`` (or
  not finite) neither count nor change: they stay as they were (NaN for poses that were not lifted).
  """
  poses = np.asarray(poses, np.float64)
  if not sigma >= 0:
    raise ValueError(f"smoothing: expected sigma >= 0 frames, got {sigma}")
  if poses.ndim < 2:
    raise ValueError(f"smoothing: expected poses of shape [T, ..., D], got {poses.shape}")
  ok = np.isfinite(poses.reshape(len(poses), -1)).all(-1)
  if valid is not None:
    valid = np.asarray(valid, bool)
    if valid.shape != (len(poses),):
      raise ValueError(f"smoothing: valid: expected shape ({len(poses)},), got {valid.shape}")
    ok &= valid
  if sigma == 0 or not ok.any():
    return poses.copy()
  radius = int(np.ceil(3 * sigma))
  kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
  flat = np.where(ok[:, None], poses.reshape(len(poses), -1), 0.0)
  # "full" then cut: "same" returns the kernel's length for clips shorter than the kernel.
  centred = lambda x: np.convolve(x, kernel, mode="full")[radius:radius + len(poses)]  # noqa: E731
  weight = centred(ok.astype(np.float64))  # [T]
  total = np.stack([centred(flat[:, k]) for k in range(flat.shape[1])], axis=1)
  out = poses.copy()
  out[ok] = (total[ok] / weight[ok, None]).reshape((-1,) + poses.shape[1:])
  return out


def acceleration_error(pred: np.ndarray, truth: np.ndarray) -> float:
  """Mean per-joint acceleration error of a video ``[T, J, 3]`` against the truth, in the truth's units
  per frame squared: ``mean_t,j || (p[t+1] - 2 p[t] + p[t-1]) - (q[t+1] - 2 q[t] + q[t-1]) ||``."""
  pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
  if pred.shape != truth.shape or pred.ndim != 3 or len(pred) < 3:
    raise ValueError(f"acceleration_error: expected two [T >= 3, J, 3] arrays, got {pred.shape} and {truth.shape}")
  accel = lambda x: x[2:] - 2 * x[1:-1] + x[:-2]  # noqa: E731
  return float(np.mean(np.linalg.norm(accel(pred) - accel(truth), axis=-1)))
