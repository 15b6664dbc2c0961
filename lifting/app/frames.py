"""Frames from a video, one image or a folder of images, with their times.

`open_frames` checks an input and says what it is (`Frames`: kind, frame rate, size, frame count) without
decoding it all; `Frames.read` then yields the frames, ``[H, W, 3]`` uint8 RGB, as often as asked (the lift
reads a video twice: once to detect, once to draw the overlay). Videos are decoded by the ffmpeg binary that
``imageio-ffmpeg`` ships, so any format ffmpeg reads works; images by Pillow (EXIF rotation applied).

Frames larger than ``max_side`` pixels on their long side are downscaled (``Frames.downscaled_from`` says from
what): detectors work on a few hundred pixels, and a 4K clip would only cost memory and time.

Bad input raises `FramesError` (a ``ValueError``) with one line naming the file: a missing path, an unknown or
unreadable format, a truncated video, a folder holding other files than images, an empty folder.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import dataclasses
import logging
import os
import warnings

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
# Formats `lifting.data.keypoints` reads: never taken for media.
KEYPOINT_EXTENSIONS = (".json", ".mat", ".csv", ".npy", ".npz")
MAX_SIDE = 1920
# A video that decodes to fewer frames than this share of what its header promises is called truncated.
_TRUNCATED_SHARE = 0.9


class FramesError(ValueError):
  """Unreadable media: the message is ``"{path}: {reason}"``."""

  def __init__(self, path, reason: str):
    super().__init__(f"{os.fspath(path)}: {reason}")


@dataclasses.dataclass(frozen=True)
class Frames:
  """An opened input.

  Attributes:
    path: the file or folder.
    kind: ``"video"``, ``"image"`` or ``"images"`` (a folder, in file-name order).
    fps: frames per second (a video's own; ``fps`` given to `open_frames` for images).
    size: ``(width, height)`` of the frames `read` yields (after downscaling).
    num_frames: how many frames `read` yields (for a video, the header's estimate until it is read).
    files: the image files, in order (images only).
    downscaled_from: the original ``(width, height)`` when frames are downscaled, else ``None``.
  """
  path: str
  kind: str
  fps: float
  size: tuple[int, int]
  num_frames: int
  files: tuple[str, ...] = ()
  downscaled_from: tuple[int, int] | None = None

  def times(self, count: int | None = None) -> np.ndarray:
    """``[count]`` seconds of each frame from the first (``count`` defaults to ``num_frames``)."""
    return np.arange(self.num_frames if count is None else count, dtype=np.float64) / self.fps

  def scaled(self, max_side: int) -> Frames:
    """The same frames decoded (by ffmpeg, for a video) at most ``max_side`` pixels on their long side."""
    size = _scaled(self.size, max_side)
    if size == self.size:
      return self
    return dataclasses.replace(self, size=size, downscaled_from=self.downscaled_from or self.size)

  def read(self) -> Iterator[np.ndarray]:
    """Yields every frame, ``[H, W, 3]`` uint8 RGB of `size`. A video that stops well short of its header's
    frame count raises `FramesError` (truncated) after the frames it had."""
    if self.kind != "video":
      for f in self.files:
        yield _read_image(f, self.size)
      return
    count = 0
    for frame in _video_frames(self.path, self.size if self.downscaled_from else None):
      count += 1
      yield frame
    if count == 0 or count < _TRUNCATED_SHARE * self.num_frames - 1:
      raise FramesError(self.path, f"truncated or damaged video: decoded {count} frames where its header promises "
                        f"about {self.num_frames}")


MIN_FPS, MAX_FPS = 0.1, 1000.0  # Frames per second: a time-lapse to any high-speed camera users film with.


def is_media(path) -> bool:
  """Whether `open_frames` should read ``path`` (a video, an image, a folder of images) rather than
  `lifting.data.keypoints` (keypoint files and folders of them). A folder with no keypoint files is read as a folder
  of images, so an empty one is reported as holding no images."""
  path = os.fspath(path)
  if os.path.isdir(path):
    names = os.listdir(path)
    return any(os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS for n in names) or not any(
        os.path.splitext(n)[1].lower() in KEYPOINT_EXTENSIONS for n in names)
  return os.path.splitext(path)[1].lower() not in KEYPOINT_EXTENSIONS


def _scaled(size: tuple[int, int], max_side: int) -> tuple[int, int]:
  w, h = size
  if max(w, h) <= max_side:
    return w, h
  f = max_side / max(w, h)
  return max(2, int(round(w * f / 2)) * 2), max(2, int(round(h * f / 2)) * 2)  # Even sizes: what encoders need.


def _with_image(path: str, use):
  """``use(image)`` of the Pillow image at ``path``, EXIF rotation applied; `FramesError` if it cannot be read."""
  from PIL import Image  # Pillow comes with matplotlib.
  from PIL import ImageOps  # Pillow comes with matplotlib.
  try:
    with Image.open(path) as im:
      return use(ImageOps.exif_transpose(im))
  except (OSError, ValueError, Image.DecompressionBombError) as e:
    raise FramesError(path, f"not a readable image ({type(e).__name__}: {' '.join(str(e).split())})") from None


def _read_image(path: str, size: tuple[int, int] | None = None) -> np.ndarray:
  from PIL import Image

  def frame(im):
    im = im.convert("RGB")
    return np.asarray(im if size is None or im.size == tuple(size) else im.resize(tuple(size), Image.BILINEAR),
                      np.uint8)
  return _with_image(path, frame)


def _image_size(path: str) -> tuple[int, int]:
  return _with_image(path, lambda im: im.size)


@contextlib.contextmanager
def quiet_fork():
  """Silences JAX's warning that a process forked while JAX runs, around starting ffmpeg: ``subprocess`` execs
  the child at once (no Python runs in it), which is the safe case the warning cannot tell apart."""
  with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
    yield


_FFMPEG_BANNER = ("ffmpeg version", "built with", "configuration:", "libav", "libsw", "libpostproc", "=== stderr",
                  "Could not load meta information")


def ffmpeg_reason(e: BaseException) -> str:
  """What ffmpeg said was wrong, from an imageio-ffmpeg error that quotes its whole stderr: the lines after its
  banner (version, build, libraries), the last three of them, without the ``[demuxer @ 0x...]`` prefixes; the
  error's own text when ffmpeg said nothing else."""
  lines = [line.strip() for line in str(e).splitlines() if line.strip()]
  said = [line for line in lines if not line.startswith(_FFMPEG_BANNER)]
  said = [line.split("] ", 1)[1] if line.startswith("[") and "] " in line else line for line in said]
  return "; ".join(said[-3:])[:400] if said else (lines[0][:200] if lines else type(e).__name__)


def _video_frames(path: str, size: tuple[int, int] | None) -> Iterator[np.ndarray]:
  import imageio_ffmpeg
  output = ["-vf", f"scale={size[0]}:{size[1]}"] if size else None
  quiet = logging.getLogger("imageio_ffmpeg")  # It warns when it scales, which is the point here.
  level = quiet.level
  try:
    quiet.setLevel(logging.ERROR)
    try:
      reader = imageio_ffmpeg.read_frames(path, output_params=output)
      with quiet_fork():
        meta = next(reader)  # Starts ffmpeg.
    finally:
      quiet.setLevel(level)
    w, h = meta["size"]
    for raw in reader:
      yield np.frombuffer(raw, np.uint8).reshape(h, w, 3)
  except (RuntimeError, OSError, StopIteration) as e:
    raise FramesError(path, f"unreadable video ({ffmpeg_reason(e)})") from None


def _probe_video(path: str) -> tuple[float, tuple[int, int], int]:
  """(fps, (width, height), frame count the header promises) without decoding the frames."""
  import imageio_ffmpeg
  try:
    reader = imageio_ffmpeg.read_frames(path)
    with quiet_fork():
      meta = next(reader)
    reader.close()
  except (RuntimeError, OSError, StopIteration) as e:
    raise FramesError(path, f"not a video or image ffmpeg can read ({ffmpeg_reason(e)})") from None
  fps, duration = float(meta.get("fps") or 0), float(meta.get("duration") or 0)
  if not fps > 0:
    raise FramesError(path, "the video has no frame rate")
  return fps, tuple(int(v) for v in meta["size"]), max(1, int(round(fps * duration)))


def focal_mm_35(frames) -> float | None:
  """The 35 mm-equivalent focal length an image input's EXIF metadata states (its first image's), or ``None`` (no
  such tag, or a video: containers seldom carry one)."""
  if frames.kind == "video" or not frames.files:
    return None
  try:
    value = _with_image(frames.files[0], lambda im: im.getexif().get_ifd(0x8769).get(0xA405))  # FocalLengthIn35mmFilm
  except (FramesError, AttributeError, KeyError):
    return None
  try:
    value = float(value)
  except (TypeError, ValueError):
    return None
  return value if 1.0 <= value <= 2000.0 else None


def open_frames(path, max_side: int = MAX_SIDE, fps: float = 30.0) -> Frames:
  """Opens a video file, an image or a folder of images (see the module docstring).

  Args:
    path: the input.
    max_side: frames are downscaled so their long side is at most this many pixels.
    fps: the frame rate given to images (a folder of images is read as a clip at this rate).
  """
  path = os.fspath(path)
  if max_side < 16:
    raise ValueError(f"max_side: expected at least 16 pixels, got {max_side}")
  if not MIN_FPS <= fps <= MAX_FPS:
    raise ValueError(f"--fps: expected a frame rate in [{MIN_FPS:g}, {MAX_FPS:g}] frames per second, got {fps}")
  if not os.path.exists(path):
    raise FramesError(path, "no such file or folder")
  if os.path.isdir(path):
    names = sorted(n for n in os.listdir(path) if not n.startswith("."))
    images = [n for n in names if os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS]
    others = [n for n in names if n not in images]
    if not images:
      raise FramesError(path, "a folder without images (.jpg, .png, ...)")
    if others:
      raise FramesError(path, f"the image folder also holds {len(others)} other files ({', '.join(others[:3])}"
                        f"{', ...' if len(others) > 3 else ''}); give a folder of images only")
    files = tuple(os.path.join(path, n) for n in images)
    sizes = {_image_size(f) for f in files}
    if len(sizes) > 1:
      raise FramesError(path, f"the images differ in size ({', '.join(f'{w}x{h}' for w, h in sorted(sizes)[:3])}); "
                        "a folder is read as the frames of one clip")
    (size,) = sizes
    out = _scaled(size, max_side)
    return Frames(path, "images", float(fps), out, len(files), files, size if out != size else None)
  ext = os.path.splitext(path)[1].lower()
  if ext in KEYPOINT_EXTENSIONS:
    raise FramesError(path, f"a keypoint file ({ext}), not a video or image")
  if ext in IMAGE_EXTENSIONS:
    size = _image_size(path)
    out = _scaled(size, max_side)
    return Frames(path, "image", float(fps), out, 1, (path,), size if out != size else None)
  rate, size, count = _probe_video(path)
  out = _scaled(size, max_side)
  return Frames(path, "video", rate, out, count, (), size if out != size else None)
