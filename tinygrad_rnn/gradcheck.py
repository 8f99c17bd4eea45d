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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .checkrows import ERROR_COLUMNS, Column, GradientErrors, format_table, warn_unless_float64
from .tensor import Tensor, no_grad

if TYPE_CHECKING:
    from .layercheck import LayerCheckReport


class GradcheckError(RuntimeError):
    """Autograd and finite differences disagree; the message is a per-input table."""


def _flatten_outputs(out: Any) -> list[Tensor]:
    """fn may return a Tensor or nested tuples/lists of them (as an LSTM does)."""
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for item in out for t in _flatten_outputs(item)]
    raise TypeError(f"gradcheck: fn must return a Tensor or a tuple of Tensors, "
                    f"got {type(out).__name__}")


def _weighted_output(fn: Callable[..., Any], inputs: Sequence[Tensor],
                     upstream: Sequence[np.ndarray]) -> float:
    """L = sum over outputs of sum(v * out), evaluated without recording a graph."""
    with no_grad():
        outs = _flatten_outputs(fn(*inputs))
    return float(sum(np.sum(v * o.data) for v, o in zip(upstream, outs)))


def numerical_grad(fn: Callable[..., Any], inputs: Sequence[Tensor], eps: float = 1e-6,
                   grad_outputs: Sequence[np.ndarray] | None = None,
                   wrt: Sequence[Tensor] | None = None) -> list[np.ndarray]:
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


def _check_no_shared_memory(tensors: Sequence[Tensor]) -> None:
    """Nudging one element of a tensor would also nudge a tensor that views the same
    memory (``x`` and ``x.T`` made from one array): refuse, as the numbers would lie."""
    for j, b in enumerate(tensors):
        for i, a in enumerate(tensors[:j]):
            if np.shares_memory(a.data, b.data):
                raise ValueError(f"gradcheck: tensors {i} and {j} of those differentiated share "
                                 f"memory (one is a view of the other's array), so a finite "
                                 f"difference in one would move both; pass copies")


@dataclass
class GradcheckRow(GradientErrors):
    """One checked tensor: its name and shape, and how far autograd is from central
    differences (the fields of ``GradientErrors``)."""

    name: str
    shape: tuple


_COLUMNS = (Column("input", lambda r: r.name, 16, align="<"),
            Column("shape", lambda r: r.shape, 14, align="<"), *ERROR_COLUMNS)


@dataclass
class GradcheckReport:
    """One row per checked tensor; ``str(report)`` is a readable table."""

    rows: list[GradcheckRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    def __str__(self) -> str:
        return "\n".join(format_table(_COLUMNS, self.rows))


def _as_leaf(t: Tensor) -> Tensor:
    """``t`` itself if it is a leaf; else a leaf sharing its data (so nudges reach it)."""
    if t.is_leaf:
        return t
    return Tensor(t.detach(), requires_grad=t.requires_grad, name=t.name)


def autograd_and_numeric(fn: Callable[..., Any], inputs: Sequence[Tensor], wrt: Sequence[Tensor],
                         eps: float, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(autograd's, central differences') gradients of ``sum(v * fn(*inputs))`` with
    respect to each tensor in ``wrt``, for one random ``v`` per output drawn from
    ``seed``: two lists of float64 arrays. Every ``.grad`` is left as it was found."""
    saved_grads = [t.grad for t in wrt]
    try:
        for t in wrt:
            t.grad = None
        outs = _flatten_outputs(fn(*inputs))
        rng = np.random.default_rng(seed)
        upstream = [rng.standard_normal(o.shape) for o in outs]
        for o, v in zip(outs, upstream):
            if o.requires_grad:
                o.backward(v, retain_graph=True)
        analytic = [np.zeros(t.shape) if t.grad is None else t.grad.astype(np.float64)
                    for t in wrt]
    finally:
        for t, g in zip(wrt, saved_grads):
            t.grad = g
    return analytic, numerical_grad(fn, inputs, eps, upstream, wrt=wrt)


def gradcheck_report(fn: Callable[..., Any], inputs: Sequence[Tensor], eps: float = 1e-6,
                     atol: float = 1e-5, rtol: float = 1e-3,
                     params: dict[str, Tensor] | None = None, seed: int = 0) -> GradcheckReport:
    """Compare autograd with finite differences; return the report without raising.

    ``params`` (name -> Tensor) adds tensors that ``fn`` uses without taking them
    as arguments, such as a layer's parameters: ``dict(layer.named_parameters())``.
    """
    # a computed input (not a leaf) keeps no .grad: check fn at its value, as a leaf
    inputs = [_as_leaf(t) for t in inputs]
    named = [(t.name or f"input {i}", t) for i, t in enumerate(inputs) if t.requires_grad]
    named += list((params or {}).items())
    warn_unless_float64("gradcheck", named)
    analytic, numeric = autograd_and_numeric(fn, inputs, [t for _, t in named], eps, seed)
    return GradcheckReport([GradcheckRow.measure(a, n, atol, rtol, name=name, shape=a.shape)
                            for (name, _), a, n in zip(named, analytic, numeric)])


def verdict(report: GradcheckReport | LayerCheckReport, raise_exception: bool,
            headline: str) -> bool:
    """``report.ok``; or, when it is False and ``raise_exception``, raise ``GradcheckError``
    with the headline and the report's table. (``gradcheck`` and ``gradcheck_layer``.)"""
    if not report.ok and raise_exception:
        raise GradcheckError(f"{headline}:\n{report}")
    return report.ok


def gradcheck(fn: Callable[..., Any], inputs: Sequence[Tensor], eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True,
              params: dict[str, Tensor] | None = None, seed: int = 0) -> bool:
    """True when autograd matches central differences for every input requiring grad.

    Passes where ``|analytic - numeric| <= atol + rtol * |numeric|`` for every
    element. Otherwise raises ``GradcheckError`` whose message is a table with
    one row per input (max abs and rel error, the worst element, the analytic
    and numeric values there), or returns False if ``raise_exception=False``.
    """
    report = gradcheck_report(fn, inputs, eps, atol, rtol, params, seed)
    return verdict(report, raise_exception, "gradients disagree with finite differences")
