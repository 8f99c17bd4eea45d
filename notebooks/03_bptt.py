# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
# ---

# %% [markdown]
# # 3. Backpropagation through time
#
# A recurrent layer applies the same step at every time step. Unrolled, it is one long
# graph, and backward through it is BPTT: the gradient reaching an early step has been
# multiplied by the step's Jacobian once per step in between. This notebook draws the
# unrolled graph, measures how much gradient reaches each step, makes it vanish and
# explode on purpose, and puts RNN, LSTM and GRU side by side.

# %%
# %matplotlib inline
import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, nn, plots

tr.manual_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## The unrolled graph
#
# `nn.RNN` runs its steps as one graph node, a scan (the step recorded once and run
# over the sequence). `expand_scans=True` draws what the scan runs: one copy of the
# step's ops per time step, each reading the state the step before returned.

# %%
small = nn.RNN(input_size=1, hidden_size=2)
out, h_n = small(np.array([[[1.0]], [[4.0]], [[7.0]]]))   # (T, N, I) = (3, 1, 1)
print(out.grad_fn.__name__)                             # one node for the whole sequence
unrolled = tr.viz.graph(out.sum(), params=small, expand_scans=True, rankdir="LR")
unrolled

# %% [markdown]
# ## Gradient flow through time
#
# For $h_t = \tanh(W_{ih} x_t + W_{hh} h_{t-1} + b)$ and a loss that reads only the last
# output, the chain rule gives, step by step back,
#
# $$\frac{\partial L}{\partial h_{t-1}} = W_{hh}^\top \Big(\frac{\partial L}{\partial h_t}
# \odot (1 - h_t^2)\Big).$$
#
# `tr.trace.gradient_flow` asks the graph instead: it keeps the gradient of every
# step's hidden state and returns $\lVert \partial L / \partial h_t \rVert$. Here both,
# for a tanh RNN with small weights, T = 30:

# %%
T, N, I, H = 30, 4, 8, 16
seq = rng.standard_normal((T, N, I))

rnn = nn.RNN(I, H)
for p in rnn.parameters():
    p.data[:] = rng.uniform(-0.1, 0.1, p.shape)
flow = tr.trace.gradient_flow(rnn, seq)          # loss: the sum of the last output

# the same by hand: the hidden states from a gate trace, then the recursion above
traces, _ = tr.trace.gate_trace(rnn, seq)
hs = traces[0, 0]["h"]                           # (T, N, H)
W_hh = rnn.weight_hh_l0.data
dh = np.ones((N, H))                             # dL/dh_{T-1} of sum(h_{T-1})
by_hand = [np.linalg.norm(dh)]
for t in range(T - 1, 0, -1):
    dh = (dh * (1 - hs[t] ** 2)) @ W_hh          # row vectors: (dh * tanh') W_hh
    by_hand.append(np.linalg.norm(dh))
by_hand = np.array(by_hand[::-1])
for t in (0, 10, 20, 29):
    print(f"t = {t:2}: ||dL/dh_t|| autograd {flow[t]:.6e}   by hand {by_hand[t]:.6e}")
print(f"largest relative difference: {np.max(np.abs(flow - by_hand) / by_hand):.1e}")

# %% [markdown]
# ## Vanishing and exploding
#
# Each step back multiplies by $W_{hh}^\top \mathrm{diag}(1 - h_t^2)$. With small
# weights its norm is well below 1, and after 30 steps almost nothing is left. Make
# $W_{hh}$ an orthogonal matrix times 1.25 and keep the inputs tiny (so the tanh stays
# in its linear part), and the same product grows by about $1.25$ per step instead.

# %%
exploding = nn.RNN(I, H)
q, _ = np.linalg.qr(rng.standard_normal((H, H)))
exploding.weight_hh_l0.data[:] = 1.25 * q
exploding.weight_ih_l0.data[:] = rng.uniform(-0.1, 0.1, (H, I))
exploding.bias_ih_l0.data[:] = exploding.bias_hh_l0.data[:] = 0.0
tiny = 1e-4 * seq
exploding_flow = tr.trace.gradient_flow(exploding, tiny)

vanish_ratio = flow[0] / flow[-1]
explode_ratio = exploding_flow[0] / exploding_flow[-1]
print(f"small weights:       ||dL/dh_0|| / ||dL/dh_29|| = {vanish_ratio:.1e}")
print(f"1.25 x orthogonal:   ||dL/dh_0|| / ||dL/dh_29|| = {explode_ratio:.1e}"
      f"   (1.25**29 = {1.25 ** 29:.1e})")
plots.gradient_flow({"RNN, small weights": flow, "RNN, 1.25 x orthogonal W_hh": exploding_flow},
                    title="Vanishing and exploding gradients")

# %% [markdown]
# An exploding gradient is usually tamed by clipping its norm
# (`tr.nn.utils.clip_grad_norm_`); a vanishing one needs another architecture.
#
# ## RNN vs LSTM vs GRU
#
# The LSTM's cell state carries the gradient back through $c_t = f_t \odot c_{t-1} +
# \dots$, multiplied by the forget gate only (about 0.73 with a forget bias of 1); the
# GRU's $h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}$ does the same with its update
# gate. The same sequence, the default initialisation of each:

# %%
tr.manual_seed(0)
models = {"RNN": nn.RNN(I, H), "LSTM": nn.LSTM(I, H), "GRU": nn.GRU(I, H)}
models["LSTM"].gate("f").bias_ih[:] = 1.0        # forget bias 1: remember by default
flows = {name: tr.trace.gradient_flow(m, seq) for name, m in models.items()}
for name, f in flows.items():
    print(f"{name:4}: ||dL/dh_0|| / ||dL/dh_29|| = {f[0] / f[-1]:.1e}")
plots.gradient_flow(flows, title="Gradient flow, T = 30")

# %% [markdown]
# The ratios say how much of the loss's gradient reaches the first step: for the RNN
# next to nothing, for the gated cells orders of magnitude more. Whether a model then
# learns a long dependency depends on more than this (the task, the sizes, the
# optimiser), but a gradient that never arrives teaches nothing.

# %% [markdown]
# ## The results, checked

# %%
import json

assert unrolled.dot.count("Tanh") == 3                    # one tanh per time step
assert np.allclose(flow, by_hand, rtol=1e-10)              # the graph's BPTT is the recursion
assert vanish_ratio < 1e-12 and explode_ratio > 100
ratios = {name: float(f[0] / f[-1]) for name, f in flows.items()}
assert ratios["RNN"] < ratios["GRU"] and ratios["RNN"] < ratios["LSTM"]
print("notebook results: " + json.dumps({
    "unrolled_tanh": unrolled.dot.count("Tanh"), "flow": flow.tolist(),
    "by_hand": by_hand.tolist(), "vanish_ratio": vanish_ratio, "explode_ratio": explode_ratio,
    "ratios": ratios}))
