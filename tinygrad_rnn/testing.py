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

or call ``check_op(case)`` inside a test of your own. A case with a fixed
``example`` is checked on it first, every run.

``OpCase`` and ``Inputs`` live in ``case.py`` (numpy only) and are re-exported
here, as is ``OP_CASES``, the table of every built-in op (``op_cases.py``),
which the test suite runs through these same checks.

For recurrent layers: ``recurrent_configs()`` draws configurations (kind, sequence
length, batch, sizes, layers, direction, batch_first, bias); a
``RecurrentConfig`` builds its layer, input and upstream gradient;
``check_layer_gradients`` runs ``tr.gradcheck_layer`` on them; and
``check_hand_backward(hand_fn, kinds=..., bias=..., ...)`` checks a hand-written
backward against the graph's gradients on the configurations its constraints
allow, returning a ``HandBackwardReport`` on a pass and raising one
``HandBackwardError`` at the smallest configuration Hypothesis shrinks a failure
to. This module needs
``hypothesis`` (a test-only dependency), so ``import tinygrad_rnn`` does not
import it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import hypothesis
import numpy as np
from hypothesis import given, strategies as st
from hypothesis.database import ExampleDatabase
from hypothesis.extra import numpy as hnp

from .arguments import describe, is_int, number
from .case import BOUNDS, POSITIVE, ExampleArrays, Inputs, OpCase, shift_from_zero, unpack
from .gradcheck import _flatten_outputs, gradcheck
from .op_cases import CASES as OP_CASES
from .tensor import Tensor

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, DTypeLike

    from .compare import GradComparison
    from .nn.module import Module
    from .nn.recurrent import Recurrent

    Shape = tuple[int, ...]

__all__ = [
    "Inputs", "OpCase", "ExampleArrays", "OP_CASES", "arrays", "positive_arrays",
    "broadcastable_shapes", "broadcastable_arrays", "check_gradients", "check_forward",
    "check_torch", "check_no_mutation", "check_dtype", "CHECKS", "run_check", "check_op",
    "op_test", "RecurrentConfig", "recurrent_configs", "check_hand_backward",
    "HandBackwardError", "HandBackwardReport", "check_layer_gradients",
]

# --------------------------------------------------------------------------- strategies

Bounds = tuple[float, float]  # (low, high) for the elements of an array


def _elements(dtype: DTypeLike, bounds: Bounds) -> st.SearchStrategy[float]:
    low, high = bounds
    width: Literal[32, 64] = 32 if np.dtype(dtype) == np.float32 else 64
    return st.floats(low, high, allow_nan=False, allow_infinity=False, width=width)


def arrays(shape: Shape | st.SearchStrategy[Shape] | None = None, dtype: DTypeLike = np.float64,
           elements: Bounds = BOUNDS, avoid_zero: float = 0.0, min_dims: int = 0,
           max_dims: int = 3, min_side: int = 1,
           max_side: int = 4) -> st.SearchStrategy[np.ndarray]:
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
        strategy = strategy.map(lambda a: shift_from_zero(a, avoid_zero))
    return strategy


def positive_arrays(shape: Shape | st.SearchStrategy[Shape] | None = None,
                    dtype: DTypeLike = np.float64, elements: Bounds = POSITIVE,
                    **shape_kwargs: int) -> st.SearchStrategy[np.ndarray]:
    """Arrays of elements in [0.5, 3]: inputs of log, sqrt, and denominators.

    Arguments and Returns: as ``arrays``.
    """
    return arrays(shape, dtype, elements, **shape_kwargs)


def broadcastable_shapes(num_shapes: int | None = None, signature: str | None = None,
                         min_dims: int = 0, max_dims: int = 3, min_side: int = 1,
                         max_side: int = 4) -> st.SearchStrategy[tuple[Shape, ...]]:
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
        # (num_shapes None too: Hypothesis then says it needs num_shapes or a signature)
        strategy = hnp.mutually_broadcastable_shapes(
            num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims,  # type: ignore[arg-type]
            min_side=min_side, max_side=max_side)
    return strategy.map(lambda shapes: tuple(shapes.input_shapes))


def broadcastable_arrays(num_arrays: int | None = None, dtype: DTypeLike = np.float64,
                         elements: Bounds | Sequence[Bounds] = BOUNDS,
                         avoid_zero: float | Sequence[float] = 0.0, signature: str | None = None,
                         **shape_kwargs: int) -> st.SearchStrategy[tuple[np.ndarray, ...]]:
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
    def draw_arrays(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
        shapes = draw(broadcastable_shapes(num_arrays, signature, **shape_kwargs))
        # (one for all or one each: np.ndim tells them apart, which mypy cannot follow)
        bounds: list[Any]
        margins: list[Any]
        bounds = [elements] * len(shapes) if np.ndim(elements[0]) == 0 else list(elements)
        margins = ([avoid_zero] * len(shapes) if np.ndim(avoid_zero) == 0
                   else list(avoid_zero))  # type: ignore[arg-type]
        return tuple(draw(arrays(s, dtype, b, m)) for s, b, m in zip(shapes, bounds, margins))

    return draw_arrays()


def _upstream(outs: Sequence[Tensor], seed: int) -> list[np.ndarray]:
    """A random upstream gradient per output, in the output's dtype."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(o.shape).astype(o.dtype) for o in outs]


def _tolerance(case: OpCase, dtype: DTypeLike) -> float:
    return case.parity_tol if np.dtype(dtype) == np.float64 else max(case.parity_tol, 1e-5)


def _assert_close(actual: np.ndarray, expected: np.ndarray | float, tol: float,
                  what: str) -> None:
    # (atol on the scale of the values: an error of rounding is relative to the largest
    # terms, so that a small element of a large gradient may differ by tol * that scale)
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale, err_msg=what)
    if np.shape(actual) != np.shape(expected):
        raise AssertionError(f"{what}: shape {np.shape(actual)} != {np.shape(expected)}")


# --------------------------------------------------------------------------- checks
# Each check takes (case, example, seed), runs on one example and raises on failure;
# ``run_check`` feeds it Hypothesis examples.


def check_gradients(case: OpCase, example: Any, seed: int = 0) -> None:
    """Autograd matches central finite differences, for a random upstream gradient.

    The example is cast to float64 first: finite differences mean nothing in float32.
    Raises ``tr.GradcheckError`` with a per-input table when they disagree.
    """
    arrays, params = unpack(example)
    arrays = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays]
    tensors = case.tensors(arrays)
    gradcheck(lambda *ts: case.fn(*ts, **params), tensors, atol=case.atol, rtol=case.rtol,
              seed=seed)


def check_forward(case: OpCase, example: Any, seed: int = 0) -> None:
    """Forward values equal ``case.numpy_fn`` on the same arrays (to ``parity_tol``)."""
    if case.numpy_fn is None:
        raise ValueError(f"{case.name}: no numpy_fn to compare with")
    arrays, params = unpack(example)
    outs = _flatten_outputs(case.fn(*case.tensors(arrays), **params))
    expected = case.numpy_fn(*arrays, **params)
    expected = list(expected) if isinstance(expected, (list, tuple)) else [expected]
    if len(outs) != len(expected):
        raise AssertionError(f"{case.name}: {len(outs)} outputs, numpy gives {len(expected)}")
    for k, (o, e) in enumerate(zip(outs, expected)):
        _assert_close(o.data, e, _tolerance(case, o.dtype), f"{case.name}: output {k}")


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


def check_torch(case: OpCase, example: Any, seed: int = 0) -> None:
    """Values and gradients equal ``case.torch_fn``'s, in float64, for one upstream gradient.

    Raises ``ImportError`` when torch is not installed (``check_op`` and the
    tests skip instead).
    """
    torch = _import_torch()
    if torch is None:
        raise ImportError("check_torch needs torch")
    if case.torch_fn is None:
        raise ValueError(f"{case.name}: no torch_fn to compare with")
    arrays, params = unpack(example)
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


def check_no_mutation(case: OpCase, example: Any, seed: int = 0) -> None:
    """Neither forward nor backward writes into the input arrays, the parameters
    (e.g. an index array) or the upstream gradient."""
    arrays, params = unpack(example)
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


def check_dtype(case: OpCase, example: Any, seed: int = 0) -> None:
    """Outputs and gradients keep the inputs' floating dtype (float32 stays float32)."""
    arrays, params = unpack(example)
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


class _KeyedDatabase(ExampleDatabase):
    """Another example database, its entries filed under keys that start with a name.

    Hypothesis files the examples it saves (failures first of all, to replay
    them on the next run) under a key made from the test function's source.
    Every ``run_check`` runs the same inner function, so without a name of its
    own a failure of one (case, check) would be replayed against every other
    pair, and found again from scratch for its own.
    """

    def __init__(self, database: ExampleDatabase, name: str) -> None:
        super().__init__()
        self.database, self.prefix = database, name.encode() + b"/"

    def save(self, key: bytes, value: bytes) -> None:
        self.database.save(self.prefix + key, value)

    def fetch(self, key: bytes) -> Iterable[bytes]:
        return self.database.fetch(self.prefix + key)

    def delete(self, key: bytes, value: bytes) -> None:
        self.database.delete(self.prefix + key, value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        self.database.move(self.prefix + src, self.prefix + dest, value)


def _run_as(name: str, test: Callable[..., None],
            settings: hypothesis.settings | None = None) -> None:
    """Run a ``@given`` test under ``name``, in failure reports and in the example database.

    Arguments:
        name: e.g. ``check_gradients[tanh]``.
        test: the function returned by ``hypothesis.given``.
        settings: a ``hypothesis.settings`` (default: the loaded profile).
    """
    settings = hypothesis.settings() if settings is None else settings
    if settings.database is not None:
        settings = hypothesis.settings(settings,
                                       database=_KeyedDatabase(settings.database, name))
    test.__name__ = test.__qualname__ = name
    settings(test)()


def run_check(case: OpCase, check: Callable[..., None] | str,
              settings: hypothesis.settings | None = None) -> None:
    """Run one check on the case's fixed example (if it has one), then on examples
    drawn by Hypothesis from ``case.inputs``.

    Arguments:
        case: the op.
        check: a check function ``(case, example, seed)`` or a key of ``CHECKS``.
        settings: a ``hypothesis.settings`` (default: the loaded profile).

    Raises the check's error for the smallest failing example Hypothesis finds.
    """
    check = CHECKS[check] if isinstance(check, str) else check

    @given(example=case.strategy(), seed=st.integers(0, 2**32 - 1))
    def run(example: Any, seed: int) -> None:
        check(case, example, seed)

    fixed = case.fixed_example()
    if fixed is not None:  # the example `python -m tinygrad_rnn gradcheck` shows
        run = hypothesis.example(example=fixed, seed=0)(run)
    _run_as(f"{check.__name__}[{case.name}]", run, settings)


def _default_checks(case: OpCase) -> list[str]:
    """The checks that apply to ``case``, but ``dtype`` (run on request) and ``torch``
    when torch is not installed."""
    return [name for name in case.checks()
            if name != "dtype" and (name != "torch" or _import_torch() is not None)]


def check_op(case: OpCase, checks: Sequence[str] | None = None,
             settings: hypothesis.settings | None = None) -> None:
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
            settings: hypothesis.settings | None = None) -> Callable[[], None]:
    """A test function for pytest: ``test_softsign = op_test(OpCase(...))``.

    Arguments and behaviour: as ``check_op``, run when the test runs.

    Returns:
        a function of no arguments named ``test_<case name>``.
    """
    def test() -> None:
        check_op(case, checks, settings)

    test.__name__ = test.__qualname__ = "test_" + "".join(
        c if c.isalnum() else "_" for c in case.name)
    test.__doc__ = f"Hypothesis checks of {case.name}: {', '.join(checks or ['default'])}."
    return test


# --------------------------------------------------------------------------- recurrent layers

RECURRENT_KINDS = ("rnn", "lstm", "gru")


@dataclass(frozen=True)
class RecurrentConfig:
    """One recurrent configuration: enough to build a layer, its input and an
    upstream gradient, all float64 and all determined by ``seed``.

    Arguments:
        kind: "rnn" (tanh), "lstm" or "gru".
        seq_len, batch, input_size, hidden_size, num_layers: T, N, I, H, L.
        bidirectional, batch_first, bias: as the ``nn`` layers take them.
        seed: the weights, input and upstream gradient are drawn from it.
    """

    kind: str
    seq_len: int
    batch: int
    input_size: int
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    batch_first: bool = False
    bias: bool = True
    seed: int = 0

    def _rng(self, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, stream])

    def layer(self) -> Recurrent:
        """The ``nn.RNN``/``LSTM``/``GRU`` with weights drawn from U(-0.8, 0.8) (larger
        than the default init, so the nonlinearities are off their linear part)."""
        from . import nn

        cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[self.kind]
        layer = cls(self.input_size, self.hidden_size, num_layers=self.num_layers,
                    bias=self.bias, batch_first=self.batch_first,
                    bidirectional=self.bidirectional).double()
        rng = self._rng(0)
        for p in layer.parameters():
            p.data[...] = rng.uniform(-0.8, 0.8, p.shape)
        return layer

    @property
    def input_shape(self) -> tuple:
        if self.batch_first:
            return (self.batch, self.seq_len, self.input_size)
        return (self.seq_len, self.batch, self.input_size)

    @property
    def output_shape(self) -> tuple:
        features = (2 if self.bidirectional else 1) * self.hidden_size
        if self.batch_first:
            return (self.batch, self.seq_len, features)
        return (self.seq_len, self.batch, features)

    def input(self) -> np.ndarray:
        """x of ``input_shape``, standard normal."""
        return self._rng(1).standard_normal(self.input_shape)

    def d_outputs(self) -> np.ndarray:
        """An upstream gradient dL/d(output) of ``output_shape``, standard normal."""
        return self._rng(2).standard_normal(self.output_shape)

    def __str__(self) -> str:
        flags = [f for f in ("bidirectional", "batch_first") if getattr(self, f)]
        flags += [] if self.bias else ["bias=False"]
        return (f"{self.kind} T={self.seq_len} N={self.batch} I={self.input_size} "
                f"H={self.hidden_size} layers={self.num_layers}"
                + "".join(" " + f for f in flags) + f" seed={self.seed}")


# A constraint on one field of RecurrentConfig: the values it may take, or an
# inclusive range of sizes. recurrent_configs draws from them, and
# check_hand_backward also filters a configs strategy of the user's by them.
@dataclass(frozen=True)
class _Constraint:
    argument: str            # as the caller wrote it: "kinds", "bias", "seq_len", ...
    field: str               # the RecurrentConfig field: "kind", "bias", "seq_len", ...
    values: tuple = ()       # the allowed values of a choice (a kind, a flag)
    low: int = 0             # the inclusive range of a size, when ``values`` is empty
    high: int = 0

    def strategy(self) -> st.SearchStrategy[Any]:
        if len(self.values) == 1:
            return st.just(self.values[0])
        if self.values:
            return st.sampled_from(self.values)  # shrinks towards the first value
        return st.just(self.low) if self.low == self.high else st.integers(self.low, self.high)

    def admits(self, config: RecurrentConfig) -> bool:
        value = getattr(config, self.field)
        return value in self.values if self.values else self.low <= value <= self.high

    def __str__(self) -> str:
        if self.values:
            shown = self.values[0] if len(self.values) == 1 else self.values
        else:
            shown = self.low if self.low == self.high else (self.low, self.high)
        return f"{self.argument}={shown!r}"


_FLAG_FIELDS = ("bidirectional", "batch_first", "bias")


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str)


def _size_constraint(where: str, name: str, spec: Any) -> _Constraint:
    """An int (fixed) or an inclusive (low, high) range of ints, all at least 1."""
    if is_int(spec):
        low = high = int(spec)
    elif _is_sequence(spec) and len(spec) == 2 and all(is_int(v) for v in spec):
        low, high = int(spec[0]), int(spec[1])
    else:
        raise TypeError(f"{where}: {name} must be an int or a (low, high) pair of ints, "
                        f"got {describe(spec)}")
    if low < 1:
        raise ValueError(f"{where}: {name} must be at least 1, got {spec!r}")
    if low > high:
        raise ValueError(f"{where}: {name} is the range {spec!r}, whose low end is above "
                         f"its high end: no value fits it")
    return _Constraint(name, name, low=low, high=high)


def _choice_constraint(where: str, name: str, field: str, spec: Any,
                       choices: tuple) -> _Constraint:
    """One value of ``choices`` (fixed) or a non-empty sequence of them."""
    single: tuple[type, ...] = (str,) if field == "kind" else (bool, np.bool_)
    expected = ("'rnn', 'lstm' or 'gru', or a sequence of them" if field == "kind"
                else "a bool or a sequence of bools")
    if isinstance(spec, single):
        values: tuple = (spec if field == "kind" else bool(spec),)
    elif _is_sequence(spec) and all(isinstance(v, single) for v in spec):
        values = tuple(dict.fromkeys(v if field == "kind" else bool(v) for v in spec))
    else:
        raise TypeError(f"{where}: {name} must be {expected}, got {describe(spec)}")
    unknown = [v for v in values if v not in choices]
    if unknown or not values:
        raise ValueError(f"{where}: {name} must be {expected}, got {describe(spec)}")
    return _Constraint(name, field, values=values)


def _constraints(where: str, specs: Mapping[str, Any]) -> list[_Constraint]:
    """The constraints of the arguments given (a None means: no constraint)."""
    out = []
    for name, spec in specs.items():
        if spec is None:
            continue
        if name == "kinds":
            out.append(_choice_constraint(where, name, "kind", spec, RECURRENT_KINDS))
        elif name in _FLAG_FIELDS:
            out.append(_choice_constraint(where, name, name, spec, (False, True)))
        else:
            out.append(_size_constraint(where, name, spec))
    return out


def _configs_strategy(constraints: Sequence[_Constraint]) -> st.SearchStrategy[RecurrentConfig]:
    fields = {c.field: c.strategy() for c in constraints}
    return st.builds(RecurrentConfig, **fields, seed=st.integers(0, 2**16))


def recurrent_configs(kinds: str | Sequence[str] = RECURRENT_KINDS,
                      seq_len: int | tuple[int, int] = (1, 5),
                      batch: int | tuple[int, int] = (1, 3),
                      input_size: int | tuple[int, int] = (1, 4),
                      hidden_size: int | tuple[int, int] = (1, 4),
                      num_layers: int | tuple[int, int] = (1, 2),
                      bidirectional: bool | Sequence[bool] = (False, True),
                      batch_first: bool | Sequence[bool] = (False, True),
                      bias: bool | Sequence[bool] = (True, False),
                      ) -> st.SearchStrategy[RecurrentConfig]:
    """Hypothesis strategy of ``RecurrentConfig``.

    Arguments:
        kinds: a kind ("rnn", "lstm", "gru") or a sequence of them.
        seq_len, batch, input_size, hidden_size, num_layers: an int (fixed) or an
            inclusive (low, high) range, at least 1.
        bidirectional, batch_first, bias: a bool (fixed) or a sequence of allowed
            values.

    Hypothesis shrinks each integer to its low end and each choice to its first
    value, so a failure is reported at the smallest configuration that shows it.
    Refuses a value of the wrong type (TypeError), an unknown kind, an empty
    sequence, a size below 1 or a range whose low end is above its high end (ValueError).
    """
    specs = dict(kinds=kinds, seq_len=seq_len, batch=batch, input_size=input_size,
                 hidden_size=hidden_size, num_layers=num_layers, bidirectional=bidirectional,
                 batch_first=batch_first, bias=bias)
    for name, spec in specs.items():
        if spec is None:  # (check_hand_backward's None is "no constraint"; here, a mistake)
            raise TypeError(f"recurrent_configs: {name} must be a value or a range, got None")
    return _configs_strategy(_constraints("recurrent_configs", specs))


def _run_given(configs: st.SearchStrategy[RecurrentConfig],
               body: Callable[[RecurrentConfig], None], name: str,
               settings: hypothesis.settings | None = None) -> None:
    @given(config=configs)
    def run(config: RecurrentConfig) -> None:
        body(config)

    _run_as(name, run, settings)


def check_layer_gradients(configs: st.SearchStrategy[RecurrentConfig],
                          make_layer: Callable[[RecurrentConfig], Module] | None = None,
                          settings: hypothesis.settings | None = None, per_step: bool = False,
                          **gradcheck_kwargs: Any) -> None:
    """``tr.gradcheck_layer`` on every drawn configuration.

    Arguments:
        configs: a strategy of ``RecurrentConfig`` (see ``recurrent_configs``).
        make_layer: ``make_layer(config) -> layer`` for your own layer (default:
            ``config.layer()``, the built-in one).
        settings: a ``hypothesis.settings`` (default: the loaded profile).
        per_step: also check each step's own use of the weights (slower; off by
            default, as shrinking reruns the check many times).
        gradcheck_kwargs: passed to ``gradcheck_layer`` (``gates``, ``unroll``, ``atol``, ...).

    Raises ``tr.GradcheckError`` (its message names the culprit gate and step)
    for the smallest failing configuration.
    """
    from .layercheck import check_options, gradcheck_layer

    # refused here, not as a "falsifying example" at every configuration drawn
    if make_layer is not None and not callable(make_layer):
        raise TypeError(f"check_layer_gradients: make_layer must be callable or None, "
                        f"got {type(make_layer).__name__}")
    check_options("check_layer_gradients", per_step=per_step, **gradcheck_kwargs)

    def body(config: RecurrentConfig) -> None:
        layer = config.layer() if make_layer is None else make_layer(config)
        gradcheck_layer(layer, config.input(), per_step=per_step, **gradcheck_kwargs)

    _run_given(configs, body, "check_layer_gradients", settings)


# --------------------------------------------------------------------------- hand-written backward


class HandBackwardError(AssertionError):
    """A hand-written backward failed on a configuration: it disagrees with autograd,
    gives no gradient for a parameter, returns something else than gradients, or raised.

    Attributes:
        config: the smallest failing ``RecurrentConfig`` Hypothesis found.
        comparison: the ``tr.compare_grads`` result there (None when the backward
            raised or gave no gradient to compare). ``report`` is its older name.
        diagnoses: what is wrong, as objects with ``name``, ``kind`` and ``message``
            (empty when the backward raised: the exception is ``__cause__``).
        others: the other distinct failures the same run found, each a
            ``HandBackwardError`` at its own smallest configuration (usually empty).
    """

    def __init__(self, message: str, config: RecurrentConfig | None = None,
                 comparison: GradComparison | None = None,
                 diagnoses: Sequence[Any] | None = None) -> None:
        super().__init__(message)
        self.config, self.comparison = config, comparison
        self.diagnoses = list(diagnoses) if diagnoses is not None else _diagnoses_of(comparison)
        self.others: list[HandBackwardError] = []

    @property
    def report(self) -> GradComparison | None:
        """The comparison, under the name it had before ``comparison``."""
        return self.comparison

    def __str__(self) -> str:
        message = super().__str__()
        if not self.others:
            return message
        return message + "\n\n" + "\n".join(self._others_lines("en"))

    def _others_lines(self, lang: str) -> list[str]:
        from .tour_text import text

        return [text("hb_others", lang, n=1 + len(self.others)),
                *(f"  - {other.headline(lang)}" for other in self.others)]

    def headline(self, lang: str = "en") -> str:
        """One line: the configuration and what went wrong there, in ``lang`` ("en", or
        "fa" where the message has its Persian)."""
        from .tour_text import in_language

        message = self.args[0] if self.args else super().__str__()
        return str(in_language(message, lang)).splitlines()[0]

    def text(self, lang: str = "en") -> str:
        """The headline and the comparison's table and diagnoses in ``lang`` ("en": the
        message; "fa": Persian where the words exist)."""
        from .display import language
        from .tour_text import in_language

        lang = language(lang, "HandBackwardError.text")
        if lang == "en":
            return "\n".join([self.headline(lang), *str(self).splitlines()[1:]])
        if self.comparison is None:
            message = str(in_language(self.args[0] if self.args else "", lang))
        else:
            message = "\n".join([self.headline(lang), self.comparison.text(lang)])
        return message + ("\n\n" + "\n".join(self._others_lines(lang)) if self.others else "")

    def html(self, lang: str | None = None) -> str:
        """The headline, the comparison's own HTML (when there is one), the others' lines;
        ``lang`` None: the language of ``tr.display.set_language``."""
        from .display import block, language, paragraph

        lang = language(lang, "HandBackwardError.html")
        parts = [paragraph(self.headline(lang), good=False)]
        if self.comparison is not None:
            parts.append(self.comparison.html(lang))
        parts += [paragraph(f"- {other.headline(lang)}") for other in self.others]
        return block(parts, lang)

    def _repr_html_(self) -> str:
        return self.html()


@dataclass(frozen=True)
class HandBackwardReport:
    """What a passing ``check_hand_backward`` checked; ``str()`` gives a summary line,
    what was covered, and the table of the configuration with the worst error.

    Attributes:
        name: ``check_hand_backward[<the hand backward's name>]``.
        configs: every distinct configuration tried, in the order tried.
        worst_error: the largest relative error of any gradient in any of them.
        worst_name, worst_config: the gradient and the configuration where it was.
        worst_comparison: the ``tr.compare_grads`` result of that configuration.
    """

    name: str
    configs: tuple[RecurrentConfig, ...]
    worst_error: float
    worst_name: str
    worst_config: RecurrentConfig
    worst_comparison: GradComparison

    @property
    def ok(self) -> bool:
        """True: a report is only returned on a pass (a failure raises)."""
        return True

    @classmethod
    def of(cls, name: str, passed: Mapping[RecurrentConfig, GradComparison]) -> HandBackwardReport:
        def worst_row(comparison: GradComparison) -> Any:
            return max(comparison.rows, key=lambda row: row.max_rel_error)

        config = max(passed, key=lambda c: worst_row(passed[c]).max_rel_error)
        row = worst_row(passed[config])
        return cls(name, tuple(passed), row.max_rel_error, row.name, config, passed[config])

    def _lines(self, lang: str) -> list[str]:
        from .tour_text import text

        return [text("hand_backward_ok", lang, name=self.name, n=len(self.configs),
                     worst=self.worst_error, worst_name=self.worst_name),
                text("hand_backward_tried", lang, coverage=_coverage(self.configs, lang)),
                text("hand_backward_worst", lang, config=self.worst_config)]

    def text(self, lang: str = "en") -> str:
        """The summary line, what was covered and the worst configuration's table, in
        ``lang`` ("en": ``str()``, or "fa")."""
        return "\n".join([*self._lines(lang), self.worst_comparison.text(lang)])

    def __str__(self) -> str:
        return self.text()

    def html(self, lang: str | None = None) -> str:
        """The same as ``text(lang)`` as HTML (the table as ``compare_grads``' own)."""
        from .display import block, language, paragraph

        lang = language(lang, "HandBackwardReport.html")
        head, tried, worst = self._lines(lang)
        return block([paragraph(head, good=True, bold=True), paragraph(tried), paragraph(worst),
                      self.worst_comparison.html(lang)], lang)

    def _repr_html_(self) -> str:
        return self.html()


def _diagnoses_of(comparison: GradComparison | None) -> list[Any]:
    """The comparison's diagnoses (each with ``name``, ``kind`` and ``message``)."""
    return [] if comparison is None else list(comparison.diagnoses)


def _coverage(configs: Sequence[RecurrentConfig], lang: str = "en") -> str:
    """What the configurations span: "kinds rnn, gru; T 1-5; ...; bias True/False"."""
    kinds = sorted({c.kind for c in configs}, key=RECURRENT_KINDS.index)
    from .tour_text import text

    parts = [text("hand_backward_kinds", lang, kinds=", ".join(kinds))]
    for field, label in (("seq_len", "T"), ("batch", "N"), ("input_size", "I"),
                         ("hidden_size", "H"), ("num_layers", "layers")):
        low, high = min(getattr(c, field) for c in configs), max(getattr(c, field) for c in configs)
        parts.append(f"{label} {low}" if low == high else f"{label} {low}-{high}")
    for field in _FLAG_FIELDS:
        parts.append(f"{field} " + "/".join(str(v) for v in sorted({getattr(c, field)
                                                                     for c in configs})))
    return "; ".join(parts)


def _autograd_grads(layer: Module, x: np.ndarray, d_out: np.ndarray) -> dict[str, np.ndarray]:
    xt = Tensor(x.copy(), requires_grad=True)
    out, _ = layer(xt)
    out.backward(d_out)
    grads = {name: np.zeros(p.shape) if p.grad is None else p.grad.copy()
             for name, p in layer.named_parameters()}
    grads["x"] = xt.grad
    return grads


def _unhandled_hint(config: RecurrentConfig, constrained: Iterable[str]) -> str:
    """How to say in arguments that the backward does not handle what ``config`` has."""
    departures = {"bias": "bias=True" if not config.bias else None,
                  "batch_first": "batch_first=False" if config.batch_first else None,
                  "bidirectional": "bidirectional=False" if config.bidirectional else None,
                  "num_layers": "num_layers=1" if config.num_layers > 1 else None}
    says = [v for k, v in departures.items() if v is not None and k not in constrained]
    if not says:
        return ""
    from .tour_text import said

    return said("hb_hint", says=", ".join(says))


def _calling(what: str, config: RecurrentConfig, hint: str, fn: Callable[..., Any],
             *args: Any) -> Any:
    """``fn(*args)``; an exception it raises becomes a HandBackwardError for ``config``,
    the original chained as its ``__cause__`` (``what``: a key of tour_text, hb_who_*)."""
    from .tour_text import said

    try:
        return fn(*args)
    except hypothesis.errors.HypothesisException:
        raise  # Hypothesis's own control flow (an assume(), say), not a failure
    except Exception as error:
        raise HandBackwardError(said("hb_raised", what=said(what), error_type=type(error).__name__,
                                     error=error, config=config, hint=hint),
                                config) from error


def _gradients_by_name(hand: Any, expected: Mapping[str, np.ndarray],
                       config: RecurrentConfig) -> dict[str, np.ndarray]:
    """The hand backward's gradients under the layer's names (a one-layer layer's
    ``_l0`` may be left out); names autograd does not know are ignored."""
    from .tour_text import said

    if not isinstance(hand, Mapping):
        raise HandBackwardError(said("hb_not_a_dict", given=describe(hand), config=config),
                                config)
    actual = {}
    for name, value in hand.items():
        key = name if name in expected else f"{name}_l0"
        if key not in expected:
            continue
        try:
            actual[key] = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise HandBackwardError(said("hb_not_numbers", name=name, given=describe(value),
                                         config=config), config) from None
    return actual


def _size(config: RecurrentConfig | None) -> tuple:
    """How large a configuration is: the one of several failures to report first."""
    if config is None:
        return (float("inf"),)
    return (config.num_layers * (2 if config.bidirectional else 1), config.seq_len,
            config.batch, config.input_size, config.hidden_size, config.batch_first,
            not config.bias, config.kind, config.seed)


def _failures(error: BaseException) -> list[BaseException]:
    """The failures in what Hypothesis raised: one, or the leaves of an exception group."""
    inner = getattr(error, "exceptions", None)
    if not isinstance(inner, (list, tuple)):
        return [error]
    return [leaf for e in inner for leaf in _failures(e)]


def _one_failure(error: BaseException) -> HandBackwardError | None:
    """The failure at the smallest configuration, the others attached; None when
    ``error`` is not made of HandBackwardErrors (then it is not the backward's fault)."""
    failures = _failures(error)
    if not all(isinstance(f, HandBackwardError) for f in failures):
        return None
    ours = sorted((f for f in failures if isinstance(f, HandBackwardError)),
                  key=lambda f: _size(f.config))
    first, *others = ours
    first.others = others
    return first


def _hand_configs(configs: Any,
                  constraints: Sequence[_Constraint]) -> st.SearchStrategy[RecurrentConfig]:
    """The strategy to draw from: ``configs`` (a strategy, one configuration, or a list
    of them) restricted to ``constraints``."""
    def admitted(config: RecurrentConfig) -> bool:
        return all(c.admits(config) for c in constraints)

    if isinstance(configs, st.SearchStrategy):
        return configs.filter(admitted) if constraints else configs
    if isinstance(configs, RecurrentConfig):
        configs = [configs]
    if (not isinstance(configs, (list, tuple)) or not configs
            or not all(isinstance(c, RecurrentConfig) for c in configs)):
        raise TypeError(f"check_hand_backward: configs must be a strategy of RecurrentConfig "
                        f"(see recurrent_configs), a RecurrentConfig, a non-empty list of "
                        f"them, or None, got {describe(configs)}")
    kept = [c for c in configs if admitted(c)]
    if not kept:
        raise ValueError(f"check_hand_backward: none of the {len(configs)} configurations "
                         f"given satisfies {', '.join(map(str, constraints))}")
    return st.sampled_from(kept)


def _hand_settings(settings: hypothesis.settings | None) -> hypothesis.settings:
    """The settings given (default: the loaded profile), without a deadline (time is
    not what is checked) or the explain phase (it reruns a failure hundreds of times
    to annotate Hypothesis's report, whose configuration our message already names)."""
    settings = hypothesis.settings() if settings is None else settings
    phases = tuple(p for p in settings.phases if p is not hypothesis.Phase.explain)
    return hypothesis.settings(settings, deadline=None, phases=phases)


def check_hand_backward(hand_fn: Callable[..., Mapping[str, ArrayLike]],
                        configs: st.SearchStrategy[RecurrentConfig] | RecurrentConfig
                        | Sequence[RecurrentConfig] | None = None,
                        make_layer: Callable[[RecurrentConfig], Module] | None = None, *,
                        kinds: str | Sequence[str] | None = None,
                        bias: bool | Sequence[bool] | None = None,
                        num_layers: int | tuple[int, int] | None = None,
                        bidirectional: bool | Sequence[bool] | None = None,
                        batch_first: bool | Sequence[bool] | None = None,
                        seq_len: int | tuple[int, int] | None = None,
                        batch: int | tuple[int, int] | None = None,
                        input_size: int | tuple[int, int] | None = None,
                        hidden_size: int | tuple[int, int] | None = None,
                        rtol: float = 1e-7, atol: float = 1e-10,
                        settings: hypothesis.settings | None = None) -> HandBackwardReport:
    """Check a hand-written backward against the graph's gradients, on many configurations.

    For each drawn configuration: the layer's output ``out`` (its first return
    value) for the input ``x``, and the scalar ``L = sum(d_outputs * out)``;
    autograd gives dL/d(every parameter) and dL/dx, and ``hand_fn`` must give the same.
    Say what your backward handles with the constraints, e.g. ``kinds="rnn",
    bias=True, num_layers=1, bidirectional=False, batch_first=False``.

    Arguments:
        hand_fn: ``hand_fn(state_dict, x, d_outputs) -> {name: gradient}``, numpy
            in and out; names as in ``layer.state_dict()`` (for a one-layer
            layer, without the ``_l0`` suffix too, as ``tinygrad_rnn.reference``
            gives them), plus optionally ``"x"``. Every parameter must be
            there; other names (``"h0"``, a bias the layer does not have) are ignored.
        configs: where configurations come from: None (``recurrent_configs`` of the
            constraints), a strategy of ``RecurrentConfig`` (constraints given too
            filter it), one ``RecurrentConfig`` (to re-run a failure) or a list of them.
        make_layer: ``make_layer(config) -> layer`` (default ``config.layer()``).
        kinds, bias, num_layers, bidirectional, batch_first, seq_len, batch,
            input_size, hidden_size: constraints, as ``recurrent_configs`` takes them
            (a value, a sequence of values, or a (low, high) range of sizes); None:
            unconstrained.
        rtol, atol: a gradient agrees when ``allclose(hand, autograd, rtol, atol)``.
        settings: a ``hypothesis.settings`` (default: the loaded profile). Its
            deadline and explain phase are left out: time is not what is checked,
            and the error names the failing configuration itself.

    Returns:
        a ``HandBackwardReport``: ``.configs`` tried, ``.worst_error`` and where,
        and ``str()`` with a summary line and the worst configuration's table.

    Raises ``HandBackwardError`` for any failure (a disagreement, a missing
    gradient, an exception inside ``hand_fn`` or ``make_layer``, chained as
    ``__cause__``), at the smallest configuration Hypothesis finds, with
    ``.config``, ``.comparison`` and ``.diagnoses``; when one run finds several
    distinct failures, the smallest is raised and the others are in ``.others``.
    Refuses, before running anything: a ``hand_fn`` or ``make_layer`` that is not
    callable, ``configs`` of another type, a constraint of the wrong type (TypeError);
    an unknown kind, an empty choice, a size below 1, a range whose low end is
    above its high end, a negative or non-finite tolerance, and constraints that no
    configuration of ``configs`` satisfies (ValueError).
    """
    from .compare import can_explain, compare_grads, diagnosis

    where = "check_hand_backward"
    if not callable(hand_fn):
        raise TypeError(f"{where}: hand_fn must be callable, got {describe(hand_fn)}")
    if make_layer is not None and not callable(make_layer):
        raise TypeError(f"{where}: make_layer must be callable or None, got {describe(make_layer)}")
    if settings is not None and not isinstance(settings, hypothesis.settings):
        raise TypeError(f"{where}: settings must be a hypothesis.settings or None, "
                        f"got {describe(settings)}")
    rtol = number(where, "rtol", rtol, minimum=0.0)
    atol = number(where, "atol", atol, minimum=0.0)
    specs: dict[str, Any] = dict(
        kinds=kinds, seq_len=seq_len, batch=batch, input_size=input_size, hidden_size=hidden_size,
        num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias)
    constraints = _constraints(where, specs)
    if configs is None:
        strategy = recurrent_configs(**{k: v for k, v in specs.items() if v is not None})
    else:
        strategy = _hand_configs(configs, constraints)
    constrained = {c.argument for c in constraints}
    passed: dict[RecurrentConfig, GradComparison] = {}

    def body(config: RecurrentConfig) -> None:
        if not isinstance(config, RecurrentConfig):
            raise TypeError(f"{where}: configs drew {describe(config)}, not a RecurrentConfig")
        hint = _unhandled_hint(config, constrained)
        layer = (config.layer() if make_layer is None
                 else _calling("hb_who_make_layer", config, "", make_layer, config))
        x, d_out = config.input(), config.d_outputs()
        expected = _calling("hb_who_autograd", config, "", _autograd_grads, layer, x, d_out)
        state = layer.state_dict()
        hand = _calling("hb_who_hand", config, hint, hand_fn,
                        {k: v.copy() for k, v in state.items()}, x.copy(), d_out.copy())
        actual = _gradients_by_name(hand, expected, config)
        # (a layer the comparison can recompute candidate mistakes for: it can then name
        # mistakes that leave no trace but in the summed gradients, a dropped carry)
        model = layer if can_explain(layer) else None
        comparison = (compare_grads({k: expected[k] for k in actual}, actual, rtol=rtol,
                                    atol=atol, model=model, inputs=x if model else None,
                                    loss_fn=lambda out: (out * d_out).sum())
                      if actual else None)
        missing = [name for name in state if name not in actual]
        if missing:
            diagnoses = _diagnoses_of(comparison) + [
                diagnosis(name, "missing", "diag_missing_hand") for name in missing]
            from .tour_text import said

            raise HandBackwardError(said("hb_no_gradient", config=config, missing=missing,
                                         gave=sorted(map(str, hand)), hint=hint),
                                    config, comparison, diagnoses)
        assert comparison is not None  # (every parameter has a gradient, so some do)
        if not comparison.ok:
            summary, table = comparison.summary, str(comparison)
            if table.startswith(summary):  # (a comparison that prints its summary first)
                table = table[len(summary):].lstrip("\n")
            from .tour_text import said_as, text

            message = said_as({lang: text("hand_backward_disagrees", lang, config=config,
                                          summary=comparison._summary(lang)) + "\n" + table
                               for lang in ("en", "fa")})
            raise HandBackwardError(message, config, comparison)
        passed[config] = comparison

    settings = _hand_settings(settings)
    failure = None
    try:
        _run_given(strategy, body, f"{where}[{getattr(hand_fn, '__name__', 'hand_fn')}]",
                   settings)
    except (hypothesis.errors.Unsatisfiable, hypothesis.errors.FailedHealthCheck) as error:
        if configs is None or not constraints:
            raise
        raise ValueError(f"{where}: configs draws (almost) no configuration that satisfies "
                         f"{', '.join(map(str, constraints))}") from error
    except Exception as error:
        failure = _one_failure(error)
        if failure is None:
            raise
    if failure is not None:
        raise failure  # (out of the except block: not "during handling of" the group)
    if not passed:  # (settings whose phases draw nothing, say)
        raise ValueError(f"{where}: no configuration was tried: check the settings' phases "
                         f"and max_examples")
    return HandBackwardReport.of(f"{where}[{getattr(hand_fn, '__name__', 'hand_fn')}]", passed)
