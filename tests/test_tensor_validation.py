"""Tensor's door: what data, dtype and flags it takes; ``**`` exponents; what concat and
stack are given. Refusals are ours (named, one sentence, no numpy message chained)."""

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor


def assert_ours(err: BaseException, where: str) -> str:
    message = str(err)
    assert message.startswith(f"{where}:"), message
    assert err.__cause__ is None
    assert err.__context__ is None or err.__suppress_context__
    return message


# --------------------------------------------------------------------------- Tensor data

_DATA = "data must be a number, a (nested) list of numbers or a numeric numpy array"


@pytest.mark.parametrize("call, error, fragments", [
    (lambda: Tensor([[1, 2], [3]]), ValueError, [_DATA, "ragged", "[[1, 2], [3]]"]),
    (lambda: Tensor([[1.0], [2.0, 3.0]], dtype=np.float32), ValueError, ["ragged"]),
    (lambda: Tensor(None), TypeError, [_DATA, "got None"]),
    (lambda: Tensor(None, dtype=np.float32), TypeError, [_DATA, "got None"]),  # was nan
    (lambda: Tensor("abc"), TypeError, [_DATA, "got 'abc'"]),
    (lambda: Tensor(["1"]), TypeError, [_DATA, "['1']", "strings"]),
    (lambda: Tensor(["1"], dtype=np.float32), TypeError, ["strings"]),  # numpy parses it
    (lambda: Tensor(b"12"), TypeError, [_DATA]),
    (lambda: Tensor({"a": 1.0}), TypeError, [_DATA, "(dict)"]),
    (lambda: Tensor({1.0, 2.0}), TypeError, [_DATA, "(set)"]),
    (lambda: Tensor(1 + 2j), TypeError, ["complex tensors are not supported"]),
    (lambda: Tensor([1j], dtype=np.float32), TypeError, ["complex tensors are not supported"]),
    (lambda: Tensor(np.ones(2, dtype=np.complex64)), TypeError, ["complex"]),
    (lambda: Tensor([object()]), TypeError, [_DATA, "Python objects"]),
    (lambda: Tensor([2 ** 70]), TypeError, ["too large for int64"]),
    (lambda: Tensor(np.array(["2020-01-01"], dtype="datetime64[D]")), TypeError, ["dates"]),
    (lambda: Tensor([Tensor(1.0), Tensor(2.0)]), TypeError, ["holding Tensors", "tr.stack"]),
    (lambda: Tensor(x for x in [1.0]), TypeError, [_DATA, "(generator)"]),
])
def test_data_a_tensor_cannot_hold_is_refused(call, error, fragments):
    with pytest.raises(error) as info:
        call()
    message = assert_ours(info.value, "Tensor")
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize("dtype, fragment", [
    (object, "got object"),
    (str, "got <U"),
    ("U3", "got <U3"),
    (np.complex64, "got complex64"),
    ("datetime64[s]", "got datetime64[s]"),
    ("junk", "got 'junk'"),
    ([1, 2], "got [1, 2]"),
])
def test_a_non_numeric_dtype_is_refused(dtype, fragment):
    with pytest.raises(TypeError) as info:
        Tensor([1.0, 2.0], dtype=dtype)
    message = assert_ours(info.value, "Tensor")
    assert "dtype must be a numeric numpy dtype" in message and fragment in message


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"requires_grad": "yes"}, TypeError, "requires_grad must be a bool"),
    ({"requires_grad": 1}, TypeError, "requires_grad must be a bool"),
    ({"requires_grad": None}, TypeError, "requires_grad must be a bool"),
    ({"name": 3}, TypeError, "name must be a str or None"),
])
def test_flags_and_names_are_checked(kwargs, error, fragment):
    with pytest.raises(error) as info:
        Tensor([1.0], **kwargs)
    assert fragment in assert_ours(info.value, "Tensor")


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, bool])
def test_only_float_tensors_require_grad_as_in_torch(dtype):
    with pytest.raises(TypeError, match="only floating-point tensors can require grad"):
        Tensor([1, 0], dtype=dtype, requires_grad=True)
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="floating point"):
        torch.tensor([1, 0], dtype=torch.int64, requires_grad=True)


def _same(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("data, dtype, expected", [
    # what Tensor did before the checks, and keeps doing: ints and bools become float64
    ([1, 2], None, np.array([1.0, 2.0])),
    ([True, False], None, np.array([1.0, 0.0])),
    (np.arange(3, dtype=np.int32), None, np.arange(3.0)),
    (np.int16(4), None, np.array(4.0)),
    (np.float32(2.5), None, np.array(2.5, dtype=np.float32)),
    (np.ones(2, dtype=np.float16), None, np.ones(2, dtype=np.float16)),
    ([[1.0, float("nan")], [float("inf"), -0.0]], None,
     np.array([[1.0, np.nan], [np.inf, -0.0]])),  # NaN and inf kept, as torch
    ([], None, np.zeros(0)),
    (np.zeros((0, 3), dtype=np.float32), None, np.zeros((0, 3), dtype=np.float32)),
    # a dtype given: any numeric one, bools and index ints included
    ([1, 2], np.int64, np.array([1, 2], dtype=np.int64)),
    ([1, 0], bool, np.array([True, False])),
    ([0.1, 2], np.float32, np.array([0.1, 2], dtype=np.float32)),
    (np.arange(3.0), "float32", np.arange(3, dtype=np.float32)),
])
def test_numeric_data_is_accepted_as_before(data, dtype, expected):
    assert _same(Tensor(data, dtype=dtype).data, expected)


def test_a_float_array_is_used_without_a_copy_and_a_tensor_gives_its_values():
    a = np.ones(3, dtype=np.float32)
    assert Tensor(a).data is a
    assert Tensor(a, dtype=np.float32).data is a
    assert Tensor(Tensor(a)).data is a
    assert Tensor(np.bool_(True), requires_grad=np.bool_(True)).requires_grad


def test_data_torch_accepts_is_accepted_with_torchs_values():
    torch = pytest.importorskip("torch")
    for data in ([[1.5, -2.0], [3.0, 4.0]], 7.0, [[[]]], [float("nan")]):
        ours, theirs = Tensor(data).data, torch.tensor(data, dtype=torch.float64).numpy()
        assert _same(ours, theirs)


# --------------------------------------------------------------------------- pow


@pytest.mark.parametrize("exponent, fragment", [
    ("2", "got '2'"),  # was accepted: float('2')
    (None, "got None"),
    (1j, "complex numbers are not supported"),
    ([2.0], "got [2.0] (list)"),
    (np.array("2"), "got array('2'"),
    (np.array(["2", "3"]), "got array(['2', '3']"),
])
def test_pow_refuses_an_exponent_that_is_not_one_real_number(exponent, fragment):
    x = Tensor([2.0, 3.0], requires_grad=True)
    with pytest.raises(TypeError) as info:
        x ** exponent
    message = assert_ours(info.value, "pow")
    assert "exponent must be a real number" in message and fragment in message


@pytest.mark.parametrize("base", [2, 2.0, np.float64(2.0), np.array(2.0), np.array([2.0, 3.0])])
def test_a_number_or_array_raised_to_a_tensor_is_a_tensor_power(base):
    y = Tensor([1.0, 2.0], requires_grad=True)
    out = base ** y
    assert isinstance(out, Tensor) and out.requires_grad
    np.testing.assert_array_equal(out.data, np.power(base, [1.0, 2.0]))


@pytest.mark.parametrize("exponent", [Tensor(2.0), Tensor([1.0, 2.0]), np.array([1.0, 2.0])])
def test_a_tensor_or_array_exponent_is_a_tensor_power(exponent):
    x = Tensor([2.0, 3.0], requires_grad=True)
    out = x ** exponent
    assert out.grad_fn is tr.ops.PowTensor
    np.testing.assert_array_equal(out.data, np.power([2.0, 3.0], np.asarray(
        exponent.data if isinstance(exponent, Tensor) else exponent)))


@pytest.mark.parametrize("base, fragment", [
    ("2", "got '2'"), (1j, "complex numbers are not supported"), ([2.0], "got [2.0] (list)"),
    (np.array(["2"]), "got array(['2']"),
])
def test_a_base_that_is_not_real_is_refused(base, fragment):
    x = Tensor([2.0, 3.0], requires_grad=True)
    with pytest.raises(TypeError) as info:
        base ** x
    message = assert_ours(info.value, "pow")
    assert "base of base ** x must be a real number" in message and fragment in message


@pytest.mark.parametrize("exponent", [2, 2.0, True, np.float32(2.0), np.int64(3),
                                      np.array(2.0), np.array(3)])
def test_pow_takes_any_real_number_as_torch_does(exponent):
    x = Tensor([2.0, 3.0])
    np.testing.assert_array_equal((x ** exponent).data, np.array([2.0, 3.0]) ** float(exponent))


# --------------------------------------------------------------------------- concat, stack


@pytest.mark.parametrize("join", ["concat", "stack"])
@pytest.mark.parametrize("tensors, error, fragment", [
    (Tensor([[1.0, 2.0], [3.0, 4.0]]), TypeError, "got a single Tensor; wrap it in a list"),
    (np.ones((2, 2)), TypeError, "got a numpy array of shape (2, 2)"),
    (None, TypeError, "expected a sequence of tensors, got None"),
    (5, TypeError, "expected a sequence of tensors, got 5 (int)"),
    ("ab", TypeError, "expected a sequence of tensors, got 'ab'"),
    ([], ValueError, "needs at least one tensor, got an empty sequence"),
    (iter([]), ValueError, "needs at least one tensor"),
    ([Tensor([1.0]), [2.0]], TypeError, "item 1 is [2.0] (list)"),
    ([Tensor([1.0]), None], TypeError, "item 1 is None"),
    ([np.ones(1), Tensor([1.0])], TypeError, "item 0 is array([1.]) (ndarray)"),
])
def test_join_refuses_what_is_not_a_sequence_of_tensors(join, tensors, error, fragment):
    with pytest.raises(error) as info:
        getattr(tr, join)(tensors)
    assert fragment in assert_ours(info.value, join)


@pytest.mark.parametrize("join", ["concat", "stack"])
def test_join_takes_lists_tuples_and_generators_of_tensors(join):
    a, b = Tensor([1.0, 2.0]), Tensor([3.0, 4.0])
    expected = getattr(tr, join)([a, b]).data
    assert _same(getattr(tr, join)((a, b)).data, expected)
    assert _same(getattr(tr, join)(t for t in (a, b)).data, expected)


# --------------------------------------------------------------------------- methods' arguments

def _x():
    return Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)


def _set_requires_grad(value):
    t = Tensor(np.ones(2))
    t.requires_grad = value


@pytest.mark.parametrize("call, error, where, words", [
    (lambda: (_x() * 2).backward("g"), TypeError, "backward()", "gradient must be a number"),
    (lambda: (_x() * 2).backward([[1, 2], [3]]), ValueError, "backward()", "gradient must be"),
    (lambda: tr.addcmul(_x(), _x(), _x(), value=None), TypeError, "addcmul",
     "value must be a number, got None"),
    (lambda: tr.addcmul(_x(), _x(), _x(), value="a"), TypeError, "addcmul", "got 'a'"),
    (lambda: _x().reshape(None), TypeError, "reshape", "the shape must be ints, got None"),
    (lambda: _x().reshape(2.0, 3), TypeError, "reshape", "(2.0, 3)"),
    (lambda: _x().to(3), TypeError, "to", "dtype must be a floating numpy dtype"),
    (lambda: _x().to(np.int64), TypeError, "to", "got <class 'numpy.int64'>"),
    (lambda: _set_requires_grad("no"), TypeError, "Tensor", "requires_grad must be a bool"),
    (lambda: _set_requires_grad(None), TypeError, "Tensor", "requires_grad must be a bool"),
    (lambda: tr.functional.dropout(_x(), training="no"), TypeError, "dropout",
     "training must be a bool"),
    (lambda: tr.functional.dropout(_x(), p="0.5"), TypeError, "dropout", "p must be a real"),
    (lambda: tr.functional.dropout(_x(), p=None), TypeError, "dropout", "p must be a real"),
    (lambda: tr.functional.mse_loss(_x(), "y"), TypeError, "mse_loss", "target must be"),
    (lambda: tr.functional.cross_entropy(_x(), [0, 2], ignore_index=1.5), TypeError,
     "cross_entropy", "ignore_index must be an int"),
])
def test_method_and_functional_arguments_are_refused_at_the_door(call, error, where, words):
    with pytest.raises(error) as info:
        call()
    assert words in assert_ours(info.value, where)


def test_to_none_changes_nothing_as_in_torch():
    x = _x()
    assert x.to(None) is x


def test_a_numpy_number_is_a_number_and_none_is_not():
    from tinygrad_rnn.tensor import is_number
    assert is_number(np.float32(0.5)) and is_number(np.array(2)) and is_number(True)
    assert not is_number(None) and not is_number("1") and not is_number(np.ones(2))
