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
from lifting import configs
from lifting import geometry
from lifting import models as models_lib
from lifting import skeleton
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
    if config.eval.flip_average:  # Test-time flip averaging, as the run evaluated.
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
DEFAULT_MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained", "bandai-adv-ss-td-body-elev")
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
  workdir = os.path.abspath(os.path.expanduser(DEFAULT_MODEL if workdir is None else workdir))
  config_path = configs.config_path(workdir)
  try:
    config = configs.upgrade(_read_json(config_path))
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
  folder = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(folder):
    raise ValueError(f"{workdir}: no checkpoints/ folder; train first (run.py --mode=train)")
  from lifting import checkpoint  # pylint: disable=g-import-not-at-top  (Orbax: only for training workdirs)
  abstract = _abstract_variables(lifter, layout)
  prefix = "ema_" if configs.reported_weights(config) == "ema" else ""
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
  try:
    data = pipeline.load(config, extra=False)
  except (ValueError, OSError) as e:
    logging.warning("%s has no normalization.json and its training data cannot be loaded (%s): poses are scaled to "
                    "head-to-root 1/c one by one", workdir, str(e).splitlines()[0][:200])
    return {"body_size": None, "mean_pose": None}
  stats = pipeline.normalization_stats(config, data)
  try:
    pipeline.write_normalization(workdir, config, data)
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
