"""A gradient check for recurrent layers that says *where* the gradients go wrong.

``tr.gradcheck`` on a layer says "weight_hh_l0 disagrees". That is true and not
much help: weight_hh_l0 holds four gates and is used at every time step.
``gradcheck_layer(layer, x)`` compares autograd with central finite
differences (in float64, for a random upstream gradient on every output) and
reports the worst disagreement

- per parameter and per gate slice (the i/f/g/o rows of an LSTM's
  ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``; r/z/n for a GRU),
- per time step of the input ``x`` and per layer/direction of the initial state,
- per time step of the *weights*: each step's own use of them. The weights are
  untied (a separate copy per step, same values) so autograd and finite
  differences give one gradient per step. That localizes a bug: BPTT starts at
  the last step, where the upstream gradient is still exact, so the gates
  that already disagree there are the culprits; earlier steps only inherit
  the error through the recurrence. A sequence layer is written out step by
  step from its cells (``prepare``, ``project_inputs``, ``step``), a cell by
  calling it step by step; the layer itself is not patched, and if the
  written-out forward differs from the layer's, the per-step view is skipped
  with a note.

    >>> tr.gradcheck_layer(nn.LSTM(2, 3).double(), x)          # True, or raises
    >>> print(tr.layercheck.layercheck_report(layer, x))      # the table, never raises

Works on the built-in sequence layers (and subclasses that change ``_step``),
on cells (one step, or unrolled over a time-major ``x`` of shape (T, N, I)),
on a cell of your own (``unroll=True``: stepped as ``cell(x_t, state)``), and on
any module called as ``layer(x)`` or ``layer(x, state)`` (``gates=`` names the
gate row blocks of a layer of your own).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .arguments import describe, flag, size
from .checkrows import (
    Column,
    GradientErrors,
    error_columns,
    format_table,
    html_table,
    name_width,
    warn_unless_float64,
)
from .display import block, language, paragraph
from .gradcheck import (
    _autograd,
    _central_differences,
    _check_tolerances,
    _flatten_outputs,
    autograd_and_numeric,
    verdict,
)
from .nn.cells import GATES
from .nn.module import Module
from .nn.recurrent import Recurrent, RecurrentCell, prepared, run_step
from .tensor import Tensor, concat, no_grad, stack
from .tour_text import in_language, said, text as words

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, DTypeLike

    from .nn.module import Parameter

__all__ = ["gradcheck_layer", "layercheck_report", "check_options", "LayerCheckReport",
           "LayerCheckRow"]

_GATED = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


@dataclass
class LayerCheckRow(GradientErrors):
    """One slice of one tensor (a gate's rows, a time step, a layer's initial state) and
    how far autograd is from central differences there (the fields of ``GradientErrors``;
    ``worst_index`` is an index into the whole tensor)."""

    tensor: str
    part: str                 # "f [3:6]", "t=2", "f t=2", "l0_reverse", or "" for the whole tensor
    gate: str | None = None
    step: int | None = None


@dataclass
class LayerCheckReport:
    """``.ok``, ``.rows`` (whole tensors and their slices), ``.step_rows`` (the
    weights per time step), ``.culprit`` (one sentence, or None when all agree),
    ``.culprit_gates`` and ``.culprit_step``; ``str()`` is the table."""

    title: str
    rows: list[LayerCheckRow] = field(default_factory=list)
    step_rows: list[LayerCheckRow] = field(default_factory=list)
    culprit: str | None = None
    culprit_gates: tuple[str, ...] = ()
    culprit_step: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows) and all(r.ok for r in self.step_rows)

    def worst(self) -> LayerCheckRow | None:
        """The failing row with the largest relative error (None when all agree)."""
        bad = [r for r in self.rows if not r.ok]
        return max(bad, key=lambda r: r.max_rel_error) if bad else None

    def __str__(self) -> str:
        return self.text()

    def _columns(self, lang: str) -> tuple[Column, ...]:
        tensor = words("col_tensor", lang)
        return (Column(tensor, lambda r: r.tensor, name_width([r.tensor for r in self.rows],
                                                              tensor), align="<"),
                Column(words("col_part", lang), lambda r: in_language(r.part, lang), 12,
                       align="<"),
                *error_columns(lang))

    def _ending(self, lang: str) -> str:
        return words("culprit", lang, culprit=in_language(self.culprit, lang)) if self.culprit \
            else words("all_agree_fd", lang)

    def text(self, lang: str = "en") -> str:
        """The title, the table, the per-step grid, the notes and the culprit, with the
        headers and verdicts in ``lang`` ("en": ``str()``, or "fa")."""
        lang = language(lang, "LayerCheckReport.text")
        columns = self._columns(lang)
        lines = [in_language(self.title, lang), *format_table(columns, self.rows)]
        if self.step_rows:
            lines.append("")
            lines += _step_table(self.step_rows, columns[0].width, lang)
        if self.notes:
            lines += ["", *(words("note", lang, note=in_language(n, lang)) for n in self.notes)]
        lines += ["", self._ending(lang)]
        return "\n".join(lines)

    def html(self, lang: str | None = None) -> str:
        """The same as ``text(lang)`` as HTML, failing rows and steps marked; ``lang``
        None: the language of ``tr.display.set_language``."""
        lang = language(lang, "LayerCheckReport.html")
        parts = [paragraph(in_language(self.title, lang), bold=True),
                 html_table(self._columns(lang), self.rows)]
        if self.step_rows:
            columns, keys, title = _step_grid(self.step_rows, 0, lang)
            parts.append(html_table(columns, keys, caption=title, verdict=False) if keys
                         else paragraph(title))
        parts += [paragraph(words("note", lang, note=in_language(n, lang))) for n in self.notes]
        parts.append(paragraph(self._ending(lang), good=self.ok))
        return block(parts, lang)

    def _repr_html_(self) -> str:
        return self.html()


class _GridKey(tuple):
    """(tensor, gate) of the per-step grid, and whether it agrees at every step."""

    ok: bool


def _step_grid(step_rows: list[LayerCheckRow], width: int,
               lang: str) -> tuple[list[Column], list[_GridKey], str]:
    """The per-step grid's columns, its lines' keys and its title (the whole sentence,
    with no keys, when every step agrees)."""
    # (per-step rows all have a step: never None here)
    steps = sorted({r.step for r in step_rows})  # type: ignore[type-var]
    if all(r.ok for r in step_rows):
        slices = {(r.tensor, r.gate) for r in step_rows}
        return [], [], words("lc_grid_agree", lang, slices=len(slices), steps=len(steps))
    grid: dict[tuple[str, str], dict[int | None, LayerCheckRow]] = {}  # (tensor, gate): {step: row}
    for r in step_rows:
        grid.setdefault((r.tensor, r.gate or ""), {})[r.step] = r
    ok = words("verdict_ok", lang)

    def at(t: int | None) -> Callable[[tuple[str, str]], str]:  # 'ok', or the max abs error at t
        return lambda key: ok if grid[key][t].ok else f"{grid[key][t].max_abs_error:.2e}"

    columns = [Column(words("col_tensor", lang), lambda key: key[0], width, align="<"),
               Column(words("col_gate", lang), lambda key: key[1], 6, align="<"),
               *(Column(f"t={t}", at(t), 10) for t in steps)]
    keys: list[_GridKey] = []
    for key, row in grid.items():
        k = _GridKey(key)
        k.ok = all(r.ok for r in row.values())
        keys.append(k)
    return columns, keys, words("lc_grid_title", lang, ok=ok)


def _step_table(step_rows: list[LayerCheckRow], width: int, lang: str = "en") -> list[str]:
    """Per-step rows as a grid: one line per (tensor, gate), one column per step."""
    columns, keys, title = _step_grid(step_rows, width, lang)
    return [title, *format_table(columns, keys)] if keys else [title]


# --------------------------------------------------------------------------- rows of slices


def _gate_slices(name: str, shape: tuple, gates: tuple[str, ...]) -> list[tuple[str | None, slice]]:
    """[(gate, rows)] for a gated parameter, [(None, all rows)] otherwise."""
    base = name.rsplit(".", 1)[-1]
    if gates and base.startswith(_GATED) and shape and shape[0] % len(gates) == 0:
        size = shape[0] // len(gates)
        return [(g, slice(k * size, (k + 1) * size)) for k, g in enumerate(gates)]
    return [(None, slice(None))]


def _param_rows(name: str, analytic: np.ndarray, numeric: np.ndarray, gates: tuple[str, ...],
                atol: float, rtol: float, step: int | None = None) -> list[LayerCheckRow]:
    """One row per gate slice of a parameter (of its use at ``step``, when given)."""
    rows = []
    for gate, rows_slice in _gate_slices(name, analytic.shape, gates):
        part = "" if gate is None else f"{gate} [{rows_slice.start}:{rows_slice.stop}]"
        if step is not None:
            part = f"t={step}" if gate is None else f"{gate} t={step}"
        rows.append(LayerCheckRow.measure(analytic, numeric, atol, rtol, (rows_slice,),
                                          tensor=name, part=part, gate=gate, step=step))
    return rows


def _x_rows(analytic: np.ndarray, numeric: np.ndarray, axis: int | None, atol: float,
            rtol: float) -> list[LayerCheckRow]:
    """One row per time step of x (``axis`` is its time axis), or one for all of it."""
    if axis is None:
        return [LayerCheckRow.measure(analytic, numeric, atol, rtol, tensor="x", part="")]
    return [LayerCheckRow.measure(analytic, numeric, atol, rtol, (slice(None),) * axis + (t,),
                                  tensor="x", part=f"t={t}", step=t)
            for t in range(analytic.shape[axis])]


def _state_rows(layer: Module, name: str | None, analytic: np.ndarray, numeric: np.ndarray,
                atol: float, rtol: float) -> list[LayerCheckRow]:
    """One row per layer and direction of an initial state (one for a cell's)."""
    return [LayerCheckRow.measure(analytic, numeric, atol, rtol, () if k is None else (k,),
                                  tensor=name, part=label)
            for label, k in _state_labels(layer, analytic.shape)]


def _state_labels(layer: Module, state_shape: tuple) -> list[tuple[str, int | None]]:
    """(label, index along axis 0) for each layer/direction of an initial state."""
    if not isinstance(layer, Recurrent) or state_shape[0] == 1:
        return [("", None)]
    labels: list[tuple[str, int | None]] = []
    for k in range(state_shape[0]):
        layer_index, direction = divmod(k, layer.num_directions)
        labels.append((f"l{layer_index}" + ("_reverse" if direction else ""), k))
    return labels


# --------------------------------------------------------------------------- running the layer


def _leaf(value: Tensor | ArrayLike, name: str, requires_grad: bool = True,
          dtype: DTypeLike | None = None) -> Tensor:
    data = value.data if isinstance(value, Tensor) else np.asarray(value, dtype=np.float64)
    return Tensor(np.array(data, dtype=dtype, copy=True), requires_grad=requires_grad, name=name)


def _protocol_cell(layer: Module) -> RecurrentCell | None:
    """The cell of a module of the cell protocol (the cell itself, or a layer's first)."""
    if isinstance(layer, RecurrentCell):
        return layer
    return layer.cell() if isinstance(layer, Recurrent) else None


def _state_names(layer: Module) -> tuple[str, ...]:
    cell = _protocol_cell(layer)
    if cell is not None:
        return tuple(f"{name}0" for name in cell.state_names)
    return ("h0", "c0") if getattr(layer, "kind", None) == "LSTM" else ("h0",)


def _default_gates(layer: Module) -> tuple[str, ...]:
    """The gate row blocks a layer declares: a protocol cell's ``gates``, the built-ins'."""
    cell = _protocol_cell(layer)
    if cell is not None:
        return tuple(cell.gates)
    return tuple(GATES.get(getattr(layer, "kind", ""), ()))


def _check_gates_fit(where: str, layer: Module, named: list[tuple[str, Parameter]],
                     gates: tuple[str, ...]) -> None:
    """Refuse gate names that would label rows wrongly: another count than the cell
    declares, or one that does not divide a gated parameter's rows."""
    cell = _protocol_cell(layer)
    if cell is not None and cell.gates and len(gates) != len(cell.gates):
        raise ValueError(f"{where}: gates={gates!r} names {len(gates)} row blocks, but "
                         f"{type(cell).__name__} declares {len(cell.gates)}: {cell.gates!r}")
    for name, p in named:
        rows = p.shape[0] if p.shape else 0
        if gates and name.rsplit(".", 1)[-1].startswith(_GATED) and rows % len(gates):
            raise ValueError(f"{where}: gates={gates!r} cannot split {name}, whose "
                             f"{rows} rows are not {len(gates)} equal blocks")


def _default_state(layer: Module, x: np.ndarray,
                   rng: np.random.Generator) -> list[np.ndarray] | None:
    """A random initial state of the right shape (None for a module we do not know).

    Random rather than zeros: a zero c0 hides the forget gate's gradient at t = 0."""
    cell = _protocol_cell(layer)
    if cell is not None:  # each state as wide as the cell's own initial state
        widths = [s.shape[-1] for s in cell.initial_state(1)]
        if isinstance(layer, Recurrent):
            d_l = layer.num_directions * layer.num_layers
            batch = () if x.ndim == 2 else (x.shape[0] if layer.batch_first else x.shape[1],)
            return [rng.uniform(-0.5, 0.5, (d_l,) + batch + (n,)) for n in widths]
        batch = () if x.ndim == 1 else (x.shape[-2],)
        return [rng.uniform(-0.5, 0.5, batch + (n,)) for n in widths]
    return None


def _state_leaves(layer: Module, state: Any, x: np.ndarray, dtype: DTypeLike,
                  seed: int) -> list[Tensor] | None:
    """The initial state as leaves named h0 (and c0), or None for a module run as layer(x)."""
    if state is None:
        arrays = _default_state(layer, x, np.random.default_rng(seed + 1))
        if arrays is None:
            return None
    else:
        arrays = list(state) if isinstance(state, (tuple, list)) else [state]
    names = _state_names(layer)
    if len(names) != len(arrays):
        names = tuple(f"state {k}" for k in range(len(arrays)))
    return [_leaf(s, n, dtype=dtype) for s, n in zip(arrays, names)]


@contextmanager
def _eval_mode(layer: Module) -> Iterator[None]:
    """Run ``layer`` in eval mode (no dropout), then give every module its mode back."""
    modes = [(m, m.training) for m in layer.modules()]
    layer.eval()
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode


def _pack(states: Sequence[Tensor] | None) -> Tensor | tuple[Tensor, ...] | None:
    """The states list as a layer takes it: h, or (h, c)."""
    if states is None:
        return None
    return tuple(states) if len(states) > 1 else states[0]


def _unrolls(layer: Module, x: Tensor | np.ndarray, unroll: bool | None) -> bool:
    """Is ``layer`` a cell to be stepped over a time-major x (T, N, I)?"""
    if unroll is None:
        return isinstance(layer, RecurrentCell) and x.ndim == 3
    return bool(unroll)


def _forward(layer: Module, x: Tensor, states: Sequence[Tensor] | None,
             unroll: bool | None = None) -> Any:
    state = _pack(states)
    if _unrolls(layer, x, unroll):
        return _unroll_cell(layer, x, state)
    return layer(x) if state is None else layer(x, state)


def _unroll_cell(cell: Module, x: Tensor, state: Any) -> tuple[Tensor, Any]:
    """A cell stepped over a time-major x (T, N, I): (outputs (T, N, H), final state)."""
    outputs = []
    for x_t in x.unbind(0):
        state = cell(x_t, state)
        outputs.append(state[0] if isinstance(state, tuple) else state)
    return stack(outputs, axis=0), state


def _time_axis(layer: Module, x: np.ndarray, unroll: bool | None = None) -> int | None:
    if isinstance(layer, Recurrent):
        return 1 if (layer.batch_first and x.ndim == 3) else 0
    return 0 if _unrolls(layer, x, unroll) else None


# --------------------------------------------------------------------------- untied weights


def _untied_forward(layer: Module, x: Tensor, states: Sequence[Tensor] | None,
                    per_step: dict[str, list[Tensor]], unroll: bool | None = None) -> Any:
    """The layer's forward with step t's own copy of every weight (``per_step``: name ->
    a list of T tensors), or None when the layer is not one we can untie."""
    if isinstance(layer, Recurrent):
        if any("." in n for cell in layer.cells for n, _ in cell.named_parameters()):
            return None  # (a cell with parameters in submodules: not untied here)
        assert states is not None  # (_state_leaves always gives a sequence layer its states)
        return _untied_sequence_layer(layer, x, states, per_step)
    if _unrolls(layer, x, unroll) and all("." not in n for n in per_step):
        return _untied_cell(layer, x, _pack(states), per_step)
    return None


def _untied_sequence_layer(layer: Recurrent, x: Tensor, states: Sequence[Tensor],
                           per_step: dict[str, list[Tensor]]) -> tuple[Tensor, Any]:
    """``layer(x, states)`` of an ``nn.Recurrent`` (RNN, LSTM, GRU included), written out
    a layer, a direction and a time step at a time, step t with its own weights.

    Of the layer it uses its cells (``prepare``, ``project_inputs`` and ``step``) and its
    public attributes; the layout (batch_first, unbatched, layers, directions) is torch's,
    written out here. The caller compares the result with ``layer(x, states)`` before trusting it.
    """
    unbatched = x.ndim == 2
    if unbatched:  # as a batch of one
        x = x.reshape(x.shape[0], 1, x.shape[1])
        states = [s.reshape(s.shape[0], 1, s.shape[1]) for s in states]
    elif layer.batch_first:
        x = x.transpose(0, 1)
    initial = list(zip(*(s.unbind(0) for s in states)))  # per (layer, direction): (h,) or (h, c)
    finals = []
    for k in range(layer.num_layers):
        outputs = []
        for direction in range(layer.num_directions):
            suffix = f"_l{k}" + ("_reverse" if direction else "")
            state = initial[k * layer.num_directions + direction]
            output, final = _untied_steps(layer.cell(k, direction), x, state, per_step, suffix,
                                          direction == 1)
            outputs.append(output)
            finals.append(final)
        x = concat(outputs, axis=-1) if len(outputs) > 1 else outputs[0]
    states = [stack(list(s), axis=0) for s in zip(*finals)]  # (D*L, N, .) each
    if unbatched:
        x = x.reshape(x.shape[0], x.shape[2])
        states = [s.reshape(s.shape[0], s.shape[2]) for s in states]
    elif layer.batch_first:
        x = x.transpose(0, 1)
    return x, _pack(states)


def _untied_steps(cell: RecurrentCell, x: Tensor, state: tuple[Tensor, ...],
                  per_step: dict[str, list[Tensor]], suffix: str,
                  reverse: bool) -> tuple[Tensor, tuple[Tensor, ...]]:
    """One layer and direction (``suffix``: "_l0", "_l1_reverse", ...) over a time-major
    x, step t with its own weights: (outputs (T, N, H_out), final state)."""
    x_steps = x.unbind(0)
    outputs: list[Any] = [None] * len(x_steps)  # filled in the direction's order
    for t in (reversed(range(len(x_steps))) if reverse else range(len(x_steps))):
        untied = copy.copy(cell)  # with step t's copies of the weights checked
        for name, _ in cell.named_parameters():
            if name + suffix in per_step:
                setattr(untied, name, per_step[name + suffix][t])
        untied = prepared(untied, untied.prepare())
        state = run_step(untied, untied.project_inputs(x_steps[t]), state)
        outputs[t] = state[0]
    return stack(outputs, axis=0), state


def _untied_cell(cell: Module, x: Tensor, state: Any,
                 per_step: dict[str, list[Tensor]]) -> tuple[Tensor, Any]:
    """A cell stepped over a time-major x with its parameters swapped for step t's
    copies while step t runs (as torch's ``functional_call``), then put back."""
    originals = {n: getattr(cell, n) for n in per_step}
    outputs = []
    try:
        for t, x_t in enumerate(x.unbind(0)):
            for n in per_step:
                setattr(cell, n, per_step[n][t])
            state = cell(x_t, state)
            outputs.append(state[0] if isinstance(state, tuple) else state)
    finally:
        for n, p in originals.items():
            setattr(cell, n, p)
    return stack(outputs, axis=0), state


def _per_step_rows(layer: Module, x_data: np.ndarray, state_leaves: list[Tensor] | None,
                   named: list[tuple[str, Parameter]], gates: tuple[str, ...], steps: int,
                   eps: float, atol: float, rtol: float, seed: int,
                   unroll: bool | None = None) -> tuple[list[LayerCheckRow], str | None]:
    """Rows per (weight, gate, step) from a run with untied per-step weight copies, and
    a note when there are none."""
    per_step = {n: [Tensor(p.data.copy(), requires_grad=True, name=f"{n}@t{t}")
                    for t in range(steps)] for n, p in named}
    x_const = Tensor(x_data)
    states_const = None if state_leaves is None else [Tensor(s.data) for s in state_leaves]
    with no_grad():
        tied = _flatten_outputs(_forward(layer, x_const, states_const, unroll))
        untied = _untied_forward(layer, x_const, states_const, per_step, unroll)
    if untied is None:
        return [], said("lc_note_not_untied")
    untied = _flatten_outputs(untied)
    if len(untied) != len(tied) or not all(
            a.shape == b.shape and np.allclose(a.data, b.data, rtol=1e-10, atol=1e-12)
            for a, b in zip(tied, untied)):
        return [], said("lc_note_unroll_differs")
    leaves = [t for n, _ in named for t in per_step[n]]
    analytic, numeric = autograd_and_numeric(
        lambda: _untied_forward(layer, x_const, states_const, per_step, unroll), [], leaves,
        eps, seed)
    rows, k = [], 0
    for name, _ in named:
        for t in range(steps):
            rows += _param_rows(name, analytic[k], numeric[k], gates, atol, rtol, step=t)
            k += 1
    order = {n: i for i, (n, _) in enumerate(named)}
    rows.sort(key=lambda r: (order[r.tensor], (gates.index(r.gate) if r.gate in gates else 0),
                             r.step))
    return rows, None


def _reverse_direction(name: str) -> bool:
    return name.endswith("_reverse")


def _layer_index(name: str) -> int:
    base = name.rsplit(".", 1)[-1]
    for part in base.split("_"):
        if part.startswith("l") and part[1:].isdigit():
            return int(part[1:])
    return 0


# --------------------------------------------------------------------------- the culprit


def _culprit(rows: list[LayerCheckRow], step_rows: list[LayerCheckRow], gates: tuple[str, ...],
             steps: int) -> tuple[str | None, tuple[str, ...], int | None]:
    """(sentence, gates, step) naming where the disagreement starts; (None, (), None)
    when everything agrees."""
    bad_steps = [r for r in step_rows if not r.ok]
    if bad_steps:
        return _culprit_at_step(bad_steps, step_rows, gates, steps)
    bad_rows = [r for r in rows if not r.ok]
    if bad_rows:
        return _culprit_in_rows(bad_rows, rows, gates)
    return None, (), None


def _culprit_at_step(bad_steps: list[LayerCheckRow], step_rows: list[LayerCheckRow],
                     gates: tuple[str, ...],
                     steps: int) -> tuple[str, tuple[str, ...], int | None]:
    """The culprit from the per-step rows: the gates that disagree at the first step
    BPTT reaches with an error."""
    # the top layer gets the exact upstream gradient; BPTT reaches its last step
    # first (its first step, for the reverse direction)
    top = max(_layer_index(r.tensor) for r in bad_steps)
    in_top = [r for r in bad_steps if _layer_index(r.tensor) == top]

    # BPTT's order: late steps first, early ones for the reverse direction (and every
    # per-step row has a step)
    def backward_order(r: LayerCheckRow) -> int:
        return -r.step if _reverse_direction(r.tensor) else r.step  # type: ignore[operator, return-value]

    first = max(in_top, key=backward_order)
    step, reverse = first.step, _reverse_direction(first.tensor)
    at_step = [r for r in in_top if r.step == step and _reverse_direction(r.tensor) == reverse]
    order = [r.tensor for r in step_rows]
    tensors = sorted({r.tensor for r in at_step}, key=order.index)
    where = said("lc_where_first") if step == (0 if reverse else steps - 1) \
        else said("lc_where_backward")
    bad_gates = tuple(g for g in gates if any(r.gate == g for r in at_step))
    if gates and bad_gates and len(bad_gates) < len(gates):
        fine = [g for g in gates if g not in bad_gates]
        one = len(bad_gates) == 1
        sentence = said("lc_culprit_some_gates",
                        label=said("lc_gate_one" if one else "lc_gate_many",
                                   gates=", ".join(bad_gates)),
                        step=step, where=where, tensors=", ".join(tensors),
                        verb=said("lc_disagrees_one" if one else "lc_disagrees_many"),
                        fine=", ".join(fine),
                        agree=said("lc_agrees_one" if len(fine) == 1 else "lc_agrees_many"))
        return sentence, bad_gates, step
    if gates and bad_gates:
        sentence = said("lc_culprit_all_gates", gates=", ".join(gates), step=step, where=where,
                        tensors=", ".join(tensors))
        return sentence, bad_gates, step
    return said("lc_culprit_tensors", tensors=", ".join(tensors), step=step, where=where), \
        (), step


def _culprit_in_rows(bad_rows: list[LayerCheckRow], rows: list[LayerCheckRow],
                     gates: tuple[str, ...]) -> tuple[str, tuple[str, ...], None]:
    """The culprit without a per-step view: the tensors and gates that disagree."""
    bad_gates = tuple(g for g in gates if any(r.gate == g for r in bad_rows))
    worst = max(bad_rows, key=lambda r: r.max_rel_error)
    order = [r.tensor for r in rows]
    names = sorted({r.tensor for r in bad_rows}, key=order.index)
    some_gates = said("lc_culprit_rows_gates", gates=", ".join(bad_gates)) \
        if bad_gates and len(bad_gates) < len(gates) else ""
    sentence = said("lc_culprit_rows", names=", ".join(names), tensor=worst.tensor,
                    part=worst.part, error=worst.max_rel_error, gates=some_gates)
    return sentence, bad_gates, None


# --------------------------------------------------------------------------- the public API


def layercheck_report(layer: Module, x: Tensor | ArrayLike, state: Any = None, *,
                      gates: Sequence[str] | None = None, per_step: bool = True,
                      unroll: bool | None = None, eps: float = 1e-6, atol: float = 1e-5,
                      rtol: float = 1e-3, seed: int = 0) -> LayerCheckReport:
    """Check a layer's gradients against finite differences; return the report.

    Arguments:
        layer: an ``nn.RNN``/``LSTM``/``GRU`` (or subclass), a cell, or any module
            called as ``layer(x)`` / ``layer(x, state)``. Use float64 weights
            (``layer.double()``). It is run in eval mode (no dropout) and left as found.
        x: the input (array or Tensor); for a cell, a time-major (T, N, I) x is
            unrolled step by step.
        state: the initial state (h0, or (h0, c0)); None draws a random one of
            the right shape for built-in and protocol layers and cells (a zero c0 would hide
            the forget gate's gradient at t = 0). Checked like x.
        gates: names of the gate row blocks of weight_ih/weight_hh/bias_* (default:
            i, f, g, o for LSTM; r, z, n for GRU; a protocol cell's ``gates``; none
            otherwise). Refused when their count is not the cell's, or does not divide
            a gated parameter's rows.
        per_step: also check each time step's own use of the weights (untied copies).
        unroll: step ``layer`` as a cell over a time-major x (T, N, I), calling
            ``layer(x_t, state)`` with ``state=None`` at first unless given (default:
            for built-in cells given a 3-D x). Set it for a cell of your own.
        eps, atol, rtol, seed: as ``tr.gradcheck``.

    Returns:
        a ``LayerCheckReport``. A parameter, x or state that no gradient reaches from
        the outputs (a parameter the forward never uses) fails as one row, part "not
        reached", as ``tr.gradcheck``'s inputs: nothing was checked there. A parameter
        with requires_grad=False is not checked (a note names it).

    Refuses, before running the layer: a layer that is not a Module, an ``x`` or
    ``state`` that is not numbers (TypeError), and options as ``check_options``.
    """
    where = "gradcheck_layer"
    if not isinstance(layer, Module):
        raise TypeError(f"{where}: layer must be a Module (an nn.RNN, a cell, a module of "
                        f"your own), got {describe(layer)}")
    x_data = _numbers(where, "x", x)
    if state is not None:
        for k, s in enumerate(state if isinstance(state, (tuple, list)) else [state]):
            _numbers(where, "state" if not isinstance(state, (tuple, list)) else f"state[{k}]", s)
    check_options(where, gates=gates, per_step=per_step, unroll=unroll, eps=eps, atol=atol,
                  rtol=rtol, seed=seed)
    gates = _default_gates(layer) if gates is None else tuple(gates)
    every = list(layer.named_parameters())
    _check_gates_fit(where, layer, every, gates)
    # (a frozen parameter, requires_grad=False, gets no gradient: not checked, as torch's)
    named = [(name, p) for name, p in every if p.requires_grad]
    frozen = [name for name, p in every if not p.requires_grad]
    warn_unless_float64("gradcheck_layer", named, " (use layer.double())")
    # x and the states in the parameters' dtype: a module refuses any other, as torch
    dtype = every[0][1].dtype if every else x_data.dtype
    x_leaf = _leaf(x_data, "x", dtype=dtype)
    state_leaves = _state_leaves(layer, state, x_data, dtype, seed)
    axis = _time_axis(layer, x_data, unroll)
    steps = x_data.shape[axis] if axis is not None else 1

    with _eval_mode(layer):
        leaves = [p for _, p in named] + [x_leaf] + (state_leaves or [])
        analytic, numeric, reached = _gradients(
            lambda: _forward(layer, x_leaf, state_leaves, unroll), leaves, eps, seed)
        rows = []
        for (name, _), a, n, r in zip(named, analytic, numeric, reached):
            rows += _param_rows(name, a, n, gates, atol, rtol) if r else [
                _unreached_row(name, n, atol, rtol)]
        k = len(named)
        rows += _x_rows(analytic[k], numeric[k], axis, atol, rtol) if reached[k] else [
            _unreached_row("x", numeric[k], atol, rtol)]
        for s, a, n, r in zip(state_leaves or [], analytic[k + 1:], numeric[k + 1:],
                              reached[k + 1:]):
            rows += _state_rows(layer, s.name, a, n, atol, rtol) if r else [
                _unreached_row(s.name or "state", n, atol, rtol)]
        step_rows: list[LayerCheckRow]
        step_rows, note = [], None
        if per_step and axis is not None and steps > 1:
            # (every parameter: a frozen one is untied too, its steps' copies checked)
            step_rows, note = _per_step_rows(layer, x_data, state_leaves, every, gates,
                                             steps, eps, atol, rtol, seed, unroll)

    culprit, culprit_gates, culprit_step = _culprit(rows, step_rows, gates, steps)
    unreached = [r.tensor for r in rows if r.part == _NOT_REACHED]
    if unreached:  # (said first: nothing was checked there)
        culprit, culprit_gates, culprit_step = (
            said("lc_unreached", names=", ".join(unreached)), (), None)
    notes = [note] if note else []
    if frozen:
        notes.append(said("lc_note_frozen", names=", ".join(frozen)))
    title = said("lc_title", layer=type(layer).__name__, shape=tuple(x_data.shape),
                 steps=said("lc_title_steps", steps=steps) if axis is not None else "")
    return LayerCheckReport(title, rows, step_rows, culprit, culprit_gates, culprit_step,
                            notes)


_NOT_REACHED = said("lc_not_reached")  # a row's part: English, and Persian in text("fa")


def _gradients(fn: Callable[[], Any], leaves: list[Tensor], eps: float,
               seed: int) -> tuple[list[np.ndarray], list[np.ndarray], list[bool]]:
    """``autograd_and_numeric``, and whether any gradient reached each leaf at all."""
    analytic, upstream = _autograd(fn, [], leaves, seed)
    numeric = _central_differences(fn, [], eps, upstream, leaves)
    return ([np.zeros(t.shape) if a is None else a for t, a in zip(leaves, analytic)],
            numeric, [a is not None for a in analytic])


def _unreached_row(name: str, numeric: np.ndarray, atol: float,
                   rtol: float) -> LayerCheckRow:
    """The failing row of a tensor no gradient reached (as ``tr.gradcheck``'s)."""
    row = LayerCheckRow.measure(np.zeros(numeric.shape), numeric, atol, rtol, tensor=name,
                                part=_NOT_REACHED)
    row.ok = False
    return row


def gradcheck_layer(layer: Module, x: Tensor | ArrayLike, state: Any = None, *,
                    raise_exception: bool = True, **kwargs: Any) -> bool:
    """True when a layer's gradients match central finite differences everywhere.

    Otherwise raises ``tr.GradcheckError`` whose message is the report (per
    parameter and gate, per time step, and the culprit), or returns False with
    ``raise_exception=False``. Arguments as ``layercheck_report``.
    """
    check_options("gradcheck_layer", raise_exception=raise_exception, **kwargs)
    report = layercheck_report(layer, x, state, **kwargs)
    return verdict(report, raise_exception, "layer gradients disagree with finite differences")


# --------------------------------------------------------------------------- checks at the door

_OPTIONS = ("gates", "per_step", "unroll", "eps", "atol", "rtol", "seed", "raise_exception")


def check_options(where: str, **options: Any) -> None:
    """Refuse a keyword option of ``gradcheck_layer`` that it does not take (TypeError) or
    a bad value: ``gates`` a str ("ifgo") or a sequence of distinct str; ``per_step``,
    ``raise_exception`` bools and ``unroll`` a bool or None; ``eps > 0``; ``atol``,
    ``rtol >= 0``; ``seed`` an int >= 0. (``check_layer_gradients`` checks its options
    with it before drawing a single configuration.)"""
    for name, value in options.items():
        if name not in _OPTIONS:
            raise TypeError(f"{where}: unknown option {name!r}; it takes "
                            f"{', '.join(_OPTIONS)}")
        if name in ("per_step", "raise_exception") or (name == "unroll" and value is not None):
            flag(where, name, value)
    if "seed" in options:
        size(where, "seed", options["seed"])
    _check_tolerances(where, options.get("eps", 1e-6), options.get("atol", 0.0),
                      options.get("rtol", 0.0))
    _check_gates(where, options.get("gates"))


def _check_gates(where: str, gates: Any) -> None:
    if gates is None:
        return
    if isinstance(gates, (Tensor, np.ndarray, bytes)) or not isinstance(gates, (str, Sequence)):
        raise TypeError(f"{where}: gates must be a str such as 'ifgo' or a sequence of gate "
                        f"names, got {describe(gates)}")
    for g in gates:
        if not isinstance(g, str):
            raise TypeError(f"{where}: each gate name must be a str, got {describe(g)}")
    if len(set(gates)) != len(gates):
        raise ValueError(f"{where}: gate names must be distinct, got {list(gates)}")


def _numbers(where: str, name: str, value: Any) -> np.ndarray:
    """``value`` (a Tensor or array-like of numbers) as an array."""
    if isinstance(value, Tensor):
        return value.data
    refused = TypeError(f"{where}: {name} must be a Tensor or an array of numbers, "
                        f"got {describe(value)}")
    if value is None or isinstance(value, (str, bytes)):
        raise refused
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise refused from None
