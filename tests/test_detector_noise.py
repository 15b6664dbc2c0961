"""The detector-like 2D error model: its sizes reproduce the published PCKh, its draws, and the pipeline hook."""

import dataclasses

import numpy as np
import pytest

from experiments import tiny
from lifting import configs
from lifting.core import skeleton
from lifting.data import detector_noise
from lifting.data import pipeline

P14 = skeleton.get_layout("paper14")


def _spread_poses(n):
  """``[n, 14, 2]`` poses whose joints lie 1000 px apart: a gross error always lands beyond any threshold."""
  grid = 1000.0 * np.stack(np.meshgrid(np.arange(4), np.arange(4)), -1).reshape(-1, 2)[:14]
  return np.broadcast_to(grid, (n, 14, 2)).copy()


def test_pckh_of_the_model_matches_the_published_table():
  """Within-threshold rate of each joint, simulated with 1 px = 1 mm (depth = focal), against Newell et al."""
  model = detector_noise.NoiseModel(swap_rate=0.0, missing_rate=0.0, seed=1)
  exact = _spread_poses(100_000)
  noisy, _, counts = detector_noise.corrupt(exact, depth_mm=1000.0, focal_px=1000.0, model=model)
  within = np.linalg.norm(noisy - exact, axis=-1) <= 0.5 * model.head_segment_mm
  for j, name in enumerate(P14.joints):
    group = "head" if name in ("head", "neck") else name.split("_", 1)[1]
    assert within[:, j].mean() == pytest.approx(detector_noise.HOURGLASS_MPII_PCKH[group] / 100, abs=0.004), name
  sigma, gross = detector_noise.joint_sigmas_mm()
  assert counts["gross_joints"] == pytest.approx(100_000 * gross.sum(), rel=0.02)
  # Sizes follow the table: ankles are the worst, the head the best.
  assert sigma[P14.index("l_ankle")] > sigma[P14.index("l_knee")] > sigma[P14.index("l_shoulder")] > sigma[P14.head]


def test_pixels_scale_with_distance_and_scale_zero_is_exact():
  exact = _spread_poses(20_000)
  model = detector_noise.NoiseModel(gross_share=0.0, swap_rate=0.0, missing_rate=0.0)
  near, _, _ = detector_noise.corrupt(exact, 2000.0, 1000.0, model)
  far, _, _ = detector_noise.corrupt(exact, 4000.0, 1000.0, model)
  ratio = np.std(near - exact) / np.std(far - exact)
  assert ratio == pytest.approx(2.0, rel=0.02)
  same, missing, counts = detector_noise.corrupt(exact, 3000.0, 1000.0, dataclasses.replace(model, scale=0.0))
  np.testing.assert_array_equal(same, exact.astype(np.float32))
  assert not missing.any() and counts["gross_joints"] == counts["swapped_limbs"] == 0


def test_swaps_missing_joints_and_seeds():
  exact = _spread_poses(5000)
  model = detector_noise.NoiseModel(gross_share=0.0, swap_rate=0.5, missing_rate=0.0, seed=3)
  noisy, missing, counts = detector_noise.corrupt(exact, 1000.0, 1000.0, model)
  flip = np.asarray(P14.flip_permutation)
  arm = [P14.index(n) for n in ("l_shoulder", "l_elbow", "l_wrist")]
  # Jitter is tens of pixels here, joints 1000 px apart: the nearest exact joint tells where each one went.
  swapped = np.all(np.abs(noisy[:, arm] - exact[:, flip[arm]]) < 400, axis=(1, 2))
  kept = np.all(np.abs(noisy[:, arm] - exact[:, arm]) < 400, axis=(1, 2))
  assert np.all(swapped | kept) and swapped.mean() == pytest.approx(0.5, abs=0.03)
  assert counts["swapped_limbs"] == pytest.approx(5000, rel=0.05) and not missing.any()  # Two limbs at 0.5 each.
  lost = dataclasses.replace(model, swap_rate=0.0, missing_rate=0.1)
  _, missing, counts = detector_noise.corrupt(exact, 1000.0, 1000.0, lost)
  assert missing.mean() == pytest.approx(0.1, abs=0.005) and counts["missing_joints"] == missing.sum()
  a = detector_noise.corrupt(exact[:50], 1000.0, 1000.0, detector_noise.NoiseModel(seed=5))
  b = detector_noise.corrupt(exact[:50], 1000.0, 1000.0, detector_noise.NoiseModel(seed=5))
  c = detector_noise.corrupt(exact[:50], 1000.0, 1000.0, detector_noise.NoiseModel(seed=6))
  np.testing.assert_array_equal(a[0], b[0])
  assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("field, value, message", [
    ("swap_rate", 1.5, "noise_2d.swap_rate: expected a probability"),
    ("scale", float("nan"), "noise_2d.scale: expected a finite number"),
    ("gross_share", 1.0, "noise_2d.gross_share: expected a share < 1"),
    ("head_segment_mm", 0.0, "noise_2d.head_segment_mm"),
])
def test_bad_parameters_are_refused_by_the_config_check(field, value, message):
  config = tiny.get_config()
  config.data.noise_2d.test = True
  config.data.noise_2d[field] = value
  with pytest.raises(ValueError, match=message):
    configs.validate(config)
  config.data.noise_2d[field] = detector_noise.NoiseModel().__getattribute__(field)
  config.data.noise_2d.model = "openpose"
  with pytest.raises(ValueError, match="data.noise_2d.model: expected one of"):
    configs.validate(config)


def test_bad_inputs():
  with pytest.raises(ValueError, match=r"expected poses \[N, 14, 2\]"):
    detector_noise.corrupt(np.zeros((3, 17, 2)), 1000.0, 1000.0, detector_noise.NoiseModel())
  with pytest.raises(ValueError, match="positive root depths"):
    detector_noise.corrupt(np.zeros((3, 14, 2)), np.array([1000.0, -1.0, 5.0]), 1000.0, detector_noise.NoiseModel())


def test_pipeline_noises_the_splits_asked_for_and_fills_missing_joints():
  config = tiny.get_config()
  config.data.noise_2d.update(test=True, missing_rate=0.05)
  config.adapt.completion.update(width=16, batch_size=32, num_steps=5)
  train, test = pipeline.load_splits(config)
  noisy_train, noisy_test, report = pipeline.add_detector_noise(config, train, test)
  assert noisy_train is train and set(report) == {"test"}
  assert report["test"]["focal_px"] == pytest.approx(config.data.bandai.focal_px, rel=1e-3)  # Fitted to the pairs.
  assert report["test"]["completed_joints"] > 0 and np.all(np.isfinite(noisy_test.pose2d))
  assert 2 < np.mean(np.linalg.norm(noisy_test.pose2d - test.pose2d, axis=-1)) < 100  # Pixels, not millimetres.
  np.testing.assert_array_equal(noisy_test.pose3d, test.pose3d)  # The truth is untouched.
  config.data.noise_2d.train = True
  both_train, both_test, report = pipeline.add_detector_noise(config, train, test)
  assert set(report) == {"train", "test"} and not np.array_equal(both_train.pose2d, train.pose2d)
  # The test draws do not depend on whether the training split is noisy too.
  assert report["test"]["gross_joints"] == pipeline.add_detector_noise(config, train, test, what=("test",))[2][
      "test"]["gross_joints"]
  no_3d = dataclasses.replace(test, pose3d=None)
  with pytest.raises(ValueError, match="sized by each pose's depth"):
    pipeline.add_detector_noise(config, train, no_3d)
