"""The "bandai" protocol on small BVH fixtures in the dataset's layout, and on the real data if present."""

import json
import os

import numpy as np
import pytest

from lifting.core import skeleton
from lifting.data import bandai
from lifting.data import pipeline

REAL = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "bandai_namco_motion")

# A cut-down Bandai skeleton (cm): only the joints the shipped map needs, all in the T-pose.
_TREE = ("Hips", (0, 90, 0), [
    ("Neck", (0, 50, 0), [
        ("Head", (0, 10, 0), []),
        ("UpperArm_L", (20, 0, 0), [("LowerArm_L", (25, 0, 0), [("Hand_L", (22, 0, 0), [])])]),
        ("UpperArm_R", (-20, 0, 0), [("LowerArm_R", (-25, 0, 0), [("Hand_R", (-22, 0, 0), [])])])]),
    ("UpperLeg_L", (10, 0, 0), [("LowerLeg_L", (0, -40, 0), [("Foot_L", (0, -40, 0), [])])]),
    ("UpperLeg_R", (-10, 0, 0), [("LowerLeg_R", (0, -40, 0), [("Foot_R", (0, -40, 0), [])])])])


def _hierarchy(node, depth=1):
  name, offset, children = node
  pad = "  " * depth
  channels = "6 Xposition Yposition Zposition" if name == "Hips" else "3"
  lines = [f"{pad}JOINT {name}", f"{pad}{{", f"{pad}  OFFSET {offset[0]} {offset[1]} {offset[2]}",
           f"{pad}  CHANNELS {channels} Zrotation Xrotation Yrotation"]
  for child in children:
    lines += _hierarchy(child, depth + 1)
  if not children:
    lines += [f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET 0 0 0", f"{pad}  }}"]
  return lines + [f"{pad}}}"]


_JOINTS = "\n".join(["ROOT joint_Root", "{", "  OFFSET 0 0 0",
                     "  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation",
                     *_hierarchy(_TREE), "}"]) + "\n"
_NUM_CHANNELS = 6 + 6 + 3 * 14


def _write_take(folder, name, frames=5, walk_cm=0.0, bad_frame=False):
  rows = []
  for f in range(frames):
    values = np.zeros(_NUM_CHANNELS)
    values[6:9] = [0.0, 90.0, walk_cm * f]  # Hips position: walking along +Z.
    values[12] = 10.0 * f                    # Neck Zrotation: some motion.
    rows.append(" ".join("nan" if bad_frame and f == 2 and i == 6 else f"{v:g}" for i, v in enumerate(values)))
  text = f"HIERARCHY\n{_JOINTS}MOTION\nFrames: {frames}\nFrame Time: 0.0333333\n" + "\n".join(rows) + "\n"
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, name), "w") as f:
    f.write(text)


@pytest.fixture
def root(tmp_path):
  data2 = tmp_path / "bandai" / "dataset" / "Bandai-Namco-Research-Motiondataset-2" / "data"
  data1 = tmp_path / "bandai" / "dataset" / "Bandai-Namco-Research-Motiondataset-1" / "data"
  _write_take(data2, "dataset-2_walk_active_001.bvh", frames=6, walk_cm=100.0)  # Actor A walks 5 m.
  _write_take(data2, "dataset-2_run_normal_001.bvh", frames=4)                   # Actor B.
  _write_take(data2, "dataset-2_walk_feminine_001.bvh", frames=5)                # Actor C.
  _write_take(data1, "dataset-1_bow_happy_001.bvh", frames=3)
  return str(tmp_path / "bandai")


def test_protocol_splits_actors_films_four_cameras_and_caches(root, tmp_path):
  cache = str(tmp_path / "cache")
  train = bandai.load(root, ("A", "B"), cache_dir=cache)
  test = bandai.load(root, ("C",), cache_dir=cache)
  assert list(train.lengths) == [4] * 4 + [6] * 4  # run_normal, walk_active (sorted), 4 cameras each.
  assert train.names[0] == "dataset-2_run_normal_001/cam0" and set(train.actions) == {"walk", "run"}
  assert test.num_frames == 5 * 4 and set(test.actions) == {"walk"}
  assert len(os.listdir(cache)) == 1
  again = bandai.load(root, ("A", "B"), cache_dir=cache)  # From the cache: identical.
  np.testing.assert_array_equal(again.pose3d, train.pose3d)
  with_extra = bandai.load(root, ("A", "B"), extra_dataset1=True, cache_dir=cache)
  assert with_extra.num_frames == train.num_frames + 3 * 4


def test_rig_follows_the_actor_and_matches_a_pinhole(root, tmp_path):
  seqs = bandai.load(root, ("A",), cache_dir=str(tmp_path / "c"))
  cam0 = seqs.pose3d[:6]  # The walk seen by camera 0: the hips travel 5 m, yet stay 5 m away.
  root3d = cam0[:, [2, 3]].mean(1)
  np.testing.assert_allclose(root3d, np.broadcast_to(root3d[0], root3d.shape), atol=1e-3)
  assert 4800 < root3d[0, 2] < 5200
  uv = 1150.0 * seqs.pose3d[..., :2] / seqs.pose3d[..., 2:] + 500.0
  np.testing.assert_allclose(seqs.pose2d, uv, atol=1e-3)
  layout = skeleton.get_layout("paper14")
  bone = np.linalg.norm(cam0[:, layout.index("l_knee")] - cam0[:, layout.index("l_hip")], axis=-1)
  np.testing.assert_allclose(bone, 400.0, rtol=1e-5)  # 40 cm in the file, millimetres out.
  # y is down: the head is above (smaller y than) the ankles in every view.
  assert np.all(seqs.pose3d[:, layout.index("head"), 1] < seqs.pose3d[:, layout.index("r_ankle"), 1])


def test_bad_files_are_reported_and_skipped(root, tmp_path, caplog):
  data2 = os.path.join(root, "dataset", "Bandai-Namco-Research-Motiondataset-2", "data")
  with open(os.path.join(data2, "dataset-2_wave-left-hand_masculine_001.bvh"), "w") as f:
    f.write("HIERARCHY\nROOT x\n{\n")
  _write_take(data2, "dataset-2_run_elderly_001.bvh", frames=5, bad_frame=True)
  # Not UTF-8 (a Latin-1 comment), and positions finite in the file but beyond float32 once in millimetres.
  with open(os.path.join(data2, "dataset-2_kick_exhausted_001.bvh"), "wb") as f:
    f.write(b"HIERARCHY\n# caf\xe9\n")
  _write_take(data2, "dataset-2_jump_normal_001.bvh", frames=4)
  huge = os.path.join(data2, "dataset-2_jump_normal_001.bvh")
  text = open(huge).read().replace("\n0 0 0 0 0 0 0 90 0", "\n0 0 0 0 0 0 1e39 90 0", 1)
  with open(huge, "w") as f:
    f.write(text)
  seqs = bandai.load(root, ("A", "B"), cache_dir=str(tmp_path / "c"))
  assert not any(k in n for n in seqs.names for k in ("wave-left-hand", "elderly", "kick", "jump"))
  assert len(seqs.names) == 2 * 4 and np.all(np.isfinite(seqs.pose2d)) and np.all(np.isfinite(seqs.pose3d))
  messages = " ".join(r.getMessage() for r in caplog.records)
  assert "wave-left-hand_masculine_001.bvh" in messages and "not closed" in messages
  assert "run_elderly_001.bvh:107: frame: non-finite value" in messages
  assert "kick_exhausted_001.bvh: not UTF-8 text (byte 0xe9" in messages
  assert "jump_normal_001.bvh: joint positions out of range (non-finite in millimetres) from frame 0" in messages


def test_missing_data_says_what_to_download(tmp_path):
  with pytest.raises(ValueError, match="does not exist.*Bandai-Namco-Research-Motiondataset.*data.bandai.root"):
    bandai.load(str(tmp_path / "nowhere"))
  os.makedirs(tmp_path / "empty")
  with pytest.raises(ValueError, match="no Bandai-Namco-Research-Motiondataset-2/data"):
    bandai.load(str(tmp_path / "empty"))
  with pytest.raises(ValueError, match="actors"):
    bandai.load(str(tmp_path), ("D",))


def test_joint_maps_are_data(root, tmp_path):
  custom = dict(bandai.JOINT_MAPS["bandai"], head="Neck")  # Another skeleton's choice.
  a = bandai.load(root, ("C",), joint_map="bandai", cache_dir=str(tmp_path / "c"))
  b = bandai.load(root, ("C",), joint_map=custom, cache_dir=str(tmp_path / "c"))
  head, neck = skeleton.get_layout("paper14").index("head"), skeleton.get_layout("paper14").index("neck")
  np.testing.assert_allclose(b.pose3d[:, head], a.pose3d[:, neck])
  with pytest.raises(ValueError, match="missing \\['head'\\]"):
    bandai.resolve_joint_map({k: v for k, v in custom.items() if k != "head"})
  with pytest.raises(ValueError, match="joint_map"):
    bandai.resolve_joint_map("cmu")
  as_json = json.dumps(custom)
  assert bandai.resolve_joint_map(as_json) == custom  # From the command line, or from a file:
  (tmp_path / "map.json").write_text(as_json)
  assert bandai.resolve_joint_map(str(tmp_path / "map.json")) == custom
  (tmp_path / "bad.json").write_text("{oops")
  with pytest.raises(ValueError, match="cannot read"):
    bandai.resolve_joint_map(str(tmp_path / "bad.json"))
  custom["head"] = "Skull"
  with pytest.raises(ValueError, match="Skull"):
    bandai.load(root, ("C",), joint_map=custom, cache_dir=str(tmp_path / "c2"))


def test_pipeline_cleaning_splits_sequences_at_bad_frames():
  pose2d = np.random.default_rng(0).uniform(0, 1000, (10, 14, 2)).astype(np.float32)
  pose3d = np.concatenate([pose2d, np.full((10, 14, 1), 5000.0, np.float32)], -1)
  pose2d[3, 5] = np.nan
  pose2d[7, 0] = 1e9
  pose3d[8, 2, 2] = -1.0  # Behind the camera.
  seqs = pipeline.PoseSequences(pose2d, pose3d, np.array([6, 4]), ("a", "b"), ("x", "y"))
  out = pipeline.clean(seqs, "test")
  assert list(out.lengths) == [3, 2, 1, 1] and out.names == ("a", "a", "b", "b")
  np.testing.assert_array_equal(out.pose2d[3], pose2d[4])


@pytest.fixture(scope="module")
def real():
  if not os.path.isdir(REAL):
    pytest.skip(f"Bandai Namco mocap not found at {os.path.normpath(REAL)}; get it from "
                "github.com/BandaiNamcoResearchInc/Bandai-Namco-Research-Motiondataset to run this test")
  return REAL


def test_real_actors_share_one_hips_offset_each(real):
  offsets = {}
  for take in bandai.find_takes(real, 2):
    with open(take.path) as f:
      text = f.read(4000)
    hips = text[text.index("JOINT Hips"):].split("OFFSET")[1].split("\n")[0].strip()
    offsets.setdefault(take.actor, set()).add(hips)
  assert set(offsets) == {"A", "B", "C"}
  assert all(len(v) == 1 for v in offsets.values()), offsets
  assert len({next(iter(v)) for v in offsets.values()}) == 3


def test_real_test_split_is_actor_c_filmed_by_four_cameras(real, tmp_path):
  test = bandai.load(real, ("C",), stride=10, cache_dir=str(tmp_path))
  assert len(test.names) == 160 * 4 and set(test.actions) >= {"walk", "run", "wave-both-hands"}
  assert np.isfinite(test.pose3d).all() and (test.pose3d[..., 2] > 3000).all()
  inside = ((test.pose2d > 0) & (test.pose2d < 1000)).all(axis=(1, 2)).mean()
  assert inside > 0.99  # The rig keeps the actor in frame.


def test_bandai_config_loads_through_the_pipeline(root, tmp_path):
  from experiments import bandai as bandai_config
  config = bandai_config.get_config()
  config.data.bandai.root = root
  config.data.bandai.cache_dir = str(tmp_path / "cache")
  data = pipeline.load(config)
  assert data.train_2d.shape == (4 * (4 + 6), 14, 2) and data.train_3d.shape == (40, 14, 3)
  assert data.test_2d.shape == (20, 14, 2) and list(data.test_actions) == ["walk"] * 20
  head = np.linalg.norm(data.train_2d[:, data.layout.head], axis=-1)
  np.testing.assert_allclose(head.mean(), 1.0 / config.c, rtol=1e-5)  # One dataset scale: mean head-root = 1/c.
  config.data.bandai.test_actors = "AB"
  config.data.bandai.root = str(tmp_path / "missing")
  with pytest.raises(ValueError, match="data.bandai.root"):
    pipeline.load(config)


def test_turned_rig_turns_each_take_by_its_own_seeded_azimuth(root, tmp_path):
  cache = str(tmp_path / "cache")
  fixed = bandai.load(root, ("A", "B"), cache_dir=cache)
  turned = bandai.load(root, ("A", "B"), cache_dir=cache, rig_kind="turned", rig_seed=3)
  alone = bandai.load(root, ("B",), cache_dir=cache, rig_kind="turned", rig_seed=3)
  assert turned.names == fixed.names and list(turned.lengths) == list(fixed.lengths)
  # A take is turned alike whichever takes are loaded beside it: B's run is the first 4 x 4 frames.
  np.testing.assert_allclose(alone.pose3d, turned.pose3d[:16], atol=1e-3)
  # Turning the rig about the vertical moves no joint relative to another: the shape is the same,
  # but the view (and so the 3D in the camera frame and the 2D) is another.
  def pairwise(p):
    return np.linalg.norm(p[:, :, None] - p[:, None, :], axis=-1)
  np.testing.assert_allclose(pairwise(turned.pose3d), pairwise(fixed.pose3d), atol=1e-2)
  assert np.abs(turned.pose2d - fixed.pose2d).max() > 10.0
  a = bandai.take_azimuth("dataset-2_run_normal_001", 3)
  assert a == bandai.take_azimuth("dataset-2_run_normal_001", 3) != bandai.take_azimuth("dataset-2_run_normal_001", 4)
  assert 0.0 <= a < 2 * np.pi
  # turn() is a rotation about the vertical: heights kept, horizontal distances kept.
  world = np.random.default_rng(0).normal(size=(3, 14, 3)) * 100
  out = bandai.turn(world, 1.0)
  np.testing.assert_allclose(out[..., 1], world[..., 1])
  np.testing.assert_allclose(np.linalg.norm(out[..., [0, 2]], axis=-1), np.linalg.norm(world[..., [0, 2]], axis=-1))
  with pytest.raises(ValueError, match="data.bandai.rig: expected one of"):
    bandai.load(root, ("A",), cache_dir=cache, rig_kind="rotated")
  assert bandai.protocol_name("turned") == "bandai/turned-rig" and bandai.protocol_name("fixed") == "bandai/fixed-rig"


def test_real_turned_rig_covers_every_view(real, tmp_path):
  from lifting.core import metrics
  shares = {}
  for kind in ("fixed", "turned"):
    seqs = bandai.load(real, ("A", "B"), stride=10, cache_dir=str(tmp_path), rig_kind=kind)
    bins = metrics.yaw_bin(np.asarray(metrics.subject_yaw(seqs.pose3d, "paper14")))
    shares[kind] = np.bincount(bins, minlength=8) / len(bins)
  assert np.sort(shares["fixed"])[-4:].sum() > 0.9  # Four oblique bins hold nearly everything ...
  assert shares["turned"].min() > 0.08               # ... turned, every 45-degree bin holds its share.
