"""Hypothesis strategies and one test factory, to check an op the way we check ours.

An op (or any function of tensors: a composite, a cell) is described once by an
``OpCase``: its function, a Hypothesis strategy for its inputs, and, optionally,
the same maths written in numpy and in torch. Four checks then run it on many
random inputs::

    check_gradients   autograd against central finite differences in float64,
                      with a random upstream gradient
    check_forward     forward values against ``numpy_fn``
    check_torch       values and gradients against ``torch_fn`` in float64
    check_no_mutation forward and backward leave the input arrays untouched

plus ``check_dtype`` (a float32 op stays float32, gradients included). Three
lines check a new op::

    from tinygrad_rnn.testing import OpCase, arrays, op_test
    case = OpCase("softsign", Softsign.apply, arrays(), numpy_fn=lambda x: x / (1 + np.abs(x)))
    test_softsign = op_test(case)      # a test function pytest collects

or call ``check_op(case)`` inside a test of your own. This module needs
``hypothesis`` (a test-only dependency), so ``import tinygrad_rnn`` does not
import it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .gradcheck import _flatten_outputs, gradcheck
from .tensor import Tensor

__all__ = [
    "Inputs", "OpCase", "arrays", "positive_arrays", "broadcastable_shapes",
    "broadcastable_arrays", "check_gradients", "check_forward", "check_torch",
    "check_no_mutation", "check_dtype", "CHECKS", "run_check", "check_op", "op_test",
]

# --------------------------------------------------------------------------- strategies

Bounds = tuple  # (low, high) for the elements of an array


def _elements(dtype, bounds: Bounds) -> st.SearchStrategy:
    low, high = bounds
    width = 32 if np.dtype(dtype) == np.float32 else 64
    return st.floats(low, high, allow_nan=False, allow_infinity=False, width=width)


def _shift_from_zero(array: np.ndarray, margin: float) -> np.ndarray:
    # shift rather than filter: Hypothesis never has to throw an example away
    return np.where(array >= 0, array + margin, array - margin).astype(array.dtype)


def arrays(shape=None, dtype=np.float64, elements: Bounds = (-3.0, 3.0), avoid_zero: float = 0.0,
           min_dims: int = 0, max_dims: int = 3, min_side: int = 1,
           max_side: int = 4) -> st.SearchStrategy:
    """Arrays of bounded, finite elements.

    Arguments:
        shape: a tuple, a strategy of tuples, or None for a random shape of
            ``min_dims..max_dims`` dimensions with sides ``min_side..max_side``.
        dtype: a floating dtype (float64 by default).
        elements: (low, high) bounds of the elements.
        avoid_zero: move every element this far away from 0 (a non-negative
            element up by it, a negative one down), e.g. to keep relu off its
            kink or 1/x finite. The bounds widen by as much.

    Returns:
        a strategy of ``np.ndarray``.
    """
    if shape is None:
        shape = hnp.array_shapes(min_dims=min_dims, max_dims=max_dims,
                                 min_side=min_side, max_side=max_side)
    strategy = hnp.arrays(dtype, shape, elements=_elements(dtype, elements))
    if avoid_zero:
        strategy = strategy.map(lambda a: _shift_from_zero(a, avoid_zero))
    return strategy


def positive_arrays(shape=None, dtype=np.float64, elements: Bounds = (0.5, 3.0),
                    **shape_kwargs) -> st.SearchStrategy:
    """Arrays of elements in [0.5, 3]: inputs of log, sqrt, and denominators.

    Arguments and Returns: as ``arrays``.
    """
    return arrays(shape, dtype, elements, **shape_kwargs)


def broadcastable_shapes(num_shapes: int | None = None, signature: str | None = None,
                         min_dims: int = 0, max_dims: int = 3, min_side: int = 1,
                         max_side: int = 4) -> st.SearchStrategy:
    """Shapes that broadcast together, as numpy would combine them.

    Arguments:
        num_shapes: how many shapes (for elementwise ops).
        signature: instead of ``num_shapes``, a gufunc signature whose core
            dimensions are kept and whose batch dimensions broadcast, e.g.
            matmul's ``"(n?,k),(k,m?)->(n?,m?)"`` (``?`` marks a dimension
            that may be missing, as for 1-D operands).
        min_dims, max_dims, min_side, max_side: bounds of the (batch) shapes.

    Returns:
        a strategy of tuples of shapes, one per operand.
    """
    if signature is not None:
        strategy = hnp.mutually_broadcastable_shapes(
            signature=signature, min_dims=min_dims, max_dims=max_dims,
            min_side=min_side, max_side=max_side)
    else:
        strategy = hnp.mutually_broadcastable_shapes(
            num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims,
            min_side=min_side, max_side=max_side)
    return strategy.map(lambda shapes: tuple(shapes.input_shapes))


def broadcastable_arrays(num_arrays: int | None = None, dtype=np.float64,
                         elements: Bounds | Sequence[Bounds] = (-3.0, 3.0),
                         avoid_zero: float | Sequence[float] = 0.0, signature: str | None = None,
                         **shape_kwargs) -> st.SearchStrategy:
    """Tuples of arrays of mutually broadcastable shapes (see ``broadcastable_shapes``).

    Arguments:
        num_arrays: how many arrays (or give ``signature``).
        dtype: their floating dtype.
        elements: one (low, high) for all arrays, or one per array (e.g. a
            positive denominator: ``[(-3, 3), (0.5, 3)]``).
        avoid_zero: one margin for all arrays, or one per array (see ``arrays``).
        signature, shape_kwargs: passed to ``broadcastable_shapes``.

    Returns:
        a strategy of tuples of ``np.ndarray``.
    """
    @st.composite
    def draw_arrays(draw):
        shapes = draw(broadcastable_shapes(num_arrays, signature, **shape_kwargs))
        bounds = [elements] * len(shapes) if np.ndim(elements[0]) == 0 else list(elements)
        margins = [avoid_zero] * len(shapes) if np.ndim(avoid_zero) == 0 else list(avoid_zero)
        return tuple(draw(arrays(s, dtype, b, m)) for s, b, m in zip(shapes, bounds, margins))

    return draw_arrays()


# --------------------------------------------------------------------------- cases


class Inputs(NamedTuple):
    """One drawn example: the input arrays and keyword parameters (axis, index, ...).

    A strategy of an ``OpCase`` may also produce a bare array (one input) or a
    tuple of arrays (no parameters); draw an ``Inputs`` when parameters must
    agree with the shapes, e.g. ``Inputs((x,), {"axis": x.ndim - 1})``.
    """

    arrays: tuple
    params: dict


def _unpack(example) -> Inputs:
    if isinstance(example, Inputs):
        return Inputs(tuple(example.arrays), dict(example.params))
    if isinstance(example, np.ndarray):
        return Inputs((example,), {})
    return Inputs(tuple(example), {})


@dataclass(frozen=True)
class OpCase:
    """An op to check, described once.

    Arguments:
        name: shown in test ids and failure messages.
        fn: ``fn(*tensors, **params)`` -> Tensor, or a (nested) tuple of Tensors.
        inputs: a Hypothesis strategy of examples: an array, a tuple of
            arrays, or an ``Inputs(arrays, params)``.
        numpy_fn: the same maths on numpy arrays, ``numpy_fn(*arrays, **params)``,
            returning an array or a sequence of arrays.
        torch_fn: the same maths on torch tensors, ``torch_fn(*tensors, **params)``.
        grad_inputs: positions of the inputs that require grad (default: all);
            the others are constants, e.g. the numpy array in ``a @ x``.
        atol, rtol: tolerances of the finite-difference check.
        parity_tol: relative and absolute tolerance against numpy and torch in
            float64 (float32 examples use at least 1e-5).
    """

    name: str
    fn: Callable[..., Any]
    inputs: st.SearchStrategy
    torch_fn: Callable[..., Any] | None = None
    numpy_fn: Callable[..., Any] | None = None
    grad_inputs: tuple | None = None
    atol: float = 1e-5
    rtol: float = 1e-3
    parity_tol: float = 1e-12

    def with_dtype(self, dtype) -> "OpCase":
        """The same case with every floating input array cast to ``dtype``."""
        def cast(example):
            arrays, params = _unpack(example)
            return Inputs(tuple(a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays),
                          params)

        return dataclasses.replace(self, name=f"{self.name}[{np.dtype(dtype).name}]",
                                   inputs=self.inputs.map(cast))

    def requires_grad(self, i: int) -> bool:
        return self.grad_inputs is None or i in self.grad_inputs

    def tensors(self, arrays) -> list:
        """Fresh leaf tensors over (not copies of) ``arrays``."""
        return [Tensor(a, requires_grad=self.requires_grad(i) and a.dtype.kind == "f")
                for i, a in enumerate(arrays)]


def _upstream(outs, seed: int) -> list:
    """A random upstream gradient per output, in the output's dtype."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(o.shape).astype(o.dtype) for o in outs]


def _tolerance(case: OpCase, dtype) -> float:
    return case.parity_tol if np.dtype(dtype) == np.float64 else max(case.parity_tol, 1e-5)


def _assert_close(actual, expected, tol: float, what: str) -> None:
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol, err_msg=what)
    if np.shape(actual) != np.shape(expected):
        raise AssertionError(f"{what}: shape {np.shape(actual)} != {np.shape(expected)}")


# --------------------------------------------------------------------------- checks
# Each check takes (case, example, seed), runs on one example and raises on failure;
# ``run_check`` feeds it Hypothesis examples.


def check_gradients(case: OpCase, example, seed: int = 0) -> None:
    """Autograd matches central finite differences, for a random upstream gradient.

    The example is cast to float64 first: finite differences mean nothing in float32.
    Raises ``tr.GradcheckError`` with a per-input table when they disagree.
    """
    arrays, params = _unpack(example)
    arrays = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays]
    tensors = case.tensors(arrays)
    gradcheck(lambda *ts: case.fn(*ts, **params), tensors, atol=case.atol, rtol=case.rtol,
              seed=seed)


def check_forward(case: OpCase, example, seed: int = 0) -> None:
    """Forward values equal ``case.numpy_fn`` on the same arrays (to ``parity_tol``)."""
    if case.numpy_fn is None:
        raise ValueError(f"{case.name}: no numpy_fn to compare with")
    arrays, params = _unpack(example)
    outs = _flatten_outputs(case.fn(*case.tensors(arrays), **params))
    expected = case.numpy_fn(*arrays, **params)
    expected = list(expected) if isinstance(expected, (list, tuple)) else [expected]
    if len(outs) != len(expected):
        raise AssertionError(f"{case.name}: {len(outs)} outputs, numpy gives {len(expected)}")
    for k, (o, e) in enumerate(zip(outs, expected)):
        _assert_close(o.data, e, _tolerance(case, o.dtype), f"{case.name}: output {k}")


def _import_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def check_torch(case: OpCase, example, seed: int = 0) -> None:
    """Values and gradients equal ``case.torch_fn``'s, in float64, for one upstream gradient.

    Raises ``ImportError`` when torch is not installed (``check_op`` and the
    tests skip instead).
    """
    torch = _import_torch()
    if torch is None:
        raise ImportError("check_torch needs torch")
    if case.torch_fn is None:
        raise ValueError(f"{case.name}: no torch_fn to compare with")
    arrays, params = _unpack(example)
    arrays = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays]

    tensors = case.tensors(arrays)
    outs = _flatten_outputs(case.fn(*tensors, **params))
    upstream = _upstream(outs, seed)
    for o, v in zip(outs, upstream):
        if o.requires_grad:
            o.backward(v, retain_graph=True)

    torch_inputs = [torch.tensor(a, requires_grad=case.requires_grad(i) and a.dtype.kind == "f")
                    for i, a in enumerate(arrays)]
    torch_outs = case.torch_fn(*torch_inputs, **params)
    torch_outs = [torch_outs] if isinstance(torch_outs, torch.Tensor) else list(torch_outs)
    if len(outs) != len(torch_outs):
        raise AssertionError(f"{case.name}: {len(outs)} outputs, torch gives {len(torch_outs)}")
    pairs = [(o, v) for o, v in zip(torch_outs, upstream) if o.requires_grad]
    if pairs:
        torch.autograd.backward([o for o, _ in pairs], [torch.tensor(v) for _, v in pairs])

    for k, (o, t) in enumerate(zip(outs, torch_outs)):
        _assert_close(o.data, t.detach().numpy(), case.parity_tol, f"{case.name}: output {k}")
    for i, (x, t) in enumerate(zip(tensors, torch_inputs)):
        if not x.requires_grad:
            continue
        expected = np.zeros(x.shape) if t.grad is None else t.grad.numpy()
        actual = np.zeros(x.shape) if x.grad is None else x.grad
        _assert_close(actual, expected, case.parity_tol, f"{case.name}: gradient of input {i}")


def check_no_mutation(case: OpCase, example, seed: int = 0) -> None:
    """Neither forward nor backward writes into the input arrays, the parameters
    (e.g. an index array) or the upstream gradient."""
    arrays, params = _unpack(example)
    before = [a.copy() for a in arrays]
    params_before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in params.items()}
    outs = _flatten_outputs(case.fn(*case.tensors(arrays), **params))
    for i, (a, b) in enumerate(zip(arrays, before)):
        np.testing.assert_array_equal(a, b, err_msg=f"{case.name}: forward wrote into input {i}")
    upstream = _upstream(outs, seed)
    upstream_before = [v.copy() for v in upstream]
    for o, v in zip(outs, upstream):
        if o.requires_grad:
            o.backward(v, retain_graph=True)
    for i, (a, b) in enumerate(zip(arrays, before)):
        np.testing.assert_array_equal(a, b, err_msg=f"{case.name}: backward wrote into input {i}")
    for k, (v, b) in enumerate(zip(upstream, upstream_before)):
        np.testing.assert_array_equal(v, b, err_msg=f"{case.name}: backward wrote into the "
                                                    f"upstream gradient of output {k}")
    for k, v in params.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(v, params_before[k],
                                          err_msg=f"{case.name}: parameter {k!r} was modified")


def check_dtype(case: OpCase, example, seed: int = 0) -> None:
    """Outputs and gradients keep the inputs' floating dtype (float32 stays float32)."""
    arrays, params = _unpack(example)
    dtypes = {a.dtype for a in arrays if a.dtype.kind == "f"}
    if len(dtypes) != 1:
        raise ValueError(f"{case.name}: check_dtype needs inputs of one floating dtype, "
                         f"got {sorted(map(str, dtypes))}")
    (dtype,) = dtypes
    tensors = case.tensors(arrays)
    outs = _flatten_outputs(case.fn(*tensors, **params))
    for k, o in enumerate(outs):
        if o.dtype != dtype:
            raise AssertionError(f"{case.name}: output {k} is {o.dtype}, inputs are {dtype}")
    for o, v in zip(outs, _upstream(outs, seed)):
        if o.requires_grad:
            o.backward(v, retain_graph=True)
    for i, x in enumerate(tensors):
        if x.grad is not None and x.grad.dtype != dtype:
            raise AssertionError(f"{case.name}: gradient of input {i} is {x.grad.dtype}, "
                                 f"the input is {dtype}")


CHECKS = {
    "gradients": check_gradients,
    "forward": check_forward,
    "torch": check_torch,
    "no_mutation": check_no_mutation,
    "dtype": check_dtype,
}


# --------------------------------------------------------------------------- running


def run_check(case: OpCase, check: Callable | str, settings=None) -> None:
    """Run one check on examples drawn by Hypothesis from ``case.inputs``.

    Arguments:
        case: the op.
        check: a check function ``(case, example, seed)`` or a key of ``CHECKS``.
        settings: a ``hypothesis.settings`` (default: the loaded profile).

    Raises the check's error for the smallest failing example Hypothesis finds.
    """
    check = CHECKS[check] if isinstance(check, str) else check

    @given(example=case.inputs, seed=st.integers(0, 2**32 - 1))
    def run(example, seed):
        check(case, example, seed)

    # one example database entry per (case, check), although ``run`` is one function
    run._hypothesis_internal_add_digest = f"{case.name}/{check.__name__}".encode()
    run.__name__ = run.__qualname__ = f"{check.__name__}[{case.name}]"
    if settings is not None:
        run = settings(run)
    run()


def _default_checks(case: OpCase) -> list:
    checks = ["gradients", "no_mutation"]
    if case.numpy_fn is not None:
        checks.append("forward")
    if case.torch_fn is not None and _import_torch() is not None:
        checks.append("torch")
    return checks


def check_op(case: OpCase, checks: Sequence[str] | None = None, settings=None) -> None:
    """Run the checks of ``case`` with Hypothesis; raise on the first failure.

    Arguments:
        case: the op.
        checks: keys of ``CHECKS``. Default: the gradient and no-mutation
            checks, plus the numpy check when ``numpy_fn`` is given and the
            torch check when ``torch_fn`` is given and torch is installed.
        settings: a ``hypothesis.settings`` (default: the loaded profile).
    """
    for name in (_default_checks(case) if checks is None else checks):
        run_check(case, name, settings)


def op_test(case: OpCase, checks: Sequence[str] | None = None,
            settings=None) -> Callable[[], None]:
    """A test function for pytest: ``test_softsign = op_test(OpCase(...))``.

    Arguments and behaviour: as ``check_op``, run when the test runs.

    Returns:
        a function of no arguments named ``test_<case name>``.
    """
    def test():
        check_op(case, checks, settings)

    test.__name__ = test.__qualname__ = "test_" + "".join(
        c if c.isalnum() else "_" for c in case.name)
    test.__doc__ = f"Hypothesis checks of {case.name}: {', '.join(checks or ['default'])}."
    return test
