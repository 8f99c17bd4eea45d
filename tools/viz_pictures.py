"""Make the pictures of docs/visualize.md in docs/img/ (or another folder).

    python tools/viz_pictures.py [--out docs/img]

Drawn by the pure-Python layout (the graphs extra: grandalf, cairosvg), so they are
the same with or without Graphviz installed:

    viz_neuron.png          micrograd's tanh neuron with values and, after backward, gradients
    viz_neuron_step3.png    backward's third step on it: the node that runs in blue, the
                            gradients it just computed in red
    viz_neuron_backward.svg every step in turn (an animated SVG)
    viz_lstm_expanded.png   an nn.LSTM's one LSTMScan node drawn as its step's ops, per step
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, nn, viz, viz_steps


def neuron() -> Tensor:
    """o = tanh(x1 w1 + x2 w2 + b), with micrograd's numbers, every value named."""
    values = {"x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.8813735870195432}
    x1, x2, w1, w2, b = (Tensor(v, requires_grad=True, name=k) for k, v in values.items())
    global _held  # the intermediates stay alive, so that their values can be shown
    x1w1, x2w2 = x1 * w1, x2 * w2
    n = x1w1 + x2w2 + b
    o = n.tanh()
    for t, name in ((x1w1, "x1w1"), (x2w2, "x2w2"), (n, "n"), (o, "o")):
        t.name = name
    _held = (x1w1, x2w2, n)
    return o


_held: tuple = ()


def main(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    made = []
    o = neuron()
    frames = list(viz.backward_steps(o))
    made.append(frames[2].picture().save(out / "viz_neuron_step3.png"))
    animation = out / "viz_neuron_backward.svg"
    animation.write_text(viz_steps.animate(frames), encoding="utf-8")
    made.append(animation)
    o.backward()
    made.append(viz.graph(o, values=True, grads=True).save(out / "viz_neuron.png"))
    tr.manual_seed(0)
    lstm = nn.LSTM(input_size=1, hidden_size=2)
    output, _ = lstm(np.array([[1.0], [4.0], [7.0]]))
    picture = viz.graph(output.sum(), params=lstm, expand_scans=True, rankdir="LR")
    made.append(picture.save(out / "viz_lstm_expanded.png", scale=1.2))  # (it is wide)
    return made


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent
                        / "docs" / "img")
    for path in main(parser.parse_args().out):
        print(path)
