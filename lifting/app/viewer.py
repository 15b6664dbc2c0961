"""An interactive 3D viewer of lifted poses: one self-contained HTML file (plotly, embedded; works offline).

    from lifting.app import viewer
    viewer.write_html("lifted/viewer.html", out.poses3d, out.pose2d, "paper14", flags=..., titles=out.ids)

Left: the 2D input (image coordinates, y down; one frame for a whole video, each pose framed on its
own when the poses come from unrelated images). Right: the 3D pose, rotatable and zoomable, drawn
upright as the pictures of `lifting.app.plots` draw it (camera x to the right, depth z away from the
camera, up = -y), in the poses' own units. A slider and play / pause buttons step through the frames.
Colours and marks follow `lifting.app.plots`: the subject's left blue, right red, torso grey;
completed joints are hollow rings with dashed bones; missing joints and their bones are not drawn.
"""

from __future__ import annotations

import os

import numpy as np

from lifting.app import plots
from lifting.app.plots import CENTER_COLOR
from lifting.app.plots import FLAGS
from lifting.app.plots import LEFT_COLOR
from lifting.app.plots import RIGHT_COLOR
from lifting.app.plots import bone_side
from lifting.core import skeleton

_SIDES = (("left", LEFT_COLOR), ("right", RIGHT_COLOR), ("center", CENTER_COLOR))


def _check(poses3d, poses2d, layout: skeleton.Layout, flags, titles) -> tuple:
  p3 = np.asarray(poses3d, np.float64)
  p2 = np.asarray(poses2d, np.float64)
  j = layout.num_joints
  if p3.ndim != 3 or p3.shape[1:] != (j, 3) or len(p3) == 0:
    raise ValueError(f"viewer: poses3d: expected shape [N >= 1, {j}, 3] for layout {layout.name!r}, got {p3.shape}")
  if p2.shape != p3.shape[:2] + (2,):
    raise ValueError(f"viewer: poses2d: expected shape {p3.shape[:2] + (2,)}, got {p2.shape}")
  fl = np.full(p3.shape[:2], "observed") if flags is None else np.asarray(flags, str)
  if fl.shape != p3.shape[:2] or not np.isin(fl, FLAGS).all():
    raise ValueError(f"viewer: flags: expected shape {p3.shape[:2]} with values in {FLAGS}")
  titles = [f"frame {i + 1} / {len(p3)}" for i in range(len(p3))] if titles is None else [str(t) for t in titles]
  if len(titles) != len(p3):
    raise ValueError(f"viewer: titles: expected {len(p3)}, got {len(titles)}")
  return p3, p2, fl, titles


def _traces(points: np.ndarray, flags: np.ndarray, layout: skeleton.Layout) -> list[dict]:
  """Per side, solid and dashed bones as line segments (None-separated), then observed and completed joints:
  always the same 8 traces, so frames can replace them one for one. ``points``: ``[J, D]``, D = 2 or 3."""
  shown = (flags != "missing") & np.isfinite(points).all(-1)
  dims = "xyz"[:points.shape[1]]
  traces = []
  for side, color in _SIDES:
    for dashed in (False, True):
      coords = {d: [] for d in dims}
      for c, p in enumerate(layout.parents):
        if p < 0 or bone_side(layout, c) != side or not (shown[c] and shown[p]):
          continue
        if ((flags[c] == "completed") | (flags[p] == "completed")) != dashed:
          continue
        for d, k in zip(dims, range(len(dims))):
          coords[d] += [float(points[p, k]), float(points[c, k]), None]
      traces.append(dict(mode="lines", line=dict(color=color, width=5, dash="dash" if dashed else "solid"),
                         hoverinfo="skip", showlegend=False, **coords))
  for completed in (False, True):
    keep = shown & ((flags == "completed") == completed)
    names = [layout.joints[i] + (" (completed)" if completed else "") for i in np.flatnonzero(keep)]
    traces.append(dict(mode="markers", text=names, hoverinfo="text", showlegend=False,
                       marker=dict(size=5, color="#333333", symbol="circle-open" if completed else "circle"),
                       **{d: points[keep, k].tolist() for k, d in enumerate(dims)}))
  return traces


def _ranges_2d(p2: np.ndarray) -> list[tuple[list[float], list[float]]]:
  """Per frame, the 2D panel's x and y ranges (y reversed: image coordinates). One range for all frames when
  they look like a video (from one frame to the next, joints move by under a quarter of the pose's size, as
  they do at video rates), so motion shows as motion; else each pose framed on its own (unrelated images,
  e.g. LSP)."""
  def box(points):
    points = points[np.isfinite(points).all(-1)]
    lo, hi = points.min(0), points.max(0)
    pad = 0.1 * max(hi - lo) + 1e-6
    return lo - pad, hi + pad
  per_pose = [box(p) for p in p2]
  size = np.array([max(hi - lo) for lo, hi in per_pose])
  moved = np.nanmean(np.linalg.norm(p2[1:] - p2[:-1], axis=-1), axis=-1) / size[1:]  # [N - 1]
  video = len(p2) == 1 or np.nanmedian(moved) < 0.25
  boxes = [box(p2.reshape(-1, 2))] * len(p2) if video else per_pose
  return [([float(lo[0]), float(hi[0])], [float(hi[1]), float(lo[1])]) for lo, hi in boxes]


def figure(poses3d, poses2d, layout: skeleton.Layout | str, flags=None, titles=None, title: str = ""):
  """The viewer's ``plotly.graph_objects.Figure`` (see the module docstring); shapes ``[N, J, 3]``, ``[N, J, 2]``,
  ``flags [N, J]`` (values of `lifting.app.plots.FLAGS`), ``titles [N]``."""
  import plotly.graph_objects as go
  from plotly.subplots import make_subplots

  layout = skeleton.get_layout(layout)
  p3, p2, fl, titles = _check(poses3d, poses2d, layout, flags, titles)
  upright = plots.upright(p3)  # (x, depth, up)

  def frame_traces(i):
    two = [go.Scatter(**t) for t in _traces(p2[i], fl[i], layout)]
    three = [go.Scatter3d(**t) for t in _traces(upright[i], fl[i], layout)]
    return two + three

  fig = make_subplots(rows=1, cols=2, specs=[[{"type": "xy"}, {"type": "scene"}]], column_widths=[0.4, 0.6],
                      subplot_titles=("2D input (pixels)", "3D lift (drag to rotate, scroll to zoom)"))
  first = frame_traces(0)
  for k, trace in enumerate(first):
    fig.add_trace(trace, row=1, col=1 if k < len(first) // 2 else 2)
  ranges2 = _ranges_2d(p2)
  box = plots.cube(upright[np.isfinite(upright).all(-1)])  # [3, 2] (low, high)
  fig.update_xaxes(range=ranges2[0][0], title_text="x (pixels)", row=1, col=1)
  fig.update_yaxes(range=ranges2[0][1], title_text="y (pixels, down)", scaleanchor="x", row=1, col=1)
  axis = lambda k, name: dict(range=[float(box[k, 0]), float(box[k, 1])], title=name)  # noqa: E731
  fig.update_scenes(xaxis=axis(0, "x (right)"), yaxis=axis(1, "z (depth)"), zaxis=axis(2, "up"),
                    aspectmode="cube", camera=dict(eye=dict(x=-0.6, y=-1.7, z=0.5)))
  fig.frames = [go.Frame(data=frame_traces(i), name=str(i), traces=list(range(len(first))),
                         layout=dict(title_text=f"{title}  {titles[i]}".strip(), xaxis=dict(range=ranges2[i][0]),
                                     yaxis=dict(range=ranges2[i][1]))) for i in range(len(p3))]
  step = lambda i: dict(method="animate", label=str(i + 1),  # noqa: E731
                        args=[[str(i)], dict(mode="immediate", frame=dict(duration=0, redraw=True),
                                             transition=dict(duration=0))])
  play = dict(label="play", method="animate",
              args=[None, dict(frame=dict(duration=80, redraw=True), fromcurrent=True, transition=dict(duration=0))])
  pause = dict(label="pause", method="animate",
               args=[[None], dict(mode="immediate", frame=dict(duration=0, redraw=False), transition=dict(duration=0))])
  fig.update_layout(
      title_text=f"{title}  {titles[0]}".strip(), height=660, margin=dict(l=40, r=20, t=80, b=110),
      updatemenus=[dict(type="buttons", direction="left", x=0.0, y=-0.12, xanchor="left", yanchor="top",
                        buttons=[play, pause])] if len(p3) > 1 else [],
      sliders=[dict(active=0, x=0.12, y=-0.1, len=0.88, currentvalue=dict(prefix="frame "),
                    steps=[step(i) for i in range(len(p3))])] if len(p3) > 1 else [])
  return fig


def write_html(path, poses3d, poses2d, layout: skeleton.Layout | str, flags=None, titles=None, title: str = "") -> str:
  """Writes `figure` as one HTML file with plotly.js inside it (no network needed to open it); returns ``path``."""
  fig = figure(poses3d, poses2d, layout, flags, titles, title)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.write_html(path, include_plotlyjs=True, full_html=True, auto_play=False,
                 config=dict(displaylogo=False, responsive=True))
  return path
