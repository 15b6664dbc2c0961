"""Configs saved by older versions are upgraded once, where a run's config.json is read."""

import json

import pytest

from experiments import default
from lifting import configs


def test_a_current_config_comes_back_unchanged(tmp_path):
  config = default.get_config("cpu")
  (tmp_path / "config.json").write_text(config.to_json())
  assert configs.load(str(tmp_path)).to_dict() == json.loads(config.to_json())


def test_fields_added_later_take_the_value_old_runs_had_else_the_default():
  saved = json.loads(default.get_config("cpu").to_json())
  del saved["train"]["ema_decay"], saved["eval"], saved["optim"]["schedule"], saved["loss"]["w_flow"]
  del saved["data"]["bandai"]["rig"], saved["rotation"]["learned_elevation"]
  saved["model"]["width"] = 64  # What the run saved wins.
  config = configs.upgrade(saved)
  # Absent meant the behaviour before the field: no moving average, raw weights, exponential decay, the fixed rig.
  assert (config.train.ema_decay, config.eval.weights, config.optim.schedule) == (0.0, "raw", "exponential")
  assert config.data.bandai.rig == "fixed" and not config.eval.generalisation.enabled
  assert config.eval.intermediate_poses == 0
  # Features added later were off.
  assert config.loss.w_flow == 0.0 and config.rotation.learned_elevation is False and config.eval.flip_average is False
  assert config.model.width == 64
  configs.validate(config)


def test_what_is_no_run_config_is_rejected(tmp_path):
  with pytest.raises(KeyError, match="no layout"):
    configs.upgrade({"model": {}})
  with pytest.raises(TypeError, match="JSON object"):
    configs.upgrade([1, 2])
  with pytest.raises(ValueError, match="no config.json"):
    configs.load(str(tmp_path))


def test_the_fast_profile_is_the_cpu_profile_in_fewer_steps_at_higher_rates():
  cpu, fast = default.get_config("cpu").to_dict(), default.get_config("fast").to_dict()
  changed = {f"{block}.{k}" for block in cpu if isinstance(cpu[block], dict)
             for k in cpu[block] if cpu[block][k] != fast[block][k]}
  assert changed == {"train.num_steps", "train.ema_decay", "train.eval_every", "train.checkpoint_every",
                     "optim.lifter_lr", "optim.disc_lr", "optim.temporal_lr", "optim.warmup_steps"}
  assert (fast["train"]["num_steps"], fast["optim"]["lifter_lr"]) == (2000, 1e-3)
