"""The "bandai" benchmark: real optical mocap seen through Human3.6M-like virtual cameras.

Human3.6M is licensed, so this library's 3D benchmark is the Bandai Namco Research Motion
Dataset (Kobayashi et al., arXiv:2306.08861; CC BY-NC 4.0): BVH files of three professional
actors, 30 fps, centimetres, Y up. The protocol is fixed:

* **Actors.** Files carry no actor id, but in dataset-2 each style was performed by one actor:
  A = active / elderly / exhausted, B = masculine / normal, C = feminine / youthful (each
  actor's files share one Hips OFFSET, which the tests check). Train on A and B, test on C,
  every frame. Unsupervised runs use only the training actors' 2D; the supervised reference
  also uses their 3D. Dataset-1 (other contents, actors not identified) can be added as extra
  training 2D (``data.bandai.extra_dataset1``); it is never used for testing.
* **Joints.** A joint map (paper14 joint -> BVH joint, `JOINT_MAPS`) picks the 14 joints; a
  BVH joint's position is where its bone starts. The root is the hip midpoint. Bandai's
  ``Head`` is the skull base, which LSP / MPII's head top is not: left to the domain adapter.
* **Cameras.** Four cameras like Human3.6M's (`lifting.data.cameras.ring_cameras`): 5 m from
  the capture centre at azimuths 45, 135, 225 and 315 degrees from +Z (where the actors face
  at the start of a take), 1.4 m high (chest height), looking at hip height, f = 1150 px, 1000 x 1000
  images. Bandai's walks and runs cover up to 10 m, so a fixed rig would lose the actor from
  its images and see them at 2-8 m; the rig therefore follows the hip midpoint across the floor
  (translation only, never rotating with the actor), keeping every frame framed as in
  Human3.6M. Each (take, camera) pair is one sequence, so temporal windows never straddle
  cameras or takes.
* **Protocols.** The actors mostly face +Z, so with the rig above ("fixed-rig", every result
  before the "turned-rig" protocol) about 83% of the 2D falls in four of eight 45-degree yaw
  bins (oblique views) and frontal, back and profile views are rare. ``rig="turned"``
  ("turned-rig") turns the whole rig of each take about the vertical axis by its own azimuth,
  uniform in [0, 360) and seeded by the take's name and ``rig_seed``, so the 2D covers every view,
  as in Human3.6M, where subjects turn. Training and test takes are turned alike.
* **Outputs.** Pixel 2D for training and testing, camera-frame 3D in millimetres (x right,
  y down, z forward) as ground truth, per-frame action labels (the content: walk, run, ...).
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import time

from absl import logging
import numpy as np

from lifting import cache
from lifting.core import skeleton
from lifting.data import bvh
from lifting.data import cameras as cameras_lib
from lifting.data import sequences
from lifting.data.sequences import PoseSequences

# paper14 joint -> BVH joint (positions where each bone starts). Users with another BVH skeleton
# pass their own dict through `data.bandai.joint_map`.
JOINT_MAPS: dict[str, dict[str, str]] = {
    "bandai": {
        "r_ankle": "Foot_R", "r_knee": "LowerLeg_R", "r_hip": "UpperLeg_R",
        "l_hip": "UpperLeg_L", "l_knee": "LowerLeg_L", "l_ankle": "Foot_L",
        "r_wrist": "Hand_R", "r_elbow": "LowerArm_R", "r_shoulder": "UpperArm_R",
        "l_shoulder": "UpperArm_L", "l_elbow": "LowerArm_L", "l_wrist": "Hand_L",
        "neck": "Neck", "head": "Head",
    },
}

ACTOR_STYLES = {"A": ("active", "elderly", "exhausted"), "B": ("masculine", "normal"),
                "C": ("feminine", "youthful")}
TRAIN_ACTORS = ("A", "B")
TEST_ACTORS = ("C",)
DATASET_DIRS = {1: "Bandai-Namco-Research-Motiondataset-1", 2: "Bandai-Namco-Research-Motiondataset-2"}
UNITS_TO_MM = 10.0  # The files are in centimetres.
RIGS = ("fixed", "turned")
_CACHE_VERSION = 1
DOWNLOAD = ("get it from https://github.com/BandaiNamcoResearchInc/Bandai-Namco-Research-Motiondataset "
            "(CC BY-NC 4.0) and point --config.data.bandai.root at the folder that holds dataset/")


@dataclasses.dataclass(frozen=True)
class Take:
  """One BVH file: ``dataset-{d}_{content}_{style}_{id}.bvh``."""
  path: str
  dataset: int
  content: str
  style: str

  @property
  def name(self) -> str:
    return os.path.splitext(os.path.basename(self.path))[0]

  @property
  def actor(self) -> str | None:
    """A, B or C for dataset-2 takes; ``None`` for dataset-1, whose actors are not identified."""
    if self.dataset != 2:
      return None
    return next((a for a, styles in ACTOR_STYLES.items() if self.style in styles), None)


def resolve_joint_map(joint_map) -> dict[str, str]:
  """A joint map from a shipped name (`JOINT_MAPS`), a JSON object string, a ``.json`` file or a dict.

  Every paper14 joint must be mapped to a BVH joint name, and nothing else. The string forms let
  a map be given on the command line (``--config.data.bandai.joint_map=my_skeleton.json``).
  """
  where = "data.bandai.joint_map"
  if isinstance(joint_map, str):
    text = joint_map.strip()
    if text in JOINT_MAPS:
      return dict(JOINT_MAPS[text])
    try:
      if text.startswith("{"):
        joint_map = json.loads(text)
      elif text.endswith(".json"):
        with open(os.path.expanduser(text)) as f:
          joint_map = json.load(f)
      else:
        raise ValueError(f"{where}: expected one of {sorted(JOINT_MAPS)}, a JSON object of paper14 joint -> BVH "
                         f"joint, or a .json file holding one; got {text!r}")
    except (OSError, json.JSONDecodeError) as e:
      raise ValueError(f"{where}: cannot read {text!r}: {e}") from None
  if not isinstance(joint_map, dict):
    raise ValueError(f"{where}: expected a mapping of paper14 joint -> BVH joint, got {type(joint_map).__name__}")
  joint_map = {str(k): str(v) for k, v in joint_map.items()}
  expected = skeleton.get_layout("paper14").joints
  missing = [j for j in expected if j not in joint_map]
  extra = [j for j in joint_map if j not in expected]
  if missing or extra:
    raise ValueError(f"{where}: expected exactly the paper14 joints {list(expected)}; missing {missing}, "
                     f"unknown {extra}")
  return joint_map


def find_takes(root: str, dataset: int) -> list[Take]:
  """Every BVH file of ``dataset`` (1 or 2) under ``root``, sorted by name."""
  if dataset not in DATASET_DIRS:
    raise ValueError(f"Bandai dataset: expected 1 or 2, got {dataset}")
  if not os.path.isdir(root):
    raise ValueError(f"data.bandai.root: {root!r} does not exist; {DOWNLOAD}")
  pattern = os.path.join(root, "**", DATASET_DIRS[dataset], "data", "*.bvh")
  takes = []
  for path in sorted(glob.glob(pattern, recursive=True)):
    parts = os.path.splitext(os.path.basename(path))[0].split("_")
    if len(parts) != 4 or parts[0] != f"dataset-{dataset}":
      raise ValueError(f"{path}: expected a file name dataset-{dataset}_<content>_<style>_<id>.bvh")
    takes.append(Take(path, dataset, parts[1], parts[2]))
  if not takes:
    raise ValueError(f"data.bandai.root: no {DATASET_DIRS[dataset]}/data/*.bvh under {root!r}; {DOWNLOAD}")
  return takes


def read_take(take: Take, joint_map: dict[str, str]) -> np.ndarray:
  """``[F, 14, 3]`` float32 world joints of one take in millimetres (Y up), paper14 order."""
  motion = bvh.read_bvh(take.path)
  names = [joint_map[j] for j in skeleton.get_layout("paper14").joints]
  try:
    positions = bvh.forward_kinematics(motion, names, scale=UNITS_TO_MM)
  except ValueError as e:
    raise ValueError(f"{take.path}: {e}") from None
  with np.errstate(over="ignore"):
    positions = positions.astype(np.float32)
  if not np.all(np.isfinite(positions)):  # Finite in the file, yet beyond float32 once in millimetres.
    frame = int(np.flatnonzero(~np.isfinite(positions).all(axis=(1, 2)))[0])
    raise ValueError(f"{take.path}: joint positions out of range (non-finite in millimetres) from frame {frame}")
  return positions


def _signature(takes: list[Take], joint_map: dict[str, str]) -> str:
  h = hashlib.sha1(json.dumps([_CACHE_VERSION, sorted(joint_map.items())]).encode())
  for t in takes:
    st = os.stat(t.path)
    h.update(f"{os.path.basename(t.path)}:{st.st_size}:{st.st_mtime_ns};".encode())
  return h.hexdigest()[:16]


def load_takes(root: str, dataset: int, joint_map="bandai", cache_dir: str | None = None):
  """Reads (or loads from the ``.npz`` cache) every take of ``dataset``.

  Returns ``(takes, positions)``: the `Take` list and a list of ``[F, 14, 3]`` world-mm arrays.
  The cache key covers file names, sizes, modification times and the joint map, so edited
  data is re-read. A take that fails to parse (including NaN or infinite values) is reported
  with its file and line and skipped, never half-read.
  """
  joint_map = resolve_joint_map(joint_map)
  takes = find_takes(root, dataset)
  cache_dir = cache_dir or cache.folder()
  stored = os.path.join(cache_dir, f"bandai-{dataset}-{_signature(takes, joint_map)}.npz")
  if os.path.exists(stored):
    with np.load(stored) as z:
      lengths, frames, names = z["lengths"], z["positions"], list(z["names"])
    kept = {t.name: t for t in takes}
    splits = np.split(frames, np.cumsum(lengths)[:-1])
    return [kept[n] for n in names], splits
  t0 = time.perf_counter()
  good, positions, failed = [], [], []
  for take in takes:
    try:
      pos = read_take(take, joint_map)
    except (ValueError, OSError) as e:
      failed.append(str(e))
      continue
    if len(pos):
      good.append(take)
      positions.append(pos)
  for reason in failed:
    logging.warning("skipped unreadable BVH file: %s", reason)
  if not good:
    raise ValueError(f"data.bandai.root: none of the {len(takes)} BVH files of dataset-{dataset} under {root!r} "
                     f"could be read; first error: {failed[0] if failed else 'none'}")
  logging.info("read %d Bandai dataset-%d takes (%d frames, %d skipped) in %.1f s", len(good), dataset,
               sum(len(p) for p in positions), len(failed), time.perf_counter() - t0)
  try:
    os.makedirs(cache_dir, exist_ok=True)
    tmp = stored + f".tmp{os.getpid()}.npz"
    np.savez(tmp, positions=np.concatenate(positions), lengths=np.array([len(p) for p in positions]),
             names=np.array([t.name for t in good]))
    os.replace(tmp, stored)
  except OSError as e:
    logging.warning("could not write the Bandai cache %s (%s); the next load will re-read the BVH files", stored, e)
  return good, positions


def rig(num_cameras: int = 4, distance_mm: float = 5000.0, height_mm: float = 1400.0, focal_px: float = 1150.0,
        image_size=(1000, 1000)) -> list[cameras_lib.Camera]:
  """The protocol's cameras, around a capture centre at the world origin."""
  return cameras_lib.ring_cameras(num_cameras, distance_mm, height_mm, focal_px, tuple(image_size))


def protocol_name(rig_kind: str) -> str:
  """The protocol's name in results: ``"bandai/fixed-rig"`` or ``"bandai/turned-rig"``."""
  if rig_kind not in RIGS:
    raise ValueError(f"data.bandai.rig: expected one of {RIGS}, got {rig_kind!r}")
  return f"bandai/{rig_kind}-rig"


def take_azimuth(name: str, rig_seed: int) -> float:
  """The turned-rig protocol's azimuth of one take, in radians in [0, 2 pi).

  Seeded by the take's name and ``rig_seed`` (not by its position in a list), so a take is turned
  alike whichever actors or datasets are loaded beside it.
  """
  digest = hashlib.sha256(f"{int(rig_seed)}:{name}".encode()).digest()
  return float(np.random.default_rng(int.from_bytes(digest[:8], "little")).uniform(0.0, 2 * np.pi))


def turn(world: np.ndarray, azimuth: float) -> np.ndarray:
  """``[F, J, 3]`` world joints (Y up) turned by ``azimuth`` radians about the vertical axis through
  the capture centre: the same as turning the rig the other way."""
  c, s = np.cos(azimuth), np.sin(azimuth)
  rotation = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], np.float64)
  return (np.asarray(world, np.float64) @ rotation.T).astype(np.asarray(world).dtype)


def film(world: np.ndarray, cameras: list[cameras_lib.Camera]) -> tuple[np.ndarray, np.ndarray]:
  """Films ``[F, J, 3]`` world mm with a rig that follows the hip midpoint across the floor.

  Returns ``(camera-frame mm [C, F, J, 3], pixels [C, F, J, 2])``.
  """
  layout = skeleton.get_layout("paper14")
  root = world[:, list(layout.root_joints)].mean(axis=1)
  centred = world - np.stack([root[:, 0], np.zeros_like(root[:, 0]), root[:, 2]], axis=-1)[:, None]
  cam3d = np.stack([cameras_lib.world_to_camera(centred, c) for c in cameras])
  px = np.stack([cameras_lib.camera_to_pixels(p, c) for p, c in zip(cam3d, cameras)])
  return cam3d.astype(np.float32), px.astype(np.float32)


def _film_takes(selected, cameras: list[cameras_lib.Camera], stride: int, rig_kind: str, rig_seed: int,
                label=lambda take: take.content) -> PoseSequences:
  """Films ``(take, world [F, 14, 3])`` pairs with the rig; one sequence per (take, camera), labelled
  ``label(take)``."""
  pose2d, pose3d, lengths, names, actions = [], [], [], [], []
  for take, world in selected:
    world = world[::stride]
    if rig_kind == "turned":
      world = turn(world, -take_azimuth(take.name, rig_seed))
    cam3d, px = film(world, cameras)
    for k in range(len(cameras)):
      pose2d.append(px[k])
      pose3d.append(cam3d[k])
      lengths.append(len(world))
      names.append(f"{take.name}/cam{k}")
      actions.append(label(take))
  return PoseSequences(np.concatenate(pose2d), np.concatenate(pose3d), np.asarray(lengths, np.int64), tuple(names),
                       tuple(actions), stride)


def load(root: str, actors=TRAIN_ACTORS, extra_dataset1: bool = False, joint_map="bandai",
         cameras: list[cameras_lib.Camera] | None = None, stride: int = 1, cache_dir: str | None = None,
         rig_kind: str = "fixed", rig_seed: int = 0) -> PoseSequences:
  """The protocol's sequences for ``actors`` (from dataset-2), plus dataset-1 when asked.

  Args:
    root: the folder holding ``dataset/Bandai-Namco-Research-Motiondataset-{1,2}``.
    actors: any of ``"A"``, ``"B"``, ``"C"``.
    extra_dataset1: also add every dataset-1 take (training only: its actors are unknown).
    joint_map: see `resolve_joint_map`.
    cameras: the rig (default `rig()`).
    stride: keep every ``stride``-th frame (1 = all frames).
    cache_dir: where the parsed joints are cached (default ``$LIFTING_CACHE`` or ``~/.cache/lifting``).
    rig_kind: ``"fixed"`` (the rig as built) or ``"turned"`` (each take's rig turned by `take_azimuth`).
    rig_seed: the seed of the turned rig's azimuths.
  """
  protocol_name(rig_kind)  # Checks the kind.
  _check_actors(actors)
  cameras = rig() if cameras is None else cameras
  selected = []
  takes, positions = load_takes(root, 2, joint_map, cache_dir)
  selected += [(t, p) for t, p in zip(takes, positions) if t.actor in actors]
  if extra_dataset1:
    takes, positions = load_takes(root, 1, joint_map, cache_dir)
    selected += list(zip(takes, positions))
  return _film_takes(selected, cameras, stride, rig_kind, rig_seed)


def _check_actors(actors) -> None:
  unknown = sorted(set(actors) - set(ACTOR_STYLES))
  if unknown or not actors:
    raise ValueError(f"Bandai actors: expected a non-empty subset of {sorted(ACTOR_STYLES)}, got {list(actors)}")


# ---- Generalisation protocols: other motions (dataset-1) and other bodies (actor C re-posed). ----

# Dataset-1's contents, split once (2026-12-02, before any run was scored on them) into a half for choosing
# things ("dev") and a half held out for reporting ("test"). Each half holds locomotion, gestures and
# fighting: walk / run / gestures / two fighting moves for dev; the other walks, dash, the other gestures,
# kick and the dances for test. Nothing of dataset-1 is a training input in the rows scored on it.
DATASET1_SPLIT = {
    "dev": ("walk", "walk-left", "run", "bow", "byebye", "guide", "punch", "slash"),
    "test": ("walk-back", "walk-right", "dash", "bye", "respond", "call", "kick", "dance-short", "dance-long"),
}


def load_dataset1(root: str, split: str, joint_map="bandai", cameras: list[cameras_lib.Camera] | None = None,
                  stride: int = 4, cache_dir: str | None = None, rig_kind: str = "turned",
                  rig_seed: int = 0) -> PoseSequences:
  """Dataset-1's takes of the contents of ``split`` (``"dev"`` or ``"test"``, `DATASET1_SPLIT`) filmed like the
  benchmark's test actor, every ``stride``-th frame; each sequence is labelled with its content."""
  if split not in DATASET1_SPLIT:
    raise ValueError(f"dataset-1 split: expected one of {sorted(DATASET1_SPLIT)}, got {split!r}")
  protocol_name(rig_kind)
  takes, positions = load_takes(root, 1, joint_map, cache_dir)
  selected = [(t, p) for t, p in zip(takes, positions) if t.content in DATASET1_SPLIT[split]]
  if not selected:
    raise ValueError(f"data.bandai.root: no dataset-1 take of the {split} contents {DATASET1_SPLIT[split]} under "
                     f"{root!r}")
  return _film_takes(selected, rig() if cameras is None else cameras, stride, rig_kind, rig_seed)


# Bone groups of the cross-body protocol: a group's factor multiplies the OFFSET (the bone from the parent) of
# each listed BVH joint of the bandai skeleton.
BODY_GROUPS = {
    "legs": ("LowerLeg_L", "LowerLeg_R", "Foot_L", "Foot_R", "Toes_L", "Toes_R"),  # Thigh, shin, foot.
    "arms": ("LowerArm_L", "LowerArm_R", "Hand_L", "Hand_R"),                      # Upper arm, forearm.
    "torso": ("Spine", "Chest", "Neck"),                                           # Pelvis to neck.
    "head": ("Head",),                                                             # Neck to skull base.
    "shoulders": ("Shoulder_L", "Shoulder_R", "UpperArm_L", "UpperArm_R"),         # Shoulder width.
    "hips": ("UpperLeg_L", "UpperLeg_R"),                                          # Hip width.
}
# Each group's factor is drawn uniformly from its range. Adult segment lengths at a given stature vary with a
# coefficient of variation of about 4-6% (US Army ANSUR II, Gordon et al. 2014), and across populations the
# sitting height ratio runs from about 0.48 to 0.55 (Norgan, Ann. Hum. Biol. 1994), legs about 7% either way
# relative to the trunk: the ranges span roughly two standard deviations, breadths (hips, shoulders) and the
# short neck-to-skull-base bone a little more.
BODY_RANGES = {"legs": (0.88, 1.12), "arms": (0.9, 1.1), "torso": (0.9, 1.1), "head": (0.85, 1.15),
               "shoulders": (0.88, 1.12), "hips": (0.85, 1.15)}


def sample_bodies(num_bodies: int, seed: int = 0) -> list[dict[str, float]]:
  """``num_bodies`` seeded bodies: a factor per `BODY_GROUPS` group, uniform in its `BODY_RANGES` range."""
  if num_bodies < 1:
    raise ValueError(f"cross-body: expected at least one body, got {num_bodies}")
  rng = np.random.default_rng(seed)
  return [{g: round(float(rng.uniform(*BODY_RANGES[g])), 4) for g in BODY_GROUPS} for _ in range(num_bodies)]


def rescale_motion(motion: bvh.Motion, factors: dict[str, float]) -> bvh.Motion:
  """``motion`` on another body: each `BODY_GROUPS` joint's OFFSET and position channels times its group's factor
  (joints the skeleton lacks are skipped; a group none of whose joints it has is an error).

  Joint rotations are kept, so the motion is the same and only the bones change. The hips' height channel
  follows the legs' factor, so the feet stay near the floor.
  """
  unknown = sorted(set(factors) - set(BODY_GROUPS))
  if unknown:
    raise ValueError(f"cross-body: unknown bone groups {unknown}; expected {sorted(BODY_GROUPS)}")
  sk = motion.skeleton
  offsets, frames = sk.offsets.copy(), motion.frames.copy()
  starts = np.cumsum([0] + [len(c) for c in sk.channels])
  for group, factor in factors.items():
    present = [name for name in BODY_GROUPS[group] if name in sk.names]
    if not present:
      raise ValueError(f"cross-body: the skeleton of {motion.path} has none of the {group} joints "
                       f"{BODY_GROUPS[group]}")
    for name in present:
      j = sk.index(name)
      offsets[j] *= factor
      for k, chan in enumerate(sk.channels[j]):
        if chan.endswith("position"):
          frames[:, starts[j] + k] *= factor
  if "Hips" in sk.names and "legs" in factors:
    j = sk.index("Hips")
    for k, chan in enumerate(sk.channels[j]):
      if chan == "Yposition":
        frames[:, starts[j] + k] *= factors["legs"]
  return dataclasses.replace(motion, skeleton=dataclasses.replace(sk, offsets=offsets), frames=frames)


def load_cross_body(root: str, bodies: list[dict[str, float]], actors=TEST_ACTORS, joint_map="bandai",
                    cameras: list[cameras_lib.Camera] | None = None, stride: int = 4, rig_kind: str = "turned",
                    rig_seed: int = 0) -> PoseSequences:
  """The takes of ``actors`` (dataset-2) re-posed on each of ``bodies`` (`sample_bodies`) by forward kinematics
  with rescaled bones (`rescale_motion`), filmed like the test actor, every ``stride``-th frame. Each
  sequence is labelled ``body<k>``: the same motions on other bodies, so body shape is measured apart from motion."""
  protocol_name(rig_kind)
  _check_actors(actors)
  joint_map = resolve_joint_map(joint_map)
  names = [joint_map[j] for j in skeleton.get_layout("paper14").joints]
  takes = [t for t in find_takes(root, 2) if t.actor in actors]
  cameras = rig() if cameras is None else cameras
  parts = []
  for take in takes:
    motion = bvh.read_bvh(take.path)
    motion = dataclasses.replace(motion, frames=motion.frames[::stride])
    for k, factors in enumerate(bodies):
      world = bvh.forward_kinematics(rescale_motion(motion, factors), names, scale=UNITS_TO_MM).astype(np.float32)
      parts.append((k, take, world))
  films = sequences.concatenate([_film_takes([(take, world)], cameras, 1, rig_kind, rig_seed,
                                             label=lambda _, k=k: f"body{k}") for k, take, world in parts])
  return dataclasses.replace(films, frame_step=stride)


def parse_actors(value) -> tuple[str, ...]:
  """A config's actors, ``"A,B"`` or ``"AB"``, as ``("A", "B")``."""
  return tuple(str(value).replace(",", "").replace(" ", "").upper())


# ---- The protocol's evaluation (`lifting.data.pipeline.protocol_module`). ----

OWN_TEST_SET = "actor_c"
# Scored beside the test set at the end of training and by --mode=eval: dataset-1's dev and held-out contents
# (other motions, labelled by content) and the test actors' motions on other bodies (labelled ``body<k>``).
EVAL_SETS = ("dataset1_dev", "dataset1_test", "cross_body")
AVAILABLE_EVAL_SETS = (OWN_TEST_SET, *EVAL_SETS)


def protocol(config) -> str:
  """The protocol's name in results: ``"bandai/fixed-rig"`` or ``"bandai/turned-rig"``."""
  return protocol_name(config.data.bandai.rig)


def evaluation_sets(config, names) -> dict[str, PoseSequences]:
  """The sets of ``names`` (`AVAILABLE_EVAL_SETS`) filmed by the config's rig, in pixels and camera-frame mm:
  ``actor_c`` (the test actors, every ``eval.generalisation.dataset1_stride``-th frame), ``dataset1_dev`` /
  ``dataset1_test`` and ``cross_body`` (``eval.generalisation``'s bodies and strides)."""
  from lifting.data import pipeline  # Config paths.
  b, g = config.data.bandai, config.eval.generalisation
  cams = rig(b.num_cameras, b.camera_distance_mm, b.camera_height_mm, b.focal_px, tuple(b.image_size))
  filmed = dict(cameras=cams, rig_kind=b.rig, rig_seed=b.rig_seed, joint_map=b.joint_map)
  cache = pipeline.data_path(b.cache_dir) if b.cache_dir else None
  root, actors = pipeline.data_path(b.root), parse_actors(b.test_actors)
  loaders = {
      "actor_c": lambda: load(root, actors, stride=g.dataset1_stride, cache_dir=cache, **filmed),
      "dataset1_dev": lambda: load_dataset1(root, "dev", stride=g.dataset1_stride, cache_dir=cache, **filmed),
      "dataset1_test": lambda: load_dataset1(root, "test", stride=g.dataset1_stride, cache_dir=cache, **filmed),
      "cross_body": lambda: load_cross_body(root, sample_bodies(g.num_bodies, g.body_seed), actors,
                                            stride=g.cross_body_stride, **filmed),
  }
  return {name: loaders[name]() for name in names}
