"""A 2D-detector error model: turns exact projected keypoints into detector-like ones.

The bandai benchmark has no images, so no detector can run on it. This model stands in for one,
so that the paper's second protocol (Table 1: lifting a detector's 2D, not the ground truth) has
an analogue, and so that anyone can see how a lifter degrades on the keypoints users feed it.

Where the sizes come from
-------------------------
Per-joint accuracy of the stacked hourglass network (Newell et al., ECCV 2016) on the MPII test
set, PCKh@0.5 in percent: head 98.2, shoulder 96.3, elbow 91.2, wrist 87.1, hip 90.1, knee 87.4,
ankle 83.6 (`HOURGLASS_MPII_PCKH`). That detector is the one Martinez et al. (ICCV 2017) lifted for
their detected-2D rows on Human3.6M. We could not verify a published per-joint table of a detector
*on Human3.6M*, so the model describes an off-the-shelf detector on unseen people, not one
fine-tuned to the test subjects, and `NoiseModel.scale` scales it (the robustness curve, README).

From PCKh to pixels: a joint is within threshold ``t = 0.5 * head segment`` with probability ``p``.
A share ``gross_share`` of the misses (``1 - p``) are *gross errors* (the joint lands on another
body part); the rest of the joint's error is isotropic Gaussian jitter, whose radius is Rayleigh, so
``(1 - g) * (1 - exp(-t^2 / (2 sigma^2))) = p`` with ``g = gross_share * (1 - p)`` gives ``sigma``.
The head segment of MPII is taken as ``head_segment_mm`` = 200 mm (an adult head; an assumption,
stated) and the jitter is scaled to pixels by the subject's distance: ``sigma_px = sigma_mm * f / z``
with the root's depth ``z`` (a detector works on a crop scaled to the person, so its pixel error
scales with the person's image size).

Then, each a documented modelling choice rather than a published number:

* **gross errors**: the joint moves to another joint of the same pose (chosen uniformly), plus its
  own jitter;
* **left/right swaps**: with probability ``swap_rate`` per pose and limb (arm, leg), the limb's
  left and right joints trade places (Ronchi and Perona, ICCV 2017, name such "inversions" among
  the common errors of 2D detectors);
* **missing joints**: a detector reports a low confidence for many of its gross errors; each gross
  error becomes *missing* with probability ``missing_given_gross`` (the mask returned), and any joint
  with probability ``missing_rate`` (occlusion). Missing joints are filled by the completion network
  (`lifting.training.completion`) before lifting, as for in-the-wild keypoints.

Every draw comes from one ``numpy`` generator seeded by ``seed``, so a noisy test set is the same for
every run that asks for it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lifting.core import skeleton

# Newell et al., ECCV 2016, MPII test set, PCKh@0.5 (%), per joint group.
HOURGLASS_MPII_PCKH = {"head": 98.2, "shoulder": 96.3, "elbow": 91.2, "wrist": 87.1, "hip": 90.1, "knee": 87.4,
                       "ankle": 83.6}
# paper14 joint -> the group whose accuracy it takes. MPII reports no neck; it takes the head's (the
# upper neck and head top are MPII's easiest points).
_GROUP = {"head": "head", "neck": "head"}
MODELS = ("hourglass_mpii",)
_LIMBS = (("l_shoulder", "l_elbow", "l_wrist"), ("l_hip", "l_knee", "l_ankle"))


@dataclasses.dataclass(frozen=True)
class NoiseModel:
  """The detector-like error model's parameters (see the module docstring).

  Attributes:
    scale: multiplies the jitter, the gross-error and swap rates and the missing rate (0: exact 2D).
    gross_share: share of each joint's PCKh misses that are gross errors.
    swap_rate: probability per pose and limb (arm, leg) of a left/right swap, at scale 1.
    missing_given_gross: probability that a gross error is reported as missing.
    missing_rate: probability that any joint is missing, at scale 1.
    head_segment_mm: the PCKh head segment in millimetres.
    seed: seeds every draw.
  """
  scale: float = 1.0
  gross_share: float = 0.5
  swap_rate: float = 0.02
  missing_given_gross: float = 0.5
  missing_rate: float = 0.005
  head_segment_mm: float = 200.0
  seed: int = 0

  def __post_init__(self):
    for name in ("scale", "head_segment_mm"):
      value = getattr(self, name)
      if not (np.isfinite(value) and value >= 0) or (name == "head_segment_mm" and value == 0):
        raise ValueError(f"noise_2d.{name}: expected a finite number >= 0 (> 0 for head_segment_mm), got {value}")
    for name in ("gross_share", "swap_rate", "missing_given_gross", "missing_rate"):
      value = getattr(self, name)
      if not 0 <= value <= 1:
        raise ValueError(f"noise_2d.{name}: expected a probability in [0, 1], got {value}")
    if self.gross_share >= 1:
      raise ValueError(f"noise_2d.gross_share: expected a share < 1 (some of the misses must be jitter), "
                       f"got {self.gross_share}")


def from_config(block) -> NoiseModel:
  """A `NoiseModel` from a config block (``config.data.noise_2d``); its ``model`` must be in `MODELS`."""
  if block["model"] not in MODELS:
    raise ValueError(f"data.noise_2d.model: expected one of {MODELS}, got {block['model']!r}")
  fields = {f.name for f in dataclasses.fields(NoiseModel)}
  return NoiseModel(**{k: v for k, v in block.items() if k in fields})


def joint_sigmas_mm(layout="paper14", model: NoiseModel = NoiseModel()) -> tuple[np.ndarray, np.ndarray]:
  """``(sigma_mm [J], gross_rate [J])`` at scale 1: each joint's Gaussian jitter per axis, in mm at the
  subject, and its gross-error probability, from `HOURGLASS_MPII_PCKH` (module docstring)."""
  layout = skeleton.get_layout(layout)
  sigma, gross = np.zeros(layout.num_joints), np.zeros(layout.num_joints)
  t = 0.5 * model.head_segment_mm
  for j, name in enumerate(layout.joints):
    group = _GROUP.get(name, name.split("_", 1)[-1])
    if group not in HOURGLASS_MPII_PCKH:
      raise ValueError(f"detector noise: no published accuracy for joint {name!r} of layout {layout.name!r}; "
                       f"known groups {sorted(HOURGLASS_MPII_PCKH)}")
    p = HOURGLASS_MPII_PCKH[group] / 100.0
    g = model.gross_share * (1.0 - p)
    inside = p / (1.0 - g)  # Probability that the jitter alone stays within t.
    sigma[j] = t / np.sqrt(-2.0 * np.log1p(-inside))
    gross[j] = g
  return sigma, gross


def corrupt(pose2d: np.ndarray, depth_mm: np.ndarray, focal_px: float | np.ndarray, model: NoiseModel,
            layout="paper14") -> tuple[np.ndarray, np.ndarray, dict]:
  """Detector-like 2D from exact 2D.

  Args:
    pose2d: ``[N, J, 2]`` exact pixel coordinates.
    depth_mm: ``[N]`` distance of each pose's root from the camera (camera-frame z), in mm.
    focal_px: the focal length in pixels (a scalar or ``[N]``).
    model: the error model.
    layout: the layout of ``pose2d``.

  Returns:
    ``(noisy [N, J, 2], missing [N, J] bool, counts)``; ``counts`` holds how many joints got a gross
    error, how many limbs were swapped, how many joints are missing and the mean jitter in pixels.
  """
  layout = skeleton.get_layout(layout)
  pose2d = np.asarray(pose2d, np.float64)
  if pose2d.ndim != 3 or pose2d.shape[1:] != (layout.num_joints, 2):
    raise ValueError(f"corrupt: expected poses [N, {layout.num_joints}, 2] of layout {layout.name!r}, "
                     f"got {pose2d.shape}")
  n, j = pose2d.shape[:2]
  depth_mm = np.broadcast_to(np.asarray(depth_mm, np.float64), (n,))
  if not (np.all(np.isfinite(depth_mm)) and np.all(depth_mm > 0)):
    raise ValueError("corrupt: expected finite, positive root depths")
  rng = np.random.default_rng(model.seed)
  s = model.scale
  sigma_mm, gross_rate = joint_sigmas_mm(layout, model)
  px_per_mm = np.broadcast_to(np.asarray(focal_px, np.float64), (n,)) / depth_mm
  jitter = rng.standard_normal((n, j, 2)) * (s * sigma_mm[None, :, None]) * px_per_mm[:, None, None]
  noisy = pose2d.copy()
  gross = rng.random((n, j)) < np.minimum(s * gross_rate, 1.0)[None]
  other = (np.arange(j)[None] + rng.integers(1, j, size=(n, j))) % j  # Any joint but itself.
  noisy[gross] = pose2d[np.nonzero(gross)[0], other[gross]]
  swaps = 0
  flip = layout.flip_permutation
  for limb in _LIMBS:
    idx = [layout.index(name) for name in limb]
    swapped = rng.random(n) < min(s * model.swap_rate, 1.0)
    swaps += int(swapped.sum())
    for i in idx:
      a, b = noisy[swapped, i].copy(), noisy[swapped, flip[i]].copy()
      noisy[swapped, i], noisy[swapped, flip[i]] = b, a
  noisy += jitter
  missing = (gross & (rng.random((n, j)) < model.missing_given_gross)) | (
      rng.random((n, j)) < min(s * model.missing_rate, 1.0))
  counts = {"poses": n, "gross_joints": int(gross.sum()), "swapped_limbs": swaps, "missing_joints": int(missing.sum()),
            "poses_with_missing": int(missing.any(axis=1).sum()),
            "mean_jitter_px": float(np.mean(np.linalg.norm(jitter, axis=-1))) if n else 0.0}
  return noisy.astype(np.float32), missing, counts
