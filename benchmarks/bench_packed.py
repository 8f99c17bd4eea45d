"""What variable lengths cost: one training step on a batch of sequences of different
lengths, zero-padded or packed (``nn.utils.rnn``), for tinygrad_rnn and, when
installed, torch's fused layers.

The batch holds N sequences whose lengths fall evenly from T to 1. The loss is
the mean squared error of a fixed linear readout of every hidden state *within
its sequence* against fixed targets: the padded step masks out the positions
past each sequence's end, the packed step never computes them. For a
one-direction layer the outputs inside a sequence do not depend on the padding
after it, so both steps have the same loss and the same gradients, and every
implementation must agree with tinygrad_rnn's padded step (loss and every
gradient to 1e-6 relative) before it is timed.

    python benchmarks/bench_packed.py          # RNN, LSTM, GRU at (N, I, H, T) = (16, 8, 32, 50)
    python benchmarks/bench_packed.py --quick  # a smoke run

Columns: ms per step of our padded step, and every step as a ratio to it.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tinygrad_rnn as tr  # noqa: E402  (bench_rnn put the repository on the path)
from tinygrad_rnn.nn.utils.rnn import pack_padded_sequence  # noqa: E402

from bench_rnn import (  # noqa: E402
    GATES,
    PARAM_NAMES,
    Problem,
    agrees,
    interleaved_medians,
    pin_malloc,
    ratio_cells,
    torch,
)

SIZES = (16, 8, 32, 50)  # N, I, H, T: bench_rnn's "small"


class Batch(Problem):
    """bench_rnn's parameters, inputs, readout and targets (float64), zeroed past each
    sequence's end, with the lengths and the mask that says where each one ends."""

    def __init__(self, kind, N, I, H, T, seed=0):
        super().__init__(kind, N, I, H, T, np.float64, seed)
        self.lengths = np.linspace(T, 1, N).round().astype(int)  # sorted, longest first
        self.mask = (np.arange(T)[:, None] < self.lengths[None, :])[..., None]  # (T, N, 1)
        self.x = self.x * self.mask
        self.targets = self.targets * self.mask


def _ours(b: Batch, packed: bool):
    layer = {"rnn": tr.nn.RNN, "lstm": tr.nn.LSTM, "gru": tr.nn.GRU}[b.kind](*b.x.shape[2:],
                                                                            b.readout.shape[0])
    layer.load_state_dict({k + "_l0": v for k, v in b.params.items()})
    params = dict(layer.named_parameters())
    x, readout = tr.Tensor(b.x), tr.Tensor(b.readout)
    mask, count = tr.Tensor(b.mask.astype(float)), int(b.lengths.sum())
    targets = tr.Tensor(b.targets)
    packed_targets = pack_padded_sequence(targets, b.lengths).data

    def step():
        for t in params.values():
            t.grad = None
        if packed:
            out = layer(pack_padded_sequence(x, b.lengths))[0].data
            loss = ((out @ readout - packed_targets) ** 2).mean()
        else:
            out = layer(x)[0]
            loss = (((out @ readout - targets) ** 2) * mask).sum() / count
        loss.backward()
        return loss.item(), {n: params[n + "_l0"].grad for n in PARAM_NAMES}

    return step


def _torch(b: Batch, packed: bool):
    layer = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[b.kind](
        *b.x.shape[2:], b.readout.shape[0]).double()
    layer.load_state_dict({k + "_l0": torch.from_numpy(v.copy()) for k, v in b.params.items()})
    params = dict(layer.named_parameters())
    x, readout, targets = (torch.from_numpy(a) for a in (b.x, b.readout, b.targets))
    mask, count = torch.from_numpy(b.mask.astype(float)), int(b.lengths.sum())
    lengths = torch.from_numpy(b.lengths)
    pack = torch.nn.utils.rnn.pack_padded_sequence
    packed_targets = pack(targets, lengths).data

    def step():
        for t in params.values():
            t.grad = None
        if packed:
            out = layer(pack(x, lengths))[0].data
            loss = ((out @ readout - packed_targets) ** 2).mean()
        else:
            out = layer(x)[0]
            loss = (((out @ readout - targets) ** 2) * mask).sum() / count
        loss.backward()
        return loss.item(), {n: params[n + "_l0"].grad.numpy() for n in PARAM_NAMES}

    return step


def implementations() -> dict:
    impls = {"ours padded": lambda b: _ours(b, False), "ours packed": lambda b: _ours(b, True)}
    if torch is not None:
        impls.update({"torch padded": lambda b: _torch(b, False),
                      "torch packed": lambda b: _torch(b, True)})
    return impls


def measure(kind, repeats, min_time, sizes=SIZES):
    batch = Batch(kind, *sizes)
    steps = {name: make(batch) for name, make in implementations().items()}
    truth = steps["ours padded"]()
    refused = {}
    for name, step in list(steps.items()):
        problem = agrees(step, truth, 1e-6)
        if problem:
            refused[name] = problem
            del steps[name]
    return interleaved_medians(steps, "ours padded", repeats, min_time), refused


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few repeats")
    parser.add_argument("--kinds", nargs="+", default=list(GATES), choices=list(GATES))
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    malloc = pin_malloc()
    repeats = args.repeats or (3 if args.quick else 7)
    min_time = 0.005 if args.quick else 0.2
    names = list(implementations())
    N, I, H, T = SIZES
    print(f"# (N, I, H, T) = {SIZES}, lengths {T} down to 1; {malloc}; float64, 1 BLAS thread")
    print(f"# median ms per training step over {repeats} interleaved repeats; "
          f"ratio to ours padded\n")
    print("| kind | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    ok = True
    for kind in args.kinds:
        medians, refused = measure(kind, repeats, min_time)
        cells, agree = ratio_cells(names, medians, refused, "ours padded")
        ok &= agree
        print(f"| {kind} | " + " | ".join(cells) + " |", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
