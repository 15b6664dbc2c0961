"""Table 3 row "Adv + SS": the paper's method without domain adaptation; the shared default on the bandai benchmark."""

from experiments import bandai


def get_config(profile: str = "cpu"):
  return bandai.get_config(profile)
