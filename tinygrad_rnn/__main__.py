"""``python -m tinygrad_rnn``: a short guided tour of the engine.

It replays the first cell of the notebook the project grew from (an RNN
forward pass with the weights the notebook printed), backpropagates through
time with ``loss.backward()``, and proves the gradients with ``tr.gradcheck``.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor

# The weights the notebook printed in its first cell (hidden size 4, input size 1).
NOTEBOOK_W_X = [[0.24499315], [1.64245811], [-0.46516492], [0.60331829]]
NOTEBOOK_W_H = [[1.37777454, -1.41781434, 0.89708677, 0.12688328],
                [-0.59478309, -0.19901797, -0.36983813, 1.8497388],
                [0.00851169, -1.09938783, 2.00037938, -1.15957504],
                [-1.73456868, 0.01300878, 0.9359561, 1.36862273]]
NOTEBOOK_W_Y = [[1.73178273, -2.14228566, -0.53759098, 0.17637289]]
NOTEBOOK_OUTPUTS = [-0.27069536, -0.90355753, -2.36305458]


def rnn_forward(W_x, W_h, W_y, inputs):
    """h_t = tanh(W_x x_t + W_h h_{t-1}),  y_t = W_y h_t  (column vectors, as the notebook)."""
    h = Tensor(np.zeros((4, 1)))
    outputs = []
    for x in inputs:
        h = (W_x @ x + W_h @ h).tanh()
        outputs.append(W_y @ h)
    return outputs


def tour(out=print) -> None:
    out("tinygrad_rnn: a tour of the engine\n")
    out("1. The notebook's RNN forward pass, with the weights it printed")
    W_x = Tensor(NOTEBOOK_W_X, requires_grad=True, name="W_x")
    W_h = Tensor(NOTEBOOK_W_H, requires_grad=True, name="W_h")
    W_y = Tensor(NOTEBOOK_W_Y, requires_grad=True, name="W_y")
    inputs = [Tensor([[0.1]]), Tensor([[0.2]]), Tensor([[0.3]])]
    outputs = rnn_forward(W_x, W_h, W_y, inputs)
    for t, (y, printed) in enumerate(zip(outputs, NOTEBOOK_OUTPUTS)):
        out(f"   time {t}: output {y.item(): .8f}   (the notebook printed {printed: .8f})")

    out("\n2. Backpropagation through time is just loss.backward() on the unrolled graph")
    targets = [0.2, 0.3, 0.4]
    loss = sum(((y - t) ** 2).sum() for y, t in zip(outputs, targets)) / 3
    loss.backward()
    out(f"   loss (MSE over the 3 steps) = {loss.item():.6f}")
    out(f"   dL/dW_x = {np.round(W_x.grad.ravel(), 6)}")
    out(f"   dL/dW_y = {np.round(W_y.grad.ravel(), 6)}")

    out("\n3. Proving those gradients against central finite differences")

    def loss_fn(W_x, W_h, W_y):
        ys = rnn_forward(W_x, W_h, W_y, inputs)
        return sum(((y - t) ** 2).sum() for y, t in zip(ys, targets)) / 3

    report = tr.gradcheck_report(loss_fn, [W_x, W_h, W_y])
    out("   " + str(report).replace("\n", "\n   "))
    out(f"   gradcheck passed: {report.ok}")
    out("\nNext: docs/engine.md explains how the engine works; tests/ prove every op.")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinygrad_rnn",
                                     description="tinygrad_rnn: guided tour and tools")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("tour", help="the guided tour (the default)")
    args = parser.parse_args(argv)
    if args.command in (None, "tour"):
        tour()
    return 0


if __name__ == "__main__":
    sys.exit(main())
