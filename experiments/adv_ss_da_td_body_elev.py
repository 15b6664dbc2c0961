"""Adv + SS + DA + TD with the learned camera elevation (beyond the paper; issue "Generalise").

`adv_ss_da_td_body.py` (the adapted LSPET + MPII poses beside the bandai 2D, body-size normalisation) with
ElePose's learned elevation of `adv_ss_td_body_elev.py`: in-the-wild photos are taken from every height, which
a fixed elevation range cannot follow and an estimate per pose can.

    python run.py --config=experiments/adv_ss_da_td_body_elev.py --mode=adapt --workdir=runs/adapt_body
    python run.py --config=experiments/adv_ss_da_td_body_elev.py --workdir=runs/adv_ss_da_td_body_elev
"""

from experiments import adv_ss_da_td_body


def get_config(profile: str = "cpu"):
  config = adv_ss_da_td_body.get_config(profile)
  config.rotation.learned_elevation = True
  return config
