"""Issue 14's "must hold": Hypothesis draws malformed calls per API area, and every
outcome is a success or a documented exception raised on purpose by the package,
with nothing changed after a refusal.

The calls come from the catalog of tools/misuse_census.py (the census counts over
random draws what this test asserts for every draw): each is a line of Python,
``setup; call``, labelled valid, invalid, or ambiguous (torch differs) by
construction. Hypothesis chooses every option (which argument to spoil, with what),
the valid choice first, so that a failure shrinks to the smallest spoiled call; the
failure message is a reproducer to paste after ``misuse_census.PRELUDE``.

"Raised on purpose" is checkable (``misuse_census.leak_reason``): a documented type
(docs/errors.md), a message that starts with the name of what refused, no lower
exception chained, and the innermost traceback frame on a ``raise`` line of
tinygrad_rnn. "Nothing changed" covers the setup's modules, optimizers, tensors and
dicts, grad and replay mode, both RNGs, the scratch folder, and a later valid call
(a fresh 2-layer RNN's forward and backward, against a fresh process's answer).
"""

import importlib.util
import pathlib
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import tinygrad_rnn as tr


def _census_module():
    path = pathlib.Path(__file__).resolve().parents[1] / "tools" / "misuse_census.py"
    spec = importlib.util.spec_from_file_location("misuse_census", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["misuse_census"] = module  # (dataclasses look their module up there)
    spec.loader.exec_module(module)
    return module


census = _census_module()


def assert_answered_properly(case) -> None:
    """A valid call works; an invalid one is refused on purpose and changes nothing; an
    ambiguous one does either. The message is a reproducer."""
    outcome = census.run_case(case)
    assert outcome.kind not in census.BAD_KINDS, (
        f"{outcome.kind}:\n  {case.reproducer}\n  -> {outcome.detail}")


def _fuzz(area: str, examples: int = 60):
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.data())
    def test(data):
        case = census.draw(lambda options: data.draw(st.sampled_from(list(options))), area)
        assert_answered_properly(case)

    return test


test_constructors = _fuzz("constructors")
test_forward = _fuzz("forward")
test_functional = _fuzz("functional")
test_tensors = _fuzz("tensors")
test_optimizers = _fuzz("optimizers")
test_state_dicts = _fuzz("state dicts")
test_files = _fuzz("files", examples=40)
test_packing = _fuzz("packing")
test_scan = _fuzz("scan", examples=40)
test_gradcheck = _fuzz("gradcheck", examples=40)


# --------------------------------------------------------------------------- the judge itself


def _caught(call):
    try:
        call()
    except Exception as err:
        return err
    raise AssertionError("the call did not raise")


def test_a_refusal_of_the_package_is_on_purpose():
    err = _caught(lambda: tr.Tensor(np.ones((2, 3))).sum(dim=5))
    assert census.leak_reason(err) is None
    err = _caught(lambda: tr.nn.Linear(3, 2)(np.ones((4, 2))))
    assert census.leak_reason(err) is None


@pytest.mark.parametrize("call, why", [
    (lambda: np.ones(2).reshape(3), "message"),  # numpy's own words
    (lambda: {}["missing"], "documented"),  # a KeyError
    (lambda: None + 1, "message"),  # Python's words
])
def test_an_internal_error_is_a_leak(call, why):
    assert why in census.leak_reason(_caught(call))


def test_a_well_worded_error_not_raised_by_a_raise_of_the_package_is_a_leak():
    def numpy_raises_with_our_words():
        np.ones(2).reshape(3)

    err = _caught(numpy_raises_with_our_words)
    err.args = ("reshape: cannot reshape",)
    assert "outside tinygrad_rnn" in census.leak_reason(err)

    def chained():
        try:
            np.ones(2).reshape(3)
        except ValueError as inner:
            raise ValueError("reshape: cannot reshape") from inner

    assert "chained" in census.leak_reason(_caught(chained))


@pytest.mark.parametrize("change", [
    "sd['a'][0] = 5", "sd['b'] = 1", "m.weight.data[0, 0] += 1", "m.train(False)",
    "opt.param_groups[0]['lr'] = 0.5", "opt.state[id(p)] = {'step': 1}",
    "p.grad = np.ones(3)", "p.data[1] = np.nan",
])
def test_the_snapshot_sees_every_change_a_refusal_must_not_make(change):
    names = census.namespace()
    exec("sd = {'a': np.ones(2)}; m = nn.Linear(3, 2); "
         "p = tr.Tensor(np.ones(3), requires_grad=True); opt = optim.Adam([p])", names)
    before = census.objects_of(names)
    exec(change, names)
    assert census.objects_of(names) != before


def test_the_verdicts_of_the_judge():
    def kind(call, expect):
        return census.run_case(census.Case("t", "", call, expect)).kind

    assert kind("tr.Tensor(1.0) + 'a'", "ok") == "valid-refused"
    assert kind("tr.Tensor(1.0) + 1", "refuse") == "invalid-accepted"
    assert kind("tr.Tensor(np.ones(2)).sum(dim=3)", "refuse") == "invalid-refused"
    assert kind("np.ones(2).reshape(3)", "refuse") == "invalid-leaked"
    assert kind("tr.Tensor(1.0) + 1", "either") == "ambiguous-ok"


def test_a_poisoned_cache_is_caught_by_the_later_valid_call():
    # issue 14: a float layer number left in a cache shared by all models broke every
    # later 2-layer forward; the canary compares with a fresh process's answer
    assert census.canary_still_sings() is None
