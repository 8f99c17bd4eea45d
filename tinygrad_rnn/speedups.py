"""The speed layer: faster versions of the five functions the backward walk calls by name.

Read ``autograd.py`` first: its walk is the whole algorithm, and it calls
``backward_of``, ``conform``, ``add_grads``, ``as_array`` and ``gc_paused`` in
their obvious forms, written there. ``install()`` (run when the package is
imported) replaces each with the version below, which gives the same gradients
(up to the order in which a sum is rounded) faster. With the environment
variable ``TINYGRAD_RNN_PLAIN=1`` set at import, nothing is replaced and the
recurrent layers run op by op (``replay.is_enabled()`` is False): the suite
runs in that mode too, which is what keeps this promise honest.

They exist because an unrolled RNN is a graph of tens of thousands of small
nodes and a handful of weights shared by all of them, which is the worst case
for a naive engine:

1. ``OuterSum``: the weight gradient of all T time steps as one matmul (and a
   bias's as one sum over all rows), instead of T small ones and T - 1 adds.
   ``backward_of`` hands the engine ``Matmul``'s, ``Addmm``'s and ``Linear``'s
   weight gradient as its two factors, and ``conform`` a bias's gradient as
   its rows; ``add_grads`` pools the terms; ``as_array`` does the one matmul
   (or sum) when the gradient is finally read.
2. ``add_grads``: a gradient buffer reused (added into in place) when a
   reference count proves nobody else can see it.
3. ``gc_paused``: CPython's cyclic garbage collector kept off a graph that has
   no cycles for it to find.

``docs/engine.md`` ("The speed layer") explains each with its measurement.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from . import autograd, ops

if TYPE_CHECKING:
    from .autograd import Context, Function, Gradient

# Read once, at import: the whole process runs one way or the other.
PLAIN = os.environ.get("TINYGRAD_RNN_PLAIN", "") not in ("", "0")

# --------------------------------------------------------------------------- 1. OuterSum


class OuterSum:
    """A gradient sum_k a_k^T @ b_k kept as its factors until all terms are in.

    A weight used at T time steps (h W_hh^T) receives T terms, and instead of
    T small matmuls and T additions of (K, M) arrays the engine does, once the
    last term is in, one (T*N, K)^T @ (T*N, M) matmul over the stacked rows: as
    fast as BLAS gets, and what a hand-written BPTT does. Only the engine sees
    these: an op's backward and ``.grad`` always get arrays.

    ``OuterSum.of_rows(g)`` is the case a_k = a column of ones: the sum of g's
    rows, the gradient of a bias added to every row. A bias used at T time
    steps then gets one sum over all T*N rows, not T sums and T - 1 additions.
    (Its ``lefts`` list stays empty: no ones are stored.)
    """

    __slots__ = ("lefts", "rights", "shape", "dtype")
    lefts: list[np.ndarray]
    rights: list[np.ndarray]
    shape: tuple[int, ...]
    dtype: np.dtype

    def __init__(self, left: np.ndarray, right: np.ndarray) -> None:
        self.lefts, self.rights = [left], [right]
        self.shape = (left.shape[1], right.shape[1])
        self.dtype = left.dtype if left.dtype == right.dtype else np.result_type(left, right)

    @classmethod
    def of_rows(cls, right: np.ndarray) -> OuterSum:
        """ones^T @ right, of shape (M,) for a 2-D ``right`` (N, M)."""
        rows = object.__new__(cls)  # (not __init__: there is no left factor)
        rows.lefts, rows.rights = [], [right]
        rows.shape, rows.dtype = right.shape[1:], right.dtype
        return rows

    def array(self) -> np.ndarray:
        rights = self.rights[0] if len(self.rights) == 1 else np.concatenate(self.rights)
        if not self.lefts:  # of_rows: one sum over every row
            return np.add.reduce(rights, axis=0)
        lefts = self.lefts[0] if len(self.lefts) == 1 else np.concatenate(self.lefts)
        return lefts.T @ rights


def as_array(g: Gradient) -> np.ndarray:
    """``g`` as an array (an OuterSum does its matmul now)."""
    return g.array() if type(g) is OuterSum else g


def backward_of(fn: type[Function]) -> Callable[[Context, Any], Any]:
    """The op's own backward, but for the three ops whose weight gradient is a product."""
    return _FACTORED.get(fn, fn.backward)


def _matmul_backward(ctx: Context, grad: np.ndarray) -> tuple[Gradient, ...]:
    """``ops.Matmul.backward`` with dy = x^T @ grad as its factors, for a 2-D y."""
    x, y = ctx.saved_tensors
    need_x, need_y = ctx.needs_input_grad
    if y.ndim != 2 or x.ndim < 2 or not need_y or not y.size:  # (no factors of an empty y)
        return ops.Matmul.backward(ctx, grad)
    dx = grad @ y.swapaxes(-1, -2) if need_x else None
    return dx, OuterSum(x.reshape(-1, x.shape[-1]), grad.reshape(-1, grad.shape[-1]))


def _addmm_backward(ctx: Context, grad: np.ndarray) -> tuple[Gradient, ...]:
    """``ops.Addmm.backward`` with dmat2 = mat1^T @ grad as its factors."""
    mat1, mat2 = ctx.saved_tensors
    _, need_mat1, need_mat2 = ctx.needs_input_grad
    return (grad, grad @ mat2.T if need_mat1 else None,
            OuterSum(mat1, grad) if need_mat2 else None)


def _linear_backward(ctx: Context, grad: np.ndarray) -> tuple[Gradient, ...]:
    """``ops.Linear.backward`` with dweight = grad^T @ x as its factors."""
    x, weight = ctx.saved_tensors
    if not ctx.needs_input_grad[1]:
        return ops.Linear.backward(ctx, grad)
    rows = ops._rows(x)
    grad_rows = grad.reshape(rows.shape[0], weight.shape[0])
    dx = None
    if ctx.needs_input_grad[0]:
        dx = (grad_rows @ weight).reshape(grad.shape[:-1] + (weight.shape[1],))
    dweight = OuterSum(grad_rows, rows)
    if len(ctx.needs_input_grad) == 2:
        return dx, dweight
    return dx, dweight, grad_rows  # the bias's: conform makes it one lazy sum of rows


_FACTORED = {ops.Matmul: _matmul_backward, ops.Addmm: _addmm_backward,
             ops.Linear: _linear_backward}


def conform(node: Context, shape: tuple, dtype: np.dtype, g: Gradient) -> Gradient:
    """``autograd.conform``, but a bias's gradient (rows (N, M) for a (M,) input) is kept
    as its rows, summed once with every other step's."""
    if type(g) is OuterSum and g.shape == shape and g.dtype == dtype:
        return g  # (a weight's factors, on their way to being pooled)
    if (type(g) is np.ndarray and g.ndim == 2 and len(shape) == 1 and g.shape[1] == shape[0]
            and g.dtype == dtype):
        return OuterSum.of_rows(g)
    return _plain_conform(node, shape, dtype, g)


# --------------------------------------------------------------------------- 2. add_grads

# Below this many elements a new array costs less than proving the old one may be reused.
IN_PLACE_MIN_SIZE = 4096


def add_grads(previous: Gradient, g: Gradient) -> Gradient:
    """previous + g, for two gradients of one tensor (either may be an OuterSum).

    Call it as ``slot = add_grads(slot, g)``, passing the container's item
    directly (``slots[i]``, ``t.grad``), never through a local name: the
    reference count below is calibrated for exactly that call.

    Two OuterSums pool their terms. Two arrays are added in place when that
    cannot be seen from outside the engine: ``previous`` has no reference but
    its slot (``Add.backward`` hands one array to both inputs; a user may keep
    an old ``.grad``), is not a view (a write would reach its base), is
    writable, and has g's shape and dtype. The reference count proves the
    first, as torch's AccumulateGrad checks use_count() == 1. A weight shared
    by T time steps then costs one gradient buffer instead of T - 1 new ones.
    """
    if type(previous) is OuterSum or type(g) is OuterSum:
        if type(previous) is OuterSum and type(g) is OuterSum:
            previous.lefts += g.lefts
            previous.rights += g.rights
            return previous
        return as_array(previous) + as_array(g)
    if (previous.size >= IN_PLACE_MIN_SIZE and sys.getrefcount(previous) == _SOLE_REFCOUNT
            and previous.base is None and previous.flags.writeable
            and previous.shape == g.shape and previous.dtype == g.dtype):
        previous += g
        return previous
    return previous + g


def _refcount_in_callee(previous: Gradient, g: Gradient) -> int:
    return sys.getrefcount(previous)


def _sole_refcount() -> int:
    """What ``add_grads`` counts for an array held by nothing but one slot: measured by
    a call of the same shape, so that the interpreter's own references are the same."""
    slot = [np.empty(0)]
    return _refcount_in_callee(slot[0], None)


_SOLE_REFCOUNT = _sole_refcount()


# --------------------------------------------------------------------------- 3. gc_paused


class gc_paused:
    """Run a block without CPython's cyclic garbage collector (reference counting goes on).

    A graph has no reference cycles (a node points only to its parents, which
    were made before it), so the cyclic collector can never free any of it,
    yet every collection it starts walks all of it: with a 2000-step LSTM
    (~90,000 nodes and tensors) the full collections that building it set off
    took longer than its whole backward. Building a long graph (``nn.RNN`` and
    friends do) and walking it (backward) therefore pause the collector;
    garbage made meanwhile is collected after. (A class, not
    @contextmanager: a microsecond less on every backward().)

    The collector is one switch for the whole process, so the pauses of all
    threads are counted: the first to enter turns it off, the last to leave
    turns it back on, and only if it was on before the first (a thread leaving
    does not turn it on under another one still building its graph).
    """

    # (acquire and release rather than ``with``: half the time, and nothing between them
    # can raise)
    def __enter__(self) -> None:
        _pause_lock.acquire()
        if _pauses.inside == 0:
            _pauses.resume = gc.isenabled()
            gc.disable()
        _pauses.inside += 1
        _pause_lock.release()

    def __exit__(self, *exc_info: object) -> None:
        _pause_lock.acquire()
        _pauses.inside -= 1
        if _pauses.inside == 0 and _pauses.resume:
            gc.enable()
        _pause_lock.release()


class _Pauses:
    """The ``gc_paused`` blocks of all threads: how many are inside, and whether the
    collector was on when the first of them entered. (An object of its own: writing to
    a class's attributes would cost every later lookup on that class its cache.)"""

    __slots__ = ("inside", "resume")

    def __init__(self) -> None:
        self.inside, self.resume = 0, False


_pauses = _Pauses()
_pause_lock = threading.Lock()  # held while _pauses is read or changed


# --------------------------------------------------------------------------- the switch

_plain_conform = autograd.conform
FAST = {"backward_of": backward_of, "conform": conform, "add_grads": add_grads,
        "as_array": as_array, "gc_paused": gc_paused}
PLAIN_VERSIONS = {name: getattr(autograd, name) for name in FAST}


def install(fast: bool = True) -> None:
    """Point the engine's five doors at the fast versions above (or back at the plain ones)."""
    for name, function in (FAST if fast else PLAIN_VERSIONS).items():
        setattr(autograd, name, function)


def installed() -> bool:
    return autograd.add_grads is add_grads


if not PLAIN:
    install()
