"""Look inside: gradient flow through time, a training curve and an LSTM's gates, as pictures.

Three pictures from ``tinygrad_rnn.trace`` and ``tinygrad_rnn.plots``, in a few seconds:

1. Gradient flow through time. One batch of the adding problem (T = 50, the
   length at which ``adding_problem.py``'s RNN fails) goes through an RNN, a
   GRU and an LSTM of the same size, freshly initialized. The loss reads only
   the last step's output; ``trace.gradient_flow`` asks the graph for
   ||dL/dh_t|| at every step t. In the RNN it falls by a constant factor per
   step back and is gone long before t = 0. The LSTM at its default
   initialization (forget gate about 0.5) loses it too; with the forget gate's
   bias set to 1, the usual initialization, the cell state carries it back.
2. A loss curve. A small LSTM learns arithmetic sequences (the notebook's task,
   now read term by term: after each term from the second on, predict the
   next).
3. A gate heatmap. The trained LSTM's gates, cell and hidden state at every
   step of 1, 4, 7, ..., 22, from ``trace.gate_trace``.

    python examples/look_inside.py              # about 4 s
    python examples/look_inside.py --quick      # about 2 s
    python examples/look_inside.py --length 100 --hidden 64
"""

from __future__ import annotations

import _common as C  # first: BLAS threads, sys.path

import sys

import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, functional as F, nn, optim, plots

from adding_problem import adding_batch

SCALE = 50.0  # training values reach 45; an LSTM's tanh and sigmoid want them near 1
SHOWN = [1.0 + 3.0 * k for k in range(8)]  # 1, 4, 7, ..., 22: the notebook's [1, 4, 7], continued


# ----------------------------------------------------------------------------- 1. gradient flow


def flow_models(hidden: int) -> dict:
    """The layers compared, each freshly initialized from the same seed (2 inputs, as the
    adding problem)."""
    models = {}
    for label, layer in [("RNN", nn.RNN), ("GRU", nn.GRU), ("LSTM", nn.LSTM),
                         ("LSTM, forget bias 1", nn.LSTM)]:
        tr.manual_seed(0)
        models[label] = layer(2, hidden)
    forget = models["LSTM, forget bias 1"].gate("f")
    forget.bias_ih[:] = 1.0  # f = sigmoid(1 + ...) ~ 0.73: remember by default
    forget.bias_hh[:] = 0.0
    return models


def gradient_flows(args, rng: np.random.Generator) -> dict:
    print(f"1. gradient flow through time: one adding-problem batch, T = {args.length}, "
          f"{args.flow_batch} sequences, hidden {args.hidden}; loss = sum of the last output")
    x, _ = adding_batch(rng, args.flow_batch, args.length)
    x = x.astype(np.float64)
    flows, ratios, per_step = {}, {}, {}
    for label, model in flow_models(args.hidden).items():
        flow = tr.trace.gradient_flow(model, x)
        flows[label] = flow
        ratios[label] = float(flow[0] / flow[-1])
        per_step[label] = float(ratios[label] ** (1.0 / (args.length - 1)))
    print(f"   {'':<20} ||dL/dh_0|| / ||dL/dh_{args.length - 1}||   "
          f"per step back (geometric mean)")
    for label in flows:
        print(f"   {label:<20} {ratios[label]:>12.1e}              {per_step[label]:.3f}")
    return {"flows": flows, "ratios": ratios, "per_step": per_step}


# ----------------------------------------------------------------------------- 2. training


def arithmetic_sequences(starts, steps, length: int) -> np.ndarray:
    """(length + 1, N) time-major: every sequence start, start + step, ..., one term longer
    than the input so that the last input has a next term to predict."""
    seqs = [[a + k * d for k in range(length + 1)] for a in starts for d in steps]
    return np.array(seqs, dtype=float).T


class NextTerm(nn.Module):
    """An LSTM reads the terms one by one; a linear read-out of each hidden state predicts
    the next."""

    def __init__(self, hidden: int):
        self.lstm = nn.LSTM(1, hidden)
        self.head = nn.Linear(hidden, 1)

    def inputs(self, terms: np.ndarray) -> Tensor:
        """terms (T, N) or (T,), unscaled -> the LSTM's input (T, N, 1) or (T, 1)."""
        return Tensor(np.asarray(terms, dtype=float)[..., None] / SCALE)

    def forward(self, terms: np.ndarray) -> Tensor:
        """terms (T, N), unscaled -> the next term after each, (T, N), unscaled."""
        out, _ = self.lstm(self.inputs(terms))
        return self.head(out)[..., 0] * SCALE


def sequence_loss(model: NextTerm, seqs: np.ndarray) -> Tensor:
    """MSE of the predictions from the second term on (one term does not tell the step), scaled."""
    predicted = model(seqs[:-1])
    return F.mse_loss(predicted[1:] / SCALE, seqs[2:] / SCALE)


def train(args) -> tuple:
    train_seqs = arithmetic_sequences(range(0, 11), range(1, 6), args.seq_length)
    test_seqs = arithmetic_sequences([0.5, 2.5, 5.5, 8.5], [1.5, 2.5, 3.5], args.seq_length)
    model = NextTerm(args.lstm_hidden)
    opt = optim.Adam(list(model.parameters()), lr=args.lr)
    print(f"\n2. training an LSTM ({args.lstm_hidden} hidden) on {train_seqs.shape[1]} arithmetic "
          f"sequences of {args.seq_length} terms (starts 0..10, steps 1..5): "
          f"{args.steps} full-batch Adam updates, lr {args.lr}")
    with tr.no_grad():
        test_before = sequence_loss(model, test_seqs).item()
    curve = []
    bar = C.progress(range(args.steps), "LSTM", args.no_progress)
    for step in bar:
        loss = sequence_loss(model, train_seqs)
        opt.zero_grad()
        loss.backward()
        opt.step()
        curve.append(loss.item())
        if step % 50 == 0:
            bar.set_postfix(loss=f"{curve[-1]:.2e}")
    bar.close()
    with tr.no_grad():
        loss_after = sequence_loss(model, train_seqs).item()
        test_after = sequence_loss(model, test_seqs).item()
    print(f"   training loss (MSE of term / {SCALE:.0f}): {curve[0]:.2e} before, "
          f"{loss_after:.2e} after")
    print(f"   unseen sequences (fractional starts and steps): {test_before:.2e} before, "
          f"{test_after:.2e} after")
    return model, {"curve": curve, "loss_before": curve[0], "loss_after": loss_after,
                   "test_before": test_before, "test_after": test_after}


# ----------------------------------------------------------------------------- 3. gates


def gates_of(model: NextTerm) -> tuple:
    """The trained LSTM's trace over SHOWN, and its prediction of the next term after each."""
    traces, (output, _) = tr.trace.gate_trace(model.lstm, model.inputs(SHOWN))
    gates = traces[0, 0]
    with tr.no_grad():
        predictions = (model.head(output)[..., 0] * SCALE).data
    shown = ", ".join(f"{v:g}" for v in SHOWN)
    print(f"\n3. the trained LSTM's gates on {shown}")
    print("   after term    " + " ".join(f"{v:>6g}" for v in SHOWN))
    print("   predicted     " + " ".join(f"{p:6.2f}" for p in predictions))
    print("   next term     " + " ".join(f"{v + 3:>6g}" for v in SHOWN))
    for name, label in [("f", "mean forget"), ("i", "mean input"), ("o", "mean output")]:
        print(f"   {label:<13} " + " ".join(f"{v:6.2f}" for v in gates[name][:, 0].mean(axis=1)))
    print("   (the first prediction is not trained: one term does not tell the step)")
    return gates, predictions


# ----------------------------------------------------------------------------- figures


def save_plot(args, name: str, plot, *plot_args, **kwargs):
    """Draw with ``tinygrad_rnn.plots``, save as ``<out>/<name>``; the path, or None (no figure
    wanted, or matplotlib missing)."""
    if args.no_plot:
        return None
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / name
    try:
        plot(*plot_args, path=path, **kwargs)
    except ModuleNotFoundError as err:
        if err.name != "matplotlib":
            raise
        print("(matplotlib is not installed: no figures; pip install matplotlib)")
        args.no_plot = True  # say so once
        return None
    print(f"figure: {path}")
    return str(path)


def get_args(argv):
    p = C.parser(__doc__.split("\n\n")[0])
    p.add_argument("--length", type=int, default=50, help="gradient flow: sequence length T")
    p.add_argument("--hidden", type=int, default=32, help="gradient flow: hidden size")
    p.add_argument("--flow-batch", type=int, default=16,
                   help="gradient flow: sequences in the batch")
    p.add_argument("--steps", type=int, default=None,
                   help="training: full-batch updates (default 1500; quick 400)")
    p.add_argument("--lstm-hidden", type=int, default=8, help="training: the LSTM's hidden size")
    p.add_argument("--seq-length", type=int, default=8, help="training: terms per sequence")
    p.add_argument("--lr", type=float, default=1e-2)
    return C.fill_defaults(p.parse_args(argv), dict(steps=(400, 1500)))


def main(argv=None) -> dict:
    args = get_args(argv)
    rng = C.seed(args.seed)
    timer = C.Timer()

    flow = gradient_flows(args, rng)
    tr.manual_seed(args.seed)
    model, training = train(args)
    gates, predictions = gates_of(model)

    print()
    figures = {
        "gradient_flow": save_plot(
            args, "gradient_flow.png", plots.gradient_flow, flow["flows"],
            title=f"Gradient flow through time: adding problem, T = {args.length}, "
                  f"hidden {args.hidden}"),
        "loss_curve": save_plot(
            args, "lstm_loss.png", plots.loss_curve, training["curve"],
            title=f"LSTM ({args.lstm_hidden}) on arithmetic sequences: training loss"),
        "gate_heatmap": save_plot(
            args, "lstm_gates.png", plots.gate_heatmap, gates,
            title="Trained LSTM on " + ", ".join(f"{v:g}" for v in SHOWN)),
    }
    seconds = timer()
    print(f"({seconds:.1f} s)")
    return C.finish({
        "length": args.length, "hidden": args.hidden,
        "flows": {k: v.tolist() for k, v in flow["flows"].items()},
        "ratios": flow["ratios"], "per_step": flow["per_step"],
        **training,
        "sequence": SHOWN, "predictions": predictions.tolist(),
        "gates": {k: v[:, 0].tolist() for k, v in gates.items()},
        "figures": figures, "seconds": seconds,
    }, args)


if __name__ == "__main__":
    main(sys.argv[1:])
