"""Tests for lifting.data.keypoints on small fixtures written in each real format, and on the real files."""

import json
import os
import pathlib
import pickle
import re

import numpy as np
import pytest
import scipy.io

from lifting import skeleton
from lifting.data import keypoints as K

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
LSP_MAT = os.path.join(DATA, "lsp_2d", "repo", "pose_dataset", "lsp", "joints.mat")
LSPET_MAT = os.path.join(DATA, "lsp_2d", "repo", "pose_dataset", "lsp_ext", "joints.mat")
MPII_DIR = os.path.join(DATA, "mpii_2d", "repo", "pose_dataset", "mpii")
COCO_J = skeleton.get_layout("coco17").joints
PAPER_J = skeleton.get_layout("paper14").joints


def _points(rng, n, j):
  return rng.uniform(10, 500, (n, j, 2)).round(2)


def _write_json(path, data):
  path.write_text(json.dumps(data))
  return str(path)


def _coco_triples(xy, v):
  return np.concatenate([xy, np.asarray(v, float)[:, None]], -1).ravel().tolist()


# ----------------------------------------------------------------------------- LSP / LSPET


def test_lsp_flag_1_is_occluded_but_usable(tmp_path):
  xy = _points(np.random.default_rng(0), 3, 14)
  xy[2, 0] = (-4.5, 7.0)  # just outside the image: a real point
  flag = np.zeros((3, 14))
  flag[0, 13] = flag[1, 5] = 1
  path = str(tmp_path / "joints.mat")
  scipy.io.savemat(path, {"joints": np.concatenate([xy, flag[..., None]], -1).transpose(2, 1, 0)})  # (3, 14, N)
  kp = K.read_lsp(path)
  assert kp.layout == "lsp14" and kp.poses.shape == (3, 14, 2) and kp.poses.dtype == np.float32
  assert kp.mask.all() and kp.occluded.sum() == 2 and kp.occluded[0, 13] and kp.occluded[1, 5]
  np.testing.assert_allclose(kp.poses, xy, rtol=1e-6)
  assert kp.ids == ("im0001.jpg", "im0002.jpg", "im0003.jpg") and kp.source == path
  assert kp.counts["poses"] == 3 and kp.counts["joints_masked"] == 0
  assert np.all(kp.scores == 1)


def test_lspet_flag_0_is_masked(tmp_path):
  xy = _points(np.random.default_rng(1), 4, 14)
  flag = np.ones((4, 14))
  flag[0, 13] = flag[3, 0] = 0
  path = str(tmp_path / "joints.mat")
  scipy.io.savemat(path, {"joints": np.concatenate([xy, flag[..., None]], -1).transpose(1, 2, 0)})  # (14, 3, N)
  for kp in (K.read_lsp(path), K.read_lsp(path, variant="lspet"), K.read_keypoints(path, "lspet")):
    assert kp.counts["joints_invisible"] == 2 and kp.counts["joints_masked"] == 2
    assert not kp.mask[0, 13] and not kp.mask[3, 0] and kp.mask.sum() == 4 * 14 - 2
    assert np.isnan(kp.poses[0, 13]).all() and not kp.occluded.any()
    np.testing.assert_allclose(kp.poses[kp.mask], xy[kp.mask], rtol=1e-6)
    assert kp.ids[-1] == "im00004.jpg" and kp.scores[0, 13] == 0


def test_lsp_single_person_and_variant_mismatch(tmp_path):
  path = str(tmp_path / "one.mat")
  scipy.io.savemat(path, {"joints": np.ones((3, 14))})  # what MATLAB writes for N == 1
  assert len(K.read_lsp(path)) == 1
  with pytest.raises(K.KeypointFileError, match=r"one\.mat: 'joints' must have shape \(14, 3, N\)"):
    K.read_lsp(path, variant="lspet")  # the flags would be read inverted


def test_nonfinite_and_out_of_range_are_masked(tmp_path):
  xy = np.full((2, 14, 2), 100.0)
  xy[0, 0, 0], xy[0, 1, 1], xy[1, 2, 0], xy[1, 3, 1] = np.nan, np.inf, 3e6, -150.0
  path = str(tmp_path / "joints.mat")
  scipy.io.savemat(path, {"joints": np.concatenate([xy, np.zeros((2, 14, 1))], -1).transpose(2, 1, 0)})
  kp = K.read_lsp(path)
  assert kp.counts["joints_nonfinite"] == 2 and kp.counts["joints_out_of_range"] == 1
  assert kp.mask.sum() == 28 - 3 and kp.mask[1, 3] and np.isfinite(kp.poses[kp.mask]).all()
  assert np.isnan(kp.poses[~kp.mask]).all()
  kp = K.read_lsp(path, image_size=(120, 120))  # y = -150 is further out than the image is tall
  assert kp.counts["joints_out_of_range"] == 2 and not kp.mask[1, 3]


# ----------------------------------------------------------------------------- MPII


def _mpii_line(name, xy):
  return ",".join([name] + [f"{v:.4f}" for v in xy.ravel()])


def test_mpii_csv_skips_malformed_rows(tmp_path, caplog):
  xy = _points(np.random.default_rng(2), 3, 16)
  xy[1, 4] = (-3.5, 20.0)
  lines = [
    _mpii_line("a.jpg", xy[0]),
    "b.jpg,1.0,2.0",  # too few fields
    _mpii_line("c.jpg", xy[1]),
    _mpii_line("d.jpg", xy[2]).replace(",", ",oops,", 1).rsplit(",", 1)[0],  # non-numeric field
    "",
    _mpii_line("e.jpg", xy[2]),
  ]
  path = tmp_path / "train.csv"
  path.write_text("\n".join(lines) + "\n")
  with caplog.at_level("WARNING"):
    kp = K.read_mpii_csv(str(path))
  assert kp.layout == "mpii16" and kp.ids == ("a.jpg#row1", "c.jpg#row3", "e.jpg#row6")
  assert kp.counts["rows_malformed"] == 2 and kp.counts["poses"] == 3 and kp.counts["poses_dropped"] == 2
  assert kp.mask.all() and not kp.occluded.any()
  np.testing.assert_allclose(kp.poses, xy, rtol=1e-6)
  assert "train.csv:2: expected 33 fields" in caplog.text and "train.csv:4: field 2 is not a number" in caplog.text


def test_mpii_csv_all_rows_bad(tmp_path):
  path = tmp_path / "bad.csv"
  path.write_text("\nimage,x0,y0\nfoo,1,2\n")
  with pytest.raises(K.KeypointFileError, match=r"bad\.csv:2: no valid rows \(2 malformed\)"):
    K.read_mpii_csv(str(path))


def test_mpii_missing_marker(tmp_path):
  xy = _points(np.random.default_rng(3), 1, 16)
  xy[0, 9] = -1
  path = tmp_path / "m.csv"
  path.write_text(_mpii_line("a.jpg", xy[0]) + "\n")
  kp = K.read_keypoints(str(path))
  assert kp.counts["joints_missing_marker"] == 1 and kp.mask.sum() == 15 and not kp.mask[0, 9]


# ----------------------------------------------------------------------------- COCO


def _coco_annotations(tmp_path):
  rng = np.random.default_rng(4)
  xy = _points(rng, 2, 17)
  v = np.full((2, 17), 2)
  v[0, 3], v[0, 5], v[1, 16] = 0, 1, 0
  anns = [
    {"id": 11, "image_id": 7, "keypoints": _coco_triples(xy[0], v[0]), "num_keypoints": 16, "iscrowd": 0},
    {"id": 12, "image_id": 7, "keypoints": [0] * 51, "iscrowd": 1},
    {"id": 13, "image_id": 8, "keypoints": [0] * 51, "num_keypoints": 0, "iscrowd": 0},
    {"id": 14, "image_id": 8, "keypoints": _coco_triples(xy[1], v[1])},
  ]
  images = [{"id": 7, "file_name": "000007.jpg"}, {"id": 8, "file_name": "000008.jpg"}]
  return _write_json(tmp_path / "person_keypoints.json", {"images": images, "annotations": anns}), xy, v


def test_coco_annotations(tmp_path):
  path, xy, v = _coco_annotations(tmp_path)
  for kp in (K.read_coco_json(path), K.read_keypoints(path)):
    assert kp.layout == "coco17" and kp.ids == ("000007.jpg#ann11", "000008.jpg#ann14")
    c = kp.counts
    assert c["annotations_crowd"] == 1 and c["annotations_empty"] == 1 and c["poses_dropped"] == 2
    assert c["joints_unannotated"] == 2 and c["joints_masked"] == 2 and c["poses"] == 2
    np.testing.assert_array_equal(kp.mask, v > 0)
    np.testing.assert_array_equal(kp.occluded, v == 1)
    np.testing.assert_allclose(kp.poses[kp.mask], xy[v > 0], rtol=1e-6)
    np.testing.assert_array_equal(kp.scores, (v > 0).astype(np.float32))


def test_coco_results(tmp_path):
  rng = np.random.default_rng(5)
  xy, s = _points(rng, 2, 17), rng.uniform(0, 1, (2, 17)).round(3)
  s[0, 0] = 0.0
  results = [{"image_id": 3, "category_id": 1, "keypoints": _coco_triples(xy[i], s[i]), "score": 0.9} for i in range(2)]
  path = _write_json(tmp_path / "results.json", results)
  kp = K.read_coco_json(path)
  assert kp.ids == ("3#det0", "3#det1") and not kp.occluded.any()
  np.testing.assert_array_equal(kp.mask, s > 0)
  np.testing.assert_allclose(kp.scores, s, rtol=1e-6)
  kp = K.read_keypoints(path, min_score=0.5)
  np.testing.assert_array_equal(kp.mask, s > 0.5)
  assert kp.counts["joints_low_score"] == (s <= 0.5).sum()
  assert len(K.read_coco_json(_write_json(tmp_path / "none.json", []))) == 0


# ----------------------------------------------------------------------------- OpenPose


def _openpose_person(xy, c):
  return {"person_id": [-1], "pose_keypoints_2d": np.concatenate([xy, c[:, None]], -1).ravel().tolist()}


def test_openpose_body25_folder(tmp_path):
  rng = np.random.default_rng(6)
  xy, c = _points(rng, 3, 25), rng.uniform(0.3, 1, (3, 25)).round(3)
  xy[0, 4], c[0, 4] = 0, 0  # not detected
  c[2, 7] = 0.02  # below the default threshold
  folder = tmp_path / "video"
  folder.mkdir()
  frames = [[0, 1], [], [2]]
  for t, people in enumerate(frames):
    data = {"version": 1.3, "people": [_openpose_person(xy[i], c[i]) for i in people]}
    _write_json(folder / f"clip_{t:012d}_keypoints.json", data)
  (folder / "notes.json").write_text("not openpose")  # ignored: not *_keypoints.json
  for kp in (K.read_openpose(str(folder)), K.read_keypoints(str(folder))):
    assert kp.layout == "openpose25" and kp.source == str(folder)
    assert kp.ids == (
      "clip_000000000000_keypoints.json#person0",
      "clip_000000000000_keypoints.json#person1",
      "clip_000000000002_keypoints.json#person0",
    )
    assert kp.counts["frames"] == 3 and kp.counts["frames_empty"] == 1
    assert kp.counts["joints_undetected"] == 1 and kp.counts["joints_low_score"] == 1
    assert kp.mask.sum() == 75 - 2 and not kp.mask[0, 4] and not kp.mask[2, 7]
    np.testing.assert_allclose(kp.poses[kp.mask], xy[kp.mask], rtol=1e-6)
    np.testing.assert_allclose(kp.scores, c, rtol=1e-6)
  assert K.read_openpose(str(folder), min_score=0.01).mask.sum() == 75 - 1


def test_openpose_coco18_file_and_mixed_models(tmp_path):
  xy = _points(np.random.default_rng(7), 1, 18)
  person = _openpose_person(xy[0], np.full(18, 0.8))
  path = _write_json(tmp_path / "f_keypoints.json", {"people": [person]})
  for kp in (K.read_openpose(path), K.read_keypoints(path)):
    assert kp.layout == "openpose18" and kp.ids == ("f_keypoints.json#person0",) and kp.mask.all()
  folder = tmp_path / "mixed"
  folder.mkdir()
  _write_json(folder / "a_keypoints.json", {"people": [person]})
  _write_json(folder / "b_keypoints.json", {"people": [_openpose_person(np.ones((25, 2)), np.ones(25))]})
  with pytest.raises(K.KeypointFileError, match=r"b_keypoints\.json: person 0 has 25 keypoints .*a_keypoints"):
    K.read_openpose(str(folder))


# ----------------------------------------------------------------------------- to_paper14


def _paper14_reference(kp, table):
  """Independent reference: each paper14 joint is the plain mean of the named source joints."""
  src = skeleton.get_layout(kp.layout).joints
  n = len(kp)
  poses, mask = np.full((n, 14, 2), np.nan), np.zeros((n, 14), bool)
  for d, name in enumerate(PAPER_J):
    names = table.get(name, (name,) if name in src else ())
    if names:
      idx = [src.index(s) for s in names]
      mask[:, d] = kp.mask[:, idx].all(1)
      poses[mask[:, d], d] = kp.poses[mask[:, d]][:, idx].mean(1)
  return poses, mask


def test_to_paper14_lsp_head_is_head_top(tmp_path):
  xy = _points(np.random.default_rng(8), 2, 14)
  flag = np.ones((2, 14))
  flag[1, 13] = 0
  path = str(tmp_path / "joints.mat")
  scipy.io.savemat(path, {"joints": np.concatenate([xy, flag[..., None]], -1).transpose(1, 2, 0)})
  kp = K.to_paper14(K.read_lsp(path))
  ref_poses, ref_mask = _paper14_reference(K.read_lsp(path), {"head": ("head_top",)})
  assert kp.layout == "paper14" and kp.ids == ("im00001.jpg", "im00002.jpg")
  np.testing.assert_array_equal(kp.mask, ref_mask)
  np.testing.assert_allclose(kp.poses, ref_poses, rtol=1e-6)
  np.testing.assert_allclose(kp.poses[0, PAPER_J.index("head")], xy[0, 13], rtol=1e-6)
  assert not kp.mask[1, PAPER_J.index("head")] and kp.counts["joints_masked"] == 1


def test_to_paper14_coco_neck_is_shoulder_midpoint(tmp_path):
  path, xy, v = _coco_annotations(tmp_path)
  v2 = v.copy()
  v2[1, COCO_J.index("r_shoulder")] = 0
  with open(path) as f:
    data = json.load(f)
  data["annotations"][3]["keypoints"] = _coco_triples(xy[1], v2[1])
  src = K.read_coco_json(_write_json(tmp_path / "c.json", data))
  kp = K.to_paper14(src)
  neck, head = PAPER_J.index("neck"), PAPER_J.index("head")
  ls, rs = COCO_J.index("l_shoulder"), COCO_J.index("r_shoulder")
  np.testing.assert_allclose(kp.poses[0, neck], (xy[0, ls] + xy[0, rs]) / 2, rtol=1e-6)
  assert not kp.mask[1, neck] and np.isnan(kp.poses[1, neck]).all()  # never half a shoulder pair
  # v[0, 3] = 0 is l_ear: the ear-midpoint head is masked; v[0, 5] = 1 is l_shoulder: the neck is occluded.
  assert not kp.mask[0, head] and kp.occluded[0, neck] and kp.occluded[0, PAPER_J.index("l_shoulder")]
  assert kp.occluded.sum() == 2 and kp.scores[0, head] == 0
  table = {"neck": ("l_shoulder", "r_shoulder"), "head": ("l_ear", "r_ear")}
  ref_poses, ref_mask = _paper14_reference(src, table)
  np.testing.assert_array_equal(kp.mask, ref_mask)
  np.testing.assert_allclose(kp.poses, ref_poses, rtol=1e-6)
  assert kp.counts["joints_masked"] == (~ref_mask).sum() and kp.counts["annotations_crowd"] == 1


def test_to_paper14_openpose_and_mpii(tmp_path):
  rng = np.random.default_rng(9)
  xy, c = _points(rng, 2, 25), rng.uniform(0.3, 1, (2, 25))
  c[1, 17] = 0.0
  path = _write_json(tmp_path / "x_keypoints.json", {"people": [_openpose_person(xy[i], c[i]) for i in range(2)]})
  src = K.read_openpose(path)
  kp = K.to_paper14(src)
  ref_poses, ref_mask = _paper14_reference(src, {"head": ("l_ear", "r_ear")})
  np.testing.assert_array_equal(kp.mask, ref_mask)
  np.testing.assert_allclose(kp.poses, ref_poses, rtol=1e-6)
  np.testing.assert_allclose(kp.scores[0, PAPER_J.index("head")], c[0, 17:19].min(), rtol=1e-6)

  xy = _points(rng, 1, 16)
  (tmp_path / "m.csv").write_text(_mpii_line("a.jpg", xy[0]) + "\n")
  src = K.read_mpii_csv(str(tmp_path / "m.csv"))
  ref_poses, ref_mask = _paper14_reference(src, {"neck": ("upper_neck",), "head": ("head_top",)})
  kp = K.to_paper14(src)
  assert ref_mask.all() and kp.mask.all()
  np.testing.assert_allclose(kp.poses, ref_poses, rtol=1e-6)


# ----------------------------------------------------------------------------- bad input


def _bad_inputs(tmp_path):
  """(file name, writer, reader) for every malformed-input case."""
  good_ann = {"id": 1, "image_id": 1, "keypoints": [1] * 51}

  def mat(data):
    return lambda p: scipy.io.savemat(p, data)

  def text(s):
    return lambda p: pathlib.Path(p).write_text(s)

  def js(data):
    return text(json.dumps(data))

  def truncated_mat(p):
    scipy.io.savemat(p, {"joints": np.ones((3, 14, 50))})
    data = pathlib.Path(p).read_bytes()
    pathlib.Path(p).write_bytes(data[: len(data) // 2])

  return [
    ("missing.mat", None, K.read_lsp),
    ("missing.csv", None, K.read_mpii_csv),
    ("missing.json", None, K.read_coco_json),
    ("missing_dir", None, K.read_openpose),
    ("missing.xyz", None, K.read_keypoints),
    ("empty.mat", text(""), K.read_lsp),
    ("garbage.mat", text("not a MAT file " * 20), K.read_lsp),
    ("truncated.mat", truncated_mat, K.read_lsp),
    ("novar.mat", mat({"points": np.zeros((3, 14, 2))}), K.read_lsp),
    ("shape.mat", mat({"joints": np.zeros((2, 14, 5))}), K.read_lsp),
    ("text.mat", mat({"joints": "hello"}), K.read_lsp),
    ("empty.csv", text("\n\n"), K.read_mpii_csv),
    ("empty.json", text(""), K.read_coco_json),
    ("truncated.json", text('{"annotations": [\n  {"keypoints": [1, 2'), K.read_coco_json),
    ("scalar.json", js(3), K.read_coco_json),
    ("noanns.json", js({"images": []}), K.read_coco_json),
    ("count.json", js({"annotations": [{**good_ann, "keypoints": [1] * 48}]}), K.read_coco_json),
    ("types.json", js({"annotations": [{**good_ann, "keypoints": ["1"] * 51}]}), K.read_coco_json),
    ("nulls.json", js({"annotations": [{**good_ann, "keypoints": [None] * 51}]}), K.read_coco_json),
    ("noimage.json", js([{"keypoints": [1] * 51}]), K.read_coco_json),
    ("images.json", js({"annotations": [], "images": 5}), K.read_coco_json),
    ("entry.json", js([[1, 2, 3]]), K.read_coco_json),
    ("k20_keypoints.json", js({"people": [{"pose_keypoints_2d": [1] * 60}]}), K.read_openpose),
    ("people_keypoints.json", js({"people": {"a": 1}}), K.read_openpose),
    ("person_keypoints.json", js({"people": [[1, 2]]}), K.read_openpose),
    ("bool_keypoints.json", js({"people": [{"pose_keypoints_2d": [True] * 75}]}), K.read_openpose),
    ("list_keypoints.json", js([1]), K.read_openpose),
    ("data.xyz", text("1"), K.read_keypoints),
  ]


def test_bad_inputs_raise_keypoint_file_error(tmp_path):
  for name, write, read in _bad_inputs(tmp_path):
    path = str(tmp_path / name)
    if write is not None:
      write(path)
    with pytest.raises(K.KeypointFileError, match=re.escape(name)) as err:
      read(path)
    message = str(err.value)
    assert message.startswith(path) and "\n" not in message, message
    if name.startswith("missing"):
      assert "not found" in message
  with pytest.raises(K.KeypointFileError, match=r"truncated\.json:2: invalid JSON: .* \(column \d+\)"):
    K.read_keypoints(str(tmp_path / "truncated.json"))


def test_bad_folder_and_format(tmp_path):
  with pytest.raises(K.KeypointFileError, match=r"no \*_keypoints\.json"):
    K.read_openpose(str(tmp_path))
  path = _write_json(tmp_path / "a.json", [])
  with pytest.raises(K.KeypointFileError, match=r"a\.json: unknown format 'bvh'.*'openpose'"):
    K.read_keypoints(path, format="bvh")
  err = K.KeypointFileError(path, "why", 3)
  assert str(pickle.loads(pickle.dumps(err))) == f"{path}:3: why" and isinstance(err, ValueError)


# ----------------------------------------------------------------------------- real data


def _require(path):
  if not os.path.exists(path):
    pytest.skip(f"real data not found at {os.path.normpath(path)}; see /work/shared/data/*/README.md")
  return path


def _check_paper14(kp):
  p14 = K.to_paper14(kp)
  assert np.isfinite(p14.poses[p14.mask]).all() and np.isnan(p14.poses[~p14.mask]).all()
  return p14


def test_real_lsp():
  kp = K.read_keypoints(_require(LSP_MAT))
  assert kp.poses.shape == (2000, 14, 2) and kp.mask.all()
  assert 0.06 < kp.occluded.mean() < 0.08  # README: 7% of flags are 1
  assert _check_paper14(kp).mask.all()


def test_real_lspet():
  kp = K.read_keypoints(_require(LSPET_MAT))
  assert kp.poses.shape == (10000, 14, 2) and not kp.occluded.any()
  assert 0.11 < 1 - kp.mask.mean() < 0.13  # README: 88% of flags are 1
  assert (kp.poses[kp.mask] < 0).any()  # negative coordinates are real points and stay usable
  _check_paper14(kp)


def test_real_mpii():
  train = K.read_keypoints(_require(os.path.join(MPII_DIR, "train_joints.csv")))
  test = K.read_keypoints(_require(os.path.join(MPII_DIR, "test_joints.csv")))
  assert train.poses.shape == (17928, 16, 2) and len(test) == 1991
  for kp in (train, test):
    assert kp.mask.all() and kp.counts["rows_malformed"] == 0 and _check_paper14(kp).mask.all()
  assert (train.poses < 0).sum() == 159  # README: slightly negative values are points outside the image
