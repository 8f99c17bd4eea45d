"""A/B: one training step of a layer under two versions of tinygrad_rnn, in one process.

Between two processes the same code differs by several per cent (memory layout,
the allocator, the other core's load), more than most single changes to the
engine are worth. Here both versions are imported side by side, under two
package names, and their steps are interleaved, so a busy moment hits both.

    python benchmarks/ab.py HEAD~1                     # that revision (A) against the work tree (B)
    python benchmarks/ab.py 5968b80 HEAD --kinds lstm gru --configs small tiny

Each cell is the median over ``--repeats`` interleaved rounds of ms per step;
``B/A`` below 1 means B is faster. Both versions must agree on the loss.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import importlib  # noqa: E402
import io  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rnn import CONFIGS, GATES, interleaved_medians, pin_malloc  # noqa: E402


def export(revision: str, name: str, into: Path) -> None:
    """tinygrad_rnn as of ``revision`` (or the work tree, for "WORKTREE") as package ``name``."""
    if revision == "WORKTREE":
        shutil.copytree(ROOT / "tinygrad_rnn", into / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
        return
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "tinygrad_rnn"],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # 3.11.4+
        tar.extractall(into, **safe)
    (into / "tinygrad_rnn").rename(into / name)  # its imports are relative: any name works


def training_step(tr, kind: str, config: tuple):
    """The benchmark's step (MSE of a fixed readout of every hidden state) for package ``tr``."""
    N, I, H, T = config
    rng = np.random.default_rng(0)
    tr.manual_seed(0)
    layer = {"rnn": tr.nn.RNN, "lstm": tr.nn.LSTM, "gru": tr.nn.GRU}[kind](I, H)
    params = list(layer.parameters())
    shapes = ((T, N, I), (H, 1), (T, N, 1))
    x, readout, targets = (tr.Tensor(rng.standard_normal(s)) for s in shapes)

    def step():
        for p in params:
            p.grad = None
        loss = (((layer(x)[0] @ readout) - targets) ** 2).mean()
        loss.backward()
        return loss.item()

    return step


def compare(packages: dict, kind: str, config: tuple, repeats: int, min_time: float) -> dict:
    steps = {name: training_step(tr, kind, config) for name, tr in packages.items()}
    losses = {name: step() for name, step in steps.items()}
    a, b = losses.values()
    if not np.isclose(a, b, rtol=1e-9):
        raise SystemExit(f"the two versions disagree on the loss: {a} and {b}")
    return interleaved_medians(steps, "A", repeats, min_time)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", help="a git revision")
    parser.add_argument("b", nargs="?", default="WORKTREE",
                        help="a git revision (default: the work tree)")
    parser.add_argument("--kinds", nargs="+", default=["lstm"], choices=list(GATES))
    parser.add_argument("--configs", nargs="+", default=["tiny", "small"], choices=list(CONFIGS))
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--min-time", type=float, default=0.05, help="seconds per timing sample")
    args = parser.parse_args(argv)
    pin_malloc()
    with tempfile.TemporaryDirectory() as tmp:
        for name, revision in (("tgr_a", args.a), ("tgr_b", args.b)):
            export(revision, name, Path(tmp))
        sys.path.insert(0, tmp)
        packages = {"A": importlib.import_module("tgr_a"), "B": importlib.import_module("tgr_b")}
        print(f"# A = {args.a}, B = {args.b}; median ms per step over {args.repeats} "
              f"interleaved rounds\n")
        print("| kind | config | A | B | B/A |")
        print("|---|---|---|---|---|")
        for kind in args.kinds:
            for config in args.configs:
                r = compare(packages, kind, CONFIGS[config], args.repeats, args.min_time)
                print(f"| {kind} | {config} | {r['A']:.4f} | {r['B']:.4f} | "
                      f"{r['B'] / r['A']:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
