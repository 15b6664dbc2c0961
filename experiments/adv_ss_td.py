"""Table 3 row "Adv + SS + TD": adds the temporal discriminator of sec. 3.5 (wT = 1)."""

from experiments import bandai


def get_config(profile: str = "cpu"):
  config = bandai.get_config(profile)
  config.loss.w_temporal = 1.0
  return config
