"""Tests for lifting.core.metrics against independent numpy references."""

import jax
import numpy as np
import pytest

from lifting.core import metrics
from lifting.core import skeleton

BATCH = [(), (3,), (2, 3)]
J = 6

mpjpe = jax.jit(metrics.mpjpe)
n_mpjpe = jax.jit(metrics.n_mpjpe)
pa_mpjpe = jax.jit(metrics.pa_mpjpe)


def np_mpjpe(pred, target):
  return np.sqrt(((pred - target) ** 2).sum(-1)).mean(-1)


def np_n_mpjpe(pred, target):
  s = (pred * target).sum((-2, -1)) / (pred * pred).sum((-2, -1))
  return np_mpjpe(s[..., None, None] * pred, target)


def np_pa_mpjpe(pred, target, per_joint=False):
  """Similarity Procrustes (Kabsch on pred^T target, no reflection), then MPJPE (``[...]``; with ``per_joint``, each
  joint's error ``[..., J]``); loops the batch."""
  out = np.zeros(pred.shape[:-1] if per_joint else pred.shape[:-2])
  for idx in np.ndindex(pred.shape[:-2]):
    p, q = pred[idx], target[idx]
    p0, q0 = p - p.mean(0), q - q.mean(0)
    u, sv, vt = np.linalg.svd(p0.T @ q0)
    sign = np.ones(3)
    sign[-1] = np.sign(np.linalg.det(vt.T @ u.T))
    rot = vt.T @ np.diag(sign) @ u.T
    s = (sv * sign).sum() / (p0**2).sum()
    aligned = s * p0 @ rot.T + q.mean(0)
    error = np.sqrt(((aligned - q) ** 2).sum(-1))
    out[idx] = error if per_joint else error.mean()
  return out


def _poses(seed, batch):
  rng = np.random.default_rng(seed)
  target = rng.normal(scale=100, size=batch + (J, 3)).astype(np.float32)
  pred = (target + rng.normal(scale=30, size=batch + (J, 3))).astype(np.float32)
  return pred, target


def _random_rotation(rng):
  q, r = np.linalg.qr(rng.normal(size=(3, 3)))
  q = q * np.sign(np.diag(r))
  return q * np.linalg.det(q)  # det +1


@pytest.mark.parametrize("batch", BATCH)
def test_mpjpe(batch):
  pred, target = _poses(0, batch)
  got = mpjpe(pred, target)
  assert got.shape == batch
  np.testing.assert_allclose(got, np_mpjpe(pred.astype(np.float64), target.astype(np.float64)), rtol=1e-5)
  np.testing.assert_allclose(mpjpe(target, target), np.zeros(batch))


@pytest.mark.parametrize("batch", BATCH)
def test_n_mpjpe(batch):
  pred, target = _poses(1, batch)
  got = n_mpjpe(pred, target)
  assert got.shape == batch
  np.testing.assert_allclose(got, np_n_mpjpe(pred.astype(np.float64), target.astype(np.float64)), rtol=1e-5)
  # A scaled copy of the target is perfect after scale alignment.
  scale = np.random.default_rng(2).uniform(0.3, 3.0, size=batch + (1, 1)).astype(np.float32)
  np.testing.assert_allclose(n_mpjpe(scale * target, target), np.zeros(batch), atol=1e-3)


@pytest.mark.parametrize("batch", [(3,), (2, 3)])
def test_pa_mpjpe(batch):
  pred, target = _poses(3, batch)
  got = pa_mpjpe(pred, target)
  assert got.shape == batch
  np.testing.assert_allclose(got, np_pa_mpjpe(pred.astype(np.float64), target.astype(np.float64)), rtol=1e-4)


def test_pa_mpjpe_similarity_copy_is_zero():
  rng = np.random.default_rng(4)
  _, target = _poses(5, (3,))
  copies = np.stack(
    [2.5 * target[i] @ _random_rotation(rng).T + rng.normal(scale=50, size=3) for i in range(3)]
  ).astype(np.float32)
  np.testing.assert_allclose(pa_mpjpe(copies, target), np.zeros(3), atol=1e-2)  # target scale ~100 mm
  assert np.all(np.asarray(mpjpe(copies, target)) > 10)
  # A mirror image is not aligned away (reflections excluded).
  mirrored = (target * np.array([-1.0, 1.0, 1.0])).astype(np.float32)
  assert np.all(np.asarray(pa_mpjpe(mirrored, target)) > 1)


@pytest.mark.parametrize("fn", [metrics.mpjpe, metrics.n_mpjpe, metrics.pa_mpjpe])
def test_shape_errors(fn):
  with pytest.raises(ValueError, match=r"\(4, 6, 3\) and \(4, 5, 3\)"):
    fn(np.zeros((4, 6, 3)), np.zeros((4, 5, 3)))
  with pytest.raises(ValueError, match=r"\(3,\)"):
    fn(np.zeros(3), np.zeros(3))


# --- alignment, PCK, AUC, limb ratios, evaluate ---

joint_errors = jax.jit(metrics.joint_errors, static_argnames="alignment")
pck = jax.jit(metrics.pck, static_argnames="alignment")
auc = jax.jit(metrics.auc, static_argnames="alignment")
_procrustes_scores = jax.jit(lambda p, t: (metrics.joint_errors(p, t), metrics.pck(p, t), metrics.auc(p, t)))
limb_ratios = jax.jit(metrics.limb_ratios, static_argnames="layout")
PAPER14 = skeleton.LAYOUTS["paper14"]


def _offset(target, distances, seed=0):
  """``target [..., J, 3]`` with joint j moved by exactly ``distances[j]`` in a random direction."""
  d = np.random.default_rng(seed).normal(size=target.shape)
  d /= np.linalg.norm(d, axis=-1, keepdims=True)
  return (target.astype(np.float64) + d * np.asarray(distances, np.float64)[..., None]).astype(np.float32)


def _similarity_copies(target, rng):
  """``s R target + t`` per pose, with a random scale, rotation and translation each."""
  flat = target.reshape((-1,) + target.shape[-2:]).astype(np.float64)
  out = np.stack([rng.uniform(0.3, 3.0) * p @ _random_rotation(rng).T + rng.normal(scale=500, size=3) for p in flat])
  return out.reshape(target.shape).astype(np.float32)


@pytest.mark.parametrize("batch", BATCH)
def test_procrustes_on_exact_similarity(batch):
  """A prediction that is an exact similarity of the target aligns to zero error."""
  _, target = _poses(10, batch)
  pred = _similarity_copies(target, np.random.default_rng(11))
  errors, fraction, area = _procrustes_scores(pred, target)
  assert errors.shape == batch + (J,) and fraction.shape == area.shape == batch
  np.testing.assert_allclose(errors, np.zeros(batch + (J,)), atol=1e-2)  # target scale ~100 mm
  np.testing.assert_allclose(fraction, np.ones(batch))
  # Exact hits are needed at the 0 mm threshold, so round-off may cost that one of 31 thresholds.
  assert np.all(np.asarray(area) >= 30 / 31 - 1e-6)


@jax.jit
def _all_alignments(pred, target):
  # One compilation per batch shape keeps the file fast.
  return ({a: metrics.align(pred, target, a) for a in metrics.ALIGNMENTS},
          {a: metrics.joint_errors(pred, target, a) for a in metrics.ALIGNMENTS},
          metrics.n_mpjpe(pred, target), metrics.pa_mpjpe(pred, target))


@pytest.mark.parametrize("batch", BATCH)
def test_align_matches_metrics(batch):
  pred, target = _poses(12, batch)
  p64, t64 = pred.astype(np.float64), target.astype(np.float64)
  aligned, errors, n_err, pa_err = jax.device_get(_all_alignments(pred, target))
  np.testing.assert_array_equal(aligned["none"], pred)
  np.testing.assert_allclose(errors["none"], np.linalg.norm(p64 - t64, axis=-1), rtol=1e-5)
  np.testing.assert_allclose(np_mpjpe(aligned["scale"], t64), np_n_mpjpe(p64, t64), rtol=1e-5)
  np.testing.assert_allclose(errors["scale"].mean(-1), n_err, rtol=1e-5)
  # The scaled pose is a multiple of pred.
  ratio = aligned["scale"] / pred
  np.testing.assert_allclose(ratio, np.broadcast_to(ratio[..., :1, :1], ratio.shape), rtol=1e-4)
  np.testing.assert_allclose(np_mpjpe(aligned["procrustes"], t64), np_pa_mpjpe(p64, t64), rtol=1e-4)
  np.testing.assert_allclose(errors["procrustes"].mean(-1), pa_err, rtol=1e-5)


def test_align_unknown_name():
  pred, target = _poses(13, (2,))
  for fn in (metrics.align, metrics.joint_errors, metrics.pck, metrics.auc):
    with pytest.raises(ValueError, match=r"unknown alignment 'rigid'.*'none', 'scale', 'procrustes'"):
      fn(pred, target, alignment="rigid")
  with pytest.raises(ValueError, match=r"\(2, 6, 3\) and \(2, 5, 3\)"):
    metrics.align(pred, target[:, :5], "none")


def test_pck_on_constructed_errors():
  _, target = _poses(14, (2,))
  distances = np.array([[0.0, 100.0, 149.9, 150.1, 300.0, 50.0], [150.1, 300.0, 1000.0, 149.9, 151.0, 160.0]])
  pred = _offset(target, distances)
  np.testing.assert_allclose(joint_errors(pred, target, "none"), distances, atol=1e-3)
  # float32 fractions: the tolerance is far below the 1/6 step between possible values.
  np.testing.assert_allclose(pck(pred, target, alignment="none"), [4 / 6, 1 / 6], rtol=1e-6)
  np.testing.assert_allclose(pck(pred, target, 120.0, alignment="none"), [3 / 6, 0.0], rtol=1e-6)
  np.testing.assert_allclose(pck(pred, target, 1000.1, alignment="none"), [1.0, 1.0], rtol=1e-6)


def np_auc(distances, thresholds):
  """MPI-INF-3DHP AUC from known distances, ``[P, J]`` -> ``[P]``: PCK per threshold, then their mean."""
  return np.mean([[np.mean(d <= t) for t in thresholds] for d in distances], axis=1)


def test_auc_on_constructed_errors():
  _, target = _poses(15, (3,))
  # No distance sits on a threshold (multiples of 5), where float round-off would decide.
  distances = np.array([[0.0, 2.5, 37.0, 101.0, 149.9, 150.1],
                        [12.0, 13.0, 14.0, 0.0, 0.0, 0.0],
                        [160.0, 170.0, 180.0, 190.0, 200.0, 74.0]])
  pred = _offset(target, distances, seed=1)
  got = np.asarray(auc(pred, target, alignment="none"))
  np.testing.assert_allclose(got, np_auc(distances, np.linspace(0, 150, 31)), rtol=1e-6)
  # Closed form: a joint at 0 < d <= 150 mm passes the 31 - ceil(d / 5) thresholds from d up.
  passes = np.where(distances == 0, 31, np.clip(31 - np.ceil(distances / 5), 0, None))
  np.testing.assert_allclose(got, passes.mean(1) / 31, rtol=1e-6)
  thresholds = np.array([10.0, 100.0])
  np.testing.assert_allclose(auc(pred, target, thresholds, alignment="none"), np_auc(distances, thresholds), rtol=1e-6)
  with pytest.raises(ValueError, match="non-empty 1-D"):
    metrics.auc(pred, target, np.zeros((0,)), alignment="none")


@pytest.mark.parametrize("alignment", ["none", "procrustes"])
def test_auc_extremes(alignment):
  _, target = _poses(16, (4,))
  perfect = auc(target, target, alignment=alignment)
  if alignment == "none":
    np.testing.assert_array_equal(perfect, np.ones(4))
  else:
    assert np.all(np.asarray(perfect) >= 30 / 31 - 1e-6)
  assert np.all(np.asarray(auc(target, target, alignment="none")) == 1)
  # Every joint just over 150 mm off.
  far = _offset(target, np.full((4, J), 150.5), seed=2)
  np.testing.assert_array_equal(auc(far, target, alignment="none"), np.zeros(4))
  np.testing.assert_array_equal(pck(far, target, alignment="none"), np.zeros(4))


def _limb_pose(lengths):
  """A paper14 pose whose upper/lower arm and leg bones have the given lengths, in LIMB_RATIO_NAMES order."""
  pose = np.zeros((PAPER14.num_joints, 3))
  rng = np.random.default_rng(17)
  for (upper, mid, lower), (a, b), side in zip(
    [("l_shoulder", "l_elbow", "l_wrist"), ("r_shoulder", "r_elbow", "r_wrist"),
     ("l_hip", "l_knee", "l_ankle"), ("r_hip", "r_knee", "r_ankle")], lengths, [1, -1, 1, -1]
  ):
    pose[PAPER14.index(upper)] = [side * 150.0, 0.0 if "shoulder" in upper else 500.0, 0.0]
    bend = rng.normal(size=(2, 3))
    bend /= np.linalg.norm(bend, axis=-1, keepdims=True)
    pose[PAPER14.index(mid)] = pose[PAPER14.index(upper)] + a * bend[0]
    pose[PAPER14.index(lower)] = pose[PAPER14.index(mid)] + b * bend[1]
  pose[PAPER14.index("neck")] = [0, -50, 0]
  pose[PAPER14.index("head")] = [0, -250, 0]
  return pose


def test_limb_ratios_known_lengths():
  lengths = [(300.0, 250.0), (280.0, 280.0), (450.0, 400.0), (420.0, 480.0)]
  poses = np.stack([_limb_pose(lengths), 2 * _limb_pose(lengths)]).astype(np.float32)
  expected = np.array([a / b for a, b in lengths])
  got = limb_ratios(poses, PAPER14)
  assert got.shape == (2, 4) and len(metrics.LIMB_RATIO_NAMES) == 4
  np.testing.assert_allclose(got, np.stack([expected, expected]), rtol=1e-5)
  # Other layouts find the same joints by name.
  h36m, valid = skeleton.convert(poses, "paper14", "h36m17")
  assert all(valid[skeleton.LAYOUTS["h36m17"].index(j)] for j in ("l_elbow", "r_knee"))
  np.testing.assert_allclose(metrics.limb_ratios(h36m, "h36m17"), np.stack([expected, expected]), rtol=1e-5)


def test_limb_ratios_errors():
  tiny = skeleton.Layout("tiny", ("l_hip", "r_hip", "l_shoulder"), (-1, 0, 0), ((0, 1),), (0, 1), 2, "test")
  with pytest.raises(ValueError, match=r"limb_ratios: joint 'l_elbow' is not in layout 'tiny'"):
    metrics.limb_ratios(np.zeros((3, 3)), tiny)
  with pytest.raises(ValueError, match=r"\[\.\.\., 14, 3\], got shape \(2, 13, 3\)"):
    metrics.limb_ratios(np.zeros((2, 13, 3)), PAPER14)


def test_group_means():
  got = metrics.group_means([1.0, 2.0, 3.0, 5.0, 7.0], np.array(["walk", "sit", "walk", "eat", "sit"]))
  assert got == {"eat": 5.0, "sit": 4.5, "walk": 2.0}
  assert list(got) == ["eat", "sit", "walk"]
  assert list(metrics.group_means([1.0, 2.0, 3.0], [10, 2, 10])) == ["2", "10"]  # sorted as labels, not strings
  assert metrics.group_means([], []) == {}
  with pytest.raises(ValueError, match="same shape"):
    metrics.group_means([1.0, 2.0], ["a"])


def _eval_data(n, seed=20):
  rng = np.random.default_rng(seed)
  base = _limb_pose([(300.0, 250.0), (280.0, 280.0), (450.0, 400.0), (420.0, 480.0)])
  target = base + rng.normal(scale=40, size=(n, PAPER14.num_joints, 3)) + rng.normal(scale=1000, size=(n, 1, 3))
  pred = target + rng.normal(scale=60, size=target.shape) + rng.normal(scale=200, size=(n, 1, 3))
  actions = rng.choice(["walk", "sit", "eat"], size=n)
  return pred.astype(np.float32), target.astype(np.float32), actions


def _centred(x):
  return x - x[:, list(PAPER14.root_joints)].mean(1, keepdims=True)


def test_evaluate_against_metrics():
  pred, target, _ = _eval_data(40)
  got = metrics.dataset_metrics(pred, target, PAPER14)
  assert set(got) == {"pa_mpjpe", "n_mpjpe", "mpjpe", "pck", "auc", "limb_ratio_error", "num_poses", "per_joint"}
  assert all(type(v) is float for k, v in got.items() if k != "per_joint")
  p, t = _centred(pred.astype(np.float64)), _centred(target.astype(np.float64))
  np.testing.assert_allclose(got["mpjpe"], np_mpjpe(p, t).mean(), rtol=1e-5)
  np.testing.assert_allclose(got["n_mpjpe"], np_n_mpjpe(p, t).mean(), rtol=1e-5)
  np.testing.assert_allclose(got["pa_mpjpe"], np_pa_mpjpe(p, t).mean(), rtol=1e-4)
  np.testing.assert_allclose(got["pck"], float(np.mean(pck(p, t))), rtol=1e-6)
  np.testing.assert_allclose(got["auc"], float(np.mean(auc(p, t))), rtol=1e-6)
  assert 0 < got["auc"] < got["pck"] < 1
  ratio_err = np.abs(np.asarray(metrics.limb_ratios(p, PAPER14)) - np.asarray(metrics.limb_ratios(t, PAPER14)))
  np.testing.assert_allclose(got["limb_ratio_error"], ratio_err.mean(), rtol=1e-4)
  assert got["num_poses"] == 40.0
  assert list(got["per_joint"]) == list(PAPER14.joints)
  np.testing.assert_allclose(list(got["per_joint"].values()), np_pa_mpjpe(p, t, per_joint=True).mean(0), rtol=1e-4)
  # Layout names work as well as Layout objects.
  assert metrics.dataset_metrics(pred, target, "paper14") == got


def test_evaluate_per_action_matches_subsets():
  pred, target, actions = _eval_data(45)
  got = metrics.dataset_metrics(pred, target, PAPER14, actions=actions)
  assert list(got["per_action"]) == ["eat", "sit", "walk"]
  p, t = _centred(pred.astype(np.float64)), _centred(target.astype(np.float64))
  for action, numbers in got["per_action"].items():
    mask = actions == action
    assert set(numbers) == {"pa_mpjpe", "n_mpjpe", "pck", "num_poses"}
    assert numbers["num_poses"] == mask.sum()
    np.testing.assert_allclose(numbers["pa_mpjpe"], np_pa_mpjpe(p[mask], t[mask]).mean(), rtol=1e-4)
    np.testing.assert_allclose(numbers["n_mpjpe"], np_n_mpjpe(p[mask], t[mask]).mean(), rtol=1e-5)
    np.testing.assert_allclose(numbers["pck"], np.mean(pck(p, t)[mask]), rtol=1e-6)
  # The per-action means weight each action's poses, so they combine back to the overall mean.
  counts = np.array([v["num_poses"] for v in got["per_action"].values()])
  overall = sum(c * v["pa_mpjpe"] for c, v in zip(counts, got["per_action"].values())) / counts.sum()
  np.testing.assert_allclose(overall, got["pa_mpjpe"], rtol=1e-6)
  with pytest.raises(ValueError, match=r"actions of shape \(45,\)"):
    metrics.dataset_metrics(pred, target, PAPER14, actions=actions[:3])


def test_evaluate_chunking_matches_unchunked():
  pred, target, actions = _eval_data(30)
  whole = metrics.dataset_metrics(pred, target, PAPER14, actions=actions)
  before = metrics._pose_metrics._cache_size()  # pylint: disable=protected-access
  chunked = metrics.dataset_metrics(pred, target, PAPER14, actions=actions, chunk_size=7)  # 4 full chunks + 2 poses
  assert metrics._pose_metrics._cache_size() - before <= 1  # the padded last chunk reuses the compilation
  assert chunked.keys() == whole.keys() and chunked["per_action"].keys() == whole["per_action"].keys()
  for key in whole:
    if key == "per_joint":
      np.testing.assert_allclose(list(chunked[key].values()), list(whole[key].values()), rtol=1e-5, err_msg=key)
    elif key != "per_action":
      np.testing.assert_allclose(chunked[key], whole[key], rtol=1e-5, err_msg=key)
  for action in whole["per_action"]:
    for key in whole["per_action"][action]:
      np.testing.assert_allclose(chunked["per_action"][action][key], whole["per_action"][action][key], rtol=1e-5)


def test_evaluate_root_centring():
  pred, target, actions = _eval_data(20)
  got = metrics.dataset_metrics(pred, target, PAPER14, actions=actions)
  shifted = metrics.dataset_metrics(pred + np.float32([300.0, -2000.0, 5000.0]), target, PAPER14, actions=actions)
  rng = np.random.default_rng(21)
  per_pose_shift = metrics.dataset_metrics(
    pred, target + rng.normal(scale=1000, size=(20, 1, 3)).astype(np.float32), PAPER14, actions=actions
  )
  for other in (shifted, per_pose_shift):
    for key in got:
      if key == "per_joint":
        np.testing.assert_allclose(list(other[key].values()), list(got[key].values()), rtol=1e-4, atol=1e-6)
      elif key != "per_action":
        np.testing.assert_allclose(other[key], got[key], rtol=1e-4, atol=1e-6, err_msg=key)
    for action in got["per_action"]:
      for key in got["per_action"][action]:
        np.testing.assert_allclose(other["per_action"][action][key], got["per_action"][action][key], rtol=1e-4)


def test_evaluate_shape_errors():
  pred, target, _ = _eval_data(4)
  with pytest.raises(ValueError, match=r"\[N, 14, 3\], got \(4, 14, 3\) and \(4, 13, 3\)"):
    metrics.dataset_metrics(pred, target[:, :13], PAPER14)
  with pytest.raises(ValueError, match="at least one pose"):
    metrics.dataset_metrics(pred[:0], target[:0], PAPER14)


# ----------------------------------------------------------------------------- view diagnostics

PAPER14 = skeleton.get_layout("paper14")


def _standing(yaw_deg, distance=5000.0):
  """A hand-made paper14 person 5 m in front of the camera (x right, y down, z forward), turned by
  ``yaw_deg`` about the vertical: 0 faces the camera, whose image +x is then the person's left."""
  body = {"head": (0, -600, 0), "neck": (0, -450, 0), "l_shoulder": (180, -420, 0), "r_shoulder": (-180, -420, 0),
          "l_elbow": (200, -150, 40), "r_elbow": (-200, -150, 40), "l_wrist": (210, 80, 90),
          "r_wrist": (-210, 80, 90), "l_hip": (100, 0, 0), "r_hip": (-100, 0, 0), "l_knee": (110, 420, -30),
          "r_knee": (-110, 420, -30), "l_ankle": (110, 850, 20), "r_ankle": (-110, 850, 20)}
  pts = np.array([body[j] for j in PAPER14.joints], np.float64)
  a = np.deg2rad(yaw_deg)
  # Turning the person towards image +x (to its left) is a rotation about the camera's y axis.
  rot = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])
  return (pts @ rot.T + [0.0, 0.0, distance]).astype(np.float32)


def test_subject_yaw_of_hand_made_people():
  yaw = jax.jit(metrics.subject_yaw, static_argnames="layout")
  for deg in (0, 30, 90, 180, 250, 315):
    got = float(yaw(_standing(deg), PAPER14))
    assert abs((got - deg + 180) % 360 - 180) < 1e-3, (deg, got)
  # The reference is the direction to the camera, not the optical axis: off-axis, the yaw follows it.
  off_axis = _standing(0) + np.float32([5000.0, 0.0, 0.0])
  assert abs(float(yaw(off_axis, PAPER14)) - 45.0) < 1e-3 or abs(float(yaw(off_axis, PAPER14)) - 315.0) < 1e-3
  np.testing.assert_array_equal(metrics.yaw_bin([0, 22.4, 22.6, 337.6, 359, 180, -45]), [0, 0, 1, 0, 0, 4, 7])
  with pytest.raises(ValueError, match="subject_yaw: layout 'paper14' expects"):
    metrics.subject_yaw(np.zeros((3, 13, 3)), PAPER14)


def test_depth_mirror_flips_depth_about_the_root():
  pose = _standing(30)
  mirrored = np.asarray(jax.jit(metrics.depth_mirror, static_argnames="layout")(pose, PAPER14))
  root = pose[[PAPER14.index("l_hip"), PAPER14.index("r_hip")]].mean(0)
  np.testing.assert_allclose(mirrored[:, :2], pose[:, :2])
  np.testing.assert_allclose(mirrored[:, 2] - root[2], -(pose[:, 2] - root[2]), atol=1e-3)


def test_evaluate_with_views_bins_errors_by_yaw_and_counts_depth_flips():
  rng = np.random.default_rng(0)
  yaws = np.array([0, 10, 90, 95, 180, 270, 275, 280], np.float64)
  target = np.stack([_standing(y) for y in yaws])
  pred = target + rng.normal(scale=20, size=target.shape).astype(np.float32)
  flip = np.array([False, True, False, False, True, False, False, True])
  pred[flip] = np.asarray(metrics.depth_mirror(pred[flip], PAPER14))
  got = metrics.dataset_metrics(pred, target, PAPER14, views=True, chunk_size=3)
  # The independent reference: root-centre, Procrustes with and without mirrored depth, numpy only.
  root = lambda p: p[..., [2, 3], :].mean(-2, keepdims=True)  # noqa: E731
  centred_pred, centred_target = pred - root(pred), target - root(target)
  err = np_pa_mpjpe(centred_pred.astype(np.float64), centred_target.astype(np.float64))
  mirror = centred_pred * np.array([1.0, 1.0, -1.0])
  err_m = np_pa_mpjpe(mirror, centred_target.astype(np.float64))
  np.testing.assert_array_equal(err_m < err, flip)
  assert got["depth_flip_rate"] == pytest.approx(flip.mean())
  assert set(got["per_yaw"]) == {"0", "90", "180", "270"}
  for centre, members in (("0", [0, 1]), ("90", [2, 3]), ("180", [4]), ("270", [5, 6, 7])):
    b = got["per_yaw"][centre]
    assert b["num_poses"] == len(members) and b["share"] == pytest.approx(len(members) / 8)
    assert b["pa_mpjpe"] == pytest.approx(err[members].mean(), rel=1e-4)
    assert b["depth_flip_rate"] == pytest.approx(flip[members].mean())
  assert got["worst_yaw_pa_mpjpe"] == pytest.approx(max(v["pa_mpjpe"] for v in got["per_yaw"].values()))
  assert got["pa_mpjpe"] == pytest.approx(err.mean(), rel=1e-4)
  assert "per_yaw" not in metrics.dataset_metrics(pred, target, PAPER14)  # Off by default.


def test_depth_spread_ratio_sees_a_flattened_lift():
  target = np.stack([_standing(y) for y in (0, 40, 90, 200)])
  root = target[:, [2, 3]].mean(1, keepdims=True)
  flat = target.copy()
  flat[..., 2] = root[..., 2] + 0.5 * (target[..., 2] - root[..., 2])  # Half the depth.
  got = metrics.dataset_metrics(flat * 3.0, target, PAPER14, views=True)  # Any scale.
  assert got["depth_spread_ratio"] == pytest.approx(0.5, rel=1e-4)
  assert metrics.dataset_metrics(target, target, PAPER14, views=True)["depth_spread_ratio"] == pytest.approx(1.0)
  c = target - root
  want = np.sqrt((c[..., 2] ** 2).mean(-1)) / np.sqrt((c[..., :2] ** 2).sum(-1).mean(-1))
  np.testing.assert_allclose(metrics.depth_spread(c), want, rtol=1e-5)


def test_the_evaluation_program_holds_one_svd():
  """Two SVD kernels in one CPU program can deadlock on a 2-thread pool (jaxlib's LAPACK SVD blocks on parts of its
  batch it queued to that pool): the depth-mirrored lifts are solved in the same batch as the lifts."""
  import re
  layout = skeleton.get_layout("paper14")
  rng = np.random.default_rng(0)
  pred = rng.normal(size=(16, 14, 3)).astype(np.float32) + np.float32([0, 0, 5])
  target = rng.normal(size=(16, 14, 3)).astype(np.float32) + np.float32([0, 0, 5])
  hlo = metrics._pose_metrics.lower(pred, target, layout, True).compile().as_text()  # pylint: disable=protected-access
  calls = re.findall(r'custom_call_target="([^"]+)"', hlo)
  assert len([c for c in calls if "gesdd" in c or "gesvd" in c or "svd" in c.lower()]) == 1, calls
