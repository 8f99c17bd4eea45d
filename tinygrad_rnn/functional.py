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

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .arguments import describe, flag, is_int, number, one_of, probability
from .dims import check_dim, resolve_dim
from .ops import BinaryCrossEntropy, Elu, Embedding, Gelu, LeakyRelu, Linear, Softplus
from .rng import generator
from .tensor import ShapeError, Tensor, as_argument

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

    from .tensor import TensorLike

_REDUCTIONS = ("mean", "sum", "none")


def _tensor(x: TensorLike) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


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
    y = as_argument("mse_loss", "target", target, dtype=x.dtype)
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
    x, t = _class_input(fn, input, target, ignore_index)
    logp = log_softmax(x, dim=0 if x.ndim == 1 else 1)
    return _nll(fn, logp, t, weight, ignore_index, reduction, label_smoothing)


def _class_input(fn: str, input: TensorLike, target: TensorLike,
                 ignore_index: int) -> tuple[Tensor, np.ndarray]:
    """(input as a Tensor of shape (C,), (N, C) or (N, C, d1, ...), its checked class
    targets)."""
    if not is_int(ignore_index):
        raise TypeError(f"{fn}: ignore_index must be an int, got {describe(ignore_index)}")
    x = _tensor(input)
    if x.ndim == 0:
        raise ShapeError(f"{fn}: input must have shape (C,), (N, C) or (N, C, d1, ...), "
                         f"got a 0-d tensor")
    return x, _class_targets(fn, target, x.shape, ignore_index)


def _nll(fn: str, logp: Tensor, t: np.ndarray, weight: TensorLike | None, ignore_index: int,
         reduction: str, label_smoothing: float = 0.0) -> Tensor:
    """loss_n = -weight[t_n] * logp_n[t_n] (cross_entropy's and nll_loss's), reduced."""
    class_axis = 0 if logp.ndim == 1 else 1
    n_classes = logp.shape[class_axis]
    if logp.ndim > 2:  # (N, C, d1, ...) -> (N * d1 * ..., C), the classes last
        perm = (0,) + tuple(range(2, logp.ndim)) + (1,)
        logp = logp.permute(perm).reshape(-1, n_classes)
    rows = logp.reshape(-1, n_classes)
    flat_t = t.reshape(-1)
    keep = flat_t != ignore_index
    dtype = logp.dtype
    w = (np.ones(n_classes, dtype=dtype) if weight is None
         else _weights(fn, weight, n_classes, dtype))
    if reduction == "none":  # one loss per sample, 0 for an ignored one
        safe_t = np.where(keep, flat_t, 0)  # any valid index; these rows get weight 0
        sample_w = np.where(keep, w[safe_t], 0).astype(dtype)
        picked = rows[np.arange(rows.shape[0]), safe_t]
        loss = (-(picked * Tensor(sample_w))).reshape(t.shape)
        if label_smoothing == 0.0:
            return loss
        smooth = -((rows * Tensor(w)).sum(dim=1)) * Tensor(keep.astype(dtype))
        return loss * (1.0 - label_smoothing) + smooth.reshape(t.shape) * (label_smoothing
                                                                           / n_classes)
    # Only the counted rows enter the graph: an ignored sample gets no gradient at all, as
    # in torch, even where the upstream gradient is nan or inf (0 * nan would be nan).
    counted = np.flatnonzero(keep)
    sample_w = w[flat_t[counted]]
    # torch's mean divides by the total weight of the counted samples (nan when none)
    total_w = np.asarray(sample_w.sum(), dtype=dtype)
    kept_rows = rows[counted]
    picked = kept_rows[np.arange(len(counted)), flat_t[counted]]
    loss = _reduce_samples(-(picked * Tensor(sample_w)), reduction, total_w)
    if label_smoothing == 0.0:
        return loss
    # every class's share: -sum_c w_c log p_c per counted sample
    smooth = _reduce_samples(-((kept_rows * Tensor(w)).sum(dim=1)), reduction, total_w)
    return loss * (1.0 - label_smoothing) + smooth * (label_smoothing / n_classes)


def _reduce_samples(losses: Tensor, reduction: str, total_weight: np.ndarray) -> Tensor:
    """The counted samples' losses (flat) reduced: 'sum', or 'mean' as the sum divided by
    their total weight."""
    if reduction == "sum":
        return losses.sum()
    if total_weight != 0:
        return losses.sum() / Tensor(total_weight)
    # Nothing weighed (every sample ignored: a fully padded batch; or the counted ones of
    # weight 0). As torch: the loss is 0 / 0 = nan, an ignored sample's gradient is 0 (it
    # is not in the graph), and a counted one's is w / 0 = nan. (Spelled without a
    # division by zero, which numpy would warn about.)
    dtype = total_weight.dtype
    per_sample = Tensor(np.full(losses.shape, np.nan, dtype=dtype))
    return (losses * per_sample).sum() + Tensor(np.asarray(np.nan, dtype=dtype))


def _weights(fn: str, weight: TensorLike, n_classes: int, dtype: DTypeLike) -> np.ndarray:
    w = weight.data if isinstance(weight, Tensor) else np.asarray(weight)
    if w.shape != (n_classes,):
        raise ShapeError(f"{fn}: weight must have shape ({n_classes},), one per class, "
                         f"got {w.shape}")
    return w.astype(dtype)


# --------------------------------------------------------------------------- issue 15 (ops-func)
# Activations, normalisations and losses with torch.nn.functional's names. Where a
# composite of ops is exact and stable it is one (autograd gives its gradient); an
# activation with a kink or an overflow to avoid is one op of its own (ops.py). Masks
# computed from values (which branch of a piecewise loss, which norm is clamped) are
# constants: they carry no gradient, as the branch taken does not in torch.


def softplus(input: TensorLike, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """out = log(1 + exp(beta x)) / beta, or x where beta x > threshold (torch's rule).

    dx = sigmoid(beta x) (1 where linear). Finite for any x (``ops.Softplus``). ``beta``
    is a finite non-zero number (torch's beta=0 divides by zero), ``threshold`` a number.
    """
    beta = number("softplus", "beta", beta)
    if beta == 0:
        raise ValueError("softplus: beta must be non-zero (the output is divided by it), got 0")
    threshold = number("softplus", "threshold", threshold, finite=False)
    return Softplus.apply(_tensor(input), beta=beta, threshold=threshold)


def leaky_relu(input: TensorLike, negative_slope: float = 0.01) -> Tensor:
    """out = x where x > 0, else negative_slope * x; dx at 0 is negative_slope, as torch."""
    slope = number("leaky_relu", "negative_slope", negative_slope)
    return LeakyRelu.apply(_tensor(input), negative_slope=slope)


def elu(input: TensorLike, alpha: float = 1.0) -> Tensor:
    """out = x where x > 0, else alpha * (exp(x) - 1); dx at 0 is alpha, as torch."""
    alpha = number("elu", "alpha", alpha)
    return Elu.apply(_tensor(input), alpha=alpha)


def gelu(input: TensorLike, approximate: str = "none") -> Tensor:
    """out = x * Phi(x), Phi the standard normal CDF (``approximate='none'``, through erf),
    or x / 2 * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (``'tanh'``), as torch."""
    approximate = one_of("gelu", "approximate", approximate, ("none", "tanh"))
    return Gelu.apply(_tensor(input), approximate=approximate)


def silu(input: TensorLike) -> Tensor:
    """out = x * sigmoid(x)  (swish); dx = sigmoid(x) (1 + x (1 - sigmoid(x)))."""
    x = _tensor(input)
    return x * x.sigmoid()


def layer_norm(input: TensorLike, normalized_shape: int | Sequence[int],
               weight: TensorLike | None = None, bias: TensorLike | None = None,
               eps: float = 1e-5) -> Tensor:
    """out = (x - mean) / sqrt(var + eps) * weight + bias over the last
    len(normalized_shape) axes, which must equal ``normalized_shape`` (var the biased
    variance, as torch). ``weight`` and ``bias`` have shape ``normalized_shape``."""
    fn = "layer_norm"
    shape = normalized_shape_of(fn, normalized_shape)
    eps = number(fn, "eps", eps)
    x = _tensor(input)
    if x.shape[x.ndim - len(shape):] != shape or x.ndim < len(shape):
        raise ShapeError(f"{fn}: normalized_shape {shape} must be the last axes of the "
                         f"input, got input of shape {x.shape}")
    w = None if weight is None else as_argument(fn, "weight", weight, dtype=x.dtype)
    b = None if bias is None else as_argument(fn, "bias", bias, dtype=x.dtype)
    for name, given in (("weight", w), ("bias", b)):
        if given is not None and given.shape != shape:
            raise ShapeError(f"{fn}: {name} must have shape normalized_shape {shape}, "
                             f"got {given.shape}")
    dims = tuple(range(-len(shape), 0))
    centred = x - x.mean(dim=dims, keepdim=True)
    var = (centred * centred).mean(dim=dims, keepdim=True)
    out = centred * (var + eps) ** -0.5
    if w is not None:
        out = out * w
    return out if b is None else out + b


def normalized_shape_of(fn: str, normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    """``normalized_shape`` (an int or a sequence of ints, at least one) as a tuple."""
    if is_int(normalized_shape):
        normalized_shape = (normalized_shape,)
    if (not isinstance(normalized_shape, (tuple, list)) or not normalized_shape
            or not all(is_int(n) and n >= 0 for n in normalized_shape)):
        raise TypeError(f"{fn}: normalized_shape must be an int or a non-empty tuple of "
                        f"ints >= 0, got {describe(normalized_shape)}")
    return tuple(int(n) for n in normalized_shape)


def normalize(input: TensorLike, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """out = x / max(||x||_p, eps) along ``dim``, as torch (its gradient too: none
    through a norm below eps, 0 from an element that is 0).

    ``p`` is a number >= 0 or inf (p = 0 counts the non-zero elements, a constant).
    """
    fn = "normalize"
    p = number(fn, "p", p, minimum=0.0, finite=False)
    eps = number(fn, "eps", eps, minimum=0.0)
    x = _tensor(input)
    dim = check_dim(fn, dim, x.shape, scalar_ok=True)
    norm = _vector_norm(x, p, dim)
    big = norm.data >= eps  # torch's clamp_min(eps): no gradient below it
    return x / (norm * Tensor(big.astype(x.dtype)) + Tensor(np.where(big, 0, eps), dtype=x.dtype))


def _vector_norm(x: Tensor, p: float, dim: int) -> Tensor:
    """||x||_p along ``dim`` (kept), with torch's gradient: 0 from an element that is 0,
    0 from an all-zero vector, and for p = inf shared evenly by the ties of the max."""
    a = x.data
    sign = Tensor(np.sign(a))
    if p == 0:
        return Tensor(np.count_nonzero(a, axis=dim, keepdims=True).astype(x.dtype))
    if p == math.inf:
        largest = np.abs(a) == np.max(np.abs(a), axis=dim, keepdims=True)
        share = largest / largest.sum(axis=dim, keepdims=True)
        return (x * sign * Tensor(share.astype(x.dtype))).sum(dim=dim, keepdim=True)
    if p == 1:
        return (x * sign).sum(dim=dim, keepdim=True)
    if p == 2:
        powered = x * x
    else:  # |x|^p, its base moved off 0 where x is 0 (then masked) so no 0 ** (p - 1)
        zero = (a == 0).astype(x.dtype)
        powered = (x * sign + Tensor(zero)) ** p * Tensor(1 - zero)
    total = powered.sum(dim=dim, keepdim=True)
    zero_norm = (total.data == 0).astype(x.dtype)  # the root of 0 has no derivative
    return (total + Tensor(zero_norm)) ** (1.0 / p) * Tensor(1 - zero_norm)


def nll_loss(input: TensorLike, target: TensorLike, weight: TensorLike | None = None, *,
             ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """loss_n = -weight[t_n] * input_n[t_n], ``input`` holding log-probabilities of shape
    (C,), (N, C) or (N, C, d1, ...); ``weight``, ``ignore_index`` and ``reduction`` as
    cross_entropy (which is nll_loss of log_softmax)."""
    fn = "nll_loss"
    _check_reduction(fn, reduction)
    x, t = _class_input(fn, input, target, ignore_index)
    return _nll(fn, x, t, weight, ignore_index, reduction)


def _pair(fn: str, input: TensorLike, target: TensorLike) -> tuple[Tensor, Tensor]:
    """(input, target) as Tensors of one shape (a plain target in the input's dtype)."""
    x = _tensor(input)
    y = as_argument(fn, "target", target, dtype=x.dtype)
    if x.shape != y.shape:
        raise ShapeError(f"{fn}: input shape {x.shape} and target shape {y.shape} differ; "
                         f"they must be equal")
    return x, y


def _broadcast_weight(fn: str, name: str, weight: TensorLike | None, x: Tensor) -> Tensor | None:
    """``weight`` as a Tensor that broadcasts to the input's shape, or None."""
    if weight is None:
        return None
    w = as_argument(fn, name, weight, dtype=x.dtype)
    try:
        if np.broadcast_shapes(w.shape, x.shape) == x.shape:
            return w
    except ValueError:
        pass
    raise ShapeError(f"{fn}: {name} of shape {w.shape} does not broadcast to the input's "
                     f"shape {x.shape}")


def binary_cross_entropy(input: TensorLike, target: TensorLike,
                         weight: TensorLike | None = None, *,
                         reduction: str = "mean") -> Tensor:
    """loss_i = -weight_i (t_i log x_i + (1 - t_i) log(1 - x_i)), each log clamped at -100
    as torch, so x = 0 or 1 gives a finite loss (``ops.BinaryCrossEntropy``).

    ``input`` holds probabilities in [0, 1] (anything else is refused, as torch);
    ``target`` has its shape; ``weight`` broadcasts to it.
    """
    fn = "binary_cross_entropy"
    _check_reduction(fn, reduction)
    x, y = _pair(fn, input, target)
    inside = (x.data >= 0) & (x.data <= 1)
    if not inside.all():
        raise ValueError(f"{fn}: every element of input must lie in [0, 1], got "
                         f"{x.data[~inside].flat[0]}")
    w = _broadcast_weight(fn, "weight", weight, x)
    loss = BinaryCrossEntropy.apply(x, y)
    return _reduce(loss if w is None else loss * w, reduction)


def binary_cross_entropy_with_logits(input: TensorLike, target: TensorLike,
                                     weight: TensorLike | None = None, *,
                                     reduction: str = "mean",
                                     pos_weight: TensorLike | None = None) -> Tensor:
    """loss_i = weight_i ((1 - t_i) x_i + l_i softplus(-x_i)),  l_i = 1 + (pos_weight - 1) t_i,
    which is -weight_i (pos_weight t_i log sigmoid(x_i) + (1 - t_i) log(1 - sigmoid(x_i)))
    in torch's stable form: finite for logits of any size. ``pos_weight`` (one per class,
    the last axis) and ``weight`` broadcast to the input."""
    fn = "binary_cross_entropy_with_logits"
    _check_reduction(fn, reduction)
    x, y = _pair(fn, input, target)
    w = _broadcast_weight(fn, "weight", weight, x)
    pw = _broadcast_weight(fn, "pos_weight", pos_weight, x)
    minus_log_sigmoid = Softplus.apply(-x, beta=1.0, threshold=math.inf)
    if pw is not None:
        minus_log_sigmoid = ((pw - 1.0) * y + 1.0) * minus_log_sigmoid
    loss = (1.0 - y) * x + minus_log_sigmoid
    return _reduce(loss if w is None else loss * w, reduction)


def l1_loss(input: TensorLike, target: TensorLike, *, reduction: str = "mean") -> Tensor:
    """loss_i = |input_i - target_i|; its gradient sign(input - target), 0 at a tie."""
    _check_reduction("l1_loss", reduction)
    d = _difference("l1_loss", input, target)
    return _reduce(d * Tensor(np.sign(d.data)), reduction)


def smooth_l1_loss(input: TensorLike, target: TensorLike, *, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """loss_i = 0.5 d_i^2 / beta where |d_i| < beta, else |d_i| - 0.5 beta, d = input -
    target (beta = 0: l1_loss, as torch). ``beta`` is a number >= 0."""
    fn = "smooth_l1_loss"
    _check_reduction(fn, reduction)
    beta = number(fn, "beta", beta, minimum=0.0)
    d = _difference(fn, input, target)
    if beta == 0:
        return _reduce(d * Tensor(np.sign(d.data)), reduction)
    near, far, outside = _branches(d, beta)
    return _reduce(0.5 * near * near / beta + far - outside * (0.5 * beta), reduction)


def huber_loss(input: TensorLike, target: TensorLike, *, reduction: str = "mean",
               delta: float = 1.0) -> Tensor:
    """loss_i = 0.5 d_i^2 where |d_i| < delta, else delta (|d_i| - 0.5 delta), d = input -
    target. ``delta`` is a number > 0."""
    fn = "huber_loss"
    _check_reduction(fn, reduction)
    delta = number(fn, "delta", delta)
    if delta <= 0:
        raise ValueError(f"{fn}: delta must be > 0, got {delta}")
    d = _difference(fn, input, target)
    near, far, outside = _branches(d, delta)
    return _reduce(0.5 * near * near + delta * (far - outside * (0.5 * delta)), reduction)


def _difference(fn: str, input: TensorLike, target: TensorLike) -> Tensor:
    x, y = _pair(fn, input, target)
    return x - y


def _branches(d: Tensor, width: float) -> tuple[Tensor, Tensor, Tensor]:
    """The pieces of a smooth L1 or Huber loss: (d where |d| < width, |d| where |d| >=
    width, 1 where |d| >= width), each 0 elsewhere (the masks constants: no gradient)."""
    inside = (np.abs(d.data) < width).astype(d.dtype)
    outside = 1 - inside
    return d * Tensor(inside), d * Tensor(np.sign(d.data) * outside), Tensor(outside)
