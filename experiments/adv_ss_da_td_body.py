"""Adv + SS + DA + TD with body-size normalisation: the in-the-wild 2D (LSPET and MPII, adapted to the bandai
joints, sec. 3.6) as lifter inputs and real poses, on the inputs a user gives `Model.lift` (beyond the paper;
issue "Generalise"). The ablation driver prepares the adapted poses first (``run.py --mode=adapt``).

    python run.py --config=experiments/adv_ss_da_td_body.py --mode=adapt --workdir=runs/adapt_body
    python run.py --config=experiments/adv_ss_da_td_body.py --workdir=runs/adv_ss_da_td_body
"""

from experiments import adv_ss_td_body


def get_config(profile: str = "cpu"):
  config = adv_ss_td_body.get_config(profile)
  config.data.extra.kind = "adapted"
  return config
