"""Adv + SS + DA + TD, body-size normalisation and a denoising lifter: the in-the-wild 2D of
`adv_ss_da_td_body.py` with the corrupted inputs of `adv_ss_td_body_denoise.py` (beyond the paper).

    python run.py --config=experiments/adv_ss_da_td_body_denoise.py --workdir=runs/adv_ss_da_td_body_denoise
"""

from experiments import adv_ss_da_td_body


def get_config(profile: str = "cpu"):
  config = adv_ss_da_td_body.get_config(profile)
  config.model.denoise = True
  config.data.train_noise.share = 0.5
  config.loss.w_denoise = config.loss.w_2d
  return config
