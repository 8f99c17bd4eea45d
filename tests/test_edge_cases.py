"""Edge cases as torch has them: empty tensors, a batch of 0, a fully ignored batch, 0-d
tensors, tiny sigmoids; and every dim argument checked (issue 14, items 5 and 7).

Every expected value and gradient comes from torch (skipped without it) or from
calculus, never from this engine's own output. Our side runs with numpy's warnings
turned into errors: torch computes these without a word, and so must we.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, functional as F, nn


def torch_or_skip():
    return pytest.importorskip("torch")


def as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


def run_ours(fn, arrays):
    """fn's outputs and the gradients of its inputs, for a fixed upstream gradient."""
    xs = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "divide by zero", no "invalid value"
        outs = as_tuple(fn(*xs))
        # (starting from 0 * x: an op with no outputs, unbind of an empty dim, has a graph too)
        loss = sum(((o * Tensor(upstream(o.shape))).sum() for o in outs), (xs[0] * 0.0).sum())
        loss.backward()
    return [o.data for o in outs], [x.grad for x in xs]


def run_torch(fn, arrays):
    torch = torch_or_skip()
    xs = [torch.tensor(a, requires_grad=True) for a in arrays]
    outs = as_tuple(fn(*xs))
    loss = sum(((o * torch.tensor(upstream(tuple(o.shape)))).sum() for o in outs),
               (xs[0] * 0.0).sum())
    loss.backward()
    grads = [np.zeros(x.shape) if x.grad is None else x.grad.numpy() for x in xs]
    return [o.detach().numpy() for o in outs], grads


def upstream(shape):
    return np.random.default_rng(7).uniform(-1, 1, shape)


def assert_as_torch(ours, theirs):
    (outs, grads), (outs_t, grads_t) = ours, theirs
    assert [o.shape for o in outs] == [o.shape for o in outs_t]
    for o, o_t in zip(outs, outs_t):
        np.testing.assert_allclose(o, o_t, rtol=1e-12, atol=1e-15)  # nan where torch has nan
    for g, g_t in zip(grads, grads_t):
        assert g is not None and g.shape == g_t.shape
        np.testing.assert_allclose(g, g_t, rtol=1e-12, atol=1e-15)


def rand(*shape, seed=0):
    return np.random.default_rng(seed).uniform(-2, 2, shape)


# --------------------------------------------------------------------------- empty tensors


def torch_F():
    return torch_or_skip().nn.functional


# (name, input arrays, our function, torch's function); each gets the same arrays
EMPTY_CASES = [
    ("mean_of_nothing", [rand(0, 3)], lambda x: x.mean(), lambda x: x.mean()),
    ("mean_over_empty_dim", [rand(0, 3)], lambda x: x.mean(dim=0), lambda x: x.mean(dim=0)),
    ("mean_keeping_empty_dim", [rand(2, 0)], lambda x: x.mean(dim=1, keepdim=True),
     lambda x: x.mean(dim=1, keepdim=True)),
    ("mean_of_empty_rows", [rand(0, 3)], lambda x: x.mean(dim=1), lambda x: x.mean(dim=1)),
    ("sum_of_nothing", [rand(0, 3)], lambda x: x.sum(), lambda x: x.sum()),
    ("sum_over_empty_dim", [rand(0, 3)], lambda x: x.sum(dim=0), lambda x: x.sum(dim=0)),
    ("softmax_over_empty_dim", [rand(2, 0)], lambda x: F.softmax(x, dim=1),
     lambda x: x.softmax(dim=1)),
    ("softmax_of_empty_along_full_dim", [rand(2, 0)], lambda x: F.softmax(x, dim=0),
     lambda x: x.softmax(dim=0)),
    ("log_softmax_over_empty_dim", [rand(3, 0)], lambda x: F.log_softmax(x, dim=-1),
     lambda x: x.log_softmax(dim=-1)),
    ("log_softmax_of_no_rows", [rand(0, 4)], lambda x: F.log_softmax(x, dim=1),
     lambda x: x.log_softmax(dim=1)),
    ("softmax_1d_empty", [rand(0)], lambda x: F.softmax(x, dim=0), lambda x: x.softmax(dim=0)),
    ("linear_no_in_features", [rand(2, 0), rand(3, 0), rand(3)], F.linear,
     lambda *a: torch_F().linear(*a)),
    ("linear_no_in_features_3d", [rand(4, 2, 0), rand(3, 0), rand(3)], F.linear,
     lambda *a: torch_F().linear(*a)),
    ("linear_no_out_features", [rand(2, 3), rand(0, 3), rand(0)], F.linear,
     lambda *a: torch_F().linear(*a)),
    ("linear_batch_of_0", [rand(0, 3), rand(2, 3), rand(2)], F.linear,
     lambda *a: torch_F().linear(*a)),
    ("matmul_no_inner_dim", [rand(2, 0), rand(0, 3)], lambda a, b: a @ b, lambda a, b: a @ b),
    ("matmul_no_inner_dim_batched", [rand(4, 2, 0), rand(0, 3)], lambda a, b: a @ b,
     lambda a, b: a @ b),
    ("matmul_no_inner_dim_x_wT", [rand(2, 0), rand(3, 0)], lambda a, b: a @ b.T,
     lambda a, b: a @ b.T),
    ("matmul_empty_dot", [rand(0), rand(0)], lambda a, b: a @ b, lambda a, b: a @ b),
    ("matmul_empty_vector_matrix", [rand(0), rand(0, 3)], lambda a, b: a @ b,
     lambda a, b: a @ b),
    ("matmul_no_columns", [rand(2, 3), rand(3, 0)], lambda a, b: a @ b, lambda a, b: a @ b),
    ("matmul_no_rows", [rand(0, 2), rand(2, 3)], lambda a, b: a @ b, lambda a, b: a @ b),
    ("addmm_no_inner_dim", [rand(3), rand(2, 0), rand(0, 3)], tr.addmm,
     lambda *a: torch_or_skip().addmm(*a)),
    ("split_empty_dim", [rand(0, 3)], lambda x: x.split(2), lambda x: x.split(2)),
    ("split_empty_dim_1", [rand(3, 0)], lambda x: x.split(1, dim=1), lambda x: x.split(1, dim=1)),
    ("split_empty_dim_into_empty_parts", [rand(0, 3)], lambda x: x.split([0, 0]),
     lambda x: x.split([0, 0])),
    ("chunk_empty_dim", [rand(0, 3)], lambda x: x.chunk(3), lambda x: x.chunk(3)),
    ("chunk_empty_dim_1", [rand(3, 0)], lambda x: x.chunk(2, dim=1), lambda x: x.chunk(2, dim=1)),
    ("chunk_empty_dim_once", [rand(0, 3)], lambda x: x.chunk(1), lambda x: x.chunk(1)),
    ("unbind_empty_dim", [rand(0, 3)], lambda x: x.unbind(0), lambda x: x.unbind(0)),
    ("concat_with_an_empty_part", [rand(0, 3), rand(2, 3)], lambda a, b: tr.concat([a, b]),
     lambda a, b: torch_or_skip().cat([a, b])),
    ("stack_empty", [rand(0, 3), rand(0, 3)], lambda a, b: tr.stack([a, b], dim=1),
     lambda a, b: torch_or_skip().stack([a, b], dim=1)),
    ("transpose_empty", [rand(0, 3)], lambda x: x.transpose(0, 1), lambda x: x.transpose(0, 1)),
    ("T_empty", [rand(0, 3)], lambda x: x.T, lambda x: x.T),
    ("permute_empty", [rand(2, 0, 3)], lambda x: x.permute(2, 0, 1), lambda x: x.permute(2, 0, 1)),
    ("reshape_empty", [rand(0, 3)], lambda x: x.reshape(3, 0), lambda x: x.reshape(3, 0)),
    ("index_empty_slice", [rand(2, 3)], lambda x: x[1:1], lambda x: x[1:1]),
    ("elementwise_empty", [rand(0, 3), rand(0, 1)],
     lambda a, b: (a * b).tanh() + a.sigmoid() - (b * b + 1.0).log() / a.exp(),
     lambda a, b: (a * b).tanh() + a.sigmoid() - (b * b + 1.0).log() / a.exp()),
    ("mse_loss_of_nothing", [rand(0, 3), rand(0, 3)], F.mse_loss,
     lambda a, b: torch_F().mse_loss(a, b)),
    ("mse_loss_of_nothing_sum", [rand(0), rand(0)], lambda a, b: F.mse_loss(a, b, reduction="sum"),
     lambda a, b: torch_F().mse_loss(a, b, reduction="sum")),
    ("mse_loss_of_nothing_none", [rand(0), rand(0)],
     lambda a, b: F.mse_loss(a, b, reduction="none"),
     lambda a, b: torch_F().mse_loss(a, b, reduction="none")),
]


@pytest.mark.parametrize("ours, theirs, arrays",
                         [(c[2], c[3], c[1]) for c in EMPTY_CASES], ids=[c[0] for c in EMPTY_CASES])
def test_empty_tensors_as_torch(ours, theirs, arrays):
    assert_as_torch(run_ours(ours, arrays), run_torch(theirs, arrays))


def test_a_batch_of_0_through_nn_linear_as_torch():
    torch = torch_or_skip()
    layer = nn.Linear(3, 2)
    layer_t = torch.nn.Linear(3, 2).double()
    with torch.no_grad():
        layer_t.weight.copy_(torch.tensor(layer.weight.data))
        layer_t.bias.copy_(torch.tensor(layer.bias.data))
    x = Tensor(np.zeros((0, 3)), requires_grad=True)
    out = layer(x)
    out.sum().backward()
    out_t = layer_t(torch.zeros((0, 3), dtype=torch.float64))
    out_t.sum().backward()
    assert out.shape == tuple(out_t.shape) == (0, 2)
    np.testing.assert_array_equal(layer.weight.grad, layer_t.weight.grad.numpy())
    np.testing.assert_array_equal(layer.bias.grad, layer_t.bias.grad.numpy())
    assert x.grad.shape == (0, 3)


# --------------------------------------------------------------------------- cross_entropy

IGNORED = -100


def cross_entropy_case(target, reduction, label_smoothing, weight):
    def ours(x):
        return F.cross_entropy(x, np.array(target), None if weight is None else np.array(weight),
                               reduction=reduction, label_smoothing=label_smoothing)

    def theirs(x):
        torch = torch_or_skip()
        w = None if weight is None else torch.tensor(weight, dtype=x.dtype)
        return torch.nn.functional.cross_entropy(x, torch.tensor(target), w, reduction=reduction,
                                                 label_smoothing=label_smoothing)
    return ours, theirs


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weight", [None, [0.5, 1.0, 2.0, 1.5]])
@pytest.mark.parametrize("target", [
    [IGNORED, IGNORED, IGNORED],  # a fully padded batch
    [IGNORED, 2, IGNORED],  # one sample counted
    [0, 0, IGNORED],  # a class of weight 0 below: nothing weighed, yet a sample counted
], ids=["all_ignored", "one_counted", "zero_weight_counted"])
def test_cross_entropy_with_ignored_samples_as_torch(target, reduction, label_smoothing, weight):
    if target == [0, 0, IGNORED] and weight is not None:
        weight = [0.0, 1.0, 2.0, 1.5]
    ours, theirs = cross_entropy_case(target, reduction, label_smoothing, weight)
    arrays = [rand(3, 4)]
    assert_as_torch(run_ours(ours, arrays), run_torch(theirs, arrays))


def test_a_fully_padded_batch_leaves_the_model_gradients_finite():
    # the loss is nan (0 / 0, as torch), but nothing of it reaches the weights
    layer = nn.Linear(3, 4)
    loss = F.cross_entropy(layer(Tensor(rand(5, 3))), np.full(5, IGNORED))
    loss.backward()
    assert np.isnan(loss.item())
    np.testing.assert_array_equal(layer.weight.grad, np.zeros((4, 3)))
    np.testing.assert_array_equal(layer.bias.grad, np.zeros(4))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(0, 4), (0, 4, 2)])
def test_cross_entropy_of_a_batch_of_0_as_torch(reduction, shape):
    target = np.zeros((0,) + shape[2:], dtype=np.int64)

    def ours(x):
        return F.cross_entropy(x, target, reduction=reduction)

    def theirs(x):
        torch = torch_or_skip()
        return torch.nn.functional.cross_entropy(x, torch.tensor(target), reduction=reduction)
    assert_as_torch(run_ours(ours, [rand(*shape)]), run_torch(theirs, [rand(*shape)]))


# --------------------------------------------------------------------------- 0-d tensors


@pytest.mark.parametrize("call", [
    lambda x: x.sum(dim=0), lambda x: x.sum(dim=-1, keepdim=True), lambda x: x.mean(dim=(0,)),
    lambda x: x.transpose(0, -1), lambda x: x.permute(()), lambda x: x.sum(dim=()),
], ids=["sum_dim_0", "sum_dim_-1_keepdim", "mean_dims_(0,)", "transpose", "permute", "sum_()"])
def test_a_0d_tensor_takes_dim_0_and_minus_1_as_torch(call):
    assert_as_torch(run_ours(call, [np.array(1.5)]), run_torch(call, [np.array(1.5)]))


@pytest.mark.parametrize("call", [lambda x: x.sum(dim=()), lambda x: x.mean(dim=[])],
                         ids=["sum", "mean"])
def test_an_empty_tuple_of_dims_reduces_every_dim_as_torch(call):
    assert_as_torch(run_ours(call, [rand(2, 3)]), run_torch(call, [rand(2, 3)]))


def test_numpy_integer_dims_are_dims():
    x = rand(2, 3)
    for call in (lambda t, d: t.sum(dim=d), lambda t, d: F.softmax(t, dim=d),
                 lambda t, d: t.split(1, dim=d)[0], lambda t, d: t.transpose(d, 0)):
        np.testing.assert_array_equal(call(Tensor(x), np.int64(1)).data, call(Tensor(x), 1).data)


# --------------------------------------------------------------------------- every dim checked

X = np.ones((2, 3))


def x2():
    return Tensor(X)


# (call, exception, the start of its message) for dims torch refuses too
BAD_DIMS = [
    (lambda: F.softmax(x2(), dim=5), tr.ShapeError,
     "softmax: dim 5 is out of range for a tensor with 2 dims, shape (2, 3) (expected -2..1)"),
    (lambda: F.log_softmax(x2(), dim=-3), tr.ShapeError, "log_softmax: dim -3 is out of range"),
    (lambda: F.softmax(x2(), dim=1.0), TypeError, "softmax: dim must be an int, got 1.0 (float)"),
    (lambda: F.log_softmax(x2(), dim=True), TypeError, "log_softmax: dim must be an int, got True"),
    (lambda: F.softmax(x2(), dim="1"), TypeError, "softmax: dim must be an int, got '1'"),
    (lambda: x2().sum(dim=2), tr.ShapeError, "sum: dim 2 is out of range"),
    (lambda: x2().sum(dim=(0, 2)), tr.ShapeError, "sum: dim 2 is out of range"),
    (lambda: x2().sum(dim=(1, -1)), tr.ShapeError, "sum: dim 1 appears more than once"),
    (lambda: x2().sum(dim=1.5), TypeError, "sum: dim must be an int, got 1.5"),
    (lambda: x2().sum(dim=(0, 1.0)), TypeError, "sum: dim must be an int, got 1.0"),
    (lambda: x2().sum(dim=False), TypeError, "sum: dim must be an int, got False"),
    (lambda: x2().sum(dim="0"), TypeError, "sum: dim must be an int"),
    (lambda: x2().sum(keepdim="no"), TypeError, "sum: keepdim must be a bool"),
    (lambda: x2().mean(dim=-3), tr.ShapeError, "mean: dim -3 is out of range"),
    (lambda: x2().mean(dim=[0, 0]), tr.ShapeError, "mean: dim 0 appears more than once"),
    (lambda: x2().mean(dim=True), TypeError, "mean: dim must be an int"),
    (lambda: x2().mean(keepdims=1), TypeError, "mean: keepdim must be a bool"),
    (lambda: x2().split(1, dim=2), tr.ShapeError, "split: dim 2 is out of range"),
    (lambda: x2().split(1, dim=1.0), TypeError, "split: dim must be an int"),
    (lambda: x2().split([1.0, 1.0]), TypeError, "split: split_size_or_sections must be"),
    (lambda: x2().split(None), TypeError, "split: split_size_or_sections must be"),
    (lambda: x2().chunk(2, dim=-3), tr.ShapeError, "chunk: dim -3 is out of range"),
    (lambda: x2().chunk(2, dim=True), TypeError, "chunk: dim must be an int"),
    (lambda: x2().chunk(2.0), TypeError, "chunk: chunks must be a positive integer"),
    (lambda: Tensor(1.0).chunk(1), tr.ShapeError, "chunk: cannot chunk a 0-d tensor"),
    (lambda: x2().unbind(dim=2), tr.ShapeError, "unbind: dim 2 is out of range"),
    (lambda: x2().unbind(dim="a"), TypeError, "unbind: dim must be an int"),
    (lambda: Tensor(1.0).unbind(), tr.ShapeError, "unbind: dim 0 is out of range for a 0-d"),
    (lambda: tr.concat([x2(), x2()], dim=2), tr.ShapeError, "concat: dim 2 is out of range"),
    (lambda: tr.concat([x2(), x2()], dim=1.0), TypeError, "concat: dim must be an int"),
    (lambda: tr.stack([x2(), x2()], dim=3), tr.ShapeError,
     "stack: dim 3 is out of range for stacking tensors with 2 dims, shape (2, 3) "
     "(expected -3..2)"),
    (lambda: tr.stack([x2(), x2()], dim=True), TypeError, "stack: dim must be an int"),
    (lambda: x2().transpose(0, 2), tr.ShapeError, "transpose: dim 2 is out of range"),
    (lambda: x2().transpose(0, 1.0), TypeError, "transpose: dim must be an int"),
    (lambda: Tensor(np.ones((2, 3, 4))).transpose(0, 0, 1), tr.ShapeError,
     "transpose: dims (0, 0, 1) are not a permutation"),
    (lambda: x2().permute(0, 0), tr.ShapeError, "permute: dims (0, 0) are not a permutation"),
    (lambda: x2().permute(0), tr.ShapeError, "permute: dims (0,) are not a permutation"),
    (lambda: x2().permute(0, 5), tr.ShapeError, "permute: dim 5 is out of range"),
    (lambda: x2().permute(0, None), TypeError, "permute: dim must be an int, got None"),
]


@pytest.mark.parametrize("call, error, message", BAD_DIMS, ids=[m for _, _, m in BAD_DIMS])
def test_a_bad_dim_is_refused_in_the_functions_words(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert str(info.value).startswith(message), str(info.value)
    # raised on purpose at the door, not a numpy error passed through
    assert info.value.__cause__ is None and info.value.__context__ is None


# --------------------------------------------------------------------------- sigmoid


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_keeps_full_relative_precision_far_below_zero(dtype):
    x = Tensor(np.array([-800.0, -40.0, -100.0, -700.0, -740.0], dtype=dtype), requires_grad=True)
    out = x.sigmoid()
    out.backward(np.ones(x.shape))
    # for x < -37, 1 + exp(x) is 1 in float64: sigmoid(x) = exp(x) to the last bit
    expected = np.exp(x.data.astype(np.float64))
    np.testing.assert_allclose(out.data, expected.astype(dtype), rtol=4 * np.finfo(dtype).eps,
                               atol=0)
    assert out.data[1] > 0 and out.dtype == dtype
    # the gradient sigmoid (1 - sigmoid) is exp(x) there too
    np.testing.assert_allclose(x.grad, expected.astype(dtype), rtol=8 * np.finfo(dtype).eps,
                               atol=0)


@given(x=hnp.arrays(np.float64, st.integers(1, 20),
                    elements=st.floats(-1000, 1000, allow_subnormal=False)))
def test_sigmoid_and_its_gradient_match_torch_everywhere(x):
    torch = torch_or_skip()
    ours, theirs = run_ours(lambda t: t.sigmoid(), [x]), run_torch(lambda t: t.sigmoid(), [x])
    (out,), (grad,) = ours
    (out_t,), (grad_t,) = theirs
    tiny = np.finfo(np.float64).tiny  # relative precision down to the normal floats
    np.testing.assert_allclose(out, out_t, rtol=1e-14, atol=tiny)
    np.testing.assert_allclose(grad, grad_t, rtol=1e-13, atol=tiny)
    del torch


# --------------------------------------------------------------------------- retain_grad


def test_a_retained_gradient_accumulates_across_two_backward_calls_as_torch():
    torch = torch_or_skip()
    data = rand(2, 3)
    x = Tensor(data, requires_grad=True)
    xt = torch.tensor(data, requires_grad=True)
    y, yt = x.tanh(), xt.tanh()
    y.retain_grad()
    yt.retain_grad()
    (y * y).sum().backward(retain_graph=True)
    (yt * yt).sum().backward(retain_graph=True)
    (y * 3.0).sum().backward()
    (yt * 3.0).sum().backward()
    np.testing.assert_allclose(y.grad, yt.grad.numpy(), rtol=1e-14)  # 2y + 3, not 3
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-14)


def test_pow_zero_has_no_gradient_even_at_zero_as_torch():
    torch = pytest.importorskip("torch")
    x = tr.Tensor([0.0, -1.5, 2.0], requires_grad=True)
    (x ** 0).sum().backward()
    t = torch.tensor([0.0, -1.5, 2.0], dtype=torch.float64, requires_grad=True)
    (t ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad, t.grad.numpy())


@pytest.mark.filterwarnings("ignore:invalid value encountered in log")  # (on purpose)
@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("target", [[-1, -1], [2, -1]])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_an_ignored_sample_gets_no_gradient_even_from_a_nan_upstream_as_torch(fn, target,
                                                                              reduction):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 3))
    ours = tr.Tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)

    def graph(f, t, target):  # log of a negative or nan loss: a nan upstream gradient
        return (f(t, target, ignore_index=-1, reduction=reduction) - 10.0).log() + t.sum()

    graph(getattr(F, fn), ours, np.array(target)).backward()
    graph(getattr(torch.nn.functional, fn), theirs, torch.tensor(target)).backward()
    np.testing.assert_array_equal(np.isnan(ours.grad), np.isnan(theirs.grad.numpy()))
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12)
