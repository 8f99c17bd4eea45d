"""A recurrent cell no built-in provides, written from ops: the minimal gated unit.

The minimal gated unit (Zhou et al., 2016) is a GRU with one gate instead of
two: the forget gate f both mixes the old state with the new candidate and
resets the state the candidate sees::

    f  = sigmoid(x W_if^T + b_if + h W_hf^T + b_hf)
    n  = tanh(x W_in^T + b_in + (f * h) W_hn^T + b_hn)
    h' = (1 - f) * h + f * n

Its parameters take torch's names and layout (``weight_ih`` (2H, I) with the
rows of f, then n; ``weight_hh`` (2H, H); ``bias_ih``, ``bias_hh`` (2H,)), so its
state dict reads like any torch recurrent layer's. Nothing in it writes a
gradient: backward through the sequence is the engine's, the cell's step
recorded once and run over every time step as one graph node by
``tr.replay.scan``, each op's own derivative used at every step. This script

1. checks the cell's gradients with ``tr.gradcheck`` (one input, a table per
   input and parameter),
2. checks the step function on many random shapes and values with the public
   Hypothesis factory, ``tinygrad_rnn.testing.OpCase`` and ``check_op``
   (finite differences, a numpy forward, torch parity when torch is installed,
   no input mutated; --quick leaves torch out, whose import alone takes seconds),
3. trains it on the adding problem (see adding_problem.py).

    python examples/custom_cell.py            # about a minute
    python examples/custom_cell.py --quick    # seconds
"""

from __future__ import annotations

import _common as C  # first: BLAS threads, sys.path

import importlib.util
import math
import sys

import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, functional as F, nn, no_grad

from adding_problem import BASELINE, adding_batch


def mgu_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    """One step of the minimal gated unit: x (N, I), h (N, H) -> h' (N, H).

    f = sigmoid(x W_if^T + b_if + h W_hf^T + b_hf)
    n = tanh(x W_in^T + b_in + (f * h) W_hn^T + b_hn)
    h' = (1 - f) * h + f * n
    """
    x_f, x_n = F.linear(x, weight_ih, bias_ih).chunk(2, dim=-1)
    w_hf, w_hn = weight_hh.chunk(2, dim=0)
    b_hf, b_hn = bias_hh.chunk(2, dim=-1)
    f = (x_f + F.linear(h, w_hf, b_hf)).sigmoid()
    n = (x_n + F.linear(f * h, w_hn, b_hn)).tanh()
    return (1 - f) * h + f * n


def mgu_step_numpy(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    """The same step in plain numpy: the factory's reference for the forward values."""
    H = h.shape[-1]
    def sigmoid(a):
        return 1 / (1 + np.exp(-a))

    xp = x @ weight_ih.T + bias_ih
    f = sigmoid(xp[:, :H] + h @ weight_hh[:H].T + bias_hh[:H])
    n = np.tanh(xp[:, H:] + (f * h) @ weight_hh[H:].T + bias_hh[H:])
    return (1 - f) * h + f * n


def mgu_step_torch(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    """The same step in torch (the factory uses it when torch is installed)."""
    import torch
    x_f, x_n = torch.nn.functional.linear(x, weight_ih, bias_ih).chunk(2, dim=-1)
    w_hf, w_hn = weight_hh.chunk(2, dim=0)
    b_hf, b_hn = bias_hh.chunk(2, dim=-1)
    f = torch.sigmoid(x_f + torch.nn.functional.linear(h, w_hf, b_hf))
    n = torch.tanh(x_n + torch.nn.functional.linear(f * h, w_hn, b_hn))
    return (1 - f) * h + f * n


class MGUCell(nn.Module):
    """The minimal gated unit, one time step (equations in ``mgu_step``).

    Arguments:
        input_size, hidden_size: I and H.

    ``cell(x, h=None) -> h'``: x (N, I), h (N, H) (zeros when missing).
    Parameters start as U(-k, k), k = 1/sqrt(H), as torch's recurrent cells.
    """

    def __init__(self, input_size: int, hidden_size: int):
        self.input_size, self.hidden_size = input_size, hidden_size
        k = 1.0 / math.sqrt(hidden_size)
        shapes = {"weight_ih": (2 * hidden_size, input_size),
                  "weight_hh": (2 * hidden_size, hidden_size),
                  "bias_ih": (2 * hidden_size,), "bias_hh": (2 * hidden_size,)}
        for name, shape in shapes.items():
            setattr(self, name, nn.init.uniform_(nn.Parameter(np.empty(shape)), -k, k))

    def forward(self, x, h=None) -> Tensor:
        if h is None:
            h = Tensor(np.zeros((x.shape[0], self.hidden_size), dtype=x.dtype))
        return mgu_step(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class MGU(nn.Module):
    """The cell unrolled over a time-major sequence: x (T, N, I) -> (outputs (T, N, H), h_T)."""

    def __init__(self, input_size: int, hidden_size: int):
        self.cell = MGUCell(input_size, hidden_size)

    def forward(self, x: Tensor, h=None):
        if h is None:
            h = Tensor(np.zeros((x.shape[1], self.cell.hidden_size), dtype=x.dtype))
        # the cell, recorded at its first step, run over all of x as one node (replay.py);
        # the same numbers as a loop over x.unbind(0) calling self.cell, only faster
        outputs, (h,) = tr.replay.scan(self.cell, [x], [h], fixed=list(self.cell.parameters()))
        return outputs, h


class Adder(nn.Module):
    def __init__(self, hidden: int):
        self.rnn = MGU(2, hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x) -> Tensor:
        _, h = self.rnn(Tensor(x))
        return self.head(h)


# --------------------------------------------------------------------------- checks


def check_with_gradcheck(rng: np.random.Generator) -> bool:
    """tr.gradcheck of a whole 5-step sequence: inputs, initial state and all parameters."""
    layer = MGU(3, 4).double()
    x = Tensor(rng.standard_normal((5, 2, 3)), requires_grad=True, name="x")
    h0 = Tensor(rng.standard_normal((2, 4)), requires_grad=True, name="h0")
    report = tr.gradcheck_report(lambda x, h0: layer(x, h0)[0], [x, h0],
                                 params=dict(layer.named_parameters()))
    print("tr.gradcheck, a 5-step sequence (upstream gradient on every output):")
    print("  " + str(report).replace("\n", "\n  "))
    return report.ok


def check_with_factory(examples: int, torch: bool) -> dict:
    """The Hypothesis factory on ``mgu_step``: random N, I, H and values; torch
    parity too when ``torch`` is true and torch is installed."""
    try:
        from hypothesis import settings, strategies as st

        from tinygrad_rnn.testing import Inputs, OpCase, arrays, check_op
    except ImportError:
        print("(hypothesis is not installed: the factory check is skipped; "
              "pip install hypothesis)")
        return {"ran": False}

    @st.composite
    def step_inputs(draw):
        N, I, H = (draw(st.integers(1, 4)) for _ in range(3))
        shapes = [(N, I), (N, H), (2 * H, I), (2 * H, H), (2 * H,), (2 * H,)]
        return Inputs(tuple(draw(arrays(s)) for s in shapes), {})

    case = OpCase("mgu_step", fn=mgu_step, inputs=step_inputs(),
                  numpy_fn=mgu_step_numpy, torch_fn=mgu_step_torch)
    checks = ["gradients", "forward", "no_mutation"]
    if torch and importlib.util.find_spec("torch") is not None:
        checks.append("torch")
    check_op(case, checks=checks, settings=settings(max_examples=examples, deadline=None,
                                                    database=None))
    print(f"tinygrad_rnn.testing.check_op: {', '.join(checks)} passed on {examples} random "
          f"examples each")
    return {"ran": True, "checks": checks, "examples": examples}


# --------------------------------------------------------------------------- main


def get_args(argv):
    p = C.parser(__doc__.split("\n\n")[0])
    p.add_argument("--length", type=int, default=None,
                   help="adding-problem T (default 30; quick 10)")
    p.add_argument("--steps", type=int, default=None, help="updates (default 1000; quick 200)")
    p.add_argument("--hidden", type=int, default=None, help="hidden size (default 32; quick 16)")
    p.add_argument("--examples", type=int, default=None,
                   help="Hypothesis examples per check (default 50; quick 10)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-2)
    args = p.parse_args(argv)
    defaults = dict(length=(10, 30), steps=(200, 1000), hidden=(16, 32), examples=(10, 50))
    return C.fill_defaults(args, defaults)


def main(argv=None) -> dict:
    args = get_args(argv)
    rng = C.seed(args.seed)
    timer = C.Timer()
    print(f"MGUCell parameters: "
          f"{', '.join(f'{k} {v.shape}' for k, v in MGUCell(2, args.hidden).state_dict().items())}")
    gradcheck_ok = check_with_gradcheck(rng)
    factory = check_with_factory(args.examples, torch=not args.quick)
    check_seconds = timer()

    model = Adder(args.hidden).float()
    curve = C.train_mse(model, lambda: adding_batch(rng, args.batch, args.length), args)
    test = adding_batch(np.random.default_rng(args.seed + 10_000), 1000, args.length)
    with no_grad():
        test_mse = float(F.mse_loss(model(test[0]), test[1]).item())
    print(f"\nadding problem, T = {args.length}: {args.steps} updates in "
          f"{timer() - check_seconds:.1f} s; test MSE {test_mse:.4f} "
          f"(always 1.0: {BASELINE:.4f}); first 20 updates {np.mean(curve[:20]):.4f}, "
          f"last 20 {np.mean(curve[-20:]):.4f}")

    figure = C.plot_curves(args, {"MGU": {"curve": curve, "test_mse": test_mse}},
                           (BASELINE, "always 1.0 (1/6)"),
                           f"a minimal gated unit from ops, adding problem T = {args.length}",
                           "custom_cell.png")

    return C.finish({
        "gradcheck": gradcheck_ok, "factory": factory, "test_mse": test_mse,
        "baseline": BASELINE, "curve": curve, "length": args.length, "steps": args.steps,
        "check_seconds": check_seconds, "seconds": timer(), "figure": figure,
    }, args)


if __name__ == "__main__":
    main(sys.argv[1:])
