"""Table 3 row "SS": geometric self-supervision (loop closure) alone, no discriminator."""

from experiments import bandai


def get_config(profile: str = "cpu"):
  config = bandai.get_config(profile)
  config.loss.w_adv = 0.0
  return config
