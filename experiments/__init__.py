"""Experiment configurations: each module's ``get_config()`` starts from `experiments.default`."""
