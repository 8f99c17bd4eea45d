"""The package's one random generator, so that ``tr.manual_seed(n)`` makes
initialization and dropout reproducible (numpy's global state is left alone)."""

from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the generator behind initialization and dropout; returns it."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def generator() -> np.random.Generator:
    """The current generator (reseeded by ``manual_seed``)."""
    return _generator
