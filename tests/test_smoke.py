"""The tour runs and reproduces the notebook's printed outputs."""

from tinygrad_rnn.__main__ import NOTEBOOK_OUTPUTS, main


def test_tour_reproduces_the_notebook_outputs(capsys):
    assert main([]) == 0
    text = capsys.readouterr().out
    for printed in NOTEBOOK_OUTPUTS:
        assert f"output {printed: .8f}" in text
    assert "gradcheck passed: True" in text
