"""What the drivers share: their common flags, how one run is trained and marked finished, and mean ± sd.

A run is finished when its ``results.json`` holds ``wall_s`` (the wall time of all its attempts), which only
`train_runs` (or a driver's own evaluation) writes: a training that ``run.py`` stopped, or one still going,
lacks it, so a driver resumes it instead of reading it as done.
"""

from __future__ import annotations

import json
import os
import statistics
import time

from absl import flags

# Defined once here, so that drivers importing each other (robustness reads the ablation's runs) share them.
OUT = flags.DEFINE_string("out", "results", "Output folder (runs go to OUT/runs, selections to OUT/selection).")
ONLY = flags.DEFINE_list("only", [], "Rows or candidates to run, by name (default: all).")
SEEDS = flags.DEFINE_integer("seeds", 3, "Seeds 0 .. N-1 of every multi-seed row or candidate.")
FIRST_SEED = flags.DEFINE_integer("first_seed", 0, "Run only the seeds from this one on (to train the seeds in "
                                  "several processes side by side; the tables still show every finished run).")
STEPS = flags.DEFINE_integer("steps", 0, "Override train.num_steps of every run (0: keep; for smoke tests).")


def mean_sd(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
  """``"m ± sd"`` of ``values`` times ``scale`` (the sample sd); one value alone, without an sd."""
  if len(values) == 1:
    return f"{scale * values[0]:.{digits}f}"
  return f"{scale * statistics.mean(values):.{digits}f} ± {scale * statistics.stdev(values):.{digits}f}"


def finished(workdir: str) -> dict | None:
  """The results of a finished run in ``workdir`` (see the module docstring), else None."""
  path = os.path.join(workdir, "results.json")
  if not os.path.exists(path):
    return None
  with open(path) as f:
    results = json.load(f)
  return results if "wall_s" in results else None


def mark_finished(workdir: str, results: dict, wall_s: float) -> dict:
  """Writes ``results`` with their wall time as the run's results (json and markdown); returns them."""
  from lifting.evaluators import reports
  results = {**results, "wall_s": round(wall_s, 1)}
  reports.write_results(workdir, results)
  return results


def train_runs(config, seeds: list[int], workdirs: list[str]) -> list[dict]:
  """Trains (resuming) and evaluates a run of ``config`` per seed, all in one compiled program
  (`lifting.train.train_seeds`), then marks each finished with the wall time of every attempt of the
  program."""
  from lifting import train
  spent = 0.0
  for workdir in workdirs:
    os.makedirs(workdir, exist_ok=True)
    partial = os.path.join(workdir, "timing.partial.json")  # Time of earlier, interrupted attempts.
    if os.path.exists(partial):
      with open(partial) as f:
        spent = max(spent, json.load(f)["wall_s"])
  t0 = time.time()
  try:
    results = train.train_seeds(config, seeds, workdirs)  # Each ends with a test evaluation and the baselines.
  finally:
    for workdir in workdirs:
      with open(os.path.join(workdir, "timing.partial.json"), "w") as f:
        json.dump({"wall_s": spent + time.time() - t0}, f)
  return [mark_finished(w, r, spent + time.time() - t0) for w, r in zip(workdirs, results)]
