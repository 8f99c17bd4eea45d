"""``python -m tinygrad_rnn gradcheck``: every built-in op and layer against
central finite differences, one fixed float64 example each, as one table.

The ops are the rows of the op table (``op_cases.CASES``), each on its fixed
example; the test suite checks the same rows on many random examples with
Hypothesis. This is the quick look a user can run anywhere numpy is installed
(no hypothesis, no torch): a few seconds, one row per op or layer.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import nn
from .case import OpCase
from .gradcheck import gradcheck_report
from .layercheck import layercheck_report
from .op_cases import CASES
from .rng import seeded
from .tour_text import in_language, said, text as words


@dataclass
class CheckRow:
    name: str
    what: str
    max_abs_error: float
    max_rel_error: float
    ok: bool
    seconds: float


def gradcheck_cases() -> list[OpCase]:
    """The rows of the op table (``op_cases.CASES``) that finite differences can check."""
    return [case for case in CASES if "gradients" not in case.skip]


def check_op_example(case: OpCase, seed: int = 0) -> CheckRow:
    """``case``'s fixed example against finite differences, with the case's tolerances."""
    start = time.perf_counter()
    # (not None: every case of the table has a fixed example, which test_ops checks)
    arrays, params = case.fixed_example(seed)  # type: ignore[misc]
    report = gradcheck_report(lambda *tensors: case.fn(*tensors, **params), case.tensors(arrays),
                              atol=case.atol, rtol=case.rtol)
    return CheckRow(case.name, "op", max(r.max_abs_error for r in report.rows),
                    max(r.max_rel_error for r in report.rows), report.ok,
                    time.perf_counter() - start)


def layer_cases(rng: np.random.Generator) -> list[tuple[str, nn.Module, np.ndarray]]:
    """(name, layer, x): every built-in layer and cell, small, in float64."""
    def x(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape)
    return [
        ("nn.Linear", nn.Linear(3, 2), x(4, 3)),
        ("nn.RNNCell", nn.RNNCell(2, 3), x(2, 2)),
        ("nn.RNNCell (relu)", nn.RNNCell(2, 3, nonlinearity="relu"), x(2, 2)),
        ("nn.LSTMCell", nn.LSTMCell(2, 3), x(2, 2)),
        ("nn.GRUCell", nn.GRUCell(2, 3), x(2, 2)),
        ("nn.RNN", nn.RNN(2, 3), x(3, 2, 2)),
        (said("sc_rnn_two_layers"), nn.RNN(2, 2, num_layers=2, bidirectional=True),
         x(2, 1, 2)),
        ("nn.LSTM", nn.LSTM(2, 3), x(3, 2, 2)),
        ("nn.LSTM batch_first, proj_size", nn.LSTM(2, 3, batch_first=True, proj_size=2),
         x(1, 3, 2)),
        ("nn.GRU", nn.GRU(2, 3), x(3, 2, 2)),
        (said("sc_gru_no_bias"), nn.GRU(2, 2, bias=False, bidirectional=True), x(3, 1, 2)),
    ]


def run_all(seed: int = 0) -> list[CheckRow]:
    """Check every op and layer; one ``CheckRow`` each, the same on every run: the
    layers' weights, like their inputs, are drawn from ``seed`` (and the package's
    generator is left as the caller had it)."""
    rows = [check_op_example(case, seed) for case in gradcheck_cases()]
    with seeded(seed):
        cases = layer_cases(np.random.default_rng(seed))
    for name, layer, x in cases:
        start = time.perf_counter()
        report = layercheck_report(layer.double(), x)
        rows.append(CheckRow(name, "layer", max(r.max_abs_error for r in report.rows),
                             max(r.max_rel_error for r in report.rows), report.ok,
                             time.perf_counter() - start))
    return rows


def format_table(rows: Sequence[CheckRow], lang: str = "en") -> str:
    """The rows as a table, then how many agree; headers and verdicts in ``lang``."""
    names = [in_language(r.name, lang) for r in rows]  # (a layer's may be a Said)
    width = max(len(n) for n in names) + 2
    what = max(6, *(len(words(f"sc_{r.what}", lang)) + 1 for r in rows))
    abs_err, rel_err = (words(k, lang) for k in ("col_max_abs", "col_max_rel"))
    errors = max(12, len(abs_err) + 1, len(rel_err) + 1)  # (12 in English)
    header = (f"{'':<{what}}{words('col_name', lang):<{width}}{abs_err:>{errors}}"
              f"{rel_err:>{errors}}{words('sc_time', lang):>8}  {words('col_ok', lang)}")
    lines = [header, "-" * len(header)]
    for r, name in zip(rows, names):
        lines.append(f"{words('sc_' + r.what, lang):<{what}}{name:<{width}}"
                     f"{r.max_abs_error:>{errors}.2e}{r.max_rel_error:>{errors}.2e}"
                     f"{r.seconds:>7.2f}s  {words('yes' if r.ok else 'no', lang)}")
    failed = [n for r, n in zip(rows, names) if not r.ok]
    lines.append("")
    lines.append(words("sc_agree", lang, agreed=len(rows) - len(failed), n=len(rows))
                 + (words("sc_disagree", lang, names=", ".join(failed)) if failed else ""))
    return "\n".join(lines)
