"""2D people in frames: the detector interface, MediaPipe Pose behind it, and detection of a whole clip.

A detector is any callable ``detector(frame [H, W, 3] uint8 RGB, time_s) -> (keypoints [P, J, 2] pixels,
scores [P, J])`` for the P people it finds (P may be 0), with a ``layout`` attribute naming its keypoint layout
(`lifting.core.skeleton`) and a ``close()`` method. `detect` runs one over a clip and returns
`lifting.data.keypoints.Keypoints`, which the lift takes like any keypoint file, plus the frames where nobody
was found (gaps: they stay in the timeline).

`MediaPipeDetector` is MediaPipe Pose (BlazePose, Bazarevsky et al., 2020; Apache 2.0), whose detector and
landmark models ship inside the ``mediapipe==0.10.14`` wheel, so it runs offline (later releases fetch models at
run time). It runs through MediaPipe's Tasks ``PoseLandmarker``, which finds up to ``num_people`` people per
frame and tracks them between video frames. That API wants a model bundle, which the wheel does not carry: it is
built once from the wheel's own two models (`pose_bundle`), with the input normalisation its older API used.
Install it with ``pip install -e ".[video]"`` (wheels for Python 3.8-3.12).
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from lifting import cache
from lifting.core import skeleton
from lifting.data import keypoints as keypoints_lib

VIDEO_EXTRA = 'pip install -e ".[video]"'  # What installs MediaPipe; named in every message that needs it.


def _import_mediapipe():
  # MediaPipe's C++ logs every graph it builds; keep its warnings and errors only.
  os.environ.setdefault("GLOG_minloglevel", "1")
  try:
    with warnings.catch_warnings():  # protobuf 4 warns about an API mediapipe 0.10.14 still calls.
      warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
      import mediapipe
  except ImportError:
    raise ValueError(f"video and image inputs need MediaPipe Pose, an optional extra: {VIDEO_EXTRA} (its "
                     "wheels cover Python 3.8-3.12)") from None
  return mediapipe


def pose_bundle(cache_dir: str | None = None) -> str:
  """The path of a ``PoseLandmarker`` model bundle built from the models inside the installed mediapipe wheel.

  A bundle is a zip of ``pose_detector.tflite`` and ``pose_landmarks_detector.tflite`` whose image inputs carry
  normalisation metadata: [-1, 1] for the detector and [0, 1] for the landmark model, as MediaPipe's
  ``solutions.pose`` graph feeds them (their landmarks agree to a pixel on ``skier.jpg``). Built once into
  ``cache_dir`` (default ``$LIFTING_CACHE/mediapipe``, i.e. ``~/.cache/lifting/mediapipe``).
  """
  import zipfile

  mp = _import_mediapipe()
  from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer
  folder = cache_dir or cache.folder("mediapipe")
  path = os.path.join(folder, f"pose_landmarker_full-{mp.__version__}.task")
  if os.path.exists(path):
    return path
  models = os.path.join(os.path.dirname(mp.__file__), "modules")
  parts = {"pose_detector.tflite": ("pose_detection/pose_detection.tflite", 127.5, 127.5, 2),
           "pose_landmarks_detector.tflite": ("pose_landmark/pose_landmark_full.tflite", 0.0, 255.0, 5)}
  os.makedirs(folder, exist_ok=True)
  tmp = f"{path}.tmp{os.getpid()}"
  with zipfile.ZipFile(tmp, "w") as bundle:
    for name, (source, mean, std, outputs) in parts.items():
      source = os.path.join(models, source)
      if not os.path.exists(source):
        raise ValueError(f"mediapipe {mp.__version__} has no {source}: install the version the extra pins "
                         f"({VIDEO_EXTRA})")
      with open(source, "rb") as f:
        writer = metadata_writer.MetadataWriter.create(bytearray(f.read()))
      writer.add_general_info(name, "MediaPipe Pose model from the mediapipe wheel, with input normalisation")
      writer.add_image_input(norm_mean=[mean], norm_std=[std])
      for k in range(outputs):
        writer.add_feature_output(name=f"output{k}")
      bundle.writestr(name, bytes(writer.populate()[0]))
  os.replace(tmp, path)
  return path


class MediaPipeDetector:
  """MediaPipe Pose's 33 landmarks (layout ``blazepose33``) of up to ``num_people`` people per frame; scores are
  the landmarks' visibility. ``video=True`` tracks people from frame to frame (frames must come in time
  order); ``False`` detects afresh in each image."""
  layout = "blazepose33"

  def __init__(self, num_people: int = 1, video: bool = True, min_confidence: float = 0.5):
    if num_people < 1:
      raise ValueError(f"MediaPipeDetector: expected num_people >= 1, got {num_people}")
    mp = _import_mediapipe()
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core import base_options
    self._mp, self._video = mp, video
    options = vision.PoseLandmarkerOptions(
        base_options=base_options.BaseOptions(model_asset_path=pose_bundle()),
        running_mode=vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE, num_poses=num_people,
        min_pose_detection_confidence=min_confidence, min_pose_presence_confidence=min_confidence,
        min_tracking_confidence=min_confidence)
    self._landmarker = vision.PoseLandmarker.create_from_options(options)
    self._last_ms = -1

  def __call__(self, frame: np.ndarray, time_s: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    h, w = frame.shape[:2]
    image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame, np.uint8))
    with warnings.catch_warnings():  # protobuf 4 warns about an API mediapipe 0.10.14 calls on the first frame.
      warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
      if self._video:
        ms = max(int(round(time_s * 1000)), self._last_ms + 1)  # Timestamps must increase.
        self._last_ms = ms
        result = self._landmarker.detect_for_video(image, ms)
      else:
        result = self._landmarker.detect(image)
    people = result.pose_landmarks
    xy = np.array([[[m.x * w, m.y * h] for m in person] for person in people], np.float32).reshape(-1, 33, 2)
    scores = np.array([[m.visibility for m in person] for person in people], np.float32).reshape(-1, 33)
    return xy, scores

  def close(self):
    self._landmarker.close()


def detect(frames, detector, progress=None) -> tuple[keypoints_lib.Keypoints, np.ndarray, int]:
  """Runs ``detector`` over every frame of ``frames`` (`lifting.app.frames.Frames`).

  Returns:
    ``(keypoints, frame_of_pose, num_frames)``: the people found, in the detector's layout, each with id
    ``"frame000012#person0"`` and its frame index in ``frame_of_pose [N]``; and how many frames were read.
    Frames where nobody was found have no pose: they are the gaps, ``set(range(num_frames)) - set(frame_of_pose)``.

  Raises:
    ValueError: nobody in any frame, or a detector whose output does not match its layout.
  """
  layout = skeleton.get_layout(detector.layout)
  poses, scores, ids, frame_of = [], [], [], []
  count = 0
  for t, frame in enumerate(frames.read()):
    xy, sc = detector(frame, t / frames.fps)
    xy, sc = np.asarray(xy, np.float32), np.asarray(sc, np.float32)
    if xy.ndim != 3 or xy.shape[1:] != (layout.num_joints, 2) or sc.shape != xy.shape[:2]:
      raise ValueError(f"detector: expected keypoints [P, {layout.num_joints}, 2] and scores [P, "
                       f"{layout.num_joints}] for layout {layout.name}, got {xy.shape} and {sc.shape}")
    for p in range(len(xy)):
      poses.append(xy[p])
      scores.append(sc[p])
      ids.append(f"frame{t:06d}#person{p}")
      frame_of.append(t)
    count = t + 1
    if progress is not None:
      progress(count)
  if not poses:
    raise ValueError(f"{frames.path}: no person found in any of its {count} frames")
  poses, scores = np.stack(poses), np.stack(scores)
  mask = np.isfinite(poses).all(-1)
  kp = keypoints_lib.Keypoints(np.where(mask[..., None], poses, np.nan).astype(np.float32), mask,
                               np.zeros_like(mask), np.where(mask, scores, 0.0).astype(np.float32), layout.name,
                               tuple(ids), frames.path,
                               {"poses": len(ids), "frames": count,
                                "frames_without_person": count - len(set(frame_of))})
  return kp, np.asarray(frame_of, np.int64), count
