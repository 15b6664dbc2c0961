"""Adv + SS + TD with per-pose body-size normalisation (beyond the paper; issue "Generalise").

The paper normalises 2D with one dataset-level scale. A user's keypoints have no dataset scale, so
`lifting.app.inference.Model.lift` scales each pose by its limb size; here training does the same
(``data.scale = "body"``: every 2D pose, real or randomly projected, gets limb size
``geometry.LIMB_SIZE / c``), so the lifter is trained on exactly the inputs a user gives it and the
normalised path and ``Model.lift`` agree. Trains on the bandai benchmark by itself:

    python run.py --config=experiments/adv_ss_td_body.py --workdir=runs/adv_ss_td_body
"""

from experiments import adv_ss_td


def get_config(profile: str = "cpu"):
  config = adv_ss_td.get_config(profile)
  config.data.scale = "body"
  return config
