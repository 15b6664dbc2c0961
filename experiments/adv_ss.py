"""Table 3 row "Adv + SS": the paper's method without domain adaptation; it is the shared default."""

from experiments import default


def get_config(profile: str = "cpu"):
  return default.get_config(profile)
