"""Fully connected networks of Chen et al. (CVPR 2019), sec. 3.7, in Flax Linen.

All follow Martinez et al. (ICCV 2017, "A simple yet effective baseline for 3d human pose
estimation"): an input Dense layer, residual blocks of ``[Dense, (BatchNorm), ReLU, Dropout] x 2``
and an output Dense layer. Batch normalisation is used in the lifter and the adapter but not in
the discriminators, as in the paper. Width, number of blocks and dropout are constructor fields,
filled from the config by `lifting.training.train_step.build_models`.

Inputs are 2D poses ``[..., J, 2]``; every network flattens the last two axes itself.

Two speed options, set from ``config.model`` (`lifting.training.train_step.build_models`): ``dropout_rng``
("bits": dropout masks from a few random bits per unit, `dropout_keep_mask`; "bernoulli": Flax's
one random float per unit) and ``dtype`` (the hidden matmuls' dtype; bfloat16 halves their cost on
hardware that has bfloat16 units, while BatchNorm, residual sums and the output layer stay float32).
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from lifting.core import geometry

# He initialisation suits the ReLU layers (Martinez et al. use it too).
_hidden_init = nn.initializers.he_normal()


def _flatten_pose(pose: jax.Array, name: str) -> jax.Array:
  if pose.ndim < 2 or pose.shape[-1] != 2:
    raise ValueError(f"{name}: expected 2D poses of shape [..., J, 2], got shape {tuple(pose.shape)}")
  return pose.reshape(pose.shape[:-2] + (pose.shape[-2] * 2,))


DROPOUT_RNGS = ("bits", "bernoulli")
MAX_MASK_BITS = 16


def mask_bits(rate: float) -> tuple[int, int]:
  """``(k, threshold)``: a unit is dropped when its ``k`` random bits, read as an integer, are
  below ``threshold``; ``threshold / 2**k`` is ``rate`` exactly when some ``k <= 16`` allows it
  (0.25 is 1/4: two bits), otherwise ``rate`` rounded to a multiple of ``2**-16``."""
  if not 0 <= rate < 1:
    raise ValueError(f"dropout rate: expected a rate in [0, 1), got {rate}")
  for k in range(1, MAX_MASK_BITS + 1):
    if math.isclose(rate * 2 ** k, round(rate * 2 ** k), abs_tol=1e-9):
      return k, round(rate * 2 ** k)
  return MAX_MASK_BITS, round(rate * 2 ** MAX_MASK_BITS)


def dropout_keep_mask(key: jax.Array, shape: tuple[int, ...], rate: float) -> jax.Array:
  """A boolean keep mask ``[*shape]`` with ``P(keep) = 1 - rate`` (see `mask_bits`), independent per unit.

  Each 32-bit random word serves ``32 // k`` units (16 at rate 0.25) instead of one, which on a
  CPU makes the masks many times cheaper than a uniform float per unit. Words are drawn over the
  last axis only, so the mask of a batch sharded on its leading axes is drawn shard by shard.
  """
  k, threshold = mask_bits(rate)
  shape = tuple(shape)
  if not shape:
    raise ValueError("dropout_keep_mask: expected a shape with at least one axis, got ()")
  per_word = 32 // k
  n = shape[-1]
  words = jax.random.bits(key, shape[:-1] + (-(-n // per_word),), jnp.uint32)
  shifts = jnp.arange(per_word, dtype=jnp.uint32) * k
  fields = (words[..., None] >> shifts) & jnp.uint32(2 ** k - 1)
  fields = fields.reshape(shape[:-1] + (-1,))[..., :n]
  return fields >= threshold


class Dropout(nn.Module):
  """Inverted dropout with masks from `dropout_keep_mask` ("bits") or Flax's Bernoulli floats."""
  rate: float
  rng: str = "bits"

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
    if deterministic or self.rate == 0:
      return x
    if self.rng == "bernoulli":
      return nn.Dropout(self.rate, deterministic=False)(x)
    if self.rng != "bits":
      raise ValueError(f"Dropout.rng: expected one of {DROPOUT_RNGS}, got {self.rng!r}")
    k, threshold = mask_bits(self.rate)
    keep = 1 - threshold / 2 ** k
    mask = dropout_keep_mask(self.make_rng("dropout"), x.shape, self.rate)
    return jnp.where(mask, x / jnp.asarray(keep, x.dtype), jnp.zeros((), x.dtype))


class ResidualBlock(nn.Module):
  """``x + f(x)`` with ``f = [Dense, (BatchNorm), ReLU, Dropout] x 2``."""
  width: int
  dropout: float = 0.0
  batch_norm: bool = True
  dropout_rng: str = "bits"
  dtype: Any = jnp.float32
  frozen_norm: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    h = x
    for _ in range(2):
      h = _dense_bn_relu_dropout(h, self.width, self.dropout, self.batch_norm, train, self.dropout_rng, self.dtype,
                                 self.frozen_norm)
    return x + h


def _dense_bn_relu_dropout(h, width, dropout, batch_norm, train, dropout_rng="bits", dtype=jnp.float32,
                           frozen_norm=False):
  # A bias before BatchNorm has zero true gradient; Adam would turn its round-off into steps.
  # Only the matmul runs in ``dtype``: its float32 result keeps BatchNorm and the residual sums exact.
  h = nn.Dense(width, use_bias=not batch_norm, kernel_init=_hidden_init, dtype=dtype)(h).astype(jnp.float32)
  if batch_norm:
    h = nn.BatchNorm(use_running_average=not train or frozen_norm, momentum=0.9)(h)
  h = nn.relu(h)
  if dropout > 0 and dropout_rng == "bernoulli":
    h = nn.Dropout(dropout, deterministic=not train)(h)  # Named as before, so old runs' random streams hold.
  elif dropout > 0:
    h = Dropout(dropout, dropout_rng)(h, deterministic=not train)
  return h


class ResidualMLP(nn.Module):
  """Input Dense, ``num_blocks`` residual blocks, output Dense to ``out_features``."""
  out_features: int
  width: int = 1024
  num_blocks: int = 4
  dropout: float = 0.0
  batch_norm: bool = True
  output_init_scale: float = 1.0  # Variance scale of the output layer; 0 starts it at zero.
  dropout_rng: str = "bits"
  dtype: Any = jnp.float32  # Of the input and hidden matmuls; the output layer stays float32.
  frozen_norm: bool = False  # Batch norm with its running statistics even in training (fine-tuning on one clip).

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    h = _dense_bn_relu_dropout(x, self.width, self.dropout, self.batch_norm, train, self.dropout_rng, self.dtype,
                               self.frozen_norm)
    for _ in range(self.num_blocks):
      h = ResidualBlock(self.width, self.dropout, self.batch_norm, self.dropout_rng, self.dtype,
                        self.frozen_norm)(h, train)
    init = (nn.initializers.variance_scaling(self.output_init_scale, "fan_in", "truncated_normal")
            if self.output_init_scale > 0 else nn.initializers.zeros)
    return nn.Dense(self.out_features, kernel_init=init)(h)


class Lifter(nn.Module):
  """The lifting network G (sec. 3.1): 2D pose to one depth offset per joint.

  ``__call__(pose2d [..., J, 2], train) -> depth offsets d [..., J]``; the 3D pose is then
  `lifting.core.geometry.depth_to_points` (eq. 2). The output layer starts near zero, so training
  starts close to the flat pose at depth ``c``: a random first guess can put joints of the
  rotated skeleton near or behind the camera, where the projection and the loop closure explode.

  With ``denoise`` (beyond the paper) it returns ``[..., J, 3]``: a 2D correction of each input joint (in
  units of ``c`` times the normalised 2D, like the depth offsets) and the depth offset; see `lifted_points`.

  With ``elevation`` (ElePose, Wandt et al., CVPR 2022) one more output unit estimates the camera's elevation
  above the subject, in radians within ``(-elevation_limit, elevation_limit)``. It is not part of the return
  value (the lift is the same either way): it is sown as ``intermediates/elevation [...]`` for the train step,
  which turns each pose upright by it before the random rotation (`lifting.training.train_step.make_update`).
  """
  width: int = 1024
  num_blocks: int = 4
  dropout: float = 0.25
  dropout_rng: str = "bits"
  dtype: Any = jnp.float32
  denoise: bool = False
  elevation: bool = False
  elevation_limit: float = math.pi / 6
  # Batch norm keeps its running statistics in training too: fine-tuning on one clip (`lifting.training.finetune`),
  # whose batches' statistics are the clip's, not the training set's the network learned with.
  frozen_norm: bool = False

  @nn.compact
  def __call__(self, pose2d: jax.Array, train: bool = False) -> jax.Array:
    x = _flatten_pose(pose2d, "Lifter")
    num_joints = pose2d.shape[-2]
    size = num_joints * (3 if self.denoise else 1)
    out = ResidualMLP(size + int(self.elevation), self.width, self.num_blocks, self.dropout,
                      batch_norm=True, output_init_scale=1e-2, dropout_rng=self.dropout_rng, dtype=self.dtype,
                      frozen_norm=self.frozen_norm)(x, train)
    if self.elevation:
      self.sow("intermediates", "elevation", self.elevation_limit * jnp.tanh(out[..., size]))
      out = out[..., :size]
    return out.reshape(out.shape[:-1] + (num_joints, 3)) if self.denoise else out


def _temporal_conv(h: jax.Array, width: int, kernel: int, dilation: int, train: bool, dtype,
                   frozen_norm: bool = False) -> jax.Array:
  """``[B, T, C]`` -> ``[B, T - dilation * (kernel - 1), width]``: a temporal convolution over the frames (no padding;
  no bias, batch norm follows), batch norm and ReLU."""
  h = nn.Conv(width, (kernel,), kernel_dilation=(dilation,), padding="VALID", use_bias=False,
              kernel_init=_hidden_init, dtype=dtype)(h).astype(jnp.float32)
  return nn.relu(nn.BatchNorm(use_running_average=not train or frozen_norm, momentum=0.9)(h))


class TemporalLifter(nn.Module):
  """A lifter that sees a window of frames (beyond the paper: Chen et al. lift single frames and close by
  pointing to temporal models for video). VideoPose3D's dilated temporal convolutions (Pavllo et al., CVPR
  2019), sequence to sequence: ``pose2d [..., T, J, 2] -> depth offsets [..., T, J]`` for any number of frames
  T, each frame's offsets from the ``frames`` frames around it (``frames`` = 3^k: a width-3 convolution, then
  residual blocks of a width-3 convolution dilated 3, 9, ... and a 1 x 1 one, each with batch norm and ReLU).
  The sequence is first padded by repeating its first and last frames ``frames // 2`` times, and no layer pads
  again, so a single pose is lifted as a person standing still, and a long sequence cut into overlapping chunks
  (`lifting.core.temporal`) is lifted exactly as in one pass. Trained with the same losses as `Lifter`
  (`lifting.training.train_step`): the random view turns a whole window, and the loop closure lifts the projected
  window.

  With ``elevation`` it sows a camera elevation per frame, as `Lifter` does.
  """
  frames: int = 27
  width: int = 1024
  dropout: float = 0.0
  dropout_rng: str = "bits"
  dtype: Any = jnp.float32
  elevation: bool = False
  elevation_limit: float = math.pi / 6
  denoise: bool = False  # Not supported; present so both lifters answer the same questions.
  frozen_norm: bool = False  # As `Lifter`'s.

  @nn.compact
  def __call__(self, pose2d: jax.Array, train: bool = False) -> jax.Array:
    levels = round(math.log(self.frames, 3)) if self.frames >= 3 else 0
    if self.frames < 3 or 3 ** levels != self.frames:
      raise ValueError(f"TemporalLifter: expected frames a power of 3 (3, 9, 27, 81, ...), got {self.frames}")
    if pose2d.ndim < 3 or pose2d.shape[-1] != 2:
      raise ValueError(f"TemporalLifter: expected 2D pose windows [..., T, J, 2], got shape {tuple(pose2d.shape)}")
    lead, (frames, num_joints) = pose2d.shape[:-3], pose2d.shape[-3:-1]
    h = pose2d.reshape((-1, frames, num_joints * 2))
    reach = self.frames // 2
    h = jnp.pad(h, ((0, 0), (reach, reach), (0, 0)), mode="edge")
    h = _temporal_conv(h, self.width, 3, 1, train, self.dtype, self.frozen_norm)
    for level in range(1, levels):
      d = 3 ** level
      r = _temporal_conv(h, self.width, 3, d, train, self.dtype, self.frozen_norm)
      if self.dropout > 0:
        r = Dropout(self.dropout, self.dropout_rng)(r, deterministic=not train)
      h = h[:, d:-d] + _temporal_conv(r, self.width, 1, 1, train, self.dtype, self.frozen_norm)
    init = nn.initializers.variance_scaling(1e-2, "fan_in", "truncated_normal")
    out = nn.Dense(num_joints + int(self.elevation), kernel_init=init)(h)
    out = out.reshape(lead + (frames, out.shape[-1]))
    if self.elevation:
      self.sow("intermediates", "elevation", self.elevation_limit * jnp.tanh(out[..., num_joints]))
    return out[..., :num_joints]


def lifted_points(pose2d: jax.Array, output: jax.Array, c: float) -> jax.Array:
  """``[..., J, 3]`` camera-frame joints from normalised ``pose2d [..., J, 2]`` and the `Lifter`'s output.

  Depth offsets ``[..., J]``: eq. 2 (`lifting.core.geometry.depth_to_points`). A denoising lifter's ``[..., J, 3]``:
  the 2D joints are first moved by the correction ``output[..., :2] / c``, so the joints project to the
  corrected 2D rather than to the input.
  """
  if output.shape == pose2d.shape[:-1]:
    return geometry.depth_to_points(pose2d, output, c)
  if output.shape != pose2d.shape[:-1] + (3,):
    raise ValueError(f"lifted_points: expected depth offsets {tuple(pose2d.shape[:-1])} or corrections and depths "
                     f"{tuple(pose2d.shape[:-1]) + (3,)} for poses {tuple(pose2d.shape)}, got {tuple(output.shape)}")
  return geometry.depth_to_points(pose2d + output[..., :2] / c, output[..., 2], c)


def speed_settings(config) -> dict:
  """``dropout_rng`` and ``dtype`` of ``config.model``."""
  return dict(dropout_rng=config.model.dropout_rng, dtype=jnp.dtype(config.model.dtype))


def lifter_from_config(config) -> Lifter | TemporalLifter:
  """The lifter ``config.model`` describes (a module: nothing is initialised): `TemporalLifter` when
  ``model.lifter_frames > 1``, else the paper's single-frame `Lifter`."""
  m = config.model
  if m.lifter_frames > 1:
    return TemporalLifter(frames=m.lifter_frames, width=m.width, dropout=m.dropout,
                          elevation=config.rotation.learned_elevation,
                          elevation_limit=config.rotation.elevation_limit, **speed_settings(config))
  return Lifter(width=m.width, num_blocks=m.lifter_blocks, dropout=m.dropout, denoise=m.denoise,
                elevation=config.rotation.learned_elevation, elevation_limit=config.rotation.elevation_limit,
                **speed_settings(config))


def kcs_features(pose2d: jax.Array, bones: tuple[tuple[int, int], ...], scale: float = 1.0) -> jax.Array:
  """Kinematic chain space features of 2D poses (Wandt and Rosenhahn, CVPR 2019): ``[..., J, 2]`` to the
  upper triangle (diagonal included) of the Gram matrix of the bone vectors, ``[..., K (K + 1) / 2]``
  for K bones: squared projected bone lengths and the dot products between bones, which a network
  on raw coordinates can only approximate. ``scale`` multiplies the bone vectors first.

  Args:
    pose2d: ``[..., J, 2]``.
    bones: ``(parent, child)`` joint index pairs, e.g. `lifting.core.skeleton.Layout.bones`.
    scale: factor on the bone vectors (``c`` makes normalised bones about unit length).
  """
  if pose2d.ndim < 2 or pose2d.shape[-1] != 2 or not bones:
    raise ValueError(f"kcs_features: expected poses [..., J, 2] and a non-empty bone list, got shape "
                     f"{tuple(pose2d.shape)} and {len(bones)} bones")
  parents = jnp.array([b[0] for b in bones])
  children = jnp.array([b[1] for b in bones])
  vectors = scale * (pose2d[..., children, :] - pose2d[..., parents, :])   # [..., K, 2]
  gram = jnp.einsum("...kd,...ld->...kl", vectors, vectors)
  rows, cols = jnp.triu_indices(len(bones))
  return gram[..., rows, cols]


class PoseDiscriminator(nn.Module):
  """The 2D pose discriminator D (sec. 3.4): 2D pose ``[..., J, 2]`` to a logit ``[...]``.

  With ``kcs_bones`` (beyond the paper) it also sees the pose's `kcs_features`, scaled by ``kcs_scale``.
  """
  width: int = 1024
  num_blocks: int = 3
  dropout: float = 0.0
  dropout_rng: str = "bits"
  dtype: Any = jnp.float32
  kcs_bones: tuple[tuple[int, int], ...] = ()
  kcs_scale: float = 1.0

  @nn.compact
  def __call__(self, pose2d: jax.Array, train: bool = False) -> jax.Array:
    x = _flatten_pose(pose2d, type(self).__name__)
    if self.kcs_bones:
      x = jnp.concatenate([x, kcs_features(pose2d, self.kcs_bones, self.kcs_scale)], axis=-1)
    return ResidualMLP(1, self.width, self.num_blocks, self.dropout, batch_norm=False, dropout_rng=self.dropout_rng,
                       dtype=self.dtype)(x, train)[..., 0]


def temporal_features(window: jax.Array) -> jax.Array:
  """Input of the temporal discriminator (sec. 3.5 and 3.7).

  Args:
    window: ``[..., 1 + M, J, 2]``: a pose and its M neighbouring frames.

  Returns:
    ``[..., 2J + 2JM]``: the first pose followed by its differences to the M others.
  """
  if window.ndim < 3 or window.shape[-1] != 2 or window.shape[-3] < 2:
    raise ValueError("temporal_features: expected windows of shape [..., 1 + M, J, 2] with M >= 1, "
                     f"got shape {tuple(window.shape)}")
  current = window[..., 0, :, :]
  diffs = current[..., None, :, :] - window[..., 1:, :, :]
  lead = window.shape[:-3]
  return jnp.concatenate([current.reshape(lead + (-1,)), diffs.reshape(lead + (-1,))], axis=-1)


class TemporalDiscriminator(nn.Module):
  """The temporal discriminator T (sec. 3.5): a window ``[..., 1 + M, J, 2]`` to a logit ``[...]``."""
  width: int = 1024
  num_blocks: int = 3
  dropout: float = 0.0
  dropout_rng: str = "bits"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, window: jax.Array, train: bool = False) -> jax.Array:
    x = temporal_features(window)
    return ResidualMLP(1, self.width, self.num_blocks, self.dropout, batch_norm=False, dropout_rng=self.dropout_rng,
                       dtype=self.dtype)(x, train)[..., 0]


class Adapter(nn.Module):
  """The 2D domain adapter C (sec. 3.6): a correction ``C(x_s) [..., J, 2]`` to add to ``x_s``.

  The output layer starts at zero, so training starts from the identity map ``x_sc = x_s``.
  """
  width: int = 1024
  num_blocks: int = 4
  dropout: float = 0.0

  @nn.compact
  def __call__(self, pose2d: jax.Array, train: bool = False) -> jax.Array:
    x = _flatten_pose(pose2d, "Adapter")
    out = ResidualMLP(x.shape[-1], self.width, self.num_blocks, self.dropout, batch_norm=True,
                      output_init_scale=0.0)(x, train)
    return out.reshape(pose2d.shape)


class DomainDiscriminator(PoseDiscriminator):
  """The domain discriminator D_D (sec. 3.6): 2D pose ``[..., J, 2]`` to a logit ``[...]``.

  Same architecture as the pose discriminator (3 residual blocks, no BatchNorm), another role:
  it tells adapted source poses from target poses.
  """


class Completer(nn.Module):
  """Joint completion network (sec. 4.6): a masked pose to a full pose, both [..., J, 2] in the visible frame.

  ``__call__(pose2d [..., J, 2], mask [..., J] bool) -> [..., J, 2]``. The input is the pose with
  its missing joints zeroed, followed by the mask as floats, so a zero coordinate and a missing
  joint are told apart. ``num_layers`` hidden Dense+ReLU layers ("a two-layer fully connected
  network") and an output Dense; no BatchNorm or dropout. See `lifting.training.completion`.
  """
  width: int = 1024
  num_layers: int = 2

  @nn.compact
  def __call__(self, pose2d: jax.Array, mask: jax.Array, train: bool = False) -> jax.Array:
    del train  # Same behaviour in training and inference; kept for the common interface.
    x = _flatten_pose(pose2d, "Completer")
    if mask.shape != pose2d.shape[:-1]:
      raise ValueError(f"Completer: expected a mask of shape {tuple(pose2d.shape[:-1])} for poses of shape "
                       f"{tuple(pose2d.shape)}, got {tuple(mask.shape)}")
    mask = mask.astype(bool)
    # jnp.where rather than a product: a NaN at a missing joint must not leak into the input.
    x = jnp.where(jnp.repeat(mask, 2, axis=-1), x, 0.0)
    h = jnp.concatenate([x, mask.astype(x.dtype)], axis=-1)
    for _ in range(self.num_layers):
      h = nn.relu(nn.Dense(self.width, kernel_init=_hidden_init)(h))
    return nn.Dense(x.shape[-1])(h).reshape(pose2d.shape)
