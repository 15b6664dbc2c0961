"""The footage row with a lifter that sees 9 frames (beyond the paper; `lifting.core.models.TemporalLifter`).

`footage_clean.py` with VideoPose3D's dilated temporal convolutions (Pavllo et al., CVPR 2019) in place of the
single-frame lifter, trained with the same unsupervised losses on windows of 9 frames: each random view turns
a whole window, the discriminators see its frames, and the loop closure lifts the projected window again. The
batch holds 128 windows (1,152 poses) where the single-frame rows hold 256 windows of two:

    python run.py --config=experiments/footage_temporal.py --workdir=runs/footage_temporal
"""

from experiments import footage_clean


def get_config(profile: str = "cpu"):
  config = footage_clean.get_config(profile)
  config.model.lifter_frames = 9
  config.train.batch_size = 1152
  return config
