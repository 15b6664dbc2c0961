"""The paper's method (Adv + SS) on the "bandai" mocap benchmark: train actors A + B (2D only), test C.

    python run.py --config=experiments/bandai.py --workdir=runs/bandai
    python run.py --config=experiments/bandai.py --workdir=runs/bandai --mode=eval

Needs the Bandai Namco Research Motion Dataset; set ``--config.data.bandai.root`` to your copy.
"""

from experiments import default


def get_config(profile: str = "cpu"):
  config = default.get_config(profile)
  config.data.source = "bandai"
  return config
