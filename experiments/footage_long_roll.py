"""`footage_long.py`'s runs evaluated with `footage_clean_roll.py`'s test-time roll averaging (``eval.roll_degrees``;
beyond the paper). An evaluation, not a training run::

    python run.py --config=experiments/footage_long_roll.py --workdir=runs/footage_long --mode=eval \\
        --results_dir=runs/footage_long_roll
"""

from experiments import footage_clean_roll
from experiments import footage_long


def get_config(profile: str = "cpu"):
  config = footage_long.get_config(profile)
  config.eval.roll_degrees = footage_clean_roll.ROLL_DEGREES
  return config
