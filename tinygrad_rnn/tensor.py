"""``Tensor``: a numpy array that remembers how it was computed.

A tensor holds its array (``.data``), its gradient (``.grad``, filled by
``backward()``), whether gradients are wanted (``requires_grad``) and the graph
node that computed it (``_node``, None for a leaf). Its methods are one-liners
that call an op (``x.tanh()`` is ``ops.Tanh.apply(x)``), so you can grep from a
method to the op that differentiates it. The engine that records ops and runs
the backward pass is ``autograd.py``; the ops are ``ops.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

import numpy as np

from . import arguments, autograd, ops
from .arguments import describe, is_int
from .autograd import (  # noqa: F401  (also importable from here, as they always were)
    Context,
    Function,
    ShapeError,
    enable_grad,
    is_grad_enabled,
    no_grad,
    unbroadcast,
)
from .dims import check_dim, check_dims, check_permutation, resolve_dim, resolve_keepdim

if TYPE_CHECKING:
    import builtins  # (inside class Tensor, ``float`` is the method Tensor.float)
    from typing import TypeAlias

    from numpy.typing import ArrayLike, DTypeLike

    # what an op takes for a tensor: a Tensor, or a number or array (a constant)
    TensorLike: TypeAlias = "Tensor | ArrayLike"

# --------------------------------------------------------------------------- Tensor


# the dtype kinds a tensor holds: bool, signed and unsigned int, float (complex, strings,
# dates and Python objects are refused, as torch refuses them or has no such tensor)
_NUMERIC_KINDS = frozenset("biuf")
_DATA = "a number, a (nested) list of numbers or a numeric numpy array"


def _as_array(data: ArrayLike, dtype: DTypeLike | None) -> np.ndarray:
    """Float arrays keep their dtype; Python numbers, lists, ints and bools become float64
    (unlike torch, which keeps ints as int64); ``dtype`` casts to any numeric dtype.
    Refuses None, strings, dicts, sets, ragged lists, complex and object data."""
    if dtype is None and isinstance(data, np.ndarray) and data.dtype.kind == "f":
        return data  # the common case, first: a float array is used as is (no copy)
    array = _numeric_array(data)
    if dtype is not None:
        return array.astype(_numeric_dtype(dtype), copy=False)
    return array if array.dtype.kind == "f" else array.astype(np.float64)


def _numeric_array(data: ArrayLike) -> np.ndarray:
    """``data`` as an ndarray of a numeric kind, refused in Tensor's words otherwise."""
    if isinstance(data, (str, bytes, dict, set, frozenset)) or data is None:
        raise TypeError(f"Tensor: data must be {_DATA}, got {arguments.describe(data)}")
    try:
        array = np.asarray(data)
    except ValueError:  # numpy's "inhomogeneous shape": lists of different lengths
        raise ValueError(f"Tensor: data must be {_DATA}, got ragged nested lists (their "
                         f"lengths differ): {arguments.describe(data)}") from None
    if array.dtype.kind in _NUMERIC_KINDS:
        return array
    if array.dtype.kind == "c":
        raise TypeError(f"Tensor: data must be {_DATA}, got complex numbers (dtype "
                        f"{array.dtype}); complex tensors are not supported")
    if array.dtype.kind == "O" and any(isinstance(v, Tensor) for v in array.flat):
        raise TypeError(f"Tensor: data must be {_DATA}, got a list holding Tensors; join "
                        f"tensors with tr.stack (which also keeps their graph)")
    what = _KIND_NAMES.get(array.dtype.kind, f"of dtype {array.dtype}")
    raise TypeError(f"Tensor: data must be {_DATA}, got {arguments.describe(data)}, whose "
                    f"values are {what}")


# how numpy reads data a tensor cannot hold, in the user's words
_KIND_NAMES = {"U": "strings", "S": "bytes", "O": "Python objects (or integers too large "
               "for int64)", "M": "dates", "m": "time spans", "V": "raw records"}


def _numeric_dtype(dtype: DTypeLike) -> np.dtype:
    """``dtype`` as a numpy dtype of a numeric kind (bool, int, uint, float)."""
    try:
        resolved = np.dtype(dtype)
    except (TypeError, ValueError):
        raise TypeError(f"Tensor: dtype must be a numeric numpy dtype such as np.float32, "
                        f"got {arguments.describe(dtype)}") from None
    if resolved.kind not in _NUMERIC_KINDS:
        raise TypeError(f"Tensor: dtype must be a numeric numpy dtype (bool, int or float) "
                        f"such as np.float32, got {resolved}")
    return resolved


class Tensor:
    """A numpy array that remembers how it was computed.

    Arguments:
        data: a number, a (nested) list of numbers, a numpy array or scalar, or
            a Tensor (its values). A float ndarray is used as is (no copy) and
            keeps its dtype; Python numbers, lists, bools and integer arrays
            become float64. NaN and infinities are kept, as in torch.
        requires_grad: a bool: record operations on this tensor so that
            ``backward`` can fill its ``.grad``. Only float tensors can.
        dtype: force a numeric dtype, e.g. ``np.float32`` (or an integer dtype
            for index tensors, which cannot require grad).
        name: a str label for graph drawings, or None.

    Raises:
        TypeError: data that is None, a string, a dict or set, complex or
            Python objects; a non-numeric ``dtype``; ``requires_grad`` that is
            not a bool, or True for an int or bool dtype.
        ValueError: ragged nested lists (rows of different lengths).
    """

    __slots__ = ("data", "grad", "_requires_grad", "_node", "_index", "_name", "__weakref__")
    data: np.ndarray
    grad: np.ndarray | None  # (a Tensor after backward(create_graph=True))
    _requires_grad: bool
    _node: Context | None
    _index: int
    _name: str | None
    # numpy functions given a Tensor call the package's ops (np.exp(t) is t.exp(),
    # ndarray + Tensor is Tensor.__radd__'s Add), so that an op's backward written with
    # numpy also runs on Tensors under create_graph; the others are refused. (numpy asks
    # only a non-ndarray argument for these: arrays alone pay nothing.)
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return _numpy_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return _numpy_function(func, args, kwargs)

    def __init__(self, data: TensorLike, requires_grad: bool = False,
                 dtype: DTypeLike | None = None, name: str | None = None) -> None:
        if requires_grad is not False and requires_grad is not True:  # (cheap when fine)
            requires_grad = arguments.flag("Tensor", "requires_grad", requires_grad)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Tensor: name must be a str or None, got "
                            f"{arguments.describe(name)}")
        if isinstance(data, Tensor):
            data = data.data
        self.data = _as_array(data, dtype)
        self.grad = None
        self._node = None
        self._index = 0
        self._requires_grad = False
        self._name = name
        self.requires_grad = requires_grad

    @staticmethod
    def _from_op(data: ArrayLike, node: Context | None, index: int) -> Tensor:
        """Output ``index`` of an op (``node`` is None when no graph is recorded); what
        ``Function.apply`` makes its results with.

        Skips ``Tensor.__init__``, whose checks forward has already settled: this
        runs once per op, so every attribute store counts.
        """
        t = _new_tensor(Tensor)
        t.data = data if isinstance(data, np.ndarray) else np.asarray(data)
        t.grad = None
        t._requires_grad = node is not None
        t._node = node
        t._index = index
        t._name = None
        return t

    @staticmethod
    def _constant(data: ArrayLike) -> Tensor:
        """A number or array that ``Function.apply`` was given among tensors."""
        return Tensor(data)

    # ----------------------------------------------------------------- properties
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value is not True and value is not False:  # (every Tensor() comes here: cheap first)
            value = arguments.flag("Tensor", "requires_grad", value)
        if value and self.data.dtype.kind != "f":
            raise TypeError(f"Tensor: only floating-point tensors can require grad, "
                            f"but this tensor has dtype {self.data.dtype}")
        if not value and self._node is not None:
            raise RuntimeError("Tensor: requires_grad can only be turned off on a leaf tensor; "
                               "use .detach() to cut a computed tensor from its graph")
        self._requires_grad = bool(value)

    @property
    def name(self) -> str | None:
        """A label for graph drawings (``viz``): a leaf's, or an op output's, which its
        node also keeps, since the graph links nodes rather than tensors."""
        return self._name

    @name.setter
    def name(self, value: str | None) -> None:
        self._name = value
        if self._node is not None:
            if self._node.names is None:
                self._node.names = {}
            self._node.names[self._index] = value

    @property
    def is_leaf(self) -> bool:
        """True for tensors not computed by a recorded op (inputs and parameters)."""
        return self._node is None

    @property
    def grad_fn(self) -> type[Function] | None:
        """The op that computed this tensor (None for a leaf)."""
        return None if self._node is None else self._node.fn

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        return len(self.data)

    # (short, as torch's: 4 decimals; past REPR_THRESHOLD elements, numpy's summary of the
    # first and last 3 along each axis, and the shape)
    REPR_THRESHOLD = 100

    def __repr__(self) -> str:
        """``Tensor([0.7616, 0.9640], grad_fn=<TanhBackward>)``: the values (summarised
        for a big tensor), a dtype other than float64, and the op that made it (or
        ``requires_grad=True`` for a leaf that needs a gradient)."""
        body = np.array2string(self.data, separator=", ", prefix="Tensor(", precision=4,
                               threshold=self.REPR_THRESHOLD, edgeitems=3)
        extra = f", shape={self.shape}" if self.data.size > self.REPR_THRESHOLD else ""
        if self.data.dtype != np.float64:
            extra += f", dtype={self.data.dtype}"
        if self._node is not None:
            extra += f", grad_fn=<{self._node.fn.__name__}Backward>"
        elif self._requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    def item(self) -> float:
        if self.data.size != 1:
            raise ValueError(f"item(): only a one-element tensor can be converted to a "
                             f"Python number, this one has shape {self.shape}")
        return self.data.item()

    def numpy(self) -> np.ndarray:
        return self.data

    def to(self, dtype: DTypeLike) -> Tensor:
        """This tensor in floating ``dtype`` (np.float32, "float64", ...), gradients
        flowing back in the original dtype, as torch's ``x.to(dtype)``."""
        if dtype is None:  # torch's x.to(None): nothing to change
            return self
        return ops.Cast.apply(self, dtype=arguments.float_dtype("to", dtype))

    def float(self) -> Tensor:
        """``to(np.float32)``."""
        return ops.Cast.apply(self, dtype=np.float32)

    def double(self) -> Tensor:
        """``to(np.float64)``."""
        return ops.Cast.apply(self, dtype=np.float64)

    def detach(self) -> Tensor:
        """The same values (shared memory), cut from the graph: gradients stop here."""
        return ops.Detach.apply(self)

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward."""
        if self._node is None:
            return  # leaves keep their gradient anyway
        if self._node.retained is None:
            self._node.retained = {}
        self._node.retained[self._index] = self

    def zero_grad(self) -> None:
        self.grad = None

    # ----------------------------------------------------------------- backward
    def backward(self, gradient: TensorLike | None = None, retain_graph: bool | None = None,
                 create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad.

        Arguments:
            gradient: dL/d(self), of self's shape. May be omitted only when self
                holds a single element (a loss), where it is 1.
            retain_graph: keep saved values so that backward can run again
                (default: ``create_graph``).
            create_graph: record the backward pass itself, so that the gradients can
                be differentiated again: ``.grad`` is then a Tensor with a graph (a
                numpy array otherwise). Every op on the way must be twice
                differentiable (docs/engine.md, "Gradients of gradients").
        """
        if create_graph is not False and arguments.flag("backward()", "create_graph",
                                                         create_graph):
            _backward_creating_graph(self, gradient, True if retain_graph is None else
                                     arguments.flag("backward()", "retain_graph", retain_graph))
            return
        if retain_graph is None:
            retain_graph = False
        if not self._requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad, so no graph "
                               "leads to it; create its inputs with requires_grad=True")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward(): this tensor has shape {self.shape}, not a single element, "
                    f"so pass the gradient of the loss with respect to it, e.g. "
                    f"y.backward(np.ones({self.shape})), or reduce it first: y.sum().backward()")
            gradient = np.empty(self.shape, dtype=self.dtype)  # (np.ones: Python layers)
            gradient.fill(1)
        else:
            gradient = np.asarray(as_argument("backward()", "gradient", gradient).data,
                                  dtype=self.dtype)
            if gradient.shape != self.shape:
                raise ValueError(f"backward(): gradient has shape {gradient.shape}, "
                                 f"but the tensor has shape {self.shape}")
        if self._node is None:  # a leaf: d self / d self
            self.grad = gradient.copy() if self.grad is None else self.grad + gradient
            return
        autograd.backward(self, gradient, retain_graph)

    # ----------------------------------------------------------------- arithmetic
    def _lift(self, other: TensorLike) -> Tensor:
        """A Python number takes this tensor's dtype if it is a float one (float32 stays
        float32; 0.5 next to a boolean or integer tensor stays 0.5)."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (int, float)):
            dtype = self.data.dtype
            return Tensor(np.asarray(other, dtype=dtype if dtype.kind == "f" else None))
        return Tensor(other)

    def __add__(self, other: TensorLike) -> Tensor:
        return ops.Add.apply(self, self._lift(other))

    def __radd__(self, other: TensorLike) -> Tensor:
        return ops.Add.apply(self._lift(other), self)

    def __sub__(self, other: TensorLike) -> Tensor:
        return ops.Sub.apply(self, self._lift(other))

    def __rsub__(self, other: TensorLike) -> Tensor:
        return ops.Sub.apply(self._lift(other), self)

    def __mul__(self, other: TensorLike) -> Tensor:
        return ops.Mul.apply(self, self._lift(other))

    def __rmul__(self, other: TensorLike) -> Tensor:
        return ops.Mul.apply(self._lift(other), self)

    def __truediv__(self, other: TensorLike) -> Tensor:
        return ops.Div.apply(self, self._lift(other))

    def __rtruediv__(self, other: TensorLike) -> Tensor:
        return ops.Div.apply(self._lift(other), self)

    def __matmul__(self, other: TensorLike) -> Tensor:
        return ops.Matmul.apply(self, self._lift(other))

    def __rmatmul__(self, other: TensorLike) -> Tensor:
        return ops.Matmul.apply(self._lift(other), self)

    def __neg__(self) -> Tensor:
        return ops.Neg.apply(self)

    def addmm(self, mat1: TensorLike, mat2: TensorLike) -> Tensor:
        """self + mat1 @ mat2 as one node (torch's Tensor.addmm; see ops.Addmm)."""
        return ops.Addmm.apply(self, mat1, mat2)

    def addcmul(self, tensor1: TensorLike, tensor2: TensorLike,
                value: builtins.float = 1.0) -> Tensor:
        """self + value * tensor1 * tensor2 as one node (torch's Tensor.addcmul)."""
        return addcmul(self, tensor1, tensor2, value)

    def lerp(self, end: TensorLike, weight: TensorLike) -> Tensor:
        """self + weight * (end - self) as one node (torch's Tensor.lerp)."""
        return lerp(self, end, weight)

    def __pow__(self, exponent: builtins.float | TensorLike) -> Tensor:
        """``x ** p`` for a real number ``p`` (a bool, a numpy scalar or a 0-d array too),
        ``x ** y`` for a tensor or array ``y`` (broadcasting, gradients to both, as
        torch.pow); a string or complex number is refused."""
        if isinstance(exponent, (int, float)):  # (Python numbers skip the checks: hot)
            return ops.Pow.apply(self, exponent=float(exponent))
        if isinstance(exponent, Tensor) or (isinstance(exponent, np.ndarray) and exponent.ndim
                                            and exponent.dtype.kind in "biuf"):
            return ops.PowTensor.apply(self, self._lift(exponent))
        return ops.Pow.apply(self, exponent=_real_exponent(exponent))

    def __rpow__(self, base: builtins.float | TensorLike) -> Tensor:
        """``2 ** x``: a real number (or numeric array) raised to this tensor, with the
        gradient ``2 ** x * log(2)`` as torch's."""
        if not is_number(base) and not (isinstance(base, np.ndarray)
                                        and base.dtype.kind in "biuf"):
            why = "; complex numbers are not supported" if isinstance(base, complex) else ""
            raise TypeError(f"pow: the base of base ** x must be a real number or a numeric "
                            f"array, got {arguments.describe(base)}{why}")
        return ops.PowTensor.apply(self._lift(base), self)

    # ----------------------------------------------------------------- elementwise
    def exp(self) -> Tensor: return ops.Exp.apply(self)
    def log(self) -> Tensor: return ops.Log.apply(self)
    def tanh(self) -> Tensor: return ops.Tanh.apply(self)
    def sigmoid(self) -> Tensor: return ops.Sigmoid.apply(self)
    def relu(self) -> Tensor: return ops.Relu.apply(self)
    def sqrt(self) -> Tensor: return ops.Pow.apply(self, exponent=0.5)

    # ---- elementwise ops of issue 15 (ops-elem)
    def abs(self) -> Tensor: return ops.Abs.apply(self)
    def __abs__(self) -> Tensor: return ops.Abs.apply(self)
    def sign(self) -> Tensor: return ops.Sign.apply(self)
    def rsqrt(self) -> Tensor: return ops.Rsqrt.apply(self)
    def sin(self) -> Tensor: return ops.Sin.apply(self)
    def cos(self) -> Tensor: return ops.Cos.apply(self)
    def log1p(self) -> Tensor: return ops.Log1p.apply(self)
    def expm1(self) -> Tensor: return ops.Expm1.apply(self)

    def pow(self, exponent: builtins.float | TensorLike) -> Tensor:
        """``self ** exponent`` (torch's Tensor.pow): a number or a tensor exponent."""
        return self ** exponent

    def clamp(self, min: builtins.float | TensorLike | None = None,
              max: builtins.float | TensorLike | None = None) -> Tensor:
        """Each element held in [min, max], as torch.clamp: ``min`` and ``max`` numbers,
        tensors (broadcasting) or None, not both None. Where min > max every element is
        max. The gradient passes where min <= x <= max, the bounds included, as torch's."""
        return clamp(self, min, max)

    def clip(self, min: builtins.float | TensorLike | None = None,
             max: builtins.float | TensorLike | None = None) -> Tensor:
        """``clamp`` under numpy's name, as torch.clip."""
        return _clamp("clip", self, min, max)

    def maximum(self, other: TensorLike) -> Tensor:
        """The larger of self and other, elementwise (torch.maximum): a tie splits the
        gradient in halves, as torch's."""
        return ops.Maximum.apply(self, self._lift(_operand("maximum", "other", other)))

    def minimum(self, other: TensorLike) -> Tensor:
        """The smaller of self and other, elementwise (torch.minimum): a tie splits the
        gradient in halves, as torch's."""
        return ops.Minimum.apply(self, self._lift(_operand("minimum", "other", other)))

    def where(self, condition: TensorLike, other: TensorLike) -> Tensor:
        """``tr.where(condition, self, other)``, as torch's Tensor.where."""
        return where(condition, self, other)

    def masked_fill(self, mask: TensorLike, value: builtins.float | Tensor) -> Tensor:
        """``value`` where the boolean ``mask`` is True, self elsewhere (torch's
        masked_fill; the mask broadcasts). ``value`` is a number, or a 0-d tensor that
        gets the gradient of every element it fills."""
        mask_t = _boolean("masked_fill", "mask", mask)
        if isinstance(value, Tensor):
            if value.ndim:
                raise ValueError(f"masked_fill: value must be a number or a 0-d tensor, got "
                                 f"a tensor of shape {value.shape}")
            if value.dtype != self.dtype and self.dtype.kind == "f":
                value = value.to(self.dtype)  # (torch keeps self's dtype)
        elif not is_number(value):
            raise TypeError(f"masked_fill: value must be a number or a 0-d tensor, got "
                            f"{arguments.describe(value)}")
        return ops.Where.apply(mask_t, self._lift(value), self)

    # comparisons: boolean tensors that do not require grad, as torch's. ``==`` and
    # ``!=`` compare elements too (as torch), and tensors stay hashable by identity.
    def __lt__(self, other: TensorLike) -> Tensor: return self._compare(ops.Lt, other)
    def __le__(self, other: TensorLike) -> Tensor: return self._compare(ops.Le, other)
    def __gt__(self, other: TensorLike) -> Tensor: return self._compare(ops.Gt, other)
    def __ge__(self, other: TensorLike) -> Tensor: return self._compare(ops.Ge, other)
    def __eq__(self, other: object) -> Tensor: return self._compare(ops.Eq, other)  # type: ignore[override]  # noqa: E501
    def __ne__(self, other: object) -> Tensor: return self._compare(ops.Ne, other)  # type: ignore[override]  # noqa: E501
    __hash__ = object.__hash__  # (defining __eq__ would otherwise unset it)
    def lt(self, other: TensorLike) -> Tensor: return self._compare(ops.Lt, other, "lt")
    def le(self, other: TensorLike) -> Tensor: return self._compare(ops.Le, other, "le")
    def gt(self, other: TensorLike) -> Tensor: return self._compare(ops.Gt, other, "gt")
    def ge(self, other: TensorLike) -> Tensor: return self._compare(ops.Ge, other, "ge")
    def eq(self, other: TensorLike) -> Tensor: return self._compare(ops.Eq, other, "eq")
    def ne(self, other: TensorLike) -> Tensor: return self._compare(ops.Ne, other, "ne")

    def _compare(self, op: type[Function], other: object, method: str | None = None) -> Any:
        """``op`` applied to self and ``other`` (a Tensor, a real number or a numeric
        array); for anything else NotImplemented (an operator: Python then says so, or
        ``==`` is False) or, from a ``method``, a TypeError naming it."""
        if isinstance(other, Tensor):
            return op.apply(self, other)
        if is_number(other) or (isinstance(other, np.ndarray) and other.dtype.kind in "biuf"):
            return op.apply(self, self._lift(other))  # type: ignore[arg-type]
        if method is None:
            return NotImplemented
        raise TypeError(f"{method}: other must be a Tensor, a real number or a numeric "
                        f"array, got {arguments.describe(other)}")

    # ---- boolean logic of issue 15 (protocol-polish): as torch's, boolean results
    # without gradient. The operators take boolean operands only (torch's & | ^ ~ on
    # other dtypes are bitwise); the methods read any number as a truth value, as torch.
    def __invert__(self) -> Tensor: return ops.LogicalNot.apply(_logical("~x", "x", self))
    def __and__(self, other: TensorLike) -> Tensor: return self._logic(ops.LogicalAnd, "&", other)
    def __or__(self, other: TensorLike) -> Tensor: return self._logic(ops.LogicalOr, "|", other)
    def __xor__(self, other: TensorLike) -> Tensor: return self._logic(ops.LogicalXor, "^", other)
    def __rand__(self, other: TensorLike) -> Tensor:
        return self._logic(ops.LogicalAnd, "&", other, reflected=True)

    def __ror__(self, other: TensorLike) -> Tensor:
        return self._logic(ops.LogicalOr, "|", other, reflected=True)

    def __rxor__(self, other: TensorLike) -> Tensor:
        return self._logic(ops.LogicalXor, "^", other, reflected=True)

    def _logic(self, op: type[Function], symbol: str, other: object,
               reflected: bool = False) -> Tensor:
        left, right = (other, self) if reflected else (self, other)
        where = f"x {symbol} y"
        return op.apply(_logical(where, "x", left), _logical(where, "y", right))

    def logical_not(self) -> Tensor:
        """not self, elementwise, as torch.logical_not: a boolean tensor (a nonzero
        number is true), without gradient."""
        return ops.LogicalNot.apply(self)

    def logical_and(self, other: TensorLike) -> Tensor:
        """self and other, elementwise (broadcasting), as torch.logical_and: a boolean
        tensor (a nonzero number is true), without gradient."""
        return ops.LogicalAnd.apply(self, self._truth_operand("logical_and", other))

    def logical_or(self, other: TensorLike) -> Tensor:
        """self or other, elementwise, as torch.logical_or (see logical_and)."""
        return ops.LogicalOr.apply(self, self._truth_operand("logical_or", other))

    def logical_xor(self, other: TensorLike) -> Tensor:
        """self xor other, elementwise, as torch.logical_xor (see logical_and)."""
        return ops.LogicalXor.apply(self, self._truth_operand("logical_xor", other))

    def _truth_operand(self, fn: str, other: object) -> Tensor:
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (bool, np.bool_)):
            return Tensor(np.asarray(other), dtype=np.bool_)
        return self._lift(_operand(fn, "other", other))  # type: ignore[arg-type]

    def any(self, dim: int | tuple[int, ...] | None = None, keepdim: bool | None = None, *,
            axis: int | tuple[int, ...] | None = None, keepdims: bool | None = None) -> Tensor:
        """Is any element true (nonzero) over ``dim`` (an int or a tuple; all dims when
        None; none when (), as torch), as torch.any: a boolean tensor, without gradient."""
        return self._truth("any", ops.AnyTrue, dim, keepdim, axis, keepdims)

    def all(self, dim: int | tuple[int, ...] | None = None, keepdim: bool | None = None, *,
            axis: int | tuple[int, ...] | None = None, keepdims: bool | None = None) -> Tensor:
        """Is every element true (nonzero) over ``dim``, as torch.all (see any)."""
        return self._truth("all", ops.AllTrue, dim, keepdim, axis, keepdims)

    def _truth(self, fn: str, op: type[Function], dim: Any, keepdim: bool | None, axis: Any,
               keepdims: bool | None) -> Tensor:
        dim = resolve_dim(fn, dim, axis)
        keep = resolve_keepdim(fn, keepdim, keepdims)
        # (torch's any and all reduce no dim for dim=(), unlike its sum)
        dims = () if isinstance(dim, (tuple, list)) and not dim else check_dims(fn, dim, self.shape)
        return op.apply(self, axis=dims, keepdims=keep)

    def _elementwise_extremum(self, fn: str, other: Tensor, keepdim: bool | None, axis: Any,
                              keepdims: bool | None) -> Tensor:
        """``x.max(other)``: ``x.maximum(other)``, as torch (``min``: minimum)."""
        if keepdim is not None or axis is not None or keepdims is not None:
            raise TypeError(f"{fn}: with a Tensor other ({fn}(other), elementwise) there is "
                            f"no dim nor keepdim, as torch's")
        return self.maximum(other) if fn == "max" else self.minimum(other)

    def __bool__(self) -> bool:
        """The truth of a one-element tensor, as torch's (``if (x > 0):``); any other
        size is ambiguous and refused, so that ``t in tensors`` cannot be silently true."""
        if self.data.size != 1:
            raise RuntimeError(f"bool(): the truth value of a tensor of shape {self.shape} "
                               f"is ambiguous (it has {self.data.size} elements, not one); "
                               f"reduce it first, e.g. (x > 0).numpy().any() or .all()")
        return bool(self.data)

    def __setitem__(self, index: Any, value: Any) -> NoReturn:
        """Refused: tensors are never changed in place (an op may have saved this one for
        backward). Build a new tensor instead, as the message says."""
        raise TypeError("Tensor: setting items in place (x[index] = value) is not "
                        "supported, since an op may have saved x for its backward; make a "
                        "new tensor instead: x.masked_fill(mask, value) or "
                        "tr.where(mask, value, x) to replace elements, tr.concat([...]) to "
                        "join parts")

    # ----------------------------------------------------------------- reductions
    # Axis arguments take torch's names and numpy's, with one meaning (see dims.py):
    # ``dim`` or ``axis``, ``keepdim`` or ``keepdims``.
    def sum(self, dim: int | tuple[int, ...] | None = None, keepdim: bool | None = None, *,
            axis: int | tuple[int, ...] | None = None, keepdims: bool | None = None) -> Tensor:
        """The sum over ``dim`` (an int or a tuple; all axes when None), as torch's
        ``x.sum(dim, keepdim=False)``; numpy's ``axis=`` and ``keepdims=`` also work.
        Refuses a dim out of range, not an int, or given twice (dims.check_dims)."""
        dims = check_dims("sum", resolve_dim("sum", dim, axis), self.shape)
        return ops.Sum.apply(self, axis=dims, keepdims=resolve_keepdim("sum", keepdim, keepdims))

    def mean(self, dim: int | tuple[int, ...] | None = None, keepdim: bool | None = None, *,
             axis: int | tuple[int, ...] | None = None, keepdims: bool | None = None) -> Tensor:
        """The mean over ``dim`` (an int or a tuple; all axes when None), as torch's
        ``x.mean(dim, keepdim=False)``; numpy's ``axis=`` and ``keepdims=`` also work.
        The mean over no elements is nan, as torch (and its gradient empty).
        Refuses a dim out of range, not an int, or given twice (dims.check_dims)."""
        dims = check_dims("mean", resolve_dim("mean", dim, axis), self.shape)
        return ops.Mean.apply(self, axis=dims, keepdims=resolve_keepdim("mean", keepdim, keepdims))

    # ----------------------------------------------------------------- shape
    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        if not all(is_int(n) for n in shape):
            raise TypeError(f"reshape: the shape must be ints, got "
                            f"{arguments.describe(shape if len(shape) != 1 else shape[0])}")
        return ops.Reshape.apply(self, shape=shape)

    def transpose(self, *axes: int | Sequence[int]) -> Tensor:
        """No axes: reverse them (numpy). Two axes: swap them (torch). All axes: permute.

        Two axes always swap, also on a 2-D tensor, where ``w.transpose(0, 1)``
        and ``w.transpose(-2, -1)`` are w.T as in torch (never the identity).
        Refuses dims out of range or not ints, and a permutation that is not one."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        if len(axes) == 2:
            a, b = (check_dim("transpose", ax, self.shape, scalar_ok=True) for ax in axes)
            perm = list(range(self.ndim))
            if perm:  # (a 0-d tensor takes dims 0 and -1, as torch, and stays as it is)
                perm[a], perm[b] = perm[b], perm[a]
            axes = tuple(perm)
        elif axes:
            axes = check_permutation("transpose", axes, self.shape)
        return ops.Transpose.apply(self, axes=axes or None)

    def permute(self, *axes: int | Sequence[int]) -> Tensor:
        """The dims in the order ``axes`` (negative ones count from the end), as torch.
        Refuses dims out of range or not ints, and a list that is not a permutation."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return ops.Transpose.apply(self, axes=check_permutation("permute", axes, self.shape))

    @property
    def T(self) -> Tensor:
        return ops.Transpose.apply(self, axes=None)

    def swapaxes(self, axis0: int, axis1: int) -> Tensor:
        """Dims ``axis0`` and ``axis1`` swapped, as torch's (and numpy's) swapaxes."""
        return self.transpose(axis0, axis1)

    def __getitem__(self, index: Any) -> Tensor:
        if isinstance(index, Tensor):  # an index tensor picks by its values
            index = index.data
        elif isinstance(index, tuple):
            index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
        return ops.GetItem.apply(self, index=index)

    def split(self, split_size_or_sections: int | Sequence[int], dim: int | None = None, *,
              axis: int | None = None) -> tuple[Tensor, ...]:
        """As torch.split, along ``dim`` (default 0, as torch; numpy's ``axis=`` also
        works): an int k gives parts of size k (the last may be smaller); a list gives
        parts of exactly those sizes. A dim of length 0 split by an int gives one empty
        part, as torch. An LSTM's gates are ``pre.split(H, dim=-1)``."""
        return ops.Split.apply(self, sizes=split_size_or_sections,
                               axis=resolve_dim("split", dim, axis, 0))

    def chunk(self, chunks: int, dim: int | None = None, *,
              axis: int | None = None) -> tuple[Tensor, ...]:
        """As torch.chunk, along ``dim`` (default 0, as torch; numpy's ``axis=`` also
        works): ``chunks`` parts of size ceil(n / chunks), the last smaller when n does
        not divide evenly (so there may be fewer than ``chunks`` parts); a dim of
        length 0 gives ``chunks`` empty parts, as torch. An LSTM's gates are
        ``pre.chunk(4, dim=-1)``."""
        if not is_int(chunks) or chunks < 1:
            raise (ValueError if is_int(chunks) else TypeError)(
                f"chunk: chunks must be a positive integer, got {describe(chunks)}")
        dim = resolve_dim("chunk", dim, axis, 0)
        if self.ndim == 0:
            raise ShapeError("chunk: cannot chunk a 0-d tensor: it has no dim to cut along")
        n = self.data.shape[check_dim("chunk", dim, self.shape)]
        if n == 0:  # as torch: ``chunks`` empty parts
            return ops.Split.apply(self, sizes=[0] * int(chunks), axis=dim)
        return ops.Split.apply(self, sizes=-(-n // chunks), axis=dim)

    def unbind(self, dim: int | None = None, *, axis: int | None = None) -> tuple[Tensor, ...]:
        """As torch.unbind: the slices along ``dim`` (default 0; numpy's name ``axis=``
        also works), one node for all of them."""
        return ops.Unbind.apply(self, axis=resolve_dim("unbind", dim, axis, 0))

    # ----------------------------------------------------------------- reductions and shape
    # ops of issue 15 (ops-reduce): torch's names and semantics; every dim checked here
    def amax(self, dim: int | tuple[int, ...] = (), keepdim: bool | None = None, *,
             axis: int | tuple[int, ...] | None = None, keepdims: bool | None = None) -> Tensor:
        """The max over ``dim`` (an int or a tuple; all dims when () or None), as torch.amax;
        the gradient is shared evenly among tied elements, as torch's."""
        return self._extremum("amax", ops.Amax, dim, keepdim, axis, keepdims)

    def amin(self, dim: int | tuple[int, ...] = (), keepdim: bool | None = None, *,
             axis: int | tuple[int, ...] | None = None, keepdims: bool | None = None) -> Tensor:
        """The min over ``dim``, as torch.amin; ties share the gradient evenly."""
        return self._extremum("amin", ops.Amin, dim, keepdim, axis, keepdims)

    def _extremum(self, fn: str, op: type[Function], dim: Any, keepdim: bool | None,
                  axis: Any, keepdims: bool | None) -> Tensor:
        dims = check_dims(fn, resolve_dim(fn, dim, axis), self.shape)
        keep = resolve_keepdim(fn, keepdim, keepdims)
        _refuse_empty_reduction(fn, self.shape, dims)
        return op.apply(self, axis=dims, keepdims=keep)

    def max(self, dim: int | Tensor | None = None, keepdim: bool | None = None, *,
            axis: int | None = None, keepdims: bool | None = None) -> Tensor | MinMax:
        """As torch.max: no dim, the largest element (ties share the gradient, as torch's
        ``max()``); with an int ``dim``, ``(values, indices)`` along it, the indices an
        int64 tensor (the first of tied elements), all the gradient going to that index;
        with a Tensor, ``x.max(other)`` is ``x.maximum(other)``, as torch's."""
        return self._min_or_max("max", np.argmax, ops.Amax, dim, keepdim, axis, keepdims)

    def min(self, dim: int | Tensor | None = None, keepdim: bool | None = None, *,
            axis: int | None = None, keepdims: bool | None = None) -> Tensor | MinMax:
        """As torch.min: the smallest element, or ``(values, indices)`` along ``dim``;
        ``x.min(other)`` is ``x.minimum(other)``."""
        return self._min_or_max("min", np.argmin, ops.Amin, dim, keepdim, axis, keepdims)

    def _min_or_max(self, fn: str, arg: Any, op: type[Function], dim: Any,
                    keepdim: bool | None, axis: Any, keepdims: bool | None) -> Tensor | MinMax:
        if isinstance(dim, Tensor):  # x.max(other), as torch: elementwise
            return self._elementwise_extremum(fn, dim, keepdim, axis, keepdims)
        dim = resolve_dim(fn, dim, axis)
        keep = resolve_keepdim(fn, keepdim, keepdims)
        if dim is None:
            if keepdim is not None or keepdims is not None:
                raise TypeError(f"{fn}: keepdim needs a dim, as torch's; give dim=")
            _refuse_empty_reduction(fn, self.shape, None)
            return op.apply(self, axis=None, keepdims=False)
        if self.ndim == 0:  # (dim 0 or -1, as torch: the element itself, index 0)
            check_dim(fn, dim, self.shape, scalar_ok=True)
            return MinMax(ops.Reshape.apply(self, shape=()), self._arg_extremum(fn, arg, 0, keep))
        indices = self._arg_extremum(fn, arg, dim, True)
        at = check_dim(fn, dim, self.shape)
        values = ops.Gather.apply(self, axis=at, index=indices.data)  # all the gradient there
        if not keep:
            shape = self.shape[:at] + self.shape[at + 1:]
            values = ops.Reshape.apply(values, shape=shape)
            indices = Tensor(indices.data.reshape(shape), dtype=np.int64)
        return MinMax(values, indices)

    def argmax(self, dim: int | None = None, keepdim: bool | None = None, *,
               axis: int | None = None, keepdims: bool | None = None) -> Tensor:
        """As torch.argmax: the index of the largest element (of the flattened tensor when
        no dim), the first of ties; an int64 tensor, without gradient, that gather and
        index_select take as it is."""
        return self._arg_extremum("argmax", np.argmax, resolve_dim("argmax", dim, axis),
                                  resolve_keepdim("argmax", keepdim, keepdims))

    def argmin(self, dim: int | None = None, keepdim: bool | None = None, *,
               axis: int | None = None, keepdims: bool | None = None) -> Tensor:
        """As torch.argmin: the index of the smallest element; see argmax."""
        return self._arg_extremum("argmin", np.argmin, resolve_dim("argmin", dim, axis),
                                  resolve_keepdim("argmin", keepdim, keepdims))

    def _arg_extremum(self, fn: str, arg: Any, dim: Any, keep: bool) -> Tensor:
        if dim is None:
            _refuse_empty_reduction(fn, self.shape, None)
            index = np.asarray(arg(self.data), dtype=np.int64)
            return Tensor(index.reshape((1,) * self.ndim) if keep else index, dtype=np.int64)
        axis = check_dim(fn, dim, self.shape, scalar_ok=True)
        if self.ndim == 0:
            return Tensor(np.zeros((), dtype=np.int64), dtype=np.int64)
        _refuse_empty_reduction(fn, self.shape, axis)
        return Tensor(arg(self.data, axis=axis, keepdims=keep), dtype=np.int64)

    def logsumexp(self, dim: int | tuple[int, ...], keepdim: bool | None = None, *,
                  keepdims: bool | None = None) -> Tensor:
        """log(sum(exp(x))) over ``dim`` (required, as torch's), without overflow."""
        dims = check_dims("logsumexp", dim, self.shape)
        return ops.LogSumExp.apply(self, axis=dims,
                                   keepdims=resolve_keepdim("logsumexp", keepdim, keepdims))

    def var(self, dim: int | tuple[int, ...] | None = None, unbiased: bool | None = None,
            keepdim: bool | None = None, *, correction: builtins.float | None = None,
            axis: int | tuple[int, ...] | None = None, keepdims: bool | None = None) -> Tensor:
        """The variance over ``dim`` (all dims when None), dividing by n - correction
        (``correction=1`` by default, Bessel's; torch's older ``unbiased=False`` is
        correction 0), as torch.var; nan where n - correction <= 0, as torch."""
        return self._spread("var", ops.Var, dim, unbiased, keepdim, correction, axis, keepdims)

    def std(self, dim: int | tuple[int, ...] | None = None, unbiased: bool | None = None,
            keepdim: bool | None = None, *, correction: builtins.float | None = None,
            axis: int | tuple[int, ...] | None = None, keepdims: bool | None = None) -> Tensor:
        """sqrt(var) over ``dim``, as torch.std; the gradient at a constant slice (std 0)
        is 0, as torch's."""
        return self._spread("std", ops.Std, dim, unbiased, keepdim, correction, axis, keepdims)

    def _spread(self, fn: str, op: type[Function], dim: Any, unbiased: bool | None,
                keepdim: bool | None, correction: Any, axis: Any,
                keepdims: bool | None) -> Tensor:
        dims = check_dims(fn, resolve_dim(fn, dim, axis), self.shape)
        keep = resolve_keepdim(fn, keepdim, keepdims)
        if unbiased is not None and correction is not None:
            raise TypeError(f"{fn}: got unbiased={unbiased!r} and correction={correction!r}; "
                            f"give one (unbiased=False is correction=0)")
        if correction is None:
            correction = 1.0 if unbiased is None or arguments.flag(fn, "unbiased", unbiased) \
                else 0.0
        correction = arguments.number(fn, "correction", correction)
        return op.apply(self, axis=dims, correction=correction, keepdims=keep)

    def norm(self, p: builtins.float | str = "fro", dim: int | tuple[int, ...] | None = None,
             keepdim: bool | None = None, *, axis: int | tuple[int, ...] | None = None,
             keepdims: bool | None = None) -> Tensor:
        """The p-norm over ``dim`` (all dims when None), as torch.norm: p > 0, inf (the
        largest |x|), or 'fro' (p = 2, the default); the gradient at a zero norm is 0."""
        if p == "fro":
            p = 2.0
        elif isinstance(p, str) or not arguments.is_real(p) or not p > 0:
            raise (ValueError if isinstance(p, str) or arguments.is_real(p) else TypeError)(
                f"norm: p must be a number > 0, inf or 'fro', got {describe(p)}")
        dims = check_dims("norm", resolve_dim("norm", dim, axis), self.shape)
        return ops.Norm.apply(self, p=builtins_float(p), axis=dims,
                              keepdims=resolve_keepdim("norm", keepdim, keepdims))

    def cumsum(self, dim: int | None = None, *, axis: int | None = None) -> Tensor:
        """The running sum along ``dim`` (required, as torch's), as torch.cumsum."""
        dim = resolve_dim("cumsum", dim, axis)
        if dim is None:
            raise TypeError("cumsum: dim is required (an int), as torch's")
        return ops.Cumsum.apply(self, axis=check_dim("cumsum", dim, self.shape, scalar_ok=True))

    def squeeze(self, dim: int | tuple[int, ...] | None = None) -> Tensor:
        """This tensor without the dims of size 1 among ``dim`` (all of them when None),
        as torch.squeeze: a dim of another size stays; a reshape."""
        if dim is None:
            dims: tuple[int, ...] = tuple(range(self.ndim))
        else:
            checked = check_dims("squeeze", dim, self.shape)
            dims = (tuple(range(self.ndim)) if checked is None else
                    (checked,) if isinstance(checked, int) else checked)
        shape = tuple(n for i, n in enumerate(self.shape) if n != 1 or i not in dims)
        return ops.Reshape.apply(self, shape=shape)

    def unsqueeze(self, dim: int) -> Tensor:
        """This tensor with a dim of size 1 inserted at ``dim`` (-ndim-1..ndim), as
        torch.unsqueeze; a reshape."""
        at = check_dim("unsqueeze", dim, self.shape, new_axis=True)
        return ops.Reshape.apply(self, shape=self.shape[:at] + (1,) + self.shape[at:])

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Dims ``start_dim`` to ``end_dim`` made one, as torch.flatten (a 0-d tensor
        becomes shape (1,)); a reshape."""
        start = check_dim("flatten", start_dim, self.shape, scalar_ok=True)
        end = check_dim("flatten", end_dim, self.shape, scalar_ok=True)
        if start > end:
            raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} "
                             f"for a tensor of shape {self.shape}")
        if self.ndim == 0:
            return ops.Reshape.apply(self, shape=(1,))
        merged = int(np.prod(self.shape[start:end + 1]))
        return ops.Reshape.apply(self, shape=self.shape[:start] + (merged,) + self.shape[end + 1:])

    def expand(self, *sizes: int | tuple[int, ...]) -> Tensor:
        """This tensor repeated along dims of size 1 and new leading dims to ``sizes``,
        as torch.expand (-1 keeps a dim's size); a read-only view. The gradient sums
        the copies."""
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = tuple(sizes[0])
        return ops.Expand.apply(self, shape=_expanded_shape(self.shape, sizes))

    def flip(self, *dims: int | tuple[int, ...]) -> Tensor:
        """This tensor reversed along ``dims`` (a copy), as torch.flip."""
        given: Any = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) \
            else dims
        checked = check_dims("flip", tuple(given), self.shape) if given else ()
        axes = () if checked is None else (checked,) if isinstance(checked, int) else checked
        return ops.Flip.apply(self, axes=axes)

    def gather(self, dim: int, index: TensorLike) -> Tensor:
        """out[i][j][k] = self[i][index[i][j][k]][k] for dim 1, as torch.gather: ``index``
        (integers, e.g. argmax's int64 tensor; whole-number floats too) has this tensor's
        number of dims, no dim larger except along ``dim``, values in [0, size of dim)."""
        axis = check_dim("gather", dim, self.shape, scalar_ok=True)
        idx = _index_array("gather", index)
        if idx.ndim != self.ndim and not (self.ndim == 0 and idx.ndim <= 1):
            raise ShapeError(f"gather: index must have as many dims as the tensor "
                             f"({self.ndim}, shape {self.shape}), got shape {idx.shape}")
        if self.ndim == 0:  # every index 0, each picking the one element
            _check_index_range("gather", idx, 1, 0)
            return ops.Expand.apply(self, shape=idx.shape)
        for d, (n, m) in enumerate(zip(self.shape, idx.shape)):
            if d != axis and m > n:
                raise ShapeError(f"gather: index of shape {idx.shape} is larger than the "
                                 f"tensor of shape {self.shape} along dim {d} (not dim {axis})")
        _check_index_range("gather", idx, self.shape[axis], axis)
        return ops.Gather.apply(self, axis=axis, index=idx)

    def index_select(self, dim: int, index: TensorLike) -> Tensor:
        """The entries at ``index`` (a 1-D or 0-d integer tensor; repeats allowed) along
        ``dim``, as torch.index_select; a repeated index adds its gradients."""
        axis = check_dim("index_select", dim, self.shape, scalar_ok=True)
        idx = _index_array("index_select", index)
        if idx.ndim > 1:
            raise ShapeError(f"index_select: index must be 1-D or 0-d, got shape {idx.shape}")
        idx = idx.reshape(-1)
        if self.ndim == 0:  # one index, 0: the element itself, as torch
            if idx.size != 1:
                raise ShapeError(f"index_select: a 0-d tensor takes one index, got {idx.size}")
            _check_index_range("index_select", idx, 1, 0)
            return ops.Reshape.apply(self, shape=())
        _check_index_range("index_select", idx, self.shape[axis], axis)
        return ops.IndexSelect.apply(self, axis=axis, index=idx)


_new_tensor = object.__new__
builtins_float = float  # (inside class Tensor, ``float`` is the method Tensor.float)


class MinMax(NamedTuple):
    """What ``max(dim)`` and ``min(dim)`` return, as torch's: the values and their
    int64 indices along the dim."""

    values: Tensor
    indices: Tensor


def _refuse_empty_reduction(fn: str, shape: tuple[int, ...], dims: int | tuple[int, ...] | None
                            ) -> None:
    """A max, min or argmax over no elements has no value: refused as torch does."""
    axes = range(len(shape)) if dims is None else (dims,) if isinstance(dims, int) else dims
    empty = [a for a in axes if shape[a] == 0]
    if empty or (dims is None and 0 in shape):
        raise ShapeError(f"{fn}: cannot reduce over no elements: dim {empty[0] if empty else 0} "
                         f"of shape {shape} has size 0; give a dim of nonzero size")


def _index_array(fn: str, index: object) -> np.ndarray:
    """``index`` (a Tensor, array, list or int) as an int64 array. Whole-number floats
    pass, since ``Tensor([0, 2])`` stores its ints as float64; bools and fractions do not."""
    try:
        idx = np.asarray(index.data if isinstance(index, Tensor) else index)
    except ValueError:
        raise TypeError(f"{fn}: index must be an integer tensor, got a ragged nested "
                        f"list") from None
    if idx.dtype.kind == "f" and np.all(np.isfinite(idx)) and np.all(idx == np.round(idx)):
        return idx.astype(np.int64)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{fn}: index must hold integers (e.g. an int64 tensor from "
                        f"argmax), got {describe(index)} of dtype {idx.dtype}")
    return idx.astype(np.int64, copy=False)


def _check_index_range(fn: str, idx: np.ndarray, n: int, axis: int) -> None:
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx.min() if idx.min() < 0 else idx.max()
        raise IndexError(f"{fn}: index {bad} is out of range for dim {axis} of size {n} "
                         f"(expected 0..{n - 1})")


def _expanded_shape(shape: tuple[int, ...], sizes: tuple[Any, ...]) -> tuple[int, ...]:
    """torch.expand's target shape: -1 keeps a dim, a dim of 1 takes any size, new dims
    go in front (and cannot be -1)."""
    if not all(is_int(n) for n in sizes):
        raise TypeError(f"expand: sizes must be ints, got {describe(sizes)}")
    if len(sizes) < len(shape):
        raise ShapeError(f"expand: the number of sizes ({len(sizes)}) must be at least the "
                         f"tensor's number of dims ({len(shape)}, shape {shape})")
    new = len(sizes) - len(shape)
    out = []
    for i, size in enumerate(int(n) for n in sizes):
        old = shape[i - new] if i >= new else None
        if size == -1 and old is not None:
            size = old
        elif size < 0:
            raise ShapeError(f"expand: size {size} at dim {i} is not allowed"
                             + (" for a new leading dim" if old is None else ""))
        elif old is not None and old != 1 and old != size:
            raise ShapeError(f"expand: the expanded size {size} must match the existing size "
                             f"{old} at non-singleton dim {i}; target sizes {tuple(sizes)}, "
                             f"tensor shape {shape}")
        out.append(size)
    return tuple(out)


def einsum(equation: str, *operands: Tensor | Sequence[Tensor]) -> Tensor:
    """Einstein summation, as torch.einsum and np.einsum: any equation numpy accepts
    (implicit or with "->", repeated letters for diagonals and traces, "..." for
    broadcast dims), over tensors given one by one or as one list. One node; the
    gradient of each operand is itself an einsum (see ops.Einsum)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not isinstance(equation, str):
        raise TypeError(f"einsum: equation must be a str such as 'ij,jk->ik', got "
                        f"{describe(equation)} (numpy's sublist form is not supported)")
    tensors = _tensor_list("einsum", operands)
    explicit = einsum_equation(equation, [t.shape for t in tensors])
    try:  # the sizes of the letters, checked once by numpy before anything is recorded
        np.einsum(explicit, *[np.broadcast_to(np.zeros((), t.dtype), t.shape) for t in tensors],
                  optimize=False)
    except ValueError as err:
        raise ShapeError(f"einsum: equation {equation!r} does not fit operands of shapes "
                         f"{', '.join(str(t.shape) for t in tensors)}: {err}") from None
    return ops.Einsum.apply(*tensors, equation=explicit)


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def einsum_equation(equation: str, shapes: Sequence[tuple[int, ...]]) -> str:
    """``equation`` for operands of ``shapes`` made explicit: "->" and its output as
    numpy's implicit mode reads it (the broadcast dims, then the letters used once, in
    order of their codes), every "..." spelled out as letters not used elsewhere."""
    text = equation.replace(" ", "")
    inputs, arrow, output = text.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: equation {equation!r} has {len(terms)} operand terms but "
                         f"{len(shapes)} operands were given")
    for term in terms + ([output] if arrow else []):
        body = term.replace("...", "", 1)
        if not all(c in _LETTERS for c in body):
            raise ValueError(f"einsum: equation {equation!r}: a term holds letters a-z, A-Z "
                             f"and at most one '...', got {term!r}")
    spare = [c for c in _LETTERS if c not in text]
    widths = []
    for term, shape in zip(terms, shapes):
        letters = len(term.replace("...", ""))
        if len(shape) < letters or ("..." not in term and len(shape) != letters):
            raise ShapeError(f"einsum: term {term!r} of {equation!r} names {letters} dims, but "
                             f"its operand has shape {shape}")
        widths.append(len(shape) - letters)
    dots = "".join(spare[:max(widths, default=0)])
    spelled = [t.replace("...", dots[len(dots) - w:]) for t, w in zip(terms, widths)]
    if arrow:
        out = output.replace("...", dots)
    else:
        counts = "".join(t.replace("...", "") for t in terms)
        out = dots + "".join(sorted(c for c in set(counts) if counts.count(c) == 1))
    return ",".join(spelled) + "->" + out

# --------------------------------------------------------------------- functions of several tensors


def concat(tensors: Iterable[Tensor], dim: int | None = None, *,
           axis: int | None = None) -> Tensor:
    """Join tensors along an existing axis ``dim`` (default 0), as torch.cat;
    numpy's name ``axis=`` also works. Refuses a single Tensor (a Tensor is iterable:
    wrap it in a list), an empty sequence and items that are not Tensors."""
    parts = _tensor_list("concat", tensors)
    return ops.Concat.apply(*parts, axis=resolve_dim("concat", dim, axis, 0))


def _tensor_list(where: str, tensors: object) -> list[Tensor]:
    """``tensors`` as a non-empty list of Tensors, refused in ``where``'s words."""
    if type(tensors) is not list and type(tensors) is not tuple:  # (lists skip these checks)
        _refuse_non_sequences(where, tensors)
    items = list(tensors)  # type: ignore[call-overload]  # (a list, a tuple, or checked)
    if not items:
        raise ValueError(f"{where}: needs at least one tensor, got an empty sequence")
    for i, item in enumerate(items):
        if not isinstance(item, Tensor):
            raise TypeError(f"{where}: expected a sequence of tensors, but item {i} is "
                            f"{arguments.describe(item)}; make it a tr.Tensor first")
    return items


def _refuse_non_sequences(where: str, tensors: object) -> None:
    if isinstance(tensors, Tensor):  # iterable over its rows, which is never what is meant
        raise TypeError(f"{where}: expected a sequence of tensors, got a single Tensor; "
                        f"wrap it in a list: {where}([x])")
    if isinstance(tensors, np.ndarray):
        raise TypeError(f"{where}: expected a sequence of tensors, got a numpy array of "
                        f"shape {tensors.shape}; give a list of tr.Tensor")
    if isinstance(tensors, (str, bytes)) or not isinstance(tensors, Iterable):
        raise TypeError(f"{where}: expected a sequence of tensors, got "
                        f"{arguments.describe(tensors)}")


def addmm(input: TensorLike, mat1: TensorLike, mat2: TensorLike) -> Tensor:
    """input + mat1 @ mat2 as one node (torch.addmm): 2-D mat1 (n, k) and mat2 (k, m),
    input broadcastable to (n, m)."""
    return ops.Addmm.apply(input, mat1, mat2)


def as_argument(where: str, name: str, value: TensorLike,
                dtype: DTypeLike | None = None) -> Tensor:
    """``value`` as a Tensor (in ``dtype``; a Tensor as it is), or refused in ``where``'s
    words naming the argument, as Tensor data would be ("mse_loss: target must be ...")."""
    if isinstance(value, Tensor):
        return value
    try:
        return Tensor(value, dtype=dtype)
    except (TypeError, ValueError) as err:
        said = str(err).removeprefix("Tensor: data ")
        raise type(err)(f"{where}: {name} {said}") from None


def is_number(value: Any) -> bool:
    """A real number: a Python one, a numeric numpy scalar or 0-d array; not None, a
    string, a Tensor or an array of values. (Python numbers are told apart first, the
    common case: ``np.ndim`` costs a microsecond, too much for the ``addcmul`` of every
    LSTM step.)"""
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, (np.generic, np.ndarray)) and np.ndim(value) == 0 \
        and value.dtype.kind in "biuf"


def _real_exponent(exponent: object) -> builtins.float:
    """``exponent`` of ``x ** exponent`` as a float, refused in pow's words unless it is
    one real number (a tensor or numeric array exponent never comes here)."""
    if isinstance(exponent, (np.generic, np.ndarray)) and exponent.dtype.kind in "biuf":
        return float(exponent)
    why = "; complex numbers are not supported" if isinstance(exponent, complex) else ""
    raise TypeError(f"pow: the exponent must be a real number (x ** 2) or a tensor "
                    f"(x ** y), got {arguments.describe(exponent)}{why}")


def addcmul(input: TensorLike, tensor1: TensorLike, tensor2: TensorLike,
            value: float = 1.0) -> Tensor:
    """input + value * tensor1 * tensor2 as one node (torch.addcmul), with broadcasting."""
    if not is_number(value):
        raise TypeError(f"addcmul: value must be a number, got {arguments.describe(value)}")
    if value == 1:  # forward's default: no keyword to pass at every step
        return ops.Addcmul.apply(input, tensor1, tensor2)
    return ops.Addcmul.apply(input, tensor1, tensor2, value=value)


def lerp(start: TensorLike, end: TensorLike, weight: TensorLike) -> Tensor:
    """start + weight * (end - start) as one node (torch.lerp), with broadcasting; a
    number ``weight`` (or ``end``) takes start's dtype."""
    start = start if isinstance(start, Tensor) else Tensor(start)
    return ops.Lerp.apply(start, start._lift(end), start._lift(weight))


def stack(tensors: Iterable[Tensor], dim: int | None = None, *,
          axis: int | None = None) -> Tensor:
    """Join tensors of one shape along a new axis ``dim`` (default 0), as torch.stack;
    numpy's name ``axis=`` also works. Refuses what ``concat`` refuses."""
    parts = _tensor_list("stack", tensors)
    return ops.Stack.apply(*parts, axis=resolve_dim("stack", dim, axis, 0))


# ---- elementwise ops of issue 15 (ops-elem)


def where(condition: TensorLike, input: TensorLike, other: TensorLike) -> Tensor:
    """``input`` where the boolean ``condition`` is True, ``other`` elsewhere, as
    torch.where(condition, input, other), broadcasting all three. ``condition`` is a
    boolean tensor (``x > 0``) or a numpy bool array; a float 0/1 tensor is refused as
    torch refuses it. ``input`` and ``other`` are tensors, numbers or arrays; a number
    takes the other one's float dtype. No gradient reaches ``condition``."""
    condition_t = _boolean("where", "condition", condition)
    _operand("where", "input", input)
    _operand("where", "other", other)
    if isinstance(input, Tensor):
        return ops.Where.apply(condition_t, input, input._lift(other))
    if isinstance(other, Tensor):
        return ops.Where.apply(condition_t, other._lift(input), other)
    return ops.Where.apply(condition_t, Tensor(input), Tensor(other))


def maximum(input: TensorLike, other: TensorLike) -> Tensor:
    """The larger of input and other, elementwise, as torch.maximum (see Tensor.maximum)."""
    if isinstance(input, Tensor):
        return input.maximum(other)
    return ops.Maximum.apply(_lifted_by(other, _operand("maximum", "input", input)),
                             _operand("maximum", "other", other))


def minimum(input: TensorLike, other: TensorLike) -> Tensor:
    """The smaller of input and other, elementwise, as torch.minimum (see Tensor.minimum)."""
    if isinstance(input, Tensor):
        return input.minimum(other)
    return ops.Minimum.apply(_lifted_by(other, _operand("minimum", "input", input)),
                             _operand("minimum", "other", other))


def _lifted_by(tensor: TensorLike, value: TensorLike) -> Tensor:
    return tensor._lift(value) if isinstance(tensor, Tensor) else Tensor(value)


def _operand(where: str, name: str, value: TensorLike) -> TensorLike:
    """``value`` if it is a Tensor, a real number or a numeric array (or list of
    numbers); refused in ``where``'s words otherwise."""
    if isinstance(value, Tensor) or is_number(value):
        return value
    try:
        if isinstance(value, (np.ndarray, list, tuple)) and np.asarray(value).dtype.kind in "biuf":
            return value
    except ValueError:  # (ragged lists)
        pass
    raise TypeError(f"{where}: {name} must be a Tensor, a real number or a numeric array, got "
                    f"{arguments.describe(value)}")


def clamp(input: Tensor, min: float | TensorLike | None = None,
          max: float | TensorLike | None = None) -> Tensor:
    """Each element of ``input`` held in [min, max], as torch.clamp (see Tensor.clamp)."""
    return _clamp("clamp", input, min, max)


def _clamp(where: str, x: Tensor, low: object, high: object) -> Tensor:
    """clamp and clip: the bounds checked, numbers made constant tensors of x's dtype."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{where}: input must be a Tensor, got {arguments.describe(x)}")
    if low is None and high is None:
        raise ValueError(f"{where}: at least one of min and max must be given, got neither")
    bounds = []
    for name, bound in (("min", low), ("max", high)):
        if bound is None:
            continue
        if not (isinstance(bound, Tensor) or is_number(bound)
                or (isinstance(bound, np.ndarray) and bound.dtype.kind in "biuf")):
            raise TypeError(f"{where}: {name} must be a number, a Tensor or None, got "
                            f"{arguments.describe(bound)}")
        bounds.append(x._lift(bound))  # type: ignore[arg-type]
    return ops.Clamp.apply(x, *bounds, has_min=low is not None, has_max=high is not None)


def _logical(where: str, name: str, value: object) -> Tensor:
    """An operand of ``~ & | ^`` as a boolean tensor, refused otherwise in ``where``'s
    words (torch's operators are bitwise on other dtypes, which we do not have)."""
    try:
        return _boolean(where, name, value)
    except TypeError as e:
        raise TypeError(f"{e}; the methods (x.logical_and(y), logical_or, logical_xor, "
                        f"logical_not) take numbers as truth values") from None


def _boolean(where: str, name: str, mask: object) -> Tensor:
    """``mask`` as a boolean tensor: one already, a numpy bool array or a bool; anything
    else is refused in ``where``'s words (a float mask too, as torch refuses it)."""
    if isinstance(mask, Tensor):
        if mask.dtype.kind == "b":
            return mask
        raise TypeError(f"{where}: {name} must be a boolean tensor such as x > 0, got a "
                        f"Tensor of dtype {mask.dtype}; compare it to make one, e.g. "
                        f"{name} != 0")
    if isinstance(mask, (bool, np.bool_)) or (isinstance(mask, np.ndarray)
                                              and mask.dtype.kind == "b"):
        return Tensor(mask, dtype=np.bool_)
    what = (f"a numpy array of dtype {mask.dtype}" if isinstance(mask, np.ndarray)
            else arguments.describe(mask))
    raise TypeError(f"{where}: {name} must be a boolean tensor such as x > 0 (or a numpy "
                    f"bool array), got {what}")


# --------------------------------------------------------------------------- gradients of gradients
# (issue 17) backward(create_graph=True), grad(), and numpy's functions on Tensors: what
# lets an op's backward, written with numpy, run on Tensors and be differentiated again.


def _backward_creating_graph(root: Tensor, gradient: TensorLike | None,
                             retain_graph: bool) -> None:
    """``root.backward(gradient, retain_graph, create_graph=True)``: ``.grad`` gets Tensors."""
    if not root._requires_grad:
        raise RuntimeError("backward(): this tensor does not require grad, so no graph "
                           "leads to it; create its inputs with requires_grad=True")
    g = _root_gradient("backward()", root, gradient, "gradient")
    if root._node is None:  # a leaf: d root / d root
        root.grad = g if root.grad is None else root.grad + g  # type: ignore[assignment]
        return
    autograd.graph_walk([(root, g)], retain_graph, create_graph=True)


def _root_gradient(where: str, out: Tensor, gradient: TensorLike | None, name: str) -> Tensor:
    """dL/d``out`` as a Tensor of out's shape (ones for a one-element ``out``)."""
    if gradient is None:
        if out.data.size != 1:
            raise RuntimeError(
                f"{where}: grad can be implicitly created only for outputs of a single "
                f"element, but this one has shape {out.shape}: pass {name} (the gradient "
                f"of the loss with respect to it), or reduce it first, e.g. y.sum()")
        return Tensor(np.ones(out.shape, dtype=out.dtype))
    g = as_argument(where, name, gradient)
    if g.shape != out.shape:
        raise ValueError(f"{where}: {name} has shape {g.shape}, but the output has "
                         f"shape {out.shape}")
    if g.dtype != out.dtype:
        g = g.to(out.dtype) if g.dtype.kind == "f" else Tensor(g.data.astype(out.dtype))
    return g


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: TensorLike | Sequence[TensorLike | None] | None = None,
         retain_graph: bool | None = None, create_graph: bool = False,
         allow_unused: bool = False, *,
         materialize_grads: bool = False) -> tuple[Tensor | None, ...]:
    """The gradients of ``outputs`` with respect to ``inputs``, as torch.autograd.grad.

    Arguments:
        outputs: a Tensor, or a sequence of them: their gradients add up
            (sum over k of grad_outputs[k] . d outputs[k] / d input).
        inputs: a Tensor, or a sequence of them, each requiring grad: leaves or
            computed tensors.
        grad_outputs: dL/d output for each output (a Tensor, number or array of its
            shape; None for a one-element output, which gets 1). Required for an
            output of more than one element.
        retain_graph: keep the graph's saved values for another backward
            (default: ``create_graph``).
        create_graph: record the backward pass, so that the returned gradients
            have a graph and can be differentiated again (every op on the way must
            be twice differentiable; docs/engine.md, "Gradients of gradients").
        allow_unused: return None for an input no output depends on (otherwise that
            is an error, as torch).
        materialize_grads: zeros instead of None for such an input (implies
            allow_unused), as torch.

    Returns:
        a tuple with one Tensor (or None) per input. ``.grad`` is left untouched.
    """
    where = "grad"
    outs = _tensor_sequence(where, "outputs", outputs)
    ins = _tensor_sequence(where, "inputs", inputs)
    create_graph = arguments.flag(where, "create_graph", create_graph)
    retain_graph = create_graph if retain_graph is None else arguments.flag(
        where, "retain_graph", retain_graph)
    allow_unused = arguments.flag(where, "allow_unused", allow_unused)
    materialize_grads = arguments.flag(where, "materialize_grads", materialize_grads)
    if grad_outputs is None or isinstance(grad_outputs, (Tensor, np.ndarray)) or is_number(
            grad_outputs):
        grad_outputs = [grad_outputs] * len(outs) if grad_outputs is None else [grad_outputs]
    grads_out = list(grad_outputs)  # type: ignore[arg-type]
    if len(grads_out) != len(outs):
        raise ValueError(f"{where}: grad_outputs has {len(grads_out)} items for "
                         f"{len(outs)} outputs")
    for k, t in enumerate(ins):
        if not t.requires_grad:
            raise RuntimeError(f"{where}: inputs[{k}] does not require grad: one of the "
                               f"differentiated Tensors must be created with "
                               f"requires_grad=True (or computed from one)")
    roots = []
    for k, (out, g) in enumerate(zip(outs, grads_out)):
        if not out.requires_grad:
            raise RuntimeError(f"{where}: outputs[{k}] does not require grad and has no "
                               f"graph: no input leads to it")
        root_grad = _root_gradient(where, out, g, f"grad_outputs[{k}]")  # type: ignore[arg-type]
        roots.append((out, root_grad if create_graph else root_grad.data))
    found = autograd.graph_walk(roots, retain_graph, create_graph, ins)
    assert found is not None
    result: list[Tensor | None] = []
    for k, (t, g) in enumerate(zip(ins, found)):
        if g is None:
            if not (allow_unused or materialize_grads):
                raise RuntimeError(
                    f"{where}: inputs[{k}] was not used to compute the outputs (no path "
                    f"leads from it to them); pass allow_unused=True to get None for it")
            result.append(Tensor(np.zeros(t.shape, t.dtype)) if materialize_grads else None)
        else:
            result.append(g if create_graph else Tensor(g))
    return tuple(result)


def _tensor_sequence(where: str, name: str, value: object) -> list[Tensor]:
    """A Tensor or a non-empty sequence of Tensors, as a list; refused otherwise."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, Tensor) for v in value):
        return list(value)
    raise TypeError(f"{where}: {name} must be a Tensor or a non-empty sequence of Tensors, "
                    f"got {describe(value)}")


# numpy's ufuncs and functions that an op's backward may call on a Tensor, as the
# package's ops. A binary ufunc's first operand may be an ndarray or a number (ndarray +
# Tensor): it becomes a constant of the Tensor's, as the reflected operators do.
def _binary(method: str, reflected: str | None = None) -> Any:
    """ufunc(a, b) as ``a.method(b)``; when only b is a Tensor, ``b.reflected(a)`` (what
    ndarray + Tensor always called, with its checks), or a lifted to a constant."""
    def call(a: Any, b: Any) -> Any:
        if not isinstance(a, Tensor):
            if reflected is not None:
                return getattr(b, reflected)(a)
            a = b._lift(a)
        return getattr(a, method)(b)
    return call


_UFUNCS: dict[Any, Any] = {
    np.add: _binary("__add__", "__radd__"), np.subtract: _binary("__sub__", "__rsub__"),
    np.multiply: _binary("__mul__", "__rmul__"),
    np.true_divide: _binary("__truediv__", "__rtruediv__"),
    np.power: _binary("__pow__", "__rpow__"), np.matmul: _binary("__matmul__", "__rmatmul__"),
    np.maximum: _binary("maximum"), np.minimum: _binary("minimum"),
    np.less: _binary("__lt__", "__gt__"), np.less_equal: _binary("__le__", "__ge__"),
    np.greater: _binary("__gt__", "__lt__"), np.greater_equal: _binary("__ge__", "__le__"),
    np.equal: _binary("__eq__", "__eq__"), np.not_equal: _binary("__ne__", "__ne__"),
    np.negative: Tensor.__neg__, np.exp: Tensor.exp, np.log: Tensor.log,
    np.tanh: Tensor.tanh, np.sqrt: Tensor.sqrt, np.absolute: Tensor.abs,
    np.sign: Tensor.sign, np.sin: Tensor.sin, np.cos: Tensor.cos, np.log1p: Tensor.log1p,
    np.expm1: Tensor.expm1,
}


def _numpy_ufunc(ufunc: Any, method: str, inputs: tuple, kwargs: dict) -> Any:
    name = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    if "out" in kwargs:
        raise TypeError(f"{name}: cannot write into an array given a Tensor (out=, or an "
                        f"in-place operator such as +=): write a new value instead, "
                        f"a = a + t")
    if method == "__call__" and ufunc in _UFUNCS and not kwargs:
        return _UFUNCS[ufunc](*inputs)
    if method == "reduce" and ufunc is np.add and set(kwargs) <= {"axis", "keepdims"}:
        (x,) = inputs
        axis = kwargs.get("axis", 0)  # (a ufunc's reduce sums axis 0 unless told)
        return x.sum(axis=axis, keepdims=bool(kwargs.get("keepdims", False)))
    raise TypeError(f"{name}{_given(kwargs)} has no Tensor version in tinygrad_rnn; on "
                    f"Tensors use their methods (x.exp(), x.sum(dim), ...) or the functions "
                    f"tr.where, tr.concat, tr.stack, ...")


def _given(kwargs: dict) -> str:
    return f" with {', '.join(kwargs)}=" if kwargs else ""


def _np_split(x: Tensor, indices: Any, axis: int = 0) -> tuple[Tensor, ...]:
    """np.split(x, bounds, axis) for a list of bounds, as a Split of their sizes."""
    if is_int(indices):
        return tuple(x.chunk(int(indices), dim=axis))
    bounds = [0, *(int(i) for i in indices), x.shape[axis]]
    return tuple(x.split([b - a for a, b in zip(bounds, bounds[1:])], dim=axis))


def _np_zeros_like(x: Tensor, dtype: Any = None) -> Tensor:
    return Tensor(np.zeros(x.shape, dtype=x.dtype if dtype is None else dtype))


def _np_where(condition: Any, x: Any, y: Any) -> Tensor:
    return where(condition.data if isinstance(condition, Tensor) else condition, x, y)


_FUNCTIONS: dict[Any, Any] = {
    np.where: _np_where,
    np.zeros_like: _np_zeros_like,
    np.concatenate: lambda arrays, axis=0: concat(list(arrays), dim=axis),
    np.stack: lambda arrays, axis=0: stack(list(arrays), dim=axis),
    np.split: _np_split,
    np.expand_dims: lambda x, axis: x.unsqueeze(axis),
    np.swapaxes: lambda x, axis1, axis2: x.swapaxes(axis1, axis2),
    np.reshape: lambda x, shape: x.reshape(shape),
    np.transpose: lambda x, axes=None: x.transpose(*(() if axes is None else (tuple(axes),))),
    np.sum: lambda x, axis=None, keepdims=False: x.sum(axis=axis, keepdims=keepdims),
    # (issue 17: the backwards of Cumsum and Flip, on a create_graph gradient)
    np.cumsum: lambda x, axis: x.cumsum(axis),
    np.flip: lambda x, axis: x.flip(*((axis,) if is_int(axis) else tuple(axis))),
}


def _numpy_function(func: Any, args: tuple, kwargs: dict) -> Any:
    fn = _FUNCTIONS.get(func)
    if fn is None:
        raise TypeError(f"np.{func.__name__} has no Tensor version in tinygrad_rnn; on "
                        f"Tensors use their methods (x.exp(), x.sum(dim), ...) or the "
                        f"functions tr.where, tr.concat, tr.stack, ...")
    try:
        return fn(*args, **kwargs)
    except TypeError as err:
        if "argument" not in str(err):
            raise
        raise TypeError(f"np.{func.__name__}: on Tensors, only its common arguments are "
                        f"taken ({err})") from None
