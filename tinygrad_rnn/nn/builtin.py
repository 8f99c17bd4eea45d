"""torch's cells, RNNCell, LSTMCell and GRUCell, as cells of the protocol (``recurrent.py``).

Each is an ``nn.RecurrentCell`` whose ``step`` is one of the step functions of
``cells.py`` (``rnn_step``, ``lstm_step``, ``gru_step``): the equations live there,
shared with the sequence layers. Parameters, names, shapes, initialization, checks
and return values are torch's, and so is ``forward``'s signature.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import functional as F
from ..arguments import one_of, size
from ..tensor import Tensor
from . import init
from .cells import gru_inputs, gru_step, lstm_step, rnn_step
from .module import Parameter
from .recurrent import Recurrent, RecurrentCell
from .utils.rnn import PackedSequence

if TYPE_CHECKING:
    from ..tensor import TensorLike

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU"]


class _BuiltinCell(RecurrentCell):
    """What the three share: their step functions report each step to ``trace``
    themselves (as "RNN", "LSTM", "GRU", with the step function's inputs)."""

    kind = "RNN"
    _reports_its_steps = True
    _step_name: str | None = "RNN"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "step" in vars(cls) and cls.__module__ != __name__:
            # a subclass with a step of its own: reported and named as any cell's
            cls._reports_its_steps, cls._step_name = False, None


class RNNCell(_BuiltinCell):
    """An Elman RNN cell:  h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh),  act = tanh or relu.

    Arguments:
        input_size, hidden_size: I and H.
        bias: learn ``bias_ih`` and ``bias_hh``.
        nonlinearity: "tanh" or "relu".

    ``cell(x, h=None) -> h'``: x (N, I) or (I,), h (N, H) or (H,) (zeros when
    missing), h' of h's shape.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh") -> None:
        self.nonlinearity = one_of("nn.RNNCell", "nonlinearity", nonlinearity, ("tanh", "relu"))
        super().__init__(input_size, hidden_size, bias)

    def forward(self, x: TensorLike, h: TensorLike | None = None) -> Tensor:
        out = super().forward(x, h)
        assert isinstance(out, Tensor)
        return out

    def step(self, xp: Any, state: tuple[Tensor, ...]) -> Tensor:
        (h,) = state
        return rnn_step(xp, h, self.weight_hh.T, self.bias_hh, self.nonlinearity)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + f", nonlinearity={self.nonlinearity}"


class LSTMCell(_BuiltinCell):
    """A long short-term memory cell (gates i, f, g, o, as torch)::

        i, f, g, o = chunk(x W_ih^T + b_ih + h W_hh^T + b_hh, 4)
        c' = sigmoid(f) * c + sigmoid(i) * tanh(g)
        h' = sigmoid(o) * tanh(c')

    ``cell(x, (h, c)=None) -> (h', c')``: x (N, I) or (I,); h, c (N, H) or (H,),
    zeros when missing.
    """

    kind = _step_name = "LSTM"
    gates = ("i", "f", "g", "o")
    state_names = ("h", "c")

    def forward(self, x: TensorLike,
                state: tuple[TensorLike, TensorLike] | None = None) -> tuple[Tensor, Tensor]:
        h, c = super().forward(x, state)  # type: ignore[misc]  # (two states: a tuple)
        return h, c

    def step(self, xp: Any, state: tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
        h, c = state
        return lstm_step(xp, h, c, self.weight_hh.T, self.bias_hh)


class GRUCell(_BuiltinCell):
    """A gated recurrent unit (gates r, z, n, as torch)::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h

    ``cell(x, h=None) -> h'``: x (N, I) or (I,), h (N, H) or (H,), zeros when missing.
    """

    kind = _step_name = "GRU"
    gates = ("r", "z", "n")

    def forward(self, x: TensorLike, h: TensorLike | None = None) -> Tensor:
        out = super().forward(x, h)
        assert isinstance(out, Tensor)
        return out

    def step(self, xp: Any, state: tuple[Tensor, ...]) -> Tensor:
        (h,) = state
        x_rz, x_n, w_rz_t, w_n_t, b_hn = gru_inputs(xp, self.weight_hh, self.bias_hh)
        return gru_step(x_rz, x_n, h, w_rz_t, w_n_t, b_hn)


# --------------------------------------------------------------------------- as a layer steps them


def _folded_bias(cell: RecurrentCell) -> Tensor | None:
    """b_ih + b_hh: RNN and LSTM add b_hh right beside b_ih, so a layer adds it to the
    input projection of all steps at once rather than at every step."""
    if cell.bias_ih is None or cell.bias_hh is None:
        return None
    return cell.bias_ih + cell.bias_hh


class _RNNLayerCell(RNNCell):
    """``RNNCell`` as ``nn.RNN`` steps it: b_hh joins xp, W_hh^T is made once per call."""

    _shares_recordings = _steps_on_prepared = True
    _recording_settings = ("nonlinearity",)
    hh_t: Tensor

    def project_inputs(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight_ih, _folded_bias(self))

    def prepare(self) -> dict[str, Tensor | None]:
        return {"hh_t": self.weight_hh.T}

    def step(self, xp: Any, state: tuple[Tensor, ...]) -> Tensor:
        (h,) = state
        return rnn_step(xp, h, self.hh_t, None, self.nonlinearity)


class _LSTMLayerCell(LSTMCell):
    """``LSTMCell`` as ``nn.LSTM`` steps it: b_hh joins xp, W_hh^T (and W_hr^T) made once
    per call; with ``proj_size`` P, h is projected, h' = h' W_hr^T, ``weight_hh`` is
    (4H, P) and the state (h, c) has widths (P, H), as torch's LSTM."""

    _shares_recordings = _steps_on_prepared = True
    _recording_settings = ("proj_size",)
    hh_t: Tensor
    hr_t: Tensor | None

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 proj_size: int = 0) -> None:
        self.proj_size = proj_size
        self.weight_hr: Parameter | None = None
        super().__init__(input_size, hidden_size, bias)
        if proj_size:  # (in place of the base's, same position: torch's parameter order)
            self.weight_hh = Parameter(np.empty((4 * hidden_size, proj_size)))
            del self.weight_hr  # (set again after the biases: torch's order)
            self.weight_hr = Parameter(np.empty((proj_size, hidden_size)))
            self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.weight_hr is not None:
            k = 1.0 / math.sqrt(self.hidden_size)
            init.uniform_(self.weight_hr, -k, k)

    def initial_state(self, batch: int) -> tuple[Tensor, ...]:
        dtype = self.weight_ih.dtype
        return tuple(Tensor(np.zeros((batch, n), dtype=dtype))
                     for n in (self.proj_size or self.hidden_size, self.hidden_size))

    def project_inputs(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight_ih, _folded_bias(self))

    def prepare(self) -> dict[str, Tensor | None]:
        return {"hh_t": self.weight_hh.T,
                "hr_t": None if self.weight_hr is None else self.weight_hr.T}

    def step(self, xp: Any, state: tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
        h, c = state
        return lstm_step(xp, h, c, self.hh_t, None, self.hr_t)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + f", proj_size={self.proj_size}" if self.proj_size else s


class _GRULayerCell(GRUCell):
    """``GRUCell`` as ``nn.GRU`` steps it: each step gets the pair (x_rz, x_n) of
    ``cells.gru_inputs`` (b_hr and b_hz joined to x_rz for all steps at once), and W_hh's
    parts, transposed, and b_hn are made once per call."""

    _shares_recordings = _steps_on_prepared = True
    _recording_settings = ()
    rz_t: Tensor
    n_t: Tensor
    b_hn: Tensor | None
    b_rz: Tensor | None

    def prepare(self) -> dict[str, Tensor | None]:
        hidden = self.hidden_size
        w_rz, w_n = self.weight_hh.split([2 * hidden, hidden], dim=0)
        b_rz = b_hn = None
        if self.bias_hh is not None:
            b_rz, b_hn = self.bias_hh.split([2 * hidden, hidden], dim=0)
        return {"rz_t": w_rz.T, "n_t": w_n.T, "b_hn": b_hn, "b_rz": b_rz}

    def project_inputs(self, x: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        xp = F.linear(x, self.weight_ih, self.bias_ih)
        x_rz, x_n = xp.split([2 * self.hidden_size, self.hidden_size], dim=-1)
        return (x_rz if self.b_rz is None else x_rz + self.b_rz), x_n

    def step(self, xp: Any, state: tuple[Tensor, ...]) -> Tensor:
        (h,) = state
        x_rz, x_n = xp
        return gru_step(x_rz, x_n, h, self.rz_t, self.n_t, self.b_hn)


# --------------------------------------------------------------------------- the layers


class _BuiltinLayer(Recurrent):
    """What RNN, LSTM and GRU share: torch's ``forward(input, hx=None)`` and repr."""

    kind = "RNN"
    proj_size = 0

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
        return super().forward(x, hx)

    def __repr__(self) -> str:  # torch's text: no cells
        return f"{type(self).__name__}({self.extra_repr()})"

    def extra_repr(self) -> str:  # torch's text exactly (which leaves out RNN's nonlinearity)
        return self._sizes_and_settings()


class RNN(_BuiltinLayer):
    """Elman RNN, stacked and optionally bidirectional:
    h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh),  act = tanh or relu.

    Arguments: input_size, hidden_size, num_layers=1, nonlinearity="tanh",
    bias=True, batch_first=False, dropout=0.0, bidirectional=False (as torch).
    ``rnn(x, h0=None) -> (output, h_n)``; shapes in ``forward``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False) -> None:
        self.nonlinearity = one_of("nn.RNN", "nonlinearity", nonlinearity, ("tanh", "relu"))
        super().__init__(_RNNLayerCell, input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, nonlinearity=self.nonlinearity)


class LSTM(_BuiltinLayer):
    """Long short-term memory, stacked and optionally bidirectional (gates i, f, g, o)::

        i, f, g, o = chunk(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh, 4)
        c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
        h_t = sigmoid(o) * tanh(c_t)            (then h_t W_hr^T if proj_size > 0)

    Arguments: input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    dropout=0.0, bidirectional=False, proj_size=0 (as torch).
    ``lstm(x, (h0, c0)=None) -> (output, (h_n, c_n))``; shapes in ``forward``.
    """

    kind = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0) -> None:
        hidden_size = size("nn.LSTM", "hidden_size", hidden_size, minimum=1)
        self.proj_size = size("nn.LSTM", "proj_size", proj_size)
        if self.proj_size >= hidden_size:
            raise ValueError(f"nn.LSTM: proj_size must be in [0, hidden_size), "
                             f"got {proj_size} with hidden_size {hidden_size}")
        super().__init__(_LSTMLayerCell, input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size=self.proj_size)


class GRU(_BuiltinLayer):
    """Gated recurrent unit, stacked and optionally bidirectional (gates r, z, n)::

        r = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        z = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))
        h_t = (1 - z) * n + z * h_{t-1}

    Arguments: input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    dropout=0.0, bidirectional=False (as torch).
    ``gru(x, h0=None) -> (output, h_n)``; shapes in ``forward``.
    """

    kind = "GRU"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0) -> None:
        if size("nn.GRU", "proj_size", proj_size):  # (torch's words)
            raise ValueError("nn.GRU: proj_size argument is only supported for LSTM, "
                             "not RNN or GRU")
        super().__init__(_GRULayerCell, input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional)
