"""The footage protocol (bodies, cameras, a detector's habits, view pairs) and what learns from it: the view
prior's pieces, the temporal lifter, lifting sequences in chunks, and adapting a lifter to one clip."""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import tiny
from lifting import train
from lifting.app import inference
from lifting.core import geometry
from lifting.core import losses
from lifting.core import metrics
from lifting.core import models
from lifting.core import skeleton
from lifting.core import temporal
from lifting.data import bandai
from lifting.data import footage
from lifting.data import keypoints
from lifting.data import synthetic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BANDAI = os.path.join(ROOT, "..", "shared", "data", "bandai_namco_motion")
LAYOUT = skeleton.get_layout("paper14")
J = {n: i for i, n in enumerate(LAYOUT.joints)}


def _world(frames=5):
  """World joints (mm, Y up) of the demo generator's walker."""
  demo = synthetic.make_demo_data(seed=3, num_train_sequences=1, num_test_sequences=1, num_frames=frames,
                                  num_cameras=1)
  cam = demo.train_3d[0]  # Camera frame (y down): back to a Y-up world.
  return (cam * np.array([1.0, -1.0, 1.0])).astype(np.float64) + np.array([0.0, 1000.0, 0.0])


def test_a_body_scales_its_bones_and_widens_its_shoulders_and_hips_about_their_midpoints():
  world = _world()
  length = lambda p, a, b: np.linalg.norm(p[:, J[a]] - p[:, J[b]], axis=-1)  # noqa: E731
  same = footage.apply_body(world, footage.Body())
  np.testing.assert_allclose(same, world, atol=1e-9)
  body = footage.Body(legs=1.1, arms=0.9, torso=1.05, head=1.2, shoulders=1.6, hips=1.4)
  out = footage.apply_body(world, body)
  np.testing.assert_allclose(length(out, "l_knee", "l_ankle"), 1.1 * length(world, "l_knee", "l_ankle"), rtol=1e-9)
  np.testing.assert_allclose(length(out, "r_elbow", "r_wrist"), 0.9 * length(world, "r_elbow", "r_wrist"), rtol=1e-9)
  np.testing.assert_allclose(length(out, "neck", "head"), 1.2 * length(world, "neck", "head"), rtol=1e-9)
  np.testing.assert_allclose(length(out, "l_shoulder", "r_shoulder"), 1.6 * length(world, "l_shoulder", "r_shoulder"),
                             rtol=1e-9)
  np.testing.assert_allclose(length(out, "l_hip", "r_hip"), 1.4 * length(world, "l_hip", "r_hip"), rtol=1e-9)
  root = lambda p: (p[:, J["l_hip"]] + p[:, J["r_hip"]]) / 2  # noqa: E731
  np.testing.assert_allclose(root(out), root(world), atol=1e-9)  # Widened about the root.
  detector = footage.apply_body(world, footage.Body(hip_raise_mm=20.0, neck_from_shoulders=True))
  np.testing.assert_allclose(detector[:, J["neck"]], (detector[:, J["l_shoulder"]] + detector[:, J["r_shoulder"]]) / 2)
  up = world[:, J["neck"]] - root(world)
  rise = np.sum((root(detector) - root(world)) * up, -1) / np.linalg.norm(up, axis=-1)
  np.testing.assert_allclose(rise, 20.0, atol=1e-6)


def test_cameras_are_drawn_in_the_protocols_ranges_and_see_the_subject():
  for k in range(200):
    camera, meta = footage.draw_camera(footage._rng(0, "test", k))
    assert footage.ELEVATION_DEG[0] <= meta["elevation_deg"] <= footage.ELEVATION_DEG[1]
    assert footage.HEIGHT_MM[0] <= meta["height_mm"] <= footage.HEIGHT_MM[1]
    assert footage.DISTANCE_MM[0] <= meta["distance_mm"] <= footage.DISTANCE_MM[1]
    assert abs(meta["roll_deg"]) <= footage.ROLL_DEG
    np.testing.assert_allclose(camera.rotation @ camera.rotation.T, np.eye(3), atol=1e-9)
    assert sorted(camera.image_size) == [footage.IMAGE_SHORT, footage.IMAGE_LONG]
    # The hips (about 0.9 m up the subject at the origin) are in front of the camera and inside the image.
    cam = (np.array([0.0, 900.0, 0.0]) - camera.position) @ camera.rotation.T
    assert cam[2] > 1500
    u, v = camera.focal * cam[:2] / cam[2] + np.asarray(camera.center)
    assert 0 <= u <= camera.image_size[0] and 0 <= v <= camera.image_size[1]
  # Drawn from the take's name, not from its place in a list.
  assert footage.draw_camera(footage._rng(0, "test", "a", 1))[1] == footage.draw_camera(footage._rng(0, "test", "a", 1))[1]


def test_habits_add_jitter_drift_and_runs_of_swapped_frames_within_each_sequence():
  pose = np.tile(_world(1)[0, :, :2], (400, 1, 1)).astype(np.float32)
  habits = footage.Habits(body_swap=0.2, leg_swap=0.1, swap_frames=10.0)
  out, counts = footage.apply_habits(pose, np.array([200, 200]), habits, np.random.default_rng(0))
  assert out.shape == pose.shape and np.isfinite(out).all()
  assert 40 < counts["body_swapped_frames"] < 140 and counts["leg_swapped_frames"] > 0
  quiet = footage.Habits(jitter={k: 0.0 for k in footage.Habits().jitter}, drift=0.0, body_swap=0.0, leg_swap=0.0)
  np.testing.assert_allclose(footage.apply_habits(pose, np.array([400]), quiet, np.random.default_rng(0))[0], pose)


def test_view_pairs_pair_one_instant_of_one_take_from_two_cameras():
  from lifting.data.sequences import PoseSequences
  n = 3
  seqs = PoseSequences(np.zeros((4 * n + 2, 14, 2), np.float32), None, np.array([n, n, n, n, 2]),
                       ("a/cam0", "a/cam1", "b/cam0", "b/cam1", "c/cam0"), ("x",) * 5)
  a, b = footage.view_pairs(seqs)
  np.testing.assert_array_equal(a, [0, 1, 2, 6, 7, 8])
  np.testing.assert_array_equal(b, [3, 4, 5, 9, 10, 11])


def test_view_consistency_is_zero_for_one_pose_seen_from_anywhere_and_grows_with_disagreement():
  pose = _world(4)
  turn = np.asarray(geometry.rotation_matrix(0.7, 0.3, 0.1))
  seen = 2.5 * pose @ turn.T + 40.0  # Another camera: rotated, scaled and moved.
  assert metrics.view_consistency(pose, seen, 1.0) == pytest.approx(0.0, abs=0.01)  # mm, float32
  other = seen.copy()
  other[:, J["l_wrist"]] += 100.0
  assert metrics.view_consistency(pose, other, 1.0) > 1.0


def test_body_tilt_reads_the_camera_elevation_and_roll_of_an_upright_body():
  upright = np.zeros((14, 3))
  upright[J["neck"]] = [0.0, -1.0, 0.0]  # y down: the neck above the ankles.
  for e, r in ((0.3, 0.0), (-0.2, 0.15), (0.5, -0.1)):
    seen = upright @ np.asarray(geometry.rotation_matrix(0.0, e, r)).T
    elevation, roll = jax.jit(lambda p: geometry.body_tilt(p, (J["neck"],), (J["l_ankle"], J["r_ankle"])))(seen)
    assert float(elevation) == pytest.approx(e, abs=1e-5) and float(roll) == pytest.approx(r, abs=1e-5)
    back = np.asarray(geometry.rotation_matrix(0.0, -elevation) @ geometry.rotation_matrix(0.0, 0.0, -roll))
    np.testing.assert_allclose(seen @ back.T, upright, atol=1e-5)


def test_the_rigid_transform_takes_one_depth_per_pose():
  points = jnp.asarray(np.random.default_rng(0).normal(size=(3, 14, 3)), jnp.float32) + jnp.array([0.0, 0.0, 10.0])
  rotation = geometry.random_rotation(jax.random.key(1), (3,))
  root = geometry.root_of(points, LAYOUT.root_joints)
  depths = jnp.array([4.0, 10.0, 16.0])
  moved = geometry.rigid_transform(points, rotation, root, depths)
  for i in range(3):
    np.testing.assert_allclose(moved[i], geometry.rigid_transform(points[i], rotation[i], root[i], float(depths[i])),
                               atol=1e-5)
  np.testing.assert_allclose(geometry.inverse_rigid_transform(moved, rotation, root, depths), points, atol=1e-5)


def test_the_elevation_prior_pushes_only_a_batch_whose_mean_looks_up():
  assert float(losses.elevation_prior(jnp.array([0.3, -0.1]), 0.0)) == 0.0
  assert float(losses.elevation_prior(jnp.array([-0.3, 0.1]), 0.0)) == pytest.approx(0.01)
  grad = jax.grad(lambda e: losses.elevation_prior(e, 0.0))(jnp.array([-0.3, 0.1]))
  assert (np.asarray(grad) < 0).all()  # Both estimates are pushed up.


def test_the_temporal_lifter_keeps_a_sequences_length_and_sees_only_its_receptive_field():
  lifter = models.TemporalLifter(frames=9, width=16)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 30, 14, 2)), jnp.float32)
  variables = lifter.init(jax.random.key(0), x[:, :9])
  out = lifter.apply(variables, x)
  assert out.shape == (2, 30, 14)
  # Frame 15 sees frames 11..19 only.
  changed = x.at[:, 25].add(1.0)
  np.testing.assert_allclose(lifter.apply(variables, changed)[:, 15], out[:, 15], atol=1e-6)
  assert not np.allclose(lifter.apply(variables, x.at[:, 19].add(1.0))[:, 15], out[:, 15])
  with pytest.raises(ValueError, match="power of 3"):
    models.TemporalLifter(frames=8, width=16).init(jax.random.key(0), x)


def test_sequences_lifted_in_chunks_equal_one_pass_over_each_sequence():
  lifter = models.TemporalLifter(frames=9, width=16)
  rng = np.random.default_rng(1)
  lengths = np.array([37, 5, 1, 60])
  poses = rng.normal(size=(int(lengths.sum()), 14, 2)).astype(np.float32)
  variables = lifter.init(jax.random.key(0), jnp.zeros((1, 9, 14, 2)))
  apply = jax.jit(lambda w: lifter.apply(variables, w)[..., None] * jnp.ones(3))
  chunked = temporal.lift_sequences(apply, poses, lengths, 9, chunk=16, batch=4)
  start = 0
  for n in lengths:
    whole = np.asarray(apply(poses[None, start:start + n]))[0]
    np.testing.assert_allclose(chunked[start:start + n], whole, atol=1e-5)
    start += n
  with pytest.raises(ValueError, match="sequence lengths"):
    temporal.lift_sequences(apply, poses, np.array([3, 4]), 9)


def test_gaps_are_filled_from_the_nearest_frame_of_their_sequence():
  poses = np.arange(8, dtype=np.float32)[:, None]
  ok = np.array([False, True, False, False, True, True, False, False])
  out = temporal.fill_gaps(poses, ok, np.array([6, 2]))
  np.testing.assert_array_equal(out[:, 0], [1, 1, 1, 4, 4, 5, 6, 7])  # The last sequence has no frame to copy.


def test_window_starts_stay_inside_one_sequence_and_its_usable_frames():
  lengths = np.array([4, 1, 3])  # Frames 0-3, 4, 5-7.
  np.testing.assert_array_equal(temporal.window_starts(lengths, 2), [0, 1, 2, 5, 6])
  np.testing.assert_array_equal(temporal.window_starts(lengths, 1), np.arange(8))
  usable = np.array([True, True, False, True, True, True, True, False])
  np.testing.assert_array_equal(temporal.window_starts(lengths, 2, usable), [0, 5])
  assert temporal.window_starts(lengths, 5).size == 0


@pytest.fixture(scope="module")
def temporal_run(tmp_path_factory):
  config = tiny.get_config()
  config.model.lifter_frames = 3
  config.train.batch_size = 18
  config.rotation.learned_elevation = True
  config.loss.w_elevation_prior = 1.0
  config.rotation.distance_range = (0.5, 1.5)
  config.data.scale = "body"
  config.eval.generalisation.enabled = False
  workdir = str(tmp_path_factory.mktemp("temporal") / "run")
  results = train.train_and_evaluate(config, workdir)[config.seed]
  return workdir, results


def test_a_temporal_lifter_trains_evaluates_and_lifts_sequences_through_model_lift(temporal_run):
  workdir, results = temporal_run
  assert np.isfinite(results["pa_mpjpe"])
  model = inference.load(workdir, discriminators=True)
  assert model.frames == 3 and set(model.discriminators) == {"pose_disc", "temporal_disc"}
  demo = synthetic.make_demo_data(seed=1, num_train_sequences=1, num_test_sequences=1, num_frames=12, num_cameras=1)
  clip = demo.test_2d[0]
  whole = model.lift(clip, lengths=[12])
  halves = model.lift(clip, lengths=[6, 6])
  assert whole.valid.all() and not np.allclose(whole.poses3d[5], halves.poses3d[5])  # Context crosses frames.
  np.testing.assert_allclose(model.lift(clip[:6], lengths=[6]).poses3d, halves.poses3d[:6], atol=1e-5)


def test_adapting_to_a_clip_fine_tunes_a_copy_and_leaves_the_model_as_it_was(temporal_run):
  workdir, _ = temporal_run
  model = inference.load(workdir, discriminators=True)
  before = jax.tree.map(np.array, model.variables)
  demo = synthetic.make_demo_data(seed=2, num_train_sequences=1, num_test_sequences=1, num_frames=16, num_cameras=1)
  clip = demo.test_2d[0]
  n = len(clip)
  kp = keypoints.Keypoints(clip, np.ones((n, 14), bool), np.zeros((n, 14), bool), np.ones((n, 14), np.float32),
                           "paper14", tuple(map(str, range(n))), "clip", {})
  adapted, report = model.adapt(kp, [n], steps=3, learning_rate=1e-3)
  assert report["steps"] == 3 and np.isfinite(report["loss_last"])
  for x, y in zip(jax.tree.leaves(model.variables), jax.tree.leaves(before)):
    np.testing.assert_array_equal(x, y)
  assert not np.allclose(adapted.lift(clip, lengths=[n]).poses3d, model.lift(clip, lengths=[n]).poses3d)
  # Batch norm keeps the training set's statistics: one clip's batches would make the network another function.
  for x, y in zip(jax.tree.leaves(adapted.variables["batch_stats"]), jax.tree.leaves(before["batch_stats"])):
    np.testing.assert_array_equal(x, y)
  with pytest.raises(ValueError, match="no run of 3 consecutive frames"):
    model.adapt(kp, None, steps=3)
  plain = inference.load(workdir)
  with pytest.raises(ValueError, match="without its discriminators"):
    plain.adapt(kp, [n], steps=3)


@pytest.mark.skipif(not os.path.isdir(BANDAI), reason="needs the Bandai Namco data in ../shared/data")
def test_the_protocol_splits_contents_and_films_every_take_with_its_own_cameras():
  root = os.path.abspath(BANDAI)
  test = footage.load(root, "test", stride=8, habits=footage.Habits())
  assert set(test.actions) == set(bandai.DATASET1_SPLIT["test"]) - {"dance-long"}  # The snapshot lacks dance-long.
  dev = footage.load(root, "dev", stride=8)
  train_split = footage.load(root, "train", stride=16)
  assert not set(dev.actions) & set(train_split.actions)
  assert not set(test.actions) & (set(train_split.actions) | set(dev.actions))
  assert all(name.endswith(("/cam0", "/cam1", "/cam2", "/cam3")) for name in test.names)
  assert (test.pose3d[..., 2] > 1000).all()
  again = footage.load(root, "test", stride=8, habits=footage.Habits())
  np.testing.assert_array_equal(again.pose2d, test.pose2d)  # Seeded: the same every time.
  shoulders = np.linalg.norm(test.pose3d[:, J["l_shoulder"]] - test.pose3d[:, J["r_shoulder"]], axis=-1)
  assert 300 < np.median(shoulders) < 400  # The detectors' shoulders, not the mocap's 204 mm.
  assert math.isfinite(float(np.mean(test.pose2d)))
