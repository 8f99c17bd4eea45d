"""Linear, Embedding and Dropout, from ops only (the maths is in ``functional``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .. import functional as F
from ..arguments import flag, probability, size
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
