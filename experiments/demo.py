"""What ``python run.py`` runs with no ``--config``: `lifting.demo_config` (the paper's method on the demo set shipped
with the package), here as a config file beside the others.
"""

from lifting.demo_config import get_config  # noqa: F401
