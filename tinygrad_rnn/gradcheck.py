"""Gradients proven, not trusted: autograd against central finite differences.

``gradcheck(fn, inputs)`` draws a random upstream gradient ``v`` for every
output of ``fn``, so the scalar being differentiated is ``sum(v * fn(inputs))``.
Autograd gives its gradient with one backward pass; finite differences give it
one element at a time::

    dL/dx[i]  ~  (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)

A random ``v`` (rather than all ones) catches a gradient that is right only on
average, such as a transposed or permuted one.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass, field

import numpy as np

from .tensor import Tensor, no_grad


class GradcheckError(RuntimeError):
    """Autograd and finite differences disagree; the message is a per-input table."""


def _flatten_outputs(out) -> list:
    """fn may return a Tensor or nested tuples/lists of them (as an LSTM does)."""
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for item in out for t in _flatten_outputs(item)]
    raise TypeError(f"gradcheck: fn must return a Tensor or a tuple of Tensors, "
                    f"got {type(out).__name__}")


def _weighted_output(fn, inputs, upstream) -> float:
    """L = sum over outputs of sum(v * out), evaluated without recording a graph."""
    with no_grad():
        outs = _flatten_outputs(fn(*inputs))
    return float(sum(np.sum(v * o.data) for v, o in zip(upstream, outs)))


def numerical_grad(fn, inputs, eps: float = 1e-6, grad_outputs=None, wrt=None) -> list:
    """Central-difference gradient of ``sum(v * fn(*inputs))`` for each tensor in ``wrt``.

    Arguments:
        fn: maps the tensors in ``inputs`` to a Tensor or a tuple of Tensors.
        inputs: the tensors passed to ``fn``.
        eps: the step; 1e-6 suits float64.
        grad_outputs: one array ``v`` per output (default: ones).
        wrt: the tensors to differentiate with respect to (default: the inputs
            that require grad). They may be parameters ``fn`` uses by closure.

    Returns:
        one array per tensor in ``wrt``, of its shape.
    """
    wrt = [t for t in inputs if t.requires_grad] if wrt is None else list(wrt)
    _check_no_shared_memory(wrt)
    if grad_outputs is None:
        with no_grad():
            grad_outputs = [np.ones(o.shape) for o in _flatten_outputs(fn(*inputs))]
    grads = []
    for t in wrt:
        g = np.zeros(t.shape, dtype=np.float64)
        # index t.data itself: reshape(-1) would nudge a copy of a non-contiguous array
        for i in np.ndindex(t.shape):
            original = t.data[i]
            t.data[i] = original + eps
            plus = _weighted_output(fn, inputs, grad_outputs)
            t.data[i] = original - eps
            minus = _weighted_output(fn, inputs, grad_outputs)
            t.data[i] = original
            g[i] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


def _check_no_shared_memory(tensors) -> None:
    """Nudging one element of a tensor would also nudge a tensor that views the same
    memory (``x`` and ``x.T`` made from one array): refuse, as the numbers would lie."""
    for j, b in enumerate(tensors):
        for i, a in enumerate(tensors[:j]):
            if np.shares_memory(a.data, b.data):
                raise ValueError(f"gradcheck: tensors {i} and {j} of those differentiated share "
                                 f"memory (one is a view of the other's array), so a finite "
                                 f"difference in one would move both; pass copies")


@dataclass
class GradcheckRow:
    name: str
    shape: tuple
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple
    analytic: float
    numeric: float
    ok: bool


@dataclass
class GradcheckReport:
    """One row per checked tensor; ``str(report)`` is a readable table."""

    rows: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    def __str__(self) -> str:
        header = (f"{'input':<16}{'shape':<14}{'max abs err':>12}{'max rel err':>12}  "
                  f"{'worst at':<12}{'analytic':>14}{'numeric':>14}  ok")
        lines = [header, "-" * len(header)]
        for r in self.rows:
            lines.append(f"{r.name:<16}{str(r.shape):<14}{r.max_abs_error:>12.3e}"
                         f"{r.max_rel_error:>12.3e}  {str(r.worst_index):<12}"
                         f"{r.analytic:>14.6e}{r.numeric:>14.6e}  {'yes' if r.ok else 'NO'}")
        return "\n".join(lines)


def _compare(name, analytic, numeric, atol, rtol) -> GradcheckRow:
    abs_err = np.abs(analytic - numeric)
    rel_err = abs_err / np.maximum(np.abs(numeric), np.finfo(np.float64).tiny)
    excess = abs_err - (atol + rtol * np.abs(numeric))  # > 0 where the check fails
    if analytic.size == 0:
        return GradcheckRow(name, analytic.shape, 0.0, 0.0, (), 0.0, 0.0, True)
    worst = np.unravel_index(np.argmax(excess), analytic.shape)
    return GradcheckRow(name, analytic.shape, float(abs_err.max()), float(rel_err.max()),
                        tuple(int(i) for i in worst), float(analytic[worst]),
                        float(numeric[worst]), bool(np.all(excess <= 0)))


def _as_leaf(t: Tensor) -> Tensor:
    """``t`` itself if it is a leaf; else a leaf sharing its data (so nudges reach it)."""
    if t.is_leaf:
        return t
    return Tensor(t.detach(), requires_grad=t.requires_grad, name=t.name)


def _user_stacklevel() -> int:
    """The warnings stacklevel of the first caller outside this package, so that a
    warning points at the user's line however deep inside us it was raised."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("tinygrad_rnn"):
        frame, level = frame.f_back, level + 1
    return level


def gradcheck_report(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                    params: dict | None = None, seed: int = 0) -> GradcheckReport:
    """Compare autograd with finite differences; return the report without raising.

    ``params`` (name -> Tensor) adds tensors that ``fn`` uses without taking them
    as arguments, such as a layer's parameters: ``dict(layer.named_parameters())``.
    """
    # a computed input (not a leaf) keeps no .grad: check fn at its value, as a leaf
    inputs = [_as_leaf(t) for t in inputs]
    named = [(t.name or f"input {i}", t) for i, t in enumerate(inputs) if t.requires_grad]
    named += list((params or {}).items())
    for name, t in named:
        if t.dtype != np.float64:
            warnings.warn(f"gradcheck: {name} is {t.dtype}; finite differences are only "
                          f"meaningful in float64", stacklevel=_user_stacklevel())
    rng = np.random.default_rng(seed)
    saved_grads = [t.grad for _, t in named]
    try:
        for _, t in named:
            t.grad = None
        outs = _flatten_outputs(fn(*inputs))
        upstream = [rng.standard_normal(o.shape) for o in outs]
        for o, v in zip(outs, upstream):
            if o.requires_grad:
                o.backward(v, retain_graph=True)
        analytic = [np.zeros(t.shape) if t.grad is None else t.grad.astype(np.float64)
                    for _, t in named]
    finally:
        for (_, t), g in zip(named, saved_grads):
            t.grad = g
    numeric = numerical_grad(fn, inputs, eps, upstream, wrt=[t for _, t in named])
    return GradcheckReport([_compare(name, a, n, atol, rtol)
                            for (name, _), a, n in zip(named, analytic, numeric)])


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, params: dict | None = None, seed: int = 0) -> bool:
    """True when autograd matches central differences for every input requiring grad.

    Passes where ``|analytic - numeric| <= atol + rtol * |numeric|`` for every
    element. Otherwise raises ``GradcheckError`` whose message is a table with
    one row per input (max abs and rel error, the worst element, the analytic
    and numeric values there), or returns False if ``raise_exception=False``.
    """
    report = gradcheck_report(fn, inputs, eps, atol, rtol, params, seed)
    if not report.ok and raise_exception:
        raise GradcheckError("gradients disagree with finite differences:\n" + str(report))
    return report.ok
