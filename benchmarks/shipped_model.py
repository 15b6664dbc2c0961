"""Accuracy of an exported model (default: the one shipped in lifting/pretrained/) on its benchmark's test split and,
for a bandai model, the generalisation sets (dataset-1's contents, other bodies).

    python -m benchmarks.shipped_model
    python -m benchmarks.shipped_model --model=DIR --bandai_root=PATH/bandai_namco_motion

The model's own ``config.json`` names the data and protocol; ``--bandai_root`` points it at your copy of
the Bandai Namco data. Every set is scored as users get it, through `lifting.app.inference.Model.lift` from pixels,
beside the normalised path of training (`Model.lift_normalised`) and the flat pose
(`lifting.evaluators.generalisation.score_sets`); the test split also with the training run's own metrics. Prints JSON.
"""

import json
import sys

from absl import app
from absl import flags

_MODEL = flags.DEFINE_string("model", None, "An exported model folder (inference.export); default: the shipped one.")
_ROOT = flags.DEFINE_string("bandai_root", None, "The folder that holds dataset/ (default: experiments/default.py's).")
_GENERAL = flags.DEFINE_bool("generalisation", True, "Also score the generalisation sets (bandai models).")


def main(argv):
  del argv
  from experiments import default
  from lifting.app import inference
  from lifting.data import pipeline
  from lifting.evaluators import baselines
  from lifting.evaluators import generalisation
  from lifting.evaluators import reports
  from lifting.evaluators import test_set

  try:
    model = inference.load(_MODEL.value)
    config = model.config.copy_and_resolve_references()
    if config.data.source in ("bandai", "footage"):  # The footage protocol reads the bandai files too.
      config.data.bandai.root = _ROOT.value or default.get_config().data.bandai.root
    # Models exported before the generalisation protocols: the defaults' sets.
    config.eval.generalisation = default.get_config().eval.generalisation
    config.eval.generalisation.enabled = _GENERAL.value
    data = pipeline.load(config, extra=False)
    sets = pipeline.load_evaluation_sets(config)
  except (ValueError, OSError) as e:
    sys.exit(f"shipped_model: error: {e}")
  pred = model.lift_normalised(data.test_2d, data.test_lengths)
  results = test_set.evaluate_poses(pred, data.test_3d, data.layout, data.test_actions)
  flat = baselines.trivial(data, config.c)["flat"]
  scores = generalisation.score_sets(model, model.lift_normalised, config, data, sets)
  keys = ("pa_mpjpe", "n_mpjpe", "pck", "auc", "depth_flip_rate", "worst_yaw_pa_mpjpe")
  print(json.dumps({"model": model.workdir, "step": model.step, "protocol": reports.protocol(config),
                    "num_poses": int(len(pred)), **{k: round(float(results[k]), 4) for k in keys},
                    "flat_pa_mpjpe": round(float(flat["pa_mpjpe"]), 4), "generalisation": scores}, indent=2))


if __name__ == "__main__":
  app.run(main)
