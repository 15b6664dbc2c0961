"""Lifting files: a keypoint file in, a folder of results out (``run.py --mode=lift``).

`lift_file` reads any keypoint file `lifting.data.keypoints` knows, lifts it with a `lifting.inference.Model`,
tracks people over time and smooths them when asked, and writes `write_outputs`' files (``poses3d.json`` and
``.npz``, pictures, contact sheet, animation, viewer) through `replace_folder`: a temporary folder beside the
output, swapped in only when everything succeeded, so an error or a kill leaves no partial output. Video and
image inputs go through `lifting.video` to the same writers.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from lifting import inference
from lifting import tracking
from lifting.data import keypoints
from lifting.inference import FLAG_NAMES, Lifted


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
                  animate: bool = False, viewer: bool = False) -> list[str]:
  """Writes ``poses3d.npz``, ``poses3d.json``, the pictures and (with ``viewer``) ``viewer.html``, the
  interactive viewer of every liftable pose (`lifting.viewer`), to ``folder``; returns the paths (relative)."""
  os.makedirs(folder, exist_ok=True)
  np.savez(os.path.join(folder, "poses3d.npz"), poses3d=lifted.poses3d, scale=lifted.scale, flags=lifted.flags,
           pose2d=lifted.pose2d, valid=lifted.valid, ids=np.array(lifted.ids), tracks=lifted.tracks,
           joints=np.array(lifted.joints), flag_names=np.array(FLAG_NAMES),
           **({} if lifted.times is None else {"times": lifted.times}))
  with open(os.path.join(folder, "poses3d.json"), "w") as f:
    json.dump({**meta, "joints": list(lifted.joints), "flag_names": list(FLAG_NAMES), "poses": lifted.to_json()}, f)
  written = ["poses3d.npz", "poses3d.json"]
  names = lambda i: [FLAG_NAMES[k] for k in lifted.flags[i]]  # noqa: E731
  several = len(set(lifted.tracks.tolist())) > 1
  suffix = lambda track: f"_track{track}" if several else ""  # noqa: E731  (one viewer and movie per track)
  if viewer:
    from lifting import viewer as viewer_lib  # pylint: disable=g-import-not-at-top  (plotly only when asked)
    if not lifted.valid.any():
      raise ValueError("--viewer: no liftable pose to show")
    for track in sorted(set(lifted.tracks[lifted.valid].tolist())):
      frames = np.flatnonzero(lifted.valid & (lifted.tracks == track))
      name = f"viewer{suffix(track)}.html"
      viewer_lib.write_html(os.path.join(folder, name), lifted.poses3d[frames], lifted.pose2d[frames], "paper14",
                            flags=[names(i) for i in frames], titles=[str(lifted.ids[i]) for i in frames],
                            title=os.path.basename(str(meta.get("input", ""))) + (f", track {track}" if several else ""))
      written.append(name)
  if not (pictures or contact_sheet or animate):
    return written
  from lifting import plots  # pylint: disable=g-import-not-at-top  (matplotlib, seconds to import: only when drawing)
  for i in _pick(lifted.valid, pictures, spread=True):
    rel = os.path.join("pictures", f"pose_{_safe_name(lifted.ids[i])}.png")
    plots.pose_picture(lifted.pose2d[i], lifted.poses3d[i], "paper14", os.path.join(folder, rel), flags=names(i),
                       title=str(lifted.ids[i]))
    written.append(rel)
  picks = _pick(lifted.valid, contact_sheet, spread=False)
  if picks:
    plots.contact_sheet(lifted.pose2d[picks], lifted.poses3d[picks], "paper14", os.path.join(folder, "contact_sheet.png"),
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


def lift_file(workdir: str | None, input_path: str, output: str, format: str | None = None, layout: str | None = None,
              min_score=0.0, image_size: tuple[int, int] | None = None, pictures: int = 4,
              contact_sheet: int = 0, animate: bool = False, completion: str | None = "auto",
              viewer: bool = False, smooth: float = 0.0, track: int | None = None) -> dict:
  """Reads a keypoint file, lifts it with the model in ``workdir`` (`lifting.inference.load`; ``None``: the
  shipped model) and writes the results to ``output``.

  With several people in a frame (OpenPose folders, COCO files with image ids in frame order) the poses
  are grouped into tracks (`lifting.tracking`): every output carries its track, movies and viewers
  come one per track, and ``track`` keeps that track alone. ``smooth`` (frames) smooths each track
  over time (`lifting.smoothing`).

  The input is read and checked before the model is loaded, so a bad file fails at once. Everything
  is written to a temporary folder first and moved into ``output`` only when all of it succeeded, so
  an error leaves no partial files behind. Returns a summary.
  """
  if layout and keypoints.infer_format(input_path, format, layout) != "array":
    raise ValueError(f"--layout applies to array inputs (.npy, .npz, .csv) only; {input_path} is read as "
                     f"{keypoints.infer_format(input_path, format, layout)}, whose layout is part of its format")
  check_output(output)
  kp = keypoints.read_keypoints(input_path, format, **({"layout": layout} if layout else {}))
  if len(kp) == 0:
    raise ValueError(f"{input_path}: no poses to lift")
  kp = inference.restrict(kp, min_score, image_size)  # Per joint of the file's own layout, before conversion.
  check_smooth(smooth)
  tracks = assign_tracks(kp, tracking.frames_of(kp.ids), track)
  model = inference.load(workdir, completion)
  lifted = dataclasses.replace(model.lift_keypoints(kp), tracks=tracks)
  check_liftable(lifted, input_path)
  if track is not None:
    lifted = lifted.select(tracks == track)
  if smooth:  # Each track is one person's video, in frame order (lifting.smoothing; README).
    from lifting import smoothing  # pylint: disable=g-import-not-at-top
    poses3d = lifted.poses3d.copy()
    for t in set(lifted.tracks.tolist()):
      rows = np.flatnonzero(lifted.tracks == t)
      poses3d[rows] = smoothing.gaussian(lifted.poses3d[rows], smooth, lifted.valid[rows])
    lifted = dataclasses.replace(lifted, poses3d=poses3d)
  meta = summary(model, lifted, input_path, kp.layout, smooth, track)
  written = replace_folder(output, lambda tmp: write_outputs(lifted, tmp, meta, pictures, contact_sheet, animate,
                                                             viewer))
  return {**meta, "output": os.path.abspath(output), "files": written}


def check_smooth(smooth: float) -> None:
  if not smooth >= 0:
    raise ValueError(f"--smooth: expected a width >= 0 frames, got {smooth}")


def assign_tracks(kp, frames: np.ndarray, track: int | None) -> np.ndarray:
  """``[N]`` track of each pose of ``kp`` seen in ``frames [N]``: one person per frame (a video, or single images)
  is one track, several per frame are tracked (`lifting.tracking`). Raises for a ``--track`` the input lacks."""
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
  import shutil  # pylint: disable=g-import-not-at-top
  import tempfile  # pylint: disable=g-import-not-at-top
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
  import signal  # pylint: disable=g-import-not-at-top
  import threading  # pylint: disable=g-import-not-at-top
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
