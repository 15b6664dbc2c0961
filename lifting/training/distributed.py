"""Multi-host start-up (``config.distributed``): one JAX process per host joins the others.

Every process runs the same program on its own devices; `lifting.training.train_step.make_mesh` then spans
the devices of all processes, each process keeps its shard of the training set
(`lifting.training.pool.device_pool`), and only process 0 logs and writes files.
"""

from __future__ import annotations

from absl import logging
import jax


def initialize(enabled: bool) -> None:
  """Joins this process to a multi-process JAX run when ``enabled``; does nothing otherwise.

  Must come before anything touches a JAX backend (``jax.devices()``, any computation). Calls
  ``jax.distributed.initialize()`` with no arguments, which in JAX 0.10.2 finds the process
  count, this process's id and the coordinator (process 0's ``host:port``) by asking, in order:

  * Open MPI (``mpirun``/``mpiexec``): ``OMPI_MCA_orte_hnp_uri`` (coordinator host),
    ``OMPI_COMM_WORLD_SIZE``, ``OMPI_COMM_WORLD_RANK``, ``OMPI_COMM_WORLD_LOCAL_RANK``;
  * SLURM (``srun``): ``SLURM_JOB_ID`` (the port, from the job id), ``SLURM_STEP_NODELIST``
    (its first node is the coordinator), ``SLURM_NTASKS``, ``SLURM_PROCID``, ``SLURM_LOCALID``;
  * Cloud TPU VMs: on GCE the metadata server (``agent-worker-number``,
    ``worker-network-endpoints``), on GKE ``TPU_WORKER_ID`` with ``TPU_PROCESS_ADDRESSES`` or
    ``TPU_WORKER_HOSTNAMES``; multislice adds ``MEGASCALE_COORDINATOR_ADDRESS``,
    ``MEGASCALE_NUM_SLICES`` and ``MEGASCALE_SLICE_ID``; the coordinator is worker 0, port 8482;
  * Kubernetes (``KUBERNETES_SERVICE_HOST``, with the ``kubernetes`` package installed): an
    indexed Job or JobSet; the count is the Job's parallelism, the id ``JOB_COMPLETION_INDEX``,
    the coordinator pod 0 on port 55527.

  ``mpi4py`` detection is opt-in only and not tried here. Whatever was detected, these variables
  are read too: ``JAX_COORDINATOR_ADDRESS`` (``host:port``, replaces the detected coordinator),
  ``JAX_COORDINATOR_PORT`` (the port beside a detected host), ``JAX_COORDINATOR_BIND_ADDRESS``,
  ``JAX_LOCAL_DEVICE_IDS`` (comma-separated devices this process may use) and
  ``JAX_PARTITION_INDEX``. There is no ``JAX_NUM_PROCESSES`` or ``JAX_PROCESS_ID``: outside these
  launchers, call ``jax.distributed.initialize(coordinator_address, num_processes, process_id)``
  yourself before training (`lifting.train.train_and_evaluate` then runs as here). Under SLURM
  and Open MPI on GPUs each process sees only the GPU of its local rank.

  Process 0 keeps INFO logging; the others keep warnings and errors only.
  """
  if not isinstance(enabled, bool):
    raise ValueError(f"distributed: expected True or False, got {enabled!r}")
  if not enabled:
    return
  if not jax.distributed.is_initialized():
    try:
      jax.distributed.initialize()
    except ValueError as e:  # No launcher found: say which ones were looked for.
      raise ValueError(f"distributed: jax.distributed.initialize() found no Cloud TPU, SLURM, Open MPI or Kubernetes "
                       f"job to take the process count and id from ({e}); launch one process per host with one of "
                       "those, or set --config.distributed=False for a single process") from None
  logging.info("process %d of %d: %d local of %d devices (%s)", jax.process_index(), jax.process_count(),
               jax.local_device_count(), jax.device_count(), jax.devices()[0].platform)
  if jax.process_index() != 0:
    logging.set_verbosity(logging.WARNING)
