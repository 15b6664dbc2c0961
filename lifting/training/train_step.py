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
on the devices (`lifting.training.pool`), so no input pipeline can stall it.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import flax
from flax.training import train_state
import jax
import jax.numpy as jnp
from jax.sharding import AxisType
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import optax

from lifting import configs
from lifting.core import augment
from lifting.core import flow as flow_lib
from lifting.core import geometry
from lifting.core import losses
from lifting.core import models as models_lib
from lifting.core import skeleton
from lifting.training import optim
from lifting.training import pool as pool_lib

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
  window = (1, config.model.lifter_frames) if config.model.lifter_frames > 1 else (1,)
  variables = models.lifter.init(k_lift, jnp.zeros(window + (num_joints, 2), jnp.float32), train=False)
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
  """Lifts ``[..., J, 2]`` normalised poses to ``[..., J, 3]`` camera-frame joints (eq. 1-2); a
  `lifting.core.models.TemporalLifter` lifts ``[..., T, J, 2]`` windows of T consecutive frames.

  In training mode also returns the updated batch statistics, and with ``with_elevation`` (training mode, a
  lifter built with ``elevation``) the estimated camera elevations ``[...]`` after them.
  """
  if with_elevation and not (train and model.elevation):
    raise ValueError(f"lift: with_elevation needs train=True and a Lifter(elevation=True), got train={train} "
                     f"and elevation={model.elevation}")
  window = isinstance(model, models_lib.TemporalLifter)  # Keeps the frames axis: the lifter sees windows.
  flat = pose2d.reshape((-1,) + pose2d.shape[-3 if window else -2:])
  if train:
    mutable = ["batch_stats", "intermediates"] if with_elevation else ["batch_stats"]
    offsets, updates = model.apply(variables, flat, train=True, rngs={"dropout": rng}, mutable=mutable)
  else:
    offsets, updates = model.apply(variables, flat, train=False), None
  points = models_lib.lifted_points(pose2d, offsets.reshape(pose2d.shape[:-1] + offsets.shape[flat.ndim - 1:]), c)
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


@dataclasses.dataclass(frozen=True)
class Settings:
  """What the step reads from a config, read once (`settings`): eq. 8's weights and everything around them.

  ``view`` is how random views are drawn: ``"paper"`` (sec. 3.2: a rotation about the camera's axes from
  ``ranges``), ``"learned"`` (ElePose's learned elevation, Wandt et al., CVPR 2022: the pose turned upright by the
  lifter's estimate, then about its own vertical, and tilted to an elevation drawn from the batch's estimates) or
  ``"body"`` (the same with the elevation and roll read off the lifted body's own vertical). ``distances``: the
  random view's camera distance in units of ``c`` (beyond the paper; ``(1, 1)``: eq. 3's fixed ``c``). ``body``:
  ``data.scale = "body"``, every 2D pose (real or projected) scaled to one limb size. ``noise``: the
  ``data.train_noise`` corruption of the first lift's inputs, or ``None``.
  """
  c: float
  gan: str
  weights: dict
  r1: float
  ema_decay: float
  layout: skeleton.Layout
  temporal_frames: int  # A window's first frames: what the temporal discriminator sees.
  ranges: dict
  view: str
  elevation_min: float
  distances: tuple[float, float]
  body: bool
  noise: dict | None
  disc_updates: int
  disc_every: int
  lifter_schedule: Any
  prior: Any = None

  @property
  def unsupervised(self) -> bool:
    return any(self.weights[k] for k in ("adv", "loop_2d", "loop_3d", "temporal", "symmetry", "flip", "bone_window",
                                         "flow", "elevation_prior"))

  @property
  def tilt_joints(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The body's vertical for ``view = "body"``: from the ankles to the neck."""
    return (self.layout.index("neck"),), (self.layout.index("l_ankle"), self.layout.index("r_ankle"))


def settings(config, layout: skeleton.Layout, prior=None) -> Settings:
  """The step's `Settings` of ``config``; ``prior``: the frozen `lifting.core.flow.Prior` that ``loss.w_flow`` needs."""
  weights = {term: config.loss[field] for term, field in losses.TERM_WEIGHTS.items()}
  if weights["flow"] and prior is None:
    raise ValueError("loss.w_flow: the flow term needs a fitted prior (lifting.core.flow.for_run)")
  r = config.rotation
  view = "learned" if r.learned_elevation else "body" if r.body_elevation else "paper"
  return Settings(
      c=float(config.c), gan=config.loss.gan, weights=weights, r1=config.loss.r1, ema_decay=config.train.ema_decay,
      layout=layout, temporal_frames=1 + config.model.temporal_neighbours,
      ranges={k: tuple(r[k]) for k in ("azimuth_range", "elevation_range", "roll_range")}, view=view,
      elevation_min=r.elevation_prior_min, distances=tuple(float(d) for d in r.distance_range),
      body=config.data.scale == "body",
      noise=dict(config.data.train_noise) if config.data.train_noise.share > 0 else None,
      disc_updates=config.optim.disc_updates, disc_every=config.optim.disc_every,
      lifter_schedule=optim.learning_rate_schedule(config, config.optim.lifter_lr), prior=prior)


def draw_view(s: Settings, key: jax.Array, shape) -> Any:
  """A random view per entry of ``shape``: a rotation ``[*shape, 3, 3]`` (sec. 3.2), or, for a learned or body
  elevation, the angles to build one from once the pose is lifted (`random_view`)."""
  if s.view == "paper":
    return geometry.random_rotation(key, shape, **s.ranges)
  ka, kr, ke = jax.random.split(key, 3)
  uniform = lambda k, r: jax.random.uniform(k, shape, minval=r[0], maxval=r[1])  # noqa: E731
  angles = {"azimuth": uniform(ka, s.ranges["azimuth_range"]), "normal": jax.random.normal(ke, shape)}
  if s.view == "body":
    return {**angles, "roll_normal": jax.random.normal(kr, shape)}
  return {**angles, "roll": uniform(kr, s.ranges["roll_range"])}


def draw_depth(s: Settings, key: jax.Array, shape) -> jax.Array | float:
  """The random view's root depth per entry of ``shape``: ``c`` times a log-uniform draw from ``distances``, or the
  number ``c`` itself for the paper's fixed depth."""
  if s.distances == (1.0, 1.0):
    return s.c
  low, high = (math.log(d) for d in s.distances)
  return s.c * jnp.exp(jax.random.uniform(key, shape, minval=low, maxval=high))


@dataclasses.dataclass(frozen=True)
class Inputs:
  """One step's inputs: ``x [B, T, J, 2]`` windows and ``real``, the poses the lifter sees (``inputs``; flat
  ``[B * T + E, J, 2]`` with E extra single poses, else the windows) and the pose discriminator's real poses, and
  the random view (``camera``, ``depth``) of each."""
  x: jax.Array
  real: jax.Array
  inputs: jax.Array
  real_poses: jax.Array
  camera: Any
  depth: Any
  num_windowed: int | None = None

  def windows(self, poses: jax.Array) -> jax.Array:
    """Poses of `inputs` (flat or windowed) -> the target windows ``[B, T, J, D]`` the temporal terms see."""
    if self.num_windowed is None:
      return poses
    return poses[:self.num_windowed].reshape(self.x.shape[:2] + poses.shape[1:])


def assemble(s: Settings, batch: dict, key: jax.Array) -> Inputs:
  """The `Inputs` of a batch: one camera per window (so the temporal discriminator sees one view's motion), one per
  extra single pose (sec. 3.6), whose poses join the windows' frames as one flat batch."""
  x, real = batch["x"], batch["real"]
  camera = draw_view(s, key, (x.shape[0], 1))
  depth = draw_depth(s, jax.random.fold_in(key, 2), (x.shape[0], 1))
  if "x_extra" not in batch:
    return Inputs(x, real, x, real, camera, depth)
  extra = batch["x_extra"].shape[0]
  flat = lambda w, e: jnp.concatenate([jnp.broadcast_to(w, x.shape[:2] + w.shape[2:]).reshape((-1,) + w.shape[2:]),  # noqa: E731
                                       e])
  camera = jax.tree.map(flat, camera, draw_view(s, jax.random.fold_in(key, 1), (extra,)))
  if not isinstance(depth, float):
    depth = flat(depth, draw_depth(s, jax.random.fold_in(key, 3), (extra,)))
  return Inputs(x, real, jnp.concatenate([x.reshape(-1, *x.shape[2:]), batch["x_extra"]]),
                jnp.concatenate([real.reshape(-1, *real.shape[2:]), batch["real_extra"]]), camera, depth,
                x.shape[0] * x.shape[1])


def corrupt(s: Settings, inputs: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
  """``(what the first lift sees, what the loop closes against)``: the inputs, or with ``data.train_noise`` (beyond
  the paper) corrupted copies of a share of them, closed against the clean poses (in the noisy poses' frame)."""
  if s.noise is None:
    return inputs, inputs
  lift_in = augment.corrupt_2d(key, inputs, s.layout.limb_bones, s.layout.flip_permutation, **s.noise)
  if not s.body:
    return lift_in, inputs
  # A user's noisy keypoints are scaled by their own (noisy) limb size: so are these.
  lift_in, root, scale = geometry.normalize_limb_size(lift_in, s.layout.root_joints, s.layout.limb_bones, s.c)
  return lift_in, (inputs - root[..., None, :]) * scale[..., None, None]


def first_lift(s: Settings, lifter, params, stats, poses: jax.Array, rng: jax.Array):
  """Eq. 1-2 on the inputs: ``(points [..., J, 3], batch statistics, the learned elevations [...] or None)``."""
  variables = {"params": params, "batch_stats": stats}
  if s.view == "learned":
    return lift(lifter, variables, poses, s.c, train=True, rng=rng, with_elevation=True)
  points, stats = lift(lifter, variables, poses, s.c, train=True, rng=rng)
  return points, stats, None


def random_view(s: Settings, camera, points: jax.Array, elevation: jax.Array | None):
  """``(rotation [..., 3, 3], terms, logged)``: the random view of each lifted pose (`Settings.view`), with the
  elevation prior (beyond the paper; `lifting.core.losses.elevation_prior`) and the elevations it read."""
  if s.view == "paper":
    return camera, {}, {}
  if s.view == "learned":
    moments = jax.lax.stop_gradient(jnp.stack([jnp.mean(elevation), jnp.std(elevation)]))
    turn = geometry.rotation_matrix(camera["azimuth"], moments[0] + moments[1] * camera["normal"], camera["roll"])
    rotation, prior, roll = turn @ geometry.rotation_matrix(0.0, -elevation), elevation, None
  else:  # Read off the body; no gradient through the rotation's angles, the prior's through the lifted poses.
    top, bottom = s.tilt_joints
    elevation, roll = jax.lax.stop_gradient(geometry.body_tilt(points, top, bottom))
    m = jax.lax.stop_gradient(jnp.stack([jnp.mean(elevation), jnp.std(elevation), jnp.mean(roll), jnp.std(roll)]))
    turn = geometry.rotation_matrix(camera["azimuth"], m[0] + m[1] * camera["normal"],
                                    m[2] + m[3] * camera["roll_normal"])
    rotation = turn @ geometry.rotation_matrix(0.0, -elevation) @ geometry.rotation_matrix(0.0, 0.0, -roll)
    prior = geometry.body_tilt(points, top, bottom)[0] if s.weights["elevation_prior"] else None
  terms = {"elevation_prior": losses.elevation_prior(prior, s.elevation_min)} if s.weights["elevation_prior"] else {}
  logged = {"camera/elevation_mean_deg": jnp.degrees(jnp.mean(elevation)),
            "camera/elevation_sd_deg": jnp.degrees(jnp.std(elevation))}
  if roll is not None:
    logged["camera/roll_sd_deg"] = jnp.degrees(jnp.std(roll))
  return rotation, terms, logged


def project_view(s: Settings, points: jax.Array, rotation, depth):
  """Eq. 3 and the projection: ``(root, rotated Y, y, its body-size scale or None)``. With body-size normalisation
  every real 2D pose has one limb size, so the projection is brought to it too (its size would give it away);
  its root is at the image centre already."""
  root = geometry.root_of(points, s.layout.root_joints)
  rotated = geometry.rigid_transform(points, rotation, root, depth)
  y = geometry.project(rotated)
  if not s.body:
    return root, rotated, y, None
  y, _, y_scale = geometry.normalize_limb_size(y, s.layout.root_joints, s.layout.limb_bones, s.c)
  return root, rotated, y, y_scale


def _logits(model, params, inputs: jax.Array, rng: jax.Array) -> jax.Array:
  return model.apply({"params": params}, inputs, train=True, rngs={"dropout": rng})


def adversarial_terms(s: Settings, models: Networks, states: TrainStates, y: jax.Array, inp: Inputs,
                      k_disc: jax.Array, k_temp: jax.Array) -> dict:
  """The lifter's side of eq. 5 (the pose discriminator on the projections) and eq. 6 (the temporal discriminator
  on windows of them), and ElePose's flow likelihood of them where that term is on."""
  terms = {}
  if s.weights["adv"]:
    terms["adv"] = losses.generator_loss(_logits(models.pose_disc, states.pose_disc.params, y, k_disc), s.gan)
  if s.weights["flow"]:
    terms["flow"] = -jnp.mean(flow_lib.log_prob(s.prior, y))
  if s.weights["temporal"]:
    windows = inp.windows(y)[:, :s.temporal_frames]
    terms["temporal"] = losses.generator_loss(_logits(models.temporal_disc, states.temporal_disc.params, windows,
                                                      k_temp), s.gan)
  return terms


def loop_closure(s: Settings, lifter, params, stats, view: tuple, depth, targets: jax.Array, rng: jax.Array):
  """Sec. 3.3: ``(terms L2D and L3D, batch statistics)``. The projection y is lifted again to Y~ (with body-size
  normalisation, scaled back about its root to the rotated pose's size), turned back and projected to x~; ``view``
  is `project_view`'s ``(root, rotated, y, y_scale)`` and ``rotation`` after it."""
  root, rotated, y, y_scale, rotation = view
  if not (s.weights["loop_2d"] or s.weights["loop_3d"]):
    return {}, stats
  rotated_tilde, stats = lift(lifter, {"params": params, "batch_stats": stats}, y, s.c, train=True, rng=rng)
  if s.body:  # Back to the size of the rotated pose, about its root at (0, 0, depth).
    centred = geometry.root_centred(rotated_tilde, s.layout.root_joints)
    rotated_tilde = centred / y_scale[..., None, None] + geometry.camera_root(depth)
  x_tilde = geometry.project(geometry.inverse_rigid_transform(rotated_tilde, rotation, root, depth))
  terms = {}
  if s.weights["loop_2d"]:
    terms["loop_2d"] = losses.loop_closure_2d(targets, x_tilde)
  if s.weights["loop_3d"]:
    terms["loop_3d"] = losses.loop_closure_3d(rotated, rotated_tilde)
  return terms, stats


def regularisers(s: Settings, lifter, params, stats, points: jax.Array, lift_in: jax.Array, inp: Inputs,
                 rng: jax.Array):
  """``(terms, batch statistics)`` of the regularisers: bone symmetry (the SS + Symm ablation) and, beyond the paper,
  left-right flip consistency and constant bone lengths over a window."""
  terms = {}
  if s.weights["symmetry"]:
    terms["symmetry"] = losses.bone_symmetry_loss(points, s.layout.symmetric_bones)
  if s.weights["flip"]:
    flip = jnp.asarray(s.layout.flip_permutation)
    flipped, stats = lift(lifter, {"params": params, "batch_stats": stats}, geometry.mirror_pose2d(lift_in, flip), s.c,
                          train=True, rng=rng)
    terms["flip"] = losses.flip_consistency(points, flipped, flip)
  if s.weights["bone_window"]:
    terms["bone_window"] = losses.bone_window_loss(inp.windows(points), s.layout.bones)
  return terms, stats


def update_discriminators(s: Settings, models: Networks, states: TrainStates, inp: Inputs, fake: jax.Array | None,
                          step: jax.Array, k_disc: jax.Array, k_temp: jax.Array) -> tuple[dict, dict]:
  """Eq. 5 and 6 from the discriminators' side: each learns on the same fakes as the lifter's loss (frozen: one lifter
  forward serves both), ``optim.disc_updates`` Adam steps on every ``optim.disc_every``-th step, with the R1 penalty
  (Mescheder et al., ICML 2018) where asked. Returns the new states by name and their metrics."""
  fake = None if fake is None else jax.lax.stop_gradient(fake)
  new, out = {}, {}
  for name, model, inputs_real, inputs_fake, rng in (
      ("pose_disc", models.pose_disc, inp.real_poses, fake, k_disc),
      ("temporal_disc", models.temporal_disc, inp.real[:, :s.temporal_frames],
       None if fake is None else inp.windows(fake)[:, :s.temporal_frames], k_temp)):
    if model is None:
      continue

    def loss_fn(params, i, model=model, inputs_real=inputs_real, inputs_fake=inputs_fake, rng=rng, name=name):
      r = jax.random.fold_in(rng, 1000 + i)
      real_logits = _logits(model, params, inputs_real, r)
      fake_logits = _logits(model, params, inputs_fake, jax.random.fold_in(r, 1))
      loss = losses.discriminator_loss(real_logits, fake_logits, s.gan)
      if s.r1:  # The gradient norm at real poses, squared.
        logit_sum = lambda inputs: jnp.sum(_logits(model, params, inputs, r))  # noqa: E731
        sample_ndim = 3 if name == "temporal_disc" else 2
        loss = loss + s.r1 * losses.gradient_penalty(jax.grad(logit_sum)(inputs_real), sample_ndim)
      return loss, (_score(real_logits, s.gan), _score(fake_logits, s.gan))

    new[name], metrics = _update_discriminator(getattr(states, name), loss_fn, s.disc_updates, s.disc_every, step, name)
    out.update(metrics)
  return new, out


def make_update(config, models: Networks, layout: skeleton.Layout, prior=None):
  """The pure update ``(states, batch, key) -> (states, metrics)`` on a given batch: eq. 8 for the lifter, eq. 5
  and 6 for the discriminators.

  ``batch`` holds ``x`` and ``real``, each ``[B, T, J, 2]``: B windows of T consecutive
  normalised 2D frames, and, when the supervised term is on, ``sup_x [B', J, 2]`` and
  ``sup_3d [B', J, 3]``: labelled frames and their ground truth (a separate draw, since only
  some frames may carry 3D). With extra single poses from other sources (sec. 3.6) also
  ``x_extra`` and ``real_extra`` ``[E, J, 2]``: lifted and scored like the window frames, but
  never part of a temporal window. ``key`` is the run's base key; the update folds in
  ``states.step``. Use it with your own input pipeline; `make_train_step` wraps it with
  on-device batch drawing. ``prior``: the frozen `lifting.core.flow.Prior` that ``loss.w_flow`` needs.
  """
  s = settings(config, layout, prior)

  def step_fn(states: TrainStates, batch: dict, key: jax.Array, step: jax.Array | None = None):
    x, real = batch["x"], batch["real"]
    if x.ndim != 4 or x.shape[-2:] != (layout.num_joints, 2) or real.shape != x.shape:
      raise ValueError(f"batch: expected x and real of shape [B, T, {layout.num_joints}, 2], got "
                       f"{x.shape} and {real.shape}")
    step = states.lifter.step if step is None else step  # Given: all seeds of `make_seeds_step` share it.
    key = jax.random.fold_in(key, step)
    k_rot, k_drop1, k_drop2, k_drop3, k_disc, k_temp = jax.random.split(key, 6)
    inp = assemble(s, batch, k_rot)
    lift_in, targets = corrupt(s, inp.inputs, jax.random.fold_in(key, 7))

    def lifter_loss(params):  # Eq. 8: L_adv + w2D L2D + w3D L3D + wT L_T, and the terms beyond the paper.
      stats, y, terms, logged = states.lifter.batch_stats, None, {}, {}
      if s.unsupervised:
        points, stats, elevation = first_lift(s, models.lifter, params, stats, lift_in, k_drop1)
        rotation, terms, logged = random_view(s, inp.camera, points, elevation)
        if s.weights["denoise"]:
          terms["denoise"] = losses.denoising_2d(targets, geometry.project(points))
        root, rotated, y, y_scale = project_view(s, points, rotation, inp.depth)
        terms.update(adversarial_terms(s, models, states, y, inp, k_disc, k_temp))
        loop, stats = loop_closure(s, models.lifter, params, stats, (root, rotated, y, y_scale, rotation), inp.depth,
                                   targets, k_drop2)
        regular, stats = regularisers(s, models.lifter, params, stats, points, lift_in, inp,
                                      jax.random.fold_in(k_drop1, 3))
        terms.update({**loop, **regular})
      if s.weights["supervised"]:  # The reference rows' 3D loss on labelled frames.
        sup_points, stats = lift(models.lifter, {"params": params, "batch_stats": stats}, batch["sup_x"], s.c,
                                 train=True, rng=k_drop3)
        terms["supervised"] = losses.supervised_3d(sup_points, batch["sup_3d"], layout.root_joints)
      total = sum(s.weights[name] * value for name, value in terms.items())
      return total, (terms, stats, y, logged)

    (total, (terms, stats, fake, logged)), grads = jax.value_and_grad(lifter_loss, has_aux=True)(
        states.lifter.params)
    lifter = update_ema(states.lifter.apply_gradients(grads=grads, batch_stats=stats), s.ema_decay)
    discs, disc_metrics = update_discriminators(s, models, states, inp, fake, step, k_disc, k_temp)
    out = {"loss/total": total, **{f"loss/{k}": v for k, v in terms.items()}, **logged,
           "norm/lifter_grads": optax.tree.norm(grads), "norm/lifter_params": optax.tree.norm(lifter.params),
           "lr/lifter": s.lifter_schedule(step), **disc_metrics}
    return TrainStates(lifter=lifter, **discs), out

  return step_fn


def make_train_step(config, models: Networks, layout: skeleton.Layout, mesh=None, prior=None):
  """The pure train step ``(states, pool, key) -> (states, metrics)``; see `compile_train_step`.

  ``pool`` is the training set on the devices (a `lifting.training.pool.Pool`, see
  `lifting.training.pool.device_pool`); the step draws its batch from it with ``fold_in(key, step)``, so no input
  pipeline can stall it and a resumed run sees the batches an uninterrupted one would. The batch is global:
  ``train.batch_size`` poses split over the pool's D device blocks.
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
