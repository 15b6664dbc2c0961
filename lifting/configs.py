"""Run configs: the defaults they start from, upgrading one saved by an older version, and the checks made before
anything is built (with one-line reasons)."""

from __future__ import annotations

import json
import math
import os

import ml_collections

from lifting import default_config
from lifting.core import losses
from lifting.core import models
from lifting.core import skeleton
from lifting.data import pipeline
from lifting.training import optim

MATMUL_DTYPES = ("float32", "bfloat16")

# Fields added after runs were saved, where a config without the field ran otherwise than today's default would:
# the value it ran with. Every other missing field takes lifting/default_config.py's value (a feature that was off).
BEFORE_FIELDS = {
    "train.ema_decay": 0.0, "eval.weights": "raw", "optim.schedule": "exponential", "optim.warmup_steps": 0,
    "data.bandai.rig": "fixed", "eval.intermediate_poses": 0, "eval.generalisation.enabled": False}


_ALWAYS_SAVED = ("layout", "c", "model", "data", "train", "loss")


def _has(tree: dict, field: str) -> bool:
  for key in field.split("."):
    if not isinstance(tree, dict) or key not in tree:
      return False
    tree = tree[key]
  return True


def _fill(saved: dict, defaults: dict) -> dict:
  """``saved`` with every field it lacks taken from ``defaults``, recursively (saved values win)."""
  out = dict(saved)
  for key, value in defaults.items():
    if key not in out:
      out[key] = value
    elif isinstance(value, dict) and isinstance(out[key], dict):
      out[key] = _fill(out[key], value)
  return out


def upgrade(saved: dict) -> ml_collections.ConfigDict:
  """A config as saved in a run's (or an exported model's) ``config.json``, by this version or an older one, with
  every field added since: the value such runs had (`BEFORE_FIELDS`), else `lifting.default_config`'s."""
  if not isinstance(saved, dict):
    raise TypeError(f"expected a JSON object, got a {type(saved).__name__}")
  missing = [key for key in _ALWAYS_SAVED if key not in saved]
  if missing:  # Every version saved these: without them it is no run's config.
    raise KeyError(f"no {', '.join(missing)}")
  config = _fill(saved, default_config.get_config("cpu").to_dict())
  for field, value in BEFORE_FIELDS.items():
    if not _has(saved, field):
      *path, last = field.split(".")
      node = config
      for key in path:
        node = node[key]
      node[last] = value
  return ml_collections.ConfigDict(config)


def seed_folders(workdir: str) -> list[str]:
  """The ``seed<k>`` folders of a workdir that holds several seeds' runs (``train.seeds > 1``), sorted by seed."""
  if not os.path.isdir(workdir):
    return []
  found = [n for n in os.listdir(workdir) if n.startswith("seed") and n[4:].isdigit()
           and os.path.exists(os.path.join(workdir, n, "config.json"))]
  return sorted(found, key=lambda n: int(n[4:]))


def config_path(workdir: str) -> str:
  """``workdir/config.json``; ``ValueError`` saying what ``workdir`` should be when there is none (and, for the
  folder of several seeds' runs, which folders to give instead)."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    seeds = seed_folders(workdir)
    if seeds:
      raise ValueError(f"{workdir} holds the runs of several seeds ({', '.join(seeds)}), each a run of its own: give "
                       f"one of them, e.g. --workdir={os.path.join(workdir, seeds[0])}")
    raise ValueError(f"{workdir}: no config.json; expected the workdir of a training run (run.py --workdir) "
                     "or an exported model (inference.export)")
  return path


# Fields whose saved value may have more than one type (a joint map: a name, a file, or the mapping itself).
_ANY_TYPE = ("data.bandai.joint_map",)


def type_problem(saved: dict, defaults: dict, prefix: str = "") -> str | None:
  """What is wrong with the first field of ``saved`` whose value has another type than ``defaults`` gives that field
  (a number where a number goes, and a finite one; true or false for switches; ...), or ``None``. Fields
  ``defaults`` does not have are left alone."""
  for key, default in defaults.items():
    if key not in saved or f"{prefix}{key}" in _ANY_TYPE:
      continue
    name, value = f"{prefix}{key}", saved[key]
    problem = None
    if isinstance(default, dict):
      if not isinstance(value, dict):
        return f"{name}: expected an object of fields, got {value!r:.60}"
      problem = type_problem(value, default, name + ".")
    elif isinstance(default, (list, tuple)):
      if not isinstance(value, (list, tuple)):
        return f"{name}: expected a list, got {value!r:.60}"
      for i, item in enumerate(value):
        problem = problem or (_value_problem(f"{name}[{i}]", item, default[0]) if default else None)
    else:
      problem = _value_problem(name, value, default)
    if problem:
      return problem
  return None


def _value_problem(name: str, value, default) -> str | None:
  if isinstance(default, bool):
    ok, want = isinstance(value, bool), "true or false"
  elif isinstance(default, int):
    ok, want = isinstance(value, int) and not isinstance(value, bool), "an integer"
  elif isinstance(default, float):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    want = "a finite number"
  elif isinstance(default, str):
    ok, want = isinstance(value, str), "a string"
  else:
    return None
  return None if ok else f"{name}: expected {want}, got {value!r:.60}"


def read(path: str) -> ml_collections.ConfigDict:
  """The saved config in the file ``path`` (a run's or an exported model's ``config.json``), upgraded (`upgrade`),
  each field checked by type and range (`type_problem`, `validate`). Raises ``ValueError`` naming the file and the
  field for anything that is not a run's config."""
  try:
    with open(path) as f:
      saved = json.load(f)
  except ValueError as e:
    raise ValueError(f"{path}: not valid JSON ({e})") from None
  try:
    config = upgrade(saved)
  except (KeyError, TypeError) as e:
    raise ValueError(f"{path}: not a run's config ({str(e).strip(chr(39))})") from None
  problem = type_problem(saved, default_config.get_config("cpu").to_dict())
  if problem:
    raise ValueError(f"{path}: {problem}")
  try:
    validate(config)
  except ValueError as e:
    raise ValueError(f"{path}: {e}") from None
  return config


def load(workdir: str) -> ml_collections.ConfigDict:
  """The config of the run (or exported model) in ``workdir``, from its ``config.json`` (`read`)."""
  return read(config_path(workdir))


def window_offsets(config) -> tuple[int, ...]:
  """Frames of one training window, as offsets from its first frame in its sequence.

  ``(0, 1, ..., M)`` with the temporal discriminator or the bone-window term on, else ``(0,)``, and at least the
  ``model.lifter_frames`` consecutive frames a temporal lifter lifts at once; with
  the bone-window term and ``model.bone_window_span = s > M``, also ``s``: a frame further on, so
  that the bones are compared across more than a few hundredths of a second of motion (the
  temporal discriminator sees the first ``1 + M`` frames only).
  """
  bone = config.loss.w_bone_window > 0
  frames = config.model.lifter_frames  # A temporal lifter lifts windows of this many frames.
  if not (config.loss.w_temporal > 0 or bone):
    return tuple(range(frames))
  m = config.model.temporal_neighbours
  span = config.model.bone_window_span if bone else 0
  return tuple(range(max(m + 1, frames))) + ((span,) if span > max(m, frames - 1) else ())


def window_size(config) -> int:
  """Frames per training window: ``len(window_offsets(config))``."""
  return len(window_offsets(config))


def window_span(config) -> int:
  """Consecutive frames a training window needs in its sequence: ``max(window_offsets(config)) + 1``."""
  return max(window_offsets(config)) + 1


def batch_split(config, num_target: int, num_extra: int, num_devices: int = 1) -> tuple[int, int]:
  """``(windows, extra)``: target windows and extra single poses per step (``config.data.extra``).

  Without extras every pose of ``train.batch_size`` comes in windows. With them, ``extra`` is
  ``data.extra.share`` of the batch (0: the extras' share of all ``num_target + num_extra``
  training poses); both counts are multiples of ``num_devices`` so each device gets an equal share.
  """
  t, b = window_size(config), config.train.batch_size
  if not num_extra:
    return b // t, 0
  share = config.data.extra.share or num_extra / (num_target + num_extra)
  extra = min(max(round(share * b / num_devices), 1), (b - t * num_devices) // num_devices) * num_devices
  windows = (b - extra) // t // num_devices * num_devices
  return windows, extra


def _numbers(node, prefix=""):
  """``(field, value)`` for every number in a config, tuples and lists included."""
  items = node.items() if hasattr(node, "items") else ()
  for key, value in items:
    name = f"{prefix}{key}"
    if hasattr(value, "items"):
      yield from _numbers(value, name + ".")
    elif isinstance(value, (tuple, list)):
      yield from ((f"{name}[{i}]", v) for i, v in enumerate(value) if isinstance(v, (int, float)))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
      yield name, value


def test_time(config) -> dict:
  """The test-time averaging ``eval`` asks for, as `lifting.core.geometry.test_time_average`'s keywords: the
  layout's left/right permutation for ``eval.flip_average`` (else None) and ``eval.roll_degrees`` in radians."""
  flip = skeleton.get_layout(config.layout).flip_permutation if config.eval.flip_average else None
  return {"flip_permutation": flip, "roll_angles": tuple(math.radians(float(a)) for a in config.eval.roll_degrees)}


def reported_weights(config) -> str:
  """The weights whose errors results.json, the tables and lifts report (``eval.weights``)."""
  return config.eval.weights


def validate(config) -> None:
  """Raises ``ValueError`` naming the first inconsistent field of ``config``."""
  for name, value in _numbers(config):  # No NaN or infinity anywhere: each would crash a run after compiling.
    if not math.isfinite(value):
      raise ValueError(f"{name}: expected a finite number, got {value}")
  skeleton.get_layout(config.layout)
  for name in ("b1", "b2"):
    if not 0 <= config.optim[name] < 1:
      raise ValueError(f"optim.{name}: expected an Adam decay rate in [0, 1), got {config.optim[name]}")
  if config.c <= 1:
    raise ValueError(f"c: expected a depth > 1 (the paper uses 10), got {config.c}")
  if config.loss.gan not in losses.GAN_LOSSES:
    raise ValueError(f"loss.gan: expected one of {losses.GAN_LOSSES}, got {config.loss.gan!r}")
  weights = {k: config.loss[k] for k in (*losses.TERM_WEIGHTS.values(), "r1")}
  for name, w in weights.items():
    if not w >= 0 or w == float("inf"):
      raise ValueError(f"loss.{name}: expected a finite weight >= 0 (0 turns the term off), got {w}")
  if not any(w for k, w in weights.items() if k != "r1"):
    raise ValueError("loss: every term has weight 0, so the lifter would learn nothing")
  if config.model.bone_window_span < 0:
    raise ValueError(f"model.bone_window_span: expected frames >= 0 (0: the temporal window), got "
                     f"{config.model.bone_window_span}")
  if (config.loss.w_temporal > 0 or config.loss.w_bone_window > 0) and config.model.temporal_neighbours < 1:
    raise ValueError("model.temporal_neighbours: expected M >= 1 with the temporal or bone-window term on, "
                     f"got {config.model.temporal_neighbours}")
  frames = config.model.lifter_frames
  if not isinstance(frames, int) or frames < 1 or (frames > 1 and 3 ** round(math.log(frames, 3)) != frames):
    raise ValueError(f"model.lifter_frames: expected 1 (the single-frame lifter) or a power of 3 (9, 27, 81), got "
                     f"{frames!r}")
  if frames > 1:
    for field, why in (("loss.w_supervised", "single labelled frames"), ("loss.w_denoise", "a denoising lifter"),
                       ("loss.w_flow", "the flow prior's single poses")):
      section, name = field.split(".")
      if config[section][name] > 0:
        raise ValueError(f"model.lifter_frames = {frames}: the temporal lifter lifts windows of frames, not {why}; "
                         f"set {field} = 0")
    if config.data.extra.kind != "none" or config.model.denoise:
      raise ValueError(f"model.lifter_frames = {frames}: the temporal lifter lifts windows of frames, so it takes "
                       "neither single extra poses (data.extra.kind = 'none') nor a denoising head (model.denoise)")
  for name, least in (("width", 1), ("lifter_blocks", 0), ("disc_blocks", 0)):
    if config.model[name] < least:
      raise ValueError(f"model.{name}: expected an integer >= {least}, got {config.model[name]}")
  for name in ("dropout", "disc_dropout"):
    if not 0 <= config.model[name] < 1:
      raise ValueError(f"model.{name}: expected a rate in [0, 1), got {config.model[name]}")
  if config.model.dropout_rng not in models.DROPOUT_RNGS:
    raise ValueError(f"model.dropout_rng: expected one of {models.DROPOUT_RNGS}, got {config.model.dropout_rng!r}")
  if config.model.dtype not in MATMUL_DTYPES:
    raise ValueError(f"model.dtype: expected one of {MATMUL_DTYPES}, got {config.model.dtype!r}")
  for name in ("azimuth_range", "elevation_range", "roll_range"):
    r = tuple(config.rotation[name])
    if len(r) != 2 or r[0] > r[1]:
      raise ValueError(f"rotation.{name}: expected (low, high) with low <= high, got {r}")
  if config.loss.w_elevation_prior > 0 and not (config.rotation.learned_elevation or config.rotation.body_elevation):
    raise ValueError("loss.w_elevation_prior: the prior is on the lifter's camera elevations; turn on "
                     "rotation.learned_elevation or rotation.body_elevation")
  if not abs(config.rotation.elevation_prior_min) < math.pi / 2:
    raise ValueError(f"rotation.elevation_prior_min: expected an angle in (-pi/2, pi/2) radians, got "
                     f"{config.rotation.elevation_prior_min}")
  if config.rotation.learned_elevation and config.rotation.body_elevation:
    raise ValueError("rotation: learned_elevation and body_elevation are two ways to read the elevation; turn one "
                     "of them off")
  distances = tuple(config.rotation.distance_range)
  if len(distances) != 2 or not 0 < distances[0] <= distances[1]:
    raise ValueError(f"rotation.distance_range: expected (low, high) with 0 < low <= high (units of c), got "
                     f"{distances}")
  if distances != (1.0, 1.0) and config.data.scale != "body":
    raise ValueError("rotation.distance_range: random views at other distances than c change a projection's size, "
                     f"which only data.scale = 'body' brings back; got data.scale = {config.data.scale!r}")
  footage = config.data.footage
  if config.data.source == "footage":
    for name in ("cameras", "train_stride", "test_stride"):
      if not isinstance(footage[name], int) or footage[name] < 1:
        raise ValueError(f"data.footage.{name}: expected an integer >= 1, got {footage[name]!r}")
    for name in ("train", "test", "train_swaps"):
      if not isinstance(footage.detector_2d[name], bool):
        raise ValueError(f"data.footage.detector_2d.{name}: expected True or False, got {footage.detector_2d[name]!r}")
    if not isinstance(footage.bandai_rig, bool):
      raise ValueError(f"data.footage.bandai_rig: expected True or False, got {footage.bandai_rig!r}")
  if config.data.source in pipeline.SOURCES:
    pipeline.evaluation_set_names(config)  # Names the protocol does not offer fail here, before anything is built.
  if not 0 < config.rotation.elevation_limit < math.pi / 2:
    raise ValueError(f"rotation.elevation_limit: expected an angle in (0, pi/2) radians, got "
                     f"{config.rotation.elevation_limit}")
  for name in ("lifter_lr", "disc_lr", "temporal_lr"):
    if config.optim[name] <= 0:
      raise ValueError(f"optim.{name}: expected a positive learning rate, got {config.optim[name]}")
  if config.optim.schedule not in optim.SCHEDULES:
    raise ValueError(f"optim.schedule: expected one of {optim.SCHEDULES}, got {config.optim.schedule!r}")
  if config.optim.warmup_steps < 0 or not 0 <= config.optim.final_lr_fraction <= 1:
    raise ValueError("optim: expected warmup_steps >= 0 and 0 <= final_lr_fraction <= 1, got "
                     f"{config.optim.warmup_steps} and {config.optim.final_lr_fraction}")
  if not 0 <= config.train.ema_decay < 1:
    raise ValueError(f"train.ema_decay: expected a decay in [0, 1) (0: no moving average), got "
                     f"{config.train.ema_decay}")
  rolls = config.eval.roll_degrees
  if not isinstance(rolls, (tuple, list)) or not all(
      isinstance(a, (int, float)) and not isinstance(a, bool) and abs(a) <= 45 for a in rolls):
    raise ValueError(f"eval.roll_degrees: expected a list of angles within 45 degrees either way (a camera's roll; "
                     f"empty: none), got {rolls!r}")
  weights_kind = config.eval.weights
  if weights_kind not in ("raw", "ema") or (weights_kind == "ema" and not config.train.ema_decay):
    raise ValueError(f"eval.weights: expected 'raw', or 'ema' with train.ema_decay > 0, got {weights_kind!r} "
                     f"with train.ema_decay = {config.train.ema_decay}")
  if not 0 < config.optim.decay_rate <= 1 or config.optim.decay_steps < 1:
    raise ValueError("optim: expected 0 < decay_rate <= 1 and decay_steps >= 1, got "
                     f"{config.optim.decay_rate} and {config.optim.decay_steps}")
  if config.optim.disc_updates < 1 or config.optim.disc_every < 1:
    raise ValueError("optim: expected disc_updates >= 1 and disc_every >= 1, got "
                     f"{config.optim.disc_updates} and {config.optim.disc_every}")
  if not 0 < config.data.supervised_fraction <= 1:
    raise ValueError(f"data.supervised_fraction: expected a fraction in (0, 1], got {config.data.supervised_fraction}")
  if config.data.supervised_unit not in ("take", "frame"):
    raise ValueError(f"data.supervised_unit: expected 'take' or 'frame', got {config.data.supervised_unit!r}")
  if config.data.scale not in pipeline.SCALE_MODES:
    raise ValueError(f"data.scale: expected one of {pipeline.SCALE_MODES}, got {config.data.scale!r}")
  noise = config.data.train_noise
  for name in ("share", "gross_rate", "swap_rate"):
    if not 0 <= noise[name] <= 1:
      raise ValueError(f"data.train_noise.{name}: expected a rate in [0, 1], got {noise[name]}")
  if noise.jitter < 0:
    raise ValueError(f"data.train_noise.jitter: expected a size >= 0 (in limb sizes), got {noise.jitter}")
  if config.loss.w_denoise > 0 and not (config.model.denoise and noise.share > 0):
    raise ValueError("loss.w_denoise: the denoising term needs a denoising lifter (model.denoise = True) and "
                     "corrupted inputs (data.train_noise.share > 0)")
  if config.data.extra.kind not in ("none", "adapted", "raw"):
    raise ValueError(f"data.extra.kind: expected 'none', 'adapted' or 'raw', got {config.data.extra.kind!r}")
  if not 0 <= config.data.extra.share < 1:
    raise ValueError(f"data.extra.share: expected a share in [0, 1) (0: proportional), got {config.data.extra.share}")
  noise = config.data.noise_2d
  for name in ("train", "test", "complete"):
    if not isinstance(noise[name], bool):
      raise ValueError(f"data.noise_2d.{name}: expected True or False, got {noise[name]!r}")
  if noise.train or noise.test:
    from lifting.data import detector_noise
    detector_noise.from_config(noise)
  t = window_size(config)
  if config.train.batch_size < t or config.train.batch_size % t:
    raise ValueError(f"train.batch_size: expected a multiple of the {t}-frame training window, "
                     f"got {config.train.batch_size}")
  for name in ("num_steps", "log_every", "eval_every", "checkpoint_every", "max_checkpoints", "steps_per_call",
               "seeds"):
    if config.train[name] < 1:
      raise ValueError(f"train.{name}: expected a positive integer, got {config.train[name]}")
  if not isinstance(config.distributed, bool):
    raise ValueError(f"distributed: expected True or False, got {config.distributed!r}")


def validate_against(config, data, num_devices: int, num_processes: int) -> None:
  """Checks what depends on the data and the machine: sequences, batch split, layout."""
  if data.layout.name != skeleton.get_layout(config.layout).name:
    raise ValueError(f"layout: the config says {config.layout!r} but the data is in {data.layout.name!r}")
  if config.loss.w_temporal > 0 and not data.has_sequences:
    raise ValueError(f"loss.w_temporal: the temporal term needs sequences, but data.source "
                     f"{config.data.source!r} holds single poses only; set --config.loss.w_temporal=0")
  if config.loss.w_supervised > 0 and data.train_3d is None:
    raise ValueError(f"loss.w_supervised: the supervised term needs 3D for the training frames, but data.source "
                     f"{config.data.source!r} provides none")
  extra = 0 if data.extra_2d is None else len(data.extra_2d)
  windows, _ = batch_split(config, len(data.train_2d), extra, num_devices)
  if windows < 1:
    raise ValueError(f"train.batch_size: {config.train.batch_size} poses leave no room for target windows beside "
                     f"data.extra's share on {num_devices} devices")
  if windows % num_devices or windows % num_processes:
    raise ValueError(f"train.batch_size: {windows} windows per step do not split evenly over "
                     f"{num_devices} devices in {num_processes} processes")


def validate_adapt(config) -> None:
  """Raises ``ValueError`` naming the first bad field of ``config.adapt`` (`run.py --mode=adapt`)."""
  validate(config)
  a = config.adapt
  if a.gan not in losses.GAN_LOSSES:
    raise ValueError(f"adapt.gan: expected one of {losses.GAN_LOSSES}, got {a.gan!r}")
  if a.reg < 0:
    raise ValueError(f"adapt.reg: expected lambda >= 0, got {a.reg}")
  num_joints = skeleton.get_layout(config.layout).num_joints
  if not 2 <= a.min_visible <= num_joints:
    raise ValueError(f"adapt.min_visible: expected an integer in [2, {num_joints}], got {a.min_visible}")
  for block, names in ((a, ("width", "batch_size", "num_steps")),
                       (a.completion, ("width", "layers", "batch_size", "num_steps"))):
    for name in names:
      if block[name] < 1:
        where = "adapt" if block is a else "adapt.completion"
        raise ValueError(f"{where}.{name}: expected a positive integer, got {block[name]}")
  for name in ("blocks", "disc_blocks"):
    if a[name] < 0:
      raise ValueError(f"adapt.{name}: expected an integer >= 0, got {a[name]}")
  for name, lr in (("adapt.lr", a.lr), ("adapt.completion.lr", a.completion.lr)):
    if lr <= 0:
      raise ValueError(f"{name}: expected a positive learning rate, got {lr}")
