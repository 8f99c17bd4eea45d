"""The words of the guided tour, in English and in Persian (``--lang fa``).

One entry per message: ``{"en": ..., "fa": ...}``, formatted with the numbers
the tour computes. The Persian follows the notebook's own phrasing where it has
one (its gate labels, "پیش‌بینی عنصر بعدی", "مقدار واقعی", "بالا = حفظ حافظه").
Code, formulas and tables stay as they are in both languages.
"""

from __future__ import annotations

from typing import Any

LANGUAGES = ("en", "fa")

RULE = "=" * 72

TEXT = {
    "title": {
        "en": f"{RULE}\ntinygrad_rnn: a guided tour of the notebook it grew from\n{RULE}",
        "fa": f"{RULE}\ntinygrad_rnn: گشتی در نوت‌بوکی که این پروژه از آن آغاز شد\n{RULE}",
    },
    "intro": {
        "en": "The notebook runs an RNN forward pass, trains that RNN with hand-written BPTT,\n"
              "and follows an untrained LSTM gate by gate. Here are the same three parts again,\n"
              "on the autograd engine. Every number below is computed now.",
        "fa": "نوت‌بوک یک RNN را اجرا می‌کند، آن را با BPTT دست‌نویس آموزش می‌دهد و یک LSTM\n"
              "آموزش‌ندیده را گیت به گیت دنبال می‌کند. اینجا همان سه بخش دوباره اجرا می‌شود،\n"
              "این بار با موتور autograd. همهٔ اعدادِ زیر همین حالا محاسبه می‌شوند.",
    },
    # ------------------------------------------------------------------ part 1
    "part1_title": {
        "en": "\nPart 1. The notebook's RNN forward pass, with the weights it printed\n",
        "fa": "\nبخش 1. اجرای رو به جلوی RNN نوت‌بوک، با همان وزن‌هایی که چاپ کرده بود\n",
    },
    "part1_what": {
        "en": "  h_t = tanh(W_x x_t + W_h h_(t-1) + b_h),   y_t = W_y h_t + b_y\n"
              "  input size 1, hidden size 4, inputs 0.1, 0.2, 0.3, biases zero, W_x, W_h, W_y\n"
              "  as the notebook printed them; every op recorded in a graph.",
        "fa": "  h_t = tanh(W_x x_t + W_h h_(t-1) + b_h),   y_t = W_y h_t + b_y\n"
              "  اندازهٔ ورودی 1، اندازهٔ حالت پنهان 4، ورودی‌ها 0.1 و 0.2 و 0.3، بایاس‌ها صفر، و\n"
              "  W_x و W_h و W_y همان‌طور که نوت‌بوک چاپ کرده بود؛ هر عملیات در یک گراف ثبت می‌شود.",
    },
    "part1_row": {
        "en": "  time {t}: output {ours:.8f}   the notebook printed {printed:.8f}   difference {diff:.1e}",
        "fa": "  زمان {t}: خروجی {ours:.8f}   نوت‌بوک چاپ کرده بود {printed:.8f}   اختلاف {diff:.1e}",
    },
    "part1_done": {
        "en": "  The same outputs. This time they hang on a graph, so the gradient of anything\n"
              "  computed from them is one backward() away.",
        "fa": "  همان خروجی‌ها. این بار پشتشان یک گراف است، پس گرادیان هر چیزی که از آن‌ها\n"
              "  حساب شود تنها با یک backward() به دست می‌آید.",
    },
    # ------------------------------------------------------------------ part 2
    "part2_title": {
        "en": "\nPart 2. Training it: backpropagation through time, done by autograd\n",
        "fa": "\nبخش 2. آموزش همین شبکه: پس‌انتشار در طول زمان (BPTT)، این بار با autograd\n",
    },
    "part2_setup": {
        "en": "  Targets 0.2, 0.3, 0.4 and the loss the notebook prints (the MSE over the 3 steps);\n"
              "  plain SGD with the notebook's learning rate {lr} for {epochs} epochs, from the\n"
              "  printed weights. 'autograd' steps along loss.backward()'s gradient; 'notebook'\n"
              "  runs the notebook's own hand-written BPTT, exactly as written.",
        "fa": "  هدف‌ها 0.2 و 0.3 و 0.4، و همان خطایی که نوت‌بوک چاپ می‌کند (MSE روی 3 گام)؛\n"
              "  SGD ساده با نرخ یادگیری نوت‌بوک، {lr}، به مدت {epochs} دوره و از همان وزن‌های\n"
              "  چاپ‌شده. ستون autograd با گرادیانِ loss.backward() جلو می‌رود؛ ستون notebook\n"
              "  همان BPTT دست‌نویس نوت‌بوک را، دقیقاً همان‌طور که نوشته شده، اجرا می‌کند.",
    },
    "part2_table_header": {
        "en": "\n     epoch   loss (autograd)   loss (notebook's BPTT)",
        "fa": "\n     Epoch   Loss (autograd)   Loss (BPTT نوت‌بوک)",
    },
    "part2_table_row": {
        "en": "     {epoch:>5}   {ours:>15.6e}   {hand:>15.6e}",
        "fa": "     {epoch:>5}   {ours:>15.6e}   {hand:>15.6e}",
    },
    "part2_fell": {
        "en": "\n  With autograd's gradient the loss falls from {first:.4f} to {last:.2e}. The\n"
              "  notebook's BPTT lowers it too (to {hand_last:.2e}): a wrong gradient can still\n"
              "  point downhill. How wrong is it? Both gradients, at the printed weights:",
        "fa": "\n  با گرادیان autograd خطا از {first:.4f} به {last:.2e} می‌رسد. BPTT نوت‌بوک هم\n"
              "  خطا را پایین می‌آورد (تا {hand_last:.2e}): گرادیانِ غلط هم می‌تواند رو به پایین\n"
              "  باشد. اما چقدر غلط است؟ هر دو گرادیان را در همان وزن‌های چاپ‌شده مقایسه کنیم:",
    },
    "part2a": {
        "en": "\n  2a. tr.compare_grads(autograd, the notebook's BPTT as written):\n",
        "fa": "\n  2a. مقایسه با tr.compare_grads(autograd, BPTT نوت‌بوک همان‌طور که نوشته شده):\n",
    },
    "part2_scale": {
        "en": "\n  Bug 1, the scale. W_y and b_y never pass through the tanh, and the notebook's\n"
              "  gradients of them are exactly {k:.3f} x autograd's (autograd's = {inv:.3f} x\n"
              "  theirs). Its dy = y_t - target_t is the derivative of 0.5 * sum_t (y_t - target_t)^2,\n"
              "  but the loss it prints is the mean over T = 3 steps, whose derivative is\n"
              "  2 (y_t - target_t) / 3. The ratio is 3/2: the gradient of 0.5*sum, not of the mean.",
        "fa": "\n  اشکال اول: مقیاس. W_y و b_y هیچ‌وقت از tanh عبور نمی‌کنند و گرادیانی که نوت‌بوک\n"
              "  برایشان حساب می‌کند دقیقاً {k:.3f} برابرِ گرادیان autograd است (گرادیان autograd\n"
              "  {inv:.3f} برابرِ آن است). در نوت‌بوک dy = y_t - target_t مشتقِ\n"
              "  0.5 * sum_t (y_t - target_t)^2 است، اما خطایی که چاپ می‌شود میانگین روی T = 3 گام\n"
              "  است و مشتقش 2 (y_t - target_t) / 3 است. نسبت این دو 3/2 است: گرادیانِ 0.5*sum،\n"
              "  نه گرادیانِ میانگین.",
    },
    "part2b": {
        "en": "\n  2b. Fix only the scale (dy = 2 (y_t - target_t) / T): {agree} now agree, but\n"
              "  {disagree} still do not. Compare the gradient of each step's pre-activation a_t\n"
              "  (the notebook's dh_raw) with the hidden state h_t it belongs to:\n",
        "fa": "\n  2b. فقط مقیاس را درست کنیم (dy = 2 (y_t - target_t) / T): حالا {agree} درست‌اند،\n"
              "  اما {disagree} هنوز نه. گرادیانِ ورودیِ tanh در هر گام، a_t (همان dh_raw نوت‌بوک)،\n"
              "  را کنار حالت پنهانِ همان گام، h_t، مقایسه کنیم:\n",
    },
    "part2_dtanh": {
        "en": "\n  Bug 2, dtanh. The notebook computes dh_raw = dh * dtanh(h_t) with\n"
              "  dtanh(x) = 1 - tanh(x)^2. But h_t is already tanh(a_t), so this is\n"
              "  1 - tanh(tanh(a_t))^2: the derivative taken at the wrong place. The factor must be\n"
              "  1 - h_t**2. The error vanishes where h_t = 0 and grows with |h_t|, which is the\n"
              "  pattern the diagnosis found.",
        "fa": "\n  اشکال دوم: dtanh. نوت‌بوک dh_raw = dh * dtanh(h_t) را با dtanh(x) = 1 - tanh(x)^2\n"
              "  حساب می‌کند. اما h_t خودش tanh(a_t) است، پس حاصل می‌شود 1 - tanh(tanh(a_t))^2:\n"
              "  مشتق در نقطهٔ اشتباه گرفته شده است. ضریب درست 1 - h_t**2 است. این خطا جایی که\n"
              "  h_t = 0 باشد صفر است و با بزرگ‌تر شدنِ |h_t| بیشتر می‌شود؛ همان الگویی که تشخیص بالا پیدا کرد.",
    },
    "part2d": {
        "en": "\n  2d. Step by step. tr.trace.step_grads(rnn, x, loss_fn) gives autograd's gradients\n"
              "  at every time step in the layout of a hand BPTT: dL/dh_t (through y_t and through\n"
              "  every later step) and dL/da_t. Beside them, the notebook's dh and dh_raw (the\n"
              "  scale fixed, dtanh as written), from the last step back, with the worst relative\n"
              "  error of each:\n\n"
              "     t  dL/dh_t (autograd)                     the notebook'"
              "s dh                       dh error     dh_raw",
        "fa": "\n  2d. گام به گام. tr.trace.step_grads(rnn, x, loss_fn) گرادیان‌های autograd را در هر\n"
              "  گام زمانی، به همان شکلِ BPTT دستی، می‌دهد: dL/dh_t (از راهِ y_t و از راهِ همهٔ گام‌های\n"
              "  بعدی) و dL/da_t. کنارشان dh و dh_raw نوت‌بوک (مقیاس درست‌شده، dtanh همان‌طور که\n"
              "  نوشته شده)، از گام آخر به عقب:\n\n"
              "     t  dL/dh_t (autograd)                     dh نوت‌بوک   "
              "                            خطای dh     dh_raw",
    },
    "part2d_row": {
        "en": "     {t}  {dh}  {hand}  {dh_error:9.1e}  {raw_error:9.1e}",
        "fa": "     {t}  {dh}  {hand}  {dh_error:9.1e}  {raw_error:9.1e}",
    },
    "part2d_carry": {
        "en": "\n  At the last step (t = {last}) dh is right: nothing comes back from later steps,\n"
              "  and dL/dh_t is W_y^T dy_t alone. dh_raw is already wrong there: the dtanh bug\n"
              "  enters at every step. Before t = {last}, dh is wrong too, because the notebook's\n"
              "  dh_next = W_h^T dh_raw carries the wrong dh_raw back: one local mistake spreads to\n"
              "  every earlier step through the recurrent carry. Per-step gradients show where an\n"
              "  error enters; the summed weight gradients only show that one did.",
        "fa": "\n  در گام آخر (t = {last}) مقدار dh درست است: چیزی از گام‌های بعدی برنمی‌گردد و\n"
              "  dL/dh_t فقط W_y^T dy_t است. اما dh_raw همان‌جا هم غلط است: اشکالِ dtanh در هر گام\n"
              "  وارد می‌شود. پیش از t = {last}، dh هم غلط می‌شود، چون dh_next = W_h^T dh_raw در\n"
              "  نوت‌بوک همان dh_raw غلط را به عقب می‌برد: یک اشتباهِ محلی از راهِ انتقالِ بازگشتی به\n"
              "  همهٔ گام‌های قبلی می‌رسد. گرادیان‌های هر گام نشان می‌دهند خطا کجا وارد شده؛ جمعِ\n"
              "  گرادیانِ وزن‌ها فقط نشان می‌دهد که خطایی هست.",
    },
    "part2c": {
        "en": "\n  2c. Both fixed (reference/notebook.py, faithful=False): the hand BPTT agrees with\n"
              "  autograd; worst relative error {rel:.1e}; all agree: {ok}.\n",
        "fa": "\n  2c. هر دو اشکال برطرف شد (reference/notebook.py با faithful=False): حالا BPTT\n"
              "  دست‌نویس با autograd یکی است؛ بیشترین خطای نسبی {rel:.1e}؛ همه یکسان: {ok}.\n",
    },
    # ------------------------------------------------------------------ part 3
    "part3_title": {
        "en": "\nPart 3. The notebook's LSTM on arithmetic sequences, now trained\n",
        "fa": "\nبخش 3. LSTM نوت‌بوک روی دنباله‌های حسابی، این بار آموزش‌دیده\n",
    },
    "part3_setup": {
        "en": "  The notebook ran its LSTM with random weights and noted that real learning needs\n"
              "  backpropagation. Here it is: nn.LSTM(1, {H}) and a linear read-out y_t = W_y h_t + b_y,\n"
              "  trained to predict the next element at every step, on windows of 3 from sequences\n"
              "  with step 3 (the notebook's) starting at {starts} (2 held out).\n"
              "  Values divided by {scale:g}; Adam, learning rate {lr}, {iters} steps.",
        "fa": "  نوت‌بوک LSTM خود را با وزن‌های تصادفی اجرا کرد و نوشت که برای یادگیری واقعی باید\n"
              "  وزن‌ها با backpropagation به‌روز شوند. این همان کار است: nn.LSTM(1, {H}) و یک لایهٔ\n"
              "  خروجیِ خطی y_t = W_y h_t + b_y که یاد می‌گیرد در هر گام عنصر بعدی را پیش‌بینی کند،\n"
              "  روی پنجره‌های سه‌تایی از دنباله‌های حسابی با گام 3 (مثل نوت‌بوک) که از\n"
              "  {starts} شروع می‌شوند (2 کنار گذاشته شده).\n"
              "  مقادیر بر {scale:g} تقسیم می‌شوند؛ Adam با نرخ یادگیری {lr}، {iters} گام.",
    },
    "part3_untrained": {
        "en": "  Untrained, as in the notebook, it predicts {pred:.3f} after [1, 4, 7].",
        "fa": "  بدون آموزش، مثل نوت‌بوک، بعد از [1, 4, 7] پیش‌بینی‌اش {pred:.3f} است.",
    },
    "part3_loss": {
        "en": "  Training loss (MSE of the scaled values): {first:.4f} -> {last:.2e}.",
        "fa": "  خطای آموزش (MSE مقادیر مقیاس‌شده): {first:.4f} -> {last:.2e}.",
    },
    "part3_trace": {
        "en": "\n  Gate by gate on [1, 4, 7], like the notebook's verbose mode\n"
              "  (gates recorded by tr.trace.gate_trace):",
        "fa": "\n  گیت به گیت روی [1, 4, 7]، مثل حالت verbose نوت‌بوک\n"
              "  (گیت‌ها را tr.trace.gate_trace ثبت کرده است):",
    },
    "step": {
        "en": "\n  step {k}: input = {x:.3f}",
        "fa": "\n  گام {k}: ورودی = {x:.3f}",
    },
    "forget": {"en": "    forget gate:  {v}", "fa": "    Forget Gate:  {v}"},
    "input": {"en": "    input gate:   {v}", "fa": "    Input Gate:   {v}"},
    "output": {"en": "    output gate:  {v}", "fa": "    Output Gate:  {v}"},
    "cell": {"en": "    cell state:   {v}", "fa": "    Cell State:   {v}"},
    "hidden": {"en": "    hidden state: {v}", "fa": "    Hidden State: {v}"},
    "prediction": {
        "en": "    prediction:   {v:.3f}   (next element: {true})",
        "fa": "    پیش‌بینی:     {v:.3f}   (عنصر بعدی: {true})",
    },
    "gate_means_title": {
        "en": "\n  Gate means per step:",
        "fa": "\n  تحلیل عملکرد گیت‌ها (میانگین در هر گام):",
    },
    "gate_means": {
        "en": "    step {k}: forget {f:.3f} (high = keep memory), input {i:.3f} (high = take input),"
              " output {o:.3f} (high = output active)",
        "fa": "    گام {k}: Forget Gate {f:.3f} (بالا = حفظ حافظه)، Input Gate {i:.3f} (بالا = پذیرش ورودی)،"
              " Output Gate {o:.3f} (بالا = خروجی فعال)",
    },
    "result_next": {
        "en": "\n  Next element after {seq}: {pred:.3f}   (true: {true}, error {err:.3f})",
        "fa": "\n  پیش‌بینی عنصر بعدی پس از {seq}: {pred:.3f}   (مقدار واقعی: {true}، خطا: {err:.3f})",
    },
    "result_unseen": {
        "en": "  Unseen starting point {seq}: {pred:.3f}   (true: {true}, error {err:.3f})",
        "fa": "  نقطهٔ شروعِ دیده‌نشده {seq}: {pred:.3f}   (مقدار واقعی: {true}، خطا: {err:.3f})",
    },
    # ------------------------------------------------------------------ end
    "end": {
        "en": f"\n{RULE}\nDone in {{seconds:.1f}} s. Next: docs/notebook.md explains this tour,\n"
              "docs/hand_vs_autograd.md shows every diagnosis, and\n"
              f"`python -m tinygrad_rnn gradcheck` checks every op and layer.\n{RULE}",
        "fa": f"\n{RULE}\nتمام! ({{seconds:.1f}} ثانیه). ادامه: docs/notebook.md همین گشت را توضیح می‌دهد،\n"
              "docs/hand_vs_autograd.md همهٔ تشخیص‌ها را نشان می‌دهد، و\n"
              f"`python -m tinygrad_rnn gradcheck` همهٔ عملیات‌ها و لایه‌ها را بررسی می‌کند.\n{RULE}",
    },
}


def text(key: str, lang: str = "en", **values: Any) -> str:
    """The message ``key`` in ``lang`` ("en" or "fa"), formatted with ``values``."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; choose one of {', '.join(LANGUAGES)}")
    return TEXT[key][lang].format(**values)
