"""The diagnostics command on a tiny finished run."""

import json

import pytest

from experiments import tiny
from experiments.drivers import diagnose
from lifting import train


def test_diagnose_splits_the_error_and_writes_it_beside_the_run(tmp_path):
  config = tiny.get_config()
  config.train.num_steps = 3
  train.train_and_evaluate(config, str(tmp_path / "run"))
  out = diagnose.diagnose(str(tmp_path / "run"))
  assert out["weights"] == "ema" and out["step"] == 3 and set(out["per_joint"]) >= {"l_wrist", "r_ankle", "head"}
  # The mean per-joint error lies between its larger component and their sum.
  assert max(out["lateral_mm"], out["depth_mm"]) <= out["pa_mpjpe"] + 1e-6
  assert out["pa_mpjpe"] <= out["lateral_mm"] + out["depth_mm"] + 1e-6
  assert sum(out["per_joint"].values()) / len(out["per_joint"]) == pytest.approx(out["pa_mpjpe"], rel=1e-4)
  with open(tmp_path / "run" / "diagnose.json") as f:
    assert json.load(f)["depth_spread_ratio"] == out["depth_spread_ratio"]
  text = diagnose.table([out])
  assert "| run |" in text and f"{out['pa_mpjpe']:.1f}" in text
  with pytest.raises(ValueError, match="no checkpoint"):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text((tmp_path / "run" / "config.json").read_text())
    diagnose.diagnose(str(tmp_path / "empty"))
