"""Adv + SS + TD with ElePose's learned camera elevation (beyond the paper; issue "Generalise").

Chen et al. tilt every lifted pose about the camera's horizontal axis by an elevation drawn uniformly from
``rotation.elevation_range``, and turn it about the camera's vertical axis, which is the body's vertical only
for a level camera. ElePose (Wandt et al., CVPR 2022) has the lifter estimate each input's camera elevation,
turns the lifted pose upright by it, turns it about its own vertical, and tilts it to an elevation drawn from
a normal with the batch's mean and sd of the estimates (``rotation.learned_elevation``). Otherwise as
`adv_ss_td_body.py` (bandai, per-pose body-size normalisation):

    python run.py --config=experiments/adv_ss_td_body_elev.py --workdir=runs/adv_ss_td_body_elev
"""

from experiments import adv_ss_td_body


def get_config(profile: str = "cpu"):
  config = adv_ss_td_body.get_config(profile)
  config.rotation.learned_elevation = True
  return config
