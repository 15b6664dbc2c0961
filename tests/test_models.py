"""Tests for lifting.core.models: shapes, parameter structure, dropout/BatchNorm behaviour.

Shapes and parameter structure are checked with ``jax.eval_shape`` (no compilation); only a few
small forward passes are compiled.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lifting.core import models
from lifting.core import skeleton

J, M, B = 5, 2, 4
KEY = jax.random.key(0)


def np_temporal_features(window):
  lead = window.shape[:-3]
  out = np.zeros(lead + (2 * J * window.shape[-3],))
  for idx in np.ndindex(lead):
    w = window[idx]
    parts = [w[0].ravel()] + [(w[0] - w[m]).ravel() for m in range(1, w.shape[0])]
    out[idx] = np.concatenate(parts)
  return out


def mlp_param_count(n_in, width, blocks, n_out, batch_norm):
  # A hidden Dense has a bias only without BatchNorm (BatchNorm's own bias makes it redundant);
  # BatchNorm adds a scale and a bias.
  extra = 2 * width if batch_norm else width
  return (n_in * width + extra) + blocks * 2 * (width * width + extra) + width * n_out + n_out


def count(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))


def init_shapes(module, x):
  return jax.eval_shape(module.init, KEY, x)


def random_variables(module, x, seed=0):
  """Variables with random params (and unit BatchNorm stats) without compiling ``init``."""
  rng = np.random.default_rng(seed)
  shapes = init_shapes(module, x)
  params = jax.tree_util.tree_map(lambda s: rng.normal(scale=0.3, size=s.shape).astype(s.dtype), shapes["params"])
  out = {"params": params}
  if "batch_stats" in shapes:
    out["batch_stats"] = jax.tree_util.tree_map(lambda s: np.ones(s.shape, s.dtype), shapes["batch_stats"])
  return out


POSE_MODULES = [
  (models.Lifter, (J,), 2 * J, J, True),
  (models.PoseDiscriminator, (), 2 * J, 1, False),
  (models.DomainDiscriminator, (), 2 * J, 1, False),
  (models.Adapter, (J, 2), 2 * J, 2 * J, True),
]


# ----------------------------------------------------------------------------- shapes and structure


@pytest.mark.parametrize("cls,out_tail,n_in,n_out,bn", POSE_MODULES)
@pytest.mark.parametrize("lead", [(B,), (2, 3)])
def test_pose_module_output_shapes(cls, out_tail, n_in, n_out, bn, lead):
  module = cls(width=16, num_blocks=1)
  x = jax.ShapeDtypeStruct(lead + (J, 2), np.float32)
  variables = init_shapes(module, x)
  for train in (False, True):
    out = jax.eval_shape(
      lambda v, p: module.apply(v, p, train=train, rngs={"dropout": KEY}, mutable=["batch_stats"] if train else False),
      variables,
      x,
    )
    out = out[0] if train else out
    assert out.shape == lead + out_tail and out.dtype == np.float32


def test_temporal_discriminator_shapes_and_input_size():
  module = models.TemporalDiscriminator(width=16, num_blocks=1)
  x = jax.ShapeDtypeStruct((B, 1 + M, J, 2), np.float32)
  variables = init_shapes(module, x)
  assert set(variables) == {"params"}
  first = variables["params"]["ResidualMLP_0"]["Dense_0"]["kernel"]
  assert first.shape == (2 * J + 2 * J * M, 16)
  assert jax.eval_shape(module.apply, variables, x).shape == (B,)
  assert count(variables["params"]) == mlp_param_count(2 * J * (1 + M), 16, 1, 1, False)


@pytest.mark.parametrize("lead", [(), (B,), (2, 3)])
def test_temporal_features(lead):
  rng = np.random.default_rng(0)
  window = rng.normal(size=lead + (1 + M, J, 2)).astype(np.float32)
  got = jax.jit(models.temporal_features)(window)
  assert got.shape == lead + (2 * J + 2 * J * M,)
  np.testing.assert_allclose(got, np_temporal_features(window.astype(np.float64)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("cls,out_tail,n_in,n_out,bn", POSE_MODULES)
@pytest.mark.parametrize("width,blocks", [(16, 1), (32, 2)])
def test_parameter_counts_and_batch_norm(cls, out_tail, n_in, n_out, bn, width, blocks):
  variables = init_shapes(cls(width=width, num_blocks=blocks), jax.ShapeDtypeStruct((B, J, 2), np.float32))
  assert count(variables["params"]) == mlp_param_count(n_in, width, blocks, n_out, bn)
  if bn:  # Lifter and Adapter: one BatchNorm after every hidden Dense
    assert set(variables) == {"params", "batch_stats"}
    assert count(variables["batch_stats"]) == (1 + 2 * blocks) * 2 * width
  else:  # discriminators: no BatchNorm, no state
    assert set(variables) == {"params"}


def test_default_sizes():
  x = jax.ShapeDtypeStruct((B, J, 2), np.float32)
  assert count(init_shapes(models.Lifter(), x)["params"]) == mlp_param_count(2 * J, 1024, 4, J, True)
  assert count(init_shapes(models.PoseDiscriminator(), x)["params"]) == mlp_param_count(2 * J, 1024, 3, 1, False)
  assert models.Lifter().dropout == 0.25


# ----------------------------------------------------------------------------- numerics


def test_lifter_dropout_train_vs_eval():
  module = models.Lifter(width=16, num_blocks=0, dropout=0.5)
  x = np.random.default_rng(1).normal(size=(B, J, 2)).astype(np.float32)
  variables = random_variables(module, x)

  @jax.jit
  def run(v, p, key):
    train_out, updates = module.apply(v, p, train=True, rngs={"dropout": key}, mutable=["batch_stats"])
    eval_out = module.apply(v, p, train=False, rngs={"dropout": key})
    return train_out, updates, eval_out

  t1, upd, e1 = run(variables, x, jax.random.key(1))
  t2, _, e2 = run(variables, x, jax.random.key(2))
  assert t1.shape == (B, J) and e1.shape == (B, J)
  assert np.all(np.isfinite(t1)) and np.all(np.isfinite(e1))
  assert not np.allclose(t1, t2)  # dropout masks differ
  np.testing.assert_array_equal(e1, e2)  # eval mode is deterministic
  assert not np.allclose(t1, e1)
  # Training mode updates the BatchNorm running statistics.
  old = jax.tree_util.tree_leaves(variables["batch_stats"])
  new = jax.tree_util.tree_leaves(upd["batch_stats"])
  assert any(not np.allclose(a, b) for a, b in zip(old, new))


def test_adapter_is_zero_at_init():
  module = models.Adapter(width=16, num_blocks=0)
  x = np.random.default_rng(2).normal(size=(B, J, 2)).astype(np.float32)

  @jax.jit
  def run(key, p):
    variables = module.init(key, p)
    train_out, _ = module.apply(variables, p, train=True, mutable=["batch_stats"])
    return variables, module.apply(variables, p), train_out

  variables, eval_out, train_out = run(KEY, x)
  assert eval_out.shape == (B, J, 2)
  np.testing.assert_array_equal(eval_out, 0.0)
  np.testing.assert_array_equal(train_out, 0.0)
  # Only the output layer is zero; the hidden layers are randomly initialised.
  mlp = variables["params"]["ResidualMLP_0"]
  np.testing.assert_array_equal(mlp["Dense_1"]["kernel"], 0.0)
  assert np.std(np.asarray(mlp["Dense_0"]["kernel"])) > 0


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("cls", [models.Lifter, models.PoseDiscriminator, models.DomainDiscriminator, models.Adapter])
@pytest.mark.parametrize("shape", [(B, J, 3), (B, 2 * J)])
def test_wrong_pose_shape_raises(cls, shape):
  with pytest.raises(ValueError, match="[..., J, 2]".replace("[", r"\[").replace("]", r"\]")) as info:
    init_shapes(cls(width=16, num_blocks=1), jax.ShapeDtypeStruct(shape, np.float32))
  assert str(shape) in str(info.value)


@pytest.mark.parametrize("cls", [models.Lifter, models.PoseDiscriminator, models.Adapter])
def test_rank1_pose_raises_value_error(cls):
  # A flattened single pose [2J] is not a valid input; the documented error is a ValueError.
  with pytest.raises(ValueError, match=r"\(10,\)"):
    init_shapes(cls(width=16, num_blocks=1), jax.ShapeDtypeStruct((2 * J,), np.float32))


@pytest.mark.parametrize("shape", [(B, 1, J, 2), (B, 1 + M, J, 3), (J, 2)])
def test_temporal_wrong_shape_raises(shape):
  with pytest.raises(ValueError, match="M >= 1") as info:
    init_shapes(models.TemporalDiscriminator(width=16, num_blocks=1), jax.ShapeDtypeStruct(shape, np.float32))
  assert str(shape) in str(info.value)
  with pytest.raises(ValueError):
    models.temporal_features(np.zeros(shape, np.float32))


# ----------------------------------------------------------------------------- dropout masks and dtypes


def np_keep_mask(words, shape, k, threshold):
  """Reference: unit i of a row uses bits [k*(i % per_word), k*(i % per_word) + k) of word i // per_word."""
  per_word = 32 // k
  fields = np.stack([(words >> (k * i)) & (2 ** k - 1) for i in range(per_word)], axis=-1)
  return fields.reshape(shape[:-1] + (-1,))[..., :shape[-1]] >= threshold


@pytest.mark.parametrize("rate, k, threshold", [(0.25, 2, 1), (0.5, 1, 1), (0.75, 2, 3), (0.125, 3, 1),
                                                (0.0, 1, 0), (0.1, 16, 6554)])
def test_mask_bits_are_exact_where_possible(rate, k, threshold):
  assert models.mask_bits(rate) == (k, threshold)


def test_mask_bits_rejects_rates_outside_0_1():
  with pytest.raises(ValueError, match=r"expected a rate in \[0, 1\), got 1.0"):
    models.mask_bits(1.0)


@pytest.mark.parametrize("rate, shape", [(0.25, (3, 37)), (0.125, (2, 4, 11)), (0.1, (5, 3))])
def test_dropout_keep_mask_matches_numpy_reference(rate, shape):
  key = jax.random.key(3)
  k, threshold = models.mask_bits(rate)
  mask = jax.jit(models.dropout_keep_mask, static_argnums=(1, 2))(key, shape, rate)
  words = np.asarray(jax.random.bits(key, shape[:-1] + (-(-shape[-1] // (32 // k)),), np.uint32))
  assert mask.shape == shape and mask.dtype == bool
  np.testing.assert_array_equal(mask, np_keep_mask(words, shape, k, threshold))


def test_dropout_keep_mask_rate_and_neighbour_independence():
  mask = np.asarray(jax.jit(models.dropout_keep_mask, static_argnums=(1, 2))(KEY, (256, 512), 0.25))
  n = mask.size
  assert abs(mask.mean() - 0.75) < 4 * np.sqrt(0.75 * 0.25 / n)
  # Units that share a random word (neighbours) and units of one column (other words) are uncorrelated.
  for a, b in ((mask[:, :-1], mask[:, 1:]), (mask[:-1], mask[1:])):
    assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 4 / np.sqrt(a.size)


@pytest.mark.parametrize("rng", models.DROPOUT_RNGS)
def test_dropout_module_scales_kept_units_and_is_identity_in_eval(rng):
  x = np.ones((64, 128), np.float32)
  layer = models.Dropout(0.25, rng)
  out = np.asarray(jax.jit(lambda x, k: layer.apply({}, x, deterministic=False, rngs={"dropout": k}))(x, KEY))
  np.testing.assert_allclose(np.unique(out), [0.0, 1 / 0.75], rtol=1e-6)
  assert abs(out.mean() - 1.0) < 0.05
  np.testing.assert_array_equal(layer.apply({}, x, deterministic=True), x)


def test_bfloat16_matmuls_stay_close_to_float32_and_return_float32():
  x = np.random.default_rng(2).normal(size=(B, J, 2)).astype(np.float32)
  f32, bf16 = models.Lifter(width=32, num_blocks=1), models.Lifter(width=32, num_blocks=1, dtype=jnp.bfloat16)
  variables = random_variables(f32, x)
  a = jax.jit(lambda v, x: f32.apply(v, x))(variables, x)
  b = jax.jit(lambda v, x: bf16.apply(v, x))(variables, x)
  assert b.dtype == jnp.float32
  np.testing.assert_allclose(b, a, rtol=0.05, atol=0.05 * float(np.abs(a).max()))
  assert not np.array_equal(a, b)


def test_kcs_features_are_the_bone_gram_matrix():
  layout = skeleton.get_layout("paper14")
  bones = layout.bones
  pose = np.random.default_rng(3).normal(size=(2, 5, 14, 2)).astype(np.float32)
  got = np.asarray(jax.jit(models.kcs_features, static_argnames=("bones", "scale"))(pose, bones, 10.0))
  vectors = 10.0 * np.stack([pose[..., c, :] - pose[..., p, :] for p, c in bones], axis=-2).astype(np.float64)
  gram = vectors @ np.swapaxes(vectors, -1, -2)
  k = len(bones)
  want = np.stack([gram[..., i, j] for i in range(k) for j in range(i, k)], axis=-1)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
  assert got.shape == (2, 5, k * (k + 1) // 2)
  # Squared bone lengths on the diagonal; blind to where the pose sits and how it turns in the image.
  angle = 0.7
  rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
  moved = pose @ rot.T + 3.0
  np.testing.assert_allclose(models.kcs_features(moved, bones, 10.0), got, rtol=1e-3, atol=1e-3)
  with pytest.raises(ValueError, match="kcs_features"):
    models.kcs_features(pose, (), 1.0)


def test_pose_discriminator_with_kcs_sees_more_inputs():
  bones = skeleton.get_layout("paper14").bones
  disc = models.PoseDiscriminator(width=16, num_blocks=1, kcs_bones=bones, kcs_scale=10.0)
  pose = jnp.zeros((3, 14, 2))
  params = disc.init(jax.random.key(0), pose)["params"]
  assert params["ResidualMLP_0"]["Dense_0"]["kernel"].shape == (28 + len(bones) * (len(bones) + 1) // 2, 16)
  assert disc.apply({"params": params}, pose).shape == (3,)


@pytest.mark.parametrize("lifter", [models.Lifter(width=16, num_blocks=1, dropout=0.0),
                                    models.TemporalLifter(frames=3, width=16)])
def test_frozen_norm_trains_with_the_running_statistics(lifter):
  """``frozen_norm`` (fine-tuning on one clip): batch norm in training normalises with the running statistics and
  leaves them as they are, so a training-mode lift equals the inference lift."""
  x = jax.random.normal(jax.random.key(0), (6, 3, 14, 2) if isinstance(lifter, models.TemporalLifter) else (6, 14, 2))
  variables = lifter.init(jax.random.key(1), x)
  variables = {"params": variables["params"],
               "batch_stats": jax.tree.map(lambda v: v + 0.5, variables["batch_stats"])}  # Not the batch's own.
  frozen = lifter.clone(frozen_norm=True)
  out, updates = frozen.apply(variables, x, train=True, mutable=["batch_stats"], rngs={"dropout": jax.random.key(2)})
  np.testing.assert_allclose(out, lifter.apply(variables, x, train=False), rtol=1e-6, atol=1e-6)
  for a, b in zip(jax.tree.leaves(updates["batch_stats"]), jax.tree.leaves(variables["batch_stats"])):
    np.testing.assert_array_equal(a, b)
  moved, _ = lifter.apply(variables, x, train=True, mutable=["batch_stats"], rngs={"dropout": jax.random.key(2)})
  assert not np.allclose(moved, out)  # Unfrozen, training normalises with the batch's statistics.
