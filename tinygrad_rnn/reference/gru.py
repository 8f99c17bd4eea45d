"""GRU, by hand (PyTorch's equations and gate order r, z, n).

Forward, for t = 1..T, with the input part [x_r, x_z, x_n] = x_t W_ih^T + b_ih
and the hidden part [h_r, h_z, h_n] = h_{t-1} W_hh^T + b_hh:
    r = sigmoid(x_r + h_r),   z = sigmoid(x_z + h_z)
    n = tanh(x_n + r * h_n)                   # the reset gate scales W_hn h + b_hn
    h_t = (1 - z) * n + z * h_{t-1}

Backward, for t = T..1:
    dn = dh_t * (1 - z),   dz = dh_t * (h_{t-1} - n)
    da_n = dn * (1 - n**2)                    # gradient of the tanh's argument
    dr = da_n * h_n,       dh_n = da_n * r
    da_r = dr * r (1 - r), da_z = dz * z (1 - z)
    input side  [da_r, da_z, da_n]  -> dW_ih, db_ih, dx_t
    hidden side [da_r, da_z, dh_n]  -> dW_hh, db_hh, and
    dh_{t-1} = dh_t * z + [da_r, da_z, dh_n] W_hh
"""

from __future__ import annotations

import numpy as np

from ..trace import StepGrads
from ._params import per_step_weight_grads, unpack, weight_grads
from .lstm import _sigmoid


def gru_forward(params: dict, x: np.ndarray,
                h0: np.ndarray | None = None) -> tuple[np.ndarray, tuple]:
    """Returns (outputs (T, N, H), cache for gru_backward)."""
    W_ih, W_hh, b_ih, b_hh = unpack(params)
    T, N, _ = x.shape
    H = W_hh.shape[1]
    hs = np.empty((T + 1, N, H), dtype=x.dtype)
    hs[0] = 0.0 if h0 is None else h0
    r_z_n = np.empty((T, N, 3 * H), dtype=x.dtype)
    hidden_n = np.empty((T, N, H), dtype=x.dtype)  # W_hn h_{t-1} + b_hn, needed for dr
    proj = x @ W_ih.T + b_ih
    for t in range(T):
        hp = hs[t] @ W_hh.T + b_hh
        rz = _sigmoid(proj[t, :, :2 * H] + hp[:, :2 * H])
        r, z = rz[:, :H], rz[:, H:]
        n = np.tanh(proj[t, :, 2 * H:] + r * hp[:, 2 * H:])
        hs[t + 1] = (1.0 - z) * n + z * hs[t]
        r_z_n[t, :, :2 * H], r_z_n[t, :, 2 * H:] = rz, n
        hidden_n[t] = hp[:, 2 * H:]
    return hs[1:], (x, hs, r_z_n, hidden_n, W_ih, W_hh)


def gru_backward(cache: tuple, d_outputs: np.ndarray,
                 d_hn: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Gradients of every parameter and of x and h0."""
    x, hs, _, _, W_ih, _ = cache
    _, dA_x, dA_h, dh0 = _bptt(cache, d_outputs, d_hn)
    grads = weight_grads(dA_x, x, dA_h, hs[:-1])
    grads["x"] = dA_x @ W_ih
    grads["h0"] = dh0
    return grads


def gru_step_grads(cache: tuple, d_outputs: np.ndarray,
                   d_hn: np.ndarray | None = None) -> StepGrads:
    """The same BPTT, step by step, as ``tr.trace.step_grads`` gives autograd's:
    ``dh`` (T, N, H) the total dL/dh_t, ``dpre`` {"r", "z", "n": da_r, da_z, da_n} (n's:
    of the tanh's argument x_n + r * h_n), and ``dparams`` each step's share of every
    weight and bias gradient, (T, *shape)."""
    x, hs, _, _, _, _ = cache
    dHs, dA_x, dA_h, _ = _bptt(cache, d_outputs, d_hn)
    H = hs.shape[-1]
    dpre = {gate: dA_x[..., k * H:(k + 1) * H] for k, gate in enumerate("rzn")}
    return StepGrads({"h": dHs}, dpre, per_step_weight_grads(dA_x, x, dA_h, hs[:-1]))


def _bptt(cache: tuple, d_outputs: np.ndarray,
          d_hn: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """The backward loop: (dh_t (T, N, H), the input side's and the hidden side's
    [da_r, da_z, ...] (T, N, 3H) for every t; dL/dh0)."""
    x, hs, r_z_n, hidden_n, W_ih, W_hh = cache
    T = x.shape[0]
    H = hs.shape[-1]
    dA_x = np.empty_like(r_z_n)
    dA_h = np.empty_like(r_z_n)
    dHs = np.empty_like(hs[1:])
    dh_next = np.zeros_like(hs[0]) if d_hn is None else d_hn
    for t in reversed(range(T)):
        r, z, n = r_z_n[t, :, :H], r_z_n[t, :, H:2 * H], r_z_n[t, :, 2 * H:]
        dh = dHs[t] = d_outputs[t] + dh_next
        da_n = dh * (1.0 - z) * (1.0 - n * n)
        da_r = da_n * hidden_n[t] * r * (1.0 - r)
        da_z = dh * (hs[t] - n) * z * (1.0 - z)
        dA_x[t, :, :H], dA_x[t, :, H:2 * H], dA_x[t, :, 2 * H:] = da_r, da_z, da_n
        dA_h[t, :, :2 * H] = dA_x[t, :, :2 * H]
        dA_h[t, :, 2 * H:] = da_n * r
        dh_next = dh * z + dA_h[t] @ W_hh
    return dHs, dA_x, dA_h, dh_next
