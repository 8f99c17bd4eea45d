"""The bug zoo (tinygrad_rnn.reference.bugs): every bug gets its declared diagnosis at
any shape, a correct hand BPTT gets none, and the docs' table is the zoo's."""

from pathlib import Path

import pytest
from hypothesis import assume, given, settings, strategies as st

from tinygrad_rnn.compare import KINDS
from tinygrad_rnn.reference import bugs as B

DOC = Path(__file__).resolve().parent.parent / "docs" / "hand_vs_autograd.md"
shapes = st.tuples(st.integers(3, 6), st.integers(1, 4), st.integers(1, 4), st.integers(1, 4),
                   st.integers(0, 2**16))


def test_the_zoo_has_at_least_14_bugs_across_the_three_cells():
    assert len(B.ZOO) >= 14
    assert {bug.cell for bug in B.ZOO} == {"rnn", "lstm", "gru"}
    assert len({bug.name for bug in B.ZOO}) == len(B.ZOO)
    assert all(bug.kind in KINDS for bug in B.ZOO)


@pytest.mark.parametrize("bug", B.ZOO, ids=lambda bug: bug.name)
@settings(max_examples=12, deadline=None)
@given(shape=shapes)
def test_every_bug_gets_its_kind(bug, shape):
    T, N, I, H, seed = shape
    assume(bug.visible(T, N, I, H))
    report = B.diagnose(bug, T=T, N=N, I=I, H=H, seed=seed)
    if bug.kind == "clipping":   # a clip that never binds changes nothing
        assume(not report.ok)
    assert not report.ok
    assert report.kinds[0] == bug.kind, str(report)
    assert bug.kind in report.summary


@settings(max_examples=30, deadline=None)
@given(cell=st.sampled_from(["rnn", "lstm", "gru"]), shape=shapes)
def test_a_correct_hand_bptt_gets_no_diagnosis(cell, shape):
    T, N, I, H, seed = shape
    report = B.diagnose(lambda sd, x, d: B._STUDENTS[cell](sd, x, d, ""), cell,
                        T=T, N=N, I=I, H=H, seed=seed)
    assert report.ok and report.diagnoses == []
    assert report.summary.startswith(f"all {len(report.rows)} gradients agree")


def test_a_hand_fn_of_the_check_hand_backward_form_is_diagnosed_too():
    from tinygrad_rnn import reference as R

    def no_carry(state_dict, x, d_out):   # the reference's loop, dh_next never added
        _, (x, hs, W_ih, W_hh) = R.rnn_forward(state_dict, x)
        da = d_out * (1 - hs[1:] ** 2)
        flat = lambda a: a.reshape(-1, a.shape[-1])  # noqa: E731
        return {"weight_ih": flat(da).T @ flat(x), "weight_hh": flat(da).T @ flat(hs[:-1]),
                "bias_ih": flat(da).sum(0), "bias_hh": flat(da).sum(0), "x": da @ W_ih}

    report = B.diagnose(no_carry, "rnn", T=4, N=2, I=3, H=3)
    assert report.kinds[0] == "missing_recurrent_carry"
    assert report["h0"].diagnoses[0].kind == "missing"


def test_the_docs_table_is_the_zoo():
    assert B.zoo_table() in DOC.read_text(encoding="utf-8"), \
        "docs/hand_vs_autograd.md is stale: paste tinygrad_rnn.reference.bugs.zoo_table()"


def test_python_m_tinygrad_rnn_zoo_prints_every_bug(capsys):
    from tinygrad_rnn.__main__ import main
    assert main(["zoo"]) == 0
    out = capsys.readouterr().out
    for bug in B.ZOO:
        assert bug.name in out and bug.kind in out
    assert f"({len(B.ZOO)} of {len(B.ZOO)} diagnosed as declared)" in out
