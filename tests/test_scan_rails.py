"""Issue 15, item 5: replay.scan's guard rails. A lambda written inline is recorded
once; a step that runs op by op says why (ScanFallbackWarning); a random draw while a
step is recorded is refused; ``fixed=`` takes a Module; the messages name the step."""

import gc
import re
import warnings

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, functional as F, nn, replay

RNG = np.random.default_rng(3)
W = Tensor(RNG.standard_normal((3, 4)) * 0.5, requires_grad=True)
U = Tensor(RNG.standard_normal((4, 4)) * 0.5, requires_grad=True)
XS = Tensor(RNG.standard_normal((5, 2, 3)))
H0 = Tensor(np.zeros((2, 4)))


def scanned(out):
    return isinstance(getattr(out.grad_fn, "program", None), replay.Program)


def test_an_inline_lambda_is_recorded_once():
    programs = set()
    for _ in range(3):  # a new function object at every call, the same code and closure
        out, _ = replay.scan(lambda x, h: (x @ W + h @ U).tanh(), [XS], [H0], fixed=[W, U])
        assert scanned(out)
        programs.add(id(out.grad_fn.program))
    assert len(programs) == 1


def test_closures_over_other_objects_get_recordings_of_their_own():
    def make(scale):
        return lambda x, h: (x @ W + h @ U).tanh() * scale

    for scale in (0.5, 2.0):  # the number is baked into the recording: one each
        out, _ = replay.scan(make(scale), [XS], [H0], fixed=[W, U])
        with replay.disabled():
            expected, _ = replay.scan(make(scale), [XS], [H0], fixed=[W, U])
        assert scanned(out) and np.array_equal(out.data, expected.data)


def test_a_recording_goes_when_what_the_step_closes_over_goes():
    """A dead object's id may be reused: its recordings must not be found under it."""
    before = len(replay._STEPS)

    def scan_over_a_bias():
        bias = Tensor(np.full(4, 0.1))  # read as a constant (no grad)
        out, _ = replay.scan(lambda x, h: (x @ W + h @ U + bias).tanh(), [XS], [H0],
                             fixed=[W, U])
        assert scanned(out)
        return len(replay._STEPS)

    assert scan_over_a_bias() == before + 1
    gc.collect()
    assert len(replay._STEPS) == before


def test_a_bound_method_is_kept_by_its_object():
    class Stepper:
        def __init__(self, k):
            self.k = k

        def step(self, x, h):
            return (x @ W + h @ U).tanh() * self.k

    a, b = Stepper(1.0), Stepper(3.0)
    out_a, _ = replay.scan(a.step, [XS], [H0], fixed=[W, U])
    out_b, _ = replay.scan(b.step, [XS], [H0], fixed=[W, U])
    assert out_a.grad_fn.program is not out_b.grad_fn.program
    with replay.disabled():
        expected_b, _ = replay.scan(b.step, [XS], [H0], fixed=[W, U])
    assert np.array_equal(out_b.data, expected_b.data)
    again, _ = replay.scan(a.step, [XS], [H0], fixed=[W, U])  # a new bound method object
    assert again.grad_fn.program is out_a.grad_fn.program


def test_a_step_run_op_by_op_says_why_once_naming_the_tensor():
    def step(x, h):
        return (x @ W + h @ U).tanh()

    with pytest.warns(replay.ScanFallbackWarning, match=re.escape(
            "replay.scan runs test_a_step_run_op_by_op_says_why_once_naming_the_tensor."
            "<locals>.step op by op, not as one Scan node: it reads a tensor of shape (4, 4) "
            "(U) that requires grad but is neither a sequence slice, a state nor in fixed; "
            "pass it in fixed")):
        out, _ = replay.scan(step, [XS], [H0], fixed=[W])  # U forgotten
    assert not scanned(out)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once per step and shapes
        replay.scan(step, [XS], [H0], fixed=[W])
    assert issubclass(replay.ScanFallbackWarning, UserWarning)


def test_the_warning_names_a_parameter_of_a_module_the_step_closes_over():
    cell = nn.RNNCell(3, 4).double()
    with pytest.warns(replay.ScanFallbackWarning, match=re.escape(
            "a tensor of shape (4,) (cell.bias_ih) that requires grad")):
        replay.scan(lambda x, h: cell(x, h), [XS], [H0], fixed=[cell.weight_ih])


def test_no_warning_inside_disabled_where_op_by_op_is_asked_for():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with replay.disabled():
            replay.scan(lambda x, h: (x @ W + h @ U).tanh(), [XS], [H0], fixed=[W])


def dropping_step(x, h):
    return (F.dropout(x, 0.5, training=True) @ W + h @ U).tanh()


def test_a_random_draw_while_a_step_is_recorded_is_refused():
    with pytest.raises(RuntimeError, match=re.escape(
            "replay.scan: the step draws random numbers (dropout?) while it is recorded, and "
            "a recording would replay the same draw at every step; draw the mask outside "
            "and pass it as a sequence")):
        replay.scan(dropping_step, [XS], [H0], fixed=[W, U])
    tr.rng.generator()  # refused only while recording
    tr.manual_seed(0)
    with replay.disabled():  # op by op, every step draws its own mask
        out, _ = replay.scan(dropping_step, [XS], [H0], fixed=[W, U])
    assert out.shape == (5, 2, 4)


def test_a_mask_drawn_outside_and_passed_as_a_sequence_is_scanned():
    tr.manual_seed(0)
    masks = F.dropout(Tensor(np.ones(XS.shape)), 0.5, training=True)
    out, _ = replay.scan(lambda x, m, h: ((x * m) @ W + h @ U).tanh(), [XS, masks], [H0],
                         fixed=[W, U])
    with replay.disabled():
        expected, _ = replay.scan(lambda x, m, h: ((x * m) @ W + h @ U).tanh(), [XS, masks],
                                  [H0], fixed=[W, U])
    assert scanned(out) and np.array_equal(out.data, expected.data)


def test_a_layers_own_dropout_between_layers_still_draws():
    tr.manual_seed(1)
    lstm = nn.LSTM(3, 4, num_layers=2, dropout=0.5).double()
    x = Tensor(RNG.standard_normal((5, 2, 3)))
    first, _ = lstm(x)
    second, _ = lstm(x)  # another mask
    assert not np.array_equal(first.data, second.data)


def test_fixed_takes_a_module_for_its_parameters_by_name():
    cell = nn.RNNCell(3, 4).double()
    out, _ = replay.scan(cell, [XS], [H0], fixed=cell)
    assert scanned(out)
    assert "weight_ih" in out.grad_fn.program.source()
    expected, _ = replay.scan(cell, [XS], [H0], fixed=list(cell.parameters()))
    assert np.array_equal(out.data, expected.data)


def test_a_wrong_number_of_states_returned_names_the_step():
    def two_states(x, h):
        return h, h

    for context in (replay.disabled(), warnings.catch_warnings()):
        with context, pytest.raises(TypeError, match=re.escape(
                "got 2 values (step: test_a_wrong_number_of_states_returned_names_the_step."
                "<locals>.two_states)")):
            replay.scan(two_states, [XS], [H0], fixed=[W, U])
    with pytest.raises(ValueError, match=r"\(step: the lambda at test_scan_rails.py:\d+\)"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        replay.scan(lambda x, h: x, [XS], [H0])
