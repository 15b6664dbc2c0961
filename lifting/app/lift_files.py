"""Lifting files: a keypoint file in, a folder of results out (``run.py --mode=lift``).

`lift_file` reads any keypoint file `lifting.data.keypoints` knows, lifts it with a `lifting.app.inference.Model`,
tracks people over time and smooths them when asked, and writes `write_outputs`' files (``poses3d.json`` and
``.npz``, pictures, contact sheet, animation, viewer) through `replace_folder`: a temporary folder beside the
output, swapped in only when everything succeeded, so an error or a kill leaves no partial output. Video and
image inputs go through `lifting.app.video` to the same writers.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from lifting.app import inference
from lifting.app import tracking
from lifting.app.inference import FLAG_NAMES
from lifting.app.inference import Lifted
from lifting.data import keypoints


def _pick(valid: np.ndarray, count: int, spread: bool, seed: int = 0) -> list[int]:
  idx = np.flatnonzero(valid)
  if count <= 0 or not len(idx):
    return []
  if spread:  # Evenly over the input, first and last included.
    return sorted(set(idx[np.linspace(0, len(idx) - 1, min(count, len(idx))).round().astype(int)].tolist()))
  return sorted(np.random.default_rng(seed).choice(idx, size=min(count, len(idx)), replace=False).tolist())


def _safe_name(text: str) -> str:
  stem, ext = os.path.splitext(str(text))
  text = stem if ext.lower() in (".jpg", ".jpeg", ".png", ".bmp") else str(text)  # pose_im0001.png, not .jpg.png
  return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)[:80]


def write_outputs(lifted: Lifted, folder: str, meta: dict, pictures: int = 4, contact_sheet: int = 0,
                  animate: bool = False, viewer: bool = False, world=None) -> list[str]:
  """Writes ``poses3d.npz``, ``poses3d.json``, the pictures and (with ``viewer``) ``viewer.html``, the
  interactive viewer of every liftable pose (`lifting.app.viewer`), to ``folder``; returns the paths (relative).
  With ``world`` (a `lifting.app.motion.WorldMotion` of the poses), each pose's root (camera frame, metres), its joints
  in the world (metres, y up) and its feet's contacts too."""
  os.makedirs(folder, exist_ok=True)
  placed = {} if world is None else {"root": world.root, "world": world.world, "contacts": world.contacts}
  np.savez(os.path.join(folder, "poses3d.npz"), poses3d=lifted.poses3d, scale=lifted.scale, flags=lifted.flags,
           pose2d=lifted.pose2d, valid=lifted.valid, ids=np.array(lifted.ids), tracks=lifted.tracks,
           relabelled=lifted.relabelled,
           joints=np.array(lifted.joints), flag_names=np.array(FLAG_NAMES),
           **({} if lifted.times is None else {"times": lifted.times}), **placed)
  poses = lifted.to_json()
  if world is not None:
    for i, pose in enumerate(poses):
      if lifted.valid[i]:
        pose["root_m"] = [round(float(v), 5) for v in world.root[i]]
        pose["world_m"] = {name: [round(float(v), 5) for v in world.world[i, j]]
                           for j, name in enumerate(lifted.joints)}
        pose["contacts"] = {"left": bool(world.contacts[i, 0]), "right": bool(world.contacts[i, 1])}
  with open(os.path.join(folder, "poses3d.json"), "w") as f:
    json.dump({**meta, "joints": list(lifted.joints), "flag_names": list(FLAG_NAMES), "poses": poses}, f)
  written = ["poses3d.npz", "poses3d.json"]
  names = lambda i: [FLAG_NAMES[k] for k in lifted.flags[i]]  # noqa: E731
  several = len(set(lifted.tracks.tolist())) > 1
  suffix = lambda track: f"_track{track}" if several else ""  # noqa: E731  (one viewer and movie per track)
  if viewer:
    from lifting.app import viewer as viewer_lib  # Plotly only when asked.
    if not lifted.valid.any():
      raise ValueError("--viewer: no liftable pose to show")
    for track in sorted(set(lifted.tracks[lifted.valid].tolist())):
      frames = np.flatnonzero(lifted.valid & (lifted.tracks == track))
      name = f"viewer{suffix(track)}.html"
      viewer_lib.write_html(os.path.join(folder, name), lifted.poses3d[frames], lifted.pose2d[frames], "paper14",
                            flags=[names(i) for i in frames], titles=[str(lifted.ids[i]) for i in frames],
                            title=os.path.basename(str(meta.get("input", ""))) +
                            (f", track {track}" if several else ""))
      written.append(name)
  if not (pictures or contact_sheet or animate):
    return written
  from lifting.app import plots  # Matplotlib, seconds to import: only when drawing.
  for i in _pick(lifted.valid, pictures, spread=True):
    rel = os.path.join("pictures", f"pose_{_safe_name(lifted.ids[i])}.png")
    plots.pose_picture(lifted.pose2d[i], lifted.poses3d[i], "paper14", os.path.join(folder, rel), flags=names(i),
                       title=str(lifted.ids[i]))
    written.append(rel)
  picks = _pick(lifted.valid, contact_sheet, spread=False)
  if picks:
    plots.contact_sheet(lifted.pose2d[picks], lifted.poses3d[picks], "paper14",
                        os.path.join(folder, "contact_sheet.png"),
                        titles=[str(lifted.ids[i]) for i in picks], flags=[names(i) for i in picks])
    written.append("contact_sheet.png")
  if animate:
    movies = {t: np.flatnonzero(lifted.valid & (lifted.tracks == t)) for t in sorted(set(lifted.tracks.tolist()))}
    movies = {t: frames for t, frames in movies.items() if len(frames) >= 2}
    if not movies:
      raise ValueError("--animate: expected a sequence of at least 2 liftable poses of one person, got none")
    for track, frames in movies.items():
      for ext in ("gif", "mp4"):
        name = f"animation{suffix(track)}.{ext}"
        plots.animate(lifted.pose2d[frames], lifted.poses3d[frames], "paper14", os.path.join(folder, name),
                      flags=[names(i) for i in frames], units="head-to-root lengths")
        written.append(name)
  return written


def lift_tracks(model, kp, tracks: np.ndarray, frames: np.ndarray, adapt_steps: int = 0,
                sequence: bool = True) -> tuple[Lifted, dict | None]:
  """Lifts ``kp`` as ``tracks [N]`` of one person each, in the order of ``frames [N]``: with ``sequence`` (a video,
  not a collection of images) each track's poses are one sequence, whose detector swaps are mended and which a
  temporal lifter sees whole (`lifting.app.inference.Model.lift`), and with ``adapt_steps`` a copy of the lifter is
  first adapted to the input's own 2D (`lifting.app.inference.Model.adapt`; its report is returned, else ``None``).
  The poses come back in ``kp``'s order, with their tracks."""
  order = np.lexsort((frames, tracks))
  lengths = np.unique(tracks[order], return_counts=True)[1] if sequence else None
  sorted_kp = dataclasses.replace(kp, poses=kp.poses[order], mask=kp.mask[order], occluded=kp.occluded[order],
                                  scores=kp.scores[order], ids=tuple(np.asarray(kp.ids, dtype=object)[order]))
  report = None
  if adapt_steps:
    model, report = model.adapt(sorted_kp, lengths, steps=adapt_steps)
  lifted = model.lift_keypoints(sorted_kp, lengths=lengths)
  return dataclasses.replace(lifted.select(np.argsort(order)), tracks=tracks), report


def check_adapt_steps(adapt_steps) -> None:
  from lifting.training import finetune
  if isinstance(adapt_steps, bool) or not isinstance(adapt_steps, int) or not 0 <= adapt_steps <= finetune.MAX_STEPS:
    raise ValueError(f"--adapt_steps: expected 0 (off) to {finetune.MAX_STEPS} steps, got {adapt_steps}")


@dataclasses.dataclass(frozen=True)
class LiftOptions:
  """Every option of a lift (the command line's ``--mode=lift`` flags), for keypoint files and video alike. ``None``
  takes the input kind's default (`for_files`, `for_video`).

  Attributes:
    completion: the completion network: a folder, ``"auto"`` or ``None`` (`lifting.app.inference.load`).
    min_score: joints below this confidence are missing: one value, or one per joint of the input's layout.
    smooth: each track's Gaussian smoothing over time, in frames (files 0, video 1).
    track: keep this track alone.
    adapt_steps: adapt a copy of the lifter to the input's own 2D first (0: off; `lifting.training.finetune`).
    height_m, focal_mm, fov_deg: the people's stature and the camera, for the world motion (`lifting.app.motion`).
    fps: the frame rate of an input without one of its own (images, keypoint files).
    pictures, viewer, contact_sheet, animate: the pictures, viewer, contact sheet and animation to write.
    format, layout, image_size: how a keypoint file is read (its format and layout) and its images' size (joints
      far outside are missing; with it, a keypoint sequence is placed in the world too).
    bvh, glb, overlay, max_side, num_people, pin_feet: video input: the animation files, the overlay, the frame
      size, how many people to follow, whether contact feet are held still.
  """
  completion: str | None = "auto"
  min_score: float | tuple | list | None = None
  smooth: float | None = None
  track: int | None = None
  adapt_steps: int = 0
  height_m: float = 1.7
  focal_mm: float | None = None
  fov_deg: float | None = None
  fps: float = 30.0
  pictures: int | None = None
  viewer: bool = False
  contact_sheet: int = 0
  animate: bool = False
  format: str | None = None
  layout: str | None = None
  image_size: tuple[int, int] | None = None
  bvh: bool = False
  glb: bool = False
  overlay: bool = True
  max_side: int = 1920
  num_people: int = 1
  pin_feet: bool = True

  def for_files(self) -> LiftOptions:
    """The options with a keypoint file's defaults where they are ``None``."""
    return dataclasses.replace(self, min_score=0.0 if self.min_score is None else self.min_score,
                               smooth=self.smooth or 0.0, pictures=4 if self.pictures is None else self.pictures)

  def check(self) -> None:
    """One-line ``ValueError`` naming the flag, for every option out of its range (before anything is read)."""
    from lifting.app import motion
    check_smooth(self.smooth or 0.0)
    check_adapt_steps(self.adapt_steps)
    motion.check_height(self.height_m)
    motion.intrinsics((2, 2), self.focal_mm, self.fov_deg)  # Checks --focal_mm and --fov.


def lift_options(options: LiftOptions | None = None, **fields) -> LiftOptions:
  """``options`` (default: `LiftOptions`' defaults) with ``fields`` set, e.g. ``lift_options(smooth=1.5)``."""
  return dataclasses.replace(options or LiftOptions(), **fields)


def lift_file(workdir: str | None, input_path: str, output: str, options: LiftOptions | None = None,
              **fields) -> dict:
  """Reads a keypoint file, lifts it with the model in ``workdir`` (`lifting.app.inference.load`; ``None``: the
  shipped model) and writes the results to ``output``; ``options`` (`LiftOptions`, or its fields as keywords).

  With several people in a frame (OpenPose folders, COCO files with image ids in frame order) the poses
  are grouped into tracks (`lifting.app.tracking`): every output carries its track, movies and viewers
  come one per track, and ``track`` keeps that track alone. ``smooth`` (frames) smooths each track
  over time (`lifting.app.smoothing`). ``adapt_steps`` (0: off) adapts a copy of the lifter to the file's own 2D first
  (`lift_tracks`). With ``image_size`` and a sequence input (not photographs), the poses are also placed in the
  world (`lifting.app.motion`: ``height_m``, ``focal_mm`` or ``fov_deg``, ``fps``).

  The input is read and checked before the model is loaded, so a bad file fails at once. Everything
  is written to a temporary folder first and moved into ``output`` only when all of it succeeded, so
  an error leaves no partial files behind. Returns a summary.
  """
  o = lift_options(options, **fields).for_files()
  form = keypoints.infer_format(input_path, o.format, o.layout)
  if o.layout and form != "array":
    raise ValueError(f"--layout applies to array inputs (.npy, .npz, .csv) only; {input_path} is read as {form}, "
                     "whose layout is part of its format")
  check_output(output)
  kp = keypoints.read_keypoints(input_path, o.format, **({"layout": o.layout} if o.layout else {}))
  if len(kp) == 0:
    raise ValueError(f"{input_path}: no poses to lift")
  kp = inference.restrict(kp, o.min_score, o.image_size)  # Per joint of the file's own layout, before conversion.
  o.check()
  from lifting.app import motion
  frames = tracking.frames_of(kp.ids)
  tracks = assign_tracks(kp, frames, o.track)
  model = inference.load(workdir, o.completion, discriminators=o.adapt_steps > 0)
  # Annotations of single photographs (LSP, LSPET, MPII) are no video; detector files and arrays are frames.
  images = form in ("lsp", "lspet", "mpii_csv")
  lifted, adapted = lift_tracks(model, kp, tracks, frames, o.adapt_steps, sequence=not images)
  check_liftable(lifted, input_path)
  if o.track is not None:
    lifted, frames = lifted.select(tracks == o.track), frames[tracks == o.track]
  if o.smooth:  # Each track is one person's video, in frame order (lifting.app.smoothing; README).
    from lifting.app import smoothing
    poses3d = lifted.poses3d.copy()
    for t in set(lifted.tracks.tolist()):
      rows = np.flatnonzero(lifted.tracks == t)
      poses3d[rows] = smoothing.gaussian(lifted.poses3d[rows], o.smooth, lifted.valid[rows])
    lifted = dataclasses.replace(lifted, poses3d=poses3d)
  meta = summary(model, lifted, input_path, kp.layout, o.smooth, o.track)
  if adapted is not None:
    meta["clip_adaptation"] = adapted
  world = None
  if o.image_size is not None and not images:
    world = motion.world_motion(lifted, frames, motion.intrinsics(o.image_size, o.focal_mm, o.fov_deg), o.fps,
                                o.height_m)
    meta["world"] = motion.summary(world, o.height_m, True)
  written = replace_folder(output, lambda tmp: write_outputs(lifted, tmp, meta, o.pictures, o.contact_sheet,
                                                             o.animate, o.viewer, world))
  return {**meta, "output": os.path.abspath(output), "files": written}


MAX_SMOOTH = 1000.0  # Frames: over half a minute of 30 fps video in each direction; wider is no smoothing, only cost.


def check_smooth(smooth: float) -> None:
  if not 0 <= smooth <= MAX_SMOOTH:
    raise ValueError(f"--smooth: expected a width in [0, {MAX_SMOOTH:g}] frames, got {smooth}")


def assign_tracks(kp, frames: np.ndarray, track: int | None) -> np.ndarray:
  """``[N]`` track of each pose of ``kp`` seen in ``frames [N]``: one person per frame (a video, or single images)
  is one track, several per frame are tracked (`lifting.app.tracking`). Raises for a ``--track`` the input lacks."""
  several = len(frames) > len(set(frames.tolist()))
  tracks = tracking.assign(kp.poses, kp.mask, frames) if several else np.zeros(len(kp), np.int64)
  if track is not None and track not in set(tracks.tolist()):
    raise ValueError(f"--track={track}: the input has tracks {sorted(set(tracks.tolist()))}")
  return tracks


def summary(model, lifted: Lifted, input_path: str, input_layout: str, smooth: float, track: int | None) -> dict:
  """What every lift's ``poses3d.json`` and return value say about it: model, input, counts, tracks."""
  counts = {name: int((lifted.flags[lifted.valid] == k).sum()) for k, name in enumerate(FLAG_NAMES)}
  return {"model": model.workdir, "step": model.step, "input": os.path.abspath(input_path),
          "input_layout": input_layout, "num_poses": len(lifted), "valid_poses": int(lifted.valid.sum()),
          "joint_counts": counts, "completion": model.completion is not None, "smooth_sigma_frames": smooth,
          "tracks": sorted(set(lifted.tracks.tolist())), "track": track,
          "degenerate_poses": int(lifted.degenerate.sum())}


def check_liftable(lifted: Lifted, input_path: str) -> None:
  """Raises ``ValueError`` when no pose of ``lifted`` could be lifted: that is a wrong input or filter (as an empty
  file is), not a result to write."""
  if not lifted.valid.any():
    raise ValueError(f"{input_path}: none of its {len(lifted):,} poses has enough usable joints to lift (8 of 14 "
                     f"after conversion and --min_score; {int(lifted.degenerate.sum()):,} degenerate)")


_OUTPUT_MARKERS = ("poses3d.json", "poses3d.npz")


def check_output(output: str) -> None:
  """Raises ``ValueError`` unless ``output`` is absent, an empty folder or an earlier lift's output (the only
  folders a lift may replace as a whole)."""
  output = os.path.abspath(output)
  parent = os.path.dirname(output)
  while parent and not os.path.exists(parent):
    parent = os.path.dirname(parent) if os.path.dirname(parent) != parent else ""
  if parent and not os.path.isdir(parent):
    raise ValueError(f"--output {output}: {parent} is a file, so no folder can be made under it")
  if not os.path.exists(output):
    return
  if not os.path.isdir(output):
    raise ValueError(f"--output {output} exists and is not a folder")
  entries = os.listdir(output)
  if entries and not any(m in entries for m in _OUTPUT_MARKERS):
    raise ValueError(f"--output {output} holds other files than a lift's; give a new or empty folder (a lift "
                     "replaces its output folder as a whole)")


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def replace_folder(output: str, write) -> list[str]:
  """Runs ``write(tmp)`` in a fresh folder beside ``output``, then swaps it in for ``output`` as a whole: no file
  of an earlier output survives, and a failure or a kill leaves ``output`` as it was. Temporary folders of lifts
  that were killed (``.lift-<pid>-*`` of a process that is gone) are removed first. Returns ``write``'s value."""
  import shutil
  import tempfile
  output = os.path.abspath(output)
  check_output(output)
  parent = os.path.dirname(output) or "."
  os.makedirs(parent, exist_ok=True)
  for name in os.listdir(parent):
    parts = name.split("-")
    if name.startswith((".lift-", ".lift_old-")) and len(parts) >= 3 and parts[1].isdigit() and \
        not _alive(int(parts[1])):
      shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
  try:
    tmp = tempfile.mkdtemp(prefix=f".lift-{os.getpid()}-", dir=parent)
  except OSError as e:
    raise ValueError(f"--output {output}: cannot write in {parent} ({e.strerror})") from None
  umask = os.umask(0)
  os.umask(umask)
  os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the output is as readable as any folder made here.
  import signal
  import threading
  handler = None
  if threading.current_thread() is threading.main_thread():  # A kill (SIGTERM) unwinds, so the finally cleans up.
    def stop(signum, frame):
      del frame
      raise SystemExit(128 + signum)
    handler = signal.signal(signal.SIGTERM, stop)
  try:
    result = write(tmp)
    old = None
    if os.path.exists(output):
      old = tempfile.mkdtemp(prefix=f".lift_old-{os.getpid()}-", dir=parent)
      os.replace(output, os.path.join(old, "output"))
    os.replace(tmp, output)
    if old is not None:
      shutil.rmtree(old, ignore_errors=True)
    return result
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
    if handler is not None:
      signal.signal(signal.SIGTERM, handler)
