"""Table 3 row "SS + Symm": self-supervision plus a left/right bone-length symmetry loss."""

from experiments import ss


def get_config(profile: str = "cpu"):
  config = ss.get_config(profile)
  config.loss.w_symmetry = 1.0
  return config
