"""A tiny config for tests: every term on, seconds to compile and run on a CPU."""

from experiments import default


def get_config(profile: str = "cpu"):
  config = default.get_config(profile)
  config.data.synthetic.num_train_sequences = 4
  config.data.synthetic.num_test_sequences = 2
  config.data.synthetic.num_frames = 16
  config.data.synthetic.num_cameras = 2
  config.model.width = 32
  config.model.lifter_blocks = 1
  config.model.disc_blocks = 1
  config.loss.w_temporal = 1.0
  config.train.batch_size = 16
  config.train.num_steps = 6
  config.train.log_every = 2
  config.train.eval_every = 3
  config.train.checkpoint_every = 3
  config.train.pictures = False  # Seconds of matplotlib per run; tests that check the picture turn it on.
  return config
