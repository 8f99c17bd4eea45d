"""The benchmark's quick mode runs, and every implementation it times agrees with
the hand-derived BPTT (loss and all gradients). Speed is not asserted here."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_rnn.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_rnn", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
