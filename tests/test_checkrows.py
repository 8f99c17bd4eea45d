"""tinygrad_rnn.checkrows: the row and the table that gradcheck, gradcheck_layer and
compare_grads share."""

import warnings

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, nn
from tinygrad_rnn.checkrows import (
    ERROR_COLUMNS,
    Column,
    GradientErrors,
    format_table,
    warn_unless_float64,
)
from tinygrad_rnn.layercheck import layercheck_report

from _helpers import NotebookTanh


def test_the_errors_follow_from_the_two_arrays():
    trusted = np.array([[1.0, -2.0, 0.5], [4.0, 0.0, -1.0]])
    checked = trusted + np.array([[0.0, 0.3, 0.0], [-0.2, 0.0, 0.0]])
    e = GradientErrors.measure(checked, trusted, atol=1e-5, rtol=1e-3)
    assert e.max_abs_error == pytest.approx(0.3) and e.max_rel_error == pytest.approx(0.15)
    # the worst is the element furthest outside atol + rtol |trusted|: 0.3 - 0.002 > 0.2 - 0.004
    assert e.worst_index == (0, 1) and (e.analytic, e.numeric) == (-1.7, -2.0)
    assert not e.ok
    assert GradientErrors.measure(trusted, trusted, atol=0, rtol=0).ok


def test_ok_is_allclose_with_the_trusted_array_as_reference():
    trusted = np.array([1.0, 100.0])
    inside = trusted + np.array([0.0, 0.9 * (1e-5 + 1e-3 * 100)])
    outside = trusted + np.array([0.0, 1.1 * (1e-5 + 1e-3 * 100)])
    for checked in (inside, outside):
        assert (GradientErrors.measure(checked, trusted, 1e-5, 1e-3).ok
                == np.allclose(checked, trusted, rtol=1e-3, atol=1e-5))
    assert GradientErrors.measure(inside, trusted, 1e-5, 1e-3).ok
    assert not GradientErrors.measure(outside, trusted, 1e-5, 1e-3).ok


def test_a_region_is_measured_alone_and_its_worst_index_counts_from_the_whole_array():
    trusted = np.zeros((2, 6, 3))
    checked = trusted.copy()
    checked[1, 4, 2] = 0.5      # in rows 3:6 at time step 1
    checked[0, 0, 0] = 9.0      # outside the region: not seen
    e = GradientErrors.measure(checked, trusted, 1e-5, 1e-3, (1, slice(3, 6)))
    assert e.worst_index == (1, 4, 2) and e.analytic == 0.5 and e.max_abs_error == 0.5
    assert GradientErrors.measure(checked, trusted, 1e-5, 1e-3, (1, slice(0, 3))).ok


def test_empty_and_0d_arrays():
    empty = GradientErrors.measure(np.zeros((0, 3)), np.zeros((0, 3)), 1e-5, 1e-3)
    assert empty.ok and empty.worst_index == () and empty.max_abs_error == 0.0
    scalar = GradientErrors.measure(np.array(2.0), np.array(1.0), 1e-5, 1e-3)
    assert not scalar.ok and scalar.worst_index == ()
    assert (scalar.analytic, scalar.numeric) == (2.0, 1.0)


def test_a_table_pads_every_cell_to_its_column():
    columns = (Column("name", lambda r: r[0], 6, align="<"),
               Column("value", lambda r: r[1], 10, ".2e"),
               Column("ok", lambda r: r[2], gap="  ", align="<"))
    lines = format_table(columns, [("a", 1.5, "yes"), ("long_n", -2.0, "NO")])
    assert lines == ["name       value  ok",
                     "--------------------",
                     "a       1.50e+00  yes",
                     "long_n -2.00e+00  NO"]


def test_gradcheck_and_gradcheck_layer_print_the_same_error_columns():
    x = Tensor(np.linspace(-1, 1, 4), requires_grad=True, name="x")
    gradcheck_header = str(tr.gradcheck_report(NotebookTanh.apply, [x])).splitlines()[0]
    layer_header = str(layercheck_report(nn.Linear(3, 2).double(), np.ones((2, 3)))).splitlines()[1]
    errors_header = format_table(ERROR_COLUMNS, [])[0]
    assert gradcheck_header.endswith(errors_header) and layer_header.endswith(errors_header)
    compare_header = str(tr.compare_grads({"w": np.ones(2)}, {"w": np.ones(2)})).splitlines()[2]
    assert "max abs err max rel err" in compare_header


def test_one_warning_names_every_tensor_that_is_not_float64():
    named = [(name, Tensor(np.ones(2, dtype=dtype)))
             for name, dtype in zip("abcd", (np.float32, np.float64, np.float32, np.float16))]
    with pytest.warns(UserWarning) as record:
        warn_unless_float64("tool", named, " (advice)")
    assert len(record) == 1
    assert str(record[0].message) == ("tool: a, c are float32 and d is float16; finite "
                                      "differences are only meaningful in float64 (advice)")
    assert record[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_unless_float64("tool", named[1:2])
