"""Tests for lifting.core.skeleton: layout definitions and converters."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lifting.core import skeleton as sk

ALL = sorted(sk.LAYOUTS)
PAPER14 = (
  "r_ankle",
  "r_knee",
  "r_hip",
  "l_hip",
  "l_knee",
  "l_ankle",
  "r_wrist",
  "r_elbow",
  "r_shoulder",
  "l_shoulder",
  "l_elbow",
  "l_wrist",
  "neck",
  "head",
)
LIMBS = [i for i, n in enumerate(PAPER14) if n[:2] in ("l_", "r_")]


def test_expected_layouts_and_sizes():
  sizes = {"paper14": 14, "lsp14": 14, "mpii16": 16, "h36m17": 17, "coco17": 17, "openpose25": 25, "openpose18": 18}
  assert {n: sk.LAYOUTS[n].num_joints for n in sizes} == sizes
  assert sk.LAYOUTS["paper14"].joints == PAPER14
  assert sk.LAYOUTS["paper14"].head == 13


@pytest.mark.parametrize("name", ALL)
def test_layout_is_consistent(name):
  lay = sk.get_layout(name)
  assert lay.name == name and sk.get_layout(lay) is lay
  assert len(set(lay.joints)) == lay.num_joints
  assert all(j == j.lower() and " " not in j for j in lay.joints)
  # forest: every chain of parents ends at -1 without revisiting a joint
  for j in range(lay.num_joints):
    seen, k = set(), j
    while k != -1:
      assert k not in seen
      seen.add(k)
      k = lay.parents[k]
  assert sorted(lay.joints[i] for i in lay.root_joints) == ["l_hip", "r_hip"]
  assert lay.description
  for a, b in lay.symmetric_pairs:
    la, rb = lay.joints[a], lay.joints[b]
    assert la.startswith("l_") and rb == "r_" + la[2:]
  # every l_x with an r_x counterpart is paired
  lefts = {lay.joints[a] for a, _ in lay.symmetric_pairs}
  assert lefts == {j for j in lay.joints if j.startswith("l_") and "r_" + j[2:] in lay.joints}


@pytest.mark.parametrize("name", ALL)
def test_flip_permutation(name):
  lay = sk.get_layout(name)
  perm = lay.flip_permutation
  assert sorted(perm) == list(range(lay.num_joints))
  assert all(perm[perm[i]] == i for i in range(lay.num_joints))
  for i, j in enumerate(lay.joints):
    if j.startswith("l_") and "r_" + j[2:] in lay.joints:
      assert lay.joints[perm[i]] == "r_" + j[2:]
    elif not j.startswith("r_"):
      assert perm[i] == i


def test_paper14_symmetric_bones():
  lay = sk.get_layout("paper14")
  named = {tuple(tuple(lay.joints[k] for k in bone) for bone in pair) for pair in lay.symmetric_bones}
  for parent, child in [("hip", "knee"), ("knee", "ankle"), ("shoulder", "elbow"), ("elbow", "wrist")]:
    assert ((f"l_{parent}", f"l_{child}"), (f"r_{parent}", f"r_{child}")) in named
  for left, right in lay.symmetric_bones:
    assert left in lay.bones and right in lay.bones


def test_layout_validation_errors():
  with pytest.raises(ValueError, match="expected 2 parents.*got 1"):
    sk.Layout("bad", ("a", "b"), (-1,), (), (0,), 0, "")
  with pytest.raises(ValueError, match="cycle"):
    sk.Layout("bad", ("a", "b"), (1, 0), (), (0,), 0, "")
  with pytest.raises(ValueError, match=r"head index in \[0, 2\), got 5"):
    sk.Layout("bad", ("a", "b"), (-1, 0), (), (0,), 5, "")
  with pytest.raises(ValueError, match="duplicates"):
    sk.Layout("bad", ("a", "a"), (-1, 0), (), (0,), 0, "")


def test_unknown_names_raise():
  with pytest.raises(ValueError, match="nope.*paper14"):
    sk.get_layout("nope")
  with pytest.raises(ValueError, match="'paper14'.*r_ankle"):
    sk.get_layout("paper14").index("head_top")
  assert sk.get_layout("lsp14").index("head_top") == 13


@pytest.mark.parametrize("src", ALL)
@pytest.mark.parametrize("dst", ALL)
def test_conversion_matrix_rows(src, dst):
  W, valid = sk.conversion_matrix(src, dst)
  assert W.shape == (sk.LAYOUTS[dst].num_joints, sk.LAYOUTS[src].num_joints)
  assert W.dtype == np.float32 and valid.dtype == bool
  np.testing.assert_allclose(W[valid].sum(1), 1.0, rtol=1e-6)
  assert not W[~valid].any()
  if src == dst:
    np.testing.assert_array_equal(W, np.eye(len(W)))
  if dst == "paper14":  # every source provides a complete paper14 skeleton
    assert valid.all()


def test_paper14_exports_only_limbs():
  for dst in ALL:
    if dst == "paper14":
      continue
    W, valid = sk.conversion_matrix("paper14", dst)
    used = set(np.nonzero(W.any(0))[0])
    assert used <= set(LIMBS), dst  # never a head_top/neck claimed from generic joints
  _, valid = sk.conversion_matrix("paper14", "lsp14")
  assert not valid[12] and not valid[13] and valid[:12].all()


def test_lsp_to_paper14_is_identity():
  x = np.random.default_rng(0).normal(size=(5, 14, 2))
  out, valid = sk.convert(x, "lsp14", "paper14")
  assert valid.all()
  np.testing.assert_array_equal(out, x)


def test_coco_neck_and_head():
  rng = np.random.default_rng(1)
  coco = sk.get_layout("coco17")
  x = rng.normal(size=(3, 4, 17, 3))
  out, _ = sk.convert(x, coco, "paper14")
  neck = 0.5 * (x[..., 5, :] + x[..., 6, :])  # COCO ids: 5 l_shoulder, 6 r_shoulder
  head = 0.5 * (x[..., 3, :] + x[..., 4, :])  # 3 l_ear, 4 r_ear
  np.testing.assert_allclose(out[..., 12, :], neck, rtol=1e-12)
  np.testing.assert_allclose(out[..., 13, :], head, rtol=1e-12)
  np.testing.assert_array_equal(out[..., 0, :], x[..., 16, :])  # r_ankle
  np.testing.assert_array_equal(out[..., 11, :], x[..., 9, :])  # l_wrist


def test_convert_jit():
  x = jnp.asarray(np.random.default_rng(2).normal(size=(6, 17, 2)), jnp.float32)
  f = jax.jit(lambda p: sk.convert(p, "h36m17", "paper14")[0])
  out = f(x)
  assert isinstance(out, jax.Array) and out.shape == (6, 14, 2)
  ref, _ = sk.convert(np.asarray(x), "h36m17", "paper14")
  np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-6)
  np.testing.assert_array_equal(ref[:, 12], np.asarray(x)[:, 8])  # neck <- thorax
  np.testing.assert_array_equal(ref[:, 13], np.asarray(x)[:, 10])  # head <- head_top


def test_convert_fill_and_nan_isolation():
  x = np.random.default_rng(3).normal(size=(14, 3))
  out, valid = sk.convert(x, "paper14", "h36m17", fill=-1.0)
  assert (out[~valid] == -1.0).all() and valid.sum() == 12
  coco = np.random.default_rng(4).normal(size=(17, 2))
  coco[0] = np.nan  # missing nose must not contaminate anything in paper14
  out, _ = sk.convert(coco, "coco17", "paper14")
  assert np.isfinite(out).all()


def test_convert_wrong_joint_count():
  with pytest.raises(ValueError, match=r"'mpii16'.*\[\.\.\., 16, D\].*\(2, 14, 3\)"):
    sk.convert(np.zeros((2, 14, 3)), "mpii16", "paper14")
  with pytest.raises(ValueError, match="known layouts"):
    sk.convert(np.zeros((14, 3)), "paper15", "paper14")


def test_round_trip_through_mpii_keeps_limbs():
  x = np.random.default_rng(5).normal(size=(7, 14, 3))
  mpii, _ = sk.convert(x, "paper14", "mpii16")
  back, _ = sk.convert(mpii, "mpii16", "paper14")
  np.testing.assert_array_equal(back[..., LIMBS, :], x[..., LIMBS, :])
  assert np.isnan(back[..., [12, 13], :]).all()  # neck/head were not exported


def test_flip_parts_swaps_the_named_parts_alone():
  layout = sk.get_layout("paper14")
  legs = np.asarray(layout.flip_parts(("hip", "knee", "ankle")))
  expected = np.arange(layout.num_joints)
  for part in ("hip", "knee", "ankle"):
    left, right = layout.index(f"l_{part}"), layout.index(f"r_{part}")
    expected[left], expected[right] = right, left
  np.testing.assert_array_equal(legs, expected)
  every = ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
  assert layout.flip_parts(every) == layout.flip_permutation and layout.flip_parts(()) == tuple(range(14))
