"""MPI-INF-3DHP (Mehta et al., 3DV 2017): the official test set, its training subjects, and its protocol.

MPI-INF-3DHP is the paper's second benchmark (Chen et al., CVPR 2019, Table 2: a Human3.6M-trained
lifter tested on it, PCK and AUC). Nothing is downloaded here: point ``data.mpi_inf_3dhp.root`` at
your copy (the folder that holds ``mpi_inf_3dhp_test_set/`` and, for training, ``S1/`` ... ``S8/``).

Test set (``mpi_inf_3dhp_test_set/TS1`` ... ``TS6/annot_data.mat``, MATLAB v7.3 = HDF5, read with
h5py, which shows MATLAB's arrays with their axes reversed):

* ``annot2`` ``[N, 1, 17, 2]`` pixels; ``annot3`` ``[N, 1, 17, 3]`` camera-frame millimetres;
  ``univ_annot3`` the same poses rescaled to the "universal" skeleton (Human3.6M's bone lengths),
  on which the protocol's errors are computed; ``valid_frame`` ``[N, 1]`` (frames without a valid
  annotation are left out of the protocol); ``activity_annotation`` ``[N, 1]``, 1-7 (`ACTIVITIES`).
* 17 joints in `lifting.core.skeleton`'s ``mpi_inf_3dhp17`` order; to paper14 as for Human3.6M: the
  "neck" (H36M's thorax) is paper14's neck and the head top its head.
* TS1-TS2 are filmed in the studio with a green screen, TS3-TS4 without, TS5-TS6 outdoors.
* The files hold no intrinsics; they are fitted to each sequence's ``annot2``/``annot3`` pairs
  (`fit_intrinsics`, a pinhole by linear least squares), which also checks that the 2D and 3D belong
  together (``MAX_RMS_PX``).

Training subjects (``S1`` ... ``S8/Seq1``, ``Seq2/annot.mat``, MATLAB v5, read with scipy, or v7.3):
``annot2`` / ``annot3`` hold one ``[N, 28 * 2]`` / ``[N, 28 * 3]`` array per camera, 28 joints
(`TRAIN_TO_TEST`: the 17 of the test set among them). By convention the chest-high cameras 0-2 and
4-8 are used (`TRAIN_CAMERAS`).

Protocol (`protocol_metrics`): PCK at 150 mm and AUC over 0-150 mm in 5 mm steps, on the universal
skeleton, per activity and overall, on the 14 paper14 joints. Papers differ in the alignment, so each
is offered by name: ``"none"`` (root-relative only: Mehta et al.'s own, for methods that predict
millimetres), ``"scale"`` (a least-squares scale about the root, as in Rhodin et al.'s NPCK) and
``"procrustes"`` (a similarity transform, as in most unsupervised lifting papers). Our lifters
predict poses up to scale, so their ``"none"`` numbers are not meaningful and are reported only for
completeness.
"""

from __future__ import annotations

import glob
import os

import numpy as np

from lifting.core import geometry
from lifting.core import metrics
from lifting.core import skeleton
from lifting.data.sequences import PoseSequences

TEST_SEQUENCES = ("TS1", "TS2", "TS3", "TS4", "TS5", "TS6")
SCENES = {"TS1": "green screen", "TS2": "green screen", "TS3": "studio", "TS4": "studio", "TS5": "outdoor",
          "TS6": "outdoor"}
ACTIVITIES = {1: "stand/walk", 2: "exercise", 3: "sit on chair", 4: "reach/crouch", 5: "on the floor", 6: "sports",
              7: "miscellaneous"}
TRAIN_SUBJECTS = ("S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8")
TRAIN_CAMERAS = (0, 1, 2, 4, 5, 6, 7, 8)
# The test set's 17 joints among the training annotations' 28 (0-based).
TRAIN_TO_TEST = (7, 5, 14, 15, 16, 9, 10, 11, 23, 24, 25, 18, 19, 20, 4, 3, 6)
ALIGNMENTS = metrics.ALIGNMENTS
MAX_RMS_PX = 20.0
TEST_FIELDS = ("annot2", "annot3", "univ_annot3", "valid_frame", "activity_annotation")
DOWNLOAD = ("get MPI-INF-3DHP from its authors (https://vcai.mpi-inf.mpg.de/3dhp-dataset/) and point "
            "--config.data.mpi_inf_3dhp.root at the folder that holds mpi_inf_3dhp_test_set/")


def _import_h5py():
  try:
    import h5py
  except ImportError:
    raise ValueError("reading MPI-INF-3DHP's MATLAB v7.3 files needs h5py: pip install h5py") from None
  return h5py


def _joints(array: np.ndarray, dims: int, path: str, field: str) -> np.ndarray:
  """``[N, 17, dims]`` from the file's ``[N, 1, 17, dims]`` (or ``[N, 17, dims]``)."""
  a = np.asarray(array, np.float64)
  if a.ndim == 4 and a.shape[1] == 1:
    a = a[:, 0]
  if a.ndim != 3 or a.shape[1:] != (17, dims):
    raise ValueError(f"{path}: {field}: expected shape [N, 1, 17, {dims}], got {tuple(np.shape(array))}")
  return a


def read_test_sequence(path: str) -> dict[str, np.ndarray]:
  """One test sequence's ``annot_data.mat``: ``annot2 [N, 17, 2]``, ``annot3`` and ``univ_annot3
  [N, 17, 3]``, ``valid [N]`` bool and ``activity [N]`` int (0 where unlabelled)."""
  h5py = _import_h5py()
  try:
    f = h5py.File(path, "r")
  except OSError as e:
    raise ValueError(f"{path}: not a MATLAB v7.3 (HDF5) file: {e}") from None
  with f:
    missing = [k for k in TEST_FIELDS if k not in f]
    if missing:
      raise ValueError(f"{path}: expected the fields {list(TEST_FIELDS)}, missing {missing}")
    out = {"annot2": _joints(f["annot2"][()], 2, path, "annot2"),
           "annot3": _joints(f["annot3"][()], 3, path, "annot3"),
           "univ_annot3": _joints(f["univ_annot3"][()], 3, path, "univ_annot3")}
    n = len(out["annot2"])
    for name, key in (("valid", "valid_frame"), ("activity", "activity_annotation")):
      v = np.asarray(f[key][()]).reshape(-1)
      if v.shape != (n,):
        raise ValueError(f"{path}: {key}: expected one value per frame ({n}), got shape {tuple(f[key].shape)}")
      out[name] = v
  if any(len(out[k]) != n for k in ("annot3", "univ_annot3")):
    raise ValueError(f"{path}: expected annot2, annot3 and univ_annot3 with the same number of frames, got "
                     f"{n}, {len(out['annot3'])} and {len(out['univ_annot3'])}")
  out["valid"] = out["valid"].astype(bool)
  out["activity"] = np.nan_to_num(out["activity"]).astype(np.int64)
  return out


def fit_intrinsics(pose3d: np.ndarray, pose2d: np.ndarray) -> tuple[float, float, float, float, float]:
  """``(fx, fy, cx, cy, rms_px)`` of the pinhole that best maps camera-frame ``[..., 3]`` to pixels ``[..., 2]``
  (``u = fx x / z + cx``, ``v = fy y / z + cy``; linear least squares), and its RMS reprojection distance."""
  p3 = np.asarray(pose3d, np.float64).reshape(-1, 3)
  p2 = np.asarray(pose2d, np.float64).reshape(-1, 2)
  ok = np.all(np.isfinite(p3), axis=1) & np.all(np.isfinite(p2), axis=1) & (p3[:, 2] > 0)
  if ok.sum() < 3:
    raise ValueError(f"fit_intrinsics: expected at least 3 finite points in front of the camera, got {int(ok.sum())}")
  p3, p2 = p3[ok], p2[ok]
  out, residual = [], np.zeros_like(p2)
  for axis in (0, 1):
    a = np.stack([p3[:, axis] / p3[:, 2], np.ones(len(p3))], axis=1)
    (f, c), *_ = np.linalg.lstsq(a, p2[:, axis], rcond=None)
    residual[:, axis] = a @ (f, c) - p2[:, axis]
    out.append((f, c))
  rms = float(np.sqrt(np.mean(np.sum(residual ** 2, axis=1))))
  return float(out[0][0]), float(out[1][0]), float(out[0][1]), float(out[1][1]), rms


def _to_paper14(poses: np.ndarray) -> np.ndarray:
  return np.asarray(skeleton.convert(poses, "mpi_inf_3dhp17", "paper14")[0], np.float32)


def _runs(keep: np.ndarray, labels: np.ndarray) -> list[tuple[int, int]]:
  """``[(start, end)]`` of the maximal runs of kept frames with one label."""
  runs, start = [], None
  for i in range(len(keep) + 1):
    boundary = i == len(keep) or not keep[i] or (start is not None and labels[i] != labels[start])
    if start is not None and boundary:
      runs.append((start, i))
      start = None
    if i < len(keep) and keep[i] and start is None:
      start = i
  return runs


def load_test(root: str, sequences=TEST_SEQUENCES, stride: int = 1, universal: bool = True) -> PoseSequences:
  """The official test set in paper14: valid frames only, one sequence per run of consecutive valid frames
  of one activity (named ``TSk/<first frame>``, its action the activity's name), 3D from ``univ_annot3``
  (``universal``) or ``annot3``, in millimetres, camera frame."""
  if stride < 1:
    raise ValueError(f"data.mpi_inf_3dhp.test_stride: expected an integer >= 1, got {stride}")
  folder = os.path.join(root, "mpi_inf_3dhp_test_set")
  if not os.path.isdir(folder):
    raise ValueError(f"MPI-INF-3DHP: no mpi_inf_3dhp_test_set/ in {root}; {DOWNLOAD}")
  pose2d, pose3d, lengths, names, actions = [], [], [], [], []
  for seq in sequences:
    path = os.path.join(folder, seq, "annot_data.mat")
    if not os.path.exists(path):
      raise ValueError(f"MPI-INF-3DHP: {path} does not exist (test sequences are {TEST_SEQUENCES})")
    d = read_test_sequence(path)
    keep = d["valid"] & np.all(np.isfinite(d["annot2"]), axis=(1, 2)) & np.all(np.isfinite(d["univ_annot3"]),
                                                                                  axis=(1, 2))
    if keep.any():
      *_, rms = fit_intrinsics(d["annot3"][keep], d["annot2"][keep])
      if rms > MAX_RMS_PX:
        raise ValueError(f"{path}: annot2 and annot3 do not belong together: the best pinhole reprojects with RMS "
                         f"{rms:.1f} px > {MAX_RMS_PX} px")
    for start, end in _runs(keep, d["activity"]):
      frames = np.arange(start, end, stride)
      pose2d.append(_to_paper14(d["annot2"][frames]))
      pose3d.append(_to_paper14(d["univ_annot3" if universal else "annot3"][frames]))
      lengths.append(len(frames))
      names.append(f"{seq}/{start}")
      actions.append(ACTIVITIES.get(int(d["activity"][start]), "unlabelled"))
  if not lengths:
    raise ValueError(f"MPI-INF-3DHP: no valid frame in test sequences {list(sequences)}")
  return PoseSequences(np.concatenate(pose2d), np.concatenate(pose3d), np.asarray(lengths, np.int64), tuple(names),
                       tuple(actions))


def _read_train_mat(path: str) -> dict:
  """``annot2`` / ``annot3``: lists, one ``[N, K]`` array per camera, from a v5 or v7.3 ``annot.mat``."""
  import scipy.io
  try:
    mat = scipy.io.loadmat(path)
    return {k: [np.asarray(mat[k][c, 0], np.float64) for c in range(mat[k].shape[0])] for k in ("annot2", "annot3")}
  except NotImplementedError:  # MATLAB v7.3: HDF5, cells as references.
    h5py = _import_h5py()
    with h5py.File(path, "r") as f:
      return {k: [np.asarray(f[ref][()], np.float64).T for ref in np.asarray(f[k]).reshape(-1)]
              for k in ("annot2", "annot3")}
  except KeyError as e:
    raise ValueError(f"{path}: expected the fields annot2 and annot3, missing {e}") from None
  except ValueError as e:
    raise ValueError(f"{path}: not a readable MATLAB file: {e}") from None


def load_train(root: str, subjects=TRAIN_SUBJECTS, cameras=TRAIN_CAMERAS, stride: int = 1) -> PoseSequences:
  """The training subjects' annotations in paper14: one sequence per (subject, recording, camera), named
  ``Sk/Seqn/camc``; 2D in pixels, 3D (``annot3``) in camera-frame millimetres."""
  if stride < 1:
    raise ValueError(f"data.mpi_inf_3dhp.train_stride: expected an integer >= 1, got {stride}")
  pose2d, pose3d, lengths, names = [], [], [], []
  for subject in subjects:
    paths = sorted(glob.glob(os.path.join(root, subject, "Seq*", "annot.mat")))
    if not paths:
      raise ValueError(f"MPI-INF-3DHP: no {subject}/Seq*/annot.mat in {root}")
    for path in paths:
      mat = _read_train_mat(path)
      for cam in cameras:
        if cam >= len(mat["annot2"]):
          raise ValueError(f"{path}: camera {cam} requested, the file has {len(mat['annot2'])}")
        a2, a3 = mat["annot2"][cam], mat["annot3"][cam]
        if a2.ndim != 2 or a2.shape[1] != 56 or a3.shape != (len(a2), 84):
          raise ValueError(f"{path}: camera {cam}: expected annot2 [N, 56] and annot3 [N, 84], got {a2.shape} and "
                           f"{a3.shape}")
        a2 = a2[::stride].reshape(-1, 28, 2)[:, TRAIN_TO_TEST]
        a3 = a3[::stride].reshape(-1, 28, 3)[:, TRAIN_TO_TEST]
        pose2d.append(_to_paper14(a2))
        pose3d.append(_to_paper14(a3))
        lengths.append(len(a2))
        names.append(f"{subject}/{os.path.basename(os.path.dirname(path))}/cam{cam}")
  return PoseSequences(np.concatenate(pose2d), np.concatenate(pose3d), np.asarray(lengths, np.int64), tuple(names),
                       ("train",) * len(names))


def protocol_metrics(pred3d: np.ndarray, gt3d: np.ndarray, activities: np.ndarray | None = None,
                     alignments=ALIGNMENTS, layout="paper14") -> dict:
  """The MPI-INF-3DHP protocol: PCK@150 mm and AUC (0-150 mm, 31 thresholds), in percent, per alignment.

  Args:
    pred3d: ``[N, J, 3]`` lifted poses (any units for ``"scale"`` and ``"procrustes"``; mm for ``"none"``).
    gt3d: ``[N, J, 3]`` universal-skeleton ground truth in mm.
    activities: ``[N]`` activity names, or ``None``.
    alignments: names from `ALIGNMENTS`; every pose is root-centred (hip midpoint) first.
    layout: the layout of both.

  Returns:
    ``{alignment: {"pck", "auc", "per_activity": {name: {"pck", "auc", "poses"}}}}``.
  """
  layout = skeleton.get_layout(layout)
  pred3d, gt3d = np.asarray(pred3d, np.float32), np.asarray(gt3d, np.float32)
  if pred3d.shape != gt3d.shape or pred3d.ndim != 3 or pred3d.shape[1:] != (layout.num_joints, 3):
    raise ValueError(f"protocol_metrics: expected two [N, {layout.num_joints}, 3] arrays, got {pred3d.shape} and "
                     f"{gt3d.shape}")
  unknown = [a for a in alignments if a not in ALIGNMENTS]
  if unknown:
    raise ValueError(f"protocol_metrics: unknown alignments {unknown}; expected names from {ALIGNMENTS}")
  centre = lambda p: geometry.root_centred(p, layout.root_joints)  # noqa: E731
  pred3d, gt3d = centre(pred3d), centre(gt3d)
  out = {}
  for alignment in alignments:
    errors = np.concatenate([np.asarray(metrics.joint_errors(pred3d[i:i + 16384], gt3d[i:i + 16384], alignment))
                             for i in range(0, len(pred3d), 16384)]) if len(pred3d) else np.zeros((0, 14))
    pck = (errors <= metrics.PCK_THRESHOLD).mean(axis=1)
    auc = (errors[..., None] <= metrics.AUC_THRESHOLDS).mean(axis=(1, 2))
    entry = {"pck": 100 * float(pck.mean()), "auc": 100 * float(auc.mean())}
    if activities is not None:
      acts = np.asarray(activities)
      entry["per_activity"] = {str(a): {"pck": 100 * float(pck[acts == a].mean()),
                                        "auc": 100 * float(auc[acts == a].mean()), "poses": int((acts == a).sum())}
                               for a in dict.fromkeys(acts.tolist())}
    out[alignment] = entry
  return out
