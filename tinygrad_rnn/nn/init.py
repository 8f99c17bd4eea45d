"""Weight initialization, in place, with torch's names and formulas.

Every function fills ``tensor.data`` (a Tensor/Parameter, or a numpy array)
without changing its dtype and returns the tensor. Refused (TypeError): anything
else, or an array that is not floating point; non-numeric or non-finite bounds,
``a > b``, a negative ``std``. A tensor with no elements is left as it is, as
torch. Random draws come from ``tinygrad_rnn.rng.generator()``, so
``tr.manual_seed(n)`` makes them reproducible.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from .. import rng
from ..arguments import describe, number
from ..tensor import Tensor

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

# a Tensor (or Parameter) or a numpy array: each function returns what it was given
_T = TypeVar("_T", bound="Tensor | np.ndarray")


def _array(tensor: Tensor | np.ndarray) -> np.ndarray:
    if not isinstance(tensor, (Tensor, np.ndarray)):
        raise TypeError(f"init: expected a Tensor, Parameter or numpy array to fill, "
                        f"got {describe(tensor)}")
    array = tensor if isinstance(tensor, np.ndarray) else tensor.data
    if array.dtype.kind != "f":
        raise TypeError(f"init: can only fill a floating point tensor, got dtype {array.dtype}")
    return array


def _fill(tensor: _T, values: ArrayLike) -> _T:
    np.copyto(_array(tensor), values, casting="unsafe")
    return tensor


def _fans(tensor: Tensor | np.ndarray) -> tuple[int, int]:
    """(fan_in, fan_out) as torch: dims 1 and 0, times the receptive field of the rest."""
    shape = _array(tensor).shape
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a tensor of at least 2 dimensions, "
                         f"got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def uniform_(tensor: _T, a: float = 0.0, b: float = 1.0) -> _T:
    """Fill with draws from U(a, b), a <= b."""
    a, b = number("init.uniform_", "a", a), number("init.uniform_", "b", b)
    if a > b:
        raise ValueError(f"init.uniform_: expects a <= b, got a={a} > b={b}")
    return _fill(tensor, rng.generator().uniform(a, b, _array(tensor).shape))


def normal_(tensor: _T, mean: float = 0.0, std: float = 1.0) -> _T:
    """Fill with draws from N(mean, std^2), std >= 0."""
    mean = number("init.normal_", "mean", mean)
    std = number("init.normal_", "std", std, minimum=0.0)
    return _fill(tensor, rng.generator().normal(mean, std, _array(tensor).shape))


def constant_(tensor: _T, val: float) -> _T:
    """Fill with ``val`` (any real number, NaN and inf included, as torch)."""
    return _fill(tensor, number("init.constant_", "val", val, finite=False))


def zeros_(tensor: _T) -> _T:
    return _fill(tensor, 0.0)


def ones_(tensor: _T) -> _T:
    return _fill(tensor, 1.0)


def xavier_uniform_(tensor: _T, gain: float = 1.0) -> _T:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))  (Glorot & Bengio, 2010)."""
    gain = number("init.xavier_uniform_", "gain", gain)
    fan_in, fan_out = _fans(tensor)
    if fan_in + fan_out == 0:  # no elements: nothing to fill (torch only warns)
        return tensor
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a)


def xavier_normal_(tensor: _T, gain: float = 1.0) -> _T:
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    gain = number("init.xavier_normal_", "gain", gain)
    fan_in, fan_out = _fans(tensor)
    if fan_in + fan_out == 0:  # no elements: nothing to fill (torch only warns)
        return tensor
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def orthogonal_(tensor: _T, gain: float = 1.0) -> _T:
    """A (semi-)orthogonal matrix times ``gain`` (Saxe et al., 2013), as torch.

    The tensor is seen as (rows, everything else); QR of a Gaussian matrix gives
    Q, whose column signs are fixed by diag(R) so that Q is uniformly distributed.
    """
    gain = number("init.orthogonal_", "gain", gain)
    shape = _array(tensor).shape
    if len(shape) < 2:
        raise ValueError(f"orthogonal_: needs a tensor of at least 2 dimensions, got shape {shape}")
    rows = shape[0]
    cols = math.prod(shape[1:])
    if rows * cols == 0:  # no elements: nothing to fill (torch only warns)
        return tensor
    flat = rng.generator().standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(shape))
