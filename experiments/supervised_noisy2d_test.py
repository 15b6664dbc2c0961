"""The supervised reference trained on exact 2D, tested on detector-like 2D (see `adv_ss_td_noisy2d_test.py`).

    python run.py --config=experiments/supervised_noisy2d_test.py --workdir=runs/supervised --mode=eval \\
        --results_dir=runs/supervised_noisy2d_test
"""

from experiments import supervised


def get_config(profile: str = "cpu"):
  config = supervised.get_config(profile)
  config.data.noise_2d.test = True
  return config
