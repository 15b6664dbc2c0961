"""MPI-INF-3DHP: the loaders on fixtures written in the dataset's own file formats, and its protocol's metrics."""

import os
import types

import numpy as np
import pytest
import scipy.io

h5py = pytest.importorskip("h5py")

from experiments import default  # noqa: E402
from experiments import tiny  # noqa: E402
from lifting.core import metrics  # noqa: E402
from lifting.core import skeleton  # noqa: E402
from lifting.data import mpi_inf_3dhp  # noqa: E402
from lifting.data import pipeline  # noqa: E402
from lifting.evaluators import reports  # noqa: E402
from lifting.evaluators import test_set  # noqa: E402

L17 = skeleton.get_layout("mpi_inf_3dhp17")
F, CX, CY = 1500.0, 1024.0, 1000.0
# A standing person in the camera frame (mm; x right, y down, z forward), mpi_inf_3dhp17 order.
_TEMPLATE = np.array([
    [0, -900, 0], [0, -560, 0], [-180, -540, 0], [-220, -260, 0], [-240, -20, 0], [180, -540, 0], [220, -260, 0],
    [240, -20, 0], [-100, 0, 0], [-110, 430, 0], [-120, 850, 0], [100, 0, 0], [110, 430, 0], [120, 850, 0],
    [0, 0, 0], [0, -250, 0], [0, -700, 0]], np.float64)
_MATLAB_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Tue Dec  1 00:00:00 2026 HDF5 schema 1.00 ."


def _poses(rng, n, depth=4000.0):
  """``[n, 17, 3]`` camera-frame poses: the template turned about the vertical and jittered, ``depth`` away."""
  yaw = rng.uniform(-np.pi, np.pi, n)
  c, s = np.cos(yaw), np.sin(yaw)
  rot = np.zeros((n, 3, 3))
  rot[:, 0, 0], rot[:, 0, 2], rot[:, 1, 1], rot[:, 2, 0], rot[:, 2, 2] = c, s, 1, -s, c
  poses = np.einsum("nij,kj->nki", rot, _TEMPLATE) + rng.normal(0, 20, (n, 17, 3))
  return poses + np.array([rng.uniform(-300, 300), 0, depth])


def _project(p3):
  return np.stack([F * p3[..., 0] / p3[..., 2] + CX, F * p3[..., 1] / p3[..., 2] + CY], axis=-1)


def write_test_mat(path, annot3, annot2=None, valid=None, activity=None, skip=(), univ_scale=0.9):
  """An ``annot_data.mat`` as distributed: MATLAB v7.3 (HDF5 behind a 512-byte MATLAB header), arrays as h5py
  shows MATLAB's (axes reversed: ``[N, 1, 17, 3]``), doubles."""
  n = len(annot3)
  annot2 = _project(annot3) if annot2 is None else annot2
  pelvis = annot3[:, 14:15]
  fields = {"annot2": annot2[:, None], "annot3": annot3[:, None],
            "univ_annot3": (pelvis + univ_scale * (annot3 - pelvis))[:, None],
            "valid_frame": np.ones((n, 1)) if valid is None else np.asarray(valid, np.float64)[:, None],
            "activity_annotation": np.ones((n, 1)) if activity is None else np.asarray(activity, np.float64)[:, None]}
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with h5py.File(path, "w", userblock_size=512) as f:
    for k, v in fields.items():
      if k not in skip:
        f.create_dataset(k, data=np.asarray(v, np.float64))
  with open(path, "r+b") as f:
    f.write(_MATLAB_HEADER.ljust(116) + bytes(8) + b"\x00\x02IM")  # Text, subsystem offset, version 2.0, endian.
  return fields


@pytest.fixture(scope="module")
def test_root(tmp_path_factory):
  """Two test sequences: TS1 with 30 frames (frames 10-12 invalid; activity 1 then 4 from frame 20), TS5 with 10."""
  root = str(tmp_path_factory.mktemp("3dhp"))
  rng = np.random.default_rng(0)
  valid = np.ones(30)
  valid[10:13] = 0
  activity = np.where(np.arange(30) < 20, 1, 4)
  ts1 = write_test_mat(os.path.join(root, "mpi_inf_3dhp_test_set", "TS1", "annot_data.mat"), _poses(rng, 30),
                       valid=valid, activity=activity)
  ts5 = write_test_mat(os.path.join(root, "mpi_inf_3dhp_test_set", "TS5", "annot_data.mat"), _poses(rng, 10),
                       activity=np.full(10, 6))
  return root, {"TS1": ts1, "TS5": ts5}


def test_the_fixture_is_a_matlab_73_file(test_root):
  root, _ = test_root
  path = os.path.join(root, "mpi_inf_3dhp_test_set", "TS1", "annot_data.mat")
  with open(path, "rb") as f:
    assert f.read(10) == b"MATLAB 7.3"
  with pytest.raises(NotImplementedError):  # scipy's loadmat refuses v7.3: it takes h5py.
    scipy.io.loadmat(path)


def test_load_test_keeps_valid_frames_splits_runs_and_maps_to_paper14(test_root):
  root, fields = test_root
  seqs = mpi_inf_3dhp.load_test(root, ("TS1", "TS5"))
  # TS1: frames 0-9 (stand/walk), 13-19 (stand/walk), 20-29 (reach/crouch); TS5: 0-9 (sports).
  assert list(seqs.lengths) == [10, 7, 10, 10]
  assert seqs.names == ("TS1/0", "TS1/13", "TS1/20", "TS5/0")
  assert seqs.actions == ("stand/walk", "stand/walk", "reach/crouch", "sports")
  ts1 = fields["TS1"]
  frames = np.r_[0:10, 13:30]
  p14 = skeleton.get_layout("paper14")
  # Limb joints by name; paper14's neck is 3DHP's neck (H36M's thorax) and its head the head top.
  for name, src in (("l_wrist", "l_wrist"), ("r_ankle", "r_ankle"), ("neck", "neck"), ("head", "head_top")):
    np.testing.assert_allclose(seqs.pose3d[:27, p14.index(name)], ts1["univ_annot3"][frames, 0, L17.index(src)],
                               rtol=1e-6)
    np.testing.assert_allclose(seqs.pose2d[:27, p14.index(name)], ts1["annot2"][frames, 0, L17.index(src)],
                               rtol=1e-6)
  camera_frame = mpi_inf_3dhp.load_test(root, ("TS5",), universal=False)
  np.testing.assert_allclose(camera_frame.pose3d[:, p14.index("head")], fields["TS5"]["annot3"][:, 0, 0], rtol=1e-6)
  assert list(mpi_inf_3dhp.load_test(root, ("TS1",), stride=3).lengths) == [4, 3, 4]


def test_fit_intrinsics_recovers_the_pinhole():
  rng = np.random.default_rng(1)
  p3 = _poses(rng, 20)
  fx, fy, cx, cy, rms = mpi_inf_3dhp.fit_intrinsics(p3, _project(p3))
  np.testing.assert_allclose([fx, fy, cx, cy], [F, F, CX, CY], rtol=1e-6)
  assert rms < 1e-6


def test_bad_files_give_one_line_naming_file_and_field(tmp_path):
  rng = np.random.default_rng(2)
  p3 = _poses(rng, 5)
  seq = tmp_path / "mpi_inf_3dhp_test_set" / "TS1"
  write_test_mat(str(seq / "annot_data.mat"), p3, skip=("univ_annot3",))
  with pytest.raises(ValueError, match=r"annot_data.mat: expected the fields .* missing \['univ_annot3'\]"):
    mpi_inf_3dhp.load_test(str(tmp_path), ("TS1",))
  write_test_mat(str(seq / "annot_data.mat"), p3, annot2=_project(p3)[:, :, ::-1])  # x and y swapped
  with pytest.raises(ValueError, match="do not belong together"):
    mpi_inf_3dhp.load_test(str(tmp_path), ("TS1",))
  with h5py.File(str(seq / "annot_data.mat"), "w") as f:
    for k in mpi_inf_3dhp.TEST_FIELDS:
      f.create_dataset(k, data=np.zeros((5, 1, 15, 3)))
  with pytest.raises(ValueError, match=r"annot2: expected shape \[N, 1, 17, 2\]"):
    mpi_inf_3dhp.load_test(str(tmp_path), ("TS1",))
  (seq / "annot_data.mat").write_text("not hdf5")
  with pytest.raises(ValueError, match="not a MATLAB v7.3"):
    mpi_inf_3dhp.load_test(str(tmp_path), ("TS1",))
  with pytest.raises(ValueError, match="TS2/annot_data.mat does not exist"):
    mpi_inf_3dhp.load_test(str(tmp_path), ("TS2",))
  with pytest.raises(ValueError, match="no mpi_inf_3dhp_test_set"):
    mpi_inf_3dhp.load_test(str(tmp_path / "elsewhere"))


def test_load_train_reads_v5_annot_mat(tmp_path):
  """Training ``annot.mat``: one ``[N, 56]`` / ``[N, 84]`` cell per camera, 28 joints."""
  rng = np.random.default_rng(3)
  cams2, cams3 = np.empty((14, 1), object), np.empty((14, 1), object)
  truth = {}
  for c in range(14):
    p17 = _poses(rng, 6)
    p28 = rng.normal(0, 1, (6, 28, 3)) + 3000.0
    p28[:, list(mpi_inf_3dhp.TRAIN_TO_TEST)] = p17
    cams3[c, 0] = p28.reshape(6, 84)
    cams2[c, 0] = _project(p28).reshape(6, 56)
    truth[c] = p17
  for seq in ("Seq1", "Seq2"):
    os.makedirs(tmp_path / "S1" / seq)
    scipy.io.savemat(str(tmp_path / "S1" / seq / "annot.mat"), {"annot2": cams2, "annot3": cams3, "frames": np.arange(6)})
  seqs = mpi_inf_3dhp.load_train(str(tmp_path), ("S1",), cameras=(0, 4), stride=2)
  assert seqs.names == ("S1/Seq1/cam0", "S1/Seq1/cam4", "S1/Seq2/cam0", "S1/Seq2/cam4")
  assert list(seqs.lengths) == [3, 3, 3, 3]
  p14 = skeleton.get_layout("paper14")
  np.testing.assert_allclose(seqs.pose3d[3:6, p14.index("head")], truth[4][::2, L17.index("head_top")], rtol=1e-6)
  np.testing.assert_allclose(seqs.pose2d[:3, p14.index("l_knee")], _project(truth[0])[::2, L17.index("l_knee")],
                             rtol=1e-6)
  with pytest.raises(ValueError, match="camera 20 requested"):
    mpi_inf_3dhp.load_train(str(tmp_path), ("S1",), cameras=(20,))
  with pytest.raises(ValueError, match="no S2/Seq"):
    mpi_inf_3dhp.load_train(str(tmp_path), ("S2",))


def _numpy_pck_auc(pred, gt, alignment):
  """Independent reference: root-centre (hip midpoint), align, per-joint distance, PCK and AUC in percent."""
  root = list(skeleton.get_layout("paper14").root_joints)
  pred = pred - pred[:, root].mean(axis=1, keepdims=True)
  gt = gt - gt[:, root].mean(axis=1, keepdims=True)
  if alignment == "scale":
    pred = pred * (np.sum(pred * gt, axis=(1, 2)) / np.sum(pred * pred, axis=(1, 2)))[:, None, None]
  err = np.linalg.norm(pred - gt, axis=-1)
  pck = 100 * np.mean(err <= 150)
  auc = 100 * np.mean([np.mean(err <= t) for t in np.linspace(0, 150, 31)])
  return pck, auc


def test_protocol_metrics_against_numpy():
  rng = np.random.default_rng(4)
  gt = np.asarray(skeleton.convert(_poses(rng, 40), "mpi_inf_3dhp17", "paper14")[0])
  pred = gt + rng.normal(0, 60, gt.shape)
  acts = np.array(["stand/walk"] * 25 + ["sports"] * 15)
  out = mpi_inf_3dhp.protocol_metrics(pred, gt, acts, alignments=("none", "scale"))
  for alignment in ("none", "scale"):
    pck, auc = _numpy_pck_auc(pred, gt, alignment)
    assert out[alignment]["pck"] == pytest.approx(pck, abs=1e-4)
    assert out[alignment]["auc"] == pytest.approx(auc, abs=1e-4)
    pck, auc = _numpy_pck_auc(pred[25:], gt[25:], alignment)
    assert out[alignment]["per_activity"]["sports"] == {"pck": pytest.approx(pck, abs=1e-4),
                                                        "auc": pytest.approx(auc, abs=1e-4), "poses": 15}
  # A lift up to scale and position: perfect once scaled; not without alignment.
  half = mpi_inf_3dhp.protocol_metrics(0.5 * gt + 7.0, gt)
  assert half["scale"]["pck"] == pytest.approx(100) and half["procrustes"]["pck"] == pytest.approx(100)
  assert half["procrustes"]["auc"] >= 100 * 30 / 31 - 1e-6  # Every threshold but 0 mm (float32 rounding).
  assert half["none"]["pck"] < 100
  with pytest.raises(ValueError, match="unknown alignments"):
    mpi_inf_3dhp.protocol_metrics(gt, gt, alignments=("rigid",))
  assert metrics.PCK_THRESHOLD == 150 and len(metrics.AUC_THRESHOLDS) == 31


def test_cross_dataset_config_tests_on_3dhp_with_its_protocol(test_root):
  """A lifter trained elsewhere, tested on the 3DHP fixture: own 2D scale, protocol name, 3DHP metrics."""
  root, _ = test_root
  config = tiny.get_config()
  config.data.test_source = "mpi_inf_3dhp"
  config.data.mpi_inf_3dhp.root = root
  config.data.mpi_inf_3dhp.test_sequences = ("TS1", "TS5")
  data = pipeline.load(config)
  assert len(data.test_2d) == 37 and data.test_actions[0] == "stand/walk"
  # Its own dataset scale: the mean head-to-root distance of the test 2D is 1 / c, as for the training 2D.
  lay = data.layout
  head_root = np.linalg.norm(data.test_2d[:, lay.head] - data.test_2d[:, list(lay.root_joints)].mean(axis=1), axis=-1)
  assert np.mean(head_root) == pytest.approx(1 / config.c, rel=1e-3)
  assert reports.protocol(config) == "mpi_inf_3dhp (trained on synthetic)"
  states = types.SimpleNamespace(lifter=None, step=0)
  results, _ = test_set.test_all_and_poses(config, lambda _s, x, _k, _l=None: np.asarray(data.test_3d) * 0.001, states, data)
  assert results["mpi_inf_3dhp"]["procrustes"]["pck"] == pytest.approx(100)
  assert set(results["mpi_inf_3dhp"]["scale"]["per_activity"]) == {"stand/walk", "reach/crouch", "sports"}
  config.data.test_source = "lsp"
  with pytest.raises(ValueError, match="data.test_source: expected"):
    pipeline.load(config)


def test_real_test_set_if_present():
  """The real test set, where a copy sits beside the checkout (never in the repository)."""
  root = default.get_config().data.mpi_inf_3dhp.root
  if not os.path.isdir(os.path.join(root, "mpi_inf_3dhp_test_set")):
    pytest.skip(f"MPI-INF-3DHP is not at {root}; {mpi_inf_3dhp.DOWNLOAD}")
  seqs = mpi_inf_3dhp.load_test(root)
  assert seqs.num_frames > 2000 and set(seqs.actions) <= set(mpi_inf_3dhp.ACTIVITIES.values()) | {"unlabelled"}
