"""Command line: ``python run.py [--config=experiments/X.py[:profile]] [--workdir=DIR] [--mode=...]``.

With no arguments it trains the shared default (the paper's Adv + SS) on the embedded demo
poses for a few minutes on a CPU, then prints the test error. Training resumes by itself from
the latest checkpoint in ``--workdir``. ``--mode=eval`` evaluates the latest checkpoint;
``--mode=adapt`` prepares in-the-wild 2D poses for ``config.data.extra`` (`lifting.adapt`).
"""

import os
import sys

from absl import app
from absl import flags
from ml_collections import config_flags

_HERE = os.path.dirname(os.path.abspath(__file__))



def _bad_override(e: Exception):
  reason = " ".join(str(e).replace("\\n", " ").replace("\\'", "'").strip("'\"").split())
  sys.exit(f"run.py: error: bad --config override: {reason}")


try:  # config_flags reads --config.* overrides here, at definition time.
  config_flags.DEFINE_config_file(
      "config", os.path.join(_HERE, "experiments", "default.py"),
      "Experiment config file; override fields with --config.a.b=value.", lock_config=True)
except (AttributeError, KeyError, TypeError, ValueError) as e:
  _bad_override(e)
_WORKDIR = flags.DEFINE_string("workdir", "runs/default", "Directory for checkpoints, logs and results.")
_MODE = flags.DEFINE_enum(
    "mode", "train", ["train", "eval", "adapt"],
    "train: train (resuming if possible), evaluating at intervals; eval: evaluate the latest checkpoint on the test "
    "split, writing results.json and results.md; adapt: complete and domain-adapt the 2D poses of "
    "config.adapt.sources to the training data and cache them for data.extra.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  from lifting import logs, train  # Imported here so that --help is fast.

  logs.setup_cli_logging()

  config = flags.FLAGS.config
  try:
    if _MODE.value == "adapt":
      from lifting import adapt
      meta = adapt.prepare(config, _WORKDIR.value)
      print(adapt.summary(meta))
      return
    if _MODE.value == "train":
      results = train.train_and_evaluate(config, _WORKDIR.value)
    else:
      results = train.evaluate(config, _WORKDIR.value)
  except ValueError as e:  # Config and data problems: one line, non-zero exit.
    sys.exit(f"run.py: error: {e}")
  if "pa_mpjpe" in results:
    flat = results["baselines"]["flat"]["pa_mpjpe"]
    print(f"step {int(results['step'])}: test PA-MPJPE {results['pa_mpjpe']:.1f} mm, "
          f"N-MPJPE {results['n_mpjpe']:.1f} mm, PCK@150 {100 * results['pck']:.1f}%, AUC {100 * results['auc']:.1f}% "
          f"over {int(results['num_poses']):,} poses; a flat pose scores PA-MPJPE {flat:.1f} mm (workdir {_WORKDIR.value})")
  if _MODE.value == "eval":
    print(open(os.path.join(_WORKDIR.value, "results.md")).read(), end="")


def _parse_flags(argv):
  """absl's parser, but a bad ``--config.x`` gives one line instead of a traceback."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    sys.exit(f"run.py: error: {e}")
  except (AttributeError, KeyError, TypeError, ValueError) as e:
    _bad_override(e)


if __name__ == "__main__":
  app.run(main, flags_parser=_parse_flags)
