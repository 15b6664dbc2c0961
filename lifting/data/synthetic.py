"""Procedural human motion for the built-in demo -- a DEMO generator, NOT a benchmark.

``python run.py`` with no arguments trains and evaluates on this data so that the
pipeline can be exercised in minutes on a CPU without downloading a dataset. Numbers
obtained on it say nothing about accuracy on real motion capture; never report them as
results.

What it produces
----------------
Kinematic skeletons in the 14-joint "paper14" layout (see ``JOINT_NAMES``) with adult
bone lengths (per-subject global scale +-6 %, per-bone +-3 %, left == right), joint
angles inside human limits, moving smoothly over time. Each sequence is one of

* ``walk``: periodic in-place gait (arms swing opposite to legs), plus small noise;
* ``random``: every angle is a sum of a few low-frequency sinusoids squashed softly
  (``tanh``) into its limits;

and with some probability a crouch / bend / reach event is blended in with a smooth
envelope. Global yaw turns smoothly, the root drifts by a few centimetres, and every
frame is shifted vertically so the lower ankle sits at ``ANKLE_HEIGHT_MM`` above y=0.

Conventions: world millimetres, Y up, person near the origin. In the body frame the
person faces +z and +x is the person's OWN left. Cameras (``demo_cameras``) use x right,
y DOWN, z forward, like Human3.6M's four cameras placed around the capture area.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lifting.core import skeleton
from lifting.data.cameras import Camera
from lifting.data.cameras import camera_to_pixels
from lifting.data.cameras import ring_cameras as demo_cameras
from lifting.data.cameras import world_to_camera

__all__ = ["Camera", "camera_to_pixels", "demo_cameras", "world_to_camera", "make_demo_data", "sample_sequences"]

# The generator writes joints in the paper14 order that lifting.core.skeleton defines.
JOINT_NAMES = skeleton.get_layout("paper14").joints
NUM_JOINTS = len(JOINT_NAMES)
ANKLE_HEIGHT_MM = 80.0

# Nominal adult bone lengths (mm). Hip midpoint -> neck -> skull base is ~500 mm.
BONE_LENGTHS_MM = {
  "thigh": 450.0,
  "shin": 430.0,
  "upper_arm": 300.0,
  "forearm": 260.0,
  "hip_half": 100.0,
  "shoulder_half": 180.0,
  "shoulder_drop": 40.0,
  "spine": 410.0,
  "neck_head": 90.0,
}

# Joint-angle channels in degrees: (lower limit, upper limit, rest range lo, rest range
# hi, random-motion amplitude in tanh space). Limb channels exist once per side.
_BODY = {
  "torso_lean": (-15, 70, 0, 20, 0.5),  # forward bend of the trunk
  "torso_side": (-20, 20, -5, 5, 0.5),  # lateral bend
  "torso_twist": (-35, 35, -10, 10, 0.6),  # axial rotation
  "head_pitch": (-20, 20, -5, 10, 0.5),
}  # nod forward
_LIMB = {
  "hip_flex": (-30, 120, 0, 25, 0.5),
  "hip_abd": (-20, 45, 0, 10, 0.35),
  "hip_rot": (-20, 20, -5, 5, 0.4),
  "knee": (0, 140, 5, 30, 0.55),  # flexion; 0 = straight
  "sh_flex": (-50, 170, -10, 60, 0.8),
  "sh_abd": (-10, 150, 5, 60, 0.8),
  "sh_rot": (-30, 60, 0, 30, 0.5),
  "elbow": (0, 145, 10, 80, 0.7),
}  # flexion; 0 = straight
CHANNELS = {**_BODY, **{f"{k}_{s}": v for k, v in _LIMB.items() for s in "rl"}}

# Event targets (degrees) blended in with a raised-cosine envelope.
_EVENTS = (
  {"hip_flex_r": 95, "hip_flex_l": 95, "knee_r": 120, "knee_l": 120, "torso_lean": 35},  # crouch
  {
    "torso_lean": 65,
    "hip_flex_r": 25,
    "hip_flex_l": 25,
    "knee_r": 10,
    "knee_l": 10,
    "sh_flex_r": 70,
    "sh_flex_l": 70,
    "elbow_r": 20,
    "elbow_l": 20,
  },  # bend
  {"sh_flex_r": 150, "sh_abd_r": 20, "elbow_r": 10, "torso_side": 8},  # reach R
  {"sh_flex_l": 150, "sh_abd_l": 20, "elbow_l": 10, "torso_side": -8},  # reach L
)


# ----------------------------------------------------------------------------- rotations
def _rot(axis: int, deg: np.ndarray) -> np.ndarray:
  """Right-handed rotation by ``deg`` about world axis 0/1/2; [...] -> [..., 3, 3]."""
  a = np.deg2rad(deg)
  c, s = np.cos(a), np.sin(a)
  i, j = [(1, 2), (2, 0), (0, 1)][axis]
  r = np.zeros(np.shape(a) + (3, 3))
  r[..., axis, axis] = 1.0
  r[..., i, i], r[..., j, j], r[..., i, j], r[..., j, i] = c, c, -s, s
  return r


def _apply(r: np.ndarray, v) -> np.ndarray:
  return np.einsum("...ij,...j->...i", r, np.asarray(v, dtype=np.float64))


# ----------------------------------------------------------------------------- motion
def _smooth(rng, s, t, amp, fmin=0.05, fmax=0.4, k=3):
  """[S, F] sum of ``k`` random sinusoids with total std ~ ``amp``."""
  f = rng.uniform(fmin, fmax, (s, k, 1))
  ph = rng.uniform(0, 2 * np.pi, (s, k, 1))
  a = np.asarray(amp, dtype=np.float64).reshape(-1, 1, 1) * rng.uniform(0.5, 1.5, (s, k, 1))
  return (a * np.sin(2 * np.pi * f * t + ph)).sum(1) * np.sqrt(2.0 / k)


def _random_motion(rng, s, t):
  out = {}
  for name, (lo, hi, r_lo, r_hi, amp) in CHANNELS.items():
    rest = rng.uniform(r_lo, r_hi, (s, 1))
    z = np.arctanh(2 * (rest - lo) / (hi - lo) - 1) + _smooth(rng, s, t, amp)
    out[name] = lo + (hi - lo) * 0.5 * (1 + np.tanh(z))
  for side in "rl":  # a flexed hip usually comes with a bent knee (crouch, step, sit)
    out[f"knee_{side}"] = out[f"knee_{side}"] + 0.5 * np.maximum(out[f"hip_flex_{side}"], 0)
  return out


def _walk_motion(rng, s, t):
  u = lambda lo, hi: rng.uniform(lo, hi, (s, 1))  # noqa: E731
  phase = 2 * np.pi * u(0.75, 1.05) * t + u(0, 2 * np.pi)
  stride, knee_amp, arm_amp, elbow = u(18, 28), u(45, 60), u(10, 30), u(10, 30)
  out = {
    "torso_lean": u(0, 10) + 0 * t,
    "head_pitch": u(-5, 10) + 0 * t,
    "torso_side": 2 * np.sin(phase),
    "torso_twist": u(3, 8) * np.sin(phase),
  }
  for side, ph in (("r", phase), ("l", phase + np.pi)):
    opp = ph + np.pi  # arm swings with the other leg
    out[f"hip_flex_{side}"] = 8 + stride * np.sin(ph)
    out[f"knee_{side}"] = 5 + knee_amp * ((1 + np.cos(ph + 0.4)) / 2) ** 2
    out[f"hip_abd_{side}"] = 4 + 2 * np.sin(ph)
    out[f"hip_rot_{side}"] = 0 * t
    out[f"sh_flex_{side}"] = 5 + arm_amp * np.sin(opp)
    out[f"sh_abd_{side}"] = 8 + 0 * t
    out[f"sh_rot_{side}"] = 10 + 0 * t
    out[f"elbow_{side}"] = elbow + 12 * (1 + np.sin(opp)) / 2
  # A little per-channel noise so no two walks are identical.
  return {k: v + _smooth(rng, s, t, 3.0, 0.1, 0.5) for k, v in out.items()}


def _add_events(rng, angles, t, prob=0.5):
  s, duration = angles["knee_r"].shape[0], t[-1] + 1e-9
  kind = rng.integers(0, len(_EVENTS), s)
  centre = rng.uniform(0.2, 0.8, (s, 1)) * duration
  half = rng.uniform(0.5, 1.25, (s, 1))
  weight = rng.uniform(0.6, 1.0, (s, 1)) * (rng.random((s, 1)) < prob)
  env = weight * np.where(np.abs(t - centre) < half, 0.5 * (1 + np.cos(np.pi * (t - centre) / half)), 0.0)
  for e, targets in enumerate(_EVENTS):
    sel = (kind == e)[:, None] * env
    for name, target in targets.items():
      angles[name] = (1 - sel) * angles[name] + sel * target
  return angles


def _forward_kinematics(a, bones, yaw, root):
  """Angles {name: [S, F] deg}, bones {name: [S, 1]} -> [S, F, 14, 3] world mm."""
  pelvis = _rot(1, yaw)
  trunk = pelvis @ _rot(1, a["torso_twist"]) @ _rot(2, -a["torso_side"]) @ _rot(0, a["torso_lean"])
  b = {k: v[..., None] for k, v in bones.items()}  # [S, 1, 1] broadcasts over xyz
  zero = np.zeros_like(b["spine"])
  neck = root + _apply(trunk, np.concatenate([zero, b["spine"], zero], -1))
  head = neck + _apply(trunk @ _rot(0, a["head_pitch"]), np.concatenate([zero, b["neck_head"], zero], -1))
  down = lambda length: np.concatenate([zero, -length, zero], -1)  # noqa: E731
  j = {"neck": neck, "head": head}
  for side, sgn in (("r", -1.0), ("l", 1.0)):  # +x is the person's left
    hip = root + _apply(pelvis, np.concatenate([sgn * b["hip_half"], zero, zero], -1))
    thigh = (
      pelvis
      @ _rot(2, sgn * a[f"hip_abd_{side}"])
      @ _rot(0, -a[f"hip_flex_{side}"])
      @ _rot(1, sgn * a[f"hip_rot_{side}"])
    )
    knee = hip + _apply(thigh, down(b["thigh"]))
    ankle = knee + _apply(thigh @ _rot(0, a[f"knee_{side}"]), down(b["shin"]))  # shin goes back
    shoulder = neck + _apply(trunk, np.concatenate([sgn * b["shoulder_half"], -b["shoulder_drop"], zero], -1))
    upper = (
      trunk @ _rot(2, sgn * a[f"sh_abd_{side}"]) @ _rot(0, -a[f"sh_flex_{side}"]) @ _rot(1, sgn * a[f"sh_rot_{side}"])
    )
    elbow = shoulder + _apply(upper, down(b["upper_arm"]))
    wrist = elbow + _apply(upper @ _rot(0, -a[f"elbow_{side}"]), down(b["forearm"]))  # forearm forward
    j.update(
      {
        f"{side}_hip": hip,
        f"{side}_knee": knee,
        f"{side}_ankle": ankle,
        f"{side}_shoulder": shoulder,
        f"{side}_elbow": elbow,
        f"{side}_wrist": wrist,
      }
    )
  return np.stack([j[n] for n in JOINT_NAMES], axis=-2)


def sample_sequences(rng: np.random.Generator, num_sequences: int, num_frames: int, fps: float = 30.0) -> np.ndarray:
  """[S, F, 14, 3] float32 world coordinates in millimetres, Y up, ground at y=0 roughly
  (lower ankle at ``ANKLE_HEIGHT_MM``), person near the origin. One subject per sequence."""
  s, t = num_sequences, np.arange(num_frames)[None, :] / fps
  scale = rng.uniform(0.94, 1.06, (s, 1))
  bones = {k: v * scale * rng.uniform(0.97, 1.03, (s, 1)) for k, v in BONE_LENGTHS_MM.items()}
  walk, rand = _walk_motion(rng, s, t), _random_motion(rng, s, t)
  is_walk = rng.random((s, 1)) < 0.4
  angles = {k: np.where(is_walk, walk[k], rand[k]) for k in CHANNELS}
  angles = _add_events(rng, angles, t)
  angles = {k: np.clip(v, CHANNELS[k][0], CHANNELS[k][1]) for k, v in angles.items()}
  yaw = rng.uniform(0, 360, (s, 1)) + rng.uniform(-30, 30, (s, 1)) * t + _smooth(rng, s, t, 20.0)
  root = np.stack(
    [_smooth(rng, s, t, 100.0, 0.03, 0.2), np.zeros_like(yaw), _smooth(rng, s, t, 100.0, 0.03, 0.2)], axis=-1
  )
  pose = _forward_kinematics(angles, bones, yaw, root)
  lowest = np.minimum(pose[:, :, 0, 1], pose[:, :, 5, 1])
  pose[..., 1] += (ANKLE_HEIGHT_MM - lowest)[..., None]
  return pose.astype(np.float32)


# ----------------------------------------------------------------------------- dataset
@dataclasses.dataclass
class DemoData:
  train_2d: np.ndarray  # [N, F, 14, 2] float32 pixels; N = num_train_sequences * num_cameras
  test_2d: np.ndarray  # [M, F, 14, 2] float32 pixels; M = num_test_sequences * num_cameras
  test_3d: np.ndarray  # [M, F, 14, 3] float32 camera-frame mm, same sequences as test_2d
  cameras: list[Camera]
  train_3d: np.ndarray | None = None  # [N, F, 14, 3] camera-frame mm (for supervised references)


def _project_all(world, cams):
  """[S, F, J, 3] -> ([S*C, F, J, 3] camera mm, [S*C, F, J, 2] px), sequence-major."""
  cam3d = np.stack([world_to_camera(world, c) for c in cams], axis=1)
  px = np.stack([camera_to_pixels(cam3d[:, i], c) for i, c in enumerate(cams)], axis=1)
  flat = lambda x: x.reshape((-1,) + x.shape[2:]).astype(np.float32)  # noqa: E731
  return flat(cam3d), flat(px)


def make_demo_data(
  seed: int = 0, num_train_sequences: int = 64, num_test_sequences: int = 8, num_frames: int = 64, num_cameras: int = 4
) -> DemoData:
  """Train and test sets from independent random streams (disjoint generated subjects
  and motions); deterministic for a given seed. Every (sequence, camera) pair becomes
  one sequence, ordered sequence-major: index = sequence * num_cameras + camera."""
  train_ss, test_ss = np.random.SeedSequence(seed).spawn(2)
  cams = demo_cameras(num_cameras)
  train_world = sample_sequences(np.random.default_rng(train_ss), num_train_sequences, num_frames)
  test_world = sample_sequences(np.random.default_rng(test_ss), num_test_sequences, num_frames)
  train_3d, train_2d = _project_all(train_world, cams)
  test_3d, test_2d = _project_all(test_world, cams)
  return DemoData(train_2d=train_2d, test_2d=test_2d, test_3d=test_3d, cameras=cams, train_3d=train_3d)
