"""tinygrad_rnn.optim: step-by-step parity with torch.optim for every optimizer and option,
on the same parameters and the same sequence of gradients (no model needed)."""

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, optim

SHAPES = [(3, 4), (5,), ()]
STEPS = 5

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.5, weight_decay=0.1, nesterov=True, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.95))),
    ("Adam", dict(lr=0.05, eps=1e-2)),
    ("Adam", dict(lr=0.05, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.05, weight_decay=0.1, amsgrad=True, maximize=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.05, weight_decay=0.3, amsgrad=True)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.2)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-3)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1, weight_decay=0.05, maximize=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-4)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, weight_decay=0.1, maximize=True)),
]


def _ids(case):
    name, kw = case
    return name + "(" + ",".join(f"{k}={v}" for k, v in kw.items()) + ")"


def _run_both(name, kwargs, dtype=np.float64, skip=None, seed=0):
    """The same parameters and gradients through ours and torch's optimizer, step by step.

    ``skip`` maps a step number to the index of a parameter whose grad is None
    at that step (both libraries must then leave it, and its state, alone).
    Yields (ours, theirs) parameter arrays after every step.
    """
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    start = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    ours = [Tensor(a.copy(), requires_grad=True) for a in start]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in start]
    opt = getattr(optim, name)(ours, **kwargs)
    ref = getattr(torch.optim, name)(theirs, **kwargs, foreach=False)
    for step in range(STEPS):
        for i, (p, q) in enumerate(zip(ours, theirs)):
            if skip and skip.get(step) == i:
                p.grad = q.grad = None
                continue
            g = rng.standard_normal(p.shape).astype(dtype)
            p.grad = g.copy()
            q.grad = torch.tensor(g.copy())
        opt.step()
        ref.step()
        yield [p.data for p in ours], [q.detach().numpy() for q in theirs]


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_matches_torch_step_by_step_float64(case):
    name, kwargs = case
    for ours, theirs in _run_both(name, kwargs):
        for a, b in zip(ours, theirs):
            assert a.dtype == np.float64
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    start = np.random.default_rng(0).standard_normal(SHAPES[0])
    assert not np.allclose(ours[0], start)  # not a comparison of two untouched copies


@pytest.mark.parametrize("case", CASES[1::3], ids=[_ids(c) for c in CASES[1::3]])
def test_params_without_grad_are_skipped_as_torch(case):
    name, kwargs = case
    skip = {1: 0, 2: 0, 3: 1}  # param 0 has no grad at steps 1 and 2, param 1 at step 3
    before = None
    for step, (ours, theirs) in enumerate(_run_both(name, kwargs, skip=skip)):
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
        if step == 0:
            before = ours[0].copy()
        if step == 1:  # a plain skip, even with momentum: nothing changes
            np.testing.assert_array_equal(ours[0], before)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop"])
def test_float32_params_stay_float32_and_match_torch(name):
    kwargs = dict(lr=0.01, momentum=0.9) if name in ("SGD", "RMSprop") else dict(lr=0.01)
    for ours, theirs in _run_both(name, kwargs, dtype=np.float32):
        for a, b in zip(ours, theirs):
            assert a.dtype == np.float32
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_param_groups_with_their_own_options_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    w0, b0 = rng.standard_normal((3, 2)), rng.standard_normal(2)
    w, b = Tensor(w0.copy(), requires_grad=True), Tensor(b0.copy(), requires_grad=True)
    tw, tb = torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    opt = optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.5, "momentum": 0.0}],
                    lr=0.1, momentum=0.9)
    ref = torch.optim.SGD([{"params": [tw]}, {"params": [tb], "lr": 0.5, "momentum": 0.0}],
                          lr=0.1, momentum=0.9)
    for _ in range(3):
        gw, gb = rng.standard_normal(w.shape), rng.standard_normal(b.shape)
        w.grad, b.grad, tw.grad, tb.grad = gw, gb, torch.tensor(gw), torch.tensor(gb)
        opt.step()
        ref.step()
        np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(b.data, tb.detach().numpy(), rtol=1e-12)


def test_sgd_update_by_hand():
    p = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.5)
    p.grad = np.array([1.0, 1.0])
    opt.step()  # buf = g
    np.testing.assert_allclose(p.data, [0.9, -2.1])
    p.grad = np.array([2.0, 0.0])
    opt.step()  # buf = 0.5 * [1, 1] + [2, 0] = [2.5, 0.5]
    np.testing.assert_allclose(p.data, [0.65, -2.15])


def test_update_is_in_place_and_leaves_grad_alone():
    p = Tensor(np.ones(3), requires_grad=True)
    data = p.data
    g = np.array([1.0, 2.0, 3.0])
    p.grad = g
    optim.Adam([p], lr=0.1, weight_decay=0.5).step()
    assert p.data is data  # other references to the array see the update
    assert not np.allclose(data, 1.0)
    np.testing.assert_array_equal(g, [1.0, 2.0, 3.0])


def test_zero_grad_sets_grads_to_none():
    ps = [Tensor(np.ones(2), requires_grad=True) for _ in range(2)]
    opt = optim.RMSprop(ps)
    for p in ps:
        p.grad = np.ones(2)
    opt.zero_grad()
    assert all(p.grad is None for p in ps)
    opt.step()  # no grads: nothing moves, nothing fails
    assert all(np.array_equal(p.data, np.ones(2)) for p in ps)


def test_training_a_tensor_without_any_module():
    target = np.array([1.0, -2.0, 3.0])
    w = Tensor(np.zeros(3), requires_grad=True)
    opt = optim.Adam([w], lr=0.1)
    first = None
    for _ in range(200):
        opt.zero_grad()
        loss = tr.functional.mse_loss(w, target)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 1e-3 * first


def test_errors():
    p = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match=r"SGD: lr must be >= 0, got -1\.0"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([])
    with pytest.raises(ValueError, match="does not require grad"):
        optim.Adam([Tensor(np.ones(2))])
    with pytest.raises(ValueError, match="more than one"):
        optim.Adam([p, p])
    with pytest.raises(TypeError, match="unknown option"):
        optim.Adam([{"params": [p], "momentum": 0.9}])
    opt = optim.SGD([p], lr=0.1)
    p.grad = np.ones(3)
    with pytest.raises(ValueError, match=r"grad of shape \(3,\) for a parameter of shape \(2,\)"):
        opt.step()


# --------------------------------------------------------------------------- checkpoints

RESUMABLE = [
    (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    (optim.Adam, dict(lr=0.01, amsgrad=True)),
    (optim.AdamW, dict(lr=0.01)),
    (optim.Adagrad, dict(lr=0.1, initial_accumulator_value=0.1)),
    (optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True)),
]


def _run(opt, params, grads):
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g.copy()
        opt.step()


@pytest.mark.parametrize("cls, kwargs", RESUMABLE, ids=[c.__name__ for c, _ in RESUMABLE])
def test_state_dict_round_trip_through_a_file_resumes_exactly(cls, kwargs, tmp_path):
    rng = np.random.default_rng(0)
    start = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    grads = [[rng.standard_normal(a.shape) for a in start] for _ in range(6)]

    straight = [Tensor(a.copy(), requires_grad=True) for a in start]
    _run(cls(straight, **kwargs), straight, grads)

    first = [Tensor(a.copy(), requires_grad=True) for a in start]
    opt = cls(first, **kwargs)
    _run(opt, first, grads[:3])
    tr.save(opt.state_dict(), tmp_path / "opt.npz")
    resumed = [Tensor(p.data.copy(), requires_grad=True) for p in first]
    opt2 = cls(resumed, **{**kwargs, "lr": 123.0})  # the stored lr wins
    opt2.load_state_dict(tr.load(tmp_path / "opt.npz"))
    assert opt2.param_groups[0]["lr"] == kwargs["lr"]
    _run(opt2, resumed, grads[3:])
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a.data, b.data)


def test_state_dict_is_a_copy_and_a_mismatch_changes_nothing():
    w = Tensor(np.ones((2, 2)), requires_grad=True)
    opt = optim.Adam([w], lr=0.1)
    w.grad = np.ones((2, 2))
    opt.step()
    saved = opt.state_dict()
    saved["state.0.exp_avg"][:] = 99.0  # editing the dict must not reach the optimizer
    assert not np.any(opt.state[id(w)]["exp_avg"] == 99.0)
    other = optim.Adam([Tensor(np.ones(3), requires_grad=True)], lr=0.5)
    before = other.state_dict()
    message = r"state\.0\.exp_avg: shape \(2, 2\), parameter 0 has shape \(3,\)"
    with pytest.raises(ValueError, match=message):
        other.load_state_dict(saved)
    assert other.param_groups[0]["lr"] == 0.5 and other.state_dict().keys() == before.keys()
