"""A Jacobian penalty on an RNN's recurrent map, trained by double backward.

Backpropagation through time carries dL/dh_t back one step by multiplying it by
J_t^T, where J_t = dh_t/dh_(t-1) = diag(1 - h_t^2) W_hh is the Jacobian of the
recurrent map. When these products shrink, the gradient vanishes: the first
marker of the adding problem gets nothing to learn from. The penalty here keeps
every step's J_t^T norm-preserving along random directions:

    penalty = mean over steps t and sequences of (||J_t^T u||^2 - 1)^2,  u a random unit vector

J_t^T u is computed by the engine, ``tr.grad(h, h_prev, grad_outputs=u,
create_graph=True)`` (a vector-Jacobian product), and since that gradient has a
graph of its own, the penalty's gradient reaches W_hh (and W_ih, the biases)
through a second backward: reverse over reverse.

Two RNNs, the same initialization, batches and Adam, learn the adding problem,
one with the penalty added to its loss. ``tr.trace.gradient_flow`` measures
||dL/dh_t|| for t = T-1 .. 0 under the task loss before and after training.

The Jacobian is taken at the states the RNN visited, held fixed (detached): the
penalty shapes the recurrent map where the sequence goes, the task loss moves
the states. So the layer itself can run as one scanned node; only the few ops
that recompute one step from the stacked states are differentiated twice.

    python examples/jacobian_penalty.py            # T = 30, 1000 updates, under a minute
    python examples/jacobian_penalty.py --quick    # T = 20, 150 updates, seconds
    python examples/jacobian_penalty.py --length 50 --steps 1500
"""

from __future__ import annotations

import _common as C  # first: BLAS threads, sys.path

import sys

import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, functional as F, nn

from adding_problem import BASELINE, adding_batch


class Adder(nn.Module):
    """An RNN over the sequence, then a linear read-out of its last hidden state."""

    def __init__(self, hidden: int):
        self.rnn = nn.RNN(2, hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: np.ndarray) -> tuple[Tensor, Tensor]:
        """(prediction (N, 1), every hidden state (T, N, H))."""
        out, _ = self.rnn(Tensor(x))
        return self.head(out[-1]), out


# ----------------------------------------------------------------------------- the penalty


def step_jacobian_vjp(rnn: nn.RNN, x: np.ndarray, states: np.ndarray,
                      u: np.ndarray) -> tuple[Tensor, Tensor]:
    """J_t^T u_t for every step t at once, with a graph (for the penalty's gradient).

    ``states`` (T, N, H) are h_1 .. h_T as the RNN computed them. Each step is
    recomputed from the state before it, h_t = tanh(x_t W_ih^T + b_ih + h_(t-1) W_hh^T
    + b_hh), with all h_(t-1) (h_0 = 0) as one leaf, so one backward from h with
    ``grad_outputs=u`` gives d<u_t, h_t>/dh_(t-1) = J_t^T u_t at every step.
    Returns (J^T u (T, N, H), the recomputed h).
    """
    prev = Tensor(np.concatenate([np.zeros_like(states[:1]), states[:-1]]), requires_grad=True)
    h = (Tensor(x) @ rnn.weight_ih_l0.T + rnn.bias_ih_l0
         + prev @ rnn.weight_hh_l0.T + rnn.bias_hh_l0).tanh()
    (vjp,) = tr.grad(h, prev, grad_outputs=u, create_graph=True)
    return vjp, h


def random_unit_vectors(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    u = rng.standard_normal(shape)
    return u / np.linalg.norm(u, axis=-1, keepdims=True)


def jacobian_penalty(rnn: nn.RNN, x: np.ndarray, states: np.ndarray,
                     u: np.ndarray) -> tuple[Tensor, float]:
    """(mean of (||J_t^T u||^2 - 1)^2 as a Tensor with a graph, mean ||J_t^T u||^2)."""
    vjp, _ = step_jacobian_vjp(rnn, x, states, u)
    squared = (vjp * vjp).sum(axis=-1)
    return ((squared - 1.0) ** 2).mean(), float(squared.data.mean())


def check_penalty(model: Adder, rng: np.random.Generator, length: int) -> dict:
    """The vector-Jacobian product against its closed form, and the penalty's gradient
    (double backward) against central differences, on one batch."""
    x, _ = adding_batch(rng, 4, length)
    x = x.astype(np.float64)
    with tr.no_grad():
        _, out = model(x)
    u = random_unit_vectors(rng, out.shape)
    rnn = model.rnn
    vjp, h = step_jacobian_vjp(rnn, x, out.data, u)
    # J_t^T u = W_hh^T ((1 - h_t^2) u): the closed form, for the tanh RNN
    closed = ((1.0 - out.data ** 2) * u) @ rnn.weight_hh_l0.data
    vjp_error = float(np.abs(vjp.data - closed).max())
    recompute_error = float(np.abs(h.data - out.data).max())

    W = rnn.weight_hh_l0
    penalty, _ = jacobian_penalty(rnn, x, out.data, u)
    (analytic,) = tr.grad(penalty, W)
    worst, eps = 0.0, 1e-6
    for index in [(0, 0), (1, 2), (W.shape[0] - 1, W.shape[1] - 1), (2, 0)]:
        saved = W.data[index]
        values = []
        for delta in (eps, -eps):
            W.data[index] = saved + delta
            values.append(jacobian_penalty(rnn, x, out.data, u)[0].item())  # (needs a graph)
        W.data[index] = saved
        numeric = (values[0] - values[1]) / (2 * eps)
        worst = max(worst, abs(analytic.data[index] - numeric) / max(abs(numeric), 1e-8))
    print(f"check: J_t^T u from tr.grad against W_hh^T ((1 - h_t^2) u): max error "
          f"{vjp_error:.1e}; the penalty's gradient in W_hh (double backward) against "
          f"central differences: max relative error {worst:.1e}")
    return {"vjp_error": vjp_error, "recompute_error": recompute_error,
            "penalty_grad_rel_error": worst}


# ----------------------------------------------------------------------------- training


def flow(model: Adder, test: tuple) -> np.ndarray:
    """||dL/dh_t|| for t = 0 .. T-1 under the task loss (MSE of the read-out of h_T)."""
    x, y = test
    target = Tensor(y)
    return tr.trace.gradient_flow(model.rnn, x,
                                  loss_fn=lambda out: F.mse_loss(model.head(out[-1]), target))


def train(weight: float, args, flow_batch: tuple, test: tuple) -> dict:
    """Adam on the task loss plus ``weight`` times the penalty; the same seed (so the same
    initialization and batches) for every weight."""
    rng = C.seed(args.seed)
    model = Adder(args.hidden).double()
    params = list(model.parameters())
    opt = tr.optim.Adam(params, lr=args.lr)
    flow_before = flow(model, flow_batch)
    curve, norms, ratios = [], [], []
    bar = C.progress(range(args.steps), f"penalty {weight:g}", args.no_progress)
    for step in bar:
        x, y = adding_batch(rng, args.batch, args.length)
        prediction, out = model(x.astype(np.float64))
        task = F.mse_loss(prediction, Tensor(y.astype(np.float64)))
        u = random_unit_vectors(rng, out.shape)  # drawn in both runs: the same batches after
        penalty, squared = jacobian_penalty(model.rnn, x.astype(np.float64), out.data, u)
        loss = task + weight * penalty if weight else task
        opt.zero_grad()
        loss.backward()
        tr.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        curve.append(task.item())
        norms.append(squared)
        if step % args.flow_every == 0 or step == args.steps - 1:
            f = flow(model, flow_batch)
            ratios.append((step + 1, float(f[0] / f[-1])))
            bar.set_postfix(mse=f"{np.mean(curve[-20:]):.4f}", ratio=f"{ratios[-1][1]:.1e}")
    bar.close()
    flow_after = flow(model, flow_batch)
    with tr.no_grad():
        test_mse = F.mse_loss(model(test[0])[0], Tensor(test[1])).item()
    return {"curve": curve, "jacobian_sq_norms": norms, "ratios_during": ratios,
            "flow_before": flow_before.tolist(), "flow_after": flow_after.tolist(),
            "ratio_before": float(flow_before[0] / flow_before[-1]),
            "ratio_after": float(flow_after[0] / flow_after[-1]), "test_mse": test_mse}


# ----------------------------------------------------------------------------- report


def plot(args, runs: dict) -> str | None:
    plt = C.pyplot(args)
    if plt is None:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    t = np.arange(args.length)
    first = next(iter(runs.values()))
    left.plot(t, first["flow_before"], color="gray", ls="--", label="before training (both)")
    for label, r in runs.items():
        left.plot(t, r["flow_after"], label=f"after, {label}")
        steps, ratios = zip(*r["ratios_during"])
        right.plot(steps, ratios, "o-", ms=3, label=label)
    left.set_yscale("log")
    left.set_xlabel("time step t")
    left.set_ylabel("||dL/dh_t||")
    left.set_title(f"gradient through time, adding problem T = {args.length}")
    left.legend()
    right.set_yscale("log")
    right.set_xlabel("update")
    right.set_ylabel(f"||dL/dh_0|| / ||dL/dh_{args.length - 1}||")
    right.set_title("how much of the gradient reaches t = 0")
    right.legend()
    return C.save_figure(fig, args, "jacobian_penalty.png")


def get_args(argv):
    p = C.parser(__doc__.split("\n\n")[0])
    p.add_argument("--length", type=int, default=None, help="T (default 30; quick 20)")
    p.add_argument("--steps", type=int, default=None, help="updates (default 1000; quick 150)")
    p.add_argument("--hidden", type=int, default=None, help="hidden size (default 32; quick 16)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--weight", type=float, default=1.0, help="the penalty's weight")
    p.add_argument("--flow-every", type=int, default=None,
                   help="measure the gradient flow every this many updates (default 50; quick 25)")
    args = p.parse_args(argv)
    return C.fill_defaults(args, dict(length=(20, 30), steps=(150, 1000), hidden=(16, 32),
                                      flow_every=(25, 50)))


def main(argv=None) -> dict:
    args = get_args(argv)
    timer = C.Timer()
    rng = np.random.default_rng(args.seed + 10_000)
    flow_batch = tuple(a.astype(np.float64) for a in adding_batch(rng, 64, args.length))
    test = tuple(a.astype(np.float64) for a in adding_batch(rng, 1000, args.length))
    C.seed(args.seed)
    check = check_penalty(Adder(args.hidden).double(), np.random.default_rng(args.seed), 6)

    print(f"\nadding problem, T = {args.length}: {args.steps} updates of {args.batch} sequences, "
          f"RNN {args.hidden}, Adam lr {args.lr}; penalty weight {args.weight}")
    runs = {}
    for label, weight in [("without the penalty", 0.0), ("with the penalty", args.weight)]:
        start = timer()
        runs[label] = train(weight, args, flow_batch, test)
        runs[label]["seconds"] = timer() - start
        runs[label]["weight"] = weight

    last = args.length - 1
    print(f"\n{'':<20} {'||dL/dh_0|| / ||dL/dh_' + str(last) + '||':>26}   "
          f"{'mean ||J^T u||^2':>16}   {'test MSE':>8}   {'seconds':>7}")
    before = next(iter(runs.values()))
    print(f"{'before training':<20} {before['ratio_before']:>26.2e}   "
          f"{before['jacobian_sq_norms'][0]:>16.3f}")
    for label, r in runs.items():
        norm = np.mean(r["jacobian_sq_norms"][-20:])
        print(f"{label:<20} {r['ratio_after']:>26.2e}   {norm:>16.3f}   {r['test_mse']:>8.4f}   "
              f"{r['seconds']:>7.1f}")
    test_baseline = float(np.mean((test[1] - 1.0) ** 2))
    print(f"(always 1.0: test MSE {test_baseline:.4f}; mean ||J^T u||^2 over the last 20 updates)")
    figure = plot(args, runs)
    return C.finish({"length": args.length, "steps": args.steps, "hidden": args.hidden,
                     "baseline": BASELINE, "test_baseline": test_baseline, "check": check,
                     "runs": runs, "figure": figure, "total_seconds": timer()}, args)


if __name__ == "__main__":
    main(sys.argv[1:])
