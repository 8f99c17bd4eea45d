"""nn.Module bookkeeping, Linear, Embedding, Dropout and nn.init."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, nn


class Net(nn.Module):
    def __init__(self):
        self.embed = nn.Embedding(5, 3)
        self.layers = nn.ModuleList([nn.Linear(3, 4), nn.Linear(4, 2, bias=False)])
        self.scale = nn.Parameter(np.ones(2))
        self.drop = nn.Dropout(0.25)

    def forward(self, idx):
        x = self.embed(idx)
        for layer in self.layers:
            x = layer(x).tanh()
        return self.drop(x) * self.scale


# as torch: a module's own parameters first, then its children's, depth first
NET_NAMES = ["scale", "embed.weight", "layers.0.weight", "layers.0.bias", "layers.1.weight"]


# --------------------------------------------------------------------------- walking the tree


def test_named_parameters_are_dotted_and_in_registration_order():
    net = Net()
    assert [name for name, _ in net.named_parameters()] == NET_NAMES
    assert [p.shape for p in net.parameters()] == [(2,), (5, 3), (4, 3), (4,), (2, 4)]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())


def test_names_and_repr_match_torch():
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):  # the same name, so that the reprs can be compared
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(5, 3)
            self.layers = torch.nn.ModuleList([torch.nn.Linear(3, 4),
                                               torch.nn.Linear(4, 2, bias=False)])
            self.scale = torch.nn.Parameter(torch.ones(2))
            self.drop = torch.nn.Dropout(0.25)

    ours, theirs = globals()["Net"](), Net()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    # torch's Dropout also prints inplace=False; everything else is the same text
    assert repr(ours) == repr(theirs).replace(", inplace=False", "")


def test_children_and_modules():
    net = Net()
    assert [name for name, _ in net.named_children()] == ["embed", "layers", "drop"]
    assert list(net.children()) == [net.embed, net.layers, net.drop]
    mods = list(net.modules())
    assert mods[0] is net and net.layers[1] in mods and len(mods) == 6
    assert len(net.layers) == 2 and list(net.layers) == [net.layers[0], net.layers[1]]


def test_a_shared_parameter_is_listed_once():
    class Tied(nn.Module):
        def __init__(self):
            self.a = nn.Linear(2, 2)
            self.b = nn.Linear(2, 2)
            self.b.weight = self.a.weight

    assert [n for n, _ in Tied().named_parameters()] == ["a.weight", "a.bias", "b.bias"]


def test_bias_false_registers_no_bias():
    assert [n for n, _ in nn.Linear(3, 2, bias=False).named_parameters()] == ["weight"]


def test_zero_grad_clears_every_gradient():
    net = Net()
    net(np.array([0, 1, 4])).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_train_and_eval_are_recursive():
    net = Net()
    assert net.training and net.drop.training
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


# --------------------------------------------------------------------------- state dicts


def test_state_dict_holds_copies():
    net = Net()
    sd = net.state_dict()
    assert list(sd) == NET_NAMES and all(type(v) is np.ndarray for v in sd.values())
    sd["scale"][:] = 7.0
    assert np.all(net.scale.data == 1.0)


def test_state_dict_round_trip():
    tr.manual_seed(0)
    a = Net()
    tr.manual_seed(1)
    b = Net()
    idx = np.array([[0, 3], [4, 4]])
    a.eval(), b.eval()
    assert not np.allclose(a(idx).data, b(idx).data)
    arrays_before = [p.data for p in b.parameters()]
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(a(idx).data, b(idx).data)
    # values are copied into the existing arrays (views of them stay valid)
    assert all(p.data is arr for p, arr in zip(b.parameters(), arrays_before))


def test_load_keeps_the_modules_dtype():
    lin = nn.Linear(3, 2).float()
    sd = {"weight": np.arange(6, dtype=np.float64).reshape(2, 3), "bias": np.array([1, 2])}
    lin.load_state_dict(sd)
    assert lin.weight.dtype == np.float32 and lin.bias.dtype == np.float32
    np.testing.assert_array_equal(lin.weight.data, sd["weight"].astype(np.float32))
    np.testing.assert_array_equal(lin.bias.data, [1.0, 2.0])


def test_bad_state_dict_lists_every_problem_and_changes_nothing():
    net = Net()
    before = net.state_dict()
    sd = net.state_dict()
    del sd["scale"]
    sd["layers.1.bias"] = np.zeros(2)
    sd["layers.0.weight"] = np.zeros((3, 4))
    sd["embed.weight"] = np.full((5, 3), 9.0)  # a good key: must not be written either
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(sd)
    msg = str(info.value)
    assert "missing keys: scale" in msg
    assert "unexpected keys: layers.1.bias" in msg
    assert "layers.0.weight" in msg and "(3, 4)" in msg and "(4, 3)" in msg
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_non_strict_load_reports_keys_but_still_refuses_bad_shapes():
    lin = nn.Linear(2, 2)
    result = lin.load_state_dict({"weight": np.eye(2), "extra": np.zeros(1)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(lin.weight.data, np.eye(2))
    with pytest.raises(RuntimeError, match="bias"):
        lin.load_state_dict({"bias": np.zeros(3)}, strict=False)


def test_object_arrays_are_refused():
    lin = nn.Linear(1, 1)
    with pytest.raises(RuntimeError, match="numeric"):
        lin.load_state_dict({"weight": np.array([[object()]]), "bias": np.zeros(1)})


def test_to_float_and_double_cast_parameters_and_grads():
    net = Net()
    net(np.array([1])).sum().backward()
    net.float()
    assert all(p.dtype == np.float32 and p.grad.dtype == np.float32 for p in net.parameters())
    out = net(np.array([1, 2]))
    assert out.dtype == np.float32
    net.double()
    assert all(p.dtype == np.float64 for p in net.parameters())
    with pytest.raises(TypeError):
        net.to(np.int32)


# --------------------------------------------------------------------------- Linear


@settings(max_examples=15, deadline=None)
@given(n_in=st.integers(1, 4), n_out=st.integers(1, 4), bias=st.booleans(),
       batch=st.sampled_from([(), (2,), (2, 3)]))
def test_linear_forward_and_gradcheck(n_in, n_out, bias, batch):
    lin = nn.Linear(n_in, n_out, bias=bias)
    x = Tensor(np.random.default_rng(0).standard_normal((*batch, n_in)), requires_grad=True)
    expected = x.data @ lin.weight.data.T + (lin.bias.data if bias else 0)
    np.testing.assert_allclose(lin(x).data, expected, rtol=1e-12)
    assert tr.gradcheck(lin, [x], params=dict(lin.named_parameters()))


def test_linear_init_is_uniform_within_torch_bound():
    tr.manual_seed(0)
    lin = nn.Linear(16, 400)
    k = 1 / 4.0
    w = lin.weight.data
    assert np.abs(w).max() <= k and np.abs(lin.bias.data).max() <= k
    # U(-k, k) has standard deviation k / sqrt(3)
    assert abs(w.std() - k / np.sqrt(3)) < 0.01 and abs(w.mean()) < 0.01


def test_linear_names_the_feature_size():
    with pytest.raises(ValueError, match="expected input with 3 features.*got 4"):
        nn.Linear(3, 2)(Tensor(np.ones((2, 4))))


# --------------------------------------------------------------------------- Embedding


def test_embedding_looks_up_rows_and_adds_gradients_of_repeats():
    emb = nn.Embedding(4, 2)
    idx = np.array([[1, 1], [3, 1]])
    out = emb(idx)
    assert out.shape == (2, 2, 2)
    np.testing.assert_array_equal(out.data, emb.weight.data[idx])
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad, [[0, 0], [3, 3], [0, 0], [1, 1]])


def test_embedding_accepts_scalars_and_index_tensors():
    emb = nn.Embedding(4, 2)
    np.testing.assert_array_equal(emb(2).data, emb.weight.data[2])
    np.testing.assert_array_equal(emb(Tensor([0, 3])).data, emb.weight.data[[0, 3]])


def test_embedding_init_is_standard_normal():
    tr.manual_seed(0)
    w = nn.Embedding(1000, 20).weight.data
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1.0) < 0.02


def test_embedding_padding_row_starts_at_zero_and_gets_no_gradient():
    emb = nn.Embedding(5, 3, padding_idx=-1)  # the last row, counted as torch counts
    assert emb.padding_idx == 4 and repr(emb) == "Embedding(5, 3, padding_idx=4)"
    np.testing.assert_array_equal(emb.weight.data[4], 0.0)
    emb.weight.data[4] = 7.0  # read like any other row ...
    out = emb(np.array([[4, 1], [4, 4]]))
    np.testing.assert_array_equal(out.data[0, 0], [7.0, 7.0, 7.0])
    (out * out).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad[4], 0.0)  # ... but never trained
    np.testing.assert_array_equal(emb.weight.grad[1], 2 * emb.weight.data[1])
    np.testing.assert_array_equal(emb.weight.grad[[0, 2, 3]], 0.0)
    with pytest.raises(ValueError, match=r"padding_idx must lie in \[-5, 5\), got 5"):
        nn.Embedding(5, 3, padding_idx=5)


def test_embedding_errors():
    emb = nn.Embedding(4, 2)
    with pytest.raises(IndexError, match=r"\[0, 4\)"):
        emb(np.array([0, 4]))
    with pytest.raises(TypeError, match="integers"):
        emb(np.array([0.5]))


# --------------------------------------------------------------------------- Dropout


def test_dropout_in_training_zeroes_and_rescales():
    tr.manual_seed(0)
    drop = nn.Dropout(0.25)
    x = Tensor(np.full((200, 50), 2.0), requires_grad=True)
    y = drop(x)
    kept = y.data != 0
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(y.data[kept], 2.0 / 0.75)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, kept / 0.75)  # the gradient goes through the mask


def test_dropout_in_eval_is_the_identity_and_training_is_reproducible():
    drop = nn.Dropout(0.5)
    x = Tensor(np.ones((10, 10)))
    tr.manual_seed(3)
    a = drop(x).data
    tr.manual_seed(3)
    np.testing.assert_array_equal(a, drop(x).data)
    assert drop.eval()(x) is x
    assert np.all(nn.Dropout(1.0)(x).data == 0)
    with pytest.raises(ValueError):
        nn.Dropout(1.5)


def test_dropout_keeps_float32():
    assert nn.Dropout(0.5)(Tensor(np.ones(4, dtype=np.float32))).dtype == np.float32


# --------------------------------------------------------------------------- init


def test_manual_seed_makes_init_reproducible():
    tr.manual_seed(42)
    a = Net().state_dict()
    tr.manual_seed(42)
    b = Net().state_dict()
    tr.manual_seed(43)
    c = Net().state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["layers.0.weight"], c["layers.0.weight"])


def test_constant_inits_keep_dtype():
    p = nn.Parameter(np.empty((2, 3), dtype=np.float32))
    assert nn.init.zeros_(p) is p and np.all(p.data == 0) and p.dtype == np.float32
    assert np.all(nn.init.ones_(p).data == 1)
    assert np.all(nn.init.constant_(p, 2.5).data == 2.5)


def test_xavier_bounds_and_spread():
    tr.manual_seed(0)
    p = nn.Parameter(np.empty((300, 200)))
    a = np.sqrt(6 / 500)
    nn.init.xavier_uniform_(p, gain=2.0)
    assert np.abs(p.data).max() <= 2 * a and abs(p.data.std() - 2 * a / np.sqrt(3)) < 0.01
    nn.init.xavier_normal_(p)
    assert abs(p.data.std() - np.sqrt(2 / 500)) < 0.002
    with pytest.raises(ValueError):
        nn.init.xavier_uniform_(nn.Parameter(np.empty(3)))


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4), (2, 3, 2)])
def test_orthogonal(shape):
    p = nn.Parameter(np.empty(shape))
    nn.init.orthogonal_(p, gain=1.5)
    m = p.data.reshape(shape[0], -1) / 1.5
    small = min(m.shape)
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)


def test_normal_and_uniform_parameters():
    tr.manual_seed(0)
    p = nn.Parameter(np.empty(20000))
    nn.init.uniform_(p, 2.0, 3.0)
    assert p.data.min() >= 2.0 and p.data.max() <= 3.0 and abs(p.data.mean() - 2.5) < 0.01
    nn.init.normal_(p, 1.0, 0.5)
    assert abs(p.data.mean() - 1.0) < 0.01 and abs(p.data.std() - 0.5) < 0.01


def test_nn_utils_is_part_of_the_public_surface():
    """``import tinygrad_rnn`` alone gives ``nn.utils.clip_grad_norm_`` (DESIGN.md's API)."""
    code = "import tinygrad_rnn as tr; print(tr.nn.utils.clip_grad_norm_.__name__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=pathlib.Path(__file__).parents[1])
    assert result.stdout.strip() == "clip_grad_norm_", result.stderr
