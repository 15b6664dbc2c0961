"""Completion ablation: "Adv + SS + DA" with complete source poses only (no joint completion, sec. 4.6).

Poses with missing joints are dropped instead of completed, and the adapter is trained on the
rest, so the difference to "Adv + SS + DA" is what the completed poses add.
"""

from experiments import adv_ss_da


def get_config(profile: str = "cpu"):
  config = adv_ss_da.get_config(profile)
  config.adapt.complete = False
  return config
