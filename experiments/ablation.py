"""Trains and evaluates every row of our Table 3 on the bandai benchmark, then writes the table and figures.

    python -m experiments.ablation --out=results                  # CPU profile, 3 seeds for Adv rows
    python -m experiments.ablation --out=results --seeds=1        # single seed: the quick table
    python -m experiments.ablation --out=results --profile=paper  # paper scale, for a GPU/TPU

Each row is one config of this folder, a small override of `default.py`. Runs go to
``OUT/runs/<row>-seed<k>``; a finished run (``results.json`` present) is skipped and an
interrupted one resumes from its checkpoint, so the command can be stopped and restarted.
Writes ``OUT/table.md``, ``OUT/table.json`` and ``OUT/figures/*.png``.

The DA rows and their controls read in-the-wild poses prepared by ``run.py --mode=adapt``
(`lifting.adapt.prepare`); the command prepares them first, once per adapt setting, in
``OUT/runs/adapt-<key>`` (adapted and raw poses, adapter, counts and diagnostics).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import statistics
import time

from absl import app
from absl import flags
from absl import logging

_OUT = flags.DEFINE_string("out", "results", "Output folder.")
_PROFILE = flags.DEFINE_enum("profile", "cpu", ["cpu", "paper"], "Config profile of every row.")
_SEEDS = flags.DEFINE_integer("seeds", 3, "Seeds for the multi-seed rows (Adv, Adv+SS, Adv+SS+TD).")
_ONLY = flags.DEFINE_list("only", [], "Rows to run, by slug (default: all).")
_STEPS = flags.DEFINE_integer("steps", 0, "Override train.num_steps of every row (0: keep; for smoke tests).")
_FIGURES = flags.DEFINE_bool("figures", True, "Draw the figures after the table.")
_DATA = flags.DEFINE_string("data", "bandai", "data.source of every row (the benchmark; 'synthetic' for a dry run).")


@dataclasses.dataclass(frozen=True)
class Row:
  name: str                      # As in the table.
  slug: str                      # Config module in experiments/, and run folder prefix.
  multi_seed: bool = False
  init_from: str | None = None   # Slug of the row whose seed-0 run this one fine-tunes.
  pending: str | None = None     # Why the row has no numbers yet.


ROWS = (
    Row("SS", "ss"),
    Row("SS+Symm", "ss_symm"),
    Row("Adv", "adv", multi_seed=True),
    Row("Adv+SS", "adv_ss", multi_seed=True),
    Row("Adv+SS+TD", "adv_ss_td", multi_seed=True),
    Row("Adv+DA", "adv_da", multi_seed=True),
    Row("Adv+SS+DA", "adv_ss_da", multi_seed=True),
    Row("Adv+SS+DA+TD", "adv_ss_da_td", multi_seed=True),
    Row("Adv+SS + raw source poses (control)", "adv_ss_raw", multi_seed=True),
    Row("Adv+SS+DA, complete source poses only", "adv_ss_da_complete_only", multi_seed=True),
    Row("Adv+SS+DA, half of each batch in-the-wild", "adv_ss_da_half", multi_seed=True),
    Row("supervised (reference)", "supervised"),
    Row("semi-supervised 5% (from Adv+SS+TD)", "semi_supervised", init_from="adv_ss_td"),
)
_METRICS = ("pa_mpjpe", "n_mpjpe", "pck", "auc")


def row_config(row: Row, seed: int, out: str, profile: str, steps: int = 0, source: str = "bandai"):
  config = importlib.import_module(f"experiments.{row.slug}").get_config(profile)
  config.data.source = source
  config.seed = seed
  if steps:
    config.train.num_steps = steps
    config.train.eval_every = config.train.checkpoint_every = max(steps // 4, 1)
  if row.init_from:
    config.train.init_from = run_dir(out, row.init_from, 0)
  if config.data.extra.kind != "none":
    if steps:
      config.adapt.num_steps = config.adapt.completion.num_steps = steps
    config.data.extra.path = os.path.join(adapt_dir(out, config), "poses.npz")
  return config


def adapt_dir(out: str, config) -> str:
  """Where the command prepares the in-the-wild poses of ``config`` (one folder per adapt setting)."""
  from lifting.data import wild  # pylint: disable=import-outside-toplevel
  return os.path.join(out, "runs", f"adapt-{wild.cache_key(config)}")


def run_dir(out: str, slug: str, seed: int) -> str:
  return os.path.join(out, "runs", f"{slug}-seed{seed}")


def seeds_of(row: Row, num_seeds: int) -> list[int]:
  return list(range(num_seeds)) if row.multi_seed else [0]


def run_one(row: Row, seed: int, out: str, profile: str, steps: int, source: str = "bandai") -> dict:
  """Trains (resuming) and evaluates one run; returns its results with the wall time of training."""
  from lifting import train  # pylint: disable=import-outside-toplevel
  from lifting import evaluate as evaluate_lib  # pylint: disable=import-outside-toplevel

  workdir = run_dir(out, row.slug, seed)
  results_path = os.path.join(workdir, "results.json")
  if os.path.exists(results_path):  # Written only once a run has finished.
    with open(results_path) as f:
      return json.load(f)
  config = row_config(row, seed, out, profile, steps, source)
  if config.data.extra.kind != "none":
    from lifting import adapt  # pylint: disable=import-outside-toplevel
    # Reuses an earlier preparation; the command draws the adapter's figures with the others.
    adapt.prepare(config, adapt_dir(out, config), figures=False)
  os.makedirs(workdir, exist_ok=True)
  partial = os.path.join(workdir, "timing.partial.json")  # Time of earlier, interrupted attempts.
  spent = 0.0
  if os.path.exists(partial):
    with open(partial) as f:
      spent = json.load(f)["wall_s"]
  t0 = time.time()
  try:
    results = train.train_and_evaluate(config, workdir)  # Ends with a test evaluation and the baselines.
  finally:
    with open(partial, "w") as f:
      json.dump({"wall_s": spent + time.time() - t0}, f)
  results["wall_s"] = round(spent + time.time() - t0, 1)
  evaluate_lib.write_results(workdir, results)
  return results


def _mean_std(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
  if len(values) == 1:
    return f"{scale * values[0]:.{digits}f}"
  return f"{scale * statistics.mean(values):.{digits}f} ± {scale * statistics.stdev(values):.{digits}f}"


def write_table(out: str, done: dict[str, list[dict]], profile: str) -> str:
  """``table.md`` and ``table.json`` from the finished runs (rows without runs show why)."""
  lines = ["| row | seeds | steps | PA-MPJPE (mm) | N-MPJPE (mm) | PCK@150 (%) | AUC (%) | PA-MPJPE / supervised | "
           "wall time per run |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
  table = {"profile": profile, "rows": {}}
  sup = done.get("supervised")
  sup_pa = statistics.mean(r["pa_mpjpe"] for r in sup) if sup else None
  any_run = next((runs[0] for runs in done.values() if runs), None)
  if any_run:
    table["baselines"] = any_run["baselines"]
    for name, b in any_run["baselines"].items():
      ratio = f"{b['pa_mpjpe'] / sup_pa:.2f}" if sup_pa else ""
      lines.append(f"| baseline: {name.replace('_', ' ')} | | | {b['pa_mpjpe']:.1f} | {b['n_mpjpe']:.1f} | "
                   f"{100 * b['pck']:.1f} | {100 * b['auc']:.1f} | {ratio} | |")
  for row in ROWS:
    runs = done.get(row.slug, [])
    if row.pending or not runs:
      lines.append(f"| {row.name} | | | {row.pending or 'not run'} | | | | | |")
      continue
    vals = {k: [r[k] for r in runs] for k in _METRICS}
    ratio = f"{statistics.mean(vals['pa_mpjpe']) / sup_pa:.2f}" if sup_pa else ""
    wall = statistics.mean(r["wall_s"] for r in runs)
    lines.append(f"| {row.name} | {len(runs)} | {runs[0]['step']} | {_mean_std(vals['pa_mpjpe'])} | "
                 f"{_mean_std(vals['n_mpjpe'])} | {_mean_std(vals['pck'], 100)} | {_mean_std(vals['auc'], 100)} | "
                 f"{ratio} | {wall / 60:.1f} min |")
    table["rows"][row.slug] = {
        "name": row.name, "seeds": len(runs), "steps": runs[0]["step"], "wall_s": [r["wall_s"] for r in runs],
        **{k: {"mean": statistics.mean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0, "per_seed": v}
           for k, v in vals.items()},
        **({"extra": runs[0]["extra"]} if "extra" in runs[0] else {}),
        "per_action_pa_mpjpe": {a: statistics.mean(r["per_action"][a]["pa_mpjpe"] for r in runs)
                                for a in runs[0].get("per_action", {})}}
  text = "\n".join(lines) + "\n"
  with open(os.path.join(out, "table.md"), "w") as f:
    f.write(text)
  with open(os.path.join(out, "table.json"), "w") as f:
    json.dump(table, f, indent=2)
  return text


def main(argv):
  del argv
  from lifting import logs  # pylint: disable=import-outside-toplevel

  logs.setup_cli_logging()
  rows = [r for r in ROWS if not _ONLY.value or r.slug in _ONLY.value]
  unknown = set(_ONLY.value) - {r.slug for r in ROWS}
  if unknown:
    raise app.UsageError(f"unknown rows {sorted(unknown)}; known: {[r.slug for r in ROWS]}")
  jobs = [(row, seed) for row in rows if not row.pending for seed in seeds_of(row, _SEEDS.value)]
  done: dict[str, list[dict]] = {}
  t_start = time.time()
  for i, (row, seed) in enumerate(jobs):
    logs.log(f"[{i + 1}/{len(jobs)}] {row.name}, seed {seed} ({(time.time() - t_start) / 60:.1f} min so far)")
    done.setdefault(row.slug, []).append(run_one(row, seed, _OUT.value, _PROFILE.value, _STEPS.value, _DATA.value))
    write_table(_OUT.value, done, _PROFILE.value)
  print(write_table(_OUT.value, done, _PROFILE.value), end="")
  if _FIGURES.value:
    draw_figures(_OUT.value, done, _PROFILE.value, _STEPS.value, _DATA.value)


def draw_figures(out: str, done: dict, profile: str, steps: int = 0, source: str = "bandai") -> list[str]:
  from experiments import figures  # pylint: disable=import-outside-toplevel
  rows = {r.slug: r for r in ROWS}
  paths = figures.draw_all(out, done, lambda slug: row_config(rows[slug], 0, out, profile, steps, source),
                           lambda slug: run_dir(out, slug, 0), {s: r.name for s, r in rows.items()})
  da = next((r for r in ROWS if r.slug == "adv_ss_da" and done.get(r.slug)), None)
  if da is not None:  # Fig. 5, the mean corrections and the ratio distributions of the DA rows' adapter.
    from lifting import adapt  # pylint: disable=import-outside-toplevel
    paths += adapt.figures_from_cache(row_config(da, 0, out, profile, steps, source), os.path.join(out, "figures"))
  for path in paths:
    logging.info("wrote %s", path)
  return paths

if __name__ == "__main__":
  app.run(main)
