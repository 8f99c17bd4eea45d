"""The notebooks of notebooks/: stored without outputs, in sync with their percent
scripts, rendered into docs/notebooks/, and executed, their key results checked.

Executing needs the ``notebooks`` extra (nbclient, ipykernel, nbformat, jupytext) and
the ``graphs`` one (grandalf, for the pictures); without them those tests skip. Each
notebook's last cell asserts on its own results and prints them as JSON (the line
``notebook results: {...}``); the tests below read that line back and check the
numbers against values derived here, independently of the notebook's code.
"""

import importlib.util
import json
import re
from functools import cache
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("render_notebooks",
                                               ROOT / "tools" / "render_notebooks.py")
render_notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(render_notebooks)

SCRIPTS = render_notebooks.sources()
STEMS = [s.stem for s in SCRIPTS]
EXPECTED = ["01_reverse_mode", "02_seed_notebook", "03_bptt", "04_hand_vs_autograd",
            "05_your_own_cell", "06_second_order"]


def _needs(*modules):
    for name in modules:
        pytest.importorskip(name)


@cache
def executed(stem):
    """The notebook ``stem``, run once per test session (nbclient), with its outputs."""
    _needs("nbclient", "ipykernel", "nbformat", "jupytext", "grandalf")
    return render_notebooks.execute(ROOT / "notebooks" / f"{stem}.ipynb")


def results(stem):
    return render_notebooks.results(executed(stem))


def test_every_notebook_is_there():
    assert EXPECTED == STEMS, STEMS
    for script in SCRIPTS:
        assert script.with_suffix(".ipynb").exists(), f"{script.name} has no .ipynb"


@pytest.mark.parametrize("stem", STEMS)
def test_stored_without_outputs(stem):
    nb = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, \
                f"{stem}.ipynb stores outputs: clear them (python tools/render_notebooks.py --sync)"


@pytest.mark.parametrize("stem", STEMS)
def test_ipynb_in_sync_with_its_script(stem):
    _needs("nbformat", "jupytext")
    import nbformat

    script = ROOT / "notebooks" / f"{stem}.py"
    stored = (ROOT / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8")
    made = nbformat.writes(render_notebooks.notebook_of(script)) + "\n"
    assert stored == made, f"{stem}.ipynb differs from {stem}.py: python tools/render_notebooks.py"


def _code_blocks(markdown):
    return re.findall(r"^```python\n(.*?)\n```$", markdown, flags=re.S | re.M)


@pytest.mark.parametrize("stem", STEMS)
def test_rendered_page_is_current(stem):
    """docs/notebooks/<stem>.md exists, shows the notebook's current code, and every
    picture it links is there (outputs themselves vary: timings)."""
    _needs("jupytext")
    page = ROOT / "docs" / "notebooks" / f"{stem}.md"
    assert page.exists(), f"no {page.name}: python tools/render_notebooks.py"
    text = page.read_text(encoding="utf-8")
    code = [c.source for c in render_notebooks.notebook_of(ROOT / "notebooks" / f"{stem}.py").cells
            if c.cell_type == "code"]
    assert _code_blocks(text) == code, f"{page.name} is stale: python tools/render_notebooks.py"
    assert "```text\nnotebook results: {" in text          # it was rendered after a full run
    for link in re.findall(r"\]\((img/[^)]+)\)", text):
        assert (page.parent / link).stat().st_size > 500, link
    assert f"notebooks/{stem}.md" in (ROOT / "docs" / "notebook.md").read_text(encoding="utf-8")


def test_results_line_is_found_and_checked():
    """The results reader fails on a notebook that printed none (so the checks below can)."""
    _needs("nbformat")
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    with pytest.raises(ValueError, match="notebook results"):
        render_notebooks.results(nb)


# --------------------------------------------------------------------------- each notebook


def test_01_reverse_mode():
    r = results("01_reverse_mode")
    a, b, c, w = (r["inputs"][k] for k in "abcw")
    t = np.tanh(a * b + c)
    assert r["inputs"] == {"a": 0.5, "b": -1.5, "c": 1.0, "w": -2.0}
    assert np.isclose(r["L"], w * t, rtol=1e-14)
    dd = w * (1 - t**2)              # dL/dd, the chain rule through w * tanh(d)
    expected = {"a": dd * b, "b": dd * a, "c": dd, "w": t}
    for name, value in expected.items():
        assert np.isclose(r["grads"][name], value, rtol=1e-12), name
    assert r["frames"] == 4          # L = w * t, t = tanh(d), d = e + c, e = a * b


def _seed_lstm(sequence):
    """The seed notebook's SimpleLSTM (np.random.seed(42)), its predictions over sequence."""
    rng = np.random.RandomState(42)
    Wf, Wi, Wc, Wo = (rng.randn(4, 5) * 0.5 for _ in range(4))
    Wy = rng.randn(1, 4) * 0.5
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    h, c, predictions = np.zeros(4), np.zeros(4), []
    for x in sequence:
        z = np.concatenate([[x], h])
        f, i, o = sig(Wf @ z + 0.1), sig(Wi @ z + 0.1), sig(Wo @ z + 0.1)
        c = f * c + i * np.tanh(Wc @ z)
        h = o * np.tanh(c)
        predictions.append((Wy @ h)[0])
    return Wf, Wy, predictions


def test_02_seed_notebook():
    r = results("02_seed_notebook")
    # the outputs the seed notebook printed (docs/notebook.md), to its 8 decimals
    assert np.allclose(r["outputs"], [-0.27069536, -0.90355753, -2.36305458], atol=1e-8)
    # dy = y - target is d/dy of 0.5 sum (y - target)^2; the printed loss is the mean of
    # (y - target)^2 over T = 3 steps, d/dy = 2 (y - target) / 3: the ratio is 3/2
    assert np.isclose(r["W_y_ratio"], 1 / (2 / 3), rtol=1e-12)
    assert r["kinds"]["W_y"] == r["kinds"]["b_y"] == "scale"
    assert "wrong_point_derivative" in r["dh_raw_kinds"]
    assert r["corrected_ok"] is True
    assert r["autograd_loss_end"] < r["notebook_loss_end"]
    Wf, Wy, predictions = _seed_lstm([1, 4, 7])
    assert np.allclose(r["seed_weights"]["Wf"], Wf) and np.allclose(r["seed_weights"]["Wy"], Wy)
    assert np.allclose(r["untrained_predictions"], predictions, rtol=1e-10)
    assert abs(r["next_after_1_4_7"] - 10) < 0.5 and abs(r["next_after_2_5_8"] - 11) < 0.5


def test_03_bptt():
    r = results("03_bptt")
    assert r["unrolled_tanh"] == 3                    # the expanded scan: one tanh per step
    flow = np.array(r["flow"])
    assert flow.shape == (30,)
    # the loss is the sum of the last output (N = 4, H = 16): dL/dh_29 is all ones
    assert np.isclose(flow[-1], np.sqrt(4 * 16), rtol=1e-12)
    assert np.allclose(flow, r["by_hand"], rtol=1e-10)
    assert r["vanish_ratio"] < 1e-12
    # back through 29 steps of W_hh^T diag(tanh'), W_hh = 1.25 Q (Q orthogonal), tanh' <= 1:
    # at most 1.25**29, and close to it while the tanh stays in its linear part
    assert 0.9 * 1.25 ** 29 < r["explode_ratio"] <= 1.25 ** 29 * (1 + 1e-9)
    assert r["ratios"]["RNN"] < min(r["ratios"]["LSTM"], r["ratios"]["GRU"])


def test_04_hand_vs_autograd():
    from tinygrad_rnn.reference import bugs

    r = results("04_hand_vs_autograd")
    assert r["steps_T"] == 5
    assert all(err < 1e-10 for err in r["errors"].values()), r["errors"]
    # L = sum(d_out * output): at the last step nothing comes back from later steps
    assert np.allclose(r["auto_dh_last"], r["d_out_last"], rtol=1e-12)
    slip = np.array(r["slip_per_step"])        # the cell-state carry dropped
    assert slip[-1] < 1e-12 and (slip[:-1] > 1e-6).all()
    assert set(r["zoo"]) == {bug.name for bug in bugs.ZOO}
    for name, entry in r["zoo"].items():
        assert entry["found"] == entry["expected"], name


def test_05_your_own_cell():
    r = results("05_your_own_cell")
    N, T, H, I, gates = 2, 5, 4, 3, 2
    assert r["out_shape"] == [N, T, 2 * H]                   # batch first, both directions
    assert r["h_n_shape"] == [2 * 2, N, H]                  # 2 layers x 2 directions
    assert r["params"] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    assert r["weight_ih_shape"] == [gates * H, I]
    assert r["check_ok"] is True and r["broken_ok"] is False
    assert "culprit: gate g" in r["broken_text"]
    # always predicting 1.0 for a sum of two U(0, 1): the MSE is the variance, 2/12
    assert abs(r["baseline"] - 1 / 6) < 0.03
    assert r["test_mse"] < r["baseline"] / 4
    assert r["scan_node"] == "JANETCellScan" and r["same_bits"] is True


def test_06_second_order():
    """The Hessian the notebook used, against central differences of the seed notebook's
    own numpy gradient (reference.notebook, corrected): no engine code in the check."""
    from tinygrad_rnn import tour
    from tinygrad_rnn.reference.notebook import (
        PARAM_NAMES,
        notebook_bptt,
        notebook_forward,
        notebook_loss,
    )

    r = results("06_second_order")
    shapes = {name: value.shape for name, value in tour.notebook_params().items()}
    inputs = [np.array([[v]]) for v in tour.NOTEBOOK_INPUTS]
    targets = [np.array([[v]]) for v in tour.NOTEBOOK_TARGETS]

    def params_of(theta):
        params, start = {}, 0
        for name in PARAM_NAMES:
            size = int(np.prod(shapes[name]))
            params[name] = theta[start:start + size].reshape(shapes[name])
            start += size
        return params

    def gradient(theta):
        _, grads = notebook_bptt(params_of(theta), inputs, targets, faithful=False)
        return np.concatenate([grads[name].ravel() for name in PARAM_NAMES])

    theta0 = np.array(r["theta0"])
    assert np.array_equal(theta0, np.concatenate([tour.notebook_params()[n].ravel()
                                                  for n in PARAM_NAMES]))
    eps = 1e-6
    by_differences = np.stack([(gradient(theta0 + eps * e) - gradient(theta0 - eps * e))
                               / (2 * eps) for e in np.eye(len(theta0))])
    hessian = np.array(r["hessian"])
    assert np.allclose(hessian, hessian.T, rtol=0, atol=1e-12)
    assert np.allclose(hessian, by_differences, rtol=1e-6, atol=1e-6)
    assert np.linalg.eigvalsh(hessian).min() < 0          # indefinite: hence the damping
    start = notebook_loss(notebook_forward(params_of(theta0), inputs)[0], targets)
    newton = r["newton_losses"]
    assert np.isclose(newton[0], start, rtol=1e-12) and newton[-1] < 1e-12
    assert all(b < a for a, b in zip(newton, newton[1:])) and len(newton) <= 31
    sgd = r["sgd_losses_every_100"]
    assert np.isclose(sgd[0], start, rtol=1e-12) and min(sgd) > 1e-6   # 2000 epochs, not there

    # RTRL's gradient, against the reference's hand BPTT of the same cell and inputs
    # (L = sum_t |h_t|^2 / 2, so each step's output gradient is h_t itself)
    from tinygrad_rnn.reference import rnn_backward, rnn_forward

    params = {name: np.array(value) for name, value in r["rtrl_cell"].items()}
    outputs, cache = rnn_forward(params, np.array(r["rtrl_x"]))
    by_hand = rnn_backward(cache, outputs)
    for name, value in r["rtrl"].items():
        assert np.allclose(value, by_hand[name], rtol=1e-10, atol=1e-12), name
