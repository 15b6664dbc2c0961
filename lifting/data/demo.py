"""The demo set shipped with the package: a small piece of the bandai benchmark, so the first run is on real data.

``python run.py`` with no arguments and no data folder trains on it (``data.source = "demo"``). It is derived
from the Bandai Namco Research Motion Dataset (Kobayashi et al., arXiv:2306.08861; CC BY-NC 4.0) as the
"bandai/turned-rig" protocol films it (`lifting.data.bandai`): the training actors A and B (pairs of
consecutive frames every `TRAIN_EVERY` frames of each take and camera, so the temporal discriminator has its
pairs), and the held-out actor C (every `TEST_EVERY` frames), each as 2D and camera-frame 3D. The unsupervised
rows train on the 2D alone; the supervised reference (``experiments/demo_supervised.py``) on the 3D too. Pixels are
stored in eighths of a pixel and millimetres as whole millimetres (int16), about 4 MB. Its licence is the
dataset's (``demo/README.md``); ``meta`` records the supervised reference's error on it.

`build` writes it from a copy of the data (``python -m experiments.drivers.demo_data``); `load` reads it.
"""

from __future__ import annotations

import json
import os

import numpy as np

from lifting.data.sequences import PoseSequences

FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo", "bandai_demo.npz")
PROTOCOL = "bandai/turned-rig demo subset"
TRAIN_EVERY, TEST_EVERY = 12, 16
PIXEL_UNIT = 1 / 8  # Pixels per stored unit.


def build(root: str, path: str = FILE, cache_dir: str | None = None, reference: dict | None = None) -> dict:
  """Writes the demo set from the bandai data in ``root`` to ``path``; returns its metadata. ``reference``: what the
  supervised reference scored on it (``pa_mpjpe``, the command and the date), recorded in the metadata."""
  from lifting.data import bandai
  common = dict(rig_kind="turned", rig_seed=0, cache_dir=cache_dir)
  train = bandai.load(root, bandai.TRAIN_ACTORS, **common)
  test = bandai.load(root, bandai.TEST_ACTORS, stride=TEST_EVERY, **common)
  starts = np.concatenate([[0], np.cumsum(train.lengths)[:-1]])
  keep = np.concatenate([s + np.stack([t, t + 1], -1).reshape(-1) for s, n in zip(starts, train.lengths)
                         for t in [np.arange(0, n - 1, TRAIN_EVERY)]])
  pairs = np.array([len(range(0, n - 1, TRAIN_EVERY)) for n in train.lengths])
  lengths = np.full(int(pairs.sum()), 2, np.int64)
  actions = tuple(a for a, k in zip(train.actions, pairs) for _ in range(k))
  meta = {"protocol": PROTOCOL, "source": "Bandai Namco Research Motion Dataset (Kobayashi et al., "
          "arXiv:2306.08861), CC BY-NC 4.0", "train": f"actors A and B, 2D and 3D: frame pairs every {TRAIN_EVERY} "
          "frames of each take and camera", "test": f"actor C, 2D and 3D: every {TEST_EVERY} frames",
          "train_poses": int(len(keep)), "test_poses": int(len(test.pose2d)), "pixel_unit": PIXEL_UNIT,
          **({"supervised_reference": reference} if reference else {})}
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = f"{path}.tmp{os.getpid()}.npz"
  np.savez_compressed(
      tmp, train_2d=_px(train.pose2d[keep]), train_3d=np.round(train.pose3d[keep]).astype(np.int16),
      train_lengths=lengths, train_actions=np.array(actions),
      test_2d=_px(test.pose2d), test_3d=np.round(test.pose3d).astype(np.int16), test_lengths=test.lengths,
      test_actions=np.array(test.actions), test_names=np.array(test.names), meta=np.array(json.dumps(meta)))
  os.replace(tmp, path)
  return meta


def _px(pixels: np.ndarray) -> np.ndarray:
  stored = np.round(np.asarray(pixels) / PIXEL_UNIT)
  if np.abs(stored).max() >= 2 ** 15:
    raise ValueError("demo set: pixel coordinates beyond the int16 range of the stored units")
  return stored.astype(np.int16)


def load(path: str = FILE) -> tuple[PoseSequences, PoseSequences, dict]:
  """``(train, test, meta)``: the training and test splits (2D and 3D) as the pipeline takes them."""
  if not os.path.exists(path):
    raise ValueError(f"data.source 'demo': the demo set {path} is missing from this installation; reinstall the "
                     "package, or train on the bandai benchmark (--config=experiments/bandai.py)")
  try:
    with np.load(path) as z:
      meta = json.loads(str(z["meta"]))
      unit = float(meta["pixel_unit"])
      train = PoseSequences(z["train_2d"].astype(np.float32) * unit, z["train_3d"].astype(np.float32),
                            z["train_lengths"].astype(np.int64),
                            tuple(f"train{i}" for i in range(len(z["train_lengths"]))),
                            tuple(str(a) for a in z["train_actions"]))
      test = PoseSequences(z["test_2d"].astype(np.float32) * unit, z["test_3d"].astype(np.float32),
                           z["test_lengths"].astype(np.int64), tuple(str(n) for n in z["test_names"]),
                           tuple(str(a) for a in z["test_actions"]), TEST_EVERY)
  except (OSError, KeyError, ValueError, TypeError) as e:
    raise ValueError(f"{path}: not a readable demo set ({type(e).__name__}: {e}); reinstall the package") from None
  return train, test, meta


def meta(path: str = FILE) -> dict:
  """The demo set's metadata alone (its provenance and the supervised reference's error on it)."""
  return load(path)[2]


# ---- The protocol's evaluation (`lifting.data.pipeline.protocol_module`). ----

def protocol(config) -> str:
  """The protocol's name in results."""
  del config
  return PROTOCOL


def supervised_reference() -> dict | None:
  """What the supervised lifter scored on the demo's test set, as recorded in the set's metadata."""
  return meta().get("supervised_reference") or None
