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
    assert ops.main(["--repeats", "1", "--calls", "100", "--ops", "mul", "sigmoid", "identity"]) == 0


def test_ab_comparison_runs_two_revisions_side_by_side(capsys):
    root = BENCHMARKS.parent
    if subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True).returncode:
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
