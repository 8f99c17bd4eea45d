"""RTRL (forward mode through time) against BPTT (backward of the summed losses).

The reference is the engine's reverse mode: the cell called step by step, the losses
summed, one ``backward``. RTRL computes the same gradient forward, so the two must agree
to rounding (1e-10 in float64) for every cell of the protocol, over shapes drawn by
Hypothesis; the online object must hold nothing that grows with the sequence.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, nn

from _helpers import CIFGCell

CELLS = [nn.RNNCell, nn.LSTMCell, nn.GRUCell, CIFGCell]


def squared_error(targets: np.ndarray):
    """loss_fn(output, t): the squared error of step t's output against targets[t]."""
    return lambda out, t: ((out - Tensor(targets[t])) ** 2).sum()


def bptt(cell, x: np.ndarray, loss_fn, state=None) -> dict[str, np.ndarray]:
    """The gradient of sum_t loss_fn(output_t, t) by backpropagation through time."""
    cell.zero_grad()
    total = None
    for t in range(len(x)):
        state = cell(Tensor(x[t]), state)
        out = state if isinstance(state, Tensor) else state[0]
        loss = loss_fn(out, t)
        total = loss if total is None else total + loss
    total.backward()
    grads = {name: p.grad.copy() for name, p in cell.named_parameters()}
    cell.zero_grad()
    return grads


def assert_same(got: dict, expected: dict, tol: float = 1e-10) -> None:
    assert list(got) == list(expected)
    for name in expected:
        scale = max(1.0, float(np.abs(expected[name]).max(initial=0.0)))
        np.testing.assert_allclose(got[name], expected[name], rtol=0, atol=tol * scale,
                                   err_msg=name)


@pytest.mark.parametrize("cell_class", CELLS, ids=lambda c: c.__name__)
@settings(max_examples=8)
@given(T=st.integers(1, 4), N=st.integers(1, 2), I=st.integers(1, 3), H=st.integers(1, 3),
       seed=st.integers(0, 2**31 - 1))
def test_rtrl_gradient_equals_bptt_over_a_sequence(cell_class, T, N, I, H, seed):
    rng = np.random.default_rng(seed)
    cell = cell_class(I, H).double()
    x = rng.standard_normal((T, N, I))
    loss_fn = squared_error(rng.standard_normal((T, N, H)))
    assert_same(tr.rtrl.gradients(cell, x, loss_fn), bptt(cell, x, loss_fn))


@pytest.mark.parametrize("cell_class", CELLS, ids=lambda c: c.__name__)
def test_rtrl_from_a_given_state_and_unbatched_input(cell_class):
    rng = np.random.default_rng(1)
    cell = cell_class(2, 3).double()
    start = tuple(Tensor(rng.standard_normal(3)) for _ in cell.state_names)
    start_arg = start[0] if len(start) == 1 else start
    x = rng.standard_normal((4, 2))  # (T, I): unbatched
    loss_fn = squared_error(rng.standard_normal((4, 3)))
    assert_same(tr.rtrl.gradients(cell, x, loss_fn, state=start_arg),
                bptt(cell, x, loss_fn, state=start_arg))


def test_rtrl_a_loss_on_some_steps_only_and_no_bias():
    rng = np.random.default_rng(2)
    cell = nn.LSTMCell(2, 3, bias=False).double()
    x = rng.standard_normal((5, 2, 2))
    w = rng.standard_normal((2, 3))

    def last_only(out, t):  # (a loss of the last step only: the sequence-classification case)
        return (out * Tensor(w)).sum() * (t == 4)

    got = tr.rtrl.gradients(cell, x, last_only)
    assert set(got) == {"weight_ih", "weight_hh"}
    assert_same(got, bptt(cell, x, last_only))


class GatedOutputCell(nn.RecurrentCell):
    """A protocol cell with a submodule of its own (a parameter under a dotted name)."""

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__(input_size, hidden_size, bias)
        self.mix = nn.Linear(hidden_size, hidden_size)

    def step(self, xp, state):
        (h,) = state
        h = (xp + self.recurrent(h)).tanh()
        return h * self.mix(h).sigmoid()


def test_rtrl_a_cell_with_a_submodule():
    rng = np.random.default_rng(3)
    cell = GatedOutputCell(2, 3).double()
    x = rng.standard_normal((3, 2, 2))
    loss_fn = squared_error(rng.standard_normal((3, 2, 3)))
    got = tr.rtrl.gradients(cell, x, loss_fn)
    assert "mix.weight" in got
    assert_same(got, bptt(cell, x, loss_fn))


# --------------------------------------------------------------------------- online


def test_online_gradient_so_far_is_bptt_of_the_prefix_and_fills_grad():
    rng = np.random.default_rng(4)
    cell = nn.GRUCell(2, 3).double()
    head = nn.Linear(3, 1).double()
    x = rng.standard_normal((5, 2, 2))
    y = rng.standard_normal((5, 2, 1))
    online = tr.rtrl.RTRL(cell, lambda out, target: ((head(out) - Tensor(target)) ** 2).sum())
    for t in range(3):  # three steps of five: the gradient of the first three losses
        loss = online.step(x[t], y[t])
        assert loss.shape == () and not loss.requires_grad
    cell_grads = {n: p.grad.copy() for n, p in cell.named_parameters()}
    head_grads = {n: p.grad.copy() for n, p in head.named_parameters()}
    assert_same(online.gradients(), cell_grads)

    def model_loss(out, t):
        return ((head(out) - Tensor(y[t])) ** 2).sum()
    head.zero_grad()
    assert_same(cell_grads, bptt(cell, x[:3], model_loss))
    assert_same(head_grads, {n: p.grad for n, p in head.named_parameters()})


def test_online_holds_nothing_that_grows_with_the_sequence():
    rng = np.random.default_rng(5)
    cell = nn.LSTMCell(2, 3).double()
    online = tr.rtrl.RTRL(cell, squared_error(rng.standard_normal((40, 2, 3))),
                          accumulate_grad=False)

    def held():
        return [(a.shape, a.nbytes) for a in online.held_arrays()]

    online.step(rng.standard_normal((2, 2)), 0)
    after_one = held()
    for t in range(1, 40):
        online.step(rng.standard_normal((2, 2)), t)
    assert held() == after_one
    P = sum(p.size for p in cell.parameters())
    # the state (h, c), their sensitivities (N, H, P) each, the gradient so far (P,)
    assert sorted(after_one) == sorted([((2, 3), 48)] * 2 + [((2, 3, P), 48 * P)] * 2
                                       + [((P,), 8 * P)])
    assert all(p.grad is None for p in cell.parameters())  # accumulate_grad=False


def test_online_reset_and_zero_grad():
    rng = np.random.default_rng(6)
    cell = nn.RNNCell(1, 2).double()
    x = rng.standard_normal((3, 1, 1))
    loss_fn = squared_error(rng.standard_normal((3, 1, 2)))
    online = tr.rtrl.RTRL(cell, loss_fn, accumulate_grad=False)
    online.step(x[0], 0)
    online.zero_grad()
    assert all(not g.any() for g in online.gradients().values())
    online.reset()
    for t in range(3):
        online.step(x[t], t)
    assert online.steps == 3
    assert_same(online.gradients(), bptt(cell, x, loss_fn))


def test_without_a_loss_only_the_state_advances():
    cell = nn.RNNCell(2, 3).double()
    online = tr.rtrl.RTRL(cell)
    x = np.ones((1, 2))
    assert online.step(x) is None
    np.testing.assert_allclose(online.state[0].data, cell(Tensor(x)).data, rtol=0, atol=1e-15)


# --------------------------------------------------------------------------- refusals


def test_refusals_name_the_function_and_change_nothing():
    cell = nn.RNNCell(2, 3).double()
    with pytest.raises(TypeError, match=r"rtrl.RTRL: cell must be an nn.RecurrentCell"):
        tr.rtrl.RTRL(nn.Linear(2, 3))
    with pytest.raises(TypeError, match=r"rtrl.RTRL: loss_fn must be a function"):
        tr.rtrl.RTRL(cell, loss_fn=3)
    with pytest.raises(TypeError, match=r"accumulate_grad must be a bool"):
        tr.rtrl.RTRL(cell, accumulate_grad="yes")
    with pytest.raises(ValueError, match=r"rtrl.gradients: x must be a sequence of shape"):
        tr.rtrl.gradients(cell, np.ones(4), lambda out, t: out.sum())
    with pytest.raises(ValueError, match=r"rtrl.RTRL: the state must be 1 tensor"):
        tr.rtrl.RTRL(cell, state=(np.zeros(3), np.zeros(3)))

    online = tr.rtrl.RTRL(cell, loss_fn=lambda out: "not a loss")
    with pytest.raises(ValueError, match=r"input must have shape \(N, 2\) or \(2,\), got "
                                         r"shape \(1, 5\)"):
        online.step(np.ones((1, 5)))
    assert online.state is None and online.steps == 0
    with pytest.raises(TypeError, match=r"RTRL.step: loss_fn must return a one-element Tensor"):
        online.step(np.ones((1, 2)))
    assert online.state is None and online.steps == 0
    assert all(p.grad is None for p in cell.parameters())
