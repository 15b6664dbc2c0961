"""Experiment drivers: commands that train, evaluate and tabulate many runs of the configs in `experiments`.

Each is run as ``python -m experiments.drivers.<name>``; `common` holds the flags and run bookkeeping they share.
"""
