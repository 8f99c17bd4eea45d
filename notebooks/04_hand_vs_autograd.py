# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
# ---

# %% [markdown]
# # 4. Hand vs autograd: an LSTM's BPTT, step by step, and the bug zoo
#
# Deriving backpropagation through time by hand is the best way to learn it, and an easy
# way to get it subtly wrong. Here an LSTM's BPTT is derived and written in numpy,
# checked against the graph's gradients *at every time step* (`tr.trace.step_grads`),
# broken on purpose, and then set beside a zoo of classic mistakes, each one named by
# `tr.compare_grads`.
#
# ## The forward pass
#
# With torch's gate order and row vectors ($x_t$ is $(N, I)$):
#
# $$a_t = x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh}
#   = [a^i_t, a^f_t, a^g_t, a^o_t]$$
# $$i_t = \sigma(a^i_t),\; f_t = \sigma(a^f_t),\; g_t = \tanh(a^g_t),\; o_t = \sigma(a^o_t)$$
# $$c_t = f_t \odot c_{t-1} + i_t \odot g_t, \qquad h_t = o_t \odot \tanh(c_t)$$

# %%
import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, nn

tr.manual_seed(0)
rng = np.random.default_rng(0)
T, N, I, H = 5, 2, 3, 4
lstm = nn.LSTM(I, H)
x = rng.standard_normal((T, N, I))
d_out = rng.standard_normal((T, N, H))      # the loss: L = sum(d_out * output)
W_ih, W_hh = lstm.weight_ih_l0.data, lstm.weight_hh_l0.data
b = lstm.bias_ih_l0.data + lstm.bias_hh_l0.data


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def forward(x):
    """Every step's gates and states, kept for the backward pass."""
    h, c = np.zeros((N, H)), np.zeros((N, H))
    steps = []
    for x_t in x:
        a = x_t @ W_ih.T + h @ W_hh.T + b
        i, f, g, o = np.split(a, 4, axis=-1)
        i, f, g, o = sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)
        c_prev, h_prev = c, h
        c = f * c_prev + i * g
        h = o * np.tanh(c)
        steps.append(dict(i=i, f=f, g=g, o=o, c=c, c_prev=c_prev, h_prev=h_prev))
    return steps


steps = forward(x)
output, _ = lstm(Tensor(x))
print("forward agrees with nn.LSTM:", np.allclose(np.stack([s["o"] * np.tanh(s["c"])
                                                            for s in steps]), output.data))

# %% [markdown]
# ## The backward pass, derived
#
# Walk back from $t = T-1$ to $0$, carrying $\delta h$ and $\delta c$ from step $t+1$:
#
# $$\frac{\partial L}{\partial h_t} = d\_out_t + \delta h_{t+1}, \qquad
# \frac{\partial L}{\partial c_t} = \frac{\partial L}{\partial h_t} \odot o_t \odot
#   (1 - \tanh^2 c_t) + \delta c_{t+1}$$
# $$\frac{\partial L}{\partial a^o_t} = \frac{\partial L}{\partial h_t} \odot \tanh c_t
#   \odot o_t (1 - o_t), \quad
# \frac{\partial L}{\partial a^i_t} = \frac{\partial L}{\partial c_t} \odot g_t \odot i_t(1 - i_t),$$
# $$\frac{\partial L}{\partial a^f_t} = \frac{\partial L}{\partial c_t} \odot c_{t-1}
#   \odot f_t(1 - f_t), \quad
# \frac{\partial L}{\partial a^g_t} = \frac{\partial L}{\partial c_t} \odot i_t \odot (1 - g_t^2)$$
# $$\delta h_t = \frac{\partial L}{\partial a_t} W_{hh}, \qquad
#   \delta c_t = \frac{\partial L}{\partial c_t} \odot f_t$$
#
# and each step's share of $\partial L / \partial W_{hh}$ is
# $(\partial L / \partial a_t)^\top h_{t-1}$.

# %%
def backward(steps, d_out, carry_cell=True):
    """dL/dh_t, dL/dc_t, dL/da_t (per gate) and each step's share of dW_hh, for all t."""
    dh_next, dc_next = np.zeros((N, H)), np.zeros((N, H))
    out = {"dh": [], "dc": [], "da": [], "dW_hh": []}
    for t in reversed(range(len(steps))):
        s = steps[t]
        dh = d_out[t] + dh_next
        tanh_c = np.tanh(s["c"])
        dc = dh * s["o"] * (1 - tanh_c ** 2) + (dc_next if carry_cell else 0)
        da = np.concatenate([dc * s["g"] * s["i"] * (1 - s["i"]),
                             dc * s["c_prev"] * s["f"] * (1 - s["f"]),
                             dc * s["i"] * (1 - s["g"] ** 2),
                             dh * tanh_c * s["o"] * (1 - s["o"])], axis=-1)
        dh_next, dc_next = da @ W_hh, dc * s["f"]
        for key, value in (("dh", dh), ("dc", dc), ("da", da), ("dW_hh", da.T @ s["h_prev"])):
            out[key].insert(0, value)
    return {k: np.stack(v) for k, v in out.items()}


hand = backward(steps, d_out)

# %% [markdown]
# ## Checked per time step
#
# `tr.trace.step_grads(module, x, loss_fn)` gives autograd's gradients *at every time
# step*, in a hand derivation's layout: `dh`, `dc`, each gate's pre-activation gradient
# `dpre[gate]` and each step's share of every parameter `dparams[name]`.
# The package's own hand BPTT, `tinygrad_rnn.reference.lstm_step_grads`, gives the same
# quantities. All three agree, step by step:

# %%
from tinygrad_rnn import reference as R

auto = tr.trace.step_grads(lstm, x, lambda out: (out * Tensor(d_out)).sum())
_, _, cache = R.lstm_forward(lstm.state_dict(), x)
ref = R.lstm_step_grads(cache, d_out)
auto_da = np.concatenate([auto.dpre[gate] for gate in "ifgo"], axis=-1)


def worst(a, b):
    return float(np.max(np.abs(a - b) / (np.abs(b) + 1e-12)))


errors = {"dh": worst(hand["dh"], auto.dh), "dc": worst(hand["dc"], auto.dc),
          "da": worst(hand["da"], auto_da),
          "dW_hh": worst(hand["dW_hh"], auto.dparams["weight_hh"]),
          "reference dc": worst(ref.dc, auto.dc)}
for name, err in errors.items():
    print(f"{name:13} worst relative error over all steps: {err:.1e}")

# %% [markdown]
# ## A mistake, seen per step
#
# Forget the cell-state carry $\delta c_{t+1}$ (a classic slip) and the summed gradients
# are just "wrong". Per step, the error has a shape: zero at the last step, where there
# is nothing to carry, and wrong at every step before it.

# %%
slipped = backward(steps, d_out, carry_cell=False)
per_step = np.abs(slipped["da"] - auto_da).max(axis=(1, 2))
for t, err in enumerate(per_step):
    print(f"t = {t}: worst error in dL/da_t {err:.2e}")
report = tr.compare_grads({"da": auto_da}, {"da": slipped["da"]}, time_axis=0)
print(report)

# %% [markdown]
# ## The bug zoo
#
# `tinygrad_rnn.reference.bugs` keeps a zoo of hand BPTTs for RNN, LSTM and GRU, each
# with one classic mistake and the kind of diagnosis it must get. `bugs.diagnose` runs
# one beside autograd and returns `compare_grads`' report; given the layer and its input,
# `compare_grads` also fits the hand gradients against candidate mistakes (a dropped
# carry, a term at the neighbouring step, a derivative at the wrong point, ...).

# %%
from IPython.display import Markdown

from tinygrad_rnn.reference import bugs

Markdown(bugs.zoo_table())

# %%
print(bugs.diagnose(bugs.ZOO[1]))     # the LSTM with its cell-state carry dropped

# %%
zoo = {}
for bug in bugs.ZOO:
    kinds = bugs.diagnose(bug).kinds
    zoo[bug.name] = {"expected": bug.kind, "found": kinds[0] if kinds else None}
    mark = "ok " if zoo[bug.name]["found"] == bug.kind else "MISSED"
    print(f"{mark} {bug.name:24} {bug.kind}")

# %% [markdown]
# ## The results, checked

# %%
import json

assert all(err < 1e-10 for err in errors.values()), errors
assert per_step[-1] < 1e-12 and (per_step[:-1] > 1e-6).all()
assert all(entry["expected"] == entry["found"] for entry in zoo.values())
print("notebook results: " + json.dumps({
    "errors": errors, "slip_per_step": per_step.tolist(), "zoo": zoo,
    "auto_dh_last": auto.dh[-1].tolist(), "d_out_last": d_out[-1].tolist(),
    "dW_hh_sum": auto.dparams["weight_hh"].sum(axis=0).tolist(),
    "steps_T": int(auto.dh.shape[0])}))
