"""Human3.6M from VideoPose3D's preprocessed files (Pavllo et al., CVPR 2019).

Human3.6M is licensed, so nothing is downloaded here; the loader reads the ``.npz`` files that
VideoPose3D's data preparation writes:

* ``data_3d_h36m.npz``: ``positions_3d``, a pickled ``{subject: {action: [F, 32, 3]}}`` of world
  joints in metres (``[F, 17, 3]``, already in the ``h36m17`` order, is accepted too).
* ``data_2d_h36m_gt.npz`` and detection files (``data_2d_h36m_cpn_ft_h36m_dbb.npz``, ...):
  ``positions_2d``, a pickled ``{subject: {action: [array [F, K, 2 or 3] per camera]}}`` in pixels,
  and ``metadata`` with ``layout_name`` ('h36m' or 'coco') and ``num_joints``.

These files carry no cameras, yet the 3D must be in each camera's frame: N-MPJPE is not
rotation-invariant and supervised terms compare camera-frame joints. So every (subject, camera)
gets a camera fitted to its world joints and ground-truth 2D (`fit_camera`), unless a cameras JSON
is given. The fit models the lens distortion Human3.6M's 2D was projected with: a pinhole alone
leaves only ~2 px RMS, but as focal length, depth, principal point and rotation trade off against
each other it tilts the camera by 1-2 degrees (~10 mm root-relative error in simulation), while the
full model recovers it exactly. A reprojection RMS over ``MAX_RMS_PX`` means the files do not match.
"""

from __future__ import annotations

from collections.abc import Sequence
import json
import os
import re

from absl import logging
import numpy as np
import scipy.linalg
import scipy.optimize
from scipy.spatial.transform import Rotation

from lifting.core import skeleton
from lifting.data.sequences import PoseSequences
from lifting.data.sequences import concatenate

TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
MAX_RMS_PX = 20.0
# Joint ids of the 32-joint Human3.6M skeleton that make up `h36m17`, in its order; the other
# 15 are toes, hand details, end sites and duplicates of kept joints.
H36M32_TO_17 = np.array([0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27])
_LAYOUTS = {"h36m": "h36m17", "coco": "coco17"}
# S1 spells two actions differently from the other subjects; one label each keeps per-action tables whole.
_ALIASES = {"WalkingDog": "WalkDog", "TakingPhoto": "Photo"}
_FIT_FRAMES = 1000  # plenty for a 14-parameter camera and fast; the RMS is still measured on every frame


def action_label(action: str) -> str:
  """'Walking 1' -> 'Walking', 'WalkingDog' -> 'WalkDog', 'TakingPhoto 1' -> 'Photo'."""
  label = re.sub(r"\s+\d+$", "", action.strip())
  return _ALIASES.get(label, label)


def _project(world, K, R, t, dist=(0.0, 0.0, 0.0, 0.0)):
  """Pixels ``[N, 2]`` of ``world [N, 3]``; ``dist`` is ``(k1, k2, p1, p2)`` of Human3.6M's lens model."""
  cam = world @ R.T + t
  xy = cam[:, :2] / cam[:, 2:]
  r2 = np.sum(xy ** 2, axis=1, keepdims=True)
  p = np.asarray(dist[2:])
  xy = xy * (1 + dist[0] * r2 + dist[1] * r2 ** 2 + xy @ p[:, None]) + p * r2
  return xy @ K[:2, :2].T + K[:2, 2]


def _rms(pixels, fitted) -> float:
  return float(np.sqrt(np.nanmean(np.sum((fitted - pixels) ** 2, axis=-1))))


def _normalizer(x):
  """Similarity ``[D+1, D+1]`` taking ``x [N, D]`` to zero mean and mean norm sqrt(D) (Hartley's conditioning)."""
  mean = x.mean(0)
  s = np.sqrt(x.shape[1]) / np.mean(np.linalg.norm(x - mean, axis=1))
  T = np.diag([s] * x.shape[1] + [1.0])
  T[:-1, -1] = -s * mean
  return T


def _fit(world, pixels, distortion):
  """`fit_camera`, also returning the lens coefficients ``(k1, k2, p1, p2)``."""
  world, pixels = np.asarray(world, np.float64), np.asarray(pixels, np.float64)
  if world.ndim != 2 or world.shape[1] != 3 or pixels.shape != (len(world), 2):
    raise ValueError(f"fit_camera: expected world [N, 3] and pixels [N, 2], got {world.shape} and {pixels.shape}")
  ok = np.isfinite(world).all(1) & np.isfinite(pixels).all(1)
  world, pixels = world[ok], pixels[ok]
  if len(world) < 12:
    raise ValueError(f"fit_camera: expected at least 12 finite points, got {len(world)}")
  T3, T2 = _normalizer(world), _normalizer(pixels)
  X = np.c_[world, np.ones(len(world))] @ T3.T
  uv = (np.c_[pixels, np.ones(len(pixels))] @ T2.T)[:, :2]
  zero = np.zeros_like(X)
  A = np.concatenate([np.c_[X, zero, -uv[:, :1] * X], np.c_[zero, X, -uv[:, 1:] * X]])
  null = np.linalg.eigh(A.T @ A)[1][:, 0]  # A's null vector; with the conditioning above, A^T A is accurate enough
  P = np.linalg.inv(T2) @ null.reshape(3, 4) @ T3
  if np.linalg.det(P[:, :3]) < 0:  # P is up to scale; this sign makes R a rotation, not a reflection
    P = -P
  K, R = scipy.linalg.rq(P[:, :3])
  D = np.diag(np.sign(np.diag(K)))  # RQ fixes signs only up to D @ D = I: make the focal lengths positive
  K, R = K @ D, D @ R
  t = np.linalg.solve(K, P[:, 3])
  K = K / K[2, 2]
  if np.median(world @ R[2] + t[2]) <= 0:
    raise ValueError("fit_camera: the points fit a camera only if they lie behind it; are the 2D and 3D mirrored?")
  dist, rms = np.zeros(4), _rms(pixels, _project(world, K, R, t))

  # The DLT minimises an algebraic error and has no lens; refine the pixel error of the full model.
  def unpack(p):
    Kp = np.array([[p[0], 0, p[2]], [0, p[1], p[3]], [0, 0, 1.0]])
    return Kp, Rotation.from_rotvec(p[4:7]).as_matrix() @ R, p[7:10], np.r_[p[10:], np.zeros(14 - len(p))]

  start = np.r_[K[0, 0], K[1, 1], K[:2, 2], np.zeros(3), t, np.zeros(4 if distortion else 0)]
  # Good data converges in a few iterations; the cap stops LM wandering long on data no camera explains.
  p = scipy.optimize.least_squares(lambda p: (_project(world, *unpack(p)) - pixels).ravel(), start, method="lm",
                                   x_scale="jac", max_nfev=50).x
  # If LM diverged, the DLT's answer stands and the caller's RMS check reports it.
  if _rms(pixels, _project(world, *unpack(p))) <= rms:
    (K, R, t, dist), rms = unpack(p), _rms(pixels, _project(world, *unpack(p)))
  return K, R, t, dist, rms


def fit_camera(world: np.ndarray, pixels: np.ndarray,
               distortion: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
  """Fits a camera to ``world [N, 3]`` points seen at ``pixels [N, 2]``; non-finite points are ignored.

  Returns ``(K [3, 3], R [3, 3], t [3], rms_px)`` with ``camera = R @ world + t`` (``t`` in the units
  of ``world``), zero skew, positive focal lengths and ``det(R) = 1``: a linear DLT, decomposed by
  RQ, refined by Levenberg-Marquardt on the pixel error. With ``distortion`` the refinement also
  fits Human3.6M's lens model (radial ``k1, k2``, tangential ``p1, p2``; see the module docstring).
  ``rms_px`` is the RMS per-point reprojection distance of the fitted model.
  """
  K, R, t, _, rms = _fit(world, pixels, distortion)
  return K, R, t, rms


def _npz(path, key, what, field):
  if not path or not os.path.exists(path):
    raise ValueError(f"expected {what} at {path!r}, found no such file; it is one of VideoPose3D's preprocessed "
                     f"Human3.6M files (made by its data/prepare_data_h36m.py): point --config.data.h36m.{field} at it")
  with np.load(path, allow_pickle=True) as f:
    if key not in f:
      raise ValueError(f"{path}: expected key {key!r} (VideoPose3D's format), found {sorted(f.keys())}")
    return f[key].item(), (f["metadata"].item() if "metadata" in f else None)


def _load_2d(path, what, field):
  """``({subject: {action: [per-camera [F, K, 2 or 3]]}}, layout name)`` of a VideoPose3D 2D file."""
  pos, meta = _npz(path, "positions_2d", what, field)
  if meta is None or "layout_name" not in meta:
    raise ValueError(f"{path}: expected key 'metadata' with a 'layout_name', found none")
  if meta["layout_name"] not in _LAYOUTS:
    raise ValueError(f"{path}: unknown layout_name {meta['layout_name']!r}; expected one of {sorted(_LAYOUTS)}")
  layout = _LAYOUTS[meta["layout_name"]]
  if meta.get("num_joints", 17) != skeleton.get_layout(layout).num_joints:
    raise ValueError(f"{path}: layout_name {meta['layout_name']!r} has 17 joints, got num_joints {meta['num_joints']}")
  return pos, layout


def _sequence_2d(pos, layout, path, subject, action, frames):
  """Per-camera ``[frames, K, 2]`` of one action, trimmed to the 3D length; returns (arrays, frames trimmed)."""
  if subject not in pos or action not in pos[subject]:
    raise ValueError(f"{path}: expected 2D for {subject}/{action}, found none")
  out, trimmed, J = [], 0, skeleton.get_layout(layout).num_joints
  for k, a in enumerate(pos[subject][action]):
    a = np.asarray(a, np.float64)
    if a.ndim != 3 or a.shape[1] != J or a.shape[2] not in (2, 3):
      raise ValueError(f"{path}: {subject}/{action}/cam{k}: expected shape [F, {J}, 2 or 3], got {a.shape}")
    if len(a) < frames:
      raise ValueError(f"{path}: {subject}/{action}/cam{k}: expected at least the 3D's {frames} frames, got {len(a)}")
    trimmed += len(a) - frames
    out.append(a[:frames, :, :2])  # a third channel is the detector's confidence
  return out, trimmed


def _load_cameras(path, subjects):
  """``{subject: [(R, t in metres)]}`` from a JSON with ``t`` in millimetres."""
  if not os.path.exists(path):
    raise ValueError(f"cameras: expected a JSON file at {path!r}, found none")
  with open(path) as f:
    raw = json.load(f)
  out = {}
  for s in subjects:
    if s not in raw:
      raise ValueError(f"{path}: expected cameras for subject {s}, found subjects {sorted(raw)}")
    out[s] = []
    for k, cam in enumerate(raw[s]):
      R, t = np.asarray(cam.get("R", 0), np.float64), np.asarray(cam.get("t", 0), np.float64)
      if R.shape != (3, 3) or t.shape != (3,) or not np.allclose(R @ R.T, np.eye(3), atol=1e-4) or np.linalg.det(R) < 0:
        raise ValueError(f"{path}: {s} camera {k}: expected a 3x3 rotation 'R' and a 3-vector 't', got {cam}")
      out[s].append((R, t / 1000.0))
  return out


def load(path_3d: str, path_2d_gt: str | None, path_2d: str | None = None, subjects: Sequence[str] = TRAIN_SUBJECTS,
         cameras: str | None = None, stride: int = 1, actions: Sequence[str] | None = None) -> PoseSequences:
  """One sequence per (subject, action, camera) of VideoPose3D's Human3.6M files, in ``paper14``.

  Args:
    path_3d: ``data_3d_h36m.npz``.
    path_2d_gt: ``data_2d_h36m_gt.npz``, the ground-truth 2D the cameras are fitted to; may be
      ``None`` only when both ``cameras`` and ``path_2d`` are given.
    path_2d: the 2D inputs (e.g. a detection file); defaults to ``path_2d_gt``. Frames where a
      needed joint is NaN are dropped.
    subjects: e.g. `TRAIN_SUBJECTS` or `TEST_SUBJECTS`.
    cameras: optional JSON ``{subject: [{"R": 3x3, "t": [3]} per camera]}`` with ``camera_mm =
      R @ world_mm + t`` (``t`` in millimetres; from a camera centre ``C``, ``t = -R @ C``),
      used instead of fitting.
    stride: keep every ``stride``-th frame of each sequence.
    actions: keep only these action labels (``'Walking'``) or file names (``'Walking 1'``).

  Returns:
    `PoseSequences` with ``pose2d`` in pixels and ``pose3d`` camera-frame millimetres, named
    ``f"{subject}/{action}/cam{k}"`` (``k`` the camera's index in the file), labelled `action_label`.
  """
  subjects = (subjects,) if isinstance(subjects, str) else tuple(subjects)
  path_2d_gt, path_2d, cameras = path_2d_gt or None, path_2d or None, cameras or None  # a config's "" means unset
  if path_2d_gt is None and (cameras is None or path_2d is None):
    raise ValueError("path_2d_gt: the ground-truth 2D (data_2d_h36m_gt.npz) is needed to fit the cameras that put "
                     "the 3D in camera frames, also when path_2d gives detections; set --config.data.h36m.path_2d_gt, "
                     "or known extrinsics in cameras")
  pos3d, _ = _npz(path_3d, "positions_3d", "data_3d_h36m.npz", "path_3d")
  gt = _load_2d(path_2d_gt, "data_2d_h36m_gt.npz", "path_2d_gt") if path_2d_gt is not None else None
  if gt is not None and gt[1] != "h36m17":
    raise ValueError(f"{path_2d_gt}: expected the ground-truth 2D in layout 'h36m' to fit cameras, got {gt[1]!r}")
  inputs = gt if path_2d is None else _load_2d(path_2d, "a 2D file like data_2d_h36m_cpn_ft_h36m_dbb.npz", "path_2d")
  path_in = path_2d_gt if path_2d is None else path_2d
  missing = [s for s in subjects if s not in pos3d]
  if missing:
    raise ValueError(f"{path_3d}: expected subjects {missing}, found {sorted(pos3d)}")
  names = {a for s in subjects for a in pos3d[s]}
  labels = {action_label(a) for a in names}
  if actions is not None and not set(actions) <= names | labels:
    raise ValueError(f"actions: {sorted(set(actions) - names - labels)} not in {path_3d}; labels are {sorted(labels)}")

  def world17(s, a):
    w = np.asarray(pos3d[s][a], np.float64)
    if w.ndim != 3 or w.shape[1:] not in ((32, 3), (17, 3)):
      raise ValueError(f"{path_3d}: {s}/{a}: expected shape [F, 32, 3] or [F, 17, 3], got {w.shape}")
    return w[:, H36M32_TO_17] if w.shape[1] == 32 else w

  extrinsics = _load_cameras(cameras, subjects) if cameras is not None else {}
  parts, trimmed, dropped = [], 0, 0
  for s in subjects:
    world = {a: world17(s, a) for a in sorted(pos3d[s])}
    if cameras is None:  # every action of the subject, so its cameras do not depend on the `actions` filter
      pix = {a: _sequence_2d(gt[0], "h36m17", path_2d_gt, s, a, len(w))[0] for a, w in world.items()}
      all_world = np.concatenate(list(world.values()))
      step = max(1, len(all_world) // _FIT_FRAMES)  # whole frames: a stride over points could pick one joint
      extrinsics[s] = []
      for k in range(len(next(iter(pix.values())))):
        all_pix = np.concatenate([p[k] for p in pix.values()])
        why = f"; is {path_2d_gt} the ground-truth 2D of {path_3d}?"
        try:
          K, R, t, dist, _ = _fit(all_world[::step].reshape(-1, 3), all_pix[::step].reshape(-1, 2), True)
        except ValueError as e:
          raise ValueError(f"no camera fits {s} cam{k}: {e}{why}") from None
        rms = _rms(all_pix.reshape(-1, 2), _project(all_world.reshape(-1, 3), K, R, t, dist))
        logging.info("h36m: %s cam%d: f=(%.1f, %.1f) px, c=(%.1f, %.1f) px, k=(%.3f, %.3f), p=(%.4f, %.4f), "
                     "reprojection RMS %.2f px", s, k, K[0, 0], K[1, 1], K[0, 2], K[1, 2], *dist, rms)
        if not rms <= MAX_RMS_PX:
          raise ValueError(f"the camera fitted to {s} cam{k} reprojects with RMS {rms:.1f} px > {MAX_RMS_PX} px{why}")
        extrinsics[s].append((R, t))
    for a, w in world.items():
      if actions is not None and a not in actions and action_label(a) not in actions:
        continue
      views, n = _sequence_2d(inputs[0], inputs[1], path_in, s, a, len(w))
      trimmed += n
      if len(views) != len(extrinsics[s]):
        raise ValueError(f"{path_in}: {s}/{a}: expected {len(extrinsics[s])} cameras, got {len(views)}")
      for k, (view, (R, t)) in enumerate(zip(views, extrinsics[s])):
        p2, _ = skeleton.convert(view, inputs[1], "paper14")
        p3, _ = skeleton.convert(1000.0 * (w @ R.T + t), "h36m17", "paper14")
        keep = np.isfinite(p2).all(axis=(1, 2))
        dropped += int(np.sum(~keep))
        parts.append(PoseSequences(p2[keep].astype(np.float32), p3[keep].astype(np.float32),
                                   np.array([keep.sum()], np.int64), (f"{s}/{a}/cam{k}",), (action_label(a),)))
  if trimmed:
    logging.info("h36m: trimmed %d trailing 2D frames beyond the 3D sequences' ends", trimmed)
  if dropped:
    logging.warning("h36m: dropped %d frames whose 2D has NaN joints (failed detections)", dropped)
  return concatenate(parts).subsample(stride)
