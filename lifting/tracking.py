"""People over time: the 2D poses of several people per frame grouped into tracks.

Keypoint files list people frame by frame without saying who is who (an OpenPose folder: one file
per frame, ``people`` in any order; COCO results: ``image_id`` per detection). `assign` links each
frame's poses to the tracks of the frames before it, greedily by keypoint similarity:

* **Distance** between a track (its last pose) and a new pose: the mean distance over the joints
  usable in both, divided by the body's size (the mean of the two poses' bounding-box diagonals), so
  it does not depend on image resolution or on how far away people stand. At least ``min_shared``
  (4) common joints are needed, else the pair cannot match.
* **Greedy matching**: all (track, pose) pairs of a frame closer than ``max_distance`` (0.5 body
  sizes) are taken in order of distance; a track and a pose match once at most. Poses left over
  start new tracks. Walking people move about 0.02-0.05 body sizes per frame at video rates, and
  two people who cross still differ in their limbs, so the right pair is almost always the nearest.
* **Gaps**: a track that has not been seen for more than ``max_gap`` (10) frames is closed, so a
  person who leaves and comes back much later gets a new track; a short occlusion keeps the track.
"""

from __future__ import annotations

import numpy as np

MAX_DISTANCE, MAX_GAP, MIN_SHARED = 0.5, 10, 4


def frames_of(ids) -> np.ndarray:
  """``[N]`` frame number of each pose from the readers' ids (``"file#person1"``, ``"image#det3"``): the part
  before the last ``#``, numbered in order of first appearance. Ids without ``#`` are a frame each."""
  numbers: dict[str, int] = {}
  out = np.empty(len(ids), np.int64)
  for i, pose_id in enumerate(ids):
    key = pose_id.rsplit("#", 1)[0] if "#" in pose_id else f"\0{i}"
    out[i] = numbers.setdefault(key, len(numbers))
  return out


def _size(pose: np.ndarray, usable: np.ndarray) -> float:
  pts = pose[usable]
  return float(np.linalg.norm(pts.max(0) - pts.min(0))) if len(pts) else 0.0


def distance(a: np.ndarray, a_usable: np.ndarray, b: np.ndarray, b_usable: np.ndarray,
             min_shared: int = MIN_SHARED) -> float:
  """Mean distance of the joints usable in both ``[J, 2]`` poses over the body size; inf when fewer than
  ``min_shared`` joints are shared or a pose has no extent."""
  shared = a_usable & b_usable
  size = 0.5 * (_size(a, a_usable) + _size(b, b_usable))
  if shared.sum() < min_shared or size <= 0:
    return np.inf
  return float(np.mean(np.linalg.norm(a[shared] - b[shared], axis=-1)) / size)


def assign(poses: np.ndarray, usable: np.ndarray, frames: np.ndarray, max_distance: float = MAX_DISTANCE,
           max_gap: int = MAX_GAP, min_shared: int = MIN_SHARED) -> np.ndarray:
  """``[N]`` track of each of the ``poses [N, J, 2]`` (``usable [N, J]``, ``frames [N]`` non-decreasing),
  numbered from 0 in order of appearance. See the module docstring."""
  poses, usable, frames = np.asarray(poses, np.float64), np.asarray(usable, bool), np.asarray(frames)
  if poses.ndim != 3 or usable.shape != poses.shape[:2] or frames.shape != poses.shape[:1]:
    raise ValueError(f"tracking: expected poses [N, J, 2], usable [N, J] and frames [N], got {poses.shape}, "
                     f"{usable.shape} and {frames.shape}")
  if len(frames) and (np.diff(frames) < 0).any():
    raise ValueError("tracking: frames must not decrease (poses in frame order)")
  tracks = np.full(len(poses), -1, np.int64)
  last: dict[int, int] = {}  # track -> index of its latest pose
  for frame in np.unique(frames):
    here = np.flatnonzero(frames == frame)
    alive = [t for t, i in last.items() if frame - frames[i] <= max_gap]
    pairs = sorted((distance(poses[last[t]], usable[last[t]], poses[p], usable[p], min_shared), t, p)
                   for t in alive for p in here)
    taken_tracks, taken_poses = set(), set()
    for d, t, p in pairs:
      if d < max_distance and t not in taken_tracks and p not in taken_poses:
        tracks[p] = t
        taken_tracks.add(t)
        taken_poses.add(p)
    for p in here:
      if tracks[p] < 0:
        tracks[p] = len(last)
      last[int(tracks[p])] = p
  return tracks
