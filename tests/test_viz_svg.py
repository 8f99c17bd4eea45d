"""Graphs drawn without Graphviz (viz.graph, viz.draw's Python engine, viz_svg): valid
SVG holding every node and edge of the graph, values and gradients that are the
tensors', scanned layers expanded into one copy of their step per time step.

Every picture made here is also written to ``VIZ_PICTURES`` (a folder under pytest's
tmp dir unless that variable names another) to be looked at."""

import contextlib
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, nn, viz

from _helpers import neuron  # micrograd's neuron, every value named and held

pytest.importorskip("grandalf", reason="the graphs extra (grandalf) is not installed")
from tinygrad_rnn import viz_svg  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> Path:
    folder = os.environ.get("VIZ_PICTURES")
    path = Path(folder) if folder else tmp_path_factory.mktemp("viz_pictures")
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_png(picture, path: Path) -> None:
    """Also as PNG when cairosvg can (the SVG is what the tests check)."""
    with contextlib.suppress(ModuleNotFoundError):
        picture.save(path.with_suffix(".png"))


def parsed(svg: str) -> dict:
    """{nodes: {id: label lines}, edges: [(from, to)]} read back from the SVG."""
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    assert root.tag == SVG + "svg"
    nodes, edges = {}, []
    for g in root.iter(SVG + "g"):
        if g.get("class") == "node":
            nodes[g.get("id")] = [t.text for t in g.iter(SVG + "text")]
        elif g.get("class") == "edge":
            edges.append((g.get("data-from"), g.get("data-to")))
            points = g.find(SVG + "polyline").get("points").split()
            assert len(points) >= 2
    return {"nodes": nodes, "edges": edges, "width": float(root.get("width")),
            "height": float(root.get("height"))}


def dot_structure(dot: str) -> dict:
    graph = viz_svg.parse_dot(dot)
    return {"nodes": {i: n.lines for i, n in graph.nodes.items()},
            "edges": [(a, b) for a, b, _ in graph.edges]}



def test_every_node_and_edge_of_the_graph_is_drawn(pictures):
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True, name="x")
    y = x * x
    y.name = "y"
    loss = (y + y).sum()
    picture = viz.graph(loss)
    drawn, written = parsed(picture.svg()), dot_structure(picture.dot)
    assert drawn["nodes"] == written["nodes"]
    assert sorted(drawn["edges"]) == sorted(written["edges"])  # x -> Mul twice, too
    assert len(drawn["nodes"]) == 4 and len(drawn["edges"]) == 5
    picture.save(pictures / "x_times_x.svg")
    save_png(picture, pictures / "x_times_x")


def test_nodes_inside_the_canvas_and_apart():
    _, made = neuron()
    svg = viz.graph(made["o"], values=True).svg()
    root = ET.fromstring(svg)
    width, height = float(root.get("width")), float(root.get("height"))
    boxes = []
    for shape in [*root.iter(SVG + "rect"), *root.iter(SVG + "ellipse")]:
        if shape.get("rx") and shape.tag.endswith("ellipse"):
            cx, cy, rx, ry = (float(shape.get(k)) for k in ("cx", "cy", "rx", "ry"))
            boxes.append((cx - rx, cy - ry, cx + rx, cy + ry))
        elif shape.get("x") is not None:
            x, y = float(shape.get("x")), float(shape.get("y"))
            boxes.append((x, y, x + float(shape.get("width")), y + float(shape.get("height"))))
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height


def test_values_and_gradients_on_the_nodes_are_the_tensors(pictures):
    leaves, made = neuron()
    made["o"].backward()
    picture = viz.graph(made["o"], values=True, grads=True)
    nodes = parsed(picture.svg())["nodes"]
    by_name = {lines[0].split(" = ")[0]: lines for lines in nodes.values()}
    for name, t in leaves.items():
        assert f"= {t.data.item():.4g}" in by_name[name]
        assert f"grad {t.grad.item():.4g}" in by_name[name]
    for name in ("x1w1", "x2w2", "n", "o"):  # held by variables: their numbers are known
        assert f"= {made[name].data.item():.4g}" in by_name[name]
    # derived independently: o = tanh(0.8814) = 1/sqrt(2); do/dn = 1 - o^2 = 1/2
    assert "= 0.7071" in by_name["o"]
    assert "grad 0.5" in by_name["b"] and "grad -1.5" in by_name["x1"]
    picture.save(pictures / "neuron_values_grads.svg")
    save_png(picture, pictures / "neuron_values_grads")


def test_large_values_are_shown_by_shape_and_range():
    w = Tensor(np.arange(12.0).reshape(3, 4), requires_grad=True, name="w")
    text = "\n".join(viz_svg.parse_dot(viz.to_dot((w * 2).sum(), values=True))
                     .nodes["leaf0"].lines)
    assert "= (3, 4) in [0, 11]" in text
    assert viz.summary(np.array([1.0, -2.5])) == "[1, -2.5]"


def test_an_intermediate_nobody_holds_is_drawn_without_numbers():
    x = Tensor(np.array([0.5]), requires_grad=True, name="x")
    loss = (x * 3.0).tanh().sum()  # Mul's and Tanh's outputs are gone
    lines = {n.lines[0]: n.lines for n in viz_svg.parse_dot(viz.to_dot(loss, values=True))
             .nodes.values()}
    assert lines["Mul"] == ["Mul", "(1,)"] and lines["Tanh"] == ["Tanh", "(1,)"]
    assert lines["Sum"][-1] == f"= {np.tanh(1.5):.4g}"


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.sampled_from(["TB", "LR"]))
def test_random_chains_lay_out_as_valid_svg(depth, width, rankdir):
    x = Tensor(np.ones((2, width)), requires_grad=True, name="x")
    values = [x]
    for k in range(depth):
        values.append((values[-1] * values[k]).tanh())
    loss = values[-1].sum()
    picture = viz.graph(loss, rankdir=rankdir)
    drawn, written = parsed(picture.svg()), dot_structure(picture.dot)
    assert drawn["nodes"].keys() == written["nodes"].keys()
    assert sorted(drawn["edges"]) == sorted(written["edges"])


def test_expanded_scan_has_one_copy_of_the_step_per_time_step(pictures):
    tr.manual_seed(0)
    lstm = nn.LSTM(input_size=1, hidden_size=2)
    T = 3
    out, _ = lstm(np.array([[1.0], [4.0], [7.0]]))  # one LSTMScan node, no replay.disabled()
    loss = out.sum()
    folded = viz_svg.parse_dot(viz.to_dot(loss, params=lstm))
    assert sum(n.lines[0] == "LSTMScan" for n in folded.nodes.values()) == 1
    program = next(n for n in viz.topological_order(loss._node)
                   if n.fn.__name__ == "LSTMScan").fn.program
    picture = viz.graph(loss, params=lstm, expand_scans=True, rankdir="LR")
    graph = viz_svg.parse_dot(picture.dot)
    assert not any(n.lines[0] == "LSTMScan" for n in graph.nodes.values())
    assert graph.clusters == [f"LSTMScan  t = {t}" for t in range(T)]
    for k in range(T):  # every op of the recorded step, once in each step's cluster
        ops = sorted(n.lines[0].split(" = ")[-1] for n in graph.nodes.values() if n.cluster == k)
        assert ops == sorted(op.fn.__name__ for op in program.ops)
    assert sum(n.lines[0] == "f_gate = Sigmoid" for n in graph.nodes.values()) == T
    # step t reads the state step t-1 made: an edge from its h_new to step t's Addmm
    names = {i: (n.lines[0], n.cluster) for i, n in graph.nodes.items()}
    carried = [(names[a], names[b]) for a, b, _ in graph.edges
               if names[a][0] == "h_new = Mul" and names[b][0] == "addmm = Addmm"]
    assert sorted((a[1], b[1]) for a, b in carried) == [(0, 1), (1, 2)]
    parsed(picture.svg())  # valid
    picture.save(pictures / "lstm_expanded.svg")
    save_png(picture, pictures / "lstm_expanded")


def test_draw_without_graphviz_uses_the_python_layout(monkeypatch, tmp_path, pictures):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    leaves, made = neuron()
    path = viz.draw(made["o"], tmp_path / "neuron.svg", values=True)
    assert "x1w1 = Mul" in path.read_text() and parsed(path.read_text())
    unrolled = viz.unrolled_dot(nn.GRU(1, 2), np.ones((2, 1, 1)))
    svg = parsed(viz_svg.to_svg(unrolled))
    assert len(svg["nodes"]) == len(viz_svg.parse_dot(unrolled).nodes)
    pytest.importorskip("cairosvg")
    png = viz.draw(unrolled, pictures / "gru_unrolled.png", engine="python")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_picture_shows_in_jupyter_and_refuses_other_formats(tmp_path):
    _, made = neuron()
    picture = viz.graph(made["o"])
    assert picture._repr_svg_().startswith("<svg")
    assert re.match(r"<Picture: \d+ nodes, \d+ edges>", repr(picture))
    with pytest.raises(ValueError, match=r"\.svg, \.png or \.dot"):
        picture.save(tmp_path / "g.pdf")
    with pytest.raises(ValueError, match="engine must be"):
        viz.draw(made["o"], tmp_path / "g.svg", engine="neato")
    assert not (tmp_path / "g.svg").exists()


def test_parse_dot_refuses_what_it_does_not_know():
    with pytest.raises(ValueError, match="not a statement viz writes"):
        viz_svg.parse_dot('digraph G {\n  a -- b;\n}\n')
    with pytest.raises(ValueError, match="undeclared node"):
        viz_svg.parse_dot('digraph G {\n  a [label="a"];\n  a -> b;\n}\n')
