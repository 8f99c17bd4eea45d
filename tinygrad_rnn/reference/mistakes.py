"""Candidate mistakes: the BPTT of RNN, LSTM and GRU as it comes out with one classic slip.

``compare_grads(..., model=, inputs=)`` fits a hand derivation's gradients against
these candidates, computed for the same layer and inputs, and names the mistake
whose gradients the hand ones reproduce. They are families of mistakes, not a list
of someone's code: a dropped carry drops it whatever the code looks like, so any
hand BPTT that makes the same mathematical slip gives the same numbers.

Each candidate is one ``Mistake`` (the knobs of one BPTT loop below) or one
rearrangement of the correct pass's per-step terms (the weight sums taken at the
neighbouring step, or only at the last or first step). ``candidates(cell, params,
x, d_outputs)`` returns them all, each with its ``kind`` (compare_grads' stable
codes) and a description (a ``tour_text.Said``: English, and Persian too).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ..tour_text import Said, said
from ._params import unpack, weight_grads

GATES = {"rnn": ("h",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
# the activations whose derivative a hand derivation writes: every gate, and LSTM's tanh(c)
DERIVATIVE_SITES = {"rnn": ("h",), "lstm": ("i", "f", "g", "o", "c"), "gru": ("r", "z", "n")}
# the carries a BPTT can drop: LSTM's two states; GRU's dh_t * z and its W_hh path
CARRIES = {"rnn": ("h",), "lstm": ("h", "c"), "gru": ("z", "w")}
CLIP_VALUES = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


@dataclass(frozen=True)
class Mistake:
    """One slip in the BPTT loop (the default: none)."""

    drop: frozenset[str] = frozenset()          # carries dropped (see CARRIES)
    derivative: tuple[tuple[str, str], ...] = ()  # (site, "activated" | "raw") pairs
    swap: tuple[int, int] | None = None         # two gates' rows of dA exchanged
    transpose_whh: bool = False                 # dh_{t-1} = dA W_hh^T
    clip: float | None = None                   # dh_t clipped to [-clip, clip]
    shift: bool = False                         # the state of the neighbouring step
    reset_before: bool = False                  # GRU: r * (h W_hn^T) written (r * h) W_hn^T

    def style(self, site: str) -> str:
        return dict(self.derivative).get(site, "right")


@dataclass(frozen=True)
class Candidate:
    kind: str
    description: str   # a tour_text.Said: English, and Persian for --lang fa
    grads: dict[str, np.ndarray] = field(repr=False)


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def _tanh_grad(out: np.ndarray, pre: np.ndarray, style: str) -> np.ndarray:
    """tanh'(pre) = 1 - out**2, or a slip: tanh' taken at the output, or 1 - pre**2."""
    if style == "activated":
        return 1.0 - np.tanh(out) ** 2
    if style == "raw":
        return 1.0 - pre * pre
    return 1.0 - out * out


def _sigmoid_grad(out: np.ndarray, pre: np.ndarray, style: str) -> np.ndarray:
    """sigmoid'(pre) = out (1 - out), or a slip: sigmoid' taken at the output, or pre (1 - pre)."""
    if style == "activated":
        s = _sigmoid(out)
        return s * (1.0 - s)
    if style == "raw":
        return pre * (1.0 - pre)
    return out * (1.0 - out)


def _clip(dh: np.ndarray, m: Mistake) -> np.ndarray:
    return dh if m.clip is None else np.clip(dh, -m.clip, m.clip)


def _swap(da: np.ndarray, m: Mistake, H: int) -> None:
    if m.swap is not None:
        a, b = (slice(k * H, (k + 1) * H) for k in m.swap)
        da[:, a], da[:, b] = da[:, b].copy(), da[:, a].copy()


def _recurrent_matrix(W_hh: np.ndarray, m: Mistake) -> np.ndarray:
    """W_hh, or the slip: each gate's (H, H) block of it transposed."""
    if not m.transpose_whh:
        return W_hh
    H = W_hh.shape[1]
    return np.concatenate([W_hh[k:k + H].T for k in range(0, W_hh.shape[0], H)])


def _finish(dA_x: np.ndarray, x: np.ndarray, dA_h: np.ndarray, h_prev: np.ndarray,
            W_ih: np.ndarray, dh0: np.ndarray) -> dict[str, np.ndarray]:
    grads = weight_grads(dA_x, x, dA_h, h_prev)
    grads["x"] = dA_x @ W_ih
    grads["h0"] = dh0
    return grads


# --------------------------------------------------------------------------- RNN


def rnn(params: dict, x: np.ndarray, d_out: np.ndarray, h0: np.ndarray | None,
        m: Mistake) -> tuple[dict[str, np.ndarray], tuple]:
    W_ih, W_hh, b_ih, b_hh = unpack(params)
    T, N, _ = x.shape
    H = W_hh.shape[1]
    hs = np.zeros((T + 1, N, H))
    if h0 is not None:
        hs[0] = h0
    pre = np.empty((T, N, H))
    for t in range(T):
        pre[t] = x[t] @ W_ih.T + b_ih + hs[t] @ W_hh.T + b_hh
        hs[t + 1] = np.tanh(pre[t])
    dA = np.empty((T, N, H))
    dh_next = np.zeros((N, H))
    for t in reversed(range(T)):
        dh = _clip(d_out[t] + (0.0 if "h" in m.drop else dh_next), m)
        out = hs[t] if m.shift else hs[t + 1]     # tanh' at h_{t-1}
        dA[t] = dh * _tanh_grad(out, pre[t], m.style("h"))
        dh_next = dA[t] @ _recurrent_matrix(W_hh, m)
    return _finish(dA, x, dA, hs[:-1], W_ih, dh_next), (dA, dA, x, hs)


# --------------------------------------------------------------------------- LSTM


def lstm(params: dict, x: np.ndarray, d_out: np.ndarray, h0: np.ndarray | None,
         m: Mistake, c0: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], tuple]:
    W_ih, W_hh, b_ih, b_hh = unpack(params)
    T, N, _ = x.shape
    H = W_hh.shape[1]
    hs, cs = np.zeros((T + 1, N, H)), np.zeros((T + 1, N, H))
    if h0 is not None:
        hs[0] = h0
    if c0 is not None:
        cs[0] = c0
    pre = np.empty((T, N, 4 * H))
    act = np.empty((T, N, 4 * H))
    for t in range(T):
        pre[t] = x[t] @ W_ih.T + b_ih + hs[t] @ W_hh.T + b_hh
        act[t] = _sigmoid(pre[t])
        act[t, :, 2 * H:3 * H] = np.tanh(pre[t, :, 2 * H:3 * H])
        i, f, g = act[t, :, :H], act[t, :, H:2 * H], act[t, :, 2 * H:3 * H]
        cs[t + 1] = f * cs[t] + i * g
        hs[t + 1] = act[t, :, 3 * H:] * np.tanh(cs[t + 1])
    dA = np.empty((T, N, 4 * H))
    dh_next, dc_next = np.zeros((N, H)), np.zeros((N, H))
    for t in reversed(range(T)):
        i, f, g, o = (act[t, :, k * H:(k + 1) * H] for k in range(4))
        a_i, a_f, a_g, a_o = (pre[t, :, k * H:(k + 1) * H] for k in range(4))
        c = cs[t + 1]
        c_prev = cs[t + 1] if m.shift else cs[t]    # df = dc * c_t: the neighbouring step
        tanh_c = np.tanh(c)
        dh = _clip(d_out[t] + (0.0 if "h" in m.drop else dh_next), m)
        dc = (0.0 if "c" in m.drop else dc_next) + dh * o * _tanh_grad(tanh_c, c, m.style("c"))
        da = dA[t]
        da[:, :H] = dc * g * _sigmoid_grad(i, a_i, m.style("i"))
        da[:, H:2 * H] = dc * c_prev * _sigmoid_grad(f, a_f, m.style("f"))
        da[:, 2 * H:3 * H] = dc * i * _tanh_grad(g, a_g, m.style("g"))
        da[:, 3 * H:] = dh * tanh_c * _sigmoid_grad(o, a_o, m.style("o"))
        _swap(da, m, H)
        dc_next = dc * f
        dh_next = da @ _recurrent_matrix(W_hh, m)
    grads = _finish(dA, x, dA, hs[:-1], W_ih, dh_next)
    grads["c0"] = dc_next
    return grads, (dA, dA, x, hs)


# --------------------------------------------------------------------------- GRU


def gru(params: dict, x: np.ndarray, d_out: np.ndarray, h0: np.ndarray | None,
        m: Mistake) -> tuple[dict[str, np.ndarray], tuple]:
    W_ih, W_hh, b_ih, b_hh = unpack(params)
    T, N, _ = x.shape
    H = W_hh.shape[1]
    hs = np.zeros((T + 1, N, H))
    if h0 is not None:
        hs[0] = h0
    pre = np.empty((T, N, 3 * H))
    act = np.empty((T, N, 3 * H))
    hidden_n = np.empty((T, N, H))   # what r multiplies: W_hn h + b_hn (or r * h before W_hn)
    for t in range(T):
        xp = x[t] @ W_ih.T + b_ih
        hp = hs[t] @ W_hh.T + b_hh
        pre[t, :, :2 * H] = xp[:, :2 * H] + hp[:, :2 * H]
        act[t, :, :2 * H] = _sigmoid(pre[t, :, :2 * H])
        r = act[t, :, :H]
        if m.reset_before:
            pre[t, :, 2 * H:] = xp[:, 2 * H:] + (r * hs[t]) @ W_hh[2 * H:].T + b_hh[2 * H:]
        else:
            hidden_n[t] = hp[:, 2 * H:]
            pre[t, :, 2 * H:] = xp[:, 2 * H:] + r * hidden_n[t]
        act[t, :, 2 * H:] = np.tanh(pre[t, :, 2 * H:])
        z, n = act[t, :, H:2 * H], act[t, :, 2 * H:]
        hs[t + 1] = (1.0 - z) * n + z * hs[t]
    dA_x, dA_h = np.empty((T, N, 3 * H)), np.empty((T, N, 3 * H))
    dW_hn = np.zeros((H, H))
    dh_next = np.zeros((N, H))
    for t in reversed(range(T)):
        r, z, n = (act[t, :, k * H:(k + 1) * H] for k in range(3))
        a_r, a_z, a_n = (pre[t, :, k * H:(k + 1) * H] for k in range(3))
        h_prev = hs[t + 1] if m.shift else hs[t]   # dz = dh (h_t - n): the neighbouring step
        dh = _clip(d_out[t] + (0.0 if "h" in m.drop else dh_next), m)
        da_n = dh * (1.0 - z) * _tanh_grad(n, a_n, m.style("n"))
        da_z = dh * (h_prev - n) * _sigmoid_grad(z, a_z, m.style("z"))
        carry = np.zeros((N, H)) if "z" in m.drop else dh * z
        if m.reset_before:
            d_rh = da_n @ W_hh[2 * H:]
            da_r = d_rh * hs[t] * _sigmoid_grad(r, a_r, m.style("r"))
            dW_hn += da_n.T @ (r * hs[t])
            carry = carry + d_rh * r
            hidden_part = da_n       # the n block of dA_h, for b_hn; its weight is dW_hn
        else:
            da_r = da_n * hidden_n[t] * _sigmoid_grad(r, a_r, m.style("r"))
            hidden_part = da_n * r
        dA_x[t] = np.concatenate([da_r, da_z, da_n], axis=1)
        dA_h[t] = np.concatenate([da_r, da_z, hidden_part], axis=1)
        _swap(dA_x[t], m, H)
        _swap(dA_h[t], m, H)
        through_w = dA_h[t] @ _recurrent_matrix(W_hh, m)
        if m.reset_before:
            through_w[:] = dA_h[t, :, :2 * H] @ _recurrent_matrix(W_hh, m)[:2 * H]
        dh_next = carry + (0.0 if "w" in m.drop else through_w)
    grads = _finish(dA_x, x, dA_h, hs[:-1], W_ih, dh_next)
    if m.reset_before:
        grads["weight_hh"][2 * H:] = dW_hn
    return grads, (dA_x, dA_h, x, hs)


BPTT: dict[str, Callable[..., tuple[dict[str, np.ndarray], tuple]]] = {
    "rnn": rnn, "lstm": lstm, "gru": gru}


# --------------------------------------------------------------------------- the candidates


def _loop_mistakes(cell: str, H: int) -> Iterator[tuple[str, Said, Mistake]]:
    """(kind, description, mistake) for every slip of the BPTT loop itself (the
    descriptions' words are in tour_text.py, keys mc_*)."""
    carries = CARRIES[cell] + (("h",) if cell == "gru" else ())
    for carry in carries:
        yield ("missing_recurrent_carry", said("mc_dropped", carry=said(f"mc_carry_{carry}")),
               Mistake(drop=frozenset({carry})))
    if cell == "lstm":
        yield ("missing_recurrent_carry", said("mc_both_carries"),
               Mistake(drop=frozenset({"h", "c"})))
    for style in ("activated", "raw"):
        for group, which in _site_groups(cell):
            yield ("wrong_point_derivative",
                   said("mc_derivative", which=which, how=said(f"mc_how_{style}")),
                   Mistake(derivative=tuple((s, style) for s in group)))
    gates = GATES[cell]
    for a in range(len(gates)):
        for b in range(a + 1, len(gates)):
            if len(gates) > 1:
                yield ("gate_swap", said("mc_gate_swap", a=gates[a], b=gates[b]),
                       Mistake(swap=(a, b)))
    if H > 1:
        yield ("transpose", said("mc_transpose_whh"), Mistake(transpose_whh=True))
    yield ("time_shift", said(f"mc_shift_{cell}"), Mistake(shift=True))
    for value in CLIP_VALUES:
        yield ("clipping", said("mc_clip", value=value), Mistake(clip=value))
    if cell == "gru":
        yield ("reset_gate_placement", said("mc_reset_before"), Mistake(reset_before=True))


def _site_groups(cell: str) -> Iterator[tuple[tuple[str, ...], str]]:
    """Each activation alone, every sigmoid, every tanh, and all of them."""
    sites = DERIVATIVE_SITES[cell]
    for site in sites:
        yield (site,), _site_name(site)
    sigmoids = tuple(s for s in sites if s in "ifozr")
    tanhs = tuple(s for s in sites if s not in sigmoids)
    for group, which in ((sigmoids, "mc_every_sigmoid"), (tanhs, "mc_every_tanh"),
                         (sites, "mc_every_activation")):
        if len(group) > 1:
            yield group, said(which)


def _site_name(site: str) -> str:
    return "tanh(c)" if site == "c" else ("tanh" if site == "h" else said("mc_site_gate",
                                                                          site=site))


def _rearranged(dA_x: np.ndarray, dA_h: np.ndarray, x: np.ndarray,
                h_prev: np.ndarray, h_now: np.ndarray) -> Iterator[tuple[str, Said, dict]]:
    """Weight sums of the correct pass taken over the wrong steps, or at the wrong step."""
    def shifted(a: np.ndarray, by: int) -> np.ndarray:
        out = np.zeros_like(a)
        if by > 0:
            out[:-by] = a[by:]
        else:
            out[-by:] = a[:by]
        return out

    yield "time_shift", said("mc_dW_hh_h_t"), weight_grads(dA_x, x, dA_h, h_now)
    yield "time_shift", said("mc_dW_hh_h_t2"), \
        weight_grads(dA_x, x, dA_h, shifted(h_prev, -1))
    for by, which in ((1, "x_{t+1}"), (-1, "x_{t-1}")):
        yield "time_shift", said("mc_dW_ih_shift", which=which), \
            weight_grads(dA_x, shifted(x, by), dA_h, h_prev)
    for steps, kind, when in ((slice(-1, None), "last_step_only", "mc_when_last"),
                              (slice(0, 1), "first_step_only", "mc_when_first")):
        yield kind, said("mc_assigned", when=said(when)), \
            weight_grads(dA_x[steps], x[steps], dA_h[steps], h_prev[steps])


def candidates(cell: str, params: dict, x: np.ndarray, d_outputs: np.ndarray,
               h0: np.ndarray | None = None) -> list[Candidate]:
    """Every candidate mistake's gradients for one layer ('rnn', 'lstm' or 'gru'),
    its parameters (a state dict), x (T, N, I) and dL/d(outputs) (T, N, H).

    A candidate whose gradients equal the correct ones (a clip that never binds,
    say) is left out: it could not explain a disagreement."""
    bptt = BPTT[cell]
    H = unpack(params)[1].shape[1]
    correct, (dA_x, dA_h, xs, hs) = bptt(params, x, d_outputs, h0, Mistake())
    found = [Candidate(kind, description, bptt(params, x, d_outputs, h0, mistake)[0])
             for kind, description, mistake in _loop_mistakes(cell, H)]
    found += [Candidate(kind, description, {**correct, **weights})
              for kind, description, weights in _rearranged(dA_x, dA_h, xs, hs[:-1], hs[1:])]
    return [c for c in found if not all(np.array_equal(c.grads[k], v) for k, v in correct.items())]
