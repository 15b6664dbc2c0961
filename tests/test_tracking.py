"""Tracks over time: people who cross, disappear for a while, or come back much later; frame numbers from ids."""

import numpy as np
import pytest

from lifting.app import tracking
from lifting.core import skeleton

PAPER14 = skeleton.get_layout("paper14")


def _person(arms_up: bool) -> np.ndarray:
  """A hand-made standing pose ``[14, 2]`` in pixels (y down), 100 px tall, centred on x = 0."""
  j = {n: i for i, n in enumerate(PAPER14.joints)}
  p = np.zeros((14, 2))
  for side, s in (("l", 1), ("r", -1)):
    p[j[f"{side}_hip"]], p[j[f"{side}_knee"]], p[j[f"{side}_ankle"]] = (8 * s, 50), (9 * s, 75), (10 * s, 100)
    p[j[f"{side}_shoulder"]] = (12 * s, 15)
    p[j[f"{side}_elbow"]], p[j[f"{side}_wrist"]] = ((14 * s, -5), (16 * s, -25)) if arms_up else ((15 * s, 32), (16 * s, 48))
  p[j["neck"]], p[j["head"]] = (0, 12), (0, 0)
  return p


def _crossing(frames=40, speed=6.0):
  """Person A (arms up) walks right, B (arms down) walks left; they cross at frame 20. Each frame lists the
  two people in a random order, as detectors do."""
  rng = np.random.default_rng(0)
  poses, who, frame = [], [], []
  for t in range(frames):
    people = [("A", _person(True) + [speed * (t - 20), 0]), ("B", _person(False) + [-speed * (t - 20), 2])]
    for k in rng.permutation(2):
      poses.append(people[k][1] + rng.normal(size=(14, 2)) * 0.5)
      who.append(people[k][0])
      frame.append(t)
  return np.array(poses), np.array(who), np.array(frame)


def test_people_who_cross_keep_their_tracks():
  poses, who, frames = _crossing()
  tracks = tracking.assign(poses, np.ones(poses.shape[:2], bool), frames)
  assert set(tracks) == {0, 1}
  for name in ("A", "B"):
    assert len(set(tracks[who == name])) == 1, name  # one track per person over the whole crossing


def test_a_short_disappearance_keeps_the_track_and_a_long_one_starts_a_new_one():
  poses, who, frames = _crossing()
  hidden = (who == "B") & (frames >= 25) & (frames < 30)  # B occluded for 5 frames
  keep = ~hidden
  tracks = tracking.assign(poses[keep], np.ones((keep.sum(), 14), bool), frames[keep], max_gap=10)
  assert len(set(tracks[who[keep] == "B"])) == 1
  tracks = tracking.assign(poses[keep], np.ones((keep.sum(), 14), bool), frames[keep], max_gap=3)
  b = tracks[who[keep] == "B"]
  assert len(set(b)) == 2 and len(set(tracks[who[keep] == "A"])) == 1  # B comes back as a new track


def test_too_few_shared_joints_or_too_far_starts_a_new_track():
  a = _person(False)
  usable = np.ones((2, 14), bool)
  usable[1, 4:] = False  # the second pose shares only 4 joints ...
  assert tracking.distance(a, usable[0], a, usable[1]) == 0.0
  usable[1, 3] = False  # ... now 3
  assert tracking.distance(a, usable[0], a, usable[1]) == np.inf
  far = np.stack([a, a + [300, 0]])
  assert list(tracking.assign(far, np.ones((2, 14), bool), np.array([0, 1]))) == [0, 1]
  with pytest.raises(ValueError, match="must not decrease"):
    tracking.assign(far, np.ones((2, 14), bool), np.array([1, 0]))


def test_frames_from_reader_ids():
  ids = ["clip_0#person0", "clip_0#person1", "clip_2#person0", "7#det0", "7#det1", "frame000001", "frame000002"]
  assert list(tracking.frames_of(ids)) == [0, 0, 1, 2, 2, 3, 4]


def test_left_right_swaps_are_mended_per_sequence_and_unrelated_poses_left_alone():
  from lifting.data import synthetic
  layout = skeleton.get_layout("paper14")
  demo = synthetic.make_demo_data(seed=4, num_train_sequences=2, num_test_sequences=1, num_frames=40, num_cameras=1)
  clip = demo.train_2d[0].astype(np.float64)  # [40, 14, 2] one person walking
  perms = tracking.swap_permutations(layout)
  swapped = clip.copy()
  swapped[10:16] = swapped[10:16][:, perms["body"]]
  swapped[25:28] = swapped[25:28][:, perms["legs"]]
  usable = np.ones(clip.shape[:2], bool)
  mended, _, applied = tracking.mend_swaps(swapped, usable, [40], layout)
  np.testing.assert_allclose(mended, clip)
  assert set(np.flatnonzero(applied == 1)) == set(range(10, 16)) and set(np.flatnonzero(applied == 2)) == {25, 26, 27}
  # Mostly swapped: the labels most frames had are kept (here the swapped ones), every frame relabelled alike.
  mostly = clip.copy()
  mostly[5:] = mostly[5:][:, perms["body"]]
  mended, _, _ = tracking.mend_swaps(mostly, usable, [40], layout)
  np.testing.assert_allclose(mended, clip[:, perms["body"]])
  # Two sequences are mended apart, and poses of other people (photographs) are not relabelled.
  unrelated = np.stack([demo.train_2d[0][0], demo.train_2d[1][20][perms["body"]], demo.test_2d[0][7]])
  out, _, applied = tracking.mend_swaps(unrelated, np.ones((3, 14), bool), [3], layout)
  np.testing.assert_array_equal(out, unrelated)
  assert not applied.any()
