"""Forward mode (issue 17): ``tr.func.jvp`` carries tangents through each op's own ``jvp``
rule in one forward pass.

Every op has a rule, and every op of the table (``op_cases.CASES``) gets, under
Hypothesis in float64 with broadcasting: its jvp against central finite differences along
the tangent, its jvp against its vjp by the dot-product identity <v, J u> = <J^T v, u>,
its rule differentiated in reverse (the rule runs on Tensors: reverse over forward) against
reverse over reverse, and, when torch is installed, against ``torch.func.jvp`` at 1e-10.
Then the engine's side: levels (nested jvp), threads, the fast path left alone, a user's
Function (refused by name without a rule).
"""

import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, autograd, ops
from tinygrad_rnn.case import unpack
from tinygrad_rnn.gradcheck import _flatten_outputs
from tinygrad_rnn.testing import OP_CASES, run_check

from _helpers import Softsign

WITH_RULE = [c for c in OP_CASES if c.has_jvp() and "gradients" in c.checks()]
# Ops whose derivative jumps where their strategies go on purpose (|x| at 0, a tie of
# maximum, a bound of clamp, pow's y == 0): finite differences mean nothing at the jump;
# the dot-product identity and torch check them instead.
JUMPS = {"Abs", "Maximum", "Minimum", "PowTensor", "Clamp", "Sign", "LeakyRelu", "Where"}
PIECEWISE = {"smooth_l1_loss", "huber_loss"}  # a mask taken from the values (|d| < beta)
SMOOTH = [c for c in WITH_RULE if not JUMPS & set(c.functions) and c.name not in PIECEWISE]
FEW = settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))


def _float64(example):
    arrays, params = unpack(example)
    return [a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays], params


def _setup(case, example, seed):
    """(the input arrays, the params, which inputs get a tangent, random tangents for them)."""
    arrays, params = _float64(example)
    wrt = [i for i, t in enumerate(case.tensors(arrays)) if t.requires_grad]
    rng = np.random.default_rng(seed)
    tangents = [rng.standard_normal(arrays[i].shape) for i in wrt]
    return arrays, params, wrt, tangents


def _of(case, arrays, params, wrt):
    """The case's function of the inputs in ``wrt`` alone, its outputs as a tuple."""
    def fn(*chosen):
        tensors = case.tensors(arrays)
        for i, t in zip(wrt, chosen):
            tensors[i] = t
        return tuple(_flatten_outputs(case.fn(*tensors, **params)))
    return fn


def _jvp(case, arrays, params, wrt, tangents):
    outs, t_outs = tr.func.jvp(_of(case, arrays, params, wrt),
                               tuple(arrays[i] for i in wrt), tuple(tangents))
    return outs, t_outs


def _floats(outs):
    return [k for k, o in enumerate(outs) if o.dtype.kind == "f"]


# --------------------------------------------------------------------------- the op table


def check_jvp_against_finite_differences(case, example, seed=0):
    """J u against (f(x + h u) - f(x - h u)) / 2h, every output."""
    arrays, params, wrt, tangents = _setup(case, example, seed)
    if not wrt:
        return
    outs, t_outs = _jvp(case, arrays, params, wrt, tangents)
    h = 1e-6

    def at(sign):
        moved = list(arrays)
        for i, u in zip(wrt, tangents):
            moved[i] = arrays[i] + sign * h * u
        with tr.no_grad():
            return _flatten_outputs(case.fn(*case.tensors(moved), **params))

    plus, minus = at(1.0), at(-1.0)
    for k in _floats(outs):
        numeric = (plus[k].data - minus[k].data) / (2 * h)
        np.testing.assert_allclose(t_outs[k].data, numeric, atol=case.atol, rtol=case.rtol,
                                   err_msg=f"{case.name}: jvp of output {k}")


def check_jvp_against_vjp(case, example, seed=0):
    """<v, J u> = <J^T v, u>: forward and reverse mode are transposes of one another."""
    arrays, params, wrt, tangents = _setup(case, example, seed)
    if not wrt:
        return
    outs, t_outs = _jvp(case, arrays, params, wrt, tangents)
    floats = [k for k in _floats(outs) if outs[k].requires_grad or t_outs[k].data.any()]
    if not floats:
        return
    rng = np.random.default_rng(seed + 1)
    vs = {k: rng.standard_normal(outs[k].shape) for k in floats}
    forward = sum(float(np.sum(vs[k] * t_outs[k].data)) for k in floats)
    tensors = case.tensors(arrays)
    reached = [k for k, o in enumerate(_flatten_outputs(case.fn(*tensors, **params)))
               if k in vs and o.requires_grad]
    again = _flatten_outputs(case.fn(*tensors, **params))
    if reached:
        grads = tr.grad([again[k] for k in reached], [tensors[i] for i in wrt],
                        [vs[k] for k in reached], allow_unused=True)
    else:
        grads = [None] * len(wrt)
    reverse = sum(float(np.sum(g.data * u)) for g, u in zip(grads, tangents) if g is not None)
    scale = 1.0 + abs(forward) + abs(reverse)
    assert abs(forward - reverse) <= 1e-10 * scale, (
        f"{case.name}: <v, J u> = {forward!r} but <J^T v, u> = {reverse!r}")


def check_jvp_matches_torch(case, example, seed=0):
    """Our J u against torch.func.jvp's, float64, at 1e-10."""
    torch = pytest.importorskip("torch")
    arrays, params, wrt, tangents = _setup(case, example, seed)
    if not wrt:
        return
    outs, t_outs = _jvp(case, arrays, params, wrt, tangents)

    def theirs(*chosen):
        inputs = [torch.tensor(a) for a in arrays]
        for i, t in zip(wrt, chosen):
            inputs[i] = t
        result = case.torch_fn(*inputs, **params)
        return (result,) if isinstance(result, torch.Tensor) else tuple(result)

    _, t_theirs = torch.func.jvp(theirs, tuple(torch.tensor(arrays[i]) for i in wrt),
                                 tuple(torch.tensor(u) for u in tangents))
    for k in _floats(outs):
        np.testing.assert_allclose(t_outs[k].data, t_theirs[k].detach().numpy(), rtol=1e-10,
                                   atol=1e-10, err_msg=f"{case.name}: jvp of output {k}")


def check_reverse_over_forward(case, example, seed=0):
    """The rule runs on Tensors, so the jvp can be differentiated: the gradient of
    <v, J(x) u> (reverse over forward) equals that of <J(x)^T v, u> (reverse over reverse,
    create_graph), the same function of x."""
    arrays, params, wrt, tangents = _setup(case, example, seed)
    if not wrt:
        return
    rng = np.random.default_rng(seed + 2)
    f = _of(case, arrays, params, wrt)

    xs = [Tensor(arrays[i], requires_grad=True) for i in wrt]
    outs, t_outs = tr.func.jvp(f, tuple(xs), tuple(tangents))
    floats = _floats(outs)
    vs = {k: rng.standard_normal(outs[k].shape) for k in floats}
    moving = [(t_outs[k] * vs[k]).sum() for k in floats if t_outs[k].requires_grad]
    # (no t_out depending on x: J u is constant in x, its gradient zero)
    forward = tr.grad(sum(moving), xs, allow_unused=True) if moving else [None] * len(xs)

    ys = [Tensor(arrays[i], requires_grad=True) for i in wrt]
    again = f(*ys)
    reached = [k for k in floats if again[k].requires_grad]
    vjps = tr.grad([again[k] for k in reached], ys, [vs[k] for k in reached],
                   create_graph=True, allow_unused=True)
    paired = [(g * u).sum() for g, u in zip(vjps, tangents) if g is not None and g.requires_grad]
    reverse = (tr.grad(sum(paired), ys, allow_unused=True) if paired else [None] * len(ys))
    for i, (a, b) in enumerate(zip(forward, reverse)):
        a = np.zeros(arrays[wrt[i]].shape) if a is None else a.data
        b = np.zeros(arrays[wrt[i]].shape) if b is None else b.data
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * (1 + np.abs(b).max(initial=0)),
                                   err_msg=f"{case.name}: reverse over forward, input {wrt[i]}")


@pytest.mark.parametrize("case", WITH_RULE, ids=[c.name for c in WITH_RULE])
def test_the_rule_can_be_differentiated_in_reverse(case):
    run_check(case, check_reverse_over_forward, FEW)


@pytest.mark.parametrize("case", SMOOTH, ids=[c.name for c in SMOOTH])
def test_jvp_matches_finite_differences(case):
    run_check(case, check_jvp_against_finite_differences, FEW)


@pytest.mark.parametrize("case", WITH_RULE, ids=[c.name for c in WITH_RULE])
def test_jvp_is_the_transpose_of_vjp(case):
    run_check(case, check_jvp_against_vjp, FEW)


TORCH_CASES = [c for c in WITH_RULE if c.torch_fn is not None]


@pytest.mark.parametrize("case", TORCH_CASES, ids=[c.name for c in TORCH_CASES])
def test_jvp_matches_torch(case):
    pytest.importorskip("torch")
    run_check(case, check_jvp_matches_torch, FEW)


def test_every_differentiable_op_has_a_rule_and_is_tested():
    """Every differentiable op has a forward-mode rule, and every op of the table is
    checked above (a user's op without one is refused by name: see the engine's tests)."""
    without = sorted(n for n in dir(ops) if isinstance(getattr(ops, n), type)
                     and issubclass(getattr(ops, n), tr.Function) and n != "Function"
                     and getattr(ops, n).differentiable and not hasattr(getattr(ops, n), "jvp"))
    assert without == []
    assert [c.name for c in OP_CASES if c.functions and not c.has_jvp()] == []
    assert {n for c in WITH_RULE for n in c.functions} >= {
        n for n in dir(ops) if hasattr(getattr(ops, n), "jvp")}  # and each is tested


# --------------------------------------------------------------------------- the engine


def test_jvp_runs_no_backward_and_leaves_the_inputs_alone():
    x = Tensor(np.array([0.5, -1.0, 2.0]))
    calls = []
    original = ops.Tanh.backward
    ops.Tanh.backward = staticmethod(lambda ctx, g: calls.append(1) or original(ctx, g))
    try:
        out, t = tr.func.jvp(lambda v: (v * 2.0).tanh(), (x,), (np.ones(3),))
    finally:
        ops.Tanh.backward = original
    assert np.allclose(t.data, 2.0 * (1 - np.tanh(2 * x.data) ** 2))
    # Tanh's rule reuses its backward's formula (a diagonal Jacobian), called once: as jvp
    assert calls == [1] and not out.requires_grad and not x.requires_grad
    assert autograd.forward_levels() == ()


def test_outside_jvp_no_tangent_is_kept():
    x = Tensor(np.ones(3), requires_grad=True)
    tr.func.jvp(lambda v: v.exp(), (x,), (np.ones(3),))
    assert autograd.modes().forward_levels is None
    y = x.exp()  # a plain op again
    assert all(level.tangent(y) is None for level in autograd.forward_levels())


def test_a_tangent_lives_as_long_as_its_value():
    kept = []

    def f(v):
        for _ in range(50):
            v = v * 1.01
        kept.append(autograd.forward_levels()[-1])
        return v

    tr.func.jvp(f, (np.ones(4),), (np.ones(4),))
    assert len(kept[0].tangents) <= 3  # the intermediate values are gone, and their tangents


def test_nested_jvp_gives_second_derivatives():
    x = np.array([0.3, -0.7])

    def inner(v):
        return tr.func.jvp(lambda w: (w * w * w).sin(), (v,), (np.ones(2),))[1]

    _, second = tr.func.jvp(inner, (x,), (np.ones(2),))
    # d2/dx2 sin(x^3) = 6x cos(x^3) - 9x^4 sin(x^3)
    np.testing.assert_allclose(second.data, 6 * x * np.cos(x ** 3) - 9 * x ** 4 * np.sin(x ** 3),
                               rtol=1e-12)


def test_jvp_levels_are_per_thread():
    seen = []

    def other():
        seen.append(autograd.forward_levels())

    def f(v):
        t = threading.Thread(target=other)
        t.start()
        t.join()
        return v * 2.0

    tr.func.jvp(f, (np.ones(2),), (np.ones(2),))
    assert seen == [()]


def test_a_users_function_without_a_rule_is_refused_by_name_and_changes_nothing():
    x = Tensor(np.array([0.5, -1.0]))
    with pytest.raises(tr.NotForwardDifferentiableError,
                       match=r"jvp: Softsign has no forward-mode rule.*jvp\(ctx, \*tangents\)"):
        tr.func.jvp(lambda v: Softsign.apply(v * 2.0), (x,), (np.ones(2),))
    assert autograd.forward_levels() == ()
    assert np.allclose(Softsign.apply(x).data, x.data / (1 + np.abs(x.data)))


class _SoftsignWithRule(Softsign):
    """out = x / (1 + |x|).   dx = grad / (1 + |x|)^2;  tangent: t_out = t_x / (1 + |x|)^2."""

    @staticmethod
    def jvp(ctx, t_x):
        (x,) = ctx.saved_tensors
        return t_x / (1 + np.abs(x)) ** 2


@given(st.lists(st.floats(0.1, 3) | st.floats(-3, -0.1), min_size=1, max_size=5))
@settings(max_examples=10, deadline=None)
def test_a_users_function_with_a_rule(values):
    x = np.array(values)
    u = np.linspace(-1, 1, len(values))
    _, t = tr.func.jvp(lambda v: _SoftsignWithRule.apply(v), (x,), (u,))
    np.testing.assert_allclose(t.data, u / (1 + np.abs(x)) ** 2, rtol=1e-12)
    # and nested: the rule runs on Tensors, so its own ops carry the outer tangent
    second = tr.func.jacfwd(tr.func.jacfwd(lambda v: _SoftsignWithRule.apply(v).sum()))(x)
    np.testing.assert_allclose(np.diag(second.data), -2 * np.sign(x) / (1 + np.abs(x)) ** 3,
                               rtol=1e-10)
