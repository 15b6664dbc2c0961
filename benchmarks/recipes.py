"""Time to converged accuracy of Adv+SS+TD under two training recipes, side by side (bandai, test actor C).

    python -m benchmarks.recipes --out=benchmarks/results                            # both recipes side by side
    python -m benchmarks.recipes --out=benchmarks/results --variants=fast --tag=alone   # the fast recipe alone

Each variant trains ``experiments/adv_ss_td.py`` with its profile (``cpu``: today's recipe, 8000 steps; ``fast``:
the recipe chosen for time to accuracy on actor A -> B, see experiments/README.md) through
`lifting.train.train_and_evaluate`, in its own process; all variants start together, so they share the machine
alike. Every ``--eval_every`` steps the run scores its reported weights on the config's fixed test subsample
(every test pose at the end). From each run's ``metrics.jsonl``: the step and wall time (from the process's start,
compilation and evaluations included) of the first evaluation within ``--within`` mm of the run's final error,
next to that final error (all test poses) and the run's whole wall time. Writes ``OUT/recipes_<tag>.json`` and
``.md``; the runs stay in ``--workdir`` (their ``results.json`` and ``metrics.jsonl`` are small).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time

from absl import app
from absl import flags

_OUT = flags.DEFINE_string("out", "benchmarks/results", "Folder for recipes_<tag>.json and .md.")
_TAG = flags.DEFINE_string("tag", "side_by_side", "Name of this measurement (the output files' suffix).")
_VARIANTS = flags.DEFINE_list("variants", ["cpu", "fast"], "Config profiles of experiments/adv_ss_td.py to run.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of every run.")
_EVAL_EVERY = flags.DEFINE_integer("eval_every", 250, "Steps between evaluations (both recipes alike).")
_WITHIN = flags.DEFINE_float("within", 1.0, "How close to its final error (mm) a run must come.")
_WORKDIR = flags.DEFINE_string("workdir", "", "Folder of the runs (default: OUT/recipes_runs/<tag>).")
_DATA = flags.DEFINE_string("data", "", "The folder that holds bandai_namco_motion/dataset (default: the config's).")
_RUN = flags.DEFINE_string("run", "", "Internal: 'profile,workdir' trained in this process; prints its JSON.")


def run(profile: str, workdir: str) -> dict:
  """Trains one variant in this process; returns its curve, final error and wall time."""
  t0 = time.time()
  from experiments import adv_ss_td
  from lifting import configs
  from lifting import train
  config = adv_ss_td.get_config(profile)
  config.seed = _SEED.value
  config.train.eval_every = _EVAL_EVERY.value
  if _DATA.value:
    config.data.bandai.root = os.path.join(_DATA.value, "bandai_namco_motion")
  (results,) = train.train_and_evaluate(config, workdir).values()
  wall = time.time() - t0
  key = f"{'test_ema' if configs.reported_weights(config) == 'ema' else 'test'}/pa_mpjpe"
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    curve = [{"step": r["step"], "s": r["time"] - t0, "pa_mpjpe": r[key]} for r in map(json.loads, f) if key in r]
  return summarise({"variant": profile, "seed": config.seed, "steps": config.train.num_steps,
                    "lr": config.optim.lifter_lr, "curve": curve, "final_pa_mpjpe": results["pa_mpjpe"],
                    "wall_s": wall}, _WITHIN.value)


def summarise(r: dict, within: float) -> dict:
  """Adds the first evaluation within ``within`` mm of the final error."""
  hit = next(c for c in r["curve"] if c["pa_mpjpe"] <= r["final_pa_mpjpe"] + within)
  return {**r, "within_mm": within, "within_step": hit["step"], "within_s": hit["s"]}


def markdown(result: dict) -> str:
  lines = [f"{result['date']}, {result['device']}; {result['tag']}. Adv+SS+TD, bandai (test actor C), seed "
           f"{result['seed']}, evaluated every {result['eval_every']} steps; times from each process's start "
           "(compilation and evaluations included).", "",
           f"| recipe | steps | learning rate | first within {result['within']:g} mm of the final error: step | "
           "... wall time | final PA-MPJPE (mm, all test poses) | whole run |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
  for r in result["runs"]:
    lines.append(f"| {r['variant']} | {r['steps']} | {r['lr']:g} | {r['within_step']} | {r['within_s'] / 60:.1f} min | "
                 f"{r['final_pa_mpjpe']:.1f} | {r['wall_s'] / 60:.1f} min |")
  return "\n".join(lines) + "\n"


def main(argv):
  del argv
  if _RUN.value:
    profile, workdir = _RUN.value.split(",", 1)
    print(json.dumps(run(profile, workdir)))
    return
  root = _WORKDIR.value or os.path.join(_OUT.value, "recipes_runs", _TAG.value)
  procs = {}
  for v in _VARIANTS.value:
    args = [sys.executable, "-m", "benchmarks.recipes", f"--run={v},{os.path.join(root, v)}", f"--seed={_SEED.value}",
            f"--eval_every={_EVAL_EVERY.value}", f"--within={_WITHIN.value}", f"--data={_DATA.value}"]
    procs[v] = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  runs = []
  for v, p in procs.items():
    out, err = p.communicate()
    if p.returncode:
      raise RuntimeError(f"{v} failed:\n{err[-3000:]}")
    runs.append(json.loads(out.strip().splitlines()[-1]))
  from benchmarks import common
  result = {"date": time.strftime("%Y-%m-%d"), "device": f"{platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores", "tag": _TAG.value, "seed": _SEED.value, "eval_every": _EVAL_EVERY.value,
            "within": _WITHIN.value, "runs": runs}
  common.write_results(_OUT.value, f"recipes_{_TAG.value}", result, markdown(result))


if __name__ == "__main__":
  app.run(main)
