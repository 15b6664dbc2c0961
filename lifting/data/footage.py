"""The "footage" protocol: the bandai mocap made to look like what people film.

Every number of the "bandai" protocols measures 2D projected from one studio's walks, runs and waves through
virtual cameras at chest height, 5 degrees above the subject, with the mocap's own joints. People film other
motions, from other heights, closer, through a detector whose keypoints sit elsewhere on the body. This protocol
keeps the real motion and changes the rest:

* **Contents** (`SPLIT`): every motion of both bandai subsets, split by content. Training: dataset-2's training
  actors A and B (all ten contents) and five dataset-1 contents; dev (for choosing): three other dataset-1
  contents; test: dataset-1's held-out contents (`lifting.data.bandai.DATASET1_SPLIT["test"]`, never trained on).
* **Cameras** (`draw_camera`): per take, `cameras` of them, each drawn wide: height 0.5-3 m, horizontal distance
  2-8 m (log-uniform, so perspective is often as strong as at 2.5 m), aimed at a point 0.8-1.2 m up the subject
  so the elevation lands in -10 to 45 degrees, rolled up to 10 degrees, the subject off the image centre, the
  focal length of a phone or webcam (55-80 degrees across the long side of a 1920 x 1080 image, portrait or
  landscape). Like the bandai rig, the camera follows the subject across the floor (translation only).
* **Bodies** (`draw_body`, `apply_body`): the bandai skeleton is one set of proportions with narrow joint-centre
  shoulders (204 mm) and hips (129 mm); detectors mark the shoulders and hips of MS COCO, MPII and MediaPipe
  wider and the neck at the shoulders' midpoint. Measured on the 2D alone (near-frontal upright poses): MPII
  annotations have shoulder width 0.92 and LSP 0.80 of the shoulder-to-hip length, hip width 0.53 and 0.50 of
  the shoulder width; the bandai joints 0.50 and 0.64. The test bodies therefore have shoulders 1.65x and hips
  1.4x as wide, hips 20 mm higher (an assumption: detectors mark the hips above the joint centres, by an amount
  no source we could read gives) and the neck at the shoulders' midpoint; their limbs, torso and head vary per
  take like the cross-body protocol's bodies. Training bodies are drawn from ranges that hold both the mocap's
  own joints and the detectors'.
* **Detector habits** (`Habits`, `apply_habits`): per-joint jitter and a slow drift over time (both sized by
  the pose's limb size in pixels), and left/right swaps that last several frames: the whole body's labels (a
  detector confusing front and back) or the legs'.

The ground truth is the 3D of the joints as the detector marks them (the test bodies' joints), in the camera
frame, like 3D triangulated from a detector's keypoints in several calibrated views. Every draw is seeded by
the protocol's seed and the take's name, so a take is filmed alike whatever else is loaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math

import numpy as np

from lifting.core import geometry
from lifting.core import skeleton
from lifting.data import bandai
from lifting.data import cameras as cameras_lib
from lifting.data.sequences import PoseSequences

PROTOCOL = "bandai/footage"
# Contents of each split: (dataset, contents). Dataset-2 trains on its training actors only (actor C stays the
# bandai protocols' test actor); dataset-1's test contents are the generalisation protocol's held-out half.
_D1_TRAIN = ("walk", "run", "bow", "byebye", "punch")
_D1_DEV = ("walk-left", "guide", "slash")
SPLIT = {"train": ((2, None), (1, _D1_TRAIN)), "dev": ((1, _D1_DEV),), "test": ((1, bandai.DATASET1_SPLIT["test"]),)}
assert set(_D1_TRAIN) | set(_D1_DEV) == set(bandai.DATASET1_SPLIT["dev"])

# Camera ranges (module docstring).
HEIGHT_MM = (500.0, 3000.0)
DISTANCE_MM = (2000.0, 8000.0)
AIM_HEIGHT_MM = (800.0, 1200.0)
ELEVATION_DEG = (-10.0, 45.0)
ROLL_DEG = 10.0
FOV_LONG_SIDE_DEG = (55.0, 80.0)
IMAGE_LONG, IMAGE_SHORT = 1920, 1080
OFF_CENTRE = 0.3  # The subject's root up to this share of the half field of view from the centre.

_J = {name: i for i, name in enumerate(skeleton.get_layout("paper14").joints)}


@dataclasses.dataclass(frozen=True)
class Body:
  """Factors on the bandai skeleton (`apply_body`): limb, torso and head lengths, shoulder and hip widths, a hip
  raise in mm, and whether the neck is the shoulders' midpoint (detectors) or the mocap's neck joint."""
  legs: float = 1.0
  arms: float = 1.0
  torso: float = 1.0
  head: float = 1.0
  shoulders: float = 1.0
  hips: float = 1.0
  hip_raise_mm: float = 0.0
  neck_from_shoulders: bool = False


# The detectors' joints (module docstring): the test bodies' widths, hip raise and neck.
DETECTOR_JOINTS = dict(shoulders=1.65, hips=1.4, hip_raise_mm=20.0, neck_from_shoulders=True)
# Per-take variation of every body (the cross-body protocol's ranges, lifting.data.bandai.BODY_RANGES) ...
_LENGTHS = {"legs": (0.88, 1.12), "arms": (0.9, 1.1), "torso": (0.9, 1.1), "head": (0.85, 1.15)}
# ... and the training bodies' joint semantics, from the mocap's own to beyond the detectors'.
_TRAIN_JOINTS = {"shoulders": (1.0, 2.0), "hips": (1.0, 1.8), "hip_raise_mm": (0.0, 50.0)}


def _rng(*parts) -> np.random.Generator:
  """A generator seeded by ``parts`` (e.g. seed, split, take name), independent of any list order."""
  digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
  return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def draw_body(rng: np.random.Generator, split: str) -> Body:
  """A body for one take: lengths drawn from `_LENGTHS`; test and dev bodies have `DETECTOR_JOINTS`, training
  bodies joints drawn from `_TRAIN_JOINTS` and the neck from the shoulders half of the time."""
  lengths = {k: float(rng.uniform(*r)) for k, r in _LENGTHS.items()}
  if split == "train":
    joints = {k: float(rng.uniform(*r)) for k, r in _TRAIN_JOINTS.items()}
    return Body(**lengths, **joints, neck_from_shoulders=bool(rng.random() < 0.5))
  return Body(**lengths, **DETECTOR_JOINTS)


def apply_body(world: np.ndarray, body: Body) -> np.ndarray:
  """``[F, 14, 3]`` paper14 world joints (mm) on ``body``: each chain rebuilt from the root outwards with its bones
  scaled (the same motion, other proportions), the shoulders and hips widened about their midpoints, the hips
  raised along the spine (the detector's hip points, not the joint centres), and the neck at the shoulders'
  midpoint when ``body.neck_from_shoulders``."""
  p = np.asarray(world, np.float64)
  j = _J
  out = np.empty_like(p)
  root = (p[:, j["r_hip"]] + p[:, j["l_hip"]]) / 2
  up = p[:, j["neck"]] - root
  shoulder_mid_old = (p[:, j["r_shoulder"]] + p[:, j["l_shoulder"]]) / 2
  shoulder_mid = root + body.torso * (shoulder_mid_old - root)
  out[:, j["neck"]] = root + body.torso * up
  out[:, j["head"]] = out[:, j["neck"]] + body.head * (p[:, j["head"]] - p[:, j["neck"]])
  for side in ("l", "r"):
    hip, knee, ankle = j[f"{side}_hip"], j[f"{side}_knee"], j[f"{side}_ankle"]
    out[:, hip] = root + body.hips * (p[:, hip] - root)
    out[:, knee] = out[:, hip] + body.legs * (p[:, knee] - p[:, hip])
    out[:, ankle] = out[:, knee] + body.legs * (p[:, ankle] - p[:, knee])
    shoulder, elbow, wrist = j[f"{side}_shoulder"], j[f"{side}_elbow"], j[f"{side}_wrist"]
    out[:, shoulder] = shoulder_mid + body.shoulders * (p[:, shoulder] - shoulder_mid_old)
    out[:, elbow] = out[:, shoulder] + body.arms * (p[:, elbow] - p[:, shoulder])
    out[:, wrist] = out[:, elbow] + body.arms * (p[:, wrist] - p[:, elbow])
  if body.hip_raise_mm:
    unit = up / np.maximum(np.linalg.norm(up, axis=-1, keepdims=True), 1e-9)
    for hip in (j["l_hip"], j["r_hip"]):
      out[:, hip] += body.hip_raise_mm * unit
  if body.neck_from_shoulders:
    out[:, j["neck"]] = (out[:, j["l_shoulder"]] + out[:, j["r_shoulder"]]) / 2
  return out.astype(np.asarray(world).dtype)


def look_rotation(position: np.ndarray, target: np.ndarray) -> np.ndarray:
  """``[3, 3]`` world -> camera rotation of a level camera at ``position`` looking at ``target`` (world mm, Y up;
  camera x right, y down, z forward)."""
  z = (target - position) / np.linalg.norm(target - position)
  x = np.cross(z, [0.0, 1.0, 0.0])
  x /= np.linalg.norm(x)
  return np.stack([x, np.cross(z, x), z])


def _axis_rotation(axis: int, angle: float) -> np.ndarray:
  c, s = math.cos(angle), math.sin(angle)
  a, b = [k for k in range(3) if k != axis]
  r = np.eye(3)
  r[a, a], r[a, b], r[b, a], r[b, b] = c, -s, s, c
  return r


def draw_camera(rng: np.random.Generator) -> tuple[cameras_lib.Camera, dict]:
  """A camera about a subject at the world origin (module docstring), and what was drawn: height, distance,
  elevation (degrees, positive looking down), roll, field of view of the long side and orientation."""
  while True:
    distance = math.exp(rng.uniform(*np.log(DISTANCE_MM)))
    height = rng.uniform(*HEIGHT_MM)
    aim = rng.uniform(*AIM_HEIGHT_MM)
    elevation = math.degrees(math.atan2(height - aim, distance))
    if ELEVATION_DEG[0] <= elevation <= ELEVATION_DEG[1]:
      break
  azimuth = rng.uniform(0.0, 2 * math.pi)
  portrait = bool(rng.random() < 0.5)
  width, image_height = (IMAGE_SHORT, IMAGE_LONG) if portrait else (IMAGE_LONG, IMAGE_SHORT)
  fov = rng.uniform(*FOV_LONG_SIDE_DEG)
  focal = (IMAGE_LONG / 2) / math.tan(math.radians(fov) / 2)
  roll = rng.uniform(-ROLL_DEG, ROLL_DEG)
  # The subject off the centre: the camera turned by a share of its half field of view, across and up.
  yaw = rng.uniform(-OFF_CENTRE, OFF_CENTRE) * math.atan(width / 2 / focal)
  pitch = rng.uniform(-OFF_CENTRE, OFF_CENTRE) * math.atan(image_height / 2 / focal)
  position = np.array([distance * math.sin(azimuth), height, distance * math.cos(azimuth)])
  rotation = look_rotation(position, np.array([0.0, aim, 0.0]))
  # In the camera frame: roll about z, then the off-centre turn about y (across) and x (up).
  rotation = _axis_rotation(0, pitch) @ _axis_rotation(1, yaw) @ _axis_rotation(2, math.radians(roll)) @ rotation
  camera = cameras_lib.Camera(rotation=rotation, position=position, focal=float(focal),
                              center=(width / 2.0, image_height / 2.0), image_size=(width, image_height))
  return camera, {"height_mm": height, "distance_mm": distance, "elevation_deg": elevation, "roll_deg": roll,
                  "fov_long_deg": fov, "portrait": portrait}


@dataclasses.dataclass(frozen=True)
class Habits:
  """A video detector's errors, in units of the pose's limb size in pixels (`lifting.core.geometry.limb_size`).

  Attributes:
    jitter: per joint group, the sd of independent per-frame noise per axis.
    drift: sd per axis of a slowly varying offset per joint (an AR(1) process over ``drift_frames``).
    drift_frames: the drift's correlation time in frames.
    body_swap: share of frames whose left and right labels are swapped (the whole body), in runs of
      ``swap_frames`` on average.
    leg_swap: share of frames whose legs alone are swapped.
    swap_frames: mean length of a swap run, in frames.
  """
  jitter: dict = dataclasses.field(default_factory=lambda: {
      "head": 0.04, "neck": 0.03, "shoulder": 0.03, "elbow": 0.04, "wrist": 0.06, "hip": 0.05, "knee": 0.04,
      "ankle": 0.05})
  drift: float = 0.03
  drift_frames: float = 8.0
  body_swap: float = 0.05
  leg_swap: float = 0.02
  swap_frames: float = 8.0


def _runs(rng: np.random.Generator, length: int, share: float, mean_run: float) -> np.ndarray:
  """``[length]`` bool: runs of geometric length (mean ``mean_run``) covering about ``share`` of the frames."""
  out = np.zeros(length, bool)
  if share <= 0 or length == 0:
    return out
  start_rate = share / mean_run / max(1.0 - share, 1e-6)
  t = 0
  while t < length:
    if rng.random() < start_rate:
      run = int(rng.geometric(1.0 / mean_run))
      out[t:t + run] = True
      t += run
    t += 1
  return out


def apply_habits(pose2d: np.ndarray, lengths: np.ndarray, habits: Habits, rng: np.random.Generator,
                 layout="paper14") -> tuple[np.ndarray, dict]:
  """Detector-like ``[N, J, 2]`` pixels from exact ones, sequence by sequence (``lengths [S]``): the errors of
  `Habits`. Returns the noisy poses and counts (frames with swapped bodies and legs, mean jitter in pixels)."""
  layout = skeleton.get_layout(layout)
  pose2d = np.asarray(pose2d, np.float64)
  sizes = geometry.limb_size(pose2d, layout.limb_bones)
  sd = np.array([habits.jitter[_group(name)] for name in layout.joints])
  out = pose2d.copy()
  flip = np.asarray(layout.flip_permutation)
  leg_flip = np.asarray(layout.flip_parts(("hip", "knee", "ankle")))
  rho = math.exp(-1.0 / habits.drift_frames)
  counts = {"body_swapped_frames": 0, "leg_swapped_frames": 0}
  start = 0
  for n in np.asarray(lengths, np.int64):
    part = slice(start, start + n)
    size = sizes[part][:, None, None]
    noise = rng.standard_normal((n, layout.num_joints, 2)) * sd[None, :, None]
    drift = np.zeros((n, layout.num_joints, 2))
    state = rng.standard_normal((layout.num_joints, 2)) * habits.drift
    for t in range(n):
      drift[t] = state
      state = rho * state + math.sqrt(1 - rho ** 2) * habits.drift * rng.standard_normal(state.shape)
    seq = pose2d[part] + (noise + drift) * size
    body = _runs(rng, n, habits.body_swap, habits.swap_frames)
    leg = _runs(rng, n, habits.leg_swap, habits.swap_frames) & ~body
    seq[body] = seq[body][:, flip]
    seq[leg] = seq[leg][:, leg_flip]
    out[part] = seq
    counts["body_swapped_frames"] += int(body.sum())
    counts["leg_swapped_frames"] += int(leg.sum())
    start += n
  counts["mean_jitter_px"] = float(np.mean(np.linalg.norm(out - pose2d, axis=-1))) if len(out) else 0.0
  return out.astype(np.float32), counts


def _group(joint: str) -> str:
  return joint if joint in ("head", "neck") else joint.split("_", 1)[-1]


def _selected(root: str, split: str, joint_map, cache_dir):
  """``(take, world [F, 14, 3])`` of every take of ``split`` (`SPLIT`)."""
  if split not in SPLIT:
    raise ValueError(f"footage split: expected one of {sorted(SPLIT)}, got {split!r}")
  selected = []
  for dataset, contents in SPLIT[split]:
    takes, positions = bandai.load_takes(root, dataset, joint_map, cache_dir)
    for take, world in zip(takes, positions):
      if dataset == 2 and take.actor not in bandai.TRAIN_ACTORS:
        continue
      if contents is None or take.content in contents:
        selected.append((take, world))
  if not selected:
    raise ValueError(f"data.footage.root: no take of the footage {split} split under {root!r}")
  return selected


def load(root: str, split: str, cameras: int = 4, seed: int = 0, stride: int = 1, habits: Habits | None = None,
         joint_map="bandai", cache_dir: str | None = None, bandai_rig: bool = False) -> PoseSequences:
  """The protocol's ``split`` (``"train"``, ``"dev"`` or ``"test"``): each take on its own body, filmed by
  ``cameras`` drawn cameras (one sequence per take and camera, named ``take/camK``, labelled with the content),
  every ``stride``-th frame; with ``habits``, detector-like 2D. Camera-frame 3D in mm of the body's joints. With
  ``bandai_rig``, each dataset-2 take is also filmed as the bandai protocols film it (the mocap's own joints, the
  turned rig's four cameras; sequences ``take/rigK``), so a lifter trained on the split keeps seeing their views."""
  if cameras < 1 or stride < 1:
    raise ValueError(f"footage: expected cameras >= 1 and stride >= 1, got {cameras} and {stride}")
  pose2d, pose3d, lengths, names, actions = [], [], [], [], []
  for take, mocap in _selected(root, split, joint_map, cache_dir):
    world = apply_body(mocap[::stride], draw_body(_rng(seed, split, "body", take.name), split))
    rigs = [draw_camera(_rng(seed, split, "camera", take.name, k))[0] for k in range(cameras)]
    films = [(bandai.film(world, rigs), "cam")]
    if bandai_rig and take.dataset == 2:
      turned = bandai.turn(mocap[::stride], -bandai.take_azimuth(take.name, 0))
      films.append((bandai.film(turned, bandai.rig()), "rig"))
    for (cam3d, px), kind in films:
      for k in range(len(cam3d)):
        pose2d.append(px[k])
        pose3d.append(cam3d[k])
        lengths.append(len(cam3d[k]))
        names.append(f"{take.name}/{kind}{k}")
        actions.append(take.content)
  seqs = PoseSequences(np.concatenate(pose2d), np.concatenate(pose3d), np.asarray(lengths, np.int64), tuple(names),
                       tuple(actions), stride)
  if habits is not None:
    noisy, _ = apply_habits(seqs.pose2d, seqs.lengths, habits, _rng(seed, split, "habits"))
    seqs = dataclasses.replace(seqs, pose2d=noisy)
  return seqs


def view_pairs(seqs: PoseSequences) -> tuple[np.ndarray, np.ndarray]:
  """``(a [P], b [P])`` frame indices of ``seqs`` that show one instant of one take from two cameras: for every
  take, camera k's frames beside camera k + 1's (k even), so each camera is in one pair."""
  starts = np.concatenate([[0], np.cumsum(seqs.lengths)[:-1]]).astype(np.int64)
  by_take: dict[str, dict[int, tuple[int, int]]] = {}
  for name, start, n in zip(seqs.names, starts, seqs.lengths):
    take, _, cam = name.rpartition("/cam")
    if take and cam.isdigit():
      by_take.setdefault(take, {})[int(cam)] = (int(start), int(n))
  a, b = [], []
  for cams in by_take.values():
    for k in sorted(cams):
      if k % 2 == 0 and k + 1 in cams and cams[k][1] == cams[k + 1][1]:
        a.append(cams[k][0] + np.arange(cams[k][1]))
        b.append(cams[k + 1][0] + np.arange(cams[k + 1][1]))
  if not a:
    return np.zeros(0, np.int64), np.zeros(0, np.int64)
  return np.concatenate(a), np.concatenate(b)


def from_config(config, split: str, stride: int, detector_2d: bool, swaps: bool = True,
                bandai_rig: bool = False) -> PoseSequences:
  """The protocol's ``split`` as ``config.data.footage`` asks, from the bandai files of ``config.data.bandai.root``;
  with ``detector_2d``, a video detector's errors on the 2D (its left/right swaps only with ``swaps``)."""
  from lifting.data import pipeline  # Config paths.
  f, b = config.data.footage, config.data.bandai
  habits = None
  if detector_2d:
    habits = Habits() if swaps else Habits(body_swap=0.0, leg_swap=0.0)
  return load(pipeline.data_path(b.root), split, cameras=f.cameras, seed=f.seed, stride=stride, habits=habits,
              joint_map=b.joint_map, cache_dir=pipeline.data_path(b.cache_dir) if b.cache_dir else None,
              bandai_rig=bandai_rig)


# ---- The protocol's evaluation (`lifting.data.pipeline.protocol_module`). ----

OWN_TEST_SET = "footage_test"
# The protocol's test and dev contents (view consistency from their cameras' pairs), and the bandai protocols'
# sets (its test actor every ``eval.generalisation.dataset1_stride``-th frame, dataset-1's contents, other bodies),
# so they keep being reported.
MULTI_VIEW_SETS = ("footage_test", "footage_dev")
EVAL_SETS = (*MULTI_VIEW_SETS, *bandai.AVAILABLE_EVAL_SETS)
AVAILABLE_EVAL_SETS = EVAL_SETS


def protocol(config) -> str:
  """The protocol's name in results: ``"bandai/footage"``, with ``+exact-2d`` for a test set without a detector's
  errors."""
  return PROTOCOL + ("" if config.data.footage.detector_2d.test else "+exact-2d")


def evaluation_sets(config, names) -> dict[str, PoseSequences]:
  """The sets of ``names`` (`AVAILABLE_EVAL_SETS`): ``footage_test`` / ``footage_dev`` (every
  ``data.footage.test_stride``-th frame, the test set's 2D) and the bandai protocol's
  (`lifting.data.bandai.evaluation_sets`)."""
  f = config.data.footage
  own = {split: lambda split=split: from_config(config, split.removeprefix("footage_"), f.test_stride,
                                                f.detector_2d.test) for split in MULTI_VIEW_SETS}
  others = bandai.evaluation_sets(config, [n for n in names if n not in own])
  return {name: own[name]() if name in own else others[name] for name in names}
