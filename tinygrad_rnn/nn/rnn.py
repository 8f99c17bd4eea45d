"""Sequence layers RNN, LSTM, GRU: the cells' step functions unrolled over time.

For each layer and direction, the input's share of the gates for *all* time
steps is one matmul, ``x W_ih^T + b_ih`` over (T*N, I); ``unbind`` then hands
out the per-step slices as one graph node (T getitems would make backward
O(T^2)), and the recurrence is the same ``rnn_step`` / ``lstm_step`` /
``gru_step`` the cells use. Backpropagation through time is the graph's own
``backward``; nothing here writes a gradient.

Names, shapes, gate orders, initialization and return values are torch's:
``weight_ih_l{k}`` (G*H, I_k), ``weight_hh_l{k}`` (G*H, H_out), ``bias_ih_l{k}``,
``bias_hh_l{k}`` (G*H,), LSTM ``weight_hr_l{k}`` (P, H) with ``proj_size`` P, and
the suffix ``_reverse`` for the backward direction.
"""

from __future__ import annotations

import functools
import inspect
import math
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .. import autograd, functional as F, replay
from ..arguments import describe, flag, is_int, one_of, probability, size
from ..autograd import ShapeError
from ..scan import Batches, run_scan
from ..tensor import Tensor, concat, stack
from . import cells as _cells, init
from .cells import (
    GateGrad,
    GateView,
    checked_input,
    checked_states,
    gate_view,
    gru_inputs,
    gru_step,
    lstm_step,
    rnn_step,
)
from .module import Module, Parameter
from .utils.rnn import PackedSequence, checked_packed

if TYPE_CHECKING:
    from ..tensor import TensorLike

_NUM_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


class RNNBase(Module):
    """What RNN, LSTM and GRU share: parameters, checks, and the unrolled loop.

    Subclasses set ``kind`` and define ``_step(xp, state, w)``, one time step
    from a state tuple ((h,) or (h, c)) to the next, where xp = x_t W_ih^T + b_ih
    and ``w`` holds the parameters (``w["bias_hh"]`` included) and the
    transposes ``hh_t``, ``hr_t``.
    """

    kind = "RNN"
    # set in __init__ (by setattr, as every layer's and direction's parameters)
    weight_ih_l0: Parameter

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0) -> None:
        name = type(self).__name__
        where = f"nn.{name}"
        input_size = size(where, "input_size", input_size, minimum=1)
        hidden_size = size(where, "hidden_size", hidden_size, minimum=1)
        num_layers = size(where, "num_layers", num_layers, minimum=1)
        bias = flag(where, "bias", bias)
        batch_first = flag(where, "batch_first", batch_first)
        dropout = probability(where, "dropout", dropout)
        bidirectional = flag(where, "bidirectional", bidirectional)
        proj_size = size(where, "proj_size", proj_size)
        if proj_size and self.kind != "LSTM":  # (torch's words)
            raise ValueError(f"{where}: proj_size argument is only supported for LSTM, "
                             f"not RNN or GRU")
        if proj_size >= hidden_size:
            raise ValueError(f"{where}: proj_size must be in [0, hidden_size), "
                             f"got {proj_size} with hidden_size {hidden_size}")
        if dropout > 0 and num_layers == 1:
            # point at the user's line, past RNN's own __init__ when there is one
            depth = 3 if type(self).__init__ is not RNNBase.__init__ else 2
            warnings.warn(f"{name}: dropout acts between layers, so with num_layers=1 "
                          f"dropout={dropout} does nothing", stacklevel=depth)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size

        rows, h_out = _NUM_GATES[self.kind] * hidden_size, proj_size or hidden_size
        for layer in range(num_layers):
            for direction in range(self.num_directions):
                sfx = self._suffix(layer, direction)
                layer_in = input_size if layer == 0 else self.num_directions * h_out
                setattr(self, f"weight_ih{sfx}", Parameter(np.empty((rows, layer_in))))
                setattr(self, f"weight_hh{sfx}", Parameter(np.empty((rows, h_out))))
                if bias:
                    setattr(self, f"bias_ih{sfx}", Parameter(np.empty(rows)))
                    setattr(self, f"bias_hh{sfx}", Parameter(np.empty(rows)))
                if proj_size:
                    setattr(self, f"weight_hr{sfx}", Parameter(np.empty((proj_size, hidden_size))))
        self.reset_parameters()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @staticmethod
    def _suffix(layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction else "")

    def reset_parameters(self) -> None:
        """Every weight and bias from U(-k, k), k = 1/sqrt(hidden_size), as torch."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -k, k)

    def _weights(self, layer: int, direction: int) -> dict:
        """{weight_ih, weight_hh, bias_ih, bias_hh, weight_hr: Parameter or None}."""
        return {field: getattr(self, name, None) for field, name in _weight_names(layer, direction)}

    def gate(self, name: str, layer: int = 0, direction: int = 0) -> GateView:
        """Writable views of one gate's rows in one layer and direction (see ``GateView``).

        >>> lstm.gate("f").bias_ih[:] = 1.0     # forget-gate bias of layer 0 set to 1

        ``layer`` and ``direction`` must be ints (TypeError) in range (IndexError).
        """
        for label, value in (("layer", layer), ("direction", direction)):
            if not is_int(value):  # (checked first: a float would reach _weight_names' cache)
                raise TypeError(f"{type(self).__name__}.gate: {label} must be an int, "
                                f"got {describe(value)}")
        layer, direction = int(layer), int(direction)
        if not 0 <= layer < self.num_layers or direction not in range(self.num_directions):
            raise IndexError(f"{type(self).__name__}: no layer {layer}, direction {direction} "
                             f"(it has {self.num_layers} layer(s), "
                             f"{self.num_directions} direction(s))")
        params = {f: p for f, p in self._weights(layer, direction).items() if f in GateGrad._fields}
        return gate_view(self.kind, type(self).__name__, name, self.hidden_size, params)

    # ----------------------------------------------------------------- forward
    def _check(self, x: TensorLike, hx: Any) -> tuple[Tensor, list, bool]:
        """x as a time-major (T, N, I) Tensor, the initial states as lists of
        per-(layer, direction) tensors, and whether the input was unbatched."""
        name, features = type(self).__name__, self.input_size
        x = checked_input(name, x, features, (2, 3),
                          "a 3-D input (batch) or a 2-D one (unbatched)", self.weight_ih_l0.dtype)
        unbatched = x.ndim == 2
        if unbatched:
            x = x.reshape(x.shape[0], 1, features)
        elif self.batch_first:
            x = x.transpose(0, 1)
        if x.shape[0] == 0:
            raise ShapeError(f"{name}: the input sequence is empty (input shape {x.shape})")
        return x, self._initial_states(hx, x.shape[1], unbatched), unbatched

    def _initial_states(self, hx: Any, batch: int, unbatched: bool = False,
                        order: np.ndarray | None = None) -> list:
        """Per (layer, direction): the tuple of its initial states ((h,) or (h, c)), zeros
        when ``hx`` is None; ``order`` reorders the batch (a packed batch's sorting)."""
        name, dtype = type(self).__name__, self.weight_ih_l0.dtype
        d_l = self.num_directions * self.num_layers
        h_out = self.proj_size or self.hidden_size
        labels = [("h0", h_out)] + ([("c0", self.hidden_size)] if self.kind == "LSTM" else [])
        if hx is None:  # zeros for every layer and direction, shared: nothing writes to them
            return [tuple([Tensor(np.zeros((batch, n), dtype=dtype)) for _, n in labels])] * d_l
        expected: dict[str, tuple[int, ...]] = {
            label: (d_l, n) if unbatched else (d_l, batch, n) for label, n in labels}
        states = checked_states(name, "initial state", hx, expected, dtype)
        if unbatched:
            states = [s.reshape(d_l, 1, s.shape[-1]) for s in states]
        if order is not None:
            states = [s[:, order] for s in states]
        # per (layer, direction): [(h, c), (h, c), ...] -- one unbind node per state tensor
        return list(zip(*(s.unbind(0) for s in states)))

    def forward(self, x: TensorLike | PackedSequence,
                hx: Any = None) -> tuple[Tensor | PackedSequence, Tensor | tuple[Tensor, ...]]:
        """Run all layers and directions over the sequence.

        Arguments:
            x: (T, N, I), or (N, T, I) with batch_first, or unbatched (T, I); or a
                ``PackedSequence`` (``nn.utils.rnn``) of sequences of different lengths.
            hx: initial state(s), (D*num_layers, N, H_out) whatever batch_first
                says, or (D*num_layers, H_out) for unbatched input; LSTM takes a
                tuple (h0, c0), c0 with H rather than H_out. Zeros when missing.

        Returns:
            output (T, N, D*H_out) (batch_first: (N, T, D*H_out); unbatched:
            (T, D*H_out)), the last layer's h_t for every t; and h_n (like h0),
            or (h_n, c_n) for LSTM, the last state of every layer and direction.
            For a packed input, output is packed the same way, and h_n holds each
            sequence's state after its own last step (as torch).
        """
        # The whole unrolled graph is built with the cyclic collector paused: it has no
        # cycles, and each collection would walk all of it (see speedups.gc_paused).
        with autograd.gc_paused():
            if isinstance(x, PackedSequence):
                return self._forward_packed(x, hx)
            return self._forward(x, hx)

    def _forward(self, x: TensorLike, hx: Any) -> tuple[Tensor, Tensor | tuple[Tensor, ...]]:
        x, initial, unbatched = self._check(x, hx)
        x, states = self._all_layers(x, initial, self._run)  # states (D*L, N, .) each
        if unbatched:
            x = x.reshape(x.shape[0], x.shape[2])
            states = [s.reshape(s.shape[0], s.shape[2]) for s in states]
        elif self.batch_first:
            x = x.transpose(0, 1)
        return x, (tuple(states) if self.kind == "LSTM" else states[0])

    def _all_layers(self, x: Tensor, initial: list,
                    run: Callable[..., tuple]) -> tuple[Tensor, list[Tensor]]:
        """Every layer and direction, ``run(x, state, w, reverse)`` each: the last layer's
        output and the final states, stacked to (D*L, N, .) per state."""
        finals = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                out, last = run(x, initial[k], self._weights(layer, direction),
                                reverse=direction == 1)
                outputs.append(out)
                finals.append(last)
            x = outputs[0] if len(outputs) == 1 else concat(outputs, dim=-1)
            if layer < self.num_layers - 1:  # between layers only, and only when training
                x = F.dropout(x, self.dropout, self.training)
        return x, [stack(list(s), dim=0) for s in zip(*finals)]

    def _step_inputs(self, x: Tensor, w: dict, cut: Callable[[Tensor], Any]) -> tuple:
        """(what ``_step`` gets at each time step, the weights it uses), made for all
        steps at once.

        xp = x W_ih^T + b_ih is one Linear node over all of x's rows ((T, N, I), or a
        packed batch's (rows, I)), and ``cut`` cuts it into time steps (``unbind(0)``,
        or a packed batch's split). The weights gain the transposes ``hh_t`` and
        ``hr_t``, made once rather than at every step.
        """
        bias, bias_hh = w["bias_ih"], w["bias_hh"]
        if self._folds_bias_hh() and bias is not None:  # b_hh joins b_ih, once for all steps
            bias, bias_hh = bias + bias_hh, None
        xp = F.linear(x, w["weight_ih"], bias)
        w = dict(w, bias_hh=bias_hh, hh_t=w["weight_hh"].T,
                 hr_t=None if w["weight_hr"] is None else w["weight_hr"].T)
        return cut(xp), w

    def _run(self, x: Tensor, state: tuple, w: dict, reverse: bool,
             sizes: tuple[int, ...] | None = None) -> tuple:
        """One layer, one direction: (outputs, final state tuple), over x (T, N, I), or
        over the rows of a packed batch of these batch ``sizes`` (``scan.Batches``)."""
        batches = Batches.of(len(sizes) if sizes else x.shape[0], sizes, reverse)
        if not self._scans():
            xps, w = self._step_inputs(x, w, functools.partial(_cut, batches=batches))
            return self._run_op_by_op(xps, state, w, batches)
        sequences, w = self._sequences(x, w)
        scanned = self._scan(sequences, batches, state, w)  # one Scan node
        if scanned is not None:
            return scanned
        pieces = [_cut(q, batches) for q in sequences]
        xps = pieces[0] if len(pieces) == 1 else list(zip(*pieces))
        return self._run_op_by_op(xps, state, w, batches)

    def _run_op_by_op(self, xps: Sequence[Any], state: tuple, w: dict,
                      batches: Batches) -> tuple:
        """``_run`` as a graph node per op of every step, ``xps[t]`` step t's xp."""
        recorder = _cells.tracing.recorder
        if recorder is not None:  # tinygrad_rnn.trace records: the steps that follow are ours
            recorder.enter(self, weights=w, reverse=batches.reverse)
        outputs, state = batches.run(lambda t, state: self._step(xps[t], state, w), state,
                                     _concat_rows)
        if recorder is not None:
            recorder.exit()
        if batches.padded:
            return stack(outputs, dim=0), state
        return (concat(outputs, dim=0) if len(outputs) > 1 else outputs[0]), state

    # ----------------------------------------------------------------- packed batches
    def _forward_packed(self, packed: PackedSequence,
                        hx: Any) -> tuple[PackedSequence, Tensor | tuple[Tensor, ...]]:
        name = type(self).__name__
        if _cells.tracing.recorder is not None:
            raise ValueError(f"{name}: tracing works on padded batches, not packed ones "
                             f"(pad_packed_sequence, then trace)")
        data, batch_sizes, sorted_indices, unsorted_indices = checked_packed(name, packed)
        data = checked_input(name, data, self.input_size, (2,),
                             "packed data of shape (sum of lengths, input_size)",
                             self.weight_ih_l0.dtype)
        sizes = [int(b) for b in batch_sizes]
        initial = self._initial_states(hx, sizes[0], order=sorted_indices)
        run = functools.partial(self._run, sizes=tuple(sizes))
        data, states = self._all_layers(data, initial, run)
        if unsorted_indices is not None:  # h_n in the caller's batch order
            states = [s[:, unsorted_indices] for s in states]
        output = PackedSequence(data, batch_sizes, sorted_indices, unsorted_indices)
        return output, (tuple(states) if self.kind == "LSTM" else states[0])

    def _step(self, xp: Any, state: tuple, w: dict) -> tuple:
        raise NotImplementedError

    def _scans(self) -> bool:
        """Does this forward run the layer's step as one Scan node (``replay.py``)? Its own
        step only, and not inside ``replay.disabled()`` or while ``trace`` records."""
        return _cells.tracing.recorder is None and replay.is_enabled() and self._folds_bias_hh()

    def _sequences(self, x: Tensor, w: dict) -> tuple[tuple, dict]:
        """(what ``_step`` gets as xp, for all steps at once: a tuple of sequences; the
        weights), for a scan."""
        (whole,), w = self._step_inputs(x, w, _whole)
        return (whole if type(whole) is tuple else (whole,)), w

    def _scan(self, sequences: tuple, batches: Batches, state: tuple,
              w: dict) -> tuple | None:
        """(outputs, final state) of the layer's own step run over ``sequences`` as one
        ``Scan`` node, or None when its recorded program cannot be scanned. A packed
        batch needs a program for every batch size it has."""
        weights, programs = tuple(w.values()), []
        for t in batches.first_steps:  # (a padded batch: step 0 only)
            step_inputs = [q.data[batches.rows[t]] for q in sequences]
            rows = len(step_inputs[0])  # (the state's first rows: no view when all of them)
            step_inputs += [h.data if rows == len(h.data) else h.data[:rows] for h in state]
            programs.append(self._program(step_inputs, len(sequences), w, weights))
            if not programs[-1]:
                return None
        return run_scan(batches.per_step(programs), batches, sequences, state, weights)

    def _program(self, step_inputs: list, n_seq: int, w: dict,
                 weights: tuple) -> replay.Program | Literal[False]:
        """The Program of ``_step`` for one step's inputs of the shapes of ``step_inputs``
        (arrays: its xp parts, then its states) and these weights, or False when it cannot
        be scanned. Recorded once for every layer of this class and these shapes: the
        program depends on nothing else."""
        key = (type(self), getattr(self, "nonlinearity", None), n_seq,
               replay.signature(step_inputs) + replay.signature(weights))
        program = _PROGRAMS.get(key)
        if program is None:
            if len(_PROGRAMS) > 1000:  # a program of ever new shapes: start again
                _PROGRAMS.clear()

            def step(*inputs: Tensor) -> tuple:  # _step as replay.record_step calls a step
                xp = inputs[0] if n_seq == 1 else inputs[:n_seq]
                return self._step(xp, inputs[n_seq:], w)

            # the generated code names the inputs after the cell's step function's
            # arguments and the weights after w's keys (hh_t), the gates as the cells
            # report them (i_gate: _GateNames)
            names = [*inspect.signature(_STEP_FUNCTIONS[self.kind]).parameters][:len(step_inputs)]
            with _GateNames():  # (False: no layer of this class and shapes will try again)
                program = _PROGRAMS[key] = replay.record_step(
                    step, step_inputs, len(step_inputs) - n_seq, weights, self.kind,
                    names + list(w))
        return program

    def _folds_bias_hh(self) -> bool:
        """May b_hh be added to the input projection of all steps instead of at each step?

        RNN and LSTM add b_hh right beside b_ih, so yes: one node instead of one
        per step. GRU folds b_hr and b_hz only (its reset gate scales W_hn h + b_hn),
        in its own ``_step_inputs``. A subclass with a ``_step`` of its own gets xp
        and ``w`` as documented above.
        """
        return type(self)._step in (RNN._step, LSTM._step, GRU._step)

    def extra_repr(self) -> str:
        # torch's text exactly (which leaves out RNN's nonlinearity)
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
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


@functools.cache
def _weight_names(layer: int, direction: int) -> tuple:
    """((field, attribute name), ...) of one layer and direction, made once (a forward
    reads them at every call). Shared by every model, so only ints may reach it (1.0 == 1
    would find, and keep, the names "_l1.0"): ``gate`` checks its arguments first."""
    suffix = RNNBase._suffix(layer, direction)
    return tuple((f, f + suffix)
                 for f in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"))


# (layer class, nonlinearity, number of xp parts, shapes and dtypes of a step's inputs) ->
# its Program, or False for a step that cannot be scanned: the same for every layer of that
# class and shapes.
_PROGRAMS: dict[tuple, replay.Program | Literal[False]] = {}


_STEP_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "RNN": rnn_step, "LSTM": lstm_step, "GRU": gru_step}


class _GateNames:
    """While a layer records its step for replay: the gates the cells' step functions
    report (to ``trace``'s recorder, whose place this takes) name their values in the
    generated code, ``i_gate`` to ``o_gate``, ``r_gate`` to ``n_gate``. (The new states
    are named by ``replay.record_step``: ``h_new``.)"""

    def __enter__(self) -> None:
        # (a stand-in for trace's Recorder: the step functions call only its step)
        self.previous, _cells.tracing.recorder = _cells.tracing.recorder, self  # type: ignore[assignment]

    def __exit__(self, *exc_info: object) -> None:
        _cells.tracing.recorder = self.previous

    @staticmethod
    def step(kind: str, inputs: tuple, previous: dict, **values: Tensor) -> None:
        for gate in _cells.GATES[kind]:
            if values[gate].name is None:  # (a stand-in of the recording, nobody else's)
                values[gate].name = f"{gate}_gate"


def _whole(xp: Tensor) -> list:
    return [xp]  # one piece: the whole sequence, for a scan


def _cut(xp: Tensor, batches: Batches) -> tuple:
    """A sequence's steps, as one graph node (T getitems would make backward O(T^2))."""
    sizes = batches.sizes
    if sizes is None:  # padded
        return xp.unbind(0)
    return xp.split(list(sizes), dim=0) if len(sizes) > 1 else (xp,)


def _concat_rows(parts: list) -> Tensor:
    return concat(parts, dim=0)


class RNN(RNNBase):
    """Elman RNN, stacked and optionally bidirectional:
    h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh),  act = tanh or relu.

    Arguments: input_size, hidden_size, num_layers=1, nonlinearity="tanh",
    bias=True, batch_first=False, dropout=0.0, bidirectional=False (as torch).
    ``rnn(x, h0=None) -> (output, h_n)``; shapes in ``RNNBase.forward``.
    """

    kind = "RNN"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False) -> None:
        self.nonlinearity = one_of("nn.RNN", "nonlinearity", nonlinearity, ("tanh", "relu"))
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional)

    def _step(self, xp: Tensor, state: tuple, w: dict) -> tuple:
        return (rnn_step(xp, state[0], w["hh_t"], w["bias_hh"], self.nonlinearity),)


class LSTM(RNNBase):
    """Long short-term memory, stacked and optionally bidirectional (gates i, f, g, o)::

        i, f, g, o = chunk(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh, 4)
        c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
        h_t = sigmoid(o) * tanh(c_t)            (then h_t W_hr^T if proj_size > 0)

    Arguments: input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    dropout=0.0, bidirectional=False, proj_size=0 (as torch).
    ``lstm(x, (h0, c0)=None) -> (output, (h_n, c_n))``; shapes in ``RNNBase.forward``.
    """

    kind = "LSTM"

    def _step(self, xp: Tensor, state: tuple, w: dict) -> tuple:
        # (state is (h, c): mypy counts *state as any number of arguments)
        return lstm_step(xp, *state, w["hh_t"], w["bias_hh"], w["hr_t"])  # type: ignore[call-arg]


class GRU(RNNBase):
    """Gated recurrent unit, stacked and optionally bidirectional (gates r, z, n)::

        r = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        z = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))
        h_t = (1 - z) * n + z * h_{t-1}

    Arguments: input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    dropout=0.0, bidirectional=False (as torch).
    ``gru(x, h0=None) -> (output, h_n)``; shapes in ``RNNBase.forward``.
    """

    kind = "GRU"

    def _step_inputs(self, x: Tensor, w: dict, cut: Callable[[Tensor], Any]) -> tuple:
        """As ``RNNBase._step_inputs``, but each step gets the pair (x_rz, x_n) of
        ``cells.gru_inputs``, whose one add folds b_hr and b_hz into every step's x_rz,
        and the weights gain W_hh's parts ``rz_t``, ``n_t`` and ``bias_hn``."""
        if not self._folds_bias_hh():  # a subclass's own step gets xp as documented
            return super()._step_inputs(x, w, cut)
        xp = F.linear(x, w["weight_ih"], w["bias_ih"])
        x_rz, x_n, w_rz_t, w_n_t, b_hn = gru_inputs(xp, w["weight_hh"], w["bias_hh"])
        return list(zip(cut(x_rz), cut(x_n))), dict(w, rz_t=w_rz_t, n_t=w_n_t, bias_hn=b_hn)

    def _step(self, xp: tuple[Tensor, Tensor], state: tuple, w: dict) -> tuple:
        x_rz, x_n = xp
        return (gru_step(x_rz, x_n, state[0], w["rz_t"], w["n_t"], w["bias_hn"]),)
