"""Checkpoints of all train states and the step, with Orbax.

Orbax writes from every host of a pod in a coordinated way, so callers save on all processes.
"""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp


class Checkpointer:
  """Saves and restores a pytree of train states under ``directory``, keyed by step."""

  def __init__(self, directory: str, max_to_keep: int = 3):
    self._manager = ocp.CheckpointManager(
        os.path.abspath(directory),
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, states) -> None:
    self._manager.save(int(step), args=ocp.args.StandardSave(states))

  def restore(self, template, step: int | None = None):
    """Restores into ``template``'s structure, shapes and shardings (latest step by default)."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise ValueError(f"no checkpoint found in {self._manager.directory}")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()
