"""The seed notebook's hand-written RNN training step, exactly as written, and corrected.

The notebook (column vectors, one input, hidden size 4, three time steps):

    h_t = tanh(W_x x_t + W_h h_{t-1} + b_h),    y_t = W_y h_t + b_y
    loss = (1/T) sum_t mean((y_t - target_t)**2)              # what it prints

and its BPTT, which has two mistakes a gradient check finds at once:

1. ``dh_raw = dh * dtanh(h_t)`` with ``dtanh(x) = 1 - tanh(x)**2``. But h_t is
   already tanh(a_t), so this evaluates tanh' at the wrong place: it computes
   1 - tanh(tanh(a_t))**2. The factor must be ``1 - h_t**2``.
2. ``dy = y_t - target_t`` is the gradient of ``0.5 * sum_t (y_t - target_t)**2``,
   not of the mean it prints: that gradient is ``2 (y_t - target_t) / T``, so
   every gradient is off by the constant factor 2/T (x 0.667 for T = 3).

``notebook_bptt(..., faithful=True)`` reproduces both; ``faithful=False`` is
the corrected derivation, which agrees with autograd.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PARAM_NAMES = ("W_x", "W_h", "W_y", "b_h", "b_y")


def notebook_forward(params: dict, inputs: list) -> tuple:
    """The notebook's forward loop: returns (outputs, hidden states), lists over t."""
    W_x, W_h, W_y, b_h, b_y = (params[n] for n in PARAM_NAMES)
    h_prev = np.zeros((W_h.shape[0], 1))
    outputs, h_states = [], []
    for x_t in inputs:
        h_t = np.tanh(W_x @ x_t + W_h @ h_prev + b_h)
        outputs.append(W_y @ h_t + b_y)
        h_states.append(h_t)
        h_prev = h_t
    return outputs, h_states


def notebook_loss(outputs: list, targets: list) -> float:
    """The loss the notebook prints: the mean over steps of the per-step MSE."""
    return sum(np.mean((y - t) ** 2) for y, t in zip(outputs, targets)) / len(outputs)


def notebook_bptt(params: dict, inputs: list, targets: list, faithful: bool = True, *,
                  dtanh_bug: bool | None = None, scale_bug: bool | None = None,
                  with_steps: bool = False) -> tuple[float, dict[str, np.ndarray]]:
    """One BPTT pass. Returns (printed loss, {name: gradient}).

    faithful=True: the notebook's code line by line, both mistakes included.
    faithful=False: the gradient of the printed loss, derived correctly.
    dtanh_bug, scale_bug: keep or fix one mistake at a time (default: ``faithful``).
    with_steps: also return ``"dh_raw"``, the per-step gradient of the
    pre-activation a_t (what the notebook calls dh_raw), and ``"dh"``, the gradient
    of each h_t (through y_t and through the steps after t), each stacked as (T, H, 1).
    """
    dtanh_bug = faithful if dtanh_bug is None else dtanh_bug
    scale_bug = faithful if scale_bug is None else scale_bug
    W_h, W_y = params["W_h"], params["W_y"]
    outputs, h_states = notebook_forward(params, inputs)
    T = len(inputs)
    grads = {n: np.zeros_like(params[n]) for n in PARAM_NAMES}
    dh_next = np.zeros_like(h_states[0])
    steps: list[Any] = [None] * T  # each step's dh_raw, filled from the last
    dhs: list[Any] = [None] * T    # and its dh
    for t in reversed(range(T)):
        if scale_bug:
            dy = outputs[t] - targets[t]                 # d/dy of 0.5 * (y - target)**2
        else:
            dy = 2.0 * (outputs[t] - targets[t]) / (T * outputs[t].size)   # d/dy of the mean
        grads["W_y"] += dy @ h_states[t].T
        grads["b_y"] += dy
        dh = W_y.T @ dy + dh_next
        dhs[t] = dh
        if dtanh_bug:
            dh_raw = dh * (1 - np.tanh(h_states[t]) ** 2)   # the notebook's dtanh(h_t)
        else:
            dh_raw = dh * (1 - h_states[t] ** 2)            # tanh'(a_t) = 1 - h_t**2
        grads["b_h"] += dh_raw
        steps[t] = dh_raw
        grads["W_x"] += dh_raw @ inputs[t].T
        if t != 0:
            grads["W_h"] += dh_raw @ h_states[t - 1].T
            dh_next = W_h.T @ dh_raw
    if with_steps:
        grads["dh_raw"] = np.stack(steps)
        grads["dh"] = np.stack(dhs)
    return notebook_loss(outputs, targets), grads


def notebook_train(params: dict, inputs: list, targets: list, epochs: int = 1000,
                   learning_rate: float = 0.01, faithful: bool = True,
                   every: int = 100) -> list[tuple[int, float]]:
    """The notebook's training loop (plain SGD). Updates ``params`` in place.

    Returns the list of (epoch, printed loss) every ``every`` epochs, as it prints them.
    """
    history = []
    for epoch in range(epochs):
        loss, grads = notebook_bptt(params, inputs, targets, faithful)
        for name in PARAM_NAMES:
            params[name] -= learning_rate * grads[name]
        if epoch % every == 0:
            history.append((epoch, float(loss)))
    return history
