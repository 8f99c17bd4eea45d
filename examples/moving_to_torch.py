"""A cell written and checked here, trained further on PyTorch, and brought back.

The minimal gated unit (Zhou et al., 2016; see custom_cell.py) written on the cell
protocol, ``nn.RecurrentCell``, in a model for the adding problem (see
adding_problem.py). The script

1. checks the cell's gradients per gate and time step (``tr.gradcheck_layer``) and
   trains the model here (float64),
2. exports it with ``tr.to_torch``: the same parameters under the same names, the
   cell's own ``step`` run on torch tensors; checks that the torch module gives our
   outputs and gradients (float64, to rounding),
3. trains it further with torch (on a GPU when there is one; float64 throughout),
4. brings the weights back with ``tr.from_torch`` and checks again: the gradients per
   gate, and our outputs against torch's on the test set.

    python examples/moving_to_torch.py            # about half a minute
    python examples/moving_to_torch.py --quick    # seconds

torch is needed (pip install torch).
"""

from __future__ import annotations

import _common as C  # first: BLAS threads, sys.path

import sys

import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, functional as F, nn, no_grad

from adding_problem import BASELINE, adding_batch


class MGUCell(nn.RecurrentCell):
    """The minimal gated unit, one step::

        f  = sigmoid(x W_if^T + b_if + h W_hf^T + b_hf)
        n  = tanh(x W_in^T + b_in + (f * h) W_hn^T + b_hn)
        h' = (1 - f) * h + f * n       (tr.lerp(h, n, f))
    """

    gates = ("f", "n")

    def step(self, xp, state):
        (h,) = state
        x_f, x_n = xp.chunk(2, dim=-1)
        w_hf, w_hn = self.weight_hh.chunk(2, dim=0)
        b_hf, b_hn = self.bias_hh.chunk(2, dim=0)
        f = (x_f + F.linear(h, w_hf, b_hf)).sigmoid()
        n = (x_n + F.linear(f * h, w_hn, b_hn)).tanh()
        self.record(f=f)
        return tr.lerp(h, n, f)


class Adder(nn.Module):
    """An ``nn.Recurrent`` of the cell, then a linear read-out of its last output."""

    def __init__(self, hidden: int):
        self.rnn = nn.Recurrent(MGUCell, 2, hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = self.rnn(x if isinstance(x, Tensor) else Tensor(x))
        return self.head(out[-1])


def gradcheck(layer, seed: int) -> bool:
    """``tr.gradcheck_layer`` per gate and time step on the model's own layer, its current
    weights, a float64 input of 3 steps and 2 sequences."""
    x = np.random.default_rng(seed).standard_normal((3, 2, 2))
    return bool(tr.gradcheck_layer(layer, x, gates=MGUCell.gates, raise_exception=False))


def train_here(model, rng, args) -> list[float]:
    opt = tr.optim.Adam(model.parameters(), lr=args.lr)
    curve = []
    for _ in C.progress(range(args.steps), "here", args.no_progress):
        x, y = adding_batch(rng, args.batch, args.length)
        loss = F.mse_loss(model(x.astype(np.float64)), Tensor(y.astype(np.float64)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        curve.append(loss.item())
    return curve


def train_on_torch(twin, rng, args, device) -> list[float]:
    import torch

    opt = torch.optim.Adam(twin.parameters(), lr=args.lr)
    curve = []
    for _ in C.progress(range(args.steps), f"torch ({device})", args.no_progress):
        x, y = adding_batch(rng, args.batch, args.length)
        x = torch.from_numpy(x.astype(np.float64)).to(device)
        y = torch.from_numpy(y.astype(np.float64)).to(device)
        loss = torch.nn.functional.mse_loss(twin(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        curve.append(loss.item())
    return curve


def compare(model, twin, x, y) -> dict:
    """Our loss, torch's, and the largest difference in outputs and in any parameter's
    gradient, on one batch."""
    import torch

    model.zero_grad()
    twin.zero_grad()
    ours = model(x)
    loss = F.mse_loss(ours, Tensor(y))
    loss.backward()
    theirs = twin(torch.from_numpy(x))
    tloss = torch.nn.functional.mse_loss(theirs, torch.from_numpy(y))
    tloss.backward()
    grads = dict(twin.named_parameters())
    return {"loss_here": loss.item(), "loss_torch": tloss.item(),
            "max_output_diff": float(np.abs(ours.data - theirs.detach().numpy()).max()),
            "max_grad_diff": max(float(np.abs(p.grad - grads[n].grad.numpy()).max())
                                 for n, p in model.named_parameters())}


def get_args(argv):
    p = C.parser(__doc__.split("\n\n")[0])
    p.add_argument("--length", type=int, default=None,
                   help="adding-problem T (default 20; quick 8)")
    p.add_argument("--steps", type=int, default=None,
                   help="updates here and again on torch (default 300; quick 60)")
    p.add_argument("--hidden", type=int, default=None, help="hidden size (default 16; quick 8)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-2)
    args = p.parse_args(argv)
    return C.fill_defaults(args, dict(length=(8, 20), steps=(60, 300), hidden=(8, 16)))


def main(argv=None) -> dict:
    args = get_args(argv)
    try:
        import torch
    except ImportError:
        sys.exit("moving_to_torch.py needs torch: pip install torch")
    torch.manual_seed(args.seed)
    rng = C.seed(args.seed)
    timer = C.Timer()
    test_x, test_y = (a.astype(np.float64) for a in
                      adding_batch(np.random.default_rng(args.seed + 10_000), 500, args.length))

    model = Adder(args.hidden).double()
    checked_before = gradcheck(model.rnn, args.seed)
    curve_here = train_here(model, rng, args)
    with no_grad():
        mse_here = float(F.mse_loss(model(test_x), Tensor(test_y)).item())
    print(f"1. here: gradcheck per gate {'passes' if checked_before else 'FAILS'}; "
          f"{args.steps} updates, test MSE {mse_here:.4f} (always 1.0: {BASELINE:.4f})")

    twin = tr.to_torch(model)
    exported = compare(model, twin, test_x[:, :64], test_y[:64])
    print(f"2. exported: {type(twin).__name__} with {len(list(twin.parameters()))} parameters "
          f"({', '.join(n for n, _ in twin.named_parameters())}); outputs differ by "
          f"{exported['max_output_diff']:.1e}, gradients by {exported['max_grad_diff']:.1e}")

    device = "cuda" if torch.cuda.is_available() else "cpu"
    twin.to(device)
    curve_torch = train_on_torch(twin, rng, args, device)
    twin.cpu()
    with torch.no_grad():
        mse_torch = float(torch.nn.functional.mse_loss(
            twin(torch.from_numpy(test_x)), torch.from_numpy(test_y)))
    print(f"3. on torch ({device}): {args.steps} more updates, test MSE {mse_torch:.4f}")

    tr.from_torch(twin, like=model)
    with no_grad():
        mse_back = float(F.mse_loss(model(test_x), Tensor(test_y)).item())
    checked_after = gradcheck(model.rnn, args.seed)
    back = compare(model, twin, test_x[:, :64], test_y[:64])
    print(f"4. back here: test MSE {mse_back:.4f} (torch said {mse_torch:.4f}); outputs "
          f"differ by {back['max_output_diff']:.1e}; gradcheck per gate "
          f"{'passes' if checked_after else 'FAILS'}; {timer():.1f} s in all")

    return C.finish({
        "gradcheck_before": checked_before, "gradcheck_after": checked_after,
        "mse_here": mse_here, "mse_torch": mse_torch, "mse_back": mse_back,
        "baseline": BASELINE, "exported": exported, "back": back, "device": device,
        "curve_here": curve_here, "curve_torch": curve_torch, "length": args.length,
        "steps": args.steps, "seconds": timer(), "figure": None,
    }, args)


if __name__ == "__main__":
    main(sys.argv[1:])
