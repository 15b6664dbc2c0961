"""The compiled train step, every ablation config, data parallelism, resume and fail-fast."""

import dataclasses
import json
import os
import re
import subprocess
import sys

import jax
import numpy as np
import pytest

from experiments import adv
from experiments import adv_ss
from experiments import adv_ss_td
from experiments import default
from experiments import ss
from experiments import ss_symm
from experiments import supervised
from experiments import tiny
from lifting import configs
from lifting import train
from lifting.core import skeleton
from lifting.data import pipeline
from lifting.data import sequences
from lifting.evaluators import baselines
from lifting.evaluators import history
from lifting.training import checkpoint
from lifting.training import logs
from lifting.training import pool as pool_lib
from lifting.training import train_step

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ABLATIONS = {"ss": ss, "ss_symm": ss_symm, "adv": adv, "adv_ss": adv_ss, "adv_ss_td": adv_ss_td,
             "supervised": supervised}


def shrink(config):
  """Tiny sizes on top of any config, keeping its loss terms."""
  small = tiny.get_config()
  config.data = small.data
  config.model.width, config.model.lifter_blocks, config.model.disc_blocks = 16, 1, 1
  config.train = small.train
  return config


def one_step(config, mesh=None, steps=1, hlo: list | None = None, keep_all: bool = False):
  """States before and after ``steps`` train steps, and the last metrics; ``hlo`` gets the compiled step's HLO text.

  With ``keep_all``, the list of states before and after every step instead (one compilation)."""
  layout = skeleton.get_layout(config.layout)
  data = pipeline.load(config)
  mesh = mesh or train_step.make_mesh()
  models = train_step.build_models(config)
  states = train_step.init_states(config, models, layout, jax.random.key(0), mesh)
  before = jax.device_get(states)
  step_fn = train_step.compile_train_step(train_step.make_train_step(config, models, layout, mesh), mesh)
  pool = pool_lib.make_pool(config, data, mesh)
  step_fn = step_fn.lower(states, pool, jax.random.key(1)).compile()  # Ahead of time: the HLO that runs.
  if hlo is not None:
    hlo.append(step_fn.as_text())
  trace = []
  for _ in range(steps):
    states, metrics = step_fn(states, pool, jax.random.key(1))
    if keep_all:
      trace.append(jax.device_get(states))
  if keep_all:
    return [before] + trace
  return before, jax.device_get(states), jax.device_get(metrics)


@pytest.mark.parametrize("name", sorted(ABLATIONS))
def test_one_step_of_every_config_changes_parameters_and_stays_finite(name):
  config = shrink(ABLATIONS[name].get_config())
  before, after, metrics = one_step(config)
  expect = {"lifter": True, "pose_disc": config.loss.w_adv > 0, "temporal_disc": config.loss.w_temporal > 0}
  for net, present in expect.items():
    assert (getattr(after, net) is not None) == present, net
    if present:
      old, new = getattr(before, net).params, getattr(after, net).params
      assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(new)), net
      changed = [not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(old), jax.tree.leaves(new))]
      assert all(changed), f"{net}: some parameters did not move"
  assert int(after.step) == 1
  assert all(np.isfinite(v) for v in metrics.values())
  terms = {k.split("/")[1] for k in metrics if k.startswith("loss/") and k != "loss/total"}
  on = {"adv": config.loss.w_adv, "loop_2d": config.loss.w_2d, "loop_3d": config.loss.w_3d,
        "temporal": config.loss.w_temporal, "symmetry": config.loss.w_symmetry, "supervised": config.loss.w_supervised}
  assert terms == {k for k, w in on.items() if w > 0}


def test_total_loss_is_the_weighted_sum_of_eq_8():
  config = shrink(adv_ss_td.get_config())
  config.loss.w_symmetry = 0.5
  config.loss.w_supervised = 0.25  # Semi-supervised: every term at once.
  _, _, m = one_step(config)
  expected = (config.loss.w_adv * m["loss/adv"] + config.loss.w_2d * m["loss/loop_2d"]
              + config.loss.w_3d * m["loss/loop_3d"] + config.loss.w_temporal * m["loss/temporal"]
              + config.loss.w_symmetry * m["loss/symmetry"] + config.loss.w_supervised * m["loss/supervised"])
  np.testing.assert_allclose(m["loss/total"], expected, rtol=1e-5)


def test_paper_defaults():
  config = default.get_config("paper")
  assert (config.model.width, config.train.batch_size, config.c) == (1024, 8192, 10.0)
  assert (config.loss.w_2d, config.loss.w_3d) == (10.0, 0.001)
  assert adv_ss_td.get_config("paper").loss.w_temporal == 1.0
  with pytest.raises(ValueError, match="profile"):
    default.get_config("gpu")


_DEVICE_COUNTS = r"""
import dataclasses, re
import jax, numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P
from tests.test_train import one_step, shrink
from experiments import adv_ss_td
from lifting import train
from lifting.evaluators import baselines
from lifting.evaluators import history
from lifting.training import pool as pool_lib
from lifting.training import train_step
from lifting.data import pipeline
assert jax.device_count() == 4, jax.devices()
config = shrink(adv_ss_td.get_config())
config.model.dropout = 0.25
_, one, m1 = one_step(config, train_step.make_mesh(jax.devices()[:1]), steps=3)
hlo = []
for n in (4,):  # Four devices cover what two would (an even split, cross-device gathers); each count costs a compile.
  _, many, m = one_step(config, train_step.make_mesh(jax.devices()[:n]), steps=3, hlo=hlo)
  for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(many)):
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5, err_msg=f"{n} devices")
  for k in m1:
    np.testing.assert_allclose(m1[k], m[k], rtol=2e-4, atol=1e-5, err_msg=f"{n} devices: {k}")
# Each device gathers from its own pool block: no collective may move an array with a pool-sized axis.
data = pipeline.load(config)
rows = min(len(data.train_2d), len(data.window_starts(2)))
shapes = lambda line: [int(d) for dims in re.findall(r"\[([\d,]+)\]", line) for d in dims.split(",")]
moved = [line.strip() for line in hlo[-1].splitlines()
         if re.search(r"\b(all-gather|all-to-all|collective-permute|reduce-scatter)", line)
         and max(shapes(line), default=0) >= rows]
assert not moved, moved[:3]
assert "all-reduce" in hlo[-1]  # The gradients' mean: the check reads the right program.
# Drawing alone (windows, labelled frames, extras) moves nothing at all between devices.
data = dataclasses.replace(data, extra_2d=data.train_2d[:50])
mesh = train_step.make_mesh()
pool = pool_lib.device_pool(data, mesh, 2, pool_lib.labelled_frames(data, 0.5, seed=0))
on_data, replicated = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
draw = jax.jit(lambda p, k: pool_lib.draw_batch(p, k, 8, 2, mesh, num_extra=4), in_shardings=(on_data, replicated),
               out_shardings=on_data)
text = draw.lower(pool, jax.random.key(0)).compile().as_text()
assert not re.search(r"all-gather|all-reduce|all-to-all|collective-permute|reduce-scatter", text)
print("MATCH", len(jax.tree.leaves(one)))
"""


def test_one_and_four_devices_match_and_keep_the_pool_in_place():
  # Optimisation level 0 halves the compile time; the partitioning, and so the collectives, stay the same.
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4 --xla_backend_optimization_level=0",
             JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, "-c", _DEVICE_COUNTS], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  assert "MATCH" in out.stdout


class _Killed(Exception):
  pass


def _final_params(workdir):
  config = tiny.get_config()
  models = train_step.build_models(config)
  template = train_step.init_states(config, models, skeleton.get_layout(config.layout), jax.random.key(0),
                               train_step.make_mesh())
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"))
  states = jax.device_get(ckpt.restore(template))
  ckpt.close()
  return states


def test_killed_run_resumes_to_the_same_parameters(tmp_path, monkeypatch):
  config = tiny.get_config()  # 6 steps, checkpoints at 3 and 6.
  (straight,) = train.train_and_evaluate(config, str(tmp_path / "straight")).values()

  real_compile = train_step.compile_train_step

  def dying_compile(*args, **kwargs):
    compiled = real_compile(*args, **kwargs)

    def step(states, *rest):
      if int(states.step) == 4:  # After the checkpoint at step 3 and one more step that is lost.
        raise _Killed()
      return compiled(states, *rest)
    return step

  monkeypatch.setattr(train_step, "compile_train_step", dying_compile)
  with pytest.raises(_Killed):
    train.train_and_evaluate(config, str(tmp_path / "resumed"))
  monkeypatch.setattr(train_step, "compile_train_step", real_compile)
  (resumed,) = train.train_and_evaluate(config, str(tmp_path / "resumed")).values()

  assert straight["step"] == resumed["step"] == 6
  a, b = _final_params(str(tmp_path / "straight")), _final_params(str(tmp_path / "resumed"))
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(straight["pa_mpjpe"], resumed["pa_mpjpe"], rtol=1e-5)
  rows = [json.loads(line) for line in open(tmp_path / "resumed" / "metrics.jsonl")]
  train_steps = [r["step"] for r in rows if "loss/total" in r]
  assert train_steps == [1, 2, 4, 6], train_steps  # Step 4 is logged once, by the resumed run.
  assert json.load(open(tmp_path / "resumed" / "config.json"))["train"]["num_steps"] == 6
  assert list((tmp_path / "resumed" / "tensorboard").iterdir())


def test_seeds_in_one_program_match_each_seed_trained_alone_and_resume_like_it(tmp_path):
  """train.seeds = 2: one vmapped program, a folder per seed holding what a single run's holds, each seed's
  parameters those of the seed trained alone (up to float32 rounding: XLA may order a batched matmul's sums
  otherwise), and a folder that resumes alone."""
  config = tiny.get_config()  # 6 steps, checkpoints at 3 and 6.
  config.seed, config.train.seeds = 5, 2
  both = train.train_and_evaluate(config, str(tmp_path / "both"))
  assert sorted(both) == [5, 6]
  for seed in (6,):  # The second of the batch: the first's sums come out in the same order anyway.
    alone = tiny.get_config()
    alone.seed = seed
    result = train.train_and_evaluate(alone, str(tmp_path / f"alone{seed}"))[seed]
    folder = tmp_path / "both" / f"seed{seed}"
    assert {p.name for p in folder.iterdir()} == {p.name for p in (tmp_path / f"alone{seed}").iterdir()}
    saved = json.load(open(folder / "config.json"))
    assert (saved["seed"], saved["train"]["seeds"]) == (seed, 1)
    alone_params = _final_params(str(tmp_path / f"alone{seed}"))
    for x, y in zip(jax.tree.leaves(_final_params(str(folder))), jax.tree.leaves(alone_params)):
      np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(both[seed]["pa_mpjpe"], result["pa_mpjpe"], rtol=1e-4)
    assert both[seed]["timing"]["seeds_in_program"] == 2
  # A seed's folder is a run of its own: resumed alone to more steps, then the two are at different steps.
  more = tiny.get_config()
  more.seed, more.train.num_steps = 5, 9
  assert train.train_and_evaluate(more, str(tmp_path / "both" / "seed5"))[5]["step"] == 9
  # Seeds at different steps resume together from the newest step both have (issue "Reliability": a kill between
  # the seeds' saves), the newer steps set aside, not deleted.
  config.train.num_steps = 12
  again = train.train_and_evaluate(config, str(tmp_path / "both"))
  assert {k: r["step"] for k, r in again.items()} == {5: 12, 6: 12}
  assert "9" in os.listdir(tmp_path / "both" / "seed5" / "checkpoints.aside")


def test_discriminator_updates_every_k_steps_and_k_steps_per_call_equal_k_single_steps():
  config = shrink(adv_ss_td.get_config())
  config.model.dropout, config.optim.disc_every = 0.25, 2
  layout, mesh = skeleton.get_layout(config.layout), train_step.make_mesh()
  models = train_step.build_models(config)
  pool = pool_lib.make_pool(config, pipeline.load(config), mesh)
  step = train_step.make_train_step(config, models, layout, mesh)
  single, multi = (train_step.compile_train_step(f, mesh) for f in (step, train_step.make_multi_step(step, 3)))
  states = train_step.init_states(config, models, layout, jax.random.key(0), mesh)
  after, one = [], []
  for _ in range(3):
    states, metrics = single(states, pool, jax.random.key(1))
    after.append(jax.device_get(states))
    one.append(jax.device_get(metrics))
  # Step 0 updates D (0 % 2 == 0), step 1 leaves it as it was, the lifter learns on both.
  for a, b in zip(jax.tree.leaves(after[0].pose_disc.params), jax.tree.leaves(after[1].pose_disc.params)):
    np.testing.assert_array_equal(a, b)
  assert not np.array_equal(jax.tree.leaves(after[0].lifter.params)[0], jax.tree.leaves(after[1].lifter.params)[0])
  states = train_step.init_states(config, models, layout, jax.random.key(0), mesh)
  three, stacked = multi(states, pool, jax.random.key(1))
  for a, b in zip(jax.tree.leaves(after[2]), jax.tree.leaves(jax.device_get(three))):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  for name, values in jax.device_get(stacked).items():
    np.testing.assert_allclose(values, [float(m[name]) for m in one], rtol=1e-4, atol=1e-6, err_msg=name)


def test_calls_stop_at_every_log_eval_and_checkpoint_step():
  def plan(start, last, k, every):
    sizes, step = [], start
    while step < last:
      sizes.append(train.call_size(step, last, k, every))
      step += sizes[-1]
    return sizes

  assert plan(0, 6, 2, (2, 3, 3)) == [2, 1, 1, 2]  # The tiny config: stops at 2, 3, 4 and 6.
  assert plan(0, 2000, 10, (100, 500, 500)) == [10] * 200
  assert plan(495, 520, 10, (100, 500, 500)) == [1] * 5 + [10, 10]
  assert plan(0, 25, 10, (100, 500, 500)) == [10, 10] + [1] * 5
  assert plan(0, 5, 1, (2, 3, 3)) == [1] * 5


def test_flush_metrics_unstacks_multi_step_calls_and_names_the_bad_step():
  pending = [(0, {"loss/a": jax.numpy.array([1.0, 2.0])}), (2, {"loss/a": jax.numpy.array(3.0)})]
  assert logs.flush_metrics(pending, None) == {"loss/a": 2.0} and not pending
  with pytest.raises(FloatingPointError, match="non-finite loss/a = nan at step 5"):
    logs.flush_metrics([(4, {"loss/a": jax.numpy.array([0.0, np.nan])})], None)


def test_non_finite_loss_stops_the_run_naming_term_and_step(tmp_path, monkeypatch):
  real_load = pipeline.load

  def poisoned(config):
    data = real_load(config)
    return dataclasses.replace(data, train_2d=np.full_like(data.train_2d, np.nan))

  monkeypatch.setattr(pipeline, "load", poisoned)
  with pytest.raises(FloatingPointError, match=r"non-finite loss/\w+ = nan at step 0"):
    train.train_and_evaluate(tiny.get_config(), str(tmp_path))


@pytest.mark.parametrize("field, value, message", [
    ("loss.w_2d", -1.0, "loss.w_2d: expected a finite weight >= 0"),
    ("loss.gan", "wgan", "loss.gan: expected one of"),
    ("train.batch_size", 15, "multiple of the 2-frame training window"),
    ("rotation.elevation_range", (0.3, -0.3), "low <= high"),
    ("layout", "smpl", "smpl"),
    ("data.scale", "image", "data.scale"),
    ("model.dropout_rng", "uniform", "model.dropout_rng: expected one of"),
    ("model.dtype", "float16", "model.dtype: expected one of"),
    ("train.steps_per_call", 0, "train.steps_per_call: expected a positive integer"),
])
def test_inconsistent_configs_fail_before_training(field, value, message):
  config = tiny.get_config()
  *path, last = field.split(".")
  node = config
  for p in path:
    node = node[p]
  node[last] = value
  with pytest.raises(ValueError, match=message):
    configs.validate(config)


def _sequences(train_2d, c):
  """`PoseData` of ``[S, F, 14, 2]`` equal-length 2D sequences, without 3D."""
  s, f = train_2d.shape[:2]
  train = sequences.PoseSequences(train_2d.reshape(-1, 14, 2), None, np.full((s,), f), ("train",) * s, ("all",) * s)
  return pipeline.from_pose_sequences(train, None, c, "dataset", skeleton.get_layout("paper14"))


def test_temporal_term_without_sequences_is_rejected():
  config = tiny.get_config()
  frames = np.random.default_rng(0).normal(size=(1, 32, 14, 2)).astype(np.float32)
  data = _sequences(frames.reshape(32, 1, 14, 2), config.c)
  with pytest.raises(ValueError, match="temporal term needs sequences"):
    configs.validate_against(config, data, num_devices=1, num_processes=1)
  with pytest.raises(ValueError, match="do not split evenly over 3 devices"):
    config.loss.w_temporal = 0.0
    configs.validate_against(config, data, num_devices=3, num_processes=1)


def _run_py(*args, timeout=300, probe_platforms=False):
  """run.py in a subprocess; with ``probe_platforms`` JAX looks for every platform, as on a user's host."""
  env = {k: v for k, v in os.environ.items() if k != "JAX_PLATFORMS"} if probe_platforms else \
      dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, capture_output=True, text=True,
                        timeout=timeout, env=env)


def test_run_py_rejects_unknown_config_field_before_training(tmp_path):
  out = _run_py("--config=experiments/tiny.py", f"--workdir={tmp_path}", "--config.train.num_stepz=3")
  assert out.returncode != 0
  assert "num_stepz" in out.stderr and "Traceback" not in out.stderr
  assert not (tmp_path / "checkpoints").exists()


def test_a_config_file_that_fails_or_returns_nothing_is_one_line(tmp_path):
  out = _run_py("--config=experiments/tiny.py:gpu", "--show_config")
  last = out.stderr.strip().splitlines()[-1]
  assert out.returncode != 0 and "Traceback" not in out.stderr
  assert last == ("run.py: error: the config file 'experiments/tiny.py:gpu' failed to load: ValueError: unknown "
                  "config profile 'gpu': expected one of ('cpu', 'fast', 'paper')"), out.stderr[-800:]
  empty = tmp_path / "empty.py"
  empty.write_text("def get_config():\n  return None\n")
  out = _run_py(f"--config={empty}", "--show_config")
  assert out.returncode != 0 and "Traceback" not in out.stderr
  assert "get_config() returned NoneType, expected an ml_collections.ConfigDict" in out.stderr.strip().splitlines()[-1]


def test_run_py_help_exits_0_and_show_config_prints_overrides(tmp_path):
  out = _run_py("--help")
  assert out.returncode == 0 and "--mode" in out.stdout and "experiments/default.py" in out.stdout, out.stderr[-500:]
  out = _run_py("--config=experiments/tiny.py", "--config.train.num_steps=7", "--show_config", f"--workdir={tmp_path}")
  assert out.returncode == 0, out.stderr[-1000:]
  assert "config.train.num_steps = 7" in out.stdout.splitlines() and "default_config.py" in out.stdout.splitlines()[0]
  assert not os.listdir(tmp_path)


def test_run_py_train_then_eval(tmp_path):
  out = _run_py("--config=experiments/tiny.py", f"--workdir={tmp_path}", "--config.train.pictures=True",
                probe_platforms=True)
  assert out.returncode == 0, out.stderr[-3000:]
  assert "test PA-MPJPE" in out.stdout
  assert "Unable to initialize backend" not in out.stderr  # JAX's platform probing stays quiet, as in plain JAX.
  assert "compiling the train step" in out.stderr and re.search(r"compiled in \d+\.\d s", out.stderr)
  # Training alone leaves its results and a picture of test poses (also in TensorBoard).
  assert (tmp_path / "results.json").exists() and (tmp_path / "results.md").exists()
  timing = json.loads((tmp_path / "results.json").read_text())["timing"]  # What evaluating cost the run.
  assert 0 < timing["eval_s"] < timing["session_s"] and timing["eval_share"] == timing["eval_s"] / timing["session_s"]
  assert (tmp_path / "test_poses.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert "best" in (tmp_path / "test_poses.html").read_text()  # the same poses in the interactive viewer
  events = b"".join(p.read_bytes() for p in (tmp_path / "tensorboard").iterdir())
  assert b"test_poses" in events
  out = _run_py("--config=experiments/tiny.py", f"--workdir={tmp_path}", "--mode=eval")
  assert out.returncode == 0, out.stderr[-3000:]
  with open(tmp_path / "results.json") as f:
    results = json.load(f)
  assert results["step"] == 6 and np.isfinite(results["pa_mpjpe"])
  assert {"pa_mpjpe", "n_mpjpe", "pck", "auc", "per_action"} <= set(results)
  assert set(results["baselines"]) == {"flat", "mean_depth"}
  # The moving average is reported (eval.weights), the raw weights beside it; both are in the log.
  assert results["weights"] == "ema" and set(results["other_weights"]) == {"raw"}
  assert {"depth_flip_rate", "per_yaw", "worst_yaw_pa_mpjpe"} <= set(results) and results["protocol"] == "synthetic"
  with open(tmp_path / "metrics.jsonl") as f:
    rows = [json.loads(line) for line in f]
  assert [r["step"] for r in rows if "test/pa_mpjpe" in r] == [r["step"] for r in rows if "test_ema/pa_mpjpe" in r] \
      == [3, 6]
  assert history.eval_history(str(tmp_path), "ema")[0] == [3, 6]
  assert history.swing(str(tmp_path), "ema", last=2)["steps"] == [3, 6]
  assert history.swing(str(tmp_path), "ema", last=5) is None
  table = (tmp_path / "results.md").read_text()
  assert "| baseline: flat |" in table and f"| {tmp_path.name} | 6 |" in table and table in out.stdout
  out = _run_py("--config=experiments/tiny.py", f"--workdir={tmp_path / 'empty'}", "--mode=eval")
  assert out.returncode != 0 and "no checkpoint" in out.stderr


def test_batches_are_windows_of_one_sequence_and_labelled_frames_bring_their_3d():
  frames = np.arange(10, dtype=np.float32)[:, None, None] * np.ones((1, 14, 2), np.float32)
  frames_3d = np.concatenate([frames, -frames[..., :1]], -1)
  data = pipeline.PoseData(frames, np.array([4, 6]), 1.0, None, None, skeleton.get_layout("paper14"), frames_3d,
                           train_names=("t1/cam0", "t2/cam0"))
  mesh = train_step.make_mesh()
  labelled = pool_lib.labelled_frames(data, 0.5, seed=0)  # One of the two takes.
  assert list(labelled) in ([0, 1, 2, 3], [4, 5, 6, 7, 8, 9])
  pool = pool_lib.device_pool(data, mesh, window=3, labelled=labelled)
  batch = jax.jit(lambda p, k: pool_lib.draw_batch(p, k, 64, 3, mesh))(pool, jax.random.key(0))
  x = np.asarray(batch["x"])[..., 0, 0]
  starts = x[:, 0]
  assert set(starts) == {0, 1, 4, 5, 6, 7}  # Windows of 3 never straddle sequences 0-3 and 4-9.
  np.testing.assert_array_equal(x, starts[:, None] + np.arange(3))
  assert not np.array_equal(np.asarray(batch["real"]), np.asarray(batch["x"]))  # Drawn independently.
  sup_x, sup_3d = np.asarray(batch["sup_x"])[:, 0, 0], np.asarray(batch["sup_3d"])
  assert set(sup_x) == set(labelled.tolist())  # Only labelled frames, each with its own ground truth.
  np.testing.assert_array_equal(sup_3d[:, 0, 2], -sup_x)
  assert len(pool_lib.labelled_frames(data, 1.0, seed=0)) == 10
  frames_only = pool_lib.labelled_frames(data, 0.3, seed=0, unit="frame")  # 3 of the 10 frames, from either take.
  assert len(frames_only) == 3 and len(set(frames_only.tolist())) == 3 and frames_only.max() < 10
  assert len({tuple(pool_lib.labelled_frames(data, 0.3, seed=s, unit="frame")) for s in range(8)}) > 1
  with pytest.raises(ValueError, match="supervised_unit"):
    pool_lib.labelled_frames(data, 0.5, seed=0, unit="clip")
  with pytest.raises(ValueError, match="supervised_fraction"):
    pool_lib.labelled_frames(data, 0.0, seed=0)
  with pytest.raises(ValueError, match="needs the training frames' 3D"):
    pool_lib.labelled_frames(dataclasses.replace(data, train_3d=None), 1.0, seed=0)


def test_mean_depth_baseline_recovers_the_depth_of_weak_perspective_poses():
  rng = np.random.default_rng(0)
  layout = skeleton.get_layout("paper14")
  gt = rng.normal(size=(50, 14, 3)).astype(np.float32) * 200.0
  gt[..., 2] = np.linspace(-100, 100, 14)  # The same depth profile in every pose.
  gt -= gt[:, list(layout.root_joints)].mean(1, keepdims=True)
  scale = rng.uniform(0.5, 2.0, (50, 1, 1)).astype(np.float32)
  pose2d = gt[..., :2] * scale / 10.0  # Weak perspective at depth c = 10, any per-pose scale.
  d = baselines.mean_depth_offsets(pose2d, gt, layout, c=10.0)
  np.testing.assert_allclose(d, np.mean(scale[:, 0] * gt[..., 2], axis=0), rtol=1e-4, atol=1e-4)


def test_supervised_term_needs_3d():
  config = shrink(supervised.get_config())
  frames = np.random.default_rng(0).normal(size=(32, 1, 14, 2)).astype(np.float32)
  data = _sequences(frames, config.c)
  with pytest.raises(ValueError, match="loss.w_supervised: the supervised term needs 3D"):
    configs.validate_against(config, data, num_devices=1, num_processes=1)


def test_warm_start_takes_parameters_not_steps(tmp_path):
  config = tiny.get_config()
  config.train.num_steps = 3
  train.train_and_evaluate(config, str(tmp_path / "first"))
  trained = _final_params(str(tmp_path / "first"))
  fresh = train_step.init_states(config, train_step.build_models(config), skeleton.get_layout(config.layout),
                               jax.random.key(5), train_step.make_mesh())
  warm = train.warm_start(fresh, str(tmp_path / "first"))
  ptrs = [x.unsafe_buffer_pointer() for x in jax.tree.leaves(warm)]
  assert len(set(ptrs)) == len(ptrs)  # The step donates the state: no buffer may appear twice.
  started = jax.device_get(warm)
  assert int(started.step) == 0 and int(trained.step) == 3
  # The lifter starts from the source's moving average (the weights its results report), and so does its average.
  want = (trained.lifter.ema_params, trained.lifter.ema_batch_stats, trained.temporal_disc.params)
  for got in ((started.lifter.params, started.lifter.batch_stats, started.temporal_disc.params),
              (started.lifter.ema_params, started.lifter.ema_batch_stats, started.temporal_disc.params)):
    for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got)):
      np.testing.assert_array_equal(a, b)
  assert all(not np.any(m) for m in jax.tree.leaves(started.lifter.opt_state))  # A fresh Adam.
  with pytest.raises(ValueError, match="no checkpoint"):
    train.warm_start(fresh, str(tmp_path / "nothing"))
  config.loss.w_temporal = 0.0  # Other networks than the checkpoint's.
  other = train_step.init_states(config, train_step.build_models(config), skeleton.get_layout(config.layout),
                            jax.random.key(5), train_step.make_mesh())
  with pytest.raises(ValueError, match="other networks"):
    train.warm_start(other, str(tmp_path / "first"))


def test_windows_with_offsets_reach_the_later_frame_inside_one_sequence():
  frames = np.arange(20, dtype=np.float32)[:, None, None] * np.ones((1, 14, 2), np.float32)
  data = pipeline.PoseData(frames, np.array([8, 12]), 1.0, None, None, skeleton.get_layout("paper14"))
  mesh = train_step.make_mesh()
  pool = pool_lib.device_pool(data, mesh, window=6)  # Starts leave room for 6 frames.
  batch = jax.jit(lambda p, k: pool_lib.draw_batch(p, k, 64, (0, 1, 5), mesh))(pool, jax.random.key(0))
  x = np.asarray(batch["x"])[..., 0, 0]
  np.testing.assert_array_equal(x[:, 1] - x[:, 0], 1)
  np.testing.assert_array_equal(x[:, 2] - x[:, 0], 5)
  assert set(x[:, 0]) <= {0, 1, 2, 8, 9, 10, 11, 12, 13, 14}  # Every window inside one sequence.
