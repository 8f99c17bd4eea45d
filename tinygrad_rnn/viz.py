"""See the graph: Graphviz DOT text, drawings, and backpropagation narrated.

- ``to_dot(tensor)``: the graph that computed ``tensor`` as DOT text, one node per
  op (its name and output shape), leaves labelled by name, edges input -> op.
- ``unrolled_dot(layer, x)``: a recurrent layer's unrolled graph, one cluster
  per time step, its gates labelled.
- ``draw(tensor_or_dot, "graph.svg")``: rendered by Graphviz's ``dot`` program.
- ``explain_backward(loss)``: every backward step in the order the engine runs
  them, with the op's derivative formula, and where gradients add.

Plain text only: nothing here needs matplotlib or Graphviz to be imported, and
``to_dot`` works without Graphviz installed.
"""

from __future__ import annotations

import gc
import html
import inspect
import re
import shutil
import subprocess
import textwrap
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .autograd import Context, enable_grad
from .nn.recurrent import Recurrent
from .tensor import Tensor
from .trace import Step, record_gates, run_sequence

if TYPE_CHECKING:
    import os
    from typing import TypeAlias

    from .autograd import Function
    from .nn.module import Module
    from .tensor import TensorLike
    from .viz_steps import Frame
    from .viz_svg import Picture

    # parameters to name the leaves by: a Module, or {name: tensor}
    Params: TypeAlias = "Module | Mapping[str, Tensor] | None"

__all__ = ["to_dot", "unrolled_dot", "graph", "draw", "explain_backward",
           "backward_steps", "step_through", "summary", "GraphvizNotFoundError"]


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's ``dot`` program is not on the PATH."""


# --------------------------------------------------------------------------- naming


def _param_names(params: Params) -> dict[int, str]:
    """{id(tensor): name} from a Module or a {name: tensor} mapping."""
    if params is None:
        return {}
    if hasattr(params, "named_parameters"):
        params = dict(params.named_parameters())
    return {id(t): name for name, t in params.items()}


def topological_order(root: Context) -> list[Context]:
    """The nodes reachable from ``root``, in the order they were created (every node
    after the nodes it feeds from); backward runs them in the reverse order."""
    seen, todo = {root}, [root]
    while todo:
        for parent in todo.pop().parents:
            if isinstance(parent, Context) and parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return sorted(seen, key=lambda node: node.seq)


def _inputs(node: Context) -> Iterable[tuple[Any, int]]:
    """(parent, index) for each input of ``node``: a leaf Tensor (index 0), or the node
    that computed the input and which of its outputs it is (the graph links nodes,
    not the intermediate tensors, which may be gone)."""
    return zip(node.parents, node.parent_indices)


def _ref(t: Tensor) -> tuple:
    """A tensor as (parent, index), the way nodes refer to their inputs."""
    return (t, 0) if t._node is None else (t._node, t._index)


class _Graph:
    """The nodes reachable from a root, in forward order, and what to call them."""

    def __init__(self, root: Tensor, params: Params = None) -> None:
        self.root = root
        self.param_names = _param_names(params)
        self.ops: list[Context] = [] if root._node is None else topological_order(root._node)
        # leaves in first-use order; the op outputs (node, index) that something uses
        self.leaves: list[Tensor] = []
        self.used: set = set()
        seen_leaves = set()
        for node in self.ops:
            for parent, index in _inputs(node):
                if isinstance(parent, Tensor):
                    if id(parent) not in seen_leaves:
                        seen_leaves.add(id(parent))
                        self.leaves.append(parent)
                else:
                    self.used.add((parent, index))
        if root._node is None:
            self.leaves.append(root)
        else:
            self.used.add((root._node, root._index))
        self.uses = self._count_uses()

    def _count_uses(self) -> dict[Any, list[Context]]:
        """{key: [consumer node, ...]}, one entry per use (x * x lists Mul twice)."""
        uses: dict = {}
        for node in self.ops:
            for parent, index in _inputs(node):
                uses.setdefault(self.key(parent, index), []).append(node)
        return uses

    @staticmethod
    def key(parent: Any, index: int = 0) -> tuple[Any, int]:
        return ("leaf", id(parent)) if isinstance(parent, Tensor) else (parent, index)

    @staticmethod
    def output_name(node: Context, index: int = 0) -> str | None:
        return None if node.names is None else node.names.get(index)

    def leaf_name(self, t: Tensor) -> str | None:
        return self.param_names.get(id(t)) or t.name


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def _const_text(t: Tensor) -> str:
    if t.data.size == 1:
        return f"{t.data.item():g}"
    return f"{'zeros' if not t.data.any() else 'const'} {_shape(t.shape)}"


def _output_shapes(g: _Graph, node: Context) -> list[tuple[int, ...]]:
    """Shapes of a node's outputs."""
    return [s for s, _ in node.output_meta]


# --------------------------------------------------------------------------- values, gradients


def summary(array: Any, small: int = 4) -> str:
    """An array in a few characters: its numbers when it has at most ``small`` of them
    (``0.7616``, ``[1, -2.5]``), else its shape and range (``(3, 4) in [-0.9, 1.2]``)."""
    a = np.asarray(array)
    if a.size == 1:
        return f"{a.item():.4g}"
    if a.size <= small:
        return "[" + ", ".join(f"{v:.4g}" for v in a.ravel().tolist()) + "]"
    if a.size == 0:
        return f"{_shape(a.shape)} empty"
    return f"{_shape(a.shape)} in [{a.min():.3g}, {a.max():.3g}]"


class Notes:
    """Lines added under nodes' labels (values, gradients) and nodes drawn highlighted,
    by the graph's key of a value: ``("leaf", id(tensor))`` or ``(node, output index)``."""

    def __init__(self) -> None:
        self.text: dict[Any, list[str]] = {}
        self.colour: dict[Any, str] = {}

    def add(self, key: Any, line: str) -> None:
        self.text.setdefault(key, []).append(line)

    def lines(self, keys: list) -> list[str]:
        """The lines of ``keys`` (a node's outputs: each prefixed [i] when several)."""
        if len(keys) == 1:
            return self.text.get(keys[0], [])
        return [f"[{k}] {line}" for k, key in enumerate(keys) for line in self.text.get(key, [])]

    def pen(self, keys: list) -> str:
        """DOT attributes that highlight the node of ``keys``, if one of them is."""
        colours = [self.colour[k] for k in keys if k in self.colour]
        return f', color="{colours[0]}", penwidth=3' if colours else ""


def _live_outputs(g: _Graph) -> dict[Any, Tensor]:
    """{(node, index): tensor} for the op outputs whose Tensor is still alive (held by a
    variable, a list, a module...): a node keeps no link to its outputs, so the garbage
    collector's referrers are the one way to find them. One scan of the heap."""
    nodes = set(g.ops)
    found: dict[Any, Tensor] = {}
    for node in g.ops:  # outputs that retain_grad() keeps, first
        for index, t in (node.retained or {}).items():
            found[(node, index)] = t
    for obj in gc.get_referrers(*g.ops) if g.ops else ():
        if isinstance(obj, Tensor) and obj._node in nodes:
            found.setdefault((obj._node, obj._index), obj)
    if g.root._node is not None:
        found[(g.root._node, g.root._index)] = g.root
    return found


def _value_notes(g: _Graph, values: bool, grads: bool) -> Notes:
    """Each known value's numbers (``= ...``) and gradient (``grad ...``) as node notes:
    leaves, and the op outputs still held by a Tensor; a gradient where backward left
    one in ``.grad`` (leaves, and outputs that called retain_grad)."""
    notes = Notes()
    held: list[tuple[Any, Tensor]] = [(g.key(t), t) for t in g.leaves]
    if values or grads:
        held += list(_live_outputs(g).items())
    for key, t in held:
        if values:
            notes.add(key, "= " + summary(t.data))
        if grads and t.grad is not None:
            notes.add(key, "grad " + summary(t.grad))
    return notes


# --------------------------------------------------------------------------- scans, expanded


class _ScanSteps:
    """Scanned layers' nodes (``LSTMScan``...) drawn as what they run: the recorded step's
    ops (``node.fn.program``, the same for every step of a padded batch), one copy per
    time step, in a cluster each, wired as the scan wires them: step t reads the
    sequence at t, the state the step before returned (the node's initial state at the
    first step) and the fixed inputs (weights). A box ``stack`` gathers the outputs,
    output 0 of the node; its other outputs, the final states, are the last step's.
    The copies are drawn from the program, not from tensors: no values inside."""

    def __init__(self, g: _Graph, ids: dict, root: Tensor) -> None:
        self.g, self.ids, self.root = g, ids, root
        self.scans = [n for n in g.ops if hasattr(n.fn, "program") and hasattr(n, "programs")]
        self.outputs: dict[tuple[Context, int], str] = {}
        self.clusters: list[tuple[str, list[str]]] = []
        self.edges: list[str] = []
        self.stacks: list[str] = []  # the stack box of each scan
        for k, node in enumerate(self.scans):
            self._expand(k, node)

    def expands(self, node: Any) -> bool:
        return node in self.scans

    def output_id(self, node: Context, index: int) -> str:
        return self.outputs[(node, index)]

    def _source(self, node: Context, k: int) -> str:
        """The id of what feeds input k of a scan node."""
        parent, index = node.parents[k], node.parent_indices[k]
        if isinstance(parent, Tensor):
            return str(self.ids[id(parent)])
        return self.outputs[(parent, index)] if self.expands(parent) else str(self.ids[parent])

    def _expand(self, k: int, node: Context) -> None:
        n_seq, order = node.n_seq, node.batches.order
        n_state = len(node.programs[order[0]].outputs)
        states: list[tuple[str, str]] = [(self._source(node, n_seq + j), "")
                                         for j in range(n_state)]
        stacked = f"scan{k}_stack"
        for t in order:
            program = node.programs[t]
            members: list[str] = []
            slot: dict[int, tuple[str, str]] = {}
            for s in range(program.num_inputs):
                if s < n_seq:
                    slot[s] = (self._source(node, s), f"[{t}]")
                elif s < n_seq + n_state:
                    slot[s] = states[s - n_seq]
                else:
                    slot[s] = (self._source(node, s), "")
            for s, array in program.constants.items():
                slot[s] = (f"scan{k}_t{t}_c{s}", "")
                members.append(f'{slot[s][0]} [shape=plaintext, fontcolor="#666666", '
                               f'label={_quote(_const_text(Tensor(array)))}];')
            for q, op in enumerate(program.ops):
                box = f"scan{k}_t{t}_op{q}"
                shapes = [program.metas[o][0] for o in op.outputs]
                name = program.names[op.outputs[0]] if len(op.outputs) == 1 else None
                title = f"{name} = {op.fn.__name__}" if name else op.fn.__name__
                shape = _shape(shapes[0]) if len(shapes) == 1 else \
                    f"{len(shapes)} x {_shape(shapes[0])}"
                members.append(f'{box} [shape=box, style="rounded,filled", '
                               f'fillcolor="#fff4e0", label={_quote(title + chr(10) + shape)}];')
                for i, o in enumerate(op.outputs):
                    slot[o] = (box, f"[{i}]" if len(op.outputs) > 1 else "")
                for s in op.inputs:
                    source, label = slot[s]
                    tag = f" [label={_quote(label)}]" if label else ""
                    self.edges.append(f"  {source} -> {box}{tag};")
            states = [slot[o] for o in program.outputs]
            source, label = states[0]
            tag = f" [label={_quote(label)}]" if label else ""
            self.edges.append(f"  {source} -> {stacked}{tag};")
            self.clusters.append((f"{node.fn.__name__}  t = {t}", members))
        rooted = ", peripheries=2" if self.root._node is node and self.root._index == 0 else ""
        shape = _shape(node.output_meta[0][0])
        self.stacks.append(
            f'  {stacked} [shape=box, style="rounded,filled", fillcolor="#fde8c8"{rooted}, '
            f'label={_quote(f"stack (outputs of {node.fn.__name__})" + chr(10) + shape)}];')
        self.outputs[(node, 0)] = stacked
        for j, (source, _label) in enumerate(states):
            self.outputs[(node, 1 + j)] = source

    def lines(self, first_cluster: int) -> list[str]:
        """The clusters of the steps, the stack boxes and the edges, as DOT lines."""
        out = list(self.stacks)
        for n, (title, members) in enumerate(self.clusters):
            out.append(f"  subgraph cluster_{first_cluster + n} {{")
            out.append(f'    label={_quote(title)}; style="rounded"; color="#999999";')
            out.extend("    " + m for m in members)
            out.append("  }")
        return out + self.edges


# --------------------------------------------------------------------------- DOT


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _dot(root: Tensor, params: Params = None,
         clusters: list[tuple[str, set[Context]]] | None = None,
         labels: dict[tuple[Context, int], str] | None = None,
         leaf_labels: dict[int, str] | None = None, rankdir: str = "TB",
         notes: Notes | None = None, expand_scans: bool = False) -> str:
    """DOT text for the graph of ``root``.

    clusters: [(title, set of Contexts)], each drawn as ``subgraph cluster_<k>``;
    labels: {(Context, output index): text} put before an op's name (gate names);
    leaf_labels: {id(leaf): name} for leaves without a name of their own;
    notes: lines added under a node's label (values, gradients) and highlights;
    expand_scans: draw each scanned layer's node as its recorded step's ops, once per
    time step (``_ScanSteps``).
    """
    g = _Graph(root, params)
    labels, leaf_labels = labels or {}, leaf_labels or {}
    notes = notes or Notes()
    ids: dict = {}
    for k, node in enumerate(g.ops):
        ids[node] = f"op{k}"
    for k, t in enumerate(g.leaves):
        ids[id(t)] = f"leaf{k}"

    def op_line(node: Context) -> str:
        shapes = _output_shapes(g, node)
        if len(shapes) == 1:
            shape = _shape(shapes[0])
        elif all(s == shapes[0] for s in shapes):
            shape = f"{len(shapes)} x {_shape(shapes[0])}"
        else:
            shape = ", ".join(_shape(s) for s in shapes)
        names = [labels.get((node, i)) or g.output_name(node, i) for i in range(len(shapes))]
        names = [n for n in names if n]
        title = f"{', '.join(names)} = {node.fn.__name__}" if names else node.fn.__name__
        style = ', style="rounded,filled,bold", fillcolor="#fde8c8", peripheries=2' \
            if node is root._node else ', style="rounded,filled", fillcolor="#fff4e0"'
        keys = [(node, i) for i in range(len(shapes))]
        text = "\n".join([title, shape, *notes.lines(keys)])
        return f"{ids[node]} [shape=box{style}{notes.pen(keys)}, label={_quote(text)}];"

    def leaf_line(t: Tensor) -> str:
        name = g.leaf_name(t) or leaf_labels.get(id(t))
        if id(t) in g.param_names:
            style = 'shape=ellipse, style=filled, fillcolor="#cfe3ff"'
            text = f"{name}\n{_shape(t.shape)}"
        elif name or t.requires_grad:
            style = 'shape=ellipse, style=filled, fillcolor="#e3f5d8"'
            text = f"{name or 'input'}\n{_shape(t.shape)}"
        else:
            style, text = 'shape=plaintext, fontcolor="#666666"', name or _const_text(t)
        if t is root:
            style += ", peripheries=2"
        keys = [g.key(t)]
        text = "\n".join([text, *notes.lines(keys)])
        return f"{ids[id(t)]} [{style}{notes.pen(keys)}, label={_quote(text)}];"

    scans = _ScanSteps(g, ids, root) if expand_scans else None

    # which cluster each op sits in; a constant used only inside one cluster joins it
    where: dict = {}
    for k, (_, members) in enumerate(clusters or ()):
        for node in members:
            where[node] = k
    for t in g.leaves:
        users = {where.get(node) for node in g.uses.get(g.key(t), [])}
        if len(users) == 1 and None not in users and not t.requires_grad \
                and id(t) not in g.param_names and not t.name and id(t) not in leaf_labels:
            where[id(t)] = users.pop()

    lines = ["digraph G {", f"  rankdir={rankdir};",
             '  node [fontname="Helvetica", fontsize=10];', '  edge [fontsize=9];']
    outside = [t for t in g.leaves if id(t) not in where] + [n for n in g.ops if n not in where]
    for item in outside:
        if isinstance(item, Context) and scans is not None and scans.expands(item):
            continue
        lines.append("  " + (op_line(item) if isinstance(item, Context) else leaf_line(item)))
    for k, (title, _members) in enumerate(clusters or ()):
        lines.append(f"  subgraph cluster_{k} {{")
        lines.append(f'    label={_quote(title)}; style="rounded"; color="#999999";')
        for t in g.leaves:
            if where.get(id(t)) == k:
                lines.append("    " + leaf_line(t))
        for node in g.ops:
            if where.get(node) == k:
                lines.append("    " + op_line(node))
        lines.append("  }")
    if scans is not None:
        lines.extend(scans.lines(first_cluster=len(clusters or ())))
    for node in g.ops:
        if scans is not None and scans.expands(node):
            continue  # its steps' edges are drawn by scans.lines()
        for parent, index in _inputs(node):
            leaf = isinstance(parent, Tensor)
            source = ids[id(parent)] if leaf else ids[parent]
            many = not leaf and parent.num_outputs > 1
            label = f" [label={_quote(f'[{index}]')}]" if many else ""
            if scans is not None and not leaf and scans.expands(parent):
                source, label = scans.output_id(parent, index), ""
            lines.append(f"  {source} -> {ids[node]}{label};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_dot(tensor: Tensor, params: Params = None, rankdir: str = "TB", *,
           values: bool = False, grads: bool = False, expand_scans: bool = False) -> str:
    """Graphviz DOT text of the graph that computed ``tensor``.

    One box per op (its name and output shape; a named output, ``t.name = "h"``,
    shows its name), one ellipse per leaf: parameters by their dotted name when
    ``params`` (a Module, or ``dict(module.named_parameters())``) says it, other
    leaves by ``Tensor.name``, constants by value. Edges go from input to op; an
    edge out of an op with several outputs (split, unbind) says which output.
    The op that made ``tensor`` has a double border.

    Arguments:
        values: add each value's numbers under its node (``= 0.7616``; shape and
            range for more than 4 numbers): the leaves, ``tensor`` itself, and every
            op output whose Tensor is still alive (a node keeps no link to its
            outputs; an intermediate nobody holds is drawn without numbers).
        grads: add the gradient backward left in ``.grad`` (``grad -0.42``): the
            leaves', and the outputs' that called ``retain_grad()``.
        expand_scans: draw a scanned layer's node (``LSTMScan``) as its recorded
            step's ops, one copy per time step, instead of one box.
    """
    g_notes = _value_notes(_Graph(tensor, params), values, grads) if values or grads else None
    return _dot(tensor, params, rankdir=rankdir, notes=g_notes, expand_scans=expand_scans)


def graph(tensor: Tensor, params: Params = None, rankdir: str = "TB", *, values: bool = False,
          grads: bool = False, expand_scans: bool = False) -> Picture:
    """The graph of ``tensor`` as a ``Picture``: Jupyter shows it inline (SVG), and
    ``.save("g.png")`` writes it; laid out in pure Python, no Graphviz needed (the
    ``graphs`` extra: ``pip install "tinygrad-rnn[graphs]"``). Arguments as ``to_dot``."""
    from .viz_svg import Picture

    return Picture(to_dot(tensor, params, rankdir, values=values, grads=grads,
                          expand_scans=expand_scans))


def _step_nodes(step: Step) -> set[Context]:
    """The ops of one recorded step: reachable from what it made, stopping at its inputs."""
    stop = {_ref(t) for t in step.inputs}
    members, todo = set(), [t._node for t in step.tensors.values() if t._node is not None]
    while todo:
        node = todo.pop()
        if node in members:
            continue
        members.add(node)
        for parent, index in _inputs(node):
            if isinstance(parent, Context) and (parent, index) not in stop:
                todo.append(parent)
    return members


def unrolled_dot(module: Module, x: TensorLike, state: Any = None,
                 loss_fn: Callable[[Any], Tensor] | None = None, params: Params = None,
                 rankdir: str = "LR") -> str:
    """DOT text of a recurrent layer (or cell) unrolled over ``x``: one cluster per time step.

    The module runs on ``x`` while ``trace.record_gates`` records its steps;
    cluster t holds the ops of step t of every layer and direction, its gate,
    cell and hidden-state ops labelled (i, f, g, o, c, h; r, z, n). The graph
    drawn is that of the output, or of ``loss_fn(output)`` when given.
    Parameters are named from the module unless ``params`` says otherwise.
    """
    # x as a named input leaf (a copy of the reference, never the caller's tensor), so
    # that the layer's reshapes and slices of it are drawn rather than baked into constants
    data = x.data if isinstance(x, Tensor) else np.asarray(x, dtype=float)
    x = Tensor(data, requires_grad=True, name=getattr(x, "name", None) or "x")
    with record_gates() as rec, enable_grad():  # a graph to draw, even inside no_grad
        output, _ = run_sequence(module, x, state)
        root = output if loss_fn is None else loss_fn(output)
    by_time: dict = {}
    labels: dict = {}
    leaf_labels: dict = {}
    for (layer, direction), steps in rec.steps_of(module).items():
        where = (f"_l{layer}" + ("_reverse" if direction else "")
                 if isinstance(module, Recurrent) else "")
        for t, step in enumerate(steps):
            by_time.setdefault(t, set()).update(_step_nodes(step))
            for name, tensor in step.tensors.items():
                if tensor._node is not None:
                    labels.setdefault((tensor._node, tensor._index), name)
            for name, tensor in step.previous.items():  # the initial state, when a leaf
                if tensor._node is None:
                    leaf_labels.setdefault(id(tensor), f"{name}0{where}")
    claimed: set = set()
    clusters = []
    for t in sorted(by_time):
        members = by_time[t] - claimed  # an op belongs to the first step that made it
        claimed |= members
        clusters.append((f"t = {t}", members))
    # an op fed only by one step's ops (a cell reshaping its output back) joins that step
    step_of = {node: k for k, (_, members) in enumerate(clusters) for node in members}
    for node in ([] if root._node is None else topological_order(root._node)):
        if node not in step_of:
            feeding = {step_of.get(p) for p in node.parents if isinstance(p, Context)}
            if len(feeding) == 1 and None not in feeding:
                step_of[node] = feeding.pop()  # type: ignore[assignment]  # (None is not in it)
                clusters[step_of[node]][1].add(node)
    return _dot(root, module if params is None else params, clusters, labels, leaf_labels,
                rankdir)


# --------------------------------------------------------------------------- drawing

_PIP_HINT = 'pip install "tinygrad-rnn[graphs]"'
_INSTALL_HINT = ("install Graphviz to draw graphs: `apt install graphviz` (Debian, Ubuntu), "
                 "`brew install graphviz` (macOS), `conda install graphviz`, or "
                 "https://graphviz.org/download/. Without it, viz.to_dot() still gives the "
                 "DOT text, which any Graphviz viewer (or https://dreampuf.github.io/"
                 "GraphvizOnline) renders")


def draw(graph: Tensor | str, path: str | os.PathLike[str], params: Params = None, *,
         values: bool = False, grads: bool = False, expand_scans: bool = False,
         engine: str = "auto") -> Path:
    """Render a graph to ``path`` (.svg or .png).

    Arguments:
        graph: a Tensor (drawn as ``to_dot(graph, params, values=..., grads=...,
            expand_scans=...)``) or DOT text (e.g. from ``unrolled_dot``).
        path: where to write; the suffix chooses the format.
        engine: ``"dot"`` (Graphviz's program), ``"python"`` (the layered layout of
            ``viz_svg``: grandalf, and cairosvg for PNG; the ``graphs`` extra), or
            ``"auto"``: Graphviz when installed, else Python.

    Raises ``GraphvizNotFoundError`` (a RuntimeError) when neither Graphviz nor the
    ``graphs`` extra is installed (or ``engine="dot"`` and Graphviz is not).
    """
    from . import viz_svg

    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("svg", "png"):
        raise ValueError(f"draw: the path must end in .svg or .png, got {path.name!r}")
    if engine not in ("auto", "dot", "python"):
        raise ValueError(f"draw: engine must be 'auto', 'dot' or 'python', got {engine!r}")
    text = graph if isinstance(graph, str) else to_dot(
        graph, params, values=values, grads=grads, expand_scans=expand_scans)
    exe = shutil.which("dot") if engine != "python" else None
    if exe is None and engine != "dot" and viz_svg.layout_available():
        return viz_svg.Picture(text).save(path)
    if exe is None:
        raise GraphvizNotFoundError("draw: Graphviz's `dot` program was not found"
                                    + ("" if engine == "dot" else
                                       f" and the pure-Python layout is not installed "
                                       f"({_PIP_HINT})") + "; " + _INSTALL_HINT)
    done = subprocess.run([exe, f"-T{fmt}", "-o", str(path)], input=text.encode(),
                          capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"draw: dot failed ({done.returncode}): "
                           f"{done.stderr.decode(errors='replace').strip()}")
    return path


# --------------------------------------------------------------------------- backprop, narrated


_TANGENT = "tangent (forward mode)"  # how an op's docstring begins its jvp rule


def derivative_doc(fn: type[Function]) -> str:
    """The forward formula and derivative an op's docstring states, on one line.

    The first paragraph of the docstring, plus the first later paragraph that
    gives the derivative (in terms of ``grad``) when the first one does not.
    """
    doc = (fn.__doc__ or "").strip()
    if not doc:
        return "(no docstring: its derivative is not stated)"
    # lines joined, their own spacing kept ("out = x * y.   dx = grad * y,  dy = grad * x."),
    # the forward-mode rule that may follow left out (it is not backward's)
    paragraphs = [" ".join(line.strip() for line in p.strip().splitlines())
                  .split(_TANGENT)[0].rstrip() for p in doc.split("\n\n")]
    text = paragraphs[0]
    if "grad" not in text:  # the derivative (in terms of grad) comes in a later paragraph
        text = " ".join([text] + [p for p in paragraphs[1:] if "grad" in p][:1])
    return text


def _forward_parameters(fn: type[Function]) -> list[str]:
    """The names forward gives its tensor inputs (after ctx), up to a ``*args``."""
    try:
        parameters = list(inspect.signature(fn.forward).parameters.values())[1:]
    except (TypeError, ValueError):
        return []
    names = []
    for p in parameters:
        if p.kind is not p.POSITIONAL_OR_KEYWORD:
            break
        names.append(p.name)
    return names


_CLAUSE = re.compile(r"^d(\w+) = (.+?)[,.]?$")


def derivative_formulas(fn: type[Function]) -> dict[str, str]:
    """{input: formula of its gradient} as the op's docstring states them, ``"dx = grad *
    y"`` giving ``{"x": "grad * y"}``; the inputs are forward's parameter names. Empty
    when the docstring states none in that form (then ``derivative_doc`` tells it)."""
    inputs = _forward_parameters(fn)
    formulas: dict[str, str] = {}
    # clauses end at a wide space, at ", dy = " or "; dy = ", or at a sentence's end
    for part in re.split(r"\s{2,}|[,;]\s+(?=d\w+ = )|\.\s+(?=[A-Z(])", derivative_doc(fn)):
        clause = _CLAUSE.match(part.strip().split(": ")[0])
        if clause and clause.group(1) in inputs and clause.group(1) not in formulas:
            formulas[clause.group(1)] = clause.group(2).strip()
    return formulas


def instantiate(formula: str, symbols: Mapping[str, str]) -> str:
    """``formula`` with each of its names that ``symbols`` maps replaced, all at once
    (so that x -> y and y -> x swap rather than collide)."""
    return re.sub(r"\b[A-Za-z_]\w*\b", lambda m: symbols.get(m.group(0), m.group(0)), formula)


def _gradient_lines(node: Context, input_names: list[str], out_name: str) -> list[str]:
    """Each input's gradient formula in the graph's own names (``dL/dx += dL/dy * w``), or
    [] when the op's docstring gives none per input, or the op has several outputs."""
    formulas = derivative_formulas(node.fn)
    if not formulas or node.num_outputs > 1:
        return []
    params = _forward_parameters(node.fn)
    symbols = dict(zip(params, input_names))
    symbols.update(grad=f"dL/d{out_name}", out=out_name)
    return [f"dL/d{name} += {instantiate(formulas[p], symbols)}"
            for p, name, needed in zip(params, input_names, node.needs_input_grad)
            if p in formulas and needed]


def _formula_names(node: Context, names: list[str]) -> str:
    """"x <- h, y <- W": which tensors the names in the op's formula stand for."""
    try:
        parameters = list(inspect.signature(node.fn.forward).parameters.values())[1:]
    except (TypeError, ValueError):
        return ""
    pairs = []
    for k, p in enumerate(parameters):
        if p.kind is p.VAR_POSITIONAL:
            rest = names[k:]
            pairs.append(f"{p.name} <- [{', '.join(rest)}]")
            break
        if k >= len(names) or p.kind is not p.POSITIONAL_OR_KEYWORD:
            break
        pairs.append(f"{p.name} <- {names[k]}")
    if all(a.split(" <- ")[0] == a.split(" <- ")[1] for a in pairs):
        return ""  # the formula's names are the tensors' names already
    return ", ".join(pairs)


class _Namer:
    """Names for every value of a graph, as the narrations call them: a leaf by its name
    (a constant by its value, else input1, input2...), an op's output by its name, else
    after its op in the order computed (mul1, tanh2...), output k of a several-output op
    as ``split1[k]``. Called as ``name_of(parent, index)``."""

    def __init__(self, g: _Graph) -> None:
        self.g = g
        self.counters: dict[str, int] = {}
        self.names: dict[Any, str] = {}
        for t in g.leaves:  # in forward order, so that mul1 comes before mul2
            self(t)
        for node in g.ops:
            for parent, index in _inputs(node):
                self(parent, index)
            self(node, 0)

    def _count(self, base: str) -> str:
        self.counters[base] = self.counters.get(base, 0) + 1
        return f"{base}{self.counters[base]}"

    def op(self, node: Context) -> str:
        """The name of a node's output (of its outputs together, for several)."""
        if (node, "base") not in self.names:
            given = self.g.output_name(node, 0) if node.num_outputs == 1 else None
            self.names[(node, "base")] = given or self._count(node.fn.__name__.lower())
        return self.names[(node, "base")]

    def __call__(self, parent: Any, index: int = 0) -> str:
        key = self.g.key(parent, index)
        if key not in self.names:
            if isinstance(parent, Tensor):
                given = self.g.leaf_name(parent)
                if given is None and not parent.requires_grad:
                    given = _const_text(parent)
                self.names[key] = given or self._count("input")
            else:
                base = self.op(parent)
                self.names[key] = base if parent.num_outputs == 1 else \
                    (self.g.output_name(parent, index) or f"{base}[{index}]")
        return self.names[key]


def explain_backward(loss: Tensor, params: Params = None, width: int = 96) -> str:
    """Backpropagation narrated: each node's backward step, in the engine's order.

    For every op, from the loss back to the leaves (the order ``loss.backward()``
    runs them): what it computed, the derivative formula from its docstring
    (``grad`` is the gradient arriving at its output), which tensors stand for
    the formula's inputs, and where its input gradients go. A tensor used by
    several ops (or twice by one, as in x * x) is marked: its gradients add.
    Leaves are listed last, with the number of contributions to their ``.grad``.

    Nothing runs: the text describes the graph; call ``loss.backward()`` as usual.
    Meant for small graphs (a few dozen ops).
    """
    g = _Graph(loss, params)
    name_of = _Namer(g)
    root_name = name_of(*_ref(loss))

    def use_note(parent: Any, index: int = 0) -> str | None:
        users = g.uses.get(g.key(parent, index), [])
        if len(users) < 2:
            return None
        counts: dict = {}
        for u in users:
            counts[u] = counts.get(u, 0) + 1
        by = ", ".join(f"{_op_out_name(u)}"
                       + (" twice" if n == 2 else f" {n} times" if n > 2 else "")
                       for u, n in counts.items())
        return f"{name_of(parent, index)} is used {len(users)} times (by {by}): its gradients add"

    _op_out_name = name_of.op

    def wrap(text: str, indent: str) -> str:
        return textwrap.fill(text, width, initial_indent=indent, subsequent_indent=indent + "  ")

    lines = [f"Backward pass of {root_name} (shape {_shape(loss.shape)}), "
             f"in the order loss.backward() runs it."]
    if loss._node is None:
        lines.append(f"{root_name} is a leaf: no op to run; its .grad is the seed itself.")
        return "\n".join(lines) + "\n"
    lines.append(f"The seed: dL/d{root_name} = 1"
                 + ("" if loss.size == 1 else " (or the gradient passed in)") + ".")
    for step, node in enumerate(reversed(g.ops), 1):
        out = _op_out_name(node)
        args = ", ".join(name_of(p, i) for p, i in _inputs(node))
        shapes = _output_shapes(g, node)
        lines.append("")
        lines.append(f"step {step}: {out} = {node.fn.__name__}({args})   "
                     f"-> shape {', '.join(_shape(s) for s in shapes)}")
        lines.append(wrap(derivative_doc(node.fn), "    "))
        input_names = [name_of(p, i) for p, i in _inputs(node)]
        here = _gradient_lines(node, input_names, out)
        where = "" if here else _formula_names(node, input_names)
        if here:  # the formula in this graph's names: no formula name stands for another
            lines.append(wrap("here: " + ";  ".join(here), "    "))
        elif where:
            lines.append(wrap(f"inputs: {where}", "    "))
        outs = [(node, i) for i in range(node.num_outputs)]
        for key in outs:
            note = key in g.used and use_note(*key)
            if note:
                lines.append(wrap(f"{note} before this step runs.", "    ! "))
        received = ", ".join(f"dL/d{name_of(*k)}" for k in outs if k in g.used)
        if any(k not in g.used for k in outs):
            received += " (the outputs nobody used get zeros)"
        lines.append(wrap(f"{'grads' if node.num_outputs > 1 else 'grad'} = {received}", "    "))
        sends: dict = {}  # one entry per input tensor, counting repeats (x * x sends twice)
        for (parent, index), needed in zip(_inputs(node), node.needs_input_grad):
            name = name_of(parent, index)
            if not needed:
                text = f"nothing to {name} (it needs no gradient)"
            elif isinstance(parent, Tensor):
                text = f"dL/d{name} into {name}.grad"
            else:
                text = f"dL/d{name} to {_op_out_name(parent)}'s step"
            sends[text] = sends.get(text, 0) + 1
        lines.append(wrap("sends " + "; ".join(
            text if n == 1 else f"{text}, {n} times (they add)" for text, n in sends.items()),
            "    "))
    grads = [t for t in g.leaves if t.requires_grad]
    if grads:
        lines.append("")
        lines.append("Leaves: " + ", ".join(
            f"{name_of(t)}.grad gets {len(g.uses.get(g.key(t), []))} "
            f"contribution{'s' if len(g.uses.get(g.key(t), [])) != 1 else ''}"
            for t in grads) + ".")
        for t in grads:
            note = use_note(t)
            if note:
                lines.append(wrap(f"{note} in {name_of(t)}.grad.", "  ! "))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- backward, step by step


def backward_steps(loss: Tensor, gradient: Any = None, params: Params = None,
                   rankdir: str = "TB") -> Iterator[Frame]:
    """Yield one frame per node, in the order ``loss.backward()`` visits them: which
    gradients are known, the ones the node just computed, and each one's formula with
    the numbers put in (``dL/dn += dL/do * (1 - o**2) = 1 * (1 - 0.7071**2) = 0.5``).
    A frame prints as text (``str(frame)``) and draws as the graph with the known
    gradients (``frame.picture()``; Jupyter shows it). Nothing is disturbed: no
    ``.grad`` is written and the graph keeps its saved arrays. Arguments: ``gradient``
    (dL/dloss; 1 for a single number), ``params`` (a Module to name parameters by),
    ``rankdir`` of the pictures. See ``viz_steps``."""
    from .viz_steps import backward_steps as steps

    return steps(loss, gradient, params, rankdir)


def step_through(loss: Tensor, gradient: Any = None, params: Params = None,
                 rankdir: str = "TB", seconds: float = 1.5) -> Any:
    """Backward to step through in a notebook: a slider over the frames when ipywidgets
    is installed, else one animated SVG of them (``seconds`` per frame, looping)."""
    from .viz_steps import animate

    frames = list(backward_steps(loss, gradient, params, rankdir))
    try:
        import ipywidgets
    except ImportError:
        from .viz_svg import Animation

        return Animation(animate(frames, seconds))

    from IPython.display import HTML, SVG, display

    def show(step: int) -> None:
        frame = frames[step - 1]
        display(SVG(frame.picture().svg()), HTML(f"<pre>{html.escape(frame.text())}</pre>"))

    slider = ipywidgets.IntSlider(min=1, max=len(frames), value=1, description="step")
    return ipywidgets.interactive(show, step=slider)


# the offline HTML explorer (viz_html builds on this module, so it is imported last)
from .viz_html import to_html as to_html  # noqa: E402

__all__ += ["to_html"]
