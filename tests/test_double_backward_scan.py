"""Second derivatives through the scanned recurrent layers (issue 17, item 1).

A layer run as one ``Scan`` node re-expands its steps op by op under create_graph
(``scan.differentiable_backward``). Its second derivatives must be the op-by-op
layer's (built inside ``replay.disabled()``) to 1e-12, and torch's double backward
(float64, CPU: no cuDNN) to 1e-10: padded, bidirectional, two layers, packed, and a
cell of the protocol of one's own (CIFG, no torch version: op by op and finite
differences). First order never meets the new code (the first-order backward is
checked unchanged by the rest of the suite, bit for bit against op by op).
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor

from _helpers import CONFIGS, KINDS, assert_close, elman, graph_nodes, make_layer, torch_layer

rnn_utils = tr.nn.utils.rnn
def run(layer, x, lengths=None, states=(), op_by_op=False):
    """(every output, the final states): padded, or packed when ``lengths`` are given;
    from ``states`` (h, or h and c) when given."""
    def forward():
        inp = x if lengths is None else rnn_utils.pack_padded_sequence(x, lengths)
        if not states:
            out, final = layer(inp)
        else:
            out, final = layer(inp, tuple(states) if len(states) == 2 else states[0])
        out = out if lengths is None else out.data
        return out, list(final) if isinstance(final, tuple) else [final]
    if op_by_op:
        with tr.replay.disabled():
            return forward()
    return forward()


def loss_of(out, finals):
    """A loss that reaches every output and final state, with second derivatives in all."""
    loss = (out * out).sum()
    for k, f in enumerate(finals):
        loss = loss + ((f * (k + 1.5)).tanh() * f).sum()
    return loss


def second_derivatives(layer, x, lengths=None, states=(), op_by_op=False):
    """d/dp of sum |dL/dp|^2 over the inputs and parameters p, and dL/dp on the way."""
    out, finals = run(layer, x, lengths, states, op_by_op)
    params = [x, *states, *layer.parameters()]
    grads = tr.grad(loss_of(out, finals), params, create_graph=True)
    second = tr.grad(sum((g * g).sum() for g in grads), params)
    return [g.data for g in grads], [s.data for s in second], out


def scans(out):
    """How many Scan nodes made ``out``."""
    return sum("Scan" in node.fn.__name__ for node in graph_nodes(out))


def inputs(shape, seed=1):
    return Tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


# --------------------------------------------------------------------------- op by op


@pytest.mark.parametrize("config", CONFIGS, ids=list(CONFIGS))
@pytest.mark.parametrize("kind", [*KINDS, "CIFG"])
def test_a_scanned_layers_second_derivatives_are_the_op_by_op_layers(kind, config):
    kwargs = CONFIGS[config]
    layer = make_layer(kind, **kwargs)
    x = inputs((2, 5, 3) if kwargs.get("batch_first") else (5, 2, 3))
    g_scan, h_scan, out = second_derivatives(layer, x)
    assert scans(out) == layer.num_layers * (2 if kwargs.get("bidirectional") else 1)
    g_ops, h_ops, out = second_derivatives(layer, x, op_by_op=True)
    assert scans(out) == 0
    assert_close(g_scan, g_ops, 1e-12, "first derivative")
    assert_close(h_scan, h_ops, 1e-12, "second derivative")


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind", [*KINDS, "CIFG"])
def test_a_packed_batch_with_a_given_state_as_op_by_op(kind, bidirectional):
    layer = make_layer(kind, num_layers=2, bidirectional=bidirectional)
    x = inputs((4, 3, 3))
    n_states = 2 if kind in ("LSTM", "CIFG") else 1
    shape = (2 * (2 if bidirectional else 1), 3, 4)
    state = [inputs(shape, seed=7 + k) for k in range(n_states)]
    lengths = [4, 2, 1]  # the batch shrinks twice: the state is cut, and joined in reverse
    g_scan, h_scan, _ = second_derivatives(layer, x, lengths, state)
    g_ops, h_ops, _ = second_derivatives(layer, x, lengths, state, op_by_op=True)
    assert_close(g_scan, g_ops, 1e-12, "first derivative")
    assert_close(h_scan, h_ops, 1e-12, "second derivative")


@given(kind=st.sampled_from([*KINDS, "CIFG"]), steps=st.integers(1, 4),
       lengths=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       bidirectional=st.booleans(), hidden=st.integers(1, 3), seed=st.integers(0, 99))
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_batch_shape_gives_the_op_by_op_second_derivatives(kind, steps, lengths,
                                                               bidirectional, hidden, seed):
    layer = make_layer(kind, hidden, bidirectional=bidirectional)
    lengths = sorted([min(n, steps) for n in lengths], reverse=True)
    packed = seed % 2 == 1
    x = inputs((steps, len(lengths), 3), seed)
    lengths = lengths if packed else None
    g_scan, h_scan, _ = second_derivatives(layer, x, lengths)
    g_ops, h_ops, _ = second_derivatives(layer, x, lengths, op_by_op=True)
    assert_close(g_scan, g_ops, 1e-12, "first derivative")
    assert_close(h_scan, h_ops, 1e-12, "second derivative")


def test_a_custom_cells_second_derivatives_match_finite_differences():
    layer = make_layer("CIFG", hidden=2)
    x = inputs((3, 2, 3))
    out, _ = run(layer, x)
    assert "Scan" in out.grad_fn.__name__
    assert tr.gradgradcheck(lambda seq: loss_of(*run(layer, seq)), [x])


def test_replay_scan_of_a_step_is_twice_differentiable_in_all_its_inputs():
    xs, h0, w = inputs((4, 2, 3)), inputs((2, 3), 2), inputs((3, 3), 3)
    out, (h_n,) = tr.replay.scan(elman(w), [xs], [h0], fixed=[w])
    assert "Scan" in out.grad_fn.__name__
    assert tr.gradgradcheck(
        lambda a, b, c: tr.replay.scan(elman(c), [a], [b], fixed=[c])[0], [xs, h0, w])
    seconds = []
    for op_by_op in (False, True):
        if op_by_op:
            with tr.replay.disabled():
                out, (h_n,) = tr.replay.scan(elman(w), [xs], [h0], fixed=[w])
        else:
            out, (h_n,) = tr.replay.scan(elman(w), [xs], [h0], fixed=[w])
        grads = tr.grad(loss_of(out, [h_n]), [xs, h0, w], create_graph=True)
        seconds.append([g.data for g in tr.grad(sum((g * g).sum() for g in grads),
                                                [xs, h0, w])])
    assert_close(*seconds, 1e-12, "second derivative")


def test_an_input_computed_from_another_input_is_differentiated_once():
    """The sequence is made from the fixed weight: the re-expansion must stop at the
    node's inputs, or the weight's share through the sequence would count twice."""
    w, h0 = inputs((3, 3), 4), inputs((2, 3), 5)
    base = inputs((4, 2, 3), 6)
    seconds = []
    for op_by_op in (False, True):
        def forward():
            return tr.replay.scan(elman(w), [base @ w], [h0], fixed=[w])
        if op_by_op:
            with tr.replay.disabled():
                out, (h_n,) = forward()
        else:
            out, (h_n,) = forward()
            assert "Scan" in out.grad_fn.__name__
        grads = tr.grad(loss_of(out, [h_n]), [w, h0], create_graph=True)
        seconds.append([g.data for g in grads]
                       + [g.data for g in tr.grad(sum((g * g).sum() for g in grads), [w, h0])])
    assert_close(*seconds, 1e-12, "derivative")


def test_a_third_derivative_goes_through_the_re_expanded_steps():
    """d3/dx3 of a scanned RNN's loss, by three nested grads, equals op by op's."""
    results = []
    for op_by_op in (False, True):
        layer = make_layer("RNN")
        x = inputs((3, 1, 3))
        out, finals = run(layer, x, op_by_op=op_by_op)
        (g,) = tr.grad(loss_of(out, finals), x, create_graph=True)
        (h,) = tr.grad((g * g).sum(), x, create_graph=True)
        (third,) = tr.grad((h * h).sum(), x)
        results.append(third.data)
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12, atol=1e-12)


def test_first_order_gradients_of_a_scanned_layer_stay_arrays_and_do_not_re_expand():
    layer = make_layer("LSTM")
    x = inputs((5, 2, 3))
    out, finals = run(layer, x)
    node = out._node
    loss_of(out, finals).backward()
    assert type(x.grad) is np.ndarray
    assert node.saved_tensors is tr.autograd.FREED  # freed as any node, inputs and all


# --------------------------------------------------------------------------- torch


def torch_second_derivatives(torch, theirs, x, lengths=None, state=None):
    tx = torch.tensor(x.data, requires_grad=True)
    t_state = [torch.tensor(s.data, requires_grad=True) for s in state or ()]
    inp = tx if lengths is None else torch.nn.utils.rnn.pack_padded_sequence(tx, lengths)
    if t_state:
        out, final = theirs(inp, tuple(t_state) if len(t_state) == 2 else t_state[0])
    else:
        out, final = theirs(inp)
    out = out if lengths is None else out.data
    finals = list(final) if isinstance(final, tuple) else [final]
    loss = (out * out).sum()
    for k, f in enumerate(finals):
        loss = loss + ((f * (k + 1.5)).tanh() * f).sum()
    params = [tx, *t_state, *theirs.parameters()]
    grads = torch.autograd.grad(loss, params, create_graph=True)
    second = torch.autograd.grad(sum((g * g).sum() for g in grads), params)
    return [g.detach().numpy() for g in grads], [s.numpy() for s in second]


@pytest.mark.parametrize("config", CONFIGS, ids=list(CONFIGS))
@pytest.mark.parametrize("kind", KINDS)
def test_a_scanned_layers_second_derivatives_match_torch(kind, config):
    torch = pytest.importorskip("torch")
    kwargs = CONFIGS[config]
    layer = make_layer(kind, **kwargs)
    x = inputs((2, 5, 3) if kwargs.get("batch_first") else (5, 2, 3))
    g_ours, h_ours, out = second_derivatives(layer, x)
    assert scans(out) > 0
    g_torch, h_torch = torch_second_derivatives(torch, torch_layer(torch, layer, kind, **kwargs), x)
    assert_close(g_ours, g_torch, 1e-10, "first derivative")
    assert_close(h_ours, h_torch, 1e-10, "second derivative")


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_a_packed_scanned_layers_second_derivatives_match_torch(kind, bidirectional):
    torch = pytest.importorskip("torch")
    kwargs = dict(num_layers=2, bidirectional=bidirectional)
    layer = make_layer(kind, **kwargs)
    x = inputs((4, 3, 3))
    shape = (2 * (2 if bidirectional else 1), 3, 4)
    state = [inputs(shape, seed=7 + k) for k in range(2 if kind == "LSTM" else 1)]
    lengths = [4, 2, 1]
    g_ours, h_ours, _ = second_derivatives(layer, x, lengths, state)
    g_torch, h_torch = torch_second_derivatives(torch, torch_layer(torch, layer, kind, **kwargs),
                                                x, lengths, state)
    assert_close(g_ours, g_torch, 1e-10, "first derivative")
    assert_close(h_ours, h_torch, 1e-10, "second derivative")
