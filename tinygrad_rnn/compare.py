"""Compare two sets of gradients and say what is wrong, the way a tutor would.

``compare_grads(expected, actual)`` takes the gradients you trust (autograd's,
say) and the ones under test (a hand derivation), name by name, and reports for
each: max abs error, max rel error, cosine similarity, a verdict, and a
diagnosis of the usual hand-derivation mistakes:

- a constant scale factor (a lost 1/N or 1/2: "actual = 1.500 x expected");
- a sign flip;
- a transposed matrix;
- an all-zero gradient (a term never accumulated);
- an error confined to the first or last time step (a BPTT loop boundary),
  given ``time_axis``;
- an error that grows with activation magnitude (a derivative evaluated at the
  wrong quantity, like tanh'(h_t) where h_t is already tanh(a_t)), given the
  activations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .arguments import describe, is_int, number
from .checkrows import MAX_ERRORS, Column, GradientErrors, format_table, name_width

if TYPE_CHECKING:
    from .nn import Module


@dataclass
class GradComparisonRow:
    name: str
    shape: tuple
    max_abs_error: float
    max_rel_error: float
    cosine: float
    ok: bool
    diagnoses: list[str] = field(default_factory=list)


@dataclass
class GradComparison:
    """Rows per gradient name; ``str()`` gives the table and the diagnoses."""

    rows: list[GradComparisonRow]

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    def __getitem__(self, name: str) -> GradComparisonRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def __str__(self) -> str:
        width = name_width([r.name for r in self.rows], "name")
        columns = (Column("name", lambda r: r.name, width, align="<"),
                   Column("shape", lambda r: r.shape, 14, align="<"), *MAX_ERRORS,
                   Column("cosine", lambda r: r.cosine, 9, ".4f"),
                   Column("verdict", lambda r: "ok" if r.ok else "MISMATCH", align="<", gap="  "))
        lines = format_table(columns, self.rows)
        notes = [f"  {r.name}: {d}" for r in self.rows for d in r.diagnoses]
        if notes:
            lines += ["", "diagnoses:"] + notes
        return "\n".join(lines)


def _as_gradient_dict(grads: Any, which: str = "expected") -> dict[str, np.ndarray]:
    """A dict of arrays as is; a Module or a dict of Tensors gives their ``.grad``."""
    if hasattr(grads, "named_parameters"):
        grads = dict(grads.named_parameters())
    if not isinstance(grads, Mapping):
        raise TypeError(f"compare_grads: {which} must be a dict name -> array (or Tensor), or "
                        f"a Module, got {describe(grads)}")
    out = {}
    for name, value in grads.items():
        if not isinstance(name, str):
            raise TypeError(f"compare_grads: the names in {which} must be str, "
                            f"got {describe(name)}")
        if hasattr(value, "grad") and hasattr(value, "data"):  # a Tensor or Parameter
            value = value.grad
        if value is None:
            raise ValueError(f"compare_grads: {name!r} has no gradient (did backward run?)")
        out[name] = _array(f"{which}[{name!r}]", value)
    return out


def _array(what: str, value: Any) -> np.ndarray:
    """``value`` as a float64 array, or a TypeError naming it."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"compare_grads: {what} must be an array of numbers, got {describe(value)}")
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"compare_grads: {what} must be an array of numbers, "
                        f"got {describe(value)}") from None


def _time_axes(time_axis: Any, grads: dict[str, np.ndarray]) -> dict[str, int | None]:
    """Each gradient's time axis (None: none given), checked against its dimensions."""
    if time_axis is not None and not is_int(time_axis) and not isinstance(time_axis, Mapping):
        raise TypeError(f"compare_grads: time_axis must be an int, a dict name -> int or "
                        f"None, got {describe(time_axis)}")
    if isinstance(time_axis, Mapping):
        _known_names("time_axis", time_axis, grads)
    axes: dict[str, int | None] = {}
    for name, g in grads.items():
        axis = time_axis.get(name) if isinstance(time_axis, Mapping) else time_axis
        if axis is not None:
            label = f"time_axis[{name!r}]" if isinstance(time_axis, Mapping) else "time_axis"
            if not is_int(axis):
                raise TypeError(f"compare_grads: {label} must be an int, got {describe(axis)}")
            if not -g.ndim <= axis < g.ndim:
                raise ValueError(f"compare_grads: {label} is {axis}, but {name!r} has "
                                 f"{g.ndim} dimension(s) (shape {g.shape})")
            axis = int(axis)
        axes[name] = axis
    return axes


def _activations(activations: Any, grads: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The activations by name, each broadcastable to its gradient's shape."""
    if activations is None:
        return {}
    if not isinstance(activations, Mapping):
        raise TypeError(f"compare_grads: activations must be a dict name -> array, "
                        f"got {describe(activations)}")
    _known_names("activations", activations, grads)
    out = {}
    for name, value in activations.items():
        a = _array(f"activations[{name!r}]", value.data if hasattr(value, "grad") else value)
        try:
            np.broadcast_to(a, grads[name].shape)
        except ValueError:
            raise ValueError(f"compare_grads: activations[{name!r}] has shape {a.shape}, which "
                             f"does not broadcast to the gradient's {grads[name].shape}") from None
        out[name] = a
    return out


def _known_names(argument: str, given: Mapping[Any, Any], grads: dict[str, np.ndarray]) -> None:
    unknown = [n for n in given if n not in grads]
    if unknown:
        raise ValueError(f"compare_grads: {argument} names {unknown}, which are not among the "
                         f"gradients {sorted(grads)}")


def _close(a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def _scale_factor(expected: np.ndarray, actual: np.ndarray) -> tuple[float | None, float]:
    """Least-squares k in actual ~ k * expected, and how much of actual it leaves unexplained."""
    ee = float(np.sum(expected * expected))
    if ee == 0.0:
        return None, 1.0
    k = float(np.sum(actual * expected)) / ee
    residual = np.linalg.norm(actual - k * expected) / max(np.linalg.norm(actual), 1e-300)
    return k, float(residual)


def _diagnose(name: str, expected: np.ndarray, actual: np.ndarray, rtol: float, atol: float,
              time_axis: int | None, activation: np.ndarray | None) -> list[str]:
    if expected.shape != actual.shape:
        if actual.T.shape == expected.shape and _close(expected, actual.T, rtol, atol):
            return [f"transposed: actual has shape {actual.shape}, expected {expected.shape}, "
                    f"and actual.T matches: check the order of a matmul's operands"]
        return [f"shapes differ: actual {actual.shape}, expected {expected.shape}"]
    if not np.any(actual) and np.any(expected):
        return ["all zeros: this gradient was never accumulated (a missing += or a term "
                "that never reaches this parameter)"]
    if _close(expected, -actual, rtol, atol):
        return ["sign flipped: actual = -expected (a subtraction reversed, or a step "
                "taken with + instead of -)"]
    square = actual.ndim == 2 and actual.shape[0] == actual.shape[1]
    if square and _close(expected, actual.T, rtol, atol):
        return ["transposed: actual.T matches expected: check the order of a matmul's operands"]
    notes = []
    k, residual = _scale_factor(expected, actual)
    if k is not None and residual < 1e-6 and abs(k - 1) > rtol:
        return [f"a constant scale factor: actual = {k:.3f} x expected (expected = "
                f"{1 / k:.3f} x actual): look for a lost 1/N, 1/2 or 2, e.g. the gradient of "
                f"0.5*sum where the loss is a mean"]
    if k is not None and residual < 0.05 and abs(k - 1) > 0.01:
        notes.append(f"mostly a constant scale factor: actual ~ {k:.3f} x expected, plus a "
                     f"smaller error of another kind ({residual:.1%} of the gradient)")
    else:
        k = 1.0  # no scale to discount
    error = np.abs(actual - k * expected)
    if time_axis is not None and actual.shape[time_axis] > 1:
        per_step = np.moveaxis(error, time_axis, 0).reshape(actual.shape[time_axis], -1).max(axis=1)
        worst = float(per_step.max())
        if worst > 0:
            elsewhere_first = per_step[1:].max() <= 1e-3 * worst
            elsewhere_last = per_step[:-1].max() <= 1e-3 * worst
            if elsewhere_first and per_step[0] == worst:
                notes.append("the error is confined to the first time step: check the loop "
                             "boundary where the initial state enters (t = 0)")
            elif elsewhere_last and per_step[-1] == worst:
                notes.append("the error is confined to the last time step: check the loop "
                             "boundary where BPTT starts (t = T-1, dh_next = 0)")
    if activation is not None:
        magnitude = np.broadcast_to(np.abs(activation), actual.shape)
        relative = error / np.maximum(np.abs(k * expected), atol)
        pairs = [(magnitude, relative)]
        if time_axis is not None:
            # in BPTT a local error also flows into earlier steps and blurs the trend there;
            # step by step, the step where it starts shows it clearly
            pairs += zip(np.moveaxis(magnitude, time_axis, 0), np.moveaxis(relative, time_axis, 0))
        corr = max(_rank_correlation(m.ravel(), r.ravel()) for m, r in pairs)
        if corr > 0.7:
            notes.append(f"the error grows with the activation's magnitude (rank correlation "
                         f"{corr:.2f}): a derivative evaluated at the wrong quantity, e.g. "
                         f"tanh'(h) = 1 - tanh(h)**2 where h is already tanh(a); "
                         f"write it with the output: 1 - h**2")
    if not notes:
        cos = _cosine(expected, actual)
        notes.append(f"no simple pattern found (cosine similarity {cos:.3f}); check the "
                     f"derivation term by term, or compare per time step with time_axis=")
    return notes


def _rank_correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation: monotone trends count, outliers do not dominate."""
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    rank_x, rank_y = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rank_x, rank_y)[0, 1])


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0
    return float(np.sum(a * b) / (na * nb))


def compare_grads(expected: Mapping[str, Any] | Module, actual: Mapping[str, Any] | Module, *,
                  rtol: float = 1e-5, atol: float = 1e-8,
                  time_axis: int | dict[str, int] | None = None,
                  activations: Mapping[str, np.ndarray] | None = None) -> GradComparison:
    """Compare gradients name by name and diagnose the usual hand-derivation mistakes.

    Arguments:
        expected: the trusted gradients: a dict name -> array, a dict name ->
            Tensor (their ``.grad``), or a Module (its parameters' ``.grad``).
        actual: the gradients under test, in the same forms.
        rtol, atol: a name is ok when |actual - expected| <= atol + rtol * |expected|
            for every element (``np.allclose``'s rule, and ``tr.gradcheck``'s).
        time_axis: an int (or a dict name -> int) naming the time axis of
            per-step gradients, to find an error confined to one end of BPTT.
        activations: dict name -> the activation each gradient element belongs
            to (broadcastable), to find an error that grows with its magnitude.

    Returns:
        a ``GradComparison``: ``.ok``, ``.rows`` (with ``.diagnoses``), and
        ``str()`` for the table.

    Refuses: gradients that are not a dict or a Module, names that are not str,
    values that are not numbers (TypeError); a Tensor without ``.grad``, a negative
    or non-finite ``rtol``/``atol``, a ``time_axis`` out of a gradient's range, an
    activation that does not broadcast to its gradient, a ``time_axis`` or
    ``activations`` key that names no gradient (ValueError); different names in
    ``expected`` and ``actual`` (KeyError, naming them).
    """
    expected = _as_gradient_dict(expected, "expected")
    actual = _as_gradient_dict(actual, "actual")
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    if missing or extra:
        raise KeyError(f"compare_grads: names differ: missing from actual {missing}, "
                       f"not in expected {extra}")
    rtol = number("compare_grads", "rtol", rtol, minimum=0.0)
    atol = number("compare_grads", "atol", atol, minimum=0.0)
    axes = _time_axes(time_axis, actual)  # (the actual gradient's axes: the one diagnosed)
    acts = _activations(activations, actual)
    return GradComparison([_row(name, e, actual[name], rtol, atol, axes[name], acts.get(name))
                           for name, e in expected.items()])


def _row(name: str, expected: np.ndarray, actual: np.ndarray, rtol: float, atol: float,
         time_axis: int | None, activation: np.ndarray | None) -> GradComparisonRow:
    """The errors, cosine, verdict and (for a mismatch) diagnoses of one gradient."""
    if actual.shape == expected.shape:
        # the same errors and rule as a gradcheck, with the expected gradient trusted
        errors = GradientErrors.measure(actual, expected, atol, rtol)
        max_abs, max_rel, ok = errors.max_abs_error, errors.max_rel_error, errors.ok
        cosine = _cosine(expected, actual)
    else:  # no element stands beside another (a transposed gradient, say)
        max_abs = max_rel = float("inf")
        ok, cosine = False, float("nan")
    diagnoses = [] if ok else _diagnose(name, expected, actual, rtol, atol, time_axis, activation)
    return GradComparisonRow(name, expected.shape, max_abs, max_rel, cosine, ok, diagnoses)
