"""Each example's fast mode runs and shows what its default run shows, on a smaller scale.

The examples run as a reader runs them, ``python examples/<name>.py --quick``, in
a fresh process (so they set their BLAS threads before numpy loads), and hand
back their measured results through ``--json``. The assertions are the claims
each example makes: a language model below the unigram baseline, a forecast
better than the last value, gated cells solving the adding problem where the
plain RNN does not, a custom cell passing its gradient checks, the notebook's
outputs reproduced and its hand BPTT diagnosed, the RNN's gradient vanishing
where a forget-biased LSTM's does not, with its pictures saved.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
# find_spec, not importorskip: importing hafez would import pandas; the example reads its data file
needs_hafez = pytest.mark.skipif(importlib.util.find_spec("hafez") is None,
                                 reason="the hafez package (pip install hafez) is not installed")


def run(name: str, tmp_path: Path, *args: str) -> dict:
    """Run ``examples/<name>.py --quick ...`` and return the results it wrote as JSON."""
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), "--quick", "--no-progress",
         "--out", str(tmp_path), "--json", str(out), *args],
        capture_output=True, text=True, encoding="utf-8", timeout=300)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(out.read_text(encoding="utf-8"))
    result["_stdout"] = proc.stdout
    return result


def load_example(name: str):
    """Import an example as a module (for the parts that need no training)."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(EXAMPLES))
    return module


def assert_figure(result: dict, tmp_path: Path, name: str) -> None:
    if HAS_MATPLOTLIB:
        assert result["figure"] == str(tmp_path / name)
        assert (tmp_path / name).stat().st_size > 10_000  # a real plot, not an empty canvas
    else:
        assert result["figure"] is None


# --------------------------------------------------------------------------- char_lm


@needs_hafez
def test_char_lm_beats_the_unigram_baseline_on_held_out_ghazals(tmp_path):
    r = run("char_lm", tmp_path)
    # the unigram entropy of Persian letters is ~4.2 bits; a model that learned
    # nothing about context would sit on it
    assert 3.8 < r["unigram_bits"] < 4.6
    assert r["heldout_bits"] < r["unigram_bits"] - 0.5
    assert r["curve"]["heldout_bits"][-1] < r["curve"]["heldout_bits"][0]
    assert set(r["samples"]) == {"0.5", "0.8", "1.0"}
    for text in r["samples"].values():
        assert len(text) == 120
        assert any("\u0600" <= c <= "\u06ff" for c in text)  # Arabic-script letters
    assert (tmp_path / "char_lm.npz").is_file()
    assert_figure(r, tmp_path, "char_lm.png")


@needs_hafez
def test_char_lm_resumes_exactly_where_it_stopped(tmp_path):
    straight = run("char_lm", tmp_path / "straight", "--steps", "30", "--no-plot")
    run("char_lm", tmp_path / "split", "--steps", "15", "--no-plot")
    resumed = run("char_lm", tmp_path / "split", "--steps", "30", "--no-plot", "--resume")
    assert resumed["start_step"] == 15
    assert "resumed from" in resumed["_stdout"]
    # weights, optimizer state, the carried hidden state and the data position all
    # come back, so the split run is the uninterrupted one, to the last bit
    assert resumed["heldout_bits"] == straight["heldout_bits"]
    at = dict(zip(straight["curve"]["step"], straight["curve"]["heldout_bits"]))
    assert resumed["curve"]["step"][0] > 15
    assert resumed["curve"]["heldout_bits"] == [at[s] for s in resumed["curve"]["step"]]


@needs_hafez
def test_char_lm_gru_with_adagrad_learns_too(tmp_path):
    r = run("char_lm", tmp_path, "--cell", "gru", "--optim", "adagrad", "--no-plot")
    assert r["cell"] == "gru" and r["optim"] == "adagrad"
    assert r["heldout_bits"] < r["unigram_bits"] - 0.5


def test_char_lm_trains_on_any_text(tmp_path):
    rng = np.random.default_rng(0)
    words = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "to", "her", "old", "house"]
    lines = [" ".join(rng.choice(words, size=rng.integers(3, 9))) for _ in range(4000)]
    path = tmp_path / "words.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = run("char_lm", tmp_path, "--text", str(path), "--no-plot")
    assert r["vocab_size"] == len(set("".join(words) + " \n"))
    assert r["heldout_bits"] < r["unigram_bits"] - 0.5


def test_char_lm_names_the_missing_package(monkeypatch):
    char_lm = load_example("char_lm")
    monkeypatch.setattr(char_lm.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SystemExit, match=r"pip install hafez.*--text PATH"):
        char_lm.hafez_poems()


def test_unigram_baseline_is_the_cross_entropy_of_smoothed_frequencies():
    char_lm = load_example("char_lm")
    # training "aab" (a: 2 + 1, b: 1 + 1, c: 0 + 1 after add-one), held out "abc"
    bits = char_lm.unigram_bits(np.array([0, 0, 1]), np.array([0, 1, 2]), 3)
    assert bits == pytest.approx(-(np.log2(3 / 6) + np.log2(2 / 6) + np.log2(1 / 6)) / 3)


# --------------------------------------------------------------------------- sine_forecast


def test_sine_forecast_beats_the_last_value(tmp_path):
    r = run("sine_forecast", tmp_path)
    assert r["mse"] < r["mse_last_value"] / 3
    # the advantage holds at every horizon but the first steps, where the last value is close
    assert np.all(np.array(r["mse_by_step"])[3:] < np.array(r["mse_last_value_by_step"])[3:])
    assert np.mean(r["train_curve"][-20:]) < np.mean(r["train_curve"][:20]) / 2
    assert_figure(r, tmp_path, "sine_forecast.png")


# --------------------------------------------------------------------------- adding_problem


def test_adding_problem_gated_cells_succeed_where_the_rnn_does_not(tmp_path):
    # quick mode: T = 20, 400 updates. At this length the RNN learns eventually,
    # but not within these updates; the default run's T = 50 keeps it at the baseline.
    r = run("adding_problem", tmp_path)
    mse = r["test_mse"]
    assert abs(r["test_baseline"] - 1 / 6) < 0.02
    assert mse["LSTM"] < 0.05 and mse["GRU"] < 0.05  # under a third of the baseline
    assert mse["RNN"] > 0.08
    assert mse["RNN"] > 3 * max(mse["LSTM"], mse["GRU"])
    assert set(r["curves"]) == {"RNN", "LSTM", "GRU"}
    assert_figure(r, tmp_path, "adding_problem.png")


def test_adding_problem_data_sums_the_two_marked_values():
    adding = load_example("adding_problem")
    x, y = adding.adding_batch(np.random.default_rng(0), 500, 10)
    assert x.shape == (10, 500, 2) and y.shape == (500, 1)
    markers = x[:, :, 1]
    assert np.all(markers.sum(axis=0) == 2)
    assert np.all(markers[:5].sum(axis=0) == 1)  # one marker in each half
    expected = np.array([x[markers[:, n] == 1, n, 0].sum() for n in range(500)])
    np.testing.assert_allclose(y[:, 0], expected, rtol=1e-6)


# --------------------------------------------------------------------------- custom_cell


def test_custom_cell_passes_its_checks_and_learns(tmp_path):
    r = run("custom_cell", tmp_path)
    assert r["gradcheck"] is True
    assert r["factory"]["ran"]
    assert {"gradients", "forward", "no_mutation"} <= set(r["factory"]["checks"])
    assert r["test_mse"] < 0.05  # the adding problem at T = 10; always 1.0 scores 0.167
    assert np.mean(r["curve"][-20:]) < np.mean(r["curve"][:20]) / 10
    assert_figure(r, tmp_path, "custom_cell.png")


def test_a_wrong_custom_cell_is_caught_by_the_same_checks():
    custom = load_example("custom_cell")
    from hypothesis import Phase, settings, strategies as st

    import tinygrad_rnn as tr
    from tinygrad_rnn.testing import OpCase, arrays, check_op

    def leaky_step(x, h, *weights):  # the state's gradient cut: a common custom-cell bug
        return custom.mgu_step(x, h.detach(), *weights) + 0 * h

    shapes = [(2, 3), (2, 4), (8, 3), (8, 4), (8,), (8,)]
    case = OpCase("leaky mgu", leaky_step, st.tuples(*(arrays(s) for s in shapes)))
    quick = settings(max_examples=5, deadline=None, database=None, phases=[Phase.generate])
    with pytest.raises(tr.GradcheckError):
        check_op(case, checks=["gradients"], settings=quick)  # no shrinking: it takes a minute


# --------------------------------------------------------------------------- notebook

NOTEBOOK_PRINTED = [-0.27069536, -0.90355753, -2.36305458]  # the seed notebook's own output


def test_notebook_reproduces_and_corrects_the_notebook(tmp_path):
    r = run("notebook", tmp_path)
    np.testing.assert_allclose(r["part1_outputs"], NOTEBOOK_PRINTED, atol=5e-9)

    p2 = r["part2"]
    assert p2["as_written_ok"] is False and p2["corrected_ok"] is True
    # the loss-scale mistake shows as a clean factor on the output layer's gradients
    assert any("1.500 x expected" in d for d in p2["diagnoses"]["W_y"])
    first, last = p2["loss_history"][0][1], p2["loss_history"][-1][1]
    assert last < first / 100
    np.testing.assert_allclose(p2["final_outputs"], [0.2, 0.3, 0.4], atol=0.05)

    p3 = r["part3"]
    assert abs(p3["prediction"] - 10) < 0.5
    assert p3["test_mse"] < 0.1
    assert [s["x"] for s in p3["trace"]] == [1.0, 4.0, 7.0]
    for s in p3["trace"]:
        for gate in ("i", "f", "o"):
            assert all(0 < v < 1 for v in s[gate])  # sigmoid gates
        # the cell update the trace shows is the LSTM's own: h = o * tanh(c)
        np.testing.assert_allclose(s["h"], np.array(s["o"]) * np.tanh(s["c"]), rtol=1e-12)


# --------------------------------------------------------------------------- look_inside

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_look_inside_shows_the_rnn_gradient_vanish_and_an_lstm_learn(tmp_path):
    r = run("look_inside", tmp_path)
    assert r["length"] == 50 and r["hidden"] == 32  # quick mode keeps the full gradient-flow run
    ratios = r["ratios"]
    assert set(ratios) == {"RNN", "GRU", "LSTM", "LSTM, forget bias 1"}
    # each step back through the tanh RNN multiplies the gradient by W_hh^T diag(1 - h^2);
    # W_hh ~ U(-1/sqrt(H), 1/sqrt(H)) has spectral radius about 1/sqrt(3), so 49 steps leave
    # at most ~0.6**49 ~ 1e-11 of it, and it shrinks at every single step
    rnn = np.array(r["flows"]["RNN"])
    assert np.all(rnn > 0) and np.all(np.diff(rnn) > 0)
    assert ratios["RNN"] < 1e-9
    # at default initialization the gates sit near 0.5 and the gated cells lose it too ...
    assert ratios["GRU"] < 1e-6 and ratios["LSTM"] < 1e-6
    # ... but a forget gate biased to sigmoid(1) ~ 0.73 carries it through the cell state
    assert ratios["LSTM, forget bias 1"] > 1e-6
    assert ratios["RNN"] < 1e-4 * ratios["LSTM, forget bias 1"]
    assert ratios["LSTM"] < ratios["LSTM, forget bias 1"] / 100
    for label, ratio in ratios.items():  # the per-step factor printed is the ratio's 49th root
        assert r["per_step"][label] == pytest.approx(ratio ** (1 / 49))
        assert f"{ratio:.1e}" in r["_stdout"]

    # the LSTM learns the arithmetic sequences: loss and unseen-sequence loss fall 100-fold
    assert r["curve"][0] == r["loss_before"]
    assert r["loss_after"] < r["loss_before"] / 100
    assert r["test_after"] < r["test_before"] / 100
    assert np.mean(r["curve"][-20:]) < np.mean(r["curve"][:20]) / 30
    seq, pred = np.array(r["sequence"]), np.array(r["predictions"])
    np.testing.assert_array_equal(seq, 1 + 3 * np.arange(8))  # 1, 4, 7, ..., 22
    # from the second term on the next one is determined: 1, 4, 7 -> about 10
    assert abs(pred[2] - 10) < 1
    assert np.sqrt(np.mean((pred[1:] - (seq[1:] + 3)) ** 2)) < 1

    gates = {k: np.array(v) for k, v in r["gates"].items()}
    assert set(gates) == {"i", "f", "g", "o", "c", "h"}
    assert gates["f"].shape == (8, 8)  # (time steps, hidden units) of the heatmap
    for name in ("i", "f", "o"):
        assert np.all((gates[name] > 0) & (gates[name] < 1))
    np.testing.assert_allclose(gates["h"], gates["o"] * np.tanh(gates["c"]), rtol=1e-12)

    names = {"gradient_flow": "gradient_flow.png", "loss_curve": "lstm_loss.png",
             "gate_heatmap": "lstm_gates.png"}
    if not HAS_MATPLOTLIB:
        assert r["figures"] == {key: None for key in names}
        return
    from matplotlib.image import imread
    for key, name in names.items():
        path = tmp_path / name
        assert r["figures"][key] == str(path)
        assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 10_000
        image = imread(path)  # decodes: a valid PNG, and not a blank canvas
        assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 300
        assert image[..., :3].std() > 0.05


def test_look_inside_without_figures_and_its_data(tmp_path):
    r = run("look_inside", tmp_path, "--no-plot", "--steps", "5", "--length", "10")
    assert all(path is None for path in r["figures"].values())
    assert not list(tmp_path.glob("*.png"))
    assert len(r["flows"]["RNN"]) == 10 and len(r["curve"]) == 5

    look = load_example("look_inside")
    seqs = look.arithmetic_sequences([0, 2.5], [1, 3], length=4)
    assert seqs.shape == (5, 4)  # one term longer than the input, time first
    np.testing.assert_array_equal(seqs[:, 1], [0, 3, 6, 9, 12])
    np.testing.assert_array_equal(np.diff(seqs, axis=0), np.broadcast_to([1, 3, 1, 3], (4, 4)))


# --------------------------------------------------------------------------- shared bits


def test_progress_and_figures_degrade_without_tqdm_and_matplotlib(monkeypatch):
    common = load_example("_common")
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now raises ImportError
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    bar = common.progress(range(3), "x")
    assert list(bar) == [0, 1, 2]
    bar.set_postfix(loss=1.0)
    bar.close()
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    args = common.parser("x").parse_args([])
    assert common.pyplot(args) is None


# --------------------------------------------------------------------------- variable_lengths


def test_variable_lengths_packed_learns_the_last_value_where_padded_barely_can(tmp_path):
    r = run("variable_lengths", tmp_path)
    mse = r["test_mse"]
    assert mse["packed"] < 0.005  # h_n is the state right after each sequence's last value
    assert mse["padded"] > 0.05  # near 1/12: the padding hides where the sequence ended
    assert set(r["curves"]) == {"padded", "packed"}
    assert_figure(r, tmp_path, "variable_lengths.png")


def test_variable_lengths_data_targets_each_sequences_last_value():
    vl = load_example("variable_lengths")
    x, lengths, y = vl.batch_of_lengths(np.random.default_rng(0), 200, 7)
    assert x.shape == (7, 200, 1) and lengths.min() >= 1 and lengths.max() <= 7
    np.testing.assert_array_equal(y[:, 0], x[lengths - 1, np.arange(200), 0])
    assert np.all(x[np.arange(7)[:, None] >= lengths, 0] == 0.0)  # zeros after the end


# --------------------------------------------------------------------------- newton

NOTEBOOK_W_H = [[1.37777454, -1.41781434, 0.89708677, 0.12688328],  # the notebook's printed
                [-0.59478309, -0.19901797, -0.36983813, 1.8497388],  # weights, typed again
                [0.00851169, -1.09938783, 2.00037938, -1.15957504],
                [-1.73456868, 0.01300878, 0.9359561, 1.36862273]]
NOTEBOOK_THETA = np.concatenate([
    [0.24499315, 1.64245811, -0.46516492, 0.60331829],            # W_x (4, 1)
    np.ravel(NOTEBOOK_W_H),                                         # W_h (4, 4)
    [1.73178273, -2.14228566, -0.53759098, 0.17637289],           # W_y (1, 4)
    np.zeros(4), [0.0]])                                            # b_h (4, 1), b_y (1, 1)


def notebook_loss_numpy(theta: np.ndarray) -> float:
    """The notebook's printed loss of theta (W_x, W_h, W_y, b_h, b_y flattened), in numpy."""
    W_x, W_h, W_y = theta[:4], theta[4:20].reshape(4, 4), theta[20:24]
    b_h, b_y = theta[24:28], theta[28]
    h, loss = np.zeros(4), 0.0
    for x, target in zip([0.1, 0.2, 0.3], [0.2, 0.3, 0.4]):
        h = np.tanh(W_x * x + W_h @ h + b_h)
        loss += (W_y @ h + b_y - target) ** 2
    return loss / 3


def second_differences(f, theta: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    """d2f / dtheta_i dtheta_j by central differences of f itself (no gradient used)."""
    n = theta.size
    E = np.eye(n) * eps
    hessian = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            hessian[i, j] = hessian[j, i] = (
                f(theta + E[i] + E[j]) - f(theta + E[i] - E[j])
                - f(theta - E[i] + E[j]) + f(theta - E[i] - E[j])) / (4 * eps * eps)
    return hessian


def test_newton_reaches_a_tiny_loss_in_a_few_steps_where_sgd_needs_thousands(tmp_path):
    r = run("newton", tmp_path)
    np.testing.assert_array_equal(r["theta0"], NOTEBOOK_THETA)
    assert r["sgd"]["losses"][0] == pytest.approx(notebook_loss_numpy(NOTEBOOK_THETA), rel=1e-12)

    # the Hessian, checked in the example and here, independently of the engine
    H = np.array(r["hessian"])
    assert H.shape == (29, 29)
    assert r["symmetry_error"] < 1e-12 and r["fd_error"] < 1e-6
    np.testing.assert_allclose(H, H.T, rtol=0, atol=1e-12)
    numeric = second_differences(notebook_loss_numpy, NOTEBOOK_THETA)
    np.testing.assert_allclose(H, numeric, rtol=0, atol=1e-5 * np.abs(H).max())
    assert np.linalg.eigvalsh(H)[0] < -1  # indefinite: why the step is damped

    newton, sgd = r["newton"]["losses"], r["sgd"]["losses"]
    assert len(newton) <= 20 and newton[-1] < 1e-12
    assert notebook_loss_numpy(np.array(r["newton"]["theta"])) < 1e-12
    assert all(b < a for a, b in zip(newton, newton[1:]))  # every accepted step lowers the loss
    # SGD at the notebook's rate, the same number of epochs as Newton's steps: nowhere near
    assert min(sgd[:len(newton)]) > 1e-3
    assert min(sgd) > 1e-6  # quick mode: 2000 epochs do not reach 1e-6 ...
    reached = r["reached"]
    assert reached["1e-06"]["newton"] <= 15 and reached["1e-06"]["sgd"] is None
    assert reached["0.0001"]["sgd"] > 100 * reached["0.0001"]["newton"]  # ... nor 1e-4 soon
    assert_figure(r, tmp_path, "newton.png")


def test_newton_hessian_matches_torch():
    torch = pytest.importorskip("torch")
    newton = load_example("newton")
    _, g, H = newton.gradient_and_hessian(NOTEBOOK_THETA)

    def loss(theta):
        W_x, W_h, W_y = theta[:4], theta[4:20].reshape(4, 4), theta[20:24]
        b_h, b_y = theta[24:28], theta[28]
        h, total = torch.zeros(4, dtype=theta.dtype), 0.0
        for x, target in zip([0.1, 0.2, 0.3], [0.2, 0.3, 0.4]):
            h = torch.tanh(W_x * x + W_h @ h + b_h)
            total = total + (W_y @ h + b_y - target) ** 2
        return total / 3

    theta = torch.tensor(NOTEBOOK_THETA, dtype=torch.float64)
    expected = torch.autograd.functional.hessian(loss, theta).numpy()
    np.testing.assert_allclose(H, expected, rtol=0, atol=1e-10)
    expected_g = torch.func.grad(loss)(theta).numpy()
    np.testing.assert_allclose(g, expected_g, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- jacobian_penalty


def test_jacobian_penalty_keeps_the_gradient_alive_through_time(tmp_path):
    r = run("jacobian_penalty", tmp_path)
    assert r["length"] == 20
    check = r["check"]
    assert check["vjp_error"] < 1e-12 and check["recompute_error"] < 1e-12
    assert check["penalty_grad_rel_error"] < 1e-5
    without, with_ = r["runs"]["without the penalty"], r["runs"]["with the penalty"]
    assert without["flow_before"] == with_["flow_before"]  # the same initialization
    assert without["curve"][0] == with_["curve"][0]  # and the same first batch
    # untrained, each step back multiplies by W_hh^T diag(1 - h^2), of norm about 0.6:
    # about 0.6**19 of the gradient reaches t = 0; training without the penalty keeps it tiny
    assert without["ratio_before"] < 1e-2 and without["ratio_after"] < 1e-4
    flow = np.array(without["flow_after"])
    assert np.all(np.diff(flow) > 0)  # shrinking at every step back
    # with the penalty each J_t^T keeps a random unit vector's length, and the gradient
    # arrives at t = 0 at its size at t = T-1, within a factor of 10 at every step
    assert 0.8 < np.mean(with_["jacobian_sq_norms"][-20:]) < 1.2
    assert np.mean(without["jacobian_sq_norms"][-20:]) < 0.6
    flow = np.array(with_["flow_after"])
    assert 0.1 < with_["ratio_after"] < 10
    assert flow.max() / flow.min() < 10
    assert with_["ratio_after"] > 1e4 * without["ratio_after"]
    for run_ in (without, with_):
        assert run_["ratio_after"] == pytest.approx(run_["flow_after"][0] / run_["flow_after"][-1])
        assert run_["test_mse"] < 0.25 and len(run_["curve"]) == r["steps"]
    assert_figure(r, tmp_path, "jacobian_penalty.png")


def test_jacobian_penalty_and_its_gradient_match_numpy():
    jp = load_example("jacobian_penalty")
    import tinygrad_rnn as tr

    tr.manual_seed(3)
    model = jp.Adder(5).double()
    rnn = model.rnn
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 3, 2))
    u = jp.random_unit_vectors(rng, (6, 3, 5))
    W_ih, W_hh = rnn.weight_ih_l0.data, rnn.weight_hh_l0.data
    b = rnn.bias_ih_l0.data + rnn.bias_hh_l0.data

    def states_of(W):  # the tanh RNN in numpy: h_t = tanh(x_t W_ih^T + h_(t-1) W^T + b)
        h, hs = np.zeros((3, 5)), []
        for x_t in x:
            h = np.tanh(x_t @ W_ih.T + h @ W.T + b)
            hs.append(h)
        return np.stack(hs)

    states = states_of(W_hh)
    with tr.no_grad():
        _, out = model(x)
    np.testing.assert_allclose(out.data, states, atol=1e-14)

    def penalty_numpy(W):  # the states held fixed; J_t^T u = W^T ((1 - h_t^2) u)
        prev = np.concatenate([np.zeros((1, 3, 5)), states[:-1]])
        h = np.tanh(x @ W_ih.T + prev @ W.T + b)
        vjp = ((1 - h ** 2) * u) @ W
        return np.mean(((vjp ** 2).sum(-1) - 1) ** 2)

    penalty, _ = jp.jacobian_penalty(rnn, x, states, u)
    assert penalty.item() == pytest.approx(penalty_numpy(W_hh), rel=1e-12)
    (g,) = tr.grad(penalty, rnn.weight_hh_l0)
    eps, numeric = 1e-6, np.zeros_like(W_hh)
    for index in np.ndindex(*W_hh.shape):
        E = np.zeros_like(W_hh)
        E[index] = eps
        numeric[index] = (penalty_numpy(W_hh + E) - penalty_numpy(W_hh - E)) / (2 * eps)
    np.testing.assert_allclose(g.data, numeric, rtol=1e-6, atol=1e-9)


# --------------------------------------------------------------------------- rtrl_online


def test_rtrl_online_learns_the_echo_updating_every_step_in_constant_memory(tmp_path):
    r = run("rtrl_online", tmp_path)
    assert r["mse_last"] < r["baseline"] / 5  # it remembers: answering 0 scores 1/3
    assert r["mse_last"] < r["mse_first"] / 2  # and it learned that online
    assert len(r["curve"]) == r["steps"]  # one update per time step
    assert r["held_bytes_first"] == r["held_bytes_last"]  # nothing grows with the stream
    P = r["cell_parameters"]  # the state (1, H) and its sensitivities (1, H, P), the grad (P,)
    assert r["held_bytes_last"] == 8 * (r["hidden"] + r["hidden"] * P + P)
    assert_figure(r, tmp_path, "rtrl_online.png")


# ------------------------------------------------------------------ moving_to_torch (issue 19)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_moving_to_torch_trains_here_then_on_torch_and_comes_back_checked(tmp_path):
    r = run("moving_to_torch", tmp_path)
    assert r["gradcheck_before"] is True and r["gradcheck_after"] is True
    for phase in ("exported", "back"):  # the same model on both sides, gradients included
        assert r[phase]["max_output_diff"] < 1e-12 and r[phase]["max_grad_diff"] < 1e-12
        assert abs(r[phase]["loss_here"] - r[phase]["loss_torch"]) < 1e-12
    assert r["mse_here"] < r["baseline"]  # it learned here ...
    assert r["mse_torch"] < r["mse_here"]  # ... and went on learning on torch
    assert abs(r["mse_back"] - r["mse_torch"]) < 1e-12  # the weights came back
    assert len(r["curve_here"]) == len(r["curve_torch"]) == r["steps"]
