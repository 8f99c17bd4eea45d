"""What a Hessian-vector product costs, as a multiple of one gradient (issue 17 asks for
at most 4x on an LSTM at the small benchmark size).

For each layer (float64, a zero initial state, loss = the mean of the squared
outputs), the table times, interleaved:

- ``gradient``: one forward and one backward, every parameter's and the input's
  gradient, the layer scanned (its usual run);
- ``hvp(x)``: ``tr.func.hvp`` with respect to the input sequence;
- ``hvp(params)``: ``tr.func.hvp`` with respect to every parameter, through
  ``tr.func.functional_call``;
- the same two op by op (``replay.disabled()``), where every op is its own node;
- torch's ``torch.func.jvp(torch.func.grad(...))`` (forward over reverse), when installed.

Before timing, every hvp is checked against the op-by-op one (and torch's) to 1e-10.

    python benchmarks/bench_hvp.py                   # LSTM, GRU, RNN at small
    python benchmarks/bench_hvp.py --kinds lstm --configs small medium
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import tinygrad_rnn as tr  # noqa: E402

from bench_rnn import CONFIGS, interleaved_medians, pin_malloc  # noqa: E402

try:
    import torch  # noqa: E402
    torch.set_num_threads(1)
except ImportError:  # torch is optional: its column is left out
    torch = None

LAYERS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


class Problem:
    """A layer, an input sequence and a tangent for each of them, in float64."""

    def __init__(self, kind: str, config: tuple, seed: int = 0) -> None:
        n, i, h, t = config
        tr.manual_seed(seed)
        self.kind = kind
        self.layer = getattr(tr.nn, LAYERS[kind])(i, h).double()
        self.names = [name for name, _ in self.layer.named_parameters()]
        self.weights = tuple(p.data.copy() for p in self.layer.parameters())
        rng = np.random.default_rng(seed)
        self.x = rng.standard_normal((t, n, i))
        self.v_x = rng.standard_normal(self.x.shape)
        self.v_weights = tuple(rng.standard_normal(w.shape) for w in self.weights)

    def loss(self, x: tr.Tensor) -> tr.Tensor:
        out, _ = self.layer(x)
        return (out * out).mean()

    def loss_of_weights(self, *weights: tr.Tensor) -> tr.Tensor:
        out, _ = tr.func.functional_call(self.layer, dict(zip(self.names, weights)), (self.x,))
        return (out * out).mean()

    def gradient(self) -> np.ndarray:
        self.layer.zero_grad()
        x = tr.Tensor(self.x, requires_grad=True)
        self.loss(x).backward()
        return x.grad

    def hvp_x(self) -> list[np.ndarray]:
        return [p.data for p in tr.func.hvp(self.loss, (self.x,), (self.v_x,))[1]]

    def hvp_weights(self) -> list[np.ndarray]:
        products = tr.func.hvp(self.loss_of_weights, self.weights, self.v_weights)[1]
        return [p.data for p in products]

    def op_by_op(self, run):
        def step():
            with tr.replay.disabled():
                return run()
        return step

    def torch_hvp_x(self):
        layer = getattr(torch.nn, LAYERS[self.kind])(self.x.shape[2], self.layer.hidden_size)
        layer = layer.double()
        with torch.no_grad():
            for p, w in zip(layer.parameters(), self.weights):
                p.copy_(torch.tensor(w))
        x, v = torch.tensor(self.x), torch.tensor(self.v_x)

        def loss(a):
            out, _ = layer(a)
            return (out * out).mean()

        def step():
            return [torch.func.jvp(torch.func.grad(loss), (x,), (v,))[1].detach().numpy()]
        return step


def check(problem: Problem, torch_step) -> None:
    """Every hvp equals the op-by-op one (and torch's) to 1e-10, or the run stops."""
    pairs = [("hvp(x)", problem.hvp_x(), problem.op_by_op(problem.hvp_x)()),
             ("hvp(params)", problem.hvp_weights(), problem.op_by_op(problem.hvp_weights)())]
    if torch_step is not None:
        pairs.append(("hvp(x) vs torch", problem.hvp_x(), torch_step()))
    for what, ours, theirs in pairs:
        for a, b in zip(ours, theirs):
            scale = max(1.0, float(np.abs(b).max()))
            if not np.allclose(a, b, rtol=1e-10, atol=1e-10 * scale):
                raise SystemExit(f"{problem.kind}: {what} disagrees: "
                                 f"max difference {np.abs(a - b).max():.3g}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", nargs="+", default=list(LAYERS), choices=list(LAYERS))
    parser.add_argument("--configs", nargs="+", default=["small"], choices=list(CONFIGS))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--min-time", type=float, default=0.2)
    args = parser.parse_args(argv)
    print(f"# hvp cost, float64, median of {args.repeats} interleaved samples; "
          f"{pin_malloc()}")
    columns = ["gradient", "hvp(x)", "hvp(params)", "hvp(x) op by op",
               "hvp(params) op by op"] + (["torch hvp(x)"] if torch is not None else [])
    print("| kind | config | gradient ms | " + " | ".join(
        f"{c} / gradient" for c in columns[1:]) + " |")
    print("|---|---|---|" + "---|" * (len(columns) - 1))
    for kind in args.kinds:
        for config in args.configs:
            problem = Problem(kind, CONFIGS[config])
            torch_step = problem.torch_hvp_x() if torch is not None else None
            check(problem, torch_step)
            steps = {"gradient": problem.gradient, "hvp(x)": problem.hvp_x,
                     "hvp(params)": problem.hvp_weights,
                     "hvp(x) op by op": problem.op_by_op(problem.hvp_x),
                     "hvp(params) op by op": problem.op_by_op(problem.hvp_weights)}
            if torch_step is not None:
                steps["torch hvp(x)"] = torch_step
            medians = interleaved_medians(steps, "gradient", args.repeats, args.min_time)
            base = medians["gradient"]
            cells = [f"{medians[c] / base:.2f}x" for c in columns[1:]]
            print(f"| {kind} | {config} | {base:.3f} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
