"""Recurrent cells: one time step each, written from ops only.

The step functions (``rnn_step``, ``lstm_step``, ``gru_step``) are the
recurrences themselves. They take ``xp``, the input's share of the gates
(``x W_ih^T + b_ih``), already computed: a cell computes it for its one step,
while a sequence layer (``recurrent.py``) computes it for all time steps with one
matmul and calls the same step functions, so every equation lives in one place.
Weights follow torch: ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H),
``bias_ih``, ``bias_hh`` (G*H,), gate rows stacked in the order LSTM i, f, g, o
and GRU r, z, n.
"""

from __future__ import annotations

import threading
from collections import namedtuple
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from ..arguments import describe
from ..tensor import ShapeError, Tensor, addcmul, addmm, lerp
from .module import Parameter, check_dtype

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

    from ..tensor import TensorLike
    from ..trace import Recorder

GATES = {"LSTM": ("i", "f", "g", "o"), "GRU": ("r", "z", "n"), "RNN": ()}



class _Tracing(threading.local):
    """While ``tinygrad_rnn.trace`` records in this thread (gate traces, gradient flow,
    the per-step clusters of ``viz.unrolled_dot``), ``recorder`` is its recorder, and
    None otherwise: when nothing records, a step pays one lookup for it. Per thread,
    so that a thread that records sees only its own steps."""

    recorder: Recorder | None = None  # (a class default: a new thread records nothing)


tracing = _Tracing()


class _Reports(threading.local):
    """What ``RecurrentCell.record`` (and the step functions below) do in this thread:
    collect the values while ``tinygrad_rnn.trace`` records a step (``values``), name
    them in the generated code while a layer records its step for replay (``naming``),
    else nothing."""

    values: dict[str, Any] | None = None
    naming = False


reports = _Reports()


def _name_gates(kind: str, values: dict[str, Tensor]) -> None:
    """While a layer records a step function for replay: its gates name their values in
    the generated code, ``i_gate`` to ``o_gate``, ``r_gate`` to ``n_gate``."""
    for gate in GATES[kind]:
        if values[gate].name is None:  # (a stand-in of the recording, nobody else's)
            values[gate].name = f"{gate}_gate"


# --------------------------------------------------------------------------- the recurrences


def _recurrent(h: Tensor, w_hh_t: Tensor, b_hh: Tensor | None) -> Tensor:
    """h W_hh^T + b_hh (the transposed weight is passed in, so a layer transposes once)."""
    return h @ w_hh_t if b_hh is None else addmm(b_hh, h, w_hh_t)


def _preactivation(xp: Tensor, h: Tensor, w_hh_t: Tensor, b_hh: Tensor | None) -> Tensor:
    """xp + h W_hh^T + b_hh: one addmm node when the layer folded b_hh into xp."""
    return addmm(xp, h, w_hh_t) if b_hh is None else xp + _recurrent(h, w_hh_t, b_hh)


def rnn_step(xp: Tensor, h: Tensor, w_hh_t: Tensor, b_hh: Tensor | None = None,
             nonlinearity: str = "tanh") -> Tensor:
    """h' = act(xp + h W_hh^T + b_hh),  xp = x W_ih^T + b_ih,  act = tanh or relu."""
    pre = _preactivation(xp, h, w_hh_t, b_hh)
    h_new = pre.tanh() if nonlinearity == "tanh" else pre.relu()
    if (recorder := tracing.recorder) is not None:
        recorder.step("RNN", (xp, h, w_hh_t, b_hh), {"h": h}, h=h_new)
    return h_new


def lstm_step(xp: Tensor, h: Tensor, c: Tensor, w_hh_t: Tensor, b_hh: Tensor | None = None,
              w_hr_t: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """i, f, g, o = chunk(xp + h W_hh^T + b_hh, 4),  xp = x W_ih^T + b_ih
    c' = sigmoid(f) * c + sigmoid(i) * tanh(g);   h' = sigmoid(o) * tanh(c')
    and with a projection (torch's proj_size):  h' = h' W_hr^T."""
    i, f, g, o = _preactivation(xp, h, w_hh_t, b_hh).chunk(4, dim=-1)
    i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
    c_new = addcmul(f * c, i, g)  # f * c + i * g in one node
    h_new = o * c_new.tanh()
    if w_hr_t is not None:
        h_new = h_new @ w_hr_t
    if (recorder := tracing.recorder) is not None:
        recorder.step("LSTM", (xp, h, c, w_hh_t, b_hh, w_hr_t), {"h": h, "c": c},
                       i=i, f=f, g=g, o=o, c=c_new, h=h_new)
    elif reports.naming:
        _name_gates("LSTM", {"i": i, "f": f, "g": g, "o": o})
    return h_new, c_new


def gru_inputs(xp: Tensor, w_hh: Tensor,
               b_hh: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None]:
    """What ``gru_step`` takes, from xp = x W_ih^T + b_ih (of one step or of all steps
    of a sequence) and the recurrent weight and bias: (x_rz, x_n, w_rz^T, w_n^T, b_hn).

    x_rz, x_n = split(xp, [2H, H]), and b_hr, b_hz (which add to x_rz before anything
    else touches it) join x_rz here, so that a step's r and z come from one addmm: a
    sequence layer pays this add once, not at every step. W_hh is split by rows and
    each part transposed: the layout ``W_hh.T`` has, which the matmuls are fastest with.
    """
    hidden = w_hh.shape[-1]
    x_rz, x_n = xp.split([2 * hidden, hidden], dim=-1)
    w_rz, w_n = w_hh.split([2 * hidden, hidden], dim=0)
    b_hn = None
    if b_hh is not None:
        b_rz, b_hn = b_hh.split([2 * hidden, hidden], dim=0)
        x_rz = x_rz + b_rz
    return x_rz, x_n, w_rz.T, w_n.T, b_hn


def gru_step(x_rz: Tensor, x_n: Tensor, h: Tensor, w_rz_t: Tensor, w_n_t: Tensor,
             b_hn: Tensor | None = None) -> Tensor:
    """r, z = chunk(sigmoid(x_rz + h W_hrz^T), 2)   (both gates at once; x_rz, x_n: gru_inputs)
    n = tanh(x_n + r * (h W_hn^T + b_hn))    (the reset gate scales W_hn h + b_hn, as torch)
    h' = n + z * (h - n)        (= (1 - z) * n + z * h, in torch's own arithmetic)"""
    r, z = addmm(x_rz, h, w_rz_t).sigmoid().chunk(2, dim=-1)
    n = addcmul(x_n, r, _recurrent(h, w_n_t, b_hn)).tanh()
    h_new = lerp(n, h, z)  # n + z * (h - n) in one node
    if (recorder := tracing.recorder) is not None:
        recorder.step("GRU", (x_rz, x_n, h, w_rz_t, w_n_t, b_hn), {"h": h},
                       r=r, z=z, n=n, h=h_new)
    elif reports.naming:
        _name_gates("GRU", {"r": r, "z": z, "n": n})
    return h_new


# --------------------------------------------------------------------------- gate views

GateGrad = namedtuple("GateGrad", ["weight_ih", "weight_hh", "bias_ih", "bias_hh"])


class _GateRows:
    """A ``GateView`` attribute named after a parameter (``weight_ih``, ...): the gate's
    rows of that parameter's ``.data``, None for a layer without it."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.field = name

    @overload
    def __get__(self, view: None, owner: type) -> _GateRows: ...
    @overload
    def __get__(self, view: GateView, owner: type | None = None) -> np.ndarray | None: ...

    def __get__(self, view: GateView | None, owner: type | None = None) -> object:
        if view is None:  # looked up on the class (help(), a docs tool): the descriptor
            return self
        return view._rows_of(self.field, "data")


class GateView:
    """The rows of one gate in ``weight_ih``, ``weight_hh``, ``bias_ih`` and ``bias_hh``.

    Each attribute is a writable numpy view of the parameter's ``.data`` (None
    for a layer without bias), read at access time, so
    ``lstm.gate("f").bias_ih[:] = 1.0`` sets the forget-gate bias. ``.grad``
    gives the same rows of each parameter's ``.grad`` (None where there is none yet).
    """

    def __init__(self, name: str, rows: slice, params: dict[str, Parameter | None]) -> None:
        self.name, self.rows, self._params = name, rows, params

    def _rows_of(self, field: str, attr: str) -> np.ndarray | None:
        p = self._params[field]
        array = None if p is None else getattr(p, attr)
        return None if array is None else array[self.rows]

    weight_ih = _GateRows()
    weight_hh = _GateRows()
    bias_ih = _GateRows()
    bias_hh = _GateRows()

    @property
    def grad(self) -> GateGrad:
        return GateGrad(*(self._rows_of(f, "grad") for f in GateGrad._fields))

    def __repr__(self) -> str:
        return f"GateView({self.name!r}, rows {self.rows.start}:{self.rows.stop})"


def gate_view(names: tuple[str, ...], owner: str, gate: str, hidden_size: int,
              params: dict[str, Parameter | None]) -> GateView:
    """The view of gate ``gate`` for a cell or layer whose row blocks are ``names``
    (in order, each ``hidden_size`` rows)."""
    if not isinstance(gate, str):
        raise TypeError(f"{owner}: the gate name must be a str such as {names[0]!r}, "
                        f"got {describe(gate)}" if names else
                        f"{owner}: the gate name must be a str, got {describe(gate)}")
    if not names:
        raise ValueError(f"{owner} has no gates: its rows are one block (gate views exist "
                         f"for cells with gates, such as LSTM's i, f, g, o and GRU's r, z, n)")
    if gate not in names:
        raise ValueError(f"{owner}: unknown gate {gate!r}; its gates are {', '.join(names)}")
    k = names.index(gate)
    return GateView(gate, slice(k * hidden_size, (k + 1) * hidden_size), params)


# --------------------------------------------------------------------------- input checks


def as_tensor(name: str, what: str, value: Any) -> Tensor:
    """``value`` as a Tensor, or a TypeError naming the layer and the argument (rather
    than the Tensor constructor's or numpy's words about None, strings or ragged lists)."""
    if isinstance(value, Tensor):
        return value
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{name}: the {what} must be a Tensor or an array of numbers, "
                        f"got {describe(value)}")
    try:
        return Tensor(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name}: the {what} must be a Tensor or an array of numbers, "
                        f"got {describe(value)} ({error})") from None


def checked_input(name: str, x: TensorLike, input_size: int, ndims: tuple[int, ...],
                  expected: str, dtype: DTypeLike) -> Tensor:
    """``x`` as a Tensor, after the checks a cell and a layer share: its number of
    dimensions (one of ``ndims``; ``expected`` says which shapes in words), its
    last axis, which must be ``input_size`` (the error names both sizes), and its
    dtype, which must be the parameters' ``dtype``."""
    x = as_tensor(name, "input", x)
    if x.ndim not in ndims:
        raise ShapeError(f"{name}: expected {expected}, got shape {x.shape}")
    if x.shape[-1] != input_size:
        raise ShapeError(f"{name}: expected input with {input_size} features (input_size), "
                         f"got {x.shape[-1]} (input shape {x.shape})")
    check_dtype(name, "input", x, dtype)
    return x


def checked_states(name: str, what: str, given: Any, expected: dict[str, tuple[int, ...]],
                   dtype: DTypeLike) -> list[Tensor]:
    """The given state(s) as Tensors of the ``expected`` shapes ({label: shape}) and of
    the parameters' ``dtype``: one state alone (not in a tuple, as torch), or a tuple in
    the labels' order (LSTM's (h, c))."""
    labels = list(expected)
    if len(labels) == 1:
        if isinstance(given, tuple):  # (h,): torch refuses it too; a list is array data
            raise TypeError(f"{name}: the {what} must be one tensor {labels[0]}, "
                            f"not a tuple of {len(given)}")
        states = [given]
    else:
        states = given
        if not isinstance(states, (tuple, list)) or len(states) != len(labels):
            got = (f"a {type(given).__name__} of {len(given)}"
                   if isinstance(given, (tuple, list)) else describe(given))
            raise TypeError(f"{name}: the {what} must be a tuple ({', '.join(labels)}), "
                            f"got {got}")
    states = [as_tensor(name, f"{what} {label}", s) for label, s in zip(labels, states)]
    for label, s in zip(labels, states):
        if s.shape != expected[label]:
            raise ShapeError(f"{name}: expected {label} of shape {expected[label]}, "
                             f"got {s.shape}")
        check_dtype(name, f"{what} {label}", s, dtype)
    return states
