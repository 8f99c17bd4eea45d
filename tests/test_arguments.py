"""The shared argument checks (tinygrad_rnn/arguments.py): what each accepts, and the
one-sentence error it gives for everything else."""

import doctest
import math

import numpy as np
import pytest

from tinygrad_rnn import arguments as A


def test_the_module_docstring_runs():
    assert doctest.testmod(A).failed == 0


@pytest.mark.parametrize("value", [0, 3, np.int64(3), np.int32(7)])
def test_size_accepts_python_and_numpy_ints(value):
    assert A.size("f", "n", value) == int(value)
    assert type(A.size("f", "n", value)) is int


@pytest.mark.parametrize("value", [True, np.bool_(False), 2.0, 2.5, None, "3", np.float64(3)])
def test_size_refuses_non_ints_with_a_type_error_naming_the_argument(value):
    with pytest.raises(TypeError, match=r"^f: n must be an int, got "):
        A.size("f", "n", value)


def test_size_refuses_out_of_range_with_a_value_error():
    with pytest.raises(ValueError, match=r"^f: n must be an int >= 1, got 0$"):
        A.size("f", "n", 0, minimum=1)
    with pytest.raises(ValueError, match=r"in \[0, 2\], got 3"):
        A.size("f", "n", 3, maximum=2)


@pytest.mark.parametrize("value", ["no", 1, 0, None, np.float64(1)])
def test_flag_refuses_truthy_non_bools(value):
    with pytest.raises(TypeError, match=r"^f: b must be a bool"):
        A.flag("f", "b", value)
    assert A.flag("f", "b", np.bool_(True)) is True


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_number_refuses_non_finite(value):
    with pytest.raises(ValueError, match="finite"):
        A.number("f", "x", value)
    if not math.isnan(value):
        assert A.number("f", "x", value, finite=False) == value


@pytest.mark.parametrize("value", [True, "0.1", None, 1j, np.array([0.1])])
def test_number_refuses_non_reals(value):
    with pytest.raises(TypeError, match=r"^f: x must be a real number"):
        A.number("f", "x", value)


def test_probability_is_a_closed_unit_interval():
    assert A.probability("f", "p", 0) == 0.0 and A.probability("f", "p", 1) == 1.0
    for bad in (-0.01, 1.01):
        with pytest.raises(ValueError, match=r"in \[0, 1\]"):
            A.probability("f", "p", bad)


def test_one_of_and_describe():
    assert A.one_of("f", "mode", "sum", ("mean", "sum")) == "sum"
    with pytest.raises(ValueError, match=r"one of 'mean', 'sum', got \['sum'\] \(list\)"):
        A.one_of("f", "mode", ["sum"], ("mean", "sum"))
    assert A.describe("x" * 100).endswith("...")


def test_numpy_scalars_are_described_by_value_and_type():
    assert A.describe(np.float64(5.0)) == "5.0 (float64)"
    with pytest.raises(ValueError, match="must be a number, not NaN, got nan"):
        A.number("f", "x", math.nan, finite=False)
