"""nn.RecurrentCell and nn.Recurrent: cells written as their step, run as torch's layers.

Each cell here is written twice: on the protocol, and in torch as a plain step
function looped over time (layers, directions, batch first, unbatched, packed)
with the same parameters copied in. Outputs, final states and every gradient
agree to 1e-10 in float64. Scanned (one Scan node per layer and direction) and
op by op agree bit for bit.
"""

import contextlib
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, nn, replay
from tinygrad_rnn.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from _helpers import graph_nodes

# --------------------------------------------------------------------------- the cells

class CIFGCell(nn.RecurrentCell):
    gates = ("f", "g", "o")        # row blocks of weight_ih, weight_hh, bias_ih, bias_hh, in order
    state_names = ("h", "c")       # default ("h",); state[0] is the output
    def step(self, xp, state):     # xp: this step's x_t W_ih^T + b_ih, shape (N, 3H)
        h, c = state
        f, g, o = (xp + self.recurrent(h)).chunk(3, dim=-1)   # recurrent(h) = h W_hh^T + b_hh
        f = f.sigmoid()
        c = f * c + (1 - f) * g.tanh()
        return o.sigmoid() * c.tanh(), c


class ElmanCell(nn.RecurrentCell):
    """The minimal cell: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh), one state."""

    def step(self, xp, state):
        (h,) = state
        return (xp + self.recurrent(h)).tanh()


class LeakyGainCell(nn.RecurrentCell):
    """A parameter of its own (gain) and a keyword argument (leak), and record()."""

    gates = ("a",)

    def __init__(self, input_size, hidden_size, bias=True, leak=0.25):
        super().__init__(input_size, hidden_size, bias)
        self.leak = leak
        self.gain = nn.Parameter(np.random.default_rng(hidden_size).uniform(0.5, 1.5, hidden_size))

    def step(self, xp, state):
        (h,) = state
        a = (self.gain * (xp + self.recurrent(h))).tanh()
        self.record(a=a)
        return h * self.leak + a * (1 - self.leak)


def torch_cifg(p, x, state):
    h, c = state
    pre = x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
    f, g, o = pre.chunk(3, -1)
    f = torch.sigmoid(f)
    c = f * c + (1 - f) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def torch_elman(p, x, state):
    (h,) = state
    return (torch.tanh(x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]),)


def torch_leaky(p, x, state, leak=0.25):
    (h,) = state
    pre = x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
    return (h * leak + torch.tanh(p["gain"] * pre) * (1 - leak),)


CELLS = {"cifg": (CIFGCell, torch_cifg, 2), "elman": (ElmanCell, torch_elman, 1),
         "leaky": (LeakyGainCell, torch_leaky, 1)}


class TorchRecurrent(torch.nn.Module):
    """The same layer in torch: the cells' parameters copied, a loop over time per layer
    and direction, one sequence (T, N, I) at a time."""

    def __init__(self, layer, step):
        super().__init__()
        self.step, self.layers, self.directions = step, layer.num_layers, layer.num_directions
        self.cells = torch.nn.ModuleList()
        for cell in layer.cells:
            params = torch.nn.ParameterDict({name: torch.nn.Parameter(torch.tensor(p.data))
                                             for name, p in cell.named_parameters()})
            holder = torch.nn.Module()
            holder.p = params
            self.cells.append(holder)

    def forward(self, x, state):
        finals = []
        for layer in range(self.layers):
            outputs = []
            for direction in range(self.directions):
                k = layer * self.directions + direction
                s = tuple(part[k] for part in state)
                steps = range(x.shape[0] - 1, -1, -1) if direction else range(x.shape[0])
                out = [None] * x.shape[0]
                for t in steps:
                    s = self.step(self.cells[k].p, x[t], s)
                    out[t] = s[0]
                outputs.append(torch.stack(out))
                finals.append(s)
            x = torch.cat(outputs, -1)
        return x, tuple(torch.stack(parts) for parts in zip(*finals))


def random_loss_weights(rng, tensors):
    return [rng.standard_normal(t.shape) for t in tensors]


# --------------------------------------------------------------------------- against torch

@st.composite
def configs(draw):
    return dict(kind=draw(st.sampled_from(sorted(CELLS))), I=draw(st.integers(1, 3)),
                H=draw(st.integers(1, 4)), T=draw(st.integers(1, 4)), N=draw(st.integers(1, 3)),
                num_layers=draw(st.integers(1, 3)), bidirectional=draw(st.booleans()),
                batch_first=draw(st.booleans()), unbatched=draw(st.booleans()),
                given_state=draw(st.booleans()), scanned=draw(st.booleans()),
                seed=draw(st.integers(0, 2**16)))


@settings(max_examples=40, deadline=None)
@given(configs())
def test_a_layer_of_any_cell_matches_torch_in_values_and_every_gradient(c):
    cell_class, torch_step, n_states = CELLS[c["kind"]]
    tr.manual_seed(c["seed"])
    layer = nn.Recurrent(cell_class, c["I"], c["H"], num_layers=c["num_layers"],
                         bidirectional=c["bidirectional"], batch_first=c["batch_first"])
    rng = np.random.default_rng(c["seed"])
    T, N, I, H, D_L = c["T"], c["N"], c["I"], c["H"], len(layer.cells)
    batch = () if c["unbatched"] else (N,)
    shape = (T, I) if c["unbatched"] else ((N, T, I) if c["batch_first"] else (T, N, I))
    x_data = rng.standard_normal(shape)
    s_data = [rng.standard_normal((D_L, *batch, H)) for _ in range(n_states)]
    x = Tensor(x_data, requires_grad=True)
    state = [Tensor(s, requires_grad=True) for s in s_data] if c["given_state"] else None
    given_state = None if state is None else (state[0] if n_states == 1 else tuple(state))
    if c["scanned"]:
        out, final = layer(x, given_state)
    else:
        with replay.disabled():
            out, final = layer(x, given_state)
    finals = final if isinstance(final, tuple) else (final,)
    assert isinstance(final, tuple) == (n_states > 1) and len(finals) == n_states
    assert out.shape == (*shape[:-1], layer.num_directions * H)
    assert all(f.shape == (D_L, *batch, H) for f in finals)
    weights = random_loss_weights(rng, [out, *finals])
    loss = sum((t * Tensor(w)).sum() for t, w in zip([out, *finals], weights))
    loss.backward()

    reference = TorchRecurrent(layer, torch_step).double()
    tx = torch.tensor(x_data, requires_grad=True)
    ts = [torch.tensor(s, requires_grad=True) for s in s_data]
    seq = tx.unsqueeze(1) if c["unbatched"] else (tx.transpose(0, 1) if c["batch_first"] else tx)
    s0 = [s.unsqueeze(1) if c["unbatched"] else s for s in ts] if c["given_state"] else \
        [torch.zeros(D_L, seq.shape[1], H, dtype=torch.float64)] * n_states
    tout, tfinals = reference(seq, s0)
    tout = tout[:, 0] if c["unbatched"] else (tout.transpose(0, 1) if c["batch_first"] else tout)
    tfinals = [f[:, 0] if c["unbatched"] else f for f in tfinals]
    tloss = sum((t * torch.tensor(w)).sum() for t, w in zip([tout, *tfinals], weights))
    tloss.backward()

    for ours, theirs in zip([out, *finals], [tout, *tfinals], strict=True):
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    if state is not None:
        for s, t in zip(state, ts, strict=True):
            np.testing.assert_allclose(s.grad, t.grad.numpy(), rtol=1e-10, atol=1e-12)
    for cell, holder in zip(layer.cells, reference.cells, strict=True):
        for name, p in cell.named_parameters():
            np.testing.assert_allclose(p.grad, holder.p[name].grad.numpy(),
                                       rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("kind", sorted(CELLS))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_a_packed_batch_gives_each_sequence_what_it_gives_alone(kind, bidirectional):
    cell_class, _, n_states = CELLS[kind]
    layer = nn.Recurrent(cell_class, 2, 3, num_layers=2, bidirectional=bidirectional)
    rng = np.random.default_rng(1)
    lengths = [2, 4, 1]
    x = Tensor(rng.standard_normal((4, 3, 2)), requires_grad=True)
    s0 = [rng.standard_normal((len(layer.cells), 3, 3)) for _ in range(n_states)]
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    out, final = layer(packed, s0[0] if n_states == 1 else tuple(s0))
    finals = final if isinstance(final, tuple) else (final,)
    padded, _ = pad_packed_sequence(out)
    (padded * Tensor(rng.standard_normal(padded.shape))).sum().backward()
    for n, length in enumerate(lengths):  # each sequence alone, unpadded
        alone = [Tensor(s[:, n:n + 1]) for s in s0]
        out_n, final_n = layer(x.data[:length, n:n + 1],
                               alone[0] if n_states == 1 else tuple(alone))
        # (a batch of 3 and a batch of 1 round their matmuls apart: an ulp of O(1) values,
        # which is a large relative error on a value near 0)
        np.testing.assert_allclose(padded.data[:length, n:n + 1], out_n.data, rtol=1e-12,
                                   atol=1e-15)
        assert not padded.data[length:, n].any()
        for f, f_n in zip(finals, final_n if isinstance(final_n, tuple) else (final_n,)):
            np.testing.assert_allclose(f.data[:, n:n + 1], f_n.data, rtol=1e-12, atol=1e-15)
    assert x.grad is not None and not x.grad[1:, 2].any()  # steps past a sequence's end


# --------------------------------------------------------------------------- scanned and op by op

def run(layer, x_data, state_data, packed_lengths, scanned, seed):
    x = Tensor(x_data, requires_grad=True)
    state = [Tensor(s, requires_grad=True) for s in state_data]
    given_state = state[0] if len(state) == 1 else tuple(state)
    inp = x if packed_lengths is None else pack_padded_sequence(x, packed_lengths,
                                                                enforce_sorted=False)
    layer.zero_grad()
    if scanned:
        out, final = layer(inp, given_state)
    else:
        with replay.disabled():
            out, final = layer(inp, given_state)
    out = out if packed_lengths is None else out.data
    finals = final if isinstance(final, tuple) else (final,)
    rng = np.random.default_rng(seed)
    loss = sum((t * Tensor(w)).sum() for t, w in zip([out, *finals],
                                                     random_loss_weights(rng, [out, *finals])))
    loss.backward()
    ops = [node.fn.__name__ for node in graph_nodes(loss)]
    return [out.data, *(f.data for f in finals), x.grad, *(s.grad for s in state),
            *(p.grad for p in layer.parameters())], ops


@pytest.mark.parametrize("kind", sorted(CELLS))
@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scanned_and_op_by_op_agree_bit_for_bit(kind, packed, dtype):
    cell_class, _, n_states = CELLS[kind]
    layer = nn.Recurrent(cell_class, 2, 3, num_layers=2, bidirectional=True).to(dtype)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3, 2)).astype(dtype)
    s0 = [rng.standard_normal((4, 3, 3)).astype(dtype) for _ in range(n_states)]
    lengths = [3, 4, 1] if packed else None
    scanned, scanned_ops = run(layer, x, s0, lengths, True, 3)
    op_by_op, op_by_op_ops = run(layer, x, s0, lengths, False, 3)
    node = f"{cell_class.__name__}Scan"
    assert scanned_ops.count(node) == 4 and node not in op_by_op_ops
    for a, b in zip(scanned, op_by_op, strict=True):
        assert a.dtype == b.dtype == dtype and np.array_equal(a, b)


def test_a_step_that_cannot_be_recorded_runs_op_by_op_with_the_same_result():
    class ReadsOutside(ElmanCell):
        extra = Tensor(np.full(3, 0.1), requires_grad=True)  # not a parameter of the cell

        def step(self, xp, state):
            return (xp + self.recurrent(state[0]) + self.extra).tanh()

    layer = nn.Recurrent(ReadsOutside, 2, 3)
    x = Tensor(np.random.default_rng(0).standard_normal((3, 1, 2)))
    with pytest.warns(replay.ScanFallbackWarning, match="shape \\(3,\\) that requires grad"):
        out, _ = layer(x)
    assert "ReadsOutsideScan" not in [n.fn.__name__ for n in graph_nodes(out)]
    with replay.disabled():
        expected, _ = layer(x)
    assert np.array_equal(out.data, expected.data)


def test_a_changed_setting_of_the_cell_is_not_replayed_from_an_old_recording():
    layer = nn.Recurrent(LeakyGainCell, 2, 3)
    x = Tensor(np.random.default_rng(0).standard_normal((3, 1, 2)))
    layer(x)
    layer.cell().leak = 0.75
    out, _ = layer(x)
    with replay.disabled():
        expected, _ = layer(x)
    assert np.array_equal(out.data, expected.data)


def test_recorded_values_name_the_generated_code_and_reach_gate_traces():
    layer = nn.Recurrent(LeakyGainCell, 2, 3, bidirectional=True)
    x_data = np.random.default_rng(0).standard_normal((4, 2, 2))
    out, _ = layer(x_data)
    scan = next(n for n in graph_nodes(out) if n.fn.__name__ == "LeakyGainCellScan")
    source = scan.fn.program.source(checks=False)
    assert "def forward(ctx, xp, h, weight_hh, bias_hh, gain):" in source and "a_gate" in source
    with tr.trace.record_gates() as rec:
        traced, _ = layer(x_data)
    gates = rec.of(layer)
    assert sorted(gates) == [(0, 0), (0, 1)] and sorted(gates[0, 0]) == ["a", "h"]
    np.testing.assert_array_equal(gates[0, 0]["h"], out.data[..., :3])
    np.testing.assert_array_equal(gates[0, 1]["h"], out.data[..., 3:])
    cell = layer.cell(0, 0)  # a = tanh(gain * (xp + h W_hh^T + b_hh)), from the outputs
    h_prev = np.concatenate([np.zeros((1, 2, 3)), out.data[:-1, :, :3]])
    pre = x_data @ cell.weight_ih.data.T + cell.bias_ih.data + h_prev @ cell.weight_hh.data.T \
        + cell.bias_hh.data
    np.testing.assert_allclose(gates[0, 0]["a"], np.tanh(cell.gain.data * pre), rtol=1e-12)
    assert np.array_equal(traced.data, out.data)


def test_record_is_a_no_op_when_nobody_looks():
    cell = LeakyGainCell(2, 3)
    x = Tensor(np.ones((1, 2)))
    h = cell(x)
    assert isinstance(h, Tensor) and h.shape == (1, 3) and h.name is None


# --------------------------------------------------------------------------- the cell alone

def test_the_cell_steps_as_torchs_cells_batched_and_unbatched():
    cell = CIFGCell(3, 4)
    assert [(n, p.shape) for n, p in cell.named_parameters()] == [
        ("weight_ih", (12, 3)), ("weight_hh", (12, 4)), ("bias_ih", (12,)), ("bias_hh", (12,))]
    assert all(np.abs(p.data).max() <= 0.5 for p in cell.parameters())  # U(-1/sqrt(4), ..)
    rng = np.random.default_rng(0)
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    p = {n: torch.tensor(v.data) for n, v in cell.named_parameters()}
    th, tc = torch_cifg(p, torch.tensor(x), (torch.tensor(h), torch.tensor(c)))
    ours = cell(x, (h, c))
    assert isinstance(ours, tuple) and len(ours) == 2
    np.testing.assert_allclose(ours[0].data, th.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours[1].data, tc.numpy(), rtol=1e-12)
    h1, c1 = cell(x[0], (h[0], c[0]))  # unbatched
    assert h1.shape == (4,) and np.allclose(h1.data, th.numpy()[0], rtol=1e-12)
    zeros = cell(x)  # no state: zeros
    tz = torch_cifg(p, torch.tensor(x), (torch.zeros(2, 4, dtype=torch.float64),) * 2)
    np.testing.assert_allclose(zeros[0].data, tz[0].numpy(), rtol=1e-12)
    lone = ElmanCell(3, 4, bias=False)
    assert lone.bias_ih is None and isinstance(lone(x), Tensor) and lone(x[0]).shape == (4,)


def test_gradcheck_of_a_layer_and_of_a_cell():
    layer = nn.Recurrent(CIFGCell, 2, 3, num_layers=2, bidirectional=True)
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((3, 2, 2)), requires_grad=True)
    h0 = Tensor(rng.standard_normal((4, 2, 3)), requires_grad=True)
    c0 = Tensor(rng.standard_normal((4, 2, 3)), requires_grad=True)

    def run(x, h0, c0):
        out, (h, c) = layer(x, (h0, c0))
        return out.sum() + (h * c).sum()

    assert tr.gradcheck(run, [x, h0, c0], params=dict(layer.named_parameters()))
    cell = layer.cell(1, 1)
    xs = Tensor(rng.standard_normal((2, 6)), requires_grad=True)
    assert tr.gradcheck(lambda x, h, c: cell(x, (h, c)), [xs, h0[0], c0[0]],
                        params=dict(cell.named_parameters()))


def test_gradcheck_layer_takes_a_layer_of_the_protocol_with_its_gates():
    layer = nn.Recurrent(CIFGCell, 2, 3, num_layers=2, bidirectional=True)
    x = np.random.default_rng(0).standard_normal((3, 2, 2))
    assert tr.gradcheck_layer(layer, x, gates=CIFGCell.gates)
    report = tr.layercheck.layercheck_report(layer, x, gates=CIFGCell.gates)
    assert "weight_hh_l1_reverse" in str(report) and "o [6:9]" in str(report)


def test_a_cell_called_alone_reports_its_step_to_a_trace():
    cell = LeakyGainCell(2, 3)
    x = np.random.default_rng(0).standard_normal((2, 2))
    with tr.trace.record_gates() as rec:
        h = cell(x)
    recorded = rec.of(cell)[0, 0]
    assert sorted(recorded) == ["a", "h"] and np.array_equal(recorded["h"][0], h.data)
    pre = x @ cell.weight_ih.data.T + cell.bias_ih.data + cell.bias_hh.data
    np.testing.assert_allclose(recorded["a"][0], np.tanh(cell.gain.data * pre), rtol=1e-12)


# --------------------------------------------------------------------------- the layer's shape

def test_parameters_are_named_as_torch_names_a_layers_and_are_the_cells_own():
    layer = nn.Recurrent(LeakyGainCell, 2, 3, num_layers=2, bidirectional=True, leak=0.5)
    names = list(layer.state_dict())
    assert names[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "gain_l0"]
    assert "gain_l1_reverse" in names and len(names) == 20
    assert layer.weight_ih_l1_reverse is layer.cell(1, 1).weight_ih
    assert layer.cell(1, 0).weight_ih.shape == (3, 6) and layer.cell(0, 1).leak == 0.5
    assert len(list(layer.parameters())) == 20  # each once
    layer.eval()
    assert not layer.cell(1, 1).training
    other = nn.Recurrent(LeakyGainCell, 2, 3, num_layers=2, bidirectional=True, leak=0.5)
    other.load_state_dict(layer.state_dict())
    assert np.array_equal(other.cell(1, 1).gain.data, layer.gain_l1_reverse.data)


def test_dropout_acts_between_layers_only_while_training():
    layer = nn.Recurrent(ElmanCell, 2, 3, num_layers=2, dropout=0.5)
    plain = nn.Recurrent(ElmanCell, 2, 3, num_layers=2)
    plain.load_state_dict(layer.state_dict())
    x = Tensor(np.random.default_rng(0).standard_normal((3, 2, 2)))
    tr.manual_seed(0)
    assert not np.array_equal(layer(x)[0].data, plain(x)[0].data)
    layer.eval()
    assert np.array_equal(layer(x)[0].data, plain(x)[0].data)
    with pytest.warns(UserWarning, match="dropout acts between layers"):
        nn.Recurrent(ElmanCell, 2, 3, dropout=0.5)


# --------------------------------------------------------------------------- refused

def test_a_bad_cell_class_is_refused_with_the_reason():
    with pytest.raises(TypeError, match="cell_class must be a subclass of nn.RecurrentCell"):
        nn.Recurrent(nn.Linear, 2, 3)
    with pytest.raises(TypeError, match="an instance: pass the class itself"):
        nn.Recurrent(CIFGCell(2, 3), 2, 3)
    with pytest.raises(TypeError, match=r"Bad.gates must be a tuple of names"):
        type("Bad", (nn.RecurrentCell,), {"gates": "fgo"})
    with pytest.raises(ValueError, match=r"Bad.state_names must be distinct names, at least one"):
        type("Bad", (nn.RecurrentCell,), {"state_names": ()})
    with pytest.raises(NotImplementedError, match="must define step"):
        nn.RecurrentCell(2, 3)(np.ones((1, 2)))


@pytest.mark.parametrize("args, error, words", [
    ((CIFGCell, 0, 3), ValueError, "input_size must be an int >= 1"),
    ((CIFGCell, 2, 2.0), TypeError, "hidden_size must be an int, got 2.0"),
    ((CIFGCell, 2, 3, 0), ValueError, "num_layers must be an int >= 1"),
    ((CIFGCell, 2, 3, 1, "yes"), TypeError, "bias must be a bool"),
])
def test_bad_sizes_are_refused(args, error, words):
    with pytest.raises(error, match=words):
        nn.Recurrent(*args)


def test_a_state_of_the_wrong_shape_or_count_is_refused():
    layer = nn.Recurrent(CIFGCell, 2, 3, num_layers=2)
    x = np.ones((4, 5, 2))
    with pytest.raises(TypeError, match=r"must be a tuple \(h0, c0\), got a tuple of 1"):
        layer(x, (np.zeros((2, 5, 3)),))
    with pytest.raises(tr.ShapeError, match=r"expected c0 of shape \(2, 5, 3\), got \(1, 5, 3\)"):
        layer(x, (np.zeros((2, 5, 3)), np.zeros((1, 5, 3))))
    with pytest.raises(tr.ShapeError, match="expected input with 2 features"):
        layer(np.ones((4, 5, 3)))
    elman = nn.Recurrent(ElmanCell, 2, 3)
    with pytest.raises(TypeError, match="must be one tensor h0, not a tuple of 1"):
        elman(x, (np.zeros((1, 5, 3)),))
    with pytest.raises(tr.ShapeError, match=r"expected h of shape \(5, 3\)"):
        elman.cell()(x[0], np.zeros((4, 3)))
    with pytest.raises(IndexError, match="no layer 2, direction 0"):
        layer.cell(2)
    with pytest.raises(TypeError, match="layer must be an int"):
        layer.cell(1.0)


def test_a_step_returning_the_wrong_state_is_named():
    class Wrong(nn.RecurrentCell):
        state_names = ("h", "c")

        def step(self, xp, state):
            return state[0]

    class Wider(ElmanCell):
        def step(self, xp, state):
            return tr.concat([state[0], state[0]], dim=-1)

    for scanned in (True, False):
        with replay.disabled() if not scanned else contextlib.nullcontext():
            with pytest.raises(TypeError, match=r"Wrong.step must return the state: a tuple of "
                                                r"2 Tensor\(s\) \(h, c\), got"):
                nn.Recurrent(Wrong, 2, 3)(np.ones((2, 1, 2)))
            with pytest.raises(tr.ShapeError, match=r"Wider.step returned h of shape \(1, 6\)"), \
                    warnings.catch_warnings():
                warnings.simplefilter("ignore", replay.ScanFallbackWarning)  # (it cannot scan)
                nn.Recurrent(Wider, 2, 3)(np.ones((2, 1, 2)))


# --------------------------------------------------------------------------- built-in cells

BUILTIN = {"rnn": (nn.RNNCell, nn.RNN, torch.nn.RNN), "lstm": (nn.LSTMCell, nn.LSTM, torch.nn.LSTM),
           "gru": (nn.GRUCell, nn.GRU, torch.nn.GRU)}


@pytest.mark.parametrize("kind", sorted(BUILTIN))
@pytest.mark.parametrize("scanned", [False, True])
def test_the_built_in_cells_are_protocol_cells_and_run_as_torchs_layers(kind, scanned):
    cell_class, _, torch_class = BUILTIN[kind]
    assert issubclass(cell_class, nn.RecurrentCell)
    assert cell_class.state_names == (("h", "c") if kind == "lstm" else ("h",))
    tr.manual_seed(3)
    layer = nn.Recurrent(cell_class, 3, 4, num_layers=2, bidirectional=True)
    reference = torch_class(3, 4, num_layers=2, bidirectional=True).double()
    with torch.no_grad():  # torch's names are the layer's, so torch takes its values
        for name, p in layer.named_parameters():
            getattr(reference, name).copy_(torch.tensor(p.data))
    x_data = np.random.default_rng(0).standard_normal((5, 2, 3))
    x, tx = Tensor(x_data, requires_grad=True), torch.tensor(x_data, requires_grad=True)
    with contextlib.nullcontext() if scanned else replay.disabled():
        out, final = layer(x)
    tout, tfinal = reference(tx)
    finals = final if isinstance(final, tuple) else (final,)
    tfinals = tfinal if isinstance(tfinal, tuple) else (tfinal,)
    (out.sum() + sum(f.sum() for f in finals)).backward()
    (tout.sum() + sum(f.sum() for f in tfinals)).backward()
    for ours, theirs in zip([out, *finals], [tout, *tfinals], strict=True):
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, getattr(reference, name).grad.numpy(),
                                   rtol=1e-12, atol=1e-12, err_msg=name)


def test_a_built_in_cell_gives_gate_views_from_its_gates():
    cell = nn.GRUCell(2, 3)
    cell.gate("z").bias_hh[:] = 7.0
    np.testing.assert_array_equal(cell.bias_hh.data[3:6], 7.0)
    with pytest.raises(ValueError, match="RNNCell has no gates"):
        nn.RNNCell(2, 3).gate("h")


def test_a_subclass_of_a_built_in_cell_with_its_own_step_is_traced_and_scanned_as_its_own():
    class HalfTanhCell(nn.RNNCell):
        def step(self, xp, state):
            pre = xp + self.recurrent(state[0])
            self.record(pre=pre)
            return pre.tanh() * 0.5

    layer = nn.Recurrent(HalfTanhCell, 2, 3)
    x = np.random.default_rng(1).standard_normal((4, 2, 2))
    out, _ = layer(x)
    assert "HalfTanhCellScan" in [n.fn.__name__ for n in graph_nodes(out)]
    gates, (traced, _) = tr.trace.gate_trace(layer, x)
    assert set(gates[0, 0]) == {"pre", "h"}
    np.testing.assert_array_equal(traced.data, out.data)
    np.testing.assert_array_equal(gates[0, 0]["h"], out.data)
