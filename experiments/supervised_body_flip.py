"""`supervised_body.py`'s runs evaluated with test-time flip averaging (``eval.flip_average``), the reference of
the flip-averaged unsupervised rows. An evaluation of the ``supervised_body`` runs' checkpoints, not a training
run (see `adv_ss_td_body_flip.py`).
"""

from experiments import supervised_body


def get_config(profile: str = "cpu"):
  config = supervised_body.get_config(profile)
  config.eval.flip_average = True
  return config
