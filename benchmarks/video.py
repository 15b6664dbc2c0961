"""Video to 3D: detection and lifting speed, the whole command's time, and the BVH round trip.

    python -m benchmarks.video                   # needs the [video] extra and ../shared/media/skier.jpg
    python -m benchmarks.video --photo=PATH.jpg --seconds=10

A clip is made from one photo of a person (a slow pan and zoom over it, 640 x 480, 30 fps, ``--seconds``
long). Reported:

* ``detect_fps``: MediaPipe Pose (video mode, one person) over the decoded frames, decoding included;
* ``lift_fps``: the shipped model lifting the detected keypoints (``Model.lift_keypoints``), compiled first;
* ``detect_and_lift_fps``: both together, per frame of the clip;
* ``command_s``: ``run.py --mode=lift --input=clip.mp4 --bvh`` end to end in a fresh process (model load,
  detection, lifting, ``overlay.mp4``, ``motion.bvh``, ``poses3d.json``);
* the BVH round trip: ``motion.bvh`` read back by ``lifting.data.bvh`` and by ``bvhio``, each joint against the
  positions the skeleton was solved for (what was written) and against the lifted joint positions (which the
  rigid skeleton can only match up to their bone-length wobble), as the largest error over joints and frames
  in % of the skeleton's height. Prints JSON.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app
from absl import flags

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PHOTO = flags.DEFINE_string("photo", os.path.join(_ROOT, "..", "shared", "media", "skier.jpg"),
                             "A photo of one person (default: ../shared/media/skier.jpg, CC BY 2.0).")
_SECONDS = flags.DEFINE_float("seconds", 10.0, "Clip length in seconds (30 fps).")


def _make_clip(photo: str, path: str, seconds: float, fps: int = 30, size=(640, 480)) -> int:
  import imageio_ffmpeg  # pylint: disable=import-outside-toplevel
  from PIL import Image  # pylint: disable=import-outside-toplevel
  im = Image.open(photo).convert("RGB")
  w, h = im.size
  n = int(round(seconds * fps))
  writer = imageio_ffmpeg.write_frames(path, size, fps=fps, macro_block_size=1, ffmpeg_log_level="error")
  writer.send(None)
  for t in range(n):
    phase = t / max(1, n - 1)
    zoom = 1.0 + 0.3 * np.sin(np.pi * phase)
    cw, ch = w / zoom, w / zoom * size[1] / size[0]
    ch = min(ch, h)
    x0 = (w - cw) * (0.5 + 0.3 * np.sin(2 * np.pi * phase))
    y0 = (h - ch) * 0.5
    writer.send(np.asarray(im.crop((int(x0), int(y0), int(x0 + cw), int(y0 + ch))).resize(size)))
  writer.close()
  return n


def _bvh_errors(folder: str, poses3d: np.ndarray, valid: np.ndarray, fps: float) -> dict:
  """Largest joint error (% of height) of motion.bvh read by both readers, against the solved skeleton and
  against the lifted joints."""
  import bvhio  # pylint: disable=import-outside-toplevel

  from lifting import retarget, video  # pylint: disable=import-outside-toplevel
  from lifting.data import bvh  # pylint: disable=import-outside-toplevel
  good = np.flatnonzero(valid)
  line = video._interpolate(poses3d[good[0]:good[-1] + 1], valid[good[0]:good[-1] + 1])  # pylint: disable=protected-access
  _, clip = video.bvh_motion(line, fps)
  height = 100.0 * video.BVH_HEIGHT_M
  # The lifted joints in the BVH's frame and units: the same scale and floor offset the export used.
  unit = retarget.retarget(line, units=1.0)
  scale = clip.offsets[retarget.NAMES.index("RightLeg"), 1] / unit.offsets[retarget.NAMES.index("RightLeg"), 1]
  lifted = retarget.to_y_up(line, scale) + (clip.root_positions[:, None] - retarget.to_y_up(
      (line[:, 2] + line[:, 3]) / 2, scale)[:, None])
  at = [retarget.NAMES.index(retarget.PAPER14_JOINTS[j]) for j in
        ("r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "r_wrist", "r_elbow", "r_shoulder",
         "l_shoulder", "l_elbow", "l_wrist", "neck", "head")]
  path = os.path.join(folder, "motion.bvh")
  ours = bvh.forward_kinematics(bvh.read_bvh(path), retarget.NAMES)
  root = bvhio.readAsHierarchy(path)
  joints = {j.Name: j for j, _, _ in root.layout()}
  theirs = []
  for t in range(len(line)):
    root.loadPose(t)
    theirs.append([list(joints[name].PositionWorld) for name in retarget.NAMES])
  theirs = np.array(theirs)
  err = lambda a, b: float(100 * np.max(np.linalg.norm(a - b, axis=-1)) / height)  # noqa: E731
  mean = lambda a, b: float(100 * np.mean(np.linalg.norm(a - b, axis=-1)) / height)  # noqa: E731
  return {"frames": len(line), "height_cm": height,
          "ours_vs_written_max_pct": err(ours, clip.positions), "bvhio_vs_written_max_pct": err(theirs, clip.positions),
          "ours_vs_lifted_max_pct": err(ours[:, at], lifted), "ours_vs_lifted_mean_pct": mean(ours[:, at], lifted),
          "bvhio_vs_lifted_max_pct": err(theirs[:, at], lifted), "bvhio_vs_lifted_mean_pct": mean(theirs[:, at], lifted)}


def main(argv):
  del argv
  from lifting import detector, frames, inference  # pylint: disable=import-outside-toplevel
  if not os.path.exists(_PHOTO.value):
    sys.exit(f"no photo at {_PHOTO.value}: pass --photo=PATH")
  out = {}
  with tempfile.TemporaryDirectory() as tmp:
    clip = os.path.join(tmp, "clip.mp4")
    n = _make_clip(_PHOTO.value, clip, _SECONDS.value)
    out["clip"] = {"frames": n, "size": [640, 480], "fps": 30}
    source = frames.open_frames(clip)
    det = detector.MediaPipeDetector(video=True)
    start = time.perf_counter()
    kp, frame_of, count = detector.detect(source, det)
    detect_s = time.perf_counter() - start
    det.close()
    model = inference.load()
    kp = inference.restrict(kp, 0.5)
    model.lift_keypoints(kp)  # Compiles.
    start = time.perf_counter()
    model.lift_keypoints(kp)
    lift_s = time.perf_counter() - start
    out.update(detect_fps=count / detect_s, lift_fps=len(kp) / lift_s, detect_and_lift_fps=count / (detect_s + lift_s),
               people_found=len(kp))
    target = os.path.join(tmp, "out")
    start = time.perf_counter()
    res = subprocess.run([sys.executable, "run.py", "--mode=lift", f"--input={clip}", f"--output={target}", "--bvh"],
                         cwd=_ROOT, capture_output=True, text=True, check=False)
    out["command_s"] = time.perf_counter() - start
    if res.returncode:
      sys.exit(res.stderr[-2000:])
    out["command_stdout"] = res.stdout.strip().splitlines()[-1]
    with np.load(os.path.join(target, "poses3d.npz")) as z:
      out["bvh"] = _bvh_errors(target, z["poses3d"], z["valid"], 30.0)
  print(json.dumps(out, indent=1))


if __name__ == "__main__":
  app.run(main)
