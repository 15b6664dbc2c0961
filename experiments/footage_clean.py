"""The footage row trained on clean 2D and the bandai rig's views as well (beyond the paper).

`footage_prior.py` trained on the footage protocol's training 2D as a detector gives it (jitter, drift): the
adversarial terms then ask the lifter for projections as noisy as the real 2D, which its lifts can only make
through wobbling depths. Here the training 2D is the protocol's cameras and detector-like joints without a
detector's errors (the test 2D keeps them), and each dataset-2 training take is also filmed by the bandai
protocols' turned rig with the mocap's own joints, so the views and joints those protocols test stay in the
training 2D. Chosen on the footage dev contents and dataset-1's dev contents (experiments/README.md):

    python run.py --config=experiments/footage_clean.py --workdir=runs/footage_clean
"""

from experiments import footage_prior


def get_config(profile: str = "cpu"):
  config = footage_prior.get_config(profile)
  config.data.footage.detector_2d.train = False
  config.data.footage.bandai_rig = True
  return config
