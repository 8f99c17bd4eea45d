"""Elman RNN (tanh), by hand.

Forward, for t = 1..T:
    a_t = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh
    h_t = tanh(a_t)

Backward (BPTT), for t = T..1, with dh_t = dL/dh_t from the output at t plus
what flows back from step t+1:
    da_t     = dh_t * (1 - h_t**2)         # tanh' written with the OUTPUT h_t
    dx_t     = da_t W_ih
    dh_{t-1} += da_t W_hh                  # the recurrence: h_{t-1} fed a_t
    dW_ih    = sum_t da_t^T x_t,   dW_hh = sum_t da_t^T h_{t-1}
    db_ih    = db_hh = sum_t sum_n da_t
"""

from __future__ import annotations

import numpy as np

from ..trace import StepGrads
from ._params import per_step_weight_grads, unpack, weight_grads


def rnn_forward(params: dict, x: np.ndarray,
                h0: np.ndarray | None = None) -> tuple[np.ndarray, tuple]:
    """Returns (outputs (T, N, H), cache for rnn_backward)."""
    W_ih, W_hh, b_ih, b_hh = unpack(params)
    T, N, _ = x.shape
    H = W_hh.shape[1]
    h = np.zeros((N, H), dtype=x.dtype) if h0 is None else h0
    proj = x @ W_ih.T + b_ih + b_hh  # the input part of every a_t, in one matmul
    hs = np.empty((T + 1, N, H), dtype=x.dtype)  # hs[0] = h0, hs[t+1] = h_t
    hs[0] = h
    for t in range(T):
        hs[t + 1] = np.tanh(proj[t] + hs[t] @ W_hh.T)
    return hs[1:], (x, hs, W_ih, W_hh)


def rnn_backward(cache: tuple, d_outputs: np.ndarray,
                 d_hn: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Gradients of every parameter and of x and h0, given dL/d(outputs) and dL/dh_T."""
    x, hs, W_ih, W_hh = cache
    _, dA, dh0 = _bptt(cache, d_outputs, d_hn)
    grads = weight_grads(dA, x, dA, hs[:-1])
    grads["x"] = dA @ W_ih
    grads["h0"] = dh0
    return grads


def rnn_step_grads(cache: tuple, d_outputs: np.ndarray,
                   d_hn: np.ndarray | None = None) -> StepGrads:
    """The same BPTT, step by step, as ``tr.trace.step_grads`` gives autograd's:
    ``dh`` (T, N, H) the total dL/dh_t, ``dpre["h"]`` the da_t above, and ``dparams``
    each step's share of every weight and bias gradient, (T, *shape)."""
    x, hs, _, _ = cache
    dh, dA, _ = _bptt(cache, d_outputs, d_hn)
    return StepGrads({"h": dh}, {"h": dA}, per_step_weight_grads(dA, x, dA, hs[:-1]))


def _bptt(cache: tuple, d_outputs: np.ndarray,
          d_hn: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The backward loop: (dh_t and da_t for every t, (T, N, H) each; dL/dh0)."""
    x, hs, W_ih, W_hh = cache
    T = x.shape[0]
    dA = np.empty_like(d_outputs)
    dHs = np.empty_like(d_outputs)
    dh_next = np.zeros_like(hs[0]) if d_hn is None else d_hn
    for t in reversed(range(T)):
        dh = dHs[t] = d_outputs[t] + dh_next
        h = hs[t + 1]
        dA[t] = dh * (1.0 - h * h)
        dh_next = dA[t] @ W_hh
    return dHs, dA, dh_next
