"""What the checkpoints' checksums cost at the paper profile's size (lifting/training/checkpoint.py, README
"Reliability").

    python -m benchmarks.checkpoint_integrity --out=benchmarks/results

Builds the train states of the paper profile's Adv + SS + TD (width 1024; lifter, pose and temporal
discriminators, Adam moments, moving average) on this machine's first device, then times, with the
median of ``--repeats``: a save without checksums (Orbax alone, until finalised), the checksums of the
arrays, a save with them (what training does), a restore without and with their verification. Writes
``OUT/checkpoint_integrity.json`` and ``.md``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time

from absl import app
from absl import flags

_OUT = flags.DEFINE_string("out", "benchmarks/results", "Output folder.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed repetitions of each operation.")


def _median_time(fn, repeats: int) -> float:
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
  return statistics.median(times)


def main(argv):
  del argv
  import jax
  import orbax.checkpoint as ocp

  from benchmarks import common
  from experiments import adv_ss_td
  from lifting.core import skeleton
  from lifting.training import checkpoint
  from lifting.training import train_step

  config = adv_ss_td.get_config("paper")
  layout = skeleton.get_layout(config.layout)
  states = train_step.init_states(config, train_step.build_models(config), layout, jax.random.key(0),
                                train_step.make_mesh())
  jax.block_until_ready(states)
  leaves = jax.tree.leaves(states)
  nbytes = sum(x.size * x.dtype.itemsize for x in leaves)
  folder = tempfile.mkdtemp(prefix="ckpt-bench-")
  counter = iter(range(1, 10_000))
  try:
    plain = ocp.CheckpointManager(os.path.join(folder, "plain"), options=ocp.CheckpointManagerOptions(max_to_keep=1))

    def save_plain():
      plain.save(next(counter), args=ocp.args.StandardSave(states))
      plain.wait_until_finished()

    checked = checkpoint.Checkpointer(os.path.join(folder, "checked"), max_to_keep=1)

    def save_checked():
      checked.save(next(counter), states)
      checked._finish_pending()  # pylint: disable=protected-access  (finalised, checksums written)

    t_plain = _median_time(save_plain, _REPEATS.value)
    t_sums = _median_time(lambda: checkpoint.tree_checksums(states), _REPEATS.value)
    t_checked = _median_time(save_checked, _REPEATS.value)
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, states)
    t_restore = _median_time(lambda: jax.block_until_ready(plain.restore(
        plain.latest_step(), args=ocp.args.StandardRestore(abstract))), _REPEATS.value)
    t_verified = _median_time(lambda: jax.block_until_ready(checked.restore(states)), _REPEATS.value)
    plain.close()
    checked.close()
  finally:
    shutil.rmtree(folder, ignore_errors=True)
  result = {"device": str(jax.devices()[0]), "profile": "paper", "config": "experiments/adv_ss_td.py:paper",
            "arrays": len(leaves), "bytes": int(nbytes), "repeats": _REPEATS.value,
            "save_s": t_plain, "checksums_s": t_sums, "save_with_checksums_s": t_checked,
            "restore_s": t_restore, "restore_verified_s": t_verified,
            "checksum_gb_per_s": nbytes / t_sums / 1e9}
  text = "\n".join([
      f"Checkpoint integrity at the paper profile's size ({len(leaves)} arrays, {nbytes / 2**20:.0f} MiB of train "
      f"states; {result['device']}; median of {_REPEATS.value}):", "",
      "| operation | seconds |", "| --- | ---: |",
      f"| save, Orbax alone (until finalised) | {t_plain:.2f} |",
      f"| checksums of the arrays (BLAKE2b, {result['checksum_gb_per_s']:.2f} GB/s) | {t_sums:.2f} |",
      f"| save with checksums (what training does) | {t_checked:.2f} |",
      f"| restore, Orbax alone | {t_restore:.2f} |",
      f"| restore with verification (what resuming does) | {t_verified:.2f} |", ""])
  common.write_results(_OUT.value, "checkpoint_integrity", result, text)


if __name__ == "__main__":
  app.run(main)
