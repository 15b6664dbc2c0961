"""Where a trained lifter's error comes from: per joint, depth against lateral, depth spread, by yaw.

For finished runs (workdirs with ``config.json`` and checkpoints), lifts the run's own test (or
validation) set with the weights the run reports and writes ``diagnose.json`` beside its results:

* ``per_joint``: PA-MPJPE of each joint (mm);
* ``lateral_mm`` / ``depth_mm``: the mean per-joint error after the Procrustes alignment, split into
  its image-plane (x, y) and depth (z) parts in the camera frame;
* ``depth_spread_ratio`` and the other view diagnostics of `lifting.core.metrics.dataset_metrics`.

    python -m experiments.drivers.diagnose results/selection/recipe/no_dropout-seed0 results/runs/adv_ss_td-seed0
    python -m experiments.drivers.diagnose --table=results/diagnose.md results/runs/*-seed0

With ``--table`` also a markdown table, a row per run.
"""

from __future__ import annotations

import json
import os

from absl import app
from absl import flags

_TABLE = flags.DEFINE_string("table", "", "Also write a markdown table of the runs here.")


def diagnose(workdir: str) -> dict:
  """The diagnostics of one finished run (see the module docstring); also written to ``diagnose.json``."""
  import jax
  import numpy as np

  from lifting import configs
  from lifting.core import geometry
  from lifting.core import skeleton
  from lifting.data import pipeline
  from lifting.evaluators import lifts
  from lifting.evaluators import reports
  from lifting.evaluators import test_set

  run = lifts.restore_run(workdir)
  config, layout = run.config, skeleton.get_layout(run.config.layout)
  data = pipeline.load(config, extra=False)
  weights = configs.reported_weights(config)
  pred = run.lift(data.test_2d, weights)
  results = test_set.evaluate_poses(pred, data.test_3d, layout, data.test_actions)

  def centred(p):
    return geometry.root_centred(np.asarray(p), layout.root_joints)

  gt = centred(np.asarray(data.test_3d, np.float32))
  aligned = np.asarray(jax.jit(geometry.procrustes_align)(centred(pred), gt))
  diff = aligned - gt
  out = {"workdir": workdir, "weights": weights, "step": int(run.states.step),
         "protocol": reports.protocol(config), "pa_mpjpe": results["pa_mpjpe"],
         "per_joint": {j: float(np.mean(np.linalg.norm(diff[:, i], axis=-1))) for i, j in enumerate(layout.joints)},
         "lateral_mm": float(np.mean(np.linalg.norm(diff[..., :2], axis=-1))),
         "depth_mm": float(np.mean(np.abs(diff[..., 2]))),
         **{k: results[k] for k in ("depth_spread_ratio", "depth_flip_rate", "worst_yaw_pa_mpjpe", "per_yaw")}}
  with open(os.path.join(workdir, "diagnose.json"), "w") as f:
    json.dump(out, f, indent=2)
  return out


def table(rows: list[dict]) -> str:
  """A markdown table of `diagnose` results: one row per run."""
  lines = [("| run | PA-MPJPE | lateral / depth error (mm) | depth spread (lift / truth) | depth flips | wrists | "
            "elbows | knees | ankles |"), "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
  for r in rows:
    sides = " | ".join(f"{(r['per_joint'][f'l_{j}'] + r['per_joint'][f'r_{j}']) / 2:.1f}"
                       for j in ("wrist", "elbow", "knee", "ankle"))  # Left and right averaged.
    name = os.path.basename(os.path.normpath(r["workdir"]))
    lines.append(f"| {name} | {r['pa_mpjpe']:.1f} | {r['lateral_mm']:.1f} / {r['depth_mm']:.1f} | "
                 f"{r['depth_spread_ratio']:.2f} | {100 * r['depth_flip_rate']:.1f}% | {sides} |")
  return "\n".join(lines) + "\n"


def main(argv):
  from lifting.training import logs
  logs.setup_cli_logging()
  if len(argv) < 2:
    raise app.UsageError("expected one or more run workdirs")
  rows = [diagnose(w) for w in argv[1:]]
  text = table(rows)
  if _TABLE.value:
    os.makedirs(os.path.dirname(os.path.abspath(_TABLE.value)), exist_ok=True)
    with open(_TABLE.value, "w") as f:
      f.write(text)
  print(text, end="")


if __name__ == "__main__":
  app.run(main)
