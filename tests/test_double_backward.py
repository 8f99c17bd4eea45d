"""Gradients of gradients (issue 17, reverse over reverse): ``backward(create_graph=True)``,
``tr.grad``, ``tr.gradgradcheck``, and the ops whose backward can be differentiated again.

Every op of the table (``op_cases.CASES``) that declares ``twice_differentiable`` gets
its second derivatives checked against finite differences of its gradient and, when
torch is installed, against torch's double backward at 1e-10; every other op must
refuse create_graph with a clear error. Then tr.grad's semantics against torch's,
recurrent layers built op by op, and the rules (errors, .grad types, numpy on Tensors).
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, ops
from tinygrad_rnn.case import unpack
from tinygrad_rnn.gradcheck import _flatten_outputs
from tinygrad_rnn.testing import OP_CASES, run_check

from _helpers import Softsign

TWICE = [c for c in OP_CASES if c.twice_differentiable() and "gradients" in c.checks()]
# Ops whose gradient jumps (|x| at 0, a tie of maximum, a piecewise where, pow's y == 0
# where torch's formula and ours set the gradient to 0): finite differences of the
# gradient mean nothing at the jump, which their strategies reach on purpose; torch
# parity checks them instead.
JUMPS = {"Abs", "Maximum", "Minimum", "PowTensor", "Clamp", "Sign", "LeakyRelu", "Where"}
# ... and losses piecewise by a mask taken from the values (|d| < beta): their gradient
# jumps at the seam, which Hypothesis finds
PIECEWISE = {"smooth_l1_loss", "huber_loss"}
SMOOTH = [c for c in TWICE if not JUMPS & set(c.functions) and c.name not in PIECEWISE]
ONCE = [c for c in OP_CASES if not c.twice_differentiable() and c.functions
        and c.example is not None]
FEW = settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))


def _float64(example):
    arrays, params = unpack(example)
    return [a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays], params


def _upstream(shapes, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


# --------------------------------------------------------------------------- the op table


def check_second_derivatives(case, example, seed=0):
    """gradgradcheck: the gradient's gradient against central differences of the gradient."""
    arrays, params = _float64(example)
    tr.gradgradcheck(lambda *ts: case.fn(*ts, **params), case.tensors(arrays),
                     atol=case.atol, rtol=case.rtol, seed=seed)


def check_second_derivatives_match_torch(case, example, seed=0):
    """dL/dx for L = u . (v . d fn/dx), ours and torch's, at 1e-10 (float64)."""
    torch = pytest.importorskip("torch")
    arrays, params = _float64(example)
    ours = case.tensors(arrays)
    theirs = [torch.tensor(a, requires_grad=t.requires_grad) for a, t in zip(arrays, ours)]
    wrt = [i for i, t in enumerate(ours) if t.requires_grad]
    outs = _flatten_outputs(case.fn(*ours, **params))
    t_outs = case.torch_fn(*theirs, **params)
    t_outs = [t_outs] if isinstance(t_outs, torch.Tensor) else list(t_outs)
    vs = _upstream([o.shape for o in outs], seed)
    used = [k for k, o in enumerate(outs) if o.requires_grad]
    if not used:
        return
    g = tr.grad([outs[k] for k in used], [ours[i] for i in wrt], [vs[k] for k in used],
                create_graph=True, allow_unused=True)
    t_g = torch.autograd.grad([t_outs[k] for k in used], [theirs[i] for i in wrt],
                              [torch.tensor(vs[k]) for k in used], create_graph=True,
                              allow_unused=True)
    for a, b in zip(g, t_g):  # first derivatives, on the way
        if a is not None and b is not None:
            np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-10, atol=1e-10)
    us = _upstream([ours[i].shape for i in wrt], seed + 1)
    mine = [k for k, a in enumerate(g) if a is not None and a.requires_grad]
    theirs_used = [k for k, b in enumerate(t_g) if b is not None and b.requires_grad]
    h = (tr.grad([g[k] for k in mine], [ours[i] for i in wrt], [us[k] for k in mine],
                 allow_unused=True) if mine else [None] * len(wrt))
    t_h = (torch.autograd.grad([t_g[k] for k in theirs_used], [theirs[i] for i in wrt],
                               [torch.tensor(us[k]) for k in theirs_used], allow_unused=True)
           if theirs_used else [None] * len(wrt))
    # a second derivative is a sum of terms as large as the first derivatives' squares
    # (layer_norm of a constant row: 1/sqrt(eps) each), and rounds with them
    scale = max([1.0] + [float(np.abs(a.data).max()) for a in g if a is not None and a.size])
    for i, a, b in zip(wrt, h, t_h):
        a = np.zeros(ours[i].shape) if a is None else a.data
        b = np.zeros(ours[i].shape) if b is None or b._is_zerotensor() else b.numpy()
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * scale ** 2,
                                   err_msg=f"{case.name}: second derivative, input {i}")


@pytest.mark.parametrize("case", SMOOTH, ids=[c.name for c in SMOOTH])
def test_second_derivatives_match_finite_differences(case):
    run_check(case, check_second_derivatives, FEW)


@pytest.mark.parametrize("case", [c for c in TWICE if c.torch_fn is not None],
                         ids=[c.name for c in TWICE if c.torch_fn is not None])
def test_second_derivatives_match_torch(case):
    pytest.importorskip("torch")
    run_check(case, check_second_derivatives_match_torch, FEW)


def test_the_first_batch_of_ops_is_twice_differentiable():
    first_batch = ["Add", "Sub", "Mul", "Div", "Neg", "Pow", "Exp", "Log", "Tanh", "Sigmoid",
                   "Relu", "Matmul", "Addmm", "Linear", "Sum", "Mean", "Reshape", "Transpose",
                   "GetItem", "Concat", "Stack", "Split", "Unbind", "Addcmul", "Lerp"]
    assert [n for n in first_batch if not getattr(ops, n).twice_differentiable] == []
    assert {n for c in SMOOTH for n in c.functions} >= set(first_batch)  # and each is tested


def test_every_op_of_the_table_is_twice_differentiable():
    """(Each is then checked by the tests above; a user's Function that does not say so
    is refused by name: see test_a_users_function_is_not_twice_differentiable_unless_it_says_so.)"""
    assert [c.name for c in ONCE] == []


# --------------------------------------------------------------------------- tr.grad vs torch


def _pair(shape, seed=0):
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(seed).standard_normal(shape)
    return Tensor(a.copy(), requires_grad=True), torch.tensor(a.copy(), requires_grad=True)


def test_grad_of_several_outputs_and_inputs_sums_the_outputs_as_torch():
    torch = pytest.importorskip("torch")
    (x, tx), (y, ty) = _pair((3, 2), 1), _pair((2,), 2)
    v = np.random.default_rng(3).standard_normal((3, 2))
    outs = [(x * y).tanh(), (x.exp() * y).sum()]
    t_outs = [(tx * ty).tanh(), (tx.exp() * ty).sum()]
    gx, gy = tr.grad(outs, [x, y], [v, None])
    tgx, tgy = torch.autograd.grad(t_outs, [tx, ty], [torch.tensor(v), None])
    np.testing.assert_allclose(gx.data, tgx.numpy(), rtol=1e-12)
    np.testing.assert_allclose(gy.data, tgy.numpy(), rtol=1e-12)
    assert x.grad is None and y.grad is None  # .grad untouched
    assert not gx.requires_grad  # no create_graph: no graph


def test_grad_of_a_computed_tensor_as_torch():
    torch = pytest.importorskip("torch")
    x, tx = _pair((4,))
    h, th = x.sin(), tx.sin()
    out, t_out = (h * h * x).sum(), (th * th * tx).sum()
    (gh,) = tr.grad(out, h)
    (tgh,) = torch.autograd.grad(t_out, th)
    np.testing.assert_allclose(gh.data, tgh.numpy(), rtol=1e-12)


def test_grad_refuses_an_unused_input_unless_allowed():
    x = Tensor(np.ones(3), requires_grad=True)
    unused = Tensor(np.ones(2), requires_grad=True)
    out = (x * 2.0).sum()
    with pytest.raises(RuntimeError, match=r"grad: inputs\[1\] was not used.*allow_unused"):
        tr.grad(out, [x, unused], retain_graph=True)
    gx, gu = tr.grad(out, [x, unused], allow_unused=True, retain_graph=True)
    assert gu is None and np.allclose(gx.data, 2.0)
    gx, gu = tr.grad(out, [x, unused], materialize_grads=True)
    assert np.array_equal(gu.data, np.zeros(2))


def test_grad_needs_grad_outputs_for_an_output_of_several_elements():
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="grad: grad can be implicitly created only"):
        tr.grad(x * 2.0, x)
    with pytest.raises(ValueError, match=r"grad: grad_outputs\[0\] has shape \(2,\)"):
        tr.grad(x * 2.0, x, np.ones(2))


def test_grad_refuses_inputs_and_outputs_without_grad():
    x = Tensor(np.ones(3), requires_grad=True)
    c = Tensor(np.ones(3))
    with pytest.raises(RuntimeError, match=r"grad: inputs\[0\] does not require grad"):
        tr.grad((x * c).sum(), c)
    with pytest.raises(RuntimeError, match=r"grad: outputs\[0\] does not require grad"):
        tr.grad(c.sum(), x)
    with pytest.raises(TypeError, match="grad: inputs must be a Tensor or a non-empty sequence"):
        tr.grad((x * 2.0).sum(), [])
    with pytest.raises(TypeError, match="grad: create_graph must be a bool"):
        tr.grad((x * 2.0).sum(), x, create_graph="yes")


def test_grad_frees_the_graph_unless_retained_and_create_graph_retains_it():
    x = Tensor(np.array([0.5, 1.5]), requires_grad=True)
    out = x.tanh().sum()
    tr.grad(out, x)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        tr.grad(out, x)
    out = x.tanh().sum()
    tr.grad(out, x, create_graph=True)  # create_graph retains the graph ...
    (g,) = tr.grad(out, x)  # ... so a second call works
    assert np.allclose(g.data, 1 - np.tanh(x.data) ** 2)


# --------------------------------------------------------------------------- backward(create_graph)


def test_backward_with_create_graph_leaves_a_tensor_grad_with_a_graph():
    x = Tensor(np.array([0.3, -1.2, 2.0]), requires_grad=True)
    (x ** 3.0).sum().backward(create_graph=True)
    assert isinstance(x.grad, Tensor) and x.grad.requires_grad
    assert np.allclose(x.grad.data, 3 * x.data ** 2)
    (g2,) = tr.grad(x.grad.sum(), x)  # d/dx sum(3 x^2) = 6 x
    assert np.allclose(g2.data, 6 * x.data)
    x.zero_grad()
    (x ** 3.0).sum().backward()  # first order: .grad is an array, as always
    assert type(x.grad) is np.ndarray


def test_a_gradient_penalty_trains_through_double_backward_as_torch():
    torch = pytest.importorskip("torch")
    (w, tw), (x, tx) = _pair((3, 4), 5), _pair((2, 3), 6)
    loss = (x @ w).tanh().sum()
    (gx,) = tr.grad(loss, x, create_graph=True)
    ((gx * gx).sum() + loss).backward()
    t_loss = (tx @ tw).tanh().sum()
    (tgx,) = torch.autograd.grad(t_loss, tx, create_graph=True)
    ((tgx * tgx).sum() + t_loss).backward()
    np.testing.assert_allclose(w.grad, tw.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- recurrent layers


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_a_layer_built_op_by_op_has_torchs_second_derivatives(kind):
    torch = pytest.importorskip("torch")
    tr.manual_seed(0)
    layer = getattr(tr.nn, kind)(3, 4)
    x = Tensor(np.random.default_rng(1).standard_normal((5, 2, 3)), requires_grad=True)
    with tr.replay.disabled():
        out, _ = layer(x)
    params = [x, *layer.parameters()]
    grads = tr.grad((out * out).sum(), params, create_graph=True)
    second = tr.grad(sum((g * g).sum() for g in grads), params)

    t_layer = getattr(torch.nn, kind)(3, 4).double()
    with torch.no_grad():
        for tp, p in zip(t_layer.parameters(), layer.parameters()):
            tp.copy_(torch.tensor(p.data))
    tx = torch.tensor(x.data, requires_grad=True)
    t_out, _ = t_layer(tx)
    t_params = [tx, *t_layer.parameters()]
    t_grads = torch.autograd.grad((t_out * t_out).sum(), t_params, create_graph=True)
    t_second = torch.autograd.grad(sum((g * g).sum() for g in t_grads), t_params)
    for a, b in zip(second, t_second):
        np.testing.assert_allclose(a.data, b.numpy(), rtol=1e-10, atol=1e-10)


# --------------------------------------------------------------------------- a user's Function


class _TwiceSoftsign(Softsign):
    twice_differentiable = True  # its backward, np.abs and arithmetic, runs on Tensors too


class _DerivedSave(tr.Function):
    """out = exp(x), saving 2 * out: a float derived in forward, neither input nor output."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx, x):
        out = np.exp(x)
        ctx.save_for_backward(out * 1.0)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


class _ConstantCos(tr.Function):
    """sin, whose backward cuts its own graph (detach): right once, wrong twice."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sin(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * np.cos(x.detach() if isinstance(x, Tensor) else x)


@given(st.lists(st.floats(0.1, 3) | st.floats(-3, -0.1), min_size=1, max_size=5))  # off |x|'s kink
@settings(max_examples=10, deadline=None)
def test_a_users_function_that_declares_it_is_twice_differentiable(values):
    x = Tensor(np.array(values), requires_grad=True)
    assert tr.gradgradcheck(lambda t: _TwiceSoftsign.apply(t), [x])


def test_a_users_function_is_not_twice_differentiable_unless_it_says_so():
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    with pytest.raises(tr.NotTwiceDifferentiableError,
                       match="Softsign.backward is not twice differentiable.*"
                             "twice_differentiable = True"):
        tr.grad(Softsign.apply(x).sum(), x, create_graph=True)


def test_a_saved_float_that_is_neither_input_nor_output_is_refused():
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    with pytest.raises(tr.NotTwiceDifferentiableError, match="_DerivedSave.*neither an input"):
        tr.grad(_DerivedSave.apply(x).sum(), x, create_graph=True)


def test_gradgradcheck_catches_a_backward_right_once_but_wrong_twice():
    x = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    assert tr.gradcheck(lambda t: _ConstantCos.apply(t), [x])
    with pytest.raises(tr.GradcheckError, match="second derivatives disagree"):
        tr.gradgradcheck(lambda t: _ConstantCos.apply(t), [x])
    assert not tr.gradgradcheck(lambda t: _ConstantCos.apply(t), [x], raise_exception=False)


def test_one_array_as_two_different_inputs_is_refused_rather_than_guessed():
    a = np.array([1.0, 2.0])
    x = Tensor(a, requires_grad=True)
    c = Tensor(a)  # the same array, a constant
    with pytest.raises(tr.NotTwiceDifferentiableError, match="one array as two different"):
        tr.grad((x * c).sum(), x, create_graph=True)


# --------------------------------------------------------------------------- numpy on Tensors


def test_numpy_ufuncs_and_functions_on_tensors_are_the_packages_ops():
    x = Tensor(np.array([0.5, 1.5]), requires_grad=True)
    assert np.exp(x).grad_fn is ops.Exp and np.tanh(x).grad_fn is ops.Tanh
    assert (np.ones(2) * x).grad_fn is ops.Mul
    assert np.add.reduce(x, axis=0).grad_fn is ops.Sum
    assert np.where(np.array([True, False]), x, 0.0).grad_fn is ops.Where
    assert np.concatenate([x, x]).shape == (4,)
    with pytest.raises(TypeError, match="np.arctan has no Tensor version"):
        np.arctan(x)
    with pytest.raises(TypeError, match="np.cumprod has no Tensor version"):
        np.cumprod(x)
    buffer = np.zeros(2)
    with pytest.raises(TypeError, match="np.add: cannot write into an array given a Tensor"):
        buffer += x
    assert np.array_equal(buffer, np.zeros(2))
