"""Forecast the continuation of a noisy sum of sines from a window of it.

Each series is ``a1 sin(2 pi t / 25 + p1) + a2 sin(2 pi t / 9 + p2)`` plus
Gaussian noise (sd 0.1), with random amplitudes and phases: the network must
read the phase and amplitude of both waves from the noisy window before it can
continue them. A GRU reads the ``--window`` observed values; a linear read-out
of its last hidden state gives all ``--horizon`` future values at once.
Training draws fresh series every step; the test set is 512 series never seen.

The error is the mean squared error against the clean continuation, next to
the naive forecast that repeats the last observed value, and a stronger one:
the best linear forecast (least squares from the window to the horizon, fitted
on 20,000 series). With fixed periods a sum of sines obeys a linear recurrence
and the linear forecast would be hard to beat; with random periods the best
forecast is nonlinear in the window, and that is what the GRU has to learn.

    python examples/sine_forecast.py           # about a minute
    python examples/sine_forecast.py --quick   # seconds
"""

from __future__ import annotations

import _common as C  # first: BLAS threads, sys.path

import sys

import numpy as np

from tinygrad_rnn import Tensor, nn, no_grad

PERIODS = ((15.0, 35.0), (6.0, 12.0))  # each series draws its two periods from these ranges
NOISE = 0.1


def series(rng: np.random.Generator, n: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, clean) arrays of shape (n, length): sums of two sines with random
    periods (in the ranges of PERIODS), amplitudes in [0.5, 1.5] and [0.25, 0.75],
    and phases."""
    t = np.arange(length)
    clean = np.zeros((n, length))
    for (p_low, p_high), (low, high) in zip(PERIODS, [(0.5, 1.5), (0.25, 0.75)]):
        period = rng.uniform(p_low, p_high, (n, 1))
        amp = rng.uniform(low, high, (n, 1))
        phase = rng.uniform(0, 2 * np.pi, (n, 1))
        clean += amp * np.sin(2 * np.pi * t / period + phase)
    return clean + NOISE * rng.standard_normal(clean.shape), clean


def linear_forecaster(rng: np.random.Generator, window: int, horizon: int, n: int = 20_000):
    """The least-squares linear map (with intercept) from a noisy window to the
    noisy horizon, fitted on ``n`` fresh series; returns forecast(windows)."""
    noisy, _ = series(rng, n, window + horizon)
    design = np.c_[noisy[:, :window], np.ones(n)]
    coef = np.linalg.lstsq(design, noisy[:, window:], rcond=None)[0]
    return lambda w: np.c_[w, np.ones(len(w))] @ coef


class Forecaster(nn.Module):
    """GRU over the window, then one linear map from the last hidden state to the horizon."""

    def __init__(self, hidden: int, horizon: int):
        self.rnn = nn.GRU(1, hidden)
        self.head = nn.Linear(hidden, horizon)

    def forward(self, window: np.ndarray) -> Tensor:
        """window (N, W) -> forecast (N, K)."""
        x = Tensor(window.T[:, :, None].astype(np.float32))  # (W, N, 1), time first
        _, h = self.rnn(x)
        return self.head(h[0])


def get_args(argv):
    p = C.parser(__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=None, help="updates (default 1500; quick 150)")
    p.add_argument("--window", type=int, default=None, help="observed steps (default 48; quick 32)")
    p.add_argument("--horizon", type=int, default=None,
                   help="forecast steps (default 24; quick 12)")
    p.add_argument("--hidden", type=int, default=None, help="GRU size (default 64; quick 32)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-2)
    args = p.parse_args(argv)
    defaults = dict(steps=(150, 1500), window=(32, 48), horizon=(12, 24), hidden=(32, 64))
    return C.fill_defaults(args, defaults)


def main(argv=None) -> dict:
    args = get_args(argv)
    rng = C.seed(args.seed)
    timer = C.Timer()
    W, K = args.window, args.horizon
    test_noisy, test_clean = series(rng, 512, W + K)
    test_window, test_future = test_noisy[:, :W], test_clean[:, W:]

    model = Forecaster(args.hidden, K).float()

    def next_batch():
        noisy, _ = series(rng, args.batch, W + K)
        # the target is the noisy future: all a forecaster could ever observe
        return noisy[:, :W], noisy[:, W:].astype(np.float32)

    def lower_lr(step, opt):
        if step == int(0.7 * args.steps):  # a smaller step size for the last stretch
            opt.param_groups[0]["lr"] = args.lr / 5

    curve = C.train_mse(model, next_batch, args, every=25, on_step=lower_lr)
    train_seconds = timer()

    with no_grad():
        forecast = model(test_window).data.astype(np.float64)
    last_value = np.repeat(test_window[:, -1:], K, axis=1)
    linear = linear_forecaster(rng, W, K)(test_window)
    mse = float(np.mean((forecast - test_future) ** 2))
    mse_last = float(np.mean((last_value - test_future) ** 2))
    mse_linear = float(np.mean((linear - test_future) ** 2))
    mse_by_step = np.mean((forecast - test_future) ** 2, axis=0)
    last_by_step = np.mean((last_value - test_future) ** 2, axis=0)
    linear_by_step = np.mean((linear - test_future) ** 2, axis=0)
    print(f"GRU {args.hidden}, window {W}, horizon {K}: {args.steps} updates "
          f"in {train_seconds:.1f} s")
    print(f"test MSE against the clean continuation ({len(test_window)} unseen series):")
    print(f"  GRU forecast        {mse:.4f}")
    print(f"  last-value forecast {mse_last:.4f}   ({mse_last / mse:.1f}x the GRU's error)")
    print(f"  best linear forecast {mse_linear:.4f}  ({mse_linear / mse:.1f}x the GRU's error)")
    print(f"  (the inputs' noise variance is {NOISE ** 2:.4f}; the signal variance "
          f"{float(np.var(test_future)):.3f})")

    figure = None
    plt = C.pyplot(args)
    if plt is not None:
        fig, axes = plt.subplots(2, 2, figsize=(10, 6))
        t_hist, t_future = np.arange(W), np.arange(W, W + K)
        for ax, k in zip(axes.flat[:3], range(3)):
            ax.plot(t_hist, test_window[k], ".", color="gray", ms=4, label="observed (noisy)")
            ax.plot(t_future, test_future[k], "k-", lw=1.5, label="truth (clean)")
            ax.plot(t_future, test_noisy[k, W:], ".", color="lightgray", ms=4)
            ax.plot(t_future, forecast[k], "C0-", lw=2, label="GRU forecast")
            ax.plot(t_future, last_value[k], "C3--", label="last value")
            ax.axvline(W - 0.5, color="gray", lw=0.5)
            ax.set_title(f"test series {k}")
        axes.flat[0].legend(fontsize=8, loc="lower left")
        ax = axes.flat[3]
        ax.plot(np.arange(1, K + 1), mse_by_step, "C0o-", label="GRU")
        ax.plot(np.arange(1, K + 1), last_by_step, "C3s--", label="last value")
        ax.plot(np.arange(1, K + 1), linear_by_step, "C2^:", label="best linear")
        ax.set_yscale("log")
        ax.set_xlabel("steps ahead")
        ax.set_ylabel("test MSE")
        ax.set_title("error by horizon (512 series)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        figure = C.save_figure(fig, args, "sine_forecast.png")

    return C.finish({
        "mse": mse, "mse_last_value": mse_last, "ratio": mse_last / mse, "mse_linear": mse_linear,
        "mse_by_step": mse_by_step.tolist(), "mse_last_value_by_step": last_by_step.tolist(),
        "noise_variance": NOISE ** 2, "train_curve": curve, "steps": args.steps,
        "window": W, "horizon": K, "seconds": timer(), "figure": figure,
    }, args)


if __name__ == "__main__":
    main(sys.argv[1:])
