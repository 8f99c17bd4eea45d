"""RNNCell, LSTMCell, GRUCell: gradients proven by finite differences, torch parity,
gate views, shapes and errors."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, nn

from _helpers import make_inputs
from make_golden import flatten, torch_reference

CELLS = ["RNNCell", "LSTMCell", "GRUCell"]


@st.composite
def cell_configs(draw):
    kind = draw(st.sampled_from(CELLS))
    kwargs = dict(input_size=draw(st.integers(1, 3)), hidden_size=draw(st.integers(1, 3)),
                  bias=draw(st.booleans()))
    if kind == "RNNCell":
        kwargs["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    batch = draw(st.sampled_from([(), (1,), (3,)]))  # () is an unbatched input
    return kind, kwargs, (*batch, kwargs["input_size"]), draw(st.booleans())


def call(cell, x, states):
    if not states:
        return cell(x)
    return cell(x, tuple(states)) if isinstance(cell, nn.LSTMCell) else cell(x, states[0])


# --------------------------------------------------------------------------- gradients


@settings(max_examples=30, deadline=None)
@given(config=cell_configs())
def test_cell_gradcheck(config):
    kind, kwargs, x_shape, given_state = config
    cell = getattr(nn, kind)(**kwargs)
    x, states = make_inputs(kind, kwargs, x_shape, given_state)
    assert tr.gradcheck(lambda x, *s: call(cell, x, list(s)), [x, *states],
                        params=dict(cell.named_parameters()))


@settings(max_examples=30, deadline=None)
@given(config=cell_configs(), seed=st.integers(0, 2**16))
def test_cell_matches_torch(config, seed):
    pytest.importorskip("torch")
    import torch

    kind, kwargs, x_shape, given_state = config
    torch.manual_seed(seed)
    torch_cell = getattr(torch.nn, kind)(**kwargs)
    torch_sd = {k: v.double().numpy() for k, v in torch_cell.state_dict().items()}
    cell = getattr(nn, kind)(**kwargs)
    cell.load_state_dict(torch_sd)  # torch's state dict, unchanged
    x, states = make_inputs(kind, kwargs, x_shape, given_state, seed)
    outs = flatten(call(cell, x, states))
    rng = np.random.default_rng(seed + 1)
    upstream = [rng.standard_normal(o.shape) for o in outs]
    sum((o * Tensor(v)).sum() for o, v in zip(outs, upstream)).backward()

    ref = torch_reference(kind, kwargs, torch_sd, x.data, [s.data for s in states], upstream)
    for ours, theirs in zip(outs, ref["outputs"]):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours.data, theirs, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(x.grad, ref["grad_x"], rtol=1e-8, atol=1e-12)
    for s, g in zip(states, ref["grad_states"]):
        np.testing.assert_allclose(s.grad, g, rtol=1e-8, atol=1e-12)
    assert list(ref["grad_params"]) == [n for n, _ in cell.named_parameters()]
    for name, p in cell.named_parameters():
        np.testing.assert_allclose(p.grad, ref["grad_params"][name], rtol=1e-8, atol=1e-12)


# --------------------------------------------------------------------------- the equations


def test_lstm_cell_follows_its_equations():
    """Check against the equations written out in numpy, gate by gate (i, f, g, o)."""
    cell = nn.LSTMCell(2, 3)
    rng = np.random.default_rng(0)
    x, h, c = rng.standard_normal((4, 2)), rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    def sig(v):
        return 1 / (1 + np.exp(-v))

    gates = (x @ cell.weight_ih.data.T + cell.bias_ih.data
             + h @ cell.weight_hh.data.T + cell.bias_hh.data)
    i, f, g, o = np.split(gates, 4, axis=1)
    c_new = sig(f) * c + sig(i) * np.tanh(g)
    h_new, c_out = cell(Tensor(x), (Tensor(h), Tensor(c)))
    np.testing.assert_allclose(c_out.data, c_new, rtol=1e-12)
    np.testing.assert_allclose(h_new.data, sig(o) * np.tanh(c_new), rtol=1e-12)


def test_gru_cell_applies_reset_to_the_recurrent_term_with_its_bias():
    cell = nn.GRUCell(2, 3)
    rng = np.random.default_rng(1)
    x, h = rng.standard_normal((2, 2)), rng.standard_normal((2, 3))
    def sig(v):
        return 1 / (1 + np.exp(-v))

    xr, xz, xn = np.split(x @ cell.weight_ih.data.T + cell.bias_ih.data, 3, axis=1)
    hr, hz, hn = np.split(h @ cell.weight_hh.data.T + cell.bias_hh.data, 3, axis=1)
    r, z = sig(xr + hr), sig(xz + hz)
    n = np.tanh(xn + r * hn)
    np.testing.assert_allclose(cell(Tensor(x), Tensor(h)).data, (1 - z) * n + z * h, rtol=1e-12)


@pytest.mark.parametrize("nonlinearity,act",
                         [("tanh", np.tanh), ("relu", lambda v: np.maximum(v, 0))])
def test_rnn_cell_follows_its_equation(nonlinearity, act):
    cell = nn.RNNCell(3, 2, nonlinearity=nonlinearity)
    rng = np.random.default_rng(2)
    x, h = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    pre = (x @ cell.weight_ih.data.T + cell.bias_ih.data
           + h @ cell.weight_hh.data.T + cell.bias_hh.data)
    np.testing.assert_allclose(cell(Tensor(x), Tensor(h)).data, act(pre), rtol=1e-12)


# --------------------------------------------------------------------------- shapes, names, init


@pytest.mark.parametrize("kind,gates", [("RNNCell", 1), ("LSTMCell", 4), ("GRUCell", 3)])
def test_parameter_names_shapes_and_init(kind, gates):
    tr.manual_seed(0)
    cell = getattr(nn, kind)(5, 16)
    assert [(n, p.shape) for n, p in cell.named_parameters()] == [
        ("weight_ih", (gates * 16, 5)), ("weight_hh", (gates * 16, 16)),
        ("bias_ih", (gates * 16,)), ("bias_hh", (gates * 16,))]
    everything = np.concatenate([p.data.ravel() for p in cell.parameters()])
    k = 1 / 4.0  # 1 / sqrt(hidden_size)
    assert np.abs(everything).max() <= k
    assert abs(everything.std() - k / np.sqrt(3)) < 0.1 * k / np.sqrt(3)
    assert [n for n, _ in getattr(nn, kind)(5, 16, bias=False).named_parameters()] == [
        "weight_ih", "weight_hh"]


def test_repr_matches_torch():
    torch = pytest.importorskip("torch")
    for ours, theirs in [(nn.LSTMCell(3, 4), torch.nn.LSTMCell(3, 4)),
                         (nn.GRUCell(3, 4, bias=False), torch.nn.GRUCell(3, 4, bias=False)),
                         (nn.RNNCell(2, 5, nonlinearity="relu"),
                          torch.nn.RNNCell(2, 5, nonlinearity="relu"))]:
        assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("kind", CELLS)
def test_missing_state_means_zeros(kind):
    cell = getattr(nn, kind)(2, 3)
    x = Tensor(np.random.default_rng(0).standard_normal((4, 2)))
    zeros = [Tensor(np.zeros((4, 3)))] * (2 if kind == "LSTMCell" else 1)
    for a, b in zip(flatten(cell(x)), flatten(call(cell, x, zeros))):
        np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("kind", CELLS)
def test_unbatched_input_gives_unbatched_output(kind):
    cell = getattr(nn, kind)(2, 3)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(2)
    states = [rng.standard_normal(3) for _ in range(2 if kind == "LSTMCell" else 1)]
    unbatched = flatten(call(cell, Tensor(x), [Tensor(s) for s in states]))
    batched = flatten(call(cell, Tensor(x[None]), [Tensor(s[None]) for s in states]))
    for u, b in zip(unbatched, batched):
        assert u.shape == (3,)
        np.testing.assert_array_equal(u.data, b.data[0])


@pytest.mark.parametrize("kind", CELLS)
def test_float32_end_to_end(kind):
    cell = getattr(nn, kind)(3, 4)
    x64, states64 = make_inputs(kind, dict(hidden_size=4), (2, 3), True)
    ref = flatten(call(cell, x64, states64))
    cell.float()
    x, states = make_inputs(kind, dict(hidden_size=4), (2, 3), True, dtype=np.float32)
    outs = flatten(call(cell, x, states))
    sum(o.sum() for o in outs).backward()
    for o, r in zip(outs, ref):
        assert o.dtype == np.float32
        np.testing.assert_allclose(o.data, r.data, rtol=1e-5, atol=1e-6)
    assert x.grad.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in cell.parameters())


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("kind", CELLS)
def test_wrong_feature_size_names_both_sizes(kind):
    cell = getattr(nn, kind)(3, 2)
    with pytest.raises(ValueError, match=r"expected input with 3 features.*got 5"):
        cell(Tensor(np.ones((4, 5))))


@pytest.mark.parametrize("kind", CELLS)
def test_wrong_state_shape_names_the_expected_shape(kind):
    cell = getattr(nn, kind)(3, 2)
    bad = [Tensor(np.ones((4, 3)))] * (2 if kind == "LSTMCell" else 1)
    with pytest.raises(ValueError, match=r"expected h of shape \(4, 2\), got \(4, 3\)"):
        call(cell, Tensor(np.ones((4, 3))), bad)
    if kind == "LSTMCell":
        with pytest.raises(ValueError, match=r"expected c of shape \(2,\), got \(3,\)"):
            cell(Tensor(np.ones(3)), (Tensor(np.ones(2)), Tensor(np.ones(3))))


@pytest.mark.parametrize("kind", CELLS)
def test_an_input_or_state_of_another_dtype_is_refused(kind):
    cell = getattr(nn, kind)(3, 2).double()
    with pytest.raises(TypeError, match=rf"{kind}: the input has dtype float32 but the "
                                        r"parameters have dtype float64.*\.float\(\)"):
        cell(np.ones((4, 3), np.float32))
    state = [Tensor(np.zeros((4, 2), np.float32))] * (2 if kind == "LSTMCell" else 1)
    with pytest.raises(TypeError, match="the state h has dtype float32"):
        call(cell, Tensor(np.ones((4, 3))), state)


def test_linear_refuses_an_input_of_another_dtype():
    with pytest.raises(TypeError, match="Linear: the input has dtype float64 but the "
                                        "parameters have dtype float32"):
        nn.Linear(3, 2).float()(np.ones((4, 3)))


def test_the_conversion_the_dtype_error_suggests_works_and_gradients_flow_back():
    lin = nn.Linear(3, 2).float()
    x = Tensor(np.ones((4, 3)), requires_grad=True)
    with pytest.raises(TypeError, match=r"x\.to\(np\.float32\) for a Tensor"):
        lin(x)
    out = lin(x.to(np.float32))
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float64 and lin.weight.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, np.tile(lin.weight.data.sum(axis=0), (4, 1)), rtol=1e-6)


def test_bad_nonlinearity():
    with pytest.raises(ValueError, match="tanh"):
        nn.RNNCell(2, 2, nonlinearity="sigmoid")


# --------------------------------------------------------------------------- gate views


def test_lstm_gate_views_are_writable_rows():
    cell = nn.LSTMCell(2, 3)
    cell.gate("f").bias_ih[:] = 1.0
    np.testing.assert_array_equal(cell.bias_ih.data[3:6], 1.0)
    assert not np.any(cell.bias_ih.data[:3] == 1.0) and not np.any(cell.bias_ih.data[6:] == 1.0)
    g = cell.gate("g")
    np.testing.assert_array_equal(g.weight_ih, cell.weight_ih.data[6:9])
    np.testing.assert_array_equal(g.weight_hh, cell.weight_hh.data[6:9])
    assert g.grad.weight_ih is None
    h, c = cell(Tensor(np.ones((1, 2))))
    c.sum().backward()
    np.testing.assert_array_equal(g.grad.bias_hh, cell.bias_hh.grad[6:9])
    # the output gate does not reach c, so its rows get no gradient from c
    np.testing.assert_array_equal(cell.gate("o").grad.weight_ih, 0.0)


def test_gru_gate_view_rows_and_errors():
    cell = nn.GRUCell(2, 3, bias=False)
    np.testing.assert_array_equal(cell.gate("n").weight_hh, cell.weight_hh.data[6:9])
    assert cell.gate("r").bias_ih is None
    with pytest.raises(ValueError, match="r, z, n"):
        cell.gate("f")
    with pytest.raises(ValueError, match="no gates"):
        nn.RNNCell(2, 3).gate("i")
