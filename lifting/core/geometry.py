"""Camera geometry of Chen et al. (CVPR 2019), as pure JAX functions.

Every function is shape-polymorphic over leading batch dimensions (``[..., J, 3]``), has no
state, and is safe under ``jax.jit``, ``jax.vmap`` and ``jax.grad``, so it can be reused in any
JAX code::

    import jax, jax.numpy as jnp
    from lifting.core import geometry as geo

    key = jax.random.key(0)
    pose3d = ...                                        # [B, J, 3], root at X_r
    R = geo.random_rotation(key, (pose3d.shape[0],))     # [B, 3, 3]
    root = pose3d[..., [2, 3], :].mean(-2)               # hip midpoint, [B, 3]
    y2d = geo.project(geo.rigid_transform(pose3d, R, root, c=10.0))

Conventions. Cameras have unit focal length, sit at the origin and look along +Z; image x points
right and image y points *down* (the usual pixel convention), so "up" for a person is -Y. The
skeleton is placed at depth ``c`` (the paper uses ``c = 10``) and 2D poses are normalised so the
mean head-to-root distance is ``1 / c``, which makes lifted skeletons about one unit from head to
root.
"""

from __future__ import annotations

from collections.abc import Sequence
import math

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

DEFAULT_AZIMUTH_RANGE = (-math.pi, math.pi)
DEFAULT_ELEVATION_RANGE = (-math.pi / 9, math.pi / 9)
DEFAULT_ROLL_RANGE = (0.0, 0.0)


def _check_last(x: Array, size: int, name: str, what: str) -> None:
  if x.ndim < 1 or x.shape[-1] != size:
    raise ValueError(f"{name}: expected {what} with last dimension {size}, got shape {tuple(x.shape)}")


def _check_points(x: Array, dim: int, name: str) -> None:
  if x.ndim < 2 or x.shape[-1] != dim:
    raise ValueError(f"{name}: expected an array of shape [..., J, {dim}], got shape {tuple(x.shape)}")


def _check_rotation(rotation: Array, name: str) -> None:
  if rotation.ndim < 2 or rotation.shape[-2:] != (3, 3):
    raise ValueError(f"{name}: expected rotation of shape [..., 3, 3], got shape {tuple(rotation.shape)}")


def project(points3d: Array) -> Array:
  """Perspective projection with unit focal length.

  Args:
    points3d: ``[..., 3]`` camera-frame points with Z > 0.

  Returns:
    ``[..., 2]`` image points ``(X / Z, Y / Z)``.
  """
  points3d = jnp.asarray(points3d)
  _check_last(points3d, 3, "project", "points")
  return points3d[..., :2] / points3d[..., 2:3]


def depth_to_points(pose2d: Array, depth_offsets: Array, c: float = 10.0) -> Array:
  """Back-projects 2D joints with predicted depth offsets (eq. 2 of the paper).

  ``z_i = max(1, c + d_i)`` and ``X_i = (x_i z_i, y_i z_i, z_i)``. The clamp keeps every joint at
  least one unit in front of the camera; its gradient is 1 above the kink and 0 below (JAX picks
  0.5 exactly at it), never NaN.

  Args:
    pose2d: ``[..., J, 2]`` normalised 2D joints.
    depth_offsets: ``[..., J]`` offsets ``d_i`` relative to the plane at depth ``c``.
    c: distance of the skeleton's plane from the camera.

  Returns:
    ``[..., J, 3]`` camera-frame 3D joints.
  """
  pose2d = jnp.asarray(pose2d)
  depth_offsets = jnp.asarray(depth_offsets)
  _check_points(pose2d, 2, "depth_to_points(pose2d)")
  if depth_offsets.shape != pose2d.shape[:-1]:
    raise ValueError(
        f"depth_to_points: expected depth_offsets of shape {tuple(pose2d.shape[:-1])} (one per joint of "
        f"pose2d {tuple(pose2d.shape)}), got shape {tuple(depth_offsets.shape)}")
  z = jnp.maximum(1.0, c + depth_offsets)[..., None]
  return jnp.concatenate([pose2d * z, z], axis=-1)


def rotation_matrix(azimuth: Array, elevation: Array, roll: Array | float = 0.0) -> Array:
  """Rotation from camera-frame angles: ``R = Rz(roll) @ Rx(elevation) @ Ry(azimuth)``.

  Azimuth turns the subject about the camera's vertical (Y) axis, elevation tilts it about the
  horizontal (X) axis, roll turns it in the image plane (about Z). Applied to a root-centred
  skeleton this is the same as moving the camera around it.

  Args:
    azimuth, elevation, roll: broadcastable arrays of angles in radians, shape ``[...]``.

  Returns:
    ``[..., 3, 3]`` rotation matrices (orthonormal, det +1).
  """
  azimuth, elevation, roll = jnp.broadcast_arrays(
      jnp.asarray(azimuth, jnp.float32), jnp.asarray(elevation, jnp.float32), jnp.asarray(roll, jnp.float32))
  one, zero = jnp.ones_like(azimuth), jnp.zeros_like(azimuth)

  def mat(rows):
    return jnp.stack([jnp.stack(r, axis=-1) for r in rows], axis=-2)

  ca, sa = jnp.cos(azimuth), jnp.sin(azimuth)
  ce, se = jnp.cos(elevation), jnp.sin(elevation)
  cr, sr = jnp.cos(roll), jnp.sin(roll)
  ry = mat([[ca, zero, sa], [zero, one, zero], [-sa, zero, ca]])
  rx = mat([[one, zero, zero], [zero, ce, -se], [zero, se, ce]])
  rz = mat([[cr, -sr, zero], [sr, cr, zero], [zero, zero, one]])
  return rz @ rx @ ry


def random_rotation(
    key: Array,
    shape: Sequence[int] = (),
    azimuth_range: Sequence[float] = DEFAULT_AZIMUTH_RANGE,
    elevation_range: Sequence[float] = DEFAULT_ELEVATION_RANGE,
    roll_range: Sequence[float] = DEFAULT_ROLL_RANGE,
) -> Array:
  """Random camera rotations as in sec. 3.2 of the paper.

  Azimuth, elevation and roll are drawn independently and uniformly from their ranges (defaults:
  azimuth in [-pi, pi], elevation in [-pi/9, pi/9], no roll) and combined by `rotation_matrix`.

  Args:
    key: a JAX PRNG key.
    shape: batch shape of the result.
    azimuth_range, elevation_range, roll_range: ``(low, high)`` in radians.

  Returns:
    ``[*shape, 3, 3]`` rotation matrices.
  """
  shape = tuple(shape)
  ranges = {"azimuth_range": azimuth_range, "elevation_range": elevation_range, "roll_range": roll_range}
  for name, r in ranges.items():
    if len(r) != 2 or r[0] > r[1]:
      raise ValueError(f"random_rotation: expected {name} as (low, high) with low <= high, got {tuple(r)}")
  ka, ke, kr = jax.random.split(key, 3)

  def uniform(k, r):
    return jax.random.uniform(k, shape, jnp.float32, r[0], r[1])

  return rotation_matrix(uniform(ka, azimuth_range), uniform(ke, elevation_range), uniform(kr, roll_range))


def rigid_transform(points: Array, rotation: Array, root: Array, c: float = 10.0) -> Array:
  """Eq. 3 of the paper: ``Y = R (X - X_r) + [0, 0, c]``.

  Args:
    points: ``[..., J, 3]`` 3D joints ``X``.
    rotation: ``[..., 3, 3]`` rotations ``R`` (batch dims broadcast against ``points``).
    root: ``[..., 3]`` root position ``X_r``.
    c: depth at which the rotated skeleton's root is placed: a number, or ``[...]`` one per pose.

  Returns:
    ``[..., J, 3]`` transformed joints ``Y``.
  """
  points, rotation, root = map(jnp.asarray, (points, rotation, root))
  _check_points(points, 3, "rigid_transform(points)")
  _check_rotation(rotation, "rigid_transform")
  _check_last(root, 3, "rigid_transform(root)", "a root point")
  centred = points - root[..., None, :]
  return jnp.einsum("...ij,...nj->...ni", rotation, centred) + camera_root(c, points.dtype)


def camera_root(c, dtype=jnp.float32) -> Array:
  """Where eq. 3 puts a skeleton's root, ``[0, 0, c]``: ``[3]`` for a number ``c``, ``[..., 1, 3]`` for depths
  ``[...]`` (one per pose), so it broadcasts against ``[..., J, 3]`` joints."""
  if isinstance(c, (int, float)):
    return jnp.array([0.0, 0.0, c], dtype)
  c = jnp.asarray(c, dtype)
  zero = jnp.zeros_like(c)
  return jnp.stack([zero, zero, c], axis=-1)[..., None, :]


def inverse_rigid_transform(points: Array, rotation: Array, root: Array, c: float = 10.0) -> Array:
  """Exact inverse of `rigid_transform`: ``X = R^T (Y - [0, 0, c]) + X_r``.

  Args and shapes as in `rigid_transform`, with ``points`` the transformed joints ``Y``.
  """
  points, rotation, root = map(jnp.asarray, (points, rotation, root))
  _check_points(points, 3, "inverse_rigid_transform(points)")
  _check_rotation(rotation, "inverse_rigid_transform")
  _check_last(root, 3, "inverse_rigid_transform(root)", "a root point")
  shifted = points - camera_root(c, points.dtype)
  return jnp.einsum("...ji,...nj->...ni", rotation, shifted) + root[..., None, :]


def body_tilt(points: Array, top: Sequence[int], bottom: Sequence[int]) -> tuple[Array, Array]:
  """How a body's own vertical leans in the camera frame: ``(elevation [...], roll [...])`` in radians.

  The body's vertical is the direction from the mean of the ``bottom`` joints (e.g. the ankles) to the mean of
  the ``top`` joints (e.g. the neck) of ``points [..., J, 3]``. An upright body seen by a camera tilted down by
  ``e`` and rolled by ``r`` (``rotation_matrix(0, e, r)``) has elevation ``e`` and roll ``r``, so
  ``rotation_matrix(0, -e) @ rotation_matrix(0, 0, -r)`` turns it upright (its vertical along -y).
  """
  points = jnp.asarray(points)
  _check_points(points, 3, "body_tilt(points)")
  up = points[..., list(top), :].mean(axis=-2) - points[..., list(bottom), :].mean(axis=-2)
  roll = jnp.arctan2(up[..., 0], -up[..., 1])
  elevation = jnp.arctan2(-up[..., 2], jnp.hypot(up[..., 0], up[..., 1]))
  return elevation, roll


def _check_root(name: str, points, root_joints: Sequence[int]) -> None:
  if points.ndim < 2:
    raise ValueError(f"{name}: expected an array of shape [..., J, D], got shape {tuple(points.shape)}")
  bad = [j for j in root_joints if not -points.shape[-2] <= j < points.shape[-2]]
  if not root_joints or bad:
    raise ValueError(f"{name}: expected root joint indices in [0, {points.shape[-2]}), got {tuple(root_joints)}")


def root_of(points: Array, root_joints: Sequence[int]) -> Array:
  """Root position: the mean of ``root_joints`` (the two hips in every layout here).

  Args:
    points: ``[..., J, D]``.
    root_joints: joint indices.

  Returns:
    ``[..., D]``.
  """
  points = jnp.asarray(points)
  _check_root("root_of", points, root_joints)
  return points[..., list(root_joints), :].mean(axis=-2)


def root_centred(points: Array, root_joints: Sequence[int]) -> Array:
  """``points [..., J, D]`` moved so their root (`root_of`) is at the origin.

  A numpy array comes back as numpy (its dtype kept), anything else as a JAX array (jit-compatible).
  """
  xp = np if isinstance(points, np.ndarray) else jnp
  points = xp.asarray(points)
  _check_root("root_centred", points, root_joints)
  return points - points[..., list(root_joints), :].mean(axis=-2, keepdims=True)


def normalize_pose2d(
    pose2d: Array,
    root_joints: Sequence[int],
    head_joint: int,
    c: float = 10.0,
    per_pose: bool = True,
    scale: Array | float | None = None,
) -> tuple[Array, Array, Array]:
  """Centres 2D poses on the root and scales them so head-to-root is ``1 / c`` (sec. 3).

  With ``per_pose=True`` every pose gets its own scale, so each has head-to-root exactly
  ``1 / c``. With ``per_pose=False`` one dataset-level scale is computed over all leading
  dimensions, so the *mean* head-to-root distance is ``1 / c`` and relative sizes survive (this is
  the paper's wording). Passing ``scale`` applies a known scale instead, e.g. a training set's
  dataset-level scale to test data.

  Args:
    pose2d: ``[..., J, 2]`` 2D joints in any units (e.g. pixels).
    root_joints: indices whose mean is the root (hip midpoint).
    head_joint: index of the head joint.
    c: the skeleton's depth; the target head-to-root distance is ``1 / c``.
    per_pose: per-pose (``True``) or dataset-level (``False``) scale.
    scale: optional precomputed scale, broadcastable to ``[...]``; overrides ``per_pose``.

  Returns:
    ``(normalized [..., J, 2], root [..., 2], scale)`` with ``normalized = (pose2d - root) * scale``;
    ``scale`` has shape ``[...]`` per pose, or ``[]`` at dataset level. `denormalize_pose2d` maps
    back.
  """
  pose2d = jnp.asarray(pose2d)
  if not jnp.issubdtype(pose2d.dtype, jnp.floating):  # Integer pixels would round the scale to 0.
    pose2d = pose2d.astype(jnp.float32)
  _check_points(pose2d, 2, "normalize_pose2d(pose2d)")
  if not -pose2d.shape[-2] <= head_joint < pose2d.shape[-2]:
    raise ValueError(f"normalize_pose2d: expected head_joint in [0, {pose2d.shape[-2]}), got {head_joint}")
  root = root_of(pose2d, root_joints)
  centred = pose2d - root[..., None, :]
  if scale is None:
    dist = jnp.linalg.norm(centred[..., head_joint, :], axis=-1)
    if not per_pose:
      dist = dist.mean()
    # Guards a degenerate pose (head on the root) against division by zero.
    scale = 1.0 / (c * jnp.maximum(dist, 1e-8))
  scale = jnp.asarray(scale, pose2d.dtype)
  return centred * scale[..., None, None], root, scale


# Per-pose normalisation by body size (`normalize_limb_size`): the mean length of the eight limb bones, in units
# of 1 / c. The bandai training poses' median limb size is 0.60 of their head-to-root length, so poses keep
# about the head-to-root size 1 / c of the paper's normalisation.
LIMB_SIZE = 0.6


def limb_size(pose2d: Array, bones: Sequence[tuple[int, int]]) -> Array:
  """``[...]``: the mean length of ``bones`` (index pairs, e.g. `Layout.limb_bones`) in ``[..., J, D]`` poses.

  The one limb size of the library: inside JAX (the train step) for JAX arrays, and in numpy at the input's own
  precision for numpy arrays (a user's keypoints in `lifting.app.inference`, `lifting.data.wild.body_size`)."""
  xp = np if isinstance(pose2d, np.ndarray) else jnp
  pose2d = xp.asarray(pose2d)
  if not bones:
    raise ValueError("limb_size: expected at least one bone")
  a = pose2d[..., [i for i, _ in bones], :]
  b = pose2d[..., [j for _, j in bones], :]
  return xp.mean(xp.linalg.norm(a - b, axis=-1), axis=-1)


def normalize_limb_size(pose2d: Array, root_joints: Sequence[int], bones: Sequence[tuple[int, int]],
                        c: float = 10.0, size: float = LIMB_SIZE) -> tuple[Array, Array, Array]:
  """Centres each ``[..., J, 2]`` pose on its root and scales it so its `limb_size` is ``size / c``.

  A scale per pose that needs no dataset statistics, so keypoints from anywhere (a detector, another
  dataset, a training pool) are brought into the same frame. Returns ``(normalized, root [..., 2],
  scale [...])`` as `normalize_pose2d` does; `denormalize_pose2d` maps back.
  """
  pose2d = jnp.asarray(pose2d)
  if not jnp.issubdtype(pose2d.dtype, jnp.floating):
    pose2d = pose2d.astype(jnp.float32)
  _check_points(pose2d, 2, "normalize_limb_size(pose2d)")
  root = root_of(pose2d, root_joints)
  centred = pose2d - root[..., None, :]
  scale = (size / c) / jnp.maximum(limb_size(centred, bones), 1e-8)  # Guards a pose whose limbs have no length.
  return centred * scale[..., None, None], root, scale


def denormalize_pose2d(normalized: Array, root: Array, scale: Array | float) -> Array:
  """Inverse of `normalize_pose2d`: ``normalized / scale + root``; shapes as it returns them."""
  normalized = jnp.asarray(normalized)
  scale = jnp.asarray(scale, normalized.dtype)
  return normalized / scale[..., None, None] + jnp.asarray(root)[..., None, :]


def procrustes(pred: Array, target: Array, scale: bool = True, allow_reflection: bool = False
               ) -> tuple[Array, Array, Array]:
  """Least-squares similarity transform mapping ``pred`` onto ``target`` (Umeyama, 1991).

  Finds ``s, R, t`` minimising ``sum_j |s R p_j + t - q_j|^2``. Reflections: by default ``R`` is
  a proper rotation (det +1); when the best orthogonal map is a reflection, the singular vector
  with the smallest singular value is flipped, which gives the best *rotation*. A mirrored
  prediction is therefore penalised, not silently corrected. ``allow_reflection=True`` permits
  det -1.

  Args:
    pred, target: ``[..., J, D]`` point sets (``D`` is usually 3).
    scale: also fit the scale ``s`` (else ``s = 1``).
    allow_reflection: allow ``det(R) = -1``.

  Returns:
    ``(s [...], R [..., D, D], t [..., D])``.
  """
  pred, target = jnp.asarray(pred), jnp.asarray(target)
  if pred.ndim < 2 or pred.shape != target.shape:
    raise ValueError(f"procrustes: expected pred and target of the same shape [..., J, D], "
                     f"got {tuple(pred.shape)} and {tuple(target.shape)}")
  mu_p = pred.mean(axis=-2, keepdims=True)
  mu_t = target.mean(axis=-2, keepdims=True)
  p, q = pred - mu_p, target - mu_t
  cov = jnp.einsum("...ji,...jk->...ik", q, p)           # [..., D, D] = q^T p
  u, sing, vt = jnp.linalg.svd(cov)
  if not allow_reflection:
    d = jnp.sign(jnp.linalg.det(u @ vt))
    d = jnp.where(d == 0, 1.0, d)
    flip = jnp.ones(sing.shape, sing.dtype).at[..., -1].set(d)
    u = u * flip[..., None, :]
    sing = sing * flip
  rotation = u @ vt
  if scale:
    var_p = jnp.sum(p * p, axis=(-2, -1))
    s = jnp.sum(sing, axis=-1) / jnp.maximum(var_p, 1e-12)
  else:
    s = jnp.ones(pred.shape[:-2], pred.dtype)
  t = mu_t[..., 0, :] - s[..., None] * jnp.einsum("...ij,...j->...i", rotation, mu_p[..., 0, :])
  return s, rotation, t


def procrustes_align(pred: Array, target: Array, scale: bool = True, allow_reflection: bool = False) -> Array:
  """Aligns ``pred`` to ``target`` by the best similarity transform (see `procrustes`).

  Args:
    pred, target: ``[..., J, D]``.
    scale, allow_reflection: as in `procrustes`; reflections are excluded by default.

  Returns:
    ``[..., J, D]`` the aligned prediction ``s R pred + t``.
  """
  s, rotation, t = procrustes(pred, target, scale=scale, allow_reflection=allow_reflection)
  return s[..., None, None] * jnp.einsum("...ij,...nj->...ni", rotation, jnp.asarray(pred)) + t[..., None, :]


def mirror_pose2d(pose2d: Array, flip_permutation: Sequence[int]) -> Array:
  """Mirrors root-centred 2D poses left to right: ``x -> -x`` and left and right joints swapped.

  The mirror image of a person, with its labels swapped, is another valid person, seen by the
  mirrored camera; its 3D is `mirror_pose3d` of the original's.

  Args:
    pose2d: ``[..., J, 2]`` 2D joints, centred on the root (x = 0 at the root).
    flip_permutation: ``[J]`` the index of each joint's mirror partner
      (`lifting.core.skeleton.Layout.flip_permutation`).

  Returns:
    ``[..., J, 2]`` mirrored joints.
  """
  pose2d = jnp.asarray(pose2d)
  _check_points(pose2d, 2, "mirror_pose2d")
  perm = jnp.asarray(flip_permutation)
  if perm.shape != (pose2d.shape[-2],):
    raise ValueError(f"mirror_pose2d: expected a permutation of the {pose2d.shape[-2]} joints, got shape "
                     f"{tuple(perm.shape)}")
  return pose2d[..., perm, :] * jnp.array([-1.0, 1.0], pose2d.dtype)


def mirror_pose3d(points: Array, flip_permutation: Sequence[int]) -> Array:
  """Mirrors camera-frame 3D joints left to right (``X -> -X``, left and right swapped); depth is kept.

  Args:
    points: ``[..., J, 3]``.
    flip_permutation: ``[J]``, as in `mirror_pose2d`.
  """
  points = jnp.asarray(points)
  _check_points(points, 3, "mirror_pose3d")
  perm = jnp.asarray(flip_permutation)
  if perm.shape != (points.shape[-2],):
    raise ValueError(f"mirror_pose3d: expected a permutation of the {points.shape[-2]} joints, got shape "
                     f"{tuple(perm.shape)}")
  return points[..., perm, :] * jnp.array([-1.0, 1.0, 1.0], points.dtype)


def flip_average(lift_fn, pose2d: Array, flip_permutation: Sequence[int]) -> Array:
  """Test-time flip averaging: the mean of ``lift_fn(pose2d)`` and the mirrored lift of the mirrored pose.

  ``lift_fn`` maps ``[..., J, 2]`` normalised 2D to camera-frame ``[..., J, 3]``. A pose and its mirror image
  should lift to mirror images; averaging the two lifts cancels part of each one's error (the horizontal flip
  of test-time augmentation in Pavllo et al., CVPR 2019, VideoPose3D).
  """
  mirrored = lift_fn(mirror_pose2d(pose2d, flip_permutation))
  return 0.5 * (lift_fn(pose2d) + mirror_pose3d(mirrored, flip_permutation))


def roll_average(lift_fn, pose2d: Array, angles: Sequence[float]) -> Array:
  """Test-time roll averaging: the mean over ``angles`` (radians) of the lift of the 2D turned by each angle
  about the image's origin, turned back about the camera's axis.

  ``lift_fn`` maps ``[..., J, 2]`` normalised 2D (the root at the origin, on the camera's axis) to camera-frame
  ``[..., J, 3]``. Turning a camera about its own axis turns the image about the principal point and changes no
  depth, so each turned pose should lift to the turned lift; the mean cancels part of each one's error, as
  `flip_average` does with the mirror image. An empty ``angles`` lifts as ``lift_fn`` does.
  """
  angles = tuple(float(a) for a in angles)
  if not angles:
    return lift_fn(pose2d)
  pose2d = jnp.asarray(pose2d)
  _check_points(pose2d, 2, "roll_average")
  total = 0.0
  for a in angles:
    roll = rotation_matrix(0.0, 0.0, a)  # The random views' roll: Rz, whose image-plane block turns the 2D.
    lifted = lift_fn(pose2d @ roll[:2, :2].T.astype(pose2d.dtype))
    total = total + lifted @ roll.astype(lifted.dtype)  # Row vectors times Rz: turned back by Rz's inverse.
  return total / len(angles)


def test_time_average(lift_fn, pose2d: Array, flip_permutation: Sequence[int] | None = None,
                      roll_angles: Sequence[float] = ()) -> Array:
  """``lift_fn`` of ``[..., J, 2]`` with the test-time averaging an evaluation asks for: `roll_average` over
  ``roll_angles`` (radians; empty: none) inside `flip_average` (``flip_permutation`` None: none)."""
  lift = lift_fn if not roll_angles else (lambda x: roll_average(lift_fn, x, roll_angles))
  return lift(pose2d) if flip_permutation is None else flip_average(lift, pose2d, flip_permutation)
