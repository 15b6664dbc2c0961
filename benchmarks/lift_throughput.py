"""Lift throughput of a trained checkpoint: poses per second through `lifting.app.inference`.

    python -m benchmarks.lift_throughput --workdir=results/runs/adv_ss-seed0
    python -m benchmarks.lift_throughput --workdir=runs/x --num_poses=100000 --repeats=5

Three numbers: the jitted network alone on one device-resident bucket of 65,536 poses (the
ceiling), the lifter on poses already in the training frame (`Model.lift_normalised`: padding
to a bucket, the jitted network, copying back), and the whole `Model.lift` on pixel
keypoints with 10% of the joints missing (conversion, filling, scaling, lifting). The inputs are
random poses: the speed does not depend on the values. The first call compiles and is timed
apart; the others report their median.
"""

import json
import statistics
import time

from absl import app
from absl import flags
import jax
import numpy as np

from lifting.app import inference

_WORKDIR = flags.DEFINE_string("workdir", None, "A trained run (config.json + checkpoints/).", required=True)
_NUM = flags.DEFINE_integer("num_poses", 100_000, "Poses per timed call.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed calls after the compiling one.")


def _timed(fn, repeats: int) -> tuple[float, list[float]]:
  t0 = time.perf_counter()
  fn()
  first = time.perf_counter() - t0
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
  return first, times


def main(_):
  model = inference.load(_WORKDIR.value, completion=None)
  n, j = _NUM.value, model.layout.num_joints
  rng = np.random.default_rng(0)
  normalised = (rng.normal(size=(n, j, 2)) * 0.05).astype(np.float32)
  pixels = normalised.astype(np.float64) * 2000 + 500
  conf = (rng.random((n, j)) > 0.1).astype(np.float64)
  keypoints = np.concatenate([pixels, conf[..., None]], axis=-1)
  # The network alone on a device-resident full bucket: the ceiling the two others are measured against.
  bucket = jax.device_put(normalised[:model.max_batch])
  raw = lambda: model._lift(model.variables, bucket).block_until_ready()  # noqa: E731
  _, raw_times = _timed(raw, _REPEATS.value)
  first_net, net = _timed(lambda: model.lift_normalised(normalised), _REPEATS.value)
  first_all, full = _timed(lambda: model.lift(keypoints), _REPEATS.value)
  result = {"device": str(jax.devices()[0]), "num_devices": jax.device_count(), "workdir": _WORKDIR.value,
            "width": model.config.model.width, "num_poses": n, "max_batch": model.max_batch,
            "network_poses_per_s": len(bucket) / statistics.median(raw_times),
            "lifter_poses_per_s": n / statistics.median(net), "lifter_first_call_s": first_net,
            "lift_poses_per_s": n / statistics.median(full), "lift_first_call_s": first_all,
            "lifter_times_s": net, "lift_times_s": full}
  print(json.dumps(result, indent=2))


if __name__ == "__main__":
  app.run(main)
