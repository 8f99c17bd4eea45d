"""An offline HTML explorer: backward, step by step, in one file a browser opens.

``viz.to_html(loss, "backward.html")`` writes one self-contained page (no network,
no CDN: its SVG, CSS, script and data are all inline) that a teacher can hand to
students who have no Python. It shows

- the graph of ``loss``, laid out once (``viz_svg``: the same positions at every
  step), each value's numbers on its node;
- a control to step through backward (previous/next buttons, a slider, the
  arrow keys; ``#step=3`` in the address opens step 3): the node that runs in
  blue, the gradients it just computed in red, every gradient known so far on
  its node (``...`` while more uses will add to it);
- a panel with the step's op, its formula from the docstring and each
  gradient's formula with the numbers put in (``viz.backward_steps``' frames);
- the final gradients of the leaves, in a table.

The frames are embedded as JSON; the page's small hand-written script only
swaps highlights and text (``textContent``, never HTML), so names stay text.

``lang="fa"`` writes the page's words in Persian (from ``tour_text.TEXT``, as the
rest of the package does) on a right-to-left page, ``<html lang="fa" dir="rtl">``.
What is code stays left to right: the graph, the step controls (like a media
player's, which right-to-left pages keep left to right too), the formulas and the
table's cells carry ``dir="ltr"``, and a formula inside a Persian sentence is
wrapped in the Unicode isolates LRI ... PDI (the text form of ``<bdi dir="ltr">``,
which survives ``textContent``).
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .arguments import describe, one_of
from .autograd import FREED
from .tensor import Tensor
from .tour_text import LANGUAGES, in_language, text as words
from .viz import _dot, _Graph, _ref, _shape, summary

if TYPE_CHECKING:
    from .viz import Params
    from .viz_steps import Frame

__all__ = ["to_html", "explorer_html"]

_WHERE = "viz.to_html"
_PLACEHOLDER = "\u2007"  # a figure space: the width a gradient line will need, kept free
_GRAD_LINE = re.compile(r"<text ([^>]*)>((?:\[\d+\] )?grad )\u2007+</text>")
_NODE_GROUP = re.compile(r'(<g class="node" id="(\w+)">)(.*?)(</g>)', re.S)
FULL = 12  # the gradients table writes out arrays of at most this many numbers


def _ltr(text: str, lang: str) -> str:
    """``text`` kept left to right inside a right-to-left sentence: isolated (LRI ... PDI)
    in a Persian page, as it is in an English one."""
    return text if lang == "en" else f"\u2066{text}\u2069"


def _check(loss: Any, gradient: Any, title: Any, rankdir: Any, lang: Any) -> None:
    """Refuse bad arguments before anything is computed or written."""
    if isinstance(loss, tuple):
        raise TypeError(f"{_WHERE}: loss must be a Tensor, got a tuple of {len(loss)} (a "
                        f"layer's (output, state)? reduce the output to a loss first, "
                        f"e.g. output.sum())")
    from .viz_steps import check_loss

    check_loss(_WHERE, loss, gradient)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"{_WHERE}: title must be a str or None, got {describe(title)}")
    one_of(_WHERE, "rankdir", rankdir, ("TB", "LR"))
    one_of(_WHERE, "lang", lang, LANGUAGES)
    g = _Graph(loss)
    if any(node.saved_tensors is FREED for node in g.ops):
        raise RuntimeError(f"{_WHERE}: backward() already ran through this graph and freed "
                           f"its saved arrays; call to_html first, or backward("
                           f"retain_graph=True)")


def _dot_ids(g: _Graph) -> dict[Any, str]:
    """{graph key: id of its node in the DOT text and SVG}, numbered as ``viz._dot`` does."""
    ids: dict[Any, str] = {}
    for k, node in enumerate(g.ops):
        for index in range(node.num_outputs):
            ids[(node, index)] = f"op{k}"
    for k, t in enumerate(g.leaves):
        ids[g.key(t)] = f"leaf{k}"
    return ids


def _grad_text(grad: np.ndarray, sent: int, uses: int) -> str:
    return summary(grad) + ("" if sent >= uses else " ...")


class _Explorer:
    """The page's parts: the graph laid out once, the steps as JSON, the final table."""

    def __init__(self, loss: Tensor, frames: list[Frame], seed: np.ndarray, lang: str) -> None:
        walk = frames[0]._steps
        self.loss, self.frames, self.walk, self.lang = loss, frames, walk, lang
        self.ids = _dot_ids(walk.g)
        self.root_key = walk.g.key(*_ref(loss))
        self.seed_text = summary(seed)
        # every value that ever gets a gradient has a slot: a line on its node
        order = [self.root_key] + [c.key for f in frames for c in f.computed]
        self.slots = {key: k for k, key in enumerate(dict.fromkeys(order))}

    def steps(self) -> list[dict[str, Any]]:
        """Step 0 (the seed) and one entry per frame: what runs, what it computed, the
        gradient lines it changed (``updates``: {slot: text})."""
        name, lang = self.walk.name_of(*_ref(self.loss)), self.lang
        seed = _ltr(f"dL/d{name} = {self.seed_text}", lang)
        out = [{"node": None, "title": words("html_seed_title", lang, formula=seed),
                "doc": words("html_seed_doc", lang),
                "incoming": "", "formulas": [], "fresh": [self.ids[self.root_key]],
                "updates": {str(self.slots[self.root_key]): self.seed_text}}]
        for frame in self.frames:
            updates = {}
            for c in frame.computed:
                _, total, sent, uses = frame.known[c.key]
                updates[str(self.slots[c.key])] = _grad_text(total, sent, uses)
            title = _ltr(in_language(frame.title, lang), lang)
            out.append({"node": self.ids[(frame.node, 0)],
                        "title": words("frame_step", lang, step=frame.step, total=frame.total,
                                       title=title),
                        "doc": words("frame_rule", lang, doc=_ltr(frame.doc, lang)),
                        "incoming": in_language(frame.incoming, lang),
                        "formulas": [in_language(c.formula, lang) for c in frame.computed]
                        or [words("frame_no_input", lang)],
                        "fresh": list(dict.fromkeys(self.ids[c.key] for c in frame.computed)),
                        "updates": updates})
        return out

    def svg(self, rankdir: str) -> str:
        """The graph with values, each gradient slot a blank line as wide as its longest
        text (so the layout holds every step), turned into ``<text class="grad">``."""
        from .viz_svg import to_svg

        widest = {key: len(self.seed_text) for key in self.slots}
        for frame in self.frames:
            for c in frame.computed:
                _, total, sent, uses = frame.known[c.key]
                widest[c.key] = max(widest[c.key], len(_grad_text(total, sent, uses)))
        notes = self.walk.value_notes()
        for key, width in widest.items():
            notes.add(key, "grad " + _PLACEHOLDER * width)
        svg = to_svg(_dot(self.loss, self.walk.params, notes=notes, rankdir=rankdir))
        slots_of: dict[str, list[int]] = {}  # a node's slots, in its outputs' order
        for key, slot in sorted(self.slots.items(), key=lambda item: _output_index(item[0])):
            slots_of.setdefault(self.ids[key], []).append(slot)

        def node(match: re.Match[str]) -> str:
            slots = list(slots_of.get(match.group(2), []))
            lines = _GRAD_LINE.findall(match.group(3))
            skip = len(lines) - len(slots)  # grad lines come last: a name like them first

            def line(m: re.Match[str]) -> str:
                nonlocal skip
                if skip > 0:
                    skip -= 1
                    return m.group(0)
                return (f'<text {m.group(1)} class="grad" data-slot="{slots.pop(0)}" '
                        f'data-prefix="{m.group(2)}"></text>')

            return match.group(1) + _GRAD_LINE.sub(line, match.group(3)) + match.group(4)

        return _NODE_GROUP.sub(node, svg)

    def table(self) -> str:
        """The leaves' final gradients (what backward leaves in .grad), as HTML rows."""
        known = self.frames[-1].known
        rows = []
        for t in self.walk.g.leaves:
            entry = known.get(self.walk.g.key(t))
            if entry is None:
                continue
            cells = [self.walk.name_of(t), _shape(t.shape), _numbers(t.data), _numbers(entry[1])]
            rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
        return "\n".join(rows)


def _numbers(array: np.ndarray) -> str:
    """All the numbers of a small array, nested as its shape (``[[1, -2.5], [0, 3]]``),
    else its shape and range."""
    if array.size > FULL:
        return summary(array)
    if array.ndim == 0:
        return f"{array.item():.4g}"
    return "[" + ", ".join(_numbers(sub) for sub in array) + "]"


def _json_for_script(data: Any) -> str:
    """JSON safe inside ``<script>``: no ``<``, ``>`` or ``&`` that could end it early."""
    text = json.dumps(data, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def explorer_html(loss: Tensor, params: Params = None, *, gradient: Any = None,
                  title: str | None = None, rankdir: str = "TB", lang: str = "en") -> str:
    """The explorer page of ``to_html`` as text (arguments as there)."""
    from .viz_steps import backward_steps

    _check(loss, gradient, title, rankdir, lang)
    frames = list(backward_steps(loss, gradient, params, rankdir))
    explorer = _Explorer(loss, frames, frames[0]._steps.seed, lang)
    name = _ltr(explorer.walk.name_of(*_ref(loss)), lang)
    title = title or words("html_title", lang, name=name)
    data = {"steps": explorer.steps(),
            "slots": {str(slot): frames[-1].known[key][0]
                      for key, slot in explorer.slots.items()}}
    intro = words("html_intro", lang, name=name, shape=_ltr(_shape(loss.shape), lang),
                  n=len(frames))
    return _PAGE.format(title=html.escape(title), intro=html.escape(intro),
                        svg=explorer.svg(rankdir), last=len(frames),
                        table=explorer.table(), data=_json_for_script(data),
                        css=_CSS if lang == "en" else _CSS + _CSS_RTL,
                        script=_script(lang), **_page_words(lang))


def _page_words(lang: str) -> dict[str, str]:
    """The page's own words in ``lang``, escaped (``w_first``: the text of ``html_first``),
    and its direction: ``html`` (the root's attributes), ``ltr`` (on what stays left to
    right: ``""`` in English)."""
    ltr = "" if lang == "en" else ' dir="ltr"'
    keys = ("keys", "first", "first_tip", "prev", "prev_tip", "next", "next_tip", "last",
            "last_tip", "slider", "known", "final", "col_leaf", "col_shape", "col_value",
            "col_gradient")
    said = {f"w_{key}": html.escape(words("html_" + key, lang)) for key in keys}
    said["w_final_note"] = words(  # our own words (no markup in them), with code in <code>
        "html_final_note", lang, backward=f"<code{ltr}>loss.backward()</code>",
        grad=f"<code{ltr}>.grad</code>")
    said["html"] = 'lang="en"' if lang == "en" else f'lang="{lang}" dir="rtl"'
    said["ltr"] = ltr
    return said


def _script(lang: str) -> str:
    """The page's script, its one sentence (the counter, "step 3 of 5") in ``lang``: the
    words as JS strings joined with the script's variables, in the order ``lang`` puts them."""
    variables = {"\0step": "step", "\0total": "last"}
    parts = re.split("(\0step|\0total)", words("html_counter", lang, step="\0step",
                                                 total="\0total"))
    counter = " + ".join(variables.get(part) or json.dumps(part, ensure_ascii=False)
                         for part in parts if part)
    return _SCRIPT.replace("COUNTER_TEXT", counter)


def _output_index(key: Any) -> int:
    """Which output of its node a graph key is (a leaf's: 0)."""
    return 0 if isinstance(key[0], str) else int(key[1])


def to_html(loss: Tensor, path: str | os.PathLike[str], params: Params = None, *,
            gradient: Any = None, title: str | None = None, rankdir: str = "TB",
            lang: str = "en") -> Path:
    """Write an offline HTML explorer of ``loss``'s backward pass to ``path``.

    One self-contained file (no network: the graph's SVG, the script, the styles and
    the steps are inline) that any browser opens: the graph with its values, a
    control to step through backward (buttons, a slider, the arrow keys), each
    step's formulas with their numbers and the gradients known so far, and the
    leaves' final gradients in a table. Names are shown as text, never as HTML.

    Arguments:
        loss: the tensor backward starts from, e.g. a Module's output reduced to a
            number (``model(x).sum()``); run this before a ``backward()`` that frees
            the graph (or after one with ``retain_graph=True``).
        path: the file to write (``.html`` or ``.htm``); its folder must exist.
        params: a Module (or {name: tensor}) to name parameters by.
        gradient: dL/dloss when ``loss`` is not a single number (its shape).
        title: the page's title (default: "Backward through <loss>, step by step").
        rankdir: "TB" (layers top to bottom, the default) or "LR".
        lang: "en" (the default) or "fa": the page's words in Persian, written right
            to left (the graph, formulas and numbers stay left to right).

    Returns the path written. Needs the ``graphs`` extra for the layout
    (``pip install "tinygrad-rnn[graphs]"``); the page itself needs nothing.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{_WHERE}: path must be a str or a path, got {describe(path)}")
    target = Path(path)
    if target.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"{_WHERE}: path must end in .html or .htm, got {target.name!r}")
    if not target.parent.is_dir():
        raise ValueError(f"{_WHERE}: the folder of path does not exist: {str(target.parent)!r}")
    page = explorer_html(loss, params, gradient=gradient, title=title, rankdir=rankdir,
                         lang=lang)
    target.write_text(page, encoding="utf-8")
    return target


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0;
       color: #222; background: #fafafa; }
header { padding: 12px 20px; background: #fff; border-bottom: 1px solid #ddd; }
header h1 { font-size: 20px; margin: 0 0 6px 0; }
header p { margin: 0; max-width: 70em; line-height: 1.4; }
.controls { display: flex; align-items: center; gap: 8px; padding: 10px 20px;
            background: #f0f4fa; border-bottom: 1px solid #ddd; position: sticky; top: 0; }
.controls button { font-size: 15px; padding: 4px 12px; }
.controls input[type=range] { flex: 1; max-width: 40em; }
#counter { font-variant-numeric: tabular-nums; min-width: 7em; }
main { display: flex; flex-wrap: wrap; gap: 16px; padding: 16px 20px; }
#graph { flex: 3 1 480px; overflow: auto; background: #fff; border: 1px solid #ddd; }
#graph svg { display: block; margin: auto; }  /* its own size: scroll, never shrink text */
#panel { flex: 2 1 360px; background: #fff; border: 1px solid #ddd; padding: 12px 16px; }
#panel h2 { font-size: 16px; margin: 0 0 8px 0; font-family: monospace; }
#panel pre, #known li { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace;
                        font-size: 13px; white-space: pre-wrap; margin: 4px 0; }
#formulas pre { color: #b01c1c; }
#known { max-height: 18em; overflow: auto; padding-left: 1.2em; }
.node.running > rect, .node.running > ellipse { stroke: #1f77b4; stroke-width: 4px; }
.node.fresh > rect, .node.fresh > ellipse { stroke: #d62728; stroke-width: 3px; }
.edge.flow polyline { stroke: #d62728; stroke-width: 2.5px; }
text.grad { fill: #9a1a1a; font-weight: bold; }
.node.fresh text.grad { fill: #d62728; }
section.table { padding: 0 20px 20px 20px; }
table { border-collapse: collapse; background: #fff; }
td, th { border: 1px solid #ccc; padding: 4px 10px; text-align: left;
         font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; }
th { background: #f0f0f0; }
#errors { color: #fff; background: #b01c1c; margin: 0; padding: 8px 20px; }
"""

# added to _CSS on a right-to-left page: its text starts at the right, and the headers
# (words, not code) are not in a monospace font, which spreads Persian's joined letters
_CSS_RTL = """
th { text-align: right; font-family: system-ui, "DejaVu Sans", sans-serif; }
#known { padding-left: 0; padding-right: 1.2em; }
"""

# The page's script: state is one number, the step; everything shown is derived from
# it and the embedded steps. Text goes in with textContent only (names come from users).
_SCRIPT = r"""
"use strict";
var explorer = (function () {
  var data = JSON.parse(document.getElementById("explorer-data").textContent);
  var last = data.steps.length - 1;
  var step = 0;
  var svg = document.querySelector("#graph svg");

  // the gradient text of every slot after step k: the updates of steps 0..k, in turn
  function gradsAt(k) {
    var grads = {};
    for (var s = 0; s <= k; s++) {
      var updates = data.steps[s].updates;
      for (var slot in updates) { grads[slot] = updates[slot]; }
    }
    return grads;
  }

  function clamp(k) { return Math.max(0, Math.min(last, k)); }

  function fill(id, lines, tag) {
    var box = document.getElementById(id);
    box.textContent = "";
    lines.forEach(function (line) {
      var el = document.createElement(tag);
      el.textContent = line;
      box.appendChild(el);
    });
  }

  function render() {
    var info = data.steps[step];
    var grads = gradsAt(step);
    svg.querySelectorAll("text.grad").forEach(function (el) {
      var text = grads[el.getAttribute("data-slot")];
      el.textContent = text === undefined ? "" : el.getAttribute("data-prefix") + text;
    });
    svg.querySelectorAll(".node").forEach(function (el) {
      el.classList.toggle("running", el.id === info.node);
      el.classList.toggle("fresh", info.fresh.indexOf(el.id) >= 0);
    });
    svg.querySelectorAll(".edge").forEach(function (el) {
      el.classList.toggle("flow", el.getAttribute("data-to") === info.node &&
                                  info.fresh.indexOf(el.getAttribute("data-from")) >= 0);
    });
    document.getElementById("step-title").textContent = info.title;
    document.getElementById("doc").textContent = info.doc;
    document.getElementById("incoming").textContent = info.incoming;
    fill("formulas", info.formulas, "pre");
    var known = Object.keys(grads).sort(function (a, b) { return a - b; })
      .map(function (slot) { return "dL/d" + data.slots[slot] + " = " + grads[slot]; });
    fill("known", known, "li");
    document.getElementById("counter").textContent = COUNTER_TEXT;
    document.getElementById("slider").value = String(step);
    document.getElementById("prev").disabled = step === 0;
    document.getElementById("next").disabled = step === last;
    document.body.setAttribute("data-step", String(step));
  }

  function go(k) {
    step = clamp(k);
    render();
    try { history.replaceState(null, "", "#step=" + step); } catch (e) { /* file: */ }
  }

  document.getElementById("prev").addEventListener("click", function () { go(step - 1); });
  document.getElementById("next").addEventListener("click", function () { go(step + 1); });
  document.getElementById("first").addEventListener("click", function () { go(0); });
  document.getElementById("last").addEventListener("click", function () { go(last); });
  document.getElementById("slider").addEventListener("input", function (e) {
    go(parseInt(e.target.value, 10));
  });
  document.addEventListener("keydown", function (e) {
    if (e.target && e.target.id === "slider") { return; }  // the slider moves itself
    var moves = {ArrowLeft: step - 1, ArrowRight: step + 1, Home: 0, End: last};
    if (e.key in moves) { e.preventDefault(); go(moves[e.key]); }
  });

  var asked = /(?:^#|&)step=(\d+)/.exec(location.hash);
  step = asked ? clamp(parseInt(asked[1], 10)) : 0;
  render();
  document.body.setAttribute("data-ready", "yes");
  return {go: go, gradsAt: gradsAt, step: function () { return step; }, last: last};
})();
"""

# The page: {css}, {script} and {svg} are ours; {title}, {intro} and {table} escaped, as
# are the words of _page_words; {data} is JSON with <, > and & escaped. window.onerror shows
# any script error on the page.
_PAGE = """<!DOCTYPE html>
<html {html}>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
<script>
window.onerror = function (message, source, line) {{
  var box = document.getElementById("errors");
  if (box) {{
    box.hidden = false;
    box.textContent += "error: " + message + " (line " + line + ")\\n";
  }}
}};
</script>
</head>
<body>
<pre id="errors" hidden></pre>
<header>
<h1>{title}</h1>
<p>{intro} {w_keys}</p>
</header>
<div class="controls"{ltr}>
<button id="first" title="{w_first_tip}">{w_first}</button>
<button id="prev" title="{w_prev_tip}">{w_prev}</button>
<input id="slider" type="range" min="0" max="{last}" value="0" aria-label="{w_slider}">
<button id="next" title="{w_next_tip}">{w_next}</button>
<button id="last" title="{w_last_tip}">{w_last}</button>
<span id="counter"></span>
</div>
<main>
<div id="graph"{ltr}>
{svg}
</div>
<div id="panel">
<h2 id="step-title"></h2>
<p id="doc"></p>
<pre id="incoming"{ltr}></pre>
<div id="formulas"{ltr}></div>
<h3>{w_known}</h3>
<ul id="known"{ltr}></ul>
</div>
</main>
<section class="table">
<h2>{w_final}</h2>
<p>{w_final_note}</p>
<table id="final">
<thead><tr><th>{w_col_leaf}</th><th>{w_col_shape}</th><th>{w_col_value}</th><th>{w_col_gradient}</th></tr></thead>
<tbody{ltr}>
{table}
</tbody>
</table>
</section>
<script type="application/json" id="explorer-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""
