"""Run logging: JSONL metrics, ``config.json``, TensorBoard events and a progress line.

Only process 0 of a multi-host run writes and logs; the others get a writer and a `log` that
do nothing.
"""

from __future__ import annotations

import json
import logging as std_logging
import math
import os
import time

import jax
from absl import logging


class MetricWriter:
  """Writes scalars to ``metrics.jsonl`` and TensorBoard event files in ``workdir``."""

  def __init__(self, workdir: str, enabled: bool = True):
    self.workdir = workdir
    self.enabled = enabled
    self._tb = None
    if enabled:
      os.makedirs(workdir, exist_ok=True)
    self.jsonl_path = os.path.join(workdir, "metrics.jsonl")

  def write_config(self, config) -> None:
    if self.enabled:
      with open(os.path.join(self.workdir, "config.json"), "w") as f:
        f.write(config.to_json_best_effort(indent=2, sort_keys=True))

  def truncate_after(self, step: int) -> None:
    """Drops rows logged after ``step``, so a resumed run's log has each step once."""
    if not self.enabled or not os.path.exists(self.jsonl_path):
      return
    with open(self.jsonl_path) as f:
      rows = [line for line in f if line.strip() and json.loads(line)["step"] <= step]
    with open(self.jsonl_path, "w") as f:
      f.writelines(rows)

  def write_scalars(self, step: int, scalars: dict) -> None:
    if not self.enabled:
      return
    row = {"step": int(step), "time": time.time(), **{k: float(v) for k, v in scalars.items()}}
    with open(self.jsonl_path, "a") as f:
      f.write(json.dumps(row) + "\n")
    self._board()
    for k, v in scalars.items():
      self._tb.add_scalar(k, float(v), int(step))
    self._tb.flush()

  def _board(self):
    if self._tb is None:
      # tensorboardX writes event files without pulling in TensorFlow.
      import tensorboardX  # pylint: disable=g-import-not-at-top
      self._tb = tensorboardX.SummaryWriter(os.path.join(self.workdir, "tensorboard"))
    return self._tb

  def write_image(self, step: int, tag: str, png_path: str) -> None:
    """A PNG file as a TensorBoard image."""
    if not self.enabled:
      return
    import matplotlib.image  # pylint: disable=g-import-not-at-top
    self._board().add_image(tag, matplotlib.image.imread(png_path)[..., :3], int(step), dataformats="HWC")
    self._tb.flush()

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()
      self._tb = None

  def __enter__(self):
    return self

  def __exit__(self, *exc) -> None:
    self.close()


class Progress:
  """Step rate and ETA since the first step of this process (compile time excluded)."""

  def __init__(self, start_step: int, num_steps: int):
    self.num_steps = num_steps
    self._t0 = None
    self._s0 = start_step

  def line(self, step: int) -> str:
    now = time.time()
    if self._t0 is None:  # The first report follows compilation: time from here on.
      self._t0, self._s0 = now, step
      return f"step {step}/{self.num_steps}"
    rate = (step - self._s0) / max(now - self._t0, 1e-9)
    eta = (self.num_steps - step) / rate if rate > 0 else math.inf
    eta_s = "?" if math.isinf(eta) else time.strftime("%H:%M:%S", time.gmtime(eta))
    return f"step {step}/{self.num_steps} ({100 * step / self.num_steps:.0f}%) | {rate:.1f} steps/s | ETA {eta_s}"


def log(message: str) -> None:
  """INFO on process 0 only: every process runs the same loop, so each line would come once per host."""
  if jax.process_index() == 0:
    logging.info(message)


def setup_cli_logging() -> None:
  """INFO logging for command-line tools, without Orbax's per-checkpoint INFO chatter (warnings stay)."""
  logging.set_verbosity(logging.INFO)
  # JAX logs each platform it probes and lacks ("Unable to initialize backend 'tpu'") at INFO, which plain JAX
  # keeps quiet; a real failure to use a device still comes as a warning or an error.
  std_logging.getLogger("jax._src.xla_bridge").setLevel(std_logging.WARNING)
  logging.get_absl_handler().addFilter(
      lambda record: record.levelno >= logging.converter.STANDARD_WARNING or "orbax" not in record.pathname)
