"""The supervised reference of the footage protocol: the lifter trained with a 3D loss on the footage training
split's 3D (the same 2D inputs as `footage.py`, body-size normalisation, flip-averaged lifts):

    python run.py --config=experiments/footage_supervised.py --workdir=runs/footage_supervised
"""

from experiments import supervised_body


def get_config(profile: str = "cpu"):
  config = supervised_body.get_config(profile)
  config.data.source = "footage"
  config.eval.flip_average = True
  return config
