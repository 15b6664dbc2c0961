"""The raw form every 3D dataset loader returns: sequences of 2D pixels and camera-frame 3D.

A loader (the Bandai Namco mocap protocol, Human3.6M in VideoPose3D's format, the demo
generator) gives one `PoseSequences` per split, always in the ``paper14`` layout. The pipeline
then normalises the 2D and builds the training pool and the test set from it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

VIDEO_RATE = 2  # At most this many source frames (15 fps from 30) between stored frames: a sequence at video rate.


@dataclasses.dataclass(frozen=True)
class PoseSequences:
  """Frames of ``S`` sequences (one subject, one action, one camera each), stored back to back.

  Attributes:
    pose2d: ``[N, J, 2]`` float32 image coordinates in pixels.
    pose3d: ``[N, J, 3]`` float32 camera-frame joints in millimetres (x right, y down, z forward),
      or ``None`` when the split has no 3D.
    lengths: ``[S]`` int64 frames per sequence, summing to ``N``.
    names: ``S`` sequence names, e.g. ``"S9/Walking 1/cam2"``.
    actions: ``S`` action labels for per-action breakdowns, e.g. ``"Walking"``.
    frame_step: source frames between two stored frames of a sequence: 1 for every frame of a video, more for a
      subsample. A video-rate sequence (`VIDEO_RATE`) is one person's motion frame by frame, which a temporal lifter
      and the mending of a detector's swaps take as such; a sparser one is lifted pose by pose.
  """
  pose2d: np.ndarray
  pose3d: np.ndarray | None
  lengths: np.ndarray
  names: tuple[str, ...]
  actions: tuple[str, ...]
  frame_step: int = 1

  @property
  def video_rate(self) -> bool:
    return self.frame_step <= VIDEO_RATE

  @property
  def sequence_lengths(self) -> np.ndarray | None:
    """``lengths`` where the frames are at video rate (what `lifting.app.inference.Model.lift` takes as sequences),
    else ``None`` (each pose alone)."""
    return self.lengths if self.video_rate else None

  def __post_init__(self):
    n = int(np.sum(self.lengths))
    if self.pose2d.ndim != 3 or self.pose2d.shape[0] != n or self.pose2d.shape[-1] != 2:
      raise ValueError(f"PoseSequences.pose2d: expected shape [{n}, J, 2] (lengths sum to {n}), "
                       f"got {self.pose2d.shape}")
    if self.pose3d is not None and self.pose3d.shape != self.pose2d.shape[:-1] + (3,):
      raise ValueError(f"PoseSequences.pose3d: expected shape {self.pose2d.shape[:-1] + (3,)}, "
                       f"got {self.pose3d.shape}")
    if not len(self.names) == len(self.actions) == len(self.lengths):
      raise ValueError(f"PoseSequences: expected one name and action per sequence ({len(self.lengths)}), "
                       f"got {len(self.names)} names and {len(self.actions)} actions")

  @property
  def frame_actions(self) -> np.ndarray:
    """``[N]`` the action label of every frame."""
    return np.repeat(np.asarray(self.actions, dtype=object), self.lengths)

  @property
  def num_frames(self) -> int:
    return int(self.pose2d.shape[0])

  def take(self, sequence_mask: np.ndarray) -> PoseSequences:
    """The sequences where ``sequence_mask [S]`` is true."""
    sequence_mask = np.asarray(sequence_mask, bool)
    frames = np.repeat(sequence_mask, self.lengths)
    return PoseSequences(
        self.pose2d[frames], None if self.pose3d is None else self.pose3d[frames], self.lengths[sequence_mask],
        tuple(n for n, k in zip(self.names, sequence_mask) if k),
        tuple(a for a, k in zip(self.actions, sequence_mask) if k), self.frame_step)

  def subsample(self, stride: int) -> PoseSequences:
    """Every ``stride``-th frame of every sequence (sequences stay sequences at a lower rate)."""
    if stride < 1:
      raise ValueError(f"stride: expected an integer >= 1, got {stride}")
    if stride == 1:
      return self
    starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
    keep = np.concatenate([s + np.arange(0, n, stride) for s, n in zip(starts, self.lengths)] or [np.zeros(0, int)])
    lengths = np.array([len(range(0, n, stride)) for n in self.lengths], np.int64)
    return PoseSequences(self.pose2d[keep], None if self.pose3d is None else self.pose3d[keep], lengths,
                         self.names, self.actions, self.frame_step * stride)


def concatenate(parts: list[PoseSequences]) -> PoseSequences:
  """One `PoseSequences` holding every sequence of ``parts`` in order."""
  if not parts:
    raise ValueError("concatenate: expected at least one PoseSequences, got none")
  has3d = all(p.pose3d is not None for p in parts)
  return PoseSequences(
      np.concatenate([p.pose2d for p in parts]),
      np.concatenate([p.pose3d for p in parts]) if has3d else None,
      np.concatenate([p.lengths for p in parts]).astype(np.int64),
      sum((p.names for p in parts), ()), sum((p.actions for p in parts), ()), max(p.frame_step for p in parts))
