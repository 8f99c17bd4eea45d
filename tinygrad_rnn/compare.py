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

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .arguments import describe, is_int, number, size
from .checkrows import MAX_ERRORS, Column, GradientErrors, format_table, name_width
from .display import Bad, Code, Num, block, language, paragraph, table
from .tour_text import LANGUAGES, Said, in_language, said_as, text as words

if TYPE_CHECKING:
    from .nn import Module


KINDS = ("missing", "shape", "transpose", "zero", "sign", "scale", "loss_reduction",
         "gate_swap", "bias_confusion", "missing_recurrent_carry", "time_shift",
         "last_step_only", "first_step_only", "wrong_point_derivative", "loop_boundary",
         "clipping", "reset_gate_placement", "unknown")
"""Every diagnosis kind ``compare_grads`` gives; stable codes, for code to test against."""


class Diagnosis(Said):
    """One diagnosis of one gradient: ``name`` (the gradient's), ``kind`` (one of
    ``KINDS``) and ``message``. It is also the message itself, a ``str``, as the
    rows' diagnoses were before they had kinds. ``text(lang)`` is the message in
    another language ("fa"), where it was made from a template of ``tour_text``
    (a ``tour_text.Said``: ``in_language(diagnosis, lang)`` gives it too)."""

    name: str
    kind: str
    message: str
    texts: dict[str, str]

    def __new__(cls, name: str, kind: str, message: str,
                texts: Mapping[str, str] | None = None) -> Diagnosis:
        self = super().__new__(cls, message)
        self.name, self.kind, self.message = name, kind, message
        self.texts = {"en": message, **(texts or {})}
        self.translations = self.texts
        return self

    def text(self, lang: str = "en") -> str:
        """The message in ``lang`` (the English one where it has no translation)."""
        return self.texts.get(lang, self.message)

    def __repr__(self) -> str:
        return f"Diagnosis({self.name!r}, {self.kind!r}, {self.message!r})"

    def __reduce__(self) -> tuple:
        return Diagnosis, (self.name, self.kind, self.message, self.texts)


def _texts(key: str, **values: Any) -> dict[str, str]:
    """The template ``key`` of ``tour_text.TEXT`` in every language; a value given as a
    dict {lang: text}, or as a ``Said``, is put in in its own language."""
    return {lang: words(key, lang, **{k: v[lang] if isinstance(v, dict) else
                                      in_language(v, lang) for k, v in values.items()})
            for lang in LANGUAGES}


def diagnosis(gradient: str, kind: str, key: str, **values: Any) -> Diagnosis:
    """A Diagnosis whose message is the template ``key`` (``tour_text.TEXT``), in every
    language; ``message`` is its English."""
    texts = _texts(key, **values)
    return Diagnosis(gradient, kind, texts["en"], texts)


@dataclass
class GradComparisonRow:
    name: str
    shape: tuple
    max_abs_error: float
    max_rel_error: float
    cosine: float
    ok: bool
    diagnoses: list[Diagnosis] = field(default_factory=list)
    steps: np.ndarray | None = None   # the worst relative error at each t, given a time axis


@dataclass
class GradComparison:
    """Rows per gradient name; ``str()`` gives the summary, the table and the diagnoses."""

    rows: list[GradComparisonRow]

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    @property
    def diagnoses(self) -> list[Diagnosis]:
        """Every row's diagnoses, in row order (empty when all agree)."""
        return [d for row in self.rows for d in row.diagnoses]

    @property
    def kinds(self) -> list[str]:
        """The kinds diagnosed, the most frequent first (ties: in ``KINDS`` order)."""
        counts = Counter(d.kind for d in self.diagnoses)
        return sorted(counts, key=lambda k: (-counts[k], KINDS.index(k)))

    @property
    def summary(self) -> Said:
        """One line: "all 4 gradients agree, worst relative error 3e-12", or
        "2 of 4 disagree: weight_hh (missing_recurrent_carry), ..." (a ``tour_text.Said``:
        ``in_language(summary, "fa")`` is its Persian)."""
        return said_as({lang: self._summary(lang) for lang in LANGUAGES})

    def _summary(self, lang: str) -> str:
        n = len(self.rows)
        if self.ok:
            worst = max((r.max_rel_error for r in self.rows), default=0.0)
            return words("summary_agree" if n != 1 else "summary_agree_one", lang, n=n,
                        worst=worst)
        bad = [r for r in self.rows if not r.ok]
        named = ", ".join(f"{r.name} ({', '.join(dict.fromkeys(d.kind for d in r.diagnoses))})"
                          for r in bad)
        return words("summary_disagree", lang, bad=len(bad), n=n, named=named)

    def __getitem__(self, name: str) -> GradComparisonRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def _columns(self, lang: str) -> tuple[Column, ...]:
        """The table's columns, headed in ``lang``; (header, cell) for text and HTML alike."""
        def say(key: str) -> str:
            return words(key, lang)

        width = name_width([r.name for r in self.rows], say("col_name"))
        # (a longer header, Persian's, widens its column; the English fits as before)
        max_abs, max_rel = (Column(say(key), c.value, max(c.width, len(say(key)) + 1), c.spec)
                            for key, c in zip(("col_max_abs", "col_max_rel"), MAX_ERRORS))
        verdicts = say("verdict_ok"), say("verdict_mismatch")
        return (Column(say("col_name"), lambda r: r.name, width, align="<"),
                Column(say("col_shape"), lambda r: r.shape, 14, align="<"), max_abs, max_rel,
                Column(say("col_cosine"), lambda r: r.cosine, 9, ".4f"),
                Column(say("col_verdict"), lambda r: verdicts[0] if r.ok else verdicts[1],
                       align="<", gap="  "))

    def text(self, lang: str = "en") -> str:
        """The summary, the table, the per-step table and the diagnoses, in ``lang``
        ("en": the same as ``str()``, or "fa")."""
        lang = language(lang, "GradComparison.text")
        lines = [self._summary(lang), ""] + format_table(self._columns(lang), self.rows)
        lines += _step_table([r for r in self.rows if r.steps is not None], lang)
        notes = [f"  {d.name}: [{d.kind}] {_message(d, lang)}" for d in self.diagnoses]
        if notes:
            lines += ["", words("diagnoses_title", lang)] + notes
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text("en")

    def html(self, lang: str | None = None) -> str:
        """The same as ``text(lang)`` as HTML: the summary, the table (mismatches
        marked), the per-step table and the diagnoses with their kinds. ``lang``
        None: the language of ``tr.display.set_language`` (English by default)."""
        lang = language(lang, "GradComparison.html")
        columns = self._columns(lang)
        cells = [[Code(r.name), Code(r.shape),
                  *(Num(format(c.value(r), c.spec)) for c in columns[2:5]),
                  columns[5].value(r) if r.ok else Bad(columns[5].value(r))] for r in self.rows]
        parts = [paragraph(self._summary(lang), good=self.ok, bold=True),
                 table([c.header for c in columns], cells, bad=[not r.ok for r in self.rows])]
        stepped = [r for r in self.rows if r.steps is not None]
        if stepped:
            steps = [[Num(t) if t >= 0 else "...",
                      *(Num(cell) for cell in _step_cells(stepped, t))] for t in
                     _shown_steps(stepped)]
            parts.append(table([words("col_step", lang), *(r.name for r in stepped)], steps,
                               caption=words("per_step_title", lang)))
        if self.diagnoses:
            rows = [[Code(d.name), Code(d.kind), _message(d, lang)] for d in self.diagnoses]
            parts.append(table([words(k, lang) for k in ("col_name", "col_kind",
                                                         "col_diagnosis")],
                               rows, bad=[True] * len(rows),
                               caption=words("diagnoses_title", lang)))
        return block(parts, lang)

    def _repr_html_(self) -> str:
        return self.html()


def _message(d: Any, lang: str) -> str:
    """A diagnosis's message in ``lang`` (any object with ``message``, a Diagnosis's own
    translation where it has one)."""
    return d.text(lang) if isinstance(d, Diagnosis) else str(d.message)


MAX_STEPS_SHOWN = 24


def _shown_steps(rows: list[GradComparisonRow]) -> list[int]:
    """The steps the per-step table shows: all of them, or the first and last
    ``MAX_STEPS_SHOWN // 2`` with -1 ("...") between."""
    T = max(len(r.steps) for r in rows if r.steps is not None)
    if T <= MAX_STEPS_SHOWN:
        return list(range(T))
    return list(range(MAX_STEPS_SHOWN // 2)) + [-1] + list(range(T - MAX_STEPS_SHOWN // 2, T))


def _step_cells(rows: list[GradComparisonRow], t: int) -> list[str]:
    """Each row's worst relative error at step t ("" past its end, or at the "...")."""
    return [f"{r.steps[t]:.2e}" if r.steps is not None and 0 <= t < len(r.steps) else ""
            for r in rows]


def _step_table(rows: list[GradComparisonRow], lang: str = "en") -> list[str]:
    """The worst relative error at each time step, one column per gradient with a time axis."""
    if not rows:
        return []
    width = max(10, *(len(r.name) + 1 for r in rows))
    lines = ["", words("per_step_title", lang),
             "     t" + "".join(f"{r.name:>{width}}" for r in rows)]
    for t in _shown_steps(rows):
        if t < 0:
            lines.append("   ...")
            continue
        lines.append(f"{t:>6}" + "".join(f"{cell:>{width}}" for cell in _step_cells(rows, t)))
    return lines


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


def _same(a: np.ndarray, b: np.ndarray, tol: float = 1e-7) -> bool:
    """a equals b up to rounding, measured on the whole array (not element by element,
    so a tiny element computed two ways does not count against it)."""
    if a.shape != b.shape:
        return False
    scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)))
    return bool(np.linalg.norm(a - b) <= tol * scale) if scale > 0 else True


def _scale_factor(expected: np.ndarray, actual: np.ndarray) -> tuple[float | None, float]:
    """Least-squares k in actual ~ k * expected, and how much of actual it leaves unexplained."""
    ee = float(np.sum(expected * expected))
    if ee == 0.0:
        return None, 1.0
    k = float(np.sum(actual * expected)) / ee
    residual = np.linalg.norm(actual - k * expected) / max(np.linalg.norm(actual), 1e-300)
    return k, float(residual)


# --------------------------------------------------------------------------- the context


@dataclass
class _Context:
    """What the diagnoses of one comparison may use beyond the two arrays of a name."""

    rtol: float
    atol: float
    gates: tuple[str, ...] = ()
    batch_size: int | None = None
    seq_len: int | None = None
    candidates: list[Any] = field(default_factory=list)   # reference.mistakes.Candidate


def _gate_names(gates: Any, *modules: Any) -> tuple[str, ...]:
    """``gates`` as a tuple of names ("ifgo" -> ('i', 'f', 'g', 'o')), else a Module's own."""
    if gates is not None:
        if isinstance(gates, str):
            return tuple(gates)
        if isinstance(gates, Sequence) and all(isinstance(g, str) for g in gates):
            return tuple(gates)
        raise TypeError(f"compare_grads: gates must be a str of one-letter gate names "
                        f"(\"ifgo\") or a tuple of names, got {describe(gates)}")
    for module in modules:
        found = _module_gates(module)
        if found:
            return found
    return ()


def _module_gates(module: Any) -> tuple[str, ...]:
    if module is None or not hasattr(module, "named_parameters"):
        return ()
    own = getattr(module, "gates", None) or getattr(getattr(module, "cell_class", None),
                                                    "gates", None)
    if isinstance(own, tuple) and own:
        return own
    name = type(module).__name__
    return {"LSTM": ("i", "f", "g", "o"), "LSTMCell": ("i", "f", "g", "o"),
            "GRU": ("r", "z", "n"), "GRUCell": ("r", "z", "n")}.get(name, ())


def _sizes(ctx: _Context, grads: dict[str, np.ndarray], axes: dict[str, int | None]) -> None:
    """Fill T and N from the arrays with a time axis, where no hint gave them."""
    for name, axis in axes.items():
        g = grads[name]
        if axis is None:
            continue
        if ctx.seq_len is None:
            ctx.seq_len = int(g.shape[axis])
        if ctx.batch_size is None and g.ndim >= 3 and axis % g.ndim + 1 < g.ndim - 1:
            ctx.batch_size = int(g.shape[axis % g.ndim + 1])


# --------------------------------------------------------------------------- one gradient


def _diagnose(name: str, expected: np.ndarray, actual: np.ndarray, ctx: _Context,
              time_axis: int | None, activation: np.ndarray | None) -> list[Diagnosis]:
    """The diagnoses of one mismatching gradient, the surest first."""
    def say(kind: str, key: str, **values: Any) -> list[Diagnosis]:
        return [diagnosis(name, kind, key, **values)]

    exact = _exact_pattern(name, expected, actual, ctx)
    if exact:
        return exact
    explained = _explained_by_candidate(name, actual, expected)(ctx)
    if explained:
        return explained
    notes: list[Diagnosis] = []
    if time_axis is not None and actual.shape[time_axis] > 1:
        notes += _time_pattern(name, expected, actual, ctx, time_axis)
    if not notes:
        notes += _approximate_gate_swap(name, expected, actual, ctx)
    k, residual = _scale_factor(expected, actual)
    if k is not None and residual < 0.05 and abs(k - 1) > 0.01:
        notes += say("scale", "diag_scale_mostly", k=k, residual=residual)
    else:
        k = 1.0  # no scale to discount
    if activation is not None:
        notes += _grows_with_activation(name, expected, actual, k, ctx, time_axis, activation)
    if not notes:
        cos = _cosine(expected, actual)
        notes += say("unknown", "diag_unknown", cos=cos)
    return notes


_MOSTLY = "mostly a"  # (how an approximate scale's message begins)


def _exact_pattern(name: str, expected: np.ndarray, actual: np.ndarray,
                   ctx: _Context) -> list[Diagnosis]:
    """Mistakes that leave the gradient an exact rearrangement of the right one."""
    def say(kind: str, key: str, **values: Any) -> list[Diagnosis]:
        return [diagnosis(name, kind, key, **values)]

    rtol, atol = ctx.rtol, ctx.atol
    if expected.shape != actual.shape:
        if actual.T.shape == expected.shape and _close(expected, actual.T, rtol, atol):
            return say("transpose", "diag_transpose_shape", actual=actual.shape,
                       expected=expected.shape)
        return say("shape", "diag_shape", actual=actual.shape, expected=expected.shape)
    if not np.any(actual) and np.any(expected):
        return say("zero", "diag_zero")
    if _close(expected, -actual, rtol, atol):
        return say("sign", "diag_sign")
    if actual.ndim == 2 and actual.shape[0] == actual.shape[1] and \
            _close(expected, actual.T, rtol, atol):
        return say("transpose", "diag_transpose")
    swap = _swapped_gates(expected, actual, ctx, exact=True)
    if swap:
        order = ", ".join(ctx.gates)
        return say("gate_swap", "diag_gate_swap", a=swap[0], b=swap[1], order=order)
    k, residual = _scale_factor(expected, actual)
    if k is not None and residual < 1e-6 and abs(k - 1) > rtol:
        reduction = _loss_reduction(k, ctx)
        if reduction:
            return say("loss_reduction", "diag_loss_reduction", k=k, matches=reduction)
        return say("scale", "diag_scale", k=k, inv=1 / k)
    return []


def _loss_reduction(k: float, ctx: _Context) -> dict[str, str] | None:
    """What a factor 1/N, 1/T, 1/(N T) (or its inverse, or N/T) off means, in every
    language ({lang: text}); None when k is none of them."""
    N, T = ctx.batch_size, ctx.seq_len
    factors: list[tuple[float, str]] = []
    if N and N > 1:
        factors += [(1 / N, "reduction_extra_n"), (N, "reduction_missing_n")]
    if T and T > 1:
        factors += [(1 / T, "reduction_extra_t"), (T, "reduction_missing_t")]
    if N and T and N > 1 and T > 1:
        factors += [(1 / (N * T), "reduction_extra_nt"), (N * T, "reduction_missing_nt")]
        if N != T:
            factors += [(N / T, "reduction_axis_t"), (T / N, "reduction_axis_n")]
    matches = [key for factor, key in factors if abs(k - factor) <= 1e-6 * factor]
    if not matches:
        return None
    return {lang: words("reduction_or", lang).join(words(key, lang, N=N, T=T) for key in matches)
            for lang in LANGUAGES}


def _blocks(a: np.ndarray, G: int) -> list[np.ndarray]:
    return np.split(a, G, axis=0)


def _swapped_gates(expected: np.ndarray, actual: np.ndarray, ctx: _Context,
                   exact: bool) -> tuple[str, str] | None:
    """Two gates whose row blocks, exchanged in actual, make it match (or come much closer)."""
    G = len(ctx.gates)
    if G < 2 or actual.ndim == 0 or actual.shape[0] % G or actual.shape != expected.shape:
        return None
    before = float(np.linalg.norm(actual - expected))
    best: tuple[float, tuple[str, str] | None] = (0.3 * before, None)
    blocks = _blocks(actual, G)
    for a in range(G):
        for b in range(a + 1, G):
            swapped = list(blocks)
            swapped[a], swapped[b] = blocks[b], blocks[a]
            trial = np.concatenate(swapped)
            if exact and _close(trial, expected, ctx.rtol, ctx.atol):
                return ctx.gates[a], ctx.gates[b]
            error = float(np.linalg.norm(trial - expected))
            if not exact and error < best[0]:
                best = (error, (ctx.gates[a], ctx.gates[b]))
    return best[1]


def _approximate_gate_swap(name: str, expected: np.ndarray, actual: np.ndarray,
                           ctx: _Context) -> list[Diagnosis]:
    swap = _swapped_gates(expected, actual, ctx, exact=False)
    if not swap:
        return []
    return [diagnosis(name, "gate_swap", "diag_gate_swap_mostly", a=swap[0], b=swap[1])]


def _explained_by_candidate(name: str, actual: np.ndarray,
                            expected: np.ndarray) -> Callable[[_Context], list[Diagnosis]]:
    """The first candidate mistake whose gradient ``actual`` reproduces (given ``model=``)."""
    def explain(ctx: _Context) -> list[Diagnosis]:
        key = _candidate_key(name)
        for c in ctx.candidates:
            g = c.grads.get(key)
            if g is not None and not _same(g, expected) and _same(g, actual):
                return [diagnosis(name, c.kind, "diag_candidate", description=c.description)]
        return []
    return explain


def _candidate_key(name: str) -> str:
    return name[:-3] if name.endswith("_l0") else name


def _time_pattern(name: str, expected: np.ndarray, actual: np.ndarray, ctx: _Context,
                  time_axis: int) -> list[Diagnosis]:
    """Patterns in how the error moves across time steps."""
    def say(kind: str, key: str, **values: Any) -> list[Diagnosis]:
        return [diagnosis(name, kind, key, **values)]

    e, a = np.moveaxis(expected, time_axis, 0), np.moveaxis(actual, time_axis, 0)
    T = len(e)
    for by, which in ((1, "t-1"), (-1, "t+1")):
        src, dst = (slice(None, -1), slice(1, None)) if by == 1 else \
            (slice(1, None), slice(None, -1))
        if T > 2 and _same(a[dst], e[src], 1e-6) and not _same(a[dst], e[dst], 1e-6):
            return say("time_shift", "diag_time_shift", which=which)
    wrong = [t for t in range(T) if not _close(e[t], a[t], ctx.rtol, ctx.atol)]
    if wrong == [0]:
        return say("loop_boundary", "diag_first_step")
    if wrong == [T - 1]:
        return say("loop_boundary", "diag_last_step")
    if wrong and T - 1 not in wrong and T - 2 in wrong:
        return say("missing_recurrent_carry", "diag_missing_carry", t=max(wrong))
    return []


def _grows_with_activation(name: str, expected: np.ndarray, actual: np.ndarray, k: float,
                           ctx: _Context, time_axis: int | None,
                           activation: np.ndarray) -> list[Diagnosis]:
    error = np.abs(actual - k * expected)
    magnitude = np.broadcast_to(np.abs(activation), actual.shape)
    relative = error / np.maximum(np.abs(k * expected), ctx.atol)
    pairs = [(magnitude, relative)]
    if time_axis is not None:
        # in BPTT a local error also flows into earlier steps and blurs the trend there;
        # step by step, the step where it starts shows it clearly
        pairs += zip(np.moveaxis(magnitude, time_axis, 0), np.moveaxis(relative, time_axis, 0))
    corr = max(_rank_correlation(m.ravel(), r.ravel()) for m, r in pairs)
    if corr <= 0.7:
        return []
    return [diagnosis(name, "wrong_point_derivative", "diag_wrong_point", corr=corr)]


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


# --------------------------------------------------------------------------- across names


def _bias_confusion(expected: dict[str, np.ndarray], actual: dict[str, np.ndarray],
                    rows: dict[str, GradComparisonRow], ctx: _Context) -> None:
    """bias_ih and bias_hh mixed up, one missing, or both given one's gradient: replaces
    the diagnoses of the bias that is wrong (each alone may look like a scale or a zero)."""
    for ih in [n for n in rows if "bias_ih" in n]:
        hh = ih.replace("bias_ih", "bias_hh")
        if hh not in rows or ih not in actual or hh not in actual:
            continue
        for x, y in ((ih, hh), (hh, ih)):
            if rows[x].ok:
                continue
            key = _bias_mixup(x, y, expected, actual, ctx, rows[y].ok)
            if key:
                rows[x].diagnoses = [diagnosis(x, "bias_confusion", key, x=x, y=y)]


def _bias_mixup(x: str, y: str, expected: dict[str, np.ndarray], actual: dict[str, np.ndarray],
                ctx: _Context, partner_ok: bool) -> str | None:
    """The template of the mix-up of biases x and y (``tour_text.TEXT``), or None."""
    ex, ey, ax, ay = expected[x], expected[y], actual[x], actual[y]
    if ex.shape != ey.shape or ax.shape != ex.shape or ay.shape != ey.shape:
        return None
    close = lambda a, b: _close(a, b, ctx.rtol, ctx.atol)  # noqa: E731
    if close(ax, ey) and not close(ex, ey):
        return "diag_bias_mixed"
    if close(ax, ex + ey) and not close(ay, ey):
        return "diag_bias_both"
    if not np.any(ax) and partner_ok:
        return "diag_bias_missing"
    if close(ax, ay) and close(ay, ey) and not close(ex, ey):
        return "diag_bias_too"
    return None


def _unsure(diagnosis: Diagnosis) -> bool:
    """No pattern found, or only "mostly" a scale (an exact scale factor is sure)."""
    return diagnosis.kind == "unknown" or (diagnosis.kind == "scale"
                                           and diagnosis.message.startswith(_MOSTLY))


def _inconsistent_scales(expected: dict[str, np.ndarray], actual: dict[str, np.ndarray],
                         rows: dict[str, GradComparisonRow]) -> list[str]:
    """The gradients with an exact scale factor that proves little: a lost factor scales
    every gradient alike, so when their factors differ, or when there is one gradient of
    one element (any two numbers are a scale apart: N = H = 1), another mistake may be
    behind them."""
    exact = {n: _scale_factor(expected[n], actual[n])[0] for n, r in rows.items()
             if not r.ok and n in actual and r.diagnoses
             and all(d.kind == "scale" and not _unsure(d) for d in r.diagnoses)}
    factors = [k for k in exact.values() if k is not None]
    alike = bool(factors) and all(abs(k - factors[0]) <= 1e-6 * abs(factors[0])
                                  for k in factors)
    lone_number = len(exact) == 1 and all(np.count_nonzero(actual[n]) < 2 for n in exact)
    return [] if alike and not lone_number else list(exact)


def _no_lost_constant(names: list[str], expected: dict[str, np.ndarray],
                      actual: dict[str, np.ndarray], rows: dict[str, GradComparisonRow]) -> None:
    """Say of scale factors that differ from gradient to gradient what they are."""
    for n in names:
        k = _scale_factor(expected[n], actual[n])[0]
        rows[n].diagnoses = [diagnosis(n, "unknown", "diag_no_lost_constant", k=k)]


def _nearest_candidate(expected: dict[str, np.ndarray], actual: dict[str, np.ndarray],
                       rows: dict[str, GradComparisonRow], ctx: _Context) -> None:
    """Where nothing surer was found: the candidate mistake that explains most of the error
    over all the mismatching gradients together (given ``model=``)."""
    unsure = [n for n, r in rows.items() if not r.ok and n in actual
              and all(_unsure(d) for d in r.diagnoses)]
    scaled = _inconsistent_scales(expected, actual, rows)
    _no_lost_constant(scaled, expected, actual, rows)  # (unless a candidate explains them)
    unsure += scaled
    if not unsure or not ctx.candidates:
        return
    mismatching = [n for n, r in rows.items() if not r.ok and n in actual
                   and expected[n].shape == actual[n].shape]

    def distance(grads: dict[str, np.ndarray]) -> float:
        total = 0.0
        for n in mismatching:
            g = grads.get(_candidate_key(n), expected[n])
            total += float(np.sum((actual[n] - g) ** 2)) / max(float(np.sum(expected[n] ** 2)),
                                                               1e-300)
        return total

    base = distance({_candidate_key(n): expected[n] for n in mismatching})
    scored = sorted(((distance(c.grads), i) for i, c in enumerate(ctx.candidates)))
    if not scored or scored[0][0] > 0.25 * base:
        return
    best = ctx.candidates[scored[0][1]]
    share = 1.0 - scored[0][0] / base
    for n in unsure:
        rows[n].diagnoses = [diagnosis(n, best.kind, "diag_nearest_candidate",
                                       description=best.description, share=share)]


# --------------------------------------------------------------------------- model= path


_CELLS = {"RNN": "rnn", "LSTM": "lstm", "GRU": "gru"}


def can_explain(model: Any) -> bool:
    """Can ``compare_grads(..., model=model)`` compute candidate mistakes for it? A
    one-layer, one-direction ``nn.RNN`` (tanh), ``nn.LSTM`` (no projection) or ``nn.GRU``."""
    return (type(model).__name__ in _CELLS and hasattr(model, "state_dict")
            and getattr(model, "num_layers", 1) == 1 and not getattr(model, "bidirectional", False)
            and not getattr(model, "proj_size", 0)
            and getattr(model, "nonlinearity", "tanh") == "tanh")


def _model_candidates(model: Any, inputs: Any, loss_fn: Any, ctx: _Context) -> list[Any]:
    """The candidate mistakes' gradients for ``model`` on ``inputs`` (reference.mistakes)."""
    from . import no_grad
    from .reference.mistakes import candidates
    from .tensor import Tensor

    cell = _CELLS.get(type(model).__name__)
    if cell is None or not can_explain(model):
        raise ValueError(f"compare_grads: model must be a one-layer, one-direction nn.RNN "
                         f"(tanh), nn.LSTM or nn.GRU, got {describe(model)}")
    if inputs is None:
        raise ValueError("compare_grads: model= needs inputs= (the x the gradients are of)")
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(f"compare_grads: loss_fn must be a function of the output sequence, "
                        f"got {describe(loss_fn)}")
    x = _array("inputs", inputs.data if hasattr(inputs, "grad") else inputs)
    if x.ndim not in (2, 3) or x.shape[-1] != model.input_size:
        raise ValueError(f"compare_grads: inputs must be (T, N, {model.input_size}) or "
                         f"(T, {model.input_size}), got shape {x.shape}")
    with no_grad():
        out, _ = model(Tensor(x))
    leaf = Tensor(np.asarray(out.data, dtype=np.float64), requires_grad=True)
    loss = leaf.sum() if loss_fn is None else loss_fn(leaf)
    loss.backward()
    d_out = np.asarray(leaf.grad, dtype=np.float64)
    if x.ndim == 2:            # unbatched (T, I)
        x, d_out = x[:, None], d_out[:, None]
    elif getattr(model, "batch_first", False):
        x, d_out = x.transpose(1, 0, 2), d_out.transpose(1, 0, 2)
    ctx.seq_len = ctx.seq_len or x.shape[0]
    ctx.batch_size = ctx.batch_size or x.shape[1]
    params = {_candidate_key(k): np.asarray(v, dtype=np.float64)
              for k, v in model.state_dict().items()}
    return candidates(cell, params, x, d_out)


# --------------------------------------------------------------------------- the entry


def compare_grads(expected: Mapping[str, Any] | Module, actual: Mapping[str, Any] | Module, *,
                  rtol: float = 1e-5, atol: float = 1e-8,
                  time_axis: int | dict[str, int] | None = None,
                  activations: Mapping[str, np.ndarray] | None = None,
                  gates: str | Sequence[str] | None = None,
                  batch_size: int | None = None, seq_len: int | None = None,
                  model: Module | None = None, inputs: Any = None,
                  loss_fn: Callable[[Any], Any] | None = None) -> GradComparison:
    """Compare gradients name by name and diagnose the usual hand-derivation mistakes.

    Arguments:
        expected: the trusted gradients: a dict name -> array, a dict name ->
            Tensor (their ``.grad``), or a Module (its parameters' ``.grad``).
        actual: the gradients under test, in the same forms. A name of
            ``expected`` missing here is diagnosed (kind ``missing``).
        rtol, atol: a name is ok when |actual - expected| <= atol + rtol * |expected|
            for every element (``np.allclose``'s rule, and ``tr.gradcheck``'s).
        time_axis: an int (or a dict name -> int) naming the time axis of
            per-step gradients (dL/dh_t as (T, N, H), dL/dx, each step's share of
            a parameter gradient): the report then shows the worst error at each
            step and diagnoses from how it moves across steps.
        activations: dict name -> the activation each gradient element belongs
            to (broadcastable), to find an error that grows with its magnitude.
        gates: the names of the row blocks of the weights and biases, in order
            ("ifgo", or a tuple of names), to find two gates exchanged; taken from
            a Module (``expected``, ``actual`` or ``model``) when not given.
        batch_size, seq_len: N and T, to name a factor 1/N, 1/T or 1/(N T);
            otherwise read from ``inputs`` or the arrays with a time axis.
        model, inputs, loss_fn: a one-layer, one-direction ``nn.RNN`` (tanh),
            ``nn.LSTM`` or ``nn.GRU``, the x (in its layout) the gradients are of,
            and the loss of its output sequence (default: its sum). Then the
            gradients of candidate mistakes (a dropped carry, a term at the
            neighbouring step, only the last step kept, ...) are computed for this
            layer and input (``tinygrad_rnn.reference.mistakes``), and the one
            ``actual`` matches is named: the diagnosis of summed parameter
            gradients, which have no time axis to read.

    Returns:
        a ``GradComparison``: ``.ok``, ``.summary`` (one line), ``.diagnoses``
        (each with ``.name``, ``.kind``, ``.message``; ``KINDS`` lists the
        kinds), ``.rows`` (one per name), and ``str()``: the summary, the table,
        the per-step table and the diagnoses.

    Refuses: gradients that are not a dict or a Module, names that are not str,
    values that are not numbers (TypeError); a Tensor without ``.grad``, a negative
    or non-finite ``rtol``/``atol``, a ``time_axis`` out of a gradient's range, an
    activation that does not broadcast to its gradient, a ``time_axis`` or
    ``activations`` key that names no gradient (ValueError); names in ``actual``
    that are not in ``expected`` (KeyError, naming them); a ``model`` other than
    the layers above, or without ``inputs`` (ValueError).
    """
    ctx = _Context(rtol=number("compare_grads", "rtol", rtol, minimum=0.0),
                   atol=number("compare_grads", "atol", atol, minimum=0.0),
                   gates=_gate_names(gates, expected, actual, model),
                   batch_size=None if batch_size is None else
                   size("compare_grads", "batch_size", batch_size, minimum=1),
                   seq_len=None if seq_len is None else
                   size("compare_grads", "seq_len", seq_len, minimum=1))
    expected = _as_gradient_dict(expected, "expected")
    actual = _as_gradient_dict(actual, "actual")
    extra = sorted(set(actual) - set(expected))
    if extra:
        raise KeyError(f"compare_grads: names differ: not in expected {extra}")
    axes = _time_axes(time_axis, actual)  # (the actual gradient's axes: the one diagnosed)
    acts = _activations(activations, actual)
    if model is not None:
        ctx.candidates = _model_candidates(model, inputs, loss_fn, ctx)
    _sizes(ctx, actual, axes)
    rows = {name: _row(name, e, actual.get(name), ctx, axes.get(name), acts.get(name))
            for name, e in expected.items()}
    _bias_confusion(expected, actual, rows, ctx)
    _nearest_candidate(expected, actual, rows, ctx)
    return GradComparison(list(rows.values()))


def _row(name: str, expected: np.ndarray, actual: np.ndarray | None, ctx: _Context,
         time_axis: int | None, activation: np.ndarray | None) -> GradComparisonRow:
    """The errors, cosine, verdict and (for a mismatch) diagnoses of one gradient."""
    inf = float("inf")
    if actual is None:
        return GradComparisonRow(name, expected.shape, inf, inf, float("nan"), False,
                                 [diagnosis(name, "missing", "diag_missing", name=name)])
    steps = None
    if actual.shape == expected.shape:
        # the same errors and rule as a gradcheck, with the expected gradient trusted
        errors = GradientErrors.measure(actual, expected, ctx.atol, ctx.rtol)
        max_abs, max_rel, ok = errors.max_abs_error, errors.max_rel_error, errors.ok
        cosine = _cosine(expected, actual)
        if time_axis is not None:
            steps = _per_step(expected, actual, time_axis)
    else:  # no element stands beside another (a transposed gradient, say)
        max_abs = max_rel = inf
        ok, cosine = False, float("nan")
    diagnoses = [] if ok else _diagnose(name, expected, actual, ctx, time_axis, activation)
    return GradComparisonRow(name, expected.shape, max_abs, max_rel, cosine, ok, diagnoses,
                             steps)


def _per_step(expected: np.ndarray, actual: np.ndarray, time_axis: int) -> np.ndarray:
    """The worst relative error at each step along ``time_axis``."""
    e = np.moveaxis(expected, time_axis, 0).reshape(expected.shape[time_axis], -1)
    a = np.moveaxis(actual, time_axis, 0).reshape(actual.shape[time_axis], -1)
    if e.shape[1] == 0:
        return np.zeros(len(e))
    rel = np.abs(a - e) / np.maximum(np.abs(e), np.finfo(np.float64).tiny)
    return rel.max(axis=1)
