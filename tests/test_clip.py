"""nn.utils.clip_grad_norm_ and clip_grad_value_ against torch.nn.utils."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinygrad_rnn import Tensor
from tinygrad_rnn.nn.utils import clip_grad_norm_, clip_grad_value_

SHAPES = [(3, 4), (5,), (), (2, 1, 3)]


def _pair(seed, scale, with_none=False):
    """The same gradients on our tensors and torch's (the third one without a grad if asked)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    ours, theirs = [], []
    for i, s in enumerate(SHAPES):
        p, q = Tensor(np.zeros(s), requires_grad=True), torch.zeros(s, dtype=torch.float64,
                                                                    requires_grad=True)
        if not (with_none and i == 2):
            g = rng.standard_normal(s) * scale
            p.grad, q.grad = g.copy(), torch.tensor(g)
        ours.append(p)
        theirs.append(q)
    return ours, theirs


@settings(deadline=None)
@given(seed=st.integers(0, 2**31), scale=st.sampled_from([0.01, 1.0, 10.0]),
       max_norm=st.sampled_from([0.1, 1.0, 5.0, 100.0]),
       norm_type=st.sampled_from([1.0, 2.0, 3.0, 0.5, math.inf]), with_none=st.booleans())
def test_clip_grad_norm_matches_torch(seed, scale, max_norm, norm_type, with_none):
    torch = pytest.importorskip("torch")
    ours, theirs = _pair(seed, scale, with_none)
    total = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    ref = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type, foreach=False)
    assert isinstance(total, float)
    assert total == pytest.approx(ref.item(), rel=1e-12)
    for p, q in zip(ours, theirs):
        if q.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_clip_grad_norm_by_hand_and_only_when_above_max():
    p = Tensor(np.zeros(2), requires_grad=True)
    p.grad = np.array([3.0, 4.0])
    assert clip_grad_norm_(p, 10.0) == pytest.approx(5.0)  # a single Tensor is accepted
    np.testing.assert_array_equal(p.grad, [3.0, 4.0])  # below max_norm: untouched
    assert clip_grad_norm_([p], 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad, np.array([3.0, 4.0]) / (5.0 + 1e-6), rtol=1e-14)
    assert clip_grad_norm_([p], 1.0, norm_type="inf") == pytest.approx(0.8, rel=1e-5)


def test_clip_grad_norm_scales_in_place_and_keeps_float32():
    p = Tensor(np.zeros(3, dtype=np.float32), requires_grad=True)
    g = np.full(3, 10.0, dtype=np.float32)
    p.grad = g
    clip_grad_norm_([p], 1.0)
    assert p.grad is g and g.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(g), 1.0, rtol=1e-5)


def test_clip_grad_norm_without_grads_and_nonfinite():
    p = Tensor(np.zeros(2), requires_grad=True)
    assert clip_grad_norm_([p], 1.0) == 0.0
    p.grad = np.array([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="total norm"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(p.grad, [np.inf, 1.0])
    with pytest.raises(ValueError, match="norm_type"):
        clip_grad_norm_([p], 1.0, norm_type=0)


@settings(deadline=None)
@given(seed=st.integers(0, 2**31), clip=st.sampled_from([0.0, 0.1, 0.5, 3.0]),
       with_none=st.booleans())
def test_clip_grad_value_matches_torch(seed, clip, with_none):
    torch = pytest.importorskip("torch")
    ours, theirs = _pair(seed, 1.0, with_none)
    assert clip_grad_value_(ours, clip) is None
    torch.nn.utils.clip_grad_value_(theirs, clip, foreach=False)
    for p, q in zip(ours, theirs):
        if q.grad is not None:
            np.testing.assert_array_equal(p.grad, q.grad.numpy())
            assert np.abs(p.grad).max(initial=0) <= clip


def test_clip_grad_value_by_hand():
    p = Tensor(np.zeros(4), requires_grad=True)
    p.grad = np.array([-2.0, -0.5, 0.5, 2.0])
    clip_grad_value_(p, 1.0)
    np.testing.assert_array_equal(p.grad, [-1.0, -0.5, 0.5, 1.0])
    with pytest.raises(ValueError, match="clip_value"):
        clip_grad_value_(p, -1.0)


# --------------------------------------------------------------------- refused arguments

def _with_grad():
    p = Tensor(np.zeros(3), requires_grad=True)
    p.grad = np.array([1.0, -2.0, 3.0])
    return p


REFUSED = [
    # (call on a parameter p that has a gradient, exception, message fragment)
    (lambda p: clip_grad_value_([p], math.nan), ValueError, "clip_value must be a number >= 0"),
    (lambda p: clip_grad_value_([p], -1.0), ValueError, "clip_value must be >= 0"),
    (lambda p: clip_grad_value_([p], "1"), TypeError, "clip_value must be a real number"),
    (lambda p: clip_grad_value_([p], None), TypeError, "clip_value must be a real number"),
    (lambda p: clip_grad_value_([p], True), TypeError, "clip_value must be a real number"),
    (lambda p: clip_grad_value_([p, 1.0], 1.0), TypeError, r"got 1\.0 \(float\) at position 1"),
    (lambda p: clip_grad_value_(None, 1.0), TypeError, "parameters must be a Tensor or"),
    (lambda p: clip_grad_norm_([p], math.nan), ValueError, "max_norm must be a number >= 0"),
    (lambda p: clip_grad_norm_([p], -1.0), ValueError, "max_norm must be >= 0"),
    (lambda p: clip_grad_norm_([p], "1"), TypeError, "max_norm must be a real number"),
    (lambda p: clip_grad_norm_([p], None), TypeError, "max_norm must be a real number"),
    (lambda p: clip_grad_norm_([p], 1.0, norm_type="fro"), ValueError, "norm_type must be"),
    (lambda p: clip_grad_norm_([p], 1.0, norm_type=math.nan), ValueError, "norm_type must be"),
    (lambda p: clip_grad_norm_([p], 1.0, norm_type=-1), ValueError, "norm_type must be > 0"),
    (lambda p: clip_grad_norm_([p], 1.0, norm_type=None), TypeError, "norm_type must be a real"),
    (lambda p: clip_grad_norm_([p], 1.0, norm_type=True), TypeError, "norm_type must be a real"),
    (lambda p: clip_grad_norm_([p], 1.0, error_if_nonfinite="no"), TypeError,
     "error_if_nonfinite must be a bool"),
    (lambda p: clip_grad_norm_([p, 1], 1.0), TypeError, r"got 1 \(int\) at position 1"),
    (lambda p: clip_grad_norm_(3, 1.0), TypeError, "parameters must be a Tensor or"),
]


@pytest.mark.parametrize("call, error, message", REFUSED, ids=range(len(REFUSED)))
def test_bad_arguments_are_refused_and_leave_the_gradients_alone(call, error, message):
    p = _with_grad()
    before = p.grad.copy()
    with pytest.raises(error, match=message):
        call(p)
    np.testing.assert_array_equal(p.grad, before)


def test_a_bad_item_late_in_the_list_changes_no_earlier_gradient():
    p = Tensor(np.zeros(()), requires_grad=True)
    p.grad = grad = np.float64(5.0)  # a numpy scalar: clipping would make it a 0-d array
    with pytest.raises(TypeError, match="parameters must be Tensors"):
        clip_grad_norm_([p, "w"], 1.0)
    assert p.grad is grad


@pytest.mark.parametrize("clip", [math.inf, 0.0])
def test_clip_values_torch_accepts_give_torchs_gradients(clip):
    torch = pytest.importorskip("torch")
    ours, theirs = _pair(3, 2.0)
    clip_grad_value_(ours, clip)
    torch.nn.utils.clip_grad_value_(theirs, clip, foreach=False)
    for p, q in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad, q.grad.numpy())
    ours, theirs = _pair(4, 2.0)
    total = clip_grad_norm_(ours, clip, norm_type="inf")
    ref = torch.nn.utils.clip_grad_norm_(theirs, clip, norm_type="inf", foreach=False)
    assert total == pytest.approx(ref.item())
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-12, atol=1e-300)
