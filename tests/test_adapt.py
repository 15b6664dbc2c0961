"""Domain adaptation and in-the-wild extras: source reading, scaling, the cache, the adapter, batches with extras."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.io

from experiments import tiny
from lifting import configs
from lifting.core import losses
from lifting.core import skeleton
from lifting.data import pipeline
from lifting.data import synthetic
from lifting.data import wild
from lifting.training import adapt
from lifting.training import pool as pool_lib
from lifting.training import train_step

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYOUT = skeleton.get_layout("paper14")
HEAD, NECK = LAYOUT.head, LAYOUT.joints.index("neck")


def _head_top(poses: np.ndarray, amount: float = 1.0) -> np.ndarray:
  """Moves the head further from the neck by ``amount`` head-neck lengths: "head top" semantics."""
  out = np.array(poses, copy=True)
  out[..., HEAD, :] += amount * (poses[..., HEAD, :] - poses[..., NECK, :])
  return out


def _write_lspet(path, poses: np.ndarray, visible: np.ndarray) -> str:
  """An LSPET ``joints.mat`` ([14, 3, N]; flag 1 = visible) of paper14 pixel poses."""
  joints = np.concatenate([np.nan_to_num(poses), visible[..., None].astype(np.float64)], axis=-1)
  scipy.io.savemat(path, {"joints": joints.transpose(1, 2, 0)})
  return str(path)


@pytest.fixture(scope="module")
def source_file(tmp_path_factory):
  """60 head-top source poses from the demo generator: 40 complete, 15 with 1-3 joints missing, 5 with 6 missing."""
  demo = synthetic.make_demo_data(seed=3, num_train_sequences=2, num_test_sequences=1, num_frames=30, num_cameras=1)
  poses = _head_top(demo.train_2d.reshape(-1, 14, 2)[:60].astype(np.float64))
  visible = np.ones((60, 14), bool)
  rng = np.random.default_rng(0)
  for i in range(40, 55):
    visible[i, rng.choice(12, size=1 + i % 3, replace=False)] = False
  visible[55:, :6] = False
  return _write_lspet(tmp_path_factory.mktemp("src") / "joints.mat", poses, visible)


def _tiny_adapt_config(source_file, extra_path):
  config = tiny.get_config()
  config.adapt.sources = f"lspet:{source_file}"
  config.adapt.width, config.adapt.blocks, config.adapt.disc_blocks = 16, 1, 1
  config.adapt.batch_size, config.adapt.num_steps = 32, 5
  config.adapt.completion.update(width=16, batch_size=32, num_steps=5)
  config.data.extra.path = str(extra_path)
  return config


# ---- Reading and scaling ----

def test_parse_sources_and_errors(tmp_path):
  assert wild.parse_sources("lspet:/a/b.mat, mpii_csv:/c:d.csv") == [("lspet", "/a/b.mat"), ("mpii_csv", "/c:d.csv")]
  for bad in ("lspet", "nope:/x", ":/x", "lspet:"):
    with pytest.raises(ValueError, match="format:path"):
      wild.parse_sources([bad])
  with pytest.raises(ValueError, match="at least one"):
    wild.parse_sources([])
  with pytest.raises(ValueError, match="does not exist.*adapt.sources"):
    wild.read_sources([f"lspet:{tmp_path / 'missing.mat'}"])


def test_read_sources_masks_and_counts(source_file):
  src = wild.read_sources([f"lspet:{source_file}"], min_visible=10)
  assert src.counts["lspet"] == {"file": source_file, "poses": 60, "complete": 40, "incomplete": 15, "dropped": 5}
  assert src.poses.shape == (55, 14, 2) and src.mask.shape == (55, 14)
  assert np.array_equal(np.isnan(src.poses).any(-1), ~src.mask)  # Masked joints are NaN, never a number.
  assert (src.source == 0).all() and src.names == ("lspet",)
  # A stricter threshold drops more; the same file twice gets two names.
  twice = wild.read_sources([f"lspet:{source_file}"] * 2, min_visible=13)
  assert twice.names == ("lspet", "lspet1") and twice.counts["lspet1"]["dropped"] == 15  # 2, 3 or 6 missing.
  with pytest.raises(ValueError, match="min_visible"):
    wild.read_sources([f"lspet:{source_file}"], min_visible=1)


def test_body_size_and_scale_to_against_numpy():
  rng = np.random.default_rng(0)
  poses = rng.normal(size=(5, 14, 2))
  j = LAYOUT.joints.index
  bones = [("l_shoulder", "l_elbow"), ("l_elbow", "l_wrist"), ("r_shoulder", "r_elbow"), ("r_elbow", "r_wrist"),
           ("l_hip", "l_knee"), ("l_knee", "l_ankle"), ("r_hip", "r_knee"), ("r_knee", "r_ankle")]
  ref = np.array([np.mean([np.hypot(*(p[j(a)] - p[j(b)])) for a, b in bones]) for p in poses])
  np.testing.assert_allclose(wild.body_size(poses), ref, rtol=1e-12)
  scaled = wild.scale_to(poses, 0.25)
  np.testing.assert_allclose(wild.body_size(scaled), 0.25, rtol=1e-5)
  np.testing.assert_allclose(scaled[:, [2, 3]].mean(axis=1), 0.0, atol=1e-6)  # Root-centred.
  # Head and neck do not change the size: their semantics differ between sources.
  np.testing.assert_allclose(wild.body_size(_head_top(poses, 3.0)), ref, rtol=1e-12)
  with pytest.raises(ValueError, match="complete poses"):
    wild.scale_to(np.full((1, 14, 2), np.nan), 1.0)
  with pytest.raises(ValueError, match=r"\[\.\.\., 14, 2\]"):
    wild.body_size(np.zeros((3, 13, 2)))


# ---- Losses and diagnostics ----

def test_correction_penalty_against_numpy():
  corr = np.random.default_rng(1).normal(size=(4, 14, 2)).astype(np.float32)
  got = jax.jit(losses.correction_penalty, static_argnums=1)(corr, 10.0)
  np.testing.assert_allclose(got, np.mean([np.sum((10 * c) ** 2) for c in corr]), rtol=1e-5)
  with pytest.raises(ValueError, match=r"\[\.\.\., J, 2\]"):
    losses.correction_penalty(jnp.zeros((4, 14, 3)))


def test_mean_corrections_and_ratios_by_hand():
  pose = np.zeros((14, 2))
  j = LAYOUT.joints.index
  pose[j("neck")], pose[j("head")] = (0, -1.0), (0, -1.3)
  pose[j("l_hip")], pose[j("r_hip")] = (0.2, 0), (-0.2, 0)
  pose[j("l_shoulder")], pose[j("r_shoulder")] = (0.3, -1.0), (-0.3, -1.0)
  for side, x in (("l", 1), ("r", -1)):
    pose[j(f"{side}_elbow")], pose[j(f"{side}_wrist")] = (0.4 * x, -0.6), (0.45 * x, -0.2)
    pose[j(f"{side}_knee")], pose[j(f"{side}_ankle")] = (0.2 * x, 0.5), (0.2 * x, 1.0)
  raw = pose[None]
  adapted = raw.copy()
  adapted[0, j("head")] += (0, 0.2)   # Down, towards the neck (image y points down).
  adapted[0, j("l_hip")] += (0.1, 0)  # Outward.
  adapted[0, j("r_hip")] += (0.1, 0)  # Inward.
  corr = adapt.mean_corrections(raw, adapted, LAYOUT, c=10.0)
  assert corr["head"]["towards_neck"] == pytest.approx(2.0) and corr["head"]["up"] == pytest.approx(-2.0)
  assert corr["l_hip"]["outward"] == pytest.approx(1.0) and corr["r_hip"]["outward"] == pytest.approx(-1.0)
  assert corr["neck"]["norm"] == 0
  r = adapt.bone_ratios(raw)
  assert r["head-neck / neck-root"][0] == pytest.approx(0.3)
  assert r["shoulder width / hip width"][0] == pytest.approx(1.5)
  assert r["upper / lower leg"][0] == pytest.approx(np.hypot(0, 0.5) / 0.5)


def test_adapter_moves_a_head_top_towards_the_neck():
  """Source = target with the head pushed up: the adapter, with no correspondences, learns to pull it down."""
  config = tiny.get_config()
  config.data.synthetic.num_train_sequences = 16
  target = pipeline.load(config, extra=False).train_2d
  rng = np.random.default_rng(0)
  source = _head_top(target[rng.permutation(len(target))], 1.0)
  config.adapt.update(width=64, blocks=1, disc_blocks=1, batch_size=128, num_steps=300, lr=1e-3, reg=30.0)
  states, adapted = adapt.train_adapter(config, source, target)
  assert int(states.step) == 300 and adapted.shape == source.shape
  corr = adapt.mean_corrections(source, adapted, LAYOUT, config.c)
  others = np.mean([v["norm"] for k, v in corr.items() if k != "head"])
  assert corr["head"]["towards_neck"] > 2 * others, corr
  gap = lambda x: np.median(adapt.bone_ratios(x)["head-neck / neck-root"])  # noqa: E731
  assert abs(gap(adapted) - gap(target)) < 0.5 * abs(gap(source) - gap(target))


# ---- Batches with extras ----

def test_batch_split():
  config = tiny.get_config()  # batch 16, window 2
  assert configs.batch_split(config, 100, 0) == (8, 0)
  assert configs.batch_split(config, 300, 100) == (6, 4)  # 25% of the poses are extra.
  config.data.extra.share = 0.5
  assert configs.batch_split(config, 300, 100) == (4, 8)
  assert configs.batch_split(config, 300, 100, num_devices=4) == (4, 8)
  config.data.extra.share = 0.9  # Target windows always keep a share of every device.
  windows, extra = configs.batch_split(config, 300, 100, num_devices=2)
  assert windows >= 2 and windows % 2 == 0 and extra % 2 == 0 and 2 * windows + extra <= 16


def test_draw_batch_with_extras():
  frames = jnp.arange(20 * 14 * 2, dtype=jnp.float32).reshape(20, 14, 2)
  extra = -1.0 - jnp.arange(7 * 14 * 2, dtype=jnp.float32).reshape(7, 14, 2)
  # One device block (`lifting.training.pool.device_pool`'s layout): arrays [1, ...] and their row counts [1].
  pool = {"frames": frames[None], "starts": jnp.arange(19, dtype=jnp.int32)[None], "num_starts": jnp.array([19]),
          "extra": extra[None], "num_extra": jnp.array([7])}
  batch = jax.jit(lambda k: pool_lib.draw_batch(pool, k, 3, 2, num_extra=5))(jax.random.key(0))
  assert batch["x"].shape == (3, 2, 14, 2) and batch["x_extra"].shape == (5, 14, 2)
  assert (batch["x"] >= 0).all() and (batch["x_extra"] < 0).all() and (batch["real_extra"] < 0).all()
  plain = pool_lib.draw_batch(pool, jax.random.key(0), 3, 2)
  assert "x_extra" not in plain
  np.testing.assert_array_equal(plain["x"], batch["x"])  # Extras do not change the target draws.


def test_update_with_extras_feeds_lifter_and_pose_discriminator_not_temporal():
  config = tiny.get_config()
  models = train_step.build_models(config)
  states = train_step.create_train_states(config, models, 14, jax.random.key(0))
  data = pipeline.load(config, extra=False)
  rng = np.random.default_rng(0)
  x = jnp.asarray(data.train_2d[:8 * 2].reshape(8, 2, 14, 2))
  extra = jnp.asarray(data.train_2d[rng.choice(len(data.train_2d), 6)])
  update = jax.jit(train_step.make_update(config, models, LAYOUT))
  batch = {"x": x, "real": x, "x_extra": extra, "real_extra": extra}
  new, metrics = update(states, batch, jax.random.key(1))
  assert all(np.isfinite(float(v)) for v in metrics.values())
  assert int(new.step) == 1
  # The extras change the lifter's loss (they are lifted and judged), ...
  _, other = update(states, {**batch, "x_extra": extra[::-1] * 1.5}, jax.random.key(1))
  assert float(other["loss/adv"]) != float(metrics["loss/adv"])
  # ... and a window-shaped temporal input came out of the flat batch (else its apply would have failed).
  assert float(metrics["norm/temporal_disc_grads"]) >= 0


def test_validate_against_leaves_room_for_windows():
  config = tiny.get_config()
  config.data.extra.share = 0.99
  data = pipeline.load(config, extra=False)
  configs.validate_against(config, data, 1, 1)
  with pytest.raises(ValueError, match="data.extra.share"):
    config.data.extra.share = 1.0
    configs.validate(config)
  with pytest.raises(ValueError, match="data.extra.kind"):
    config.data.extra.share = 0.0
    config.data.extra.kind = "adaptive"
    configs.validate(config)


# ---- The cache and the --mode=adapt pipeline ----

def test_cache_key_follows_settings(tmp_path, source_file):
  config = _tiny_adapt_config(source_file, tmp_path / "p.npz")
  key = wild.cache_key(config)
  assert key == wild.cache_key(_tiny_adapt_config(source_file, tmp_path / "other.npz"))
  for change in (lambda c: setattr(c.adapt, "reg", 3.0), lambda c: setattr(c.adapt, "complete", False),
                 lambda c: setattr(c, "c", 12.0), lambda c: setattr(c.data.synthetic, "seed", 5)):
    other = _tiny_adapt_config(source_file, tmp_path / "p.npz")
    change(other)
    assert wild.cache_key(other) != key
  assert wild.extra_path(config) == str(tmp_path / "p.npz")
  config.data.extra.path = ""
  assert wild.extra_path(config).endswith(f"adapted/synthetic-{key}.npz")


def test_prepare_writes_completed_adapted_and_raw_poses_then_training_reads_them(tmp_path, source_file):
  path = tmp_path / "poses.npz"
  config = _tiny_adapt_config(source_file, path)
  meta = adapt.prepare(config, str(tmp_path / "adapt"))
  counts = meta["sources"]["lspet"]
  assert (counts["kept"], counts["completed"], counts["dropped_total"]) == (55, 15, 5)
  assert meta["num_poses"] == 55 and meta["completion"]["filled_joints"] > 0
  with np.load(path) as z:
    assert z["adapted"].shape == z["raw"].shape == (55, 14, 2) and z["completed"].sum() == 15
    assert np.isfinite(z["adapted"]).all() and np.isfinite(z["raw"]).all()
    np.testing.assert_allclose(wild.body_size(z["raw"]), meta["body_size"], rtol=1e-4)
  for name in ("adapt.json", "config.json", "metrics.jsonl", "completion/completion.msgpack",
               "adapter", "figures/adaptation_examples.png",
               "figures/adaptation_corrections.png", "figures/adaptation_ratios.png"):
    assert os.path.exists(tmp_path / "adapt" / name), name
  assert "towards the neck" in adapt.summary(meta) and "completed" in adapt.summary(meta)
  assert adapt.prepare(config, str(tmp_path / "again")) == json.loads(json.dumps(meta))  # Reused.
  assert not os.path.exists(tmp_path / "again" / "adapt.json")

  for kind in ("adapted", "raw"):  # Training with them: tests/test_ablation.py.
    config.data.extra.kind = kind
    data = pipeline.load(config)
    with np.load(path) as z:
      np.testing.assert_array_equal(data.extra_2d, z[kind])

  no_completion = _tiny_adapt_config(source_file, tmp_path / "complete_only.npz")
  no_completion.adapt.complete = False
  meta = adapt.prepare(no_completion, str(tmp_path / "adapt2"))
  assert meta["num_poses"] == 40 and meta["num_completed"] == 0 and meta["completion"] is None


def test_training_without_prepared_poses_says_what_to_run(tmp_path):
  config = tiny.get_config()
  config.data.extra.kind = "adapted"
  config.data.extra.path = str(tmp_path / "none.npz")
  with pytest.raises(ValueError, match="--mode=adapt"):
    pipeline.load(config)


def test_cli_adapt_with_missing_sources_is_one_line(tmp_path):
  out = subprocess.run([sys.executable, "run.py", "--config=experiments/tiny.py", "--mode=adapt",
                        f"--workdir={tmp_path}", f"--config.adapt.sources=lspet:{tmp_path}/nothing.mat"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert out.returncode != 0
  assert out.stderr.strip().splitlines()[-1].startswith("run.py: error: adapt.sources:"), out.stderr[-500:]
