"""Batches of sequences of different lengths, as torch.nn.utils.rnn (``nn.utils.rnn``).

A ``PackedSequence`` holds the time steps of all sequences one after the other:
step 0 of every sequence, then step 1 of every sequence that is that long, and
so on, the sequences sorted longest first. ``batch_sizes[t]`` says how many
sequences have a step t, so a recurrent layer given a packed batch runs each
step on just the sequences still going, and each sequence's final state is
the one after its own last step. Packing and padding are ops (getitem, concat,
split, stack), so gradients flow through them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ...arguments import describe, flag, number, size
from ...tensor import ShapeError, Tensor, concat, stack
from ..cells import as_tensor

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ...tensor import TensorLike


class PackedSequence(NamedTuple):
    """``data`` (sum of lengths, *features), ``batch_sizes`` (max length,): how many
    sequences have each step; ``sorted_indices`` puts the batch in order of decreasing
    length (None when it already was), ``unsorted_indices`` undoes it."""

    data: Tensor
    batch_sizes: np.ndarray
    sorted_indices: np.ndarray | None = None
    unsorted_indices: np.ndarray | None = None


def _integers(name: str, what: str, value: Any) -> np.ndarray:
    """``value`` (a list, an array, a Tensor) as a 1-D int64 array; floats pass when they
    hold whole numbers (a Tensor stores integers as floats), bools and fractions do not."""
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{name}: {what} must be a 1-D array of integers, got {describe(value)}")
    try:
        array = np.asarray(value.data if isinstance(value, Tensor) else value)
    except (TypeError, ValueError):  # a ragged list
        raise TypeError(f"{name}: {what} must be a 1-D array of integers, "
                        f"got {describe(value)}") from None
    if array.dtype.kind not in "iuf" or (array.dtype.kind == "f" and
                                         not np.all(array == np.round(array))):
        raise TypeError(f"{name}: {what} must be integers, got {describe(value)}")
    if array.ndim != 1:
        raise ValueError(f"{name}: {what} must be 1-D, got shape {array.shape}")
    return array.astype(np.int64)


def _lengths(name: str, lengths: Any, batch: int, steps: int) -> np.ndarray:
    lengths = _integers(name, "lengths", lengths)
    if lengths.shape != (batch,):
        raise ValueError(f"{name}: lengths must be {batch} integers, one per sequence, "
                         f"got {len(lengths)}")
    if batch == 0 or steps == 0:  # (torch's words)
        raise ValueError(f"{name}: cannot pack empty tensors (input of {steps} steps and "
                         f"{batch} sequences)")
    if lengths.min() < 1 or lengths.max() > steps:
        raise ValueError(f"{name}: every length must be in [1, {steps}] (the padded length), "
                         f"got {lengths.tolist()}")
    return lengths


def checked_packed(name: str, packed: Any) -> PackedSequence:
    """``packed`` after the checks a layer or ``pad_packed_sequence`` needs of one built by
    hand: ``batch_sizes`` positive and non-increasing, adding up to the rows of ``data``;
    ``sorted_indices`` a permutation of the batch and ``unsorted_indices`` its inverse
    (made here when missing, as torch). O(T + N): once at the entry, not per step."""
    if not isinstance(packed, PackedSequence):
        raise TypeError(f"{name}: expected a PackedSequence, got {describe(packed)}")
    data = as_tensor(name, "packed data", packed.data)
    sizes = _integers(name, "batch_sizes", packed.batch_sizes)
    if data.ndim == 0:
        raise ShapeError(f"{name}: the packed data must have at least 1 dimension, got a 0-d one")
    if len(sizes) == 0 or sizes.min() < 1 or np.any(np.diff(sizes) > 0):
        raise ValueError(f"{name}: batch_sizes must be positive and non-increasing "
                         f"(sequences sorted longest first), got {sizes.tolist()}")
    if sizes.sum() != data.shape[0]:
        raise ShapeError(f"{name}: batch_sizes add up to {sizes.sum()} rows, but the packed "
                         f"data has {data.shape[0]}")
    sorted_indices, unsorted_indices = packed.sorted_indices, packed.unsorted_indices
    batch = int(sizes[0])
    if sorted_indices is None:
        if unsorted_indices is not None:
            raise ValueError(f"{name}: unsorted_indices without sorted_indices")
        return PackedSequence(data, sizes, None, None)
    sorted_indices = _permutation(name, "sorted_indices", sorted_indices, batch)
    inverse = np.argsort(sorted_indices)
    if unsorted_indices is None:
        unsorted_indices = inverse
    elif not np.array_equal(_permutation(name, "unsorted_indices", unsorted_indices, batch),
                            inverse):
        raise ValueError(f"{name}: unsorted_indices must undo sorted_indices "
                         f"({inverse.tolist()}), got {np.asarray(unsorted_indices).tolist()}")
    return PackedSequence(data, sizes, sorted_indices, np.asarray(unsorted_indices, np.int64))


def _permutation(name: str, what: str, value: Any, batch: int) -> np.ndarray:
    indices = _integers(name, what, value)
    if not np.array_equal(np.sort(indices), np.arange(batch)):
        raise ValueError(f"{name}: {what} must be a permutation of 0..{batch - 1} "
                         f"(batch_sizes[0] = {batch} sequences), got {indices.tolist()}")
    return indices


def pack_padded_sequence(input: TensorLike, lengths: Tensor | ArrayLike, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch (T, B, *) ((B, T, *) with batch_first) of sequences of the
    given lengths. With ``enforce_sorted`` the lengths must already decrease;
    otherwise the batch is sorted here and ``unsorted_indices`` remembers the order.

    Refused: lengths that are not B whole numbers in [1, T] (a float Tensor of whole
    numbers passes, as torch), an empty batch, flags that are not bools.
    """
    name = "pack_padded_sequence"
    x = as_tensor(name, "input", input)
    batch_first = flag(name, "batch_first", batch_first)
    enforce_sorted = flag(name, "enforce_sorted", enforce_sorted)
    if x.ndim < 2:
        raise ShapeError(f"{name}: input must be (T, B, *) or, with batch_first, (B, T, *); "
                         f"got shape {x.shape}")
    if batch_first:
        x = x.transpose(0, 1)
    lengths = _lengths(name, lengths, x.shape[1], x.shape[0])
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise ValueError(f"{name}: `lengths` array must be sorted in decreasing order when "
                             f"`enforce_sorted` is True, got {lengths.tolist()} (they are not "
                             f"sorted longest first); sort the batch or pass "
                             f"enforce_sorted=False")
        sorted_indices = unsorted_indices = None
    else:
        sorted_indices = np.argsort(-lengths, kind="stable")
        unsorted_indices = np.argsort(sorted_indices)
        x, lengths = x[:, sorted_indices], lengths[sorted_indices]
    batch_sizes = np.array([(lengths > t).sum() for t in range(lengths.max())], dtype=np.int64)
    # one unbind, then a slice of one step each (x[t, :b] would make backward O(T^2))
    steps = [step if b == x.shape[1] else step[:b]
             for step, b in zip(x.unbind(0), batch_sizes)]
    data = steps[0] if len(steps) == 1 else concat(steps, dim=0)
    return PackedSequence(data, batch_sizes, sorted_indices, unsorted_indices)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, np.ndarray]:
    """(padded (T, B, *) or (B, T, *), lengths (B,)): the inverse of pack_padded_sequence,
    in the batch's original order; ``total_length`` (an int or None) pads T further.
    A PackedSequence built by hand is checked first (``checked_packed``)."""
    name = "pad_packed_sequence"
    data, batch_sizes, _, unsorted_indices = checked_packed(name, sequence)
    batch_first = flag(name, "batch_first", batch_first)
    padding_value = number(name, "padding_value", padding_value, finite=False)
    if total_length is not None:
        total_length = size(name, "total_length", total_length)
    steps, batch = len(batch_sizes), int(batch_sizes[0])
    if total_length is not None and total_length < steps:
        raise ValueError(f"pad_packed_sequence: total_length {total_length} is shorter than "
                         f"the longest sequence, {steps} steps")
    features = data.shape[1:]
    pieces = data.split([int(b) for b in batch_sizes], dim=0) if steps > 1 else (data,)
    rows = []
    for piece, b in zip(pieces, batch_sizes):
        if b < batch:  # the sequences that have ended get the padding value
            filler = Tensor(np.full((batch - b,) + features, padding_value, dtype=data.dtype))
            piece = concat([piece, filler], dim=0)
        rows.append(piece)
    for _ in range(steps, total_length or steps):
        rows.append(Tensor(np.full((batch,) + features, padding_value, dtype=data.dtype)))
    padded = stack(rows, dim=0)
    lengths = (batch_sizes[:, None] > np.arange(batch)).sum(axis=0)
    if unsorted_indices is not None:
        padded, lengths = padded[:, unsorted_indices], lengths[unsorted_indices]
    return (padded.transpose(0, 1) if batch_first else padded), lengths


def pad_sequence(sequences: Iterable[TensorLike], batch_first: bool = False,
                 padding_value: float = 0.0) -> Tensor:
    """Sequences (L_i, *) of one feature shape and dtype, padded to the longest: (T, B, *).
    Refused: no sequences, a 0-d one, feature shapes or dtypes that differ."""
    name = "pad_sequence"
    batch_first = flag(name, "batch_first", batch_first)
    padding_value = number(name, "padding_value", padding_value, finite=False)
    seqs = _sequences(name, sequences)
    longest = max(s.shape[0] for s in seqs)
    padded = []
    for s in seqs:
        if s.shape[0] < longest:
            filler = np.full((longest - s.shape[0],) + s.shape[1:], padding_value, dtype=s.dtype)
            s = concat([s, Tensor(filler)], dim=0)
        padded.append(s)
    return stack(padded, dim=0 if batch_first else 1)


def pack_sequence(sequences: Iterable[TensorLike], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences (L_i, *) directly (each of length >= 1)."""
    seqs = _sequences("pack_sequence", sequences)
    enforce_sorted = flag("pack_sequence", "enforce_sorted", enforce_sorted)
    return pack_padded_sequence(pad_sequence(seqs), [s.shape[0] for s in seqs],
                                enforce_sorted=enforce_sorted)


def _sequences(name: str, sequences: Any) -> list[Tensor]:
    """A list of Tensors (L_i, *) of one feature shape and dtype, at least one."""
    if isinstance(sequences, (Tensor, np.ndarray, str, bytes)) or \
            not isinstance(sequences, Iterable):
        raise TypeError(f"{name}: sequences must be a list of Tensors, got {describe(sequences)}")
    seqs = [as_tensor(name, f"sequence {i}", s) for i, s in enumerate(sequences)]
    if not seqs:
        raise ValueError(f"{name}: received an empty list of sequences")
    first = seqs[0]
    for i, s in enumerate(seqs):
        if s.ndim == 0:
            raise ShapeError(f"{name}: sequence {i} is 0-d; each must be (length, *)")
        if s.shape[1:] != first.shape[1:] or s.dtype != first.dtype:
            raise ShapeError(f"{name}: every sequence must have the features shape and dtype "
                             f"of the first, {first.shape[1:]} {first.dtype}; sequence {i} "
                             f"has {s.shape[1:]} {s.dtype}")
    return seqs
