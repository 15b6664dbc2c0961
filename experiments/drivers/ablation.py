"""Trains and evaluates every row of our Table 3 on the bandai benchmark, then writes the table and figures.

    python -m experiments.drivers.ablation --out=results                  # CPU profile, 3 seeds for Adv rows
    python -m experiments.drivers.ablation --out=results --seeds=1        # single seed: the quick table
    python -m experiments.drivers.ablation --out=results --profile=paper  # paper scale, for a GPU/TPU

Each row is one config of `experiments`, a small override of `experiments/bandai.py` that trains on the benchmark by
itself; the command adds only the seed and the run folders. Runs go to ``OUT/runs/<row>-seed<k>``; a finished
run (`common.finished`) is skipped and an interrupted one resumes from its checkpoint, so the command can be
stopped and restarted.
Writes ``OUT/table.md``, ``OUT/table.json`` and ``OUT/figures/*.png``.

The DA rows and their controls read in-the-wild poses prepared by ``run.py --mode=adapt``
(`lifting.training.adapt.prepare`); the command prepares them first, once per adapt setting, in
``OUT/runs/adapt-<key>`` (adapted and raw poses, adapter, counts and diagnostics).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import os
import statistics
import time

from absl import app
from absl import flags
from absl import logging

from experiments.drivers import common

_PROFILE = flags.DEFINE_enum("profile", "cpu", ["cpu", "fast", "paper"], "Config profile of every row ('fast': "
                             "the time-to-accuracy recipe; give it its own --out).")
_ONE_PROGRAM = flags.DEFINE_bool("seeds_in_one_program", True, "Train the unfinished seeds of a multi-seed row "
                                 "together, as one compiled program (train.seeds; lifting.train.train_seeds).")
_FIGURES = flags.DEFINE_bool("figures", True, "Draw the figures after the table.")
_DATA = flags.DEFINE_string("data", "", "data.source of every row ('': the row's own benchmark; 'synthetic' for a "
                            "dry run).")


@dataclasses.dataclass(frozen=True)
class Row:
  name: str                      # As in the table.
  slug: str                      # Config module in experiments/, and run folder prefix.
  multi_seed: bool = False
  init_from: str | None = None   # Slug of the row whose run with the same seed this one fine-tunes.
  pending: str | None = None     # Why the row has no numbers yet.
  adversarial: bool = False      # Has the pose discriminator (checked against the flat pose per yaw bin).
  eval_of: str | None = None     # Slug of the row whose run with the same seed this one evaluates (no training).


ROWS = (
    Row("SS", "ss"),
    Row("SS+Symm", "ss_symm"),
    Row("Adv", "adv", multi_seed=True, adversarial=True),
    Row("Adv+SS", "adv_ss", multi_seed=True, adversarial=True),
    Row("Adv+SS+TD", "adv_ss_td", multi_seed=True, adversarial=True),
    Row("Adv+DA", "adv_da", multi_seed=True, adversarial=True),
    Row("Adv+SS+DA", "adv_ss_da", multi_seed=True, adversarial=True),
    Row("Adv+SS+DA+TD", "adv_ss_da_td", multi_seed=True, adversarial=True),
    Row("Adv+SS + raw source poses (control)", "adv_ss_raw", adversarial=True),
    Row("Adv+SS+DA, complete source poses only", "adv_ss_da_complete_only", adversarial=True),
    Row("Adv+SS+DA, half of each batch in-the-wild", "adv_ss_da_half", adversarial=True),
    Row("supervised (reference)", "supervised", multi_seed=True),
    Row("semi-supervised 5% (from Adv+SS+TD)", "semi_supervised", multi_seed=True, init_from="adv_ss_td"),
    Row("semi-supervised 5% of frames (from Adv+SS+TD)", "semi_supervised_frames", multi_seed=True,
        init_from="adv_ss_td"),
    # The same recipe on the fixed-rig protocol (every result before the turned rig): the view bias, measured.
    Row("Adv+SS+TD, fixed rig", "adv_ss_td_fixed_rig", multi_seed=True, adversarial=True),
    Row("supervised (reference), fixed rig", "supervised_fixed_rig", multi_seed=True),
    # Table 1's "detected 2D" protocol (experiments/adv_ss_td_noisy2d.py): detector-like test inputs.
    Row("Adv+SS+TD, trained on exact 2D, tested on detector-like 2D", "adv_ss_td_noisy2d_test", multi_seed=True,
        adversarial=True, eval_of="adv_ss_td"),
    Row("Adv+SS+TD, trained and tested on detector-like 2D", "adv_ss_td_noisy2d", multi_seed=True, adversarial=True),
    Row("supervised, trained on exact 2D, tested on detector-like 2D", "supervised_noisy2d_test", multi_seed=True,
        eval_of="supervised"),
    Row("supervised, trained and tested on detector-like 2D", "supervised_noisy2d", multi_seed=True),
    # Generalisation (experiments/README.md): per-pose body-size normalisation, the way Model.lift scales a
    # user's keypoints, and the rows beyond it; each scored on dataset-1 and the cross-body set through lift().
    Row("Adv+SS+TD, body-size normalisation", "adv_ss_td_body", multi_seed=True, adversarial=True),
    Row("supervised (reference), body-size normalisation", "supervised_body", multi_seed=True),
    Row("Adv+SS+TD, body-size normalisation, denoising lifter", "adv_ss_td_body_denoise", multi_seed=True,
        adversarial=True),
    Row("Adv+SS+DA+TD, body-size normalisation", "adv_ss_da_td_body", multi_seed=True, adversarial=True),
    Row("Adv+SS+DA+TD, body-size normalisation, half of each batch in-the-wild", "adv_ss_da_td_body_half",
        multi_seed=True, adversarial=True),
    Row("Adv+SS+DA+TD, body-size normalisation, denoising lifter", "adv_ss_da_td_body_denoise", multi_seed=True,
        adversarial=True),
    Row("Flow+SS+TD (ElePose's 2D flow prior for the discriminator), body-size normalisation", "flow_ss_td_body",
        multi_seed=True,
        pending="stopped at step 5000 of 8000 (2026-12-02, seed 0): actor C 93.3 mm with 55% depth flips, worse than "
                "the flat pose; its curve is in results/runs/flow_ss_td_body-seed0/metrics.jsonl"),
    Row("Adv+Flow+SS+TD (the flow prior beside the discriminator, w_flow = 0.1), body-size normalisation",
        "adv_flow_ss_td_body", multi_seed=True, adversarial=True,
        pending="stopped at step 2000 of 8000 (2026-12-02, seed 0): actor C 77.4 mm with 37% depth flips, against "
                "41.5 for the row without the flow at that step; its curve is in "
                "results/runs/adv_flow_ss_td_body-seed0/metrics.jsonl"),
    Row("Adv+SS+TD, body-size normalisation, learned camera elevation (ElePose)", "adv_ss_td_body_elev",
        multi_seed=True, adversarial=True),
    Row("Adv+SS+DA+TD, body-size normalisation, learned camera elevation", "adv_ss_da_td_body_elev",
        multi_seed=True, adversarial=True),
    Row("Flow+SS+TD with learned camera elevation (ElePose's two parts), body-size normalisation",
        "flow_ss_td_body_elev", multi_seed=True,
        pending="stopped at step 1000 of 8000 (2026-12-02, seed 0): actor C 153.3 mm with 78% depth flips, the "
                "elevation estimate at its bound (-29 degrees); its curve is in "
                "results/runs/flow_ss_td_body_elev-seed0/metrics.jsonl"),
    # Test-time flip averaging (eval.flip_average): the same checkpoints, each lift averaged with its mirror's.
    Row("Adv+SS+TD, body-size normalisation, flip-averaged lifts", "adv_ss_td_body_flip", multi_seed=True,
        adversarial=True, eval_of="adv_ss_td_body"),
    Row("supervised (reference), body-size normalisation, flip-averaged lifts", "supervised_body_flip",
        multi_seed=True, eval_of="supervised_body"),
    Row("Adv+SS+TD, body-size normalisation, learned camera elevation, flip-averaged lifts",
        "adv_ss_td_body_elev_flip", multi_seed=True, adversarial=True, eval_of="adv_ss_td_body_elev"),
    Row("Adv+SS+DA+TD, body-size normalisation, learned camera elevation, flip-averaged lifts",
        "adv_ss_da_td_body_elev_flip", multi_seed=True, adversarial=True, eval_of="adv_ss_da_td_body_elev"),
    # The footage protocol (lifting/data/footage.py): every content, wide cameras, the detectors' joints and errors.
    Row("footage: the shipped recipe (Adv+SS+TD, body-size normalisation, learned elevation, flip-averaged)",
        "footage", multi_seed=True, adversarial=True),
    Row("footage: + the elevation prior (the batch's mean learned elevation kept >= 0)", "footage_prior",
        multi_seed=True, adversarial=True),
    Row("footage: elevation and roll read off the lifted body, camera distance 0.4-1.6 c, the elevation prior",
        "footage_wide", multi_seed=True, adversarial=True,
        pending="stopped at step 1600 of 8000 (2026-12-07, 3 seeds): footage test 91.5, 92.8 and 91.7 mm at step 1500 "
                "with 13-14% depth flips, against 68.7 and 68.2 for the two unflipped seeds of the row above it; the "
                "body-axis elevation settled at 3.3 degrees in every seed; its curves are in "
                "results/runs/footage_wide-seed*/metrics.jsonl"),
    Row("footage: + the in-the-wild 2D (LSPET, MPII) adapted to it (DA)", "footage_da", multi_seed=True,
        adversarial=True),
    Row("footage: + clean training 2D and the bandai rig's views of the training takes", "footage_clean",
        multi_seed=True, adversarial=True),
    Row("footage: + clean training 2D and the bandai rig's views, roll-averaged lifts", "footage_clean_roll",
        multi_seed=True, adversarial=True, eval_of="footage_clean"),
    Row("footage: + random views 0.4-1.6 c away, rolled up to 10 degrees", "footage_views", multi_seed=True,
        adversarial=True),
    Row("footage: + clean training 2D and the bandai rig's views, trained twice as long", "footage_long",
        multi_seed=True, adversarial=True),
    Row("footage: + clean training 2D and the bandai rig's views, trained twice as long, roll-averaged lifts",
        "footage_long_roll", multi_seed=True, adversarial=True, eval_of="footage_long"),
    Row("footage: + a lifter that sees 9 frames (temporal convolutions)", "footage_temporal", multi_seed=True,
        adversarial=True),
    Row("footage: supervised (reference)", "footage_supervised", multi_seed=True),
)
# Rows whose test inputs are not the exact 2D: read against the supervised row of the same inputs.
SUPERVISED_OF = {"adv_ss_td_noisy2d_test": "supervised_noisy2d_test", "adv_ss_td_noisy2d": "supervised_noisy2d",
                 **{slug: "supervised_body" for slug in ("adv_ss_td_body", "adv_ss_td_body_denoise",
                                                         "adv_ss_da_td_body",
                                                         "adv_ss_da_td_body_half", "adv_ss_da_td_body_denoise",
                                                         "flow_ss_td_body", "adv_flow_ss_td_body",
                                                         "adv_ss_td_body_elev", "flow_ss_td_body_elev",
                                                         "adv_ss_da_td_body_elev")},
                 "adv_ss_td_body_flip": "supervised_body_flip", "supervised_body_flip": "supervised_body_flip",
                 "adv_ss_td_body_elev_flip": "supervised_body_flip",
                 "adv_ss_da_td_body_elev_flip": "supervised_body_flip"}
ROWS_BY_SLUG = {r.slug: r for r in ROWS}
_METRICS = ("pa_mpjpe", "n_mpjpe", "pck", "auc", "depth_flip_rate", "worst_yaw_pa_mpjpe")
SUPERVISED = {"bandai/turned-rig": "supervised", "bandai/fixed-rig": "supervised_fixed_rig",
              "bandai/footage": "footage_supervised",
              "bandai/turned-rig+detector-like-2d": "supervised_noisy2d"}


def row_config(row: Row, seed: int, out: str, profile: str, steps: int = 0, source: str = ""):
  """The row's config as its module gives it, with this driver's seed, step override and run folders."""
  config = importlib.import_module(f"experiments.{row.slug}").get_config(profile)
  if source:
    config.data.source = source
  config.seed = seed
  if steps:
    config.train.num_steps = steps
    config.train.eval_every = config.train.checkpoint_every = max(steps // 4, 1)
    config.adapt.completion.num_steps = steps  # Detector-like 2D's completion network.
  if row.init_from:
    config.train.init_from = run_dir(out, row.init_from, seed)
  if config.data.extra.kind != "none":
    if steps:
      config.adapt.num_steps = config.adapt.completion.num_steps = steps
    config.data.extra.path = os.path.join(adapt_dir(out, config), "poses.npz")
  return config


def adapt_dir(out: str, config) -> str:
  """Where the command prepares the in-the-wild poses of ``config`` (one folder per adapt setting)."""
  from lifting.data import wild
  return os.path.join(out, "runs", f"adapt-{wild.cache_key(config)}")


def run_dir(out: str, slug: str, seed: int) -> str:
  return os.path.join(out, "runs", f"{slug}-seed{seed}")


def seeds_of(row: Row, num_seeds: int) -> list[int]:
  return list(range(num_seeds)) if row.multi_seed else [0]


def run_one(row: Row, seed: int, out: str, profile: str, steps: int, source: str = "") -> dict:
  """Trains (resuming) and evaluates one run, or evaluates another row's (``eval_of``); returns its results."""
  from lifting.evaluators import reports

  workdir = run_dir(out, row.slug, seed)
  results = common.finished(workdir)
  if results is not None:
    return results
  config = row_config(row, seed, out, profile, steps, source)
  if row.eval_of:  # An evaluation of another row's run with this row's test inputs.
    source_dir = run_dir(out, row.eval_of, seed)
    if common.finished(source_dir) is None:
      run_one(ROWS_BY_SLUG[row.eval_of], seed, out, profile, steps, source)
    os.makedirs(workdir, exist_ok=True)
    t0 = time.time()
    results = reports.evaluate(config, source_dir, results_dir=workdir)
    return common.mark_finished(workdir, {**results, "eval_of": source_dir}, time.time() - t0)
  return _train(config, row.slug, [seed], out)[0]


def run_seeds(row: Row, seeds: list[int], out: str, profile: str, steps: int, source: str = "") -> list[dict]:
  """The runs of ``row`` for ``seeds``: the unfinished ones trained together as one program where the row trains
  (not an evaluation, not a fine-tuning of other runs), each else by `run_one`."""
  todo = [s for s in seeds if common.finished(run_dir(out, row.slug, s)) is None]
  if len(todo) < 2 or row.eval_of or row.init_from:
    return [run_one(row, s, out, profile, steps, source) for s in seeds]
  _train(row_config(row, todo[0], out, profile, steps, source), row.slug, todo, out)
  return [common.finished(run_dir(out, row.slug, s)) for s in seeds]


def _train(config, slug: str, seeds: list[int], out: str) -> list[dict]:
  """Trains the runs of ``slug`` for ``seeds`` as one program, after preparing the in-the-wild poses it reads."""
  if config.data.extra.kind != "none":
    from lifting.training import adapt
    # Reuses an earlier preparation; the command draws the adapter's figures with the others.
    adapt.prepare(config, adapt_dir(out, config), figures=False)
  return common.train_runs(config, seeds, [run_dir(out, slug, s) for s in seeds])


def finished_runs(out: str, num_seeds: int) -> dict[str, list[dict]]:
  """Every row's finished runs in ``out``, whether run now or earlier (or on another machine, from the committed
  results), so the table always shows all of them."""
  done = {}
  for row in ROWS:
    for seed in seeds_of(row, num_seeds):
      results = common.finished(run_dir(out, row.slug, seed))
      if results is not None:
        done.setdefault(row.slug, []).append(results)
  return done


def _protocol(runs: list[dict]) -> str:
  return runs[0].get("protocol", "bandai/fixed-rig" if runs[0].get("data") == "bandai" else runs[0].get("data", "?"))


def _yaw_bins(runs: list[dict]) -> dict[str, float]:
  """Mean over seeds of each yaw bin's PA-MPJPE."""
  bins = runs[0].get("per_yaw", {})
  return {b: statistics.mean(r["per_yaw"][b]["pa_mpjpe"] for r in runs if b in r.get("per_yaw", {})) for b in bins}


def _worse_than_flat(run: dict) -> list[str]:
  """The yaw bins where one run is worse than the flat pose."""
  flat = run["baselines"]["flat"].get("per_yaw", {})
  return [b for b, v in run.get("per_yaw", {}).items() if b in flat and v["pa_mpjpe"] > flat[b]["pa_mpjpe"]]


_HEADER = ["| row | seeds | steps | PA-MPJPE (mm) | N-MPJPE (mm) | PCK@150 (%) | AUC (%) | PA-MPJPE / supervised | "
           "depth flips (%) | worst yaw bin (mm) | swing, last 5 evals (mm) | wall time per run |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]


def write_table(out: str, done: dict[str, list[dict]], profile: str) -> str:
  """``table.md`` and ``table.json`` from the finished runs, one section per protocol (rows without runs
  show why). Every run reports the weights its config names (``weights`` in table.json); the swing is
  the largest range of a seed's last five evaluations, the worst yaw bin the largest of any seed."""
  by_protocol: dict[str, list[Row]] = {}
  for row in ROWS:
    if done.get(row.slug):
      by_protocol.setdefault(_protocol(done[row.slug]), []).append(row)
  missing = [r for r in ROWS if not done.get(r.slug)]
  table = {"profile": profile, "protocols": {}, "rows": {}}
  lines = []
  for protocol, rows in by_protocol.items():
    sup_runs = done.get(SUPERVISED.get(protocol, "supervised"), [])
    sup_pa = statistics.mean(r["pa_mpjpe"] for r in sup_runs) if sup_runs and _protocol(sup_runs) == protocol else None
    first = done[rows[0].slug][0]
    lines += [f"### Protocol {protocol}", "", *_HEADER]
    table["protocols"][protocol] = {"baselines": first["baselines"], "supervised_pa_mpjpe": sup_pa}
    for name, b in first["baselines"].items():
      ratio = f"{b['pa_mpjpe'] / sup_pa:.2f}" if sup_pa else ""
      worst = f"{max(v['pa_mpjpe'] for v in b['per_yaw'].values()):.1f}" if "per_yaw" in b else ""
      lines.append(f"| baseline: {name.replace('_', ' ')} | | | {b['pa_mpjpe']:.1f} | {b['n_mpjpe']:.1f} | "
                   f"{100 * b['pck']:.1f} | {100 * b['auc']:.1f} | {ratio} | | {worst} | | |")
    for row in rows:
      runs = done[row.slug]
      vals = {k: [r[k] for r in runs] for k in _METRICS if all(k in r for r in runs)}
      row_sup = sup_pa
      if row.slug in SUPERVISED_OF:  # Read against the supervised lifter given the same inputs.
        ref = done.get(SUPERVISED_OF[row.slug], [])
        row_sup = statistics.mean(r["pa_mpjpe"] for r in ref) if ref else None
      ratio = f"{statistics.mean(vals['pa_mpjpe']) / row_sup:.2f}" if row_sup else ""
      wall = statistics.mean(r["wall_s"] for r in runs)
      swings = [r["last_evals"]["range"] for r in runs if "last_evals" in r]
      flips = common.mean_sd(vals["depth_flip_rate"], 100) if "depth_flip_rate" in vals else ""
      worst = f"{max(vals['worst_yaw_pa_mpjpe']):.1f}" if "worst_yaw_pa_mpjpe" in vals else ""
      lines.append(f"| {row.name} | {len(runs)} | {runs[0]['step']} | {common.mean_sd(vals['pa_mpjpe'])} | "
                   f"{common.mean_sd(vals['n_mpjpe'])} | {common.mean_sd(vals['pck'], 100)} | "
                   f"{common.mean_sd(vals['auc'], 100)} | "
                   f"{ratio} | {flips} | {worst} | {f'{max(swings):.1f}' if swings else ''} | {wall / 60:.1f} min |")
      table["rows"][row.slug] = {
          "name": row.name, "protocol": protocol, "seeds": len(runs), "steps": runs[0]["step"],
          "weights": runs[0].get("weights", "raw"), "wall_s": [r["wall_s"] for r in runs],
          **{k: {"mean": statistics.mean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0, "per_seed": v}
             for k, v in vals.items()},
          "ratio_to_supervised": statistics.mean(vals["pa_mpjpe"]) / row_sup if row_sup else None,
          "swing_last5_mm": swings,
          **({"extra": runs[0]["extra"]} if "extra" in runs[0] else {}),
          **({"per_yaw_pa_mpjpe": _yaw_bins(runs)} if "per_yaw" in runs[0] else {}),
          **({"yaw_bins_worse_than_flat": [_worse_than_flat(r) for r in runs]} if row.adversarial else {}),
          "per_action_pa_mpjpe": {a: statistics.mean(r["per_action"][a]["pa_mpjpe"] for r in runs)
                                  for a in runs[0].get("per_action", {})}}
    lines += ["", *yaw_table(protocol, rows, done, first), ""]
  general = [row for row in ROWS if done.get(row.slug) and all("generalisation" in r for r in done[row.slug])]
  if general:
    lines += generalisation_table(general, done, table)
  filmed = [row for row in general if all("footage_test" in r["generalisation"] for r in done[row.slug])]
  if filmed:
    lines += footage_table(filmed, done, table)
  for row in missing:
    lines.append(f"- {row.name}: {row.pending or 'not run'}")
  text = "\n".join(lines).rstrip() + "\n"
  with open(os.path.join(out, "table.md"), "w") as f:
    f.write(text)
  with open(os.path.join(out, "table.json"), "w") as f:
    json.dump(table, f, indent=2)
  return text


GENERAL_SETS = ("actor_c", "dataset1_dev", "dataset1_test", "cross_body")
# The supervised reference each generalisation row is read against: the one trained on the same inputs.
GENERAL_SUPERVISED = "supervised_body"


def _general(runs: list[dict]) -> dict:
  """Per generalisation set: the mean, sd and per-seed PA-MPJPE through lift(), the normalised path's, the flat
  pose's, and per group (content, body) the mean through lift() and the flat pose's."""
  out = {}
  for name in GENERAL_SETS:
    if not all(name in r["generalisation"] for r in runs):
      continue
    sets = [r["generalisation"][name] for r in runs]
    entry = {}
    for path in ("lift", "normalised", "flat"):
      v = [s[path]["pa_mpjpe"] for s in sets]
      entry[path] = {"mean": statistics.mean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0, "per_seed": v}
    groups = sets[0]["lift"].get("per_group", {})
    entry["per_group"] = {g: {"lift": statistics.mean(s["lift"]["per_group"][g] for s in sets),
                              "flat": sets[0]["flat"]["per_group"][g]} for g in groups}
    entry["num_poses"] = sets[0]["num_poses"]
    out[name] = entry
  return out


def generalisation_table(rows: list[Row], done: dict, table: dict) -> list[str]:
  """Markdown lines of the generalisation section (PA-MPJPE through Model.lift from pixels, mean ± sd over
  seeds, per set; the ratio to the supervised reference on the same inputs; the worst dataset-1 test content
  against the flat pose); fills ``table["generalisation"]``."""
  stats = {row.slug: _general(done[row.slug]) for row in rows}
  table["generalisation"] = {"supervised_reference": {r.slug: SUPERVISED_OF.get(r.slug, GENERAL_SUPERVISED)
                                                      for r in rows},
                             "dataset1_split": _dataset1_split(), "rows": stats}
  lines = ["### Generalisation: PA-MPJPE (mm) through `Model.lift` from pixels", "",
           "Test actor C (in-domain); bandai dataset-1's dev and held-out test contents (other motions, never "
           "trained on); actor C's motions on 8 other bodies (cross-body). The normalised path beside actor C; "
           "x sup.: the ratio to the supervised reference on the same inputs (body-size normalisation, with "
           "flip averaging for the flip-averaged rows); worst content: the held-out content with the highest "
           "ratio to the flat pose.", "",
           "| row | seeds | actor C | actor C, normalised path | dataset-1 dev | dataset-1 test | x sup. | "
           "cross-body | x sup. | worst content / flat |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
  first = next(iter(stats.values()))
  flat = lambda name: f"{first[name]['flat']['mean']:.1f}" if name in first else ""  # noqa: E731
  lines.append(f"| flat pose | | {flat('actor_c')} | | {flat('dataset1_dev')} | {flat('dataset1_test')} | | "
               f"{flat('cross_body')} | | |")
  for row in rows:
    st = stats[row.slug]
    sup = stats.get(SUPERVISED_OF.get(row.slug, GENERAL_SUPERVISED), {})  # The reference given the same inputs.
    cell = functools.partial(_lift_cell, st)
    ratio = functools.partial(_ratio_cell, st, sup)
    worst = ""
    if "dataset1_test" in st:
      g = st["dataset1_test"]["per_group"]
      name = max(g, key=lambda k: g[k]["lift"] / g[k]["flat"])
      worst = f"{name} {g[name]['lift'] / g[name]['flat']:.2f}"
    normalised = common.mean_sd(st["actor_c"]["normalised"]["per_seed"]) if "actor_c" in st else ""
    lines.append(f"| {row.name} | {len(done[row.slug])} | {cell('actor_c')} | {normalised} | {cell('dataset1_dev')} | "
                 f"{cell('dataset1_test')} | {ratio('dataset1_test')} | {cell('cross_body')} | "
                 f"{ratio('cross_body')} | {worst} |")
  contents = sorted({g for st in stats.values() for g in st.get("dataset1_test", {}).get("per_group", {})})
  if contents:
    lines += ["", "Dataset-1 held-out contents, PA-MPJPE (mm) through lift() (mean over seeds):", "",
              "| row | " + " | ".join(contents) + " |", "| --- |" + " ---: |" * len(contents)]
    g0 = first["dataset1_test"]["per_group"]
    lines.append("| flat pose | " + " | ".join(f"{g0[c]['flat']:.1f}" if c in g0 else "" for c in contents) + " |")
    for row in rows:
      g = stats[row.slug].get("dataset1_test", {}).get("per_group", {})
      lines.append(f"| {row.name} | " + " | ".join(f"{g[c]['lift']:.1f}" if c in g else "" for c in contents) + " |")
  return lines + [""]


def footage_table(rows: list[Row], done: dict, table: dict) -> list[str]:
  """Markdown lines of the footage protocol's section (through Model.lift from pixels, mean ± sd over seeds): the
  test and dev contents' PA-MPJPE, its ratio to the flat pose, the view consistency and the worst joints; fills
  ``table["footage"]``."""
  out = {}
  lines = ["### The footage protocol: PA-MPJPE (mm) through `Model.lift` from detector-like 2D", "",
           "Dataset-1's held-out contents (test) and the dev contents, each take on a body with the detectors' joints, "
           "filmed by 4 cameras drawn as people film (0.5-3 m high, 2-8 m away, -10 to 45 degrees); x flat: the "
           "ratio to the flat pose; views: two cameras' lifts of one instant against each other after alignment "
           "(mm); worst joints: the test set's largest per-joint errors (mean over seeds).", "",
           "| row | seeds | test | x flat | views (mm) | dev | x flat | worst joints |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
  for row in rows:
    sets = [r["generalisation"] for r in done[row.slug]]
    entry = {}
    for name in ("footage_test", "footage_dev"):
      pa = [g[name]["lift"]["pa_mpjpe"] for g in sets]
      flat = sets[0][name]["flat"]["pa_mpjpe"]
      entry[name] = {"per_seed": pa, "mean": statistics.mean(pa), "flat": flat,
                     "view_consistency_mm": [g[name].get("view_consistency_mm") for g in sets]}
    joints = sets[0]["footage_test"]["lift"].get("per_joint", {})
    entry["per_joint"] = {j: statistics.mean(g["footage_test"]["lift"]["per_joint"][j] for g in sets) for j in joints}
    out[row.slug] = entry
    views = [v for v in entry["footage_test"]["view_consistency_mm"] if v is not None]
    per_joint = entry["per_joint"]
    worst = ", ".join(f"{j} {per_joint[j]:.0f}" for j in sorted(per_joint, key=per_joint.get, reverse=True)[:3])
    t, d = entry["footage_test"], entry["footage_dev"]
    lines.append(f"| {row.name} | {len(sets)} | {common.mean_sd(t['per_seed'])} | {t['mean'] / t['flat']:.2f} | "
                 f"{common.mean_sd(views) if views else ''} | {common.mean_sd(d['per_seed'])} | "
                 f"{d['mean'] / d['flat']:.2f} | {worst} |")
  first = out[rows[0].slug]
  lines.insert(6, f"| flat pose | | {first['footage_test']['flat']:.1f} | 1.00 | | {first['footage_dev']['flat']:.1f} "
                  "| 1.00 | |")
  table["footage"] = out
  return lines + [""]


def _lift_cell(stats: dict, name: str) -> str:
  return common.mean_sd(stats[name]["lift"]["per_seed"]) if name in stats else ""


def _ratio_cell(stats: dict, reference: dict, name: str) -> str:
  if name not in stats or name not in reference:
    return ""
  return f"{stats[name]['lift']['mean'] / reference[name]['lift']['mean']:.2f}"


def _dataset1_split() -> dict:
  from lifting.data import bandai
  return {k: list(v) for k, v in bandai.DATASET1_SPLIT.items()}


def yaw_table(protocol: str, rows: list[Row], done: dict, first: dict) -> list[str]:
  """Markdown lines: PA-MPJPE per yaw bin (mean over seeds) for the flat pose and each row of ``protocol``."""
  flat = first["baselines"]["flat"].get("per_yaw")
  if not flat:
    return []
  bins = list(flat)
  share = " | ".join(f"{100 * flat[b]['share']:.0f}%" for b in bins)
  lines = [f"PA-MPJPE (mm) by the subject's yaw towards the camera ({protocol}; 0 = facing it; share of test poses "
           "in the second row):", "", "| row | " + " | ".join(f"{b}°" for b in bins) + " |",
           "| --- |" + " ---: |" * len(bins), f"| share of test poses | {share} |",
           "| baseline: flat | " + " | ".join(f"{flat[b]['pa_mpjpe']:.1f}" for b in bins) + " |"]
  for row in rows:
    means = _yaw_bins(done[row.slug])
    if means:
      lines.append(f"| {row.name} | " + " | ".join(f"{means[b]:.1f}" if b in means else "" for b in bins) + " |")
  return lines


def main(argv):
  del argv
  from lifting.training import logs

  logs.setup_cli_logging()
  rows = [r for r in ROWS if not common.ONLY.value or r.slug in common.ONLY.value]
  unknown = set(common.ONLY.value) - {r.slug for r in ROWS}
  if unknown:
    raise app.UsageError(f"unknown rows {sorted(unknown)}; known: {[r.slug for r in ROWS]}")
  jobs = [(row, [s for s in seeds_of(row, common.SEEDS.value) if s >= common.FIRST_SEED.value])
          for row in rows if not row.pending]
  jobs = [(row, seeds) for row, seeds in jobs if seeds]
  t_start = time.time()
  for i, (row, seeds) in enumerate(jobs):
    logs.log(f"[{i + 1}/{len(jobs)}] {row.name}, seeds {seeds} ({(time.time() - t_start) / 60:.1f} min so far)")
    if _ONE_PROGRAM.value:
      run_seeds(row, seeds, common.OUT.value, _PROFILE.value, common.STEPS.value, _DATA.value)
    else:
      for seed in seeds:
        run_one(row, seed, common.OUT.value, _PROFILE.value, common.STEPS.value, _DATA.value)
    write_table(common.OUT.value, finished_runs(common.OUT.value, common.SEEDS.value), _PROFILE.value)
  done = finished_runs(common.OUT.value, common.SEEDS.value)
  print(write_table(common.OUT.value, done, _PROFILE.value), end="")
  if _FIGURES.value:
    draw_figures(common.OUT.value, done, _PROFILE.value, common.STEPS.value, _DATA.value)


def draw_figures(out: str, done: dict, profile: str, steps: int = 0, source: str = "") -> list[str]:
  from experiments.drivers import figures
  rows = {r.slug: r for r in ROWS}
  paths = figures.draw_all(out, done, lambda slug: row_config(rows[slug], 0, out, profile, steps, source),
                           lambda slug: run_dir(out, slug, 0), {s: r.name for s, r in rows.items()},
                           run_dirs=lambda slug: [run_dir(out, slug, s) for s in range(len(done[slug]))])
  da = next((r for r in ROWS if r.slug == "adv_ss_da" and done.get(r.slug)), None)
  if da is not None:  # Fig. 5, the mean corrections and the ratio distributions of the DA rows' adapter.
    from lifting.training import adapt
    config = row_config(da, 0, out, profile, steps, source)
    if os.path.exists(config.data.extra.path):
      paths += adapt.figures_from_cache(config, os.path.join(out, "figures"))
    else:  # The prepared poses are not kept in the repository: a table resumed elsewhere keeps the old figures.
      logging.info("figures: no prepared source poses at %s (run.py --mode=adapt makes them); the adaptation "
                   "figures are left as they are", config.data.extra.path)
  for path in paths:
    logging.info("wrote %s", path)
  return paths

if __name__ == "__main__":
  app.run(main)
