"""The training loop: resume, the compiled step in calls, metrics, evaluations and checkpoints.

`train_and_evaluate(config, workdir)` is what ``run.py`` calls. The step itself is
`lifting.training.train_step`, the training set on the devices `lifting.training.pool`, and the evaluation
`lifting.evaluators`.
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp

from lifting import configs
from lifting.core import flow as flow_lib
from lifting.core import skeleton
from lifting.data import pipeline
from lifting.evaluators import history
from lifting.evaluators import lifts
from lifting.evaluators import reports
from lifting.evaluators import test_set
from lifting.training import checkpoint
from lifting.training import logs
from lifting.training import memory
from lifting.training import pool as pool_lib
from lifting.training import train_step


def call_size(step: int, last: int, k: int, every: tuple[int, ...]) -> int:
  """Steps in the call that starts at ``step``: ``k``, or 1 where ``k`` would run past ``last`` or past
  a multiple of some ``every`` (a step where the loop logs, evaluates or saves)."""
  stop = min(last, *((step // n + 1) * n for n in every))
  return k if step + k <= stop else 1


def warm_start(states: train_step.TrainStates, workdir: str) -> train_step.TrainStates:
  """``states`` with the parameters (and batch statistics) of the newest good checkpoint in ``workdir``: its
  moving average when it kept one (the weights its results report), else its raw weights.

  Step counters and optimiser states stay fresh: fine-tuning (e.g. semi-supervised, sec. 4.4)
  starts its own schedule from a trained network. The networks must match the checkpoint's.
  ``workdir`` is a source: nothing in it is created, moved or changed.
  """
  folder = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(folder):
    raise ValueError(f"train.init_from: no checkpoints/ folder in {workdir} to start from")
  source = checkpoint.Checkpointer(folder, create=False)
  try:
    try:
      step, trained = source.restore_with_step(states)
    except checkpoint.CheckpointMismatch as e:
      raise ValueError(f"train.init_from: the checkpoint in {workdir} holds other networks than this config "
                       f"builds ({e})") from None
    except checkpoint.CheckpointError as e:
      raise ValueError(f"train.init_from: {e}") from None
    logs.log(f"initialised from step {step} of {workdir}")
  finally:
    source.close()
  # Starts from the weights the source run reports: its moving average when it kept one.
  source_weights = trained.lifter.variables("ema" if trained.lifter.ema_params is not None else "raw")
  lifter = states.lifter.replace(params=source_weights["params"], batch_stats=source_weights["batch_stats"])
  if lifter.ema_params is not None:  # Copies: the step donates the state, and no buffer may be donated twice.
    lifter = lifter.replace(ema_params=jax.tree.map(jnp.copy, source_weights["params"]),
                            ema_batch_stats=jax.tree.map(jnp.copy, source_weights["batch_stats"]))
  new = {"lifter": lifter}
  for name in ("pose_disc", "temporal_disc"):
    if getattr(states, name) is not None:
      new[name] = getattr(states, name).replace(params=getattr(trained, name).params)
  return train_step.TrainStates(**new)


@jax.jit
def _finite_leaves(tree):
  return [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]


def check_states_finite(step: int, states) -> None:
  """Raises `FloatingPointError` naming the first array of ``states`` with a NaN or infinity (one reduction per
  array on the device; run before every checkpoint, so a diverged state is never saved)."""
  flags = jax.device_get(_finite_leaves(states))
  if all(flags):
    return
  bad = [n for n, ok in zip(checkpoint.leaf_names(states), flags) if not ok]
  raise FloatingPointError(f"non-finite values in {bad[0]} (and {len(bad) - 1} more arrays) after step {step}")


def _per_seed(pending: list, num_seeds: int) -> list[list]:
  """``pending`` split into each seed's: with several seeds in one program each metric's last axis is the seed.
  One transfer to the host for all of them, then numpy slices (not a dispatch per metric and seed)."""
  if num_seeds == 1:
    return [pending]
  host = jax.device_get([m for _, m in pending])
  return [[(step, {k: v[..., i] for k, v in metrics.items()}) for (step, _), metrics in zip(pending, host)]
          for i in range(num_seeds)]


def _batch_text(config, data: pipeline.PoseData, window: int, num_devices: int) -> str:
  extra = 0 if data.extra_2d is None else len(data.extra_2d)
  windows, batch_extra = configs.batch_split(config, len(data.train_2d), extra, num_devices)
  text = f"{windows} windows of {window}"
  if batch_extra:
    text += f" + {batch_extra} of {extra:,} extra {config.data.extra.kind} source poses"
  return text


def seed_config(config, seed: int):
  """The config of one seed's run: ``config`` with that seed, alone (``train.seeds = 1``), as its folder's
  ``config.json`` says, so the folder resumes and evaluates like any single run."""
  one = config.copy_and_resolve_references()
  one.seed, one.train.seeds = seed, 1
  return one


def train_and_evaluate(config, workdir: str) -> dict[int, dict]:
  """Trains per ``config``, resuming from the latest checkpoint in ``workdir``; returns ``{seed: that run's
  results}`` (its test metrics), for one seed as for several.

  Writes ``config.json``, ``metrics.jsonl``, TensorBoard events and ``checkpoints/`` in
  ``workdir``. Everything random derives from ``config.seed`` and the step, so a run that is
  killed and restarted ends with the same parameters as one that was not. With a 3D test set
  the test errors are logged every ``train.eval_every`` steps, and the returned results carry
  the trivial baselines beside them.

  With ``train.seeds = S > 1``, seeds ``config.seed`` .. ``config.seed + S - 1`` train as one compiled program
  (`train_seeds`), each in ``workdir/seed<k>`` (`run_folders`).
  """
  seeds, workdirs = run_folders(config, workdir)
  return dict(zip(seeds, train_seeds(config, seeds, workdirs)))


def run_folders(config, workdir: str) -> tuple[list[int], list[str]]:
  """``(seeds, folders)`` of the runs ``config`` trains in ``workdir``: its seed in ``workdir`` itself, or with
  ``train.seeds = S > 1`` seeds ``config.seed`` .. ``+ S - 1`` in ``workdir/seed<k>``."""
  if config.train.seeds == 1:
    return [config.seed], [workdir]
  seeds = [config.seed + i for i in range(config.train.seeds)]
  return seeds, [os.path.join(workdir, f"seed{k}") for k in seeds]


class _Run:
  """One seed's run: its config, folder, logs, checkpoints and base key."""

  def __init__(self, config, workdir: str, data: pipeline.PoseData):
    self.config, self.workdir = config, workdir
    self.init_key, self.train_key = jax.random.split(jax.random.key(config.seed))
    self.writer = logs.MetricWriter(workdir, enabled=jax.process_index() == 0)
    self.writer.write_config(config)
    pipeline.write_normalization(workdir, config, data)
    self.ckpt = checkpoint.Checkpointer(f"{workdir}/checkpoints", config.train.max_checkpoints, quarantine=True)
    self.results: dict = {}
    self.pred3d = None  # The reported weights' lifts of the test poses at the latest evaluation.
    self.saved = None
    self.closed = False

  def close(self) -> None:
    if self.closed:
      return
    self.closed = True
    try:
      self.ckpt.close()  # Also on a failure: the in-flight save of the last good step completes.
    finally:
      self.writer.close()


def train_seeds(config, seeds: list[int], workdirs: list[str]) -> list[dict]:
  """Trains one run of ``config`` per seed, each in its workdir, as one compiled program: the update is vmapped
  over a leading seed axis of the states and keys (each seed its own initialisation, batches, dropout and
  rotations; the training set on the devices and the program are shared). Each workdir holds what a
  single run's does (its config says its own seed and ``train.seeds = 1``), resumes and is evaluated
  like one; all must be at one step. One seed is the plain single-run path. Returns each run's results."""
  if len(seeds) != len(workdirs) or not seeds:
    raise ValueError(f"train_seeds: expected one workdir per seed, got seeds {seeds} and {len(workdirs)} workdirs")
  if len(seeds) > 1 and config.loss.w_flow > 0:
    raise ValueError("train.seeds > 1: the flow prior of loss.w_flow is fitted per run; train its seeds one by one")
  runs_configs = [seed_config(config, s) for s in seeds]
  configs.validate(config)
  # Checks that need no data, then the data, then what fits: nothing is written before all have passed.
  if len(seeds) > 1 and config.train.init_from:  # Fine-tuning each seed from its own run where there is one.
    for c in runs_configs:
      own = os.path.join(config.train.init_from, f"seed{c.seed}")
      c.train.init_from = own if os.path.isdir(own) else config.train.init_from
  for workdir in workdirs:
    checkpoint.check_folder(os.path.join(workdir, "checkpoints"))
  _check_layout(config, workdirs)
  for source in {c.train.init_from for c in runs_configs} - {""}:
    if not os.path.isdir(os.path.join(source, "checkpoints")):
      raise ValueError(f"train.init_from: no checkpoints/ folder in {source} to start from")
  layout = skeleton.get_layout(config.layout)
  data = pipeline.load(config)
  configs.validate_against(config, data, jax.device_count(), jax.process_count())
  mesh = train_step.make_mesh()
  models = train_step.build_models(config)
  window = configs.window_size(config)
  memory.check_fits(config, models, layout, data, mesh)

  runs = []
  try:
    for c, workdir in zip(runs_configs, workdirs):
      runs.append(_Run(c, workdir, data))
    return _train(config, runs, data, mesh, models, layout, window)
  finally:
    for run in runs:
      run.close()


def _check_layout(config, workdirs: list[str]) -> None:
  """Refuses a run whose folder holds the other kind: one run where several seeds' runs are (``seed<k>/``), or
  several seeds' runs inside one run's folder."""
  if config.train.seeds == 1 and len(workdirs) == 1:
    seeds = configs.seed_folders(workdirs[0])
    if seeds and not os.path.isdir(os.path.join(workdirs[0], "checkpoints")):
      raise ValueError(f"{workdirs[0]} holds the runs of several seeds ({', '.join(seeds)}): resume them with "
                       f"--config.train.seeds={len(seeds)}, or one of them alone with "
                       f"--workdir={os.path.join(workdirs[0], seeds[0])}")
  if config.train.seeds > 1:
    parent = os.path.dirname(os.path.normpath(workdirs[0]))
    if all(os.path.dirname(os.path.normpath(w)) == parent for w in workdirs) and os.path.isdir(
        os.path.join(parent, "checkpoints")):
      raise ValueError(f"{parent} holds one run (train.seeds = 1): train.seeds = {config.train.seeds} puts each "
                       "seed's run in a folder of its own; give another --workdir")


def _resume(runs: list[_Run], fresh) -> list:
  """Each run's states to train on (``fresh(run)``: new ones): its newest good checkpoint, or a warm start. Seeds
  trained as one program must all be at one step: when a kill came between the seeds' saves (or one seed's newest
  step is damaged), every seed resumes from the newest step all of them have, each seed's newer steps set aside
  (``checkpoints.aside/``), which ends where an uninterrupted run does; with no such step, all start afresh."""
  per_seed = []
  for run in runs:
    states = fresh(run)
    if run.ckpt.all_steps():
      resumed, states = run.ckpt.restore_with_step(states)
      logs.log(f"resumed from step {resumed} in {run.workdir}")
    elif run.config.train.init_from:
      states = warm_start(states, run.config.train.init_from)
    per_seed.append(states)
  starts = [int(s.step) for s in per_seed]
  if len(set(starts)) == 1:
    return per_seed
  shared = set.intersection(*(set(run.ckpt.all_steps()) for run in runs))
  for step in sorted((s for s in shared if s <= min(starts)), reverse=True):
    try:
      states = [run.ckpt.restore_with_step(fresh(run), step)[1] for run in runs]
    except checkpoint.CheckpointError:
      continue  # One seed's copy of this step is damaged (and now set aside): an older one.
    break
  else:
    step = None
    states = [warm_start(fresh(run), run.config.train.init_from) if run.config.train.init_from else fresh(run)
              for run in runs]
  for run, was in zip(runs, starts):
    moved = run.ckpt.set_aside_after(-1 if step is None else step)
    if moved:
      logs.log(f"{run.workdir} was at step {was}: its steps after {step or 0} set aside ({', '.join(moved)})")
  logs.log(f"the seeds stopped at steps {starts}: "
           + (f"all resume from step {step}, the newest they all have" if step is not None else
              "they share no step, so all start afresh"))
  return states


def _stack(trees):
  """One tree with a leading axis over ``trees``' leaves (the first's static fields: each seed's states build an
  optimiser and bound apply functions of their own, equal but not identical)."""
  leaves = [jax.tree.leaves(t) for t in trees]
  return jax.tree.unflatten(jax.tree.structure(trees[0]), [jnp.stack(xs) for xs in zip(*leaves)])


def _train(config, runs: list[_Run], data, mesh, models, layout, window) -> list[dict]:
  many = len(runs) > 1
  take = (lambda tree, i: jax.tree.map(lambda x: x[i], tree)) if many else (lambda tree, i: tree)
  per_seed = _resume(runs, lambda run: train_step.init_states(run.config, models, layout, run.init_key, mesh))
  start = int(per_seed[0].step)
  states = _stack(per_seed) if many else per_seed[0]
  del per_seed
  train_key = _stack([r.train_key for r in runs]) if many else runs[0].train_key
  for run in runs:
    run.writer.truncate_after(start)
    run.ckpt.prune()  # A kill right after a save can leave Orbax's deletion of the oldest step undone.
    run.saved = start if run.ckpt.all_steps() else None
  num_params = sum(x.size for x in jax.tree.leaves(take(states, 0).lifter.params))
  logs.log(f"{jax.device_count()} device(s) ({jax.devices()[0].platform}), {jax.process_count()} process(es); "
           f"lifter {num_params:,} parameters; {len(data.train_2d):,} training frames in "
           f"{len(data.sequence_lengths):,} sequences; batch {config.train.batch_size} poses = "
           + _batch_text(config, data, window, mesh.size))

  if many:
    logs.log(f"{len(runs)} seeds in one program: {', '.join(str(r.config.seed) for r in runs)}")
  pool = pool_lib.make_pool(config, data, mesh)
  # loss.w_flow's frozen 2D prior (saved for resuming).
  prior = flow_lib.for_run(config, data.train_2d, runs[0].workdir)
  if prior is not None:
    logs.log(f"flow prior of the training 2D: {prior.dims} components, held-out NLL {prior.held_out_nll:.3f} per dim")
  step_fn = train_step.make_train_step(config, models, layout, mesh, prior)
  if many:
    step_fn = train_step.make_seeds_step(step_fn)
  k = config.train.steps_per_call
  one_step = train_step.compile_train_step(step_fn, mesh)  # Compiled only if a call must stop short of k steps.
  k_steps = train_step.compile_train_step(train_step.make_multi_step(step_fn, k), mesh) if k > 1 else one_step
  if start < config.train.num_steps and hasattr(k_steps, "lower"):
    # Ahead of time, so the silence while XLA compiles is announced and its length logged.
    logs.log(f"compiling the train step ({k} step(s) per call) ...")
    t0 = time.perf_counter()
    k_steps = k_steps.lower(states, pool, train_key).compile()
    one_step = k_steps if k == 1 else one_step
    logs.log(f"compiled in {time.perf_counter() - t0:.1f} s")
  lift_all = lifts.make_lift_fn(models, config.c, mesh, **configs.test_time(config))
  # Intermediate evaluations score a fixed subsample; the last scores every test pose (eval.intermediate_poses).
  intermediate = data.test_subset(config.eval.intermediate_poses, whole_sequences=config.model.lifter_frames > 1)
  wall_start, eval_s = time.perf_counter(), 0.0
  progress = logs.Progress(start, config.train.num_steps)
  pending: list = []  # (step, metrics) of every call since the last log, each metric [..., S] with many seeds.
  last, t = config.train.num_steps, config.train

  def evaluate(step, test_data):
    for i, run in enumerate(runs):
      # A run killed after its last evaluation was logged has that step's rows already: not written twice.
      logged = step in history.eval_history(run.workdir, configs.reported_weights(run.config))[0]
      run.results, run.pred3d = test_set.test_all_and_poses(run.config, lift_all, take(states, i), test_data,
                                                              None if logged else run.writer, step)

  step = start
  try:
    while step < last:
      n = call_size(step, last, k, (t.log_every, t.eval_every, t.checkpoint_every))
      states, step_metrics = (k_steps if n == k else one_step)(states, pool, train_key)
      pending.append((step, step_metrics))
      step += n
      if step % t.log_every == 0 or step == last or step == start + n:  # Also after the first call.
        rows = [logs.flush_metrics(p, run.writer) for p, run in zip(_per_seed(pending, len(runs)), runs)]
        pending.clear()
        logs.log(f"{progress.line(step)} | loss " + " ".join(f"{m['loss/total']:.4g}" for m in rows))
      if step % t.checkpoint_every == 0 or step == last:
        for p in _per_seed(pending, len(runs)):  # Every step since the last log, and the states: never save a NaN.
          logs.check_pending(p)
        check_states_finite(step, states)
      if data.test_3d is not None and (step % t.eval_every == 0 or step == last):
        t0 = time.perf_counter()
        evaluate(step, data if step == last else intermediate)
        eval_s += time.perf_counter() - t0
      if step % t.checkpoint_every == 0 or step == last:
        for i, run in enumerate(runs):
          run.ckpt.save(step, take(states, i))
          run.saved = step
  except FloatingPointError as e:
    saved = runs[0].saved
    good = (f"the newest checkpoint, step {saved}, was checked finite before it was saved" if saved is not None
            else "no checkpoint was saved")
    raise FloatingPointError(f"{e} ({good}). The run diverged: lower the learning rates or check "
                             "the config; resuming the same config repeats the divergence") from None
  if start >= last and data.test_3d is not None:
    logs.log(f"already trained to step {start} (train.num_steps = {last}); evaluating only")
    t0 = time.perf_counter()
    evaluate(start, data)
    eval_s += time.perf_counter() - t0
  for run in runs:
    run.close()
  if data.test_3d is not None:
    t0 = time.perf_counter()
    for i, run in enumerate(runs):
      reports.finish_results(run.config, run.results, models, lift_all, take(states, i).lifter, data,
                                history_of=run.workdir)
    eval_s += time.perf_counter() - t0
    wall = time.perf_counter() - wall_start
    # What evaluating cost this session (training, every evaluation, the generalisation sets and baselines
    # included; with several seeds, theirs together, the same for each).
    timing = {"session_s": wall, "eval_s": eval_s, "eval_share": eval_s / wall if wall > 0 else 0.0,
              "intermediate_poses": len(intermediate.test_2d), "seeds_in_program": len(runs)}
  for i, run in enumerate(runs):
    results = run.results
    if data.test_3d is not None:
      results["timing"] = dict(timing)
    if data.extra_2d is not None:
      per_batch = configs.batch_split(config, len(data.train_2d), len(data.extra_2d), mesh.size)[1]
      results["extra"] = {"kind": config.data.extra.kind, "poses": len(data.extra_2d), "per_batch": per_batch}
    results["step"] = int(take(states, i).step)
    if data.test_3d is not None:  # The run explains itself without --mode=eval.
      reports.write_results(run.workdir, results)
      # The final evaluation's lifts (every run evaluates at its last step): no second pass over the test set, and
      # no lift (a collective over every process's devices) on process 0 alone.
      if run.config.train.pictures and jax.process_index() == 0:
        with logs.MetricWriter(run.workdir) as images:
          path = reports.write_test_picture(run.workdir, run.pred3d, data, images, results["step"])
        logs.log(f"wrote {os.path.join(run.workdir, 'results.json')} and {path}")
  return [run.results for run in runs]
