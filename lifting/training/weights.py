"""Weight files: Flax msgpack files read against the arrays a config describes, exactly; and file digests.

A weights file that holds fewer arrays than its config describes, more, or others of other shapes is another
network: reading it into the config's structure would silently keep some arrays and drop others. `read_state`
refuses it with one line naming the file and the first difference.
"""

from __future__ import annotations

import hashlib

import flax.serialization
import jax
import numpy as np


def read_state(path: str, data: bytes, abstract, what: str):
  """The arrays of a Flax msgpack file (``data``, read from ``path``) in the structure of ``abstract`` (a tree of
  shapes and dtypes), which they must match exactly: the same arrays, no more, no fewer, of the same shapes.
  Raises ``ValueError`` naming the file and the first difference (``what`` says what the file should hold)."""
  try:
    stored = flax.serialization.msgpack_restore(data)
  except Exception as e:  # pylint: disable=broad-except  (msgpack raises many kinds on damaged bytes)
    reason = str(e).splitlines()[0][:120] if str(e) else "damaged"
    raise ValueError(f"{path}: not a weights file ({type(e).__name__}: {reason}; truncated or damaged?)") from None
  want = {jax.tree_util.keystr(k): v for k, v in jax.tree_util.tree_leaves_with_path(abstract)}
  try:
    got = {jax.tree_util.keystr(k): v for k, v in jax.tree_util.tree_leaves_with_path(stored)}
  except Exception:  # pylint: disable=broad-except
    got = {}
  extra, missing = sorted(set(got) - set(want)), sorted(set(want) - set(got))
  if extra or missing:
    raise ValueError(f"{path}: holds other arrays than {what} ({len(got)} stored, {len(want)} described; e.g. "
                     f"stored but not described {extra[:2]}, described but not stored {missing[:2]})")
  for name, spec in want.items():
    if np.shape(got[name]) != tuple(spec.shape):
      raise ValueError(f"{path}: {name} has shape {np.shape(got[name])}, {what} has {tuple(spec.shape)}")
  return flax.serialization.from_state_dict(abstract, stored)


def file_digest(path: str) -> str:
  """SHA-256 of a file's bytes, as hex."""
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()
