"""The ablation's figures: limb-length ratios (Fig. 6), test poses (Figs. 7-9), in-the-wild lifts
(Figs. 10-11) and training curves. Called by `experiments.drivers.ablation`, which passes in how to build
a row's config and where its runs live (so this module does not import the command and its
flags); each figure is skipped, with a log line, when its runs or data are missing.
"""

from __future__ import annotations

import os

from absl import logging
import numpy as np

from lifting.app import plots
from lifting.core import geometry
from lifting.core import metrics
from lifting.data import keypoints
from lifting.data import pipeline
from lifting.evaluators import lifts
from lifting.evaluators import reports

_WILD = {"LSP": "lsp_2d/repo/pose_dataset/lsp/joints.mat", "MPII": "mpii_2d/repo/pose_dataset/mpii/test_joints.csv"}


class _Runs:
  """Loads the shared test data once and the lifter of any finished run."""

  def __init__(self, config_for, run_dir):
    self.config, self.run_dir = config_for, run_dir
    self._data = None

  @property
  def data(self) -> pipeline.PoseData:
    if self._data is None:
      self._data = pipeline.load(self.config("adv_ss"))
    return self._data

  def lifter(self, slug: str):
    """``lift(poses2d [N, J, 2]) -> [N, J, 3]`` with the seed-0 run of ``slug``."""
    return lifts.restore_run(self.run_dir(slug), self.config(slug)).lift


def _centred(poses: np.ndarray, layout) -> np.ndarray:
  return geometry.root_centred(np.asarray(poses), layout.root_joints)


def limb_ratio_figure(runs: _Runs, done: dict, path: str) -> str | None:
  names = {"ss": "SS", "ss_symm": "SS+Symm", "adv_ss": "Adv+SS"}
  have = [s for s in names if done.get(s)]
  if not have:
    return None
  ratios = {names[s]: np.asarray(metrics.limb_ratios(runs.lifter(s)(runs.data.test_2d), runs.data.layout))
            for s in have}
  reference = np.asarray(metrics.limb_ratios(runs.data.test_3d, runs.data.layout))
  return plots.limb_ratio_histograms(ratios, path, reference=reference)


def pose_figure(runs: _Runs, slug: str, path: str) -> str:
  pred = runs.lifter(slug)(runs.data.test_2d)
  return plots.pose_grid(reports.picked_test_poses(pred, runs.data), runs.data.layout, path)


def wild_figure(runs: _Runs, slug: str, path: str, shared: str, count: int = 4) -> str | None:
  config = runs.config(slug)
  lift = runs.lifter(slug)
  items = []
  for name, rel in _WILD.items():
    file = os.path.join(shared, rel)
    if not os.path.exists(file):
      logging.info("in-the-wild figure: %s not found at %s; skipped", name, file)
      continue
    kp = keypoints.to_paper14(keypoints.read_keypoints(file))
    full = np.flatnonzero(kp.mask.all(axis=1))
    picks = np.random.default_rng(0).choice(full, size=min(count, len(full)), replace=False)
    # Their images have other scales than our cameras: each pose is scaled to head-to-root 1/c.
    x, _ = pipeline.normalize(kp.poses[picks], runs.data.layout, config.c, "pose")
    lifted = _centred(lift(x), runs.data.layout)
    items += [{"title": f"{name} {kp.ids[i]}", "pose2d": x[k], "pred3d": lifted[k]} for k, i in enumerate(picks)]
  return plots.pose_grid(items, runs.data.layout, path) if items else None


# Rows whose test curves and yaw-bin errors the figures show (the paper's rows and the references).
CURVE_ROWS = ("adv", "adv_ss", "adv_ss_td", "adv_ss_da_td", "supervised", "adv_ss_td_fixed_rig", "supervised_fixed_rig")
# The footage protocol's rows (docs/footage.md): their test curves on its held-out contents, beside its flat pose.
FOOTAGE_CURVE_ROWS = ("footage", "footage_prior", "footage_clean", "footage_da", "footage_temporal",
                      "footage_views", "footage_long", "footage_supervised")


def yaw_figures(done: dict, names: dict[str, str], folder: str) -> list[str]:
  """``yaw_<protocol>.png``: each curve row's PA-MPJPE by yaw bin (mean over seeds), with the flat pose."""
  by_protocol: dict[str, dict] = {}
  for slug in CURVE_ROWS:
    runs = done.get(slug) or []
    if runs and "per_yaw" in runs[0]:
      protocol = runs[0].get("protocol", "?")
      rows = by_protocol.setdefault(protocol, {"baseline: flat": {
          b: v["pa_mpjpe"] for b, v in runs[0]["baselines"]["flat"]["per_yaw"].items()}})
      rows[names[slug]] = {b: float(np.mean([r["per_yaw"][b]["pa_mpjpe"] for r in runs])) for b in runs[0]["per_yaw"]}
  return [plots.yaw_errors(rows, os.path.join(folder, f"yaw_{protocol.split('/')[-1]}.png"), title=protocol)
          for protocol, rows in by_protocol.items()]


def draw_all(out: str, done: dict, config_for, run_dir, names: dict[str, str],
             shared: str = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"),
             run_dirs=None) -> list[str]:
  """Every figure from the finished runs in ``done`` (slug -> results).

  ``config_for(slug)`` and ``run_dir(slug)`` give a row's seed-0 config and run folder, ``run_dirs(slug)``
  the folders of all its seeds; ``names`` maps slugs to row names for legends. Figures that need a
  trained lifter are skipped, with a log line, when the run's checkpoints are not here (a table
  resumed from committed results).
  """
  runs = _Runs(config_for, run_dir)
  folder = os.path.join(out, "figures")
  paths = []
  have_ckpt = lambda slug: os.path.isdir(os.path.join(run_dir(slug), "checkpoints"))  # noqa: E731
  lifters = {s for s in done if done[s] and have_ckpt(s)}
  skipped = sorted(s for s in done if done[s] and s not in lifters)
  if skipped:
    logging.info("figures: no checkpoints for %s; the figures that lift test poses leave them out", skipped)
  paths.append(limb_ratio_figure(runs, {s: done[s] for s in lifters}, os.path.join(folder, "limb_ratios.png")))
  best = next((s for s in ("adv_ss_td", "adv_ss", "adv") if s in lifters), None)
  if best:
    paths.append(pose_figure(runs, best, os.path.join(folder, f"poses_{best}.png")))
    paths.append(wild_figure(runs, best, os.path.join(folder, f"in_the_wild_{best}.png"), shared))
  # Evaluation-only rows (another row's run on other test inputs) have no training log of their own.
  curves = {names[s]: os.path.join(run_dir(s), "metrics.jsonl") for s in done
            if done[s] and os.path.exists(os.path.join(run_dir(s), "metrics.jsonl"))}
  if curves:
    paths.append(plots.training_curves(curves, os.path.join(folder, "training_curves.png")))
  run_dirs = run_dirs or (lambda slug: [run_dir(slug)])
  for rows, name in ((CURVE_ROWS, "test_curves.png"), (FOOTAGE_CURVE_ROWS, "footage_curves.png")):
    groups = {names[s]: [os.path.join(d, "metrics.jsonl") for d in run_dirs(s)] for s in rows if done.get(s)}
    if groups:
      flat = {f"flat pose ({r[0].get('protocol', '?')})": r[0]["baselines"]["flat"]["pa_mpjpe"]
              for r in (done[s] for s in rows if done.get(s))}
      paths.append(plots.metric_curves(groups, os.path.join(folder, name), reference=flat))
  paths += yaw_figures(done, names, folder)
  return [p for p in paths if p]
