"""An op to check, described once: ``OpCase``, its inputs, a fixed example.

``OpCase`` holds everything the checks need about one op (or any function of
tensors): the function, how to draw its inputs, the same maths in numpy and in
torch, and, for the built-in ops of ``op_cases.py``, which ``ops.Function``
classes it exercises and the line of ``docs/api.md`` that documents it.

This module needs numpy only, and so does ``op_cases.py``, the table built from
it: ``python -m tinygrad_rnn gradcheck`` runs every case's fixed example with
numpy alone. The Hypothesis side (strategies, the checks that draw many
examples) is ``testing.py``. A case may therefore name its strategy instead of
building it: ``strategy.arrays(elements=(-8.0, 8.0))`` is built into
``testing.arrays(elements=(-8.0, 8.0))`` when a test first draws from it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .tensor import Tensor

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy
    from numpy.typing import DTypeLike

__all__ = ["BOUNDS", "POSITIVE", "CHECK_NAMES", "Inputs", "unpack", "shift_from_zero",
           "ExampleArrays", "shapes", "StrategyRef", "strategy", "Doc", "OpCase"]

BOUNDS = (-3.0, 3.0)  # the elements of an input array, unless a case says otherwise
POSITIVE = (0.5, 3.0)  # inputs of log and sqrt, denominators

# What ``testing.CHECKS`` runs on a case, in the order the test suite reports them.
CHECK_NAMES = ("gradients", "forward", "torch", "no_mutation", "dtype")


# --------------------------------------------------------------------------- inputs


class Inputs(NamedTuple):
    """One example: the input arrays and keyword parameters (axis, index, ...).

    An example may also be a bare array (one input) or a tuple of arrays (no
    parameters); make an ``Inputs`` when parameters must agree with the shapes,
    e.g. ``Inputs((x,), {"axis": x.ndim - 1})``.
    """

    arrays: tuple
    params: dict


def unpack(example: Any) -> Inputs:
    """Any form of example as ``Inputs``, with a fresh tuple and dict."""
    if isinstance(example, Inputs):
        return Inputs(tuple(example.arrays), dict(example.params))
    if isinstance(example, np.ndarray):
        return Inputs((example,), {})
    return Inputs(tuple(example), {})


def shift_from_zero(array: np.ndarray, margin: float) -> np.ndarray:
    """Every element moved ``margin`` away from 0: a non-negative one up, a negative
    one down (to keep relu off its kink, 1/x finite)."""
    # shift rather than filter: Hypothesis never has to throw an example away
    return np.where(array >= 0, array + margin, array - margin).astype(array.dtype)


class ExampleArrays:
    """The arrays of a fixed example: uniform within bounds, from a seeded generator.

    A case's ``example`` is a function of one of these, e.g.
    ``lambda r: (r.array(3, 4), r.positive(3, 1))``, so the example is the same
    on every run and needs no Hypothesis.
    """

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def array(self, *shape: int, elements: tuple[float, float] = BOUNDS,
              avoid_zero: float = 0.0) -> np.ndarray:
        """A float64 array of ``shape``, elements in ``elements`` (then shifted
        ``avoid_zero`` away from 0, as ``testing.arrays`` does)."""
        values = self.rng.uniform(*elements, size=shape)
        return shift_from_zero(values, avoid_zero) if avoid_zero else values

    def positive(self, *shape: int) -> np.ndarray:
        """An array of elements in [0.5, 3]."""
        return self.array(*shape, elements=POSITIVE)


def shapes(*input_shapes: tuple[int, ...],
           elements: tuple[float, float] = BOUNDS) -> Callable[[ExampleArrays], tuple]:
    """An ``example`` of one array per shape: ``shapes((3, 4), (3, 1))``."""
    return lambda r: tuple(r.array(*shape, elements=elements) for shape in input_shapes)


# --------------------------------------------------------------------------- strategies, by name


@dataclass(frozen=True)
class StrategyRef:
    """A Hypothesis strategy named but not built (building one imports Hypothesis).

    ``strategy.reduction()`` makes ``StrategyRef("reduction", (), {})``, and
    ``build()`` calls ``op_strategies.reduction()``. Arguments that are themselves
    references are built first.
    """

    name: str
    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def build(self) -> SearchStrategy[Any]:
        from . import op_strategies  # imports Hypothesis, only now

        def built(value: Any) -> Any:
            return value.build() if isinstance(value, StrategyRef) else value

        make = getattr(op_strategies, self.name)
        return make(*map(built, self.args), **{k: built(v) for k, v in self.kwargs.items()})

    def __repr__(self) -> str:
        arguments = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.name}({', '.join(arguments)})"


class _StrategyNames:
    """``strategy.NAME(*args, **kwargs)`` is ``StrategyRef(NAME, args, kwargs)``."""

    def __getattr__(self, name: str) -> Callable[..., StrategyRef]:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: StrategyRef(name, args, kwargs)


strategy = _StrategyNames()


# --------------------------------------------------------------------------- the case


class Doc(NamedTuple):
    """A row of the op table in docs/api.md: how to call the op (one call, or a tuple of
    them), torch's name for it, and what is worth knowing."""

    call: str | tuple
    torch: str
    what: str = ""


def _cast_floats(example: Any, dtype: DTypeLike) -> Inputs:
    arrays, params = unpack(example)
    return Inputs(tuple(a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays), params)


@dataclass(frozen=True)
class OpCase:
    """An op to check, described once.

    Arguments:
        name: shown in test ids and failure messages.
        fn: ``fn(*tensors, **params)`` -> Tensor, or a (nested) tuple of Tensors.
        inputs: a Hypothesis strategy of examples (an array, a tuple of arrays,
            or an ``Inputs(arrays, params)``), or a ``StrategyRef`` naming one.
        torch_fn: the same maths on torch tensors, ``torch_fn(*tensors, **params)``.
        numpy_fn: the same maths on numpy arrays, ``numpy_fn(*arrays, **params)``,
            returning an array or a sequence of arrays.
        grad_inputs: positions of the inputs that require grad (default: all);
            the others are constants, e.g. the numpy array in ``a @ x``.
        atol, rtol: tolerances of the finite-difference check.
        parity_tol: relative and absolute tolerance against numpy and torch in
            float64 (float32 examples use at least 1e-5).
        example: ``example(r)`` -> one fixed example, from an ``ExampleArrays`` r.
            Checked first on every run; ``python -m tinygrad_rnn gradcheck`` checks it.
        functions: names of the ``ops.Function`` classes it exercises.
        doc: its row in the op table of docs/api.md, if it has one.
        skip: {check name: why it does not apply}, e.g. a gradient that
            disagrees with finite differences by design.
    """

    name: str
    fn: Callable[..., Any]
    inputs: Any
    torch_fn: Callable[..., Any] | None = None
    numpy_fn: Callable[..., Any] | None = None
    grad_inputs: tuple | None = None
    atol: float = 1e-5
    rtol: float = 1e-3
    parity_tol: float = 1e-12
    example: Callable[[ExampleArrays], Any] | None = None
    functions: tuple = ()
    doc: Doc | None = None
    skip: Mapping[str, str] = field(default_factory=dict)

    def strategy(self) -> SearchStrategy[Any]:
        """The Hypothesis strategy of the inputs, built if the case only names it."""
        return self.inputs.build() if isinstance(self.inputs, StrategyRef) else self.inputs

    def fixed_example(self, seed: int = 0) -> Inputs | None:
        """The fixed example as ``Inputs`` (None when the case has none)."""
        return None if self.example is None else unpack(self.example(ExampleArrays(seed)))

    def checks(self) -> list[str]:
        """The names of the checks that apply: not skipped, and their twin given."""
        missing = {"forward": self.numpy_fn is None, "torch": self.torch_fn is None}
        return [c for c in CHECK_NAMES if c not in self.skip and not missing.get(c, False)]

    def with_dtype(self, dtype: DTypeLike) -> OpCase:
        """The same case with every floating input array cast to ``dtype``."""
        def cast(example: Any) -> Inputs:
            return _cast_floats(example, dtype)

        example = self.example
        return dataclasses.replace(
            self, name=f"{self.name}[{np.dtype(dtype).name}]", inputs=self.strategy().map(cast),
            example=None if example is None else (lambda r: cast(example(r))))

    def twice_differentiable(self) -> bool:
        """Do all the ops it exercises declare a backward that can be differentiated again
        (``Function.twice_differentiable``; issue 17), or pass no gradient at all (a
        comparison, detach)? False for a case naming none."""
        from . import ops
        fns = [getattr(ops, name) for name in self.functions]
        return bool(fns) and all(f.twice_differentiable or not f.differentiable for f in fns)

    def has_jvp(self) -> bool:
        """Do all the ops it exercises have a forward-mode rule (a static ``jvp``; issue 17,
        tr.func.jvp), or pass no gradient at all? False for a case naming none."""
        from . import ops
        fns = [getattr(ops, name) for name in self.functions]
        return bool(fns) and all(hasattr(f, "jvp") or not f.differentiable for f in fns)

    def requires_grad(self, i: int) -> bool:
        return self.grad_inputs is None or i in self.grad_inputs

    def tensors(self, arrays: Sequence[np.ndarray]) -> list[Tensor]:
        """Fresh leaf tensors over (not copies of) ``arrays``."""
        return [Tensor(a, requires_grad=self.requires_grad(i) and a.dtype.kind == "f")
                for i, a in enumerate(arrays)]
