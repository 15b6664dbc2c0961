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

from absl import logging
import jax
import numpy as np


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
    """Drops rows logged after ``step``, so a resumed run's log has each step once; a torn or malformed line (what
    a kill during a write leaves) is dropped with a warning."""
    if not self.enabled or not os.path.exists(self.jsonl_path):
      return
    rows = [r for r in read_metrics(self.jsonl_path) if r["step"] <= step]
    tmp = self.jsonl_path + ".tmp"
    with open(tmp, "w") as f:
      f.writelines(json.dumps(r) + "\n" for r in rows)
    os.replace(tmp, self.jsonl_path)

  def write_scalars(self, step: int, scalars: dict) -> None:
    if not self.enabled:
      return
    row = {"step": int(step), "time": time.time(), **{k: float(v) for k, v in scalars.items()}}
    with open(self.jsonl_path, "a") as f:
      f.write(json.dumps(row) + "\n")
    self._tensorboard(lambda tb: [tb.add_scalar(k, float(v), int(step)) for k, v in scalars.items()])

  def _tensorboard(self, write) -> None:
    """TensorBoard events are a convenience beside metrics.jsonl: a failure to write them (a damaged events file,
    a full disk) is warned about once and turns them off, and never stops the run."""
    if self._tb is False:
      return
    try:
      if self._tb is None:
        # tensorboardX writes event files without pulling in TensorFlow.
        import tensorboardX
        self._tb = tensorboardX.SummaryWriter(os.path.join(self.workdir, "tensorboard"))
      write(self._tb)
      self._tb.flush()
    except Exception as e:  # pylint: disable=broad-except
      logging.warning("TensorBoard events in %s are off from here on: %s: %s", self.workdir, type(e).__name__, e)
      self._tb = False

  def write_image(self, step: int, tag: str, png_path: str) -> None:
    """A PNG file as a TensorBoard image."""
    if not self.enabled:
      return
    import matplotlib.image
    image = matplotlib.image.imread(png_path)[..., :3]
    self._tensorboard(lambda tb: tb.add_image(tag, image, int(step), dataformats="HWC"))

  def close(self) -> None:
    if self._tb:
      try:
        self._tb.close()
      except Exception as e:  # pylint: disable=broad-except
        logging.warning("closing the TensorBoard events in %s: %s: %s", self.workdir, type(e).__name__, e)
    self._tb = None

  def __enter__(self):
    return self

  def __exit__(self, *exc) -> None:
    self.close()


def read_metrics(path: str) -> list[dict]:
  """The rows of a ``metrics.jsonl``; lines that are torn, not JSON objects or without a ``step`` are skipped with
  one warning that counts them."""
  rows, bad = [], []
  with open(path) as f:
    for number, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        row = json.loads(line)
        if not isinstance(row, dict) or not isinstance(row.get("step"), (int, float)):
          raise ValueError("no step")
        row["step"] = int(row["step"])
      except ValueError:
        bad.append(number)
        continue
      rows.append(row)
  if bad:
    logging.warning("%s: skipped %d malformed line(s) (line %s%s): a kill during a write leaves a torn last line",
                    path, len(bad), bad[0], ", ..." if len(bad) > 1 else "")
  return rows


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


# ---- Buffered step metrics: pulled to the host once per log, each step checked finite. ----

def finite_or_raise(step: int, scalars: dict) -> None:
  """Fails fast, naming the term and step, when a logged loss, score or norm is NaN or infinite."""
  for name, value in scalars.items():
    if not math.isfinite(float(value)):
      raise FloatingPointError(f"non-finite {name} = {float(value)} at step {step}; stopping the run")


def _pending_rows(pending: list):
  """``(step, metrics)`` of every step buffered in ``pending``, on the host: metrics stacked ``[k]``
  (`lifting.training.train_step.make_multi_step`) are the k steps from ``step`` on."""
  for (step, _), scalars in zip(pending, jax.device_get([m for _, m in pending])):
    count = np.shape(next(iter(scalars.values())))[:1] or None
    for i in range(count[0] if count else 1):
      yield step + i, ({k: v[i] for k, v in scalars.items()} if count else scalars)


def check_pending(pending: list) -> None:
  """`finite_or_raise` on every buffered step's metrics, leaving them buffered (before a checkpoint)."""
  for step, row in _pending_rows(pending):
    finite_or_raise(step, row)


def flush_metrics(pending: list, writer: MetricWriter | None) -> dict[str, float]:
  """Pulls the buffered ``(step, metrics)`` to the host, checks each step, logs their mean (with a
  ``writer``) and returns it; empties ``pending``. Metrics stacked ``[k]``
  (`lifting.training.train_step.make_multi_step`) are the k steps from ``step`` on."""
  rows, end = [], 0
  for step, row in _pending_rows(pending):
    finite_or_raise(step, row)
    rows.append(row)
    end = step + 1
  means = {k: float(np.mean([r[k] for r in rows])) for k in rows[-1]}
  if writer is not None:
    writer.write_scalars(end, means)
  pending.clear()
  return means
