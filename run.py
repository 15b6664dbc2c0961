"""``python run.py ...``: the ``lifting`` command from a checkout (`lifting.cli` has the flags and modes)."""

from lifting import cli

if __name__ == "__main__":
  cli.run()
