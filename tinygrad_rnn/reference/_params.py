"""Reading PyTorch-layout parameters out of a state dict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, DTypeLike

NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def unpack(params: Mapping[str, ArrayLike],
           dtype: DTypeLike | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(W_ih, W_hh, b_ih, b_hh) from a dict keyed ``weight_ih`` or ``weight_ih_l0``.

    Missing biases (a layer built with bias=False) become zeros, whose
    gradients are then computed but belong to no parameter.
    """
    def get(name: str) -> np.ndarray | None:
        for key in (name, name + "_l0"):
            if key in params:
                return np.asarray(params[key])
        return None

    W_ih, W_hh = get("weight_ih"), get("weight_hh")
    if W_ih is None or W_hh is None:
        raise KeyError(f"reference: need weight_ih and weight_hh (or *_l0), got {sorted(params)}")
    b_ih, b_hh = get("bias_ih"), get("bias_hh")
    zeros = np.zeros(W_ih.shape[0], dtype=W_ih.dtype)
    return W_ih, W_hh, zeros if b_ih is None else b_ih, zeros if b_hh is None else b_hh


def weight_grads(dA_x: np.ndarray, x: np.ndarray, dA_h: np.ndarray,
                 h_prev: np.ndarray) -> dict[str, np.ndarray]:
    """Weight and bias gradients of all time steps at once.

    a_t = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh is linear in the weights, so
    dW_ih = sum_t dA_x[t]^T x_t: one matmul over (T*N) rows instead of T small ones.
    """
    def flat(a: np.ndarray) -> np.ndarray:
        return a.reshape(-1, a.shape[-1])

    return {
        "weight_ih": flat(dA_x).T @ flat(x),
        "weight_hh": flat(dA_h).T @ flat(h_prev),
        "bias_ih": flat(dA_x).sum(axis=0),
        "bias_hh": flat(dA_h).sum(axis=0),
    }


def per_step_weight_grads(dA_x: np.ndarray, x: np.ndarray, dA_h: np.ndarray,
                          h_prev: np.ndarray) -> dict[str, np.ndarray]:
    """Each step's share of the weight and bias gradients, (T, *shape) each: the terms
    ``weight_grads`` sums, dW_ih[t] = dA_x[t]^T x_t, dW_hh[t] = dA_h[t]^T h_{t-1}, and
    the biases' dA summed over the batch."""
    return {
        "weight_ih": np.einsum("tng,tni->tgi", dA_x, x),
        "weight_hh": np.einsum("tng,tnh->tgh", dA_h, h_prev),
        "bias_ih": dA_x.sum(axis=1),
        "bias_hh": dA_h.sum(axis=1),
    }
