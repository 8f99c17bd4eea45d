"""Anomaly mode: ``tr.detect_anomaly()`` finds the first op that makes nan or inf.

Forward: the first op whose outputs are not finite while its inputs are. Backward:
the first node whose backward returns a non-finite gradient from finite ones.
Either raises ``AnomalyError`` naming the op, the shapes and the line of the
test that made the op. Outside the mode nothing is checked and the results are
the same, bit for bit; the mode is per thread and restored on leaving.
"""

import sys
import threading
import warnings

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, nn, replay

THIS_FILE = "test_anomaly.py"


@pytest.fixture(autouse=True)
def quiet_numpy():
    with warnings.catch_warnings(), np.errstate(all="ignore"):  # nan and inf are the point
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def line_of(text):
    """The number of the line of this file that starts with ``text`` (once)."""
    with open(__file__, encoding="utf-8") as f:
        numbers = [k + 1 for k, line in enumerate(f) if line.strip().startswith(text)]
    assert len(numbers) == 1, (text, numbers)
    return numbers[0]


def made_here(text):
    """What the error says of the line of this file that starts with ``text``."""
    return f"{THIS_FILE}:{line_of(text)}: {text}"


# --------------------------------------------------------------------------- forward


def test_forward_nan_names_the_op_the_shapes_and_the_line():
    x = Tensor([[1.0, -1.0, 2.0]], requires_grad=True)
    with tr.detect_anomaly(), pytest.raises(tr.AnomalyError) as caught:
        y = x.log()  # the nan: log(-1)  # noqa: F841
    message = str(caught.value)
    assert message.startswith("detect_anomaly: log produced nan from finite inputs")
    assert "(input shapes (1, 3), output shape (1, 3))" in message
    assert made_here("y = x.log()  # the nan: log(-1)") in message


def test_forward_inf_names_the_op():
    x = Tensor([1.0, 800.0])
    with tr.detect_anomaly(), pytest.raises(tr.AnomalyError, match="exp produced inf") as caught:
        x.exp()  # overflow
    assert made_here("x.exp()  # overflow") in str(caught.value)


def test_inputs_already_non_finite_are_not_the_ops_fault():
    x = Tensor([np.nan, 1.0, np.inf])
    with tr.detect_anomaly():
        y = (x * 2).exp()  # nan and inf in, nan and inf out: reported where they were made
    assert np.isnan(y.data[0]) and np.isinf(y.data[2])


def test_an_anomaly_error_is_a_runtime_error():
    assert issubclass(tr.AnomalyError, RuntimeError)
    assert tr.autograd.AnomalyError is tr.AnomalyError


# --------------------------------------------------------------------------- backward


def test_backward_nan_names_the_node_and_where_it_was_made():
    z = Tensor([0.0, 4.0], requires_grad=True)
    with tr.detect_anomaly():
        root = z.sqrt()  # finite: 0 and 2; its backward at 0 is inf * 0
        loss = (root * Tensor([0.0, 1.0])).sum()
        with pytest.raises(tr.AnomalyError) as caught:
            loss.backward()
    message = str(caught.value)
    assert "the backward of pow returned nan in the gradient of its input 0" in message
    assert "from finite output gradients (input shapes (2,), output shape (2,))" in message
    assert made_here("root = z.sqrt()  # finite: 0 and 2; its backward at 0 is inf * 0") \
        in message


class NanGrad(tr.Function):
    """y = 2x, with a backward that returns nan."""

    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, grad):
        return grad * np.nan


class FailingGrad(NanGrad):
    @staticmethod
    def backward(ctx, grad):
        raise ValueError("my backward is broken")


def test_a_custom_functions_nan_backward_is_named():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with tr.detect_anomaly():
        y = NanGrad.apply(x)  # the culprit
        with pytest.raises(tr.AnomalyError) as caught:
            (y * 3).sum().backward()
    assert "the backward of nangrad returned nan" in str(caught.value)
    assert made_here("y = NanGrad.apply(x)  # the culprit") in str(caught.value)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes are Python 3.11+")
def test_a_failing_backward_gets_the_line_that_made_its_node_as_a_note():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with tr.detect_anomaly(check_nan=False):
        y = FailingGrad.apply(x)  # breaks in backward
        with pytest.raises(ValueError, match="my backward is broken") as caught:
            y.sum().backward()
    notes = getattr(caught.value, "__notes__", [])
    assert any(made_here("y = FailingGrad.apply(x)  # breaks in backward") in n for n in notes)


def test_a_graph_made_outside_the_mode_has_no_line_but_is_still_checked():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = NanGrad.apply(x)
    assert y._node.made_at is None  # nothing is noted outside the mode
    with tr.detect_anomaly(), pytest.raises(tr.AnomalyError, match="an unknown line"):
        y.sum().backward()


def test_check_nan_false_notes_lines_but_checks_no_value():
    x = Tensor([-1.0, 2.0], requires_grad=True)
    with tr.detect_anomaly(check_nan=False):
        assert tr.autograd.is_anomaly_enabled()
        assert not tr.autograd.is_anomaly_check_nan_enabled()
        y = x.log()
        NanGrad.apply(x).sum().backward()
    assert np.isnan(y.data[0]) and np.isnan(x.grad).all()
    assert y._node.made_at is not None


# --------------------------------------------------------------------------- a layer


def exploding_lstm():
    """An LSTM whose cell input gate has gain 12 around its resting state, fed 100 steps
    of zeros: the state stays 0 and the loss is fine, but the gradient grows about
    threefold per step back in time and overflows float32."""
    tr.manual_seed(0)
    lstm = nn.LSTM(3, 4).float()
    w = lstm.weight_hh_l0.data
    w[:] = 0
    w[8:12] = 12 * np.eye(4)  # the g rows (gates i, f, g, o)
    lstm.bias_ih_l0.data[:] = 0
    lstm.bias_hh_l0.data[:] = 0
    return lstm, Tensor(np.zeros((100, 1, 3), np.float32))


def test_an_exploding_lstm_is_caught_in_backward_at_the_layers_line():
    lstm, x = exploding_lstm()
    out, _ = lstm(x)
    loss = ((out[-1] - 1.0) ** 2).sum()
    loss.backward()  # outside the mode: no error, inf and nan gradients
    assert np.isfinite(loss.item())
    assert not all(np.isfinite(p.grad).all() for p in lstm.parameters())

    lstm.zero_grad()
    with tr.detect_anomaly():
        out, _ = lstm(x)  # the layer's line
        loss = ((out[-1] - 1.0) ** 2).sum()
        with pytest.raises(tr.AnomalyError) as caught:
            loss.backward()
    message = str(caught.value)
    assert "returned inf" in message and "from finite output gradients" in message
    assert made_here("out, _ = lstm(x)  # the layer's line") in message


def test_layers_run_op_by_op_in_the_mode_to_the_same_bits():
    tr.manual_seed(1)
    lstm = nn.LSTM(3, 4, num_layers=2)
    x = Tensor(np.random.default_rng(0).normal(size=(6, 2, 3)))

    def run():
        lstm.zero_grad()
        out, (h, c) = lstm(x)
        (out.sum() + c.sum()).backward()
        return out, [out.data, h.data, c.data] + [p.grad.copy() for p in lstm.parameters()]

    outside_out, outside = run()
    with tr.detect_anomaly():
        assert not replay.is_enabled()  # every op visible
        inside_out, inside = run()
    assert replay.is_enabled() == tr.speedups.installed()
    assert "Scan" not in inside_out.grad_fn.__name__
    assert all(np.array_equal(a, b) for a, b in zip(inside, outside))


# --------------------------------------------------------------------------- on and off


def test_outside_the_mode_nothing_is_raised_and_results_are_the_same():
    x = Tensor([-1.0, 0.0, 2.0], requires_grad=True)
    y = x.log()  # nan and -inf, silently, as torch
    assert np.isnan(y.data[0]) and np.isneginf(y.data[1])
    w = Tensor([0.5, 1.5, 2.0], requires_grad=True)

    def finite_run():
        w.zero_grad()
        loss = (w.tanh() * w.exp()).sum()
        loss.backward()
        return loss.data, w.grad.copy()

    outside = finite_run()
    with tr.detect_anomaly():
        inside = finite_run()
    assert all(np.array_equal(a, b) for a, b in zip(outside, inside))


def test_the_mode_is_restored_on_exit_and_after_an_error():
    assert not tr.autograd.is_anomaly_enabled()
    with tr.detect_anomaly():
        with tr.detect_anomaly(check_nan=False):
            assert not tr.autograd.is_anomaly_check_nan_enabled()
        assert tr.autograd.is_anomaly_check_nan_enabled()
    assert not tr.autograd.is_anomaly_enabled()
    with pytest.raises(tr.AnomalyError), tr.detect_anomaly():
        Tensor([-1.0]).log()
    assert not tr.autograd.is_anomaly_enabled()
    Tensor([-1.0]).log()  # and nothing is checked any more


def test_set_detect_anomaly_as_a_call_and_as_a_context_manager():
    try:
        tr.autograd.set_detect_anomaly(True)
        assert tr.autograd.is_anomaly_enabled()
        with pytest.raises(tr.AnomalyError):
            Tensor([-1.0]).log()
        tr.autograd.set_detect_anomaly(False)
        assert not tr.autograd.is_anomaly_enabled()
        with tr.autograd.set_detect_anomaly(True, check_nan=False):
            assert tr.autograd.is_anomaly_enabled()
            assert not tr.autograd.is_anomaly_check_nan_enabled()
        assert not tr.autograd.is_anomaly_enabled()
    finally:
        tr.autograd.set_detect_anomaly(False)


def test_detect_anomaly_as_a_decorator():
    @tr.detect_anomaly()
    def log(t):
        return t.log()

    with pytest.raises(tr.AnomalyError):
        log(Tensor([-1.0]))
    assert not tr.autograd.is_anomaly_enabled()


@pytest.mark.parametrize("call, fragment", [
    (lambda: tr.detect_anomaly(check_nan="yes"), "detect_anomaly: check_nan must be a bool"),
    (lambda: tr.autograd.set_detect_anomaly(1), "set_detect_anomaly: mode must be a bool"),
    (lambda: tr.autograd.set_detect_anomaly(True, check_nan=None),
     "set_detect_anomaly: check_nan must be a bool"),
])
def test_flags_that_are_not_bools_are_refused_and_change_nothing(call, fragment):
    with pytest.raises(TypeError, match=fragment):
        call()
    assert not tr.autograd.is_anomaly_enabled()


def test_the_mode_is_per_thread():
    inside, checked = threading.Event(), threading.Event()
    seen = {}

    def other():
        assert inside.wait(10)
        seen["enabled"] = tr.autograd.is_anomaly_enabled()
        seen["log"] = Tensor([-1.0]).log().data  # not checked in this thread
        checked.set()

    thread = threading.Thread(target=other)
    thread.start()
    with tr.detect_anomaly():
        inside.set()
        assert checked.wait(10)
        with pytest.raises(tr.AnomalyError):
            Tensor([-1.0]).log()
    thread.join(10)
    assert seen["enabled"] is False and np.isnan(seen["log"][0])
