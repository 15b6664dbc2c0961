"""3D pose error metrics, per pose, in the units of the ground truth (millimetres here).

Alignment differs between published numbers, so each metric says exactly what it aligns:

- ``mpjpe``: mean per-joint Euclidean distance, no alignment (callers root-centre both sides).
- ``n_mpjpe``: the prediction is first multiplied by the least-squares scale
  ``s = <pred, target> / <pred, pred>`` (Rhodin et al., CVPR 2018); both sides root-centred.
- ``pa_mpjpe``: the prediction is first aligned by the best similarity transform (rotation,
  translation and scale; reflections excluded), the paper's "scaling and rigid alignment".
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lifting import geometry


def _check(pred, target, name):
  if pred.shape != target.shape or pred.ndim < 2:
    raise ValueError(f"{name}: expected pred and target of the same shape [..., J, 3], got "
                     f"{tuple(pred.shape)} and {tuple(target.shape)}")


def mpjpe(pred: jax.Array, target: jax.Array) -> jax.Array:
  """``[..., J, 3]`` x2 -> ``[...]`` mean per-joint position error, no alignment."""
  pred, target = jnp.asarray(pred), jnp.asarray(target)
  _check(pred, target, "mpjpe")
  return jnp.mean(jnp.linalg.norm(pred - target, axis=-1), axis=-1)


def n_mpjpe(pred: jax.Array, target: jax.Array) -> jax.Array:
  """``[..., J, 3]`` x2 -> ``[...]`` MPJPE after the least-squares scale of ``pred``."""
  pred, target = jnp.asarray(pred), jnp.asarray(target)
  _check(pred, target, "n_mpjpe")
  s = jnp.sum(pred * target, axis=(-2, -1)) / jnp.maximum(jnp.sum(pred * pred, axis=(-2, -1)), 1e-12)
  return mpjpe(s[..., None, None] * pred, target)


def pa_mpjpe(pred: jax.Array, target: jax.Array) -> jax.Array:
  """``[..., J, 3]`` x2 -> ``[...]`` MPJPE after similarity Procrustes alignment (no reflection)."""
  pred, target = jnp.asarray(pred), jnp.asarray(target)
  _check(pred, target, "pa_mpjpe")
  return mpjpe(geometry.procrustes_align(pred, target, scale=True), target)
