"""Gradient clipping, as torch.nn.utils: in place on each parameter's ``.grad``;
and ``nn.utils.rnn``: batches of sequences of different lengths.

Both functions take a single Tensor or an iterable of them (such as
``model.parameters()``); parameters whose ``grad`` is None are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ...tensor import Tensor
from . import rnn  # noqa: F401  (torch's nn.utils.rnn: PackedSequence and friends)


def _grads(parameters: Tensor | Iterable[Tensor]) -> list[np.ndarray]:
    """The gradient arrays, to be changed in place (a numpy scalar becomes a 0-d array)."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = []
    for p in parameters:
        if p.grad is None:
            continue
        if not isinstance(p.grad, np.ndarray):
            p.grad = np.array(p.grad)
        grads.append(p.grad)
    return grads


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float | str = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    total = || (||g_1||_q, ||g_2||_q, ...) ||_q  over all gradients, q = norm_type
    (for q = inf: the largest |g| element). If total > max_norm, every gradient is
    multiplied by max_norm / (total + 1e-6), torch's rule; otherwise nothing changes.

    Arguments:
        parameters: a Tensor or an iterable of Tensors.
        max_norm: the largest allowed total norm.
        norm_type: q > 0, or float('inf') (the string 'inf' is accepted too).
        error_if_nonfinite: raise RuntimeError if the total norm is nan or inf
            (the gradients are then left unchanged).

    Returns:
        the total norm before clipping, as a Python float (0.0 when no
        parameter has a gradient).
    """
    norm_type = float(norm_type)
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 or inf, got {norm_type}")
    grads = _grads(parameters)
    if not grads:
        return 0.0
    if math.isinf(norm_type):
        norms = [np.max(np.abs(g)) if g.size else 0.0 for g in grads]
        total = float(max(norms))
    else:
        # the norm of the per-tensor norms, as torch computes it
        norms = np.array([np.sum(np.abs(g.astype(np.float64)) ** norm_type) ** (1.0 / norm_type)
                          for g in grads])
        total = float(np.sum(norms ** norm_type) ** (1.0 / norm_type))
    if not math.isfinite(total) and error_if_nonfinite:
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the "
                           f"gradients is {total}, so they cannot be clipped")
    # (a total of nan or inf: torch scales by max_norm / total, the gradients become nan or 0)
    coef = max_norm / (total + 1e-6)
    if coef < 1.0 or math.isnan(coef):
        for g in grads:
            g *= g.dtype.type(coef)
    return total


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient element into [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for g in _grads(parameters):
        np.clip(g, -clip_value, clip_value, out=g)
