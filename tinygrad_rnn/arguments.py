"""Argument checks at the door, in one voice: who refused, which argument, what was
expected, what was given.

Every public constructor, load and layer entry checks its plain arguments with
these before it touches anything, so a refused call changes nothing and the user
reads one sentence in their own terms rather than a numpy message from deep
inside. They run once per call of the public function, never per op.

>>> size("nn.LSTM", "hidden_size", 2.5, minimum=1)
Traceback (most recent call last):
    ...
TypeError: nn.LSTM: hidden_size must be an int, got 2.5 (float)

The rules follow torch's: sizes are ints (Python's or numpy's, never a bool or a
float with no fraction); flags are bools (never a truthy string); numbers are
real and finite unless said otherwise. A wrong *type* is a TypeError, a value
out of range a ValueError.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from typing import Any

import numpy as np


def describe(value: Any, limit: int = 60) -> str:
    """``value`` as an error message shows it: a short repr and, unless obvious, its type."""
    # a numpy scalar by its value (5.0), not its repr (np.float64(5.0))
    text = repr(value.item() if isinstance(value, np.generic) else value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    if value is None or isinstance(value, (str, bool)):
        return text
    return f"{text} ({type(value).__name__})"


def is_int(value: Any) -> bool:
    """A Python or numpy integer, not a bool (True is an int to Python, not a size to us)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value: Any) -> bool:
    """A Python or numpy real number, not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def size(where: str, name: str, value: Any, minimum: int = 0, maximum: int | None = None) -> int:
    """``value`` as an int in ``[minimum, maximum]``; refuses bools, floats and None."""
    if not is_int(value):
        raise TypeError(f"{where}: {name} must be an int, got {describe(value)}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{where}: {name} must be an int {bound}, got {value}")
    return value


def flag(where: str, name: str, value: Any) -> bool:
    """``value`` as a bool; refuses anything else (``'no'`` is truthy, so it would mean yes)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {name} must be a bool (True or False), got {describe(value)}")
    return bool(value)


def number(where: str, name: str, value: Any, minimum: float | None = None,
           maximum: float | None = None, finite: bool = True) -> float:
    """``value`` as a float in ``[minimum, maximum]``; refuses bools, strings and, when
    ``finite``, NaN and infinities."""
    if not is_real(value):
        raise TypeError(f"{where}: {name} must be a real number, got {describe(value)}")
    value = float(value)
    if math.isnan(value) or (finite and math.isinf(value)):
        kind = "a finite number" if finite else "a number, not NaN"
        raise ValueError(f"{where}: {name} must be {kind}, got {value}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{where}: {name} must be {_range(minimum, maximum)}, got {value}")
    return value


def probability(where: str, name: str, value: Any) -> float:
    """``value`` as a float in [0, 1]."""
    return number(where, name, value, minimum=0.0, maximum=1.0)


def float_dtype(where: str, value: Any) -> np.dtype:
    """``value`` as a floating numpy dtype (np.float32, "float64", ...)."""
    try:
        dtype = np.dtype(value)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: dtype must be a floating numpy dtype such as np.float32, "
                        f"got {describe(value)}") from None
    if value is None or dtype.kind != "f":
        raise TypeError(f"{where}: dtype must be a floating numpy dtype such as np.float32, "
                        f"got {describe(value)}")
    return dtype


def one_of(where: str, name: str, value: Any, choices: Collection[Any]) -> Any:
    """``value`` if it is one of ``choices``."""
    if isinstance(value, (str, int, float, type(None))) and value in choices:
        return value
    options = ", ".join(repr(c) for c in choices)
    raise ValueError(f"{where}: {name} must be one of {options}, got {describe(value)}")


def _range(minimum: float | None, maximum: float | None) -> str:
    if maximum is None:
        return f">= {minimum:g}"
    if minimum is None:
        return f"<= {maximum:g}"
    return f"in [{minimum:g}, {maximum:g}]"
