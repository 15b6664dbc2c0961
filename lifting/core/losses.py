"""Loss terms of Chen et al. (CVPR 2019), as pure JAX functions.

Discriminators output raw scores (logits); the GAN losses apply the link themselves. Every loss
returns a scalar: a mean over poses of a per-pose sum over joints and coordinates, so the paper's
weights (eq. 8: ``w2D = 10``, ``w3D = 0.001``, ``wT = 1``) keep their meaning at any batch size.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from lifting.core import geometry

GAN_LOSSES = ("standard", "lsgan")
# Each term of eq. 8 (and the terms beyond the paper), as metrics name it -> the config.loss field of its weight.
TERM_WEIGHTS = {"adv": "w_adv", "loop_2d": "w_2d", "loop_3d": "w_3d", "temporal": "w_temporal",
                "symmetry": "w_symmetry", "supervised": "w_supervised", "flip": "w_flip",
                "bone_window": "w_bone_window", "denoise": "w_denoise", "flow": "w_flow",
                "elevation_prior": "w_elevation_prior"}


def _check_kind(kind: str) -> None:
  if kind not in GAN_LOSSES:
    raise ValueError(f"GAN loss: expected one of {GAN_LOSSES}, got {kind!r}")


def discriminator_loss(real_logits: jax.Array, fake_logits: jax.Array, kind: str = "standard") -> jax.Array:
  """Loss a discriminator minimises.

  ``standard``: eq. 5 (and eq. 6 for the temporal discriminator) as binary cross-entropy,
  ``-E log D(r) - E log(1 - D(y))`` with ``D = sigmoid(logit)``. ``lsgan``: least squares (Mao et
  al., ICCV 2017), ``E (D(r) - 1)^2 / 2 + E D(y)^2 / 2`` on raw scores.

  Args:
    real_logits: ``[...]`` scores of real samples.
    fake_logits: ``[...]`` scores of generated samples.
    kind: ``"standard"`` or ``"lsgan"``.
  """
  _check_kind(kind)
  if kind == "standard":
    # -log sigmoid(a) = softplus(-a); -log(1 - sigmoid(a)) = softplus(a).
    return jnp.mean(jax.nn.softplus(-real_logits)) + jnp.mean(jax.nn.softplus(fake_logits))
  return 0.5 * jnp.mean((real_logits - 1.0) ** 2) + 0.5 * jnp.mean(fake_logits ** 2)


def generator_loss(fake_logits: jax.Array, kind: str = "standard") -> jax.Array:
  """Loss the lifter minimises against a discriminator.

  ``standard`` uses the non-saturating form ``-E log D(y)`` of Goodfellow et al. (2014) in place
  of minimising ``E log(1 - D(y))``: same fixed point, useful gradients when D wins early.
  ``lsgan``: ``E (D(y) - 1)^2 / 2``.
  """
  _check_kind(kind)
  if kind == "standard":
    return jnp.mean(jax.nn.softplus(-fake_logits))
  return 0.5 * jnp.mean((fake_logits - 1.0) ** 2)


def _sum_squares_per_pose(a: jax.Array, b: jax.Array, name: str) -> jax.Array:
  if a.shape != b.shape or a.ndim < 2:
    raise ValueError(f"{name}: expected two arrays of the same shape [..., J, D], got {tuple(a.shape)} "
                     f"and {tuple(b.shape)}")
  return jnp.mean(jnp.sum((a - b) ** 2, axis=(-2, -1)))


def loop_closure_2d(x: jax.Array, x_tilde: jax.Array) -> jax.Array:
  """``L2D = ||x - x~||^2`` (sec. 3.3): input 2D pose against its lift-rotate-lift-reproject.

  Args:
    x, x_tilde: ``[..., J, 2]``.
  """
  return _sum_squares_per_pose(x, x_tilde, "loop_closure_2d")


def denoising_2d(clean: jax.Array, corrected: jax.Array) -> jax.Array:
  """``||x - (x_noisy + correction)||^2`` (beyond the paper): a denoising lifter's corrected 2D against the clean
  pose its corrupted input came from (`lifting.core.augment.corrupt_2d`); ``[..., J, 2]`` each."""
  return _sum_squares_per_pose(clean, corrected, "denoising_2d")


def loop_closure_3d(y3d: jax.Array, y3d_tilde: jax.Array) -> jax.Array:
  """``L3D = ||Y - Y~||^2`` (sec. 3.3): rotated lifted skeleton against the lift of its projection.

  Args:
    y3d, y3d_tilde: ``[..., J, 3]``.
  """
  return _sum_squares_per_pose(y3d, y3d_tilde, "loop_closure_3d")


def bone_lengths(points: jax.Array, bones: Sequence[tuple[int, int]]) -> jax.Array:
  """``[..., J, D]`` joints to ``[..., B]`` lengths of ``bones`` (pairs of joint indices)."""
  if points.ndim < 2 or not bones:
    raise ValueError(f"bone_lengths: expected points [..., J, D] and a non-empty bone list, got shape "
                     f"{tuple(points.shape)} and {len(bones)} bones")
  bad = [b for b in bones if not all(0 <= j < points.shape[-2] for j in b)]
  if bad:
    raise ValueError(f"bone_lengths: expected joint indices in [0, {points.shape[-2]}), got bones {bad}")
  parents = jnp.array([b[0] for b in bones])
  children = jnp.array([b[1] for b in bones])
  diff = points[..., children, :] - points[..., parents, :]
  # The epsilon keeps the gradient finite for a zero-length bone.
  return jnp.sqrt(jnp.sum(diff ** 2, axis=-1) + 1e-12)


def bone_symmetry_loss(points3d: jax.Array, symmetric_bones: Sequence[tuple[tuple[int, int], tuple[int, int]]]
                       ) -> jax.Array:
  """Left/right bone-length symmetry, the "Symm" term of the paper's Table 3 / Fig. 6.

  ``mean over poses of sum over bone pairs (|left bone| - |right bone|)^2``.

  Args:
    points3d: ``[..., J, 3]``.
    symmetric_bones: ``((left parent, left child), (right parent, right child))`` pairs, e.g.
      ``lifting.core.skeleton.get_layout("paper14").symmetric_bones``.
  """
  if not symmetric_bones:
    raise ValueError("bone_symmetry_loss: expected at least one pair of mirrored bones, got none")
  left = bone_lengths(points3d, [pair[0] for pair in symmetric_bones])
  right = bone_lengths(points3d, [pair[1] for pair in symmetric_bones])
  return jnp.mean(jnp.sum((left - right) ** 2, axis=-1))


def flip_consistency(points3d: jax.Array, flipped_points3d: jax.Array, flip_permutation: Sequence[int]) -> jax.Array:
  """Left-right flip consistency: the lift of a mirrored 2D pose should be the mirrored lift.

  ``mean over poses of sum over joints |G(F x) - F3 G(x)|^2`` with ``F`` = `lifting.core.geometry.mirror_pose2d`
  and ``F3`` = `lifting.core.geometry.mirror_pose3d` (mirroring keeps depths, so this compares the depth
  each joint and its mirror partner get). Beyond Chen et al.: an exact symmetry of the problem.

  Args:
    points3d: ``[..., J, 3]`` the lifts ``G(x)``.
    flipped_points3d: ``[..., J, 3]`` the lifts ``G(F x)`` of the mirrored inputs.
    flip_permutation: ``[J]`` each joint's mirror partner (`lifting.core.skeleton.Layout.flip_permutation`).
  """
  return _sum_squares_per_pose(flipped_points3d, geometry.mirror_pose3d(points3d, flip_permutation),
                               "flip_consistency")


def bone_window_loss(windows3d: jax.Array, bones: Sequence[tuple[int, int]]) -> jax.Array:
  """Bone-length consistency over a temporal window: one person's bones do not change length.

  Scale-free: each frame's log bone lengths minus their mean over the bones (the lifter's scale
  follows the 2D, which may change over a window), then the variance over the window's frames,
  summed over bones and averaged over windows. Beyond Chen et al.

  Args:
    windows3d: ``[..., T, J, 3]`` lifted joints of T >= 2 consecutive frames of one sequence.
    bones: ``(parent, child)`` joint index pairs, e.g. `lifting.core.skeleton.Layout.bones`.
  """
  if windows3d.ndim < 3 or windows3d.shape[-1] != 3 or windows3d.shape[-3] < 2:
    raise ValueError("bone_window_loss: expected windows of shape [..., T, J, 3] with T >= 2, got shape "
                     f"{tuple(windows3d.shape)}")
  logs = jnp.log(bone_lengths(windows3d, bones))
  logs = logs - jnp.mean(logs, axis=-1, keepdims=True)
  return jnp.mean(jnp.sum(jnp.var(logs, axis=-2), axis=-1))


def gradient_penalty(grads: jax.Array, sample_ndim: int) -> jax.Array:
  """``E ||grad||^2 / 2``: the R1 penalty (Mescheder et al., ICML 2018) when ``grads`` is the gradient
  of a discriminator's summed outputs at real samples.

  Args:
    grads: ``[..., *sample]`` one gradient per sample.
    sample_ndim: axes per sample: 2 for a pose ``[J, 2]``, 3 for a window ``[T, J, 2]``.
  """
  if not 1 <= sample_ndim <= grads.ndim:
    raise ValueError(f"gradient_penalty: expected 1 <= sample_ndim <= {grads.ndim}, got {sample_ndim}")
  return 0.5 * jnp.mean(jnp.sum(grads ** 2, axis=tuple(range(-sample_ndim, 0))))


def supervised_3d(pred: jax.Array, target: jax.Array, root_joints: Sequence[int]) -> jax.Array:
  """Scale-invariant 3D loss of the supervised reference: what N-MPJPE measures, squared.

  Both sides are root-centred; the target is scaled to unit root-mean-square joint distance,
  and the prediction by its least-squares scale onto it (Rhodin et al., CVPR 2018). The lifter's
  units are set by the 2D normalisation, not millimetres, so a metric target would need a
  camera model; this needs none. Returns the mean over poses of the per-pose sum of squares.

  Args:
    pred: ``[..., J, 3]`` lifted joints.
    target: ``[..., J, 3]`` ground truth in any unit.
    root_joints: joints averaged to form the root.
  """
  if pred.shape != target.shape or pred.shape[-1] != 3:
    raise ValueError(f"supervised_3d: expected pred and target of the same shape [..., J, 3], got {pred.shape} "
                     f"and {target.shape}")
  roots = list(root_joints)
  p = pred - jnp.mean(pred[..., roots, :], axis=-2, keepdims=True)
  t = target - jnp.mean(target[..., roots, :], axis=-2, keepdims=True)
  t = t / jnp.sqrt(jnp.maximum(jnp.mean(jnp.sum(t * t, -1), -1), 1e-12))[..., None, None]
  s = jnp.sum(p * t, axis=(-2, -1)) / jnp.maximum(jnp.sum(p * p, axis=(-2, -1)), 1e-12)
  return jnp.mean(jnp.sum((s[..., None, None] * p - t) ** 2, axis=(-2, -1)))


def correction_penalty(correction: jax.Array, c: float = 10.0) -> jax.Array:
  """The regulariser ``||C(x_s)||^2`` of eq. 7 on ``[..., J, 2]`` adapter corrections.

  Measured on ``c`` times the correction, i.e. in units of the mean head-to-root length of
  normalised poses, so its weight lambda means the same at any normalisation. A mean over
  poses of the per-pose sum over joints and coordinates, like the other terms.
  """
  if correction.ndim < 2 or correction.shape[-1] != 2:
    raise ValueError(f"correction_penalty: expected corrections of shape [..., J, 2], got {tuple(correction.shape)}")
  return jnp.mean(jnp.sum((c * correction) ** 2, axis=(-2, -1)))


def elevation_prior(elevation: jax.Array, minimum: float = 0.0) -> jax.Array:
  """Beyond the paper: ``max(0, minimum - mean(elevation))^2`` for camera elevations ``[...]`` in radians (positive:
  the camera above the body, looking down).

  A lifter that mirrors every pose in depth explains the 2D as well as the right one, and its cameras look up
  where the right one's look down; the adversarial and loop-closure terms cannot tell the two apart when the
  random views follow the lifter's own elevations (ElePose's, or `lifting.core.geometry.body_tilt`'s). People film
  from above the hips or level with them far more often than from below, so a batch whose mean elevation is
  below ``minimum`` is pushed back up; a single pose's elevation stays free.
  """
  return jnp.square(jnp.maximum(minimum - jnp.mean(elevation), 0.0))
