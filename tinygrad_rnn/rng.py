"""The package's one random generator, so that ``tr.manual_seed(n)`` makes
initialization and dropout reproducible (numpy's global state is left alone).

While ``replay`` records a step (``refusing_draws``), asking for the generator is
a RuntimeError: a recording replays its first draw at every step, so a dropout
mask drawn inside a scanned step would be silently frozen."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import numpy as np

_generator = np.random.default_rng()


class _Refusal(threading.local):
    message: str | None = None  # why draws are refused in this thread, None when they are not


_refusal = _Refusal()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the generator behind initialization and dropout; returns it."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def generator() -> np.random.Generator:
    """The current generator (reseeded by ``manual_seed``); a RuntimeError inside
    ``refusing_draws`` (while ``replay`` records a step)."""
    if _refusal.message is not None:
        raise RuntimeError(_refusal.message)
    return _generator


@contextlib.contextmanager
def refusing_draws(message: str) -> Iterator[None]:
    """A block of this thread in which ``generator()`` raises RuntimeError(message)."""
    previous, _refusal.message = _refusal.message, message
    try:
        yield
    finally:
        _refusal.message = previous


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[np.random.Generator]:
    """A block in which the generator is ``manual_seed(seed)``'s, then the caller's
    generator again, where it was (so a fixed example leaves the caller's draws alone)."""
    global _generator
    previous = _generator
    try:
        yield manual_seed(seed)
    finally:
        _generator = previous
