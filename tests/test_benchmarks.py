"""The performance benchmark's analytic FLOP count, checked against XLA's own count of the same networks."""

import jax
import jax.numpy as jnp

from benchmarks import flops as performance
from experiments import tiny
from lifting.core import models


def _xla_flops(fn, *args) -> float:
  cost = jax.jit(fn).lower(*args).compile().cost_analysis()
  return float((cost[0] if isinstance(cost, (list, tuple)) else cost)["flops"])


def test_mlp_flops_match_xla():
  mlp = models.ResidualMLP(14, width=64, num_blocks=2, batch_norm=False)
  x = jnp.zeros((32, 28))
  params = mlp.init(jax.random.key(0), x, False)
  xla = _xla_flops(lambda p, x: mlp.apply(p, x, False), params, x)
  analytic = performance.mlp_flops(32, 28, 64, 2, 14)
  # XLA also counts bias adds, ReLUs and residual adds: a few per cent at width 64.
  assert analytic <= xla <= 1.1 * analytic, (analytic, xla)


def test_step_flops_add_up():
  config = tiny.get_config()
  f = performance.step_flops(config)
  assert f["total"] == f["lifter"] + f["discriminators_in_generator"] + f["discriminator_updates"]
  config.optim.disc_every = 1
  assert performance.step_flops(config)["discriminator_updates"] == 3 * f["discriminator_updates"]
  config.loss.w_temporal = config.loss.w_adv = 0.0
  f = performance.step_flops(config)
  assert f["total"] == f["lifter"] == 6 * performance.mlp_flops(16, 28, 32, 1, 14)
