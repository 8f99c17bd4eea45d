"""Torch as the reference for second derivatives and jvps (issue 17), stored.

Run ``python tests/make_golden_second_order.py`` (torch needed) to regenerate
``tests/golden_second_order/*.npz``:

- ``ops.npz``: for the fixed example (``case.fixed_example()``) of every op case the live
  tests check against torch (``GOLDEN_CASES``), keyed ``"<case>|<what><index>"``: the
  inputs ``x``, the upstream vectors ``v`` (of the outputs) and ``u`` (of the
  differentiable inputs), torch's first derivatives ``g`` = v . df/dx, its second
  derivatives ``h`` = u . d(v . df/dx)/dx (the quantity of
  ``test_double_backward.check_second_derivatives_match_torch``), the tangents ``t`` and
  torch.func.jvp's output tangents ``j``.
- ``ops_example1.npz``: the same for each case's fixed example 1 (where it differs from
  example 0), but torch's answers ``g``, ``h``, ``j`` alone and the inputs' ``checksum``:
  the test draws the inputs and the vectors again (``draw_vectors``), which keeps it small.
- ``<layer>.npz`` for each of ``LAYER_CONFIGS`` (built-in layers and cells, and
  nn.Recurrent of a cell of one's own): the weights, the input and initial states,
  upstream vectors, torch's first and second derivatives with respect to the input, the
  states and every parameter, tangents of the input, the states and every parameter,
  torch.func.jvp's output tangents along the first two (``j.``) and along all three
  (``jp.``, over ``torch.func.functional_call``), and the Hessian of
  sum_k <v_k, output_k> times those tangents (``hvp.``, forward over reverse).

Numbers only (no pickle): ``test_golden_second_order.py`` reads them with
``allow_pickle=False`` and checks ours at 1e-10 without torch.
"""

from __future__ import annotations

import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from make_golden import flatten, state_shapes  # noqa: E402

SECOND_ORDER_DIR = pathlib.Path(__file__).parent / "golden_second_order"
SECOND_EXAMPLE = "ops_example1"  # each op case's fixed example 1, torch's answers alone

# name -> (kind, constructor kwargs, input shape, seed); initial states always given.
# "CIFG" is nn.Recurrent of the test helpers' CIFGCell (a cell of one's own), whose torch
# twin is written from its equations (``torch_cifg``). The seeds are fixed per config, so
# that adding one leaves the others' fixtures as they are.
LAYER_CONFIGS = {
    "rnn_tanh": ("RNN", dict(input_size=3, hidden_size=3), (4, 2, 3), 2),
    "lstm_2layer_bidir": ("LSTM", dict(input_size=3, hidden_size=3, num_layers=2,
                                       bidirectional=True), (3, 2, 3), 1),
    "gru_batch_first": ("GRU", dict(input_size=2, hidden_size=3, batch_first=True), (2, 3, 2), 0),
    "lstm_proj_nobias_batch_first": ("LSTM", dict(input_size=2, hidden_size=3, proj_size=2,
                                                  bias=False, batch_first=True), (2, 3, 2), 3),
    "rnn_relu_unbatched": ("RNN", dict(input_size=2, hidden_size=3, nonlinearity="relu"),
                           (3, 2), 4),
    "lstmcell": ("LSTMCell", dict(input_size=3, hidden_size=2), (2, 3), 5),
    "grucell": ("GRUCell", dict(input_size=2, hidden_size=3), (2, 2), 6),
    "cifg_bidir": ("CIFG", dict(input_size=2, hidden_size=2, bidirectional=True), (3, 2, 2), 7),
}
TWO_STATES = ("LSTM", "LSTMCell", "CIFG")


def golden_cases() -> list:
    """The op cases with a fixture: every one the live tests compare with torch."""
    from tinygrad_rnn.testing import OP_CASES
    return [c for c in OP_CASES if c.torch_fn is not None and "gradients" in c.checks()]


def float64_example(case, example: int = 0) -> tuple[list[np.ndarray], dict]:
    """The case's fixed example (``example``: the seed of its arrays; 0 is the one
    ``python -m tinygrad_rnn gradcheck`` shows), its floating arrays in float64."""
    arrays, params = case.fixed_example(example)
    return [a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays], params


def differentiable(case, arrays) -> list[int]:
    """The indices of the inputs that get gradients and tangents."""
    return [i for i, t in enumerate(case.tensors(arrays)) if t.requires_grad]


def as_tuple(torch, result) -> list:
    return [result] if isinstance(result, torch.Tensor) else list(result)


def second_examples(cases) -> list:
    """The cases whose fixed example 1 differs from example 0 (``SECOND_EXAMPLE``)."""
    def arrays(case, example):
        return float64_example(case, example)[0]
    return [c for c in cases if any(
        a.shape != b.shape or not np.array_equal(a, b)
        for a, b in zip(arrays(c, 0), arrays(c, 1)))]


def checksum(arrays) -> np.ndarray:
    """What stands for a second example's inputs in its fixture: their sums."""
    return np.array([float(np.sum(a)) for a in arrays])


def draw_vectors(out_shapes: dict, in_shapes: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """The upstream vectors ``v<k>`` of the outputs that require grad (by index), ``u<i>``
    and the tangents ``t<i>`` of the differentiable inputs, in that order from ``seed``:
    drawn again by the test for a second example, whose fixture holds torch's answers
    alone."""
    rng = np.random.default_rng(seed)
    drawn = {f"v{k}": rng.standard_normal(s) for k, s in out_shapes.items()}
    drawn.update({f"u{i}": rng.standard_normal(s) for i, s in in_shapes.items()})
    drawn.update({f"t{i}": rng.standard_normal(s) for i, s in in_shapes.items()})
    return drawn


def torch_op_reference(case, seed: int = 0, example: int = 0) -> dict[str, np.ndarray]:
    """The fixture of one op case, keyed ``<what><index>`` (without the case's name)."""
    import torch

    arrays, params = float64_example(case, example)
    wrt = differentiable(case, arrays)
    stored = {f"x{i}": a for i, a in enumerate(arrays)}
    theirs = [torch.tensor(a, requires_grad=i in wrt) for i, a in enumerate(arrays)]
    outs = as_tuple(torch, case.torch_fn(*theirs, **params))
    used = [k for k, o in enumerate(outs) if o.requires_grad]
    stored.update(draw_vectors({k: tuple(outs[k].shape) for k in used},
                               {i: arrays[i].shape for i in wrt}, seed))
    if used:
        g = torch.autograd.grad([outs[k] for k in used], [theirs[i] for i in wrt],
                                [torch.tensor(stored[f"v{k}"]) for k in used],
                                create_graph=True, allow_unused=True)
        for i, gi in zip(wrt, g):
            if gi is not None:
                stored[f"g{i}"] = gi.detach().numpy().copy()
        moving = [(i, gi) for i, gi in zip(wrt, g) if gi is not None and gi.requires_grad]
        h = (torch.autograd.grad([gi for _, gi in moving], [theirs[i] for i in wrt],
                                 [torch.tensor(stored[f"u{i}"]) for i, _ in moving],
                                 allow_unused=True) if moving else [None] * len(wrt))
        for i, hi in zip(wrt, h):
            zero = hi is None or hi._is_zerotensor()
            stored[f"h{i}"] = np.zeros(arrays[i].shape) if zero else hi.numpy().copy()
    if wrt:
        def f(*chosen):
            inputs = [torch.tensor(a) for a in arrays]
            for i, c in zip(wrt, chosen):
                inputs[i] = c
            return tuple(as_tuple(torch, case.torch_fn(*inputs, **params)))

        primal, tangent = torch.func.jvp(f, tuple(torch.tensor(arrays[i]) for i in wrt),
                                         tuple(torch.tensor(stored[f"t{i}"]) for i in wrt))
        for k, (o, t) in enumerate(zip(primal, tangent)):
            if o.is_floating_point():
                stored[f"j{k}"] = t.detach().numpy().copy()
    return stored


def call(module, x, states, kind):
    return module(x, tuple(states)) if kind in TWO_STATES else module(x, states[0])


def torch_cifg(params, x, states, num_layers=1, bidirectional=False, batch_first=False):
    """nn.Recurrent of the test helpers' CIFGCell, written in torch from its equations
    (torch has no such layer): per layer and direction, xp = x W_ih^T + b_ih and
    f, g, o = chunk(xp_t + h W_hh^T + b_hh, 3); f = sigmoid(f);
    c = f c + (1 - f) tanh(g); h = sigmoid(o) tanh(c). Returns (output, (h_n, c_n))."""
    import torch

    if batch_first:
        x = x.transpose(0, 1)
    directions = 2 if bidirectional else 1
    if states:
        h0, c0 = states
    else:
        hidden = params["weight_hh_l0"].shape[1]
        h0 = c0 = torch.zeros(directions * num_layers, x.shape[1], hidden, dtype=x.dtype)
    finals_h, finals_c = [], []
    for layer in range(num_layers):
        outputs = []
        for direction in range(directions):
            k = layer * directions + direction
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            w_ih, w_hh = params[f"weight_ih{suffix}"], params[f"weight_hh{suffix}"]
            b_ih, b_hh = params[f"bias_ih{suffix}"], params[f"bias_hh{suffix}"]
            xp = x @ w_ih.T + b_ih
            h, c, out = h0[k], c0[k], [None] * x.shape[0]
            steps = range(x.shape[0])
            for t in (reversed(steps) if direction else steps):
                f, g, o = (xp[t] + h @ w_hh.T + b_hh).chunk(3, dim=-1)
                f = torch.sigmoid(f)
                c = f * c + (1 - f) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                out[t] = h
            outputs.append(torch.stack(out))
            finals_h.append(h)
            finals_c.append(c)
        x = torch.cat(outputs, dim=-1)
    out = x.transpose(0, 1) if batch_first else x
    return out, (torch.stack(finals_h), torch.stack(finals_c))


def torch_layer(kind, kwargs, seed: int):
    """(the parameters {name: array}, torch's function of (params, x, states) giving the
    flat outputs) of one config, the weights as torch initialises them."""
    import torch

    torch.manual_seed(seed)
    if kind == "CIFG":  # CIFGCell's shapes, three gates; U(-k, k), k = 1/sqrt(H), as ours
        hidden, k = kwargs["hidden_size"], 1.0 / np.sqrt(kwargs["hidden_size"])
        layout = dict(num_layers=kwargs.get("num_layers", 1),
                      bidirectional=kwargs.get("bidirectional", False),
                      batch_first=kwargs.get("batch_first", False))
        params = {}
        for layer in range(layout["num_layers"]):
            for direction in range(2 if layout["bidirectional"] else 1):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                width = kwargs["input_size"] if layer == 0 else hidden * (
                    2 if layout["bidirectional"] else 1)
                for name, shape in (("weight_ih", (3 * hidden, width)),
                                    ("weight_hh", (3 * hidden, hidden)),
                                    ("bias_ih", (3 * hidden,)), ("bias_hh", (3 * hidden,))):
                    params[name + suffix] = (torch.rand(shape, dtype=torch.float64) * 2 - 1) * k
        return ({n: p.numpy() for n, p in params.items()},
                lambda ps, x, states: flatten(torch_cifg(ps, x, states, **layout)))
    module = getattr(torch.nn, kind)(**kwargs).double()

    def fn(ps, x, states):
        return flatten(call(lambda *args: torch.func.functional_call(module, ps, args),
                            x, states, kind))
    return {n: p.detach().numpy().copy() for n, p in module.named_parameters()}, fn


def torch_layer_reference(kind, kwargs, x_shape, seed: int) -> dict[str, np.ndarray]:
    """Weights, inputs, upstream vectors and torch's derivatives of one layer config:
    second derivatives (``h.``) over the input, the states and every parameter; the
    jvp along tangents of the input and states (``j.``) and of all three (``jp.``); and
    the Hessian of sum_k <v_k, output_k> times those tangents (``hvp.``)."""
    import torch

    params, fn = torch_layer(kind, kwargs, seed)
    rng = np.random.default_rng(seed)
    stored: dict[str, np.ndarray] = {
        "config": np.array(json.dumps({"kind": kind, "kwargs": kwargs}))}
    names = list(params)
    for n, p in params.items():
        stored[f"param.{n}"] = p
    x = rng.standard_normal(x_shape)
    states = [rng.standard_normal(s) for s in state_shapes(
        "LSTM" if kind == "CIFG" else kind, kwargs, x_shape)]
    stored["x"] = x
    for i, s in enumerate(states):
        stored[f"state.{i}"] = s
    tx = torch.tensor(x, requires_grad=True)
    ts = [torch.tensor(s, requires_grad=True) for s in states]
    tp = {n: torch.tensor(p, requires_grad=True) for n, p in params.items()}
    outs = fn(tp, tx, ts)
    for k, o in enumerate(outs):
        stored[f"v.{k}"] = rng.standard_normal(tuple(o.shape))
    wrt = [("x", tx)] + [(f"state.{i}", t) for i, t in enumerate(ts)] + [
        (f"param.{n}", tp[n]) for n in names]
    g = torch.autograd.grad(outs, [t for _, t in wrt],
                            [torch.tensor(stored[f"v.{k}"]) for k in range(len(outs))],
                            create_graph=True)
    for (name, t), gi in zip(wrt, g):
        stored[f"u.{name}"] = rng.standard_normal(tuple(t.shape))
        stored[f"g.{name}"] = gi.detach().numpy().copy()
    h = torch.autograd.grad(g, [t for _, t in wrt],
                            [torch.tensor(stored[f"u.{name}"]) for name, _ in wrt])
    for (name, _), hi in zip(wrt, h):
        stored[f"h.{name}"] = hi.numpy().copy()
    stored["t.x"] = rng.standard_normal(x_shape)
    for i, s in enumerate(states):
        stored[f"t.state.{i}"] = rng.standard_normal(s.shape)
    for n in names:  # (drawn after the others: a config's earlier fixtures stay as they were)
        stored[f"t.param.{n}"] = rng.standard_normal(params[n].shape)

    def f(x_, *rest):
        states_, ps = list(rest[:len(states)]), rest[len(states):]
        return tuple(fn(dict(zip(names, ps)), x_, states_))

    def loss(*primals):
        return sum((o * torch.tensor(stored[f"v.{k}"])).sum() for k, o in enumerate(f(*primals)))

    primals = tuple(torch.tensor(a) for a in (x, *states, *params.values()))
    whats = ["x", *(f"state.{i}" for i in range(len(states))), *(f"param.{n}" for n in names)]
    tangents = tuple(torch.tensor(stored[f"t.{w}"]) for w in whats)
    n_moving = 1 + len(states)
    with torch.no_grad():
        _, t_outs = torch.func.jvp(lambda *m: f(*m, *primals[n_moving:]),
                                   primals[:n_moving], tangents[:n_moving])
        _, tp_outs = torch.func.jvp(f, primals, tangents)
        gradient = torch.func.grad(loss, argnums=tuple(range(len(primals))))
        _, products = torch.func.jvp(gradient, primals, tangents)
    for k, (t, tp_) in enumerate(zip(t_outs, tp_outs)):
        stored[f"j.{k}"] = t.detach().numpy().copy()
        stored[f"jp.{k}"] = tp_.detach().numpy().copy()
    for w, product in zip(whats, products):
        stored[f"hvp.{w}"] = product.detach().numpy().copy()
    return stored


def main() -> int:
    sys.path.insert(0, str(pathlib.Path(__file__).parent.parent))
    SECOND_ORDER_DIR.mkdir(exist_ok=True)
    ops: dict[str, np.ndarray] = {}
    for case in golden_cases():
        for key, value in torch_op_reference(case).items():
            ops[f"{case.name}|{key}"] = value
    np.savez_compressed(SECOND_ORDER_DIR / "ops.npz", **ops)
    print(f"wrote ops.npz ({len(golden_cases())} cases)")
    second: dict[str, np.ndarray] = {}
    for case in second_examples(golden_cases()):
        stored = torch_op_reference(case, example=1)
        second[f"{case.name}|checksum"] = checksum(
            [stored[f"x{i}"] for i in range(sum(k[0] == "x" for k in stored))])
        for key, value in stored.items():
            if key[0] in "ghj":  # (the inputs and vectors are drawn again by the test)
                second[f"{case.name}|{key}"] = value
    np.savez_compressed(SECOND_ORDER_DIR / f"{SECOND_EXAMPLE}.npz", **second)
    print(f"wrote {SECOND_EXAMPLE}.npz ({len({k.split('|')[0] for k in second})} cases)")
    for name, (kind, kwargs, x_shape, seed) in LAYER_CONFIGS.items():
        np.savez_compressed(SECOND_ORDER_DIR / f"{name}.npz",
                            **torch_layer_reference(kind, kwargs, x_shape, seed))
        print(f"wrote {name}.npz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
