"""Every built-in layer and cell's forward mode and second derivatives against torch, with
tangents on the parameters too (issue 17, item 4 and "Must hold").

The layer is called as a function of its input, its initial states and every parameter
(``_helpers.functional_call``, as ``torch.func.functional_call``), so that one tangent, one
upstream vector or one Hessian-vector product covers all of them at once. Torch's is the
same call of the same layer (float64, CPU) through ``torch.func.functional_call``:

- ``tr.func.jvp`` against ``torch.func.jvp``;
- ``tr.grad(..., create_graph=True)`` twice against ``torch.autograd.grad`` twice;
- ``tr.func.hvp`` against torch's forward over reverse (``jvp`` of ``torch.func.grad``);
- ``tr.func.hessian`` over the parameters against ``torch.func.hessian``;

each at 1e-10, for every config of ``make_golden.GOLDEN_CONFIGS`` (RNN tanh and relu, LSTM
with proj_size and without bias, GRU, two layers, bidirectional, batch_first, unbatched,
the three cells), scanned (one Scan node per layer and direction) and op by op
(``replay.disabled()``); packed batches (torch's forward AD stops at
pack_padded_sequence: its double-backward jvp, ``torch.autograd.functional.jvp``, stands
in); a cell of one's own in ``nn.Recurrent`` (CIFG, against the same equations written
in torch: ``make_golden_second_order.torch_cifg``); and random layer shapes under Hypothesis.
"""

import contextlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor

from _helpers import CIFGCell, assert_close, functional_call, graph_nodes, scan_jvps_counted
from make_golden import GOLDEN_CONFIGS, flatten, state_shapes
from make_golden_second_order import torch_cifg

torch = pytest.importorskip("torch")

# name -> (kind, constructor kwargs, input shape, initial states given?), CIFG: ours alone
CONFIGS = {**GOLDEN_CONFIGS,
           "cifg_2layer_bidir": ("CIFG", dict(input_size=3, hidden_size=3, num_layers=2,
                                              bidirectional=True), (4, 2, 3), True),
           "cifg_batch_first": ("CIFG", dict(input_size=2, hidden_size=2, batch_first=True),
                                (2, 3, 2), False)}
# (config, mode): cells run one step, never a Scan; layers both ways
RUNS = [(name, mode) for name, (kind, *_) in CONFIGS.items()
        for mode in (["cell"] if kind.endswith("Cell") else ["scanned", "op by op"])]
IDS = [f"{name}-{mode}" for name, mode in RUNS]


# --------------------------------------------------------------------------- the two layers


def _states_of(kind):
    return 2 if kind in ("LSTM", "LSTMCell", "CIFG") else 1


def _call(module, kind, x, states):
    """module(x), module(x, h) or module(x, (h, c)), as a flat list of its outputs (a
    packed output as its data)."""
    out = module(x) if not states else module(x, tuple(states) if len(states) == 2
                                              else states[0])
    if isinstance(out, tuple) and hasattr(out[0], "batch_sizes"):  # a PackedSequence
        out = (out[0].data, out[1])
    return flatten(out)


def _ours(kind, kwargs, seed=0):
    tr.manual_seed(seed)
    if kind == "CIFG":
        return tr.nn.Recurrent(CIFGCell, **kwargs)
    return getattr(tr.nn, kind)(**kwargs)


def _theirs(kind, kwargs, ours):
    """Torch's function of (x, *states, params dict) -> the flat outputs, with our weights."""
    if kind == "CIFG":
        layout = {k: v for k, v in kwargs.items()
                  if k in ("num_layers", "bidirectional", "batch_first")}
        return lambda x, states, params: flatten(torch_cifg(params, x, states, **layout))
    module = getattr(torch.nn, kind)(**kwargs).double()
    module.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    return lambda x, states, params: _call(
        lambda *args: torch.func.functional_call(module, params, args), kind, x, states)


class Pair:
    """Our layer and torch's as functions of the same flat primals (x, *states,
    *parameters), with a point, tangents and upstream vectors drawn from ``seed``."""

    def __init__(self, kind, kwargs, x_shape, given_state, seed=0):
        self.kind, self.layer = kind, _ours(kind, kwargs, seed)
        self.names = [n for n, _ in self.layer.named_parameters()]
        self._theirs = _theirs(kind, kwargs, self.layer)
        torch_kind = "LSTM" if kind == "CIFG" else kind  # (the states' shapes are an LSTM's)
        rng = np.random.default_rng(seed + 1)
        self.n_states = _states_of(kind) if given_state else 0
        shapes = state_shapes(torch_kind, kwargs, x_shape)[:self.n_states]
        self.primals = ([rng.standard_normal(x_shape)] + [rng.standard_normal(s) for s in shapes]
                        + [p.data.copy() for p in self.layer.parameters()])
        self.tangents = [rng.standard_normal(a.shape) for a in self.primals]
        with tr.no_grad():
            outs = self.ours(*self.primals)
        self.upstream = [rng.standard_normal(o.shape) for o in outs]

    def _split(self, primals):
        k = 1 + self.n_states
        return primals[0], list(primals[1:k]), dict(zip(self.names, primals[k:]))

    def ours(self, *primals):
        x, states, params = self._split(primals)
        return tuple(_call(lambda *args: functional_call(self.layer, params, args),
                           self.kind, x, states))

    def theirs(self, *primals):
        x, states, params = self._split(primals)
        return tuple(self._theirs(x, states, params))

    def loss(self, *primals):
        """sum_k <v_k, output_k>: its Hessian is sum_k v_k . d2 output_k."""
        return sum((o * v).sum() for o, v in zip(self.ours(*primals), self.upstream))

    def t_loss(self, *primals):
        return sum((o * torch.tensor(v)).sum() for o, v in zip(self.theirs(*primals),
                                                               self.upstream))


def pair(name, seed=0):
    return Pair(*CONFIGS[name], seed=seed)


def _t(arrays):
    return tuple(torch.tensor(a) for a in arrays)


@contextlib.contextmanager
def mode_of(mode):
    """The layer run as one Scan node per layer and direction, or op by op."""
    with tr.replay.disabled() if mode == "op by op" else contextlib.nullcontext():
        yield


def _expect_scans(mode, count):
    if mode == "scanned":
        assert count > 0, "the layer ran op by op: nothing of the Scan node was checked"
    else:
        assert count == 0


# --------------------------------------------------------------------------- every config


@pytest.mark.parametrize("name, mode", RUNS, ids=IDS)
def test_jvp_with_tangents_on_the_parameters_matches_torch(name, mode):
    p = pair(name)
    with mode_of(mode), scan_jvps_counted() as scans:
        outs, t_outs = tr.func.jvp(p.ours, tuple(p.primals), tuple(p.tangents))
    _expect_scans(mode, len(scans))
    t_primals, t_tangents = torch.func.jvp(p.theirs, _t(p.primals), _t(p.tangents))
    assert_close(outs, t_primals, 1e-10, f"{name}: output")
    assert_close(t_outs, t_tangents, 1e-10, f"{name}: tangent of output")
    # the parameters' tangents matter: without them, another answer
    rest = [np.zeros_like(t) for t in p.tangents[1 + p.n_states:]]
    with mode_of(mode):
        _, without = tr.func.jvp(p.ours, tuple(p.primals),
                                 tuple(p.tangents[:1 + p.n_states] + rest))
    assert not np.allclose(without[0].data, t_outs[0].data)


@pytest.mark.parametrize("name, mode", RUNS, ids=IDS)
def test_second_derivatives_over_the_parameters_match_torchs_double_backward(name, mode):
    """u . d(v . d out/dw)/dw for w = the input, the states and every parameter."""
    p = pair(name)
    with mode_of(mode):
        leaves = [Tensor(a, requires_grad=True) for a in p.primals]
        outs = p.ours(*leaves)
        _expect_scans(mode, sum("Scan" in n.fn.__name__ for n in graph_nodes(outs[0])))
        g = tr.grad(outs, leaves, p.upstream, create_graph=True)
        # (a first derivative constant in everything, relu's v * (z > 0), has no graph)
        moving = [k for k, gk in enumerate(g) if gk.requires_grad]
        h = tr.grad([g[k] for k in moving], leaves, [p.tangents[k] for k in moving],
                    allow_unused=True)
    t_leaves = [torch.tensor(a, requires_grad=True) for a in p.primals]
    t_g = torch.autograd.grad(p.theirs(*t_leaves), t_leaves, _t(p.upstream), create_graph=True)
    t_h = torch.autograd.grad(t_g, t_leaves, _t(p.tangents), allow_unused=True)
    assert_close(g, t_g, 1e-10, f"{name}: first derivative")
    assert_close([np.zeros(a.shape) if hk is None else hk for a, hk in zip(p.primals, h)],
                 [np.zeros(a.shape) if hk is None else hk for a, hk in zip(p.primals, t_h)],
                 1e-10, f"{name}: second derivative")


@pytest.mark.parametrize("name, mode", RUNS, ids=IDS)
def test_hvp_over_the_parameters_matches_torchs_forward_over_reverse(name, mode):
    p = pair(name)
    with mode_of(mode), scan_jvps_counted() as scans:
        value, product = tr.func.hvp(p.loss, tuple(p.primals), tuple(p.tangents))
    _expect_scans(mode, len(scans))
    gradient = torch.func.grad(p.t_loss, argnums=tuple(range(len(p.primals))))
    t_gradient, t_product = torch.func.jvp(gradient, _t(p.primals), _t(p.tangents))
    np.testing.assert_allclose(value.data, p.t_loss(*_t(p.primals)).numpy(), rtol=1e-12)
    assert_close(product, t_product, 1e-10, f"{name}: Hessian times the tangents")


# small layers, so that the whole Hessian over the parameters stays cheap
SMALL = {kind: (kind, dict(input_size=2, hidden_size=2), (3, 1, 2), True)
         for kind in ("RNN", "LSTM", "GRU", "CIFG")}
SMALL["LSTMCell"] = ("LSTMCell", dict(input_size=2, hidden_size=2), (1, 2), True)


@pytest.mark.parametrize("kind", SMALL)
def test_the_hessian_over_the_parameters_matches_torch(kind):
    p = Pair(*SMALL[kind], seed=3)
    params = tuple(range(1 + p.n_states, len(p.primals)))
    theirs = torch.func.hessian(p.t_loss, argnums=params)(*_t(p.primals))
    for mode in ("scanned", "op by op") if kind != "LSTMCell" else ("cell",):
        with mode_of(mode):
            ours = tr.func.hessian(p.loss, argnums=params)(*p.primals)
        for i, (row, t_row) in enumerate(zip(ours, theirs)):
            assert_close(row, t_row, 1e-10, f"{kind} {mode}: Hessian block row {i}")


# --------------------------------------------------------------------------- packed


def _packed(p, lengths):
    """The pair's functions with x packed by ``lengths``: out.data and the final states."""
    def ours(x, *rest):
        return p.ours(tr.nn.utils.rnn.pack_padded_sequence(x, lengths), *rest)

    def theirs(x, *rest):
        return p.theirs(torch.nn.utils.rnn.pack_padded_sequence(x, lengths), *rest)
    return ours, theirs


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_a_packed_batch_with_tangents_on_the_parameters_as_torch(kind):
    """jvp and hvp of two bidirectional layers over a packed batch that shrinks twice,
    from given states, against torch's double-backward jvp and hvp (its forward AD
    stops at pack_padded_sequence)."""
    p = Pair(kind, dict(input_size=3, hidden_size=3, num_layers=2, bidirectional=True),
             (4, 3, 3), True, seed=5)
    ours, theirs = _packed(p, [4, 2, 1])
    outs = ours(*p.primals)
    upstream = [np.random.default_rng(6).standard_normal(o.shape) for o in outs]

    def loss(*primals):
        return sum((o * v).sum() for o, v in zip(ours(*primals), upstream))

    def t_loss(*primals):
        return sum((o * torch.tensor(v)).sum() for o, v in zip(theirs(*primals), upstream))

    _, t_tangents = torch.autograd.functional.jvp(theirs, _t(p.primals), _t(p.tangents))
    _, t_product = torch.autograd.functional.hvp(t_loss, _t(p.primals), _t(p.tangents))
    for mode in ("scanned", "op by op"):
        with mode_of(mode), scan_jvps_counted() as scans:
            _, tangents = tr.func.jvp(ours, tuple(p.primals), tuple(p.tangents))
            _, product = tr.func.hvp(loss, tuple(p.primals), tuple(p.tangents))
        _expect_scans(mode, len(scans))
        assert_close(tangents, t_tangents, 1e-10, f"{kind} {mode}: tangent of output")
        assert_close(product, t_product, 1e-10, f"{kind} {mode}: Hessian times the tangents")


def test_a_packed_custom_cell_with_tangents_on_the_parameters_as_op_by_op():
    """CIFG has no torch layer to pack: scanned against op by op, at 1e-12."""
    p = Pair("CIFG", dict(input_size=3, hidden_size=3, num_layers=2, bidirectional=True),
             (4, 3, 3), True, seed=7)
    ours, _ = _packed(p, [4, 2, 1])
    results = []
    for mode in ("scanned", "op by op"):
        with mode_of(mode), scan_jvps_counted() as scans:
            results.append(tr.func.jvp(ours, tuple(p.primals), tuple(p.tangents))[1])
        _expect_scans(mode, len(scans))
    assert_close(*results, 1e-12, "CIFG packed: tangent of output")


# --------------------------------------------------------------------------- any shape


@st.composite
def layer_configs(draw):
    kind = draw(st.sampled_from(["RNN", "LSTM", "GRU"]))
    hidden = draw(st.integers(1, 3))
    kwargs = dict(input_size=draw(st.integers(1, 3)), hidden_size=hidden,
                  num_layers=draw(st.integers(1, 2)), bidirectional=draw(st.booleans()),
                  batch_first=draw(st.booleans()), bias=draw(st.booleans()))
    if kind == "LSTM" and hidden > 1 and draw(st.booleans()):
        kwargs["proj_size"] = draw(st.integers(1, hidden - 1))
    if kind == "RNN":
        kwargs["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    steps, batch = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    x_shape = ((batch, steps) if kwargs["batch_first"] else (steps, batch)) + (
        kwargs["input_size"],)
    return kind, kwargs, x_shape, draw(st.booleans())


@given(config=layer_configs(), seed=st.integers(0, 99))
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_layer_shape_has_torchs_jvp_and_hvp_over_its_parameters(config, seed):
    p = Pair(*config, seed=seed)
    _, tangents = tr.func.jvp(p.ours, tuple(p.primals), tuple(p.tangents))
    _, product = tr.func.hvp(p.loss, tuple(p.primals), tuple(p.tangents))
    _, t_tangents = torch.func.jvp(p.theirs, _t(p.primals), _t(p.tangents))
    gradient = torch.func.grad(p.t_loss, argnums=tuple(range(len(p.primals))))
    _, t_product = torch.func.jvp(gradient, _t(p.primals), _t(p.tangents))
    assert_close(tangents, t_tangents, 1e-10, f"{config}: tangent of output")
    assert_close(product, t_product, 1e-10, f"{config}: Hessian times the tangents")


# --------------------------------------------------------------------------- a weight swapped in


class _Elman(tr.nn.RecurrentCell):
    def step(self, xp, state):
        (h,) = state
        return (xp + self.recurrent(h)).tanh()


def test_a_cell_holding_a_plain_tensor_as_a_weight_scans_each_calls_values_and_tangents():
    """A weight set as a plain Tensor (a functional call's, a meta-learning step's
    w - lr * g) is an input of the Scan, not a constant baked into its recording: a
    second call with other values gives them (it once gave the first call's), and its
    tangent flows (it was once dropped)."""
    tr.manual_seed(0)
    layer = tr.nn.Recurrent(_Elman, 2, 2)
    x = Tensor(np.random.default_rng(0).standard_normal((3, 1, 2)), requires_grad=True)

    def run(w):
        return functional_call(layer, {"weight_hh_l0": w}, (x,))[0]

    for scale in (1.0, 3.0):
        scanned = run(Tensor(np.full((2, 2), scale)))
        assert "Scan" in scanned.grad_fn.__name__
        with tr.replay.disabled():
            op_by_op = run(Tensor(np.full((2, 2), scale)))
        np.testing.assert_allclose(scanned.data, op_by_op.data, rtol=1e-12, atol=1e-12)
    point, tangent = (np.full((2, 2), 0.5),), (np.ones((2, 2)),)
    with scan_jvps_counted() as scans:
        _, t_scanned = tr.func.jvp(run, point, tangent)
    assert len(scans) == 1
    with tr.replay.disabled():
        _, t_op_by_op = tr.func.jvp(run, point, tangent)
    assert np.abs(t_op_by_op.data).max() > 1e-3
    np.testing.assert_allclose(t_scanned.data, t_op_by_op.data, rtol=1e-12, atol=1e-12)
