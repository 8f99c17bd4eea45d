"""Every op, and every Tensor method that reaches one, from one table.

The rows are ``tinygrad_rnn.op_cases.CASES`` (also ``tinygrad_rnn.testing.OP_CASES``),
``OpCase``s of the factory users apply to their own ops. Each row drives five
tests: finite-difference gradients in float64 with a random upstream gradient,
forward values against numpy, values and gradients against torch in float64,
inputs left unmutated, and float32 kept float32 (outputs and gradients). Each
runs the row's fixed example first, then Hypothesis' examples; a row's ``skip``
names a check that does not apply, and why.

Below the five: the table agrees with ops.py and docs/api.md, then the rules
stated once, the factory caught failing, and the casts.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import Phase, given, settings, strategies as st
from hypothesis.database import InMemoryExampleDatabase

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, ops
from tinygrad_rnn.op_cases import BEGIN, END, api_table, update_api_doc
from tinygrad_rnn.testing import (
    CHECKS,
    OP_CASES,
    OpCase,
    arrays,
    broadcastable_arrays,
    check_dtype,
    check_forward,
    check_gradients,
    check_no_mutation,
    check_op,
    check_torch,
    op_test,
    run_check,
)

from _helpers import Softsign  # a user's own op

ROOT = Path(__file__).resolve().parent.parent


def rows_for(check: str):
    """Parametrize a test over the rows that ``check`` applies to."""
    cases = [case for case in OP_CASES if check in case.checks()]
    return pytest.mark.parametrize("case", cases, ids=[case.name for case in cases])


# --------------------------------------------------------------------------- five tests per row


@rows_for("gradients")
def test_gradients_match_finite_differences(case):
    run_check(case, check_gradients)


@rows_for("forward")
def test_forward_matches_numpy(case):
    run_check(case, check_forward)


@rows_for("torch")
def test_values_and_gradients_match_torch(case):
    pytest.importorskip("torch")
    run_check(case, check_torch)


@rows_for("no_mutation")
def test_inputs_are_not_mutated(case):
    run_check(case, check_no_mutation)


@rows_for("dtype")
def test_float32_stays_float32(case):
    run_check(case.with_dtype(np.float32), check_dtype)


# --------------------------------------------------------------------------- the table agrees


def function_classes() -> dict:
    """Every ``Function`` subclass defined in ops.py, by name."""
    return {name: value for name, value in vars(ops).items()
            if isinstance(value, type) and issubclass(value, tr.Function)
            and value.__module__ == ops.__name__}


def test_every_function_in_ops_has_a_case_and_a_line_in_the_api_doc():
    classes = set(function_classes())
    named = {name for case in OP_CASES for name in case.functions}
    documented = {name for case in OP_CASES if case.doc for name in case.functions}
    assert not classes - named, (f"ops.py defines {sorted(classes - named)} but no row of "
                                 f"tinygrad_rnn/op_cases.py names them: add a row")
    assert not classes - documented, (f"no row of tinygrad_rnn/op_cases.py with a doc line "
                                      f"names {sorted(classes - documented)}")


def test_every_case_names_functions_that_exist_in_ops():
    classes = set(function_classes())
    for case in OP_CASES:
        assert case.functions, f"{case.name}: names no Function class of ops.py"
        unknown = set(case.functions) - classes
        assert not unknown, f"{case.name}: ops.py has no Function {sorted(unknown)}"


def test_case_names_are_unique_and_every_case_has_a_fixed_example():
    names = [case.name for case in OP_CASES]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert all(case.example is not None for case in OP_CASES)


@pytest.mark.parametrize("case", OP_CASES, ids=[case.name for case in OP_CASES])
def test_a_case_runs_the_functions_it_names(case, monkeypatch):
    ran = set()

    def recording(name, forward):
        def record_then_forward(ctx, *args, **kwargs):
            ran.add(name)
            return forward(ctx, *args, **kwargs)
        return staticmethod(record_then_forward)

    for name, cls in function_classes().items():
        monkeypatch.setattr(cls, "forward", recording(name, cls.forward))
    example = case.fixed_example()
    case.fn(*case.tensors(example.arrays), **example.params)
    assert set(case.functions) <= ran, f"{case.name} never ran {sorted(set(case.functions) - ran)}"


def test_the_op_table_in_docs_api_md_is_up_to_date():
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    assert update_api_doc(text) == text, ("docs/api.md: the op table is out of date; "
                                          "run python -m tinygrad_rnn.op_cases")


def test_the_op_table_is_written_between_its_markers_only():
    text = f"before\n{BEGIN}\na stale table\n{END}\nafter\n"
    assert update_api_doc(text) == f"before\n{BEGIN}\n{api_table()}\n{END}\nafter\n"
    with pytest.raises(ValueError, match="marker"):
        update_api_doc("a page without the markers")


def test_the_table_and_the_gradcheck_command_need_neither_hypothesis_nor_torch():
    code = ("import sys; sys.modules['hypothesis'] = sys.modules['torch'] = None\n"
            "from tinygrad_rnn import selfcheck\n"
            "rows = [selfcheck.check_op_example(case) for case in selfcheck.gradcheck_cases()]\n"
            "assert rows and all(row.ok for row in rows), rows\n"
            "assert 'hypothesis' not in sys.modules or sys.modules['hypothesis'] is None\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr


def test_each_case_and_check_files_its_examples_apart():
    # run_check's inner test has one source for every (case, check), which is what
    # Hypothesis keys its example database by; each pair still gets keys of its own
    saved = {}

    class Recording(InMemoryExampleDatabase):
        def save(self, key, value):
            saved.setdefault(current, set()).add(key)
            super().save(key, value)

    quick = settings(database=Recording(), max_examples=10, phases=[Phase.generate])
    for current in ("softsign", "softsign again"):
        with pytest.raises(tr.GradcheckError):
            run_check(_softsign_case(_SoftsignWrongBackward.apply, name=current),
                      check_gradients, quick)
    assert saved["softsign"] and saved["softsign again"]
    assert not saved["softsign"] & saved["softsign again"]


# --------------------------------------------------------------------------- the rules, stated once


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


def _softsign_case(fn, numpy_fn=lambda x: x / (1 + np.abs(x)), name="softsign"):
    return OpCase(name, fn, arrays(min_dims=1), lambda x: x / (1 + x.abs()), numpy_fn)


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
    parts = x.split([1, 0, 2], axis=1)
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
    with pytest.raises(TypeError, match="to: dtype must be a floating numpy dtype"):
        t.to(np.int64)
