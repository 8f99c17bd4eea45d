# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
# ---

# %% [markdown]
# # 6. Second order: forward mode, Hessian-vector products, Newton vs SGD, RTRL
#
# Backpropagation is itself a computation, made of the same ops, so it can be
# differentiated again (`create_graph=True`, `tr.grad`). And reverse mode is only
# one of two ways to push derivatives through a graph: forward mode carries a
# *tangent* along with each value, one forward pass per direction (`tr.func.jvp`).
# This notebook puts the two side by side, builds a Hessian-vector product from
# them, and uses the exact Hessian of the seed notebook's 4-unit RNN for Newton's
# method.

# %%
import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, tour
from tinygrad_rnn.reference.notebook import PARAM_NAMES

rng = np.random.default_rng(0)

# %% [markdown]
# ## Forward mode and reverse mode, the same Jacobian two ways
#
# For $f: \mathbb{R}^n \to \mathbb{R}^m$, forward mode gives $J u$ for a tangent
# $u$ in one pass (`jvp`), reverse mode gives $J^\top v$ for a cotangent $v$
# (`vjp`). Both are exact, and they agree through the identity
# $\langle v, J u\rangle = \langle J^\top v, u\rangle$. A whole Jacobian costs
# $n$ forward passes (`jacfwd`) or $m$ reverse ones (`jacrev`).

# %%
W = rng.standard_normal((3, 4))


def f(x):
    return (Tensor(W) @ x).tanh() * x[:3]


x = rng.standard_normal(4)
u, v = rng.standard_normal(4), rng.standard_normal(3)
out, Ju = tr.func.jvp(f, (x,), (u,))
out, pullback = tr.func.vjp(f, x)
(JTv,) = pullback(Tensor(v))
print(f"<v, J u>   = {v @ Ju.data:.15f}")
print(f"<J^T v, u> = {JTv.data @ u:.15f}")
J_forward = tr.func.jacfwd(f)(x).data
J_reverse = tr.func.jacrev(f)(x).data
print("jacfwd and jacrev agree:", np.allclose(J_forward, J_reverse, rtol=1e-13, atol=1e-15),
      J_forward.shape)

# %% [markdown]
# ## A Hessian-vector product
#
# $Hv$ is the directional derivative of the gradient, and also the gradient of
# the directional derivative $\langle \nabla f(x), v \rangle$ ($H$ is
# symmetric). `tr.func.hvp` takes the second way, reverse mode over forward mode,
# `grad` of `jvp`: one forward pass carries $v$, one ordinary backward walks it.
# It costs a few gradients and never forms $H$. Checked here against the full
# Hessian and against finite differences of the gradient.

# %%
def g(x):
    return ((Tensor(W) @ x).tanh() ** 2).sum() + (x ** 4).sum() / 4


value, (Hv,) = tr.func.hvp(g, (x,), (u,))
H = tr.func.hessian(g)(x).data
grad_g = tr.func.grad(g)
eps = 1e-6
finite_Hv = (grad_g(x + eps * u).data - grad_g(x - eps * u).data) / (2 * eps)
print("H symmetric:", np.allclose(H, H.T, rtol=0, atol=1e-13))
print(f"|Hv - H @ v|              = {np.abs(Hv.data - H @ u).max():.1e}")
print(f"|Hv - finite differences| = {np.abs(Hv.data - finite_Hv).max():.1e}")

# %% [markdown]
# ## Newton's method on the seed notebook's RNN
#
# The notebook's network has 29 parameters (W_x, W_h, W_y, b_h, b_y). As one
# vector $\theta$, sliced by ops into the five matrices, its printed loss is a
# function `loss(theta)` and `tr.func.hessian` gives the exact $29 \times 29$
# Hessian. It is indefinite at the printed weights, so the step is damped and
# "saddle-free", $-(|H| + \mu I)^{-1} g$ (absolute eigenvalues), with $\mu$
# adapted as in Levenberg-Marquardt. SGD gets the notebook's learning rate, 0.01.

# %%
SHAPES = {name: value.shape for name, value in tour.notebook_params().items()}
inputs = [np.array([[v]]) for v in tour.NOTEBOOK_INPUTS]
targets = [np.array([[v]]) for v in tour.NOTEBOOK_TARGETS]


def loss(theta):
    params, start = {}, 0
    for name in PARAM_NAMES:
        size = int(np.prod(SHAPES[name]))
        params[name] = theta[start:start + size].reshape(SHAPES[name])
        start += size
    return tour.printed_loss(tour.rnn_forward(params, inputs), targets)


theta0 = np.concatenate([tour.notebook_params()[n].ravel() for n in PARAM_NAMES])
grad_loss, hessian_loss = tr.func.grad(loss), tr.func.hessian(loss)
H0 = hessian_loss(theta0).data
eigenvalues = np.linalg.eigvalsh(H0)
print(f"{len(theta0)} parameters; Hessian eigenvalues from {eigenvalues.min():.1f} to "
      f"{eigenvalues.max():.1f}, {int((eigenvalues < 0).sum())} negative")

# %%
def newton(theta, steps=30, mu=1.0, tolerance=1e-12):
    losses = [loss(Tensor(theta)).item()]
    while len(losses) <= steps and losses[-1] > tolerance:
        g_, H_ = grad_loss(theta).data, hessian_loss(theta).data
        values, vectors = np.linalg.eigh(H_)
        while True:
            step = -vectors @ ((vectors.T @ g_) / (np.abs(values) + mu))
            trial = loss(Tensor(theta + step)).item()
            if trial < losses[-1]:
                break
            mu *= 10.0
        theta, mu = theta + step, max(mu / 10.0, 1e-12)
        losses.append(trial)
    return losses


def sgd(theta, epochs, lr=0.01):
    losses = []
    for _ in range(epochs):
        losses.append(loss(Tensor(theta)).item())
        theta = theta - lr * grad_loss(theta).data
    return losses


newton_losses = newton(theta0.copy())
sgd_losses = sgd(theta0.copy(), 2000)


def first_below(losses, level):
    return next((k for k, value in enumerate(losses) if value < level), None)


print("loss below   Newton steps   SGD epochs (of 2000)")
for level in (1e-2, 1e-4, 1e-6, 1e-10):
    print(f"{level:10.0e}   {str(first_below(newton_losses, level)):>12}   "
          f"{str(first_below(sgd_losses, level)):>10}")

# %%
# %matplotlib inline
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(newton_losses, "o-", label="damped Newton (exact Hessian)")
ax.semilogy(sgd_losses, label="SGD, lr 0.01")
ax.set_xscale("symlog", linthresh=20)
ax.set_xlabel("step / epoch")
ax.set_ylabel("the notebook's loss")
ax.legend()
plt.show()

# %% [markdown]
# ## RTRL beside BPTT: the same gradient, forward through time
#
# BPTT is reverse mode through time: keep every step, then walk back. Real-time
# recurrent learning (Williams & Zipser, 1989) is forward mode through time: carry the
# sensitivities $S_t = ds_t/d\theta$ along with the state,
# $S_t = \partial f/\partial s \, S_{t-1} + \partial f/\partial \theta$, one
# `jvp` of the cell's step per parameter element, and add $\partial L_t/\partial h_t
# \, S_t$ at every step. Nothing of the past is kept, so its memory does not grow
# with $T$; it costs far more compute. Both give the same gradient:

# %%
from tinygrad_rnn import nn

tr.manual_seed(0)
cell = nn.RNNCell(2, 3)
xs = rng.standard_normal((6, 2, 2))            # (T, N, I)


def step_loss(h, t):                             # L_t = |h_t|^2 / 2: dL_t/dh_t = h_t
    return (h ** 2).sum() / 2


by_rtrl = tr.rtrl.gradients(cell, xs, step_loss)
h, total = None, Tensor(0.0)                     # BPTT: the whole sequence, one backward
for t in range(len(xs)):
    h = cell(Tensor(xs[t]), h)
    total = total + step_loss(h, t)
total.backward()
for name, p in cell.named_parameters():
    print(f"{name:10s} RTRL vs BPTT: max difference {np.abs(by_rtrl[name] - p.grad).max():.1e}")

online = tr.rtrl.RTRL(nn.RNNCell(2, 3), step_loss)
held = [sum(a.nbytes for a in online.held_arrays())]
for t in range(len(xs)):
    online.step(xs[t], t)
    held.append(sum(a.nbytes for a in online.held_arrays()))
print("bytes RTRL holds before and after each step:", held)

# %% [markdown]
# ## The results, checked
#
# The last cell checks what the notebook showed, and prints its key numbers for the
# test suite (which recomputes the Hessian on its own, from the notebook's own
# numpy gradient).

# %%
import json

assert np.isclose(v @ Ju.data, JTv.data @ u, rtol=1e-12)
assert np.allclose(J_forward, J_reverse, rtol=1e-13, atol=1e-15)
assert np.allclose(Hv.data, H @ u, rtol=1e-12, atol=1e-12)
assert np.allclose(Hv.data, finite_Hv, rtol=1e-6, atol=1e-6)
assert newton_losses[-1] < 1e-12 and len(newton_losses) <= 31
assert first_below(sgd_losses, 1e-6) is None   # SGD has not got there in 2000 epochs
assert all(np.allclose(by_rtrl[n], p.grad, rtol=1e-10, atol=1e-12)
           for n, p in cell.named_parameters())
assert len(set(held[1:])) == 1                  # the same memory at every step
print("notebook results: " + json.dumps({
    "rtrl_cell": {n: p.data.tolist() for n, p in cell.named_parameters()},
    "rtrl_x": xs.tolist(), "rtrl": {n: g.tolist() for n, g in by_rtrl.items()},
    "theta0": theta0.tolist(), "hessian": H0.tolist(),
    "newton_losses": newton_losses, "sgd_losses_every_100": sgd_losses[::100],
    "sgd_epochs": len(sgd_losses)}))
