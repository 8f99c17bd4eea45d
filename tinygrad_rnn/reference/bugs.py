"""The bug zoo: hand BPTTs of RNN, LSTM and GRU, each with one classic mistake.

Each ``Bug`` is a hand backward with the signature of
``testing.check_hand_backward``'s ``hand_fn(state_dict, x, d_outputs) -> {name:
gradient}`` (x and d_outputs time first, (T, N, I) and (T, N, H)), the layer it
is for, and the ``kind`` that ``tr.compare_grads`` must report for it. What each
bug does wrong (``Bug.mistake``) is worded in tour_text.py (``zoo_<name>``), in
English and in Persian.
``diagnose(bug, T, N, I, H, seed)`` runs it beside autograd and returns the
comparison; ``python -m tinygrad_rnn zoo`` prints every bug's diagnosis, and
``zoo_table()`` is the table of docs/hand_vs_autograd.md.

The derivations below are written the way a student writes them: one loop over
the steps, gradients accumulated with ``+=`` step by step, each slip marked
``# BUG``. They are their own code (a copy of the equations, not of
``reference/`` or ``reference/mistakes.py``), so that a diagnosis found here is
found from the numbers, whatever code produced them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..tour_text import Said, said

if TYPE_CHECKING:
    from ..compare import GradComparison

Grads = dict[str, np.ndarray]


def _weights(state_dict: dict) -> tuple[np.ndarray, ...]:
    def get(name: str) -> np.ndarray:
        for key in (name, name + "_l0"):
            if key in state_dict:
                return np.asarray(state_dict[key], dtype=np.float64)
        raise KeyError(name)
    return tuple(get(n) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


def _sig(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


# --------------------------------------------------------------------------- a student's RNN


def _rnn(sd: dict, x: np.ndarray, d_out: np.ndarray, slip: str = "") -> Grads:
    W_ih, W_hh, b_ih, b_hh = _weights(sd)
    T, N, _ = x.shape
    H = W_hh.shape[0]
    h = [np.zeros((N, H))]
    for t in range(T):
        h.append(np.tanh(x[t] @ W_ih.T + b_ih + h[t] @ W_hh.T + b_hh))
    g = {"weight_ih": np.zeros_like(W_ih), "weight_hh": np.zeros_like(W_hh),
         "bias_ih": np.zeros_like(b_ih), "bias_hh": np.zeros_like(b_hh),
         "x": np.zeros_like(x)}
    if slip == "sign":
        d_out = -d_out                               # BUG: (target - y) for (y - target)
    if slip == "extra_1_over_N":
        d_out = d_out / N                            # BUG: the batch mean taken twice
    dh_next = np.zeros((N, H))
    da_all = []
    for t in reversed(range(T)):
        dh = d_out[t] if slip == "drop_carry" else d_out[t] + dh_next   # BUG if drop_carry
        if slip == "dtanh_of_h":
            da = dh * (1 - np.tanh(h[t + 1]) ** 2)   # BUG: tanh' applied to h, already a tanh
        else:
            da = dh * (1 - h[t + 1] ** 2)
        da_all.append(da)
        h_in = h[t + 1] if slip == "h_t_in_dW_hh" else h[t]            # BUG if h_t_in_dW_hh
        g["weight_hh"] += da.T @ h_in
        if slip == "first_step_only":
            g["weight_ih"] = da.T @ x[t]             # BUG: = instead of +=
        else:
            g["weight_ih"] += da.T @ x[t]
        g["bias_ih"] += da.sum(0)
        g["bias_hh"] += da.sum(0)
        g["x"][t] = da @ W_ih
        W_back = W_hh.T if slip == "transposed_whh" else W_hh           # BUG if transposed
        dh_next = da @ W_back
    if slip == "last_step_only":
        da_T = da_all[0]                             # BUG: the loop above kept only step T-1
        g["weight_ih"], g["weight_hh"] = da_T.T @ x[-1], da_T.T @ h[T - 1]
        g["bias_ih"], g["bias_hh"] = da_T.sum(0), da_T.sum(0)
    if slip != "no_h0":
        g["h0"] = dh_next                            # (no_h0: BUG, the gradient of h0 left out)
    return g


# --------------------------------------------------------------------------- a student's LSTM


def _lstm(sd: dict, x: np.ndarray, d_out: np.ndarray, slip: str = "") -> Grads:
    W_ih, W_hh, b_ih, b_hh = _weights(sd)
    T, N, _ = x.shape
    H = W_hh.shape[1]
    h, c, gates = [np.zeros((N, H))], [np.zeros((N, H))], []
    for t in range(T):
        a = x[t] @ W_ih.T + b_ih + h[t] @ W_hh.T + b_hh
        i, f, gg, o = _sig(a[:, :H]), _sig(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), \
            _sig(a[:, 3 * H:])
        c.append(f * c[t] + i * gg)
        h.append(o * np.tanh(c[t + 1]))
        gates.append((i, f, gg, o))
    g = {"weight_ih": np.zeros_like(W_ih), "weight_hh": np.zeros_like(W_hh),
         "bias_ih": np.zeros_like(b_ih), "bias_hh": np.zeros_like(b_hh), "x": np.zeros_like(x)}
    if slip == "wrong_axis":
        d_out = d_out * N / T                        # BUG: the loss's 1/N replaced by a 1/T
    dh_next, dc_next = np.zeros((N, H)), np.zeros((N, H))
    for t in reversed(range(T)):
        i, f, gg, o = gates[t]
        tc = np.tanh(c[t + 1])
        dh = d_out[t] + dh_next
        dtc = 1 - c[t + 1] ** 2 if slip == "dtanh_c_raw" else 1 - tc ** 2   # BUG if dtanh_c_raw
        dc = dh * o * dtc if slip == "drop_cell_carry" else dc_next + dh * o * dtc
        c_prev = c[t + 1] if slip == "c_t_in_df" else c[t]                 # BUG if c_t_in_df
        if slip == "sigmoid_of_gate":
            ds = lambda s: _sig(s) * (1 - _sig(s))   # noqa: E731  BUG: sigmoid' at sigmoid(a)
        else:
            ds = lambda s: s * (1 - s)               # noqa: E731
        da_i, da_f = dc * gg * ds(i), dc * c_prev * ds(f)
        da_g, da_o = dc * i * (1 - gg ** 2), dh * tc * ds(o)
        if slip == "gate_swap":
            da = np.concatenate([da_i, da_f, da_o, da_g], axis=1)   # BUG: stacked i, f, o, g
        else:
            da = np.concatenate([da_i, da_f, da_g, da_o], axis=1)
        if slip != "zero_dW_ih":
            g["weight_ih"] += da.T @ x[t]            # (zero_dW_ih: BUG, never accumulated)
        g["weight_hh"] += da.T @ h[t]
        g["bias_ih"] += da.sum(0)
        if slip != "no_bias_hh":
            g["bias_hh"] += da.sum(0)                # (no_bias_hh: BUG, left at zero)
        g["x"][t] = da @ W_ih
        dh_next, dc_next = da @ W_hh, dc * f
    g["h0"], g["c0"] = dh_next, dc_next
    return g


# --------------------------------------------------------------------------- a student's GRU


def _gru(sd: dict, x: np.ndarray, d_out: np.ndarray, slip: str = "") -> Grads:
    W_ih, W_hh, b_ih, b_hh = _weights(sd)
    T, N, _ = x.shape
    H = W_hh.shape[1]
    W_hr, W_hz, W_hn = W_hh[:H], W_hh[H:2 * H], W_hh[2 * H:]
    h, cache = [np.zeros((N, H))], []
    for t in range(T):
        xr, xz, xn = np.split(x[t] @ W_ih.T + b_ih, 3, axis=1)
        hr, hz, hn = np.split(h[t] @ W_hh.T + b_hh, 3, axis=1)
        r, z = _sig(xr + hr), _sig(xz + hz)
        if slip == "reset_before":                   # BUG: the reset gate before W_hn
            hn = (r * h[t]) @ W_hn.T + b_hh[2 * H:]
            n = np.tanh(xn + hn)
        else:
            n = np.tanh(xn + r * hn)
        h.append((1 - z) * n + z * h[t])
        cache.append((r, z, n, hn))
    g = {"weight_ih": np.zeros_like(W_ih), "weight_hh": np.zeros_like(W_hh),
         "bias_ih": np.zeros_like(b_ih), "bias_hh": np.zeros_like(b_hh), "x": np.zeros_like(x)}
    dh_next = np.zeros((N, H))
    for t in reversed(range(T)):
        r, z, n, hn = cache[t]
        dh = d_out[t] if slip == "drop_carry" else d_out[t] + dh_next   # BUG if drop_carry
        if slip == "clip":
            dh = np.clip(dh, -0.1, 0.1)              # BUG: clipping belongs after the backward
        da_n = dh * (1 - z) * (1 - n ** 2)
        da_z = dh * (h[t] - n) * z * (1 - z)
        if slip == "reset_before":
            d_rh = da_n @ W_hn
            da_r = d_rh * h[t] * r * (1 - r)
            dh_n_part = da_n                         # the n block's gradient before W_hn
        else:
            da_r = da_n * hn * r * (1 - r)
            dh_n_part = da_n * r
        da_x = np.concatenate([da_r, da_z, da_n], axis=1)
        da_h = np.concatenate([da_r, da_z, dh_n_part], axis=1)
        g["weight_ih"] += da_x.T @ x[t]
        g["bias_ih"] += da_x.sum(0)
        if slip == "bias_hh_from_ih":
            g["bias_hh"] += da_x.sum(0)              # BUG: the n block needs da_n * r
        else:
            g["bias_hh"] += da_h.sum(0)
        if slip == "reset_before":
            g["weight_hh"][:2 * H] += da_h[:, :2 * H].T @ h[t]
            g["weight_hh"][2 * H:] += da_n.T @ (r * h[t])
            dh_next = dh * z + da_h[:, :2 * H] @ W_hh[:2 * H] + d_rh * r
        else:
            g["weight_hh"] += da_h.T @ h[t]
            dh_next = dh * z + da_r @ W_hr + da_z @ W_hz + dh_n_part @ W_hn
        g["x"][t] = da_x @ W_ih
    g["h0"] = dh_next
    return g


# --------------------------------------------------------------------------- the zoo


@dataclass(frozen=True)
class Bug:
    """One hand BPTT with one mistake, and the diagnosis it must get."""

    name: str
    cell: str                       # "rnn", "lstm" or "gru"
    kind: str                       # the kind compare_grads must report
    symptom: str                    # what it looks like in the numbers
    slip: str                       # the switch of the student's BPTT above
    min_hidden: int = 1             # a transposed (H, H) block needs H >= 2
    needs_n_not_t: bool = False     # a factor N/T is 1 when N = T
    min_batch: int = 1              # a factor 1/N is 1 when N = 1

    @property
    def mistake(self) -> Said:
        """What the code does wrong: tour_text's ``zoo_<name>``, in English (the str)
        and in Persian (``in_language(bug.mistake, "fa")``)."""
        return said(f"zoo_{self.name}")

    def backward(self, state_dict: dict, x: np.ndarray, d_outputs: np.ndarray) -> Grads:
        """The hand BPTT, as ``check_hand_backward`` calls a hand_fn."""
        return _STUDENTS[self.cell](state_dict, x, d_outputs, self.slip)

    def visible(self, T: int, N: int, I: int, H: int) -> bool:  # noqa: E741, ARG002
        """Whether the mistake changes any gradient at these sizes (T, N, I, H)."""
        return self.min_hidden <= H and self.min_batch <= N and \
            not (self.needs_n_not_t and N == T)


_STUDENTS: dict[str, Callable[..., Grads]] = {"rnn": _rnn, "lstm": _lstm, "gru": _gru}

ZOO: tuple[Bug, ...] = (
    Bug("rnn_dropped_carry", "rnn", "missing_recurrent_carry",
        "right at the last step, wrong before it", "drop_carry"),
    Bug("lstm_dropped_cell_carry", "lstm", "missing_recurrent_carry",
        "every gradient wrong except the last step's share", "drop_cell_carry"),
    Bug("gru_dropped_carry", "gru", "missing_recurrent_carry", "right at the last step only",
        "drop_carry"),
    Bug("rnn_h_t_in_dW_hh", "rnn", "time_shift",
        "only dW_hh wrong, everything else right", "h_t_in_dW_hh"),
    Bug("lstm_c_t_in_df", "lstm", "time_shift",
        "the forget gate's rows wrong, and through them everything earlier", "c_t_in_df"),
    Bug("rnn_dtanh_of_h", "rnn", "wrong_point_derivative", "errors that grow with |h_t|",
        "dtanh_of_h"),
    Bug("lstm_sigmoid_of_gate", "lstm", "wrong_point_derivative",
        "every gate's gradient too large near s = 0 and 1", "sigmoid_of_gate"),
    Bug("lstm_dtanh_c_raw", "lstm", "wrong_point_derivative",
        "wrong wherever |c_t| is large", "dtanh_c_raw"),
    Bug("rnn_transposed_whh", "rnn", "transpose",
        "right at the last step, wrong before it", "transposed_whh", min_hidden=2),
    Bug("lstm_gate_swap", "lstm", "gate_swap",
        "the g and o row blocks exchanged (and wrong earlier steps)", "gate_swap"),
    Bug("gru_reset_before_whn", "gru", "reset_gate_placement", "every gradient slightly off",
        "reset_before"),
    Bug("rnn_first_step_only", "rnn", "first_step_only",
        "dW_ih equals the first step's share", "first_step_only"),
    Bug("rnn_last_step_only", "rnn", "last_step_only",
        "the weights equal the last step's share", "last_step_only"),
    Bug("lstm_no_bias_hh", "lstm", "bias_confusion",
        "bias_hh all zeros, bias_ih right", "no_bias_hh"),
    Bug("gru_bias_hh_from_ih", "gru", "bias_confusion",
        "bias_hh equals bias_ih's gradient", "bias_hh_from_ih"),
    Bug("rnn_extra_1_over_N", "rnn", "loss_reduction",
        "every gradient 1/N of the right one", "extra_1_over_N", min_batch=2),
    Bug("lstm_wrong_axis", "lstm", "loss_reduction",
        "every gradient N/T of the right one", "wrong_axis", needs_n_not_t=True),
    Bug("gru_clipping_inside", "gru", "clipping", "large gradients cut, small ones right",
        "clip"),
    Bug("rnn_sign", "rnn", "sign", "actual = -expected", "sign"),
    Bug("lstm_zero_dW_ih", "lstm", "zero", "weight_ih all zeros", "zero_dW_ih"),
    Bug("rnn_no_h0", "rnn", "missing", "no 'h0' among the hand gradients", "no_h0"),
)


# --------------------------------------------------------------------------- running it


def autograd_gradients(cell: str, state_dict: dict, x: np.ndarray,
                       d_outputs: np.ndarray) -> tuple[Any, Grads]:
    """(the layer, its autograd gradients of sum(d_outputs * output)), by the same names
    as the hand ones (parameters without the ``_l0``, and ``x``, ``h0``, ``c0``)."""
    from .. import nn
    from ..tensor import Tensor

    T, N, I = x.shape  # noqa: E741
    H = d_outputs.shape[-1]
    layer = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](I, H)
    layer.load_state_dict({k if k.endswith("_l0") else k + "_l0": np.asarray(v)
                           for k, v in state_dict.items()})
    xt = Tensor(x, requires_grad=True)
    states = [Tensor(np.zeros((1, N, H)), requires_grad=True)
              for _ in range(2 if cell == "lstm" else 1)]
    out, _ = layer(xt, tuple(states) if cell == "lstm" else states[0])
    out.backward(d_outputs)
    grads = {name[:-3]: p.grad for name, p in layer.named_parameters()}
    grads["x"] = xt.grad
    grads["h0"] = np.asarray(states[0].grad)[0]
    if cell == "lstm":
        grads["c0"] = np.asarray(states[1].grad)[0]
    return layer, grads


def problem(cell: str, T: int, N: int, I: int, H: int, seed: int) -> tuple[dict, np.ndarray,  # noqa: E741
                                                                           np.ndarray]:
    """A layer's parameters, x and dL/d(outputs), drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    G = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    k = 1 / np.sqrt(H)
    state_dict = {"weight_ih": rng.uniform(-k, k, (G * H, I)),
                  "weight_hh": rng.uniform(-k, k, (G * H, H)),
                  "bias_ih": rng.uniform(-k, k, G * H), "bias_hh": rng.uniform(-k, k, G * H)}
    return state_dict, rng.standard_normal((T, N, I)), rng.standard_normal((T, N, H))


HandFn = Callable[[dict, np.ndarray, np.ndarray], Grads]


def diagnose(hand_fn: HandFn | Bug, cell: str | None = None,
             T: int = 5, N: int = 3, I: int = 4, H: int = 3,  # noqa: E741
             seed: int = 0) -> GradComparison:
    """Run a hand BPTT (a ``Bug``, or any ``hand_fn(state_dict, x, d_outputs)`` for
    ``cell``) beside autograd and return ``tr.compare_grads``' report on it.

    The comparison gets everything it can use: x's gradient with its time axis,
    the layer's gates, and the layer with its input (``model=``, ``inputs=``), so
    that summed parameter gradients are fitted against candidate mistakes.
    """
    from ..compare import compare_grads
    from ..tensor import Tensor

    if isinstance(hand_fn, Bug):
        cell, hand_fn = hand_fn.cell, hand_fn.backward
    if cell not in _STUDENTS:
        raise ValueError(f"diagnose: cell must be 'rnn', 'lstm' or 'gru', got {cell!r}")
    state_dict, x, d_out = problem(cell, T, N, I, H, seed)
    layer, expected = autograd_gradients(cell, state_dict, x, d_out)
    actual = hand_fn(dict(state_dict), x.copy(), d_out.copy())
    actual = {k: v for k, v in actual.items() if k in expected}
    return compare_grads(expected, actual, rtol=1e-7, atol=1e-10, time_axis={"x": 0},
                         model=layer, inputs=x, loss_fn=lambda out: (out * Tensor(d_out)).sum())


def zoo_table(T: int = 5, N: int = 3, I: int = 4, H: int = 3, seed: int = 0) -> str:  # noqa: E741
    """The zoo as a markdown table: the mistake, its symptom and what compare_grads prints."""
    lines = ["| bug | mistake | symptom | `compare_grads` says |", "|---|---|---|---|"]
    for bug in ZOO:
        report = diagnose(bug, T=T, N=N, I=I, H=H, seed=seed)
        first = next((d for d in report.diagnoses if d.kind == bug.kind), None)
        said = f"`{bug.kind}`: {first.message}" if first else "(not diagnosed)"
        lines.append(f"| {bug.name} | {bug.mistake} | {bug.symptom} | "
                     f"{said.replace('|', '/')} |")
    return "\n".join(lines)
