"""What a fault probe broke: seeds killed between their saves, weights that disagree with their config, damaged
exported models, extreme flags and unhelpful messages. Each case ends in a clean resume or one line."""

import json
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from experiments import tiny
from lifting import configs
from lifting import train
from lifting.app import inference
from lifting.app import lift_files
from lifting.core import skeleton
from lifting.training import checkpoint
from lifting.training import train_step

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _seeds_config(num_steps=6):
  config = tiny.get_config()
  config.train.num_steps = num_steps
  config.train.seeds = 2
  config.eval.generalisation.enabled = False
  return config


def _params(workdir):
  config = configs.load(workdir)
  models = train_step.build_models(config)
  template = train_step.init_states(config, models, skeleton.get_layout(config.layout),
                                    jax.random.key(0), train_step.make_mesh())
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"), create=False)
  try:
    return jax.device_get(ckpt.restore(template))
  finally:
    ckpt.close()


@pytest.fixture(scope="module")
def seeds_reference(tmp_path_factory):
  """Two seeds trained as one program to step 6, uninterrupted (checkpoints at 3 and 6)."""
  workdir = str(tmp_path_factory.mktemp("seeds") / "run")
  train.train_and_evaluate(_seeds_config(), workdir)
  return workdir


def test_seeds_killed_between_their_saves_resume_from_the_newest_common_step_bit_identically(seeds_reference,
                                                                                             tmp_path):
  run = str(tmp_path / "run")
  shutil.copytree(seeds_reference, run)
  for seed in (0, 1):  # Both at step 3, as before the final saves ...
    shutil.rmtree(os.path.join(run, f"seed{seed}", "checkpoints", "6"))
    os.remove(os.path.join(run, f"seed{seed}", "results.json"))
  # ... then seed 0 saved step 6 and a kill came before seed 1's save: seed 0 at 6, seed 1 at 3.
  shutil.copytree(os.path.join(seeds_reference, "seed0", "checkpoints", "6"), os.path.join(run, "seed0", "checkpoints", "6"))
  train.train_and_evaluate(_seeds_config(), run)
  for seed in (0, 1):
    a, b = _params(os.path.join(run, f"seed{seed}")), _params(os.path.join(seeds_reference, f"seed{seed}"))
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
      np.testing.assert_array_equal(x, y)
  assert os.listdir(os.path.join(run, "seed0", "checkpoints.aside")) == ["6"]  # Set aside, not deleted.
  # A damaged newest step in one seed: the same resume.
  for seed in (0, 1):
    os.remove(os.path.join(run, f"seed{seed}", "results.json"))
  step_dir = os.path.join(run, "seed1", "checkpoints", "6")
  for folder, _, files in os.walk(step_dir):
    for name in files:
      if name != checkpoint.CHECKSUMS and os.path.getsize(os.path.join(folder, name)) > 64:
        with open(os.path.join(folder, name), "r+b") as f:
          f.seek(32)
          f.write(b"\xff" * 16)
  train.train_and_evaluate(_seeds_config(), run)
  a, b = _params(os.path.join(run, "seed1")), _params(os.path.join(seeds_reference, "seed1"))
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)


def test_a_seeds_folder_is_not_taken_for_one_run_and_says_which_folders_to_give(seeds_reference, tmp_path):
  one = _seeds_config()
  one.train.seeds = 1
  with pytest.raises(ValueError, match=r"holds the runs of several seeds \(seed0, seed1\).*train\.seeds=2"):
    train.train_and_evaluate(one, seeds_reference)
  assert sorted(os.listdir(seeds_reference)) == ["seed0", "seed1"]  # Nothing started beside them.
  with pytest.raises(ValueError, match=r"several seeds .*--workdir=.*seed0"):
    inference.load(seeds_reference)
  with pytest.raises(ValueError, match=r"several seeds .*--workdir=.*seed0"):
    configs.load(seeds_reference)


def test_a_run_killed_after_its_last_save_is_finished_without_duplicate_rows_or_extra_steps(seeds_reference,
                                                                                             tmp_path):
  run = str(tmp_path / "run")
  shutil.copytree(seeds_reference, run)
  for seed in (0, 1):  # Killed after the final save, before the results; one seed's oldest step not yet deleted.
    os.remove(os.path.join(run, f"seed{seed}", "results.json"))
  shutil.copytree(os.path.join(run, "seed0", "checkpoints", "3"), os.path.join(run, "seed0", "checkpoints", "0"))
  config = _seeds_config()
  config.train.max_checkpoints = 2
  train.train_and_evaluate(config, run)
  for seed in (0, 1):
    with open(os.path.join(run, f"seed{seed}", "metrics.jsonl")) as f:
      rows = [json.loads(line) for line in f]
    steps = [r["step"] for r in rows if "test_ema/pa_mpjpe" in r]
    assert steps == sorted(set(steps)) == [3, 6]
    assert sorted(os.listdir(os.path.join(run, f"seed{seed}", "checkpoints"))) == ["3", "6"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  """A tiny run's exported model (with its completion network and discriminators)."""
  base = tmp_path_factory.mktemp("exported")
  config = tiny.get_config()
  config.eval.generalisation.enabled = False
  train.train_and_evaluate(config, str(base / "run"))
  folder = base / "model"
  written = inference.export(str(base / "run"), str(folder), completion=None)
  assert {"model.json", "discriminators.msgpack", "lifter.msgpack"} <= set(written)
  return folder


def _copy_model(exported, tmp_path, checksums=True):
  folder = tmp_path / "model"
  shutil.copytree(exported, folder)
  if not checksums:  # As a model exported before the checksums: the files themselves are checked.
    meta = json.loads((folder / "model.json").read_text())
    del meta["sha256"]
    (folder / "model.json").write_text(json.dumps(meta))
  return folder


def _edit_config(folder, edit):
  config = json.loads((folder / "config.json").read_text())
  edit(config)
  (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("case,match", [
    ("fewer_blocks", r"lifter\.msgpack: holds other arrays"),
    ("no_blocks_field", r"lifter\.msgpack: holds other arrays"),
    ("width_string", r"config\.json: model\.width: expected an integer, got '32'"),
    ("width_fraction", r"config\.json: model\.width: expected an integer, got 32\.5"),
    ("flip_string", r"config\.json: eval\.flip_average: expected true or false, got 'false'"),
    ("weights_bogus", r"config\.json: eval\.weights: expected 'raw', or 'ema'"),
])
def test_a_config_that_disagrees_with_its_weights_or_holds_bad_values_is_refused(exported, tmp_path, case, match):
  folder = _copy_model(exported, tmp_path, checksums=False)
  edits = {
      "fewer_blocks": lambda c: c["model"].update(lifter_blocks=0),
      "no_blocks_field": lambda c: c["model"].pop("lifter_blocks"),  # An older config: the default's 4 blocks.
      "width_string": lambda c: c["model"].update(width="32"),
      "width_fraction": lambda c: c["model"].update(width=32.5),
      "flip_string": lambda c: c["eval"].update(flip_average="false"),
      "weights_bogus": lambda c: c["eval"].update(weights="bogus"),
  }
  _edit_config(folder, edits[case])
  with pytest.raises(ValueError, match=match):
    inference.load(str(folder))


def test_the_shipped_model_with_fewer_blocks_in_its_config_is_refused(tmp_path):
  folder = tmp_path / "shipped"
  shutil.copytree(inference.DEFAULT_MODEL, folder)
  _edit_config(folder, lambda c: c["model"].update(lifter_blocks=1))
  with pytest.raises(ValueError, match=r"config\.json: checksum mismatch|lifter\.msgpack: holds other arrays"):
    inference.load(str(folder))


def test_damaged_exported_files_are_found_by_their_checksums(exported, tmp_path):
  folder = _copy_model(exported, tmp_path)
  data = bytearray((folder / "lifter.msgpack").read_bytes())
  data[-200:-136] = bytes(b ^ 0xFF for b in data[-200:-136])  # 64 flipped bytes: still a readable file.
  (folder / "lifter.msgpack").write_bytes(bytes(data))
  with pytest.raises(ValueError, match=r"lifter\.msgpack: checksum mismatch"):
    inference.load(str(folder))


@pytest.mark.parametrize("text,match", [
    ("[1, 2, 3]", r"model\.json: expected a JSON object"),
    ('{"step": null}', r"model\.json: field 'step': expected an integer >= 0, got None"),
    ('{"step": Infinity}', r"model\.json: field 'step': expected an integer >= 0, got inf"),
    ('{"step": "abc"}', r"model\.json: field 'step': expected an integer >= 0, got 'abc'"),
    ("{", r"model\.json: not valid JSON"),
])
def test_a_bad_model_json_is_one_line_naming_it(exported, tmp_path, text, match):
  folder = _copy_model(exported, tmp_path)
  (folder / "model.json").write_text(text)
  with pytest.raises(ValueError, match=match):
    inference.load(str(folder))


def test_damaged_completion_files_and_a_missing_normalisation_are_named(exported, tmp_path):
  from lifting.training import completion as completion_lib
  folder = _copy_model(exported, tmp_path, checksums=False)
  comp = folder / "completion"
  comp.mkdir()
  (comp / "completion.json").write_text('{"width": 8, "num_layers": 1, "num_joints": 14, "max_missing": 2, '
                                        '"mean_pose": [[0, 0]]')
  (comp / "completion.msgpack").write_bytes(b"\x81\xa6params")
  with pytest.raises(ValueError, match=r"completion\.json: not valid JSON"):
    completion_lib.load(str(comp))
  mean = np.zeros((14, 2)).tolist()
  (comp / "completion.json").write_text(json.dumps({"width": 8, "num_layers": 1, "num_joints": 14, "max_missing": 2,
                                                     "mean_pose": mean}))
  with pytest.raises(ValueError, match=r"completion\.msgpack: not a weights file"):
    completion_lib.load(str(comp))
  os.remove(folder / "normalization.json")
  with pytest.raises(ValueError, match=r"normalization\.json: missing"):
    inference.load(str(folder), completion=None)


def test_the_command_line_ends_a_bad_model_in_one_line(exported, tmp_path):
  folder = _copy_model(exported, tmp_path)
  (folder / "model.json").write_text('{"step": Infinity}')
  keypoints = tmp_path / "walk.npy"
  np.save(keypoints, np.random.default_rng(0).uniform(0, 100, (3, 14, 2)))
  out = subprocess.run([sys.executable, "run.py", "--mode=lift", f"--workdir={folder}", f"--input={keypoints}",
                        "--layout=paper14", f"--output={tmp_path / 'out'}"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
  lines = [line for line in out.stderr.splitlines() if line.strip()]
  assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-2000:]
  assert lines[-1].startswith("run.py: error: ") and "model.json: field 'step'" in lines[-1]


@pytest.mark.parametrize("smooth", [float("inf"), 1e9, -1.0])
def test_extreme_smoothing_widths_are_refused(smooth):
  with pytest.raises(ValueError, match=r"--smooth: expected a width in \[0, 1000\] frames"):
    lift_files.check_smooth(smooth)


@pytest.mark.parametrize("fps", [float("inf"), 1e-20, 0.0, 5000.0])
def test_extreme_frame_rates_are_refused(tmp_path, fps):
  from lifting.app import frames
  with pytest.raises(ValueError, match=r"--fps: expected a frame rate in \[0\.1, 1000\]"):
    frames.open_frames(str(tmp_path), fps=fps)


@pytest.mark.parametrize("kwargs,match", [
    ({"num_people": 2147483648}, r"--num_people: expected 1 to 100 people"),
    ({"num_people": 0}, r"--num_people: expected 1 to 100 people"),
    ({"bvh": True, "height_m": float("inf")}, r"--height: expected a body height in \[0\.5, 2\.5\] metres"),
    ({"focal_mm": 0.0}, r"--focal_mm: expected a 35 mm-equivalent focal length"),
    ({"focal_mm": 26.0, "fov_deg": 60.0}, r"--focal_mm and --fov both give the focal length"),
    ({"workdir": "/nonexistent/run"}, r"/nonexistent/run: no config\.json"),
])
def test_video_flags_and_the_workdir_are_checked_before_the_clip_is_read(tmp_path, kwargs, match):
  from lifting.app import video
  args = {"workdir": None, **kwargs}
  # The input does not exist: each check must come before the clip is opened.
  with pytest.raises(ValueError, match=match):
    video.lift_video(args.pop("workdir"), str(tmp_path / "missing.mp4"), str(tmp_path / "out"), **args)


def test_an_output_under_a_file_and_an_empty_image_folder_say_what_is_wrong(tmp_path):
  from lifting.app import frames
  (tmp_path / "file").write_text("x")
  with pytest.raises(ValueError, match=r"file is a file, so no folder can be made under it"):
    lift_files.check_output(str(tmp_path / "file" / "sub" / "out"))
  empty = tmp_path / "empty"
  empty.mkdir()
  assert frames.is_media(str(empty))
  with pytest.raises(ValueError, match=r"a folder without images"):
    frames.open_frames(str(empty))


def test_ffmpeg_errors_are_quoted_from_what_ffmpeg_said(tmp_path):
  from lifting.app import frames
  bad = tmp_path / "bad.mp4"
  bad.write_bytes(b"\0" * 1000)
  with pytest.raises(ValueError) as e:
    frames.open_frames(str(bad))
  message = str(e.value)
  assert "Invalid data found when processing input" in message and "ffmpeg version" not in message
  assert "configuration:" not in message and len(message) < 600


def test_eval_reads_the_workdirs_own_config_unless_one_is_given(tmp_path):
  config = tiny.get_config()
  config.eval.generalisation.enabled = False
  train.train_and_evaluate(config, str(tmp_path / "run"))
  out = subprocess.run([sys.executable, "run.py", "--mode=eval", f"--workdir={tmp_path / 'run'}",
                        "--config.eval.flip_average=True"], cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  assert "test PA-MPJPE" in out.stdout


def test_a_run_whose_every_step_is_unreadable_says_so_in_a_few_lines(tmp_path):
  config = tiny.get_config()
  config.eval.generalisation.enabled = False
  run = tmp_path / "run"
  train.train_and_evaluate(config, str(run))
  for step in os.listdir(run / "checkpoints"):  # The arrays' data damaged, the metadata intact: TensorStore reads.
    for folder, _, files in os.walk(run / "checkpoints" / step):
      for name in files:
        path = os.path.join(folder, name)
        if f"{os.sep}d{os.sep}" in path or name == "manifest.ocdbt":
          data = bytearray(open(path, "rb").read())
          data[::7] = bytes(b ^ 0x5A for b in data[::7])
          open(path, "wb").write(bytes(data))
  out = subprocess.run([sys.executable, "run.py", "--mode=eval", f"--workdir={run}"], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
  lines = [line for line in out.stderr.splitlines() if line.strip()]
  assert out.returncode == 1 and "no usable checkpoint" in lines[-1], out.stderr[-2000:]
  assert "Traceback" not in out.stderr and "Event loop is closed" not in out.stderr
  assert len(lines) <= 12, "\n".join(lines[:40])
