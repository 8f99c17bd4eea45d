"""``python -m tinygrad_rnn``: the guided tour (the default) and a quick gradient check.

    python -m tinygrad_rnn                  # the tour, in English
    python -m tinygrad_rnn tour --lang fa   # the tour, explanations in Persian
    python -m tinygrad_rnn gradcheck        # every built-in op and layer, one table
    python -m tinygrad_rnn zoo              # the bug zoo: each hand BPTT's diagnosis
    python -m tinygrad_rnn explain          # backward step by step, on a tanh neuron
    python -m tinygrad_rnn explain --html neuron.html   # ...and as an offline web page
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from .tour import NOTEBOOK_OUTPUTS, run_tour  # noqa: F401  (NOTEBOOK_OUTPUTS: for callers)
from .tour_text import LANGUAGES


def _gradcheck(out: Callable[[str], object] = print) -> int:
    import time

    from .selfcheck import format_table, run_all

    start = time.perf_counter()
    rows = run_all()
    out("Every built-in op and layer against central finite differences (float64, one")
    out("fixed example each; the test suite draws many with Hypothesis):\n")
    out(format_table(rows))
    out(f"({time.perf_counter() - start:.1f} s)")
    return 0 if all(r.ok for r in rows) else 1


def _zoo(out: Callable[[str], object] = print) -> int:
    """Every bug of reference/bugs.py beside autograd, with compare_grads' diagnosis."""
    from .reference.bugs import ZOO, diagnose

    found = 0
    for bug in ZOO:
        report = diagnose(bug)
        said = next((d for d in report.diagnoses if d.kind == bug.kind), None)
        found += said is not None and report.kinds[0] == bug.kind
        out(f"{bug.name} ({bug.cell}): {bug.mistake}")
        out(f"    {report.summary}")
        if said is not None:
            out(f"    {said.name}: [{said.kind}] {said.message}")
    out(f"({found} of {len(ZOO)} diagnosed as declared)")
    return 0 if found == len(ZOO) else 1


def _explain(out: Callable[[str], object] = print, html: str | None = None) -> int:
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
    out("A neuron, as in micrograd's lecture: o = tanh(x1*w1 + x2*w2 + b), with "
        + ", ".join(f"{k} = {v:g}" for k, v in values.items()) + ".")
    out("Backward visits the nodes newest first; each step uses the gradient of its "
        "output (grad)\nto compute its inputs' by the op's formula (from its docstring):\n")
    frames = list(viz.backward_steps(o))
    for frame in frames:
        out(frame.text())
    if html is not None:  # before o.backward(), which frees the graph
        out(f"The same steps to click through in a browser: {viz.to_html(o, html)}\n")
    o.backward()
    same = all(np.array_equal(np.asarray(frames[-1].grad_of(t)), np.asarray(t.grad))
               for t in (x1, x2, w1, w2, b))
    out(f"o.backward() leaves the same gradients in .grad: {'yes' if same else 'NO'}.")
    return 0 if same else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tinygrad_rnn",
        description="tinygrad_rnn: a guided tour of the notebook it grew from, and tools.")
    parser.add_argument("--lang", choices=LANGUAGES, default="en",
                        help="language of the tour's explanations (default: en)")
    sub = parser.add_subparsers(dest="command", metavar="{tour,gradcheck,zoo,explain}")
    tour = sub.add_parser("tour", help="the guided tour (the default): the notebook's RNN, "
                                       "its BPTT bugs found by compare_grads, a trained LSTM")
    tour.add_argument("--lang", choices=LANGUAGES, default=None, dest="tour_lang",
                      help="en (default) or fa (Persian)")
    sub.add_parser("gradcheck", help="gradcheck every built-in op and layer and print a table")
    sub.add_parser("zoo", help="the bug zoo: hand BPTTs with one classic mistake each, and "
                               "what compare_grads diagnoses")
    explain = sub.add_parser("explain", help="backward step by step on a tanh neuron, each "
                                             "gradient's formula with its numbers")
    explain.add_argument("--html", metavar="PATH", default=None,
                         help="also write the steps as an offline HTML page (viz.to_html)")
    args = parser.parse_args(argv)
    if args.command == "gradcheck":
        return _gradcheck()
    if args.command == "zoo":
        return _zoo()
    if args.command == "explain":
        return _explain(html=args.html)
    lang = getattr(args, "tour_lang", None) or args.lang
    run_tour(lang)
    return 0


if __name__ == "__main__":
    sys.exit(main())
