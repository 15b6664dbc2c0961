"""Checks a training config before anything is built, with one-line reasons."""

from __future__ import annotations

from lifting import losses
from lifting import skeleton


def window_size(config) -> int:
  """Frames per training window: ``1 + M`` with the temporal discriminator on, else 1."""
  return 1 + config.model.temporal_neighbours if config.loss.w_temporal > 0 else 1


def validate(config) -> None:
  """Raises ``ValueError`` naming the first inconsistent field of ``config``."""
  skeleton.get_layout(config.layout)
  if config.c <= 1:
    raise ValueError(f"c: expected a depth > 1 (the paper uses 10), got {config.c}")
  if config.loss.gan not in losses.GAN_LOSSES:
    raise ValueError(f"loss.gan: expected one of {losses.GAN_LOSSES}, got {config.loss.gan!r}")
  weights = {k: config.loss[k] for k in ("w_adv", "w_2d", "w_3d", "w_temporal", "w_symmetry", "w_supervised")}
  for name, w in weights.items():
    if w < 0:
      raise ValueError(f"loss.{name}: expected a weight >= 0 (0 turns the term off), got {w}")
  if not any(weights.values()):
    raise ValueError("loss: every term has weight 0, so the lifter would learn nothing")
  if config.loss.w_temporal > 0 and config.model.temporal_neighbours < 1:
    raise ValueError("model.temporal_neighbours: expected M >= 1 with the temporal term on, "
                     f"got {config.model.temporal_neighbours}")
  for name, least in (("width", 1), ("lifter_blocks", 0), ("disc_blocks", 0)):
    if config.model[name] < least:
      raise ValueError(f"model.{name}: expected an integer >= {least}, got {config.model[name]}")
  for name in ("dropout", "disc_dropout"):
    if not 0 <= config.model[name] < 1:
      raise ValueError(f"model.{name}: expected a rate in [0, 1), got {config.model[name]}")
  for name in ("azimuth_range", "elevation_range", "roll_range"):
    r = tuple(config.rotation[name])
    if len(r) != 2 or r[0] > r[1]:
      raise ValueError(f"rotation.{name}: expected (low, high) with low <= high, got {r}")
  for name in ("lifter_lr", "disc_lr", "temporal_lr"):
    if config.optim[name] <= 0:
      raise ValueError(f"optim.{name}: expected a positive learning rate, got {config.optim[name]}")
  if not 0 < config.optim.decay_rate <= 1 or config.optim.decay_steps < 1:
    raise ValueError("optim: expected 0 < decay_rate <= 1 and decay_steps >= 1, got "
                     f"{config.optim.decay_rate} and {config.optim.decay_steps}")
  if config.optim.disc_updates < 1 or config.optim.disc_every < 1:
    raise ValueError("optim: expected disc_updates >= 1 and disc_every >= 1, got "
                     f"{config.optim.disc_updates} and {config.optim.disc_every}")
  if not 0 < config.data.supervised_fraction <= 1:
    raise ValueError(f"data.supervised_fraction: expected a fraction in (0, 1], got {config.data.supervised_fraction}")
  if config.data.scale not in ("dataset", "pose"):
    raise ValueError(f"data.scale: expected 'dataset' or 'pose', got {config.data.scale!r}")
  t = window_size(config)
  if config.train.batch_size < t or config.train.batch_size % t:
    raise ValueError(f"train.batch_size: expected a multiple of the {t}-frame training window, "
                     f"got {config.train.batch_size}")
  for name in ("num_steps", "log_every", "eval_every", "checkpoint_every", "max_checkpoints"):
    if config.train[name] < 1:
      raise ValueError(f"train.{name}: expected a positive integer, got {config.train[name]}")


def validate_against(config, data, num_devices: int, num_processes: int) -> None:
  """Checks what depends on the data and the machine: sequences, batch split, layout."""
  if data.layout.name != skeleton.get_layout(config.layout).name:
    raise ValueError(f"layout: the config says {config.layout!r} but the data is in {data.layout.name!r}")
  if config.loss.w_temporal > 0 and not data.has_sequences:
    raise ValueError(f"loss.w_temporal: the temporal term needs sequences, but data.source "
                     f"{config.data.source!r} holds single poses only; set --config.loss.w_temporal=0")
  if config.loss.w_supervised > 0 and data.train_3d is None:
    raise ValueError(f"loss.w_supervised: the supervised term needs 3D for the training frames, but data.source "
                     f"{config.data.source!r} provides none")
  windows = config.train.batch_size // window_size(config)
  if windows % num_devices or windows % num_processes:
    raise ValueError(f"train.batch_size: {windows} windows per step do not split evenly over "
                     f"{num_devices} devices in {num_processes} processes")
