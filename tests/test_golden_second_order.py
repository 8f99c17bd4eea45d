"""Second derivatives and jvps against torch's, stored (issue 17): checked without torch.

``make_golden_second_order.py`` (torch needed) wrote torch's first and second derivatives
and torch.func.jvp's tangents for the fixed examples 0 and 1 of every op case the live tests compare
with torch, and for configs of the built-in layers and cells and of nn.Recurrent of a cell
of one's own (with tangents on the parameters too, and Hessian-vector products; scanned and
op by op); here ours must agree at 1e-10 (the second derivatives with the live test's atol,
scaled by the first derivatives' square).
A new op case without a fixture fails: regenerate them.
"""

import contextlib
import json

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, nn
from tinygrad_rnn.gradcheck import _flatten_outputs

import make_golden_second_order as golden
from _helpers import CIFGCell, functional_call
from make_golden import flatten

CASES = golden.golden_cases()
LAYER_CONFIGS, SECOND_ORDER_DIR = golden.LAYER_CONFIGS, golden.SECOND_ORDER_DIR
differentiable, float64_example = golden.differentiable, golden.float64_example
REGENERATE = "stale fixture: run python tests/make_golden_second_order.py"


def _load(name):
    with np.load(SECOND_ORDER_DIR / f"{name}.npz", allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


OPS, OPS_EXAMPLE1 = _load("ops"), _load(golden.SECOND_EXAMPLE)
SECOND = golden.second_examples(CASES)
# (case, which fixed example): every case's example 0, and its example 1 where it differs
EXAMPLES = [(c, 0) for c in CASES] + [(c, 1) for c in SECOND]
EXAMPLE_IDS = [f"{c.name}-{k}" for c, k in EXAMPLES]


def _fixture(case, example=0):
    """The stored arrays of one example, keyed ``<what><index>``: example 1's inputs and
    vectors drawn again (its fixture holds torch's answers and the inputs' checksum)."""
    prefix = f"{case.name}|"
    if example == 0:
        return {k[len(prefix):]: v for k, v in OPS.items() if k.startswith(prefix)}
    stored = {k[len(prefix):]: v for k, v in OPS_EXAMPLE1.items() if k.startswith(prefix)}
    arrays, params = float64_example(case, 1)
    np.testing.assert_allclose(golden.checksum(arrays), stored.pop("checksum"), rtol=1e-12,
                               err_msg=f"{case.name}: {REGENERATE}")
    stored.update({f"x{i}": a for i, a in enumerate(arrays)})
    wrt = differentiable(case, arrays)
    with tr.enable_grad():
        outs = _flatten_outputs(case.fn(*case.tensors(arrays), **params))
    stored.update(golden.draw_vectors({k: o.shape for k, o in enumerate(outs) if o.requires_grad},
                                      {i: arrays[i].shape for i in wrt}))
    return stored


def test_every_op_case_has_a_fixture_and_every_fixture_a_case():
    for fixtures, cases in ((OPS, CASES), (OPS_EXAMPLE1, SECOND)):
        stored = {k.split("|")[0] for k in fixtures}
        assert sorted({c.name for c in cases} - stored) == [], REGENERATE
        assert sorted(stored - {c.name for c in cases}) == [], REGENERATE
    assert len(CASES) > 100 and len(SECOND) > 100


def test_the_fixtures_are_small():
    assert sum(p.stat().st_size for p in SECOND_ORDER_DIR.glob("*.npz")) < 1_000_000
    assert sorted(p.stem for p in SECOND_ORDER_DIR.glob("*.npz")) == sorted(
        ["ops", golden.SECOND_EXAMPLE, *LAYER_CONFIGS])


def _inputs(case, stored, example=0):
    """The fixed example, as stored (a changed example makes the fixture stale)."""
    arrays, params = float64_example(case, example)
    for i, a in enumerate(arrays):
        np.testing.assert_array_equal(a, stored[f"x{i}"], err_msg=f"{case.name}: {REGENERATE}")
    return arrays, params


@pytest.mark.parametrize("case, example", EXAMPLES, ids=EXAMPLE_IDS)
def test_second_derivatives_match_torchs_stored(case, example):
    """u . d(v . df/dx)/dx, and v . df/dx on the way, as torch's double backward."""
    stored = _fixture(case, example)
    arrays, params = _inputs(case, stored, example)
    ours = case.tensors(arrays)
    wrt = differentiable(case, arrays)
    outs = _flatten_outputs(case.fn(*ours, **params))
    used = [k for k in range(len(outs)) if f"v{k}" in stored]
    assert used == [k for k, o in enumerate(outs) if o.requires_grad], case.name
    if not used:
        return
    g = tr.grad([outs[k] for k in used], [ours[i] for i in wrt],
                [stored[f"v{k}"] for k in used], create_graph=True, allow_unused=True)
    for i, a in zip(wrt, g):
        if a is not None and f"g{i}" in stored:
            np.testing.assert_allclose(a.data, stored[f"g{i}"], rtol=1e-10, atol=1e-10,
                                       err_msg=f"{case.name}: first derivative, input {i}")
    mine = [(i, a) for i, a in zip(wrt, g) if a is not None and a.requires_grad]
    h = (tr.grad([a for _, a in mine], [ours[i] for i in wrt],
                 [stored[f"u{i}"] for i, _ in mine], allow_unused=True)
         if mine else [None] * len(wrt))
    scale = max([1.0] + [float(np.abs(a.data).max()) for a in g if a is not None and a.size])
    for i, a in zip(wrt, h):
        a = np.zeros(arrays[i].shape) if a is None else a.data
        np.testing.assert_allclose(a, stored[f"h{i}"], rtol=1e-10, atol=1e-10 * scale ** 2,
                                   err_msg=f"{case.name}: second derivative, input {i}")


@pytest.mark.parametrize("case, example", EXAMPLES, ids=EXAMPLE_IDS)
def test_jvp_matches_torchs_stored(case, example):
    """tr.func.jvp along the stored tangents, as torch.func.jvp."""
    stored = _fixture(case, example)
    arrays, params = _inputs(case, stored, example)
    wrt = differentiable(case, arrays)
    if not wrt:
        assert not any(k.startswith("j") for k in stored)
        return

    def f(*chosen):
        tensors = case.tensors(arrays)
        for i, t in zip(wrt, chosen):
            tensors[i] = t
        return tuple(_flatten_outputs(case.fn(*tensors, **params)))

    outs, t_outs = tr.func.jvp(f, tuple(arrays[i] for i in wrt),
                               tuple(stored[f"t{i}"] for i in wrt))
    floats = [k for k, o in enumerate(outs) if o.dtype.kind == "f"]
    assert floats == [k for k in range(len(outs)) if f"j{k}" in stored], case.name
    for k in floats:
        np.testing.assert_allclose(t_outs[k].data, stored[f"j{k}"], rtol=1e-10, atol=1e-10,
                                   err_msg=f"{case.name}: jvp of output {k}")


# --------------------------------------------------------------------------- layers


def _layer(name):
    stored = _load(name)
    config = json.loads(str(stored.pop("config")))
    kind = config["kind"]
    if kind == "CIFG":
        layer = nn.Recurrent(CIFGCell, **config["kwargs"])
    else:
        layer = getattr(nn, kind)(**config["kwargs"])
    layer.load_state_dict({k[len("param."):]: v for k, v in stored.items()
                           if k.startswith("param.")})
    states = [stored[f"state.{i}"] for i in range(2 if kind in golden.TWO_STATES else 1)]
    return kind, layer, stored, states


def _call(kind, layer, x, states):
    return flatten(golden.call(layer, x, states, kind))


def _close(ours, theirs, what):
    scale = max(1.0, float(np.abs(theirs).max(initial=0.0)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10 * scale, err_msg=what)


@pytest.fixture(params=["scanned", "op by op"])
def mode(request):
    """The layer as one Scan node per layer and direction, or op by op (a cell: one step,
    the same either way)."""
    with tr.replay.disabled() if request.param == "op by op" else contextlib.nullcontext():
        yield request.param


@pytest.mark.parametrize("name", LAYER_CONFIGS)
def test_a_layers_second_derivatives_match_torchs_stored(name, mode):
    kind, layer, stored, states = _layer(name)
    x = Tensor(stored["x"], requires_grad=True)
    hs = [Tensor(s, requires_grad=True) for s in states]
    wrt = [("x", x)] + [(f"state.{i}", t) for i, t in enumerate(hs)] + [
        (f"param.{n}", p) for n, p in layer.named_parameters()]
    outs = _call(kind, layer, x, hs)
    g = tr.grad(outs, [t for _, t in wrt], [stored[f"v.{k}"] for k in range(len(outs))],
                create_graph=True)
    for (what, _), a in zip(wrt, g):
        _close(a.data, stored[f"g.{what}"], f"{name}: first derivative of {what}")
    # (a first derivative constant in everything, relu's v * (z > 0), has no graph)
    moving = [(what, a) for (what, _), a in zip(wrt, g) if a.requires_grad]
    h = tr.grad([a for _, a in moving], [t for _, t in wrt],
                [stored[f"u.{what}"] for what, _ in moving], allow_unused=True)
    for (what, t), a in zip(wrt, h):
        a = np.zeros(t.shape) if a is None else a.data
        _close(a, stored[f"h.{what}"], f"{name}: second derivative of {what}")


def _as_function(kind, layer, n_states):
    """The layer as a function of (x, *states, *parameters), as the fixture's."""
    names = [n for n, _ in layer.named_parameters()]

    def f(x, *rest):
        params = dict(zip(names, rest[n_states:]))
        return tuple(flatten(functional_call(
            layer, params, (x, tuple(rest[:n_states]) if n_states == 2 else rest[0]))))
    return f, [f"param.{n}" for n in names]


@pytest.mark.parametrize("name", LAYER_CONFIGS)
def test_a_layers_jvp_matches_torchs_stored(name, mode):
    """Tangents on the input and states, then on the parameters too."""
    kind, layer, stored, states = _layer(name)
    f, params = _as_function(kind, layer, len(states))
    whats = ["x", *(f"state.{i}" for i in range(len(states)))]
    moving = tuple(stored[w] for w in whats)
    fixed = tuple(stored[p] for p in params)
    _, t_outs = tr.func.jvp(lambda *m: f(*m, *fixed), moving,
                            tuple(stored[f"t.{w}"] for w in whats))
    assert len(t_outs) == sum(k.startswith("j.") for k in stored)
    for k, t in enumerate(t_outs):
        _close(t.data, stored[f"j.{k}"], f"{name}: jvp of output {k}")
    _, t_outs = tr.func.jvp(f, moving + fixed, tuple(stored[f"t.{w}"] for w in whats + params))
    for k, t in enumerate(t_outs):
        _close(t.data, stored[f"jp.{k}"], f"{name}: jvp of output {k}, parameters' tangents too")


@pytest.mark.parametrize("name", LAYER_CONFIGS)
def test_a_layers_hvp_over_its_parameters_matches_torchs_stored(name, mode):
    kind, layer, stored, states = _layer(name)
    f, params = _as_function(kind, layer, len(states))
    whats = ["x", *(f"state.{i}" for i in range(len(states))), *params]

    def loss(*primals):
        return sum((o * stored[f"v.{k}"]).sum() for k, o in enumerate(f(*primals)))

    _, products = tr.func.hvp(loss, tuple(stored[w] for w in whats),
                              tuple(stored[f"t.{w}"] for w in whats))
    for w, product in zip(whats, products):
        _close(product.data, stored[f"hvp.{w}"], f"{name}: Hessian times the tangents, {w}")
