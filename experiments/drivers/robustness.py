"""How lifters degrade on noisy keypoints: test PA-MPJPE against the scale of the detector-like 2D error model.

    python -m experiments.drivers.robustness --out=results

For every finished run of the lifters below (`experiments.drivers.ablation` trains them), the test 2D of the
bandai benchmark is replaced by detector-like 2D (`lifting.data.detector_noise`) at each noise scale
(0: the exact 2D; 1: the stacked hourglass's published per-joint accuracy; the jitter, gross-error,
swap and missing rates all scale together), missing joints are filled by a completion network trained
on the lifter's own kind of training 2D, and the run's reported weights lift them through `Model.lift` from
pixels, as a user's keypoints are. Writes ``OUT/robustness.json`` (PA-MPJPE per run and scale, mean and sd over
seeds) and ``OUT/figures/robustness.png``. Nothing is trained but the two completion networks. A lifter whose
runs have no checkpoints here (a table resumed on another machine) keeps its entry of the earlier
``robustness.json``, with the path it was measured on (``path``).
"""

from __future__ import annotations

import json
import os

from absl import app
from absl import flags
import numpy as np

from experiments.drivers import ablation
from experiments.drivers import common  # Its --out and --seeds are this command's too.

_SCALES = flags.DEFINE_list("scales", ["0", "0.25", "0.5", "1", "1.5", "2", "3"], "Noise scales.")


# (row slug, label, the training 2D its completion network learns from: "exact" or "noisy").
LIFTERS = (("adv_ss_td", "Adv+SS+TD, trained on exact 2D", "exact"),
           ("supervised", "supervised, trained on exact 2D", "exact"),
           ("adv_ss_td_noisy2d", "Adv+SS+TD, trained on detector-like 2D", "noisy"),
           ("supervised_noisy2d", "supervised, trained on detector-like 2D", "noisy"),
           ("adv_ss_td_body", "Adv+SS+TD, body-size normalisation", "exact"),
           ("supervised_body", "supervised, body-size normalisation", "exact"),
           ("adv_ss_td_body_denoise", "Adv+SS+TD, body-size normalisation, denoising lifter", "exact"),
           ("adv_ss_da_td_body", "Adv+SS+DA+TD, body-size normalisation", "exact"),
           ("adv_ss_da_td_body_half", "Adv+SS+DA+TD, body-size normalisation, half in-the-wild", "exact"),
           ("adv_ss_da_td_body_denoise", "Adv+SS+DA+TD, body-size normalisation, denoising lifter", "exact"),
           ("flow_ss_td_body", "Flow+SS+TD, body-size normalisation", "exact"),
           # Evaluation rows: the runs of the row they evaluate, lifted as the row's config says (flip averaging).
           ("adv_ss_td_body_flip", "Adv+SS+TD, body-size normalisation, flip-averaged", "exact"),
           ("supervised_body_flip", "supervised, body-size normalisation, flip-averaged", "exact"),
           ("adv_ss_td_body_elev", "Adv+SS+TD, body-size normalisation, learned elevation", "exact"),
           ("adv_ss_td_body_elev_flip", "Adv+SS+TD, body-size normalisation, learned elevation, flip-averaged",
            "exact"),
           ("adv_ss_da_td_body_elev", "Adv+SS+DA+TD, body-size normalisation, learned elevation", "exact"),
           ("adv_ss_da_td_body_elev_flip", "Adv+SS+DA+TD, body-size normalisation, learned elevation, flip-averaged",
            "exact"))


def completers(config, train) -> dict:
  """The completion network of each kind of training 2D (`LIFTERS`), as `pipeline.add_detector_noise` trains it:
  on the complete poses of the exact, or of the detector-like (scale 1), training 2D."""
  from lifting.data import pipeline
  from lifting.training import completion
  noisy, missing, _ = pipeline.detector_like(_with_scale(config, 1.0), {"train": train})
  return {"exact": completion.from_config(config, train.pose2d),
          "noisy": completion.from_config(config, noisy["train"][~missing["train"].any(axis=1)])}


def _with_scale(config, scale: float):
  config = config.copy_and_resolve_references()
  config.data.noise_2d.scale = float(scale)
  return config


def sweep(config, workdirs: dict[str, list[str]], kinds: dict[str, str], scales: list[float]) -> dict:
  """PA-MPJPE of every run in ``workdirs`` (``{slug: [workdir per seed]}``) at every noise scale.

  ``config`` names the data (its ``data.noise_2d`` the model; ``test`` is forced on); ``kinds`` maps each slug to
  the training 2D of its completion network. Returns ``{"scales", "lifters": {slug: {"per_seed": [[mm per
  scale]], "mean", "std"}}}``.
  """
  from lifting.app import inference
  from lifting.core import metrics
  from lifting.core import skeleton
  from lifting.data import pipeline
  from lifting.evaluators import baselines

  config = config.copy_and_resolve_references()
  config.data.noise_2d.update(train=False, test=True)
  train, test = pipeline.load_splits(config)
  fill = completers(config, train)
  tests = {}
  for kind in set(kinds.values()):
    for scale in scales:
      _, noisy, _ = pipeline.add_detector_noise(_with_scale(config, scale), train, test, completion=fill[kind],
                                                what=("test",))
      tests[kind, scale] = noisy.pose2d
  # The flat pose of the same inputs (every joint at one depth), the floor a lifter should stay under.
  kind = next(iter(sorted(set(kinds.values()))))
  layout = skeleton.get_layout(config.layout)
  flat = [float(metrics.dataset_metrics(baselines.flat_poses(tests[kind, s]), test.pose3d, layout,
                                        views=False)["pa_mpjpe"])
          for s in scales]
  out = {"scales": scales, "flat": flat, "flat_inputs": kind, "lifters": {}}
  for slug, dirs in workdirs.items():
    per_seed = []
    row = ablation.ROWS_BY_SLUG.get(slug)
    for workdir in dirs:
      model = inference.load(workdir, completion=None)
      if row is not None and row.eval_of:  # Lifted with the evaluation row's settings, not the trained run's.
        lift_config = ablation.row_config(row, 0, "", "cpu")
        run_config = model.config.copy_and_resolve_references()
        run_config.eval.flip_average = lift_config.eval.flip_average
        model = inference.Model(run_config, model.lifter, model.variables, model.normalization, None, model.step,
                                model.workdir)
      errors = []
      for scale in scales:  # The path a user takes: pixels through Model.lift.
        pred = model.lift(tests[kinds[slug], scale], layout=model.layout.name).poses3d
        errors.append(float(metrics.dataset_metrics(pred, test.pose3d, model.layout, views=False)["pa_mpjpe"]))
      per_seed.append(errors)
    arr = np.asarray(per_seed)
    out["lifters"][slug] = {"runs": dirs, "path": "lift", "per_seed": per_seed, "mean": arr.mean(0).tolist(),
                            "std": (arr.std(0, ddof=1) if len(arr) > 1 else np.zeros(len(scales))).tolist()}
  return out


def draw(result: dict, labels: dict[str, str], path: str) -> str:
  """PA-MPJPE against noise scale, one line (mean, with a band of ± sd) per lifter."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
  scales = np.asarray(result["scales"])
  for slug, r in result["lifters"].items():
    mean, std = np.asarray(r["mean"]), np.asarray(r["std"])
    style = "-" if "noisy2d" not in slug else "--"
    line, = ax.plot(scales, mean, style, marker="o", ms=3, label=f"{labels.get(slug, slug)} ({len(r['per_seed'])})")
    ax.fill_between(scales, mean - std, mean + std, color=line.get_color(), alpha=0.2)
  if "flat" in result:
    ax.plot(scales, result["flat"], color="grey", lw=1, ls="-.", label="flat pose (no lifting)")
  ax.axvline(1.0, color="grey", lw=0.8, ls=":")
  ax.set_xlabel("noise scale (1 = stacked hourglass, Newell et al. 2016)")
  ax.set_ylabel("test PA-MPJPE (mm)")
  ax.set_title("Lifting detector-like 2D (bandai, test actor C)")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7)
  fig.tight_layout()
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fig.savefig(path)
  plt.close(fig)
  return path


def main(argv):
  del argv
  from lifting.training import logs
  logs.setup_cli_logging()
  out = common.OUT.value
  workdirs, kinds = {}, {}
  earlier_path = os.path.join(out, "robustness.json")
  earlier = {}
  if os.path.exists(earlier_path):
    with open(earlier_path) as f:
      earlier = json.load(f)
  for slug, _, kind in LIFTERS:
    trained = ablation.ROWS_BY_SLUG[slug].eval_of or slug  # An evaluation row lifts the runs it evaluates.
    dirs = [ablation.run_dir(out, trained, s) for s in range(common.SEEDS.value)]
    dirs = [d for d in dirs if os.path.exists(os.path.join(d, "results.json"))
            and os.path.isdir(os.path.join(d, "checkpoints"))]
    if dirs:
      workdirs[slug], kinds[slug] = dirs, kind
  if not workdirs:
    raise app.UsageError(f"no finished run of {[s for s, _, _ in LIFTERS]} under {out}/runs: "
                         "run experiments.drivers.ablation")
  config = ablation.row_config(ablation.ROWS_BY_SLUG["adv_ss_td"], 0, out, "cpu")
  scales = [float(s) for s in _SCALES.value]
  result = sweep(config, workdirs, kinds, scales)
  if earlier.get("scales") == scales:  # Lifters without checkpoints here keep their earlier measurement.
    for slug, entry in earlier.get("lifters", {}).items():
      if slug not in result["lifters"]:
        result["lifters"][slug] = {"path": "normalised (dataset scale)", **entry}
  result["command"] = "python -m experiments.drivers.robustness " + " ".join(
      f"--{k}={v}" for k, v in (("out", out), ("scales", ",".join(_SCALES.value)), ("seeds", common.SEEDS.value)))
  labels = {slug: label for slug, label, _ in LIFTERS}
  for slug, r in result["lifters"].items():
    r["name"] = labels[slug]
  with open(os.path.join(out, "robustness.json"), "w") as f:
    json.dump(result, f, indent=2)
  path = draw(result, labels, os.path.join(out, "figures", "robustness.png"))
  print(f"wrote {os.path.join(out, 'robustness.json')} and {path}")
  print("| lifter | " + " | ".join(f"scale {s:g}" for s in scales) + " |")
  print("| --- |" + " ---: |" * len(scales))
  print("| flat pose (no lifting) | " + " | ".join(f"{v:.1f}" for v in result["flat"]) + " |")
  for slug, r in result["lifters"].items():
    cells = [f"{m:.1f} ± {s:.1f}" if len(r["per_seed"]) > 1 else f"{m:.1f}" for m, s in zip(r["mean"], r["std"])]
    print(f"| {labels[slug]} ({len(r['per_seed'])} seeds) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
  app.run(main)
