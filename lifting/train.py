"""Training: the train states, ONE compiled data-parallel step, evaluation and the loop.

The step (sec. 3 of Chen et al., CVPR 2019) lifts the 2D inputs ``x`` to ``X`` (eq. 1-2), turns
``X`` about its root by a random camera rotation and projects it to ``y`` (eq. 3), scores ``y``
against real poses ``r`` with the pose discriminator (eq. 5) and, over windows of consecutive
frames, with the temporal discriminator (eq. 6), lifts ``y`` to ``Y~``, undoes the rotation and
projects to ``x~`` for the loop-closure losses (sec. 3.3), and takes the weighted sum of eq. 8.
The lifter and both discriminators are updated in the same compiled function. Which terms are
on comes from the config, so every ablation is this step with another config.

Data parallelism uses ``jax.jit`` over a one-axis ``Mesh`` named ``data``: the batch is sharded
along it, the states are replicated, and XLA inserts the gradient and batch-norm reductions. The
same code runs on one CPU, several GPUs or every device of a multi-host pod (``jax.pmap`` is
legacy in the JAX this library targets). In a multi-process run every device holds its own
process's shard of the training set (`device_pool`) and gathers its part of the batch from it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training import train_state
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

from lifting import checkpoint
from lifting import config as config_lib
from lifting import geometry
from lifting import logs
from lifting import losses
from lifting import metrics as metrics_lib
from lifting import models as models_lib
from lifting import skeleton
from lifting.data import pipeline

DATA_AXIS = "data"


class LifterState(train_state.TrainState):
  """A `TrainState` that also carries the lifter's batch-norm statistics and, when
  ``train.ema_decay > 0``, an exponential moving average of its parameters and statistics."""
  batch_stats: Any = None
  ema_params: Any = None
  ema_batch_stats: Any = None

  def variables(self, weights: str = "raw") -> dict:
    """The Flax variables of ``weights``: ``"raw"`` (the trained ones) or ``"ema"`` (their average)."""
    if weights == "raw":
      return {"params": self.params, "batch_stats": self.batch_stats}
    if weights != "ema":
      raise ValueError(f"weights: expected 'raw' or 'ema', got {weights!r}")
    if self.ema_params is None:
      raise ValueError("weights 'ema': this state keeps no moving average (train.ema_decay = 0)")
    return {"params": self.ema_params, "batch_stats": self.ema_batch_stats}


def ema_decay_at(decay: float, step: jax.Array) -> jax.Array:
  """The moving average's decay at ``step``: ``min(decay, (1 + step) / (10 + step))``, so the
  average forgets its random initial weights within the first few hundred steps."""
  step = jnp.asarray(step, jnp.float32)
  return jnp.minimum(decay, (1.0 + step) / (10.0 + step))


def update_ema(state: LifterState, decay: float) -> LifterState:
  """``state`` with its averages moved towards its (new) parameters and statistics; the step is
  the one the parameters were just updated at (``state.step - 1``)."""
  if state.ema_params is None:
    return state
  d = ema_decay_at(decay, state.step - 1)
  mix = lambda avg, new: d * avg + (1.0 - d) * new  # noqa: E731
  return state.replace(ema_params=jax.tree.map(mix, state.ema_params, state.params),
                       ema_batch_stats=jax.tree.map(mix, state.ema_batch_stats, state.batch_stats))


@flax.struct.dataclass
class TrainStates:
  """Every network's state; a discriminator whose term is off is ``None``."""
  lifter: LifterState
  pose_disc: train_state.TrainState | None = None
  temporal_disc: train_state.TrainState | None = None

  @property
  def step(self) -> jax.Array:
    return self.lifter.step


@dataclasses.dataclass(frozen=True)
class Models:
  lifter: models_lib.Lifter
  pose_disc: models_lib.PoseDiscriminator | None
  temporal_disc: models_lib.TemporalDiscriminator | None


def build_models(config) -> Models:
  """The networks a config needs; a discriminator is built only if its term is on."""
  m = config.model
  # .get: configs saved before these fields existed (inference on old runs) mean the defaults.
  speed = dict(dropout_rng=m.get("dropout_rng", "bits"), dtype=jnp.dtype(m.get("dtype", "float32")))
  disc = dict(width=m.width, num_blocks=m.disc_blocks, dropout=m.disc_dropout, **speed)
  return Models(
      lifter=models_lib.Lifter(width=m.width, num_blocks=m.lifter_blocks, dropout=m.dropout, **speed),
      pose_disc=models_lib.PoseDiscriminator(**disc) if config.loss.w_adv > 0 else None,
      temporal_disc=models_lib.TemporalDiscriminator(**disc) if config.loss.w_temporal > 0 else None)


SCHEDULES = ("exponential", "cosine")


def learning_rate_schedule(config, base_lr: float) -> optax.Schedule:
  """``optim.schedule``: ``"exponential"`` (``decay_rate`` per ``decay_steps``) or ``"cosine"`` (linear
  warm-up over ``warmup_steps``, then a cosine from ``base_lr`` to ``final_lr_fraction * base_lr`` at
  ``train.num_steps``, where the run ends converged rather than mid-descent)."""
  o = config.optim
  kind = o.get("schedule", "exponential")
  if kind == "exponential":
    return optax.exponential_decay(base_lr, o.decay_steps, o.decay_rate)
  if kind != "cosine":
    raise ValueError(f"optim.schedule: expected one of {SCHEDULES}, got {kind!r}")
  warmup = int(o.get("warmup_steps", 0))
  return optax.warmup_cosine_decay_schedule(
      0.0 if warmup else base_lr, base_lr, warmup, max(config.train.num_steps, warmup + 1),
      end_value=base_lr * o.get("final_lr_fraction", 0.0))


def _adam(config, base_lr: float) -> optax.GradientTransformation:
  return optax.adam(learning_rate_schedule(config, base_lr), b1=config.optim.b1, b2=config.optim.b2)


def create_train_states(config, models: Models, num_joints: int, key: jax.Array) -> TrainStates:
  """Fresh parameters and optimiser states for every network in ``models``."""
  k_lift, k_disc, k_temp = jax.random.split(key, 3)
  pose = jnp.zeros((1, num_joints, 2), jnp.float32)
  variables = models.lifter.init(k_lift, pose, train=False)
  ema = config.train.get("ema_decay", 0.0) > 0  # .get: configs saved before the field existed.
  states = {"lifter": LifterState.create(apply_fn=models.lifter.apply, params=variables["params"],
                                         tx=_adam(config, config.optim.lifter_lr),
                                         batch_stats=variables["batch_stats"],
                                         ema_params=variables["params"] if ema else None,
                                         ema_batch_stats=variables["batch_stats"] if ema else None)}
  if models.pose_disc is not None:
    params = models.pose_disc.init(k_disc, pose)["params"]
    states["pose_disc"] = train_state.TrainState.create(apply_fn=models.pose_disc.apply, params=params,
                                                        tx=_adam(config, config.optim.disc_lr))
  if models.temporal_disc is not None:
    window = jnp.zeros((1, config_lib.window_size(config), num_joints, 2), jnp.float32)
    params = models.temporal_disc.init(k_temp, window)["params"]
    states["temporal_disc"] = train_state.TrainState.create(apply_fn=models.temporal_disc.apply, params=params,
                                                            tx=_adam(config, config.optim.temporal_lr))
  return TrainStates(**states)


def make_mesh(devices=None) -> jax.sharding.Mesh:
  """A one-axis ``data`` mesh over ``devices`` (default: all devices of all processes).

  ``AxisType.Auto`` lets XLA propagate shardings; Linen dropout fails under Explicit axes.
  """
  devices = jax.devices() if devices is None else list(devices)
  return jax.make_mesh((len(devices),), (DATA_AXIS,), axis_types=(AxisType.Auto,), devices=devices)


def lift(model: models_lib.Lifter, variables, pose2d: jax.Array, c: float, train: bool = False,
         rng: jax.Array | None = None):
  """Lifts ``[..., J, 2]`` normalised poses to ``[..., J, 3]`` camera-frame joints (eq. 1-2).

  In training mode also returns the updated batch statistics.
  """
  flat = pose2d.reshape((-1,) + pose2d.shape[-2:])
  if train:
    offsets, updates = model.apply(variables, flat, train=True, rngs={"dropout": rng}, mutable=["batch_stats"])
  else:
    offsets, updates = model.apply(variables, flat, train=False), None
  points = geometry.depth_to_points(pose2d, offsets.reshape(pose2d.shape[:-1]), c)
  return (points, updates["batch_stats"]) if train else points


def _score(logits: jax.Array, kind: str) -> jax.Array:
  """Mean discriminator output in [0, 1] (standard) or raw (lsgan), for logging."""
  return jnp.mean(jax.nn.sigmoid(logits) if kind == "standard" else logits)


def _update_discriminator(state, loss_fn, num_updates: int, every: int, step: jax.Array, prefix: str):
  """``num_updates`` Adam steps on ``loss_fn`` on every ``every``-th step; metrics of the last."""

  def one(state, i):
    (loss, (real, fake)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, i)
    out = {f"{prefix}/loss": loss, f"{prefix}/real_score": real, f"{prefix}/fake_score": fake,
           f"norm/{prefix}_grads": optax.tree.norm(grads)}
    return state.apply_gradients(grads=grads), out

  def run(state):
    out = None
    for i in range(num_updates):
      state, out = one(state, i)
    return state, out

  if every == 1:
    state, out = run(state)
  else:
    skipped = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(run, state)[1])
    state, out = jax.lax.cond(step % every == 0, run, lambda s: (s, skipped), state)
  out[f"norm/{prefix}_params"] = optax.tree.norm(state.params)
  return state, out


def make_update(config, models: Models, layout: skeleton.Layout):
  """The pure update ``(states, batch, key) -> (states, metrics)`` on a given batch.

  ``batch`` holds ``x`` and ``real``, each ``[B, T, J, 2]``: B windows of T consecutive
  normalised 2D frames, and, when the supervised term is on, ``sup_x [B', J, 2]`` and
  ``sup_3d [B', J, 3]``: labelled frames and their ground truth (a separate draw, since only
  some frames may carry 3D). With extra single poses from other sources (sec. 3.6) also
  ``x_extra`` and ``real_extra`` ``[E, J, 2]``: lifted and scored like the window frames, but
  never part of a temporal window. ``key`` is the run's base key; the update folds in
  ``states.step``. Use it with your own input pipeline; `make_train_step` wraps it with
  on-device batch drawing.
  """
  c = float(config.c)
  gan = config.loss.gan
  weights = {"adv": config.loss.w_adv, "loop_2d": config.loss.w_2d, "loop_3d": config.loss.w_3d,
             "temporal": config.loss.w_temporal, "symmetry": config.loss.w_symmetry,
             "supervised": config.loss.w_supervised,
             # Beyond the paper (.get: configs saved before these fields existed).
             "flip": config.loss.get("w_flip", 0.0), "bone_window": config.loss.get("w_bone_window", 0.0)}
  r1 = config.loss.get("r1", 0.0)
  ema_decay = config.train.get("ema_decay", 0.0)
  flip_perm = jnp.asarray(layout.flip_permutation)
  bones = layout.bones
  rot = {k: tuple(config.rotation[k]) for k in ("azimuth_range", "elevation_range", "roll_range")}
  symmetric_bones = layout.symmetric_bones
  lifter_schedule = learning_rate_schedule(config, config.optim.lifter_lr)
  unsupervised = any(weights[k] for k in ("adv", "loop_2d", "loop_3d", "temporal", "symmetry", "flip",
                                           "bone_window"))

  def step_fn(states: TrainStates, batch: dict, key: jax.Array):
    x, real = batch["x"], batch["real"]
    if x.ndim != 4 or x.shape[-2:] != (layout.num_joints, 2) or real.shape != x.shape:
      raise ValueError(f"batch: expected x and real of shape [B, T, {layout.num_joints}, 2], got "
                       f"{x.shape} and {real.shape}")
    step = states.lifter.step
    key = jax.random.fold_in(key, step)
    k_rot, k_drop1, k_drop2, k_drop3, k_disc, k_temp = jax.random.split(key, 6)
    # One camera per window, so the temporal discriminator sees the motion of a single view.
    rotation = geometry.random_rotation(k_rot, (x.shape[0], 1), **rot)
    inputs, real_poses, num_windowed = x, real, None
    if "x_extra" in batch:
      # Window frames and extra poses go through the lifter and the pose discriminator as one flat
      # batch; only the first num_windowed frames are reassembled into windows for T.
      num_windowed = x.shape[0] * x.shape[1]
      extra_rotation = geometry.random_rotation(jax.random.fold_in(k_rot, 1), (batch["x_extra"].shape[0],), **rot)
      rotation = jnp.concatenate([jnp.broadcast_to(rotation, x.shape[:2] + (3, 3)).reshape(-1, 3, 3), extra_rotation])
      inputs = jnp.concatenate([x.reshape(-1, *x.shape[2:]), batch["x_extra"]])
      real_poses = jnp.concatenate([real.reshape(-1, *real.shape[2:]), batch["real_extra"]])

    def windows(poses):
      """Flat ``[N, J, D]`` (or already windowed) poses -> the target windows ``[B, T, J, D]``."""
      return poses if num_windowed is None else poses[:num_windowed].reshape(x.shape[:2] + poses.shape[1:])

    def disc_logits(model, params, inputs, rng):
      return model.apply({"params": params}, inputs, train=True, rngs={"dropout": rng})

    def lifter_loss(params):
      stats, y, terms = states.lifter.batch_stats, None, {}
      if unsupervised:
        points, stats = lift(models.lifter, {"params": params, "batch_stats": stats}, inputs, c, train=True,
                             rng=k_drop1)
        root = geometry.root_of(points, layout.root_joints)
        rotated = geometry.rigid_transform(points, rotation, root, c)
        y = geometry.project(rotated)
        if weights["adv"]:
          logits = disc_logits(models.pose_disc, states.pose_disc.params, y, k_disc)
          terms["adv"] = losses.generator_loss(logits, gan)
        if weights["temporal"]:
          logits = disc_logits(models.temporal_disc, states.temporal_disc.params, windows(y), k_temp)
          terms["temporal"] = losses.generator_loss(logits, gan)
        if weights["loop_2d"] or weights["loop_3d"]:
          variables = {"params": params, "batch_stats": stats}
          rotated_tilde, stats = lift(models.lifter, variables, y, c, train=True, rng=k_drop2)
          x_tilde = geometry.project(geometry.inverse_rigid_transform(rotated_tilde, rotation, root, c))
          if weights["loop_2d"]:
            terms["loop_2d"] = losses.loop_closure_2d(inputs, x_tilde)
          if weights["loop_3d"]:
            terms["loop_3d"] = losses.loop_closure_3d(rotated, rotated_tilde)
        if weights["symmetry"]:
          terms["symmetry"] = losses.bone_symmetry_loss(points, symmetric_bones)
        if weights["flip"]:
          variables = {"params": params, "batch_stats": stats}
          flipped, stats = lift(models.lifter, variables, geometry.mirror_pose2d(inputs, flip_perm), c, train=True,
                                rng=jax.random.fold_in(k_drop1, 3))
          terms["flip"] = losses.flip_consistency(points, flipped, flip_perm)
        if weights["bone_window"]:
          terms["bone_window"] = losses.bone_window_loss(windows(points), bones)
      if weights["supervised"]:
        variables = {"params": params, "batch_stats": stats}
        sup_points, stats = lift(models.lifter, variables, batch["sup_x"], c, train=True, rng=k_drop3)
        terms["supervised"] = losses.supervised_3d(sup_points, batch["sup_3d"], layout.root_joints)
      total = sum(weights[name] * value for name, value in terms.items())
      return total, (terms, stats, y)

    (total, (terms, stats, fake)), grads = jax.value_and_grad(lifter_loss, has_aux=True)(states.lifter.params)
    lifter = update_ema(states.lifter.apply_gradients(grads=grads, batch_stats=stats), ema_decay)
    out = {"loss/total": total, **{f"loss/{k}": v for k, v in terms.items()},
           "norm/lifter_grads": optax.tree.norm(grads), "norm/lifter_params": optax.tree.norm(lifter.params),
           "lr/lifter": lifter_schedule(step)}
    new = {"lifter": lifter}
    # Discriminators learn on the same fakes, frozen: one lifter forward serves both updates.
    fake = None if fake is None else jax.lax.stop_gradient(fake)
    for name, model, inputs_real, inputs_fake, rng in (
        ("pose_disc", models.pose_disc, real_poses, fake, k_disc),
        ("temporal_disc", models.temporal_disc, real, None if fake is None else windows(fake), k_temp)):
      if model is None:
        continue

      def loss_fn(params, i, model=model, inputs_real=inputs_real, inputs_fake=inputs_fake, rng=rng, name=name):
        r = jax.random.fold_in(rng, 1000 + i)
        real_logits = disc_logits(model, params, inputs_real, r)
        fake_logits = disc_logits(model, params, inputs_fake, jax.random.fold_in(r, 1))
        loss = losses.discriminator_loss(real_logits, fake_logits, gan)
        if r1:  # R1 (Mescheder et al., ICML 2018): the gradient norm at real poses, squared.
          logit_sum = lambda inputs: jnp.sum(disc_logits(model, params, inputs, r))  # noqa: E731
          sample_ndim = 3 if name == "temporal_disc" else 2
          loss = loss + r1 * losses.gradient_penalty(jax.grad(logit_sum)(inputs_real), sample_ndim)
        return loss, (_score(real_logits, gan), _score(fake_logits, gan))

      new[name], m = _update_discriminator(getattr(states, name), loss_fn, config.optim.disc_updates,
                                           config.optim.disc_every, step, name)
      out.update(m)
    return TrainStates(**new), out

  return step_fn


def draw_batch(pool, key: jax.Array, num_windows: int, window: int, mesh=None, num_extra: int = 0) -> dict:
  """Draws a batch from a `device_pool` inside the compiled step.

  ``x`` and ``real`` are independent draws (sec. 3.4: the discriminator's real poses need not
  match the lifter's inputs), each ``num_windows`` windows of ``window`` consecutive frames of
  one sequence: ``[num_windows, window, J, 2]``. When the pool has labelled frames, ``sup_x``
  ``[num_windows, J, 2]`` and ``sup_3d`` ``[num_windows, J, 3]`` (labelled frames and their ground
  truth) come too; with ``num_extra`` and an ``extra`` pool, ``x_extra`` and ``real_extra``
  ``[num_extra, J, 2]`` (independent draws of extra single poses).

  Each draw takes its indices for the whole batch from one key, row ``r`` below the count of the
  block it comes from, so with equal blocks (one process) the batch does not depend on the
  number of devices. Rows are cut into D equal parts (D: the pool's leading axis) and part ``d``
  is gathered from block ``d``; with a ``mesh`` the parts are sharded over ``data``, so each
  device gathers from its own block and no block leaves its device.
  """
  frames = pool["frames"]
  num_blocks = frames.shape[0]
  offsets = jnp.arange(window, dtype=pool["starts"].dtype)
  k_x, k_real, k_sup = jax.random.split(key, 3)

  def on_devices(x):
    return x if mesh is None else jax.lax.with_sharding_constraint(x, NamedSharding(mesh, P(DATA_AXIS)))

  def rows(k, counts, count):
    """``[D, count / D]`` indices into each block, each below its block's count."""
    if count % num_blocks:
      raise ValueError(f"draw_batch: expected a draw of a multiple of the pool's {num_blocks} blocks, got {count}")
    # The same numbers as a draw of shape [count] (a random value depends on its flat position
    # only), but drawn block by block, so no device needs another's count or indices.
    shape = (num_blocks, count // num_blocks)
    return on_devices(jax.random.randint(k, shape, 0, on_devices(counts)[:, None]))

  def gather(blocks, idx):
    """``blocks [D, N, ...]`` at ``idx [D, R, ...]`` per block, flattened to ``[D * R, ...]``."""
    out = on_devices(jax.vmap(lambda block, i: block[i])(blocks, idx))
    return on_devices(out.reshape((-1,) + out.shape[2:]))

  def windows(k):
    starts = jax.vmap(lambda s, i: s[i])(pool["starts"], rows(k, pool["num_starts"], num_windows))
    return gather(frames, starts[..., None] + offsets)

  batch = {"x": windows(k_x), "real": windows(k_real)}
  if "labelled" in pool:
    idx = jax.vmap(lambda s, i: s[i])(pool["labelled"], rows(k_sup, pool["num_labelled"], num_windows))
    batch["sup_x"], batch["sup_3d"] = gather(frames, idx), gather(pool["frames_3d"], idx)
  if num_extra:
    # Its own key, so the target draws are those of a run without extras.
    k_xe, k_re = jax.random.split(jax.random.fold_in(key, 7))
    batch["x_extra"] = gather(pool["extra"], rows(k_xe, pool["num_extra"], num_extra))
    batch["real_extra"] = gather(pool["extra"], rows(k_re, pool["num_extra"], num_extra))
  return batch


def make_train_step(config, models: Models, layout: skeleton.Layout, mesh=None):
  """The pure train step ``(states, pool, key) -> (states, metrics)``; see `compile_train_step`.

  ``pool`` is the training set on the devices (a `Pool`, see `device_pool`); the step draws its
  batch from it with ``fold_in(key, step)``, so no input pipeline can stall it and a resumed run
  sees the batches an uninterrupted one would. The batch is global: ``train.batch_size`` poses
  split over the pool's D device blocks.
  """
  update = make_update(config, models, layout)
  window = config_lib.window_size(config)

  def step_fn(states: TrainStates, pool: Pool, key: jax.Array):
    num_windows, batch_extra = config_lib.batch_split(config, pool.total_frames, pool.total_extra,
                                                      pool["frames"].shape[0])
    k_data, k_update = jax.random.split(key)
    batch = draw_batch(pool, jax.random.fold_in(k_data, states.step), num_windows, window, mesh, batch_extra)
    return update(states, batch, k_update)

  return step_fn


def make_multi_step(step_fn, num_steps: int):
  """``num_steps`` consecutive train steps as one function (a ``lax.scan``), so one dispatch runs them all.

  ``(states, pool, key) -> (states, metrics)`` with each metric stacked ``[num_steps]``. Every
  step folds in its own ``states.step``, so this is ``num_steps`` calls of ``step_fn`` in one.
  """
  if num_steps < 1:
    raise ValueError(f"make_multi_step: expected num_steps >= 1, got {num_steps}")

  def multi(states, pool, key):
    return jax.lax.scan(lambda s, _: step_fn(s, pool, key), states, length=num_steps)

  return multi


def call_size(step: int, last: int, k: int, every: tuple[int, ...]) -> int:
  """Steps in the call that starts at ``step``: ``k``, or 1 where ``k`` would run past ``last`` or past
  a multiple of some ``every`` (a step where the loop logs, evaluates or saves)."""
  stop = min(last, *((step // n + 1) * n for n in every))
  return k if step + k <= stop else 1


def labelled_frames(data: pipeline.PoseData, fraction: float, seed: int) -> np.ndarray:
  """Indices of the training frames whose 3D the supervised term may use.

  ``fraction`` of the takes (all of a take's cameras together, as a capture session would
  record them), chosen with ``seed``; at least one. 1 means every frame.
  """
  if data.train_3d is None:
    raise ValueError("loss.w_supervised: the supervised term needs the training frames' 3D, but the data has none")
  if not 0 < fraction <= 1:
    raise ValueError(f"data.supervised_fraction: expected a fraction in (0, 1], got {fraction}")
  n = len(data.train_2d)
  if fraction == 1:
    return np.arange(n, dtype=np.int32)
  names = data.train_names or tuple(str(i) for i in range(len(data.sequence_lengths)))
  takes = sorted({name.rsplit("/cam", 1)[0] for name in names})
  rng = np.random.default_rng(seed)
  chosen = set(rng.permutation(takes)[:max(1, round(fraction * len(takes)))].tolist())
  keep = np.repeat([name.rsplit("/cam", 1)[0] in chosen for name in names], data.sequence_lengths)
  return np.flatnonzero(keep).astype(np.int32)


@flax.struct.dataclass
class Pool:
  """The training set on the devices (`device_pool`): ``pool[name]`` is an array of ``arrays``.

  ``total_frames`` and ``total_extra`` are the sizes of the whole training set, over all
  processes (static: `lifting.config.batch_split` needs them when the graph is built).
  """
  arrays: dict
  total_frames: int = flax.struct.field(pytree_node=False)
  total_extra: int = flax.struct.field(pytree_node=False, default=0)

  def __getitem__(self, name: str) -> jax.Array:
    return self.arrays[name]

  def __contains__(self, name: str) -> bool:
    return name in self.arrays


def _shard_sizes(data: pipeline.PoseData, window: int, labelled: np.ndarray | None, count: int) -> dict:
  """Rows of each of the ``count`` shards of `lifting.data.pipeline.shard`, per pool array: name -> ``[count]``."""
  lengths = np.asarray(data.sequence_lengths, np.int64)
  owner = np.arange(len(lengths)) % count
  sizes = {"frames": np.bincount(owner, lengths, count),
           "starts": np.bincount(owner, np.maximum(lengths - window + 1, 0), count)}
  if data.extra_2d is not None:
    sizes["extra"] = np.array([len(range(i, len(data.extra_2d), count)) for i in range(count)])
  if labelled is not None:
    sizes["labelled"] = np.bincount(np.repeat(owner, lengths)[labelled], minlength=count)
  return {k: v.astype(np.int64) for k, v in sizes.items()}


def device_pool(data: pipeline.PoseData, mesh: jax.sharding.Mesh, window: int,
                labelled: np.ndarray | None = None) -> Pool:
  """The training set on the devices of ``mesh``, for `draw_batch`; ``data`` is the whole set.

  Process i of P keeps only its shard (`lifting.data.pipeline.shard`: sequences and extra poses
  whose index % P == i). Every array has a leading axis D (``mesh.size``), sharded on ``data``:
  device d's block holds the shard of d's process, zero-padded to the largest shard, and
  ``num_<name> [D]`` counts its rows. Every process computes every shard's size from the split,
  so no data is exchanged. The arrays: ``frames [D, N, J, 2]`` and ``starts [D, K]`` (block
  indices of the frames that begin a ``window``-frame run inside one sequence); with ``labelled``
  (indices into ``data``, see `labelled_frames`) also ``frames_3d [D, N, J, 3]`` and ``labelled
  [D, L]`` (block indices), for the supervised term; with ``data.extra_2d`` also ``extra [D, E,
  J, 2]``. With one process every block is the whole training set.
  """
  count, index = jax.process_count(), jax.process_index()
  sizes = _shard_sizes(data, window, labelled, count)
  if count > 1:
    # Checked for every shard on every process, so all fail alike instead of some waiting for the others.
    num_seqs, num_extra = len(data.sequence_lengths), 0 if data.extra_2d is None else len(data.extra_2d)
    for name, what, among in (("starts", f"{window}-frame training windows", f"{num_seqs} sequences"),
                              ("extra", "extra poses (data.extra)", f"{num_extra} extra poses"),
                              ("labelled", "labelled frames (data.supervised_fraction)", "labelled sequences")):
      if name in sizes and not sizes[name].all():
        raise ValueError(f"training data: expected a share of the {among} for each of {count} processes, but the "
                         f"shards of processes {np.flatnonzero(sizes[name] == 0).tolist()} hold no {what}; use "
                         "fewer processes or more data")
  local = pipeline.shard(data, index, count)
  blocks = {"frames": np.asarray(local.train_2d, np.float32),
            "starts": np.asarray(local.window_starts(window), np.int32)}
  if data.extra_2d is not None:
    blocks["extra"] = np.asarray(local.extra_2d, np.float32)
  if labelled is not None:
    frames = pipeline.shard_frames(data.sequence_lengths, index, count)
    mine = np.asarray(labelled)[np.isin(labelled, frames)]
    blocks["frames_3d"] = np.asarray(local.train_3d, np.float32)
    blocks["labelled"] = np.searchsorted(frames, mine).astype(np.int32)  # Into this shard's frames.
  sizes["frames_3d"] = sizes["frames"]
  owners = [d.process_index for d in mesh.devices.flat]
  sharding = NamedSharding(mesh, P(DATA_AXIS))
  arrays = {}
  for name, block in blocks.items():
    padded = np.zeros((int(sizes[name].max()),) + block.shape[1:], block.dtype)
    padded[:len(block)] = block
    # Called for this process's devices only, and each of them holds this process's shard.
    arrays[name] = jax.make_array_from_callback((mesh.size,) + padded.shape, sharding, lambda _, v=padded: v[None])
    if name != "frames_3d":
      counts = np.asarray([sizes[name][p] for p in owners], np.int32)
      arrays[f"num_{name}"] = jax.make_array_from_callback(counts.shape, sharding, lambda idx, c=counts: c[idx])
  if count > 1:
    logs.log(f"{count} processes: each holds its shard of the training set, {sizes['frames'].min():,} to "
             f"{sizes['frames'].max():,} frames")
  return Pool(arrays, total_frames=len(data.train_2d), total_extra=0 if data.extra_2d is None else len(data.extra_2d))


def make_pool(config, data: pipeline.PoseData, mesh: jax.sharding.Mesh) -> Pool:
  """`device_pool` as a config asks for it (labelled frames only with the supervised term on)."""
  labelled = None
  if config.loss.w_supervised > 0:
    labelled = labelled_frames(data, config.data.supervised_fraction, config.seed)
    logs.log(f"supervised term: 3D of {len(labelled):,} of {len(data.train_2d):,} training frames "
             f"(data.supervised_fraction = {config.data.supervised_fraction})")
  return device_pool(data, mesh, config_lib.window_size(config), labelled)


def compile_train_step(step_fn, mesh: jax.sharding.Mesh, batch_input: bool = False):
  """Jits a train step with replicated states (donated) and key, and the pool sharded on ``data``.

  With ``batch_input`` the second argument is a batch (`make_update`) instead, also sharded on
  ``data``.
  """
  replicated = NamedSharding(mesh, P())
  return jax.jit(step_fn, in_shardings=(replicated, NamedSharding(mesh, P(DATA_AXIS)), replicated),
                 out_shardings=(replicated, replicated), donate_argnums=(0,))


def global_batch(mesh: jax.sharding.Mesh, local_batch: dict) -> dict:
  """Assembles each process's share of a batch into arrays sharded over the whole mesh."""
  sharding = NamedSharding(mesh, P(DATA_AXIS))
  return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in local_batch.items()}


def init_states(config, models: Models, layout: skeleton.Layout, key: jax.Array, mesh) -> TrainStates:
  """Creates the states directly in replicated form on every device of ``mesh``."""
  init = jax.jit(lambda k: create_train_states(config, models, layout.num_joints, k),
                 out_shardings=NamedSharding(mesh, P()))
  return init(key)


def make_lift_fn(models: Models, c: float, mesh, chunk: int = 4096):
  """Returns ``lift_all(lifter_state, poses2d [N, J, 2], weights="raw") -> np.ndarray [N, J, 3]`` (eval
  mode), with the state's raw or moving-average (``"ema"``) weights.

  Poses go through one compiled function in fixed-size chunks, so any N compiles once. Every
  process passes the same poses and gets all of the answer: the chunks are split over the mesh
  and the lifted chunk comes back replicated, since a host can read only its own devices.
  """
  chunk = max(chunk // mesh.size, 1) * mesh.size
  sharding = NamedSharding(mesh, P(DATA_AXIS))

  @functools.partial(jax.jit, out_shardings=NamedSharding(mesh, P()))
  def lift_chunk(variables, poses):
    return lift(models.lifter, variables, poses, c, train=False)

  def lift_all(lifter_state, poses2d, weights: str = "raw"):
    variables = lifter_state.variables(weights)
    poses2d = np.asarray(poses2d, np.float32)
    # From a callback, so each process places only its own devices' rows.
    put = lambda part: jax.make_array_from_callback(part.shape, sharding, lambda idx: part[idx])  # noqa: E731
    return map_chunks(lambda part: lift_chunk(variables, put(part)), poses2d, chunk,
                      np.zeros((0,) + poses2d.shape[1:-1] + (3,), np.float32))

  return lift_all


def map_chunks(fn, x: np.ndarray, chunk: int, empty: np.ndarray) -> np.ndarray:
  """``fn`` over ``x`` in chunks of exactly ``chunk`` rows (the last padded with zeros, its padding cut
  off), so a compiled ``fn`` sees one shape for any N; ``empty`` is the answer for N = 0."""
  out = []
  for start in range(0, len(x), chunk):
    part = x[start:start + chunk]
    padded = np.concatenate([part, np.zeros((chunk - len(part),) + part.shape[1:], part.dtype)])
    out.append(np.asarray(fn(padded))[:len(part)])
  return np.concatenate(out) if out else empty


def evaluate_poses(pred3d: np.ndarray, gt3d: np.ndarray, layout: skeleton.Layout,
                   actions: np.ndarray | None = None, views: bool = True) -> dict:
  """Errors of lifted poses against the camera-frame ground truth (in its units), with the view
  diagnostics (errors by yaw bin, depth-flip rate); see `lifting.metrics.evaluate`.

  Lifted poses are in the lifter's units, not millimetres, so unaligned MPJPE is left out.
  """
  results = metrics_lib.evaluate(np.asarray(pred3d), np.asarray(gt3d), layout, actions, views=views)
  results.pop("mpjpe", None)
  return results


def flat_poses(pose2d: np.ndarray) -> np.ndarray:
  """The trivial lift: every joint of ``[..., J, 2]`` at one depth (``[..., J, 3]``)."""
  return np.concatenate([pose2d, np.ones(pose2d.shape[:-1] + (1,), np.float32)], axis=-1)


def mean_depth_offsets(train_2d: np.ndarray, train_3d: np.ndarray, layout: skeleton.Layout, c: float) -> np.ndarray:
  """``[J]`` the mean root-relative depth of the training poses, in the lifter's units.

  Each pose's millimetres are converted with its weak-perspective scale: the least-squares
  factor that maps its root-centred ground-truth ``(X, Y)`` onto ``c`` times its normalised 2D.
  """
  gt = train_3d - np.asarray(geometry.root_of(train_3d, layout.root_joints))[:, None]
  lateral = c * train_2d
  k = np.sum(lateral * gt[..., :2], axis=(1, 2)) / np.maximum(np.sum(gt[..., :2] ** 2, axis=(1, 2)), 1e-9)
  return np.mean(k[:, None] * gt[..., 2], axis=0).astype(np.float32)


def protocol(config) -> str:
  """The evaluation protocol's name in results: ``bandai/fixed-rig``, ``bandai/turned-rig``, or the source."""
  if config.data.source == "bandai":
    from lifting.data import bandai  # pylint: disable=g-import-not-at-top
    return bandai.protocol_name(config.data.bandai.get("rig", "fixed"))
  return config.data.source


def baselines(data: pipeline.PoseData, c: float) -> dict[str, dict]:
  """Test errors of the trivial lifts every result should be read beside.

  ``flat``: every joint at the same depth. ``mean_depth``: every test pose gets the training
  set's mean root-relative depth per joint (needs the training 3D, so it is a reference, not an
  unsupervised result).
  """
  out = {"flat": evaluate_poses(flat_poses(data.test_2d), data.test_3d, data.layout, data.test_actions)}
  if data.train_3d is not None:
    d = mean_depth_offsets(data.train_2d, data.train_3d, data.layout, c)
    pred = np.asarray(geometry.depth_to_points(data.test_2d, np.broadcast_to(d, data.test_2d.shape[:-1]), c))
    out["mean_depth"] = evaluate_poses(pred, data.test_3d, data.layout, data.test_actions)
  return out


def warm_start(states: TrainStates, workdir: str) -> TrainStates:
  """``states`` with the parameters (and batch statistics) of the latest checkpoint in ``workdir``.

  Step counters and optimiser states stay fresh: fine-tuning (e.g. semi-supervised, sec. 4.4)
  starts its own schedule from a trained network. The networks must match the checkpoint's.
  """
  source = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"))
  try:
    if source.latest_step() is None:
      raise ValueError(f"train.init_from: no checkpoint in {workdir}/checkpoints to start from")
    try:
      trained = source.restore(states)
    except (ValueError, KeyError, TypeError) as e:
      raise ValueError(f"train.init_from: the checkpoint in {workdir} holds other networks than this config "
                       f"builds ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
    logs.log(f"initialised from step {source.latest_step()} of {workdir}")
  finally:
    source.close()
  new = {"lifter": states.lifter.replace(params=trained.lifter.params, batch_stats=trained.lifter.batch_stats)}
  for name in ("pose_disc", "temporal_disc"):
    if getattr(states, name) is not None:
      new[name] = getattr(states, name).replace(params=getattr(trained, name).params)
  return TrainStates(**new)


def finite_or_raise(step: int, scalars: dict) -> None:
  """Fails fast, naming the term and step, when a logged loss, score or norm is NaN or infinite."""
  for name, value in scalars.items():
    if not math.isfinite(float(value)):
      raise FloatingPointError(f"non-finite {name} = {float(value)} at step {step}; stopping the run")


def flush_metrics(pending: list, writer: logs.MetricWriter | None) -> dict[str, float]:
  """Pulls the buffered ``(step, metrics)`` to the host, checks each step, logs their mean (with a
  ``writer``) and returns it; empties ``pending``. Metrics stacked ``[k]`` (`make_multi_step`) are
  the k steps from ``step`` on."""
  rows, end = [], 0
  for (step, _), scalars in zip(pending, jax.device_get([m for _, m in pending])):
    count = np.shape(next(iter(scalars.values())))[:1] or None
    for i in range(count[0] if count else 1):
      row = {k: v[i] for k, v in scalars.items()} if count else scalars
      finite_or_raise(step + i, row)
      rows.append(row)
      end = step + i + 1
  means = {k: float(np.mean([r[k] for r in rows])) for k in rows[-1]}
  if writer is not None:
    writer.write_scalars(end, means)
  pending.clear()
  return means


_SCALARS = ("pa_mpjpe", "n_mpjpe", "pck", "auc", "limb_ratio_error", "depth_flip_rate", "worst_yaw_pa_mpjpe")
_PREFIX = {"raw": "test", "ema": "test_ema"}


def weights_kinds(config) -> tuple[str, ...]:
  """The weights a run evaluates: ``("raw",)``, or ``("raw", "ema")`` with a moving average."""
  return ("raw", "ema") if config.train.get("ema_decay", 0.0) > 0 else ("raw",)


def reported_weights(config) -> str:
  """The weights whose errors results.json and the tables report (``eval.weights``; "raw" for old configs)."""
  return config.get("eval", {}).get("weights", "raw")


def test_all(config, lift_all, states, data, writer=None, step=None) -> dict:
  """Evaluates every kind of weights (`weights_kinds`) on the test set; logs each with its prefix
  (``test/``, ``test_ema/``). Returns the reported weights' results with ``weights`` naming them and,
  under ``other_weights``, the others' scalars."""
  report = reported_weights(config)
  out, others = {}, {}
  for kind in weights_kinds(config):
    results = evaluate_poses(lift_all(states.lifter, data.test_2d, kind), data.test_3d, data.layout,
                             data.test_actions)
    if writer is not None:
      writer.write_scalars(step, {f"{_PREFIX[kind]}/{k}": results[k] for k in _SCALARS if k in results})
    logs.log(f"step {int(states.step)}, {kind} weights: test PA-MPJPE {results['pa_mpjpe']:.1f}, N-MPJPE "
             f"{results['n_mpjpe']:.1f}, PCK {100 * results['pck']:.1f}%, AUC {100 * results['auc']:.1f}%, "
             f"depth flips {100 * results['depth_flip_rate']:.1f}%, worst yaw bin {results['worst_yaw_pa_mpjpe']:.1f}")
    if kind == report:
      out = results
    else:
      others[kind] = {k: results[k] for k in _SCALARS if k in results}
  out["weights"] = report
  if others:
    out["other_weights"] = others
  return out


def eval_history(workdir: str, weights: str = "raw", key: str = "pa_mpjpe") -> tuple[list[int], list[float]]:
  """``(steps, values)`` of one test metric over a run's evaluations, from its ``metrics.jsonl``."""
  name = f"{_PREFIX[weights]}/{key}"
  steps, values = [], []
  path = os.path.join(workdir, "metrics.jsonl")
  if os.path.exists(path):
    with open(path) as f:
      for line in f:
        row = json.loads(line)
        if name in row:
          steps.append(int(row["step"]))
          values.append(float(row[name]))
  return steps, values


def swing(workdir: str, weights: str, last: int = 5) -> dict | None:
  """How much the reported test error moved over the run's last ``last`` evaluations: their steps,
  values, mean, range (max - min) and largest step-to-step change; ``None`` with fewer evaluations."""
  steps, values = eval_history(workdir, weights)
  if len(values) < last:
    return None
  tail = values[-last:]
  return {"steps": steps[-last:], "pa_mpjpe": tail, "mean": float(np.mean(tail)),
          "range": float(max(tail) - min(tail)), "max_change": float(np.max(np.abs(np.diff(tail))))}


def normalization_stats(config, data: pipeline.PoseData) -> dict:
  """How the training 2D was normalised, so new keypoints can be brought into the same frame.

  ``dataset_scale``: pixels to normalised units (``None`` with per-pose scales); ``body_size``:
  the median `lifting.data.wild.body_size` of the normalised training poses, the size an
  in-the-wild pose is scaled to (its head and neck may mean other points, its limbs do not);
  ``mean_pose``: the mean normalised training pose ``[J, 2]``.
  """
  from lifting.data import wild  # pylint: disable=g-import-not-at-top
  try:
    body = float(np.median(wild.body_size(data.train_2d, data.layout)))
  except ValueError:  # A layout without the eight limb bones.
    body = None
  return {"layout": data.layout.name, "c": float(config.c), "scale_mode": config.data.scale,
          "dataset_scale": data.scale, "body_size": body, "source": config.data.source,
          "mean_pose": np.mean(data.train_2d, axis=0).round(6).tolist()}


def write_normalization(workdir: str, config, data: pipeline.PoseData) -> None:
  if jax.process_index() == 0:
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "normalization.json"), "w") as f:
      json.dump(normalization_stats(config, data), f, indent=2)


def _batch_text(config, data: pipeline.PoseData, window: int, num_devices: int) -> str:
  extra = 0 if data.extra_2d is None else len(data.extra_2d)
  windows, batch_extra = config_lib.batch_split(config, len(data.train_2d), extra, num_devices)
  text = f"{windows} windows of {window}"
  if batch_extra:
    text += f" + {batch_extra} of {extra:,} extra {config.data.extra.kind} source poses"
  return text


def train_and_evaluate(config, workdir: str) -> dict:
  """Trains per ``config``, resuming from the latest checkpoint in ``workdir``; returns test metrics.

  Writes ``config.json``, ``metrics.jsonl``, TensorBoard events and ``checkpoints/`` in
  ``workdir``. Everything random derives from ``config.seed`` and the step, so a run that is
  killed and restarted ends with the same parameters as one that was not. With a 3D test set
  the test errors are logged every ``train.eval_every`` steps, and the returned results carry
  the trivial baselines beside them.
  """
  config_lib.validate(config)
  layout = skeleton.get_layout(config.layout)
  data = pipeline.load(config)
  config_lib.validate_against(config, data, jax.device_count(), jax.process_count())
  mesh = make_mesh()
  models = build_models(config)
  window = config_lib.window_size(config)

  writer = logs.MetricWriter(workdir, enabled=jax.process_index() == 0)
  writer.write_config(config)
  write_normalization(workdir, config, data)
  ckpt = checkpoint.Checkpointer(f"{workdir}/checkpoints", config.train.max_checkpoints)
  init_key, train_key = jax.random.split(jax.random.key(config.seed))
  states = init_states(config, models, layout, init_key, mesh)
  if ckpt.latest_step() is not None:
    states = ckpt.restore(states)
    logs.log(f"resumed from step {ckpt.latest_step()} in {workdir}")
  elif config.train.init_from:
    states = warm_start(states, config.train.init_from)
  start = int(states.step)
  writer.truncate_after(start)
  num_params = sum(x.size for x in jax.tree.leaves(states.lifter.params))
  logs.log(f"{jax.device_count()} device(s) ({jax.devices()[0].platform}), {jax.process_count()} process(es); "
           f"lifter {num_params:,} parameters; {len(data.train_2d):,} training frames in "
           f"{len(data.sequence_lengths):,} sequences; batch {config.train.batch_size} poses = "
           + _batch_text(config, data, window, mesh.size))

  pool = make_pool(config, data, mesh)
  train_step = make_train_step(config, models, layout, mesh)
  k = config.train.steps_per_call
  one_step = compile_train_step(train_step, mesh)  # Compiled only if a call must stop short of k steps.
  k_steps = compile_train_step(make_multi_step(train_step, k), mesh) if k > 1 else one_step
  lift_all = make_lift_fn(models, config.c, mesh)
  progress = logs.Progress(start, config.train.num_steps)
  results: dict = {}
  pending: list = []
  last, t = config.train.num_steps, config.train
  step = start
  while step < last:
    n = call_size(step, last, k, (t.log_every, t.eval_every, t.checkpoint_every))
    states, step_metrics = (k_steps if n == k else one_step)(states, pool, train_key)
    pending.append((step, step_metrics))
    step += n
    if step % t.log_every == 0 or step == last or step == start + n:  # Also after the first call.
      means = flush_metrics(pending, writer)
      logs.log(f"{progress.line(step)} | loss {means['loss/total']:.4g}")
    if data.test_3d is not None and (step % t.eval_every == 0 or step == last):
      results = test_all(config, lift_all, states, data, writer, step)
    if step % t.checkpoint_every == 0 or step == last:
      ckpt.save(step, states)
  if start >= last and data.test_3d is not None:
    logs.log(f"already trained to step {start} (train.num_steps = {last}); evaluating only")
    results = test_all(config, lift_all, states, data)
  ckpt.close()
  writer.close()
  if data.test_3d is not None:
    results["baselines"] = baselines(data, config.c)
    results["data"] = config.data.source
    results["protocol"] = protocol(config)
    moved = swing(workdir, results["weights"])
    if moved is not None:
      results["last_evals"] = moved
  if data.extra_2d is not None:
    per_batch = config_lib.batch_split(config, len(data.train_2d), len(data.extra_2d), mesh.size)[1]
    results["extra"] = {"kind": config.data.extra.kind, "poses": len(data.extra_2d), "per_batch": per_batch}
  results["step"] = int(states.step)
  return results


def evaluate(config, workdir: str) -> dict:
  """Evaluates the latest checkpoint in ``workdir`` on the config's test set.

  Writes ``results.json`` (every metric, per-action errors and the trivial baselines) and
  ``results.md`` (a markdown table: this run's row under the baselines' rows).
  """
  config_lib.validate(config)
  layout = skeleton.get_layout(config.layout)
  ckpt = checkpoint.Checkpointer(f"{workdir}/checkpoints", config.train.max_checkpoints)
  if ckpt.latest_step() is None:
    ckpt.close()
    raise ValueError(f"no checkpoint in {workdir}/checkpoints: train first (--mode=train)")
  data = pipeline.load(config, extra=False)  # The test set only: extra training poses play no part.
  if data.test_3d is None:
    raise ValueError(f"data.source {config.data.source!r} has no 3D test set to evaluate on")
  mesh = make_mesh()
  models = build_models(config)
  states = ckpt.restore(init_states(config, models, layout, jax.random.key(0), mesh))
  ckpt.close()
  results = test_all(config, make_lift_fn(models, config.c, mesh), states, data)
  results["baselines"] = baselines(data, config.c)
  results["step"] = int(states.step)
  results["data"] = config.data.source
  results["protocol"] = protocol(config)
  moved = swing(workdir, results["weights"])
  if moved is not None:
    results["last_evals"] = moved
  write_results(workdir, results)
  return results


def write_results(workdir: str, results: dict) -> None:
  """``results.json`` and ``results.md`` (baseline rows, then this run's row) in ``workdir``; process 0 only."""
  if jax.process_index() != 0:
    return
  with open(f"{workdir}/results.json", "w") as f:
    json.dump(results, f, indent=2)
  name = os.path.basename(os.path.normpath(workdir))
  rows = [markdown_row(f"baseline: {k}", v) for k, v in results["baselines"].items()] + [markdown_row(name, results)]
  with open(f"{workdir}/results.md", "w") as f:
    f.write("\n".join([MARKDOWN_HEADER, *rows]) + "\n")


MARKDOWN_HEADER = ("| run | steps | PA-MPJPE (mm) | N-MPJPE (mm) | PCK@150 (%) | AUC (%) | test poses |\n"
                   "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")


def markdown_row(name: str, results: dict) -> str:
  """One row of `MARKDOWN_HEADER`'s table."""
  steps = results.get("step", "")
  return (f"| {name} | {steps} | {results['pa_mpjpe']:.1f} | {results['n_mpjpe']:.1f} | {100 * results['pck']:.1f} "
          f"| {100 * results['auc']:.1f} | {int(results['num_poses']):,} |")
