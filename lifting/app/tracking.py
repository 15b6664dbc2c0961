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


# Relabellings `mend_swaps` tries on each frame, by name: the whole body's left and right, the legs' alone, the arms'.
SWAPS = ("body", "legs", "arms")


def swap_permutations(layout) -> dict[str, np.ndarray]:
  """``{name: [J] joint order}`` of each `SWAPS` relabelling of ``layout`` (a `lifting.core.skeleton.Layout`)."""
  return {"body": np.asarray(layout.flip_permutation),
          "legs": np.asarray(layout.flip_parts(("hip", "knee", "ankle"))),
          "arms": np.asarray(layout.flip_parts(("shoulder", "elbow", "wrist")))}


def mend_swaps(poses: np.ndarray, usable: np.ndarray, lengths, layout, margin: float = 0.5, max_motion: float = 0.2,
               min_shared: int = MIN_SHARED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Left/right label swaps of a detector, mended sequence by sequence (``lengths [S]``, one person's frames in
  order each): every frame takes the relabelling (none, or one of `SWAPS`) that brings it closest to the frame
  before it (`distance`), when that is under ``margin`` times the distance as labelled and under ``max_motion``
  (body sizes: consecutive video frames differ by a few hundredths), so a body that turns (its left and right joints
  crossing smoothly) keeps its labels, a jump of the labels is undone, and poses that are not one person's
  consecutive frames (unrelated images) are left alone. The labelling most
  frames of a sequence had is kept: when most frames were relabelled as a whole body, every frame is flipped.

  Returns ``(poses [N, J, 2], usable [N, J], relabelled [N] int8)``: 0 where a frame kept its labels, else 1 + the
  index in `SWAPS` of the relabelling applied.
  """
  poses, usable = np.array(poses, np.float64), np.array(usable, bool)
  perms = swap_permutations(layout)
  order = [np.arange(layout.num_joints)] + [perms[name] for name in SWAPS]
  compose = {(0, 1): 1, (1, 1): 0, (2, 1): 3, (3, 1): 2}  # Applying the body's flip after each relabelling.
  applied = np.zeros(len(poses), np.int8)
  start = 0
  for n in np.asarray(lengths, np.int64):
    prev = start
    for t in range(start + 1, start + n):
      d = [distance(poses[prev], usable[prev], poses[t][p], usable[t][p], min_shared) for p in order]
      best = int(np.argmin(d))
      if best and d[best] < min(margin * d[0], max_motion):
        poses[t], usable[t], applied[t] = poses[t][order[best]], usable[t][order[best]], best
      prev = t
    part = slice(start, start + n)
    if np.sum(applied[part] == 1) * 2 > n:  # Most frames were the other way round: they were right.
      for t in range(start, start + n):
        poses[t], usable[t] = poses[t][order[1]], usable[t][order[1]]
        applied[t] = compose[(int(applied[t]), 1)]
    start += n
  return poses, usable, applied


def follow(poses: np.ndarray, usable: np.ndarray, frames: np.ndarray, count: int, size,
           min_share: float = 0.05) -> tuple[np.ndarray, np.ndarray, dict]:
  """The ``count`` people to follow in a clip, chosen on purpose rather than by who a detector found first: every
  pose is tracked (`assign`), each track scored by the sum over its frames of its size (the bounding box's area,
  a share of the ``size`` (width, height) image) times its centrality (1 at the image centre, 0 at a corner), and
  the ``count`` best tracks kept, renumbered 0, 1, ... by score.

  Returns ``(keep [N] bool, tracks [N] int, report)``: ``report`` says how many people were seen in at least
  ``min_share`` of the frames, which tracks were followed, and the share of frames in which someone not followed
  was seen (``others_share``: above ``min_share``, more people are in view than are followed).
  """
  poses, usable, frames = np.asarray(poses, np.float64), np.asarray(usable, bool), np.asarray(frames)
  tracks = assign(poses, usable, frames)
  w, h = size
  scores = np.zeros(tracks.max() + 1 if len(tracks) else 0)
  for i, t in enumerate(tracks):
    pts = poses[i][usable[i]]
    if not len(pts):
      continue
    lo, hi = pts.min(0), pts.max(0)
    area = float(np.prod(np.clip(hi - lo, 0, None))) / (w * h)
    off = np.linalg.norm((lo + hi) / 2 - np.array([w, h]) / 2) / (0.5 * np.hypot(w, h))
    scores[t] += area * max(0.0, 1.0 - off)
  ranked = list(np.argsort(-scores, kind="stable"))
  chosen = ranked[:count]
  renumber = {int(t): k for k, t in enumerate(chosen)}
  keep = np.isin(tracks, chosen)
  num_frames = max(len(np.unique(frames)), 1)
  seen = [t for t in range(len(scores)) if len(np.unique(frames[tracks == t])) >= min_share * num_frames]
  others = np.unique(frames[~keep]) if (~keep).any() else np.zeros(0)
  report = {"people_seen": len(seen), "followed": len(chosen), "others_share": float(len(others) / num_frames)}
  return keep, np.array([renumber.get(int(t), -1) for t in tracks], np.int64), report
