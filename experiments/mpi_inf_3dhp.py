"""Table 2, cross-dataset: a lifter trained on the bandai benchmark, tested on MPI-INF-3DHP's test set.

The paper trains on Human3.6M and tests on MPI-INF-3DHP (PCK@150 mm and AUC). This config is the
Adv + SS + TD recipe on bandai with MPI-INF-3DHP's official test set as the test split
(`lifting.data.mpi_inf_3dhp`: valid frames, universal skeleton, per-activity PCK and AUC for each
alignment). Evaluate a trained run without touching its own results::

    python run.py --config=experiments/mpi_inf_3dhp.py --workdir=results/runs/adv_ss_td-seed0 --mode=eval \\
        --results_dir=runs/adv_ss_td-seed0-3dhp --config.data.mpi_inf_3dhp.root=/path/to/mpi_inf_3dhp

or train and test in one go (``--mode=train``). With Human3.6M instead of bandai, add
``--config.data.source=h36m`` and its paths (experiments/h36m.py). No number is quoted for it: the
dataset is not available where this library was developed.
"""

from experiments import adv_ss_td


def get_config(profile: str = "cpu"):
  config = adv_ss_td.get_config(profile)
  config.data.source = "bandai"
  config.data.test_source = "mpi_inf_3dhp"
  return config
