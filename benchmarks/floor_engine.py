"""How fast could an eager engine of our design be with none of its checks?

A measuring stick, not a product: below is a minimal reverse-mode engine of the
same design as tinygrad_rnn's (a node per op, the same numpy arithmetic, the
same OuterSum pooling of weight gradients, the same heap-ordered backward), but
with nothing else. It has no error messages, no broadcasting, no dtype
handling, no custom Functions, no shape check of the gradients an op returns,
no hooks, no retain_grad, no freeing of saved arrays; it knows only the ops of
an Elman RNN's training step. It runs bench_rnn's RNN training step, must
agree with the hand-derived BPTT (loss and every gradient to 1e-9), and is
timed interleaved with tinygrad_rnn and hand numpy:

    python benchmarks/floor_engine.py                   # tiny and small
    python benchmarks/floor_engine.py --configs medium

The distance between its column and ours is what the engine's checks, its
generality and the layer's structure cost; the distance between it and hand
numpy is what any engine of this design costs. docs/benchmarks.md has the
numbers and what each check costs on its own.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import itertools  # noqa: E402
import sys  # noqa: E402
from heapq import heappop, heappush  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rnn import (CONFIGS, Problem, agrees, hand_numpy, interleaved_medians,  # noqa: E402
                       pin_malloc, tinygrad_layer)

_order = itertools.count()


class Node:
    __slots__ = ("backward", "parents", "indices", "saved", "seq", "outputs")


class Value:
    __slots__ = ("data", "node", "index", "grad")


def leaf(data) -> Value:
    v = Value()
    v.data, v.node, v.index, v.grad = data, None, 0, None
    return v


def op(backward, inputs, out, saved, outputs=1):
    """out as the output of a new node; a tuple ``out`` as several outputs."""
    node = Node()
    node.backward, node.saved, node.seq, node.outputs = backward, saved, next(_order), outputs
    node.parents = tuple([x.node or x for x in inputs])
    node.indices = tuple([x.index for x in inputs])
    results = []
    for i, data in enumerate(out if outputs > 1 else (out,)):
        v = Value()
        v.data, v.node, v.index, v.grad = data, node, i, None
        results.append(v)
    return results if outputs > 1 else results[0]


class OuterSum:  # sum_k a_k^T b_k, kept as factors until every term is in
    __slots__ = ("lefts", "rights")

    def __init__(self, left, right):
        self.lefts, self.rights = [left], [right]

    def array(self):
        if len(self.lefts) == 1:
            return self.lefts[0].T @ self.rights[0]
        return np.concatenate(self.lefts).T @ np.concatenate(self.rights)


def array(g):
    return g.array() if type(g) is OuterSum else g


# The ops of an RNN training step: forward here, backward as the node's function.

def add(a, b):
    return op(lambda n, g: (g, g), (a, b), a.data + b.data, None)


def linear(x, w, b):  # x (T, N, I) @ w^T + b
    rows = x.data.reshape(-1, x.data.shape[-1])
    out = rows @ w.data.T
    out += b.data
    return op(_linear_backward, (x, w, b), out.reshape(x.data.shape[:-1] + (-1,)), rows)


def _linear_backward(node, g):
    rows = node.saved
    g = g.reshape(rows.shape[0], -1)
    return None, OuterSum(g, rows), np.add.reduce(g, axis=0)


def transpose(a):
    return op(lambda n, g: (array(g).T,), (a,), a.data.T, None)


def unbind(a):
    return op(lambda n, gs: (np.stack(gs),), (a,), tuple(a.data), None, len(a.data))


def addmm(a, b, c):  # a + b @ c
    return op(_addmm_backward, (a, b, c), a.data + b.data @ c.data, (b.data, c.data))


def _addmm_backward(node, g):
    b, c = node.saved
    return g, g @ c.T, OuterSum(b, g)


def tanh(a):
    out = np.tanh(a.data)
    return op(lambda n, g: (g * (1.0 - n.saved * n.saved),), (a,), out, out)


def stack(values):
    return op(lambda n, g: tuple(g), values, np.stack([v.data for v in values]), None)


def mse_of_readout(hs, readout, targets):  # mean((hs @ readout - targets)^2), one node
    diff = hs.data @ readout - targets
    out = np.add.reduce((diff * diff).ravel()) / diff.size
    return op(_mse_backward, (hs,), np.asarray(out), (diff, readout))


def _mse_backward(node, g):
    diff, readout = node.saved
    return ((2.0 * float(g) / diff.size) * diff @ readout.T,)


def backward(root):
    pending = {root.node: [np.ones(())]}
    ready = [(-root.node.seq, root.node)]
    while ready:
        node = heappop(ready)[1]
        grads = pending.pop(node)
        upstream = grads if node.outputs > 1 else grads[0]
        for parent, index, g in zip(node.parents, node.indices,
                                    node.backward(node, upstream)):
            if g is None:
                continue
            if type(parent) is Value:  # a leaf
                parent.grad = array(g) if parent.grad is None else parent.grad + array(g)
                continue
            slots = pending.get(parent)
            if slots is None:
                slots = pending[parent] = [None] * parent.outputs
                heappush(ready, (-parent.seq, parent))
            if slots[index] is None:
                slots[index] = g
            elif type(g) is OuterSum:
                slots[index].lefts += g.lefts
                slots[index].rights += g.rights
            else:
                slots[index] = slots[index] + g


def floor_rnn(p: Problem):
    """bench_rnn's RNN training step on the minimal engine."""
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    params = {name: leaf(p.params[name]) for name in names}
    x = leaf(p.x)
    T, N, _ = p.x.shape
    H = p.params["weight_hh"].shape[1]

    def step():
        gc.disable()  # as tinygrad_rnn's layers and backward pause the cyclic collector
        try:
            return graph_step()
        finally:
            gc.enable()

    def graph_step():
        for v in params.values():
            v.grad = None
        xp = linear(x, params["weight_ih"], add(params["bias_ih"], params["bias_hh"]))
        w_t = transpose(params["weight_hh"])
        h, outputs = leaf(np.zeros((N, H), dtype=p.x.dtype)), []
        for x_t in unbind(xp):
            h = tanh(addmm(x_t, h, w_t))
            outputs.append(h)
        loss = mse_of_readout(stack(outputs), p.readout, p.targets)
        backward(loss)
        return float(loss.data), {name: params[name].grad for name in names}

    return step


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=["tiny", "small"], choices=list(CONFIGS))
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--min-time", type=float, default=0.05, help="seconds per timing sample")
    args = parser.parse_args(argv)
    pin_malloc()
    print("| RNN config | hand numpy | floor engine | tinygrad_rnn |")
    print("|---|---|---|---|")
    for config in args.configs:
        problem = Problem("rnn", *CONFIGS[config], np.float64)
        steps = {"hand": hand_numpy(problem), "floor": floor_rnn(problem),
                 "ours": tinygrad_layer(problem)}
        truth = steps["hand"]()
        for name in ("floor", "ours"):
            disagreement = agrees(steps[name], truth, 1e-9)
            if disagreement:
                print(f"| {config} | {name} REFUSED: {disagreement} |")
                return 1
        medians = interleaved_medians(steps, "hand", args.repeats, args.min_time)
        hand = medians["hand"]
        print(f"| {config} {CONFIGS[config]} | {hand:.3f} ms | {medians['floor'] / hand:.2f}x "
              f"| {medians['ours'] / hand:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
