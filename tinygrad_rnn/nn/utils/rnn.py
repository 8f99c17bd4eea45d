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
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ...functional import _tensor
from ...tensor import ShapeError, Tensor, concat, stack

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


def _lengths(name: str, lengths: Tensor | ArrayLike, batch: int, steps: int) -> np.ndarray:
    lengths = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths)
    if lengths.shape != (batch,) or lengths.dtype.kind not in "iuf" or \
            np.any(lengths != np.round(lengths)):
        raise ValueError(f"{name}: lengths must be {batch} integers, one per sequence, "
                         f"got {lengths!r}")
    lengths = lengths.astype(np.int64)
    if batch and (lengths.min() < 1 or lengths.max() > steps):
        raise ValueError(f"{name}: every length must be in [1, {steps}] (the padded length), "
                         f"got {lengths.tolist()}")
    return lengths


def pack_padded_sequence(input: TensorLike, lengths: Tensor | ArrayLike, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch (T, B, *) ((B, T, *) with batch_first) of sequences of the
    given lengths. With ``enforce_sorted`` the lengths must already decrease;
    otherwise the batch is sorted here and ``unsorted_indices`` remembers the order."""
    name = "pack_padded_sequence"
    x = _tensor(input)
    if x.ndim < 2:
        raise ShapeError(f"{name}: input must be (T, B, *) or, with batch_first, (B, T, *); "
                         f"got shape {x.shape}")
    if batch_first:
        x = x.transpose(0, 1)
    lengths = _lengths(name, lengths, x.shape[1], x.shape[0])
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise ValueError(f"{name}: lengths {lengths.tolist()} are not sorted longest "
                             f"first; sort the batch or pass enforce_sorted=False")
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
    in the batch's original order; ``total_length`` pads T further."""
    data, batch_sizes, _, unsorted_indices = sequence
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
    """Sequences (L_i, *) of one feature shape, padded to the longest: (T, B, *)."""
    seqs = [_tensor(s) for s in sequences]
    if not seqs:
        raise ValueError("pad_sequence: needs at least one sequence")
    longest = max(s.shape[0] for s in seqs)
    padded = []
    for s in seqs:
        if s.shape[0] < longest:
            filler = np.full((longest - s.shape[0],) + s.shape[1:], padding_value, dtype=s.dtype)
            s = concat([s, Tensor(filler)], dim=0)
        padded.append(s)
    return stack(padded, dim=0 if batch_first else 1)


def pack_sequence(sequences: Iterable[TensorLike], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences (L_i, *) directly."""
    seqs = [_tensor(s) for s in sequences]
    return pack_padded_sequence(pad_sequence(seqs), [s.shape[0] for s in seqs],
                                enforce_sorted=enforce_sorted)
