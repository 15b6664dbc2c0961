"""The step's moving average, learning-rate schedules and the terms beyond the paper, against numpy references."""

import jax
import numpy as np
import pytest

from experiments import adv_ss_td
from experiments import default
from lifting import configs
from lifting.core import skeleton
from lifting.training import optim
from lifting.training import train_step
from tests.test_train import one_step
from tests.test_train import shrink


def test_ema_decay_warms_up_then_holds():
  steps = np.array([0, 1, 10, 100, 1000, 100000])
  got = np.asarray(jax.jit(train_step.ema_decay_at, static_argnums=0)(0.999, steps))
  np.testing.assert_allclose(got, np.minimum(0.999, (1 + steps) / (10 + steps)), rtol=1e-6)


def test_moving_average_follows_the_parameters_step_by_step():
  """Three real steps: the average of params and batch statistics is the numpy recursion of the raw ones."""
  config = shrink(adv_ss_td.get_config())
  config.train.ema_decay = 0.9
  states = one_step(config, steps=3, keep_all=True)  # Before, and after each of three steps.
  for name in ("params", "batch_stats"):
    want = jax.tree.leaves(getattr(states[0].lifter, name))
    for n in (1, 2, 3):
      d = min(0.9, n / (9 + n))  # The update after step n - 1.
      want = [d * w + (1 - d) * np.asarray(r) for w, r in zip(want, jax.tree.leaves(getattr(states[n].lifter, name)))]
      got = jax.tree.leaves(getattr(states[n].lifter, f"ema_{name}"))
      for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  assert states[3].lifter.variables("ema")["params"] is states[3].lifter.ema_params
  config.train.ema_decay = 0.0
  plain = one_step(config)[1].lifter
  assert plain.ema_params is None
  with pytest.raises(ValueError, match="train.ema_decay = 0"):
    plain.variables("ema")
  with pytest.raises(ValueError, match="expected 'raw' or 'ema'"):
    plain.variables("best")


def test_cosine_schedule_warms_up_and_ends_at_its_floor():
  config = default.get_config()
  config.optim.update(schedule="cosine", warmup_steps=100, final_lr_fraction=0.1)
  config.train.num_steps = 1100
  lr = optim.learning_rate_schedule(config, 2e-4)
  for step, want in ((0, 2e-6), (50, 2e-6 + (2e-4 - 2e-6) / 2), (100, 2e-4), (600, 2e-4 * (0.1 + 0.9 * 0.5)),
                     (1100, 2e-5)):
    assert float(lr(step)) == pytest.approx(want, rel=1e-4, abs=1e-12), step
  config.optim.warmup_steps = 0
  assert float(optim.learning_rate_schedule(config, 2e-4)(0)) == pytest.approx(2e-4)
  config.optim.schedule = "exponential"
  assert float(optim.learning_rate_schedule(config, 2e-4)(2000)) == pytest.approx(
      2e-4 * 0.95 ** (2000 / config.optim.decay_steps), rel=1e-5)
  config.optim.schedule = "step"
  with pytest.raises(ValueError, match="optim.schedule: expected"):
    configs.validate(config)


def test_terms_beyond_the_paper_join_the_weighted_sum():
  config = shrink(adv_ss_td.get_config())
  config.loss.update(w_flip=0.5, w_bone_window=2.0, r1=1.0)
  _, after, m = one_step(config)
  config.loss.r1 = 0.0
  _, _, m_plain = one_step(config)
  assert {"loss/flip", "loss/bone_window"} <= set(m) and m["loss/flip"] > 0 and m["loss/bone_window"] > 0
  expected = sum(config.loss[w] * m[f"loss/{k}"] for w, k in (
      ("w_adv", "adv"), ("w_2d", "loop_2d"), ("w_3d", "loop_3d"), ("w_temporal", "temporal"), ("w_flip", "flip"),
      ("w_bone_window", "bone_window")))
  np.testing.assert_allclose(m["loss/total"], expected, rtol=1e-5)
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(after))
  # R1 adds to what the discriminators minimise, not to the lifter's loss.
  assert m["pose_disc/loss"] > m_plain["pose_disc/loss"] and m["temporal_disc/loss"] > m_plain["temporal_disc/loss"]
  np.testing.assert_allclose(m["loss/total"], m_plain["loss/total"], rtol=1e-6)


def test_bone_window_term_makes_windows_without_the_temporal_discriminator():
  config = shrink(adv_ss_td.get_config())
  config.loss.w_temporal = 0.0
  config.loss.w_bone_window = 1.0
  config.model.temporal_neighbours = 2
  assert configs.window_size(config) == 3
  _, after, m = one_step(config)
  assert after.temporal_disc is None and "loss/bone_window" in m and "loss/temporal" not in m


@pytest.mark.parametrize("field, value, message", [
    ("train.ema_decay", 1.0, "train.ema_decay: expected a decay in"),
    ("loss.w_flip", float("nan"), "loss.w_flip: expected a finite number, got nan"),
    ("loss.r1", float("inf"), "loss.r1: expected a finite number, got inf"),
    ("optim.final_lr_fraction", 2.0, "final_lr_fraction"),
])
def test_new_fields_are_checked(field, value, message):
  config = default.get_config()
  group, name = field.split(".")
  config[group][name] = value
  with pytest.raises(ValueError, match=message):
    configs.validate(config)


def test_ema_weights_need_a_moving_average():
  config = default.get_config()
  config.train.ema_decay = 0.0
  with pytest.raises(ValueError, match="eval.weights: expected 'raw', or 'ema' with train.ema_decay > 0"):
    configs.validate(config)
  config.eval.weights = "raw"
  configs.validate(config)


def test_states_hold_no_shared_buffers():
  """The average starts as a copy of the weights: donating the state must not donate one buffer twice."""
  config = shrink(adv_ss_td.get_config())
  states = train_step.init_states(config, train_step.build_models(config), skeleton.get_layout("paper14"),
                                jax.random.key(0), train_step.make_mesh())
  ptrs = [x.unsafe_buffer_pointer() for x in jax.tree.leaves(states)]
  assert len(set(ptrs)) == len(ptrs)


def test_bone_window_span_adds_a_later_frame_that_only_the_bone_term_sees():
  config = shrink(adv_ss_td.get_config())
  config.loss.w_bone_window = 1.0
  config.model.bone_window_span = 5
  assert configs.window_offsets(config) == (0, 1, 5) and configs.window_span(config) == 6
  _, after, m = one_step(config)
  assert "loss/bone_window" in m and np.isfinite(m["loss/temporal"]) and np.isfinite(m["temporal_disc/loss"])
  # T still sees 1 + M = 2 frames: its first layer takes 2J + 2JM inputs.
  assert after.temporal_disc.params["ResidualMLP_0"]["Dense_0"]["kernel"].shape[0] == 4 * 14
  config.model.bone_window_span = 1  # Not beyond the temporal window: nothing added.
  assert configs.window_offsets(config) == (0, 1)
  config.loss.w_bone_window = 0.0
  config.model.bone_window_span = 5  # Without the bone term the span means nothing.
  assert configs.window_offsets(config) == (0, 1)
