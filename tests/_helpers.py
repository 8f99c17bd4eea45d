"""Helpers shared by several test files (imported as ``from _helpers import ...``)."""

from contextlib import contextmanager

import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, ops

from make_golden import state_shapes


def make_inputs(kind, kwargs, x_shape, given_state, seed=0, dtype=np.float64):
    """A random input and, when ``given_state``, random initial states, all requiring
    grad, for a cell or layer ``kind`` built with ``kwargs``."""
    rng = np.random.default_rng(seed)
    x = Tensor(rng.standard_normal(x_shape).astype(dtype), requires_grad=True)
    states = [Tensor(rng.standard_normal(s).astype(dtype), requires_grad=True)
              for s in state_shapes(kind, kwargs, x_shape)] if given_state else []
    return x, states


class NotebookTanh(ops.Tanh):
    """tanh with the notebook's backward: dtanh applied to the OUTPUT.

    dtanh(z) = 1 - tanh(z)**2, called on out = tanh(x), gives 1 - tanh(tanh(x))**2:
    wrong. The right factor is 1 - out**2 (``ops.Tanh``, whose forward this keeps)."""

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (1 - np.tanh(out) ** 2)  # the notebook's dtanh(h_t)


class Softsign(tr.Function):
    """out = x / (1 + |x|).   dx = grad / (1 + |x|)^2.   A user's own op, for the tests."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x / (1 + np.abs(x))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (1 + np.abs(x)) ** 2


def graph_nodes(root: Tensor) -> set:
    """The graph nodes reachable from root, by a walk written here (not the engine's)."""
    seen, todo = set(), [root._node]
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        todo.extend(t._node for t in node.inputs)
    return seen


class CIFGCell(tr.nn.RecurrentCell):
    """The coupled input-forget LSTM of issue 15, reporting its forget gate to traces."""

    gates = ("f", "g", "o")
    state_names = ("h", "c")

    def step(self, xp, state):
        h, c = state
        f, g, o = (xp + self.recurrent(h)).chunk(3, dim=-1)
        f = f.sigmoid()
        self.record(f=f)
        c = f * c + (1 - f) * g.tanh()
        return o.sigmoid() * c.tanh(), c


def neuron():
    """micrograd's neuron: o = tanh(x1 w1 + x2 w2 + b), every value named. Returns the
    leaves and the values made from them ({"x1w1", "x2w2", "n", "o"}), by name."""
    values = {"x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.8813735870195432}
    leaves = {k: Tensor(v, requires_grad=True, name=k) for k, v in values.items()}
    x1w1 = leaves["x1"] * leaves["w1"]
    x2w2 = leaves["x2"] * leaves["w2"]
    n = x1w1 + x2w2 + leaves["b"]
    o = n.tanh()
    for t, name in ((x1w1, "x1w1"), (x2w2, "x2w2"), (n, "n"), (o, "o")):
        t.name = name
    return leaves, {"x1w1": x1w1, "x2w2": x2w2, "n": n, "o": o}


# --------------------------------------------------------------------------- a functional call


def functional_call(module, values, args):
    """``module(*args)`` with ``values`` ({parameter name: Tensor or array}) in place of
    its parameters of those names: ``tr.func.functional_call``, as torch's."""
    return tr.func.functional_call(module, values, tuple(args))


# --------------------------------------------------------------------------- recurrent layers

KINDS = ["RNN", "LSTM", "GRU"]
CONFIGS = {
    "padded": dict(),
    "bidirectional, 2 layers": dict(num_layers=2, bidirectional=True),
    "batch_first": dict(batch_first=True),
}


def make_layer(kind, hidden=4, **kwargs):
    """A built-in layer ``kind`` or nn.Recurrent of CIFGCell ("CIFG"), input size 3, the
    weights of tr.manual_seed(0)."""
    tr.manual_seed(0)
    if kind == "CIFG":
        return tr.nn.Recurrent(CIFGCell, 3, hidden, **kwargs).double()
    return getattr(tr.nn, kind)(3, hidden, **kwargs)


def torch_layer(torch, layer, kind, **kwargs):
    """Torch's layer ``kind`` (float64) holding ``layer``'s weights."""
    theirs = getattr(torch.nn, kind)(3, layer.hidden_size, **kwargs).double()
    with torch.no_grad():
        for tp, p in zip(theirs.parameters(), layer.parameters()):
            tp.copy_(torch.tensor(p.data))
    return theirs


def _as_array(value):
    if isinstance(value, Tensor):
        return value.data
    if hasattr(value, "detach"):  # a torch tensor
        return value.detach().numpy()
    return np.asarray(value)


def assert_close(ours, theirs, rtol, what):
    """Pairs of arrays, Tensors or torch tensors, element by element at ``rtol``, with an
    atol of rtol times the reference's largest magnitude (at least 1)."""
    assert len(ours) == len(theirs), f"{what}: {len(ours)} against {len(theirs)}"
    for k, (a, b) in enumerate(zip(ours, theirs)):
        a, b = _as_array(a), _as_array(b)
        scale = max(1.0, float(np.abs(b).max(initial=0.0)))
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale, err_msg=f"{what} {k}")


def elman(w):
    """An Elman step reading the weight ``w`` (passed in ``fixed``); 0.5 is a constant of
    the step, replayed."""
    return lambda x, h: ((x + h @ w).tanh() * 0.5,)


@contextmanager
def scan_jvps_counted():
    """A list that gets one entry per Scan node whose tangents are carried while the block
    runs: ("fused", ...) for one carried by the step with its rules replayed
    (``scan_jvp``), ("expanded", ctx) for a rule that re-ran the steps op by op."""
    from tinygrad_rnn import scan, scan_jvp

    calls = []
    originals = (scan_jvp.scan_carrying_tangents, scan_jvp.fused_jvp, scan.expanded_jvp)

    def counted(original):
        def call(*args):
            result = original(*args)
            if result is not None:
                calls.append(("fused", result))
            return result
        return call

    def counted_expanded(ctx, ts):
        calls.append(("expanded", ctx))
        return originals[2](ctx, ts)

    scan_jvp.scan_carrying_tangents = counted(originals[0])
    scan_jvp.fused_jvp = counted(originals[1])
    scan.expanded_jvp = counted_expanded
    try:
        yield calls
    finally:
        scan_jvp.scan_carrying_tangents, scan_jvp.fused_jvp, scan.expanded_jvp = originals
