"""Adv + Flow + SS + TD, body-size normalisation: ElePose's 2D flow prior (`lifting.core.flow`) beside the pose
discriminator rather than in its place, at a tenth of the adversarial weight (beyond the paper).

    python run.py --config=experiments/adv_flow_ss_td_body.py --workdir=runs/adv_flow_ss_td_body
"""

from experiments import adv_ss_td_body


def get_config(profile: str = "cpu"):
  config = adv_ss_td_body.get_config(profile)
  config.loss.w_flow = 0.1
  return config
