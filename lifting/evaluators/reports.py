"""What a finished run's results hold, ``--mode=eval``, and the results files."""

from __future__ import annotations

import json
import os

import jax
import numpy as np

from lifting import configs
from lifting.core import geometry
from lifting.data import pipeline
from lifting.evaluators import baselines
from lifting.evaluators import generalisation
from lifting.evaluators import history
from lifting.evaluators import lifts
from lifting.evaluators import test_set
from lifting.training import train_step


def protocol(config) -> str:
  """The evaluation protocol's name in results: the data module's (``protocol(config)``, e.g. ``bandai/fixed-rig``),
  else the source; with ``+detector-like-2d`` when the test inputs are detector-like (``data.noise_2d.test``)."""
  own = getattr(pipeline.protocol_module(config.data.source), "protocol", None)
  name = own(config) if own is not None else config.data.source
  test = pipeline.test_source(config)
  if test != config.data.source:  # Cross-dataset (the paper's Table 2).
    name = f"{test} (trained on {name})"
  if config.data.noise_2d.test:  # Table 1's second column: detected 2D inputs.
    name += "+detector-like-2d"
  return name


def finish_results(config, results: dict, networks: train_step.Networks, lift_all, lifter_state,
                   data: pipeline.PoseData, history_of: str | None = None) -> dict:
  """What every run's results add to its test evaluation, in training and in ``--mode=eval``: the evaluation
  sets through `lifting.app.inference.Model.lift`, the trivial baselines, the data and protocol, and, with
  ``history_of`` (the workdir whose evaluations had the same test inputs), how much the last evaluations moved."""
  results["generalisation"] = generalisation.score_state(config, networks, lift_all, lifter_state, data,
                                                       pipeline.load_evaluation_sets(config))
  results["baselines"] = baselines.trivial(data, config.c)
  reference = getattr(pipeline.protocol_module(config.data.source), "supervised_reference", None)
  if reference is not None and reference() is not None:  # What a supervised lifter scored on the same test set.
    results["supervised_reference"] = reference()
  results["data"] = config.data.source
  results["protocol"] = protocol(config)
  moved = history.swing(history_of, results["weights"]) if history_of is not None else None
  if moved is not None:
    results["last_evals"] = moved
  return results


def evaluate(config, workdir: str, results_dir: str | None = None) -> dict:
  """Evaluates the latest checkpoint in ``workdir`` on the config's test set.

  Writes ``results.json`` (every metric, per-action errors and the trivial baselines) and
  ``results.md`` (a markdown table: this run's row under the baselines' rows) to ``results_dir``
  (default ``workdir``): another folder keeps a run's own results when it is evaluated on other test
  inputs (detector-like 2D, ``data.noise_2d.test``).
  """
  configs.validate(config)
  run = lifts.restore_run(workdir, config)
  data = pipeline.load(config, extra=False)  # The test set only: extra training poses play no part.
  if data.test_3d is None:
    raise ValueError(f"data.source {config.data.source!r} has no 3D test set to evaluate on")
  results = test_set.test_all(config, run.lift_all, run.states, data)
  own = results_dir is None or os.path.abspath(results_dir) == os.path.abspath(workdir)
  finish_results(config, results, run.networks, run.lift_all, run.states.lifter, data, workdir if own else None)
  results["step"] = int(run.states.step)
  write_results(results_dir or workdir, results)
  return results


def picked_test_poses(pred3d: np.ndarray, data: pipeline.PoseData) -> list[dict]:
  """The best, two typical (median and 60th percentile) and the worst test pose by PA-MPJPE, as
  `lifting.app.plots.pose_grid` items: the 2D input, the lifted pose aligned to the truth, and the truth."""
  layout = data.layout
  centred = lambda p: geometry.root_centred(np.asarray(p), layout.root_joints)  # noqa: E731
  pred, gt = centred(np.asarray(pred3d)), centred(np.asarray(data.test_3d))
  aligned = np.asarray(jax.jit(geometry.procrustes_align)(pred, gt))
  errors = np.mean(np.linalg.norm(aligned - gt, axis=-1), axis=-1)
  order = np.argsort(errors)
  picks = [("best", order[0]), ("typical", order[len(order) // 2]), ("typical", order[int(len(order) * 0.6)]),
           ("worst", order[-1])]
  action = lambda i: f"{data.test_actions[i]}, " if data.test_actions is not None else ""  # noqa: E731
  return [{"title": f"{label}: {action(i)}PA-MPJPE {errors[i]:.0f} mm", "pose2d": data.test_2d[i],
           "pred3d": aligned[i], "gt3d": gt[i]} for label, i in picks]


def write_test_picture(workdir: str, pred3d: np.ndarray, data: pipeline.PoseData, writer=None, step: int = 0) -> str:
  """``test_poses.png`` in ``workdir`` (`picked_test_poses`), also as a TensorBoard image with a ``writer``, and
  the same poses in the interactive viewer, ``test_poses.html`` (`lifting.app.viewer`)."""
  from lifting.app import plots  # Matplotlib only when drawing.
  from lifting.app import viewer
  items = picked_test_poses(pred3d, data)
  path = plots.pose_grid(items, data.layout, os.path.join(workdir, "test_poses.png"))
  viewer.write_html(os.path.join(workdir, "test_poses.html"), np.stack([i["pred3d"] for i in items]),
                    np.stack([i["pose2d"] for i in items]), data.layout, titles=[i["title"] for i in items],
                    title=f"{os.path.basename(os.path.normpath(workdir))}, step {step}")
  if writer is not None:
    writer.write_image(step, "test_poses", path)
  return path


def write_results(workdir: str, results: dict) -> None:
  """``results.json`` and ``results.md`` (baseline rows, then this run's row) in ``workdir``; process 0 only."""
  if jax.process_index() != 0:
    return
  with open(f"{workdir}/results.json", "w") as f:
    json.dump(results, f, indent=2)
  name = os.path.basename(os.path.normpath(workdir))
  rows = [markdown_row(f"baseline: {k}", v) for k, v in results["baselines"].items()] + [markdown_row(name, results)]
  with open(f"{workdir}/results.md", "w") as f:
    f.write("\n".join([MARKDOWN_HEADER, *rows]) + "\n")


MARKDOWN_HEADER = ("| run | steps | PA-MPJPE (mm) | N-MPJPE (mm) | PCK@150 (%) | AUC (%) | test poses |\n"
                   "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")


def markdown_row(name: str, results: dict) -> str:
  """One row of `MARKDOWN_HEADER`'s table."""
  steps = results.get("step", "")
  return (f"| {name} | {steps} | {results['pa_mpjpe']:.1f} | {results['n_mpjpe']:.1f} | {100 * results['pck']:.1f} "
          f"| {100 * results['auc']:.1f} | {int(results['num_poses']):,} |")
