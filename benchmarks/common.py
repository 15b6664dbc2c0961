"""What every train-step benchmark builds first: the config's data, mesh, networks, states and pool."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import jax

from lifting import configs
from lifting.core import skeleton
from lifting.data import pipeline
from lifting.training import pool as pool_lib
from lifting.training import train_step


@dataclasses.dataclass
class StepSetup:
  layout: skeleton.Layout
  data: pipeline.PoseData
  mesh: Any
  models: train_step.Networks
  states: train_step.TrainStates
  pool: dict


def setup(config, key=None) -> StepSetup:
  """Validates ``config`` and builds everything its train step needs, on all devices; the states from
  ``key`` (default ``key(0)``)."""
  configs.validate(config)
  layout = skeleton.get_layout(config.layout)
  data = pipeline.load(config)
  mesh = train_step.make_mesh()
  models = train_step.build_models(config)
  states = train_step.init_states(config, models, layout, jax.random.key(0) if key is None else key, mesh)
  return StepSetup(layout, data, mesh, models, states, pool_lib.make_pool(config, data, mesh))


def write_results(out: str, stem: str, result: dict, text: str) -> None:
  """``OUT/STEM.json`` (``result``) and ``OUT/STEM.md`` (``text``), then prints ``text``."""
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, f"{stem}.json"), "w") as f:
    json.dump(result, f, indent=2)
  with open(os.path.join(out, f"{stem}.md"), "w") as f:
    f.write(text)
  print(text, end="")
