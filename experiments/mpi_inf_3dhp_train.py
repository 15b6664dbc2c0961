"""Adv + SS + TD trained on MPI-INF-3DHP's training subjects (their 2D only), tested on its test set.

Needs the training subjects' annotations (``S1`` ... ``S8/Seq*/annot.mat``) beside the test set under
``data.mpi_inf_3dhp.root``; cameras 0-2 and 4-8, as is usual. No number is quoted for it: the dataset
is not available where this library was developed.

    python run.py --config=experiments/mpi_inf_3dhp_train.py --workdir=runs/3dhp \\
        --config.data.mpi_inf_3dhp.root=/path/to/mpi_inf_3dhp
"""

from experiments import adv_ss_td


def get_config(profile: str = "cpu"):
  config = adv_ss_td.get_config(profile)
  config.data.source = "mpi_inf_3dhp"
  return config
