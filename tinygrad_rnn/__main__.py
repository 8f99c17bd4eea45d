"""``python -m tinygrad_rnn``: the guided tour (the default) and a quick gradient check.

    python -m tinygrad_rnn                  # the tour, in English
    python -m tinygrad_rnn tour --lang fa   # the tour, explanations in Persian
    python -m tinygrad_rnn gradcheck        # every built-in op and layer, one table
    python -m tinygrad_rnn zoo              # the bug zoo: each hand BPTT's diagnosis
    python -m tinygrad_rnn explain          # backward step by step, on a tanh neuron
    python -m tinygrad_rnn explain --html neuron.html   # ...and as an offline web page

Every command takes ``--lang fa`` (before or after its name) for its words in
Persian; names, code, formulas and numbers stay as they are.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from .tour import NOTEBOOK_OUTPUTS, run_tour  # noqa: F401  (NOTEBOOK_OUTPUTS: for callers)
from .tour_text import LANGUAGES, in_language, text as words


def _gradcheck(out: Callable[[str], object] = print, lang: str = "en") -> int:
    import time

    from .selfcheck import format_table, run_all

    start = time.perf_counter()
    rows = run_all()
    out(words("sc_intro", lang))
    out(format_table(rows, lang))
    out(words("seconds", lang, seconds=time.perf_counter() - start))
    return 0 if all(r.ok for r in rows) else 1


def _zoo(out: Callable[[str], object] = print, lang: str = "en") -> int:
    """Every bug of reference/bugs.py beside autograd, with compare_grads' diagnosis."""
    from .reference.bugs import ZOO, diagnose

    found = 0
    for bug in ZOO:
        report = diagnose(bug)
        said = next((d for d in report.diagnoses if d.kind == bug.kind), None)
        found += said is not None and report.kinds[0] == bug.kind
        out(f"{bug.name} ({bug.cell}): {in_language(bug.mistake, lang)}")
        out(f"    {in_language(report.summary, lang)}")
        if said is not None:
            out(f"    {said.name}: [{said.kind}] {said.text(lang)}")
    out(words("zoo_total", lang, found=found, n=len(ZOO)))
    return 0 if found == len(ZOO) else 1


def _explain(out: Callable[[str], object] = print, html: str | None = None,
             lang: str = "en") -> int:
    """Backward, step by step, on micrograd's tanh neuron: o = tanh(x1*w1 + x2*w2 + b)."""
    import numpy as np

    from . import viz
    from .tensor import Tensor

    values = {"x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.8813735870195432}
    x1, x2, w1, w2, b = (Tensor(v, requires_grad=True, name=k) for k, v in values.items())
    x1w1 = x1 * w1
    x2w2 = x2 * w2
    s = x1w1 + x2w2
    n = s + b
    o = n.tanh()
    for t, name in ((x1w1, "x1w1"), (x2w2, "x2w2"), (s, "s"), (n, "n"), (o, "o")):
        t.name = name
    out(words("explain_neuron", lang,
              values=", ".join(f"{k} = {v:g}" for k, v in values.items())))
    out(words("explain_order", lang))
    frames = list(viz.backward_steps(o))
    for frame in frames:
        out(frame.text(lang))
    if html is not None:  # before o.backward(), which frees the graph
        out(words("explain_html", lang, path=viz.to_html(o, html, lang=lang)))
    o.backward()
    same = all(np.array_equal(np.asarray(frames[-1].grad_of(t)), np.asarray(t.grad))
               for t in (x1, x2, w1, w2, b))
    out(words("explain_same", lang, answer=words("yes" if same else "no", lang)))
    return 0 if same else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tinygrad_rnn",
        description="tinygrad_rnn: a guided tour of the notebook it grew from, and tools.")
    parser.add_argument("--lang", choices=LANGUAGES, default="en",
                        help="language of the words printed (default: en)")
    sub = parser.add_subparsers(dest="command", metavar="{tour,gradcheck,zoo,explain}")
    commands = {
        "tour": sub.add_parser("tour", help="the guided tour (the default): the notebook's "
                                            "RNN, its BPTT bugs found by compare_grads, a "
                                            "trained LSTM"),
        "gradcheck": sub.add_parser("gradcheck", help="gradcheck every built-in op and layer "
                                                      "and print a table"),
        "zoo": sub.add_parser("zoo", help="the bug zoo: hand BPTTs with one classic mistake "
                                          "each, and what compare_grads diagnoses"),
        "explain": sub.add_parser("explain", help="backward step by step on a tanh neuron, "
                                                  "each gradient's formula with its numbers"),
    }
    for command in commands.values():  # --lang after the command's name too
        command.add_argument("--lang", choices=LANGUAGES, default=None, dest="command_lang",
                             help="en (default) or fa (Persian)")
    commands["explain"].add_argument(
        "--html", metavar="PATH", default=None,
        help="also write the steps as an offline HTML page (viz.to_html)")
    args = parser.parse_args(argv)
    lang = getattr(args, "command_lang", None) or args.lang
    if args.command == "gradcheck":
        return _gradcheck(lang=lang)
    if args.command == "zoo":
        return _zoo(lang=lang)
    if args.command == "explain":
        return _explain(html=args.html, lang=lang)
    run_tour(lang)
    return 0


if __name__ == "__main__":
    sys.exit(main())
