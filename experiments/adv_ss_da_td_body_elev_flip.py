"""`adv_ss_da_td_body_elev.py`'s runs evaluated with test-time flip averaging (``eval.flip_average``; beyond the
paper), as `adv_ss_td_body_flip.py` evaluates `adv_ss_td_body.py`'s. An evaluation, not a training run::

    python run.py --config=experiments/adv_ss_da_td_body_elev_flip.py --workdir=runs/adv_ss_da_td_body_elev \\
        --mode=eval --results_dir=runs/adv_ss_da_td_body_elev_flip
"""

from experiments import adv_ss_da_td_body_elev


def get_config(profile: str = "cpu"):
  config = adv_ss_da_td_body_elev.get_config(profile)
  config.eval.flip_average = True
  return config
