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
- ``<layer>.npz`` for each of ``LAYER_CONFIGS``: the weights, the input and initial states,
  upstream vectors, torch's first and second derivatives with respect to the input, the
  states and every parameter, tangents of the input and states, and torch.func.jvp's output
  tangents.

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

# name -> (kind, constructor kwargs, input shape); initial states always given
LAYER_CONFIGS = {
    "rnn_tanh": ("RNN", dict(input_size=3, hidden_size=3), (4, 2, 3)),
    "lstm_2layer_bidir": ("LSTM", dict(input_size=3, hidden_size=3, num_layers=2,
                                       bidirectional=True), (3, 2, 3)),
    "gru_batch_first": ("GRU", dict(input_size=2, hidden_size=3, batch_first=True), (2, 3, 2)),
}


def golden_cases() -> list:
    """The op cases with a fixture: every one the live tests compare with torch."""
    from tinygrad_rnn.testing import OP_CASES
    return [c for c in OP_CASES if c.torch_fn is not None and "gradients" in c.checks()]


def float64_example(case) -> tuple[list[np.ndarray], dict]:
    """The case's fixed example, its floating arrays in float64 (as the live tests)."""
    arrays, params = case.fixed_example()
    return [a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays], params


def differentiable(case, arrays) -> list[int]:
    """The indices of the inputs that get gradients and tangents."""
    return [i for i, t in enumerate(case.tensors(arrays)) if t.requires_grad]


def as_tuple(torch, result) -> list:
    return [result] if isinstance(result, torch.Tensor) else list(result)


def torch_op_reference(case, seed: int = 0) -> dict[str, np.ndarray]:
    """The fixture of one op case, keyed ``<what><index>`` (without the case's name)."""
    import torch

    arrays, params = float64_example(case)
    wrt = differentiable(case, arrays)
    rng = np.random.default_rng(seed)
    stored = {f"x{i}": a for i, a in enumerate(arrays)}
    theirs = [torch.tensor(a, requires_grad=i in wrt) for i, a in enumerate(arrays)]
    outs = as_tuple(torch, case.torch_fn(*theirs, **params))
    used = [k for k, o in enumerate(outs) if o.requires_grad]
    for k in used:
        stored[f"v{k}"] = rng.standard_normal(tuple(outs[k].shape))
    for i in wrt:
        stored[f"u{i}"] = rng.standard_normal(arrays[i].shape)
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
    for i in wrt:
        stored[f"t{i}"] = rng.standard_normal(arrays[i].shape)
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
    return module(x, tuple(states)) if kind == "LSTM" else module(x, states[0])


def torch_layer_reference(kind, kwargs, x_shape, seed: int) -> dict[str, np.ndarray]:
    """Weights, inputs, upstream vectors and torch's derivatives of one layer config."""
    import torch

    torch.manual_seed(seed)
    module = getattr(torch.nn, kind)(**kwargs).double()
    rng = np.random.default_rng(seed)
    stored: dict[str, np.ndarray] = {
        "config": np.array(json.dumps({"kind": kind, "kwargs": kwargs}))}
    names = [n for n, _ in module.named_parameters()]
    for n, p in module.named_parameters():
        stored[f"param.{n}"] = p.detach().numpy().copy()
    x = rng.standard_normal(x_shape)
    states = [rng.standard_normal(s) for s in state_shapes(kind, kwargs, x_shape)]
    stored["x"] = x
    for i, s in enumerate(states):
        stored[f"state.{i}"] = s
    tx = torch.tensor(x, requires_grad=True)
    ts = [torch.tensor(s, requires_grad=True) for s in states]
    outs = flatten(call(module, tx, ts, kind))
    for k, o in enumerate(outs):
        stored[f"v.{k}"] = rng.standard_normal(tuple(o.shape))
    wrt = [("x", tx)] + [(f"state.{i}", t) for i, t in enumerate(ts)] + [
        (f"param.{n}", p) for n, p in zip(names, module.parameters())]
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

    def f(x_, *states_):
        return tuple(flatten(call(module, x_, list(states_), kind)))

    primals = (torch.tensor(x), *(torch.tensor(s) for s in states))
    tangents = (torch.tensor(stored["t.x"]),
                *(torch.tensor(stored[f"t.state.{i}"]) for i in range(len(states))))
    with torch.no_grad():
        _, t_outs = torch.func.jvp(f, primals, tangents)
    for k, t in enumerate(t_outs):
        stored[f"j.{k}"] = t.detach().numpy().copy()
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
    for seed, (name, (kind, kwargs, x_shape)) in enumerate(sorted(LAYER_CONFIGS.items())):
        np.savez_compressed(SECOND_ORDER_DIR / f"{name}.npz",
                            **torch_layer_reference(kind, kwargs, x_shape, seed))
        print(f"wrote {name}.npz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
