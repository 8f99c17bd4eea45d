"""The elementwise ops of issue 15 where the op table's random inputs stay away: kinks,
ties, nan, zero bases, boolean outputs and masks, and the doors' refusals.

The rows of tinygrad_rnn/op_cases.py check every op on random inputs (gradients by
finite differences, values and gradients against torch). Here each convention at a
point where finite differences say nothing (abs at 0, clamp at its bounds, a tie of
maximum, 0 ** y) is checked against torch itself, and the boolean side: comparisons
make boolean tensors without gradient, ``where`` and ``masked_fill`` take them,
tensors stay hashable.
"""

import re
import warnings

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor

torch = pytest.importorskip("torch")

NAN, INF = float("nan"), float("inf")


def values_and_gradients(fn, *arrays, upstream_seed=0):
    """fn on our tensors and on torch's (float64, all requiring grad): the outputs and the
    gradients of sum(v * out) for one random v, ours then torch's."""
    ours = [Tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in arrays]
    out, out_t = fn(*ours), fn(*theirs)
    v = np.random.default_rng(upstream_seed).uniform(0.5, 1.5, out.shape)
    out.backward(v)
    out_t.backward(torch.tensor(v))
    grads = [np.zeros(t.shape) if t.grad is None else t.grad for t in ours]
    grads_t = [np.zeros(t.shape) if t.grad is None else t.grad.numpy() for t in theirs]
    return (out.data, grads), (out_t.detach().numpy(), grads_t)


def assert_as_torch(fn, *arrays):
    (out, grads), (out_t, grads_t) = values_and_gradients(fn, *arrays)
    np.testing.assert_allclose(out, out_t, rtol=1e-12, atol=0)  # (nan equals nan here)
    for k, (g, g_t) in enumerate(zip(grads, grads_t)):
        np.testing.assert_allclose(g, g_t, rtol=1e-12, atol=0, err_msg=f"gradient of input {k}")


# --------------------------------------------------------------------------- kinks and ties

SPECIAL = [-2.0, -1.0, -0.0, 0.0, 1.0, 2.0, NAN, INF, -INF]


def test_abs_and_sign_at_zero_and_nan_as_torch():
    assert_as_torch(lambda x: x.abs(), SPECIAL[:-2])  # (the gradient at inf: grad * 1)
    assert_as_torch(lambda x: x.sign(), SPECIAL)
    np.testing.assert_array_equal(Tensor([NAN, 0.0, -0.0]).sign().data, [0.0, 0.0, 0.0])


def test_sign_requires_grad_as_torch_and_gives_a_zero_gradient():
    x = Tensor([-1.5, 0.0, 2.0], requires_grad=True)
    s = x.sign()
    assert s.requires_grad and s.grad_fn is tr.ops.Sign
    (s * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])


def test_python_abs_is_the_op():
    x = Tensor([-1.5, 2.0], requires_grad=True)
    assert abs(x).grad_fn is tr.ops.Abs


@pytest.mark.parametrize("low, high", [(-1.0, 1.0), (1.0, -1.0), (0.0, 0.0), (None, 0.0),
                                       (0.0, None), (NAN, 1.0), (-1.0, NAN)])
def test_clamp_at_its_bounds_as_torch(low, high):
    x = [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, NAN]
    assert_as_torch(lambda t: t.clamp(low, high), x)
    assert_as_torch(lambda t: t.clip(min=low, max=high), x)


def test_clamp_with_tensor_bounds_at_the_bounds_and_crossed_as_torch():
    x = [-2.0, -1.0, 0.0, 1.0, 2.0, 0.5, NAN, 3.0]
    low = [-1.0, -1.0, 0.0, 1.0, 3.0, 0.5, 0.0, 4.0]  # ties, and low > high at the end
    high = [1.0, 1.0, 0.0, 1.0, 2.0, 0.5, 1.0, -4.0]
    assert_as_torch(lambda t, lo, hi: t.clamp(lo, hi), x, low, high)
    assert_as_torch(lambda t, lo: t.clamp(min=lo), x, low)
    assert_as_torch(lambda t, hi: t.clamp(max=hi), x, high)


def test_clamp_with_a_tensor_and_a_number_bound():
    x = Tensor([-2.0, 0.0, 2.0], requires_grad=True)
    low = Tensor([-1.0, 0.5, -1.0], requires_grad=True)
    tr.clamp(x, low, 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])  # below, below, above
    np.testing.assert_array_equal(low.grad, [1.0, 1.0, 0.0])


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_and_minimum_split_ties_and_pass_nan_as_torch(name):
    x = [1.0, 2.0, 3.0, 0.0, -0.0, NAN, 1.0, NAN]
    y = [1.0, 3.0, 2.0, -0.0, 0.0, 1.0, NAN, NAN]
    assert_as_torch(lambda a, b: getattr(a, name)(b), x, y)
    assert_as_torch(lambda a, b: getattr(a, name)(b), [[1.0], [2.0]], [1.0, 2.0, 3.0])
    fn = getattr(tr, name)
    assert_as_torch(lambda a, b: fn(a, b) if isinstance(a, Tensor) else getattr(torch, name)(
        a, b), [[0.5, 1.0]], [1.0])


def test_a_tie_of_maximum_halves_the_gradient():
    x = Tensor([2.0], requires_grad=True)
    y = Tensor([2.0], requires_grad=True)
    x.maximum(y).backward(np.array([1.0]))
    assert x.grad[0] == 0.5 and y.grad[0] == 0.5


# --------------------------------------------------------------------------- tensor exponents

BASES = [0.0, 0.0, 0.0, 0.0, -2.0, -2.0, 2.0, 1.0]
EXPONENTS = [0.0, 2.0, 0.5, -1.0, 2.0, 0.5, -1.5, 0.0]


# (the forward warns at 0 ** -1 and (-2) ** 0.5 as numpy's power does; torch does not)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_pow_with_tensor_exponent_at_zero_and_negative_bases_as_torch():
    assert_as_torch(lambda x, y: x ** y, BASES, EXPONENTS)
    assert_as_torch(lambda x, y: x.pow(y), [[0.0], [3.0]], [0.0, -1.0, 2.0])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("base", [2, 0.0, -2.0, 0.5, 1])
def test_a_number_raised_to_a_tensor_as_torch(base):
    assert_as_torch(lambda y: base ** y, [-1.0, 0.0, 0.5, 2.0])


def test_the_backward_of_a_tensor_power_does_not_warn():
    x = Tensor(np.array(BASES), requires_grad=True)
    y = Tensor(np.array(EXPONENTS), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (the forward warns as numpy's power does)
        out = x ** y
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out.sum().backward()


def test_a_float32_tensor_raised_to_a_number_or_tensor_stays_float32():
    x = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    for out in (2 ** x, x ** x, x ** Tensor(np.float32(2.0))):
        assert out.dtype == np.float32
        out.sum().backward()
        assert x.grad.dtype == np.float32


def test_sqrt_and_rsqrt_at_zero_as_torch():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (1 / 0 and 0 ** -0.5 warn in numpy)
        assert_as_torch(lambda x: x.sqrt(), [0.0, 4.0])
        assert_as_torch(lambda x: x.rsqrt(), [0.0, 4.0])


# --------------------------------------------------------------------------- comparisons


COMPARISONS = {
    "<": lambda x, y: x < y, "<=": lambda x, y: x <= y, ">": lambda x, y: x > y,
    ">=": lambda x, y: x >= y, "==": lambda x, y: x == y, "!=": lambda x, y: x != y,
    "lt": lambda x, y: x.lt(y), "le": lambda x, y: x.le(y), "gt": lambda x, y: x.gt(y),
    "ge": lambda x, y: x.ge(y), "eq": lambda x, y: x.eq(y), "ne": lambda x, y: x.ne(y),
}


@pytest.mark.parametrize("name", COMPARISONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_comparison_is_a_boolean_leaf_without_gradient_as_torch(name, dtype):
    compare = COMPARISONS[name]
    x = np.array([[1.0, 2.0, NAN], [0.0, -1.0, 3.0]], dtype=dtype)
    y = np.array([1.0, 3.0, NAN], dtype=dtype)
    out = compare(Tensor(x, requires_grad=True), Tensor(y, requires_grad=True))
    expected = compare(torch.tensor(x, requires_grad=True), torch.tensor(y))
    assert out.dtype == np.bool_ and not out.requires_grad and out.is_leaf
    assert out.grad_fn is None and not expected.requires_grad
    np.testing.assert_array_equal(out.data, expected.numpy())


@pytest.mark.parametrize("name", ["<", "<=", ">", ">=", "==", "!="])
def test_numbers_and_arrays_compare_on_either_side(name):
    compare = COMPARISONS[name]
    x = Tensor([0.0, 0.5, 1.0])
    for other in (0.5, np.float32(0.5), np.array([0.0, 1.0, 1.0])):
        expected = compare(x.data, other)
        np.testing.assert_array_equal(compare(x, other).data, expected)
        flipped = compare(other, x)  # Python's reflected operator, or numpy deferring to it
        assert isinstance(flipped, Tensor)
        np.testing.assert_array_equal(flipped.data, compare(other, x.data))


def test_a_float32_tensor_compares_to_a_number_in_float32_as_torch():
    x = np.array([0.1, 0.2], dtype=np.float32)
    np.testing.assert_array_equal((Tensor(x) == 0.1).data, (torch.tensor(x) == 0.1).numpy())
    np.testing.assert_array_equal((Tensor(x) > 0.1).data, (torch.tensor(x) > 0.1).numpy())


def test_tensors_stay_hashable_by_identity_and_equal_only_to_tensors_and_numbers():
    a, b = Tensor([1.0, 2.0]), Tensor([1.0, 2.0])
    table = {a: "a", b: "b"}
    assert table[a] == "a" and table[b] == "b" and len({a, b, a}) == 2
    assert a in [a] and a in (a, b)  # (the same tensor, by identity first)
    assert (a == None) is False and (a != None) is True  # noqa: E711  (the operators)
    assert (a == "a") is False and a != "a"


def test_truth_of_a_tensor_as_torch():
    assert bool(Tensor([2.0]) > 1.0) and not Tensor(0.0) and Tensor([[1.0]])
    with pytest.raises(RuntimeError, match=r"bool\(\): .*shape \(2,\) is ambiguous"):
        bool(Tensor([1.0, 2.0]) == Tensor([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="ambiguous"):
        Tensor([1.0, 2.0]) in [Tensor([1.0, 2.0])]  # noqa: B015  (torch refuses it too)


@pytest.mark.parametrize("method", ["lt", "le", "gt", "ge", "eq", "ne"])
def test_a_comparison_method_refuses_what_it_cannot_compare(method):
    with pytest.raises(TypeError, match=rf"^{method}: other must be a Tensor, a real number "
                                        r"or a numeric array, got 'a'"):
        getattr(Tensor([1.0]), method)("a")
    with pytest.raises(TypeError, match="not supported between instances of 'Tensor' and 'str'"):
        Tensor([1.0]) < "a"  # noqa: B015


def test_comparing_shapes_that_do_not_broadcast_names_the_op():
    with pytest.raises(tr.ShapeError, match=r"^gt: shapes \(2,\) and \(3,\) cannot be broadcast"):
        Tensor([1.0, 2.0]) > Tensor([1.0, 2.0, 3.0])  # noqa: B015


def test_a_boolean_tensor_mixes_with_numbers_as_a_number_would():
    mask = Tensor([1.0, -1.0]) > 0
    np.testing.assert_array_equal((mask + 0.5).data, [1.5, 0.5])  # (not True + True)
    np.testing.assert_array_equal((mask * Tensor([3.0, 4.0])).data, [3.0, 0.0])
    np.testing.assert_array_equal(mask.double().data, [1.0, 0.0])


# --------------------------------------------------------------------------- where, masked_fill


@pytest.mark.parametrize("condition", [
    lambda c: c > 0,                         # a boolean tensor
    lambda c: (c > 0).numpy(),               # a numpy bool array (torch: a bool tensor)
])
def test_where_as_torch_with_broadcasting(condition):
    c = [[1.0, -1.0, 0.0], [-2.0, 2.0, 0.5]]
    cond = torch.tensor(c) > 0

    def fn(x, y):
        if isinstance(x, Tensor):
            return tr.where(condition(Tensor(c)), x, y)
        return torch.where(cond, x, y)

    assert_as_torch(fn, [1.0, 2.0, 3.0], [[4.0], [5.0]])


def test_where_with_numbers_keeps_the_tensor_dtype():
    x = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    out = tr.where(x > 1.5, x, 0.0)
    assert out.dtype == np.float32 and tr.where(x > 1.5, -1, x).dtype == np.float32
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0])
    np.testing.assert_array_equal(tr.where(np.array([True, False]), 1.0, 2.0).data, [1.0, 2.0])
    np.testing.assert_array_equal(x.where(x < 1.5, 9.0).data, [1.0, 9.0])


@pytest.mark.parametrize("condition, fragment", [
    (Tensor([1.0, 0.0]), "got a Tensor of dtype float64; compare it to make one"),
    (np.array([1.0, 0.0]), "got a numpy array of dtype float64"),
    ([True, False], "got [True, False] (list)"),
    (None, "got None"),
])
def test_where_and_masked_fill_refuse_a_condition_that_is_not_boolean(condition, fragment):
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError) as info:
        tr.where(condition, x, 0.0)
    message = str(info.value)
    assert message.startswith("where: condition must be a boolean tensor") and fragment in message
    with pytest.raises(TypeError, match="^masked_fill: mask must be a boolean tensor"):
        x.masked_fill(condition, 0.0)
    assert x.grad is None


def test_masked_fill_as_torch_with_a_number_and_a_0d_tensor_value():
    x = [[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]]
    assert_as_torch(lambda t: t.masked_fill(t < 0, 0.25), x)
    assert_as_torch(lambda t, v: t.masked_fill(t > 0, v), x, 7.0)  # v gets the filled grads
    assert_as_torch(lambda t: t.masked_fill(t[0] > 0, -1.0), x)      # a mask that broadcasts


def test_masked_fill_keeps_the_tensors_dtype_and_refuses_a_value_with_dimensions():
    x = Tensor(np.array([1.0, -1.0], dtype=np.float32))
    assert x.masked_fill(x < 0, Tensor(0.5)).dtype == np.float32
    with pytest.raises(ValueError, match=r"^masked_fill: value must be a number or a 0-d tensor, "
                                         r"got a tensor of shape \(2,\)"):
        x.masked_fill(x < 0, Tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="^masked_fill: value must be a number or a 0-d tensor"):
        x.masked_fill(x < 0, "0")


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("call, fragment", [
    (lambda x: tr.where(x > 0, "a", x), "where: input must be a Tensor, a real number or a "
                                        "numeric array, got 'a'"),
    (lambda x: tr.where(x > 0, x, None), "where: other must be"),
    (lambda x: x.where(x > 0, [1, "b"]), "where: other must be"),
    (lambda x: x.maximum("a"), "maximum: other must be"),
    (lambda x: tr.minimum(None, x), "minimum: input must be"),
])
def test_where_maximum_and_minimum_name_an_operand_that_is_not_numeric(call, fragment):
    with pytest.raises(TypeError, match="^" + re.escape(fragment)):
        call(Tensor([1.0, -1.0], requires_grad=True))


def test_clamp_needs_a_bound_and_names_a_bad_one():
    x = Tensor([1.0, 2.0])
    with pytest.raises(ValueError, match="^clamp: at least one of min and max must be given"):
        x.clamp()
    with pytest.raises(ValueError, match="^clip: at least one"):
        x.clip()
    with pytest.raises(TypeError, match=r"^clamp: max must be a number, a Tensor or None, "
                                        r"got '1'"):
        x.clamp(0.0, "1")
    with pytest.raises(TypeError, match="^clamp: input must be a Tensor"):
        tr.clamp([1.0], 0.0)


def test_setting_items_is_refused_and_points_to_the_ops_that_make_a_new_tensor():
    x = Tensor([1.0, 2.0, 3.0])
    with pytest.raises(TypeError) as info:
        x[0] = 5.0
    message = str(info.value)
    for way in ("masked_fill", "tr.where", "tr.concat"):
        assert way in message
    np.testing.assert_array_equal(x.data, [1.0, 2.0, 3.0])


# --------------------------------------------------------------------------- in a scanned step


def test_a_scanned_step_with_comparisons_and_where_matches_op_by_op():
    rng = np.random.default_rng(0)
    xs = Tensor(rng.standard_normal((5, 2, 3)))
    w = Tensor(rng.standard_normal((3, 3)), requires_grad=True)

    def step(x, h):  # an IndRNN-like step with a ReLU made of a comparison and where
        pre = x + h @ w
        return tr.where(pre > 0, pre, pre * 0.1).clamp(-2.0, 2.0).maximum(h * 0.5),

    def run(replayed):
        w.grad = None
        h0 = Tensor(np.full((2, 3), 0.3), requires_grad=True)
        if replayed:
            out, _ = tr.replay.scan(step, [xs], [h0], fixed=[w])
        else:
            with tr.replay.disabled():
                out, _ = tr.replay.scan(step, [xs], [h0], fixed=[w])
        out.backward(np.cos(np.arange(out.size)).reshape(out.shape))
        return out, h0.grad, w.grad

    scanned, dh_scanned, dw_scanned = run(True)
    looped, dh_looped, dw_looped = run(False)
    assert scanned.grad_fn.__name__ == "stepScan"  # one node: the step was replayed
    assert looped.grad_fn is tr.ops.Stack  # op by op
    np.testing.assert_array_equal(scanned.data, looped.data)
    np.testing.assert_array_equal(dh_scanned, dh_looped)
    np.testing.assert_allclose(dw_scanned, dw_looped, rtol=1e-12)
