"""Lifted joint positions to an animation skeleton: constant bones and per-frame joint rotations, for BVH.

Animation tools want a rigid skeleton (one length per bone) moved by joint rotations; a lifter gives joint
positions whose bone lengths wobble from frame to frame. `retarget` builds the skeleton from a clip of paper14
poses and solves every joint's rotation per frame:

* **Bones.** Each bone's length is its median over the clip, the left and right bones of a pair made equal
  (their mean). Two joints at the pelvis and the neck that paper14 has no point for carry no length of their
  own: ``Hips`` (the root, the midpoint of the hips) and ``Spine`` and the collars, which sit where their
  parent is (zero offset) so the spine and each shoulder get their own rotation.
* **Joints the rigid skeleton can reach.** The lifted bones wobble in length, so the skeleton's joints are
  fitted first: the hips at half the hip width from the root along the hip line, the spine, head and collar
  bones from their fitted parent towards the lifted joint, and each arm and leg by analytic two-bone IK, so the
  wrists and ankles land on the lifted ones wherever the fixed lengths reach them (hands and feet are what
  animation shows most) and the elbows and knees bend in the plane of the lifted ones.
* **Rotations.** The rest pose is a T-pose (Y up, facing +Z, the character's left on +X). ``Hips`` turns by
  the pelvis frame (the hip line and the spine) and ``Neck`` by the head bone with the shoulder line's twist;
  every other joint turns by the smallest rotation that takes its bone from its parent's frame onto the fitted
  bone (the twist is the parent's). A clip whose bones keep their lengths comes back exactly.

Positions are converted from the camera frame (x right, y down, z forward; mm) to Y up, Z towards the camera,
and ``units`` per mm (centimetres by default, as most motion-capture BVH files use).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lifting.core import skeleton as skeleton_lib

# name, paper14 joint at its position (None: where its parent is), parent name, rest direction of the bone that
# ends at this joint (unit, rest frame), paper14 joint its bone starts from (the parent's position).
_RIGHT, _LEFT, _UP, _DOWN = (-1.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, -1.0, 0.0)
_JOINTS = (
    ("Hips", None, None, None),
    ("RightUpLeg", "r_hip", "Hips", _RIGHT),
    ("RightLeg", "r_knee", "RightUpLeg", _DOWN),
    ("RightFoot", "r_ankle", "RightLeg", _DOWN),
    ("LeftUpLeg", "l_hip", "Hips", _LEFT),
    ("LeftLeg", "l_knee", "LeftUpLeg", _DOWN),
    ("LeftFoot", "l_ankle", "LeftLeg", _DOWN),
    ("Spine", None, "Hips", _UP),
    ("Neck", "neck", "Spine", _UP),
    ("Head", "head", "Neck", _UP),
    ("RightCollar", None, "Neck", _UP),
    ("RightArm", "r_shoulder", "RightCollar", _RIGHT),
    ("RightForeArm", "r_elbow", "RightArm", _RIGHT),
    ("RightHand", "r_wrist", "RightForeArm", _RIGHT),
    ("LeftCollar", None, "Neck", _UP),
    ("LeftArm", "l_shoulder", "LeftCollar", _LEFT),
    ("LeftForeArm", "l_elbow", "LeftArm", _LEFT),
    ("LeftHand", "l_wrist", "LeftForeArm", _LEFT),
)
NAMES = tuple(j[0] for j in _JOINTS)
PARENTS = tuple(-1 if j[2] is None else NAMES.index(j[2]) for j in _JOINTS)
# The BVH joint at each paper14 joint.
PAPER14_JOINTS = {j[1]: j[0] for j in _JOINTS if j[1] is not None}
# Left/right bone pairs made equal, by the BVH joint each bone ends at.
_PAIRS = (("RightUpLeg", "LeftUpLeg"), ("RightLeg", "LeftLeg"), ("RightFoot", "LeftFoot"),
          ("RightArm", "LeftArm"), ("RightForeArm", "LeftForeArm"), ("RightHand", "LeftHand"))
# An End Site's offset on each leaf, as a share of its bone (for tools that draw the last bone).
_END_SITES = {"RightFoot": (0.0, 0.0, 0.25), "LeftFoot": (0.0, 0.0, 0.25), "Head": (0.0, 0.5, 0.0),
              "RightHand": (-0.3, 0.0, 0.0), "LeftHand": (0.3, 0.0, 0.0)}
CHANNEL_ORDER = "ZXY"  # Rotation channels: local rotation R = Rz @ Rx @ Ry, the common mocap order.


@dataclasses.dataclass(frozen=True)
class Retargeted:
  """A clip on a rigid skeleton.

  Attributes:
    names, parents: the joint tree (`NAMES`, `PARENTS`).
    offsets: ``[J, 3]`` each joint's offset from its parent in the rest pose, in ``units``.
    end_sites: ``{joint: [3] offset}`` of the leaves.
    root_positions: ``[T, 3]`` the root's position per frame (Y up).
    local_rotations: ``[T, J, 3, 3]`` each joint's rotation in its parent's frame.
    positions: ``[T, J, 3]`` where the skeleton puts every joint (forward kinematics of the above).
  """
  names: tuple[str, ...]
  parents: tuple[int, ...]
  offsets: np.ndarray
  end_sites: dict
  root_positions: np.ndarray
  local_rotations: np.ndarray
  positions: np.ndarray


def to_y_up(points: np.ndarray, units: float = 0.1) -> np.ndarray:
  """``[..., 3]`` camera-frame mm (y down, z forward) to Y up, Z towards the camera, times ``units``.

  A half turn about the camera's x axis: a proper rotation, so the character is not mirrored.
  """
  return np.asarray(points, np.float64) * np.array([1.0, -1.0, -1.0]) * units


def _unit(v: np.ndarray, what: str) -> np.ndarray:
  n = np.linalg.norm(v, axis=-1, keepdims=True)
  if np.any(n < 1e-9):
    raise ValueError(f"retarget: the {what} has zero length in some frame (two joints at one point)")
  return v / n


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """``[..., 3, 3]``: the smallest rotation taking unit ``a [..., 3]`` onto unit ``b [..., 3]`` (Rodrigues)."""
  v = np.cross(a, b)
  cos = np.sum(a * b, axis=-1)[..., None, None]
  k = np.zeros(v.shape + (3,))
  k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
  k[..., 1, 0], k[..., 2, 0], k[..., 2, 1] = v[..., 2], -v[..., 1], v[..., 0]
  # Opposite vectors: turn half way round an axis perpendicular to a.
  opposite = cos[..., 0, 0] < -1 + 1e-9
  out = np.eye(3) + k + k @ k / (1.0 + np.where(cos < -1 + 1e-9, 1.0, cos))
  if np.any(opposite):
    axis = np.cross(a[opposite], np.array([1.0, 0.0, 0.0]))
    axis = np.where(np.linalg.norm(axis, axis=-1, keepdims=True) < 1e-6, np.cross(a[opposite], [0.0, 1.0, 0.0]), axis)
    axis = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    out[opposite] = 2 * axis[..., :, None] * axis[..., None, :] - np.eye(3)
  return out


def _frame(up: np.ndarray, side: np.ndarray) -> np.ndarray:
  """``[..., 3, 3]`` rotation whose Y column is ``up`` and whose X column is ``side`` made orthogonal to it."""
  y = _unit(up, "spine")
  x = _unit(side - np.sum(side * y, -1, keepdims=True) * y, "hip or shoulder line")
  return np.stack([x, y, np.cross(x, y)], axis=-1)


def _two_bone(start: np.ndarray, end: np.ndarray, pole: np.ndarray, a: float, b: float):
  """Middle and end joints ``[T, 3]`` of a two-bone chain of lengths ``a`` and ``b`` from ``start`` that reaches
  ``end`` where it can (else as far along the line as it can), bending towards ``pole`` (analytic IK)."""
  reach = end - start
  d = np.linalg.norm(reach, axis=-1, keepdims=True)
  u = reach / np.maximum(d, 1e-12)
  d = np.clip(d, abs(a - b), a + b)
  along = (a * a - b * b + d * d) / (2 * d)
  side = pole - start
  side = side - np.sum(side * u, -1, keepdims=True) * u
  norm = np.linalg.norm(side, axis=-1, keepdims=True)
  fallback = np.cross(u, np.array([0.0, 0.0, 1.0]))  # A straight limb: any bend plane.
  side = np.where(norm > 1e-9 * (a + b), side / np.maximum(norm, 1e-300), fallback / np.maximum(
      np.linalg.norm(fallback, axis=-1, keepdims=True), 1e-12))
  middle = start + along * u + np.sqrt(np.maximum(a * a - along * along, 0.0)) * side
  return middle, start + d * u


def _rigid_targets(at: dict, lengths: dict) -> dict:
  """The joints a rigid skeleton of ``lengths`` can reach nearest to the lifted ``at`` (each ``[T, 3]``): each
  bone from its parent's fitted joint towards its lifted joint, and each arm and leg by two-bone IK so the
  wrists and ankles land on the lifted ones where the fixed lengths reach them."""
  fit = {"Hips": at["Hips"], "Spine": at["Hips"]}
  pelvis = _frame(at["Neck"] - at["Hips"], at["LeftUpLeg"] - at["RightUpLeg"])
  for hip, sign in (("RightUpLeg", -1.0), ("LeftUpLeg", 1.0)):
    fit[hip] = at["Hips"] + sign * lengths[hip] * pelvis[..., :, 0]

  def towards(name, parent):
    return fit[parent] + lengths[name] * _unit(at[name] - fit[parent], f"bone {parent}-{name}")

  fit["Neck"] = towards("Neck", "Spine")
  fit["Head"] = towards("Head", "Neck")
  for side in ("Right", "Left"):
    fit[f"{side}Collar"] = fit["Neck"]
    fit[f"{side}Arm"] = towards(f"{side}Arm", f"{side}Collar")
    fit[f"{side}ForeArm"], fit[f"{side}Hand"] = _two_bone(
        fit[f"{side}Arm"], at[f"{side}Hand"], at[f"{side}ForeArm"], lengths[f"{side}ForeArm"], lengths[f"{side}Hand"])
    fit[f"{side}Leg"], fit[f"{side}Foot"] = _two_bone(
        fit[f"{side}UpLeg"], at[f"{side}Foot"], at[f"{side}Leg"], lengths[f"{side}Leg"], lengths[f"{side}Foot"])
  return fit


def retarget(poses: np.ndarray, layout: str = "paper14", units: float = 0.1) -> Retargeted:
  """Builds the rigid skeleton of a clip and solves its joint rotations.

  Args:
    poses: ``[T, 14, 3]`` camera-frame joints in mm (paper14), e.g. `lifting.app.inference.Lifted.points`.
    layout: the layout of ``poses``; only ``"paper14"``.
    units: output units per mm (0.1: centimetres).

  Returns:
    a `Retargeted` clip.
  """
  poses = np.asarray(poses, np.float64)
  lay = skeleton_lib.get_layout(layout)
  if lay.name != "paper14" or poses.ndim != 3 or poses.shape[1:] != (lay.num_joints, 3) or len(poses) == 0:
    raise ValueError(f"retarget: expected paper14 poses [T >= 1, 14, 3], got layout {layout!r} and shape "
                     f"{poses.shape}")
  if not np.all(np.isfinite(poses)):
    raise ValueError("retarget: the poses hold NaN or inf; fill or drop those frames first")
  p = {name: to_y_up(poses[:, lay.joints.index(name)], units) for name in PAPER14_JOINTS}
  p["Hips"] = (p["r_hip"] + p["l_hip"]) / 2
  at = {}  # Each BVH joint's position per frame; zero-offset joints sit where their parent is.
  for name, joint, parent, _ in _JOINTS:
    at[name] = p["Hips"] if parent is None else p[joint] if joint is not None else at[parent]

  lengths = {name: float(np.median(np.linalg.norm(at[name] - at[NAMES[PARENTS[k]]], axis=-1)))
             for k, name in enumerate(NAMES) if PARENTS[k] >= 0}
  for right, left in _PAIRS:
    lengths[right] = lengths[left] = (lengths[right] + lengths[left]) / 2
  for name, joint, parent, _ in _JOINTS:
    if parent is not None and joint is None:
      lengths[name] = 0.0
  offsets = np.zeros((len(NAMES), 3))
  for k, (name, _, parent, rest) in enumerate(_JOINTS):
    if parent is not None:
      offsets[k] = np.asarray(rest) * lengths[name]

  at = _rigid_targets(at, lengths)

  # Global rotations. The pelvis and the neck take whole frames; the spine, the collars and the limbs swing.
  n = len(poses)
  glob = np.zeros((n, len(NAMES), 3, 3))
  rest_dir = {name: np.asarray(rest if rest is not None else _UP) for name, _, _, rest in _JOINTS}
  children = {name: [c for c, par in zip(NAMES, PARENTS) if par == k] for k, name in enumerate(NAMES)}
  bone_end = {"Spine": "Neck", "RightCollar": "RightArm", "LeftCollar": "LeftArm"}  # Zero-offset joints aim here.
  spine = at["Neck"] - at["Hips"]
  glob[:, NAMES.index("Hips")] = _frame(spine, at["LeftUpLeg"] - at["RightUpLeg"])
  for k, name in enumerate(NAMES):
    if PARENTS[k] < 0:
      continue
    parent_rot = glob[:, PARENTS[k]]
    if name == "Neck":  # Aims at the head, twisted by the shoulder line.
      glob[:, k] = _frame(at["Head"] - at["Neck"], at["LeftArm"] - at["RightArm"])
      continue
    kids = [c for c in children[name] if c not in ("RightCollar", "LeftCollar")]
    target = bone_end.get(name, kids[0] if kids else None)
    if target is None:  # A leaf: keeps its parent's frame.
      glob[:, k] = parent_rot
      continue
    want = _unit(at[target] - at[name], f"bone {name}-{target}")
    have = np.einsum("tij,j->ti", parent_rot, rest_dir[target])
    glob[:, k] = _swing(have, want) @ parent_rot
  local = glob.copy()
  for k in range(len(NAMES)):
    if PARENTS[k] >= 0:
      local[:, k] = np.swapaxes(glob[:, PARENTS[k]], -1, -2) @ glob[:, k]
  end_sites = {name: np.asarray(share) * lengths[name] for name, share in _END_SITES.items()}
  root = at["Hips"]
  return Retargeted(NAMES, PARENTS, offsets, end_sites, root, local,
                    forward_kinematics(root, local, offsets, PARENTS))


def forward_kinematics(root: np.ndarray, local: np.ndarray, offsets: np.ndarray, parents) -> np.ndarray:
  """``[T, J, 3]`` joint positions from root positions ``[T, 3]``, local rotations ``[T, J, 3, 3]`` and rest
  ``offsets [J, 3]`` (parents before children)."""
  glob = np.zeros_like(local)
  pos = np.zeros(local.shape[:2] + (3,))
  for k, parent in enumerate(parents):
    if parent < 0:
      glob[:, k], pos[:, k] = local[:, k], root
    else:
      glob[:, k] = glob[:, parent] @ local[:, k]
      pos[:, k] = pos[:, parent] + np.einsum("tij,j->ti", glob[:, parent], offsets[k])
  return pos


def euler_zxy(rotations: np.ndarray) -> np.ndarray:
  """``[..., 3, 3]`` rotations to ``[..., 3]`` (z, x, y) angles in degrees with ``R = Rz(z) @ Rx(x) @ Ry(y)``.

  At x = +-90 degrees (gimbal lock) y is set to 0 and z carries the whole turn about the vertical.
  """
  r = np.asarray(rotations, np.float64)
  x = np.arcsin(np.clip(r[..., 2, 1], -1.0, 1.0))
  locked = np.abs(r[..., 2, 1]) > 1 - 1e-9
  z = np.where(locked, np.arctan2(r[..., 1, 0], r[..., 0, 0]), np.arctan2(-r[..., 0, 1], r[..., 1, 1]))
  y = np.where(locked, 0.0, np.arctan2(-r[..., 2, 0], r[..., 2, 2]))
  return np.degrees(np.stack([z, x, y], axis=-1))


def to_motion(clip: Retargeted, frame_time: float):
  """``clip`` as a `lifting.data.bvh.Motion` (End Sites included), ready for `lifting.data.bvh.write_bvh`.

  The root has position and rotation channels, every other joint rotations in `CHANNEL_ORDER`.
  """
  from lifting.data import bvh

  if not frame_time > 0:
    raise ValueError(f"to_motion: expected a positive frame time in seconds, got {frame_time}")
  names, parents, offsets, channels, ends, index = [], [], [], [], [], {}
  rotation = tuple(f"{a}rotation" for a in CHANNEL_ORDER)
  for k, name in enumerate(clip.names):
    index[name] = len(names)
    names.append(name)
    parents.append(-1 if clip.parents[k] < 0 else index[clip.names[clip.parents[k]]])
    offsets.append(clip.offsets[k])
    channels.append(("Xposition", "Yposition", "Zposition") + rotation if clip.parents[k] < 0 else rotation)
    ends.append(False)
    if name in clip.end_sites:
      names.append(f"{name}_end")
      parents.append(index[name])
      offsets.append(clip.end_sites[name])
      channels.append(())
      ends.append(True)
  angles = euler_zxy(clip.local_rotations)  # [T, J, 3]
  frames = np.concatenate([clip.root_positions, angles.reshape(len(angles), -1)], axis=1)
  skeleton = bvh.Skeleton(names=tuple(names), parents=tuple(parents), offsets=np.asarray(offsets, np.float64),
                          channels=tuple(channels), is_end_site=tuple(ends))
  return bvh.Motion(skeleton=skeleton, frames=frames, frame_time=float(frame_time), path="<retargeted>")
