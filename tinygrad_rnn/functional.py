"""Losses and activations composed from ops only, with torch.nn.functional's names.

Nothing here writes a gradient: every function is a few lines of ``Tensor``
operations, so ``backward`` is the engine's own, and the gradient checks of
the ops carry over. Arguments that torch accepts positionally after the
first two (``reduction``, ``ignore_index``, ...) are keyword-only here, so a
positional argument can never land in the wrong slot.

``reduction`` follows torch: ``'none'`` keeps one loss per element (per
sample for cross_entropy), ``'sum'`` adds them, ``'mean'`` averages them. An
axis is ``dim``, as torch; numpy's name ``axis`` means the same (dims.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .arguments import describe, flag, is_int, probability
from .dims import check_dim, resolve_dim
from .ops import Embedding, Linear
from .rng import generator
from .tensor import ShapeError, Tensor

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

    from .tensor import TensorLike

_REDUCTIONS = ("mean", "sum", "none")


def _tensor(x: TensorLike) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _argument(fn: str, name: str, value: TensorLike, dtype: DTypeLike | None = None) -> Tensor:
    """``value`` as a Tensor (in ``dtype``), or refused in ``fn``'s words, naming it."""
    if isinstance(value, Tensor):
        return value
    try:
        return Tensor(value, dtype=dtype)
    except (TypeError, ValueError) as err:
        said = str(err).removeprefix("Tensor: data ")
        raise type(err)(f"{fn}: {name} {said}") from None


def _check_reduction(fn: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be one of 'mean', 'sum', 'none', "
                         f"got {reduction!r}")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


# --------------------------------------------------------------------------- activations


def log_softmax(input: TensorLike, dim: int | None = None, *,
                axis: int | None = None) -> Tensor:
    """log_softmax(x)_i = z_i - log(sum_j exp(z_j)),  z = x - max(x)  along ``dim``
    (default -1, the last axis; numpy's name ``axis=`` also works).

    Subtracting the max (a constant: it carries no gradient, and the result does
    not depend on it) keeps exp() from overflowing, so logits of size 1000 give
    finite values and gradients. As torch: a 0-d input is one logit (dim 0 or -1),
    and an empty input gives an empty output. Refuses a dim out of range or not an
    int (dims.check_dim).
    """
    x, dim = _softmax_input("log_softmax", input, dim, axis)
    if x.ndim == 0 or x.size == 0:
        return _softmax_of_nothing(x, dim, log=True)
    z = x - Tensor(np.max(x.data, axis=dim, keepdims=True))
    return z - z.exp().sum(dim=dim, keepdim=True).log()


def softmax(input: TensorLike, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """softmax(x)_i = exp(z_i) / sum_j exp(z_j),  z = x - max(x)  along ``dim``
    (default -1, the last axis; numpy's name ``axis=`` also works). A 0-d or empty
    input as log_softmax."""
    x, dim = _softmax_input("softmax", input, dim, axis)
    if x.ndim == 0 or x.size == 0:
        return _softmax_of_nothing(x, dim, log=False)
    e = (x - Tensor(np.max(x.data, axis=dim, keepdims=True))).exp()
    return e / e.sum(dim=dim, keepdim=True)


def _softmax_input(fn: str, input: TensorLike, dim: int | None,
                   axis: int | None) -> tuple[Tensor, int]:
    x = _tensor(input)
    return x, check_dim(fn, resolve_dim(fn, dim, axis, -1), x.shape, scalar_ok=True)


def _softmax_of_nothing(x: Tensor, dim: int, log: bool) -> Tensor:
    """softmax of a 0-d tensor (one logit: probability 1, log 0), or of an empty one
    (an empty result, without a max over nothing), with gradients as torch's."""
    if x.ndim == 0:
        return (log_softmax if log else softmax)(x.reshape(1), dim=0).reshape(())
    return x * 0.0  # (empty: the values do not matter, the shape and the graph do)


def dropout(input: TensorLike, p: float = 0.5, training: bool = True) -> Tensor:
    """out = x * m / (1 - p),  m_i ~ Bernoulli(1 - p)  (inverted dropout, as torch).

    Each element is zeroed with probability ``p`` and the survivors are scaled
    by 1 / (1 - p), so E[out] = x. With ``training=False`` or ``p=0`` the input
    is returned unchanged; ``p=1`` zeroes everything. The mask comes from the
    package's generator, so ``tr.manual_seed(n)`` makes it reproducible.
    """
    p = probability("dropout", "p", p)
    training = flag("dropout", "training", training)
    x = _tensor(input)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * Tensor(np.zeros(x.shape, dtype=x.dtype))
    keep = generator().random(x.shape) >= p
    return x * Tensor((keep / (1.0 - p)).astype(x.dtype))


def linear(input: TensorLike, weight: TensorLike, bias: TensorLike | None = None) -> Tensor:
    """out = x @ weight^T + bias, one node (``ops.Linear``).

    Shapes: x (*, in_features), weight (out_features, in_features),
    bias (out_features,) or None; out (*, out_features).
    """
    x, w = _tensor(input), _tensor(weight)
    return Linear.apply(x, w) if bias is None else Linear.apply(x, w, _tensor(bias))


def embedding(input: TensorLike, weight: TensorLike, padding_idx: int | None = None) -> Tensor:
    """Rows ``input`` of ``weight``: integer indices (...) -> (..., embedding_dim).

    ``padding_idx`` (negative counts from the end) names a row that is read
    like any other but gets no gradient, as torch. An index used twice gets the
    sum of both gradients. Refused: indices that are not integers (floats with
    a fraction, NaN, bools, strings: TypeError) or out of [0, num_embeddings)
    (IndexError, as torch: negative indices do not count from the end).
    """
    w = _tensor(weight)
    if w.ndim != 2:
        raise ShapeError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), "
                         f"got shape {w.shape}")
    n = w.shape[0]
    idx = embedding_indices("embedding", input, n)
    return Embedding.apply(w, indices=idx, padding_idx=padding_row(padding_idx, n, "embedding"))


def embedding_indices(name: str, input: TensorLike, num_embeddings: int) -> np.ndarray:
    """``input`` as an integer index array, every index in [0, num_embeddings).

    A float array whose values are all integers passes (``Tensor([1, 2])`` stores
    its integers as floats); bools do not (torch refuses them too).
    """
    try:
        idx = np.asarray(input.data if isinstance(input, Tensor) else input)
    except (TypeError, ValueError):  # a ragged list: numpy's "inhomogeneous shape"
        raise TypeError(f"{name}: indices must be an integer array, got a ragged "
                        f"nested list") from None
    if idx.dtype.kind == "f" and np.all(idx == np.round(idx)):
        idx = idx.astype(np.intp)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{name}: indices must be integers, got dtype {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= num_embeddings):
        raise IndexError(f"{name}: indices must lie in [0, {num_embeddings}), "
                         f"got values from {idx.min()} to {idx.max()}")
    return idx


def padding_row(padding_idx: int | None, num_embeddings: int, name: str) -> int | None:
    """``padding_idx`` as a row number in [0, num_embeddings) (None stays None); an int,
    not a bool or a float."""
    if padding_idx is None:
        return None
    if not is_int(padding_idx):
        raise TypeError(f"{name}: padding_idx must be an int or None, got {describe(padding_idx)}")
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"{name}: padding_idx must lie in [-{num_embeddings}, "
                         f"{num_embeddings}), got {padding_idx}")
    return int(padding_idx) % num_embeddings


# --------------------------------------------------------------------------- losses


def mse_loss(input: TensorLike, target: TensorLike, *, reduction: str = "mean") -> Tensor:
    """loss_i = (input_i - target_i)^2, then reduced ('mean' divides by the element count).

    ``input`` and ``target`` must have the same shape (torch only warns and
    broadcasts, which silently computes something else). ``target`` may be a
    Tensor that requires grad; gradients then flow to both. A target given as a
    plain array takes the input's dtype, so a float32 model keeps a float32 loss.
    """
    _check_reduction("mse_loss", reduction)
    x = _tensor(input)
    y = _argument("mse_loss", "target", target, dtype=x.dtype)
    if x.shape != y.shape:
        raise ShapeError(f"mse_loss: input shape {x.shape} and target shape {y.shape} differ; "
                         f"they must be equal")
    diff = x - y
    return _reduce(diff * diff, reduction)


def _class_targets(fn: str, target: TensorLike, input_shape: tuple,
                   ignore_index: int) -> np.ndarray:
    """Integer class indices of the shape the input calls for, every one in range."""
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{fn}: target must hold integer class indices, got dtype {t.dtype} "
                        f"(class-probability targets are not supported)")
    expected = () if len(input_shape) == 1 else (input_shape[0],) + tuple(input_shape[2:])
    if t.shape != expected:
        raise ShapeError(f"{fn}: input of shape {input_shape} needs a target of shape "
                         f"{expected}, got {t.shape}")
    n_classes = input_shape[0] if len(input_shape) == 1 else input_shape[1]
    bad = (t != ignore_index) & ((t < 0) | (t >= n_classes))
    if bad.any():
        raise IndexError(f"{fn}: target {t[bad].flat[0]} is out of range for {n_classes} "
                         f"classes (valid: 0 .. {n_classes - 1})")
    return t


def cross_entropy(input: TensorLike, target: TensorLike, weight: TensorLike | None = None, *,
                  ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """loss_n = -weight[t_n] * log_softmax(input_n)[t_n]  for each sample n, as torch.

    Arguments:
        input: logits of shape (C,), (N, C) or (N, C, d1, d2, ...).
        target: integer class indices (numpy array or integer Tensor) of shape
            (), (N,) or (N, d1, d2, ...), each in [0, C) or equal to ``ignore_index``.
        weight: optional per-class weights of shape (C,).
        ignore_index: samples with this target add nothing and are not counted.
        reduction: 'mean' = sum_n loss_n / sum_n weight[t_n] over the samples
            not ignored (the plain mean without ``weight``), 'sum', or 'none'
            (a loss of the target's shape, 0 where ignored). As torch, a 'mean'
            over no sample (all ignored, or a batch of 0) is nan, while the
            gradient of every ignored sample is 0.
        label_smoothing: eps in [0, 1]: the target is (1 - eps) on the true class
            plus eps/C on every class, so the loss is (1 - eps) * the above +
            eps/C * (-sum_c weight[c] * log_softmax(input_n)[c]), reduced the
            same way (torch's formula, and its order of operations).

    Computed through ``log_softmax``, so logits of any magnitude stay finite.
    """
    fn = "cross_entropy"
    _check_reduction(fn, reduction)
    label_smoothing = probability(fn, "label_smoothing", label_smoothing)
    if not is_int(ignore_index):
        raise TypeError(f"{fn}: ignore_index must be an int, got {describe(ignore_index)}")
    x = _tensor(input)
    if x.ndim == 0:
        raise ShapeError(f"{fn}: input must have shape (C,), (N, C) or (N, C, d1, ...), "
                         f"got a 0-d tensor")
    t = _class_targets(fn, target, x.shape, ignore_index)
    class_axis = 0 if x.ndim == 1 else 1
    n_classes = x.shape[class_axis]
    logp = log_softmax(x, dim=class_axis)
    if x.ndim > 2:  # (N, C, d1, ...) -> (N * d1 * ..., C), the classes last
        perm = (0,) + tuple(range(2, x.ndim)) + (1,)
        logp = logp.permute(perm).reshape(-1, n_classes)
    rows = logp.reshape(-1, n_classes)
    flat_t = t.reshape(-1)
    keep = flat_t != ignore_index
    safe_t = np.where(keep, flat_t, 0)  # any valid index; these rows get weight 0
    w = (np.ones(n_classes, dtype=x.dtype) if weight is None
         else _weights(fn, weight, n_classes, x.dtype))
    sample_w = np.where(keep, w[safe_t], 0).astype(x.dtype)
    # torch's mean divides by the total weight of the counted samples (nan when none)
    total_w = np.asarray(sample_w.sum(), dtype=x.dtype)
    picked = rows[np.arange(rows.shape[0]), safe_t]
    loss = _reduce_samples(-(picked * Tensor(sample_w)), reduction, t.shape, total_w, keep)
    if label_smoothing == 0.0:
        return loss
    # every class's share: -sum_c w_c log p_c per sample, 0 for an ignored one
    smooth = -((rows * Tensor(w)).sum(dim=1)) * Tensor(keep.astype(x.dtype))
    smooth = _reduce_samples(smooth, reduction, t.shape, total_w, keep)
    return loss * (1.0 - label_smoothing) + smooth * (label_smoothing / n_classes)


def _reduce_samples(losses: Tensor, reduction: str, shape: tuple, total_weight: np.ndarray,
                    counted: np.ndarray) -> Tensor:
    """Per-sample losses (flat) reduced: 'none' in the target's shape, 'sum', or 'mean'
    as the sum divided by the total weight of the samples ``counted`` (not ignored)."""
    if reduction == "none":
        return losses.reshape(shape)
    if reduction == "sum":
        return losses.sum()
    if total_weight != 0:
        return losses.sum() / Tensor(total_weight)
    # Nothing weighed (every sample ignored: a fully padded batch; or the counted ones of
    # weight 0). As torch: the loss is 0 / 0 = nan, but an ignored sample's gradient is 0,
    # so the model's gradients stay finite, and a counted one's is w / 0 = nan. (Spelled
    # without a division by zero, which numpy would warn about.)
    dtype = total_weight.dtype
    per_sample = Tensor(np.where(counted, np.nan, 0.0).astype(dtype))
    return (losses * per_sample).sum() + Tensor(np.asarray(np.nan, dtype=dtype))


def _weights(fn: str, weight: TensorLike, n_classes: int, dtype: DTypeLike) -> np.ndarray:
    w = weight.data if isinstance(weight, Tensor) else np.asarray(weight)
    if w.shape != (n_classes,):
        raise ShapeError(f"{fn}: weight must have shape ({n_classes},), one per class, "
                         f"got {w.shape}")
    return w.astype(dtype)
