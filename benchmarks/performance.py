"""Performance of the full train step against the machine's own matmul peak.

    python -m benchmarks.performance --out=benchmarks/results        # widths 256/512/1024 x batches 1024/8192
    python -m benchmarks.performance --widths=256 --batches=1024 --repeats=5 --out=/tmp/perf
    python -m benchmarks.performance --dropout_rng=bernoulli --out=/tmp/before   # + LIFTING_MALLOC=default
    python -m benchmarks.performance --dtype=bfloat16 --steps_per_call=10 --out=/tmp/gpu   # on a GPU

For every (width, batch) case the step of ``experiments/adv_ss_td.py`` (lifter, pose and temporal
discriminators, every loss term on) is compiled and timed in its own subprocess, so its peak
memory is its own. Reported per case: compile time; the median and spread (min, max) of the step
time over ``--repeats`` timed repetitions after a warm-up, each repetition a whole number of
discriminator cycles (``optim.disc_every`` steps, so discriminator updates are counted at their real
rate) and of calls (``--steps_per_call``);
poses per second; achieved matmul FLOP/s, counted analytically (`benchmarks.flops.step_flops`) and set against a
float32 matmul peak measured in the same run (`matmul_peak`); XLA's own FLOP estimate of the
compiled call as a cross-check (JSON only); peak memory (max RSS on a CPU, ``peak_bytes_in_use`` on an
accelerator); the input pipeline's share of the step: the step's batch draw timed alone (an upper
bound; the JSON also holds the step minus the same step on a batch drawn beforehand, which at
these sizes is within the step's own noise).
Then the lifter alone: inference at batch 65,536 per width. The malloc setting of
`lifting.training.allocator` is on unless ``LIFTING_MALLOC=default``. Results go to
``OUT/performance.json`` and ``OUT/performance.md``; the device is named in both.
"""

from __future__ import annotations

import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.flops import mlp_flops
from benchmarks.flops import step_flops

_OUT = flags.DEFINE_string("out", "benchmarks/results", "Folder for performance.json and performance.md.")
_WIDTHS = flags.DEFINE_list("widths", ["256", "512", "1024"], "Network widths.")
_BATCHES = flags.DEFINE_list("batches", ["1024", "8192"], "Global batch sizes (poses per step).")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed repetitions (discriminator cycles) after one warm-up cycle.")
_INFER_BATCH = flags.DEFINE_integer("infer_batch", 65536, "Batch of the lifter-alone inference measurement.")
_DROPOUT_RNG = flags.DEFINE_enum("dropout_rng", "bits", ["bits", "bernoulli"], "config.model.dropout_rng.")
_DTYPE = flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "config.model.dtype (hidden matmuls).")
_STEPS_PER_CALL = flags.DEFINE_integer("steps_per_call", 1, "config.train.steps_per_call: steps per dispatch.")
_CASE = flags.DEFINE_string("case", "", "Internal: run one 'width,batch' case and print its JSON.")


# ---- Measurements ----

def matmul_peak(n: int | None = None, repeats: int = 10) -> dict:
  """Best float32 FLOP/s of an ``n x n`` by ``n x n`` matmul on the default device."""
  n = n or (2048 if jax.devices()[0].platform == "cpu" else 8192)
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
  mm = jax.jit(lambda a, b: a @ b)
  mm(a, b).block_until_ready()
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    mm(a, b).block_until_ready()
    times.append(time.perf_counter() - t0)
  return {"n": n, "flops_per_s": 2.0 * n ** 3 / min(times), "best_s": min(times)}


def _peak_memory_bytes() -> int:
  stats = jax.devices()[0].memory_stats() or {}
  if "peak_bytes_in_use" in stats:
    return int(stats["peak_bytes_in_use"])
  return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux reports KiB.


def _median_time(fn, repeats: int) -> tuple[float, list[float]]:
  fn()  # Warm-up.
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
  return statistics.median(times), times


def case_config(width: int, batch: int):
  """The benchmarked step's config: Adv+SS+TD (every term on) at ``width`` and ``batch``, with the speed flags."""
  from experiments import adv_ss_td

  config = adv_ss_td.get_config("cpu")
  config.model.width, config.train.batch_size = width, batch
  # The step as these tables measured it: lifter dropout 0.25 (its masks are part of what is timed).
  config.model.dropout = 0.25
  config.model.dropout_rng, config.model.dtype = _DROPOUT_RNG.value, _DTYPE.value
  config.train.steps_per_call = _STEPS_PER_CALL.value
  return config


def run_case(width: int, batch: int, repeats: int) -> dict:
  """Compiles and times the full step at ``width`` and ``batch`` (in this process)."""
  from benchmarks import common
  from lifting import configs
  from lifting.training import pool as pool_lib
  from lifting.training import train_step

  config = case_config(width, batch)
  s = common.setup(config)
  layout, mesh, models, pool = s.layout, s.mesh, s.models, s.pool
  k = config.train.steps_per_call
  step_fn = train_step.make_train_step(config, models, layout, mesh)
  step = train_step.compile_train_step(train_step.make_multi_step(step_fn, k), mesh)
  key = jax.random.key(1)
  t0 = time.perf_counter()
  compiled = step.lower(s.states, pool, key).compile()
  compile_s = time.perf_counter() - t0
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  # A repetition is a whole number of discriminator cycles and of calls.
  calls = math.lcm(k, config.optim.disc_every) // k
  box = {"states": s.states}

  def repetition():
    for _ in range(calls):
      box["states"], metrics = compiled(box["states"], pool, key)
    jax.block_until_ready(metrics)

  median, times = _median_time(repetition, repeats)
  steps = calls * k
  times = [t / steps for t in times]
  median /= steps
  # The input pipeline's cost: the same steps on one batch drawn beforehand (no draw in the step).
  windows, _ = configs.batch_split(config, s.data.train_2d.shape[0], 0, mesh.size)
  draw = jax.jit(lambda pool, key: pool_lib.draw_batch(pool, key, windows, configs.window_offsets(config), mesh))
  drawn = draw(pool, key)
  update = train_step.make_update(config, models, layout)
  fixed = train_step.compile_train_step(train_step.make_multi_step(update, k), mesh)
  box["states"] = fixed(box["states"], drawn, key)[0]

  def fixed_repetition():
    for _ in range(calls):
      box["states"], metrics = fixed(box["states"], drawn, key)
    jax.block_until_ready(metrics)

  no_input_s = _median_time(fixed_repetition, repeats)[0] / steps
  draw_key = jax.random.key(2)
  draw_s = _median_time(lambda: jax.block_until_ready(draw(pool, draw_key)), 5 * repeats)[0]
  flops = step_flops(config, layout.num_joints)
  # XLA's estimate counts the discriminator branch on every step, and a scan's body once.
  xla = float(cost.get("flops", float("nan"))) if cost else None
  return {"width": width, "batch": batch, "compile_s": compile_s, "step_s_median": median,
          "step_s_min": min(times), "step_s_max": max(times), "step_times_s": times, "poses_per_s": batch / median,
          "matmul_flops_per_step": flops["total"], "flops_breakdown": flops,
          "achieved_flops_per_s": flops["total"] / median, "step_without_input_s_median": no_input_s,
          "input_share_marginal": (median - no_input_s) / median, "draw_s_median": draw_s,
          "input_share": draw_s / median, "xla_flops_per_call": xla, "peak_memory_bytes": _peak_memory_bytes()}


def inference(width: int, batch: int) -> dict:
  """The lifter alone (eval mode) on a device-resident batch: poses/s and matmul FLOP/s."""
  from lifting.core import models as models_lib

  lifter = models_lib.Lifter(width=width, dtype=jnp.dtype(_DTYPE.value))
  x = jax.random.normal(jax.random.key(0), (batch, 14, 2), jnp.float32) * 0.1
  variables = lifter.init(jax.random.key(1), x[:1])
  fn = jax.jit(lambda v, x: lifter.apply(v, x, train=False))
  fn(variables, x).block_until_ready()
  times = []
  for _ in range(5):
    t0 = time.perf_counter()
    fn(variables, x).block_until_ready()
    times.append(time.perf_counter() - t0)
  median = statistics.median(times)
  return {"width": width, "batch": batch, "s_median": median, "poses_per_s": batch / median,
          "achieved_flops_per_s": mlp_flops(batch, 28, width, 4, 14) / median}


def _subprocess_case(width: int, batch: int, repeats: int) -> dict:
  out = subprocess.run([sys.executable, "-m", "benchmarks.performance", f"--case={width},{batch}",
                        f"--repeats={repeats}", f"--dropout_rng={_DROPOUT_RNG.value}", f"--dtype={_DTYPE.value}",
                        f"--steps_per_call={_STEPS_PER_CALL.value}"], capture_output=True, text=True, check=False)
  if out.returncode:
    raise RuntimeError(f"case width {width}, batch {batch} failed:\n{out.stderr[-3000:]}")
  return json.loads(out.stdout.strip().splitlines()[-1])


def markdown(result: dict) -> str:
  peak = result["matmul_peak"]["flops_per_s"]
  lines = [f"Device: {result['device']} ({result['num_devices']} device(s)); JAX {result['jax']}; "
           f"{result['date']}. float32 matmul peak measured in this run: {peak / 1e9:.1f} GFLOP/s "
           f"({result['matmul_peak']['n']}^3 matmul).", "", _settings_line(result), "",
           "| width | batch | step (median) | min - max | poses/s | matmul GFLOP/s | % of peak | input | "
           "compile | peak memory |", "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
  for c in result["cases"]:
    share = f"{100 * c['input_share']:.1f}%" if "input_share" in c else ""
    lines.append(f"| {c['width']} | {c['batch']} | {c['step_s_median'] * 1e3:.1f} ms | "
                 f"{c['step_s_min'] * 1e3:.1f} - {c['step_s_max'] * 1e3:.1f} ms | {c['poses_per_s']:,.0f} | "
                 f"{c['achieved_flops_per_s'] / 1e9:.1f} | {100 * c['achieved_flops_per_s'] / peak:.0f}% | {share} | "
                 f"{c['compile_s']:.1f} s | {c['peak_memory_bytes'] / 2 ** 20:,.0f} MiB |")
  lines += ["", "Lifter alone, inference:", "", "| width | batch | poses/s | matmul GFLOP/s | % of peak |",
            "| ---: | ---: | ---: | ---: | ---: |"]
  for c in result["inference"]:
    lines.append(f"| {c['width']} | {c['batch']} | {c['poses_per_s']:,.0f} | {c['achieved_flops_per_s'] / 1e9:.1f} | "
                 f"{100 * c['achieved_flops_per_s'] / peak:.0f}% |")
  return "\n".join(lines) + "\n"


def _settings_line(result: dict) -> str:
  st = result.get("settings", {"dropout_rng": "bernoulli", "dtype": "float32", "steps_per_call": 1})
  malloc = "tuned (lifting.training.allocator)" if result.get("malloc_tuned") else "glibc defaults"
  return (f"Step: Adv+SS+TD, every term on; dropout masks {st['dropout_rng']}, matmuls {st['dtype']}, "
          f"{st['steps_per_call']} step(s) per call, malloc {malloc}. Input: the batch draw compiled and timed alone "
          "(dispatch included), as a share of the step; inside the step it is fused, so this is an upper bound.")


def main(argv):
  del argv
  from lifting.training import allocator
  tuned = allocator.tune()  # As run.py does; LIFTING_MALLOC=default measures glibc's defaults.
  # On a GPU each case runs in a child process beside this one: neither may grab most of the memory up front.
  os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
  if _CASE.value:
    width, batch = (int(v) for v in _CASE.value.split(","))
    print(json.dumps(run_case(width, batch, _REPEATS.value)))
    return
  widths = [int(w) for w in _WIDTHS.value]
  batches = [int(b) for b in _BATCHES.value]
  peak = matmul_peak()
  cases = []
  for width in widths:
    for batch in batches:
      cases.append(_subprocess_case(width, batch, _REPEATS.value))
      c = cases[-1]
      print(f"width {width}, batch {batch}: {c['step_s_median'] * 1e3:.1f} ms/step, {c['poses_per_s']:,.0f} poses/s, "
            f"{100 * c['achieved_flops_per_s'] / peak['flops_per_s']:.0f}% of the matmul peak", flush=True)
  infer = [inference(w, _INFER_BATCH.value) for w in widths]
  result = {"device": str(jax.devices()[0].device_kind), "platform": jax.devices()[0].platform,
            "num_devices": jax.device_count(), "jax": jax.__version__, "date": time.strftime("%Y-%m-%d"),
            "cpu_count": os.cpu_count(), "matmul_peak": peak, "cases": cases, "inference": infer,
            "numpy": np.__version__, "malloc_tuned": tuned,
            "settings": {"dropout_rng": _DROPOUT_RNG.value, "dtype": _DTYPE.value,
                         "steps_per_call": _STEPS_PER_CALL.value}}
  from benchmarks import common
  common.write_results(_OUT.value, "performance", result, markdown(result))


if __name__ == "__main__":
  app.run(main)
