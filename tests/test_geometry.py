"""Tests for lifting.core.geometry against independent numpy references."""

import functools
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lifting.core import geometry as geo

BATCH = [(), (3,), (2, 3)]
J = 5
ROOT = (1, 2)
HEAD = 4
C = 10.0
ATOL = 1e-5


# ----------------------------------------------------------------------------- numpy references


def _axis_rotation(axis, theta):
  """Rodrigues' formula, written independently of the library's explicit matrices."""
  k = np.asarray(axis, np.float64)
  kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
  return np.eye(3) * np.cos(theta) + np.sin(theta) * kx + (1 - np.cos(theta)) * np.outer(k, k)


def np_rotation(azimuth, elevation, roll):
  a, e, r = np.broadcast_arrays(
    np.asarray(azimuth, np.float64), np.asarray(elevation, np.float64), np.asarray(roll, np.float64)
  )
  out = np.zeros(a.shape + (3, 3))
  for idx in np.ndindex(a.shape):
    out[idx] = _axis_rotation([0, 0, 1], r[idx]) @ _axis_rotation([1, 0, 0], e[idx]) @ _axis_rotation([0, 1, 0], a[idx])
  return out


def np_angles(rot):
  """(azimuth, elevation, roll) from R = Rz(roll) Rx(elev) Ry(azim), |elev| < pi/2.

  The third row of R is untouched by Rz: [-cos e sin a, sin e, cos e cos a]; the image of the
  Y axis is R e_y = [-sin r cos e, cos r cos e, sin e].
  """
  rot = np.asarray(rot, np.float64)
  az = np.arctan2(-rot[..., 2, 0], rot[..., 2, 2])
  el = np.arcsin(np.clip(rot[..., 2, 1], -1, 1))
  roll = np.arctan2(-rot[..., 0, 1], rot[..., 1, 1])
  return az, el, roll


def np_project(x):
  return x[..., :2] / x[..., 2:3]


def np_depth_to_points(x, d, c):
  z = np.maximum(1.0, c + d)
  return np.concatenate([x * z[..., None], z[..., None]], axis=-1)


def np_rigid(points, rot, root, c):
  out = np.zeros(np.broadcast_shapes(points.shape, rot.shape[:-2] + (1, 3)))
  pts = np.broadcast_to(points, out.shape)
  rots = np.broadcast_to(rot, out.shape[:-2] + (3, 3))
  roots = np.broadcast_to(root, out.shape[:-2] + (3,))
  for idx in np.ndindex(out.shape[:-2]):
    for j in range(out.shape[-2]):
      out[idx + (j,)] = rots[idx] @ (pts[idx + (j,)] - roots[idx]) + np.array([0, 0, c])
  return out


def np_normalize(pose, root_joints, head, c, per_pose=True, scale=None):
  root = pose[..., list(root_joints), :].mean(-2)
  centred = pose - root[..., None, :]
  if scale is None:
    dist = np.sqrt(((pose[..., head, :] - root) ** 2).sum(-1))
    scale = 1.0 / (c * dist) if per_pose else 1.0 / (c * dist.mean())
  scale = np.asarray(scale, np.float64)
  return centred * scale[..., None, None], root, scale


def np_procrustes(pred, target, with_scale=True, allow_reflection=False):
  """Kabsch/Umeyama on pred^T target, looping over the batch."""
  batch = pred.shape[:-2]
  d = pred.shape[-1]
  s_out, r_out, t_out = np.ones(batch), np.zeros(batch + (d, d)), np.zeros(batch + (d,))
  for idx in np.ndindex(batch):
    p, q = pred[idx], target[idx]
    mp, mq = p.mean(0), q.mean(0)
    p0, q0 = p - mp, q - mq
    u, sv, vt = np.linalg.svd(p0.T @ q0)
    sign = np.ones(d)
    if not allow_reflection and np.linalg.det(vt.T @ u.T) < 0:
      sign[-1] = -1
    rot = vt.T @ np.diag(sign) @ u.T
    s = (sv * sign).sum() / (p0**2).sum() if with_scale else 1.0
    s_out[idx], r_out[idx], t_out[idx] = s, rot, mq - s * rot @ mp
  return s_out, r_out, t_out


def _pose2d(rng, batch, j=J):
  return rng.normal(size=batch + (j, 2)).astype(np.float32)


def _pose3d(rng, batch, j=J):
  return rng.normal(size=batch + (j, 3)).astype(np.float32)


def _rotations(rng, batch):
  a, e, r = (rng.uniform(-math.pi, math.pi, size=batch) for _ in range(3))
  return np_rotation(a, e, r).astype(np.float32)


# Jitted once at module level so tests that share shapes share compilations.
project = jax.jit(geo.project)
depth_to_points = jax.jit(geo.depth_to_points, static_argnames="c")
rotation_matrix = jax.jit(geo.rotation_matrix)
rigid_transform = jax.jit(geo.rigid_transform, static_argnames="c")
inverse_rigid_transform = jax.jit(geo.inverse_rigid_transform, static_argnames="c")
root_of = jax.jit(geo.root_of, static_argnames="root_joints")
normalize_pose2d = jax.jit(geo.normalize_pose2d, static_argnames=("root_joints", "head_joint", "c", "per_pose"))
denormalize_pose2d = jax.jit(geo.denormalize_pose2d)
procrustes = jax.jit(geo.procrustes, static_argnames=("scale", "allow_reflection"))
procrustes_align = jax.jit(geo.procrustes_align, static_argnames=("scale", "allow_reflection"))


# ----------------------------------------------------------------------------- project & depth


@pytest.mark.parametrize("batch", BATCH)
def test_project(batch):
  rng = np.random.default_rng(0)
  x = _pose3d(rng, batch)
  x[..., 2] = rng.uniform(1, 20, size=batch + (J,))
  got = project(x)
  assert got.shape == batch + (J, 2)
  np.testing.assert_allclose(got, np_project(x.astype(np.float64)), rtol=1e-6)


@pytest.mark.parametrize("batch", BATCH)
def test_depth_to_points(batch):
  rng = np.random.default_rng(1)
  x = _pose2d(rng, batch)
  # Offsets on both sides of the clamp z = max(1, c + d) (kink at d = 1 - c = -9).
  d = rng.uniform(-15, 5, size=batch + (J,)).astype(np.float32)
  got = depth_to_points(x, d, c=C)
  want = np_depth_to_points(x.astype(np.float64), d.astype(np.float64), C)
  assert got.shape == batch + (J, 3)
  np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
  # Reprojecting the lifted points gives the 2D input back.
  np.testing.assert_allclose(project(got), x, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("c", [C, 5.0])
def test_depth_to_points_clamp(c):
  x = np.array([[0.1, -0.2], [0.3, 0.4], [-0.5, 0.0], [0.2, 0.2], [1.0, -1.0]], np.float32)
  d = np.array([-20.0, 1.0 - c, 2.0, -c, 0.0], np.float32)
  got = np.asarray(depth_to_points(x, d, c=c))
  np.testing.assert_allclose(got[:, 2], [1.0, 1.0, c + 2.0, 1.0, c])
  np.testing.assert_allclose(got[:, :2], x * got[:, 2:], rtol=1e-6)


def test_depth_to_points_grad_at_kink():
  x = np.array([[0.1, -0.2], [0.3, 0.4], [-0.5, 0.25]], np.float32)

  def f(d):
    return jnp.sum(geo.depth_to_points(x, d, c=C))

  d = jnp.array([1.0 - C, -20.0, 3.0])  # at, below and above the kink
  g = np.asarray(jax.jit(jax.grad(f))(d))
  assert np.all(np.isfinite(g))
  per_joint = x.sum(-1) + 1.0  # d/dz of (x z + y z + z)
  # Documented: gradient 1 above, 0 below, 0.5 exactly at the kink.
  np.testing.assert_allclose(g, per_joint * np.array([0.5, 0.0, 1.0]), rtol=1e-6)


# ----------------------------------------------------------------------------- rotations


def _check_orthonormal(rot):
  rot = np.asarray(rot, np.float64)
  eye = np.broadcast_to(np.eye(3), rot.shape)
  np.testing.assert_allclose(rot @ np.swapaxes(rot, -1, -2), eye, atol=1e-5)
  np.testing.assert_allclose(np.linalg.det(rot), np.ones(rot.shape[:-2]), atol=1e-5)


@pytest.mark.parametrize("batch", BATCH)
def test_rotation_matrix(batch):
  rng = np.random.default_rng(2)
  a = rng.uniform(-3.0, 3.0, size=batch).astype(np.float32)
  e = rng.uniform(-1.4, 1.4, size=batch).astype(np.float32)
  r = rng.uniform(-3.0, 3.0, size=batch).astype(np.float32)
  got = rotation_matrix(a, e, r)
  assert got.shape == batch + (3, 3)
  np.testing.assert_allclose(got, np_rotation(a, e, r), atol=ATOL)
  _check_orthonormal(got)
  # The documented composition R = Rz(roll) Rx(elev) Ry(azim) is invertible for |elev| < pi/2.
  for got_angle, want in zip(np_angles(got), (a, e, r)):
    np.testing.assert_allclose(got_angle, want, atol=1e-4)


def test_rotation_matrix_default_roll_and_broadcast():
  a = np.array([0.3, -1.2, 0.7], np.float32)
  got = np.asarray(jax.jit(geo.rotation_matrix)(a, 0.1))
  np.testing.assert_allclose(got, np_rotation(a, 0.1, 0.0), atol=ATOL)
  # Azimuth alone is a turn about the camera's vertical axis: Y is fixed, Z goes towards +X.
  ry = np.asarray(rotation_matrix(a, np.zeros(3, np.float32), np.zeros(3, np.float32)))[2]
  np.testing.assert_allclose(ry @ np.array([0.0, 1.0, 0.0]), [0, 1, 0], atol=ATOL)
  np.testing.assert_allclose(ry @ np.array([0.0, 0.0, 1.0]), [math.sin(0.7), 0, math.cos(0.7)], atol=ATOL)


def test_random_rotation_shapes():
  for batch in BATCH:
    out = jax.eval_shape(functools.partial(geo.random_rotation, shape=batch), jax.random.key(0))
    assert out.shape == batch + (3, 3)


CUSTOM_RANGES = dict(azimuth_range=(0.1, 0.5), elevation_range=(-0.3, -0.2), roll_range=(0.3, 0.3))


@jax.jit
def _sample_rotations(key):
  """2000 default and 2000 custom-range rotations, in one compilation."""
  k1, k2 = jax.random.split(key)
  return geo.random_rotation(k1, (2000,)), geo.random_rotation(k2, (2000,), **CUSTOM_RANGES)


@pytest.fixture(scope="module")
def rotation_samples():
  return tuple(np.asarray(r) for r in _sample_rotations(jax.random.key(1)))


def test_random_rotation_default_ranges(rotation_samples):
  rot = rotation_samples[0]
  _check_orthonormal(rot)
  az, el, roll = np_angles(rot)
  lim = math.pi / 9
  # Default: no roll, so the subject's vertical (Y) axis keeps no image-x component.
  np.testing.assert_allclose(rot[:, 0, 1], 0.0, atol=1e-6)
  np.testing.assert_allclose(roll, 0.0, atol=1e-5)
  assert np.all(np.abs(el) <= lim + 1e-5)
  assert el.min() < -lim + 0.01 and el.max() > lim - 0.01
  assert np.all(np.abs(az) <= math.pi + 1e-5)
  assert az.min() < -math.pi + 0.02 and az.max() > math.pi - 0.02
  # Roughly uniform: each quarter of the azimuth circle gets about a quarter of the samples.
  counts = np.histogram(az, bins=4, range=(-math.pi, math.pi))[0]
  assert np.all(np.abs(counts - 500) < 100), counts


def test_random_rotation_custom_ranges(rotation_samples):
  rot = rotation_samples[1]
  _check_orthonormal(rot)
  az, el, roll = np_angles(rot)
  for got, (lo, hi) in ((az, CUSTOM_RANGES["azimuth_range"]), (el, CUSTOM_RANGES["elevation_range"])):
    assert np.all(got >= lo - 1e-4) and np.all(got <= hi + 1e-4)
    assert got.min() < lo + 0.01 and got.max() > hi - 0.01
  np.testing.assert_allclose(roll, 0.3, atol=1e-4)  # a degenerate range fixes the angle
  np.testing.assert_allclose(rot, np_rotation(az, el, 0.3), atol=ATOL)


def test_random_rotation_keys(rotation_samples):
  # Deterministic in the key; different keys differ.
  again = _sample_rotations(jax.random.key(1))
  np.testing.assert_array_equal(again[0], rotation_samples[0])
  other = _sample_rotations(jax.random.key(2))
  assert not np.allclose(other[0], rotation_samples[0])


@pytest.mark.parametrize("bad", [(1.0, 0.0), (0.0, 1.0, 2.0), (0.0,)])
def test_random_rotation_bad_range(bad):
  with pytest.raises(ValueError, match=re.escape(str(tuple(bad)))):
    geo.random_rotation(jax.random.key(0), (2,), elevation_range=bad)


# ----------------------------------------------------------------------------- rigid transforms


@pytest.mark.parametrize("batch", BATCH)
def test_rigid_transform_and_inverse(batch):
  rng = np.random.default_rng(4)
  x, rot = _pose3d(rng, batch), _rotations(rng, batch)
  root = rng.normal(size=batch + (3,)).astype(np.float32)
  x64, rot64, root64 = (a.astype(np.float64) for a in (x, rot, root))
  y = rigid_transform(x, rot, root, c=C)
  assert y.shape == batch + (J, 3)
  np.testing.assert_allclose(y, np_rigid(x64, rot64, root64, C), atol=ATOL)
  # Inverse against its own reference on an independent input, then the round trip.
  y2 = _pose3d(rng, batch)
  want = np.einsum("...ji,...nj->...ni", rot64, y2 - np.array([0, 0, C])) + root64[..., None, :]
  np.testing.assert_allclose(inverse_rigid_transform(y2, rot, root, c=C), want, atol=ATOL)
  np.testing.assert_allclose(inverse_rigid_transform(y, rot, root, c=C), x, atol=ATOL)


def test_rigid_transform_broadcasts_rotation():
  rng = np.random.default_rng(6)
  x = _pose3d(rng, (2, 3))
  rot = _rotations(rng, ())
  root = rng.normal(size=(2, 3, 3)).astype(np.float32)
  got = rigid_transform(x, rot, root, c=C)
  want = np_rigid(x.astype(np.float64), rot.astype(np.float64)[None, None], root.astype(np.float64), C)
  np.testing.assert_allclose(got, want, atol=ATOL)
  # The root itself lands at (0, 0, c).
  np.testing.assert_allclose(
    rigid_transform(root[..., None, :], rot, root, c=C)[..., 0, :], np.broadcast_to([0, 0, C], (2, 3, 3)), atol=ATOL
  )


# ----------------------------------------------------------------------------- root & normalisation


@pytest.mark.parametrize("batch", BATCH)
def test_root_of(batch):
  rng = np.random.default_rng(7)
  x = _pose3d(rng, batch)
  got = root_of(x, root_joints=ROOT)
  assert got.shape == batch + (3,)
  np.testing.assert_allclose(got, 0.5 * (x[..., 1, :] + x[..., 2, :]), atol=1e-6)
  np.testing.assert_allclose(root_of(x, root_joints=(3,)), x[..., 3, :])


@pytest.mark.parametrize("batch", BATCH)
def test_root_centred_matches_numpy_through_jit_and_keeps_numpy_numpy(batch):
  rng = np.random.default_rng(11)
  x = _pose3d(rng, batch).astype(np.float64)
  want = x - 0.5 * (x[..., 1:2, :] + x[..., 2:3, :])
  got = jax.jit(geo.root_centred, static_argnames="root_joints")(jnp.asarray(x, jnp.float32), root_joints=ROOT)
  assert isinstance(got, jax.Array) and got.shape == x.shape
  np.testing.assert_allclose(got, want, atol=1e-5)
  plain = geo.root_centred(x, ROOT)
  assert isinstance(plain, np.ndarray) and plain.dtype == np.float64
  np.testing.assert_allclose(plain, want, atol=1e-12)
  with pytest.raises(ValueError, match="root_centred: expected root joint indices"):
    geo.root_centred(x, (J + 3,))


@pytest.mark.parametrize("batch", BATCH)
def test_normalize_pose2d_per_pose(batch):
  rng = np.random.default_rng(8)
  x = 100 * _pose2d(rng, batch) + 300
  norm, root, scale = normalize_pose2d(x, root_joints=ROOT, head_joint=HEAD, c=C, per_pose=True)
  want_norm, want_root, want_scale = np_normalize(x.astype(np.float64), ROOT, HEAD, C)
  assert norm.shape == batch + (J, 2) and root.shape == batch + (2,) and scale.shape == batch
  np.testing.assert_allclose(norm, want_norm, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(root, want_root, rtol=1e-5)
  np.testing.assert_allclose(scale, want_scale, rtol=1e-5)
  # Each pose: root at the origin, head-to-root exactly 1 / c.
  np.testing.assert_allclose(np.asarray(norm)[..., list(ROOT), :].mean(-2), 0.0, atol=1e-6)
  np.testing.assert_allclose(np.linalg.norm(np.asarray(norm)[..., HEAD, :], axis=-1), np.full(batch, 1 / C), rtol=1e-5)
  np.testing.assert_allclose(denormalize_pose2d(norm, root, scale), x, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("batch", [(2, 3)])
def test_normalize_pose2d_dataset_level(batch):
  rng = np.random.default_rng(9)
  x = 100 * _pose2d(rng, batch) + 300
  norm, root, scale = normalize_pose2d(x, root_joints=ROOT, head_joint=HEAD, c=C, per_pose=False)
  want_norm, want_root, want_scale = np_normalize(x.astype(np.float64), ROOT, HEAD, C, per_pose=False)
  assert scale.shape == ()
  np.testing.assert_allclose(norm, want_norm, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(scale, want_scale, rtol=1e-5)
  dist = np.linalg.norm(np.asarray(norm)[..., HEAD, :], axis=-1)
  np.testing.assert_allclose(dist.mean(), 1 / C, rtol=1e-5)
  assert dist.std() > 1e-3  # relative sizes survive
  np.testing.assert_allclose(denormalize_pose2d(norm, root, scale), x, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("scale_shape", [(), (2, 3), (3,)])
def test_normalize_pose2d_given_scale(scale_shape):
  rng = np.random.default_rng(10)
  x = 100 * _pose2d(rng, (2, 3)) + 300
  given = rng.uniform(0.5, 2.0, size=scale_shape).astype(np.float32)
  norm, root, scale = normalize_pose2d(x, root_joints=ROOT, head_joint=HEAD, c=C, per_pose=True, scale=given)
  want_norm, want_root, _ = np_normalize(x.astype(np.float64), ROOT, HEAD, C, scale=given)
  np.testing.assert_allclose(norm, want_norm, rtol=1e-5, atol=1e-4)
  np.testing.assert_allclose(scale, given)
  np.testing.assert_allclose(denormalize_pose2d(norm, root, scale), x, rtol=1e-5, atol=1e-3)


def test_normalize_pose2d_integer_pixels():
  # "2D joints in any units (e.g. pixels)": integer pixel coordinates must normalise like floats.
  x = np.array([[10, 20], [30, 40], [50, 60], [70, 100], [20, -80]], np.int32)
  want, _, want_scale = np_normalize(x.astype(np.float64), ROOT, HEAD, C)
  norm, _, scale = normalize_pose2d(x, root_joints=ROOT, head_joint=HEAD, c=C, per_pose=True)
  np.testing.assert_allclose(scale, want_scale, rtol=1e-5)
  np.testing.assert_allclose(norm, want, rtol=1e-5)


def test_denormalize_pose2d():
  rng = np.random.default_rng(11)
  norm = _pose2d(rng, (2, 3))
  root = rng.normal(size=(2, 3, 2)).astype(np.float32)
  scale = rng.uniform(0.5, 2, size=(2, 3)).astype(np.float32)
  got = denormalize_pose2d(norm, root, scale)
  np.testing.assert_allclose(got, norm / scale[..., None, None] + root[..., None, :], rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------- procrustes


def _apply(s, rot, t, pts):
  return s[..., None, None] * np.einsum("...ij,...nj->...ni", rot, pts) + t[..., None, :]


@pytest.mark.parametrize(
  "batch,with_scale,allow_reflection",
  [((), True, False), ((3,), True, False), ((2, 3), True, False), ((2, 3), False, False), ((2, 3), True, True)],
)
def test_procrustes_matches_reference(batch, with_scale, allow_reflection):
  rng = np.random.default_rng(12)
  pred, target = _pose3d(rng, batch, j=6), _pose3d(rng, batch, j=6)
  s, rot, t = procrustes(pred, target, scale=with_scale, allow_reflection=allow_reflection)
  ws, wr, wt = np_procrustes(pred.astype(np.float64), target.astype(np.float64), with_scale, allow_reflection)
  assert s.shape == batch and rot.shape == batch + (3, 3) and t.shape == batch + (3,)
  np.testing.assert_allclose(s, ws, atol=1e-4)
  np.testing.assert_allclose(rot, wr, atol=1e-4)
  np.testing.assert_allclose(t, wt, atol=1e-4)
  if not allow_reflection:
    np.testing.assert_allclose(np.linalg.det(np.asarray(rot, np.float64)), np.ones(batch), atol=1e-5)


def test_procrustes_recovers_similarity():
  rng = np.random.default_rng(13)
  pred = _pose3d(rng, (3,), j=6)
  rot = _rotations(rng, (3,))
  s = rng.uniform(0.5, 2.0, size=(3,))
  t = rng.normal(size=(3, 3))
  target = _apply(s, rot.astype(np.float64), t, pred.astype(np.float64)).astype(np.float32)
  gs, grot, gt = procrustes(pred, target, scale=True, allow_reflection=False)
  np.testing.assert_allclose(gs, s, rtol=1e-4)
  np.testing.assert_allclose(grot, rot, atol=1e-4)
  np.testing.assert_allclose(gt, t, atol=1e-4)
  np.testing.assert_allclose(procrustes_align(pred, target, scale=True, allow_reflection=False), target, atol=1e-4)


def test_procrustes_reflection():
  rng = np.random.default_rng(14)
  pred = _pose3d(rng, (2, 3), j=6)
  mirror = np.diag([-1.0, 1.0, 1.0])
  target = (1.5 * pred.astype(np.float64) @ mirror + np.array([0.2, -0.1, 3.0])).astype(np.float32)
  s, rot, t = procrustes(pred, target, scale=True, allow_reflection=False)
  np.testing.assert_allclose(np.linalg.det(np.asarray(rot, np.float64)), np.ones((2, 3)), atol=1e-5)
  ws, wr, wt = np_procrustes(pred.astype(np.float64), target.astype(np.float64))
  np.testing.assert_allclose(rot, wr, atol=1e-4)
  aligned = _apply(np.asarray(s), np.asarray(rot), np.asarray(t), pred)
  assert np.all(np.abs(aligned - target).max(axis=(-2, -1)) > 0.1)  # the mirror image is penalised
  s, rot, t = procrustes(pred, target, scale=True, allow_reflection=True)
  np.testing.assert_allclose(rot, np.broadcast_to(mirror, (2, 3, 3, 3)), atol=1e-4)
  np.testing.assert_allclose(s, np.full((2, 3), 1.5), rtol=1e-4)
  np.testing.assert_allclose(_apply(np.asarray(s), np.asarray(rot), np.asarray(t), pred), target, atol=1e-4)


# ----------------------------------------------------------------------------- transformations


def test_grad_through_lift_rotate_project():
  rng = np.random.default_rng(16)
  x = 0.1 * _pose2d(rng, ())
  d0 = rng.normal(size=J).astype(np.float32)
  angles0 = np.array([0.4, 0.1, 0.0], np.float32)

  def f(d, angles):
    pts = geo.depth_to_points(x, d, c=C)
    rot = geo.rotation_matrix(angles[0], angles[1], angles[2])
    y = geo.rigid_transform(pts, rot, geo.root_of(pts, ROOT), c=C)
    return jnp.sum(geo.project(y) ** 2)

  def f_np(d, angles):
    pts = np_depth_to_points(x.astype(np.float64), d, C)
    rot = np_rotation(*angles)
    y = np_rigid(pts, rot, pts[list(ROOT)].mean(0), C)
    return np.sum(np_project(y) ** 2)

  grad = jax.jit(jax.grad(f, argnums=(0, 1)))
  gd, ga = grad(d0, angles0)
  assert np.all(np.isfinite(gd)) and np.all(np.isfinite(ga))
  eps = 1e-5
  d64, a64 = d0.astype(np.float64), angles0.astype(np.float64)
  fd_d = [(f_np(d64 + eps * e, a64) - f_np(d64 - eps * e, a64)) / (2 * eps) for e in np.eye(J)]
  fd_a = [(f_np(d64, a64 + eps * e) - f_np(d64, a64 - eps * e)) / (2 * eps) for e in np.eye(3)]
  np.testing.assert_allclose(gd, fd_d, rtol=2e-3, atol=1e-5)
  np.testing.assert_allclose(ga, fd_a, rtol=2e-3, atol=1e-5)
  # Still finite with a joint (here a root joint) exactly on the clamp.
  d_kink = d0.copy()
  d_kink[1] = 1.0 - C
  gd, ga = grad(d_kink, angles0)
  assert np.all(np.isfinite(gd)) and np.all(np.isfinite(ga))


def test_vmap_equals_batched():
  rng = np.random.default_rng(17)
  x2, x3 = _pose2d(rng, (3,)), _pose3d(rng, (3,))
  x3[..., 2] += 5
  d = rng.normal(size=(3, J)).astype(np.float32)
  rot = _rotations(rng, (3,))
  root = rng.normal(size=(3, 3)).astype(np.float32)
  np.testing.assert_allclose(jax.jit(jax.vmap(geo.project))(x3), project(x3), rtol=1e-6)
  np.testing.assert_allclose(jax.jit(jax.vmap(geo.depth_to_points))(x2, d), depth_to_points(x2, d, c=C), rtol=1e-6)
  np.testing.assert_allclose(
    jax.jit(jax.vmap(geo.rigid_transform))(x3, rot, root), rigid_transform(x3, rot, root, c=C), atol=1e-6
  )
  pred, target = _pose3d(rng, (3,), j=6), _pose3d(rng, (3,), j=6)
  for got, want in zip(
    jax.jit(jax.vmap(geo.procrustes))(pred, target), procrustes(pred, target, scale=True, allow_reflection=False)
  ):
    np.testing.assert_allclose(got, want, atol=1e-5)


# ----------------------------------------------------------------------------- errors


def _raises(fn, *needles):
  with pytest.raises(ValueError) as info:
    fn()
  msg = str(info.value)
  for needle in needles:
    assert needle in msg, (needle, msg)


def test_errors():
  p2, p3 = np.zeros((4, J, 2), np.float32), np.zeros((4, J, 3), np.float32)
  rot, root = np.tile(np.eye(3, dtype=np.float32), (4, 1, 1)), np.zeros((4, 3), np.float32)
  _raises(lambda: geo.project(p2), "last dimension 3", "(4, 5, 2)")
  _raises(lambda: geo.project(np.float32(1.0)), "last dimension 3", "()")
  _raises(lambda: geo.depth_to_points(p3, np.zeros((4, J))), "[..., J, 2]", "(4, 5, 3)")
  _raises(lambda: geo.depth_to_points(p2, np.zeros((4, J + 1))), "(4, 5)", "(4, 6)")
  _raises(lambda: geo.depth_to_points(p2, np.zeros((4, J, 1))), "(4, 5)", "(4, 5, 1)")
  for fn in (geo.rigid_transform, geo.inverse_rigid_transform):
    _raises(lambda: fn(p2, rot, root), "[..., J, 3]", "(4, 5, 2)")
    _raises(lambda: fn(np.zeros(3), rot, root), "[..., J, 3]", "(3,)")
    _raises(lambda: fn(p3, np.zeros((4, 3, 2)), root), "[..., 3, 3]", "(4, 3, 2)")
    _raises(lambda: fn(p3, np.zeros(3), root), "[..., 3, 3]", "(3,)")
    _raises(lambda: fn(p3, rot, np.zeros((4, 2))), "last dimension 3", "(4, 2)")
  _raises(lambda: geo.root_of(np.zeros(3), ROOT), "[..., J, D]", "(3,)")
  _raises(lambda: geo.root_of(p3, (1, 7)), "[0, 5)", "(1, 7)")
  _raises(lambda: geo.root_of(p3, ()), "[0, 5)", "()")
  _raises(lambda: geo.normalize_pose2d(p3, ROOT, HEAD), "[..., J, 2]", "(4, 5, 3)")
  _raises(lambda: geo.normalize_pose2d(p2, ROOT, J), "head_joint", "[0, 5)", "got 5")
  _raises(lambda: geo.normalize_pose2d(p2, (0, J), HEAD), "(0, 5)")
  _raises(lambda: geo.procrustes(p3, np.zeros((4, J + 1, 3))), "(4, 5, 3)", "(4, 6, 3)")
  _raises(lambda: geo.procrustes(np.zeros(3), np.zeros(3)), "[..., J, D]", "(3,)")
  _raises(lambda: geo.procrustes_align(p3, np.zeros((3, J, 3))), "(4, 5, 3)", "(3, 5, 3)")


# ----------------------------------------------------------------------------- mirroring

def test_mirroring_commutes_with_projection_and_undoes_itself():
  perm = (1, 0, 2, 4, 3)  # Joints 0/1 and 3/4 are mirror pairs; 2 is on the midline.
  rng = np.random.default_rng(11)
  points = (rng.normal(size=(2, 3, J, 3)) + [0.0, 0.0, C]).astype(np.float32)
  m3 = jax.jit(geo.mirror_pose3d, static_argnames="flip_permutation")
  m2 = jax.jit(geo.mirror_pose2d, static_argnames="flip_permutation")
  want = points[..., list(perm), :] * np.array([-1.0, 1.0, 1.0])
  np.testing.assert_allclose(m3(points, perm), want, atol=ATOL)
  np.testing.assert_allclose(m3(m3(points, perm), perm), points, atol=ATOL)
  # The mirror image's projection is the projection's mirror image.
  np.testing.assert_allclose(geo.project(m3(points, perm)), m2(geo.project(points), perm), atol=ATOL)
  with pytest.raises(ValueError, match="mirror_pose2d: expected a permutation of the 5 joints"):
    geo.mirror_pose2d(points[..., :2], (0, 1))
