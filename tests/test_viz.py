"""tinygrad_rnn.viz: DOT text with the right nodes, labels, edges and per-step
clusters; drawing with and without Graphviz; backprop narrated in the engine's order."""

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, nn, viz

from _helpers import graph_nodes

NODE = re.compile(r"^\s*(\w+) \[(.*)\];$")
EDGE = re.compile(r"^\s*(\w+) -> (\w+)( \[label=\"\[(\d+)\]\"\])?;$")
LABEL = re.compile(r'label="((?:[^"\\]|\\.)*)"')


def parse(dot: str) -> dict:
    """A small structural reader of the DOT text to_dot writes (not a general DOT parser)."""
    assert dot.count("{") == dot.count("}")
    lines = dot.strip().splitlines()
    assert lines[0] == "digraph G {" and lines[-1] == "}"
    nodes, edges, clusters, current = {}, [], [], None
    for line in lines[1:-1]:
        if line.strip().startswith("subgraph cluster_"):
            current = {"title": None, "nodes": []}
            clusters.append(current)
        elif line.strip() == "}":
            current = None
        elif current is not None and line.strip().startswith("label="):
            current["title"] = LABEL.search(line).group(1)
        elif (m := NODE.match(line)) and m.group(1) not in ("node", "edge"):
            assert m.group(1) not in nodes, f"node {m.group(1)} declared twice"
            nodes[m.group(1)] = LABEL.search(m.group(2)).group(1).replace("\\n", "\n")
            if current is not None:
                current["nodes"].append(m.group(1))
        elif m := EDGE.match(line):
            edges.append((m.group(1), m.group(2), m.group(4)))
    for a, b, _ in edges:
        assert a in nodes and b in nodes, (a, b)
    return {"nodes": nodes, "edges": edges, "clusters": clusters}


def count_ops(root: Tensor) -> int:
    """Graph nodes reachable from root."""
    return len(graph_nodes(root))


class Tiny(nn.Module):
    def __init__(self):
        self.encoder = nn.Linear(2, 3)


# --------------------------------------------------------------------------- to_dot


def test_one_node_per_op_with_shapes_and_named_leaves():
    model = Tiny()
    x = Tensor(np.ones((4, 2)), requires_grad=True, name="x")
    h = model.encoder(x).tanh()
    h.name = "h"
    loss = (h * 2.0).sum()
    g = parse(viz.to_dot(loss, params=dict(model.named_parameters())))
    labels = list(g["nodes"].values())
    ops = [lab for lab in labels if lab.split("\n")[0].split(" = ")[-1][:1].isupper()]
    assert len(ops) == count_ops(loss)
    assert "h = Tanh\n(4, 3)" in labels
    assert "Sum\n()" in labels
    assert "encoder.weight\n(3, 2)" in labels and "encoder.bias\n(3,)" in labels
    assert "x\n(4, 2)" in labels and "2" in labels  # a constant shows its value
    # edges: one per op input, from the input's node to the op's
    n_inputs = 0
    todo, seen = [loss._node], set()
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        n_inputs += len(node.inputs)
        todo.extend(t._node for t in node.inputs)
    assert len(g["edges"]) == n_inputs
    # a Module is accepted as params too, and gives the same text
    assert viz.to_dot(loss, params=model) == viz.to_dot(loss, params=dict(model.named_parameters()))


def test_edges_run_from_inputs_to_the_op_and_say_which_output():
    x = Tensor(np.arange(6.0), requires_grad=True, name="x")
    a, b = x.split([2, 4])
    y = a.sum() * b.sum()
    g = parse(viz.to_dot(y))
    by_label = {lab.split("\n")[0]: nid for nid, lab in g["nodes"].items()}
    split = by_label["Split"]
    assert g["nodes"][split] == "Split\n(2,), (4,)"
    out_edges = sorted(k for a_, _, k in g["edges"] if a_ == split)
    assert out_edges == ["0", "1"]
    assert (by_label["x"], split, None) in g["edges"]


def test_a_leaf_alone_and_the_root_marked():
    w = Tensor(np.ones(3), requires_grad=True, name="w")
    g = parse(viz.to_dot(w))
    assert list(g["nodes"].values()) == ["w\n(3,)"] and not g["edges"]
    dot = viz.to_dot((w * w).sum())
    root_line = [line for line in dot.splitlines() if "Sum" in line][0]
    assert "peripheries=2" in root_line
    assert sum("peripheries=2" in line for line in dot.splitlines()) == 1


def test_labels_with_quotes_are_escaped():
    x = Tensor(np.ones(2), requires_grad=True, name='say "hi"\\')
    dot = viz.to_dot(x.sum())
    assert 'label="say \\"hi\\"\\\\\\n(2,)"' in dot
    parse(dot)


# --------------------------------------------------------------------------- unrolled


def gate_names(g: dict, cluster: dict) -> list:
    """The gate names written on a cluster's nodes ("r, z = ..." is one chunk giving two)."""
    labels = [g["nodes"][n].split(" = ")[0] for n in cluster["nodes"] if " = " in g["nodes"][n]]
    return [name for label in labels for name in label.split(", ")]


@pytest.mark.parametrize("kind, gates", [("RNN", "h"), ("LSTM", "ifgoch"), ("GRU", "rznh")])
def test_unrolled_layer_has_one_cluster_per_step_holding_that_steps_ops(kind, gates):
    tr.manual_seed(0)
    layer = getattr(nn, kind)(2, 3)
    steps = 4
    g = parse(viz.unrolled_dot(layer, np.ones((steps, 1, 2))))
    assert len(g["clusters"]) == steps
    assert [c["title"] for c in g["clusters"]] == [f"t = {t}" for t in range(steps)]
    sizes = {len(c["nodes"]) for c in g["clusters"]}
    assert len(sizes) == 1  # every step is the same ops
    for c in g["clusters"]:
        assert sorted(gate_names(g, c)) == sorted(gates)  # each gate once per step
    # an edge between two clusters only goes forward in time (state t -> step t+1)
    where = {n: k for k, c in enumerate(g["clusters"]) for n in c["nodes"]}
    for a, b, _ in g["edges"]:
        if a in where and b in where and where[a] != where[b]:
            assert where[b] == where[a] + 1
    labels = list(g["nodes"].values())
    assert "weight_hh_l0\n" + str(layer.weight_hh_l0.shape).replace(" ", " ") in labels
    assert "x\n(4, 1, 2)" in labels and "h0_l0\n(1, 3)" in labels


def test_unrolled_stacked_bidirectional_layer_and_a_cell():
    tr.manual_seed(1)
    gru = nn.GRU(2, 3, num_layers=2, bidirectional=True, batch_first=True)
    g = parse(viz.unrolled_dot(gru, np.ones((1, 5, 2)), loss_fn=lambda out: out.sum()))
    assert len(g["clusters"]) == 5
    for c in g["clusters"]:  # step t of 2 layers x 2 directions
        assert sorted(gate_names(g, c)) == sorted("rznh" * 4)
    cell = nn.LSTMCell(2, 3)
    with tr.no_grad():  # drawing needs a graph: it is recorded all the same
        g = parse(viz.unrolled_dot(cell, np.ones((3, 2))))
    assert len(g["clusters"]) == 3
    assert "weight_ih\n(12, 2)" in g["nodes"].values()


class _ElmanCell(nn.RecurrentCell):
    def step(self, xp, state):
        (h,) = state
        return (xp + self.recurrent(h)).tanh()


def test_unrolled_layer_of_the_cell_protocol_draws_each_step_as_a_cluster():
    tr.manual_seed(2)
    layer = nn.Recurrent(_ElmanCell, 2, 3, num_layers=2)
    g = parse(viz.unrolled_dot(layer, np.ones((4, 1, 2))))
    assert [c["title"] for c in g["clusters"]] == [f"t = {t}" for t in range(4)]
    labels = list(g["nodes"].values())
    assert "weight_hh_l1\n(3, 3)" in labels and "h0_l1\n(1, 3)" in labels


# --------------------------------------------------------------------------- draw


def test_draw_without_graphviz_nor_the_graphs_extra_says_how_to_get_them(monkeypatch,
                                                                          tmp_path):
    from tinygrad_rnn import viz_svg

    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(viz_svg, "layout_available", lambda: False)
    x = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(viz.GraphvizNotFoundError, match="apt install graphviz") as err:
        viz.draw(x.sum(), tmp_path / "g.svg")
    assert "brew install graphviz" in str(err.value) and "to_dot()" in str(err.value)
    assert 'pip install "tinygrad-rnn[graphs]"' in str(err.value)
    assert isinstance(err.value, RuntimeError)
    assert not (tmp_path / "g.svg").exists()


def test_draw_wants_svg_or_png(tmp_path):
    with pytest.raises(ValueError, match=".svg or .png"):
        viz.draw(Tensor(np.ones(2), requires_grad=True).sum(), tmp_path / "g.pdf")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_draw_renders_svg_and_png(tmp_path):
    tr.manual_seed(2)
    x = Tensor(np.ones((2, 3)), requires_grad=True, name="x")
    loss = (x * x).tanh().sum()
    svg = viz.draw(loss, tmp_path / "graph.svg")
    text = svg.read_text()
    assert "<svg" in text and "Tanh" in text and text.count("class=\"node\"") == 4
    png = viz.draw(viz.unrolled_dot(nn.LSTM(1, 2), np.ones((3, 1, 1))), tmp_path / "lstm.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the DOT text is valid Graphviz input (dot itself checks it)
    done = subprocess.run(["dot", "-Tcanon"], input=viz.to_dot(loss).encode(), capture_output=True)
    assert done.returncode == 0, done.stderr


# --------------------------------------------------------------------------- explain_backward


def steps_of(text: str) -> list:
    """[(output name, op name, [input names])] in the order the text gives them."""
    found = re.findall(r"^step \d+: (\S+) = (\w+)\(([^)]*)\)", text, flags=re.M)
    return [(out, op, [a.strip() for a in args.split(",")]) for out, op, args in found]


def test_explain_backward_narrates_reuse_in_the_engine_order():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True, name="x")
    y = x * x
    y.name = "y"
    z = y + y
    loss = z.sum()
    text = viz.explain_backward(loss)
    assert [op for _, op, _ in steps_of(text)] == ["Sum", "Add", "Mul"]
    assert steps_of(text)[1][2] == ["y", "y"] and steps_of(text)[2][2] == ["x", "x"]
    assert "y is used 2 times (by add1 twice): its gradients add" in text
    assert "x is used 2 times (by y twice): its gradients add" in text
    # the formulas come from the ops' docstrings
    for op in (tr.ops.Mul, tr.ops.Add):  # the docstring's backward (before its jvp rule)
        assert op.__doc__.split(".   ")[1].split("\n")[0].strip() in text
    # narration only: nothing ran, and backward still works afterwards
    assert x.grad is None
    loss.backward()
    assert np.allclose(x.grad, 4 * x.data)


def test_explain_backward_visits_every_op_once_consumers_first():
    tr.manual_seed(3)
    rnn = nn.RNN(2, 3)
    with tr.replay.disabled():  # op by op: a tanh node at every step
        out, h = rnn(np.ones((3, 1, 2)))
    loss = (out * out).mean() + h.sum()
    text = viz.explain_backward(loss, params=rnn)
    steps = steps_of(text)
    assert len(steps) == count_ops(loss)
    position = {name: k for k, (name, _, _) in enumerate(steps)}
    assert len(position) == len(steps)
    for k, (_, _, args) in enumerate(steps):
        for arg in args:  # an input made by an op is explained after every op that used it
            base = arg.split("[")[0]
            if base in position:
                assert position[base] > k, (arg, steps[k])
    assert "into weight_hh_l0.grad" in text
    assert "dx = grad * (1 - out**2)" in text  # Tanh's docstring
    assert "Leaves:" in text


def test_explain_backward_without_reuse_has_no_reuse_note_and_handles_a_leaf():
    w = Tensor(np.ones(3), requires_grad=True, name="w")
    text = viz.explain_backward((w.tanh() * 3.0).sum())
    assert "gradients add" not in text
    assert "nothing to 3 (it needs no gradient)" in text
    assert "is a leaf" in viz.explain_backward(w)


def test_derivative_doc_of_a_user_op():
    class Softsign(tr.Function):
        @staticmethod
        def forward(ctx, x):
            return x / (1 + np.abs(x))

        @staticmethod
        def backward(ctx, grad):
            return grad

    class Documented(Softsign):
        """out = x / (1 + |x|).

        Saves x.

        dx = grad / (1 + |x|)**2."""

    assert "no docstring" in viz.derivative_doc(Softsign)
    assert viz.derivative_doc(Documented) == "out = x / (1 + |x|). dx = grad / (1 + |x|)**2."
    # Matmul's first paragraph has no derivative: the paragraph that does is added
    matmul = viz.derivative_doc(tr.ops.Matmul)
    assert matmul.startswith("out = x @ y") and "dx = grad @ y^T" in matmul


def test_the_outputs_shown_in_docs_visualize_are_the_real_ones():
    page = (Path(__file__).resolve().parent.parent / "docs" / "visualize.md").read_text()
    shown = re.findall(r"^```text\n(.*?)^```$", page, flags=re.M | re.S)
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True, name="x")
    y = x * x
    y.name = "y"
    loss = (y + y).sum()
    assert shown[:2] == [viz.to_dot(loss), viz.explain_backward(loss)]
    # the first frame of backward_steps on the page's neuron
    x1, w1 = Tensor(2.0, requires_grad=True, name="x1"), Tensor(-3.0, requires_grad=True, name="w1")
    x2, w2 = Tensor(0.0, requires_grad=True, name="x2"), Tensor(1.0, requires_grad=True, name="w2")
    n = x1 * w1 + x2 * w2 + Tensor(6.8813735870195432, requires_grad=True, name="b")
    n.name = "n"
    o = n.tanh()
    o.name = "o"
    assert shown[2:] == [next(viz.backward_steps(o)).text()]


def test_explain_backward_of_a_scanned_layer_names_the_scan_and_its_ops():
    tr.manual_seed(3)
    gru = nn.GRU(2, 3)
    out, h = gru(np.ones((4, 1, 2)))  # one GRUScan node for all 4 steps
    text = viz.explain_backward(out.sum(), params=gru)
    ops = [op for _, op, _ in steps_of(text)]
    assert ops.count("GRUScan") == 1 and "Lerp" not in ops
    assert "the GRU step (addmm, sigmoid, split, addmm, addcmul, tanh, lerp)" in text
    assert "into weight_hh_l0.grad" in text
