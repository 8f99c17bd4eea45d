"""nn.Recurrent says when a cell's step cannot be scanned (replay.ScanFallbackWarning,
once per cell class and reason, naming the reason), and still gives torch's results."""

import re
import warnings

import numpy as np
import pytest
import torch

from tinygrad_rnn import Tensor, nn, replay

RNG = np.random.default_rng(15)
X = RNG.standard_normal((5, 2, 3))


def scanned(out):
    return isinstance(getattr(out.grad_fn, "program", None), replay.Program)


def scaled_cell_class(scale):
    """A fresh cell class whose step reads ``scale``, a tensor from outside the cell."""

    class ScaledCell(nn.RecurrentCell):
        def step(self, xp, state):
            (h,) = state
            return (xp + self.recurrent(h)).tanh() * scale

    return ScaledCell


def torch_scaled(layer, scale):
    """The same layer in torch, a plain loop over time; returns (out, h, params, scale)."""
    cell = layer.cell()
    params = [torch.tensor(p.data, requires_grad=True)
              for p in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)]
    s = torch.tensor(scale.data, requires_grad=True)
    w_ih, w_hh, b_ih, b_hh = params
    h, outs = torch.zeros(2, 4, dtype=torch.float64), []
    for x_t in torch.tensor(X):
        h = torch.tanh(x_t @ w_ih.T + b_ih + h @ w_hh.T + b_hh) * s
        outs.append(h)
    return torch.stack(outs), h, params, s


def test_a_cell_reading_a_tensor_that_requires_grad_warns_once_and_matches_torch():
    scale = Tensor(RNG.uniform(0.5, 1.5, 4), requires_grad=True)
    layer = nn.Recurrent(scaled_cell_class(scale), 3, 4, num_layers=2).double()
    with pytest.warns(replay.ScanFallbackWarning, match=re.escape(
            "nn.Recurrent runs ScaledCell.step op by op, not as one Scan node: it reads a "
            "tensor of shape (4,) that requires grad but is neither a sequence slice, a state "
            "nor in fixed; make it a Parameter of the cell")) as caught:
        out, h = layer(Tensor(X))
    assert len([w for w in caught if w.category is replay.ScanFallbackWarning]) == 1
    assert caught[0].filename == __file__  # (the user's line)
    assert not scanned(out)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once
        layer(Tensor(X))

    one = nn.Recurrent(scaled_cell_class(scale), 3, 4).double()
    with pytest.warns(replay.ScanFallbackWarning):
        out, h = one(Tensor(X))
    (out * out).sum().backward()
    t_out, t_h, t_params, t_scale = torch_scaled(one, scale)
    (t_out * t_out).sum().backward()
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(h.data[0], t_h.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(scale.grad, t_scale.grad.numpy(), rtol=0, atol=1e-12)
    cell = one.cell()
    for p, t in zip((cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh), t_params):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=0, atol=1e-12)


def test_no_warning_inside_disabled_nor_for_a_cell_that_scans():
    scale = Tensor(RNG.uniform(0.5, 1.5, 4), requires_grad=True)
    layer = nn.Recurrent(scaled_cell_class(scale), 3, 4).double()
    constant = Tensor(RNG.uniform(0.5, 1.5, 4))  # no grad: a constant, scanned
    plain = nn.Recurrent(scaled_cell_class(constant), 3, 4).double()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with replay.disabled():
            layer(Tensor(X))
        out, _ = plain(Tensor(X))
    assert scanned(out)


@pytest.mark.parametrize("made_from", ["state", "an op's output"])
def test_a_constant_made_of_a_step_values_numbers_is_not_frozen_at_the_first_step(made_from):
    """Tensor(h.data) inside a step: a recording would bake the first step's numbers
    into every step; the step runs op by op instead, as it does in replay.disabled()."""

    class PeekingCell(nn.RecurrentCell):
        def step(self, xp, state):
            (h,) = state
            a = xp + self.recurrent(h)
            peeked = Tensor(h.data) if made_from == "state" else Tensor(a.data)
            return a.tanh() + 0.5 * peeked

    layer = nn.Recurrent(PeekingCell, 3, 4)
    with pytest.warns(replay.ScanFallbackWarning, match=r"constant of a step value's numbers"):
        out, h_n = layer(Tensor(X))
    with replay.disabled():
        expected, expected_h = layer(Tensor(X))
    assert not scanned(out)
    assert np.array_equal(out.data, expected.data) and np.array_equal(h_n.data, expected_h.data)


def test_replay_scan_does_not_freeze_a_constant_made_of_the_state():
    def step(x, h):
        return (x + h).tanh() + Tensor(h.data)

    xs = RNG.standard_normal((4, 2, 3))
    h0 = Tensor(np.zeros((2, 3)))
    with pytest.warns(replay.ScanFallbackWarning, match=r"freeze"):
        out, _ = replay.scan(step, [Tensor(xs)], [h0])
    h, outs = h0.data, []
    for x_t in xs:
        h = np.tanh(x_t + h) + h
        outs.append(h)
    assert np.allclose(np.stack(outs), out.data, rtol=0, atol=1e-15)
