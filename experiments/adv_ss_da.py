"""Table 3 row "Adv + SS + DA": the paper's method with adapted in-the-wild 2D poses (sec. 3.6).

    python run.py --config=experiments/adv_ss_da.py --mode=adapt --workdir=runs/adapt
    python run.py --config=experiments/adv_ss_da.py --workdir=runs/adv_ss_da
"""

from experiments import bandai


def get_config(profile: str = "cpu"):
  config = bandai.get_config(profile)
  config.data.extra.kind = "adapted"
  return config
