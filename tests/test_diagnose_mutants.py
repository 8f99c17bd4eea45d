"""Mistakes made by editing one line of the reference LSTM's BPTT loop (not the zoo's
code, nor the candidate mistakes'), checked with check_hand_backward: each must get its
kind. A check of the diagnoses against mistakes written apart from them."""

import inspect

import pytest
from hypothesis import settings

from tinygrad_rnn.reference import lstm as L
from tinygrad_rnn.reference._params import weight_grads
from tinygrad_rnn.testing import HandBackwardError, check_hand_backward

SOURCE = inspect.getsource(L._bptt)

# name: (the kind, then (line as written, the mistake) pairs)
MUTANTS = {
    "cell_state_carry_dropped": ("missing_recurrent_carry",
                                 [("dc_next = dc * f", "dc_next = 0 * dc")]),
    "hidden_carry_dropped": ("missing_recurrent_carry",
                             [("dh_next = da @ W_hh", "dh_next = 0 * (da @ W_hh)")]),
    "forget_gate_reads_c_t": ("time_shift", [("dc * cs[t] * f", "dc * cs[t + 1] * f")]),
    "sigmoid_derivative_of_i_at_i": ("wrong_point_derivative", [
        ("dc * g * i * (1.0 - i)", "dc * g * _sigmoid(i) * (1.0 - _sigmoid(i))")]),
    "tanh_derivative_of_g_at_g": ("wrong_point_derivative", [
        ("dc * i * (1.0 - g * g)", "dc * i * (1.0 - np.tanh(g) ** 2)")]),
    "input_and_output_gates_exchanged": ("gate_swap", [
        ("da[:, :H] = dc * g * i * (1.0 - i)", "da[:, 3 * H:] = dc * g * i * (1.0 - i)"),
        ("da[:, 3 * H:] = dh * tanh_c * o * (1.0 - o)",
         "da[:, :H] = dh * tanh_c * o * (1.0 - o)")]),
}


def mutant_backward(edits):
    code = SOURCE
    for line, mistake in edits:
        assert line in code, line
        code = code.replace(line, mistake)
    namespace = dict(vars(L))
    exec(code, namespace)
    bptt = namespace["_bptt"]

    def backward(state_dict, x, d_out):
        params = {k.replace("_l0", ""): v for k, v in state_dict.items()}
        _, _, cache = L.lstm_forward(params, x)
        _, _, dA, _, _ = bptt(cache, d_out, None, None)
        grads = weight_grads(dA, x, dA, cache[1][:-1])
        grads["x"] = dA @ cache[4]
        return grads

    return backward


@pytest.mark.parametrize("name", MUTANTS)
def test_a_one_line_mistake_in_the_reference_bptt_gets_its_kind(name):
    kind, edits = MUTANTS[name]
    with pytest.raises(HandBackwardError) as info:
        check_hand_backward(mutant_backward(edits), kinds="lstm", num_layers=1,
                            bidirectional=False, batch_first=False, bias=True, seq_len=(3, 5),
                            settings=settings(max_examples=20, database=None))
    kinds = {d.kind for d in info.value.diagnoses}
    assert kinds == {kind}, str(info.value)
