"""``python -m tinygrad_rnn gradcheck`` checks one fixed example per op and layer, so two
runs print the same table (timings aside), and running it leaves the caller's random
draws alone."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import nn
from tinygrad_rnn.__main__ import main
from tinygrad_rnn.rng import seeded

SECONDS = re.compile(r"\d+\.\d+s(?=  )|\(\d+\.\d+ (s|ثانیه)\)")  # a row's time, the total's


def table(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main([*argv, "gradcheck"]) == 0
    return SECONDS.sub("<time>", capsys.readouterr().out)


@pytest.mark.parametrize("lang", ["en", "fa"])
def test_two_runs_print_the_same_table(capsys, lang):
    first, second = table(capsys, "--lang", lang), table(capsys, "--lang", lang)
    layer_rows = [line for line in first.splitlines() if line.startswith(("layer", "لایه"))]
    assert len(layer_rows) == 11 and all("<time>" in line for line in layer_rows)
    assert first == second


def test_the_layers_rows_do_not_depend_on_the_callers_seed(capsys):
    tr.manual_seed(1)
    one = table(capsys)
    tr.manual_seed(2)
    assert table(capsys) == one


def test_running_it_leaves_the_callers_generator_where_it_was(capsys):
    tr.manual_seed(5)
    table(capsys)
    after = nn.Linear(3, 2).weight.data
    tr.manual_seed(5)
    assert np.array_equal(nn.Linear(3, 2).weight.data, after)


def test_seeded_restores_the_generator_even_when_the_block_raises():
    tr.manual_seed(7)
    expected = nn.Linear(2, 2).weight.data
    tr.manual_seed(7)
    with pytest.raises(KeyError), seeded(0):
        nn.Linear(2, 2)
        raise KeyError("out")
    assert np.array_equal(nn.Linear(2, 2).weight.data, expected)
