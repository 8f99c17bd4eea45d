"""Linear, Embedding and Dropout, from ops only (the maths is in ``functional``)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import functional as F
from ..arguments import describe, flag, is_int, number, one_of, probability, size
from ..tensor import ShapeError, Tensor
from . import init
from .cells import as_tensor
from .module import Module, Parameter, check_dtype

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..tensor import TensorLike


class Linear(Module):
    """y = x W^T + b.

    Arguments:
        in_features, out_features: sizes of the last axis of input and output.
        bias: learn an additive bias.

    Shapes: x (..., in_features) -> y (..., out_features). ``weight`` is
    (out_features, in_features); weight and bias start as U(-k, k), k = 1/sqrt(in_features),
    as torch. Sizes are ints >= 0 (0 is allowed, as torch), ``bias`` a bool.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        in_features = size("nn.Linear", "in_features", in_features)
        out_features = size("nn.Linear", "out_features", out_features)
        bias = flag("nn.Linear", "bias", bias)
        self.in_features, self.out_features = in_features, out_features
        k = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
        self.weight = init.uniform_(Parameter(np.empty((out_features, in_features))), -k, k)
        self.bias = init.uniform_(Parameter(np.empty(out_features)), -k, k) if bias else None

    def forward(self, x: TensorLike) -> Tensor:
        x = as_tensor("Linear", "input", x)
        if x.ndim == 0:
            raise ShapeError(f"Linear: expected input of shape (*, {self.in_features}), "
                             f"got a 0-d input")
        if x.shape[-1] != self.in_features:
            raise ShapeError(f"Linear: expected input with {self.in_features} features "
                             f"(in_features), got {x.shape[-1]} (input shape {x.shape})")
        check_dtype("Linear", "input", x, self.weight.dtype)
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Embedding(Module):
    """A lookup table: row ``i`` of ``weight`` is the vector of token ``i``.

    Arguments:
        num_embeddings: size of the vocabulary.
        embedding_dim: length of each vector.
        padding_idx: a row (negative counts from the end) that starts as zeros
            and gets no gradient, for a padding token, as torch.

    Shapes: integer indices (...) -> (..., embedding_dim). ``weight`` starts as N(0, 1),
    as torch. An index used twice gets the sum of both gradients. Sizes are ints >= 0;
    ``padding_idx`` an int in [-num_embeddings, num_embeddings) or None. Indices must be
    integers in [0, num_embeddings) (IndexError otherwise, TypeError for floats and bools).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int,
                 padding_idx: int | None = None) -> None:
        num_embeddings = size("nn.Embedding", "num_embeddings", num_embeddings)
        embedding_dim = size("nn.Embedding", "embedding_dim", embedding_dim)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = F.padding_row(padding_idx, num_embeddings, "nn.Embedding")
        self.weight = init.normal_(Parameter(np.empty((num_embeddings, embedding_dim))))
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0.0

    def forward(self, indices: Tensor | ArrayLike) -> Tensor:
        indices = F.embedding_indices("Embedding", indices, self.num_embeddings)
        return F.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s if self.padding_idx is None else s + f", padding_idx={self.padding_idx}"


class Dropout(Module):
    """In training mode, zero each element with probability p and scale the rest
    by 1/(1-p); in evaluation mode, the identity. ``p`` must be a number in [0, 1]."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = probability("nn.Dropout", "p", p)

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


# --------------------------------------------------------------------------- issue 15 (ops-func)


class LayerNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the last axes, which must be
    ``normalized_shape`` (torch.nn.LayerNorm; the biased variance, as torch).

    Arguments: normalized_shape (an int or a tuple of ints), eps=1e-5,
    elementwise_affine=True (learn ``weight``, starting as ones), bias=True (learn
    ``bias``, starting as zeros, when elementwise_affine). Parameter names as torch's.
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True) -> None:
        self.normalized_shape = F.normalized_shape_of("nn.LayerNorm", normalized_shape)
        self.eps = number("nn.LayerNorm", "eps", eps)
        self.elementwise_affine = flag("nn.LayerNorm", "elementwise_affine", elementwise_affine)
        bias = flag("nn.LayerNorm", "bias", bias)
        affine = self.elementwise_affine
        self.weight = Parameter(np.ones(self.normalized_shape)) if affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape)) if affine and bias else None

    def forward(self, x: TensorLike) -> Tensor:
        x = as_tensor("LayerNorm", "input", x)
        if self.weight is not None:
            check_dtype("LayerNorm", "input", x, self.weight.dtype)
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class Identity(Module):
    """y = x. Any arguments are accepted and ignored, as torch's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def forward(self, x: Tensor) -> Tensor:
        return x


def _not_in_place(where: str, inplace: bool) -> None:
    """torch's ``inplace=`` flag: False only, as no op here writes into its input."""
    if flag(where, "inplace", inplace):
        raise ValueError(f"{where}: inplace=True is not supported (no op writes into its "
                         f"input here); leave inplace out")


class ReLU(Module):
    """y = max(x, 0) (the gradient at 0 is 0, as torch)."""

    def __init__(self, inplace: bool = False) -> None:
        _not_in_place("nn.ReLU", inplace)

    def forward(self, x: TensorLike) -> Tensor:
        return as_tensor("ReLU", "input", x).relu()


class Tanh(Module):
    """y = tanh(x)."""

    def forward(self, x: TensorLike) -> Tensor:
        return as_tensor("Tanh", "input", x).tanh()


class Sigmoid(Module):
    """y = 1 / (1 + exp(-x))."""

    def forward(self, x: TensorLike) -> Tensor:
        return as_tensor("Sigmoid", "input", x).sigmoid()


class GELU(Module):
    """y = x * Phi(x) (``approximate='none'``) or its tanh approximation (``'tanh'``)."""

    def __init__(self, approximate: str = "none") -> None:
        self.approximate = one_of("nn.GELU", "approximate", approximate, ("none", "tanh"))

    def forward(self, x: TensorLike) -> Tensor:
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """y = x * sigmoid(x)."""

    def __init__(self, inplace: bool = False) -> None:
        _not_in_place("nn.SiLU", inplace)

    def forward(self, x: TensorLike) -> Tensor:
        return F.silu(x)


class Softplus(Module):
    """y = log(1 + exp(beta x)) / beta, or x where beta x > threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        number("nn.Softplus", "beta", beta)
        number("nn.Softplus", "threshold", threshold, finite=False)
        if beta == 0:
            raise ValueError("nn.Softplus: beta must be non-zero (the output is divided by "
                             "it), got 0")
        self.beta, self.threshold = beta, threshold  # (as given: the repr shows them so)

    def forward(self, x: TensorLike) -> Tensor:
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class LeakyReLU(Module):
    """y = x where x > 0, else negative_slope * x."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        number("nn.LeakyReLU", "negative_slope", negative_slope)
        _not_in_place("nn.LeakyReLU", inplace)
        self.negative_slope = negative_slope

    def forward(self, x: TensorLike) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """y = x where x > 0, else alpha * (exp(x) - 1)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        number("nn.ELU", "alpha", alpha)
        _not_in_place("nn.ELU", inplace)
        self.alpha = alpha

    def forward(self, x: TensorLike) -> Tensor:
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Softmax(Module):
    """y = softmax(x) along ``dim``. With dim=None the axis is torch's old implicit
    choice (0 for 0-, 1- and 3-d inputs, else 1), with torch's warning."""

    _log = False

    def __init__(self, dim: int | None = None) -> None:
        if dim is not None and not is_int(dim):
            raise TypeError(f"nn.{type(self).__name__}: dim must be an int or None, "
                            f"got {describe(dim)}")
        self.dim = dim

    def forward(self, x: TensorLike) -> Tensor:
        x = as_tensor(type(self).__name__, "input", x)
        dim = self.dim
        if dim is None:
            name = "log_softmax" if self._log else "softmax"
            warnings.warn(f"Implicit dimension choice for {name} has been deprecated. "
                          f"Change the call to include dim=X as an argument.", stacklevel=2)
            dim = 0 if x.ndim in (0, 1, 3) else 1
        return (F.log_softmax if self._log else F.softmax)(x, dim=dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """y = log_softmax(x) along ``dim`` (dim=None as Softmax's)."""

    _log = True
