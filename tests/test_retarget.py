"""Retargeting lifted poses to a rigid BVH skeleton, and writing BVH: against numpy references and two readers."""

import os

import numpy as np
import pytest

from lifting.app import retarget
from lifting.core import skeleton
from lifting.data import bvh

LAYOUT = skeleton.get_layout("paper14")
# A symmetric standing pose, camera frame (y down), mm, 4 m in front of the camera.
_BASE = np.array([[-100, 900, 0], [-100, 450, 0], [-100, 0, 0], [100, 0, 0], [100, 450, 0], [100, 900, 0],
                  [-650, -480, 0], [-420, -480, 0], [-180, -480, 0], [180, -480, 0], [420, -480, 0], [650, -480, 0],
                  [0, -500, 0], [0, -680, 30]], float) + np.array([0.0, 0.0, 4000.0])


def _rot(axis, angle):
  c, s = np.cos(angle), np.sin(angle)
  i, j = [(1, 2), (2, 0), (0, 1)][axis]
  r = np.eye(3)
  r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
  return r


def _rigid_clip(n=12, seed=0):
  """The base pose turned and moved as a whole, and each forearm and shin bent: bone lengths stay constant."""
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(n):
    pose = _BASE.copy()
    for a, b, c in ((7, 6, None), (1, 0, None), (10, 11, None), (4, 5, None)):  # elbow->wrist, knee->ankle
      pose[b] = pose[a] + _rot(rng.integers(3), rng.uniform(-1, 1)) @ (pose[b] - pose[a])
    centre = pose[[2, 3]].mean(0)
    turn = _rot(1, rng.uniform(-np.pi, np.pi)) @ _rot(0, rng.uniform(-0.3, 0.3))
    out.append((pose - centre) @ turn.T + centre + rng.normal(size=3) * 100)
  return np.stack(out)


def _paper14(positions):
  """The BVH joints at the paper14 joints, in paper14 order: ``[T, 14, 3]``."""
  return positions[:, [retarget.NAMES.index(retarget.PAPER14_JOINTS[j]) for j in LAYOUT.joints]]


def test_euler_zxy_matches_the_matrix_product_even_at_gimbal_lock():
  rng = np.random.default_rng(0)
  mats = [_rot(2, rng.uniform(-3, 3)) @ _rot(0, rng.uniform(-1.5, 1.5)) @ _rot(1, rng.uniform(-3, 3))
          for _ in range(50)]
  mats += [_rot(2, 0.3) @ _rot(0, s * np.pi / 2) @ _rot(1, 0.7) for s in (1, -1)]
  z, x, y = np.radians(retarget.euler_zxy(np.stack(mats))).T
  for k, m in enumerate(mats):
    np.testing.assert_allclose(_rot(2, z[k]) @ _rot(0, x[k]) @ _rot(1, y[k]), m, atol=1e-9)


def test_a_clip_with_constant_bones_is_reproduced_exactly():
  clip = _rigid_clip()
  out = retarget.retarget(clip)
  np.testing.assert_allclose(_paper14(out.positions), retarget.to_y_up(clip), atol=1e-6)
  # Rest offsets: the median bone lengths, in centimetres, left and right equal.
  upper_arm = np.linalg.norm(_BASE[7] - _BASE[8]) / 10
  assert np.linalg.norm(out.offsets[retarget.NAMES.index("RightForeArm")]) == pytest.approx(upper_arm)
  np.testing.assert_allclose(np.abs(out.offsets[retarget.NAMES.index("RightForeArm")]),
                             np.abs(out.offsets[retarget.NAMES.index("LeftForeArm")]))
  rot = out.local_rotations
  np.testing.assert_allclose(rot @ np.swapaxes(rot, -1, -2), np.broadcast_to(np.eye(3), rot.shape), atol=1e-9)
  np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-9)


def test_wobbling_bones_keep_their_lengths_and_the_hands_and_feet_land_on_the_lift():
  rng = np.random.default_rng(1)
  clip = _rigid_clip(n=24, seed=1) + rng.normal(size=(24, 14, 3)) * 8
  out = retarget.retarget(clip)
  got, want = _paper14(out.positions), retarget.to_y_up(clip)
  for k, parent in enumerate(out.parents):  # Every bone keeps its rest length in every frame.
    if parent >= 0:
      np.testing.assert_allclose(np.linalg.norm(out.positions[:, k] - out.positions[:, parent], axis=-1),
                                 np.linalg.norm(out.offsets[k]), atol=1e-9)
  # Two-bone IK puts the wrists and ankles on the lifted ones in every frame the fixed lengths reach them.
  for start, middle, end, name in (("RightArm", "RightForeArm", "RightHand", "r_wrist"),
                                   ("LeftUpLeg", "LeftLeg", "LeftFoot", "l_ankle")):
    idx = [retarget.NAMES.index(n) for n in (start, middle, end)]
    reach = np.linalg.norm(out.offsets[idx[1]]) + np.linalg.norm(out.offsets[idx[2]])
    k = LAYOUT.joints.index(name)
    ok = np.linalg.norm(want[:, k] - out.positions[:, idx[0]], axis=-1) < reach
    assert ok.sum() >= 3, name
    np.testing.assert_allclose(got[ok, k], want[ok, k], atol=1e-6, err_msg=name)
  assert np.max(np.linalg.norm(got - want, axis=-1)) < 10.0  # cm: the wobble (8 mm per axis) goes to the joints.


def test_bvh_round_trip_through_our_reader_and_bvhio(tmp_path):
  bvhio = pytest.importorskip("bvhio", reason="bvhio is in the [test] extra: pip install -e '.[test]'")
  clip = retarget.retarget(_rigid_clip() + np.random.default_rng(2).normal(size=(12, 14, 3)) * 5)
  path = os.path.join(tmp_path, "motion.bvh")
  bvh.write_bvh(path, retarget.to_motion(clip, 1 / 30))
  motion = bvh.read_bvh(path)
  assert motion.frame_time == pytest.approx(1 / 30) and motion.frames.shape[0] == 12
  np.testing.assert_allclose(bvh.forward_kinematics(motion, retarget.NAMES), clip.positions, atol=1e-4)
  root = bvhio.readAsHierarchy(path)
  joints = {joint.Name: joint for joint, _, _ in root.layout()}
  for t in (0, 5, 11):
    root.loadPose(t)
    got = np.array([list(joints[name].PositionWorld) for name in retarget.NAMES])
    np.testing.assert_allclose(got, clip.positions[t], atol=1e-3)


def test_format_bvh_inverts_parse_bvh():
  text = "\n".join(["HIERARCHY", "ROOT hips", "{", "  OFFSET 0 0 0", "  CHANNELS 6 Xposition Yposition Zposition "
                    "Zrotation Xrotation Yrotation", "  JOINT a", "  {", "    OFFSET 1 2 3",
                    "    CHANNELS 2 Xrotation Yrotation", "    End Site", "    {", "      OFFSET 0 1 0", "    }", "  }",
                    "  JOINT b", "  {", "    OFFSET -1 0 0", "    CHANNELS 1 Zrotation", "  }", "}", "MOTION",
                    "Frames: 2", "Frame Time: 0.04", "1 2 3 10 20 30 5 6 7", "0 0 0 0 0 0 0 0 0"])
  motion = bvh.parse_bvh(text)
  again = bvh.parse_bvh(bvh.format_bvh(motion))
  assert again.skeleton.names == motion.skeleton.names and again.skeleton.channels == motion.skeleton.channels
  np.testing.assert_allclose(again.frames, motion.frames)
  np.testing.assert_allclose(bvh.forward_kinematics(again), bvh.forward_kinematics(motion), atol=1e-9)
  bad = bvh.Motion(motion.skeleton, motion.frames * np.nan, 0.04, "x")
  with pytest.raises(ValueError, match="format_bvh: the frames hold NaN"):
    bvh.format_bvh(bad)


@pytest.mark.parametrize("poses, message", [
    (np.zeros((3, 17, 3)), "expected paper14 poses"),
    (np.zeros((0, 14, 3)), "expected paper14 poses"),
    (np.full((2, 14, 3), np.nan), "NaN or inf"),
    (np.zeros((2, 14, 3)), "zero length"),
])
def test_bad_poses_are_named(poses, message):
  with pytest.raises(ValueError, match=message):
    retarget.retarget(poses)
  with pytest.raises(ValueError, match="positive frame time"):
    retarget.to_motion(retarget.retarget(_rigid_clip(2)), 0.0)
