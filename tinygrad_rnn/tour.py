"""The guided tour, ``python -m tinygrad_rnn``: the seed notebook again, on autograd.

Three parts, as the notebook (``docs/seed_notebook.txt``, in Persian):

1. its RNN forward pass, with the weights it printed, gives the outputs it printed;
2. that RNN trained by BPTT done by autograd; then the notebook's hand-written
   BPTT against autograd with ``tr.compare_grads``: its two bugs (the scale of
   0.5*sum against the mean it prints; ``dtanh`` applied to h_t, which is
   already tanh) found, explained and fixed;
3. its LSTM on arithmetic sequences, trained this time (the notebook could only
   run it untrained), traced gate by gate on [1, 4, 7] as its verbose mode did.

Every number is computed when the tour runs; the only constants are the
notebook's printed weights and outputs, which part 1 checks against.
``run_tour`` returns those computed facts (``TourResult``) as well as printing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import functional as F, nn, optim
from .compare import compare_grads
from .reference.notebook import PARAM_NAMES, notebook_bptt, notebook_forward, notebook_train
from .rng import manual_seed
from .tensor import Tensor, no_grad
from .tour_text import in_language, said_as, text
from .trace import step_grads

# The weights the notebook printed in its first cell (input size 1, hidden size 4),
# its zero biases, its inputs and targets, and the outputs it printed.
NOTEBOOK_W_X = [[0.24499315], [1.64245811], [-0.46516492], [0.60331829]]
NOTEBOOK_W_H = [[1.37777454, -1.41781434, 0.89708677, 0.12688328],
                [-0.59478309, -0.19901797, -0.36983813, 1.8497388],
                [0.00851169, -1.09938783, 2.00037938, -1.15957504],
                [-1.73456868, 0.01300878, 0.9359561, 1.36862273]]
NOTEBOOK_W_Y = [[1.73178273, -2.14228566, -0.53759098, 0.17637289]]
NOTEBOOK_INPUTS = [0.1, 0.2, 0.3]
NOTEBOOK_TARGETS = [0.2, 0.3, 0.4]
NOTEBOOK_OUTPUTS = [-0.27069536, -0.90355753, -2.36305458]
NOTEBOOK_LEARNING_RATE = 0.01
NOTEBOOK_EPOCHS = 1000

# Part 3: the notebook's arithmetic sequences (step 3) and its test sequence.
STEP = 3
TEST_SEQUENCE = [1, 4, 7]
UNSEEN_SEQUENCE = [2, 5, 8]
TRAIN_STARTS = [s for s in range(16) if s != UNSEEN_SEQUENCE[0]]
SCALE = 10.0
HIDDEN = 4


@dataclass
class TourResult:
    """What the tour computed (for tests and for anyone who wants the numbers)."""

    outputs: list = field(default_factory=list)            # part 1, one per time step
    autograd_losses: list = field(default_factory=list)    # part 2, (epoch, loss) every 100
    notebook_losses: list = field(default_factory=list)    # part 2, the hand BPTT's
    faithful: object = None                                # compare_grads reports
    scale_fixed: object = None
    scale_fixed_steps: object = None
    corrected: object = None
    steps: object = None           # part 2d: tr.trace.step_grads of the notebook's RNN
    step_errors: list = field(default_factory=list)   # (t, error in dh_t, in dh_raw_t)
    lstm_losses: list = field(default_factory=list)        # part 3, training loss
    untrained_prediction: float = float("nan")
    gates: dict = field(default_factory=dict)              # name -> (T, H) on TEST_SEQUENCE
    step_predictions: list = field(default_factory=list)
    prediction: float = float("nan")                       # after TEST_SEQUENCE
    unseen_prediction: float = float("nan")                # after UNSEEN_SEQUENCE
    seconds: float = 0.0


def notebook_params() -> dict:
    """The printed weights, as numpy arrays in the notebook's column-vector layout."""
    return {"W_x": np.array(NOTEBOOK_W_X), "W_h": np.array(NOTEBOOK_W_H),
            "W_y": np.array(NOTEBOOK_W_Y), "b_h": np.zeros((4, 1)), "b_y": np.zeros((1, 1))}


def _column(values: Iterable[float]) -> list[np.ndarray]:
    return [np.array([[v]], dtype=np.float64) for v in values]


def rnn_forward(P: dict[str, Tensor], inputs: list,
                pre_activations: list[Tensor] | None = None) -> list[Tensor]:
    """h_t = tanh(W_x x_t + W_h h_(t-1) + b_h),  y_t = W_y h_t + b_y, from ops.

    ``pre_activations``, if given, collects each a_t with its gradient retained."""
    h = Tensor(np.zeros((P["W_h"].shape[0], 1)))
    outputs = []
    for x in inputs:
        a = P["W_x"] @ x + P["W_h"] @ h + P["b_h"]
        if pre_activations is not None:
            a.retain_grad()
            pre_activations.append(a)
        h = a.tanh()
        outputs.append(P["W_y"] @ h + P["b_y"])
    return outputs


def printed_loss(outputs: list, targets: list) -> Tensor:
    """The loss the notebook prints: the mean over steps of each step's MSE."""
    return sum(((y - t) ** 2).mean() for y, t in zip(outputs, targets)) / len(outputs)


# --------------------------------------------------------------------------- part 1


def part1(say: Callable[..., None], result: TourResult) -> None:
    say("part1_title")
    say("part1_what")
    P = {k: Tensor(v, requires_grad=True, name=k) for k, v in notebook_params().items()}
    outputs = rnn_forward(P, _column(NOTEBOOK_INPUTS))
    for t, (y, printed) in enumerate(zip(outputs, NOTEBOOK_OUTPUTS)):
        result.outputs.append(y.item())
        say("part1_row", t=t, ours=y.item(), printed=printed, diff=abs(y.item() - printed))
    say("part1_done")


# --------------------------------------------------------------------------- part 2


def _autograd_gradients(params: dict) -> dict:
    """Autograd's gradient of the printed loss, plus each step's dL/da_t as "dh_raw"."""
    P = {k: Tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    pre: list[Tensor] = []
    loss = printed_loss(rnn_forward(P, _column(NOTEBOOK_INPUTS), pre), _column(NOTEBOOK_TARGETS))
    loss.backward()
    grads = {k: P[k].grad for k in PARAM_NAMES}
    # (each a_t retained its gradient, so none is None)
    grads["dh_raw"] = np.stack([a.grad for a in pre])  # type: ignore[misc]
    return grads


def _autograd_steps(params: dict) -> Any:
    """``tr.trace.step_grads`` of the notebook's RNN, built as an ``nn.RNN(1, 4)`` (W_x,
    W_h, b_h as weight_ih, weight_hh, bias_ih; bias_hh zero), under the printed loss."""
    rnn = nn.RNN(1, params["W_h"].shape[0])
    for name, value in (("weight_ih_l0", params["W_x"]), ("weight_hh_l0", params["W_h"]),
                        ("bias_ih_l0", params["b_h"][:, 0]), ("bias_hh_l0", 0.0)):
        getattr(rnn, name).data[...] = value
    x = Tensor(np.array(NOTEBOOK_INPUTS).reshape(-1, 1, 1))          # (T, N, I)
    targets = Tensor(np.array(NOTEBOOK_TARGETS).reshape(-1, 1, 1))
    W_y, b_y = Tensor(params["W_y"]), Tensor(params["b_y"][0])

    def printed(out: Tensor) -> Tensor:   # out (T, 1, 4): y_t = W_y h_t + b_y
        return ((out @ W_y.T + b_y - targets) ** 2).mean()

    return step_grads(rnn, x, printed)


def _worst_relative(expected: np.ndarray, actual: np.ndarray) -> float:
    return float(np.max(np.abs(actual - expected) / np.maximum(np.abs(expected), 1e-300)))


def _vector(values: np.ndarray) -> str:
    return "[" + " ".join(f"{v:+8.3f}" for v in values) + "]"


def _indent(report: object) -> str:
    return "    " + str(report).replace("\n", "\n    ")


def part2(say: Callable[..., None], result: TourResult) -> None:
    say("part2_title")
    say("part2_setup", lr=NOTEBOOK_LEARNING_RATE, epochs=NOTEBOOK_EPOCHS)
    inputs, targets = _column(NOTEBOOK_INPUTS), _column(NOTEBOOK_TARGETS)

    P = {k: Tensor(v, requires_grad=True, name=k) for k, v in notebook_params().items()}
    opt = optim.SGD(list(P.values()), lr=NOTEBOOK_LEARNING_RATE)
    for epoch in range(NOTEBOOK_EPOCHS):
        loss = printed_loss(rnn_forward(P, inputs), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if epoch % 100 == 0:
            result.autograd_losses.append((epoch, loss.item()))
    result.notebook_losses = notebook_train(notebook_params(), inputs, targets,
                                            epochs=NOTEBOOK_EPOCHS,
                                            learning_rate=NOTEBOOK_LEARNING_RATE, faithful=True)
    say("part2_table_header")
    for (epoch, ours), (_, hand) in zip(result.autograd_losses, result.notebook_losses):
        say("part2_table_row", epoch=epoch, ours=ours, hand=hand)
    say("part2_fell", first=result.autograd_losses[0][1], last=result.autograd_losses[-1][1],
        hand_last=result.notebook_losses[-1][1])

    params = notebook_params()
    autograd = _autograd_gradients(params)
    weights = {k: autograd[k] for k in PARAM_NAMES}
    _, hand = notebook_bptt(params, inputs, targets, faithful=True)
    result.faithful = compare_grads(weights, hand)
    say("part2a")
    say(None, report=result.faithful)
    k = float(np.sum(hand["W_y"] * weights["W_y"]) / np.sum(weights["W_y"] ** 2))
    say("part2_scale", k=k, inv=1 / k)

    _, hand = notebook_bptt(params, inputs, targets, dtanh_bug=True, scale_bug=False,
                            with_steps=True)
    result.scale_fixed = compare_grads(weights, {n: hand[n] for n in PARAM_NAMES})
    _, h_states = notebook_forward(params, inputs)
    result.scale_fixed_steps = compare_grads({"dh_raw": autograd["dh_raw"]},
                                             {"dh_raw": hand["dh_raw"]},
                                             activations={"dh_raw": np.stack(h_states)},
                                             time_axis=0)
    agree = [r.name for r in result.scale_fixed.rows if r.ok]
    disagree = [r.name for r in result.scale_fixed.rows if not r.ok]
    say("part2b", agree=", ".join(agree), disagree=", ".join(disagree))
    say(None, report=result.scale_fixed_steps)
    say("part2_dtanh")

    # 2d: the same two per-step quantities, autograd's and the notebook's, step by step
    result.steps = steps = _autograd_steps(params)
    say("part2d")
    for t in reversed(range(len(inputs))):
        dh_error = _worst_relative(steps.dh[t, 0], hand["dh"][t, :, 0])
        raw_error = _worst_relative(steps.dpre["h"][t, 0], hand["dh_raw"][t, :, 0])
        result.step_errors.append((t, dh_error, raw_error))
        say("part2d_row", t=t, dh=_vector(steps.dh[t, 0]), hand=_vector(hand["dh"][t, :, 0]),
            dh_error=dh_error, raw_error=raw_error)
    say("part2d_carry", last=len(inputs) - 1)

    _, hand = notebook_bptt(params, inputs, targets, faithful=False)
    result.corrected = compare_grads(weights, hand, rtol=1e-10, atol=1e-14)
    worst = max(r.max_rel_error for r in result.corrected.rows)
    ok = result.corrected.ok  # (English prints the bool, as it always has)
    say("part2c", rel=worst, ok=said_as({"en": str(ok), "fa": text("yes" if ok else "no", "fa")}))
    say(None, report=result.corrected)


# --------------------------------------------------------------------------- part 3


def _windows(starts: Iterable[float]) -> np.ndarray:
    """Each row: one window [s, s+3, s+6] followed by its next element s+9."""
    return np.array([[s + STEP * k for k in range(4)] for s in starts], dtype=np.float64)


class NextElement(nn.Module):
    """The notebook's SimpleLSTM, trainable: an LSTM and a linear read-out per step."""

    def __init__(self, hidden_size: int = HIDDEN) -> None:
        self.lstm = nn.LSTM(1, hidden_size)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: Tensor) -> Tensor:
        """x: (T, N, 1), scaled -> the prediction of the next element at every step (T, N, 1)."""
        out, _ = self.lstm(x)
        return self.head(out)

    def predict(self, sequence: Sequence[float]) -> np.ndarray:
        """Predictions after each element of ``sequence``, unscaled."""
        with no_grad():
            x = Tensor(np.asarray(sequence, dtype=np.float64).reshape(-1, 1, 1) / SCALE)
            return self(x).data.reshape(-1) * SCALE


def _gate_trace(model: NextElement, sequence: Sequence[float]) -> dict[str, np.ndarray]:
    """{name: (T, H)} gates i, f, g, o and states c, h over ``sequence``."""
    x = Tensor(np.asarray(sequence, dtype=np.float64).reshape(-1, 1, 1) / SCALE)
    with no_grad():
        try:
            from .trace import gate_trace
        except ImportError:  # pragma: no cover - trace.py ships with the package
            gate_trace = None  # type: ignore[assignment]  # (then by hand, below)
        if gate_trace is not None:
            gates, _ = gate_trace(model.lstm, x)
            return {name: a[:, 0, :] for name, a in gates[0, 0].items()}
        # the same by hand, stepping the layer's own weights with ops
        W_ih, W_hh = model.lstm.weight_ih_l0, model.lstm.weight_hh_l0
        h = c = Tensor(np.zeros((1, model.lstm.hidden_size)))
        out: dict[str, list[np.ndarray]] = {n: [] for n in "ifgoch"}
        for x_t in x.unbind(0):
            pre = (F.linear(x_t, W_ih, model.lstm.bias_ih_l0)
                   + F.linear(h, W_hh, model.lstm.bias_hh_l0))
            i, f, g, o = pre.chunk(4, dim=-1)
            i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
            c = f * c + i * g
            h = o * c.tanh()
            for n, v in zip("ifgoch", (i, f, g, o, c, h)):
                out[n].append(v.data[0])
        return {n: np.stack(v) for n, v in out.items()}


def part3(say: Callable[..., None], result: TourResult, iterations: int = 400,
          lr: float = 0.05) -> None:
    say("part3_title")
    manual_seed(0)
    model = NextElement()
    result.untrained_prediction = float(model.predict(TEST_SEQUENCE)[-1])
    say("part3_setup", H=HIDDEN, starts=", ".join(map(str, TRAIN_STARTS)), scale=SCALE,
        lr=lr, iters=iterations)
    say("part3_untrained", pred=result.untrained_prediction)

    data = _windows(TRAIN_STARTS) / SCALE
    x = Tensor(data[:, :3].T[:, :, None])      # (T=3, N, 1): the window
    y = Tensor(data[:, 1:].T[:, :, None])      # the next element at every step
    opt = optim.Adam(model.parameters(), lr=lr)
    for it in range(iterations):
        loss = F.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if it % 50 == 0 or it == iterations - 1:
            result.lstm_losses.append(loss.item())
    say("part3_loss", first=result.lstm_losses[0], last=result.lstm_losses[-1])

    say("part3_trace")
    result.gates = _gate_trace(model, TEST_SEQUENCE)
    result.step_predictions = [float(p) for p in model.predict(TEST_SEQUENCE)]
    g = result.gates
    for t, value in enumerate(TEST_SEQUENCE):
        say("step", k=t + 1, x=float(value))
        for key, name in (("forget", "f"), ("input", "i"), ("output", "o"), ("cell", "c"),
                          ("hidden", "h")):
            say(key, v=np.round(g[name][t], 3))
        say("prediction", v=result.step_predictions[t], true=value + STEP)
    say("gate_means_title")
    for t in range(len(TEST_SEQUENCE)):
        say("gate_means", k=t + 1, f=g["f"][t].mean(), i=g["i"][t].mean(), o=g["o"][t].mean())

    result.prediction = result.step_predictions[-1]
    result.unseen_prediction = float(model.predict(UNSEEN_SEQUENCE)[-1])
    true_next = TEST_SEQUENCE[-1] + STEP
    true_unseen = UNSEEN_SEQUENCE[-1] + STEP
    say("result_next", seq=TEST_SEQUENCE, pred=result.prediction, true=true_next,
        err=abs(result.prediction - true_next))
    say("result_unseen", seq=UNSEEN_SEQUENCE, pred=result.unseen_prediction, true=true_unseen,
        err=abs(result.unseen_prediction - true_unseen))


# --------------------------------------------------------------------------- the tour


def run_tour(lang: str = "en", out: Callable[[Any], object] = print) -> TourResult:
    """Print the tour in ``lang`` ("en" or "fa") through ``out``; return what it computed."""
    start = time.perf_counter()

    def say(key: str | None, raw: str | None = None, report: Any = None, **values: Any) -> None:
        if report is not None:   # a comparison: its table, headers and diagnoses in lang
            out(_indent(report.text(lang)))
        else:
            out(raw if key is None else text(key, lang, **{k: in_language(v, lang)
                                                           for k, v in values.items()}))

    result = TourResult()
    say("title")
    say("intro")
    part1(say, result)
    part2(say, result)
    part3(say, result)
    result.seconds = time.perf_counter() - start
    say("end", seconds=result.seconds)
    return result
