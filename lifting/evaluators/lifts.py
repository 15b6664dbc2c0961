"""A run's lift function over the device mesh, and a run restored from its checkpoint for evaluation."""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import functools
import os
from typing import Any

import jax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

from lifting import configs
from lifting.core import batching
from lifting.core import geometry
from lifting.core import skeleton
from lifting.training import checkpoint
from lifting.training import train_step


def make_lift_fn(models: train_step.Networks, c: float, mesh, chunk: int = 4096, flip_permutation=None,
                 roll_angles=()):
  """Returns ``lift_all(lifter_state, poses2d [N, J, 2], weights="raw", lengths=None) -> np.ndarray [N, J, 3]``
  (eval mode), with the state's raw or moving-average (``"ema"``) weights; with ``flip_permutation`` and
  ``roll_angles`` (`lifting.configs.test_time`), each pose's lift is averaged with the mirrored lift of its mirror
  image and the lifts of the pose turned in the image (`lifting.core.geometry.test_time_average`). A temporal lifter
  (`lifting.core.models.TemporalLifter`) lifts the sequences of ``lengths [S]`` (frames each, back to back; ``None``:
  every pose alone) through `lifting.core.temporal.lift_sequences`; the single-frame lifter ignores them.

  Poses go through one compiled function in fixed-size chunks, so any N compiles once. Every
  process passes the same poses and gets all of the answer: the chunks are split over the mesh
  and the lifted chunk comes back replicated, since a host can read only its own devices.
  """
  frames = getattr(models.lifter, "frames", 1)
  # A temporal lifter's chunk is a batch of windows of this many frames (plus their context).
  window_batch = max(chunk // (_WINDOW + frames) // mesh.size, 1) * mesh.size
  chunk = max(chunk // mesh.size, 1) * mesh.size
  sharding = NamedSharding(mesh, P(train_step.DATA_AXIS))

  @functools.partial(jax.jit, out_shardings=NamedSharding(mesh, P()))
  def lift_chunk(variables, poses):
    lift = lambda x: train_step.lift(models.lifter, variables, x, c, train=False)  # noqa: E731
    return geometry.test_time_average(lift, poses, flip_permutation, roll_angles)

  def lift_all(lifter_state, poses2d, weights: str = "raw", lengths=None):
    variables = lifter_state.variables(weights)
    poses2d = np.asarray(poses2d, np.float32)
    # From a callback, so each process places only its own devices' rows.
    put = lambda part: jax.make_array_from_callback(part.shape, sharding, lambda idx: part[idx])  # noqa: E731
    if frames > 1:
      from lifting.core import temporal
      return temporal.lift_sequences(lambda windows: lift_chunk(variables, put(windows)), poses2d, lengths, frames,
                                     _WINDOW, window_batch)
    return batching.map_padded(lambda part: lift_chunk(variables, put(part)), poses2d, size=chunk,
                               empty=np.zeros((0,) + poses2d.shape[1:-1] + (3,), np.float32))

  return lift_all


_WINDOW = 128  # Frames a temporal lifter keeps of each window it lifts in evaluation (beside its context).


@dataclasses.dataclass(frozen=True)
class RestoredRun:
  """A run's networks and states, restored from its newest good checkpoint for evaluation."""
  config: Any
  networks: train_step.Networks
  mesh: Any
  states: train_step.TrainStates
  lift_all: Callable  # `make_lift_fn`: (lifter state, poses2d [N, J, 2], weights) -> [N, J, 3].

  def lift(self, poses2d: np.ndarray, weights: str | None = None, lengths=None) -> np.ndarray:
    """Normalised ``[N, J, 2]`` -> ``[N, J, 3]`` with ``weights`` (default: the ones the run reports); ``lengths``:
    the sequences a temporal lifter lifts (`make_lift_fn`)."""
    return self.lift_all(self.states.lifter, poses2d, weights or configs.reported_weights(self.config), lengths)


def restore_run(workdir: str, config=None) -> RestoredRun:
  """The run in ``workdir``, with ``config`` (default: its own ``config.json``, upgraded; another config changes only
  how it is evaluated, e.g. flip averaging). Reads only: a damaged newest step is passed over, nothing is
  changed. Raises ``ValueError`` when there is no checkpoint."""
  config = configs.load(workdir) if config is None else config
  folder = os.path.join(workdir, "checkpoints")
  checkpoint.check_folder(folder)
  ckpt = checkpoint.Checkpointer(folder, create=False)
  try:
    if not ckpt.all_steps():
      raise ValueError(f"no checkpoint in {folder}: train first (--mode=train)")
    mesh = train_step.make_mesh()
    networks = train_step.build_models(config)
    template = train_step.init_states(config, networks, skeleton.get_layout(config.layout), jax.random.key(0), mesh)
    states = ckpt.restore(template)
  finally:
    ckpt.close()
  return RestoredRun(config, networks, mesh, states,
                     make_lift_fn(networks, config.c, mesh, **configs.test_time(config)))
