"""tinygrad_rnn.trace: gate traces equal a hand-written numpy forward and change
nothing; gradient flow equals dL/dh_t from hand-derived BPTT and shows vanishing
gradients in a tanh RNN but not in an LSTM."""

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, nn, trace
from tinygrad_rnn.nn import cells
from tinygrad_rnn.nn.recurrent import Recurrent
from tinygrad_rnn.reference import (
    gru_backward,
    gru_forward,
    lstm_backward,
    lstm_forward,
    rnn_backward,
    rnn_forward,
)

from _helpers import CIFGCell

LAYERS = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}
CELLS = {"RNN": nn.RNNCell, "LSTM": nn.LSTMCell, "GRU": nn.GRUCell}


def params_of(module, layer=0, direction=0) -> dict:
    """One layer and direction of a state dict, under the reference's names."""
    sfx = f"_l{layer}" + ("_reverse" if direction else "")
    sd = module.state_dict()
    return {name: sd[name + sfx] for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            if name + sfx in sd} if isinstance(module, Recurrent) else sd


def reference_trace(kind, params, x, h0=None, c0=None) -> dict:
    """{name: (T, N, H)} from the hand-written numpy forward passes of tinygrad_rnn.reference."""
    H = params["weight_hh"].shape[1]
    if kind == "RNN":
        outs, _ = rnn_forward(params, x, h0)
        return {"h": outs}
    if kind == "LSTM":
        outs, _, (_, _, cs, gates, _, _) = lstm_forward(params, x, h0, c0)
        split = {k: gates[..., j * H:(j + 1) * H] for j, k in enumerate("ifgo")}
        return {**split, "c": cs[1:], "h": outs}
    outs, (_, _, r_z_n, _, _, _) = gru_forward(params, x, h0)
    return {**{k: r_z_n[..., j * H:(j + 1) * H] for j, k in enumerate("rzn")}, "h": outs}


def assert_trace_matches(got: dict, want: dict):
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name].shape == want[name].shape, name
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=1e-13, err_msg=name)


def rng_data(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# --------------------------------------------------------------------------- gate traces


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_gate_trace_equals_the_reference_forward_from_the_same_weights(kind):
    tr.manual_seed(1)
    layer = LAYERS[kind](3, 4)
    x = rng_data(5, 2, 3)
    h0, c0 = rng_data(2, 4, seed=1), rng_data(2, 4, seed=2)
    state = (Tensor(h0[None]), Tensor(c0[None])) if kind == "LSTM" else Tensor(h0[None])
    gates, (output, _) = trace.gate_trace(layer, x, state)
    want = reference_trace(kind, params_of(layer), x, h0, c0)
    assert_trace_matches(gates[0, 0], want)
    assert list(gates) == [(0, 0)]
    np.testing.assert_allclose(output.data, want["h"], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_stacked_bidirectional_batch_first_traces_are_time_major_and_in_time_order(kind):
    tr.manual_seed(2)
    layer = LAYERS[kind](3, 4, num_layers=2, bidirectional=True, batch_first=True)
    x_bf = rng_data(2, 6, 3)  # (N, T, I)
    gates, _ = trace.gate_trace(layer, x_bf)
    assert sorted(gates) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    x = x_bf.transpose(1, 0, 2)
    assert_trace_matches(gates[0, 0], reference_trace(kind, params_of(layer, 0, 0), x))
    # the reverse direction reads the sequence backwards; its trace is stored in time order
    backwards = reference_trace(kind, params_of(layer, 0, 1), x[::-1])
    assert_trace_matches(gates[0, 1], {k: v[::-1] for k, v in backwards.items()})
    # layer 1 reads both directions of layer 0 (no dropout): keys name the right weights
    x1 = np.concatenate([gates[0, 0]["h"], gates[0, 1]["h"]], axis=-1)
    assert_trace_matches(gates[1, 0], reference_trace(kind, params_of(layer, 1, 0), x1))
    backwards = reference_trace(kind, params_of(layer, 1, 1), x1[::-1])
    assert_trace_matches(gates[1, 1], {k: v[::-1] for k, v in backwards.items()})


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("batched", [True, False])
def test_a_cell_run_step_by_step_is_traced_like_a_layer(kind, batched):
    tr.manual_seed(3)
    cell = CELLS[kind](3, 4)
    x = rng_data(4, 2, 3)
    gates, (output, _) = trace.gate_trace(cell, x if batched else x[:, 0])
    want = reference_trace(kind, params_of(cell), x if batched else x[:, :1])
    assert_trace_matches(gates[0, 0], want)
    np.testing.assert_allclose(output.data, want["h"] if batched else want["h"][:, 0], rtol=1e-12)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_recording_changes_neither_outputs_nor_gradients(kind):
    def run(record: bool):
        tr.manual_seed(4)
        layer = LAYERS[kind](3, 4, num_layers=2, bidirectional=True)
        x = Tensor(rng_data(5, 2, 3), requires_grad=True)
        if record:
            with trace.record_gates() as rec:
                out, state = layer(x)
            assert len(rec.steps) == 2 * 2 * 5
        else:
            out, state = layer(x)
        states = state if isinstance(state, tuple) else (state,)
        (out * Tensor(rng_data(*out.shape, seed=5))).sum().backward()
        return [out.data, *(s.data for s in states), x.grad] + [p.grad for p in layer.parameters()]

    for plain, recorded in zip(run(False), run(True), strict=True):
        assert np.array_equal(plain, recorded)
    assert cells.tracing.recorder is None


def test_a_sequence_in_chunks_is_joined_along_time():
    tr.manual_seed(5)
    lstm = nn.LSTM(2, 3, bidirectional=False)
    x = rng_data(6, 1, 2)
    whole, _ = trace.gate_trace(lstm, x)
    with trace.record_gates() as rec:
        _, state = lstm(Tensor(x[:4]))
        lstm(Tensor(x[4:]), state)
    for name in "ifgoch":
        np.testing.assert_allclose(rec.layers[0, 0][name], whole[0, 0][name], rtol=1e-12)


def test_recorder_bookkeeping_and_errors():
    tr.manual_seed(6)
    rnn, gru = nn.RNN(2, 3), nn.GRU(2, 3)
    x = Tensor(rng_data(3, 1, 2))
    with trace.record_gates() as rec:
        rnn(x)
        gru(x)
        # a step function called directly belongs to no module
        cells.rnn_step(Tensor(np.zeros((1, 3))), Tensor(np.ones((1, 3))), Tensor(np.eye(3)))
    assert rec.modules() == [rnn, gru, None]
    assert rec.of(gru)[0, 0]["z"].shape == (3, 1, 3)
    assert rec.of(None)[0, 0]["h"].shape == (1, 1, 3)
    with pytest.raises(ValueError, match="3 modules ran while recording"):
        rec.layers  # noqa: B018  (reading it raises)
    with pytest.raises(KeyError, match="LSTM"):
        rec.of(nn.LSTM(2, 3))
    with pytest.raises(RuntimeError), trace.record_gates():
        raise RuntimeError("inside")
    assert cells.tracing.recorder is None  # restored, even after an error
    with trace.record_gates() as outer:
        with trace.record_gates() as inner:
            rnn(x)
        rnn(x)
    assert len(inner.steps) == 3 and len(outer.steps) == 3


# --------------------------------------------------------------------------- gradient flow


def reference_dh(kind, params, x, d_last):
    """dL/dh_t for L = sum(d_last * h_T), by the hand-derived BPTT of tinygrad_rnn.reference.

    h_t for t < T-1 reaches L only through steps t+1..T-1, so dL/dh_t is the
    gradient with respect to the *initial* state of the rest of the sequence,
    started from (h_t, c_t) -- the reference backward returns that as "h0".
    """
    T = x.shape[0]
    forward = {"RNN": rnn_forward, "LSTM": lstm_forward, "GRU": gru_forward}[kind]
    backward = {"RNN": rnn_backward, "LSTM": lstm_backward, "GRU": gru_backward}[kind]
    full = forward(params, x)
    hs = full[-1][1]  # (T+1, N, H): h_0 .. h_T
    cs = full[-1][2] if kind == "LSTM" else None
    grads = []
    for t in range(T):  # h_t is hs[t + 1]
        rest = x[t + 1:]
        if len(rest) == 0:
            grads.append(d_last)
            continue
        state = (hs[t + 1], cs[t + 1]) if kind == "LSTM" else (hs[t + 1],)
        run = forward(params, rest, *state)
        d_out = np.zeros((len(rest),) + d_last.shape)
        d_out[-1] = d_last
        grads.append(backward(run[-1], d_out)["h0"])
    return grads


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_gradient_flow_equals_hand_derived_bptt(kind):
    tr.manual_seed(7)
    layer = LAYERS[kind](3, 5)
    x = rng_data(7, 2, 3)
    flow = trace.gradient_flow(layer, x)  # default loss: sum of the last output
    want = [np.linalg.norm(g) for g in reference_dh(kind, params_of(layer), x, np.ones((2, 5)))]
    np.testing.assert_allclose(flow, want, rtol=1e-9)
    assert flow.shape == (7,)


def test_gradient_flow_with_a_loss_on_every_step_is_the_total_derivative():
    tr.manual_seed(8)
    rnn = nn.RNN(2, 3, batch_first=True)
    x = rng_data(1, 5, 2)  # (N, T, I)
    weights = rng_data(1, 5, 3, seed=9)
    flow = trace.gradient_flow(rnn, x, loss_fn=lambda out: (out * Tensor(weights)).sum())
    # by hand: dh_t = dL/dout_t + (dh_{t+1} * (1 - h_{t+1}^2)) W_hh
    params = params_of(rnn)
    outs, _ = rnn_forward(params, x.transpose(1, 0, 2))
    d_out = weights.transpose(1, 0, 2)
    dh, want = d_out[-1], [None] * 5
    want[-1] = dh
    for t in range(3, -1, -1):
        dh = d_out[t] + (dh * (1 - outs[t + 1] ** 2)) @ params["weight_hh"]
        want[t] = dh
    np.testing.assert_allclose(flow, [np.linalg.norm(d) for d in want], rtol=1e-10)


def test_gradient_flow_of_a_cell_equals_that_of_the_layer_with_its_weights():
    tr.manual_seed(10)
    cell, layer = nn.LSTMCell(2, 3), nn.LSTM(2, 3)
    layer.load_state_dict({k + "_l0": v for k, v in cell.state_dict().items()})
    x = rng_data(6, 2, 2)
    np.testing.assert_allclose(trace.gradient_flow(cell, x), trace.gradient_flow(layer, x),
                               rtol=1e-12)


def test_gradient_flow_leaves_grads_alone_and_picks_layer_and_direction():
    tr.manual_seed(11)
    gru = nn.GRU(2, 3, num_layers=2, bidirectional=True)
    before = {name: np.full(p.shape, 7.0) for name, p in gru.named_parameters()}
    for name, p in gru.named_parameters():
        p.grad = before[name].copy()
    x = Tensor(rng_data(4, 1, 2), requires_grad=True)
    top = trace.gradient_flow(gru, x)
    bottom = trace.gradient_flow(gru, x, layer=0)
    reverse_top = trace.gradient_flow(gru, x, direction=1)
    for name, p in gru.named_parameters():
        assert np.array_equal(p.grad, before[name])
    assert x.grad is None
    assert not np.allclose(top, bottom)
    # the default loss reads the last output only, which the reverse direction
    # computes first from x_{T-1} alone: no gradient reaches its earlier states
    assert reverse_top[-1] > 0 and np.all(reverse_top[:-1] == 0)
    with pytest.raises(ValueError, match="direction 2"):
        trace.gradient_flow(gru, x, direction=2)
    with tr.no_grad():  # the graph it needs is recorded all the same
        np.testing.assert_array_equal(trace.gradient_flow(gru, x), top)


def test_gradients_vanish_through_a_tanh_rnn_but_not_through_an_lstm():
    """The textbook picture: T = 30 steps, the loss on the last output only.

    A tanh RNN with small recurrent weights multiplies dL/dh by W_hh^T diag(1 - h^2)
    at every step back, so the norm falls by orders of magnitude per step; the
    LSTM's cell state carries it back through the forget gate (bias 1: f ~ 0.73).
    """
    tr.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 4, 8))
    rnn = nn.RNN(8, 16)
    for p in rnn.parameters():
        p.data[:] = rng.uniform(-0.1, 0.1, p.shape)
    lstm = nn.LSTM(8, 16)
    lstm.gate("f").bias_ih[:] = 1.0
    lstm.gate("f").bias_hh[:] = 0.0
    rnn_flow, lstm_flow = trace.gradient_flow(rnn, x), trace.gradient_flow(lstm, x)
    assert rnn_flow[0] / rnn_flow[-1] < 1e-12           # vanished
    assert lstm_flow[0] / lstm_flow[-1] > 1e-6          # still there
    assert lstm_flow[0] > 1e6 * rnn_flow[0]
    assert np.all(np.diff(np.log(rnn_flow)) > 0)        # shrinking at every step back


# --------------------------------------------------------------------------- the cell protocol


def _cifg_by_hand(cell, x):
    """The CIFG forward in numpy from the cell's weights: f, h and c at every step."""
    w_ih, w_hh, b_ih, b_hh = (p.data for p in (cell.weight_ih, cell.weight_hh,
                                               cell.bias_ih, cell.bias_hh))
    h = c = np.zeros((x.shape[1], cell.hidden_size))
    fs, hs, cs = [], [], []
    for x_t in x:
        a_f, a_g, a_o = np.split(x_t @ w_ih.T + b_ih + h @ w_hh.T + b_hh, 3, axis=-1)
        f = 1 / (1 + np.exp(-a_f))
        c = f * c + (1 - f) * np.tanh(a_g)
        h = np.tanh(c) / (1 + np.exp(-a_o))
        fs, hs, cs = fs + [f], hs + [h], cs + [c]
    return {"f": np.stack(fs), "h": np.stack(hs), "c": np.stack(cs)}


def test_a_cell_of_the_protocol_and_its_layer_are_traced_with_the_values_it_records():
    tr.manual_seed(0)
    layer = nn.Recurrent(CIFGCell, 3, 4, num_layers=2, batch_first=True).double()
    x = np.random.default_rng(0).standard_normal((2, 5, 3))  # (N, T, I): batch first
    gates, (out, _) = trace.gate_trace(layer, x)
    assert sorted(gates) == [(0, 0), (1, 0)]
    expected = _cifg_by_hand(layer.cell(0), x.transpose(1, 0, 2))
    for name in ("f", "h", "c"):
        np.testing.assert_allclose(gates[(0, 0)][name], expected[name], rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(gates[(1, 0)]["h"], out.data.transpose(1, 0, 2))
    cell_gates, _ = trace.gate_trace(layer.cell(0), x.transpose(1, 0, 2))
    np.testing.assert_array_equal(cell_gates[(0, 0)]["f"], gates[(0, 0)]["f"])


def test_gradient_flow_through_a_protocol_layer_is_the_graphs_own_dL_dh():
    tr.manual_seed(1)
    layer = nn.Recurrent(CIFGCell, 2, 3).double()
    x = np.random.default_rng(1).standard_normal((6, 2, 2))
    flow = trace.gradient_flow(layer, x)
    # the same total derivatives, from the cell stepped by hand with every h_t retained
    cell, state, hs = layer.cell(0), None, []
    for x_t in Tensor(x).unbind(0):
        state = cell(x_t, state)
        state[0].retain_grad()
        hs.append(state[0])
    hs[-1].sum().backward()
    np.testing.assert_allclose(flow, [np.linalg.norm(h.grad) for h in hs], rtol=1e-12)
    assert flow[0] < flow[-1]
