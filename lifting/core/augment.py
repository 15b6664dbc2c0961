"""Synthetic 2D detector errors, drawn inside the train step, for a lifter that learns to denoise (beyond the paper).

A denoising lifter (``model.denoise``) is fed corrupted copies of the training 2D and learns, without any 3D,
to put each joint back where the clean pose had it (``loss.w_denoise``) while the loop closure and the
discriminators work on the corrected pose. The errors here are a deliberately generic model: isotropic jitter
at a level drawn per pose, joints that land on another joint, left/right swaps. It is not the test-time model of
`lifting.data.detector_noise` (sized by a published detector's per-joint accuracy), so the detector-like test
rows measure transfer to errors the lifter was not trained on.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from lifting.core import geometry


def corrupt_2d(key: jax.Array, pose2d: jax.Array, limb_bones: Sequence[tuple[int, int]],
               flip_permutation: Sequence[int], share: float = 0.5, jitter: float = 0.15, gross_rate: float = 0.05,
               swap_rate: float = 0.02) -> jax.Array:
  """``[..., J, 2]`` poses with detector-like errors on a random ``share`` of them (the others unchanged).

  For a corrupted pose, with its limb size ``s`` (`lifting.core.geometry.limb_size`) and a level ``u ~ U(0, 1)``:
  each symmetric joint pair is swapped with probability ``swap_rate``; each joint lands on a random joint
  of the same pose with probability ``gross_rate``; then every joint moves by Gaussian jitter of standard
  deviation ``u * jitter * s`` per axis.

  Args:
    key: a PRNG key.
    pose2d: ``[..., J, 2]`` 2D poses (any units).
    limb_bones: the limb bones' index pairs (`lifting.core.skeleton.Layout.limb_bones`), for the size.
    flip_permutation: ``[J]`` left/right permutation (`lifting.core.skeleton.Layout.flip_permutation`).
    share, jitter, gross_rate, swap_rate: see above.
  """
  pose2d = jnp.asarray(pose2d)
  if pose2d.ndim < 2 or pose2d.shape[-1] != 2 or pose2d.shape[-2] != len(flip_permutation):
    raise ValueError(f"corrupt_2d: expected poses [..., {len(flip_permutation)}, 2], got {tuple(pose2d.shape)}")
  num_joints = pose2d.shape[-2]
  batch = pose2d.shape[:-2]
  k_on, k_level, k_swap, k_gross, k_src, k_jit = jax.random.split(key, 6)
  perm = jnp.asarray(flip_permutation)
  # A pair swaps when either of its joints draws it (each at half the rate), so both joints swap together.
  draw = jax.random.bernoulli(k_swap, swap_rate / 2, batch + (num_joints,))
  swap = draw | draw[..., perm]
  out = jnp.where(swap[..., None], pose2d[..., perm, :], pose2d)
  gross = jax.random.bernoulli(k_gross, gross_rate, batch + (num_joints,))
  source = jax.random.randint(k_src, batch + (num_joints,), 0, num_joints)
  landed = jnp.take_along_axis(out, source[..., None], axis=-2)
  out = jnp.where(gross[..., None], landed, out)
  size = geometry.limb_size(pose2d, limb_bones)
  level = jax.random.uniform(k_level, batch) * jitter * size
  out = out + jax.random.normal(k_jit, out.shape, out.dtype) * level[..., None, None]
  on = jax.random.bernoulli(k_on, share, batch)
  return jnp.where(on[..., None, None], out, pose2d)
