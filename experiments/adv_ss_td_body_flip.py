"""`adv_ss_td_body.py`'s runs evaluated with test-time flip averaging (``eval.flip_average``; beyond the paper):
each pose's lift is averaged with the mirrored lift of its mirrored 2D. An evaluation, not a training run: the
ablation command evaluates each ``adv_ss_td_body`` run's checkpoint with this config. By hand::

    python run.py --config=experiments/adv_ss_td_body_flip.py --workdir=runs/adv_ss_td_body --mode=eval \\
        --results_dir=runs/adv_ss_td_body_flip
"""

from experiments import adv_ss_td_body


def get_config(profile: str = "cpu"):
  config = adv_ss_td_body.get_config(profile)
  config.eval.flip_average = True
  return config
