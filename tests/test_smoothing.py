"""Temporal smoothing and the acceleration error, against plain loops written from their definitions."""

import numpy as np
import pytest

from lifting.app import smoothing


def _reference(poses, sigma, ok):
  """Each valid frame: the Gaussian-weighted mean of the valid frames within 3 sigma; others unchanged."""
  out = poses.copy()
  radius = int(np.ceil(3 * sigma))
  for t in np.flatnonzero(ok):
    near = [s for s in range(t - radius, t + radius + 1) if 0 <= s < len(poses) and ok[s]]
    w = np.array([np.exp(-0.5 * ((s - t) / sigma) ** 2) for s in near])
    out[t] = np.tensordot(w / w.sum(), poses[near], axes=1)
  return out


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.5])
def test_gaussian_matches_the_definition_with_invalid_frames_and_ends(sigma):
  rng = np.random.default_rng(0)
  poses = rng.normal(size=(20, 14, 3))
  valid = np.ones(20, bool)
  valid[[0, 7, 8]] = False
  poses[8] = np.nan  # a pose that was not lifted
  out = smoothing.gaussian(poses, sigma, valid)
  np.testing.assert_allclose(out, _reference(poses, sigma, valid & np.isfinite(poses).all((1, 2))), rtol=1e-12)
  np.testing.assert_array_equal(out[0], poses[0])  # invalid frames are left as they were
  assert np.isnan(out[8]).all()


@pytest.mark.parametrize("length", [1, 2, 5])
def test_clips_shorter_than_the_kernel(length):
  poses = np.random.default_rng(1).normal(size=(length, 14, 3))
  ok = np.ones(length, bool)
  np.testing.assert_allclose(smoothing.gaussian(poses, 2.0), _reference(poses, 2.0, ok), rtol=1e-12)


def test_gaussian_keeps_constant_and_linear_motion_and_zero_is_identity():
  t = np.arange(30, dtype=np.float64)[:, None, None]
  line = np.concatenate([t * 0.5, np.ones_like(t), -t], axis=-1) * np.ones((1, 4, 1))
  inner = slice(9, 21)  # away from the ends, a symmetric kernel keeps a straight line
  np.testing.assert_allclose(smoothing.gaussian(line, 3.0)[inner], line[inner], atol=1e-9)
  np.testing.assert_array_equal(smoothing.gaussian(line, 0), line)
  with pytest.raises(ValueError, match="sigma >= 0"):
    smoothing.gaussian(line, -1)


def test_acceleration_error_matches_the_definition_and_smoothing_lowers_it():
  rng = np.random.default_rng(1)
  truth = np.cumsum(rng.normal(size=(50, 14, 3)) * 0.1, axis=0)
  noisy = truth + rng.normal(size=truth.shape) * 2.0
  ref = np.mean([np.linalg.norm((noisy[t + 1] - 2 * noisy[t] + noisy[t - 1]) - (truth[t + 1] - 2 * truth[t] + truth[t - 1]),
                                axis=-1).mean() for t in range(1, 49)])
  assert smoothing.acceleration_error(noisy, truth) == pytest.approx(ref, rel=1e-12)
  assert smoothing.acceleration_error(smoothing.gaussian(noisy, 2.0), truth) < 0.3 * ref
  with pytest.raises(ValueError, match="T >= 3"):
    smoothing.acceleration_error(noisy[:2], truth[:2])
