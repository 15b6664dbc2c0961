"""What ``python run.py`` runs with no ``--config``: the paper's method (Adv + SS) on the embedded demo
poses, the CPU profile cut to 2000 steps (its cosine schedule over those) so that it ends in a few
minutes on a laptop CPU. The demo generator is not a benchmark: see the README's bandai benchmark.
"""

from experiments import default


def get_config(profile: str = "cpu"):
  config = default.get_config(profile)
  if profile == "cpu":  # The fast profile is 2000 steps already.
    config.train.num_steps = 2_000
  return config
