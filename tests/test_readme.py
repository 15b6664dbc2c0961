"""The README's and the docs' examples run as written, their commands name what exists, their links resolve."""

import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The user's manual: the README, the pages it links and the other folders' READMEs.
PAGES = ["README.md", *sorted(os.path.join("docs", p) for p in os.listdir(os.path.join(ROOT, "docs"))
                             if p.endswith(".md")),
         "experiments/README.md", "lifting/pretrained/README.md"]


def _text(page):
  with open(os.path.join(ROOT, page)) as f:
    return f.read()


def _example(marker):
  blocks = [b for page in PAGES for b in re.findall(r"```python\n(.*?)```", _text(page), re.DOTALL)]
  found = [b for b in blocks if marker in b]
  assert len(found) == 1, f"the docs should hold one python example with {marker!r}"
  return found[0]


def test_readme_geometry_example_runs():
  namespace = {}
  exec(compile(_example("geometry as geo"), "README.md", "exec"), namespace)
  assert namespace["y"].shape == (8, 14, 2) and namespace["aligned"].shape == (8, 14, 3)


def test_readme_keypoints_example_runs(monkeypatch):
  code = _example("read_keypoints")
  path = re.search(r'"(\.\./shared/[^"]+)"', code).group(1)
  if not os.path.exists(os.path.join(ROOT, path)):
    pytest.skip(f"LSP annotations not found at {os.path.normpath(os.path.join(ROOT, path))}")
  monkeypatch.chdir(ROOT)
  namespace = {}
  exec(compile(code, "README.md", "exec"), namespace)
  assert namespace["lsp"].poses.shape == (2000, 14, 2) and namespace["lsp"].mask.all()
  assert 0.07 < namespace["lsp"].occluded.mean() < 0.075


def _bash_lines(page):
  return [line for b in re.findall(r"```bash\n(.*?)```", _text(page), re.DOTALL) for line in b.splitlines()]


def _bash_line(marker):
  lines = [line for page in PAGES for line in _bash_lines(page) if marker in line]
  assert len(lines) == 1, f"the docs should hold one bash line with {marker!r}"
  return lines[0]


def _commands(page):
  """Every documented command line of ``page``: its bash lines, and its inline code that starts a command."""
  inline = re.findall(r"`((?:python|lifting|time python)[^`]*)`", _text(page))
  return [line.split(" #")[0].strip() for line in _bash_lines(page)] + inline


def _defined_flags(module_path):
  """The flags a command defines: in its own module, and for the drivers in their shared module."""
  text = _text(module_path)
  if module_path.startswith("experiments/drivers/"):
    text += _text("experiments/drivers/common.py")
  return set(re.findall(r"DEFINE_\w+\(\s*\"(\w+)\"", text))


@pytest.mark.parametrize("page", PAGES)
def test_documented_commands_name_modules_configs_and_flags_that_exist(page):
  """A renamed module, config or flag cannot leave a documented command behind."""
  for command in _commands(page):
    for config in re.findall(r"--config=([\w./]+\.py)", command):
      assert os.path.exists(os.path.join(ROOT, config)), f"{page}: {command!r} names a missing config {config}"
    module = re.search(r"python -m ((?:benchmarks|experiments)[\w.]*)", command)
    if module is None:
      continue
    path = module.group(1).replace(".", "/") + ".py"
    assert os.path.exists(os.path.join(ROOT, path)), f"{page}: {command!r} names a missing module {path}"
    defined = _defined_flags(path)
    for flag in re.findall(r"(?<![\w-])--(\w+)", command[module.end():]):
      assert flag in defined or flag in ("help", "helpfull"), f"{page}: {command!r}: {path} has no flag --{flag}"


def _anchors(page):
  """GitHub's anchors of a page's headings."""
  heads = re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", _text(page), flags=re.DOTALL), re.MULTILINE)
  return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


@pytest.mark.parametrize("page", PAGES)
def test_documented_links_resolve(page):
  for target in re.findall(r"\]\(([^)\s]+)\)", _text(page)):
    if re.match(r"(https?|mailto):", target):
      continue
    path, _, anchor = target.partition("#")
    resolved = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
    assert os.path.exists(os.path.join(ROOT, resolved)), f"{page}: link to missing {target}"
    if anchor:
      assert anchor in _anchors(resolved), f"{page}: no heading #{anchor} in {resolved}"


def test_readme_is_a_manual_whose_first_screen_is_the_quick_start():
  lines = _text("README.md").splitlines()
  assert len(lines) <= 300, f"README.md has {len(lines)} lines: move reference material to docs/"
  first_screen = "\n".join(lines[:15])
  assert 'pip install -e ".[test]" && python run.py' in first_screen and "python -m pytest -q -n 2 tests" in first_screen


def test_readme_lift_example_runs(monkeypatch, tmp_path):
  """The 'Lift your own keypoints' example, with the shipped model, from another directory."""
  monkeypatch.chdir(tmp_path)
  namespace = {}
  exec(compile(_example("inference.load"), "README.md", "exec"), namespace)
  assert namespace["out"].poses3d.shape == (30, 14, 3) and namespace["in_pixels"].shape == (30, 14, 3)
  line = _bash_line("--input=walk.npy")
  args = shlex.split(line.split("#")[0])
  assert args[:2] == ["python", "run.py"]
  res = subprocess.run([sys.executable, os.path.join(ROOT, "run.py"), *args[2:]], capture_output=True, text=True,
                       timeout=300)
  assert res.returncode == 0, res.stderr[-2000:]
  for name in ("poses3d.npz", "poses3d.json", "animation.gif", "contact_sheet.png"):
    assert (tmp_path / "lifted" / "walk" / name).exists(), name
