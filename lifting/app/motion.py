"""From root-relative lifts to motion in the world: the trajectory, the ground, the feet.

A lift (`lifting.app.inference.Lifted`) is root-relative and has no absolute size: each pose's joints in units of its
head-to-root length, in the camera frame, and the pixels one unit spans at the root's depth (``scale``). With a
body height and the camera's focal length that is enough to place every pose in metres:

* **Size.** The lifted bones keep their lengths over a clip, so one factor per track turns units into metres:
  the person stands ``(1 - HEAD_ABOVE - ANKLE_ABOVE) * height`` from the ankles to the head joint (the ear
  level, where the detectors' and this library's "head" is), which in units is the head-to-root length (1) plus
  the median thigh and shin (`metres_per_unit`). ``HEAD_ABOVE`` and ``ANKLE_ABOVE`` are the shares of the stature
  above the ear and below the ankle joint in Drillis and Contini's segment proportions (1966): 0.08 and 0.039.
* **Trajectory.** The root's depth is ``focal * metres_per_unit / scale`` and its image position places it
  across (`root_trajectory`): the pinhole camera, principal point at the image centre. The focal length comes
  from the file's metadata when it has one, else from ``--focal_mm`` (35 mm equivalent, on the image diagonal)
  or ``--fov``, else `DEFAULT_FOCAL_MM`, a phone's main camera (`intrinsics`).
* **Ground and gravity.** The up direction is the median of the body's own vertical over the clip (ankles to
  neck, in the camera frame), and the floor the plane across it under the lowest ankles (their 5th percentile
  height, less the ankle's height above the floor), so a clip of people standing, walking or dancing finds both
  (`estimate_ground`). World coordinates: y up, x the camera's right along the floor, z towards the camera, the
  origin on the floor under the first pose's root (`world_frame`).
* **Feet.** A foot is in contact while its ankle is near the floor and slow (`foot_contacts`); `pin_feet` holds
  each contact where it began: the whole pose moves by the mean slide of its planted feet (the trajectory,
  smoothed), then each planted leg reaches its foot's spot by two-bone inverse kinematics (the hip stays, the
  knee bends in its own plane), so feet neither skate nor sink. `foot_metrics` measures skating (mm per contact
  frame), penetration below the floor and jitter, before and after.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from lifting.core import skeleton

HEAD_ABOVE, ANKLE_ABOVE = 0.08, 0.039  # Shares of the stature above the ear and below the ankle joint.
DEFAULT_HEIGHT_M = 1.7
DEFAULT_FOCAL_MM = 26.0  # 35 mm equivalent: a phone's main camera (about 79 degrees across the diagonal).
FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)
ROOT_SMOOTH = 3.0  # Frames: the trajectory's Gaussian, per track (depth from scale shakes more than a pose).

_L = skeleton.get_layout("paper14")
_J = {name: i for i, name in enumerate(_L.joints)}
ANKLES = (_J["l_ankle"], _J["r_ankle"])
HIPS = (_J["l_hip"], _J["r_hip"])
KNEES = (_J["l_knee"], _J["r_knee"])


@dataclasses.dataclass(frozen=True)
class Intrinsics:
  """A pinhole camera: focal length and principal point in pixels, image size, and where the focal length came
  from (``"metadata"``, ``"--focal_mm"``, ``"--fov"`` or ``"default"``)."""
  focal_px: float
  center: tuple[float, float]
  size: tuple[int, int]
  source: str


def intrinsics(size, focal_mm: float | None = None, fov_deg: float | None = None,
               metadata_focal_mm: float | None = None) -> Intrinsics:
  """The camera of an image ``size`` (width, height): focal length from the file's metadata (35 mm equivalent),
  else ``focal_mm`` (35 mm equivalent), else ``fov_deg`` (degrees across the image width), else
  `DEFAULT_FOCAL_MM`; a 35 mm-equivalent focal length is taken on the diagonal, as phones state it."""
  width, height = (int(v) for v in size)
  if width < 1 or height < 1:
    raise ValueError(f"image size: expected width and height >= 1 pixel, got {size}")
  if focal_mm is not None and fov_deg is not None:
    raise ValueError("--focal_mm and --fov both give the focal length: give one")
  if focal_mm is not None and not 1.0 <= focal_mm <= 2000.0:
    raise ValueError(f"--focal_mm: expected a 35 mm-equivalent focal length in [1, 2000] mm, got {focal_mm}")
  if fov_deg is not None and not 1.0 <= fov_deg <= 179.0:
    raise ValueError(f"--fov: expected the field of view across the image in [1, 179] degrees, got {fov_deg}")
  diagonal = math.hypot(width, height)
  if metadata_focal_mm:
    focal, source = metadata_focal_mm * diagonal / FULL_FRAME_DIAGONAL_MM, "metadata"
  elif focal_mm is not None:
    focal, source = focal_mm * diagonal / FULL_FRAME_DIAGONAL_MM, "--focal_mm"
  elif fov_deg is not None:
    focal, source = (width / 2) / math.tan(math.radians(fov_deg) / 2), "--fov"
  else:
    focal, source = DEFAULT_FOCAL_MM * diagonal / FULL_FRAME_DIAGONAL_MM, "default"
  return Intrinsics(float(focal), (width / 2.0, height / 2.0), (width, height), source)


def check_height(height_m: float) -> None:
  if not 0.5 <= height_m <= 2.5:
    raise ValueError(f"--height: expected a body height in [0.5, 2.5] metres, got {height_m}")


def metres_per_unit(poses3d: np.ndarray, height_m: float = DEFAULT_HEIGHT_M) -> float:
  """Metres per lift unit of one person's ``poses3d [F, J, 3]`` (unit head-to-root length), from their stature
  (module docstring)."""
  check_height(height_m)
  poses3d = np.asarray(poses3d, np.float64)
  legs = [np.linalg.norm(poses3d[:, h] - poses3d[:, k], axis=-1) + np.linalg.norm(poses3d[:, k] - poses3d[:, a],
                                                                                   axis=-1)
          for h, k, a in zip(HIPS, KNEES, ANKLES)]
  leg = float(np.nanmedian(np.mean(legs, axis=0)))
  if not np.isfinite(leg) or leg <= 0:
    raise ValueError("motion: the poses have no leg length to size them by")
  return (1.0 - HEAD_ABOVE - ANKLE_ABOVE) * height_m / (1.0 + leg)


def root_trajectory(root2d: np.ndarray, scale: np.ndarray, metres: float, camera: Intrinsics) -> np.ndarray:
  """``[F, 3]`` each pose's root in the camera frame (metres; x right, y down, z forward) from its image position
  ``root2d [F, 2]`` (pixels), its lift's ``scale [F]`` (pixels per unit at the root's depth) and ``metres`` per
  unit (`metres_per_unit`)."""
  root2d, scale = np.asarray(root2d, np.float64), np.asarray(scale, np.float64)
  z = camera.focal_px * metres / scale
  xy = (root2d - np.asarray(camera.center)) * (z / camera.focal_px)[:, None]
  return np.concatenate([xy, z[:, None]], axis=-1)


@dataclasses.dataclass(frozen=True)
class Ground:
  """The floor of a clip in the camera frame: the plane of points ``p`` with ``p @ up == level`` (metres), ``up``
  the unit vector against gravity."""
  up: np.ndarray
  level: float


def estimate_ground(points: np.ndarray, height_m: float = DEFAULT_HEIGHT_M) -> Ground:
  """The floor under ``points [N, J, 3]`` (camera-frame metres, every pose of a clip): up from the median body
  vertical, corrected by the planted feet where they cover ground (the lower ankle of every pose: a floor through
  them when they spread both ways, else up made square to the line they follow, which takes out a walker's lean),
  and the floor under the 5th percentile of the ankles' heights (module docstring)."""
  points = np.asarray(points, np.float64)
  ok = np.isfinite(points).all(axis=(1, 2))
  if not ok.any():
    raise ValueError("motion: no pose to find the ground under")
  points = points[ok]
  vertical = points[:, _J["neck"]] - points[:, list(ANKLES)].mean(axis=1)
  up = np.median(vertical / np.linalg.norm(vertical, axis=-1, keepdims=True), axis=0)
  up /= np.linalg.norm(up)
  ankles = points[:, list(ANKLES)]
  low = ankles[np.arange(len(ankles)), np.argmin(ankles @ up, axis=1)]  # The lower foot of each pose.
  if len(low) >= 10:
    spread, axes = np.linalg.eigh(np.cov((low - low.mean(0)).T))  # Ascending.
    if np.sqrt(spread[1]) > 0.3:  # The feet cover an area: the floor is their plane.
      up = axes[:, 0] * np.sign(axes[:, 0] @ up)
    elif np.sqrt(spread[2]) > 0.5:  # A line: the floor contains it.
      up = up - (up @ axes[:, 2]) * axes[:, 2]
      up /= np.linalg.norm(up)
  heights = points[:, list(ANKLES)] @ up
  return Ground(up, float(np.percentile(heights, 5)) - ANKLE_ABOVE * height_m)


def world_frame(ground: Ground, origin_root: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """``(rotation [3, 3], origin [3])``: camera frame -> world (y up, x the camera's right along the floor, z towards
  the camera; ``world = (p - origin) @ rotation.T``), the origin on the floor under ``origin_root [3]``."""
  y = np.asarray(ground.up, np.float64)
  x = np.array([1.0, 0.0, 0.0]) - y[0] * y
  if np.linalg.norm(x) < 1e-6:  # A camera looking straight down or up: its forward axis sets x instead.
    x = np.array([0.0, 0.0, 1.0]) - y[2] * y
  x /= np.linalg.norm(x)
  rotation = np.stack([x, y, np.cross(x, y)])
  origin = np.asarray(origin_root, np.float64) - (np.asarray(origin_root) @ y - ground.level) * y
  return rotation, origin


def to_world(points: np.ndarray, rotation: np.ndarray, origin: np.ndarray) -> np.ndarray:
  """``[..., 3]`` camera-frame points to the world of `world_frame`."""
  return (np.asarray(points, np.float64) - origin) @ rotation.T


def foot_contacts(world: np.ndarray, fps: float, height_m: float = DEFAULT_HEIGHT_M, rise_m: float = 0.06,
                  speed_m_s: float = 0.4, min_frames: int = 3) -> np.ndarray:
  """``[F, 2]`` bool: each ankle (left, right) of one person's world poses ``[F, J, 3]`` (metres, y up) in contact
  with the floor: within ``rise_m`` of its standing height above the floor and slower than ``speed_m_s``, for at
  least ``min_frames`` frames in a row."""
  world = np.asarray(world, np.float64)
  ankles = world[:, list(ANKLES)]  # [F, 2, 3]
  low = ankles[..., 1] < ANKLE_ABOVE * height_m + rise_m
  step = np.zeros(ankles.shape[:2])
  if len(world) > 1:
    moves = np.linalg.norm(np.diff(ankles, axis=0), axis=-1) * fps
    step[1:], step[0] = moves, moves[0]
    step[1:-1] = np.minimum(step[1:-1], moves[1:])  # The slower of the moves into and out of a frame.
  contact = low & (step < speed_m_s)
  for k in range(2):  # Runs shorter than min_frames are noise.
    for a, b in _segments(contact[:, k]):
      if b - a < min_frames:
        contact[a:b, k] = False
  return contact


def _segments(run: np.ndarray) -> list[tuple[int, int]]:
  edges = np.flatnonzero(np.diff(np.concatenate([[0], run.astype(int), [0]])))
  return list(zip(edges[::2], edges[1::2]))


def _two_bone(hip: np.ndarray, knee: np.ndarray, target: np.ndarray, thigh: float, shin: float) -> np.ndarray:
  """The knee that puts the ankle at ``target`` with the hip fixed and bones ``thigh``, ``shin``, bending in the
  plane of the current hip, knee and target."""
  d = target - hip
  reach = np.clip(np.linalg.norm(d), abs(thigh - shin) + 1e-6, thigh + shin - 1e-6)
  u = d / max(np.linalg.norm(d), 1e-9)
  along = (thigh ** 2 - shin ** 2 + reach ** 2) / (2 * reach)
  side = knee - hip - ((knee - hip) @ u) * u
  side = side / np.linalg.norm(side) if np.linalg.norm(side) > 1e-9 else np.array([0.0, 0.0, 1.0])
  return hip + along * u + math.sqrt(max(thigh ** 2 - along ** 2, 0.0)) * side


def pin_feet(world: np.ndarray, contact: np.ndarray, height_m: float = DEFAULT_HEIGHT_M,
             smooth: float = 2.0) -> np.ndarray:
  """One person's world poses ``[F, J, 3]`` (metres, y up) with every contact (`foot_contacts`) held where it began
  (module docstring): returns new poses."""
  from lifting.app import smoothing
  world = np.array(world, np.float64)
  stand = ANKLE_ABOVE * height_m
  targets = np.full(world.shape[:1] + (2, 3), np.nan)
  for k in range(2):
    for a, b in _segments(contact[:, k]):
      spot = world[a, ANKLES[k]].copy()
      spot[1] = stand
      targets[a:b, k] = spot
  planted = np.isfinite(targets[..., 0])
  count = planted.sum(axis=1)
  if not count.any():
    return world
  slide = np.where(planted[..., None], targets - world[:, list(ANKLES)], 0.0).sum(axis=1)
  slide /= np.maximum(count, 1)[:, None]
  # Between contacts the correction moves linearly from one to the next (held before the first and after the
  # last), so the body never jumps back when a foot lifts.
  shift = interpolate(slide, count > 0)
  shift = smoothing.gaussian(shift, smooth) if smooth else shift
  world += shift[:, None, :]
  for k, (hip, knee, ankle) in enumerate(zip(HIPS, KNEES, ANKLES)):
    thigh = float(np.median(np.linalg.norm(world[:, hip] - world[:, knee], axis=-1)))
    shin = float(np.median(np.linalg.norm(world[:, knee] - world[:, ankle], axis=-1)))
    for t in np.flatnonzero(planted[:, k]):
      world[t, knee] = _two_bone(world[t, hip], world[t, knee], targets[t, k], thigh, shin)
      d = targets[t, k] - world[t, knee]
      world[t, ankle] = world[t, knee] + shin * d / max(np.linalg.norm(d), 1e-9)
  return world


def foot_metrics(world: np.ndarray, contact: np.ndarray, height_m: float = DEFAULT_HEIGHT_M) -> dict:
  """How planted feet behave in one person's world poses ``[F, J, 3]``: ``skating_mm`` (the mean horizontal move
  of a contact ankle per frame of contact), ``penetration_mm`` (the mean depth of the ankles below their standing
  height, over all frames) and ``jitter_mm`` (the mean acceleration of every joint, mm per frame squared)."""
  world = np.asarray(world, np.float64)
  ankles = world[:, list(ANKLES)]
  both = contact[1:] & contact[:-1]
  moves = np.linalg.norm(np.diff(ankles[..., [0, 2]], axis=0), axis=-1)
  skating = float(moves[both].mean() * 1000) if both.any() else 0.0
  below = np.maximum(ANKLE_ABOVE * height_m - ankles[..., 1], 0.0)
  accel = world[2:] - 2 * world[1:-1] + world[:-2] if len(world) >= 3 else np.zeros((1,) + world.shape[1:])
  return {"skating_mm": skating, "penetration_mm": float(below.mean() * 1000),
          "jitter_mm": float(np.linalg.norm(accel, axis=-1).mean() * 1000),
          "contact_share": float(contact.mean())}


@dataclasses.dataclass(frozen=True)
class WorldMotion:
  """The lifts of a clip placed in the world (`world_motion`); arrays per pose of the `lifting.app.inference.Lifted`,
  NaN (or False) where a pose was not lifted.

  Attributes:
    root: ``[N, 3]`` each pose's root in the camera frame, metres (x right, y down, z forward).
    world: ``[N, J, 3]`` each pose's joints in the world, metres (y up, the floor at y = 0), feet pinned.
    contacts: ``[N, 2]`` bool, the left and right ankle on the floor.
    camera: the `Intrinsics` used.
    ground: the floor (`Ground`, camera frame), and ``rotation``, ``origin``: camera frame -> world.
    metres_per_unit: ``{track: metres per lift unit}``.
    feet: ``{track: {"before": foot_metrics, "after": foot_metrics}}`` (feet as lifted, and pinned).
  """
  root: np.ndarray
  world: np.ndarray
  contacts: np.ndarray
  camera: Intrinsics
  ground: Ground
  rotation: np.ndarray
  origin: np.ndarray
  metres_per_unit: dict
  feet: dict


def interpolate(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
  """``values [F, ...]`` with the frames that are not ``ok [F]`` filled linearly from the nearest ones that are (held
  at the ends)."""
  good = np.flatnonzero(ok)
  flat = values.reshape(len(values), -1)
  out = np.stack([np.interp(np.arange(len(values)), good, flat[good, k]) for k in range(flat.shape[1])], axis=1)
  return out.reshape(values.shape)


def timeline(values: np.ndarray, frames: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
  """One track's ``values [R, ...]`` seen in ``frames [R]`` on every frame from its first to its last: ``(first
  frame, [F, ...] NaN where the track has no value, ok [F])``."""
  frames = np.asarray(frames)
  first, last = int(frames.min()), int(frames.max())
  line = np.full((last - first + 1,) + values.shape[1:], np.nan)
  ok = np.zeros(len(line), bool)
  line[frames - first], ok[frames - first] = values, True
  return first, line, ok


def world_motion(lifted, frame_of: np.ndarray, camera: Intrinsics, fps: float, height_m: float = DEFAULT_HEIGHT_M,
                 pin: bool = True) -> WorldMotion:
  """Places every track of ``lifted`` (a `lifting.app.inference.Lifted` seen in frames ``frame_of [N]``) in the world:
  its size, trajectory (smoothed over `ROOT_SMOOTH` frames), the clip's floor, foot contacts and, with ``pin``,
  pinned feet (module docstring)."""
  from lifting.app import smoothing
  check_height(height_m)
  n, j = lifted.poses3d.shape[:2]
  root = np.full((n, 3), np.nan)
  metres = {}
  roots2d = lifted.pose2d[:, list(_L.root_joints)].mean(axis=1)
  # Each track's lifted poses in time.
  rows_of = {t: np.flatnonzero((lifted.tracks == t) & lifted.valid)
             for t in sorted(set(lifted.tracks[lifted.valid].tolist()))}
  rows_of = {t: rows[np.argsort(frame_of[rows], kind="stable")] for t, rows in rows_of.items()}
  cam = np.full((n, j, 3), np.nan)
  for t, rows in rows_of.items():
    metres[t] = metres_per_unit(lifted.poses3d[rows], height_m)
    root[rows] = smoothing.gaussian(root_trajectory(roots2d[rows], lifted.scale[rows], metres[t], camera), ROOT_SMOOTH)
    cam[rows] = root[rows, None] + lifted.poses3d[rows] * metres[t]
  ground = estimate_ground(cam[lifted.valid], height_m)
  first = np.flatnonzero(lifted.valid)[np.argmin(frame_of[lifted.valid])]
  rotation, origin = world_frame(ground, root[first])
  world = np.full((n, j, 3), np.nan)
  contacts = np.zeros((n, 2), bool)
  feet = {}
  for t, rows in rows_of.items():
    first_f, line, ok = timeline(to_world(cam[rows], rotation, origin), frame_of[rows])
    line = interpolate(line, ok)
    contact = foot_contacts(line, fps, height_m)
    pinned = pin_feet(line, contact, height_m) if pin else line
    feet[t] = {"before": foot_metrics(line, contact, height_m), "after": foot_metrics(pinned, contact, height_m)}
    world[rows], contacts[rows] = pinned[frame_of[rows] - first_f], contact[frame_of[rows] - first_f]
  return WorldMotion(root, world, contacts, camera, ground, rotation, origin, metres, feet)


def summary(world: WorldMotion, height_m: float, pinned: bool) -> dict:
  """What ``poses3d.json`` says of a clip's world motion: the camera, the floor, each track's size and feet."""
  return {"height_m": height_m, "focal_px": round(world.camera.focal_px, 2), "focal_from": world.camera.source,
          "image_size": list(world.camera.size), "up_camera_frame": [round(float(v), 5) for v in world.ground.up],
          "floor_level_m": round(world.ground.level, 4),
          "camera_to_world": {"rotation": world.rotation.round(6).tolist(), "origin_m": world.origin.round(5).tolist()},
          "metres_per_unit": {str(t): round(v, 5) for t, v in world.metres_per_unit.items()},
          "feet_pinned": pinned, "feet": {str(t): v for t, v in world.feet.items()}}
