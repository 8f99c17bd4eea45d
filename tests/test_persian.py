"""``--lang fa`` throughout: every command of ``python -m tinygrad_rnn`` prints its words
in Persian (headers, verdicts, diagnoses, the zoo's mistakes, backward's frames) with
no English sentence left, and the same names and numbers as in English. English, the
default, prints what it always has. (The Persian was not reviewed by a native speaker.)
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.__main__ import main
from tinygrad_rnn.layercheck import layercheck_report
from tinygrad_rnn.reference import mistakes
from tinygrad_rnn.reference.bugs import ZOO
from tinygrad_rnn.testing import HandBackwardError, check_hand_backward
from tinygrad_rnn.tour_text import TEXT, Said, in_language

PERSIAN = re.compile("[\u0600-\u06ff]")
# English words that only prose uses (no op, argument or gradient is named so); where
# one shows in the Persian output, a sentence was left untranslated
ENGLISH_PROSE = re.compile(
    r"\b(the|of|and|is|are|to|with|from|not|by|was|which|only|every|agree|disagree|"
    r"disagrees|known|matches|yes|NO|dropped|instead|taken|summed|never|step|steps|shape|"
    r"raised|returned|gives|must|layers|leaves)\b")
# where the Persian still quotes English on purpose: an op's own docstring (explain's
# "rule" line), the names of the ops and layers gradcheck checks
# and a failure's configuration and exception (HandBackwardError's headlines)
QUOTED = {"explain": re.compile(r"^\s*قاعده .*$", re.M),
          "gradcheck": re.compile(r"^(عملیات|لایه) +\S+", re.M),
          "hand": re.compile(r"\[[^\]]*\]|division by zero")}
# phrases each command printed in English before it spoke Persian
ENGLISH_PHRASES = {
    "gradcheck": ("max abs err", "max rel err", "agree with central finite differences",
                  "Every built-in op", "  yes", "layer ", "2 layers, bidirectional",
                  "no bias"),
    "zoo": ("diagnosed as declared", "matches the gradient with", " of 6 disagree",
            "the gradient from step t+1 (dh_next) never added", " dropped",
            "instead of", "inside the backward"),
    "explain": ("step 1 of 5", "-> shape", "known:", "leaves the same gradients",
                "A neuron, as in", "Backward visits the nodes"),
    "tour": ("Part 1.", "the notebook printed", "all agree: True", "disagree:",
             "forget gate:"),
}
COMMANDS = tuple(ENGLISH_PHRASES)
TIMES = re.compile(r"[\d.]+ ثانیه|\d+\.\d+s(?=  )")   # gradcheck's total and rows' timings
NUMBER = re.compile(r"\d+\.\d+e[-+]\d+|\d+\.\d{3,}")   # printed values (not timings)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def untranslated(command: str, text: str) -> list[str]:
    """The English prose words left in ``text``, outside what it quotes on purpose."""
    if command in QUOTED:
        text = QUOTED[command].sub("", text)
    return ENGLISH_PROSE.findall(text)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_speaks_persian_with_lang_fa_before_or_after_its_name(capsys, command):
    after = run(capsys, command, "--lang", "fa")
    assert len(PERSIAN.findall(after)) > 50
    for phrase in ENGLISH_PHRASES[command]:
        assert phrase not in after, phrase
    assert untranslated(command, after) == []
    before = run(capsys, "--lang", "fa", command)
    assert TIMES.sub("", before) == TIMES.sub("", after)


@pytest.mark.parametrize("command", ("gradcheck", "zoo", "explain", "tour"))
def test_persian_prints_the_same_numbers_and_names_as_english(capsys, command):
    english, persian = run(capsys, command), run(capsys, command, "--lang", "fa")
    assert sorted(NUMBER.findall(persian)) == sorted(NUMBER.findall(english))
    names = {"gradcheck": ["nn.Linear", "nn.LSTM batch_first, proj_size"],
             "zoo": [b.name for b in ZOO], "explain": ["dL/dx1 += dL/dx1w1 * w1"],
             "tour": ["tr.compare_grads", "W_x", "dh_raw"]}[command]
    assert all(n in persian for n in names)


@pytest.mark.parametrize("command", COMMANDS)
def test_english_stays_the_default_and_has_no_persian(capsys, command):
    english = run(capsys, command)
    assert not PERSIAN.search(english)
    assert run(capsys, "--lang", "en", command).count("\n") == english.count("\n")
    for phrase in {"gradcheck": ("max abs err", "agree with central finite differences",
                                 "nn.RNN 2 layers, bidirectional", "nn.GRU bidirectional, no bias"),
                   "zoo": ("(21 of 21 diagnosed as declared)", "matches the gradient with"),
                   "explain": ("step 1 of 5: o = Tanh(n)   -> shape ()", "    known: dL/do = 1",
                               "leaves the same gradients in .grad: yes."),
                   "tour": ("all agree: True.", "Part 1.")}[command]:
        assert phrase in english, phrase


def test_every_zoo_bug_and_candidate_mistake_is_worded_in_both_languages():
    for bug in ZOO:
        assert isinstance(bug.mistake, Said) and PERSIAN.search(in_language(bug.mistake, "fa"))
        assert str(bug.mistake) == TEXT[f"zoo_{bug.name}"]["en"].format()
    params = {"weight_ih": np.ones((12, 2)), "weight_hh": np.ones((12, 3)),
              "bias_ih": np.ones(12), "bias_hh": np.ones(12)}
    found = mistakes.candidates("lstm", params, np.full((3, 1, 2), 0.3),
                                np.full((3, 1, 3), 0.2))
    assert len(found) > 20
    for c in found:
        persian = in_language(c.description, "fa")
        assert PERSIAN.search(persian) and not ENGLISH_PROSE.search(persian), persian
        assert not PERSIAN.search(str(c.description))


def test_a_candidate_mistake_is_named_in_persian_inside_the_persian_diagnosis():
    report = tr.reference.bugs.diagnose(ZOO[0])
    d = next(d for d in report.diagnoses if d.kind == ZOO[0].kind)
    assert "(dh_next) dropped" in d.message                    # the English, as before
    assert "(dh_next) جاافتاده" in d.text("fa") and "dropped" not in d.text("fa")
    assert in_language(d, "fa") == d.text("fa")               # a Diagnosis is a Said
    assert in_language(report.summary, "fa") == report.text("fa").splitlines()[0]
    assert report.summary == report.text("en").splitlines()[0]


def test_backward_steps_frames_in_persian_keep_their_formulas_and_numbers():
    # (ops whose docstring formulas are formulas only: Sum's says "copied back along
    # the summed axes", in English, as its docstring does)
    x = tr.Tensor(np.array(0.5), requires_grad=True, name="x")
    w = tr.Tensor(np.array(-1.5), requires_grad=True, name="w")
    y = (x * w + x).tanh()
    for frame in tr.viz.backward_steps(y):
        english, persian = frame.text(), frame.text("fa")
        assert english == str(frame) and not PERSIAN.search(english)
        assert PERSIAN.search(persian) and untranslated("explain", persian) == []
        for c in frame.computed:
            assert in_language(c.formula, "fa") in persian and c.formula in english


def test_a_layer_row_no_gradient_reaches_is_labelled_in_persian():
    class Spare(tr.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used, self.spare = tr.nn.Linear(2, 2), tr.nn.Linear(2, 2)

        def forward(self, x):
            return self.used(x)

    report = layercheck_report(Spare().double(), np.ones((3, 2)))
    assert "not reached" in str(report)
    assert "not reached" not in report.text("fa") and "نرسیده" in report.text("fa")


def _hand_backward_error(hand_fn) -> HandBackwardError:
    from hypothesis import settings

    with pytest.raises(HandBackwardError) as caught:
        check_hand_backward(hand_fn, kinds="rnn", seq_len=2, batch=1,
                                       input_size=1, hidden_size=1, bias=True,
                                       settings=settings(max_examples=3, database=None))
    return caught.value


@pytest.mark.parametrize("returns, english", [
    (lambda sd, x, d: 1 / 0, "the hand-written backward raised ZeroDivisionError"),
    (lambda sd, x, d: [1.0], "it must return a dict name -> gradient"),
    (lambda sd, x, d: {"weight_ih": "many"}, "not an array of numbers"),
    (lambda sd, x, d: {"weight_ih": np.zeros((1, 1))}, "gives no gradient for"),
])
def test_every_hand_backward_error_headline_has_its_persian(returns, english):
    error = _hand_backward_error(returns)
    assert english in str(error) and english in error.headline()
    persian = error.text("fa")
    assert PERSIAN.search(error.headline("fa")) and english not in persian
    assert untranslated("hand", persian) == [], persian
