"""Forward mode through the scanned recurrent layers (issue 17, item 2).

A layer run as one ``Scan`` node carries tangents by one more Scan node, whose step is
the layer's with its tangents' rules recorded beside its ops (``scan_jvp.fused_jvp``), or,
for a step whose rules cannot be replayed, by re-running its steps op by op with the
tangents active (``scan.expanded_jvp``). Its jvp must be the op-by-op layer's (built
inside ``replay.disabled()``) to 1e-12 (padded, bidirectional, two layers, packed with a
given state, a cell of one's own, tangents of the fixed inputs (weights) too; and nested,
hessian = jacfwd(jacrev)), and torch.func.jvp's on torch's padded layers (float64) at
1e-10 (torch's functorch fails inside its packed RNN: "Cannot access data pointer").
"""

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor

from _helpers import (
    CONFIGS,
    KINDS,
    assert_close,
    elman,
    make_layer,
    scan_jvps_counted,
    torch_layer,
)

rnn_utils = tr.nn.utils.rnn


def _random(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def _layer_fn(layer, lengths=None):
    """The layer as a function of (the sequence, its initial states), returning every
    output and final state."""
    def f(x, *states):
        inp = x if lengths is None else rnn_utils.pack_padded_sequence(x, lengths)
        if not states:
            out, final = layer(inp)
        else:
            out, final = layer(inp, tuple(states) if len(states) == 2 else states[0])
        out = out if lengths is None else out.data
        return (out, *(final if isinstance(final, tuple) else (final,)))
    return f


def _jvp(layer, primals, tangents, lengths=None, op_by_op=False, fused_only=True):
    """(the outputs, their tangents, how many Scan nodes carried tangents). With
    ``fused_only``, a rule that fell back to re-running the steps op by op
    (``scan.expanded_jvp``) is not counted: the built-in layers' steps are replayed with
    their tangents."""
    with scan_jvps_counted() as calls:
        f = _layer_fn(layer, lengths)
        if op_by_op:
            with tr.replay.disabled():
                outs, t_outs = tr.func.jvp(f, primals, tangents)
        else:
            outs, t_outs = tr.func.jvp(f, primals, tangents)
    count = sum(kind == "fused" for kind, _ in calls) if fused_only else len(calls)
    return [o.data for o in outs], [t.data for t in t_outs], count



def _state_shape(layer, batch):
    return (layer.num_layers * (2 if layer.bidirectional else 1), batch, layer.hidden_size)


def _case(kind, config, seed=1):
    kwargs = CONFIGS[config]
    layer = make_layer(kind, **kwargs)
    shape = (2, 5, 3) if kwargs.get("batch_first") else (5, 2, 3)
    return layer, (_random(shape, seed),), (_random(shape, seed + 1),)


@pytest.mark.parametrize("config", CONFIGS, ids=list(CONFIGS))
@pytest.mark.parametrize("kind", [*KINDS, "CIFG"])
def test_a_scanned_layers_jvp_is_the_op_by_op_layers(kind, config):
    layer, primals, tangents = _case(kind, config)
    outs, t_scan, scans = _jvp(layer, primals, tangents)
    assert scans == layer.num_layers * (2 if layer.bidirectional else 1)
    outs_ops, t_ops, scans = _jvp(layer, primals, tangents, op_by_op=True)
    assert scans == 0
    assert_close(outs, outs_ops, 1e-12, "output")
    assert_close(t_scan, t_ops, 1e-12, "tangent")


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind", [*KINDS, "CIFG"])
def test_a_packed_batch_from_a_given_state_as_op_by_op(kind, bidirectional):
    layer = make_layer(kind, num_layers=2, bidirectional=bidirectional)
    n_states = 2 if kind in ("LSTM", "CIFG") else 1
    shapes = [(4, 3, 3)] + [_state_shape(layer, 3)] * n_states
    primals = tuple(_random(s, 10 + k) for k, s in enumerate(shapes))
    tangents = tuple(_random(s, 20 + k) for k, s in enumerate(shapes))
    lengths = [4, 2, 1]  # the batch shrinks twice: the state is cut, and joined in reverse
    _, t_scan, scans = _jvp(layer, primals, tangents, lengths)
    assert scans > 0
    _, t_ops, _ = _jvp(layer, primals, tangents, lengths, op_by_op=True)
    assert_close(t_scan, t_ops, 1e-12, "tangent")


def test_the_fixed_inputs_tangents_go_through_the_steps():
    xs, h0, w = _random((4, 2, 3), 1), _random((2, 3), 2), _random((3, 3), 3)
    us = tuple(_random(a.shape, 10 + k) for k, a in enumerate((xs, h0, w)))

    def f(a, b, c):
        out, (h_n,) = tr.replay.scan(elman(c), [a], [b], fixed=[c])
        return out, h_n

    ours = tr.func.jvp(f, (xs, h0, w), us)[1]
    with tr.replay.disabled():
        op_by_op = tr.func.jvp(f, (xs, h0, w), us)[1]
    assert_close([t.data for t in ours], [t.data for t in op_by_op], 1e-12, "tangent")
    h = 1e-6  # and central finite differences along the tangents
    plus = f(*[Tensor(a + h * u) for a, u in zip((xs, h0, w), us)])
    minus = f(*[Tensor(a - h * u) for a, u in zip((xs, h0, w), us)])
    assert_close([t.data for t in ours], [(p.data - m.data) / (2 * h)
                                           for p, m in zip(plus, minus)], 1e-7, "numeric")


DERIVED_MASKS = {  # a rule reading the mask its forward saved; one making a mask by ops'
    # backward (the ties of a max)
    "leaky_relu": lambda z: tr.functional.leaky_relu(z, 0.1),
    "amax": lambda z: z.tanh() - z.amax(dim=-1, keepdim=True),
}


@pytest.mark.parametrize("op", DERIVED_MASKS)
def test_a_step_whose_rule_reads_a_derived_mask_falls_back_to_op_by_op(op):
    """A rule that reads a mask of the step's numbers would be frozen at the first step's
    by a recording: the Scan's rule re-runs the steps op by op instead, and is right."""
    xs, h0, w = _random((6, 2, 3), 1), _random((2, 3), 2), Tensor(_random((3, 3), 3))
    us = tuple(_random(a.shape, 10 + k) for k, a in enumerate((xs, h0)))
    act = DERIVED_MASKS[op]

    def f(a, b):
        step = lambda x, h: (act(x + h @ w),)  # noqa: E731
        out, (h_n,) = tr.replay.scan(step, [a], [b], fixed=[w])
        return out, h_n

    with scan_jvps_counted() as calls:
        ours = tr.func.jvp(f, (xs, h0), us)[1]
    assert [kind for kind, _ in calls] == ["expanded"]
    with tr.replay.disabled():
        op_by_op = tr.func.jvp(f, (xs, h0), us)[1]
    assert_close([t.data for t in ours], [t.data for t in op_by_op], 1e-12, "tangent")


@pytest.mark.parametrize("kind", [*KINDS, "CIFG"])
def test_jvp_of_jvp_through_a_scanned_layer_is_the_op_by_op_one(kind):
    """Nested forward mode: the inner rule's Scan node carries the outer tangent by a
    Scan of its own (the step, its tangents, and their tangents)."""
    layer = make_layer(kind, num_layers=2)
    x, u, w = (_random((4, 2, 3), k) for k in (1, 2, 3))

    def directional(v):
        return tr.func.jvp(lambda a: _layer_fn(layer)(a)[0], (v,), (u,))[1]

    ours = tr.func.jvp(directional, (x,), (w,))[1].data
    with tr.replay.disabled():
        op_by_op = tr.func.jvp(directional, (x,), (w,))[1].data
    assert_close([ours], [op_by_op], 1e-12, "second-order tangent")
    assert np.abs(ours).max() > 1e-3


@pytest.mark.parametrize("kind", [*KINDS, "CIFG"])
def test_reverse_over_forward_through_a_scanned_layer_is_the_op_by_op_one(kind):
    """The gradient of a directional derivative (an hvp): the engine's first-order
    backward through the fused rule's Scan node, weights' gradients included."""
    layer = make_layer(kind, num_layers=2, bidirectional=True)
    x, u = _random((4, 2, 3), 1), _random((4, 2, 3), 2)

    def run():
        layer.zero_grad()
        v = Tensor(x, requires_grad=True)
        _, d = tr.func.jvp(lambda a: (_layer_fn(layer)(a)[0] ** 2).sum(), (v,), (u,))
        d.backward()
        return [v.grad, *[p.grad for p in layer.parameters()]]

    ours = run()
    with tr.replay.disabled():
        op_by_op = run()
    assert_close(ours, op_by_op, 1e-12, "gradient")


def test_hessian_through_a_scanned_lstm_is_the_op_by_op_one():
    """jacfwd(jacrev): the Scan rule runs while the re-expanded backward carries tangents."""
    layer = make_layer("LSTM", hidden=2)
    x = _random((3, 1, 2 + 1), 4)

    def loss(v):
        out, (h_n, c_n) = layer(v)
        return (out * out).sum() + (h_n * c_n).sum()

    scanned = tr.func.hessian(loss)(x).data
    with tr.replay.disabled():
        op_by_op = tr.func.hessian(loss)(x).data
    np.testing.assert_allclose(scanned, op_by_op, rtol=1e-12, atol=1e-12)
    assert np.abs(scanned).max() > 1e-3


# --------------------------------------------------------------------------- torch


@pytest.mark.parametrize("config", CONFIGS, ids=list(CONFIGS))
@pytest.mark.parametrize("kind", KINDS)
def test_a_scanned_layers_jvp_matches_torch(kind, config):
    torch = pytest.importorskip("torch")
    layer, primals, tangents = _case(kind, config)
    outs, t_ours, scans = _jvp(layer, primals, tangents)
    assert scans > 0
    theirs = torch_layer(torch, layer, kind, **CONFIGS[config])

    def f(x):
        out, final = theirs(x)
        return (out, *(final if isinstance(final, tuple) else (final,)))

    _, t_theirs = torch.func.jvp(f, (torch.tensor(primals[0]),), (torch.tensor(tangents[0]),))
    assert_close(t_ours, [t.detach().numpy() for t in t_theirs], 1e-10, "tangent")
