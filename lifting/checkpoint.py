"""Checkpoints of all train states and the step, with Orbax.

In a multi-process run every process must call `Checkpointer.save` and `Checkpointer.restore`
(as `lifting.train` does): Orbax's ``CheckpointManager`` writes each process's shards of the
arrays, process 0 writes the metadata and finalises the step, and they wait for each other. So
the directory must be one that every process sees: a shared filesystem, or a ``gs://`` bucket.
"""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp


class Checkpointer:
  """Saves and restores a pytree of train states under ``directory``, keyed by step."""

  def __init__(self, directory: str, max_to_keep: int = 3):
    # A URL such as gs://bucket/run is kept as it is; abspath would make it a local path.
    self._manager = ocp.CheckpointManager(
        directory if "://" in directory else os.path.abspath(directory),
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


def restore_subtree(directory: str, item) -> tuple[int | None, dict]:
  """``(step, tree)``: the arrays of ``item`` (a nested dict of ``jax.ShapeDtypeStruct`` naming a part of the
  saved states, e.g. ``{"lifter": {"params": ...}}``) from the latest step in ``directory``, on this
  process's first device, without reading or building the rest. ``(None, {})`` when there is no step."""
  manager = ocp.CheckpointManager(os.path.abspath(directory),
                                  options=ocp.CheckpointManagerOptions(create=False))
  try:
    step = manager.latest_step()
    if step is None:
      return None, {}
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    restore_args = jax.tree.map(lambda a: ocp.ArrayRestoreArgs(dtype=a.dtype, sharding=device), item)
    with ocp.PyTreeCheckpointer() as reader:
      tree = reader.restore(os.path.join(os.path.abspath(directory), str(step), "default"),
                            args=ocp.args.PyTreeRestore(item=item, restore_args=restore_args, partial_restore=True))
    return int(step), tree
  finally:
    manager.close()
