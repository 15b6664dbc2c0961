"""Video to 3D: detection and lifting speed, the whole command's time with and without the overlay, its peak
memory, and the animation round trip.

    python -m benchmarks.video                                   # needs the [video] extra and skier.jpg
    python -m benchmarks.video --photo=PATH.jpg --seconds=60 --size=1920x1080

A clip is made from one photo of a person (a slow pan and zoom over it, ``--size``, 30 fps, ``--seconds`` long).
Reported:

* ``detect_fps``: MediaPipe Pose (video mode) over the decoded frames, decoding included;
* ``lift_fps``: the shipped model lifting the detected keypoints as one track, compiled first;
* ``command``: ``run.py --mode=lift --input=clip.mp4 --bvh --glb`` end to end in a fresh process (model load,
  detection, lifting, the world motion, ``overlay.mp4``, ``motion.bvh``, ``motion.glb``, ``poses3d.json``), and
  the same with ``--nooverlay``: wall seconds, frames per second of the clip, the process's peak memory;
* the BVH round trip: ``motion.bvh`` read back by ``lifting.data.bvh`` and by ``bvhio``, each joint against the
  positions the skeleton was solved for (what was written) and against the world joints in ``poses3d.npz``
  (which the rigid skeleton matches up to their bone-length wobble), as the largest error over joints and frames
  in % of the skeleton's height. Prints JSON.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags
import numpy as np

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PHOTO = flags.DEFINE_string("photo", os.path.join(_ROOT, "..", "shared", "media", "skier.jpg"),
                             "A photo of one person (default: ../shared/media/skier.jpg, CC BY 2.0).")
_SECONDS = flags.DEFINE_float("seconds", 10.0, "Clip length in seconds (30 fps).")
_SIZE = flags.DEFINE_string("size", "640x480", "Clip size, WIDTHxHEIGHT.")


def _make_clip(photo: str, path: str, seconds: float, fps: int = 30, size=(640, 480)) -> int:
  import imageio_ffmpeg
  from PIL import Image
  im = Image.open(photo).convert("RGB")
  w, h = im.size
  n = int(round(seconds * fps))
  writer = imageio_ffmpeg.write_frames(path, size, fps=fps, macro_block_size=1, ffmpeg_log_level="error")
  writer.send(None)
  for t in range(n):
    phase = t / max(1, n - 1)
    zoom = 1.0 + 0.3 * np.sin(np.pi * phase)
    cw = min(w / zoom, h / zoom * size[0] / size[1])
    ch = cw * size[1] / size[0]
    x0 = (w - cw) * (0.5 + 0.3 * np.sin(2 * np.pi * phase))
    y0 = (h - ch) * 0.5
    writer.send(np.asarray(im.crop((int(x0), int(y0), int(x0 + cw), int(y0 + ch))).resize(size)))
  writer.close()
  return n


def _bvh_errors(folder: str) -> dict:
  """Largest joint error (% of height) of motion.bvh read by both readers, against the solved skeleton and
  against the world joints of poses3d.npz."""
  import bvhio

  from lifting.app import animation
  from lifting.app import motion
  from lifting.app import retarget
  from lifting.data import bvh
  with np.load(os.path.join(folder, "poses3d.npz")) as z:
    world, valid = z["world"], z["valid"]
  good = np.flatnonzero(valid)
  line = motion.interpolate(world[good[0]:good[-1] + 1], valid[good[0]:good[-1] + 1])
  clip = animation.skeleton_clip(line, 100.0)
  height = float(np.ptp(clip.positions[0, :, 1]))
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
  lifted = 100.0 * line
  err = lambda a, b: float(100 * np.max(np.linalg.norm(a - b, axis=-1)) / height)  # noqa: E731
  mean = lambda a, b: float(100 * np.mean(np.linalg.norm(a - b, axis=-1)) / height)  # noqa: E731
  return {"frames": len(line), "height_cm": height,
          "ours_vs_written_max_pct": err(ours, clip.positions), "bvhio_vs_written_max_pct": err(theirs, clip.positions),
          "ours_vs_world_max_pct": err(ours[:, at], lifted), "ours_vs_world_mean_pct": mean(ours[:, at], lifted),
          "bvhio_vs_world_max_pct": err(theirs[:, at], lifted), "bvhio_vs_world_mean_pct": mean(theirs[:, at], lifted)}


def _command(clip: str, target: str, n: int, *flags_) -> dict:
  """``run.py --mode=lift`` on ``clip`` in a fresh process: wall seconds, frames/s, peak memory (MiB)."""
  wrapper = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
             "print('PEAK', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
             "sys.exit(r.returncode)")
  start = time.perf_counter()
  res = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "run.py", "--mode=lift", f"--input={clip}",
                        f"--output={target}", *flags_], cwd=_ROOT, capture_output=True, text=True, check=False)
  wall = time.perf_counter() - start
  if res.returncode:
    sys.exit(res.stderr[-2000:])
  peak = [line for line in res.stderr.splitlines() if line.startswith("PEAK")][-1].split()[1]
  return {"flags": list(flags_), "wall_s": wall, "frames_per_s": n / wall, "peak_mib": int(peak) / 1024,
          "stdout": res.stdout.strip().splitlines()[-1]}


def main(argv):
  del argv
  from lifting.app import detector
  from lifting.app import frames
  from lifting.app import inference
  if not os.path.exists(_PHOTO.value):
    sys.exit(f"no photo at {_PHOTO.value}: pass --photo=PATH")
  size = tuple(int(v) for v in _SIZE.value.lower().split("x"))
  out = {}
  with tempfile.TemporaryDirectory() as tmp:
    clip = os.path.join(tmp, "clip.mp4")
    n = _make_clip(_PHOTO.value, clip, _SECONDS.value, size=size)
    out["clip"] = {"frames": n, "size": list(size), "fps": 30}
    source = frames.open_frames(clip)
    det = detector.MediaPipeDetector(video=True)
    start = time.perf_counter()
    kp, frame_of, count = detector.detect(source, det)
    detect_s = time.perf_counter() - start
    det.close()
    model = inference.load()
    kp = inference.restrict(kp, 0.5)
    model.lift_keypoints(kp, lengths=[len(kp)])  # Compiles.
    start = time.perf_counter()
    model.lift_keypoints(kp, lengths=[len(kp)])
    lift_s = time.perf_counter() - start
    out.update(detect_fps=count / detect_s, lift_fps=len(kp) / lift_s, people_found=len(kp))
    target = os.path.join(tmp, "out")
    out["command"] = _command(clip, target, n, "--bvh", "--glb")
    out["bvh"] = _bvh_errors(target)
    out["command_without_overlay"] = _command(clip, os.path.join(tmp, "plain"), n, "--nooverlay")
    out["overlay_s"] = out["command"]["wall_s"] - out["command_without_overlay"]["wall_s"]
  print(json.dumps(out, indent=1))


if __name__ == "__main__":
  app.run(main)
