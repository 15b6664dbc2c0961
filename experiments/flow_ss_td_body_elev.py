"""ElePose's two parts together (beyond the paper; issue "Generalise"): flow prior + learned elevation + SS + TD.

As `flow_ss_td_body.py` (the normalizing-flow likelihood of the projections in place of the pose
discriminator), with the learned camera elevation of `adv_ss_td_body_elev.py`: the combination Wandt et al.
(CVPR 2022, ElePose) train, here beside our loop closure and temporal discriminator.

    python run.py --config=experiments/flow_ss_td_body_elev.py --workdir=runs/flow_ss_td_body_elev
"""

from experiments import flow_ss_td_body


def get_config(profile: str = "cpu"):
  config = flow_ss_td_body.get_config(profile)
  config.rotation.learned_elevation = True
  return config
