"""From a dataset to the normalised training pool and test set the train step uses.

Every 3D source (the demo generator, the "bandai" mocap protocol, Human3.6M in VideoPose3D's
format) yields `PoseSequences` of pixel 2D and camera-frame 3D in the ``paper14`` layout. Here
they are checked (frames with non-finite or out-of-range values are cut out, splitting their
sequence, and counted per source), root-centred and scaled (one dataset-level scale from the
training 2D, reused for the test inputs), and packed into a `PoseData`.

The training pool goes to the devices (`lifting.training.pool.device_pool`) and the train step draws
its windows inside the compiled function, so input never stalls the step. In a multi-process
run each process's devices hold only that process's `shard` of the training set.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os

from absl import logging
import numpy as np

from lifting.core import geometry
from lifting.core import skeleton
from lifting.core import temporal
from lifting.data.sequences import PoseSequences

SOURCES = ("synthetic", "demo", "bandai", "footage", "h36m", "mpi_inf_3dhp")
SCALE_MODES = ("dataset", "pose", "body")
MAX_ABS_PIXELS = 1e5  # Beyond this a coordinate is a unit or parsing error, not a point off the image.


@dataclasses.dataclass(frozen=True)
class PoseData:
  """A normalised 2D training pool and an optional 3D test set.

  Attributes:
    train_2d: ``[N, J, 2]`` float32 normalised 2D frames, sequences stored back to back.
    sequence_lengths: ``[S]`` frames per sequence, summing to ``N``; all ones for single images.
    scale: the dataset-level 2D scale applied to the training pool (see
      `lifting.core.geometry.normalize_pose2d`); ``None`` when poses are scaled one by one.
    test_2d: ``[M, J, 2]`` normalised test inputs, or ``None``.
    test_3d: ``[M, J, 3]`` camera-frame ground truth in millimetres, or ``None``.
    layout: the `lifting.core.skeleton.Layout` of every array.
    train_3d: ``[N, J, 3]`` camera-frame 3D of the training frames in millimetres, or ``None``.
      Only the supervised reference trains on it; baselines use it for the mean pose depth.
    test_actions: ``[M]`` action label of every test pose (for per-action errors), or ``None``.
    train_names: ``S`` training sequence names (``take/camK``), or ``None``.
    extra_2d: ``[E, J, 2]`` single 2D poses from other sources (``config.data.extra``), normalised
      like ``train_2d``; they join the lifter's inputs and the pose discriminator's real poses,
      never the temporal discriminator's windows. ``None`` without extras.
    test_pixels: ``[M, J, 2]`` the test inputs before normalisation (pixels), for scoring the path a
      user takes (`lifting.app.inference.Model.lift`), or ``None``.
    test_lengths: ``[S']`` frames per test sequence (summing to ``M``), for a temporal lifter, or ``None``.
  """
  train_2d: np.ndarray
  sequence_lengths: np.ndarray
  scale: float | None
  test_2d: np.ndarray | None
  test_3d: np.ndarray | None
  layout: skeleton.Layout
  train_3d: np.ndarray | None = None
  test_actions: np.ndarray | None = None
  train_names: tuple[str, ...] | None = None
  extra_2d: np.ndarray | None = None
  test_pixels: np.ndarray | None = None
  test_lengths: np.ndarray | None = None

  def test_subset(self, count: int, whole_sequences: bool = False) -> PoseData:
    """The same data with ``count`` evenly spaced test poses (all of them when ``count`` is 0 or at least
    their number): a cheaper evaluation that is the same set every time it is drawn. With ``whole_sequences``
    (a temporal lifter) evenly spaced whole test sequences, until they hold at least ``count`` poses."""
    if self.test_2d is None or count <= 0 or count >= len(self.test_2d):
      return self
    lengths = None
    if whole_sequences and self.test_lengths is not None:
      lengths = np.asarray(self.test_lengths, np.int64)
      for k in range(1, len(lengths) + 1):
        chosen = np.unique(np.linspace(0, len(lengths) - 1, k).round().astype(np.int64))
        if lengths[chosen].sum() >= count:
          break
      starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
      keep = np.concatenate([starts[i] + np.arange(lengths[i]) for i in chosen])
      lengths = lengths[chosen]
    else:
      keep = np.linspace(0, len(self.test_2d) - 1, count).round().astype(np.int64)
    pick = lambda a: None if a is None else a[keep]  # noqa: E731
    return dataclasses.replace(self, test_2d=self.test_2d[keep], test_3d=pick(self.test_3d),
                               test_actions=pick(self.test_actions), test_pixels=pick(self.test_pixels),
                               test_lengths=lengths)

  @property
  def has_sequences(self) -> bool:
    return bool(np.any(self.sequence_lengths > 1))

  _window_starts: dict = dataclasses.field(default_factory=dict, init=False, repr=False, compare=False)

  def window_starts(self, window: int) -> np.ndarray:
    """Indices of the frames that begin a ``window``-frame run inside one sequence."""
    if window not in self._window_starts:
      starts = temporal.window_starts(self.sequence_lengths, window)
      if starts.size == 0:
        raise ValueError(f"no sequence has the {window} consecutive frames a training window needs "
                         f"(longest sequence: {int(self.sequence_lengths.max(initial=0))} frames)")
      self._window_starts[window] = starts
    return self._window_starts[window]


def shard_frames(sequence_lengths: np.ndarray, index: int, count: int) -> np.ndarray:
  """``[N_i]`` indices (ascending) of the frames in shard ``index`` of ``count`` (see `shard`).

  ``sequence_lengths [S]``: frames per sequence, stored back to back.
  """
  if not 0 <= index < count:
    raise ValueError(f"shard: expected 0 <= index < count, got index {index} and count {count}")
  lengths = np.asarray(sequence_lengths, np.int64)
  return np.flatnonzero(np.repeat(np.arange(len(lengths)) % count == index, lengths))


def shard(data: PoseData, index: int, count: int) -> PoseData:
  """The part of the training set that process ``index`` of ``count`` keeps.

  Whole sequences, so a training window never straddles two shards: sequence ``s`` goes to
  shard ``s % count`` (its frames, 3D and name), and extra single pose ``e`` to ``e % count``.
  The split depends only on the sequence lengths and the number of extra poses, so every process
  can tell every shard's size without asking the others. The test set and the 2D scale stay
  whole. ``count`` 1 returns ``data`` itself.
  """
  if count < 1 or not 0 <= index < count:
    raise ValueError(f"shard: expected count >= 1 and 0 <= index < count, got index {index} and count {count}")
  if count == 1:
    return data
  frames = shard_frames(data.sequence_lengths, index, count)
  names = None if data.train_names is None else tuple(data.train_names[index::count])
  return dataclasses.replace(
      data, train_2d=data.train_2d[frames], sequence_lengths=np.asarray(data.sequence_lengths)[index::count],
      train_3d=None if data.train_3d is None else data.train_3d[frames], train_names=names,
      extra_2d=None if data.extra_2d is None else data.extra_2d[index::count])


def normalize(pose2d: np.ndarray, layout: skeleton.Layout, c: float, mode: str,
              scale: float | None = None) -> tuple[np.ndarray, float | None]:
  """Root-centres ``[..., J, 2]`` poses and scales them.

  ``mode`` is ``"dataset"`` (one scale for all, head-to-root ``1 / c`` on average; ``scale`` reuses a known
  one), ``"pose"`` (head-to-root ``1 / c`` per pose) or ``"body"`` (per pose, limb size
  ``geometry.LIMB_SIZE / c``: what `lifting.app.inference.Model.lift` does to a user's keypoints).
  Returns the normalised poses and the dataset scale (``None`` in the per-pose modes).
  """
  if mode not in SCALE_MODES:
    raise ValueError(f"data.scale: expected one of {SCALE_MODES}, got {mode!r}")
  if mode == "body":
    out, _, _ = geometry.normalize_limb_size(pose2d, layout.root_joints, layout.limb_bones, c)
    return np.asarray(out, np.float32), None
  per_pose = mode == "pose"
  out, _, s = geometry.normalize_pose2d(pose2d, layout.root_joints, layout.head, c, per_pose=per_pose,
                                        scale=None if per_pose else scale)
  return np.asarray(out, np.float32), (None if per_pose else float(s))


def normalization_stats(config, data: PoseData) -> dict:
  """How the training 2D was normalised, so new keypoints can be brought into the same frame.

  ``dataset_scale``: pixels to normalised units (``None`` with per-pose scales); ``body_size``:
  the median limb size (`lifting.data.wild.body_size`) of the normalised training poses, the size an
  in-the-wild pose is scaled to (its head and neck may mean other points, its limbs do not);
  ``mean_pose``: the mean normalised training pose ``[J, 2]``.
  """
  from lifting.data import wild
  try:
    body = float(np.median(wild.body_size(data.train_2d, data.layout)))
  except ValueError:  # A layout without the eight limb bones.
    body = None
  return {"layout": data.layout.name, "c": float(config.c), "scale_mode": config.data.scale,
          "dataset_scale": data.scale, "body_size": body, "source": config.data.source,
          "mean_pose": np.mean(data.train_2d, axis=0).round(6).tolist()}


def write_normalization(workdir: str, config, data: PoseData) -> None:
  """``normalization.json`` in ``workdir``: `normalization_stats`, what `lifting.app.inference.load` scales a user's
  keypoints by (process 0 of a multi-host run writes it)."""
  import jax
  if jax.process_index() == 0:
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "normalization.json"), "w") as f:
      json.dump(normalization_stats(config, data), f, indent=2)


def clean(seqs: PoseSequences, what: str) -> PoseSequences:
  """Cuts out frames whose 2D or 3D is non-finite or out of range, splitting their sequence.

  Nothing bad enters training silently: the counts are logged under ``what``.
  """
  bad_2d = ~np.isfinite(seqs.pose2d).all(axis=(1, 2)) | (np.abs(np.nan_to_num(seqs.pose2d)) > MAX_ABS_PIXELS).any(
      axis=(1, 2))
  bad_3d = np.zeros_like(bad_2d)
  if seqs.pose3d is not None:
    bad_3d = ~np.isfinite(seqs.pose3d).all(axis=(1, 2)) | (np.nan_to_num(seqs.pose3d[..., 2]) <= 0).any(axis=1)
  bad = bad_2d | bad_3d
  if not bad.any():
    return seqs
  logging.warning("%s: dropped %d of %d frames (%d with non-finite or out-of-range 2D, %d with non-finite 3D or "
                  "joints behind the camera)", what, bad.sum(), len(bad), bad_2d.sum(), (bad_3d & ~bad_2d).sum())
  seq_id = np.repeat(np.arange(len(seqs.lengths)), seqs.lengths)
  keep = ~bad
  # A new run starts wherever the sequence changes or a dropped frame interrupts it.
  breaks = np.ones(len(bad), bool)
  breaks[1:] = (seq_id[1:] != seq_id[:-1]) | bad[:-1]
  run_id = np.cumsum(breaks)[keep]
  _, first, lengths = np.unique(run_id, return_index=True, return_counts=True)
  owner = seq_id[keep][first]
  if not len(lengths):
    raise ValueError(f"{what}: every frame was dropped as non-finite or out of range")
  return PoseSequences(seqs.pose2d[keep], None if seqs.pose3d is None else seqs.pose3d[keep],
                       lengths.astype(np.int64), tuple(seqs.names[i] for i in owner),
                       tuple(seqs.actions[i] for i in owner), seqs.frame_step)


def from_pose_sequences(train: PoseSequences, test: PoseSequences | None, c: float, mode: str,
                        layout="paper14", keep_train_3d: bool = True, test_own_scale: bool = False) -> PoseData:
  """Normalises a training and an optional test split into `PoseData`. The test split reuses the training
  scale, or with ``test_own_scale`` (a test set from another dataset, with other cameras) gets its own
  dataset-level scale from its 2D."""
  layout = skeleton.get_layout(layout)
  for name, seqs in (("train", train), ("test", test)):
    if seqs is not None and seqs.pose2d.shape[1] != layout.num_joints:
      raise ValueError(f"{name} split: expected {layout.num_joints} joints of layout {layout.name!r}, "
                       f"got {seqs.pose2d.shape[1]}")
  frames, scale = normalize(train.pose2d, layout, c, mode)
  train_3d = train.pose3d if keep_train_3d else None
  test_2d = test_3d = actions = None
  if test is not None:
    test_2d, _ = normalize(test.pose2d, layout, c, mode, None if test_own_scale else scale)
    test_3d, actions = test.pose3d, test.frame_actions
  return PoseData(frames, np.asarray(train.lengths, np.int64), scale, test_2d, test_3d, layout, train_3d, actions,
                  tuple(train.names), test_pixels=None if test is None else test.pose2d,
                  test_lengths=None if test is None else test.sequence_lengths)


def data_path(value: str) -> str:
  """Config paths are relative to the working directory; ``~`` and ``$VARS`` are expanded."""
  return os.path.abspath(os.path.expandvars(os.path.expanduser(str(value))))


def load_splits(config) -> tuple[PoseSequences, PoseSequences | None]:
  """The raw training and test splits a config names (``config.data.source``), cleaned."""
  source = config.data.source
  if source == "synthetic":
    from lifting.data import synthetic
    s = config.data.synthetic
    demo = synthetic.make_demo_data(seed=s.seed, num_train_sequences=s.num_train_sequences,
                                    num_test_sequences=s.num_test_sequences, num_frames=s.num_frames,
                                    num_cameras=s.num_cameras)
    n, f, j = demo.train_2d.shape[:3]
    train = PoseSequences(demo.train_2d.reshape(-1, j, 2), demo.train_3d.reshape(-1, j, 3),
                          np.full(n, f, np.int64), tuple(f"train{i}" for i in range(n)), ("demo",) * n)
    m = demo.test_2d.shape[0]
    test = PoseSequences(demo.test_2d.reshape(-1, j, 2), demo.test_3d.reshape(-1, j, 3), np.full(m, f, np.int64),
                         tuple(f"test{i}" for i in range(m)), ("demo",) * m)
  elif source == "demo":  # A small piece of the bandai benchmark shipped with the package (lifting.data.demo).
    from lifting.data import demo
    train, test, _ = demo.load()
  elif source == "bandai":
    from lifting.data import bandai
    b = config.data.bandai
    cams = bandai.rig(b.num_cameras, b.camera_distance_mm, b.camera_height_mm, b.focal_px, tuple(b.image_size))
    common = dict(joint_map=b.joint_map, cameras=cams, cache_dir=data_path(b.cache_dir) if b.cache_dir else None,
                  rig_kind=b.rig, rig_seed=b.rig_seed)
    train = bandai.load(data_path(b.root), bandai.parse_actors(b.train_actors), b.extra_dataset1,
                        stride=b.train_stride, **common)
    test = bandai.load(data_path(b.root), bandai.parse_actors(b.test_actors), stride=b.test_stride, **common)
  elif source == "footage":
    f = config.data.footage
    from lifting.data import footage
    train = footage.from_config(config, "train", f.train_stride, f.detector_2d.train, f.detector_2d.train_swaps,
                                f.bandai_rig)
    test = footage.from_config(config, "test", f.test_stride, f.detector_2d.test)
  elif source == "h36m":
    from lifting.data import h36m
    h = config.data.h36m
    common = dict(path_3d=data_path(h.path_3d), path_2d_gt=data_path(h.path_2d_gt),
                  path_2d=data_path(h.path_2d) if h.path_2d else None,
                  cameras=data_path(h.cameras) if h.cameras else None)
    train = h36m.load(subjects=tuple(h.train_subjects), stride=h.train_stride, **common)
    test = h36m.load(subjects=tuple(h.test_subjects), stride=h.test_stride, **common)
  elif source == "mpi_inf_3dhp":
    from lifting.data import mpi_inf_3dhp
    m = config.data.mpi_inf_3dhp
    train = mpi_inf_3dhp.load_train(data_path(m.root), tuple(m.train_subjects), tuple(m.train_cameras), m.train_stride)
    test = None if test_source(config) != source else _load_3dhp_test(config)
  else:
    raise ValueError(f"data.source: expected one of {SOURCES}, got {source!r}")
  if test_source(config) != source:  # Cross-dataset: the test set of another dataset (Table 2).
    if test_source(config) != "mpi_inf_3dhp":
      raise ValueError(f"data.test_source: expected '' (the source's own test set) or 'mpi_inf_3dhp', got "
                       f"{config.data.test_source!r}")
    test = _load_3dhp_test(config)
  return clean(train, f"{source} train"), (None if test is None else clean(test, f"{test_source(config)} test"))


def protocol_module(source: str):
  """The data module of ``source`` (one of `SOURCES`): where its protocol's evaluation functions live, each optional:
  ``protocol(config)`` (its name in results), ``EVAL_SETS`` / ``AVAILABLE_EVAL_SETS`` and
  ``evaluation_sets(config, names)`` (sets scored beside the test set), ``OWN_TEST_SET`` (the test set's name among
  them), ``MULTI_VIEW_SETS`` (sets scored for view consistency), ``protocol_metrics(pred, gt, actions)`` (metrics
  of its own) and ``supervised_reference()`` (a supervised lifter's error on its test set)."""
  if source not in SOURCES:
    raise ValueError(f"data.source: expected one of {SOURCES}, got {source!r}")
  return importlib.import_module(f"lifting.data.{source}")


def evaluation_set_names(config) -> tuple[str, ...]:
  """The evaluation sets a config scores (``eval.generalisation.sets``: comma-separated names, or ``""`` for its
  protocol's defaults, ``EVAL_SETS``); ``()`` with ``eval.generalisation.enabled`` off. ``ValueError`` for a name
  the protocol does not offer."""
  g = config.eval.generalisation
  if not g.enabled:
    return ()
  module = protocol_module(config.data.source)
  available = getattr(module, "AVAILABLE_EVAL_SETS", ())
  names = tuple(n.strip() for n in str(g.sets).split(",") if n.strip())
  unknown = [n for n in names if n not in available]
  if unknown:
    offer = f"one of {available}" if available else "none: it has no evaluation sets"
    raise ValueError(f"eval.generalisation.sets: data.source {config.data.source!r} offers {offer}; got "
                     f"{', '.join(map(repr, unknown))}")
  return names or getattr(module, "EVAL_SETS", ())


def load_evaluation_sets(config) -> dict[str, PoseSequences]:
  """The evaluation sets a config scores beside its test set (`evaluation_set_names`), in pixels and camera-frame mm,
  each from its protocol's module (``evaluation_sets``; e.g. `lifting.data.bandai.evaluation_sets`), cleaned."""
  names = evaluation_set_names(config)
  if not names:
    return {}
  sets = protocol_module(config.data.source).evaluation_sets(config, names)
  return {name: clean(sets[name], name) for name in names}


def test_source(config) -> str:
  """The dataset whose test set a config evaluates on: ``data.test_source``, or by default ``data.source``."""
  return config.data.test_source or config.data.source


def _load_3dhp_test(config) -> PoseSequences:
  from lifting.data import mpi_inf_3dhp
  m = config.data.mpi_inf_3dhp
  return mpi_inf_3dhp.load_test(data_path(m.root), tuple(m.test_sequences), m.test_stride, m.universal)


def focal_from_pairs(pose2d: np.ndarray, pose3d: np.ndarray, layout: skeleton.Layout) -> float:
  """The focal length in pixels that best maps root-relative ``x/z, y/z`` of camera-frame 3D ``[N, J, 3]`` to
  root-relative pixels ``[N, J, 2]`` (least squares, one number for all poses)."""
  root = layout.root_joints
  ray = pose3d[..., :2] / pose3d[..., 2:]
  d_ray = ray - ray[:, root].mean(axis=1, keepdims=True)
  d_px = pose2d - pose2d[:, root].mean(axis=1, keepdims=True)
  return float(np.sum(d_ray * d_px) / max(np.sum(d_ray * d_ray), 1e-12))


def detector_like(config, splits: dict[str, PoseSequences]) -> tuple[dict, dict, dict]:
  """``(pose2d, missing, report)``, each a dict by split name: the detector-like 2D ``[N, J, 2]`` of each split
  in ``splits`` (``config.data.noise_2d``'s model; the training split draws with its seed, any other with
  seed + 1), its missing joints ``[N, J]`` and its counts. Sized in pixels by each pose's root depth and a focal
  length fitted to the split's 2D/3D pairs (`focal_from_pairs`), so the splits need camera-frame 3D."""
  from lifting.data import detector_noise
  layout = skeleton.get_layout(config.layout)
  base = detector_noise.from_config(config.data.noise_2d)
  noisy, masks, report = {}, {}, {}
  for name, seqs in splits.items():
    if seqs.pose3d is None:
      raise ValueError(f"data.noise_2d.{name}: the noise is sized by each pose's depth, but the {name} split of "
                       f"data.source {config.data.source!r} has no camera-frame 3D")
    model = dataclasses.replace(base, seed=base.seed + (0 if name == "train" else 1))
    depth = seqs.pose3d[:, list(layout.root_joints), 2].mean(axis=1)
    focal = focal_from_pairs(seqs.pose2d, seqs.pose3d, layout)
    noisy[name], masks[name], report[name] = detector_noise.corrupt(seqs.pose2d, depth, focal, model, layout)
    report[name]["focal_px"] = round(focal, 1)
    logging.info("data.noise_2d, %s split: %s", name, report[name])
  return noisy, masks, report


def add_detector_noise(config, train: PoseSequences, test: PoseSequences | None, completion=None,
                       what: tuple[str, ...] | None = None):
  """``(train, test, report)``: the splits with detector-like 2D (`detector_like`) where ``config.data.noise_2d``
  asks (``train``, ``test``; or the splits named in ``what``), unchanged elsewhere.

  Missing joints are filled by ``completion``, or else by a completion network trained
  (`lifting.training.completion.from_config`) on the complete poses of
  the training 2D as it comes in (noisy where the training split is); with ``noise_2d.complete`` False they keep
  the detector's guess. A pose may miss at most the network's ``max_missing`` joints; beyond that its last ones
  keep the detector's guess. ``report`` counts every kind of error per split.
  """
  block = config.data.noise_2d
  what = what if what is not None else tuple(s for s in ("train", "test") if block[s])
  splits = {name: seqs for name, seqs in (("train", train), ("test", test)) if name in what and seqs is not None}
  if not splits:
    return train, test, {}
  noisy, masks, report = detector_like(config, splits)
  if block.complete and any(m.any() for m in masks.values()):
    from lifting.training import completion as completion_lib
    if completion is None:
      pool = noisy["train"][~masks["train"].any(axis=1)] if "train" in noisy else train.pose2d
      completion = completion_lib.from_config(config, pool)
    for name, missing in masks.items():
      visible = ~missing | (np.cumsum(missing, axis=1) > completion.max_missing)  # Beyond: the guess stays.
      noisy[name] = completion_lib.complete(completion, noisy[name], visible).astype(np.float32)
      report[name]["completed_joints"] = int((~visible).sum())
      report[name]["completion_held_out_error"] = completion.held_out.get("error")
  out = {name: dataclasses.replace(splits[name], pose2d=noisy[name]) for name in noisy}
  return out.get("train", train), out.get("test", test), report


def load(config, extra: bool = True) -> PoseData:
  """The normalised data a config names (``config.data.source``), with ``config.data.extra`` if ``extra``."""
  train, test = load_splits(config)
  train, test, _ = add_detector_noise(config, train, test)
  data = from_pose_sequences(train, test, config.c, config.data.scale, config.layout,
                             test_own_scale=test_source(config) != config.data.source)
  if extra and config.data.extra.kind != "none":
    from lifting.data import wild
    poses = wild.read_extra(config, data.layout.num_joints)
    if config.data.scale == "body":  # The adapter's corrections move the limbs a little: back to the pool's size.
      poses, _ = normalize(poses, data.layout, config.c, "body")
    logging.info("data.extra: %d %s source poses (%s) beside %d target frames", len(poses), config.data.extra.kind,
                 wild.extra_path(config), len(data.train_2d))
    data = dataclasses.replace(data, extra_2d=poses)
  return data
