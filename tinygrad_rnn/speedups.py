"""The speed layer: three tricks the backward walk uses, none of which changes a result.

Read ``autograd.py`` first: its backward walk is the whole algorithm, and it
stays correct if every function here is replaced by the obvious one
(``add_grads(a, b)`` by ``a + b``, ``OuterSum(x, g)`` by ``x.T @ g`` and
``OuterSum.of_rows(g)`` by ``g.sum(axis=0)``, ``gc_paused`` by nothing). They
exist because an unrolled RNN is a graph of tens of thousands of small nodes
and a handful of weights shared by all of them, which is the worst case for a
naive engine:

1. ``OuterSum``: the weight gradient of all T time steps as one matmul (and a
   bias's as one sum).
2. ``add_grads``: a gradient buffer reused (added into in place) when a
   reference count proves nobody else can see it.
3. ``gc_paused``: CPython's cyclic garbage collector kept off a graph that has
   no cycles for it to find.

``docs/engine.md`` ("The speed layer") explains each with its measurement.
"""

from __future__ import annotations

import gc
import sys

import numpy as np

# --------------------------------------------------------------------------- 1. OuterSum


class OuterSum:
    """A gradient sum_k a_k^T @ b_k kept as its factors until all terms are in.

    ``Matmul.backward`` returns dy = x^T @ grad in this form. A weight used at T
    time steps (h W_hh^T) then receives T terms, and instead of T small matmuls
    and T additions of (K, M) arrays the engine does, once the last term is in,
    one (T*N, K)^T @ (T*N, M) matmul over the stacked rows: as fast as BLAS
    gets, and what a hand-written BPTT does. Only the engine sees these: an
    op's backward and ``.grad`` always get arrays.

    ``OuterSum.of_rows(g)`` is the case a_k = a column of ones: the sum of g's
    rows, the gradient of a bias added to every row (``Addmm``'s input). A bias
    used at T time steps then gets one sum over all T*N rows, not T sums and
    T - 1 additions. (Its ``lefts`` list stays empty: no ones are stored.)
    """

    __slots__ = ("lefts", "rights", "shape", "dtype")

    def __init__(self, left: np.ndarray, right: np.ndarray):
        self.lefts, self.rights = [left], [right]
        self.shape = (left.shape[1], right.shape[1])
        self.dtype = left.dtype if left.dtype == right.dtype else np.result_type(left, right)

    @classmethod
    def of_rows(cls, right: np.ndarray) -> "OuterSum":
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


def materialize(g):
    """``g`` as an array (an OuterSum does its matmul now)."""
    return g.array() if type(g) is OuterSum else g


# --------------------------------------------------------------------------- 2. add_grads

# Below this many elements a new array costs less than proving the old one may be reused.
IN_PLACE_MIN_SIZE = 4096


def add_grads(previous, g):
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
        return materialize(previous) + materialize(g)
    if (previous.size >= IN_PLACE_MIN_SIZE and sys.getrefcount(previous) == _SOLE_REFCOUNT
            and previous.base is None and previous.flags.writeable
            and previous.shape == g.shape and previous.dtype == g.dtype):
        previous += g
        return previous
    return previous + g


def _refcount_in_callee(previous, g) -> int:
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
    """

    def __enter__(self):
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc_info):
        if self.was_enabled:
            gc.enable()
