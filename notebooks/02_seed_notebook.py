# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
# ---

# %% [markdown]
# # 2. The seed notebook, rebuilt on the engine
#
# The project grew out of a Persian teaching notebook
# (`docs/notebook.md` tells its story). It has three cells: an RNN forward pass that prints
# its random weights and outputs; the same RNN trained with hand-written
# backpropagation through time (BPTT); and an LSTM run gate by gate on `[1, 4, 7]`,
# never trained, because the notebook has no backward pass for it. Here are the three
# again, cell by cell, on `tinygrad_rnn`. The notebook's Persian comments stand beside
# the English (the new Persian sentences follow the project's tour, `python -m
# tinygrad_rnn --lang fa`; they were not reviewed by a native speaker).
#
# <div dir="rtl">
#
# # ۲. نوت‌بوکِ آغازین، این بار روی موتور autograd
#
# نوت‌بوک یک RNN را اجرا می‌کند، آن را با BPTT دست‌نویس آموزش می‌دهد و یک LSTM
# آموزش‌ندیده را گیت به گیت دنبال می‌کند. اینجا همان سه بخش دوباره اجرا می‌شود،
# این بار با موتور autograd.
#
# </div>

# %% [markdown]
# ## Cell 1: the RNN forward pass, with the printed weights
#
# The notebook drew its weights with `np.random.randn` but printed them, and the
# outputs they gave. Those printed numbers are enough to check the engine:
# $h_t = \tanh(W_x x_t + W_h h_{t-1} + b_h)$, $y_t = W_y h_t + b_y$, column vectors as in
# the notebook.
#
# <div dir="rtl">
#
# **بخش ۱.** اجرای رو به جلوی RNN نوت‌بوک، با همان وزن‌هایی که چاپ کرده بود.
# کامنت‌های نوت‌بوک: «تنظیمات اولیه»، «وزنها و بایاسها»، «تابع فعالسازی»، «ورودی ساده»،
# «حالت پنهان اولیه».
#
# </div>

# %%
import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor

# تنظیمات اولیه  (initial settings)
input_size, hidden_size, output_size, seq_length = 1, 4, 1, 3

# وزنها و بایاسها  (weights and biases: the ones the notebook printed)
W_x = Tensor([[0.24499315], [1.64245811], [-0.46516492], [0.60331829]], requires_grad=True)
W_h = Tensor([[1.37777454, -1.41781434, 0.89708677, 0.12688328],
              [-0.59478309, -0.19901797, -0.36983813, 1.8497388],
              [0.00851169, -1.09938783, 2.00037938, -1.15957504],
              [-1.73456868, 0.01300878, 0.9359561, 1.36862273]], requires_grad=True)
W_y = Tensor([[1.73178273, -2.14228566, -0.53759098, 0.17637289]], requires_grad=True)
b_h = Tensor(np.zeros((hidden_size, 1)), requires_grad=True)
b_y = Tensor(np.zeros((output_size, 1)), requires_grad=True)
params = {"W_x": W_x, "W_h": W_h, "W_y": W_y, "b_h": b_h, "b_y": b_y}

# ورودی ساده  (a simple input)
inputs = [np.array([[0.1]]), np.array([[0.2]]), np.array([[0.3]])]
targets = [np.array([[0.2]]), np.array([[0.3]]), np.array([[0.4]])]


def forward():
    """اجرای RNN (running the RNN): the notebook's loop, written with ops."""
    h_prev = Tensor(np.zeros((hidden_size, 1)))     # حالت پنهان اولیه (initial hidden state)
    outputs = []
    for x_t in inputs:
        h_t = (W_x @ x_t + W_h @ h_prev + b_h).tanh()
        outputs.append(W_y @ h_t + b_y)
        h_prev = h_t
    return outputs


outputs = forward()
printed = [-0.27069536, -0.90355753, -2.36305458]          # what the notebook printed
for t, (y, p) in enumerate(zip(outputs, printed)):
    print(f"Time {t}: Output = {y.item(): .8f}   the notebook printed {p: .8f}")

# %% [markdown]
# The same outputs, to the 8 decimals printed. This time they hang on a graph: here is
# the last output's, with the values on it.
#
# <div dir="rtl">
#
# همان خروجی‌ها. این بار پشتشان یک گراف است، پس گرادیان هر چیزی که از آن‌ها
# حساب شود تنها با یک backward() به دست می‌آید.
#
# </div>

# %%
tr.viz.graph(outputs[-1], params=params, values=True)

# %% [markdown]
# ## Cell 2: training it, and the two bugs in the hand-written BPTT
#
# The notebook trains with plain SGD (learning rate 0.01) on the loss it prints, the
# mean over the three steps of each step's MSE, and works the gradient out by hand.
# With autograd the gradient is `loss.backward()`. `tinygrad_rnn.reference.notebook`
# keeps the notebook's BPTT exactly as written (`faithful=True`); `tr.compare_grads`
# puts the two side by side at the printed weights and names what it sees.
#
# <div dir="rtl">
#
# **بخش ۲.** آموزش همین شبکه: پس‌انتشار در طول زمان (BPTT)، این بار با autograd.
# کامنت‌های نوت‌بوک: «تنظیمات»، «تابع فعالسازی و مشتقش»، «دادهها»، «آموزش»،
# «محاسبه خطای بهبود یافته»، «یا میتوانید MSE استاندارد استفاده کنید»، «بهروزرسانی وزنها».
#
# </div>

# %%
from tinygrad_rnn.reference.notebook import notebook_bptt, notebook_forward


def printed_loss(outputs):
    """یا میتوانید MSE استاندارد استفاده کنید (or use the standard MSE): what it prints."""
    return sum(((y - t) ** 2).mean() for y, t in zip(outputs, targets)) / len(outputs)


for p in params.values():
    p.grad = None
printed_loss(forward()).backward()
autograd = {name: p.grad.copy() for name, p in params.items()}
at_printed = {name: p.data.copy() for name, p in params.items()}

_, hand = notebook_bptt(at_printed, inputs, targets, faithful=True)
report = tr.compare_grads(autograd, hand)
print(report)

# %% [markdown]
# **Bug 1, the scale.** `W_y` and `b_y` never pass through the tanh, and their hand
# gradients are exactly 1.5 times autograd's. The notebook's `dy = y_t - target_t` is
# the derivative of $\frac12\sum_t (y_t - \text{target}_t)^2$, but the loss it prints
# is the mean over $T = 3$ steps, whose derivative is $2 (y_t - \text{target}_t) / 3$:
# the ratio is 3/2.
#
# <div dir="rtl">
#
# اشکال اول: مقیاس. W_y و b_y هیچ‌وقت از tanh عبور نمی‌کنند و گرادیانی که نوت‌بوک
# برایشان حساب می‌کند دقیقاً ۱٫۵ برابرِ گرادیان autograd است. نسبت این دو ۳/۲ است:
# گرادیانِ 0.5*sum، نه گرادیانِ میانگین.
#
# </div>
#
# **Bug 2, dtanh.** Fix only the scale and `W_y`, `b_y` agree, but `W_x`, `W_h`, `b_h`
# still do not. The notebook computes `dh_raw = dh * dtanh(h_t)` with
# `dtanh(x) = 1 - tanh(x)**2`; but `h_t` is already `tanh(a_t)`, so this is
# $1 - \tanh(\tanh(a_t))^2$, the derivative at the wrong point. Give `compare_grads` each
# step's `dh_raw` and the hidden state it belongs to, and it finds the pattern:
#
# <div dir="rtl">
#
# اشکال دوم: dtanh. h_t خودش tanh(a_t) است، پس حاصل می‌شود 1 - tanh(tanh(a_t))^2:
# مشتق در نقطهٔ اشتباه گرفته شده است. ضریب درست 1 - h_t**2 است.
#
# </div>

# %%
_, hand_scale_fixed = notebook_bptt(at_printed, inputs, targets, dtanh_bug=True,
                                    scale_bug=False, with_steps=True)
_, correct_steps = notebook_bptt(at_printed, inputs, targets, faithful=False, with_steps=True)
_, h_states = notebook_forward(at_printed, inputs)
scale_fixed = tr.compare_grads(autograd, {k: hand_scale_fixed[k] for k in autograd})
print(scale_fixed.summary)
steps = tr.compare_grads({"dh_raw": correct_steps["dh_raw"]},
                         {"dh_raw": hand_scale_fixed["dh_raw"]},
                         activations={"dh_raw": np.stack(h_states)}, time_axis=0)
print(steps)

# %% [markdown]
# With both fixed, the hand BPTT agrees with autograd to rounding. The buggy one lowers
# the loss too: a wrong gradient can still point downhill, so a falling loss does not
# show that a derivation is right. A gradient check does.
#
# <div dir="rtl">
#
# BPTT نوت‌بوک هم خطا را پایین می‌آورد: گرادیانِ غلط هم می‌تواند رو به پایین باشد.
#
# </div>

# %%
import matplotlib.pyplot as plt

_, corrected = notebook_bptt(at_printed, inputs, targets, faithful=False)
fixed_report = tr.compare_grads(autograd, corrected, rtol=1e-10, atol=1e-14)
print(fixed_report.summary)

opt = tr.optim.SGD(list(params.values()), lr=0.01)      # the notebook's learning rate
ours = []
for epoch in range(300):
    loss = printed_loss(forward())
    opt.zero_grad()
    loss.backward()
    opt.step()
    ours.append(loss.item())

weights, theirs = dict(at_printed), []                   # the notebook's own loop
for epoch in range(300):
    loss, grads = notebook_bptt(weights, inputs, targets, faithful=True)
    weights = {k: v - 0.01 * grads[k] for k, v in weights.items()}
    theirs.append(loss)

fig, ax = plt.subplots(figsize=(6, 3))
ax.semilogy(ours, label="autograd (loss.backward())")
ax.semilogy(theirs, "--", label="the notebook's BPTT, as written")
ax.set_xlabel("epoch")
ax.set_ylabel("printed loss")
ax.legend()
plt.show()
print(f"after 300 epochs: autograd {ours[-1]:.2e}, the notebook's BPTT {theirs[-1]:.2e}")

# %% [markdown]
# ## Cell 3: the LSTM, gate by gate
#
# The notebook's `SimpleLSTM` draws its four gates' weights with `np.random.seed(42)`
# (each `(hidden, input + hidden)`, applied to `[x, h_prev]`), biases 0.1 (0 for the
# candidate), and runs `[1, 4, 7]` printing every gate. Its `forward_step`, as written:
#
# <div dir="rtl">
#
# کامنت‌های نوت‌بوک: «اولیهسازی وزنها (فرض کنیم از قبل آموزش دیدهاند)»،
# «وزنهای Forget Gate»، «وزنهای Input Gate»، «وزنهای Cell State Candidate»،
# «وزنهای Output Gate»، «وزنهای خروجی نهایی»، «یک گام پیشرو در LSTM».
#
# </div>

# %%
def sigmoid(x):
    return 1 / (1 + np.exp(-np.clip(x, -500, 500)))


hidden = 4
np.random.seed(42)                           # اولیهسازی وزنها (initialising the weights)
Wf = np.random.randn(hidden, 1 + hidden) * 0.5   # وزنهای Forget Gate
Wi = np.random.randn(hidden, 1 + hidden) * 0.5   # وزنهای Input Gate
Wc = np.random.randn(hidden, 1 + hidden) * 0.5   # وزنهای Cell State Candidate
Wo = np.random.randn(hidden, 1 + hidden) * 0.5   # وزنهای Output Gate
Wy = np.random.randn(1, hidden) * 0.5            # وزنهای خروجی نهایی
bf = bi = bo = np.ones(hidden) * 0.1
bc, by = np.zeros(hidden), np.zeros(1)


def forward_step(x, h_prev, C_prev):
    """یک گام پیشرو در LSTM (one forward step of the LSTM), the notebook's code."""
    combined = np.concatenate([x, h_prev])    # ترکیب ورودی فعلی با حافظه قبلی
    f_t = sigmoid(Wf @ combined + bf)          # Forget Gate - تصمیم گیری برای فراموشی
    i_t = sigmoid(Wi @ combined + bi)          # Input Gate - تصمیم گیری برای ورودی جدید
    C_tilde = np.tanh(Wc @ combined + bc)      # Cell State Candidate - مقادیر کاندید جدید
    C_t = f_t * C_prev + i_t * C_tilde         # بروزرسانی Cell State
    o_t = sigmoid(Wo @ combined + bo)          # Output Gate - تصمیم گیری برای خروجی
    h_t = o_t * np.tanh(C_t)                   # Hidden State جدید
    return Wy @ h_t + by, h_t, C_t, (f_t, i_t, o_t, C_tilde)


h, C, seed_gates, seed_predictions = np.zeros(hidden), np.zeros(hidden), [], []
for x in [1, 4, 7]:
    y, h, C, gates = forward_step(np.array([x], dtype=float), h, C)
    seed_gates.append(gates + (C, h))
    seed_predictions.append(y[0])

# %% [markdown]
# The same LSTM as an `nn.LSTM`: torch's layout stacks the gates' rows as
# `i, f, g, o`, splits `[x, h]` into `weight_ih` (the first column) and `weight_hh`
# (the rest), and has two biases (we put the notebook's in `bias_ih`). The read-out is
# an `nn.Linear`. `tr.trace.gate_trace` records every gate while the layer runs:

# %%
from tinygrad_rnn import nn

lstm = nn.LSTM(input_size=1, hidden_size=hidden)
stacked = np.concatenate([Wi, Wf, Wc, Wo])                 # torch's gate order: i, f, g, o
lstm.load_state_dict({"weight_ih_l0": stacked[:, :1], "weight_hh_l0": stacked[:, 1:],
                      "bias_ih_l0": np.concatenate([bi, bf, bc, bo]),
                      "bias_hh_l0": np.zeros(4 * hidden)})
head = nn.Linear(hidden, 1)
head.load_state_dict({"weight": Wy, "bias": by})

sequence = np.array([[1.0], [4.0], [7.0]])                 # (T, I): test_sequence = [1, 4, 7]
traces, (out, _) = tr.trace.gate_trace(lstm, sequence)
g = {name: a[:, 0] for name, a in traces[0, 0].items()}    # (T, H) per gate
predictions = head(out).data[:, 0]
for t, x in enumerate([1, 4, 7]):
    print(f"📍 گام {t + 1} (step {t + 1}): ورودی (input) = {x:.3f}")
    print(f"  🔹 Forget Gate: {g['f'][t].round(3)}")
    print(f"  🔹 Input Gate:  {g['i'][t].round(3)}")
    print(f"  🔹 Output Gate: {g['o'][t].round(3)}")
    print(f"  🔹 Cell State:  {g['c'][t].round(3)}")
    print(f"  🔹 Hidden State: {g['h'][t].round(3)}")
    print(f"  🔹 پیشبینی (prediction): {predictions[t]:.3f}")

# %%
from tinygrad_rnn import plots

plots.gate_heatmap(traces[0, 0])

# %% [markdown]
# Untrained, the LSTM predicts nothing like the next element, 10. The notebook ends:
# «برای یادگیری واقعی، باید وزنها با backpropagation بروزرسانی بشن» (for real learning,
# the weights must be updated with backpropagation). With autograd that is a few lines:
# predict the next element at every step of windows of three from sequences with step 3
# (values divided by 10), Adam, from the notebook's own weights.
#
# <div dir="rtl">
#
# نوت‌بوک LSTM خود را با وزن‌های تصادفی اجرا کرد و نوشت که برای یادگیری واقعی باید
# وزن‌ها با backpropagation به‌روز شوند. این همان کار است.
#
# </div>

# %%
import tinygrad_rnn.functional as F

starts = np.array([s for s in range(16) if s != 2], dtype=float)   # [2, 5, 8] held out
windows = np.stack([starts + 3 * k for k in range(4)]) / 10        # (4, N)
x_train = Tensor(windows[:3, :, None])                             # (T=3, N, 1)
y_train = Tensor(windows[1:, :, None])                             # the next element, each step
opt = tr.optim.Adam(list(lstm.parameters()) + list(head.parameters()), lr=0.05)
for step in range(300):
    loss = F.mse_loss(head(lstm(x_train)[0]), y_train)
    opt.zero_grad()
    loss.backward()
    opt.step()
print(f"training loss after 300 steps: {loss.item():.2e}")


def predict_next(seq):
    with tr.no_grad():
        out, _ = lstm(Tensor(np.array(seq, dtype=float).reshape(-1, 1, 1) / 10))
        return head(out).data[-1, 0, 0] * 10           # the prediction after the last element


for seq in ([1, 4, 7], [2, 5, 8]):
    print(f"🎯 پیشبینی عنصر بعدی (next element) after {seq}: {predict_next(seq):.3f}"
          f"   مقدار واقعی (true): {seq[-1] + 3}")

# %% [markdown]
# ## The results, checked

# %%
import json

got = [y.item() for y in outputs]                        # cell 1's outputs
assert np.allclose(got, printed, atol=1e-8)
assert "1.500 x expected" in report["W_y"].diagnoses[0]
assert scale_fixed["W_y"].ok and scale_fixed["b_y"].ok and not scale_fixed["W_x"].ok
assert any("grows with the activation's magnitude" in d for d in steps["dh_raw"].diagnoses)
assert fixed_report.ok
for t in range(3):                         # the engine's LSTM is the notebook's, gate by gate
    f_t, i_t, o_t, C_tilde, C_t, h_t = seed_gates[t]
    for name, value in zip("fiogch", (f_t, i_t, o_t, C_tilde, C_t, h_t)):
        assert np.allclose(g[name][t], value, rtol=1e-12, atol=1e-14), (t, name)
assert np.allclose(predictions, seed_predictions, rtol=1e-12)
assert abs(predict_next([1, 4, 7]) - 10) < 0.5 and abs(predict_next([2, 5, 8]) - 11) < 0.5
print("notebook results: " + json.dumps({
    "outputs": got, "W_y_ratio": float(np.mean(hand["W_y"] / autograd["W_y"])),
    "kinds": {d.name: d.kind for d in report.diagnoses},
    "dh_raw_kinds": [d.kind for d in steps["dh_raw"].diagnoses],
    "corrected_ok": fixed_report.ok, "autograd_loss_end": ours[-1],
    "notebook_loss_end": theirs[-1],
    "seed_weights": {"Wf": Wf.tolist(), "Wy": Wy.tolist()},
    "untrained_predictions": [float(p) for p in predictions],
    "next_after_1_4_7": predict_next([1, 4, 7]), "next_after_2_5_8": predict_next([2, 5, 8])}))
