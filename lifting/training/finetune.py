"""Adapting a trained lifter to one clip: a copy fine-tuned on the clip's own 2D with the unsupervised losses.

A user's clip is often unlike anything the lifter was trained on: another motion, another camera. The method
needs no 3D, so the clip itself can teach: `fine_tune` runs the train step of `lifting.training.train_step` (eq. 8: the
adversarial terms against the clip's own 2D as real poses, the loop closure, the temporal term) for a bounded
number of steps on a copy of the lifter, starting from the model's weights and its discriminators, with a small
learning rate that decays to 0. Nothing of the model changes; the fine-tuned copy lifts the clip.

It needs the discriminators a run trained beside the lifter (`lifting.app.inference.export` writes them to
``discriminators.msgpack``); a model exported without them cannot be adapted.
"""

from __future__ import annotations

import dataclasses
import time

from flax.training import train_state
import jax
import numpy as np

from lifting import configs
from lifting.core import temporal
from lifting.training import optim
from lifting.training import train_step

DEFAULT_STEPS = 200
DEFAULT_LR = 2e-5
MAX_STEPS = 100_000


def fine_tune(model, poses: np.ndarray, lengths, steps: int = DEFAULT_STEPS, learning_rate: float = DEFAULT_LR,
              seed: int = 0, usable: np.ndarray | None = None) -> tuple[dict, dict]:
  """A copy of ``model``'s lifter (`lifting.app.inference.Model`) fine-tuned on ``poses [N, J, 2]``: one clip's 2D,
  already in the model's normalised frame, as sequences of ``lengths [S]`` frames back to back; training windows
  hold ``usable [N]`` frames only (default: all).

  Returns ``(variables, report)``: the fine-tuned lifter's variables (parameters and batch statistics), and the
  steps, seconds and first and last losses. Raises ``ValueError`` when the model has no discriminators or the
  clip has no window of the frames a step needs.
  """
  if not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
    raise ValueError(f"clip adaptation: expected a number of steps in [1, {MAX_STEPS}], got {steps!r}")
  if not (np.isfinite(learning_rate) and learning_rate > 0):
    raise ValueError(f"clip adaptation: expected a positive learning rate, got {learning_rate!r}")
  if model.discriminators is None:
    raise ValueError(f"{model.workdir}: this model was exported without its discriminators (discriminators.msgpack), "
                     "which adapting to a clip needs; export it again with lifting.app.inference.export")
  config = model.config.copy_and_resolve_references()
  config.train.num_steps, config.train.ema_decay = steps, 0.0
  config.optim.update(lifter_lr=learning_rate, disc_lr=learning_rate, temporal_lr=learning_rate,
                      warmup_steps=min(10, steps // 2), schedule="cosine", final_lr_fraction=0.0)
  config.loss.w_supervised = 0.0
  config.data.train_noise.share = 0.0
  networks = train_step.build_models(config)
  # Batch norm keeps the training set's statistics: normalised with one clip's own, the network is another
  # function from its first step (docs/footage.md, "Adapting the lifter to a clip").
  networks = dataclasses.replace(networks, lifter=networks.lifter.clone(frozen_norm=True))
  offsets = np.asarray(configs.window_offsets(config))
  starts = temporal.window_starts(lengths, int(offsets.max()) + 1, usable)
  if not len(starts):
    raise ValueError(f"clip adaptation: the clip has no run of {int(offsets.max()) + 1} consecutive frames, which "
                     "each training window needs")
  states = _states(config, networks, model)
  update = jax.jit(train_step.make_update(config, networks, model.layout), donate_argnums=(0,))
  num_windows = max(config.train.batch_size // len(offsets), 1)
  rng = np.random.default_rng(seed)
  key = jax.random.key(seed)
  poses = np.asarray(poses, np.float32)
  losses, t0 = [], time.perf_counter()
  for _ in range(steps):
    x = poses[rng.choice(starts, num_windows)[:, None] + offsets]
    real = poses[rng.choice(starts, num_windows)[:, None] + offsets]
    states, metrics = update(states, {"x": x, "real": real}, key)
    losses.append(metrics["loss/total"])
  losses = [float(v) for v in jax.device_get(losses)]
  if not np.all(np.isfinite(losses)):
    raise ValueError(f"clip adaptation: the loss became non-finite at step {int(np.argmin(np.isfinite(losses)))}; "
                     "lower --adapt_lr")
  report = {"steps": steps, "learning_rate": learning_rate, "seconds": round(time.perf_counter() - t0, 2),
            "loss_first": losses[0], "loss_last": losses[-1], "windows": int(len(starts))}
  return jax.device_get(states.lifter.variables("raw")), report


def _states(config, networks, model) -> train_step.TrainStates:
  """Train states that start from the model's lifter and discriminators, with fresh optimisers."""
  copy = lambda tree: jax.tree.map(np.array, tree)  # noqa: E731  The step donates its states; the model keeps its own.
  lifter = train_step.LifterState.create(apply_fn=networks.lifter.apply, params=copy(model.variables["params"]),
                                         tx=optim.adam(config, config.optim.lifter_lr),
                                         batch_stats=copy(model.variables["batch_stats"]))
  discs = {}
  for name, lr in (("pose_disc", config.optim.disc_lr), ("temporal_disc", config.optim.temporal_lr)):
    net = getattr(networks, name)
    if net is None:
      continue
    if name not in model.discriminators:
      raise ValueError(f"{model.workdir}: the model's config trains a {name}, but discriminators.msgpack has none")
    discs[name] = train_state.TrainState.create(apply_fn=net.apply, params=copy(model.discriminators[name]),
                                                tx=optim.adam(config, lr))
  return train_step.TrainStates(lifter=lifter, **discs)
