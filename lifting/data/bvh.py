"""Reading BVH motion capture and computing joint positions from it.

A BVH (Biovision Hierarchy) file has two parts. ``HIERARCHY`` describes a tree of joints, each with an
``OFFSET`` (the joint's origin in its parent's frame) and a list of ``CHANNELS``; leaves are ``End Site``
blocks with an offset only. ``MOTION`` gives ``Frames:``, ``Frame Time:`` (seconds) and one line per frame
holding every joint's channel values in file order.

Conventions used here:
  * Angles are in degrees. A joint whose rotation channels are listed as e.g. ``Zrotation Xrotation
    Yrotation`` has local rotation ``R = Rz(z) @ Rx(x) @ Ry(y)`` (matrices act on column vectors); any
    order, and missing or partial rotation channels (identity about the missing axes), are allowed.
  * A joint's local translation is its position channels if it has any (an axis without a channel takes
    the OFFSET's component), else its OFFSET. Position channels may sit on any joint.
  * Globals compose down the tree, ``G_j = G_parent @ [R_j | t_j]``; a joint's position is the origin of
    its frame, i.e. where its bone starts. Several ``ROOT`` trees in one file are accepted, each with
    parent -1.
  * Channel names are case-sensitive (``Xposition`` ... ``Zrotation``).

Malformed input raises `BVHError` with the path and the 1-based line number.
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
import os

import numpy as np

_AXES = {"X": 0, "Y": 1, "Z": 2}
_CHANNELS = frozenset(a + k for a in _AXES for k in ("position", "rotation"))


class BVHError(ValueError):
  """Malformed BVH input; the message reads ``"{path}:{line}: {reason}"``."""

  def __init__(self, path: str, line: int | None, reason: str):
    super().__init__(f"{path}:{line}: {reason}" if line is not None else f"{path}: {reason}")


@dataclasses.dataclass(frozen=True)
class Skeleton:
  """The joint tree of a BVH file, End Sites included, in file order (parents before children).

  Attributes:
    names: ``J`` joint names; an End Site is named ``f"{parent}_end"`` (suffixed to stay unique).
    parents: ``J`` parent indices, -1 for a root.
    offsets: ``[J, 3]`` float64 OFFSETs in file units.
    channels: ``J`` tuples of channel names as written; ``()`` for End Sites.
    is_end_site: ``J`` flags.
  """
  names: tuple[str, ...]
  parents: tuple[int, ...]
  offsets: np.ndarray
  channels: tuple[tuple[str, ...], ...]
  is_end_site: tuple[bool, ...]

  def index(self, name: str) -> int:
    """The index of joint ``name``; ValueError listing the known names if absent."""
    try:
      return self.names.index(name)
    except ValueError:
      raise ValueError(f"unknown joint {name!r}; known joints: {', '.join(self.names)}") from None


@dataclasses.dataclass(frozen=True)
class Motion:
  """A parsed BVH file.

  Attributes:
    skeleton: the joint tree.
    frames: ``[F, C]`` float64 channel values, ``C`` = total channels in file order.
    frame_time: seconds per frame.
    path: where it was read from, for messages.
  """
  skeleton: Skeleton
  frames: np.ndarray
  frame_time: float
  path: str


def _floats(values, path, line, what):
  try:
    out = [float(v) for v in values]
  except ValueError:
    raise BVHError(path, line, f"{what}: non-numeric value in {' '.join(values)!r}") from None
  if not all(np.isfinite(out)):
    raise BVHError(path, line, f"{what}: non-finite value in {' '.join(values)!r}")
  return out


def _parse_hierarchy(lines, path):
  """Parses the HIERARCHY block; returns (joint dicts, index of the MOTION line)."""
  joints, stack, pending = [], [], None  # pending: a joint declared but whose '{' is not seen yet
  started = False
  for i, line in enumerate(lines):
    toks = line.split()
    if not toks:
      continue
    key, n = toks[0], i + 1
    if not started:
      if toks != ["HIERARCHY"]:
        raise BVHError(path, n, f"expected 'HIERARCHY', got {line.strip()!r}")
      started = True
      continue
    if pending is not None and key != "{":
      raise BVHError(path, n, f"expected '{{' after {_label(pending)}")
    if key in ("ROOT", "JOINT") or toks[:2] == ["End", "Site"]:
      kind = "End Site" if key == "End" else key
      if (key == "ROOT") != (not stack):
        raise BVHError(path, n, "ROOT must be at the top level" if stack else f"{kind} outside any ROOT")
      if stack and joints[stack[-1]]["kind"] == "End Site":
        raise BVHError(path, n, "End Site cannot have children")
      name = " ".join(toks[1:]) if kind != "End Site" else ""
      if kind != "End Site" and (not name or any(j["name"] == name for j in joints)):
        raise BVHError(path, n, f"{kind} needs a unique name, got {name!r}")
      pending = {"kind": kind, "name": name, "parent": stack[-1] if stack else -1, "offset": None, "channels": (),
                 "line": n}
    elif key == "{":
      if pending is None or len(toks) > 1:
        raise BVHError(path, n, "unexpected '{'")
      joints.append(pending)
      stack.append(len(joints) - 1)
      pending = None
    elif key == "}":
      if not stack or len(toks) > 1:
        raise BVHError(path, n, "unbalanced braces: unexpected '}'")
      j = joints[stack.pop()]
      if j["offset"] is None:
        raise BVHError(path, n, f"{_label(j)} has no OFFSET")
    elif key in ("OFFSET", "CHANNELS") and not stack:
      raise BVHError(path, n, f"{key} outside any joint")
    elif key == "OFFSET":
      if len(toks) != 4:
        raise BVHError(path, n, f"OFFSET needs 3 numbers, got {len(toks) - 1}")
      joints[stack[-1]]["offset"] = _floats(toks[1:], path, n, "OFFSET")
    elif key == "CHANNELS":
      j = joints[stack[-1]]
      if j["kind"] == "End Site":
        raise BVHError(path, n, "End Site cannot have CHANNELS")
      if len(toks) < 2 or not toks[1].isdigit() or int(toks[1]) != len(toks) - 2:
        raise BVHError(path, n, f"CHANNELS count {' '.join(toks[1:2])!r} does not match the {len(toks) - 2} "
                       "names listed")
      for c in toks[2:]:
        if c not in _CHANNELS:
          raise BVHError(path, n, f"unknown channel {c!r}; expected one of {', '.join(sorted(_CHANNELS))}")
      if len(set(toks[2:])) != len(toks) - 2:
        raise BVHError(path, n, "duplicate channel")
      j["channels"] = tuple(toks[2:])
    elif key == "MOTION":
      _check_closed(joints, stack, path, n)
      return joints, i
    else:
      raise BVHError(path, n, f"unexpected {key!r}")
  if not started:
    raise BVHError(path, None, "empty file, expected 'HIERARCHY'")
  _check_closed(joints, stack, path, None)
  raise BVHError(path, None, "missing MOTION")


def _label(j):
  return f"{j['kind']} {j['name']} (line {j['line']})" if j["name"] else f"{j['kind']} (line {j['line']})"


def _check_closed(joints, stack, path, line):
  if stack:
    j = joints[stack[-1]]
    raise BVHError(path, line, f"unbalanced braces: {_label(j)} is not closed")
  if not joints:
    raise BVHError(path, line, "missing ROOT")


def _skeleton(joints):
  names = [j["name"] for j in joints]
  taken = set(names)
  for k, j in enumerate(joints):
    if j["kind"] == "End Site":
      base = f"{names[j['parent']]}_end"
      name, i = base, 1
      while name in taken:
        i += 1
        name = f"{base}{i}"
      names[k] = name
      taken.add(name)
  return Skeleton(names=tuple(names), parents=tuple(j["parent"] for j in joints),
                  offsets=np.array([j["offset"] for j in joints], np.float64).reshape(-1, 3),
                  channels=tuple(j["channels"] for j in joints),
                  is_end_site=tuple(j["kind"] == "End Site" for j in joints))


def _header_value(lines, i, key, path):
  """The number after ``key:`` on the first non-blank line from ``i``; returns (value, next line index)."""
  while i < len(lines) and not lines[i].strip():
    i += 1
  head, _, value = lines[i].partition(":") if i < len(lines) else ("", "", "")
  if " ".join(head.split()) != key:
    raise BVHError(path, i + 1 if i < len(lines) else None, f"missing '{key}:'")
  try:
    return float(value), i + 1
  except ValueError:
    raise BVHError(path, i + 1, f"'{key}:' needs a number, got {value.strip()!r}") from None


def parse_bvh(text: str, path: str = "<string>") -> Motion:
  """Parses BVH ``text``; ``path`` is only used in error messages. Raises `BVHError` if malformed."""
  lines = text.removeprefix("\ufeff").splitlines()
  joints, i = _parse_hierarchy(lines, path)
  skeleton = _skeleton(joints)
  n_channels = sum(len(c) for c in skeleton.channels)
  if lines[i].split() != ["MOTION"]:
    raise BVHError(path, i + 1, "expected 'MOTION' alone on its line")
  n_frames, frames_line = _header_value(lines, i + 1, "Frames", path)
  if not (np.isfinite(n_frames) and n_frames >= 0 and n_frames == int(n_frames)):
    raise BVHError(path, frames_line, f"'Frames:' needs a count, got {n_frames}")
  frame_time, i = _header_value(lines, frames_line, "Frame Time", path)
  if not frame_time > 0 or not np.isfinite(frame_time):
    raise BVHError(path, i, f"'Frame Time:' must be positive, got {frame_time}")
  data = lines[i:]
  rows = [k for k, line in enumerate(data) if line.strip()]
  frames = np.zeros((0, n_channels))
  if rows:
    try:  # numpy's C reader is the fastest option measured and checks that every row has the same width
      frames = np.loadtxt(data, dtype=np.float64, ndmin=2, comments=None)
    except ValueError:
      frames = None
    if frames is None or frames.shape[1] != n_channels or not np.isfinite(frames).all():
      for k in rows:  # slow path, only to name the first bad line
        toks = data[k].split()
        if len(toks) != n_channels:
          raise BVHError(path, i + k + 1, f"frame has {len(toks)} values, expected {n_channels}")
        _floats(toks, path, i + k + 1, "frame")
      raise BVHError(path, i + rows[0] + 1, "could not read the frames")  # not expected
  if len(frames) != n_frames:
    raise BVHError(path, frames_line, f"'Frames: {int(n_frames)}' but {len(frames)} frame lines follow")
  return Motion(skeleton=skeleton, frames=frames, frame_time=frame_time, path=path)


def read_bvh(path: str | os.PathLike) -> Motion:
  """Reads and parses the BVH file at ``path`` (UTF-8, BOM and CRLF tolerated)."""
  try:
    with open(path, encoding="utf-8-sig") as f:
      text = f.read()
  except UnicodeDecodeError as e:
    raise BVHError(os.fspath(path), None, f"not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start})") \
        from None
  return parse_bvh(text, os.fspath(path))


def forward_kinematics(motion: Motion, joints: Sequence[str] | None = None, scale: float = 1.0) -> np.ndarray:
  """Global joint positions ``[F, J', 3]`` float64, in file units times ``scale``.

  Args:
    motion: a parsed file.
    joints: names to return, in this order; all joints (End Sites included) when ``None``.
    scale: multiplies the positions, e.g. 10.0 for cm -> mm.
  """
  sk = motion.skeleton
  select = [sk.index(n) for n in joints] if joints is not None else list(range(len(sk.names)))
  n_frames = motion.frames.shape[0]
  rots, pos = [], []
  column = 0
  for j, (parent, chans) in enumerate(zip(sk.parents, sk.channels)):
    t = np.broadcast_to(sk.offsets[j], (n_frames, 3)).copy()
    r = np.broadcast_to(np.eye(3), (n_frames, 3, 3)).copy() if parent < 0 else rots[parent].copy()
    for c in chans:
      value, axis = motion.frames[:, column], _AXES[c[0]]
      column += 1
      if c.endswith("position"):
        t[:, axis] = value
        continue
      # Right-multiplying by a rotation about `axis` only mixes the other two columns, so do that in place
      # instead of building and multiplying [F, 3, 3] matrices.
      a, b = (axis + 1) % 3, (axis + 2) % 3
      cos, sin = np.cos(np.radians(value))[:, None], np.sin(np.radians(value))[:, None]
      ca, cb = r[:, :, a].copy(), r[:, :, b]
      r[:, :, a] = cos * ca + sin * cb
      r[:, :, b] = cos * cb - sin * ca
    if parent < 0:
      pos.append(t)
    else:
      pos.append(pos[parent] + np.einsum("fij,fj->fi", rots[parent], t))
    rots.append(r)
  return np.stack([pos[j] for j in select], axis=1) * scale


def format_bvh(motion: Motion) -> str:
  """The BVH text of ``motion``, the inverse of `parse_bvh` (numbers to 6 decimals).

  ``motion.skeleton`` must list parents before children, each subtree contiguous (the file order
  `parse_bvh` gives); End Sites are written as ``End Site`` blocks and their names dropped.
  """
  sk = motion.skeleton
  n = len(sk.names)
  if len(sk.parents) != n or sk.offsets.shape != (n, 3) or len(sk.channels) != n or len(sk.is_end_site) != n:
    raise ValueError(f"format_bvh: expected {n} parents, offsets [{n}, 3], channels and end-site flags, got "
                     f"{len(sk.parents)}, {sk.offsets.shape}, {len(sk.channels)} and {len(sk.is_end_site)}")
  n_channels = sum(len(c) for c in sk.channels)
  frames = np.asarray(motion.frames, np.float64).reshape(-1, n_channels) if n_channels else np.zeros((0, 0))
  if not np.all(np.isfinite(frames)):
    raise ValueError("format_bvh: the frames hold NaN or inf")
  lines = ["HIERARCHY"]
  stack = []  # Open joints, innermost last.
  for j in range(n):
    while stack and sk.parents[j] != stack[-1]:
      stack.pop()
      lines.append("  " * len(stack) + "}")
    if (sk.parents[j] < 0) != (not stack):
      raise ValueError(f"format_bvh: joint {sk.names[j]!r} does not follow its parent's subtree")
    pad = "  " * len(stack)
    kind = "End Site" if sk.is_end_site[j] else ("ROOT " if sk.parents[j] < 0 else "JOINT ") + sk.names[j]
    lines += [pad + kind, pad + "{", pad + "  OFFSET " + " ".join(f"{v:.6f}" for v in sk.offsets[j])]
    if not sk.is_end_site[j]:
      lines.append(pad + f"  CHANNELS {len(sk.channels[j])} " + " ".join(sk.channels[j]))
    stack.append(j)
  while stack:
    stack.pop()
    lines.append("  " * len(stack) + "}")
  lines += ["MOTION", f"Frames: {len(frames)}", f"Frame Time: {motion.frame_time:.8f}"]
  lines += [" ".join(f"{v:.6f}" for v in row) for row in frames]
  return "\n".join(lines) + "\n"


def write_bvh(path: str | os.PathLike, motion: Motion) -> None:
  """Writes ``motion`` to ``path`` (`format_bvh`); a temporary file is renamed over it, so no half file stays."""
  text = format_bvh(motion)
  tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
  with open(tmp, "w", encoding="utf-8") as f:
    f.write(text)
  os.replace(tmp, path)
