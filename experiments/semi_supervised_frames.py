"""Row "semi-supervised 5% of frames": `semi_supervised.py` with the 3D of 5% of the training frames.

Chen et al. (sec. 4.4) fine-tune with "5% of randomly sampled 3D data"; `semi_supervised.py` samples
whole takes (all cameras of 5% of the takes: 20 of bandai's 400 training takes, so most contents
and styles have no 3D at all), this row samples frames uniformly from every sequence, as the
paper's words read. Both start from the same Adv + SS + TD run::

    python run.py --config=experiments/semi_supervised_frames.py --workdir=runs/semi_frames \\
      --config.train.init_from=runs/adv_ss_td
"""

from experiments import semi_supervised


def get_config(profile: str = "cpu"):
  config = semi_supervised.get_config(profile)
  config.data.supervised_unit = "frame"
  return config
