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
