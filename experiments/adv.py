"""Table 3 row "Adv": the 2D pose discriminator alone, no loop closure."""

from experiments import bandai


def get_config(profile: str = "cpu"):
  config = bandai.get_config(profile)
  config.loss.w_2d = 0.0
  config.loss.w_3d = 0.0
  return config
