"""The engine: ``Tensor``, ``Function`` and the backward pass.

A ``Tensor`` wraps a numpy array. Every differentiable operation is a
``Function`` subclass (see ``ops.py``); calling ``SomeOp.apply(a, b)`` runs its
``forward`` on the arrays and, when gradients are wanted, records a graph node
(a ``Context``) that remembers the op, its inputs and whatever ``forward``
saved. ``loss.backward()`` walks those nodes in reverse topological order and
calls each op's ``backward`` exactly once.

Read this file top to bottom: grad mode, Context, Function, backward, Tensor.
"""

from __future__ import annotations

import functools
import gc
import sys

import numpy as np

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
        # a list inside tuple() is faster than a generator, and this runs once per op;
        # equal tuples are shared, so a graph of 100,000 nodes holds a handful, not 100,000
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


def _topological_order(root: Context) -> list:
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


class gc_paused:
    """Run a block without CPython's cyclic garbage collector (reference counting goes on).

    A graph has no reference cycles (nodes point only to their inputs), so the
    cyclic collector can never free any of it, yet every collection it starts
    walks all of it: with a 2000-step LSTM (~90,000 nodes and tensors) the full
    collections that building it sets off took longer than its whole backward.
    Building a long graph (``nn.RNN`` and friends do) and walking it (backward)
    therefore pause the collector; garbage made meanwhile is collected after.
    (A class, not @contextmanager: a microsecond less on every backward().)
    """

    def __enter__(self):
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc_info):
        if self.was_enabled:
            gc.enable()


def _run_backward(root: Tensor, grad: np.ndarray, retain_graph: bool) -> None:
    """Propagate ``grad`` (dL/droot) to every leaf that requires grad.

    ``pending`` holds, for each node not yet processed, the gradients of its
    outputs summed over every path seen so far. Reverse topological order
    guarantees that a node is processed only after every consumer of its
    outputs has added its share.
    """
    pending = {root._node: [None] * root._node.num_outputs}
    pending[root._node][root._index] = grad
    for node in reversed(_topological_order(root._node)):
        out_grads = pending.pop(node, None)
        if out_grads is None:  # every consumer returned None for it: nothing flows here
            continue
        if node.freed:
            raise RuntimeError(
                f"backward through the graph a second time: the saved values of "
                f"{node.fn.__name__} were freed after the first backward(). "
                f"Pass retain_graph=True to the first backward() to keep them.")
        for i, g in enumerate(out_grads):
            if type(g) is OuterSum:  # its terms are all in: now the one matmul
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
        for t, g, needed in zip(node.inputs, in_grads, node.needs_input_grad):
            if g is None or not needed:
                continue
            data = t.data
            if type(g) is not np.ndarray or g.shape != data.shape or g.dtype != data.dtype:
                g = _conform(node, t, g)  # the rare case: a broadcast to undo, a number, a cast
            parent = t._node
            if parent is None:  # a leaf: gradients add up across backward() calls, as in torch
                if type(g) is OuterSum:
                    g = g.array()
                previous = t.grad
                if previous is None:
                    # a copy, because g may be shared with other inputs (add passes grad
                    # to both) and optimizers update .grad in place
                    t.grad = g.copy()
                elif previous.size >= _IN_PLACE_MIN_SIZE and _may_add_in_place(previous, g):
                    previous += g
                else:
                    t.grad = previous + g
                continue
            slots = pending.get(parent)
            if slots is None:
                slots = pending[parent] = [None] * parent.num_outputs
            # a reused tensor: gradients of all its uses add, never overwrite
            previous = slots[t._index]
            if previous is None:
                slots[t._index] = g
            elif type(previous) is OuterSum or type(g) is OuterSum:
                slots[t._index] = OuterSum.add(previous, g)
            elif previous.size >= _IN_PLACE_MIN_SIZE and _may_add_in_place(previous, g):
                previous += g
            else:
                slots[t._index] = previous + g
        if not retain_graph:
            node.free()


def _conform(node: Context, t: Tensor, g) -> np.ndarray:
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


class OuterSum:
    """A gradient sum_k a_k^T @ b_k kept as its factors until all terms are in.

    ``Matmul.backward`` returns dy = x^T @ grad in this form. A weight used at T
    time steps (h W_hh^T) then receives T terms, and instead of T small matmuls
    and T additions of (K, M) arrays the engine does, once the last term is in,
    one (T*N, K)^T @ (T*N, M) matmul over the stacked rows: as fast as BLAS
    gets, and what a hand-written BPTT does. Only the engine sees these: an
    op's backward and ``.grad`` always get arrays.
    """

    __slots__ = ("lefts", "rights", "shape", "dtype")

    def __init__(self, left: np.ndarray, right: np.ndarray):
        self.lefts, self.rights = [left], [right]
        self.shape = (left.shape[1], right.shape[1])
        self.dtype = left.dtype if left.dtype == right.dtype else np.result_type(left, right)

    def array(self) -> np.ndarray:
        if len(self.lefts) == 1:
            return self.lefts[0].T @ self.rights[0]
        return np.concatenate(self.lefts).T @ np.concatenate(self.rights)

    @staticmethod
    def add(a, b):
        """a + b, where either may be an OuterSum: two of them just pool their terms."""
        if type(a) is OuterSum and type(b) is OuterSum:
            a.lefts += b.lefts
            a.rights += b.rights
            return a
        return (a.array() if type(a) is OuterSum else a) + (b.array() if type(b) is OuterSum else b)


# Below this many elements a new array costs less than proving the old one may be reused.
_IN_PLACE_MIN_SIZE = 4096


def _may_add_in_place(previous: np.ndarray, g: np.ndarray) -> bool:
    """May ``previous += g`` stand for ``previous = previous + g``?

    Only if nothing outside the engine can see ``previous``: no other reference
    to it (``Add.backward`` hands one array to both inputs; a user may keep an
    old ``.grad``), not a view (a write would reach its base), writable, and of
    g's shape and dtype. The reference count proves the first, as torch's
    AccumulateGrad checks use_count() == 1. Then a weight shared by T time
    steps costs one gradient buffer instead of T - 1 new ones.
    """
    return (previous.base is None and sys.getrefcount(previous) == _SOLE_REFCOUNT
            and previous.shape == g.shape and previous.dtype == g.dtype
            and previous.flags.writeable)


def _refcount_seen_by_callee(previous, g) -> int:
    return sys.getrefcount(previous)


def _sole_refcount() -> int:
    """What _may_add_in_place counts for an array held by one slot and one local name:
    called the same way, so that the interpreter's own references are the same."""
    slot = [np.empty(0)]
    previous = slot[0]
    return _refcount_seen_by_callee(previous, None)


_SOLE_REFCOUNT = _sole_refcount()


# --------------------------------------------------------------------------- Tensor


def _as_array(data, dtype) -> np.ndarray:
    """Float arrays keep their dtype; Python numbers, lists, ints and bools become float64."""
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    array = np.asarray(data)
    if array.dtype.kind != "f":
        if array.dtype.kind not in "biu":
            raise TypeError(f"Tensor: cannot make a tensor from data of dtype {array.dtype}")
        array = array.astype(np.float64)
    return array


class Tensor:
    """A numpy array that remembers how it was computed.

    Arguments:
        data: array-like. A float ndarray is used as is (no copy) and keeps its
            dtype; Python numbers, lists and integer arrays become float64.
        requires_grad: record operations on this tensor so that ``backward``
            can fill its ``.grad``.
        dtype: force a dtype, e.g. ``np.float32`` (or an integer dtype for
            index tensors, which cannot require grad).
    """

    __slots__ = ("data", "grad", "_requires_grad", "_node", "_index", "name", "__weakref__")
    # numpy defers to our reflected operators: ndarray + Tensor calls Tensor.__radd__
    __array_ufunc__ = None

    def __init__(self, data, requires_grad: bool = False, dtype=None, name: str | None = None):
        if isinstance(data, Tensor):
            data = data.data
        self.data = _as_array(data, dtype)
        self.grad = None
        self._node = None
        self._index = 0
        self._requires_grad = False
        self.name = name
        self.requires_grad = requires_grad

    # ----------------------------------------------------------------- properties
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and self.data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require grad, "
                            f"but this tensor has dtype {self.data.dtype}")
        if not value and self._node is not None:
            raise RuntimeError("requires_grad can only be turned off on a leaf tensor; "
                               "use .detach() to cut a computed tensor from its graph")
        self._requires_grad = bool(value)

    @property
    def is_leaf(self) -> bool:
        """True for tensors not computed by a recorded op (inputs and parameters)."""
        return self._node is None

    @property
    def grad_fn(self):
        """The op that computed this tensor (None for a leaf)."""
        return None if self._node is None else self._node.fn

    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Tensor(")
        extra = ""
        if self.data.dtype != np.float64:
            extra += f", dtype={self.data.dtype}"
        if self._node is not None:
            extra += f", grad_fn=<{self._node.fn.__name__}>"
        elif self._requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    def item(self) -> float:
        if self.data.size != 1:
            raise ValueError(f"item(): only a one-element tensor can be converted to a "
                             f"Python number, this one has shape {self.shape}")
        return self.data.item()

    def numpy(self) -> np.ndarray:
        return self.data

    def detach(self) -> "Tensor":
        """The same values (shared memory), cut from the graph: gradients stop here."""
        return _tensor_from_op(self.data, None, 0)

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward."""
        if self._node is None:
            return  # leaves keep their gradient anyway
        if self._node.retained is None:
            self._node.retained = {}
        self._node.retained[self._index] = self

    def zero_grad(self) -> None:
        self.grad = None

    # ----------------------------------------------------------------- backward
    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad.

        Arguments:
            gradient: dL/d(self), of self's shape. May be omitted only when self
                holds a single element (a loss), where it is 1.
            retain_graph: keep saved values so that backward can run again.
        """
        if not self._requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad, so no graph "
                               "leads to it; create its inputs with requires_grad=True")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward(): this tensor has shape {self.shape}, not a single element, "
                    f"so pass the gradient of the loss with respect to it, e.g. "
                    f"y.backward(np.ones({self.shape})), or reduce it first: y.sum().backward()")
            gradient = np.ones(self.shape, dtype=self.dtype)
        else:
            gradient = np.asarray(gradient.data if isinstance(gradient, Tensor) else gradient,
                                  dtype=self.dtype)
            if gradient.shape != self.shape:
                raise ValueError(f"backward(): gradient has shape {gradient.shape}, "
                                 f"but the tensor has shape {self.shape}")
        if self._node is None:  # a leaf: d self / d self
            self.grad = gradient.copy() if self.grad is None else self.grad + gradient
            return
        with gc_paused():
            _run_backward(self, gradient, retain_graph)

    # ----------------------------------------------------------------- arithmetic
    def _lift(self, other) -> "Tensor":
        """A Python number takes this tensor's dtype (float32 stays float32)."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (int, float)):
            return Tensor(np.asarray(other, dtype=self.data.dtype))
        return Tensor(other)

    def __add__(self, other): return ops.Add.apply(self, self._lift(other))
    def __radd__(self, other): return ops.Add.apply(self._lift(other), self)
    def __sub__(self, other): return ops.Sub.apply(self, self._lift(other))
    def __rsub__(self, other): return ops.Sub.apply(self._lift(other), self)
    def __mul__(self, other): return ops.Mul.apply(self, self._lift(other))
    def __rmul__(self, other): return ops.Mul.apply(self._lift(other), self)
    def __truediv__(self, other): return ops.Div.apply(self, self._lift(other))
    def __rtruediv__(self, other): return ops.Div.apply(self._lift(other), self)
    def __matmul__(self, other): return ops.Matmul.apply(self, self._lift(other))
    def __rmatmul__(self, other): return ops.Matmul.apply(self._lift(other), self)
    def __neg__(self): return ops.Neg.apply(self)

    def __pow__(self, exponent):
        if isinstance(exponent, Tensor) or np.ndim(exponent) != 0:
            raise TypeError("pow: the exponent must be a Python number (x ** 2); "
                            "for a tensor exponent write (y * x.log()).exp()")
        return ops.Pow.apply(self, exponent=float(exponent))

    # ----------------------------------------------------------------- elementwise
    def exp(self): return ops.Exp.apply(self)
    def log(self): return ops.Log.apply(self)
    def tanh(self): return ops.Tanh.apply(self)
    def sigmoid(self): return ops.Sigmoid.apply(self)
    def relu(self): return ops.Relu.apply(self)
    def sqrt(self): return ops.Pow.apply(self, exponent=0.5)

    # ----------------------------------------------------------------- reductions
    def sum(self, axis=None, keepdims: bool = False):
        return ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims: bool = False):
        return ops.Mean.apply(self, axis=axis, keepdims=keepdims)

    # ----------------------------------------------------------------- shape
    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.Reshape.apply(self, shape=shape)

    def transpose(self, *axes):
        """No axes: reverse them (numpy). Two axes: swap them (torch). All axes: permute.

        Two axes always swap, also on a 2-D tensor, where ``w.transpose(0, 1)``
        and ``w.transpose(-2, -1)`` are w.T as in torch (never the identity)."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        if len(axes) == 2:
            a, b = (ops.check_axis("transpose", ax, self.shape) for ax in axes)
            perm = list(range(self.ndim))
            perm[a], perm[b] = perm[b], perm[a]
            axes = tuple(perm)
        return ops.Transpose.apply(self, axes=axes or None)

    def permute(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return ops.Transpose.apply(self, axes=axes)

    @property
    def T(self):
        return ops.Transpose.apply(self, axes=None)

    def __getitem__(self, index):
        return ops.GetItem.apply(self, index=index)

    def split(self, split_size_or_sections, axis: int = -1):
        """As torch.split: an int k gives parts of size k (the last may be smaller);
        a list gives parts of exactly those sizes."""
        return ops.Split.apply(self, sizes=split_size_or_sections, axis=axis)

    def chunk(self, chunks: int, axis: int = -1):
        """As torch.chunk: ``chunks`` parts of size ceil(n / chunks), the last smaller
        when n does not divide evenly (so there may be fewer than ``chunks`` parts)."""
        if not isinstance(chunks, (int, np.integer)) or chunks < 1:
            raise ValueError(f"chunk: chunks must be a positive integer, got {chunks!r}")
        n = self.shape[ops.check_axis("chunk", axis, self.shape)] if self.ndim else 0
        return ops.Split.apply(self, sizes=max(-(-n // chunks), 1), axis=axis)

    def unbind(self, axis: int = 0):
        """As torch.unbind: the slices along ``axis``, one node for all of them."""
        return ops.Unbind.apply(self, axis=axis)


def _tensor_from_op(data, node: Context | None, index: int) -> Tensor:
    """Output ``index`` of an op (``node`` is None when no graph is recorded).

    Skips ``Tensor.__init__``, whose checks forward has already settled: this
    runs once per op, so every attribute store counts.
    """
    t = _new_tensor(Tensor)
    t.data = data if isinstance(data, np.ndarray) else np.asarray(data)
    t.grad = None
    t._requires_grad = node is not None
    t._node = node
    t._index = index
    t.name = None
    return t


_new_tensor = object.__new__

from . import ops  # noqa: E402  (ops subclass Function, defined above)
