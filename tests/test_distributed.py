"""Multi-process training: each process's shard of the training data."""

import numpy as np
import pytest

from lifting import skeleton
from lifting.data import pipeline


def _data(lengths=(3, 5, 2, 4, 1), num_extra=7):
  """Frame ``i`` holds the value ``i`` everywhere (3D: ``-i``), extra pose ``e`` the value ``-100 - e``."""
  n = sum(lengths)
  frames = np.arange(n, dtype=np.float32)[:, None, None] * np.ones((1, 14, 2), np.float32)
  extra = -100.0 - np.arange(num_extra, dtype=np.float32)[:, None, None] * np.ones((1, 14, 2), np.float32)
  return pipeline.PoseData(frames, np.array(lengths), 1.0, frames[:2], -frames[:2, :, :1].repeat(3, -1),
                           skeleton.get_layout("paper14"), -frames[..., :1].repeat(3, -1),
                           train_names=tuple(f"take{i}/cam0" for i in range(len(lengths))), extra_2d=extra)


def test_shard_keeps_whole_sequences_and_every_frame_once():
  data = _data()
  starts = np.concatenate([[0], np.cumsum(data.sequence_lengths)[:-1]])
  shards = [pipeline.shard(data, i, 3) for i in range(3)]
  for i, part in enumerate(shards):
    mine = list(range(i, 5, 3))  # Sequences i, i + 3, ...
    np.testing.assert_array_equal(part.sequence_lengths, data.sequence_lengths[mine])
    expect = np.concatenate([np.arange(starts[s], starts[s] + data.sequence_lengths[s]) for s in mine])
    np.testing.assert_array_equal(part.train_2d[:, 0, 0], expect)
    np.testing.assert_array_equal(part.train_3d[:, 0, 0], -expect)
    np.testing.assert_array_equal(pipeline.shard_frames(data.sequence_lengths, i, 3), expect)
    assert part.train_names == tuple(f"take{s}/cam0" for s in mine)
    np.testing.assert_array_equal(part.extra_2d[:, 0, 0], -100.0 - np.arange(i, 7, 3))
    assert part.test_2d is data.test_2d and part.test_3d is data.test_3d and part.scale == data.scale
    # Windows stay inside the shard's own sequences.
    window = part.window_starts(2)[:, None] + np.arange(2)
    values = part.train_2d[window, 0, 0]
    assert all(any(v[0] >= a and v[-1] < a + n for a, n in zip(starts, data.sequence_lengths)) for v in values)
  every = np.sort(np.concatenate([p.train_2d[:, 0, 0] for p in shards]))
  np.testing.assert_array_equal(every, np.arange(len(data.train_2d)))
  assert pipeline.shard(data, 0, 1) is data
  for index, count in ((3, 3), (-1, 2), (0, 0)):
    with pytest.raises(ValueError, match="expected count >= 1 and 0 <= index < count"):
      pipeline.shard(data, index, count)
