"""The Hypothesis strategies that the op table (``op_cases.py``) names.

A row of the table says ``strategy.reduction()``; its tests build that into
``reduction()`` here. This module imports Hypothesis, so the table itself, and
``python -m tinygrad_rnn gradcheck``, never import it. Besides the general
strategies of ``tinygrad_rnn.testing`` (re-exported), one strategy per kind of
parameter an op takes: an axis that fits the drawn array, an index, sizes that
add up, ...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .case import BOUNDS, Inputs
from .testing import arrays, broadcastable_arrays, positive_arrays

if TYPE_CHECKING:
    from .testing import Bounds

__all__ = [
    "arrays", "positive_arrays", "broadcastable_arrays", "arrays_of_shapes", "same_shape_arrays",
    "reduction", "one_axis", "two_axes", "permutation", "reshaped", "basic_index", "array_index",
    "to_concat", "chunked", "split_sizes", "addmm_inputs", "linear_inputs", "scaled",
    "embedding_inputs", "class_targets",
    "on_grids",  # (issue 15, ops-elem)
    # issue 15 (ops-reduce)
    "distinct_arrays", "distinct_reduction", "norm_inputs", "var_inputs", "squeezable",
    "new_axis", "flatten_dims", "expandable", "flip_dims", "gather_inputs",
    "index_select_inputs", "einsum_inputs",
]


def arrays_of_shapes(*shapes: tuple[int, ...],
                     positive: bool = False) -> st.SearchStrategy[tuple[np.ndarray, ...]]:
    """One array per given shape (a tuple of them)."""
    make = positive_arrays if positive else arrays
    return st.tuples(*(make(s) for s in shapes))


@st.composite
def same_shape_arrays(draw: st.DrawFn, count: int = 2,
                      elements: Sequence[Bounds] | None = None) -> tuple[np.ndarray, ...]:
    """``count`` arrays of one random shape (an input and its target), the i-th of
    elements in ``elements[i]`` (default: BOUNDS)."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
    bounds = [BOUNDS] * count if elements is None else elements
    return tuple(draw(arrays(shape, elements=b)) for b in bounds)


@st.composite
def reduction(draw: st.DrawFn) -> Inputs:
    """x and an axis (None, an int, a negative int or a tuple) with keepdims."""
    x = draw(arrays())
    choices: list[st.SearchStrategy[Any]] = [st.none()]
    if x.ndim:
        choices += [st.integers(-x.ndim, x.ndim - 1),
                    hnp.valid_tuple_axes(x.ndim, min_size=1)]  # negative ones included
    axis = draw(st.one_of(choices))
    return Inputs((x,), {"axis": axis, "keepdims": draw(st.booleans())})


@st.composite
def one_axis(draw: st.DrawFn) -> Inputs:
    """x of at least one dimension and one of its axes, maybe counted from the end."""
    x = draw(arrays(min_dims=1))
    return Inputs((x,), {"axis": draw(st.integers(-x.ndim, x.ndim - 1))})


@st.composite
def two_axes(draw: st.DrawFn, min_dims: int = 2) -> Inputs:
    """x and two of its axes ``a`` and ``b`` (maybe the same one)."""
    x = draw(arrays(min_dims=min_dims))
    a, b = (draw(st.integers(-x.ndim, x.ndim - 1)) for _ in range(2))
    return Inputs((x,), {"a": a, "b": b})


def permutation(two_axes: bool = True) -> st.SearchStrategy[Inputs]:
    """x and a permutation of all its axes; without ``two_axes``, never of exactly
    two (which ``transpose(a, b)`` reads as a swap)."""
    @st.composite
    def draw_permutation(draw: st.DrawFn) -> Inputs:
        x = draw(arrays(min_dims=1))
        perm = draw(st.permutations(range(x.ndim)))
        # some axes counted from the end, as torch allows
        perm = tuple(p - x.ndim if draw(st.booleans()) else p for p in perm)
        return Inputs((x,), {"axes": perm})

    drawn = draw_permutation()
    return drawn if two_axes else drawn.filter(lambda e: len(e.params["axes"]) != 2)


@st.composite
def reshaped(draw: st.DrawFn) -> Inputs:
    """x and a shape of as many elements (some with -1, some adding axes of 1)."""
    x = draw(arrays())
    n = x.size
    shape = draw(st.sampled_from([(n,), (-1,), x.shape[::-1], (1,) + x.shape, (n, 1),
                                  x.shape + (1,), (1, -1)]))
    return Inputs((x,), {"shape": shape})


@st.composite
def basic_index(draw: st.DrawFn) -> Inputs:
    """A tuple of ints and slices (negative steps included), one per leading axis."""
    x = draw(arrays(min_dims=1))
    index: list[int | slice] = []
    for n in x.shape[:draw(st.integers(1, x.ndim))]:
        if draw(st.booleans()):
            index.append(draw(st.integers(-n, n - 1)))
        else:
            step = draw(st.sampled_from([1, 2, -1, -2]))
            start = draw(st.none() | st.integers(-n, n - 1))
            stop = draw(st.none() | st.integers(-n - 1, n))
            index.append(slice(start, stop, step))
    return Inputs((x,), {"index": tuple(index)})


@st.composite
def array_index(draw: st.DrawFn, leading_slice: bool = False) -> Inputs:
    """Integer arrays picking elements, repeats included (their gradients must add)."""
    x = draw(arrays(min_dims=2 if leading_slice else 1))
    n = x.shape[1 if leading_slice else 0]
    picks = draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=6))
    picks = np.array(picks + picks[:1])  # at least one index repeats
    return Inputs((x,), {"index": (slice(None), picks) if leading_slice else picks})


@st.composite
def to_concat(draw: st.DrawFn, new_axis: bool = False) -> Inputs:
    """2 to 3 arrays that agree everywhere but along ``axis`` (or everywhere, to stack)."""
    base = draw(hnp.array_shapes(min_dims=0 if new_axis else 1, max_dims=3, max_side=3))
    ndim = len(base) + (1 if new_axis else 0)
    axis = draw(st.integers(-ndim, ndim - 1))
    xs = []
    for _ in range(draw(st.integers(2, 3))):
        shape = list(base)
        if not new_axis:
            shape[axis] = draw(st.integers(1, 3))
        xs.append(draw(arrays(tuple(shape))))
    return Inputs(tuple(xs), {"axis": axis})


@st.composite
def chunked(draw: st.DrawFn) -> Inputs:
    """x, a number of chunks (1 to 5, maybe more than the axis holds) and an axis."""
    x = draw(arrays(min_dims=1))
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    return Inputs((x,), {"chunks": draw(st.integers(1, 5)), "axis": axis})


@st.composite
def split_sizes(draw: st.DrawFn, as_list: bool) -> Inputs:
    """x, an axis, and sizes: an int (maybe more than the axis holds), or a list
    (empty parts included) that adds up to the axis."""
    x = draw(arrays(min_dims=1))
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    n = x.shape[axis]
    if not as_list:
        return Inputs((x,), {"sizes": draw(st.integers(1, n + 1)), "axis": axis})
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
    sizes = list(np.diff([0] + cuts + [n]))
    return Inputs((x,), {"sizes": [int(s) for s in sizes], "axis": axis})


@st.composite
def addmm_inputs(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    """input, mat1 (n, k), mat2 (k, m), input of a shape that broadcasts to (n, m)."""
    n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
    input_shape = draw(st.sampled_from([(n, m), (m,), (1, m), (n, 1), (1, 1), ()]))
    return tuple(draw(arrays(shape)) for shape in (input_shape, (n, k), (k, m)))


@st.composite
def linear_inputs(draw: st.DrawFn, bias: bool) -> tuple[np.ndarray, ...]:
    """x (*, in) with 0 to 3 leading axes, weight (out, in), and a bias (out,) if ``bias``."""
    leading = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3))
    n_in, n_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    shapes = [leading + (n_in,), (n_out, n_in)] + ([(n_out,)] if bias else [])
    return tuple(draw(arrays(shape)) for shape in shapes)


@st.composite
def scaled(draw: st.DrawFn, arrays_strategy: st.SearchStrategy[Any], name: str = "value") -> Inputs:
    """Arrays and a number parameter ``name`` (negative, zero, fractional, above 1)."""
    number = draw(st.sampled_from([1.0, -2.0, 0.0, 0.3, 0.75, 2.5]))
    return Inputs(tuple(draw(arrays_strategy)), {name: number})


@st.composite
def embedding_inputs(draw: st.DrawFn, padding: bool, pick_padding: bool = True) -> Inputs:
    """A table (V, D), integer indices of any shape into it, and maybe a padding row
    (which the indices avoid unless ``pick_padding``)."""
    rows, dim = draw(st.integers(2 if padding else 1, 5)), draw(st.integers(1, 3))
    weight = draw(arrays((rows, dim)))
    padding_idx = draw(st.integers(-rows, rows - 1)) if padding else None
    # (padding_idx is None only with padding=False, which always picks any row)
    rows_picked = [r for r in range(rows)
                   if pick_padding or r != padding_idx % rows]  # type: ignore[operator]
    index_shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=4))
    indices = draw(hnp.arrays(np.intp, index_shape, elements=st.sampled_from(rows_picked)))
    return Inputs((weight,), {"indices": indices, "padding_idx": padding_idx})


@st.composite
def class_targets(draw: st.DrawFn) -> Inputs:
    """Logits (C,) or (N, C) and a target of class indices, () or (N,)."""
    n_classes = draw(st.integers(1, 4))
    batch = draw(st.none() | st.integers(1, 4))
    shape = (n_classes,) if batch is None else (batch, n_classes)
    logits = draw(arrays(shape))
    target = draw(hnp.arrays(np.intp, () if batch is None else (batch,),
                             elements=st.integers(0, n_classes - 1)))
    return Inputs((logits,), {"target": target})


# ---- elementwise ops of issue 15 (ops-elem)


def on_grids(*offsets: float, step: float = 0.5) -> st.SearchStrategy[tuple[np.ndarray, ...]]:
    """Broadcastable arrays, one per offset, each on its grid ``k * step + offset``:
    elements of arrays on one grid tie exactly or lie ``step`` apart, and arrays on
    grids of different offsets never meet. For ops with kinks (abs at 0, clamp at its
    bounds, maximum at ties), where a central difference is right only far from the
    kink, or exactly on it when the op's gradient there is its mean slope (abs at 0,
    a tie of maximum split in halves)."""
    def snap(xs: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        return tuple(np.asarray(np.round((x - offset) / step) * step + offset, dtype=x.dtype)
                     for x, offset in zip(xs, offsets))

    return broadcastable_arrays(len(offsets)).map(snap)


# ---- reductions and shape ops of issue 15 (ops-reduce)


@st.composite
def distinct_arrays(draw: st.DrawFn, min_dims: int = 0) -> np.ndarray:
    """An array whose magnitudes are all different, 0.3 or more apart and at least 0.5,
    with random signs: no ties for max, min or the inf-norm, no kink of |x| nearby, so
    finite differences hold."""
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=3, max_side=4))
    n = int(np.prod(shape))
    order = np.array(draw(st.permutations(range(n))), dtype=np.float64)
    jitter = draw(hnp.arrays(np.float64, n, elements=st.floats(0.0, 0.1)))
    signs = draw(hnp.arrays(np.float64, n, elements=st.sampled_from([-1.0, 1.0])))
    return (signs * (0.5 + 0.4 * order + jitter)).reshape(shape)


def _dims(draw: st.DrawFn, ndim: int, none: bool = True) -> Any:
    """None (if ``none``), an int or a tuple of dims of an ``ndim``-dim array."""
    choices: list[st.SearchStrategy[Any]] = [st.none()] if none else [st.just(())]
    if ndim:
        choices += [st.integers(-ndim, ndim - 1), hnp.valid_tuple_axes(ndim, min_size=1)]
    return draw(st.one_of(choices))


@st.composite
def distinct_reduction(draw: st.DrawFn, one_dim: bool = False) -> Inputs:
    """Distinct x (see distinct_arrays), dims (one int if ``one_dim``) and keepdims."""
    x = draw(distinct_arrays(min_dims=1 if one_dim else 0))
    axis = draw(st.integers(-x.ndim, x.ndim - 1)) if one_dim else _dims(draw, x.ndim)
    return Inputs((x,), {"axis": axis, "keepdims": draw(st.booleans())})


@st.composite
def norm_inputs(draw: st.DrawFn) -> Inputs:
    """Distinct x, a p (2, 'fro', 1, inf, fractional, above 2), dims and keepdims."""
    x = draw(distinct_arrays())
    p = draw(st.sampled_from([2.0, "fro", 1.0, float("inf"), 0.5, 1.5, 3.0]))
    return Inputs((x,), {"p": p, "axis": _dims(draw, x.ndim), "keepdims": draw(st.booleans())})


@st.composite
def var_inputs(draw: st.DrawFn) -> Inputs:
    """Distinct x, dims, keepdims and a correction below the number of elements reduced
    (so the variance is finite, and the std away from 0)."""
    x = draw(distinct_arrays())
    axis = _dims(draw, x.ndim)
    axes = range(x.ndim) if axis is None or axis == () else \
        [axis] if isinstance(axis, int) else axis
    count = int(np.prod([x.shape[a] for a in axes]))
    corrections = [c for c in (0, 1, 0.5, 2) if c < count]
    return Inputs((x,), {"axis": axis, "keepdims": draw(st.booleans()),
                         "correction": draw(st.sampled_from(corrections))})


@st.composite
def squeezable(draw: st.DrawFn) -> Inputs:
    """x with sides of 1 and 2 (dims of 1 common) and dims: None, an int or a tuple."""
    x = draw(arrays(hnp.array_shapes(min_dims=0, max_dims=4, max_side=2)))
    return Inputs((x,), {"dim": _dims(draw, x.ndim)})


@st.composite
def new_axis(draw: st.DrawFn) -> Inputs:
    """x and a place for a new dim, -ndim-1..ndim."""
    x = draw(arrays())
    return Inputs((x,), {"dim": draw(st.integers(-x.ndim - 1, x.ndim))})


@st.composite
def flatten_dims(draw: st.DrawFn) -> Inputs:
    """x and start_dim <= end_dim (either maybe counted from the end)."""
    x = draw(arrays())
    n = max(x.ndim, 1)
    start = draw(st.integers(0, n - 1))
    end = draw(st.integers(start, n - 1))
    return Inputs((x,), {"start_dim": start - n * draw(st.booleans()),
                         "end_dim": end - n * draw(st.booleans())})


@st.composite
def expandable(draw: st.DrawFn) -> Inputs:
    """x with dims of 1, and sizes to expand it to: new leading dims, -1 (kept) or a
    size for each dim of 1, -1 or its own size for the others."""
    x = draw(arrays(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3)))
    leading = draw(st.lists(st.integers(1, 3), max_size=2))
    sizes = [draw(st.sampled_from([-1, 1, 2, 3]) if n == 1 else st.sampled_from([-1, n]))
             for n in x.shape]
    return Inputs((x,), {"sizes": tuple(leading + sizes)})


@st.composite
def flip_dims(draw: st.DrawFn) -> Inputs:
    """x and dims to flip: an int, a tuple, or () (none)."""
    x = draw(arrays())
    return Inputs((x,), {"dims": _dims(draw, x.ndim, none=False)})


@st.composite
def gather_inputs(draw: st.DrawFn) -> Inputs:
    """x (at least 1-D), a dim, and an index of x's number of dims, no larger than x
    except along the dim, values in range (repeats included)."""
    x = draw(arrays(min_dims=1))
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    shape = [draw(st.integers(1, n)) for n in x.shape]
    shape[axis] = draw(st.integers(1, 4))
    index = draw(hnp.arrays(np.int64, tuple(shape),
                            elements=st.integers(0, x.shape[axis] - 1)))
    return Inputs((x,), {"dim": axis, "index": index})


@st.composite
def index_select_inputs(draw: st.DrawFn) -> Inputs:
    """x (at least 1-D), a dim, and a 1-D index into it (repeats included)."""
    x = draw(arrays(min_dims=1))
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    index = draw(hnp.arrays(np.int64, draw(st.integers(0, 5)),
                            elements=st.integers(0, x.shape[axis] - 1)))
    return Inputs((x,), {"dim": axis, "index": index})


# (equation, the operands' shapes): products, traces, diagonals, broadcasting ellipses
EINSUM_EQUATIONS: list[tuple[str, list[tuple[int, ...]]]] = [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("ij,jk", [(3, 2), (2, 2)]), ("i,i->", [(4,), (4,)]),
    ("i,j->ij", [(2,), (3,)]), ("ii->i", [(3, 3)]), ("ii", [(3, 3)]), ("iij->ji", [(2, 2, 3)]),
    ("ij->", [(2, 3)]), ("ij->ji", [(2, 3)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("...ij,...jk->...ik", [(2, 1, 2, 3), (4, 3, 2)]), ("i...->...", [(2, 3, 4)]),
    ("ab,ab->a", [(2, 1), (2, 3)]), ("ij,jk,kl->il", [(2, 3), (3, 2), (2, 4)]),
    ("Ab,bC", [(2, 3), (3, 2)]), ("iii->", [(2, 2, 2)]), ("i,ij,j->", [(2,), (2, 3), (3,)]),
]


@st.composite
def einsum_inputs(draw: st.DrawFn) -> Inputs:
    """One of EINSUM_EQUATIONS and its operands."""
    equation, shapes = draw(st.sampled_from(EINSUM_EQUATIONS))
    return Inputs(tuple(draw(arrays(shape)) for shape in shapes), {"equation": equation})
