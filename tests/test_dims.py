"""torch's argument names and numpy's, with one meaning: ``dim`` or ``axis``,
``keepdim`` or ``keepdims`` (tinygrad_rnn/dims.py).

Every public function that takes an axis gives the same values and gradients
under either name, accepts both when they agree, and refuses both when they
differ, with a TypeError that names the function and both values.
"""

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, functional as F

# Every public function with an axis argument, called with keyword arguments only.
TAKES_A_DIM = {
    "sum": lambda x, **kw: x.sum(**kw),
    "mean": lambda x, **kw: x.mean(**kw),
    "split": lambda x, **kw: x.split(2, **kw),
    "chunk": lambda x, **kw: x.chunk(2, **kw),
    "unbind": lambda x, **kw: x.unbind(**kw),
    "concat": lambda x, **kw: tr.concat([x, x * 2.0], **kw),
    "stack": lambda x, **kw: tr.stack([x, x * 2.0], **kw),
    "softmax": lambda x, **kw: F.softmax(x, **kw),
    "log_softmax": lambda x, **kw: F.log_softmax(x, **kw),
}


def values_and_grad(fn, **kwargs):
    """The outputs of fn on a fixed (4, 6, 2) input, and the input's gradient for a
    fixed random upstream gradient on every output."""
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((4, 6, 2)), requires_grad=True)
    out = fn(x, **kwargs)
    outs = out if isinstance(out, tuple) else (out,)
    loss = sum((o * Tensor(rng.standard_normal(o.shape))).sum() for o in outs)
    loss.backward()
    return [o.data for o in outs], x.grad


def assert_same(a, b):
    (outs_a, grad_a), (outs_b, grad_b) = a, b
    assert [o.shape for o in outs_a] == [o.shape for o in outs_b]
    for o_a, o_b in zip(outs_a, outs_b):
        np.testing.assert_array_equal(o_a, o_b)
    np.testing.assert_array_equal(grad_a, grad_b)


@pytest.mark.parametrize("name", TAKES_A_DIM)
@pytest.mark.parametrize("d", [0, 1, -1])
def test_dim_and_axis_are_one_argument(name, d):
    fn = TAKES_A_DIM[name]
    by_dim = values_and_grad(fn, dim=d)
    assert_same(by_dim, values_and_grad(fn, axis=d))
    assert_same(by_dim, values_and_grad(fn, dim=d, axis=d))  # both, agreeing


@pytest.mark.parametrize("name", TAKES_A_DIM)
def test_dim_and_axis_that_disagree_are_refused(name):
    x = Tensor(np.ones((4, 6, 2)))
    with pytest.raises(TypeError) as info:
        TAKES_A_DIM[name](x, dim=0, axis=1)
    message = str(info.value)
    assert message.startswith(f"{name}:"), message
    assert "dim=0" in message and "axis=1" in message and "give one" in message


@pytest.mark.parametrize("name", ["sum", "mean"])
def test_a_tuple_of_dims_and_a_list_of_axes_agree(name):
    fn = TAKES_A_DIM[name]
    by_dim = values_and_grad(fn, dim=(0, 2))
    assert_same(by_dim, values_and_grad(fn, axis=[0, 2]))
    assert_same(by_dim, values_and_grad(fn, dim=(0, 2), axis=[0, 2]))
    with pytest.raises(TypeError, match=rf"^{name}: got dim=\(0, 2\) and axis=\[0, 1\]"):
        fn(Tensor(np.ones((4, 6, 2))), dim=(0, 2), axis=[0, 1])


@pytest.mark.parametrize("name", ["sum", "mean"])
@pytest.mark.parametrize("keep", [False, True])
def test_keepdim_and_keepdims_are_one_argument(name, keep):
    fn = TAKES_A_DIM[name]
    by_keepdim = values_and_grad(fn, dim=1, keepdim=keep)
    assert by_keepdim[0][0].shape == ((4, 1, 2) if keep else (4, 2))
    assert_same(by_keepdim, values_and_grad(fn, axis=1, keepdims=keep))
    assert_same(by_keepdim, values_and_grad(fn, dim=1, keepdims=keep))
    assert_same(by_keepdim, values_and_grad(fn, dim=1, keepdim=keep, keepdims=keep))


@pytest.mark.parametrize("name", ["sum", "mean"])
def test_keepdim_and_keepdims_that_disagree_are_refused(name):
    x = Tensor(np.ones((4, 6, 2)))
    for keepdim, keepdims in [(True, False), (False, True)]:
        with pytest.raises(TypeError) as info:
            TAKES_A_DIM[name](x, dim=1, keepdim=keepdim, keepdims=keepdims)
        message = str(info.value)
        assert message.startswith(f"{name}:"), message
        assert f"keepdim={keepdim}" in message and f"keepdims={keepdims}" in message


def test_positional_arguments_are_torchs():
    # x.sum(1, True) is torch's x.sum(dim=1, keepdim=True)
    x = Tensor(np.arange(24.0).reshape(4, 6))
    np.testing.assert_array_equal(x.sum(1, True).data, x.data.sum(axis=1, keepdims=True))
    np.testing.assert_array_equal(x.mean(0, True).data, x.data.mean(axis=0, keepdims=True))
    assert [p.shape for p in x.chunk(3, 1)] == [(4, 2)] * 3
    assert [p.shape for p in x.split([1, 5], 1)] == [(4, 1), (4, 5)]
    assert len(x.unbind(1)) == 6
    assert tr.concat([x, x], 1).shape == (4, 12) and tr.stack([x, x], 1).shape == (4, 2, 6)
    np.testing.assert_allclose(F.softmax(x, 0).data.sum(axis=0), 1.0)


# --------------------------------------------------------------------------- defaults, as torch

# Each with no axis argument: split and chunk cut along dim 0 (torch's default; this
# package used the last axis before, so code ported from torch split the wrong axis).
DEFAULTS = {  # name: (ours, torch's given the torch module)
    "split int": (lambda x: x.split(3), lambda torch, t: t.split(3)),
    "split list": (lambda x: x.split([1, 3]), lambda torch, t: t.split([1, 3])),
    "chunk": (lambda x: x.chunk(2), lambda torch, t: t.chunk(2)),
    "chunk uneven": (lambda x: x.chunk(3), lambda torch, t: t.chunk(3)),
    "unbind": (lambda x: x.unbind(), lambda torch, t: t.unbind()),
    "concat": (lambda x: tr.concat([x, x * 2.0]), lambda torch, t: torch.cat([t, t * 2.0])),
    "stack": (lambda x: tr.stack([x, x * 2.0]), lambda torch, t: torch.stack([t, t * 2.0])),
    "sum": (lambda x: x.sum(), lambda torch, t: t.sum()),
    "mean": (lambda x: x.mean(), lambda torch, t: t.mean()),
    "softmax": (lambda x: F.softmax(x), lambda torch, t: torch.softmax(t, dim=-1)),
    "log_softmax": (lambda x: F.log_softmax(x), lambda torch, t: torch.log_softmax(t, dim=-1)),
}


def test_split_and_chunk_cut_along_dim_0_by_default():
    x = Tensor(np.arange(24.0).reshape(4, 6))
    assert [p.shape for p in x.split(3)] == [(3, 6), (1, 6)]
    assert [p.shape for p in x.split([1, 3])] == [(1, 6), (3, 6)]
    assert [p.shape for p in x.chunk(2)] == [(2, 6), (2, 6)]
    np.testing.assert_array_equal(x.chunk(2)[1].data, x.data[2:])
    # the gates of an LSTM lie along the last axis: say so
    assert [p.shape for p in x.chunk(2, dim=-1)] == [(4, 3), (4, 3)]


@pytest.mark.parametrize("name", DEFAULTS)
def test_defaults_match_torch(name):
    torch = pytest.importorskip("torch")
    ours, theirs = DEFAULTS[name]
    data = np.random.default_rng(1).standard_normal((4, 6))
    x, t = Tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    out, expected = ours(x), theirs(torch, t)
    outs = out if isinstance(out, tuple) else (out,)
    expected = expected if isinstance(expected, tuple) else (expected,)
    assert [o.shape for o in outs] == [tuple(e.shape) for e in expected]
    rng = np.random.default_rng(2)
    upstream = [rng.standard_normal(o.shape) for o in outs]
    sum((o * Tensor(u)).sum() for o, u in zip(outs, upstream)).backward()
    sum((e * torch.tensor(u)).sum() for e, u in zip(expected, upstream)).backward()
    for o, e in zip(outs, expected):
        np.testing.assert_allclose(o.data, e.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-12)
