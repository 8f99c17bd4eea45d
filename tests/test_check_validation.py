"""Issue 14: the gradient checks and ``replay.scan`` refuse bad arguments at the door,
in their own words (which argument, what was expected, what was given), and a
gradient check fails, saying which, when the output does not depend on a tensor
it was asked to check."""

import contextlib
import re

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, replay


def leaf(*shape, seed=0, requires_grad=True, name=None):
    data = np.random.default_rng(seed).uniform(-1, 1, shape)
    return Tensor(data, requires_grad=requires_grad, name=name)


def double(a):
    return a * 2


# --------------------------------------------------------------------------- gradcheck

GRADCHECK_REFUSALS = [
    # (call, exception, message fragment)
    (lambda t: tr.gradcheck(double, [np.ones(3)]), TypeError,
     "input 0 must be a Tensor, got ndarray"),
    (lambda t: tr.gradcheck(lambda a, k: a * k, [t, 3.0]), TypeError,
     "input 1 must be a Tensor, got float"),
    (lambda t: tr.gradcheck(double, None), TypeError, "inputs must be a list or tuple of Tensors"),
    (lambda t: tr.gradcheck(double, np.ones(3)), TypeError, "inputs must be a list or tuple"),
    (lambda t: tr.gradcheck("fn", [t]), TypeError, "fn must be callable"),
    (lambda t: tr.gradcheck(double, [t], eps=0), ValueError, "eps must be > 0, got 0.0"),
    (lambda t: tr.gradcheck(double, [t], eps=-1e-6), ValueError, "eps must be > 0"),
    (lambda t: tr.gradcheck(double, [t], eps=float("nan")), ValueError,
     "eps must be a finite number"),
    (lambda t: tr.gradcheck(double, [t], eps="1e-6"), TypeError, "eps must be a real number"),
    (lambda t: tr.gradcheck(double, [t], atol=-1.0), ValueError, "atol must be >= 0"),
    (lambda t: tr.gradcheck(double, [t], rtol=float("nan")), ValueError,
     "rtol must be a finite number"),
    (lambda t: tr.gradcheck(double, [t], atol=float("inf")), ValueError,
     "atol must be a finite number"),
    (lambda t: tr.gradcheck(double, [t], seed=-1), ValueError, "seed must be an int >= 0"),
    (lambda t: tr.gradcheck(double, [t], seed=0.5), TypeError, "seed must be an int"),
    (lambda t: tr.gradcheck(double, [t], raise_exception="no"), TypeError,
     "raise_exception must be a bool"),
    (lambda t: tr.gradcheck(double, [t.detach()]), ValueError,
     "gradcheck: expects at least one input tensor to require gradient"),
    (lambda t: tr.gradcheck(double, [t], params=[t]), TypeError,
     "params must be a dict name -> Tensor"),
    (lambda t: tr.gradcheck(double, [t], params=tr.nn.Linear(2, 2)), TypeError,
     "pass dict(module.named_parameters())"),
    (lambda t: tr.gradcheck(double, [t], params={"w": np.ones(2)}), TypeError,
     "params['w'] must be a Tensor, got ndarray"),
    (lambda t: tr.gradcheck(double, [t], params={0: leaf(2)}), TypeError,
     "the keys of params must be str"),
    (lambda t: tr.gradcheck(double, [t], params={"w": leaf(2, requires_grad=False)}),
     ValueError, "params['w'] does not require grad"),
    (lambda t: tr.gradcheck_report(double, [np.ones(3)]), TypeError, "input 0 must be a Tensor"),
    (lambda t: tr.gradcheck_report(double, [t], eps=0.0), ValueError, "eps must be > 0"),
    (lambda t: tr.numerical_grad(double, [np.ones(3)]), TypeError,
     "numerical_grad: input 0 must be a Tensor"),
    (lambda t: tr.numerical_grad(double, [t], eps=0), ValueError,
     "numerical_grad: eps must be > 0"),
    (lambda t: tr.numerical_grad(double, [t], wrt=t), TypeError, "wrt must be a list of Tensors"),
    (lambda t: tr.numerical_grad(double, [t], wrt=[np.ones(3)]), TypeError,
     "wrt[0] must be a Tensor, got ndarray"),
    (lambda t: tr.numerical_grad(double, [t], grad_outputs=[np.ones(4)]), ValueError,
     "grad_outputs[0] has shape (4,), but output 0 has shape (3,)"),
    (lambda t: tr.numerical_grad(double, [t], grad_outputs=[np.ones(3)] * 2), ValueError,
     "grad_outputs has 2 arrays, but fn returned 1 outputs"),
    (lambda t: tr.numerical_grad(double, [t], grad_outputs=[["a"] * 3]), TypeError,
     "grad_outputs[0] must be an array of numbers"),
]


@pytest.mark.parametrize("call, exception, fragment", GRADCHECK_REFUSALS)
def test_gradcheck_refuses_bad_arguments_in_its_own_words(call, exception, fragment):
    t = leaf(3)
    before = t.data.copy()
    with pytest.raises(exception, match=re.escape(fragment)):
        call(t)
    assert np.array_equal(t.data, before) and t.grad is None


UNREACHED = [
    # (fn, inputs, params, the tensor named in the headline, the note)
    (lambda a: a.detach() * 0, [leaf(3)], None, "input 0",
     "the output does not depend on input 0: it is not in the graph; pass it with "
     "requires_grad=False if that is intended"),
    (lambda a, b: a * 2, [leaf(3), leaf(2, seed=1)], None, "input 1",
     "the output does not depend on input 1: it is not in the graph"),
    (lambda a, b: a * 2, [leaf(3), leaf(2, seed=1, name="b")], None, "b",
     "the output does not depend on input 1 (b): it is not in the graph"),
    (lambda a: a * 2, [leaf(3)], {"w": leaf(2)}, "w",
     "the output does not depend on params['w']: it is not in the graph; leave it out of "
     "params if that is intended"),
    (lambda a: Tensor(a.data * 2), [leaf(3)], None, "input 0",
     "the output does not depend on input 0"),  # through .data: numerics see it, autograd not
]


@pytest.mark.parametrize("fn, inputs, params, name, note", UNREACHED)
def test_gradcheck_fails_naming_an_input_the_output_does_not_depend_on(fn, inputs, params,
                                                                        name, note):
    with pytest.raises(tr.GradcheckError, match=f"the output does not depend on {name}:"):
        tr.gradcheck(fn, inputs, params=params)
    assert tr.gradcheck(fn, inputs, params=params, raise_exception=False) is False
    report = tr.gradcheck_report(fn, inputs, params=params)
    assert not report.ok and [row.name for row in report.unreached] == [name]
    assert note in str(report)
    assert all(t.grad is None for t in inputs)  # left as found


def test_a_gradient_that_is_zero_but_flows_is_checked_and_passes():
    # in the graph, with a zero derivative: autograd and differences agree, nothing unreached
    t = leaf(3)
    report = tr.gradcheck_report(lambda a: a * 0, [t])
    assert report.ok and not report.unreached and not report.notes


def test_a_lone_tensor_is_a_list_of_one_as_in_torch():
    t = leaf(3)
    assert tr.gradcheck(lambda a: a.tanh(), t)
    torch = pytest.importorskip("torch")
    assert torch.autograd.gradcheck(lambda a: a.tanh(), torch.tensor(t.data, requires_grad=True))
    (g,) = tr.numerical_grad(lambda a: (a * a).sum(), t)
    np.testing.assert_allclose(g, 2 * t.data, rtol=1e-6)


# --------------------------------------------------------------------------- replay.scan

CELL = tr.nn.RNNCell(3, 4)
XS = Tensor(np.random.default_rng(1).standard_normal((5, 2, 3)), requires_grad=True)
H0 = Tensor(np.zeros((2, 4)))
WEIGHTS = list(CELL.parameters())


def rnn_step(x, h):
    return CELL(x, h)


def lstm_like_step(x, h, c):
    return CELL(x, h), c


SCAN_REFUSALS = [
    # (call, exception, message fragment)
    (lambda: replay.scan(rnn_step, [XS], None, fixed=WEIGHTS), TypeError,
     "states must be a list or tuple of tensors, got None"),
    (lambda: replay.scan(rnn_step, [XS], H0, fixed=WEIGHTS), TypeError,
     "states must be a list or tuple of tensors; got a single Tensor, write [h0]"),
    (lambda: replay.scan(rnn_step, [XS], [], fixed=WEIGHTS), ValueError,
     "states must hold at least one tensor"),
    (lambda: replay.scan(rnn_step, [XS], [[0.0] * 4], fixed=WEIGHTS), TypeError,
     "states[0] must be a Tensor or an array, got [0.0, 0.0, 0.0, 0.0] (list)"),
    (lambda: replay.scan(rnn_step, XS, [H0], fixed=WEIGHTS), TypeError,
     "sequences must be a list or tuple of tensors; got a single Tensor, write [x]"),
    (lambda: replay.scan(rnn_step, XS.data, [H0], fixed=WEIGHTS), TypeError,
     "got a single ndarray, write [x]"),
    (lambda: replay.scan(rnn_step, None, [H0], fixed=WEIGHTS), TypeError,
     "sequences must be a list or tuple of tensors, got None"),
    (lambda: replay.scan(rnn_step, [], [H0], fixed=WEIGHTS), ValueError,
     "the sequences need one length along axis 0, at least 1, got shapes []"),
    (lambda: replay.scan(rnn_step, ["abc"], [H0], fixed=WEIGHTS), TypeError,
     "sequences[0] must be a Tensor or an array, got 'abc'"),
    (lambda: replay.scan(rnn_step, [XS], [H0], fixed=WEIGHTS[0]), TypeError,
     "fixed must be a list or tuple of tensors; got a single Parameter, write [w]"),
    (lambda: replay.scan(rnn_step, [XS], [H0], fixed=[w.data for w in WEIGHTS]), TypeError,
     "fixed[0] must be a Tensor, one of the very objects the step reads"),
    (lambda: replay.scan(rnn_step, [XS], [H0], fixed={"w": WEIGHTS[0].data}), TypeError,
     "fixed['w'] must be a Tensor"),
    (lambda: replay.scan(rnn_step, [XS], [H0], fixed={1: WEIGHTS[0]}), TypeError,
     "the keys of fixed must be str"),
    (lambda: replay.scan(rnn_step, [XS], [H0], fixed=WEIGHTS, reverse="no"), TypeError,
     "reverse must be a bool"),
    (lambda: replay.scan("step", [XS], [H0], fixed=WEIGHTS), TypeError,
     "step must be callable"),
    # arity: one argument per sequence, then one per state
    (lambda: replay.scan(rnn_step, [XS], [H0, H0], fixed=WEIGHTS), TypeError,
     "called as step(*x_t, *state) with 3 positional argument(s), 1 sequence slice(s) then "
     "2 state tensor(s), but its signature is rnn_step(x, h)"),
    (lambda: replay.scan(lstm_like_step, [XS], [H0], fixed=WEIGHTS), TypeError,
     "with 2 positional argument(s), 1 sequence slice(s) then 1 state tensor(s), but its "
     "signature is lstm_like_step(x, h, c)"),
    (lambda: replay.scan(rnn_step, [XS, XS], [H0], fixed=WEIGHTS), TypeError,
     "2 sequence slice(s) then 1 state tensor(s)"),
    (lambda: replay.scan(tr.nn.LSTMCell(3, 4), [XS], [H0, H0]), TypeError,  # forward(x, state)
     "but its signature is LSTMCell(x"),
    # what the step returns, checked after its first step
    (lambda: replay.scan(lambda x, h: (CELL(x, h), h), [XS], [H0], fixed=WEIGHTS), TypeError,
     "the step must return the new state, 1 tensor(s) like the state it was given, got 2 "
     "values"),
    (lambda: replay.scan(lambda x, h: x, [XS], [H0], fixed=WEIGHTS), ValueError,
     "the step returned state 0 of shape (2, 3), but the initial state 0 has shape (2, 4)"),
    (lambda: replay.scan(lambda x, h: CELL(x, h).sum(), [XS], [H0], fixed=WEIGHTS), ValueError,
     "the step returned state 0 of shape (), but the initial state 0 has shape (2, 4)"),
]


# (a step returning a state of another shape also falls back, with its warning, first)
@pytest.mark.filterwarnings("ignore::tinygrad_rnn.replay.ScanFallbackWarning")
@pytest.mark.parametrize("scanned", [True, False], ids=["replayed", "op by op"])
@pytest.mark.parametrize("call, exception, fragment", SCAN_REFUSALS)
def test_scan_refuses_bad_arguments_in_its_own_words(call, exception, fragment, scanned):
    weights = [w.data.copy() for w in WEIGHTS]
    context = contextlib.nullcontext() if scanned else replay.disabled()
    with context, pytest.raises(exception, match=re.escape(fragment)):
        call()
    assert all(np.array_equal(w.data, before) for w, before in zip(WEIGHTS, weights))
    assert all(t.grad is None for t in [XS, H0, *WEIGHTS])


@pytest.mark.parametrize("scanned", [True, False], ids=["replayed", "op by op"])
def test_scan_accepts_what_its_docs_allow(scanned):
    context = contextlib.nullcontext() if scanned else replay.disabled()
    with context:
        reference, (h,) = replay.scan(rnn_step, [XS], [H0], fixed=WEIGHTS)
        for states, fixed in [((H0,), tuple(WEIGHTS)), ([H0.data], iter(WEIGHTS)),
                              ([H0], dict(CELL.named_parameters())), ([H0], CELL)]:
            out, _ = replay.scan(rnn_step, [XS], states, fixed=fixed)
            assert np.array_equal(out.data, reference.data)
        # a Module as the step, checked by its forward's signature; a bare tensor returned
        out, _ = replay.scan(CELL, (XS.data,), [H0], fixed=WEIGHTS)
        assert np.array_equal(out.data, reference.data)


# --------------------------------------------------------------------------- gradcheck_layer

RNN = tr.nn.RNN(3, 2).double()
X = np.random.default_rng(2).standard_normal((2, 3))

LAYER_REFUSALS = [
    # (call, exception, message fragment)
    (lambda: tr.gradcheck_layer("lstm", X), TypeError,
     "gradcheck_layer: layer must be a Module (an nn.RNN, a cell, a module of your own), "
     "got 'lstm'"),
    (lambda: tr.gradcheck_layer(RNN, "abc"), TypeError,
     "x must be a Tensor or an array of numbers, got 'abc'"),
    (lambda: tr.gradcheck_layer(RNN, None), TypeError, "x must be a Tensor or an array"),
    (lambda: tr.gradcheck_layer(RNN, X, "h0"), TypeError,
     "state must be a Tensor or an array of numbers, got 'h0'"),
    (lambda: tr.gradcheck_layer(RNN, X, (np.zeros((1, 2)), None)), TypeError,
     "state[1] must be a Tensor or an array of numbers, got None"),
    (lambda: tr.gradcheck_layer(RNN, X, eps=0), ValueError, "eps must be > 0, got 0.0"),
    (lambda: tr.gradcheck_layer(RNN, X, atol=-1), ValueError, "atol must be >= 0"),
    (lambda: tr.gradcheck_layer(RNN, X, rtol=float("nan")), ValueError,
     "rtol must be a finite number"),
    (lambda: tr.gradcheck_layer(RNN, X, seed=1.5), TypeError, "seed must be an int"),
    (lambda: tr.gradcheck_layer(RNN, X, per_step="no"), TypeError,
     "per_step must be a bool (True or False), got 'no'"),
    (lambda: tr.gradcheck_layer(RNN, X, unroll=1), TypeError, "unroll must be a bool"),
    (lambda: tr.gradcheck_layer(RNN, X, raise_exception=0), TypeError,
     "raise_exception must be a bool"),
    (lambda: tr.gradcheck_layer(RNN, X, gates=3), TypeError,
     "gates must be a str such as 'ifgo' or a sequence of gate names, got 3 (int)"),
    (lambda: tr.gradcheck_layer(RNN, X, gates=["i", 2]), TypeError,
     "each gate name must be a str, got 2 (int)"),
    (lambda: tr.gradcheck_layer(RNN, X, gates="iifo"), ValueError,
     "gate names must be distinct, got ['i', 'i', 'f', 'o']"),
    (lambda: tr.gradcheck_layer(RNN, X, atl=1e-3), TypeError,
     "gradcheck_layer: unknown option 'atl'; it takes gates, per_step"),
    (lambda: tr.layercheck.layercheck_report(RNN, X, eps=-1.0), ValueError, "eps must be > 0"),
]


@pytest.mark.parametrize("call, exception, fragment", LAYER_REFUSALS)
def test_gradcheck_layer_refuses_bad_arguments_in_its_own_words(call, exception, fragment):
    weights = {n: p.data.copy() for n, p in RNN.named_parameters()}
    RNN.train()
    with pytest.raises(exception, match=re.escape(fragment)):
        call()
    assert RNN.training  # its mode as it was
    assert all(np.array_equal(p.data, weights[n]) and p.grad is None
               for n, p in RNN.named_parameters())


def test_gradcheck_layer_takes_gates_as_a_str_or_a_list_and_state_as_arrays():
    lstm = tr.nn.LSTM(3, 2).double()
    state = (np.zeros((1, 2)), Tensor(np.ones((1, 2)) * 0.1))
    assert tr.gradcheck_layer(lstm, X, state, gates="ifgo", per_step=False)
    assert tr.gradcheck_layer(lstm, Tensor(X), list(state), gates=["i", "f", "g", "o"],
                              per_step=False)


CHECK_LAYER_GRADIENTS_REFUSALS = [
    (dict(make_layer="rnn"), TypeError, "check_layer_gradients: make_layer must be callable"),
    (dict(per_step="yes"), TypeError, "check_layer_gradients: per_step must be a bool"),
    (dict(eps=0.0), ValueError, "check_layer_gradients: eps must be > 0"),
    (dict(tolerance=1e-3), TypeError, "check_layer_gradients: unknown option 'tolerance'"),
]


@pytest.mark.parametrize("kwargs, exception, fragment", CHECK_LAYER_GRADIENTS_REFUSALS)
def test_check_layer_gradients_refuses_bad_options_before_drawing_a_configuration(
        kwargs, exception, fragment):
    from tinygrad_rnn.testing import check_layer_gradients, recurrent_configs

    drawn = []

    def make_layer(config):
        drawn.append(config)
        return config.layer()

    kwargs.setdefault("make_layer", make_layer)
    with pytest.raises(exception, match=re.escape(fragment)):
        check_layer_gradients(recurrent_configs(kinds="rnn", seq_len=1, batch=1, input_size=1,
                                                hidden_size=1), **kwargs)
    assert drawn == []


# --------------------------------------------------------------------------- compare_grads

G = {"w": np.ones((3, 2)), "b": np.ones(2)}
OFF = {"w": np.full((3, 2), 2.0), "b": np.zeros(2)}  # wrong, so that every option is used

COMPARE_REFUSALS = [
    # (call, exception, message fragment)
    (lambda: tr.compare_grads(None, G), TypeError,
     "compare_grads: expected must be a dict name -> array (or Tensor), or a Module, got None"),
    (lambda: tr.compare_grads(G, np.ones(3)), TypeError, "actual must be a dict name -> array"),
    (lambda: tr.compare_grads(G, [("w", 1)]), TypeError, "actual must be a dict"),
    (lambda: tr.compare_grads({0: np.ones(2)}, {0: np.ones(2)}), TypeError,
     "the names in expected must be str, got 0 (int)"),
    (lambda: tr.compare_grads(G, {**G, "b": "x"}), TypeError,
     "actual['b'] must be an array of numbers, got 'x'"),
    (lambda: tr.compare_grads(G, {**G, "b": [[1.0], [2.0, 3.0]]}), TypeError,
     "actual['b'] must be an array of numbers"),
    (lambda: tr.compare_grads(G, {**G, "b": Tensor(np.ones(2))}), ValueError,
     "'b' has no gradient (did backward run?)"),
    (lambda: tr.compare_grads({"w": G["w"]}, G), KeyError, "not in expected ['b']"),
    (lambda: tr.compare_grads(G, OFF, rtol=-1e-5), ValueError, "rtol must be >= 0"),
    (lambda: tr.compare_grads(G, OFF, atol=float("nan")), ValueError,
     "atol must be a finite number"),
    (lambda: tr.compare_grads(G, OFF, atol="0"), TypeError, "atol must be a real number"),
    (lambda: tr.compare_grads(G, OFF, time_axis=2), ValueError,
     "time_axis is 2, but 'w' has 2 dimension(s) (shape (3, 2))"),
    (lambda: tr.compare_grads(G, OFF, time_axis=1.0), TypeError,
     "time_axis must be an int, a dict name -> int or None, got 1.0 (float)"),
    (lambda: tr.compare_grads(G, OFF, time_axis={"v": 0}), ValueError,
     "time_axis names ['v'], which are not among the gradients ['b', 'w']"),
    (lambda: tr.compare_grads(G, OFF, time_axis={"b": -2}), ValueError,
     "time_axis['b'] is -2, but 'b' has 1 dimension(s)"),
    (lambda: tr.compare_grads(G, OFF, time_axis={"b": "0"}), TypeError,
     "time_axis['b'] must be an int, got '0'"),
    (lambda: tr.compare_grads(G, OFF, activations=np.ones(2)), TypeError,
     "activations must be a dict name -> array"),
    (lambda: tr.compare_grads(G, OFF, activations={"h": np.ones(2)}), ValueError,
     "activations names ['h'], which are not among the gradients"),
    (lambda: tr.compare_grads(G, OFF, activations={"w": np.ones((4, 2))}), ValueError,
     "activations['w'] has shape (4, 2), which does not broadcast to the gradient's (3, 2)"),
    (lambda: tr.compare_grads(G, OFF, activations={"b": np.ones((3, 2))}), ValueError,
     "activations['b'] has shape (3, 2), which does not broadcast"),
]


@pytest.mark.parametrize("call, exception, fragment", COMPARE_REFUSALS)
def test_compare_grads_refuses_bad_arguments_in_its_own_words(call, exception, fragment):
    with pytest.raises(exception, match=re.escape(fragment)):
        call()


def test_compare_grads_takes_what_its_docs_allow():
    report = tr.compare_grads(G, OFF, time_axis={"w": 0}, activations={"w": np.ones(2)})
    assert not report.ok and report["b"].diagnoses
    report = tr.compare_grads(G, {k: v.tolist() for k, v in G.items()}, time_axis=-1)
    assert report.ok
