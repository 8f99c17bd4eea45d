"""Real-time recurrent learning (Williams & Zipser, 1989): the gradient of a recurrent
cell's losses by forward mode, step by step, beside backpropagation through time.

A cell maps its state and an input to a new state, s_t = step(s_{t-1}, x_t; theta).
BPTT runs the whole sequence, keeps every step's values, and walks back from the
losses: memory grows with T. RTRL instead carries the **sensitivities**
S_t = d s_t / d theta (one matrix per state tensor: every state element against every
parameter element) forward with the state::

    S_t = (d step / d s) S_{t-1} + d step / d theta,        S_0 = 0

and at each step adds the loss's share of the gradient, dL_t/d theta = dL_t/d s_t S_t.
Nothing of the past is kept: memory is the sensitivities, O(H P) for H state elements
and P parameter elements, whatever T; the price is computing them, P forward-mode
passes of the step per time step.

Both terms of S_t are one Jacobian-vector product: column k of S_t is the jvp of the
step with tangent column k of S_{t-1} on the state and the k-th unit vector on the
parameters (``tr.func.jvp``, through the cell's own ops, run one by one).

- ``RTRL(cell, loss_fn)``: online, one step at a time: ``online.step(x_t, *args)``
  advances the state and the sensitivities, adds this step's gradient into the cell's
  parameters' ``.grad`` (as ``backward`` would; the loss's own parameters, a read-out
  layer's, get theirs by ordinary backward), and keeps the total so far
  (``online.gradients()``).
- ``gradients(cell, x, loss_fn)``: the gradient of sum_t loss_fn(output_t, t) over a
  whole sequence, equal to BPTT's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import func
from .arguments import describe
from .autograd import enable_grad, no_grad
from .nn.module import Module, Parameter
from .nn.recurrent import RecurrentCell, state_tuple
from .tensor import Tensor

__all__ = ["RTRL", "gradients"]

LossFn = Callable[..., Any]


class RTRL:
    """Online gradients of a cell by real-time recurrent learning (see the module's
    docstring): one time step per ``step`` call, no history kept.

    Arguments:
        cell: an ``nn.RecurrentCell`` (``nn.RNNCell``, ``nn.LSTMCell``, ``nn.GRUCell``
            or a cell of your own).
        loss_fn: ``loss_fn(output, *args)`` gives this step's loss, a one-element Tensor,
            from the step's output (state[0], a Tensor of shape (N, H)) and whatever
            ``step`` is given after x_t (a target, say); None: no loss, only the state
            and sensitivities advance.
        state: the initial state (as the cell takes it), zeros when None. It is a
            constant: its sensitivities start at zero.
        accumulate_grad: add each step's gradient into the cell's parameters' ``.grad``
            (True), or keep it in ``gradients()`` only.
    """

    def __init__(self, cell: RecurrentCell, loss_fn: LossFn | None = None,
                 state: Any = None, accumulate_grad: bool = True) -> None:
        where = "rtrl.RTRL"
        if not isinstance(cell, RecurrentCell):
            raise TypeError(f"{where}: cell must be an nn.RecurrentCell (nn.RNNCell, "
                            f"nn.LSTMCell, nn.GRUCell, or your own), got {describe(cell)}")
        if loss_fn is not None and not callable(loss_fn):
            raise TypeError(f"{where}: loss_fn must be a function loss_fn(output, *args) "
                            f"returning a one-element Tensor, or None, got {describe(loss_fn)}")
        if not isinstance(accumulate_grad, bool):
            raise TypeError(f"{where}: accumulate_grad must be a bool, got "
                            f"{describe(accumulate_grad)}")
        self.cell, self.loss_fn, self.accumulate_grad = cell, loss_fn, accumulate_grad
        named = list(cell.named_parameters())
        self.names = [n for n, _ in named]
        self.parameters: list[Parameter] = [p for _, p in named]
        self.num_parameters = sum(p.size for p in self.parameters)
        self.reset(state)

    # ----------------------------------------------------------------- what it holds
    def reset(self, state: Any = None) -> None:
        """Start a new sequence: the state (zeros when None, set at the first step, when
        the batch size is known), zero sensitivities, zero gradient so far."""
        self.state: tuple[Tensor, ...] | None = None
        self.sensitivities: list[np.ndarray] | None = None
        if state is not None:
            self.state, self.sensitivities = self._start(_as_states(self.cell, state))
        self.grad = np.zeros(self.num_parameters, self._dtype())
        self.steps = 0

    def zero_grad(self) -> None:
        """Forget the gradient so far (the state and sensitivities go on)."""
        self.grad[...] = 0.0

    def gradients(self) -> dict[str, np.ndarray]:
        """The gradient so far of the summed losses, {parameter name: array}, one per
        parameter of the cell (in ``named_parameters`` order)."""
        return dict(zip(self.names, (g.copy() for g in self._split(self.grad))))

    def held_arrays(self) -> list[np.ndarray]:
        """Every array this object holds between steps: the state, the sensitivities
        (one (*state shape, P) array per state tensor) and the gradient so far. Their
        size depends on the state's shape and the number of parameters P, not on how
        many steps were taken."""
        held = [self.grad]
        if self.state is not None and self.sensitivities is not None:
            held += [s.data for s in self.state] + list(self.sensitivities)
        return held

    def _dtype(self) -> np.dtype:
        return self.parameters[0].dtype if self.parameters else np.dtype(np.float64)

    def _start(self, state: tuple[Tensor, ...]) -> tuple[tuple[Tensor, ...], list[np.ndarray]]:
        """A starting state (constants: no graph) and its sensitivities, zero."""
        return (tuple(Tensor(s.data) for s in state),
                [np.zeros(s.shape + (self.num_parameters,), s.dtype) for s in state])

    def _split(self, flat: np.ndarray) -> list[np.ndarray]:
        """A flat vector over all parameter elements as one array per parameter."""
        ends = np.cumsum([p.size for p in self.parameters])[:-1]
        return [part.reshape(p.shape) for part, p in zip(np.split(flat, ends), self.parameters)]

    # ----------------------------------------------------------------- one step
    def step(self, x: Any, *loss_args: Any) -> Tensor | None:
        """Advance one time step on input ``x`` ((N, I), or (I,) unbatched): the new state
        and its sensitivities, then, with a ``loss_fn``, this step's loss
        ``loss_fn(output, *loss_args)`` and its gradient: into the gradient so far, and
        into the cell's parameters' ``.grad`` (with ``accumulate_grad``). The loss is
        differentiated by an ordinary backward from the output, so parameters the loss
        uses itself (a read-out layer's) get their ``.grad`` too.

        Returns the loss (a detached Tensor), or None without a ``loss_fn``.
        """
        x = _as_input(self.cell, x)
        if self.state is None or self.sensitivities is None:
            state, sens = self._start(_zero_state(self.cell, x))
        else:
            state, sens = self.state, self.sensitivities
        state, sens = self._advance(x, state, sens)
        loss = None if self.loss_fn is None else self._learn(state, sens, loss_args)
        self.state, self.sensitivities = state, sens  # (after the loss: a refusal changes nothing)
        self.steps += 1
        return loss

    def _advance(self, x: Tensor, state: tuple[Tensor, ...],
                 sens: list[np.ndarray]) -> tuple[tuple[Tensor, ...], list[np.ndarray]]:
        """(s_t, S_t) from (s_{t-1}, S_{t-1}): one jvp per parameter element k, with
        tangent S_{t-1}[..., k] on the state and the k-th unit vector on the parameters."""
        step = _step_function(self.cell, self.names, x)
        params = tuple(Tensor(p.data) for p in self.parameters)  # (constants: no graph)
        unit = np.zeros(self.num_parameters, self._dtype())
        unit_parts = self._split(unit)  # (views of unit: one per parameter)
        new_sens = [np.empty_like(s) for s in sens]
        new_state: tuple[Tensor, ...] = ()
        with no_grad():
            if self.num_parameters == 0:
                new_state = step(*state)
            for k in range(self.num_parameters):
                unit[k] = 1.0
                tangents = tuple(unit_parts) + tuple(s[..., k] for s in sens)
                new_state, columns = func.jvp(step, params + state, tangents)
                unit[k] = 0.0
                for target, column in zip(new_sens, columns):
                    target[..., k] = column.data
        return tuple(Tensor(s.data) for s in new_state), new_sens

    def _learn(self, state: tuple[Tensor, ...], sens: list[np.ndarray],
               loss_args: Sequence[Any]) -> Tensor:
        """This step's loss, and its gradient dL/d output S_t into the gradient so far."""
        assert self.loss_fn is not None
        output = Tensor(state[0].data, requires_grad=True)
        with enable_grad():
            loss = self.loss_fn(output, *loss_args)
        if not (isinstance(loss, Tensor) and loss.size == 1):
            raise TypeError(f"rtrl.RTRL.step: loss_fn must return a one-element Tensor (a "
                            f"loss), got {describe(loss)}")
        if loss.requires_grad:
            loss.backward()
        if output.grad is not None:  # (None: this loss does not depend on the output)
            step_grad = np.tensordot(np.asarray(output.grad), sens[0], axes=output.ndim)
            self.grad += step_grad
            if self.accumulate_grad:
                for p, g in zip(self.parameters, self._split(step_grad)):
                    p.grad = g.copy() if p.grad is None else p.grad + g
        return loss.detach()


def gradients(cell: RecurrentCell, x: Any, loss_fn: LossFn,
              state: Any = None) -> dict[str, np.ndarray]:
    """The gradient of the summed losses over a whole sequence by RTRL: equal to what
    BPTT (``backward`` of the sum) gives, computed forward, with memory independent of T.

    Arguments:
        cell: an ``nn.RecurrentCell``.
        x: the sequence, (T, N, I), or (T, I) unbatched: a Tensor or an array.
        loss_fn: ``loss_fn(output, t)`` gives step t's loss (a one-element Tensor) from
            that step's output (state[0]).
        state: the initial state, zeros when None.

    Returns {parameter name: gradient array}, as the parameters' ``.grad`` after
    ``sum_t loss_fn(output_t, t)).backward()``; the parameters' ``.grad`` is untouched.
    """
    where = "rtrl.gradients"
    if not callable(loss_fn):
        raise TypeError(f"{where}: loss_fn must be a function loss_fn(output, t) returning "
                        f"a one-element Tensor, got {describe(loss_fn)}")
    data = x.data if isinstance(x, Tensor) else x
    if not isinstance(data, np.ndarray) or data.ndim not in (2, 3):
        got = f"shape {data.shape}" if isinstance(data, np.ndarray) else describe(x)
        raise ValueError(f"{where}: x must be a sequence of shape (T, N, I) or (T, I), "
                         f"got {got}")
    online = RTRL(cell, loss_fn, state=state, accumulate_grad=False)
    for t in range(data.shape[0]):
        online.step(data[t], t)
    return online.gradients()


# --------------------------------------------------------------------------- helpers


def _step_function(cell: RecurrentCell, names: list[str],
                   x: Tensor) -> Callable[..., tuple[Tensor, ...]]:
    """The cell's step on ``x`` as a function of (parameters..., states...), returning
    the new state as a tuple: the cell's own call, on a copy holding the given tensors
    in place of its parameters (so their tangents flow), op by op."""
    count = len(names)

    def step(*tensors: Tensor) -> tuple[Tensor, ...]:
        twin = _with_parameters(cell, names, tensors[:count])
        states = tensors[count:]
        new = twin(x, states[0] if len(states) == 1 else tuple(states))
        return state_tuple(cell, new)
    return step


def _with_parameters(module: Module, names: Sequence[str], values: Sequence[Tensor]) -> Any:
    """A shallow copy of ``module`` (and of each submodule on the way to a dotted name)
    holding ``values`` in place of the parameters named ``names``; ``module`` itself
    is untouched."""
    twin = copy.copy(module)
    children: dict[str, tuple[list[str], list[Tensor]]] = {}
    for name, value in zip(names, values):
        head, _, rest = name.partition(".")
        if rest:
            children.setdefault(head, ([], []))
            children[head][0].append(rest)
            children[head][1].append(value)
        else:
            vars(twin)[name] = value
    for head, (sub_names, sub_values) in children.items():
        vars(twin)[head] = _with_parameters(getattr(module, head), sub_names, sub_values)
    return twin


def _as_input(cell: RecurrentCell, x: Any) -> Tensor:
    """One step's input as a constant Tensor in the cell's dtype ((N, I) or (I,))."""
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    if data.ndim not in (1, 2) or data.shape[-1] != cell.input_size:
        raise ValueError(f"rtrl.RTRL.step: one step's input must have shape "
                         f"(N, {cell.input_size}) or ({cell.input_size},), got shape {data.shape}")
    return Tensor(data.astype(cell.weight_ih.dtype, copy=False))


def _zero_state(cell: RecurrentCell, x: Tensor) -> tuple[Tensor, ...]:
    """The cell's initial state for input ``x`` (unbatched: without the batch axis)."""
    state = state_tuple(cell, cell.initial_state(1 if x.ndim == 1 else x.shape[0]),
                        "initial_state")
    return tuple(s.reshape(s.shape[1:]) for s in state) if x.ndim == 1 else state


def _as_states(cell: RecurrentCell, state: Any) -> tuple[Tensor, ...]:
    """A given initial state (a Tensor or a tuple of them, as the cell takes it)."""
    given = state if isinstance(state, (tuple, list)) else (state,)
    if len(given) != len(cell.state_names):
        raise ValueError(f"rtrl.RTRL: the state must be {len(cell.state_names)} tensor(s) "
                         f"({', '.join(cell.state_names)}), got {len(given)}")
    return tuple(s if isinstance(s, Tensor) else Tensor(np.asarray(s, cell.weight_ih.dtype))
                 for s in given)
