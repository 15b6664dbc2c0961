"""Table 3 row "Adv + SS + DA + TD": adapted in-the-wild poses and the temporal discriminator.

The in-the-wild poses are single images: they join the lifter's inputs and the pose
discriminator's real poses; the temporal discriminator sees target sequences only.
"""

from experiments import adv_ss_td


def get_config(profile: str = "cpu"):
  config = adv_ss_td.get_config(profile)
  config.data.extra.kind = "adapted"
  return config
