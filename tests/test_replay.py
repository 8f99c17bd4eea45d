"""replay.py: a step recorded once and run over time as one Scan node.

The layers run as Scan nodes by default; ``replay.disabled()`` runs them op by
op. The two must agree bit for bit, in outputs and in every gradient, for every
layer configuration: that is the main test here. The gradients themselves are
checked against finite differences and torch in test_rnn_layers.py, which runs
the default (scanned) layers.
"""

import re

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_rnn as tr
from tinygrad_rnn import Function, Tensor, nn, replay

from _helpers import graph_nodes

LAYERS = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}


def graph_ops(root: Tensor) -> list:
    """The op names of every node reachable from root."""
    return [node.fn.__name__ for node in graph_nodes(root)]


def run_layer(make_layer, x_data, hx_data, loss_seed: int, scanned: bool) -> list:
    """Outputs and every gradient of a weighted sum of a fresh layer's outputs."""
    layer = make_layer()
    x = Tensor(x_data, requires_grad=True)
    hx = None if hx_data is None else tuple(Tensor(h, requires_grad=True) for h in hx_data)
    if scanned:
        out, state = layer(x, hx if hx is None or len(hx) > 1 else hx[0])
    else:
        with replay.disabled():
            out, state = layer(x, hx if hx is None or len(hx) > 1 else hx[0])
    states = state if isinstance(state, tuple) else (state,)
    rng = np.random.default_rng(loss_seed)
    loss = (out * Tensor(rng.standard_normal(out.shape).astype(out.dtype))).sum()
    for s in states:  # the final states feed the loss too
        loss = loss + (s * Tensor(rng.standard_normal(s.shape).astype(s.dtype))).sum()
    loss.backward()
    grads = [x.grad] + [h.grad for h in hx or ()] + [p.grad for p in layer.parameters()]
    return [out.data, *(s.data for s in states), *grads], graph_ops(loss)


@st.composite
def layer_configs(draw):
    kind = draw(st.sampled_from(sorted(LAYERS)))
    kwargs = {"num_layers": draw(st.integers(1, 2)), "bidirectional": draw(st.booleans()),
              "batch_first": draw(st.booleans()), "bias": draw(st.booleans())}
    I, H = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    if kind == "LSTM" and draw(st.booleans()):
        kwargs["proj_size"] = draw(st.integers(1, H - 1))
    if kind == "RNN":
        kwargs["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    T, N = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    unbatched = draw(st.booleans())
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    return kind, I, H, kwargs, T, N, unbatched, draw(st.booleans()), dtype


@given(layer_configs(), st.integers(0, 2**16))
def test_scanned_layers_agree_with_op_by_op_bit_for_bit(config, seed):
    kind, I, H, kwargs, T, N, unbatched, given_state, dtype = config

    def make_layer():
        tr.manual_seed(seed)
        layer = LAYERS[kind](I, H, **kwargs)
        return layer.float() if dtype == np.float32 else layer

    rng = np.random.default_rng(seed)
    shape = (T, I) if unbatched else ((N, T, I) if kwargs["batch_first"] else (T, N, I))
    x = rng.standard_normal(shape).astype(dtype)
    hx = None
    if given_state:
        d_l = kwargs["num_layers"] * (2 if kwargs["bidirectional"] else 1)
        batch = () if unbatched else (N,)
        h_out = kwargs.get("proj_size") or H
        hx = [rng.standard_normal((d_l, *batch, h_out)).astype(dtype)]
        if kind == "LSTM":
            hx.append(rng.standard_normal((d_l, *batch, H)).astype(dtype))
    scanned, scanned_ops = run_layer(make_layer, x, hx, seed, scanned=True)
    op_by_op, op_by_op_ops = run_layer(make_layer, x, hx, seed, scanned=False)
    assert f"{kind}Scan" in scanned_ops and f"{kind}Scan" not in op_by_op_ops
    for a, b in zip(scanned, op_by_op, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def run_packed(make_layer, x_data, lengths, hx_data, loss_seed: int, scanned: bool) -> tuple:
    """As run_layer, for a packed batch of sequences of the given lengths."""
    layer = make_layer()
    x = Tensor(x_data, requires_grad=True)
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
    hx = None if hx_data is None else tuple(Tensor(h, requires_grad=True) for h in hx_data)
    state_in = hx if hx is None or len(hx) > 1 else hx[0]
    if scanned:
        out, state = layer(packed, state_in)
    else:
        with replay.disabled():
            out, state = layer(packed, state_in)
    states = state if isinstance(state, tuple) else (state,)
    rng = np.random.default_rng(loss_seed)
    loss = (out.data * Tensor(rng.standard_normal(out.data.shape).astype(x_data.dtype))).sum()
    for s in states:
        loss = loss + (s * Tensor(rng.standard_normal(s.shape).astype(s.dtype))).sum()
    loss.backward()
    grads = [x.grad] + [h.grad for h in hx or ()] + [p.grad for p in layer.parameters()]
    return [out.data.data, *(s.data for s in states), *grads], graph_ops(loss)


@given(layer_configs(), st.lists(st.integers(1, 5), min_size=1, max_size=4), st.integers(0, 2**16))
def test_packed_batches_scanned_agree_with_op_by_op_bit_for_bit(config, lengths, seed):
    kind, I, H, kwargs, _, _, _, given_state, dtype = config
    kwargs = dict(kwargs, batch_first=False)

    def make_layer():
        tr.manual_seed(seed)
        layer = LAYERS[kind](I, H, **kwargs)
        return layer.float() if dtype == np.float32 else layer

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((max(lengths), len(lengths), I)).astype(dtype)
    hx = None
    if given_state:
        d_l = kwargs["num_layers"] * (2 if kwargs["bidirectional"] else 1)
        h_out = kwargs.get("proj_size") or H
        hx = [rng.standard_normal((d_l, len(lengths), h_out)).astype(dtype)]
        if kind == "LSTM":
            hx.append(rng.standard_normal((d_l, len(lengths), H)).astype(dtype))
    scanned, scanned_ops = run_packed(make_layer, x, lengths, hx, seed, scanned=True)
    op_by_op, op_by_op_ops = run_packed(make_layer, x, lengths, hx, seed, scanned=False)
    assert f"{kind}Scan" in scanned_ops and f"{kind}Scan" not in op_by_op_ops
    for a, b in zip(scanned, op_by_op, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_a_layer_is_one_scan_node_per_layer_and_direction_whatever_the_length(kind):
    counts = []
    for steps in (2, 40):
        layer = LAYERS[kind](3, 4, num_layers=2, bidirectional=True)
        out, _ = layer(np.ones((steps, 2, 3)))
        ops = graph_ops(out.sum())
        assert ops.count(f"{kind}Scan") == 4
        counts.append(len(ops))
    assert counts[0] == counts[1]  # the graph no longer grows with T


def test_scan_without_grad_gives_the_same_numbers_and_records_nothing():
    tr.manual_seed(0)
    lstm = nn.LSTM(2, 3, num_layers=2)
    x = np.random.default_rng(0).standard_normal((6, 2, 2))
    with tr.no_grad():
        out, (h, c) = lstm(x)
    assert out._node is None and not out.requires_grad
    with replay.disabled():
        expected, (h2, c2) = lstm(x)
    for a, b in ((out, expected), (h, h2), (c, c2)):
        assert np.array_equal(a.data, b.data)


def test_a_second_backward_through_a_scan_needs_retain_graph():
    gru = nn.GRU(2, 3)
    out, _ = gru(np.ones((4, 1, 2)))
    loss = out.sum()
    loss.backward(retain_graph=True)
    first = gru.weight_hh_l0.grad.copy()
    loss.backward()
    assert np.allclose(gru.weight_hh_l0.grad, 2 * first)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()


# --------------------------------------------------------------------------- Program itself

def step_inputs(seed=0):
    rng = np.random.default_rng(seed)
    xs = Tensor(rng.standard_normal((5, 2, 3)), requires_grad=True)
    h0 = Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    w = Tensor(rng.standard_normal((3, 3)), requires_grad=True)
    # w.T, as a layer's W_hh^T: a weight that is no leaf gets the sum of its gradients
    # over all steps as one matmul (speedups.OuterSum) in both ways of running, whereas a
    # leaf's .grad adds them one by one, in the other order of rounding
    return xs, h0, w.T


def elman(x, h, w):
    """A step with a constant (0.5) and a value used twice (h)."""
    return ((x + h @ w).tanh() * 0.5 + h,)


def looped(step, xs, h0, w):
    h, outputs = h0, []
    for x in xs.unbind(0):
        (h,) = step(x, h, w)
        outputs.append(h)
    return tr.stack(outputs, dim=0), h


def test_a_program_scanned_agrees_with_its_step_looped_bit_for_bit():
    xs, h0, w = step_inputs()
    first = Tensor(xs.data[0])
    _, program = replay.record(lambda: elman(first, h0, w), (first, h0, w), name="Elman")
    assert [op.fn.__name__ for op in program.ops] == ["Matmul", "Add", "Tanh", "Mul", "Add"]
    out, (h,) = program.scan((xs,), (h0,), (w,))
    assert out._node.fn.__name__ == "ElmanScan"
    (out.sum() + h.sum()).backward()
    scanned = [out.data, h.data, xs.grad, h0.grad, w.grad]
    xs.grad = h0.grad = w.grad = None
    out, h = looped(elman, xs, h0, w)
    (out.sum() + h.sum()).backward()
    for a, b in zip(scanned, [out.data, h.data, xs.grad, h0.grad, w.grad], strict=True):
        assert np.array_equal(a, b)


def test_a_program_runs_backwards_in_time_with_reverse():
    xs, h0, w = step_inputs(1)
    first = Tensor(xs.data[0])
    _, program = replay.record(lambda: elman(first, h0, w), (first, h0, w))
    out, (h,) = program.scan((xs,), (h0,), (w,), reverse=True)
    flipped = Tensor(xs.data[::-1].copy())
    expected, h_last = looped(elman, flipped, h0, w)
    assert np.array_equal(out.data, expected.data[::-1]) and np.array_equal(h.data, h_last.data)


def test_program_source_is_each_ops_forward_then_backward_in_reverse():
    xs, h0, w = step_inputs()
    first = Tensor(xs.data[0])
    _, program = replay.record(lambda: elman(first, h0, w), (first, h0, w))
    source = program.source()
    forward, backward = source.split("def backward")
    names = ["Matmul", "Add", "Tanh", "Mul", "Add"]
    assert re.findall(r"(\w+)\.forward\(", forward) == names
    assert re.findall(r"(\w+)\.backward\(", backward) == names[::-1]
    # without h0 needing a gradient, nothing is computed for it
    assert "return dinput, None, dinput_3" in program.backward_source((True, False, True))


def test_generated_code_names_values_after_the_steps_arguments_and_ops():
    xs, h0, w = step_inputs()
    first = Tensor(xs.data[0])
    _, program = replay.record(lambda: elman(first, h0, w), (first, h0, w),
                               names=("x", "h", "w"), result_names=("h_new",))
    assert program.names[:3] == ["x", "h", "w"] and program.names[program.outputs[0]] == "h_new"
    plain = program.source(checks=False, seeded=1)
    # as one writes it by hand: no checks, h's gradient from two ops added, seed first
    assert plain.split("def backward")[1] == """(ctx, grad, seed=None):
    (ctx_matmul, ctx_add, ctx_tanh, ctx_mul, ctx_h_new) = ctx.saved_tensors
    dh_new = grad
    dmul, dh = Add.backward(ctx_h_new, dh_new)
    dh = seed + dh
    dtanh, _ = Mul.backward(ctx_mul, dmul)
    dadd = Tanh.backward(ctx_tanh, dtanh)
    dx, dmatmul = Add.backward(ctx_add, dadd)
    dh_2, dw = Matmul.backward(ctx_matmul, dmatmul)
    dh = dh + dh_2
    return dx, dh, dw
"""
    # what runs is the same lines with the checks between them
    checked = program.backward_source((True, True, True), seeded=1)
    assert [line for line in checked.splitlines() if not line.lstrip().startswith("if ")
            and "needs_input_grad" not in line] == plain.split("\n\n")[1].replace(
        "seed + dh", "plus(seed, dh)").replace("dh + dh_2", "plus(dh, dh_2)").splitlines()


def test_generated_names_are_unique_identifiers_whatever_the_tensors_are_called():
    x = Tensor(np.ones((2, 3)), name="x")
    h = Tensor(np.ones((2, 3)), name="class")  # a keyword
    odd = Tensor(np.ones((2, 3)), name="d x")  # dx would be x's gradient: not this one's

    def step():
        y = (x * h).tanh()
        y.name = "x"  # the name of an input
        return ((y + odd).sigmoid(),)

    _, program = replay.record(step, (x, h, odd))
    names = [n for n in program.names if n is not None]
    assert names[:3] == ["x", "class_", "d_x"] and "x_2" in names
    assert len(set(names)) == len(names) and all(n.isidentifier() for n in names)
    assert "sigmoid" in names  # an op of an unnamed value is named after the op alone


def test_record_gives_no_program_for_a_step_that_reads_a_tensor_it_was_not_given():
    xs, h0, w = step_inputs()
    first = Tensor(xs.data[0])
    result, program = replay.record(lambda: elman(first, h0, w), (first, h0))  # w missing
    assert program is None and isinstance(result[0], Tensor)


def test_record_gives_no_program_for_a_result_its_ops_did_not_make():
    xs, h0, w = step_inputs()
    _, program = replay.record(lambda: (h0,), (h0,))
    assert program is None
    _, program = replay.record(lambda: h0 * 2, (h0,))  # not a tuple
    assert program is None


def test_scan_refuses_a_step_that_does_not_read_all_its_states():
    """One object passed as two inputs is read as the first: the second state is unread,
    and a scan would carry it wrongly."""
    xs, h0, w = step_inputs()
    first = Tensor(xs.data[0])
    _, program = replay.record(lambda: elman(first, h0, w) * 2, (first, h0, h0, w))
    assert not program.can_scan(1, 2)
    assert program.scan((xs,), (h0, h0), (w,)) is None


def test_scan_refuses_sequences_of_other_shapes_than_recorded():
    xs, h0, w = step_inputs()
    first = Tensor(xs.data[0])
    _, program = replay.record(lambda: elman(first, h0, w), (first, h0, w))
    wider = Tensor(np.ones((5, 4, 3)))
    assert program.scan((wider,), (h0,), (w,)) is None
    assert program.scan((xs.to(np.float32),), (h0,), (w,)) is None
    assert program.scan((Tensor(np.ones((0, 2, 3))),), (h0,), (w,)) is None  # no steps
    assert program.scan((xs,), (h0,), (w,)) is not None


class WrongShape(Function):
    """out = x.   dx = grad, but of the wrong shape (a broken custom op)."""

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad[:1, :1, None]


def test_a_wrong_gradient_inside_a_scanned_step_is_named_as_in_the_engine():
    xs, h0, w = step_inputs()
    first = Tensor(xs.data[0])

    def broken(x, h, w):
        return (WrongShape.apply(x + h @ w).tanh(),)

    _, program = replay.record(lambda: broken(first, h0, w), (first, h0, w))
    out, _ = program.scan((xs,), (h0,), (w,))
    with pytest.raises(RuntimeError, match=r"WrongShape.backward returned a gradient of shape"):
        out.sum().backward()


def _text_blocks(doc: str, after: str) -> list:
    """The ```text blocks of ``doc`` after the sentence ``after``."""
    return re.findall(r"```text\n(.*?)```", doc.split(after)[1], re.S)


def test_the_generated_source_shown_in_the_engine_docs_is_what_the_code_generates():
    from pathlib import Path
    doc = (Path(__file__).resolve().parents[1] / "docs" / "engine.md").read_text()
    plain, checked, lstm_backward = _text_blocks(doc, "prints the forward and the backward")[:3]
    rng = np.random.default_rng(0)
    xs = Tensor(rng.standard_normal((5, 2, 3)))
    h0, W_t = Tensor(np.zeros((2, 3))), Tensor(rng.standard_normal((3, 3)), requires_grad=True).T
    first = Tensor(xs.data[0])
    _, program = replay.record(lambda: ((first + h0 @ W_t).tanh(),), (first, h0, W_t),
                               names=("x", "h", "w"), result_names=("h_new",))
    assert plain.strip() == program.source(checks=False).strip()
    assert checked.strip("\n") in program.source()
    out, _ = nn.LSTM(3, 4)(np.ones((5, 2, 3)))
    assert lstm_backward == out.grad_fn.program.backward_source((True,) * 4, checks=False)


# ----------------------------------------------------------------------- replay.scan: your own step

class MinimalGatedCell(tr.nn.Module):
    """The minimal gated unit (Zhou et al., 2016): f = sigmoid(W_f [x, h]),
    h' = (1 - f) h + f tanh(W_h [x, f h]), its parameters read from the module."""

    def __init__(self, I, H, seed=0):
        rng = np.random.default_rng(seed)
        self.w_f = nn.Parameter(rng.standard_normal((I + H, H)) * 0.5)
        self.w_h = nn.Parameter(rng.standard_normal((I + H, H)) * 0.5)

    def forward(self, x, h):
        f = (tr.concat([x, h], dim=-1) @ self.w_f).sigmoid()
        n = (tr.concat([x, f * h], dim=-1) @ self.w_h).tanh()
        return (tr.lerp(h, n, f),)


def run_cell(scanned: bool, reverse=False):
    cell = MinimalGatedCell(2, 3)
    rng = np.random.default_rng(1)
    xs = Tensor(rng.standard_normal((6, 4, 2)), requires_grad=True)
    h0 = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    if scanned:
        out, (h,) = replay.scan(cell, [xs], [h0], fixed=list(cell.parameters()), reverse=reverse)
    else:
        with replay.disabled():
            out, (h,) = replay.scan(cell, [xs], [h0], fixed=list(cell.parameters()),
                                    reverse=reverse)
    (out * Tensor(rng.standard_normal(out.shape))).sum().backward()
    return [out.data, h.data, xs.grad, h0.grad, cell.w_f.grad, cell.w_h.grad], graph_ops(out)


@pytest.mark.parametrize("reverse", [False, True])
def test_your_own_cell_scanned_agrees_with_it_run_op_by_op(reverse):
    scanned, scanned_ops = run_cell(True, reverse)
    op_by_op, op_by_op_ops = run_cell(False, reverse)
    assert "MinimalGatedCellScan" in scanned_ops and "Lerp" not in scanned_ops
    assert op_by_op_ops.count("Lerp") == 6
    for a, b in zip(scanned[:4], op_by_op[:4], strict=True):  # outputs, xs and h0 grads
        assert np.array_equal(a, b)
    # A parameter read at every step is a leaf: op by op, its .grad adds each step's
    # x^T g in turn; scanned, it gets the one matmul over all steps (OuterSum), as a
    # layer's weights do either way. The same sum, rounded in another order.
    for a, b in zip(scanned[4:], op_by_op[4:], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)


def test_a_step_reading_a_parameter_it_was_not_given_runs_op_by_op():
    cell = MinimalGatedCell(2, 3)
    xs, h0 = Tensor(np.ones((3, 1, 2))), Tensor(np.zeros((1, 3)))
    with pytest.warns(replay.ScanFallbackWarning, match=re.escape(
            "replay.scan runs MinimalGatedCell op by op, not as one Scan node: it reads a "
            "tensor of shape (5, 3) (w_h) that requires grad but is neither a sequence slice, "
            "a state nor in fixed; pass it in fixed")):
        out, _ = replay.scan(cell, [xs], [h0], fixed=[cell.w_f])  # w_h missing
    ops = graph_ops(out)
    assert "MinimalGatedCellScan" not in ops and ops.count("Lerp") == 3
    expected, _ = replay.scan(cell, [xs], [h0], fixed=list(cell.parameters()))
    assert np.array_equal(out.data, expected.data)


def test_scan_names_the_step_inputs_after_its_arguments_and_the_fixed_by_name():
    cell = MinimalGatedCell(2, 3)
    xs, h0 = Tensor(np.ones((3, 1, 2))), Tensor(np.zeros((1, 3)))
    out, _ = replay.scan(cell, [xs], [h0], fixed=list(cell.parameters()))  # a module's own
    assert "def forward(ctx, x, h, w_f, w_h):" in out.grad_fn.program.source()
    renamed, _ = replay.scan(lambda x, h: cell(x, h), [xs], [h0],
                             fixed={"W_f": cell.w_f, "W_h": cell.w_h})
    assert "def forward(ctx, x, h, W_f, W_h):" in renamed.grad_fn.program.source()
    assert "return h_new," in renamed.grad_fn.program.source()  # the new state: h_new
    assert np.array_equal(out.data, renamed.data)


def test_scan_refuses_sequences_of_different_lengths():
    xs, h0, w = step_inputs()
    first = Tensor(xs.data[0])

    def two(x, y, h, w):
        return ((x + y + h @ w).tanh(),)

    other = Tensor(xs.data[1])
    _, program = replay.record(lambda: two(first, other, h0, w), (first, other, h0, w))
    assert program.can_scan(2, 1)
    assert program.scan((xs, Tensor(xs.data[:4])), (h0,), (w,)) is None
    assert program.scan((xs, xs), (h0,), (w,)) is not None


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_a_packed_batch_without_grad_and_twice_with_retain_graph(kind):
    tr.manual_seed(5)
    layer = LAYERS[kind](2, 3, bidirectional=True)
    x = Tensor(np.random.default_rng(5).standard_normal((4, 3, 2)))
    packed = nn.utils.rnn.pack_padded_sequence(x, [4, 2, 1])
    with tr.no_grad():
        quiet, _ = layer(packed)
    assert quiet.data._node is None
    out, _ = layer(packed)
    assert np.array_equal(quiet.data.data, out.data.data)
    loss = (out.data * out.data).sum()
    loss.backward(retain_graph=True)
    first = layer.weight_hh_l0_reverse.grad.copy()
    loss.backward()
    np.testing.assert_allclose(layer.weight_hh_l0_reverse.grad, 2 * first, rtol=1e-12)
    with pytest.raises(RuntimeError, match="a second time"):
        loss.backward()


class Twice(Function):
    """out = 2 x.   dx = 2 grad (its backward looks at saved_tensors, which forward left empty)."""

    @staticmethod
    def forward(ctx, x):
        return 2.0 * x

    @staticmethod
    def backward(ctx, grad):
        assert ctx.saved_tensors == ()  # the engine's default, which a replayed op sees too
        return 2.0 * grad


def test_a_custom_function_in_your_step_sees_what_the_engine_shows_it():
    xs, h0, w = step_inputs()

    def step(x, h):
        return (Twice.apply(x + h @ w).tanh(),)

    out, _ = replay.scan(step, [xs], [h0], fixed=[w])
    assert "stepScan" in graph_ops(out)
    out.sum().backward()
    scanned = xs.grad.copy()
    xs.grad = None
    with replay.disabled():
        out, _ = replay.scan(step, [xs], [h0], fixed=[w])
    out.sum().backward()
    assert np.array_equal(scanned, xs.grad)


def test_scan_refuses_sequences_it_cannot_step_through_with_the_reason():
    cell = MinimalGatedCell(2, 3)
    h0 = Tensor(np.zeros((1, 3)))
    message = r"replay.scan: the sequences need one length.*\(0, 1, 2\)"
    with pytest.raises(ValueError, match=message):
        replay.scan(cell, [np.ones((0, 1, 2))], [h0], fixed=list(cell.parameters()))
    with pytest.raises(ValueError, match=r"got shapes \[\(3, 1, 2\), \(2, 1, 2\)\]"):
        replay.scan(lambda x, y, h: cell(x + y, h), [np.ones((3, 1, 2)), np.ones((2, 1, 2))],
                    [h0], fixed=list(cell.parameters()))
    with pytest.raises(TypeError, match="the very objects"):
        replay.scan(cell, [np.ones((3, 1, 2))], [h0], fixed=[cell.w_f.data])
    out, _ = replay.scan(cell, [np.ones((3, 1, 2))], [np.zeros((1, 3))],  # arrays are wrapped
                         fixed=list(cell.parameters()))
    assert out.shape == (3, 1, 3)


def test_disabled_is_a_decorator_too_with_or_without_parentheses():
    gru = nn.GRU(2, 3)
    x = np.ones((3, 1, 2))

    @replay.disabled
    def bare():
        return gru(x)[0]

    @replay.disabled()
    def called():
        return gru(x)[0]

    for run in (bare, called):
        assert "GRUScan" not in graph_ops(run()) and replay.is_enabled()
    assert "GRUScan" in graph_ops(gru(x)[0])


@given(st.integers(1, 4), st.integers(1, 3), st.booleans(), st.integers(0, 2**16))
def test_a_scanned_step_has_the_gradients_of_finite_differences(steps, batch, reverse, seed):
    cell = MinimalGatedCell(2, 3, seed=seed)
    rng = np.random.default_rng(seed)
    xs = Tensor(rng.standard_normal((steps, batch, 2)), requires_grad=True)
    h0 = Tensor(rng.standard_normal((batch, 3)), requires_grad=True)

    def scanned(xs, h0, w_f, w_h):  # (w_f, w_h are the cell's own: gradcheck moves them)
        out, (h,) = replay.scan(cell, [xs], [h0], fixed=[w_f, w_h], reverse=reverse)
        return out, h

    assert "MinimalGatedCellScan" in graph_ops(scanned(xs, h0, cell.w_f, cell.w_h)[0])
    assert tr.gradcheck(scanned, [xs, h0, cell.w_f, cell.w_h])


def test_a_step_may_return_its_one_state_alone_but_nothing_else():
    cell = MinimalGatedCell(2, 3)
    xs, h0 = Tensor(np.ones((3, 1, 2))), Tensor(np.zeros((1, 3)))

    def bare(x, h):
        return cell(x, h)[0]  # a Tensor, not a tuple

    out, (h,) = replay.scan(bare, [xs], [h0], fixed=list(cell.parameters()))
    expected, (h2,) = replay.scan(cell, [xs], [h0], fixed=list(cell.parameters()))
    assert "bareScan" in graph_ops(out) and np.array_equal(out.data, expected.data)
    for broken in (lambda x, h: cell(x, h) + cell(x, h), lambda x, h: h.data):
        with pytest.raises(TypeError, match="the step must return the new state, 1 tensor"):
            replay.scan(broken, [xs], [h0], fixed=list(cell.parameters()))
