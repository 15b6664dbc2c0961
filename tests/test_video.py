"""Video to 3D: reading frames, a detector, gaps, the overlay, BVH per track, and bad input.

A fake detector stands in for MediaPipe everywhere except the tests marked for the real one, which need the
[video] extra and ``../shared/media/skier.jpg`` (a real photo; CC BY 2.0, see ../shared/media/README.md) and
skip with a message when either is absent.
"""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lifting.app import detector as detector_lib
from lifting.app import frames as frames_lib
from lifting.app import overlay
from lifting.app import retarget
from lifting.app import video
from lifting.core import skeleton
from lifting.data import bvh

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIER = os.path.join(ROOT, "..", "shared", "media", "skier.jpg")
BLAZE = skeleton.get_layout("blazepose33")
HAVE_MEDIAPIPE = importlib.util.find_spec("mediapipe") is not None


def _write_video(path, frames, fps=25):
  import imageio_ffmpeg
  h, w = frames[0].shape[:2]
  writer = imageio_ffmpeg.write_frames(str(path), (w, h), fps=fps, macro_block_size=1, ffmpeg_log_level="error")
  with frames_lib.quiet_fork():
    writer.send(None)
  for f in frames:
    writer.send(np.ascontiguousarray(f))
  writer.close()


def _clip(n=12, w=96, h=64, dark=(4, 5)):
  """Frames whose brightness says where the fake person stands; the ``dark`` frames hold nobody."""
  out = []
  for t in range(n):
    frame = np.full((h, w, 3), 10 if t in dark else 200, np.uint8)
    frame[:, :8] = 10 * t  # Each frame is different.
    out.append(frame)
  return out


def _standing(cx, cy, size):
  """A standing person facing the camera in blazepose33, ``size`` pixels from the head to the ankles."""
  s = size / 8.0
  at = {"nose": (0, -3.8), "l_eye": (0.25, -3.95), "r_eye": (-0.25, -3.95), "l_ear": (0.45, -3.85),
        "r_ear": (-0.45, -3.85), "l_shoulder": (1.0, -3.0), "r_shoulder": (-1.0, -3.0), "l_elbow": (1.2, -1.6),
        "r_elbow": (-1.2, -1.6), "l_wrist": (1.3, -0.3), "r_wrist": (-1.3, -0.3), "l_hip": (0.6, 0.0),
        "r_hip": (-0.6, 0.0), "l_knee": (0.65, 2.0), "r_knee": (-0.65, 2.0), "l_ankle": (0.7, 4.0),
        "r_ankle": (-0.7, 4.0)}
  pose = np.zeros((BLAZE.num_joints, 2), np.float32)
  for k, name in enumerate(BLAZE.joints):
    base = at.get(name) or at.get(name.replace("_inner", "").replace("_outer", "")) or \
        at.get({"l_mouth": "nose", "r_mouth": "nose"}.get(name, "")) or \
        at.get(name[:2] + {"pinky": "wrist", "index": "wrist", "thumb": "wrist", "heel": "ankle",
                           "foot_index": "ankle"}.get(name[2:], ""))
    pose[k] = (cx + s * base[0], cy + s * base[1])
  return pose


class FakeDetector:
  """One person (or ``people``) per bright frame, swaying from frame to frame; nobody in dark frames."""
  layout = "blazepose33"

  def __init__(self, people=1):
    self.people, self.calls, self.closed = people, [], False

  def __call__(self, frame, time_s=0.0):
    self.calls.append(time_s)
    h, w = frame.shape[:2]
    if frame[:, 8:].mean() < 50:
      return np.zeros((0, 33, 2), np.float32), np.zeros((0, 33), np.float32)
    sway = 2.0 * np.sin(len(self.calls))
    poses = [_standing(w * (p + 1) / (self.people + 1) + sway, h * 0.45, h * 0.7) for p in range(self.people)]
    scores = np.full((self.people, 33), 0.9, np.float32)
    scores[:, BLAZE.index("l_wrist")] = 0.2  # Below --min_score: missing, and completed.
    return np.stack(poses), scores

  def close(self):
    self.closed = True


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
  path = tmp_path_factory.mktemp("clip") / "clip.mp4"
  _write_video(path, _clip())
  return str(path)


def test_frames_of_a_video_an_image_and_a_folder(clip, tmp_path):
  from PIL import Image
  f = frames_lib.open_frames(clip)
  assert (f.kind, f.fps, f.size, f.num_frames) == ("video", 25.0, (96, 64), 12)
  got = list(f.read())
  assert len(got) == 12 and got[0].shape == (64, 96, 3) and got[0].dtype == np.uint8
  np.testing.assert_allclose(f.times(3), [0.0, 0.04, 0.08])
  small = frames_lib.open_frames(clip, max_side=48)
  assert small.size == (48, 32) and small.downscaled_from == (96, 64) and next(small.read()).shape == (32, 48, 3)
  folder = tmp_path / "images"
  folder.mkdir()
  for t, frame in enumerate(_clip(3)):
    Image.fromarray(frame).save(folder / f"{t:03d}.png")
  f = frames_lib.open_frames(str(folder), fps=10)
  assert (f.kind, f.num_frames, f.fps) == ("images", 3, 10.0)
  np.testing.assert_array_equal(np.stack(list(f.read())), np.stack(_clip(3)))
  one = frames_lib.open_frames(str(folder / "001.png"), max_side=32)
  assert one.kind == "image" and one.size == (32, 22) and next(one.read()).shape == (22, 32, 3)
  assert frames_lib.is_media(clip) and frames_lib.is_media(str(folder)) and not frames_lib.is_media("x.json")


@pytest.mark.parametrize("case, message", [
    ("missing", "no such file"), ("garbage", "not a video or image ffmpeg can read"),
    ("truncated", "not a video or image ffmpeg can read"), ("mixed", "also holds 1 other files"),
    ("sizes", "differ in size"), ("empty", "a folder without images"), ("bad_image", "not a readable image")])
def test_bad_media_is_one_line(clip, tmp_path, case, message):
  from PIL import Image
  path = tmp_path / case
  if case == "garbage":
    path = tmp_path / "garbage.mp4"
    path.write_bytes(b"not a video" * 100)
  elif case == "truncated":  # Cut in half: the index at the end of the file is gone.
    data = open(clip, "rb").read()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])
  elif case in ("mixed", "sizes", "empty"):
    path.mkdir()
    if case != "empty":
      Image.fromarray(_clip(1)[0]).save(path / "a.png")
      if case == "mixed":
        (path / "notes.txt").write_text("hi")
      else:
        Image.fromarray(_clip(1, w=50)[0]).save(path / "b.png")
  elif case == "bad_image":
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8 not really a jpeg")
  with pytest.raises(ValueError, match=message) as e:
    frames_lib.open_frames(str(path))
  assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_a_video_shorter_than_its_header_is_called_truncated(clip):
  f = frames_lib.open_frames(clip)
  f = frames_lib.Frames(f.path, f.kind, f.fps, f.size, 40)  # As if the header promised 40 frames.
  with pytest.raises(ValueError, match="truncated or damaged video: decoded 12 frames"):
    list(f.read())


def test_detect_keeps_gaps_and_checks_the_detector(clip):
  det = FakeDetector()
  kp, frame_of, count = detector_lib.detect(frames_lib.open_frames(clip), det)
  assert count == 12 and kp.layout == "blazepose33" and len(kp) == 10
  assert sorted(set(range(12)) - set(frame_of.tolist())) == [4, 5]
  assert kp.ids[4] == "frame000006#person0" and kp.counts["frames_without_person"] == 2
  np.testing.assert_allclose(det.calls, np.arange(12) / 25.0)
  bad = FakeDetector()
  bad.layout = "coco17"
  with pytest.raises(ValueError, match="detector: expected keypoints"):
    detector_lib.detect(frames_lib.open_frames(clip), bad)


def test_lift_video_writes_times_gaps_overlay_and_bvh(clip, tmp_path):
  out = tmp_path / "out"
  det = FakeDetector()
  summary = video.lift_video(None, clip, str(out), detector=det, bvh=True)
  assert not det.closed  # A detector the caller gave is the caller's to close.
  assert summary["gaps"] == [4, 5] and summary["frames"] == 12 and summary["fps"] == 25.0
  assert sorted(summary["files"]) == ["motion.bvh", "overlay.mp4", "poses3d.json", "poses3d.npz"]
  doc = json.loads((out / "poses3d.json").read_text())
  assert doc["gaps"] == [4, 5] and doc["bvh_interpolated_frames"] == {"0": [4, 5]}
  assert [p["time_s"] for p in doc["poses"][:5]] == [0.0, 0.04, 0.08, 0.12, 0.24]
  assert doc["poses"][0]["joints"]["l_wrist"]["flag"] == "completed"  # Visibility 0.2 < 0.5.
  with np.load(out / "poses3d.npz") as z:
    np.testing.assert_allclose(z["times"][4], 0.24)
  motion = bvh.read_bvh(out / "motion.bvh")
  assert motion.frames.shape[0] == 12 and motion.frame_time == pytest.approx(0.04)
  positions = bvh.forward_kinematics(motion, retarget.NAMES)
  feet = positions[:, [retarget.NAMES.index("RightFoot"), retarget.NAMES.index("LeftFoot")], 1]
  head = positions[:, retarget.NAMES.index("Head"), 1]
  assert np.all(head > 100) and np.all(np.abs(feet) < 20)  # Centimetres: upright, standing on the floor.
  overlay_frames = list(frames_lib.open_frames(str(out / "overlay.mp4")).read())
  assert len(overlay_frames) == 12 and overlay_frames[0].shape == (64, 96 + 64, 3)


def test_two_people_get_a_track_and_a_bvh_each(clip, tmp_path):
  out = tmp_path / "out"
  summary = video.lift_video(None, clip, str(out), detector=FakeDetector(people=2), bvh=True, overlay=False,
                             num_people=2)
  assert summary["tracks"] == [0, 1]
  assert sorted(summary["files"]) == ["motion_track0.bvh", "motion_track1.bvh", "poses3d.json", "poses3d.npz"]
  one = tmp_path / "one"
  summary = video.lift_video(None, clip, str(one), detector=FakeDetector(people=2), track=1, overlay=False,
                             num_people=2)
  assert summary["tracks"] == [1] and summary["valid_poses"] == 10


def test_a_clip_with_nobody_leaves_nothing(tmp_path):
  path = tmp_path / "dark.mp4"
  _write_video(path, _clip(4, dark=(0, 1, 2, 3)))
  out = tmp_path / "out"
  with pytest.raises(ValueError, match="no person found in any of its 4 frames"):
    video.lift_video(None, str(path), str(out), detector=FakeDetector())
  assert not out.exists() and not [p for p in os.listdir(tmp_path) if p.startswith(".lift-")]


def test_draw_segments_marks_the_pixels_on_the_line():
  image = np.zeros((20, 30, 3), np.uint8)
  overlay.draw_segments(image, np.array([[2.0, 3.0], [np.nan, 0.0]]), np.array([[27.0, 3.0], [5.0, 5.0]]),
                        [(255, 0, 0), (0, 255, 0)], width=1)
  lit = np.argwhere(image[..., 0] == 255)
  assert set(lit[:, 0].tolist()) == {3} and lit[:, 1].min() == 2 and lit[:, 1].max() == 27
  assert not image[..., 1].any()  # The NaN segment is skipped.
  panel = overlay.lift_panel(None, 40, 0.0)
  assert panel.shape == (40, 40, 3) and (panel[-1] == (200, 40, 40)).all()


def _cli(*args):
  return subprocess.run([sys.executable, "run.py", "--mode=lift", *args], cwd=ROOT, capture_output=True, text=True,
                        timeout=300)


@pytest.mark.skipif(HAVE_MEDIAPIPE, reason="checks the message shown without the [video] extra")
def test_without_the_extra_a_video_is_a_one_line_error(clip, tmp_path):
  res = _cli(f"--input={clip}", f"--output={tmp_path / 'out'}")
  assert res.returncode != 0
  last = res.stderr.strip().splitlines()[-1]
  assert last.startswith("run.py: error:") and 'pip install -e ".[video]"' in last, res.stderr[-1000:]


def _need_real_detector():
  if not HAVE_MEDIAPIPE:
    pytest.skip('needs MediaPipe Pose: pip install -e ".[video]"')
  if not os.path.exists(SKIER):
    pytest.skip(f"needs the photo {SKIER} (../shared/media)")


def test_mediapipe_finds_the_skier_where_a_body_is():
  _need_real_detector()
  det = detector_lib.MediaPipeDetector(video=False)
  try:
    image = next(frames_lib.open_frames(SKIER).read())
    xy, scores = det(image)
  finally:
    det.close()
  assert xy.shape == (1, 33, 2) and scores.shape == (1, 33)
  p = {name: xy[0, k] for k, name in enumerate(BLAZE.joints)}
  for side in "lr":  # Image y grows downwards: ankles below knees below hips below shoulders.
    assert p[f"{side}_ankle"][1] > p[f"{side}_knee"][1] > p[f"{side}_hip"][1] > p[f"{side}_shoulder"][1]
  assert np.sign(p["l_shoulder"][0] - p["r_shoulder"][0]) == np.sign(p["l_hip"][0] - p["r_hip"][0])


def test_a_clip_made_from_the_photo_goes_through_the_cli(tmp_path):
  _need_real_detector()
  from PIL import Image
  photo = Image.open(SKIER).convert("RGB")
  frames = []
  for t in range(16):  # A pan and a zoom over the photo, and two frames of nobody.
    zoom, x0 = 1.0 + 0.25 * t / 15, 120 + 4 * t
    box = (x0, 10, x0 + int(480 / zoom), 10 + int(360 / zoom))
    frames.append(np.zeros((240, 320, 3), np.uint8) if t in (7, 8) else np.asarray(photo.crop(box).resize((320, 240))))
  path = tmp_path / "skier.mp4"
  _write_video(path, frames, fps=30)
  out = tmp_path / "out"
  res = _cli(f"--input={path}", f"--output={out}", "--bvh")
  assert res.returncode == 0, res.stderr[-2000:]
  assert "from 16 frames" in res.stdout and "no person in 2 frames" in res.stdout
  doc = json.loads((out / "poses3d.json").read_text())
  assert doc["gaps"] == [7, 8] and doc["input_layout"] == "blazepose33"
  lifted = [p for p in doc["poses"] if p["valid"]]
  assert len(lifted) == 14
  for pose in lifted:  # Upright: camera y points down, so the head is above the root and the ankles below it.
    j = {name: np.array(v["xyz"]) for name, v in pose["joints"].items()}
    assert j["head"][1] < 0 < j["r_ankle"][1] and j["l_ankle"][1] > 0
  assert bvh.read_bvh(out / "motion.bvh").frames.shape[0] == 16
  assert len(list(frames_lib.open_frames(str(out / "overlay.mp4")).read())) == 16
