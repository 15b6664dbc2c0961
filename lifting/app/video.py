"""From a video (or an image, or a folder of images) to 3D motion: detect, lift, and write what animators use.

`lift_video` reads the frames (`lifting.app.frames`), finds the people in them (`lifting.app.detector`, MediaPipe Pose
by default), chooses whom to follow (the largest and most central, `lifting.app.tracking.follow`, with a warning when
more people are in view than ``num_people``), lifts each person's track as one sequence (a detector's left/right
swaps mended; `lifting.app.lift_files.lift_tracks`), places the motion in the world (`lifting.app.motion`: the root's
trajectory in metres from the body's height and the camera's focal length, the floor, foot contacts held still)
and writes:

* ``poses3d.json`` / ``poses3d.npz`` as for keypoint files, with each pose's time in seconds, the frame rate, the
  frames where nobody was found (``gaps``: they stay in the timeline, with no pose), each pose's root in the
  camera frame (``root``, metres), its joints in the world (``world``: metres, y up, the floor at y = 0) and its
  feet's contacts, and the camera, floor and foot measures of the clip;
* ``overlay.mp4`` (`lifting.app.overlay`): the clip's frames with the 2D skeletons, beside each track's 3D lift, at
  most `lifting.app.overlay.MAX_HEIGHT` pixels tall (``overlay.png`` for one image);
* with ``bvh`` / ``glb``, ``motion.bvh`` / ``motion.glb`` per track (`lifting.app.animation`): a rigid skeleton with
  root motion, one key per frame, its feet on the floor. Frames of a track with no lift (gaps, poses too
  incomplete to lift) are filled by linear interpolation between the lifts around them and listed in the
  summary (``bvh_interpolated_frames``, for both).

Every flag is checked, and the model loaded, before the clip is read. Everything is written to a temporary folder
and moved into place only when all of it succeeded (`lifting.app.lift_files.replace_folder`), so bad input leaves
nothing behind.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from lifting.app import detector as detector_lib
from lifting.app import frames as frames_lib
from lifting.app import inference
from lifting.app import lift_files
from lifting.app import motion as motion_lib
from lifting.app import tracking

# MediaPipe's landmark visibility below which a joint is taken as missing (and completed, as in any lift).
MIN_VISIBILITY = 0.5
# --smooth for video: the width chosen on held-out training videos (README, "Smoothing lifted video").
VIDEO_SMOOTH = 1.0
MAX_PEOPLE = 100  # People MediaPipe Pose looks for in a frame at most.


def track_timeline(values: np.ndarray, valid: np.ndarray, rows: np.ndarray, frame_of: np.ndarray):
  """One track's ``values [N, ...]`` (its ``rows``) on every frame from its first to its last: ``(first frame,
  [F, ...] with frames it has no valid value for interpolated, the frames interpolated)``."""
  rows = rows[valid[rows]]
  first, line, ok = motion_lib.timeline(values[rows], frame_of[rows])
  return first, motion_lib.interpolate(line, ok), [first + int(k) for k in np.flatnonzero(~ok)]


def video_options(options: lift_files.LiftOptions | None = None, **fields) -> lift_files.LiftOptions:
  """`lifting.app.lift_files.LiftOptions` with ``fields`` set and a video's defaults where they are ``None``: landmarks
  below `MIN_VISIBILITY` missing, `VIDEO_SMOOTH` frames of smoothing, no pictures."""
  o = lift_files.lift_options(options, **fields)
  return dataclasses.replace(o, min_score=MIN_VISIBILITY if o.min_score is None else o.min_score,
                             smooth=VIDEO_SMOOTH if o.smooth is None else o.smooth,
                             pictures=0 if o.pictures is None else o.pictures)


def check_options(o: lift_files.LiftOptions) -> None:
  """The options' checks (`lifting.app.lift_files.LiftOptions.check`) and the video's own, each one line naming
  the flag."""
  o.check()
  if isinstance(o.num_people, bool) or not isinstance(o.num_people, int) or not 1 <= o.num_people <= MAX_PEOPLE:
    raise ValueError(f"--num_people: expected 1 to {MAX_PEOPLE} people, got {o.num_people}")
  if np.size(o.min_score) != 1:
    raise ValueError("--min_score: one value for video input (MediaPipe's landmark visibility)")


def lift_video(workdir: str | None, input_path: str, output: str, detector=None,
               options: lift_files.LiftOptions | None = None, **fields) -> dict:
  """Lifts the people in a video, an image or a folder of images and writes the outputs to ``output``
  (see the module docstring), with the model in ``workdir`` (``None``: the shipped one) and ``options``
  (`lifting.app.lift_files.LiftOptions`, or its fields as keywords; `video_options` gives a video's defaults).
  ``detector``: any `lifting.app.detector` detector (default MediaPipe Pose). Returns a summary."""
  o = video_options(options, **fields)
  lift_files.check_output(output)
  check_options(o)
  # Before the clip is read: a bad --workdir fails in seconds.
  model = inference.load(workdir, o.completion, discriminators=o.adapt_steps > 0)
  frames = frames_lib.open_frames(input_path, o.max_side, o.fps)
  own = detector is None
  if own:  # One person more than followed, so a person in view who is not followed is noticed.
    detector = detector_lib.MediaPipeDetector(o.num_people + 1, video=frames.kind != "image")
  try:
    kp, frame_of, num_frames = detector_lib.detect(frames, detector)
  finally:
    if own:
      detector.close()
  frames = dataclasses.replace(frames, num_frames=num_frames)
  kp = inference.restrict(kp, float(np.ravel(o.min_score)[0]))
  keep, tracks, people = tracking.follow(kp.poses, kp.mask, frame_of, o.num_people, frames.size)
  kp = dataclasses.replace(kp, poses=kp.poses[keep], mask=kp.mask[keep], occluded=kp.occluded[keep],
                           scores=kp.scores[keep], ids=tuple(np.asarray(kp.ids, dtype=object)[keep]))
  frame_of, tracks = frame_of[keep], tracks[keep]
  if o.track is not None and o.track not in set(tracks.tolist()):
    raise ValueError(f"--track={o.track}: the clip has tracks {sorted(set(tracks.tolist()))}")
  lifted, adapted = lift_files.lift_tracks(model, kp, tracks, frame_of, o.adapt_steps)
  lifted = dataclasses.replace(lifted, times=frame_of / frames.fps)
  lift_files.check_liftable(lifted, input_path)
  if o.track is not None:
    keep = tracks == o.track
    lifted, frame_of = lifted.select(keep), frame_of[keep]
  track_ids = sorted(set(lifted.tracks.tolist()))
  if o.smooth:  # On each track's full timeline, so a gap is not smoothed across as if its ends were neighbours.
    from lifting.app import smoothing
    poses3d = lifted.poses3d.copy()
    for t in track_ids:
      rows = np.flatnonzero(lifted.tracks == t)
      good = rows[lifted.valid[rows]]
      if not len(good):
        continue
      first, line, ok = motion_lib.timeline(lifted.poses3d[good], frame_of[good])
      smoothed = smoothing.gaussian(line, o.smooth, ok)
      poses3d[good] = smoothed[frame_of[good] - first]
    lifted = dataclasses.replace(lifted, poses3d=poses3d)
  camera = motion_lib.intrinsics(frames.size, o.focal_mm, o.fov_deg, frames_lib.focal_mm_35(frames))
  world = motion_lib.world_motion(lifted, frame_of, camera, frames.fps, o.height_m, o.pin_feet)
  gaps = sorted(set(range(num_frames)) - set(frame_of.tolist()))
  meta = {**lift_files.summary(model, lifted, input_path, kp.layout, o.smooth, o.track), "input_kind": frames.kind,
          "detector": type(detector).__name__, "fps": frames.fps, "frames": num_frames,
          "frame_size": list(frames.size),
          "downscaled_from": None if frames.downscaled_from is None else list(frames.downscaled_from),
          "gaps": gaps, "min_score": float(np.ravel(o.min_score)[0]), "people": {**people, "num_people": o.num_people},
          **({"clip_adaptation": adapted} if adapted else {})}
  if people["others_share"] > 0.05:
    meta["warnings"] = [f"more people are in view than --num_people={o.num_people}: someone else in "
                        f"{100 * people['others_share']:.0f}% of the frames; followed the largest and most central "
                        f"(--num_people={o.num_people + 1} lifts one more)"]
  meta["world"] = motion_lib.summary(world, o.height_m, o.pin_feet)
  animations = {}
  if o.bvh or o.glb:  # Solved before anything is written, so a failure leaves nothing behind.
    meta["bvh_interpolated_frames"] = {}
    for t in track_ids:
      rows = np.flatnonzero(lifted.tracks == t)
      if lifted.valid[rows].sum() < 2:
        raise ValueError(f"--bvh/--glb: track {t} has {int(lifted.valid[rows].sum())} lifted pose(s); a motion needs "
                         "at least 2")
      _, line, filled = track_timeline(world.world, lifted.valid, rows, frame_of)
      suffix = "" if len(track_ids) == 1 else f"_track{t}"
      for kind, wanted in (("bvh", o.bvh), ("glb", o.glb)):
        if wanted:
          animations[f"motion{suffix}.{kind}"] = line
      meta["bvh_interpolated_frames"][str(t)] = filled
  by_frame: dict[int, list[int]] = {}
  for r, f in enumerate(frame_of.tolist()):
    by_frame.setdefault(f, []).append(r)

  def people_at(t):
    return [(int(lifted.tracks[r]), lifted.pose2d[r]) for r in by_frame.get(t, []) if lifted.valid[r]]

  def lifts_at(t):
    here = {int(lifted.tracks[r]): lifted.poses3d[r] for r in by_frame.get(t, []) if lifted.valid[r]}
    return [here.get(k) for k in track_ids[:4]]  # At most four 3D panels beside the frame.

  def write(tmp):
    written = lift_files.write_outputs(lifted, tmp, meta, o.pictures, viewer=o.viewer, world=world)
    if o.overlay:
      from lifting.app import overlay as overlay_lib
      if frames.kind == "image":
        overlay_lib.write_picture(os.path.join(tmp, "overlay.png"), frames, people_at, lifts_at)
        written.append("overlay.png")
      else:
        overlay_lib.write(os.path.join(tmp, "overlay.mp4"), frames, people_at, lifts_at)
        written.append("overlay.mp4")
    if animations:
      from lifting.app import animation
      for name, line in animations.items():
        (animation.write_bvh if name.endswith(".bvh") else animation.write_glb)(os.path.join(tmp, name), line,
                                                                                 frames.fps)
        written.append(name)
    return written

  written = lift_files.replace_folder(output, write)
  return {**meta, "output": os.path.abspath(output), "files": written}

