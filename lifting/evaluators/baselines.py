"""The trivial lifts every result is read beside."""

from __future__ import annotations

import numpy as np

from lifting.core import geometry
from lifting.core import skeleton
from lifting.data import pipeline
from lifting.evaluators import test_set


def flat_poses(pose2d: np.ndarray) -> np.ndarray:
  """The trivial lift: every joint of ``[..., J, 2]`` at one depth (``[..., J, 3]``)."""
  return np.concatenate([pose2d, np.ones(pose2d.shape[:-1] + (1,), np.float32)], axis=-1)


def mean_depth_offsets(train_2d: np.ndarray, train_3d: np.ndarray, layout: skeleton.Layout, c: float) -> np.ndarray:
  """``[J]`` the mean root-relative depth of the training poses, in the lifter's units.

  Each pose's millimetres are converted with its weak-perspective scale: the least-squares
  factor that maps its root-centred ground-truth ``(X, Y)`` onto ``c`` times its normalised 2D.
  """
  gt = geometry.root_centred(np.asarray(train_3d), layout.root_joints)
  lateral = c * train_2d
  k = np.sum(lateral * gt[..., :2], axis=(1, 2)) / np.maximum(np.sum(gt[..., :2] ** 2, axis=(1, 2)), 1e-9)
  return np.mean(k[:, None] * gt[..., 2], axis=0).astype(np.float32)


def trivial(data: pipeline.PoseData, c: float) -> dict[str, dict]:
  """Test errors of the trivial lifts every result should be read beside.

  ``flat``: every joint at the same depth. ``mean_depth``: every test pose gets the training
  set's mean root-relative depth per joint (needs the training 3D, so it is a reference, not an
  unsupervised result).
  """
  out = {"flat": test_set.evaluate_poses(flat_poses(data.test_2d), data.test_3d, data.layout, data.test_actions)}
  if data.train_3d is not None:
    d = mean_depth_offsets(data.train_2d, data.train_3d, data.layout, c)
    pred = np.asarray(geometry.depth_to_points(data.test_2d, np.broadcast_to(d, data.test_2d.shape[:-1]), c))
    out["mean_depth"] = test_set.evaluate_poses(pred, data.test_3d, data.layout, data.test_actions)
  return out
