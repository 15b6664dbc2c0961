"""Lift your own 2D keypoints to 3D with a trained checkpoint.

    from lifting import inference
    model = inference.load("runs/bandai")                     # a workdir of run.py or the ablation command
    out = model.lift(keypoints, layout="coco17")              # [N, 17, 2] or [N, 17, 3] (x, y, confidence)
    out.poses3d, out.scale, out.flags                          # [N, 14, 3], [N], [N, 14]

What happens to every pose:

1. **Joints.** The input layout is converted to the model's 14 joints (`lifting.skeleton`). A
   joint is *observed* when all its source joints are usable: finite, confidence at least
   ``min_score`` (and above 0), and, with ``image_size``, not further outside the image than
   the image's own size.
2. **Missing joints** are never lifted as zeros. With a completion network (sec. 4.6; the one
   `run.py --mode=adapt` trained, found beside the checkpoint or given to `load`) they are
   *completed* when at most its ``max_missing`` joints are missing. Otherwise the documented
   fallback fills them and flags them *missing*: a limb joint whose left/right partner is
   observed is that partner mirrored across the body's root-to-neck axis; any other joint comes
   from the model's mean training pose fitted to the observed joints by scale and translation.
   Poses with fewer than ``min_observed`` observed joints are not lifted (``valid`` False, NaN).
3. **Scale.** Each pose is root-centred and scaled so its eight limb bones have the training
   poses' median 2D length (`lifting.data.wild.body_size`); head and neck semantics differ
   between keypoint sets, limb lengths do not.
4. **Lift.** One jitted function, called on power-of-two chunks (256 to ``max_batch`` poses),
   so any number of poses compiles at most a handful of shapes.

Output ``poses3d`` is root-relative (root = hip midpoint) in the camera frame (x right, y down,
z away from the camera), scaled to unit 3D head-to-root length; ``poses3d * scale[:, None,
None]`` is in the input's units (pixels at the depth of the root, weak perspective).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re

import jax
import numpy as np
from absl import logging

from lifting import completion as completion_lib
from lifting import geometry
from lifting import models as models_lib
from lifting import skeleton
from lifting import tracking
from lifting.data import keypoints
from lifting.data import pipeline
from lifting.data import wild

OBSERVED, COMPLETED, MISSING = 0, 1, 2
FLAG_NAMES = skeleton.JOINT_FLAGS


@dataclasses.dataclass(frozen=True)
class Lifted:
  """3D poses lifted from 2D keypoints (see the module docstring).

  Attributes:
    poses3d: ``[N, J, 3]`` root-relative camera-frame joints, unit head-to-root length; NaN where
      ``~valid``.
    scale: ``[N]`` multiply ``poses3d`` by it for the input's units (pixels at the root's depth).
    flags: ``[N, J]`` int8 per joint: 0 observed, 1 completed by the network, 2 missing (the
      fallback's guess; treat its position as unknown). See `FLAG_NAMES`.
    pose2d: ``[N, J, 2]`` the 2D input in the model's layout and the input's units, missing and
      completed joints filled as they were lifted.
    valid: ``[N]`` False for poses with too few observed joints to lift, and for degenerate ones.
    degenerate: ``[N]`` True for poses skipped as degenerate (every limb bone of length 0, e.g. every joint
      at one point): they have no size to bring into the lifter's frame.
    joints: joint names of the model's layout.
    ids: ``[N]`` where each pose came from (frame or image and person), if known.
    tracks: ``[N]`` int: which person over time (`lifting.tracking`; all 0 for one person per frame).
    times: ``[N]`` seconds from the start of the video each pose was seen at, or ``None`` (not a video).
  """
  poses3d: np.ndarray
  scale: np.ndarray
  flags: np.ndarray
  pose2d: np.ndarray
  valid: np.ndarray
  joints: tuple[str, ...]
  ids: tuple[str, ...]
  tracks: np.ndarray | None = None
  degenerate: np.ndarray | None = None
  times: np.ndarray | None = None

  def __post_init__(self):
    if self.tracks is None:
      object.__setattr__(self, "tracks", np.zeros(len(self.poses3d), np.int64))
    if self.degenerate is None:
      object.__setattr__(self, "degenerate", np.zeros(len(self.poses3d), bool))

  def __len__(self) -> int:
    return len(self.poses3d)

  def select(self, keep: np.ndarray) -> "Lifted":
    """The poses where ``keep [N]`` (bool or indices)."""
    return Lifted(self.poses3d[keep], self.scale[keep], self.flags[keep], self.pose2d[keep], self.valid[keep],
                  self.joints, tuple(np.asarray(self.ids, dtype=object)[keep]), self.tracks[keep],
                  self.degenerate[keep], None if self.times is None else self.times[keep])

  def to_json(self) -> list[dict]:
    """One dict per pose: id, time (videos), track, valid, scale, and per joint its xyz and flag."""
    out = []
    for i in range(len(self)):
      joints = {name: {"xyz": None if not self.valid[i] else [round(float(v), 6) for v in self.poses3d[i, j]],
                       "flag": FLAG_NAMES[self.flags[i, j]]} for j, name in enumerate(self.joints)}
      out.append({"id": self.ids[i], **({} if self.times is None else {"time_s": round(float(self.times[i]), 6)}),
                  "track": int(self.tracks[i]), "valid": bool(self.valid[i]),
                  **({"degenerate": True} if self.degenerate[i] else {}),
                  "scale": float(self.scale[i]) if self.valid[i] else None, "joints": joints})
    return out


class Model:
  """A trained lifter, ready to lift keypoints; made by `load`."""

  def __init__(self, config, lifter, variables, normalization: dict, completion=None, step: int = 0,
               workdir: str = "", max_batch: int = 65536):
    self.config, self.lifter, self.variables = config, lifter, variables
    self.layout = skeleton.get_layout(config.layout)
    self.c = float(config.c)
    self.normalization, self.completion, self.step, self.workdir = normalization, completion, step, workdir
    self.max_batch = max_batch
    if config.get("eval", {}).get("flip_average", False):  # Test-time flip averaging, as the run evaluated.
      flip = self.layout.flip_permutation
      self._lift = jax.jit(lambda v, x: geometry.flip_average(lambda p: self._lift_normalised(v, p), x, flip))
    else:
      self._lift = jax.jit(self._lift_normalised)

  def __repr__(self) -> str:
    return (f"Model({self.workdir!r}, step {self.step}, layout {self.layout.name}, "
            f"completion {'on' if self.completion is not None else 'off'})")

  def _lift_normalised(self, variables, poses):
    points = models_lib.lifted_points(poses, self.lifter.apply(variables, poses, train=False), self.c)
    return geometry.root_centred(points, self.layout.root_joints)

  def lift_normalised(self, poses: np.ndarray) -> np.ndarray:
    """``[N, J, 2]`` poses already in the training frame to root-relative ``[N, J, 3]`` (the lifter's units).

    Poses go in power-of-two chunks (``max_batch`` at most, 256 at least; the largest that fits
    what is left, only the last one padded), so any N compiles a handful of shapes and wastes
    under 256 padded poses.
    """
    poses = np.asarray(poses, np.float32)
    out, start = [], 0
    while start < len(poses):
      left = len(poses) - start
      bucket = max(256, min(self.max_batch, 1 << (left.bit_length() - 1)))
      part = poses[start:start + bucket]
      padded = np.concatenate([part, np.zeros((bucket - len(part),) + part.shape[1:], np.float32)])
      out.append(np.asarray(self._lift(self.variables, padded))[:len(part)])
      start += len(part)
    return np.concatenate(out) if out else np.zeros(poses.shape[:-1] + (3,), np.float32)

  def lift(self, keypoints2d, layout: str = "paper14", scores=None, min_score=0.0,
           image_size: tuple[int, int] | None = None, ids=None, min_observed: int = 8) -> Lifted:
    """Lifts ``[N, J, 2]`` keypoints (or ``[N, J, 3]`` with a confidence column) in ``layout`` to 3D.

    ``scores [N, J]`` is an alternative to the confidence column. ``min_score`` is one threshold or
    one per input joint ``[J]``. ``image_size`` (width, height) also marks joints far outside the
    image as missing. See the module docstring for the rest.
    """
    points = np.asarray(keypoints2d, np.float64)
    src = skeleton.get_layout(layout)
    if points.ndim == 2:
      points = points[None]
    if points.ndim != 3 or points.shape[1] != src.num_joints or points.shape[2] not in (2, 3):
      raise ValueError(f"keypoints: expected shape [N, {src.num_joints}, 2] or [N, {src.num_joints}, 3] for layout "
                       f"{src.name!r}, got {tuple(np.shape(keypoints2d))}")
    conf = points[..., 2] if points.shape[2] == 3 else np.ones(points.shape[:2])
    if scores is not None:
      conf = np.asarray(scores, np.float64)
      if conf.shape != points.shape[:2]:
        raise ValueError(f"scores: expected shape {points.shape[:2]}, got {conf.shape}")
    xy = points[..., :2]
    bad = (conf > 0) & (conf >= _thresholds(min_score, src)) & ~np.isfinite(xy).all(-1)
    if bad.any() or not np.isfinite(conf).all():
      n, j = np.argwhere(bad)[0] if bad.any() else np.argwhere(~np.isfinite(conf))[0]
      raise ValueError(f"keypoints: pose {n}, joint {src.joints[j]!r} has a non-finite coordinate or confidence; "
                       "mark missing joints with confidence 0")
    ids = tuple(ids) if ids is not None else tuple(f"pose{i:06d}" for i in range(len(points)))
    if len(ids) != len(points):
      raise ValueError(f"ids: expected {len(points)} ids, got {len(ids)}")
    usable = (conf > 0) & np.isfinite(xy).all(-1)
    kp = keypoints.Keypoints(np.where(usable[..., None], xy, np.nan), usable, np.zeros_like(usable), conf, src.name,
                             ids, "array", {})
    return self.lift_keypoints(restrict(kp, min_score, image_size), min_observed)

  def lift_keypoints(self, kp, min_observed: int = 8) -> Lifted:
    """Lifts a `lifting.data.keypoints.Keypoints` (any reader's output, e.g. after `restrict`)."""
    converted = keypoints.convert(kp, self.layout.name, np.float64)
    return self._lift_model_layout(converted.poses, converted.mask, kp.ids, min_observed)

  def _lift_model_layout(self, pose2d: np.ndarray, observed: np.ndarray, ids, min_observed: int) -> Lifted:
    j = self.layout.num_joints
    valid = observed.sum(-1) >= min(min_observed, j)
    flags = np.where(observed, OBSERVED, MISSING).astype(np.int8)
    filled = np.where(observed[..., None], pose2d, np.nan)
    todo = valid & ~observed.all(-1)
    if self.completion is not None and todo.any():
      can = todo & ((~observed).sum(-1) <= self.completion.max_missing)
      if can.any():
        filled[can] = completion_lib.complete(self.completion, filled[can], observed[can])
        flags[can] = np.where(observed[can], OBSERVED, COMPLETED)
    rest = valid & ~np.isfinite(filled).all((-2, -1))
    if rest.any():
      filled[rest] = _fallback_fill(filled[rest], np.isfinite(filled[rest]).all(-1), self.layout,
                                    np.asarray(self.normalization["mean_pose"], np.float64))
    # A pose whose joints coincide has no size to normalise by: skipped and flagged, not a failed file.
    degenerate = np.zeros(len(pose2d), bool)
    if valid.any():
      degenerate[valid] = ~(self._sizes(filled[valid]) > 1e-9)
      valid = valid & ~degenerate
    poses3d = np.full(pose2d.shape[:-1] + (3,), np.nan, np.float32)
    scale = np.full(len(pose2d), np.nan)
    if valid.any():
      x, px_per_unit = self._normalise(filled[valid])
      lifted = self.lift_normalised(x).astype(np.float64)
      head = np.linalg.norm(lifted[:, self.layout.head], axis=-1)
      head = np.maximum(head, 1e-9)
      poses3d[valid] = lifted / head[:, None, None]
      # A lifter unit at the root's depth c is 1 / c normalised units, i.e. px_per_unit / c pixels.
      scale[valid] = head * px_per_unit / self.c
    filled[~valid] = np.nan
    return Lifted(poses3d, scale, flags, filled.astype(np.float32), valid, self.layout.joints, tuple(ids),
                  degenerate=degenerate)

  def _sizes(self, pose2d: np.ndarray) -> np.ndarray:
    """``[N]`` the size `_normalise` divides each pose by (body size, or head-to-root distance)."""
    if self.normalization.get("body_size"):
      return wild.body_size(pose2d, self.layout)
    root = pose2d[:, list(self.layout.root_joints)].mean(1)
    return np.linalg.norm(pose2d[:, self.layout.head] - root, axis=-1)

  def _normalise(self, pose2d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Training-frame poses and, per pose, input units per normalised unit."""
    size = self.normalization.get("body_size")
    if size:
      x = wild.scale_to(pose2d, size, self.layout)
      return x, wild.body_size(pose2d, self.layout) / size
    x, _ = pipeline.normalize(pose2d, self.layout, self.c, "pose")  # Head-to-root 1 / c per pose.
    root = pose2d[:, list(self.layout.root_joints)].mean(1)
    dist = np.linalg.norm(pose2d[:, self.layout.head] - root, axis=-1)
    return x, dist * self.c


def _thresholds(min_score, layout: skeleton.Layout) -> np.ndarray:
  """``min_score`` as ``[J]``: one value for all joints or one per joint of ``layout``."""
  t = np.atleast_1d(np.asarray(min_score, np.float64))
  if t.shape not in ((1,), (layout.num_joints,)) or not np.isfinite(t).all():
    raise ValueError(f"min_score: expected one finite threshold or {layout.num_joints} (one per {layout.name} joint: "
                     f"{', '.join(layout.joints)}), got {np.asarray(min_score).tolist()}")
  return np.broadcast_to(t, (layout.num_joints,))


def _inside_image(xy: np.ndarray, image_size) -> np.ndarray:
  """``[..., J]``: joints no further outside the (width, height) image than its own size (a detector's stray
  points are further)."""
  w, h = image_size
  if not (w > 0 and h > 0):
    raise ValueError(f"image_size: expected (width, height) > 0, got {image_size}")
  size = np.array([w, h], np.float64)
  with np.errstate(invalid="ignore"):
    return ((xy > -size) & (xy < 2 * size)).all(-1)


def restrict(kp, min_score=0.0, image_size: tuple[int, int] | None = None):
  """``kp`` with joints below ``min_score`` (one value, or one per joint of ``kp.layout``) and, with
  ``image_size``, joints far outside the image masked; the counts say how many."""
  thresholds = _thresholds(min_score, skeleton.get_layout(kp.layout))
  counts, drop = dict(kp.counts), np.zeros_like(kp.mask)
  if (thresholds > 0).any():
    low = kp.mask & (kp.scores < thresholds)
    counts["joints_below_min_score"], drop = int(low.sum()), drop | low
  if image_size is not None:
    outside = kp.mask & ~_inside_image(kp.poses, image_size)
    counts["joints_outside_image"], drop = int(outside.sum()), drop | outside
  if not drop.any():
    return dataclasses.replace(kp, counts=counts)
  mask = kp.mask & ~drop
  return dataclasses.replace(kp, poses=np.where(mask[..., None], kp.poses, np.nan).astype(kp.poses.dtype), mask=mask,
                             occluded=kp.occluded & mask, counts=counts)


def _fallback_fill(pose2d: np.ndarray, observed: np.ndarray, layout: skeleton.Layout,
                   mean_pose: np.ndarray) -> np.ndarray:
  """Fills missing joints: the observed left/right partner mirrored across the root-to-neck axis, else
  the mean pose fitted to the observed joints by scale and translation."""
  out = np.array(pose2d, np.float64)
  roots = list(layout.root_joints)
  neck = layout.joints.index("neck") if "neck" in layout.joints else layout.head
  axis_ok = observed[:, roots].all(-1) & observed[:, neck]
  root = out[:, roots].mean(axis=1)  # NaN where a hip is missing (axis_ok False there)
  up = out[:, neck] - root
  up /= np.maximum(np.linalg.norm(up, axis=-1, keepdims=True), 1e-9)
  for j, p in enumerate(layout.flip_permutation):
    if p == j:  # A centre joint has no partner.
      continue
    use = ~observed[:, j] & observed[:, p] & axis_ok
    if use.any():
      rel = out[use, p] - root[use]
      along = np.sum(rel * up[use], axis=-1, keepdims=True) * up[use]
      out[use, j] = root[use] + 2 * along - rel  # Reflection across the axis through root along up.
  still = ~np.isfinite(out).all(-1)
  if still.any():
    known = ~still
    rows = still.any(-1)
    out[rows] = completion_lib.mean_pose_fill(mean_pose, out[rows], known[rows])
  return out


def _read_json(path: str) -> dict:
  try:
    with open(path) as f:
      return json.load(f)
  except ValueError as e:  # Torn or not JSON: one line naming the file.
    raise ValueError(f"{path}: not valid JSON ({e})") from None


# The model that `load()` and ``--mode=lift`` use when given no workdir (lifting/pretrained/README.md).
DEFAULT_MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained", "bandai-adv-ss-td-body")
LIFTER_FILE = "lifter.msgpack"  # An exported model's weights (`export`); a training workdir has checkpoints/ instead.


def load(workdir: str | None = None, completion: str | None = "auto", max_batch: int = 65536) -> Model:
  """A lifter ready to lift: an exported model folder (`export`; ``None``: the shipped `DEFAULT_MODEL`), or
  the latest checkpoint of a training ``workdir`` (``config.json`` and ``checkpoints/`` inside).

  Only what lifting needs is read: the lifter's parameters and batch statistics (the weights the
  run's results report), into abstract shapes, so no optimiser, discriminator or train step is
  built or compiled. ``completion``: a folder written by `lifting.completion.save`
  (``run.py --mode=adapt`` puts one in its workdir as ``completion/``); ``"auto"`` uses the one
  beside an exported model, or the one a run's ``data.extra`` poses came from; ``None`` uses the
  fallback only.
  """
  from ml_collections import config_dict  # pylint: disable=g-import-not-at-top

  workdir = os.path.abspath(os.path.expanduser(DEFAULT_MODEL if workdir is None else workdir))
  config_path = os.path.join(workdir, "config.json")
  if not os.path.exists(config_path):
    raise ValueError(f"{workdir}: no config.json; expected the workdir of a training run (run.py --workdir) "
                     "or an exported model (inference.export)")
  try:
    raw = _read_json(config_path)
    if not isinstance(raw, dict):
      raise TypeError(f"expected a JSON object, got a {type(raw).__name__}")
    config = config_dict.ConfigDict(raw)
    layout = skeleton.get_layout(config.layout)
    float(config.c)
    lifter = models_lib.lifter_from_config(config)
  except (ValueError, TypeError, AttributeError, KeyError) as e:
    raise ValueError(f"{config_path}: not a run's config ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
  exported = os.path.exists(os.path.join(workdir, LIFTER_FILE))
  if exported:
    variables, step = _read_exported(workdir, lifter, layout)
  else:
    variables, step = _restore_lifter(workdir, config, lifter, layout)
  norm_path = os.path.join(workdir, "normalization.json")
  if os.path.exists(norm_path):
    normalization = _read_json(norm_path)
    _check_normalization(normalization, norm_path, layout)
    if normalization.get("layout") != layout.name:
      raise ValueError(f"{norm_path}: written for layout {normalization.get('layout')!r}, but the checkpoint's "
                       f"config says {layout.name!r}")
  else:
    normalization = _normalization_from_data(config, workdir)
  if normalization.get("mean_pose") is None:
    normalization["mean_pose"] = _canonical_pose(layout).tolist()
  comp = None
  if completion == "auto":
    folder = os.path.join(workdir, "completion") if exported else _completion_beside(config)
    comp = completion_lib.load(folder) if folder and os.path.exists(os.path.join(folder, "completion.json")) else None
  elif completion:
    comp = completion_lib.load(completion)
  if comp is not None and comp.mean_pose.shape[0] != layout.num_joints:
    raise ValueError(f"completion: the network fills {comp.mean_pose.shape[0]} joints, the model has "
                     f"{layout.num_joints}")
  return Model(config, lifter, variables, normalization, comp, int(step), workdir, max_batch)


def _check_normalization(norm, path: str, layout: skeleton.Layout) -> None:
  """Raises ``ValueError`` naming ``path`` and the field when ``normalization.json`` is not what training writes."""
  if not isinstance(norm, dict):
    raise ValueError(f"{path}: expected a JSON object, got a {type(norm).__name__}")
  if not isinstance(norm.get("layout"), str):
    raise ValueError(f"{path}: field 'layout': expected a layout name, got {norm.get('layout')!r}")
  for name in ("dataset_scale", "body_size"):
    value = norm.get(name)
    if value is not None and not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
      raise ValueError(f"{path}: field {name!r}: expected a positive number or null, got {value!r}")
  mean = norm.get("mean_pose")
  if mean is not None:
    try:
      shape = np.asarray(mean, np.float64).shape
    except (TypeError, ValueError):
      shape = None
    if shape != (layout.num_joints, 2):
      raise ValueError(f"{path}: field 'mean_pose': expected [{layout.num_joints}, 2] numbers, got "
                       f"{'an array of shape ' + str(shape) if shape else repr(mean)[:60]}")


def _abstract_variables(lifter, layout: skeleton.Layout) -> dict:
  """``{"params", "batch_stats"}`` of ``lifter`` as shapes and dtypes (traced, not run or compiled)."""
  pose = jax.ShapeDtypeStruct((1, layout.num_joints, 2), np.float32)
  return jax.eval_shape(lambda p: lifter.init(jax.random.key(0), p, train=False), pose)


def _restore_lifter(workdir: str, config, lifter, layout: skeleton.Layout) -> tuple[dict, int]:
  """The reported weights of the latest checkpoint in ``workdir``, read alone (a partial restore)."""
  from lifting import evaluate as evaluate_lib  # pylint: disable=g-import-not-at-top
  folder = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(folder):
    raise ValueError(f"{workdir}: no checkpoints/ folder; train first (run.py --mode=train)")
  from lifting import checkpoint  # pylint: disable=g-import-not-at-top  (Orbax: only for training workdirs)
  abstract = _abstract_variables(lifter, layout)
  prefix = "ema_" if evaluate_lib.reported_weights(config) == "ema" else ""
  try:
    step, tree = checkpoint.restore_subtree(
        folder, {"lifter": {prefix + "params": abstract["params"], prefix + "batch_stats": abstract["batch_stats"]}})
  except checkpoint.CheckpointMismatch as e:  # Another network than config.json's: nothing is damaged.
    raise ValueError(f"{workdir}: config.json and the checkpoint's weights disagree ({e}); was config.json "
                     "edited, or copied from another run?") from None
  except checkpoint.CheckpointError as e:  # No step reads and verifies.
    raise ValueError(f"{workdir}: {e}") from None
  if step is None:
    raise ValueError(f"{workdir}: no checkpoint in checkpoints/; train first (run.py --mode=train)")
  return {"params": tree["lifter"][prefix + "params"], "batch_stats": tree["lifter"][prefix + "batch_stats"]}, step


def _read_exported(folder: str, lifter, layout: skeleton.Layout) -> tuple[dict, int]:
  import flax.serialization  # pylint: disable=g-import-not-at-top
  path = os.path.join(folder, LIFTER_FILE)
  abstract = _abstract_variables(lifter, layout)
  try:
    with open(path, "rb") as f:
      variables = flax.serialization.from_bytes(abstract, f.read())
  except (ValueError, KeyError, TypeError) as e:
    raise ValueError(f"{path}: not the weights of the network config.json describes "
                     f"({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
  for (where, want), got in zip(jax.tree_util.tree_leaves_with_path(abstract), jax.tree.leaves(variables)):
    if np.shape(got) != want.shape:
      raise ValueError(f"{path}: {jax.tree_util.keystr(where)} has shape {np.shape(got)}, the network config.json "
                       f"describes {want.shape}")
  meta_path = os.path.join(folder, "model.json")
  step = _read_json(meta_path).get("step", 0) if os.path.exists(meta_path) else 0
  return jax.tree.map(np.asarray, variables), step


def _without_paths(tree):
  """``tree`` with every string that holds an absolute path (the exporting machine's data and runs) set to ""."""
  if isinstance(tree, dict):
    return {k: _without_paths(v) for k, v in tree.items()}
  if isinstance(tree, (list, tuple)):
    return type(tree)(_without_paths(v) for v in tree)
  if isinstance(tree, str) and re.search(r"(^|[:,])(/|[A-Za-z]:\\)", tree):
    return ""
  return tree


def export(workdir: str, folder: str, meta: dict | None = None, completion: str | None = "auto",
           flip_average: bool | None = None) -> list[str]:
  """Writes what lifting needs from a training ``workdir`` to ``folder``: ``config.json``,
  ``normalization.json``, the reported weights as ``lifter.msgpack``, ``model.json`` (step, source and
  ``meta``) and the completion network (``completion/``: ``completion`` as `load` takes it). Returns the
  file names. ``flip_average`` (not ``None``) sets the exported config's ``eval.flip_average``: the model then
  lifts with test-time flip averaging (`lifting.geometry.flip_average`), as an evaluation row of that run did."""
  import shutil  # pylint: disable=g-import-not-at-top
  import flax.serialization  # pylint: disable=g-import-not-at-top
  model = load(workdir, completion)
  os.makedirs(folder, exist_ok=True)
  config = model.config.to_dict()
  if flip_average is not None:
    config.setdefault("eval", {})["flip_average"] = bool(flip_average)
  with open(os.path.join(folder, "config.json"), "w") as f:
    json.dump(_without_paths(config), f, indent=2)
  with open(os.path.join(folder, "normalization.json"), "w") as f:
    json.dump(model.normalization, f, indent=2)
  with open(os.path.join(folder, LIFTER_FILE), "wb") as f:
    f.write(flax.serialization.to_bytes(jax.device_get(model.variables)))
  with open(os.path.join(folder, "model.json"), "w") as f:
    json.dump({"step": model.step, "source": os.path.basename(model.workdir), **(meta or {})}, f, indent=2)
  written = ["config.json", "normalization.json", LIFTER_FILE, "model.json"]  # config.json: absolute paths blanked
  if model.completion is not None:
    completion_lib.save(model.completion, os.path.join(folder, "completion"))
    written += ["completion/completion.json", "completion/completion.msgpack"]
  elif os.path.exists(os.path.join(folder, "completion")):
    shutil.rmtree(os.path.join(folder, "completion"))
  return written


def _normalization_from_data(config, workdir: str) -> dict:
  """For runs trained before ``normalization.json`` was written: recomputed from the run's own training
  data (and saved) when that data is at hand, else head-to-root scaling pose by pose."""
  from lifting import train  # pylint: disable=g-import-not-at-top
  try:
    data = pipeline.load(config, extra=False)
  except (ValueError, OSError) as e:
    logging.warning("%s has no normalization.json and its training data cannot be loaded (%s): poses are scaled to "
                    "head-to-root 1/c one by one", workdir, str(e).splitlines()[0][:200])
    return {"body_size": None, "mean_pose": None}
  stats = pipeline.normalization_stats(config, data)
  try:
    train.write_normalization(workdir, config, data)
  except OSError:
    pass  # A read-only workdir: recomputed next time.
  return stats


def _completion_beside(config) -> str | None:
  """The completion network of the adapt run whose poses ``config.data.extra`` read, if any."""
  path = config.data.extra.path if "extra" in config.data else ""
  if path:
    folder = os.path.join(os.path.dirname(os.path.abspath(path)), "completion")
    if os.path.exists(os.path.join(folder, "completion.json")):
      return folder
  return None


def _canonical_pose(layout: skeleton.Layout) -> np.ndarray:
  """A pose of the demo generator's skeleton, for runs without a stored mean pose."""
  from lifting.data import synthetic  # pylint: disable=g-import-not-at-top
  if layout.name != "paper14":
    raise ValueError(f"layout {layout.name!r}: this checkpoint has no normalization.json and only paper14 has a "
                     "built-in fallback pose; retrain to write one")
  demo = synthetic.make_demo_data(seed=0, num_train_sequences=1, num_test_sequences=1, num_frames=1, num_cameras=1)
  return np.asarray(demo.train_2d.reshape(-1, layout.num_joints, 2)[0], np.float64)


# ---- Files in, files out: `run.py --mode=lift` ----

def _pick(valid: np.ndarray, count: int, spread: bool, seed: int = 0) -> list[int]:
  idx = np.flatnonzero(valid)
  if count <= 0 or not len(idx):
    return []
  if spread:  # Evenly over the input, first and last included.
    return sorted(set(idx[np.linspace(0, len(idx) - 1, min(count, len(idx))).round().astype(int)].tolist()))
  return sorted(np.random.default_rng(seed).choice(idx, size=min(count, len(idx)), replace=False).tolist())


def _safe_name(text: str) -> str:
  stem, ext = os.path.splitext(str(text))
  text = stem if ext.lower() in (".jpg", ".jpeg", ".png", ".bmp") else str(text)  # pose_im0001.png, not .jpg.png
  return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)[:80]


def write_outputs(lifted: Lifted, folder: str, meta: dict, pictures: int = 4, contact_sheet: int = 0,
                  animate: bool = False, viewer: bool = False) -> list[str]:
  """Writes ``poses3d.npz``, ``poses3d.json``, the pictures and (with ``viewer``) ``viewer.html``, the
  interactive viewer of every liftable pose (`lifting.viewer`), to ``folder``; returns the paths (relative)."""
  os.makedirs(folder, exist_ok=True)
  np.savez(os.path.join(folder, "poses3d.npz"), poses3d=lifted.poses3d, scale=lifted.scale, flags=lifted.flags,
           pose2d=lifted.pose2d, valid=lifted.valid, ids=np.array(lifted.ids), tracks=lifted.tracks,
           joints=np.array(lifted.joints), flag_names=np.array(FLAG_NAMES),
           **({} if lifted.times is None else {"times": lifted.times}))
  with open(os.path.join(folder, "poses3d.json"), "w") as f:
    json.dump({**meta, "joints": list(lifted.joints), "flag_names": list(FLAG_NAMES), "poses": lifted.to_json()}, f)
  written = ["poses3d.npz", "poses3d.json"]
  names = lambda i: [FLAG_NAMES[k] for k in lifted.flags[i]]  # noqa: E731
  several = len(set(lifted.tracks.tolist())) > 1
  suffix = lambda track: f"_track{track}" if several else ""  # noqa: E731  (one viewer and movie per track)
  if viewer:
    from lifting import viewer as viewer_lib  # pylint: disable=g-import-not-at-top  (plotly only when asked)
    if not lifted.valid.any():
      raise ValueError("--viewer: no liftable pose to show")
    for track in sorted(set(lifted.tracks[lifted.valid].tolist())):
      frames = np.flatnonzero(lifted.valid & (lifted.tracks == track))
      name = f"viewer{suffix(track)}.html"
      viewer_lib.write_html(os.path.join(folder, name), lifted.poses3d[frames], lifted.pose2d[frames], "paper14",
                            flags=[names(i) for i in frames], titles=[str(lifted.ids[i]) for i in frames],
                            title=os.path.basename(str(meta.get("input", ""))) + (f", track {track}" if several else ""))
      written.append(name)
  if not (pictures or contact_sheet or animate):
    return written
  from lifting import plots  # pylint: disable=g-import-not-at-top  (matplotlib, seconds to import: only when drawing)
  for i in _pick(lifted.valid, pictures, spread=True):
    rel = os.path.join("pictures", f"pose_{_safe_name(lifted.ids[i])}.png")
    plots.pose_picture(lifted.pose2d[i], lifted.poses3d[i], "paper14", os.path.join(folder, rel), flags=names(i),
                       title=str(lifted.ids[i]))
    written.append(rel)
  picks = _pick(lifted.valid, contact_sheet, spread=False)
  if picks:
    plots.contact_sheet(lifted.pose2d[picks], lifted.poses3d[picks], "paper14", os.path.join(folder, "contact_sheet.png"),
                        titles=[str(lifted.ids[i]) for i in picks], flags=[names(i) for i in picks])
    written.append("contact_sheet.png")
  if animate:
    movies = {t: np.flatnonzero(lifted.valid & (lifted.tracks == t)) for t in sorted(set(lifted.tracks.tolist()))}
    movies = {t: frames for t, frames in movies.items() if len(frames) >= 2}
    if not movies:
      raise ValueError("--animate: expected a sequence of at least 2 liftable poses of one person, got none")
    for track, frames in movies.items():
      for ext in ("gif", "mp4"):
        name = f"animation{suffix(track)}.{ext}"
        plots.animate(lifted.pose2d[frames], lifted.poses3d[frames], "paper14", os.path.join(folder, name),
                      flags=[names(i) for i in frames], units="head-to-root lengths")
        written.append(name)
  return written


def lift_file(workdir: str | None, input_path: str, output: str, format: str | None = None, layout: str | None = None,
              min_score=0.0, image_size: tuple[int, int] | None = None, pictures: int = 4,
              contact_sheet: int = 0, animate: bool = False, completion: str | None = "auto",
              viewer: bool = False, smooth: float = 0.0, track: int | None = None) -> dict:
  """Reads a keypoint file, lifts it with the model in ``workdir`` (`load`; ``None``: the shipped model) and
  writes the results to ``output``.

  With several people in a frame (OpenPose folders, COCO files with image ids in frame order) the poses
  are grouped into tracks (`lifting.tracking`): every output carries its track, movies and viewers
  come one per track, and ``track`` keeps that track alone. ``smooth`` (frames) smooths each track
  over time (`lifting.smoothing`).

  The input is read and checked before the model is loaded, so a bad file fails at once. Everything
  is written to a temporary folder first and moved into ``output`` only when all of it succeeded, so
  an error leaves no partial files behind. Returns a summary.
  """
  if layout and keypoints.infer_format(input_path, format, layout) != "array":
    raise ValueError(f"--layout applies to array inputs (.npy, .npz, .csv) only; {input_path} is read as "
                     f"{keypoints.infer_format(input_path, format, layout)}, whose layout is part of its format")
  check_output(output)
  kp = keypoints.read_keypoints(input_path, format, **({"layout": layout} if layout else {}))
  if len(kp) == 0:
    raise ValueError(f"{input_path}: no poses to lift")
  kp = restrict(kp, min_score, image_size)  # Per joint of the file's own layout, before conversion.
  if not smooth >= 0:
    raise ValueError(f"--smooth: expected a width >= 0 frames, got {smooth}")
  frames = tracking.frames_of(kp.ids)
  # One person per frame (a video, or single images) is one track; several per frame are tracked.
  tracks = tracking.assign(kp.poses, kp.mask, frames) if len(frames) > len(set(frames.tolist())) else \
      np.zeros(len(kp), np.int64)
  if track is not None and track not in set(tracks.tolist()):
    raise ValueError(f"--track={track}: the input has tracks {sorted(set(tracks.tolist()))}")
  model = load(workdir, completion)
  lifted = dataclasses.replace(model.lift_keypoints(kp), tracks=tracks)
  check_liftable(lifted, input_path)
  if track is not None:
    lifted = lifted.select(tracks == track)
  if smooth:  # Each track is one person's video, in frame order (lifting.smoothing; README).
    from lifting import smoothing  # pylint: disable=g-import-not-at-top
    poses3d = lifted.poses3d.copy()
    for t in set(lifted.tracks.tolist()):
      rows = np.flatnonzero(lifted.tracks == t)
      poses3d[rows] = smoothing.gaussian(lifted.poses3d[rows], smooth, lifted.valid[rows])
    lifted = dataclasses.replace(lifted, poses3d=poses3d)
  counts = {name: int((lifted.flags[lifted.valid] == k).sum()) for k, name in enumerate(FLAG_NAMES)}
  meta = {"model": model.workdir, "step": model.step, "input": os.path.abspath(input_path), "input_layout": kp.layout,
          "num_poses": len(lifted), "valid_poses": int(lifted.valid.sum()), "joint_counts": counts,
          "completion": model.completion is not None, "smooth_sigma_frames": smooth,
          "tracks": sorted(set(lifted.tracks.tolist())), "track": track,
          "degenerate_poses": int(lifted.degenerate.sum())}
  written = replace_folder(output, lambda tmp: write_outputs(lifted, tmp, meta, pictures, contact_sheet, animate,
                                                             viewer))
  return {**meta, "output": os.path.abspath(output), "files": written}


def check_liftable(lifted: Lifted, input_path: str) -> None:
  """Raises ``ValueError`` when no pose of ``lifted`` could be lifted: that is a wrong input or filter (as an empty
  file is), not a result to write."""
  if not lifted.valid.any():
    raise ValueError(f"{input_path}: none of its {len(lifted):,} poses has enough usable joints to lift (8 of 14 "
                     f"after conversion and --min_score; {int(lifted.degenerate.sum()):,} degenerate)")


_OUTPUT_MARKERS = ("poses3d.json", "poses3d.npz")


def check_output(output: str) -> None:
  """Raises ``ValueError`` unless ``output`` is absent, an empty folder or an earlier lift's output (the only
  folders a lift may replace as a whole)."""
  output = os.path.abspath(output)
  if not os.path.exists(output):
    return
  if not os.path.isdir(output):
    raise ValueError(f"--output {output} exists and is not a folder")
  entries = os.listdir(output)
  if entries and not any(m in entries for m in _OUTPUT_MARKERS):
    raise ValueError(f"--output {output} holds other files than a lift's; give a new or empty folder (a lift "
                     "replaces its output folder as a whole)")


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def replace_folder(output: str, write) -> list[str]:
  """Runs ``write(tmp)`` in a fresh folder beside ``output``, then swaps it in for ``output`` as a whole: no file
  of an earlier output survives, and a failure or a kill leaves ``output`` as it was. Temporary folders of lifts
  that were killed (``.lift-<pid>-*`` of a process that is gone) are removed first. Returns ``write``'s value."""
  import shutil  # pylint: disable=g-import-not-at-top
  import tempfile  # pylint: disable=g-import-not-at-top
  output = os.path.abspath(output)
  check_output(output)
  parent = os.path.dirname(output) or "."
  os.makedirs(parent, exist_ok=True)
  for name in os.listdir(parent):
    parts = name.split("-")
    if name.startswith((".lift-", ".lift_old-")) and len(parts) >= 3 and parts[1].isdigit() and \
        not _alive(int(parts[1])):
      shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
  try:
    tmp = tempfile.mkdtemp(prefix=f".lift-{os.getpid()}-", dir=parent)
  except OSError as e:
    raise ValueError(f"--output {output}: cannot write in {parent} ({e.strerror})") from None
  umask = os.umask(0)
  os.umask(umask)
  os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the output is as readable as any folder made here.
  import signal  # pylint: disable=g-import-not-at-top
  import threading  # pylint: disable=g-import-not-at-top
  handler = None
  if threading.current_thread() is threading.main_thread():  # A kill (SIGTERM) unwinds, so the finally cleans up.
    def stop(signum, frame):
      del frame
      raise SystemExit(128 + signum)
    handler = signal.signal(signal.SIGTERM, stop)
  try:
    result = write(tmp)
    old = None
    if os.path.exists(output):
      old = tempfile.mkdtemp(prefix=f".lift_old-{os.getpid()}-", dir=parent)
      os.replace(output, os.path.join(old, "output"))
    os.replace(tmp, output)
    if old is not None:
      shutil.rmtree(old, ignore_errors=True)
    return result
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
    if handler is not None:
      signal.signal(signal.SIGTERM, handler)
