"""The adding problem (Hochreiter & Schmidhuber, 1997): RNN against LSTM against GRU.

Each input is a sequence of T pairs (value, marker): the values are uniform in
[0, 1], and exactly two markers are 1 -- one in the first half of the sequence,
one in the second. The target is the sum of the two marked values. Nothing
about the task is hard except the distance: the first marked value must be
carried through up to T steps of unrelated input before it is needed.

Always predicting 1.0 (the mean of the target) scores MSE = Var(u1 + u2) = 1/6
= 0.167, so a network that does not carry the first value through time cannot
do much better than that. The three layers get the same hidden size, the same
optimizer, the same batches and the same number of updates; the plain RNN
stalls near the baseline, while the gated cells solve it.

    python examples/adding_problem.py             # T = 50, about a minute
    python examples/adding_problem.py --quick     # T = 20, seconds
    python examples/adding_problem.py --length 100 --steps 1500
"""

from __future__ import annotations

import _common as C  # first: BLAS threads, sys.path

import sys

import numpy as np

from tinygrad_rnn import Tensor, functional as F, nn, no_grad

BASELINE = 1.0 / 6.0  # MSE of always predicting 1.0: Var(u1 + u2) = 2 * 1/12
LAYERS = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}


def adding_batch(rng: np.random.Generator, batch: int,
                 length: int) -> tuple[np.ndarray, np.ndarray]:
    """x (length, batch, 2) float32, time first; y (batch, 1): the sum of the marked values."""
    values = rng.uniform(0.0, 1.0, (length, batch))
    first = rng.integers(0, length // 2, batch)
    second = rng.integers(length // 2, length, batch)
    markers = np.zeros((length, batch))
    markers[first, np.arange(batch)] = 1.0
    markers[second, np.arange(batch)] = 1.0
    x = np.stack([values, markers], axis=-1).astype(np.float32)
    y = (values * markers).sum(axis=0, keepdims=True).T.astype(np.float32)
    return x, y


class Adder(nn.Module):
    """A recurrent layer over the sequence, then a linear read-out of its last hidden state."""

    def __init__(self, kind: str, hidden: int):
        self.rnn = LAYERS[kind](2, hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x) -> Tensor:
        out, _ = self.rnn(Tensor(x))
        return self.head(out[-1])


def train(kind: str, args, seed: int, test: tuple) -> dict:
    """Train one layer kind; returns its learning curve and final test MSE."""
    rng = C.seed(seed)  # the same initialization stream and the same batches for every kind
    model = Adder(kind, args.hidden).float()
    curve = C.train_mse(model, lambda: adding_batch(rng, args.batch, args.length), args,
                        desc=f"{kind:>4}")
    with no_grad():
        test_mse = float(F.mse_loss(model(test[0]), test[1]).item())
    return {"curve": curve, "test_mse": test_mse}


def get_args(argv):
    p = C.parser(__doc__.split("\n\n")[0])
    p.add_argument("--length", type=int, default=None,
                   help="sequence length T (default 50; quick 20)")
    p.add_argument("--steps", type=int, default=None,
                   help="updates per layer (default 900; quick 400)")
    p.add_argument("--hidden", type=int, default=None, help="hidden size (default 32; quick 16)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--layers", nargs="+", choices=list(LAYERS), default=list(LAYERS))
    args = p.parse_args(argv)
    defaults = dict(length=(20, 50), steps=(400, 900), hidden=(16, 32))
    return C.fill_defaults(args, defaults)


def main(argv=None) -> dict:
    args = get_args(argv)
    timer = C.Timer()
    test = adding_batch(np.random.default_rng(args.seed + 10_000), 1000, args.length)
    test_baseline = float(np.mean((test[1] - 1.0) ** 2))
    print(f"adding problem, T = {args.length}: {args.steps} updates of {args.batch} sequences, "
          f"hidden {args.hidden}, Adam lr {args.lr}")
    results = {}
    for kind in args.layers:
        start = timer()
        results[kind] = train(kind, args, args.seed, test)
        results[kind]["seconds"] = timer() - start
        print(f"  {kind:>4}: test MSE {results[kind]['test_mse']:.4f}   "
              f"({results[kind]['seconds']:.1f} s)")
    print(f"  always 1.0: test MSE {test_baseline:.4f}   (in theory 1/6 = {BASELINE:.4f})")

    figure = C.plot_curves(args, results, (BASELINE, "always 1.0 (1/6)"),
                           f"adding problem, T = {args.length}", "adding_problem.png")

    return C.finish({
        "length": args.length, "steps": args.steps, "baseline": BASELINE,
        "test_baseline": test_baseline,
        **C.per_run(results),
        "total_seconds": timer(), "figure": figure,
    }, args)


if __name__ == "__main__":
    main(sys.argv[1:])
