"""lifting: unsupervised 3D human pose estimation from 2D keypoints (Chen et al., CVPR 2019, and beyond).

The package's layout is its architecture:

* `lifting.core`: the paper's core as pure JAX (geometry, joint layouts, networks, losses, metrics);
* `lifting.data`: datasets, their protocols and the training pipeline;
* `lifting.training`: the compiled train step, the loop, checkpoints, logs;
* `lifting.evaluators`: test sets, evaluation sets, baselines and results files;
* `lifting.app`: lifting keypoint files and videos with a trained model, pictures, animation export;
* `lifting.train`: ``train_and_evaluate(config, workdir)``, the loop that trains and evaluates;
* `lifting.cli`, `lifting.configs`, `lifting.default_config`: the ``lifting`` command and its configs.

``from lifting import geometry`` (or ``inference``, ``skeleton``, ...: any module that lived at the top level
before the sub-packages) still works and gives the module in its sub-package.
"""

import importlib

# Modules that lived at the top level, and the sub-package each lives in now.
_MOVED = {
    **dict.fromkeys(("geometry", "skeleton", "losses", "models", "metrics", "flow", "augment", "temporal",
                     "batching"), "core"),
    **dict.fromkeys(("train_step", "pool", "optim", "checkpoint", "logs", "memory", "distributed",
                     "allocator", "weights", "adapt", "completion", "finetune"), "training"),
    **dict.fromkeys(("inference", "lift_files", "video", "frames", "detector", "overlay", "retarget", "tracking",
                     "smoothing", "viewer", "plots", "motion", "animation"), "app"),
}


def __getattr__(name: str):
  if name in _MOVED:
    return importlib.import_module(f"lifting.{_MOVED[name]}.{name}")
  raise AttributeError(f"module 'lifting' has no attribute {name!r}")
