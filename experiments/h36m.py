"""The paper's own protocol: Adv + SS on Human3.6M, train S1 S5 S6 S7 S8 (2D only), test S9 S11.

Human3.6M is licensed; this reads the preprocessed files of VideoPose3D (Pavllo et al., CVPR 2019)
if you have them::

    python run.py --config=experiments/h36m.py:paper --workdir=runs/h36m \\
      --config.data.h36m.path_3d=/data/h36m/data_3d_h36m.npz \\
      --config.data.h36m.path_2d_gt=/data/h36m/data_2d_h36m_gt.npz
"""

from experiments import default


def get_config(profile: str = "cpu"):
  config = default.get_config(profile)
  config.data.source = "h36m"
  return config
