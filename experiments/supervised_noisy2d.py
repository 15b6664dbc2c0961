"""The supervised reference trained and tested on detector-like 2D (see `adv_ss_td_noisy2d.py`).

    python run.py --config=experiments/supervised_noisy2d.py --workdir=runs/supervised_noisy2d
"""

from experiments import supervised


def get_config(profile: str = "cpu"):
  config = supervised.get_config(profile)
  config.data.noise_2d.train = True
  config.data.noise_2d.test = True
  return config
