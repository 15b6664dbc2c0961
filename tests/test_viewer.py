"""The interactive viewer: its traces against hand-made poses, a self-contained file, and a real browser."""

import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from lifting.app import viewer
from lifting.core import skeleton

PAPER14 = skeleton.get_layout("paper14")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _poses(n=3):
  """A standing pose, then the same pose shifted: ``[n, 14, 3]`` and its 2D ``[n, 14, 2]``."""
  rng = np.random.default_rng(0)
  p3 = np.repeat(rng.normal(size=(1, 14, 3)), n, axis=0) + np.arange(n)[:, None, None] * 0.1
  return p3, 100 * p3[..., :2] + 300


def _bones(trace):
  """The segments of a lines trace, as (start, end) tuples of its x coordinates."""
  xs = trace.x
  return [(xs[k], xs[k + 1]) for k in range(0, len(xs), 3)]


def test_traces_follow_sides_completed_and_missing_joints():
  p3, p2 = _poses(2)
  flags = np.full((2, 14), "observed", dtype=object)
  lw, le = PAPER14.joints.index("l_wrist"), PAPER14.joints.index("l_elbow")
  ra = PAPER14.joints.index("r_ankle")
  flags[1, lw] = "completed"
  flags[1, ra] = "missing"
  fig = viewer.figure(p3, p2, PAPER14, flags=flags, titles=["a", "b"])
  assert len(fig.frames) == 2 and len(fig.data) == 16  # 8 traces per panel: 3 sides x solid/dashed + 2 joint sets
  second = fig.frames[1].data
  by_name = lambda traces: dict(zip([f"{s}_{d}" for s in ("left", "right", "center") for d in ("solid", "dashed")],  # noqa: E731
                                    traces[:6]))
  two = by_name(second[:8])
  # The completed wrist: its bone is dashed and blue, and the wrist is a hollow ring.
  assert two["left_dashed"].line.dash == "dash" and two["left_dashed"].line.color == viewer.LEFT_COLOR
  assert _bones(two["left_dashed"]) == [(p2[1, le, 0], p2[1, lw, 0])]
  assert second[7].marker.symbol == "circle-open" and list(second[7].x) == [p2[1, lw, 0]]
  # The missing ankle and its bone are not drawn at all.
  assert p2[1, ra, 0] not in list(second[6].x) + list(second[7].x)
  assert all(p2[1, ra, 0] not in seg for seg in _bones(two["right_solid"]))
  # Every other bone of paper14 is drawn once, solid; the first frame has no dashed bone.
  drawn = sum(len(_bones(t)) for t in second[:6])
  assert drawn == sum(p >= 0 for p in PAPER14.parents) - 1
  assert not any(len(t.x) for t in fig.frames[0].data[:6] if t.line.dash == "dash")
  # The 3D panel draws the pose upright: (x, depth z, up = -y).
  three = fig.frames[0].data[8:]
  np.testing.assert_allclose(three[6].z, -p3[0, :, 1])
  np.testing.assert_allclose(three[6].y, p3[0, :, 2])


def test_bad_shapes_and_flags_are_one_line_errors():
  p3, p2 = _poses(2)
  with pytest.raises(ValueError, match=r"poses3d: expected shape \[N >= 1, 14, 3\]"):
    viewer.figure(p3[:, :13], p2, PAPER14)
  with pytest.raises(ValueError, match="poses2d: expected shape"):
    viewer.figure(p3, p2[:1], PAPER14)
  with pytest.raises(ValueError, match="flags"):
    viewer.figure(p3, p2, PAPER14, flags=np.full((2, 14), "maybe"))


def test_html_is_one_self_contained_file(tmp_path):
  p3, p2 = _poses(3)
  path = viewer.write_html(str(tmp_path / "v" / "viewer.html"), p3, p2, "paper14", title="walk")
  text = open(path).read()
  assert not re.search(r"<script[^>]+src=", text)  # plotly.js is inside: it opens offline
  assert text.count('"name":"2"') >= 1 and "play" in text and "walk" in text


def test_viewer_renders_in_headless_chromium(tmp_path):
  browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
  if browser is None:
    pytest.skip("no chromium on this machine (Debian: apt install chromium); the viewer was not opened in a browser")
  p3, p2 = _poses(5)
  page = viewer.write_html(str(tmp_path / "viewer.html"), p3, p2, "paper14", title="browser test")
  # Script errors, caught on the page itself and written into the DOM that the browser dumps.
  text = open(page).read().replace(
      "<head>", "<head><script>window.addEventListener('error', e => document.documentElement"
      ".setAttribute('data-script-error', e.message));</script>", 1)
  probe = tmp_path / "probe.html"
  probe.write_text(text)
  common = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,700",
            "--virtual-time-budget=8000"]
  dom = subprocess.run(common + ["--dump-dom", f"file://{probe}"], capture_output=True, text=True, timeout=120)
  assert dom.returncode == 0, dom.stderr[-1500:]
  assert not re.search(r"<html[^>]*data-script-error", dom.stdout), re.findall(r'data-script-error="([^"]*)"',
                                                                                dom.stdout)
  assert "<canvas" in dom.stdout and "main-svg" in dom.stdout  # the 3D scene's WebGL canvas and the 2D panel
  shot = tmp_path / "viewer.png"
  run = subprocess.run(common + [f"--screenshot={shot}", f"file://{page}"], capture_output=True, text=True,
                       timeout=120)
  assert run.returncode == 0 and shot.exists(), run.stderr[-1500:]
  import matplotlib.image
  pixels = matplotlib.image.imread(str(shot))[..., :3]
  scene = pixels[150:520, 650:1150]  # the 3D panel: more than a blank background
  dark = (scene.mean(-1) < 0.45).mean()
  assert dark > 0.002, f"the 3D panel looks blank ({dark:.4%} dark pixels)"


def test_2d_panel_keeps_one_frame_for_a_video_and_frames_unrelated_images_one_by_one():
  p3, _ = _poses(4)
  walk = 100 * p3[..., :2] + 300  # Moves 10 px a frame: a video.
  np.testing.assert_allclose(np.diff([r[0] for r in viewer._ranges_2d(walk)], axis=0), 0)
  images = walk.copy()
  images[1] = images[1, ::-1]  # Other people in other pictures: every joint elsewhere.
  images[3] = images[3] * 0.5
  ranges = viewer._ranges_2d(images)
  assert ranges[1] != ranges[0] and ranges[3] != ranges[0]
  for (xr, yr), pose in zip(ranges, images):
    assert xr[0] <= pose[:, 0].min() <= pose[:, 0].max() <= xr[1] and yr[1] <= pose[:, 1].min()
