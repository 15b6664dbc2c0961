"""Seeds in one program against one seed alone: whole runs of Adv+SS+TD on bandai, one after the other.

    python -m benchmarks.seeds --out=benchmarks/results                 # the fast profile: 1 seed, then 3 together
    python -m benchmarks.seeds --out=benchmarks/results --profile=cpu   # today's 8000-step profile

Trains ``experiments/adv_ss_td.py`` (``--profile``) with ``train.seeds = 1`` (seed 0), then with ``train.seeds = 3``
(seeds 0, 1, 2 as one vmapped program, `lifting.train.train_seeds`), each in a fresh process, one after the
other on the otherwise idle machine; everything a run does counts (data, compilation, every evaluation). Writes
``OUT/seeds_<profile>.json`` and ``.md``: the wall times and their ratio, and each seed's test PA-MPJPE (mean ± sd
over the 3); the runs stay in ``--workdir``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time

from absl import app
from absl import flags

_OUT = flags.DEFINE_string("out", "benchmarks/results", "Folder for seeds_<profile>.json and .md.")
_PROFILE = flags.DEFINE_string("profile", "fast", "Config profile of experiments/adv_ss_td.py.")
_SEEDS = flags.DEFINE_integer("seeds", 3, "Seeds in the one program.")
_WORKDIR = flags.DEFINE_string("workdir", "", "Folder of the runs (default: OUT/seeds_runs/<profile>).")
_RUN = flags.DEFINE_string("run", "", "Internal: 'seeds,workdir' trained in this process; prints its JSON.")


def run(seeds: int, workdir: str) -> dict:
  """Trains ``seeds`` seeds in this process; returns each seed's results summary."""
  from experiments import adv_ss_td
  from lifting import train
  config = adv_ss_td.get_config(_PROFILE.value)
  config.train.seeds = seeds
  results = train.train_and_evaluate(config, workdir)
  return {str(k): {"pa_mpjpe": r["pa_mpjpe"], "eval_s": r["timing"]["eval_s"]} for k, r in results.items()}


def main(argv):
  del argv
  if _RUN.value:
    seeds, workdir = _RUN.value.split(",", 1)
    print(json.dumps(run(int(seeds), workdir)))
    return
  root = _WORKDIR.value or os.path.join(_OUT.value, "seeds_runs", _PROFILE.value)
  out = {}
  for seeds in (1, _SEEDS.value):
    t0 = time.time()
    args = [sys.executable, "-m", "benchmarks.seeds", f"--run={seeds},{os.path.join(root, f'seeds{seeds}')}",
            f"--profile={_PROFILE.value}"]
    p = subprocess.run(args, capture_output=True, text=True, check=False)
    if p.returncode:
      raise RuntimeError(f"{seeds} seeds failed:\n{p.stderr[-3000:]}")
    out[seeds] = {"wall_s": time.time() - t0, "per_seed": json.loads(p.stdout.strip().splitlines()[-1])}
    print(f"{seeds} seed(s): {out[seeds]['wall_s']:.0f} s", flush=True)
  many = [s["pa_mpjpe"] for s in out[_SEEDS.value]["per_seed"].values()]
  result = {"date": time.strftime("%Y-%m-%d"), "device": f"{platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores", "profile": _PROFILE.value, "one": out[1], "many": out[_SEEDS.value],
            "seeds": _SEEDS.value, "ratio": out[_SEEDS.value]["wall_s"] / out[1]["wall_s"],
            "pa_mpjpe_mean": statistics.mean(many), "pa_mpjpe_sd": statistics.stdev(many) if len(many) > 1 else 0.0}
  one = ", ".join(f"{s['pa_mpjpe']:.1f}" for s in out[1]["per_seed"].values())
  text = (f"{result['date']}, {result['device']}. Adv+SS+TD, profile {result['profile']}, bandai (test actor C); "
          "whole runs, each in a fresh process, one after the other.\n\n"
          "| seeds | program | wall time | per seed | test PA-MPJPE (mm) per seed |\n"
          "| ---: | --- | ---: | ---: | --- |\n"
          f"| 1 | alone | {out[1]['wall_s'] / 60:.1f} min | {out[1]['wall_s'] / 60:.1f} min | "
          f"{one} |\n"
          f"| {_SEEDS.value} | one, vmapped | {out[_SEEDS.value]['wall_s'] / 60:.1f} min | "
          f"{out[_SEEDS.value]['wall_s'] / 60 / _SEEDS.value:.1f} min | {', '.join(f'{v:.1f}' for v in many)} "
          f"(mean {result['pa_mpjpe_mean']:.1f} ± {result['pa_mpjpe_sd']:.1f}) |\n\n"
          f"{_SEEDS.value} seeds in one program take {result['ratio']:.2f}x the wall time of one seed alone.\n")
  from benchmarks import common
  common.write_results(_OUT.value, f"seeds_{_PROFILE.value}", result, text)


if __name__ == "__main__":
  app.run(main)
