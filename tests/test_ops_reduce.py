"""Issue 15's reductions and shape ops where the op table cannot look: ties and other
points without a derivative (torch's conventions), index tensors, and refusals."""

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import ShapeError, Tensor

torch = pytest.importorskip("torch")

TIES = np.array([[1.0, 3.0, 3.0, -2.0], [2.0, 2.0, 0.0, 2.0], [-1.0, -1.0, -1.0, -1.0]])


def pair(data=TIES):
    return (Tensor(np.array(data, dtype=np.float64), requires_grad=True),
            torch.tensor(np.array(data, dtype=np.float64), requires_grad=True))


def assert_same(fn, torch_fn=None, data=TIES):
    """Values and gradients (for one random upstream gradient) equal torch's at 1e-12."""
    ours, theirs = pair(data)
    out, out_t = fn(ours), (torch_fn or fn)(theirs)
    np.testing.assert_allclose(out.data, out_t.detach().numpy(), rtol=1e-12, atol=1e-12)
    upstream = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(upstream)
    out_t.backward(torch.tensor(upstream))
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("call", [
    lambda x: x.amax(), lambda x: x.amax(1), lambda x: x.amax((0, 1), keepdim=True),
    lambda x: x.amin(0), lambda x: x.amin(-1, keepdim=True),
    lambda x: x.max(), lambda x: x.min(),
    lambda x: x.max(1).values, lambda x: x.min(0, keepdim=True).values,
    lambda x: x.norm(float("inf"), 1), lambda x: x.norm(float("inf")),
], ids=["amax", "amax_1", "amax_all_keep", "amin_0", "amin_keep", "max", "min", "max_dim",
        "min_dim_keep", "inf_norm_dim", "inf_norm"])
def test_ties_share_or_pick_the_gradient_as_torch(call):
    assert_same(call)


def test_max_with_a_dim_puts_all_the_gradient_at_the_first_tied_index():
    x, _ = pair()
    values, indices = x.max(1)
    assert indices.dtype == np.int64 and not indices.requires_grad
    np.testing.assert_array_equal(indices.data, [1, 0, 0])
    values.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]])


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("dim, keepdim", [(None, False), (None, True), (0, False), (1, True),
                                          (-1, False)])
def test_argmax_and_argmin_are_torchs_int64_indices(name, dim, keepdim):
    x, t = pair()
    ours = getattr(x, name)(dim, keepdim=keepdim)
    theirs = getattr(t, name)(dim, keepdim=keepdim)
    assert ours.dtype == np.int64 and ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.data, theirs.numpy())


def test_an_argmax_index_feeds_gather_and_index_select():
    x, t = pair()
    picked = x.gather(1, x.argmax(1, keepdim=True))
    np.testing.assert_array_equal(picked.data, t.gather(1, t.argmax(1, keepdim=True)).detach())
    rows = x.index_select(0, x.argmin(0))
    np.testing.assert_array_equal(rows.data, t.index_select(0, t.argmin(0)).detach())
    # a Tensor of whole numbers (stored as float64) is an index too
    np.testing.assert_array_equal(x.index_select(1, Tensor([3, 0])).data, TIES[:, [3, 0]])


@pytest.mark.parametrize("call", [
    lambda x: x.norm(), lambda x: x.norm(1), lambda x: x.norm(3), lambda x: x.norm(0.5),
    lambda x: x.norm(1.5, 0), lambda x: x.std(), lambda x: x.std(0, correction=0),
], ids=["norm2", "norm1", "norm3", "norm_half", "norm_1.5_dim", "std", "std_dim"])
def test_at_zero_the_gradient_is_torchs(call):
    assert_same(call, data=np.zeros((2, 3)))
    assert_same(call, data=[[0.0, 1.0, -2.0], [0.0, 0.0, 0.0]])


@pytest.mark.parametrize("call", [lambda x: x.norm(), lambda x: x.norm(3, 1),
                                  lambda x: x.norm(0.5, 0)], ids=["2", "3", "half"])
@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_norm_of_tiny_and_huge_values_neither_underflows_nor_overflows(call, scale):
    """A norm scales with x and its gradient does not change: both are torch's at
    unscaled x, scaled. (torch itself gives 0 and inf here: x**2 underflows, overflows.)"""
    ours, _ = pair(TIES * scale)
    out = call(ours)
    out.sum().backward()
    _, unscaled = pair()
    expected = call(unscaled)
    expected.sum().backward()
    np.testing.assert_allclose(out.data, expected.detach().numpy() * scale, rtol=1e-12)
    np.testing.assert_allclose(ours.grad, unscaled.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_var_with_too_few_elements_is_nan_as_torch():
    x = Tensor([[1.0, 2.0]])
    with np.errstate(all="raise"):  # and no numpy warning on the way
        out = x.var(0)
    with pytest.warns(UserWarning, match="degrees of freedom"):
        expected = torch.tensor([[1.0, 2.0]]).var(0)
    assert np.isnan(out.data).all() and torch.isnan(expected).all()
    np.testing.assert_allclose(x.var(1, unbiased=False).data, [0.25])
    np.testing.assert_allclose(x.std(1, False).data, [0.5])


def test_logsumexp_is_finite_for_huge_logits_and_minus_inf_rows():
    assert_same(lambda x: x.logsumexp(1), data=TIES * 1e4)
    x = Tensor([[-np.inf, -np.inf], [0.0, -np.inf]])
    with np.errstate(all="raise"):
        np.testing.assert_array_equal(x.logsumexp(1).data, [-np.inf, 0.0])


@pytest.mark.parametrize("equation, shapes", [
    ("ii->i", [(3, 3)]), ("ii", [(3, 3)]), ("iij->ji", [(2, 2, 3)]), ("iii->", [(2, 2, 2)]),
    ("ij,jj->i", [(2, 3), (3, 3)]), ("...ii->...i", [(4, 3, 3)]),
    ("a...b,b...->...a", [(2, 3, 1, 4), (4, 1, 5)]), ("i,i,i,i->", [(3,)] * 4),
    ("ba,cb", [(3, 2), (4, 3)]), ("ij->i", [(2, 3)]),
])
def test_einsum_diagonals_ellipses_and_implicit_outputs_match_torch(equation, shapes):
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(s) for s in shapes]
    ours = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, out_t = tr.einsum(equation, *ours), torch.einsum(equation, *theirs)
    np.testing.assert_allclose(out.data, out_t.detach().numpy(), rtol=1e-12, atol=1e-12)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)
    out_t.backward(torch.tensor(upstream))
    for x, t in zip(ours, theirs):
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_einsum_takes_a_list_of_operands():
    a, b = Tensor(np.ones((2, 3))), Tensor(np.ones((3, 4)))
    np.testing.assert_array_equal(tr.einsum("ij,jk->ik", [a, b]).data, np.full((2, 4), 3.0))


def test_shape_ops_on_0d_tensors_as_torch():
    x, t = pair(2.5)
    for call in (lambda v: v.squeeze(0), lambda v: v.unsqueeze(-1), lambda v: v.flatten(),
                 lambda v: v.flip(0), lambda v: v.cumsum(0), lambda v: v.expand(2, 3),
                 lambda v: v.max(0).values, lambda v: v.logsumexp(0)):
        assert call(x).shape == tuple(call(t).shape)
    assert x.max(0).indices.data == 0


@pytest.mark.parametrize("call, error, words", [
    (lambda x: x.amax(2), ShapeError, "amax: dim 2 is out of range"),
    (lambda x: x.max(1.0), TypeError, "max: dim must be an int"),
    (lambda x: x.var(0, unbiased=True, correction=0), TypeError, "var: got unbiased"),
    (lambda x: x.norm(-1), ValueError, "norm: p must be a number > 0"),
    (lambda x: x.norm("nuc"), ValueError, "norm: p must be"),
    (lambda x: x.cumsum(), TypeError, "cumsum: dim is required"),
    (lambda x: x.flatten(1, 0), ShapeError, "flatten: start_dim 1 comes after end_dim 0"),
    (lambda x: x.expand(3, 5), ShapeError, "expand: the expanded size 5 must match"),
    (lambda x: x.expand(4), ShapeError, "expand: the number of sizes (1)"),
    (lambda x: x.expand(-1, 3, 4), ShapeError, "for a new leading dim"),
    (lambda x: x.flip((0, 0)), ShapeError, "flip: dim 0 appears more than once"),
    (lambda x: x.gather(1, [[4]]), IndexError, "gather: index 4 is out of range"),
    (lambda x: x.gather(1, [0]), ShapeError, "gather: index must have as many dims"),
    (lambda x: x.gather(1, [[0.5]]), TypeError, "gather: index must hold integers"),
    (lambda x: x.index_select(0, [[0]]), ShapeError, "index_select: index must be 1-D"),
    (lambda x: x.index_select(0, [-1]), IndexError, "index_select: index -1 is out of range"),
    (lambda x: Tensor(np.zeros((0, 3))).amax(0), ShapeError, "amax: cannot reduce over no"),
    (lambda x: Tensor(np.zeros((0, 3))).argmax(), ShapeError, "argmax: cannot reduce"),
    (lambda x: tr.einsum("ij,jk", x), ValueError, "einsum: equation 'ij,jk' has 2 operand"),
    (lambda x: tr.einsum("ijk", x), ShapeError, "einsum: term 'ijk'"),
    (lambda x: tr.einsum("i1", x), ValueError, "letters a-z"),
    (lambda x: tr.einsum("ij,ij", x, Tensor(np.ones((3, 3)))), ShapeError,
     "einsum: equation 'ij,ij' does not fit operands of shapes (3, 4), (3, 3)"),
    (lambda x: tr.einsum(x, x), TypeError, "einsum: equation must be a str"),
])
def test_bad_arguments_are_refused_in_the_functions_words(call, error, words):
    x = Tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    with pytest.raises(error) as info:
        call(x)
    assert words in str(info.value)
