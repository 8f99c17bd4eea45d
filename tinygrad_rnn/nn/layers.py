"""Linear, Embedding and Dropout, from ops only (the maths is in ``functional``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .. import functional as F
from ..tensor import ShapeError, Tensor
from . import init
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
    as torch.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        self.in_features, self.out_features = in_features, out_features
        k = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
        self.weight = init.uniform_(Parameter(np.empty((out_features, in_features))), -k, k)
        self.bias = init.uniform_(Parameter(np.empty(out_features)), -k, k) if bias else None

    def forward(self, x: TensorLike) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.shape[-1:] != (self.in_features,):
            raise ShapeError(f"Linear: expected input with {self.in_features} features "
                             f"(in_features), got {x.shape[-1] if x.ndim else None} "
                             f"(input shape {x.shape})")
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
    as torch. An index used twice gets the sum of both gradients.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int,
                 padding_idx: int | None = None) -> None:
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = F.padding_row(padding_idx, num_embeddings, "Embedding")
        self.weight = init.normal_(Parameter(np.empty((num_embeddings, embedding_dim))))
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0.0

    def forward(self, indices: Tensor | ArrayLike) -> Tensor:
        return F.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s if self.padding_idx is None else s + f", padding_idx={self.padding_idx}"


class Dropout(Module):
    """In training mode, zero each element with probability p and scale the rest
    by 1/(1-p); in evaluation mode, the identity."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
