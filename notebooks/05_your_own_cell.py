# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
# ---

# %% [markdown]
# # 5. Your own cell
#
# A recurrent cell is one time step written with ops. Write its equations and you get
# its backward pass, a per-gate gradient check, a multi-layer, bidirectional layer with
# torch's shapes, and a fast scanned run, without writing a derivative. The cell here is
# JANET (van der Westhuizen & Lasenby, 2018), an LSTM with a forget gate only:
#
# $$f = \sigma(a_f), \qquad c' = f \odot c + \big(1 - \sigma(a_f - \beta)\big) \odot \tanh(a_g),
# \qquad h' = c'$$
#
# ## The cell protocol
#
# Subclass `nn.RecurrentCell` and write `step`. The base class makes torch's
# parameters (`weight_ih` (G·H, I), `weight_hh` (G·H, H), `bias_ih`, `bias_hh`), one row
# block per name in `gates`. `step` gets `xp`, this step's $x_t W_{ih}^\top + b_{ih}$
# (for a whole sequence computed with one matmul), and the state, a tuple in
# `state_names` order; it returns the new state.

# %%
# %matplotlib inline
import time

import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, nn


class JANETCell(nn.RecurrentCell):
    gates = ("f", "g")               # the row blocks of the weights, in order
    state_names = ("h",)

    def __init__(self, input_size, hidden_size, bias=True, beta=1.0):
        super().__init__(input_size, hidden_size, bias)
        self.beta = beta             # a keyword argument of the cell, passed on by nn.Recurrent

    def step(self, xp, state):
        (h,) = state
        a_f, a_g = (xp + self.recurrent(h)).chunk(2, dim=-1)   # recurrent(h) = h W_hh^T + b_hh
        f = a_f.sigmoid()
        self.record(f=f)             # seen by tr.trace.record_gates; a no-op otherwise
        return f * h + (1 - (a_f - self.beta).sigmoid()) * a_g.tanh()


tr.manual_seed(0)
cell = JANETCell(3, 4)
print([(name, p.shape) for name, p in cell.named_parameters()])

# %% [markdown]
# `nn.Recurrent` runs the cell as a layer, with torch's arguments and names:

# %%
layer = nn.Recurrent(JANETCell, 3, 4, num_layers=2, bidirectional=True, batch_first=True,
                     beta=1.0)
xs = np.random.default_rng(1).standard_normal((2, 5, 3))       # (N, T, I)
out, h_n = layer(Tensor(xs))
print(out.shape, h_n.shape)                                    # (2, 5, 8) (4, 2, 4)
print(list(layer.state_dict())[:4])
traces, _ = tr.trace.gate_trace(layer, xs)
print("forget gate of layer 0, forward, step 0:", traces[0, 0]["f"][0, 0].round(3))

# %% [markdown]
# ## A gradient check per gate and per time step
#
# `tr.gradcheck_layer` compares every gradient with central finite differences, in
# float64, and reports each gate's rows of each weight separately and each time step
# of `x` separately: a wrong gate or a wrong step shows by name.

# %%
from tinygrad_rnn.layercheck import layercheck_report

layer64 = layer.double()
report = layercheck_report(layer64, xs[:, :3], gates=JANETCell.gates)
print(report)

# %% [markdown]
# Break one gate on purpose (here the candidate's pre-activation $a_g$ is cut out of
# the graph, a new Tensor of its numbers, so no gradient flows back through it) and the
# check names that gate. (The layer warns that it cannot scan such a step and runs it op
# by op: a step that makes a constant of a step value's numbers cannot be recorded.)

# %%
class BrokenJANET(JANETCell):
    def step(self, xp, state):
        (h,) = state
        a_f, a_g = (xp + self.recurrent(h)).chunk(2, dim=-1)
        f = a_f.sigmoid()
        a_g = Tensor(a_g.data)       # the slip: the g block leaves the graph
        return f * h + (1 - (a_f - self.beta).sigmoid()) * a_g.tanh()


tr.manual_seed(0)
broken = nn.Recurrent(BrokenJANET, 3, 4).double()
broken_report = layercheck_report(broken, xs[:, :3].transpose(1, 0, 2),
                                     gates=BrokenJANET.gates)
print(broken_report)

# %% [markdown]
# ## Training on a small task
#
# The adding problem: each step holds a random number and a marker; two steps are
# marked, and the target is the sum of their numbers, read at the last step. Always
# predicting the mean, 1.0, gives an MSE of about 1/6.

# %%
import tinygrad_rnn.functional as F


def adding_batch(rng, n, T=10):
    values = rng.uniform(0, 1, (T, n))
    marks = np.zeros((T, n))
    for k in range(n):
        marks[rng.choice(T, 2, replace=False), k] = 1
    return np.stack([values, marks], axis=-1), (values * marks).sum(axis=0)[:, None]


class Adder(nn.Module):
    def __init__(self):
        self.rnn = nn.Recurrent(JANETCell, 2, 16)
        self.head = nn.Linear(16, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[-1])


rng = np.random.default_rng(0)
tr.manual_seed(0)
model = Adder()
opt = tr.optim.Adam(model.parameters(), lr=0.01)
losses = []
for it in range(200):
    x_batch, y_batch = adding_batch(rng, 64)
    loss = F.mse_loss(model(Tensor(x_batch)), Tensor(y_batch))
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
x_test, y_test = adding_batch(np.random.default_rng(99), 500)
with tr.no_grad():
    test_mse = F.mse_loss(model(Tensor(x_test)), Tensor(y_test)).item()
baseline = float(np.mean((y_test - 1.0) ** 2))
print(f"test MSE {test_mse:.4f}, always 1.0: {baseline:.4f}")
tr.plots.loss_curve(losses)

# %% [markdown]
# ## The scan: one graph node for the whole sequence
#
# The layer records the step's ops once and runs them over every time step as one
# node (`JANETCellScan`), with each op's own derivative; `tr.replay.disabled()` runs it
# op by op instead. Same bits, forward and backward; the scan is faster because it
# makes one node where op by op makes one per op per step.

# %%
from tinygrad_rnn import replay

x_time = Tensor(adding_batch(np.random.default_rng(5), 32, T=50)[0])


def training_step():
    model.zero_grad()
    out = model(x_time)
    out.sum().backward()
    return out.data.copy(), [p.grad.copy() for p in model.parameters()]


def timed(repeats=5):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = training_step()
        best = min(best, time.perf_counter() - start)
    return best, result


out, _ = model.rnn(x_time)
print("the layer's output comes from:", out.grad_fn.__name__)
scanned_time, (scanned_out, scanned_grads) = timed()
with replay.disabled():
    op_time, (op_out, op_grads) = timed()
same_bits = bool(np.array_equal(scanned_out, op_out)
                 and all(np.array_equal(a, b) for a, b in zip(scanned_grads, op_grads)))
print(f"training step, T = 50: scanned {scanned_time * 1e3:.1f} ms, op by op "
      f"{op_time * 1e3:.1f} ms ({scanned_time / op_time:.2f}x); same bits: {same_bits}")

# %% [markdown]
# ## The results, checked

# %%
import json

assert report.ok and not broken_report.ok
assert test_mse < baseline / 4
assert out.grad_fn.__name__ == "JANETCellScan"
assert np.allclose(scanned_out, op_out, rtol=1e-12)
print("notebook results: " + json.dumps({
    "out_shape": list(layer(Tensor(xs))[0].shape), "h_n_shape": list(h_n.shape),
    "params": [name for name, _ in cell.named_parameters()],
    "weight_ih_shape": list(cell.weight_ih.shape), "check_ok": report.ok,
    "broken_ok": broken_report.ok, "broken_text": str(broken_report),
    "test_mse": test_mse, "baseline": baseline, "scan_node": out.grad_fn.__name__,
    "same_bits": same_bits, "scanned_ms": scanned_time * 1e3, "op_by_op_ms": op_time * 1e3}))
