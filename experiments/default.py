"""The shared default every experiment config starts from: `lifting.default_config` (in the package, so an
installed ``lifting`` and saved configs read the same defaults). Each field is documented there.
"""

from lifting.default_config import PROFILES  # noqa: F401  (re-exported for experiments/*.py)
from lifting.default_config import get_config  # noqa: F401  (re-exported for experiments/*.py)
