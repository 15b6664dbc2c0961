"""Tests for lifting.training.allocator: when it tunes malloc, and that tuned malloc reuses freed pages."""

import os
import subprocess
import sys

import pytest

from lifting.training import allocator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's (Linux)")

# Allocates, touches and frees 64 MiB with malloc ten times; prints the minor page faults of the last nine.
_FAULTS = r"""
import ctypes, resource, sys
from lifting.training import allocator
if sys.argv[1] == "tuned":
  assert allocator.tune()
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
def touch_and_free():
  p = libc.malloc(64 << 20)
  ctypes.memset(p, 1, 64 << 20)
  libc.free(p)
touch_and_free()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(9):
  touch_and_free()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode):
  env = dict(os.environ, LIFTING_MALLOC="tuned" if mode == "tuned" else "default")
  out = subprocess.run([sys.executable, "-c", _FAULTS, mode], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=60, check=True)
  return int(out.stdout.strip())


@linux_only
def test_tuned_malloc_reuses_freed_pages():
  # glibc's default mmaps and unmaps 64 MiB each time, faulting every page in again: 16,384 small pages,
  # or at least 32 huge ones where transparent huge pages are always on.
  default, tuned = _faults("default"), _faults("tuned")
  assert default >= 9 * 32
  assert tuned <= default // 20, (default, tuned)


def test_off_when_asked_or_with_an_accelerator(monkeypatch):
  monkeypatch.setenv("LIFTING_MALLOC", "default")
  assert not allocator.tune()
  monkeypatch.delenv("LIFTING_MALLOC")
  monkeypatch.delenv("JAX_PLATFORMS", raising=False)
  monkeypatch.setattr(allocator, "accelerator_plugins", lambda: ["xla_cuda13"])
  assert not allocator.tune()


@linux_only
def test_on_for_cpu_jax(monkeypatch):
  monkeypatch.delenv("LIFTING_MALLOC", raising=False)
  monkeypatch.setattr(allocator, "accelerator_plugins", lambda: [])
  if not hasattr(__import__("ctypes").CDLL(None), "mallopt"):
    pytest.skip("this C library has no mallopt")
  assert allocator.tune()
