"""Tests for lifting.data.keypoints on small fixtures written in each real format, and on the real files."""

import json
import os
import pathlib
import pickle
import re

import numpy as np
import pytest
import scipy.io

from lifting.core import skeleton
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
  with pytest.raises(K.KeypointFileError, match=r"none\.json: no poses"):
    K.read_coco_json(_write_json(tmp_path / "none.json", []))
  with pytest.raises(K.KeypointFileError, match=r"no poses \(annotations_crowd 1, poses_dropped 1"):
    K.read_coco_json(_write_json(tmp_path / "crowd.json", {"annotations": [{"image_id": 1, "iscrowd": 1}]}))


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


FACE = (("l_ear", "r_ear"), ("l_eye", "r_eye"), ("nose",))


def _paper14_reference(kp, table, fallbacks=None):
  """Independent reference, pose by pose: each paper14 joint is the plain mean of the named source joints;
  where they are not all usable, the mean of the usable joints of the first fallback group that has any."""
  src = skeleton.get_layout(kp.layout).joints
  n = len(kp)
  poses, mask = np.full((n, 14, 2), np.nan), np.zeros((n, 14), bool)
  for i in range(n):
    for d, name in enumerate(PAPER_J):
      names = table.get(name, (name,) if name in src else ())
      if names and all(kp.mask[i, src.index(s)] for s in names):
        poses[i, d], mask[i, d] = np.mean([kp.poses[i, src.index(s)] for s in names], 0), True
        continue
      for group in (fallbacks or {}).get(name, ()):
        found = [kp.poses[i, src.index(s)] for s in group if kp.mask[i, src.index(s)]]
        if found:
          poses[i, d], mask[i, d] = np.mean(found, 0), True
          break
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
  # v[0, 3] = 0 is l_ear: the head is the other ear; v[0, 5] = 1 is l_shoulder: the neck is occluded.
  np.testing.assert_allclose(kp.poses[0, head], xy[0, COCO_J.index("r_ear")], rtol=1e-6)
  assert kp.mask[0, head] and kp.occluded[0, neck] and kp.occluded[0, PAPER_J.index("l_shoulder")]
  assert kp.occluded.sum() == 2 and kp.scores[0, head] == 1
  table = {"neck": ("l_shoulder", "r_shoulder"), "head": ("l_ear", "r_ear")}
  ref_poses, ref_mask = _paper14_reference(src, table, {"head": FACE})
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
  ref_poses, ref_mask = _paper14_reference(src, {"head": ("l_ear", "r_ear")}, {"head": FACE})
  np.testing.assert_array_equal(kp.mask, ref_mask)
  np.testing.assert_allclose(kp.poses, ref_poses, rtol=1e-6)
  np.testing.assert_allclose(kp.scores[0, PAPER_J.index("head")], c[0, 17:19].min(), rtol=1e-6)
  np.testing.assert_allclose(kp.scores[1, PAPER_J.index("head")], c[1, 18], rtol=1e-6)  # the ear that is left

  xy = _points(rng, 1, 16)
  (tmp_path / "m.csv").write_text(_mpii_line("a.jpg", xy[0]) + "\n")
  src = K.read_mpii_csv(str(tmp_path / "m.csv"))
  ref_poses, ref_mask = _paper14_reference(src, {"neck": ("upper_neck",), "head": ("head_top",)})
  kp = K.to_paper14(src)
  assert ref_mask.all() and kp.mask.all()
  np.testing.assert_allclose(kp.poses, ref_poses, rtol=1e-6)


@pytest.mark.parametrize("layout", ["coco17", "openpose25", "openpose18"])
def test_head_comes_from_the_ears_else_the_eyes_else_the_nose(layout):
  """Hand-made faces, one per case: which points are confident, and where paper14's head must be."""
  names = skeleton.get_layout(layout).joints
  face = {"nose": (100.0, 50.0), "l_eye": (104.0, 46.0), "r_eye": (96.0, 46.0), "l_ear": (110.0, 48.0),
          "r_ear": (90.0, 48.0)}
  cases = [  # (confident face points, expected head or None)
    (("nose", "l_eye", "r_eye", "l_ear", "r_ear"), (100.0, 48.0)),
    (("nose", "l_eye", "r_eye", "l_ear"), (110.0, 48.0)),  # profile: the visible ear
    (("nose", "l_eye", "r_eye"), (100.0, 46.0)),
    (("nose", "r_eye"), (96.0, 46.0)),
    (("nose",), (100.0, 50.0)),
    ((), None),
  ]
  xy = np.full((len(cases), len(names), 2), 200.0)
  scores = np.full((len(cases), len(names)), 0.9, np.float32)
  for i, (confident, _) in enumerate(cases):
    for name, point in face.items():
      xy[i, names.index(name)] = point
      scores[i, names.index(name)] = 0.8 if name in confident else 0.1
  mask = scores > 0.5
  xy = np.where(mask[..., None], xy, np.nan).astype(np.float32)
  kp = K.Keypoints(xy, mask, np.zeros_like(mask), scores, layout, [f"p{i}" for i in range(len(cases))], "hand-made", {})
  head = PAPER_J.index("head")
  out = K.to_paper14(kp)
  for i, (confident, expected) in enumerate(cases):
    if expected is None:
      assert not out.mask[i, head] and np.isnan(out.poses[i, head]).all(), confident
    else:
      assert out.mask[i, head], confident
      np.testing.assert_allclose(out.poses[i, head], expected, err_msg=str(confident))
      assert out.scores[i, head] == np.float32(0.8)
  assert out.mask[:, PAPER_J.index("l_wrist")].all()  # the other joints are untouched


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


# ----------------------------------------------------------------------------- plain arrays


def _scored(rng, f, j):
  """[F, J, 3] pixel coordinates and confidences in [0.2, 1]."""
  return np.concatenate([_points(rng, f, j), rng.uniform(0.2, 1, (f, j, 1)).round(3)], -1)


def _write_csv(path, rows, header=None):
  lines = ([header] if header else []) + [",".join(repr(float(v)) for v in row) for row in rows]
  path.write_text("\n".join(lines) + "\n")
  return str(path)


def test_read_array_npy_with_confidence(tmp_path):
  kps = _scored(np.random.default_rng(10), 3, 17)
  kps[0, 2] = (np.nan, np.nan, 0.0)  # missing: NaN is fine where the confidence says so
  kps[1, 4, 2] = 0.1  # below min_score
  kps[2, 5, 2] = -1.0  # negative: below any min_score
  path = str(tmp_path / "p.npy")
  np.save(path, kps)
  kp = K.read_array(path, "coco17", min_score=0.15)
  assert kp.layout == "coco17" and kp.ids == ("frame000000", "frame000001", "frame000002") and kp.source == path
  expected = np.ones((3, 17), bool)
  expected[0, 2] = expected[1, 4] = expected[2, 5] = False
  np.testing.assert_array_equal(kp.mask, expected)
  np.testing.assert_allclose(kp.poses[expected], kps[..., :2][expected], rtol=1e-6)
  assert np.isnan(kp.poses[~expected]).all() and not kp.occluded.any()
  np.testing.assert_allclose(kp.scores, np.nan_to_num(kps[..., 2]), rtol=1e-6)
  c = kp.counts
  assert c["joints_missing"] == 1 and c["joints_low_score"] == 2 and c["joints_masked"] == 3 and c["poses"] == 3
  assert K.read_array(path, "coco17").mask.sum() == 3 * 17 - 2  # default min_score 0: only 0 and negative


def test_read_array_without_confidence_and_single_frame(tmp_path):
  xy = _points(np.random.default_rng(11), 2, 14)
  np.save(tmp_path / "two.npy", xy.astype(np.float32))
  kp = K.read_array(str(tmp_path / "two.npy"), "lsp14")
  assert kp.mask.all() and np.all(kp.scores == 1) and kp.counts["joints_masked"] == 0
  np.testing.assert_allclose(kp.poses, xy, rtol=1e-6)
  np.save(tmp_path / "one.npy", np.rint(xy[0]).astype(np.int32))  # [J, 2], integer pixels
  kp = K.read_array(str(tmp_path / "one.npy"), "lsp14")
  assert len(kp) == 1 and kp.ids == ("frame000000",) and kp.poses.shape == (1, 14, 2)
  np.testing.assert_array_equal(kp.poses[0], np.rint(xy[0]))
  kp = K.read_array(str(tmp_path / "one.npy"), "paper14")  # any 14-joint layout: the caller says which
  assert kp.layout == "paper14"


def test_read_array_npz(tmp_path):
  kps = _scored(np.random.default_rng(12), 2, 25)
  np.savez(tmp_path / "one.npz", anything=kps)
  np.savez(tmp_path / "named.npz", poses=kps, frame_times=np.arange(2.0))
  np.savez_compressed(tmp_path / "packed.npz", keypoints=kps, fps=np.array(30))
  for name in ("one", "named", "packed"):
    kp = K.read_array(str(tmp_path / f"{name}.npz"), "openpose25")
    np.testing.assert_allclose(kp.poses, kps[..., :2], rtol=1e-6)
  np.savez(tmp_path / "many.npz", a=kps, b=kps)
  with pytest.raises(K.KeypointFileError, match=r"many\.npz: expected one array, .*'poses', got \['a', 'b'\]"):
    K.read_array(str(tmp_path / "many.npz"), "openpose25")
  np.savez(tmp_path / "both.npz", keypoints=kps, poses=kps)
  with pytest.raises(K.KeypointFileError, match=r"got \['keypoints', 'poses'\]"):
    K.read_array(str(tmp_path / "both.npz"), "openpose25")


def test_read_array_csv(tmp_path):
  kps = _scored(np.random.default_rng(13), 3, 16)
  kps[1, 0, 2] = 0
  header = ",".join(f"{j}_{a}" for j in skeleton.get_layout("mpii16").joints for a in "xyc")
  path = _write_csv(tmp_path / "c.csv", kps.reshape(3, -1), header)
  with open(path, "a") as f:
    f.write("\n \n")  # blank lines are ignored
  kp = K.read_array(path, "mpii16")
  assert kp.ids == ("frame000000", "frame000001", "frame000002") and kp.mask.sum() == 3 * 16 - 1
  assert not kp.mask[1, 0] and kp.counts["joints_missing"] == 1
  np.testing.assert_allclose(kp.poses[kp.mask], kps[..., :2][kp.mask], rtol=1e-6)
  np.testing.assert_allclose(kp.scores, kps[..., 2], rtol=1e-6)
  path = _write_csv(tmp_path / "xy.csv", kps[..., :2].reshape(3, -1))  # no header, no confidence
  kp = K.read_array(path, "mpii16")
  assert kp.mask.all() and np.all(kp.scores == 1)
  np.testing.assert_allclose(kp.poses, kps[..., :2], rtol=1e-6)


def test_read_array_nonfinite_is_an_error_unless_marked_missing(tmp_path):
  kps = _scored(np.random.default_rng(14), 3, 17)
  kps[0, 1] = (np.nan, np.nan, 0.0)  # marked missing: masked
  kps[2, 6, :2] = (np.nan, 5.0)
  kps[2, 6, 2] = 1.0  # not marked: an error
  np.save(tmp_path / "nan.npy", kps)
  with pytest.raises(K.KeypointFileError, match=r"nan\.npy: frame 2, joint 6 \(r_shoulder\) = \[nan, 5\.0, 1\.0\]: "
                     r"non-finite coordinates .*mark missing joints with confidence 0"):
    K.read_array(str(tmp_path / "nan.npy"), "coco17")
  kps[2, 6, 2] = 0.0
  np.save(tmp_path / "nan.npy", kps)
  kp = K.read_array(str(tmp_path / "nan.npy"), "coco17")
  assert not kp.mask[0, 1] and not kp.mask[2, 6] and kp.mask.sum() == 3 * 17 - 2
  assert np.isnan(kp.poses[~kp.mask]).all() and np.isfinite(kp.poses[kp.mask]).all()

  xy = np.nan_to_num(kps[..., :2])
  xy[1, 3, 0] = np.inf
  np.save(tmp_path / "inf.npy", xy)  # [F, J, 2]: nothing can mark a joint missing
  with pytest.raises(K.KeypointFileError, match=r"frame 1, joint 3 \(l_ear\) = \[inf, .*\(store x, y, confidence\)"):
    K.read_array(str(tmp_path / "inf.npy"), "coco17")
  kps[1, 3, 2] = np.nan
  np.save(tmp_path / "conf.npy", kps)
  with pytest.raises(K.KeypointFileError, match=r"conf\.npy: frame 1, joint 3 \(l_ear\) = .*non-finite confidence"):
    K.read_array(str(tmp_path / "conf.npy"), "coco17")
  kps[1, 3, 2], kps[2, 6, 2] = 1.0, 1.0
  path = _write_csv(tmp_path / "nan.csv", kps.reshape(3, -1), "header")
  with pytest.raises(K.KeypointFileError, match=r"nan\.csv:4: frame 2, joint 6 "):  # line 4: after the header
    K.read_array(path, "coco17")


def test_read_array_errors(tmp_path):
  kps = _scored(np.random.default_rng(15), 2, 17)
  np.save(tmp_path / "p.npy", kps)
  path = str(tmp_path / "p.npy")
  with pytest.raises(K.KeypointFileError, match=r"p\.npy: expected 14 joints for layout lsp14, got 17"):
    K.read_array(path, "lsp14")
  with pytest.raises(K.KeypointFileError, match=r"p\.npy: unknown layout 'coco18'; known layouts are \[.*'coco17'"):
    K.read_array(path, "coco18")
  cases = {
    "empty.npy": b"",
    "empty.csv": b"",
    "header_only.csv": b"x,y,c\n\n",
    "bad_header.npy": b"\x93NUMPY\x01\x00\x10\x00{'descr': nonsense",
    "bad_zip.npz": b"PK\x03\x04" + bytes(range(40)),
    "pickle.npy": b"\x80\x04\x95...",
    "binary.csv": bytes(range(128, 256)),
  }
  for name, blob in cases.items():
    (tmp_path / name).write_bytes(blob)
  np.save(tmp_path / "zero.npy", np.zeros((0, 17, 3)))
  np.save(tmp_path / "shape.npy", np.zeros((2, 17, 4)))
  np.save(tmp_path / "text.npy", np.array([["a", "b"]] * 17))
  _write_csv(tmp_path / "row.csv", [kps[0].ravel(), kps[1].ravel()[:-1]], "h")
  _write_csv(tmp_path / "width.csv", [kps[0].ravel(), kps[1, :, :2].ravel()])
  (tmp_path / "field.csv").write_text(",".join(["1"] * 33 + ["oops"] + ["1"] * 17) + "\n")
  expected = {
    "empty.npy": "no poses",
    "empty.csv": "no poses",
    "header_only.csv": "no poses",
    "zero.npy": "no poses",
    "bad_header.npy": "not a readable .npy/.npz file (",
    "bad_zip.npz": "not a readable .npy/.npz file (BadZipFile: ",
    "pickle.npy": "not a .npy or .npz file",
    "binary.csv": "cannot read CSV (UnicodeDecodeError: ",
    "shape.npy": "expected shape [F, J, 2], [F, J, 3], [J, 2] or [J, 3], got (2, 17, 4)",
    "text.npy": "expected a numeric (int or float) array, got dtype <U1",
    "row.csv": "row.csv:3: expected 51 values like line 2, got 50",
    "width.csv": "width.csv:2: expected 51 values like line 1, got 34",
    "field.csv": "field.csv:1: field 34 is not a number: 'oops'",
  }
  for name, reason in expected.items():
    with pytest.raises(K.KeypointFileError) as err:
      K.read_array(str(tmp_path / name), "coco17")
    message = str(err.value)
    assert message.startswith(str(tmp_path / name)) and reason in message and "\n" not in message, message
  (tmp_path / "short.csv").write_text("1,2,3\n")
  with pytest.raises(K.KeypointFileError, match=r"short\.csv:1: expected 34 or 51 values \(17 joints .*got 3"):
    K.read_array(str(tmp_path / "short.csv"), "coco17")
  (tmp_path / "p.txt").write_text("1")
  with pytest.raises(K.KeypointFileError, match=r"p\.txt: expected a \.npy, \.npz, \.csv file, got extension '\.txt'"):
    K.read_array(str(tmp_path / "p.txt"), "coco17")


def test_read_keypoints_dispatches_arrays(tmp_path):
  kps = _scored(np.random.default_rng(16), 2, 17)
  np.save(tmp_path / "p.npy", kps)
  np.savez(tmp_path / "p.npz", keypoints=kps)
  _write_csv(tmp_path / "p.csv", kps.reshape(2, -1))
  assert "array" in K.FORMATS
  for name in ("p.npy", "p.npz", "p.csv"):
    path = str(tmp_path / name)
    for kp in (K.read_keypoints(path, layout="coco17"), K.read_keypoints(path, "array", layout="coco17")):
      assert kp.layout == "coco17" and len(kp) == 2 and kp.mask.all()
      np.testing.assert_allclose(kp.poses[kp.mask], kps[..., :2][kp.mask], rtol=1e-6)
    assert K.read_keypoints(path, layout="coco17", min_score=0.5).mask.sum() == (kps[..., 2] >= 0.5).sum()
  for name, format in (("p.npy", None), ("p.npz", None), ("p.csv", "array")):
    with pytest.raises(K.KeypointFileError, match=r"p\.\w+: a plain array file needs layout=, one of \[.*'coco17'"):
      K.read_keypoints(str(tmp_path / name), format)
  with pytest.raises(K.KeypointFileError, match=r"p\.csv:1: no valid rows .*expected 33 fields"):  # MPII: no layout
    K.read_keypoints(str(tmp_path / "p.csv"))


def test_fuzz_regressions(tmp_path):
  """Inputs the fuzz tests (test_keypoints_fuzz.py) found to escape as other errors or inconsistent Keypoints."""
  # An integer past Python's 4300-digit parsing limit raised a plain ValueError from json.loads.
  (tmp_path / "long.json").write_text('{"annotations": [{"id": ' + "9" * 5000 + "}]}")
  with pytest.raises(K.KeypointFileError, match=r"long\.json: invalid JSON: ValueError: Exceeds the limit"):
    K.read_coco_json(str(tmp_path / "long.json"))
  # A finite confidence past float32's range became an infinite score.
  person = _openpose_person(np.ones((25, 2)), np.full(25, 1e300))
  kp = K.read_openpose(_write_json(tmp_path / "big_keypoints.json", {"people": [person]}))
  assert kp.mask.all() and np.isfinite(kp.scores).all() and kp.scores[0, 0] == np.finfo(np.float32).max
  kps = np.concatenate([np.ones((1, 17, 2)), np.full((1, 17, 1), 1e40)], -1)
  np.save(tmp_path / "big.npy", kps)
  assert np.isfinite(K.read_array(str(tmp_path / "big.npy"), "coco17").scores).all()
