"""Adv + SS + DA + TD, body-size normalisation and a denoising lifter: the corrupted inputs of
`adv_ss_td_body_denoise.py` with the adapted in-the-wild 2D of `adv_ss_da_td_body.py` (beyond the paper).

    python run.py --config=experiments/adv_ss_da_td_body_denoise.py --workdir=runs/adv_ss_da_td_body_denoise
"""

from experiments import adv_ss_td_body_denoise


def get_config(profile: str = "cpu"):
  config = adv_ss_td_body_denoise.get_config(profile)
  config.data.extra.kind = "adapted"
  return config
