"""Adv + SS + TD trained on exact 2D (the Table 3 row), tested on detector-like 2D (`adv_ss_td_noisy2d.py`).

An evaluation, not a training run: the ablation command evaluates each ``adv_ss_td`` run's checkpoint
with this config. By hand::

    python run.py --config=experiments/adv_ss_td_noisy2d_test.py --workdir=runs/adv_ss_td --mode=eval \\
        --results_dir=runs/adv_ss_td_noisy2d_test
"""

from experiments import adv_ss_td


def get_config(profile: str = "cpu"):
  config = adv_ss_td.get_config(profile)
  config.data.noise_2d.test = True
  return config
