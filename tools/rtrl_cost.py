"""BPTT against RTRL: time and peak memory of one gradient as T and H grow (docs/rtrl.md).

An ``nn.RNNCell(1, H)`` in float64, batch 1, a squared error at every step. BPTT runs the
cell step by step with the graph and calls ``backward`` once; RTRL is
``tr.rtrl.gradients``. Time is the best of a few runs; peak memory is tracemalloc's
(numpy reports its arrays to it) during the gradient, in a second run.

    python tools/rtrl_cost.py
"""

from __future__ import annotations

import gc
import os
import sys
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import tinygrad_rnn as tr  # noqa: E402
from tinygrad_rnn import Tensor, nn  # noqa: E402


def problem(T: int, H: int) -> tuple[nn.RNNCell, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    tr.manual_seed(0)
    return nn.RNNCell(1, H).double(), rng.standard_normal((T, 1, 1)), rng.standard_normal((T, 1, H))


def bptt(cell: nn.RNNCell, x: np.ndarray, y: np.ndarray) -> None:
    h, total = None, Tensor(0.0)
    for t in range(len(x)):
        h = cell(Tensor(x[t]), h)
        total = total + ((h - Tensor(y[t])) ** 2).sum()
    total.backward()
    cell.zero_grad()


def rtrl(cell: nn.RNNCell, x: np.ndarray, y: np.ndarray) -> None:
    tr.rtrl.gradients(cell, x, lambda h, t: ((h - Tensor(y[t])) ** 2).sum())


def measure(method, T: int, H: int, repeats: int) -> tuple[float, float]:
    """(seconds, peak KiB) of one gradient."""
    cell, x, y = problem(T, H)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        method(cell, x, y)
        best = min(best, time.perf_counter() - start)
    gc.collect()
    tracemalloc.start()
    method(cell, x, y)  # (a first run inside: caches and first-time allocations out)
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    method(cell, x, y)
    peak = tracemalloc.get_traced_memory()[1] - before  # (what this run added, at most)
    tracemalloc.stop()
    return best, peak / 1024


ROWS = [(10, 8), (50, 8), (200, 8), (20, 4), (20, 8), (20, 16)]


def main() -> None:
    print("| T | H | P | BPTT time | RTRL time | BPTT peak memory | RTRL peak memory |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for T, H in ROWS:
        P = H + H * H + 2 * H
        tb, mb = measure(bptt, T, H, 3)
        tt, mt = measure(rtrl, T, H, 1)
        print(f"| {T} | {H} | {P} | {1e3 * tb:.1f} ms | {1e3 * tt:.0f} ms | {mb:.0f} KiB | "
              f"{mt:.0f} KiB |", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1:  # (rows of your own: python tools/rtrl_cost.py 20x4 20x8)
        ROWS = [tuple(int(n) for n in a.split("x")) for a in sys.argv[1:]]
    main()
