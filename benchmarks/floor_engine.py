"""How fast could an eager engine with a node per op be with none of its checks?

A measuring stick, not a product: below is a minimal reverse-mode engine of the
design tinygrad_rnn's layers had up to the fifth performance round, and still
have inside ``tr.replay.disabled()`` (a node per op, the same numpy arithmetic,
the same OuterSum pooling of weight gradients, the same heap-ordered backward),
with nothing else. It has no error messages, no broadcasting, no dtype
handling, no custom Functions, no shape check of the gradients an op returns,
no hooks, no retain_grad, no freeing of saved arrays; it knows only the ops of
the training steps of an Elman RNN and a GRU, built with the same nodes per
step as our layers. It runs bench_rnn's training step, must agree with the
hand-derived BPTT (loss and every gradient to 1e-9), and is timed interleaved
with tinygrad_rnn and hand numpy:

    python benchmarks/floor_engine.py                   # RNN and GRU, tiny and small
    python benchmarks/floor_engine.py --kinds rnn --configs medium

The distance between its column and "ours op by op" is what the engine's
checks, its generality and the layer's structure cost; the distance between it
and hand numpy is about what an engine with a node per op costs (a leaner one
could shave a little more). The last column is our layers as they run by
default: one Scan node per layer (tinygrad_rnn/replay.py), which is no longer
bound by that floor. docs/benchmarks.md has the numbers.
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
from bench_rnn import (  # noqa: E402
    CONFIGS,
    Problem,
    agrees,
    hand_numpy,
    interleaved_medians,
    pin_malloc,
    tinygrad_layer,
    tr,
)

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


# ... and the further ops of a GRU step.

def split(a, sizes, axis):  # contiguous copies, as ours
    bounds = np.cumsum(sizes)[:-1]
    parts = tuple(np.ascontiguousarray(part) for part in np.split(a.data, bounds, axis=axis))
    return op(lambda n, gs: (np.concatenate([array(g) for g in gs], axis=axis),),
              (a,), parts, None, len(parts))


def add_bias(a, b):  # a (..., M) + b (M,)
    return op(lambda n, g: (g, g.reshape(-1, g.shape[-1]).sum(axis=0)), (a, b),
              a.data + b.data, None)


def addmm_bias(b, x, w):  # b (M,) + x @ w
    return op(lambda n, g: (g.sum(axis=0), g @ w.data.T, OuterSum(x.data, g)), (b, x, w),
              b.data + x.data @ w.data, None)


def sigmoid(a):
    out = 1.0 / (1.0 + np.exp(-a.data))
    return op(lambda n, g: (g * (out * (1.0 - out)),), (a,), out, None)


def addcmul(a, b, c):  # a + b * c
    return op(lambda n, g: (g, g * c.data, g * b.data), (a, b, c),
              a.data + b.data * c.data, None)


def lerp(start, end, weight):  # start + weight * (end - start)
    diff = end.data - start.data
    return op(lambda n, g: (g * (1.0 - weight.data), g * weight.data, g * diff),
              (start, end, weight), start.data + weight.data * diff, None)


def readout(hs, w):  # (T, N, H) @ (H, K), w a constant
    return op(lambda n, g: (g @ w.T,), (hs,), hs.data @ w, None)


def sub(a, b):  # a - b, b a constant of a's shape
    return op(lambda n, g: (g,), (a,), a.data - b, None)


def square(a):
    return op(lambda n, g: (g * (2.0 * a.data),), (a,), a.data * a.data, None)


def mean(a):
    size = a.data.size
    return op(lambda n, g: (np.full(a.data.shape, float(g) / size),), (a,),
              np.asarray(np.add.reduce(a.data.ravel()) / size), None)


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


def floor_step(p: Problem):
    """bench_rnn's training step (RNN or GRU) on the minimal engine, built as our layers
    build it: the same nodes per step and the same fixed ones."""
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    params = {name: leaf(p.params[name]) for name in names}
    x = leaf(p.x)
    N, H = p.x.shape[1], p.params["weight_hh"].shape[1]
    layer = {"rnn": _rnn_outputs, "gru": _gru_outputs}[p.kind]

    def step():
        gc.disable()  # as tinygrad_rnn's layers and backward pause the cyclic collector
        try:
            for v in params.values():
                v.grad = None
            h0 = leaf(np.zeros((N, H), dtype=p.x.dtype))
            outputs = layer(x, h0, params)
            stack([outputs[-1]])  # h_n, as the layers return it (unused by the loss)
            loss = mean(square(sub(readout(stack(outputs), p.readout), p.targets)))
            backward(loss)
            return float(loss.data), {name: params[name].grad for name in names}
        finally:
            gc.enable()

    return step


def _rnn_outputs(x, h, w):
    xp = linear(x, w["weight_ih"], add(w["bias_ih"], w["bias_hh"]))
    w_t, outputs = transpose(w["weight_hh"]), []
    for x_t in unbind(xp):
        h = tanh(addmm(x_t, h, w_t))
        outputs.append(h)
    return outputs


def _gru_outputs(x, h, w):
    H = h.data.shape[1]
    xp = linear(x, w["weight_ih"], w["bias_ih"])
    x_rz, x_n = split(xp, [2 * H, H], axis=-1)
    w_rz, w_n = split(w["weight_hh"], [2 * H, H], axis=0)
    b_rz, b_hn = split(w["bias_hh"], [2 * H, H], axis=0)
    w_rz_t, w_n_t = transpose(w_rz), transpose(w_n)
    outputs = []
    for x_rz_t, x_n_t in zip(unbind(add_bias(x_rz, b_rz)), unbind(x_n)):
        r, z = split(sigmoid(addmm(x_rz_t, h, w_rz_t)), [H, H], axis=-1)
        n = tanh(addcmul(x_n_t, r, addmm_bias(b_hn, h, w_n_t)))
        h = lerp(n, h, z)
        outputs.append(h)
    return outputs


def op_by_op(step):
    """Our layer's step with one graph node per op, as up to the fifth round."""
    def run():
        with tr.replay.disabled():
            return step()

    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", nargs="+", default=["rnn", "gru"], choices=["rnn", "gru"])
    parser.add_argument("--configs", nargs="+", default=["tiny", "small"], choices=list(CONFIGS))
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--min-time", type=float, default=0.05, help="seconds per timing sample")
    args = parser.parse_args(argv)
    pin_malloc()
    print("| kind | config | hand numpy | floor engine | ours op by op | ours (scanned) |")
    print("|---|---|---|---|---|---|")
    for kind in args.kinds:
        for config in args.configs:
            problem = Problem(kind, *CONFIGS[config], np.float64)
            steps = {"hand": hand_numpy(problem), "floor": floor_step(problem),
                     "op_by_op": op_by_op(tinygrad_layer(problem)),
                     "ours": tinygrad_layer(problem)}
            truth = steps["hand"]()
            for name in ("floor", "op_by_op", "ours"):
                disagreement = agrees(steps[name], truth, 1e-9)
                if disagreement:
                    print(f"| {kind} | {config} | {name} REFUSED: {disagreement} |")
                    return 1
            medians = interleaved_medians(steps, "hand", args.repeats, args.min_time)
            hand = medians["hand"]
            print(f"| {kind} | {config} {CONFIGS[config]} | {hand:.3f} ms "
                  f"| {medians['floor'] / hand:.2f}x | {medians['op_by_op'] / hand:.2f}x "
                  f"| {medians['ours'] / hand:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
