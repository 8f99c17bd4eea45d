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
  the error through the recurrence.

    >>> tr.gradcheck_layer(nn.LSTM(2, 3).double(), x)          # True, or raises
    >>> print(tr.layercheck.layercheck_report(layer, x))      # the table, never raises

Works on the built-in sequence layers (and subclasses that change ``_step``),
on cells (one step, or unrolled over a time-major ``x`` of shape (T, N, I)),
on a cell of your own (``unroll=True``: stepped as ``cell(x_t, state)``), and on
any module called as ``layer(x)`` or ``layer(x, state)`` (``gates=`` names the
gate row blocks of a layer of your own).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from .gradcheck import GradcheckError, _flatten_outputs, numerical_grad
from .nn.cells import GATES, _Cell
from .nn.rnn import RNNBase
from .ops import stack
from .tensor import Tensor, no_grad

__all__ = ["gradcheck_layer", "layercheck_report", "LayerCheckReport", "LayerCheckRow"]

_GATED = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


@dataclass
class LayerCheckRow:
    """One slice of one tensor: a gate's rows, a time step, a layer's initial state."""

    tensor: str
    part: str                 # "f", "t=2", "l0_reverse", or "" for the whole tensor
    gate: str | None
    step: int | None
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple
    analytic: float
    numeric: float
    ok: bool


@dataclass
class LayerCheckReport:
    """``.ok``, ``.rows`` (whole tensors and their slices), ``.step_rows`` (the
    weights per time step), ``.culprit`` (one sentence, or None when all agree),
    ``.culprit_gates`` and ``.culprit_step``; ``str()`` is the table."""

    title: str
    rows: list = field(default_factory=list)
    step_rows: list = field(default_factory=list)
    culprit: str | None = None
    culprit_gates: tuple = ()
    culprit_step: int | None = None
    notes: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows) and all(r.ok for r in self.step_rows)

    def worst(self) -> LayerCheckRow | None:
        """The failing row with the largest relative error (None when all agree)."""
        bad = [r for r in self.rows if not r.ok]
        return max(bad, key=lambda r: r.max_rel_error) if bad else None

    def __str__(self) -> str:
        width = max([len(r.tensor) for r in self.rows] + [6]) + 2
        header = (f"{'tensor':<{width}}{'part':<12}{'max abs err':>12}{'max rel err':>12}  "
                  f"{'worst at':<14}{'analytic':>13}{'numeric':>13}  ok")
        lines = [self.title, header, "-" * len(header)]
        for r in self.rows:
            lines.append(f"{r.tensor:<{width}}{r.part:<12}{r.max_abs_error:>12.3e}"
                         f"{r.max_rel_error:>12.3e}  {str(r.worst_index):<14}{r.analytic:>13.5e}"
                         f"{r.numeric:>13.5e}  {'yes' if r.ok else 'NO'}")
        if self.step_rows:
            lines.append("")
            lines += _step_table(self.step_rows, width)
        lines += [""] + [f"note: {n}" for n in self.notes] if self.notes else []
        lines.append("")
        lines.append(f"culprit: {self.culprit}" if self.culprit
                     else "all gradients agree with finite differences")
        return "\n".join(lines)


def _step_table(step_rows, width) -> list:
    """Per-step rows as a grid: one line per (tensor, gate), one column per step."""
    steps = sorted({r.step for r in step_rows})
    if all(r.ok for r in step_rows):
        keys = {(r.tensor, r.gate) for r in step_rows}
        return [f"per time step: all {len(keys)} weight slices agree at each of the "
                f"{len(steps)} steps"]
    lines = ["per time step (each step's own use of the weights: max abs error, "
             "'ok' where it agrees):",
             f"{'tensor':<{width}}{'gate':<6}" + "".join(f"{'t=' + str(t):>10}" for t in steps)]
    grid = {}
    for r in step_rows:
        grid.setdefault((r.tensor, r.gate), {})[r.step] = r
    for (tensor, gate), cells in grid.items():
        text = "".join(f"{'ok' if cells[t].ok else f'{cells[t].max_abs_error:.2e}':>10}"
                       for t in steps)
        lines.append(f"{tensor:<{width}}{gate or '':<6}{text}")
    return lines


# --------------------------------------------------------------------------- comparing slices


def _region_row(tensor, part, gate, step, analytic, numeric, region, atol, rtol) -> LayerCheckRow:
    """Compare one region (a tuple of slices) of two full arrays; the worst index is a
    full index, so it points into the tensor itself."""
    a, n = analytic[region], numeric[region]
    if a.size == 0:
        return LayerCheckRow(tensor, part, gate, step, 0.0, 0.0, (), 0.0, 0.0, True)
    abs_err = np.abs(a - n)
    rel_err = abs_err / np.maximum(np.abs(n), np.finfo(np.float64).tiny)
    excess = abs_err - (atol + rtol * np.abs(n))   # > 0 where the check fails
    local = np.unravel_index(np.argmax(excess), a.shape)
    starts = [s.indices(dim)[0] if isinstance(s, slice) else s
              for s, dim in zip(region + (slice(None),) * (analytic.ndim - len(region)),
                                analytic.shape)]
    full, k = [], 0
    for d, s in enumerate(region + (slice(None),) * (analytic.ndim - len(region))):
        if isinstance(s, slice):
            full.append(int(starts[d] + local[k]))
            k += 1
        else:
            full.append(int(s))
    return LayerCheckRow(tensor, part, gate, step, float(abs_err.max()), float(rel_err.max()),
                         tuple(full), float(a[local]), float(n[local]), bool(np.all(excess <= 0)))


def _gate_slices(name: str, shape: tuple, gates: tuple) -> list:
    """[(gate, rows)] for a gated parameter, [(None, all rows)] otherwise."""
    base = name.rsplit(".", 1)[-1]
    if gates and base.startswith(_GATED) and shape and shape[0] % len(gates) == 0:
        size = shape[0] // len(gates)
        return [(g, slice(k * size, (k + 1) * size)) for k, g in enumerate(gates)]
    return [(None, slice(None))]


def _param_rows(name, analytic, numeric, gates, atol, rtol, step=None) -> list:
    rows = []
    for gate, rows_slice in _gate_slices(name, analytic.shape, gates):
        part = "" if gate is None else f"{gate} [{rows_slice.start}:{rows_slice.stop}]"
        if step is not None:
            part = f"t={step}" if gate is None else f"{gate} t={step}"
        rows.append(_region_row(name, part, gate, step, analytic, numeric, (rows_slice,),
                                atol, rtol))
    return rows


# --------------------------------------------------------------------------- running the layer


def _autograd_and_numeric(fn, leaves, eps, seed):
    """Analytic and numeric gradients of sum(v * fn()) w.r.t. each leaf, for a random v.

    The leaves' ``.grad`` is left as it was found."""
    outs = _flatten_outputs(fn())
    rng = np.random.default_rng(seed)
    upstream = [rng.standard_normal(o.shape) for o in outs]
    saved = [t.grad for t in leaves]
    try:
        for t in leaves:
            t.grad = None
        for o, v in zip(outs, upstream):
            if o.requires_grad:
                o.backward(v, retain_graph=True)
        analytic = [np.zeros(t.shape) if t.grad is None else t.grad.astype(np.float64)
                    for t in leaves]
    finally:
        for t, g in zip(leaves, saved):
            t.grad = g
    numeric = numerical_grad(lambda: fn(), [], eps, upstream, wrt=leaves)
    return analytic, numeric


def _leaf(value, name, requires_grad=True, dtype=None) -> Tensor:
    data = value.data if isinstance(value, Tensor) else np.asarray(value, dtype=np.float64)
    return Tensor(np.array(data, dtype=dtype, copy=True), requires_grad=requires_grad, name=name)


def _state_names(layer) -> tuple:
    return ("h0", "c0") if getattr(layer, "kind", None) == "LSTM" else ("h0",)


def _default_state(layer, x: np.ndarray, rng):
    """A random initial state of the right shape (None for a module we do not know).

    Random rather than zeros: a zero c0 hides the forget gate's gradient at t = 0."""
    if isinstance(layer, RNNBase):
        d_l = layer.num_directions * layer.num_layers
        sizes = [layer.proj_size or layer.hidden_size, layer.hidden_size][:len(_state_names(layer))]
        if x.ndim == 2:
            batch = ()
        else:
            batch = (x.shape[0] if layer.batch_first else x.shape[1],)
        return [rng.uniform(-0.5, 0.5, (d_l,) + batch + (n,)) for n in sizes]
    if isinstance(layer, _Cell):
        batch = () if x.ndim == 1 else (x.shape[-2],)
        return [rng.uniform(-0.5, 0.5, batch + (layer.hidden_size,))
                for _ in _state_names(layer)]
    return None


def _state_labels(layer, state_shape: tuple) -> list:
    """(label, index along axis 0) for each layer/direction of an initial state."""
    if not isinstance(layer, RNNBase) or state_shape[0] == 1:
        return [("", None)]
    labels = []
    for k in range(state_shape[0]):
        layer_index, direction = divmod(k, layer.num_directions)
        labels.append((f"l{layer_index}" + ("_reverse" if direction else ""), k))
    return labels


def _unroll_cell(cell, x: Tensor, state):
    """A cell stepped over a time-major x (T, N, I): (outputs (T, N, H), final state)."""
    outputs = []
    for x_t in x.unbind(0):
        state = cell(x_t, state)
        outputs.append(state[0] if isinstance(state, tuple) else state)
    return stack(outputs, dim=0), state


def _pack(layer, states):
    """The states list as the layer takes it: h, or (h, c)."""
    if states is None:
        return None
    return tuple(states) if len(states) > 1 else states[0]


def _unrolls(layer, x, unroll) -> bool:
    """Is ``layer`` a cell to be stepped over a time-major x (T, N, I)?"""
    if unroll is None:
        return isinstance(layer, _Cell) and x.ndim == 3
    return bool(unroll)


def _forward(layer, x, states, unroll=None):
    state = _pack(layer, states)
    if _unrolls(layer, x, unroll):
        return _unroll_cell(layer, x, state)
    return layer(x) if state is None else layer(x, state)


def _one_step(xp):
    return (xp,)


def _untied_forward(layer, x, states, per_step, unroll=None):
    """The layer with a separate copy of every weight at every step (per_step:
    name -> list of T tensors). None when the layer is not one we can untie."""
    names = {id(p): n for n, p in layer.named_parameters()}
    state = _pack(layer, states)
    if isinstance(layer, RNNBase):
        def run(xs, st, w, reverse):
            steps = xs.shape[0]
            slices = xs.unbind(0)
            outputs = [None] * steps
            for t in (reversed(range(steps)) if reverse else range(steps)):
                wt = {f: None if p is None else per_step[names[id(p)]][t] for f, p in w.items()}
                xp, wt = layer._step_inputs(slices[t], wt, _one_step)
                st = layer._step(xp[0], st, wt)
                outputs[t] = st[0]
            return stack(outputs, dim=0), st

        layer._run = run    # an instance attribute shadows the method for this call only
        try:
            return layer(x, state)
        finally:
            del layer._run
    if _unrolls(layer, x, unroll) and all("." not in n for n in per_step):
        originals = {n: getattr(layer, n) for n in per_step}
        outputs = []
        try:
            for t, x_t in enumerate(x.unbind(0)):
                for n in per_step:
                    setattr(layer, n, per_step[n][t])
                state = layer(x_t, state)
                outputs.append(state[0] if isinstance(state, tuple) else state)
        finally:
            for n, p in originals.items():
                setattr(layer, n, p)
        return stack(outputs, dim=0), state
    return None


def _time_axis(layer, x: np.ndarray, unroll=None):
    if isinstance(layer, RNNBase):
        return 1 if (layer.batch_first and x.ndim == 3) else 0
    return 0 if _unrolls(layer, x, unroll) else None


def _reverse_direction(name: str) -> bool:
    return name.endswith("_reverse")


def _layer_index(name: str) -> int:
    base = name.rsplit(".", 1)[-1]
    for part in base.split("_"):
        if part.startswith("l") and part[1:].isdigit():
            return int(part[1:])
    return 0


# --------------------------------------------------------------------------- the culprit


def _culprit(rows, step_rows, gates, steps) -> tuple:
    """(sentence, gates, step) naming where the disagreement starts."""
    bad_rows = [r for r in rows if not r.ok]
    if not bad_rows and not any(not r.ok for r in step_rows):
        return None, (), None
    bad_steps = [r for r in step_rows if not r.ok]
    if bad_steps:
        # the top layer gets the exact upstream gradient; BPTT reaches its last step
        # first (its first step, for the reverse direction)
        top = max(_layer_index(r.tensor) for r in bad_steps)
        in_top = [r for r in bad_steps if _layer_index(r.tensor) == top]
        first = lambda r: -r.step if _reverse_direction(r.tensor) else r.step
        step = max(in_top, key=first).step
        reverse = _reverse_direction(max(in_top, key=first).tensor)
        at_step = [r for r in in_top if r.step == step and _reverse_direction(r.tensor) == reverse]
        tensors = sorted({r.tensor for r in at_step}, key=lambda n: [x.tensor for x in step_rows].index(n))
        where = "the first step BPTT reaches" if step == (0 if reverse else steps - 1) \
            else "the first step at which they disagree, in backward order"
        bad_gates = tuple(g for g in gates if any(r.gate == g for r in at_step))
        if gates and bad_gates and len(bad_gates) < len(gates):
            fine = [g for g in gates if g not in bad_gates]
            label = "gate " + bad_gates[0] if len(bad_gates) == 1 else "gates " + ", ".join(bad_gates)
            verb = "disagrees" if len(bad_gates) == 1 else "disagree"
            agree = "agrees" if len(fine) == 1 else "agree"
            sentence = (f"{label}. At t={step}, {where}, only {label} {verb} "
                        f"({', '.join(tensors)}) while {', '.join(fine)} {agree}; earlier steps "
                        f"inherit the error through the recurrence. Look for a wrong backward, "
                        f"or a missing path (.data, detach), in what computes {label} or "
                        f"carries it to the loss.")
            return sentence, bad_gates, step
        if gates and bad_gates:
            sentence = (f"every gate ({', '.join(gates)}) disagrees already at t={step}, {where}: "
                        f"the error is in something all gates share (the pre-activation matmul "
                        f"or sum, or the state update), in {', '.join(tensors)}.")
            return sentence, bad_gates, step
        sentence = (f"{', '.join(tensors)} at t={step}, {where}; earlier steps inherit the "
                    f"error through the recurrence.")
        return sentence, (), step
    bad_gates = tuple(g for g in gates if any(r.gate == g for r in bad_rows))
    worst = max(bad_rows, key=lambda r: r.max_rel_error)
    names = sorted({r.tensor for r in bad_rows}, key=lambda n: [x.tensor for x in rows].index(n))
    sentence = (f"{', '.join(names)} disagree; the worst is {worst.tensor} {worst.part} "
                f"(max rel error {worst.max_rel_error:.2e})")
    if bad_gates and len(bad_gates) < len(gates):
        sentence += f"; gates that disagree: {', '.join(bad_gates)}"
    return sentence + ".", bad_gates, None


# --------------------------------------------------------------------------- the public API


def layercheck_report(layer, x, state=None, *, gates: tuple | None = None, per_step: bool = True,
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
            the right shape for built-in layers and cells (a zero c0 would hide
            the forget gate's gradient at t = 0). Checked like x.
        gates: names of the gate row blocks of weight_ih/weight_hh/bias_* (default:
            i, f, g, o for LSTM; r, z, n for GRU; none otherwise).
        per_step: also check each time step's own use of the weights (untied copies).
        unroll: step ``layer`` as a cell over a time-major x (T, N, I), calling
            ``layer(x_t, state)`` with ``state=None`` at first unless given (default:
            for built-in cells given a 3-D x). Set it for a cell of your own.
        eps, atol, rtol, seed: as ``tr.gradcheck``.

    Returns:
        a ``LayerCheckReport``.
    """
    x_data = x.data if isinstance(x, Tensor) else np.asarray(x, dtype=np.float64)
    kind = getattr(layer, "kind", None)
    gates = tuple(GATES.get(kind, ())) if gates is None else tuple(gates)
    rng = np.random.default_rng(seed + 1)
    if state is None:
        state_arrays = _default_state(layer, x_data, rng)
    else:
        state_arrays = list(state) if isinstance(state, (tuple, list)) else [state]
    named = list(layer.named_parameters())
    for name, p in named:
        if p.dtype != np.float64:
            warnings.warn(f"gradcheck_layer: {name} is {p.dtype}; finite differences are only "
                          f"meaningful in float64 (use layer.double())", stacklevel=2)
            break

    # x and the states in the parameters' dtype: a module refuses any other, as torch
    dtype = named[0][1].dtype if named else x_data.dtype
    x_leaf = _leaf(x_data, "x", dtype=dtype)
    state_names = _state_names(layer) if state_arrays is not None else ()
    if state_arrays is not None and len(state_names) != len(state_arrays):
        state_names = tuple(f"state {k}" for k in range(len(state_arrays)))
    state_leaves = None if state_arrays is None else [
        _leaf(s, n, dtype=dtype) for s, n in zip(state_arrays, state_names)]

    modes = [(m, m.training) for m in layer.modules()]
    layer.eval()
    try:
        leaves = [p for _, p in named] + [x_leaf] + (state_leaves or [])
        analytic, numeric = _autograd_and_numeric(
            lambda: _forward(layer, x_leaf, state_leaves, unroll), leaves, eps, seed)

        rows = []
        for k, (name, _) in enumerate(named):
            rows += _param_rows(name, analytic[k], numeric[k], gates, atol, rtol)
        axis = _time_axis(layer, x_data, unroll)
        a_x, n_x = analytic[len(named)], numeric[len(named)]
        if axis is None:
            rows.append(_region_row("x", "", None, None, a_x, n_x, (), atol, rtol))
        else:
            for t in range(x_data.shape[axis]):
                region = (slice(None),) * axis + (t,)
                rows.append(_region_row("x", f"t={t}", None, t, a_x, n_x, region, atol, rtol))
        for j, name in enumerate(state_names):
            a_s, n_s = analytic[len(named) + 1 + j], numeric[len(named) + 1 + j]
            for label, index in _state_labels(layer, a_s.shape):
                region = () if index is None else (index,)
                rows.append(_region_row(name, label, None, None, a_s, n_s, region, atol, rtol))

        steps = x_data.shape[axis] if axis is not None else 1
        step_rows, notes = [], []
        if per_step and axis is not None and steps > 1:
            step_rows, note = _per_step_rows(layer, x_data, state_leaves, named, gates,
                                             steps, eps, atol, rtol, seed, unroll)
            if note:
                notes.append(note)
    finally:
        for m, mode in modes:
            m.training = mode

    culprit, culprit_gates, culprit_step = _culprit(rows, step_rows, gates, steps)
    title = (f"gradcheck of {type(layer).__name__}: x {tuple(x_data.shape)}"
             + (f", {steps} time steps" if axis is not None else "")
             + "; autograd vs central differences of sum(v * outputs), v random")
    return LayerCheckReport(title, rows, step_rows, culprit, culprit_gates, culprit_step, notes)


def _per_step_rows(layer, x_data, state_leaves, named, gates, steps, eps, atol, rtol, seed,
                   unroll=None):
    """Rows per (weight, gate, step) from a run with untied per-step weight copies."""
    per_step = {n: [Tensor(p.data.copy(), requires_grad=True, name=f"{n}@t{t}")
                    for t in range(steps)] for n, p in named}
    x_const = Tensor(x_data)
    states_const = None if state_leaves is None else [Tensor(s.data) for s in state_leaves]
    with no_grad():
        tied = _flatten_outputs(_forward(layer, x_const, states_const, unroll))
        untied = _untied_forward(layer, x_const, states_const, per_step, unroll)
    if untied is None:
        return [], "per-step view skipped: only built-in layers and cells can be untied"
    untied = _flatten_outputs(untied)
    if len(untied) != len(tied) or not all(
            a.shape == b.shape and np.allclose(a.data, b.data, rtol=1e-10, atol=1e-12)
            for a, b in zip(tied, untied)):
        return [], ("per-step view skipped: the layer's forward does not match its "
                    "step-by-step unroll (does it use its weights outside _step?)")
    leaves = [t for n, _ in named for t in per_step[n]]
    analytic, numeric = _autograd_and_numeric(
        lambda: _untied_forward(layer, x_const, states_const, per_step, unroll), leaves, eps,
        seed)
    rows, k = [], 0
    for name, _ in named:
        for t in range(steps):
            rows += _param_rows(name, analytic[k], numeric[k], gates, atol, rtol, step=t)
            k += 1
    order = {n: i for i, (n, _) in enumerate(named)}
    rows.sort(key=lambda r: (order[r.tensor], (gates.index(r.gate) if r.gate in gates else 0),
                             r.step))
    return rows, None


def gradcheck_layer(layer, x, state=None, *, raise_exception: bool = True, **kwargs) -> bool:
    """True when a layer's gradients match central finite differences everywhere.

    Otherwise raises ``tr.GradcheckError`` whose message is the report (per
    parameter and gate, per time step, and the culprit), or returns False with
    ``raise_exception=False``. Arguments as ``layercheck_report``.
    """
    report = layercheck_report(layer, x, state, **kwargs)
    if not report.ok and raise_exception:
        raise GradcheckError("layer gradients disagree with finite differences:\n" + str(report))
    return report.ok
