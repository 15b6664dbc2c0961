"""The training set on the devices, and the batch the compiled step draws from it.

`device_pool` puts each process's shard of the training 2D (and, for the supervised term, the
labelled frames' 3D; for sec. 3.6, the extra single poses) on its devices, one block per device;
`draw_batch` gathers a batch of windows from it inside the compiled step, with the step's key, so
a resumed run sees the batches an uninterrupted one would.
"""

from __future__ import annotations

import flax
import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

from lifting import configs
from lifting.data import pipeline
from lifting.training import logs

# The mesh axis the batch and the pool's blocks are sharded on (`lifting.training.train_step.make_mesh`).
DATA_AXIS = "data"


def labelled_frames(data: pipeline.PoseData, fraction: float, seed: int, unit: str = "take") -> np.ndarray:
  """Indices of the training frames whose 3D the supervised term may use.

  ``fraction`` of the takes (``unit = "take"``: all of a take's cameras together, as a capture
  session would record them; at least one) or of the frames (``"frame"``: a uniform sample of
  every sequence's frames, as "5% of randomly sampled 3D data" reads in Chen et al., sec. 4.4; at
  least one), chosen with ``seed``. 1 means every frame.
  """
  if data.train_3d is None:
    raise ValueError("loss.w_supervised: the supervised term needs the training frames' 3D, but the data has none")
  if not 0 < fraction <= 1:
    raise ValueError(f"data.supervised_fraction: expected a fraction in (0, 1], got {fraction}")
  if unit not in ("take", "frame"):
    raise ValueError(f"data.supervised_unit: expected 'take' or 'frame', got {unit!r}")
  n = len(data.train_2d)
  if fraction == 1:
    return np.arange(n, dtype=np.int32)
  rng = np.random.default_rng(seed)
  if unit == "frame":
    return np.sort(rng.permutation(n)[:max(1, round(fraction * n))]).astype(np.int32)
  names = data.train_names or tuple(str(i) for i in range(len(data.sequence_lengths)))
  takes = sorted({name.rsplit("/cam", 1)[0] for name in names})
  chosen = set(rng.permutation(takes)[:max(1, round(fraction * len(takes)))].tolist())
  keep = np.repeat([name.rsplit("/cam", 1)[0] in chosen for name in names], data.sequence_lengths)
  return np.flatnonzero(keep).astype(np.int32)


@flax.struct.dataclass
class Pool:
  """The training set on the devices (`device_pool`): ``pool[name]`` is an array of ``arrays``.

  ``total_frames`` and ``total_extra`` are the sizes of the whole training set, over all
  processes (static: `lifting.configs.batch_split` needs them when the graph is built).
  """
  arrays: dict
  total_frames: int = flax.struct.field(pytree_node=False)
  total_extra: int = flax.struct.field(pytree_node=False, default=0)

  def __getitem__(self, name: str) -> jax.Array:
    return self.arrays[name]

  def __contains__(self, name: str) -> bool:
    return name in self.arrays


def _shard_sizes(data: pipeline.PoseData, window: int, labelled: np.ndarray | None, count: int) -> dict:
  """Rows of each of the ``count`` shards of `lifting.data.pipeline.shard`, per pool array: name -> ``[count]``."""
  lengths = np.asarray(data.sequence_lengths, np.int64)
  owner = np.arange(len(lengths)) % count
  sizes = {"frames": np.bincount(owner, lengths, count),
           "starts": np.bincount(owner, np.maximum(lengths - window + 1, 0), count)}
  if data.extra_2d is not None:
    sizes["extra"] = np.array([len(range(i, len(data.extra_2d), count)) for i in range(count)])
  if labelled is not None:
    sizes["labelled"] = np.bincount(np.repeat(owner, lengths)[labelled], minlength=count)
  return {k: v.astype(np.int64) for k, v in sizes.items()}


def device_pool(data: pipeline.PoseData, mesh: jax.sharding.Mesh, window: int,
                labelled: np.ndarray | None = None) -> Pool:
  """The training set on the devices of ``mesh``, for `draw_batch`; ``data`` is the whole set.

  Process i of P keeps only its shard (`lifting.data.pipeline.shard`: sequences and extra poses
  whose index % P == i). Every array has a leading axis D (``mesh.size``), sharded on ``data``:
  device d's block holds the shard of d's process, zero-padded to the largest shard, and
  ``num_<name> [D]`` counts its rows. Every process computes every shard's size from the split,
  so no data is exchanged. The arrays: ``frames [D, N, J, 2]`` and ``starts [D, K]`` (block
  indices of the frames that begin a ``window``-frame run inside one sequence); with ``labelled``
  (indices into ``data``, see `labelled_frames`) also ``frames_3d [D, N, J, 3]`` and ``labelled
  [D, L]`` (block indices), for the supervised term; with ``data.extra_2d`` also ``extra [D, E,
  J, 2]``. With one process every block is the whole training set.
  """
  count, index = jax.process_count(), jax.process_index()
  sizes = _shard_sizes(data, window, labelled, count)
  if count > 1:
    # Checked for every shard on every process, so all fail alike instead of some waiting for the others.
    num_seqs, num_extra = len(data.sequence_lengths), 0 if data.extra_2d is None else len(data.extra_2d)
    for name, what, among in (("starts", f"{window}-frame training windows", f"{num_seqs} sequences"),
                              ("extra", "extra poses (data.extra)", f"{num_extra} extra poses"),
                              ("labelled", "labelled frames (data.supervised_fraction)", "labelled sequences")):
      if name in sizes and not sizes[name].all():
        raise ValueError(f"training data: expected a share of the {among} for each of {count} processes, but the "
                         f"shards of processes {np.flatnonzero(sizes[name] == 0).tolist()} hold no {what}; use "
                         "fewer processes or more data")
  local = pipeline.shard(data, index, count)
  blocks = {"frames": np.asarray(local.train_2d, np.float32),
            "starts": np.asarray(local.window_starts(window), np.int32)}
  if data.extra_2d is not None:
    blocks["extra"] = np.asarray(local.extra_2d, np.float32)
  if labelled is not None:
    frames = pipeline.shard_frames(data.sequence_lengths, index, count)
    mine = np.asarray(labelled)[np.isin(labelled, frames)]
    blocks["frames_3d"] = np.asarray(local.train_3d, np.float32)
    blocks["labelled"] = np.searchsorted(frames, mine).astype(np.int32)  # Into this shard's frames.
  sizes["frames_3d"] = sizes["frames"]
  owners = [d.process_index for d in mesh.devices.flat]
  sharding = NamedSharding(mesh, P(DATA_AXIS))
  arrays = {}
  for name, block in blocks.items():
    padded = np.zeros((int(sizes[name].max()),) + block.shape[1:], block.dtype)
    padded[:len(block)] = block
    # Called for this process's devices only, and each of them holds this process's shard.
    arrays[name] = jax.make_array_from_callback((mesh.size,) + padded.shape, sharding, lambda _, v=padded: v[None])
    if name != "frames_3d":
      counts = np.asarray([sizes[name][p] for p in owners], np.int32)
      arrays[f"num_{name}"] = jax.make_array_from_callback(counts.shape, sharding, lambda idx, c=counts: c[idx])
  if count > 1:
    logs.log(f"{count} processes: each holds its shard of the training set, {sizes['frames'].min():,} to "
             f"{sizes['frames'].max():,} frames")
  return Pool(arrays, total_frames=len(data.train_2d), total_extra=0 if data.extra_2d is None else len(data.extra_2d))


def make_pool(config, data: pipeline.PoseData, mesh: jax.sharding.Mesh) -> Pool:
  """`device_pool` as a config asks for it (labelled frames only with the supervised term on)."""
  labelled = None
  if config.loss.w_supervised > 0:
    unit = config.data.supervised_unit
    labelled = labelled_frames(data, config.data.supervised_fraction, config.seed, unit)
    logs.log(f"supervised term: 3D of {len(labelled):,} of {len(data.train_2d):,} training frames "
             f"(data.supervised_fraction = {config.data.supervised_fraction} of the {unit}s)")
  return device_pool(data, mesh, configs.window_span(config), labelled)


def draw_batch(pool, key: jax.Array, num_windows: int, window, mesh=None, num_extra: int = 0) -> dict:
  """Draws a batch from a `device_pool` inside the compiled step.

  ``x`` and ``real`` are independent draws (sec. 3.4: the discriminator's real poses need not
  match the lifter's inputs), each ``num_windows`` windows of one sequence: ``[num_windows, T, J,
  2]``. ``window`` is T consecutive frames (an int), or the frames' offsets from the first
  (`lifting.configs.window_offsets`; the pool's starts must leave room for the largest). When the pool has
  labelled frames, ``sup_x`` ``[num_windows, J, 2]`` and ``sup_3d`` ``[num_windows, J, 3]`` (labelled frames and their
  ground
  truth) come too; with ``num_extra`` and an ``extra`` pool, ``x_extra`` and ``real_extra``
  ``[num_extra, J, 2]`` (independent draws of extra single poses).

  Each draw takes its indices for the whole batch from one key, row ``r`` below the count of the
  block it comes from, so with equal blocks (one process) the batch does not depend on the
  number of devices. Rows are cut into D equal parts (D: the pool's leading axis) and part ``d``
  is gathered from block ``d``; with a ``mesh`` the parts are sharded over ``data``, so each
  device gathers from its own block and no block leaves its device.
  """
  frames = pool["frames"]
  num_blocks = frames.shape[0]
  offsets = jnp.asarray(range(window) if isinstance(window, int) else window, dtype=pool["starts"].dtype)
  k_x, k_real, k_sup = jax.random.split(key, 3)

  def on_devices(x):
    return x if mesh is None else jax.lax.with_sharding_constraint(x, NamedSharding(mesh, P(DATA_AXIS)))

  def rows(k, counts, count):
    """``[D, count / D]`` indices into each block, each below its block's count."""
    if count % num_blocks:
      raise ValueError(f"draw_batch: expected a draw of a multiple of the pool's {num_blocks} blocks, got {count}")
    # The same numbers as a draw of shape [count] (a random value depends on its flat position
    # only), but drawn block by block, so no device needs another's count or indices.
    shape = (num_blocks, count // num_blocks)
    return on_devices(jax.random.randint(k, shape, 0, on_devices(counts)[:, None]))

  def gather(blocks, idx):
    """``blocks [D, N, ...]`` at ``idx [D, R, ...]`` per block, flattened to ``[D * R, ...]``."""
    out = on_devices(jax.vmap(lambda block, i: block[i])(blocks, idx))
    return on_devices(out.reshape((-1,) + out.shape[2:]))

  def windows(k):
    starts = jax.vmap(lambda s, i: s[i])(pool["starts"], rows(k, pool["num_starts"], num_windows))
    return gather(frames, starts[..., None] + offsets)

  batch = {"x": windows(k_x), "real": windows(k_real)}
  if "labelled" in pool:
    idx = jax.vmap(lambda s, i: s[i])(pool["labelled"], rows(k_sup, pool["num_labelled"], num_windows))
    batch["sup_x"], batch["sup_3d"] = gather(frames, idx), gather(pool["frames_3d"], idx)
  if num_extra:
    # Its own key, so the target draws are those of a run without extras.
    k_xe, k_re = jax.random.split(jax.random.fold_in(key, 7))
    batch["x_extra"] = gather(pool["extra"], rows(k_xe, pool["num_extra"], num_extra))
    batch["real_extra"] = gather(pool["extra"], rows(k_re, pool["num_extra"], num_extra))
  return batch
