"""From a video (or an image, or a folder of images) to 3D motion: detect, lift, and write what animators use.

`lift_video` reads the frames (`lifting.frames`), finds the people in them (`lifting.detector`, MediaPipe Pose
by default), lifts them with a model (`lifting.inference.load`) exactly as a keypoint file is lifted, and writes:

* ``poses3d.json`` / ``poses3d.npz`` as for keypoint files, with each pose's time in seconds, the frame rate,
  and the frames where nobody was found (``gaps``: they stay in the timeline, with no pose);
* ``overlay.mp4`` (`lifting.overlay`): the clip's frames with the 2D skeletons, beside each track's 3D lift
  (``overlay.png`` for one image);
* with ``bvh``, ``motion.bvh`` per track (`lifting.retarget`): a rigid skeleton rooted at the pelvis, one
  rotation per joint and frame, the clip's frame time. Frames of a track with no lift (gaps, poses too
  incomplete to lift) are filled by linear interpolation between the lifts around them and listed in the
  summary (``bvh_interpolated_frames``).

Everything is written to a temporary folder and moved into place only when all of it succeeded
(`lifting.lift_files.replace_folder`), so bad input leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from lifting import detector as detector_lib
from lifting import frames as frames_lib
from lifting import inference
from lifting import lift_files
from lifting import retarget

# MediaPipe's landmark visibility below which a joint is taken as missing (and completed, as in any lift).
MIN_VISIBILITY = 0.5
# --smooth for video: the width chosen on held-out training videos (README, "Smoothing lifted video").
VIDEO_SMOOTH = 1.0
BVH_HEIGHT_M = 1.6  # Ankles to the head joint (the ear midpoint for BlazePose): about a 1.75 m adult's.


def _timeline(lifted, rows: np.ndarray, frame_of: np.ndarray, first: int, last: int):
  """One track's poses on frames ``first..last``: ``([F, J, 3], lifted [F] bool)``, NaN where it has none."""
  poses = np.full((last - first + 1,) + lifted.poses3d.shape[1:], np.nan)
  ok = np.zeros(last - first + 1, bool)
  for r in rows:
    if lifted.valid[r]:
      poses[frame_of[r] - first], ok[frame_of[r] - first] = lifted.poses3d[r], True
  return poses, ok


def _interpolate(poses: np.ndarray, ok: np.ndarray) -> np.ndarray:
  """``poses [F, ...]`` with the frames that are not ``ok`` filled linearly from the nearest ones that are
  (held at the ends)."""
  good = np.flatnonzero(ok)
  flat = poses.reshape(len(poses), -1)
  out = np.stack([np.interp(np.arange(len(poses)), good, flat[good, k]) for k in range(flat.shape[1])], axis=1)
  return out.reshape(poses.shape)


def bvh_motion(poses3d: np.ndarray, fps: float, height_m: float = BVH_HEIGHT_M):
  """A `lifting.data.bvh.Motion` of one person's ``poses3d [F, 14, 3]`` (unit head-to-root length, as
  `lifting.inference.Lifted` gives them, every frame finite), scaled so the rest pose stands ``height_m``
  metres from the ankles to the head joint, in centimetres, its ankles on the floor (y = 0)."""
  if not height_m > 0:
    raise ValueError(f"bvh height: expected metres > 0, got {height_m}")
  unit = retarget.retarget(poses3d, units=1.0)
  names = retarget.NAMES
  leg = sum(abs(unit.offsets[names.index(n), 1]) for n in ("RightLeg", "RightFoot"))
  height = leg + sum(abs(unit.offsets[names.index(n), 1]) for n in ("Neck", "Head"))
  clip = retarget.retarget(poses3d, units=100.0 * height_m / height)
  lift = np.array([0.0, leg * 100.0 * height_m / height, 0.0])
  clip = dataclasses.replace(clip, root_positions=clip.root_positions + lift, positions=clip.positions + lift)
  return retarget.to_motion(clip, 1.0 / fps), clip


def lift_video(workdir: str | None, input_path: str, output: str, detector=None, min_score: float = MIN_VISIBILITY,
               smooth: float = VIDEO_SMOOTH, bvh: bool = False, overlay: bool = True, viewer: bool = False,
               pictures: int = 0, track: int | None = None, max_side: int = frames_lib.MAX_SIDE, fps: float = 30.0,
               completion: str | None = "auto", bvh_height_m: float = BVH_HEIGHT_M, num_people: int = 1) -> dict:
  """Lifts the people in a video, an image or a folder of images and writes the outputs to ``output``
  (see the module docstring). ``detector``: any `lifting.detector` detector (default MediaPipe Pose);
  ``min_score``: landmarks of lower visibility are missing; ``smooth``: Gaussian width in frames per track;
  ``fps``: the frame rate of image inputs; ``num_people``: the most people the default detector looks for in a
  frame. Returns a summary."""
  lift_files.check_output(output)
  lift_files.check_smooth(smooth)
  frames = frames_lib.open_frames(input_path, max_side, fps)
  own = detector is None
  if own:
    detector = detector_lib.MediaPipeDetector(num_people, video=frames.kind != "image")
  try:
    kp, frame_of, num_frames = detector_lib.detect(frames, detector)
  finally:
    if own:
      detector.close()
  frames = dataclasses.replace(frames, num_frames=num_frames)
  kp = inference.restrict(kp, min_score)
  tracks = lift_files.assign_tracks(kp, frame_of, track)
  model = inference.load(workdir, completion)
  lifted = dataclasses.replace(model.lift_keypoints(kp), tracks=tracks, times=frame_of / frames.fps)
  lift_files.check_liftable(lifted, input_path)
  if track is not None:
    keep = tracks == track
    lifted, frame_of = lifted.select(keep), frame_of[keep]
  track_ids = sorted(set(lifted.tracks.tolist()))
  if smooth:  # On each track's full timeline, so a gap is not smoothed across as if its ends were neighbours.
    from lifting import smoothing  # pylint: disable=g-import-not-at-top
    poses3d = lifted.poses3d.copy()
    for t in track_ids:
      rows = np.flatnonzero(lifted.tracks == t)
      first, last = int(frame_of[rows].min()), int(frame_of[rows].max())
      line, ok = _timeline(lifted, rows, frame_of, first, last)
      smoothed = smoothing.gaussian(line, smooth, ok)
      for r in rows:
        if lifted.valid[r]:
          poses3d[r] = smoothed[frame_of[r] - first]
    lifted = dataclasses.replace(lifted, poses3d=poses3d)
  gaps = sorted(set(range(num_frames)) - set(frame_of.tolist()))
  meta = {**lift_files.summary(model, lifted, input_path, kp.layout, smooth, track), "input_kind": frames.kind,
          "detector": type(detector).__name__, "fps": frames.fps, "frames": num_frames,
          "frame_size": list(frames.size),
          "downscaled_from": None if frames.downscaled_from is None else list(frames.downscaled_from),
          "gaps": gaps, "min_score": min_score}
  motions = {}
  if bvh:  # Solved before anything is written, so its gaps are in poses3d.json too.
    meta["bvh_interpolated_frames"] = {}
    for t in track_ids:
      rows = np.flatnonzero(lifted.tracks == t)
      good = rows[lifted.valid[rows]]
      if len(good) < 2:
        raise ValueError(f"--bvh: track {t} has {len(good)} lifted pose(s); a motion needs at least 2")
      first, last = int(frame_of[good].min()), int(frame_of[good].max())
      line, ok = _timeline(lifted, good, frame_of, first, last)
      motions["motion.bvh" if len(track_ids) == 1 else f"motion_track{t}.bvh"] = bvh_motion(
          _interpolate(line, ok), frames.fps, bvh_height_m)[0]
      meta["bvh_interpolated_frames"][str(t)] = [first + int(k) for k in np.flatnonzero(~ok)]
  by_frame: dict[int, list[int]] = {}
  for r, f in enumerate(frame_of.tolist()):
    by_frame.setdefault(f, []).append(r)

  def people_at(t):
    return [(int(lifted.tracks[r]), lifted.pose2d[r]) for r in by_frame.get(t, []) if lifted.valid[r]]

  def lifts_at(t):
    here = {int(lifted.tracks[r]): lifted.poses3d[r] for r in by_frame.get(t, []) if lifted.valid[r]}
    return [here.get(k) for k in track_ids[:4]]  # At most four 3D panels beside the frame.

  def write(tmp):
    written = lift_files.write_outputs(lifted, tmp, meta, pictures, viewer=viewer)
    if overlay:
      from lifting import overlay as overlay_lib  # pylint: disable=g-import-not-at-top
      if frames.kind == "image":
        overlay_lib.write_picture(os.path.join(tmp, "overlay.png"), frames, people_at, lifts_at)
        written.append("overlay.png")
      else:
        overlay_lib.write(os.path.join(tmp, "overlay.mp4"), frames, people_at, lifts_at)
        written.append("overlay.mp4")
    if motions:
      from lifting.data import bvh as bvh_lib  # pylint: disable=g-import-not-at-top
      for name, motion in motions.items():
        bvh_lib.write_bvh(os.path.join(tmp, name), motion)
        written.append(name)
    return written

  written = lift_files.replace_folder(output, write)
  return {**meta, "output": os.path.abspath(output), "files": written}
