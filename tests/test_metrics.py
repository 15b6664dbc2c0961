"""Tests for lifting.metrics against independent numpy references."""

import jax
import numpy as np
import pytest

from lifting import metrics

BATCH = [(), (3,), (2, 3)]
J = 6

mpjpe = jax.jit(metrics.mpjpe)
n_mpjpe = jax.jit(metrics.n_mpjpe)
pa_mpjpe = jax.jit(metrics.pa_mpjpe)


def np_mpjpe(pred, target):
  return np.sqrt(((pred - target) ** 2).sum(-1)).mean(-1)


def np_n_mpjpe(pred, target):
  s = (pred * target).sum((-2, -1)) / (pred * pred).sum((-2, -1))
  return np_mpjpe(s[..., None, None] * pred, target)


def np_pa_mpjpe(pred, target):
  """Similarity Procrustes (Kabsch on pred^T target, no reflection), then MPJPE; loops the batch."""
  out = np.zeros(pred.shape[:-2])
  for idx in np.ndindex(out.shape):
    p, q = pred[idx], target[idx]
    p0, q0 = p - p.mean(0), q - q.mean(0)
    u, sv, vt = np.linalg.svd(p0.T @ q0)
    sign = np.ones(3)
    sign[-1] = np.sign(np.linalg.det(vt.T @ u.T))
    rot = vt.T @ np.diag(sign) @ u.T
    s = (sv * sign).sum() / (p0**2).sum()
    aligned = s * p0 @ rot.T + q.mean(0)
    out[idx] = np.sqrt(((aligned - q) ** 2).sum(-1)).mean()
  return out


def _poses(seed, batch):
  rng = np.random.default_rng(seed)
  target = rng.normal(scale=100, size=batch + (J, 3)).astype(np.float32)
  pred = (target + rng.normal(scale=30, size=batch + (J, 3))).astype(np.float32)
  return pred, target


def _random_rotation(rng):
  q, r = np.linalg.qr(rng.normal(size=(3, 3)))
  q = q * np.sign(np.diag(r))
  return q * np.linalg.det(q)  # det +1


@pytest.mark.parametrize("batch", BATCH)
def test_mpjpe(batch):
  pred, target = _poses(0, batch)
  got = mpjpe(pred, target)
  assert got.shape == batch
  np.testing.assert_allclose(got, np_mpjpe(pred.astype(np.float64), target.astype(np.float64)), rtol=1e-5)
  np.testing.assert_allclose(mpjpe(target, target), np.zeros(batch))


@pytest.mark.parametrize("batch", BATCH)
def test_n_mpjpe(batch):
  pred, target = _poses(1, batch)
  got = n_mpjpe(pred, target)
  assert got.shape == batch
  np.testing.assert_allclose(got, np_n_mpjpe(pred.astype(np.float64), target.astype(np.float64)), rtol=1e-5)
  # A scaled copy of the target is perfect after scale alignment.
  scale = np.random.default_rng(2).uniform(0.3, 3.0, size=batch + (1, 1)).astype(np.float32)
  np.testing.assert_allclose(n_mpjpe(scale * target, target), np.zeros(batch), atol=1e-3)


@pytest.mark.parametrize("batch", [(3,), (2, 3)])
def test_pa_mpjpe(batch):
  pred, target = _poses(3, batch)
  got = pa_mpjpe(pred, target)
  assert got.shape == batch
  np.testing.assert_allclose(got, np_pa_mpjpe(pred.astype(np.float64), target.astype(np.float64)), rtol=1e-4)


def test_pa_mpjpe_similarity_copy_is_zero():
  rng = np.random.default_rng(4)
  _, target = _poses(5, (3,))
  copies = np.stack(
    [2.5 * target[i] @ _random_rotation(rng).T + rng.normal(scale=50, size=3) for i in range(3)]
  ).astype(np.float32)
  np.testing.assert_allclose(pa_mpjpe(copies, target), np.zeros(3), atol=1e-2)  # target scale ~100 mm
  assert np.all(np.asarray(mpjpe(copies, target)) > 10)
  # A mirror image is not aligned away (reflections excluded).
  mirrored = (target * np.array([-1.0, 1.0, 1.0])).astype(np.float32)
  assert np.all(np.asarray(pa_mpjpe(mirrored, target)) > 1)


@pytest.mark.parametrize("fn", [metrics.mpjpe, metrics.n_mpjpe, metrics.pa_mpjpe])
def test_shape_errors(fn):
  with pytest.raises(ValueError, match=r"\(4, 6, 3\) and \(4, 5, 3\)"):
    fn(np.zeros((4, 6, 3)), np.zeros((4, 5, 3)))
  with pytest.raises(ValueError, match=r"\(3,\)"):
    fn(np.zeros(3), np.zeros(3))
