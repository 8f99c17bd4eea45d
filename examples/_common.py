"""What every example shares: BLAS threads, seeding, arguments, a progress bar,
figures, and the printed/returned result.

Import it first, before numpy: it sets BLAS to one thread, because these models
multiply small matrices many times, and a multi-threaded BLAS on a busy machine
spends more time waking its threads than multiplying (measured: 6x slower on 2
shared cores). It also puts the repository root on ``sys.path`` so that the
examples run from a checkout without ``pip install``.
"""

from __future__ import annotations

import os
import sys

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import tinygrad_rnn as tr  # noqa: E402


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every example takes."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="a small, fast run (what the test suite runs)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    p.add_argument("--out", type=Path, default=Path("."),
                   help="directory for the figure (and checkpoint)")
    p.add_argument("--no-plot", action="store_true", help="save no figure")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", type=Path, default=None, metavar="PATH",
                   help="also write the measured results to PATH as JSON")
    return p


def seed(n: int) -> np.random.Generator:
    """Seed the package's generator (initialization) and return a numpy Generator
    for the data, so a run is the same every time."""
    tr.manual_seed(n)
    return np.random.default_rng(n)


class _Silent:
    """The part of tqdm's interface the examples use, doing nothing."""

    def __init__(self, iterable):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def set_postfix(self, *args, **kwargs):
        pass

    def close(self):
        pass


def progress(iterable, desc: str, disable: bool = False, **kwargs):
    """A tqdm progress bar over ``iterable``, or a silent loop when tqdm is missing."""
    if disable:
        return _Silent(iterable)
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _Silent(iterable)
    return tqdm(iterable, desc=desc, leave=False, dynamic_ncols=True, **kwargs)


def fill_defaults(args, defaults: dict):
    """Each option left unset (None) takes its default: ``{name: (quick, full)}``."""
    for name, (quick, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    return args


def train_mse(model, next_batch, args, desc: str = "training", every: int = 20,
              on_step=None) -> list:
    """``args.steps`` Adam updates (lr ``args.lr``) of the mean squared error of
    ``model(x)`` against ``y``, for ``(x, y) = next_batch()``, gradients clipped to
    a total norm of 1, with a progress bar showing the running loss.

    ``on_step(step, opt)``, when given, runs before each update (e.g. to lower the
    learning rate). Returns the loss of every update.
    """
    params = list(model.parameters())
    opt = tr.optim.Adam(params, lr=args.lr)
    curve = []
    bar = progress(range(args.steps), desc, args.no_progress)
    for step in bar:
        if on_step is not None:
            on_step(step, opt)
        x, y = next_batch()
        loss = tr.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        tr.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        curve.append(loss.item())
        if step % every == 0:
            bar.set_postfix(mse=f"{np.mean(curve[-every:]):.4f}")
    bar.close()
    return curve


def pyplot(args):
    """matplotlib.pyplot with the file-only Agg backend, or None (no figure wanted,
    or matplotlib missing: then a note is printed and the example goes on)."""
    if args.no_plot:
        return None
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no figure; pip install matplotlib)")
        return None
    return plt


def save_figure(fig, args, name: str) -> str:
    """Save ``fig`` as ``<out>/<name>`` and close it; returns the path."""
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / name
    fig.savefig(path, dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)
    print(f"figure: {path}")
    return str(path)


def smooth(values: list, width: int) -> np.ndarray:
    """Running mean over ``width`` updates (shorter at the start)."""
    c = np.cumsum(np.r_[0.0, values])
    k = np.arange(1, len(values) + 1)
    lo = np.maximum(0, k - width)
    return (c[k] - c[lo]) / (k - lo)


def plot_curves(args, results: dict, baseline: tuple, title: str, name: str,
                mse_format: str = ".4f") -> str | None:
    """Training curves (a running mean of each ``results[k]["curve"]``, labelled with its
    test MSE), log scale, beside a ``baseline`` (value, label); saved as ``<out>/<name>``.
    Returns the path, or None when no figure is drawn."""
    plt = pyplot(args)
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    width = max(1, args.steps // 30)
    for kind, r in results.items():
        ax.plot(np.arange(1, args.steps + 1), smooth(r["curve"], width),
                label=f"{kind} (test MSE {r['test_mse']:{mse_format}})")
    ax.axhline(baseline[0], color="gray", ls="--", label=baseline[1])
    ax.set_yscale("log")
    ax.set_xlabel("update")
    ax.set_ylabel(f"training MSE (running mean of {width})")
    ax.set_title(title)
    ax.legend()
    return save_figure(fig, args, name)


def per_run(results: dict) -> dict:
    """{"test_mse": ..., "curves": ..., "seconds": ...}, each {run name: value}, from
    ``results`` = {run name: {"test_mse", "curve", "seconds"}} (what a comparison reports)."""
    return {"test_mse": {k: r["test_mse"] for k, r in results.items()},
            "curves": {k: r["curve"] for k, r in results.items()},
            "seconds": {k: r["seconds"] for k, r in results.items()}}


class Timer:
    """Wall-clock seconds since creation: ``timer()``."""

    def __init__(self):
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start


def finish(result: dict, args) -> dict:
    """Write the result as JSON when asked (``--json``) and return it."""
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    return result
