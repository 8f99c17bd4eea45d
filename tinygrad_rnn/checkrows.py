"""The row and the table that the gradient checks share.

``tr.gradcheck``, ``tr.gradcheck_layer`` and ``tr.compare_grads`` all set a
gradient under test beside one they trust, element by element, and print one
line per tensor (or per slice of one). This module does that once:

- ``GradientErrors.measure(checked, trusted, atol, rtol)``: the max abs and rel
  error, the element furthest outside the tolerance (its index into the whole
  tensor), both values there, and whether every element is within
  ``atol + rtol * |trusted|``. The checks' rows extend it with what they are
  about: a tensor's name and shape, a gate, a time step.
- ``Column`` and ``format_table``: such rows as a table, header and rule first;
  ``ERROR_COLUMNS`` are the columns of ``GradientErrors``.
- ``warn_unless_float64``: central differences in float32 are too coarse to judge
  a gradient by.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from typing_extensions import Self

    from .tensor import Tensor

_TINY = np.finfo(np.float64).tiny   # divides where the trusted value is 0


@dataclass(kw_only=True)
class GradientErrors:
    """How far a gradient under test is from a trusted one (for the check's tolerance)."""

    max_abs_error: float   # max |checked - trusted|
    max_rel_error: float   # max |checked - trusted| / |trusted|
    worst_index: tuple     # the element furthest outside the tolerance, in the whole tensor
    analytic: float        # the gradient under test there (autograd's)
    numeric: float         # the trusted one there (central differences')
    ok: bool               # every element within atol + rtol * |trusted|

    @classmethod
    def measure(cls, checked: np.ndarray, trusted: np.ndarray, atol: float, rtol: float,
                region: tuple = (), **about: Any) -> Self:
        """Compare ``checked[region]`` with ``trusted[region]``; ``about`` fills the
        subclass's own fields (``name=``, ``shape=``, ...).

        ``region`` is a tuple of ints and slices (a gate's rows, a time step); the
        worst index still counts from the whole array, so it names the tensor's own
        element.
        """
        a, t = checked[region], trusted[region]
        if a.size == 0:
            return cls(**about, max_abs_error=0.0, max_rel_error=0.0, worst_index=(),
                       analytic=0.0, numeric=0.0, ok=True)
        abs_err = np.abs(a - t)
        excess = abs_err - (atol + rtol * np.abs(t))   # > 0 where the check fails
        worst = np.unravel_index(np.argmax(excess), a.shape)
        # the index of each of the region's elements in the whole array
        whole = np.indices(checked.shape)[(slice(None),) + region]
        return cls(**about, max_abs_error=float(abs_err.max()),
                   max_rel_error=float((abs_err / np.maximum(np.abs(t), _TINY)).max()),
                   worst_index=tuple(int(i[worst]) for i in whole),
                   analytic=float(a[worst]), numeric=float(t[worst]),
                   ok=bool(np.all(excess <= 0)))


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Column:
    """One column of a check's table: its header and what a row shows under it."""

    header: str
    value: Callable        # row -> the cell's value
    width: int = 0         # the header and the cells are padded to it
    spec: str = ""         # how the value is written, e.g. ".3e"
    align: str = ">"       # numbers to the right, text "<" to the left
    gap: str = ""          # what stands before the column ("  " sets it apart)

    def cell(self, text: str) -> str:
        return f"{self.gap}{text:{self.align}{self.width}}"


def format_table(columns: Sequence[Column], rows: Iterable[Any]) -> list[str]:
    """The header, a rule as wide, and one line per row."""
    header = "".join(c.cell(c.header) for c in columns)
    body = ["".join(c.cell(format(c.value(row), c.spec)) for c in columns) for row in rows]
    return [header, "-" * len(header), *body]


def name_width(names: Iterable[str], header: str) -> int:
    """A name column as wide as the longest name (or its header), plus two spaces."""
    return max([len(n) for n in names] + [len(header)]) + 2


MAX_ERRORS = (Column("max abs err", lambda r: r.max_abs_error, 12, ".3e"),
              Column("max rel err", lambda r: r.max_rel_error, 12, ".3e"))

ERROR_COLUMNS = MAX_ERRORS + (
    Column("worst at", lambda r: r.worst_index, 12, align="<", gap="  "),
    Column("analytic", lambda r: r.analytic, 14, ".6e"),
    Column("numeric", lambda r: r.numeric, 14, ".6e"),
    Column("ok", lambda r: "yes" if r.ok else "NO", align="<", gap="  "),
)


# --------------------------------------------------------------------------- as HTML, in a language


_ERROR_KEYS = ("col_max_abs", "col_max_rel", "col_worst_at", "col_analytic", "col_numeric",
               "col_ok")


def error_columns(lang: str = "en") -> tuple[Column, ...]:
    """``ERROR_COLUMNS`` headed in ``lang``, "yes"/"NO" in it too ("en": the same). A
    longer header (Persian's) widens its column."""
    from .tour_text import text

    yes, no = text("yes", lang), text("no", lang)
    out = []
    for key, c in zip(_ERROR_KEYS, ERROR_COLUMNS):
        header = text(key, lang)
        width = max(c.width, len(header) + 1) if c.width else 0
        value = (lambda r: yes if r.ok else no) if key == "col_ok" else c.value
        out.append(Column(header, value, width, c.spec, c.align, c.gap))
    return tuple(out)


def html_table(columns: Sequence[Column], rows: Sequence[Any], caption: str | None = None,
               verdict: bool = True) -> str:
    """``format_table``'s table as HTML: numbers right-aligned, a failing row (``.ok``
    false) shaded and its verdict (the last column, if ``verdict``) marked, names as code."""
    from .display import Bad, Code, Num, table

    def cell(c: Column, row: Any) -> object:
        shown = format(c.value(row), c.spec)
        if verdict and c is columns[-1]:
            return shown if row.ok else Bad(shown)
        return Num(shown) if c.spec or _is_number(shown) else Code(shown)

    return table([c.header for c in columns], [[cell(c, r) for c in columns] for r in rows],
                 bad=[not r.ok for r in rows], caption=caption)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- float64 only


def warn_unless_float64(tool: str, named: Iterable[tuple[str, Tensor]], advice: str = "") -> None:
    """One warning naming every tensor of ``named`` ((name, tensor) pairs) that is not
    float64, at the user's line."""
    by_dtype: dict = {}
    for name, t in named:
        if t.dtype != np.float64:
            by_dtype.setdefault(str(t.dtype), []).append(name)
    if by_dtype:
        which = " and ".join(f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} {dtype}"
                          for dtype, names in by_dtype.items())
        warnings.warn(f"{tool}: {which}; finite differences are only meaningful in "
                      f"float64{advice}", stacklevel=_user_stacklevel())


def _user_stacklevel() -> int:
    """The warnings stacklevel of the first caller outside this package, so that a
    warning points at the user's line however deep inside us it was raised."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("tinygrad_rnn"):
        frame, level = frame.f_back, level + 1
    return level
