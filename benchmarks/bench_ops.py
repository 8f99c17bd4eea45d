"""Dispatch cost of one op: tinygrad_rnn against the raw numpy call, on a tiny array.

On a (4, 4) array numpy's own arithmetic takes well under a microsecond, so
what is left is the engine's Python layer per graph node: ``Function.apply``
(a Context, the output Tensor) in forward, and the backward loop (topological
order, the op's backward, accumulation into ``.grad``) in backward. A
regression in either shows up here first.

    python benchmarks/bench_ops.py              # every op, forward and forward + backward
    python benchmarks/bench_ops.py --ops mul sigmoid --repeats 15

Rows: microseconds per call, the fastest of interleaved repeats (for a microbenchmark
the minimum is the least noisy estimate: noise only ever adds time).
``numpy fwd``   the numpy expression the op's forward computes;
``ours fwd``    the same through the engine, with requires_grad=True (a node is recorded);
``no_grad fwd`` the same inside ``tr.no_grad()`` (no node);
``numpy f+b``   forward plus the numpy expressions of its backward;
``ours f+b``    forward plus ``out.backward(grad)`` into the leaves' ``.grad``;
``chain/node``  per node of a chain of 100 such ops (y = op(y, w)) and one backward:
                what a node costs inside a deep graph, as in an unrolled RNN, without
                backward()'s fixed cost per call;
``numpy chain`` the same per node in plain numpy (forward and backward expressions).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import tinygrad_rnn as tr  # noqa: E402


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class Identity(tr.Function):
    """out = x.   dx = grad. No arithmetic at all: what is left is the engine's own cost."""

    @staticmethod
    def forward(ctx, x):
        return x

    @staticmethod
    def backward(ctx, grad):
        return grad


# name: (ours: (x, y) -> Tensor, numpy forward: (a, b) -> array,
#        numpy backward: (a, b, out, g) -> gradients)
OPS = {
    "add": (lambda x, y: x + y, lambda a, b: a + b, lambda a, b, out, g: (g, g)),
    "mul": (lambda x, y: x * y, lambda a, b: a * b, lambda a, b, out, g: (g * b, g * a)),
    "tanh": (lambda x, y: x.tanh(), lambda a, b: np.tanh(a),
             lambda a, b, out, g: g * (1.0 - out * out)),
    "sigmoid": (lambda x, y: x.sigmoid(), lambda a, b: _sigmoid(a),
                lambda a, b, out, g: g * (out * (1.0 - out))),
    "matmul": (lambda x, y: x @ y, lambda a, b: a @ b, lambda a, b, out, g: (g @ b.T, a.T @ g)),
    # the floor: a node that does nothing (one input, so no leaf accumulation per node)
    "identity": (lambda x, y: Identity.apply(x), lambda a, b: a, lambda a, b, out, g: g),
}


CHAIN = 100


def timer(fn, calls):
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def bench_op(name, shape, repeats, calls):
    ours, np_fwd, np_bwd = OPS[name]
    rng = np.random.default_rng(0)
    a, b, g = (rng.standard_normal(shape) for _ in range(3))
    x, y = tr.Tensor(a, requires_grad=True), tr.Tensor(b, requires_grad=True)

    def numpy_forward():
        return np_fwd(a, b)

    def numpy_both():
        return np_bwd(a, b, np_fwd(a, b), g)

    def ours_forward():
        return ours(x, y)

    def ours_no_grad():
        with tr.no_grad():
            return ours(x, y)

    def ours_both():
        x.grad = y.grad = None
        ours(x, y).backward(g)

    def ours_chain():
        x.grad = y.grad = None
        out = x
        for _ in range(CHAIN):
            out = ours(out, y)
        out.backward(g)

    def numpy_chain():
        out, saved = a, []
        for _ in range(CHAIN):
            saved.append(out)
            out = np_fwd(out, b)
        grad = g
        for inp in reversed(saved):
            grad = np_bwd(inp, b, out, grad)
            grad = grad[0] if isinstance(grad, tuple) else grad

    cases = {"numpy fwd": numpy_forward, "ours fwd": ours_forward, "no_grad fwd": ours_no_grad,
             "numpy f+b": numpy_both, "ours f+b": ours_both,
             "numpy chain": numpy_chain, "chain/node": ours_chain}
    samples = {k: [] for k in cases}
    for _ in range(repeats):  # interleaved: a busy moment of the machine hits every case
        for k, fn in cases.items():
            per_call = CHAIN if "chain" in k else 1
            samples[k].append(timer(fn, max(1, calls // per_call)) / per_call)
    return {k: min(v) for k, v in samples.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", nargs="+", default=list(OPS), choices=list(OPS))
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--calls", type=int, default=2000, help="calls per timing sample")
    args = parser.parse_args(argv)
    print(f"# {time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}, "
          f"numpy {np.__version__}; (4, 4) float64, microseconds per call, "
          f"fastest of {args.repeats} interleaved repeats\n")
    cols = ["numpy fwd", "ours fwd", "no_grad fwd", "numpy f+b", "ours f+b", "numpy chain",
            "chain/node"]
    print("| op | " + " | ".join(cols) + " | overhead fwd | overhead f+b | overhead/node |")
    print("|---|" + "---|" * (len(cols) + 3))
    for name in args.ops:
        r = bench_op(name, (4, 4), args.repeats, args.calls)
        cells = [f"{r[c]:.2f}" for c in cols]
        cells += [f"{r['ours fwd'] - r['numpy fwd']:.2f}", f"{r['ours f+b'] - r['numpy f+b']:.2f}",
                  f"{r['chain/node'] - r['numpy chain']:.2f}"]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
