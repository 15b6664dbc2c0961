"""Rows of the footage protocol (`lifting/data/footage.py`): the bandai motions as people film them.

Every bandai content split by content (dataset-2's actors A and B and five dataset-1 contents train; three
dataset-1 contents are the dev set; dataset-1's held-out contents test), filmed by cameras drawn wide (0.5-3 m
high, 2-8 m away, -10 to 45 degrees, phone and webcam lenses, portrait and landscape), the bodies' joints where
detectors mark them and a video detector's errors on the 2D. The base of the footage rows: the shipped recipe
(Adv + SS + TD, body-size normalisation, the learned camera elevation, flip-averaged lifts), trained on the
footage protocol's training 2D:

    python run.py --config=experiments/footage.py --workdir=runs/footage

Besides its own test set it scores the bandai protocols' sets through `Model.lift` (actor C, dataset-1's dev
and held-out contents, other bodies), so the old tests keep being reported.
"""

from experiments import adv_ss_td_body_elev


def get_config(profile: str = "cpu"):
  config = adv_ss_td_body_elev.get_config(profile)
  config.data.source = "footage"
  config.eval.flip_average = True
  return config
