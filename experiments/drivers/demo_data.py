"""Writes the demo set shipped with the package (`lifting.data.demo`) from a copy of the bandai data.

    python -m experiments.drivers.demo_data --bandai_root=PATH/bandai_namco_motion
    python -m experiments.drivers.demo_data --bandai_root=PATH --reference=runs/demo_supervised/results.json

With ``--reference``, the results of the supervised reference trained on the set
(``python run.py --config=experiments/demo_supervised.py --workdir=runs/demo_supervised``) are recorded in its
metadata, so ``python run.py`` prints them beside its own.
"""

import datetime
import json
import os

from absl import app
from absl import flags

_ROOT = flags.DEFINE_string("bandai_root", None, "The folder that holds dataset/ (default: experiments/default.py's).")
_REFERENCE = flags.DEFINE_string("reference", None, "results.json of experiments/demo_supervised.py on the set.")


def main(argv):
  del argv
  from experiments import default
  from lifting.data import demo
  reference = None
  if _REFERENCE.value:
    with open(_REFERENCE.value) as f:
      results = json.load(f)
    reference = {"pa_mpjpe": round(float(results["pa_mpjpe"]), 2), "step": int(results["step"]),
                 "command": "python run.py --config=experiments/demo_supervised.py --workdir=runs/demo_supervised",
                 "measured": datetime.date.today().isoformat()}
  meta = demo.build(_ROOT.value or default.get_config().data.bandai.root, reference=reference)
  print(json.dumps(meta, indent=2))
  print(f"wrote {demo.FILE} ({os.path.getsize(demo.FILE) / 1e6:.1f} MB)")


if __name__ == "__main__":
  app.run(main)
