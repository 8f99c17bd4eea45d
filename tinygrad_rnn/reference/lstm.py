"""LSTM, by hand (PyTorch's equations and gate order i, f, g, o).

Forward, for t = 1..T:
    [a_i, a_f, a_g, a_o] = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh
    i = sigmoid(a_i),  f = sigmoid(a_f),  g = tanh(a_g),  o = sigmoid(a_o)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

Backward, for t = T..1, with dh_t and dc_t flowing back from step t+1:
    do   = dh_t * tanh(c_t)
    dc_t = dc_t + dh_t * o * (1 - tanh(c_t)**2)      # c_t reaches L directly and via h_t
    di   = dc_t * g,   dg = dc_t * i,   df = dc_t * c_{t-1}
    dc_{t-1} = dc_t * f
    da_i = di * i (1 - i),  da_f = df * f (1 - f),  da_g = dg * (1 - g**2),  da_o = do * o (1 - o)
    dx_t = da W_ih,   dh_{t-1} = da W_hh,   dW_ih = sum_t da^T x_t,   dW_hh = sum_t da^T h_{t-1}
"""

from __future__ import annotations

import numpy as np

from ..trace import StepGrads
from ._params import per_step_weight_grads, unpack, weight_grads


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * a))  # the same function, no overflow warning


def lstm_forward(params: dict, x: np.ndarray, h0: np.ndarray | None = None,
                 c0: np.ndarray | None = None) -> tuple[np.ndarray, tuple, tuple]:
    """Returns (outputs (T, N, H), (h_T, c_T), cache for lstm_backward)."""
    W_ih, W_hh, b_ih, b_hh = unpack(params)
    T, N, _ = x.shape
    H = W_hh.shape[1]
    hs = np.empty((T + 1, N, H), dtype=x.dtype)
    cs = np.empty((T + 1, N, H), dtype=x.dtype)
    hs[0] = 0.0 if h0 is None else h0
    cs[0] = 0.0 if c0 is None else c0
    gates = np.empty((T, N, 4 * H), dtype=x.dtype)  # activated i, f, g, o
    proj = x @ W_ih.T + b_ih + b_hh
    for t in range(T):
        a = proj[t] + hs[t] @ W_hh.T
        act = gates[t]
        act[:, :2 * H] = _sigmoid(a[:, :2 * H])   # i, f
        act[:, 2 * H:3 * H] = np.tanh(a[:, 2 * H:3 * H])   # g
        act[:, 3 * H:] = _sigmoid(a[:, 3 * H:])   # o
        i, f, g, o = act[:, :H], act[:, H:2 * H], act[:, 2 * H:3 * H], act[:, 3 * H:]
        cs[t + 1] = f * cs[t] + i * g
        hs[t + 1] = o * np.tanh(cs[t + 1])
    return hs[1:], (hs[-1], cs[-1]), (x, hs, cs, gates, W_ih, W_hh)


def lstm_backward(cache: tuple, d_outputs: np.ndarray, d_hn: np.ndarray | None = None,
                  d_cn: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Gradients of every parameter and of x, h0 and c0."""
    x, hs, _, _, W_ih, _ = cache
    _, _, dA, dh0, dc0 = _bptt(cache, d_outputs, d_hn, d_cn)
    grads = weight_grads(dA, x, dA, hs[:-1])
    grads["x"] = dA @ W_ih
    grads["h0"] = dh0
    grads["c0"] = dc0
    return grads


def lstm_step_grads(cache: tuple, d_outputs: np.ndarray, d_hn: np.ndarray | None = None,
                    d_cn: np.ndarray | None = None) -> StepGrads:
    """The same BPTT, step by step, as ``tr.trace.step_grads`` gives autograd's:
    ``dh`` and ``dc`` (T, N, H), the total dL/dh_t and dL/dc_t (dc_t above, after
    h_t's share joined it), ``dpre`` {"i", "f", "g", "o": da of each gate}, and
    ``dparams`` each step's share of every weight and bias gradient, (T, *shape)."""
    x, hs, _, _, _, _ = cache
    dHs, dCs, dA, _, _ = _bptt(cache, d_outputs, d_hn, d_cn)
    H = hs.shape[-1]
    dpre = {gate: dA[..., k * H:(k + 1) * H] for k, gate in enumerate("ifgo")}
    return StepGrads({"h": dHs, "c": dCs}, dpre, per_step_weight_grads(dA, x, dA, hs[:-1]))


def _bptt(cache: tuple, d_outputs: np.ndarray, d_hn: np.ndarray | None,
          d_cn: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """The backward loop: (dh_t, dc_t (T, N, H) and da_t (T, N, 4H) for every t;
    dL/dh0, dL/dc0)."""
    x, hs, cs, gates, W_ih, W_hh = cache
    T = x.shape[0]
    H = hs.shape[-1]
    dA = np.empty_like(gates)
    dHs, dCs = np.empty_like(hs[1:]), np.empty_like(cs[1:])
    dh_next = np.zeros_like(hs[0]) if d_hn is None else d_hn
    dc_next = np.zeros_like(cs[0]) if d_cn is None else d_cn
    for t in reversed(range(T)):
        act = gates[t]
        i, f, g, o = act[:, :H], act[:, H:2 * H], act[:, 2 * H:3 * H], act[:, 3 * H:]
        tanh_c = np.tanh(cs[t + 1])
        dh = dHs[t] = d_outputs[t] + dh_next
        dc = dCs[t] = dc_next + dh * o * (1.0 - tanh_c * tanh_c)
        da = dA[t]
        da[:, :H] = dc * g * i * (1.0 - i)                     # da_i
        da[:, H:2 * H] = dc * cs[t] * f * (1.0 - f)            # da_f
        da[:, 2 * H:3 * H] = dc * i * (1.0 - g * g)            # da_g
        da[:, 3 * H:] = dh * tanh_c * o * (1.0 - o)            # da_o
        dc_next = dc * f
        dh_next = da @ W_hh
    return dHs, dCs, dA, dh_next, dc_next
