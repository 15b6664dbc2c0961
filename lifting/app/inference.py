"""Lift your own 2D keypoints to 3D with a trained checkpoint.

    from lifting.app import inference
    model = inference.load("runs/bandai")                     # a workdir of run.py or the ablation command
    out = model.lift(keypoints, layout="coco17")              # [N, 17, 2] or [N, 17, 3] (x, y, confidence)
    out.poses3d, out.scale, out.flags                          # [N, 14, 3], [N], [N, 14]

What happens to every pose:

1. **Joints.** The input layout is converted to the model's 14 joints (`lifting.core.skeleton`). A
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

from absl import logging
import jax
import numpy as np

from lifting import configs
from lifting.app import tracking
from lifting.core import batching
from lifting.core import geometry
from lifting.core import models as models_lib
from lifting.core import skeleton
from lifting.core import temporal
from lifting.data import keypoints
from lifting.data import pipeline
from lifting.data import wild
from lifting.training import completion as completion_lib
from lifting.training import weights

OBSERVED, COMPLETED, MISSING = 0, 1, 2
_WINDOW, _WINDOWS = 128, 8  # A temporal lifter's windows: frames kept of each (beside its context), and per call.
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
    tracks: ``[N]`` int: which person over time (`lifting.app.tracking`; all 0 for one person per frame).
    times: ``[N]`` seconds from the start of the video each pose was seen at, or ``None`` (not a video).
    relabelled: ``[N]`` int8: 0, or which left/right swap of the detector was undone on the pose before lifting
      (1 + its index in `lifting.app.tracking.SWAPS`: the whole body, the legs, the arms); only sequences are mended.
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
  relabelled: np.ndarray | None = None

  def __post_init__(self):
    if self.tracks is None:
      object.__setattr__(self, "tracks", np.zeros(len(self.poses3d), np.int64))
    if self.degenerate is None:
      object.__setattr__(self, "degenerate", np.zeros(len(self.poses3d), bool))
    if self.relabelled is None:
      object.__setattr__(self, "relabelled", np.zeros(len(self.poses3d), np.int8))

  def __len__(self) -> int:
    return len(self.poses3d)

  def select(self, keep: np.ndarray) -> Lifted:
    """The poses where ``keep [N]`` (bool or indices)."""
    return Lifted(self.poses3d[keep], self.scale[keep], self.flags[keep], self.pose2d[keep], self.valid[keep],
                  self.joints, tuple(np.asarray(self.ids, dtype=object)[keep]), self.tracks[keep],
                  self.degenerate[keep], None if self.times is None else self.times[keep], self.relabelled[keep])

  def to_json(self) -> list[dict]:
    """One dict per pose: id, time (videos), track, valid, scale, and per joint its xyz and flag."""
    out = []
    for i in range(len(self)):
      joints = {name: {"xyz": None if not self.valid[i] else [round(float(v), 6) for v in self.poses3d[i, j]],
                       "flag": FLAG_NAMES[self.flags[i, j]]} for j, name in enumerate(self.joints)}
      out.append({"id": self.ids[i], **({} if self.times is None else {"time_s": round(float(self.times[i]), 6)}),
                  "track": int(self.tracks[i]), "valid": bool(self.valid[i]),
                  **({"degenerate": True} if self.degenerate[i] else {}),
                  **({"relabelled": tracking.SWAPS[self.relabelled[i] - 1]} if self.relabelled[i] else {}),
                  "scale": float(self.scale[i]) if self.valid[i] else None, "joints": joints})
    return out


class Model:
  """A trained lifter, ready to lift keypoints; made by `load`."""

  def __init__(self, config, lifter, variables, normalization: dict, completion=None, step: int = 0,
               workdir: str = "", max_batch: int = 65536, discriminators: dict | None = None):
    self.config, self.lifter, self.variables = config, lifter, variables
    # The parameters of the discriminators trained beside the lifter, by name (`adapt` needs them), or None.
    self.discriminators = discriminators
    self.layout = skeleton.get_layout(config.layout)
    self.c = float(config.c)
    self.normalization, self.completion, self.step, self.workdir = normalization, completion, step, workdir
    self.max_batch = max_batch
    self.frames = config.model.lifter_frames  # > 1: a temporal lifter (`lifting.core.models.TemporalLifter`).
    # Test-time flip and roll averaging, as the run evaluated.
    averaging = configs.test_time(config)
    self._lift = jax.jit(lambda v, x: geometry.test_time_average(lambda p: self._lift_normalised(v, p), x,
                                                                 **averaging))

  def __repr__(self) -> str:
    return (f"Model({self.workdir!r}, step {self.step}, layout {self.layout.name}, "
            f"completion {'on' if self.completion is not None else 'off'})")

  def _lift_normalised(self, variables, poses):
    points = models_lib.lifted_points(poses, self.lifter.apply(variables, poses, train=False), self.c)
    return geometry.root_centred(points, self.layout.root_joints)

  def lift_normalised(self, poses: np.ndarray, lengths=None) -> np.ndarray:
    """``[N, J, 2]`` poses already in the training frame to root-relative ``[N, J, 3]`` (the lifter's units).

    Poses go in power-of-two chunks (``max_batch`` at most, 256 at least; the largest that fits
    what is left, only the last one padded), so any N compiles a handful of shapes and wastes
    under 256 padded poses. A temporal lifter lifts the sequences of ``lengths [S]`` (frames each, back to
    back; ``None``: every pose alone, as a still window) in windows of one shape (`lifting.core.temporal`).
    """
    poses = np.asarray(poses, np.float32)
    if self.frames > 1:
      return temporal.lift_sequences(lambda windows: self._lift(self.variables, windows), poses, lengths,
                                     self.frames, _WINDOW, _WINDOWS)
    bucket = lambda left: max(256, min(self.max_batch, 1 << (left.bit_length() - 1)))  # noqa: E731
    return batching.map_padded(lambda part: self._lift(self.variables, part), poses, size=bucket,
                               empty=np.zeros(poses.shape[:-1] + (3,), np.float32))

  def lift(self, keypoints2d, layout: str = "paper14", scores=None, min_score=0.0,
           image_size: tuple[int, int] | None = None, ids=None, min_observed: int = 8, lengths=None) -> Lifted:
    """Lifts ``[N, J, 2]`` keypoints (or ``[N, J, 3]`` with a confidence column) in ``layout`` to 3D.

    ``scores [N, J]`` is an alternative to the confidence column. ``min_score`` is one threshold or
    one per input joint ``[J]``. ``image_size`` (width, height) also marks joints far outside the
    image as missing. ``lengths [S]``: the poses are S sequences of consecutive frames of one person each, back
    to back, which a temporal lifter lifts as such (``None``: every pose alone; the single-frame lifter lifts
    every pose alone either way). See the module docstring for the rest.
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
    return self.lift_keypoints(restrict(kp, min_score, image_size), min_observed, lengths)

  def lift_keypoints(self, kp, min_observed: int = 8, lengths=None) -> Lifted:
    """Lifts a `lifting.data.keypoints.Keypoints` (any reader's output, e.g. after `restrict`); ``lengths`` as
    in `lift`."""
    converted = keypoints.convert(kp, self.layout.name, np.float64)
    return self._lift_model_layout(converted.poses, converted.mask, kp.ids, min_observed, lengths)

  def adapt(self, kp, lengths=None, steps: int = 200, learning_rate: float = 2e-5, seed: int = 0,
            min_observed: int = 8) -> tuple[Model, dict]:
    """A copy of this model fine-tuned on the 2D of ``kp`` (a `lifting.data.keypoints.Keypoints`: one clip, as
    sequences of ``lengths [S]`` consecutive frames; ``None``: every pose alone) with the unsupervised losses, for
    ``steps`` steps (`lifting.training.finetune.fine_tune`); and what it did. This model is not changed."""
    from lifting.training import finetune
    converted = keypoints.convert(kp, self.layout.name, np.float64)
    filled, _, valid, _ = self._prepare(converted.poses, converted.mask, min_observed)
    if not valid.any():
      raise ValueError("clip adaptation: no pose of the clip can be lifted (too few observed joints)")
    lengths = temporal.check_lengths(lengths, len(filled))
    timeline = np.zeros(filled.shape, np.float32)
    timeline[valid] = self._normalise(filled[valid])[0]
    timeline = temporal.fill_gaps(timeline, valid, lengths)
    usable = np.repeat([valid[s:s + n].any() for s, n in zip(np.cumsum(lengths) - lengths, lengths)], lengths)
    variables, report = finetune.fine_tune(self, timeline, lengths, steps, learning_rate, seed, usable)
    copy = Model(self.config, self.lifter, variables, self.normalization, self.completion, self.step, self.workdir,
                 self.max_batch, self.discriminators)
    return copy, report

  def _prepare(self, pose2d: np.ndarray, observed: np.ndarray, min_observed: int):
    """``(filled [N, J, 2], flags [N, J], valid [N], degenerate [N])``: the poses in the model's layout with their
    missing joints completed or filled (module docstring), and which of them can be lifted."""
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
    return filled, flags, valid, degenerate

  def _lift_model_layout(self, pose2d: np.ndarray, observed: np.ndarray, ids, min_observed: int,
                         lengths=None) -> Lifted:
    relabelled = None
    if lengths is not None:  # One person's frames in order: a detector's left/right swaps are undone first.
      pose2d, observed, relabelled = tracking.mend_swaps(
          pose2d, observed, temporal.check_lengths(lengths, len(pose2d)), self.layout)
    filled, flags, valid, degenerate = self._prepare(pose2d, observed, min_observed)
    poses3d = np.full(pose2d.shape[:-1] + (3,), np.nan, np.float32)
    scale = np.full(len(pose2d), np.nan)
    if valid.any():
      x, px_per_unit = self._normalise(filled[valid])
      if self.frames > 1:  # The whole timeline, poses that cannot be lifted filled from their neighbours.
        lengths = temporal.check_lengths(lengths, len(pose2d))
        timeline = np.zeros(pose2d.shape, np.float32)
        timeline[valid] = x
        lifted = self.lift_normalised(temporal.fill_gaps(timeline, valid, lengths), lengths)[valid].astype(np.float64)
      else:
        lifted = self.lift_normalised(x).astype(np.float64)
      head = np.linalg.norm(lifted[:, self.layout.head], axis=-1)
      head = np.maximum(head, 1e-9)
      poses3d[valid] = lifted / head[:, None, None]
      # A lifter unit at the root's depth c is 1 / c normalised units, i.e. px_per_unit / c pixels.
      scale[valid] = head * px_per_unit / self.c
    filled[~valid] = np.nan
    return Lifted(poses3d, scale, flags, filled.astype(np.float32), valid, self.layout.joints, tuple(ids),
                  degenerate=degenerate, relabelled=relabelled)

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


# The shipped models (lifting/pretrained/README.md): `load(name)` takes one by its name.
PRETRAINED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pretrained")
# The model that `load()` and ``--mode=lift`` use when given no workdir.
DEFAULT_MODEL = os.path.join(PRETRAINED, "footage-adv-ss-td-body-elev")


def shipped_models() -> list[str]:
  """The names of the models shipped in the package (folders of `PRETRAINED`)."""
  return sorted(n for n in os.listdir(PRETRAINED) if os.path.exists(os.path.join(PRETRAINED, n, "config.json")))
LIFTER_FILE = "lifter.msgpack"  # An exported model's weights (`export`); a training workdir has checkpoints/ instead.


def load(workdir: str | None = None, completion: str | None = "auto", max_batch: int = 65536,
         discriminators: bool = False) -> Model:
  """A lifter ready to lift: an exported model folder (`export`; ``None``: the shipped `DEFAULT_MODEL`; a name of
  `shipped_models`: that shipped model), or
  the latest checkpoint of a training ``workdir`` (``config.json`` and ``checkpoints/`` inside).

  Only what lifting needs is read: the lifter's parameters and batch statistics (the weights the
  run's results report), into abstract shapes, so no optimiser, discriminator or train step is
  built or compiled. ``completion``: a folder written by `lifting.training.completion.save`
  (``run.py --mode=adapt`` puts one in its workdir as ``completion/``); ``"auto"`` uses the one
  beside an exported model, or the one a run's ``data.extra`` poses came from; ``None`` uses the
  fallback only. ``discriminators``: also read the discriminators trained beside the lifter (`Model.adapt` needs
  them; ``Model.discriminators`` is None when the model has none).
  """
  if workdir is not None and not os.path.exists(workdir) and workdir in shipped_models():
    workdir = os.path.join(PRETRAINED, workdir)  # A shipped model by its name.
  workdir = os.path.abspath(os.path.expanduser(DEFAULT_MODEL if workdir is None else workdir))
  config_path = configs.config_path(workdir)
  config = configs.read(config_path)
  layout = skeleton.get_layout(config.layout)
  lifter = models_lib.lifter_from_config(config)
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
  elif exported:
    raise ValueError(f"{norm_path}: missing; it holds how the model's training 2D was scaled, which its lifts need "
                     "(export the model again)")
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
  discs = _read_discriminators(workdir, config, layout, exported) if discriminators else None
  return Model(config, lifter, variables, normalization, comp, int(step), workdir, max_batch, discs)


DISCRIMINATORS_FILE = "discriminators.msgpack"  # An exported model's discriminators (`export`), for `Model.adapt`.


def _abstract_discriminators(config, layout: skeleton.Layout) -> dict:
  """``{name: params}`` of the discriminators ``config`` trains, as shapes and dtypes (traced, not run)."""
  from lifting.training import train_step  # Only to adapt a model to a clip.
  networks = train_step.build_models(config)
  key, out = jax.random.key(0), {}
  inputs = {"pose_disc": (1, layout.num_joints, 2),
            "temporal_disc": (1, 1 + config.model.temporal_neighbours, layout.num_joints, 2)}
  for name, shape in inputs.items():
    net = getattr(networks, name)
    if net is not None:
      out[name] = jax.eval_shape(lambda p, net=net: net.init(key, p)["params"],
                                 jax.ShapeDtypeStruct(shape, np.float32))
  return out


def _read_discriminators(workdir: str, config, layout: skeleton.Layout, exported: bool) -> dict | None:
  """The discriminators' parameters by name: from an exported model's `DISCRIMINATORS_FILE`, or from a training
  workdir's newest good checkpoint; ``None`` when there are none."""
  abstract = _abstract_discriminators(config, layout)
  if not abstract:
    return None
  if exported:
    path = os.path.join(workdir, DISCRIMINATORS_FILE)
    if not os.path.exists(path):
      return None
    with open(path, "rb") as f:
      tree = weights.read_state(path, f.read(), abstract, "the discriminators config.json describes")
    return jax.tree.map(np.asarray, tree)
  from lifting.training import checkpoint
  try:
    step, tree = checkpoint.restore_subtree(os.path.join(workdir, "checkpoints"),
                                            {name: {"params": params} for name, params in abstract.items()})
  except (checkpoint.CheckpointMismatch, checkpoint.CheckpointError) as e:
    raise ValueError(f"{workdir}: cannot read the discriminators from its checkpoints ({e})") from None
  return None if step is None else jax.tree.map(np.asarray, {name: tree[name]["params"] for name in abstract})


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
  window = (1, lifter.frames) if getattr(lifter, "frames", 1) > 1 else (1,)
  pose = jax.ShapeDtypeStruct(window + (layout.num_joints, 2), np.float32)
  return jax.eval_shape(lambda p: lifter.init(jax.random.key(0), p, train=False), pose)


def _restore_lifter(workdir: str, config, lifter, layout: skeleton.Layout) -> tuple[dict, int]:
  """The reported weights of the latest checkpoint in ``workdir``, read alone (a partial restore)."""
  folder = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(folder):
    raise ValueError(f"{workdir}: no checkpoints/ folder; train first (run.py --mode=train)")
  from lifting.training import checkpoint  # Orbax: only for training workdirs.
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
  """The weights and step of an exported model, its files checked against the checksums `export` wrote."""
  path = os.path.join(folder, LIFTER_FILE)
  meta = read_model_json(folder)
  verify_files(folder, meta)
  with open(path, "rb") as f:
    variables = weights.read_state(path, f.read(), _abstract_variables(lifter, layout),
                                          "the network config.json describes (model.*)")
  return jax.tree.map(np.asarray, variables), meta.get("step", 0)


MODEL_JSON = "model.json"


def read_model_json(folder: str) -> dict:
  """An exported model's ``model.json`` (step, source, checksums), checked; ``{}`` when there is none."""
  path = os.path.join(folder, MODEL_JSON)
  if not os.path.exists(path):
    return {}
  meta = _read_json(path)
  if not isinstance(meta, dict):
    raise ValueError(f"{path}: expected a JSON object, got a {type(meta).__name__}")
  step = meta.get("step", 0)
  if isinstance(step, bool) or not isinstance(step, int) or step < 0:
    raise ValueError(f"{path}: field 'step': expected an integer >= 0, got {step!r:.60}")
  sums = meta.get("sha256", {})
  if not isinstance(sums, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in sums.items()):
    raise ValueError(f"{path}: field 'sha256': expected an object of file name -> digest")
  return meta


def verify_files(folder: str, meta: dict) -> None:
  """Raises ``ValueError`` naming the first file that ``meta["sha256"]`` (written by `export`) lists and that is
  missing or whose bytes changed since; a model without checksums (exported before them) is read as it is."""
  for name, digest in meta.get("sha256", {}).items():
    path = os.path.join(folder, *name.split("/"))
    if os.path.isabs(name) or ".." in name.split("/"):
      raise ValueError(f"{os.path.join(folder, MODEL_JSON)}: field 'sha256': {name!r} is not a file of the model")
    if not os.path.exists(path):
      raise ValueError(f"{path}: missing (model.json lists it); export the model again")
    if weights.file_digest(path) != digest:
      raise ValueError(f"{path}: checksum mismatch: the file changed or was damaged after the model was exported "
                       "(model.json holds its SHA-256); export the model again")


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
           flip_average: bool | None = None, roll_degrees=None) -> list[str]:
  """Writes what lifting needs from a training ``workdir`` to ``folder``: ``config.json``,
  ``normalization.json``, the reported weights as ``lifter.msgpack``, ``model.json`` (step, source and
  ``meta``), the discriminators' parameters as ``discriminators.msgpack`` (for `Model.adapt`; when the
  checkpoint holds them) and the completion network (``completion/``: ``completion`` as `load` takes it). Returns the
  file names. ``flip_average`` (not ``None``) sets the exported config's ``eval.flip_average``: the model then
  lifts with test-time flip averaging (`lifting.core.geometry.flip_average`), as an evaluation row of that run did;
  ``roll_degrees`` (not ``None``) sets ``eval.roll_degrees`` likewise (`lifting.core.geometry.roll_average`)."""
  import shutil

  import flax.serialization
  model = load(workdir, completion, discriminators=True)
  os.makedirs(folder, exist_ok=True)
  config = model.config.to_dict()
  if flip_average is not None:
    config.setdefault("eval", {})["flip_average"] = bool(flip_average)
  if roll_degrees is not None:
    config.setdefault("eval", {})["roll_degrees"] = [float(a) for a in roll_degrees]
  with open(os.path.join(folder, "config.json"), "w") as f:
    json.dump(_without_paths(config), f, indent=2)
  with open(os.path.join(folder, "normalization.json"), "w") as f:
    json.dump(model.normalization, f, indent=2)
  with open(os.path.join(folder, LIFTER_FILE), "wb") as f:
    f.write(flax.serialization.to_bytes(jax.device_get(model.variables)))
  written = ["config.json", "normalization.json", LIFTER_FILE]  # config.json: absolute paths blanked
  if model.discriminators is not None:  # What adapting the model to a clip needs (`Model.adapt`).
    with open(os.path.join(folder, DISCRIMINATORS_FILE), "wb") as f:
      f.write(flax.serialization.to_bytes(model.discriminators))
    written.append(DISCRIMINATORS_FILE)
  elif os.path.exists(os.path.join(folder, DISCRIMINATORS_FILE)):
    os.remove(os.path.join(folder, DISCRIMINATORS_FILE))
  if model.completion is not None:
    completion_lib.save(model.completion, os.path.join(folder, "completion"))
    written += ["completion/completion.json", "completion/completion.msgpack"]
  elif os.path.exists(os.path.join(folder, "completion")):
    shutil.rmtree(os.path.join(folder, "completion"))
  # Last, with every other file's SHA-256: `load` refuses a file that changed since.
  sums = {name: weights.file_digest(os.path.join(folder, *name.split("/"))) for name in written}
  with open(os.path.join(folder, MODEL_JSON), "w") as f:
    json.dump({"step": model.step, "source": os.path.basename(model.workdir), **(meta or {}), "sha256": sums}, f,
              indent=2)
  return written + [MODEL_JSON]


def _normalization_from_data(config, workdir: str) -> dict:
  """For runs trained before ``normalization.json`` was written: recomputed from the run's own training data (and
  saved) when that data is at hand. Without it, the per-pose scalings are known exactly (``data.scale = "body"``:
  every training pose had limb size ``LIMB_SIZE / c``; ``"pose"``: head-to-root ``1 / c``, what `Model` does
  without a body size), and a dataset-level scale is not: refused."""
  try:
    data = pipeline.load(config, extra=False)
  except (ValueError, OSError) as e:
    if config.data.scale == "dataset":
      raise ValueError(f"{workdir}: no normalization.json, and the training data it would be recomputed from cannot "
                       f"be loaded ({str(e).splitlines()[0][:200]}); the lifts need the dataset's 2D scale") from None
    logging.warning("%s has no normalization.json and its training data cannot be loaded: its data.scale %r is "
                    "known without it", workdir, config.data.scale)
    body = geometry.LIMB_SIZE / float(config.c) if config.data.scale == "body" else None
    return {"body_size": body, "mean_pose": None}
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
  from lifting.data import synthetic
  if layout.name != "paper14":
    raise ValueError(f"layout {layout.name!r}: this checkpoint has no normalization.json and only paper14 has a "
                     "built-in fallback pose; retrain to write one")
  demo = synthetic.make_demo_data(seed=0, num_train_sequences=1, num_test_sequences=1, num_frames=1, num_cameras=1)
  return np.asarray(demo.train_2d.reshape(-1, layout.num_joints, 2)[0], np.float64)
