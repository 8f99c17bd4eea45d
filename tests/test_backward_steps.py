"""viz.backward_steps: one frame per node in the engine's order, formulas with their
numbers, final gradients equal to .grad after a real backward, the graph untouched;
the frames' pictures and animation; ``python -m tinygrad_rnn explain``."""

import contextlib
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, autograd, nn, viz

import _helpers

ROOT = Path(__file__).resolve().parent.parent


def neuron():
    """The neuron's leaves and its output o; the values between them are not held."""
    leaves, made = _helpers.neuron()
    return leaves, made["o"]


def engine_order(loss: Tensor) -> list:
    """The nodes in the order autograd.backward calls their backward (spied on)."""
    visited = []
    real = autograd.backward_of

    def spy(fn):
        backward = real(fn)

        def wrapped(ctx, grad):
            visited.append(ctx)
            return backward(ctx, grad)
        return wrapped

    autograd.backward_of = spy
    try:
        loss.backward(retain_graph=True)
    finally:
        autograd.backward_of = real
    return visited


def test_frames_follow_the_engines_walk_and_end_at_its_gradients():
    leaves, o = neuron()
    frames = list(viz.backward_steps(o))
    assert [f.step for f in frames] == list(range(1, len(frames) + 1))
    assert all(f.total == len(frames) for f in frames)
    assert all(leaf.grad is None for leaf in leaves.values())  # nothing written
    order = engine_order(o)
    assert [f.node for f in frames] == order
    for leaf in leaves.values():
        assert np.array_equal(frames[-1].grad_of(leaf), leaf.grad)
    assert frames[-1].grad_of(leaves["x1"]) == pytest.approx(-1.5)  # w1 * (1 - tanh^2)


def test_a_frame_puts_the_numbers_into_the_op_formula():
    _, o = neuron()
    first = list(viz.backward_steps(o))[0]
    text = first.text()
    assert text.startswith("step 1 of 5: o = Tanh(n)")
    assert "dx = grad * (1 - out**2)" in text  # Tanh's docstring
    # o = tanh(0.8814) = 0.7071, so dL/dn = 1 * (1 - 0.7071**2) = 0.5
    assert "dL/dn += dL/do * (1 - o**2) = 1 * (1 - 0.7071**2) = 0.5" in text
    mul = list(viz.backward_steps(o))[-1].text()
    assert "dL/dx1 += dL/dx1w1 * w1 = 0.5 * (-3) = -1.5" in mul


def test_names_do_not_clash_with_the_formulas_names():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True, name="x")
    y = x * x
    y.name = "y"
    loss = (y + y).sum()
    text = viz.explain_backward(loss)
    assert "x <- x" not in text and "y <- x" not in text
    assert "here: dL/dx += dL/dy * x;  dL/dx += dL/dy * x" in text
    frames = list(viz.backward_steps(loss))
    # loss = 2 x^2: dL/dy = 2, each of Mul's two shares is 2 * x, together 4 x
    assert frames[-1].text().count("dL/dx += dL/dy * x = [2, 2] * [1, 2] = [2, 4]") == 2
    assert "dL/dx = [4, 8]" in frames[-1].text()


def test_a_value_used_twice_is_known_so_far_until_its_last_use():
    x = Tensor(np.array([3.0]), requires_grad=True, name="x")
    a = x.exp()
    a.name = "a"
    loss = (a * 2.0 + a.tanh()).sum()
    frames = list(viz.backward_steps(loss))
    partial = [f for f in frames if "dL/da = " in f.text() and "so far: 1 of 2" in f.text()]
    assert partial, "a's first share is marked as partial"
    loss.backward()
    assert np.allclose(frames[-1].grad_of(x), x.grad)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.integers(0, 2**16))
def test_final_gradients_equal_backwards_on_random_graphs(rows, cols, seed):
    rng = np.random.default_rng(seed)
    w = Tensor(rng.standard_normal((rows, cols)), requires_grad=True, name="w")
    v = Tensor(rng.standard_normal(cols), requires_grad=True, name="v")
    h = (w * v).tanh()
    loss = (h * h + (w @ v).sigmoid().sum() * v).mean()
    frames = list(viz.backward_steps(loss))
    assert [f.node for f in frames] == engine_order(loss)
    for leaf in (w, v):  # bit for bit: the same ops in the same order
        assert np.array_equal(frames[-1].grad_of(leaf), leaf.grad)


def test_a_scanned_layer_is_one_frame_and_its_gradients_match():
    tr.manual_seed(1)
    gru = nn.GRU(2, 3)
    out, h = gru(np.ones((4, 1, 2)))
    loss = out.sum() + (h * h).sum()
    frames = list(viz.backward_steps(loss, params=gru))
    assert [f.node.fn.__name__ for f in frames].count("GRUScan") == 1
    loss.backward()
    for name, p in gru.named_parameters():
        assert np.array_equal(frames[-1].grad_of(p), p.grad), name


def test_it_does_not_disturb_the_graph_nor_retained_gradients():
    x = Tensor(np.array([0.3, -0.2]), requires_grad=True, name="x")
    y = x.tanh()
    y.retain_grad()
    loss = (y * y).sum()
    list(viz.backward_steps(loss))
    assert y.grad is None and x.grad is None
    loss.backward()  # the saved arrays are still there
    assert np.allclose(y.grad, 2 * np.tanh(x.data))


def test_refuses_a_freed_graph_a_leaf_and_a_non_scalar_without_gradient():
    x = Tensor(np.array([0.3, -0.2]), requires_grad=True)
    loss = x.tanh().sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        list(viz.backward_steps(loss))
    with pytest.raises(ValueError, match="leaf"):
        viz.backward_steps(x)
    with pytest.raises(ValueError, match="gradient="):
        viz.backward_steps(x * 2.0)
    frames = list(viz.backward_steps(x * 2.0, gradient=np.array([1.0, 3.0])))
    assert np.array_equal(frames[-1].grad_of(x), [2.0, 6.0])


def test_frame_pictures_highlight_the_step_and_animate(tmp_path_factory):
    folder = os.environ.get("VIZ_PICTURES")
    pictures = Path(folder) if folder else tmp_path_factory.mktemp("steps")
    pictures.mkdir(parents=True, exist_ok=True)
    pytest.importorskip("grandalf")
    from tinygrad_rnn import viz_steps

    _, o = neuron()
    frames = list(viz.backward_steps(o))
    dot = frames[2].dot()  # s's step (x1w1 + x2w2) runs; x1w1 and x2w2 get theirs
    lines = {line.split("label=")[1]: line for line in dot.splitlines() if "label=" in line
             and "[" in line}
    highlighted = [label for label, line in lines.items() if "penwidth=3" in line]
    assert len(highlighted) == 3
    assert sum(viz_steps.HIGHLIGHT_GRAD in line for line in lines.values()) == 2
    root = ET.fromstring(frames[2]._repr_svg_())
    assert root.tag.endswith("svg")
    for k in (0, len(frames) - 1):
        frames[k].picture().save(pictures / f"neuron_step{k + 1}.svg")
        with contextlib.suppress(ModuleNotFoundError):  # (PNG: cairosvg, if it installs)
            frames[k].picture().save(pictures / f"neuron_step{k + 1}.png")
    animation = viz_steps.animate(frames)
    tree = ET.fromstring(animation)
    animations = [a for a in tree.iter("{http://www.w3.org/2000/svg}animate")]
    assert len(animations) == len(frames)
    (pictures / "neuron_backward.svg").write_text(animation)


def test_explain_command_prints_the_frames():
    done = subprocess.run([sys.executable, "-m", "tinygrad_rnn", "explain"], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "step 1 of 5: o = Tanh(n)" in done.stdout
    assert "= 1 * (1 - 0.7071**2) = 0.5" in done.stdout
    assert "leaves the same gradients in .grad: yes" in done.stdout
