"""The speed layer keeps its promise: the same gradients as the engine's plain doors.

``speedups.install(False)`` points the engine back at the obvious versions of
its five doors (``autograd.backward_of``, ``conform``, ``add_grads``,
``as_array``, ``gc_paused``); every test here computes a gradient both ways.
CI also runs the engine, op and layer tests in a process started with
``TINYGRAD_RNN_PLAIN=1`` (see .ci/run), where the fast versions are never installed.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import autograd, speedups
from tinygrad_rnn.tensor import Tensor


@pytest.fixture
def plain():
    """Run a test body with the plain doors, whatever this process started with."""
    was_fast = speedups.installed()
    speedups.install(False)
    yield
    speedups.install(was_fast)


def both_ways(compute):
    """``compute()`` (a list of arrays) with the fast doors and with the plain ones."""
    was_fast = speedups.installed()
    try:
        speedups.install(True)
        fast = compute()
        speedups.install(False)
        slow = compute()
    finally:
        speedups.install(was_fast)
    return fast, slow


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def test_in_place_accumulation_never_writes_into_a_view():
    # y.T is a view of y's gradient slot's future array: adding in place into the
    # transposed gradient would reach its base. (A mutant without the ``base is None``
    # check in add_grads got x.grad off by 36 here.)
    G = rand(64, 64, seed=1)

    def grads():
        x = Tensor(rand(64, 64), requires_grad=True)
        z = Tensor(rand(64, 64, seed=2), requires_grad=True)
        d = z * 2
        y = x * 1
        m = y * 3
        u = y.T
        ((u + m) + d).backward(G)
        return [x.grad, z.grad]

    fast, slow = both_ways(grads)
    np.testing.assert_allclose(fast[0], G.T + 3 * G, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(slow[0], G.T + 3 * G, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(fast[1], 2 * G, rtol=1e-13)
    np.testing.assert_array_equal(fast[1], slow[1])


def test_a_weight_used_twice_gets_both_gradients():
    # W.T feeds a matmul (its gradient pooled as an OuterSum) and a product (an
    # array): add_grads must add the two, not keep the last.
    x = rand(5, 4, seed=3)
    W0 = rand(6, 4, seed=4)

    def grads():
        W = Tensor(W0, requires_grad=True)
        wt = W.T
        ((Tensor(x) @ wt).sum() + (wt * wt).sum()).backward()
        return [W.grad]

    expected = np.ones((5, 6)).T @ x + 2 * W0  # d/dW of sum(x W^T) + sum(W^2)
    for grad in both_ways(grads):
        np.testing.assert_allclose(grad[0], expected, rtol=1e-12)


def test_a_weight_shared_by_many_steps_matches_the_plain_sum():
    # The case OuterSum exists for: T uses of one W^T, pooled into one matmul.
    xs = [rand(3, 4, seed=10 + t) for t in range(20)]
    W0, b0 = rand(5, 4, seed=5), rand(5, seed=6)

    def grads():
        W, b = Tensor(W0, requires_grad=True), Tensor(b0, requires_grad=True)
        wt, h = W.T, Tensor(np.zeros((3, 5)))
        for x in xs:
            h = (tr.addmm(b, Tensor(x), wt) + h * 0.5).tanh()
        (h * h).sum().backward()
        return [W.grad, b.grad]

    fast, slow = both_ways(grads)
    for f, s in zip(fast, slow):
        np.testing.assert_allclose(f, s, rtol=1e-12, atol=1e-14)


def test_layers_give_the_same_gradients_with_plain_doors():
    def grads():
        tr.manual_seed(0)
        lstm = tr.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
        x = Tensor(rand(6, 2, 3, seed=7), requires_grad=True)
        out, _ = lstm(x)
        (out * out).sum().backward()
        return [x.grad] + [p.grad for p in lstm.parameters()]

    fast, slow = both_ways(grads)
    for f, s in zip(fast, slow):
        np.testing.assert_allclose(f, s, rtol=1e-11, atol=1e-13)


def test_plain_doors_are_the_obvious_ones(plain):
    assert autograd.add_grads(np.ones(2), np.ones(2)).tolist() == [2.0, 2.0]
    assert autograd.backward_of(tr.ops.Matmul) is tr.ops.Matmul.backward
    assert autograd.as_array("anything") == "anything"
    x = Tensor(rand(3, 4), requires_grad=True)
    (x @ Tensor(rand(4, 2))).sum().backward()  # no OuterSum anywhere on the way
    assert type(x.grad) is np.ndarray


@pytest.mark.parametrize("fast", [True, False])
def test_backward_leaves_the_garbage_collector_as_it_found_it(fast):
    was_fast = speedups.installed()
    speedups.install(fast)
    try:
        x = Tensor(rand(3), requires_grad=True)
        assert gc.isenabled()
        (x * 2).sum().backward()
        assert gc.isenabled()
        gc.disable()
        try:
            (x * 2).sum().backward()
            assert not gc.isenabled()  # a caller's choice is not overridden
        finally:
            gc.enable()
    finally:
        speedups.install(was_fast)


def test_the_collector_comes_back_after_a_failing_backward():
    class Broken(tr.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, grad):
            raise ArithmeticError("broken on purpose")

    x = Tensor(rand(3), requires_grad=True)
    with pytest.raises(ArithmeticError):
        Broken.apply(x).sum().backward()
    assert gc.isenabled()


def test_a_layer_forward_leaves_the_collector_enabled():
    lstm = tr.nn.LSTM(2, 3)
    lstm(Tensor(rand(4, 1, 2)))
    assert gc.isenabled()


def test_the_environment_switch_runs_everything_plain():
    code = ("import tinygrad_rnn as tr, numpy as np\n"
            "from tinygrad_rnn import speedups, replay, viz\n"
            "assert speedups.PLAIN and not speedups.installed() and not replay.is_enabled()\n"
            "rnn = tr.nn.RNN(2, 3)\n"
            "out, h = rnn(tr.Tensor(np.ones((4, 1, 2))))\n"
            "print('Scan' in viz.to_dot(out.sum()))\n")
    env = dict(os.environ, TINYGRAD_RNN_PLAIN="1")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "False"  # op by op: no Scan node in the graph
