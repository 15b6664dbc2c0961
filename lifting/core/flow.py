"""A normalizing-flow likelihood of 2D poses, the prior that replaces (or joins) the pose discriminator.

Beyond Chen et al.: ElePose (Wandt et al., CVPR 2022) scores the random projections of lifted poses by their
likelihood under a normalizing flow fitted beforehand to the real 2D poses, instead of a discriminator that
learns beside the lifter. Here the flow is a RealNVP (Dinh et al., ICLR 2017): affine coupling layers over
the pose's leading principal components, whitened; the part of a pose outside that subspace is scored by an
isotropic Gaussian of the training poses' residual variance, so no direction of the pose escapes the prior.
It is fitted once per run by maximum likelihood (`fit`), saved in the workdir (``flow.npz``) so a resumed run
uses the same prior, and frozen: the train step only reads it (``loss.w_flow``, the negative log-likelihood
per pose dimension of every projection).

ElePose also learns the camera elevation of each input; that part is not built here (the bandai cameras sit
at one height; ``rotation.elevation_range`` samples elevations as Chen et al. do).
"""

from __future__ import annotations

import dataclasses
import os

from flax import serialization
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

FILE = "flow.npz"


class _Coupling(nn.Module):
  """One affine coupling layer: the ``mask`` half conditions a scale and shift of the other half."""
  mask: tuple[bool, ...]
  width: int

  @nn.compact
  def __call__(self, x):
    mask = jnp.asarray(self.mask, x.dtype)
    h = nn.relu(nn.Dense(self.width)(x * mask))
    h = nn.relu(nn.Dense(self.width)(h))
    out = nn.Dense(2 * x.shape[-1], kernel_init=nn.initializers.zeros)(h)
    log_s, t = jnp.split(out, 2, axis=-1)
    log_s = jnp.tanh(log_s) * (1.0 - mask)  # Bounded scales keep the fit stable; the masked half passes through.
    t = t * (1.0 - mask)
    return x * jnp.exp(log_s) + t, jnp.sum(log_s, axis=-1)


class RealNVP(nn.Module):
  """``x [..., K] -> (z [..., K], log|det dz/dx| [...])`` through ``num_layers`` couplings (alternating random
  halves, fixed by ``seed``)."""
  dims: int
  num_layers: int = 6
  width: int = 128
  seed: int = 0

  @nn.compact
  def __call__(self, x):
    rng = np.random.default_rng(self.seed)
    logdet = jnp.zeros(x.shape[:-1], x.dtype)
    for i in range(self.num_layers):
      if i % 2 == 0:  # A new random half every two layers; the layer after it transforms the other half.
        half = np.zeros(self.dims, bool)
        half[rng.permutation(self.dims)[: self.dims // 2]] = True
      mask = half if i % 2 == 0 else ~half
      x, ld = _Coupling(tuple(bool(m) for m in mask), self.width)(x)
      logdet = logdet + ld
    return x, logdet


@dataclasses.dataclass(frozen=True)
class Prior:
  """A fitted flow prior of ``[J, 2]`` poses: PCA (``mean [D]``, ``basis [D, K]``, ``scale [K]``), the residual's
  variance outside the ``K`` components, and the flow's parameters."""
  mean: np.ndarray
  basis: np.ndarray
  scale: np.ndarray
  residual_var: float
  params: dict
  num_layers: int
  width: int
  held_out_nll: float = float("nan")

  @property
  def dims(self) -> int:
    return int(self.basis.shape[1])

  def module(self) -> RealNVP:
    return RealNVP(self.dims, self.num_layers, self.width)


def log_prob(prior: Prior, poses2d: jax.Array) -> jax.Array:
  """``[...]`` log-likelihood of ``[..., J, 2]`` poses under ``prior`` (up to constants), per pose dimension."""
  flat = poses2d.reshape(poses2d.shape[:-2] + (-1,))
  if flat.shape[-1] != prior.mean.shape[0]:
    raise ValueError(f"flow prior: expected poses of {prior.mean.shape[0] // 2} joints, got {poses2d.shape[-2]}")
  centred = flat - jnp.asarray(prior.mean)
  coords = centred @ jnp.asarray(prior.basis)
  residual = centred - coords @ jnp.asarray(prior.basis).T
  z, logdet = prior.module().apply({"params": prior.params}, coords / jnp.asarray(prior.scale))
  inside = -0.5 * jnp.sum(z ** 2, axis=-1) + logdet
  outside = -0.5 * jnp.sum(residual ** 2, axis=-1) / prior.residual_var
  return (inside + outside) / flat.shape[-1]


def fit(poses2d: np.ndarray, dims: int = 20, num_layers: int = 6, width: int = 128, num_steps: int = 3000,
        batch_size: int = 1024, learning_rate: float = 1e-3, seed: int = 0) -> Prior:
  """Fits a `Prior` to ``[N, J, 2]`` normalised poses by maximum likelihood; 5% of them are held out for the
  reported negative log-likelihood (``held_out_nll``, per dimension)."""
  poses2d = np.asarray(poses2d, np.float64)
  if poses2d.ndim != 3 or poses2d.shape[-1] != 2 or len(poses2d) < 100:
    raise ValueError(f"flow prior: expected at least 100 poses [N, J, 2], got shape {poses2d.shape}")
  flat = poses2d.reshape(len(poses2d), -1)
  rng = np.random.default_rng(seed)
  order = rng.permutation(len(flat))
  held = flat[order[: max(len(flat) // 20, 1)]]
  train = flat[order[len(held):]]
  mean = train.mean(0)
  _, sv, vt = np.linalg.svd(train[: 200_000] - mean, full_matrices=False)
  dims = min(dims, int(np.sum(sv > 1e-6 * sv[0])))
  basis = vt[:dims].T
  coords = (train - mean) @ basis
  scale = coords.std(0)
  residual = (train - mean) - coords @ basis.T
  residual_var = float(max(np.mean(residual ** 2), 1e-8))  # A floor: float32 round-off is not a pose error.
  module = RealNVP(dims, num_layers, width)
  params = module.init(jax.random.key(seed), jnp.zeros((1, dims), jnp.float32))["params"]
  tx = optax.adam(optax.cosine_decay_schedule(learning_rate, num_steps))
  opt = tx.init(params)
  data = jnp.asarray(coords / scale, jnp.float32)

  def nll(p, x):
    z, logdet = module.apply({"params": p}, x)
    return -jnp.mean(-0.5 * jnp.sum(z ** 2, -1) + logdet) / dims

  @jax.jit
  def step(p, o, k):
    idx = jax.random.randint(k, (batch_size,), 0, data.shape[0])
    loss, g = jax.value_and_grad(nll)(p, data[idx])
    updates, o = tx.update(g, o, p)
    return optax.apply_updates(p, updates), o, loss

  key = jax.random.key(seed + 1)
  for i in range(num_steps):
    params, opt, _ = step(params, opt, jax.random.fold_in(key, i))
  prior = Prior(mean.astype(np.float32), basis.astype(np.float32), scale.astype(np.float32), residual_var,
                jax.device_get(params), num_layers, width)
  held_nll = -float(np.mean(np.asarray(jax.jit(lambda x: log_prob(prior, x))(
      jnp.asarray(held.reshape(len(held), -1, 2), jnp.float32)))))
  return dataclasses.replace(prior, held_out_nll=held_nll)


def save(prior: Prior, path: str) -> None:
  tmp = path + f".tmp{os.getpid()}.npz"
  np.savez(tmp, mean=prior.mean, basis=prior.basis, scale=prior.scale, residual_var=prior.residual_var,
           num_layers=prior.num_layers, width=prior.width, held_out_nll=prior.held_out_nll,
           params=np.frombuffer(serialization.to_bytes(prior.params), np.uint8))
  os.replace(tmp, path)


def load(path: str) -> Prior:
  with np.load(path) as z:
    dims = z["basis"].shape[1]
    module = RealNVP(int(dims), int(z["num_layers"]), int(z["width"]))
    template = module.init(jax.random.key(0), jnp.zeros((1, dims), jnp.float32))["params"]
    params = serialization.from_bytes(template, z["params"].tobytes())
    return Prior(z["mean"], z["basis"], z["scale"], float(z["residual_var"]), jax.device_get(params),
                 int(z["num_layers"]), int(z["width"]), float(z["held_out_nll"]))


def for_run(config, train_2d: np.ndarray, workdir: str) -> Prior | None:
  """The run's prior when ``loss.w_flow > 0``: the one saved in ``workdir``, or one fitted to the training 2D
  (``model.flow``'s sizes, ``config.seed``) and saved there; ``None`` otherwise."""
  if config.loss.w_flow <= 0:
    return None
  path = os.path.join(workdir, FILE)
  if os.path.exists(path):
    return load(path)
  f = config.model.flow
  prior = fit(train_2d, f.dims, f.layers, f.width, f.num_steps, f.batch_size, f.lr, seed=config.seed)
  if jax.process_index() == 0:
    os.makedirs(workdir, exist_ok=True)
    save(prior, path)
  return prior
