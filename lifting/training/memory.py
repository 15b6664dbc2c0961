"""A memory estimate of one training run per device, checked before anything is allocated or written.

An oversized ``train.batch_size`` otherwise fails inside XLA's first allocation with an
out-of-memory traceback, after the workdir was written. `check_fits` compares a deliberately
generous estimate with what the device has and refuses, in one line, a run that cannot fit; it
never refuses one that can (the estimate errs high only by a small factor, and only a run whose
estimate exceeds the whole device memory is refused).
"""

from __future__ import annotations

import os

import jax
import numpy as np

# Activations kept per pose and hidden unit in one step: the lifter runs on the input and on the
# rotated projection (loop closure), each forward pass is kept for the backward pass, the
# discriminators see real and fake poses, and XLA holds temporaries beside them.
_ACTIVATION_COPIES = 12


def state_bytes(config, models, layout, mesh) -> int:
  """Bytes of the train states (parameters, optimiser moments, moving average), from their shapes only."""
  from lifting.training import train_step
  abstract = jax.eval_shape(lambda k: train_step.init_states(config, models, layout, k, mesh), jax.random.key(0))
  return int(sum(np.prod(x.shape) * x.dtype.itemsize for x in jax.tree.leaves(abstract)))


def activation_bytes(config, num_devices: int) -> int:
  """Bytes of one step's activations on one device (float32 hidden layers of every network)."""
  per_device = -(-config.train.batch_size // max(num_devices, 1))
  layers = 2 * config.model.lifter_blocks + 2 + 2 * config.model.disc_blocks + 2
  return int(per_device * config.model.width * 4 * layers * _ACTIVATION_COPIES)


def device_bytes(device=None) -> int | None:
  """Memory of one device: the accelerator's limit, or for the CPU the machine's physical memory."""
  device = device or jax.local_devices()[0]
  try:
    stats = device.memory_stats() or {}
  except Exception:  # pylint: disable=broad-except  (not every backend reports)
    stats = {}
  if stats.get("bytes_limit"):
    return int(stats["bytes_limit"])
  if device.platform == "cpu":
    try:
      return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
      return None
  return None


def estimate(config, models, layout, data, mesh) -> dict[str, int]:
  """``{"states", "pool", "activations", "total"}``: bytes per device of a run."""
  pool = data.train_2d.nbytes + (0 if data.extra_2d is None else data.extra_2d.nbytes)
  if config.loss.w_supervised > 0 and data.train_3d is not None:
    pool += data.train_3d.nbytes
  out = {"states": state_bytes(config, models, layout, mesh), "pool": int(pool),
         "activations": activation_bytes(config, mesh.size)}
  out["total"] = sum(out.values())
  return out


def check_fits(config, models, layout, data, mesh) -> dict[str, int]:
  """Raises ``ValueError`` (naming ``train.batch_size``) when a run's estimate exceeds one device's memory."""
  need = estimate(config, models, layout, data, mesh)
  have = device_bytes()
  if have is not None and need["total"] > have:
    gib = lambda b: f"{b / 2**30:,.1f} GiB"  # noqa: E731
    raise ValueError(
        f"train.batch_size: {config.train.batch_size} poses at model.width {config.model.width} need about "
        f"{gib(need['total'])} per device ({gib(need['activations'])} of activations, {gib(need['states'])} of "
        f"states, {gib(need['pool'])} of training data) but a {jax.local_devices()[0].platform} device has "
        f"{gib(have)}; lower train.batch_size or model.width, or use more devices")
  return need
