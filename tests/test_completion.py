"""Tests for lifting.training.completion: the visible frame, masks, loss, baseline, training and completion.

One small completer is trained once for the module (a synthetic pose family: a mean pose plus a
few linear modes, randomly scaled and shifted), so the whole file runs in seconds.
"""

import jax
import numpy as np
import pytest

from lifting.core import models
from lifting.training import completion

J = 14
MAX_MISSING = 4


def np_visible_frame(pose, mask):
  lead = pose.shape[:-2]
  normalised, centre, spread = np.zeros(pose.shape), np.zeros(lead + (2,)), np.zeros(lead)
  for idx in np.ndindex(lead):
    visible = pose[idx][mask[idx]]
    c = visible.mean(axis=0)
    s = max(np.sqrt(np.mean(np.sum((visible - c) ** 2, axis=-1))), completion.MIN_SPREAD)
    for j in range(pose.shape[-2]):
      if mask[idx][j]:
        normalised[idx][j] = (pose[idx][j] - c) / s
    centre[idx], spread[idx] = c, s
  return normalised, centre, spread


def masked_poses(rng, lead, num_joints, max_missing):
  """Random poses with NaN at the missing joints, and their masks (at least one joint visible)."""
  pose = rng.normal(size=lead + (num_joints, 2)) * 50 + 200
  num_missing = rng.integers(0, max_missing + 1, size=lead)
  mask = np.argsort(np.argsort(rng.random(lead + (num_joints,)), axis=-1), axis=-1) >= num_missing[..., None]
  return np.where(mask[..., None], pose, np.nan), mask


def pose_family(rng, num_poses, num_modes=3):
  """Poses ``[N, J, 2]`` from a fixed low-dimensional family (``rng`` draws the members), in pixel-like units."""
  shape_rng = np.random.default_rng(1234)
  mean = shape_rng.normal(size=(J, 2))
  modes = shape_rng.normal(size=(num_modes, J, 2)) * 0.3
  poses = mean + np.einsum("nk,kjc->njc", rng.normal(size=(num_poses, num_modes)), modes)
  return poses * rng.uniform(50, 150, size=(num_poses, 1, 1)) + rng.uniform(0, 500, size=(num_poses, 1, 2))


def test_visible_frame_matches_numpy_under_jit():
  rng = np.random.default_rng(0)
  pose, mask = masked_poses(rng, (3, 4), 6, 5)  # Up to 5 of 6 missing: single visible joints occur.
  assert (mask.sum(-1) == 1).any()
  normalised, centre, spread = jax.jit(completion.visible_frame)(pose.astype(np.float32), mask)
  ref_normalised, ref_centre, ref_spread = np_visible_frame(pose, mask)
  assert normalised.shape == pose.shape and centre.shape == (3, 4, 2) and spread.shape == (3, 4)
  assert np.all(np.isfinite(normalised))
  np.testing.assert_array_equal(np.asarray(normalised)[~mask], 0.0)
  np.testing.assert_allclose(normalised, ref_normalised, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(centre, ref_centre, rtol=1e-5)
  np.testing.assert_allclose(spread, ref_spread, rtol=1e-5)


def test_visible_frame_round_trip():
  rng = np.random.default_rng(1)
  pose, mask = masked_poses(rng, (5,), J, MAX_MISSING)
  round_trip = jax.jit(lambda p, m: completion.from_visible_frame(*completion.visible_frame(p, m)))
  back = round_trip(pose.astype(np.float32), mask)
  np.testing.assert_allclose(np.asarray(back)[mask], pose[mask], rtol=1e-5)


def test_visible_frame_rejects_bad_shapes():
  with pytest.raises(ValueError, match=r"\[\.\.\., J, 2\].*\(4, 3\)"):
    completion.visible_frame(np.zeros((4, 3)), np.ones(4, bool))
  with pytest.raises(ValueError, match=r"mask of shape \(2, 4\).*got \(4,\)"):
    completion.visible_frame(np.zeros((2, 4, 2)), np.ones(4, bool))
  with pytest.raises(ValueError, match="centre"):
    completion.from_visible_frame(np.zeros((2, 4, 2)), np.zeros((2, 3)), np.ones(2))


def test_random_masks():
  masks = np.asarray(completion.random_masks(jax.random.key(0), 4000, 10, MAX_MISSING))
  assert masks.shape == (4000, 10) and masks.dtype == bool
  num_missing = 10 - masks.sum(axis=1)
  assert num_missing.min() >= 1 and num_missing.max() <= MAX_MISSING
  counts = np.bincount(num_missing, minlength=MAX_MISSING + 1)[1:]
  np.testing.assert_allclose(counts / 4000, 1 / MAX_MISSING, atol=0.03)
  # Every joint is missed about equally often.
  np.testing.assert_allclose((~masks).mean(axis=0), num_missing.mean() / 10, atol=0.03)
  for bad in (0, 9):
    with pytest.raises(ValueError, match=rf"max_missing in \[1, 8\] for 10 joints, got {bad}"):
      completion.random_masks(jax.random.key(0), 5, 10, bad)


def test_completion_loss():
  rng = np.random.default_rng(2)
  pred, target = rng.normal(size=(3, 5, 2)), rng.normal(size=(3, 5, 2))
  mask = rng.random((3, 5)) > 0.4
  assert not mask.all()
  expected = np.mean([np.sum((pred[i, j] - target[i, j]) ** 2) for i in range(3) for j in range(5) if not mask[i, j]])
  np.testing.assert_allclose(completion.completion_loss(pred, target, mask), expected, rtol=1e-5)
  # Nothing missing: 0, not 0 / 0.
  assert float(completion.completion_loss(pred, target, np.ones((3, 5), bool))) == 0.0


def test_mean_pose_fill_recovers_scaled_shifted_mean():
  rng = np.random.default_rng(3)
  mean = rng.normal(size=(J, 2))
  scale, shift = rng.uniform(20, 200, size=(6, 1, 1)), rng.uniform(-300, 300, size=(6, 1, 2))
  truth = scale * mean + shift
  masks = np.asarray(completion.random_masks(jax.random.key(1), 6, J, MAX_MISSING))
  filled = completion.mean_pose_fill(mean, np.where(masks[..., None], truth, np.nan), masks)
  np.testing.assert_array_equal(filled[masks], truth[masks])
  np.testing.assert_allclose(filled, truth, rtol=1e-4, atol=1e-3)
  # A pose off the mean: the fit is the least-squares scale and translation of the visible joints.
  pose = truth[0] + rng.normal(size=(J, 2)) * 20
  visible = masks[0]
  design = np.zeros((2 * visible.sum(), 3))
  design[:, 0] = mean[visible].ravel()
  design[0::2, 1] = design[1::2, 2] = 1.0
  s, tx, ty = np.linalg.lstsq(design, pose[visible].ravel(), rcond=None)[0]
  filled = completion.mean_pose_fill(mean, pose[None], masks[:1])[0]
  np.testing.assert_allclose(filled[~visible], s * mean[~visible] + [tx, ty], rtol=1e-4, atol=1e-3)


def test_completer_ignores_values_at_masked_joints():
  model = models.Completer(width=8)
  pose = np.random.default_rng(4).normal(size=(3, J, 2)).astype(np.float32)
  mask = np.ones((3, J), bool)
  mask[:, 2] = False
  params = jax.jit(model.init)(jax.random.key(0), pose, mask)
  apply = jax.jit(model.apply)
  out_zero = apply(params, np.where(mask[..., None], pose, 0.0), mask)
  out_nan = apply(params, np.where(mask[..., None], pose, np.nan), mask)
  assert out_zero.shape == (3, J, 2)
  np.testing.assert_array_equal(out_zero, out_nan)


@pytest.fixture(scope="module")
def trained():
  poses = pose_family(np.random.default_rng(5), 3000)
  result = completion.train_completer(poses, max_missing=MAX_MISSING, width=64, num_steps=300, batch_size=256,
                                      learning_rate=3e-3, holdout=0.05)
  return result, poses


def test_train_completer_beats_mean_pose_baseline(trained):
  result, _ = trained
  held = result.held_out
  assert held["poses"] == 150
  assert held["filled_joints"] >= held["poses"]
  assert set(held["error_by_missing"]) == set(range(1, MAX_MISSING + 1))
  assert held["error"] < 0.5 * held["baseline_error"], held
  assert result.mean_pose.shape == (J, 2) and result.max_missing == MAX_MISSING


def test_complete_fills_masked_and_keeps_visible(trained):
  result, _ = trained
  truth = pose_family(np.random.default_rng(6), 50)  # Unseen members of the family.
  masks = np.array(completion.random_masks(jax.random.key(7), 50, J, MAX_MISSING))
  masks[:5] = True  # Complete poses come back unchanged.
  inputs = np.where(masks[..., None], truth, np.nan)
  filled = completion.complete(result, inputs, masks)
  assert filled.shape == truth.shape and filled.dtype == np.float64
  np.testing.assert_array_equal(filled[masks], truth[masks])
  np.testing.assert_array_equal(filled[:5], truth[:5])
  errors = np.linalg.norm(filled - truth, axis=-1)[~masks]
  baseline = np.linalg.norm(completion.mean_pose_fill(result.mean_pose, inputs, masks) - truth, axis=-1)[~masks]
  assert errors.mean() < 0.5 * baseline.mean()
  # Close in absolute terms too: well within the size of the poses.
  spread = np.sqrt(np.mean(np.sum((truth - truth.mean(axis=1, keepdims=True)) ** 2, axis=-1), axis=1))
  assert errors.mean() < 0.25 * spread.mean()
  # Chunking and padding change nothing.
  np.testing.assert_allclose(completion.complete(result, inputs, masks, chunk=7), filled, rtol=1e-6, atol=1e-4)


def test_complete_rejects_bad_inputs(trained):
  result, poses = trained
  mask = np.ones((3, J), bool)
  mask[1, :MAX_MISSING + 1] = False
  mask[2, :MAX_MISSING + 2] = False
  with pytest.raises(ValueError, match=rf"2 of 3 poses miss more than max_missing={MAX_MISSING}.*up to 6"):
    completion.complete(result, poses[:3], mask)
  with pytest.raises(ValueError, match=rf"expected poses with {J} joints.*got 5"):
    completion.complete(result, poses[:3, :5], np.ones((3, 5), bool))
  with pytest.raises(ValueError, match=r"mask of shape \(3, 14\)"):
    completion.complete(result, poses[:3], np.ones((2, J), bool))
  with pytest.raises(ValueError, match=r"\[N, J, 2\]"):
    completion.complete(result, poses[0], np.ones(J, bool))
  bad = poses[:2].copy()
  bad[0, 0] = np.nan
  with pytest.raises(ValueError, match="finite visible joints"):
    completion.complete(result, bad, np.ones((2, J), bool))


def test_train_completer_rejects_bad_inputs():
  poses = pose_family(np.random.default_rng(8), 10)
  bad = poses.copy()
  bad[3, 2, 1] = np.inf
  with pytest.raises(ValueError, match="finite poses, got 1 of 10"):
    completion.train_completer(bad)
  with pytest.raises(ValueError, match=r"\[N, J, 2\].*\(10, 28\)"):
    completion.train_completer(poses.reshape(10, -1))
  with pytest.raises(ValueError, match="at least 2 poses.*got 1"):
    completion.train_completer(poses[:1])
  with pytest.raises(ValueError, match=r"max_missing in \[1, 12\]"):
    completion.train_completer(poses, max_missing=13)


def test_save_and_load_round_trip(trained, tmp_path):
  result, poses = trained
  completion.save(result, str(tmp_path / "c"))
  again = completion.load(str(tmp_path / "c"))
  assert again.max_missing == result.max_missing and again.model == result.model
  np.testing.assert_array_equal(again.mean_pose, result.mean_pose)
  mask = np.ones(poses[:8].shape[:2], bool)
  mask[:, 3] = False
  np.testing.assert_array_equal(completion.complete(again, poses[:8], mask),
                                completion.complete(result, poses[:8], mask))
  with pytest.raises(ValueError, match="no completion network"):
    completion.load(str(tmp_path / "nothing"))
