"""Where the experiment configs are, and the shared default config they all start from (``experiments/default.py``).

Light on purpose (no JAX): the command line reads it before it tunes the allocator and imports JAX.
"""

from __future__ import annotations

import importlib.util
import os

_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def experiments_dir() -> str:
  """The experiment configs: ``experiments/`` beside the package in a checkout (or an editable install),
  else the copy an install puts inside the package (pyproject.toml)."""
  for folder in (os.path.join(os.path.dirname(_PACKAGE), "experiments"), os.path.join(_PACKAGE, "_configs", "experiments")):
    if os.path.exists(os.path.join(folder, "default.py")):
      return folder
  raise FileNotFoundError(f"no experiments/ folder beside or inside {_PACKAGE}")


def default_config(profile: str = "cpu"):
  """``experiments/default.py``'s config (an ``ml_collections.ConfigDict``), read from its file: the checkout's, or
  the copy inside the package."""
  spec = importlib.util.spec_from_file_location("lifting_default_config", os.path.join(experiments_dir(), "default.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(profile)
