"""Times reading every Bandai Namco BVH file (parse + forward kinematics), then the cached load.

    python -m benchmarks.load_bandai --root=../shared/data/bandai_namco_motion

Uses a fresh temporary cache, so the first figure is a cold read of all files.
"""

import json
import tempfile
import time

from absl import app
from absl import flags

from lifting.data import bandai

_ROOT = flags.DEFINE_string("root", "../shared/data/bandai_namco_motion", "Folder that holds dataset/.")


def main(_):
  result = {}
  with tempfile.TemporaryDirectory() as cache:
    for name in ("cold_s", "cached_s"):
      t0 = time.perf_counter()
      frames = files = 0
      for dataset in (1, 2):
        takes, positions = bandai.load_takes(_ROOT.value, dataset, cache_dir=cache)
        files += len(takes)
        frames += sum(len(p) for p in positions)
      result[name] = round(time.perf_counter() - t0, 2)
  result.update(files=files, frames=frames)
  print(json.dumps(result))


if __name__ == "__main__":
  app.run(main)
