"""Tests for the Human3.6M loader (lifting.data.h36m) on small files in VideoPose3D's format."""

import json

import numpy as np
import pytest

from lifting.core import skeleton
from lifting.data import h36m

H17 = skeleton.get_layout("h36m17")
P14 = skeleton.get_layout("paper14")
COCO = skeleton.get_layout("coco17")
SUBJECTS = h36m.TRAIN_SUBJECTS + h36m.TEST_SUBJECTS
# Body frame, metres: x the person's left, y forward, z up; h36m17 order.
TEMPLATE = np.array([
  [0, 0, .95], [-.13, 0, .93], [-.13, .02, .5], [-.13, -.02, .08], [.13, 0, .93], [.13, .02, .5], [.13, -.02, .08],
  [0, 0, 1.2], [0, 0, 1.45], [0, .1, 1.6], [0, 0, 1.72], [.18, 0, 1.42], [.2, 0, 1.15], [.22, .05, .9],
  [-.18, 0, 1.42], [-.2, 0, 1.15], [-.22, .05, .9]])
# The 17-joint subset is the 32 joints without these 15 ids; defined here apart from the loader's table.
KEPT = np.delete(np.arange(32), [4, 5, 9, 10, 11, 16, 20, 21, 22, 23, 24, 28, 29, 30, 31])
SWING = {2: 1, 3: 1.6, 5: -1, 6: -1.6, 13: 1.5, 16: -1.5}  # joint -> forward swing amplitude (x 0.15 m)


def _camera(rng, angle, distance=5.0, f=1150.0):
  """(K, R, t in metres) of a camera ``distance`` from the origin at ``angle``, looking at the person."""
  centre = np.array([distance * np.cos(angle), distance * np.sin(angle), 1.5 + rng.uniform(-.1, .1)])
  forward = np.array([0, 0, 1.0]) + rng.normal(0, .05, 3) - centre
  forward /= np.linalg.norm(forward)
  right = np.cross(forward, [0, 0, 1.0])
  right /= np.linalg.norm(right)
  R = np.stack([right, np.cross(forward, right), forward])  # rows: x right, y down, z forward
  (fx, fy), (cx, cy) = f + rng.uniform(-5, 5, 2), 500 + rng.uniform(-15, 15, 2)
  K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]])
  return K, R, -R @ centre


def _person(rng, frames):
  """``[frames, 17, 3]`` world metres: a scaled template swinging its limbs, turning and walking."""
  s = np.arange(frames)[:, None]
  pose = TEMPLATE * rng.uniform(.9, 1.1) + rng.normal(0, .01, (frames, 17, 3))
  phase = rng.uniform(0, 2 * np.pi)
  for j, amp in SWING.items():
    pose[:, j, 1] += .15 * amp * np.sin(.3 * s[:, 0] + phase)
  yaw = rng.uniform(0, 2 * np.pi) + .03 * s
  rot = np.stack([np.c_[np.cos(yaw), -np.sin(yaw), 0 * yaw], np.c_[np.sin(yaw), np.cos(yaw), 0 * yaw],
                  np.c_[0 * yaw, 0 * yaw, 1 + 0 * yaw]], axis=1)  # [F, 3, 3] about the vertical
  return np.einsum("fij,fkj->fki", rot, pose) + np.c_[.02 * s, .01 * s, 0 * s][:, None] - [.3, .2, 0]


def _project(K, R, t, world, lens=(0, 0, 0, 0)):
  """(pixels, camera-frame points) with Human3.6M's lens model, ``lens = (k1, k2, p1, p2)``."""
  cam = world @ R.T + t
  x, y = cam[..., 0] / cam[..., 2], cam[..., 1] / cam[..., 2]
  r2 = x * x + y * y
  scale = 1 + lens[0] * r2 + lens[1] * r2 * r2 + lens[2] * x + lens[3] * y
  x, y = x * scale + lens[2] * r2, y * scale + lens[3] * r2
  return np.stack([K[0, 0] * x + K[0, 2], K[1, 1] * y + K[1, 2]], -1), cam


def _lens(rng):
  return (-.2 + rng.uniform(-.02, .02), .24 + rng.uniform(-.02, .02), *rng.uniform(-2e-3, 2e-3, 2))


def _save(path, **arrays):
  np.savez(path, **arrays)
  return str(path)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
  rng = np.random.default_rng(0)
  d = tmp_path_factory.mktemp("h36m")
  pos3d, pos2d, coco, truth, cams = {}, {}, {}, {}, {}
  for s in SUBJECTS:
    # S1 spells WalkDog without "ing", like the real files.
    names = ["Walking 1", "WalkDog" if s == "S1" else "WalkingDog 1"]
    cams[s] = [_camera(rng, np.pi / 4 + k * np.pi / 2 + rng.uniform(-.1, .1)) for k in range(4)]
    lenses = [_lens(rng) for _ in range(4)]
    pos3d[s], pos2d[s], coco[s] = {}, {}, {}
    for a in names:
      world = _person(rng, int(rng.integers(20, 40)))
      full = rng.normal(0, 1, (len(world), 32, 3))  # the 15 dropped joints are junk the loader must ignore
      full[:, KEPT] = world
      pos3d[s][a] = full.astype(np.float32)
      pos2d[s][a], coco[s][a] = [], []
      for k, (K, R, t) in enumerate(cams[s]):
        px, cam = _project(K, R, t, world, lenses[k])
        truth[s, a, k] = 1000 * cam
        if (s, a) == ("S9", "Walking 1"):  # 2D longer than the 3D, as for a few real sequences
          px = np.concatenate([px, px[-2:]])
        pos2d[s][a].append(px.astype(np.float32))
        c = np.full((len(px), 17, 3), .9)
        for j, name in enumerate(COCO.joints):
          c[:, j, :2] = px[:, H17.index(name)] if name in H17.joints else px[:, H17.index("head_top")]
        c[:, [1, 3], 0] += 8  # eyes and ears either side of the head top
        c[:, [2, 4], 0] -= 8
        if (s, a, k) == ("S1", "Walking 1", 0):
          c[5:8] = np.nan  # failed detections: dropped
        if (s, a, k) == ("S1", "Walking 1", 1):
          c[10, 0] = np.nan  # a NaN nose: paper14 does not use it, so the frame stays
        coco[s][a].append(c.astype(np.float32))
  meta = {"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
  coco_meta = {"layout_name": "coco", "num_joints": 17,
               "keypoints_symmetry": [[1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]]}
  return {"truth": truth, "cams": cams, "pos3d": pos3d, "pos2d": pos2d, "meta": meta,
          "p3": _save(d / "data_3d_h36m.npz", positions_3d=pos3d),
          "gt": _save(d / "data_2d_h36m_gt.npz", positions_2d=pos2d, metadata=meta),
          "coco": _save(d / "data_2d_h36m_coco_det.npz", positions_2d=coco, metadata=coco_meta)}


def _truth(data, ps):
  """The fixture's camera-frame h36m17 joints (mm) of every frame of ``ps``."""
  return np.concatenate([data["truth"][n.split("/")[0], n.split("/")[1], int(n[-1])] for n in ps.names])


def _degrees(R1, R2):
  return np.degrees(np.arccos(np.clip((np.trace(R1.T @ R2) - 1) / 2, -1, 1)))


def test_fit_camera_exact_noisy_and_distorted():
  rng = np.random.default_rng(1)
  K, R, t = _camera(rng, 2.0)
  world = np.concatenate([_person(rng, 30) + [*rng.uniform(-1, 1, 2), 0] for _ in range(10)]).reshape(-1, 3)
  px, _ = _project(K, R, t, world)
  for distortion in (True, False):
    K1, R1, t1, rms = h36m.fit_camera(world, px, distortion)
    np.testing.assert_allclose(K1, K, rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(R1, R, atol=1e-9)
    np.testing.assert_allclose(t1, t, atol=1e-8)
    assert rms < 1e-6
  K2, R2, t2, rms = h36m.fit_camera(world, px + rng.normal(0, 1, px.shape))
  assert np.isclose(rms, np.sqrt(2), rtol=.1)  # per-point distance of N(0, 1) noise in x and y
  np.testing.assert_allclose(np.diag(K2), np.diag(K), rtol=.02)
  np.testing.assert_allclose(K2[:2, 2], K[:2, 2], atol=10)
  assert _degrees(R2, R) < .5 and np.linalg.det(R2) > 0
  assert np.linalg.norm(R2.T @ t2 - R.T @ t) < .1  # camera centres within 10 cm at 5 m
  # Lens distortion of a few pixels: the full model is exact, a pinhole tilts the camera.
  px, _ = _project(K, R, t, world, _lens(rng))
  _, R3, t3, rms = h36m.fit_camera(world, px)
  assert rms < 1e-4 and _degrees(R3, R) < 1e-5 and np.abs(t3 - t).max() < 1e-6
  _, R4, _, rms = h36m.fit_camera(world, px, distortion=False)
  assert 0.3 < rms < 10 and _degrees(R4, R) > .2


def test_action_label():
  assert [h36m.action_label(a) for a in ["Walking 1", "SittingDown 2", "WalkingDog", "WalkDog 1", "TakingPhoto 1",
                                         "Photo", "Directions"]] == [
    "Walking", "SittingDown", "WalkDog", "WalkDog", "Photo", "Photo", "Directions"]


def test_load_gt_split_names_and_camera_frame_3d(data):
  train = h36m.load(data["p3"], data["gt"])
  assert {n.split("/")[0] for n in train.names} == set(h36m.TRAIN_SUBJECTS)
  assert len(train.names) == 5 * 2 * 4 and "S1/Walking 1/cam3" in train.names and "S1/WalkDog/cam0" in train.names
  assert set(train.actions) == {"Walking", "WalkDog"}
  assert train.pose2d.shape == (train.num_frames, 14, 2) and train.pose2d.dtype == np.float32
  want, _ = skeleton.convert(_truth(data, train), "h36m17", "paper14")
  assert np.abs(train.pose3d - want).max() < 1.0  # mm, from fitted cameras
  test = h36m.load(data["p3"], data["gt"], subjects=h36m.TEST_SUBJECTS)
  assert {n.split("/")[0] for n in test.names} == {"S9", "S11"}
  # S9/Walking 1 has 2 extra 2D frames, trimmed to the 3D length.
  assert test.lengths[test.names.index("S9/Walking 1/cam2")] == len(data["pos3d"]["S9"]["Walking 1"])
  assert np.abs(test.pose3d - skeleton.convert(_truth(data, test), "h36m17", "paper14")[0]).max() < 1.0


def test_paper14_mapping_stride_actions_and_17_joint_3d(data, tmp_path):
  ps = h36m.load(data["p3"], data["gt"], subjects=["S9"], actions=["WalkDog"])
  assert ps.names == tuple(f"S9/WalkingDog 1/cam{k}" for k in range(4)) and ps.actions == ("WalkDog",) * 4
  truth = _truth(data, ps)
  np.testing.assert_allclose(ps.pose3d[:, P14.index("head")], truth[:, H17.index("head_top")], atol=1)
  np.testing.assert_allclose(ps.pose3d[:, P14.index("neck")], truth[:, H17.index("thorax")], atol=1)
  np.testing.assert_allclose(ps.pose3d[:, P14.index("l_wrist")], truth[:, H17.index("l_wrist")], atol=1)
  gt2d = data["pos2d"]["S9"]["WalkingDog 1"][3]
  np.testing.assert_allclose(ps.pose2d[-len(gt2d):, P14.index("head")], gt2d[:, H17.index("head_top")])
  strided = h36m.load(data["p3"], data["gt"], subjects=["S9"], actions=["WalkingDog 1"], stride=3)
  np.testing.assert_array_equal(strided.lengths, (ps.lengths + 2) // 3)
  np.testing.assert_allclose(strided.pose3d, ps.subsample(3).pose3d)
  # A 3D file already in the 17-joint order loads the same.
  p17 = {s: {a: w[:, KEPT] for a, w in v.items()} for s, v in data["pos3d"].items()}
  same = h36m.load(_save(tmp_path / "3d17.npz", positions_3d=p17), data["gt"], subjects=["S9"], actions=["WalkDog"])
  np.testing.assert_allclose(same.pose3d, ps.pose3d, atol=1e-3)


def test_coco_detections_and_cameras_json(data, tmp_path):
  det = h36m.load(data["p3"], data["gt"], data["coco"], subjects=["S1"])
  gt = h36m.load(data["p3"], data["gt"], subjects=["S1"])
  i = det.names.index("S1/Walking 1/cam0")
  assert det.names == gt.names and det.lengths[i] == gt.lengths[i] - 3 and det.num_frames == gt.num_frames - 3
  keep = np.ones(gt.num_frames, bool)
  keep[int(gt.lengths[:i].sum()) + np.arange(5, 8)] = False
  np.testing.assert_allclose(det.pose3d, gt.pose3d[keep])
  limbs = [P14.index(n) for n in P14.joints[:12]]
  np.testing.assert_allclose(det.pose2d[:, limbs], gt.pose2d[keep][:, limbs], atol=1e-3)
  # paper14's head from COCO is the ear midpoint (here the head top), its neck the shoulder midpoint.
  np.testing.assert_allclose(det.pose2d[:, P14.index("head")], gt.pose2d[keep][:, P14.index("head")], atol=1e-3)
  shoulders = det.pose2d[:, [P14.index("l_shoulder"), P14.index("r_shoulder")]].mean(1)
  np.testing.assert_allclose(det.pose2d[:, P14.index("neck")], shoulders, atol=1e-3)
  cams = {s: [{"R": R.tolist(), "t": (1000 * t).tolist()} for _, R, t in data["cams"][s]] for s in ["S1"]}
  (tmp_path / "cameras.json").write_text(json.dumps(cams))
  given = h36m.load(data["p3"], None, data["gt"], subjects=["S1"], cameras=str(tmp_path / "cameras.json"))
  np.testing.assert_allclose(given.pose3d, skeleton.convert(_truth(data, given), "h36m17", "paper14")[0], atol=1e-2)


def test_errors(data, tmp_path):
  with pytest.raises(ValueError, match=r"expected data_3d_h36m.npz .*VideoPose3D.*data.h36m.path_3d"):
    h36m.load(str(tmp_path / "missing.npz"), data["gt"])
  with pytest.raises(ValueError, match=r"actions: \['Jumping'\] not in .*labels are \['WalkDog', 'Walking'\]"):
    h36m.load(data["p3"], data["gt"], actions=["Jumping"])
  with pytest.raises(ValueError, match=r"expected subjects \['S2'\]"):
    h36m.load(data["p3"], data["gt"], subjects=["S2"])
  with pytest.raises(ValueError, match="ground-truth 2D .*needed .*also when path_2d gives detections"):
    h36m.load(data["p3"], None, data["coco"])
  with pytest.raises(ValueError, match="ground-truth 2D .*needed"):
    h36m.load(data["p3"], "", data["coco"], cameras="")  # a config's empty string means unset
  with pytest.raises(ValueError, match="expected key 'positions_3d'"):
    h36m.load(_save(tmp_path / "bad3d.npz", positions=data["pos3d"]), data["gt"])
  bad = _save(tmp_path / "mpii.npz", positions_2d=data["pos2d"], metadata=dict(data["meta"], layout_name="mpii"))
  with pytest.raises(ValueError, match="unknown layout_name 'mpii'"):
    h36m.load(data["p3"], data["gt"], bad)
  short = {s: dict(v) for s, v in data["pos2d"].items()}
  short["S1"]["WalkDog"] = [p[:-1] for p in short["S1"]["WalkDog"]]
  with pytest.raises(ValueError, match="S1/WalkDog/cam0: expected at least"):
    h36m.load(data["p3"], _save(tmp_path / "short.npz", positions_2d=short, metadata=data["meta"]), subjects=["S1"])
  rng = np.random.default_rng(2)
  for i, (change, match) in enumerate([(lambda p: p + rng.normal(0, 40, p.shape), "S1 cam0 reprojects with RMS"),
                                       (lambda p: p[::-1], "S1 cam0")]):  # 2D of other frames
    wrong = {s: dict(v) for s, v in data["pos2d"].items()}
    wrong["S1"]["WalkDog"] = [change(p) for p in wrong["S1"]["WalkDog"]]
    with pytest.raises(ValueError, match=f"{match}.*ground-truth 2D of"):
      h36m.load(data["p3"], _save(tmp_path / f"wrong{i}.npz", positions_2d=wrong, metadata=data["meta"]),
                subjects=["S1"])
  odd = {"S1": {"Walking 1": np.zeros((5, 20, 3), np.float32)}}
  with pytest.raises(ValueError, match=r"S1/Walking 1: expected shape \[F, 32, 3\]"):
    h36m.load(_save(tmp_path / "odd.npz", positions_3d=odd), data["gt"], subjects=["S1"])
