"""The seed notebook's three parts, as plain code to run and change.

The notebook this project grew from (``rnn_lstm_notebook``, in Persian) has three
cells. Here they are again, written with tinygrad_rnn:

1. An RNN forward pass with the weights the notebook printed: the same three
   outputs, -0.27069536, -0.90355753, -2.36305458.
2. Training that RNN to continue 0.1, 0.2, 0.3 -> 0.2, 0.3, 0.4. The notebook
   derived BPTT by hand; here ``loss.backward()`` does it, and the notebook's
   hand derivation (``tinygrad_rnn.reference.notebook``) is compared with
   autograd by ``tr.compare_grads``: as written it has two mistakes (tanh'
   evaluated at h_t = tanh(a_t) instead of a_t, and the gradient of
   0.5 * sum while the loss printed is a mean), and corrected it agrees.
3. An LSTM on arithmetic sequences (three terms -> the next). The notebook
   only ran an untrained LSTM; this one is trained, and then traced gate by
   gate on [1, 4, 7], whose next term is 10.

    python examples/notebook.py
    python examples/notebook.py --quick
"""

from __future__ import annotations

import _common as C  # first: BLAS threads, sys.path

import sys

import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, functional as F, nn, optim
from tinygrad_rnn.reference import notebook as hand

# ----------------------------------------------------------------------------- part 1
# The weights the notebook printed (it drew them with np.random.randn, unseeded).
W_X = [[0.24499315], [1.64245811], [-0.46516492], [0.60331829]]
W_H = [[1.37777454, -1.41781434, 0.89708677, 0.12688328],
       [-0.59478309, -0.19901797, -0.36983813, 1.8497388],
       [0.00851169, -1.09938783, 2.00037938, -1.15957504],
       [-1.73456868, 0.01300878, 0.9359561, 1.36862273]]
W_Y = [[1.73178273, -2.14228566, -0.53759098, 0.17637289]]
PRINTED_OUTPUTS = [-0.27069536, -0.90355753, -2.36305458]
INPUTS = [0.1, 0.2, 0.3]
TARGETS = [0.2, 0.3, 0.4]


def notebook_weights() -> dict:
    """The notebook's parameters as leaf Tensors (column-vector layout, zero biases)."""
    return {"W_x": Tensor(W_X, requires_grad=True), "W_h": Tensor(W_H, requires_grad=True),
            "W_y": Tensor(W_Y, requires_grad=True),
            "b_h": Tensor(np.zeros((4, 1)), requires_grad=True),
            "b_y": Tensor(np.zeros((1, 1)), requires_grad=True)}


def rnn_forward(p: dict, inputs: list) -> list:
    """h_t = tanh(W_x x_t + W_h h_{t-1} + b_h),  y_t = W_y h_t + b_y  (the notebook's loop)."""
    h = Tensor(np.zeros((4, 1)))
    outputs = []
    for x in inputs:
        h = (p["W_x"] @ Tensor([[x]]) + p["W_h"] @ h + p["b_h"]).tanh()
        outputs.append(p["W_y"] @ h + p["b_y"])
    return outputs


def part1() -> list:
    print("== 1. the notebook's RNN forward pass, with the weights it printed")
    outputs = [y.item() for y in rnn_forward(notebook_weights(), INPUTS)]
    for t, (y, printed) in enumerate(zip(outputs, PRINTED_OUTPUTS)):
        print(f"   time {t}: output {y: .8f}   (the notebook printed {printed: .8f})")
    return outputs


# ----------------------------------------------------------------------------- part 2


def notebook_loss(outputs: list) -> Tensor:
    """The loss the notebook prints: the mean over time of each step's squared error."""
    return sum(((y - t) ** 2).mean() for y, t in zip(outputs, TARGETS)) / len(outputs)


def part2(epochs: int) -> dict:
    print("\n== 2. training it: autograd BPTT against the notebook's hand-derived BPTT")
    p = notebook_weights()
    loss = notebook_loss(rnn_forward(p, INPUTS))
    loss.backward()
    autograd = {k: t.grad for k, t in p.items()}
    arrays = {k: t.data.copy() for k, t in p.items()}
    xs = [np.array([[x]]) for x in INPUTS]
    ts = [np.array([[t]]) for t in TARGETS]
    _, as_written = hand.notebook_bptt(arrays, xs, ts, faithful=True)
    _, corrected = hand.notebook_bptt(arrays, xs, ts, faithful=False)
    faithful_cmp = tr.compare_grads(autograd, as_written)
    corrected_cmp = tr.compare_grads(autograd, corrected)
    print("   the notebook's BPTT, as written, against loss.backward():")
    print("   " + str(faithful_cmp).replace("\n", "\n   "))
    print(f"   corrected (tanh' = 1 - h_t**2, the gradient of the mean): "
          f"{'agrees' if corrected_cmp.ok else 'DISAGREES'} with autograd")
    print("   " + str(corrected_cmp).replace("\n", "\n   "))

    # the notebook's training loop, with loss.backward() in place of the hand BPTT
    opt = optim.SGD(list(p.values()), lr=0.01)
    history = []
    for epoch in range(epochs):
        loss = notebook_loss(rnn_forward(p, INPUTS))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if epoch % 100 == 0 or epoch == epochs - 1:
            history.append((epoch, loss.item()))
    hand_history = hand.notebook_train({k: np.array(v, dtype=float) for k, v in
                                        {"W_x": W_X, "W_h": W_H, "W_y": W_Y,
                                         "b_h": np.zeros((4, 1)), "b_y": np.zeros((1, 1))}.items()},
                                       xs, ts, epochs=epochs, faithful=True)
    print("\n   epoch   loss (autograd)   loss (the notebook's hand BPTT)")
    hand_at = dict(hand_history)
    for epoch, value in history:
        other = f"{hand_at[epoch]:.8f}" if epoch in hand_at else ""
        print(f"   {epoch:5d}   {value:.8f}        {other}")
    final = [y.item() for y in rnn_forward(p, INPUTS)]
    print(f"   after {epochs} epochs the outputs are {np.round(final, 4).tolist()} "
          f"(targets {TARGETS})")
    return {"as_written_ok": faithful_cmp.ok, "corrected_ok": corrected_cmp.ok,
            "diagnoses": {r.name: r.diagnoses for r in faithful_cmp.rows},
            "loss_history": history, "hand_loss_history": hand_history,
            "final_outputs": final}


# ----------------------------------------------------------------------------- part 3

SCALE = 50.0  # the values reach ~45; an LSTM's tanh and sigmoid want them near 1


def arithmetic_windows(starts, steps, length: int = 8, window: int = 3):
    """Every (three terms, next term) of the sequences start, start + step, ..."""
    X, y = [], []
    for a in starts:
        for d in steps:
            seq = [a + k * d for k in range(length)]
            for k in range(length - window):
                X.append(seq[k:k + window])
                y.append(seq[k + window])
    return np.array(X, dtype=float), np.array(y, dtype=float)


class NextTerm(nn.Module):
    """An LSTM reads the terms; a linear read-out of its last hidden state gives the next."""

    def __init__(self, hidden: int):
        self.lstm = nn.LSTM(1, hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(self, terms: np.ndarray) -> Tensor:
        """terms (N, 3), unscaled -> next term (N,), unscaled."""
        x = Tensor((terms / SCALE).T[:, :, None])  # (3, N, 1), time first
        out, _ = self.lstm(x)
        return self.head(out[-1]).reshape(-1) * SCALE


def gate_trace(model: NextTerm, terms: list) -> list:
    """Step the trained LSTM by hand, one term at a time, keeping every gate.

    The same equations nn.LSTM runs (gates i, f, g, o in torch's order)::

        i, f, g, o = chunk(x W_ih^T + b_ih + h W_hh^T + b_hh, 4)
        c = sigmoid(f) * c + sigmoid(i) * tanh(g);   h = sigmoid(o) * tanh(c)
    """
    lstm = model.lstm
    H = lstm.hidden_size
    h, c = Tensor(np.zeros((1, H))), Tensor(np.zeros((1, H)))
    steps = []
    for term in terms:
        x = Tensor([[term / SCALE]])
        pre = x @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + h @ lstm.weight_hh_l0.T + lstm.bias_hh_l0
        i, f, g, o = pre.chunk(4, dim=-1)
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
        c = f * c + i * g
        h = o * c.tanh()
        steps.append({"x": term, "i": i.data[0], "f": f.data[0], "g": g.data[0],
                      "o": o.data[0], "c": c.data[0], "h": h.data[0]})
    return steps


def part3(steps: int, hidden: int, quiet: bool = False) -> dict:
    print("\n== 3. an LSTM learns arithmetic sequences, then a gate-by-gate trace of [1, 4, 7]")
    X, y = arithmetic_windows(starts=range(0, 11), steps=range(1, 6))
    X_test, y_test = arithmetic_windows(starts=[0.5, 2.5, 5.5, 8.5], steps=[1.5, 2.5, 3.5])
    model = NextTerm(hidden)
    before = model(np.array([[1.0, 4.0, 7.0]])).item()
    opt = optim.Adam(list(model.parameters()), lr=1e-2)
    bar = C.progress(range(steps), "part 3", quiet)
    for step in bar:
        loss = F.mse_loss(model(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            bar.set_postfix(mse=f"{loss.item():.4f}")
    bar.close()
    with tr.no_grad():
        train_mse = F.mse_loss(model(X), y).item()
        test_mse = F.mse_loss(model(X_test), y_test).item()
    print(f"   {len(X)} training windows (starts 0..10, steps 1..5), {steps} full-batch updates")
    print(f"   MSE: training {train_mse:.4f}; unseen sequences (fractional starts and steps) "
          f"{test_mse:.4f}")

    trace = gate_trace(model, [1.0, 4.0, 7.0])
    prediction = (model.head(Tensor(trace[-1]["h"][None])).item()) * SCALE
    layer_prediction = model(np.array([[1.0, 4.0, 7.0]])).item()
    np.testing.assert_allclose(prediction, layer_prediction, rtol=1e-10)  # same equations
    np.set_printoptions(precision=3, suppress=True)
    for k, s in enumerate(trace, 1):
        print(f"\n   step {k}: input {s['x']:.0f}")
        for name, label in [("f", "forget gate"), ("i", "input gate"), ("g", "candidate"),
                            ("o", "output gate"), ("c", "cell state"), ("h", "hidden state")]:
            print(f"     {label:<13} {s[name]}   mean {s[name].mean(): .3f}")
    print(f"\n   prediction for [1, 4, 7]: {prediction:.3f} (the next term is 10; "
          f"untrained it said {before:.3f})")
    return {"train_mse": train_mse, "test_mse": test_mse, "prediction": prediction,
            "untrained_prediction": before,
            "trace": [{k: np.asarray(v).tolist() for k, v in s.items()} for s in trace]}


def get_args(argv):
    p = C.parser(__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=1000, help="part 2's epochs (the notebook's 1000)")
    p.add_argument("--steps", type=int, default=None,
                   help="part 3's updates (default 1500; quick 400)")
    p.add_argument("--hidden", type=int, default=8, help="part 3's LSTM size")
    return C.fill_defaults(p.parse_args(argv), dict(steps=(400, 1500)))


def main(argv=None) -> dict:
    args = get_args(argv)
    C.seed(args.seed)
    timer = C.Timer()
    result = {"part1_outputs": part1(), "part2": part2(args.epochs),
              "part3": part3(args.steps, args.hidden, args.no_progress)}
    result["seconds"] = timer()
    print(f"\n({result['seconds']:.1f} s)")
    return C.finish(result, args)


if __name__ == "__main__":
    main(sys.argv[1:])
