"""Times the compiled train step of a config: compile time and median step time.

    python -m benchmarks.step_time --config=experiments/default.py          # CPU profile
    python -m benchmarks.step_time --config=experiments/adv_ss_td.py:paper  # paper scale

The training set sits on the device and each step draws its own batch, as in training, so the
step time includes input. The same update on a batch already in place is timed alongside; the
difference, as a share of the step (``input_share``), is what input costs.
"""

import json
import statistics
import time

from absl import app
from absl import flags
import jax
from ml_collections import config_flags

from benchmarks import common
from lifting import configs
from lifting.training import pool as pool_lib
from lifting.training import train_step

config_flags.DEFINE_config_file("config", "experiments/default.py", "Config to time.", lock_config=True)
_STEPS = flags.DEFINE_integer("steps", 10, "Timed steps after warm-up.")
_WARMUP = flags.DEFINE_integer("warmup", 2, "Untimed steps after compilation.")


def main(_):
  config = flags.FLAGS.config
  s = common.setup(config)
  layout, mesh, models, states, pool = s.layout, s.mesh, s.models, s.states, s.pool
  n = _WARMUP.value + _STEPS.value + 1
  window = configs.window_offsets(config)
  key = jax.random.key(1)
  step_fn = train_step.compile_train_step(train_step.make_train_step(config, models, layout, mesh), mesh)
  # The same update on one batch already on the device: the difference is what input costs.
  update_fn = train_step.compile_train_step(train_step.make_update(config, models, layout), mesh)
  batch = jax.jit(lambda p, k: pool_lib.draw_batch(p, k, config.train.batch_size // len(window), window,
                                                        mesh))(pool, key)
  t0 = time.perf_counter()
  compiled = step_fn.lower(states, pool, key).compile()
  compile_s = time.perf_counter() - t0
  update = update_fn.lower(states, batch, key).compile()
  times = {"step": [], "update": []}
  for i in range(n):  # Interleaved, so machine noise hits both alike.
    for name, fn, arg in (("step", compiled, pool), ("update", update, batch)):
      t0 = time.perf_counter()
      states, metrics = fn(states, arg, key)
      jax.block_until_ready((states, metrics))
      if i > _WARMUP.value:
        times[name].append(time.perf_counter() - t0)
  median = statistics.median(times["step"])
  update_median = statistics.median(times["update"])
  result = {"device": str(jax.devices()[0].device_kind), "num_devices": jax.device_count(),
            "width": config.model.width, "batch_size": config.train.batch_size,
            "terms": {k: v for k, v in config.loss.items() if k.startswith("w_") and v > 0},
            "compile_s": round(compile_s, 2), "median_step_s": round(median, 4),
            "min_step_s": round(min(times["step"]), 4), "max_step_s": round(max(times["step"]), 4),
            "median_update_only_s": round(update_median, 4),
            "input_share": round(max(median - update_median, 0.0) / median, 4),
            "poses_per_s": round(config.train.batch_size / median, 1), "timed_steps": len(times["step"])}
  print(json.dumps(result))


if __name__ == "__main__":
  app.run(main)
