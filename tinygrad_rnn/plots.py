"""Plots for people who would rather look than read (matplotlib, the ``viz`` extra).

Each function draws onto a new ``matplotlib.figure.Figure`` (never pyplot's
global state, so no window opens and nothing needs a display), saves it as a
PNG when given a path, and returns it. matplotlib is imported only when a
plot is made: ``import tinygrad_rnn`` never needs it.

- ``gradient_flow(flows)``: ||dL/dh_t|| against t, one line per model, log scale
  (the numbers from ``trace.gradient_flow``).
- ``gate_heatmap(gates)``: one heatmap per gate (units x time) for one sequence
  (the dict from ``trace.gate_trace`` or ``Recorder.of``).
- ``loss_curve(losses)``: training loss against step, one line per run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import os

    from matplotlib.figure import Figure
    from numpy.typing import ArrayLike

    PathLike = str | os.PathLike[str]

__all__ = ["gradient_flow", "gate_heatmap", "loss_curve"]


def _figure(width: float, height: float) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - exercised only without matplotlib
        # a ModuleNotFoundError naming matplotlib, so callers can tell a missing extra
        raise ModuleNotFoundError("tinygrad_rnn.plots needs matplotlib: pip install "
                                  "'tinygrad-rnn[viz]' (or pip install matplotlib)",
                                  name="matplotlib") from None
    return Figure(figsize=(width, height), layout="constrained")


def _save(fig: Figure, path: PathLike | None) -> Figure:
    if path is not None:
        path = Path(path)
        if path.suffix.lower() != ".png":
            raise ValueError(f"plots save PNG files: the path must end in .png, got {path.name!r}")
        fig.savefig(path, dpi=100)
    return fig


def _series(data: Mapping[Any, ArrayLike] | ArrayLike, default: str) -> dict[str, np.ndarray]:
    """{label: 1-D array} from a dict, or from one sequence (labelled ``default``)."""
    if isinstance(data, dict):
        return {str(k): np.asarray(v, dtype=float).ravel() for k, v in data.items()}
    return {default: np.asarray(data, dtype=float).ravel()}


def gradient_flow(flows: Mapping[str, ArrayLike] | ArrayLike, path: PathLike | None = None,
                  title: str = "Gradient flow through time") -> Figure:
    """||dL/dh_t|| against the time step t, one line per model, log scale.

    Arguments:
        flows: {label: array (T,)}, e.g. {"RNN": trace.gradient_flow(rnn, x),
            "LSTM": trace.gradient_flow(lstm, x)}, or one array.
        path: save a PNG there.

    Returns the Figure (one axes, one line per entry). Zeros (no gradient
    reached that step) are left out, since a log scale cannot show them.
    """
    fig = _figure(6.4, 3.6)
    ax = fig.add_subplot()
    for label, values in _series(flows, "dL/dh_t").items():
        steps = np.arange(len(values))
        shown = values > 0
        ax.plot(steps[shown], values[shown], marker="o", markersize=3, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("time step t")
    ax.set_ylabel("||dL/dh_t||")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    return _save(fig, path)


_RANGES = {"i": (0, 1), "f": (0, 1), "o": (0, 1), "r": (0, 1), "z": (0, 1),
           "g": (-1, 1), "n": (-1, 1)}


def gate_heatmap(gates: Mapping[str, ArrayLike], path: PathLike | None = None,
                 batch_index: int = 0, names: Sequence[str] | None = None,
                 title: str = "Gate activations", annotate: bool | None = None) -> Figure:
    """One heatmap per gate or state, units (rows) against time (columns), for one sequence.

    Arguments:
        gates: {name: array (T, N, H)}, e.g. ``gate_trace(lstm, x)[0][0, 0]``.
        path: save a PNG there.
        batch_index: which sequence of the batch.
        names: which entries, in order (default: all, e.g. i, f, g, o, c, h).
        annotate: write each value in its cell (default: when the map is small).

    Returns the Figure: one axes per entry, each with its own colorbar. Gates
    squashed by a sigmoid are coloured on [0, 1], tanh ones on [-1, 1]; c and h
    on their own symmetric range.
    """
    names = list(gates) if names is None else list(names)
    if not names:
        raise ValueError("gate_heatmap: no gates to show")
    arrays = {}
    for name in names:
        a = np.asarray(gates[name], dtype=float)
        arrays[name] = a[:, batch_index, :] if a.ndim == 3 else a
    steps, units = arrays[names[0]].shape
    if annotate is None:
        annotate = steps * units <= 64
    fig = _figure(max(4.0, 1.0 + 0.7 * steps), 0.6 + len(names) * (0.35 + 0.3 * units))
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    for ax, name in zip(axes, names):
        values = arrays[name].T  # (H, T): a unit per row, time left to right
        lo, hi = _RANGES.get(name, (None, None))
        if lo is None or hi is None:  # (both or neither)
            bound = max(float(np.abs(values).max()), 1e-12)
            lo, hi = -bound, bound
        image = ax.imshow(values, aspect="auto", cmap="viridis" if lo == 0 else "RdBu_r",
                          vmin=lo, vmax=hi, interpolation="nearest")
        fig.colorbar(image, ax=ax, pad=0.01)
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=11)
        ax.set_yticks(range(units))
        if annotate:
            for (u, t), v in np.ndenumerate(values):
                dark = (v - lo) / (hi - lo) < 0.5 if lo == 0 else abs(v) / hi > 0.6
                ax.text(t, u, f"{v:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if dark else "black")
    axes[-1].set_xticks(range(steps))
    axes[-1].set_xlabel("time step t")
    axes[0].set_title(title)
    return _save(fig, path)


def loss_curve(losses: Mapping[str, ArrayLike] | ArrayLike, path: PathLike | None = None,
               title: str = "Training loss", log: bool = True) -> Figure:
    """Training loss against step, one line per run.

    Arguments:
        losses: a sequence of loss values, or {label: sequence}.
        path: save a PNG there.
        log: a log-scale y axis (the default; losses usually fall by orders of magnitude).

    Returns the Figure (one axes, one line per run).
    """
    fig = _figure(6.4, 3.6)
    ax = fig.add_subplot()
    series = _series(losses, "loss")
    for label, values in series.items():
        ax.plot(np.arange(len(values)), values, label=label)
    if log and all((v > 0).all() for v in series.values()):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if len(series) > 1:
        ax.legend()
    return _save(fig, path)
