"""`python -m tinygrad_rnn` runs and reproduces the notebook's printed outputs."""

from tinygrad_rnn.__main__ import main
from tinygrad_rnn.tour import NOTEBOOK_OUTPUTS


def test_the_default_command_is_the_tour(capsys):
    assert main([]) == 0
    text = capsys.readouterr().out
    for printed in NOTEBOOK_OUTPUTS:
        assert f"output {printed:.8f}" in text
