# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
# ---

# %% [markdown]
# # 1. Reverse mode from scratch
#
# A small expression, its graph with the values and gradients on it, the backward
# pass one node at a time, and a check against finite differences. Everything here
# is the package's public API (`import tinygrad_rnn as tr`); the pictures need the
# `graphs` extra (grandalf), not the system Graphviz.
#
# The expression is a neuron with one output weight:
#
# $$L = w \cdot \tanh(a b + c)$$

# %%
import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor

a = Tensor(0.5, requires_grad=True, name="a")
b = Tensor(-1.5, requires_grad=True, name="b")
c = Tensor(1.0, requires_grad=True, name="c")
w = Tensor(-2.0, requires_grad=True, name="w")

e = a * b
e.name = "e"
d = e + c
d.name = "d"
t = d.tanh()
t.name = "t"
L = w * t
L.name = "L"
print(f"e = {e.item():.4f}, d = {d.item():.4f}, t = {t.item():.4f}, L = {L.item():.4f}")

# %% [markdown]
# ## The graph, forward only
#
# Every op recorded a node. Leaves are ellipses (with their values), ops are boxes;
# the values of the tensors we hold (`e`, `d`, `t`, `L`) are written on them.

# %%
tr.viz.graph(L, values=True)

# %% [markdown]
# ## Backward, one node at a time
#
# `tr.viz.backward_steps(L)` walks the graph in the order `L.backward()` will, and
# yields one frame per node: the gradient arriving at it, the local derivative from
# the op's docstring, and the numbers put in. It writes no `.grad`.

# %%
frames = list(tr.viz.backward_steps(L))
for frame in frames:
    print(frame)

# %% [markdown]
# A frame is also a picture: the node that runs is blue, the gradients it just
# computed are red, and every gradient known so far is written on its node.
# Here is the step through the `tanh`:

# %%
frames[1]

# %% [markdown]
# ## The chain rule by hand
#
# With $t = \tanh(d)$ and $d = a b + c$:
#
# $$\frac{\partial L}{\partial w} = t, \qquad
# \frac{\partial L}{\partial t} = w, \qquad
# \frac{\partial L}{\partial d} = w (1 - t^2), \qquad
# \frac{\partial L}{\partial a} = w (1 - t^2)\, b, \qquad
# \frac{\partial L}{\partial b} = w (1 - t^2)\, a, \qquad
# \frac{\partial L}{\partial c} = w (1 - t^2).$$

# %%
tv, wv, av, bv = t.item(), w.item(), a.item(), b.item()
by_hand = {"w": tv, "a": wv * (1 - tv**2) * bv, "b": wv * (1 - tv**2) * av,
           "c": wv * (1 - tv**2)}
print({k: round(v, 6) for k, v in by_hand.items()})

# %% [markdown]
# ## Now `L.backward()`
#
# The engine computes the same numbers. The last frame already knew them, bit for bit.

# %%
L.backward()
leaves = {"a": a, "b": b, "c": c, "w": w}
for name, leaf in leaves.items():
    print(f"dL/d{name} = {leaf.grad.item(): .6f}   last frame: {frames[-1].grad_of(leaf).item(): .6f}"
          f"   by hand: {by_hand[name]: .6f}")

# %%
tr.viz.graph(L, values=True, grads=True)

# %% [markdown]
# ## Checked against finite differences
#
# The central difference $(L(x + \epsilon) - L(x - \epsilon)) / 2\epsilon$ needs no
# derivative at all, only the forward pass in plain numpy. `tr.gradcheck` does the
# same for every input of a function at once.

# %%
def loss_numpy(a, b, c, w):
    return w * np.tanh(a * b + c)


point = {name: leaf.item() for name, leaf in leaves.items()}
eps = 1e-6
finite = {}
for name in leaves:
    up, down = dict(point), dict(point)
    up[name] += eps
    down[name] -= eps
    finite[name] = (loss_numpy(**up) - loss_numpy(**down)) / (2 * eps)
    print(f"dL/d{name}: autograd {leaves[name].grad.item(): .8f}   finite differences "
          f"{finite[name]: .8f}")

inputs = [Tensor(np.array(point[n]), requires_grad=True) for n in "abcw"]
print("gradcheck:", tr.gradcheck(lambda a, b, c, w: w * (a * b + c).tanh(), inputs))

# %% [markdown]
# ## The results, checked
#
# The last cell checks what the notebook showed, and prints its key numbers for the
# test suite (which recomputes them on its own).

# %%
import json

assert len(frames) == 4  # Mul (L), Tanh, Add, Mul (e): one frame per op
for name, leaf in leaves.items():
    assert frames[-1].grad_of(leaf) == leaf.grad          # the walk's numbers are backward's
    assert np.isclose(leaf.grad.item(), by_hand[name], rtol=1e-12)
    assert np.isclose(leaf.grad.item(), finite[name], rtol=1e-6, atol=1e-9)
print("notebook results: " + json.dumps({
    "inputs": point, "L": L.item(), "frames": len(frames),
    "grads": {name: leaf.grad.item() for name, leaf in leaves.items()}}))
