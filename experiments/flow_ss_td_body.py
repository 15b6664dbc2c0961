"""ElePose's 2D prior in place of the pose discriminator (beyond the paper; issue "Generalise"): Flow + SS + TD.

Wandt et al. (CVPR 2022, ElePose) score the random projections of lifted poses by their likelihood under a
normalizing flow fitted beforehand to the real 2D (`lifting.core.flow`), instead of a discriminator trained beside
the lifter. Here the flow replaces the pose discriminator (``loss.w_adv = 0``, ``loss.w_flow = 1``); the loop
closure, the temporal discriminator and the body-size normalisation stay as in `adv_ss_td_body.py`. ElePose's
learned camera elevation is not built.

    python run.py --config=experiments/flow_ss_td_body.py --workdir=runs/flow_ss_td_body
"""

from experiments import adv_ss_td_body


def get_config(profile: str = "cpu"):
  config = adv_ss_td_body.get_config(profile)
  config.loss.w_adv = 0.0
  config.loss.w_flow = 1.0
  return config
