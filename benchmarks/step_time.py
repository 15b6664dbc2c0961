"""Times the compiled train step of a config: compile time and median step time.

    python -m benchmarks.step_time --config=experiments/default.py          # CPU profile
    python -m benchmarks.step_time --config=experiments/adv_ss_td.py:paper  # paper scale

Batches are drawn from the config's data before timing, so only the step itself is measured.
"""

import json
import statistics
import time

from absl import app
from absl import flags
from ml_collections import config_flags
import jax

from lifting import config as config_lib
from lifting import skeleton
from lifting import train
from lifting.data import pipeline

config_flags.DEFINE_config_file("config", "experiments/default.py", "Config to time.", lock_config=True)
_STEPS = flags.DEFINE_integer("steps", 10, "Timed steps after warm-up.")
_WARMUP = flags.DEFINE_integer("warmup", 2, "Untimed steps after compilation.")


def main(_):
  config = flags.FLAGS.config
  config_lib.validate(config)
  layout = skeleton.get_layout(config.layout)
  data = pipeline.load(config)
  mesh = train.make_mesh()
  models = train.build_models(config)
  states = train.init_states(config, models, layout, jax.random.key(0), mesh)
  window = config_lib.window_size(config)
  n = _WARMUP.value + _STEPS.value + 1
  batches = [train.global_batch(mesh, pipeline.sample_batch(data, 0, s, config.train.batch_size // window, window))
             for s in range(n)]
  step_fn = train.compile_train_step(train.make_train_step(config, models, layout), mesh)
  key = jax.random.key(1)
  t0 = time.perf_counter()
  compiled = step_fn.lower(states, batches[0], key).compile()
  compile_s = time.perf_counter() - t0
  times = []
  for i in range(n):
    t0 = time.perf_counter()
    states, metrics = compiled(states, batches[i], key)
    jax.block_until_ready((states, metrics))
    if i > _WARMUP.value:
      times.append(time.perf_counter() - t0)
  median = statistics.median(times)
  result = {"device": str(jax.devices()[0].device_kind), "num_devices": jax.device_count(),
            "width": config.model.width, "batch_size": config.train.batch_size,
            "terms": {k: v for k, v in config.loss.items() if k.startswith("w_") and v > 0},
            "compile_s": round(compile_s, 2), "median_step_s": round(median, 4),
            "min_step_s": round(min(times), 4), "max_step_s": round(max(times), 4),
            "poses_per_s": round(config.train.batch_size / median, 1), "timed_steps": len(times)}
  print(json.dumps(result))


if __name__ == "__main__":
  app.run(main)
