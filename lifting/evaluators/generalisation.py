"""The evaluation sets a config chooses (``eval.generalisation``), scored the way users get lifts: through
`lifting.app.inference.Model.lift` from pixels, beside the training pipeline's normalised path and the flat pose."""

from __future__ import annotations

import jax
import numpy as np

from lifting import configs
from lifting.core import geometry
from lifting.core import metrics as metrics_lib
from lifting.core import skeleton
from lifting.data import pipeline
from lifting.evaluators import baselines
from lifting.training import logs
from lifting.training import train_step


def _scores(results: dict, groups: bool) -> dict:
  out = {k: results[k] for k in ("pa_mpjpe", "n_mpjpe", "pck") if k in results}
  if groups and "per_action" in results:
    out["per_group"] = {g: v["pa_mpjpe"] for g, v in results["per_action"].items()}
  if groups and "per_joint" in results:
    out["per_joint"] = results["per_joint"]
  return out


def view_consistency(lifted, seqs, valid=None) -> dict | None:
  """Lifts of one instant from two cameras against each other (`lifting.core.metrics.view_consistency`), for a set
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


def score_state(config, models: train_step.Networks, lift_all, lifter_state, data: pipeline.PoseData,
                sets: dict) -> dict:
  """Scores the reported weights of a training state with `score_sets` (a `lifting.app.inference.Model` of them)."""
  from lifting.app import inference  # The lift path, above this module.
  weights = configs.reported_weights(config)
  variables = jax.device_get(lifter_state.variables(weights))
  model = inference.Model(config, models.lifter, variables, pipeline.normalization_stats(config, data))
  return score_sets(model, lambda x, lengths=None: lift_all(lifter_state, x, weights, lengths), config, data, sets,
                    weights)


def score_sets(model, lift_normalised, config, data: pipeline.PoseData, sets: dict, what: str = "") -> dict:
  """Scores a lifter on the own test set (the protocol's ``OWN_TEST_SET``, else ``test``) and each evaluation set
  (`lifting.data.pipeline.load_evaluation_sets`) the way users get it: through `lifting.app.inference.Model.lift`
  from pixels (``lift``), beside the training pipeline's normalised path (``normalised``: ``lift_normalised``
  of the inputs normalised as in training) and the flat pose (``flat``). Per group (content, body): PA-MPJPE of
  ``lift`` and ``flat``."""
  named = {}
  module = pipeline.protocol_module(config.data.source)
  own = getattr(module, "OWN_TEST_SET", "test")
  multi_view = getattr(module, "MULTI_VIEW_SETS", ())  # Sets filmed by several cameras at once.
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
    flat = metrics_lib.dataset_metrics(baselines.flat_poses(x), gt[ok], data.layout, groups)
    out[name] = {"lift": _scores(user, True), "normalised": _scores(normalised, False), "flat": _scores(flat, True),
                 "num_poses": int(ok.sum()), "skipped": int((~ok).sum())}
    views = view_consistency(lifted.poses3d, sets[name], ok) if name in multi_view and name in sets else None
    if views is not None:
      out[name]["view_consistency_mm"] = views["mm"]
    logs.log(f"{name} ({int(ok.sum()):,} poses){', ' + what + ' weights' if what else ''}: PA-MPJPE through lift() "
             f"{user['pa_mpjpe']:.1f}, normalised path {normalised['pa_mpjpe']:.1f}, flat pose {flat['pa_mpjpe']:.1f}")
  return out
