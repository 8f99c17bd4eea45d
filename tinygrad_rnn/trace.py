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

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from .nn import cells as _cells
from .nn.recurrent import Recurrent, RecurrentCell
from .tensor import Tensor, enable_grad, stack

if TYPE_CHECKING:
    from typing import TypeAlias

    from .nn.module import Module
    from .tensor import TensorLike

    # {(layer, direction): {name: array (T, N, H)}}, as Recorder.of gives them
    GateArrays: TypeAlias = "dict[tuple[int, int], dict[str, np.ndarray]]"

__all__ = ["record_gates", "Recorder", "Step", "gate_trace", "gradient_flow", "run_sequence"]


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

    def of(self, module: Module | None) -> GateArrays:
        """{(layer, direction): {name: np.ndarray (T, N, H)}} for one module.

        Names: LSTM "i", "f", "g", "o" (after their nonlinearities), "c", "h";
        GRU "r", "z", "n", "h"; RNN "h". N is 1 for an unbatched input; with
        ``batch_first`` the arrays are time-major all the same.
        """
        return {key: {name: np.stack([s.tensors[name].data.reshape(-1, s.tensors[name].shape[-1])
                                      for s in steps])
                      for name in steps[0].tensors}
                for key, steps in self.steps_of(module).items()}

    @property
    def layers(self) -> GateArrays:
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
    outputs = []
    for x_t in x.unbind(0):
        state = module(x_t, state)
        outputs.append(state[0] if isinstance(state, tuple) else state)
    return stack(outputs, dim=0), state


def gate_trace(module: Module, x: TensorLike,
               state: Any = None) -> tuple[GateArrays, tuple[Tensor, Any]]:
    """Run ``module`` over ``x`` and return (gates, outputs).

    gates: {(layer, direction): {name: np.ndarray (T, N, H)}} as ``Recorder.of``
    (a cell is (0, 0)); outputs: what ``run_sequence(module, x, state)`` returns,
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
