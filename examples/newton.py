"""Newton's method with the exact Hessian on the seed notebook's RNN, against SGD.

The notebook's network (1 input, 4 tanh units, 1 output: 29 parameters) from its
printed weights, its three inputs and targets and the loss it prints. The
Hessian of that loss with respect to all 29 parameters comes from double
backward: one ``tr.grad(loss, theta, create_graph=True)`` gives the gradient as
a Tensor with a graph of its own, and one more backward per gradient element
gives a row of the Hessian. It is checked (symmetric; against central finite
differences of the gradient) before it is used.

The Hessian here is indefinite (negative eigenvalues at the printed weights),
so a plain Newton step can head for a saddle or a maximum. The step used is
damped: ``-(|H| + mu I)^-1 g``, where ``|H|`` has the absolute values of H's
eigenvalues (Dauphin et al., 2014, "saddle-free Newton"), and mu adapts as in
Levenberg-Marquardt: divided by 10 after a step that lowers the loss,
multiplied by 10 (and the step retried) after one that does not.

SGD gets the notebook's learning rate (0.01) from the same weights.

    python examples/newton.py              # SGD for 10,000 epochs, about 15 s
    python examples/newton.py --quick      # SGD for 2,000 epochs, a few seconds
"""

from __future__ import annotations

import _common as C  # first: BLAS threads, sys.path

import sys

import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, tour
from tinygrad_rnn.reference.notebook import PARAM_NAMES

SHAPES = {name: value.shape for name, value in tour.notebook_params().items()}
THRESHOLDS = [1e-2, 1e-4, 1e-6, 1e-10]  # the loss levels of the comparison table


# ----------------------------------------------------------------------------- the loss of theta


def initial_theta() -> np.ndarray:
    """The printed weights as one vector of 29: W_x, W_h, W_y, b_h, b_y, each flattened."""
    params = tour.notebook_params()
    return np.concatenate([params[name].ravel() for name in PARAM_NAMES])


def unflatten(theta: Tensor) -> dict:
    """The five parameter matrices as slices of ``theta`` (ops, so the graph reaches theta)."""
    params, start = {}, 0
    for name in PARAM_NAMES:
        size = int(np.prod(SHAPES[name]))
        params[name] = theta[start:start + size].reshape(SHAPES[name])
        start += size
    return params


def column(values) -> list:
    return [np.array([[v]]) for v in values]


def loss_of(theta: Tensor) -> Tensor:
    """The notebook's printed loss (mean over steps of each step's squared error)."""
    outputs = tour.rnn_forward(unflatten(theta), column(tour.NOTEBOOK_INPUTS))
    return tour.printed_loss(outputs, column(tour.NOTEBOOK_TARGETS))


def loss_value(theta: np.ndarray) -> float:
    with tr.no_grad():
        return loss_of(Tensor(theta)).item()


def gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
    """(loss, gradient) at theta: one ordinary backward."""
    t = Tensor(theta, requires_grad=True)
    loss = loss_of(t)
    (g,) = tr.grad(loss, t)
    return loss.item(), g.data


def gradient_and_hessian(theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(loss, gradient, Hessian) at theta by double backward.

    The first backward records itself (``create_graph=True``), so the gradient g is
    a Tensor whose graph leads back to theta; the backward of its element i gives
    row i of the Hessian, d g_i / d theta. The graph is kept (``retain_graph``)
    for the next row.
    """
    t = Tensor(theta, requires_grad=True)
    loss = loss_of(t)
    (g,) = tr.grad(loss, t, create_graph=True)
    rows = [tr.grad(g[i], t, retain_graph=True)[0].data for i in range(theta.size)]
    return loss.item(), g.data.copy(), np.stack(rows)


def finite_difference_hessian(theta: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the (first-order) gradient, one parameter at a time."""
    rows = []
    for e in np.eye(theta.size):
        rows.append((gradient(theta + eps * e)[1] - gradient(theta - eps * e)[1]) / (2 * eps))
    return np.stack(rows)


def check_hessian(theta: np.ndarray) -> dict:
    _, _, hessian = gradient_and_hessian(theta)
    fd = finite_difference_hessian(theta)
    eigenvalues = np.linalg.eigvalsh(hessian)
    check = {"hessian": hessian.tolist(),
             "symmetry_error": float(np.abs(hessian - hessian.T).max()),
             "fd_error": float(np.abs(hessian - fd).max()),
             "largest_entry": float(np.abs(hessian).max()),
             "eigenvalues": eigenvalues.tolist()}
    print(f"Hessian at the printed weights, {theta.size} x {theta.size}, by double backward:")
    print(f"  symmetric: max |H - H^T| = {check['symmetry_error']:.1e}")
    print(f"  against central differences of the gradient (eps 1e-6): max error "
          f"{check['fd_error']:.1e} (largest entry {check['largest_entry']:.1f})")
    print(f"  eigenvalues from {eigenvalues[0]:.1f} to {eigenvalues[-1]:.1f}, "
          f"{int((eigenvalues < 0).sum())} negative: indefinite")
    return check


# ----------------------------------------------------------------------------- the two methods


def damped_newton_step(g: np.ndarray, hessian: np.ndarray, mu: float) -> np.ndarray:
    """-(|H| + mu I)^-1 g: Newton's step with each eigenvalue replaced by its absolute
    value (so the step goes downhill along negative curvature too) plus mu."""
    eigenvalues, vectors = np.linalg.eigh(hessian)
    return -vectors @ ((vectors.T @ g) / (np.abs(eigenvalues) + mu))


def newton(theta: np.ndarray, iterations: int, tolerance: float, mu: float = 1.0) -> dict:
    """Damped Newton until the loss is below ``tolerance`` (or ``iterations`` Hessians).

    Returns the loss before each iteration (``losses[k]`` after k steps), the damping
    of each accepted step, and how many losses were evaluated in all."""
    losses, mus, tries = [], [], 0
    for _ in range(iterations):
        loss, g, hessian = gradient_and_hessian(theta)
        losses.append(loss)
        if loss < tolerance:
            break
        while True:  # Levenberg-Marquardt: more damping until the step helps
            step = damped_newton_step(g, hessian, mu)
            tries += 1
            if loss_value(theta + step) < loss:
                break
            mu *= 10.0
        theta = theta + step
        mus.append(mu)
        mu = max(mu / 10.0, 1e-12)
    else:
        losses.append(loss_value(theta))
    return {"losses": losses, "mu": mus, "loss_evaluations": tries, "theta": theta.tolist()}


def sgd(theta: np.ndarray, lr: float, epochs: int, quiet: bool) -> list:
    """Plain gradient descent, the notebook's training loop; the loss before each epoch."""
    losses = []
    for _ in C.progress(range(epochs), "SGD", quiet):
        loss, g = gradient(theta)
        losses.append(loss)
        theta = theta - lr * g
    losses.append(loss_value(theta))
    return losses


def first_below(losses: list, threshold: float) -> int | None:
    """The first k with losses[k] < threshold (None: never)."""
    below = np.flatnonzero(np.array(losses) < threshold)
    return int(below[0]) if below.size else None


# ----------------------------------------------------------------------------- report


def print_tables(newton_run: dict, sgd_losses: list) -> dict:
    newton_losses = newton_run["losses"]
    print(f"\n{'iteration':>9}  {'Newton loss':>12}  {'SGD loss, same number of epochs':>32}")
    for k, loss in enumerate(newton_losses):
        print(f"{k:>9}  {loss:>12.3e}  {sgd_losses[k]:>32.3e}")
    reached = {}
    print(f"\n{'loss below':>10}  {'Newton iterations':>17}  {'SGD epochs (lr 0.01)':>20}")
    for threshold in THRESHOLDS:
        n, s = first_below(newton_losses, threshold), first_below(sgd_losses, threshold)
        reached[f"{threshold:g}"] = {"newton": n, "sgd": s}
        sgd_text = f"{s}" if s is not None else f"not in {len(sgd_losses) - 1}"
        print(f"{threshold:>10g}  {str(n):>17}  {sgd_text:>20}")
    return reached


def plot(args, newton_losses: list, sgd_losses: list) -> str | None:
    plt = C.pyplot(args)
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    ax.plot(np.arange(1, len(sgd_losses) + 1), sgd_losses, label="SGD, lr 0.01 (epochs)")
    ax.plot(np.arange(1, len(newton_losses) + 1), newton_losses, "o-",
            label="damped Newton, exact Hessian (iterations)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("iteration + 1 (one gradient for SGD; one Hessian for Newton)")
    ax.set_ylabel("the notebook's loss")
    ax.set_title("the notebook's 4-unit RNN: Newton against SGD")
    ax.legend()
    return C.save_figure(fig, args, "newton.png")


def get_args(argv):
    p = C.parser(__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=None,
                   help="SGD epochs (default 10000; quick 2000)")
    p.add_argument("--iterations", type=int, default=30, help="at most this many Newton steps")
    p.add_argument("--tolerance", type=float, default=1e-14,
                   help="Newton stops when the loss is below this")
    p.add_argument("--mu", type=float, default=1.0, help="Newton's initial damping")
    return C.fill_defaults(p.parse_args(argv), dict(epochs=(2000, 10000)))


def main(argv=None) -> dict:
    args = get_args(argv)
    timer = C.Timer()
    theta = initial_theta()
    print(f"the notebook's RNN: {theta.size} parameters, inputs {tour.NOTEBOOK_INPUTS} -> "
          f"targets {tour.NOTEBOOK_TARGETS}; loss at the printed weights {loss_value(theta):.4f}\n")
    check = check_hessian(theta)

    start = timer()
    newton_run = newton(theta, args.iterations, args.tolerance, args.mu)
    newton_seconds = timer() - start
    start = timer()
    sgd_losses = sgd(theta, tour.NOTEBOOK_LEARNING_RATE, args.epochs, args.no_progress)
    sgd_seconds = timer() - start
    reached = print_tables(newton_run, sgd_losses)
    steps = len(newton_run["losses"]) - 1
    print(f"\nNewton: {steps} steps ({steps + 1} Hessians, {newton_run['loss_evaluations']} "
          f"trial losses) in {newton_seconds:.2f} s; SGD: {args.epochs} epochs in "
          f"{sgd_seconds:.2f} s, loss {sgd_losses[-1]:.2e} at the end")
    figure = plot(args, newton_run["losses"], sgd_losses)
    return C.finish({
        "theta0": theta.tolist(), **check,
        "newton": {**newton_run, "seconds": newton_seconds},
        "sgd": {"losses": sgd_losses, "lr": tour.NOTEBOOK_LEARNING_RATE, "seconds": sgd_seconds},
        "reached": reached, "figure": figure, "total_seconds": timer(),
    }, args)


if __name__ == "__main__":
    main(sys.argv[1:])
