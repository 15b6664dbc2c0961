"""Training: the compiled step over the ``data`` mesh and its states, the loop, checkpoints, logs, the optimiser
and the device pool; the adapter (sec. 3.6), joint completion (sec. 4.6) and a clip's fine-tuning, which train
networks of their own."""
