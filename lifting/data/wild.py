"""In-the-wild 2D poses as extra training data (sec. 3.6): reading, masking, scaling and the cache.

Source keypoints (LSP/LSPET, MPII, COCO, OpenPose files; `lifting.data.keypoints`) come in
image pixels at any scale, with missing joints. Here they are mapped to ``paper14``, their
unusable joints masked (never averaged into training), and each pose is scaled to the target
training pool's typical body size. `lifting.training.adapt` completes and adapts them and writes the
cache file that training reads through ``config.data.extra``.

Body size is the mean 2D length of the eight limb bones (upper and lower arms and legs). Bone
lengths do not change as a person moves, only with foreshortening, so sports poses and walking
poses of one person get about the same size. The head and neck are left out on purpose: their
semantics differ between sources (head top vs skull base, upper neck vs thorax), so a
head-to-root scale would shrink every in-the-wild pose by the head's offset before the adapter
could correct it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os

from absl import logging
import numpy as np

from lifting import cache
from lifting.core import geometry
from lifting.core import skeleton
from lifting.data import keypoints

EXTRA_KINDS = ("none", "adapted", "raw")
_SCORED = ("coco", "openpose")  # Formats whose readers take a confidence threshold.


@dataclasses.dataclass(frozen=True)
class SourcePoses:
  """Source poses in ``paper14`` pixels.

  Attributes:
    poses: ``[N, J, 2]`` pixels, NaN exactly where ``~mask``.
    mask: ``[N, J]`` usable joints.
    source: ``[N]`` index into ``names`` of the file each pose came from.
    names: a short name per source entry (its format, made unique).
    counts: per source name: ``poses`` read, ``complete``, ``incomplete`` (>= min_visible joints)
      and ``dropped`` (fewer).
  """
  poses: np.ndarray
  mask: np.ndarray
  source: np.ndarray
  names: tuple[str, ...]
  counts: dict


def parse_sources(entries) -> list[tuple[str, str]]:
  """``"format:path"`` strings to ``(format, path)`` pairs (only the first colon splits)."""
  if isinstance(entries, str):
    entries = [e for e in entries.split(",") if e.strip()]
  out = []
  for entry in entries:
    fmt, sep, path = str(entry).partition(":")
    fmt = fmt.strip().lower()
    formats = tuple(f for f in keypoints.FORMATS if f != "array")  # Arrays need a layout this syntax lacks.
    if not sep or not path.strip() or fmt not in formats:
      raise ValueError(f"adapt.sources: expected 'format:path' entries with a format in {formats}, got {entry!r}")
    out.append((fmt, os.path.abspath(os.path.expanduser(os.path.expandvars(path.strip())))))
  if not out:
    raise ValueError("adapt.sources: expected at least one 'format:path' entry, got none")
  return out


def read_sources(entries, min_visible: int = 10, occluded_missing: bool = False,
                 min_score: float = 0.0) -> SourcePoses:
  """Reads every source, maps it to ``paper14`` and sorts its poses by usable joints.

  A joint is usable when the reader trusts it (annotated, finite, in range, confident enough)
  and, with ``occluded_missing``, not marked occluded. Poses with fewer than ``min_visible``
  usable joints are dropped. The counts are logged per source.
  """
  pairs = parse_sources(entries)
  j = skeleton.get_layout("paper14").num_joints
  if not 2 <= min_visible <= j:
    raise ValueError(f"adapt.min_visible: expected an integer in [2, {j}], got {min_visible}")
  missing = [path for _, path in pairs if not os.path.exists(path)]
  if missing:
    raise ValueError(f"adapt.sources: {missing[0]} does not exist. Download the keypoints (LSP/LSPET, MPII, COCO "
                     "or OpenPose files) and list them as --config.adapt.sources='format:path,...'")
  poses, masks, index, names, counts = [], [], [], [], {}
  for fmt, path in pairs:
    kwargs = {"min_score": min_score} if fmt in _SCORED and min_score > 0 else {}
    kp = keypoints.to_paper14(keypoints.read_keypoints(path, fmt, **kwargs))
    mask = kp.mask & ~kp.occluded if occluded_missing else kp.mask
    visible = mask.sum(axis=1)
    keep = visible >= min_visible
    name = fmt if fmt not in names else f"{fmt}{len(names)}"
    counts[name] = {"file": path, "poses": int(len(visible)), "complete": int((visible == j).sum()),
                    "incomplete": int((keep & (visible < j)).sum()), "dropped": int((~keep).sum())}
    logging.info("source %s (%s): %d poses, %d complete, %d with %d-%d usable joints, %d dropped (< %d usable)",
                 name, path, len(visible), counts[name]["complete"], counts[name]["incomplete"], min_visible, j - 1,
                 counts[name]["dropped"], min_visible)
    pose = np.where(mask[..., None], kp.poses, np.nan).astype(np.float32)
    poses.append(pose[keep])
    masks.append(mask[keep])
    index.append(np.full(int(keep.sum()), len(names), np.int32))
    names.append(name)
  return SourcePoses(np.concatenate(poses), np.concatenate(masks), np.concatenate(index), tuple(names), counts)


def body_size(pose2d: np.ndarray, layout="paper14") -> np.ndarray:
  """``[...]``: `lifting.core.geometry.limb_size` of ``[..., J, 2]`` poses of ``layout`` over its eight limb bones
  (`lifting.core.skeleton.LIMB_BONES`), in float64, the poses' shape checked."""
  layout = skeleton.get_layout(layout)
  pose2d = np.asarray(pose2d, np.float64)
  if pose2d.ndim < 2 or pose2d.shape[-2:] != (layout.num_joints, 2):
    raise ValueError(f"body_size: expected poses [..., {layout.num_joints}, 2] of layout {layout.name!r}, "
                     f"got shape {pose2d.shape}")
  return geometry.limb_size(pose2d, layout.limb_bones)  # limb_bones raises for a layout without the eight limbs.


def scale_to(pose2d: np.ndarray, size: float, layout="paper14") -> np.ndarray:
  """Root-centres ``[..., J, 2]`` complete poses and scales each to `body_size` ``size``."""
  layout = skeleton.get_layout(layout)
  pose2d = np.asarray(pose2d, np.float64)
  if not np.isfinite(pose2d).all():
    raise ValueError("scale_to: expected complete poses (finite coordinates); complete or drop missing joints first")
  s = body_size(pose2d, layout)
  if (s <= 0).any():
    raise ValueError(f"scale_to: {(s <= 0).sum()} poses have every limb bone of length 0 (zero body size)")
  root = pose2d[..., list(layout.root_joints), :].mean(axis=-2)
  return ((pose2d - root[..., None, :]) * (size / s)[..., None, None]).astype(np.float32)


# ---- The cache of prepared source poses that training configs read. ----

def _file_stamp(path: str) -> list:
  """Name, size and content digest: a copy of the same file (new modification time) keeps its key."""
  h = hashlib.sha1()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return [os.path.basename(path), os.path.getsize(path), h.hexdigest()]


def cache_key(config) -> str:
  """Hash of what the prepared poses depend on: the adapt settings, their files and the target data."""
  source = config.data.source
  target = {"source": source, "c": float(config.c), "scale": config.data.scale, "layout": config.layout,
            "data": config.data[source].to_dict() if source in config.data else None}
  files = [_file_stamp(path) for _, path in parse_sources(config.adapt.sources) if os.path.exists(path)]
  blob = json.dumps({"adapt": config.adapt.to_dict(), "files": files, "target": target}, sort_keys=True, default=str)
  return hashlib.sha1(blob.encode()).hexdigest()[:12]


def extra_path(config) -> str:
  """The prepared-poses file of ``config``: ``data.extra.path``, or the cache file its settings map to."""
  if config.data.extra.path:
    return os.path.abspath(os.path.expanduser(os.path.expandvars(config.data.extra.path)))
  return cache.folder("adapted", f"{config.data.source}-{cache_key(config)}.npz")


def write_extra(path: str, adapted: np.ndarray, raw: np.ndarray, completed: np.ndarray, source: np.ndarray,
                meta: dict) -> None:
  """Writes the prepared poses atomically (a half-written file never looks finished)."""
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  tmp = f"{path}.tmp{os.getpid()}.npz"
  np.savez(tmp, adapted=adapted.astype(np.float32), raw=raw.astype(np.float32), completed=completed.astype(bool),
           source=source.astype(np.int32), meta=np.array(json.dumps(meta)))
  os.replace(tmp, path)


def read_extra(config, num_joints: int) -> np.ndarray:
  """``[E, J, 2]``: the prepared source poses ``config.data.extra`` asks for (normalised like the pool)."""
  kind = config.data.extra.kind
  if kind not in EXTRA_KINDS:
    raise ValueError(f"data.extra.kind: expected one of {EXTRA_KINDS}, got {kind!r}")
  path = extra_path(config)
  if not os.path.exists(path):
    hint = "" if config.data.extra.path else " (the cache file of this config's data and adapt settings)"
    raise ValueError(f"data.extra: no prepared source poses at {path}{hint}; run `python run.py --mode=adapt` "
                     "with the same --config and overrides first")
  with np.load(path) as z:
    poses = z[kind]
  if poses.ndim != 3 or poses.shape[1:] != (num_joints, 2) or not np.isfinite(poses).all():
    raise ValueError(f"data.extra: expected finite poses [E, {num_joints}, 2] in {path}, got shape {poses.shape}")
  return poses
