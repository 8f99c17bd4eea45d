"""Boolean logic as torch's (~ & | ^ on boolean tensors, logical_not/and/or/xor, any,
all) and x.max(other) / x.min(other), against torch."""

import numpy as np
import pytest
import torch

from tinygrad_rnn import Tensor
from tinygrad_rnn.autograd import ShapeError

RNG = np.random.default_rng(15)
A = RNG.integers(-1, 2, (3, 4)).astype(np.float64)  # zeros, ones and minus ones
B = RNG.integers(-1, 2, (4,)).astype(np.float64)


def same(ours, theirs):
    assert ours.dtype == np.bool_ and not ours.requires_grad
    np.testing.assert_array_equal(ours.data, theirs.numpy())


def test_operators_on_boolean_tensors_match_torch():
    a, b = Tensor(A) > 0, Tensor(B) < 0
    ta, tb = torch.tensor(A) > 0, torch.tensor(B) < 0
    same(~a, ~ta)
    same(a & b, ta & tb)
    same(a | b, ta | tb)
    same(a ^ b, ta ^ tb)
    same(a & True, ta & True)
    same(False | b, False | tb)
    same(True ^ a, True ^ ta)
    same(a & np.array([True, False, True, False]),
         ta & torch.tensor([True, False, True, False]))


def test_methods_take_numbers_as_truth_values_as_torch():
    x = Tensor(A, requires_grad=True)
    y = Tensor(B)
    tx, ty = torch.tensor(A, requires_grad=True), torch.tensor(B)
    same(x.logical_not(), tx.logical_not())
    for name in ("logical_and", "logical_or", "logical_xor"):
        same(getattr(x, name)(y), getattr(tx, name)(ty))
        same(getattr(x, name)(y > 0), getattr(tx, name)(ty > 0))


@pytest.mark.parametrize("dim", [None, 0, 1, -1, (0, 1), [1], ()])
@pytest.mark.parametrize("keepdim", [False, True])
def test_any_and_all_match_torch(dim, keepdim):
    for x, tx in ((Tensor(A), torch.tensor(A)), (Tensor(A) > 0, torch.tensor(A) > 0)):
        for name in ("any", "all"):
            if dim is None:
                ours, theirs = getattr(x, name)(keepdim=keepdim), getattr(tx, name)(
                    keepdim=keepdim) if keepdim else getattr(tx, name)()
            else:
                ours = getattr(x, name)(dim, keepdim=keepdim)
                theirs = getattr(tx, name)(dim=dim, keepdim=keepdim)
            assert ours.shape == tuple(theirs.shape)
            same(ours, theirs)


def test_any_and_all_of_a_scalar_and_of_nothing():
    same(Tensor(2.0).any(0), torch.tensor(2.0).any(0))
    same(Tensor(np.zeros((0, 3))).all(0), torch.zeros(0, 3).all(0))
    same(Tensor(np.zeros((0, 3))).any(), torch.zeros(0, 3).any())


@pytest.mark.parametrize("method", ["max", "min"])
def test_max_and_min_of_a_tensor_are_maximum_and_minimum_as_torch(method):
    x = Tensor(A, requires_grad=True)
    y = Tensor(B, requires_grad=True)  # ties with x are common: the gradient splits
    tx, ty = torch.tensor(A, requires_grad=True), torch.tensor(B, requires_grad=True)
    out, t_out = getattr(x, method)(y), getattr(tx, method)(ty)
    weights = RNG.standard_normal((3, 4))
    (out * Tensor(weights)).sum().backward()
    (t_out * torch.tensor(weights)).sum().backward()
    np.testing.assert_array_equal(out.data, t_out.detach().numpy())
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(y.grad, ty.grad.numpy(), rtol=0, atol=1e-12)


def test_non_boolean_operands_are_refused_naming_the_operator():
    x, mask = Tensor(A), Tensor(A) > 0
    with pytest.raises(TypeError, match=r"~x: x must be a boolean tensor .* dtype float64.*"
                                        r"logical_and"):
        _ = ~x
    with pytest.raises(TypeError, match=r"x & y: x must be a boolean tensor"):
        x & mask
    with pytest.raises(TypeError, match=r"x \| y: y must be a boolean tensor .* got 1 \(int\)"):
        mask | 1
    with pytest.raises(TypeError, match=r"x \^ y: x must be a boolean tensor .* got 1.5"):
        1.5 ^ mask
    with pytest.raises(TypeError, match="logical_and: other must be a Tensor, a real number"):
        x.logical_and("yes")
    with pytest.raises(TypeError, match=r"max: with a Tensor other .* no dim nor keepdim"):
        x.max(Tensor(B), keepdim=True)
    with pytest.raises(ShapeError, match="any: dim 2 is out of range"):
        mask.any(2)


def test_a_recorded_step_recomputes_its_boolean_masks_at_every_step():
    """The logical ops are ops: replay sees them, so a mask is not frozen at step 0."""
    from tinygrad_rnn import replay

    xs = Tensor(RNG.standard_normal((6, 2, 3)), requires_grad=True)
    h0 = Tensor(np.zeros((2, 3)))

    def step(x, h):
        keep = (x > 0) & ~(h > 0.5) | (x < -1).any(-1, keepdim=True)
        return (x + h * 0.5).masked_fill(keep, 0.25).tanh()

    out, _ = replay.scan(step, [xs], [h0])
    assert isinstance(out.grad_fn.program, replay.Program)
    with replay.disabled():
        expected, _ = replay.scan(step, [xs], [h0])
    np.testing.assert_array_equal(out.data, expected.data)
