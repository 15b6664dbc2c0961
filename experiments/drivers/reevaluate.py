"""Scores finished runs again with today's evaluation code, keeping the record of their training.

    python -m experiments.drivers.reevaluate --runs=results/runs/footage_prior-seed0,results/runs/footage-seed1

For a run whose evaluation code changed after it trained (a new evaluation set, a fix in how a set is lifted):
its newest checkpoint is scored on its test set and evaluation sets (`lifting.evaluators.reports.evaluate`, with
the run's own ``config.json``), and ``results.json`` takes the new scores while keeping what only training
knew (``wall_s``, ``timing``, ``last_evals``), with ``reevaluated`` saying when. Needs the run's checkpoints.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile

from absl import app
from absl import flags

_RUNS = flags.DEFINE_list("runs", [], "Finished runs' workdirs.")
_KEEP = ("wall_s", "timing", "last_evals", "eval_of")  # What only the training knew.


def reevaluate(workdir: str) -> dict:
  """Scores ``workdir`` again and rewrites its results (module docstring); returns them."""
  from lifting import configs
  from lifting.evaluators import reports
  with open(os.path.join(workdir, "results.json")) as f:
    old = json.load(f)
  with tempfile.TemporaryDirectory() as scratch:
    new = reports.evaluate(configs.load(workdir), workdir, results_dir=scratch)
  new.update({k: old[k] for k in _KEEP if k in old})
  new["reevaluated"] = datetime.date.today().isoformat()
  reports.write_results(workdir, new)
  return new


def main(argv):
  del argv
  if not _RUNS.value:
    raise app.UsageError("--runs: give the workdirs of finished runs")
  for workdir in _RUNS.value:
    if not os.path.exists(os.path.join(workdir, "results.json")):
      raise app.UsageError(f"--runs: {workdir} has no results.json (not a finished run)")
  for workdir in _RUNS.value:
    results = reevaluate(workdir)
    print(workdir, {k: round(v["lift"]["pa_mpjpe"], 1) for k, v in results.get("generalisation", {}).items()})


if __name__ == "__main__":
  app.run(main)
