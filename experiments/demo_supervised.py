"""The supervised reference on the demo set (`lifting.data.demo`): the same lifter and inputs as
`experiments/demo.py`, trained with a 3D loss on the training actors' 3D. What it scores is recorded in the
demo set's metadata, and ``python run.py`` prints it beside its own result:

    python run.py --config=experiments/demo_supervised.py --workdir=runs/demo_supervised
"""

from experiments import supervised
from lifting import demo_config as demo


def get_config(profile: str = "fast"):
  return supervised.supervise(demo.get_config(profile))
