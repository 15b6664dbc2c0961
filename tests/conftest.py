"""Test-wide settings: XLA compiles at optimisation level 0, into a compilation cache shared by the session.

The suite's networks are tiny, so compiling dominates its time. Level 0 compiles faster, and every
result stays within the tests' tolerances. Many tests build the same tiny programs again (each
`make_train_step` is a new function to `jax.jit`, and subprocess tests start fresh); JAX's
persistent cache, in a folder of this session's own, compiles each program once. With pytest-xdist
(``-n 2``, the README's command) the folder is made before the workers start, so they share it.
"""

import atexit
import os
import shutil
import tempfile

_FLAG = "--xla_backend_optimization_level=0"
if _FLAG not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _FLAG).strip()

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:  # Read by JAX at import; inherited by subprocess tests.
  _CACHE = tempfile.mkdtemp(prefix="lifting-tests-xla-")
  atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE
  os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
