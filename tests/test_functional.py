"""tinygrad_rnn.functional: finite-difference gradchecks over Hypothesis-chosen shapes,
value and gradient parity with torch.nn.functional in float64, stability, errors."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, functional as F

SETTINGS = settings(deadline=None)  # example count from the profile in conftest.py
REDUCTIONS = ["mean", "sum", "none"]


@st.composite
def shape_and_dim(draw, min_dims=1, max_dims=3):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=min_dims, max_size=max_dims)))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    return shape, dim


def _rng(seed):
    return np.random.default_rng(seed)


def _torch_parity(ours, theirs, arrays, grad_mask=None, rtol=1e-10, atol=1e-12):
    """Run ``ours`` on Tensors and ``theirs`` on torch tensors of the same float64 arrays;
    compare outputs and the gradients of a random upstream gradient."""
    torch = pytest.importorskip("torch")
    grad_mask = grad_mask or [True] * len(arrays)
    xs = [Tensor(a.copy(), requires_grad=g) for a, g in zip(arrays, grad_mask)]
    ts = [torch.tensor(a.copy(), requires_grad=g) for a, g in zip(arrays, grad_mask)]
    out, ref = ours(*xs), theirs(*ts)
    assert out.shape == tuple(ref.shape)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=rtol, atol=atol)
    upstream = _rng(1).standard_normal(out.shape)
    out.backward(upstream)
    ref.backward(torch.tensor(upstream))
    for x, t in zip(xs, ts):
        if t.requires_grad:
            np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=rtol, atol=atol)


# --------------------------------------------------------------------------- softmax family


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax], ids=["softmax", "log_softmax"])
@SETTINGS
@given(sd=shape_and_dim(), seed=st.integers(0, 2**31), scale=st.sampled_from([0.1, 1.0, 5.0]))
def test_softmax_family_gradcheck(fn, sd, seed, scale):
    shape, dim = sd
    x = Tensor(_rng(seed).standard_normal(shape) * scale, requires_grad=True)
    assert tr.gradcheck(lambda t: fn(t, dim=dim), [x])


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@SETTINGS
@given(sd=shape_and_dim(), seed=st.integers(0, 2**31))
def test_softmax_family_matches_torch(name, sd, seed):
    torch = pytest.importorskip("torch")
    shape, dim = sd
    x = _rng(seed).standard_normal(shape) * 3
    _torch_parity(lambda t: getattr(F, name)(t, dim=dim),
                  lambda t: getattr(torch.nn.functional, name)(t, dim=dim), [x])


def test_softmax_rows_sum_to_one_and_log_softmax_is_its_log():
    x = Tensor(_rng(0).standard_normal((3, 5)))
    s = F.softmax(x, dim=1).data
    np.testing.assert_allclose(s.sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(np.exp(F.log_softmax(x, dim=1).data), s, rtol=1e-13)
    # by definition, without the max shift: fine for small logits
    np.testing.assert_allclose(s, np.exp(x.data) / np.exp(x.data).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_stable_for_logits_of_magnitude_1000(name):
    torch = pytest.importorskip("torch")
    x = np.array([[1000.0, -1000.0, 999.0, 0.0], [-1000.0, -1001.0, -999.5, -1000.0]])
    t = Tensor(x, requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow is fine
        out = getattr(F, name)(t, dim=-1)
        out.backward(np.arange(8.0).reshape(2, 4))
    assert np.all(np.isfinite(out.data)) and np.all(np.isfinite(t.grad))
    _torch_parity(lambda a: getattr(F, name)(a, dim=-1),
                  lambda a: getattr(torch.nn.functional, name)(a, dim=-1), [x])


def test_softmax_keeps_float32():
    x = Tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    out = F.log_softmax(x)
    out.sum().backward()
    assert out.dtype == np.float32 and x.grad.dtype == np.float32


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, -1])
def test_softmax_of_a_0d_tensor_is_one_logit_as_torch(name, dim):
    torch = pytest.importorskip("torch")
    x = Tensor(0.7, requires_grad=True)
    xt = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    out, out_t = getattr(F, name)(x, dim=dim), getattr(torch, name)(xt, dim=dim)
    (out * 3.0).backward()
    (out_t * 3.0).backward()
    assert out.shape == ()
    np.testing.assert_allclose(out.data, out_t.detach().numpy())
    np.testing.assert_allclose(x.grad, xt.grad.numpy())
    with pytest.raises(tr.ShapeError, match=f"^{name}: dim 1 is out of range"):
        getattr(F, name)(x, dim=1)


# --------------------------------------------------------------------------- cross_entropy


@st.composite
def ce_case(draw):
    """Logits layout (C,), (N, C) or (N, C, d), targets, optional weight and ignored samples."""
    layout = draw(st.sampled_from(["C", "NC", "NCd"]))
    n, c, d = draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 3))
    shape = {"C": (c,), "NC": (n, c), "NCd": (n, c, d)}[layout]
    target_shape = {"C": (), "NC": (n,), "NCd": (n, d)}[layout]
    rng = _rng(draw(st.integers(0, 2**31)))
    logits = rng.standard_normal(shape) * draw(st.sampled_from([0.5, 2.0]))
    target = rng.integers(0, c, size=target_shape)
    weight = rng.uniform(0.5, 2.0, c) if draw(st.booleans()) else None
    if target.ndim and draw(st.booleans()) and target.size > 1:  # ignore one, keep one
        target.reshape(-1)[0] = -100
    smoothing = draw(st.sampled_from([0.0, 0.0, 0.1, 1.0]))
    return logits, target, weight, draw(st.sampled_from(REDUCTIONS)), smoothing


@SETTINGS
@given(case=ce_case())
def test_cross_entropy_gradcheck(case):
    logits, target, weight, reduction, smoothing = case
    x = Tensor(logits, requires_grad=True)
    assert tr.gradcheck(lambda t: F.cross_entropy(t, target, weight, reduction=reduction,
                                                  label_smoothing=smoothing), [x])


@SETTINGS
@given(case=ce_case(), tensor_target=st.booleans())
def test_cross_entropy_matches_torch(case, tensor_target):
    torch = pytest.importorskip("torch")
    logits, target, weight, reduction, smoothing = case
    ours_target = Tensor(target, dtype=np.int64) if tensor_target else target
    tw = None if weight is None else torch.tensor(weight)
    _torch_parity(
        lambda t: F.cross_entropy(t, ours_target, weight, reduction=reduction,
                                  label_smoothing=smoothing),
        lambda t: torch.nn.functional.cross_entropy(t, torch.tensor(target), tw,
                                                    reduction=reduction,
                                                    label_smoothing=smoothing),
        [logits])


def test_label_smoothing_by_definition():
    x = np.array([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]])
    target, eps = np.array([0, 2]), 0.3
    logp = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    soft = np.full((2, 3), eps / 3) + (1 - eps) * np.eye(3)[target]  # the smoothed targets
    expected = -(soft * logp).sum(axis=1)
    loss = F.cross_entropy(Tensor(x), target, reduction="none", label_smoothing=eps)
    np.testing.assert_allclose(loss.data, expected, rtol=1e-13)
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\], got 1.5"):
        F.cross_entropy(Tensor(x), target, label_smoothing=1.5)


def test_cross_entropy_by_definition():
    x = _rng(3).standard_normal((4, 3))
    target = np.array([0, 2, 1, 2])
    logp = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    per_sample = -logp[np.arange(4), target]
    loss = F.cross_entropy(Tensor(x), target, reduction="none")
    np.testing.assert_allclose(loss.data, per_sample, rtol=1e-13)
    np.testing.assert_allclose(F.cross_entropy(Tensor(x), target).item(), per_sample.mean())


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_stable_for_logits_of_magnitude_1000(reduction):
    torch = pytest.importorskip("torch")
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0], [-1000.0, -999.0, -1000.0]])
    target = np.array([1, 2, 0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = F.cross_entropy(Tensor(x), target, reduction=reduction)
    assert np.all(np.isfinite(loss.data))
    _torch_parity(lambda t: F.cross_entropy(t, target, reduction=reduction),
                  lambda t: torch.nn.functional.cross_entropy(t, torch.tensor(target),
                                                              reduction=reduction), [x])


def test_cross_entropy_keeps_float32():
    x = Tensor(np.zeros((2, 3), dtype=np.float32), requires_grad=True)
    loss = F.cross_entropy(x, np.array([0, 2]))
    loss.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32
    np.testing.assert_allclose(loss.item(), np.log(3), rtol=1e-6)


def test_cross_entropy_errors_name_the_function_and_shapes():
    x = Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="cross_entropy.*reduction.*'avg'"):
        F.cross_entropy(x, np.array([0, 1]), reduction="avg")
    with pytest.raises(IndexError, match=r"cross_entropy: target 3 is out of range for 3 classes"):
        F.cross_entropy(x, np.array([0, 3]))
    with pytest.raises(IndexError, match="out of range"):
        F.cross_entropy(x, np.array([-1, 0]))
    with pytest.raises(tr.ShapeError, match=r"cross_entropy.*\(2, 3\).*\(2,\).*\(3,\)"):
        F.cross_entropy(x, np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="cross_entropy.*integer"):
        F.cross_entropy(x, np.array([0.0, 1.0]))
    with pytest.raises(tr.ShapeError, match=r"cross_entropy: weight.*\(3,\)"):
        F.cross_entropy(x, np.array([0, 1]), np.ones(2))


# --------------------------------------------------------------------------- mse_loss


@st.composite
def mse_case(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=3)))
    rng = _rng(draw(st.integers(0, 2**31)))
    return rng.standard_normal(shape), rng.standard_normal(shape), draw(st.sampled_from(REDUCTIONS))


@SETTINGS
@given(case=mse_case())
def test_mse_loss_gradcheck_both_inputs(case):
    a, b, reduction = case
    x, y = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    assert tr.gradcheck(lambda p, q: F.mse_loss(p, q, reduction=reduction), [x, y])


@SETTINGS
@given(case=mse_case(), target_grad=st.booleans())
def test_mse_loss_matches_torch(case, target_grad):
    torch = pytest.importorskip("torch")
    a, b, reduction = case
    _torch_parity(lambda p, q: F.mse_loss(p, q, reduction=reduction),
                  lambda p, q: torch.nn.functional.mse_loss(p, q, reduction=reduction),
                  [a, b], grad_mask=[True, target_grad])


def test_mse_loss_by_definition_and_numpy_target():
    a, b = np.array([1.0, 2.0, 4.0]), np.array([0.0, 2.0, 1.0])
    assert F.mse_loss(Tensor(a), b).item() == pytest.approx(10.0 / 3.0)
    assert F.mse_loss(Tensor(a), b, reduction="sum").item() == pytest.approx(10.0)
    np.testing.assert_array_equal(F.mse_loss(Tensor(a), b, reduction="none").data, [1.0, 0.0, 9.0])


def test_mse_loss_keeps_float32_with_a_float64_numpy_target():
    x = Tensor(np.zeros(3, dtype=np.float32), requires_grad=True)
    loss = F.mse_loss(x, np.array([1.0, 2.0, 3.0]))
    loss.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32
    assert loss.item() == pytest.approx(14.0 / 3.0, rel=1e-6)


def test_mse_loss_errors():
    message = r"mse_loss: input shape \(3,\) and target shape \(3, 1\)"
    with pytest.raises(tr.ShapeError, match=message):
        F.mse_loss(Tensor(np.zeros(3)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="mse_loss.*reduction"):
        F.mse_loss(Tensor(np.zeros(3)), np.zeros(3), reduction="mena")


# --------------------------------------------------------------------------- linear


# (gradients, torch parity, dtypes: the linear rows of test_ops.CASES)


def test_linear_errors_name_the_shapes():
    with pytest.raises(tr.ShapeError, match=r"linear: input of shape \(2, 3\).*\(4, 5\) expects 5"):
        F.linear(Tensor(np.zeros((2, 3))), Tensor(np.zeros((4, 5))))
    with pytest.raises(tr.ShapeError, match=r"linear: bias must have shape \(4,\)"):
        F.linear(Tensor(np.zeros((2, 5))), Tensor(np.zeros((4, 5))), Tensor(np.zeros(5)))
    with pytest.raises(tr.ShapeError, match=r"linear: weight must be 2-D"):
        F.linear(Tensor(np.zeros((2, 5))), Tensor(np.zeros(5)))


# --------------------------------------------------------------------------- dropout


def test_dropout_not_training_or_p0_is_identity():
    x = Tensor(_rng(0).standard_normal((4, 5)), requires_grad=True)
    for out in (F.dropout(x, 0.5, training=False), F.dropout(x, 0.0)):
        np.testing.assert_array_equal(out.data, x.data)
        x.grad = None
        out.backward(np.full(x.shape, 2.0))
        np.testing.assert_array_equal(x.grad, np.full(x.shape, 2.0))


def test_dropout_p1_zeroes_everything():
    x = Tensor(np.ones((3, 3)), requires_grad=True)
    out = F.dropout(x, 1.0)
    out.sum().backward()
    assert np.all(out.data == 0) and np.all(x.grad == 0)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_scales_survivors_and_preserves_the_mean(p):
    tr.manual_seed(0)
    x = Tensor(_rng(1).uniform(1.0, 2.0, (400, 500)), requires_grad=True)
    out = F.dropout(x, p)
    kept = out.data != 0
    np.testing.assert_allclose(out.data[kept], x.data[kept] / (1 - p), rtol=1e-15)
    # 200,000 Bernoulli draws: the dropped fraction is p to within ~5 standard deviations
    assert abs((~kept).mean() - p) < 5 * np.sqrt(p * (1 - p) / kept.size)
    ones = F.dropout(Tensor(np.ones((400, 500))), p).data
    assert abs(ones.mean() - 1.0) < 5 * np.sqrt(p / (1 - p) / ones.size)
    out.backward(np.ones(x.shape))  # the gradient is the mask, scaled
    np.testing.assert_allclose(x.grad, kept / (1 - p))


def test_dropout_reproducible_under_manual_seed():
    x = Tensor(np.ones((50, 40)))
    tr.manual_seed(123)
    a = F.dropout(x, 0.5).data
    tr.manual_seed(123)
    b = F.dropout(x, 0.5).data
    c = F.dropout(x, 0.5).data  # the stream moves on
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_dropout_keeps_float32_and_rejects_bad_p():
    x = Tensor(np.ones((5, 5), dtype=np.float32))
    assert F.dropout(x, 0.3).dtype == np.float32
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="dropout: p must be"):
            F.dropout(x, p)


def test_functional_is_exported():
    assert tr.functional is F
