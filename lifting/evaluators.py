"""Evaluation: lifting a test set, its errors with view diagnostics, the trivial baselines, results files.

Every evaluation reports the errors of `lifting.metrics.dataset_metrics` (PA-MPJPE, N-MPJPE, PCK, AUC,
per action) and the view diagnostics (errors by the subject's yaw towards the camera, the
depth-flip rate) for each kind of weights a run keeps (raw and, with ``train.ema_decay``, their
moving average); ``eval.weights`` says which one results.json, the tables and lifts report.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import functools
import json
import os
from typing import Any

from absl import logging
import jax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

from lifting import batching
from lifting import checkpoint
from lifting import configs
from lifting import geometry
from lifting import logs
from lifting import metrics as metrics_lib
from lifting import skeleton
from lifting import train_step
from lifting.data import pipeline


def test_flip(config) -> tuple[int, ...] | None:
  """The layout's left/right permutation when ``eval.flip_average`` asks for test-time flip averaging
  (`lifting.geometry.flip_average`), else ``None``."""
  if not config.eval.flip_average:
    return None
  return skeleton.get_layout(config.layout).flip_permutation


def make_lift_fn(models: train_step.Networks, c: float, mesh, chunk: int = 4096, flip_permutation=None):
  """Returns ``lift_all(lifter_state, poses2d [N, J, 2], weights="raw", lengths=None) -> np.ndarray [N, J, 3]``
  (eval mode), with the state's raw or moving-average (``"ema"``) weights; with ``flip_permutation``
  (`test_flip`), each pose's lift is averaged with the mirrored lift of its mirror image. A temporal lifter
  (`lifting.models.TemporalLifter`) lifts the sequences of ``lengths [S]`` (frames each, back to back; ``None``:
  every pose alone) through `lifting.temporal.lift_sequences`; the single-frame lifter ignores them.

  Poses go through one compiled function in fixed-size chunks, so any N compiles once. Every
  process passes the same poses and gets all of the answer: the chunks are split over the mesh
  and the lifted chunk comes back replicated, since a host can read only its own devices.
  """
  frames = getattr(models.lifter, "frames", 1)
  # A temporal lifter's chunk is a batch of windows of this many frames (plus their context).
  window_batch = max(chunk // (_WINDOW + frames) // mesh.size, 1) * mesh.size
  chunk = max(chunk // mesh.size, 1) * mesh.size
  sharding = NamedSharding(mesh, P(train_step.DATA_AXIS))

  @functools.partial(jax.jit, out_shardings=NamedSharding(mesh, P()))
  def lift_chunk(variables, poses):
    lift = lambda x: train_step.lift(models.lifter, variables, x, c, train=False)  # noqa: E731
    return lift(poses) if flip_permutation is None else geometry.flip_average(lift, poses, flip_permutation)

  def lift_all(lifter_state, poses2d, weights: str = "raw", lengths=None):
    variables = lifter_state.variables(weights)
    poses2d = np.asarray(poses2d, np.float32)
    # From a callback, so each process places only its own devices' rows.
    put = lambda part: jax.make_array_from_callback(part.shape, sharding, lambda idx: part[idx])  # noqa: E731
    if frames > 1:
      from lifting import temporal
      return temporal.lift_sequences(lambda windows: lift_chunk(variables, put(windows)), poses2d, lengths, frames,
                                     _WINDOW, window_batch)
    return batching.map_padded(lambda part: lift_chunk(variables, put(part)), poses2d, size=chunk,
                               empty=np.zeros((0,) + poses2d.shape[1:-1] + (3,), np.float32))

  return lift_all


_WINDOW = 128  # Frames a temporal lifter keeps of each window it lifts in evaluation (beside its context).


def evaluate_poses(pred3d: np.ndarray, gt3d: np.ndarray, layout: skeleton.Layout,
                   actions: np.ndarray | None = None, views: bool = True) -> dict:
  """Errors of lifted poses against the camera-frame ground truth (in its units), with the view
  diagnostics (errors by yaw bin, depth-flip rate); see `lifting.metrics.dataset_metrics`.

  Lifted poses are in the lifter's units, not millimetres, so unaligned MPJPE is left out.
  """
  results = metrics_lib.dataset_metrics(np.asarray(pred3d), np.asarray(gt3d), layout, actions, views=views)
  results.pop("mpjpe", None)
  return results


def flat_poses(pose2d: np.ndarray) -> np.ndarray:
  """The trivial lift: every joint of ``[..., J, 2]`` at one depth (``[..., J, 3]``)."""
  return np.concatenate([pose2d, np.ones(pose2d.shape[:-1] + (1,), np.float32)], axis=-1)


def mean_depth_offsets(train_2d: np.ndarray, train_3d: np.ndarray, layout: skeleton.Layout, c: float) -> np.ndarray:
  """``[J]`` the mean root-relative depth of the training poses, in the lifter's units.

  Each pose's millimetres are converted with its weak-perspective scale: the least-squares
  factor that maps its root-centred ground-truth ``(X, Y)`` onto ``c`` times its normalised 2D.
  """
  gt = geometry.root_centred(np.asarray(train_3d), layout.root_joints)
  lateral = c * train_2d
  k = np.sum(lateral * gt[..., :2], axis=(1, 2)) / np.maximum(np.sum(gt[..., :2] ** 2, axis=(1, 2)), 1e-9)
  return np.mean(k[:, None] * gt[..., 2], axis=0).astype(np.float32)


def protocol(config) -> str:
  """The evaluation protocol's name in results: ``bandai/fixed-rig``, ``bandai/turned-rig``, or the source;
  with ``+detector-like-2d`` when the test inputs are detector-like (``data.noise_2d.test``)."""
  name = config.data.source
  if config.data.source == "bandai":
    from lifting.data import bandai
    name = bandai.protocol_name(config.data.bandai.rig)
  elif config.data.source == "demo":
    from lifting.data import demo
    name = demo.PROTOCOL
  elif config.data.source == "footage":
    from lifting.data import footage
    name = footage.PROTOCOL + ("" if config.data.footage.detector_2d.test else "+exact-2d")
  test = pipeline.test_source(config)
  if test != config.data.source:  # Cross-dataset (the paper's Table 2).
    name = f"{test} (trained on {name})"
  if config.data.noise_2d.test:  # Table 1's second column: detected 2D inputs.
    name += "+detector-like-2d"
  return name


def baselines(data: pipeline.PoseData, c: float) -> dict[str, dict]:
  """Test errors of the trivial lifts every result should be read beside.

  ``flat``: every joint at the same depth. ``mean_depth``: every test pose gets the training
  set's mean root-relative depth per joint (needs the training 3D, so it is a reference, not an
  unsupervised result).
  """
  out = {"flat": evaluate_poses(flat_poses(data.test_2d), data.test_3d, data.layout, data.test_actions)}
  if data.train_3d is not None:
    d = mean_depth_offsets(data.train_2d, data.train_3d, data.layout, c)
    pred = np.asarray(geometry.depth_to_points(data.test_2d, np.broadcast_to(d, data.test_2d.shape[:-1]), c))
    out["mean_depth"] = evaluate_poses(pred, data.test_3d, data.layout, data.test_actions)
  return out


_SCALARS = ("pa_mpjpe", "n_mpjpe", "pck", "auc", "limb_ratio_error", "depth_flip_rate", "depth_spread_ratio",
            "worst_yaw_pa_mpjpe")


_PREFIX = {"raw": "test", "ema": "test_ema"}
# Below this ratio of lifted to true depth spread a lifter is reported as collapsed to a flat pose (a converged
# unsupervised run keeps 0.8-0.9 of it, results/table.md).
FLAT_SPREAD = 0.1


def weights_kinds(config) -> tuple[str, ...]:
  """The weights a run evaluates: ``("raw",)``, or ``("raw", "ema")`` with a moving average."""
  return ("raw", "ema") if config.train.ema_decay > 0 else ("raw",)


def test_all(config, lift_all, states, data, writer=None, step=None) -> dict:
  """Evaluates every kind of weights (`weights_kinds`) on the test set; logs each with its prefix
  (``test/``, ``test_ema/``). Returns the reported weights' results with ``weights`` naming them and,
  under ``other_weights``, the others' scalars."""
  return test_all_and_poses(config, lift_all, states, data, writer, step)[0]


def test_all_and_poses(config, lift_all, states, data, writer=None, step=None) -> tuple[dict, np.ndarray]:
  """`test_all`, and the reported weights' lifts of the test poses ``[M, J, 3]`` (for pictures of them)."""
  report = configs.reported_weights(config)
  out, others, poses = {}, {}, None
  for kind in weights_kinds(config):
    pred = lift_all(states.lifter, data.test_2d, kind, data.test_lengths)
    results = evaluate_poses(pred, data.test_3d, data.layout, data.test_actions)
    if writer is not None:
      writer.write_scalars(step, {f"{_PREFIX[kind]}/{k}": results[k] for k in _SCALARS if k in results})
    logs.log(f"step {int(states.step)}, {kind} weights: test PA-MPJPE {results['pa_mpjpe']:.1f}, N-MPJPE "
             f"{results['n_mpjpe']:.1f}, PCK {100 * results['pck']:.1f}%, AUC {100 * results['auc']:.1f}%, "
             f"depth flips {100 * results['depth_flip_rate']:.1f}%, depth spread x{results['depth_spread_ratio']:.2f}, "
             f"worst yaw bin {results['worst_yaw_pa_mpjpe']:.1f}")
    if kind == report:
      out, poses = results, pred
      if results["depth_spread_ratio"] < FLAT_SPREAD:
        out["collapsed_to_flat"] = True
        logging.warning("step %d: the lifter has collapsed to a flat pose: its depth spread is x%.3f of the truth's "
                        "(below %.2f); the run has not learned depth", int(states.step), results["depth_spread_ratio"],
                        FLAT_SPREAD)
      if pipeline.test_source(config) == "mpi_inf_3dhp":  # Its own protocol: PCK and AUC per alignment and activity.
        from lifting.data import mpi_inf_3dhp
        out["mpi_inf_3dhp"] = mpi_inf_3dhp.protocol_metrics(pred, data.test_3d, data.test_actions)
    else:
      others[kind] = {k: results[k] for k in _SCALARS if k in results}
  out["weights"] = report
  if others:
    out["other_weights"] = others
  return out, poses


def _scores(results: dict, groups: bool) -> dict:
  out = {k: results[k] for k in ("pa_mpjpe", "n_mpjpe", "pck") if k in results}
  if groups and "per_action" in results:
    out["per_group"] = {g: v["pa_mpjpe"] for g, v in results["per_action"].items()}
  if groups and "per_joint" in results:
    out["per_joint"] = results["per_joint"]
  return out


def view_consistency(lifted, seqs, valid=None) -> dict | None:
  """Lifts of one instant from two cameras against each other (`lifting.metrics.view_consistency`), for a set
  filmed by several cameras at once (`lifting.data.footage.view_pairs`): in mm, each pair's lifts sized by the
  truth's head-to-root length; ``None`` for a set without such pairs. ``lifted [N, J, 3]`` unit head-to-root lifts
  of ``seqs``' frames, ``valid [N]`` those that were lifted."""
  from lifting.data import footage
  a, b = footage.view_pairs(seqs)
  if valid is not None:
    keep = valid[a] & valid[b]
    a, b = a[keep], b[keep]
  if not len(a):
    return None
  layout = skeleton.get_layout("paper14")
  truth = geometry.root_centred(seqs.pose3d[b].astype(np.float64), layout.root_joints)
  size = np.linalg.norm(truth[:, layout.head], axis=-1)
  return {"mm": metrics_lib.view_consistency(lifted[a], lifted[b], size), "pairs": int(len(a))}


def generalisation(config, models: train_step.Networks, lift_all, lifter_state, data: pipeline.PoseData,
                   sets: dict) -> dict:
  """Scores the reported weights of a training state with `score_sets` (a `lifting.inference.Model` of them)."""
  from lifting import inference  # The lift path, above this module.
  weights = configs.reported_weights(config)
  variables = jax.device_get(lifter_state.variables(weights))
  model = inference.Model(config, models.lifter, variables, pipeline.normalization_stats(config, data))
  return score_sets(model, lambda x, lengths=None: lift_all(lifter_state, x, weights, lengths), config, data, sets,
                    weights)


def score_sets(model, lift_normalised, config, data: pipeline.PoseData, sets: dict, what: str = "") -> dict:
  """Scores a lifter on the own test set (``actor_c`` for bandai, else ``test``) and each generalisation set
  (`lifting.data.pipeline.load_generalisation`) the way users get it: through `lifting.inference.Model.lift`
  from pixels (``lift``), beside the training pipeline's normalised path (``normalised``: ``lift_normalised``
  of the inputs normalised as in training) and the flat pose (``flat``). Per group (content, body): PA-MPJPE of
  ``lift`` and ``flat``."""
  named = {}
  own = {"bandai": "actor_c", "footage": "footage_test"}.get(config.data.source, "test")
  if data.test_pixels is not None and own not in sets:
    named[own] = (data.test_pixels, data.test_3d, data.test_actions, data.test_lengths)
  named.update({name: (s.pose2d, s.pose3d, s.frame_actions, s.sequence_lengths) for name, s in sets.items()})
  out = {}
  for name, (pixels, gt, groups, lengths) in named.items():
    lifted = model.lift(pixels, layout=data.layout.name, lengths=lengths)
    ok = lifted.valid
    groups = None if groups is None else np.asarray(groups)[ok]
    user = metrics_lib.dataset_metrics(lifted.poses3d[ok], gt[ok], data.layout, groups)
    x, _ = pipeline.normalize(pixels[ok], data.layout, config.c, config.data.scale, data.scale)
    normalised = metrics_lib.dataset_metrics(lift_normalised(x, lengths if ok.all() else None), gt[ok], data.layout)
    flat = metrics_lib.dataset_metrics(flat_poses(x), gt[ok], data.layout, groups)
    out[name] = {"lift": _scores(user, True), "normalised": _scores(normalised, False), "flat": _scores(flat, True),
                 "num_poses": int(ok.sum()), "skipped": int((~ok).sum())}
    views = view_consistency(lifted.poses3d, sets[name], ok) if name.startswith("footage") and name in sets else None
    if views is not None:
      out[name]["view_consistency_mm"] = views["mm"]
    logs.log(f"{name} ({int(ok.sum()):,} poses){', ' + what + ' weights' if what else ''}: PA-MPJPE through lift() "
             f"{user['pa_mpjpe']:.1f}, normalised path {normalised['pa_mpjpe']:.1f}, flat pose {flat['pa_mpjpe']:.1f}")
  return out


def eval_history(workdir: str, weights: str = "raw", key: str = "pa_mpjpe") -> tuple[list[int], list[float]]:
  """``(steps, values)`` of one test metric over a run's evaluations, from its ``metrics.jsonl``."""
  name = f"{_PREFIX[weights]}/{key}"
  steps, values = [], []
  path = os.path.join(workdir, "metrics.jsonl")
  if os.path.exists(path):
    for row in logs.read_metrics(path):
      if name in row:
        steps.append(int(row["step"]))
        values.append(float(row[name]))
  return steps, values


def swing(workdir: str, weights: str, last: int = 5) -> dict | None:
  """How much the reported test error moved over the run's last ``last`` evaluations: their steps,
  values, mean, range (max - min) and largest step-to-step change; ``None`` with fewer evaluations."""
  steps, values = eval_history(workdir, weights)
  if len(values) < last:
    return None
  tail = values[-last:]
  return {"steps": steps[-last:], "pa_mpjpe": tail, "mean": float(np.mean(tail)),
          "range": float(max(tail) - min(tail)), "max_change": float(np.max(np.abs(np.diff(tail))))}


@dataclasses.dataclass(frozen=True)
class RestoredRun:
  """A run's networks and states, restored from its newest good checkpoint for evaluation."""
  config: Any
  networks: train_step.Networks
  mesh: Any
  states: train_step.TrainStates
  lift_all: Callable  # `make_lift_fn`: (lifter state, poses2d [N, J, 2], weights) -> [N, J, 3].

  def lift(self, poses2d: np.ndarray, weights: str | None = None, lengths=None) -> np.ndarray:
    """Normalised ``[N, J, 2]`` -> ``[N, J, 3]`` with ``weights`` (default: the ones the run reports); ``lengths``:
    the sequences a temporal lifter lifts (`make_lift_fn`)."""
    return self.lift_all(self.states.lifter, poses2d, weights or configs.reported_weights(self.config), lengths)


def restore_run(workdir: str, config=None) -> RestoredRun:
  """The run in ``workdir``, with ``config`` (default: its own ``config.json``, upgraded; another config changes only
  how it is evaluated, e.g. flip averaging). Reads only: a damaged newest step is passed over, nothing is
  changed. Raises ``ValueError`` when there is no checkpoint."""
  config = configs.load(workdir) if config is None else config
  folder = os.path.join(workdir, "checkpoints")
  checkpoint.check_folder(folder)
  ckpt = checkpoint.Checkpointer(folder, create=False)
  try:
    if not ckpt.all_steps():
      raise ValueError(f"no checkpoint in {folder}: train first (--mode=train)")
    mesh = train_step.make_mesh()
    networks = train_step.build_models(config)
    template = train_step.init_states(config, networks, skeleton.get_layout(config.layout), jax.random.key(0), mesh)
    states = ckpt.restore(template)
  finally:
    ckpt.close()
  return RestoredRun(config, networks, mesh, states,
                     make_lift_fn(networks, config.c, mesh, flip_permutation=test_flip(config)))


def finish_results(config, results: dict, networks: train_step.Networks, lift_all, lifter_state,
                   data: pipeline.PoseData, history: str | None = None) -> dict:
  """What every run's results add to its test evaluation, in training and in ``--mode=eval``: the generalisation
  sets through `lifting.inference.Model.lift`, the trivial baselines, the data and protocol, and, with ``history``
  (the workdir whose evaluations had the same test inputs), how much the last evaluations moved."""
  results["generalisation"] = generalisation(config, networks, lift_all, lifter_state, data,
                                             pipeline.load_generalisation(config))
  results["baselines"] = baselines(data, config.c)
  if config.data.source == "demo":  # What the supervised lifter scored on the same set (lifting.data.demo).
    from lifting.data import demo
    reference = demo.meta().get("supervised_reference")
    if reference:
      results["supervised_reference"] = reference
  results["data"] = config.data.source
  results["protocol"] = protocol(config)
  moved = swing(history, results["weights"]) if history is not None else None
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
  run = restore_run(workdir, config)
  data = pipeline.load(config, extra=False)  # The test set only: extra training poses play no part.
  if data.test_3d is None:
    raise ValueError(f"data.source {config.data.source!r} has no 3D test set to evaluate on")
  results = test_all(config, run.lift_all, run.states, data)
  own = results_dir is None or os.path.abspath(results_dir) == os.path.abspath(workdir)
  finish_results(config, results, run.networks, run.lift_all, run.states.lifter, data, workdir if own else None)
  results["step"] = int(run.states.step)
  write_results(results_dir or workdir, results)
  return results


def picked_test_poses(pred3d: np.ndarray, data: pipeline.PoseData) -> list[dict]:
  """The best, two typical (median and 60th percentile) and the worst test pose by PA-MPJPE, as
  `lifting.plots.pose_grid` items: the 2D input, the lifted pose aligned to the truth, and the truth."""
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
  the same poses in the interactive viewer, ``test_poses.html`` (`lifting.viewer`)."""
  from lifting import plots  # Matplotlib only when drawing.
  from lifting import viewer
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
