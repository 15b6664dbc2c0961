"""Table 3 row "Adv + DA": the pose discriminator alone, with adapted in-the-wild 2D poses (sec. 3.6).

Prepare the adapted poses once, then train (both read the same config):

    python run.py --config=experiments/adv_da.py --mode=adapt --workdir=runs/adapt
    python run.py --config=experiments/adv_da.py --workdir=runs/adv_da
"""

from experiments import adv


def get_config(profile: str = "cpu"):
  config = adv.get_config(profile)
  config.data.extra.kind = "adapted"
  return config
