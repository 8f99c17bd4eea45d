"""Four recurrent cells from the literature, each written as its step on nn.RecurrentCell.

Each cell is a few lines: its equations, with torch's parameter layout (row
blocks of ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``, one per gate)
and any parameters of its own. ``nn.Recurrent`` runs it as a multi-layer,
bidirectional sequence layer, each layer and direction one ``Scan`` node.

- CIFG LSTM (Greff et al., 2017): the input gate coupled to the forget gate, i = 1 - f.
- Peephole LSTM (Gers & Schmidhuber, 2000): the gates also see the cell state,
  through diagonal weights ``weight_ci``, ``weight_cf``, ``weight_co`` (H,).
- Layer-norm LSTM (Ba et al., 2016): the input's and the state's shares of the
  gates each layer-normalised (``nn.LayerNorm`` over the 4H gate rows), and the
  cell state before its tanh.
- JANET (van der Westhuizen & Lasenby, 2018): a forget gate only,
  c' = f * c + (1 - sigmoid(a_f - beta)) * tanh(a_g), h' = c'.

For each one the script

1. checks its gradients against finite differences, per gate and time step,
   with ``tr.gradcheck_layer`` on a 2-layer bidirectional float64 layer,
2. trains it on the adding problem (see adding_problem.py) against the
   baseline of always predicting 1.0 (MSE 1/6),
3. times one training step scanned (one Scan node per layer) and op by op
   (``replay.disabled()``), and checks the two give the same bits,

and prints a table.

    python examples/cells.py            # T = 30, about a minute
    python examples/cells.py --quick    # T = 10, seconds
"""

from __future__ import annotations

import _common as C  # first: BLAS threads, sys.path

import math
import sys

import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, functional as F, nn, no_grad, replay

from adding_problem import BASELINE, adding_batch

# --------------------------------------------------------------------------- the cells


class CIFGCell(nn.RecurrentCell):
    """LSTM with coupled input and forget gates (Greff et al., 2017)::

        f = sigmoid(a_f), c' = f * c + (1 - f) * tanh(a_g), h' = sigmoid(a_o) * tanh(c')
    """

    gates = ("f", "g", "o")
    state_names = ("h", "c")

    def step(self, xp, state):
        h, c = state
        a_f, a_g, a_o = (xp + self.recurrent(h)).chunk(3, dim=-1)
        f = a_f.sigmoid()
        c = f * c + (1 - f) * a_g.tanh()
        return a_o.sigmoid() * c.tanh(), c


class PeepholeLSTMCell(nn.RecurrentCell):
    """LSTM whose gates see the cell state (Gers & Schmidhuber, 2000)::

        i = sigmoid(a_i + w_ci * c), f = sigmoid(a_f + w_cf * c)
        c' = f * c + i * tanh(a_g)
        o = sigmoid(a_o + w_co * c'), h' = o * tanh(c')

    The peepholes ``weight_ci``, ``weight_cf``, ``weight_co`` (H,) start as U(-k, k),
    k = 1/sqrt(H), as the other weights.
    """

    gates = ("i", "f", "g", "o")
    state_names = ("h", "c")

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__(input_size, hidden_size, bias)
        k = 1.0 / math.sqrt(hidden_size)
        for name in ("weight_ci", "weight_cf", "weight_co"):
            setattr(self, name, nn.init.uniform_(nn.Parameter(np.empty(hidden_size)), -k, k))

    def step(self, xp, state):
        h, c = state
        a_i, a_f, a_g, a_o = (xp + self.recurrent(h)).chunk(4, dim=-1)
        i = (a_i + self.weight_ci * c).sigmoid()
        f = (a_f + self.weight_cf * c).sigmoid()
        c = f * c + i * a_g.tanh()
        o = (a_o + self.weight_co * c).sigmoid()
        return o * c.tanh(), c


class LayerNormLSTMCell(nn.RecurrentCell):
    """LSTM with layer normalisation (Ba et al., 2016)::

        a = LN_ih(x W_ih^T + b_ih) + LN_hh(h W_hh^T + b_hh)      (a_i, a_f, a_g, a_o)
        c' = sigmoid(a_f) * c + sigmoid(a_i) * tanh(a_g)
        h' = sigmoid(a_o) * tanh(LN_c(c'))

    ``norm_ih``, ``norm_hh`` (over 4H) and ``norm_c`` (over H) are ``nn.LayerNorm``
    with their own gain and bias. The input's share is normalised in
    ``project_inputs``: every time step in one node.
    """

    gates = ("i", "f", "g", "o")
    state_names = ("h", "c")

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__(input_size, hidden_size, bias)
        self.norm_ih = nn.LayerNorm(4 * hidden_size)
        self.norm_hh = nn.LayerNorm(4 * hidden_size)
        self.norm_c = nn.LayerNorm(hidden_size)

    def project_inputs(self, x):
        return self.norm_ih(super().project_inputs(x))

    def step(self, xp, state):
        h, c = state
        a_i, a_f, a_g, a_o = (xp + self.norm_hh(self.recurrent(h))).chunk(4, dim=-1)
        c = a_f.sigmoid() * c + a_i.sigmoid() * a_g.tanh()
        return a_o.sigmoid() * self.norm_c(c).tanh(), c


class JANETCell(nn.RecurrentCell):
    """Just Another NETwork, a forget gate only (van der Westhuizen & Lasenby, 2018)::

        c' = sigmoid(a_f) * c + (1 - sigmoid(a_f - beta)) * tanh(a_g),  h' = c'

    ``beta`` (default 1, as the paper) is a keyword argument of the cell, which
    ``nn.Recurrent(JANETCell, ..., beta=...)`` passes to every cell.
    """

    gates = ("f", "g")

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 beta: float = 1.0):
        super().__init__(input_size, hidden_size, bias)
        self.beta = float(beta)

    def step(self, xp, state):
        (c,) = state
        a_f, a_g = (xp + self.recurrent(c)).chunk(2, dim=-1)
        return a_f.sigmoid() * c + (1 - (a_f - self.beta).sigmoid()) * a_g.tanh()


CELLS = {"CIFG LSTM": CIFGCell, "peephole LSTM": PeepholeLSTMCell,
         "layer-norm LSTM": LayerNormLSTMCell, "JANET": JANETCell}


# --------------------------------------------------------------------------- the task


class Adder(nn.Module):
    """An ``nn.Recurrent`` of a cell over the sequence, then a linear read-out of its
    last output."""

    def __init__(self, cell_class, hidden: int):
        self.rnn = nn.Recurrent(cell_class, 2, hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x) -> Tensor:
        out, _ = self.rnn(Tensor(x))
        return self.head(out[-1])


def gradcheck(cell_class, seed: int) -> bool:
    """``tr.gradcheck_layer`` per gate and per time step on a small float64 layer of
    the cell: 2 layers, bidirectional, T = 3, N = 2."""
    tr.manual_seed(seed)
    layer = nn.Recurrent(cell_class, 2, 3, num_layers=2, bidirectional=True).double()
    x = np.random.default_rng(seed).standard_normal((3, 2, 2))
    return tr.gradcheck_layer(layer, x, gates=cell_class.gates, raise_exception=False)


def train(cell_class, args, test: tuple) -> dict:
    """Train an Adder of the cell; its curve, test MSE and seconds."""
    rng = C.seed(args.seed)  # the same initialization stream and batches for every cell
    model = Adder(cell_class, args.hidden).float()
    timer = C.Timer()
    curve = C.train_mse(model, lambda: adding_batch(rng, args.batch, args.length), args,
                        desc=f"{cell_class.__name__:>17}")
    seconds = timer()
    with no_grad():
        test_mse = float(F.mse_loss(model(test[0]), test[1]).item())
    return {"curve": curve, "test_mse": test_mse, "seconds": seconds,
            "parameters": sum(p.size for p in model.rnn.parameters())}


def training_step(model, x, y, scanned: bool) -> tuple[float, list]:
    """One forward and backward pass: (the loss, every parameter's gradient)."""
    model.zero_grad()
    if scanned:
        loss = F.mse_loss(model(x), y)
    else:
        with replay.disabled():
            loss = F.mse_loss(model(x), y)
    loss.backward()
    return loss.item(), [p.grad.copy() for p in model.parameters()]


def time_step(cell_class, args, repeats: int) -> dict:
    """The median seconds of a training step, scanned and op by op, on one batch of the
    task at the training sizes, and whether both give the same bits."""
    C.seed(args.seed)
    model = Adder(cell_class, args.hidden).float()
    x, y = adding_batch(np.random.default_rng(args.seed), args.batch, args.length)
    y = Tensor(y)
    results = {}
    for scanned in (True, False):
        training_step(model, x, y, scanned)  # warm up (the scan records its step here)
        times = []
        for _ in range(repeats):
            timer = C.Timer()
            loss, grads = training_step(model, x, y, scanned)
            times.append(timer())
        results[scanned] = (float(np.median(times)), loss, grads)
    (t_scan, loss_scan, g_scan), (t_ops, loss_ops, g_ops) = results[True], results[False]
    same = loss_scan == loss_ops and all(np.array_equal(a, b) for a, b in zip(g_scan, g_ops))
    return {"scanned_ms": 1e3 * t_scan, "op_by_op_ms": 1e3 * t_ops,
            "loss_scanned": loss_scan, "loss_op_by_op": loss_ops, "identical": bool(same)}


# --------------------------------------------------------------------------- main


def get_args(argv):
    p = C.parser(__doc__.split("\n\n")[0])
    p.add_argument("--length", type=int, default=None,
                   help="adding-problem T (default 30; quick 10)")
    p.add_argument("--steps", type=int, default=None,
                   help="updates per cell (default 600; quick 400)")
    p.add_argument("--hidden", type=int, default=None, help="hidden size (default 32; quick 16)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed training steps each way (default 20; quick 5)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--cells", nargs="+", choices=list(CELLS), default=list(CELLS))
    args = p.parse_args(argv)
    defaults = dict(length=(10, 30), steps=(400, 600), hidden=(16, 32), repeats=(5, 20))
    return C.fill_defaults(args, defaults)


def main(argv=None) -> dict:
    args = get_args(argv)
    timer = C.Timer()
    test = adding_batch(np.random.default_rng(args.seed + 10_000), 1000, args.length)
    test_baseline = float(np.mean((test[1] - 1.0) ** 2))
    print(f"adding problem, T = {args.length}: {args.steps} updates of {args.batch} sequences, "
          f"hidden {args.hidden}, Adam lr {args.lr}; always 1.0 scores {test_baseline:.4f}")
    results = {}
    for name in args.cells:
        cell_class = CELLS[name]
        r = train(cell_class, args, test)
        r["gradcheck"] = gradcheck(cell_class, args.seed)
        r.update(time_step(cell_class, args, args.repeats))
        results[name] = r
        print(f"  {name}: test MSE {r['test_mse']:.4f}, {r['seconds']:.1f} s")

    header = ("| cell | parameters | test MSE | always 1.0 | gradcheck per gate "
              "| training step scanned | op by op | ratio | same bits |")
    print("\n" + header + "\n|" + "---|" * 9)
    for name, r in results.items():
        print(f"| {name} | {r['parameters']} | {r['test_mse']:.4f} | {test_baseline:.4f} | "
              f"{'pass' if r['gradcheck'] else 'FAIL'} | {r['scanned_ms']:.1f} ms | "
              f"{r['op_by_op_ms']:.1f} ms | {r['scanned_ms'] / r['op_by_op_ms']:.2f}x | "
              f"{'yes' if r['identical'] else 'NO'} |")

    figure = C.plot_curves(args, results, (BASELINE, "always 1.0 (1/6)"),
                           f"four cells on nn.RecurrentCell, adding problem T = {args.length}",
                           "cells.png")
    return C.finish({
        "length": args.length, "steps": args.steps, "hidden": args.hidden,
        "baseline": BASELINE, "test_baseline": test_baseline,
        "cells": {name: {k: v for k, v in r.items() if k != "curve"}
                  for name, r in results.items()},
        "curves": {name: r["curve"] for name, r in results.items()},
        "total_seconds": timer(), "figure": figure,
    }, args)


if __name__ == "__main__":
    main(sys.argv[1:])
