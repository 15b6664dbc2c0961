"""Control for the DA rows: Adv + SS with the same in-the-wild poses, unadapted.

The same poses as "Adv + SS + DA" (completed and scaled alike) but without the adapter's
correction, so the table separates what the adapter does from what more data does.
"""

from experiments import adv_ss_da


def get_config(profile: str = "cpu"):
  config = adv_ss_da.get_config(profile)
  config.data.extra.kind = "raw"
  return config
