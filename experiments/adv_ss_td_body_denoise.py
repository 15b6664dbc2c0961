"""Adv + SS + TD, body-size normalisation, with a denoising lifter (beyond the paper; issue "Generalise").

Half of the lifter's inputs in every batch carry generic detector-like errors (`lifting.core.augment.corrupt_2d`);
the lifter outputs a 2D correction beside each depth (``model.denoise``), its corrected 2D is pulled to the
clean pose (``loss.w_denoise``, the loop-closure weight w2D) and the loop closure closes against the clean
pose, so it learns to lift noisy keypoints without any 3D:

    python run.py --config=experiments/adv_ss_td_body_denoise.py --workdir=runs/adv_ss_td_body_denoise
"""

from experiments import adv_ss_td_body


def get_config(profile: str = "cpu"):
  config = adv_ss_td_body.get_config(profile)
  config.model.denoise = True
  config.data.train_noise.share = 0.5
  config.loss.w_denoise = config.loss.w_2d
  return config
