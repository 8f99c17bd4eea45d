"""tr.trace.step_grads: autograd's per-step gradients equal the hand BPTT of
tinygrad_rnn.reference step by step, a torch loop unrolled by hand, and finite
differences; their sum over time is the parameters' .grad; every layout gives the
same numbers; bad input is refused, and nothing's .grad changes."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, nn, reference as R
from tinygrad_rnn.nn.utils.rnn import pack_padded_sequence
from tinygrad_rnn.trace import run_sequence, step_grads

from _helpers import CIFGCell

LAYERS = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}
CELLS = {"RNN": nn.RNNCell, "LSTM": nn.LSTMCell, "GRU": nn.GRUCell}
HAND = {"RNN": (R.rnn_forward, R.rnn_step_grads), "LSTM": (R.lstm_forward, R.lstm_step_grads),
        "GRU": (R.gru_forward, R.gru_step_grads)}


def weighted_sum(d_out):
    """The loss sum(d_out * output): its gradient with respect to the output is d_out."""
    return lambda output: (output * Tensor(d_out)).sum()


def assert_close(got, want, rtol, atol, what):
    assert got.shape == want.shape, (what, got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)


def assert_same_step_grads(got, want, rtol=1e-10, atol=1e-12):
    """Every array of ``got`` (autograd's) equals ``want``'s of the same name."""
    assert list(got.dstates) == list(want.dstates)
    assert list(got.dpre) == list(want.dpre)
    for name in got.dstates:
        assert_close(got.dstates[name], want.dstates[name], rtol, atol, f"d{name}")
    for gate in got.dpre:
        assert_close(got.dpre[gate], want.dpre[gate], rtol, atol, f"dpre[{gate}]")
    for name in got.dparams:
        assert_close(got.dparams[name], want.dparams[name], rtol, atol, f"dparams[{name}]")


# --------------------------------------------------------------------------- against the hand BPTT


@given(kind=st.sampled_from(["RNN", "LSTM", "GRU"]), T=st.integers(1, 5), N=st.integers(1, 3),
       I=st.integers(1, 4), H=st.integers(1, 4), bias=st.booleans(), given_state=st.booleans(),
       seed=st.integers(0, 2**16))
def test_autograd_step_grads_equal_the_hand_bptt_step_by_step(kind, T, N, I, H, bias,
                                                              given_state, seed):
    rng = np.random.default_rng(seed)
    tr.manual_seed(seed)
    layer = LAYERS[kind](I, H, bias=bias)
    x, d_out = rng.standard_normal((T, N, I)), rng.standard_normal((T, N, H))
    states = [rng.standard_normal((N, H)) for _ in range(2 if kind == "LSTM" else 1)]
    forward, hand_step_grads = HAND[kind]
    run = forward(layer.state_dict(), x, *states) if given_state else \
        forward(layer.state_dict(), x)
    want = hand_step_grads(run[-1], d_out)

    state = None
    if given_state:
        state = tuple(Tensor(s[None]) for s in states)
        state = state if kind == "LSTM" else state[0]
    got = step_grads(layer, x, weighted_sum(d_out), state)

    assert got.dh.shape == (T, N, H)
    assert sorted(got.dparams) == sorted(n for n, _ in layer.cell().named_parameters())
    assert_same_step_grads(got, want)
    # and the hand BPTT's own per-step shares add up to its *_backward
    totals = {"LSTM": R.lstm_backward, "RNN": R.rnn_backward, "GRU": R.gru_backward}[kind](
        run[-1], d_out)
    for name, share in want.dparams.items():
        assert_close(share.sum(axis=0), totals[name], 1e-12, 1e-12, name)


# --------------------------------------------------------------------------- sums are .grad


def custom_layer():
    return nn.Recurrent(CIFGCell, 3, 4, num_layers=2, bidirectional=True)


MODULES = {
    "RNN relu, 2 layers": (lambda: nn.RNN(3, 4, num_layers=2, nonlinearity="relu"), (5, 2, 3)),
    "LSTM bidirectional batch_first": (lambda: nn.LSTM(3, 4, bidirectional=True,
                                                       batch_first=True), (2, 5, 3)),
    "LSTM proj_size": (lambda: nn.LSTM(3, 4, proj_size=2), (5, 2, 3)),
    "GRU unbatched, no bias": (lambda: nn.GRU(3, 4, bias=False), (5, 3)),
    "RNNCell": (lambda: nn.RNNCell(3, 4), (5, 2, 3)),
    "LSTMCell unbatched": (lambda: nn.LSTMCell(3, 4), (5, 3)),
    "GRUCell": (lambda: nn.GRUCell(3, 4), (5, 2, 3)),
    "CIFG cell": (lambda: CIFGCell(3, 4), (5, 2, 3)),
    "Recurrent(CIFG), 2 layers, bidirectional": (custom_layer, (5, 2, 3)),
}


def cells_of(module):
    """{(layer, direction): cell} of a layer, {(0, 0): module} of a cell."""
    if isinstance(module, nn.Recurrent):
        return {(k, d): module.cell(k, d) for k in range(module.num_layers)
                for d in range(module.num_directions)}
    return {(0, 0): module}


@pytest.mark.parametrize("name", list(MODULES))
def test_the_steps_shares_add_up_to_the_parameters_grad(name):
    make, shape = MODULES[name]
    tr.manual_seed(3)
    module = make()
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape)
    output, _ = run_sequence(module, x)
    loss_fn = weighted_sum(rng.standard_normal(output.shape))

    result = step_grads(module, x, loss_fn)
    module.zero_grad()
    output, _ = run_sequence(module, x)  # a normal backward, through the module itself
    loss_fn(output).backward()

    cells = cells_of(module)
    assert sorted(result.parts) == sorted(cells)
    for key, cell in cells.items():
        part = result[key]
        assert (part.layer, part.direction) == key
        assert list(part.dparams) == [n for n, _ in cell.named_parameters()]
        for pname, p in cell.named_parameters():
            assert part.dparams[pname].shape == (len(part.dh), *p.shape)
            assert_close(part.dparams[pname].sum(axis=0), p.grad, 1e-12, 1e-12, f"{key} {pname}")


# --------------------------------------------------------------------------- torch, by hand


def torch_loop(kind, params, x, d_out, h0, c0):
    """The equations of torch's documentation, unrolled in torch: each step reads its own
    clone of every parameter and keeps the gradients of xp = x_t W_ih^T + b_ih and of
    the new states. Returns a StepGrads-shaped dict of numpy arrays."""
    torch = pytest.importorskip("torch")
    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    xs, H = torch.tensor(x), params["weight_hh"].shape[1]
    h, c = torch.tensor(h0), torch.tensor(c0)
    kept = []
    for t in range(len(x)):
        w = {k: v.clone() for k, v in p.items()}
        for v in w.values():
            v.retain_grad()
        xp = xs[t] @ w["weight_ih"].T + w["bias_ih"]
        hp = h @ w["weight_hh"].T + w["bias_hh"]
        if kind == "RNN":
            h = torch.tanh(xp + hp)
        elif kind == "LSTM":
            i, f, g, o = (xp + hp).chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        elif kind == "GRU":
            r = torch.sigmoid(xp[:, :H] + hp[:, :H])
            z = torch.sigmoid(xp[:, H:2 * H] + hp[:, H:2 * H])
            n = torch.tanh(xp[:, 2 * H:] + r * hp[:, 2 * H:])
            h = (1 - z) * n + z * h
        else:  # CIFG: f, g, o; the input gate is 1 - f
            f, g, o = (xp + hp).chunk(3, dim=-1)
            f = torch.sigmoid(f)
            c = f * c + (1 - f) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        for v in (xp, h, c):
            if v.requires_grad:  # (an RNN's or GRU's c is the unused initial one)
                v.retain_grad()
        kept.append((w, xp, h, c))
    outputs = torch.stack([k[2] for k in kept])
    (outputs * torch.tensor(d_out)).sum().backward()
    gates = {"RNN": ("h",), "LSTM": tuple("ifgo"), "GRU": tuple("rzn"), "CIFG": tuple("fgo")}[kind]
    dxp = np.stack([k[1].grad.numpy() for k in kept])
    return {"dh": np.stack([k[2].grad.numpy() for k in kept]),
            "dc": np.stack([k[3].grad.numpy() for k in kept]) if kind in ("LSTM", "CIFG") else None,
            "dpre": dict(zip(gates, np.split(dxp, len(gates), axis=-1))),
            "dparams": {name: np.stack([k[0][name].grad.numpy() for k in kept]) for name in p}}


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU", "CIFG"])
@pytest.mark.parametrize("as_cell", [False, True])
def test_step_grads_equal_a_torch_loop_unrolled_by_hand(kind, as_cell):
    tr.manual_seed(4)
    rng = np.random.default_rng(4)
    T, N, I, H = 4, 3, 2, 3
    if kind == "CIFG":
        module = CIFGCell(I, H) if as_cell else nn.Recurrent(CIFGCell, I, H)
    else:
        module = (CELLS if as_cell else LAYERS)[kind](I, H)
    cell = module if as_cell else module.cell()
    params = {n: p.data for n, p in cell.named_parameters()}
    x, d_out = rng.standard_normal((T, N, I)), rng.standard_normal((T, N, H))
    h0, c0 = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    want = torch_loop(kind, params, x, d_out, h0, c0)
    two_states = kind in ("LSTM", "CIFG")
    if as_cell:
        state = (Tensor(h0), Tensor(c0)) if two_states else Tensor(h0)
    else:
        state = (Tensor(h0[None]), Tensor(c0[None])) if two_states else Tensor(h0[None])

    got = step_grads(module, x, weighted_sum(d_out), state)

    assert_close(got.dh, want["dh"], 1e-10, 1e-12, "dh")
    if two_states:
        assert_close(got.dc, want["dc"], 1e-10, 1e-12, "dc")
    assert list(got.dpre) == list(want["dpre"])
    for gate, d in want["dpre"].items():
        assert_close(got.dpre[gate], d, 1e-10, 1e-12, f"dpre[{gate}]")
    for name, d in want["dparams"].items():
        assert_close(got.dparams[name], d, 1e-10, 1e-12, name)


# --------------------------------------------------------------------------- finite differences


def perturbed_loss(cell, x, d_out, t, index, eps):
    """sum(d_out * outputs) with h_t (the output state) moved by eps at one element right
    after step t, the cell called step by step through its public forward (no graph)."""
    state, outputs = None, []
    with tr.no_grad():
        for s, x_s in enumerate(x):
            state = cell(Tensor(x_s), state)
            states = list(state) if isinstance(state, tuple) else [state]
            if s == t:
                moved = states[0].data.copy()
                moved[index] += eps
                states[0] = Tensor(moved)
            state = tuple(states) if len(states) > 1 else states[0]
            outputs.append(states[0].data)
    return float((np.stack(outputs) * d_out).sum())


@pytest.mark.parametrize("make", [lambda: nn.GRUCell(2, 3), lambda: CIFGCell(2, 3)],
                         ids=["GRUCell", "CIFG"])
def test_dh_equals_finite_differences(make):
    """dh_t is the total derivative: moving h_t moves the output at t and every later step."""
    tr.manual_seed(5)
    rng = np.random.default_rng(5)
    cell = make()
    x, d_out = rng.standard_normal((4, 2, 2)), rng.standard_normal((4, 2, 3))
    got = step_grads(cell, x, weighted_sum(d_out))
    eps = 1e-6
    for t in range(4):
        for index in np.ndindex(2, 3):
            numeric = (perturbed_loss(cell, x, d_out, t, index, eps)
                       - perturbed_loss(cell, x, d_out, t, index, -eps)) / (2 * eps)
            assert got.dh[(t, *index)] == pytest.approx(numeric, abs=1e-7)


# --------------------------------------------------------------------------- layouts


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_batch_first_and_unbatched_give_the_time_major_arrays(kind):
    tr.manual_seed(6)
    rng = np.random.default_rng(6)
    plain = LAYERS[kind](2, 3)
    batch_first = LAYERS[kind](2, 3, batch_first=True)
    batch_first.load_state_dict(plain.state_dict())
    x, d_out = rng.standard_normal((4, 2, 2)), rng.standard_normal((4, 2, 3))

    want = step_grads(plain, x, weighted_sum(d_out))
    got = step_grads(batch_first, x.transpose(1, 0, 2), weighted_sum(d_out.transpose(1, 0, 2)))
    assert_same_step_grads(got, want, rtol=1e-13, atol=1e-15)

    one = step_grads(plain, x[:, :1], weighted_sum(d_out[:, :1]))
    unbatched = step_grads(plain, x[:, 0], weighted_sum(d_out[:, 0]))
    assert unbatched.dh.shape == (4, 1, 3)
    assert_same_step_grads(unbatched, one, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_a_reverse_direction_is_in_time_order(kind):
    """The reverse direction's steps are those of a forward layer with its weights run on
    the flipped sequence, flipped back: t indexes the time step, not the order of the run."""
    tr.manual_seed(7)
    rng = np.random.default_rng(7)
    both = LAYERS[kind](2, 3, bidirectional=True)
    backward_only = LAYERS[kind](2, 3)
    backward_only.load_state_dict({k.replace("_reverse", ""): v
                                   for k, v in both.state_dict().items() if "_reverse" in k})
    x, d_out = rng.standard_normal((5, 2, 2)), rng.standard_normal((5, 2, 6))

    got = step_grads(both, x, weighted_sum(d_out))[0, 1]
    flipped = step_grads(backward_only, x[::-1].copy(), weighted_sum(d_out[::-1, :, 3:].copy()))
    for name in flipped.dstates:
        assert_close(got.dstates[name], flipped.dstates[name][::-1], 1e-13, 1e-15, name)
    for gate in flipped.dpre:
        assert_close(got.dpre[gate], flipped.dpre[gate][::-1], 1e-13, 1e-15, gate)
    for name in flipped.dparams:
        assert_close(got.dparams[name], flipped.dparams[name][::-1], 1e-13, 1e-15, name)


def test_a_lower_layers_dh_includes_what_the_layer_above_sends_back():
    """With the loss on the top layer only, layer 0's dh is nonzero (it reaches the loss
    through layer 1), and the top layer's dh at the last step is the loss's own d_out."""
    tr.manual_seed(8)
    rng = np.random.default_rng(8)
    lstm = nn.LSTM(2, 3, num_layers=2)
    x, d_out = rng.standard_normal((4, 2, 2)), rng.standard_normal((4, 2, 3))
    result = step_grads(lstm, x, weighted_sum(d_out))
    assert np.abs(result[0, 0].dh).min() > 0
    assert_close(result[1, 0].dh[-1], d_out[-1], 1e-15, 0, "dh at T")


def test_a_float32_layer_works():
    tr.manual_seed(9)
    gru = nn.GRU(2, 3).float()
    x = np.random.default_rng(9).standard_normal((4, 2, 2)).astype(np.float32)
    result = step_grads(gru, x, lambda out: out.sum())
    assert result.dh.dtype == np.float32 and result.dparams["weight_hh"].dtype == np.float32


# --------------------------------------------------------------------------- the result object


def test_one_layer_gives_the_arrays_and_several_are_picked_by_layer_and_direction():
    tr.manual_seed(10)
    x = np.random.default_rng(10).standard_normal((3, 2, 2))
    one = step_grads(nn.LSTM(2, 3), x, lambda out: out.sum())
    assert one[0, 0] is one and list(one.parts) == [(0, 0)]
    assert one.dh is one.dstates["h"] and one.dc is one.dstates["c"]
    assert "dc" in repr(one)
    with pytest.raises(AttributeError, match="dh, dc"):
        _ = one.dz

    several = step_grads(nn.LSTM(2, 3, num_layers=2, bidirectional=True), x,
                         lambda out: out.sum())
    assert list(several.parts) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert several[1, 1].dc.shape == (3, 2, 3)
    for attribute in ("dh", "dc", "dpre", "dparams", "dstates"):
        with pytest.raises(ValueError, match=r"result\[layer, direction\]"):
            getattr(several, attribute)
    with pytest.raises(KeyError, match=r"\(2, 0\)"):
        several[2, 0]


# --------------------------------------------------------------------------- refusals


def test_nothing_s_grad_changes():
    tr.manual_seed(11)
    lstm = nn.LSTM(2, 3)
    marks = {n: np.full(p.shape, 7.0) for n, p in lstm.named_parameters()}
    for n, p in lstm.named_parameters():
        p.grad = marks[n].copy()
    x = Tensor(np.ones((3, 1, 2)), requires_grad=True)
    h0 = Tensor(np.ones((1, 1, 3)), requires_grad=True)
    step_grads(lstm, x, lambda out: out.sum(), (h0, Tensor(np.zeros((1, 1, 3)))))
    for n, p in lstm.named_parameters():
        np.testing.assert_array_equal(p.grad, marks[n])
    assert x.grad is None and h0.grad is None


def refuses(error, match, module, x, loss_fn, state=None):
    """step_grads refuses the call, and the module's parameters still have no .grad."""
    with pytest.raises(error, match=match):
        step_grads(module, x, loss_fn, state)
    if isinstance(module, nn.Module):
        assert all(p.grad is None for p in module.parameters())


def test_bad_input_is_refused_in_words():
    tr.manual_seed(12)
    gru = nn.GRU(2, 3)
    x = np.zeros((3, 2, 2))
    refuses(TypeError, r"step_grads: module must be a recurrent layer or cell.*Linear",
            nn.Linear(2, 3), x, lambda out: out.sum())
    refuses(TypeError, r"module must be .*got 'gru'", "gru", x, lambda out: out.sum())
    refuses(TypeError, r"loss_fn must be a function", gru, x, "sum")
    refuses(TypeError, r"loss_fn must return a scalar Tensor, got 1\.0 \(float\)",
            gru, x, lambda out: 1.0)
    refuses(ValueError, r"scalar Tensor \(one element\), got a Tensor of shape \(3, 2, 3\)",
            gru, x, lambda out: out)
    refuses(ValueError, "does not depend on the output", gru, x, lambda out: Tensor(1.0))
    refuses(Exception, r"GRU: expected input with 2 features", gru, np.zeros((3, 2, 5)),
            lambda out: out.sum())
    refuses(Exception, r"GRU: expected h0 of shape \(1, 2, 3\)", gru, x, lambda out: out.sum(),
            Tensor(np.zeros((1, 5, 3))))
    refuses(Exception, r"GRU: the input sequence is empty", gru, np.zeros((0, 2, 2)),
            lambda out: out.sum())
    refuses(ValueError, r"GRUCell: the input sequence is empty", nn.GRUCell(2, 3),
            np.zeros((0, 2, 2)), lambda out: out.sum())
    packed = pack_padded_sequence(Tensor(x), [3, 2])
    refuses(TypeError, r"PackedSequence; pad_packed_sequence", gru, packed, lambda out: out.sum())


def test_a_layer_whose_forward_is_not_its_cells_is_refused():
    class Doubled(nn.Recurrent):
        def forward(self, x, state=None):
            out, state = super().forward(x, state)
            return out * 2, state

    layer = Doubled(CIFGCell, 2, 3)
    with pytest.raises(ValueError, match="step by step does not give its output"):
        step_grads(layer, np.zeros((3, 1, 2)) + 0.5, lambda out: out.sum())


def test_dropout_while_training_is_refused_with_the_way_out():
    tr.manual_seed(13)
    rnn = nn.RNN(2, 3, num_layers=2, dropout=0.5)
    x = np.random.default_rng(13).standard_normal((3, 2, 2))
    with pytest.raises(ValueError, match=r"module\.eval\(\)"):
        step_grads(rnn, x, lambda out: out.sum())
    assert step_grads(rnn.eval(), x, lambda out: out.sum())[1, 0].dh.shape == (3, 2, 3)
