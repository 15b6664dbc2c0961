"""Fault injection on tiny runs: each kind of damage ends in a resumed run or a one-line error, nothing partial.

The damage is what a preempted pod, a full disk or a careless edit leaves: kills during a save, damaged
or corrupted checkpoints, torn logs, diverging runs, bad workdir files and edge cases of lifting.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from experiments import tiny
from lifting import train
from lifting.app import inference
from lifting.app import lift_files
from lifting.core import skeleton
from lifting.evaluators import reports
from lifting.evaluators import test_set
from lifting.training import checkpoint
from lifting.training import train_step

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(**train_fields):
  config = tiny.get_config()  # 6 steps
  config.train.update({**dict(checkpoint_every=2, eval_every=6, log_every=3, max_checkpoints=3), **train_fields})
  return config


def _template(config):
  return train_step.init_states(config, train_step.build_models(config), skeleton.get_layout(config.layout),
                              jax.random.key(0), train_step.make_mesh())


def _params(workdir, config=None):
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"), create=False)
  try:
    return ckpt.restore_with_step(_template(config or _config()))
  finally:
    ckpt.close()


def _assert_same(a, b):
  for x, y in zip(jax.tree.leaves(jax.device_get(a)), jax.tree.leaves(jax.device_get(b))):
    np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  """One uninterrupted run: checkpoints at steps 2, 4 and 6."""
  workdir = str(tmp_path_factory.mktemp("faults") / "reference")
  train.train_and_evaluate(_config(), workdir)
  return workdir, _params(workdir)[1]


def _copy(reference, tmp_path, name="run"):
  target = str(tmp_path / name)
  shutil.copytree(reference[0], target)
  return target


def _data_files(step_dir):
  """The files that hold the arrays' bytes (OCDBT data files, ``d/`` folders)."""
  return [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(step_dir, "default"))
          if os.path.basename(d) == "d" for f in fs]


def _truncate(step_dir):
  for path in _data_files(step_dir):
    with open(path, "r+b") as f:
      f.truncate(os.path.getsize(path) // 2)


def _zero(step_dir):
  for path in _data_files(step_dir):
    with open(path, "r+b") as f:
      f.write(bytes(os.path.getsize(path)))


def _flip_byte(step_dir):
  """One bit flipped in the middle of each data file."""
  for path in _data_files(step_dir):
    offset = os.path.getsize(path) // 2
    with open(path, "r+b") as f:
      f.seek(offset)
      byte = f.read(1)[0]
      f.seek(offset)
      f.write(bytes([byte ^ 0x10]))


def _delete_metadata(step_dir):
  os.remove(os.path.join(step_dir, "default", "_METADATA"))


def _garble_metadata(step_dir):
  with open(os.path.join(step_dir, "default", "_METADATA"), "w") as f:
    f.write("{not json")


def _empty(step_dir):
  shutil.rmtree(step_dir)
  os.makedirs(step_dir)


DAMAGE = {"truncated": _truncate, "zeroed": _zero, "flipped byte": _flip_byte, "metadata deleted": _delete_metadata,
          "metadata garbled": _garble_metadata, "emptied": _empty}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_damaged_newest_step_falls_back_to_the_previous_one(reference, tmp_path, kind, caplog):
  workdir = _copy(reference, tmp_path)
  DAMAGE[kind](os.path.join(workdir, "checkpoints", "6"))
  step, states = _params(workdir)  # A reader: falls back, moves nothing.
  assert step == 4 and os.path.isdir(os.path.join(workdir, "checkpoints", "6"))
  assert "checkpoint step 6" in caplog.text and "cannot be used" in caplog.text
  assert int(states.step) == 4


def test_the_run_sets_a_bad_step_aside_and_resumes_bit_identically(reference, tmp_path):
  workdir = _copy(reference, tmp_path)
  _flip_byte(os.path.join(workdir, "checkpoints", "6"))
  train.train_and_evaluate(_config(), workdir)  # Falls back to step 4 and trains steps 5-6 again.
  assert os.path.isdir(os.path.join(workdir, "checkpoints.bad", "6"))  # Renamed, not deleted.
  step, states = _params(workdir)
  assert step == 6
  _assert_same(states, reference[1])


def test_no_good_step_says_so_and_how_to_start_over(reference, tmp_path):
  workdir = _copy(reference, tmp_path)
  for step, damage in ((2, _zero), (4, _flip_byte), (6, _truncate)):
    damage(os.path.join(workdir, "checkpoints", str(step)))
  with pytest.raises(checkpoint.CheckpointError, match=r"no usable checkpoint .* To start over"):
    _params(workdir)
  with pytest.raises(ValueError, match="no usable checkpoint"):  # Lifting with it: the same, in one line.
    inference.load(workdir)


def test_killed_during_saves_resumes_to_the_same_parameters(reference, tmp_path):
  """SIGKILL while Orbax writes a step (its temporary folder exists), then the same command again."""
  workdir = str(tmp_path / "killed")
  args = [sys.executable, os.path.join(ROOT, "run.py"), "--config=" + os.path.join(ROOT, "experiments", "tiny.py"),
          f"--workdir={workdir}", "--config.train.checkpoint_every=1", "--config.train.eval_every=6"]
  proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
  folder, deadline = os.path.join(workdir, "checkpoints"), time.time() + 120
  try:
    while time.time() < deadline and proc.poll() is None:
      if os.path.isdir(folder) and any("tmp" in n for n in os.listdir(folder)) and len(os.listdir(folder)) > 1:
        break
      time.sleep(0.002)
  finally:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
  assert proc.returncode == -signal.SIGKILL, "the run ended before a save could be interrupted"
  train.train_and_evaluate(_config(checkpoint_every=1), workdir)
  _assert_same(_params(workdir)[1], reference[1])


def test_a_diverging_run_stops_with_its_last_finite_checkpoint_complete(tmp_path, monkeypatch):
  """NaN in step 3 (counted from 0), between the log steps (1, 3, 6) and before the checkpoint at 4: nothing after
  step 2 is saved, and the run stops with one line naming the term and the steps."""
  real = train_step.compile_train_step

  def poisoned(*args, **kwargs):
    compiled = real(*args, **kwargs)

    def step(states, *rest):
      states, metrics = compiled(states, *rest)
      if int(states.step) == 4:  # The step that starts at 3.
        metrics = {**metrics, "loss/total": metrics["loss/total"] * np.nan}
      return states, metrics
    return step

  monkeypatch.setattr(train_step, "compile_train_step", poisoned)
  workdir = str(tmp_path / "nan")
  with pytest.raises(FloatingPointError) as e:
    train.train_and_evaluate(_config(), workdir)
  message = str(e.value)
  assert "\n" not in message and "loss/total = nan at step 3" in message and "newest checkpoint, step 2" in message
  assert sorted(int(n) for n in os.listdir(os.path.join(workdir, "checkpoints"))) == [2]
  step, states = _params(workdir)
  assert step == 2 and all(np.all(np.isfinite(x)) for x in jax.tree.leaves(jax.device_get(states)))


def test_non_finite_states_are_never_saved():
  states = _template(_config())
  names = checkpoint.leaf_names(states)
  k = next(i for i, n in enumerate(names) if n.startswith("lifter/params/") and n.endswith("kernel"))
  leaves, tree = jax.tree.flatten(states)
  leaves[k] = leaves[k].at[0, 0].set(np.inf)
  with pytest.raises(FloatingPointError, match=f"non-finite values in {names[k]} .* after step 7"):
    train.check_states_finite(7, jax.tree.unflatten(tree, leaves))
  train.check_states_finite(7, states)


def test_torn_and_malformed_log_lines_are_dropped_on_resume(reference, tmp_path, caplog):
  workdir = _copy(reference, tmp_path)
  path = os.path.join(workdir, "metrics.jsonl")
  with open(path, "a") as f:
    f.write('{"no_step": 1}\n{"step": 7, "loss/tot')  # A line without a step, and a torn last line.
  train.train_and_evaluate(_config(), workdir)  # Already trained: resumes and evaluates.
  assert "skipped 2 malformed line(s)" in caplog.text
  with open(path) as f:
    assert all("step" in json.loads(line) for line in f)


def test_tensorboard_failures_never_stop_a_run_and_a_failed_save_stops_it_at_once(tmp_path, monkeypatch, caplog):
  import orbax.checkpoint as ocp
  import tensorboardX

  def full(*args, **kwargs):
    raise OSError(28, "No space left on device")
  monkeypatch.setattr(tensorboardX.SummaryWriter, "add_scalar", full)
  monkeypatch.setattr(ocp.CheckpointManager, "save", full)
  # The events fail from the first log on (step 1) and are turned off; the run goes on to its first save.
  with pytest.raises(checkpoint.CheckpointError, match=r"step 2 .* failed: OSError: \[Errno 28\] No space left"):
    train.train_and_evaluate(_config(), str(tmp_path / "full"))
  assert "TensorBoard events" in caplog.text and "off from here on" in caplog.text


def test_failed_checks_create_nothing(reference, tmp_path):
  blocked = tmp_path / "blocked"
  blocked.mkdir()
  (blocked / "checkpoints").write_text("a file where the folder goes")
  with pytest.raises(checkpoint.CheckpointError, match="is not a folder"):
    train.train_and_evaluate(_config(), str(blocked))
  assert sorted(os.listdir(blocked)) == ["checkpoints"]
  config = _config()
  config.train.init_from = str(tmp_path / "nonexistent")
  with pytest.raises(ValueError, match="train.init_from: no checkpoints/ folder"):
    train.train_and_evaluate(config, str(tmp_path / "fine_tune"))
  assert not os.path.exists(tmp_path / "nonexistent") and not os.path.exists(tmp_path / "fine_tune")
  with pytest.raises(ValueError, match="no checkpoint in"):
    reports.evaluate(_config(), str(tmp_path / "untrained"))
  assert not os.path.exists(tmp_path / "untrained")
  huge = _config()
  huge.train.batch_size = 100_000_000
  with pytest.raises(ValueError, match=r"train.batch_size: 100000000 poses .* need about .* GiB per device"):
    train.train_and_evaluate(huge, str(tmp_path / "huge"))
  assert not os.path.exists(tmp_path / "huge")


def test_workdir_files_are_checked_with_one_line(reference, tmp_path):
  workdir = _copy(reference, tmp_path)
  config_path = os.path.join(workdir, "config.json")
  for text, what in (("{}", "not a run's config \\(no layout, c, model"), ("[1, 2]", "expected a JSON object"), ('{"layout": "paper1', "not valid JSON")):
    with open(config_path, "w") as f:
      f.write(text)
    with pytest.raises(ValueError, match=f"config.json: .*{what}"):
      inference.load(workdir)
  shutil.copy(os.path.join(reference[0], "config.json"), config_path)
  norm_path = os.path.join(workdir, "normalization.json")
  norm = json.load(open(norm_path))
  for field, value in (("mean_pose", [[0, 0]]), ("dataset_scale", -1), ("layout", 3)):
    with open(norm_path, "w") as f:
      json.dump({**norm, field: value}, f)
    with pytest.raises(ValueError, match=f"normalization.json: field '{field}'"):
      inference.load(workdir)


def test_a_collapsed_lifter_is_reported(reference):
  config = _config()
  data = __import__("lifting.data.pipeline", fromlist=["pipeline"]).load(config)
  flat = lambda _s, x, _k, _lengths=None: np.concatenate([x, np.zeros(x.shape[:-1] + (1,), x.dtype)], -1)  # noqa: E731
  results, _ = test_set.test_all_and_poses(config, flat, type("S", (), {"lifter": None, "step": 0})(), data)
  assert results["collapsed_to_flat"] and results["depth_spread_ratio"] < test_set.FLAT_SPREAD


def test_lifts_are_whole_or_absent(tmp_path):
  rng = np.random.default_rng(0)
  poses = rng.uniform(100, 500, (6, 17, 3))
  poses[..., 2] = 1.0
  poses[3, :, :2] = 250.0  # Every joint at one point.
  path = str(tmp_path / "poses.npy")
  np.save(path, poses)
  out = tmp_path / "out"
  out.mkdir()
  (out / "poses3d.json").write_text("{}")
  (out / "stale.png").write_text("from an earlier lift")
  stale = tmp_path / ".lift-999999999-abc"  # A killed lift's temporary folder (no such process).
  stale.mkdir()
  result = lift_files.lift_file(None, path, str(out), layout="coco17", pictures=0)
  assert result["valid_poses"] == 5 and result["degenerate_poses"] == 1
  assert sorted(os.listdir(out)) == ["poses3d.json", "poses3d.npz"]  # Replaced as a whole.
  assert not stale.exists() and not [n for n in os.listdir(tmp_path) if n.startswith(".lift")]
  lifted = json.load(open(out / "poses3d.json"))["poses"]
  assert lifted[3]["degenerate"] and not lifted[3]["valid"]
  (tmp_path / "mine").mkdir()
  (tmp_path / "mine" / "thesis.tex").write_text("")
  with pytest.raises(ValueError, match="holds other files than a lift's"):
    lift_files.lift_file(None, path, str(tmp_path / "mine"), layout="coco17")
  (tmp_path / "empty.json").write_text("[]")
  with pytest.raises(ValueError, match="--layout applies to array inputs"):
    lift_files.lift_file(None, str(tmp_path / "empty.json"), str(out), layout="coco17")
  with pytest.raises(ValueError, match="no poses"):
    lift_files.lift_file(None, str(tmp_path / "empty.json"), str(out))
  assert sorted(os.listdir(out)) == ["poses3d.json", "poses3d.npz"]  # A failed lift leaves the output as it was.


def test_a_full_disk_is_found_before_the_save_starts(tmp_path, monkeypatch):
  ckpt = checkpoint.Checkpointer(str(tmp_path / "checkpoints"))
  usage = shutil.disk_usage(str(tmp_path))
  monkeypatch.setattr(checkpoint.shutil, "disk_usage", lambda _: usage._replace(free=1000))
  with pytest.raises(checkpoint.CheckpointError, match=r"step 1 .* needs about 0 MiB and the disk has 0 MiB free"):
    ckpt.save(1, {"w": jax.numpy.zeros(10_000)})
  ckpt.close()
  assert not [n for n in os.listdir(tmp_path / "checkpoints") if n.startswith("1")]
