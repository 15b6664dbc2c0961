"""Lifting whole sequences with a lifter that sees windows of frames (`lifting.core.models.TemporalLifter`).

A temporal lifter maps ``[B, T, J, 2]`` windows to ``[B, T, J, 3]`` for any T, each frame from the ``frames``
frames around it. A test set or a video holds sequences of any length back to back; `lift_sequences` cuts them
into chunks of one fixed shape (``chunk`` frames plus ``frames // 2`` frames of context on each side, taken
from the sequence itself and repeated at its ends, as the lifter pads a sequence itself), lifts the chunks in
batches of one fixed size, so any input compiles once, and keeps each chunk's middle: every frame is lifted as in
one pass over its whole sequence.
"""

from __future__ import annotations

import numpy as np

from lifting.core import batching


def check_lengths(lengths, num_poses: int) -> np.ndarray:
  """``lengths`` as ``[S]`` int64 frames per sequence, checked to be positive and to sum to ``num_poses``;
  ``None`` means every pose is a sequence of its own (a still window)."""
  if lengths is None:
    return np.ones(num_poses, np.int64)
  lengths = np.asarray(lengths)
  if lengths.ndim != 1 or not np.issubdtype(lengths.dtype, np.integer) or (lengths < 1).any() or (
      int(lengths.sum()) != num_poses):
    raise ValueError(f"sequence lengths: expected positive integers [S] summing to the {num_poses} poses, got "
                     f"{np.asarray(lengths).tolist()[:8]}{' ...' if np.size(lengths) > 8 else ''}")
  return lengths.astype(np.int64)


def window_starts(lengths, span: int, usable: np.ndarray | None = None) -> np.ndarray:
  """``[W]`` int64 indices of the frames that begin a ``span``-frame run inside one sequence (``lengths [S]`` frames
  each, back to back) whose frames are all ``usable [N]`` (default: all)."""
  starts, first = [], 0
  for n in np.asarray(lengths, np.int64):
    starts.append(first + np.arange(max(n - span + 1, 0)))
    first += n
  starts = np.concatenate(starts) if starts else np.zeros(0, np.int64)
  if usable is not None and len(starts):
    ok = np.asarray(usable, bool)
    starts = starts[np.all([ok[starts + k] for k in range(span)], axis=0)]
  return starts


def chunk_windows(lengths: np.ndarray, chunk: int, context: int) -> tuple[np.ndarray, np.ndarray]:
  """``(gather [K, chunk + 2 * context], keep [K, chunk])``: frame indices of each chunk (sequences back to back;
  indices outside a sequence clamped to its first or last frame), and the frame each chunk's middle positions
  stand for (-1 past a sequence's end)."""
  gather, keep = [], []
  start = 0
  for n in np.asarray(lengths, np.int64):
    for first in range(0, n, chunk):
      local = np.arange(first - context, first + chunk + context)
      gather.append(start + np.clip(local, 0, n - 1))
      middle = np.arange(first, first + chunk)
      keep.append(np.where(middle < n, start + middle, -1))
    start += n
  if not gather:
    return np.zeros((0, chunk + 2 * context), np.int64), np.zeros((0, chunk), np.int64)
  return np.stack(gather), np.stack(keep)


def lift_sequences(lift_windows, poses: np.ndarray, lengths, frames: int, chunk: int = 128,
                   batch: int = 32) -> np.ndarray:
  """``poses [N, J, 2]`` (sequences of ``lengths [S]`` back to back) -> ``[N, J, 3]`` with ``lift_windows``
  (``[batch, chunk + 2 * (frames // 2), J, 2] -> [..., J, 3]``)."""
  poses = np.asarray(poses, np.float32)
  lengths = check_lengths(lengths, len(poses))
  context = frames // 2
  gather, keep = chunk_windows(lengths, chunk, context)
  out = np.zeros(poses.shape[:-1] + (3,), np.float32)
  if len(gather):
    lifted = batching.map_padded(lambda idx: lift_windows(poses[idx]), gather, size=batch)[:, context:context + chunk]
    out[keep[keep >= 0]] = lifted[keep >= 0]
  return out


def fill_gaps(poses: np.ndarray, ok: np.ndarray, lengths: np.ndarray) -> np.ndarray:
  """``poses [N, ...]`` with the rows that are not ``ok [N]`` replaced by the nearest ``ok`` row of their sequence
  (``lengths [S]``; the earlier one on a tie), so a temporal lifter sees a whole timeline; a sequence without any
  ``ok`` row is left as it is."""
  out = np.array(poses, copy=True)
  start = 0
  for n in np.asarray(lengths, np.int64):
    good = np.flatnonzero(ok[start:start + n])
    if len(good) and len(good) < n:
      frames = np.arange(n)
      right = np.clip(np.searchsorted(good, frames), 0, len(good) - 1)
      left = np.clip(right - 1, 0, len(good) - 1)
      nearest = np.where(np.abs(good[left] - frames) <= np.abs(good[right] - frames), good[left], good[right])
      out[start:start + n] = out[start + nearest]
    start += n
  return out
