"""Where the library keeps what it computes once and reuses: ``$LIFTING_CACHE``, else ``~/.cache/lifting``.

It holds the parsed-BVH arrays of the bandai benchmark (`lifting.data.bandai`), the prepared in-the-wild poses
(`lifting.data.wild`), MediaPipe's model bundle (`lifting.app.detector`) and XLA's compiled lift functions (the
command line's ``--mode=lift``). Everything in it can be deleted; it is made again when needed.
"""

from __future__ import annotations

import os


def folder(*parts: str) -> str:
  """The cache folder, or a path inside it."""
  root = os.environ.get("LIFTING_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "lifting"))
  return os.path.join(root, *parts)
