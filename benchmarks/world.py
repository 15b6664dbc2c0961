"""World-grounded motion on mocap filmed by a known static camera: trajectory, floor and feet, before and after
the feet are pinned (`lifting.app.motion`).

    python -m benchmarks.world                                  # the shipped model, the bandai walks and runs
    python -m benchmarks.world --model=DIR --bandai_root=PATH --detector_2d

Each locomotion take of the bandai test actor C (dataset-2: walk, walk-turn-left/right, run) and of dataset-1's
held-out locomotion (walk-back, walk-right, dash) is filmed by one static camera (1920 x 1080, focal length 1400
px, 1.5 m high, 5 m from the middle of the take's path, from a seeded direction), lifted through `Model.lift`
as one sequence, and placed in the world with the camera's true focal length and the body's stature in this
library's convention (its ankle-to-head chain over 1 - `motion.HEAD_ABOVE` - `motion.ANKLE_ABOVE`; the
``--height`` a user would give) and with the default 1.7 m. Reported per take and over all: the root's mean
error in the camera frame (mm, and % of the distance travelled), the up direction's error (degrees), foot
skating (mm per contact frame), ground penetration, jitter and the share of foot-frames in contact, for the
lifted feet and the pinned ones, the lifts smoothed over time as the video command smooths them, beside
the mocap's own. Writes ``--out`` (JSON) and prints the summary.
"""

import dataclasses
import json
import math
import os
import sys

from absl import app
from absl import flags
import numpy as np

_MODEL = flags.DEFINE_string("model", None, "An exported model folder or a training workdir; default: the shipped one.")
_ROOT = flags.DEFINE_string("bandai_root", None, "The folder that holds dataset/ (default: experiments/default.py's).")
_OUT = flags.DEFINE_string("out", "results/world/world.json", "Where the JSON goes.")
_DETECTOR = flags.DEFINE_bool("detector_2d", False, "A video detector's errors on the 2D "
                              "(lifting.data.footage.Habits).")
_STRIDE = flags.DEFINE_integer("take_stride", 1, "Every n-th take of each content (1: all).")
_SMOOTH = flags.DEFINE_float("smooth", None, "Gaussian smoothing of the lifts over time, in frames, before they are "
                             "placed (default: what the video command does, lifting.app.video.VIDEO_SMOOTH).")

CONTENTS = {2: ("walk", "walk-turn-left", "walk-turn-right", "run"), 1: ("walk-back", "walk-right", "dash")}
FOCAL, SIZE = 1400.0, (1920, 1080)


def _camera(path_mid: np.ndarray, seed: str):
  from lifting.data import cameras
  from lifting.data import footage
  azimuth = footage._rng("world", seed).uniform(0, 2 * math.pi)  # pylint: disable=protected-access
  position = path_mid + np.array([5000 * math.sin(azimuth), 0.0, 5000 * math.cos(azimuth)])
  position[1] = 1500.0
  rotation = footage.look_rotation(position, np.array([path_mid[0], 900.0, path_mid[2]]))
  return cameras.Camera(rotation, position, FOCAL, (SIZE[0] / 2, SIZE[1] / 2), SIZE)


def _chain_height(world_m: np.ndarray) -> float:
  """The stature `lifting.app.motion.metres_per_unit` assumes for a body (its head-to-root length and legs)."""
  from lifting.app import motion
  from lifting.core import skeleton
  layout = skeleton.get_layout("paper14")
  root = world_m[:, list(layout.root_joints)].mean(axis=1)
  h2r = np.median(np.linalg.norm(world_m[:, layout.head] - root, axis=-1))
  legs = np.median([np.linalg.norm(world_m[:, h] - world_m[:, k], axis=-1) +
                    np.linalg.norm(world_m[:, k] - world_m[:, a], axis=-1)
                    for h, k, a in zip(motion.HIPS, motion.KNEES, motion.ANKLES)])
  return float((h2r + legs) / (1 - motion.HEAD_ABOVE - motion.ANKLE_ABOVE))


def take_scores(model, take, world_mm: np.ndarray, habits, smooth: float) -> dict:
  """Every number of the module docstring for one take."""
  from lifting.app import motion
  from lifting.data import cameras
  from lifting.data import footage
  root_w = world_mm[:, [2, 3]].mean(axis=1)
  camera = _camera(np.array([(root_w[:, 0].min() + root_w[:, 0].max()) / 2, 0.0,
                             (root_w[:, 2].min() + root_w[:, 2].max()) / 2]), take.name)
  cam = cameras.world_to_camera(world_mm, camera)
  px = cameras.camera_to_pixels(cam, camera)
  if habits is not None:
    px, _ = footage.apply_habits(px, np.array([len(px)]), habits, footage._rng("world-habits", take.name))  # pylint: disable=protected-access
  lifted = model.lift(px, layout="paper14", lengths=[len(px)])
  if smooth:  # As the video command smooths each track before placing it in the world.
    from lifting.app import smoothing
    lifted = dataclasses.replace(lifted, poses3d=smoothing.gaussian(lifted.poses3d, smooth, lifted.valid))
  intr = motion.Intrinsics(FOCAL, camera.center, SIZE, "known")
  truth_root = cam[:, [2, 3]].mean(axis=1) / 1000.0
  travel = float(np.linalg.norm(np.diff(truth_root, axis=0), axis=-1).sum())
  truth_world = world_mm / 1000.0
  out = {"take": take.name, "content": take.content, "frames": len(px), "travel_m": travel}
  true_up = camera.rotation[:, 1]
  mocap_contacts = motion.foot_contacts(truth_world, 30.0, _chain_height(truth_world))
  out["mocap_feet"] = motion.foot_metrics(truth_world - np.array([0.0, truth_world[:, [0, 5], 1].min()
                                                                  - motion.ANKLE_ABOVE * _chain_height(truth_world),
                                                                  0.0]), mocap_contacts, _chain_height(truth_world))
  for name, height in (("known_height", _chain_height(truth_world)), ("height_1.7", motion.DEFAULT_HEIGHT_M)):
    placed = motion.world_motion(lifted, np.arange(len(px)), intr, 30.0, height, pin=True)
    ok = lifted.valid
    error = float(np.linalg.norm(placed.root[ok] - truth_root[ok], axis=-1).mean())
    out[name] = {"height_m": height, "root_error_mm": 1000 * error, "root_error_share": error / max(travel, 1e-9),
                 "up_error_deg": float(np.degrees(np.arccos(np.clip(placed.ground.up @ true_up, -1, 1)))),
                 "feet": placed.feet[0]}
  return out


def main(argv):
  del argv
  from experiments import default
  from lifting.app import inference
  from lifting.data import bandai
  from lifting.data import footage
  from lifting.training import logs

  logs.setup_cli_logging()
  root = _ROOT.value or default.get_config().data.bandai.root
  try:
    model = inference.load(_MODEL.value)
    selected = []
    for dataset, contents in CONTENTS.items():
      takes, positions = bandai.load_takes(root, dataset)
      picked = [(t, p) for t, p in zip(takes, positions) if t.content in contents and
                (dataset == 1 or t.actor in bandai.TEST_ACTORS)]
      selected += picked[::_STRIDE.value]
  except (ValueError, OSError) as e:
    sys.exit(f"world: error: {e}")
  habits = footage.Habits() if _DETECTOR.value else None
  from lifting.app import video
  smooth = video.VIDEO_SMOOTH if _SMOOTH.value is None else _SMOOTH.value
  rows = [take_scores(model, take, world, habits, smooth) for take, world in selected]
  summary = {}
  for name in ("known_height", "height_1.7"):
    summary[name] = {
        "root_error_mm": float(np.mean([r[name]["root_error_mm"] for r in rows])),
        "root_error_share_of_travel": float(np.sum([r[name]["root_error_mm"] / 1000 * r["frames"] for r in rows]) /
                                            np.sum([r["travel_m"] * r["frames"] for r in rows])),
        "median_take_share": float(np.median([r[name]["root_error_share"] for r in rows])),
        "up_error_deg": float(np.mean([r[name]["up_error_deg"] for r in rows])),
        **{f"{when}_{k}": float(np.mean([r[name]["feet"][when][k] for r in rows]))
           for when in ("before", "after") for k in ("skating_mm", "penetration_mm", "jitter_mm", "contact_share")}}
  summary["mocap"] = {k: float(np.mean([r["mocap_feet"][k] for r in rows]))
                      for k in ("skating_mm", "jitter_mm", "contact_share")}
  out = {"model": model.workdir, "detector_2d": _DETECTOR.value, "smooth": smooth, "takes": len(rows),
         "summary": summary,
         "per_take": rows}
  os.makedirs(os.path.dirname(_OUT.value) or ".", exist_ok=True)
  with open(_OUT.value, "w") as f:
    json.dump(out, f, indent=2)
  print(json.dumps({k: v for k, v in out.items() if k != "per_take"}, indent=2))


if __name__ == "__main__":
  app.run(main)
