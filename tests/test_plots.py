"""Tests for lifting.app.plots: bone colouring, drawing conventions, and that every figure writes a PNG."""

import json
import re
import subprocess

from matplotlib import colors
from matplotlib.figure import Figure
from matplotlib.image import imread
import numpy as np
import pytest

from lifting.app import plots
from lifting.core import skeleton

DPI = 30  # tiny images: these tests check files and conventions, not looks
LAYOUT = skeleton.get_layout("paper14")
# A T-pose in camera coordinates (mm; x right, y down, z forward), root (hip midpoint) at the origin, facing the
# camera, so the subject's left (l_*) is on the image's right (+x).
POSE3D = np.array([
  [-120, 900, 0], [-110, 450, 20], [-100, 0, 0],  # r_ankle, r_knee, r_hip
  [100, 0, 0], [110, 450, 20], [120, 900, 0],  # l_hip, l_knee, l_ankle
  [-700, -500, 0], [-450, -500, 0], [-180, -500, 0],  # r_wrist, r_elbow, r_shoulder
  [180, -500, 0], [450, -500, 0], [700, -500, 0],  # l_shoulder, l_elbow, l_wrist
  [0, -520, 0], [0, -700, 0],  # neck, head
], float)
POSE2D = 1000 * POSE3D[:, :2] / (POSE3D[:, 2:] + 4000) + 500  # pinhole, 4 m from the camera, pixels


def with_nan(pose, joint="l_knee"):
  pose = pose.copy()
  pose[LAYOUT.index(joint)] = np.nan
  return pose


def assert_png(path, height, width):
  with open(path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  assert imread(path).shape[:2] == (height, width)


def bone_lines(ax):
  return [line for line in ax.lines if line.get_gid() != plots._JOINTS_GID]


def test_bone_side_paper14():
  def side(name):
    return plots.bone_side(LAYOUT, LAYOUT.index(name))

  assert side("l_knee") == "left"  # l_knee -> l_hip
  assert side("l_hip") == "left"  # l_hip -> neck: a left joint to the torso
  assert side("r_elbow") == side("r_shoulder") == "right"
  assert side("head") == "center"  # head -> neck
  with pytest.raises(ValueError, match="not the child end of a bone"):
    side("neck")  # the root has no bone
  with pytest.raises(ValueError, match="not the child end"):
    plots.bone_side("paper14", 14)


def test_bone_side_across_the_body_is_center():
  lay = skeleton.Layout("bar", ("r_hip", "l_hip"), (-1, 0), ((1, 0),), (0, 1), 0, "hip bar")
  assert plots.bone_side(lay, 1) == "center"


def test_draw_2d_colours_image_axis_and_nan():
  ax = Figure().add_subplot()
  plots.draw_2d(ax, POSE2D, "paper14")
  hexes = [colors.to_hex(line.get_color()) for line in bone_lines(ax)]
  assert len(hexes) == len(LAYOUT.bones) == 13
  assert hexes.count(plots.LEFT_COLOR) == hexes.count(plots.RIGHT_COLOR) == 6
  assert hexes.count(plots.CENTER_COLOR) == 1
  plots.draw_2d(ax, POSE2D + 5, LAYOUT, color="k", linewidth=1)  # a second pose must not flip y back
  assert ax.yaxis_inverted() and ax.get_aspect() == 1.0
  ax = Figure().add_subplot()
  plots.draw_2d(ax, with_nan(POSE2D), LAYOUT)
  assert len(bone_lines(ax)) == 11  # l_knee's two bones are skipped
  with pytest.raises(ValueError, match=r"pose2d for layout 'paper14': expected shape \[14, 2\], got \[14, 3\]"):
    plots.draw_2d(ax, POSE3D, LAYOUT)


def test_draw_3d_upright_equal_scales_and_reframes():
  ax = Figure().add_subplot(projection="3d")
  plots.draw_3d(ax, POSE3D, LAYOUT)
  (joints,) = [line for line in ax.lines if line.get_gid() == plots._JOINTS_GID]
  up = joints.get_data_3d()[2]
  assert up[LAYOUT.index("head")] > up[LAYOUT.index("neck")] > up[LAYOUT.index("l_ankle")]
  plots.draw_3d(ax, 2 * POSE3D + [0, 0, 500], LAYOUT, color="0.5")  # a bigger pose: frame must grow to fit both
  lims = np.array([ax.get_xlim(), ax.get_ylim(), ax.get_zlim()])
  np.testing.assert_allclose(np.diff(lims, axis=1), np.diff(lims[:1], axis=1).repeat(3, 0))
  assert lims[0, 0] < -1400 < 1400 < lims[0, 1] and lims[1, 1] > 500 and lims[2, 0] < -1800
  assert sum(c.get_gid() == plots._FLOOR_GID for c in ax.collections) == 1
  ax = Figure().add_subplot(projection="3d")
  plots.draw_3d(ax, with_nan(POSE3D), LAYOUT)
  assert len(bone_lines(ax)) == 11
  plots.draw_3d(Figure().add_subplot(projection="3d"), np.full((14, 3), np.nan), LAYOUT)  # nothing to draw
  with pytest.raises(ValueError, match=r"expected shape \[14, 3\], got \[13, 3\]"):
    plots.draw_3d(ax, POSE3D[:13], LAYOUT)


def test_limb_ratio_histograms(tmp_path):
  rng = np.random.default_rng(0)
  ratios = {name: rng.lognormal(0, 0.2, (50, 4)) for name in ("SS", "SS+Symm", "Adv+SS")}
  ratios["SS"][:3, 0] = [np.nan, np.inf, 0]  # ignored, and a ratio off the range
  path = tmp_path / "a" / "b" / "hist.png"
  assert plots.limb_ratio_histograms(ratios, path, reference=ratios["Adv+SS"], dpi=DPI) == str(path)
  assert_png(path, round(2.8 * DPI), round(3 * 3.2 * DPI))
  with pytest.raises(ValueError, match=r"ratios\['SS'\]: expected shape \[N, 4\], got \[50, 3\]"):
    plots.limb_ratio_histograms({"SS": ratios["SS"][:, :3]}, path)
  with pytest.raises(ValueError, match=r"reference: expected shape \[N, 4\]"):
    plots.limb_ratio_histograms(ratios, path, reference=np.ones(4))
  with pytest.raises(ValueError, match="at least one entry"):
    plots.limb_ratio_histograms({}, path)


def test_pose_grid(tmp_path):
  items = [
    {"title": "typical", "pose2d": POSE2D, "pred3d": with_nan(POSE3D, "head"), "gt3d": POSE3D},
    {"title": "in the wild", "pose2d": with_nan(POSE2D), "pred3d": POSE3D},
  ]
  path = tmp_path / "figs" / "grid.png"
  assert plots.pose_grid(items, "paper14", path, dpi=DPI) == str(path)
  assert_png(path, 2 * 3 * DPI, 3 * 3 * DPI)
  with pytest.raises(ValueError, match=r"pose_grid: item 1: draw_2d: pose2d .* got \[13, 2\]"):
    plots.pose_grid([items[0], {**items[1], "pose2d": POSE2D[:13]}], LAYOUT, path)
  with pytest.raises(ValueError, match=r"item 0: missing keys \['pred3d'\]"):
    plots.pose_grid([{"pose2d": POSE2D}], LAYOUT, path)
  with pytest.raises(ValueError, match="at least one item"):
    plots.pose_grid([], LAYOUT, path)


def write_jsonl(path, rows):
  path.write_text("".join(json.dumps(row) + "\n" for row in rows))
  return str(path)


def test_training_curves(tmp_path):
  a = write_jsonl(tmp_path / "a.jsonl", [
    {"step": s, "time": 0.0, "loss/total": 1 / (s + 1), "loss/adv": 0.5 - s / 100, "pose_disc/loss": 0.7}
    for s in range(0, 50, 10)] + [{"step": 40, "test/pa_mpjpe": 80.0, "test/n_mpjpe": 90.0}])
  b = write_jsonl(tmp_path / "b.jsonl", [
    {"step": s, "loss/total": float("nan") if s == 1 else 2.0, "loss/symmetry": 0.1} for s in range(3)])
  logs = [plots._read_jsonl(a), plots._read_jsonl(b)]
  assert plots._curve_keys(logs) == ["loss/total", "loss/adv", "loss/symmetry", "pose_disc/loss", "test/pa_mpjpe"]
  path = tmp_path / "out" / "curves.png"
  assert plots.training_curves({"SS": a, "Adv+SS": b}, path, dpi=DPI) == str(path)
  assert_png(path, round((2 * 2.6 + 0.3) * DPI), round(3 * 3.4 * DPI))
  plots.training_curves({"SS": a}, path, keys=["test/n_mpjpe", "loss/temporal"], dpi=DPI)  # one key is absent
  assert_png(path, round((2.6 + 0.3) * DPI), round(2 * 3.4 * DPI))
  with pytest.raises(ValueError, match="at least one run"):
    plots.training_curves({}, path)
  with pytest.raises(ValueError, match="no keys to plot"):
    plots.training_curves({"SS": write_jsonl(tmp_path / "empty.jsonl", [])}, path)


def test_contact_sheet(tmp_path):
  poses2d = np.stack([POSE2D, with_nan(POSE2D), POSE2D * 0.5])
  poses3d = np.stack([POSE3D, POSE3D, with_nan(POSE3D, "l_wrist")])
  path = tmp_path / "sheets" / "sheet.png"
  assert plots.contact_sheet(poses2d, poses3d, LAYOUT, path, columns=2, titles=["a", "b", "c"], dpi=DPI) == str(path)
  assert_png(path, round(2 * 1.8 * DPI), round(2 * 3.2 * DPI))
  with pytest.raises(ValueError, match="same, non-zero number of 2D and 3D poses, got 3 and 2"):
    plots.contact_sheet(poses2d, poses3d[:2], LAYOUT, path)
  with pytest.raises(ValueError, match=r"poses3d for layout 'paper14': expected shape \[N, 14, 3\]"):
    plots.contact_sheet(poses2d, poses3d[:, :, :2], LAYOUT, path)
  with pytest.raises(ValueError, match="expected 3 titles"):
    plots.contact_sheet(poses2d, poses3d, LAYOUT, path, titles=["a"])


def test_adaptation_figures(tmp_path):
  shifted = POSE2D + np.array([0.0, 5.0])
  items = [{"source": POSE2D, "adapted": shifted, "target": POSE2D, "title": "a"},
           {"source": with_nan(POSE2D), "adapted": shifted, "target": POSE2D}]
  with open(plots.adaptation_examples(items, LAYOUT, tmp_path / "ex.png", dpi=DPI), "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  with pytest.raises(ValueError, match="missing keys"):
    plots.adaptation_examples([{"source": POSE2D}], LAYOUT, tmp_path / "bad.png")
  with pytest.raises(ValueError, match="at least one"):
    plots.adaptation_examples([], LAYOUT, tmp_path / "bad.png")
  corr = {name: {"up": 0.1 * i, "outward": -0.05 * i, "norm": 0.2} for i, name in enumerate(LAYOUT.joints)}
  corr["head"]["towards_neck"] = 0.4
  assert plots.correction_figure(corr, tmp_path / "corr.png", dpi=DPI).endswith("corr.png")
  with pytest.raises(ValueError, match="at least one joint"):
    plots.correction_figure({}, tmp_path / "bad.png")
  rng = np.random.default_rng(0)
  sets = {"raw": {"r1": rng.normal(1, 0.3, 50), "r2": np.append(rng.normal(2, 1, 49), np.inf)},
          "target": {"r1": rng.normal(1, 0.1, 50), "r2": rng.normal(2, 0.2, 50)}}
  assert plots.ratio_distributions(sets, tmp_path / "ratios.png", dpi=DPI).endswith("ratios.png")
  with pytest.raises(ValueError, match="has ratios"):
    plots.ratio_distributions({"a": {"r1": [1.0]}, "b": {"r2": [1.0]}}, tmp_path / "bad.png")


def flags_for(completed=(), missing=()):
  flags = ["observed"] * LAYOUT.num_joints
  for name in completed:
    flags[LAYOUT.index(name)] = "completed"
  for name in missing:
    flags[LAYOUT.index(name)] = "missing"
  return flags


def joint_lines(ax):
  return [line for line in ax.lines if line.get_gid() == plots._JOINTS_GID]


def test_draw_with_flags_hollow_dashed_and_missing():
  flags = flags_for(completed=["l_knee"], missing=["head"])
  ax = plots.draw_2d(Figure().add_subplot(), POSE2D, LAYOUT, flags=flags)
  bones = bone_lines(ax)
  assert len(bones) == 12  # head -> neck is not drawn
  assert sum(line.get_linestyle() == "--" for line in bones) == 2  # l_hip -> l_knee -> l_ankle
  filled, hollow = joint_lines(ax)
  assert len(filled.get_xdata()) == 12 and len(hollow.get_xdata()) == 1
  assert colors.to_hex(hollow.get_markerfacecolor()) == "#ffffff"
  ax = plots.draw_3d(Figure().add_subplot(projection="3d"), POSE3D, LAYOUT, flags=flags)
  assert [len(line.get_data_3d()[0]) for line in joint_lines(ax)] == [12, 1]
  with pytest.raises(ValueError, match=r"draw_2d: flags for layout 'paper14': expected shape \[14\], got \[13\]"):
    plots.draw_2d(ax, POSE2D, LAYOUT, flags=flags[:13])


def test_pose_picture(tmp_path):
  path = tmp_path / "pics" / "one.png"
  assert plots.pose_picture(POSE2D, POSE3D, LAYOUT, path, dpi=DPI) == str(path)
  assert_png(path, 3 * DPI, 3 * 3 * DPI)
  flags = flags_for(completed=["l_knee", "r_wrist"], missing=["head"])
  plots.pose_picture(with_nan(POSE2D, "r_ankle"), with_nan(POSE3D), LAYOUT, path, flags=flags, title="completed",
                     views=[(10, -70)], dpi=DPI)
  assert_png(path, 3 * DPI, 2 * 3 * DPI)


def test_pose_picture_rejects_bad_input(tmp_path):
  path = tmp_path / "bad.png"
  with pytest.raises(ValueError, match=r"pose_picture: pose2d for layout 'paper14': expected shape \[14, 2\], got"):
    plots.pose_picture(POSE3D, POSE3D, LAYOUT, path)
  with pytest.raises(ValueError, match=r"pose3d .* expected shape \[14, 3\], got \[13, 3\]"):
    plots.pose_picture(POSE2D, POSE3D[:13], LAYOUT, path)
  with pytest.raises(ValueError, match=r"flags .* expected shape \[14\], got \[2, 14\]"):
    plots.pose_picture(POSE2D, POSE3D, LAYOUT, path, flags=[flags_for()] * 2)
  with pytest.raises(ValueError, match=r"expected values in \('observed', 'completed', 'missing'\), got 'hidden', 1"):
    plots.pose_picture(POSE2D, POSE3D, LAYOUT, path, flags=["hidden", 1] + flags_for()[2:])
  with pytest.raises(ValueError, match=r"views\[1\]: expected a finite \(elev, azim\) pair"):
    plots.pose_picture(POSE2D, POSE3D, LAYOUT, path, views=[(10, 20), (10,)])
  with pytest.raises(ValueError, match="at least one"):
    plots.pose_picture(POSE2D, POSE3D, LAYOUT, path, views=[])
  assert not path.exists()


def sequence(num_frames=3):
  """A pose walking forward and up the image over ``num_frames`` frames: ``[F, J, 2]``, ``[F, J, 3]``."""
  t = np.linspace(0, 1, num_frames)[:, None, None]
  return POSE2D + t * np.array([40.0, 30.0]), POSE3D + t * np.array([300.0, -200.0, 500.0])


def test_sequence_limits_cover_all_frames():
  p2, p3 = sequence(4)
  p3[2, LAYOUT.index("l_ankle")] = [0.0, 5000.0, 0.0]  # not drawn: must not count
  flags = np.array([flags_for()] * 4)
  flags[2, LAYOUT.index("l_ankle")] = "missing"
  lim2d, lim3d, floor_z = plots._sequence_limits(p2, p3, flags)
  assert lim2d[1, 0] > lim2d[1, 1]  # y down
  assert lim2d[0, 0] < p2[..., 0].min() and lim2d[0, 1] > p2[..., 0].max()
  widths = np.diff(lim3d, axis=1).ravel()
  np.testing.assert_allclose(widths, widths[0])
  up = plots.upright(p3)
  up[2, LAYOUT.index("l_ankle")] = np.nan
  assert floor_z == np.nanmin(up[..., 2]) == -900.0  # the lowest ankle of the sequence (y down: -y up)
  assert (lim3d[:, 0] < np.nanmin(up, axis=(0, 1))).all() and (lim3d[:, 1] > np.nanmax(up, axis=(0, 1))).all()
  lim2d, lim3d, _ = plots._sequence_limits(np.full((1, 14, 2), np.nan), np.full((1, 14, 3), np.nan))
  assert np.isfinite(lim2d).all() and np.isfinite(lim3d).all()


def test_animation_limits_fixed_over_frames():
  p2, p3 = sequence(3)
  fig, update, n = plots._animation(p2, p3, LAYOUT, dpi=DPI)
  ax2, ax3 = fig.axes
  lims = []
  for i in range(n):
    update(i)
    lims.append([*ax2.get_xlim(), *ax2.get_ylim(), *ax3.get_xlim(), *ax3.get_ylim(), *ax3.get_zlim()])
    assert fig.get_suptitle() == f"frame {i} / 3"
    assert len(bone_lines(ax3)) == len(LAYOUT.bones)  # the previous frame's lines are gone
  np.testing.assert_array_equal(lims, [lims[0]] * n)
  _, lim3d, floor_z = plots._sequence_limits(p2, p3)
  np.testing.assert_array_equal(lims[0][4:], lim3d.ravel())
  assert sum(c.get_gid() == plots._FLOOR_GID for c in ax3.collections) == 1
  assert floor_z == -900.0  # the ankles of frame 0; later frames move up (y down)


def test_animate_gif(tmp_path):
  from PIL import Image

  p2, p3 = sequence(3)
  p3[1, LAYOUT.index("head")] = np.nan
  flags = np.array([flags_for(), flags_for(completed=["l_knee"]), flags_for(missing=["head"])])
  path = tmp_path / "movies" / "walk.gif"
  assert plots.animate(p2, p3, LAYOUT, path, fps=10, flags=flags, dpi=DPI) == str(path)
  with Image.open(path) as im:
    assert im.format == "GIF" and im.n_frames == 3 and im.size == tuple(round(v * DPI) for v in plots.ANIMATION_SIZE)
  assert sorted(p.name for p in path.parent.iterdir()) == ["walk.gif"]  # no temporary file left


def test_animate_mp4_with_the_packaged_ffmpeg(tmp_path, monkeypatch):
  import imageio_ffmpeg
  from matplotlib import animation

  p2, p3 = sequence(3)
  path = tmp_path / "walk.mp4"
  assert plots.animate(p2, p3, LAYOUT, path, fps=10, units="mm") == str(path)
  probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True,
                         text=True)
  assert re.search(r"Video: h264 .*yuv420p.*1200x620", probe.stderr), probe.stderr[-800:]
  assert sorted(p.name for p in tmp_path.iterdir()) == ["walk.mp4"]
  path.unlink()
  # Without imageio-ffmpeg and without a system ffmpeg: a one-line error, and no file.
  monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", lambda: (_ for _ in ()).throw(RuntimeError("none")))
  monkeypatch.setattr(animation.writers, "is_available", lambda name: False)
  with pytest.raises(ValueError, match=r"ffmpeg is missing.*imageio-ffmpeg.*\.gif"):
    plots.animate(p2, p3, LAYOUT, path, dpi=DPI)
  assert list(tmp_path.iterdir()) == []


def test_animation_3d_axes_carry_units():
  p2, p3 = sequence(2)
  fig, update, _ = plots._animation(p2, p3, LAYOUT, dpi=DPI, units="mm")
  ax3 = fig.axes[1]
  assert [ax3.get_xlabel(), ax3.get_ylabel(), ax3.get_zlabel()] == ["x (mm)", "depth (mm)", "up (mm)"]
  update(0)
  fig.canvas.draw()
  assert any(t.get_text() for t in ax3.get_zticklabels())


def test_animate_rejects_bad_input_and_leaves_no_file(tmp_path, monkeypatch):
  from matplotlib import animation

  p2, p3 = sequence(2)
  with pytest.raises(ValueError, match=r"expected a path ending in \.gif or \.mp4, got '.*walk\.avi'"):
    plots.animate(p2, p3, LAYOUT, tmp_path / "out" / "walk.avi")
  with pytest.raises(ValueError, match="same, non-zero number of 2D and 3D frames, got 2 and 1"):
    plots.animate(p2, p3[:1], LAYOUT, tmp_path / "walk.gif")
  with pytest.raises(ValueError, match=r"animate: flags for layout 'paper14': expected shape \[2, 14\], got \[14\]"):
    plots.animate(p2, p3, LAYOUT, tmp_path / "walk.gif", flags=flags_for())
  with pytest.raises(ValueError, match="fps > 0"):
    plots.animate(p2, p3, LAYOUT, tmp_path / "walk.gif", fps=0)
  assert list(tmp_path.iterdir()) == []

  def fail(self):
    raise RuntimeError("disk full")

  monkeypatch.setattr(animation.PillowWriter, "finish", fail)
  with pytest.raises(RuntimeError, match="disk full"):
    plots.animate(p2, p3, LAYOUT, tmp_path / "walk.gif", dpi=DPI)
  assert list(tmp_path.iterdir()) == []  # neither the movie nor its temporary file


def test_contact_sheet_flags(tmp_path):
  poses2d, poses3d = np.stack([POSE2D, POSE2D]), np.stack([POSE3D, POSE3D])
  flags = [flags_for(completed=["l_knee"]), flags_for(missing=["head"])]
  path = tmp_path / "sheet.png"
  plots.contact_sheet(poses2d, poses3d, LAYOUT, path, flags=flags, dpi=DPI)
  assert_png(path, round(1.8 * DPI), round(2 * 3.2 * DPI))
  with pytest.raises(ValueError, match=r"contact_sheet: flags for layout 'paper14': expected shape \[2, 14\]"):
    plots.contact_sheet(poses2d, poses3d, LAYOUT, path, flags=flags[:1])
