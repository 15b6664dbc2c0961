"""Reference row "supervised, fixed rig": `supervised.py` on the fixed-rig protocol (``bandai/fixed-rig``)."""

from experiments import supervised


def get_config(profile: str = "cpu"):
  config = supervised.get_config(profile)
  config.data.bandai.rig = "fixed"
  return config
