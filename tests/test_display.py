"""Rich display: every report's ``_repr_html_`` is well-formed, says what its ``str``
says (the same numbers, rows and diagnoses), escapes names, and speaks Persian
right to left when asked (``html(lang="fa")``, ``tr.display.set_language``)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygrad_rnn as tr
from tinygrad_rnn import display
from tinygrad_rnn.compare import Diagnosis
from tinygrad_rnn.tour_text import TEXT

NUMBER = re.compile(r"[-+]?(?:\d+\.\d+(?:e[-+]\d+)?|\d+e[-+]\d+|inf|nan)")


def parse(html: str) -> ET.Element:
    """The HTML as an XML tree: fails unless it is well-formed."""
    return ET.fromstring(html)


def shown_text(html: str) -> str:
    return " ".join(parse(html).itertext())


def numbers(text: str) -> list[str]:
    return NUMBER.findall(text)


def assert_same_numbers(plain: str, html: str) -> None:
    """Every number printed by str() is shown by the HTML (as often, at least)."""
    shown = numbers(shown_text(html))
    for n in set(numbers(plain)):
        assert shown.count(n) >= numbers(plain).count(n), n


def cells(element: ET.Element, tag: str = "td") -> list[str]:
    return ["".join(c.itertext()) for c in element.iter(tag)]


# --------------------------------------------------------------------------- compare_grads


def mismatching() -> tr.compare.GradComparison:
    rng = np.random.default_rng(0)
    w, b, dh = rng.standard_normal((4, 3)), rng.standard_normal(4), rng.standard_normal((5, 2, 4))
    wrong_dh = dh.copy()
    wrong_dh[:-1] *= 1.7          # right at the last step only: a dropped carry
    return tr.compare_grads({"weight": w, "bias": b, "dh": dh},
                            {"weight": 2 * w, "bias": b, "dh": wrong_dh},
                            time_axis={"dh": 0})


def test_compare_grads_html_has_the_summary_table_steps_and_diagnoses_of_its_str():
    result = mismatching()
    html = result._repr_html_()
    root = parse(html)
    text = shown_text(html)
    assert text.strip().startswith(result.summary)
    assert_same_numbers(str(result), html)
    for row in result.rows:
        assert row.name in cells(root)
    for d in result.diagnoses:
        assert d.message in cells(root) and d.kind in cells(root)
    # the per-step table: one row per step, as in str()
    steps = [t for t in root.iter("table") if "per time step" in "".join(t.itertext())]
    assert len(steps) == 1 and len(list(steps[0].iter("tr"))) == 1 + 5


def test_mismatches_are_marked_and_agreeing_rows_are_not():
    root = parse(mismatching()._repr_html_())
    first = next(root.iter("table"))
    marked = {"".join(tr_.find("td").itertext()): "background" in tr_.get("style", "")
              for tr_ in first.find("tbody")}
    assert marked == {"weight": True, "bias": False, "dh": True}
    verdicts = [td for td in first.iter("td") if td.text == "MISMATCH"]
    assert len(verdicts) == 2 and all("color" in td.get("style") for td in verdicts)


names = st.text(st.sampled_from("<>&\"'b/ xy\u0627"), min_size=1, max_size=6)


@settings(max_examples=30, deadline=None)
@given(st.lists(names, min_size=1, max_size=3, unique=True),
       st.lists(st.integers(1, 4), min_size=1, max_size=3))
def test_any_gradient_name_stays_text(gradient_names, shape):
    grads = {n: np.arange(np.prod(shape), dtype=float).reshape(shape) + 1 for n in gradient_names}
    wrong = {n: -g for n, g in grads.items()}
    for result in (tr.compare_grads(grads, grads), tr.compare_grads(grads, wrong)):
        for lang in ("en", "fa"):
            root = parse(result.html(lang))
            assert root.find(".//b") is None and root.find(".//tbody//p") is None
            for n in gradient_names:
                assert n in cells(root)


def test_a_gradient_named_b_is_text_not_bold():
    g = np.ones(3)
    html = tr.compare_grads({"<b>": g}, {"<b>": 2 * g})._repr_html_()
    assert "<b>" not in html and "&lt;b&gt;" in html
    assert parse(html).find(".//b") is None


# --------------------------------------------------------------------------- Persian


def test_persian_comparison_is_right_to_left_with_numbers_left_to_right():
    result = mismatching()
    html = result.html(lang="fa")
    root = parse(html)
    assert root.get("dir") == "rtl" and root.get("lang") == "fa"
    assert all(td.get("dir") == "ltr" for td in root.iter("td") if NUMBER.fullmatch(td.text or ""))
    text = shown_text(html)
    assert TEXT["verdict_mismatch"]["fa"] in text and "MISMATCH" not in text
    assert TEXT["col_max_rel"]["fa"] in text
    assert_same_numbers(str(result), html)


def test_persian_text_has_the_same_numbers_and_persian_diagnoses():
    result = mismatching()
    fa = result.text("fa")
    assert numbers(fa) == numbers(str(result))
    assert result.text("en") == str(result)
    for d in result.diagnoses:
        assert d.text("fa") != d.message and d.text("fa") in fa
        assert numbers(d.text("fa")) == numbers(d.message)
        assert d.message not in fa


def test_every_diagnosis_kind_found_by_the_zoo_has_a_persian_message():
    from tinygrad_rnn.reference.bugs import ZOO, diagnose

    for bug in ZOO[:6]:
        for d in diagnose(bug).diagnoses:
            assert set(d.texts) == {"en", "fa"} and d.texts["en"] == d.message
            assert re.search("[\u0600-\u06ff]", d.text("fa")), d


def test_set_language_chooses_what_the_rich_display_shows_and_str_stays_english():
    result = mismatching()
    try:
        display.set_language("fa")
        assert parse(result._repr_html_()).get("dir") == "rtl"
        assert str(result) == result.text("en")
    finally:
        display.set_language("en")
    assert parse(result._repr_html_()).get("dir") == "ltr"
    with pytest.raises(ValueError, match="set_language: lang must be one of 'en', 'fa', got 'de'"):
        display.set_language("de")
    with pytest.raises(ValueError, match="GradComparison.html: lang must be one of"):
        result.html(lang="de")


def test_a_diagnosis_without_a_template_keeps_its_message_in_every_language():
    d = Diagnosis("w", "sign", "sign flipped")
    assert d.text("fa") == "sign flipped" and d == "sign flipped"


# --------------------------------------------------------------------------- gradcheck


def wrong_square(x):
    """x**2 with a backward that forgets the 2 (a Function of its own, so gradcheck fails)."""
    class Square(tr.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, grad):
            (a,) = ctx.saved_tensors
            return grad * a

    return Square.apply(x)


def test_gradcheck_report_html_has_its_rows_numbers_and_notes():
    x = tr.Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True, name="<x>")
    unused = tr.Tensor(np.ones(2), requires_grad=True, name="unused")
    report = tr.gradcheck_report(lambda a, b: wrong_square(a), [x, unused])
    html = report._repr_html_()
    root = parse(html)
    assert not report.ok
    assert_same_numbers(str(report), html)
    assert "<x>" in cells(root) and "unused" in cells(root)
    marked = [r for r in root.iter("tr") if "background" in r.get("style", "")]
    assert len(marked) == sum(not r.ok for r in report.rows) >= 1
    assert all(n in shown_text(html) for n in report.notes)
    fa = report.html("fa")
    assert parse(fa).get("dir") == "rtl" and TEXT["no"]["fa"] in shown_text(fa)
    assert report.text("en") == str(report) and numbers(report.text("fa")) == numbers(str(report))


def test_gradcheck_layer_report_html_has_the_rows_the_step_grid_and_the_culprit():
    from tinygrad_rnn.layercheck import layercheck_report

    layer = tr.nn.LSTM(2, 3).double()
    ok_report = layercheck_report(layer, np.random.default_rng(1).standard_normal((3, 2, 2)))
    html = ok_report._repr_html_()
    assert ok_report.ok and TEXT["all_agree_fd"]["en"] in shown_text(html)
    assert_same_numbers(str(ok_report), html)
    for row in ok_report.rows:
        assert row.tensor in cells(parse(html))
    fa = ok_report.html("fa")
    assert TEXT["all_agree_fd"]["fa"] in shown_text(fa) and parse(fa).get("dir") == "rtl"
    assert numbers(ok_report.text("fa")) == numbers(str(ok_report))

    from test_layercheck import LeakyForgetLSTM

    bad = layercheck_report(LeakyForgetLSTM(2, 3).double(),
                            np.random.default_rng(2).standard_normal((4, 2, 2)))
    html = bad._repr_html_()
    root = parse(html)
    assert not bad.ok and bad.culprit in shown_text(html)
    assert_same_numbers(str(bad), html)
    tables = list(root.iter("table"))
    assert len(tables) == 2   # the rows, the per-step grid
    grid_lines = {tuple(cells(r)[:2]) for r in tables[1].find("tbody")}
    assert ("weight_ih_l0", "f") in grid_lines
    marked = [r for r in tables[0].find("tbody") if "background" in r.get("style", "")]
    assert len(marked) == sum(not r.ok for r in bad.rows)


# --------------------------------------------------------------------------- Persian sentences

ANY_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:e[-+]\d+)?")

# the English words of the reports' sentences (titles, culprits, notes, grid titles)
LAYERCHECK_ENGLISH = ("gradcheck of", "time steps", "per time step", "autograd vs",
                      "central differences", "culprit", "At t=", "only gate", "earlier steps",
                      "recurrence", "Look for", "first step", "disagree", "agree", "worst",
                      "max rel error", "not checked", "does not depend", "note:", "skipped",
                      "require grad", "weight slices")


def assert_persian_of(report_text: str, english: str, english_words: tuple[str, ...]) -> None:
    """The Persian has none of the English words, and the same numbers as the English."""
    for word in english_words:
        assert word not in report_text, word
    assert sorted(ANY_NUMBER.findall(report_text)) == sorted(ANY_NUMBER.findall(english))


def _frozen_lstm() -> tr.nn.Module:
    layer = tr.nn.LSTM(2, 3).double()
    layer.bias_hh_l0.requires_grad = False
    return layer


class _UnusedLinear(tr.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin, self.spare = tr.nn.Linear(2, 2), tr.nn.Linear(2, 2)

    def forward(self, x):
        return self.lin(x)


@pytest.mark.parametrize("make, shape, per_step", [
    ("LeakyForgetLSTM", (4, 2, 2), True),      # one gate at the first step BPTT reaches
    ("BadCellTanhLSTM", (3, 2, 2), True),      # several gates
    ("BadCellTanhLSTM", (3, 2, 2), False),     # no per-step view: the rows
    ("NotebookRNN", (3, 2, 2), True),          # no gates
    ("BadOutputCell", (3, 2), True),           # a cell, one step
    ("frozen", (3, 2, 2), True),               # a note; every step agrees
    ("unused", (3, 2), True),                  # a parameter no gradient reaches
])
def test_layercheck_report_in_persian_has_no_english_sentence_left(make, shape, per_step):
    import test_layercheck

    from tinygrad_rnn.layercheck import layercheck_report

    layer = {"frozen": _frozen_lstm, "unused": lambda: _UnusedLinear().double()}.get(
        make, lambda: getattr(test_layercheck, make)(2, 3).double())()
    report = layercheck_report(layer, np.random.default_rng(3).standard_normal(shape),
                               per_step=per_step)
    english = str(report)
    assert report.text("en") == english and english.startswith(report.title)
    assert report.culprit or report.notes   # (each case has a sentence to translate)
    fa = report.text("fa")
    assert_persian_of(fa, english, LAYERCHECK_ENGLISH)
    for sentence in [report.title, *report.notes] + ([report.culprit] if report.culprit else []):
        assert sentence in english and sentence not in fa
    html_fa = shown_text(report.html("fa"))
    assert_persian_of(html_fa, shown_text(report.html("en")), LAYERCHECK_ENGLISH)


GRADCHECK_ENGLISH = ("the output does not depend", "not in the graph", "leave it out",
                     "if that is intended", "pass it with", "note:")


def test_gradcheck_notes_in_persian_have_no_english_sentence_left():
    x = tr.Tensor(np.array([0.5, -1.0]), requires_grad=True, name="x")
    unused = tr.Tensor(np.ones(2), requires_grad=True, name="unused")
    spare = tr.Tensor(np.ones(3), requires_grad=True)
    report = tr.gradcheck_report(lambda a, b, c: a * a, [x, unused, spare],
                                 params={"w": tr.Tensor(np.ones(1), requires_grad=True)})
    assert len(report.notes) == 3 and all(n in str(report) for n in report.notes)
    assert_persian_of(report.text("fa"), str(report), GRADCHECK_ENGLISH)
    assert_persian_of(shown_text(report.html("fa")), shown_text(report.html("en")),
                      GRADCHECK_ENGLISH)
    assert all(name in report.text("fa") for name in ("unused", "input 2", "params['w']"))


# --------------------------------------------------------------------------- traces


def test_gate_trace_html_shows_each_gates_mean_at_each_step_labelled():
    tr.manual_seed(0)
    lstm = tr.nn.LSTM(2, 3, num_layers=2)
    x = np.random.default_rng(3).standard_normal((4, 2, 2))
    gates, _ = tr.trace.gate_trace(lstm, x)
    assert isinstance(gates, dict) and set(gates) == {(0, 0), (1, 0)}
    root = parse(gates._repr_html_())
    tables = list(root.iter("table"))
    assert len(tables) == 2
    for table, arrays in zip(tables, gates.values()):
        headers = cells(table, "th")
        assert headers[0] == "t" and "forget gate (f)" in headers
        body = [cells(r) for r in table.find("tbody")]
        assert len(body) == 4
        for name, label in (("f", "forget gate (f)"), ("c", "cell state (c)")):
            column = headers.index(label)
            assert [line[column] for line in body] == \
                [f"{np.mean(arrays[name][t]):.3f}" for t in range(4)]
    fa = parse(gates.html("fa"))
    assert fa.get("dir") == "rtl"
    assert TEXT["gate_f"]["fa"] in cells(fa, "th")


def test_step_grads_html_shows_the_norm_of_each_gradient_at_each_step():
    tr.manual_seed(0)
    gru = tr.nn.GRU(2, 3)
    x = np.random.default_rng(4).standard_normal((5, 1, 2))
    steps = tr.trace.step_grads(gru, x, lambda out: (out ** 2).sum())
    root = parse(steps._repr_html_())
    (table,) = root.iter("table")
    headers = cells(table, "th")
    assert headers[:2] == ["t", "dh"] and "dpre[z]" in headers and "weight_hh" in headers
    body = [cells(r) for r in table.find("tbody")]
    assert len(body) == steps.T == 5
    for t, line in enumerate(body):
        assert line[1] == f"{np.sqrt(np.sum(steps.dh[t] ** 2)):.3e}"
        assert line[headers.index("dpre[z]")] == f"{np.sqrt(np.sum(steps.dpre['z'][t] ** 2)):.3e}"
    assert parse(steps.html("fa")).get("dir") == "rtl"


# --------------------------------------------------------------------------- check_hand_backward


def test_hand_backward_report_and_error_as_html():
    from hypothesis import settings as hsettings
    from test_hand_backward import (
        ONE_LAYER,
        reference_backward,
        rnn_backward_without_carry_reading_biases,
    )

    from tinygrad_rnn.testing import HandBackwardError, check_hand_backward

    quick = hsettings(max_examples=4, database=None, deadline=None)
    report = check_hand_backward(reference_backward("rnn"), kinds="rnn", **ONE_LAYER,
                                 settings=quick)
    html = report._repr_html_()
    assert shown_text(html).strip().startswith(str(report).splitlines()[0])
    assert_same_numbers(str(report), html)
    assert report.text("fa") != str(report) and parse(report.html("fa")).get("dir") == "rtl"
    with pytest.raises(HandBackwardError) as caught:
        check_hand_backward(rnn_backward_without_carry_reading_biases, kinds="rnn",
                            **ONE_LAYER, settings=quick)
    error = caught.value
    root = parse(error._repr_html_())
    assert error.headline() in shown_text(error._repr_html_())
    assert {d.kind for d in error.diagnoses} <= set(cells(root))
    # in Persian: the headline and the coverage line, with the same numbers; str stays English
    english_words = ("the hand-written backward", "disagrees with", "kinds ", "tried:")
    with pytest.raises(HandBackwardError) as caught:
        check_hand_backward(rnn_backward_without_carry_reading_biases, kinds="rnn",
                            **ONE_LAYER, bias=True, settings=quick)
    error = caught.value
    assert str(error).startswith(error.headline()) and "disagrees with" in error.headline()
    assert error.text("en").startswith(error.headline())
    assert_persian_of(error.headline("fa"), error.headline(), english_words)
    assert error.headline("fa") in error.text("fa") and error.headline("fa") in shown_text(
        error.html("fa"))
    tried = str(report).splitlines()[1]
    (tried_fa,) = [line for line in report.text("fa").splitlines()
                   if line.startswith(TEXT["hand_backward_tried"]["fa"].split("{")[0])]
    assert_persian_of(tried_fa, tried, english_words)


# --------------------------------------------------------------------------- Tensor repr


def test_tensor_repr_names_the_op_that_made_it_as_torch_does():
    x = tr.Tensor([0.5, 1.0], requires_grad=True)
    assert repr(x) == "Tensor([0.5, 1. ], requires_grad=True)"
    y = x.tanh()
    assert repr(y) == f"Tensor([{np.tanh(0.5):.4f}, {np.tanh(1.0):.4f}], grad_fn=<TanhBackward>)"
    assert repr(tr.Tensor([1.0, 2.0])) == "Tensor([1., 2.])"


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=3))
def test_a_big_tensors_repr_stays_short(shape):
    t = tr.Tensor(np.arange(np.prod(shape), dtype=float).reshape(shape), requires_grad=True) * 2
    text = repr(t)
    assert text.endswith("grad_fn=<MulBackward>)")
    if t.size > tr.Tensor.REPR_THRESHOLD:
        assert f"shape={tuple(shape)}" in text
        # the first and last 3 along each axis, whatever the size
        shown = re.findall(r"\d+\.\d*(?:e[-+]\d+)?", text.split("shape=")[0])
        assert len(shown) == np.prod([min(n, 6) for n in shape])
        assert ("..." in text) == any(n > 6 for n in shape)
    else:
        assert "..." not in text
