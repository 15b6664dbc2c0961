"""The supervised reference with per-pose body-size normalisation (``data.scale = "body"``), the same inputs as
`adv_ss_td_body.py`: the generalisation rows are read against it.

    python run.py --config=experiments/supervised_body.py --workdir=runs/supervised_body
"""

from experiments import supervised


def get_config(profile: str = "cpu"):
  config = supervised.get_config(profile)
  config.data.scale = "body"
  return config
