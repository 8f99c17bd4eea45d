"""Every differentiable operation, forward and backward side by side.

Vocabulary of the docstrings (as in PyTorch's derivatives table): ``grad`` is
the gradient of the loss with respect to the op's output, ``out`` is the
output, inputs go by name. ``dx`` is what ``backward`` returns for input ``x``.

Binary ops broadcast like numpy. Their ``backward`` returns gradients of the
broadcast shape; the engine (``autograd.unbroadcast``) sums them back down to
each input's shape, so the maths below never deals with broadcasting.
``ctx.needs_input_grad`` lets an op skip a gradient nobody asked for.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .arguments import describe, is_int
from .autograd import Function, ShapeError, no_grad, note_frozen
from .dims import check_dim

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

    from .autograd import Context
    from .dims import Dims

    # the axes as numpy's reductions take them
    _Axes = int | tuple[int, ...] | None


class Derived(tuple):
    """Values a forward derived from its inputs, saved for the backward on arrays only
    (to save it recomputing them). A backward under create_graph must not use them: to
    the second derivative they would be constants; it recomputes them from the saved
    inputs or outputs by ops. (The engine shows a saved tuple to such a backward as it
    is, and frees it with the other saved values.)"""


def _values(value: Any) -> np.ndarray:
    """The array of a Tensor (for a mask, a count: constants), or the array itself. (A
    constant made of a Tensor's numbers would be frozen in a recorded step: say so.)"""
    if _on_graph(value):
        note_frozen("a backward made a constant of a value's numbers")
        return value.data
    return value


def _as_dtype(value: Any, dtype: np.dtype) -> Any:
    """``value`` cast to ``dtype`` without a copy; a Tensor as it is (the engine casts a
    create_graph gradient to its input's dtype)."""
    return value if _on_graph(value) else value.astype(dtype, copy=False)


def _nonzero(value: Any, zero: np.ndarray) -> Any:
    """A Tensor with 1 where ``zero``, for a division whose result ``np.where`` then drops
    there: the division's own derivative would be inf there, and 0 * inf a nan in the
    second derivative. An array as it is (the value dropped is never differentiated)."""
    return np.where(zero, 1.0, value) if _on_graph(value) else value


def _on_graph(value: Any) -> bool:
    """Is this gradient a Tensor (a create_graph backward), not an array or numpy number?
    A backward that must write into an array, or that takes a shortcut only arrays
    allow, asks this, and runs ops instead (docs/engine.md, "Gradients of gradients")."""
    return type(value) is not np.ndarray and hasattr(value, "_from_op")  # (arrays: one test)


# --------------------------------------------------------------------------- forward mode
# Each op's jvp(ctx, *tangents) (tr.func.jvp; docs/engine.md, "Forward mode") gets one
# tangent per input, None for an input without one, after forward ran, and returns the
# output's tangent. It reads what forward saved, shown to it as the input and output
# Tensors they are, and ``ctx.jvp_params`` (apply's keyword parameters). Like the
# backwards, the rules are written with operators and numpy functions, which Tensors
# take too: the tangents are Tensors, so jvp of jvp and jvp of a gradient work.
# An elementwise op's Jacobian is diagonal, J = J^T, so its rule is its own backward.


def _plus(*terms: Any) -> Any:
    """The sum of the terms that are not None (None if none is): a tangent's parts."""
    total = None
    for term in terms:
        if term is not None:
            total = term if total is None else total + term
    return total


def _linear_jvp(ctx: Context, *tangents: Any) -> Any:
    """An op linear in its inputs (sum, reshape, getitem, concat, ...): its tangent is the
    op itself applied to the tangents (zeros for an input without one)."""
    filled = [t if t is not None else x._constant(np.zeros(x.shape, x.dtype))
              for t, x in zip(tangents, ctx.jvp_inputs)]
    return ctx.fn.apply(*filled, **ctx.jvp_params)


def _with_needs(ctx: Context, needs: tuple[bool, ...], call: Any) -> Any:
    """``call()`` (an op's backward) with ``ctx.needs_input_grad`` set to ``needs`` for it."""
    previous = getattr(ctx, "needs_input_grad", None)
    ctx.needs_input_grad = needs
    try:
        return call()
    finally:
        if previous is None:
            del ctx.needs_input_grad
        else:
            ctx.needs_input_grad = previous


def _jvp_by_shares(ctx: Context, *tangents: Any) -> Any:
    """The tangent of an op whose output is, element by element, one of its inputs (or
    their mean at a tie: clamp, maximum, minimum): each input's share of an element is
    what its backward gives for grad = 1, so t_out = sum of share * tangent."""
    needs = tuple(t is not None for t in tangents)
    shares = _with_needs(ctx, needs, lambda: ctx.fn.backward(ctx, 1.0))
    return _plus(*[None if t is None else t * s for t, s in zip(tangents, shares)])


def _jvp_of_reduction(ctx: Context, t_x: Any) -> Any:
    """The tangent of a reduction over ``axis`` (amax, logsumexp, var, std, norm): each
    output element is a function of its slice of x, so t_out = the sum over the slice of
    (d out / d x_i) t_x_i, the partials being what the op's backward gives for grad = 1.
    That grad is a Tensor of ones, so that the backward computes them by ops from x and
    out (never from a value its forward derived): outer levels' tangents flow through."""
    (x,) = ctx.jvp_inputs
    ones = x._constant(np.ones(ctx.kept_shape, x.dtype))
    partials = _with_needs(ctx, (True,), lambda: ctx.fn.backward(ctx, ones))
    axis = ctx.jvp_params.get("axis")
    t_kept = np.add.reduce(partials * t_x, axis=axis, keepdims=True)
    return t_kept.reshape(_reduced_shape(ctx.kept_shape, axis,
                                         ctx.jvp_params.get("keepdims", False)))


def _reduced_shape(kept_shape: tuple[int, ...], axis: _Axes, keepdims: bool) -> tuple[int, ...]:
    """The shape of a reduction's output, from its shape with the reduced axes kept."""
    if keepdims or not kept_shape:
        return kept_shape
    axes = range(len(kept_shape)) if axis is None else (axis,) if isinstance(axis, int) else axis
    gone = {a % len(kept_shape) for a in axes}
    return tuple(n for i, n in enumerate(kept_shape) if i not in gone)


# --------------------------------------------------------------------------- arithmetic


class Add(Function):
    """out = x + y.   dx = grad,  dy = grad.
    tangent (forward mode): t_out = t_x + t_y."""

    twice_differentiable = True

    broadcasts = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return x + y

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return grad, grad

    @staticmethod
    def jvp(ctx: Context, t_x: Any, t_y: Any) -> Any:
        return _plus(t_x, t_y)


class Sub(Function):
    """out = x - y.   dx = grad,  dy = -grad.
    tangent (forward mode): t_out = t_x - t_y."""

    twice_differentiable = True

    broadcasts = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return x - y

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return grad, (-grad if ctx.needs_input_grad[1] else None)

    @staticmethod
    def jvp(ctx: Context, t_x: Any, t_y: Any) -> Any:
        return _plus(t_x, None if t_y is None else -t_y)


class Mul(Function):
    """out = x * y.   dx = grad * y,  dy = grad * x.
    tangent (forward mode): t_out = t_x * y + x * t_y."""

    twice_differentiable = True

    broadcasts = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        x, y = ctx.saved_tensors
        need_x, need_y = ctx.needs_input_grad
        return (grad * y if need_x else None), (grad * x if need_y else None)

    @staticmethod
    def jvp(ctx: Context, t_x: Any, t_y: Any) -> Any:
        x, y = ctx.saved_tensors
        return _plus(None if t_x is None else t_x * y, None if t_y is None else x * t_y)


class Div(Function):
    """out = x / y.   dx = grad / y,  dy = -grad * out / y.
    tangent (forward mode): t_out = (t_x - out * t_y) / y."""

    twice_differentiable = True

    broadcasts = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = x / y
        ctx.save_for_backward(y, out)
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        y, out = ctx.saved_tensors
        dx = grad / y
        return dx, (-dx * out if ctx.needs_input_grad[1] else None)

    @staticmethod
    def jvp(ctx: Context, t_x: Any, t_y: Any) -> Any:
        y, out = ctx.saved_tensors
        return _plus(t_x, None if t_y is None else -(out * t_y)) / y


class Neg(Function):
    """out = -x.   dx = -grad.
    tangent (forward mode): t_out = -t_x."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        return -x

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        return -grad

    jvp = staticmethod(_linear_jvp)


class Pow(Function):
    """out = x ** p for a number p.   dx = grad * p * x ** (p - 1)  (0 for p = 0, as torch,
    also at x = 0 where the formula reads 0 * inf).
    tangent (forward mode): t_out = t_x * p * x ** (p - 1)  (0 for p = 0)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, exponent: float) -> np.ndarray:
        ctx.save_for_backward(x)
        ctx.exponent = exponent
        return x ** exponent

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        (x,) = ctx.saved_tensors
        p = ctx.exponent
        if p == 2.0:  # the common case, without a general power
            return grad * (2.0 * x)
        if p == 0.0:  # a constant: no gradient, not 0 * x ** -1 (nan at x = 0)
            return np.zeros_like(grad * x)
        return grad * (p * x ** (p - 1.0))

    @staticmethod
    def jvp(ctx: Context, t_x: Any) -> Any:
        return Pow.backward(ctx, t_x)  # (the derivative is a number per element: the same)


class Matmul(Function):
    """out = x @ y, numpy's matmul: 1-D, 2-D, or batched with broadcast batch axes.

    For 2-D x (n, k) and y (k, m):  dx = grad @ y^T,  dy = x^T @ grad.
    A 1-D x is a row (1, k) and a 1-D y a column (k, 1) for the same formulas,
    and the added axis is dropped again; batch axes are summed by the engine.

    tangent (forward mode): t_out = t_x @ y + x @ t_y."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if x.ndim == 0 or y.ndim == 0:
            raise ShapeError(f"matmul: both operands need at least one dimension, "
                             f"got shapes {x.shape} and {y.shape}; use * to scale")
        k_y = y.shape[0] if y.ndim == 1 else y.shape[-2]
        if x.shape[-1] != k_y:
            raise ShapeError(f"matmul: shapes {x.shape} and {y.shape} do not align: "
                             f"x has {x.shape[-1]} columns but y has {k_y} rows")
        ctx.save_for_backward(x, y)
        try:
            return x @ y
        except ValueError:
            raise ShapeError(f"matmul: batch axes {x.shape[:-2]} and {y.shape[:-2]} cannot be "
                             f"broadcast together (shapes {x.shape} and {y.shape})") from None

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        x, y = ctx.saved_tensors
        need_x, need_y = ctx.needs_input_grad
        x2 = x[None, :] if x.ndim == 1 else x
        y2 = y[:, None] if y.ndim == 1 else y
        if y.ndim == 1:  # restore the column axis matmul dropped ...
            grad = grad[..., None]
        if x.ndim == 1:  # ... and then the row axis
            grad = np.expand_dims(grad, -2)
        dx = dy = None
        if need_x:  # (the swapaxes method, not np.swapaxes: a microsecond less per call)
            dx = grad @ y2.swapaxes(-1, -2)
            if x.ndim == 1:
                dx = dx[..., 0, :]
        if need_y:
            dy = x2.swapaxes(-1, -2) @ grad
            if y.ndim == 1:
                dy = dy[..., 0]
        return dx, dy

    @staticmethod
    def jvp(ctx: Context, t_x: Any, t_y: Any) -> Any:
        x, y = ctx.saved_tensors
        return _plus(None if t_x is None else t_x @ y, None if t_y is None else x @ t_y)


class Addmm(Function):
    """out = input + mat1 @ mat2, for 2-D mat1 (n, k) and mat2 (k, m); input broadcasts
    to (n, m) (torch.addmm).   dinput = grad,  dmat1 = grad @ mat2^T,  dmat2 = mat1^T @ grad.

    One node where ``input + mat1 @ mat2`` makes two, for the sum a recurrent
    step computes at every time step (xp + h W_hh^T) and a linear layer once
    (bias + x W^T).

    tangent (forward mode): t_out = t_input + t_mat1 @ mat2 + mat1 @ t_mat2."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, input: np.ndarray, mat1: np.ndarray, mat2: np.ndarray) -> np.ndarray:
        if mat1.ndim != 2 or mat2.ndim != 2 or mat1.shape[1] != mat2.shape[0]:
            raise ShapeError(f"addmm: mat1 and mat2 must be 2-D matrices that align, (n, k) "
                             f"and (k, m), got shapes {mat1.shape} and {mat2.shape}")
        product = mat1 @ mat2
        try:
            out = input + product
            fits = out.shape == product.shape  # not a broadcast of the product itself
        except ValueError:
            fits = False
        if not fits:
            raise ShapeError(f"addmm: input of shape {input.shape} does not broadcast to the "
                             f"product's shape {product.shape}")
        ctx.save_for_backward(mat1, mat2)
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        mat1, mat2 = ctx.saved_tensors
        _, need_mat1, need_mat2 = ctx.needs_input_grad
        return (grad, grad @ mat2.T if need_mat1 else None,
                mat1.T @ grad if need_mat2 else None)

    @staticmethod
    def jvp(ctx: Context, t_input: Any, t_mat1: Any, t_mat2: Any) -> Any:
        mat1, mat2 = ctx.saved_tensors
        return _plus(t_input, None if t_mat1 is None else t_mat1 @ mat2,
                     None if t_mat2 is None else mat1 @ t_mat2)


class Addcmul(Function):
    """out = input + value * tensor1 * tensor2 for a number value, 1 by default
    (torch.addcmul).   dinput = grad,  dtensor1 = grad * value * tensor2,
    dtensor2 = grad * value * tensor1.

    One node where ``input + tensor1 * tensor2`` makes two: an LSTM's
    c' = f * c + i * g, a GRU's x_n + r * h_n.

    tangent (forward mode):
    t_out = t_input + value * (t_tensor1 * tensor2 + tensor1 * t_tensor2)."""

    twice_differentiable = True

    broadcasts = True

    @staticmethod
    def forward(ctx: Context, input: np.ndarray, tensor1: np.ndarray, tensor2: np.ndarray,
                value: float = 1.0) -> np.ndarray:
        ctx.save_for_backward(tensor1, tensor2, value)  # (value: a number rides along)
        return input + (tensor1 * tensor2 if value == 1 else value * tensor1 * tensor2)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        tensor1, tensor2, value = ctx.saved_tensors
        _, need_1, need_2 = ctx.needs_input_grad
        scaled = grad if value == 1 else grad * value
        return (grad, scaled * tensor2 if need_1 else None,
                scaled * tensor1 if need_2 else None)

    @staticmethod
    def jvp(ctx: Context, t_input: Any, t_tensor1: Any, t_tensor2: Any) -> Any:
        tensor1, tensor2, value = ctx.saved_tensors
        product = _plus(None if t_tensor1 is None else t_tensor1 * tensor2,
                        None if t_tensor2 is None else tensor1 * t_tensor2)
        if product is not None and value != 1:
            product = product * value
        return _plus(t_input, product)


class Lerp(Function):
    """out = start + weight * (end - start)   (torch.lerp; weight a tensor or a number).
    dstart = grad * (1 - weight),  dend = grad * weight,  dweight = grad * (end - start).

    One node where the formula makes three: a GRU's h' = n + z * (h - n), the
    form torch's GRU kernel computes. (torch.lerp itself switches to
    end - (end - start) * (1 - weight) where weight >= 0.5, which may differ in
    the last bit; this op keeps the one formula, the GRU's.)

    tangent (forward mode):
    t_out = t_start * (1 - weight) + t_end * weight + t_weight * (end - start)."""

    twice_differentiable = True

    broadcasts = True

    @staticmethod
    def forward(ctx: Context, start: np.ndarray, end: np.ndarray, weight: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(start, end, weight)
        return start + weight * (end - start)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        # (end - start again, not saved from forward: saved, it would be a constant to a
        # create_graph backward, which must see it depend on start and end)
        start, end, weight = ctx.saved_tensors
        need_start, need_end, need_weight = ctx.needs_input_grad
        return (grad * (1.0 - weight) if need_start else None,
                grad * weight if need_end else None,
                grad * (end - start) if need_weight else None)

    @staticmethod
    def jvp(ctx: Context, t_start: Any, t_end: Any, t_weight: Any) -> Any:
        start, end, weight = ctx.saved_tensors
        return _plus(None if t_start is None else t_start * (1.0 - weight),
                     None if t_end is None else t_end * weight,
                     None if t_weight is None else t_weight * (end - start))


class Linear(Function):
    """out = x @ weight^T + bias for x (*, in), weight (out, in), bias (out,) or no bias
    (torch.nn.functional.linear). Over the rows X of x (all leading axes as one):
    dx = grad @ weight,  dweight = grad^T @ X,  dbias = grad summed over the rows.

    One node where ``reshape``, ``.T``, ``addmm`` and ``reshape`` make four: a
    sequence layer's input projection of every time step, and a cell's.

    tangent (forward mode): t_out = t_x @ weight^T + x @ t_weight^T + t_bias."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, weight: np.ndarray,
                bias: np.ndarray | None = None) -> np.ndarray:
        _check_linear(x, weight, bias)
        rows = _rows(x)
        out = rows @ weight.T
        if bias is not None:
            out += bias  # (out is a new array: adding in place saves a copy)
        ctx.save_for_backward(x, weight)  # (x, not its view rows: see _rows)
        return out if x.ndim == 2 else out.reshape(x.shape[:-1] + (weight.shape[0],))

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, weight = ctx.saved_tensors
        rows = _rows(x)
        need_x, need_weight = ctx.needs_input_grad[:2]
        grad_rows = grad.reshape(rows.shape[0], weight.shape[0]) if grad.ndim != 2 else grad
        dx = dweight = None
        if need_x:
            dx = grad_rows @ weight
            if grad.ndim != 2:
                dx = dx.reshape(grad.shape[:-1] + (weight.shape[1],))
        if need_weight:
            dweight = grad_rows.T @ rows
        if len(ctx.needs_input_grad) == 2:
            return dx, dweight
        return dx, dweight, np.add.reduce(grad_rows, axis=0) if ctx.needs_input_grad[2] else None

    @staticmethod
    def jvp(ctx: Context, t_x: Any, t_weight: Any, t_bias: Any = None) -> Any:
        x, weight = ctx.saved_tensors
        return _plus(None if t_x is None else Linear.apply(t_x, weight),
                     None if t_weight is None else Linear.apply(x, t_weight), t_bias)


def _rows(x: np.ndarray) -> np.ndarray:
    """x (*, in) as a matrix of rows (n, in): all leading axes as one. Linear saves x, not
    this view of it, so that under create_graph its backward sees x on the graph."""
    if x.ndim == 2:
        return x
    # (-1 cannot stand beside a 0: with 0 in_features, count the rows)
    return x.reshape(-1 if x.shape[-1] else math.prod(x.shape[:-1]), x.shape[-1])


def _check_linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> None:
    if weight.ndim != 2:
        raise ShapeError(f"linear: weight must be 2-D (out_features, in_features), "
                         f"got shape {weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ShapeError(f"linear: input of shape {x.shape} has {x.shape[-1] if x.ndim else 0} "
                         f"features but weight of shape {weight.shape} expects {weight.shape[1]}")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ShapeError(f"linear: bias must have shape ({weight.shape[0]},) to match weight "
                         f"{weight.shape}, got {bias.shape}")


# --------------------------------------------------------------------------- elementwise functions


class Exp(Function):
    """out = exp(x).   dx = grad * out.
    tangent (forward mode): t_out = t_x * out."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        out = np.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        (out,) = ctx.saved_tensors
        return grad * out

    @staticmethod
    def jvp(ctx: Context, t_x: Any) -> Any:
        return Exp.backward(ctx, t_x)


class Log(Function):
    """out = log(x)  (natural log).   dx = grad / x.
    tangent (forward mode): t_out = t_x / x."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        (x,) = ctx.saved_tensors
        return grad / x

    @staticmethod
    def jvp(ctx: Context, t_x: Any) -> Any:
        return Log.backward(ctx, t_x)


class Tanh(Function):
    """out = tanh(x).   dx = grad * (1 - out**2)   (uses the saved output).
    tangent (forward mode): t_out = t_x * (1 - out**2)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        out = np.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        (out,) = ctx.saved_tensors
        return grad * (1.0 - out * out)

    @staticmethod
    def jvp(ctx: Context, t_x: Any) -> Any:
        return Tanh.backward(ctx, t_x)


class Sigmoid(Function):
    """out = 1 / (1 + exp(-x)).   dx = grad * out * (1 - out).

    1 / (1 + exp(-x)) is accurate to an ulp or two while sigmoid(x) is a normal
    float, and costs four quick numpy passes. Below that (x < -708 in float64,
    -87 in float32) exp(-x) would overflow with a warning, so there the slower
    form from exp(-|x|), which never overflows, takes over: |x| > 700 gives 0
    or 1 without a warning and tiny outputs keep full relative precision.

    tangent (forward mode): t_out = t_x * out * (1 - out)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        if x.size and x.item(x.argmin()) < _normal_exp_floor(x.dtype):  # argmin: cheapest min
            e = np.exp(-np.abs(x))
            out = 1.0 / (1.0 + e)
            out = np.where(x >= 0, out, e * out)  # for x < 0: exp(x) / (1 + exp(x))
        else:
            out = 1.0 / (1.0 + np.exp(-x))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        (out,) = ctx.saved_tensors
        return grad * (out * (1.0 - out))

    @staticmethod
    def jvp(ctx: Context, t_x: Any) -> Any:
        return Sigmoid.backward(ctx, t_x)


@functools.cache
def _normal_exp_floor(dtype: np.dtype) -> float:
    """The x below which exp(x) is no longer a normal float of ``dtype`` (float64: -708.4)."""
    return float(np.log(np.finfo(dtype if dtype.kind == "f" else np.float64).tiny))


class Relu(Function):
    """out = max(x, 0).   dx = grad where x > 0, else 0  (0 at x = 0, as torch).
    tangent (forward mode): t_out = t_x where x > 0, else 0."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        out = np.maximum(x, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        (out,) = ctx.saved_tensors
        return grad * (out > 0)

    @staticmethod
    def jvp(ctx: Context, t_x: Any) -> Any:
        return Relu.backward(ctx, t_x)


# ---- activations of issue 15 (ops-func)


class Softplus(Function):
    """out = log(1 + exp(beta x)) / beta,  or x where beta x > threshold  (torch's rule).

    dx = grad * sigmoid(beta x),  or grad where beta x > threshold.

    Computed as logaddexp(0, beta x) / beta, which never overflows: ``threshold=inf``
    (no cut-off, as the stable log-sigmoid of binary_cross_entropy_with_logits uses
    it) stays finite for any x. The sigmoid is taken from the output,
    sigmoid(beta x) = 1 - exp(-beta out) = -expm1(-beta out), as stable (and so the
    backward is a function of the output, differentiable again).

    tangent (forward mode): t_out = t_x * sigmoid(beta x),  or t_x where beta x > threshold.
    """

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, beta: float = 1.0,
                threshold: float = 20.0) -> np.ndarray:
        bx = x * beta
        linear = bx > threshold
        out = np.where(linear, x, np.logaddexp(0, bx) / beta).astype(x.dtype, copy=False)
        ctx.save_for_backward(out, linear)
        ctx.beta = beta
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        out, linear = ctx.saved_tensors
        sigmoid = -np.expm1(out * -ctx.beta)  # sigmoid(beta x), from out
        return np.where(linear, grad, grad * sigmoid)

    @staticmethod
    def jvp(ctx: Context, t_x: Any) -> Any:  # (a diagonal Jacobian: the backward's formula)
        return Softplus.backward(ctx, t_x)


class LeakyRelu(Function):
    """out = x where x > 0, else negative_slope * x.

    dx = grad where x > 0, else negative_slope * grad  (negative_slope at x = 0, as torch).

    tangent (forward mode): t_out = t_x where x > 0, else negative_slope * t_x."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
        positive = x > 0
        ctx.save_for_backward(positive)
        ctx.negative_slope = negative_slope
        return np.where(positive, x, x * negative_slope)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        (positive,) = ctx.saved_tensors
        return np.where(positive, grad, grad * ctx.negative_slope)

    @staticmethod
    def jvp(ctx: Context, t_x: Any) -> Any:
        return LeakyRelu.backward(ctx, t_x)


class Elu(Function):
    """out = x where x > 0, else alpha * (exp(x) - 1)  (expm1, exact near 0).

    dx = grad where x > 0, else grad * alpha * exp(x) = grad * (out + alpha)
    (alpha at x = 0, as torch).

    tangent (forward mode): t_out = t_x where x > 0, else t_x * (out + alpha).
    """

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        positive = x > 0
        # (exp of the non-positive side only: a large positive x must not overflow)
        negative_side = alpha * np.expm1(np.where(positive, 0, x))
        out = np.where(positive, x, negative_side).astype(x.dtype, copy=False)
        ctx.save_for_backward(positive, out)
        ctx.alpha = alpha
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        positive, out = ctx.saved_tensors
        # alpha * exp(x) = alpha * (exp(x) - 1) + alpha = out + alpha where x <= 0
        return np.where(positive, grad, grad * (out + ctx.alpha))

    @staticmethod
    def jvp(ctx: Context, t_x: Any) -> Any:
        return Elu.backward(ctx, t_x)


_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_TANH_SCALE = math.sqrt(2.0 / math.pi)
_GELU_TANH_CUBIC = 0.044715
_erf_of_each = np.frompyfunc(math.erf, 1, 1)


def _erf(x: np.ndarray) -> np.ndarray:
    """erf elementwise, by Python's math.erf (the C library's, correct to an ulp as
    torch's): numpy has none. About 0.13 us an element, 8x a tanh."""
    return np.asarray(_erf_of_each(x), dtype=np.float64).astype(x.dtype, copy=False)


class Gelu(Function):
    """out = x * Phi(x),  Phi(x) = (1 + erf(x / sqrt 2)) / 2  (``approximate='none'``).

    dx = grad * (Phi(x) + x * phi(x)),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi).

    ``approximate='tanh'``: out = x * (1 + tanh(u)) / 2,  u = sqrt(2/pi) (x + 0.044715 x^3);
    dx = grad * ((1 + tanh(u)) / 2 + x / 2 * (1 - tanh(u)^2) * sqrt(2/pi) (1 + 3 * 0.044715 x^2)).

    Phi(x) (or tanh(u)), derived in forward, is kept for the backward on arrays
    (``Derived``); under create_graph it is recomputed from x by ops (``NormalCdf``,
    tanh), so that the backward can be differentiated again.

    tangent (forward mode): t_out = t_x * (Phi(x) + x * phi(x))  (the tanh form likewise),
    Phi(x) recomputed from x by ops (the tangent is a Tensor), as under create_graph.
    """

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, approximate: str = "none") -> np.ndarray:
        ctx.approximate = approximate
        if approximate == "tanh":
            t = np.tanh(_GELU_TANH_SCALE * (x + _GELU_TANH_CUBIC * x * x * x))
            ctx.save_for_backward(x, Derived((t,)))
            return 0.5 * x * (1.0 + t)
        cdf = 0.5 * (1.0 + _erf(x * _SQRT_HALF))
        ctx.save_for_backward(x, Derived((cdf,)))
        return x * cdf

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        x, (saved,) = ctx.saved_tensors
        if _on_graph(grad):  # Phi(x) or tanh(u) as functions of x, recorded
            saved = (np.tanh(_GELU_TANH_SCALE * (x + _GELU_TANH_CUBIC * x * x * x))
                     if ctx.approximate == "tanh" else NormalCdf.apply(x))
        if ctx.approximate == "tanh":
            du = _GELU_TANH_SCALE * (1.0 + 3.0 * _GELU_TANH_CUBIC * x * x)
            return grad * (0.5 * (1.0 + saved) + 0.5 * x * (1.0 - saved * saved) * du)
        return grad * (saved + x * (_INV_SQRT_2PI * np.exp(-0.5 * x * x)))

    @staticmethod
    def jvp(ctx: Context, t_x: Any) -> Any:
        return Gelu.backward(ctx, t_x)


class NormalCdf(Function):
    """out = Phi(x) = (1 + erf(x / sqrt 2)) / 2, the standard normal CDF: Gelu's backward
    under create_graph.   dx = grad * phi(x),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi).
    tangent (forward mode): t_out = t_x * phi(x)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return 0.5 * (1.0 + _erf(x * _SQRT_HALF))

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        (x,) = ctx.saved_tensors
        return grad * (_INV_SQRT_2PI * np.exp(-0.5 * x * x))

    @staticmethod
    def jvp(ctx: Context, t_x: Any) -> Any:
        return NormalCdf.backward(ctx, t_x)


_BCE_EPSILON = float(np.float32(1e-12))  # torch's (a C float: 9.9999998e-13)


class BinaryCrossEntropy(Function):
    """out = -(t * max(log x, -100) + (1 - t) * max(log(1 - x), -100))  per element,
    x in [0, 1] (torch's clamp keeps x = 0 or 1 finite).

    dx = grad * (x - t) / max(x (1 - x), eps)   (torch's formula and its float eps 1e-12),
    dt = grad * -log(x / (1 - x))                 (torch's: -logit(x), unclamped).

    tangent (forward mode): t_out = t_x * (x - t) / max(x (1 - x), eps) - t_t * log(x / (1 - x))
    (elementwise in each input: the gradients' factors, as torch's).
    """

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x, t)
        with np.errstate(divide="ignore"):  # log(0) = -inf, then clamped
            log_x = np.maximum(np.log(x), -100.0)
            log_1mx = np.maximum(np.log1p(-x), -100.0)
        return (t - 1.0) * log_1mx - t * log_x

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        x, t = ctx.saved_tensors
        need_x, need_t = ctx.needs_input_grad
        dx = grad * (x - t) / np.maximum(x * (1.0 - x), _BCE_EPSILON) if need_x else None
        if not need_t:
            return dx, None
        with np.errstate(divide="ignore"):
            return dx, grad * -np.log(x / (1.0 - x))

    jvp = staticmethod(_jvp_by_shares)


# ---- elementwise ops of issue 15 (ops-elem)


def _sign(x: np.ndarray) -> np.ndarray:
    """-1, 0 or 1 by the sign of each element, and 0 for nan, as torch.sign (numpy's
    sign gives nan there)."""
    out = np.sign(x)
    return np.where(out != out, 0, out) if out.dtype.kind == "f" else out  # (nan != nan)


class Abs(Function):
    """out = |x|.   dx = grad * sign(x)  (0 at x = 0 and at nan, as torch).
    tangent (forward mode): t_out = t_x * sign(x)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        (x,) = ctx.saved_tensors
        return grad * _sign(x)

    @staticmethod
    def jvp(ctx: Context, t_x: Any) -> Any:
        return Abs.backward(ctx, t_x)


class Sign(Function):
    """out = -1, 0 or 1 by the sign of x (0 at nan, as torch).   dx = 0: the output
    requires grad as torch's does, and its gradient is zero everywhere.
    tangent (forward mode): t_out = 0."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        return _sign(x)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        return np.zeros_like(grad)

    @staticmethod
    def jvp(ctx: Context, t_x: Any) -> Any:
        return np.zeros_like(t_x)


class Clamp(Function):
    """out = min(max(x, min), max) (torch.clamp), the bounds ``*bounds``: min then max,
    each there only when ``has_min`` / ``has_max``; tensors that broadcast with x.
    Where min > max every element is max, as torch (and nan stays nan).

    dx = grad where min <= x <= max (the bounds included), else 0;
    dmin = grad where x < min (and min < max when both are given), else 0;
    dmax = grad where x > max (or max < min when both are given), else 0   (as torch).

    tangent (forward mode): t_out = t_x where min <= x <= max, t_min where x < min,
    t_max where x > max
    (ties and min > max as the gradients above)."""

    twice_differentiable = True

    broadcasts = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *bounds: np.ndarray, has_min: bool,
                has_max: bool) -> np.ndarray:
        low = bounds[0] if has_min else None
        high = bounds[-1] if has_max else None
        out = x if low is None else np.maximum(x, low)
        out = out if high is None else np.minimum(out, high)
        ctx.save_for_backward(x, low, high)
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, low, high = ctx.saved_tensors
        needs = ctx.needs_input_grad
        grads: list[np.ndarray | None] = [None] * len(needs)
        if needs[0]:
            inside = (x >= low) if low is not None else True
            if high is not None:
                inside = inside & (x <= high)
            grads[0] = np.where(inside, grad, 0.0)
        if low is not None and needs[1]:
            below = x < low
            grads[1] = np.where(below if high is None else below & (low < high), grad, 0.0)
        if high is not None and needs[-1]:
            above = x > high
            grads[-1] = np.where(above if low is None else above | (high < low), grad, 0.0)
        return tuple(grads)

    jvp = staticmethod(_jvp_by_shares)


class Maximum(Function):
    """out = the larger of x and y, elementwise (torch.maximum; nan if either is).
    dx = grad where x > y, grad / 2 where x == y (a tie splits it, as torch), 0 where
    x < y;  dy the same with x and y swapped. (Where one is nan both get grad, as
    torch's formula gives.)
    tangent (forward mode): t_out = t_x where x > y, t_y where x < y, (t_x + t_y) / 2 at a tie."""

    twice_differentiable = True

    broadcasts = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x, y)
        return np.maximum(x, y)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, y = ctx.saved_tensors
        return _split_ties(ctx, grad, x, y, x < y, x > y)

    jvp = staticmethod(_jvp_by_shares)


class Minimum(Function):
    """out = the smaller of x and y, elementwise (torch.minimum; nan if either is).
    dx = grad where x < y, grad / 2 where x == y (a tie splits it, as torch), 0 where
    x > y;  dy the same with x and y swapped.
    tangent (forward mode): t_out = t_x where x < y, t_y where x > y, (t_x + t_y) / 2 at a tie."""

    twice_differentiable = True

    broadcasts = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x, y)
        return np.minimum(x, y)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, y = ctx.saved_tensors
        return _split_ties(ctx, grad, x, y, x > y, x < y)

    jvp = staticmethod(_jvp_by_shares)


def _split_ties(ctx: Context, grad: np.ndarray, x: np.ndarray, y: np.ndarray,
                x_loses: np.ndarray, y_loses: np.ndarray) -> tuple[np.ndarray | None, ...]:
    """The gradients of maximum and minimum: grad, halved at ties, to the winner."""
    shared = np.where(x == y, grad / 2, grad)
    need_x, need_y = ctx.needs_input_grad
    return (np.where(x_loses, 0.0, shared) if need_x else None,
            np.where(y_loses, 0.0, shared) if need_y else None)


class Where(Function):
    """out = x where condition, else y (torch.where; a boolean condition), broadcasting.
    dcondition: none (a boolean has no gradient);  dx = grad where condition, else 0;
    dy = grad where not condition, else 0.   (Tensor.masked_fill is this op too.)
    tangent (forward mode): t_out = t_x where condition, else t_y."""

    twice_differentiable = True

    broadcasts = True

    @staticmethod
    def forward(ctx: Context, condition: np.ndarray, x: np.ndarray,
                y: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(condition)
        return np.where(condition, x, y)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (condition,) = ctx.saved_tensors
        _, need_x, need_y = ctx.needs_input_grad
        return (None, np.where(condition, grad, 0.0) if need_x else None,
                np.where(condition, 0.0, grad) if need_y else None)

    @staticmethod
    def jvp(ctx: Context, t_condition: Any, t_x: Any, t_y: Any) -> Any:
        (condition,) = ctx.saved_tensors
        return np.where(condition, 0.0 if t_x is None else t_x, 0.0 if t_y is None else t_y)


class _WithoutGradient:
    """What the comparisons and Detach share: an output no gradient flows through (as
    torch's), so ``apply`` records no graph node, while ``noting_ops`` still sees the op
    (a replayed step recomputes its masks and detached values at every step)."""

    differentiable = False

    @classmethod
    def apply(cls, *inputs: Any, **params: Any) -> Any:
        with no_grad():
            return cast(Any, super()).apply(*inputs, **params)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[None, None]:
        return None, None  # (never called: no node is recorded)


class Detach(_WithoutGradient, Function):
    """out = x, the same array, cut from the graph (torch's x.detach()).   No gradient.

    An op rather than a bare new tensor so that a recorded step (replay) sees it: a
    detached value is recomputed at every step, not frozen at the first."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        # a view: the same memory, but an array of its own, so that an op given x and
        # x.detach() can tell its two inputs apart (create_graph: one is a constant)
        return x.view()


class Lt(_WithoutGradient, Function):
    """out = x < y, a boolean array (torch.lt), broadcasting.   No gradient."""

    broadcasts = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.less(x, y)


class Le(_WithoutGradient, Function):
    """out = x <= y, a boolean array (torch.le), broadcasting.   No gradient."""

    broadcasts = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.less_equal(x, y)


class Gt(_WithoutGradient, Function):
    """out = x > y, a boolean array (torch.gt), broadcasting.   No gradient."""

    broadcasts = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.greater(x, y)


class Ge(_WithoutGradient, Function):
    """out = x >= y, a boolean array (torch.ge), broadcasting.   No gradient."""

    broadcasts = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.greater_equal(x, y)


class Eq(_WithoutGradient, Function):
    """out = x == y, a boolean array (torch.eq), broadcasting.   No gradient."""

    broadcasts = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.equal(x, y)


class Ne(_WithoutGradient, Function):
    """out = x != y, a boolean array (torch.ne), broadcasting.   No gradient."""

    broadcasts = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.not_equal(x, y)


# ---- boolean logic of issue 15 (protocol-polish): torch's logical ops, any and all,
# boolean results without gradient, as the comparisons (a nonzero number is true)
class LogicalNot(_WithoutGradient, Function):
    """out = not x, a boolean array (torch.logical_not; ~ of a boolean tensor).
    No gradient."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        return np.logical_not(x)


class LogicalAnd(_WithoutGradient, Function):
    """out = x and y, a boolean array (torch.logical_and; & of boolean tensors),
    broadcasting.   No gradient."""

    broadcasts = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.logical_and(x, y)


class LogicalOr(_WithoutGradient, Function):
    """out = x or y, a boolean array (torch.logical_or; | of boolean tensors),
    broadcasting.   No gradient."""

    broadcasts = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.logical_or(x, y)


class LogicalXor(_WithoutGradient, Function):
    """out = x xor y, a boolean array (torch.logical_xor; ^ of boolean tensors),
    broadcasting.   No gradient."""

    broadcasts = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.logical_xor(x, y)


class AnyTrue(_WithoutGradient, Function):
    """out = is any element true over ``axis`` (None: all; (): none, elementwise), a
    boolean array (torch.any).   No gradient."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axis: _Axes = None,
                keepdims: bool = False) -> np.ndarray:
        return np.asarray(np.any(x, axis=axis, keepdims=keepdims))


class AllTrue(_WithoutGradient, Function):
    """out = is every element true over ``axis`` (None: all; (): none, elementwise), a
    boolean array (torch.all).   No gradient."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axis: _Axes = None,
                keepdims: bool = False) -> np.ndarray:
        return np.asarray(np.all(x, axis=axis, keepdims=keepdims))


class Rsqrt(Function):
    """out = 1 / sqrt(x).   dx = -grad * out**3 / 2   (uses the saved output).
    tangent (forward mode): t_out = -t_x * out**3 / 2."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        out = 1.0 / np.sqrt(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        (out,) = ctx.saved_tensors
        return -0.5 * grad * out ** 3

    @staticmethod
    def jvp(ctx: Context, t_x: Any) -> Any:
        return Rsqrt.backward(ctx, t_x)


class Sin(Function):
    """out = sin(x).   dx = grad * cos(x).
    tangent (forward mode): t_out = t_x * cos(x)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.sin(x)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        (x,) = ctx.saved_tensors
        return grad * np.cos(x)

    @staticmethod
    def jvp(ctx: Context, t_x: Any) -> Any:
        return Sin.backward(ctx, t_x)


class Cos(Function):
    """out = cos(x).   dx = -grad * sin(x).
    tangent (forward mode): t_out = -t_x * sin(x)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.cos(x)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        (x,) = ctx.saved_tensors
        return grad * -np.sin(x)

    @staticmethod
    def jvp(ctx: Context, t_x: Any) -> Any:
        return Cos.backward(ctx, t_x)


class Log1p(Function):
    """out = log(1 + x), accurate for tiny x.   dx = grad / (1 + x).
    tangent (forward mode): t_out = t_x / (1 + x)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.log1p(x)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        (x,) = ctx.saved_tensors
        return grad / (x + 1.0)

    @staticmethod
    def jvp(ctx: Context, t_x: Any) -> Any:
        return Log1p.backward(ctx, t_x)


class Expm1(Function):
    """out = exp(x) - 1, accurate for tiny x.   dx = grad * (out + 1).
    tangent (forward mode): t_out = t_x * (out + 1)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        out = np.expm1(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        (out,) = ctx.saved_tensors
        return grad * (out + 1.0)

    @staticmethod
    def jvp(ctx: Context, t_x: Any) -> Any:
        return Expm1.backward(ctx, t_x)


class PowTensor(Function):
    """out = x ** y for a tensor exponent y (``x ** y``; ``2 ** x`` has x as y and the
    number as a constant base), broadcasting.   As torch:
    dx = grad * y * x ** (y - 1), and 0 where y == 0;
    dy = grad * out * log(x), and 0 where x == 0 and y >= 0 (where x ** y is 0 or 1,
    although log(0) = -inf); nan where x < 0 (the log of a negative number).

    tangent (forward mode): t_out = t_x * y * x ** (y - 1) + t_y * out * log(x)
    (with dx's and dy's zeros)."""

    twice_differentiable = True

    broadcasts = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = x ** y
        ctx.save_for_backward(x, y, out)
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, y, out = ctx.saved_tensors
        need_x, need_y = ctx.needs_input_grad
        dx = dy = None
        # (log(0) and 0 ** -1 warn in numpy for elements the formulas then set aside)
        with np.errstate(divide="ignore", invalid="ignore"):
            if need_x:
                dx = np.where(y == 0, 0.0, grad * (y * x ** (y - 1.0)))
            if need_y:
                dy = grad * np.where((x == 0) & (y >= 0), 0.0, out * np.log(x))
        return dx, dy

    @staticmethod
    def jvp(ctx: Context, t_x: Any, t_y: Any) -> Any:
        needs = (t_x is not None, t_y is not None)
        d_x, d_y = _with_needs(ctx, needs, lambda: PowTensor.backward(ctx, np.float64(1.0)))
        return _plus(None if t_x is None else t_x * d_x, None if t_y is None else t_y * d_y)


# --------------------------------------------------------------------------- reductions


def _sum_keeping_axes(ctx: Context, x: np.ndarray, axis: Dims,
                      dtype: DTypeLike | None = None) -> tuple[np.ndarray, _Axes]:
    """(x summed over ``axis`` with the summed axes kept as size 1, the axis as numpy
    takes it); notes both shapes on ``ctx`` for backward, which copies grad back."""
    axis = tuple(axis) if isinstance(axis, list) else axis
    kept = np.add.reduce(x, axis=axis, keepdims=True, dtype=dtype)  # x.sum, minus a layer
    ctx.shape, ctx.kept_shape = x.shape, kept.shape
    return kept, axis


def _spread(grad: np.ndarray, kept_shape: tuple, shape: tuple) -> np.ndarray:
    """``grad`` copied back along the reduced axes: a new array (np.broadcast_to gives a
    view, but spends several microseconds of Python on it). A Tensor ``grad``
    (create_graph) is expanded by ops, so that the copy is recorded."""
    if _on_graph(grad):
        return Expand.apply(grad.reshape(kept_shape), shape=shape)
    out = np.empty(shape, dtype=grad.dtype)
    out[...] = grad.reshape(kept_shape)
    return out


class Sum(Function):
    """out = x.sum(axis, keepdims).   dx = grad copied back along the summed axes.
    tangent (forward mode): t_out = t_x summed the same way."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axis: Dims = None,
                keepdims: bool = False) -> np.ndarray:
        kept, axis = _sum_keeping_axes(ctx, x, axis)
        return kept if keepdims else kept.squeeze(axis)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        return _spread(grad, ctx.kept_shape, ctx.shape)

    jvp = staticmethod(_linear_jvp)


_FLOAT16 = np.dtype(np.float16)


class Mean(Function):
    """out = x.mean(axis, keepdims).   dx = grad / n copied back, n = elements averaged.

    Averaging over an axis of length 0 gives nan and an empty dx, as torch.
    tangent (forward mode): t_out = the mean of t_x, the same way."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axis: Dims = None,
                keepdims: bool = False) -> np.ndarray:
        # numpy's mean: the same sum (float16 accumulated in float32), divided by the count
        wide = np.float32 if x.dtype is _FLOAT16 else None
        kept, axis = _sum_keeping_axes(ctx, x, axis, wide)
        ctx.count = x.size // kept.size if kept.size else 1
        if ctx.count:
            mean = kept / ctx.count
        else:  # the mean of no elements: nan, as torch (0 / 0, without numpy's warning)
            mean = np.full_like(kept, np.nan)
        if wide is not None:
            mean = mean.astype(x.dtype)
        return mean if keepdims else mean.squeeze(axis)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        if not ctx.count:  # x has no elements: nothing to spread (and no 1 / 0)
            return np.zeros(ctx.shape, dtype=grad.dtype)  # (a constant, also under create_graph)
        if grad.size == 1 and not _on_graph(grad):  # the mean of everything (a loss):
            # one number to fill in (an array's: a Tensor's .item() would leave its graph)
            out = np.empty(ctx.shape, dtype=grad.dtype)
            out.fill(grad.item() / ctx.count)  # (divided in float64, rounded once to dtype)
            return out
        return _spread(grad / ctx.count, ctx.kept_shape, ctx.shape)

    jvp = staticmethod(_linear_jvp)


# --------------------------------------------------------------------------- dtype


class Cast(Function):
    """out = x in floating dtype ``dtype`` (torch's x.to(dtype), .float(), .double()).
    dx = grad cast back to x's dtype.   (No copy when x already has ``dtype``.)
    tangent (forward mode): t_out = t_x cast to dtype."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, dtype: DTypeLike) -> np.ndarray:
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"to: only floating dtypes keep a gradient, got {dtype}")
        ctx.input_dtype = x.dtype
        return x.astype(dtype, copy=False)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        if _on_graph(grad):  # (create_graph: a Tensor's cast is this op)
            return Cast.apply(grad, dtype=ctx.input_dtype)
        return grad.astype(ctx.input_dtype, copy=False)

    jvp = staticmethod(_linear_jvp)


# --------------------------------------------------------------------------- shape


class Reshape(Function):
    """out = x.reshape(shape).   dx = grad.reshape(x.shape).
    tangent (forward mode): t_out = t_x.reshape(shape)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        ctx.shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ShapeError(f"reshape: cannot reshape a tensor of shape {x.shape} "
                             f"({x.size} elements) into shape {tuple(shape)}") from None

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        return grad.reshape(ctx.shape)

    jvp = staticmethod(_linear_jvp)


class Transpose(Function):
    """out = x.transpose(axes)  (axes=None reverses them).   dx = grad.transpose(inverse axes).
    tangent (forward mode): t_out = t_x.transpose(axes)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axes: tuple[int, ...] | None = None) -> np.ndarray:
        out = x.transpose(axes)  # (the method: np.transpose adds a microsecond of Python)
        # negative axes counted from the end, so that argsort inverts the permutation
        ctx.axes = None if axes is None else tuple(a % x.ndim for a in axes)
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        inverse = None if ctx.axes is None else np.argsort(ctx.axes)
        if _on_graph(grad):  # (Tensor.transpose reads two axes as a swap, as torch's)
            return Transpose.apply(grad, axes=None if inverse is None else tuple(inverse.tolist()))
        return grad.transpose(inverse)

    jvp = staticmethod(_linear_jvp)


def _is_advanced(index: Any) -> bool:
    """Does the index pick elements by integer/bool arrays (so picks may repeat)?"""
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, (list, np.ndarray)) for p in parts)


class GetItem(Function):
    """out = x[index].   dx = zeros of x's shape with grad placed at index.

    With integer-array indices an element may be picked twice; then its
    gradients add (np.add.at), never overwrite.

    tangent (forward mode): t_out = t_x[index]."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, index: Any) -> np.ndarray:
        ctx.index, ctx.shape, ctx.dtype = index, x.shape, x.dtype
        try:
            return x[index]
        except IndexError as err:
            raise IndexError(f"getitem: {err} (tensor shape {x.shape})") from None

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        return _placed(grad, ctx.index, ctx.shape, ctx.dtype)

    jvp = staticmethod(_linear_jvp)


def _placed(grad: np.ndarray, index: Any, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """Zeros of ``shape`` with ``grad`` placed at ``index`` (added where an advanced index
    picks a place twice). A Tensor ``grad`` (create_graph) goes through the op PlaceAt,
    so that the placing is recorded (writing into an array cannot be)."""
    if _on_graph(grad):
        return PlaceAt.apply(grad, index=index, shape=shape, dtype=dtype)
    dx = np.zeros(shape, dtype=dtype)
    if _is_advanced(index):
        np.add.at(dx, index, grad)
    else:
        dx[index] = grad
    return dx


class PlaceAt(Function):
    """out = zeros of ``shape`` with x added at ``index``: GetItem's backward as an op,
    for create_graph.   dx = grad[index].
    tangent (forward mode): t_out = zeros with t_x added at index."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, index: Any, shape: tuple,
                dtype: np.dtype) -> np.ndarray:
        ctx.index = index
        return _placed(x, index, shape, dtype)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        return grad[ctx.index]

    jvp = staticmethod(_linear_jvp)


class Embedding(Function):
    """out = weight[indices]: the rows of a table (torch.nn.functional.embedding).

    dweight = zeros with grad's rows added back at their indices (a row picked
    twice gets both), except row ``padding_idx``, which gets no gradient.
    ``indices`` is an integer array, already checked to lie in the table.

    tangent (forward mode): t_out = t_weight[indices]  (linear in weight; torch's too carries
    padding_idx's row, whose gradient alone is masked).
    """

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, weight: np.ndarray, indices: np.ndarray,
                padding_idx: int | None = None) -> np.ndarray:
        ctx.indices, ctx.padding_idx, ctx.shape = indices, padding_idx, weight.shape
        return weight[indices]

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        if _on_graph(grad):  # placed by the op PlaceAt; padding_idx's rows masked first
            if ctx.padding_idx is not None:
                grad = grad * (ctx.indices != ctx.padding_idx)[..., None]
            return PlaceAt.apply(grad, index=ctx.indices, shape=ctx.shape, dtype=grad.dtype)
        dweight = np.zeros(ctx.shape, dtype=grad.dtype)
        np.add.at(dweight, ctx.indices.reshape(-1), grad.reshape(-1, ctx.shape[1]))
        if ctx.padding_idx is not None:
            dweight[ctx.padding_idx] = 0.0
        return dweight

    jvp = staticmethod(_linear_jvp)


class Concat(Function):
    """out = concatenate([x1, x2, ...], axis).   dxi = the slice of grad where xi went.
    tangent (forward mode): t_out = concatenate([t_x1, t_x2, ...], axis)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, *xs: np.ndarray, axis: int = 0) -> np.ndarray:
        ndim = xs[0].ndim
        if any(x.ndim != ndim for x in xs) or ndim == 0:
            raise ShapeError(f"concat: all inputs need the same number (>= 1) of dimensions, "
                             f"got shapes {', '.join(str(x.shape) for x in xs)}")
        axis = check_dim("concat", axis, xs[0].shape)
        for x in xs[1:]:
            if x.shape[:axis] + x.shape[axis + 1:] != xs[0].shape[:axis] + xs[0].shape[axis + 1:]:
                raise ShapeError(f"concat: shapes {xs[0].shape} and {x.shape} differ outside "
                                 f"the concatenation axis {axis}")
        ctx.axis = axis
        ctx.bounds = np.cumsum([x.shape[axis] for x in xs])[:-1]
        return np.concatenate(xs, axis=axis)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(np.split(grad, ctx.bounds, axis=ctx.axis))

    jvp = staticmethod(_linear_jvp)


class Stack(Function):
    """out = stack([x1, x2, ...], axis) along a new axis.   dxi = grad taken at i on that axis.
    tangent (forward mode): t_out = stack([t_x1, t_x2, ...], axis)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, *xs: np.ndarray, axis: int = 0) -> np.ndarray:
        for x in xs[1:]:
            if x.shape != xs[0].shape:
                raise ShapeError(f"stack: all inputs need the same shape, got "
                                 f"{xs[0].shape} and {x.shape}")
        ctx.axis = check_dim("stack", axis, xs[0].shape, new_axis=True)
        return _stack(xs, ctx.axis)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[np.ndarray, ...]:
        return _unstack(grad, ctx.axis)

    jvp = staticmethod(_linear_jvp)


class Split(Function):
    """outs = parts of x along axis, of the given sizes (one node, several outputs).

    ``sizes`` is an int k (parts of size k, the last smaller) or a list of sizes
    that add up to x.shape[axis].   dx = concatenate(grads, axis).
    A part that would be a strided view (a slice across the last axis) is a copy
    (torch gives views; the values are the same, and nothing writes into them).

    tangent (forward mode): t_outs = the parts of t_x."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, sizes: int | Sequence[int],
                axis: int = -1) -> tuple[np.ndarray, ...]:
        if x.ndim == 0:
            raise ShapeError("split: cannot split a 0-d tensor")
        axis = check_dim("split", axis, x.shape)
        n = x.shape[axis]
        ctx.axis = axis
        if isinstance(sizes, (int, np.integer)) and not isinstance(sizes, bool):
            if sizes < 1:
                raise ShapeError(f"split: split size must be positive, got {sizes}")
            count, rest = divmod(n, sizes)
            # A slice across the last axis is strided, and every op that reads a strided
            # array is slower than the copy (an LSTM gate is read twice), so such parts
            # are copied: equal columns of a matrix (a cell's gates) in one copy, ...
            if not rest and count > 1 and x.ndim == 2 and axis == 1:
                return tuple(np.ascontiguousarray(x.reshape(x.shape[0], count, sizes)
                                                  .swapaxes(0, 1)))
            sizes = [sizes] * count + ([rest] if rest else []) or [0]  # n = 0: one empty part
        elif not isinstance(sizes, Sequence) or not all(is_int(s) for s in sizes):
            raise TypeError(f"split: split_size_or_sections must be an int or a list of ints, "
                            f"got {describe(sizes)}")
        elif sum(sizes) != n or min(sizes, default=0) < 0:
            raise ShapeError(f"split: sizes {list(sizes)} do not add up to {n}, the size of "
                             f"axis {axis} of a tensor of shape {x.shape}")
        # ... and otherwise slice by slice (np.split does the same through several
        # Python layers)
        before, start, parts = (slice(None),) * axis, 0, []
        for size in sizes:
            parts.append(np.ascontiguousarray(x[before + (slice(start, start + size),)]))
            start += size
        return tuple(parts)

    @staticmethod
    def backward(ctx: Context, grads: tuple[np.ndarray, ...]) -> np.ndarray:
        return np.concatenate(grads, axis=ctx.axis)

    jvp = staticmethod(_linear_jvp)


class Unbind(Function):
    """outs = x[0], x[1], ... along axis (one node).   dx = stack(grads, axis).

    One node instead of one getitem per slice keeps backward linear in the
    number of slices: each getitem would allocate a zero array of x's full size.

    tangent (forward mode): t_outs = t_x[0], t_x[1], ... along axis."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axis: int = 0) -> tuple[np.ndarray, ...]:
        ctx.axis = check_dim("unbind", axis, x.shape)
        return _unstack(x, ctx.axis)

    @staticmethod
    def backward(ctx: Context, grads: tuple[np.ndarray, ...]) -> np.ndarray:
        return _stack(grads, ctx.axis)

    jvp = staticmethod(_linear_jvp)


# Along axis 0 (every time step of a sequence), np.array and iteration do what np.stack
# and np.moveaxis do, without their Python layers (14 us instead of 24 for 50 steps of
# (16, 32); 0.4 instead of 2 for one).
# Tensors (a create_graph backward's gradients) go through the ops themselves.
def _stack(arrays: Sequence[np.ndarray], axis: int) -> np.ndarray:
    if arrays and _on_graph(arrays[0]):
        return Stack.apply(*arrays, axis=axis)
    return np.array(arrays) if axis == 0 else np.stack(arrays, axis=axis)


def _unstack(x: np.ndarray, axis: int) -> tuple[np.ndarray, ...]:
    if _on_graph(x):
        return cast(tuple, Unbind.apply(x, axis=axis))
    return tuple(x) if axis == 0 else tuple(np.moveaxis(x, axis, 0))


# ---- reductions and shape ops of issue 15 (ops-reduce)
# The public entries (tensor.py) check every argument, dims included, before they get
# here: these see dims counted from 0 (a tuple, an int, or None for every axis).


def _keep_reduced(x: np.ndarray, out_kept: np.ndarray, axis: _Axes,
                  keepdims: bool) -> np.ndarray:
    """``out_kept`` (reduced with its axes kept as size 1) as the caller asked for it."""
    return out_kept if keepdims or x.ndim == 0 else out_kept.squeeze(axis)


def _extremum_backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
    """grad shared evenly among the elements equal to the extremum of their slice (the
    ties a constant mask: the derivative is piecewise constant)."""
    x, out = ctx.saved_tensors
    ties = _values(x) == _values(out).reshape(ctx.kept_shape)
    count = np.add.reduce(ties, axis=ctx.axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):  # (a slice of nan has no ties)
        return ties * (grad.reshape(ctx.kept_shape) / count)


class Amax(Function):
    """out = x.max over ``axis`` (None: all), as torch.amax.
    dx = grad / k at each of the k elements equal to their slice's max, 0 elsewhere
    (torch's amax: the gradient split evenly among ties; so is torch's max() with no dim).
    tangent (forward mode): t_out = the mean of t_x over the k tied elements (as torch's)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axis: _Axes = None,
                keepdims: bool = False) -> np.ndarray:
        kept = np.maximum.reduce(x, axis=axis, keepdims=True)
        out = _keep_reduced(x, kept, axis, keepdims)
        ctx.save_for_backward(x, out)  # (the output, not kept: a saved output is one)
        ctx.axis, ctx.kept_shape = axis, kept.shape
        return out

    backward = staticmethod(_extremum_backward)
    jvp = staticmethod(_jvp_of_reduction)


class Amin(Function):
    """out = x.min over ``axis`` (None: all), as torch.amin.
    dx = grad / k at each of the k elements equal to their slice's min, 0 elsewhere.
    tangent (forward mode): t_out = the mean of t_x over the k tied elements (as torch's)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axis: _Axes = None,
                keepdims: bool = False) -> np.ndarray:
        kept = np.minimum.reduce(x, axis=axis, keepdims=True)
        out = _keep_reduced(x, kept, axis, keepdims)
        ctx.save_for_backward(x, out)  # (the output, not kept: a saved output is one)
        ctx.axis, ctx.kept_shape = axis, kept.shape
        return out

    backward = staticmethod(_extremum_backward)
    jvp = staticmethod(_jvp_of_reduction)


class LogSumExp(Function):
    """out = log(sum(exp(x))) over ``axis``, as torch.logsumexp, computed as
    m + log(sum(exp(x - m))) with m the max (finite for logits of any size).
    dx = grad * exp(x - out)   (the softmax of x along the axes).
    tangent (forward mode): t_out = sum(exp(x - out) * t_x) over the axes (the
    softmax-weighted sum of t_x)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axis: _Axes = None,
                keepdims: bool = False) -> np.ndarray:
        m = np.maximum.reduce(x, axis=axis, keepdims=True) if x.size else np.zeros(())
        m = np.where(np.isfinite(m), m, 0.0).astype(x.dtype)  # all -inf (or inf): no inf - inf
        with np.errstate(divide="ignore"):  # log 0 = -inf, as torch's
            kept = np.log(np.add.reduce(np.exp(x - m), axis=axis, keepdims=True)) + m
        out = _keep_reduced(x, kept, axis, keepdims)
        ctx.save_for_backward(x, out)
        ctx.kept_shape = kept.shape
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        x, out = ctx.saved_tensors
        return grad.reshape(ctx.kept_shape) * np.exp(x - out.reshape(ctx.kept_shape))

    jvp = staticmethod(_jvp_of_reduction)


def _deviations(x: np.ndarray, axis: _Axes, correction: float) -> tuple[np.ndarray, float]:
    """(x minus its mean over ``axis``, the degrees of freedom n - correction)."""
    total = np.add.reduce(x, axis=axis, keepdims=True)
    n = x.size // total.size if total.size else 0
    mean = total / n if n else np.full_like(total, np.nan)  # (np.mean warns on no elements)
    return x - mean, n - correction


def _divide_by_dof(total: np.ndarray, dof: float) -> np.ndarray:
    """total / dof, nan where dof <= 0 (torch's var with too few elements; no warning)."""
    if dof <= 0:
        return np.full_like(total, np.nan)
    return total / dof


def _deviations_of(ctx: Context, grad: Any) -> Any:
    """x minus its mean, as Var's and Std's forward saved it (``Derived``) for a backward
    on arrays, or recomputed from x by ops under create_graph, where it depends on x."""
    x, (dev,) = ctx.saved_tensors[:2]
    if not _on_graph(grad):
        return dev
    n = x.data.size // math.prod(ctx.kept_shape) if x.data.size else 0
    return x - np.add.reduce(x, axis=ctx.axis, keepdims=True) / n


class Var(Function):
    """out = sum((x - mean)^2) / (n - correction) over ``axis``, as torch.var
    (n elements per slice; nan when n - correction <= 0, as torch).
    dx = grad * 2 (x - mean) / (n - correction).
    tangent (forward mode): t_out = 2 sum((x - mean) t_x) / (n - correction)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axis: _Axes = None, correction: float = 1.0,
                keepdims: bool = False) -> np.ndarray:
        dev, dof = _deviations(x, axis, correction)
        kept = _divide_by_dof(np.add.reduce(dev * dev, axis=axis, keepdims=True), dof)
        ctx.save_for_backward(x, Derived((dev,)))
        ctx.dof, ctx.kept_shape, ctx.axis = dof, kept.shape, axis
        return _keep_reduced(x, kept, axis, keepdims)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        dev = _deviations_of(ctx, grad)
        with np.errstate(divide="ignore", invalid="ignore"):  # dof 0: inf and nan, as torch
            return grad.reshape(ctx.kept_shape) * (2.0 / ctx.dof) * dev

    @staticmethod
    def jvp(ctx: Context, t_x: Any) -> Any:
        with np.errstate(divide="ignore", invalid="ignore"):
            return _jvp_of_reduction(ctx, t_x)


class Std(Function):
    """out = sqrt(var(x, axis, correction)), as torch.std.
    dx = grad * (x - mean) / ((n - correction) * out), and 0 where out = 0 (torch's
    choice at a constant slice, where the derivative does not exist).
    tangent (forward mode): t_out = sum((x - mean) t_x) / ((n - correction) out), 0 where
    out = 0 (as torch's)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axis: _Axes = None, correction: float = 1.0,
                keepdims: bool = False) -> np.ndarray:
        dev, dof = _deviations(x, axis, correction)
        kept = np.sqrt(_divide_by_dof(np.add.reduce(dev * dev, axis=axis, keepdims=True), dof))
        out = _keep_reduced(x, kept, axis, keepdims)
        ctx.save_for_backward(x, Derived((dev,)), out)
        ctx.dof, ctx.kept_shape, ctx.axis = dof, kept.shape, axis
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        dev, out = _deviations_of(ctx, grad), ctx.saved_tensors[2]
        kept = out.reshape(ctx.kept_shape)
        zero = _values(kept) == 0
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(zero, 0.0, grad.reshape(ctx.kept_shape) / (_nonzero(kept, zero)
                                                                          * ctx.dof))
        return _as_dtype(scale * dev, dev.dtype)

    @staticmethod
    def jvp(ctx: Context, t_x: Any) -> Any:
        with np.errstate(divide="ignore", invalid="ignore"):
            return _jvp_of_reduction(ctx, t_x)


class Norm(Function):
    """out = (sum |x|^p)^(1/p) over ``axis``, for p > 0 or p = inf (max |x|), as torch.norm.

    dx, as torch's (0 wherever out = 0, where the derivative does not exist):
        p = 2:    grad * x / out
        p = 1:    grad * sign(x)
        p = inf:  grad * sign(x) / k at the k elements with |x| = out (ties share)
        other p:  grad * sign(x) |x|^(p-1) / out^(p-1)

    tangent (forward mode): t_out = the sum over the axes of t_x times dx's factor above
    (e.g. p = 2: sum(x t_x) / out), 0 where out = 0 (as torch's).
    """

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, p: float = 2.0, axis: _Axes = None,
                keepdims: bool = False) -> np.ndarray:
        a = np.abs(x)
        if p == 1:
            kept = np.add.reduce(a, axis=axis, keepdims=True)
        else:  # scaled by the largest |x|, so that |x|^p neither overflows nor underflows
            largest = (np.maximum.reduce(a, axis=axis, keepdims=True) if a.size
                       else np.zeros(np.add.reduce(a, axis=axis, keepdims=True).shape, x.dtype))
            if p == math.inf:
                kept = largest
            else:
                scale = np.where(largest == 0, 1.0, largest).astype(x.dtype, copy=False)
                scaled = a / scale
                total = np.add.reduce(scaled * scaled if p == 2 else scaled ** p, axis=axis,
                                      keepdims=True)
                kept = scale * (np.sqrt(total) if p == 2 else total ** (1.0 / p))
        out = _keep_reduced(x, kept, axis, keepdims)
        ctx.save_for_backward(x, out)
        ctx.p, ctx.axis, ctx.kept_shape = p, axis, kept.shape
        return out

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        x, out = ctx.saved_tensors
        kept = out.reshape(ctx.kept_shape)
        p, grad = ctx.p, grad.reshape(ctx.kept_shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            if p == 1:
                return grad * np.sign(x)
            if p == math.inf:  # (the ties a constant mask)
                ties = np.abs(_values(x)) == _values(kept)
                count = np.add.reduce(ties, axis=ctx.axis, keepdims=True)
                return np.sign(x) * ties * (grad / count)
            zero = _values(kept) == 0
            kept = _nonzero(kept, zero)
            if p == 2:
                return grad * np.where(zero, 0.0, x / kept)
            # (|x| / out)^(p-1): no overflow; 0 where x = 0, also for p < 1
            x_zero = _values(x) == 0
            ratio = np.where(x_zero, 0.0, (np.abs(_nonzero(x, x_zero)) / kept) ** (p - 1.0))
            return _as_dtype(np.sign(x) * ratio * np.where(zero, 0.0, grad), x.dtype)

    jvp = staticmethod(_jvp_of_reduction)


class Cumsum(Function):
    """out[..., i, ...] = x[..., 0, ...] + ... + x[..., i, ...] along ``axis``, as torch.cumsum.
    dx = the cumulative sum of grad from the end: dx_i = grad_i + ... + grad_last.
    tangent (forward mode): t_out = cumsum(t_x) along axis."""

    twice_differentiable = True  # (np.flip and np.cumsum take Tensors: ops Flip, Cumsum)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axis: int) -> np.ndarray:
        ctx.axis = axis
        return np.cumsum(x, axis=axis) if x.ndim else x.copy()

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        if grad.ndim == 0:
            return grad
        backwards = np.flip(grad, ctx.axis)
        return np.flip(np.cumsum(backwards, axis=ctx.axis), ctx.axis)

    jvp = staticmethod(_linear_jvp)


class Expand(Function):
    """out = x broadcast to ``shape`` (as torch.expand: new leading axes, axes of size 1
    repeated; a read-only view, as torch's expand is a view).
    dx = grad summed over the new axes and the repeated ones.
    tangent (forward mode): t_out = t_x broadcast to shape."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        ctx.shape = x.shape
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        from .autograd import unbroadcast
        return unbroadcast(grad, ctx.shape)

    jvp = staticmethod(_linear_jvp)


class Flip(Function):
    """out = x reversed along each axis of ``axes``, as torch.flip (a copy).
    dx = grad reversed along the same axes.
    tangent (forward mode): t_out = t_x reversed along the same axes."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        ctx.axes = axes
        return np.flip(x, axes).copy() if axes else x.copy()

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        return np.flip(grad, ctx.axes) if ctx.axes else grad

    jvp = staticmethod(_linear_jvp)


def _gather_key(index: np.ndarray, axis: int) -> tuple[np.ndarray, ...]:
    """The fancy index of ``x`` that picks out[i, j, k] = x[i, index[i, j, k], k] (axis 1)."""
    key: list[np.ndarray] = list(np.indices(index.shape, sparse=True))
    if key:
        key[axis] = index
    return tuple(key)


class Gather(Function):
    """out[i][j][k] = x[i][index[i][j][k]][k] along ``axis`` (1 here), as torch.gather:
    ``index`` has x's number of dims, and no dim larger than x's except along ``axis``.
    dx = zeros with grad added back at the picked places (a place picked twice gets both).
    ``index`` is an integer array, already checked to lie in range.
    tangent (forward mode): t_out = t_x gathered the same way."""

    twice_differentiable = True  # (the placing is the op PlaceAt under create_graph)

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axis: int, index: np.ndarray) -> np.ndarray:
        ctx.key, ctx.shape = _gather_key(index, axis), x.shape
        return x[ctx.key].copy() if x.ndim == 0 else x[ctx.key]

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        return _placed(grad, ctx.key, ctx.shape, grad.dtype)

    jvp = staticmethod(_linear_jvp)


class IndexSelect(Function):
    """out = the entries of x at ``index`` along ``axis``, as torch.index_select (``index``
    a 1-D integer array, already checked to lie in range; repeats allowed).
    dx = zeros with grad's slices added back at their indices (repeats add).
    tangent (forward mode): t_out = the entries of t_x at index along axis."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, axis: int, index: np.ndarray) -> np.ndarray:
        ctx.axis, ctx.index, ctx.shape = axis, index, x.shape
        return np.take(x, index, axis=axis)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        if _on_graph(grad):  # x[key] is np.take's pick: placed back by the op PlaceAt
            key = (slice(None),) * ctx.axis + (ctx.index,)
            return PlaceAt.apply(grad, index=key, shape=ctx.shape, dtype=grad.dtype)
        dx = np.zeros(ctx.shape, dtype=grad.dtype)
        np.add.at(np.moveaxis(dx, ctx.axis, 0), ctx.index, np.moveaxis(grad, ctx.axis, 0))
        return dx

    jvp = staticmethod(_linear_jvp)


class Einsum(Function):
    """out = np.einsum(equation, *operands), for an equation already made explicit
    (``einsum_equation``: every ellipsis spelled out as letters, and "->" given).

    The gradient of operand k is itself an einsum: grad and the other operands,
    contracted to operand k's letters. Letters of operand k found nowhere else
    (summed inside it) get grad copied along them; a letter repeated in operand k
    (a diagonal, "ii->i") gets its gradient placed on that diagonal, zeros off it;
    an axis of size 1 that broadcast against the others gets its gradient summed.
    Under create_graph the same steps are ops: Einsum, Reshape, Expand, Sum, PlaceAt.

    tangent (forward mode): out is linear in each operand, so
    t_out = the sum over k of einsum(equation, operands with operand k replaced by t_k).
    """

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, *operands: np.ndarray, equation: str) -> np.ndarray:
        ctx.save_for_backward(*operands)
        ctx.equation = equation
        return np.einsum(equation, *operands, optimize=len(operands) > 2)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        operands = ctx.saved_tensors
        inputs, output = ctx.equation.split("->")
        subscripts = inputs.split(",")
        return tuple(_einsum_operand_grad(grad, operands, subscripts, output, k)
                     if need else None for k, need in enumerate(ctx.needs_input_grad))

    @staticmethod
    def jvp(ctx: Context, *tangents: Any) -> Any:
        operands = ctx.saved_tensors
        return _plus(*[Einsum.apply(*operands[:k], t, *operands[k + 1:], equation=ctx.equation)
                       for k, t in enumerate(tangents) if t is not None])


def _einsum_operand_grad(grad: np.ndarray, operands: Sequence[np.ndarray],
                         subscripts: list[str], output: str, k: int) -> np.ndarray:
    """The gradient of ``operands[k]`` (see Einsum)."""
    mine = subscripts[k]
    letters = "".join(dict.fromkeys(mine))  # its letters, each once, in order
    sizes = _letter_sizes(operands, subscripts, grad, output)
    others = [(s, a) for j, (s, a) in enumerate(zip(subscripts, operands)) if j != k]
    elsewhere = set(output).union(*(s for s, _ in others))
    kept = "".join(c for c in letters if c in elsewhere)
    equation = ",".join([output] + [s for s, _ in others]) + "->" + kept
    graph = _on_graph(grad)
    if graph:
        g = Einsum.apply(grad, *[a for _, a in others], equation=equation)
    else:
        g = np.einsum(equation, grad, *[a for _, a in others], optimize=len(others) > 1)
    # letters summed only inside operand k: grad copied along them
    sizes_of_g = dict(zip(kept, g.shape))
    spread = tuple(sizes[c] for c in letters)
    if graph:
        full = Expand.apply(g.reshape(tuple(sizes_of_g.get(c, 1) for c in letters)),
                            shape=spread)
    else:
        full = np.broadcast_to(np.expand_dims(g, tuple(i for i, c in enumerate(letters)
                                                       if c not in elsewhere)), spread)
    mine_sizes = dict(zip(mine, operands[k].shape))
    stretched = tuple(i for i, c in enumerate(letters) if mine_sizes[c] == 1 and sizes[c] != 1)
    if stretched:  # broadcast axes of size 1: their copies' gradients add
        full = np.add.reduce(full, axis=stretched, keepdims=True)
    if len(letters) == len(mine):
        return full if graph else np.ascontiguousarray(full)
    dx = np.zeros(operands[k].shape, dtype=grad.dtype)  # a diagonal: only it gets gradient
    grids: dict[str, np.ndarray] = dict(zip(letters, np.indices(full.shape, sparse=True)))
    if graph:  # (a diagonal's places are distinct: placing adds nothing twice)
        return PlaceAt.apply(full, index=tuple(grids[c] for c in mine), shape=operands[k].shape,
                             dtype=grad.dtype)
    dx[tuple(grids[c] for c in mine)] = full
    return dx


def _letter_sizes(operands: Sequence[np.ndarray], subscripts: list[str], grad: np.ndarray,
                  output: str) -> dict[str, int]:
    """The size of each letter after broadcasting (an axis of 1 gives way to another)."""
    sizes: dict[str, int] = {}
    for subs, shape in list(zip(subscripts, (a.shape for a in operands))) + [(output, grad.shape)]:
        for c, n in zip(subs, shape):
            sizes[c] = max(sizes.get(c, 1), n) if n != 1 else sizes.get(c, 1)
    return sizes
