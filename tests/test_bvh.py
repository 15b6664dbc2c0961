"""Tests for lifting.data.bvh: hand-computed poses, a per-frame reference, malformed input, real data."""

import glob
import os
import re

import numpy as np
import pytest

from lifting.data import bvh

# Line numbers below are used by the malformed-input tests.
SIMPLE = """\
HIERARCHY
ROOT hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT a
  {
    OFFSET 0 1 0
    CHANNELS 3 Yrotation Xrotation Zrotation
    JOINT b
    {
      OFFSET 0 2 0
      CHANNELS 3 Xrotation Zrotation Yrotation
      End Site
      {
        OFFSET 1 0 0
      }
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.04
0 0 0 0 0 0  0 0 0  0 0 0
1 2 3 90 0 0  0 0 0  0 0 0
0 0 0 0 0 0  90 90 0  0 90 90
"""

# Worked by hand: frame 1 turns the root 90 degrees about Z (x -> y, y -> -x); in frame 2, a = Ry(90) Rx(90)
# sends b's offset (0, 2, 0) to (2, 0, 0), and b = Rz(90) Ry(90) sends (1, 0, 0) to (0, 0, -1), which a sends
# to (0, 1, 0).
SIMPLE_POSITIONS = np.array([
    [[0, 0, 0], [0, 1, 0], [0, 3, 0], [1, 3, 0]],
    [[1, 2, 3], [0, 2, 3], [-2, 2, 3], [-2, 3, 3]],
    [[0, 0, 0], [0, 1, 0], [2, 1, 0], [2, 2, 0]],
], np.float64)

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "bandai_namco_motion")


# ----------------------------------------------------------------------------- helpers


def _axis_matrix(axis, degrees):
  c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
  return {"X": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
          "Y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
          "Z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[axis]


def _reference_fk(joints, frames):
  """Per-frame loop with 4x4 homogeneous matrices; ``joints`` as in `_write`. Returns ``[F, J, 3]``."""
  out = np.zeros((len(frames), len(joints), 3))
  for f, values in enumerate(frames):
    values, world = list(values), []
    for j, (_, parent, offset, channels) in enumerate(joints):
      local = np.eye(4)
      local[:3, 3] = offset
      for c in channels or ():
        v = values.pop(0)
        if c.endswith("position"):
          local[:3, 3]["XYZ".index(c[0])] = v
        else:
          local[:3, :3] = local[:3, :3] @ _axis_matrix(c[0], v)
      world.append(local if parent < 0 else world[parent] @ local)
      out[f, j] = world[-1][:3, 3]
  return out


def _write(joints, frames, frame_time=0.01):
  """BVH text for ``joints`` = [(name, parent, offset, channels or None for an End Site)] in file order."""
  lines = ["HIERARCHY"]

  def emit(j, depth):
    name, _, offset, channels = joints[j]
    pad = "  " * depth
    lines.append(pad + ("End Site" if channels is None else f"{'JOINT' if depth else 'ROOT'} {name}"))
    lines.append(pad + "{")
    lines.append(pad + "  OFFSET " + " ".join(repr(float(v)) for v in offset))
    if channels is not None:
      lines.append(pad + f"  CHANNELS {len(channels)} " + " ".join(channels))
    for k, joint in enumerate(joints):
      if joint[1] == j:
        emit(k, depth + 1)
    lines.append(pad + "}")

  for j, joint in enumerate(joints):
    if joint[1] < 0:
      emit(j, 0)
  lines += ["MOTION", f"Frames: {len(frames)}", f"Frame Time: {frame_time}"]
  lines += [" ".join(repr(float(v)) for v in row) for row in frames]
  return "\n".join(lines) + "\n"


def _lines(*numbers, replace=None, text=SIMPLE):
  """SIMPLE's lines ``numbers`` (1-based), with ``replace`` = {line: new text} applied first."""
  lines = text.splitlines()
  for n, new in (replace or {}).items():
    lines[n - 1] = new
  return "\n".join(lines[n - 1] for n in (numbers or range(1, len(lines) + 1))) + "\n"


# ----------------------------------------------------------------------------- parsing and FK


def test_simple_file_by_hand(tmp_path):
  path = tmp_path / "simple.bvh"
  path.write_text(SIMPLE)
  motion = bvh.read_bvh(path)
  sk = motion.skeleton
  assert sk.names == ("hips", "a", "b", "b_end")
  assert sk.parents == (-1, 0, 1, 2)
  assert sk.is_end_site == (False, False, False, True)
  assert sk.channels[1] == ("Yrotation", "Xrotation", "Zrotation") and sk.channels[3] == ()
  np.testing.assert_array_equal(sk.offsets, [[0, 0, 0], [0, 1, 0], [0, 2, 0], [1, 0, 0]])
  assert motion.frames.shape == (3, 12) and motion.frame_time == 0.04 and motion.path == str(path)
  np.testing.assert_allclose(bvh.forward_kinematics(motion), SIMPLE_POSITIONS, atol=1e-12)


def test_bom_and_crlf_are_tolerated(tmp_path):
  path = tmp_path / "dos.bvh"
  path.write_bytes(b"\xef\xbb\xbf" + SIMPLE.replace("\n", "\r\n").encode())
  np.testing.assert_allclose(bvh.forward_kinematics(bvh.read_bvh(path)), SIMPLE_POSITIONS, atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_matches_per_frame_reference(seed):
  rng = np.random.default_rng(seed)
  rotations = ["Xrotation", "Yrotation", "Zrotation"]
  joints = []
  for j in range(7):
    order = list(rng.permutation(rotations))
    if j == 0:
      channels = ["Xposition", "Yposition", "Zposition"] + order
    elif j == 3:  # interleaved and partial: a position channel between rotations, one rotation missing
      channels = [order[0], "Yposition", order[1]]
    else:
      channels = order
    joints.append((f"j{j}", j - 1 if j < 5 else 2, rng.normal(size=3), channels))
  joints.append(("", 6, rng.normal(size=3), None))
  joints.append(("r2", -1, rng.normal(size=3), ["Zrotation", "Xposition"]))  # a second ROOT
  n_channels = sum(len(c or ()) for *_, c in joints)
  frames = rng.uniform(-180, 180, size=(5, n_channels))
  motion = bvh.parse_bvh(_write(joints, frames))
  assert motion.skeleton.names[-2:] == ("j6_end", "r2") and motion.skeleton.parents[-1] == -1
  np.testing.assert_allclose(bvh.forward_kinematics(motion), _reference_fk(joints, frames), atol=1e-9)


def test_position_channels_replace_offset():
  joints = [("root", -1, [0, 0, 0], ["Zrotation"]), ("arm", 0, [1, 2, 3], ["Yposition", "Zposition"]),
            ("", 1, [0, 0, 0], None)]
  motion = bvh.parse_bvh(_write(joints, [[90, 5, 7]]))
  # Local translation (1, 5, 7): X from the OFFSET, Y and Z from the channels; then Rz(90).
  np.testing.assert_allclose(bvh.forward_kinematics(motion, ["arm"])[0, 0], [-5, 1, 7], atol=1e-12)


def test_scale_and_joint_selection():
  motion = bvh.parse_bvh(SIMPLE)
  out = bvh.forward_kinematics(motion, joints=["b_end", "a"], scale=10.0)
  assert out.shape == (3, 2, 3) and out.dtype == np.float64
  np.testing.assert_allclose(out, 10.0 * SIMPLE_POSITIONS[:, [3, 1]], atol=1e-12)
  with pytest.raises(ValueError, match="unknown joint 'nose'.*hips, a, b, b_end"):
    bvh.forward_kinematics(motion, joints=["a", "nose"])
  assert motion.skeleton.index("b") == 2


def test_end_site_names_stay_unique():
  joints = [("a", -1, [0, 0, 0], ["Xrotation"]), ("", 0, [1, 0, 0], None), ("", 0, [0, 1, 0], None),
            ("a_end", 0, [0, 0, 1], []), ("", 3, [0, 0, 1], None)]
  assert bvh.parse_bvh(_write(joints, [[0]])).skeleton.names == ("a", "a_end2", "a_end3", "a_end", "a_end_end")


def test_zero_frames():
  motion = bvh.parse_bvh(_lines(*range(1, 23), replace={22: "Frames: 0"}) + "Frame Time: 0.04\n")
  assert motion.frames.shape == (0, 12) and bvh.forward_kinematics(motion).shape == (0, 4, 3)


# ----------------------------------------------------------------------------- malformed input

BAD = [
    ("missing HIERARCHY", _lines(replace={1: "HIERARCH"}), 1, "expected 'HIERARCHY'"),
    ("missing ROOT", _lines(1, 21, 22, 23, 24), 2, "missing ROOT"),
    ("missing MOTION", _lines(*range(1, 21)), None, "missing MOTION"),
    ("unclosed brace", _lines(*range(1, 19), *range(20, 27)), 20, r"unbalanced braces: ROOT hips \(line 2\) is not closed"),
    ("extra brace", _lines(*range(1, 21), 20, *range(21, 27)), 21, "unbalanced braces: unexpected '}'"),
    ("no brace", _lines(*range(1, 7), *range(8, 27)), 7, r"expected '{' after JOINT a \(line 6\)"),
    ("unknown channel", _lines(replace={9: "CHANNELS 3 Yrotation Xrotation Wrotation"}), 9, "unknown channel 'Wrotation'"),
    ("channel count", _lines(replace={13: "CHANNELS 2 Xrotation Zrotation Yrotation"}), 13, "CHANNELS count '2'"),
    ("short OFFSET", _lines(replace={12: "OFFSET 0 2"}), 12, "OFFSET needs 3 numbers, got 2"),
    ("bad OFFSET", _lines(replace={16: "OFFSET 1 x 0"}), 16, "OFFSET: non-numeric"),
    ("no OFFSET", _lines(*range(1, 16), *range(17, 27)), 16, r"End Site \(line 14\) has no OFFSET"),
    ("end site channels", _lines(replace={16: "CHANNELS 1 Xrotation"}), 16, "End Site cannot have CHANNELS"),
    ("frames count", _lines(replace={22: "Frames: 4"}), 22, "'Frames: 4' but 3 frame lines follow"),
    ("Frames not a number", _lines(replace={22: "Frames: x"}), 22, "'Frames:' needs a number, got 'x'"),
    ("Frames not a count", _lines(replace={22: "Frames: nan"}), 22, "'Frames:' needs a count, got nan"),
    ("bad Frame Time", _lines(replace={23: "Frame Time: 0"}), 23, "'Frame Time:' must be positive"),
    ("missing Frames", _lines(replace={22: ""}), 23, "missing 'Frames:'"),
    ("missing Frame Time", _lines(*range(1, 23), *range(24, 27)), 23, "missing 'Frame Time:'"),
    ("short frame", _lines(replace={25: "1 2 3 90 0 0  0 0 0  0 0"}), 25, "frame has 11 values, expected 12"),
    ("long frame", _lines(replace={24: "0 " * 13}), 24, "frame has 13 values, expected 12"),
    ("non-numeric frame", _lines(replace={26: "0 0 0 0 0 0 90 abc 0 0 90 90"}), 26, "frame: non-numeric"),
    ("nan", _lines(replace={25: "1 2 3 90 0 0 0 nan 0 0 0 0"}), 25, "frame: non-finite"),
    ("inf", _lines(replace={26: "0 0 0 0 0 0 90 90 0 0 90 -inf"}), 26, "frame: non-finite"),
    ("empty", "", None, "empty file"),
    ("blank", "\n  \n", None, "empty file"),
]


@pytest.mark.parametrize("text,line,reason", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_malformed_input_names_file_and_line(tmp_path, text, line, reason):
  path = tmp_path / "bad.bvh"
  path.write_text(text)
  where = f"bad.bvh:{line}: " if line is not None else "bad.bvh: "
  with pytest.raises(bvh.BVHError, match=re.escape(where) + reason):
    bvh.read_bvh(path)


def test_parse_bvh_default_path():
  with pytest.raises(bvh.BVHError, match="^<string>: empty file"):
    bvh.parse_bvh("")


# ----------------------------------------------------------------------------- real data


def test_bandai_namco_file():
  files = sorted(glob.glob(os.path.join(
      DATA, "repo", "dataset", "Bandai-Namco-Research-Motiondataset-2", "data", "*_normal_001.bvh")))
  if not files:
    pytest.skip(f"Bandai Namco mocap data not found at {os.path.normpath(DATA)}; download "
                "github.com/BandaiNamcoResearchInc/Bandai-Namco-Research-Motiondataset there to run this test")
  motion = bvh.read_bvh(files[0])  # raise-up-both-hands, normal style: stands upright on frame 0
  sk = motion.skeleton
  assert len(sk.names) == 27 and sum(sk.is_end_site) == 5
  assert sk.names[:6] == ("joint_Root", "Hips", "Spine", "Chest", "Neck", "Head")
  assert abs(motion.frame_time - 1 / 30) < 1e-4
  # Hips carries the root motion; below it, position channels repeat the OFFSETs, which is what makes the
  # "channels replace OFFSET" convention agree with the files.
  start = np.cumsum([0] + [len(c) for c in sk.channels])
  np.testing.assert_array_equal(motion.frames[:, :6], 0.0)
  for j in range(2, len(sk.names)):
    if sk.channels[j]:
      assert sk.channels[j][:3] == ("Xposition", "Yposition", "Zposition")
      np.testing.assert_allclose(motion.frames[:, start[j]:start[j] + 3], np.broadcast_to(sk.offsets[j], (
          len(motion.frames), 3)), atol=1e-4, err_msg=sk.names[j])
  pos = bvh.forward_kinematics(motion)  # cm, Y up
  head, feet = pos[0, sk.index("Head"), 1], pos[0, [sk.index("Foot_L"), sk.index("Foot_R")], 1]
  # Head is the skull base and Foot the ankle, so an upright adult spans ~115-135 cm between them (the
  # data's bones allow at most ~134 cm); the ankles sit a few cm above the floor.
  assert 115 < head - feet.mean() < 135 and np.all((feet > 3) & (feet < 20))
  thigh = np.linalg.norm(pos[:, sk.index("UpperLeg_L")] - pos[:, sk.index("LowerLeg_L")], axis=-1)
  assert 35 < thigh[0] < 45
  np.testing.assert_allclose(thigh, thigh[0], rtol=1e-9)
