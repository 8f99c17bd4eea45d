"""Backward, step by step: the engine's walk re-run on the side, one frame per node.

``viz.backward_steps(loss)`` yields a ``Frame`` for every node in the order
``loss.backward()`` visits them (``autograd.backward``: a heap of the nodes that
have received a gradient, the newest first). Each frame says which gradients
are known, the ones this node just computed, and each one's formula from the
op's docstring in the graph's names, then with the numbers put in:

    dL/dn += dL/do * (1 - o**2) = 1 * (1 - 0.7071**2) = 0.5

The numbers on the right are the op's own backward's result, not the formula
evaluated here. Nothing is disturbed: the walk calls each op's ``backward`` on
the graph as it is (saved arrays stay; no ``.grad`` is written, retained or
not), keeping its gradients in the frames. So it must run before a
``backward()`` that frees the graph (or after one with ``retain_graph=True``).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any

import numpy as np

from .arguments import describe
from .autograd import FREED, Context, add_grads, as_array, backward_of, conform
from .tensor import Tensor
from .tour_text import LANGUAGES, Said, in_language, said, said_as, text as words
from .viz import (
    Notes,
    _dot,
    _forward_parameters,
    _Graph,
    _inputs,
    _live_outputs,
    _Namer,
    _ref,
    _shape,
    derivative_doc,
    derivative_formulas,
    instantiate,
    summary,
)

if TYPE_CHECKING:
    from .viz import Params
    from .viz_svg import Picture

__all__ = ["Frame", "backward_steps", "animate"]

# names a formula may use that are functions, not values: what a "numbers put in" line
# may still contain
_FUNCTIONS = {"exp", "log", "tanh", "sqrt", "sin", "cos", "sign", "abs", "max", "min"}
SMALL = 4  # at most this many numbers are written out; larger values by shape and range

HIGHLIGHT_NODE = "#1f77b4"  # the node that runs in this frame
HIGHLIGHT_GRAD = "#d62728"  # the gradients it just computed


@dataclass
class Computed:
    """One gradient a frame's node computed: for which value, how, and what it is."""

    name: str  # the value it is the gradient of
    key: Any  # the graph's key of that value
    formula: str  # "dL/dn += dL/do * (1 - o**2) = 1 * (1 - 0.7071**2) = 0.5"
    grad: np.ndarray  # the op's backward's result (before adding to earlier shares)


@dataclass
class Frame:
    """One backward step: node ``step`` of ``total`` in the engine's order.

    ``known`` maps every value whose gradient is known after this step (by the
    graph's key) to (its name, the gradient so far, uses that have sent theirs,
    uses in all); ``computed`` lists this step's gradients. ``text()`` tells it;
    ``picture()`` draws the graph with the known gradients, this node and this
    step's gradients highlighted (Jupyter shows a frame as that picture)."""

    step: int
    total: int
    node: Context
    title: str  # "o = Tanh(n)   -> shape ()" (a tour_text.Said: in Persian too)
    doc: str  # the op's formula, from its docstring
    incoming: str  # "grad = dL/do = 1" (a Said)
    computed: list[Computed]
    known: dict[Any, tuple[str, np.ndarray, int, int]]
    _steps: _Walk = field(repr=False)

    def grad_of(self, tensor: Tensor) -> np.ndarray | None:
        """The gradient of ``tensor`` known after this step (None if none reached it)."""
        entry = self.known.get(_Graph.key(*_ref(tensor)))
        return None if entry is None else entry[1]

    def text(self, lang: str = "en") -> str:
        """The step told in lines: the node, the op's formula (its docstring's, as it
        is), the gradient it starts from, the ones it computes and all known so far;
        the words in ``lang`` ("en" or "fa"), the formulas and numbers as they are."""
        lines = [words("frame_step", lang, step=self.step, total=self.total,
                       title=in_language(self.title, lang)),
                 "    " + words("frame_rule", lang, doc=self.doc),
                 f"    {in_language(self.incoming, lang)}"]
        lines += [f"    {in_language(c.formula, lang)}" for c in self.computed] or \
            ["    " + words("frame_no_input", lang)]
        known = []
        for name, grad, sent, uses in self.known.values():
            more = words("frame_so_far", lang, sent=sent, uses=uses) if sent < uses else ""
            known.append(f"dL/d{name} = {summary(grad, SMALL)}{more}")
        lines.append(textwrap.fill(words("frame_known", lang, grads=", ".join(known)), 96,
                                   initial_indent="    ", subsequent_indent="        "))
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.text()

    def dot(self) -> str:
        """DOT text of the graph at this step (values, known gradients, highlights)."""
        notes = self._steps.value_notes()
        for key, (_name, grad, sent, uses) in self.known.items():
            notes.add(key, f"grad {summary(grad, SMALL)}" + ("" if sent == uses else " ..."))
        for c in self.computed:
            notes.colour[c.key] = HIGHLIGHT_GRAD
        for i in range(self.node.num_outputs):
            notes.colour[(self.node, i)] = HIGHLIGHT_NODE
        return _dot(self._steps.root, self._steps.params, notes=notes,
                    rankdir=self._steps.rankdir)

    def picture(self) -> Picture:
        from .viz_svg import Picture

        return Picture(self.dot())

    def _repr_svg_(self) -> str:
        return self.picture().svg()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """The picture's bundle (SVG, and PNG when cairosvg can), with this frame's text."""
        bundle = self.picture()._repr_mimebundle_(include, exclude)
        if "text/plain" in bundle:
            bundle["text/plain"] = self.text()
        return bundle


class _Walk:
    """The engine's walk, re-run on the side: the same heap order, the same sums."""

    def __init__(self, loss: Tensor, gradient: Any, params: Params, rankdir: str) -> None:
        self.root, self.params, self.rankdir = loss, params, rankdir
        self.g = _Graph(loss, params)
        self.name_of = _Namer(self.g)
        self.live = _live_outputs(self.g)  # the outputs whose numbers are known
        self._notes: Notes | None = None
        seed = np.ones(loss.shape, loss.dtype) if gradient is None else \
            np.asarray(gradient, dtype=loss.dtype)
        self.seed = seed

    def value_notes(self) -> Notes:
        """Notes with the known values (``= ...``), a fresh copy per frame."""
        notes = Notes()
        for t in self.g.leaves:
            notes.add(self.g.key(t), "= " + summary(t.data, SMALL))
        for key, t in self.live.items():
            notes.add(key, "= " + summary(t.data, SMALL))
        return notes

    def value(self, parent: Any, index: int = 0) -> np.ndarray | None:
        """The numbers of input ``(parent, index)`` when known (a leaf, a held output)."""
        if isinstance(parent, Tensor):
            return parent.data
        held = self.live.get((parent, index))
        return None if held is None else held.data

    def frames(self) -> Iterator[Frame]:
        root = self.root._node
        assert root is not None
        for node in self.g.ops:
            if node.saved_tensors is FREED:
                raise RuntimeError(
                    "backward_steps: backward() already ran through this graph and freed "
                    "its saved arrays; call backward_steps(loss) first, or backward("
                    "retain_graph=True)")
        uses = {key: len(users) for key, users in self.g.uses.items()}
        uses[self.g.key(*_ref(self.root))] = 1  # the seed is the root's one "use"
        pending: dict[Context, list[Any]] = {root: [None] * root.num_outputs}
        pending[root][self.root._index] = self.seed
        known: dict[Any, tuple[str, np.ndarray, int, int]] = {}
        root_key = self.g.key(*_ref(self.root))
        known[root_key] = (self.name_of(*_ref(self.root)), self.seed, 1, 1)
        ready = [(-root.seq, root)]
        frames: list[Frame] = []  # all first: a frame says how many there are
        step = 0
        while ready:
            node = heappop(ready)[1]
            out_grads = pending.pop(node)
            in_grads = self._backward(node, out_grads)
            step += 1
            computed = []
            for k, (parent, index, g, needed) in enumerate(zip(
                    node.parents, node.parent_indices, in_grads, node.needs_input_grad)):
                if g is None or not needed:
                    continue
                key = self.g.key(parent, index)
                name = self.name_of(parent, index)
                if isinstance(parent, Tensor):
                    shape, dtype = parent.data.shape, parent.data.dtype
                else:
                    shape, dtype = parent.output_meta[index]
                if type(g) is not np.ndarray or g.shape != shape or g.dtype != dtype:
                    g = conform(node, shape, dtype, g)  # as the engine does, for leaves too
                g = as_array(g)
                before = known.get(key)
                total_g = g.copy() if before is None else add_grads(before[1], g)
                sent = 1 if before is None else before[2] + 1
                known[key] = (name, total_g, sent, uses.get(key, 1))
                computed.append(Computed(name, key, self._formula(node, k, out_grads, g), g))
                if not isinstance(parent, Tensor):
                    slots = pending.get(parent)
                    if slots is None:
                        slots = pending[parent] = [None] * parent.num_outputs
                        heappush(ready, (-parent.seq, parent))
                    slots[index] = g if slots[index] is None else add_grads(slots[index], g)
            frames.append(Frame(step, 0, node, self._title(node), derivative_doc(node.fn),
                                self._incoming(node, out_grads), computed, dict(known), self))
        for frame in frames:
            frame.total = len(frames)
            yield frame

    @staticmethod
    def _backward(node: Context, out_grads: list[Any]) -> tuple:
        """The op's backward on its outputs' gradients, as the engine calls it, but without
        writing a retained output's ``.grad``."""
        grads = [None if g is None else as_array(g) for g in out_grads]
        if node.tuple_output:
            upstream: Any = tuple(g if g is not None else np.zeros(shape, dtype)
                                  for g, (shape, dtype) in zip(grads, node.output_meta))
        else:
            upstream = grads[0]
        in_grads = backward_of(node.fn)(node, upstream)
        return in_grads if type(in_grads) is tuple else (in_grads,)

    def _title(self, node: Context) -> Said:
        args = ", ".join(self.name_of(p, i) for p, i in _inputs(node))
        shapes = ", ".join(_shape(s) for s, _ in node.output_meta)
        return said("frame_title", op=self.name_of.op(node), fn=node.fn.__name__, args=args,
                    shapes=shapes)

    def _incoming(self, node: Context, out_grads: list[Any]) -> Said:
        def parts(lang: str) -> str:
            return ", ".join(f"dL/d{self.name_of(node, i)} = " + (
                words("frame_unused", lang) if g is None else summary(as_array(g), SMALL))
                for i, g in enumerate(out_grads))

        key = "frame_grads" if len(out_grads) > 1 else "frame_grad"
        return said_as({lang: words(key, lang, parts=parts(lang)) for lang in LANGUAGES})

    def _formula(self, node: Context, k: int, out_grads: list[Any], result: np.ndarray) -> str:
        """Input k's gradient: its formula in the graph's names, then with the numbers put
        in when every value in it is small and known, then the result."""
        names = [self.name_of(p, i) for p, i in _inputs(node)]
        target = f"dL/d{names[k]} += "
        params = _forward_parameters(node.fn)
        formula = derivative_formulas(node.fn).get(params[k]) if k < len(params) else None
        if formula is None or node.num_outputs > 1:
            return said_as({lang: target + summary(result, SMALL) + words(
                "frame_see_formula", lang, fn=node.fn.__name__) for lang in LANGUAGES})
        out_name = self.name_of.op(node)
        symbols = dict(zip(params, names))
        symbols.update(grad=f"dL/d{out_name}", out=out_name)
        text = target + instantiate(formula, symbols)
        numbers = self._numbers(node, params, out_grads)
        with_numbers = instantiate(formula, numbers)
        result_text = summary(result, SMALL)
        only_numbers = re.search(r"[A-Za-z_]\w*", re.sub(
            r"\b(" + "|".join(_FUNCTIONS) + r")\b", "", with_numbers)) is None
        if only_numbers and with_numbers.strip("()") != result_text:
            text += f" = {with_numbers}"
        return text + f" = {result_text}"

    def _numbers(self, node: Context, params: list[str], out_grads: list[Any]) -> dict:
        """{formula name: its numbers as text}, for the values small enough and known."""
        numbers: dict[str, str] = {}

        def put(name: str, array: Any) -> None:
            if array is not None and np.size(array) <= SMALL:
                text = summary(array, SMALL)
                numbers[name] = f"({text})" if text.startswith("-") else text

        for p, (parent, index) in zip(params, _inputs(node)):
            put(p, self.value(parent, index))
        put("grad", None if out_grads[0] is None else as_array(out_grads[0]))
        put("out", self.value(node, 0))
        for name, value in vars(node).items() if hasattr(node, "__dict__") else ():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                put(name, value)  # a number forward kept (Pow's p)
        return numbers


def backward_steps(loss: Tensor, gradient: Any = None, params: Params = None,
                   rankdir: str = "TB") -> Iterator[Frame]:
    """Yield one ``Frame`` per node, in the order ``loss.backward()`` visits them.

    Arguments:
        loss: the tensor backward starts from.
        gradient: dL/dloss, as ``backward``'s; ones (for a single number, 1) when omitted.
        params: a Module (or {name: tensor}) to name parameters by.
        rankdir: the direction of the frames' pictures ("TB" or "LR").

    The gradients are computed by each op's own backward on the graph as it is,
    nothing written to any ``.grad``; the last frame's ``grad_of(leaf)`` equals the
    ``leaf.grad`` a following ``loss.backward()`` leaves (from None).
    """
    check_loss("backward_steps", loss, gradient)
    return _Walk(loss, gradient, params, rankdir).frames()


def check_loss(where: str, loss: Any, gradient: Any) -> None:
    """Refuse a loss backward cannot be walked from: not a Tensor, a leaf, or more than
    one number without a ``gradient`` of its shape (``where`` names the caller)."""
    if not isinstance(loss, Tensor):
        raise TypeError(f"{where}: loss must be a Tensor, got {describe(loss)}")
    if loss._node is None:
        raise ValueError(f"{where}: loss is a leaf (no op made it): there is no backward "
                         f"step to show")
    if gradient is None and loss.size != 1:
        raise ValueError(f"{where}: loss has shape {loss.shape}, not a single number: "
                         f"reduce it (loss.sum()) or pass gradient= (dL/dloss, of that shape)")
    if gradient is not None and np.shape(gradient) != loss.shape:
        raise ValueError(f"{where}: gradient must have the loss's shape {loss.shape}, "
                         f"got {np.shape(gradient)}")


def animate(frames: list[Frame], seconds: float = 1.5) -> str:
    """One SVG showing ``frames`` in turn, ``seconds`` each, looping (SVG's own
    animation: browsers and Jupyter play it, no script). Each frame is its picture."""
    pictures = [f.picture().svg() for f in frames]
    sizes = [tuple(float(v) for v in re.search(r'width="([\d.]+)" height="([\d.]+)"', svg)
                   .groups()) for svg in pictures]  # type: ignore[union-attr]
    width, height = max(w for w, _ in sizes), max(h for _, h in sizes)
    n = len(pictures)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
           f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">']
    for k, svg in enumerate(pictures):
        svg = svg.replace(' id="', f' id="f{k}-').replace("url(#", f"url(#f{k}-")
        times = f"0;{k / n:.4f};{(k + 1) / n:.4f}" if k else f"0;{1 / n:.4f}"
        shown = "hidden;visible;hidden" if k else "visible;hidden"
        out.append(f'<g visibility="{"visible" if k == 0 else "hidden"}">'
                   f'<animate attributeName="visibility" values="{shown}" keyTimes="{times}" '
                   f'calcMode="discrete" dur="{n * seconds:g}s" repeatCount="indefinite"/>')
        out.append(svg)
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
