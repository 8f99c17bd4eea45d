"""The hand-derived BPTT in tinygrad_rnn.reference, checked four ways:
against central finite differences of its own forward pass, against our own
nn layers' autograd (to 1e-10 relative), against torch (when installed), and
against the notebook's bugs it reproduces on purpose."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_rnn as tr
from tinygrad_rnn import nn, reference as R
from tinygrad_rnn.reference.notebook import (
    PARAM_NAMES,
    notebook_bptt,
    notebook_forward,
    notebook_loss,
)
from tinygrad_rnn.testing import check_hand_backward, recurrent_configs

KINDS = {
    "rnn": (1, R.rnn_forward, R.rnn_backward),
    "lstm": (4, R.lstm_forward, R.lstm_backward),
    "gru": (3, R.gru_forward, R.gru_backward),
}


def random_problem(kind, T, N, I, H, seed):
    rng = np.random.default_rng(seed)
    gates = KINDS[kind][0]
    params = {
        "weight_ih": rng.uniform(-0.8, 0.8, (gates * H, I)),
        "weight_hh": rng.uniform(-0.8, 0.8, (gates * H, H)),
        "bias_ih": rng.uniform(-0.5, 0.5, gates * H),
        "bias_hh": rng.uniform(-0.5, 0.5, gates * H),
    }
    states = {"x": rng.standard_normal((T, N, I)), "h0": rng.standard_normal((N, H))}
    if kind == "lstm":
        states["c0"] = rng.standard_normal((N, H))
    upstream = {"out": rng.standard_normal((T, N, H)), "hn": rng.standard_normal((N, H)),
                "cn": rng.standard_normal((N, H))}
    return params, states, upstream


def run(kind, params, states, upstream):
    """The scalar L = sum(v * outputs) + sum(v_h * h_T) [+ sum(v_c * c_T)] and its gradients."""
    _, forward, backward = KINDS[kind]
    if kind == "lstm":
        out, (hn, cn), cache = forward(params, states["x"], states["h0"], states["c0"])
        loss = (np.sum(upstream["out"] * out) + np.sum(upstream["hn"] * hn)
                + np.sum(upstream["cn"] * cn))
        return loss, lambda: backward(cache, upstream["out"], upstream["hn"], upstream["cn"])
    out, cache = forward(params, states["x"], states["h0"])
    loss = np.sum(upstream["out"] * out) + np.sum(upstream["hn"] * out[-1])
    return loss, lambda: backward(cache, upstream["out"], upstream["hn"])


def finite_differences(kind, params, states, upstream, eps=1e-6):
    arrays = {**params, **states}
    grads = {}
    for name, a in arrays.items():
        g = np.zeros_like(a)
        flat = a.reshape(-1)
        for i in range(flat.size):
            original = flat[i]
            flat[i] = original + eps
            plus, _ = run(kind, params, states, upstream)
            flat[i] = original - eps
            minus, _ = run(kind, params, states, upstream)
            flat[i] = original
            g.reshape(-1)[i] = (plus - minus) / (2 * eps)
        grads[name] = g
    return grads


@pytest.mark.parametrize("kind", KINDS)
@given(T=st.integers(1, 4), N=st.integers(1, 3), I=st.integers(1, 3), H=st.integers(1, 3),
       seed=st.integers(0, 2**31))
def test_hand_bptt_matches_finite_differences(kind, T, N, I, H, seed):
    params, states, upstream = random_problem(kind, T, N, I, H, seed)
    _, backward = run(kind, params, states, upstream)
    analytic = backward()
    numeric = finite_differences(kind, params, states, upstream)
    for name, expected in numeric.items():
        np.testing.assert_allclose(analytic[name], expected, rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("kind", KINDS)
@given(T=st.integers(1, 5), N=st.integers(1, 3), I=st.integers(1, 3), H=st.integers(1, 4),
       seed=st.integers(0, 2**31), bias=st.booleans())
def test_hand_bptt_equals_our_autograd_to_1e10(kind, T, N, I, H, seed, bias):
    """Every gradient (weights, x, h0, c0), with upstream gradients on the outputs
    and the final states, equals what loss.backward() gives through our nn layer."""
    params, states, upstream = random_problem(kind, T, N, I, H, seed)
    if not bias:
        params = {k: v for k, v in params.items() if k.startswith("weight")}
    layer = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind](I, H, bias=bias)
    layer.load_state_dict({k + "_l0": v for k, v in params.items()})
    x = tr.Tensor(states["x"], requires_grad=True)
    h0 = tr.Tensor(states["h0"][None], requires_grad=True)
    if kind == "lstm":
        c0 = tr.Tensor(states["c0"][None], requires_grad=True)
        out, (hn, cn) = layer(x, (h0, c0))
        loss = (out * upstream["out"]).sum() + (hn[0] * upstream["hn"]).sum() \
            + (cn[0] * upstream["cn"]).sum()
    else:
        out, hn = layer(x, h0)
        loss = (out * upstream["out"]).sum() + (hn[0] * upstream["hn"]).sum()
    loss.backward()
    ours_loss, backward = run(kind, params, states, upstream)
    hand = backward()
    assert ours_loss == pytest.approx(loss.item(), rel=1e-12)
    autograd = {name[:-3]: p.grad for name, p in layer.named_parameters()}
    autograd.update(x=x.grad, h0=h0.grad[0])
    if kind == "lstm":
        autograd["c0"] = c0.grad[0]
    for name, want in autograd.items():
        np.testing.assert_allclose(hand[name], want, rtol=1e-10, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("kind", KINDS)
def test_hand_bptt_passes_the_hand_backward_checker_to_1e10(kind):
    """The same through tinygrad_rnn.testing.check_hand_backward, over Hypothesis configs."""
    def hand_fn(state_dict, x, d_out):
        _, forward, backward = KINDS[kind]
        return backward(forward(state_dict, x)[-1], d_out)

    check_hand_backward(hand_fn, recurrent_configs(kinds=kind, num_layers=1, bidirectional=False,
                                                   batch_first=False), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("kind", KINDS)
def test_hand_bptt_matches_torch(kind):
    torch = pytest.importorskip("torch")
    T, N, I, H = 6, 3, 4, 5
    params, states, upstream = random_problem(kind, T, N, I, H, seed=1)
    layer = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](I, H).double()
    layer.load_state_dict({k + "_l0": torch.tensor(v) for k, v in params.items()})
    x = torch.tensor(states["x"], requires_grad=True)
    h0 = torch.tensor(states["h0"][None], requires_grad=True)
    if kind == "lstm":
        c0 = torch.tensor(states["c0"][None], requires_grad=True)
        out, (hn, cn) = layer(x, (h0, c0))
        extra = (cn[0] * torch.tensor(upstream["cn"])).sum()
    else:
        out, hn = layer(x, h0)
        extra = 0.0
    loss = ((out * torch.tensor(upstream["out"])).sum()
            + (hn[0] * torch.tensor(upstream["hn"])).sum() + extra)
    loss.backward()
    ours_loss, backward = run(kind, params, states, upstream)
    ours = backward()
    np.testing.assert_allclose(ours_loss, loss.item(), rtol=1e-12)
    expected = {name + "": p.grad.numpy() for name, p in
                ((n[:-3], p) for n, p in layer.named_parameters())}
    expected["x"], expected["h0"] = x.grad.numpy(), h0.grad.numpy()[0]
    if kind == "lstm":
        expected["c0"] = c0.grad.numpy()[0]
    for name, want in expected.items():
        np.testing.assert_allclose(ours[name], want, rtol=1e-10, atol=1e-13, err_msg=name)


# --------------------------------------------------------------------------- the notebook


def notebook_problem(seed=0):
    rng = np.random.default_rng(seed)
    params = {"W_x": rng.standard_normal((4, 1)), "W_h": rng.standard_normal((4, 4)),
              "W_y": rng.standard_normal((1, 4)), "b_h": rng.standard_normal((4, 1)) * 0.5,
              "b_y": np.zeros((1, 1))}
    inputs = [np.array([[0.1]]), np.array([[0.2]]), np.array([[0.3]])]
    targets = [np.array([[0.2]]), np.array([[0.3]]), np.array([[0.4]])]
    return params, inputs, targets


def notebook_numeric_grads(params, inputs, targets, eps=1e-6):
    grads = {}
    for name in PARAM_NAMES:
        g = np.zeros_like(params[name])
        flat = params[name].reshape(-1)
        for i in range(flat.size):
            original = flat[i]
            flat[i] = original + eps
            plus = notebook_loss(notebook_forward(params, inputs)[0], targets)
            flat[i] = original - eps
            minus = notebook_loss(notebook_forward(params, inputs)[0], targets)
            flat[i] = original
            g.reshape(-1)[i] = (plus - minus) / (2 * eps)
        grads[name] = g
    return grads


def test_corrected_notebook_bptt_is_the_gradient_of_the_printed_loss():
    params, inputs, targets = notebook_problem()
    _, grads = notebook_bptt(params, inputs, targets, faithful=False)
    numeric = notebook_numeric_grads(params, inputs, targets)
    for name in PARAM_NAMES:
        np.testing.assert_allclose(grads[name], numeric[name], rtol=1e-6, atol=1e-9, err_msg=name)


def test_faithful_notebook_bptt_has_both_bugs():
    params, inputs, targets = notebook_problem()
    _, faithful = notebook_bptt(params, inputs, targets, faithful=True)
    numeric = notebook_numeric_grads(params, inputs, targets)
    # the output layer does not meet the dtanh bug: only the scale, T/2 = 1.5, is wrong
    np.testing.assert_allclose(faithful["W_y"], 1.5 * numeric["W_y"], rtol=1e-6)
    np.testing.assert_allclose(faithful["b_y"], 1.5 * numeric["b_y"], rtol=1e-6)
    # the recurrent weights meet dtanh(h_t) too: not even proportional to the truth
    ratio = faithful["W_h"] / numeric["W_h"]
    assert np.ptp(ratio) > 1e-3, ratio
    assert not np.allclose(faithful["W_x"], 1.5 * numeric["W_x"], rtol=1e-4)
