"""Temporal smoothing of lifted video on the bandai benchmark: accuracy and jitter, with and without.

    python -m benchmarks.smoothing                        # the shipped model; needs the bandai data
    python -m benchmarks.smoothing --model=DIR --bandai_root=PATH/bandai_namco_motion

Every test video (one take seen by one camera) of an actor is lifted from its pixel keypoints as a
user's video is (`Model.lift`), then smoothed over time (`lifting.app.smoothing.gaussian`) with each
``--sigmas`` width (frames at 30 fps; 0 = no smoothing). Reported per actor and width: PA-MPJPE
(mm; each frame aligned to the truth) and the acceleration error (mm per frame squared; each video
root-centred and scaled to the truth with one factor, so alignment adds no jitter of its own). The
width is chosen on actor B, one of the model's training actors (its 2D was seen in training, its 3D
never), and then reported on the test actor C. Prints JSON.
"""

import json
import sys

from absl import app
from absl import flags
import numpy as np

_MODEL = flags.DEFINE_string("model", None, "An exported model folder or training workdir; default: the shipped one.")
_ROOT = flags.DEFINE_string("bandai_root", None, "The folder that holds dataset/ (default: experiments/default.py's).")
_SIGMAS = flags.DEFINE_list("sigmas", ["0", "1", "2", "3", "5"], "Gaussian widths in frames (0: none).")
_STRIDE = flags.DEFINE_integer("stride", 1, "Use every k-th video (1: all).")


def _videos(model, actor: str, root: str):
  """(pixels [T, J, 2], truth [T, J, 3] root-centred mm) per test video of ``actor``."""
  from lifting.core import geometry
  from lifting.data import pipeline
  config = model.config.copy_and_resolve_references()
  config.data.bandai.root = root
  config.data.bandai.test_actors = actor
  config.data.bandai.train_actors = "".join(a for a in "ABC" if a != actor)[:1]  # not read below; only kept apart
  _, test = pipeline.load_splits(config)
  starts = np.concatenate([[0], np.cumsum(test.lengths)[:-1]])
  layout = model.layout
  for k, (start, length) in enumerate(zip(starts, test.lengths)):
    if k % _STRIDE.value or length < 3:
      continue
    truth = test.pose3d[start:start + length].astype(np.float64)
    truth = geometry.root_centred(np.asarray(truth), layout.root_joints)
    yield test.pose2d[start:start + length], truth


def _scores(videos: list, sigma: float) -> dict:
  from lifting.app import smoothing
  from lifting.core import metrics
  pa, accel, frames = [], [], 0
  for lifted, truth in videos:
    pred = smoothing.gaussian(lifted, sigma)
    pa.append(float(np.sum(np.asarray(metrics.pa_mpjpe(pred, truth)))))
    scale = np.sum(pred * truth) / np.sum(pred * pred)  # one factor for the whole video
    accel.append(smoothing.acceleration_error(scale * pred, truth) * len(truth))
    frames += len(truth)
  return {"sigma": sigma, "pa_mpjpe": round(sum(pa) / frames, 2), "accel_error": round(sum(accel) / frames, 3)}


def main(argv):
  del argv
  from experiments import default
  from lifting.app import inference

  sigmas = [float(s) for s in _SIGMAS.value]
  try:
    model = inference.load(_MODEL.value)
    if model.config.data.source != "bandai":
      raise ValueError(f"the model was trained on {model.config.data.source!r} data, not the bandai benchmark")
    root = _ROOT.value or default.get_config().data.bandai.root
    result = {"model": model.workdir, "sigmas": sigmas}
    for actor in ("B", "C"):
      videos = [(model.lift(pixels).poses3d.astype(np.float64), truth) for pixels, truth in _videos(model, actor, root)]
      result[actor] = {"videos": len(videos), "frames": int(sum(len(t) for _, t in videos)),
                       "rows": [_scores(videos, s) for s in sigmas]}
  except (ValueError, OSError) as e:
    sys.exit(f"smoothing: error: {e}")
  best = min(result["B"]["rows"], key=lambda r: r["pa_mpjpe"])
  result["chosen_on_B"] = best["sigma"]
  print(json.dumps(result, indent=2))


if __name__ == "__main__":
  app.run(main)
