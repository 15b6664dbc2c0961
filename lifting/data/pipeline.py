"""From raw 2D/3D arrays to normalised training batches.

The training set is a pool of 2D sequences in one layout. Each step draws, from the pool and
independently of each other, the lifter's inputs ``x`` and the discriminators' real poses ``r``
(sec. 3.4: ``r`` need not correspond to ``x``), as windows of ``T`` consecutive frames of one
sequence (``T = 1 + M`` when the temporal discriminator is on, else 1).

Batches are drawn from a NumPy generator seeded by ``(seed, step, process)``, so a resumed run
sees exactly the batches an uninterrupted one would, and each host of a pod draws its own.
"""

from __future__ import annotations

import dataclasses
import numpy as np

from lifting import geometry
from lifting import skeleton


@dataclasses.dataclass(frozen=True)
class PoseData:
  """A normalised 2D training pool and an optional 3D test set.

  Attributes:
    train_2d: ``[N, J, 2]`` float32 normalised 2D frames, sequences stored back to back.
    sequence_lengths: ``[S]`` frames per sequence, summing to ``N``; all ones for single images.
    scale: the dataset-level 2D scale applied to the training pool (see
      `lifting.geometry.normalize_pose2d`); ``None`` when poses are scaled one by one.
    test_2d: ``[M, J, 2]`` normalised test inputs, or ``None``.
    test_3d: ``[M, J, 3]`` camera-frame ground truth in millimetres, or ``None``.
    layout: the `lifting.skeleton.Layout` of every array.
  """
  train_2d: np.ndarray
  sequence_lengths: np.ndarray
  scale: float | None
  test_2d: np.ndarray | None
  test_3d: np.ndarray | None
  layout: skeleton.Layout

  @property
  def has_sequences(self) -> bool:
    return bool(np.any(self.sequence_lengths > 1))

  _window_starts: dict = dataclasses.field(default_factory=dict, init=False, repr=False, compare=False)

  def window_starts(self, window: int) -> np.ndarray:
    """Indices of the frames that begin a ``window``-frame run inside one sequence."""
    if window not in self._window_starts:
      ends = np.cumsum(self.sequence_lengths)
      starts = [np.arange(end - length, end - window + 1) for end, length in zip(ends, self.sequence_lengths)]
      starts = np.concatenate(starts) if starts else np.zeros((0,), np.int64)
      if starts.size == 0:
        raise ValueError(f"no sequence has the {window} consecutive frames a training window needs "
                         f"(longest sequence: {int(self.sequence_lengths.max(initial=0))} frames)")
      self._window_starts[window] = starts
    return self._window_starts[window]


def normalize(pose2d: np.ndarray, layout: skeleton.Layout, c: float, mode: str,
              scale: float | None = None) -> tuple[np.ndarray, float | None]:
  """Root-centres ``[..., J, 2]`` poses and scales them to head-to-root ``1 / c``.

  ``mode`` is ``"dataset"`` (one scale for all; ``scale`` reuses a known one) or ``"pose"``.
  Returns the normalised poses and the dataset scale (``None`` in ``"pose"`` mode).
  """
  if mode not in ("dataset", "pose"):
    raise ValueError(f"data.scale: expected 'dataset' or 'pose', got {mode!r}")
  per_pose = mode == "pose"
  out, _, s = geometry.normalize_pose2d(pose2d, layout.root_joints, layout.head, c, per_pose=per_pose,
                                        scale=None if per_pose else scale)
  return np.asarray(out, np.float32), (None if per_pose else float(s))


def from_sequences(train_2d: np.ndarray, layout, c: float, mode: str,
                   test_2d: np.ndarray | None = None, test_3d: np.ndarray | None = None) -> PoseData:
  """Builds `PoseData` from equal-length sequences.

  Args:
    train_2d: ``[S, F, J, 2]`` training 2D sequences (pixels or any unit).
    layout: layout name or `Layout` of all arrays.
    c: the skeleton depth of the config.
    mode: ``"dataset"`` or ``"pose"`` scale (the test set reuses the training scale).
    test_2d: optional ``[..., J, 2]`` test inputs.
    test_3d: optional ``[..., J, 3]`` camera-frame ground truth in mm, matching ``test_2d``.
  """
  layout = skeleton.get_layout(layout)
  train_2d = np.asarray(train_2d, np.float32)
  if train_2d.ndim != 4 or train_2d.shape[-2:] != (layout.num_joints, 2):
    raise ValueError(f"train_2d: expected shape [S, F, {layout.num_joints}, 2] for layout {layout.name!r}, "
                     f"got {train_2d.shape}")
  frames, scale = normalize(train_2d.reshape(-1, layout.num_joints, 2), layout, c, mode)
  lengths = np.full((train_2d.shape[0],), train_2d.shape[1], np.int64)
  if test_2d is not None:
    test_2d, _ = normalize(np.asarray(test_2d, np.float32).reshape(-1, layout.num_joints, 2), layout, c, mode,
                           scale)
    if test_3d is not None:
      test_3d = np.asarray(test_3d, np.float32).reshape(-1, layout.num_joints, 3)
      if test_3d.shape[0] != test_2d.shape[0]:
        raise ValueError(f"test_3d: expected {test_2d.shape[0]} poses to match test_2d, got {test_3d.shape[0]}")
  return PoseData(frames, lengths, scale, test_2d, test_3d, layout)


def load(config) -> PoseData:
  """The data a config names (``config.data.source``)."""
  source = config.data.source
  if source == "synthetic":
    from lifting.data import synthetic  # pylint: disable=g-import-not-at-top
    s = config.data.synthetic
    demo = synthetic.make_demo_data(seed=s.seed, num_train_sequences=s.num_train_sequences,
                                    num_test_sequences=s.num_test_sequences, num_frames=s.num_frames,
                                    num_cameras=s.num_cameras)
    return from_sequences(demo.train_2d, "paper14", config.c, config.data.scale, demo.test_2d, demo.test_3d)
  raise ValueError(f"data.source: expected one of {SOURCES}, got {source!r}")


SOURCES = ("synthetic",)


def sample_batch(data: PoseData, seed: int, step: int, num_windows: int, window: int,
                 process_index: int = 0) -> dict[str, np.ndarray]:
  """One host's share of a training batch.

  Args:
    data: the training pool.
    seed, step, process_index: determine the draw, so it is reproducible on resume.
    num_windows: windows for this host.
    window: frames per window ``T``.

  Returns:
    ``{"x": [num_windows, T, J, 2], "real": [num_windows, T, J, 2]}`` float32.
  """
  rng = np.random.default_rng((seed, step, process_index))
  starts = data.window_starts(window)
  offsets = np.arange(window)
  picks = starts[rng.integers(0, starts.size, size=(2, num_windows))]
  x, real = (data.train_2d[p[:, None] + offsets] for p in picks)
  return {"x": x, "real": real}
