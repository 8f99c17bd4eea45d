"""gradcheck_layer says when it checked nothing: a parameter (or x, or a state) that no
gradient reaches is a failing row "not reached", as tr.gradcheck's inputs; a frozen
parameter (requires_grad=False) is left out with a note."""

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import nn
from tinygrad_rnn.layercheck import layercheck_report

X = np.random.default_rng(15).standard_normal((4, 2, 3))


class UnusedGainCell(nn.RecurrentCell):
    """An Elman cell with a parameter its step never reads."""

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__(input_size, hidden_size, bias)
        self.gain = nn.Parameter(np.ones(hidden_size))

    def step(self, xp, state):
        (h,) = state
        return (xp + self.recurrent(h)).tanh()


class ForgetfulCell(nn.RecurrentCell):
    """Reads neither its state nor weight_hh and bias_hh (recurrent(h) is never called)."""

    def step(self, xp, state):
        return xp.tanh()


def test_a_parameter_the_forward_never_uses_fails_as_not_reached():
    cell = UnusedGainCell(3, 4).double()
    report = layercheck_report(cell, X, unroll=True)
    assert not report.ok
    (row,) = [r for r in report.rows if r.tensor == "gain"]
    assert row.part == "not reached" and not row.ok
    assert all(r.ok for r in report.rows if r.tensor != "gain")
    assert report.culprit.startswith("the output does not depend on gain")
    with pytest.raises(tr.GradcheckError, match="not reached"):
        tr.gradcheck_layer(cell, X, unroll=True)
    layer = nn.Recurrent(UnusedGainCell, 3, 4, num_layers=2).double()
    report = layercheck_report(layer, X)
    assert sorted(r.tensor for r in report.rows if r.part == "not reached") == [
        "gain_l0", "gain_l1"]


def test_a_state_the_step_never_reads_fails_as_not_reached():
    report = layercheck_report(ForgetfulCell(3, 4).double(), X, unroll=True)
    assert [r.tensor for r in report.rows if r.part == "not reached"] == [
        "weight_hh", "bias_hh", "h0"]
    assert not report.ok


def test_a_frozen_parameter_is_left_out_with_a_note():
    cell = nn.RNNCell(3, 4).double()
    cell.weight_hh.requires_grad = False
    report = layercheck_report(cell, X)
    assert report.ok, str(report)
    assert "weight_hh" not in {r.tensor for r in report.rows}
    assert any("do not require grad: weight_hh" in n for n in report.notes)
    assert tr.gradcheck_layer(cell, X)
