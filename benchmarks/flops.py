"""Analytic matmul FLOPs of the networks and the train step (used by `benchmarks.performance`).

Kept apart from the benchmark's command-line flags, so tests and other scripts can import it.
"""

from __future__ import annotations


def mlp_flops(n: int, d_in: int, width: int, blocks: int, d_out: int) -> float:
  """Forward matmul FLOPs of `lifting.core.models.ResidualMLP` on ``n`` rows: input Dense, 2 Dense per block, output."""
  return 2.0 * n * (d_in * width + 2 * blocks * width * width + width * d_out)


def step_flops(config, num_joints: int = 14) -> dict:
  """Matmul FLOPs of one train step of ``config``, averaged over a discriminator cycle.

  Counting rules: a network differentiated with respect to its parameters costs 3 forward passes
  (forward, activation gradients, weight gradients); one differentiated only with respect to its
  input costs 2; an undifferentiated one 1. Per step the lifter runs twice (on ``x`` and on the
  reprojection ``y``) and is differentiated: 6 lifter passes over the batch. The lifter's loss
  backpropagates through both discriminators to their inputs: 2 passes each. Every
  ``disc_every``-th step each discriminator takes ``disc_updates`` steps on real and fake
  batches: 2 x 3 passes each. Elementwise work (BatchNorm, ReLU, projection, losses) is left out.
  """
  m, b = config.model, config.train.batch_size
  window = 1 + m.temporal_neighbours if config.loss.w_temporal > 0 else 1
  j2 = 2 * num_joints
  lifter = mlp_flops(b, j2, m.width, m.lifter_blocks, num_joints)
  pose_d = mlp_flops(b, j2, m.width, m.disc_blocks, 1) if config.loss.w_adv > 0 else 0.0
  temporal_d = (mlp_flops(b // window, j2 + j2 * m.temporal_neighbours, m.width, m.disc_blocks, 1)
                if config.loss.w_temporal > 0 else 0.0)
  d_rate = config.optim.disc_updates / config.optim.disc_every
  generator = 6 * lifter + 2 * pose_d + 2 * temporal_d
  discriminators = d_rate * 6 * (pose_d + temporal_d)
  return {"lifter": 6 * lifter, "discriminators_in_generator": 2 * (pose_d + temporal_d),
          "discriminator_updates": discriminators, "total": generator + discriminators}
