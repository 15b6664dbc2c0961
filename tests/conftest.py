"""Test-wide setting: XLA compiles at optimisation level 0.

The suite's networks are tiny, so compiling dominates its time, and level 0 compiles faster;
every result stays within the tests' tolerances.
"""

import os

_FLAG = "--xla_backend_optimization_level=0"
if _FLAG not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _FLAG).strip()
