"""Keeps glibc's malloc from handing XLA's per-step buffers back to the kernel (Linux CPU speed).

An XLA CPU step allocates its temporary buffers (hundreds of MB at width 1024) and frees them
when it ends. glibc serves allocations above 32 MiB, and any allocation from a thread's own arena
above 64 MiB, with a fresh ``mmap`` and returns them with ``munmap``, so every step faults its
temporaries in again page by page: about 111,000 minor page faults and 10% of the step time at
width 1024, batch 1024 on a 2-core machine. `tune` sets, through ``mallopt``, one arena for all
threads, no ``mmap`` for allocations and no trimming of the heap: the first step's pages are
reused by every later one (0 faults per step), at the price that the process keeps its peak heap
until it exits. jemalloc or tcmalloc preloaded (``LD_PRELOAD``) have the same effect where installed.

It is for JAX on the CPU only. With an accelerator plugin installed (CUDA, ROCm, TPU) `tune`
does nothing: one arena for all threads made XLA's many-threaded GPU compilation 4x slower on a
16-core host (108 s against 25 s), and device buffers do not come from malloc anyway.

``run.py`` and the benchmarks call `tune` before JAX starts; call it first thing in your own
scripts, or export the equivalent ``MALLOC_ARENA_MAX=1 MALLOC_MMAP_MAX_=0
MALLOC_TRIM_THRESHOLD_=2147483647 MALLOC_TOP_PAD_=67108864``. ``LIFTING_MALLOC=default`` turns
it off, ``LIFTING_MALLOC=tuned`` forces it. This module imports nothing heavy, so it can run
before ``import jax``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.metadata
import importlib.util
import os
import pkgutil
import sys

# mallopt parameters, from glibc's malloc.h.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -2, -4, -8
SETTINGS = {_M_ARENA_MAX: 1, _M_MMAP_MAX: 0, _M_TRIM_THRESHOLD: 2 ** 31 - 1, _M_TOP_PAD: 64 << 20}


def accelerator_plugins() -> list[str]:
  """Names of the installed JAX accelerator plugins (what JAX itself discovers), without importing JAX."""
  names = [e.name for e in importlib.metadata.entry_points(group="jax_plugins")]
  if importlib.util.find_spec("jax_plugins") is not None:
    import jax_plugins
    names += [m.name for m in pkgutil.iter_modules(jax_plugins.__path__)]
  if importlib.util.find_spec("libtpu") is not None:
    names.append("libtpu")
  return names


def tune() -> bool:
  """Applies `SETTINGS` to glibc's malloc; True if it did. Call it before JAX starts its threads.

  Does nothing (False) off Linux, on C libraries without ``mallopt``, with ``LIFTING_MALLOC=default``,
  and where JAX will use an accelerator: a plugin is installed and ``JAX_PLATFORMS`` is not ``cpu``.
  """
  choice = os.environ.get("LIFTING_MALLOC", "")
  if choice == "default" or not sys.platform.startswith("linux"):
    return False
  if choice != "tuned" and os.environ.get("JAX_PLATFORMS", "") != "cpu" and accelerator_plugins():
    return False
  try:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    mallopt = libc.mallopt
  except (OSError, AttributeError):  # musl and others have no mallopt.
    return False
  mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
  return all(mallopt(param, value) == 1 for param, value in SETTINGS.items())
