"""The paper's core as pure JAX: camera geometry, joint layouts, the networks, the losses of eq. 8 and the metrics;
beside them the parts that go beyond the paper and live at the same level (the flow prior, 2D corruption, the
temporal lifter's windows, a padded map)."""
