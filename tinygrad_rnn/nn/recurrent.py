"""The cell protocol: write one time step, get a cell and a multi-layer sequence layer.

``RecurrentCell`` is a cell written as its step alone::

    class CIFGCell(nn.RecurrentCell):
        gates = ("f", "g", "o")        # row blocks of weight_ih, weight_hh, bias_ih, bias_hh
        state_names = ("h", "c")       # state[0] is the output
        def step(self, xp, state):     # xp = x_t W_ih^T + b_ih, (N, 3H)
            h, c = state
            f, g, o = (xp + self.recurrent(h)).chunk(3, dim=-1)
            f = f.sigmoid()
            c = f * c + (1 - f) * g.tanh()
            return o.sigmoid() * c.tanh(), c

The base class makes torch's cell parameters (``weight_ih`` (G*H, I), ``weight_hh``
(G*H, H), ``bias_ih``, ``bias_hh`` (G*H,), G = len(gates) or 1), checks the
arguments, and runs one step as torch's cells do: ``cell(x_t, state=None)``.
``Recurrent(CIFGCell, input_size, hidden_size, num_layers, ...)`` runs it as a
sequence layer with torch's shapes, stacked, bidirectional, batch-first, unbatched
or packed. For every layer and direction the input's share, ``project_inputs``, is
one matmul over all time steps, and the steps are one ``Scan`` node (``replay.py``)
when the step can be recorded, op by op otherwise, to the same bits.
"""

from __future__ import annotations

import copy
import math
import warnings
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from .. import autograd, functional as F, replay
from ..arguments import describe, flag, is_int, probability, size
from ..autograd import ShapeError
from ..scan import Batches, run_scan
from ..tensor import Tensor, concat, stack
from . import init
from .cells import (
    GateGrad,
    GateView,
    checked_input,
    checked_states,
    gate_view,
    reports as _reports,
    tracing,
)
from .module import Module, ModuleList, Parameter
from .utils.rnn import PackedSequence, checked_packed

if TYPE_CHECKING:
    from ..tensor import TensorLike

__all__ = ["RecurrentCell", "Recurrent"]




# --------------------------------------------------------------------------- the cell


class RecurrentCell(Module):
    """The base of a recurrent cell written as one time step (see the module's docstring).

    Class attributes:
        gates: the names of the row blocks of ``weight_ih``, ``weight_hh``,
            ``bias_ih`` and ``bias_hh``, in order (``("f", "g", "o")``); G, the
            number of blocks, is ``len(gates)``, or 1 when there are none.
        state_names: the names of the state tensors, ``("h",)`` by default;
            ``state[0]`` is the output (a layer's ``out``).

    A subclass defines ``step(xp, state)``; it may add parameters of its own after
    ``super().__init__(input_size, hidden_size, bias)`` (and keyword arguments,
    which ``Recurrent`` passes on), and override ``project_inputs``, ``recurrent``,
    ``initial_state`` and ``reset_parameters``.

    ``cell(x, state=None) -> new state``: x (N, I) or unbatched (I,); state as
    ``step`` returns it (a lone tensor for one state, else a tuple in
    ``state_names`` order), each (N, H) or (H,), ``initial_state`` (zeros) when
    missing.
    """

    gates: tuple[str, ...] = ()
    state_names: tuple[str, ...] = ("h",)
    # (the built-in cells' step functions report their steps to trace themselves)
    _reports_its_steps = False
    # (a step that depends on nothing but the plain settings and what it is given: every
    # cell of the class shares one recording per shapes and settings)
    _shares_recordings = False
    # (the names of the plain settings its recordings bake in; None: every plain attribute)
    _recording_settings: tuple[str, ...] | None = None
    # (where such a class keeps them: set on each class itself, read with vars())
    _class_recordings: ClassVar[dict[tuple, Any]]
    # (a step that reads no parameter, only what prepare makes of them)
    _steps_on_prepared = False
    # (the name of its recorded step, the Scan node's: its class's name when None)
    _step_name: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.gates = _names(cls, "gates", cls.gates, empty=True)
        cls.state_names = _names(cls, "state_names", cls.state_names, empty=False)

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        where = f"nn.{type(self).__name__}"
        self.input_size = size(where, "input_size", input_size)
        self.hidden_size = size(where, "hidden_size", hidden_size)  # 0 as torch's cells
        bias = flag(where, "bias", bias)
        rows = (len(self.gates) or 1) * self.hidden_size
        self.weight_ih = Parameter(np.empty((rows, self.input_size)))
        self.weight_hh = Parameter(np.empty((rows, self.hidden_size)))
        self.bias_ih = Parameter(np.empty(rows)) if bias else None
        self.bias_hh = Parameter(np.empty(rows)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` from U(-k, k),
        k = 1/sqrt(hidden_size), as torch's cells. (A subclass initialises its own
        parameters itself: they do not exist yet when the base calls this.)"""
        k = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size else 0.0
        for p in (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh):
            if p is not None:
                init.uniform_(p, -k, k)

    # ----------------------------------------------------------------- the protocol
    def project_inputs(self, x: Tensor) -> Tensor:
        """x W_ih^T + b_ih for x of shape (..., I): every time step of a sequence in one
        node. What ``step`` gets as ``xp``, one time step at a time."""
        return F.linear(x, self.weight_ih, self.bias_ih)

    def recurrent(self, h: Tensor) -> Tensor:
        """h W_hh^T + b_hh, in one node."""
        return F.linear(h, self.weight_hh, self.bias_hh)

    def prepare(self) -> dict[str, Tensor | None]:
        """Tensors the step reads that are made from the parameters once per call rather
        than at every step ({attribute name: tensor}, such as W_hh^T): a layer makes them
        once per layer and direction, sets them as attributes of the cell it steps (the
        step reads ``self.hh_t``) and scans them with the parameters; a lone call of the
        cell makes them for its one step. None by default."""
        return {}

    def initial_state(self, batch: int) -> tuple[Tensor, ...]:
        """The state when none is given: zeros of shape (batch, H), one per state name,
        in the parameters' dtype."""
        dtype = self.weight_ih.dtype
        return tuple(Tensor(np.zeros((batch, self.hidden_size), dtype=dtype))
                     for _ in self.state_names)

    def step(self, xp: Any, state: tuple[Tensor, ...]) -> Tensor | tuple[Tensor, ...]:
        """One time step: ``xp`` is x_t W_ih^T + b_ih (what ``project_inputs`` gave,
        this step's rows), ``state`` the tuple of state tensors in ``state_names``
        order (a tuple also for one state: ``(h,) = state``). Returns the new state:
        a tuple in the same order, or a lone Tensor when there is one state."""
        raise NotImplementedError(f"{type(self).__name__} must define step(xp, state)")

    def gate(self, name: str) -> GateView:
        """Writable views of one gate's rows of ``weight_ih``, ``weight_hh``, ``bias_ih``
        and ``bias_hh`` (see ``GateView``): ``cell.gate("f").bias_ih[:] = 1.0``."""
        params = {f: getattr(self, f) for f in GateGrad._fields}
        return gate_view(self.gates, type(self).__name__, name, self.hidden_size, params)

    def record(self, **values: Tensor) -> None:
        """Report values of this step (``self.record(f=f, g=g)``) to whoever looks:
        ``tinygrad_rnn.trace`` (``record_gates``, ``gate_trace``), which keeps them with
        the step's new state; the code ``replay`` generates for a scanned layer, which
        names them (``f_gate``). A no-op otherwise."""
        reports = _reports
        if reports.values is not None:
            reports.values.update(values)
        elif reports.naming:
            for name, value in values.items():
                if isinstance(value, Tensor) and value.name is None:
                    value.name = f"{name}_gate" if name in self.gates else name

    # ----------------------------------------------------------------- one step
    def forward(self, x: TensorLike, state: Any = None) -> Tensor | tuple[Tensor, ...]:
        x, states, unbatched = self._prepared(x, state)
        if (recorder := tracing.recorder) is not None:  # the next step: this cell's, on x
            recorder.enter(self, inputs=(x, states))
        cell = prepared(self, self.prepare())
        new = run_step(cell, cell.project_inputs(x), states)
        _check_shapes(self, new, states)
        if unbatched:
            new = tuple(s.reshape(s.shape[1:]) for s in new)
        return new[0] if len(new) == 1 else new

    def _prepared(self, x: TensorLike, state: Any) -> tuple[Tensor, tuple[Tensor, ...], bool]:
        """(x as (N, I), the states as (N, .) each, was x unbatched?), after the checks."""
        name, features = type(self).__name__, self.input_size
        x = checked_input(name, x, features, (1, 2),
                          f"input of shape (batch, {features}) or ({features},)",
                          self.weight_ih.dtype)
        unbatched = x.ndim == 1
        if unbatched:
            x = x.reshape(1, features)
        initial = state_tuple(self, self.initial_state(x.shape[0]), "initial_state")
        if state is None:
            return x, initial, unbatched
        expected = {label: s.shape[1:] if unbatched else s.shape
                    for label, s in zip(self.state_names, initial)}
        states = checked_states(name, "state", state, expected, self.weight_ih.dtype)
        if unbatched:
            states = [s.reshape(1, *s.shape) for s in states]
        return x, tuple(states), unbatched

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        return s if self.bias_ih is not None else s + ", bias=False"


def _names(cls: type, what: str, value: Any, empty: bool) -> tuple[str, ...]:
    """A cell class's ``gates`` or ``state_names`` as a tuple of distinct identifiers."""
    if isinstance(value, str) or not isinstance(value, (tuple, list)) or not all(
            isinstance(n, str) and n.isidentifier() for n in value):
        raise TypeError(f"{cls.__name__}.{what} must be a tuple of names (str), such as "
                        f"{('f', 'g', 'o') if what == 'gates' else ('h', 'c')}, got "
                        f"{describe(value)}")
    if len(set(value)) != len(value) or (not empty and not value):
        raise ValueError(f"{cls.__name__}.{what} must be distinct names"
                         + ("" if empty else ", at least one") + f", got {tuple(value)}")
    return tuple(value)


def prepared(cell: RecurrentCell, derived: dict[str, Tensor | None]) -> RecurrentCell:
    """``cell``, or a shallow copy of it holding what its ``prepare`` made."""
    if not derived:
        return cell
    cell = copy.copy(cell)
    for name, value in derived.items():
        setattr(cell, name, value)
    return cell


def state_tuple(cell: RecurrentCell, result: Any, what: str = "step") -> tuple[Tensor, ...]:
    """What ``cell.step`` (or ``initial_state``) returned, as the tuple of state tensors:
    a lone Tensor is a state of one. Anything else is a TypeError naming the cell."""
    names = cell.state_names
    state = (result,) if isinstance(result, Tensor) else result
    if type(state) not in (tuple, list) or len(state) != len(names) or not all(
            isinstance(t, Tensor) for t in state):
        got = (f"a {type(state).__name__} of {len(state)}: "
               f"{', '.join(type(t).__name__ for t in state)}"
               if type(state) in (tuple, list) else describe(result))
        one = " (or the Tensor alone)" if len(names) == 1 else ""
        raise TypeError(f"{type(cell).__name__}.{what} must return the state: a tuple of "
                        f"{len(names)} Tensor(s) ({', '.join(names)}){one}, got {got}")
    return tuple(state)


def run_step(cell: RecurrentCell, xp: Any, state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """``cell.step(xp, state)`` as a tuple, reported to ``trace`` when it records: with
    the values the step ``record``ed, then the new state under its names."""
    recorder = tracing.recorder
    if recorder is None or cell._reports_its_steps:
        return state_tuple(cell, cell.step(xp, state))
    reports, values = _reports, dict[str, Any]()
    previous, reports.values = reports.values, values
    try:
        new = state_tuple(cell, cell.step(xp, state))
    finally:
        reports.values = previous
    names = cell.state_names
    recorder.step(type(cell).__name__, (xp, *state), dict(zip(names, state)),
                  **values, **dict(zip(names, new)))
    return new


# --------------------------------------------------------------------------- the layer


class Recurrent(Module):
    """Any ``RecurrentCell`` as a sequence layer, stacked and optionally bidirectional.

    Arguments:
        cell_class: a subclass of ``nn.RecurrentCell``.
        input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
            dropout=0.0 (between layers, while training), bidirectional=False: as
            torch's ``nn.RNN``.
        **cell_kwargs: passed to every cell, ``cell_class(layer_in, hidden_size,
            bias=bias, **cell_kwargs)``.

    There is one cell per layer and direction (``layer.cell(layer, direction)``);
    layer k > 0 takes the D outputs of layer k - 1 side by side (D = 2 when
    bidirectional). Parameters are named as torch names a layer's: a cell's
    ``weight_ih`` is ``weight_ih_l0`` in layer 0 and ``weight_ih_l0_reverse`` in its
    backward direction, and so is every parameter of the cell (``weight_ci_l1``; a
    submodule's ``norm.weight`` gives ``norm_weight_l1``). They are the cells' own
    Parameter objects: change their values in place (``.data[...] =``,
    ``load_state_dict``), do not replace them.

    ``out, state = layer(x, state=None)``:
        x: (T, N, I), (N, T, I) with batch_first, unbatched (T, I), or a
            ``PackedSequence``.
        state: the initial state, one (D*num_layers, N, H) tensor per state name (a
            lone tensor when the cell has one, else a tuple in ``state_names``
            order); (D*num_layers, H) for unbatched input. The cells'
            ``initial_state`` when missing.
        out: (T, N, D*H), every step's output (state[0]) of the last layer
            (batch_first: (N, T, D*H); unbatched: (T, D*H); packed like x).
        state: the final states, shaped as the initial ones.
    """

    def __init__(self, cell_class: type[RecurrentCell], input_size: int, hidden_size: int,
                 num_layers: int = 1, bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, **cell_kwargs: Any) -> None:
        where = f"nn.{type(self).__name__}"
        if not (isinstance(cell_class, type) and issubclass(cell_class, RecurrentCell)):
            hint = (" (an instance: pass the class itself)"
                    if isinstance(cell_class, Module) else "")
            raise TypeError(f"{where}: cell_class must be a subclass of nn.RecurrentCell, got "
                            f"{describe(cell_class)}{hint}")
        self.input_size = size(where, "input_size", input_size, minimum=1)
        self.hidden_size = size(where, "hidden_size", hidden_size, minimum=1)
        self.num_layers = size(where, "num_layers", num_layers, minimum=1)
        self.bias = flag(where, "bias", bias)
        self.batch_first = flag(where, "batch_first", batch_first)
        self.dropout = float(probability(where, "dropout", dropout))
        self.bidirectional = flag(where, "bidirectional", bidirectional)
        if self.dropout > 0 and num_layers == 1:
            # (the user's line: past a subclass's own __init__ when there is one)
            depth = 2 if type(self).__init__ is Recurrent.__init__ else 3
            warnings.warn(f"{type(self).__name__}: dropout acts between layers, so with "
                          f"num_layers=1 dropout={self.dropout} does nothing", stacklevel=depth)
        self.cell_class = cell_class
        cells: list[RecurrentCell] = []
        layer_in = self.input_size
        for layer in range(self.num_layers):
            for direction in range(self.num_directions):
                cell = cell_class(layer_in, self.hidden_size, bias=self.bias, **cell_kwargs)
                for name, p in cell.named_parameters():  # torch's names: weight_ih_l0
                    alias = f"{name.replace('.', '_')}{_suffix(layer, direction)}"
                    if alias in vars(self):
                        raise ValueError(f"{where}: two parameters of {cell_class.__name__} "
                                         f"are both named {alias!r} in the layer")
                    setattr(self, alias, p)
                cells.append(cell)
            # (the output's width: state[0]'s, from the cell itself)
            layer_in = self.num_directions * cells[-1].initial_state(1)[0].shape[-1]
        self.cells = ModuleList(cells)  # (after the parameters: they are named as above)
        self._cell_tuple = tuple(cells)  # (what a forward walks: faster than the ModuleList)

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def cell(self, layer: int = 0, direction: int = 0) -> RecurrentCell:
        """The cell of one layer and direction (0 forward, 1 backward)."""
        return self._cell(f"{type(self).__name__}.cell", layer, direction)

    def _cell(self, where: str, layer: int, direction: int) -> RecurrentCell:
        for label, value in (("layer", layer), ("direction", direction)):
            if not is_int(value):
                raise TypeError(f"{where}: {label} must be an int, got {describe(value)}")
        if not 0 <= layer < self.num_layers or direction not in range(self.num_directions):
            raise IndexError(f"{where}: no layer {layer}, direction {direction} (it has "
                             f"{self.num_layers} layer(s), {self.num_directions} direction(s))")
        cell = self.cells[int(layer) * self.num_directions + int(direction)]
        assert isinstance(cell, RecurrentCell)
        return cell

    def gate(self, name: str, layer: int = 0, direction: int = 0) -> GateView:
        """Writable views of one gate's rows in one layer and direction (see ``GateView``).

        >>> lstm.gate("f").bias_ih[:] = 1.0     # forget-gate bias of layer 0 set to 1

        ``layer`` and ``direction`` must be ints (TypeError) in range (IndexError).
        """
        cell = self._cell(f"{type(self).__name__}.gate", layer, direction)
        params = {f: getattr(cell, f) for f in GateGrad._fields}
        return gate_view(cell.gates, type(self).__name__, name, cell.hidden_size, params)

    def _cells(self) -> list[RecurrentCell]:
        return list(self._cell_tuple)

    def reset_parameters(self) -> None:
        """Every cell's ``reset_parameters``."""
        for cell in self._cells():
            cell.reset_parameters()

    # ----------------------------------------------------------------- forward
    def forward(self, x: TensorLike | PackedSequence,
                state: Any = None) -> tuple[Tensor | PackedSequence, Tensor | tuple[Tensor, ...]]:
        """Run all layers and directions over the sequence (shapes in the class docstring)."""
        with autograd.gc_paused():  # (an acyclic graph, built in one go)
            if isinstance(x, PackedSequence):
                return self._forward_packed(x, state)
            return self._forward(x, state)

    def _forward(self, x: TensorLike, state: Any) -> tuple[Tensor, Tensor | tuple[Tensor, ...]]:
        name, features = type(self).__name__, self.input_size
        x = checked_input(name, x, features, (2, 3),
                          "a 3-D input (batch) or a 2-D one (unbatched)", self._dtype())
        unbatched = x.ndim == 2
        if unbatched:
            x = x.reshape(x.shape[0], 1, features)
        elif self.batch_first:
            x = x.transpose(0, 1)
        if x.shape[0] == 0:
            raise ShapeError(f"{name}: the input sequence is empty (input shape {x.shape})")
        initial = self._initial_states(state, x.shape[1], unbatched)
        out, finals = self._all_layers(x, initial, Batches.of(x.shape[0]))
        if unbatched:
            out = out.reshape(out.shape[0], out.shape[2])
            finals = [s.reshape(s.shape[0], s.shape[2]) for s in finals]
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, self._returned(finals)

    def _forward_packed(self, packed: PackedSequence,
                        state: Any) -> tuple[PackedSequence, Tensor | tuple[Tensor, ...]]:
        name = type(self).__name__
        if tracing.recorder is not None:
            raise ValueError(f"{name}: tracing works on padded batches, not packed ones "
                             f"(pad_packed_sequence, then trace)")
        data, batch_sizes, sorted_indices, unsorted_indices = checked_packed(name, packed)
        data = checked_input(name, data, self.input_size, (2,),
                             "packed data of shape (sum of lengths, input_size)", self._dtype())
        sizes = tuple(int(b) for b in batch_sizes)
        initial = self._initial_states(state, sizes[0], order=sorted_indices)
        out, finals = self._all_layers(data, initial, Batches.of(len(sizes), sizes))
        if unsorted_indices is not None:  # the final states in the caller's batch order
            finals = [s[:, unsorted_indices] for s in finals]
        packed_out = PackedSequence(out, batch_sizes, sorted_indices, unsorted_indices)
        return packed_out, self._returned(finals)

    def _dtype(self) -> np.dtype:
        return self._cell_tuple[0].weight_ih.dtype

    def _returned(self, finals: list[Tensor]) -> Tensor | tuple[Tensor, ...]:
        return finals[0] if len(finals) == 1 else tuple(finals)

    def _initial_states(self, state: Any, batch: int, unbatched: bool = False,
                        order: np.ndarray | None = None) -> list[tuple[Tensor, ...]]:
        """Per (layer, direction): its cell's initial state tuple, the cell's own
        ``initial_state`` when ``state`` is None; ``order`` reorders the batch (a packed
        batch's sorting)."""
        cells = self._cell_tuple
        if state is None:
            if cells[0]._shares_recordings:  # (zeros every cell can share: nothing writes them)
                return [state_tuple(cells[0], cells[0].initial_state(batch),
                                    "initial_state")] * len(cells)
            return [state_tuple(c, c.initial_state(batch), "initial_state") for c in cells]
        d_l = len(cells)
        zeros = state_tuple(cells[0], cells[0].initial_state(1), "initial_state")
        expected = {f"{label}0": (d_l, *s.shape[1:]) if unbatched else (d_l, batch, *s.shape[1:])
                    for label, s in zip(cells[0].state_names, zeros)}
        states = checked_states(type(self).__name__, "initial state", state, expected,
                                self._dtype())
        if unbatched:
            states = [s.reshape(d_l, 1, *s.shape[1:]) for s in states]
        if order is not None:
            states = [s[:, order] for s in states]
        return list(zip(*(s.unbind(0) for s in states)))

    def _all_layers(self, x: Tensor, initial: list[tuple[Tensor, ...]],
                    batches: Batches) -> tuple[Tensor, list[Tensor]]:
        """Every layer and direction in turn: the last layer's output and the final
        states, stacked to (D*L, N, .) per state name."""
        finals, cells, d = [], self._cell_tuple, self.num_directions
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(d):
                k = layer * d + direction
                reverse = Batches.of(len(batches.rows), batches.sizes, True) if direction \
                    else batches
                out, last = self._run(cells[k], x, initial[k], reverse)
                outputs.append(out)
                finals.append(last)
            x = outputs[0] if d == 1 else concat(outputs, dim=-1)
            if layer < self.num_layers - 1:  # between layers only, and only when training
                x = F.dropout(x, self.dropout, self.training)
        return x, [stack(list(s), dim=0) for s in zip(*finals)]

    def _run(self, cell: RecurrentCell, x: Tensor, state: tuple[Tensor, ...],
             batches: Batches) -> tuple[Tensor, tuple[Tensor, ...]]:
        """One layer and direction: (every step's output, the final state tuple), over x
        (T, N, I) or a packed batch's rows. The cell's parameters are read through one
        node each (``bound``), so that each one's gradient pools over the steps before it
        reaches the parameter, as a Scan node pools it: scanned and op by op give the
        same bits."""
        bound, fixed = bound_cell(cell)
        projected = bound.project_inputs(x)
        sequences = projected if isinstance(projected, tuple) else (projected,)
        if tracing.recorder is None and replay.is_enabled():
            programs = self._programs(cell, bound, sequences, state, fixed, batches)
            if programs is not None:
                out, final = run_scan(programs, batches, sequences, state, list(fixed.values()))
                return out, tuple(final)
        return self._run_op_by_op(cell, bound, sequences, state, batches)

    def _run_op_by_op(self, cell: RecurrentCell, bound: RecurrentCell, sequences: tuple,
                      state: tuple[Tensor, ...],
                      batches: Batches) -> tuple[Tensor, tuple[Tensor, ...]]:
        pieces = [_cut(q, batches) for q in sequences]
        xps = pieces[0] if len(pieces) == 1 else list(zip(*pieces))
        recorder = tracing.recorder
        if recorder is not None:  # trace records: the steps that follow are this layer's
            recorder.enter(self, weights={"weight_ih": cell.weight_ih}, reverse=batches.reverse)
        first = [True]  # the first step's new state is checked against the state it got

        def advance(t: int, state: tuple) -> tuple:
            new = run_step(bound, xps[t], state)
            if first:
                _check_shapes(cell, new, state)
                first.pop()
            return new

        outputs, final = batches.run(advance, state, _concat_rows)
        if recorder is not None:
            recorder.exit()
        if batches.padded:
            return stack(outputs, dim=0), final
        return (concat(outputs, dim=0) if len(outputs) > 1 else outputs[0]), final

    @staticmethod
    def _programs(cell: RecurrentCell, bound: RecurrentCell, sequences: tuple,
                  state: tuple[Tensor, ...], fixed: dict[str, Tensor],
                  batches: Batches) -> tuple | None:
        """Every step's Program (one per batch size of a packed batch), or None when the
        cell's step cannot be scanned. Recorded once per cell, shapes and the cell's plain
        settings (numbers, strings: what a recording bakes in)."""
        programs = []
        for t in batches.first_steps:  # (a padded batch: step 0 only)
            inputs = [q.data[batches.rows[t]] for q in sequences]
            rows = len(inputs[0])  # (the state's first rows: a packed batch's running ones)
            inputs += [s.data if rows == len(s.data) else s.data[:rows] for s in state]
            program = _program(cell, bound, inputs, len(sequences), fixed)
            if not program:
                return None
            programs.append(program)
        return batches.per_step(programs)

    def extra_repr(self) -> str:
        return f"{self.cell_class.__name__}, {self._sizes_and_settings()}"

    def _sizes_and_settings(self) -> str:
        """"I, H" and the settings that differ from their defaults, in torch's words."""
        s = f"{self.input_size}, {self.hidden_size}"
        proj_size = getattr(self, "proj_size", 0)  # (LSTM's)
        if proj_size:
            s += f", proj_size={proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


def _suffix(layer: int, direction: int) -> str:
    return f"_l{layer}" + ("_reverse" if direction else "")


def bound_cell(cell: RecurrentCell) -> tuple[RecurrentCell, dict[str, Tensor]]:
    """(a shallow copy of ``cell`` whose parameters are each read through one node,
    those nodes by the parameters' names). A parameter the step reads at every time
    step then gathers its steps' gradients in that node, which the engine pools (one
    matmul for a weight) as a Scan node does, rather than adding each step's to its
    ``.grad`` in turn: the same sum, rounded as the Scan rounds it. Submodules with
    parameters are copied the same way."""
    fixed: dict[str, Tensor] = {}
    # (a step that reads only what prepare makes needs no node per parameter)
    bound = _shallow_copy(cell) if cell._steps_on_prepared else _bound(cell, "", fixed, {})
    for name, t in bound.prepare().items():  # (bound is a copy already: set in place)
        setattr(bound, name, t)
        if t is not None:
            fixed[name] = t
    return bound, fixed


def _shallow_copy(module: Module) -> Any:
    """``copy.copy(module)``, in a third of its time (a layer makes one per call)."""
    twin = object.__new__(type(module))
    twin.__dict__.update(vars(module))
    return twin


def _bound(module: Module, prefix: str, fixed: dict[str, Tensor],
           seen: dict[int, Tensor]) -> Any:
    # Every Tensor the cell holds goes in ``fixed``, a Parameter or not (a weight swapped in
    # for a functional call, a meta-learning step's w - lr * g): a recording would bake a
    # plain Tensor in as a constant, reused with its first values and without its tangent.
    bound = copy.copy(module)
    for name, value in vars(module).items():
        if isinstance(value, Tensor):
            alias = seen.get(id(value))  # (a tensor the cell holds twice: one node)
            if alias is None:
                alias = seen[id(value)] = fixed[prefix + name] = value.reshape(value.shape)
            setattr(bound, name, alias)
        elif isinstance(value, Module) and _holds_tensors(value):
            setattr(bound, name, _bound(value, f"{prefix}{name}_", fixed, seen))
    return bound


def _holds_tensors(module: Module) -> bool:
    return any(isinstance(v, Tensor) for m in module.modules() for v in vars(m).values())


# cell -> {key: Program, or False for a step that cannot be scanned}; weak, so that a cell
# nobody holds any more takes its recordings with it (a class whose cells share recordings
# keeps them in its own ``_class_recordings``)
_Recordings = dict[tuple, replay.Program | Literal[False]]
_PROGRAMS: weakref.WeakKeyDictionary[RecurrentCell, _Recordings] = \
    weakref.WeakKeyDictionary()

_PLAIN = (bool, int, float, str, type(None))


def _settings(cell: RecurrentCell) -> tuple:
    """The cell's plain attributes (numbers, strings, tuples of them): a recording bakes
    them in, so a program recorded under other settings is not reused. (A class that
    names the settings its step reads, ``_recording_settings``, gets only those.)"""
    names = cell._recording_settings
    if names is not None:
        return tuple([getattr(cell, name) for name in names])
    return tuple((k, v) for k, v in vars(cell).items()
                 if isinstance(v, _PLAIN) or (type(v) is tuple and all(
                     isinstance(e, _PLAIN) for e in v)))


def _program(cell: RecurrentCell, bound: RecurrentCell, step_inputs: list[np.ndarray],
             n_seq: int, fixed: dict[str, Tensor]) -> replay.Program | Literal[False]:
    """The Program of ``cell``'s step for one step's inputs of the shapes of
    ``step_inputs`` (its xp parts, then its states), or False."""
    if cell._shares_recordings:  # (the class's own dict, which dies with it)
        programs = vars(type(cell)).get("_class_recordings")
        if programs is None:
            programs = {}
            type(cell)._class_recordings = programs
    else:
        programs = _PROGRAMS.setdefault(cell, {})
    key = (n_seq, replay.signature(step_inputs), replay.signature(fixed.values()),
           _settings(cell))
    program = programs.get(key)
    if program is None:
        if len(programs) > 100:  # (ever new shapes: start again)
            programs.clear()
        n_states = len(step_inputs) - n_seq

        def step(*inputs: Tensor) -> tuple:
            xp = inputs[0] if n_seq == 1 else inputs[:n_seq]
            return state_tuple(cell, bound.step(xp, inputs[n_seq:]))

        names = (["xp"] if n_seq == 1 else [f"xp_{k}" for k in range(n_seq)]) \
            + list(cell.state_names) + list(fixed)
        previous, _reports.naming = _reports.naming, True
        try:
            program = replay.recorded_step(
                step, step_inputs, n_states, list(fixed.values()),
                cell._step_name or type(cell).__name__, names,
                hint="make it a Parameter of the cell to scan the step")
        finally:
            _reports.naming = previous
        if isinstance(program, replay.Program):
            programs[key] = program
        else:
            if program.reason is not None:  # (None: inside another recording: not kept)
                programs[key] = False
            _fell_back(cell, program.reason)
            return False
    return program


_WARNED: weakref.WeakKeyDictionary[type, set[str]] = weakref.WeakKeyDictionary()


def _fell_back(cell: RecurrentCell, reason: str | None) -> None:
    """Say once per cell class and reason, as ``replay.scan`` does, that its step runs op by
    op (None: inside another recording, which notes the ops itself)."""
    from ..checkrows import _user_stacklevel  # (the user's line, however deep we are)

    said = _WARNED.setdefault(type(cell), set())
    if reason is not None and reason not in said:
        said.add(reason)
        warnings.warn(f"nn.Recurrent runs {type(cell).__name__}.step op by op, not as one Scan "
                      f"node: {reason}", replay.ScanFallbackWarning, stacklevel=_user_stacklevel())


def _check_shapes(cell: RecurrentCell, new: tuple[Tensor, ...],
                  given: tuple[Tensor, ...]) -> None:
    """A step's new state has the shapes of the state it was given."""
    for name, t, s in zip(cell.state_names, new, given):
        if t.shape != s.shape:
            raise ShapeError(f"{type(cell).__name__}.step returned {name} of shape {t.shape}, "
                             f"but it was given {name} of shape {s.shape}; a step must keep "
                             f"its state's shapes")


def _cut(q: Tensor, batches: Batches) -> Sequence[Tensor]:
    """A sequence's steps, as one graph node (T getitems would make backward O(T^2))."""
    sizes = batches.sizes
    if sizes is None:  # padded
        return q.unbind(0)
    return q.split(list(sizes), dim=0) if len(sizes) > 1 else (q,)


def _concat_rows(parts: list) -> Tensor:
    return concat(parts, dim=0)

