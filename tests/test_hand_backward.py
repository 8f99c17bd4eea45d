"""check_hand_backward as users rely on it: constraints as arguments, every failure
as one HandBackwardError (several at once, exceptions from inside the user's
backward), and a report on a pass.

The correct backwards are tinygrad_rnn.reference's hand BPTTs; the wrong ones
are written here, each with one mistake."""

import time

import numpy as np
import pytest
from hypothesis import settings

import tinygrad_rnn as tr
from tinygrad_rnn import reference as R
from tinygrad_rnn.testing import (
    HandBackwardError,
    RecurrentConfig,
    check_hand_backward,
    recurrent_configs,
)

QUICK = settings(max_examples=8, database=None, deadline=None)
ONE_LAYER = dict(num_layers=1, bidirectional=False, batch_first=False)


def flat(a):
    return a.reshape(-1, a.shape[-1])


def rnn_backward_without_carry_reading_biases(state_dict, x, d_out):
    """A student's RNN BPTT with two faults: it reads the biases unconditionally
    (a KeyError for a layer without bias), and it drops dh_next, the gradient
    carried back from step t+1 (wrong from T = 2 on)."""
    W_ih, W_hh = state_dict["weight_ih_l0"], state_dict["weight_hh_l0"]
    b = state_dict["bias_ih_l0"] + state_dict["bias_hh_l0"]
    hs = [np.zeros((x.shape[1], W_hh.shape[0]))]
    for x_t in x:
        hs.append(np.tanh(x_t @ W_ih.T + hs[-1] @ W_hh.T + b))
    da = d_out * (1 - np.array(hs[1:]) ** 2)          # the bug: no "+ dh_next"
    return {"weight_ih": flat(da).T @ flat(x), "weight_hh": flat(da).T @ flat(np.array(hs[:-1])),
            "bias_ih": flat(da).sum(0), "bias_hh": flat(da).sum(0)}


# --------------------------------------------------------------------------- the issue's repro


def test_two_distinct_failures_arrive_as_one_hand_backward_error():
    """recurrent_configs draws bias=False, the backward raises KeyError there and
    disagrees elsewhere: Hypothesis finds 2 distinct failures, which used to escape
    ``except HandBackwardError`` as an ExceptionGroup."""
    with pytest.raises(HandBackwardError) as info:
        check_hand_backward(rnn_backward_without_carry_reading_biases,
                            recurrent_configs(kinds="rnn", **ONE_LAYER),
                            settings=settings(QUICK, max_examples=40))
    err = info.value
    # the smallest of the two: one step of a layer without bias already raises
    assert err.config.bias is False and err.config.seq_len == 1
    assert isinstance(err.__cause__, KeyError)
    # the other failure is kept, shrunk to its own smallest configuration
    (other,) = err.others
    assert isinstance(other, HandBackwardError) and other.config.bias is True
    assert other.config.seq_len == 2 and not other.comparison.ok
    assert "2 distinct failures" in str(err) and "bias=True" in str(err)


# --------------------------------------------------------------------------- backwards to check

FORWARD_BACKWARD = {"rnn": (R.rnn_forward, R.rnn_backward), "lstm": (R.lstm_forward,
                                                                     R.lstm_backward),
                    "gru": (R.gru_forward, R.gru_backward)}


def reference_backward(kind):
    """tinygrad_rnn.reference's hand BPTT (correct: one layer, time-major, with or
    without bias) as a hand_fn."""
    forward, backward = FORWARD_BACKWARD[kind]

    def hand_fn(state_dict, x, d_out):
        return backward(forward(state_dict, x)[-1], d_out)

    hand_fn.__name__ = f"reference_{kind}"
    return hand_fn


def rnn_backward_with_biases_only(state_dict, x, d_out):
    """Correct, for a layer with biases only: it reads them unconditionally."""
    state_dict["bias_ih_l0"], state_dict["bias_hh_l0"]
    return reference_backward("rnn")(state_dict, x, d_out)


def rnn_backward_for_short_sequences(state_dict, x, d_out):
    """Correct up to T = 2, and raises for a longer sequence."""
    if len(x) > 2:
        raise ValueError(f"sequences of {len(x)} steps are not handled")
    return reference_backward("rnn")(state_dict, x, d_out)


def rnn_backward_with_sign_flipped_weight_hh(state_dict, x, d_out):
    grads = reference_backward("rnn")(state_dict, x, d_out)
    return dict(grads, weight_hh=-grads["weight_hh"])


def all_satisfy(configs, **constraints):
    """Each configuration within every constraint: a size within its (low, high) range
    or equal to its int; a kind or a flag among its allowed values or equal to its one."""
    for config in configs:
        for name, allowed in constraints.items():
            value = getattr(config, "kind" if name == "kinds" else name)
            if name in ("seq_len", "batch", "input_size", "hidden_size", "num_layers"):
                low, high = allowed if isinstance(allowed, tuple) else (allowed, allowed)
                assert low <= value <= high, (config, name)
            else:
                assert value in (allowed if isinstance(allowed, (list, tuple)) else (allowed,)), \
                    (config, name)
    return True


# --------------------------------------------------------------------------- passing


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_a_correct_backward_passes_and_returns_a_report(kind):
    report = check_hand_backward(reference_backward(kind), kinds=kind, **ONE_LAYER,
                                 settings=QUICK)
    assert report.ok and report.configs and all_satisfy(report.configs, kinds=kind, **ONE_LAYER)
    assert 0 <= report.worst_error < 1e-8
    text = str(report)
    first, *rest = text.splitlines()   # the summary line first, then the rows
    assert f"all {len(report.configs)} configurations agree with autograd" in first
    assert f"check_hand_backward[reference_{kind}]" in first
    assert "MISMATCH" not in text
    rows = [line for line in rest if line.rstrip().endswith(" ok")]
    assert len(rows) == len(report.worst_comparison.rows) >= 3   # weights and x at least


def test_the_reports_worst_error_is_the_largest_relative_error_over_every_configuration():
    hand = reference_backward("lstm")
    seen = []

    def make_layer(config):
        seen.append(config)
        return config.layer()

    report = check_hand_backward(hand, None, make_layer, kinds="lstm", **ONE_LAYER,
                                 settings=QUICK)
    assert set(report.configs) == set(seen)     # every configuration tried, each once
    assert len(report.configs) == len(set(report.configs))
    # the worst error, measured here with numpy on every configuration tried
    worst = 0.0
    for config in report.configs:
        layer = config.layer()
        x, d_out = config.input(), config.d_outputs()
        xt = tr.Tensor(x, requires_grad=True)
        layer(xt)[0].backward(d_out)
        mine = hand({k: v.copy() for k, v in layer.state_dict().items()}, x, d_out)
        pairs = [(mine[name[:-3]], p.grad) for name, p in layer.named_parameters()]
        for got, want in pairs + [(mine["x"], xt.grad)]:
            # (where autograd's is exactly 0, as dW_hh at T = 1, the error is 0 or huge)
            relative = np.abs(got - want) / np.maximum(np.abs(want), np.finfo(float).tiny)
            worst = max(worst, float(np.max(relative)))
    assert report.worst_error == pytest.approx(worst, rel=1e-6)


def test_the_configs_strategy_still_works_positionally_and_constraints_filter_it():
    report = check_hand_backward(rnn_backward_with_biases_only,
                                 recurrent_configs(kinds="rnn", seq_len=(2, 3), **ONE_LAYER),
                                 bias=True, settings=QUICK)
    assert all_satisfy(report.configs, kinds="rnn", bias=True, seq_len=(2, 3), **ONE_LAYER)


@pytest.mark.parametrize("kinds, bias, seq_len, hidden_size", [
    ("rnn", True, (2, 4), 1), (["lstm", "gru"], False, 3, (2, 3)),
    (("gru", "rnn"), (False, True), (1, 2), 2)])
def test_constraints_as_arguments_bound_every_configuration_tried(kinds, bias, seq_len,
                                                                   hidden_size):
    gates = {"rnn": 1, "lstm": 4, "gru": 3}

    def hand_fn(state_dict, x, d_out):
        rows, H = state_dict["weight_hh_l0"].shape
        kind = {g: k for k, g in gates.items()}[rows // H]
        return reference_backward(kind)(state_dict, x, d_out)

    report = check_hand_backward(hand_fn, kinds=kinds, bias=bias, seq_len=seq_len,
                                 hidden_size=hidden_size, **ONE_LAYER, settings=QUICK)
    assert all_satisfy(report.configs, kinds=kinds, bias=bias, seq_len=seq_len,
                       hidden_size=hidden_size, **ONE_LAYER)


def test_a_configuration_or_a_list_of_them_reruns_exactly_those():
    configs = [RecurrentConfig("gru", 3, 2, 2, 2, seed=s) for s in (4, 5)]
    report = check_hand_backward(reference_backward("gru"), configs[0])
    assert report.configs == (configs[0],)
    report = check_hand_backward(reference_backward("gru"), configs, settings=QUICK)
    assert set(report.configs) == set(configs)


def test_the_deadline_of_the_settings_is_ignored():
    def slow(state_dict, x, d_out):
        time.sleep(0.05)
        return reference_backward("rnn")(state_dict, x, d_out)

    check_hand_backward(slow, kinds="rnn", **ONE_LAYER,
                        settings=settings(max_examples=2, deadline=10, database=None))


# --------------------------------------------------------------------------- failing


def test_an_exception_inside_the_backward_is_wrapped_with_the_smallest_config_that_raises():
    with pytest.raises(HandBackwardError, match="raised ValueError: sequences of 3") as info:
        check_hand_backward(rnn_backward_for_short_sequences, kinds="rnn", **ONE_LAYER,
                            settings=settings(QUICK, max_examples=30))
    err = info.value
    assert err.config.seq_len == 3 and (err.config.batch, err.config.hidden_size) == (1, 1)
    assert isinstance(err.__cause__, ValueError) and err.comparison is None
    assert err.diagnoses == [] and err.others == []
    assert f"[{err.config}]" in str(err)


def test_a_backward_raising_for_a_configuration_it_was_not_told_about_gets_a_hint():
    with pytest.raises(HandBackwardError) as info:
        check_hand_backward(rnn_backward_with_biases_only, kinds="rnn", **ONE_LAYER,
                            settings=settings(QUICK, max_examples=30))
    assert isinstance(info.value.__cause__, KeyError) and info.value.config.bias is False
    assert "say so in the arguments: check_hand_backward(..., bias=True)" in str(info.value)
    # and, told, it passes
    check_hand_backward(rnn_backward_with_biases_only, kinds="rnn", bias=True, **ONE_LAYER,
                        settings=QUICK)


def test_a_disagreement_carries_its_comparison_and_diagnoses():
    with pytest.raises(HandBackwardError) as info:
        check_hand_backward(rnn_backward_with_sign_flipped_weight_hh, kinds="rnn",
                            **ONE_LAYER, settings=QUICK)
    err = info.value
    assert err.config.seq_len == 2  # at T = 1, h_0 = 0 and dW_hh is zero either way
    assert [row.name for row in err.comparison.rows if not row.ok] == ["weight_hh_l0"]
    assert err.report is err.comparison   # its older name
    (diagnosis,) = err.diagnoses
    assert diagnosis.name == "weight_hh_l0" and diagnosis.kind == "sign"
    assert "sign" in diagnosis.message and "MISMATCH" in str(err)
    with pytest.raises(HandBackwardError):   # the configuration reruns the failure
        check_hand_backward(rnn_backward_with_sign_flipped_weight_hh, err.config)


def test_a_missing_gradient_is_a_diagnosis_of_kind_missing():
    def no_weight_ih(state_dict, x, d_out):
        grads = reference_backward("gru")(state_dict, x, d_out)
        return {k: v for k, v in grads.items() if k != "weight_ih"}

    with pytest.raises(HandBackwardError, match="no gradient for \\['weight_ih_l0'\\]") as info:
        check_hand_backward(no_weight_ih, kinds="gru", **ONE_LAYER, settings=QUICK)
    assert [(d.name, d.kind) for d in info.value.diagnoses] == [("weight_ih_l0", "missing")]
    assert info.value.comparison.ok   # what it does give is right


@pytest.mark.parametrize("returned, message", [
    (lambda grads: list(grads.values()), "returned \\[.*it must return a dict"),
    (lambda grads: dict(grads, weight_hh="oops"), "'weight_hh' is 'oops', not an array"),
])
def test_a_backward_returning_no_gradients_fails_as_one_error(returned, message):
    def hand_fn(state_dict, x, d_out):
        return returned(reference_backward("rnn")(state_dict, x, d_out))

    with pytest.raises(HandBackwardError, match=message) as info:
        check_hand_backward(hand_fn, kinds="rnn", **ONE_LAYER, settings=QUICK)
    assert info.value.config is not None


def test_an_exception_in_make_layer_is_wrapped_too():
    def make_layer(config):
        raise RuntimeError("no such layer")

    with pytest.raises(HandBackwardError, match="make_layer raised RuntimeError") as info:
        check_hand_backward(reference_backward("rnn"), None, make_layer, kinds="rnn",
                            settings=QUICK)
    assert isinstance(info.value.__cause__, RuntimeError)


# --------------------------------------------------------------------------- refused


def never_called(state_dict, x, d_out):
    raise AssertionError("a refused call must not run the backward")


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(kinds="lstmm"), ValueError, "kinds must be 'rnn', 'lstm' or 'gru'.*got 'lstmm'"),
    (dict(kinds=[]), ValueError, "kinds must be"),
    (dict(kinds=3), TypeError, "kinds must be"),
    (dict(bias="yes"), TypeError, "bias must be a bool or a sequence of bools, got 'yes'"),
    (dict(bidirectional=()), ValueError, "bidirectional must be a bool"),
    (dict(num_layers=0), ValueError, "num_layers must be at least 1, got 0"),
    (dict(num_layers=(3, 1)), ValueError, "num_layers is the range \\(3, 1\\).*no value"),
    (dict(seq_len=2.5), TypeError, "seq_len must be an int or a \\(low, high\\) pair"),
    (dict(rtol=-1.0), ValueError, "rtol must be >= 0"),
    (dict(configs=5), TypeError, "configs must be a strategy of RecurrentConfig"),
    (dict(configs=[]), TypeError, "configs must be"),
    (dict(configs=[RecurrentConfig("rnn", 2, 1, 1, 1)], kinds="lstm"), ValueError,
     "none of the 1 configurations given satisfies kinds='lstm'"),
    (dict(make_layer="rnn"), TypeError, "make_layer must be callable"),
    (dict(settings=dict(max_examples=3)), TypeError, "settings must be a hypothesis.settings"),
])
def test_invalid_constraints_are_refused_before_anything_runs(kwargs, error, message):
    with pytest.raises(error, match="check_hand_backward: " + message):
        check_hand_backward(never_called, **kwargs)


def test_a_hand_fn_that_is_not_callable_is_refused():
    with pytest.raises(TypeError, match="check_hand_backward: hand_fn must be callable"):
        check_hand_backward({"weight_ih": 0}, kinds="rnn")


def test_constraints_that_contradict_the_configs_strategy_are_refused():
    with pytest.raises(ValueError, match="no configuration that satisfies kinds='rnn'"):
        check_hand_backward(never_called, recurrent_configs(kinds="lstm"), kinds="rnn",
                            settings=QUICK)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(kinds="lstmm"), ValueError, "kinds must be"),
    (dict(bias=None), TypeError, "bias must be a value or a range, got None"),
    (dict(hidden_size=(2, 1)), ValueError, "hidden_size is the range"),
])
def test_recurrent_configs_refuses_the_same(kwargs, error, message):
    with pytest.raises(error, match="recurrent_configs: " + message):
        recurrent_configs(**kwargs)


def test_the_issues_dropped_carry_is_named_from_the_summed_gradients_and_printed_once():
    """The mistake of the issue (dh_next dropped): check_hand_backward hands compare_grads
    the layer and its input, so the summed parameter gradients are diagnosed as a dropped
    carry, not "a constant scale factor"; the summary is printed once, first."""
    with pytest.raises(HandBackwardError) as info:
        check_hand_backward(rnn_backward_without_carry_reading_biases, kinds="rnn", bias=True,
                            **ONE_LAYER, settings=QUICK)
    err = info.value
    kinds = {d.kind for d in err.diagnoses}
    assert kinds == {"missing_recurrent_carry"}, err.diagnoses
    text = str(err)
    assert text.splitlines()[0].endswith(err.comparison.summary)
    assert text.count(err.comparison.summary) == 1 and "MISMATCH" in text
