"""The modules of issue 15: LayerNorm, Sequential, ModuleDict, Identity and the activation
modules, against torch.nn: names, state_dict keys, reprs, outputs and gradients after
loading a torch model's weights, and argument errors."""

import warnings
from collections import OrderedDict

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, nn

torch = pytest.importorskip("torch")


def load_torch_weights(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def assert_same_model(ours, theirs, x):
    """Same state_dict keys and shapes, same output and input gradient on x (float64)."""
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert ([v.shape for v in ours.state_dict().values()]
            == [tuple(v.shape) for v in theirs.state_dict().values()])
    load_torch_weights(ours, theirs)
    xs, xt = Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = ours(xs), theirs(xt)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(1).normal(size=out.shape)
    (out * Tensor(g)).sum().backward()
    (expected * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    for (name, p), (name_t, pt) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert name == name_t
        np.testing.assert_allclose(p.grad, pt.grad.numpy(), rtol=1e-12, atol=1e-12)


X = np.random.default_rng(0).normal(size=(5, 3)) * 2


def test_a_sequential_mlp_matches_torch_after_loading_its_weights():
    torch.manual_seed(0)
    ours = nn.Sequential(nn.Linear(3, 8), nn.LayerNorm(8), nn.GELU(), nn.Linear(8, 8),
                         nn.SiLU(), nn.Linear(8, 4), nn.LogSoftmax(dim=-1))
    theirs = torch.nn.Sequential(
        torch.nn.Linear(3, 8), torch.nn.LayerNorm(8), torch.nn.GELU(), torch.nn.Linear(8, 8),
        torch.nn.SiLU(), torch.nn.Linear(8, 4), torch.nn.LogSoftmax(dim=-1)).double()
    with torch.no_grad():  # not the default ones and zeros
        theirs[1].weight.uniform_(0.5, 1.5)
        theirs[1].bias.uniform_(-1, 1)
    assert_same_model(ours, theirs, X)
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("make", [
    lambda m: m.ReLU(), lambda m: m.Tanh(), lambda m: m.Sigmoid(), lambda m: m.Identity(),
    lambda m: m.GELU(), lambda m: m.GELU(approximate="tanh"), lambda m: m.SiLU(),
    lambda m: m.Softplus(), lambda m: m.Softplus(beta=2, threshold=1.5),
    lambda m: m.LeakyReLU(), lambda m: m.LeakyReLU(0.2), lambda m: m.ELU(),
    lambda m: m.ELU(alpha=0.5), lambda m: m.Softmax(dim=1), lambda m: m.LogSoftmax(dim=0),
    lambda m: m.Softmax(dim=-1),
])
def test_each_activation_module_matches_torch_in_repr_values_and_gradients(make):
    ours, theirs = make(nn), make(torch.nn)
    assert repr(ours) == repr(theirs)
    x = X.copy()
    x[0, 0] = 0.0  # a kink
    assert_same_model(nn.Sequential(ours), torch.nn.Sequential(theirs), x)


@pytest.mark.parametrize("kwargs", [{}, {"bias": False}, {"elementwise_affine": False},
                                    {"eps": 0.1}])
def test_layer_norm_module_matches_torch(kwargs):
    x = np.random.default_rng(2).normal(size=(2, 3, 4))
    theirs = torch.nn.LayerNorm((3, 4), **kwargs).double()
    ours = nn.LayerNorm((3, 4), **kwargs)
    assert repr(ours) == repr(theirs)
    if theirs.weight is not None:
        np.testing.assert_array_equal(ours.weight.data, np.ones((3, 4)))  # torch's init
        with torch.no_grad():
            theirs.weight.normal_()
    if theirs.bias is not None:
        np.testing.assert_array_equal(ours.bias.data, np.zeros((3, 4)))
        with torch.no_grad():
            theirs.bias.normal_()
    assert_same_model(ours, theirs, x)


def test_layer_norm_takes_an_int_and_refuses_a_float32_input_for_float64_weights():
    ln = nn.LayerNorm(3)
    assert ln.normalized_shape == (3,)
    with pytest.raises(TypeError, match="LayerNorm: the input has dtype float32"):
        ln(X.astype(np.float32))
    assert ln.float()(X.astype(np.float32)).dtype == np.float32


def test_sequential_from_an_ordered_dict_keeps_the_names_as_torch():
    ours = nn.Sequential(OrderedDict(enc=nn.Linear(3, 4), act=nn.Tanh(), dec=nn.Linear(4, 2)))
    theirs = torch.nn.Sequential(OrderedDict(enc=torch.nn.Linear(3, 4), act=torch.nn.Tanh(),
                                             dec=torch.nn.Linear(4, 2))).double()
    assert_same_model(ours, theirs, X)
    assert repr(ours) == repr(theirs)
    assert repr(ours[1:]) == repr(theirs[1:])  # a slice keeps the names


def test_sequential_indexing_len_iteration_and_append():
    a, b, c = nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)
    s = nn.Sequential(a, b)
    assert len(s) == 2 and s[0] is a and s[-1] is b and list(s) == [a, b]
    assert s.append(c) is s
    assert len(s) == 3 and s[2] is c
    assert list(s.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert isinstance(s[:2], nn.Sequential) and list(s[:2]) == [a, b]
    np.testing.assert_array_equal(s(X).data, c(b(a(X))).data)
    assert len(nn.Sequential()) == 0 and nn.Sequential()(X) is X
    with pytest.raises(IndexError, match="Sequential: index 3 is out of range for 3"):
        s[3]
    with pytest.raises(TypeError, match="Sequential indices must be ints"):
        s["0"]


def test_sequential_refuses_what_is_not_a_module_and_adds_nothing():
    with pytest.raises(TypeError, match="Sequential: expected modules, got 3"):
        nn.Sequential(nn.ReLU(), 3)
    s = nn.Sequential(nn.ReLU())
    with pytest.raises(TypeError, match="Sequential.append: expected a Module"):
        s.append(torch.nn.ReLU())
    assert len(s) == 1
    with pytest.raises(KeyError, match="hold no '.'"):
        nn.Sequential(OrderedDict([("a.b", nn.ReLU())]))


def test_a_sequential_inside_a_module_list_names_as_torch():
    ours = nn.ModuleList([nn.Sequential(nn.Linear(2, 2), nn.Tanh())])
    theirs = torch.nn.ModuleList([torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Tanh())])
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["0.0.weight", "0.0.bias"]


def test_module_dict_names_reprs_and_mapping_methods_as_torch():
    ours = nn.ModuleDict({"enc": nn.Linear(3, 4), "act": nn.Tanh()})
    theirs = torch.nn.ModuleDict({"enc": torch.nn.Linear(3, 4), "act": torch.nn.Tanh()})
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["enc.weight", "enc.bias"]
    assert repr(ours) == repr(theirs)
    assert list(ours) == ["enc", "act"] and "enc" in ours and "dec" not in ours
    ours["dec"] = nn.Linear(4, 2)
    assert len(ours) == 3 and ours.keys() == ["enc", "act", "dec"]
    assert [name for name, _ in ours.named_parameters()] == [
        "enc.weight", "enc.bias", "dec.weight", "dec.bias"]
    dec = ours.pop("dec")
    assert isinstance(dec, nn.Linear) and "dec" not in ours and len(ours) == 2
    del ours["act"]
    assert ours.keys() == ["enc"]
    ours.update([("act", nn.ReLU())])
    assert ours.items() == [("enc", ours["enc"]), ("act", ours["act"])]
    ours.clear()
    assert len(ours) == 0 and list(ours.parameters()) == []


def test_module_dict_refuses_bad_names_and_values_and_changes_nothing():
    d = nn.ModuleDict({"enc": nn.Linear(3, 4)})
    for key, error, words in [("keys", KeyError, "'keys' is already an attribute"),
                              ("training", KeyError, "'training' is already an attribute"),
                              ("a.b", KeyError, "hold no '.'"), ("", KeyError, "non-empty"),
                              (1, TypeError, "module names must be str")]:
        with pytest.raises(error, match=words):
            d[key] = nn.ReLU()
    with pytest.raises(TypeError, match="ModuleDict: expected a Module, got 5"):
        d.update({"act": nn.ReLU(), "x": 5})
    assert d.keys() == ["enc"]
    with pytest.raises(KeyError, match="ModuleDict: no module named 'dec'"):
        d["dec"]
    with pytest.raises(NotImplementedError, match="ModuleDict has no forward"):
        d(X)


def test_softmax_without_dim_takes_torchs_implicit_dim_and_warns():
    for shape in [(4,), (2, 3), (2, 3, 4), (2, 3, 4, 5)]:
        x = np.random.default_rng(3).normal(size=shape)
        with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
            ours = nn.Softmax()(x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = torch.nn.Softmax()(torch.tensor(x))
        np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12)


@pytest.mark.parametrize("call, error, words", [
    (lambda: nn.LayerNorm(0.5), TypeError, "nn.LayerNorm: normalized_shape must be"),
    (lambda: nn.LayerNorm(3, eps="small"), TypeError, "nn.LayerNorm: eps must be a real"),
    (lambda: nn.LayerNorm(3, elementwise_affine=1), TypeError,
     "nn.LayerNorm: elementwise_affine must be a bool"),
    (lambda: nn.LayerNorm(3, bias="no"), TypeError, "nn.LayerNorm: bias must be a bool"),
    (lambda: nn.LayerNorm(3)(np.ones((2, 4))), tr.ShapeError, "layer_norm: normalized_shape"),
    (lambda: nn.GELU("exact"), ValueError, "nn.GELU: approximate must be one of"),
    (lambda: nn.Softplus(beta=0), ValueError, "nn.Softplus: beta must be non-zero"),
    (lambda: nn.Softplus(threshold=None), TypeError, "nn.Softplus: threshold"),
    (lambda: nn.LeakyReLU("0.1"), TypeError, "nn.LeakyReLU: negative_slope"),
    (lambda: nn.ELU(alpha=float("nan")), ValueError, "nn.ELU: alpha"),
    (lambda: nn.ReLU(inplace=True), ValueError, "nn.ReLU: inplace=True is not supported"),
    (lambda: nn.ReLU(inplace="no"), TypeError, "nn.ReLU: inplace must be a bool"),
    (lambda: nn.Softmax(dim=1.0), TypeError, "nn.Softmax: dim must be an int or None"),
    (lambda: nn.LogSoftmax(dim=2)(X), tr.ShapeError, "log_softmax"),
])
def test_bad_module_arguments_are_refused_in_their_words(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)
