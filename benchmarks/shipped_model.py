"""Accuracy of an exported model (default: the one shipped in lifting/pretrained/) on its benchmark's test split.

    python -m benchmarks.shipped_model
    python -m benchmarks.shipped_model --model=DIR --bandai_root=PATH/bandai_namco_motion

The model's own ``config.json`` names the data and protocol; ``--bandai_root`` points it at your copy of
the Bandai Namco data. The test 2D is lifted with `lifting.inference.Model.lift_normalised` (the path
every lift takes) and scored as the training run scored it, beside the flat-pose baseline. Prints JSON.
"""

import json
import sys

from absl import app
from absl import flags

_MODEL = flags.DEFINE_string("model", None, "An exported model folder (inference.export); default: the shipped one.")
_ROOT = flags.DEFINE_string("bandai_root", None, "The folder that holds dataset/ (default: experiments/default.py's).")


def main(argv):
  del argv
  from experiments import default  # pylint: disable=import-outside-toplevel
  from lifting import evaluate as evaluate_lib  # pylint: disable=import-outside-toplevel
  from lifting import inference  # pylint: disable=import-outside-toplevel
  from lifting.data import pipeline  # pylint: disable=import-outside-toplevel

  try:
    model = inference.load(_MODEL.value)
    config = model.config.copy_and_resolve_references()
    if config.data.source == "bandai":
      config.data.bandai.root = _ROOT.value or default.get_config().data.bandai.root
    data = pipeline.load(config, extra=False)
  except (ValueError, OSError) as e:
    sys.exit(f"shipped_model: error: {e}")
  pred = model.lift_normalised(data.test_2d)
  results = evaluate_lib.evaluate_poses(pred, data.test_3d, data.layout, data.test_actions)
  flat = evaluate_lib.baselines(data, config.c)["flat"]
  keys = ("pa_mpjpe", "n_mpjpe", "pck", "auc", "depth_flip_rate", "worst_yaw_pa_mpjpe")
  print(json.dumps({"model": model.workdir, "step": model.step, "protocol": evaluate_lib.protocol(config),
                    "num_poses": int(len(pred)), **{k: round(float(results[k]), 4) for k in keys},
                    "flat_pa_mpjpe": round(float(flat["pa_mpjpe"]), 4)}, indent=2))


if __name__ == "__main__":
  app.run(main)
