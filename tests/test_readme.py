"""The README's Python examples run as written."""

import os
import re

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
