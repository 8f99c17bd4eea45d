"""How the engine behaves, independently of any single op's derivative.

Graph shape (chains, reuse, diamonds), gradient accumulation, grad modes,
detach, retain_graph, dtypes, multi-output nodes, aliasing of ``.grad``, user
``Function``s. Expected values come from calculus, numpy or torch, never from
this engine's own earlier output. Per-op gradients live in tests/test_ops.py.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, ops
from tinygrad_rnn.tensor import unbroadcast

from _helpers import Softsign  # a user's own op


def rand(*shape, seed=0, low=-1.0, high=1.0, requires_grad=True, dtype=np.float64):
    data = np.random.default_rng(seed).uniform(low, high, shape).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


# --------------------------------------------------------------------------- graph shapes


def test_a_chain_of_100000_ops_backpropagates_without_recursion():
    # y = x * c, repeated N times: y = x c^N and dy/dx = c^N. A recursive
    # topological sort would hit Python's recursion limit long before N.
    n, c = 100_000, 1.0 + 1e-5
    x = Tensor(np.array([0.5, -2.0, 3.0]), requires_grad=True)
    y = x
    for _ in range(n):
        y = y * c
    y.sum().backward()
    np.testing.assert_allclose(y.data, x.data * c ** n, rtol=1e-9)
    np.testing.assert_allclose(x.grad, np.full(3, c ** n), rtol=1e-9)


def test_a_node_used_twice_gets_the_sum_of_both_paths():
    x = rand(5)
    y = x * x
    z = y + y  # z = 2 x^2, dz/dx = 4x
    z.sum().backward()
    np.testing.assert_allclose(x.grad, 4 * x.data)


def test_a_diamond_graph():
    # a = tanh(x); d = sum(2a * exp(a));  dd/dx = 2 (e^a + a e^a)(1 - a^2)
    x = rand(4, 3)
    a = x.tanh()
    d = ((a * 2) * a.exp()).sum()
    d.backward()
    an = np.tanh(x.data)
    np.testing.assert_allclose(x.grad, 2 * (np.exp(an) + an * np.exp(an)) * (1 - an ** 2))


def test_a_tensor_used_by_several_ops_matches_torch():
    torch = pytest.importorskip("torch")
    x, w = rand(3, 4, seed=1), rand(4, 2, seed=2)
    loss = (x @ w).tanh().sum() + (x * x).mean() - (x.sigmoid() * x).sum() + (w.exp() @ w.T).sum()
    loss.backward()
    xt = torch.tensor(x.data, requires_grad=True)
    wt = torch.tensor(w.data, requires_grad=True)
    lt = ((xt @ wt).tanh().sum() + (xt * xt).mean() - (xt.sigmoid() * xt).sum()
          + (wt.exp() @ wt.T).sum())
    lt.backward()
    np.testing.assert_allclose(loss.item(), lt.item(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(w.grad, wt.grad.numpy(), rtol=1e-10)


# --------------------------------------------------------------------------- random graphs
# The pool of a random graph grows by one value at a time, each made by one of the ways
# below from one or two values already in it. A value is a pair (ours, torch's), made by
# the same call on each side. Every ops.Function of op_cases.CASES is run by some way
# (test_the_random_graphs_grow_by_every_op_of_the_table), so a new op is covered here as
# soon as its row is in the table and its way is here.

GROWTH = {}  # name -> (the ops.Function classes it runs, how)


def grows(*functions):
    def register(how):
        GROWTH[how.__name__] = (functions, how)
        return how
    return register


def both(fn, *pairs):
    return fn(*(p[0] for p in pairs)), fn(*(p[1] for p in pairs))


def broadcast(a, b):
    """b if it broadcasts with a, else a itself."""
    try:
        np.broadcast_shapes(a[0].shape, b[0].shape)
        return b
    except ValueError:
        return a


def a_dim(draw, x, extra=0):
    return draw(st.integers(-(x[0].ndim + extra), x[0].ndim + extra - 1), label="dim")


def functional(name):
    """F.<name> on our side, torch.nn.functional.<name> on torch's."""
    import torch
    return lambda x, *args, **kw: (getattr(torch.nn.functional, name) if isinstance(
        x, torch.Tensor) else getattr(tr.functional, name))(x, *args, **kw)


@grows("Tanh")
def tanh(draw, a, b): return both(lambda x: x.tanh(), a)
@grows("Sigmoid")
def sigmoid(draw, a, b): return both(lambda x: x.sigmoid(), a)
@grows("Relu")
def relu(draw, a, b): return both(lambda x: x.relu(), a)
@grows("Neg")
def neg(draw, a, b): return both(lambda x: -x, a)
@grows("Exp", "Tanh")
def exp(draw, a, b): return both(lambda x: x.tanh().exp(), a)
@grows("Log", "Mul", "Add")
def log(draw, a, b): return both(lambda x: (x * x + 1.0).log(), a)
@grows("Add")
def add(draw, a, b): return both(lambda x, y: x + y, a, broadcast(a, b))
@grows("Sub")
def sub(draw, a, b): return both(lambda x, y: x - y, a, broadcast(a, b))
@grows("Mul")
def mul(draw, a, b): return both(lambda x, y: x * y, a, broadcast(a, b))
@grows("Div", "Mul", "Add")
def div(draw, a, b): return both(lambda x, y: x / (y * y + 1.0), a, broadcast(a, b))


@grows("Pow", "Sigmoid", "Add")
def power(draw, a, b):
    p = draw(st.sampled_from([2, 3, 0.5, -1, 1.5]), label="exponent")
    return both(lambda x: (x.sigmoid() + 0.5) ** p, a)  # a base in (0.5, 1.5)


@grows("Matmul", "Transpose")
def matmul_by_its_transpose(draw, a, b):  # x @ x.T, and x.T @ x
    if a[0].ndim == 0:
        return None
    if a[0].ndim == 1:
        return both(lambda x: x @ x, a)
    if draw(st.booleans(), label="x.T @ x"):
        return both(lambda x: x.transpose(-1, -2) @ x, a)
    return both(lambda x: x @ x.transpose(-1, -2), a)


@grows("Addmm", "Transpose", "GetItem")
def addmm(draw, a, b):
    if a[0].ndim != 2:
        return None
    return both(lambda x: x[0].addmm(x.T, x), a)  # (k,) + (k, n) @ (n, k)


@grows("PlaceAt", "GetItem")
def place_at(draw, a, b):  # x's first row kept, zeros elsewhere: GetItem's create_graph op
    if a[0].ndim == 0 or a[0].shape[0] == 0:
        return None
    import torch
    x, x_t = a
    ours = ops.PlaceAt.apply(x[0:1], index=slice(0, 1), shape=x.shape, dtype=x.dtype)
    return ours, torch.cat([x_t[0:1], torch.zeros_like(x_t[1:])])


@grows("NormalCdf")
def normal_cdf(draw, a, b):  # Phi(x): Gelu's create_graph op
    import torch
    x, x_t = a
    return ops.NormalCdf.apply(x), torch.special.ndtr(x_t)


@grows("Addcmul")
def addcmul(draw, a, b):
    value = draw(st.sampled_from([1.0, 0.5, -2.0]), label="value")
    return both(lambda x, y: x.addcmul(y, x, value=value), a, broadcast(a, b))


@grows("Lerp", "Sigmoid")
def lerp(draw, a, b):
    return both(lambda x, y: x.lerp(y, y.sigmoid()), a, broadcast(a, b))


@grows("Linear", "Reshape", "GetItem")
def linear(draw, a, b):  # x @ w.T + bias, with w and bias made of x
    if a[0].ndim == 0:
        return None
    k = a[0].shape[-1]
    return both(lambda x: functional("linear")(x, x.reshape(-1, k), x.reshape(-1, k)[:, 0]), a)


@grows("Embedding")
def embedding(draw, a, b):
    if a[0].ndim != 2:
        return None
    indices = np.array(draw(st.lists(st.integers(0, a[0].shape[0] - 1), min_size=1, max_size=4),
                            label="indices"))
    import torch
    return (tr.functional.embedding(indices, a[0]),
            torch.nn.functional.embedding(torch.tensor(indices), a[1]))



# ---- elementwise ops of issue 15 (ops-elem). Ties and kinks happen here (a value may
# meet itself): their conventions must be torch's, since torch is the reference.
@grows("Abs")
def abs_(draw, a, b): return both(lambda x: x.abs(), a)
@grows("Sign", "Mul")
def sign(draw, a, b): return both(lambda x: x.sign() * x, a)
@grows("Detach", "Mul")
def detach(draw, a, b): return both(lambda x: x * x.detach(), a)
@grows("Rsqrt", "Mul", "Add")
def rsqrt(draw, a, b): return both(lambda x: (x * x + 0.5).rsqrt(), a)
@grows("Sin")
def sin(draw, a, b): return both(lambda x: x.sin(), a)
@grows("Cos")
def cos(draw, a, b): return both(lambda x: x.cos(), a)
@grows("Log1p", "Mul")
def log1p(draw, a, b): return both(lambda x: (x * x).log1p(), a)
@grows("Expm1", "Tanh")
def expm1(draw, a, b): return both(lambda x: x.tanh().expm1(), a)


@grows("Clamp")
def clamp(draw, a, b):
    # (tensor bounds of x's own shape: torch's backward fails where they broadcast x up)
    if a[0].shape == b[0].shape and draw(st.booleans(), label="tensor bounds"):
        return both(lambda x, low: x.clamp(min=low, max=low + 0.5), a, b)
    low = draw(st.sampled_from([-1.0, 0.0, None]), label="min")
    return both(lambda x: x.clamp(low, 0.5), a)


@grows("Maximum", "Minimum")
def maximum_minimum(draw, a, b):
    return both(lambda x, y: x.maximum(y) + x.minimum(y * 0.5), a, broadcast(a, b))


@grows("Gt", "Le", "Where")
def where(draw, a, b):
    return both(lambda x, y: x.where(x > y, y * 2.0) + x.where(x <= 0, 1.0), a, broadcast(a, b))


@grows("Lt", "Ge", "Eq", "Ne", "Where")
def masked_fill(draw, a, b):
    return both(lambda x, y: x.masked_fill(x < y, 0.5).masked_fill(x == y, -1.0)
                .masked_fill(x >= 1.0, 2.0).masked_fill(x != y, 0.0), a, broadcast(a, b))


@grows("LogicalNot", "LogicalAnd", "LogicalOr", "LogicalXor", "AnyTrue", "AllTrue", "Where")
def logical(draw, a, b):  # (protocol-polish) masks made by the boolean ops
    return both(lambda x, y: x.masked_fill(~(x > y) & (x != 0.5) | ((x < 0) ^ (y > 0)), 0.5)
                .masked_fill(x.logical_and(y).logical_or(x.logical_xor(y)).logical_not(), -1.0)
                .masked_fill((x > 0).any() & (y < 1).all(-1, keepdim=True), 2.0),
                a, broadcast(a, b))


@grows("PowTensor", "Sigmoid", "Add")
def power_tensor(draw, a, b):  # a base in (0.5, 1.5), and 2 ** x
    return both(lambda x, y: (x.sigmoid() + 0.5) ** y + 2 ** x, a, broadcast(a, b))

@grows("Sum")
def sum_(draw, a, b):
    dim = None if a[0].ndim == 0 or draw(st.booleans(), label="all") else a_dim(draw, a)
    keep = draw(st.booleans(), label="keepdim")
    return both(lambda x: x.sum() if dim is None else x.sum(dim=dim, keepdim=keep), a)


@grows("Mean")
def mean(draw, a, b):
    dim = None if a[0].ndim == 0 or draw(st.booleans(), label="all") else a_dim(draw, a)
    keep = draw(st.booleans(), label="keepdim")
    return both(lambda x: x.mean() if dim is None else x.mean(dim=dim, keepdim=keep), a)


@grows("Cast")
def cast(draw, a, b):  # through float32 and back: the values and gradients rounded once
    return a[0].to(np.float32).double(), a[1].float().double()


@grows("Reshape")
def reshape(draw, a, b):
    return both(lambda x: x.reshape(tuple(reversed(x.shape))), a)


@grows("Transpose")
def transpose(draw, a, b):
    if a[0].ndim < 2:
        return None
    d0, d1 = a_dim(draw, a), a_dim(draw, a)
    return both(lambda x: x.transpose(d0, d1), a)


@grows("GetItem")
def getitem(draw, a, b):  # rows picked by an index array, some twice
    if a[0].ndim == 0:
        return None
    rows = draw(st.lists(st.integers(0, a[0].shape[0] - 1), min_size=1, max_size=4),
                label="rows")
    import torch
    return a[0][np.array(rows)], a[1][torch.tensor(rows)]


@grows("Concat")
def concat(draw, a, b):
    if a[0].ndim == 0:
        return None
    dim = a_dim(draw, a)
    import torch
    return tr.concat([a[0], a[0] * 2.0], dim=dim), torch.cat([a[1], a[1] * 2.0], dim=dim)


@grows("Stack")
def stack(draw, a, b):
    dim = a_dim(draw, a, extra=1) if a[0].ndim else 0
    import torch
    return tr.stack([a[0], a[0].tanh()], dim=dim), torch.stack([a[1], a[1].tanh()], dim=dim)


@grows("Split")
def split(draw, a, b):  # one part of a split or of a chunk: the others get no gradient
    if a[0].ndim == 0:
        return None
    dim = a_dim(draw, a)
    if draw(st.booleans(), label="chunk"):
        parts = both(lambda x: x.chunk(2, dim=dim), a)
    else:
        parts = both(lambda x: x.split(1, dim=dim), a)
    i = draw(st.integers(0, len(parts[0]) - 1), label="part")
    return parts[0][i], parts[1][i]


@grows("Unbind")
def unbind(draw, a, b):
    if a[0].ndim == 0:
        return None
    dim = a_dim(draw, a)
    parts = both(lambda x: x.unbind(dim=dim), a)
    i = draw(st.integers(0, len(parts[0]) - 1), label="slice")
    return parts[0][i], parts[1][i]


@grows("Sub", "Exp", "Sum", "Div")
def softmax(draw, a, b):
    if a[0].ndim == 0:
        return None
    dim = a_dim(draw, a)
    return both(lambda x: functional("softmax")(x, dim=dim), a)


@grows("Sub", "Exp", "Sum", "Log")
def log_softmax(draw, a, b):
    if a[0].ndim == 0:
        return None
    dim = a_dim(draw, a)
    return both(lambda x: functional("log_softmax")(x, dim=dim), a)


@grows("Sub", "Exp", "Sum", "Log", "GetItem", "Mul", "Div")
def cross_entropy(draw, a, b):
    if a[0].ndim != 2:
        return None
    n, c = a[0].shape
    target = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n),
                           label="target"))
    smoothing = draw(st.sampled_from([0.0, 0.1]), label="label_smoothing")
    import torch
    return (tr.functional.cross_entropy(a[0], target, label_smoothing=smoothing),
            torch.nn.functional.cross_entropy(a[1], torch.tensor(target),
                                              label_smoothing=smoothing))


@grows("Sub", "Mul", "Mean")
def mse_loss(draw, a, b):
    y = b if b[0].shape == a[0].shape else both(lambda x: x.tanh(), a)
    return both(lambda x, t: functional("mse_loss")(x, t), a, y)


# ---- issue 15 (ops-func): activations, normalisations and losses of functional.py
@grows("Softplus")
def softplus(draw, a, b):
    beta, threshold = draw(st.sampled_from([(1.0, 20.0), (2.0, 1.0), (-1.0, 20.0)]),
                           label="beta, threshold")
    return both(lambda x: functional("softplus")(x, beta, threshold), a)


@grows("LeakyRelu")
def leaky_relu(draw, a, b):
    slope = draw(st.sampled_from([0.01, -0.5, 2.0]), label="negative_slope")
    return both(lambda x: functional("leaky_relu")(x, slope), a)


@grows("Elu")
def elu(draw, a, b):
    alpha = draw(st.sampled_from([1.0, 0.5]), label="alpha")
    return both(lambda x: functional("elu")(x, alpha), a)


@grows("Gelu")
def gelu(draw, a, b):
    approximate = draw(st.sampled_from(["none", "tanh"]), label="approximate")
    return both(lambda x: functional("gelu")(x, approximate=approximate), a)


@grows("Sigmoid", "Mul")
def silu(draw, a, b): return both(lambda x: functional("silu")(x), a)


@grows("Mean", "Sub", "Mul", "Add", "Pow")
def layer_norm(draw, a, b):
    if a[0].ndim == 0:
        return None
    k = a[0].shape[-1]
    affine = draw(st.booleans(), label="weight and bias")  # made of x: gradients flow back
    return both(lambda x: functional("layer_norm")(
        x, (k,), *((x.reshape(-1, k)[0], x.reshape(-1, k)[-1] * 0.5) if affine else ())), a)


@grows("Mul", "Sum", "Div", "Tanh", "Exp")
def normalize(draw, a, b):  # of elements in [1/e, e]: a tiny norm is ill-conditioned
    p = draw(st.sampled_from([2.0, 1.0, 3.0, 0.5, float("inf")]), label="p")
    dim = a_dim(draw, a) if a[0].ndim else 0
    return both(lambda x: functional("normalize")(x.tanh().exp(), p, dim), a)


@grows("GetItem", "Mul", "Neg", "Sum")  # (and Div unless every target is ignored)
def nll_loss(draw, a, b):
    if a[0].ndim != 2:
        return None
    n, c = a[0].shape
    target = np.array(draw(st.lists(st.integers(-1, c - 1), min_size=n, max_size=n),
                           label="target"))
    import torch
    return (tr.functional.nll_loss(a[0], target, ignore_index=-1),
            torch.nn.functional.nll_loss(a[1], torch.tensor(target), ignore_index=-1))


@grows("BinaryCrossEntropy", "Sigmoid")
def binary_cross_entropy(draw, a, b):
    y = b if b[0].shape == a[0].shape else a
    reduction = draw(st.sampled_from(["mean", "sum", "none"]), label="reduction")
    return both(lambda x, t: functional("binary_cross_entropy")(
        x.sigmoid(), t.sigmoid(), reduction=reduction), a, y)


@grows("Softplus", "Neg", "Mul", "Add")
def binary_cross_entropy_with_logits(draw, a, b):
    y = b if b[0].shape == a[0].shape else both(lambda x: x.sigmoid(), a)
    pos = a[0].ndim > 0 and draw(st.booleans(), label="pos_weight")
    pos_weight = np.linspace(0.5, 2.0, a[0].shape[-1]) if pos else None

    def loss(x, t):
        import torch
        p = None if pos_weight is None else (
            torch.tensor(pos_weight) if isinstance(x, torch.Tensor) else pos_weight)
        return functional("binary_cross_entropy_with_logits")(x, t, pos_weight=p)
    return both(loss, a, y)


@grows("Sub", "Mul")
def l1_loss(draw, a, b):
    y = b if b[0].shape == a[0].shape else both(lambda x: x.relu(), a)  # ties where x <= 0
    return both(lambda x, t: functional("l1_loss")(x, t), a, y)


@grows("Sub", "Mul")
def smooth_l1_and_huber_loss(draw, a, b):
    y = b if b[0].shape == a[0].shape else both(lambda x: x.tanh(), a)
    width = draw(st.sampled_from([1.0, 0.5, 0.0]), label="beta or delta")
    if draw(st.booleans(), label="huber") and width > 0:
        return both(lambda x, t: functional("huber_loss")(x, t, delta=width), a, y)
    return both(lambda x, t: functional("smooth_l1_loss")(x, t, beta=width), a, y)


# ---- reductions and shape ops of issue 15 (ops-reduce): ties happen here (the leaves
# are drawn freely), and the gradients must still be torch's


def some_dims(draw, a):
    """An int dim or a tuple of dims of a (not 0-d)."""
    if draw(st.booleans(), label="one dim"):
        return a_dim(draw, a)
    return tuple(draw(hnp.valid_tuple_axes(a[0].ndim, min_size=1), label="dims"))


def extremum(draw, a, largest):
    keep = draw(st.booleans(), label="keepdim")
    dims = () if a[0].ndim == 0 else some_dims(draw, a)
    return both(lambda x: x.amax(dims, keepdim=keep) if largest
                else x.amin(dims, keepdim=keep), a)


@grows("Amax")
def amax(draw, a, b): return extremum(draw, a, True)
@grows("Amin")
def amin(draw, a, b): return extremum(draw, a, False)


@grows("Gather")
def max_min_along_a_dim(draw, a, b):  # the values; the gradient goes to the index
    if a[0].ndim == 0:
        return None
    dim, keep = a_dim(draw, a), draw(st.booleans(), label="keepdim")
    largest = draw(st.booleans(), label="max")
    ours = (a[0].max if largest else a[0].min)(dim, keepdim=keep)
    theirs = (a[1].max if largest else a[1].min)(dim, keepdim=keep)
    np.testing.assert_array_equal(ours.indices.data, theirs.indices.numpy())
    return ours.values, theirs.values


@grows("LogSumExp")
def logsumexp(draw, a, b):
    dims = 0 if a[0].ndim == 0 else some_dims(draw, a)
    keep = draw(st.booleans(), label="keepdim")
    return both(lambda x: x.logsumexp(dims, keepdim=keep), a)


def spread(draw, a, std):
    dims = None if a[0].ndim == 0 or draw(st.booleans(), label="all") else some_dims(draw, a)
    keep = draw(st.booleans(), label="keepdim")
    return both(lambda x: (x.std if std else x.var)(dims, keepdim=keep, correction=0), a)


@grows("Var")
def var(draw, a, b): return spread(draw, a, False)
@grows("Std")
def std(draw, a, b):  # off a ramp: at a constant slice the std's gradient is all rounding
    ramp = np.arange(a[0].size, dtype=np.float64).reshape(a[0].shape) * 0.37
    import torch
    return spread(draw, (a[0] + ramp, a[1] + torch.tensor(ramp)), True)


@grows("Norm")
def norm(draw, a, b):
    p = draw(st.sampled_from([2.0, 1.0, float("inf"), 0.5, 3.0]), label="p")
    dims = None if a[0].ndim == 0 or draw(st.booleans(), label="all") else some_dims(draw, a)
    keep = draw(st.booleans(), label="keepdim")
    # (off 0.5: of subnormal values torch's norm underflows and ours, scaled, does not;
    # tests/test_ops_reduce.py checks those, and norms at 0)
    return both(lambda x: (x + 0.5).norm(p, dims, keepdim=keep), a)


@grows("Cumsum")
def cumsum(draw, a, b):
    dim = 0 if a[0].ndim == 0 else a_dim(draw, a)
    return both(lambda x: x.cumsum(dim), a)


@grows("Expand")
def expand(draw, a, b):
    sizes = [draw(st.integers(1, 3), label="new dim")] + [
        draw(st.sampled_from([-1, 2]), label="size") if n == 1 else -1 for n in a[0].shape]
    return both(lambda x: x.expand(*sizes), a)


@grows("Flip")
def flip(draw, a, b):
    dims = () if a[0].ndim == 0 else some_dims(draw, a)
    return both(lambda x: x.flip(dims), a)


@grows("Gather")
def gather(draw, a, b):  # picks repeat: their gradients add
    if a[0].ndim == 0:
        return None
    import torch
    dim = a_dim(draw, a)
    shape = list(a[0].shape)
    shape[dim] = draw(st.integers(1, 4), label="picks")
    index = draw(hnp.arrays(np.int64, tuple(shape), elements=st.integers(0, a[0].shape[dim] - 1)),
                 label="index")
    return a[0].gather(dim, index), a[1].gather(dim, torch.tensor(index))


@grows("IndexSelect")
def index_select(draw, a, b):
    if a[0].ndim == 0:
        return None
    import torch
    dim = a_dim(draw, a)
    index = np.array(draw(st.lists(st.integers(0, a[0].shape[dim] - 1), min_size=1, max_size=4),
                          label="index"))
    return a[0].index_select(dim, index), a[1].index_select(dim, torch.tensor(index))


def batches_broadcast(a, b):
    try:
        np.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


@grows("Einsum")
def einsum(draw, a, b):  # a product with b where their last dims agree, else a diagonal
    import torch
    x, y = a, b
    if x[0].ndim >= 1 and y[0].ndim >= 1 and x[0].shape[-1] == y[0].shape[-1] \
            and batches_broadcast(x[0].shape[:-1], y[0].shape[:-1]):
        equation = "...i,...i->..." if draw(st.booleans(), label="batched") else "...i,...i"
    elif x[0].ndim >= 2 and x[0].shape[-1] == x[0].shape[-2]:
        return both(lambda t: (tr if isinstance(t, Tensor) else torch).einsum("...ii->...i", t),
                    x)
    else:
        return both(lambda t: (tr if isinstance(t, Tensor) else torch).einsum("...->", t), x)
    return (tr.einsum(equation, x[0], y[0]), torch.einsum(equation, x[1], y[1]))


LEAF_SHAPES = [(3,), (2, 3), (2, 1), (2, 1, 3)]


def grow_a_pool(data, length):
    """The leaves (ours and torch's) and a pool grown from them ``length`` times."""
    import torch
    # (0 or at least 1e-6 in size: products of values below 1e-154 underflow, and BLAS and
    # numpy round them to 0 or to a subnormal differently; abs's kink at 0 then turns that
    # into gradients that differ by O(1), both right. Seen once: 5e-161 through addmm, abs)
    magnitudes = st.one_of(st.just(0.0), st.floats(1e-6, 2), st.floats(-2, -1e-6))
    values = [data.draw(hnp.arrays(np.float64, s, elements=magnitudes), label=f"leaf {i}")
              for i, s in enumerate(LEAF_SHAPES)]
    leaves = [(Tensor(v.copy(), requires_grad=True), torch.tensor(v, requires_grad=True))
              for v in values]
    pool = list(leaves)
    for _ in range(length):
        name = data.draw(st.sampled_from(sorted(GROWTH)), label="op")
        a = pool[data.draw(st.integers(0, len(pool) - 1), label="a")]
        b = pool[data.draw(st.integers(0, len(pool) - 1), label="b")]
        grown = GROWTH[name][1](data.draw, a, b)
        if grown is not None:
            pool.append(grown)
    return leaves, pool


@settings(deadline=None, max_examples=200)
@given(data=st.data())
def test_random_graphs_with_reuse_and_broadcasting_match_torch(data):
    """Random programs over a pool of tensors, grown by every op of the table: every
    value may be reused by later ops, and the leaves broadcast against each other."""
    pytest.importorskip("torch")
    leaves, pool = grow_a_pool(data, data.draw(st.integers(1, 12), label="length"))
    # every value of the pool feeds the loss, with its own weight
    weights = [float(w) for w in np.random.default_rng(len(pool)).uniform(-1, 1, len(pool))]
    loss = sum((p[0] * w).sum() for p, w in zip(pool, weights))
    loss_t = sum((p[1] * w).sum() for p, w in zip(pool, weights))
    loss.backward()
    loss_t.backward()
    np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=1e-9)
    for leaf, leaf_t in leaves:
        expected = leaf_t.grad.numpy()
        np.testing.assert_allclose(leaf.grad, expected, rtol=1e-9,
                                   atol=1e-12 * max(1.0, np.abs(expected).max()))


def test_the_random_graphs_grow_by_every_op_of_the_table():
    from tinygrad_rnn.op_cases import CASES

    in_table = {name for case in CASES for name in case.functions}
    grown = {name for functions, _ in GROWTH.values() for name in functions}
    assert in_table <= grown, (f"add a way to grow the random graphs of tests/test_engine.py "
                               f"by {sorted(in_table - grown)}")


@settings(deadline=None, max_examples=10)
@given(data=st.data())
def test_each_way_of_growing_runs_the_ops_it_names(data):
    torch = pytest.importorskip("torch")
    a = (Tensor(np.full((2, 3), 0.5), requires_grad=True),
         torch.full((2, 3), 0.5, dtype=torch.float64, requires_grad=True))
    for name, (functions, how) in GROWTH.items():
        with tr.autograd.noting_ops() as log:
            how(data.draw, a, a)
        ran = {entry[0].__name__ for entry in log}
        assert set(functions) <= ran, f"{name} never ran {sorted(set(functions) - ran)}"


# --------------------------------------------------------------------------- accumulation


def test_leaf_gradients_accumulate_across_backward_calls_and_zero_grad_resets():
    x = rand(3)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data)
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 3.0)
    x.zero_grad()
    assert x.grad is None
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad, np.full(3, 3.0))


def test_accumulation_matches_torch():
    torch = pytest.importorskip("torch")
    x = rand(2, 3)
    xt = torch.tensor(x.data, requires_grad=True)
    for fn in (lambda a: (a * a).sum(), lambda a: a.tanh().mean(), lambda a: (a.exp() * a).sum()):
        fn(x).backward()
        fn(xt).backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12)


def test_leaf_gradients_are_never_aliased():
    a, b = rand(3, seed=1), rand(3, seed=2)
    (a + b).sum().backward()  # add hands the same upstream array to both inputs
    assert a.grad is not b.grad and not np.shares_memory(a.grad, b.grad)
    a.grad *= 10.0  # what an optimizer does
    np.testing.assert_array_equal(b.grad, np.ones(3))
    np.testing.assert_array_equal(a.grad, np.full(3, 10.0))


def test_leaf_gradient_is_a_writable_copy_of_what_backward_was_given():
    x = rand(2, 3)
    upstream = np.ones((2, 3))
    (x + 0.0).backward(upstream)  # add passes the upstream array through unchanged
    assert not np.shares_memory(x.grad, upstream)
    x.grad += 1.0  # sum's gradient is a read-only broadcast view inside the graph
    np.testing.assert_array_equal(upstream, np.ones((2, 3)))
    y = rand(4)
    y.sum().backward()
    assert y.grad.flags.writeable
    y.grad *= 2.0
    np.testing.assert_array_equal(y.grad, np.full(4, 2.0))


def test_retained_gradients_are_writable_and_not_shared():
    x = rand(2, 3)
    y1, y2 = x * 2.0, x * 3.0
    y1.retain_grad()
    y2.retain_grad()
    (y1 + y2).sum().backward()  # add gives y1 and y2 the same (read-only) array
    assert not np.shares_memory(y1.grad, y2.grad)
    y1.grad *= 0.0
    np.testing.assert_array_equal(y2.grad, np.ones((2, 3)))


# --------------------------------------------------------------------------- grad modes


def test_no_grad_records_nothing():
    x = rand(3)
    with tr.no_grad():
        assert not tr.is_grad_enabled()
        y = x * 2 + 1
    assert tr.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_no_grad_as_a_decorator_and_restored_after_an_exception():
    @tr.no_grad()
    def double(t):
        """doubles"""
        return t * 2

    x = rand(3)
    assert not double(x).requires_grad
    assert double.__name__ == "double" and double.__doc__ == "doubles"
    assert (x * 2).requires_grad  # recording is back on after the call
    with pytest.raises(ZeroDivisionError), tr.no_grad():
        1 / 0  # noqa: B018  (the error it raises is the point)
    assert tr.is_grad_enabled()


def test_no_grad_and_enable_grad_as_bare_decorators():
    @tr.no_grad
    def double(t):
        return t * 2

    @tr.enable_grad
    def triple(t):
        return t * 3

    x = rand(3)
    assert not double(x).requires_grad and double.__name__ == "double"
    with tr.no_grad():
        assert triple(x).requires_grad
    assert tr.is_grad_enabled()


def test_enable_grad_inside_no_grad():
    x = rand(3)
    with tr.no_grad():
        with tr.enable_grad():
            y = x * x
        z = x * x
    assert y.requires_grad and y.grad_fn is ops.Mul
    assert not z.requires_grad
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data)

    @tr.enable_grad()
    def square(t):
        return t * t

    with tr.no_grad():
        assert square(x).requires_grad


def test_detach_stops_the_gradient_and_shares_memory():
    x = rand(4)
    y = x * 3.0
    d = y.detach()
    assert np.shares_memory(d.data, y.data)
    assert d.is_leaf and not d.requires_grad and d.grad_fn is None
    (d * x).sum().backward()  # d is a constant 3x: the gradient is 3x, not 6x
    np.testing.assert_allclose(x.grad, 3.0 * x.data)


def test_requires_grad_propagation_is_leaf_and_grad_fn():
    a = rand(3)
    b = rand(3, requires_grad=False)
    assert a.is_leaf and b.is_leaf and a.grad_fn is None
    assert (a * b).requires_grad and not (a * b).is_leaf
    assert (a * b).grad_fn is ops.Mul and a.tanh().grad_fn is ops.Tanh
    c = b * b
    assert not c.requires_grad and c.is_leaf and c.grad_fn is None
    with pytest.raises(RuntimeError, match="leaf"):
        (a * 2).requires_grad = False
    b.requires_grad = True  # a leaf may be switched on later
    (b * b).sum().backward()
    np.testing.assert_allclose(b.grad, 2 * b.data)


def test_only_leaves_keep_grad_unless_retain_grad():
    x = rand(3)
    y, w = x * 2.0, x * 4.0
    y.retain_grad()
    ((y * y).sum() + (w * w).sum()).backward()
    np.testing.assert_allclose(y.grad, 2 * y.data)  # d(sum y^2)/dy = 2y
    assert w.grad is None
    np.testing.assert_allclose(x.grad, 2 * 2 * y.data + 4 * 2 * w.data)


# --------------------------------------------------------------------------- retain_graph


def test_second_backward_through_a_freed_graph_raises_and_names_retain_graph():
    x = rand(3)
    loss = (x.tanh() * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()


def test_a_graph_that_saved_nothing_can_be_walked_twice_as_in_torch():
    x = rand(4)
    a, b = x.split(2)
    loss = (a + b - x[:2]).sum()  # add, sub, split, getitem, sum: nothing saved
    loss.backward()
    first = x.grad.copy()
    loss.backward()
    np.testing.assert_array_equal(x.grad, 2 * first)
    np.testing.assert_array_equal(first, [0.0, 0.0, 1.0, 1.0])


def test_retain_graph_allows_a_second_backward_which_doubles_the_grad():
    x = rand(3)
    loss = (x.tanh() * x).sum()
    loss.backward(retain_graph=True)
    first = x.grad.copy()
    loss.backward()
    np.testing.assert_allclose(x.grad, 2 * first)
    t = np.tanh(x.data)
    np.testing.assert_allclose(first, t + x.data * (1 - t ** 2))


# --------------------------------------------------------------------------- dtypes

F32_OPS = {
    "add scalar": lambda x, w: x + 1, "radd": lambda x, w: 1 + x, "sub": lambda x, w: x - 1.5,
    "rsub": lambda x, w: 2 - x, "mul": lambda x, w: x * 3, "rmul": lambda x, w: 3.0 * x,
    "div": lambda x, w: x / 2, "rdiv": lambda x, w: 2 / x, "neg": lambda x, w: -x,
    "pow2": lambda x, w: x ** 2, "pow": lambda x, w: x ** 1.5, "sqrt": lambda x, w: x.sqrt(),
    "matmul": lambda x, w: x @ w, "exp": lambda x, w: x.exp(), "log": lambda x, w: x.log(),
    "tanh": lambda x, w: x.tanh(), "sigmoid": lambda x, w: x.sigmoid(),
    "relu": lambda x, w: x.relu(), "sum": lambda x, w: x.sum(0), "mean": lambda x, w: x.mean(1),
    "reshape": lambda x, w: x.reshape(3, 2), "T": lambda x, w: x.T,
    "getitem": lambda x, w: x[[0, 0, 1]], "concat": lambda x, w: tr.concat([x, x], dim=1),
    "stack": lambda x, w: tr.stack([x, x]), "split": lambda x, w: x.split([1, 2], dim=1)[1],
    "chunk": lambda x, w: x.chunk(2, dim=1)[0], "unbind": lambda x, w: x.unbind(1)[2],
    "mul tensor": lambda x, w: x * x, "chain": lambda x, w: ((x @ w).tanh() * 0.5).sigmoid(),
}


@pytest.mark.parametrize("name", sorted(F32_OPS))
def test_float32_is_kept_through_every_op_and_gradient(name):
    x = rand(2, 3, low=0.5, high=1.5, dtype=np.float32)
    w = rand(3, 4, dtype=np.float32)
    out = F32_OPS[name](x, w)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32
    assert w.grad is None or w.grad.dtype == np.float32


def test_mixed_float32_and_float64_promotes_forward_but_grads_keep_each_leaf_dtype():
    x32, x64 = rand(3, dtype=np.float32), rand(3, seed=1)
    y = x32 * x64
    assert y.dtype == np.float64
    y.sum().backward()
    assert x32.grad.dtype == np.float32 and x64.grad.dtype == np.float64
    np.testing.assert_allclose(x32.grad, x64.data.astype(np.float32))


@pytest.mark.parametrize("data", [3, 2.5, True, [1, 2], [[1.5]], np.arange(3),
                                  np.array([True, False]), np.array([1, 2], dtype=np.int32)])
def test_python_numbers_lists_ints_and_bools_become_float64(data):
    t = Tensor(data)
    assert t.dtype == np.float64
    np.testing.assert_array_equal(t.data, np.asarray(data, dtype=np.float64))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_float_ndarray_is_not_copied(dtype):
    a = np.ones((2, 3), dtype=dtype)
    t = Tensor(a)
    assert t.data is a and t.dtype == dtype


# -------------------------------------------------------------- backward(gradient), several outputs


def test_backward_with_a_gradient_for_a_non_scalar():
    x = rand(2, 3)
    g = np.random.default_rng(5).standard_normal((2, 3))
    (x * x).backward(g)
    np.testing.assert_allclose(x.grad, 2 * x.data * g)


def test_backward_with_a_gradient_on_a_leaf():
    x = rand(2, 3)
    g = np.arange(6.0).reshape(2, 3)
    x.backward(g)
    np.testing.assert_array_equal(x.grad, g)
    assert not np.shares_memory(x.grad, g)


@pytest.mark.parametrize("split", [
    lambda x: x.split([1, 2, 3], dim=1),
    lambda x: x.chunk(3, dim=1),
    lambda x: x.split(2, dim=1),
])
def test_split_with_only_one_output_used(split):
    x = rand(4, 6)
    parts = split(x)
    # weight the middle part only: the others contribute zero
    (parts[1] * 5.0).sum().backward()
    start = parts[0].shape[1]
    expected = np.zeros((4, 6))
    expected[:, start:start + parts[1].shape[1]] = 5.0
    np.testing.assert_array_equal(x.grad, expected)


def test_unbind_with_some_outputs_used():
    x = rand(5, 2, 3)
    steps = x.unbind(0)
    assert len(steps) == 5
    loss = (steps[1] * steps[1]).sum() + steps[3].sum() + (steps[1] * 2.0).sum()
    loss.backward()
    expected = np.zeros_like(x.data)
    expected[1] = 2 * x.data[1] + 2.0
    expected[3] = 1.0
    np.testing.assert_allclose(x.grad, expected)


def test_backward_from_a_secondary_output_of_a_multi_output_node():
    x = rand(6)
    a, b = x.chunk(2)
    b.backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(x.grad, [0, 0, 0, 1, 2, 3])


# --------------------------------------------------------------------------- user Functions


class ScaledSum(tr.Function):
    """out = x * y + x (broadcasting).   dx = grad * (y + 1),  dy = grad * x.

    Its backward returns gradients of the broadcast shape; the engine reduces them."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y + x

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        return grad * (y + 1), grad * x


def test_a_user_function_softsign():
    x = rand(3, 4, low=-3, high=3)
    y = Softsign.apply(x)
    assert y.grad_fn is Softsign
    np.testing.assert_allclose(y.data, x.data / (1 + np.abs(x.data)))
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 1 / (1 + np.abs(x.data)) ** 2)
    assert tr.gradcheck(lambda t: Softsign.apply(t), [rand(3, 4, seed=3, low=0.1, high=2)])


def test_a_user_function_gets_broadcasting_reduced_by_the_engine():
    x, y = rand(3, 4, seed=1), rand(4, seed=2)  # y broadcast along axis 0
    ScaledSum.apply(x, y).sum().backward()
    np.testing.assert_allclose(x.grad, np.broadcast_to(y.data + 1, (3, 4)))
    np.testing.assert_allclose(y.grad, x.data.sum(axis=0))
    a, b = rand(2, 1, 3, seed=3), rand(4, 1, seed=4)  # both broadcast
    ScaledSum.apply(a, b).sum().backward()
    np.testing.assert_allclose(a.grad, np.broadcast_to(4 + b.data.sum(), (2, 1, 3)))
    np.testing.assert_allclose(b.grad, np.full((4, 1), a.data.sum()))


def test_a_user_function_returning_the_wrong_number_of_gradients_names_the_op():
    class TwoGrads(tr.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 2, grad

    with pytest.raises(RuntimeError, match=r"TwoGrads\.backward returned 2 gradients for 1 input"):
        TwoGrads.apply(rand(3)).sum().backward()


@pytest.mark.parametrize("bad_shape", [(5,), (2, 1), (3,), (3, 4, 1)])
def test_a_user_function_returning_an_unreducible_shape_names_the_op(bad_shape):
    class BadShape(tr.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return np.ones(bad_shape)

    x = rand(3, 1)
    with pytest.raises(RuntimeError, match=r"BadShape\.backward returned a gradient of shape"):
        BadShape.apply(x).sum().backward()


def test_a_user_function_may_return_none_for_an_input_that_requires_grad():
    class FirstOnly(tr.Function):
        """out = x + y, but only x gets a gradient (as a stop-gradient on y)."""

        @staticmethod
        def forward(ctx, x, y):
            return x + y

        @staticmethod
        def backward(ctx, grad):
            return grad, None

    a, b = rand(3, seed=1), rand(3, seed=2)
    FirstOnly.apply(a, b * 2.0).sum().backward()  # b * 2 is a node nothing flows into
    np.testing.assert_array_equal(a.grad, np.ones(3))
    assert b.grad is None


def test_keyword_parameters_reach_forward():
    class Scale(tr.Function):
        @staticmethod
        def forward(ctx, x, factor=1.0):
            ctx.factor = factor
            return x * factor

        @staticmethod
        def backward(ctx, grad):
            return grad * ctx.factor

    x = rand(3)
    Scale.apply(x, factor=4.0).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full(3, 4.0))


# --------------------------------------------------------------------------- unbroadcast


@settings(deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=1, min_dims=0, max_dims=4, max_side=3),
       data=st.data())
def test_unbroadcast_is_the_adjoint_of_broadcasting(shapes, data):
    """<unbroadcast(G, s), X> == <G, broadcast_to(X, big)> for every G and X: the
    defining property of the gradient of broadcasting."""
    (small,), big = shapes.input_shapes, shapes.result_shape
    floats = st.floats(-10, 10)
    g = data.draw(hnp.arrays(np.float64, big, elements=floats))
    x = data.draw(hnp.arrays(np.float64, small, elements=floats))
    reduced = unbroadcast(g, small)
    assert reduced.shape == small
    np.testing.assert_allclose(np.sum(reduced * x), np.sum(g * np.broadcast_to(x, big)),
                               rtol=1e-9, atol=1e-9)


def test_unbroadcast_worked_example():
    g = np.arange(6.0).reshape(2, 3)  # [[0, 1, 2], [3, 4, 5]]
    np.testing.assert_array_equal(unbroadcast(g, (3,)), [3, 5, 7])
    np.testing.assert_array_equal(unbroadcast(g, (2, 1)), [[3], [12]])
    np.testing.assert_array_equal(unbroadcast(g, (1, 1)), [[15]])
    np.testing.assert_array_equal(unbroadcast(g, ()), 15)


# --------------------------------------------------------------------------- inputs untouched


def test_backward_does_not_mutate_inputs_or_the_upstream_gradient():
    x, w, b = rand(4, 3, seed=1), rand(3, 5, seed=2), rand(5, seed=3)
    h = rand(4, 5, seed=4, requires_grad=False)
    before = [t.data.copy() for t in (x, w, b, h)]
    upstream = np.random.default_rng(9).standard_normal((4, 5))
    upstream_before = upstream.copy()
    out = ((x @ w + b).tanh() * h + (x @ w).sigmoid() / (1 + b * b)).relu()
    out.backward(upstream)
    for t, saved in zip((x, w, b, h), before):
        np.testing.assert_array_equal(t.data, saved)
    np.testing.assert_array_equal(upstream, upstream_before)
    # a second, accumulating backward leaves the first grads' values intact
    gx = x.grad.copy()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, gx + 2 * x.data)


# ----------------------------------------------------------------------- memory and the speed layer


def test_a_node_keeps_no_intermediate_tensor_alive():
    import weakref

    x = rand(3, 4)
    a = x * 2.0  # nobody saves a: Add and Tanh need none of their input values
    b = (a + 1.0).tanh()
    probe = weakref.ref(a)
    del a
    assert probe() is None
    b.sum().backward()
    np.testing.assert_allclose(x.grad, 2.0 * (1.0 - b.data ** 2))


def test_nodes_link_to_parents_and_inputs_shows_them():
    x = rand(2, 3)
    first, second = x.split([1, 2], dim=-1)
    y = second.tanh()
    node = y._node
    assert node.parents[0] is first._node and node.parent_indices == (1,)
    (inp,) = node.inputs
    assert inp._node is second._node and inp._index == 1
    assert first._node.parents == (x,) and first._node.inputs == (x,)
    assert node.output_meta == (((2, 2), np.dtype(np.float64)),)


def test_a_name_given_to_a_computed_tensor_outlives_the_tensor():
    x = rand(3)
    h = x.tanh()
    h.name = "h"
    node = h._node
    del h
    assert node.names == {0: "h"}


def test_in_place_accumulation_never_touches_a_gradient_someone_holds():
    big = rand(64, 64)  # above the in-place threshold
    (big * 2.0).sum().backward()
    kept = big.grad
    (big * 3.0).sum().backward()
    assert np.all(kept == 2.0) and np.all(big.grad == 5.0)
    # a tensor used many times: its gradient slot is reused, the sum is exact
    w = rand(64, 64)
    sum(((w * float(k)).sum() for k in range(1, 6)), Tensor(0.0)).backward()
    np.testing.assert_allclose(w.grad, np.full((64, 64), 15.0))


def test_weight_gradients_of_many_steps_pool_into_one_matmul_with_the_same_result():
    from tinygrad_rnn.speedups import OuterSum, add_grads

    rng = np.random.default_rng(0)
    hs = [rng.standard_normal((2, 3)) for _ in range(5)]
    gs = [rng.standard_normal((2, 4)) for _ in range(5)]
    total = OuterSum(hs[0], gs[0])
    for h, g in zip(hs[1:], gs[1:]):
        total = add_grads(total, OuterSum(h, g))
    assert len(total.lefts) == 5
    np.testing.assert_allclose(total.array(), sum(h.T @ g for h, g in zip(hs, gs)))
    w = rand(3, 4)
    sum(((Tensor(h) @ w) * Tensor(g)).sum() for h, g in zip(hs, gs)).backward()
    np.testing.assert_allclose(w.grad, total.array())


def test_a_bias_added_at_many_steps_gets_one_sum_of_all_their_rows():
    from tinygrad_rnn.speedups import OuterSum, add_grads

    rng = np.random.default_rng(1)
    gs = [rng.standard_normal((2, 4)) for _ in range(5)] + [np.empty((0, 4))]
    total = OuterSum.of_rows(gs[0])
    for g in gs[1:]:
        total = add_grads(total, OuterSum.of_rows(g))
    assert total.shape == (4,) and len(total.rights) == 6 and not total.lefts
    np.testing.assert_allclose(total.array(), sum(g.sum(axis=0) for g in gs))
    # through the engine: addmm's bias at five steps, pooled, against the rows summed by hand
    b, w = rand(4), rand(3, 4)
    hs = [rng.standard_normal((2, 3)) for _ in range(5)]
    sum((tr.addmm(b, Tensor(h), w) * Tensor(g)).sum() for h, g in zip(hs, gs)).backward()
    np.testing.assert_allclose(b.grad, sum(g.sum(axis=0) for g in gs[:5]), rtol=1e-12)
    # a (1,) bias broadcast over 4 columns: the row sum (4,) is summed on to (1,)
    b1 = rand(1)
    (tr.addmm(b1, Tensor(hs[0]), w) * Tensor(gs[0])).sum().backward()
    np.testing.assert_allclose(b1.grad, [gs[0].sum()], rtol=1e-12)


# --------------------------------------------------------------------------- the engine's layout

def _package_imports(module_file: str) -> set:
    """The package modules a file imports (relative imports, by name), wherever in the file."""
    import ast
    from pathlib import Path
    tree = ast.parse((Path(tr.__file__).parent / module_file).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names.update([node.module] if node.module else [a.name for a in node.names])
    return names


def test_the_engine_files_import_each_other_without_a_cycle():
    # autograd.py is the bottom: it imports nothing of the package; the argument checks
    # (arguments.py, dims.py) build on it alone, ops.py on those, tensor.py on all, and
    # nothing of them imports speedups (which imports them).
    assert _package_imports("autograd.py") == set()
    assert _package_imports("arguments.py") == set()
    assert _package_imports("dims.py") <= {"autograd", "arguments"}
    assert _package_imports("ops.py") <= {"autograd", "arguments", "dims"}
    assert _package_imports("tensor.py") <= {"autograd", "ops", "dims", "arguments"}


def test_apply_needs_a_tensor_among_its_inputs():
    class Twice(tr.Function):
        @staticmethod
        def forward(ctx, x):
            return 2 * x

        @staticmethod
        def backward(ctx, grad):
            return 2 * grad

    with pytest.raises(TypeError, match="Twice.apply: needs at least one Tensor"):
        Twice.apply(np.ones(3))
    with pytest.raises(TypeError, match="got none"):
        Twice.apply()
    y = Twice.apply(Tensor(np.ones(2)))
    assert type(y) is Tensor and y.data.tolist() == [2.0, 2.0]


def test_an_op_on_a_parameter_makes_a_plain_tensor():
    w = tr.nn.Parameter(np.ones((2, 2)))
    out = (w * 2.0).T
    assert type(out) is Tensor and not isinstance(out, tr.nn.Parameter)
