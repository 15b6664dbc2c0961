"""Figures: skeleton drawing, limb-ratio histograms (Chen et al. Fig. 6), pose grids (Figs. 7-11), training
curves and contact sheets.

Everything is drawn on ``matplotlib.figure.Figure`` objects and saved through the Agg canvas, never through
pyplot: no display is needed and no global figure registry grows when figures are made in a loop. Every
function taking a ``path`` writes a PNG there (creating parent folders) and returns the path.

Conventions: 2D poses ``[J, 2]`` are image coordinates with y down. 3D poses ``[J, 3]`` are camera coordinates
(x right, y down, z forward) and are drawn as (x, z, -y) so that the person stands upright. Joints that are not
finite are not drawn, nor are bones touching them. Nothing is centred or aligned here: callers pass poses ready
to draw (root-centred; predictions aligned to ground truth).
"""

from __future__ import annotations

from collections.abc import Sequence
import math
import os
import tempfile

import matplotlib
from matplotlib import animation
from matplotlib import cbook
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter
from matplotlib.ticker import ScalarFormatter
from mpl_toolkits.mplot3d.art3d import Poly3DCollection
import numpy as np

from lifting.core import skeleton
from lifting.core.metrics import LIMB_RATIO_NAMES

LEFT_COLOR = "#1f77b4"  # blue: the subject's own left
RIGHT_COLOR = "#d62728"  # red
CENTER_COLOR = "#7f7f7f"  # grey: torso, head
_SIDE_COLORS = {"left": LEFT_COLOR, "right": RIGHT_COLOR, "center": CENTER_COLOR}
# Tags on artists, so that a second pose drawn on the same 3D axes can re-frame around both.
_JOINTS_GID, _FLOOR_GID = "lifting.joints", "lifting.floor"
# Per-joint provenance of a 2D input (e.g. after `lifting.training.completion`): completed joints are drawn as hollow
# rings with dashed bones, missing ones are not drawn.
FLAGS = skeleton.JOINT_FLAGS


def _side(name: str) -> str | None:
  return "left" if name.startswith("l_") else "right" if name.startswith("r_") else None


def bone_side(layout: skeleton.Layout | str, i: int) -> str:
  """'left', 'right' or 'center' for the bone from joint ``i`` to its parent.

  A bone takes a side when one end is on it and the other is on the same side or unsided (torso), so e.g. the
  paper14 hip-to-neck bones are coloured with their leg; torso bones and left-to-right bones are 'center'.
  """
  layout = skeleton.get_layout(layout)
  if not 0 <= i < layout.num_joints or layout.parents[i] < 0:
    raise ValueError(f"bone_side: joint {i} is not the child end of a bone in layout {layout.name!r}")
  sides = {_side(layout.joints[i]), _side(layout.joints[layout.parents[i]])} - {None}
  return sides.pop() if len(sides) == 1 else "center"


def _array(x, shape: tuple, what: str) -> np.ndarray:
  """``x`` as float64 of ``shape`` (None: any size), else a ValueError naming ``what``."""
  a = np.asarray(x, dtype=np.float64)
  if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape)):
    want = ", ".join("N" if s is None else str(s) for s in shape)
    raise ValueError(f"{what}: expected shape [{want}], got {list(a.shape)}")
  return a


def _flags(flags, shape: tuple, what: str) -> np.ndarray | None:
  """``flags`` as a str array of ``shape`` with values in ``FLAGS`` (None stays None), else a ValueError."""
  if flags is None:
    return None
  f = np.asarray(flags, dtype=object)
  if f.shape != shape:
    raise ValueError(f"{what}: expected shape {list(shape)}, got {list(f.shape)}")
  if bad := sorted({repr(v) for v in f.ravel() if not isinstance(v, str) or v not in FLAGS}):
    raise ValueError(f"{what}: expected values in {FLAGS}, got {', '.join(bad)}")
  return f.astype(str)


def _draw_skeleton(ax, pts: np.ndarray, layout: skeleton.Layout, color, kw: dict, flags=None) -> None:
  """Bones and joints of ``pts [J, D]`` (D = 2 or 3, already in plotting coordinates) via ``ax.plot``; ``flags
  [J]`` (checked, or None) marks completed joints (hollow rings, dashed bones) and missing ones (not drawn)."""
  ok = np.isfinite(pts).all(axis=-1)
  completed = np.zeros(len(pts), bool) if flags is None else flags == "completed"
  if flags is not None:
    ok &= flags != "missing"
  style = {"linewidth": 2.0, "solid_capstyle": "round", **cbook.normalize_kwargs(kw, Line2D)}
  dashed = {**style, "linestyle": "--", "dash_capstyle": "round"}
  for c, p in enumerate(layout.parents):
    if p >= 0 and ok[c] and ok[p]:
      ax.plot(*pts[[p, c]].T, color=color or _SIDE_COLORS[bone_side(layout, c)],
              **(dashed if completed[c] or completed[p] else style))
  size = 1.5 * style["linewidth"]
  ax.plot(*pts[ok & ~completed].T, linestyle="none", marker="o", markersize=size, color=color or "0.2",
          alpha=style.get("alpha"), gid=_JOINTS_GID)
  if (ok & completed).any():  # same gid: `_frame_3d` frames them too; white face hides the bone ends inside
    ax.plot(*pts[ok & completed].T, linestyle="none", marker="o", markersize=1.6 * size, markerfacecolor="white",
            markeredgecolor=color or "0.2", markeredgewidth=0.6 * style["linewidth"], alpha=style.get("alpha"),
            gid=_JOINTS_GID)


def draw_2d(ax, pose2d, layout: skeleton.Layout | str, color=None, *, flags=None, **kw):
  """Draws ``pose2d [J, 2]`` (image coordinates, y down) on a 2D ``ax``; ``kw`` go to the bone lines. ``flags``:
  optional ``[J]`` values of ``FLAGS`` (completed joints hollow with dashed bones, missing ones left out). Returns ax.
  """
  layout = skeleton.get_layout(layout)
  pts = _array(pose2d, (layout.num_joints, 2), f"draw_2d: pose2d for layout {layout.name!r}")
  flags = _flags(flags, (layout.num_joints,), f"draw_2d: flags for layout {layout.name!r}")
  _draw_skeleton(ax, pts, layout, color, kw, flags)
  if not ax.yaxis_inverted():  # invert_yaxis toggles: a second pose on the same axes must not undo it
    ax.invert_yaxis()
  ax.set_aspect("equal", adjustable="datalim")
  return ax


def draw_3d(ax, pose3d, layout: skeleton.Layout | str, color=None, elev=10, azim=-70, *, flags=None, **kw):
  """Draws ``pose3d [J, 3]`` (camera frame, y down) upright on a 3D ``ax``; ``kw`` go to the bone lines, ``flags``
  as in `draw_2d`.

  The axes are re-framed around every pose drawn on them so far: equal scales on all three axes and a faint floor
  at the lowest joint. Returns ax.
  """
  layout = skeleton.get_layout(layout)
  pts = _array(pose3d, (layout.num_joints, 3), f"draw_3d: pose3d for layout {layout.name!r}")
  flags = _flags(flags, (layout.num_joints,), f"draw_3d: flags for layout {layout.name!r}")
  _draw_skeleton(ax, upright(pts), layout, color, kw, flags)
  ax.view_init(elev=elev, azim=azim)
  _frame_3d(ax)
  return ax


def upright(pts: np.ndarray) -> np.ndarray:
  """Camera-frame ``[..., 3]`` (x right, y down, z forward) as plotting coordinates (x, z, -y): z is up."""
  return pts[..., [0, 2, 1]] * np.array([1.0, 1.0, -1.0])


def cube(pts: np.ndarray) -> np.ndarray:
  """``[3, 2]`` (low, high) limits of an equal-sided cube around the plotting coordinates ``pts [N, 3]``."""
  lo, hi = pts.min(axis=0), pts.max(axis=0)
  mid, half = (lo + hi) / 2, 0.55 * max(float((hi - lo).max()), 1e-9)
  return np.stack([mid - half, mid + half], axis=1)


def _set_frame_3d(ax, lims: np.ndarray, floor_z: float) -> None:
  """Sets the ``[3, 2]`` limits of a 3D ``ax`` and lays a faint floor over the x-y square at height ``floor_z``."""
  for coll in [c for c in ax.collections if c.get_gid() == _FLOOR_GID]:
    coll.remove()
  ax.set_xlim(*lims[0])
  ax.set_ylim(*lims[1])
  ax.set_zlim(*lims[2])
  (x0, x1), (y0, y1), z = lims[0], lims[1], floor_z
  floor = Poly3DCollection([[(x0, y0, z), (x1, y0, z), (x1, y1, z), (x0, y1, z)]], facecolor="0.5", alpha=0.12,
                           edgecolor="none", gid=_FLOOR_GID)
  ax.add_collection3d(floor)


def _style_3d(ax) -> None:
  for axis in (ax.xaxis, ax.yaxis, ax.zaxis):  # units are arbitrary for predictions; labels only clutter
    axis.set_major_formatter(NullFormatter())
  ax.set_box_aspect((1, 1, 1))


def _frame_3d(ax) -> None:
  for coll in [c for c in ax.collections if c.get_gid() == _FLOOR_GID]:
    coll.remove()
  pts = [np.column_stack(line.get_data_3d()) for line in ax.lines if line.get_gid() == _JOINTS_GID]
  pts = np.concatenate(pts) if pts else np.zeros((0, 3))
  _style_3d(ax)
  if len(pts):
    _set_frame_3d(ax, cube(pts), float(pts[:, 2].min()))


def _save(fig: Figure, path) -> str:
  path = os.fspath(path)
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  fig.savefig(path, format="png", dpi="figure")
  fig.clear()  # frees the artists now rather than whenever the caller drops the figure
  return path


def _density(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
  """Histogram of the finite ``values`` per unit x; values outside ``edges`` still count in the total."""
  v = values[np.isfinite(values)]
  return np.histogram(v, edges)[0] / max(len(v), 1) / np.diff(edges)


def limb_ratio_histograms(ratios: dict[str, np.ndarray], path, reference: np.ndarray | None = None, bins: int = 40,
                          range_=(0.5, 2.0), dpi: int = 100) -> str:
  """Chen et al. Fig. 6: one panel per ``ratios`` entry ``[N, 4]`` (``LIMB_RATIO_NAMES`` order), the four limb
  ratio densities overlaid; ``reference [M, 4]`` (e.g. ground truth) as thin black outlines in every panel."""
  k = len(LIMB_RATIO_NAMES)
  if not ratios:
    raise ValueError("limb_ratio_histograms: expected at least one entry in ratios, got none")
  data = {name: _array(r, (None, k), f"limb_ratio_histograms: ratios[{name!r}]") for name, r in ratios.items()}
  ref = None if reference is None else _array(reference, (None, k), "limb_ratio_histograms: reference")
  edges = np.linspace(range_[0], range_[1], bins + 1)
  fig = Figure(figsize=(3.2 * len(data), 2.8), dpi=dpi, layout="constrained")
  axes = fig.subplots(1, len(data), squeeze=False, sharey=True)[0]
  for ax, (title, r) in zip(axes, data.items()):
    for j, limb in enumerate(LIMB_RATIO_NAMES):
      ls = "-" if "arm" in limb else "--"
      if ref is not None:
        ax.stairs(_density(ref[:, j], edges), edges, color="k", linewidth=0.7, linestyle=ls,
                  label="reference" if j == 0 else None)
      color = LEFT_COLOR if limb.startswith("l_") else RIGHT_COLOR
      ax.stairs(_density(r[:, j], edges), edges, color=color, linewidth=1.5, linestyle=ls, label=limb)
    ax.set_title(str(title))
    ax.set_xlabel("upper / lower limb length")
  axes[0].set_ylabel("density")
  axes[0].legend(fontsize="x-small")
  return _save(fig, path)


def pose_grid(items: list[dict], layout: skeleton.Layout | str, path, views=((10, -70), (10, 20)),
              dpi: int = 100) -> str:
  """One row per item: the input ``pose2d [J, 2]``, then ``pred3d [J, 3]`` from each (elev, azim) of ``views``,
  with the optional ``gt3d [J, 3]`` in thin grey on the same axes. Item keys: title, pose2d, pred3d, gt3d."""
  layout = skeleton.get_layout(layout)
  if not items:
    raise ValueError("pose_grid: expected at least one item, got none")
  rows, cols = len(items), 1 + len(views)
  fig = Figure(figsize=(3 * cols, 3 * rows), dpi=dpi, layout="constrained")
  for r, item in enumerate(items):
    try:
      if missing := {"pose2d", "pred3d"} - set(item):
        raise ValueError(f"missing keys {sorted(missing)}")
      ax = draw_2d(fig.add_subplot(rows, cols, r * cols + 1), item["pose2d"], layout)
      ax.set_title(str(item.get("title", "")), fontsize="medium")
      for c, (elev, azim) in enumerate(views):
        ax = fig.add_subplot(rows, cols, r * cols + c + 2, projection="3d")
        if item.get("gt3d") is not None:
          draw_3d(ax, item["gt3d"], layout, color="0.35", elev=elev, azim=azim, linewidth=1.0)
        draw_3d(ax, item["pred3d"], layout, elev=elev, azim=azim)
        if r == 0:
          ax.set_title(f"elev {elev}, azim {azim}", fontsize="small")
    except ValueError as e:
      raise ValueError(f"pose_grid: item {r}: {e}") from None
  if any(item.get("gt3d") is not None for item in items):
    fig.suptitle("coloured: prediction, grey: ground truth", fontsize="small")
  return _save(fig, path)


def _read_jsonl(path) -> list[dict]:
  from lifting.training import logs  # Jax only where logs are drawn.
  return logs.read_metrics(path)


def _is_number(v) -> bool:
  return isinstance(v, (int, float)) and not isinstance(v, bool)


def _curve_keys(logs: Sequence[list[dict]]) -> list[str]:
  """Default keys of ``training_curves``: losses (total first), discriminator losses, test PA-MPJPE."""
  seen = {k for rows in logs for row in rows for k in row}
  losses = sorted((k for k in seen if k.startswith("loss/")), key=lambda k: (k != "loss/total", k))
  return losses + [k for k in ("pose_disc/loss", "temporal_disc/loss", "test/pa_mpjpe", "test_ema/pa_mpjpe")
                   if k in seen]


def training_curves(runs: dict[str, str], path, keys: Sequence[str] | None = None, dpi: int = 100) -> str:
  """One panel per key (default: ``_curve_keys``), one line per run, x = step. ``runs``: {name: metrics.jsonl}."""
  if not runs:
    raise ValueError("training_curves: expected at least one run, got none")
  logs = {name: _read_jsonl(p) for name, p in runs.items()}
  keys = list(keys) if keys is not None else _curve_keys(list(logs.values()))
  if not keys:
    raise ValueError(f"training_curves: no keys to plot in {sorted(map(str, runs.values()))}")
  ncols = min(len(keys), 3)
  nrows = math.ceil(len(keys) / ncols)
  fig = Figure(figsize=(3.4 * ncols, 2.6 * nrows + 0.3), dpi=dpi, layout="constrained")
  axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
  for ax, key in zip(axes, keys):
    ys_all = []
    for i, rows in enumerate(logs.values()):
      pts = sorted((row["step"], float(row[key])) for row in rows if "step" in row and _is_number(row.get(key)))
      if pts:
        steps, ys = zip(*pts)
        ax.plot(steps, ys, color=f"C{i % 10}", linewidth=1.2)  # fixed colour per run, even when it lacks a key
        ys_all.extend(ys)
    finite = [y for y in ys_all if math.isfinite(y)]
    if "loss" in key and finite and min(finite) > 0:
      ax.set_yscale("log")
    if not ys_all:
      ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(key, fontsize="medium")
    ax.set_xlabel("step")
  for ax in axes[len(keys):]:
    ax.set_visible(False)
  handles = [Line2D([], [], color=f"C{i % 10}", label=str(name)) for i, name in enumerate(logs)]
  fig.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 4), fontsize="small")
  return _save(fig, path)


def metric_curves(groups: dict[str, Sequence[str]], path, key: str = "test_ema/pa_mpjpe",
                  fallback: str | None = "test/pa_mpjpe", ylabel: str = "test PA-MPJPE (mm)",
                  reference: dict[str, float] | None = None, dpi: int = 100) -> str:
  """One metric over training steps: a colour per group (e.g. a table row), a thin line per run (seed)
  and a thick line for their mean at the steps all runs share. ``groups``: {name: [metrics.jsonl]};
  runs without ``key`` use ``fallback``. ``reference``: {label: value} horizontal dashed lines (e.g. flat)."""
  if not groups:
    raise ValueError("metric_curves: expected at least one group of runs, got none")
  fig = Figure(figsize=(7.5, 4.2), dpi=dpi, layout="constrained")
  ax = fig.subplots()
  for i, (name, paths) in enumerate(groups.items()):
    series = []
    for p in paths:
      rows = _read_jsonl(p)
      k = key if any(key in r for r in rows) else fallback
      pts = dict(sorted((r["step"], float(r[k])) for r in rows if k and _is_number(r.get(k))))
      if pts:
        series.append(pts)
        ax.plot(list(pts), list(pts.values()), color=f"C{i % 10}", linewidth=0.6, alpha=0.5)
    if series:
      common = sorted(set.intersection(*(set(s) for s in series)))
      ax.plot(common, [np.mean([s[t] for s in series]) for t in common], color=f"C{i % 10}", linewidth=2,
              label=f"{name} ({len(series)})")
  for j, (label, value) in enumerate((reference or {}).items()):
    ax.axhline(value, color="0.3", linestyle=("--", ":", "-.")[j % 3], linewidth=1, label=label)
  ax.set_xlabel("step")
  ax.set_ylabel(ylabel)
  ax.grid(alpha=0.3)
  ax.legend(fontsize="small", loc="upper right")
  return _save(fig, path)


def yaw_errors(rows: dict[str, dict[str, float]], path, title: str = "", dpi: int = 100) -> str:
  """PA-MPJPE by the subject's yaw towards the camera: one line per row over the yaw bins.

  ``rows``: {name: {bin centre in degrees (str): error in mm}}; a name starting with "baseline" is
  drawn dashed grey.
  """
  if not rows:
    raise ValueError("yaw_errors: expected at least one row, got none")
  fig = Figure(figsize=(7.5, 4.2), dpi=dpi, layout="constrained")
  ax = fig.subplots()
  for i, (name, bins) in enumerate(rows.items()):
    xs = sorted(bins, key=float)
    style = dict(color="0.4", linestyle="--") if name.startswith("baseline") else dict(color=f"C{i % 10}")
    ax.plot([float(x) for x in xs], [bins[x] for x in xs], marker="o", label=name, linewidth=1.5, **style)
  ax.set_xticks(range(0, 360, 45))
  ax.set_xlabel("subject yaw towards the camera (degrees; 0 = facing it, 180 = back to it)")
  ax.set_ylabel("PA-MPJPE (mm)")
  ax.grid(alpha=0.3)
  if title:
    ax.set_title(title, fontsize="medium")
  ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
  return _save(fig, path)


def _paired(poses2d, poses3d, layout: skeleton.Layout, who: str, noun: str) -> tuple[np.ndarray, np.ndarray, int]:
  """``poses2d [N, J, 2]`` and ``poses3d [N, J, 3]`` checked to match, and N."""
  what = f"{who}: {{}} for layout {layout.name!r}"
  p2 = _array(poses2d, (None, layout.num_joints, 2), what.format("poses2d"))
  p3 = _array(poses3d, (None, layout.num_joints, 3), what.format("poses3d"))
  if len(p2) == 0 or len(p3) != len(p2):
    raise ValueError(f"{who}: expected the same, non-zero number of 2D and 3D {noun}, got {len(p2)} and {len(p3)}")
  return p2, p3, len(p2)


def contact_sheet(poses2d: np.ndarray, poses3d: np.ndarray, layout: skeleton.Layout | str, path, columns: int = 6,
                  titles: Sequence[str] | None = None, view=(10, -70), dpi: int = 100, flags=None) -> str:
  """A grid of ``N`` small panel pairs: 2D input ``poses2d [N, J, 2]`` beside its lift ``poses3d [N, J, 3]``;
  optional ``flags [N, J]`` as in `draw_2d` (completed joints hollow, missing ones left out, in both panels)."""
  layout = skeleton.get_layout(layout)
  what = f"contact_sheet: {{}} for layout {layout.name!r}"
  p2, p3, n = _paired(poses2d, poses3d, layout, "contact_sheet", "poses")
  if titles is not None and len(titles) != n:
    raise ValueError(f"contact_sheet: expected {n} titles (one per pose), got {len(titles)}")
  if columns < 1:
    raise ValueError(f"contact_sheet: expected columns >= 1, got {columns}")
  fl = _flags(flags, (n, layout.num_joints), what.format("flags"))
  cols = min(columns, n)
  rows = math.ceil(n / cols)
  fig = Figure(figsize=(3.2 * cols, 1.8 * rows), dpi=dpi, layout="constrained")
  for i in range(n):
    f = None if fl is None else fl[i]
    ax = draw_2d(fig.add_subplot(rows, 2 * cols, 2 * i + 1), p2[i], layout, flags=f, linewidth=1.2)
    ax.set_xticks([])
    ax.set_yticks([])
    if titles is not None:
      ax.set_title(str(titles[i]), fontsize="small", loc="left")
    draw_3d(fig.add_subplot(rows, 2 * cols, 2 * i + 2, projection="3d"), p3[i], layout, elev=view[0], azim=view[1],
            flags=f, linewidth=1.2)
  if fl is not None:
    fig.suptitle("hollow joints, dashed bones: completed; missing joints not drawn", fontsize="small")
  return _save(fig, path)


def adaptation_examples(items: list[dict], layout: skeleton.Layout | str, path, dpi: int = 100) -> str:
  """Chen et al. Fig. 5: one row per item: the ``source [J, 2]`` pose, its ``adapted [J, 2]`` version (the source
  in thin grey beneath) and the ``target [J, 2]`` pose nearest to it. Item keys: source, adapted, target, title."""
  layout = skeleton.get_layout(layout)
  if not items:
    raise ValueError("adaptation_examples: expected at least one item, got none")
  fig = Figure(figsize=(7.5, 2.6 * len(items)), dpi=dpi, layout="constrained")
  axes = fig.subplots(len(items), 3, squeeze=False)
  for r, item in enumerate(items):
    if missing := {"source", "adapted", "target"} - set(item):
      raise ValueError(f"adaptation_examples: item {r}: missing keys {sorted(missing)}")
    draw_2d(axes[r, 0], item["source"], layout)
    draw_2d(axes[r, 1], item["source"], layout, color="0.75", linewidth=1.0)
    draw_2d(axes[r, 1], item["adapted"], layout)
    draw_2d(axes[r, 2], item["target"], layout)
    axes[r, 0].set_ylabel(str(item.get("title", "")), fontsize="small")
    for ax in axes[r]:
      ax.set_xticks([])
      ax.set_yticks([])
  for ax, title in zip(axes[0], ("source", "adapted (source in grey)", "nearest target pose")):
    ax.set_title(title, fontsize="medium")
  return _save(fig, path)


def correction_figure(corrections: dict[str, dict[str, float]], path, dpi: int = 100) -> str:
  """The adapter's mean correction per joint (`lifting.training.adapt.mean_corrections`) as bars: ``up`` (along root to
  neck) and ``outward`` (away from the body's midline), plus the head's ``towards_neck``; units as given."""
  if not corrections:
    raise ValueError("correction_figure: expected corrections for at least one joint, got none")
  names = list(corrections)
  y = np.arange(len(names))
  fig = Figure(figsize=(8.0, 0.32 * len(names) + 1.4), dpi=dpi, layout="constrained")
  axes = fig.subplots(1, 2, sharey=True)
  for ax, key, label in ((axes[0], "up", "up (+) / down (-)"), (axes[1], "outward", "outward (+) / inward (-)")):
    values = np.array([corrections[n].get(key, np.nan) for n in names])
    colors = [_SIDE_COLORS[_side(n) or "center"] for n in names]
    ax.barh(y, values, color=colors)
    ax.axvline(0.0, color="k", linewidth=0.7)
    ax.set_xlabel(f"mean correction, {label}")
  for n, v in corrections.items():
    if "towards_neck" in v:
      axes[0].annotate(f"towards neck {v['towards_neck']:+.2f}", (0, names.index(n)), xytext=(4, -3),
                       textcoords="offset points", fontsize="x-small")
  axes[0].set_yticks(y, names)
  axes[0].invert_yaxis()
  fig.suptitle("mean adapter correction per joint, in target head-to-root lengths", fontsize="medium")
  return _save(fig, path)


def ratio_distributions(sets: dict[str, dict[str, np.ndarray]], path, bins: int = 40, dpi: int = 100) -> str:
  """One panel per ratio, one density line per set (e.g. raw source, adapted source, target).

  ``sets``: {set name: {ratio name: [N] values}}; every set must have the same ratio names. The x range of a
  panel is the 1st to 99th percentile of all sets together, so the long tails of side views do not squash it.
  """
  if not sets:
    raise ValueError("ratio_distributions: expected at least one set, got none")
  ratio_names = list(next(iter(sets.values())))
  for name, ratios in sets.items():
    if list(ratios) != ratio_names:
      raise ValueError(f"ratio_distributions: set {name!r} has ratios {list(ratios)}, expected {ratio_names}")
  fig = Figure(figsize=(3.0 * len(ratio_names), 2.8), dpi=dpi, layout="constrained")
  axes = fig.subplots(1, len(ratio_names), squeeze=False)[0]
  styles = ("-", "-", "--", ":")
  for ax, ratio in zip(axes, ratio_names):
    values = [np.asarray(s[ratio], np.float64) for s in sets.values()]
    finite = np.concatenate([v[np.isfinite(v)] for v in values])
    lo, hi = (np.percentile(finite, [1, 99]) if len(finite) else (0.0, 1.0))
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    for i, (name, v) in enumerate(zip(sets, values)):
      ax.stairs(_density(v, edges), edges, color="k" if i == len(sets) - 1 else f"C{i}",
                linestyle=styles[i % len(styles)], linewidth=1.4, label=str(name))
    ax.set_title(ratio, fontsize="small")
  axes[0].set_ylabel("density")
  axes[0].legend(fontsize="x-small")
  return _save(fig, path)


def _view(view, what: str) -> tuple[float, float]:
  v = np.asarray(view, dtype=np.float64)
  if v.shape != (2,) or not np.isfinite(v).all():
    raise ValueError(f"{what}: expected a finite (elev, azim) pair, got {view!r}")
  return float(v[0]), float(v[1])


def _flag_counts(flags: np.ndarray) -> str:
  """'2 completed, 1 missing' for ``flags [J]``; '' when all are observed."""
  return ", ".join(f"{int((flags == k).sum())} {k}" for k in FLAGS[1:] if (flags == k).any())


def _flag_legend(ax, flags: np.ndarray) -> None:
  """A small legend on a 2D ``ax`` counting the observed, completed (hollow) and missing (not drawn) joints."""
  n = {k: int((flags == k).sum()) for k in FLAGS}
  handles = [Line2D([], [], linestyle="none", marker="o", markersize=3, color="0.2",
                    label=f"observed ({n['observed']})"),
             Line2D([], [], linestyle="--", marker="o", markersize=4.8, color="0.2", markerfacecolor="white",
                    label=f"completed ({n['completed']})"),
             Line2D([], [], linestyle="none", label=f"missing ({n['missing']})")]
  # Below the axes, where it can cover no joint; constrained layout makes room for it.
  ax.legend(handles=handles, fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.08), ncols=3,
            handlelength=1.5, handletextpad=0.4, columnspacing=0.8, frameon=False)


def pose_picture(pose2d, pose3d, layout: skeleton.Layout | str, path, flags=None, title: str = "",
                 views=((10, -70), (10, 20)), dpi: int = 100) -> str:
  """One picture of one pose: the 2D input ``pose2d [J, 2]`` (image coordinates, y down), then its lift ``pose3d
  [J, 3]`` from each (elev, azim) of ``views``, each panel 3 x 3 inches.

  ``flags``: optional ``[J]`` values of ``FLAGS``, the provenance of the 2D joints: completed joints are hollow
  rings with dashed bones (2D and 3D), missing ones are not drawn, and a legend in the 2D panel counts them.
  """
  layout = skeleton.get_layout(layout)
  what = f"pose_picture: {{}} for layout {layout.name!r}"
  p2 = _array(pose2d, (layout.num_joints, 2), what.format("pose2d"))
  p3 = _array(pose3d, (layout.num_joints, 3), what.format("pose3d"))
  fl = _flags(flags, (layout.num_joints,), what.format("flags"))
  if len(views) == 0:
    raise ValueError("pose_picture: expected at least one (elev, azim) in views, got none")
  views = [_view(v, f"pose_picture: views[{i}]") for i, v in enumerate(views)]
  cols = 1 + len(views)
  # Fixed margins, not constrained layout: the layout solver took half of a lift's drawing time.
  fig = Figure(figsize=(3 * cols, 3), dpi=dpi)
  fig.subplots_adjust(left=0.06, right=0.98, bottom=0.08, top=0.84, wspace=0.12)
  ax = draw_2d(fig.add_subplot(1, cols, 1), p2, layout, flags=fl)
  ax.set_title("2D input", fontsize="medium")
  if fl is not None:
    _flag_legend(ax, fl)
  for c, (elev, azim) in enumerate(views):
    ax = draw_3d(fig.add_subplot(1, cols, c + 2, projection="3d"), p3, layout, elev=elev, azim=azim, flags=fl)
    ax.set_title(f"elev {elev:g}, azim {azim:g}", fontsize="small")
  if title:
    fig.suptitle(str(title), fontsize="medium")
  return _save(fig, path)


def _sequence_limits(poses2d: np.ndarray, poses3d: np.ndarray, flags: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray, float]:
  """Axes limits fixed over a whole sequence, from every drawn joint of every frame.

  Args: ``poses2d [F, J, 2]`` image coordinates, ``poses3d [F, J, 3]`` camera frame, ``flags [F, J]`` or None
  (missing joints do not count, as they are not drawn).
  Returns ``lim2d [2, 2]``: x (low, high) and y (high, low), so y points down, with a 5% margin; ``lim3d [3, 2]``:
  an equal-sided cube in plotting coordinates (x, z, -y); ``floor_z``: the lowest drawn joint over the sequence.
  """
  drawn = np.ones(poses2d.shape[:2], bool) if flags is None else flags != "missing"
  q2 = poses2d[drawn & np.isfinite(poses2d).all(axis=-1)]
  if len(q2):
    lo, hi = q2.min(axis=0), q2.max(axis=0)
    pad = 0.05 * max(float((hi - lo).max()), 1e-9)
    lim2d = np.array([[lo[0] - pad, hi[0] + pad], [hi[1] + pad, lo[1] - pad]])
  else:
    lim2d = np.array([[0.0, 1.0], [1.0, 0.0]])
  up = upright(poses3d)
  q3 = up[drawn & np.isfinite(up).all(axis=-1)]
  if len(q3):
    return lim2d, cube(q3), float(q3[:, 2].min())
  return lim2d, np.array([[-1.0, 1.0]] * 3), -1.0


ANIMATION_SIZE = (12.0, 6.2)  # inches: 1200 x 620 pixels at the default 100 dpi


def _animation(poses2d, poses3d, layout: skeleton.Layout | str, view=(10, -70), flags=None, dpi: int = 100,
               units: str | None = None):
  """The figure of `animate` and its ``update(i)``, which draws frame ``i`` (axes limits stay put).

  Returns ``(fig, update, num_frames)``; ``fig.axes`` are the 2D and the 3D axes. With ``units`` (of the 3D
  poses) the 3D axes carry ticks and labels in them.
  """
  layout = skeleton.get_layout(layout)
  what = f"animate: {{}} for layout {layout.name!r}"
  p2, p3, n = _paired(poses2d, poses3d, layout, "animate", "frames")
  fl = _flags(flags, (n, layout.num_joints), what.format("flags"))
  elev, azim = _view(view, "animate: view")
  lim2d, lim3d, floor_z = _sequence_limits(p2, p3, fl)
  fig = Figure(figsize=ANIMATION_SIZE, dpi=dpi)
  FigureCanvasAgg(fig)  # FuncAnimation and the writers draw through fig.canvas
  # A fixed layout rather than a constrained one: text changing from frame to frame must not move the axes.
  fig.subplots_adjust(left=0.06, right=0.97, bottom=0.08, top=0.86, wspace=0.12)
  ax2, ax3 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2, projection="3d")
  ax2.set_xlim(*lim2d[0])
  ax2.set_ylim(*lim2d[1])
  ax2.set_aspect("equal", adjustable="box")  # "box" keeps the limits as set; "datalim" would adjust them per draw
  ax2.set_xlabel("x (pixels)", fontsize="small")
  ax2.set_ylabel("y (pixels, down)", fontsize="small")
  ax2.tick_params(labelsize="small")
  _style_3d(ax3)
  if units:
    for axis, name in ((ax3.xaxis, "x"), (ax3.yaxis, "depth"), (ax3.zaxis, "up")):
      axis.set_major_formatter(ScalarFormatter())
      axis.set_label_text(f"{name} ({units})", fontsize="small")
    ax3.tick_params(labelsize="x-small")
  ax3.view_init(elev=elev, azim=azim)
  _set_frame_3d(ax3, lim3d, floor_z)
  ax3.set_title(f"elev {elev:g}, azim {azim:g}", fontsize="small")
  suptitle = fig.suptitle("", fontsize="medium")

  def update(i: int) -> list:
    for ax in (ax2, ax3):
      for line in list(ax.lines):
        line.remove()
    f = None if fl is None else fl[i]
    _draw_skeleton(ax2, p2[i], layout, None, {}, f)
    _draw_skeleton(ax3, upright(p3[i]), layout, None, {}, f)
    counts = "" if f is None else _flag_counts(f)
    ax2.set_title("2D input" + (f" ({counts})" if counts else ""), fontsize="small")
    suptitle.set_text(f"frame {i} / {n}")
    return [*ax2.lines, *ax3.lines]

  return fig, update, n


def _ffmpeg() -> str | None:
  """An ffmpeg executable: imageio-ffmpeg's (a PyPI wheel that carries one), else one on the PATH."""
  try:
    import imageio_ffmpeg
    return imageio_ffmpeg.get_ffmpeg_exe()
  except (ImportError, RuntimeError):
    return "ffmpeg" if animation.writers.is_available("ffmpeg") else None


def animate(poses2d, poses3d, layout: skeleton.Layout | str, path, fps: float = 25, view=(10, -70), flags=None,
            dpi: int = 100, units: str | None = None) -> str:
  """An animation of a sequence: the 2D input ``poses2d [F, J, 2]`` beside its lift ``poses3d [F, J, 3]``.

  The axes limits are computed once from every frame (`_sequence_limits`), so the figure does not jump; the floor
  lies at the lowest joint of the sequence. ``flags``: optional ``[F, J]`` as in `pose_picture`; ``units``: those of
  ``poses3d``, shown on the 3D axes. Frames are `ANIMATION_SIZE` inches at ``dpi``. ``path`` ending ``.gif`` is
  written with Pillow, ``.mp4`` (H.264) with the ffmpeg of the ``imageio-ffmpeg`` package (a ValueError when neither
  it nor a system ffmpeg is there). The movie is written to a temporary file beside ``path`` and renamed at the
  end, so a failure leaves no partial file. Returns ``path``.
  """
  path = os.fspath(path)
  ext = os.path.splitext(path)[1].lower()
  if ext not in (".gif", ".mp4"):
    raise ValueError(f"animate: expected a path ending in .gif or .mp4, got {path!r}")
  ffmpeg = _ffmpeg() if ext == ".mp4" else None
  if ext == ".mp4" and ffmpeg is None:
    raise ValueError(f"animate: ffmpeg is missing, so {path!r} cannot be written; pip install imageio-ffmpeg, "
                     "or use .gif")
  if not fps > 0:
    raise ValueError(f"animate: expected fps > 0, got {fps}")
  fig, update, n = _animation(poses2d, poses3d, layout, view=view, flags=flags, dpi=dpi, units=units)
  if ext == ".gif":
    writer = animation.PillowWriter(fps=fps)
  else:  # yuv420p: the pixel format every player reads; H.264 wants even frame sizes, which 1200 x 620 are.
    writer = animation.FFMpegWriter(fps=fps, codec="libx264", extra_args=["-pix_fmt", "yuv420p"])
  folder = os.path.dirname(path) or "."
  os.makedirs(folder, exist_ok=True)
  # Same folder, so the final rename stays on one file system; same extension, as Pillow picks the format by it.
  fd, tmp = tempfile.mkstemp(suffix=ext, prefix="." + os.path.basename(path) + ".", dir=folder)
  os.close(fd)
  try:
    anim = animation.FuncAnimation(fig, update, frames=n, interval=1000 / fps, blit=False, cache_frame_data=False)
    with matplotlib.rc_context({"animation.ffmpeg_path": ffmpeg} if ffmpeg else {}):  # this movie's ffmpeg only
      anim.save(tmp, writer=writer, dpi=dpi)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
  finally:
    fig.clear()
  return path
