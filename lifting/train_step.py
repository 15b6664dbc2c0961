"""The ONE compiled data-parallel train step of Chen et al. (CVPR 2019), and the states it updates.

The step (sec. 3) lifts the 2D inputs ``x`` to ``X`` (eq. 1-2), turns ``X`` about its root by a
random camera rotation and projects it to ``y`` (eq. 3), scores ``y`` against real poses ``r``
with the pose discriminator (eq. 5) and, over windows of consecutive frames, with the temporal
discriminator (eq. 6), lifts ``y`` to ``Y~``, undoes the rotation and projects to ``x~`` for the
loop-closure losses (sec. 3.3), and takes the weighted sum of eq. 8. The lifter and both
discriminators are updated in the same compiled function, each held in a Flax ``TrainState``
(the lifter's also carries its batch statistics and a moving average of its weights). Which
terms are on comes from the config, so every ablation is this step with another config.

Data parallelism uses ``jax.jit`` over a one-axis ``Mesh`` named ``data``: the batch is sharded
along it, the states are replicated, and XLA inserts the gradient and batch-norm reductions. The
same code runs on one CPU, several GPUs or every device of a multi-host pod (``jax.pmap`` is
legacy in the JAX this library targets). The step draws its batch from the training set already
on the devices (`lifting.pool`), so no input pipeline can stall it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax
from flax.training import train_state
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

from lifting import augment
from lifting import configs
from lifting import flow as flow_lib
from lifting import geometry
from lifting import losses
from lifting import models as models_lib
from lifting import optim
from lifting import pool as pool_lib
from lifting import skeleton


DATA_AXIS = pool_lib.DATA_AXIS  # The mesh axis the batch is sharded on.


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
class Networks:
  """The flax modules of one run (their parameters live in `TrainStates`); a discriminator is None when off."""
  lifter: models_lib.Lifter
  pose_disc: models_lib.PoseDiscriminator | None
  temporal_disc: models_lib.TemporalDiscriminator | None


def build_models(config) -> Networks:
  """The networks a config needs; a discriminator is built only if its term is on."""
  m = config.model
  speed = models_lib.speed_settings(config)
  disc = dict(width=m.width, num_blocks=m.disc_blocks, dropout=m.disc_dropout, **speed)
  # Beyond the paper: the pose discriminator also sees the bones' Gram matrix (models.kcs_features).
  kcs = {}
  if m.disc_kcs:
    kcs = dict(kcs_bones=skeleton.get_layout(config.layout).bones, kcs_scale=float(config.c))
  return Networks(
      lifter=models_lib.lifter_from_config(config),
      pose_disc=models_lib.PoseDiscriminator(**disc, **kcs) if config.loss.w_adv > 0 else None,
      temporal_disc=models_lib.TemporalDiscriminator(**disc) if config.loss.w_temporal > 0 else None)



def create_train_states(config, models: Networks, num_joints: int, key: jax.Array) -> TrainStates:
  """Fresh parameters and optimiser states for every network in ``models``."""
  k_lift, k_disc, k_temp = jax.random.split(key, 3)
  pose = jnp.zeros((1, num_joints, 2), jnp.float32)
  variables = models.lifter.init(k_lift, pose, train=False)
  ema = config.train.ema_decay > 0
  states = {"lifter": LifterState.create(apply_fn=models.lifter.apply, params=variables["params"],
                                         tx=optim.adam(config, config.optim.lifter_lr),
                                         batch_stats=variables["batch_stats"],
                                         ema_params=variables["params"] if ema else None,
                                         ema_batch_stats=variables["batch_stats"] if ema else None)}
  if models.pose_disc is not None:
    params = models.pose_disc.init(k_disc, pose)["params"]
    states["pose_disc"] = train_state.TrainState.create(apply_fn=models.pose_disc.apply, params=params,
                                                        tx=optim.adam(config, config.optim.disc_lr))
  if models.temporal_disc is not None:
    window = jnp.zeros((1, 1 + config.model.temporal_neighbours, num_joints, 2), jnp.float32)
    params = models.temporal_disc.init(k_temp, window)["params"]
    states["temporal_disc"] = train_state.TrainState.create(apply_fn=models.temporal_disc.apply, params=params,
                                                            tx=optim.adam(config, config.optim.temporal_lr))
  return TrainStates(**states)


def make_mesh(devices=None) -> jax.sharding.Mesh:
  """A one-axis ``data`` mesh over ``devices`` (default: all devices of all processes).

  ``AxisType.Auto`` lets XLA propagate shardings; Linen dropout fails under Explicit axes.
  """
  devices = jax.devices() if devices is None else list(devices)
  return jax.make_mesh((len(devices),), (DATA_AXIS,), axis_types=(AxisType.Auto,), devices=devices)


def lift(model: models_lib.Lifter, variables, pose2d: jax.Array, c: float, train: bool = False,
         rng: jax.Array | None = None, with_elevation: bool = False):
  """Lifts ``[..., J, 2]`` normalised poses to ``[..., J, 3]`` camera-frame joints (eq. 1-2).

  In training mode also returns the updated batch statistics, and with ``with_elevation`` (training mode, a
  lifter built with ``elevation``) the estimated camera elevations ``[...]`` after them.
  """
  if with_elevation and not (train and model.elevation):
    raise ValueError(f"lift: with_elevation needs train=True and a Lifter(elevation=True), got train={train} "
                     f"and elevation={model.elevation}")
  flat = pose2d.reshape((-1,) + pose2d.shape[-2:])
  if train:
    mutable = ["batch_stats", "intermediates"] if with_elevation else ["batch_stats"]
    offsets, updates = model.apply(variables, flat, train=True, rngs={"dropout": rng}, mutable=mutable)
  else:
    offsets, updates = model.apply(variables, flat, train=False), None
  points = models_lib.lifted_points(pose2d, offsets.reshape(pose2d.shape[:-1] + offsets.shape[2:]), c)
  if with_elevation:
    return points, updates["batch_stats"], updates["intermediates"]["elevation"][0].reshape(pose2d.shape[:-2])
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


def make_update(config, models: Networks, layout: skeleton.Layout, prior=None):
  """The pure update ``(states, batch, key) -> (states, metrics)`` on a given batch.

  ``batch`` holds ``x`` and ``real``, each ``[B, T, J, 2]``: B windows of T consecutive
  normalised 2D frames, and, when the supervised term is on, ``sup_x [B', J, 2]`` and
  ``sup_3d [B', J, 3]``: labelled frames and their ground truth (a separate draw, since only
  some frames may carry 3D). With extra single poses from other sources (sec. 3.6) also
  ``x_extra`` and ``real_extra`` ``[E, J, 2]``: lifted and scored like the window frames, but
  never part of a temporal window. ``key`` is the run's base key; the update folds in
  ``states.step``. Use it with your own input pipeline; `make_train_step` wraps it with
  on-device batch drawing. ``prior``: the frozen `lifting.flow.Prior` that ``loss.w_flow`` needs.
  """
  c = float(config.c)
  gan = config.loss.gan
  weights = {term: config.loss[field] for term, field in losses.TERM_WEIGHTS.items()}
  r1 = config.loss.r1
  ema_decay = config.train.ema_decay
  flip_perm = jnp.asarray(layout.flip_permutation)
  temporal_frames = 1 + config.model.temporal_neighbours  # A window's first frames: what T sees.
  bones = layout.bones
  rot = {k: tuple(config.rotation[k]) for k in ("azimuth_range", "elevation_range", "roll_range")}
  # rotation.learned_elevation (ElePose, Wandt et al., CVPR 2022; beyond the paper): the lifter estimates each
  # input's camera elevation; the lifted pose is turned upright by it, then turned by a random azimuth and roll
  # and tilted to an elevation drawn from a normal with the batch's mean and sd of the estimates, so random views
  # keep the data's camera heights instead of tilting about a camera axis that is not the body's vertical.
  learned_elevation = config.rotation.learned_elevation

  def draw_camera(key, shape):
    """A rotation ``[*shape, 3, 3]``, or with a learned elevation the angles to build one from."""
    if not learned_elevation:
      return geometry.random_rotation(key, shape, **rot)
    ka, kr, ke = jax.random.split(key, 3)
    uniform = lambda k, r: jax.random.uniform(k, shape, minval=r[0], maxval=r[1])  # noqa: E731
    return {"azimuth": uniform(ka, rot["azimuth_range"]), "roll": uniform(kr, rot["roll_range"]),
            "normal": jax.random.normal(ke, shape)}

  def learned_rotation(camera, elevation):
    """``[..., 3, 3]``: upright by the estimated ``elevation [...]``, then the drawn camera."""
    moments = jax.lax.stop_gradient(jnp.stack([jnp.mean(elevation), jnp.std(elevation)]))
    turn = geometry.rotation_matrix(camera["azimuth"], moments[0] + moments[1] * camera["normal"], camera["roll"])
    return turn @ geometry.rotation_matrix(0.0, -elevation)
  symmetric_bones = layout.symmetric_bones
  lifter_schedule = optim.learning_rate_schedule(config, config.optim.lifter_lr)
  unsupervised = any(weights[k] for k in ("adv", "loop_2d", "loop_3d", "temporal", "symmetry", "flip",
                                           "bone_window", "flow"))
  if weights["flow"] and prior is None:
    raise ValueError("loss.w_flow: the flow term needs a fitted prior (lifting.flow.for_run)")
  # data.scale "body": every real 2D pose has the same limb size, so a random projection is brought to it too
  # before the discriminators and the second lift see it (its size would give it away), and the second lift is
  # scaled back about the root for the loop closure.
  body = config.data.scale == "body"
  limb_bones = layout.limb_bones if body else ()
  camera_root = jnp.array([0.0, 0.0, c], jnp.float32)
  # data.train_noise (beyond the paper): the first lift sees corrupted copies of a share of the inputs, and the
  # loop closure (and the denoising term) close against the clean poses they came from.
  noise = dict(config.data.train_noise) if config.data.train_noise.share > 0 else None

  def step_fn(states: TrainStates, batch: dict, key: jax.Array, step: jax.Array | None = None):
    x, real = batch["x"], batch["real"]
    if x.ndim != 4 or x.shape[-2:] != (layout.num_joints, 2) or real.shape != x.shape:
      raise ValueError(f"batch: expected x and real of shape [B, T, {layout.num_joints}, 2], got "
                       f"{x.shape} and {real.shape}")
    step = states.lifter.step if step is None else step  # Given: all seeds of `make_seeds_step` share it.
    key = jax.random.fold_in(key, step)
    k_rot, k_drop1, k_drop2, k_drop3, k_disc, k_temp = jax.random.split(key, 6)
    # One camera per window, so the temporal discriminator sees the motion of a single view. With a learned
    # elevation the camera's angles are drawn here and the rotation is built from the lift in lifter_loss.
    camera = draw_camera(k_rot, (x.shape[0], 1))
    inputs, real_poses, num_windowed = x, real, None
    k_noise = jax.random.fold_in(key, 7)
    if "x_extra" in batch:
      # Window frames and extra poses go through the lifter and the pose discriminator as one flat
      # batch; only the first num_windowed frames are reassembled into windows for T.
      num_windowed = x.shape[0] * x.shape[1]
      extra_camera = draw_camera(jax.random.fold_in(k_rot, 1), (batch["x_extra"].shape[0],))
      camera = jax.tree.map(lambda w, e: jnp.concatenate(
          [jnp.broadcast_to(w, x.shape[:2] + w.shape[2:]).reshape((-1,) + w.shape[2:]), e]), camera, extra_camera)
      inputs = jnp.concatenate([x.reshape(-1, *x.shape[2:]), batch["x_extra"]])
      real_poses = jnp.concatenate([real.reshape(-1, *real.shape[2:]), batch["real_extra"]])

    def windows(poses):
      """Flat ``[N, J, D]`` (or already windowed) poses -> the target windows ``[B, T, J, D]``."""
      return poses if num_windowed is None else poses[:num_windowed].reshape(x.shape[:2] + poses.shape[1:])

    def disc_logits(model, params, inputs, rng):
      return model.apply({"params": params}, inputs, train=True, rngs={"dropout": rng})

    lift_in, targets = inputs, inputs
    if noise is not None:
      lift_in = augment.corrupt_2d(k_noise, inputs, layout.limb_bones, layout.flip_permutation, **noise)
      if body:  # A user's noisy keypoints are scaled by their own (noisy) limb size: so are these.
        lift_in, noisy_root, noisy_scale = geometry.normalize_limb_size(lift_in, layout.root_joints, limb_bones, c)
        targets = (inputs - noisy_root[..., None, :]) * noisy_scale[..., None, None]

    def lifter_loss(params):
      stats, y, terms, logged = states.lifter.batch_stats, None, {}, {}
      if unsupervised:
        variables = {"params": params, "batch_stats": stats}
        if learned_elevation:
          points, stats, elevation = lift(models.lifter, variables, lift_in, c, train=True, rng=k_drop1,
                                          with_elevation=True)
          rotation = learned_rotation(camera, elevation)
          logged["camera/elevation_mean_deg"] = jnp.degrees(jnp.mean(elevation))
          logged["camera/elevation_sd_deg"] = jnp.degrees(jnp.std(elevation))
        else:
          points, stats = lift(models.lifter, variables, lift_in, c, train=True, rng=k_drop1)
          rotation = camera
        if weights["denoise"]:
          terms["denoise"] = losses.denoising_2d(targets, geometry.project(points))
        root = geometry.root_of(points, layout.root_joints)
        rotated = geometry.rigid_transform(points, rotation, root, c)
        y = geometry.project(rotated)
        if body:  # y's root is at the image centre already: the rotated root is at (0, 0, c).
          y, _, y_scale = geometry.normalize_limb_size(y, layout.root_joints, limb_bones, c)
        if weights["adv"]:
          logits = disc_logits(models.pose_disc, states.pose_disc.params, y, k_disc)
          terms["adv"] = losses.generator_loss(logits, gan)
        if weights["flow"]:  # ElePose's likelihood of the projections under the frozen 2D flow.
          terms["flow"] = -jnp.mean(flow_lib.log_prob(prior, y))
        if weights["temporal"]:
          logits = disc_logits(models.temporal_disc, states.temporal_disc.params,
                               windows(y)[:, :temporal_frames], k_temp)
          terms["temporal"] = losses.generator_loss(logits, gan)
        if weights["loop_2d"] or weights["loop_3d"]:
          variables = {"params": params, "batch_stats": stats}
          rotated_tilde, stats = lift(models.lifter, variables, y, c, train=True, rng=k_drop2)
          if body:  # Back to the size of the rotated pose, about its root at (0, 0, c).
            centred = geometry.root_centred(rotated_tilde, layout.root_joints)
            rotated_tilde = centred / y_scale[..., None, None] + camera_root
          x_tilde = geometry.project(geometry.inverse_rigid_transform(rotated_tilde, rotation, root, c))
          if weights["loop_2d"]:
            terms["loop_2d"] = losses.loop_closure_2d(targets, x_tilde)
          if weights["loop_3d"]:
            terms["loop_3d"] = losses.loop_closure_3d(rotated, rotated_tilde)
        if weights["symmetry"]:
          terms["symmetry"] = losses.bone_symmetry_loss(points, symmetric_bones)
        if weights["flip"]:
          variables = {"params": params, "batch_stats": stats}
          flipped, stats = lift(models.lifter, variables, geometry.mirror_pose2d(lift_in, flip_perm), c, train=True,
                                rng=jax.random.fold_in(k_drop1, 3))
          terms["flip"] = losses.flip_consistency(points, flipped, flip_perm)
        if weights["bone_window"]:
          terms["bone_window"] = losses.bone_window_loss(windows(points), bones)
      if weights["supervised"]:
        variables = {"params": params, "batch_stats": stats}
        sup_points, stats = lift(models.lifter, variables, batch["sup_x"], c, train=True, rng=k_drop3)
        terms["supervised"] = losses.supervised_3d(sup_points, batch["sup_3d"], layout.root_joints)
      total = sum(weights[name] * value for name, value in terms.items())
      return total, (terms, stats, y, logged)

    (total, (terms, stats, fake, logged)), grads = jax.value_and_grad(lifter_loss, has_aux=True)(
        states.lifter.params)
    lifter = update_ema(states.lifter.apply_gradients(grads=grads, batch_stats=stats), ema_decay)
    out = {"loss/total": total, **{f"loss/{k}": v for k, v in terms.items()}, **logged,
           "norm/lifter_grads": optax.tree.norm(grads), "norm/lifter_params": optax.tree.norm(lifter.params),
           "lr/lifter": lifter_schedule(step)}
    new = {"lifter": lifter}
    # Discriminators learn on the same fakes, frozen: one lifter forward serves both updates.
    fake = None if fake is None else jax.lax.stop_gradient(fake)
    for name, model, inputs_real, inputs_fake, rng in (
        ("pose_disc", models.pose_disc, real_poses, fake, k_disc),
        ("temporal_disc", models.temporal_disc, real[:, :temporal_frames],
         None if fake is None else windows(fake)[:, :temporal_frames], k_temp)):
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


def make_train_step(config, models: Networks, layout: skeleton.Layout, mesh=None, prior=None):
  """The pure train step ``(states, pool, key) -> (states, metrics)``; see `compile_train_step`.

  ``pool`` is the training set on the devices (a `lifting.pool.Pool`, see `lifting.pool.device_pool`); the step draws
  its batch from it with ``fold_in(key, step)``, so no input pipeline can stall it and a resumed run
  sees the batches an uninterrupted one would. The batch is global: ``train.batch_size`` poses
  split over the pool's D device blocks.
  """
  update = make_update(config, models, layout, prior)
  window = configs.window_offsets(config)

  def step_fn(states: TrainStates, pool: pool_lib.Pool, key: jax.Array, step: jax.Array | None = None):
    num_windows, batch_extra = configs.batch_split(config, pool.total_frames, pool.total_extra,
                                                      pool["frames"].shape[0])
    step = states.step if step is None else step
    k_data, k_update = jax.random.split(key)
    batch = pool_lib.draw_batch(pool, jax.random.fold_in(k_data, step), num_windows, window, mesh, batch_extra)
    return update(states, batch, k_update, step)

  return step_fn


def make_seeds_step(step_fn):
  """S independent runs as one step: ``(states, pool, keys) -> (states, metrics)`` with a leading seed axis ``[S]``
  on the states and keys (each its run's base key) and a trailing one on the metrics; the pool is shared.

  ``step_fn`` (`make_train_step`'s) is vmapped over the seeds. All seeds are at one step, read once, unbatched:
  so the discriminators' every-k-th-step update stays a branch taken or not, instead of both sides computed
  for every seed as a batched predicate would make it.
  """

  def seeds(states, pool, keys):
    step = states.lifter.step[0]
    states, metrics = jax.vmap(lambda s, k: step_fn(s, pool, k, step))(states, keys)
    return states, jax.tree.map(lambda m: jnp.moveaxis(m, 0, -1), metrics)

  return seeds


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


def compile_train_step(step_fn, mesh: jax.sharding.Mesh):
  """Jits a train step with replicated states (donated) and key, and its second argument sharded on ``data``:
  the pool (`make_train_step`) or a batch (`make_update`)."""
  replicated = NamedSharding(mesh, P())
  return jax.jit(step_fn, in_shardings=(replicated, NamedSharding(mesh, P(DATA_AXIS)), replicated),
                 out_shardings=(replicated, replicated), donate_argnums=(0,))


def init_states(config, models: Networks, layout: skeleton.Layout, key: jax.Array, mesh) -> TrainStates:
  """Creates the states directly in replicated form on every device of ``mesh``."""
  init = jax.jit(lambda k: create_train_states(config, models, layout.num_joints, k),
                 out_shardings=NamedSharding(mesh, P()))
  return init(key)
