"""Every op, and every Tensor method that reaches one, from one table.

Each row of ``CASES`` is an ``OpCase`` of ``tinygrad_rnn.testing`` (the factory
users apply to their own ops) and drives four tests: finite-difference gradients
in float64 with a random upstream gradient, forward values against numpy, values
and gradients against torch in float64, and inputs left unmutated. Each row is
also run in float32, where outputs and gradients must stay float32.

A new op is one row here.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor
from tinygrad_rnn.testing import (
    CHECKS, Inputs, OpCase, arrays, broadcastable_arrays, check_dtype, check_forward,
    check_gradients, check_no_mutation, check_op, check_torch, op_test, positive_arrays,
    run_check,
)
from _helpers import Softsign  # a user's own op

MATMUL = "(n?,k),(k,m?)->(n?,m?)"  # numpy's own gufunc signature of matmul


# --------------------------------------------------------------------------- strategies for parameters


@st.composite
def reduction(draw):
    """x and an axis (None, an int, a negative int or a tuple) with keepdims."""
    x = draw(arrays())
    choices = [st.none()]
    if x.ndim:
        choices += [st.integers(-x.ndim, x.ndim - 1),
                    hnp.valid_tuple_axes(x.ndim, min_size=1)]  # negative ones included
    axis = draw(st.one_of(choices))
    return Inputs((x,), {"axis": axis, "keepdims": draw(st.booleans())})


@st.composite
def reshaped(draw):
    x = draw(arrays())
    n = x.size
    shape = draw(st.sampled_from([(n,), (-1,), x.shape[::-1], (1,) + x.shape, (n, 1),
                                  x.shape + (1,), (1, -1)]))
    return Inputs((x,), {"shape": shape})


@st.composite
def two_axes(draw, min_dims=2):
    x = draw(arrays(min_dims=min_dims))
    a, b = (draw(st.integers(-x.ndim, x.ndim - 1)) for _ in range(2))
    return Inputs((x,), {"a": a, "b": b})


@st.composite
def permutation(draw):
    x = draw(arrays(min_dims=1))
    perm = draw(st.permutations(range(x.ndim)))
    # some axes counted from the end, as torch allows
    perm = tuple(p - x.ndim if draw(st.booleans()) else p for p in perm)
    return Inputs((x,), {"axes": perm})


@st.composite
def basic_index(draw):
    """A tuple of ints and slices (negative steps included), one per leading axis."""
    x = draw(arrays(min_dims=1))
    index = []
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
def array_index(draw, leading_slice=False):
    """Integer arrays picking elements, repeats included (their gradients must add)."""
    x = draw(arrays(min_dims=2 if leading_slice else 1))
    n = x.shape[1 if leading_slice else 0]
    picks = draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=6))
    picks = np.array(picks + picks[:1])  # at least one index repeats
    return Inputs((x,), {"index": (slice(None), picks) if leading_slice else picks})


@st.composite
def to_concat(draw, new_axis=False):
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
def chunked(draw):
    x = draw(arrays(min_dims=1))
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    return Inputs((x,), {"chunks": draw(st.integers(1, 5)), "axis": axis})


@st.composite
def split_sizes(draw, as_list):
    x = draw(arrays(min_dims=1))
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    n = x.shape[axis]
    if not as_list:
        return Inputs((x,), {"sizes": draw(st.integers(1, n + 1)), "axis": axis})
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
    sizes = list(np.diff([0] + cuts + [n]))
    return Inputs((x,), {"sizes": [int(s) for s in sizes], "axis": axis})


@st.composite
def one_axis(draw):
    x = draw(arrays(min_dims=1))
    return Inputs((x,), {"axis": draw(st.integers(-x.ndim, x.ndim - 1))})


@st.composite
def addmm_inputs(draw):
    """input, mat1 (n, k), mat2 (k, m), input of a shape that broadcasts to (n, m)."""
    n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
    input_shape = draw(st.sampled_from([(n, m), (m,), (1, m), (n, 1), (1, 1), ()]))
    return tuple(draw(arrays(shape)) for shape in (input_shape, (n, k), (k, m)))


@st.composite
def linear_inputs(draw, bias: bool):
    """x (*, in) with 0 to 3 leading axes, weight (out, in), and a bias (out,) if ``bias``."""
    leading = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3))
    n_in, n_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    shapes = [leading + (n_in,), (n_out, n_in)] + ([(n_out,)] if bias else [])
    return tuple(draw(arrays(shape)) for shape in shapes)


@st.composite
def scaled(draw, arrays_strategy, name="value"):
    """Arrays and a number parameter ``name`` (negative, zero, fractional, above 1)."""
    number = draw(st.sampled_from([1.0, -2.0, 0.0, 0.3, 0.75, 2.5]))
    return Inputs(tuple(draw(arrays_strategy)), {name: number})


def torch_addcmul(a, b, c, value=1):
    import torch
    return torch.addcmul(a, b, c, value=value)


def torch_lerp(a, b, weight):
    import torch
    return torch.lerp(a, b, weight)


def torch_linear(*args):
    import torch
    return torch.nn.functional.linear(*args)


@st.composite
def embedding_inputs(draw, padding: bool, pick_padding: bool = True):
    """A table (V, D), integer indices of any shape into it, and maybe a padding row
    (which the indices avoid unless ``pick_padding``)."""
    rows, dim = draw(st.integers(2 if padding else 1, 5)), draw(st.integers(1, 3))
    weight = draw(arrays((rows, dim)))
    padding_idx = draw(st.integers(-rows, rows - 1)) if padding else None
    rows_picked = [r for r in range(rows) if pick_padding or r != padding_idx % rows]
    index_shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=4))
    indices = draw(hnp.arrays(np.intp, index_shape, elements=st.sampled_from(rows_picked)))
    return Inputs((weight,), {"indices": indices, "padding_idx": padding_idx})


def torch_embedding(w, indices, padding_idx):
    import torch
    return torch.nn.functional.embedding(torch.as_tensor(indices), w, padding_idx)


def fixed(*shapes, positive=False):
    make = positive_arrays if positive else arrays
    return st.tuples(*(make(s) for s in shapes))


# --------------------------------------------------------------------------- numpy and torch twins


def chunk_numpy(x, chunks, axis):
    """torch.chunk's rule: parts of ceil(n / chunks) elements, the last smaller."""
    size = -(-x.shape[axis] // chunks)
    return np.split(x, range(size, x.shape[axis], size), axis=axis)


def split_numpy(x, sizes, axis):
    if isinstance(sizes, int):
        sizes = [sizes] * (x.shape[axis] // sizes) + [x.shape[axis] % sizes] * bool(
            x.shape[axis] % sizes)
    return np.split(x, np.cumsum(sizes)[:-1], axis=axis)


def torch_basic_index(x, index):
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


def torch_index(x, index):
    import torch

    if isinstance(index, tuple):
        return x[tuple(torch.as_tensor(i) if isinstance(i, np.ndarray) else i for i in index)]
    return x[torch.as_tensor(index)]


def torch_cat(*xs, axis):
    import torch

    return torch.cat(xs, dim=axis)


def torch_stack(*xs, axis):
    import torch

    return torch.stack(xs, dim=axis)


def numpy_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def torch_sum(x, axis, keepdims):
    return x.sum() if axis is None and not keepdims else x.sum(dim=axis, keepdim=keepdims)


def torch_mean(x, axis, keepdims):
    return x.mean() if axis is None and not keepdims else x.mean(dim=axis, keepdim=keepdims)


def reversed_axes(x):
    return x.permute(tuple(reversed(range(x.ndim))))


# --------------------------------------------------------------------------- the table

BINARY = broadcastable_arrays(2)
OVER_POSITIVE = broadcastable_arrays(2, elements=[(-3.0, 3.0), (0.5, 3.0)])

CASES = [
    # arithmetic, with broadcasting
    OpCase("add", lambda x, y: x + y, BINARY, lambda x, y: x + y, np.add),
    OpCase("sub", lambda x, y: x - y, BINARY, lambda x, y: x - y, np.subtract),
    OpCase("mul", lambda x, y: x * y, BINARY, lambda x, y: x * y, np.multiply),
    OpCase("div", lambda x, y: x / y, OVER_POSITIVE, lambda x, y: x / y, np.divide),
    OpCase("div_negative_denominator", lambda x, y: x / y,
           broadcastable_arrays(2, elements=[(-3.0, 3.0), (-3.0, -0.5)]),
           lambda x, y: x / y, np.divide),
    OpCase("neg", lambda x: -x, arrays(), lambda x: -x, np.negative),
    OpCase("same_tensor_twice", lambda x: x * x + x, arrays(), lambda x: x * x + x,
           lambda x: x * x + x),
    # reflected operators: Python scalars and numpy arrays on either side
    OpCase("scalar_radd", lambda x: 1 + x, arrays(), lambda x: 1 + x, lambda x: 1 + x),
    OpCase("scalar_rsub", lambda x: 2.0 - x, arrays(), lambda x: 2.0 - x, lambda x: 2.0 - x),
    OpCase("scalar_rmul", lambda x: 3.0 * x, arrays(), lambda x: 3.0 * x, lambda x: 3.0 * x),
    OpCase("scalar_div", lambda x: x / 3, arrays(), lambda x: x / 3, lambda x: x / 3),
    OpCase("scalar_rdiv", lambda x: 2.0 / x, positive_arrays(), lambda x: 2.0 / x,
           lambda x: 2.0 / x),
    OpCase("array_add", lambda a, x: x + a.data, BINARY, lambda a, x: x + a, np.add,
           grad_inputs=(1,)),
    OpCase("array_rsub", lambda a, x: a.data - x, BINARY, lambda a, x: a - x, np.subtract,
           grad_inputs=(1,)),
    OpCase("array_rmul", lambda a, x: a.data * x, BINARY, lambda a, x: a * x, np.multiply,
           grad_inputs=(1,)),
    OpCase("array_rdiv", lambda a, y: a.data / y, OVER_POSITIVE, lambda a, y: a / y,
           np.divide, grad_inputs=(1,)),
    OpCase("array_rmatmul", lambda a, x: a.data @ x, broadcastable_arrays(signature=MATMUL),
           lambda a, x: a @ x, np.matmul, grad_inputs=(1,)),
    # pow with a number exponent
    OpCase("pow_2", lambda x: x ** 2, arrays(), lambda x: x ** 2, lambda x: x ** 2),
    OpCase("pow_3", lambda x: x ** 3, arrays(), lambda x: x ** 3, lambda x: x ** 3),
    OpCase("pow_half", lambda x: x ** 0.5, positive_arrays(), lambda x: x ** 0.5, np.sqrt),
    OpCase("pow_minus_1", lambda x: x ** -1, arrays(avoid_zero=0.5), lambda x: x ** -1,
           lambda x: 1 / x),
    OpCase("pow_int_exponent_negative_base", lambda x: x ** 4, arrays(), lambda x: x ** 4,
           lambda x: x ** 4),
    OpCase("sqrt", lambda x: x.sqrt(), positive_arrays(), lambda x: x.sqrt(), np.sqrt),
    # matmul: every rank, and batch axes that broadcast
    OpCase("matmul", lambda x, y: x @ y, broadcastable_arrays(signature=MATMUL),
           lambda x, y: x @ y, np.matmul),
    OpCase("matmul_1d_1d", lambda x, y: x @ y, fixed((4,), (4,)), lambda x, y: x @ y, np.matmul),
    OpCase("matmul_1d_2d", lambda x, y: x @ y, fixed((3,), (3, 4)), lambda x, y: x @ y,
           np.matmul),
    OpCase("matmul_2d_1d", lambda x, y: x @ y, fixed((2, 3), (3,)), lambda x, y: x @ y,
           np.matmul),
    OpCase("matmul_2d_2d", lambda x, y: x @ y, fixed((2, 3), (3, 4)), lambda x, y: x @ y,
           np.matmul),
    OpCase("matmul_batch_broadcast", lambda x, y: x @ y, fixed((5, 1, 3, 4), (2, 4, 6)),
           lambda x, y: x @ y, np.matmul),
    OpCase("matmul_1d_batched", lambda x, y: x @ y, fixed((4,), (2, 4, 3)), lambda x, y: x @ y,
           np.matmul),
    OpCase("matmul_batched_2d", lambda x, y: x @ y, fixed((2, 1, 3, 4), (4, 5)),
           lambda x, y: x @ y, np.matmul),
    OpCase("matmul_batched_1d", lambda x, y: x @ y, fixed((2, 3, 4), (4,)), lambda x, y: x @ y,
           np.matmul),
    OpCase("embedding", lambda w, indices, padding_idx: tr.functional.embedding(
        indices, w, padding_idx), embedding_inputs(padding=False), torch_embedding,
        lambda w, indices, padding_idx: w[indices]),
    # (the padding row is read, but gets no gradient: finite differences would disagree
    # by design where it is picked, so here it is not; see EMBEDDING_PADDING_PICKED)
    OpCase("embedding_padding_idx", lambda w, indices, padding_idx: tr.functional.embedding(
        indices, w, padding_idx), embedding_inputs(padding=True, pick_padding=False),
        torch_embedding, lambda w, indices, padding_idx: w[indices]),
    OpCase("addmm", tr.addmm, addmm_inputs(), lambda b, x, y: b.addmm(x, y),
           lambda b, x, y: b + x @ y),
    OpCase("addmm_method", lambda b, x, y: b.addmm(x, y), fixed((3,), (2, 4), (4, 3)),
           lambda b, x, y: b.addmm(x, y), lambda b, x, y: b + x @ y),
    OpCase("addcmul", tr.addcmul, broadcastable_arrays(3), torch_addcmul,
           lambda a, b, c: a + b * c),
    OpCase("addcmul_value", lambda a, b, c, value: tr.addcmul(a, b, c, value=value),
           scaled(broadcastable_arrays(3)), torch_addcmul,
           lambda a, b, c, value: a + value * b * c),
    OpCase("addcmul_method", lambda a, b, c: a.addcmul(b, c), fixed((2, 3), (3,), (2, 1)),
           torch_addcmul, lambda a, b, c: a + b * c),
    OpCase("lerp", tr.lerp, broadcastable_arrays(3), torch_lerp,
           lambda a, b, w: a + w * (b - a)),
    OpCase("lerp_number_weight", lambda a, b, weight: a.lerp(b, weight),
           scaled(broadcastable_arrays(2), "weight"), torch_lerp,
           lambda a, b, weight: a + weight * (b - a)),
    OpCase("linear", tr.functional.linear, linear_inputs(bias=True), torch_linear,
           lambda x, w, b: x @ w.T + b),
    OpCase("linear_no_bias", tr.functional.linear, linear_inputs(bias=False), torch_linear,
           lambda x, w: x @ w.T),
    # elementwise functions
    OpCase("exp", lambda x: x.exp(), arrays(), lambda x: x.exp(), np.exp),
    OpCase("log", lambda x: x.log(), positive_arrays(), lambda x: x.log(), np.log),
    OpCase("tanh", lambda x: x.tanh(), arrays(), lambda x: x.tanh(), np.tanh),
    OpCase("sigmoid", lambda x: x.sigmoid(), arrays(elements=(-8.0, 8.0)),
           lambda x: x.sigmoid(), numpy_sigmoid),
    OpCase("relu", lambda x: x.relu(), arrays(avoid_zero=0.1), lambda x: x.relu(),
           lambda x: np.maximum(x, 0)),
    # reductions: sum by torch's positions (dim, keepdim), mean by numpy's names
    OpCase("sum", lambda x, axis, keepdims: x.sum(axis, keepdims), reduction(), torch_sum,
           lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims)),
    OpCase("mean", lambda x, axis, keepdims: x.mean(axis=axis, keepdims=keepdims), reduction(),
           torch_mean, lambda x, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims)),
    OpCase("sum_default", lambda x: x.sum(), arrays(), lambda x: x.sum(), np.sum),
    OpCase("mean_default", lambda x: x.mean(), arrays(), lambda x: x.mean(), np.mean),
    # shape
    OpCase("reshape", lambda x, shape: x.reshape(shape), reshaped(),
           lambda x, shape: x.reshape(shape), lambda x, shape: x.reshape(shape)),
    OpCase("reshape_varargs", lambda x, shape: x.reshape(*shape), reshaped(),
           lambda x, shape: x.reshape(shape), lambda x, shape: x.reshape(shape)),
    OpCase("transpose_reverse", lambda x: x.transpose(), arrays(), reversed_axes, np.transpose),
    OpCase("T", lambda x: x.T, arrays(), reversed_axes, lambda x: x.T),
    OpCase("transpose_swap", lambda x, a, b: x.transpose(a, b), two_axes(),
           lambda x, a, b: x.transpose(a, b), lambda x, a, b: np.swapaxes(x, a, b)),
    OpCase("transpose_swap_3d", lambda x, a, b: x.transpose(a, b),
           two_axes(min_dims=3), lambda x, a, b: x.transpose(a, b),
           lambda x, a, b: np.swapaxes(x, a, b)),
    OpCase("transpose_permutation", lambda x, axes: x.transpose(axes),
           permutation().filter(lambda e: len(e.params["axes"]) != 2),
           lambda x, axes: x.permute(*axes), lambda x, axes: np.transpose(x, axes)),
    OpCase("permute", lambda x, axes: x.permute(*axes), permutation(),
           lambda x, axes: x.permute(*axes), lambda x, axes: np.transpose(x, axes)),
    OpCase("getitem_basic", lambda x, index: x[index], basic_index(), torch_basic_index,
           lambda x, index: x[index]),
    OpCase("getitem_int_array", lambda x, index: x[index], array_index(), torch_index,
           lambda x, index: x[index]),
    OpCase("getitem_slice_and_int_array", lambda x, index: x[index],
           array_index(leading_slice=True), torch_index, lambda x, index: x[index]),
    OpCase("concat", lambda *xs, axis: tr.concat(xs, dim=axis), to_concat(),
           torch_cat,
           lambda *xs, axis: np.concatenate(xs, axis=axis)),
    OpCase("stack", lambda *xs, axis: tr.stack(xs, dim=axis), to_concat(new_axis=True),
           torch_stack,
           lambda *xs, axis: np.stack(xs, axis=axis)),
    OpCase("chunk", lambda x, chunks, axis: x.chunk(chunks, axis), chunked(),
           lambda x, chunks, axis: x.chunk(chunks, dim=axis), chunk_numpy),
    OpCase("chunk_5_into_3", lambda x: x.chunk(3, dim=0), arrays((5, 2)),
           lambda x: x.chunk(3, dim=0), lambda x: [x[0:2], x[2:4], x[4:5]]),
    OpCase("chunk_6_into_4", lambda x: x.chunk(4, dim=-1), arrays((2, 6)),
           lambda x: x.chunk(4, dim=-1), lambda x: [x[:, 0:2], x[:, 2:4], x[:, 4:6]]),
    OpCase("split_int", lambda x, sizes, axis: x.split(sizes, axis), split_sizes(as_list=False),
           lambda x, sizes, axis: x.split(sizes, dim=axis), split_numpy),
    OpCase("split_list", lambda x, sizes, axis: x.split(sizes, axis), split_sizes(as_list=True),
           lambda x, sizes, axis: x.split(sizes, dim=axis), split_numpy),
    OpCase("unbind", lambda x, axis: x.unbind(axis), one_axis(),
           lambda x, axis: x.unbind(dim=axis), lambda x, axis: list(np.moveaxis(x, axis, 0))),
    OpCase("split_then_use_one_part", lambda x: x.split(1, dim=0)[1] * 2.0, arrays((3, 2)),
           lambda x: x.split(1, dim=0)[1] * 2.0, lambda x: x[1:2] * 2.0),
]

IDS = [case.name for case in CASES]


# --------------------------------------------------------------------------- four tests per row


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradients_match_finite_differences(case):
    run_check(case, check_gradients)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_matches_numpy(case):
    run_check(case, check_forward)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_values_and_gradients_match_torch(case):
    pytest.importorskip("torch")
    run_check(case, check_torch)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_inputs_are_not_mutated(case):
    run_check(case, check_no_mutation)


@pytest.mark.parametrize("case", [c.with_dtype(np.float32) for c in CASES],
                         ids=[f"{name}-float32" for name in IDS])
def test_float32_stays_float32(case):
    run_check(case, check_dtype)


# --------------------------------------------------------------------------- the rules, stated once


EMBEDDING_PADDING_PICKED = OpCase(
    "embedding_padding_picked", lambda w, indices, padding_idx: tr.functional.embedding(
        indices, w, padding_idx), embedding_inputs(padding=True), torch_embedding,
    lambda w, indices, padding_idx: w[indices])


@pytest.mark.parametrize("check", ["forward", "torch", "no_mutation", "dtype"])
def test_embedding_reads_the_padding_row_but_gives_it_no_gradient_as_torch(check):
    if check == "torch":
        pytest.importorskip("torch")
    run_check(EMBEDDING_PADDING_PICKED, check)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_mean_is_numpys_mean_to_the_bit(dtype):
    # the op divides a sum itself; float16 must still be summed in float32, as numpy does
    x = Tensor((np.random.default_rng(0).standard_normal((7, 300)) * 10).astype(dtype))
    for axis in (None, 0, 1, (0, 1)):
        for keepdims in (False, True):
            out = x.mean(axis=axis, keepdims=keepdims)
            assert out.dtype == dtype
            np.testing.assert_array_equal(out.data, np.mean(x.data, axis=axis, keepdims=keepdims))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("n", [3, 70_000])  # 70,000 is more than float16 can hold
def test_the_gradient_of_a_mean_is_one_over_n_rounded_once(dtype, n):
    x = Tensor(np.ones(n, dtype=dtype), requires_grad=True)
    x.mean().backward()
    assert x.grad.dtype == dtype and x.grad[0] != 0
    np.testing.assert_array_equal(x.grad, np.full(n, 1 / n).astype(dtype))


def test_chunk_follows_torch_when_sizes_do_not_divide():
    x = Tensor(np.arange(5.0))
    assert [part.shape for part in x.chunk(3)] == [(2,), (2,), (1,)]
    # ceil(6 / 4) = 2 elements per part, so only three parts, as torch.chunk gives
    assert [part.shape for part in Tensor(np.arange(6.0)).chunk(4)] == [(2,), (2,), (2,)]


def test_repeated_indices_add_their_gradients():
    x = Tensor(np.zeros(3), requires_grad=True)
    x[np.array([0, 2, 0, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 0.0, 1.0])


def test_permute_with_negative_axes_inverts_in_backward():
    # regression: backward used argsort of the negative axes as given
    x = Tensor(np.random.default_rng(0).standard_normal((2, 3, 4)), requires_grad=True)
    out = x.permute(-1, 0, 1)
    assert out.shape == (4, 2, 3)
    v = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(v)
    np.testing.assert_array_equal(x.grad, np.transpose(v, (1, 2, 0)))


@pytest.mark.parametrize("axes", [(0, 1), (1, 0), (-2, -1), (-1, -2)])
def test_two_axes_swap_a_matrix_as_torch_does(axes):
    # regression: transpose(0, 1) of a matrix was read as the identity permutation
    w = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(Tensor(w).transpose(*axes).data, w.T)


# --------------------------------------------------------------------------- the factory can fail


class _SoftsignWrongBackward(Softsign):
    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (1 + np.abs(x))  # the square forgotten


class _InPlaceTanh(tr.Function):
    @staticmethod
    def forward(ctx, x):
        np.tanh(x, out=x)  # writes into the caller's array
        ctx.save_for_backward(x)
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (1 - out * out)


def _softsign_case(fn, numpy_fn=lambda x: x / (1 + np.abs(x))):
    return OpCase("softsign", fn, arrays(min_dims=1), lambda x: x / (1 + x.abs()), numpy_fn)


def _torch_installed():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def test_factory_passes_a_correct_op():
    checks = [name for name in CHECKS if name != "torch" or _torch_installed()]
    check_op(_softsign_case(Softsign.apply), checks=checks)


def test_op_test_returns_a_test_pytest_collects():
    test = op_test(_softsign_case(Softsign.apply))
    assert test.__name__ == "test_softsign"
    test()


def test_gradient_check_catches_a_wrong_backward():
    with pytest.raises(tr.GradcheckError):
        run_check(_softsign_case(_SoftsignWrongBackward.apply), check_gradients)


def test_torch_check_catches_a_wrong_backward():
    pytest.importorskip("torch")
    with pytest.raises(AssertionError, match="gradient of input 0"):
        run_check(_softsign_case(_SoftsignWrongBackward.apply), check_torch)


def test_forward_check_catches_a_wrong_forward():
    with pytest.raises(AssertionError):
        run_check(_softsign_case(Softsign.apply, numpy_fn=np.tanh), check_forward)


def test_mutation_check_catches_an_op_writing_into_its_input():
    case = OpCase("inplace_tanh", _InPlaceTanh.apply, arrays(min_dims=1, elements=(0.5, 3.0)))
    with pytest.raises(AssertionError, match="forward wrote into input 0"):
        run_check(case, check_no_mutation)


def test_dtype_check_catches_an_upcast():
    case = OpCase("upcast", lambda x: x * np.ones(1), arrays(dtype=np.float32))
    with pytest.raises(AssertionError, match="output 0 is float64"):
        run_check(case, check_dtype)


@given(arrays(avoid_zero=0.25))
def test_avoid_zero_keeps_elements_off_zero(x):
    assert np.all(np.abs(x) >= 0.25)


@given(broadcastable_arrays(3, elements=[(-1.0, 1.0), (0.5, 3.0), (-3.0, -0.5)]))
def test_broadcastable_arrays_broadcast_and_keep_their_bounds(xs):
    np.broadcast_shapes(*(x.shape for x in xs))  # raises if they do not broadcast
    assert np.all(np.abs(xs[0]) <= 1) and np.all(xs[1] >= 0.5) and np.all(xs[2] <= -0.5)


def test_split_sizes_that_only_multiply_out_are_not_taken_for_equal_parts():
    # [1, 0, 2] adds up to 3 = 1 * 3: equal parts of size 1 would be wrong (found by Hypothesis)
    x = Tensor(np.arange(6.0).reshape(2, 3))
    parts = x.split([1, 0, 2], dim=1)
    assert [p.shape for p in parts] == [(2, 1), (2, 0), (2, 2)]
    np.testing.assert_array_equal(parts[2].data, [[1.0, 2.0], [4.0, 5.0]])


# --------------------------------------------------------------------------- casts
# (not OpCase rows: a cast changes the dtype, which the float32 row forbids, and finite
# differences through a float32 rounding mean nothing; the derivative is exact instead)

CASTS = [("to", lambda x, dtype: x.to(dtype)),
         ("float_or_double", lambda x, dtype: x.float() if dtype == np.float32 else x.double())]


@pytest.mark.parametrize("name, cast", CASTS, ids=[n for n, _ in CASTS])
@given(x=arrays(), down=st.booleans())
def test_a_cast_converts_values_and_sends_gradients_back_in_the_input_dtype(name, cast, x, down):
    source, target = (np.float64, np.float32) if down else (np.float32, np.float64)
    t = Tensor(x.astype(source), requires_grad=True)
    out = cast(t, target)
    assert out.dtype == target
    np.testing.assert_array_equal(out.data, x.astype(source).astype(target))
    g = np.random.default_rng(0).standard_normal(x.shape).astype(target)
    out.backward(g)
    assert t.grad.dtype == source
    np.testing.assert_array_equal(t.grad, g.astype(source))  # d(cast)/dx is 1, exactly


@given(x=arrays())
def test_a_cast_matches_torch(x):
    torch = pytest.importorskip("torch")
    t, tt = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, tout = t.float() * 3.0, tt.float() * 3.0
    g = np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
    out.backward(g)
    tout.backward(torch.tensor(g))
    np.testing.assert_array_equal(out.data, tout.detach().numpy())
    np.testing.assert_array_equal(t.grad, tt.grad.numpy())


def test_a_cast_to_the_same_dtype_shares_memory_and_an_integer_dtype_is_refused():
    t = Tensor(np.ones(3), requires_grad=True)
    assert np.shares_memory(t.to("float64").data, t.data)
    with pytest.raises(TypeError, match="to: only floating dtypes"):
        t.to(np.int64)
