"""The benchmark's quick mode runs, and every implementation it times agrees with
the hand-derived BPTT (loss and all gradients). Speed is not asserted here."""

import importlib.util
import subprocess
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return load("bench_rnn")


def test_quick_mode_runs_and_all_implementations_agree(bench, capsys):
    assert bench.main(["--quick", "--configs", "tiny", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "REFUSED" not in out
    for kind in ("rnn", "lstm", "gru"):
        assert f"| {kind} | tiny" in out
    # both baselines, and a ratio of ours to each
    header = next(line for line in out.splitlines() if line.startswith("| kind")).split(" | ")
    assert {"hand numpy", "fast numpy", "tinygrad_rnn / hand", "tinygrad_rnn / fast"} <= set(header)
    row = next(line for line in out.splitlines() if line.startswith("| lstm | tiny"))
    assert row.count("|") == len(header) + 1


def _fast_vs_reference(bench, step, problem):
    """max relative errors of the loss and of each gradient of ``step`` against the reference."""
    want_loss, want = bench.hand_numpy(problem)()
    loss, grads = step()
    errors = {"loss": abs(loss - want_loss) / abs(want_loss)}
    for name in bench.PARAM_NAMES:
        scale = np.max(np.abs(want[name])) or 1.0
        assert grads[name].shape == want[name].shape, name
        errors[name] = np.max(np.abs(grads[name] - want[name])) / scale
    return errors


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_fast_baseline_agrees_with_the_reference_gradients(bench, kind):
    fast = bench.fast_numpy
    rng = np.random.default_rng(13)
    configs = [(1, 1, 4, 3), (2, 3, 5, 1), (8, 3, 16, 4), (1, 2, 16, 9)]  # T = 1; both sides of
    configs += [tuple(int(v) for v in rng.integers(1, (10, 7, 25, 13))) for _ in range(6)]
    assert {n * h >= fast.EXP_TANH_MIN for n, _, h, _ in configs} == {True, False}  # EXP_TANH_MIN
    step = fast.make_step(kind)  # one step object for every shape: each gets its own buffers
    for seed, (N, I, H, T) in enumerate(configs):
        problem = bench.Problem(kind, N, I, H, T, np.float64, seed=seed)

        def run(problem=problem):
            return step(problem.params, problem.x, problem.readout, problem.targets)

        errors = _fast_vs_reference(bench, run, problem)
        assert max(errors.values()) < 1e-10, ((N, I, H, T), errors)
        # new values in the same buffers: nothing of the last call may leak into this one
        for array in (*problem.params.values(), problem.x, problem.targets):
            array *= rng.uniform(0.5, 1.5, array.shape)
        errors = _fast_vs_reference(bench, run, problem)
        assert max(errors.values()) < 1e-10, ((N, I, H, T), "second call", errors)


def test_a_refused_fast_baseline_leaves_no_ratio_to_it(bench):
    names = ["hand numpy", "fast numpy", "tinygrad_rnn"]
    medians = {"hand numpy": 2.0, "tinygrad_rnn": 3.0}
    refused = {"fast numpy": "bias_ih: off"}
    cells, agree = bench.ratio_cells(names, medians, refused, bench.BASELINES)
    assert not agree
    assert cells == ["2.000 ms", "REFUSED (bias_ih: off)", "1.50x", "-"]
    assert bench.header_cells(names, bench.BASELINES) == [
        "hand numpy", "fast numpy", "tinygrad_rnn / hand", "tinygrad_rnn / fast"]


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_a_wrong_implementation_is_refused(bench, kind):
    problem = bench.Problem(kind, 2, 3, 4, 5, np.float64)
    truth = bench.hand_numpy(problem)()
    ours = bench.tinygrad_layer(problem)
    assert bench.agrees(ours, truth, 1e-6) is None

    def off_by_a_little():
        loss, grads = ours()
        return loss, {**grads, "weight_hh": grads["weight_hh"] * (1 + 1e-4)}

    assert "weight_hh" in bench.agrees(off_by_a_little, truth, 1e-6)


def test_float32_implementations_agree_with_hand_float32_numpy(bench, capsys):
    assert bench.main(["--quick", "--configs", "tiny", "--repeats", "1", "--dtype", "float32"]) == 0
    out = capsys.readouterr().out
    assert "REFUSED" not in out and "float32" in out


def test_peak_memory_and_time_per_step_are_reported_for_one_sequence_configs(bench, capsys):
    bench.CONFIGS["T=5"] = (1, 1, 3, 5)  # a tiny stand-in for T=250 ... 4000
    bench.MEMORY_CONFIGS = bench.MEMORY_CONFIGS + ("T=5",)
    try:
        assert bench.main(["--quick", "--kinds", "lstm", "--configs", "T=5", "--repeats", "1"]) == 0
    finally:
        del bench.CONFIGS["T=5"]
    row = [line for line in capsys.readouterr().out.splitlines() if "| T=5" in line][0]
    per_step, memory = row.split("|")[-3:-1]
    assert "/" in per_step and "/" in memory


def test_op_microbenchmark_runs():
    ops = load("bench_ops")
    argv = ["--repeats", "1", "--calls", "100", "--ops", "mul", "sigmoid", "identity"]
    assert ops.main(argv) == 0


def test_ab_comparison_runs_two_revisions_side_by_side(capsys):
    root = BENCHMARKS.parent
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True)
    if head.returncode:
        pytest.skip("not a git checkout: nothing to compare the work tree with")
    ab = load("ab")
    assert ab.main(["HEAD", "--configs", "tiny", "--repeats", "1", "--min-time", "0.001"]) == 0
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| lstm")]
    assert len(row) == 1 and row[0].count("|") == 6


def test_packed_benchmark_runs_and_padded_and_packed_steps_agree(capsys):
    # a masked loss over a padded batch and the loss over the packed one have the same
    # value and gradients; every implementation is checked against ours padded first
    packed = load("bench_packed")
    assert packed.main(["--quick", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "REFUSED" not in out
    for kind in ("rnn", "lstm", "gru"):
        assert f"| {kind} |" in out


def test_packed_benchmark_refuses_a_step_that_disagrees():
    packed = load("bench_packed")
    batch = packed.Batch("gru", 4, 2, 3, 6)
    truth = packed._ours(batch, packed=False)()
    unmasked = packed.Batch("gru", 4, 2, 3, 6)
    unmasked.mask = np.ones_like(unmasked.mask)  # padding now counts in the loss
    assert packed.agrees(packed._ours(unmasked, packed=False), truth, 1e-6) is not None
    assert packed.agrees(packed._ours(batch, packed=True), truth, 1e-6) is None


def test_floor_engine_agrees_with_the_hand_derived_gradients(capsys):
    floor = load("floor_engine")
    assert floor.main(["--configs", "tiny", "--repeats", "1", "--min-time", "0.001"]) == 0
    out = capsys.readouterr().out
    assert "REFUSED" not in out and "| tiny" in out
    # and the agreement check can fail: a step with a wrong gradient is told apart
    problem = floor.Problem("gru", *floor.CONFIGS["tiny"], np.float64)
    truth = floor.hand_numpy(problem)()
    step = floor.floor_step(problem)

    def wrong():
        loss, grads = step()
        return loss, dict(grads, bias_hh=2 * grads["bias_hh"])

    assert floor.agrees(step, truth, 1e-9) is None
    assert "bias_hh" in floor.agrees(wrong, truth, 1e-9)
