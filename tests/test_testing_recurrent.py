"""tinygrad_rnn.testing for recurrent layers: configuration strategies, the
layer gradient check over them, and the hand-written-backward checker that
shrinks a failure to the smallest configuration."""

import numpy as np
import pytest
from hypothesis import given, settings

import tinygrad_rnn as tr
from tinygrad_rnn import nn, reference as R
from tinygrad_rnn.testing import (
    HandBackwardError,
    RecurrentConfig,
    check_hand_backward,
    check_layer_gradients,
    recurrent_configs,
)

ONE_LAYER = dict(num_layers=1, bidirectional=False, batch_first=False)


# --------------------------------------------------------------------------- strategies


@given(config=recurrent_configs(seq_len=(2, 3), hidden_size=(1, 2)))
def test_configs_respect_their_bounds_and_build_a_working_layer(config):
    assert config.kind in ("rnn", "lstm", "gru")
    assert 2 <= config.seq_len <= 3 and 1 <= config.batch <= 3
    assert 1 <= config.hidden_size <= 2 and 1 <= config.num_layers <= 2
    layer = config.layer()
    out, _ = layer(config.input())
    assert out.shape == config.output_shape == config.d_outputs().shape
    assert out.dtype == np.float64
    assert type(layer).__name__ == config.kind.upper()
    assert layer.bidirectional == config.bidirectional and layer.batch_first == config.batch_first
    assert (len(list(layer.parameters())) ==
            config.num_layers * (2 if config.bidirectional else 1) * (4 if config.bias else 2))


@given(config=recurrent_configs(kinds="gru", seq_len=3, bidirectional=True, bias=False))
def test_fixed_values_stay_fixed(config):
    fixed = (config.kind, config.seq_len, config.bidirectional, config.bias)
    assert fixed == ("gru", 3, True, False)


def test_a_config_is_deterministic_and_readable():
    config = RecurrentConfig("lstm", 2, 1, 3, 2, seed=5)
    a, b = config.layer(), config.layer()
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
    np.testing.assert_array_equal(config.input(), config.input())
    assert str(config) == "lstm T=2 N=1 I=3 H=2 layers=1 seed=5"


def test_a_range_below_one_is_refused():
    with pytest.raises(ValueError, match="seq_len must be at least 1"):
        recurrent_configs(seq_len=(0, 3))


def test_layer_gradients_over_configurations():
    check_layer_gradients(recurrent_configs(seq_len=(1, 2), batch=(1, 2), input_size=(1, 2),
                                            hidden_size=(1, 2), num_layers=1),
                          settings=settings(max_examples=8))


class _LeakyCell(nn.RecurrentCell):
    """h' = (1 - a) h + a tanh(xp + W_hh h + b_hh), a learned per unit."""

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__(input_size, hidden_size, bias)
        self.a = nn.Parameter(np.full(hidden_size, 0.5))

    def step(self, xp, state):
        (h,) = state
        return (1 - self.a) * h + self.a * (xp + self.recurrent(h)).tanh()


def test_layer_gradients_of_a_protocol_cell_over_configurations():
    def make_layer(config):
        tr.manual_seed(config.seed)
        return nn.Recurrent(_LeakyCell, config.input_size, config.hidden_size,
                            num_layers=config.num_layers, bidirectional=config.bidirectional,
                            batch_first=config.batch_first, bias=config.bias).double()

    check_layer_gradients(recurrent_configs(seq_len=(1, 3), batch=(1, 2), input_size=(1, 2),
                                            hidden_size=(1, 2), num_layers=(1, 2)),
                          make_layer, settings=settings(max_examples=8))


# --------------------------------------------------------------------------- hand-written backward


def reference_backward(kind):
    """The hand BPTT of tinygrad_rnn.reference as a hand_fn (one layer, time-major)."""
    def hand_fn(state_dict, x, d_out):
        if kind == "lstm":
            _, _, cache = R.lstm_forward(state_dict, x)
            return R.lstm_backward(cache, d_out)
        forward, backward = {"rnn": (R.rnn_forward, R.rnn_backward),
                             "gru": (R.gru_forward, R.gru_backward)}[kind]
        return backward(forward(state_dict, x)[1], d_out)
    return hand_fn


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_the_reference_bptt_passes(kind):
    check_hand_backward(reference_backward(kind), recurrent_configs(kinds=kind, **ONE_LAYER))


def rnn_backward_with_the_notebooks_dtanh(state_dict, x, d_out):
    """rnn_backward, but with tanh' evaluated at h_t, which is already tanh(a_t)."""
    hs, (x, hs_all, W_ih, W_hh) = R.rnn_forward(state_dict, x)
    da = np.empty_like(d_out)
    dh_next = np.zeros_like(hs_all[0])
    for t in reversed(range(x.shape[0])):
        da[t] = (d_out[t] + dh_next) * (1 - np.tanh(hs_all[t + 1]) ** 2)   # the bug
        dh_next = da[t] @ W_hh
    def flat(a):
        return a.reshape(-1, a.shape[-1])

    return {"weight_ih": flat(da).T @ flat(x), "weight_hh": flat(da).T @ flat(hs_all[:-1]),
            "bias_ih": flat(da).sum(0), "bias_hh": flat(da).sum(0), "x": da @ W_ih}


def test_the_notebooks_dtanh_bug_is_caught_and_shrunk_to_the_smallest_configuration():
    with pytest.raises(HandBackwardError) as info:
        check_hand_backward(rnn_backward_with_the_notebooks_dtanh,
                            recurrent_configs(kinds="rnn", **ONE_LAYER),
                            settings=settings(max_examples=50, database=None))
    config = info.value.config
    # one step of one sequence with one unit already shows the wrong derivative
    assert (config.seq_len, config.batch, config.input_size, config.hidden_size) == (1, 1, 1, 1)
    assert not info.value.report.ok
    assert "T=1 N=1 I=1 H=1" in str(info.value) and "MISMATCH" in str(info.value)


def test_a_scale_mistake_is_diagnosed_in_the_error():
    def halved(state_dict, x, d_out):
        return {k: 0.5 * v for k, v in reference_backward("gru")(state_dict, x, d_out).items()}

    with pytest.raises(HandBackwardError, match="constant scale factor: actual = 0.500"):
        check_hand_backward(halved, recurrent_configs(kinds="gru", **ONE_LAYER),
                            settings=settings(max_examples=5, database=None))


def test_a_missing_parameter_gradient_is_named():
    def no_biases(state_dict, x, d_out):
        grads = reference_backward("rnn")(state_dict, x, d_out)
        return {k: v for k, v in grads.items() if not k.startswith("bias")}

    with pytest.raises(HandBackwardError, match="no gradient for \\['bias_ih_l0', 'bias_hh_l0'\\]"):
        check_hand_backward(no_biases, recurrent_configs(kinds="rnn", bias=True, **ONE_LAYER),
                            settings=settings(max_examples=3, database=None))


def test_a_custom_layer_factory_is_used():
    seen = []

    def make_layer(config):
        seen.append(config)
        return config.layer()

    check_hand_backward(reference_backward("rnn"), recurrent_configs(kinds="rnn", **ONE_LAYER),
                        make_layer, settings=settings(max_examples=3))
    assert seen and all(isinstance(c, RecurrentConfig) for c in seen)
