"""3D pose error metrics, per pose, in the units of the ground truth (millimetres here).

Published numbers differ in how they align the prediction before measuring, so every metric here
says exactly what it aligns and scales. `dataset_metrics` root-centres both sides (mean of
``layout.root_joints``, the hip midpoint) before any of them; the per-pose functions do not centre,
so callers root-centre first:

- MPJPE (``mpjpe``): mean per-joint Euclidean distance, no alignment and no scaling beyond the
  root-centring. Only meaningful when predictions are metric; Chen et al.'s lifter predicts
  scale-normalised skeletons, for which use N-MPJPE or PA-MPJPE.
- N-MPJPE (``n_mpjpe``): the root-centred prediction is multiplied by the least-squares scale
  ``s = <pred, target> / <pred, pred>`` (Rhodin et al., CVPR 2018); no rotation or translation.
- PA-MPJPE (``pa_mpjpe``): the prediction is aligned by the best similarity transform (rotation,
  translation and scale; reflections excluded, so a mirrored pose is penalised), Chen et al.'s
  "scaling and rigid alignment".
- PCK@150 mm (``pck``) and AUC (``auc``): fraction of joints within 150 mm, and the mean PCK over
  31 thresholds 0, 5, ..., 150 mm (the MPI-INF-3DHP definition), both after the same similarity
  Procrustes alignment as PA-MPJPE. MPI-INF-3DHP papers often report them with other alignments
  (root-centring only, or scale only), so compare like with like. The 0 mm threshold only counts
  exact hits, so an AUC below 1 by 1/31 can be float round-off.
- View diagnostics (``subject_yaw``, ``depth_mirror``): the subject's yaw relative to the camera,
  computed from the camera-frame ground truth, bins errors by view (``per_yaw``); the depth-flip
  rate is the share of poses whose PA-MPJPE is lower after mirroring the prediction's depth about
  its root than before, i.e. poses lifted facing the wrong way (a depth-mirrored body projects to
  the same 2D under weak perspective, so nothing but perspective and learned priors tells them apart).
- Limb ratios (``limb_ratios``): upper-to-lower limb length ratios per side (shoulder-elbow over
  elbow-wrist, hip-knee over knee-ankle), the body-proportion check of Chen et al. Fig. 6; they are
  invariant to translation, rotation and scale, so need no alignment.

``align``, ``joint_errors``, ``pck`` and ``auc`` take the alignment by name (``ALIGNMENTS``) and
default to Procrustes. All JAX functions are shape-polymorphic over leading dimensions and safe
under ``jax.jit`` (pass ``alignment`` and ``layout`` as static arguments).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from lifting.core import geometry
from lifting.core import skeleton

ALIGNMENTS = ("none", "scale", "procrustes")
PCK_THRESHOLD = 150.0
AUC_THRESHOLDS = np.linspace(0.0, 150.0, 31)
LIMB_RATIO_NAMES = ("l_arm", "r_arm", "l_leg", "r_leg")
EVAL_CHUNK = 16384
_EVAL_KEYS = ("pa_mpjpe", "n_mpjpe", "mpjpe", "pck", "auc", "limb_ratio_error")
YAW_BINS = 8  # 45-degree bins centred on 0 (facing the camera), 45, ..., 315 degrees.

# (upper joint, middle joint, lower joint) per entry of LIMB_RATIO_NAMES.
_LIMB_JOINTS = (
  ("l_shoulder", "l_elbow", "l_wrist"),
  ("r_shoulder", "r_elbow", "r_wrist"),
  ("l_hip", "l_knee", "l_ankle"),
  ("r_hip", "r_knee", "r_ankle"),
)


def _check(pred, target, name):
  if pred.shape != target.shape or pred.ndim < 2:
    raise ValueError(f"{name}: expected pred and target of the same shape [..., J, 3], got "
                     f"{tuple(pred.shape)} and {tuple(target.shape)}")


def mpjpe(pred: jax.Array, target: jax.Array) -> jax.Array:
  """``[..., J, 3]`` x2 -> ``[...]`` mean per-joint position error, no alignment."""
  pred, target = jnp.asarray(pred), jnp.asarray(target)
  _check(pred, target, "mpjpe")
  return jnp.mean(jnp.linalg.norm(pred - target, axis=-1), axis=-1)


def n_mpjpe(pred: jax.Array, target: jax.Array) -> jax.Array:
  """``[..., J, 3]`` x2 -> ``[...]`` MPJPE after the least-squares scale of ``pred``."""
  pred, target = jnp.asarray(pred), jnp.asarray(target)
  _check(pred, target, "n_mpjpe")
  return mpjpe(_scale_align(pred, target), target)


def pa_mpjpe(pred: jax.Array, target: jax.Array) -> jax.Array:
  """``[..., J, 3]`` x2 -> ``[...]`` MPJPE after similarity Procrustes alignment (no reflection)."""
  pred, target = jnp.asarray(pred), jnp.asarray(target)
  _check(pred, target, "pa_mpjpe")
  return mpjpe(geometry.procrustes_align(pred, target, scale=True), target)


def _scale_align(pred, target):
  s = jnp.sum(pred * target, axis=(-2, -1)) / jnp.maximum(jnp.sum(pred * pred, axis=(-2, -1)), 1e-12)
  return s[..., None, None] * pred



def align(pred: jax.Array, target: jax.Array, alignment: str) -> jax.Array:
  """``[..., J, 3]`` x2 -> ``[..., J, 3]`` ``pred`` aligned to ``target``.

  ``"none"``: unchanged; ``"scale"``: least-squares scale only, as in `n_mpjpe`; ``"procrustes"``:
  similarity transform without reflection, as in `pa_mpjpe`.
  """
  pred, target = jnp.asarray(pred), jnp.asarray(target)
  _check(pred, target, "align")
  if alignment == "none":
    return pred
  if alignment == "scale":
    return _scale_align(pred, target)
  if alignment == "procrustes":
    return geometry.procrustes_align(pred, target, scale=True)
  raise ValueError(f"align: unknown alignment {alignment!r}; expected one of {ALIGNMENTS}")


def joint_errors(pred: jax.Array, target: jax.Array, alignment: str = "procrustes") -> jax.Array:
  """``[..., J, 3]`` x2 -> ``[..., J]`` per-joint Euclidean distances after `align`."""
  target = jnp.asarray(target)
  return jnp.linalg.norm(align(pred, target, alignment) - target, axis=-1)


def pck(pred: jax.Array, target: jax.Array, threshold=PCK_THRESHOLD, alignment: str = "procrustes") -> jax.Array:
  """``[..., J, 3]`` x2 -> ``[...]`` fraction of joints with error ``<= threshold`` after `align`."""
  return _pck(joint_errors(pred, target, alignment), threshold)


def auc(pred: jax.Array, target: jax.Array, thresholds=AUC_THRESHOLDS, alignment: str = "procrustes") -> jax.Array:
  """``[..., J, 3]`` x2 -> ``[...]`` mean of the PCK fractions over ``thresholds [T]`` after `align`."""
  return _auc(joint_errors(pred, target, alignment), thresholds)


def _pck(errors, threshold):
  return jnp.mean(errors <= jnp.asarray(threshold, errors.dtype), axis=-1)


def _auc(errors, thresholds):
  thresholds = jnp.asarray(thresholds, errors.dtype)
  if thresholds.ndim != 1 or thresholds.size == 0:
    raise ValueError(f"auc: expected a non-empty 1-D array of thresholds, got shape {tuple(thresholds.shape)}")
  # Averaging over joints and thresholds together equals the mean over thresholds of each PCK.
  return jnp.mean(errors[..., None] <= thresholds, axis=(-2, -1))


def limb_ratios(poses: jax.Array, layout: skeleton.Layout | str) -> jax.Array:
  """``[..., J, 3]`` -> ``[..., 4]`` upper-to-lower limb length ratios, ordered as ``LIMB_RATIO_NAMES``.

  Arms are ``|shoulder - elbow| / |elbow - wrist|``, legs ``|hip - knee| / |knee - ankle|`` (Chen et
  al., Fig. 6); joints are found by name in ``layout``. A zero-length lower limb gives inf or NaN.
  """
  layout = skeleton.get_layout(layout)
  poses = jnp.asarray(poses)
  if poses.ndim < 2 or poses.shape[-2:] != (layout.num_joints, 3):
    raise ValueError(f"limb_ratios: layout {layout.name!r} expects poses of shape [..., {layout.num_joints}, 3], "
                     f"got shape {tuple(poses.shape)}")
  try:
    idx = np.array([[layout.index(j) for j in limb] for limb in _LIMB_JOINTS])  # [4, 3]
  except ValueError as e:
    raise ValueError(f"limb_ratios: {e}") from None
  upper, mid, lower = idx.T
  mid_pts = poses[..., mid, :]
  return (jnp.linalg.norm(poses[..., upper, :] - mid_pts, axis=-1)
          / jnp.linalg.norm(mid_pts - poses[..., lower, :], axis=-1))


def subject_yaw(poses: jax.Array, layout: skeleton.Layout | str) -> jax.Array:
  """``[..., J, 3]`` camera-frame joints -> ``[...]`` the subject's yaw towards the camera, degrees in [0, 360).

  The facing direction is the horizontal normal of the body's left-right axis (hips plus
  shoulders), ``across x up`` with up = -y (camera y points down); the reference is the horizontal
  direction from the root to the camera at the origin. 0: facing the camera; 90: facing the image's
  +x side (turned to the subject's left); 180: back to the camera. Needs camera-frame (not
  root-centred) joints and a layout with ``l_hip``, ``r_hip``, ``l_shoulder`` and ``r_shoulder``.
  """
  layout = skeleton.get_layout(layout)
  poses = jnp.asarray(poses)
  if poses.ndim < 2 or poses.shape[-2:] != (layout.num_joints, 3):
    raise ValueError(f"subject_yaw: layout {layout.name!r} expects poses of shape [..., {layout.num_joints}, 3], "
                     f"got shape {tuple(poses.shape)}")
  try:
    l_hip, r_hip, l_sh, r_sh = (layout.index(j) for j in ("l_hip", "r_hip", "l_shoulder", "r_shoulder"))
  except ValueError as e:
    raise ValueError(f"subject_yaw: {e}") from None
  across = poses[..., l_hip, :] - poses[..., r_hip, :] + poses[..., l_sh, :] - poses[..., r_sh, :]
  # across x (0, -1, 0) = (across_z, 0, -across_x): the facing direction in the x-z plane.
  fx, fz = across[..., 2], -across[..., 0]
  root = geometry.root_of(poses, layout.root_joints)
  cx, cz = -root[..., 0], -root[..., 2]
  angle = jnp.degrees(jnp.arctan2(cx * fz - cz * fx, cx * fx + cz * fz))
  return jnp.mod(angle, 360.0)


def yaw_bin(yaw_deg, num_bins: int = YAW_BINS):
  """``[...]`` yaw in degrees -> ``[...]`` int bin ``k`` of `num_bins` equal bins centred on ``k * 360 / num_bins``."""
  width = 360.0 / num_bins
  return np.floor(np.mod(np.asarray(yaw_deg, np.float64) + width / 2, 360.0) / width).astype(np.int64) % num_bins


def depth_mirror(poses: jax.Array, layout: skeleton.Layout | str) -> jax.Array:
  """``[..., J, 3]`` -> the same joints with depth (z) mirrored about the root: the body lifted facing the other way."""
  layout = skeleton.get_layout(layout)
  poses = jnp.asarray(poses)
  root_z = geometry.root_of(poses, layout.root_joints)[..., None, 2]
  return poses.at[..., 2].set(2 * root_z - poses[..., 2])


def depth_spread(poses: jax.Array) -> jax.Array:
  """``[..., J, 3]`` root-centred joints -> ``[...]`` how deep a pose is for its size: the root-mean-square
  depth (z) over the root-mean-square lateral (x, y) distance from the root. Scale-free, so a lift and
  its ground truth compare directly: their ratio (``depth_spread_ratio`` in `dataset_metrics`) below 1 means
  the lift is flatter than the body."""
  poses = jnp.asarray(poses)
  depth = jnp.sqrt(jnp.mean(poses[..., 2] ** 2, axis=-1))
  lateral = jnp.sqrt(jnp.mean(jnp.sum(poses[..., :2] ** 2, axis=-1), axis=-1))
  return depth / jnp.maximum(lateral, 1e-9)


def group_means(values, groups) -> dict[str, float]:
  """``values [N]``, ``groups [N]`` labels -> ``{str(label): mean}``, in sorted label order (numpy)."""
  values, groups = np.asarray(values, np.float64), np.asarray(groups)
  if values.ndim != 1 or groups.shape != values.shape:
    raise ValueError(f"group_means: expected values and groups of the same shape [N], got "
                     f"{values.shape} and {groups.shape}")
  labels, inverse = np.unique(groups, return_inverse=True)
  sums = np.bincount(inverse, weights=values, minlength=len(labels))
  counts = np.bincount(inverse, minlength=len(labels))
  return {str(label): float(s / c) for label, s, c in zip(labels, sums, counts)}


@functools.partial(jax.jit, static_argnames=("layout", "views"))
def _pose_metrics(pred, target, layout, views=False):
  """Per-pose metrics of `dataset_metrics` for one chunk ``[B, J, 3]``; each value is ``[B]``."""
  def centred(p):
    return geometry.root_centred(p, layout.root_joints)

  out = {}
  if views:  # From the camera-frame target, before it is root-centred.
    out["yaw"] = subject_yaw(target, layout)
    mirrored = centred(depth_mirror(pred, layout))
  pred, target = centred(pred), centred(target)
  # One Procrustes solve per pose serves PA-MPJPE, PCK and AUC; the depth-mirrored lifts are solved in the same
  # batch. Two SVDs in one program can deadlock on the CPU: jaxlib's LAPACK SVD kernel splits its batch over
  # XLA's intra-op thread pool and blocks until the parts finish, so two of them running at once on a 2-thread
  # pool (a 2-core machine) each wait for work that only the other's thread could run.
  if views:
    both = joint_errors(jnp.concatenate([pred, mirrored]), jnp.concatenate([target, target]), "procrustes")
    errors, mirrored_errors = both[:len(pred)], both[len(pred):]
  else:
    errors = joint_errors(pred, target, "procrustes")
  out.update({
    "joint_pa": errors,
    "pa_mpjpe": errors.mean(axis=-1),
    "n_mpjpe": n_mpjpe(pred, target),
    "mpjpe": mpjpe(pred, target),
    "pck": _pck(errors, PCK_THRESHOLD),
    "auc": _auc(errors, AUC_THRESHOLDS),
    "limb_ratio_error": jnp.abs(limb_ratios(pred, layout) - limb_ratios(target, layout)).mean(axis=-1),
  })
  if views:
    out["depth_flipped"] = mirrored_errors.mean(axis=-1) < out["pa_mpjpe"]
    out["depth_spread"] = depth_spread(pred) / jnp.maximum(depth_spread(target), 1e-9)
  return out


def dataset_metrics(pred, target, layout: skeleton.Layout | str, actions=None, chunk_size: int = EVAL_CHUNK,
             views: bool = False) -> dict:
  """Dataset-level metrics of ``pred [N, J, 3]`` against ``target [N, J, 3]`` (numpy in, floats out).

  Both sides are root-centred at ``layout.root_joints`` first. Returns the means over poses of
  ``pa_mpjpe``, ``n_mpjpe``, ``mpjpe`` (root-centred, unscaled: only meaningful for metric
  predictions), ``pck`` and ``auc`` (after Procrustes alignment, see the module docstring), and
  ``limb_ratio_error`` (mean over poses and `LIMB_RATIO_NAMES` of ``|pred ratio - gt ratio|``),
  plus ``num_poses`` and ``per_joint`` (each joint's mean error after Procrustes alignment, by joint name). With
  ``actions [N]`` labels, ``per_action`` maps each label (as a string,
  sorted) to its ``pa_mpjpe``, ``n_mpjpe``, ``pck`` and ``num_poses``.

  With ``views`` (``target`` in the camera frame, not root-centred) also ``depth_flip_rate`` (see
  the module docstring), ``depth_spread_ratio`` (the median over poses of `depth_spread` of the
  prediction over that of the target: 1 as deep as the body, below 1 flatter) and ``per_yaw``: for each of the
  `YAW_BINS` bins of `subject_yaw`, keyed by
  its centre in degrees ("0", "45", ...), its ``pa_mpjpe``, ``depth_flip_rate``, ``num_poses`` and
  ``share`` of the poses (bins without poses are left out), and ``worst_yaw_pa_mpjpe``.

  Poses go through one jitted function in chunks of ``chunk_size`` poses (or ``N`` when fewer),
  computed in float32; the last chunk is padded to full size so it reuses the compilation, and
  memory stays bounded for any ``N``.
  """
  layout = skeleton.get_layout(layout)
  pred, target = np.asarray(pred, np.float32), np.asarray(target, np.float32)
  if pred.shape != target.shape or pred.ndim != 3 or pred.shape[1:] != (layout.num_joints, 3):
    raise ValueError(f"dataset_metrics: layout {layout.name!r} expects pred and target of the same shape "
                     f"[N, {layout.num_joints}, 3], got {pred.shape} and {target.shape}")
  n = len(pred)
  if n == 0:
    raise ValueError("dataset_metrics: expected at least one pose, got none")
  if chunk_size < 1:
    raise ValueError(f"dataset_metrics: expected chunk_size >= 1, got {chunk_size}")
  if actions is not None:
    actions = np.asarray(actions)
    if actions.shape != (n,):
      raise ValueError(f"dataset_metrics: expected actions of shape ({n},) (one label per pose), got {actions.shape}")
  # A small set need not be padded up to a full default chunk.
  chunk = min(chunk_size, n)
  parts = []
  for start in range(0, n, chunk):
    p, t = pred[start:start + chunk], target[start:start + chunk]
    size = len(p)
    if size < chunk:
      # Repeating the last real pose keeps the padding free of degenerate (NaN-prone) poses.
      pad = ((0, chunk - size), (0, 0), (0, 0))
      p, t = np.pad(p, pad, mode="edge"), np.pad(t, pad, mode="edge")
    out = jax.device_get(_pose_metrics(p, t, layout, views))
    parts.append({k: v[:size] for k, v in out.items()})
  # jit returns dict keys sorted; report them in the documented order instead.
  per_pose = {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
  result = {k: float(np.mean(per_pose[k], dtype=np.float64)) for k in _EVAL_KEYS}
  result["num_poses"] = float(n)
  result["per_joint"] = {name: float(e) for name, e in zip(layout.joints, per_pose["joint_pa"].mean(axis=0,
                                                                                                   dtype=np.float64))}
  if views:
    flipped = per_pose["depth_flipped"].astype(np.float64)
    result["depth_flip_rate"] = float(np.mean(flipped))
    result["depth_spread_ratio"] = float(np.median(per_pose["depth_spread"]))
    bins = yaw_bin(per_pose["yaw"])
    width = 360 // YAW_BINS
    result["per_yaw"] = {
        str(k * width): {"pa_mpjpe": float(np.mean(per_pose["pa_mpjpe"][bins == k], dtype=np.float64)),
                         "depth_flip_rate": float(np.mean(flipped[bins == k])),
                         "num_poses": float(np.sum(bins == k)), "share": float(np.mean(bins == k))}
        for k in range(YAW_BINS) if np.any(bins == k)}
    result["worst_yaw_pa_mpjpe"] = max(v["pa_mpjpe"] for v in result["per_yaw"].values())
  if actions is not None:
    means = {k: group_means(per_pose[k], actions) for k in ("pa_mpjpe", "n_mpjpe", "pck")}
    labels, sizes = np.unique(actions, return_counts=True)
    counts = {str(label): float(c) for label, c in zip(labels, sizes)}
    result["per_action"] = {a: {**{k: means[k][a] for k in means}, "num_poses": counts[a]} for a in counts}
  return result


@jax.jit
def _pair_errors(a, b):
  return joint_errors(a, b, "procrustes").mean(axis=-1)


def view_consistency(lifts_a, lifts_b, size, chunk_size: int = EVAL_CHUNK) -> float:
  """How well two views' lifts of the same instants agree, with no 3D: the mean per-joint distance between
  ``lifts_b [P, J, 3]`` and ``lifts_a [P, J, 3]`` aligned to them (rotation, translation and scale; Procrustes),
  times ``size`` (a scalar or ``[P]``: the length of one of ``lifts_b``'s units, e.g. millimetres per unit
  head-to-root length). Lifts that agree give 0 whatever their camera."""
  a, b = np.asarray(lifts_a, np.float32), np.asarray(lifts_b, np.float32)
  if a.shape != b.shape or a.ndim != 3 or a.shape[-1] != 3 or not len(a):
    raise ValueError(f"view_consistency: expected two non-empty [P, J, 3] arrays of one shape, got {a.shape} and "
                     f"{b.shape}")
  size = np.broadcast_to(np.asarray(size, np.float64), (len(a),))
  chunk = min(chunk_size, len(a))
  errors = []
  for start in range(0, len(a), chunk):
    pa, pb = a[start:start + chunk], b[start:start + chunk]
    pad = ((0, chunk - len(pa)), (0, 0), (0, 0))
    errors.append(np.asarray(_pair_errors(np.pad(pa, pad, mode="edge"), np.pad(pb, pad, mode="edge")))[:len(pa)])
  return float(np.mean(np.concatenate(errors) * size))
