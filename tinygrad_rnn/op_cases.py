"""Every built-in op, and every Tensor method that reaches one, in one table.

Each row of ``CASES`` is an ``OpCase``: the function under test, a fixed example
and a Hypothesis strategy for its inputs, the same maths in numpy and in torch,
the ``ops.Function`` classes it exercises and, for one row per op, its line in
docs/api.md. Three things are generated from it:

    tests/test_ops.py                 every check of ``tinygrad_rnn.testing`` on every row
    python -m tinygrad_rnn gradcheck  finite differences on each row's fixed example
    docs/api.md, its op table         ``python -m tinygrad_rnn.op_cases`` rewrites it

and tests/test_ops.py fails when a ``Function`` in ops.py has no row. A new op
is its class in ops.py, its Tensor method, and one row here.

This module needs numpy only: rows name their strategies (``strategy.reduction()``,
built from ``op_strategies.py`` when a test draws), and the torch twins import
torch when they run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import functional as F
from .case import Doc, Inputs, OpCase, shapes, strategy
from .tensor import (
    Tensor,
    addcmul,
    addmm,
    clamp,  # (clamp, maximum, minimum, where: issue 15, ops-elem)
    concat,
    einsum,
    lerp,
    maximum,
    minimum,
    stack,
    where,
)

if TYPE_CHECKING:
    import torch  # (torch is optional: its twins import it when they run)
    from numpy.typing import ArrayLike

    from .case import ExampleArrays

__all__ = ["CASES", "by_name", "api_table", "API_DOC", "update_api_doc"]

MATMUL = "(n?,k),(k,m?)->(n?,m?)"  # numpy's own gufunc signature of matmul


# --------------------------------------------------------------------------- numpy twins


def _place_at(part: Tensor, index: Any, like: Tensor) -> Tensor:
    from . import ops
    return ops.PlaceAt.apply(part, index=index, shape=like.shape, dtype=like.dtype)


def _normal_cdf(x: Tensor) -> Tensor:
    from . import ops
    return ops.NormalCdf.apply(x)


def normal_cdf_numpy(x: np.ndarray) -> np.ndarray:
    import math
    return 0.5 * (1 + np.vectorize(math.erf, otypes=[x.dtype])(x / np.sqrt(2)))


def torch_ndtr(x: torch.Tensor) -> torch.Tensor:
    import torch
    return torch.special.ndtr(x)


def place_at_numpy(x: np.ndarray, index: Any) -> np.ndarray:
    """x where ``index`` (a basic index) picks, zeros elsewhere."""
    out = np.zeros_like(x)
    out[index] = x[index]
    return out


def chunk_numpy(x: np.ndarray, chunks: int, axis: int) -> list[np.ndarray]:
    """torch.chunk's rule: parts of ceil(n / chunks) elements, the last smaller."""
    size = -(-x.shape[axis] // chunks)
    return np.split(x, range(size, x.shape[axis], size), axis=axis)


def split_numpy(x: np.ndarray, sizes: int | Sequence[int], axis: int) -> list[np.ndarray]:
    if isinstance(sizes, int):
        sizes = [sizes] * (x.shape[axis] // sizes) + [x.shape[axis] % sizes] * bool(
            x.shape[axis] % sizes)
    return np.split(x, np.cumsum(sizes)[:-1], axis=axis)


def sigmoid_numpy(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def log_softmax_numpy(x: np.ndarray, axis: int) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def softmax_numpy(x: np.ndarray, axis: int) -> np.ndarray:
    return np.exp(log_softmax_numpy(x, axis))


def cross_entropy_numpy(x: np.ndarray, target: np.ndarray,
                        label_smoothing: float = 0.0) -> float:
    """The mean over samples of -(1 - eps) log p[target] - eps/C sum_c log p[c]."""
    logp = log_softmax_numpy(x.reshape(-1, x.shape[-1]), axis=-1)
    picked = logp[np.arange(len(logp)), target.reshape(-1)]
    return np.mean(-(1 - label_smoothing) * picked - label_smoothing * logp.mean(axis=-1))


# --------------------------------------------------------------------------- torch twins
# (each imports torch when it runs: the table itself imports without torch)


def torch_addcmul(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor,
                  value: float = 1) -> torch.Tensor:
    import torch
    return torch.addcmul(a, b, c, value=value)


def torch_lerp(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    import torch
    return torch.lerp(a, b, weight)


def torch_linear(*args: torch.Tensor) -> torch.Tensor:
    import torch
    return torch.nn.functional.linear(*args)


def torch_embedding(w: torch.Tensor, indices: np.ndarray, padding_idx: int | None) -> torch.Tensor:
    import torch
    return torch.nn.functional.embedding(torch.as_tensor(indices), w, padding_idx)


def torch_cross_entropy(x: torch.Tensor, target: np.ndarray,
                        label_smoothing: float = 0.0) -> torch.Tensor:
    import torch
    return torch.nn.functional.cross_entropy(x, torch.as_tensor(target),
                                             label_smoothing=label_smoothing)


def torch_mse_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    import torch
    return torch.nn.functional.mse_loss(x, y)


def torch_basic_index(x: torch.Tensor, index: tuple) -> torch.Tensor:
    """numpy's basic indexing in torch, which has no negative slice steps: one axis at a time."""
    import torch

    axis = 0
    for part in index:
        if isinstance(part, slice):
            picks = list(range(*part.indices(x.shape[axis])))
            x = x.index_select(axis, torch.tensor(picks, dtype=torch.long))
            axis += 1
        else:
            x = x.select(axis, part)
    return x


def torch_index(x: torch.Tensor, index: Any) -> torch.Tensor:
    import torch

    if isinstance(index, tuple):
        return x[tuple(torch.as_tensor(i) if isinstance(i, np.ndarray) else i for i in index)]
    return x[torch.as_tensor(index)]


def torch_cat(*xs: torch.Tensor, axis: int) -> torch.Tensor:
    import torch
    return torch.cat(xs, dim=axis)


def torch_stack(*xs: torch.Tensor, axis: int) -> torch.Tensor:
    import torch
    return torch.stack(xs, dim=axis)


def torch_sum(x: torch.Tensor, axis: int | tuple[int, ...] | None, keepdims: bool) -> torch.Tensor:
    return x.sum() if axis is None and not keepdims else x.sum(dim=axis, keepdim=keepdims)


def torch_mean(x: torch.Tensor, axis: int | tuple[int, ...] | None, keepdims: bool) -> torch.Tensor:
    return x.mean() if axis is None and not keepdims else x.mean(dim=axis, keepdim=keepdims)


def torch_maximum(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    import torch
    return torch.maximum(x, y)


def torch_minimum(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    import torch
    return torch.minimum(x, y)


def torch_clamp(x: torch.Tensor, *bounds: torch.Tensor, has_min: bool = True,
                has_max: bool = True) -> torch.Tensor:
    """torch.clamp with tensor bounds, x first expanded to the broadcast shape: torch
    2.13's backward fails when tensor bounds broadcast x to a larger shape ("output
    with shape [] doesn't match the broadcast shape [1]")."""
    import torch
    x = x.expand(torch.broadcast_shapes(x.shape, *(b.shape for b in bounds)))
    low = bounds[0] if has_min else None
    high = bounds[-1] if has_max else None
    return torch.clamp(x, low, high)


def torch_where(c: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    import torch
    return torch.where(c > 0, x, y)


def reversed_axes(x: torch.Tensor) -> torch.Tensor:
    return x.permute(tuple(reversed(range(x.ndim))))


# ---- twins of issue 15 (ops-func)

def gelu_numpy(x: np.ndarray) -> np.ndarray:
    import math
    return x * 0.5 * (1 + np.vectorize(math.erf, otypes=[x.dtype])(x / np.sqrt(2)))


def layer_norm_numpy(x: np.ndarray) -> np.ndarray:
    """Over the last axis, eps = 1e-5."""
    centred = x - x.mean(axis=-1, keepdims=True)
    return centred / np.sqrt((centred ** 2).mean(axis=-1, keepdims=True) + 1e-5)


def bce_numpy(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    return -(t * np.log(p) + (1 - t) * np.log1p(-p))


def huber_numpy(d: np.ndarray, delta: float) -> np.ndarray:
    return np.where(np.abs(d) < delta, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta))


def torch_functional(name: str) -> Callable[..., torch.Tensor]:
    """torch.nn.functional.<name>, looked up when called (the table imports without torch)."""
    def call(*args: Any, **kwargs: Any) -> torch.Tensor:
        import torch
        return getattr(torch.nn.functional, name)(*args, **kwargs)
    return call


def torch_nll_loss(x: torch.Tensor, target: np.ndarray) -> torch.Tensor:
    import torch
    return torch.nn.functional.nll_loss(x, torch.as_tensor(target))


def torch_bce_of_sigmoids(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    import torch
    return torch.nn.functional.binary_cross_entropy(x.sigmoid(), t.sigmoid())


# --------------------------------------------------------------------------- the table

BINARY = strategy.broadcastable_arrays(2)
OVER_POSITIVE = strategy.broadcastable_arrays(2, elements=[(-3.0, 3.0), (0.5, 3.0)])
UNARY = shapes((3, 4))  # the fixed example of most one-input ops
POSITIVE_BASE = strategy.broadcastable_arrays(2, elements=[(0.5, 3.0), (-3.0, 3.0)])
BOOLEAN_OUTPUT = {"gradients": "boolean outputs, which no gradient flows through (as torch's)",
                  "dtype": "the outputs are boolean by design"}
MATRIX_AND_COLUMN = shapes((3, 4), (3, 1))


def embedding_fn(w: Tensor, indices: np.ndarray, padding_idx: int | None) -> Tensor:
    return F.embedding(indices, w, padding_idx)


def embedding_example(indices: ArrayLike,
                      padding_idx: int | None = None) -> Callable[[ExampleArrays], Inputs]:
    """A (3, 4) table, these indices into it."""
    return lambda r: Inputs((r.array(3, 4),), {"indices": np.array(indices),
                                               "padding_idx": padding_idx})


def one_input(*shape: int, **params: Any) -> Callable[[ExampleArrays], Inputs]:
    """A fixed example of one array of ``shape`` with keyword parameters."""
    return lambda r: Inputs((r.array(*shape),), params)


CASES = [
    # arithmetic, with broadcasting
    OpCase("add", lambda x, y: x + y, BINARY, lambda x, y: x + y, np.add,
           example=MATRIX_AND_COLUMN, functions=("Add",),
           doc=Doc("x + y", "torch.add", "numpy broadcasting (so do `- * /`); each gradient "
                   "is summed back to its input's shape, once, by the engine")),
    OpCase("sub", lambda x, y: x - y, BINARY, lambda x, y: x - y, np.subtract,
           example=shapes((3, 4), (3, 4)), functions=("Sub",),
           doc=Doc("x - y", "torch.sub", "broadcasting, as `+`")),
    OpCase("mul", lambda x, y: x * y, BINARY, lambda x, y: x * y, np.multiply,
           example=MATRIX_AND_COLUMN, functions=("Mul",),
           doc=Doc("x * y", "torch.mul", "broadcasting, as `+`")),
    OpCase("div", lambda x, y: x / y, OVER_POSITIVE, lambda x, y: x / y, np.divide,
           example=lambda r: (r.array(3, 4), r.positive(3, 4)), functions=("Div",),
           doc=Doc("x / y", "torch.div", "broadcasting, as `+`")),
    OpCase("div_negative_denominator", lambda x, y: x / y,
           strategy.broadcastable_arrays(2, elements=[(-3.0, 3.0), (-3.0, -0.5)]),
           lambda x, y: x / y, np.divide,
           example=lambda r: (r.array(3, 4), r.array(3, 4, elements=(-3.0, -0.5))),
           functions=("Div",)),
    OpCase("neg", lambda x: -x, strategy.arrays(), lambda x: -x, np.negative,
           example=UNARY, functions=("Neg",), doc=Doc("-x", "torch.neg", "`dx = -grad`")),
    OpCase("same_tensor_twice", lambda x: x * x + x, strategy.arrays(), lambda x: x * x + x,
           lambda x: x * x + x, example=UNARY, functions=("Mul", "Add")),
    # reflected operators: Python scalars and numpy arrays on either side
    OpCase("scalar_radd", lambda x: 1 + x, strategy.arrays(), lambda x: 1 + x, lambda x: 1 + x,
           example=UNARY, functions=("Add",)),
    OpCase("scalar_rsub", lambda x: 2.0 - x, strategy.arrays(), lambda x: 2.0 - x,
           lambda x: 2.0 - x, example=UNARY, functions=("Sub",)),
    OpCase("scalar_rmul", lambda x: 3.0 * x, strategy.arrays(), lambda x: 3.0 * x,
           lambda x: 3.0 * x, example=UNARY, functions=("Mul",)),
    OpCase("scalar_div", lambda x: x / 3, strategy.arrays(), lambda x: x / 3, lambda x: x / 3,
           example=UNARY, functions=("Div",)),
    OpCase("scalar_rdiv", lambda x: 2.0 / x, strategy.positive_arrays(), lambda x: 2.0 / x,
           lambda x: 2.0 / x, example=lambda r: r.positive(3, 4), functions=("Div",)),
    OpCase("array_add", lambda a, x: x + a.data, BINARY, lambda a, x: x + a, np.add,
           grad_inputs=(1,), example=MATRIX_AND_COLUMN, functions=("Add",)),
    OpCase("array_rsub", lambda a, x: a.data - x, BINARY, lambda a, x: a - x, np.subtract,
           grad_inputs=(1,), example=MATRIX_AND_COLUMN, functions=("Sub",)),
    OpCase("array_rmul", lambda a, x: a.data * x, BINARY, lambda a, x: a * x, np.multiply,
           grad_inputs=(1,), example=MATRIX_AND_COLUMN, functions=("Mul",)),
    OpCase("array_rdiv", lambda a, y: a.data / y, OVER_POSITIVE, lambda a, y: a / y,
           np.divide, grad_inputs=(1,), example=lambda r: (r.array(3, 4), r.positive(3, 1)),
           functions=("Div",)),
    OpCase("array_rmatmul", lambda a, x: a.data @ x,
           strategy.broadcastable_arrays(signature=MATMUL), lambda a, x: a @ x, np.matmul,
           grad_inputs=(1,), example=shapes((2, 3), (3, 4)), functions=("Matmul",)),
    # pow with a number exponent
    OpCase("pow_2", lambda x: x ** 2, strategy.arrays(), lambda x: x ** 2, lambda x: x ** 2,
           example=UNARY, functions=("Pow",)),
    OpCase("pow_3", lambda x: x ** 3, strategy.arrays(), lambda x: x ** 3, lambda x: x ** 3,
           example=UNARY, functions=("Pow",),
           doc=Doc("x ** p", "torch.pow", "p a Python number")),
    OpCase("pow_half", lambda x: x ** 0.5, strategy.positive_arrays(), lambda x: x ** 0.5,
           np.sqrt, example=lambda r: r.positive(3, 4), functions=("Pow",)),
    OpCase("pow_minus_1", lambda x: x ** -1, strategy.arrays(avoid_zero=0.5),
           lambda x: x ** -1, lambda x: 1 / x,
           example=lambda r: r.array(3, 4, avoid_zero=0.5), functions=("Pow",)),
    OpCase("pow_int_exponent_negative_base", lambda x: x ** 4, strategy.arrays(),
           lambda x: x ** 4, lambda x: x ** 4, example=UNARY, functions=("Pow",)),
    OpCase("sqrt", lambda x: x.sqrt(), strategy.positive_arrays(), lambda x: x.sqrt(), np.sqrt,
           example=lambda r: r.positive(3, 4), functions=("Pow",),
           doc=Doc(".sqrt()", "torch.sqrt", "`x ** 0.5`, the same op")),
    # matmul: every rank, and batch axes that broadcast
    OpCase("matmul", lambda x, y: x @ y, strategy.broadcastable_arrays(signature=MATMUL),
           lambda x, y: x @ y, np.matmul, example=shapes((2, 3, 4), (4, 5)),
           functions=("Matmul",),
           doc=Doc("x @ y", "torch.matmul", "every rank, as numpy: 1-D operands, batch axes "
                   "that broadcast")),
    OpCase("matmul_1d_1d", lambda x, y: x @ y, strategy.arrays_of_shapes((4,), (4,)),
           lambda x, y: x @ y, np.matmul, example=shapes((4,), (4,)), functions=("Matmul",)),
    OpCase("matmul_1d_2d", lambda x, y: x @ y, strategy.arrays_of_shapes((3,), (3, 4)),
           lambda x, y: x @ y, np.matmul, example=shapes((3,), (3, 4)), functions=("Matmul",)),
    OpCase("matmul_2d_1d", lambda x, y: x @ y, strategy.arrays_of_shapes((2, 3), (3,)),
           lambda x, y: x @ y, np.matmul, example=shapes((2, 3), (3,)), functions=("Matmul",)),
    OpCase("matmul_2d_2d", lambda x, y: x @ y, strategy.arrays_of_shapes((2, 3), (3, 4)),
           lambda x, y: x @ y, np.matmul, example=shapes((2, 3), (3, 4)),
           functions=("Matmul",)),
    OpCase("matmul_batch_broadcast", lambda x, y: x @ y,
           strategy.arrays_of_shapes((5, 1, 3, 4), (2, 4, 6)), lambda x, y: x @ y, np.matmul,
           example=shapes((5, 1, 3, 4), (2, 4, 6)), functions=("Matmul",)),
    OpCase("matmul_1d_batched", lambda x, y: x @ y, strategy.arrays_of_shapes((4,), (2, 4, 3)),
           lambda x, y: x @ y, np.matmul, example=shapes((4,), (2, 4, 3)),
           functions=("Matmul",)),
    OpCase("matmul_batched_2d", lambda x, y: x @ y,
           strategy.arrays_of_shapes((2, 1, 3, 4), (4, 5)), lambda x, y: x @ y, np.matmul,
           example=shapes((2, 1, 3, 4), (4, 5)), functions=("Matmul",)),
    OpCase("matmul_batched_1d", lambda x, y: x @ y, strategy.arrays_of_shapes((2, 3, 4), (4,)),
           lambda x, y: x @ y, np.matmul, example=shapes((2, 3, 4), (4,)),
           functions=("Matmul",)),
    # one node where the formula makes several: what every recurrent step uses
    OpCase("addmm", addmm, strategy.addmm_inputs(), lambda b, x, y: b.addmm(x, y),
           lambda b, x, y: b + x @ y, example=shapes((5,), (3, 4), (4, 5)),
           functions=("Addmm",),
           doc=Doc(("tr.addmm(input, mat1, mat2)", "input.addmm(mat1, mat2)"), "torch.addmm",
                   "`input + mat1 @ mat2` as one node: 2-D matrices, `input` broadcasts to "
                   "the product; every recurrent step uses it")),
    OpCase("addmm_method", lambda b, x, y: b.addmm(x, y),
           strategy.arrays_of_shapes((3,), (2, 4), (4, 3)), lambda b, x, y: b.addmm(x, y),
           lambda b, x, y: b + x @ y, example=shapes((3,), (2, 4), (4, 3)),
           functions=("Addmm",)),
    OpCase("addcmul", addcmul, strategy.broadcastable_arrays(3), torch_addcmul,
           lambda a, b, c: a + b * c, example=shapes((2, 3), (3,), (2, 1)),
           functions=("Addcmul",),
           doc=Doc(("tr.addcmul(input, t1, t2, value=1)", "input.addcmul(t1, t2)"), "torch.addcmul",
                   "`input + value * t1 * t2` as one node, broadcasting; LSTM's "
                   "`c' = f c + i g`, GRU's `x_n + r h_n`")),
    OpCase("addcmul_value", lambda a, b, c, value: addcmul(a, b, c, value=value),
           strategy.scaled(strategy.broadcastable_arrays(3)), torch_addcmul,
           lambda a, b, c, value: a + value * b * c,
           example=lambda r: Inputs((r.array(3, 4), r.array(3, 1), r.array(3, 4)),
                                    {"value": 0.5}),
           functions=("Addcmul",)),
    OpCase("addcmul_method", lambda a, b, c: a.addcmul(b, c),
           strategy.arrays_of_shapes((2, 3), (3,), (2, 1)), torch_addcmul,
           lambda a, b, c: a + b * c, example=shapes((2, 3), (3,), (2, 1)),
           functions=("Addcmul",)),
    OpCase("lerp", lerp, strategy.broadcastable_arrays(3), torch_lerp,
           lambda a, b, w: a + w * (b - a), example=shapes((3, 4), (3, 4), (3, 1)),
           functions=("Lerp",),
           doc=Doc(("tr.lerp(start, end, weight)", "start.lerp(end, weight)"), "torch.lerp",
                   "`start + weight * (end - start)` as one node (torch.lerp's formula for "
                   "weight < 0.5, kept everywhere: torch switches formulas at 0.5, equal up "
                   "to the last bit); GRU's `h' = n + z (h - n)`")),
    OpCase("lerp_number_weight", lambda a, b, weight: a.lerp(b, weight),
           strategy.scaled(strategy.broadcastable_arrays(2), "weight"), torch_lerp,
           lambda a, b, weight: a + weight * (b - a),
           example=lambda r: Inputs((r.array(3, 4), r.array(3, 4)), {"weight": 0.3}),
           functions=("Lerp",)),
    OpCase("linear", F.linear, strategy.linear_inputs(bias=True), torch_linear,
           lambda x, w, b: x @ w.T + b, example=shapes((3, 4), (2, 4), (2,)),
           functions=("Linear",),
           doc=Doc("F.linear(x, weight, bias=None)", "torch.nn.functional.linear",
                   "`x @ weight^T + bias` as one node, for any number of leading axes")),
    OpCase("linear_no_bias", F.linear, strategy.linear_inputs(bias=False), torch_linear,
           lambda x, w: x @ w.T, example=shapes((2, 3, 4), (2, 4)), functions=("Linear",)),
    OpCase("embedding", embedding_fn, strategy.embedding_inputs(padding=False),
           torch_embedding, lambda w, indices, padding_idx: w[indices],
           example=embedding_example([[0, 2], [2, 1]]), functions=("Embedding",),
           doc=Doc("F.embedding(indices, weight, padding_idx=None)",
                   "torch.nn.functional.embedding",
                   "rows of `weight`; a repeated index adds its gradients; the padding row "
                   "is read but gets no gradient")),
    # (the indices avoid the padding row here, for the finite differences; the next row
    # picks it)
    OpCase("embedding_padding_idx", embedding_fn,
           strategy.embedding_inputs(padding=True, pick_padding=False), torch_embedding,
           lambda w, indices, padding_idx: w[indices],
           example=embedding_example([[0, 2], [2, 0]], padding_idx=1), functions=("Embedding",)),
    OpCase("embedding_padding_picked", embedding_fn, strategy.embedding_inputs(padding=True),
           torch_embedding, lambda w, indices, padding_idx: w[indices],
           example=embedding_example([[0, 1], [1, 2]], padding_idx=-2), functions=("Embedding",),
           skip={"gradients": "the padding row is read but gets no gradient, as in torch: "
                              "finite differences disagree there by design"}),
    # elementwise functions
    OpCase("exp", lambda x: x.exp(), strategy.arrays(), lambda x: x.exp(), np.exp,
           example=UNARY, functions=("Exp",),
           doc=Doc(".exp()", "torch.exp", "`dx = grad * out`: the saved output")),
    OpCase("log", lambda x: x.log(), strategy.positive_arrays(), lambda x: x.log(), np.log,
           example=lambda r: r.positive(3, 4), functions=("Log",),
           doc=Doc(".log()", "torch.log", "natural log; `dx = grad / x`")),
    OpCase("tanh", lambda x: x.tanh(), strategy.arrays(), lambda x: x.tanh(), np.tanh,
           example=UNARY, functions=("Tanh",),
           doc=Doc(".tanh()", "torch.tanh", "`dx = grad * (1 - out**2)`: the saved output")),
    OpCase("sigmoid", lambda x: x.sigmoid(), strategy.arrays(elements=(-8.0, 8.0)),
           lambda x: x.sigmoid(), sigmoid_numpy,
           example=lambda r: r.array(3, 4, elements=(-8.0, 8.0)), functions=("Sigmoid",),
           doc=Doc(".sigmoid()", "torch.sigmoid", "finite for logits of any size")),
    OpCase("relu", lambda x: x.relu(), strategy.arrays(avoid_zero=0.1), lambda x: x.relu(),
           lambda x: np.maximum(x, 0), example=lambda r: r.array(3, 4, avoid_zero=0.1),
           functions=("Relu",), doc=Doc(".relu()", "torch.relu", "the gradient at 0 is 0")),
    # ---- elementwise ops of issue 15 (ops-elem). Ops with a kink draw their inputs
    # on grids (strategy.on_grids): far from the kink, or exactly on it where the
    # gradient is the mean slope a central difference measures (abs at 0, a tie of
    # maximum); tests/test_ops_elementwise.py checks each convention against torch.
    OpCase("abs", lambda x: x.abs(), strategy.on_grids(0.0), lambda x: x.abs(), np.abs,
           example=lambda r: (r.array(3, 4).round(),), functions=("Abs",),
           doc=Doc((".abs()", "abs(x)"), "torch.abs", "the gradient at 0 is 0, as torch")),
    OpCase("sign", lambda x: x.sign(), strategy.arrays(avoid_zero=0.1), lambda x: x.sign(),
           np.sign, example=lambda r: r.array(3, 4, avoid_zero=0.1), functions=("Sign",),
           doc=Doc(".sign()", "torch.sign", "-1, 0 or 1 (0 at nan); the gradient is 0, "
                   "the output requires grad as torch's")),
    OpCase("detach", lambda x: x * x.detach(), strategy.arrays(), lambda x: x * x.detach(),
           lambda x: x * x, example=UNARY, functions=("Detach", "Mul"),
           skip={"gradients": "finite differences see through detach (they see x * x); "
                              "torch's gradient, x, is the check"},
           doc=Doc(".detach()", "torch.Tensor.detach", "the same array, cut from the graph; "
                   "an op, so that a recorded step recomputes it at every step")),
    OpCase("clamp", lambda x: x.clamp(-1.0, 1.0), strategy.on_grids(0.25),
           lambda x: x.clamp(-1.0, 1.0), lambda x: np.clip(x, -1.0, 1.0),
           example=lambda r: (r.array(3, 4),), functions=("Clamp",),
           doc=Doc((".clamp(min=None, max=None)", ".clip(min, max)", "tr.clamp(x, min, max)"),
                   "torch.clamp", "numbers or tensors (broadcasting); the gradient passes "
                   "at the bounds, as torch; min > max gives max")),
    OpCase("clamp_min", lambda x: x.clamp(min=-0.5), strategy.on_grids(0.25),
           lambda x: x.clamp(min=-0.5), lambda x: np.maximum(x, -0.5),
           example=lambda r: (r.array(3, 4),), functions=("Clamp",)),
    OpCase("clip_max", lambda x: x.clip(max=0.5), strategy.on_grids(0.25),
           lambda x: x.clip(max=0.5), lambda x: np.minimum(x, 0.5),
           example=lambda r: (r.array(3, 4),), functions=("Clamp",)),
    OpCase("clamp_min_above_max", lambda x: clamp(x, 1.0, -1.0), strategy.arrays(),
           lambda x: x.clamp(1.0, -1.0), lambda x: np.full_like(x, -1.0),
           example=UNARY, functions=("Clamp",)),
    OpCase("clamp_tensors", lambda x, low, high: x.clamp(low, high),
           strategy.on_grids(0.25, 0.0, 0.125), torch_clamp,
           lambda x, low, high: np.minimum(np.maximum(x, low), high),
           example=shapes((3, 4), (3, 1), (4,)), functions=("Clamp",)),
    OpCase("clamp_tensor_min", lambda x, low: x.clamp(min=low), strategy.on_grids(0.25, 0.0),
           lambda x, low: torch_clamp(x, low, has_max=False), np.maximum,
           example=shapes((3, 4), (4,)), functions=("Clamp",)),
    OpCase("clamp_tensor_max", lambda x, high: x.clamp(max=high),
           strategy.on_grids(0.25, 0.0), lambda x, high: torch_clamp(x, high, has_min=False),
           np.minimum,
           example=shapes((3, 4), (3, 1)), functions=("Clamp",)),
    OpCase("maximum", maximum, strategy.on_grids(0.0, 0.0), torch_maximum, np.maximum,
           example=lambda r: tuple(a.round() for a in (r.array(3, 4), r.array(3, 1))),
           functions=("Maximum",),
           doc=Doc(("tr.maximum(x, y)", "x.maximum(y)"), "torch.maximum",
                   "broadcasting; a tie splits the gradient in halves, as torch")),
    OpCase("maximum_method", lambda x, y: x.maximum(y), strategy.on_grids(0.0, 0.0),
           lambda x, y: x.maximum(y), np.maximum, example=MATRIX_AND_COLUMN,
           functions=("Maximum",)),
    OpCase("minimum", minimum, strategy.on_grids(0.0, 0.0), torch_minimum, np.minimum,
           example=lambda r: tuple(a.round() for a in (r.array(3, 4), r.array(4,))),
           functions=("Minimum",),
           doc=Doc(("tr.minimum(x, y)", "x.minimum(y)"), "torch.minimum",
                   "broadcasting; a tie splits the gradient in halves, as torch")),
    OpCase("minimum_method", lambda x, y: x.minimum(y), strategy.on_grids(0.0, 0.0),
           lambda x, y: x.minimum(y), np.minimum, example=MATRIX_AND_COLUMN,
           functions=("Minimum",)),
    OpCase("comparisons", lambda x, y: (x < y, x <= y, x > y, x >= y, x == y, x != y),
           strategy.on_grids(0.0, 0.0), lambda x, y: (x < y, x <= y, x > y, x >= y, x == y,
                                                      x != y),
           lambda x, y: (x < y, x <= y, x > y, x >= y, x == y, x != y),
           example=lambda r: tuple(a.round() for a in (r.array(3, 4), r.array(3, 1))),
           functions=("Lt", "Le", "Gt", "Ge", "Eq", "Ne"), skip=BOOLEAN_OUTPUT,
           doc=Doc(("x < y", "<=", ">", ">=", "==", "!=", ".lt(y)", ".le .gt .ge .eq .ne"),
                   "torch.lt", "boolean tensors that do not require grad, broadcasting; "
                   "tensors stay hashable (by identity), as torch's")),
    OpCase("comparison_methods",
           lambda x, y: (x.lt(y), x.le(y), x.gt(y), x.ge(y), x.eq(y), x.ne(y)),
           strategy.on_grids(0.0, 0.0),
           lambda x, y: (x.lt(y), x.le(y), x.gt(y), x.ge(y), x.eq(y), x.ne(y)),
           lambda x, y: (x < y, x <= y, x > y, x >= y, x == y, x != y),
           example=lambda r: tuple(a.round() for a in (r.array(3, 4), r.array(4,))),
           functions=("Lt", "Le", "Gt", "Ge", "Eq", "Ne"), skip=BOOLEAN_OUTPUT),
    # (a number on the left: the reflected operators)
    OpCase("comparisons_with_numbers", lambda x: (x < 0.5, 1.0 >= x, x == 0.5, 0 != x),  # noqa: SIM300
           strategy.on_grids(0.0), lambda x: (x < 0.5, 1.0 >= x, x == 0.5, 0 != x),  # noqa: SIM300
           lambda x: (x < 0.5, 1.0 >= x, x == 0.5, 0 != x),  # noqa: SIM300
           example=lambda r: (r.array(3, 4).round(),),
           functions=("Lt", "Le", "Eq", "Ne"), skip=BOOLEAN_OUTPUT),
    # ---- boolean logic of issue 15 (protocol-polish)
    OpCase("logical_operators", lambda x, y: (~(x > 0), (x > 0) & (y > 0), (x > 0) | (y < 0),
                                              (x > 0) ^ (y >= 0), True & (y > 0)),
           strategy.on_grids(0.0, 0.0),
           lambda x, y: (~(x > 0), (x > 0) & (y > 0), (x > 0) | (y < 0), (x > 0) ^ (y >= 0),
                         True & (y > 0)),
           lambda x, y: (~(x > 0), (x > 0) & (y > 0), (x > 0) | (y < 0), (x > 0) ^ (y >= 0),
                         y > 0),
           example=lambda r: tuple(a.round() for a in (r.array(3, 4), r.array(3, 1))),
           functions=("LogicalNot", "LogicalAnd", "LogicalOr", "LogicalXor"),
           skip=BOOLEAN_OUTPUT,
           doc=Doc(("~b", "b & c", "|", "^"), "torch.Tensor.__and__",
                   "boolean tensors only (a number is refused: torch's are bitwise there); "
                   "boolean results without gradient, broadcasting")),
    OpCase("logical_methods", lambda x, y: (x.logical_not(), x.logical_and(y),
                                            x.logical_or(y), x.logical_xor(y)),
           strategy.on_grids(0.0, 0.0),
           lambda x, y: (x.logical_not(), x.logical_and(y), x.logical_or(y), x.logical_xor(y)),
           lambda x, y: (np.logical_not(x), np.logical_and(x, y), np.logical_or(x, y),
                         np.logical_xor(x, y)),
           example=lambda r: tuple(a.round() for a in (r.array(3, 4), r.array(4,))),
           functions=("LogicalNot", "LogicalAnd", "LogicalOr", "LogicalXor"),
           skip=BOOLEAN_OUTPUT,
           doc=Doc((".logical_not()", ".logical_and(y)", ".logical_or .logical_xor"),
                   "torch.logical_and", "any dtype, a nonzero number true; boolean results "
                   "without gradient, broadcasting")),
    OpCase("any_all", lambda x, axis, keepdims: ((x > 0).any(axis, keepdim=keepdims),
                                                 (x > 0).all(axis, keepdim=keepdims),
                                                 x.relu().any(axis, keepdim=keepdims)),
           strategy.reduction(),
           lambda x, axis, keepdims: ((x > 0).any(dim=axis, keepdim=keepdims),
                                      (x > 0).all(dim=axis, keepdim=keepdims),
                                      x.relu().any(dim=axis, keepdim=keepdims)),
           lambda x, axis, keepdims: (np.any(x > 0, axis=axis, keepdims=keepdims),
                                      np.all(x > 0, axis=axis, keepdims=keepdims),
                                      np.any(np.maximum(x, 0), axis=axis, keepdims=keepdims)),
           example=one_input(3, 4, axis=1, keepdims=False),
           functions=("AnyTrue", "AllTrue", "Gt", "Relu"), skip=BOOLEAN_OUTPUT,
           doc=Doc((".any(dim=None, keepdim=False)", ".all(...)"), "torch.any",
                   "a nonzero number true; dim an int or a tuple (none reduced for `()`, as "
                   "torch); boolean results without gradient")),
    OpCase("where", lambda c, x, y: where(c > 0, x, y), strategy.broadcastable_arrays(3),
           torch_where, lambda c, x, y: np.where(c > 0, x, y), grad_inputs=(1, 2),
           example=shapes((3, 4), (3, 4), (4,)), functions=("Where",),
           doc=Doc(("tr.where(condition, x, y)", "x.where(condition, y)"), "torch.where",
                   "a boolean condition (a float one is refused, as torch); broadcasting; "
                   "numbers for x or y")),
    OpCase("where_method_number", lambda c, x: x.where(c <= 0, 0.5),
           strategy.broadcastable_arrays(2), lambda c, x: x.where(c <= 0, 0.5),
           lambda c, x: np.where(c <= 0, x, 0.5), grad_inputs=(1,),
           example=MATRIX_AND_COLUMN, functions=("Le", "Where")),
    OpCase("masked_fill", lambda m, x: x.masked_fill(m > 0, -1.5),
           strategy.broadcastable_arrays(2), lambda m, x: x.masked_fill(m > 0, -1.5),
           lambda m, x: np.where(m > 0, -1.5, x), grad_inputs=(1,),
           example=shapes((4,), (3, 4)), functions=("Where",),
           doc=Doc(".masked_fill(mask, value)", "torch.Tensor.masked_fill",
                   "`value` where the boolean `mask` is True: a number, or a 0-d tensor "
                   "that gets the gradient of what it fills")),
    OpCase("rsqrt", lambda x: x.rsqrt(), strategy.positive_arrays(), lambda x: x.rsqrt(),
           lambda x: 1 / np.sqrt(x), example=lambda r: r.positive(3, 4), functions=("Rsqrt",),
           doc=Doc(".rsqrt()", "torch.rsqrt", "`1 / sqrt(x)`; `dx = -grad * out**3 / 2`")),
    OpCase("sin", lambda x: x.sin(), strategy.arrays(), lambda x: x.sin(), np.sin,
           example=UNARY, functions=("Sin",),
           doc=Doc(".sin()", "torch.sin", "`dx = grad * cos(x)`")),
    OpCase("cos", lambda x: x.cos(), strategy.arrays(), lambda x: x.cos(), np.cos,
           example=UNARY, functions=("Cos",),
           doc=Doc(".cos()", "torch.cos", "`dx = -grad * sin(x)`")),
    OpCase("log1p", lambda x: x.log1p(), strategy.arrays(elements=(-0.5, 3.0)),
           lambda x: x.log1p(), np.log1p, example=lambda r: r.array(3, 4, elements=(-0.5, 3.0)),
           functions=("Log1p",),
           doc=Doc(".log1p()", "torch.log1p", "`log(1 + x)`, accurate for tiny x")),
    OpCase("expm1", lambda x: x.expm1(), strategy.arrays(), lambda x: x.expm1(), np.expm1,
           example=UNARY, functions=("Expm1",),
           doc=Doc(".expm1()", "torch.expm1", "`exp(x) - 1`, accurate for tiny x")),
    OpCase("pow_tensor", lambda x, y: x ** y, POSITIVE_BASE, lambda x, y: x ** y, np.power,
           example=lambda r: (r.positive(3, 4), r.array(3, 1)), functions=("PowTensor",),
           doc=Doc(("x ** y", "x.pow(y)", "2 ** x"), "torch.pow",
                   "a tensor exponent, broadcasting; `dy = grad * out * log(x)`, 0 where "
                   "x = 0 and y >= 0, as torch")),
    OpCase("pow_method", lambda x, y: x.pow(y), POSITIVE_BASE, lambda x, y: x.pow(y),
           np.power, example=lambda r: (r.positive(4,), r.array(3, 4)),
           functions=("PowTensor",)),
    OpCase("rpow_number", lambda x: 2 ** x, strategy.arrays(), lambda x: 2 ** x,
           lambda x: 2.0 ** x, example=UNARY, functions=("PowTensor",)),
    OpCase("rpow_array", lambda a, x: a.data ** x, POSITIVE_BASE, lambda a, x: a ** x,
           np.power, grad_inputs=(1,), example=lambda r: (r.positive(3, 1), r.array(3, 4)),
           functions=("PowTensor",)),
    # reductions
    OpCase("sum", lambda x, axis, keepdims: x.sum(axis=axis, keepdims=keepdims),
           strategy.reduction(), torch_sum,
           lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims),
           example=one_input(3, 4, axis=1, keepdims=True), functions=("Sum",),
           doc=Doc(".sum(dim=None, keepdim=False)", "torch.sum",
                   "`dim` None (all axes), an int or a tuple; numpy's `axis`, `keepdims` too")),
    OpCase("mean", lambda x, axis, keepdims: x.mean(axis=axis, keepdims=keepdims),
           strategy.reduction(), torch_mean,
           lambda x, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims),
           example=one_input(3, 4, axis=0, keepdims=False), functions=("Mean",),
           doc=Doc(".mean(dim=None, keepdim=False)", "torch.mean",
                   "numpy's mean to the bit, float16 summed in float32")),
    OpCase("sum_default", lambda x: x.sum(), strategy.arrays(), lambda x: x.sum(), np.sum,
           example=UNARY, functions=("Sum",)),
    OpCase("mean_default", lambda x: x.mean(), strategy.arrays(), lambda x: x.mean(), np.mean,
           example=UNARY, functions=("Mean",)),
    # dtype
    OpCase("to_float32", lambda x: x.to(np.float32), strategy.arrays(),
           lambda x: x.float(), lambda x: x.astype(np.float32), example=UNARY, functions=("Cast",),
           doc=Doc((".to(dtype)", ".float()", ".double()"), "torch.Tensor.to",
                   "a cast to a floating dtype; the gradient flows back in the input's dtype"),
           skip={"gradients": "finite differences through a float32 rounding mean nothing; "
                              "tests/test_ops.py checks that the derivative is exactly 1"}),
    OpCase("double", lambda x: x.double(), strategy.arrays(), lambda x: x.double(),
           lambda x: x.astype(np.float64), example=UNARY, functions=("Cast",),
           skip={"dtype": "it makes float64 of float32 by design"}),
    # shape
    OpCase("reshape", lambda x, shape: x.reshape(shape), strategy.reshaped(),
           lambda x, shape: x.reshape(shape), lambda x, shape: x.reshape(shape),
           example=one_input(3, 4, shape=(-1,)), functions=("Reshape",),
           doc=Doc(".reshape(*shape)", "torch.reshape", "a tuple or the sizes; -1 once")),
    OpCase("reshape_varargs", lambda x, shape: x.reshape(*shape), strategy.reshaped(),
           lambda x, shape: x.reshape(shape), lambda x, shape: x.reshape(shape),
           example=one_input(3, 4, shape=(4, 3)), functions=("Reshape",)),
    OpCase("transpose_reverse", lambda x: x.transpose(), strategy.arrays(), reversed_axes,
           np.transpose, example=shapes((2, 3, 4)), functions=("Transpose",)),
    OpCase("T", lambda x: x.T, strategy.arrays(), reversed_axes, lambda x: x.T, example=UNARY,
           functions=("Transpose",)),
    OpCase("transpose_swap", lambda x, a, b: x.transpose(a, b), strategy.two_axes(),
           lambda x, a, b: x.transpose(a, b), lambda x, a, b: np.swapaxes(x, a, b),
           example=one_input(3, 4, a=0, b=1), functions=("Transpose",),
           doc=Doc((".transpose(*axes)", ".T"), "torch.transpose",
                   "two axes swap them, as torch; all axes permute them; none (and `.T`) "
                   "reverse them")),
    OpCase("transpose_swap_3d", lambda x, a, b: x.transpose(a, b),
           strategy.two_axes(min_dims=3), lambda x, a, b: x.transpose(a, b),
           lambda x, a, b: np.swapaxes(x, a, b), example=one_input(2, 3, 4, a=-1, b=0),
           functions=("Transpose",)),
    OpCase("transpose_permutation", lambda x, axes: x.transpose(axes),
           strategy.permutation(two_axes=False),
           lambda x, axes: x.permute(*axes), lambda x, axes: np.transpose(x, axes),
           example=one_input(2, 3, 4, axes=(0, 2, 1)), functions=("Transpose",)),
    OpCase("permute", lambda x, axes: x.permute(*axes), strategy.permutation(),
           lambda x, axes: x.permute(*axes), lambda x, axes: np.transpose(x, axes),
           example=one_input(2, 3, 4, axes=(-1, 0, 1)), functions=("Transpose",),
           doc=Doc(".permute(*axes)", "torch.permute", "negative axes count from the end")),
    OpCase("getitem_basic", lambda x, index: x[index], strategy.basic_index(),
           torch_basic_index, lambda x, index: x[index],
           example=one_input(3, 4, index=(slice(1, None), slice(None, None, -2))),
           functions=("GetItem",),
           doc=Doc("x[index]", "torch.Tensor.__getitem__", "ints, slices (negative steps "
                   "too), integer arrays; a repeated index adds its gradients")),
    OpCase("getitem_int_array", lambda x, index: x[index], strategy.array_index(), torch_index,
           lambda x, index: x[index], example=one_input(3, 4, index=np.array([0, 2, 0])),
           functions=("GetItem",)),
    OpCase("getitem_slice_and_int_array", lambda x, index: x[index],
           strategy.array_index(leading_slice=True), torch_index, lambda x, index: x[index],
           example=one_input(3, 4, index=(slice(None), np.array([1, 3, 1]))),
           functions=("GetItem",)),
    # (issue 17) GetItem's backward as an op, for create_graph; checked here through x[index]
    OpCase("place_at", lambda x, index: _place_at(x[index], index, x), strategy.basic_index(),
           numpy_fn=place_at_numpy, example=one_input(3, 4, index=(slice(1, None), 2)),
           functions=("GetItem", "PlaceAt"),
           doc=Doc("(x[index]'s backward under create_graph)", "-",
                   "zeros of x's shape with `grad` placed at `index`; its gradient is "
                   "grad[index]")),
    OpCase("concat", lambda *xs, axis: concat(xs, axis=axis), strategy.to_concat(), torch_cat,
           lambda *xs, axis: np.concatenate(xs, axis=axis),
           example=lambda r: Inputs((r.array(3, 4), r.array(3, 1)), {"axis": 1}),
           functions=("Concat",), doc=Doc("tr.concat(tensors, dim=0)", "torch.cat",
                                   "along an existing axis; each input gets its slice of `grad`")),
    OpCase("stack", lambda *xs, axis: stack(xs, axis=axis), strategy.to_concat(new_axis=True),
           torch_stack, lambda *xs, axis: np.stack(xs, axis=axis),
           example=lambda r: Inputs((r.array(3, 4), r.array(3, 4)), {"axis": 0}),
           functions=("Stack",), doc=Doc("tr.stack(tensors, dim=0)", "torch.stack",
                                  "along a new axis; each input gets its slice of `grad`")),
    # several outputs from one node
    OpCase("chunk", lambda x, chunks, axis: x.chunk(chunks, axis=axis), strategy.chunked(),
           lambda x, chunks, axis: x.chunk(chunks, dim=axis), chunk_numpy,
           example=one_input(3, 4, chunks=2, axis=-1), functions=("Split",),
           doc=Doc(".chunk(chunks, dim=0)", "torch.chunk",
                   "parts of ceil(n / chunks) elements, the last smaller, as torch; one node")),
    OpCase("chunk_5_into_3", lambda x: x.chunk(3, axis=0), strategy.arrays((5, 2)),
           lambda x: x.chunk(3, dim=0), lambda x: [x[0:2], x[2:4], x[4:5]],
           example=shapes((5, 2)), functions=("Split",)),
    OpCase("chunk_6_into_4", lambda x: x.chunk(4, axis=-1), strategy.arrays((2, 6)),
           lambda x: x.chunk(4, dim=-1), lambda x: [x[:, 0:2], x[:, 2:4], x[:, 4:6]],
           example=shapes((2, 6)), functions=("Split",)),
    OpCase("split_int", lambda x, sizes, axis: x.split(sizes, axis=axis),
           strategy.split_sizes(as_list=False), lambda x, sizes, axis: x.split(sizes, dim=axis),
           split_numpy, example=one_input(3, 4, sizes=3, axis=-1), functions=("Split",),
           doc=Doc(".split(sizes, dim=0)", "torch.split",
                   "`sizes` an int (equal parts, the last smaller) or a list; one node")),
    OpCase("split_list", lambda x, sizes, axis: x.split(sizes, axis=axis),
           strategy.split_sizes(as_list=True), lambda x, sizes, axis: x.split(sizes, dim=axis),
           split_numpy, example=one_input(3, 4, sizes=[1, 3], axis=-1), functions=("Split",)),
    OpCase("unbind", lambda x, axis: x.unbind(axis=axis), strategy.one_axis(),
           lambda x, axis: x.unbind(dim=axis), lambda x, axis: list(np.moveaxis(x, axis, 0)),
           example=one_input(3, 4, axis=0), functions=("Unbind",),
           doc=Doc(".unbind(dim=0)", "torch.unbind",
                   "the slices along `dim` from one node: a sequence's time steps")),
    OpCase("split_then_use_one_part", lambda x: x.split(1, axis=0)[1] * 2.0,
           strategy.arrays((3, 2)), lambda x: x.split(1, dim=0)[1] * 2.0,
           lambda x: x[1:2] * 2.0, example=shapes((3, 2)), functions=("Split", "Mul")),
    # composites of ops (functional.py)
    OpCase("softmax", lambda x, axis: F.softmax(x, dim=axis), strategy.one_axis(),
           lambda x, axis: x.softmax(dim=axis), softmax_numpy, example=one_input(3, 4, axis=-1),
           functions=("Sub", "Exp", "Sum", "Div"),
           doc=Doc("F.softmax(x, dim=-1)", "torch.softmax",
                   "the max subtracted first, so logits of any size stay finite")),
    OpCase("log_softmax", lambda x, axis: F.log_softmax(x, dim=axis), strategy.one_axis(),
           lambda x, axis: x.log_softmax(dim=axis), log_softmax_numpy,
           example=one_input(3, 4, axis=-1), functions=("Sub", "Exp", "Sum", "Log"),
           doc=Doc("F.log_softmax(x, dim=-1)", "torch.log_softmax",
                   "the max subtracted first, as softmax")),
    OpCase("cross_entropy", lambda x, target: F.cross_entropy(x, target),
           strategy.class_targets(), torch_cross_entropy, cross_entropy_numpy,
           example=one_input(3, 4, target=np.array([0, 3, 1])),
           functions=("Sub", "Exp", "Sum", "Log", "GetItem", "Mul", "Div"),
           doc=Doc("F.cross_entropy(logits, target, ...)", "torch.nn.functional.cross_entropy",
                   "through log_softmax; class weights, `ignore_index`, `label_smoothing`, "
                   "`reduction`")),
    OpCase("cross_entropy_label_smoothing",
           lambda x, target: F.cross_entropy(x, target, label_smoothing=0.1),
           strategy.class_targets(),
           lambda x, target: torch_cross_entropy(x, target, label_smoothing=0.1),
           lambda x, target: cross_entropy_numpy(x, target, label_smoothing=0.1),
           example=one_input(3, 4, target=np.array([0, 3, 1])),
           functions=("Sub", "Exp", "Sum", "Log", "GetItem", "Mul", "Div")),
    OpCase("mse_loss", F.mse_loss, strategy.same_shape_arrays(), torch_mse_loss,
           lambda x, y: np.mean((x - y) ** 2), example=shapes((3, 4), (3, 4)),
           functions=("Sub", "Mul", "Mean"),
           doc=Doc("F.mse_loss(input, target)", "torch.nn.functional.mse_loss",
                   "`reduction` 'mean', 'sum' or 'none'")),
    # ---- issue 15 (ops-func): activations, normalisations and losses of functional.py
    OpCase("softplus", F.softplus, strategy.arrays(), torch_functional("softplus"),
           lambda x: np.logaddexp(0, x), example=UNARY, functions=("Softplus",),
           doc=Doc("F.softplus(x, beta=1, threshold=20)", "torch.nn.functional.softplus",
                   "log(1 + exp(beta x)) / beta, x above the threshold; never overflows")),
    OpCase("softplus_beta_threshold", lambda x: F.softplus(x, beta=2.0, threshold=3.0),
           strategy.arrays(), lambda x: torch_functional("softplus")(x, 2.0, 3.0),
           lambda x: np.where(2 * x > 3, x, np.logaddexp(0, 2 * x) / 2),
           example=UNARY, functions=("Softplus",),
           skip={"gradients": "the cut-off at beta x = threshold is a jump of the value; "
                              "tests/test_functional_more.py checks the gradient by torch"}),
    OpCase("leaky_relu", F.leaky_relu, strategy.arrays(avoid_zero=0.1),
           torch_functional("leaky_relu"), lambda x: np.where(x > 0, x, 0.01 * x),
           example=lambda r: r.array(3, 4, avoid_zero=0.1), functions=("LeakyRelu",),
           doc=Doc("F.leaky_relu(x, negative_slope=0.01)", "torch.nn.functional.leaky_relu",
                   "the gradient at 0 is negative_slope, as torch")),
    OpCase("elu", lambda x: F.elu(x, alpha=0.5), strategy.arrays(avoid_zero=0.1),
           lambda x: torch_functional("elu")(x, 0.5),
           lambda x: np.where(x > 0, x, 0.5 * np.expm1(np.minimum(x, 0))),
           example=lambda r: r.array(3, 4, avoid_zero=0.1), functions=("Elu",),
           doc=Doc("F.elu(x, alpha=1.0)", "torch.nn.functional.elu",
                   "the gradient at 0 is alpha, as torch")),
    OpCase("gelu", F.gelu, strategy.arrays(), torch_functional("gelu"), gelu_numpy,
           example=UNARY, functions=("Gelu",),
           doc=Doc("F.gelu(x, approximate='none')", "torch.nn.functional.gelu",
                   "x Phi(x) through erf (Python's math.erf, per element), or "
                   "approximate='tanh'")),
    OpCase("normal_cdf", _normal_cdf, strategy.arrays(), torch_ndtr, normal_cdf_numpy,
           example=UNARY, functions=("NormalCdf",),
           doc=Doc("(F.gelu's backward under create_graph)", "torch.special.ndtr",
                   "Phi(x) = (1 + erf(x / sqrt 2)) / 2, the standard normal CDF")),
    OpCase("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), strategy.arrays(),
           lambda x: torch_functional("gelu")(x, approximate="tanh"),
           lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))),
           example=UNARY, functions=("Gelu",)),
    OpCase("silu", F.silu, strategy.arrays(), torch_functional("silu"),
           lambda x: x * sigmoid_numpy(x), example=UNARY, functions=("Sigmoid", "Mul"),
           doc=Doc("F.silu(x)", "torch.nn.functional.silu", "x * sigmoid(x)")),
    OpCase("layer_norm", lambda x: F.layer_norm(x, x.shape[-1:]), strategy.arrays(min_dims=1),
           lambda x: torch_functional("layer_norm")(x, x.shape[-1:]), layer_norm_numpy,
           example=UNARY, functions=("Mean", "Sub", "Mul", "Add", "Pow"),
           doc=Doc("F.layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5)",
                   "torch.nn.functional.layer_norm",
                   "over the last axes; the biased variance, as torch")),
    OpCase("layer_norm_affine", lambda x, w, b: F.layer_norm(x, (4,), w, b),
           strategy.arrays_of_shapes((2, 3, 4), (4,), (4,)),
           lambda x, w, b: torch_functional("layer_norm")(x, (4,), w, b),
           lambda x, w, b: layer_norm_numpy(x) * w + b,
           example=shapes((2, 3, 4), (4,), (4,)), functions=("Mean", "Sub", "Mul", "Add", "Pow")),
    OpCase("normalize", lambda x: F.normalize(x, dim=-1),
           strategy.arrays(min_dims=1, avoid_zero=0.1),
           lambda x: torch_functional("normalize")(x, dim=-1),
           lambda x: x / np.sqrt((x * x).sum(axis=-1, keepdims=True)),
           example=UNARY, functions=("Mul", "Sum", "Add", "Pow", "Div"),
           doc=Doc("F.normalize(x, p=2.0, dim=1, eps=1e-12)", "torch.nn.functional.normalize",
                   "x / max(norm_p(x), eps); p >= 0 or inf; torch's gradient at zeros")),
    OpCase("normalize_p1", lambda x: F.normalize(x, p=1.0, dim=0),
           strategy.arrays(min_dims=1, avoid_zero=0.1),
           lambda x: torch_functional("normalize")(x, p=1.0, dim=0),
           lambda x: x / np.abs(x).sum(axis=0, keepdims=True),
           example=UNARY, functions=("Mul", "Sum", "Add", "Div")),
    OpCase("nll_loss", lambda x, target: F.nll_loss(x, target), strategy.class_targets(),
           torch_nll_loss, lambda x, target: -np.mean(
               x.reshape(-1, x.shape[-1])[np.arange(target.size), target.reshape(-1)]),
           example=one_input(3, 4, target=np.array([0, 3, 1])),
           functions=("GetItem", "Mul", "Neg", "Sum", "Div"),
           doc=Doc("F.nll_loss(log_probs, target, ...)", "torch.nn.functional.nll_loss",
                   "cross_entropy's weights, `ignore_index`, `reduction`; cross_entropy is "
                   "nll_loss of log_softmax")),
    OpCase("binary_cross_entropy",
           lambda x, t: F.binary_cross_entropy(x.sigmoid(), t.sigmoid()),
           strategy.same_shape_arrays(), torch_bce_of_sigmoids,
           lambda x, t: np.mean(bce_numpy(sigmoid_numpy(x), sigmoid_numpy(t))),
           example=shapes((3, 4), (3, 4)),
           functions=("Sigmoid", "BinaryCrossEntropy", "Mean"),
           doc=Doc("F.binary_cross_entropy(probs, target, weight=None)",
                   "torch.nn.functional.binary_cross_entropy",
                   "each log clamped at -100 as torch; probabilities outside [0, 1] refused")),
    OpCase("binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits,
           strategy.same_shape_arrays(), torch_functional("binary_cross_entropy_with_logits"),
           lambda x, t: np.mean((1 - t) * x + np.logaddexp(0, -x)),
           example=shapes((3, 4), (3, 4)), functions=("Neg", "Softplus", "Sub", "Mul", "Add"),
           doc=Doc("F.binary_cross_entropy_with_logits(logits, target, weight=None, "
                   "pos_weight=None)", "torch.nn.functional.binary_cross_entropy_with_logits",
                   "torch's stable form: finite for logits of any size")),
    OpCase("binary_cross_entropy_with_logits_pos_weight",
           lambda x, t, p: F.binary_cross_entropy_with_logits(x, t, pos_weight=p),
           strategy.arrays_of_shapes((3, 4), (3, 4), (4,)),
           lambda x, t, p: torch_functional("binary_cross_entropy_with_logits")(
               x, t, pos_weight=p),
           lambda x, t, p: np.mean((1 - t) * x + (1 + (p - 1) * t) * np.logaddexp(0, -x)),
           grad_inputs=(0, 1), example=shapes((3, 4), (3, 4), (4,)),
           functions=("Neg", "Softplus", "Sub", "Mul", "Add")),
    OpCase("l1_loss", F.l1_loss, strategy.same_shape_arrays(elements=[(0.5, 3.0), (-3.0, -0.5)]),
           torch_functional("l1_loss"), lambda x, y: np.mean(np.abs(x - y)),
           example=lambda r: (r.positive(3, 4), -r.positive(3, 4)), functions=("Sub", "Mul"),
           doc=Doc("F.l1_loss(input, target)", "torch.nn.functional.l1_loss",
                   "the gradient at a tie is 0, as torch")),
    OpCase("l1_loss_below", F.l1_loss,
           strategy.same_shape_arrays(elements=[(-3.0, -0.5), (0.5, 3.0)]),
           torch_functional("l1_loss"), lambda x, y: np.mean(np.abs(x - y)),
           example=lambda r: (-r.positive(3, 4), r.positive(3, 4)), functions=("Sub", "Mul")),
    OpCase("smooth_l1_loss", lambda x, y: F.smooth_l1_loss(x, y, beta=0.5),
           strategy.same_shape_arrays(),
           lambda x, y: torch_functional("smooth_l1_loss")(x, y, beta=0.5),
           lambda x, y: np.mean(huber_numpy(x - y, 0.5) / 0.5),
           example=shapes((3, 4), (3, 4)), functions=("Sub", "Mul", "Div", "Add"),
           doc=Doc("F.smooth_l1_loss(input, target, beta=1.0)",
                   "torch.nn.functional.smooth_l1_loss", "beta = 0 is l1_loss, as torch")),
    OpCase("huber_loss", lambda x, y: F.huber_loss(x, y, delta=0.5),
           strategy.same_shape_arrays(),
           lambda x, y: torch_functional("huber_loss")(x, y, delta=0.5),
           lambda x, y: np.mean(huber_numpy(x - y, 0.5)),
           example=shapes((3, 4), (3, 4)), functions=("Sub", "Mul", "Add"),
           doc=Doc("F.huber_loss(input, target, delta=1.0)", "torch.nn.functional.huber_loss",
                   "delta * smooth_l1_loss(beta=delta)")),
    # ---- end of issue 15 (ops-func)
]


# ---- reductions and shape ops of issue 15 (ops-reduce)
# (max, min and the inf-norm draw distinct magnitudes: ties, where torch's gradient
# is a convention, are tested against torch in tests/test_ops_reduce.py)


def all_if_none(axis: Any, ndim: int) -> Any:
    """torch's "every dim" for reductions that need a dim: a tuple of them (0 for 0-d)."""
    if axis is None or axis == ():
        return tuple(range(ndim)) or 0
    return axis


def numpy_axis(axis: Any) -> Any:
    return None if axis == () else axis


def logsumexp_numpy(x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    axis = numpy_axis(axis)
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def norm_numpy(x: np.ndarray, p: Any, axis: Any, keepdims: bool) -> np.ndarray:
    p, axis, a = (2.0 if p == "fro" else p), numpy_axis(axis), np.abs(x)
    if p == np.inf:
        return np.max(a, axis=axis, keepdims=keepdims)
    return np.sum(a ** p, axis=axis, keepdims=keepdims) ** (1 / p)


def torch_norm(x: torch.Tensor, p: Any, axis: Any, keepdims: bool) -> torch.Tensor:
    import torch
    return torch.linalg.vector_norm(x, ord=2.0 if p == "fro" else p, dim=numpy_axis(axis),
                                    keepdim=keepdims)


def squeeze_numpy(x: np.ndarray, dim: Any) -> np.ndarray:
    dims = range(x.ndim) if dim is None else [dim] if isinstance(dim, int) else dim
    return np.squeeze(x, axis=tuple(d % x.ndim for d in dims if x.shape[d] == 1))


def flatten_numpy(x: np.ndarray, start_dim: int, end_dim: int) -> np.ndarray:
    if x.ndim == 0:
        return x.reshape(1)
    start, end = start_dim % x.ndim, end_dim % x.ndim
    return x.reshape(x.shape[:start] + (-1,) + x.shape[end + 1:])


def expand_numpy(x: np.ndarray, sizes: tuple[int, ...]) -> np.ndarray:
    new = len(sizes) - x.ndim
    return np.broadcast_to(x, tuple(x.shape[i - new] if n == -1 else n
                                    for i, n in enumerate(sizes)))


def gather_numpy(x: np.ndarray, dim: int, index: np.ndarray) -> np.ndarray:
    part = x[tuple(slice(0, None if d == dim % x.ndim else n) for d, n in enumerate(index.shape))]
    return np.take_along_axis(part, index, axis=dim)


def torch_einsum(*xs: torch.Tensor, equation: str) -> torch.Tensor:
    import torch
    return torch.einsum(equation, *xs)


CASES += [
    OpCase("amax", lambda x, axis, keepdims: x.amax(axis, keepdim=keepdims),
           strategy.distinct_reduction(),
           lambda x, axis, keepdims: x.amax(dim=() if axis is None else axis, keepdim=keepdims),
           lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims),
           example=one_input(3, 4, axis=1, keepdims=False), functions=("Amax",),
           doc=Doc(".amax(dim=(), keepdim=False)", "torch.amax",
                   "ties share the gradient evenly, as torch")),
    OpCase("amin", lambda x, axis, keepdims: x.amin(axis, keepdim=keepdims),
           strategy.distinct_reduction(),
           lambda x, axis, keepdims: x.amin(dim=() if axis is None else axis, keepdim=keepdims),
           lambda x, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims),
           example=one_input(3, 4, axis=(0, 1), keepdims=True), functions=("Amin",),
           doc=Doc(".amin(dim=(), keepdim=False)", "torch.amin",
                   "ties share the gradient evenly, as torch")),
    OpCase("max_all", lambda x: x.max(), strategy.distinct_arrays(), lambda x: x.max(), np.max,
           example=UNARY, functions=("Amax",)),
    OpCase("min_all", lambda x: x.min(), strategy.distinct_arrays(), lambda x: x.min(), np.min,
           example=UNARY, functions=("Amin",)),
    OpCase("max_dim", lambda x, axis, keepdims: tuple(x.max(axis, keepdim=keepdims)),
           strategy.distinct_reduction(one_dim=True),
           lambda x, axis, keepdims: tuple(x.max(dim=axis, keepdim=keepdims)),
           lambda x, axis, keepdims: (np.max(x, axis=axis, keepdims=keepdims),
                                      np.argmax(x, axis=axis, keepdims=keepdims)),
           example=one_input(3, 4, axis=1, keepdims=False), functions=("Gather", "Reshape"),
           doc=Doc((".max(dim=None, keepdim=False)", ".min(...)"), "torch.max",
                   "no dim: the largest element, ties sharing the gradient; with `dim`: "
                   "`(values, indices)`, int64 indices (the first of ties) and all the "
                   "gradient at them, as torch; `.argmax`, `.argmin` give the indices alone"),
           skip={"gradients": "the indices have none: max_dim_values checks the values'",
                 "dtype": "the indices are int64, as torch's: max_dim_values checks float32"}),
    OpCase("max_dim_values", lambda x, axis, keepdims: x.max(axis, keepdim=keepdims).values,
           strategy.distinct_reduction(one_dim=True),
           lambda x, axis, keepdims: x.max(dim=axis, keepdim=keepdims).values,
           lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims),
           example=one_input(3, 4, axis=0, keepdims=False), functions=("Gather", "Reshape")),
    OpCase("min_dim_values", lambda x, axis, keepdims: x.min(axis, keepdim=keepdims).values,
           strategy.distinct_reduction(one_dim=True),
           lambda x, axis, keepdims: x.min(dim=axis, keepdim=keepdims).values,
           lambda x, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims),
           example=one_input(3, 4, axis=-1, keepdims=False), functions=("Gather", "Reshape")),
    OpCase("logsumexp", lambda x, axis, keepdims: x.logsumexp(all_if_none(axis, x.ndim),
                                                              keepdim=keepdims),
           strategy.reduction(),
           lambda x, axis, keepdims: x.logsumexp(all_if_none(axis, x.ndim), keepdim=keepdims),
           logsumexp_numpy, example=one_input(3, 4, axis=1, keepdims=False),
           functions=("LogSumExp",),
           doc=Doc(".logsumexp(dim, keepdim=False)", "torch.logsumexp",
                   "the max subtracted first: finite for logits of any size")),
    OpCase("var", lambda x, axis, keepdims, correction: x.var(axis, keepdim=keepdims,
                                                              correction=correction),
           strategy.var_inputs(),
           lambda x, axis, keepdims, correction: x.var(dim=axis, keepdim=keepdims,
                                                       correction=correction),
           lambda x, axis, keepdims, correction: np.var(x, axis=numpy_axis(axis),
                                                        keepdims=keepdims, ddof=correction),
           example=one_input(3, 4, axis=1, keepdims=False, correction=1),
           functions=("Var",),
           doc=Doc(".var(dim=None, *, correction=1, keepdim=False)", "torch.var",
                   "divides by n - correction (`unbiased=False` is 0); nan when that is <= 0")),
    OpCase("std", lambda x, axis, keepdims, correction: x.std(axis, keepdim=keepdims,
                                                              correction=correction),
           strategy.var_inputs(),
           lambda x, axis, keepdims, correction: x.std(dim=axis, keepdim=keepdims,
                                                       correction=correction),
           lambda x, axis, keepdims, correction: np.std(x, axis=numpy_axis(axis),
                                                        keepdims=keepdims, ddof=correction),
           example=one_input(3, 4, axis=0, keepdims=True, correction=0),
           functions=("Std",),
           doc=Doc(".std(dim=None, *, correction=1, keepdim=False)", "torch.std",
                   "as var; the gradient at std 0 is 0, as torch")),
    OpCase("norm", lambda x, p, axis, keepdims: x.norm(p, axis, keepdim=keepdims),
           strategy.norm_inputs(), torch_norm, norm_numpy,
           example=lambda r: Inputs((r.array(3, 4, avoid_zero=0.3),),
                                    {"p": 2.0, "axis": 1, "keepdims": False}),
           functions=("Norm",),
           doc=Doc(".norm(p='fro', dim=None, keepdim=False)", "torch.norm",
                   "p > 0, inf or 'fro' (2); the gradient at a zero norm is 0, as torch")),
    OpCase("cumsum", lambda x, axis: x.cumsum(axis), strategy.one_axis(),
           lambda x, axis: x.cumsum(axis), lambda x, axis: np.cumsum(x, axis=axis),
           example=one_input(3, 4, axis=1), functions=("Cumsum",),
           doc=Doc(".cumsum(dim)", "torch.cumsum", "`dx` is the cumulative sum of `grad` "
                   "from the end")),
    OpCase("squeeze", lambda x, dim: x.squeeze(dim), strategy.squeezable(),
           lambda x, dim: x.squeeze() if dim is None else x.squeeze(dim), squeeze_numpy,
           example=one_input(3, 1, 4, dim=1), functions=("Reshape",),
           doc=Doc(".squeeze(dim=None)", "torch.squeeze", "dims of size 1 among `dim` (an int "
                   "or a tuple; all when None); a reshape")),
    OpCase("unsqueeze", lambda x, dim: x.unsqueeze(dim), strategy.new_axis(),
           lambda x, dim: x.unsqueeze(dim), lambda x, dim: np.expand_dims(x, dim),
           example=one_input(3, 4, dim=-1), functions=("Reshape",),
           doc=Doc(".unsqueeze(dim)", "torch.unsqueeze", "a reshape")),
    OpCase("flatten", lambda x, start_dim, end_dim: x.flatten(start_dim, end_dim),
           strategy.flatten_dims(), lambda x, start_dim, end_dim: x.flatten(start_dim, end_dim),
           flatten_numpy, example=one_input(2, 3, 4, start_dim=1, end_dim=-1),
           functions=("Reshape",),
           doc=Doc(".flatten(start_dim=0, end_dim=-1)", "torch.flatten", "a reshape")),
    OpCase("expand", lambda x, sizes: x.expand(*sizes), strategy.expandable(),
           lambda x, sizes: x.expand(tuple(sizes)), expand_numpy,
           example=one_input(3, 1, sizes=(2, -1, 4)), functions=("Expand",),
           doc=Doc(".expand(*sizes)", "torch.expand", "dims of 1 repeated, new leading dims; "
                   "-1 keeps a size; a read-only view; the gradient sums the copies")),
    OpCase("flip", lambda x, dims: x.flip(dims), strategy.flip_dims(),
           lambda x, dims: x.flip(dims), lambda x, dims: np.flip(x, dims),
           example=one_input(3, 4, dims=(0, 1)), functions=("Flip",),
           doc=Doc(".flip(dims)", "torch.flip", "a copy")),
    OpCase("gather", lambda x, dim, index: x.gather(dim, index), strategy.gather_inputs(),
           lambda x, dim, index: x.gather(dim, torch_long(index)), gather_numpy,
           example=one_input(3, 4, dim=1, index=np.array([[0, 3], [1, 1], [2, 0]])),
           functions=("Gather",),
           doc=Doc(".gather(dim, index)", "torch.gather",
                   "`index` of the same number of dims (integers: argmax's int64 tensor, or "
                   "whole floats); a place picked twice adds its gradients")),
    OpCase("index_select", lambda x, dim, index: x.index_select(dim, index),
           strategy.index_select_inputs(),
           lambda x, dim, index: x.index_select(dim, torch_long(index)),
           lambda x, dim, index: np.take(x, index, axis=dim),
           example=one_input(3, 4, dim=0, index=np.array([2, 0, 2])),
           functions=("IndexSelect",),
           doc=Doc(".index_select(dim, index)", "torch.index_select",
                   "a 1-D `index`; a repeated index adds its gradients")),
    OpCase("einsum", lambda *xs, equation: einsum(equation, *xs), strategy.einsum_inputs(),
           torch_einsum, lambda *xs, equation: np.einsum(equation, *xs),
           example=lambda r: Inputs((r.array(2, 2, 3), r.array(3, 2)),
                                    {"equation": "iij,jk->ik"}),
           functions=("Einsum",),
           doc=Doc("tr.einsum(equation, *operands)", "torch.einsum",
                   "any equation numpy takes: implicit output, diagonals (`ii->i`), "
                   "`...`; each operand's gradient is an einsum")),
]


def torch_long(index: np.ndarray) -> torch.Tensor:
    import torch
    return torch.as_tensor(index, dtype=torch.long)


def by_name(name: str) -> OpCase:
    """The row called ``name``."""
    for case in CASES:
        if case.name == name:
            return case
    raise KeyError(f"no op case named {name!r}")


# --------------------------------------------------------------------------- docs/api.md

API_DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"
BEGIN = ("<!-- op table: generated from tinygrad_rnn/op_cases.py by "
         "`python -m tinygrad_rnn.op_cases`; edit the rows there, not here -->")
END = "<!-- end of the op table -->"


def api_table() -> str:
    """The op table of docs/api.md: one line per row of ``CASES`` with a ``doc``."""
    lines = ["| call | op (`tinygrad_rnn.ops`) | torch | what |", "|---|---|---|---|"]
    for case in CASES:
        if case.doc is not None:
            calls, torch_name, what = case.doc
            calls = (calls,) if isinstance(calls, str) else calls
            calls = ", ".join(f"`{call}`" for call in calls)
            ops = ", ".join(f"`{name}`" for name in case.functions)
            lines.append(f"| {calls} | {ops} | `{torch_name}` | {what} |")
    return "\n".join(lines)


def update_api_doc(text: str) -> str:
    """``text`` (docs/api.md) with the lines between the markers replaced by ``api_table()``."""
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise ValueError(f"docs/api.md must hold each marker once:\n{BEGIN}\n{END}")
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n{api_table()}\n{END}{tail}"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tinygrad_rnn.op_cases [--check]``: rewrite the op table of docs/api.md,
    or with ``--check`` only say whether it is up to date (exit status 1 if not)."""
    argv = sys.argv[1:] if argv is None else argv
    text = API_DOC.read_text(encoding="utf-8")
    updated = update_api_doc(text)
    if "--check" in argv:
        print("docs/api.md: the op table is "
              + ("up to date" if updated == text
                 else "out of date; run python -m tinygrad_rnn.op_cases"))
        return 0 if updated == text else 1
    API_DOC.write_text(updated, encoding="utf-8")
    print(f"wrote the op table of {API_DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
