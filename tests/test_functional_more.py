"""The activations, normalisations and losses of issue 15 (functional.py): values and
gradients against torch.nn.functional in float64 at 1e-12, at the kinks, the cut-offs and
the extremes where a naive formula overflows or divides by zero; argument errors."""

import math
import warnings

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
TOL = 1e-12


def assert_close(ours, theirs, scale=1.0):
    np.testing.assert_allclose(ours, theirs, rtol=TOL, atol=TOL * scale)


def parity(ours, theirs, *arrays, grads=None, upstream_seed=1):
    """ours(*Tensors) and theirs(*torch tensors) on the same float64 arrays: values, then
    the gradients of sum(out * g) for a random g, input by input (``grads``: which)."""
    grads = range(len(arrays)) if grads is None else grads
    ts = [Tensor(np.array(a, dtype=np.float64), requires_grad=i in grads)
          for i, a in enumerate(arrays)]
    tt = [torch.tensor(np.array(a, dtype=np.float64), requires_grad=i in grads)
          for i, a in enumerate(arrays)]
    out, expected = ours(*ts), theirs(*tt)
    assert out.shape == tuple(expected.shape)
    assert_close(out.data, expected.detach().numpy())
    g = np.random.default_rng(upstream_seed).normal(size=out.shape)
    (out * Tensor(g)).sum().backward()
    (expected * torch.tensor(g)).sum().backward()
    for i in grads:
        want = tt[i].grad.numpy()
        assert_close(ts[i].grad, want, scale=max(1.0, np.abs(want).max(initial=0)))
    return out


RNG = np.random.default_rng(0)
X = RNG.normal(size=(4, 6)) * 4
X[0, :3] = [0.0, -0.0, 1e-300]  # exact zeros (the kinks) and a denormal-sized value
EXTREMES = np.array([-1000.0, -700.0, -50.0, -1e-9, 0.0, 1e-9, 50.0, 700.0, 1000.0])


# --------------------------------------------------------------------------- activations

@pytest.mark.parametrize("beta, threshold", [(1.0, 20.0), (2.0, 5.0), (-1.0, 20.0),
                                             (0.5, 1.0), (1.0, math.inf)])
def test_softplus_matches_torch(beta, threshold):
    parity(lambda x: F.softplus(x, beta, threshold), lambda x: TF.softplus(x, beta, threshold),
           X)


def test_softplus_at_its_threshold_takes_torchs_side():
    # beta x == threshold is on the log side; just above it, the identity (value and
    # gradient 1), as torch
    x = np.array([20.0, np.nextafter(20.0, 21.0), 2.5, 2.5000001])
    parity(lambda t: F.softplus(t), TF.softplus, x)
    parity(lambda t: F.softplus(t, beta=2.0, threshold=5.0),
           lambda t: TF.softplus(t, 2.0, 5.0), x)


def test_softplus_and_friends_never_overflow_or_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fn, theirs in [(F.softplus, TF.softplus), (F.elu, TF.elu), (F.gelu, TF.gelu),
                           (F.silu, TF.silu), (F.leaky_relu, TF.leaky_relu)]:
            parity(fn, theirs, EXTREMES)
        out = parity(lambda x: F.softplus(x, 1.0, math.inf),
                     lambda x: TF.softplus(x, 1.0, math.inf), EXTREMES[:-2])
        # above, torch's log1p(exp(x)) overflows to inf; ours stays x
        big = F.softplus(Tensor(np.array([800.0])), 1.0, math.inf)
        assert big.item() == 800.0 and np.isfinite(out.data).all()


@pytest.mark.parametrize("slope", [0.01, 0.2, -0.5, 2.0, 0.0])
def test_leaky_relu_matches_torch_with_the_slope_as_the_gradient_at_zero(slope):
    out = parity(lambda x: F.leaky_relu(x, slope), lambda x: TF.leaky_relu(x, slope), X)
    x = Tensor(np.zeros(2), requires_grad=True)
    F.leaky_relu(x, slope).sum().backward()
    assert x.grad.tolist() == [slope, slope]
    assert out.shape == X.shape


@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.0, -1.0])
def test_elu_matches_torch_with_alpha_as_the_gradient_at_zero(alpha):
    parity(lambda x: F.elu(x, alpha), lambda x: TF.elu(x, alpha), X)
    x = Tensor(np.zeros(1), requires_grad=True)
    F.elu(x, alpha).sum().backward()
    assert x.grad.tolist() == [alpha]


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch(approximate):
    parity(lambda x: F.gelu(x, approximate=approximate),
           lambda x: TF.gelu(x, approximate=approximate), X)
    parity(lambda x: F.gelu(x, approximate=approximate),
           lambda x: TF.gelu(x, approximate=approximate), np.linspace(-9, 9, 181))


def test_silu_matches_torch():
    parity(F.silu, TF.silu, X)


def test_activations_keep_float32():
    x32 = X.astype(np.float32)
    for fn in [F.softplus, F.leaky_relu, F.elu, F.gelu, F.silu,
               lambda t: F.gelu(t, approximate="tanh")]:
        t = Tensor(x32, requires_grad=True)
        out = fn(t)
        out.sum().backward()
        assert out.dtype == np.float32 and t.grad.dtype == np.float32


# --------------------------------------------------------------------------- normalisations

@pytest.mark.parametrize("shape, normalized", [((4, 6), (6,)), ((2, 3, 4), (3, 4)),
                                               ((5,), 5), ((2, 1), (1,))])
@pytest.mark.parametrize("affine", [False, True])
def test_layer_norm_matches_torch(shape, normalized, affine):
    x = np.random.default_rng(2).normal(size=shape) * 3 + 1
    n = (normalized,) if isinstance(normalized, int) else normalized
    arrays = [x] + ([np.random.default_rng(3).normal(size=n)] * 2 if affine else [])
    parity(lambda x, *wb: F.layer_norm(x, normalized, *wb, eps=1e-3),
           lambda x, *wb: TF.layer_norm(x, n, *wb, eps=1e-3), *arrays)


def test_layer_norm_of_a_constant_row_is_finite_as_torch():
    parity(lambda x: F.layer_norm(x, (3,)), lambda x: TF.layer_norm(x, (3,)),
           np.array([[2.0, 2.0, 2.0], [1.0, -1.0, 0.0]]))


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, 0.5, math.inf, 0.0])
@pytest.mark.parametrize("dim", [1, 0, -1])
def test_normalize_matches_torch_with_zero_elements_and_a_zero_vector(p, dim):
    x = X.copy()
    x[2] = 0.0  # a zero vector along dim 1: clamped to eps, its gradient 1/eps
    x[:, 4] = 0.0  # and along dim 0
    parity(lambda t: F.normalize(t, p, dim), lambda t: TF.normalize(t, p, dim), x)


def test_normalize_inf_shares_the_gradient_among_ties_as_torch():
    x = np.array([[3.0, -3.0, 1.0], [2.0, 2.0, 2.0]])
    parity(lambda t: F.normalize(t, math.inf), lambda t: TF.normalize(t, math.inf), x)


def test_normalize_below_eps_and_of_a_0d_tensor():
    x = np.array([[1e-13, 0.0], [3.0, 4.0]])
    parity(lambda t: F.normalize(t, eps=1e-12), lambda t: TF.normalize(t, eps=1e-12), x)
    parity(lambda t: F.normalize(t, dim=0), lambda t: TF.normalize(t, dim=0), np.array(-2.0))


# --------------------------------------------------------------------------- losses

LOGP = TF.log_softmax(torch.tensor(X), dim=1).numpy()
TARGET = np.array([0, 5, 2, 2])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_nll_loss_matches_torch(reduction, weighted, ignore_index):
    w = np.linspace(0.5, 2.0, 6) if weighted else None
    wt = None if w is None else torch.tensor(w)
    parity(lambda x: F.nll_loss(x, TARGET, w, ignore_index=ignore_index, reduction=reduction),
           lambda x: TF.nll_loss(x, torch.tensor(TARGET), wt, ignore_index=ignore_index,
                                 reduction=reduction), LOGP)


def test_nll_loss_of_spatial_inputs_and_of_one_sample():
    x = np.random.default_rng(4).normal(size=(2, 3, 4, 5))
    t = np.random.default_rng(5).integers(0, 3, size=(2, 4, 5))
    parity(lambda a: F.nll_loss(a, t), lambda a: TF.nll_loss(a, torch.tensor(t)), x)
    parity(lambda a: F.nll_loss(a, np.array(1)), lambda a: TF.nll_loss(a, torch.tensor(1)),
           LOGP[0])


def test_cross_entropy_is_nll_loss_of_log_softmax():
    w = np.linspace(0.5, 2.0, 6)
    a = F.cross_entropy(Tensor(X), TARGET, w, ignore_index=5)
    b = F.nll_loss(F.log_softmax(Tensor(X), dim=1), TARGET, w, ignore_index=5)
    assert a.item() == b.item()


PROBS = np.random.default_rng(6).uniform(0, 1, size=(4, 6))
PROBS[0, :5] = [0.0, 1.0, 1e-60, 1 - 1e-13, 0.5]  # the clamps and torch's eps
SOFT = np.random.default_rng(7).uniform(0, 1, size=(4, 6))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_matches_torch_at_0_and_1(reduction):
    w = np.random.default_rng(8).uniform(0.5, 2, size=6)  # broadcast along rows
    parity(lambda x, t: F.binary_cross_entropy(x, t, w, reduction=reduction),
           lambda x, t: TF.binary_cross_entropy(x, t, torch.tensor(w), reduction=reduction),
           PROBS, SOFT, grads=(0,))


def test_binary_cross_entropy_gradient_of_the_target_matches_torch():
    inside = np.random.default_rng(9).uniform(0.01, 0.99, size=(3, 4))
    parity(F.binary_cross_entropy, TF.binary_cross_entropy, inside, SOFT[:3, :4])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("with_weights", [False, True])
def test_binary_cross_entropy_with_logits_matches_torch(reduction, with_weights):
    logits = X * 30  # up to ~300: exp would overflow in a naive form
    w = np.random.default_rng(10).uniform(0.5, 2, size=(4, 1)) if with_weights else None
    pw = np.random.default_rng(11).uniform(0.5, 3, size=6) if with_weights else None

    def theirs(x, t):
        return TF.binary_cross_entropy_with_logits(
            x, t, None if w is None else torch.tensor(w), reduction=reduction,
            pos_weight=None if pw is None else torch.tensor(pw))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parity(lambda x, t: F.binary_cross_entropy_with_logits(
            x, t, w, reduction=reduction, pos_weight=pw), theirs, logits, SOFT)
        parity(F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits,
               EXTREMES, np.linspace(0, 1, EXTREMES.size))


Y = X + np.random.default_rng(12).uniform(-3, 3, size=X.shape)
Y[1, :3] = X[1, :3]  # ties: the kink of |d|
Y[2, :2] = X[2, :2] + [1.0, -0.5]  # |d| at beta = 1 or delta = 0.5 exactly


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_l1_loss_matches_torch_with_0_at_ties(reduction):
    parity(lambda x, y: F.l1_loss(x, y, reduction=reduction),
           lambda x, y: TF.l1_loss(x, y, reduction=reduction), X, Y)


@pytest.mark.parametrize("beta", [1.0, 0.5, 2.0, 0.0])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_smooth_l1_loss_matches_torch(beta, reduction):
    parity(lambda x, y: F.smooth_l1_loss(x, y, reduction=reduction, beta=beta),
           lambda x, y: TF.smooth_l1_loss(x, y, reduction=reduction, beta=beta), X, Y)


@pytest.mark.parametrize("delta", [1.0, 0.5, 3.0])
@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_huber_loss_matches_torch(delta, reduction):
    parity(lambda x, y: F.huber_loss(x, y, reduction=reduction, delta=delta),
           lambda x, y: TF.huber_loss(x, y, reduction=reduction, delta=delta), X, Y)


def test_huge_differences_stay_finite_in_the_piecewise_losses():
    x, y = np.array([1e200, -1e200, 0.5]), np.array([0.0, 0.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fn in (F.smooth_l1_loss, F.huber_loss):
            out = fn(Tensor(x), Tensor(y), reduction="none")
            assert np.isfinite(out.data).all()


# --------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call, error, words", [
    (lambda: F.softplus(X, beta=0), ValueError, "softplus: beta must be non-zero"),
    (lambda: F.softplus(X, beta="2"), TypeError, "softplus: beta must be a real number"),
    (lambda: F.softplus(X, threshold=float("nan")), ValueError, "softplus: threshold"),
    (lambda: F.leaky_relu(X, negative_slope=None), TypeError, "leaky_relu: negative_slope"),
    (lambda: F.elu(X, alpha=True), TypeError, "elu: alpha must be a real number"),
    (lambda: F.gelu(X, approximate="erf"), ValueError, "gelu: approximate must be one of"),
    (lambda: F.layer_norm(X, (5,)), tr.ShapeError, "layer_norm: normalized_shape (5,)"),
    (lambda: F.layer_norm(X, ()), TypeError, "layer_norm: normalized_shape must be"),
    (lambda: F.layer_norm(X, 2.0), TypeError, "layer_norm: normalized_shape must be"),
    (lambda: F.layer_norm(X, 6, np.ones(5)), tr.ShapeError, "layer_norm: weight must have"),
    (lambda: F.layer_norm(X, 6, eps=float("inf")), ValueError, "layer_norm: eps"),
    (lambda: F.normalize(X, p=-1.0), ValueError, "normalize: p must be >= 0"),
    (lambda: F.normalize(X, dim=2), tr.ShapeError, "normalize"),
    (lambda: F.nll_loss(LOGP, TARGET.astype(float)), TypeError, "nll_loss: target must hold"),
    (lambda: F.nll_loss(LOGP, np.array([0, 6, 1, 1])), IndexError, "nll_loss: target 6"),
    (lambda: F.nll_loss(LOGP, TARGET, reduction="avg"), ValueError, "nll_loss: reduction"),
    (lambda: F.binary_cross_entropy(PROBS + 0.5, SOFT), ValueError,
     "binary_cross_entropy: every element of input must lie in [0, 1]"),
    (lambda: F.binary_cross_entropy(PROBS, SOFT[:2]), tr.ShapeError,
     "binary_cross_entropy: input shape (4, 6) and target shape (2, 6)"),
    (lambda: F.binary_cross_entropy(PROBS, SOFT, np.ones(4)), tr.ShapeError,
     "binary_cross_entropy: weight of shape (4,) does not broadcast"),
    (lambda: F.binary_cross_entropy_with_logits(X, SOFT, pos_weight=np.ones(3)),
     tr.ShapeError, "binary_cross_entropy_with_logits: pos_weight of shape (3,)"),
    (lambda: F.binary_cross_entropy_with_logits(X, "soft"), TypeError,
     "binary_cross_entropy_with_logits: target"),
    (lambda: F.l1_loss(X, Y.T), tr.ShapeError, "l1_loss: input shape"),
    (lambda: F.smooth_l1_loss(X, Y, beta=-1.0), ValueError, "smooth_l1_loss: beta must be"),
    (lambda: F.huber_loss(X, Y, delta=0.0), ValueError, "huber_loss: delta must be > 0"),
    (lambda: F.huber_loss(X, Y, reduction=None), ValueError, "huber_loss: reduction"),
])
def test_bad_arguments_are_refused_in_the_functions_words(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)


def test_a_refused_loss_records_nothing():
    x = Tensor(PROBS + 0.5, requires_grad=True)
    with pytest.raises(ValueError):
        F.binary_cross_entropy(x, SOFT)
    assert x.grad is None and x.grad_fn is None
