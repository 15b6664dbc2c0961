"""Joint layouts (skeleton definitions) as data, and linear converters between them.

A *layout* names the joints of a keypoint format in storage order, gives each joint a
kinematic parent (for drawing bones and for bone-based losses), lists mirrored
left/right joint pairs, says which joints define the skeleton root (the hip midpoint
for every built-in layout) and which joint plays the "head" role in scale
normalisation (head-to-root distance).

Conventions
-----------
* Joint names are canonical lower_snake_case; ``l_``/``r_`` prefixes denote the
  person's OWN left/right (not the image's), so ``l_wrist`` is the subject's left wrist.
* ``symmetric_pairs`` are ``(left_index, right_index)``.
* Pose arrays are ``[..., J, D]``: joints on the second-to-last axis, coordinates last.

Conversion
----------
Converting between layouts is a linear map: target joint ``i`` is the average of a set
of source joints, stored as a weight matrix ``W`` of shape ``[J_dst, J_src]`` whose
valid rows sum to 1, plus a boolean ``valid`` mask for target joints the source cannot
provide. Joints with the same name map 1:1. Conversion INTO ``"paper14"`` (the
14-joint layout of Chen et al., CVPR 2019, used throughout this library) follows the
explicit table ``TO_PAPER14`` for its two non-limb joints, ``neck`` and ``head``.

Those two joints mean different things in different sources: the paper14 "head" is
the skull base in our mocap benchmark, the head top in LSP/MPII, the ear midpoint for
COCO/OpenPose; "neck" may be a neck point, a thorax point or the shoulder midpoint.
They are mapped by name/role and the systematic offset between sources is
deliberately left to a learned domain adapter rather than fudged here with
hand-tuned offsets. For the same reason, converting FROM paper14 exports only the
limb joints: a generic "head" is never claimed to be a ``head_top``.

Adding a layout
---------------
Build a ``Layout(...)`` (``_layout`` derives the mirrored pairs from ``l_``/``r_``
names), register it in ``LAYOUTS``, and, if it should feed paper14, add an entry to
``TO_PAPER14`` stating where its ``neck`` and ``head`` come from (and, for detector
layouts, ``FALLBACKS_TO_PAPER14``: what stands in when those are not confident). Validation in
``Layout.__post_init__`` and the tests catch malformed definitions.
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class Layout:
  """A named keypoint format: joint order, kinematic tree and left/right symmetry."""

  name: str
  joints: tuple[str, ...]
  parents: tuple[int, ...]
  symmetric_pairs: tuple[tuple[int, int], ...]
  root_joints: tuple[int, ...]
  head: int
  description: str

  def __post_init__(self):
    # Coerce to tuples so layouts built from lists stay hashable (used as cache keys).
    set_ = functools.partial(object.__setattr__, self)
    set_("joints", tuple(str(j) for j in self.joints))
    set_("parents", tuple(int(p) for p in self.parents))
    set_("symmetric_pairs", tuple((int(a), int(b)) for a, b in self.symmetric_pairs))
    set_("root_joints", tuple(int(r) for r in self.root_joints))
    set_("head", int(self.head))

    n, where = len(self.joints), f"layout {self.name!r}"
    if n == 0:
      raise ValueError(f"{where}: expected at least one joint, got none")
    dupes = sorted({j for j in self.joints if self.joints.count(j) > 1})
    if dupes:
      raise ValueError(f"{where}: expected unique joint names, got duplicates {dupes}")
    if len(self.parents) != n:
      raise ValueError(f"{where}: expected {n} parents (one per joint), got {len(self.parents)}")

    def check_index(i, what):
      if not 0 <= i < n:
        raise ValueError(f"{where}: expected {what} in [0, {n}), got {i}")

    for j, p in enumerate(self.parents):
      if p != -1:
        check_index(p, f"parent of joint {j} ({self.joints[j]}) to be -1 or")
    # Forest check: walking up from any joint must reach -1 within n steps.
    for j in range(n):
      k, steps = j, 0
      while k != -1:
        k, steps = self.parents[k], steps + 1
        if steps > n:
          raise ValueError(
            f"{where}: expected parents to form a forest, got a cycle through joint {j} ({self.joints[j]})"
          )
    seen = set()
    for a, b in self.symmetric_pairs:
      check_index(a, "symmetric pair index")
      check_index(b, "symmetric pair index")
      if a == b or a in seen or b in seen:
        raise ValueError(
          f"{where}: expected disjoint pairs of distinct joints in symmetric_pairs, got {self.symmetric_pairs}"
        )
      seen.update((a, b))
    if not self.root_joints or len(set(self.root_joints)) != len(self.root_joints):
      raise ValueError(f"{where}: expected non-empty, distinct root_joints, got {self.root_joints}")
    for r in self.root_joints:
      check_index(r, "root joint index")
    check_index(self.head, "head index")

  @property
  def num_joints(self) -> int:
    return len(self.joints)

  @property
  def bones(self) -> tuple[tuple[int, int], ...]:
    """(parent, child) for every joint that has a parent."""
    return tuple((p, c) for c, p in enumerate(self.parents) if p != -1)

  @property
  def flip_permutation(self) -> tuple[int, ...]:
    """Index permutation swapping left and right: ``flipped = poses[..., perm, :]``."""
    perm = list(range(self.num_joints))
    for a, b in self.symmetric_pairs:
      perm[a], perm[b] = b, a
    return tuple(perm)

  def flip_parts(self, parts: Sequence[str]) -> tuple[int, ...]:
    """Index permutation swapping left and right for the joints named ``side_part`` with ``part`` in ``parts`` (e.g.
    ``("hip", "knee", "ankle")``: the legs) and keeping every other joint: a detector's partial left/right swap."""
    flip, perm = self.flip_permutation, list(range(self.num_joints))
    for j, joint in enumerate(self.joints):
      if joint.split("_", 1)[-1] in parts:
        perm[j] = flip[j]
    return tuple(perm)

  @property
  def symmetric_bones(self) -> tuple[tuple[tuple[int, int], tuple[int, int]], ...]:
    """((l_parent, l_child), (r_parent, r_child)) for mirrored bones.

    A bone pair qualifies when the children are mirrored and the parents are mirror
    images too (or the same central joint, e.g. neck->shoulder on both sides).
    """
    flip, out = self.flip_permutation, []
    for left, right in self.symmetric_pairs:
      pl, pr = self.parents[left], self.parents[right]
      if pl != -1 and pr != -1 and flip[pl] == pr:
        out.append(((pl, left), (pr, right)))
    return tuple(out)

  @property
  def limb_bones(self) -> tuple[tuple[int, int], ...]:
    """Index pairs of the eight limb bones (`LIMB_BONES`): upper and lower arm and leg, both sides."""
    missing = sorted({j for bone in LIMB_BONES for j in bone} - set(self.joints))
    if missing:
      raise ValueError(f"layout {self.name!r} lacks the limb joints {missing}")
    return tuple((self.joints.index(a), self.joints.index(b)) for a, b in LIMB_BONES)

  def index(self, name: str) -> int:
    try:
      return self.joints.index(name)
    except ValueError:
      raise ValueError(f"joint {name!r} is not in layout {self.name!r}; its joints are {list(self.joints)}") from None


# Where each joint of a lift came from (`lifting.app.inference.Lifted.flags` holds their indices): the one list of
# their names, for the outputs, the pictures and the viewer.
JOINT_FLAGS = ("observed", "completed", "missing")

# The eight limb bones by joint name. Their mean 2D length is the body size that per-pose normalisation uses:
# head and neck mean other points in different keypoint sets (skull base, head top, thorax), limbs do not.
LIMB_BONES = (("l_shoulder", "l_elbow"), ("l_elbow", "l_wrist"), ("r_shoulder", "r_elbow"), ("r_elbow", "r_wrist"),
              ("l_hip", "l_knee"), ("l_knee", "l_ankle"), ("r_hip", "r_knee"), ("r_knee", "r_ankle"))


def _mirror_pairs(joints):
  """(left, right) index pairs for every ``l_x`` that has an ``r_x``."""
  return tuple(
    (i, joints.index("r_" + j[2:])) for i, j in enumerate(joints) if j.startswith("l_") and "r_" + j[2:] in joints
  )


def _layout(name, joints, parents, head, description, roots=("r_hip", "l_hip")):
  joints = tuple(joints)
  return Layout(
    name,
    joints,
    tuple(parents),
    _mirror_pairs(joints),
    tuple(joints.index(r) for r in roots),
    joints.index(head),
    description,
  )


_LSP_ORDER = (
  "r_ankle",
  "r_knee",
  "r_hip",
  "l_hip",
  "l_knee",
  "l_ankle",
  "r_wrist",
  "r_elbow",
  "r_shoulder",
  "l_shoulder",
  "l_elbow",
  "l_wrist",
)
# Tree rooted at the neck; hips hang off the neck so shoulder- and hip-to-torso bones exist.
_LSP_PARENTS = (1, 2, 12, 12, 3, 4, 7, 8, 12, 12, 9, 10, -1, 12)

LAYOUTS: dict[str, Layout] = {
  lay.name: lay
  for lay in [
    _layout(
      "paper14",
      _LSP_ORDER + ("neck", "head"),
      _LSP_PARENTS,
      "head",
      "14-joint layout of Chen et al. (CVPR 2019) in Leeds Sports Pose order. 'head' is "
      "generic by design: skull base in our mocap benchmark, head top from LSP/MPII, "
      "ear midpoint from COCO/OpenPose; likewise 'neck' may be a neck or thorax point.",
    ),
    _layout(
      "lsp14",
      _LSP_ORDER + ("neck", "head_top"),
      _LSP_PARENTS,
      "head_top",
      "Leeds Sports Pose (LSP) 14 joints in the dataset's order; joint 13 is the head top.",
    ),
    # MPII Human Pose joint ids 0-15.
    _layout(
      "mpii16",
      (
        "r_ankle",
        "r_knee",
        "r_hip",
        "l_hip",
        "l_knee",
        "l_ankle",
        "pelvis",
        "thorax",
        "upper_neck",
        "head_top",
        "r_wrist",
        "r_elbow",
        "r_shoulder",
        "l_shoulder",
        "l_elbow",
        "l_wrist",
      ),
      (1, 2, 6, 6, 3, 4, -1, 6, 7, 8, 11, 12, 7, 7, 13, 14),
      "head_top",
      "MPII Human Pose 16 joints in the dataset's id order; head is the annotated head top.",
    ),
    # Human3.6M 17-joint subset in the order used by VideoPose3D.
    _layout(
      "h36m17",
      (
        "pelvis",
        "r_hip",
        "r_knee",
        "r_ankle",
        "l_hip",
        "l_knee",
        "l_ankle",
        "spine",
        "thorax",
        "nose",
        "head_top",
        "l_shoulder",
        "l_elbow",
        "l_wrist",
        "r_shoulder",
        "r_elbow",
        "r_wrist",
      ),
      (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
      "head_top",
      "Human3.6M 17 joints in VideoPose3D order. Joint 9 ('Neck/Nose' in H36M) is called "
      "'nose'; joint 10, H36M's head joint near the top of the skull, is 'head_top'.",
    ),
    # MPI-INF-3DHP's 17 test-set joints (Mehta et al., 3DV 2017), in the test set's order.
    _layout(
      "mpi_inf_3dhp17",
      (
        "head_top",
        "neck",
        "r_shoulder",
        "r_elbow",
        "r_wrist",
        "l_shoulder",
        "l_elbow",
        "l_wrist",
        "r_hip",
        "r_knee",
        "r_ankle",
        "l_hip",
        "l_knee",
        "l_ankle",
        "pelvis",
        "spine",
        "head",
      ),
      (16, 15, 1, 2, 3, 1, 5, 6, 14, 8, 9, 14, 11, 12, -1, 14, 1),
      "head_top",
      "MPI-INF-3DHP test set's 17 joints in its order. 'neck' is Human3.6M's thorax point, 'head' "
      "the head's centre and 'head_top' the top of the skull, as in Human3.6M.",
    ),
    # COCO keypoints; no neck, so shoulders hang off the nose to keep one connected tree.
    _layout(
      "coco17",
      (
        "nose",
        "l_eye",
        "r_eye",
        "l_ear",
        "r_ear",
        "l_shoulder",
        "r_shoulder",
        "l_elbow",
        "r_elbow",
        "l_wrist",
        "r_wrist",
        "l_hip",
        "r_hip",
        "l_knee",
        "r_knee",
        "l_ankle",
        "r_ankle",
      ),
      (-1, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14),
      "nose",
      "MS COCO 17 keypoints. COCO has no head-top or neck joint; 'head' for scale normalisation is the nose.",
    ),
    _layout(
      "openpose25",
      (
        "nose",
        "neck",
        "r_shoulder",
        "r_elbow",
        "r_wrist",
        "l_shoulder",
        "l_elbow",
        "l_wrist",
        "mid_hip",
        "r_hip",
        "r_knee",
        "r_ankle",
        "l_hip",
        "l_knee",
        "l_ankle",
        "r_eye",
        "l_eye",
        "r_ear",
        "l_ear",
        "l_big_toe",
        "l_small_toe",
        "l_heel",
        "r_big_toe",
        "r_small_toe",
        "r_heel",
      ),
      (1, -1, 1, 2, 3, 1, 5, 6, 1, 8, 9, 10, 8, 12, 13, 0, 0, 15, 16, 14, 19, 14, 11, 22, 11),
      "nose",
      "OpenPose BODY_25. No head-top joint, so 'head' is the nose; the root is the mean of "
      "r_hip and l_hip (not OpenPose's mid_hip joint).",
    ),
    _layout(
      "openpose18",
      (
        "nose",
        "neck",
        "r_shoulder",
        "r_elbow",
        "r_wrist",
        "l_shoulder",
        "l_elbow",
        "l_wrist",
        "r_hip",
        "r_knee",
        "r_ankle",
        "l_hip",
        "l_knee",
        "l_ankle",
        "r_eye",
        "l_eye",
        "r_ear",
        "l_ear",
      ),
      (1, -1, 1, 2, 3, 1, 5, 6, 1, 8, 9, 1, 11, 12, 0, 0, 14, 15),
      "nose",
      "OpenPose COCO-18 (COCO keypoints plus a neck). No head-top joint, so 'head' is the nose.",
    ),
    # MediaPipe Pose (BlazePose; Bazarevsky et al., 2020) 33 landmarks in its index order.
    _layout(
      "blazepose33",
      (
        "nose",
        "l_eye_inner",
        "l_eye",
        "l_eye_outer",
        "r_eye_inner",
        "r_eye",
        "r_eye_outer",
        "l_ear",
        "r_ear",
        "l_mouth",
        "r_mouth",
        "l_shoulder",
        "r_shoulder",
        "l_elbow",
        "r_elbow",
        "l_wrist",
        "r_wrist",
        "l_pinky",
        "r_pinky",
        "l_index",
        "r_index",
        "l_thumb",
        "r_thumb",
        "l_hip",
        "r_hip",
        "l_knee",
        "r_knee",
        "l_ankle",
        "r_ankle",
        "l_heel",
        "r_heel",
        "l_foot_index",
        "r_foot_index",
      ),
      (-1, 0, 1, 2, 0, 4, 5, 3, 6, 0, 0, 0, 0, 11, 12, 13, 14, 15, 16, 15, 16, 15, 16, 11, 12, 23, 24, 25, 26, 27, 28,
       27, 28),
      "nose",
      "MediaPipe Pose (BlazePose) 33 landmarks in its index order. No head-top or neck joint: 'head' for scale "
      "normalisation is the nose; paper14's head comes from the ears and its neck from the shoulders, as for COCO.",
    ),
  ]
}

# Where paper14's non-limb joints come from, per source layout (source joint names are
# averaged). Limb joints (l_*/r_*) are taken by name. See the module docstring: the
# semantic differences (head top vs skull base vs ears) are left to a learned adapter.
TO_PAPER14: dict[str, dict[str, tuple[str, ...]]] = {
  "lsp14": {"neck": ("neck",), "head": ("head_top",)},
  # MPII's thorax would be the alternative neck; upper_neck is closer to LSP's neck point.
  "mpii16": {"neck": ("upper_neck",), "head": ("head_top",)},
  # H36M's "thorax" (joint 8) sits at the base of the neck, where mocap necks usually are.
  "h36m17": {"neck": ("thorax",), "head": ("head_top",)},
  "mpi_inf_3dhp17": {"neck": ("neck",), "head": ("head_top",)},
  # COCO has no neck: use the shoulder midpoint. For head, the ear midpoint lies on the
  # skull's centre line and is stable under yaw, while the nose juts forward and
  # swings with head rotation; ears are also closer to a skull-base "head".
  "coco17": {"neck": ("l_shoulder", "r_shoulder"), "head": ("l_ear", "r_ear")},
  "openpose25": {"neck": ("neck",), "head": ("l_ear", "r_ear")},
  "openpose18": {"neck": ("neck",), "head": ("l_ear", "r_ear")},
  "blazepose33": {"neck": ("l_shoulder", "r_shoulder"), "head": ("l_ear", "r_ear")},
}

# When a detector is not confident of all the sources of a paper14 joint (``TO_PAPER14``), the joint
# comes from the first of these groups with any usable joint, as the mean of that group's usable
# joints. The order follows the distance from the ear midpoint: in profile one ear is almost on
# the skull's centre line (the other is hidden behind it); the eyes sit forward of the ears, the
# nose furthest. Used by `lifting.data.keypoints.convert`, which knows which joints are usable;
# the linear `convert` below has no such notion and uses ``TO_PAPER14`` alone.
_FACE_FALLBACK = (("l_ear", "r_ear"), ("l_eye", "r_eye"), ("nose",))
FALLBACKS_TO_PAPER14: dict[str, dict[str, tuple[tuple[str, ...], ...]]] = {
  "coco17": {"head": _FACE_FALLBACK},
  "openpose25": {"head": _FACE_FALLBACK},
  "openpose18": {"head": _FACE_FALLBACK},
  "blazepose33": {"head": _FACE_FALLBACK},
}

# Joints whose meaning depends on the data source; they are never exported by name.
_SOURCE_DEPENDENT: dict[str, tuple[str, ...]] = {"paper14": ("neck", "head")}


def get_layout(name_or_layout: str | Layout) -> Layout:
  """Return a Layout unchanged, or look a name up in ``LAYOUTS``."""
  if isinstance(name_or_layout, Layout):
    return name_or_layout
  if name_or_layout not in LAYOUTS:
    raise ValueError(f"unknown layout {name_or_layout!r}; known layouts are {sorted(LAYOUTS)}")
  return LAYOUTS[name_or_layout]


@functools.cache
def _conversion(src: Layout, dst: Layout) -> tuple[np.ndarray, np.ndarray]:
  W = np.zeros((dst.num_joints, src.num_joints), np.float32)
  if src == dst:
    np.fill_diagonal(W, 1.0)
    return W, np.ones(dst.num_joints, bool)
  table = TO_PAPER14.get(src.name, {}) if dst.name == "paper14" else {}
  hidden = _SOURCE_DEPENDENT.get(src.name, ())
  for i, name in enumerate(dst.joints):
    if name in table:
      sources = table[name]
    elif name in src.joints and name not in hidden:
      sources = (name,)
    else:
      continue
    for s in sources:
      W[i, src.index(s)] += 1.0 / len(sources)
  return W, W.sum(axis=1) > 0


def conversion_matrix(src: str | Layout, dst: str | Layout) -> tuple[np.ndarray, np.ndarray]:
  """(W float32 [J_dst, J_src], valid bool [J_dst]); valid rows of W sum to 1, others are 0."""
  W, valid = _conversion(get_layout(src), get_layout(dst))
  return W.copy(), valid.copy()  # copies: the cached arrays must not be mutated


def convert(poses, src: str | Layout, dst: str | Layout, fill=np.nan):
  """Convert ``poses [..., J_src, D]`` to ``([..., J_dst, D], valid [J_dst])``.

  Works on numpy or jax arrays (jax in -> jax out, jit-compatible). Invalid target joints
  are set to ``fill``. Each target joint is gathered only from the source joints it uses,
  so a NaN (missing) source joint never leaks into unrelated targets.
  """
  src, dst = get_layout(src), get_layout(dst)
  xp = jnp if isinstance(poses, jax.Array) else np
  poses = xp.asarray(poses)
  if poses.ndim < 2 or poses.shape[-2] != src.num_joints:
    raise ValueError(
      f"layout {src.name!r} expects poses of shape [..., {src.num_joints}, D], got shape {tuple(poses.shape)}"
    )
  if not xp.issubdtype(poses.dtype, xp.floating):
    poses = poses.astype(xp.float32)
  W, valid = _conversion(src, dst)
  blank = xp.full(poses.shape[:-2] + poses.shape[-1:], fill, poses.dtype)
  rows = []
  for i in range(dst.num_joints):
    (idx,) = np.nonzero(W[i])
    row = blank
    if idx.size:
      row = sum(poses[..., j, :] * W[i, j].astype(poses.dtype) for j in idx)
    rows.append(row)
  return xp.stack(rows, axis=-2), valid.copy()
