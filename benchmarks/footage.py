"""A model on the footage protocol (`lifting/data/footage.py`), as users get it: through `Model.lift` from pixels.

    python -m benchmarks.footage                                   # the shipped model
    python -m benchmarks.footage --model=DIR --bandai_root=PATH    # any exported model or training workdir
    python -m benchmarks.footage --adapt_steps=200 --adapt_clips=8 # also adapting the lifter to each clip

For the test contents (dataset-1's held-out motions) and the dev contents, with the detector-like 2D and with the
exact projected 2D: PA-MPJPE and its ratio to the flat pose, per joint, the view consistency (two cameras' lifts
of one instant against each other, mm), the jitter (mean acceleration error, mm per frame squared, against the
truth's) and the lift's speed (frames per second through `Model.lift`, the first call's compile excluded). A
temporal lifter lifts each clip as a sequence. With ``--adapt_steps``, ``--adapt_clips`` test clips are each
lifted before and after adapting a copy of the lifter to that clip (`Model.adapt`), with the seconds it took.
Writes ``--out`` (JSON) and prints it.
"""

import json
import os
import sys
import time

from absl import app
from absl import flags
import numpy as np

_MODEL = flags.DEFINE_string("model", None, "An exported model folder or a training workdir; default: the shipped one.")
_ROOT = flags.DEFINE_string("bandai_root", None, "The folder that holds dataset/ (default: experiments/default.py's).")
_OUT = flags.DEFINE_string("out", None, "Where the JSON goes (default: results/footage/<model>.json).")
_ADAPT_STEPS = flags.DEFINE_integer("adapt_steps", 0, "Also adapt the lifter to each of --adapt_clips test clips for "
                                    "this many steps (0: not).")
_ADAPT_CLIPS = flags.DEFINE_integer("adapt_clips", 8, "Test clips (take and camera) to adapt to, evenly spaced.")
_ADAPT_LR = flags.DEFINE_float("adapt_lr", 2e-5, "The clip adaptation's learning rate.")
_STRIDE = flags.DEFINE_integer("stride", 2, "Every stride-th frame of the test and dev takes (the protocol's 2).")


def lift_sequences(model, seqs):
  """``(Lifted, seconds)``: ``seqs`` lifted as users lift a clip, each sequence a track of consecutive frames."""
  model.lift(seqs.pose2d[:min(len(seqs.pose2d), 64)], layout="paper14", lengths=None)  # Compiles first.
  t0 = time.perf_counter()
  out = model.lift(seqs.pose2d, layout="paper14", lengths=seqs.sequence_lengths)
  return out, time.perf_counter() - t0


def scores(model, seqs) -> dict:
  """Every number of the module docstring for one set."""
  from lifting.core import metrics
  from lifting.evaluators import baselines
  from lifting.evaluators import generalisation
  lifted, seconds = lift_sequences(model, seqs)
  ok = lifted.valid
  user = metrics.dataset_metrics(lifted.poses3d[ok], seqs.pose3d[ok], "paper14", seqs.frame_actions[ok])
  flat = metrics.dataset_metrics(baselines.flat_poses(seqs.pose2d[ok]), seqs.pose3d[ok], "paper14")
  views = generalisation.view_consistency(lifted.poses3d, seqs, ok)
  return {"pa_mpjpe": user["pa_mpjpe"], "flat_pa_mpjpe": flat["pa_mpjpe"], "ratio_to_flat": user["pa_mpjpe"] /
          flat["pa_mpjpe"], "view_consistency_mm": views["mm"] if views else None, "jitter": jitter(lifted, seqs),
          "per_joint": user["per_joint"], "per_content": {a: v["pa_mpjpe"] for a, v in user["per_action"].items()},
          "frames_per_s": len(seqs.pose2d) / seconds, "num_poses": int(ok.sum()), "skipped": int((~ok).sum())}


def jitter(lifted, seqs) -> float:
  """Mean acceleration error (mm per frame squared) of every clip's lifts, each frame sized by the truth's
  head-to-root length, against the truth (root-centred)."""
  from lifting.app import smoothing
  from lifting.core import geometry
  from lifting.core import skeleton
  layout = skeleton.get_layout("paper14")
  truth = np.asarray(geometry.root_centred(seqs.pose3d.astype(np.float64), layout.root_joints))
  size = np.linalg.norm(truth[:, layout.head], axis=-1)
  pred = lifted.poses3d * size[:, None, None]
  errors, start = [], 0
  for n in seqs.lengths:
    part = slice(start, start + n)
    if n >= 3 and lifted.valid[part].all():
      errors.append(smoothing.acceleration_error(pred[part], truth[part]) * (n - 2))
    start += n
  return float(np.sum(errors) / max(sum(int(n) - 2 for n in seqs.lengths if n >= 3), 1))


def _pa(lifted, clip) -> float:
  from lifting.core import metrics
  return metrics.dataset_metrics(lifted.poses3d, clip.pose3d, "paper14")["pa_mpjpe"]


def adaptation(model, seqs, steps: int, clips: int, lr: float) -> dict:
  """PA-MPJPE of ``clips`` evenly spaced clips before and after adapting a copy of the lifter to each."""
  from lifting.data import keypoints
  picks = np.unique(np.linspace(0, len(seqs.lengths) - 1, clips).round().astype(int))
  rows = []
  for k in picks:
    clip = seqs.take(np.arange(len(seqs.lengths)) == k)
    n = len(clip.pose2d)
    kp = keypoints.Keypoints(clip.pose2d, np.ones((n, 14), bool), np.zeros((n, 14), bool), np.ones((n, 14)),
                             "paper14", tuple(map(str, range(n))), clip.names[0], {})
    before = model.lift_keypoints(kp, lengths=clip.lengths)
    t0 = time.perf_counter()
    adapted, report = model.adapt(kp, clip.lengths, steps=steps, learning_rate=lr)
    after = adapted.lift_keypoints(kp, lengths=clip.lengths)
    seconds = time.perf_counter() - t0
    rows.append({"clip": clip.names[0], "frames": n, "before": _pa(before, clip), "after": _pa(after, clip),
                 "seconds": seconds,
                 "loss_first": report["loss_first"], "loss_last": report["loss_last"]})
  return {"steps": steps, "learning_rate": lr, "clips": rows,
          "mean_before": float(np.mean([r["before"] for r in rows])),
          "mean_after": float(np.mean([r["after"] for r in rows])),
          "mean_seconds": float(np.mean([r["seconds"] for r in rows]))}


def main(argv):
  del argv
  from experiments import default
  from lifting.app import inference
  from lifting.data import footage
  from lifting.training import logs

  logs.setup_cli_logging()
  root = _ROOT.value or default.get_config().data.bandai.root
  try:
    model = inference.load(_MODEL.value, discriminators=_ADAPT_STEPS.value > 0)
    sets = {f"{split}_{kind}": footage.load(root, split, stride=_STRIDE.value, habits=habits)
            for split in ("test", "dev") for kind, habits in (("detector_2d", footage.Habits()), ("exact_2d", None))}
  except (ValueError, OSError) as e:
    sys.exit(f"footage: error: {e}")
  out = {"model": model.workdir, "step": model.step, "protocol": footage.PROTOCOL, "lifter_frames": model.frames,
         "sets": {}}
  for name, seqs in sets.items():
    out["sets"][name] = scores(model, seqs)
    s = out["sets"][name]
    logs.log(f"{name}: PA-MPJPE {s['pa_mpjpe']:.1f} (flat {s['flat_pa_mpjpe']:.1f}, x{s['ratio_to_flat']:.2f}), views "
             f"{s['view_consistency_mm']:.1f} mm, jitter {s['jitter']:.2f} mm/frame^2, "
             f"{s['frames_per_s']:.0f} frames/s")
  if _ADAPT_STEPS.value:
    try:
      out["adaptation"] = adaptation(model, sets["test_detector_2d"], _ADAPT_STEPS.value, _ADAPT_CLIPS.value,
                                     _ADAPT_LR.value)
    except ValueError as e:
      sys.exit(f"footage: error: {e}")
    a = out["adaptation"]
    logs.log(f"clip adaptation ({a['steps']} steps): PA-MPJPE {a['mean_before']:.1f} -> {a['mean_after']:.1f} over "
             f"{len(a['clips'])} clips, {a['mean_seconds']:.1f} s per clip")
  name = os.path.basename(os.path.normpath(model.workdir))
  path = _OUT.value or os.path.join("results", "footage", f"{name}.json")
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  with open(path, "w") as f:
    json.dump(out, f, indent=2)
  print(json.dumps({k: v for k, v in out.items() if k != "sets"} | {
      "sets": {k: {m: v[m] for m in ("pa_mpjpe", "flat_pa_mpjpe", "ratio_to_flat", "view_consistency_mm", "jitter",
                                     "frames_per_s")} for k, v in out["sets"].items()}}, indent=2))


if __name__ == "__main__":
  app.run(main)
