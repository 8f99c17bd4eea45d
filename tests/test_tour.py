"""The guided tour, `python -m tinygrad_rnn`: its facts are computed, and true.

References are the notebook's printed values, numpy, and arithmetic (the next
element of 1, 4, 7 is 10); nothing is copied from the tour's own output."""

import string
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygrad_rnn.__main__ import main
from tinygrad_rnn.reference.notebook import notebook_forward
from tinygrad_rnn.tour import (
    NOTEBOOK_INPUTS,
    NOTEBOOK_OUTPUTS,
    TEST_SEQUENCE,
    UNSEEN_SEQUENCE,
    notebook_params,
    run_tour,
)
from tinygrad_rnn.tour_text import TEXT, text


@pytest.fixture(scope="module")
def tour():
    lines = []
    result = run_tour("en", out=lines.append)
    return result, "\n".join(lines)


@pytest.fixture(scope="module")
def tour_fa():
    lines = []
    result = run_tour("fa", out=lines.append)
    return result, "\n".join(lines)


# --------------------------------------------------------------------------- part 1


def test_part1_reproduces_the_notebooks_printed_outputs(tour):
    result, out = tour
    np.testing.assert_allclose(result.outputs, NOTEBOOK_OUTPUTS, rtol=0, atol=1e-8)
    # and is exactly the notebook's own numpy loop
    numpy_outputs, _ = notebook_forward(notebook_params(),
                                        [np.array([[v]]) for v in NOTEBOOK_INPUTS])
    np.testing.assert_allclose(result.outputs, [y.item() for y in numpy_outputs], rtol=1e-13)
    for printed in NOTEBOOK_OUTPUTS:
        assert f"{printed:.8f}" in out


# --------------------------------------------------------------------------- part 2


def test_part2_autograd_training_lowers_the_loss(tour):
    result, out = tour
    losses = [loss for _, loss in result.autograd_losses]
    assert [e for e, _ in result.autograd_losses] == list(range(0, 1000, 100))
    assert all(b < a for a, b in zip(losses, losses[1:]))
    assert losses[-1] < losses[0] / 1000
    assert f"{losses[-1]:.6e}" in out


def test_part2_diagnoses_the_scale_factor_and_dtanh(tour):
    result, out = tour
    for name in ("W_y", "b_y"):   # no tanh on their path: only the 0.5*sum vs mean scale
        (diagnosis,) = result.faithful[name].diagnoses
        assert "1.500 x expected" in diagnosis and "0.667" in diagnosis
    assert not result.faithful.ok
    # with the scale fixed, the output weights agree and the rest does not
    assert result.scale_fixed["W_y"].ok and result.scale_fixed["b_y"].ok
    assert not any(result.scale_fixed[n].ok for n in ("W_x", "W_h", "b_h"))
    assert any("grows with the activation's magnitude" in d
               for d in result.scale_fixed_steps["dh_raw"].diagnoses)
    assert "0.667" in out
    assert "dtanh" in out and "1 - h_t**2" in out and "0.5*sum" in out


def test_part2_the_corrected_hand_bptt_agrees(tour):
    result, out = tour
    assert result.corrected.ok
    assert all(r.max_rel_error < 1e-10 for r in result.corrected.rows)
    assert "all agree: True" in out


# --------------------------------------------------------------------------- part 3


def test_part3_the_trained_lstm_predicts_the_next_element(tour):
    result, out = tour
    assert abs(result.prediction - 10) < 0.5          # 1, 4, 7 -> 10
    assert abs(result.unseen_prediction - 11) < 0.5   # 2, 5, 8 -> 11, start 2 never trained on
    assert result.lstm_losses[-1] < result.lstm_losses[0] / 100
    for step, value in enumerate(TEST_SEQUENCE):     # every step predicts its successor
        assert abs(result.step_predictions[step] - (value + 3)) < 0.5
    assert f"{result.prediction:.3f}" in out and f"{result.unseen_prediction:.3f}" in out
    assert str(UNSEEN_SEQUENCE) in out


def test_part3_gate_trace_obeys_the_lstm_equations(tour):
    result, out = tour
    g = result.gates
    assert g["f"].shape == (3, 4)
    for name in "ifo":
        assert np.all((g[name] > 0) & (g[name] < 1))
    c_prev = np.zeros(4)
    for t in range(3):
        np.testing.assert_allclose(g["c"][t], g["f"][t] * c_prev + g["i"][t] * g["g"][t],
                                   atol=1e-12)
        np.testing.assert_allclose(g["h"][t], g["o"][t] * np.tanh(g["c"][t]), atol=1e-12)
        c_prev = g["c"][t]
    assert out.count("forget gate:") == 3 and out.count("cell state:") == 3
    assert str(np.round(g["f"][2], 3)) in out


def test_the_tour_is_quick(tour):
    result, out = tour
    assert result.seconds < 30   # the bound; the tour takes a few seconds


# --------------------------------------------------------------------------- Persian


def test_persian_tour_computes_the_same_and_explains_in_persian(tour, tour_fa):
    result, out = tour
    result_fa, out_fa = tour_fa
    np.testing.assert_allclose(result_fa.outputs, result.outputs)
    assert result_fa.prediction == pytest.approx(result.prediction, abs=1e-12)
    for phrase in ("پیش‌بینی عنصر بعدی", "مقدار واقعی", "اشکال اول", "اشکال دوم", "گام 1",
                   "بالا = حفظ حافظه"):
        assert phrase in out_fa
    assert "Bug 1" not in out_fa and "Next element" not in out_fa
    assert "1 - h_t**2" in out_fa and "0.667" in out_fa   # formulas and numbers stay
    assert f"{result_fa.prediction:.3f}" in out_fa


def test_every_message_exists_in_both_languages_with_the_same_fields():
    def fields(s):
        return sorted(f for _, f, _, _ in string.Formatter().parse(s) if f)

    for key, versions in TEXT.items():
        assert set(versions) == {"en", "fa"}, key
        assert fields(versions["en"]) == fields(versions["fa"]), key
    with pytest.raises(ValueError, match="unknown language 'de'"):
        text("title", "de")


# --------------------------------------------------------------------------- the command line


def test_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    assert "tour" in help_text and "gradcheck" in help_text and "--lang" in help_text


def test_tour_subcommand_in_persian(capsys):
    assert main(["tour", "--lang", "fa"]) == 0
    assert "پیش‌بینی عنصر بعدی" in capsys.readouterr().out


def test_gradcheck_subcommand_checks_every_op_and_layer(capsys):
    assert main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    for name in ("matmul", "tanh", "sigmoid", "chunk", "unbind", "cross_entropy",
                 "nn.LSTMCell", "nn.GRUCell", "nn.RNN", "nn.LSTM", "nn.GRU"):
        assert name in out
    rows = [line for line in out.splitlines() if line.startswith(("op ", "layer "))]
    assert len(rows) >= 35 and all(line.endswith("yes") for line in rows)
    assert f"{len(rows)} of {len(rows)} agree" in out


def test_the_module_runs_as_a_program():
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-m", "tinygrad_rnn", "--help"], cwd=root,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "gradcheck" in done.stdout


def test_part2d_shows_where_the_dtanh_error_enters_and_how_the_carry_spreads_it(tour):
    result, out = tour
    from tinygrad_rnn.tour import _autograd_gradients, notebook_params

    # autograd's per-step dL/da_t from step_grads equals the one retain_grad gives
    retained = _autograd_gradients(notebook_params())["dh_raw"]        # (T, H, 1)
    assert np.allclose(result.steps.dpre["h"][:, 0], retained[:, :, 0], rtol=1e-12, atol=0)
    errors = {t: (dh, raw) for t, dh, raw in result.step_errors}
    last = max(errors)
    assert errors[last][0] < 1e-12 and errors[last][1] > 0.1     # dh right, dh_raw wrong
    assert all(dh > 0.1 and raw > 0.1 for t, (dh, raw) in errors.items() if t < last)
    assert "2d. Step by step" in out and "recurrent carry" in out


def test_persian_tour_prints_its_tables_and_diagnoses_in_persian(tour, tour_fa):
    from tinygrad_rnn.tour_text import TEXT

    result, out = tour
    _, out_fa = tour_fa
    for word in ("MISMATCH", "diagnoses:", "max rel err", "verdict", "constant scale factor"):
        assert word in out and word not in out_fa, word
    for key in ("verdict_mismatch", "diagnoses_title", "col_max_rel", "col_verdict"):
        assert TEXT[key]["fa"] in out_fa, key
    for d in result.faithful.diagnoses:      # each diagnosis, in Persian, with its numbers
        assert d.text("fa") in out_fa
