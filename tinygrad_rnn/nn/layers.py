"""Linear, Embedding and Dropout, from ops only (the maths is in ``functional``)."""

from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from ..tensor import ShapeError, Tensor
from . import init
from .module import Module, Parameter, check_dtype


class Linear(Module):
    """y = x W^T + b.

    Arguments:
        in_features, out_features: sizes of the last axis of input and output.
        bias: learn an additive bias.

    Shapes: x (..., in_features) -> y (..., out_features). ``weight`` is
    (out_features, in_features); weight and bias start as U(-k, k), k = 1/sqrt(in_features),
    as torch.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        self.in_features, self.out_features = in_features, out_features
        k = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
        self.weight = init.uniform_(Parameter(np.empty((out_features, in_features))), -k, k)
        self.bias = init.uniform_(Parameter(np.empty(out_features)), -k, k) if bias else None

    def forward(self, x: Tensor) -> Tensor:
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

    Shapes: integer indices (...) -> (..., embedding_dim). ``weight`` starts as N(0, 1),
    as torch. An index used twice gets the sum of both gradients (the getitem op
    adds repeated indices).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int):
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = init.normal_(Parameter(np.empty((num_embeddings, embedding_dim))))

    def forward(self, indices) -> Tensor:
        idx = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
        if idx.dtype.kind == "f" and np.all(idx == np.round(idx)):
            idx = idx.astype(np.intp)  # Tensor([1, 2]) stores integers as floats
        if idx.dtype.kind not in "iu":
            raise TypeError(f"Embedding: indices must be integers, got dtype {idx.dtype}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_embeddings):
            raise IndexError(f"Embedding: indices must lie in [0, {self.num_embeddings}), "
                             f"got values from {idx.min()} to {idx.max()}")
        # an array index, even for a single token, so repeated indices accumulate
        return self.weight[idx.reshape(-1)].reshape(*idx.shape, self.embedding_dim)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Dropout(Module):
    """In training mode, zero each element with probability p and scale the rest
    by 1/(1-p); in evaluation mode, the identity."""

    def __init__(self, p: float = 0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
