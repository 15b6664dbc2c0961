"""The installable package: a wheel holds the `lifting` command, the experiment configs and the shipped
model, and works from any directory."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from lifting.app import inference

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_wheel_installs_the_command_configs_and_shipped_model(tmp_path):
  src = tmp_path / "src"  # A copy, so the build leaves nothing in the checkout.
  src.mkdir()
  for name in ("lifting", "experiments"):
    shutil.copytree(os.path.join(ROOT, name), src / name, ignore=shutil.ignore_patterns("__pycache__"))
  for name in ("pyproject.toml", "README.md", "LICENSE"):
    shutil.copy(os.path.join(ROOT, name), src / name)
  build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-q", "-w", str(tmp_path / "whl")],
                         capture_output=True, text=True, timeout=600)
  if build.returncode and "setuptools" in build.stderr and ("Could not find" in build.stderr
                                                           or "connection" in build.stderr.lower()):
    pytest.skip(f"pip cannot fetch the build backend here: {build.stderr.strip().splitlines()[-1]}")
  assert build.returncode == 0, build.stderr[-2000:]
  (wheel,) = (tmp_path / "whl").iterdir()
  target = tmp_path / "site"
  install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                           capture_output=True, text=True, timeout=600)
  assert install.returncode == 0, install.stderr[-2000:]
  elsewhere = tmp_path / "elsewhere"  # Not the checkout: only the installed package can be imported.
  elsewhere.mkdir()
  env = dict(os.environ, PYTHONPATH=str(target), JAX_PLATFORMS="cpu")
  np.save(elsewhere / "walk.npy", _walk())
  run = lambda *args: subprocess.run([str(target / "bin" / "lifting"), *args], cwd=elsewhere, env=env,  # noqa: E731
                                     capture_output=True, text=True, timeout=300)
  out = run("--mode=lift", "--input=walk.npy", "--layout=paper14", "--output=out", "--pictures=0")
  assert out.returncode == 0, out.stderr[-2000:]
  shipped = target / "lifting" / "pretrained"
  assert str(shipped / os.path.basename(inference.DEFAULT_MODEL)) in out.stdout
  assert (elsewhere / "out" / "poses3d.npz").exists()
  assert (shipped / os.path.basename(inference.DEFAULT_MODEL) / "discriminators.msgpack").exists()  # --adapt_steps
  out = run("--mode=lift", "--input=walk.npy", "--layout=paper14", "--output=old", "--pictures=0",
            "--workdir=bandai-adv-ss-td-body-elev")  # The model shipped before, by name.
  assert out.returncode == 0 and str(shipped / "bandai-adv-ss-td-body-elev") in out.stdout, out.stderr[-2000:]
  out = run("--show_config", "--config.train.num_steps=5")
  assert out.returncode == 0, out.stderr[-2000:]
  assert str(target / "lifting" / "demo_config.py") in out.stdout.splitlines()[0]  # The package's own default.
  assert "config.train.num_steps = 5" in out.stdout.splitlines()
  out = run("--mode=lift", "--input=nope.json", "--output=o")
  assert out.returncode != 0 and out.stderr.strip().splitlines()[-1].startswith("lifting: error: ")


def _walk() -> np.ndarray:
  from lifting.data import synthetic
  demo = synthetic.make_demo_data(seed=1, num_train_sequences=1, num_test_sequences=1, num_frames=5, num_cameras=1)
  return demo.test_2d[0]


def test_requirements_txt_is_pyproject_dependencies_plus_test_extra():
  import tomllib
  with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
    project = tomllib.load(f)["project"]
  with open(os.path.join(ROOT, "requirements.txt")) as f:
    lines = [line.strip() for line in f if line.strip() and not line.startswith("#")]
  assert lines == project["dependencies"] + project["optional-dependencies"]["test"]


def _module_imports(root: str) -> dict[str, set[str]]:
  """``lifting`` module -> the ``lifting`` modules it imports at module level (not inside functions)."""
  import ast
  graph = {}
  for folder, _, files in os.walk(os.path.join(root, "lifting")):
    for name in files:
      if not name.endswith(".py"):
        continue
      path = os.path.join(folder, name)
      module = os.path.relpath(path, root)[:-3].replace(os.sep, ".").removesuffix(".__init__")
      deps = set()
      for node in ast.parse(open(path).read()).body:  # Module level only: lazy imports are the way down.
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lifting"):
          for alias in node.names:  # `from lifting import x`: module x, or a name of `lifting` itself.
            sub = f"{node.module}.{alias.name}"
            deps.add(sub if os.path.exists(os.path.join(root, *sub.split(".")) + ".py") else node.module)
        elif isinstance(node, ast.Import):
          deps |= {a.name for a in node.names if a.name.startswith("lifting")}
      graph[module] = deps - {module}
  return graph


def test_the_import_graph_has_no_cycles_and_lifting_imports_no_training_module():
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  graph = _module_imports(root)
  done, stack = set(), []

  def visit(m):
    if m in stack:
      raise AssertionError(f"import cycle: {' -> '.join(stack[stack.index(m):] + [m])}")
    if m in done or m not in graph:
      return
    stack.append(m)
    for d in graph[m]:
      visit(d)
    stack.pop()
    done.add(m)

  for m in graph:
    visit(m)

  def reach(m, seen):
    for d in graph.get(m, ()):
      if d not in seen:
        seen.add(d)
        reach(d, seen)
    return seen

  lift_path = reach("lifting.app.lift_files", {"lifting.app.lift_files"}) | reach("lifting.app.inference",
                                                                              {"lifting.app.inference"})
  training = {"lifting.train"} | {f"lifting.training.{m}" for m in ("train_step", "pool", "checkpoint", "adapt", "memory")}
  reached = {m for m in lift_path if m in training or m.split(".")[:2] == ["lifting", "evaluators"]}
  assert not reached, sorted(reached)


def test_each_sub_package_imports_only_those_below_it():
  """The layout is the architecture: core < data < training < evaluators < app (and the loop, `lifting.train`). At
  module level no module imports a sub-package above its own; the core imports nothing else of the package, not even
  inside a function."""
  import ast
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  rank = {"core": 0, "data": 1, "training": 2, "evaluators": 3, "app": 4}
  graph = _module_imports(root)
  for module, deps in graph.items():
    parts = module.split(".")
    if len(parts) < 3 or parts[1] not in rank:
      continue
    for dep in deps:
      sub = dep.split(".")[1] if dep.count(".") else ""
      assert sub not in rank or rank[sub] <= rank[parts[1]], f"{module} imports {dep}, above it"
  core = os.path.join(root, "lifting", "core")
  for name in sorted(os.listdir(core)):
    if name.endswith(".py"):
      for node in ast.walk(ast.parse(open(os.path.join(core, name)).read())):
        module = getattr(node, "module", None) if isinstance(node, ast.ImportFrom) else None
        names = [module] if module else [a.name for a in getattr(node, "names", [])] if isinstance(node, ast.Import) else []
        for m in names:
          assert not m.startswith("lifting") or m.startswith("lifting.core"), f"lifting/core/{name} imports {m}"
