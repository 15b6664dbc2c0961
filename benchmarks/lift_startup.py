"""Wall time of one lift from the command line: process start to written outputs, for 30 poses.

    python -m benchmarks.lift_startup                 # the shipped model
    python -m benchmarks.lift_startup --workdir=RUN   # a training workdir (checkpoints/)

Each variant runs ``--repeats`` times as a fresh process (``run.py --mode=lift`` on a 30-frame
walk from the demo generator); the median is reported beside the floor that no JAX program
beats, a bare ``python -c "import jax"``. Variants: the default outputs (poses3d.npz/json and 4
pictures) and ``--pictures=0`` (the numbers alone), each with an empty compilation cache (the
first lift on a machine: every run gets a fresh ``$LIFTING_CACHE``) and a warm one (every later
lift). Prints JSON.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags
import numpy as np

_WORKDIR = flags.DEFINE_string("workdir", None, "A training workdir or exported model; default: the shipped model.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Runs of each variant.")

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _wall(cmd: list[str], repeats: int, cache: str | None = None) -> list[float]:
  """Wall times of ``repeats`` runs; ``cache``: one $LIFTING_CACHE for all (warmed by a run first), else a
  fresh one per run."""
  if cache:
    subprocess.run(cmd, cwd=_ROOT, capture_output=True, env=dict(os.environ, LIFTING_CACHE=cache))
  times = []
  for _ in range(repeats):
    env = dict(os.environ, LIFTING_CACHE=cache or tempfile.mkdtemp())
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=_ROOT, capture_output=True, text=True, env=env)
    times.append(time.perf_counter() - t0)
    if out.returncode != 0:
      sys.exit(f"lift_startup: {' '.join(cmd)} failed: {out.stderr.strip().splitlines()[-1]}")
  return times


def main(argv):
  del argv
  from lifting.data import synthetic
  demo = synthetic.make_demo_data(seed=1, num_train_sequences=1, num_test_sequences=1, num_frames=30, num_cameras=1)
  with tempfile.TemporaryDirectory() as tmp:
    walk = os.path.join(tmp, "walk.npy")
    np.save(walk, demo.test_2d[0])
    lift = [sys.executable, "run.py", "--mode=lift", f"--input={walk}", "--layout=paper14"]
    if _WORKDIR.value:
      lift.append(f"--workdir={_WORKDIR.value}")
    n = _REPEATS.value
    warm = os.path.join(tmp, "cache")
    pictures, numbers = lift + [f"--output={os.path.join(tmp, 'out')}"], lift + ["--pictures=0", f"--output={tmp}/o"]
    result = {"repeats": n, "model": _WORKDIR.value or "shipped", "poses": 30,
              "import_jax_s": _wall([sys.executable, "-c", "import jax"], n),
              "lift_cold_s": _wall(pictures, n), "lift_no_pictures_cold_s": _wall(numbers, n),
              "lift_warm_s": _wall(pictures, n, warm), "lift_no_pictures_warm_s": _wall(numbers, n, warm)}
  for key in [k for k in result if k.endswith("_s")]:
    result[key.replace("_s", "_median_s")] = round(statistics.median(result[key]), 2)
    result[key] = [round(t, 2) for t in result[key]]
  print(json.dumps(result, indent=2))


if __name__ == "__main__":
  app.run(main)
