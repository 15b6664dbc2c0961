"""Readers for 2D keypoint files: LSP/LSPET ``joints.mat``, MPII CSV, COCO JSON, OpenPose JSON and plain arrays.

Each reader returns a ``Keypoints`` in the file's own layout (see ``lifting.core.skeleton``); ``to_paper14``
converts it to the library's 14-joint layout. A joint that cannot be trusted (not annotated, flagged
unreliable, below the confidence threshold, non-finite, or absurdly out of range) gets ``mask`` False and
NaN coordinates, so it can never leak into training as a real point; ``counts`` says how many were masked
and why. Missing or malformed files raise ``KeypointFileError`` naming the file (and line where known).
``read_array`` is stricter about NaN: plain arrays come from users' own exports, where a non-finite point that
its confidence does not mark missing is a bug to report, not a joint to mask.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import glob
import json
import os

from absl import logging
import numpy as np

from lifting.core import skeleton

FORMATS: tuple[str, ...] = ("lsp", "lspet", "mpii_csv", "coco", "openpose", "array")
# Real images are at most a few thousand pixels wide; a coordinate past this is a corrupt value.
MAX_ABS_COORD = 1e5
_MAX_ROW_WARNINGS = 5  # per file, so a broken file cannot flood the log
_F32_MAX = float(np.finfo(np.float32).max)


class KeypointFileError(ValueError):
  """A keypoint file is missing or malformed. Message: ``"{path}: {reason}"`` or ``"{path}:{line}: {reason}"``."""

  def __init__(self, path, reason: str, line: int | None = None):
    self.path, self.reason, self.line = os.fspath(path), reason, line
    super().__init__(f"{self.path}{'' if line is None else f':{line}'}: {reason}")

  def __reduce__(self):  # the default would re-call __init__ with the message only
    return type(self), (self.path, self.reason, self.line)


@dataclasses.dataclass(frozen=True)
class Keypoints:
  """N 2D poses from one file or folder. ``poses`` is NaN exactly where ``~mask``; ``occluded`` implies ``mask``."""

  poses: np.ndarray  # [N, J, 2] float32 pixels in `layout`
  mask: np.ndarray  # [N, J] bool: position usable (annotated, finite, in range, trusted, confident enough)
  occluded: np.ndarray  # [N, J] bool: usable, but marked occluded/invisible by the source
  scores: np.ndarray  # [N, J] float32: 1/0 for manual annotations (trusted or not), detector confidence otherwise
  layout: str  # a name in skeleton.LAYOUTS
  ids: tuple[str, ...]  # [N] where each pose came from: image name, row, person index
  source: str  # the file or folder read
  counts: dict[str, int]  # diagnostics: "poses", "joints_masked", "poses_dropped" and reason-specific keys

  def __post_init__(self):
    object.__setattr__(self, "ids", tuple(self.ids))
    n, j = len(self.ids), skeleton.get_layout(self.layout).num_joints
    for name, shape in (("poses", (n, j, 2)), ("mask", (n, j)), ("occluded", (n, j)), ("scores", (n, j))):
      if getattr(self, name).shape != shape:
        raise ValueError(f"Keypoints.{name}: expected shape {shape}, got {getattr(self, name).shape}")

  def __len__(self) -> int:
    return len(self.ids)


def _one_line(e: BaseException) -> str:
  """``"Type: message"`` with whitespace runs collapsed, so a library's multi-line message stays one log line."""
  return " ".join(f"{type(e).__name__}: {e}".split())


def _check_exists(path) -> str:
  path = os.fspath(path)
  if not os.path.exists(path):
    raise KeypointFileError(path, "file not found")
  return path


def _finish(path, layout, kps, usable, occluded, scores, ids, counts, lo=-MAX_ABS_COORD, hi=MAX_ABS_COORD):
  """Masks non-finite / out-of-range joints among the ``usable`` ones and packs a Keypoints. kps: [N, J, >=2]."""
  if not len(ids):  # Lifting nothing and exiting 0 would hide a wrong file or filter.
    dropped = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
    raise KeypointFileError(path, "no poses" + (f" ({dropped})" if dropped else ""))
  xy = np.asarray(kps, np.float64)[..., :2]
  finite = np.isfinite(xy).all(-1)
  in_range = ((xy >= lo) & (xy <= hi)).all(-1)
  mask = usable & finite & in_range
  counts = {
    "poses": len(ids),
    "joints_masked": int((~mask).sum()),
    "poses_dropped": 0,
    "joints_nonfinite": int((usable & ~finite).sum()),
    "joints_out_of_range": int((usable & finite & ~in_range).sum()),
    **counts,
  }
  poses = np.where(mask[..., None], xy, np.nan).astype(np.float32)
  # A finite score past float32's range (a corrupt file) would become inf in the cast.
  scores = np.asarray(scores, np.float64)
  scores = np.where(np.isfinite(scores), np.clip(scores, -_F32_MAX, _F32_MAX), 0.0).astype(np.float32)
  # Every file's tally goes to the log, so masked or dropped poses are never silent.
  logging.info("%s: %s", path, ", ".join(f"{k} {v}" for k, v in counts.items()))
  return Keypoints(poses, mask, occluded & mask, scores, layout, ids, path, counts)


def read_lsp(path, variant: str | None = None, image_size: tuple[int, int] | None = None) -> Keypoints:
  """LSP (``joints`` [3, 14, N]) or LSPET (``joints`` [14, 3, N]) ``joints.mat`` -> layout 'lsp14'.

  ``variant`` 'lsp' | 'lspet' | None (from the shape). The flag means opposite things: in LSP 1 = occluded
  (position still annotated, so usable), in LSPET 1 = visible and flag-0 coordinates are unreliable (masked).
  ``image_size`` (width, height): also mask points further outside the image than its own size.
  """
  path = _check_exists(path)
  if variant not in (None, "lsp", "lspet"):
    raise ValueError(f"variant must be 'lsp', 'lspet' or None, got {variant!r}")
  if os.path.getsize(path) == 0:
    raise KeypointFileError(path, "file is empty")
  import scipy.io  # A third of a second: only for .mat files.
  try:
    mat = scipy.io.loadmat(path)
  except Exception as e:  # scipy signals bad files with many types (MatReadError, ValueError, TypeError, ...)
    raise KeypointFileError(path, f"not a readable MATLAB v5 file ({type(e).__name__}: {e})") from e
  if "joints" not in mat:
    found = sorted(k for k in mat if not k.startswith("__"))
    raise KeypointFileError(path, f"no 'joints' variable (found {found})")
  joints = mat["joints"]
  if not isinstance(joints, np.ndarray) or joints.dtype.kind not in "iuf":
    raise KeypointFileError(path, f"'joints' must be a numeric array, got {getattr(joints, 'dtype', type(joints))}")
  if joints.ndim == 2:  # MATLAB drops a trailing singleton axis, so one person loads as 2D
    joints = joints[..., None]
  shape_variant = {(3, 14): "lsp", (14, 3): "lspet"}.get(joints.shape[:2]) if joints.ndim == 3 else None
  if shape_variant is None or variant not in (None, shape_variant):
    want = {"lsp": "(3, 14, N)", "lspet": "(14, 3, N)", None: "(3, 14, N) for LSP or (14, 3, N) for LSPET"}
    raise KeypointFileError(path, f"'joints' must have shape {want[variant]}, got {joints.shape}")
  kps = joints.transpose(2, 1, 0) if shape_variant == "lsp" else joints.transpose(2, 0, 1)  # [N, 14, 3]
  flag, n = kps[..., 2] > 0.5, len(kps)
  if shape_variant == "lsp":
    usable, occluded, counts = np.ones_like(flag), flag, {}
    ids = tuple(f"im{i + 1:04d}.jpg" for i in range(n))
  else:
    usable, occluded, counts = flag, np.zeros_like(flag), {"joints_invisible": int((~flag).sum())}
    ids = tuple(f"im{i + 1:05d}.jpg" for i in range(n))
  lo, hi = -MAX_ABS_COORD, MAX_ABS_COORD
  if image_size is not None:
    size = np.asarray(image_size, np.float64)
    if size.shape != (2,) or not (size > 0).all():
      raise ValueError(f"image_size must be (width, height) > 0, got {image_size!r}")
    lo, hi = np.maximum(-size, lo), np.minimum(2 * size, hi)
  return _finish(path, "lsp14", kps, usable, occluded, usable.astype(np.float32), ids, counts, lo, hi)


def _mpii_row(row, num_values):
  """(image name, [2 * J] floats) or (None, reason)."""
  if len(row) != 1 + num_values:
    return None, f"expected {1 + num_values} fields (image name, x0, y0, ..., x15, y15), got {len(row)}"
  if not row[0].strip():
    return None, "empty image name"
  values = []
  for k, field in enumerate(row[1:], start=2):
    try:
      values.append(float(field))
    except ValueError:
      return None, f"field {k} is not a number: {field!r}"
  return row[0].strip(), values


def read_mpii_csv(path) -> Keypoints:
  """MobilePose's MPII CSV (no header; ``image_name, x0, y0, ..., x15, y15`` per person) -> layout 'mpii16'.

  Malformed rows are skipped, logged with their line and counted in ``counts["rows_malformed"]``; a file
  with no valid row raises. ids are ``f"{image_name}#row{line}"``.
  """
  path = _check_exists(path)
  num_values = 2 * skeleton.get_layout("mpii16").num_joints
  ids, rows, bad, first_bad, line = [], [], 0, None, None
  try:
    with open(path, newline="", encoding="utf-8") as f:
      reader = csv.reader(f)
      for row in reader:
        line = reader.line_num
        if not any(field.strip() for field in row):
          continue
        name, values = _mpii_row(row, num_values)
        if name is None:
          bad += 1
          first_bad = first_bad or (line, values)
          if bad <= _MAX_ROW_WARNINGS:
            logging.warning("%s:%d: %s; row skipped", path, line, values)
          continue
        ids.append(f"{name}#row{line}")
        rows.append(values)
  except (OSError, UnicodeDecodeError, csv.Error) as e:
    raise KeypointFileError(path, f"cannot read CSV ({type(e).__name__}: {e})", line) from e
  if bad > _MAX_ROW_WARNINGS:
    logging.warning("%s: %d malformed rows skipped in all", path, bad)
  if not rows:
    if first_bad is None:
      raise KeypointFileError(path, "file is empty")
    raise KeypointFileError(path, f"no valid rows ({bad} malformed); first: {first_bad[1]}", first_bad[0])
  kps = np.asarray(rows, np.float64).reshape(len(rows), num_values // 2, 2)
  # The official MPII release marks unannotated joints as (-1, -1); other conversions may keep that marker.
  usable = ~(kps == -1).all(-1)
  counts = {"rows_malformed": bad, "poses_dropped": bad, "joints_missing_marker": int((~usable).sum())}
  zeros = np.zeros_like(usable)
  return _finish(path, "mpii16", kps, usable, zeros, usable.astype(np.float32), ids, counts)


def _load_json(path):
  try:
    with open(path, encoding="utf-8") as f:
      text = f.read()
  except (OSError, UnicodeDecodeError) as e:
    raise KeypointFileError(path, f"cannot read ({type(e).__name__}: {e})") from e
  if not text.strip():
    raise KeypointFileError(path, "file is empty")
  try:
    return json.loads(text)
  except json.JSONDecodeError as e:
    raise KeypointFileError(path, f"invalid JSON: {e.msg} (column {e.colno})", e.lineno) from e
  except RecursionError as e:
    raise KeypointFileError(path, "invalid JSON: nested too deeply") from e
  except ValueError as e:  # Python refuses integers of more than sys.get_int_max_str_digits() digits
    raise KeypointFileError(path, f"invalid JSON: {_one_line(e)}") from e


def _numbers(path, values, sizes, what) -> list:
  """Checks a JSON keypoint list: a list of ``sizes`` ints/floats (bools, strings and nulls are rejected)."""
  if not isinstance(values, list) or len(values) not in sizes:
    got = f"{len(values)} values" if isinstance(values, list) else type(values).__name__
    raise KeypointFileError(path, f"{what}: expected {' or '.join(map(str, sizes))} numbers, got {got}")
  bad = [v for v in values if type(v) not in (int, float)]
  if bad:
    raise KeypointFileError(path, f"{what}: expected numbers, got {bad[0]!r}")
  if any(type(v) is int and abs(v) > 1e300 for v in values):  # would overflow float64
    raise KeypointFileError(path, f"{what}: number too large")
  return values


def read_coco_json(path, min_score: float = 0.0) -> Keypoints:
  """COCO keypoint annotations (dict with "annotations"/"images") or results list -> layout 'coco17'.

  Annotations: v=0 not annotated (masked), v=1 occluded (usable), v=2 visible; crowd and keypoint-less
  annotations are dropped and counted; ids ``f"{file_name}#ann{id}"``. Results: the third value is a
  confidence, usable iff > ``min_score``; ids ``f"{image_id}#det{index}"``.
  """
  path = _check_exists(path)
  return _coco(path, _load_json(path), min_score)


def _coco(path, data, min_score=0.0):
  num_values = 3 * skeleton.get_layout("coco17").num_joints
  detections = isinstance(data, list)
  if detections:
    entries, names, counts = data, {}, {}
  elif isinstance(data, dict) and isinstance(data.get("annotations"), list):
    entries, counts = data["annotations"], {"annotations_crowd": 0, "annotations_empty": 0}
    images = data.get("images", [])
    if not isinstance(images, list) or not all(isinstance(im, dict) for im in images):
      raise KeypointFileError(path, "'images' must be a list of objects")
    names = {im.get("id"): im.get("file_name") for im in images if isinstance(im.get("id"), (int, str))}
  else:
    raise KeypointFileError(path, "expected a COCO annotation object with an 'annotations' list or a results list")
  rows, ids = [], []
  for k, entry in enumerate(entries):
    what = f"{'result' if detections else 'annotation'} {k}"
    if not isinstance(entry, dict):
      raise KeypointFileError(path, f"{what}: expected an object, got {type(entry).__name__}")
    if not detections and entry.get("iscrowd"):
      counts["annotations_crowd"] += 1
      continue
    image = entry.get("image_id")
    if type(image) not in (int, str):
      raise KeypointFileError(path, f"{what}: 'image_id' must be an integer or string, got {image!r}")
    values = _numbers(path, entry.get("keypoints"), (num_values,), f"{what}: 'keypoints'")
    if not detections and not any(v > 0 for v in values[2::3]):
      counts["annotations_empty"] += 1
      continue
    rows.append(values)
    ids.append(f"{image}#det{k}" if detections else f"{names.get(image) or image}#ann{entry.get('id', k)}")
  kps = np.asarray(rows, np.float64).reshape(len(rows), num_values // 3, 3)
  c = kps[..., 2]
  if detections:
    usable, occluded, scores = c > min_score, np.zeros(c.shape, bool), c
    counts["joints_low_score"] = int((~usable).sum())
  else:
    usable, occluded = c > 0, c == 1
    scores = usable.astype(np.float32)
    counts.update(poses_dropped=sum(counts.values()), joints_unannotated=int((~usable).sum()))
  return _finish(path, "coco17", kps, usable, occluded, scores, ids, counts)


_OPENPOSE_LAYOUTS = {25: "openpose25", 18: "openpose18"}


def read_openpose(path, min_score: float = 0.05) -> Keypoints:
  """OpenPose JSON file, or a folder of ``*_keypoints.json`` in name (= frame) order -> 'openpose25' / '18'.

  Joints OpenPose did not detect (written as 0, 0, 0) and joints with confidence <= ``min_score`` are masked.
  ids are ``f"{file_name}#person{i}"``; frames without people add no pose (``counts["frames_empty"]``).
  """
  path = _check_exists(path)
  if not os.path.isdir(path):
    return _openpose(path, [(path, _load_json(path))], min_score)
  files = sorted(glob.glob(os.path.join(glob.escape(path), "*_keypoints.json")))
  if not files:
    raise KeypointFileError(path, "folder has no *_keypoints.json files")
  return _openpose(path, ((f, _load_json(f)) for f in files), min_score)


def _openpose(source, frames, min_score=0.05):
  rows, ids, first, num_frames, empty = [], [], None, 0, 0
  for file, data in frames:
    num_frames += 1
    people = data.get("people") if isinstance(data, dict) else None
    if not isinstance(people, list):
      raise KeypointFileError(file, "expected a JSON object with a 'people' list")
    empty += not people
    for i, person in enumerate(people):
      if not isinstance(person, dict):
        raise KeypointFileError(file, f"person {i}: expected an object, got {type(person).__name__}")
      values = person.get("pose_keypoints_2d")
      what = f"person {i}: 'pose_keypoints_2d' (BODY_25 or COCO-18 [x, y, c] triples)"
      values = _numbers(file, values, tuple(3 * k for k in _OPENPOSE_LAYOUTS), what)
      first = first or (len(values) // 3, file)
      if len(values) // 3 != first[0]:
        reason = f"person {i} has {len(values) // 3} keypoints but {first[1]} has {first[0]}; mixed models"
        raise KeypointFileError(file, reason)
      rows.append(values)
      ids.append(f"{os.path.basename(file)}#person{i}")
  layout = _OPENPOSE_LAYOUTS[first[0] if first else 25]
  kps = np.asarray(rows, np.float64).reshape(len(rows), skeleton.get_layout(layout).num_joints, 3)
  undetected = (kps == 0).all(-1)
  low = ~undetected & ~(kps[..., 2] > min_score)
  counts = {
    "frames": num_frames,
    "frames_empty": empty,
    "joints_undetected": int(undetected.sum()),
    "joints_low_score": int(low.sum()),
  }
  usable = ~undetected & ~low
  return _finish(source, layout, kps, usable, np.zeros_like(usable), kps[..., 2], ids, counts)


_ARRAY_EXTENSIONS = (".npy", ".npz", ".csv")
_NPZ_NAMES = ("keypoints", "poses")  # which array of a several-array .npz holds the poses


def _load_numpy(path) -> np.ndarray:
  """The keypoint array of a ``.npy`` file, or of a ``.npz`` (its only array, or the one in ``_NPZ_NAMES``)."""
  try:
    with open(path, "rb") as f:
      magic = f.read(6)
  except OSError as e:
    raise KeypointFileError(path, f"cannot read ({_one_line(e)})") from e
  # np.load tries to unpickle anything without these (its test for .npy / zip); its error would blame pickles.
  if magic != b"\x93NUMPY" and magic[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):
    raise KeypointFileError(path, f"not a .npy or .npz file (starts with {magic!r})")
  try:
    loaded = np.load(path, allow_pickle=False)
    if not isinstance(loaded, np.lib.npyio.NpzFile):
      return loaded
    with loaded:
      names = list(loaded.files)
      picked = names if len(names) == 1 else [n for n in _NPZ_NAMES if n in names]
      if len(picked) != 1:
        raise KeypointFileError(path, f"expected one array, or one named 'keypoints' or 'poses', got {names}")
      return loaded[picked[0]]
  except KeypointFileError:
    raise
  except Exception as e:  # numpy and zipfile signal corrupt files with many types (ValueError, EOFError, ...)
    raise KeypointFileError(path, f"not a readable .npy/.npz file ({_one_line(e)})") from e


def _float_or_none(field: str) -> float | None:
  try:
    return float(field)
  except ValueError:
    return None


def _load_csv(path, num_joints: int) -> tuple[np.ndarray, list[int]]:
  """``[F, J * C]`` floats (C = 2 or 3) and the line of each row; skips blank lines and a first header row."""
  rows, lines, line, header = [], [], None, False
  try:
    with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: spreadsheets often start with a BOM
      reader = csv.reader(f)
      for row in reader:
        line = reader.line_num
        if not any(field.strip() for field in row):
          continue
        values = [_float_or_none(field) for field in row]
        if not rows and not header and all(v is None for v in values):
          header = True
          continue
        if None in values:
          k = values.index(None)
          raise KeypointFileError(path, f"field {k + 1} is not a number: {row[k]!r}", line)
        if rows and len(values) != len(rows[0]):
          raise KeypointFileError(path, f"expected {len(rows[0])} values like line {lines[0]}, got {len(values)}", line)
        if len(values) not in (2 * num_joints, 3 * num_joints):
          want = f"{2 * num_joints} or {3 * num_joints} values ({num_joints} joints as x, y or x, y, confidence)"
          raise KeypointFileError(path, f"expected {want}, got {len(values)}", line)
        rows.append(values)
        lines.append(line)
  except (OSError, UnicodeDecodeError, csv.Error) as e:
    raise KeypointFileError(path, f"cannot read CSV ({_one_line(e)})", line) from e
  if not rows:
    raise KeypointFileError(path, "no poses (only a header or blank lines)" if header else "no poses (file is empty)")
  return np.asarray(rows, np.float64), lines


def read_array(path, layout: str, min_score: float = 0.0) -> Keypoints:
  """One person's 2D keypoints over frames in a ``.npy``, ``.npz`` or ``.csv`` file -> ``layout``.

  Arrays are ``[F, J, 2]`` (x, y) or ``[F, J, 3]`` (x, y, confidence); ``[J, 2|3]`` is one frame. A ``.npz``
  holds one array, or several with one named "keypoints" or "poses". A CSV has one frame per row
  (``x0, y0[, c0], x1, ...``), an optional header row first and no other text.
  Joints with confidence 0 or < ``min_score`` are masked, and so are coordinates past ``MAX_ABS_COORD``.
  Non-finite coordinates anywhere else are an error, not a mask: a silently dropped NaN would hide a broken
  export. ids are ``f"frame{i:06d}"``.
  """
  path = _check_exists(path)
  if not isinstance(layout, str) or layout not in skeleton.LAYOUTS:
    raise KeypointFileError(path, f"unknown layout {layout!r}; known layouts are {sorted(skeleton.LAYOUTS)}")
  if not np.isfinite(min_score):
    raise ValueError(f"min_score must be a finite number, got {min_score!r}")
  joint_names = skeleton.get_layout(layout).joints
  j = len(joint_names)
  ext = os.path.splitext(path)[1].lower()
  if ext not in _ARRAY_EXTENSIONS:
    raise KeypointFileError(path, f"expected a {', '.join(_ARRAY_EXTENSIONS)} file, got extension {ext!r}")
  if os.path.isfile(path) and os.path.getsize(path) == 0:
    raise KeypointFileError(path, "no poses (file is empty)")
  lines = None
  if ext == ".csv":
    flat, lines = _load_csv(path, j)
    arr = flat.reshape(len(flat), j, -1)
  else:
    arr = _load_numpy(path)
    if arr.dtype.kind not in "iuf":
      raise KeypointFileError(path, f"expected a numeric (int or float) array, got dtype {arr.dtype}")
    if arr.ndim == 2:  # one frame
      arr = arr[None]
    if arr.ndim != 3 or arr.shape[2] not in (2, 3):
      raise KeypointFileError(path, f"expected shape [F, J, 2], [F, J, 3], [J, 2] or [J, 3], got {arr.shape}")
    if arr.shape[1] != j:
      raise KeypointFileError(path, f"expected {j} joints for layout {layout}, got {arr.shape[1]}")
    if not len(arr):
      raise KeypointFileError(path, "no poses (zero frames)")
    with np.errstate(over="ignore"):  # float128 past float64's range becomes inf, reported below
      arr = arr.astype(np.float64)

  def fail(bad, what, fix):
    f, k = (int(i) for i in np.argwhere(bad)[0])
    line = None if lines is None else lines[f]
    where = f"frame {f}, joint {k} ({joint_names[k]}) = {arr[f, k].tolist()}"
    raise KeypointFileError(path, f"{where}: {what}; {fix}", line)

  xy = arr[..., :2]
  if arr.shape[2] == 3:
    c = arr[..., 2]
    if not np.isfinite(c).all():
      fail(~np.isfinite(c), "non-finite confidence", "write 0 for a missing joint")
    zero, low = c == 0, (c != 0) & (c < min_score)
    usable = ~zero & ~low
    fix = "mark missing joints with confidence 0"
  else:
    c, usable = np.ones(arr.shape[:2]), np.ones(arr.shape[:2], bool)
    zero = low = ~usable
    fix = "mark missing joints with confidence 0 (store x, y, confidence)"
  nonfinite = usable & ~np.isfinite(xy).all(-1)
  if nonfinite.any():
    fail(nonfinite, "non-finite coordinates at a joint not marked missing", fix)
  ids = tuple(f"frame{i:06d}" for i in range(len(arr)))
  counts = {"joints_missing": int(zero.sum()), "joints_low_score": int(low.sum())}
  return _finish(path, layout, arr, usable, np.zeros_like(usable), c, ids, counts)


def convert(kp: Keypoints, layout: str, dtype=np.float32) -> Keypoints:
  """Converts to ``layout`` with ``skeleton.conversion_matrix``, computing in ``dtype``.

  A target joint is the W-weighted average of its source joints and is usable only if all of them are;
  it is occluded if any source is, and its score is the sources' minimum. Joints the source layout cannot
  provide are masked. Where they are not all usable, a joint listed in ``skeleton.FALLBACKS_TO_PAPER14``
  (paper14's head from COCO / OpenPose) comes from the first fallback group with a usable joint instead:
  the ears, else the eyes, else the nose.
  """
  dst = skeleton.get_layout(layout)
  W, valid = skeleton.conversion_matrix(kp.layout, dst)  # [J_dst, J], [J_dst]
  uses = W != 0
  mask = valid & ~(uses & ~kp.mask[:, None, :]).any(-1)  # [N, J_dst]
  xy = np.einsum("ds,nsc->ndc", W.astype(dtype), np.where(kp.mask[..., None], kp.poses.astype(dtype), 0.0))
  occluded = (uses & kp.occluded[:, None, :]).any(-1)
  scores = np.where(valid, np.where(uses, kp.scores[:, None, :], np.inf).min(-1, initial=np.inf), 0.0)
  src = skeleton.get_layout(kp.layout)
  fallbacks = skeleton.FALLBACKS_TO_PAPER14.get(src.name, {}) if dst.name == "paper14" else {}
  for name, groups in fallbacks.items():
    d = dst.index(name)
    todo = ~mask[:, d]  # [N]
    for group in groups:
      members = [src.index(j) for j in group]
      usable = kp.mask[:, members] & todo[:, None]  # [N, G]
      take = usable.any(-1)
      weight = (usable[take] / usable[take].sum(-1, keepdims=True)).astype(dtype)  # [T, G]
      xy[take, d] = np.einsum("tg,tgc->tc", weight, np.nan_to_num(kp.poses[take][:, members].astype(dtype)))
      occluded[take, d] = (usable[take] & kp.occluded[take][:, members]).any(-1)
      scores[take, d] = np.where(usable[take], kp.scores[take][:, members], np.inf).min(-1)
      mask[take, d] = True
      todo &= ~take
  poses = np.where(mask[..., None], xy, np.nan).astype(dtype)
  occluded &= mask
  counts = {**kp.counts, "joints_masked": int((~mask).sum())}
  return Keypoints(poses, mask, occluded, scores.astype(np.float32), dst.name, kp.ids, kp.source, counts)


def to_paper14(kp: Keypoints) -> Keypoints:
  """`convert` to the library's 14-joint layout 'paper14'."""
  return convert(kp, "paper14")


def _read_array_kwargs(path, **kwargs) -> Keypoints:
  if "layout" not in kwargs:
    raise KeypointFileError(path, f"a plain array file needs layout=, one of {sorted(skeleton.LAYOUTS)}")
  return read_array(path, **kwargs)


def infer_format(path, format: str | None = None, layout: str | None = None) -> str:
  """The reader `read_keypoints` would use for ``path`` (one of ``FORMATS``), without reading the keypoints."""
  if format is not None:
    return format
  path = str(path)
  ext = os.path.splitext(path)[1].lower()
  if os.path.isdir(path):
    return "openpose"
  if ext == ".mat":
    return "lsp"
  if ext in (".npy", ".npz") or (ext == ".csv" and layout):
    return "array"
  if ext == ".csv":
    return "mpii_csv"
  if ext == ".json":
    return "coco or openpose JSON"
  return f"an unknown format ({ext or 'no extension'})"


def read_keypoints(path, format: str | None = None, **kwargs) -> Keypoints:
  """Reads any supported file; ``format`` is one of ``FORMATS`` or None to infer it from the path.

  Inference: ``.mat`` -> LSP/LSPET by array shape, ``.npy``/``.npz`` -> ``read_array``, ``.csv`` -> ``read_array``
  when ``layout=`` is given and MPII otherwise, a folder or a JSON object with "people" -> OpenPose, any other
  JSON -> COCO. ``kwargs`` go to the reader; array files need ``layout=``.
  """
  path = _check_exists(path)
  readers = {
    "lsp": functools.partial(read_lsp, variant="lsp"),
    "lspet": functools.partial(read_lsp, variant="lspet"),
    "mpii_csv": read_mpii_csv,
    "coco": read_coco_json,
    "openpose": read_openpose,
    "array": _read_array_kwargs,
  }
  if format is not None:
    if format not in readers:
      raise KeypointFileError(path, f"unknown format {format!r}; expected one of {FORMATS}")
    return readers[format](path, **kwargs)
  ext = os.path.splitext(path)[1].lower()
  if os.path.isdir(path):
    return read_openpose(path, **kwargs)
  if ext == ".mat":
    return read_lsp(path, **kwargs)
  # MPII rows start with an image name, so a .csv is a plain array exactly when the caller names its layout.
  if ext in (".npy", ".npz") or (ext == ".csv" and "layout" in kwargs):
    return _read_array_kwargs(path, **kwargs)
  if ext == ".csv":
    return read_mpii_csv(path, **kwargs)
  if ext == ".json":
    data = _load_json(path)
    if isinstance(data, dict) and "people" in data:
      return _openpose(path, [(path, data)], **kwargs)
    return _coco(path, data, **kwargs)
  raise KeypointFileError(path, f"cannot infer the format from extension {ext!r}; pass format= one of {FORMATS}")
