"""The footage row with a view prior that covers the cameras users have (beyond the paper).

`footage.py` with random views that reach them. The learned elevation estimate of ElePose runs to its bound on
the footage protocol's wide cameras (to +60 degrees within 1000 steps with a 60-degree bound, and to -18 with
the bandai row's 30-degree one, where the cameras' true mean is +9), so the elevation and roll of each lifted
pose are read off its own body's vertical, ankles to neck (``rotation.body_elevation``), with no gradient through
them: the pose is turned upright by both, turned about its vertical and tilted and rolled to angles drawn from
the batch's distribution of them. A lifter that mirrors depth explains the 2D as well and sees its cameras from
below (one seed of three on the footage protocol, with either elevation): the batch's mean elevation is kept at
or above 0 (``loss.w_elevation_prior``), since people film from above the hips more often than from below. Each
random view's camera stands at 0.4-1.6 times the depth c (2-8 m for a
body whose head-to-root length is 0.5 m), so projections carry the perspective of near and far cameras:

    python run.py --config=experiments/footage_wide.py --workdir=runs/footage_wide
"""

from experiments import footage


def get_config(profile: str = "cpu"):
  config = footage.get_config(profile)
  config.rotation.learned_elevation = False
  config.rotation.body_elevation = True
  config.rotation.distance_range = (0.4, 1.6)
  config.loss.w_elevation_prior = 10.0
  return config
