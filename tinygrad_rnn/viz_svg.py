"""Graphs drawn without Graphviz: the DOT text ``viz`` writes, laid out in pure Python.

``viz.to_dot`` and ``viz.unrolled_dot`` write DOT text; Graphviz's ``dot``
renders it when installed. Without it, this module reads that same text (the
small part of DOT that ``viz`` writes: boxes, ellipses, plain labels, colours,
edges with labels, clusters), lays it out in layers as ``dot`` does (the
Sugiyama method: layers, fewer crossings, long edges bent through dummy points;
the `grandalf <https://github.com/bdcht/grandalf>`_ library does that part) and
writes SVG by hand: a box or ellipse per node, its label, each edge as a
polyline with an arrowhead. PNG is that SVG rasterized by cairosvg.

Both libraries are the optional extra ``graphs``:
``pip install "tinygrad-rnn[graphs]"``. ``Picture`` holds a drawing for
Jupyter, which shows it inline (``_repr_svg_``).
"""

from __future__ import annotations

import base64
import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

if TYPE_CHECKING:
    import os

__all__ = ["Picture", "Animation", "parse_dot", "to_svg", "svg_to_png", "png_bytes",
           "layout_available"]

_INSTALL = 'pip install "tinygrad-rnn[graphs]" (grandalf and cairosvg)'

FONT_SIZE = 11
CHAR_WIDTH = 0.6 * FONT_SIZE  # a monospace font: every label's width is known in advance
LINE_HEIGHT = 14
PAD_X, PAD_Y = 10, 7  # inside a node, around its label
GAP_X, GAP_Y = 22, 36  # between the nodes of a layer, between layers
MARGIN = 16


# --------------------------------------------------------------------------- reading DOT


@dataclass
class DotNode:
    """One node statement: its id, label lines and the attributes drawn."""

    id: str
    lines: list[str]
    attrs: dict[str, str]
    cluster: int | None = None

    @property
    def shape(self) -> str:
        return self.attrs.get("shape", "ellipse")


@dataclass
class DotGraph:
    """The nodes (in declaration order), edges and clusters of a DOT text."""

    rankdir: str = "TB"
    nodes: dict[str, DotNode] = field(default_factory=dict)
    edges: list[tuple[str, str, str | None]] = field(default_factory=list)
    clusters: list[str] = field(default_factory=list)  # their titles, cluster k at [k]


_STATEMENT = re.compile(r'^(\w+) \[(.*)\];$')
_EDGE = re.compile(r'^(\w+) -> (\w+)(?: \[(.*)\])?;$')
_ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^,\s\]]+)')


def _unquote(value: str) -> str:
    if not value.startswith('"'):
        return value
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value[1:-1])


def _attrs(text: str) -> dict[str, str]:
    return {key: _unquote(value) for key, value in _ATTR.findall(text)}


def parse_dot(text: str) -> DotGraph:
    """The graph of a DOT text as ``viz`` writes it (one statement per line).

    Not a general DOT reader: the statements ``viz.to_dot`` and
    ``viz.unrolled_dot`` write, one per line. A line it does not know raises
    ValueError, naming it, rather than drawing a wrong picture.
    """
    graph = DotGraph()
    cluster: int | None = None
    lines = [line.strip() for line in text.strip().splitlines()]
    if not lines or not re.match(r"^(di)?graph\b.*\{$", lines[0]) or lines[-1] != "}":
        raise ValueError("parse_dot: expected the text of one `digraph G { ... }`")
    for number, line in enumerate(lines[1:-1], 2):
        if not line or line.startswith(("node [", "edge [", "//")):
            continue
        if line.startswith("rankdir="):
            graph.rankdir = line.split("=", 1)[1].rstrip(";")
        elif line.startswith("subgraph cluster_"):
            cluster = len(graph.clusters)
            graph.clusters.append("")
        elif line == "}":
            cluster = None
        elif cluster is not None and line.startswith("label="):
            graph.clusters[cluster] = _attrs(line.split(";")[0])["label"]
        elif (edge := _EDGE.match(line)) is not None:
            label = _attrs(edge.group(3) or "").get("label")
            graph.edges.append((edge.group(1), edge.group(2), label))
        elif (node := _STATEMENT.match(line)) is not None:
            attrs = _attrs(node.group(2))
            lines_of_label = attrs.pop("label", node.group(1)).split("\n")
            graph.nodes[node.group(1)] = DotNode(node.group(1), lines_of_label, attrs, cluster)
        else:
            raise ValueError(f"parse_dot: line {number} is not a statement viz writes: {line!r}")
    for a, b, _ in graph.edges:
        for end in (a, b):
            if end not in graph.nodes:
                raise ValueError(f"parse_dot: the edge {a} -> {b} names an undeclared node {end}")
    return graph


# --------------------------------------------------------------------------- layout


@dataclass
class _Placed:
    """Where the layout put things: node centres and sizes, edge routes, the canvas."""

    centre: dict[str, tuple[float, float]]
    size: dict[str, tuple[float, float]]
    routes: list[list[tuple[float, float]]]  # one per edge of the graph, in its order
    width: float
    height: float


def layout_available() -> bool:
    """Is grandalf (the layered layout) installed?"""
    try:
        import grandalf  # noqa: F401
    except ImportError:
        return False
    return True


def _grandalf() -> Any:
    try:
        from grandalf import graphs, layouts
    except ImportError:
        raise ModuleNotFoundError(f"drawing without Graphviz needs grandalf: {_INSTALL}",
                                  name="grandalf") from None
    return graphs, layouts


def _node_size(node: DotNode) -> tuple[float, float]:
    width = max(len(line) for line in node.lines) * CHAR_WIDTH + 2 * PAD_X
    height = len(node.lines) * LINE_HEIGHT + 2 * PAD_Y
    if node.shape == "ellipse":  # an ellipse around a box of text is sqrt(2) times wider
        width, height = width * 1.3, height * 1.2
    return width, height


class _View:
    """What grandalf reads (w, h) and writes (xy) for a vertex, and a route for an edge."""

    def __init__(self, w: float = 0.0, h: float = 0.0) -> None:
        self.w, self.h = w, h
        self.xy: tuple[float, float] = (0.0, 0.0)
        self.points: list[tuple[float, float]] = []

    def setpath(self, points: list[tuple[float, float]]) -> None:
        self.points = [(float(x), float(y)) for x, y in points]


def _layout(graph: DotGraph) -> _Placed:
    """Layers top to bottom (or, for rankdir=LR, left to right): each connected part
    laid out by grandalf's Sugiyama layout, the parts side by side."""
    graphs, layouts = _grandalf()
    across = graph.rankdir in ("LR", "RL")  # lay out top-down, then turn the picture
    size = {i: _node_size(n) for i, n in graph.nodes.items()}
    vertices = {}
    for i in graph.nodes:
        vertices[i] = graphs.Vertex(i)
        w, h = size[i]
        vertices[i].view = _View(*((h, w) if across else (w, h)))
    pairs = list(dict.fromkeys((a, b) for a, b, _ in graph.edges))  # x * x: one edge to lay out
    edges = {}
    for a, b in pairs:
        edges[a, b] = graphs.Edge(vertices[a], vertices[b])
        edges[a, b].view = _View()
    whole = graphs.Graph(list(vertices.values()), list(edges.values()))
    centre: dict[str, tuple[float, float]] = {}
    offset = 0.0
    for part in sorted(whole.C, key=lambda c: min(list(graph.nodes).index(v.data)
                                                  for v in c.sV)):
        sugiyama = layouts.SugiyamaLayout(part)
        sugiyama.xspace, sugiyama.yspace = GAP_X, GAP_Y
        sugiyama.init_all()
        sugiyama.draw(3)
        left = min(v.view.xy[0] - v.view.w / 2 for v in part.sV)
        right = max(v.view.xy[0] + v.view.w / 2 for v in part.sV)
        shift = offset - left
        for v in part.sV:
            centre[v.data] = (v.view.xy[0] + shift, v.view.xy[1])
        for e in part.sE:
            e.view.points = [(x + shift, y) for x, y in e.view.points]
        offset += right - left + 2 * GAP_X
    routes = []
    for a, b, _ in graph.edges:
        points = edges[a, b].view.points or [centre[a], centre[b]]
        routes.append([centre[a], *points[1:-1], centre[b]])
    if across:  # (x, y) -> (y, x): layers run left to right
        centre = {i: (y, x) for i, (x, y) in centre.items()}
        routes = [[(y, x) for x, y in route] for route in routes]
    # move everything into the canvas, MARGIN from its edges (room for cluster frames)
    xs = [c[0] + side * size[i][0] / 2 for i, c in centre.items() for side in (-1, 1)]
    ys = [c[1] + side * size[i][1] / 2 for i, c in centre.items() for side in (-1, 1)]
    xs += [x for route in routes for x, _ in route]
    ys += [y for route in routes for _, y in route]
    dx, dy = MARGIN + 12 - min(xs, default=0), MARGIN + 24 - min(ys, default=0)
    centre = {i: (x + dx, y + dy) for i, (x, y) in centre.items()}
    routes = [[(x + dx, y + dy) for x, y in route] for route in routes]
    width = max(xs, default=0) + dx + MARGIN + 12
    height = max(ys, default=0) + dy + MARGIN + 12
    return _Placed(centre, size, routes, width, height)


# --------------------------------------------------------------------------- SVG


def _border_point(centre: tuple[float, float], size: tuple[float, float], shape: str,
                  toward: tuple[float, float]) -> tuple[float, float]:
    """Where the line from a node's centre toward ``toward`` leaves the node."""
    (x, y), (w, h) = centre, size
    dx, dy = toward[0] - x, toward[1] - y
    if dx == dy == 0:
        return centre
    if shape == "ellipse":
        t = 1 / ((dx / (w / 2)) ** 2 + (dy / (h / 2)) ** 2) ** 0.5
    else:  # a box (and a plain label, drawn as its box)
        t = min(w / 2 / abs(dx) if dx else float("inf"), h / 2 / abs(dy) if dy else float("inf"))
    return x + t * dx, y + t * dy


def _offset(route: list[tuple[float, float]], by: float) -> list[tuple[float, float]]:
    """``route`` moved sideways by ``by`` (the second of two edges a -> b beside the first)."""
    (x0, y0), (x1, y1) = route[0], route[-1]
    length = max(((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5, 1e-9)
    nx, ny = -(y1 - y0) / length * by, (x1 - x0) / length * by
    return [(x + nx, y + ny) for x, y in route]


def _node_svg(node: DotNode, centre: tuple[float, float], size: tuple[float, float]) -> str:
    (x, y), (w, h) = centre, size
    attrs = node.attrs
    styles = attrs.get("style", "")
    fill = attrs.get("fillcolor", "#ffffff") if "filled" in styles else "none"
    stroke = attrs.get("color", "#333333")
    width = float(attrs.get("penwidth", "2" if "bold" in styles else "1"))
    paint = f'fill="{fill}" stroke="{stroke}" stroke-width="{width:g}"'
    parts = [f'<g class="node" id={quoteattr(node.id)}>']
    if node.shape == "ellipse":
        parts.append(f'<ellipse cx="{x:.1f}" cy="{y:.1f}" rx="{w / 2:.1f}" ry="{h / 2:.1f}" '
                     f'{paint}/>')
        if attrs.get("peripheries") == "2":
            parts.append(f'<ellipse cx="{x:.1f}" cy="{y:.1f}" rx="{w / 2 + 4:.1f}" '
                         f'ry="{h / 2 + 4:.1f}" fill="none" stroke="{stroke}"/>')
    elif node.shape != "plaintext":
        radius = 6 if "rounded" in styles else 0
        parts.append(f'<rect x="{x - w / 2:.1f}" y="{y - h / 2:.1f}" width="{w:.1f}" '
                     f'height="{h:.1f}" rx="{radius}" {paint}/>')
        if attrs.get("peripheries") == "2":
            parts.append(f'<rect x="{x - w / 2 - 4:.1f}" y="{y - h / 2 - 4:.1f}" '
                         f'width="{w + 8:.1f}" height="{h + 8:.1f}" rx="{radius + 3}" '
                         f'fill="none" stroke="{stroke}"/>')
    color = attrs.get("fontcolor", "#000000")
    top = y - (len(node.lines) - 1) * LINE_HEIGHT / 2
    for k, line in enumerate(node.lines):
        parts.append(f'<text x="{x:.1f}" y="{top + k * LINE_HEIGHT + 4:.1f}" '
                     f'fill="{color}">{escape(line)}</text>')
    parts.append("</g>")
    return "".join(parts)


def to_svg(dot: str) -> str:
    """SVG text of a DOT text as ``viz`` writes it, laid out in pure Python (grandalf)."""
    graph = parse_dot(dot)
    placed = _layout(graph)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{placed.width:.0f}" '
           f'height="{placed.height:.0f}" viewBox="0 0 {placed.width:.0f} {placed.height:.0f}" '
           f'font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" '
           f'font-size="{FONT_SIZE}" text-anchor="middle">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
           'fill="#444444"/></marker></defs>',
           f'<rect width="{placed.width:.0f}" height="{placed.height:.0f}" fill="#ffffff"/>']
    for k, title in enumerate(graph.clusters):  # a frame around each cluster's nodes
        members = [i for i, n in graph.nodes.items() if n.cluster == k]
        if not members:
            continue
        x0 = min(placed.centre[i][0] - placed.size[i][0] / 2 for i in members) - 10
        x1 = max(placed.centre[i][0] + placed.size[i][0] / 2 for i in members) + 10
        y0 = min(placed.centre[i][1] - placed.size[i][1] / 2 for i in members) - 22
        y1 = max(placed.centre[i][1] + placed.size[i][1] / 2 for i in members) + 10
        out.append(f'<g class="cluster"><rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" '
                   f'height="{y1 - y0:.1f}" rx="8" fill="none" stroke="#999999"/>'
                   f'<text x="{(x0 + x1) / 2:.1f}" y="{y0 + 14:.1f}" fill="#555555">'
                   f'{escape(title)}</text></g>')
    seen: dict[tuple[str, str], int] = {}
    repeats = {pair: sum(1 for a, b, _ in graph.edges if (a, b) == pair)
               for pair in {(a, b) for a, b, _ in graph.edges}}
    for (a, b, label), route in zip(graph.edges, placed.routes):
        k = seen[a, b] = seen.get((a, b), -1) + 1
        route = _offset(route, (k - (repeats[a, b] - 1) / 2) * 8)
        route[0] = _border_point(placed.centre[a], placed.size[a], graph.nodes[a].shape,
                                 route[1])
        route[-1] = _border_point(placed.centre[b], placed.size[b], graph.nodes[b].shape,
                                  route[-2])
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in route)
        out.append(f'<g class="edge" data-from={quoteattr(a)} data-to={quoteattr(b)}>'
                   f'<polyline points="{points}" fill="none" stroke="#444444" '
                   f'marker-end="url(#arrow)"/>')
        if label:
            x, y = route[len(route) // 2 - 1 if len(route) > 2 else 0]
            x2, y2 = route[len(route) // 2]
            out.append(f'<text x="{(x + x2) / 2 + 10:.1f}" y="{(y + y2) / 2:.1f}" '
                       f'font-size="9" fill="#444444">{escape(label)}</text>')
        out.append("</g>")
    for i, node in graph.nodes.items():
        out.append(_node_svg(node, placed.centre[i], placed.size[i]))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def svg_to_png(svg: str, path: str | os.PathLike[str], scale: float = 2.0) -> Path:
    """Write ``svg`` as a PNG at ``path`` (cairosvg, ``scale`` times its size)."""
    path = Path(path)
    path.write_bytes(png_bytes(svg, scale))
    return path


def png_bytes(svg: str, scale: float = 2.0) -> bytes:
    """``svg`` as the bytes of a PNG (cairosvg, ``scale`` times its size); a
    ModuleNotFoundError that says what to install when cairosvg or cairo is missing."""
    try:
        import cairosvg
    except ImportError:
        raise ModuleNotFoundError(f"writing PNG without Graphviz needs cairosvg: {_INSTALL}",
                                  name="cairosvg") from None
    except OSError as err:  # cairosvg installed, the system's cairo library missing
        raise ModuleNotFoundError(f"cairosvg could not load the cairo library ({err}); "
                                  f"write .svg instead, or install cairo",
                                  name="cairosvg") from None
    png: bytes = cairosvg.svg2png(bytestring=svg.encode(), scale=scale)
    return png


# --------------------------------------------------------------------------- Picture


class Picture:
    """A graph drawing: its DOT text, its SVG (made on first use), shown inline by Jupyter.

    ``viz.graph(...)`` and ``viz.Frame.picture()`` make one. ``save(path)`` writes
    .svg, .png or .dot; ``svg()`` is the pure-Python drawing (grandalf), the same
    on every machine.
    """

    def __init__(self, dot: str) -> None:
        self.dot = dot
        self._svg: str | None = None

    def svg(self) -> str:
        """The drawing as SVG text (laid out here, without Graphviz)."""
        if self._svg is None:
            self._svg = to_svg(self.dot)
        return self._svg

    def _repr_svg_(self) -> str:
        return self.svg()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """What Jupyter (and nbconvert, VS Code, docs builders) may show: the SVG, a PNG
        for front ends that draw no SVG (when cairosvg and cairo are installed: left
        out otherwise), and the repr. ``include``/``exclude``: mime types to keep or drop."""
        def wanted(mime: str) -> bool:
            return (include is None or mime in include) and not (exclude and mime in exclude)

        bundle = {"text/plain": repr(self)} if wanted("text/plain") else {}
        if wanted("image/svg+xml"):
            bundle["image/svg+xml"] = self.svg()
        if wanted("image/png"):
            # base64 text, as IPython.display.Image gives it; without cairosvg or cairo,
            # the SVG alone
            with contextlib.suppress(ModuleNotFoundError):
                bundle["image/png"] = base64.b64encode(png_bytes(self.svg(), 1.0)).decode("ascii")
        return bundle

    def save(self, path: str | os.PathLike[str], scale: float = 2.0) -> Path:
        """Write the drawing to ``path``: .svg, .png (cairosvg, ``scale`` times the SVG's
        size) or .dot (the DOT text)."""
        path = Path(path)
        fmt = path.suffix.lower()
        if fmt == ".svg":
            path.write_text(self.svg(), encoding="utf-8")
        elif fmt == ".png":
            svg_to_png(self.svg(), path, scale)
        elif fmt == ".dot":
            path.write_text(self.dot, encoding="utf-8")
        else:
            raise ValueError(f"Picture.save: the path must end in .svg, .png or .dot, "
                             f"got {path.name!r}")
        return path

    def __repr__(self) -> str:
        graph = parse_dot(self.dot)
        return f"<Picture: {len(graph.nodes)} nodes, {len(graph.edges)} edges>"


class Animation:
    """An animated SVG (``viz.step_through`` without ipywidgets): Jupyter plays it inline;
    ``save(path)`` writes it (.svg)."""

    def __init__(self, svg: str) -> None:
        self.svg = svg

    def _repr_svg_(self) -> str:
        return self.svg

    def save(self, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        if path.suffix.lower() != ".svg":
            raise ValueError(f"Animation.save: the path must end in .svg, got {path.name!r}")
        path.write_text(self.svg, encoding="utf-8")
        return path
