"""tr.compare_grads: each diagnosis, shown on a deliberately broken gradient.

The true gradients come from the hand-derived BPTT in tinygrad_rnn.reference
(itself checked against finite differences and torch in test_reference.py);
each test breaks them the way a hand derivation typically goes wrong."""

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import reference as R
from tinygrad_rnn.compare import compare_grads


def rnn_problem(T=5, N=3, I=4, H=4, seed=0, scale=0.9):
    rng = np.random.default_rng(seed)
    params = {"weight_ih": rng.uniform(-scale, scale, (H, I)),
              "weight_hh": rng.uniform(-scale, scale, (H, H)),
              "bias_ih": rng.uniform(-0.5, 0.5, H), "bias_hh": rng.uniform(-0.5, 0.5, H)}
    x = rng.standard_normal((T, N, I))
    d_out = rng.standard_normal((T, N, H))
    return params, x, d_out


def true_grads(params, x, d_out):
    out, cache = R.rnn_forward(params, x)
    grads = R.rnn_backward(cache, d_out)
    return {k: grads[k] for k in params}


def per_step_preactivation_grads(params, x, d_out, dtanh):
    """da_t of an RNN's BPTT, with the tanh derivative given as a function of h_t."""
    hs, cache = R.rnn_forward(params, x)
    W_hh = params["weight_hh"]
    da = np.empty_like(d_out)
    dh_next = np.zeros_like(hs[0])
    for t in reversed(range(len(hs))):
        da[t] = (d_out[t] + dh_next) * dtanh(hs[t])
        dh_next = da[t] @ W_hh
    return da, hs


def test_identical_gradients_are_ok():
    grads = true_grads(*rnn_problem())
    report = compare_grads(grads, {k: v.copy() for k, v in grads.items()})
    assert report.ok
    assert all(row.cosine == pytest.approx(1.0) and not row.diagnoses for row in report.rows)


def test_constant_scale_factor_is_named_with_its_value():
    grads = true_grads(*rnn_problem())
    broken = {k: v * 1.5 for k, v in grads.items()}  # the notebook's 0.5*sum vs mean over 3 steps
    report = compare_grads(grads, broken)
    assert not report.ok
    for row in report.rows:
        assert "constant scale factor" in row.diagnoses[0]
        assert "1.500 x expected" in row.diagnoses[0] and "0.667" in row.diagnoses[0]


def test_sign_flip():
    grads = true_grads(*rnn_problem())
    report = compare_grads(grads, {**grads, "weight_hh": -grads["weight_hh"]})
    assert [r.name for r in report.rows if not r.ok] == ["weight_hh"]
    assert "sign flipped" in report["weight_hh"].diagnoses[0]
    assert report["weight_hh"].cosine == pytest.approx(-1.0)


@pytest.mark.parametrize("name", ["weight_hh", "weight_ih"])  # square, and (H, I) with H != I
def test_transposed_matrix(name):
    params, x, d_out = rnn_problem(I=3, H=4)
    grads = true_grads(params, x, d_out)
    report = compare_grads(grads, {**grads, name: grads[name].T})
    assert "transposed" in report[name].diagnoses[0]


def test_all_zero_gradient():
    grads = true_grads(*rnn_problem())
    report = compare_grads(grads, {**grads, "bias_hh": np.zeros_like(grads["bias_hh"])})
    assert "all zeros" in report["bias_hh"].diagnoses[0]


@pytest.mark.parametrize("step", ["first", "last"])
def test_error_confined_to_one_end_of_bptt(step):
    params, x, d_out = rnn_problem(T=6)
    da, _ = per_step_preactivation_grads(params, x, d_out, lambda h: 1 - h ** 2)
    broken = da.copy()
    t = 0 if step == "first" else -1
    broken[t] *= 0.3  # e.g. a boundary step that forgot a term
    broken[t, 0, 0] += 0.1
    report = compare_grads({"da": da}, {"da": broken}, time_axis=0)
    assert any(f"confined to the {step} time step" in d for d in report["da"].diagnoses)


@pytest.mark.parametrize("seed", range(5))
def test_the_notebooks_dtanh_bug_shows_as_error_growing_with_activation(seed):
    params, x, d_out = rnn_problem(T=4, N=8, scale=1.2, seed=seed)
    truth, hs = per_step_preactivation_grads(params, x, d_out, lambda h: 1 - h ** 2)
    buggy, _ = per_step_preactivation_grads(params, x, d_out, lambda h: 1 - np.tanh(h) ** 2)
    report = compare_grads({"da": truth}, {"da": buggy}, activations={"da": hs}, time_axis=0)
    assert not report.ok
    assert any("grows with the activation's magnitude" in d and "1 - h**2" in d
               for d in report["da"].diagnoses)


def test_an_unrelated_error_gets_no_false_diagnosis():
    params, x, d_out = rnn_problem()
    grads = true_grads(params, x, d_out)
    rng = np.random.default_rng(7)
    broken = {k: v + rng.standard_normal(v.shape) for k, v in grads.items()}
    report = compare_grads(grads, broken, activations={"weight_hh": params["weight_hh"]})
    for row in report.rows:
        assert len(row.diagnoses) == 1 and "no simple pattern" in row.diagnoses[0]


def test_tensors_and_modules_give_their_grads_and_mismatched_names_are_named():
    w = tr.Tensor(np.ones(3), requires_grad=True)
    (w * w).sum().backward()
    assert compare_grads({"w": 2 * np.ones(3)}, {"w": w}).ok
    report = compare_grads({"w": np.ones(3), "v": np.ones(1)}, {"w": np.ones(3)})
    assert [(d.name, d.kind) for d in report.diagnoses] == [("v", "missing")]
    with pytest.raises(KeyError, match="not in expected \\['u'\\]"):
        compare_grads({"w": np.ones(3)}, {"w": np.ones(3), "u": np.ones(1)})
    with pytest.raises(ValueError, match="'u' has no gradient"):
        compare_grads({"u": np.ones(1)}, {"u": tr.Tensor(np.ones(1), requires_grad=True)})


def test_report_table_lists_every_name_and_the_diagnoses():
    grads = true_grads(*rnn_problem())
    text = str(compare_grads(grads, {**grads, "bias_ih": -grads["bias_ih"]}))
    for name in grads:
        assert name in text
    assert "MISMATCH" in text and "diagnoses:" in text and "sign flipped" in text
