"""Tests for the procedural demo data generator (lifting.data.synthetic)."""

import numpy as np
import pytest

from lifting.data import synthetic as syn

R_ANKLE, R_KNEE, R_HIP, L_HIP, L_KNEE, L_ANKLE = range(6)
R_WRIST, R_ELBOW, R_SHOULDER, L_SHOULDER, L_ELBOW, L_WRIST, NECK, HEAD = range(6, 14)
# (right bone, left bone) as (joint a, joint b)
LIMB_PAIRS = [
  ((R_HIP, R_KNEE), (L_HIP, L_KNEE)),
  ((R_KNEE, R_ANKLE), (L_KNEE, L_ANKLE)),
  ((R_SHOULDER, R_ELBOW), (L_SHOULDER, L_ELBOW)),
  ((R_ELBOW, R_WRIST), (L_ELBOW, L_WRIST)),
  ((NECK, R_SHOULDER), (NECK, L_SHOULDER)),
]


@pytest.fixture(scope="module")
def poses():
  return syn.sample_sequences(np.random.default_rng(123), 48, 60).astype(np.float64)


@pytest.fixture(scope="module")
def demo():
  return syn.make_demo_data(seed=0, num_train_sequences=12, num_test_sequences=4, num_frames=32)


def _root(p):
  return 0.5 * (p[..., R_HIP, :] + p[..., L_HIP, :])


def _length(p, a, b):
  return np.linalg.norm(p[..., a, :] - p[..., b, :], axis=-1)


def _interior_angle_deg(p, a, joint, b):
  u = p[..., a, :] - p[..., joint, :]
  v = p[..., b, :] - p[..., joint, :]
  cos = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
  return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _pinhole(points_world, cam):
  """Independent projection: x_cam = R (X - C), u = f x/z + cx, v = f y/z + cy."""
  x = np.einsum(
    "ij,...j->...i",
    np.asarray(cam.rotation, np.float64),
    np.asarray(points_world, np.float64) - np.asarray(cam.position, np.float64),
  )
  return np.stack(
    [cam.focal * x[..., 0] / x[..., 2] + cam.center[0], cam.focal * x[..., 1] / x[..., 2] + cam.center[1]], axis=-1
  )


def test_shapes_and_dtypes(demo):
  p = syn.sample_sequences(np.random.default_rng(0), 3, 20)
  assert p.shape == (3, 20, 14, 3) and p.dtype == np.float32
  assert demo.train_2d.shape == (12 * 4, 32, 14, 2) and demo.train_2d.dtype == np.float32
  assert demo.test_2d.shape == (4 * 4, 32, 14, 2) and demo.test_2d.dtype == np.float32
  assert demo.test_3d.shape == (4 * 4, 32, 14, 3) and demo.test_3d.dtype == np.float32
  assert len(demo.cameras) == 4
  for arr in (demo.train_2d, demo.test_2d, demo.test_3d):
    assert np.isfinite(arr).all()
  assert len(syn.JOINT_NAMES) == 14 and syn.JOINT_NAMES[13] == "head"


def test_determinism_and_seed_dependence():
  kw = dict(num_train_sequences=3, num_test_sequences=2, num_frames=8)
  a, b, c = syn.make_demo_data(7, **kw), syn.make_demo_data(7, **kw), syn.make_demo_data(8, **kw)
  for name in ("train_2d", "test_2d", "test_3d"):
    np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.allclose(getattr(a, name), getattr(c, name))
  s1 = syn.sample_sequences(np.random.default_rng(1), 2, 5)
  np.testing.assert_array_equal(s1, syn.sample_sequences(np.random.default_rng(1), 2, 5))


def test_train_and_test_streams_are_independent():
  kw = dict(num_train_sequences=3, num_frames=8)
  a = syn.make_demo_data(3, num_test_sequences=1, **kw)
  b = syn.make_demo_data(3, num_test_sequences=5, **kw)
  np.testing.assert_array_equal(a.train_2d, b.train_2d)  # test size does not shift train
  assert not np.allclose(a.test_2d[:4], a.train_2d[:4])


def test_bone_lengths_constant_symmetric_and_adult(poses):
  for right, left in LIMB_PAIRS:
    lr, ll = _length(poses, *right), _length(poses, *left)
    assert np.abs(lr - lr[:, :1]).max() < 0.05  # rigid over time (mm)
    assert np.abs(lr - ll).max() < 0.05  # left == right
  np.testing.assert_allclose(
    np.linalg.norm(poses[..., R_HIP, :] - _root(poses), axis=-1),
    np.linalg.norm(poses[..., L_HIP, :] - _root(poses), axis=-1),
    atol=0.05,
  )
  assert 380 < _length(poses, R_HIP, R_KNEE).min() and _length(poses, R_HIP, R_KNEE).max() < 520
  assert 360 < _length(poses, R_KNEE, R_ANKLE).min() and _length(poses, R_KNEE, R_ANKLE).max() < 500
  assert 250 < _length(poses, R_SHOULDER, R_ELBOW).min() and _length(poses, R_SHOULDER, R_ELBOW).max() < 350
  scale = _length(poses, R_HIP, R_KNEE)[:, 0]
  assert scale.std() > 5.0  # subjects differ in size


def test_head_to_root_distance(poses):
  d = np.linalg.norm(poses[..., HEAD, :] - _root(poses), axis=-1)
  assert d.min() > 450 and d.max() < 560


def test_joint_angle_limits(poses):
  knee = _interior_angle_deg(poses, R_HIP, R_KNEE, R_ANKLE), _interior_angle_deg(poses, L_HIP, L_KNEE, L_ANKLE)
  elbow = (
    _interior_angle_deg(poses, R_SHOULDER, R_ELBOW, R_WRIST),
    _interior_angle_deg(poses, L_SHOULDER, L_ELBOW, L_WRIST),
  )
  for k in knee:
    assert k.min() >= 180 - 140 - 0.5  # knee flexion <= 140 deg
    assert k.min() < 150  # and knees do bend
  for e in elbow:
    assert e.min() >= 180 - 145 - 0.5  # elbow flexion <= 145 deg
    assert e.min() < 150


def test_knees_bend_forward(poses):
  """Bent knee: the bending plane's normal (thigh x shin) points to the person's left."""
  left_axis = poses[..., L_HIP, :] - poses[..., R_HIP, :]
  for hip, knee, ankle in ((R_HIP, R_KNEE, R_ANKLE), (L_HIP, L_KNEE, L_ANKLE)):
    thigh = poses[..., knee, :] - poses[..., hip, :]
    shin = poses[..., ankle, :] - poses[..., knee, :]
    bent = _interior_angle_deg(poses, hip, knee, ankle) < 165
    assert bent.mean() > 0.05
    side = (np.cross(thigh, shin) * left_axis).sum(-1)
    assert (side[bent] > 0).all()


def test_feet_on_ground_and_upright(poses):
  lowest = np.minimum(poses[..., R_ANKLE, 1], poses[..., L_ANKLE, 1])
  np.testing.assert_allclose(lowest, syn.ANKLE_HEIGHT_MM, atol=1.0)
  assert (poses[..., HEAD, 1] > _root(poses)[..., 1]).mean() > 0.99
  assert np.abs(_root(poses)[..., [0, 2]]).max() < 1000  # near the origin


def test_temporal_smoothness(poses):
  step = np.linalg.norm(np.diff(poses, axis=1), axis=-1)
  assert 1.0 < step.mean() < 60.0
  assert np.percentile(step, 99) < 150.0


def test_camera_rotation_and_placement():
  cams = syn.demo_cameras()
  assert len(cams) == 4
  for cam in cams:
    r = np.asarray(cam.rotation)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-9)
    assert np.hypot(cam.position[0], cam.position[2]) == pytest.approx(5000.0)
    assert cam.position[1] == pytest.approx(1400.0)
    assert r[2, 1] < 0  # looks slightly down
    assert r[1] @ np.array([0.0, 1.0, 0.0]) < 0  # camera y points down
    assert (r[2] @ (np.array([0.0, 900.0, 0.0]) - cam.position)) > 0.9 * 5000  # faces centre
  azimuths = sorted(np.degrees(np.arctan2(c.position[0], c.position[2])) % 360 for c in cams)
  np.testing.assert_allclose(azimuths, [45, 135, 225, 315], atol=1e-6)


def test_projection_matches_independent_pinhole(poses):
  for cam in syn.demo_cameras():
    cam_pts = syn.world_to_camera(poses, cam)
    np.testing.assert_allclose(cam_pts, np.einsum("ij,...j->...i", cam.rotation, poses - cam.position), atol=1e-6)
    np.testing.assert_allclose(syn.camera_to_pixels(cam_pts, cam), _pinhole(poses, cam), atol=1e-6)
  # Points above the look-at centre appear higher (smaller v) in the image.
  cam = syn.demo_cameras()[0]
  uv = syn.camera_to_pixels(syn.world_to_camera(np.array([[0.0, 900.0, 0.0], [0.0, 1700.0, 0.0]]), cam), cam)
  assert uv[1, 1] < uv[0, 1]


def test_demo_data_geometry(demo):
  assert (demo.test_3d[..., 2] > 0).all()
  # test_2d is the projection of test_3d
  cam = demo.cameras[0]
  x = demo.test_3d.astype(np.float64)
  uv = np.stack(
    [cam.focal * x[..., 0] / x[..., 2] + cam.center[0], cam.focal * x[..., 1] / x[..., 2] + cam.center[1]], axis=-1
  )
  np.testing.assert_allclose(demo.test_2d, uv, atol=1e-2)
  w, h = cam.image_size
  for px in (demo.train_2d, demo.test_2d):
    inside = (px[..., 0] >= 0) & (px[..., 0] < w) & (px[..., 1] >= 0) & (px[..., 1] < h)
    assert inside.mean() > 0.97
    root = 0.5 * (px[..., R_HIP, :] + px[..., L_HIP, :]).reshape(-1, 2).mean(0)
    assert np.linalg.norm(root - np.asarray(cam.center)) < 100
  # Sequence-major, camera-minor: the C views of one sequence are rigid copies of each other.
  c = len(demo.cameras)
  views = demo.test_3d.reshape(-1, c, *demo.test_3d.shape[1:]).astype(np.float64)
  dists = np.linalg.norm(views[..., :, None, :] - views[..., None, :, :], axis=-1)
  np.testing.assert_allclose(dists, np.broadcast_to(dists[:, :1], dists.shape), atol=0.05)
  assert not np.allclose(views[:, 0], views[:, 1])
