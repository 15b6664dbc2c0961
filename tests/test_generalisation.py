"""Generalisation: body-size normalisation, the cross-content and cross-body protocols, the denoising lifter,
and scoring through `Model.lift`; each function against a numpy reference through jit."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import tiny
from lifting import configs
from lifting.core import augment
from lifting.core import geometry
from lifting.core import models as models_lib
from lifting.core import skeleton
from lifting.data import bandai
from lifting.data import bvh
from lifting.data import pipeline
from lifting.data import wild
from lifting.evaluators import generalisation
from lifting.evaluators import lifts
from lifting.training import train_step
from tests.test_bandai import _write_take
from tests.test_train import one_step

LAYOUT = skeleton.get_layout("paper14")


def _poses(n=64, seed=0):
  rng = np.random.default_rng(seed)
  return (rng.normal(size=(n, 14, 2)) * 50 + 500).astype(np.float32)


def test_limb_size_and_body_normalisation_against_numpy():
  poses = _poses()
  bones = LAYOUT.limb_bones
  want = np.mean([np.linalg.norm(poses[:, a] - poses[:, b], axis=-1) for a, b in bones], axis=0)
  got = jax.jit(geometry.limb_size, static_argnums=1)(poses, bones)
  np.testing.assert_allclose(got, want, rtol=1e-5)
  norm, root, scale = jax.jit(geometry.normalize_limb_size, static_argnums=(1, 2, 3))(poses, LAYOUT.root_joints,
                                                                                      bones, 10.0)
  np.testing.assert_allclose(root, poses[:, list(LAYOUT.root_joints)].mean(1), rtol=1e-6)
  np.testing.assert_allclose(geometry.limb_size(norm, bones), geometry.LIMB_SIZE / 10.0, rtol=1e-5)
  np.testing.assert_allclose(geometry.denormalize_pose2d(norm, root, scale), poses, rtol=1e-5)
  # Training's "body" scale is what Model.lift does to a user's keypoints (wild.scale_to to the training size).
  x, dataset_scale = pipeline.normalize(poses, LAYOUT, 10.0, "body")
  assert dataset_scale is None
  np.testing.assert_allclose(x, wild.scale_to(poses, geometry.LIMB_SIZE / 10.0, LAYOUT), atol=1e-7)
  with pytest.raises(ValueError, match="data.scale: expected one of"):
    pipeline.normalize(poses, LAYOUT, 10.0, "stature")
  bare = skeleton.Layout(name="bare", joints=("r_hip", "l_hip", "neck"), parents=(-1, 0, 0), symmetric_pairs=((0, 1),),
                         root_joints=(0, 1), head=2, description="")
  with pytest.raises(ValueError, match="lacks the limb joints"):
    _ = bare.limb_bones


@pytest.fixture
def root(tmp_path):
  d2 = tmp_path / "bandai" / "dataset" / "Bandai-Namco-Research-Motiondataset-2" / "data"
  d1 = tmp_path / "bandai" / "dataset" / "Bandai-Namco-Research-Motiondataset-1" / "data"
  _write_take(d2, "dataset-2_walk_active_001.bvh", frames=6)
  _write_take(d2, "dataset-2_walk_feminine_001.bvh", frames=8)  # Actor C.
  _write_take(d1, "dataset-1_bow_happy_001.bvh", frames=5)      # A dev content.
  _write_take(d1, "dataset-1_kick_normal_001.bvh", frames=4)    # A test content.
  return str(tmp_path / "bandai")


def test_dataset1_split_is_fixed_disjoint_and_loads_by_content(root, tmp_path):
  dev, test = set(bandai.DATASET1_SPLIT["dev"]), set(bandai.DATASET1_SPLIT["test"])
  assert not dev & test and len(dev | test) == 17  # Every content of dataset-1, each in one half.
  got = bandai.load_dataset1(root, "dev", stride=1, cache_dir=str(tmp_path / "c"))
  assert set(got.actions) == {"bow"} and got.num_frames == 4 * 5
  got = bandai.load_dataset1(root, "test", stride=2, cache_dir=str(tmp_path / "c"))
  assert set(got.actions) == {"kick"} and got.num_frames == 4 * 2
  with pytest.raises(ValueError, match="dataset-1 split"):
    bandai.load_dataset1(root, "train")


def test_rescaled_bodies_keep_the_motion_and_scale_each_bone_group(root):
  take = [t for t in bandai.find_takes(root, 2) if t.actor == "C"][0]
  motion = bvh.read_bvh(take.path)
  names = [bandai.JOINT_MAPS["bandai"][j] for j in LAYOUT.joints]
  factors = {"legs": 1.1, "arms": 0.9, "hips": 1.2}
  base = bvh.forward_kinematics(motion, names)
  body = bvh.forward_kinematics(bandai.rescale_motion(motion, factors), names)

  def bone(p, a, b):
    return np.linalg.norm(p[:, LAYOUT.index(a)] - p[:, LAYOUT.index(b)], axis=-1)

  for (a, b), f in ((("l_knee", "l_ankle"), 1.1), (("r_hip", "r_knee"), 1.1), (("l_elbow", "l_wrist"), 0.9),
                    (("l_hip", "r_hip"), 1.2), (("neck", "head"), 1.0)):
    np.testing.assert_allclose(bone(body, a, b), f * bone(base, a, b), rtol=1e-6)
  # Same rotations: every bone keeps its direction.
  d = lambda p: (p[:, LAYOUT.index("l_wrist")] - p[:, LAYOUT.index("l_elbow")]) / bone(p, "l_elbow", "l_wrist")[:, None]  # noqa: E731
  np.testing.assert_allclose(d(body), d(base), atol=1e-6)
  with pytest.raises(ValueError, match="unknown bone groups"):
    bandai.rescale_motion(motion, {"tail": 1.0})


def test_bodies_are_seeded_and_inside_their_ranges(root):
  bodies = bandai.sample_bodies(8, seed=0)
  assert bodies == bandai.sample_bodies(8, seed=0) and bodies != bandai.sample_bodies(8, seed=1)
  for body in bodies:
    for group, (low, high) in bandai.BODY_RANGES.items():
      assert low <= body[group] <= high
  with pytest.raises(ValueError, match="at least one body"):
    bandai.sample_bodies(0)
  few = [{"legs": 0.9, "arms": 1.1}, {"legs": 1.1, "hips": 0.9}]
  seqs = bandai.load_cross_body(root, few, stride=2)
  assert seqs.actions == ("body0",) * 4 + ("body1",) * 4 and seqs.num_frames == 2 * 4 * 4
  assert np.isfinite(seqs.pose2d).all() and (seqs.pose3d[..., 2] > 0).all()


def test_corrupt_2d_errors_against_their_definitions():
  poses = jnp.asarray(_poses(256))
  perm = LAYOUT.flip_permutation
  bones = LAYOUT.limb_bones
  fn = jax.jit(augment.corrupt_2d, static_argnums=(2, 3), static_argnames=("share", "jitter", "gross_rate",
                                                                             "swap_rate"))
  key = jax.random.key(0)
  np.testing.assert_array_equal(fn(key, poses, bones, perm, share=0.0), poses)
  swapped = fn(key, poses, bones, perm, share=1.0, jitter=0.0, gross_rate=0.0, swap_rate=2.0)
  np.testing.assert_array_equal(swapped, np.asarray(poses)[:, list(perm)])  # Rate 2: every pair drawn.
  gross = np.asarray(fn(key, poses, bones, perm, share=1.0, jitter=0.0, gross_rate=1.0, swap_rate=0.0))
  on_a_joint = (np.abs(gross[:, :, None] - np.asarray(poses)[:, None]).sum(-1) == 0).any(-1)
  assert on_a_joint.all()
  moved = np.asarray(fn(key, poses, bones, perm, share=1.0, jitter=0.2, gross_rate=0.0, swap_rate=0.0)) - poses
  size = np.asarray(geometry.limb_size(poses, bones))
  # u ~ U(0, 1) times 0.2 limb sizes: E[(sd)^2] = 0.2^2 / 3 per axis.
  ratio = np.mean((moved / size[:, None, None]) ** 2)
  assert ratio == pytest.approx(0.2 ** 2 / 3, rel=0.15)
  with pytest.raises(ValueError, match="corrupt_2d: expected poses"):
    augment.corrupt_2d(key, poses[..., :1], bones, perm)


def test_lifted_points_of_both_lifters():
  pose = jnp.asarray(np.random.default_rng(1).normal(size=(3, 14, 2)) * 0.05, jnp.float32)
  depth = jnp.linspace(-0.5, 0.5, 14)[None].repeat(3, 0)
  np.testing.assert_allclose(models_lib.lifted_points(pose, depth, 10.0), geometry.depth_to_points(pose, depth, 10.0))
  corr = jnp.stack([0.1 * jnp.ones((3, 14)), -0.2 * jnp.ones((3, 14)), depth], axis=-1)
  points = jax.jit(models_lib.lifted_points, static_argnums=2)(pose, corr, 10.0)
  np.testing.assert_allclose(geometry.project(points), pose + corr[..., :2] / 10.0, atol=1e-6)
  np.testing.assert_allclose(points[..., 2], 10.0 + depth, atol=1e-6)
  with pytest.raises(ValueError, match="lifted_points: expected"):
    models_lib.lifted_points(pose, corr[..., :2], 10.0)
  lifter = models_lib.Lifter(width=8, num_blocks=1, denoise=True)
  variables = lifter.init(jax.random.key(0), pose)
  assert lifter.apply(variables, pose).shape == (3, 14, 3)


def _body_config():
  config = tiny.get_config()
  config.data.scale = "body"
  return config


def test_denoising_body_scale_step_with_learned_elevation_trains_every_term():
  """One compiled step with every change beyond the paper that touches the lifter (one compilation for all)."""
  config = _body_config()
  config.model.denoise = True
  config.data.train_noise.share = 0.5
  config.loss.w_denoise = 10.0
  config.rotation.learned_elevation = True
  before, after, metrics = one_step(config, steps=2)
  for term in ("adv", "loop_2d", "loop_3d", "temporal", "denoise"):
    assert np.isfinite(metrics[f"loss/{term}"]), term
  assert not np.allclose(jax.tree.leaves(before.lifter.params)[-1], jax.tree.leaves(after.lifter.params)[-1])
  assert abs(metrics["camera/elevation_mean_deg"]) <= 30 and 0 <= metrics["camera/elevation_sd_deg"] <= 30
  # The output layer's last unit is the elevation head; only the random rotations depend on it, so a change
  # in its weights is learning through the rotated projections.
  kernel = lambda s: s.lifter.params["ResidualMLP_0"]["Dense_1"]["kernel"]  # noqa: E731
  assert kernel(before).shape[-1] == 14 * 3 + 1
  assert not np.allclose(kernel(before)[:, -1], kernel(after)[:, -1])
  config.rotation.elevation_limit = 2.0
  with pytest.raises(ValueError, match="rotation.elevation_limit: expected an angle in"):
    from lifting import configs
    configs.validate(config)
  config.rotation.elevation_limit = 0.5
  config.model.denoise = False
  with pytest.raises(ValueError, match="loss.w_denoise: the denoising term needs"):
    configs.validate(config)


def test_test_subset_is_evenly_spaced_and_keeps_every_test_array():
  data = pipeline.load(tiny.get_config())
  n = len(data.test_2d)
  sub = data.test_subset(5)
  keep = np.linspace(0, n - 1, 5).round().astype(int)
  np.testing.assert_array_equal(sub.test_2d, data.test_2d[keep])
  np.testing.assert_array_equal(sub.test_3d, data.test_3d[keep])
  assert len(sub.test_actions) == 5 and sub.train_2d is data.train_2d
  assert data.test_subset(0) is data and data.test_subset(n) is data


def test_learned_elevation_head_is_sown_bounded_and_leaves_the_lift_unchanged():
  pose = jnp.asarray(np.random.default_rng(2).normal(size=(2, 3, 14, 2)), jnp.float32)
  lifter = models_lib.Lifter(width=8, num_blocks=1, elevation=True)
  variables = lifter.init(jax.random.key(0), pose)
  variables = {"params": variables["params"], "batch_stats": variables["batch_stats"]}
  big = jax.tree.map(lambda p: p * 50.0, variables["params"])  # Saturate the head: it stays within its limit.
  for params in (variables["params"], big):
    v = {"params": params, "batch_stats": variables["batch_stats"]}
    points, _, elevation = jax.jit(lambda v, x: train_step.lift(lifter, v, x, 10.0, train=True, rng=jax.random.key(1),
                                                              with_elevation=True))(v, pose)
    assert points.shape == (2, 3, 14, 3) and elevation.shape == (2, 3)
    assert np.all(np.abs(elevation) <= np.pi / 6 + 1e-6)
    # The evaluation lift is the depth part alone: the same points as a lifter whose head is cut off.
    out = lifter.apply(v, pose.reshape(-1, 14, 2))
    assert out.shape == (6, 14)
  with pytest.raises(ValueError, match="with_elevation needs train=True"):
    train_step.lift(lifter, variables, pose, 10.0, train=False, with_elevation=True)


def test_generalisation_scores_the_lift_path_and_agrees_with_the_normalised_one_in_body_scale():
  config = _body_config()
  data = pipeline.load(config)
  mesh = train_step.make_mesh()
  models = train_step.build_models(config)
  states = train_step.init_states(config, models, LAYOUT, jax.random.key(0), mesh)
  lift_all = lifts.make_lift_fn(models, config.c, mesh)
  half = len(data.test_3d) // 2
  from lifting.data.sequences import PoseSequences
  other = PoseSequences(data.test_pixels[:half] * 2.0 + 7.0, data.test_3d[:half], np.array([half]), ("x",), ("jump",))
  out = generalisation.score_state(config, models, lift_all, states.lifter, data, {"other": other})
  assert set(out) == {"test", "other"}
  for name in out:
    assert out[name]["lift"]["pa_mpjpe"] == pytest.approx(out[name]["normalised"]["pa_mpjpe"], abs=1e-3)
  # The user's path ignores where and how large the keypoints are: the scaled, shifted copy scores as the original.
  first = generalisation.score_state(config, models, lift_all, states.lifter, data, {})
  assert out["other"]["lift"]["per_group"] == {"jump": pytest.approx(out["other"]["lift"]["pa_mpjpe"])}
  assert first["test"]["lift"]["pa_mpjpe"] == pytest.approx(out["test"]["lift"]["pa_mpjpe"])


@pytest.mark.skipif(not os.path.isdir(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                                                   "bandai_namco_motion")),
                    reason="Bandai Namco mocap not found beside the checkout; get it from "
                           "github.com/BandaiNamcoResearchInc/Bandai-Namco-Research-Motiondataset")
def test_real_generalisation_sets_are_what_the_protocol_says(tmp_path):
  from experiments import bandai as bandai_config
  config = bandai_config.get_config()
  config.data.bandai.cache_dir = str(tmp_path)
  config.eval.generalisation.update(num_bodies=2, cross_body_stride=64)
  sets = pipeline.load_evaluation_sets(config)
  assert set(sets) == set(bandai.EVAL_SETS)
  assert sets["dataset1_dev"].num_frames + sets["dataset1_test"].num_frames == 32188  # Every 4th frame, 4 cameras.
  assert set(sets["dataset1_test"].actions) == set(bandai.DATASET1_SPLIT["test"]) - {"dance-long"}  # Not in the copy.
  assert set(sets["cross_body"].actions) == {"body0", "body1"}
  config.data.source = "synthetic"
  assert pipeline.load_evaluation_sets(config) == {}


def test_the_config_chooses_the_evaluation_sets_among_its_protocols():
  from experiments import bandai as bandai_config
  from experiments import default
  from experiments import footage as footage_config
  from lifting import configs
  from lifting.data import footage
  config = bandai_config.get_config()
  assert pipeline.evaluation_set_names(config) == bandai.EVAL_SETS
  config.eval.generalisation.sets = "cross_body, actor_c"
  assert pipeline.evaluation_set_names(config) == ("cross_body", "actor_c")
  config.eval.generalisation.sets = "cross_body,footage_test"  # Another protocol's set: named, before any data.
  with pytest.raises(ValueError, match=r"eval.generalisation.sets: data.source 'bandai' offers .*'footage_test'"):
    configs.validate(config)
  config.eval.generalisation.enabled = False
  assert pipeline.evaluation_set_names(config) == ()
  assert pipeline.evaluation_set_names(footage_config.get_config()) == footage.EVAL_SETS
  assert footage.EVAL_SETS[:2] == footage.MULTI_VIEW_SETS and set(bandai.AVAILABLE_EVAL_SETS) < set(footage.EVAL_SETS)
  config = default.get_config()
  config.data.source = "synthetic"
  assert pipeline.evaluation_set_names(config) == ()
  config.eval.generalisation.sets = "cross_body"
  with pytest.raises(ValueError, match="offers none: it has no evaluation sets"):
    pipeline.evaluation_set_names(config)


def test_flow_prior_fits_scores_saves_and_trains_the_lifter(tmp_path):
  from lifting.core import flow
  config = _body_config()
  data = pipeline.load(config)
  prior = flow.fit(data.train_2d, dims=8, num_layers=2, width=16, num_steps=200, batch_size=64)
  assert prior.dims == 8 and np.isfinite(prior.held_out_nll)
  real = np.asarray(flow.log_prob(prior, jnp.asarray(data.train_2d[:64])))
  shuffled = np.asarray(flow.log_prob(prior, jnp.asarray(data.train_2d[:64][:, np.random.default_rng(0).permutation(14)])))
  assert real.mean() > shuffled.mean() + 1.0  # Real poses are far likelier than poses with shuffled joints.
  flow.save(prior, str(tmp_path / "flow.npz"))
  again = flow.load(str(tmp_path / "flow.npz"))
  np.testing.assert_allclose(flow.log_prob(again, jnp.asarray(data.train_2d[:64])), real, rtol=1e-5)
  with pytest.raises(ValueError, match="flow prior: expected"):
    flow.fit(data.train_2d[:10])
  config.loss.w_adv, config.loss.w_flow = 0.0, 1.0
  config.model.flow.update(dims=8, layers=2, width=16, num_steps=50, batch_size=64)
  assert flow.for_run(config, data.train_2d, str(tmp_path / "run")) is not None
  assert (tmp_path / "run" / flow.FILE).exists()
  with pytest.raises(ValueError, match="loss.w_flow: the flow term needs a fitted prior"):
    train_step.make_update(config, train_step.build_models(config), LAYOUT)
  models = train_step.build_models(config)
  assert models.pose_disc is None
  mesh = train_step.make_mesh()
  from lifting.training import pool as pool_lib
  states = train_step.init_states(config, models, LAYOUT, jax.random.key(0), mesh)
  step_fn = train_step.compile_train_step(train_step.make_train_step(config, models, LAYOUT, mesh, prior), mesh)
  states, metrics = step_fn(states, pool_lib.make_pool(config, data, mesh), jax.random.key(1))
  assert np.isfinite(float(metrics["loss/flow"]))


def test_roll_average_against_numpy():
  rng = np.random.default_rng(4)
  weights = rng.normal(size=(28, 14))

  def lift(x):  # A fixed linear map from the 2D to depths, then eq. 2: not equivariant to turns of the image.
    return geometry.depth_to_points(x, x.reshape(x.shape[:-2] + (28,)) @ weights, 10.0)

  pose = rng.normal(size=(5, 14, 2)) * 0.05
  angles = (-0.3, 0.0, 0.2)
  got = jax.jit(lambda x: geometry.roll_average(lift, x, angles))(jnp.asarray(pose, jnp.float32))
  want = np.zeros((5, 14, 3))
  for a in angles:
    c, s = np.cos(a), np.sin(a)
    turned = pose @ np.array([[c, -s], [s, c]]).T
    d = np.maximum(1.0, 10.0 + turned.reshape(5, 28) @ weights)[..., None]
    points = np.concatenate([turned * d, d], -1)
    x, y = points[..., 0], points[..., 1]  # Turned back by -a about the camera's axis.
    want += np.stack([c * x + s * y, -s * x + c * y, points[..., 2]], -1) / len(angles)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(geometry.roll_average(lift, pose, ()), lift(pose))


def test_roll_average_leaves_a_lifter_that_turns_with_the_image_unchanged():
  def lift(x):  # Depths from each joint's distance to the root alone: turning the image turns the lift.
    return geometry.depth_to_points(x, jnp.linalg.norm(x, axis=-1) * 3.0, 10.0)

  pose = jnp.asarray(np.random.default_rng(5).normal(size=(4, 14, 2)) * 0.05, jnp.float32)
  np.testing.assert_allclose(geometry.roll_average(lift, pose, (-0.4, 0.1, 0.35)), lift(pose), rtol=1e-5, atol=1e-5)


def test_test_time_averaging_follows_the_config():
  config = tiny.get_config()
  assert configs.test_time(config) == {"flip_permutation": None, "roll_angles": ()}
  config.eval.flip_average, config.eval.roll_degrees = True, (-10, 0, 10)
  averaging = configs.test_time(config)
  assert averaging["flip_permutation"] == LAYOUT.flip_permutation
  np.testing.assert_allclose(averaging["roll_angles"], np.radians([-10, 0, 10]))
  lift = lambda x: geometry.depth_to_points(x, x[..., 0] * 2.0 + x[..., 1] ** 2, 10.0)  # noqa: E731
  pose = jnp.asarray(np.random.default_rng(6).normal(size=(3, 14, 2)) * 0.05, jnp.float32)
  want = geometry.flip_average(lambda x: geometry.roll_average(lift, x, averaging["roll_angles"]), pose,
                               LAYOUT.flip_permutation)
  np.testing.assert_allclose(geometry.test_time_average(lift, pose, **averaging), want, rtol=1e-6)
  config.eval.roll_degrees = (60,)
  with pytest.raises(ValueError, match="eval.roll_degrees: expected a list of angles within 45 degrees"):
    configs.validate(config)


def test_flip_average_against_numpy():
  perm = np.asarray(LAYOUT.flip_permutation)
  rng = np.random.default_rng(3)
  weights = rng.normal(size=(28, 14))

  def lift(x):  # Any lifter: a fixed linear map from the 2D to depths, then eq. 2.
    return geometry.depth_to_points(x, x.reshape(x.shape[:-2] + (28,)) @ weights, 10.0)

  pose = jnp.asarray(rng.normal(size=(5, 14, 2)) * 0.05, jnp.float32)
  got = jax.jit(lambda x: geometry.flip_average(lift, x, LAYOUT.flip_permutation))(pose)
  p = np.asarray(pose, np.float64)
  mirrored = p[:, perm] * np.array([-1.0, 1.0])
  d = np.maximum(1.0, 10.0 + mirrored.reshape(5, 28) @ weights)[..., None]
  back = np.concatenate([mirrored * d, d], -1)[:, perm] * np.array([-1.0, 1.0, 1.0])
  want = 0.5 * (np.asarray(lift(pose)) + back)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  symmetric = jax.jit(lambda x: geometry.flip_average(lift, x, LAYOUT.flip_permutation))
  # A mirrored pose lifts to the mirror image of the lift.
  np.testing.assert_allclose(symmetric(geometry.mirror_pose2d(pose, LAYOUT.flip_permutation)),
                             geometry.mirror_pose3d(got, LAYOUT.flip_permutation), rtol=1e-4, atol=1e-5)
