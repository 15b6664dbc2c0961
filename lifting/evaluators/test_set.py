"""The run's own test set: every kind of weights it keeps, with the view diagnostics, during training and at its
end."""

from __future__ import annotations

from absl import logging
import numpy as np

from lifting import configs
from lifting.core import metrics as metrics_lib
from lifting.core import skeleton
from lifting.data import pipeline
from lifting.training import logs


def evaluate_poses(pred3d: np.ndarray, gt3d: np.ndarray, layout: skeleton.Layout,
                   actions: np.ndarray | None = None, views: bool = True) -> dict:
  """Errors of lifted poses against the camera-frame ground truth (in its units), with the view
  diagnostics (errors by yaw bin, depth-flip rate); see `lifting.core.metrics.dataset_metrics`.

  Lifted poses are in the lifter's units, not millimetres, so unaligned MPJPE is left out.
  """
  results = metrics_lib.dataset_metrics(np.asarray(pred3d), np.asarray(gt3d), layout, actions, views=views)
  results.pop("mpjpe", None)
  return results


SCALARS = ("pa_mpjpe", "n_mpjpe", "pck", "auc", "limb_ratio_error", "depth_flip_rate", "depth_spread_ratio",
            "worst_yaw_pa_mpjpe")


PREFIX = {"raw": "test", "ema": "test_ema"}
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
      writer.write_scalars(step, {f"{PREFIX[kind]}/{k}": results[k] for k in SCALARS if k in results})
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
      test = pipeline.test_source(config)
      own = getattr(pipeline.protocol_module(test), "protocol_metrics", None)
      if own is not None:  # A protocol's own metrics (MPI-INF-3DHP: PCK and AUC per alignment and activity).
        out[test] = own(pred, data.test_3d, data.test_actions)
    else:
      others[kind] = {k: results[k] for k in SCALARS if k in results}
  out["weights"] = report
  if others:
    out["other_weights"] = others
  return out, poses
