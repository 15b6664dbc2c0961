"""The README's Python examples run as written."""

import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _example(marker):
  with open(os.path.join(ROOT, "README.md")) as f:
    blocks = re.findall(r"```python\n(.*?)```", f.read(), re.DOTALL)
  found = [b for b in blocks if marker in b]
  assert len(found) == 1, f"README should hold one python example with {marker!r}"
  return found[0]


def test_readme_geometry_example_runs():
  namespace = {}
  exec(compile(_example("geometry as geo"), "README.md", "exec"), namespace)  # noqa: S102
  assert namespace["y"].shape == (8, 14, 2) and namespace["aligned"].shape == (8, 14, 3)


def test_readme_keypoints_example_runs(monkeypatch):
  code = _example("read_keypoints")
  path = re.search(r'"(\.\./shared/[^"]+)"', code).group(1)
  if not os.path.exists(os.path.join(ROOT, path)):
    pytest.skip(f"LSP annotations not found at {os.path.normpath(os.path.join(ROOT, path))}")
  monkeypatch.chdir(ROOT)
  namespace = {}
  exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102
  assert namespace["lsp"].poses.shape == (2000, 14, 2) and namespace["lsp"].mask.all()
  assert 0.07 < namespace["lsp"].occluded.mean() < 0.075


def _bash_line(marker):
  with open(os.path.join(ROOT, "README.md")) as f:
    blocks = re.findall(r"```bash\n(.*?)```", f.read(), re.DOTALL)
  lines = [line for b in blocks for line in b.splitlines() if marker in line]
  assert len(lines) == 1, f"README should hold one bash line with {marker!r}"
  return lines[0]


def test_readme_lift_example_runs(monkeypatch, tmp_path):
  """The 'Lift your own keypoints' example, with the shipped model, from another directory."""
  monkeypatch.chdir(tmp_path)
  namespace = {}
  exec(compile(_example("inference.load"), "README.md", "exec"), namespace)  # noqa: S102
  assert namespace["out"].poses3d.shape == (30, 14, 3) and namespace["in_pixels"].shape == (30, 14, 3)
  line = _bash_line("--input=walk.npy")
  args = shlex.split(line.split("#")[0])
  assert args[:2] == ["python", "run.py"]
  res = subprocess.run([sys.executable, os.path.join(ROOT, "run.py"), *args[2:]], capture_output=True, text=True,
                       timeout=300)
  assert res.returncode == 0, res.stderr[-2000:]
  for name in ("poses3d.npz", "poses3d.json", "animation.gif", "contact_sheet.png"):
    assert (tmp_path / "lifted" / "walk" / name).exists(), name
