"""Checkpoints of all train states and the step, with Orbax, checksummed, restored with a fallback.

In a multi-process run every process must call `Checkpointer.save` and `Checkpointer.restore`
(as `lifting.train` does): Orbax's ``CheckpointManager`` writes each process's shards of the
arrays, process 0 writes the metadata and finalises the step, and they wait for each other. So
the directory must be one that every process sees: a shared filesystem, or a ``gs://`` bucket.

Integrity: every saved step gets ``checksums.json`` in its folder, a BLAKE2 digest of each array's
dtype, shape and bytes (`tree_checksums`), taken from the arrays being saved and written once
Orbax has finalised the step. A restore recomputes the digests of what it read and compares, so a
flipped bit in the array data is found, not trained or lifted on. A step without the file (saved
before it existed, or killed between Orbax's commit and the file) is restored unverified.

Fallback: `restore` (and `restore_subtree`) try the newest step first; when it cannot be read or
fails its checksums, one warning line says which step and why, and the next newest is tried. A
training run (``quarantine=True``) moves each bad step aside to ``<checkpoints>.bad/<step>`` (renamed,
never deleted) so Orbax no longer sees it; readers of another run's checkpoints (evaluation,
lifting, ``train.init_from``) change nothing there. When no step is good the error says so, and how
to start over.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time

from absl import logging
from etils import epath
import jax
import numpy as np
import orbax.checkpoint as ocp

CHECKSUMS = "checksums.json"


class CheckpointError(ValueError):
  """A checkpoint folder that cannot be used: no good step, not a folder, or a save that failed."""


class CheckpointMismatch(CheckpointError):
  """A readable checkpoint that holds other arrays than the config builds: a config problem, not damage, so
  no other step is tried and nothing is set aside."""


def _shapes(leaves) -> list[str]:
  return sorted(f"{tuple(x.shape)}:{np.dtype(x.dtype).name}" for x in leaves if hasattr(x, "shape"))


def _check_matches(manager, step: int, abstract) -> None:
  """Raises `CheckpointMismatch` when ``step``'s array metadata (which an intact step always has) lists other
  shapes than ``abstract``; any failure to read the metadata is left to the restore, as damage."""
  try:
    stored = manager.item_metadata(step)
    stored = getattr(stored, "tree", stored)
    want, got = _shapes(jax.tree.leaves(abstract)), _shapes(jax.tree.leaves(stored))
  except Exception:  # pylint: disable=broad-except
    return
  if got and want != got:
    extra, missing = sorted(set(got) - set(want))[:2], sorted(set(want) - set(got))[:2]
    raise CheckpointMismatch(
        f"step {step} holds other networks than this config builds ({len(got)} arrays stored, {len(want)} built; "
        f"stored but not built e.g. {extra}, built but not stored e.g. {missing}): the config differs from the "
        "one the checkpoints were written with")


def _key_name(entry) -> str:
  for attr in ("name", "key", "idx"):
    if hasattr(entry, attr):
      return str(getattr(entry, attr))
  return str(entry)


def _path_name(path) -> str:
  return "/".join(_key_name(e) for e in path)


def leaf_names(tree) -> list[str]:
  """The path of every leaf of ``tree`` (`jax.tree.leaves` order) as ``"lifter/params/Dense_0/kernel"``."""
  return [_path_name(p) for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


def _leaf_bytes(x) -> np.ndarray:
  """This process's full copy of a (replicated) array, as contiguous host memory."""
  if isinstance(x, jax.Array) and not x.is_fully_addressable:
    x = x.addressable_data(0)  # The data-parallel states are replicated: any local shard is the whole array.
  return np.ascontiguousarray(np.asarray(x))


def tree_checksums(tree) -> dict[str, str]:
  """``{"lifter/params/Dense_0/kernel": hexdigest, ...}``: BLAKE2b (16 bytes) of each array leaf's dtype, shape
  and bytes, keyed by its path of attribute and dict names (the same for a state and a dict of its parts)."""
  out = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    if leaf is None or not hasattr(leaf, "shape"):
      continue
    a = _leaf_bytes(leaf)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    out[_path_name(path)] = h.hexdigest()
  return out


def verify(tree, sums: dict[str, str]) -> str | None:
  """``None`` when every leaf of ``tree`` that ``sums`` names has its digest, else what differs."""
  got = tree_checksums(tree)
  bad = [k for k, v in got.items() if k in sums and sums[k] != v]
  unknown = [k for k in got if k not in sums]
  if bad:
    return f"checksum mismatch in {len(bad)} array(s), e.g. {bad[0]}"
  if unknown and len(unknown) == len(got):
    return f"no checksum for any restored array (e.g. {unknown[0]})"
  return None


def _read_sums(step_dir: str) -> dict | None:
  path = os.path.join(step_dir, CHECKSUMS)
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      sums = json.load(f)
  except (OSError, ValueError) as e:
    raise CheckpointError(f"{path} is unreadable ({e})") from None
  if not isinstance(sums, dict):
    raise CheckpointError(f"{path}: expected an object of digests")
  return sums


def _reason(e: BaseException) -> str:
  text = " ".join(str(e).split())
  return f"{type(e).__name__}: {text[:240]}"


def _step_dirs(directory: str) -> list[int]:
  """Step folders in ``directory``, newest first (whatever Orbax's state: an emptied folder is a step too)."""
  if not os.path.isdir(directory):
    return []
  steps = [int(n) for n in os.listdir(directory) if n.isdigit() and os.path.isdir(os.path.join(directory, n))]
  return sorted(steps, reverse=True)


def _newest_good(directory: str, steps: list[int], read, set_aside=lambda step: ""):
  """``(step, tree)`` of the first of ``steps`` that ``read(step)`` reads and that passes its checksums, or
  ``(None, failures)`` with each step's reason. Every bad step gets one warning line and ``set_aside(step)``
  (which returns where it went, or ""). `CheckpointMismatch` is a config problem: it propagates at once."""
  failures = []
  for step in steps:
    try:
      tree = read(step)
      sums = _read_sums(os.path.join(directory, str(step)))
      problem = None if sums is None else verify(tree, sums)
      if problem is None:
        if failures:
          logging.warning("restored step %d of %s instead", step, directory)
        return int(step), tree
    except CheckpointMismatch:
      raise
    except Exception as e:  # pylint: disable=broad-except  (a damaged step raises anything Orbax can)
      problem = _reason(e)
    failures.append((step, problem))
    logging.warning("checkpoint step %d in %s cannot be used (%s)%s", step, directory, problem, set_aside(step))
  return None, failures


def check_folder(directory: str) -> None:
  """Raises `CheckpointError` when ``directory`` exists and is not a folder (before any work is done)."""
  if "://" not in directory and os.path.exists(directory) and not os.path.isdir(directory):
    raise CheckpointError(f"{directory} exists and is not a folder; checkpoints need a folder there")


class Checkpointer:
  """Saves and restores a pytree of train states under ``directory``, keyed by step.

  ``create``: make the folder (a training run); False for a reader, which creates nothing. ``quarantine``:
  move bad steps aside at restore (the run's owner only).
  """

  def __init__(self, directory: str, max_to_keep: int = 3, create: bool = True, quarantine: bool = False):
    check_folder(directory)
    # A URL such as gs://bucket/run is kept as it is; abspath would make it a local path.
    self.directory = directory if "://" in directory else os.path.abspath(directory)
    self._max_to_keep, self._create, self._quarantine = max_to_keep, create, quarantine
    self._pending: tuple[int, dict] | None = None  # (step, checksums) of a save Orbax may still be writing.
    self._manager = self._open()

  def _open(self):
    if not self._create and not os.path.isdir(self.directory):
      return None
    # The handler named up front, so a step's metadata can be read before anything is saved or restored.
    return ocp.CheckpointManager(self.directory, item_handlers=ocp.StandardCheckpointHandler(),
                                 options=ocp.CheckpointManagerOptions(max_to_keep=self._max_to_keep,
                                                                      create=self._create))

  def latest_step(self) -> int | None:
    return None if self._manager is None else self._manager.latest_step()

  def all_steps(self) -> list[int]:
    """Every step folder, newest first: listed on disk (an emptied or damaged step is a step too), or by Orbax
    for a bucket URL."""
    if "://" in self.directory:
      return sorted(self._manager.all_steps(), reverse=True) if self._manager is not None else []
    return _step_dirs(self.directory)

  def save(self, step: int, states) -> None:
    """Starts an asynchronous save of ``states`` at ``step`` (the previous one is finished and checksummed
    first). A failure (disk full, a path that is not a folder) raises `CheckpointError` naming the step."""
    self._finish_pending()
    sums = tree_checksums(states)
    need = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(states) if hasattr(x, "dtype"))
    if "://" not in self.directory and jax.process_index() == 0:  # A full disk fails now, not in Orbax's thread.
      free = shutil.disk_usage(self.directory).free
      if free < need:
        raise CheckpointError(f"saving the checkpoint of step {step} in {self.directory} failed: it needs about "
                              f"{need / 2**20:,.0f} MiB and the disk has {free / 2**20:,.0f} MiB free")
    try:
      self._manager.save(int(step), args=ocp.args.StandardSave(states))
    except Exception as e:  # pylint: disable=broad-except  (Orbax and TensorStore raise many kinds)
      raise CheckpointError(f"saving the checkpoint of step {step} in {self.directory} failed: {_reason(e)}") from None
    self._pending = (int(step), sums)

  def _finish_pending(self) -> None:
    if self._manager is None:
      return
    try:
      self._manager.wait_until_finished()
    except Exception as e:  # pylint: disable=broad-except
      step = self._pending[0] if self._pending else "?"
      self._pending = None
      raise CheckpointError(f"saving the checkpoint of step {step} in {self.directory} failed: {_reason(e)}") from None
    if self._pending is not None and jax.process_index() == 0:
      step, sums = self._pending
      step_dir = os.path.join(self.directory, str(step))
      if os.path.isdir(step_dir):  # Not already dropped by max_to_keep.
        tmp = os.path.join(step_dir, CHECKSUMS + ".tmp")
        try:
          with open(tmp, "w") as f:
            json.dump(sums, f)
          os.replace(tmp, os.path.join(step_dir, CHECKSUMS))
        except OSError as e:
          raise CheckpointError(f"writing the checksums of step {step} in {self.directory} failed: {e}") from None
    self._pending = None

  def restore(self, template, step: int | None = None):
    """Restores into ``template``'s structure, shapes and shardings: ``step``, or the newest step that reads and
    passes its checksums (`restore_with_step`)."""
    return self.restore_with_step(template, step)[1]

  def restore_with_step(self, template, step: int | None = None):
    """``(step, states)``: see the module docstring for the fallback. Raises `CheckpointError` when no step is
    good (or ``step`` is given and is not)."""
    self._finish_pending()
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    candidates = [step] if step is not None else self.all_steps()
    if not candidates:
      raise CheckpointError(f"no checkpoint in {self.directory}")

    def read(s):
      if self._manager is None:
        raise CheckpointError("no checkpoint folder")
      _check_matches(self._manager, s, abstract)
      return self._manager.restore(s, args=ocp.args.StandardRestore(abstract))

    try:
      found, tree = _newest_good(self.directory, candidates, read, self._set_aside)
    except CheckpointMismatch as e:
      raise CheckpointMismatch(f"{self.directory}: {e}") from None
    if found is None:
      raise CheckpointError(_none_good(self.directory, tree, self._quarantine))
    return found, tree

  def _set_aside(self, step: int, suffix: str = ".bad") -> str:
    """Moves a bad step to ``<checkpoints>.bad/`` (the run's owner, local folders only); returns where to."""
    where = ""
    if self._quarantine and "://" not in self.directory and jax.process_index() == 0:  # Buckets: left in place.
      bad = f"{self.directory}{suffix}"
      os.makedirs(bad, exist_ok=True)
      target = os.path.join(bad, str(step) if not os.path.exists(os.path.join(bad, str(step)))
                            else f"{step}-{int(time.time())}")
      shutil.move(os.path.join(self.directory, str(step)), target)
      where = f"; moved to {target}"
    if self._manager is not None:  # A failed restore can leave Orbax's manager confused: start it afresh.
      self._manager.close()
      self._manager = self._open()
    return where

  def set_aside_after(self, step: int) -> list[str]:
    """Moves every step newer than ``step`` to ``<checkpoints>.aside/`` (renamed, never deleted), so a run resumed
    from ``step`` saves its own; the run's owner only. Returns where each went."""
    moved = []
    for newer in [s for s in self.all_steps() if s > step]:
      moved.append(self._set_aside(newer, ".aside").removeprefix("; moved to "))
    return moved

  def prune(self) -> None:
    """Deletes the step folders beyond the newest ``max_to_keep`` (the run's owner only): what Orbax deletes after a
    save, which a kill right after the save can leave undone."""
    if not self._quarantine or "://" in self.directory or jax.process_index() != 0:
      return
    old = self.all_steps()[self._max_to_keep:]
    for step in old:
      shutil.rmtree(os.path.join(self.directory, str(step)), ignore_errors=True)
    if old and self._manager is not None:
      self._manager.close()
      self._manager = self._open()

  def close(self) -> None:
    if self._manager is None:
      return
    try:
      self._finish_pending()
    finally:
      self._manager.close()
      self._manager = None


def _none_good(directory: str, failures: list, moved: bool) -> str:
  listed = "; ".join(f"step {s}: {p}" for s, p in failures[:3]) + ("; ..." if len(failures) > 3 else "")
  aside = f" (moved to {directory}.bad)" if moved else ""
  return (f"no usable checkpoint in {directory}{aside}: {listed}. To start over, train into a new --workdir "
          "(or remove the checkpoints folder)")


def _check_subtree(stored: dict, item: dict, step: int, prefix: str = "", depth: int = 0) -> None:
  """Raises `CheckpointMismatch` naming the first array of ``item`` whose stored shape differs. From the third level
  on (inside a network's parameters, e.g. ``lifter/params/...``) the stored arrays must be exactly ``item``'s: a
  network with other layers than the config builds is another network, not a part of one."""
  if depth >= 2 and isinstance(stored, dict) and set(stored) != set(item):
    extra, missing = sorted(set(stored) - set(item))[:2], sorted(set(item) - set(stored))[:2]
    raise CheckpointMismatch(f"step {step} stores other layers in {prefix.rstrip('/')} than the config builds "
                             f"(stored but not built {extra}, built but not stored {missing})")
  for key, want in item.items():
    got = stored.get(key) if isinstance(stored, dict) else None
    name = f"{prefix}{key}"
    if isinstance(want, dict):
      if isinstance(got, dict):
        _check_subtree(got, want, step, name + "/", depth + 1)
    elif got is not None and hasattr(got, "shape") and tuple(got.shape) != tuple(want.shape):
      raise CheckpointMismatch(f"step {step} stores {name} with shape {tuple(got.shape)} where the config builds "
                               f"{tuple(want.shape)}")


def restore_subtree(directory: str, item) -> tuple[int | None, dict]:
  """``(step, tree)``: the arrays of ``item`` (a nested dict of ``jax.ShapeDtypeStruct`` naming a part of the
  saved states, e.g. ``{"lifter": {"params": ...}}``) from the newest good step in ``directory``, on this
  process's first device, without reading or building the rest; verified against the step's checksums and
  falling back to older steps as `Checkpointer.restore` does (nothing in ``directory`` is changed). ``(None, {})``
  when there is no step."""
  directory = os.path.abspath(directory)
  steps = _step_dirs(directory)
  if not steps:
    return None, {}
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  restore_args = jax.tree.map(lambda a: ocp.ArrayRestoreArgs(dtype=a.dtype, sharding=device), item)

  def read(step):
    path = os.path.join(directory, str(step), "default")
    handler = ocp.PyTreeCheckpointHandler()
    try:
      stored = handler.metadata(epath.Path(path))
      stored = getattr(stored, "tree", stored)
    except Exception:  # pylint: disable=broad-except  (unreadable metadata is damage: the restore says so)
      stored = None
    finally:
      handler.close()
    if isinstance(stored, dict):
      _check_subtree(stored, item, step)  # Before reading: a config mismatch is not damage.
    with ocp.PyTreeCheckpointer() as reader:
      return reader.restore(path, args=ocp.args.PyTreeRestore(item=item, restore_args=restore_args,
                                                              partial_restore=True))

  found, tree = _newest_good(directory, steps, read)
  if found is None:
    raise CheckpointError(_none_good(directory, tree, False))
  return found, tree
