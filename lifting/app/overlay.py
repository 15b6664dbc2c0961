"""``overlay.mp4`` (``overlay.png`` for one image): a clip's own frames with each person's 2D skeleton drawn on
them, beside each track's 3D lift turning slowly about its vertical axis.

The overlay is drawn at the size it is shown: the clip is decoded a second time (`lifting.app.frames.Frames.read`) by
ffmpeg already scaled to at most `MAX_HEIGHT` pixels tall, the skeletons scaled alike, and each 3D panel a square
as tall as that frame; nothing holds the whole video in memory. Drawing is plain numpy (thick segments stamped
into the frame). Encoding is by the ffmpeg that ``imageio-ffmpeg`` ships (H.264 with the ``veryfast`` preset,
``yuv420p``: plays everywhere), once, as the frames come.
"""

from __future__ import annotations

import numpy as np

from lifting.app import frames as frames_lib
from lifting.core import skeleton

# Left side blue, right side orange, the middle white; one hue per track for the 2D skeletons.
_LEFT, _RIGHT, _MIDDLE = (66, 135, 245), (245, 130, 48), (235, 235, 235)
TRACK_COLOURS = ((46, 204, 113), (231, 76, 60), (52, 152, 219), (241, 196, 15), (155, 89, 182), (26, 188, 156))
TURN_SECONDS = 8.0  # One full turn of the 3D view.
MAX_HEIGHT = 720  # Pixels: the overlay's frames and 3D panels are drawn at most this tall (a 720p player).


def _side_colour(name: str):
  return _LEFT if name.startswith("l_") else _RIGHT if name.startswith("r_") else _MIDDLE


def draw_segments(image: np.ndarray, starts: np.ndarray, ends: np.ndarray, colours, width: int = 3) -> None:
  """Draws segments ``starts [K, 2] -> ends [K, 2]`` (pixels, x then y; NaN segments skipped) into ``image
  [H, W, 3]`` uint8, in place, ``width`` pixels thick, ``colours`` one RGB triple per segment."""
  h, w = image.shape[:2]
  r = max(0, width // 2)
  disc = np.array([(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1) if dy * dy + dx * dx <= r * r + r])
  for a, b, colour in zip(np.asarray(starts, np.float64), np.asarray(ends, np.float64), colours):
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
      continue
    n = int(min(np.ceil(np.abs(b - a).max()), 4 * (h + w))) + 1
    t = np.linspace(0.0, 1.0, n)[:, None]
    pts = np.rint(a + t * (b - a)).astype(np.int64)  # [n, 2] x, y
    ys = (pts[:, None, 1] + disc[None, :, 0]).ravel()
    xs = (pts[:, None, 0] + disc[None, :, 1]).ravel()
    keep = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
    image[ys[keep], xs[keep]] = colour


def draw_skeleton(image: np.ndarray, pose2d: np.ndarray, layout: str = "paper14", colour=None, width: int = 3) -> None:
  """Draws the bones of ``pose2d [J, 2]`` (pixels) into ``image`` in place; ``colour`` one RGB for all bones,
  or ``None``: left blue, right orange, middle white."""
  lay = skeleton.get_layout(layout)
  bones = [(p, c) for c, p in enumerate(lay.parents) if p >= 0]
  pose2d = np.asarray(pose2d, np.float64)
  colours = [colour or _side_colour(lay.joints[c]) for _, c in bones]
  draw_segments(image, pose2d[[p for p, _ in bones]], pose2d[[c for _, c in bones]], colours, width)


def lift_panel(pose3d: np.ndarray | None, size: int, angle: float, layout: str = "paper14",
               background=(24, 24, 28)) -> np.ndarray:
  """A ``[size, size, 3]`` picture of ``pose3d [J, 3]`` (root-relative, camera frame: y down; unit
  head-to-root length) seen from ``angle`` radians about its vertical axis, orthographic. ``None`` or a
  pose with NaN (no lift in this frame) gives the empty panel with a red bar at the bottom."""
  panel = np.empty((size, size, 3), np.uint8)
  panel[:] = background
  if pose3d is None or not np.isfinite(pose3d).all():
    panel[-max(2, size // 60):] = (200, 40, 40)
    return panel
  c, s = np.cos(angle), np.sin(angle)
  p = np.asarray(pose3d, np.float64)
  x = c * p[:, 0] + s * p[:, 2]  # A turn about the camera's y (vertical) axis.
  scale = 0.28 * size  # Head-to-root length in pixels: a standing body fits with room to spare.
  uv = np.stack([size / 2 + scale * x, 0.42 * size + scale * p[:, 1]], axis=-1)
  floor = min(float(np.max(uv[:, 1])) + 0.02 * size, size - 2.0)  # A floor line under the lowest joint.
  draw_segments(panel, np.array([[0.15 * size, floor]]), np.array([[0.85 * size, floor]]), [(70, 70, 80)], 1)
  draw_skeleton(panel, uv, layout, width=max(2, size // 120))
  return panel


def compose(frame: np.ndarray, people: list[tuple[int, np.ndarray]], lifts: list[np.ndarray | None],
            time_s: float, layout: str = "paper14") -> np.ndarray:
  """One overlay frame: ``frame`` with each ``(track, pose2d [J, 2])`` drawn on it, then one 3D panel per
  entry of ``lifts`` (that track's pose in this frame or ``None``), all as tall as the frame."""
  h = frame.shape[0]
  out = np.array(frame, np.uint8, copy=True)
  for track, pose2d in people:
    draw_skeleton(out, pose2d, layout, TRACK_COLOURS[track % len(TRACK_COLOURS)], width=max(2, h // 160))
  angle = 2 * np.pi * time_s / TURN_SECONDS
  panels = [lift_panel(p, h, angle, layout) for p in lifts]
  out = np.concatenate([out] + panels, axis=1)
  pad_h, pad_w = out.shape[0] % 2, out.shape[1] % 2  # H.264 in yuv420p needs even sizes.
  return np.pad(out, ((0, pad_h), (0, pad_w), (0, 0))) if pad_h or pad_w else out


def _shown(frames, people_at):
  """``(frames decoded at most MAX_HEIGHT tall, people_at with the skeletons scaled to them)``."""
  shown = frames.scaled(int(MAX_HEIGHT * max(frames.size) / frames.size[1]))
  factor = shown.size[1] / frames.size[1]
  if factor == 1:
    return frames, people_at
  return shown, lambda t: [(track, np.asarray(pose2d) * factor) for track, pose2d in people_at(t)]


def write(path: str, frames, people_at, lifts_at, layout: str = "paper14") -> int:
  """Writes ``overlay.mp4`` to ``path`` from ``frames`` (`lifting.app.frames.Frames`) and, per frame index t,
  ``people_at(t)`` (list of ``(track, pose2d)`` in ``frames``' pixels) and ``lifts_at(t)`` (one 3D pose or ``None``
  per track). Returns the number of frames written."""
  import imageio_ffmpeg
  frames, people_at = _shown(frames, people_at)
  writer, count = None, 0
  try:
    for t, frame in enumerate(frames.read()):
      picture = compose(frame, people_at(t), lifts_at(t), t / frames.fps, layout)
      if writer is None:
        writer = imageio_ffmpeg.write_frames(path, (picture.shape[1], picture.shape[0]), fps=frames.fps,
                                             macro_block_size=1, quality=6, ffmpeg_log_level="error",
                                             output_params=["-preset", "veryfast"])
        with frames_lib.quiet_fork():
          writer.send(None)  # Starts ffmpeg.
      writer.send(np.ascontiguousarray(picture))
      count += 1
  finally:
    if writer is not None:
      writer.close()
  return count


def write_picture(path: str, frames, people_at, lifts_at, layout: str = "paper14") -> None:
  """`write` for a one-frame input: the composed frame as a PNG."""
  from PIL import Image
  frames, people_at = _shown(frames, people_at)
  frame = next(iter(frames.read()))
  Image.fromarray(compose(frame, people_at(0), lifts_at(0), 0.0, layout)).save(path)
