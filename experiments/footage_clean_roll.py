"""`footage_clean.py`'s runs evaluated with test-time roll averaging as well (``eval.roll_degrees``; beyond the
paper): every lift is the mean of the lifts of the 2D turned in the image by -20, -10, 0, 10 and 20 degrees, each
turned back about the camera's axis (`lifting.core.geometry.roll_average`), inside the flip averaging. The angles
were chosen on the footage dev contents (seeds 0 and 1: +-10 degrees took 0.8-0.9 mm off, +-20 1.0-1.3, +-30 and
+-40 less or nothing). An evaluation, not a training run::

    python run.py --config=experiments/footage_clean_roll.py --workdir=runs/footage_clean --mode=eval \\
        --results_dir=runs/footage_clean_roll
"""

from experiments import footage_clean

ROLL_DEGREES = (-20.0, -10.0, 0.0, 10.0, 20.0)


def get_config(profile: str = "cpu"):
  config = footage_clean.get_config(profile)
  config.eval.roll_degrees = ROLL_DEGREES
  return config
