"""Reference row "supervised": the same lifter trained with a 3D loss on the training actors.

The ceiling every unsupervised row is read against: on the "bandai" protocol it sees the 3D of
actors A and B (never of the test actor C). The loss is `lifting.core.losses.supervised_3d`; no
discriminator, no loop closure, no random rotations.

    python run.py --config=experiments/supervised.py --workdir=runs/supervised
"""

from experiments import bandai


def supervise(config):
  """``config`` with the 3D loss alone: every unsupervised term off (the demo's reference uses it too)."""
  config.loss.w_adv = 0.0
  config.loss.w_2d = 0.0
  config.loss.w_3d = 0.0
  config.loss.w_temporal = 0.0
  config.loss.w_supervised = 1.0
  return config


def get_config(profile: str = "cpu"):
  return supervise(bandai.get_config(profile))
