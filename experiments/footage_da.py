"""The footage row with the in-the-wild 2D as well (sec. 3.6; beyond the paper's use of it).

`footage_clean.py` with LSPET's and MPII's training poses (about 27k people doing sports, parkour and daily
acts) adapted to the footage protocol's training 2D by the domain adapter (eq. 7) and used as lifter inputs and
real poses of the pose discriminator beside the mocap 2D: poses no mocap take holds (one leg up, bending
sideways, crouching). The ablation driver prepares the adapted poses first (``run.py --mode=adapt``):

    python run.py --config=experiments/footage_da.py --mode=adapt --workdir=runs/adapt_footage
    python run.py --config=experiments/footage_da.py --workdir=runs/footage_da
"""

from experiments import footage_clean


def get_config(profile: str = "cpu"):
  config = footage_clean.get_config(profile)
  config.data.extra.kind = "adapted"
  return config
