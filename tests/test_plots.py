"""tinygrad_rnn.plots: PNG files written, figures showing exactly the data given;
matplotlib never imported by ``import tinygrad_rnn``."""

import subprocess
import sys

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import nn, trace

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_importing_the_package_does_not_import_matplotlib():
    code = ("import sys, tinygrad_rnn, tinygrad_rnn.viz, tinygrad_rnn.trace, tinygrad_rnn.plots; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


matplotlib = pytest.importorskip("matplotlib")
from matplotlib.image import imread  # noqa: E402

from tinygrad_rnn import plots  # noqa: E402


def assert_png(path, fig):
    assert path.read_bytes()[:8] == PNG_MAGIC
    image = imread(path)  # decodes: a valid PNG
    width, height = fig.get_size_inches() * 100
    assert image.shape[:2] == (round(height), round(width))


def test_gradient_flow_plot_rnn_against_lstm(tmp_path):
    tr.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((8, 2, 3))
    flows = {"RNN": trace.gradient_flow(nn.RNN(3, 4), x),
             "LSTM": trace.gradient_flow(nn.LSTM(3, 4), x)}
    fig = plots.gradient_flow(flows, tmp_path / "flow.png")
    assert_png(tmp_path / "flow.png", fig)
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    assert [line.get_label() for line in ax.get_lines()] == ["RNN", "LSTM"]
    for line, values in zip(ax.get_lines(), flows.values()):
        np.testing.assert_array_equal(line.get_ydata(), values)
        np.testing.assert_array_equal(line.get_xdata(), np.arange(8))


def test_gradient_flow_plot_leaves_out_zeros(tmp_path):
    fig = plots.gradient_flow(np.array([0.0, 0.0, 0.5, 1.0]))
    (line,) = fig.axes[0].get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [2, 3])
    assert not (tmp_path / "none.png").exists()


def test_gate_heatmap_of_the_notebooks_sequence(tmp_path):
    tr.manual_seed(1)
    lstm = nn.LSTM(1, 4)
    gates, _ = trace.gate_trace(lstm, np.array([[1.0], [4.0], [7.0]]))  # unbatched (T, I)
    fig = plots.gate_heatmap(gates[0, 0], tmp_path / "gates.png")
    assert_png(tmp_path / "gates.png", fig)
    heatmaps = [ax for ax in fig.axes if ax.images]
    assert [ax.get_ylabel() for ax in heatmaps] == ["i", "f", "g", "o", "c", "h"]
    assert len(fig.axes) == 2 * 6  # each heatmap has its colorbar
    for ax, name in zip(heatmaps, "ifgoch"):
        # units down, time across: the trace of sequence 0, transposed
        np.testing.assert_array_equal(ax.images[0].get_array(), gates[0, 0][name][:, 0, :].T)
        assert len(ax.texts) == 3 * 4  # small: every value written in its cell
    assert heatmaps[1].images[0].get_clim() == (0, 1)      # a sigmoid gate
    assert heatmaps[2].images[0].get_clim() == (-1, 1)     # tanh candidate


def test_gate_heatmap_picks_gates_and_sequence():
    tr.manual_seed(2)
    gates, _ = trace.gate_trace(nn.GRU(2, 3), np.random.default_rng(1).standard_normal((30, 2, 2)))
    fig = plots.gate_heatmap(gates[0, 0], names=["z", "h"], batch_index=1)
    heatmaps = [ax for ax in fig.axes if ax.images]
    assert [ax.get_ylabel() for ax in heatmaps] == ["z", "h"]
    np.testing.assert_array_equal(heatmaps[0].images[0].get_array(), gates[0, 0]["z"][:, 1, :].T)
    assert not any(ax.texts for ax in heatmaps)  # 30 x 3 cells: too many to annotate
    with pytest.raises(ValueError, match="no gates"):
        plots.gate_heatmap(gates[0, 0], names=[])


def test_loss_curve(tmp_path):
    curve = np.exp(-np.arange(50) / 10)
    fig = plots.loss_curve(curve, tmp_path / "loss.png")
    assert_png(tmp_path / "loss.png", fig)
    (ax,) = fig.axes
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_ydata(), curve)
    assert ax.get_yscale() == "log" and ax.get_legend() is None
    fig = plots.loss_curve({"RNN": curve, "LSTM": curve / 2, "GRU": curve - 1}, log=True)
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 3 and ax.get_legend() is not None
    assert ax.get_yscale() == "linear"  # a non-positive loss cannot go on a log axis
    with pytest.raises(ValueError, match=".png"):
        plots.loss_curve(curve, tmp_path / "loss.jpg")
