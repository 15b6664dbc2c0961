"""Fuzz tests: every keypoint reader, on any input, returns a consistent Keypoints or raises KeypointFileError.

Inputs: random bytes; valid files cut short, with a byte changed or garbage appended; JSON of random and of nearly
right structure; CSV rows of about the right length with odd fields; arrays of random shape and dtype holding NaN
and inf. Any other exception, an error message that does not start with the path or spans lines, or a Keypoints
whose NaNs disagree with its mask is a reader bug. ``read_array``'s mask is also checked against an oracle.
"""

import contextlib
import functools
import io
import json
import os
import re
import tempfile

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as npst
import numpy as np
import pytest
import scipy.io

from lifting.core import skeleton
from lifting.data import keypoints as K

# KEYPOINTS_FUZZ_SCALE=20 multiplies every example count, for a longer hunt than the default run of a few seconds.
_SCALE = int(os.environ.get("KEYPOINTS_FUZZ_SCALE", "1"))


def _settings(max_examples):
  # The file I/O makes examples slow and uneven by Hypothesis's standards; neither is a bug here.
  return settings(
    max_examples=max_examples * _SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
  )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("fuzz"))


@contextlib.contextmanager
def _fresh(workdir):
  with tempfile.TemporaryDirectory(dir=workdir) as folder:
    yield folder


def _check(read, path, **kwargs):
  """The reader's Keypoints, checked for consistency, or the KeypointFileError it raised, checked for form."""
  try:
    kp = read(path, **kwargs)
  except K.KeypointFileError as e:
    message = str(e)
    assert message.startswith(path) and "\n" not in message, message
    return e
  for k in (kp, K.to_paper14(kp)):
    n, j = len(k), skeleton.get_layout(k.layout).num_joints
    assert k.poses.shape == (n, j, 2) and k.poses.dtype == np.float32
    assert np.isnan(k.poses[~k.mask]).all() and np.isfinite(k.poses[k.mask]).all()
    assert not (k.occluded & ~k.mask).any() and np.isfinite(k.scores).all()
    assert k.counts["poses"] == n and k.counts["joints_masked"] == (~k.mask).sum()
  return kp


# ----------------------------------------------------------------------------- valid files, as bytes


def _mat_bytes(joints):
  buf = io.BytesIO()
  scipy.io.savemat(buf, {"joints": joints})
  return buf.getvalue()


def _npy_bytes(arr):
  buf = io.BytesIO()
  np.save(buf, arr)
  return buf.getvalue()


def _npz_bytes(**arrays):
  buf = io.BytesIO()
  np.savez_compressed(buf, **arrays)
  return buf.getvalue()


def _csv_bytes(rows, header=None):
  lines = ([header] if header else []) + [",".join(repr(float(v)) for v in row) for row in rows]
  return ("\n".join(lines) + "\n").encode()


@functools.cache
def _valid(kind) -> bytes:
  """A small valid file of each kind, with a masked joint where the format has a way to say so."""
  rng = np.random.default_rng(0)
  xy = rng.uniform(1, 500, (2, 25, 2)).round(2)
  c = rng.uniform(0.1, 1, (2, 25)).round(3)
  c[0, 3] = 0
  if kind == "lsp":
    return _mat_bytes(np.concatenate([xy[:, :14], c[:, :14, None] > 0], -1).transpose(1, 2, 0))  # LSPET
  if kind == "mpii":
    xy[0, 3] = -1  # MPII's "not annotated"
    return "".join(f"im{i}.jpg," + ",".join(map(str, xy[i, :16].ravel())) + "\n" for i in range(2)).encode()
  if kind in ("coco", "any_json"):
    triples = np.concatenate([xy[:, :17], 2 * (c[:, :17, None] > 0)], -1).reshape(2, -1)
    anns = [{"id": i, "image_id": i, "keypoints": triples[i].tolist()} for i in range(2)]
    return json.dumps({"images": [{"id": 0, "file_name": "a.jpg"}], "annotations": anns}).encode()
  if kind == "openpose":
    people = [{"pose_keypoints_2d": np.concatenate([xy[i], c[i, :, None]], -1).ravel().tolist()} for i in range(2)]
    return json.dumps({"version": 1.3, "people": people}).encode()
  kps = np.concatenate([xy[:, :17], c[:, :17, None]], -1)
  kps[0, 3, :2] = np.nan  # missing, and marked so by confidence 0
  if kind == "npy":
    return _npy_bytes(kps)
  if kind == "npz":
    return _npz_bytes(keypoints=kps, frame_times=np.arange(2.0))
  return _csv_bytes(kps.reshape(2, -1), header=",".join(f"v{i}" for i in range(51)))


# (file name, reader, kwargs) per kind
_READERS = {
  "lsp": ("joints.mat", K.read_lsp, {}),
  "mpii": ("joints.csv", K.read_mpii_csv, {}),
  "coco": ("person_keypoints.json", K.read_coco_json, {}),
  "any_json": ("data.json", K.read_keypoints, {}),
  "openpose": ("f_keypoints.json", K.read_openpose, {}),
  "npy": ("poses.npy", K.read_array, {"layout": "coco17"}),
  "npz": ("poses.npz", K.read_array, {"layout": "coco17"}),
  "csv": ("poses.csv", K.read_keypoints, {"layout": "coco17"}),
}


def _read_bytes(workdir, kind, blob):
  name, read, kwargs = _READERS[kind]
  with _fresh(workdir) as folder:
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
      f.write(blob)
    return _check(read, path, **kwargs)


# ----------------------------------------------------------------------------- bytes


@pytest.mark.parametrize("kind", sorted(_READERS))
def test_valid_files_read(kind, workdir):
  kp = _read_bytes(workdir, kind, _valid(kind))
  assert isinstance(kp, K.Keypoints) and len(kp) == 2 and not kp.mask.all(), kp


@_settings(400)
@given(kind=st.sampled_from(sorted(_READERS)), blob=st.binary(max_size=400))
def test_random_bytes(kind, blob, workdir):
  _read_bytes(workdir, kind, blob)


@_settings(600)
@given(kind=st.sampled_from(sorted(_READERS)), data=st.data())
def test_truncated_or_corrupted_files(kind, data, workdir):
  valid = _valid(kind)
  blob = bytearray(valid[: data.draw(st.integers(0, len(valid)), "cut")])
  if blob and data.draw(st.booleans(), "corrupt"):
    blob[data.draw(st.integers(0, len(blob) - 1), "at")] = data.draw(st.integers(0, 255), "byte")
  blob += data.draw(st.binary(max_size=20), "tail")
  kp = _read_bytes(workdir, kind, bytes(blob))
  if blob == valid:
    assert isinstance(kp, K.Keypoints), kp


# ----------------------------------------------------------------------------- JSON

_json = st.recursive(
  st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
  lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
  max_leaves=12,
)
_number = st.integers(-(10**6), 10**6) | st.floats() | st.sampled_from([0, 1, 2, -1, 10**301, -1e300, 1e300])
# Mostly lists of plausible lengths (COCO 17, OpenPose 18 and 25 triples), sometimes with a foreign value inside.
_keypoint_list = st.one_of(
  st.sampled_from([51, 54, 75]).flatmap(lambda n: st.lists(_number, min_size=n, max_size=n)),
  st.tuples(st.sampled_from([51, 54, 75]), _json).map(lambda t: [1.0] * (t[0] - 1) + [t[1]]),
  st.lists(_number, max_size=80),
  _json,
)
_annotation = _json | st.fixed_dictionaries(
  {"image_id": st.integers(0, 2) | _json, "keypoints": _keypoint_list},
  optional={"id": _json, "iscrowd": st.sampled_from([0, 1]) | _json},
)
_image = st.fixed_dictionaries({}, optional={"id": st.integers(0, 2) | _json, "file_name": st.text(max_size=5) | _json})
_coco_doc = st.lists(_annotation, max_size=3) | st.fixed_dictionaries(
  {"annotations": st.lists(_annotation, max_size=3) | _json}, optional={"images": st.lists(_image, max_size=3) | _json}
)
_person = st.fixed_dictionaries({}, optional={"pose_keypoints_2d": _keypoint_list, "person_id": _json}) | _json
_openpose_doc = st.fixed_dictionaries({"people": st.lists(_person, max_size=3) | _json})
_doc = _json | _coco_doc | _openpose_doc


def _json_text(data, doc):
  """``doc`` as JSON text; sometimes with its first number replaced by one too long for Python's int parser."""
  text = json.dumps(doc)
  if data.draw(st.booleans(), "long number") and re.search(r"\d", text):
    text = re.sub(r"\d+", "9" * data.draw(st.integers(300, 5000)), text, count=1)
  return text.encode()


@_settings(400)
@given(kind=st.sampled_from(["coco", "any_json", "openpose"]), doc=_doc, data=st.data())
def test_random_json(kind, doc, data, workdir):
  _read_bytes(workdir, kind, _json_text(data, doc))


@_settings(100)
@given(docs=st.lists(_openpose_doc | _json | st.binary(max_size=30), min_size=1, max_size=3), data=st.data())
def test_openpose_folder(docs, data, workdir):
  with _fresh(workdir) as folder:
    for t, doc in enumerate(docs):
      blob = doc if isinstance(doc, bytes) else _json_text(data, doc)
      with open(os.path.join(folder, f"clip_{t:012d}_keypoints.json"), "wb") as f:
        f.write(blob)
    if data.draw(st.booleans(), "subfolder named like a frame"):
      os.mkdir(os.path.join(folder, f"clip_{len(docs):012d}_keypoints.json"))
    for read in (K.read_openpose, K.read_keypoints):
      _check(read, folder)


# ----------------------------------------------------------------------------- CSV text

_NUMERIC = ["1", "-1", "0", "0.5", "250.25", " 7 ", "1e999", "-inf", "nan", "1e5", "100001"]
_ODD = ["", " ", "a.jpg", '"3,4"', '"', "x", "\x00", "1_0", "\u0663", "0x10", "True", "\ud800"]


@st.composite
def _csv_text(draw):
  """Rows of mostly numbers, of about the lengths the readers want, some with an image name or one odd field."""
  rows = []
  for _ in range(draw(st.integers(0, 3))):
    n = draw(st.sampled_from([2, 32, 33, 34, 48, 51, 52]))
    row = draw(st.lists(st.sampled_from(_NUMERIC), min_size=n, max_size=n))
    if draw(st.booleans()):
      row[0] = draw(st.sampled_from(["a.jpg", "x0"]))  # an MPII image name, or a header's first field
    if draw(st.booleans()):
      row[draw(st.integers(0, n - 1))] = draw(st.sampled_from(_ODD) | st.text(max_size=3))
    rows.append(",".join(row))
  return draw(st.sampled_from(["\n", "\r\n", "\n\n"])).join(rows).encode("utf-8", "surrogatepass")


@_settings(300)
@given(text=_csv_text(), kind=st.sampled_from(["mpii", "csv", "csv16"]))
def test_random_csv(text, kind, workdir):
  with _fresh(workdir) as folder:
    path = os.path.join(folder, "joints.csv")
    with open(path, "wb") as f:
      f.write(text)
    if kind == "mpii":
      _check(K.read_mpii_csv, path)
    else:
      _check(K.read_array, path, layout="mpii16" if kind == "csv16" else "coco17")


# ----------------------------------------------------------------------------- arrays

_JOINT_COUNTS = (0, 1, 14, 16, 17, 18, 25)
_shapes = st.one_of(
  st.tuples(st.integers(0, 3), st.sampled_from(_JOINT_COUNTS), st.integers(0, 4)),  # [F, J, C]
  st.tuples(st.sampled_from(_JOINT_COUNTS), st.integers(0, 4)),  # [J, C]
  npst.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3),
)
_dtypes = st.sampled_from(["f8", "f4", "f2", "i8", "i1", "u8", "u1", "?", "c8", "U2", "m8[s]"])
_layouts = st.sampled_from(sorted(skeleton.LAYOUTS) + ["bogus"])


def _write_array(path, ext, arr, data):
  if ext == ".npy":
    blob = _npy_bytes(arr)
  elif ext == ".npz":
    extra = data.draw(st.lists(st.sampled_from(["keypoints", "poses", "x"]), max_size=2, unique=True), "npz names")
    blob = _npz_bytes(**{"arr_0" if not extra else extra[0]: arr, **{n: np.zeros(2) for n in extra[1:]}})
  else:
    rows = np.atleast_2d(arr)
    rows = rows.reshape(len(rows), -1) if arr.size else []
    # surrogatepass: random strings may hold lone surrogates; the file is then invalid UTF-8, as it may be in the wild
    blob = ("\n".join(",".join(str(v) for v in row) for row in rows) + "\n").encode("utf-8", "surrogatepass")
  with open(path, "wb") as f:
    f.write(blob)


@_settings(400)
@given(
  arr=npst.arrays(_dtypes, _shapes),
  ext=st.sampled_from([".npy", ".npz", ".csv"]),
  layout=_layouts,
  min_score=st.floats(-1, 2),
  data=st.data(),
)
def test_random_arrays(arr, ext, layout, min_score, data, workdir):
  with _fresh(workdir) as folder:
    path = os.path.join(folder, "poses" + ext)
    _write_array(path, ext, arr, data)
    _check(K.read_array, path, layout=layout, min_score=min_score)


_coords = st.floats(-2e5, 2e5, allow_nan=False) | st.sampled_from([np.nan, np.inf, -np.inf])
_scores = st.sampled_from([0.0, 1e-3, 0.3, 1.0, -1.0, 7.0])


@_settings(300)
@given(
  layout=st.sampled_from(sorted(skeleton.LAYOUTS)),
  frames=st.integers(1, 3),
  with_score=st.booleans(),
  ext=st.sampled_from([".npy", ".npz", ".csv"]),
  min_score=st.sampled_from([0.0, 0.05, 0.5]),
  data=st.data(),
)
def test_array_mask_matches_confidence(layout, frames, with_score, ext, min_score, data, workdir):
  """Oracle: masked exactly where confidence is 0 / low or the point is out of range; NaN elsewhere is an error."""
  j = skeleton.get_layout(layout).num_joints
  xy = data.draw(npst.arrays("f8", (frames, j, 2), elements=_coords), "xy")
  c = data.draw(npst.arrays("f8", (frames, j), elements=_scores), "c") if with_score else np.ones((frames, j))
  arr = np.concatenate([xy, c[..., None]], -1) if with_score else xy
  present = (c != 0) & (c >= min_score)
  bad = present & ~np.isfinite(xy).all(-1)
  with _fresh(workdir) as folder:
    path = os.path.join(folder, "poses" + ext)
    if ext == ".npz":  # the several-array cases are covered by test_random_arrays
      name = data.draw(st.sampled_from(["keypoints", "poses", "arr_0"]), "npz name")
      extra = {"frame_times": np.arange(frames)} if name != "arr_0" else {}
      with open(path, "wb") as f:
        f.write(_npz_bytes(**{name: arr}, **extra))
    else:
      _write_array(path, ext, arr, data)
    kp = _check(K.read_array, path, layout=layout, min_score=min_score)
  if bad.any():
    f, k = np.argwhere(bad)[0]
    assert isinstance(kp, K.KeypointFileError) and f"frame {f}, joint {k} " in str(kp), kp
    assert "confidence 0" in str(kp) and (kp.line == f + 1 if ext == ".csv" else kp.line is None)
    return
  assert isinstance(kp, K.Keypoints), kp
  np.testing.assert_array_equal(kp.mask, present & (np.abs(xy) <= K.MAX_ABS_COORD).all(-1))
  np.testing.assert_allclose(kp.poses[kp.mask], xy[kp.mask].astype(np.float32))
  np.testing.assert_allclose(kp.scores, c.astype(np.float32))


# ----------------------------------------------------------------------------- LSP .mat

_mat_shapes = st.one_of(
  st.tuples(st.just(3), st.just(14), st.integers(0, 3)),
  st.tuples(st.just(14), st.just(3), st.integers(0, 3)),
  st.just((3, 14)),
  npst.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4),
)
_mat_values = st.one_of(
  npst.arrays(st.sampled_from(["f8", "f4", "i2", "u1", "?", "c16"]), _mat_shapes),
  st.text(max_size=4),
  st.dictionaries(st.sampled_from(["a", "b"]), npst.arrays("f8", (2,)), max_size=2),
)


@_settings(200)
@given(joints=_mat_values, name=st.sampled_from(["joints", "points"]), variant=st.sampled_from([None, "lsp", "lspet"]))
def test_random_mat(joints, name, variant, workdir):
  with _fresh(workdir) as folder:
    path = os.path.join(folder, "joints.mat")
    scipy.io.savemat(path, {name: joints})
    _check(K.read_lsp, path, variant=variant)
