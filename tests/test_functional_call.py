"""``tr.func.functional_call``: a module as a function of its parameters, as torch.func's;
and the transforms through it (an hvp with respect to a layer's weights, against
torch's at 1e-10, scanned and op by op)."""

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, nn

KINDS = ["RNN", "LSTM", "GRU"]


def _layer(kind, **kwargs):
    tr.manual_seed(3)
    return getattr(nn, kind)(3, 4, **kwargs).double()


def _named(layer):
    return {name: p for name, p in layer.named_parameters()}


def test_the_call_uses_the_given_tensors_and_puts_the_parameters_back():
    layer = nn.Linear(3, 2).double()
    x = np.random.default_rng(0).standard_normal((5, 3))
    w, b = np.ones((2, 3)), np.full(2, 0.5)
    before = _named(layer)
    out = tr.func.functional_call(layer, {"weight": w, "bias": b}, (x,))
    np.testing.assert_array_equal(out.data, x @ w.T + b)  # (independently: the formula)
    assert _named(layer) == before and all(_named(layer)[n] is p for n, p in before.items())
    # a subset: the others are the module's own
    out = tr.func.functional_call(layer, {"bias": b}, x)
    np.testing.assert_allclose(out.data, x @ layer.weight.data.T + b, rtol=1e-15)


@pytest.mark.parametrize("kind", KINDS)
def test_a_layers_shared_parameters_are_swapped_wherever_they_are(kind):
    """A built-in layer's cells hold the layer's parameters too: tie_weights (torch's
    default) swaps them there as well, so a zero weight set makes zero gates."""
    layer = _layer(kind)
    x = np.random.default_rng(1).standard_normal((4, 2, 3))
    zeros = {n: np.zeros(p.shape) for n, p in layer.named_parameters()}
    out, _ = tr.func.functional_call(layer, zeros, (x,))
    # every gate is sigmoid(0) = 1/2 or tanh(0) = 0, so h stays 0 from its zero start
    np.testing.assert_array_equal(out.data, np.zeros(out.shape))
    reference, _ = layer(Tensor(x))
    assert np.abs(reference.data).max() > 1e-3  # (the layer's own weights are back)


def test_a_refused_call_names_the_argument_and_changes_nothing():
    layer = _layer("LSTM")
    before = {n: (p, p.data.copy()) for n, p in layer.named_parameters()}
    x = np.zeros((2, 1, 3))
    cases = [
        ({"weight_ih": np.zeros((16, 3))}, ValueError, "has no parameter 'weight_ih'"),
        ({"weight_ih_l0": np.zeros((3, 16))}, ValueError, "'weight_ih_l0' has shape (16, 3)"),
        ([1, 2], TypeError, "parameter_and_buffer_dicts must be a dict"),
        (({"bias_ih_l0": np.zeros(16)}, {"bias_ih_l0": np.zeros(16)}), ValueError,
         "more than one dict"),
        ({"bias_ih_l0": "zeros"}, TypeError, "the value of 'bias_ih_l0'"),
    ]
    for given, error, words in cases:
        with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
            tr.func.functional_call(layer, given, (x,))
    with pytest.raises(ValueError, match="strict=True, but no tensor is given for 'weight_hh_l0'"):
        tr.func.functional_call(layer, {"weight_ih_l0": np.zeros((16, 3))}, (x,), strict=True)
    for n, p in layer.named_parameters():
        assert p is before[n][0]
        np.testing.assert_array_equal(p.data, before[n][1])


def test_the_parameters_come_back_when_the_call_raises():
    layer = _layer("GRU")
    before = _named(layer)
    with pytest.raises(Exception):  # noqa: B017 (the layer's own error, whatever it is)
        tr.func.functional_call(layer, {"bias_hh_l0": np.zeros(12)}, (np.zeros((2, 1, 5)),))
    assert all(_named(layer)[n] is p for n, p in before.items())
    assert all(c.bias_hh is layer.bias_hh_l0 for c in layer.cells)


def test_without_tie_weights_only_the_named_attribute_is_swapped():
    class Tied(nn.Module):
        def __init__(self):
            self.a = nn.Parameter(np.ones(2))
            self.b = self.a  # one parameter, two names (named_parameters lists it once)

        def forward(self):
            return self.a * 10 + self.b

    module = Tied()
    assert [n for n, _ in module.named_parameters()] == ["a"]
    np.testing.assert_array_equal(tr.func.functional_call(module, {"a": np.zeros(2)}).data,
                                  [0.0, 0.0])
    np.testing.assert_array_equal(
        tr.func.functional_call(module, {"a": np.zeros(2)}, tie_weights=False).data, [1.0, 1.0])


@pytest.mark.parametrize("op_by_op", [False, True], ids=["scanned", "op by op"])
@pytest.mark.parametrize("kind", KINDS)
def test_hvp_with_respect_to_a_layers_weights_as_torch(kind, op_by_op):
    torch = pytest.importorskip("torch")
    layer = _layer(kind, num_layers=2, bidirectional=True)
    names = list(_named(layer))
    weights = tuple(p.data.copy() for p in layer.parameters())
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 2, 3))
    vs = tuple(rng.standard_normal(w.shape) for w in weights)

    def loss(*w):
        out, _ = tr.func.functional_call(layer, dict(zip(names, w)), (x,))
        return (out * out).sum()

    if op_by_op:
        with tr.replay.disabled():
            value, products = tr.func.hvp(loss, weights, vs)
    else:
        value, products = tr.func.hvp(loss, weights, vs)
    theirs = getattr(torch.nn, kind)(3, 4, num_layers=2, bidirectional=True).double()

    def t_loss(*w):
        out, _ = torch.func.functional_call(theirs, dict(zip(names, w)), (torch.tensor(x),))
        return (out * out).sum()

    t_value, t_products = torch.autograd.functional.hvp(
        t_loss, tuple(map(torch.tensor, weights)), tuple(map(torch.tensor, vs)))
    np.testing.assert_allclose(value.data, t_value.numpy(), rtol=1e-12)
    for ours, t in zip(products, t_products):
        scale = max(1.0, float(t.abs().max()))
        np.testing.assert_allclose(ours.data, t.numpy(), rtol=1e-10, atol=1e-10 * scale)
