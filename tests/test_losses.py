"""Tests for lifting.core.losses against independent numpy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lifting.core import losses
from lifting.core import skeleton

BATCH = [(), (3,), (2, 3)]
LAYOUT = skeleton.get_layout("paper14")
SYM = LAYOUT.symmetric_bones
J = LAYOUT.num_joints

loop_closure_2d = jax.jit(losses.loop_closure_2d)
loop_closure_3d = jax.jit(losses.loop_closure_3d)
bone_lengths = jax.jit(losses.bone_lengths, static_argnames="bones")
bone_symmetry_loss = jax.jit(losses.bone_symmetry_loss, static_argnames="symmetric_bones")


def np_log_sigmoid(a):
  return -np.log1p(np.exp(-a))


def np_sigmoid(a):
  return 1.0 / (1.0 + np.exp(-a))


def np_bone_lengths(points, bones):
  out = np.zeros(points.shape[:-2] + (len(bones),))
  for k, (a, b) in enumerate(bones):
    out[..., k] = np.sqrt(((points[..., a, :] - points[..., b, :]) ** 2).sum(-1))
  return out


def np_mirror(points):
  """The subject's mirror image: swap left and right, negate x."""
  return points[..., list(LAYOUT.flip_permutation), :] * np.array([-1.0, 1.0, 1.0])


# ----------------------------------------------------------------------------- GAN losses


@jax.jit
def _all_gan_losses(real, fake):
  return {
    kind: (losses.discriminator_loss(real, fake, kind), losses.generator_loss(fake, kind)) for kind in losses.GAN_LOSSES
  }


@pytest.mark.parametrize("batch", BATCH)
def test_gan_losses(batch):
  rng = np.random.default_rng(0)
  real = rng.normal(scale=3, size=batch).astype(np.float32)
  fake = rng.normal(scale=3, size=batch).astype(np.float32)
  r64, f64 = real.astype(np.float64), fake.astype(np.float64)
  want = {
    # Eq. 5: -E log D(r) - E log(1 - D(y)), D = sigmoid; the generator's is non-saturating.
    "standard": (-np.mean(np_log_sigmoid(r64)) - np.mean(np.log(1 - np_sigmoid(f64))), -np.mean(np_log_sigmoid(f64))),
    "lsgan": (0.5 * np.mean((r64 - 1) ** 2) + 0.5 * np.mean(f64**2), 0.5 * np.mean((f64 - 1) ** 2)),
  }
  got = _all_gan_losses(real, fake)
  assert set(got) == {"standard", "lsgan"}
  for kind, (got_d, got_g) in got.items():
    assert got_d.shape == () and got_g.shape == ()
    np.testing.assert_allclose(got_d, want[kind][0], rtol=1e-5, err_msg=kind)
    np.testing.assert_allclose(got_g, want[kind][1], rtol=1e-5, err_msg=kind)


def test_gan_losses_real_and_fake_sizes_may_differ():
  real = np.array([0.5, -1.0, 2.0], np.float32)
  fake = np.array([[1.0, 0.0], [-2.0, 3.0]], np.float32)
  want = -np.mean(np_log_sigmoid(real.astype(np.float64))) - np.mean(np_log_sigmoid(-fake.astype(np.float64)))
  np.testing.assert_allclose(jax.jit(losses.discriminator_loss)(real, fake), want, rtol=1e-5)


def test_standard_gan_losses_stable_for_large_logits():
  big = np.array([-100.0, 0.0, 100.0], np.float32)
  d, g = _all_gan_losses(big, big)["standard"]
  # softplus(100) = 100, softplus(0) = log 2, softplus(-100) ~ 0.
  np.testing.assert_allclose(d, 2 * (100 + np.log(2)) / 3, rtol=1e-5)
  np.testing.assert_allclose(g, (100 + np.log(2)) / 3, rtol=1e-5)
  grads = jax.jit(jax.grad(lambda a: losses.discriminator_loss(a, a) + losses.generator_loss(a)))(big)
  assert np.all(np.isfinite(grads))


def test_unknown_gan_kind():
  with pytest.raises(ValueError, match="wgan"):
    losses.discriminator_loss(jnp.zeros(2), jnp.zeros(2), kind="wgan")
  with pytest.raises(ValueError, match="standard"):
    losses.generator_loss(jnp.zeros(2), kind="hinge")


# ----------------------------------------------------------------------------- loop closure


@pytest.mark.parametrize("batch", BATCH)
def test_loop_closure(batch):
  rng = np.random.default_rng(2)
  for dim, fn in ((2, loop_closure_2d), (3, loop_closure_3d)):
    a = rng.normal(size=batch + (5, dim)).astype(np.float32)
    b = rng.normal(size=batch + (5, dim)).astype(np.float32)
    per_pose = ((a.astype(np.float64) - b) ** 2).reshape(batch + (-1,)).sum(-1)
    got = fn(a, b)
    assert got.shape == ()
    np.testing.assert_allclose(got, per_pose.mean(), rtol=1e-5)
    np.testing.assert_allclose(fn(a, a), 0.0)


def test_loop_closure_shape_errors():
  for fn, dim in ((losses.loop_closure_2d, 2), (losses.loop_closure_3d, 3)):
    with pytest.raises(ValueError, match=r"\(4, 5, %d\).*\(4, 6, %d\)" % (dim, dim)):
      fn(np.zeros((4, 5, dim)), np.zeros((4, 6, dim)))
    with pytest.raises(ValueError, match=r"\(5,\)"):
      fn(np.zeros(5), np.zeros(5))


# ----------------------------------------------------------------------------- bones


@pytest.mark.parametrize("batch", BATCH)
def test_bone_lengths(batch):
  rng = np.random.default_rng(3)
  x = rng.normal(size=batch + (J, 3)).astype(np.float32)
  got = bone_lengths(x, bones=LAYOUT.bones)
  assert got.shape == batch + (len(LAYOUT.bones),)
  np.testing.assert_allclose(got, np_bone_lengths(x.astype(np.float64), LAYOUT.bones), rtol=1e-5)


@pytest.mark.parametrize("batch", BATCH)
def test_bone_symmetry_loss(batch):
  rng = np.random.default_rng(4)
  x = rng.normal(size=batch + (J, 3)).astype(np.float32)
  x64 = x.astype(np.float64)
  left = np_bone_lengths(x64, [pair[0] for pair in SYM])
  right = np_bone_lengths(x64, [pair[1] for pair in SYM])
  want = ((left - right) ** 2).reshape(batch + (-1,)).sum(-1).mean()
  got = bone_symmetry_loss(x, symmetric_bones=SYM)
  assert got.shape == ()
  np.testing.assert_allclose(got, want, rtol=1e-4)
  # Mirroring the subject leaves the loss unchanged.
  np.testing.assert_allclose(
    bone_symmetry_loss(np_mirror(x64).astype(np.float32), symmetric_bones=SYM), want, rtol=1e-4
  )


def test_bone_symmetry_loss_zero_for_mirror_symmetric_pose():
  rng = np.random.default_rng(5)
  x = rng.normal(size=(3, J, 3))
  sym = 0.5 * (x + np_mirror(x))  # a fixed point of the mirror map
  np.testing.assert_allclose(np_mirror(sym), sym, atol=1e-12)
  assert bone_symmetry_loss(x.astype(np.float32), symmetric_bones=SYM) > 1e-2
  np.testing.assert_allclose(bone_symmetry_loss(sym.astype(np.float32), symmetric_bones=SYM), 0.0, atol=1e-10)


def test_bone_symmetry_loss_grad_zero_length_bone():
  rng = np.random.default_rng(6)
  x = rng.normal(size=(2, J, 3)).astype(np.float32)
  (lp, lc), _ = SYM[1]
  x[:, lc] = x[:, lp]  # a left bone of length zero
  g = jax.jit(jax.grad(lambda p: losses.bone_symmetry_loss(p, SYM)))(x)
  assert np.all(np.isfinite(g))
  assert np.any(g != 0)


def test_bone_errors():
  with pytest.raises(ValueError, match=r"\(3,\)"):
    losses.bone_lengths(np.zeros(3), LAYOUT.bones)
  with pytest.raises(ValueError, match="0 bones"):
    losses.bone_lengths(np.zeros((J, 3)), [])
  with pytest.raises(ValueError, match="mirrored bones"):
    losses.bone_symmetry_loss(np.zeros((J, 3)), [])
  with pytest.raises(ValueError, match=r"\(3,\)"):
    losses.bone_symmetry_loss(np.zeros(3), SYM)


def np_supervised_3d(pred, target, roots):
  """Per pose: centre both, unit-RMS target, least-squares scale of pred, sum of squares; mean."""
  pred = pred.reshape((-1,) + pred.shape[-2:]).astype(np.float64)
  target = target.reshape((-1,) + target.shape[-2:]).astype(np.float64)
  total = []
  for p, t in zip(pred, target):
    p = p - p[list(roots)].mean(0)
    t = t - t[list(roots)].mean(0)
    t = t / np.sqrt((t ** 2).sum(-1).mean())
    s = (p * t).sum() / (p * p).sum()
    total.append(((s * p - t) ** 2).sum())
  return np.mean(total)


@pytest.mark.parametrize("batch", BATCH)
def test_supervised_3d(batch):
  rng = np.random.default_rng(3)
  pred = rng.normal(size=batch + (J, 3)).astype(np.float32)
  target = rng.normal(size=batch + (J, 3)).astype(np.float32) * 300.0
  fn = jax.jit(losses.supervised_3d, static_argnames="root_joints")
  np.testing.assert_allclose(fn(pred, target, LAYOUT.root_joints), np_supervised_3d(pred, target, LAYOUT.root_joints),
                             rtol=1e-4)
  # Invariant to the target's unit and the prediction's scale and root position; zero when shapes agree.
  np.testing.assert_allclose(fn(2.0 * pred + 5.0, target / 1000.0, LAYOUT.root_joints),
                             fn(pred, target, LAYOUT.root_joints), rtol=1e-4)
  np.testing.assert_allclose(fn(0.01 * target + 3.0, target, LAYOUT.root_joints), 0.0, atol=1e-8)
  with pytest.raises(ValueError, match=r"same shape \[..., J, 3\]"):
    losses.supervised_3d(pred[..., :2], target[..., :2], LAYOUT.root_joints)


# ----------------------------------------------------------------------------- beyond the paper

PERM = LAYOUT.flip_permutation


@pytest.mark.parametrize("batch", BATCH)
def test_flip_consistency(batch):
  rng = np.random.default_rng(5)
  points = rng.normal(size=batch + (J, 3)).astype(np.float32)
  flipped = rng.normal(size=batch + (J, 3)).astype(np.float32)
  got = jax.jit(losses.flip_consistency, static_argnames="flip_permutation")(points, flipped, PERM)
  want = np.mean(((flipped.astype(np.float64) - np_mirror(points.astype(np.float64))) ** 2).sum((-2, -1)))
  np.testing.assert_allclose(got, want, rtol=1e-5)
  # A mirror-consistent pair costs nothing.
  assert float(losses.flip_consistency(points, np_mirror(points).astype(np.float32), PERM)) == pytest.approx(0.0)


def test_bone_window_loss_ignores_scale_and_counts_changing_proportions():
  rng = np.random.default_rng(6)
  pose = rng.normal(size=(J, 3))
  bones = LAYOUT.bones
  # The same body at other scales and orientations, frame to frame: no loss.
  q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
  rigid = np.stack([pose, 2.0 * pose @ q.T, 0.5 * pose + 3.0])[None].astype(np.float32)
  fn = jax.jit(losses.bone_window_loss, static_argnames="bones")
  assert float(fn(rigid, bones)) == pytest.approx(0.0, abs=1e-10)
  windows = rng.normal(size=(4, 3, J, 3)).astype(np.float32)
  logs = np.log(np_bone_lengths(windows.astype(np.float64), bones))
  logs -= logs.mean(-1, keepdims=True)
  want = np.mean(np.sum(np.var(logs, axis=-2), axis=-1))
  np.testing.assert_allclose(fn(windows, bones), want, rtol=1e-4)
  with pytest.raises(ValueError, match="T >= 2"):
    losses.bone_window_loss(windows[:, :1], bones)


def test_gradient_penalty():
  grads = np.random.default_rng(7).normal(size=(5, 2, J, 2)).astype(np.float32)
  fn = jax.jit(losses.gradient_penalty, static_argnames="sample_ndim")
  np.testing.assert_allclose(fn(grads, 3), 0.5 * np.mean((grads.astype(np.float64) ** 2).sum((1, 2, 3))), rtol=1e-5)
  np.testing.assert_allclose(fn(grads, 2), 0.5 * np.mean((grads.astype(np.float64) ** 2).sum((2, 3))), rtol=1e-5)
  # The R1 penalty of a linear discriminator w . x is |w|^2 / 2 at every sample.
  w = np.random.default_rng(8).normal(size=(J, 2)).astype(np.float32)
  x = np.random.default_rng(9).normal(size=(6, J, 2)).astype(np.float32)
  g = jax.grad(lambda inp: jnp.sum(jnp.einsum("njd,jd->n", inp, w)))(x)
  np.testing.assert_allclose(losses.gradient_penalty(g, 2), 0.5 * (w.astype(np.float64) ** 2).sum(), rtol=1e-5)
  with pytest.raises(ValueError, match="sample_ndim"):
    losses.gradient_penalty(grads, 5)
