"""Joint completion (Chen et al., CVPR 2019, sec. 4.6): fill the missing joints of 2D poses.

In-the-wild 2D poses (LSPET, for instance) miss joints that are occluded or out of the image. A
small network (`lifting.core.models.Completer`) fills them so that such poses can join training.

The visible frame: an incomplete pose has no reliable root or head to normalise by (the hips or
the head may be the missing joints), so every pose is expressed relative to its visible joints
only. Its centre is the mean of the visible joints and its spread the RMS distance of the visible
joints from that centre; the network sees ``(pose - centre) / spread`` with zeros at the missing
joints plus the mask, and answers the whole pose in the same frame, which `from_visible_frame`
maps back to the input units. The frame is thus translation- and scale-equivariant, and the
network needs no knowledge of image size or person size.

Training uses complete target-domain 2D poses only: each training pose gets k random joints
dropped, k uniform in ``[1, max_missing]``, and the network is trained to recover the dropped
joints (squared 2D error in the visible frame, `completion_loss`). Batches and masks are drawn on
the device inside one jitted step, from ``fold_in(key, step)``. A held-out share of the poses
measures the error of the filled joints in the input units, next to a trivial baseline
(`mean_pose_fill`: the mean pose fitted to the visible joints by scale and translation).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Any

from absl import logging
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from lifting.core import batching
from lifting.core import models
from lifting.training import weights

MIN_SPREAD = 1e-6
# Masks of the held-out evaluation do not depend on the training seed, so evaluations of runs
# with different seeds on the same poses see the same gaps.
_HELD_OUT_KEY = 0
_NUM_LOG_LINES = 5


def _check_pose_mask(pose2d, mask, name):
  if pose2d.ndim < 2 or pose2d.shape[-1] != 2:
    raise ValueError(f"{name}: expected 2D poses of shape [..., J, 2], got shape {tuple(pose2d.shape)}")
  if mask.shape != pose2d.shape[:-1]:
    raise ValueError(f"{name}: expected a mask of shape {tuple(pose2d.shape[:-1])} (the poses' [..., J]), "
                     f"got {tuple(mask.shape)}")


def visible_frame(pose2d: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Expresses poses in the frame of their visible joints.

  Args:
    pose2d: ``[..., J, 2]``; masked joints may hold anything, NaN included.
    mask: ``[..., J]`` bool, True where the joint is visible.

  Returns:
    ``normalised [..., J, 2]`` = ``(pose - centre) / spread``, exactly zero at masked joints;
    ``centre [..., 2]``, the mean of the visible joints; ``spread [...]``, the RMS distance of the
    visible joints from the centre, floored at ``MIN_SPREAD``.
  """
  pose2d, mask = jnp.asarray(pose2d), jnp.asarray(mask)
  _check_pose_mask(pose2d, mask, "visible_frame")
  visible = mask.astype(bool)[..., None]
  # Select before any arithmetic, so NaN at masked joints never enters a sum.
  pose = jnp.where(visible, pose2d, 0.0)
  count = jnp.maximum(jnp.sum(visible, axis=(-2, -1)), 1).astype(pose.dtype)
  centre = jnp.sum(pose, axis=-2) / count[..., None]
  offsets = jnp.where(visible, pose - centre[..., None, :], 0.0)
  spread = jnp.maximum(jnp.sqrt(jnp.sum(offsets ** 2, axis=(-2, -1)) / count), MIN_SPREAD)
  return offsets / spread[..., None, None], centre, spread


def from_visible_frame(normalised: jax.Array, centre: jax.Array, spread: jax.Array) -> jax.Array:
  """Inverse of `visible_frame`: ``normalised [..., J, 2] * spread [...] + centre [..., 2]``."""
  normalised, centre, spread = jnp.asarray(normalised), jnp.asarray(centre), jnp.asarray(spread)
  lead = normalised.shape[:-2]
  if normalised.ndim < 2 or normalised.shape[-1] != 2 or centre.shape != lead + (2,) or spread.shape != lead:
    raise ValueError("from_visible_frame: expected normalised [..., J, 2], centre [..., 2] and spread [...], got "
                     f"{tuple(normalised.shape)}, {tuple(centre.shape)} and {tuple(spread.shape)}")
  return normalised * spread[..., None, None] + centre[..., None, :]


def _check_max_missing(max_missing, num_joints, name):
  if not 1 <= max_missing <= num_joints - 2:
    # At least two visible joints are needed for a spread.
    raise ValueError(f"{name}: expected max_missing in [1, {num_joints - 2}] for {num_joints} joints, "
                     f"got {max_missing}")


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def random_masks(key: jax.Array, num_poses: int, num_joints: int, max_missing: int) -> jax.Array:
  """Random visibility masks ``[num_poses, num_joints]`` bool, True = visible.

  Each row misses k joints, k uniform in ``{1, ..., max_missing}``, chosen uniformly without
  replacement: the joints whose random score ranks below k.
  """
  _check_max_missing(max_missing, num_joints, "random_masks")
  # One draw for k and the scores: each random-bits call site costs a noticeable compile.
  uniform = jax.random.uniform(key, (num_poses, num_joints + 1))
  k = 1 + jnp.minimum(jnp.floor(uniform[:, :1] * max_missing), max_missing - 1).astype(jnp.int32)
  scores = uniform[:, 1:]
  # Ranks by pairwise comparison (ties broken by index, so they are a permutation): J is small, and
  # XLA compiles this much faster than a double argsort on CPU.
  index = jnp.arange(num_joints)
  below = (scores[:, None, :] < scores[:, :, None]) | (
      (scores[:, None, :] == scores[:, :, None]) & (index[None, :] < index[:, None]))
  rank = jnp.sum(below, axis=-1)
  return rank >= k


def completion_loss(pred: jax.Array, target: jax.Array, mask: jax.Array) -> jax.Array:
  """Mean squared 2D distance over the missing joints of the whole batch; 0 if none is missing.

  ``pred`` and ``target`` are ``[..., J, 2]``, ``mask`` is ``[..., J]`` (True = visible).
  """
  if pred.shape != target.shape:
    raise ValueError(f"completion_loss: expected pred and target of the same shape [..., J, 2], got "
                     f"{tuple(pred.shape)} and {tuple(target.shape)}")
  _check_pose_mask(pred, mask, "completion_loss")
  missing = ~jnp.asarray(mask, bool)
  sq = jnp.sum((pred - target) ** 2, axis=-1)
  return jnp.sum(jnp.where(missing, sq, 0.0)) / jnp.maximum(jnp.sum(missing), 1)


@jax.jit
def _mean_pose_fit(mean_pose, pose2d, mask):
  # Least-squares scale s and translation t of s * mean + t onto the visible joints: centre both
  # on the visible mean, then s = <m, p> / <m, m>.
  m_norm, m_centre, m_spread = visible_frame(jnp.broadcast_to(mean_pose, pose2d.shape), mask)
  p_norm, p_centre, p_spread = visible_frame(pose2d, mask)
  # s relative to the normalised frames; the spreads turn it back into input units.
  s = jnp.sum(m_norm * p_norm, axis=(-2, -1)) / jnp.maximum(jnp.sum(m_norm ** 2, axis=(-2, -1)), MIN_SPREAD)
  s = s * p_spread / m_spread
  return s[..., None, None] * (mean_pose - m_centre[..., None, :]) + p_centre[..., None, :]


def mean_pose_fill(mean_pose: np.ndarray, pose2d: np.ndarray, mask: np.ndarray) -> np.ndarray:
  """Baseline completion: the mean pose fitted to the visible joints by least-squares scale and translation.

  Args:
    mean_pose: ``[J, 2]``.
    pose2d: ``[N, J, 2]``; masked joints may hold NaN.
    mask: ``[N, J]`` bool, True = visible.

  Returns:
    ``[N, J, 2]``: visible joints unchanged, missing joints from the fitted mean pose (no rotation).
  """
  mean_pose, pose2d, mask = np.asarray(mean_pose), np.asarray(pose2d), np.asarray(mask, bool)
  _check_pose_mask(pose2d, mask, "mean_pose_fill")
  if pose2d.ndim != 3 or mean_pose.shape != pose2d.shape[1:]:
    raise ValueError(f"mean_pose_fill: expected mean_pose [J, 2] and poses [N, J, 2] with the same J, got "
                     f"{tuple(mean_pose.shape)} and {tuple(pose2d.shape)}")
  fitted = np.asarray(_mean_pose_fit(mean_pose.astype(np.float32), pose2d.astype(np.float32), mask))
  return _merge(pose2d, mask, fitted)


def _merge(pose2d, mask, filled):
  # In NumPy and in the input dtype, so visible joints come back bit-exactly.
  dtype = np.result_type(pose2d.dtype, np.float32)
  return np.where(mask[..., None], pose2d.astype(dtype), filled.astype(dtype))


@dataclasses.dataclass(frozen=True)
class Completion:
  """A trained completion network.

  Attributes:
    model: the network.
    params: its parameters.
    mean_pose: ``[J, 2]`` mean complete training pose in the visible frame (all joints visible).
    max_missing: most missing joints per pose it was trained for (and `complete` accepts).
    held_out: evaluation on held-out poses (see `train_completer`).
  """
  model: models.Completer
  params: Any
  mean_pose: np.ndarray
  max_missing: int
  held_out: dict = dataclasses.field(default_factory=dict)


def _check_poses(poses2d, name):
  if poses2d.ndim != 3 or poses2d.shape[-1] != 2:
    raise ValueError(f"{name}: expected poses of shape [N, J, 2], got shape {tuple(poses2d.shape)}")


def train_completer(poses2d: np.ndarray, *, max_missing: int = 4, width: int = 256, num_layers: int = 2,
                    num_steps: int = 2000, batch_size: int = 1024, learning_rate: float = 1e-3, seed: int = 0,
                    holdout: float = 0.05) -> Completion:
  """Trains a `Completion` on complete 2D poses ``[N, J, 2]`` (any units) with random joint dropout.

  A random ``holdout`` share of the poses (at least one) is kept out of training. Each step draws
  ``batch_size`` poses with replacement and drops k joints from each, k uniform in
  ``[1, max_missing]``. The result's ``held_out`` is the evaluation on the held-out poses with
  fixed random masks: ``{"poses", "filled_joints", "error", "baseline_error", "error_by_missing"}``,
  errors being mean 2D distances of the filled joints in the input units, for the network and for
  `mean_pose_fill`, and ``error_by_missing`` mapping k to the error on poses missing k joints.
  """
  poses2d = np.asarray(poses2d)
  _check_poses(poses2d, "train_completer")
  num_poses, num_joints, _ = poses2d.shape
  if num_poses < 2:
    raise ValueError(f"train_completer: expected at least 2 poses (one to train, one held out), got {num_poses}")
  if not np.all(np.isfinite(poses2d)):
    bad = int(np.sum(~np.all(np.isfinite(poses2d), axis=(1, 2))))
    raise ValueError(f"train_completer: expected complete, finite poses, got {bad} of {num_poses} with NaN or inf")
  _check_max_missing(max_missing, num_joints, "train_completer")
  if not 0.0 <= holdout < 1.0:
    raise ValueError(f"train_completer: expected holdout in [0, 1), got {holdout}")
  if num_steps < 1 or batch_size < 1:
    raise ValueError(f"train_completer: expected num_steps and batch_size >= 1, got {num_steps} and {batch_size}")

  rng = np.random.default_rng(seed)
  order = rng.permutation(num_poses)
  num_held = min(max(1, round(holdout * num_poses)), num_poses - 1)
  held, train = poses2d[order[:num_held]], poses2d[order[num_held:]]

  # The visible frame is equivariant to translation and scale, so normalising the pool once
  # changes no input or target, only keeps the numbers near unit size.
  all_visible = np.ones(train.shape[:2], bool)
  pool = jax.jit(visible_frame)(train.astype(np.float32), all_visible)[0]
  mean_pose = np.asarray(pool).mean(axis=0)

  # Jitted, as eager initialisers would compile op by op.
  model = models.Completer(width=width, num_layers=num_layers)
  key_init, key_data = jax.random.split(jax.random.key(seed))
  params = jax.jit(model.init)(key_init, pool[:1], all_visible[:1])
  import optax  # Training only: lifting with a saved network skips it.
  optimizer = optax.adam(learning_rate)
  opt_state = jax.jit(optimizer.init)(params)

  def loss_fn(params, full, mask):
    inputs, centre, spread = visible_frame(full, mask)
    target = (full - centre[..., None, :]) / spread[..., None, None]
    return completion_loss(model.apply(params, inputs, mask), target, mask)

  @functools.partial(jax.jit, donate_argnums=(0, 1))
  def train_step(params, opt_state, pool, step):
    key_batch, key_mask = jax.random.split(jax.random.fold_in(key_data, step))
    full = pool[jax.random.randint(key_batch, (batch_size,), 0, pool.shape[0])]
    mask = random_masks(key_mask, batch_size, num_joints, max_missing)
    loss, grads = jax.value_and_grad(loss_fn)(params, full, mask)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  log_every = max(1, num_steps // _NUM_LOG_LINES)
  for step in range(num_steps):
    params, opt_state, loss = train_step(params, opt_state, pool, step)
    if (step + 1) % log_every == 0 or step + 1 == num_steps:
      logging.info("completion step %d/%d: loss %.4g (visible frame)", step + 1, num_steps, float(loss))

  completion = Completion(model=model, params=params, mean_pose=mean_pose, max_missing=max_missing)
  held_out = _evaluate(completion, held)
  logging.info("completion held out: %d poses, %d filled joints, error %.4g (mean-pose baseline %.4g)",
               held_out["poses"], held_out["filled_joints"], held_out["error"], held_out["baseline_error"])
  return dataclasses.replace(completion, held_out=held_out)


def _evaluate(completion, poses):
  num_poses, num_joints, _ = poses.shape
  mask = np.asarray(random_masks(jax.random.key(_HELD_OUT_KEY), num_poses, num_joints, completion.max_missing))
  # NaN at the dropped joints: nothing of the truth can reach the filled joints.
  masked = np.where(mask[..., None], poses, np.nan)
  missing = ~mask
  num_missing = missing.sum(axis=1)

  def joint_errors(filled):
    return np.linalg.norm(filled - poses, axis=-1)

  errors = joint_errors(complete(completion, masked, mask))
  baseline = joint_errors(mean_pose_fill(completion.mean_pose, masked, mask))
  by_missing = {int(k): float(errors[num_missing == k][missing[num_missing == k]].mean())
                for k in np.unique(num_missing)}
  return {"poses": int(num_poses), "filled_joints": int(missing.sum()), "error": float(errors[missing].mean()),
          "baseline_error": float(baseline[missing].mean()), "error_by_missing": by_missing}


@functools.partial(jax.jit, static_argnums=0)
def _fill(model, params, pose2d, mask):
  inputs, centre, spread = visible_frame(pose2d, mask)
  return from_visible_frame(model.apply(params, inputs, mask), centre, spread)


def complete(completion: Completion, pose2d: np.ndarray, mask: np.ndarray, chunk: int = 4096) -> np.ndarray:
  """Fills the masked joints of 2D poses.

  Args:
    completion: from `train_completer`.
    pose2d: ``[N, J, 2]``; masked joints may hold anything, NaN included.
    mask: ``[N, J]`` bool, True = visible; at most ``completion.max_missing`` False per pose.
    chunk: poses per call of the network; every call has this size (the last is padded), so any
      N compiles once.

  Returns:
    ``[N, J, 2]``: visible joints bit-exactly as given, masked joints filled.
  """
  pose2d, mask = np.asarray(pose2d), np.asarray(mask, bool)
  _check_poses(pose2d, "complete")
  _check_pose_mask(pose2d, mask, "complete")
  num_joints = completion.mean_pose.shape[0]
  if pose2d.shape[1] != num_joints:
    raise ValueError(f"complete: expected poses with {num_joints} joints (as trained), got {pose2d.shape[1]}")
  if chunk < 1:
    raise ValueError(f"complete: expected chunk >= 1, got {chunk}")
  num_missing = num_joints - mask.sum(axis=1)
  too_many = num_missing > completion.max_missing
  if np.any(too_many):
    raise ValueError(f"complete: {int(too_many.sum())} of {len(pose2d)} poses miss more than "
                     f"max_missing={completion.max_missing} joints (up to {int(num_missing.max())}); "
                     f"at most {completion.max_missing} allowed")
  if not np.all(np.isfinite(pose2d[mask])):
    raise ValueError("complete: expected finite visible joints, got NaN or inf at "
                     f"{int(np.sum(~np.isfinite(pose2d[mask]).all(-1)))} visible joints")

  # Only incomplete poses go through the network; complete ones come back as they are.
  todo = np.flatnonzero(num_missing > 0)
  filled = np.zeros(pose2d.shape, np.float32)
  if len(todo):
    # Padding rows are all-visible zeros: a valid (if degenerate) frame, and discarded.
    poses = np.where(mask[todo, :, None], pose2d[todo], 0.0).astype(np.float32)
    filled[todo] = batching.map_padded(lambda p, m: _fill(completion.model, completion.params, p, m), poses,
                                       mask[todo], size=chunk, pads=(0.0, True))
  return _merge(pose2d, mask, filled)


def from_config(config, poses2d: np.ndarray) -> Completion:
  """The completion network of complete 2D poses ``[N, J, 2]``, sized by ``config.adapt.completion`` and seeded by
  ``config.data.noise_2d.seed`` (what detector-like 2D and the domain adaptation complete their poses with)."""
  c = config.adapt.completion
  return train_completer(poses2d, width=c.width, num_layers=c.layers, num_steps=c.num_steps, batch_size=c.batch_size,
                         learning_rate=c.lr, seed=config.data.noise_2d.seed)


def save(completion: Completion, folder: str) -> str:
  """Writes ``completion.msgpack`` (parameters) and ``completion.json`` (everything else) to ``folder``."""

  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, "completion.msgpack"), "wb") as f:
    f.write(flax.serialization.to_bytes(jax.device_get(completion.params)))
  meta = {"width": completion.model.width, "num_layers": completion.model.num_layers,
          "num_joints": int(completion.mean_pose.shape[0]), "max_missing": completion.max_missing,
          "mean_pose": np.asarray(completion.mean_pose).tolist(), "held_out": completion.held_out}
  with open(os.path.join(folder, "completion.json"), "w") as f:
    json.dump(meta, f, indent=2, default=float)
  return folder


def load(folder: str) -> Completion:
  """The `Completion` that `save` wrote to ``folder``."""

  paths = [os.path.join(folder, name) for name in ("completion.json", "completion.msgpack")]
  missing = [p for p in paths if not os.path.exists(p)]
  if missing:
    raise ValueError(f"no completion network in {folder}: {missing[0]} does not exist")
  try:
    with open(paths[0]) as f:
      meta = json.load(f)
  except ValueError as e:
    raise ValueError(f"{paths[0]}: not valid JSON ({e})") from None
  if not isinstance(meta, dict):
    raise ValueError(f"{paths[0]}: expected a JSON object, got a {type(meta).__name__}")
  for name, least in (("width", 1), ("num_layers", 1), ("num_joints", 2), ("max_missing", 0)):
    value = meta.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
      raise ValueError(f"{paths[0]}: field {name!r}: expected an integer >= {least}, got {value!r:.60}")
  try:
    mean_pose = np.asarray(meta.get("mean_pose"), np.float32)
  except (TypeError, ValueError):
    mean_pose = np.zeros(0)
  if mean_pose.shape != (meta["num_joints"], 2) or not np.isfinite(mean_pose).all():
    raise ValueError(f"{paths[0]}: field 'mean_pose': expected {meta['num_joints']} finite (x, y) pairs")
  model = models.Completer(width=meta["width"], num_layers=meta["num_layers"])
  abstract = jax.eval_shape(lambda p, m: model.init(jax.random.key(0), p, m),
                            jax.ShapeDtypeStruct((1, meta["num_joints"], 2), np.float32),
                            jax.ShapeDtypeStruct((1, meta["num_joints"]), bool))
  with open(paths[1], "rb") as f:
    params = weights.read_state(paths[1], f.read(), abstract, "the completion network completion.json describes")
  return Completion(model, jax.tree.map(jnp.asarray, params), mean_pose, meta["max_missing"], meta.get("held_out", {}))
