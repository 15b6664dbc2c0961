"""The footage row with the elevation prior (beyond the paper; `lifting.core.losses.elevation_prior`).

`footage.py` (ElePose's learned camera elevation) converges, in one seed of three, to a lifter that mirrors every
pose in depth: its elevation estimates run to -20 degrees where the footage cameras' mean is +9, and the 2D is
explained as well as by the right lift (83% of its test poses closer to the truth mirrored in depth). People film
from above the hips or level with them more often than from below, so the batch's mean estimated elevation is
kept at or above 0 (``loss.w_elevation_prior``); a single pose's estimate stays free:

    python run.py --config=experiments/footage_prior.py --workdir=runs/footage_prior
"""

from experiments import footage


def get_config(profile: str = "cpu"):
  config = footage.get_config(profile)
  config.loss.w_elevation_prior = 10.0
  return config
