"""tr.to_torch and tr.from_torch: a module of ours as a torch module with the same weights.

The references are torch's own layers (nn.LSTM -> torch.nn.LSTM) and, for the four
literature cells of examples/cells.py, the torch twins written by hand in
tests/test_cells_example.py: what to_torch makes must agree with ours in values and
every gradient to 1e-12 in float64 (and so with those twins). Refusals name the op and
the line, and change nothing. Without torch, only the import test runs.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from test_examples import load_example

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, functional as F, nn
from tinygrad_rnn.nn.utils import rnn as rnn_utils

try:
    import torch
except ImportError:  # the comparisons are skipped, the import test runs
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")
cells = load_example("cells")
CELLS = cells.CELLS
CLOSE = dict(rtol=1e-12, atol=1e-12)


def test_importing_the_package_does_not_import_torch():
    code = ("import sys, tinygrad_rnn as tr; tr.to_torch, tr.from_torch, tr.ToTorchError; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_to_torch_error_is_a_type_error():
    assert issubclass(tr.ToTorchError, TypeError)


# --------------------------------------------------------------------------- helpers


def randomized(module, seed=0):
    """``module`` with every parameter drawn afresh (layer norms' gains off their ones)."""
    rng = np.random.default_rng(seed)
    for p in module.parameters():
        p.data[...] = rng.uniform(-0.8, 0.8, p.shape)
    return module


def leaves(arrays):
    return [Tensor(a.copy(), requires_grad=True) for a in arrays], \
        [torch.tensor(a.copy(), requires_grad=True) for a in arrays]


def flat(value):
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in flat(v)]
    return [value]


def backward_both(ours_out, theirs_out, seed=1):
    """Backward a random weighting of every output, here and on torch."""
    ours_out, theirs_out = flat(ours_out), flat(theirs_out)
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(t.shape) for t in ours_out]
    sum((t * Tensor(w)).sum() for t, w in zip(ours_out, weights)).backward()
    sum((t * torch.tensor(w)).sum() for t, w in zip(theirs_out, weights)).backward()
    return ours_out, theirs_out


def assert_same(ours, twin, ours_out, theirs_out, our_leaves=(), their_leaves=()):
    """Outputs, the leaves' gradients and every parameter's gradient, to 1e-12."""
    ours_out, theirs_out = backward_both(ours_out, theirs_out)
    assert len(ours_out) == len(theirs_out)
    for a, b in zip(ours_out, theirs_out):
        np.testing.assert_allclose(a.data, b.detach().numpy(), **CLOSE)
    for a, b in zip(our_leaves, their_leaves, strict=True):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), **CLOSE)
    theirs = dict(twin.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, theirs[name].grad.numpy(), **CLOSE, err_msg=name)


def same_names_and_values(ours, twin):
    theirs = dict(twin.named_parameters())
    assert list(theirs) == [n for n, _ in ours.named_parameters()]
    assert list(twin.state_dict()) == list(ours.state_dict())
    for name, p in ours.named_parameters():
        assert theirs[name].dtype == torch.float64
        np.testing.assert_array_equal(p.data, theirs[name].detach().numpy())


def states_for(layer, batch, rng, unbatched=False):
    first = layer.cell(0).initial_state(1)
    d_l = layer.num_layers * layer.num_directions
    shapes = [(d_l, *s.shape[1:]) if unbatched else (d_l, batch, *s.shape[1:]) for s in first]
    return [rng.standard_normal(s) for s in shapes]


def given_state(arrays_or_tensors):
    return arrays_or_tensors[0] if len(arrays_or_tensors) == 1 else tuple(arrays_or_tensors)


def run_layer_both(layer, twin, x_np, state_np):
    ours_leaves, theirs_leaves = leaves([x_np, *state_np])
    state = given_state(ours_leaves[1:]) if state_np else None
    tstate = given_state(theirs_leaves[1:]) if state_np else None
    out = layer(ours_leaves[0], state)
    tout = twin(theirs_leaves[0], tstate)
    return out, tout, ours_leaves, theirs_leaves


# --------------------------------------------------------------------------- the four cells


@needs_torch
@pytest.mark.parametrize("name", sorted(CELLS))
@pytest.mark.parametrize("num_layers, bidirectional, batch_first",
                         [(2, True, False), (3, False, True), (1, True, True)])
def test_literature_cells_run_their_own_step_on_torch_to_1e_12(name, num_layers, bidirectional,
                                                               batch_first):
    tr.manual_seed(5)
    layer = randomized(nn.Recurrent(CELLS[name], 3, 4, num_layers=num_layers,
                                    bidirectional=bidirectional, batch_first=batch_first), 5)
    twin = tr.to_torch(layer)
    same_names_and_values(layer, twin)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 5, 3) if batch_first else (5, 2, 3))
    out, tout, ours_leaves, theirs_leaves = run_layer_both(layer, twin, x,
                                                           states_for(layer, 2, rng))
    assert_same(layer, twin, out, tout, ours_leaves, theirs_leaves)


@needs_torch
@pytest.mark.parametrize("name", sorted(CELLS))
def test_literature_cells_agree_with_their_hand_written_torch_twins(name):
    """The twin of to_torch and the torch cell written by hand in test_cells_example give
    the same numbers (so to_torch is checked against an independent torch version)."""
    hand = load_example_test_twins()
    tr.manual_seed(2)
    layer = randomized(nn.Recurrent(CELLS[name], 3, 4, num_layers=2, bidirectional=True), 2)
    twin = tr.to_torch(layer)
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.standard_normal((4, 2, 3)))
    state = [torch.tensor(s) for s in states_for(layer, 2, rng)]
    out, final = twin(x, given_state(state))
    ref_out, ref_finals, _ = hand.torch_layer(layer, hand.TORCH_STEPS[name], x, state)
    torch.testing.assert_close(out, ref_out, **CLOSE)
    for a, b in zip(flat(final), ref_finals, strict=True):
        torch.testing.assert_close(a, b, **CLOSE)


def load_example_test_twins():
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    import test_cells_example

    return test_cells_example


@needs_torch
@pytest.mark.parametrize("name", sorted(CELLS))
def test_literature_cells_run_packed_and_unbatched_as_ours(name):
    tr.manual_seed(1)
    layer = randomized(nn.Recurrent(CELLS[name], 2, 3, num_layers=2, bidirectional=True), 1)
    twin = tr.to_torch(layer)
    rng = np.random.default_rng(2)
    lengths = [3, 5, 1, 4]  # unsorted: sorted_indices and unsorted_indices at work
    x_np = rng.standard_normal((5, 4, 2))
    state_np = states_for(layer, 4, rng)
    ours_leaves, theirs_leaves = leaves([x_np, *state_np])
    packed = rnn_utils.pack_padded_sequence(ours_leaves[0], lengths, enforce_sorted=False)
    tpacked = torch.nn.utils.rnn.pack_padded_sequence(theirs_leaves[0], torch.tensor(lengths),
                                                      enforce_sorted=False)
    out, final = layer(packed, given_state(ours_leaves[1:]))
    tout, tfinal = twin(tpacked, given_state(theirs_leaves[1:]))
    assert isinstance(tout, torch.nn.utils.rnn.PackedSequence)
    np.testing.assert_array_equal(tout.batch_sizes.numpy(), out.batch_sizes)
    assert_same(layer, twin, [out.data, final], [tout.data, tfinal], ours_leaves, theirs_leaves)

    layer.zero_grad()
    x1 = rng.standard_normal((4, 2))  # unbatched (T, I), state (D*L, H)
    s1 = states_for(layer, 1, rng, unbatched=True)
    out, tout, ours_leaves, theirs_leaves = run_layer_both(layer, twin, x1, s1)
    twin.zero_grad()
    for t in theirs_leaves:
        t.grad = None
    assert tout[0].shape == out[0].shape
    assert_same(layer, twin, out, tout, ours_leaves, theirs_leaves)


@needs_torch
@pytest.mark.parametrize("name", sorted(CELLS))
def test_a_lone_cell_runs_one_step_as_ours(name):
    tr.manual_seed(3)
    cell = randomized(CELLS[name](3, 4), 3)
    twin = tr.to_torch(cell)
    same_names_and_values(cell, twin)
    rng = np.random.default_rng(4)
    x_np, state_np = rng.standard_normal((2, 3)), [rng.standard_normal((2, 4))
                                                    for _ in cell.state_names]
    ours_leaves, theirs_leaves = leaves([x_np, *state_np])
    out = cell(ours_leaves[0], given_state(ours_leaves[1:]))
    tout = twin(theirs_leaves[0], given_state(theirs_leaves[1:]))
    assert_same(cell, twin, out, tout, ours_leaves, theirs_leaves)
    unbatched = twin(torch.tensor(x_np[0]))  # (I,): the zero state, unbatched as ours
    expected = cell(Tensor(x_np[0]))
    for a, b in zip(flat(expected), flat(unbatched), strict=True):
        np.testing.assert_allclose(a.data, b.detach().numpy(), **CLOSE)


# --------------------------------------------------------------------------- built-in layers


LAYER_CONFIGS = [
    ("RNN", dict(num_layers=2, bidirectional=True)),
    ("RNN", dict(nonlinearity="relu", bias=False, batch_first=True)),
    ("LSTM", dict(num_layers=2, bidirectional=True, proj_size=2)),
    ("LSTM", dict(batch_first=True, bias=False, num_layers=2, dropout=0.5)),
    ("GRU", dict(num_layers=3, bidirectional=True)),
    ("GRU", dict(batch_first=True, bias=False)),
]


@needs_torch
@pytest.mark.parametrize("kind, kwargs", LAYER_CONFIGS)
def test_built_in_layers_become_torch_s_own_with_our_names(kind, kwargs):
    tr.manual_seed(0)
    layer = randomized(getattr(nn, kind)(3, 4, **kwargs).double()).eval()
    twin = tr.to_torch(layer)
    assert type(twin) is getattr(torch.nn, kind)
    assert not twin.training
    for setting in ("num_layers", "bias", "batch_first", "dropout", "bidirectional"):
        assert getattr(twin, setting) == getattr(layer, setting), setting
    same_names_and_values(layer, twin)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 3) if layer.batch_first else (5, 2, 3))
    out, tout, ours_leaves, theirs_leaves = run_layer_both(layer, twin, x,
                                                           states_for(layer, 2, rng))
    assert_same(layer, twin, out, tout, ours_leaves, theirs_leaves)


@needs_torch
@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_built_in_layers_packed_as_torch(kind):
    tr.manual_seed(0)
    layer = randomized(getattr(nn, kind)(2, 3, bidirectional=True, num_layers=2).double())
    twin = tr.to_torch(layer)
    lengths = [2, 4, 3]
    x_np = np.random.default_rng(1).standard_normal((4, 3, 2))
    ours_leaves, theirs_leaves = leaves([x_np])
    out, final = layer(rnn_utils.pack_padded_sequence(ours_leaves[0], lengths,
                                                      enforce_sorted=False))
    tout, tfinal = twin(torch.nn.utils.rnn.pack_padded_sequence(
        theirs_leaves[0], torch.tensor(lengths), enforce_sorted=False))
    assert_same(layer, twin, [out.data, final], [tout.data, tfinal], ours_leaves, theirs_leaves)


@needs_torch
@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_built_in_cells_become_torch_s_cells(kind):
    tr.manual_seed(0)
    cell = randomized(getattr(nn, kind)(3, 4).double())
    twin = tr.to_torch(cell)
    assert type(twin) is getattr(torch.nn, kind)
    same_names_and_values(cell, twin)
    x_np = np.random.default_rng(1).standard_normal((2, 3))
    ours_leaves, theirs_leaves = leaves([x_np])
    assert_same(cell, twin, cell(ours_leaves[0]), twin(theirs_leaves[0]), ours_leaves,
                theirs_leaves)


@needs_torch
@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_built_in_cells_in_a_recurrent_run_their_step_functions_on_torch(kind):
    tr.manual_seed(0)
    layer = randomized(nn.Recurrent(getattr(nn, kind), 3, 4, num_layers=2,
                                    bidirectional=True).double())
    twin = tr.to_torch(layer)
    same_names_and_values(layer, twin)
    rng = np.random.default_rng(1)
    out, tout, ours_leaves, theirs_leaves = run_layer_both(
        layer, twin, rng.standard_normal((4, 2, 3)), states_for(layer, 2, rng))
    assert_same(layer, twin, out, tout, ours_leaves, theirs_leaves)


@needs_torch
@settings(deadline=None, max_examples=20)
@given(kind=st.sampled_from(["CIFG LSTM", "JANET", "LSTM", "GRU"]),
       input_size=st.integers(1, 3), hidden=st.integers(1, 3), steps=st.integers(1, 4),
       batch=st.integers(1, 3), num_layers=st.integers(1, 2), bidirectional=st.booleans(),
       batch_first=st.booleans(), seed=st.integers(0, 100))
def test_any_small_layer_agrees_with_its_torch_twin(kind, input_size, hidden, steps, batch,
                                                     num_layers, bidirectional, batch_first,
                                                     seed):
    tr.manual_seed(seed)
    settings_ = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
    if kind in CELLS:
        layer = nn.Recurrent(CELLS[kind], input_size, hidden, **settings_)
    else:
        layer = getattr(nn, kind)(input_size, hidden, **settings_)
    layer = randomized(layer.double(), seed)
    twin = tr.to_torch(layer)
    rng = np.random.default_rng(seed)
    shape = (batch, steps, input_size) if batch_first else (steps, batch, input_size)
    out, tout, ours_leaves, theirs_leaves = run_layer_both(
        layer, twin, rng.standard_normal(shape), states_for(layer, batch, rng))
    assert_same(layer, twin, out, tout, ours_leaves, theirs_leaves)


# --------------------------------------------------------------------------- other modules


class Adder(nn.Module):
    """A user's model: a layer of a custom cell, then a read-out, its forward using our
    functions (Tensor, F.gelu, tr.stack)."""

    def __init__(self, cell_class, hidden):
        self.rnn = nn.Recurrent(cell_class, 2, hidden)
        self.head = nn.Linear(hidden, 1)
        self.scale = 0.5

    def forward(self, x):
        out, _ = self.rnn(Tensor(x))
        last = tr.stack([out[-1], out[0]], dim=0).sum(dim=0)
        return self.head(F.gelu(last)) * self.scale


@needs_torch
def test_a_module_of_yours_runs_its_forward_on_torch():
    tr.manual_seed(0)
    model = randomized(Adder(cells.PeepholeLSTMCell, 3).double())
    twin = tr.to_torch(model)
    assert isinstance(twin, torch.nn.Module)
    same_names_and_values(model, twin)
    x = np.random.default_rng(1).standard_normal((4, 2, 2))
    assert_same(model, twin, model(x), twin(torch.tensor(x)))


@needs_torch
def test_sequential_linear_layer_norm_embedding_and_activations():
    tr.manual_seed(0)
    model = nn.Sequential(OrderedDict([
        ("embed", nn.Embedding(7, 4, padding_idx=0)),
        ("body", nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.LayerNorm(5), nn.Dropout(0.3),
                               nn.GELU(approximate="tanh"), nn.Linear(5, 3, bias=False))),
        ("act", nn.LogSoftmax(dim=-1)),
    ])).double().eval()
    randomized(model)
    twin = tr.to_torch(model)
    assert isinstance(twin, torch.nn.Sequential) and isinstance(twin.body[2], torch.nn.LayerNorm)
    assert twin.embed.padding_idx == 0 and not twin.training
    same_names_and_values(model, twin)
    idx = np.array([[1, 0, 6], [2, 3, 3]])
    assert_same(model, twin, model(idx), twin(torch.tensor(idx)))


@needs_torch
def test_a_shared_parameter_stays_shared():
    class Tied(nn.Module):
        def __init__(self):
            self.embed = nn.Embedding(5, 3)
            self.out = nn.Linear(3, 5, bias=False)
            self.out.weight = self.embed.weight

        def forward(self, idx):
            return self.out(self.embed(idx))

    model = Tied().double()
    twin = tr.to_torch(model)
    assert twin.out.weight is twin.embed.weight
    assert [n for n, _ in twin.named_parameters()] == [n for n, _ in model.named_parameters()]


@needs_torch
def test_training_mode_is_carried_and_the_layer_s_cells_follow_train_and_eval():
    layer = nn.Recurrent(cells.JANETCell, 2, 3, num_layers=2, dropout=0.5)
    twin = tr.to_torch(layer)
    assert twin.training and all(c.training for c in twin.cells)
    twin.eval()
    assert not twin.training and not any(c.training for c in twin.cells)
    assert tr.to_torch(layer.eval()).training is False


@needs_torch
def test_a_twin_s_weights_replaced_by_load_state_dict_assign_are_the_ones_used():
    tr.manual_seed(0)
    layer = nn.Recurrent(cells.CIFGCell, 2, 3).double()
    twin = tr.to_torch(layer)
    x = torch.tensor(np.random.default_rng(0).standard_normal((3, 1, 2)))
    before = twin(x)[0]
    doubled = {k: v * 2 for k, v in twin.state_dict().items()}
    twin.load_state_dict(doubled, assign=True)
    after = twin(x)[0]
    assert not torch.allclose(before, after)
    layer.load_state_dict({k: v.numpy() for k, v in doubled.items()})
    np.testing.assert_allclose(layer(x.numpy())[0].data, after.detach().numpy(), **CLOSE)


@needs_torch
def test_conversions_in_threads_agree():
    tr.manual_seed(0)
    layer = randomized(nn.Recurrent(cells.LayerNormLSTMCell, 2, 3, bidirectional=True).double())
    x = torch.tensor(np.random.default_rng(0).standard_normal((3, 2, 2)))
    results, errors = [None] * 4, []

    def work(k):
        try:
            results[k] = tr.to_torch(layer)(x)[0].detach()
        except Exception as error:  # pragma: no cover  (reported below)
            errors.append(error)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for r in results[1:]:
        torch.testing.assert_close(r, results[0], rtol=0, atol=0)


# --------------------------------------------------------------------------- weights back


@needs_torch
@pytest.mark.parametrize("make", [
    lambda: nn.Recurrent(cells.LayerNormLSTMCell, 2, 3, num_layers=2, bidirectional=True),
    lambda: nn.LSTM(2, 3, num_layers=2, proj_size=1),
    lambda: Adder(cells.JANETCell, 3),
])
def test_round_trip_keeps_the_weights_bit_identical(make):
    tr.manual_seed(0)
    model = make().double()
    before = model.state_dict()
    twin = tr.to_torch(model)
    assert tr.from_torch(twin, like=model) is model
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    # trained on torch: every weight changes, and comes back bit for bit
    opt = torch.optim.SGD(twin.parameters(), lr=0.1)
    for p in twin.parameters():
        p.grad = torch.randn_like(p)
    opt.step()
    tr.from_torch(twin, like=model)
    for name, p in twin.named_parameters():
        assert not np.array_equal(model.state_dict()[name], before[name])
        np.testing.assert_array_equal(model.state_dict()[name], p.detach().numpy())


@needs_torch
def test_from_torch_refuses_weights_that_do_not_fit_and_changes_nothing():
    tr.manual_seed(0)
    model = nn.LSTM(2, 3).double()
    before = model.state_dict()
    wrong_shape = torch.nn.LSTM(2, 4).double()
    with pytest.raises(tr.ToTorchError, match=r"weight_ih_l0: shape \(16, 2\) in torch_module"):
        tr.from_torch(wrong_shape, like=model)
    with pytest.raises(tr.ToTorchError, match="dtype torch.float32 in torch_module"):
        tr.from_torch(torch.nn.LSTM(2, 3), like=model)
    with pytest.raises(tr.ToTorchError, match="weight_ih_l1: in torch_module but not in like"):
        tr.from_torch(torch.nn.LSTM(2, 3, num_layers=2).double(), like=model)
    with pytest.raises(tr.ToTorchError, match="running_mean: a buffer"):
        tr.from_torch(torch.nn.BatchNorm1d(3).double(), like=nn.LayerNorm(3).double())
    with pytest.raises(tr.ToTorchError, match="torch_module must be a torch.nn.Module"):
        tr.from_torch(model, like=model)
    with pytest.raises(tr.ToTorchError, match="like must be an nn.Module"):
        tr.from_torch(wrong_shape, like=wrong_shape)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


# --------------------------------------------------------------------------- refusals


class NumpyInStep(cells.JANETCell):
    def step(self, xp, state):
        (c,) = state
        a_f, a_g = (xp + self.recurrent(c)).chunk(2, dim=-1)
        return a_f.sigmoid() * c + np.float64(0.5) * a_g.tanh()


class DataInStep(cells.CIFGCell):
    def step(self, xp, state):
        h, c = state
        a_f, a_g, a_o = (xp + self.recurrent(h)).chunk(3, dim=-1)
        f = a_f.sigmoid() + Tensor(self.bias_ih.data[:1] * 0)
        c = f * c + (1 - f) * a_g.tanh()
        return a_o.sigmoid() * c.tanh(), c


class OurOnlyFunction(cells.JANETCell):
    def step(self, xp, state):
        (c,) = state
        a_f, a_g = (xp + self.recurrent(c)).chunk(2, dim=-1)
        return tr.nn.cells.as_tensor("step", "a_f", a_f).sigmoid() * c + a_g.tanh()


class SizeAsNumber(cells.JANETCell):
    def step(self, xp, state):
        (c,) = state
        a_f, a_g = (xp + self.recurrent(c)).chunk(2, dim=-1)
        return a_f.sigmoid() * c + a_g.tanh() / a_g.size


class SpelledAlike(cells.JANETCell):
    """Behaves differently on a torch tensor in a way no rule of to_torch foresees: the
    check on a test input catches it."""

    def step(self, xp, state):
        (c,) = state
        a_f, a_g = (xp + self.recurrent(c)).chunk(2, dim=-1)
        scale = 2.0 if type(xp).__module__.startswith("torch") else 1.0
        return a_f.sigmoid() * c + scale * a_g.tanh()


class MissingMethod(cells.JANETCell):
    def step(self, xp, state):
        (c,) = state
        a_f, a_g = (xp + self.recurrent(c)).chunk(2, dim=-1)
        a_g.zero_grad()  # (a method of our Tensor's that torch's lacks)
        return a_f.sigmoid() * c + a_g.tanh()


@needs_torch
@pytest.mark.parametrize("cell_class, words", [
    (NumpyInStep, r"numpy\.float64 is used in NumpyInStep\.step, line \d+"),
    (DataInStep, r"DataInStep\.step reads \.data \(line \d+"),
    (OurOnlyFunction, r"tinygrad_rnn\.nn has no torch twin.*OurOnlyFunction\.step, line \d+"),
    (SizeAsNumber, r"SizeAsNumber\.step reads \.size"),
    (SpelledAlike, r"SpelledAlike.*gives other numbers on torch"),
    (MissingMethod, r"fails on torch: AttributeError.*zero_grad.*MissingMethod\.step, "
                    r"line \d+"),
])
@pytest.mark.parametrize("as_layer", [True, False])
def test_a_cell_using_what_torch_lacks_is_refused_naming_the_op_and_line(cell_class, words,
                                                                          as_layer):
    tr.manual_seed(0)
    module = nn.Recurrent(cell_class, 2, 4, bidirectional=True) if as_layer \
        else cell_class(2, 4)
    module.train()
    before = module.state_dict()
    with pytest.raises(tr.ToTorchError, match=words):
        tr.to_torch(module)
    assert module.training and all(m.training for m in module.modules())
    for name, value in module.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


@needs_torch
def test_a_module_s_forward_using_numpy_is_refused_when_it_runs():
    class Bad(nn.Module):
        def __init__(self):
            self.lin = nn.Linear(2, 2)

        def forward(self, x):
            return self.lin(x) + Tensor(np.ones(2))

    twin = tr.to_torch(Bad())  # (no input to try it on: refused when it runs)
    with pytest.raises(tr.ToTorchError, match=r"numpy\.ones is used in .*Bad\.forward, line"):
        twin(torch.zeros(1, 2, dtype=torch.float64))


@needs_torch
def test_to_torch_refuses_what_is_not_a_module_of_ours():
    with pytest.raises(tr.ToTorchError, match="module must be an nn.Module of tinygrad_rnn"):
        tr.to_torch(torch.nn.Linear(2, 2))


def test_without_torch_to_torch_says_how_to_install_it():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import tinygrad_rnn as tr\n"
            "try:\n"
            "    tr.to_torch(tr.nn.Linear(2, 2))\n"
            "except ModuleNotFoundError as error:\n"
            "    assert error.name == 'torch' and 'pip install' in str(error), error\n"
            "else:\n"
            "    raise SystemExit('no error')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
