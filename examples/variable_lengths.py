"""Sequences of different lengths: pack them, or the padding gets in the way.

Each sequence holds between 1 and T values, uniform in [0, 1], and the target is
its last value. A batch of such sequences is padded with zeros to the longest.
Two GRUs of the same size, the same batches and the same updates:

- **padded**: reads the padded batch and answers from its state after the last
  padded step, so it must notice where the real sequence ended and carry that
  value through the zeros that follow;
- **packed**: reads the same batch through ``pack_padded_sequence``, so each
  sequence stops at its own end and ``h_n`` is its state right after its last
  value (and no gradient reaches the padding).

Always predicting 0.5 scores MSE = Var(U[0, 1]) = 1/12 = 0.083.

    python examples/variable_lengths.py             # T = 30, about 5 seconds
    python examples/variable_lengths.py --quick     # T = 20, about 2 seconds
"""

from __future__ import annotations

import _common as C  # first: BLAS threads, sys.path

import sys

import numpy as np

from tinygrad_rnn import Tensor, functional as F, nn, no_grad
from tinygrad_rnn.nn.utils.rnn import pack_padded_sequence

BASELINE = 1.0 / 12.0  # MSE of always predicting 0.5


def batch_of_lengths(rng: np.random.Generator, batch: int, longest: int):
    """x (T, B, 1) float32 padded with zeros, lengths (B,), y (B, 1): each sequence's last value."""
    lengths = rng.integers(1, longest + 1, batch)
    values = rng.uniform(0.0, 1.0, (longest, batch))
    steps = np.arange(longest)[:, None]
    x = np.where(steps < lengths, values, 0.0)[..., None].astype(np.float32)
    y = values[lengths - 1, np.arange(batch)][:, None].astype(np.float32)
    return x, lengths, y


class LastValue(nn.Module):
    """A GRU over the batch, then a linear read-out of each sequence's final state."""

    def __init__(self, hidden: int, packed: bool):
        self.gru = nn.GRU(1, hidden)
        self.head = nn.Linear(hidden, 1)
        self.packed = packed

    def forward(self, batch) -> Tensor:
        x, lengths = batch
        x = Tensor(x)
        if self.packed:
            x = pack_padded_sequence(x, lengths, enforce_sorted=False)
        _, h_n = self.gru(x)  # packed: each sequence's state after its own last step
        return self.head(h_n[-1])


def train(packed: bool, args, test: tuple) -> dict:
    rng = C.seed(args.seed)  # the same initialization and the same batches for both
    model = LastValue(args.hidden, packed).float()

    def next_batch():
        x, lengths, y = batch_of_lengths(rng, args.batch, args.longest)
        return (x, lengths), y

    name = "packed" if packed else "padded"
    curve = C.train_mse(model, next_batch, args, desc=f"{name:>6}")
    with no_grad():
        test_mse = float(F.mse_loss(model((test[0], test[1])), test[2]).item())
    return {"curve": curve, "test_mse": test_mse}


def get_args(argv):
    p = C.parser(__doc__.split("\n\n")[0])
    p.add_argument("--longest", type=int, default=None,
                   help="the longest sequence T (default 30; quick 20)")
    p.add_argument("--steps", type=int, default=None,
                   help="updates per model (default 500; quick 250)")
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-2)
    args = p.parse_args(argv)
    return C.fill_defaults(args, dict(longest=(20, 30), steps=(250, 500)))


def main(argv=None) -> dict:
    args = get_args(argv)
    timer = C.Timer()
    test = batch_of_lengths(np.random.default_rng(args.seed + 10_000), 1000, args.longest)
    print(f"last value of sequences of 1 to {args.longest} values: {args.steps} updates of "
          f"{args.batch} sequences, GRU {args.hidden}, Adam lr {args.lr}")
    results = {}
    for packed in (False, True):
        name = "packed" if packed else "padded"
        start = timer()
        results[name] = train(packed, args, test)
        results[name]["seconds"] = timer() - start
        print(f"  {name}: test MSE {results[name]['test_mse']:.2e}   "
              f"({results[name]['seconds']:.1f} s)")
    print(f"  always 0.5: test MSE {BASELINE:.2e}")

    figure = C.plot_curves(args, results, (BASELINE, "always 0.5 (1/12)"),
                           f"the last of 1 to {args.longest} values: padded or packed",
                           "variable_lengths.png", mse_format=".1e")

    return C.finish({
        "longest": args.longest, "steps": args.steps, "baseline": BASELINE,
        **C.per_run(results),
        "total_seconds": timer(), "figure": figure,
    }, args)


if __name__ == "__main__":
    main(sys.argv[1:])
