"""Table 1's "detected 2D" protocol, unsupervised: Adv + SS + TD trained and tested on detector-like 2D.

The bandai benchmark has no images, so the detector is simulated (`lifting.data.detector_noise`: a
stacked-hourglass-sized error model with gross errors, left/right swaps and missing joints, which a
completion network trained on the training 2D fills). Both the training 2D and the test inputs are
noisy; the 3D truth is not. The row "trained on clean 2D, tested on detector-like 2D" evaluates the
Adv + SS + TD runs themselves (`adv_ss_td_noisy2d_test.py`).

    python run.py --config=experiments/adv_ss_td_noisy2d.py --workdir=runs/adv_ss_td_noisy2d
"""

from experiments import adv_ss_td


def get_config(profile: str = "cpu"):
  config = adv_ss_td.get_config(profile)
  config.data.noise_2d.train = True
  config.data.noise_2d.test = True
  return config
