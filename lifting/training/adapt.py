"""Unsupervised 2D domain adaptation (sec. 3.6, eq. 7) and the preparation of in-the-wild training poses.

``run.py --mode=adapt`` (`prepare`) turns source keypoint files into extra training poses:

1. read each source (`lifting.data.wild.read_sources`): unusable joints masked, poses with fewer
   than ``adapt.min_visible`` usable joints dropped, counts logged per source;
2. fill the missing joints of the others with a completion network trained on the target's
   training 2D with random joint dropout (sec. 4.6, `lifting.training.completion`), or drop them;
3. scale every pose to the target pool's median body size (`lifting.data.wild.body_size`);
4. train the adapter ``C`` against the domain discriminator ``D_D`` (eq. 7):
   ``x_sc = x_s + C(x_s)``, ``D_D`` tells ``x_sc`` from target poses ``x_t``, and
   ``lambda ||c C(x_s)||^2`` keeps corrections small (``c`` makes them fractions of the
   target's mean head-to-root length, so lambda does not depend on the normalisation);
5. write the adapted and the raw poses to the cache file that ``config.data.extra`` reads, with
   the counts and the diagnostics (`diagnostics`) in its metadata and in ``workdir/adapt.json``.

The adapter trains in one jitted step over the same ``data`` mesh as the lifter: batches are
drawn on the device from source and target pools and sharded over ``data``.
"""

from __future__ import annotations

import json
import os

import flax
from flax.training import train_state
import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np
import optax
import scipy.stats

from lifting import configs
from lifting.core import batching
from lifting.core import losses
from lifting.core import models as models_lib
from lifting.core import skeleton
from lifting.data import pipeline
from lifting.data import wild
from lifting.training import checkpoint
from lifting.training import completion as completion_lib
from lifting.training import logs
from lifting.training import train_step

# 2D bone-length ratios whose distributions show the semantic gap (head top vs skull base, hip
# and shoulder placement); (numerator bones, denominator bones) as joint-name pairs.
RATIOS = {
    "head-neck / neck-root": ((("head", "neck"),), (("neck", "root"),)),
    "shoulder width / hip width": ((("l_shoulder", "r_shoulder"),), (("l_hip", "r_hip"),)),
    "hip width / neck-root": ((("l_hip", "r_hip"),), (("neck", "root"),)),
    "upper / lower arm": ((("l_shoulder", "l_elbow"), ("r_shoulder", "r_elbow")),
                          (("l_elbow", "l_wrist"), ("r_elbow", "r_wrist"))),
    "upper / lower leg": ((("l_hip", "l_knee"), ("r_hip", "r_knee")), (("l_knee", "l_ankle"), ("r_knee", "r_ankle"))),
}


@flax.struct.dataclass
class AdapterStates:
  adapter: train_step.LifterState  # A TrainState with batch statistics: the adapter has BatchNorm too.
  disc: train_state.TrainState

  @property
  def step(self) -> jax.Array:
    return self.adapter.step


def build(config) -> tuple[models_lib.Adapter, models_lib.DomainDiscriminator]:
  a = config.adapt
  return (models_lib.Adapter(width=a.width, num_blocks=a.blocks),
          models_lib.DomainDiscriminator(width=a.width, num_blocks=a.disc_blocks))


def create_states(config, adapter, disc, num_joints: int, key: jax.Array) -> AdapterStates:
  k_a, k_d = jax.random.split(key)
  pose = jnp.zeros((1, num_joints, 2), jnp.float32)
  variables = adapter.init(k_a, pose)
  tx = lambda: optax.adam(config.adapt.lr, b1=0.5, b2=0.999)  # noqa: E731  GAN momentum, as for the lifter
  return AdapterStates(
      train_step.LifterState.create(apply_fn=adapter.apply, params=variables["params"], tx=tx(),
                          batch_stats=variables["batch_stats"]),
      train_state.TrainState.create(apply_fn=disc.apply, params=disc.init(k_d, pose)["params"], tx=tx()))


def make_step(config, adapter, disc, mesh=None):
  """The pure step ``(states, pool, key) -> (states, metrics)`` of eq. 7.

  ``pool`` holds ``source [Ns, J, 2]`` and ``target [Nt, J, 2]``; each step draws
  ``adapt.batch_size`` of each with ``fold_in(key, step)``.
  """
  a = config.adapt
  c, gan, batch = float(config.c), a.gan, a.batch_size

  def draw(k, poses):
    idx = jax.random.randint(k, (batch,), 0, poses.shape[0])
    if mesh is not None:
      idx = jax.lax.with_sharding_constraint(idx, NamedSharding(mesh, P("data")))
    return poses[idx]

  def step_fn(states: AdapterStates, pool: dict, key: jax.Array):
    k_s, k_t = jax.random.split(jax.random.fold_in(key, states.step))
    xs, xt = draw(k_s, pool["source"]), draw(k_t, pool["target"])

    def adapter_loss(params):
      corr, updates = adapter.apply({"params": params, "batch_stats": states.adapter.batch_stats}, xs, train=True,
                                    mutable=["batch_stats"])
      logits = disc.apply({"params": states.disc.params}, xs + corr)
      gen = losses.generator_loss(logits, gan)
      reg = losses.correction_penalty(corr, c)
      return gen + a.reg * reg, (gen, reg, corr, updates["batch_stats"])

    (total, (gen, reg, corr, stats)), grads = jax.value_and_grad(adapter_loss, has_aux=True)(states.adapter.params)
    new_adapter = states.adapter.apply_gradients(grads=grads, batch_stats=stats)
    fake = jax.lax.stop_gradient(xs + corr)

    def disc_loss(params):
      real_logits = disc.apply({"params": params}, xt)
      fake_logits = disc.apply({"params": params}, fake)
      return losses.discriminator_loss(real_logits, fake_logits, gan), (real_logits, fake_logits)

    (d_loss, (real_logits, fake_logits)), d_grads = jax.value_and_grad(disc_loss, has_aux=True)(states.disc.params)
    new_disc = states.disc.apply_gradients(grads=d_grads)
    sign = lambda z: jnp.mean(z > 0)  # noqa: E731  share of poses D_D calls target
    metrics = {"adapt/total": total, "adapt/gan": gen, "adapt/reg": reg, "adapt/disc": d_loss,
               "adapt/real_as_target": sign(real_logits), "adapt/fake_as_target": sign(fake_logits),
               "adapt/mean_correction": c * jnp.mean(jnp.linalg.norm(corr, axis=-1)),
               "norm/adapter_grads": optax.tree.norm(grads), "norm/adapter_params": optax.tree.norm(new_adapter.params),
               "norm/domain_disc_grads": optax.tree.norm(d_grads)}
    return AdapterStates(new_adapter, new_disc), metrics

  return step_fn


def apply_adapter(adapter, states: AdapterStates, poses: np.ndarray, chunk: int = 8192) -> np.ndarray:
  """``x_s + C(x_s)`` for ``[N, J, 2]`` poses (eval mode), in fixed-size chunks through one compiled function."""
  variables = {"params": states.adapter.params, "batch_stats": states.adapter.batch_stats}
  fn = jax.jit(lambda v, x: x + adapter.apply(v, x, train=False))
  poses = np.asarray(poses, np.float32)
  return batching.map_padded(lambda part: fn(variables, part), poses, size=chunk, empty=np.zeros_like(poses))


def train_adapter(config, source: np.ndarray, target: np.ndarray, writer: logs.MetricWriter | None = None,
                  mesh=None) -> tuple[AdapterStates, np.ndarray]:
  """Trains ``C`` and ``D_D`` (eq. 7) on ``source`` and ``target`` ``[N, J, 2]`` poses; returns the states
  and the adapted source poses."""
  mesh = train_step.make_mesh() if mesh is None else mesh
  if config.adapt.batch_size % mesh.size:
    raise ValueError(f"adapt.batch_size: expected a multiple of the {mesh.size} devices, got {config.adapt.batch_size}")
  adapter, disc = build(config)
  num_joints = source.shape[1]
  key_init, key = jax.random.split(jax.random.key(config.adapt.seed))
  replicated = NamedSharding(mesh, P())
  states = jax.jit(lambda k: create_states(config, adapter, disc, num_joints, k), out_shardings=replicated)(key_init)
  pool = {name: jax.make_array_from_callback(v.shape, replicated, lambda idx, v=v: v[idx])
          for name, v in (("source", np.asarray(source, np.float32)), ("target", np.asarray(target, np.float32)))}
  step = jax.jit(make_step(config, adapter, disc, mesh), in_shardings=(replicated, replicated, replicated),
                 out_shardings=(replicated, replicated), donate_argnums=(0,))
  num_steps, every = config.adapt.num_steps, max(config.adapt.num_steps // 10, 1)
  progress = logs.Progress(0, num_steps)
  pending = []
  for i in range(num_steps):
    states, m = step(states, pool, key)
    pending.append((i, m))
    if (i + 1) % every == 0 or i + 1 == num_steps:
      means = logs.flush_metrics(pending, writer)
      logs.log(f"adapter {progress.line(i + 1)} | D_D calls {100 * means['adapt/real_as_target']:.0f}% of target "
               f"and {100 * means['adapt/fake_as_target']:.0f}% of adapted poses target | mean correction "
               f"{means['adapt/mean_correction']:.3f} head-to-root")
  return states, apply_adapter(adapter, states, source)


# ---- Diagnostics ----

def _bone_lengths(poses: np.ndarray, layout: skeleton.Layout, bones) -> np.ndarray:
  def point(name):
    if name == "root":
      return poses[:, list(layout.root_joints)].mean(axis=1)
    return poses[:, layout.joints.index(name)]
  return np.mean([np.linalg.norm(point(a) - point(b), axis=-1) for a, b in bones], axis=0)


def bone_ratios(poses: np.ndarray, layout="paper14") -> dict[str, np.ndarray]:
  """`RATIOS` of ``[N, J, 2]`` poses: name -> ``[N]``."""
  layout = skeleton.get_layout(layout)
  poses = np.asarray(poses, np.float64)
  return {name: _bone_lengths(poses, layout, num) / np.maximum(_bone_lengths(poses, layout, den), 1e-9)
          for name, (num, den) in RATIOS.items()}


def body_axes(poses: np.ndarray, layout: skeleton.Layout) -> tuple[np.ndarray, np.ndarray]:
  """Per pose, unit ``up`` (root to neck) and ``lateral`` (``up`` turned 90 degrees) ``[N, 2]`` vectors."""
  root = poses[:, list(layout.root_joints)].mean(axis=1)
  up = poses[:, layout.joints.index("neck")] - root
  up = up / np.maximum(np.linalg.norm(up, axis=-1, keepdims=True), 1e-9)
  return up, np.stack([-up[:, 1], up[:, 0]], axis=-1)


def mean_corrections(raw: np.ndarray, adapted: np.ndarray, layout, c: float) -> dict[str, dict[str, float]]:
  """Per joint, the mean correction in the body's frame, in head-to-root lengths (``c`` times pool units).

  ``up``: along root-to-neck (positive = towards the head end); ``outward``: across the body,
  positive = away from the body's midline; ``norm``: mean length. The head also gets
  ``towards_neck``: along head-to-neck, positive = down towards the skull base.
  """
  layout = skeleton.get_layout(layout)
  corr = c * (np.asarray(adapted, np.float64) - np.asarray(raw, np.float64))
  up, lateral = body_axes(np.asarray(raw, np.float64), layout)
  root = raw[:, list(layout.root_joints)].mean(axis=1)
  out = {}
  for j, name in enumerate(layout.joints):
    side = np.sign(np.sum((raw[:, j] - root) * lateral, axis=-1))
    out[name] = {"up": float(np.mean(np.sum(corr[:, j] * up, axis=-1))),
                 "outward": float(np.mean(side * np.sum(corr[:, j] * lateral, axis=-1))),
                 "norm": float(np.mean(np.linalg.norm(corr[:, j], axis=-1)))}
  head, neck = layout.head, layout.joints.index("neck")
  down = raw[:, neck] - raw[:, head]
  down = down / np.maximum(np.linalg.norm(down, axis=-1, keepdims=True), 1e-9)
  out[layout.joints[head]]["towards_neck"] = float(np.mean(np.sum(corr[:, head] * down, axis=-1)))
  return out


def diagnostics(raw: np.ndarray, adapted: np.ndarray, target: np.ndarray, layout, c: float,
                max_target: int = 50_000, seed: int = 0) -> dict:
  """What the adapter changed and whether it closed the gap.

  ``mean_correction``: see `mean_corrections`. ``ratios``: per `RATIOS` entry, the median for
  raw source, adapted source and target, and the Kolmogorov-Smirnov distance of the raw and the
  adapted distribution to the target's (0: the same; robust to the huge ratios of side views).
  """
  rng = np.random.default_rng(seed)
  if len(target) > max_target:
    target = target[rng.choice(len(target), max_target, replace=False)]
  sets = {"raw": bone_ratios(raw, layout), "adapted": bone_ratios(adapted, layout),
          "target": bone_ratios(target, layout)}
  ratios = {}
  for name in RATIOS:
    t = sets["target"][name]
    ratios[name] = {**{f"median_{k}": float(np.median(v[name])) for k, v in sets.items()},
                    "ks_raw": float(scipy.stats.ks_2samp(sets["raw"][name], t).statistic),
                    "ks_adapted": float(scipy.stats.ks_2samp(sets["adapted"][name], t).statistic)}
  return {"mean_correction": mean_corrections(raw, adapted, layout, c), "ratios": ratios}


def nearest(queries: np.ndarray, pool: np.ndarray, chunk: int = 4096) -> np.ndarray:
  """Index into ``pool [M, J, 2]`` of the pose nearest to each of ``queries [N, J, 2]`` (mean joint distance)."""
  q = jnp.asarray(queries, jnp.float32)
  best = []
  dist = jax.jit(lambda q, p: jnp.mean(jnp.linalg.norm(q[:, None] - p[None], axis=-1), axis=-1))
  for start in range(0, len(pool), chunk):
    best.append(np.asarray(dist(q, jnp.asarray(pool[start:start + chunk], jnp.float32))))
  return np.argmin(np.concatenate(best, axis=1), axis=1)


def draw_figures(folder: str, raw: np.ndarray, adapted: np.ndarray, target: np.ndarray, layout, c: float,
                 completed: np.ndarray | None = None, count: int = 4, seed: int = 0, max_target: int = 50_000
                 ) -> list[str]:
  """Writes ``adaptation_examples.png`` (Fig. 5), ``adaptation_corrections.png`` and ``adaptation_ratios.png``."""
  from lifting.app import plots  # Matplotlib only when drawing.

  layout = skeleton.get_layout(layout)
  rng = np.random.default_rng(seed)
  pool = target if len(target) <= max_target else target[rng.choice(len(target), max_target, replace=False)]
  picks = list(rng.choice(len(raw), size=min(count, len(raw)), replace=False))
  if completed is not None and completed.any() and not completed[picks].any():
    picks[-1] = int(rng.choice(np.flatnonzero(completed)))  # Show one completed pose too.
  near = nearest(adapted[picks], pool)
  items = [{"source": raw[i], "adapted": adapted[i], "target": pool[k],
            "title": f"source pose {i}" + (" (completed)" if completed is not None and completed[i] else "")}
           for i, k in zip(picks, near)]
  sample = lambda x: x if len(x) <= max_target else x[rng.choice(len(x), max_target, replace=False)]  # noqa: E731
  return [plots.adaptation_examples(items, layout, os.path.join(folder, "adaptation_examples.png")),
          plots.correction_figure(mean_corrections(raw, adapted, layout, c),
                                  os.path.join(folder, "adaptation_corrections.png")),
          plots.ratio_distributions({"raw source": bone_ratios(sample(raw), layout),
                                     "adapted source": bone_ratios(sample(adapted), layout),
                                     "target": bone_ratios(pool, layout)},
                                    os.path.join(folder, "adaptation_ratios.png"))]


def figures_from_cache(config, folder: str) -> list[str]:
  """`draw_figures` for the poses ``config.data.extra`` points at, against the config's training 2D."""
  path = wild.extra_path(config)
  if not os.path.exists(path):
    raise ValueError(f"no prepared source poses at {path}; run `python run.py --mode=adapt` first")
  with np.load(path) as z:
    raw, adapted, completed = z["raw"], z["adapted"], z["completed"]
  target = pipeline.load(config, extra=False).train_2d
  return draw_figures(folder, raw, adapted, target, config.layout, config.c, completed)


# ---- The --mode=adapt entry point ----

def prepare(config, workdir: str, reuse: bool = True, figures: bool = True) -> dict:
  """Completes, scales and adapts the sources of ``config.adapt`` to the target data; writes the cache.

  Returns the metadata written beside the poses (counts per source, completion errors,
  diagnostics, the cache path). With ``reuse`` an existing cache file is kept and its metadata
  returned. With ``figures`` the diagnostics are also drawn to ``workdir/figures``.
  """
  configs.validate_adapt(config)
  layout = skeleton.get_layout(config.layout)
  path = wild.extra_path(config)
  if reuse and os.path.exists(path):
    with np.load(path) as z:
      meta = json.loads(str(z["meta"]))
    logs.log(f"adapted source poses already prepared at {path}; delete the file to prepare them again")
    return meta
  a = config.adapt
  target = pipeline.load(config, extra=False).train_2d
  src = wild.read_sources(a.sources, a.min_visible, a.occluded_missing, a.min_score)
  complete = src.mask.all(axis=1)
  poses, completed, info = src.poses, np.zeros(len(complete), bool), None
  if a.complete and (~complete).any():
    cc = a.completion
    max_missing = layout.num_joints - a.min_visible
    logs.log(f"completion network: training on {len(target):,} target poses, up to {max_missing} joints dropped")
    model = completion_lib.train_completer(target, max_missing=max_missing, width=cc.width, num_layers=cc.layers,
                                           num_steps=cc.num_steps, batch_size=cc.batch_size, learning_rate=cc.lr,
                                           seed=a.seed)
    info = model.held_out
    if jax.process_index() == 0:
      completion_lib.save(model, os.path.join(workdir, "completion"))  # For lifting new incomplete poses.
    logs.log(f"completion on held-out target poses: filled joints off by {config.c * info['error']:.3f} head-to-root "
             f"lengths (mean-pose fill: {config.c * info['baseline_error']:.3f})")
    poses = completion_lib.complete(model, poses, src.mask)
    completed = ~complete
  else:
    poses, keep = poses[complete], complete
    src = wild.SourcePoses(poses, src.mask[keep], src.source[keep], src.names, src.counts)
    completed = completed[keep]
  size = float(np.median(wild.body_size(target, layout)))
  raw = wild.scale_to(poses, size, layout)
  for i, name in enumerate(src.names):
    mine = src.source == i
    src.counts[name].update(kept=int(mine.sum()), completed=int((completed & mine).sum()),
                            dropped_total=src.counts[name]["poses"] - int(mine.sum()))
    logs.log(f"source {name}: {src.counts[name]['poses']:,} poses: kept {mine.sum():,} "
             f"({(completed & mine).sum():,} completed), dropped {src.counts[name]['poses'] - mine.sum():,}")

  writer = logs.MetricWriter(workdir, enabled=jax.process_index() == 0)
  writer.write_config(config)
  logs.log(f"adapter: {len(raw):,} source poses to {len(target):,} target poses, {a.num_steps} steps")
  states, adapted = train_adapter(config, raw, target, writer)
  writer.close()
  diag = diagnostics(raw, adapted, target, layout, config.c)
  head = diag["mean_correction"][layout.joints[layout.head]]
  logs.log(f"adapter: mean head correction {head['towards_neck']:+.3f} head-to-root lengths towards the neck; "
           + "; ".join(f"{k}: KS to target {v['ks_raw']:.3f} -> {v['ks_adapted']:.3f}"
                       for k, v in diag["ratios"].items()))
  meta = {"path": path, "sources": src.counts, "names": list(src.names), "num_poses": int(len(raw)),
          "num_completed": int(completed.sum()), "body_size": size, "completion": info, "diagnostics": diag,
          "target_poses": int(len(target))}
  if jax.process_index() == 0:
    wild.write_extra(path, adapted, raw, completed, src.source, meta)
    with open(os.path.join(workdir, "adapt.json"), "w") as f:
      json.dump(meta, f, indent=2)
    for figure in (draw_figures(os.path.join(workdir, "figures"), raw, adapted, target, layout, config.c, completed)
                   if figures else []):
      logs.log(f"wrote {figure}")
  _save_adapter(workdir, states)  # Orbax saves from every process.
  logs.log(f"wrote {len(raw):,} adapted and raw source poses to {path}")
  return meta


def _save_adapter(workdir: str, states: AdapterStates) -> None:
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "adapter"), 1)
  ckpt.save(int(states.step), states)
  ckpt.close()


def summary(meta: dict) -> str:
  """A few lines on what `prepare` did: counts per source, completion, the head correction, the ratio gaps."""
  lines = [f"{meta['num_poses']:,} source poses ({meta['num_completed']:,} completed) in {meta['path']}"]
  for name, c in meta["sources"].items():
    lines.append(f"  {name}: {c['poses']:,} read, {c['complete']:,} complete, {c['completed']:,} completed, "
                 f"{c['dropped_total']:,} dropped")
  if meta.get("completion"):
    info = meta["completion"]
    lines.append(f"  completion on held-out target poses: error {info['error']:.4f} vs mean-pose fill "
                 f"{info['baseline_error']:.4f} (pool units)")
  diag = meta["diagnostics"]
  head = next(v for v in diag["mean_correction"].values() if "towards_neck" in v)
  lines.append(f"  mean head correction: {head['towards_neck']:+.3f} head-to-root lengths towards the neck")
  for name, r in diag["ratios"].items():
    lines.append(f"  {name}: median raw {r['median_raw']:.2f}, adapted {r['median_adapted']:.2f}, target "
                 f"{r['median_target']:.2f}; KS distance to target {r['ks_raw']:.3f} -> {r['ks_adapted']:.3f}")
  return "\n".join(lines)
