"""What ``python run.py`` runs with no ``--config``: the paper's method on real mocap 2D, in minutes on a CPU.

The data is the demo set shipped with the package (`lifting.data.demo`): a small piece of the bandai benchmark,
actors A and B as training 2D and the held-out actor C's 2D and 3D as the test set (CC BY-NC 4.0, as its
README says). The method is the paper's Adv + SS + TD (the 2D pose discriminator, the loop closure and the
temporal discriminator), with the ``fast`` profile's recipe (2000 steps at learning rates 1e-3), and the
training 2D scaled per pose by its limb size, as `Model.lift` scales a user's keypoints. The numbers of the
benchmark itself come from ``experiments/bandai.py`` and its rows (docs/benchmark.md). It lives in the package, so
an installed ``lifting`` runs it too; ``experiments/demo.py`` is the same config for a checkout.

``--config.data.source=synthetic`` trains on the procedural demo poses instead (no real data at all).
"""

from lifting import default_config


def get_config(profile: str = "fast"):
  config = default_config.get_config(profile)
  config.data.source = "demo"
  config.data.scale = "body"
  config.loss.w_temporal = 1.0
  return config
