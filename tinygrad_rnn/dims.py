"""Axis arguments by torch's names or numpy's: ``dim`` or ``axis``, ``keepdim`` or ``keepdims``.

The public API names an axis as torch does (``x.sum(dim=1, keepdim=True)``,
``x.chunk(4, dim=-1)``, ``F.softmax(x, dim=-1)``) and accepts numpy's names
too, with one meaning everywhere, because every function that takes an axis
resolves the two names here. Give either name, or both if they agree; both
with different values is a TypeError that names the function.

None means "not given" for all four names, so the defaults (``dim=0`` for
``split``, ``chunk``, ``unbind``, ``concat`` and ``stack``, as torch; all axes
for ``sum`` and ``mean``; ``keepdim=False``) are applied here, in one place.
"""

from __future__ import annotations

from typing import Any, overload

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
    """``keepdim`` (torch) or ``keepdims`` (numpy) of ``fn``; False when neither is given."""
    return bool(_one_argument(fn, "keepdim", keepdim, "keepdims", keepdims, False))


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
