"""``tr.gradcheck``, ``tr.gradcheck_report`` and ``tr.numerical_grad``.

The central case is the bug of the notebook the project grew from: its BPTT
multiplies by ``dtanh(h_t) = 1 - tanh(h_t)**2`` although ``h_t`` is already
``tanh(...)`` (the right factor is ``1 - h_t**2``), and its gradient is that of
``0.5 * sum`` while its loss is an MSE mean. A gradient check must flag both,
and say where.
"""

import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, tour

from _helpers import NotebookTanh  # tanh with the notebook's dtanh bug


def rand(*shape, seed=0, low=-1.0, high=1.0, name=None, requires_grad=True):
    data = np.random.default_rng(seed).uniform(low, high, shape)
    return Tensor(data, requires_grad=requires_grad, name=name)


# --------------------------------------------------------------------------- the step nonlinearity


class FixedTanh(NotebookTanh):
    """The same forward, the notebook's bug fixed:  dx = grad * (1 - out**2)."""

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (1 - out ** 2)


def test_gradcheck_passes_on_correct_ops():
    x, y = rand(3, 4, seed=1, name="x"), rand(3, 4, seed=2, low=0.5, high=2.0, name="y")
    w = rand(4, 2, seed=3, name="w")
    assert tr.gradcheck(lambda x, y, w: ((x * y + x / y).tanh() @ w).sigmoid(), [x, y, w])
    assert tr.gradcheck(lambda x, y: (x.exp() * y.log()).sum(dim=0), [x, y])
    assert tr.gradcheck(FixedTanh.apply, [x])


def test_gradcheck_catches_a_wrong_custom_op():
    class Square(tr.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * x  # forgot the 2

    with pytest.raises(tr.GradcheckError):
        tr.gradcheck(Square.apply, [rand(5)])


def test_the_notebooks_dtanh_bug_raises_with_a_table_naming_the_input():
    x = rand(6, seed=4, low=-1.5, high=1.5, name="pre_activation")
    with pytest.raises(tr.GradcheckError) as info:
        tr.gradcheck(lambda x: NotebookTanh.apply(x).sum(), [x])
    message = str(info.value)
    lines = message.splitlines()
    header = next(line for line in lines if line.startswith("input"))
    for column in ("max abs err", "max rel err", "worst at", "analytic", "numeric"):
        assert column in header
    row = next(line for line in lines if line.startswith("pre_activation"))
    assert "(6,)" in row and row.rstrip().endswith("NO")


def test_the_report_values_for_the_notebooks_bug_follow_from_the_maths():
    """With a scalar output the upstream gradient is one number v, so both columns
    are known in closed form: analytic = v (1 - tanh(tanh x)^2) (the bug),
    numeric = v (1 - tanh(x)^2) (the truth)."""
    x = rand(6, seed=4, low=-1.5, high=1.5, name="pre_activation")
    atol, rtol = 1e-5, 1e-3
    report = tr.gradcheck_report(lambda x: NotebookTanh.apply(x).sum(), [x], atol=atol, rtol=rtol)
    (row,) = report.rows
    assert not report.ok and not row.ok and row.name == "pre_activation"
    true_slope = 1 - np.tanh(x.data) ** 2
    buggy_slope = 1 - np.tanh(np.tanh(x.data)) ** 2
    w = row.worst_index
    np.testing.assert_allclose(row.analytic / row.numeric, buggy_slope[w] / true_slope[w],
                               rtol=1e-6)
    v = row.numeric / true_slope[w]
    analytic, numeric = v * buggy_slope, v * true_slope
    np.testing.assert_allclose(row.max_abs_error, np.abs(analytic - numeric).max(), rtol=1e-5)
    np.testing.assert_allclose(row.max_rel_error, np.abs(buggy_slope / true_slope - 1).max(),
                               rtol=1e-5)
    excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
    assert w == np.unravel_index(np.argmax(excess), x.shape)
    # and the printed table carries exactly those numbers
    text = str(report)
    for value in (f"{row.max_abs_error:.3e}", f"{row.max_rel_error:.3e}",
                  f"{row.analytic:.6e}", f"{row.numeric:.6e}", str(w)):
        assert value in text


def test_the_corrected_tanh_passes():
    x = rand(6, seed=4, low=-1.5, high=1.5, name="pre_activation")
    assert tr.gradcheck(lambda x: FixedTanh.apply(x).sum(), [x])
    assert tr.gradcheck(FixedTanh.apply, [rand(3, 5, seed=7, low=-3, high=3)])


# --------------------------------------------------------------------------- the notebook's RNN

# The weights the notebook printed in its first cell (hidden size 4, input size 1),
# its inputs and targets: the tour keeps them, once.
W_X, W_H, W_Y = tour.NOTEBOOK_W_X, tour.NOTEBOOK_W_H, tour.NOTEBOOK_W_Y
INPUTS, TARGETS = tour.NOTEBOOK_INPUTS, tour.NOTEBOOK_TARGETS
NAMES = ("W_x", "W_h", "W_y", "b_h", "b_y")


def notebook_params():
    """The notebook's RNN parameters, with small non-zero biases so their gradients show."""
    values = [W_X, W_H, W_Y, [[0.1], [-0.2], [0.05], [0.3]], [[0.1]]]
    return [Tensor(np.array(v, dtype=np.float64), requires_grad=True, name=n)
            for v, n in zip(values, NAMES)]


def notebook_rnn_loss(tanh):
    """The notebook's 3-step RNN out of ops: h_t = tanh(W_x x_t + W_h h_{t-1} + b_h),
    y_t = W_y h_t + b_y, loss = mean over steps of mean((y_t - target_t)^2)."""

    def loss_fn(W_x, W_h, W_y, b_h, b_y):
        h = Tensor(np.zeros((4, 1)))
        loss = 0.0
        for x, target in zip(INPUTS, TARGETS):
            h = tanh.apply(W_x @ Tensor([[x]]) + W_h @ h + b_h)
            y = W_y @ h + b_y
            loss = loss + ((y - target) ** 2).mean()
        return loss / len(INPUTS)

    return loss_fn


def test_the_notebook_rnn_with_the_buggy_tanh_is_flagged_through_bptt():
    params = notebook_params()
    with pytest.raises(tr.GradcheckError) as info:
        tr.gradcheck(notebook_rnn_loss(NotebookTanh), params)
    assert all(name in str(info.value) for name in NAMES)
    # the report says where: everything upstream of a tanh is wrong, the output layer is not
    report = tr.gradcheck_report(notebook_rnn_loss(NotebookTanh), params)
    verdict = {row.name: row.ok for row in report.rows}
    assert verdict == {"W_x": False, "W_h": False, "b_h": False, "W_y": True, "b_y": True}


def test_the_notebook_rnn_with_the_fixed_tanh_passes():
    assert tr.gradcheck(notebook_rnn_loss(FixedTanh), notebook_params())


def test_the_notebook_rnn_matches_the_outputs_it_printed():
    # ties the test model to the notebook: with zero biases its outputs are the printed ones
    W_x, W_h, W_y = (Tensor(v) for v in (W_X, W_H, W_Y))
    h, outputs = Tensor(np.zeros((4, 1))), []
    for x in INPUTS:
        h = FixedTanh.apply(W_x @ Tensor([[x]]) + W_h @ h)
        outputs.append((W_y @ h).item())
    np.testing.assert_allclose(outputs, [-0.27069536, -0.90355753, -2.36305458], atol=1e-8)


class NotebookBPTT(tr.Function):
    """The notebook's training cell as one op: forward = its loss, backward = its
    hand-written BPTT, with switches for the two fixes."""

    @staticmethod
    def forward(ctx, W_x, W_h, W_y, b_h, b_y, fix_tanh=False, fix_loss=False):
        h_prev, hs, ys = np.zeros((4, 1)), [], []
        for x in INPUTS:
            h_prev = np.tanh(W_x @ np.array([[x]]) + W_h @ h_prev + b_h)
            hs.append(h_prev)
            ys.append(W_y @ h_prev + b_y)
        ctx.save_for_backward(W_h, W_y, *hs, *ys)
        ctx.fix_tanh, ctx.fix_loss = fix_tanh, fix_loss
        # the loss it prints: the MSE mean
        return np.array(sum(np.mean((y - t) ** 2) for y, t in zip(ys, TARGETS)) / len(ys))

    @staticmethod
    def backward(ctx, grad):
        W_h, W_y, *rest = ctx.saved_tensors
        hs, ys = rest[:3], rest[3:]
        dW_x, dW_h, dW_y = np.zeros((4, 1)), np.zeros((4, 4)), np.zeros((1, 4))
        db_h, db_y, dh_next = np.zeros((4, 1)), np.zeros((1, 1)), np.zeros((4, 1))
        for t in reversed(range(3)):
            dy = ys[t] - TARGETS[t]  # the gradient of 0.5 * (y - t)^2 ...
            if ctx.fix_loss:  # ... but the loss is mean over steps of (y - t)^2
                dy = 2 * dy / (len(ys) * ys[t].size)
            dW_y += dy @ hs[t].T
            db_y += dy
            dh = W_y.T @ dy + dh_next
            slope = 1 - hs[t] ** 2 if ctx.fix_tanh else 1 - np.tanh(hs[t]) ** 2
            dh_raw = dh * slope
            db_h += dh_raw
            dW_x += dh_raw @ np.array([[INPUTS[t]]]).T
            if t != 0:
                dW_h += dh_raw @ hs[t - 1].T
            dh_next = W_h.T @ dh_raw
        return tuple(grad * g for g in (dW_x, dW_h, dW_y, db_h, db_y))


@pytest.mark.parametrize("fix_tanh, fix_loss, wrong", [
    (False, False, {"W_x", "W_h", "W_y", "b_h", "b_y"}),
    (True, False, {"W_x", "W_h", "W_y", "b_h", "b_y"}),  # the loss scale is wrong everywhere
    (False, True, {"W_x", "W_h", "b_h"}),                # only behind the tanh
    (True, True, set()),
])
def test_the_notebooks_hand_written_bptt_is_flagged_until_both_bugs_are_fixed(fix_tanh, fix_loss,
                                                                               wrong):
    def loss_fn(*params):
        return NotebookBPTT.apply(*params, fix_tanh=fix_tanh, fix_loss=fix_loss)

    params = notebook_params()
    # the op's forward is the same loss as the one built from ops
    np.testing.assert_allclose(loss_fn(*params).item(),
                               notebook_rnn_loss(FixedTanh)(*params).item(), rtol=1e-12)
    report = tr.gradcheck_report(loss_fn, params)
    assert {row.name for row in report.rows if not row.ok} == wrong
    if not wrong:  # fixed, it agrees with autograd through the unrolled graph
        loss_fn(*params).backward()
        hand = [p.grad.copy() for p in params]
        for p in params:
            p.zero_grad()
        notebook_rnn_loss(FixedTanh)(*params).backward()
        for h, p in zip(hand, params):
            np.testing.assert_allclose(h, p.grad, rtol=1e-10, atol=1e-14)


# --------------------------------------------------------------------------- the report


def test_the_report_has_one_row_per_input_that_requires_grad():
    a = rand(2, 3, seed=1, name="a")
    b = rand(3, seed=2)
    c = rand(2, 3, seed=3, requires_grad=False)  # a constant: no row
    d = rand(2, 3, seed=4)
    report = tr.gradcheck_report(lambda a, b, c, d: a * b + c * d, [a, b, c, d])
    assert [row.name for row in report.rows] == ["a", "input 1", "input 3"]
    assert [row.shape for row in report.rows] == [(2, 3), (3,), (2, 3)]
    assert report.ok
    table = str(report).splitlines()
    assert len(table) == 2 + 3  # header, rule, one line per row
    assert table[2].startswith("a ") and table[3].startswith("input 1")


def test_raise_exception_false_returns_false():
    assert tr.gradcheck(lambda x: NotebookTanh.apply(x), [rand(4)], raise_exception=False) is False
    assert tr.gradcheck(lambda x: FixedTanh.apply(x), [rand(4)], raise_exception=False) is True


def test_a_float32_input_warns_at_the_callers_line():
    x = Tensor(np.linspace(-1, 1, 4, dtype=np.float32), requires_grad=True, name="x32")
    for check in (tr.gradcheck, tr.gradcheck_report):
        with pytest.warns(UserWarning, match="x32 is float32") as record:
            check(lambda x: x * 2.0, [x], atol=1e-2, rtol=1e-2)
        assert record[0].filename == __file__  # not a line inside tinygrad_rnn


def test_params_checks_tensors_used_by_closure():
    W = rand(3, 2, seed=5, name="W")
    b = rand(2, seed=6)
    x = rand(4, 3, seed=7, name="x")
    report = tr.gradcheck_report(lambda x: (x @ W + b).tanh(), [x], params={"W": W, "bias": b})
    assert [row.name for row in report.rows] == ["x", "W", "bias"] and report.ok
    # a wrong op applied to a closure parameter is found in that parameter's row
    with pytest.raises(tr.GradcheckError, match=r"(?m)^W .*NO$"):
        tr.gradcheck(lambda x: x @ NotebookTanh.apply(W), [x], params={"W": W})


def test_gradcheck_restores_existing_grads():
    x = rand(3)
    x.grad = np.full(3, 7.0)
    assert tr.gradcheck(lambda x: x * x, [x])
    np.testing.assert_array_equal(x.grad, np.full(3, 7.0))


def test_a_computed_input_is_checked_at_its_value():
    # a non-leaf keeps no .grad after backward; it must not read as a zero gradient
    a = rand(4, seed=8)
    x = a * 2.0
    before = x.data.copy()
    report = tr.gradcheck_report(lambda x: x.tanh(), [x])
    assert report.ok and report.rows[0].name == "input 0"
    np.testing.assert_array_equal(x.data, before)
    assert not tr.gradcheck(NotebookTanh.apply, [x], raise_exception=False)


def test_functions_returning_nested_tuples():
    x, w = rand(2, 4, seed=1), rand(4, 4, seed=2)

    def cell(x, w):  # shaped like an LSTM's (output, (h, c))
        z = x @ w
        h, c = z.chunk(2, dim=-1)
        return z.tanh(), (h.sigmoid(), [c * c])

    assert tr.gradcheck(cell, [x, w])

    def cell_bad(x, w):
        z = x @ w
        return z, (NotebookTanh.apply(z),)

    assert not tr.gradcheck(cell_bad, [x, w], raise_exception=False)


def test_a_random_upstream_catches_a_gradient_right_only_on_average():
    class Reverse(tr.Function):
        """out = x[::-1], with the flip forgotten in backward."""

        @staticmethod
        def forward(ctx, x):
            return x[::-1].copy()

        @staticmethod
        def backward(ctx, grad):
            return grad

    x = rand(5)
    # against an all-ones upstream the wrong gradient looks right ...
    (numeric,) = tr.numerical_grad(Reverse.apply, [x])
    np.testing.assert_allclose(numeric, np.ones(5), rtol=1e-8)
    # ... gradcheck's random upstream does not
    assert not tr.gradcheck(Reverse.apply, [x], raise_exception=False)


# --------------------------------------------------------------------------- numerical_grad


def test_numerical_grad_of_sum_of_squares_is_2x():
    x = rand(3, 4)
    (g,) = tr.numerical_grad(lambda x: (x ** 2).sum(), [x])
    np.testing.assert_allclose(g, 2 * x.data, rtol=1e-7, atol=1e-9)


def test_numerical_grad_with_an_upstream_and_several_inputs():
    # L = sum(v * (x @ W)):  dL/dx = v W^T,  dL/dW = x^T v
    x, W = rand(2, 3, seed=1), rand(3, 4, seed=2)
    v = np.random.default_rng(3).standard_normal((2, 4))
    gx, gW = tr.numerical_grad(lambda x, W: x @ W, [x, W], grad_outputs=[v])
    np.testing.assert_allclose(gx, v @ W.data.T, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(gW, x.data.T @ v, rtol=1e-7, atol=1e-9)


def test_numerical_grad_wrt_a_closure_tensor_and_only_requiring_inputs():
    x, W = rand(3, seed=1, requires_grad=False), rand(3, seed=2)
    (gW,) = tr.numerical_grad(lambda x: (x * W).exp().sum(), [x], wrt=[W])
    np.testing.assert_allclose(gW, x.data * np.exp(x.data * W.data), rtol=1e-7)
    assert tr.numerical_grad(lambda x: x * W, [x]) == []  # x does not require grad
    assert tr.numerical_grad(lambda x: x * W, []) == []  # fn is not called with no inputs


def test_numerical_grad_on_a_non_contiguous_input():
    # a transposed array is wrapped without a copy: nudging must reach the tensor itself
    x = Tensor(np.random.default_rng(0).standard_normal((3, 4)).T, requires_grad=True)
    assert not x.data.flags.c_contiguous
    (g,) = tr.numerical_grad(lambda x: (x * x).sum(), [x])
    np.testing.assert_allclose(g, 2 * x.data, rtol=1e-7, atol=1e-9)
    assert tr.gradcheck(lambda x: x.tanh(), [x])


def test_numerical_grad_leaves_inputs_exactly_as_they_were():
    x = rand(2, 3)
    before = x.data.copy()
    tr.numerical_grad(lambda x: x.exp().sum(), [x])
    np.testing.assert_array_equal(x.data, before)


def test_numerical_grad_of_a_0d_input():
    x = Tensor(np.array(0.7), requires_grad=True)
    (g,) = tr.numerical_grad(lambda x: x.tanh(), [x])
    np.testing.assert_allclose(g, 1 - np.tanh(0.7) ** 2, rtol=1e-8)


@settings(deadline=None)
@given(x=hnp.arrays(np.float64, hnp.array_shapes(max_dims=3, max_side=4),
                    elements=st.floats(-3, 3)))
def test_numerical_grad_of_sum_of_cubes_is_3x_squared(x):
    (g,) = tr.numerical_grad(lambda t: (t ** 3).sum(), [Tensor(x, requires_grad=True)])
    np.testing.assert_allclose(g, 3 * x ** 2, rtol=1e-6, atol=1e-6)


def test_the_error_message_is_a_table_with_a_row_per_input():
    x, W = rand(4, seed=1, name="x"), rand(4, seed=2, name="W")
    with pytest.raises(tr.GradcheckError) as info:
        tr.gradcheck(lambda x, W: NotebookTanh.apply(x) * W, [x, W])
    rows = [line for line in str(info.value).splitlines() if re.match(r"^(x|W) ", line)]
    assert len(rows) == 2
    assert rows[0].startswith("x") and rows[0].rstrip().endswith("NO")
    assert rows[1].startswith("W") and rows[1].rstrip().endswith("yes")


def test_tensors_sharing_memory_are_refused_not_misjudged():
    a = np.random.default_rng(0).standard_normal((3, 4))
    x, y = Tensor(a, requires_grad=True), Tensor(a.T, requires_grad=True)  # one array
    with pytest.raises(ValueError, match="tensors 0 and 1 .* share memory"):
        tr.gradcheck(lambda x, y: x @ y, [x, y])
    evens, odds = Tensor(a[:, ::2], requires_grad=True), Tensor(a[:, 1::2], requires_grad=True)
    assert tr.gradcheck(lambda p, q: p * q, [evens, odds])  # interleaved, yet disjoint: fine
