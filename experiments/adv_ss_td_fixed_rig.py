"""Row "Adv + SS + TD, fixed rig": the same recipe on the fixed-rig protocol (``bandai/fixed-rig``).

The rig of every take stands as built, so the actors, who mostly face one way, are seen from four
oblique views only: every result before the turned-rig protocol. Beside `adv_ss_td.py` (turned
rig) it measures what the benchmark's view bias costs the unsupervised lifter.
"""

from experiments import adv_ss_td


def get_config(profile: str = "cpu"):
  config = adv_ss_td.get_config(profile)
  config.data.bandai.rig = "fixed"
  return config
