"""compare_grads' kinds without a model: each mistake made by hand on a correct
gradient (from the reference BPTT), and the kind it must get."""

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import nn, reference as R
from tinygrad_rnn.compare import KINDS, Diagnosis


def lstm_grads(T=4, N=3, I=3, H=2, seed=0):
    rng = np.random.default_rng(seed)
    p = {"weight_ih": rng.uniform(-1, 1, (4 * H, I)), "weight_hh": rng.uniform(-1, 1, (4 * H, H)),
         "bias_ih": rng.uniform(-1, 1, 4 * H), "bias_hh": rng.uniform(-1, 1, 4 * H)}
    x, d = rng.standard_normal((T, N, I)), rng.standard_normal((T, N, H))
    _, _, cache = R.lstm_forward(p, x)
    return R.lstm_backward(cache, d)


def test_a_diagnosis_is_its_message_with_a_name_and_a_kind():
    d = Diagnosis("w", "sign", "sign flipped")
    assert d == "sign flipped" and "flipped" in d and (d.name, d.kind, d.message) == \
        ("w", "sign", "sign flipped")


def test_the_summary_counts_and_comes_first():
    g = lstm_grads()
    ok = tr.compare_grads(g, dict(g))
    assert ok.summary.startswith(f"all {len(g)} gradients agree, worst relative error")
    bad = tr.compare_grads(g, {**g, "x": -g["x"], "h0": np.zeros_like(g["h0"])})
    assert bad.summary == f"2 of {len(g)} disagree: x (sign), h0 (zero)"
    assert str(bad).splitlines()[0] == bad.summary
    assert all(d.kind in KINDS for d in bad.diagnoses)


@pytest.mark.parametrize("gates", ["ifgo", ("i", "f", "g", "o"), None])
def test_two_gates_row_blocks_exchanged(gates):
    g = lstm_grads()
    H = g["weight_hh"].shape[1]
    swapped = g["weight_ih"].copy()
    swapped[2 * H:3 * H], swapped[3 * H:] = g["weight_ih"][3 * H:], g["weight_ih"][2 * H:3 * H]
    report = tr.compare_grads({"weight_ih": g["weight_ih"]}, {"weight_ih": swapped}, gates=gates)
    kinds = [d.kind for d in report.diagnoses]
    assert kinds == (["gate_swap"] if gates else ["unknown"])
    if gates:
        assert "g and o" in report.diagnoses[0].message


def test_the_gates_of_a_module_are_its_own():
    lstm = nn.LSTM(2, 3)
    out, _ = lstm(tr.Tensor(np.ones((2, 1, 2))))
    out.sum().backward()
    grads = {n: p.grad for n, p in lstm.named_parameters()}
    w = grads["weight_hh_l0"]
    broken = {**grads, "weight_hh_l0": np.concatenate([w[3:6], w[:3], w[6:]])}
    report = tr.compare_grads(lstm, broken)
    assert report["weight_hh_l0"].diagnoses[0].kind == "gate_swap"


@pytest.mark.parametrize(("factor", "words"), [(1 / 3, "extra 1/N"), (5, "missing 1/T"),
                                               (1 / 15, "extra 1/(N T)"), (3 / 5, "wrong axis")])
def test_a_loss_reduction_factor_is_named(factor, words):
    g = lstm_grads()
    report = tr.compare_grads({"w": g["weight_ih"]}, {"w": factor * g["weight_ih"]},
                              batch_size=3, seq_len=5)
    (d,) = report.diagnoses
    assert d.kind == "loss_reduction" and words in d.message
    plain = tr.compare_grads({"w": g["weight_ih"]}, {"w": factor * g["weight_ih"]})
    assert plain.diagnoses[0].kind == "scale"   # without N and T: a plain scale


def test_bias_ih_and_bias_hh_mixed_up_or_one_missing():
    rng = np.random.default_rng(1)
    e = {"bias_ih": rng.standard_normal(3), "bias_hh": rng.standard_normal(3)}
    mixed = tr.compare_grads(e, {"bias_ih": e["bias_hh"], "bias_hh": e["bias_ih"]})
    assert [d.kind for d in mixed.diagnoses] == ["bias_confusion"] * 2
    one = tr.compare_grads(e, {"bias_ih": e["bias_ih"], "bias_hh": np.zeros(3)})
    assert [(d.name, d.kind) for d in one.diagnoses] == [("bias_hh", "bias_confusion")]


def test_per_step_arrays_show_a_shift_and_a_dropped_carry():
    rng = np.random.default_rng(2)
    T, N, H = 6, 2, 3
    W = rng.uniform(-1, 1, (H, H))
    d_out = rng.standard_normal((T, N, H))
    dh = np.empty_like(d_out)             # dL/dh_t of h_t = h_{t-1} W^T + x_t, linear
    carry = np.zeros((N, H))
    for t in reversed(range(T)):
        dh[t] = d_out[t] + carry
        carry = dh[t] @ W
    shifted = np.concatenate([dh[:1] * 0.5, dh[:-1]])
    report = tr.compare_grads({"dh": dh}, {"dh": shifted}, time_axis=0)
    assert report.diagnoses[0].kind == "time_shift"
    assert "worst relative error per time step" in str(report)
    assert len(report["dh"].steps) == T
    report = tr.compare_grads({"dh": dh}, {"dh": d_out}, time_axis=0)   # carry dropped
    assert report.diagnoses[0].kind == "missing_recurrent_carry"
    assert report["dh"].steps[-1] == 0 and report["dh"].steps[-2] > 0


def test_model_refusals_name_the_argument():
    g = {"w": np.ones(2)}
    with pytest.raises(ValueError, match="model must be a one-layer, one-direction"):
        tr.compare_grads(g, g, model=nn.LSTM(2, 2, num_layers=2), inputs=np.ones((2, 1, 2)))
    with pytest.raises(ValueError, match="model= needs inputs="):
        tr.compare_grads(g, g, model=nn.GRU(2, 2))
    with pytest.raises(TypeError, match="gates must be"):
        tr.compare_grads(g, g, gates=3)


def test_a_lost_constant_scales_every_gradient_alike():
    """Every gradient off by one factor is a scale; factors that differ from gradient to
    gradient (the issue's shrunk dropped carry at N = I = H = 1, where every gradient is
    one number) are not called a lost constant."""
    g = {k: v for k, v in lstm_grads().items() if k.startswith(("weight", "bias"))}
    halved = tr.compare_grads(g, {k: 0.5 * v for k, v in g.items()})
    assert {d.kind for d in halved.diagnoses} == {"scale"}
    uneven = tr.compare_grads(g, {k: (0.5 + i) * v for i, (k, v) in enumerate(g.items())})
    assert "scale" not in {d.kind for d in uneven.diagnoses}
    assert all("different factors" in d.message for d in uneven.diagnoses)
    one_number = tr.compare_grads({"w": np.array([[2.0]])}, {"w": np.array([[1.984]])})
    assert [d.kind for d in one_number.diagnoses] == ["unknown"]
