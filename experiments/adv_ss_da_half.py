"""Share ablation: "Adv + SS + DA" with half of every batch drawn from the adapted in-the-wild poses.

By default the in-the-wild poses fill their share of all training poses (about 10% of a batch on
the bandai benchmark); the paper's Kinetics poses outnumbered Human3.6M's several times. This row
asks whether DA helps once the adapted poses weigh as much as the target's.
"""

from experiments import adv_ss_da


def get_config(profile: str = "cpu"):
  config = adv_ss_da.get_config(profile)
  config.data.extra.share = 0.5
  return config
