"""Batches of sequences of different lengths (``nn.utils.rnn``): packing and padding,
and RNN, LSTM and GRU run on packed batches, against torch and finite differences."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, nn

rnn_utils = nn.utils.rnn


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# --------------------------------------------------------------------------- packing and padding


def test_pack_orders_steps_then_sequences_and_pad_undoes_it():
    x = np.arange(12.0).reshape(4, 3, 1)  # (T, B, 1): x[t, b] = 3 t + b
    packed = rnn_utils.pack_padded_sequence(Tensor(x), [4, 2, 1])
    np.testing.assert_array_equal(packed.batch_sizes, [3, 2, 1, 1])
    np.testing.assert_array_equal(packed.data.data[:, 0], [0, 1, 2, 3, 4, 6, 9])
    padded, lengths = rnn_utils.pad_packed_sequence(packed, padding_value=-1.0)
    np.testing.assert_array_equal(lengths, [4, 2, 1])
    mask = np.arange(4)[:, None] < np.array([4, 2, 1])
    np.testing.assert_array_equal(padded.data[..., 0], np.where(mask, x[..., 0], -1.0))


def test_unsorted_batch_is_sorted_and_given_back_in_its_own_order():
    x = Tensor(rand(4, 3, 2), requires_grad=True)
    packed = rnn_utils.pack_padded_sequence(x, [1, 4, 2], enforce_sorted=False)
    np.testing.assert_array_equal(packed.sorted_indices, [1, 2, 0])
    np.testing.assert_array_equal(packed.unsorted_indices, [2, 0, 1])
    padded, lengths = rnn_utils.pad_packed_sequence(packed, batch_first=True, total_length=5)
    assert padded.shape == (3, 5, 2)
    np.testing.assert_array_equal(lengths, [1, 4, 2])
    padded.sum().backward()  # the gradient reaches exactly the steps that were packed
    np.testing.assert_array_equal(x.grad[..., 0], np.arange(4)[:, None] < np.array([1, 4, 2]))


def test_pad_sequence_and_pack_sequence():
    seqs = [Tensor(rand(n, 2, seed=n)) for n in (3, 1, 2)]
    padded = rnn_utils.pad_sequence(seqs, batch_first=True, padding_value=9.0)
    assert padded.shape == (3, 3, 2)
    np.testing.assert_array_equal(padded.data[1, 1:], 9.0)
    packed = rnn_utils.pack_sequence(seqs, enforce_sorted=False)
    np.testing.assert_array_equal(packed.batch_sizes, [3, 2, 1])
    back, lengths = rnn_utils.pad_packed_sequence(packed, batch_first=True)
    np.testing.assert_array_equal(lengths, [3, 1, 2])
    np.testing.assert_array_equal(back.data[0], seqs[0].data)


def test_bad_lengths_are_refused_with_the_reason():
    x = Tensor(rand(3, 2, 1))
    with pytest.raises(ValueError, match="not sorted longest first.*enforce_sorted=False"):
        rnn_utils.pack_padded_sequence(x, [1, 3])
    with pytest.raises(ValueError, match=r"in \[1, 3\]"):
        rnn_utils.pack_padded_sequence(x, [4, 1])
    with pytest.raises(ValueError, match=r"in \[1, 3\]"):
        rnn_utils.pack_padded_sequence(x, [3, 0])
    with pytest.raises(ValueError, match="2 integers"):
        rnn_utils.pack_padded_sequence(x, [3])
    packed = rnn_utils.pack_padded_sequence(x, [3, 1])
    with pytest.raises(ValueError, match="total_length 2 is shorter"):
        rnn_utils.pad_packed_sequence(packed, total_length=2)


# ------------------------------------------------------------------------- layers on packed batches


@st.composite
def packed_configs(draw):
    kind = draw(st.sampled_from(["RNN", "LSTM", "GRU"]))
    kwargs = dict(num_layers=draw(st.integers(1, 2)), bidirectional=draw(st.booleans()))
    if kind == "LSTM" and draw(st.booleans()):
        kwargs["proj_size"] = 2
    lengths = draw(st.lists(st.integers(1, 5), min_size=1, max_size=4))
    return kind, kwargs, lengths, draw(st.booleans()), draw(st.integers(0, 2**31))


def _state_shapes(kind, kwargs, batch, hidden):
    rows = kwargs["num_layers"] * (2 if kwargs["bidirectional"] else 1)
    shapes = [(rows, batch, kwargs.get("proj_size", hidden))]
    return shapes + ([(rows, batch, hidden)] if kind == "LSTM" else [])


@settings(deadline=None)
@given(config=packed_configs())
def test_packed_layers_match_torch_outputs_states_and_every_gradient(config):
    torch = pytest.importorskip("torch")
    kind, kwargs, lengths, given_state, seed = config
    rng = np.random.default_rng(seed)
    ours = getattr(nn, kind)(2, 3, **kwargs)
    theirs = getattr(torch.nn, kind)(2, 3, **kwargs).double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    x = rng.standard_normal((max(lengths), len(lengths), 2))
    states = [rng.standard_normal(s) for s in _state_shapes(kind, kwargs, len(lengths), 3)]
    leaves = [Tensor(a.copy(), requires_grad=True) for a in [x, *states]]
    tleaves = [torch.tensor(a.copy(), requires_grad=True) for a in [x, *states]]

    def run(nnmod, utils, layer, tensors, lengths_arg):
        packed = utils.pack_padded_sequence(tensors[0], lengths_arg, enforce_sorted=False)
        hx = None if not given_state else (tuple(tensors[1:]) if kind == "LSTM" else tensors[1])
        out, final = layer(packed, hx)
        padded, _ = utils.pad_packed_sequence(out)
        return [padded, *(final if kind == "LSTM" else (final,))]

    outs = run(nn, rnn_utils, ours, leaves, lengths)
    touts = run(torch.nn, torch.nn.utils.rnn, theirs, tleaves, torch.tensor(lengths))
    upstream = [rng.standard_normal(o.shape) for o in outs]
    sum((o * Tensor(v)).sum() for o, v in zip(outs, upstream)).backward()
    sum((o * torch.tensor(v)).sum() for o, v in zip(touts, upstream)).backward()
    for o, t in zip(outs, touts):
        np.testing.assert_allclose(o.data, t.detach().numpy(), rtol=1e-10, atol=1e-12)
    for a, b in zip(leaves if given_state else leaves[:1], tleaves):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-9, atol=1e-11)
    for (name, p), (tname, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert name == tname
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-9, atol=1e-11, err_msg=name)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_packed_layer_gradients_agree_with_finite_differences(kind):
    tr.manual_seed(0)
    layer = getattr(nn, kind)(2, 2, bidirectional=True)
    x = Tensor(rand(3, 3, 2), requires_grad=True)
    h0 = Tensor(rand(2, 3, 2, seed=1) * 0.5, requires_grad=True)

    def fn(x, h0):
        packed = rnn_utils.pack_padded_sequence(x, [2, 3, 1], enforce_sorted=False)
        state = (h0, h0 * 0.5) if kind == "LSTM" else h0
        out, final = layer(packed, state)
        final = final[0] if kind == "LSTM" else final
        return rnn_utils.pad_packed_sequence(out)[0], final

    assert tr.gradcheck(fn, [x, h0], params=dict(layer.named_parameters()))


def test_each_sequence_ends_with_its_own_last_state():
    tr.manual_seed(0)
    gru = nn.GRU(2, 3)
    x = rand(4, 2, 2)
    out, h_n = gru(rnn_utils.pack_padded_sequence(Tensor(x), [4, 2]))
    alone, h_alone = gru(Tensor(x[:2, 1:2]))  # the short sequence by itself
    np.testing.assert_allclose(h_n.data[0, 1], h_alone.data[0, 0], rtol=1e-14)
    padded, _ = rnn_utils.pad_packed_sequence(out)
    np.testing.assert_allclose(padded.data[:2, 1], alone.data[:, 0], rtol=1e-14)
    np.testing.assert_array_equal(padded.data[2:, 1], 0.0)


def test_packed_input_is_checked_like_any_other():
    lstm = nn.LSTM(2, 3).float()
    packed = rnn_utils.pack_padded_sequence(Tensor(rand(3, 2, 2)), [3, 1])
    with pytest.raises(TypeError, match="LSTM: the input has dtype float64"):
        lstm(packed)
    with pytest.raises(ValueError, match=r"expected input with 5 features .*got 2"):
        nn.LSTM(5, 3)(packed)


def test_tracing_a_packed_batch_says_to_pad_it_first():
    lstm = nn.LSTM(2, 3)
    packed = rnn_utils.pack_padded_sequence(Tensor(rand(3, 2, 2)), [3, 1])
    with tr.trace.record_gates(), pytest.raises(ValueError, match="pad_packed_sequence"):
        lstm(packed)
