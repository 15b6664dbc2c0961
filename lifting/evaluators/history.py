"""How a run's test error moved over its evaluations (from its ``metrics.jsonl``)."""

from __future__ import annotations

import os

import numpy as np

from lifting.evaluators import test_set
from lifting.training import logs


def eval_history(workdir: str, weights: str = "raw", key: str = "pa_mpjpe") -> tuple[list[int], list[float]]:
  """``(steps, values)`` of one test metric over a run's evaluations, from its ``metrics.jsonl``."""
  name = f"{test_set.PREFIX[weights]}/{key}"
  steps, values = [], []
  path = os.path.join(workdir, "metrics.jsonl")
  if os.path.exists(path):
    for row in logs.read_metrics(path):
      if name in row:
        steps.append(int(row["step"]))
        values.append(float(row[name]))
  return steps, values


def swing(workdir: str, weights: str, last: int = 5) -> dict | None:
  """How much the reported test error moved over the run's last ``last`` evaluations: their steps,
  values, mean, range (max - min) and largest step-to-step change; ``None`` with fewer evaluations."""
  steps, values = eval_history(workdir, weights)
  if len(values) < last:
    return None
  tail = values[-last:]
  return {"steps": steps[-last:], "pa_mpjpe": tail, "mean": float(np.mean(tail)),
          "range": float(max(tail) - min(tail)), "max_change": float(np.max(np.abs(np.diff(tail))))}
