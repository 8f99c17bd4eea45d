"""Look inside a recurrent layer while it runs: gate traces and gradient flow.

The step functions of ``nn.cells`` (``rnn_step``, ``lstm_step``, ``gru_step``)
report every step to a recorder while one is active, with the step's inputs
and the tensors it made: the activated gates (LSTM i, f, g, o; GRU r, z, n), the
new cell state c and the new hidden state h. Nothing is recomputed and nothing
in the layer changes: its outputs are the same tensors, recorded or not.

    with tr.trace.record_gates() as rec:
        out, (h, c) = lstm(x)
    rec.layers[0, 0]["f"]          # forget gate of layer 0, forward direction: (T, N, H)

``gate_trace(module, x)`` does the same in one call, and ``gradient_flow`` uses
the recorded hidden states to ask the graph for ||dL/dh_t|| at every step.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from . import functional as F
from .arguments import describe
from .nn import cells as _cells
from .nn.module import Module, Parameter
from .nn.recurrent import Recurrent, RecurrentCell, _check_shapes as check_step_shapes, run_step
from .nn.utils.rnn import PackedSequence
from .tensor import Tensor, concat, enable_grad, no_grad, stack

if TYPE_CHECKING:
    from typing import TypeAlias

    from .tensor import TensorLike

    # {(layer, direction): {name: array (T, N, H)}}, as Recorder.of gives them
    GateArrays: TypeAlias = "dict[tuple[int, int], dict[str, np.ndarray]]"

__all__ = ["record_gates", "Recorder", "Step", "gate_trace", "gradient_flow", "run_sequence",
           "step_grads", "StepGrads", "GateTrace"]


class GateTrace(dict):
    """{(layer, direction): {name: np.ndarray (T, N, H)}}: what ``gate_trace`` and
    ``Recorder.of`` give. A plain dict, with a rich display: ``html(lang)`` (and
    ``_repr_html_`` in Jupyter) is a table per layer and direction of each gate's and
    state's mean over batch and units at every step, labelled in English or Persian."""

    def html(self, lang: str | None = None) -> str:
        """One table per (layer, direction): a line per step t, a column per gate or state
        (its mean, 3 decimals); ``lang`` None: ``tr.display.set_language``'s."""
        from .display import Num, block, language, paragraph, table, words

        lang = language(lang, "GateTrace.html")
        parts = []
        for (layer, direction), arrays in self.items():
            names = list(arrays)
            T, N, H = next(iter(arrays.values())).shape
            title = words("gates_title", lang, layer=layer, direction=direction, T=T, N=N, H=H)
            rows = [[Num(t), *(Num(f"{arrays[n][t].mean():.3f}") for n in names)]
                    for t in range(T)]
            parts.append(table([words("col_step", lang), *(_gate_label(n, lang) for n in names)],
                               rows, caption=title))
        parts.append(paragraph(words("gates_means", lang)))
        return block(parts, lang)

    def _repr_html_(self) -> str:
        return self.html()


def _gate_label(name: str, lang: str) -> str:
    """"forget gate (f)" (or its Persian) for the built-in gates' and states' names; a
    custom cell's own names as they are."""
    from .tour_text import TEXT, text

    return text(f"gate_{name}", lang) if f"gate_{name}" in TEXT else name


class Step:
    """One call of a step function.

    Attributes:
        module: the cell or sequence layer that ran it (None for a direct call).
        layer, direction: where in a sequence layer ((0, 0) for a cell).
        kind: "RNN", "LSTM" or "GRU".
        tensors: {name: Tensor} the step made: gates, "c" (LSTM), "h" (the step's output).
        previous: {"h": Tensor, "c": Tensor (LSTM)}, the state the step started from.
        inputs: the tensors where this step's part of the graph begins: the step
            function's inputs (xp, h, [c], W_hh^T, b_hh, ...; GRU: x_rz, x_n, h,
            and W_hh's two parts, transposed, and b_hn) in a layer, or the
            cell's own inputs (x, h, [c]) for a cell.
    """

    __slots__ = ("module", "layer", "direction", "kind", "tensors", "previous", "inputs")

    def __init__(self, module: Module | None, layer: int, direction: int, kind: str,
                 tensors: dict[str, Tensor], previous: dict[str, Tensor],
                 inputs: tuple[Tensor, ...]) -> None:
        self.module, self.layer, self.direction = module, layer, direction
        self.kind, self.tensors, self.previous, self.inputs = kind, tensors, previous, inputs

    def __repr__(self) -> str:
        owner = type(self.module).__name__ if self.module is not None else "step function"
        return (f"Step({owner}, layer {self.layer}, direction {self.direction}, "
                f"{list(self.tensors)})")


class _Run:
    """The steps of one layer and direction in one forward call, in execution order."""

    def __init__(self, module: Module | None, layer: int, direction: int, reverse: bool,
                 single: bool, inputs: tuple[Tensor, ...]) -> None:
        self.module, self.layer, self.direction = module, layer, direction
        self.reverse, self.single, self.inputs = reverse, single, inputs
        self.steps: list[Step] = []

    def in_time_order(self) -> list[Step]:
        return self.steps[::-1] if self.reverse else self.steps


def _flat_tensors(items: Iterable[Any]) -> tuple[Tensor, ...]:
    out = []
    for item in items:
        if isinstance(item, Tensor):
            out.append(item)
        elif isinstance(item, (tuple, list)):
            out.extend(_flat_tensors(item))
    return tuple(out)


_WEIGHT_NAME = re.compile(r"weight_ih_l(\d+)(_reverse)?$")


class Recorder:
    """What ``record_gates()`` yields: every step that ran while it was active.

    ``steps`` lists them in the order they ran. ``of(module)`` assembles one
    module's steps as {(layer, direction): {name: array (T, N, H)}}, time-major
    and in time order (the reverse direction too). A module run several times
    while recording (chunks of a long sequence, or a cell called step by step)
    has its runs joined along time, in the order they ran.
    """

    def __init__(self) -> None:
        self.runs: list[_Run] = []
        self._current: _Run | None = None

    # ----------------------------------------------------------------- hooks (nn.cells, nn.builtin)
    def enter(self, module: Module, weights: dict[str, Any] | None = None, reverse: bool = False,
              inputs: Iterable[Any] = ()) -> None:
        """A cell (one step follows) or one layer and direction of a sequence layer."""
        layer = direction = 0
        if weights is not None:  # which layer and direction: find the weight by identity
            for name, value in vars(module).items():
                if value is weights["weight_ih"]:
                    m = _WEIGHT_NAME.match(name)
                    # (m is not None: the attribute holding weight_ih is weight_ih_l{k}...)
                    layer, direction = int(m.group(1)), int(bool(m.group(2)))  # type: ignore[union-attr]
                    break
        self._current = _Run(module, layer, direction, reverse, single=weights is None,
                             inputs=_flat_tensors(inputs))
        self.runs.append(self._current)

    def exit(self) -> None:
        self._current = None

    def step(self, kind: str, inputs: tuple, previous: dict[str, Tensor],
             **tensors: Tensor) -> None:
        """``inputs``: the step function's tensor arguments, (xp, h, [c,] w_hh_t, b_hh, ...)
        (GRU: x_rz, x_n, h, w_rz_t, w_n_t, b_hn);
        ``previous``: the states it started from, {"h": h} or {"h": h, "c": c}."""
        run = self._current
        if run is None:  # a step function called directly, not by a cell or layer
            run = _Run(None, 0, 0, False, single=True, inputs=())
            self.runs.append(run)
        boundary = run.inputs if run.single and run.module is not None else inputs
        run.steps.append(Step(run.module, run.layer, run.direction, kind, tensors, previous,
                              _flat_tensors(boundary)))
        if run.single:  # a cell runs exactly one step
            self._current = None

    # ----------------------------------------------------------------- results
    @property
    def steps(self) -> list[Step]:
        return [s for run in self.runs for s in run.steps]

    def modules(self) -> list[Module | None]:
        """The modules that ran, in first-run order (None for direct step-function calls)."""
        seen: list[Module | None] = []
        for run in self.runs:
            if run.steps and not any(run.module is m for m in seen):
                seen.append(run.module)
        return seen

    def steps_of(self, module: Module | None) -> dict[tuple[int, int], list[Step]]:
        """{(layer, direction): [Step, ...] in time order} for one module."""
        out: dict[tuple[int, int], list[Step]] = {}
        for run in self.runs:
            if run.module is module and run.steps:
                out.setdefault((run.layer, run.direction), []).extend(run.in_time_order())
        if not out:
            raise KeyError(f"no step of {type(module).__name__} was recorded")
        return dict(sorted(out.items()))

    def of(self, module: Module | None) -> GateTrace:
        """{(layer, direction): {name: np.ndarray (T, N, H)}} for one module.

        Names: LSTM "i", "f", "g", "o" (after their nonlinearities), "c", "h";
        GRU "r", "z", "n", "h"; RNN "h". N is 1 for an unbatched input; with
        ``batch_first`` the arrays are time-major all the same.
        """
        return GateTrace({key: {name: np.stack([s.tensors[name].data.reshape(
                                                    -1, s.tensors[name].shape[-1]) for s in steps])
                                for name in steps[0].tensors}
                          for key, steps in self.steps_of(module).items()})

    @property
    def layers(self) -> GateTrace:
        """``of(module)`` for the one module that ran (an error if several did)."""
        modules = self.modules()
        if len(modules) != 1:
            names = ", ".join(type(m).__name__ for m in modules) or "none"
            raise ValueError(f"layers: {len(modules)} modules ran while recording ({names}); "
                             f"pick one with rec.of(module)")
        return self.of(modules[0])


@contextmanager
def record_gates() -> Iterator[Recorder]:
    """Record every recurrent step that runs inside the ``with`` block.

    >>> with record_gates() as rec:
    ...     out, (h, c) = lstm(x)
    >>> rec.layers[0, 0]["f"].shape       # (T, N, H)

    Recording only keeps references to tensors the layer makes anyway; the
    layer's results are the same tensors with or without it.
    """
    recorder, previous = Recorder(), _cells.tracing.recorder
    _cells.tracing.recorder = recorder  # (this thread's: other threads' steps are not seen)
    try:
        yield recorder
    finally:
        _cells.tracing.recorder = previous


# --------------------------------------------------------------------------- one call


# the sequence layers and the cells trace runs: the built-in ones and the cell protocol's
_LAYERS = (Recurrent,)
_CELLS = (RecurrentCell,)


def _batch_first(module: Module) -> bool:
    return isinstance(module, _LAYERS) and module.batch_first


def _output_name(module: Module) -> str:
    """The state a step outputs: "h" for the built-in cells, ``state_names[0]`` for a
    cell of the protocol (or a layer of one)."""
    cell = module.cell() if isinstance(module, Recurrent) else module
    return cell.state_names[0] if isinstance(cell, RecurrentCell) else "h"


def run_sequence(module: Module, x: TensorLike, state: Any = None) -> tuple[Tensor, Any]:
    """Run a sequence layer, or a cell step by step over the sequence ``x``.

    A cell takes x of shape (T, N, I) or (T, I) and returns what a layer does:
    (outputs (T, N, H) or (T, H), final state: h, or (h, c) for an LSTMCell).
    A sequence layer is simply called: ``module(x, state)``.
    """
    if isinstance(module, _LAYERS):
        return module(x, state)
    if not isinstance(module, _CELLS):
        raise TypeError(f"expected a recurrent layer or cell (RNN, LSTM, GRU, their cells, "
                        f"nn.Recurrent or an nn.RecurrentCell), got {type(module).__name__}")
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim not in (2, 3):
        raise ValueError(f"{type(module).__name__}: a sequence of shape (T, N, I) or (T, I) "
                         f"is needed to run a cell over time, got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{type(module).__name__}: the input sequence is empty (input shape "
                         f"{x.shape})")
    outputs = []
    for x_t in x.unbind(0):
        state = module(x_t, state)
        outputs.append(state[0] if isinstance(state, tuple) else state)
    return stack(outputs, dim=0), state


def gate_trace(module: Module, x: TensorLike,
               state: Any = None) -> tuple[GateTrace, tuple[Tensor, Any]]:
    """Run ``module`` over ``x`` and return (gates, outputs).

    gates: {(layer, direction): {name: np.ndarray (T, N, H)}} as ``Recorder.of``
    (a cell is (0, 0)), a ``GateTrace``: a dict, shown in Jupyter as a table of each
    gate's mean at each step; outputs: what ``run_sequence(module, x, state)`` returns,
    i.e. the layer's own (output, h_n) or (output, (h_n, c_n)).
    """
    with record_gates() as rec:
        outputs = run_sequence(module, x, state)
    return rec.of(module), outputs


# --------------------------------------------------------------------------- gradient flow


def last_step_loss(module: Module) -> Callable[[Tensor], Tensor]:
    """The default loss of ``gradient_flow``: the sum of the last time step's output.

    The loss reads h_T only, so dL/dh_t for t < T is purely what travels back
    through the recurrence: how fast it shrinks towards t = 0 is how fast the
    gradient vanishes (or, growing, explodes).
    """
    batch_first = _batch_first(module)

    def loss(output: Tensor) -> Tensor:
        last = output[:, -1] if batch_first and output.ndim == 3 else output[-1]
        return last.sum()

    return loss


def gradient_flow(module: Module, x: TensorLike, loss_fn: Callable[[Any], Tensor] | None = None,
                  state: Any = None, layer: int = -1, direction: int = 0) -> np.ndarray:
    """||dL/dh_t|| for t = 0 .. T-1, computed by the graph's own backward pass.

    Arguments:
        module: a recurrent layer (RNN, LSTM, GRU, ``nn.Recurrent``) or a cell (the
            built-in ones or an ``nn.RecurrentCell``, run step by step over x).
        x: the input sequence, as the module takes it (cells: (T, N, I) or (T, I)).
        loss_fn: output -> scalar Tensor, given the module's output as it returns
            it (batch_first respected). Default ``last_step_loss``: the sum of
            the output at the last time step.
        state: initial state, as the module takes it.
        layer, direction: whose hidden states (default: the last layer, forward).

    Returns:
        np.ndarray (T,): the norm over batch and units of dL/dh_t, where h_t is
        the step's output hidden state (the total derivative: through the output
        at t and through every later step). 0 where no gradient reaches h_t.

    The parameters' ``.grad`` are left as they were; x and state are used as
    values (their ``.grad`` is not touched either).
    """
    x = Tensor(x.data if isinstance(x, Tensor) else x)
    if state is not None:
        state = tuple(Tensor(s.data if isinstance(s, Tensor) else s) for s in state) \
            if isinstance(state, (tuple, list)) else Tensor(getattr(state, "data", state))
    params = list(module.parameters())
    saved = [p.grad for p in params]
    try:
        with record_gates() as rec, enable_grad():  # a graph is needed, even inside no_grad
            output, _ = run_sequence(module, x, state)
            loss = (loss_fn or last_step_loss(module))(output)
        steps = rec.steps_of(module)
        layers = sorted({k[0] for k in steps})
        key = (layers[layer], direction)
        if key not in steps:
            raise ValueError(f"gradient_flow: no layer {layer}, direction {direction} "
                             f"(recorded: {sorted(steps)})")
        hs = [s.tensors[_output_name(module)] for s in steps[key]]
        for h in hs:
            h.retain_grad()
        if not isinstance(loss, Tensor) or loss.size != 1:
            raise ValueError("gradient_flow: loss_fn must return a one-element Tensor")
        for p in params:
            p.grad = None
        loss.backward()
        return np.array([0.0 if h.grad is None else float(np.linalg.norm(h.grad)) for h in hs])
    finally:
        for p, g in zip(params, saved):
            p.grad = g


# --------------------------------------------------------------------------- per-step gradients


class StepGrads:
    """Per-step gradients of one layer and direction, in the layout of a hand BPTT.

    What ``step_grads`` returns (and ``reference.rnn_step_grads`` and friends). For a
    layer of one layer and one direction, and for a cell, the arrays are attributes:

    Attributes:
        dh: (T, N, H), the total dL/dh_t of the step's output state (``state_names[0]``):
            through the output at t and through every later step.
        dstates: {state name: (T, N, width)}, the total gradient of every new state;
            each is also an attribute named ``d<state name>`` (``dc`` for an LSTM).
        dpre: {gate name: (T, N, H)}, the gradient of each gate's pre-activation (the
            notebook's ``dh_raw``): the gradient of the step's projected input ``xp``
            (``x_t W_ih^T + b_ih``) cut into the cell's row blocks, named by ``gates``
            (the output state's name for a cell without gates: ``dpre["h"]`` for RNN).
        dparams: {parameter name: (T, *shape)}, each step's share of each parameter's
            gradient, under the cell's own names (``weight_hh``, not ``weight_hh_l0``);
            their sum over t is the parameter's ``.grad``.
        layer, direction: whose steps these are ((0, 0) for a cell).

    Arrays are time-major and in time order whatever the input's layout: t indexes the
    time step (a reverse direction's first step is t = T - 1), N is 1 for an unbatched
    input. A layer of several layers or directions holds one ``StepGrads`` per
    (layer, direction): pick one with ``result[layer, direction]`` (``result.parts``
    lists them); ``result[0, 0]`` of a single one is itself.
    """

    def __init__(self, dstates: dict[str, np.ndarray], dpre: dict[str, np.ndarray],
                 dparams: dict[str, np.ndarray], layer: int = 0, direction: int = 0) -> None:
        self._dstates, self._dpre, self._dparams = dstates, dpre, dparams
        self.layer, self.direction = layer, direction
        self.parts: dict[tuple[int, int], StepGrads] = {(layer, direction): self}
        self._owner = ""

    @classmethod
    def of_layers(cls, owner: str, parts: dict[tuple[int, int], StepGrads]) -> StepGrads:
        """One result for several (layer, direction) parts, which it is indexed by."""
        if len(parts) == 1:
            return next(iter(parts.values()))
        several = cls({}, {}, {})
        several.parts, several._owner = dict(parts), owner
        return several

    def _one(self) -> StepGrads:
        if len(self.parts) == 1:
            return self
        raise ValueError(f"step_grads: the result holds one StepGrads per layer and direction "
                         f"of the {self._owner} ({', '.join(map(str, self.parts))}); pick one "
                         f"with result[layer, direction]")

    @property
    def dstates(self) -> dict[str, np.ndarray]:
        return self._one()._dstates

    @property
    def dpre(self) -> dict[str, np.ndarray]:
        return self._one()._dpre

    @property
    def dparams(self) -> dict[str, np.ndarray]:
        return self._one()._dparams

    @property
    def dh(self) -> np.ndarray:
        """The output state's gradient (``state_names[0]``, h for the built-in cells)."""
        return next(iter(self.dstates.values()))

    def __getattr__(self, name: str) -> np.ndarray:
        # d<state name>: dc for an LSTM (only looked up when no attribute has the name)
        parts = self.__dict__.get("parts")
        states = next(iter(parts.values())).__dict__["_dstates"] if parts else {}
        if name.startswith("d") and name[1:] in states:
            return self.dstates[name[1:]]  # (several parts: the error that says pick one)
        raise AttributeError(f"StepGrads has no attribute {name!r} (states: "
                             f"{', '.join('d' + s for s in (states or {}))})")

    def __getitem__(self, key: tuple[int, int]) -> StepGrads:
        if key not in self.parts:
            raise KeyError(f"step_grads: no layer and direction {key!r}; the parts are "
                           f"{', '.join(map(str, self.parts))}")
        return self.parts[key]

    @property
    def T(self) -> int:
        return len(self.dh)

    def html(self, lang: str | None = None) -> str:
        """A table per (layer, direction): a line per step t, the norm of each state's
        gradient (dh, dc), of each gate's pre-activation gradient (dpre) and of each
        step's share of each parameter gradient; ``lang`` None: ``tr.display``'s."""
        from .display import Num, block, language, paragraph, table, words

        lang = language(lang, "StepGrads.html")
        parts = []
        for (layer, direction), part in self.parts.items():
            columns = {**{f"d{n}": a for n, a in part._dstates.items()},
                       **{f"dpre[{g}]": a for g, a in part._dpre.items()},
                       **part._dparams}
            T = part.T
            rows = [[Num(t), *(Num(f"{np.linalg.norm(a[t]):.3e}") for a in columns.values())]
                    for t in range(T)]
            title = words("step_grads_title", lang, layer=layer, direction=direction, T=T)
            parts.append(table([words("col_step", lang), *columns], rows, caption=title))
        parts.append(paragraph(words("step_grads_norms", lang)))
        return block(parts, lang)

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        if len(self.parts) > 1:
            return f"StepGrads({self._owner}: parts {list(self.parts)})"
        return (f"StepGrads(layer {self.layer}, direction {self.direction}, T={self.T}: "
                f"{', '.join('d' + s for s in self.dstates)}, dpre {list(self.dpre)}, "
                f"dparams {list(self.dparams)})")


class _Steps:
    """What one layer and direction ran, op by op, for step_grads to read after backward:
    per time step, its projected input (one tensor or a tuple), its new states and its
    own leaf copy of every parameter; the output (T, N, .) in time order."""

    output: Tensor

    def __init__(self, cell: RecurrentCell, length: int) -> None:
        self.cell = cell
        self.xps: list[tuple[Tensor, ...]] = [()] * length
        self.states: list[tuple[Tensor, ...]] = [()] * length
        self.params: list[dict[str, Tensor]] = [{}] * length


def _aliased(cell: RecurrentCell, where: str) -> tuple[RecurrentCell, dict[str, Tensor]]:
    """(a copy of ``cell`` that reads every parameter through a leaf of its own, those
    leaves by the cell's parameter names). A step run on such a copy sends its share of
    each parameter's gradient into that leaf, and nowhere else: the parameters' own
    ``.grad`` are not touched."""
    seen: dict[int, Tensor] = {}

    def copied(module: Module) -> Any:
        twin = copy.copy(module)
        for name, value in vars(module).items():
            if isinstance(value, Parameter):
                alias = seen.get(id(value))
                if alias is None:
                    alias = seen[id(value)] = Tensor(value.data, requires_grad=True)
                setattr(twin, name, alias)
            elif isinstance(value, Module) and any(True for _ in value.parameters()):
                setattr(twin, name, copied(value))
        return twin

    twin = copied(cell)
    leaves: dict[str, Tensor] = {}
    for name, p in cell.named_parameters():
        if id(p) not in seen:
            raise TypeError(f"{where}: {type(cell).__name__}'s parameter {name!r} is not an "
                            f"attribute of the cell or of one of its submodules, so its "
                            f"gradient cannot be split per step")
        leaves[name] = seen[id(p)]
    for name, t in twin.prepare().items():  # what prepare makes, from the step's own leaves
        setattr(twin, name, t)
    return twin, leaves


def _run_steps(where: str, cell: RecurrentCell, x: Tensor, state: tuple[Tensor, ...],
               reverse: bool = False) -> _Steps:
    """``cell`` over x (T, N, I) one step at a time, each step with its own parameter
    leaves and its own input projection; the output (T, N, .) in time order."""
    length = x.shape[0]
    run, inputs = _Steps(cell, length), x.unbind(0)
    for t in (reversed(range(length)) if reverse else range(length)):
        stepped, run.params[t] = _aliased(cell, where)
        xp = stepped.project_inputs(inputs[t])
        parts = tuple(xp) if isinstance(xp, (tuple, list)) else (xp,)
        if not all(isinstance(p, Tensor) for p in parts):
            raise TypeError(f"{where}: {type(cell).__name__}.project_inputs must return a "
                            f"Tensor or a tuple of Tensors, got {describe(xp)}")
        new = run_step(stepped, xp, state)
        check_step_shapes(cell, new, state)
        for tensor in (*parts, *new):
            tensor.retain_grad()
        run.xps[t], run.states[t], state = parts, new, new
    run.output = stack([s[0] for s in run.states], dim=0)
    return run


def _run_layer(where: str, layer: Recurrent, x: Tensor,
               state: Any) -> tuple[Tensor, dict[tuple[int, int], _Steps]]:
    """What ``Recurrent.forward`` does for a padded or unbatched input, with every step
    run by ``_run_steps``: (the output as the layer returns it, the runs)."""
    unbatched = x.ndim == 2
    if unbatched:
        x = x.reshape(x.shape[0], 1, x.shape[1])
    elif layer.batch_first:
        x = x.transpose(0, 1)
    initial = layer._initial_states(state, x.shape[1], unbatched)
    runs: dict[tuple[int, int], _Steps] = {}
    d = layer.num_directions
    for k in range(layer.num_layers):
        outputs = []
        for direction in range(d):
            run = _run_steps(where, layer.cell(k, direction), x, initial[k * d + direction],
                             reverse=direction == 1)
            runs[k, direction] = run
            outputs.append(run.output)
        x = outputs[0] if d == 1 else concat(outputs, dim=-1)
        if k < layer.num_layers - 1:
            x = F.dropout(x, layer.dropout, layer.training)
    if unbatched:
        return x.reshape(x.shape[0], x.shape[2]), runs
    return (x.transpose(0, 1) if layer.batch_first else x), runs


def _run_cell(where: str, cell: RecurrentCell, x: Tensor,
              state: Any) -> tuple[Tensor, dict[tuple[int, int], _Steps]]:
    """A lone cell over x (T, N, I) or (T, I), as ``run_sequence`` runs it."""
    unbatched = x.ndim == 2
    _, states, _ = cell._prepared(x[0], state)  # (the cell's own checks and initial state)
    run = _run_steps(where, cell, x.reshape(x.shape[0], 1, x.shape[1]) if unbatched else x,
                     states)
    output = run.output
    return (output.reshape(output.shape[0], output.shape[2]) if unbatched else output), \
        {(0, 0): run}


def _grad(t: Tensor) -> np.ndarray:
    return np.zeros_like(t.data) if t.grad is None else np.asarray(t.grad)


def _collected(run: _Steps, layer: int, direction: int) -> StepGrads:
    """The gradients the run's retained tensors and leaves hold, stacked over time."""
    cell = run.cell
    dstates = {name: np.stack([_grad(s[k]) for s in run.states])
               for k, name in enumerate(cell.state_names)}
    dxp = np.stack([np.concatenate([_grad(p) for p in parts], axis=-1) for parts in run.xps])
    names = cell.gates or cell.state_names[:1]
    dpre = dict(zip(names, np.split(dxp, len(names), axis=-1)))
    dparams = {name: np.stack([_grad(leaves[name]) for leaves in run.params])
               for name in run.params[0]}
    return StepGrads(dstates, dpre, dparams, layer, direction)


def _detached(value: Any) -> Any:
    """A tensor (or a tuple or list of them) as a new leaf of the same values: step_grads
    reads the input and state as values and leaves their ``.grad`` alone."""
    if isinstance(value, Tensor):
        return Tensor(value.data)
    if isinstance(value, (tuple, list)):
        return type(value)(_detached(v) for v in value)
    return value


def step_grads(module: Module, x: TensorLike, loss_fn: Callable[[Any], Tensor],
               state: Any = None) -> StepGrads:
    """Autograd's gradients at every time step, in the layout of a hand BPTT.

    Arguments:
        module: a sequence layer (``nn.RNN``, ``nn.LSTM``, ``nn.GRU``, any
            ``nn.Recurrent``) or a cell (the built-in ones or any ``nn.RecurrentCell``,
            run step by step over x, as ``run_sequence`` does).
        x: the input, as the module takes it (padded: (T, N, I), (N, T, I) with
            batch_first, or unbatched (T, I); a cell: (T, N, I) or (T, I)). A
            ``PackedSequence`` is refused: pad it, and mask in ``loss_fn``.
        loss_fn: output -> scalar Tensor, given the module's output sequence as the
            module returns it (batch_first respected).
        state: the initial state, as the module takes it (zeros when None).

    Returns:
        ``StepGrads``: ``dh`` (T, N, H), ``d<state>`` for every state name (``dc``),
        ``dpre`` {gate: (T, N, H)} and ``dparams`` {name: (T, *shape)}; for several
        layers or directions, one per ``result[layer, direction]``.

    How: every cell of the module runs one step at a time, each step reading its own
    leaf copy of every parameter and projecting its own input, so each leaf's gradient
    is exactly that step's share; the new states and each step's ``xp`` keep their
    gradients. ``xp`` is what ``project_inputs`` gives for the step (a tuple is joined
    along its last axis, as GRU's layer cell's (x_rz, x_n)); cut into ``len(gates)``
    equal blocks it is the gradient of each gate's pre-activation for RNN, LSTM and
    GRU (GRU's n: of x_n + r * (W_hn h + b_hn), the argument of its tanh), and for a
    cell of yours, the gradient of whatever each block of ``xp`` enters. The module's
    parameters, x and state are read as values: nobody's ``.grad`` changes.
    """
    where = "tr.trace.step_grads"
    if isinstance(x, PackedSequence):
        raise TypeError(f"{where}: x must be a padded (or unbatched) input, got a "
                        f"PackedSequence; pad_packed_sequence it and mask in loss_fn")
    if not isinstance(module, (*_LAYERS, *_CELLS)):
        raise TypeError(f"{where}: module must be a recurrent layer or cell (nn.RNN, nn.LSTM, "
                        f"nn.GRU, their cells, an nn.Recurrent or an nn.RecurrentCell), got "
                        f"{describe(module)}")
    if not callable(loss_fn):
        raise TypeError(f"{where}: loss_fn must be a function of the output that returns a "
                        f"scalar Tensor, got {describe(loss_fn)}")
    x, state = _detached(x), _detached(state)
    with no_grad():  # the module's own run: its checks of x and state, and what to match
        expected, _ = run_sequence(module, x, state)
    x = x if isinstance(x, Tensor) else Tensor(x, dtype=expected.dtype)
    runner = _run_layer if isinstance(module, Recurrent) else _run_cell
    with enable_grad():
        output, runs = runner(where, module, x, state)  # type: ignore[arg-type]
        loss = loss_fn(output)
    _check_loss(where, loss)
    _check_same_output(where, module, output, expected)
    loss.backward()
    parts = {key: _collected(run, *key) for key, run in runs.items()}
    return StepGrads.of_layers(type(module).__name__, parts)


def _check_loss(where: str, loss: Any) -> None:
    if not isinstance(loss, Tensor):
        raise TypeError(f"{where}: loss_fn must return a scalar Tensor, got {describe(loss)}")
    if loss.size != 1:
        raise ValueError(f"{where}: loss_fn must return a scalar Tensor (one element), got a "
                         f"Tensor of shape {loss.shape}")
    if not loss.requires_grad:
        raise ValueError(f"{where}: loss_fn's result does not depend on the output (it does "
                         f"not require grad), so it has no gradient to give")


def _check_same_output(where: str, module: Module, output: Tensor, expected: Tensor) -> None:
    """step_grads steps the cells itself: its output must be the module's own."""
    tolerance = 1e-10 if output.dtype == np.float64 else 1e-4
    if output.shape != expected.shape or not np.allclose(output.data, expected.data,
                                                          rtol=tolerance, atol=tolerance):
        raise ValueError(f"{where}: running the cells of {type(module).__name__} step by step "
                         f"does not give its output (does its class change forward, or draw "
                         f"random numbers, such as dropout while training? then call "
                         f"module.eval())")
