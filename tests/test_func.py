"""``tr.func`` (issue 17) against ``torch.func``: vjp, jvp, jacrev, jacfwd, hessian, grad
(argnums, has_aux), their nestings, hvp, on small functions and on an LSTM built op by op;
and the transforms' own rules (inputs as arrays, outputs as Tensors, clear errors)."""

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 2))
Y = RNG.standard_normal(2)
W = RNG.standard_normal((2, 4))


def f(x, y):  # (3, 2), (2,) -> (3, 4); ours or torch's, by x's type
    w = W if isinstance(x, Tensor) else torch.tensor(W)
    return ((x * y) @ w).tanh() * (x.sum() + 1.0)


def loss(x, y):  # -> one element
    return (f(x, y) ** 2.0).sum() + (x.exp() * y).sum()


def t_(a):
    return torch.tensor(a, dtype=torch.float64)


def close(ours, theirs, tol=1e-10):
    """Nested tuples of Tensors against torch's, element by element."""
    if isinstance(theirs, (tuple, list)):
        assert isinstance(ours, (tuple, list)) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            close(a, b, tol)
        return
    assert isinstance(ours, Tensor), type(ours)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=tol, atol=tol)


def test_vjp_as_torch():
    out, vjp_fn = tr.func.vjp(f, X, Y)
    t_out, t_vjp_fn = torch.func.vjp(f, t_(X), t_(Y))
    v = RNG.standard_normal((3, 4))
    close(out, t_out)
    close(vjp_fn(v), t_vjp_fn(t_(v)))
    close(vjp_fn(Tensor(v)), t_vjp_fn(t_(v)))  # again: the graph is kept
    assert not out.requires_grad


def test_jvp_as_torch():
    u, w = RNG.standard_normal((3, 2)), RNG.standard_normal(2)
    close(tr.func.jvp(f, (X, Y), (u, w)), torch.func.jvp(f, (t_(X), t_(Y)), (t_(u), t_(w))))


@pytest.mark.parametrize("argnums", [0, 1, (0, 1), (1,)])
@pytest.mark.parametrize("transform", ["jacrev", "jacfwd"])
def test_jacobians_as_torch(transform, argnums):
    ours = getattr(tr.func, transform)(f, argnums=argnums)(X, Y)
    theirs = getattr(torch.func, transform)(f, argnums=argnums)(t_(X), t_(Y))
    close(ours, theirs)


@pytest.mark.parametrize("transform", ["jacrev", "jacfwd"])
def test_jacobians_of_a_tuple_output_as_torch(transform):
    def two(x, y):
        return f(x, y), (x * y).sin()
    close(getattr(tr.func, transform)(two, argnums=(0, 1))(X, Y),
          getattr(torch.func, transform)(two, argnums=(0, 1))(t_(X), t_(Y)))


@pytest.mark.parametrize("argnums", [0, 1, (0, 1)])
def test_hessian_as_torch(argnums):
    close(tr.func.hessian(loss, argnums=argnums)(X, Y),
          torch.func.hessian(loss, argnums=argnums)(t_(X), t_(Y)))


@pytest.mark.parametrize("argnums", [0, (0, 1)])
def test_grad_with_argnums_and_has_aux_as_torch(argnums):
    def with_aux(x, y):
        value = loss(x, y)
        return value, {"value": value}
    g, aux = tr.func.grad(with_aux, argnums=argnums, has_aux=True)(X, Y)
    t_g, t_aux = torch.func.grad(with_aux, argnums=argnums, has_aux=True)(t_(X), t_(Y))
    close(g, t_g)
    close(aux["value"], t_aux["value"])


def test_has_aux_of_vjp_jvp_and_jacobians_as_torch():
    def with_aux(x, y):
        return f(x, y), x.sum()
    u, w = np.ones((3, 2)), np.ones(2)
    out, t_out, aux = tr.func.jvp(with_aux, (X, Y), (u, w), has_aux=True)
    theirs = torch.func.jvp(with_aux, (t_(X), t_(Y)), (t_(u), t_(w)), has_aux=True)
    close((out, t_out, aux), theirs)
    out, vjp_fn, aux = tr.func.vjp(with_aux, X, Y, has_aux=True)
    t_out, t_vjp_fn, t_aux = torch.func.vjp(with_aux, t_(X), t_(Y), has_aux=True)
    close((out, vjp_fn(np.ones((3, 4))), aux), (t_out, t_vjp_fn(torch.ones(3, 4)), t_aux))
    for transform in ("jacrev", "jacfwd"):
        close(getattr(tr.func, transform)(with_aux, has_aux=True)(X, Y),
              getattr(torch.func, transform)(with_aux, has_aux=True)(t_(X), t_(Y)))


@pytest.mark.parametrize("outer, inner", [("jacrev", "jacrev"), ("jacfwd", "jacrev"),
                                          ("jacfwd", "jacfwd"), ("jacrev", "jacfwd")])
def test_nested_jacobians_as_torch(outer, inner):
    ours = getattr(tr.func, outer)(getattr(tr.func, inner)(f, argnums=1), argnums=1)(X, Y)
    theirs = getattr(torch.func, outer)(getattr(torch.func, inner)(f, argnums=1),
                                        argnums=1)(t_(X), t_(Y))
    close(ours, theirs)


def test_grad_of_grad_as_torch():
    def g_sum(tr_or_torch):
        def fn(x, y):
            return tr_or_torch.func.grad(loss)(x, y).sin().sum()
        return fn
    close(tr.func.grad(g_sum(tr), argnums=(0, 1))(X, Y),
          torch.func.grad(g_sum(torch), argnums=(0, 1))(t_(X), t_(Y)))


def test_a_closure_over_an_outer_transforms_variable():
    def outer(x):
        return tr.func.grad(lambda y: (x * y).sin().sum())(Y * 1.0).sum()

    def t_outer(x):
        return torch.func.grad(lambda y: (x * y).sin().sum())(t_(Y)).sum()

    close(tr.func.grad(outer)(Y), torch.func.grad(t_outer)(t_(Y)))


def test_hvp_is_the_hessian_times_the_tangents():
    u, w = RNG.standard_normal((3, 2)), RNG.standard_normal(2)
    value, (hx, hy) = tr.func.hvp(loss, (X, Y), (u, w))
    t_value, t_hvp = torch.autograd.functional.hvp(loss, (t_(X), t_(Y)), (t_(u), t_(w)))
    close((value, hx, hy), (t_value, *t_hvp))


def test_hvp_of_a_lone_tensor_is_a_lone_product_as_torch():
    value, product = tr.func.hvp(lambda x: loss(x, Y), X, W[:, :1].T.repeat(3, 0))
    t_value, t_product = torch.autograd.functional.hvp(lambda x: loss(x, t_(Y)), t_(X),
                                                       t_(W[:, :1].T.repeat(3, 0)))
    close((value, product), (t_value, t_product))


def test_a_transform_composes_with_backward():
    x = Tensor(X.copy(), requires_grad=True)
    tr.func.grad(loss)(x, Y).sin().sum().backward()
    tx = t_(X).requires_grad_()
    torch.func.grad(loss)(tx, t_(Y)).sin().sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_inputs_may_be_arrays_or_numbers_and_outputs_are_tensors():
    g = tr.func.grad(lambda a: (a * a * a).sum())(2.0)
    assert isinstance(g, Tensor) and g.item() == 12.0 and not g.requires_grad
    _, t = tr.func.jvp(lambda a: a.exp(), (np.zeros(2),), (np.ones(2),))
    assert isinstance(t, Tensor) and np.array_equal(t.data, np.ones(2))
    _, t = tr.func.jvp(lambda a: a * 0.0 + 1.0, (np.zeros(2),), (np.ones(2),))
    assert np.array_equal(t.data, np.zeros(2))


def test_clear_errors():
    with pytest.raises(RuntimeError, match=r"grad: the function must return a Tensor of "
                                           r"one element \(a loss\), got shape \(3, 4\)"):
        tr.func.grad(f)(X, Y)
    with pytest.raises(ValueError, match=r"jacrev: argnums 2 is out of range"):
        tr.func.jacrev(f, argnums=2)(X, Y)
    with pytest.raises(TypeError, match=r"jacfwd: argnums must be an int or a non-empty tuple"):
        tr.func.jacfwd(f, argnums="x")(X, Y)
    with pytest.raises(ValueError, match=r"jvp: tangents\[1\] has shape \(3,\), but "
                                         r"primals\[1\] has shape \(2,\)"):
        tr.func.jvp(f, (X, Y), (X, np.ones(3)))
    with pytest.raises(ValueError, match="jvp: expected one tangent per primal"):
        tr.func.jvp(f, (X, Y), (X,))
    with pytest.raises(TypeError, match="jvp: the function must return a Tensor or a tuple"):
        tr.func.jvp(lambda x: 3, (X,), (X,))
    with pytest.raises(TypeError, match=r"grad: with has_aux=True the function must return "
                                        r"a pair"):
        tr.func.grad(lambda x: x.sum(), has_aux=True)(X)
    _, vjp_fn = tr.func.vjp(f, X, Y)
    with pytest.raises(ValueError, match=r"vjp_fn: cotangent 0 has shape \(2,\)"):
        vjp_fn(np.ones(2))


# --------------------------------------------------------------------------- an LSTM, op by op


def _lstms():
    tr.manual_seed(0)
    ours = tr.nn.LSTM(2, 3)
    theirs = torch.nn.LSTM(2, 3).double()
    with torch.no_grad():
        for tp, p in zip(theirs.parameters(), ours.parameters()):
            tp.copy_(torch.tensor(p.data))
    return ours, theirs


def test_hessian_of_an_lstm_loss_as_torch():
    lstm, t_lstm = _lstms()
    x, h0 = RNG.standard_normal((3, 1, 2)), RNG.standard_normal((1, 1, 3))
    c0 = np.zeros((1, 1, 3))

    def ours(x, h):
        out, _ = lstm(x, (h, Tensor(c0)))
        return (out * out).sum() + out.sin().sum()

    def theirs(x, h):
        out, _ = t_lstm(x, (h, t_(c0)))
        return (out * out).sum() + out.sin().sum()

    with tr.replay.disabled():
        hessian = tr.func.hessian(ours, argnums=(0, 1))(x, h0)
        value, product = tr.func.hvp(ours, (x, h0), (np.ones_like(x), np.ones_like(h0)))
    t_hessian = torch.func.hessian(theirs, argnums=(0, 1))(t_(x), t_(h0))
    close(hessian, t_hessian)
    t_value, t_product = torch.autograd.functional.hvp(
        theirs, (t_(x), t_(h0)), (torch.ones(3, 1, 2, dtype=torch.float64),
                                  torch.ones(1, 1, 3, dtype=torch.float64)))
    close((value, *product), (t_value, *t_product))


def test_the_arguments_kept_for_torchs_signature_are_checked_as_torch_checks_them():
    with pytest.raises(ValueError, match="jacrev: chunk_size must be"):
        tr.func.jacrev(lambda x: x, chunk_size=0)
    with pytest.raises(TypeError, match="jacrev: chunk_size must be an int"):
        tr.func.jacrev(lambda x: x, chunk_size=1.5)
    with pytest.raises(ValueError, match="jacfwd: randomness must be one of"):
        tr.func.jacfwd(lambda x: x, randomness="bogus")
    x = np.array([1.0, 2.0])
    for chunk in (None, 1, 3):   # every chunk size, the same Jacobian
        assert np.array_equal(tr.func.jacrev(lambda v: v * v, chunk_size=chunk)(x).data,
                              np.diag(2 * x))
