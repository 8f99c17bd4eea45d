"""The engine: recording ops as graph nodes, and the backward pass over them.

Every differentiable operation is a ``Function`` subclass (see ``ops.py``).
``SomeOp.apply(a, b)`` runs its ``forward`` on the numpy arrays and, when
gradients are wanted, records a graph node (a ``Context``) that remembers the
op, its inputs and whatever ``forward`` saved. ``backward(root, grad)`` walks
those nodes from the root back to the leaves, calls each op's ``backward``
exactly once, and adds up the gradients that reach each tensor.

Read this file top to bottom: grad mode, Context, Function, backward. The three
speed tricks the backward walk uses (pooled weight gradients, in-place
accumulation, a paused garbage collector) are in ``speedups.py``; the walk
reads the same without them.
"""

from __future__ import annotations

import functools

import numpy as np

from .speedups import OuterSum, add_grads, materialize

# --------------------------------------------------------------------------- grad mode

_grad_enabled = True


def is_grad_enabled() -> bool:
    return _grad_enabled


class no_grad:
    """Context manager (and decorator) in which no graph is recorded.

    >>> with no_grad():
    ...     y = x * 2          # y.requires_grad is False, nothing is saved
    """

    _enabled_inside = False

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        return self if fn is None else self(fn)  # bare @no_grad, as torch allows

    def __enter__(self):
        global _grad_enabled
        self._previous = _grad_enabled
        _grad_enabled = self._enabled_inside

    def __exit__(self, *exc_info):
        global _grad_enabled
        _grad_enabled = self._previous

    def __call__(self, fn):
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return functools.wraps(fn)(wrapper)


class enable_grad(no_grad):
    """Context manager (and decorator) that turns recording back on inside ``no_grad``."""

    _enabled_inside = True


# --------------------------------------------------------------------------- graph nodes

# Equal needs_input_grad tuples are shared: a graph of 100,000 nodes holds a handful.
_SHARED_NEEDS: dict = {}


class Context:
    """One node of the graph: the op that ran, its inputs, and what it saved.

    ``forward`` receives it as ``ctx`` and may store anything on it
    (``ctx.axis = axis``); ``save_for_backward`` is the place for arrays.
    """

    __slots__ = ("fn", "inputs", "needs_input_grad", "saved_tensors", "num_outputs",
                 "output_meta", "retained", "freed", "__dict__")

    def __init__(self, fn, inputs):
        self.fn = fn
        self.inputs = inputs
        needs = tuple([t._requires_grad for t in inputs])
        self.needs_input_grad = _SHARED_NEEDS.setdefault(needs, needs)
        self.saved_tensors = ()
        self.num_outputs = 1
        self.output_meta = None  # [(shape, dtype)] of the outputs, for ops with several
        self.retained = None  # {output index: Tensor} for outputs that called retain_grad()
        self.freed = False

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays

    def free(self):
        """Drop saved arrays once backward has used them (unless retain_graph=True)."""
        self.saved_tensors = ()
        self.__dict__.clear()
        self.freed = True


class Function:
    """Base class of every op: a static ``forward`` and a static ``backward``.

    ``forward(ctx, *arrays, **params)`` gets numpy arrays (one per Tensor input)
    and returns a numpy array, or a tuple of arrays for an op with several
    outputs. ``backward(ctx, grad)`` gets the gradient of the loss with respect
    to the output (a tuple of them for several outputs) and returns one gradient
    per input, each either of the input's shape or of the broadcast shape (the
    engine sums broadcast dimensions away), or None where no gradient is needed.
    Keyword arguments to ``apply`` are passed to ``forward`` as plain parameters.
    """

    # Elementwise ops with numpy broadcasting say so, for a clearer shape error.
    broadcasts = False

    @staticmethod
    def forward(ctx, *arrays, **params):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **params):
        for x in inputs:
            if not isinstance(x, Tensor):  # a number or an array among them: wrap them all
                inputs = tuple([x if isinstance(x, Tensor) else Tensor(x) for x in inputs])
                break
        ctx = Context(cls, inputs)
        try:  # free in Python 3.11 when nothing is raised
            out = cls.forward(ctx, *[t.data for t in inputs], **params)
        except ShapeError:
            raise  # already in the user's words
        except ValueError as err:
            raise _shape_error(cls, inputs, err) from None
        if _grad_enabled and True in ctx.needs_input_grad:
            node = ctx
        else:
            node = None
            ctx.saved_tensors = ()  # nothing will call backward: let the arrays go now
        if type(out) is tuple:
            ctx.num_outputs = len(out)
            ctx.output_meta = tuple([(o.shape, o.dtype) for o in out])
            return tuple([_tensor_from_op(o, node, i) for i, o in enumerate(out)])
        return _tensor_from_op(out, node, 0)


class ShapeError(ValueError):
    """Inputs whose shapes an op cannot take; the message names the op and the shapes."""


def _shape_error(fn, tensors, err) -> ShapeError:
    """Retell numpy's shape complaint in the user's words: the op and the shapes."""
    shapes = " and ".join(str(t.shape) for t in tensors)
    if fn.broadcasts and "broadcast" in str(err):
        return ShapeError(f"{fn.__name__.lower()}: shapes {shapes} cannot be broadcast together")
    return ShapeError(f"{fn.__name__.lower()}: {err} (input shapes {shapes})")


# --------------------------------------------------------------------------- backward


def topological_order(root: Context) -> list:
    """Nodes reachable from ``root``, every node after all the nodes it feeds from.

    Iterative depth-first search with an explicit stack of (node, expanded)
    pairs, so that a graph 100,000 ops deep never meets Python's recursion limit.
    """
    order, seen = [], set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        for t in node.inputs:
            parent = t._node
            if parent is not None and parent not in seen:
                stack.append((parent, False))
    return order


def backward(root, grad: np.ndarray, retain_graph: bool = False) -> None:
    """Propagate ``grad`` (dL/droot) to every leaf that requires grad.

    ``pending`` holds, for each node not yet processed, the gradients of its
    outputs summed over every path seen so far (one slot per output). Reverse
    topological order guarantees that a node runs only after every consumer
    of its outputs has added its share.
    """
    pending = {root._node: [None] * root._node.num_outputs}
    pending[root._node][root._index] = grad
    for node in reversed(topological_order(root._node)):
        out_grads = pending.pop(node, None)
        if out_grads is None:  # every consumer returned None for it: nothing flows here
            continue
        in_grads = _call_backward(node, out_grads)
        for t, g, needed in zip(node.inputs, in_grads, node.needs_input_grad):
            if g is None or not needed:
                continue
            if type(g) is not np.ndarray or g.shape != t.data.shape or g.dtype != t.data.dtype:
                g = _conform(node, t, g)  # the rare case: a broadcast to undo, a number, a cast
            parent = t._node
            if parent is None:  # a leaf: gradients add up across backward() calls, as in torch
                if t.grad is None:
                    # a copy, because g may be shared with other inputs (add passes grad
                    # to both) and optimizers update .grad in place
                    t.grad = materialize(g).copy()
                else:
                    t.grad = add_grads(t.grad, materialize(g))
                continue
            slots = pending.get(parent)
            if slots is None:
                slots = pending[parent] = [None] * parent.num_outputs
            if slots[t._index] is None:
                slots[t._index] = g
            else:  # a reused tensor: gradients of all its uses add, never overwrite
                slots[t._index] = add_grads(slots[t._index], g)
        if not retain_graph:
            node.free()


def _call_backward(node: Context, out_grads: list) -> tuple:
    """Run the op's backward on the summed gradients of its outputs: one gradient per input."""
    if node.freed:
        raise RuntimeError(
            f"backward through the graph a second time: the saved values of "
            f"{node.fn.__name__} were freed after the first backward(). "
            f"Pass retain_graph=True to the first backward() to keep them.")
    for i, g in enumerate(out_grads):
        if type(g) is OuterSum:  # all its terms are in: now the one matmul
            out_grads[i] = g.array()
    if node.retained:
        for i, t in node.retained.items():
            if out_grads[i] is not None:
                # a copy: the array may be shared with other tensors, or a read-only view
                t.grad = out_grads[i].copy() if t.grad is None else t.grad + out_grads[i]
    if node.output_meta is None:  # a single output; a tuple of one stays a tuple
        upstream = out_grads[0]
    else:  # an output nobody used contributes a zero gradient
        upstream = tuple(g if g is not None else np.zeros(s, d)
                         for g, (s, d) in zip(out_grads, node.output_meta))
    in_grads = node.fn.backward(node, upstream)
    if not isinstance(in_grads, tuple):
        in_grads = (in_grads,)
    if len(in_grads) != len(node.inputs):
        raise RuntimeError(f"{node.fn.__name__}.backward returned {len(in_grads)} "
                           f"gradients for {len(node.inputs)} inputs")
    return in_grads


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` down to ``shape``, undoing numpy broadcasting.

    Broadcasting copies an input along new leading axes and along axes of
    size 1; each copy received its own gradient, so the copies' gradients add.
    This is the only place in the engine where broadcasting is undone.
    """
    extra = grad.ndim - len(shape)
    if extra < 0:  # fewer axes than the input: not a broadcast; the caller reports it
        return grad
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def _conform(node: Context, t, g):
    """Gradient ``g`` from ``node`` as an array of input ``t``'s shape and dtype
    (an OuterSum of that shape and dtype stays one)."""
    if type(g) is OuterSum:
        if g.shape == t.data.shape and g.dtype == t.data.dtype:
            return g
        g = g.array()
    g = np.asarray(g)
    if g.shape != t.data.shape:
        g = unbroadcast(g, t.data.shape)
        if g.shape != t.data.shape:
            raise RuntimeError(f"{node.fn.__name__}.backward returned a gradient of shape "
                               f"{g.shape} for an input of shape {t.data.shape}")
    if g.dtype != t.data.dtype:
        g = g.astype(t.data.dtype)
    return g


# Tensor is built on the engine above (tensor.py imports this module at its end),
# and Function.apply wraps its results in Tensors.
from .tensor import Tensor, _tensor_from_op  # noqa: E402
