"""`adv_ss_da_td_body.py` with half of each batch from the adapted in-the-wild 2D (instead of their share of all
training poses, about a tenth): more weight on the sports and everyday poses of LSPET and MPII, which the
bandai motions lack (beyond the paper).

    python run.py --config=experiments/adv_ss_da_td_body_half.py --workdir=runs/adv_ss_da_td_body_half
"""

from experiments import adv_ss_da_td_body


def get_config(profile: str = "cpu"):
  config = adv_ss_da_td_body.get_config(profile)
  config.data.extra.share = 0.5
  return config
