"""Axis arguments by torch's names or numpy's: ``dim`` or ``axis``, ``keepdim`` or ``keepdims``.

The public API names an axis as torch does (``x.sum(dim=1, keepdim=True)``,
``x.chunk(4, dim=-1)``, ``F.softmax(x, dim=-1)``) and accepts numpy's names
too, with one meaning everywhere, because every function that takes an axis
resolves the two names here. Give either name, or both if they agree; both
with different values is a TypeError that names the function.

None means "not given" for all four names, so the defaults (``dim=0`` for
``split``, ``chunk``, ``unbind``, ``concat`` and ``stack``, as torch; all axes
for ``sum`` and ``mean``; ``keepdim=False``) are applied here, in one place.

Every dim is checked here too (``check_dim``, ``check_dims``), in torch's
terms: an int (Python's or numpy's, not a bool or a float) in -ndim..ndim-1,
never wrapped around, no dim twice in a tuple. A wrong type is a TypeError, a
dim out of range a ShapeError, each naming the function, the dim and the
tensor's dims. The checks run once per call of the public function, and an int
in range costs two comparisons.
"""

from __future__ import annotations

from typing import Any, overload

from .arguments import describe, flag, is_int
from .autograd import ShapeError

# one axis, several, or None (all axes for a reduction; "not given" as an argument)
Dims = int | tuple[int, ...] | list[int] | None


@overload
def resolve_dim(fn: str, dim: int | None, axis: int | None, default: int) -> int: ...
@overload
def resolve_dim(fn: str, dim: Dims, axis: Dims, default: Dims = None) -> Dims: ...


def resolve_dim(fn: str, dim: Dims, axis: Dims, default: Dims = None) -> Dims:
    """The axis argument of ``fn``, given as ``dim`` (torch) or ``axis`` (numpy).

    ``default`` when neither is given. A tuple and a list of the same axes agree.
    """
    if axis is None:  # (the common case, without a second call)
        return default if dim is None else dim
    return _one_argument(fn, "dim", dim, "axis", axis, default)


def resolve_keepdim(fn: str, keepdim: bool | None, keepdims: bool | None) -> bool:
    """``keepdim`` (torch) or ``keepdims`` (numpy) of ``fn``; False when neither is given.
    Refuses anything but a bool (``keepdim='no'`` is truthy)."""
    keep = _one_argument(fn, "keepdim", keepdim, "keepdims", keepdims, False)
    return keep if type(keep) is bool else flag(fn, "keepdim", keep)


def check_dim(fn: str, dim: Any, shape: tuple[int, ...], *, scalar_ok: bool = False,
              new_axis: bool = False) -> int:
    """``dim`` of a tensor of ``shape`` as an axis counted from 0.

    ``scalar_ok``: a 0-d tensor takes dim 0 or -1, as if it had one axis (torch's
    sum, mean, softmax and transpose do; its split, chunk, unbind and cat do not).
    ``new_axis``: ``dim`` is where a new axis goes (stack), in -(ndim+1)..ndim.
    Refuses a dim that is not an int (TypeError) or out of range (ShapeError).
    """
    if type(dim) is not int:
        if not is_int(dim):
            raise TypeError(f"{fn}: dim must be an int, got {describe(dim)}")
        dim = int(dim)
    ndim = len(shape)
    n = ndim + 1 if new_axis else (1 if scalar_ok and ndim == 0 else ndim)
    if -n <= dim < n:
        return dim + n if dim < 0 else dim
    if n == 0:
        raise ShapeError(f"{fn}: dim {dim} is out of range for a 0-d tensor, which has no dims")
    what = "stacking tensors" if new_axis else "a tensor"
    raise ShapeError(f"{fn}: dim {dim} is out of range for {what} with {ndim} dims, "
                     f"shape {shape} (expected {-n}..{n - 1})")


def check_dims(fn: str, dims: Dims, shape: tuple[int, ...]) -> int | tuple[int, ...] | None:
    """The dims a reduction is given (None, an int, or a tuple or list of ints), each
    checked as ``check_dim`` does and counted from 0, for numpy's ``axis``.

    None (every axis) stays None, and so does any valid dim of a 0-d tensor (its
    one element is the whole reduction). An empty tuple is every axis as well, as
    torch's ``x.sum(dim=())`` (numpy's would reduce none). A dim given twice is a
    ShapeError.
    """
    if dims is None:
        return None
    if not isinstance(dims, (tuple, list)):
        axis = check_dim(fn, dims, shape, scalar_ok=True)
        return axis if shape else None
    axes = tuple(check_dim(fn, d, shape, scalar_ok=True) for d in dims)
    if len(set(axes)) != len(axes):
        twice = next(a for i, a in enumerate(axes) if a in axes[:i])
        raise ShapeError(f"{fn}: dim {twice} appears more than once in dim={dims!r}")
    return axes if shape and axes else None


def _one_argument(fn: str, torch_name: str, torch_value: Any, numpy_name: str, numpy_value: Any,
                  default: Any) -> Any:
    if numpy_value is None:
        return default if torch_value is None else torch_value
    if torch_value is None or _as_tuple(torch_value) == _as_tuple(numpy_value):
        return numpy_value
    raise TypeError(f"{fn}: got {torch_name}={torch_value!r} and {numpy_name}={numpy_value!r}; "
                    f"they are two names for one argument (torch's and numpy's), so give one")


def _as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def check_permutation(fn: str, dims: tuple[Any, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """``dims``, each checked as ``check_dim`` does and counted from 0, if they name every
    dim of a tensor of ``shape`` once; a ShapeError otherwise."""
    axes = tuple(check_dim(fn, d, shape) for d in dims)
    if len(axes) != len(shape) or len(set(axes)) != len(axes):
        raise ShapeError(f"{fn}: dims {tuple(dims)} are not a permutation of the {len(shape)} "
                         f"dims of a tensor of shape {shape}: name each dim once")
    return axes
