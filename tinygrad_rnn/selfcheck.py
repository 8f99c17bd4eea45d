"""``python -m tinygrad_rnn gradcheck``: every built-in op and layer against
central finite differences, one fixed float64 example each, as one table.

The test suite checks the same things on many random examples with Hypothesis;
this is the quick look a user can run anywhere numpy is installed (no
hypothesis, no torch): a few seconds, one row per op or layer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from . import functional as F
from . import nn
from .gradcheck import gradcheck_report
from .layercheck import layercheck_report
from .ops import addcmul, addmm, concat, lerp, stack
from .tensor import Tensor


@dataclass
class CheckRow:
    name: str
    what: str
    max_abs_error: float
    max_rel_error: float
    ok: bool
    seconds: float


def _arrays(rng, *shapes, positive=False):
    return [rng.uniform(0.5, 2.0, s) if positive else rng.uniform(-2.0, 2.0, s) for s in shapes]


def op_cases(rng) -> list:
    """(name, fn, input arrays): every op and Tensor method that reaches one."""
    a, b = _arrays(rng, (3, 4), (3, 4))
    col, pos = _arrays(rng, (3, 1))[0], _arrays(rng, (3, 4), positive=True)[0]
    m1, m2, v = _arrays(rng, (2, 3, 4), (4, 5), (4,))
    away = np.where(a >= 0, a + 0.2, a - 0.2)   # keep relu off its kink
    labels = np.array([0, 3, 1])
    return [
        ("add (broadcast)", lambda x, y: x + y, [a, col]),
        ("sub", lambda x, y: x - y, [a, b]),
        ("mul (broadcast)", lambda x, y: x * y, [a, col]),
        ("div", lambda x, y: x / y, [a, pos]),
        ("neg", lambda x: -x, [a]),
        ("pow", lambda x: x ** 3, [a]),
        ("sqrt", lambda x: x.sqrt(), [pos]),
        ("matmul (batched)", lambda x, y: x @ y, [m1, m2]),
        ("matmul (vector)", lambda x, y: x @ y, [m1, v]),
        ("addmm (broadcast input)", lambda c, x, y: addmm(c, x, y), [*_arrays(rng, (5,)), a, m2]),
        ("addcmul (broadcast, value)", lambda c, x, y: addcmul(c, x, y, value=0.5), [a, col, b]),
        ("lerp (broadcast weight)", lambda x, y, w: lerp(x, y, w), [a, b, col]),
        ("exp", lambda x: x.exp(), [a]),
        ("log", lambda x: x.log(), [pos]),
        ("tanh", lambda x: x.tanh(), [a]),
        ("sigmoid", lambda x: x.sigmoid(), [a]),
        ("relu", lambda x: x.relu(), [away]),
        ("sum (dim)", lambda x: x.sum(dim=1, keepdim=True), [a]),
        ("mean", lambda x: x.mean(dim=0), [a]),
        ("reshape", lambda x: x.reshape(4, 3), [a]),
        ("transpose", lambda x: x.transpose(0, 2, 1), [m1]),
        ("getitem (slice)", lambda x: x[1:, ::-2], [a]),
        ("getitem (repeated index)", lambda x: x[np.array([0, 2, 0])], [a]),
        ("concat", lambda x, y: concat([x, y], dim=1), [a, col]),
        ("stack", lambda x, y: stack([x, y], dim=0), [a, b]),
        ("split", lambda x: x.split([1, 3], dim=-1), [a]),
        ("chunk", lambda x: x.chunk(2, dim=-1), [a]),
        ("unbind", lambda x: x.unbind(0), [a]),
        ("softmax", lambda x: F.softmax(x, dim=-1), [a]),
        ("log_softmax", lambda x: F.log_softmax(x, dim=-1), [a]),
        ("cross_entropy", lambda x: F.cross_entropy(x, labels), [a]),
        ("cross_entropy (label smoothing)",
         lambda x: F.cross_entropy(x, labels, label_smoothing=0.1), [a]),
        ("embedding (repeated index)", lambda w: F.embedding(np.array([[0, 2], [2, 1]]), w), [a]),
        ("mse_loss", lambda x: F.mse_loss(x, b), [a]),
        ("linear", lambda x, w, bias: F.linear(x, w, bias), [a, *_arrays(rng, (2, 4), (2,))]),
        ("linear (batched, no bias)", lambda x, w: F.linear(x, w), [m1, *_arrays(rng, (2, 4))]),
    ]


def layer_cases(rng) -> list:
    """(name, layer, x): every built-in layer and cell, small, in float64."""
    def x(*shape):
        return rng.standard_normal(shape)
    return [
        ("nn.Linear", nn.Linear(3, 2), x(4, 3)),
        ("nn.RNNCell", nn.RNNCell(2, 3), x(2, 2)),
        ("nn.RNNCell (relu)", nn.RNNCell(2, 3, nonlinearity="relu"), x(2, 2)),
        ("nn.LSTMCell", nn.LSTMCell(2, 3), x(2, 2)),
        ("nn.GRUCell", nn.GRUCell(2, 3), x(2, 2)),
        ("nn.RNN", nn.RNN(2, 3), x(3, 2, 2)),
        ("nn.RNN 2 layers, bidirectional", nn.RNN(2, 2, num_layers=2, bidirectional=True), x(2, 1, 2)),
        ("nn.LSTM", nn.LSTM(2, 3), x(3, 2, 2)),
        ("nn.LSTM batch_first, proj_size", nn.LSTM(2, 3, batch_first=True, proj_size=2), x(1, 3, 2)),
        ("nn.GRU", nn.GRU(2, 3), x(3, 2, 2)),
        ("nn.GRU bidirectional, no bias", nn.GRU(2, 2, bias=False, bidirectional=True), x(3, 1, 2)),
    ]


def run_all(seed: int = 0) -> list:
    """Check every op and layer; one ``CheckRow`` each."""
    rng = np.random.default_rng(seed)
    rows = []
    for name, fn, arrays in op_cases(rng):
        start = time.perf_counter()
        inputs = [Tensor(a, requires_grad=True) for a in arrays]
        report = gradcheck_report(fn, inputs)
        rows.append(CheckRow(name, "op", max(r.max_abs_error for r in report.rows),
                             max(r.max_rel_error for r in report.rows), report.ok,
                             time.perf_counter() - start))
    for name, layer, x in layer_cases(rng):
        start = time.perf_counter()
        report = layercheck_report(layer.double(), x)
        rows.append(CheckRow(name, "layer", max(r.max_abs_error for r in report.rows),
                             max(r.max_rel_error for r in report.rows), report.ok,
                             time.perf_counter() - start))
    return rows


def format_table(rows) -> str:
    width = max(len(r.name) for r in rows) + 2
    header = f"{'':<6}{'name':<{width}}{'max abs err':>12}{'max rel err':>12}{'time':>8}  ok"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r.what:<6}{r.name:<{width}}{r.max_abs_error:>12.2e}{r.max_rel_error:>12.2e}"
                     f"{r.seconds:>7.2f}s  {'yes' if r.ok else 'NO'}")
    failed = [r.name for r in rows if not r.ok]
    lines.append("")
    lines.append(f"{len(rows) - len(failed)} of {len(rows)} agree with central finite differences"
                 + (f"; disagree: {', '.join(failed)}" if failed else ""))
    return "\n".join(lines)
