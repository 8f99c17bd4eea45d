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

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .arguments import describe, flag, number, size
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
        inputs: the tensors passed to ``fn`` (a lone Tensor is a list of one).
        eps: the step, > 0; 1e-6 suits float64.
        grad_outputs: one array ``v`` per output, of its shape (default: ones).
        wrt: the tensors to differentiate with respect to (default: the inputs
            that require grad). They may be parameters ``fn`` uses by closure.

    Returns:
        one array per tensor in ``wrt``, of its shape.

    Refuses (TypeError) inputs that are not Tensors, a ``wrt`` of anything else,
    and (ValueError) ``eps <= 0`` or ``grad_outputs`` that do not match fn's outputs
    one for one, shape for shape.
    """
    where = "numerical_grad"
    _check_fn(where, fn)
    inputs = _check_inputs(where, inputs)
    eps = _check_eps(where, eps)
    if wrt is None:
        wrt = [t for t in inputs if t.requires_grad]
    else:
        wrt = _check_tensors(where, "wrt", wrt)
    if not wrt:
        return []  # nothing to differentiate: fn is not even called
    _check_no_shared_memory(wrt)
    with no_grad():
        outs = _flatten_outputs(fn(*inputs))
    if grad_outputs is None:
        grad_outputs = [np.ones(o.shape) for o in outs]
    else:
        grad_outputs = _check_grad_outputs(where, grad_outputs, outs)
    return _central_differences(fn, inputs, eps, grad_outputs, wrt)


def _central_differences(fn: Callable[..., Any], inputs: Sequence[Tensor], eps: float,
                         grad_outputs: Sequence[np.ndarray],
                         wrt: Sequence[Tensor]) -> list[np.ndarray]:
    """``numerical_grad`` on arguments already checked."""
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


# --------------------------------------------------------------------------- checks at the door
# (torch's gradcheck passes non-Tensor inputs through to fn untouched; ours refuses them,
# as issue 14 asks: an array in the list was surely meant as a tensor to check, and a
# constant is as easily passed to fn by closure)


def _check_fn(where: str, fn: Any) -> None:
    if not callable(fn):
        raise TypeError(f"{where}: fn must be callable, got {describe(fn)}")


def _check_inputs(where: str, inputs: Any) -> list[Tensor]:
    """``inputs`` as a list of Tensors; a lone Tensor is a list of one (as in torch)."""
    if isinstance(inputs, Tensor):
        return [inputs]
    if isinstance(inputs, (str, bytes, np.ndarray, Mapping)) or not isinstance(inputs, Iterable):
        raise TypeError(f"{where}: inputs must be a list or tuple of Tensors, "
                        f"got {describe(inputs)}")
    inputs = list(inputs)
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"{where}: input {i} must be a Tensor, got {type(t).__name__}; "
                            f"wrap an array as tr.Tensor(a, requires_grad=True), and pass a "
                            f"constant to fn by closure")
    return inputs


def _check_tensors(where: str, name: str, tensors: Any) -> list[Tensor]:
    if isinstance(tensors, (Tensor, str, bytes, np.ndarray, Mapping)) or not isinstance(
            tensors, Iterable):
        raise TypeError(f"{where}: {name} must be a list of Tensors, got {describe(tensors)}")
    tensors = list(tensors)
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{where}: {name}[{i}] must be a Tensor, got {type(t).__name__}")
    return tensors


def _check_eps(where: str, eps: Any) -> float:
    eps = number(where, "eps", eps)
    if eps <= 0:
        raise ValueError(f"{where}: eps must be > 0, got {eps}")
    return eps


def _check_tolerances(where: str, eps: Any, atol: Any, rtol: Any) -> tuple[float, float, float]:
    """eps > 0, atol and rtol >= 0, all finite: (eps, atol, rtol) as floats."""
    return (_check_eps(where, eps), number(where, "atol", atol, minimum=0.0),
            number(where, "rtol", rtol, minimum=0.0))


def _check_params(where: str, params: Any) -> list[tuple[str, Tensor]]:
    """``params`` (None, or a dict name -> Tensor requiring grad) as (name, tensor) pairs."""
    if params is None:
        return []
    if not isinstance(params, Mapping):
        hint = (": pass dict(module.named_parameters())"
                if hasattr(params, "named_parameters") else "")
        raise TypeError(f"{where}: params must be a dict name -> Tensor, "
                        f"got {describe(params)}{hint}")
    for name, t in params.items():
        if not isinstance(name, str):
            raise TypeError(f"{where}: the keys of params must be str, got {describe(name)}")
        if not isinstance(t, Tensor):
            raise TypeError(f"{where}: params[{name!r}] must be a Tensor, "
                            f"got {type(t).__name__}")
        if not t.requires_grad:
            raise ValueError(f"{where}: params[{name!r}] does not require grad, so autograd "
                             f"gives it no gradient to check")
    return list(params.items())


def _check_grad_outputs(where: str, grad_outputs: Any, outs: Sequence[Tensor]) -> list[np.ndarray]:
    """One array per output of fn, of its shape."""
    if isinstance(grad_outputs, (Tensor, np.ndarray)):
        grad_outputs = [grad_outputs]
    if isinstance(grad_outputs, (str, bytes, Mapping)) or not isinstance(grad_outputs, Iterable):
        raise TypeError(f"{where}: grad_outputs must be a list of arrays, one per output, "
                        f"got {describe(grad_outputs)}")
    arrays = []
    for k, v in enumerate(grad_outputs):
        try:
            arrays.append(np.asarray(v.data if isinstance(v, Tensor) else v, dtype=np.float64))
        except (TypeError, ValueError):
            raise TypeError(f"{where}: grad_outputs[{k}] must be an array of numbers, "
                            f"got {describe(v)}") from None
    if len(arrays) != len(outs):
        raise ValueError(f"{where}: grad_outputs has {len(arrays)} arrays, but fn returned "
                         f"{len(outs)} outputs")
    for k, (v, o) in enumerate(zip(arrays, outs)):
        if v.shape != o.shape:
            raise ValueError(f"{where}: grad_outputs[{k}] has shape {v.shape}, but output "
                             f"{k} has shape {o.shape}")
    return arrays


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
    differences (the fields of ``GradientErrors``). ``reached`` is False when no
    gradient reached it from the outputs (it is not in their graph): the row fails."""

    name: str
    shape: tuple
    reached: bool = True


_COLUMNS = (Column("input", lambda r: r.name, 16, align="<"),
            Column("shape", lambda r: r.shape, 14, align="<"), *ERROR_COLUMNS)


@dataclass
class GradcheckReport:
    """One row per checked tensor; ``str(report)`` is a readable table, then a note
    for each tensor the outputs do not depend on."""

    rows: list[GradcheckRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    @property
    def unreached(self) -> list[GradcheckRow]:
        """The rows of tensors that no gradient reached from the outputs."""
        return [row for row in self.rows if not row.reached]

    def __str__(self) -> str:
        return self.text()

    # (the rich display: tinygrad_rnn.display; the words: tour_text.TEXT)
    def _columns(self, lang: str) -> tuple[Column, ...]:
        from .checkrows import error_columns
        from .tour_text import text

        if lang == "en":
            return _COLUMNS
        return (Column(text("col_input", lang), lambda r: r.name, 16, align="<"),
                Column(text("col_shape", lang), lambda r: r.shape, 14, align="<"),
                *error_columns(lang))

    def text(self, lang: str = "en") -> str:
        """The table, then the notes, in ``lang`` ("en": ``str()``, or "fa")."""
        from .display import language
        from .tour_text import in_language, text

        lang = language(lang, "GradcheckReport.text")
        lines = format_table(self._columns(lang), self.rows)
        if self.notes:
            lines += ["", *(text("note", lang, note=in_language(n, lang)) for n in self.notes)]
        return "\n".join(lines)

    def html(self, lang: str | None = None) -> str:
        """The table (failing rows marked) and the notes as HTML; ``lang`` None: the
        language of ``tr.display.set_language``."""
        from .checkrows import html_table
        from .display import block, language, paragraph
        from .tour_text import in_language, text

        lang = language(lang, "GradcheckReport.html")
        notes = [paragraph(text("note", lang, note=in_language(n, lang))) for n in self.notes]
        return block([html_table(self._columns(lang), self.rows), *notes], lang)

    def _repr_html_(self) -> str:
        return self.html()


def _as_leaf(t: Tensor) -> Tensor:
    """``t`` itself if it is a leaf; else a leaf sharing its data (so nudges reach it)."""
    if t.is_leaf:
        return t
    return Tensor(t.detach(), requires_grad=t.requires_grad, name=t.name)


def _autograd(fn: Callable[..., Any], inputs: Sequence[Tensor], wrt: Sequence[Tensor],
              seed: int) -> tuple[list[np.ndarray | None], list[np.ndarray]]:
    """(autograd's gradient of ``sum(v * fn(*inputs))`` with respect to each tensor in
    ``wrt``, None for one no gradient reached; the ``v``, one per output, drawn from
    ``seed``). Every ``.grad`` is left as it was found."""
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
        analytic = [None if t.grad is None else t.grad.astype(np.float64) for t in wrt]
    finally:
        for t, g in zip(wrt, saved_grads):
            t.grad = g
    return analytic, upstream


def autograd_and_numeric(fn: Callable[..., Any], inputs: Sequence[Tensor], wrt: Sequence[Tensor],
                         eps: float, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(autograd's, central differences') gradients of ``sum(v * fn(*inputs))`` with
    respect to each tensor in ``wrt``, for one random ``v`` per output drawn from
    ``seed``: two lists of float64 arrays (zeros where no gradient reached a tensor).
    Every ``.grad`` is left as it was found. The caller has checked the arguments."""
    analytic, upstream = _autograd(fn, inputs, wrt, seed)
    return ([np.zeros(t.shape) if a is None else a for t, a in zip(wrt, analytic)],
            _central_differences(fn, inputs, eps, upstream, wrt))


def gradcheck_report(fn: Callable[..., Any], inputs: Sequence[Tensor], eps: float = 1e-6,
                     atol: float = 1e-5, rtol: float = 1e-3,
                     params: dict[str, Tensor] | None = None, seed: int = 0) -> GradcheckReport:
    """Compare autograd with finite differences; return the report without raising.

    ``params`` (name -> Tensor) adds tensors that ``fn`` uses without taking them
    as arguments, such as a layer's parameters: ``dict(layer.named_parameters())``.

    A tensor checked (an input requiring grad, or one of ``params``) that no
    gradient reaches from the outputs fails, with a note saying which: nothing
    was checked for it. Refuses, before running ``fn``: inputs that are not
    Tensors (TypeError), nothing to check (no input requires grad and no
    ``params``), ``eps <= 0``, a negative ``atol`` or ``rtol``, non-finite numbers
    (ValueError).
    """
    named = _checked_tensors("gradcheck", fn, inputs, eps, atol, rtol, params, seed)
    warn_unless_float64("gradcheck", [(name, t) for name, _, t in named])
    # a computed input (not a leaf) keeps no .grad: check fn at its value, as a leaf
    inputs = [_as_leaf(t) for t in _check_inputs("gradcheck", inputs)]
    wrt = [inputs[i] if isinstance(i, int) else t for _, i, t in named]
    analytic, upstream = _autograd(fn, inputs, wrt, seed)
    numeric = _central_differences(fn, inputs, eps, upstream, wrt)
    rows, notes = [], []
    for (name, which, _), a, n in zip(named, analytic, numeric):
        row = GradcheckRow.measure(np.zeros(n.shape) if a is None else a, n, atol, rtol,
                                   name=name, shape=n.shape, reached=a is not None)
        if a is None:
            row.ok = False
            notes.append(_not_reached(which, name))
        rows.append(row)
    return GradcheckReport(rows, notes)


def _checked_tensors(where: str, fn: Any, inputs: Any, eps: Any, atol: Any, rtol: Any,
                     params: Any, seed: Any) -> list[tuple[str, int | str, Tensor]]:
    """Check gradcheck's arguments; return (row name, input index or params key, tensor)
    for every tensor to check."""
    _check_fn(where, fn)
    tensors = _check_inputs(where, inputs)
    _check_tolerances(where, eps, atol, rtol)
    size(where, "seed", seed)
    named: list[tuple[str, int | str, Tensor]] = [
        (t.name or f"input {i}", i, t) for i, t in enumerate(tensors) if t.requires_grad]
    named += [(name, name, t) for name, t in _check_params(where, params)]
    if not named:
        raise ValueError(f"{where}: expects at least one input tensor to require gradient, but "
                         f"none of them have requires_grad=True (and no params were given)")
    _check_no_shared_memory([t for _, _, t in named])
    return named


def _not_reached(which: int | str, name: str) -> str:
    """The note for a tensor that no gradient reached from the outputs."""
    from .tour_text import said

    if isinstance(which, str):
        return said("gc_unreached_param", param=which)
    named = "" if name == f"input {which}" else f" ({name})"
    return said("gc_unreached_input", which=which, named=named)


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
    It fails too, saying which, when the output does not depend on an input
    requiring grad (or on one of ``params``): nothing could be checked for it.

    ``inputs`` are Tensors (a lone Tensor is a list of one); anything else is
    refused (TypeError): pass constants to ``fn`` by closure. Refuses, as
    ``gradcheck_report`` does, nothing to check and bad tolerances (ValueError).
    """
    flag("gradcheck", "raise_exception", raise_exception)
    report = gradcheck_report(fn, inputs, eps, atol, rtol, params, seed)
    headline = "gradients disagree with finite differences"
    if report.unreached:
        headline = ("the output does not depend on "
                    + ", ".join(row.name for row in report.unreached))
    return verdict(report, raise_exception, headline)


# --------------------------------------------------------------------------- gradgradcheck
# (issue 17)
# The gradient is itself a function of the inputs and of the upstream gradient v:
# G(inputs, v) = v . d fn / d inputs, which backward(create_graph=True) computes with a
# graph. gradgradcheck checks G as gradcheck checks fn: autograd (a backward through
# that graph: second derivatives) against central differences of G, with a random
# upstream gradient u of G. As torch's, it checks the derivatives with respect to v too.


def _gradient_function(fn: Callable[..., Any], n_inputs: int, differentiated: list[int]
                       ) -> Callable[..., tuple[Tensor, ...]]:
    """G(*inputs, *v): the gradient of sum(v * fn(*inputs)) with respect to the inputs at
    ``differentiated``, with a graph (zeros for an input no gradient reaches)."""
    from .tensor import enable_grad, grad

    def gradient(*args: Tensor) -> tuple[Tensor, ...]:
        inputs, upstream = args[:n_inputs], args[n_inputs:]
        with enable_grad():  # (central differences call this under no_grad)
            outs = _flatten_outputs(fn(*inputs))
            used = [(o, v) for o, v in zip(outs, upstream) if o.requires_grad]
            if not used:
                return tuple(Tensor(np.zeros(inputs[i].shape)) for i in differentiated)
            result = grad([o for o, _ in used], [inputs[i] for i in differentiated],
                          [v for _, v in used], create_graph=True, materialize_grads=True)
        return tuple(g for g in result if g is not None)

    return gradient


def gradgradcheck_report(fn: Callable[..., Any], inputs: Sequence[Tensor],
                         grad_outputs: Sequence[Any] | None = None, eps: float = 1e-6,
                         atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0
                         ) -> GradcheckReport:
    """Second derivatives of ``fn`` (by backward through ``backward(create_graph=True)``)
    against central differences of its gradient; the report, without raising.

    One row per input requiring grad and one per output's upstream gradient
    ``grad_outputs[k]`` (random from ``seed`` unless given): the derivatives of
    G = grad_outputs . d fn / d inputs with respect to each. A second derivative
    that is zero because the gradient does not depend on a tensor (x + y) is
    checked as zero, not refused. Refuses what ``gradcheck_report`` refuses, and
    ``grad_outputs`` that do not match fn's outputs one for one, shape for shape.
    """
    where = "gradgradcheck"
    named = _checked_tensors(where, fn, inputs, eps, atol, rtol, None, seed)
    warn_unless_float64(where, [(name, t) for name, _, t in named])
    inputs = [_as_leaf(t) for t in _check_inputs(where, inputs)]
    differentiated = [i for i, t in enumerate(inputs) if t.requires_grad]
    with no_grad():
        outs = _flatten_outputs(fn(*inputs))
    if grad_outputs is None:
        rng = np.random.default_rng(seed)
        arrays = [rng.standard_normal(o.shape) for o in outs]
    else:
        arrays = _check_grad_outputs(where, grad_outputs, outs)
    upstream = [Tensor(v.astype(o.dtype) if o.dtype.kind == "f" else v, requires_grad=True,
                       name=f"grad_outputs[{k}]") for k, (v, o) in enumerate(zip(arrays, outs))]
    gradient = _gradient_function(fn, len(inputs), differentiated)
    args = [*inputs, *upstream]
    wrt = [inputs[i] for i in differentiated] + upstream
    analytic, second_upstream = _autograd(gradient, args, wrt, seed + 1)
    numeric = _central_differences(gradient, args, eps, second_upstream, wrt)
    names = [name for name, _, _ in named] + [t.name or "" for t in upstream]
    rows = [GradcheckRow.measure(np.zeros(n.shape) if a is None else a, n, atol, rtol,
                                 name=name, shape=n.shape)
            for name, a, n in zip(names, analytic, numeric)]
    return GradcheckReport(rows)


def gradgradcheck(fn: Callable[..., Any], inputs: Sequence[Tensor],
                  grad_outputs: Sequence[Any] | None = None, eps: float = 1e-6,
                  atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True,
                  seed: int = 0) -> bool:
    """True when second derivatives (backward through ``backward(create_graph=True)``)
    match central differences of the gradient, as torch.autograd.gradgradcheck.

    Arguments:
        fn: maps the tensors in ``inputs`` to a Tensor or a tuple of Tensors; every op
            on the way must be twice differentiable.
        inputs: Tensors (a lone Tensor is a list of one); those requiring grad are checked.
        grad_outputs: one upstream gradient per output (arrays or Tensors of its shape);
            default: random, from ``seed``.
        eps, atol, rtol: the step and tolerances, as ``gradcheck``'s.
        raise_exception: raise ``GradcheckError`` (a table, one row per input and per
            upstream gradient) on a mismatch, or return False.
        seed: draws the upstream gradients.
    """
    flag("gradgradcheck", "raise_exception", raise_exception)
    report = gradgradcheck_report(fn, inputs, grad_outputs, eps, atol, rtol, seed)
    return verdict(report, raise_exception,
                   "second derivatives disagree with finite differences of the gradient")
