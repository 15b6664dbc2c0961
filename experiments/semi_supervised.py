"""Row "semi-supervised 5%" (sec. 4.4): fine-tune a trained unsupervised lifter with 5% of the 3D.

Starts from the parameters in ``train.init_from`` (the ablation command points it at its
Adv + SS + TD run, the paper's best row; it is not chosen on the test actor) and keeps every
unsupervised term, adding the supervised 3D loss on 5% of the training actors' takes (all four
cameras of each chosen take), chosen with the seed::

    python run.py --config=experiments/semi_supervised.py --workdir=runs/semi \\
      --config.train.init_from=runs/adv_ss_td
"""

from experiments import adv_ss_td


def get_config(profile: str = "cpu"):
  config = adv_ss_td.get_config(profile)
  config.loss.w_supervised = 1.0
  config.data.supervised_fraction = 0.05
  config.train.num_steps //= 2  # Fine-tuning: half a run's steps, on a fresh schedule.
  return config
