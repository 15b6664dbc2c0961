"""Table 3 row "SS": geometric self-supervision (loop closure) alone, no discriminator."""

from experiments import default


def get_config(profile: str = "cpu"):
  config = default.get_config(profile)
  config.loss.w_adv = 0.0
  return config
