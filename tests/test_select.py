"""The selection command's configs and its summary, on fake finished runs (no training)."""

import json
import os

import pytest

from experiments.drivers import select


def _fake_run(folder, name, seed, values, flat=80.0):
  workdir = os.path.join(folder, f"{name}-seed{seed}")
  os.makedirs(workdir)
  with open(os.path.join(workdir, "metrics.jsonl"), "w") as f:
    for i, v in enumerate(values):
      f.write(json.dumps({"step": 1000 * (i + 1), "test_ema/pa_mpjpe": v, "test/pa_mpjpe": v + 5}) + "\n")
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump({"weights": "ema", "pa_mpjpe": values[-1], "depth_flip_rate": 0.01, "worst_yaw_pa_mpjpe": 50.0,
               "baselines": {"flat": {"pa_mpjpe": flat}}, "wall_s": 60.0}, f)


def test_candidates_train_on_actor_a_and_validate_on_b():
  sweep = select.SWEEPS["recipe"]
  config = select.selection_config(sweep, "no_dropout", seed=3)
  assert (config.data.bandai.train_actors, config.data.bandai.test_actors) == ("A", "B")
  assert config.seed == 3 and config.model.dropout == 0.0 and config.data.bandai.rig == "turned"
  assert config.train.ema_decay == 0.999 and config.optim.schedule == "cosine"
  assert select.selection_config(sweep, "turned_8k", 0).model.dropout == 0.25  # As the sweep began.
  supervised = select.selection_config(sweep, "supervised_turned_8k", 0)
  assert supervised.loss.w_supervised == 1.0 and supervised.loss.w_adv == 0.0
  old = select.selection_config(select.SWEEPS["2026-11-24"], "lr_2e-4", 0)
  assert old.optim.schedule == "exponential" and old.train.num_steps == 2000 and old.eval.weights == "raw"
  assert select.selection_config(sweep, "turned_8k", 0, steps=40).train.eval_every == 10


def test_summary_scores_the_last_evaluations_of_each_seed(tmp_path):
  sweep = select.SWEEPS["recipe"]
  _fake_run(str(tmp_path), "turned_8k", 0, [60.0, 42.0, 41.0, 40.0])
  _fake_run(str(tmp_path), "turned_8k", 1, [55.0, 44.0, 43.0, 42.0])
  _fake_run(str(tmp_path), "supervised_turned_8k", 0, [30.0, 24.0, 23.0, 22.0])
  os.makedirs(tmp_path / "flip-seed0")  # Unfinished (no results.json with wall_s): left out.
  summary = select.summarise(str(tmp_path), sweep, last=3)
  assert set(summary) == {"turned_8k", "supervised_turned_8k"}
  assert summary["turned_8k"]["per_seed"] == [41.0, 43.0]
  assert summary["turned_8k"]["val_pa_mpjpe"] == pytest.approx(42.0)
  assert summary["turned_8k"]["val_sd"] == pytest.approx(2 ** 0.5)
  text = (tmp_path / "selection.md").read_text()
  assert "| turned_8k |" in text and "42.0 ± 1.4" in text
  assert (tmp_path / "curves.png").exists() and (tmp_path / "curves_supervised.png").exists()
