"""Sequence layers RNN, LSTM, GRU: finite-difference gradients for every option, parity
with torch (live and from golden fixtures), long sequences, truncated BPTT, gate views,
errors and training smoke tests."""

import gc
import json
import pathlib
import time
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, functional as F, nn, optim
from tinygrad_rnn.tensor import Context

from _helpers import make_inputs
from make_golden import GOLDEN_CONFIGS, GOLDEN_DIR, flatten, state_shapes, torch_reference


@st.composite
def layer_configs(draw, max_size=3, max_steps=3):
    """(kind, kwargs, input shape, given initial state?) over every option of the layers."""
    kind = draw(st.sampled_from(["RNN", "LSTM", "GRU"]))
    hidden = draw(st.integers(1, max_size))
    kwargs = dict(input_size=draw(st.integers(1, max_size)), hidden_size=hidden,
                  num_layers=draw(st.integers(1, 2)), bias=draw(st.booleans()),
                  batch_first=draw(st.booleans()), bidirectional=draw(st.booleans()))
    if kind == "RNN":
        kwargs["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    if kind == "LSTM" and hidden > 1 and draw(st.booleans()):
        kwargs["proj_size"] = draw(st.integers(1, hidden - 1))
    steps, batch = draw(st.integers(1, max_steps)), draw(st.sampled_from([None, 1, 2]))
    if batch is None:  # unbatched (T, I)
        x_shape = (steps, kwargs["input_size"])
    else:
        x_shape = (batch, steps) if kwargs["batch_first"] else (steps, batch)
        x_shape += (kwargs["input_size"],)
    return kind, kwargs, x_shape, draw(st.booleans())


def call(layer, x, states):
    if not states:
        return layer(x)
    return layer(x, tuple(states)) if layer.kind == "LSTM" else layer(x, states[0])


def backward_with(outs, upstream):
    sum((o * Tensor(v)).sum() for o, v in zip(outs, upstream)).backward()


# --------------------------------------------------------------------------- gradients


@settings(max_examples=30, deadline=None)
@given(config=layer_configs())
def test_layer_gradcheck(config):
    kind, kwargs, x_shape, given_state = config
    layer = getattr(nn, kind)(**kwargs)
    x, states = make_inputs(kind, kwargs, x_shape, given_state)
    assert tr.gradcheck(lambda x, *s: call(layer, x, list(s)), [x, *states],
                        params=dict(layer.named_parameters()))


@pytest.mark.parametrize("kind,extra", [("RNN", dict(nonlinearity="relu")), ("LSTM", {}),
                                        ("LSTM", dict(proj_size=2)), ("GRU", {})])
@pytest.mark.parametrize("batch_first", [False, True])
def test_layer_gradcheck_with_every_option_on(kind, extra, batch_first):
    """Two layers, both directions, given states: the largest graph, not left to chance."""
    kwargs = dict(input_size=2, hidden_size=3, num_layers=2, bidirectional=True,
                  batch_first=batch_first, **extra)
    layer = getattr(nn, kind)(**kwargs)
    x, states = make_inputs(kind, kwargs, (2, 3, 2), True)
    assert tr.gradcheck(lambda x, *s: call(layer, x, list(s)), [x, *states],
                        params=dict(layer.named_parameters()))


def assert_matches_reference(layer, x, states, outs, ref, rtol=1e-8):
    for ours, theirs in zip(outs, ref["outputs"]):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours.data, theirs, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(x.grad, ref["grad_x"], rtol=rtol, atol=1e-12)
    for s, g in zip(states, ref["grad_states"]):
        np.testing.assert_allclose(s.grad, g, rtol=rtol, atol=1e-12)
    assert [n for n, _ in layer.named_parameters()] == list(ref["grad_params"])
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, ref["grad_params"][name], rtol=rtol, atol=1e-12,
                                   err_msg=name)


@settings(max_examples=60, deadline=None)
@given(config=layer_configs(max_size=4, max_steps=5), seed=st.integers(0, 2**16))
def test_layer_matches_torch(config, seed):
    pytest.importorskip("torch")
    import torch

    kind, kwargs, x_shape, given_state = config
    torch.manual_seed(seed)
    torch_layer = getattr(torch.nn, kind)(**kwargs).double()
    torch_sd = {k: v.numpy() for k, v in torch_layer.state_dict().items()}
    layer = getattr(nn, kind)(**kwargs)
    assert [(n, p.shape) for n, p in layer.named_parameters()] == [
        (n, tuple(v.shape)) for n, v in torch_sd.items()]
    layer.load_state_dict(torch_sd)  # torch's state dict, unchanged
    x, states = make_inputs(kind, kwargs, x_shape, given_state, seed)
    outs = flatten(call(layer, x, states))
    rng = np.random.default_rng(seed + 1)
    upstream = [rng.standard_normal(o.shape) for o in outs]
    backward_with(outs, upstream)
    ref = torch_reference(kind, kwargs, torch_sd, x.data, [s.data for s in states], upstream)
    assert_matches_reference(layer, x, states, outs, ref)


# --------------------------------------------------------------------------- golden fixtures


GOLDEN_FILES = sorted(GOLDEN_DIR.glob("*.npz"))


def test_golden_fixtures_cover_every_config():
    assert sorted(p.stem for p in GOLDEN_FILES) == sorted(GOLDEN_CONFIGS)
    assert sum(p.stat().st_size for p in GOLDEN_FILES) < 200_000


def load_golden(path: pathlib.Path):
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    config = json.loads(str(arrays.pop("config")))
    return config["kind"], config["kwargs"], arrays


def numbered(arrays, prefix):
    return [arrays[f"{prefix}.{i}"] for i in range(sum(k.startswith(prefix + ".") for k in arrays))]


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.stem)
def test_golden_parity(path):
    """torch's outputs and gradients, stored: parity is checked even without torch."""
    kind, kwargs, arrays = load_golden(path)
    layer = getattr(nn, kind)(**kwargs)
    layer.load_state_dict({k.removeprefix("param."): v for k, v in arrays.items()
                           if k.startswith("param.")})
    x = Tensor(arrays["x"], requires_grad=True)
    states = [Tensor(s, requires_grad=True) for s in numbered(arrays, "state")]
    outs = flatten(call(layer, x, states))
    backward_with(outs, numbered(arrays, "upstream"))
    ref = {"outputs": numbered(arrays, "output"), "grad_x": arrays["grad_x"],
           "grad_states": numbered(arrays, "grad_state"),
           "grad_params": {k[len("grad_param."):]: v for k, v in arrays.items()
                           if k.startswith("grad_param.")}}
    assert_matches_reference(layer, x, states, outs, ref)


@pytest.mark.parametrize("path", GOLDEN_FILES[:3], ids=lambda p: p.stem)
def test_golden_fixtures_agree_with_the_installed_torch(path):
    pytest.importorskip("torch")
    kind, kwargs, arrays = load_golden(path)
    sd = {k[len("param."):]: v for k, v in arrays.items() if k.startswith("param.")}
    ref = torch_reference(kind, kwargs, sd, arrays["x"], numbered(arrays, "state"),
                          numbered(arrays, "upstream"))
    for ours, theirs in zip(numbered(arrays, "output"), ref["outputs"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10)


# --------------------------------------------------------------------------- structure


def test_parameter_names_shapes_and_order():
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2)
    expected = []
    for layer, layer_in in [(0, 3), (1, 4)]:  # layer 1 reads both directions' 2 projected units
        for sfx in (f"_l{layer}", f"_l{layer}_reverse"):
            expected += [(f"weight_ih{sfx}", (16, layer_in)), (f"weight_hh{sfx}", (16, 2)),
                         (f"bias_ih{sfx}", (16,)), (f"bias_hh{sfx}", (16,)),
                         (f"weight_hr{sfx}", (2, 4))]
    assert [(n, p.shape) for n, p in lstm.named_parameters()] == expected
    assert [n for n, _ in nn.GRU(2, 3, bias=False).named_parameters()] == ["weight_ih_l0",
                                                                         "weight_hh_l0"]


def test_init_is_uniform_within_one_over_sqrt_hidden():
    tr.manual_seed(0)
    values = np.concatenate([p.data.ravel() for p in nn.LSTM(8, 16, num_layers=2).parameters()])
    k = 0.25
    assert np.abs(values).max() <= k
    assert abs(values.std() - k / np.sqrt(3)) < 0.02 * k and abs(values.mean()) < 0.01


def test_manual_seed_makes_layers_reproducible():
    tr.manual_seed(5)
    a = nn.GRU(2, 3, num_layers=2).state_dict()
    tr.manual_seed(5)
    b = nn.GRU(2, 3, num_layers=2).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_repr_matches_torch():
    torch = pytest.importorskip("torch")
    for args, kwargs in [((3, 4), {}), ((3, 4, 2), dict(dropout=0.5, batch_first=True)),
                         ((2, 5), dict(bias=False, bidirectional=True))]:
        for kind in ("RNN", "LSTM", "GRU"):
            theirs = getattr(torch.nn, kind)(*args, **kwargs)
            assert repr(getattr(nn, kind)(*args, **kwargs)) == repr(theirs)
    assert repr(nn.LSTM(3, 4, proj_size=2)) == repr(torch.nn.LSTM(3, 4, proj_size=2))
    assert repr(nn.RNN(3, 4, nonlinearity="relu")) == repr(torch.nn.RNN(3, 4, nonlinearity="relu"))


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_default_state_is_zeros_and_batch_first_is_a_transpose(kind):
    kwargs = dict(input_size=2, hidden_size=3, num_layers=2, bidirectional=True)
    layer = getattr(nn, kind)(**kwargs)
    x = np.random.default_rng(0).standard_normal((4, 5, 2))  # (T, N, I)
    zeros = [Tensor(np.zeros(s)) for s in state_shapes(kind, kwargs, x.shape)]
    for a, b in zip(flatten(layer(Tensor(x))), flatten(call(layer, Tensor(x), zeros))):
        np.testing.assert_array_equal(a.data, b.data)
    time_major = flatten(layer(Tensor(x)))
    layer.batch_first = True
    batch_major = flatten(layer(Tensor(x.transpose(1, 0, 2))))
    np.testing.assert_allclose(batch_major[0].data, time_major[0].data.transpose(1, 0, 2),
                               rtol=1e-13)
    for a, b in zip(batch_major[1:], time_major[1:]):  # states are (D*L, N, H) either way
        np.testing.assert_allclose(a.data, b.data, rtol=1e-13)


def test_state_dict_round_trip_keeps_dtype():
    a = nn.LSTM(2, 3, num_layers=2)
    b = nn.LSTM(2, 3, num_layers=2).float()
    b.load_state_dict(a.state_dict())
    assert all(p.dtype == np.float32 for p in b.parameters())
    x = np.random.default_rng(0).standard_normal((4, 1, 2))
    out_b = b(Tensor(x.astype(np.float32)))[0]
    assert out_b.dtype == np.float32
    np.testing.assert_allclose(out_b.data, a(Tensor(x))[0].data, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_float32_end_to_end(kind):
    kwargs = dict(input_size=2, hidden_size=3, num_layers=2, bidirectional=True)
    layer = getattr(nn, kind)(**kwargs)
    x64, s64 = make_inputs(kind, kwargs, (4, 2, 2), True)
    ref = flatten(call(layer, x64, s64))
    backward_with(ref, [np.ones(o.shape) for o in ref])
    ref_grads = {n: p.grad for n, p in layer.named_parameters()}
    layer.zero_grad()
    layer.float()
    x, states = make_inputs(kind, kwargs, (4, 2, 2), True, dtype=np.float32)
    outs = flatten(call(layer, x, states))
    backward_with(outs, [np.ones(o.shape, np.float32) for o in outs])
    for o, r in zip(outs, ref):
        assert o.dtype == np.float32
        np.testing.assert_allclose(o.data, r.data, rtol=1e-4, atol=1e-5)
    assert x.grad.dtype == np.float32 and all(s.grad.dtype == np.float32 for s in states)
    for n, p in layer.named_parameters():
        assert p.grad.dtype == np.float32
        np.testing.assert_allclose(p.grad, ref_grads[n], rtol=1e-3, atol=1e-4)


# --------------------------------------------------------------------------- dropout between layers


def test_dropout_acts_between_layers_in_training_only():
    layer = nn.LSTM(2, 3, num_layers=2, dropout=1.0)
    rng = np.random.default_rng(0)
    x1, x2 = Tensor(rng.standard_normal((4, 2, 2))), Tensor(rng.standard_normal((4, 2, 2)))
    # dropout=1 zeroes everything between the layers: the output no longer depends on x ...
    out1, (h1, _) = layer(x1)
    out2, (h2, _) = layer(x2)
    np.testing.assert_array_equal(out1.data, out2.data)
    assert not np.array_equal(h1.data[0], h2.data[0])  # ... but layer 0 still saw x
    assert np.all(out1.data != 0)  # and nothing is dropped after the last layer
    layer.eval()
    assert not np.array_equal(layer(x1)[0].data, layer(x2)[0].data)


def test_dropout_masks_are_reproducible_and_eval_is_deterministic():
    layer = nn.GRU(2, 3, num_layers=3, dropout=0.5)
    x = Tensor(np.random.default_rng(0).standard_normal((5, 2, 2)))
    tr.manual_seed(1)
    a = layer(x)[0].data
    tr.manual_seed(1)
    np.testing.assert_array_equal(a, layer(x)[0].data)
    assert not np.array_equal(a, layer(x)[0].data)  # a new mask each call
    layer.eval()
    np.testing.assert_array_equal(layer(x)[0].data, layer(x)[0].data)
    reference = nn.GRU(2, 3, num_layers=3)
    reference.load_state_dict(layer.state_dict())
    np.testing.assert_array_equal(layer(x)[0].data, reference(x)[0].data)


def test_dropout_with_one_layer_warns_at_the_callers_line():
    for kind in ("RNN", "LSTM"):
        with pytest.warns(UserWarning, match="num_layers=1") as record:
            getattr(nn, kind)(2, 3, dropout=0.2)
        assert record[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.RNN(2, 3, num_layers=2, dropout=0.2)


# --------------------------------------------------------------------------- errors


def test_wrong_feature_size_names_both_sizes():
    with pytest.raises(ValueError, match=r"LSTM: expected input with 3 features.*got 5"):
        nn.LSTM(3, 4)(Tensor(np.ones((2, 1, 5))))
    with pytest.raises(ValueError, match="3-D input"):
        nn.GRU(3, 4)(Tensor(np.ones((2, 1, 1, 3))))


def test_wrong_state_shape_names_the_expected_shape():
    gru = nn.GRU(3, 4, num_layers=2, batch_first=True)
    x = Tensor(np.ones((5, 7, 3)))  # N=5, T=7
    with pytest.raises(ValueError, match=r"expected h0 of shape \(2, 5, 4\), got \(5, 2, 4\)"):
        gru(x, Tensor(np.ones((5, 2, 4))))  # h0 is (D*L, N, H) whatever batch_first says
    lstm = nn.LSTM(3, 4, proj_size=2)
    with pytest.raises(ValueError, match=r"expected c0 of shape \(1, 4\), got \(1, 2\)"):
        lstm(Tensor(np.ones((7, 3))), (Tensor(np.ones((1, 2))), Tensor(np.ones((1, 2)))))
    with pytest.raises(TypeError, match=r"\(h0, c0\)"):
        lstm(Tensor(np.ones((7, 3))), Tensor(np.ones((1, 2))))


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_an_input_or_state_of_another_dtype_is_refused_as_torch_does(kind):
    layer = getattr(nn, kind)(3, 4).float()
    x64 = np.ones((5, 2, 3))
    with pytest.raises(TypeError, match=rf"{kind}: the input has dtype float64 but the "
                                        r"parameters have dtype float32.*\.double\(\)"):
        layer(x64)  # numpy alone would quietly compute the whole layer in float64
    states = [Tensor(np.zeros((1, 2, 4)))] * (2 if kind == "LSTM" else 1)
    with pytest.raises(TypeError, match="initial state h0 has dtype float64"):
        layer(x64.astype(np.float32), states[0] if kind != "LSTM" else tuple(states))
    assert layer(x64.astype(np.float32))[0].dtype == np.float32


def test_bad_state_dict_lists_problems_and_leaves_weights_unchanged():
    lstm = nn.LSTM(2, 3, num_layers=2)
    before = lstm.state_dict()
    bad = nn.LSTM(2, 4, num_layers=1, bidirectional=True).state_dict()
    with pytest.raises(RuntimeError) as info:
        lstm.load_state_dict(bad)
    msg = str(info.value)
    assert "missing keys: weight_ih_l1, weight_hh_l1, bias_ih_l1, bias_hh_l1" in msg
    assert "unexpected keys: weight_ih_l0_reverse" in msg
    assert ("weight_ih_l0: shape (16, 2) in the state dict, "
            "but the parameter has shape (12, 2)") in msg
    for k, v in lstm.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="proj_size"):
        nn.LSTM(2, 3, proj_size=3)
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(2, 3, nonlinearity="gelu")
    with pytest.raises(ValueError, match="dropout"):
        nn.GRU(2, 3, num_layers=2, dropout=2.0)


# --------------------------------------------------------------------------- gate views


def test_lstm_forget_gate_bias_view():
    lstm = nn.LSTM(2, 3, num_layers=2, bidirectional=True)
    lstm.gate("f").bias_ih[:] = 1.0
    np.testing.assert_array_equal(lstm.bias_ih_l0.data[3:6], 1.0)
    assert not np.any(lstm.bias_ih_l0.data[[0, 1, 2, 6, 7, 8, 9, 10, 11]] == 1.0)
    lstm.gate("o", layer=1, direction=1).weight_hh[:] = 0.0
    np.testing.assert_array_equal(lstm.weight_hh_l1_reverse.data[9:12], 0.0)
    assert np.all(lstm.weight_hh_l1.data[9:12] != 0.0)
    lstm(Tensor(np.ones((3, 1, 2))))[0].sum().backward()
    grad = lstm.gate("i", layer=1).grad
    np.testing.assert_array_equal(grad.weight_ih, lstm.weight_ih_l1.grad[0:3])
    np.testing.assert_array_equal(grad.bias_hh, lstm.bias_hh_l1.grad[0:3])


def test_gate_view_survives_load_state_dict_and_errors_are_clear():
    gru = nn.GRU(2, 3)
    view = gru.gate("z")
    gru.load_state_dict({k: np.full(v.shape, 0.5) for k, v in gru.state_dict().items()})
    np.testing.assert_array_equal(view.weight_ih, 0.5)
    with pytest.raises(ValueError, match="r, z, n"):
        gru.gate("i")
    with pytest.raises(IndexError, match="layer 1"):
        gru.gate("z", layer=1)
    with pytest.raises(ValueError, match="no gates"):
        nn.RNN(2, 3).gate("i")


# ---------------------------------------------------------------- long sequences and truncated BPTT


def test_single_output_multi_output_ops_backward():
    """An op returning a tuple of one (unbind of a length-1 axis, chunk(1)) gets its
    gradient as a tuple: this used to break a length-1 sequence's backward."""
    x = Tensor(np.arange(3.0).reshape(1, 3), requires_grad=True)
    (row,) = x.unbind(0)
    (row * 2).sum().backward()
    np.testing.assert_array_equal(x.grad, [[2.0, 2.0, 2.0]])
    y = Tensor(np.ones((2, 3)), requires_grad=True)
    (part,) = y.chunk(1, dim=-1)
    (part * 3).sum().backward()
    np.testing.assert_array_equal(y.grad, np.full((2, 3), 3.0))


def test_ten_thousand_steps_forward_and_backward():
    tr.manual_seed(0)
    lstm = nn.LSTM(1, 3)
    x = Tensor(np.random.default_rng(0).standard_normal((10_000, 1, 1)), requires_grad=True)
    start = time.perf_counter()
    out, (h, c) = lstm(x)
    (out.sum() + c.sum()).backward()  # iterative backward: no recursion limit
    elapsed = time.perf_counter() - start
    assert out.shape == (10_000, 1, 3) and x.grad.shape == x.shape
    assert np.all(np.isfinite(x.grad)) and all(np.isfinite(p.grad).all() for p in lstm.parameters())
    print(f"10,000-step LSTM forward + backward: {elapsed:.2f} s")
    try:
        import torch  # noqa: F401  (only whether it is installed)
    except ImportError:
        return
    ref = torch_reference("LSTM", dict(input_size=1, hidden_size=3), lstm.state_dict(), x.data,
                          [], [np.ones(out.shape), np.zeros(h.shape), np.ones(c.shape)])
    np.testing.assert_allclose(x.grad, ref["grad_x"], rtol=1e-8, atol=1e-12)
    for name, p in lstm.named_parameters():
        np.testing.assert_allclose(p.grad, ref["grad_params"][name], rtol=1e-8)


def chunked_loss(lstm, head, chunk, state):
    out, state = lstm(chunk, state)
    return (head(out) ** 2).mean(), state


def test_truncated_bptt_stops_gradients_at_the_cut():
    lstm, head = nn.LSTM(2, 3), nn.Linear(3, 1)
    rng = np.random.default_rng(0)
    first = Tensor(rng.standard_normal((4, 1, 2)), requires_grad=True)
    second = Tensor(rng.standard_normal((4, 1, 2)), requires_grad=True)

    _, state = lstm(first)
    loss, _ = chunked_loss(lstm, head, second, state)  # without a cut ...
    loss.backward()
    assert np.abs(first.grad).max() > 0  # ... the later loss reaches the earlier chunk

    first.grad = second.grad = None
    _, (h, c) = lstm(first)
    loss, _ = chunked_loss(lstm, head, second, (h.detach(), c.detach()))
    loss.backward()
    assert first.grad is None  # with the cut, nothing flows back past it
    assert np.abs(second.grad).max() > 0


def live_nodes() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is Context)


def test_truncated_bptt_memory_stays_flat():
    tr.manual_seed(0)
    lstm, head = nn.LSTM(2, 8), nn.Linear(8, 1)
    opt = optim.SGD(list(lstm.parameters()) + list(head.parameters()), lr=0.01)
    chunks = np.random.default_rng(0).standard_normal((10, 10, 2, 2))
    counts = {}
    for detach in (True, False):
        state, seen = None, []
        for i, chunk in enumerate(chunks):
            opt.zero_grad()
            loss, state = chunked_loss(lstm, head, Tensor(chunk), state)
            loss.backward(retain_graph=not detach)
            opt.step()
            if detach:
                state = tuple(s.detach() for s in state)
            if i in (1, 4, 9):
                seen.append(live_nodes())
        counts[detach] = seen
    flat, growing = counts[True], counts[False]
    assert flat[0] == flat[1] == flat[2]  # the same number of graph nodes after every chunk
    assert growing[2] > 5 * max(flat)  # while the uncut graph keeps every chunk alive


# --------------------------------------------------------------------------- training smoke tests


class Regressor(nn.Module):
    """A sequence layer and a linear head on its last output."""

    def __init__(self, kind, hidden=12):
        self.rnn = getattr(nn, kind)(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def train(model, x, y, steps, lr=0.02):
    opt = optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.mse_loss(model(Tensor(x)), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def windows(sequence, size=3):
    return [(sequence[i:i + size], sequence[i + size]) for i in range(len(sequence) - size)]


def test_lstm_learns_to_continue_arithmetic_sequences():
    """The notebook's task: from 3 terms of start + k * step, predict the next."""
    tr.manual_seed(0)
    pairs = [w for start in range(6) for step in range(1, 4)
             if (start, step) != (1, 3)  # the notebook's own sequence 1, 4, 7, ... is held out
             for w in windows([start + k * step for k in range(8)])]
    scale = 20.0
    x = np.array([p[0] for p in pairs], float)[..., None] / scale
    y = np.array([[p[1]] for p in pairs], float) / scale
    model = Regressor("LSTM")
    losses = train(model, x, y, steps=300)
    assert losses[-1] < losses[0] / 1000
    prediction = model(Tensor(np.array([[[1.0], [4.0], [7.0]]]) / scale)).item() * scale
    assert abs(prediction - 10.0) < 0.5


def test_gru_learns_to_remember_the_first_element():
    tr.manual_seed(0)
    x = np.random.default_rng(0).uniform(-1, 1, (64, 5, 1))
    losses = train(Regressor("GRU"), x, x[:, 0], steps=200)
    assert losses[-1] < losses[0] / 100


def test_rnn_learns_the_mean_of_its_inputs():
    tr.manual_seed(0)
    x = np.random.default_rng(0).uniform(-1, 1, (64, 4, 1))
    losses = train(Regressor("RNN"), x, x.mean(axis=1), steps=200)
    assert losses[-1] < losses[0] / 100
