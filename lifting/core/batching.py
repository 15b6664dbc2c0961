"""Mapping a compiled function over rows in batches of a few fixed sizes, so any number of rows compiles once.

A jitted function compiles once per input shape. `map_padded` cuts the rows of its arrays into batches whose
sizes come from ``size`` (one fixed size, or a rule such as the largest power of two that fits what is left),
pads the last batch with each array's pad value, and keeps the real rows of every answer. The evaluation's lifts
(`lifting.evaluators`), a model's lifts (`lifting.app.inference`), joint completion
(`lifting.training.completion`) and a temporal lifter's windows (`lifting.core.temporal`) all go through it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def map_padded(fn: Callable, *arrays: np.ndarray, size: int | Callable[[int], int], pads=0,
               empty: np.ndarray | None = None) -> np.ndarray:
  """``fn(*batch)`` over the rows of ``arrays`` (the same number of rows each), concatenated.

  Args:
    fn: takes one batch of each array (``size`` rows each) and returns ``[size, ...]`` (anything ``np.asarray``
      takes).
    arrays: ``[N, ...]`` each.
    size: rows per batch, or a function of the rows left that gives it (the last batch is padded up to it).
    pads: the value padding rows hold, one for all arrays or one per array.
    empty: the answer for ``N = 0`` (default: ``fn`` is not called and an empty float32 array comes back).
  """
  n = len(arrays[0])
  if any(len(a) != n for a in arrays):
    raise ValueError(f"map_padded: expected arrays of one length, got {[len(a) for a in arrays]}")
  pads = pads if isinstance(pads, (tuple, list)) else (pads,) * len(arrays)
  out, start = [], 0
  while start < n:
    batch = size(n - start) if callable(size) else size
    if batch < 1:
      raise ValueError(f"map_padded: expected batches of at least one row, got {batch}")
    parts = [a[start:start + batch] for a in arrays]
    rows = len(parts[0])
    padded = [np.concatenate([p, np.full((batch - rows,) + p.shape[1:], v, p.dtype)]) if rows < batch else p
              for p, v in zip(parts, pads)]
    out.append(np.asarray(fn(*padded))[:rows])
    start += rows
  if out:
    return np.concatenate(out)
  return np.zeros((0,), np.float32) if empty is None else empty
