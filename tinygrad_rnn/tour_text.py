"""The words of the guided tour and of the reports, in English and in Persian (``--lang fa``).

One entry per message: ``{"en": ..., "fa": ...}``, formatted with the numbers
the tour computes. The Persian follows the notebook's own phrasing where it has
one (its gate labels, "پیش‌بینی عنصر بعدی", "مقدار واقعی", "بالا = حفظ حافظه").
Code and formulas stay as they are in both languages. The reports' entries
(table headers, verdicts, the diagnoses' templates, gate labels) give
``compare_grads``, ``gradcheck``, ``gradcheck_layer`` and the traces their
``text(lang)`` and ``html(lang)``; their English is exactly what ``str()`` prints.
The Persian was not reviewed by a native speaker.
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
    # ------------------------------------------------------------------ the reports
    # (compare_grads, gradcheck, gradcheck_layer, gate traces, step_grads: their
    # text(lang) and html(lang); the English is what str() has always printed)
    "col_name": {"en": "name", "fa": "نام"},
    "col_input": {"en": "input", "fa": "ورودی"},
    "col_tensor": {"en": "tensor", "fa": "تانسور"},
    "col_part": {"en": "part", "fa": "بخش"},
    "col_shape": {"en": "shape", "fa": "شکل"},
    "col_max_abs": {"en": "max abs err", "fa": "بیشینهٔ خطای مطلق"},
    "col_max_rel": {"en": "max rel err", "fa": "بیشینهٔ خطای نسبی"},
    "col_cosine": {"en": "cosine", "fa": "کسینوس"},
    "col_verdict": {"en": "verdict", "fa": "نتیجه"},
    "col_worst_at": {"en": "worst at", "fa": "بدترین در"},
    "col_analytic": {"en": "analytic", "fa": "تحلیلی"},
    "col_numeric": {"en": "numeric", "fa": "عددی"},
    "col_ok": {"en": "ok", "fa": "درست؟"},
    "col_kind": {"en": "kind", "fa": "نوع"},
    "col_diagnosis": {"en": "diagnosis", "fa": "تشخیص"},
    "col_step": {"en": "t", "fa": "t"},
    "col_gate": {"en": "gate", "fa": "گیت"},
    "col_mean": {"en": "mean", "fa": "میانگین"},
    "col_min": {"en": "min", "fa": "کمینه"},
    "col_max": {"en": "max", "fa": "بیشینه"},
    "col_norm": {"en": "norm", "fa": "نُرم"},
    "verdict_ok": {"en": "ok", "fa": "درست"},
    "verdict_mismatch": {"en": "MISMATCH", "fa": "ناهمخوان"},
    "yes": {"en": "yes", "fa": "بله"},
    "no": {"en": "NO", "fa": "خیر"},
    "summary_agree": {
        "en": "all {n} gradients agree, worst relative error {worst:.0e}",
        "fa": "هر {n} گرادیان همخوان‌اند، بدترین خطای نسبی {worst:.0e}",
    },
    "summary_agree_one": {
        "en": "all {n} gradient agree, worst relative error {worst:.0e}",
        "fa": "این {n} گرادیان همخوان است، بدترین خطای نسبی {worst:.0e}",
    },
    "summary_disagree": {
        "en": "{bad} of {n} disagree: {named}",
        "fa": "{bad} از {n} ناهمخوان‌اند: {named}",
    },
    "per_step_title": {
        "en": "worst relative error per time step:",
        "fa": "بدترین خطای نسبی در هر گام زمانی:",
    },
    "diagnoses_title": {"en": "diagnoses:", "fa": "تشخیص‌ها:"},
    "note": {"en": "note: {note}", "fa": "یادداشت: {note}"},
    "culprit": {"en": "culprit: {culprit}", "fa": "مقصر: {culprit}"},
    "all_agree_fd": {
        "en": "all gradients agree with finite differences",
        "fa": "همهٔ گرادیان‌ها با تفاضل‌های متناهی همخوان‌اند",
    },
    "gates_title": {
        "en": "gate trace: layer {layer}, direction {direction}, T={T}, N={N}, H={H}",
        "fa": "ردّ گیت‌ها: لایهٔ {layer}، جهت {direction}، T={T}، N={N}، H={H}",
    },
    "gates_means": {
        "en": "mean over batch and units at each step",
        "fa": "میانگین روی دسته و واحدها در هر گام",
    },
    "step_grads_title": {
        "en": "per-step gradients: layer {layer}, direction {direction}, T={T}",
        "fa": "گرادیان‌های هر گام: لایهٔ {layer}، جهت {direction}، T={T}",
    },
    "step_grads_norms": {
        "en": "the norm of each gradient at each step",
        "fa": "نُرم هر گرادیان در هر گام",
    },
    "hand_backward_ok": {
        "en": "{name}: all {n} configurations agree with autograd, worst relative error "
              "{worst:.1e} ({worst_name})",
        "fa": "{name}: هر {n} پیکربندی با autograd همخوان‌اند، بدترین خطای نسبی {worst:.1e} "
              "({worst_name})",
    },
    "hand_backward_tried": {"en": "tried: {coverage}", "fa": "آزموده شد: {coverage}"},
    "hand_backward_worst": {
        "en": "the worst configuration, [{config}]:",
        "fa": "بدترین پیکربندی، [{config}]:",
    },
    # gate and state labels (the notebook writes the gates' English names in its Persian)
    "gate_i": {"en": "input gate (i)", "fa": "گیت ورودی، Input Gate (i)"},
    "gate_f": {"en": "forget gate (f)", "fa": "گیت فراموشی، Forget Gate (f)"},
    "gate_g": {"en": "candidate (g)", "fa": "مقدار نامزد (g)"},
    "gate_o": {"en": "output gate (o)", "fa": "گیت خروجی، Output Gate (o)"},
    "gate_r": {"en": "reset gate (r)", "fa": "گیت بازنشانی، Reset Gate (r)"},
    "gate_z": {"en": "update gate (z)", "fa": "گیت به‌روزرسانی، Update Gate (z)"},
    "gate_n": {"en": "new state (n)", "fa": "حالت نو (n)"},
    "gate_c": {"en": "cell state (c)", "fa": "حالت سلول (c)"},
    "gate_h": {"en": "hidden state (h)", "fa": "حالت پنهان (h)"},
    # ------------------------------------------------------------------ the diagnoses
    # (compare_grads: one template per message; Diagnosis.message is the English)
    "diag_missing": {
        "en": "missing: the hand gradients have no {name!r} (a gradient never computed, or "
              "stored under another name)",
        "fa": "گم‌شده: گرادیان‌های دستی {name!r} را ندارند (گرادیانی که هرگز حساب نشده، یا با "
              "نام دیگری ذخیره شده)",
    },
    "diag_missing_hand": {
        "en": "the hand-written backward gives no gradient for it",
        "fa": "backward دست‌نویس برای آن گرادیانی نمی‌دهد",
    },
    "diag_transpose_shape": {
        "en": "transposed: actual has shape {actual}, expected {expected}, and actual.T "
              "matches: check the order of a matmul's operands",
        "fa": "ترانهاده: actual شکل {actual} دارد و expected شکل {expected}، و actual.T "
              "مطابق است: ترتیب عملوندهای یک ضرب ماتریسی را بررسی کنید",
    },
    "diag_shape": {
        "en": "shapes differ: actual {actual}, expected {expected}",
        "fa": "شکل‌ها فرق دارند: actual {actual}، expected {expected}",
    },
    "diag_zero": {
        "en": "all zeros: this gradient was never accumulated (a missing += or a term that "
              "never reaches this parameter)",
        "fa": "همه صفر: این گرادیان هرگز انباشته نشده (یک += جاافتاده، یا جمله‌ای که هرگز به "
              "این پارامتر نمی‌رسد)",
    },
    "diag_sign": {
        "en": "sign flipped: actual = -expected (a subtraction reversed, or a step taken with "
              "+ instead of -)",
        "fa": "علامت وارونه: actual = -expected (تفریقی برعکس، یا گامی با + به جای -)",
    },
    "diag_transpose": {
        "en": "transposed: actual.T matches expected: check the order of a matmul's operands",
        "fa": "ترانهاده: actual.T با expected مطابق است: ترتیب عملوندهای یک ضرب ماتریسی را "
              "بررسی کنید",
    },
    "diag_gate_swap": {
        "en": "gates {a} and {b} swapped: their row blocks are exchanged (check the order the "
              "gates are stacked in: {order})",
        "fa": "گیت‌های {a} و {b} جابه‌جا شده‌اند: بلوک‌های سطری‌شان عوض شده (ترتیب چیدن "
              "گیت‌ها را بررسی کنید: {order})",
    },
    "diag_scale": {
        "en": "a constant scale factor: actual = {k:.3f} x expected (expected = {inv:.3f} x "
              "actual): look for a lost 1/N, 1/2 or 2, e.g. the gradient of 0.5*sum where the "
              "loss is a mean",
        "fa": "یک ضریب ثابت: actual = {k:.3f} x expected (expected = {inv:.3f} x actual): "
              "دنبال یک 1/N یا 1/2 یا 2 گم‌شده بگردید، مثلاً گرادیان 0.5*sum جایی که loss "
              "میانگین است",
    },
    "diag_scale_mostly": {
        "en": "mostly a constant scale factor: actual ~ {k:.3f} x expected, plus a smaller "
              "error of another kind ({residual:.1%} of the gradient)",
        "fa": "بیشتر یک ضریب ثابت: actual ~ {k:.3f} x expected، به‌علاوهٔ خطای کوچک‌تری از "
              "نوعی دیگر ({residual:.1%} از گرادیان)",
    },
    "diag_loss_reduction": {
        "en": "the loss's reduction: actual = {k:.4g} x expected, {matches}",
        "fa": "کاهش (reduction) تابع loss: actual = {k:.4g} x expected، {matches}",
    },
    "reduction_or": {"en": " or ", "fa": " یا "},
    "reduction_extra_n": {
        "en": "an extra 1/N (N = {N}, the batch): the hand gradient averages over the batch "
              "where the loss does not",
        "fa": "یک 1/N اضافه (N = {N}، دسته): گرادیان دستی روی دسته میانگین می‌گیرد و loss نه",
    },
    "reduction_missing_n": {
        "en": "a missing 1/N (N = {N}, the batch): the loss is a mean over the batch, the hand "
              "gradient a sum",
        "fa": "یک 1/N جاافتاده (N = {N}، دسته): loss میانگینِ روی دسته است و گرادیان دستی "
              "مجموع",
    },
    "reduction_extra_t": {
        "en": "an extra 1/T (T = {T}, the steps): the hand gradient averages over time where "
              "the loss does not",
        "fa": "یک 1/T اضافه (T = {T}، گام‌ها): گرادیان دستی روی زمان میانگین می‌گیرد و loss نه",
    },
    "reduction_missing_t": {
        "en": "a missing 1/T (T = {T}, the steps): the loss is a mean over time, the hand "
              "gradient a sum",
        "fa": "یک 1/T جاافتاده (T = {T}، گام‌ها): loss میانگینِ روی زمان است و گرادیان دستی "
              "مجموع",
    },
    "reduction_extra_nt": {
        "en": "an extra 1/(N T) (N = {N}, T = {T}): the hand gradient averages over batch and "
              "time where the loss does not",
        "fa": "یک 1/(N T) اضافه (N = {N}، T = {T}): گرادیان دستی روی دسته و زمان میانگین "
              "می‌گیرد و loss نه",
    },
    "reduction_missing_nt": {
        "en": "a missing 1/(N T) (N = {N}, T = {T}): the loss is a mean over batch and time, "
              "the hand gradient a sum",
        "fa": "یک 1/(N T) جاافتاده (N = {N}، T = {T}): loss میانگینِ روی دسته و زمان است و "
              "گرادیان دستی مجموع",
    },
    "reduction_axis_t": {
        "en": "averaged over the wrong axis: divided by T = {T} where the loss divides by "
              "N = {N}",
        "fa": "میانگین روی محور نادرست: تقسیم بر T = {T} جایی که loss بر N = {N} تقسیم می‌کند",
    },
    "reduction_axis_n": {
        "en": "averaged over the wrong axis: divided by N = {N} where the loss divides by "
              "T = {T}",
        "fa": "میانگین روی محور نادرست: تقسیم بر N = {N} جایی که loss بر T = {T} تقسیم می‌کند",
    },
    "diag_gate_swap_mostly": {
        "en": "mostly gates {a} and {b} swapped: exchanging their row blocks removes most of "
              "the error (the rest: the swap reached earlier steps through the recurrence)",
        "fa": "بیشتر جابه‌جایی گیت‌های {a} و {b}: عوض کردن بلوک‌های سطری‌شان بیشتر خطا را از "
              "میان می‌برد (باقی‌اش: این جابه‌جایی از راه بازگشت به گام‌های پیشین رسیده)",
    },
    "diag_candidate": {
        "en": "matches the gradient with {description}",
        "fa": "با گرادیانِ این اشتباه یکی است: {description}",
    },
    "diag_unknown": {
        "en": "no simple pattern found (cosine similarity {cos:.3f}); check the derivation "
              "term by term, or compare per time step with time_axis=",
        "fa": "الگوی ساده‌ای پیدا نشد (شباهت کسینوسی {cos:.3f})؛ مشتق‌گیری را جمله به جمله "
              "بررسی کنید، یا با time_axis= گام به گام مقایسه کنید",
    },
    "diag_time_shift": {
        "en": "shifted by one step: actual at step t matches expected at step {which} (a term "
              "taken at the neighbouring step)",
        "fa": "یک گام جابه‌جا: actual در گام t با expected در گام {which} مطابق است (جمله‌ای "
              "که در گام همسایه گرفته شده)",
    },
    "diag_first_step": {
        "en": "the error is confined to the first time step: check the loop boundary where the "
              "initial state enters (t = 0)",
        "fa": "خطا فقط در نخستین گام زمانی است: مرز حلقه را جایی که حالت آغازین وارد می‌شود "
              "بررسی کنید (t = 0)",
    },
    "diag_last_step": {
        "en": "the error is confined to the last time step: check the loop boundary where BPTT "
              "starts (t = T-1, dh_next = 0)",
        "fa": "خطا فقط در واپسین گام زمانی است: مرز حلقه را جایی که BPTT آغاز می‌شود بررسی "
              "کنید (t = T-1، dh_next = 0)",
    },
    "diag_missing_carry": {
        "en": "right at the last step, wrong before it (from step {t} back): the gradient "
              "carried back from step t+1 (dh_next, and dc_next for an LSTM) is dropped or "
              "wrong",
        "fa": "در واپسین گام درست، پیش از آن نادرست (از گام {t} به عقب): گرادیانی که از گام "
              "t+1 بازمی‌گردد (dh_next، و برای LSTM dc_next) جاافتاده یا نادرست است",
    },
    "diag_wrong_point": {
        "en": "the error grows with the activation's magnitude (rank correlation {corr:.2f}): a "
              "derivative evaluated at the wrong quantity, e.g. tanh'(h) = 1 - tanh(h)**2 where "
              "h is already tanh(a); write it with the output: 1 - h**2",
        "fa": "خطا با اندازهٔ فعال‌سازی بزرگ می‌شود (همبستگی رتبه‌ای {corr:.2f}): مشتقی که در "
              "کمیت نادرست حساب شده، مثلاً tanh'(h) = 1 - tanh(h)**2 جایی که h خودش tanh(a) "
              "است؛ آن را با خروجی بنویسید: 1 - h**2",
    },
    "diag_bias_mixed": {
        "en": "{x} has {y}'s gradient: the two biases' gradients are mixed up",
        "fa": "{x} گرادیانِ {y} را دارد: گرادیان‌های دو بایاس با هم قاطی شده‌اند",
    },
    "diag_bias_both": {
        "en": "{x} has the gradients of both biases ({x} + {y}); {y}'s went into it",
        "fa": "{x} گرادیان هر دو بایاس را دارد ({x} + {y})؛ گرادیانِ {y} در آن رفته",
    },
    "diag_bias_missing": {
        "en": "{x} is missing (all zeros) while {y} is right: both biases get a gradient (for "
              "a plain sum, the same one)",
        "fa": "{x} گم‌شده (همه صفر) در حالی که {y} درست است: هر دو بایاس گرادیان می‌گیرند "
              "(برای یک جمع ساده، همان یکی)",
    },
    "diag_bias_too": {
        "en": "{x} was given {y}'s gradient too: the two biases differ here",
        "fa": "به {x} هم گرادیانِ {y} داده شده: این دو بایاس اینجا فرق دارند",
    },
    "diag_no_lost_constant": {
        "en": "actual = {k:.3f} x expected here, but a lost constant would scale every gradient "
              "alike, and they are off by different factors (or this is one number): another "
              "mistake; compare per time step (time_axis=) or pass model= and inputs= to have "
              "candidate mistakes tried",
        "fa": "اینجا actual = {k:.3f} x expected، ولی یک ثابتِ گم‌شده همهٔ گرادیان‌ها را یکسان "
              "مقیاس می‌کرد و این‌ها با ضریب‌های گوناگون فرق دارند (یا این تنها یک عدد است): "
              "اشتباهی دیگر؛ گام به گام مقایسه کنید (time_axis=) یا model= و inputs= را بدهید "
              "تا اشتباه‌های نامزد آزموده شوند",
    },
    "diag_nearest_candidate": {
        "en": "closest to the gradient with {description} (which explains {share:.0%} of the "
              "error)",
        "fa": "نزدیک‌ترین به گرادیانِ این اشتباه: {description} (که {share:.0%} از خطا را "
              "توضیح می‌دهد)",
    },
}

# ---------------------------------------------------------------------- layercheck's sentences
TEXT.update({
    "lc_title": {
        "en": "gradcheck of {layer}: x {shape}{steps}; autograd vs central differences of "
              "sum(v * outputs), v random",
        "fa": "gradcheck برای {layer}: x {shape}{steps}؛ autograd در برابر تفاضل‌های مرکزیِ "
              "sum(v * outputs)، با v تصادفی",
    },
    "lc_title_steps": {"en": ", {steps} time steps", "fa": "، {steps} گام زمانی"},
    "lc_grid_agree": {
        "en": "per time step: all {slices} weight slices agree at each of the {steps} steps",
        "fa": "گام به گام: هر {slices} برش وزن در هر یک از {steps} گام همخوان‌اند",
    },
    "lc_grid_title": {
        "en": "per time step (each step's own use of the weights: max abs error, "
              "'{ok}' where it agrees):",
        "fa": "گام به گام (کاربرد خودِ هر گام از وزن‌ها: بیشینهٔ خطای مطلق، و «{ok}» جایی "
              "که همخوان است):",
    },
    "lc_note_not_untied": {
        "en": "per-step view skipped: only built-in layers and cells can be untied",
        "fa": "نمای گام به گام کنار گذاشته شد: تنها لایه‌ها و سلول‌های درونی را می‌توان "
              "گام به گام جدا کرد",
    },
    "lc_note_unroll_differs": {
        "en": "per-step view skipped: the layer's forward does not match its step-by-step "
              "unroll (does it use its weights outside _step?)",
        "fa": "نمای گام به گام کنار گذاشته شد: forward لایه با باز کردن گام به گامش یکی "
              "نیست (آیا وزن‌هایش را بیرون از _step به کار می‌برد؟)",
    },
    "lc_note_frozen": {
        "en": "not checked, since they do not require grad: {names}",
        "fa": "بررسی نشد، چون به گرادیان نیاز ندارند (requires_grad=False): {names}",
    },
    "lc_unreached": {
        "en": "the output does not depend on {names}: no gradient reaches it, so nothing was "
              "checked there (a parameter the forward never uses, or a path cut by .data or "
              "detach())",
        "fa": "خروجی به {names} وابسته نیست: هیچ گرادیانی به آن نمی‌رسد، پس آنجا چیزی بررسی "
              "نشد (پارامتری که forward هرگز به کار نمی‌برد، یا مسیری که با .data یا "
              "detach() بریده شده)",
    },
    "lc_where_first": {
        "en": "the first step BPTT reaches",
        "fa": "نخستین گامی که BPTT به آن می‌رسد",
    },
    "lc_where_backward": {
        "en": "the first step at which they disagree, in backward order",
        "fa": "نخستین گامی که، به ترتیب backward، در آن ناهمخوان‌اند",
    },
    "lc_gate_one": {"en": "gate {gates}", "fa": "گیت {gates}"},
    "lc_gate_many": {"en": "gates {gates}", "fa": "گیت‌های {gates}"},
    "lc_disagrees_one": {"en": "disagrees", "fa": "ناهمخوان است"},
    "lc_disagrees_many": {"en": "disagree", "fa": "ناهمخوان‌اند"},
    "lc_agrees_one": {"en": "agrees", "fa": "همخوان است"},
    "lc_agrees_many": {"en": "agree", "fa": "همخوان‌اند"},
    "lc_culprit_some_gates": {
        "en": "{label}. At t={step}, {where}, only {label} {verb} ({tensors}) while {fine} "
              "{agree}; earlier steps inherit the error through the recurrence. Look for a "
              "wrong backward, or a missing path (.data, detach), in what computes {label} or "
              "carries it to the loss.",
        "fa": "{label}. در t={step}، {where}، تنها {label} {verb} ({tensors}) در حالی که "
              "{fine} {agree}؛ گام‌های پیشین خطا را از راه بازگشت به ارث می‌برند. دنبال یک "
              "backward نادرست، یا مسیری گم‌شده (.data، detach)، در آنچه {label} را حساب "
              "می‌کند یا به loss می‌رساند بگردید.",
    },
    "lc_culprit_all_gates": {
        "en": "every gate ({gates}) disagrees already at t={step}, {where}: the error is in "
              "something all gates share (the pre-activation matmul or sum, or the state "
              "update), in {tensors}.",
        "fa": "همهٔ گیت‌ها ({gates}) از همان t={step}، {where}، ناهمخوان‌اند: خطا در چیزی "
              "است که همهٔ گیت‌ها در آن شریک‌اند (ضرب ماتریسی یا جمعِ پیش از فعال‌سازی، یا "
              "به‌روزرسانی حالت)، در {tensors}.",
    },
    "lc_culprit_tensors": {
        "en": "{tensors} at t={step}, {where}; earlier steps inherit the error through the "
              "recurrence.",
        "fa": "{tensors} در t={step}، {where}؛ گام‌های پیشین خطا را از راه بازگشت به ارث "
              "می‌برند.",
    },
    "lc_culprit_rows": {
        "en": "{names} disagree; the worst is {tensor} {part} (max rel error {error:.2e})"
              "{gates}.",
        "fa": "{names} ناهمخوان‌اند؛ بدترین {tensor} {part} است (بیشینهٔ خطای نسبی "
              "{error:.2e}){gates}.",
    },
    "lc_culprit_rows_gates": {
        "en": "; gates that disagree: {gates}",
        "fa": "؛ گیت‌های ناهمخوان: {gates}",
    },
    # gradcheck's notes
    "gc_unreached_param": {
        "en": "the output does not depend on params[{param!r}]: it is not in the graph; "
              "leave it out of params if that is intended",
        "fa": "خروجی به params[{param!r}] وابسته نیست: در گراف نیست؛ اگر عمدی است، آن را از "
              "params بیرون بگذارید",
    },
    "gc_unreached_input": {
        "en": "the output does not depend on input {which}{named}: it is not in the graph; "
              "pass it with requires_grad=False if that is intended",
        "fa": "خروجی به ورودی {which}{named} وابسته نیست: در گراف نیست؛ اگر عمدی است، آن را "
              "با requires_grad=False بدهید",
    },
    # the hand-written backward's headline and coverage
    "hand_backward_disagrees": {
        "en": "the hand-written backward disagrees with autograd for [{config}]: {summary}",
        "fa": "backward دست‌نویس با autograd همخوان نیست برای [{config}]: {summary}",
    },
    "hand_backward_kinds": {"en": "kinds {kinds}", "fa": "گونه‌ها {kinds}"},
})

# ---------------------------------------------------------------------- the commands and the rest
# (python -m tinygrad_rnn gradcheck / zoo / explain, backward_steps' frames, the candidate
# mistakes of reference/mistakes.py, the bugs of reference/bugs.py, HandBackwardError)
TEXT.update({
    "sc_intro": {
        "en": "Every built-in op and layer against central finite differences (float64, one\n"
              "fixed example each; the test suite draws many with Hypothesis):\n",
        "fa": "همهٔ عملیات‌ها و لایه‌های درونی در برابر تفاضل‌های متناهیِ مرکزی (float64، برای هر\n"
              "کدام یک نمونهٔ ثابت؛ آزمون‌ها با Hypothesis نمونه‌های بسیاری می‌کشند):\n",
    },
    "sc_op": {"en": "op", "fa": "عملیات"},
    "sc_layer": {"en": "layer", "fa": "لایه"},
    "sc_time": {"en": "time", "fa": "زمان"},
    "sc_agree": {
        "en": "{agreed} of {n} agree with central finite differences",
        "fa": "{agreed} از {n} با تفاضل‌های متناهیِ مرکزی همخوان‌اند",
    },
    "sc_disagree": {"en": "; disagree: {names}", "fa": "؛ ناهمخوان: {names}"},
    "sc_rnn_two_layers": {
        "en": "nn.RNN 2 layers, bidirectional",
        "fa": "nn.RNN با 2 لایه، دوسویه",
    },
    "sc_gru_no_bias": {"en": "nn.GRU bidirectional, no bias", "fa": "nn.GRU دوسویه، بی‌بایاس"},
    "seconds": {"en": "({seconds:.1f} s)", "fa": "({seconds:.1f} ثانیه)"},
    "zoo_total": {
        "en": "({found} of {n} diagnosed as declared)",
        "fa": "({found} از {n} همان‌طور که اعلام شده تشخیص داده شدند)",
    },
    "explain_neuron": {
        "en": "A neuron, as in micrograd's lecture: o = tanh(x1*w1 + x2*w2 + b), with {values}.",
        "fa": "یک نورون، مثل درس micrograd: o = tanh(x1*w1 + x2*w2 + b)، با {values}.",
    },
    "explain_order": {
        "en": "Backward visits the nodes newest first; each step uses the gradient of its "
              "output (grad)\nto compute its inputs' by the op's formula (from its docstring):\n",
        "fa": "backward گره‌ها را از تازه‌ترین به کهنه‌ترین می‌پیماید؛ هر گام با گرادیانِ خروجی‌اش "
              "(grad)\nگرادیانِ ورودی‌هایش را با فرمولِ عملیات (از docstring آن) حساب می‌کند:\n",
    },
    "explain_html": {
        "en": "The same steps to click through in a browser: {path}\n",
        "fa": "همین گام‌ها برای کلیک کردن در مرورگر: {path}\n",
    },
    "explain_same": {
        "en": "o.backward() leaves the same gradients in .grad: {answer}.",
        "fa": "o.backward() همین گرادیان‌ها را در .grad می‌گذارد: {answer}.",
    },
    # backward_steps' frames (viz_steps.Frame.text(lang))
    "frame_step": {"en": "step {step} of {total}: {title}", "fa": "گام {step} از {total}: {title}"},
    "frame_title": {
        "en": "{op} = {fn}({args})   -> shape {shapes}",
        "fa": "{op} = {fn}({args})   -> شکل {shapes}",
    },
    "frame_grad": {"en": "grad = {parts}", "fa": "grad = {parts}"},
    "frame_grads": {"en": "grads: {parts}", "fa": "گرادیان‌ها: {parts}"},
    "frame_unused": {"en": "0 (unused)", "fa": "0 (به کار نرفته)"},
    "frame_no_input": {
        "en": "(no input needs a gradient)",
        "fa": "(هیچ ورودی‌ای گرادیان نمی‌خواهد)",
    },
    "frame_so_far": {
        "en": " (so far: {sent} of {uses} uses)",
        "fa": " (تا اینجا: {sent} از {uses} کاربرد)",
    },
    "frame_known": {"en": "known: {grads}", "fa": "دانسته: {grads}"},
    "frame_see_formula": {
        "en": "   (see {fn}'s formula)",
        "fa": "   (فرمولِ {fn} را ببینید)",
    },
    "frame_rule": {"en": "{doc}", "fa": "قاعده (از docstring عملیات): {doc}"},
    # the candidate mistakes (reference/mistakes.py), put into diag_candidate's sentence
    "mc_dropped": {"en": "the {carry} dropped", "fa": "{carry} جاافتاده"},
    "mc_carry_h": {
        "en": "gradient carried back from step t+1 (dh_next)",
        "fa": "گرادیانی که از گام t+1 بازمی‌گردد (dh_next)",
    },
    "mc_carry_c": {
        "en": "cell-state carry (dc_next = dc * f)",
        "fa": "انتقالِ حالت سلول (dc_next = dc * f)",
    },
    "mc_carry_z": {"en": "direct carry dh_t * z", "fa": "انتقالِ مستقیمِ dh_t * z"},
    "mc_carry_w": {"en": "carry through W_hh", "fa": "انتقال از راهِ W_hh"},
    "mc_both_carries": {
        "en": "both carries (dh and dc from step t+1) dropped",
        "fa": "هر دو انتقال (dh و dc از گام t+1) جاافتاده",
    },
    "mc_derivative": {"en": "the derivative of {which} {how}", "fa": "مشتقِ {which} {how}"},
    "mc_how_activated": {
        "en": "taken at the activation's output (f'(f(a)))",
        "fa": "در خروجیِ فعال‌سازی گرفته شده (f'(f(a)))",
    },
    "mc_how_raw": {
        "en": "written with the output's formula on the pre-activation",
        "fa": "با فرمولِ خروجی روی ورودیِ فعال‌سازی نوشته شده",
    },
    "mc_site_gate": {"en": "gate {site}", "fa": "گیت {site}"},
    "mc_every_sigmoid": {"en": "every sigmoid gate", "fa": "همهٔ گیت‌های sigmoid"},
    "mc_every_tanh": {"en": "every tanh", "fa": "همهٔ tanhها"},
    "mc_every_activation": {"en": "every activation", "fa": "همهٔ فعال‌سازی‌ها"},
    "mc_gate_swap": {
        "en": "the gradients of gates {a} and {b} exchanged",
        "fa": "گرادیان‌های گیت‌های {a} و {b} جابه‌جا شده",
    },
    "mc_transpose_whh": {
        "en": "W_hh transposed in the recurrent gradient (dA W_hh^T)",
        "fa": "W_hh در گرادیانِ بازگشتی ترانهاده شده (dA W_hh^T)",
    },
    "mc_shift_rnn": {
        "en": "tanh' taken at h_{{t-1}} instead of h_t",
        "fa": "tanh' در h_{{t-1}} گرفته شده به جای h_t",
    },
    "mc_shift_lstm": {
        "en": "df = dc * c_t instead of dc * c_{{t-1}}",
        "fa": "df = dc * c_t به جای dc * c_{{t-1}}",
    },
    "mc_shift_gru": {
        "en": "dz = dh (h_t - n) instead of dh (h_{{t-1}} - n)",
        "fa": "dz = dh (h_t - n) به جای dh (h_{{t-1}} - n)",
    },
    "mc_clip": {
        "en": "dh clipped to [-{value:g}, {value:g}] inside the backward",
        "fa": "dh درونِ backward به [-{value:g}, {value:g}] بریده شده",
    },
    "mc_reset_before": {
        "en": "the reset gate applied before W_hn (n = tanh(W_in x + W_hn (r * h))), where the "
              "layer applies it after",
        "fa": "گیت بازنشانی پیش از W_hn به کار رفته (n = tanh(W_in x + W_hn (r * h)))، در حالی "
              "که لایه آن را پس از W_hn به کار می‌برد",
    },
    "mc_dW_hh_h_t": {
        "en": "dW_hh summed with h_t instead of h_{{t-1}}",
        "fa": "dW_hh با h_t جمع زده شده به جای h_{{t-1}}",
    },
    "mc_dW_hh_h_t2": {
        "en": "dW_hh summed with h_{{t-2}} instead of h_{{t-1}}",
        "fa": "dW_hh با h_{{t-2}} جمع زده شده به جای h_{{t-1}}",
    },
    "mc_dW_ih_shift": {
        "en": "dW_ih summed with {which} instead of x_t",
        "fa": "dW_ih با {which} جمع زده شده به جای x_t",
    },
    "mc_assigned": {
        "en": "the weight gradients assigned (=) instead of accumulated (+=): only {when}'s "
              "term is left",
        "fa": "گرادیانِ وزن‌ها جایگزین شده (=) به جای انباشته شدن (+=): تنها جملهٔ {when} "
              "مانده است",
    },
    "mc_when_last": {"en": "the last step", "fa": "گام آخر"},
    "mc_when_first": {"en": "the first step", "fa": "گام نخست"},
    # the bug zoo (reference/bugs.py): what each hand BPTT does wrong
    "zoo_rnn_dropped_carry": {
        "en": "dh = d_out[t]: the gradient from step t+1 (dh_next) never added",
        "fa": "dh = d_out[t]: گرادیانِ گام t+1 (dh_next) هرگز افزوده نشده",
    },
    "zoo_lstm_dropped_cell_carry": {
        "en": "dc = dh * o * tanh'(c_t): the cell-state carry dc_next * f dropped",
        "fa": "dc = dh * o * tanh'(c_t): انتقالِ حالت سلول، dc_next * f، جاافتاده",
    },
    "zoo_gru_dropped_carry": {
        "en": "dh = d_out[t]: dh_next from step t+1 dropped",
        "fa": "dh = d_out[t]: dh_next از گام t+1 جاافتاده",
    },
    "zoo_rnn_h_t_in_dW_hh": {
        "en": "dW_hh += da_t^T h_t: h_t where h_{{t-1}} fed step t",
        "fa": "dW_hh += da_t^T h_t: h_t جایی که h_{{t-1}} به گام t داده شده بود",
    },
    "zoo_lstm_c_t_in_df": {
        "en": "df = dc * c_t: the cell state of the step itself, not of the step before",
        "fa": "df = dc * c_t: حالت سلولِ خودِ همین گام، نه گامِ پیشین",
    },
    "zoo_rnn_dtanh_of_h": {
        "en": "tanh'(h_t) = 1 - tanh(h_t)**2: the derivative taken at h_t, already a tanh "
              "(the notebook's)",
        "fa": "tanh'(h_t) = 1 - tanh(h_t)**2: مشتق در h_t گرفته شده که خودش یک tanh است "
              "(اشتباهِ نوت‌بوک)",
    },
    "zoo_lstm_sigmoid_of_gate": {
        "en": "sigmoid'(a) written sigmoid(s)(1 - sigmoid(s)) with s the gate, already a sigmoid",
        "fa": "sigmoid'(a) به صورت sigmoid(s)(1 - sigmoid(s)) نوشته شده، با s خودِ گیت که "
              "خودش یک sigmoid است",
    },
    "zoo_lstm_dtanh_c_raw": {
        "en": "tanh'(c_t) written 1 - c_t**2: the output's formula on the argument",
        "fa": "tanh'(c_t) به صورت 1 - c_t**2 نوشته شده: فرمولِ خروجی روی آرگومان",
    },
    "zoo_rnn_transposed_whh": {
        "en": "dh_next = da @ W_hh.T: the recurrent gradient through W_hh transposed",
        "fa": "dh_next = da @ W_hh.T: گرادیانِ بازگشتی از راهِ W_hh ترانهاده شده",
    },
    "zoo_lstm_gate_swap": {
        "en": "da stacked as i, f, o, g where the weights are i, f, g, o",
        "fa": "da به ترتیب i، f، o، g چیده شده در حالی که ترتیبِ وزن‌ها i، f، g، o است",
    },
    "zoo_gru_reset_before_whn": {
        "en": "n = tanh(W_in x + W_hn (r * h)): the reset gate applied before W_hn (the 2014 "
              "paper's form), where torch applies it after",
        "fa": "n = tanh(W_in x + W_hn (r * h)): گیت بازنشانی پیش از W_hn به کار رفته (شکلِ "
              "مقالهٔ 2014)، در حالی که torch آن را پس از W_hn به کار می‌برد",
    },
    "zoo_rnn_first_step_only": {
        "en": "dW_ih = da^T x_t (= instead of +=) in the backward loop: only t = 0 survives",
        "fa": "dW_ih = da^T x_t (= به جای +=) در حلقهٔ backward: تنها t = 0 می‌ماند",
    },
    "zoo_rnn_last_step_only": {
        "en": "the weight gradients taken from the last step's da alone",
        "fa": "گرادیانِ وزن‌ها تنها از da گام آخر گرفته شده",
    },
    "zoo_lstm_no_bias_hh": {
        "en": "db_hh never accumulated: only b_ih's gradient computed",
        "fa": "db_hh هرگز انباشته نشده: تنها گرادیانِ b_ih حساب شده",
    },
    "zoo_gru_bias_hh_from_ih": {
        "en": "db_hh += sum(da_x): bias_hh given bias_ih's gradient (the n block needs da_n * r)",
        "fa": "db_hh += sum(da_x): به bias_hh گرادیانِ bias_ih داده شده (بلوکِ n به da_n * r "
              "نیاز دارد)",
    },
    "zoo_rnn_extra_1_over_N": {
        "en": "d_out / N: the batch mean taken again in the hand gradient",
        "fa": "d_out / N: میانگینِ روی دسته دوباره در گرادیانِ دستی گرفته شده",
    },
    "zoo_lstm_wrong_axis": {
        "en": "the loss averaged over time (1/T) where it is averaged over the batch (1/N)",
        "fa": "loss روی زمان (1/T) میانگین گرفته شده در حالی که روی دسته (1/N) میانگین گرفته "
              "می‌شود",
    },
    "zoo_gru_clipping_inside": {
        "en": "np.clip(dh, -0.1, 0.1) inside the BPTT loop",
        "fa": "np.clip(dh, -0.1, 0.1) درونِ حلقهٔ BPTT",
    },
    "zoo_rnn_sign": {
        "en": "dy = target - y for y - target: every gradient negated",
        "fa": "dy = target - y به جای y - target: همهٔ گرادیان‌ها قرینه شده‌اند",
    },
    "zoo_lstm_zero_dW_ih": {"en": "dW_ih never accumulated", "fa": "dW_ih هرگز انباشته نشده"},
    "zoo_rnn_no_h0": {
        "en": "the gradient of h0 never returned",
        "fa": "گرادیانِ h0 هرگز برگردانده نشده",
    },
    # HandBackwardError's other headlines (testing.check_hand_backward)
    "hb_raised": {
        "en": "{what} raised {error_type}: {error} for [{config}]{hint}",
        "fa": "{what} خطای {error_type} داد: {error} برای [{config}]{hint}",
    },
    "hb_who_hand": {"en": "the hand-written backward", "fa": "backward دست‌نویس"},
    "hb_who_autograd": {"en": "autograd on the layer", "fa": "autograd روی لایه"},
    "hb_who_make_layer": {"en": "make_layer", "fa": "make_layer"},
    "hb_not_a_dict": {
        "en": "the hand-written backward returned {given} for [{config}]; it must return a "
              "dict name -> gradient",
        "fa": "backward دست‌نویس {given} برگرداند برای [{config}]؛ باید یک dict از نام به "
              "گرادیان برگرداند",
    },
    "hb_not_numbers": {
        "en": "the hand-written backward's gradient {name!r} is {given}, not an array of "
              "numbers, for [{config}]",
        "fa": "گرادیانِ {name!r} از backward دست‌نویس {given} است، نه آرایه‌ای از عددها، "
              "برای [{config}]",
    },
    "hb_no_gradient": {
        "en": "the hand-written backward for [{config}] gives no gradient for {missing} (it "
              "gave {gave}){hint}",
        "fa": "backward دست‌نویس برای [{config}] هیچ گرادیانی برای {missing} نمی‌دهد (آنچه "
              "داد: {gave}){hint}",
    },
    "hb_hint": {
        "en": "\n  if your backward does not handle this configuration, say so in the "
              "arguments: check_hand_backward(..., {says})",
        "fa": "\n  اگر backward شما این پیکربندی را پشتیبانی نمی‌کند، آن را در آرگومان‌ها "
              "بگویید: check_hand_backward(..., {says})",
    },
    "hb_others": {
        "en": "Hypothesis found {n} distinct failures; above is the one at the smallest "
              "configuration. The others:",
        "fa": "Hypothesis {n} شکستِ متمایز یافت؛ آنچه در بالاست در کوچک‌ترین پیکربندی است. "
              "بقیه:",
    },
    "lc_not_reached": {"en": "not reached", "fa": "نرسیده"},
})

# ---------------------------------------------------------------------- the HTML explorer
# (viz.to_html(..., lang=...): the page's own words; its steps' titles, formulas and
# known gradients are backward_steps' frames above)
TEXT.update({
    "html_title": {
        "en": "Backward through {name}, step by step",
        "fa": "پس‌انتشار (backward) از {name}، گام به گام",
    },
    "html_intro": {
        "en": "The graph that computed {name} (shape {shape}), with each value's numbers. "
              "Backward visits its {n} op(s) newest first; each step takes the gradient of "
              "the op's output (grad) and computes its inputs' by the op's formula. Blue: the "
              "op that runs. Red: the gradients it just computed. On each node, the gradient "
              "known so far (\"...\" while more uses of it will still add theirs).",
        "fa": "گرافی که {name} را حساب کرد (شکل {shape})، با عددهای هر مقدار. backward "
              "{n} عملیاتِ آن را از تازه‌ترین به کهنه‌ترین می‌پیماید؛ هر گام گرادیانِ خروجیِ "
              "عملیات (grad) را می‌گیرد و گرادیانِ ورودی‌هایش را با فرمولِ عملیات حساب "
              "می‌کند. آبی: عملیاتی که اجرا می‌شود. قرمز: گرادیان‌هایی که همین حالا حساب کرد. "
              "روی هر گره، گرادیانی که تا اینجا دانسته است («...» تا وقتی کاربردهای دیگرش "
              "هنوز سهمِ خود را می‌افزایند).",
    },
    "html_keys": {
        "en": "Keys: ← → to step, Home and End for the ends.",
        "fa": "کلیدها: ← گامِ قبلی، → گامِ بعدی، Home و End برای دو سر.",
    },
    "html_first": {"en": "« start", "fa": "« آغاز"},
    "html_first_tip": {"en": "the start (Home)", "fa": "آغاز (Home)"},
    "html_prev": {"en": "◀ previous", "fa": "◀ قبلی"},
    "html_prev_tip": {"en": "previous step (←)", "fa": "گامِ قبلی (←)"},
    "html_next": {"en": "next ▶", "fa": "بعدی ▶"},
    "html_next_tip": {"en": "next step (→)", "fa": "گامِ بعدی (→)"},
    "html_last": {"en": "end »", "fa": "پایان »"},
    "html_last_tip": {"en": "the end (End)", "fa": "پایان (End)"},
    "html_slider": {"en": "step", "fa": "گام"},
    "html_counter": {"en": "step {step} of {total}", "fa": "گام {step} از {total}"},
    "html_known": {"en": "Gradients known so far", "fa": "گرادیان‌هایی که تا اینجا دانسته شده‌اند"},
    "html_final": {"en": "Final gradients", "fa": "گرادیان‌های نهایی"},
    "html_final_note": {
        "en": "What {backward} leaves in each leaf's {grad}.",
        "fa": "آنچه {backward} در {grad} هر برگ می‌گذارد.",
    },
    "html_col_leaf": {"en": "leaf", "fa": "برگ"},
    "html_col_shape": {"en": "shape", "fa": "شکل"},
    "html_col_value": {"en": "value", "fa": "مقدار"},
    "html_col_gradient": {"en": "gradient", "fa": "گرادیان"},
    "html_seed_title": {
        "en": "before backward: the seed {formula}",
        "fa": "پیش از backward: بذرِ {formula}",
    },
    "html_seed_doc": {
        "en": "Backward starts here, at the loss, with this seed, and visits the nodes "
              "newest first.",
        "fa": "backward از اینجا آغاز می‌شود، از خطا (loss) و با همین بذر، و گره‌ها را از "
              "تازه‌ترین به کهنه‌ترین می‌پیماید.",
    },
})


class Said(str):
    """A message: the English text itself (so ``str`` and ``==`` see the English), which
    also knows its words in the other languages (``in_language``)."""

    translations: dict[str, str]


def said(key: str, **values: Any) -> Said:
    """The message ``key`` in every language, formatted with ``values`` (a ``Said``
    value is put in each language's own words)."""
    return said_as({lang: text(key, lang, **{k: in_language(v, lang) for k, v in values.items()})
                    for lang in LANGUAGES})


def said_as(translations: dict[str, str]) -> Said:
    """A ``Said`` from its text in each language ("en" is the str)."""
    message = Said(translations["en"])
    message.translations = dict(translations)
    return message


def in_language(message: Any, lang: str) -> Any:
    """``message`` in ``lang`` when it is a ``Said`` that knows it; as given otherwise."""
    if isinstance(message, Said):
        return message.translations.get(lang, str(message))
    return message


def text(key: str, lang: str = "en", **values: Any) -> str:
    """The message ``key`` in ``lang`` ("en" or "fa"), formatted with ``values``."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; choose one of {', '.join(LANGUAGES)}")
    return TEXT[key][lang].format(**values)
