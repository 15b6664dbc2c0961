"""The optimiser of every network: Adam on a learning-rate schedule (``config.optim``)."""

from __future__ import annotations

import optax

SCHEDULES = ("exponential", "cosine")


def learning_rate_schedule(config, base_lr: float) -> optax.Schedule:
  """``optim.schedule``: ``"exponential"`` (``decay_rate`` per ``decay_steps``) or ``"cosine"`` (linear warm-up
  from ``base_lr / warmup_steps`` over ``warmup_steps``, then a cosine from ``base_lr`` to
  ``final_lr_fraction * base_lr`` at ``train.num_steps``, where the run ends converged rather than mid-descent)."""
  o = config.optim
  if o.schedule == "exponential":
    return optax.exponential_decay(base_lr, o.decay_steps, o.decay_rate)
  if o.schedule != "cosine":
    raise ValueError(f"optim.schedule: expected one of {SCHEDULES}, got {o.schedule!r}")
  warmup = int(o.warmup_steps)
  # The warm-up starts at base_lr / warmup, not 0, so that the first step already moves the weights.
  return optax.warmup_cosine_decay_schedule(
      base_lr / warmup if warmup else base_lr, base_lr, warmup, max(config.train.num_steps, warmup + 1),
      end_value=base_lr * o.final_lr_fraction)


def adam(config, base_lr: float) -> optax.GradientTransformation:
  """Adam with ``optim.b1`` and ``b2`` on `learning_rate_schedule` of ``base_lr``."""
  return optax.adam(learning_rate_schedule(config, base_lr), b1=config.optim.b1, b2=config.optim.b2)
