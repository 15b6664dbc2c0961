"""Multi-process training: data shards, per-device pool blocks, and a real two-process run on CPU."""

import json
import os
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import tiny
from lifting import configs
from lifting.core import skeleton
from lifting.data import pipeline
from lifting.training import distributed
from lifting.training import pool as pool_lib
from lifting.training import train_step

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _data(lengths=(3, 5, 2, 4, 1), num_extra=7):
  """Frame ``i`` holds the value ``i`` everywhere (3D: ``-i``), extra pose ``e`` the value ``-100 - e``."""
  n = sum(lengths)
  frames = np.arange(n, dtype=np.float32)[:, None, None] * np.ones((1, 14, 2), np.float32)
  extra = -100.0 - np.arange(num_extra, dtype=np.float32)[:, None, None] * np.ones((1, 14, 2), np.float32)
  return pipeline.PoseData(frames, np.array(lengths), 1.0, frames[:2], -frames[:2, :, :1].repeat(3, -1),
                           skeleton.get_layout("paper14"), -frames[..., :1].repeat(3, -1),
                           train_names=tuple(f"take{i}/cam0" for i in range(len(lengths))), extra_2d=extra)


def test_shard_keeps_whole_sequences_and_every_frame_once():
  data = _data()
  starts = np.concatenate([[0], np.cumsum(data.sequence_lengths)[:-1]])
  shards = [pipeline.shard(data, i, 3) for i in range(3)]
  for i, part in enumerate(shards):
    mine = list(range(i, 5, 3))  # Sequences i, i + 3, ...
    np.testing.assert_array_equal(part.sequence_lengths, data.sequence_lengths[mine])
    expect = np.concatenate([np.arange(starts[s], starts[s] + data.sequence_lengths[s]) for s in mine])
    np.testing.assert_array_equal(part.train_2d[:, 0, 0], expect)
    np.testing.assert_array_equal(part.train_3d[:, 0, 0], -expect)
    np.testing.assert_array_equal(pipeline.shard_frames(data.sequence_lengths, i, 3), expect)
    assert part.train_names == tuple(f"take{s}/cam0" for s in mine)
    np.testing.assert_array_equal(part.extra_2d[:, 0, 0], -100.0 - np.arange(i, 7, 3))
    assert part.test_2d is data.test_2d and part.test_3d is data.test_3d and part.scale == data.scale
    # Windows stay inside the shard's own sequences.
    window = part.window_starts(2)[:, None] + np.arange(2)
    values = part.train_2d[window, 0, 0]
    assert all(any(v[0] >= a and v[-1] < a + n for a, n in zip(starts, data.sequence_lengths)) for v in values)
  every = np.sort(np.concatenate([p.train_2d[:, 0, 0] for p in shards]))
  np.testing.assert_array_equal(every, np.arange(len(data.train_2d)))
  assert pipeline.shard(data, 0, 1) is data
  for index, count in ((3, 3), (-1, 2), (0, 0)):
    with pytest.raises(ValueError, match="expected count >= 1 and 0 <= index < count"):
      pipeline.shard(data, index, count)


def test_shard_sizes_are_known_to_every_process():
  data = _data()
  labelled = np.array([0, 2, 3, 9, 14])
  for count in (1, 2, 3, 4):
    sizes = pool_lib._shard_sizes(data, 2, labelled, count)
    for i in range(count):
      part = pipeline.shard(data, i, count)
      frames = pipeline.shard_frames(data.sequence_lengths, i, count)
      assert sizes["frames"][i] == len(part.train_2d) and sizes["extra"][i] == len(part.extra_2d)
      assert sizes["starts"][i] == (len(part.window_starts(2)) if (part.sequence_lengths >= 2).any() else 0)
      assert sizes["labelled"][i] == np.isin(labelled, frames).sum()


def test_one_process_pool_is_one_block_of_everything_with_counts():
  data = _data()
  mesh = train_step.make_mesh(jax.devices()[:1])
  pool = pool_lib.device_pool(data, mesh, window=2, labelled=np.array([1, 4]))
  assert pool.total_frames == 15 and pool.total_extra == 7
  np.testing.assert_array_equal(pool["frames"][0], data.train_2d)
  np.testing.assert_array_equal(pool["frames_3d"][0], data.train_3d)
  np.testing.assert_array_equal(pool["starts"][0], data.window_starts(2))
  np.testing.assert_array_equal(pool["labelled"][0], [1, 4])
  np.testing.assert_array_equal(pool["extra"][0], data.extra_2d)
  assert [int(pool[f"num_{k}"][0]) for k in ("frames", "starts", "labelled", "extra")] == [15, 10, 2, 7]


def test_a_shard_without_windows_stops_every_process(monkeypatch):
  monkeypatch.setattr(jax, "process_count", lambda: 3)  # Sizes only: the check comes before any shard is built.
  with pytest.raises(ValueError, match=r"a share of the 3 sequences for each of 3 processes, but the shards of "
                                       r"processes \[1\] hold no 2-frame training windows"):
    pool_lib.device_pool(_data(lengths=(3, 1, 4)), train_step.make_mesh(jax.devices()[:1]), window=2)
  with pytest.raises(ValueError, match=r"processes \[2\] hold no extra poses"):
    pool_lib.device_pool(_data(num_extra=2), train_step.make_mesh(jax.devices()[:1]), window=1)


def test_draws_do_not_depend_on_the_number_of_blocks_and_stay_below_each_count():
  data = _data()
  one = pool_lib.device_pool(data, train_step.make_mesh(jax.devices()[:1]), window=2, labelled=np.arange(15))
  # Two blocks of the same data (one process, two devices) draw the same batch as one block.
  two = pool_lib.Pool({k: jnp.asarray(np.concatenate([v, v])) for k, v in one.arrays.items()}, one.total_frames,
                   one.total_extra)
  draw = jax.jit(lambda p, k: pool_lib.draw_batch(p, k, 8, 2, num_extra=4))
  a, b = draw(one, jax.random.key(3)), draw(two, jax.random.key(3))
  assert set(a) == {"x", "real", "sup_x", "sup_3d", "x_extra", "real_extra"}
  for k in a:
    np.testing.assert_array_equal(a[k], b[k], err_msg=k)
  # A second block with 3 valid frames of 15, 2 window starts, 1 labelled frame and 2 extras: its rows
  # (the second half of every draw) never reach the padding (-1).
  counts = {"frames": 3, "frames_3d": 3, "starts": 2, "labelled": 1, "extra": 2}
  arrays = dict(two.arrays)
  for name, n in counts.items():
    padded = np.asarray(arrays[name]).copy()
    padded[1, n:] = -1
    arrays[name] = jnp.asarray(padded)
    if name != "frames_3d":
      arrays[f"num_{name}"] = jnp.array([arrays[f"num_{name}"][0], n], jnp.int32)
  batch = draw(pool_lib.Pool(arrays, two.total_frames, two.total_extra), jax.random.key(4))  # Compiled already.
  for k, v in batch.items():
    assert (np.asarray(v)[len(v) // 2:] != -1).all(), k
  assert set(np.asarray(batch["x"])[4:, :, 0, 0].ravel()) <= {0.0, 1.0, 2.0}
  with pytest.raises(ValueError, match="multiple of the pool's 2 blocks, got 7"):
    pool_lib.draw_batch(two, jax.random.key(0), 7, 2)


def test_distributed_flag_is_a_bool_and_off_does_nothing():
  distributed.initialize(False)
  with pytest.raises(ValueError, match="distributed: expected True or False, got 'yes'"):
    distributed.initialize("yes")
  config = tiny.get_config()
  assert config.distributed is False
  configs.validate(config)
  config.distributed = True
  configs.validate(config)


_PROCESS = r"""
import json, os, sys
import jax
index, port, workdir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
# Gloo, JAX 0.10's default for CPU collectives across processes, carries the gradient mean.
jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=2, process_id=index)
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P
from experiments import ss
from lifting import train
from lifting.training import checkpoint, logs
from lifting.training import pool as pool_lib
from lifting.training import train_step
from lifting.data import pipeline
from tests.test_train import shrink
assert (jax.process_count(), jax.local_device_count(), jax.device_count()) == (2, 2, 4)
logs.setup_cli_logging()

config = shrink(ss.get_config())
config.data.synthetic.update(num_train_sequences=3, num_cameras=3)  # 9 sequences: shards of 5 and 4.
config.loss.w_supervised, config.data.supervised_fraction = 0.1, 0.5  # Labelled takes on both shards.
config.train.update(num_steps=4, log_every=2, eval_every=4, checkpoint_every=2)

seen, saved = {}, {}
make_pool, save = pool_lib.make_pool, checkpoint.Checkpointer.save
def spy_pool(config, data, mesh):
  seen["data"], seen["pool"] = data, make_pool(config, data, mesh)
  return seen["pool"]
def spy_save(self, step, states):  # Every local replica of the states, before the next step donates them.
  saved["leaves"] = [[np.asarray(s.data) for s in leaf.addressable_shards] for leaf in jax.tree.leaves(states)]
  save(self, step, states)
pool_lib.make_pool, checkpoint.Checkpointer.save = spy_pool, spy_save
(results,) = train.train_and_evaluate(config, workdir).values()

# This process's devices hold its own shard, zero-padded, and nothing of the other's.
data, pool = seen["data"], seen["pool"]
part = pipeline.shard(data, index, 2)
frames = pipeline.shard_frames(data.sequence_lengths, index, 2)
labelled = pool_lib.labelled_frames(data, 0.5, config.seed)
assert pool["frames"].shape == (4, 80, 14, 2) and not pool["frames"].is_fully_addressable
for name in ("frames", "num_frames", "labelled", "num_labelled", "frames_3d"):
  assert len(pool[name].addressable_shards) == 2
for frames_block, count, lab_block, lab_count, f3d_block in zip(
    *[[np.asarray(s.data)[0] for s in pool[k].addressable_shards]
      for k in ("frames", "num_frames", "labelled", "num_labelled", "frames_3d")]):
  assert count == len(part.train_2d) == (80 if index == 0 else 64)
  np.testing.assert_array_equal(frames_block[:count], part.train_2d)
  assert not frames_block[count:].any()
  mine = labelled[np.isin(labelled, frames)]
  assert lab_count == len(mine) > 0
  np.testing.assert_array_equal(f3d_block[lab_block[:lab_count]], data.train_3d[mine])
# Replicas agree within the process, and the checkpoint restores to them.
for replicas in saved["leaves"]:
  for r in replicas[1:]:
    np.testing.assert_array_equal(r, replicas[0])
models, replicated = train_step.build_models(config), NamedSharding(train_step.make_mesh(), P())
shapes = jax.eval_shape(lambda: train_step.create_train_states(config, models, 14, jax.random.key(0)))
template = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated), shapes)
ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"))
assert ckpt.latest_step() == 4
restored = ckpt.restore(template)
ckpt.close()
for leaf, replicas in zip(jax.tree.leaves(restored), saved["leaves"]):
  np.testing.assert_array_equal(np.asarray(leaf), replicas[0])
np.savez(os.path.join(workdir, f"params_{index}.npz"), *[replicas[0] for replicas in saved["leaves"]])
with open(os.path.join(workdir, f"results_{index}.json"), "w") as f:
  json.dump({"pa_mpjpe": results["pa_mpjpe"], "step": results["step"]}, f)
print("PROCESS OK", index)
"""


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def test_two_processes_train_on_their_own_shards_and_agree(tmp_path):
  # Optimisation level 0 compiles faster; the test is about the processes' plumbing, not speed.
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2 --xla_backend_optimization_level=0",
             JAX_PLATFORMS="cpu")
  port = _free_port()
  procs = [subprocess.Popen([sys.executable, "-c", _PROCESS, str(i), str(port), str(tmp_path)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
  outs = []
  try:
    for p in procs:
      outs.append(p.communicate(timeout=300))
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
  for i, (p, (stdout, stderr)) in enumerate(zip(procs, outs)):
    assert p.returncode == 0 and f"PROCESS OK {i}" in stdout, f"process {i}:\n{stderr[-3000:]}"
  # Process 0 alone logs and writes: each step once in metrics.jsonl, the progress lines on its stderr only.
  rows = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
  assert [r["step"] for r in rows if "loss/total" in r] == [1, 2, 4]
  assert [r["step"] for r in rows if "test/pa_mpjpe" in r] == [4]
  assert "step 4/4" in outs[0][1] and "step 4/4" not in outs[1][1]
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["2", "4"]
  assert (tmp_path / "normalization.json").exists() and (tmp_path / "config.json").exists()
  a, b = np.load(tmp_path / "params_0.npz"), np.load(tmp_path / "params_1.npz")
  assert len(a.files) > 10
  for k in a.files:
    np.testing.assert_array_equal(a[k], b[k], err_msg=k)
  r0, r1 = (json.load(open(tmp_path / f"results_{i}.json")) for i in range(2))
  assert r0 == r1 and r0["step"] == 4 and np.isfinite(r0["pa_mpjpe"])
