"""The ablation command's machinery on tiny demo-data runs: rows, seeds, resume, table, figures."""

import json
import os

import numpy as np
import pytest
import scipy.io

from experiments import tiny
from experiments.drivers import ablation
from lifting import configs
from lifting.data import synthetic

_ROW_CONFIG = ablation.row_config  # As the driver has it (the fixture below shrinks it for tiny runs).


@pytest.fixture(scope="module")
def tiny_rows(tmp_path_factory):
  """Every row config shrunk to tiny sizes on the demo data, keeping its loss terms; DA rows read 40 LSPET-format
  demo poses, 10 of them with a missing joint."""
  monkeypatch = pytest.MonkeyPatch()
  real = ablation.row_config
  demo = synthetic.make_demo_data(seed=3, num_train_sequences=2, num_test_sequences=1, num_frames=20, num_cameras=1)
  visible = np.ones((40, 14), bool)
  visible[30:, 0] = False
  joints = np.concatenate([demo.train_2d.reshape(-1, 14, 2)[:40], visible[..., None]], axis=-1)
  source_file = str(tmp_path_factory.mktemp("wild") / "joints.mat")
  scipy.io.savemat(source_file, {"joints": joints.transpose(1, 2, 0)})  # LSPET: [14, 3, N]

  def shrunk(row, seed, out, profile, steps=0, source=""):
    config = real(row, seed, out, profile, steps, "synthetic")
    small = tiny.get_config()
    config.data.synthetic = small.data.synthetic
    config.model.width, config.model.lifter_blocks, config.model.disc_blocks = 16, 1, 1
    window = configs.window_size(config)  # A temporal lifter's batch holds whole windows.
    config.train.batch_size, config.train.num_steps = -(-16 // window) * window, 4
    config.train.eval_every = config.train.checkpoint_every = 2
    config.adapt.sources = f"lspet:{source_file}"
    config.adapt.update(width=16, blocks=1, disc_blocks=1, batch_size=16, num_steps=3)
    config.adapt.completion.update(width=16, batch_size=16, num_steps=3)
    if config.data.extra.kind != "none":
      config.data.extra.path = os.path.join(ablation.adapt_dir(out, config), "poses.npz")
    return config

  monkeypatch.setattr(ablation, "row_config", shrunk)
  yield
  monkeypatch.undo()


@pytest.fixture(scope="module")
def finished(tiny_rows, tmp_path_factory):
  """Tiny runs of the rows the tests need, shared by them (each run costs a compilation)."""
  out = str(tmp_path_factory.mktemp("ablation"))
  rows = {r.slug: r for r in ablation.ROWS}
  done = {}
  for slug, seeds in (("adv_ss", [0, 1]), ("supervised", [0]), ("adv_ss_td", [0]), ("semi_supervised", [0]),
                      ("adv_ss_da", [0]), ("adv_ss_raw", [0]), ("adv_ss_td_noisy2d_test", [0]),
                      ("supervised_noisy2d_test", [0])):
    done[slug] = ablation.run_seeds(rows[slug], seeds, out, "cpu", 0)  # Adv+SS's two seeds: one program.
  return out, done


def test_rows_seeds_resume_and_table(finished):
  out, done = finished
  rows = {r.slug: r for r in ablation.ROWS}
  # Fine-tuning started from the Adv+SS+TD run, on its own fresh schedule.
  with open(os.path.join(ablation.run_dir(out, "semi_supervised", 0), "config.json")) as f:
    assert json.load(f)["train"]["init_from"] == ablation.run_dir(out, "adv_ss_td", 0)
  mtime = os.path.getmtime(os.path.join(ablation.run_dir(out, "adv_ss", 0), "results.json"))
  assert [r["timing"]["seeds_in_program"] for r in done["adv_ss"]] == [2, 2]
  assert done["supervised"][0]["timing"]["seeds_in_program"] == 1
  again = ablation.run_one(rows["adv_ss"], 0, out, "cpu", 0)  # Finished: skipped, not retrained.
  assert again == done["adv_ss"][0]
  assert os.path.getmtime(os.path.join(ablation.run_dir(out, "adv_ss", 0), "results.json")) == mtime
  exact_2d = {slug: runs for slug, runs in done.items() if "noisy2d" not in slug}
  text = ablation.write_table(out, exact_2d, "cpu")
  main, yaw = text.split("PA-MPJPE (mm) by the subject's yaw")
  assert main.startswith("### Protocol synthetic")
  lines = {line.split("|")[1].strip(): line for line in main.splitlines() if line.startswith("| ")}
  assert " ± " in lines["Adv+SS"] and "| 2 |" in lines["Adv+SS"]
  assert "- Adv+DA: not run" in text and "- SS: not run" in text
  yaw_lines = {line.split("|")[1].strip(): line for line in yaw.splitlines() if line.startswith("| ")}
  assert {"share of test poses", "baseline: flat", "Adv+SS", "supervised (reference)"} <= set(yaw_lines)
  # The DA row and its control share one preparation of the source poses: adapted vs raw.
  adapt_runs = [d for d in os.listdir(os.path.join(out, "runs")) if d.startswith("adapt-")]
  assert len(adapt_runs) == 1
  with open(os.path.join(out, "runs", adapt_runs[0], "adapt.json")) as f:
    assert json.load(f)["sources"]["lspet"]["completed"] == 10
  for slug, kind in (("adv_ss_da", "adapted"), ("adv_ss_raw", "raw")):
    with open(os.path.join(ablation.run_dir(out, slug, 0), "config.json")) as f:
      assert json.load(f)["data"]["extra"]["kind"] == kind
    assert lines[rows[slug].name].count("|") == 13
  assert "baseline: flat" in lines and "| 1.00 |" in lines["supervised (reference)"]
  with open(os.path.join(out, "table.json")) as f:
    table = json.load(f)
  assert table["rows"]["adv_ss_raw"]["extra"]["kind"] == "raw" and "extra" not in table["rows"]["adv_ss"]
  assert len(table["rows"]["adv_ss"]["pa_mpjpe"]["per_seed"]) == 2 and table["rows"]["adv_ss"]["wall_s"][0] > 0
  adv_ss = table["rows"]["adv_ss"]
  assert adv_ss["weights"] == "ema" and len(adv_ss["yaw_bins_worse_than_flat"]) == 2 and adv_ss["per_yaw_pa_mpjpe"]
  assert adv_ss["ratio_to_supervised"] == pytest.approx(adv_ss["pa_mpjpe"]["mean"] / table["rows"]["supervised"][
      "pa_mpjpe"]["mean"])
  # What a new machine sees: every finished run under OUT, whichever command ran it.
  assert set(ablation.finished_runs(out, 2)) == set(done)
  assert "- supervised, trained and tested on detector-like 2D: not run" in text


def test_unknown_row_is_rejected(tmp_path):
  from absl import app
  from absl.testing import flagsaver
  ablation.flags.FLAGS(["ablation", f"--out={tmp_path}"])
  with flagsaver.flagsaver(only=["ss", "nope"]), pytest.raises(app.UsageError, match="nope"):
    ablation.main([])


def test_figures_from_finished_runs(finished):
  out, runs = finished
  done = {slug: runs[slug] for slug in ("adv_ss", "adv_ss_td", "adv_ss_da", "adv_ss_td_noisy2d_test")}
  paths = ablation.draw_figures(out, done, "cpu", 0, "synthetic")
  names = {os.path.basename(p) for p in paths}
  assert {"limb_ratios.png", "poses_adv_ss_td.png", "training_curves.png", "adaptation_examples.png",
          "adaptation_corrections.png", "adaptation_ratios.png", "test_curves.png", "yaw_synthetic.png"} <= names
  for p in paths:
    with open(p, "rb") as f:
      assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_every_row_config_validates_and_semi_rows_differ_only_in_what_they_sample():
  from lifting import configs
  for row in ablation.ROWS:
    configs.validate(ablation.row_config(row, 0, "/tmp/out", "cpu", 0))
  rows = {r.slug: r for r in ablation.ROWS}
  takes, frames = (ablation.row_config(rows[s], 1, "/tmp/out", "cpu", 0) for s in ("semi_supervised",
                                                                                   "semi_supervised_frames"))
  assert (takes.data.supervised_unit, frames.data.supervised_unit) == ("take", "frame")
  assert frames.train.init_from == takes.train.init_from == ablation.run_dir("/tmp/out", "adv_ss_td", 1)
  frames.data.supervised_unit = "take"
  assert frames.to_dict() == takes.to_dict()


def test_every_row_config_trains_on_its_benchmark_by_itself():
  """What `python run.py --config=experiments/<row>.py` trains is what the driver trains: the driver only adds the
  seed, the run folders (fine-tuning's start, the prepared in-the-wild poses) and smoke-test overrides."""
  import importlib
  for row in ablation.ROWS:
    own = importlib.import_module(f"experiments.{row.slug}").get_config("cpu")
    assert own.data.source in ("bandai", "footage"), row.slug  # Both read the bandai files.
    driven = _ROW_CONFIG(row, 0, "/tmp/out", "cpu", 0)
    for field in ("seed", "train", "data"):
      del own[field], driven[field]
    assert driven.to_dict() == own.to_dict(), row.slug


def test_detector_like_rows_evaluate_runs_without_training_them(finished):
  out, done = finished
  source = ablation.run_dir(out, "adv_ss_td", 0)
  row = done["adv_ss_td_noisy2d_test"][0]
  assert row["eval_of"] == source and row["protocol"] == "synthetic+detector-like-2d"
  assert not os.path.exists(os.path.join(ablation.run_dir(out, "adv_ss_td_noisy2d_test", 0), "checkpoints"))
  with open(os.path.join(source, "results.json")) as f:
    assert json.load(f)["protocol"] == "synthetic"  # The run's own results are untouched.
  assert row["baselines"]["flat"]["pa_mpjpe"] != done["adv_ss_td"][0]["baselines"]["flat"]["pa_mpjpe"]
  text = ablation.write_table(out, done, "cpu")
  assert "### Protocol synthetic+detector-like-2d" in text
  with open(os.path.join(out, "table.json")) as f:
    rows = json.load(f)["rows"]
  # Read against the supervised lifter given the same (detector-like) inputs.
  assert rows["adv_ss_td_noisy2d_test"]["ratio_to_supervised"] == pytest.approx(
      row["pa_mpjpe"] / done["supervised_noisy2d_test"][0]["pa_mpjpe"])


def test_robustness_sweep_reproduces_the_exact_2d_result_at_scale_zero(finished, tmp_path):
  from experiments.drivers import robustness
  out, done = finished
  config = ablation.row_config(ablation.ROWS_BY_SLUG["adv_ss_td"], 0, out, "cpu")
  dirs = {s: [ablation.run_dir(out, s, 0)] for s in ("adv_ss_td", "supervised")}
  # An evaluation row lifts the runs it names with its own settings: here flip averaging on the same run.
  flip = {"adv_ss_td_body_flip": [ablation.run_dir(out, "adv_ss_td", 0)]}
  result = robustness.sweep(config, {**dirs, **flip}, {"adv_ss_td": "exact", "supervised": "noisy",
                                                       "adv_ss_td_body_flip": "exact"}, [0.0, 2.0])
  flipped = result["lifters"].pop("adv_ss_td_body_flip")["mean"][0]
  assert np.isfinite(flipped) and flipped != pytest.approx(result["lifters"]["adv_ss_td"]["mean"][0], abs=1e-3)
  for slug in dirs:
    clean, noisy = result["lifters"][slug]["mean"]
    # Scale 0: the run's own test set, through Model.lift from pixels as its results report it.
    assert clean == pytest.approx(done[slug][0]["generalisation"]["test"]["lift"]["pa_mpjpe"], rel=1e-4)
    assert noisy != clean
  assert result["flat"][0] == pytest.approx(done["adv_ss_td"][0]["baselines"]["flat"]["pa_mpjpe"], rel=1e-4)
  path = robustness.draw(result, {}, str(tmp_path / "robustness.png"))
  with open(path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
