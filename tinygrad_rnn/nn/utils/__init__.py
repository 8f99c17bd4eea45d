"""Gradient clipping, as torch.nn.utils: in place on each parameter's ``.grad``;
and ``nn.utils.rnn``: batches of sequences of different lengths.

Both functions take a single Tensor or an iterable of them (such as
``model.parameters()``); parameters whose ``grad`` is None are ignored. Their
arguments are checked before any gradient changes: an item that is not a Tensor
is a TypeError, a limit that is NaN or negative a ValueError (torch would turn
every gradient into NaN, or flip its sign).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ...arguments import describe, flag, is_real, number
from ...tensor import Tensor
from . import rnn  # noqa: F401  (torch's nn.utils.rnn: PackedSequence and friends)


def _tensors(where: str, parameters: Any) -> list[Tensor]:
    """``parameters`` as a list of Tensors, or a TypeError naming the first that is not."""
    if isinstance(parameters, Tensor):
        return [parameters]
    if not isinstance(parameters, Iterable) or isinstance(parameters, (str, bytes)):
        raise TypeError(f"{where}: parameters must be a Tensor or an iterable of Tensors, "
                        f"got {describe(parameters)}")
    tensors = list(parameters)
    for i, p in enumerate(tensors):
        if not isinstance(p, Tensor):
            raise TypeError(f"{where}: parameters must be Tensors, got {describe(p)} "
                            f"at position {i}")
    return tensors


def _limit(where: str, name: str, value: Any) -> float:
    """A clipping limit: a real >= 0, inf allowed (no clipping), NaN refused."""
    if is_real(value) and math.isnan(value):
        raise ValueError(f"{where}: {name} must be a number >= 0 (or inf), got nan, "
                         f"which would make every gradient NaN")
    return number(where, name, value, minimum=0.0, finite=False)


def _norm_type(value: Any) -> float:
    """A norm order q > 0, inf, or the string 'inf' (torch accepts it too)."""
    if isinstance(value, str) and value.strip().lower() in ("inf", "infinity"):
        return math.inf
    if isinstance(value, str):
        raise ValueError(f"clip_grad_norm_: norm_type must be a number > 0 or 'inf', "
                         f"got {value!r}")
    q = number("clip_grad_norm_", "norm_type", value, finite=False)
    if not q > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 or inf, got {q}")
    return q


def _grads(parameters: list[Tensor]) -> list[np.ndarray]:
    """The gradient arrays, to be changed in place (a numpy scalar becomes a 0-d array)."""
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
        max_norm: the largest allowed total norm, >= 0 (inf: never clip; NaN and
            negative numbers are refused).
        norm_type: q > 0, or float('inf') (the string 'inf' is accepted too).
        error_if_nonfinite: a bool; if True, raise RuntimeError if the total norm
            is nan or inf (the gradients are then left unchanged).

    Returns:
        the total norm before clipping, as a Python float (0.0 when no
        parameter has a gradient).
    """
    where = "clip_grad_norm_"
    tensors = _tensors(where, parameters)
    max_norm = _limit(where, "max_norm", max_norm)
    norm_type = _norm_type(norm_type)
    error_if_nonfinite = flag(where, "error_if_nonfinite", error_if_nonfinite)
    grads = _grads(tensors)
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
    """Clamp every gradient element into [-clip_value, clip_value], in place.

    ``clip_value`` is a real >= 0 (inf clips nothing); NaN, which would make every
    gradient NaN, and negative values are refused."""
    tensors = _tensors("clip_grad_value_", parameters)
    clip_value = _limit("clip_grad_value_", "clip_value", clip_value)
    for g in _grads(tensors):
        np.clip(g, -clip_value, clip_value, out=g)
