"""Lifting your own keypoints: the loaded model, missing joints, layouts, buckets, and the run.py --mode=lift CLI."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from experiments import tiny
from lifting import train
from lifting.app import inference
from lifting.app import lift_files
from lifting.core import skeleton
from lifting.data import pipeline
from lifting.training import completion as completion_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAPER14 = skeleton.get_layout("paper14")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  """A tiny trained run (demo data) and its training 2D poses in pixels."""
  workdir = str(tmp_path_factory.mktemp("run"))
  config = tiny.get_config()
  config.train.num_steps = 3
  train.train_and_evaluate(config, workdir)
  train_seqs, _ = pipeline.load_splits(config)
  return workdir, train_seqs.pose2d.astype(np.float64)


@pytest.fixture(scope="module")
def model(run):
  return inference.load(run[0])


def test_lift_shapes_scale_and_flags(model, run):
  poses = run[1][:5]
  out = model.lift(poses)
  assert out.poses3d.shape == (5, 14, 3) and out.flags.shape == (5, 14) and out.valid.all()
  assert (out.flags == inference.OBSERVED).all()
  root = out.poses3d[:, list(PAPER14.root_joints)].mean(1)
  np.testing.assert_allclose(root, 0.0, atol=1e-5)  # Root-relative.
  np.testing.assert_allclose(np.linalg.norm(out.poses3d[:, PAPER14.head], axis=-1), 1.0, rtol=1e-5)  # Unit head.
  # poses3d * scale is in the input's units: its x, y match the input's root-relative 2D up to perspective.
  lateral = out.poses3d[..., :2] * out.scale[:, None, None]
  centred = poses - poses[:, list(PAPER14.root_joints)].mean(1, keepdims=True)
  assert np.median(np.abs(np.linalg.norm(lateral, axis=-1) / np.maximum(np.linalg.norm(centred, axis=-1), 1e-9) - 1)
                   [:, [0, 5, 6, 11]]) < 0.3
  # The same poses lifted alone, in another bucket, or scaled and shifted give the same 3D.
  np.testing.assert_allclose(model.lift(poses[:1]).poses3d[0], out.poses3d[0], atol=1e-4)
  moved = model.lift(poses * 3.0 + 100.0)
  np.testing.assert_allclose(moved.poses3d, out.poses3d, atol=1e-4)
  np.testing.assert_allclose(moved.scale, 3.0 * out.scale, rtol=1e-4)


def test_confidence_missing_joints_are_filled_never_zero(model, run):
  poses = run[1][:4].copy()
  conf = np.ones((4, 14))
  conf[0, PAPER14.joints.index("l_wrist")] = 0.0  # Partner visible: mirrored.
  conf[1, [PAPER14.joints.index("l_knee"), PAPER14.joints.index("r_knee")]] = 0.2  # Below min_score.
  conf[2, :10] = 0.0  # Too few observed joints: not lifted.
  poses[0, PAPER14.joints.index("l_wrist")] = np.nan  # A NaN with confidence 0 is just missing.
  out = model.lift(np.concatenate([poses, conf[..., None]], -1), min_score=0.5)
  assert out.flags[0, PAPER14.joints.index("l_wrist")] == inference.MISSING
  assert (out.flags[1, [1, 4]] == inference.MISSING).all() and out.flags[3].max() == inference.OBSERVED
  assert not out.valid[2] and np.isnan(out.poses3d[2]).all() and np.isnan(out.scale[2])
  assert np.isfinite(out.poses3d[[0, 1, 3]]).all() and np.isfinite(out.pose2d[[0, 1, 3]]).all()
  # The mirrored wrist is the right wrist reflected across the root-to-neck axis, not a zero.
  filled = out.pose2d[0, PAPER14.joints.index("l_wrist")]
  assert np.linalg.norm(filled - poses[0, PAPER14.joints.index("r_wrist")]) > 0 and np.abs(filled).min() > 1.0
  with pytest.raises(ValueError, match="non-finite.*confidence 0"):
    bad = run[1][:1].copy()
    bad[0, 3] = np.inf
    model.lift(bad)


def test_completion_network_completes(run, tmp_path):
  workdir, poses = run
  data = pipeline.load(tiny.get_config(), extra=False)
  comp = completion_lib.train_completer(data.train_2d, max_missing=4, width=16, num_steps=20, batch_size=32)
  completion_lib.save(comp, str(tmp_path / "completion"))
  model = inference.load(workdir, completion=str(tmp_path / "completion"))
  conf = np.ones((2, 14))
  conf[0, 0] = 0
  conf[1, :5] = 0  # More missing than the network was trained for: the fallback.
  out = model.lift(np.concatenate([poses[:2], conf[..., None]], -1))
  assert out.flags[0, 0] == inference.COMPLETED and (out.flags[0, 1:] == inference.OBSERVED).all()
  assert (out.flags[1, :5] == inference.MISSING).all() and out.valid.all()


def test_other_layouts_convert(model, run):
  coco = skeleton.get_layout("coco17")
  w, valid = skeleton.conversion_matrix("paper14", "coco17")
  pts = np.einsum("ds,nsc->ndc", w, run[1][:3])
  pts[:, ~valid] = np.nan  # COCO joints paper14 cannot give (face points): unknown.
  conf = np.where(valid, 1.0, 0.0)[None].repeat(3, 0)
  out = model.lift(np.concatenate([np.nan_to_num(pts), conf[..., None]], -1), layout=coco.name)
  assert out.poses3d.shape == (3, 14, 3)
  with pytest.raises(ValueError, match="expected shape"):
    model.lift(run[1][:2], layout="coco17")
  with pytest.raises(ValueError, match="layout"):
    model.lift(run[1][:2], layout="nope")


def test_buckets_compile_once(model, run):
  poses = np.repeat(run[1][:1], 300, axis=0)
  model.lift(poses[:10])
  before = model._lift._cache_size()
  for n in (1, 7, 200, 256):  # All in the 256 bucket.
    model.lift(poses[:n])
  assert model._lift._cache_size() == before
  # 300 = 256 + 44 padded to 256: still no new shape, and chunking changes nothing.
  np.testing.assert_allclose(model.lift_normalised(np.zeros((300, 14, 2)))[-1],
                             model.lift_normalised(np.zeros((1, 14, 2)))[0], atol=1e-6)
  assert model._lift._cache_size() == before


def test_load_errors(tmp_path, run):
  with pytest.raises(ValueError, match="no config.json"):
    inference.load(str(tmp_path))
  workdir = tmp_path / "copy"
  workdir.mkdir()
  with open(os.path.join(run[0], "config.json")) as f:
    config = json.load(f)
  (workdir / "config.json").write_text(json.dumps(config))
  with pytest.raises(ValueError, match="no checkpoints"):
    inference.load(str(workdir))
  config["model"]["width"] = 8  # Another network than the checkpoint's.
  other = tmp_path / "other"
  other.mkdir()
  os.symlink(os.path.join(run[0], "checkpoints"), other / "checkpoints")
  (other / "config.json").write_text(json.dumps(config))
  steps = sorted(os.listdir(os.path.join(run[0], "checkpoints")))
  with pytest.raises(ValueError, match=r"config.json and the checkpoint's weights disagree \(step \d+ stores "
                     r"lifter/.* with shape \(\d+,?\d*\) where the config builds"):
    inference.load(str(other))
  # A config problem, not damage: no step was set aside.
  assert sorted(os.listdir(os.path.join(run[0], "checkpoints"))) == steps
  assert not os.path.exists(os.path.join(run[0], "checkpoints.bad"))


def _cli(*args):
  return subprocess.run([sys.executable, "run.py", "--mode=lift", *args], cwd=ROOT, capture_output=True, text=True,
                        timeout=300)


def test_cli_lifts_an_array_file_and_writes_pictures(run, tmp_path):
  workdir, poses = run
  arr = tmp_path / "seq.npy"
  np.save(arr, poses[:6].astype(np.float32))
  out = tmp_path / "out"
  res = _cli(f"--workdir={workdir}", f"--input={arr}", "--layout=paper14", f"--output={out}", "--pictures=2",
             "--contact_sheet=3", "--animate", "--viewer")
  assert res.returncode == 0, res.stderr[-2000:]
  assert "lifted 6 of 6 poses" in res.stdout
  with np.load(out / "poses3d.npz") as z:
    assert z["poses3d"].shape == (6, 14, 3) and list(z["joints"]) == list(PAPER14.joints)
  with open(out / "poses3d.json") as f:
    doc = json.load(f)
  assert len(doc["poses"]) == 6 and doc["poses"][0]["joints"]["head"]["flag"] == "observed"
  assert len(doc["poses"][0]["joints"]["head"]["xyz"]) == 3
  pictures = sorted(os.listdir(out / "pictures"))
  assert len(pictures) == 2 and all(p.endswith(".png") for p in pictures)
  assert (out / "contact_sheet.png").exists() and (out / "animation.gif").exists() and (out / "animation.mp4").exists()
  assert "play" in (out / "viewer.html").read_text()


def test_cli_bad_input_is_one_line_and_leaves_nothing(run, tmp_path):
  bad = tmp_path / "bad.json"
  bad.write_bytes(b'{"annotations": [')  # Truncated.
  out = tmp_path / "out"
  res = _cli(f"--workdir={run[0]}", f"--input={bad}", "--format=coco", f"--output={out}")
  assert res.returncode != 0
  last = res.stderr.strip().splitlines()[-1]
  assert last.startswith("run.py: error: ") and str(bad) in last and "JSON" in last, res.stderr[-1500:]
  assert not out.exists() and not [p for p in os.listdir(tmp_path) if p.startswith(".lift-")]


@pytest.mark.parametrize("name, content, layout", [
    ("empty.json", b"", None), ("nan.npy", None, "paper14"), ("wrong_joints.npy", np.zeros((3, 13, 2)), "paper14"),
    ("bad_layout.npy", np.zeros((3, 14, 2)), "nope"), ("nothing.csv", b"x,y\n", "paper14"),
    ("no_usable_joint.npy", np.full((3, 14, 2), np.nan), "paper14")])
def test_bad_inputs_name_the_file_and_leave_nothing(run, tmp_path, name, content, layout):
  path = tmp_path / name
  if isinstance(content, bytes):
    path.write_bytes(content)
  else:
    if content is None:
      content = run[1][:2].copy()
      content[1, 4, 0] = np.nan
    np.save(path, content)
  out = tmp_path / "out"
  with pytest.raises(ValueError) as e:
    lift_files.lift_file(run[0], str(path), str(out), layout=layout)
  assert str(path) in str(e.value) and "\n" not in str(e.value).strip()
  assert not out.exists() and not [p for p in os.listdir(tmp_path) if p.startswith(".lift-")]


def test_cli_missing_checkpoint_and_arguments(tmp_path):
  arr = tmp_path / "a.npy"
  np.save(arr, np.zeros((2, 14, 2)))
  res = _cli(f"--workdir={tmp_path}", f"--input={arr}", "--layout=paper14", f"--output={tmp_path / 'o'}")
  assert res.returncode != 0 and "no config.json" in res.stderr.strip().splitlines()[-1]
  res = _cli(f"--workdir={tmp_path}")
  assert res.returncode != 0 and "--input" in res.stderr.strip().splitlines()[-1]


def test_per_joint_thresholds(model, run):
  poses = run[1][:2]
  conf = np.full((2, 14, 1), 0.5)
  thresholds = np.zeros(14)
  thresholds[PAPER14.joints.index("r_ankle")] = 0.9
  out = model.lift(np.concatenate([poses, conf], -1), min_score=thresholds)
  assert (out.flags[:, PAPER14.joints.index("r_ankle")] == inference.MISSING).all()
  assert (np.delete(out.flags, PAPER14.joints.index("r_ankle"), axis=1) == inference.OBSERVED).all()
  with pytest.raises(ValueError, match="one per paper14 joint"):
    model.lift(poses, min_score=[0.1, 0.2])


def test_export_round_trip_lifts_identically_without_the_training_machines_paths(run, model, tmp_path):
  folder = tmp_path / "exported"
  comp_dir = tmp_path / "comp"
  data = pipeline.load(tiny.get_config(), extra=False)
  completion_lib.save(completion_lib.train_completer(data.train_2d, max_missing=4, width=8, num_steps=2, batch_size=16),
                      str(comp_dir))
  files = inference.export(run[0], str(folder), meta={"row": "tiny"}, completion=str(comp_dir))
  assert inference.LIFTER_FILE in files and "completion/completion.json" in files
  again = inference.load(str(folder))
  assert again.step == model.step and again.completion is not None
  poses = run[1][:7]
  np.testing.assert_array_equal(again.lift(poses).poses3d, model.lift(poses).poses3d)
  with open(folder / "config.json") as f:
    text = f.read()
  assert tmp_path.anchor + "tmp" not in text and str(ROOT) not in text
  with open(folder / "model.json") as f:
    assert json.load(f)["row"] == "tiny"
  # Exported with test-time flip averaging: the lift is the mean of the lift and the mirrored lift of the mirror.
  flipped = tmp_path / "flipped"
  inference.export(run[0], str(flipped), completion=None, flip_average=True)
  averaged = inference.load(str(flipped))
  perm = list(PAPER14.flip_permutation)
  x = data.train_2d[:7]
  want = 0.5 * (model.lift_normalised(x) + model.lift_normalised(x[:, perm] * [-1.0, 1.0])[:, perm] * [-1.0, 1.0, 1.0])
  np.testing.assert_allclose(averaged.lift_normalised(x), want, rtol=1e-4, atol=1e-5)
  # And with roll averaging: the mean of the lifts of the 2D turned in the image, each turned back.
  rolled = tmp_path / "rolled"
  inference.export(run[0], str(rolled), completion=None, roll_degrees=(-10, 20))
  want = 0
  for a in np.radians([-10, 20]):
    turn = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    back = np.eye(3)
    back[:2, :2] = turn
    want = want + model.lift_normalised(x @ turn.T) @ back / 2
  np.testing.assert_allclose(inference.load(str(rolled)).lift_normalised(x), want, rtol=1e-4, atol=1e-5)
  # Weights of another network than config.json describes: one line naming the file.
  with open(folder / "config.json") as f:
    config = json.load(f)
  config["model"]["width"] = 8
  (folder / "config.json").write_text(json.dumps(config))
  with pytest.raises(ValueError, match=r"config\.json: checksum mismatch"):  # model.json holds every file's SHA-256.
    inference.load(str(folder))
  meta = json.loads((folder / "model.json").read_text())
  del meta["sha256"]  # As a model exported before the checksums: the weights themselves are checked.
  (folder / "model.json").write_text(json.dumps(meta))
  with pytest.raises(ValueError, match=r"lifter\.msgpack: .*shape"):
    inference.load(str(folder))


def test_shipped_model_loads_without_a_workdir_and_lifts():
  model = inference.load()
  assert model.workdir == inference.DEFAULT_MODEL and model.completion is not None
  assert model.layout.name == "paper14" and model.step > 0
  assert os.path.getsize(os.path.join(inference.DEFAULT_MODEL, inference.LIFTER_FILE)) < 10_000_000
  from lifting.data import synthetic
  demo = synthetic.make_demo_data(seed=1, num_train_sequences=1, num_test_sequences=1, num_frames=8, num_cameras=1)
  out = model.lift(demo.test_2d[0])
  assert out.valid.all() and np.isfinite(out.poses3d).all()
  # Unit head-to-root length, and a real depth: not a flat pose.
  np.testing.assert_allclose(np.linalg.norm(out.poses3d[:, PAPER14.head], axis=-1), 1.0, rtol=1e-5)
  assert np.ptp(out.poses3d[..., 2], axis=-1).min() > 0.05


def test_the_input_is_checked_before_any_model_is_loaded(tmp_path):
  missing = tmp_path / "nope.json"
  with pytest.raises(ValueError, match="nope.json"):  # Not "no config.json": the model is never looked at.
    lift_files.lift_file(str(tmp_path / "no_such_run"), str(missing), str(tmp_path / "out"))


def test_lift_file_smooths_a_video_when_asked(run, tmp_path):
  from lifting.app import smoothing
  arr = tmp_path / "seq.npy"
  np.save(arr, run[1][:12].astype(np.float32))
  plain = lift_files.lift_file(run[0], str(arr), str(tmp_path / "a"), layout="paper14", pictures=0)
  smooth = lift_files.lift_file(run[0], str(arr), str(tmp_path / "b"), layout="paper14", pictures=0, smooth=1.5)
  assert plain["smooth_sigma_frames"] == 0 and smooth["smooth_sigma_frames"] == 1.5
  with np.load(tmp_path / "a" / "poses3d.npz") as a, np.load(tmp_path / "b" / "poses3d.npz") as b:
    np.testing.assert_allclose(b["poses3d"], smoothing.gaussian(a["poses3d"], 1.5, a["valid"]), rtol=1e-5, atol=1e-6)
  with pytest.raises(ValueError, match="--smooth"):
    lift_files.lift_file(run[0], str(arr), str(tmp_path / "c"), layout="paper14", smooth=-1)


def test_cli_tracks_two_people_in_an_openpose_folder(run, tmp_path):
  """Two people per frame, listed in a changing order: one track each, per-track movies and viewers, --track."""
  poses = run[1]
  folder = tmp_path / "video"
  folder.mkdir()
  body25 = lambda p14: skeleton.convert(p14, "paper14", "openpose25", fill=0.0)[0]  # noqa: E731
  for t in range(6):
    a, b = body25(poses[t] + [4.0 * t, 0]), body25(poses[40 + t] + [400.0 - 4 * t, 0])
    people = [a, b] if t % 2 else [b, a]
    data = {"people": [{"pose_keypoints_2d": np.concatenate([p, (p[:, :1] != 0) * 0.9], -1).ravel().tolist()}
                       for p in people]}
    (folder / f"clip_{t:012d}_keypoints.json").write_text(json.dumps(data))
  out = tmp_path / "out"
  res = _cli(f"--workdir={run[0]}", f"--input={folder}", f"--output={out}", "--pictures=0", "--animate", "--viewer")
  assert res.returncode == 0, res.stderr[-2000:]
  assert "lifted 12 of 12 poses in 2 tracks" in res.stdout
  with open(out / "poses3d.json") as f:
    doc = json.load(f)
  by_track = {}
  for pose in doc["poses"]:
    by_track.setdefault(pose["track"], set()).add(int(pose["id"].split("#person")[1]) ^ (int(pose["id"][5:17]) % 2 == 0))
  assert sorted(by_track) == [0, 1] and all(len(v) == 1 for v in by_track.values())  # each track is one person
  with np.load(out / "poses3d.npz") as z:
    assert sorted(set(z["tracks"].tolist())) == [0, 1]
  for name in ("animation_track0.gif", "animation_track1.mp4", "viewer_track0.html", "viewer_track1.html"):
    assert (out / name).exists(), name
  one = tmp_path / "one"
  res = _cli(f"--workdir={run[0]}", f"--input={folder}", f"--output={one}", "--pictures=0", "--track=1", "--viewer")
  assert res.returncode == 0 and "lifted 6 of 6 poses" in res.stdout, res.stderr[-2000:]
  assert (one / "viewer.html").exists()
  res = _cli(f"--workdir={run[0]}", f"--input={folder}", f"--output={tmp_path / 'x'}", "--track=5")
  assert res.returncode != 0 and "--track=5: the input has tracks [0, 1]" in res.stderr


def test_output_folder_permissions_a_kill_and_an_unwritable_parent(tmp_path, monkeypatch):
  import signal
  import tempfile

  def write(folder):
    with open(os.path.join(folder, "poses3d.json"), "w") as f:
      f.write("{}")
    return ["poses3d.json"]
  out = tmp_path / "out"
  lift_files.replace_folder(str(out), write)
  umask = os.umask(0)
  os.umask(umask)
  assert os.stat(out).st_mode & 0o777 == 0o777 & ~umask  # Not mkdtemp's private 0700.

  def killed(folder):
    write(folder)
    os.kill(os.getpid(), signal.SIGTERM)  # As `kill PID` would, half way through writing.
  before = signal.getsignal(signal.SIGTERM)
  with pytest.raises(SystemExit):
    lift_files.replace_folder(str(tmp_path / "killed"), killed)
  assert not (tmp_path / "killed").exists() and not [p for p in os.listdir(tmp_path) if p.startswith(".lift-")]
  assert signal.getsignal(signal.SIGTERM) is before

  def denied(*args, **kwargs):
    raise PermissionError(13, "Permission denied", str(tmp_path / ".lift-1-x"))
  monkeypatch.setattr(tempfile, "mkdtemp", denied)
  with pytest.raises(ValueError) as e:
    lift_files.replace_folder(str(tmp_path / "other"), write)
  assert str(e.value) == f"--output {tmp_path / 'other'}: cannot write in {tmp_path} (Permission denied)"
