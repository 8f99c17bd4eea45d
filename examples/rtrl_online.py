"""Online learning with RTRL: an RNN learns to echo its input a few steps late, updating
its weights at every time step, never storing the sequence.

The input is one endless stream of random values x_t (uniform in [-1, 1]); the target is
the value seen ``--delay`` steps earlier, y_t = x_{t-delay}. To answer, the network must
hold the last few inputs in its state. An ``nn.RNNCell`` reads the stream one value at a
time and a linear read-out answers; after every step, real-time recurrent learning
(``tr.rtrl.RTRL``) gives the gradient of this step's error through the whole past, by the
sensitivities of the state to every weight carried forward, and Adam takes one step.
BPTT could not do this without keeping (or truncating) the history: RTRL's memory is the
sensitivities, the same at step 10 as at step 10,000.

The measure is the mean squared error of the last stretch of the stream against the
variance of the input (what answering 0, the best guess without memory, scores).

    python examples/rtrl_online.py           # about a minute and a half
    python examples/rtrl_online.py --quick   # seconds
"""

from __future__ import annotations

import _common as C  # first: BLAS threads, sys.path

import sys

import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, nn


def get_args(argv):
    p = C.parser(__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=None,
                   help="time steps of the stream (default 3000; quick 600)")
    p.add_argument("--hidden", type=int, default=None, help="RNN size (default 8; quick 6)")
    p.add_argument("--delay", type=int, default=2, help="how many steps late the echo is")
    p.add_argument("--lr", type=float, default=0.01)
    args = p.parse_args(argv)
    return C.fill_defaults(args, dict(steps=(600, 3000), hidden=(6, 8)))


def main(argv=None) -> dict:
    args = get_args(argv)
    rng = C.seed(args.seed)
    timer = C.Timer()
    cell = nn.RNNCell(1, args.hidden).double()
    head = nn.Linear(args.hidden, 1).double()
    params = list(cell.parameters()) + list(head.parameters())
    opt = tr.optim.Adam(params, lr=args.lr)

    def squared_error(h, target):
        return ((head(h) - Tensor(target)) ** 2).sum()

    online = tr.rtrl.RTRL(cell, squared_error)
    recent = [0.0] * args.delay  # the inputs the echo still owes: all the stream we keep
    errors = []
    held = []  # bytes RTRL holds after each step: constant
    bar = C.progress(range(args.steps), "RTRL online", args.no_progress)
    for t in bar:
        x = rng.uniform(-1, 1)
        recent.append(x)
        target = recent.pop(0)
        loss = online.step(np.array([[x]]), np.array([[target]]))
        opt.step()  # (the cell's .grad is RTRL's, the read-out's from its backward)
        opt.zero_grad()
        errors.append(loss.item())
        held.append(sum(a.nbytes for a in online.held_arrays()))
        if t % 100 == 0:
            bar.set_postfix(mse=f"{np.mean(errors[-100:]):.4f}")
    bar.close()
    seconds = timer()

    last = max(1, args.steps // 5)
    mse_start, mse_end = float(np.mean(errors[:last])), float(np.mean(errors[-last:]))
    baseline = 1 / 3  # the variance of U(-1, 1): the error of answering 0
    n_params = sum(p.size for p in cell.parameters())
    print(f"RNN {args.hidden} echoing its input {args.delay} steps late, updated at each of "
          f"{args.steps} steps in {seconds:.1f} s ({1e3 * seconds / args.steps:.1f} ms a step)")
    print(f"  MSE, first {last} steps: {mse_start:.4f}   last {last} steps: {mse_end:.4f}   "
          f"(answering 0: {baseline:.4f})")
    print(f"  RTRL holds {held[-1]} bytes ({n_params} cell parameters), the same after step 1 "
          f"and step {args.steps}: {held[0] == held[-1]}")

    figure = None
    plt = C.pyplot(args)
    if plt is not None:
        fig, ax = plt.subplots(figsize=(6.4, 3.8))
        width = max(1, args.steps // 30)
        ax.plot(np.arange(1, args.steps + 1), C.smooth(errors, width), label="RTRL, online")
        ax.axhline(baseline, color="gray", ls="--", label="answering 0")
        ax.set_yscale("log")
        ax.set_xlabel("time step (one update each)")
        ax.set_ylabel(f"squared error (running mean of {width})")
        ax.set_title(f"echo {args.delay} steps late, learned online by RTRL")
        ax.legend()
        figure = C.save_figure(fig, args, "rtrl_online.png")

    return C.finish({
        "mse_first": mse_start, "mse_last": mse_end, "baseline": baseline,
        "curve": errors, "held_bytes_first": held[0], "held_bytes_last": held[-1],
        "steps": args.steps, "hidden": args.hidden, "delay": args.delay,
        "cell_parameters": n_params, "seconds": seconds, "figure": figure,
    }, args)


if __name__ == "__main__":
    main(sys.argv[1:])
