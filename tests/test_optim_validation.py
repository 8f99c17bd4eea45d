"""tinygrad_rnn.optim refuses bad options, parameters and state dicts at the door, and a
refused call changes nothing (issue 14): constructors, add_param_group, zero_grad and
load_state_dict, the last also as a Hypothesis property over corrupted state dicts."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinygrad_rnn import Tensor, optim


def _param(shape=(2,), dtype=np.float64):
    return Tensor(np.ones(shape, dtype=dtype), requires_grad=True)


NAN, INF = math.nan, math.inf

# (optimizer class, keyword arguments, exception, message fragment)
BAD_OPTIONS = [
    (optim.Adam, dict(betas=(0.9,)), ValueError, r"betas must be a pair .* got 1 value"),
    (optim.Adam, dict(betas=0.9), TypeError, "betas must be a pair"),
    (optim.Adam, dict(betas=(0.9, 1.0)), ValueError, r"betas\[1\] must be in \[0, 1\)"),
    (optim.AdamW, dict(betas=(-0.1, 0.9)), ValueError, r"betas\[0\] must be >= 0"),
    (optim.Adam, dict(betas=("a", 0.9)), TypeError, r"betas\[0\] must be a real number"),
    (optim.Adam, dict(eps=NAN), ValueError, "eps must be a finite number, got nan"),
    (optim.SGD, dict(lr=INF), ValueError, "lr must be a finite number, got inf"),
    (optim.SGD, dict(lr=-1), ValueError, r"SGD: lr must be >= 0, got -1\.0"),
    (optim.SGD, dict(lr="0.1"), TypeError, "lr must be a real number, got '0.1'"),
    (optim.SGD, dict(lr=None), TypeError, "lr must be a real number, got None"),
    (optim.SGD, dict(lr=True), TypeError, "lr must be a real number, got True"),
    (optim.SGD, dict(momentum=-0.5), ValueError, "momentum must be >= 0"),
    (optim.SGD, dict(dampening=NAN), ValueError, "dampening must be a finite number"),
    (optim.SGD, dict(weight_decay=-1e-3), ValueError, "weight_decay must be >= 0"),
    (optim.SGD, dict(momentum=0.9, nesterov=1), TypeError, "nesterov must be a bool"),
    (optim.SGD, dict(momentum=0.9, dampening=0.1, nesterov=True), ValueError, "Nesterov"),
    (optim.SGD, dict(momentum=0.0, nesterov=True), ValueError, "Nesterov"),
    (optim.Adam, dict(maximize="no"), TypeError, "maximize must be a bool"),
    (optim.Adam, dict(amsgrad=1), TypeError, "amsgrad must be a bool"),
    (optim.RMSprop, dict(centered="yes"), TypeError, "centered must be a bool"),
    (optim.RMSprop, dict(alpha=-0.1), ValueError, "alpha must be >= 0"),
    (optim.RMSprop, dict(momentum=INF), ValueError, "momentum must be a finite number"),
    (optim.Adagrad, dict(lr_decay=-1), ValueError, "lr_decay must be >= 0"),
    (optim.Adagrad, dict(initial_accumulator_value=NAN), ValueError,
     "initial_accumulator_value must be a finite number"),
    (optim.Adagrad, dict(eps="small"), TypeError, "eps must be a real number"),
]


@pytest.mark.parametrize("cls, kwargs, error, message", BAD_OPTIONS,
                         ids=[f"{c.__name__}-{k}" for c, k, _, _ in BAD_OPTIONS])
def test_constructor_refuses_bad_options(cls, kwargs, error, message):
    with pytest.raises(error, match=message):
        cls([_param()], **kwargs)


def test_valid_options_of_every_numeric_kind_are_accepted_and_kept_as_python_values():
    opt = optim.Adam([_param()], lr=np.float32(0.5), betas=[0.0, np.float64(0.5)], eps=0,
                     weight_decay=1, amsgrad=np.bool_(True))
    group = opt.param_groups[0]
    assert group["lr"] == 0.5 and group["betas"] == (0.0, 0.5) and group["eps"] == 0.0
    assert group["amsgrad"] is True and type(group["weight_decay"]) is float
    optim.SGD([_param()], lr=0)  # lr 0 is allowed, as in torch


def test_non_leaf_and_non_tensor_params_are_refused():
    p = _param()
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(TypeError, match=r"params must be an iterable .* got 5 \(int\)"):
        optim.SGD(5, lr=0.1)
    with pytest.raises(TypeError, match="'params' must be a Tensor or an iterable"):
        optim.SGD([{"params": 5}], lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors, got 'w'"):
        optim.SGD([p, "w"], lr=0.1)


BAD_GROUPS = [
    ({"lr": -1}, ValueError, r"lr \(param group 1\) must be >= 0, got -1\.0"),
    ({"momentum": NAN}, ValueError, r"momentum \(param group 1\) must be a finite number"),
    ({"maximize": "no"}, TypeError, r"maximize \(param group 1\) must be a bool"),
    ({"nesterov": True}, ValueError, "param group 1: Nesterov momentum requires"),
    ({1: 2}, TypeError, r"unknown option\(s\) \[1\]"),
    ({"betas": (0.9, 0.99)}, TypeError, r"unknown option\(s\) \['betas'\]"),
]


@pytest.mark.parametrize("extra, error, message", BAD_GROUPS, ids=range(len(BAD_GROUPS)))
def test_bad_param_group_options_are_refused_and_add_nothing(extra, error, message):
    first = _param()
    with pytest.raises(error, match=message):  # in the constructor
        optim.SGD([{"params": [first]}, {"params": [_param()], **extra}], lr=0.1)
    opt = optim.SGD([first], lr=0.1)
    before = [dict(g) for g in opt.param_groups]
    with pytest.raises(error, match=message):  # and in add_param_group
        opt.add_param_group({"params": [_param()], **extra})
    assert opt.param_groups == before


def test_a_group_override_is_checked_as_the_constructor_checks_it():
    opt = optim.Adam([{"params": [_param()], "lr": np.float64(0.25)}], lr=0.1)
    assert opt.param_groups[0]["lr"] == 0.25 and type(opt.param_groups[0]["lr"]) is float


def test_zero_grad_set_to_none_false_gives_fresh_zeros_and_refuses_a_non_bool():
    p = _param((2, 3), np.float32)
    grad = np.ones((2, 3), dtype=np.float32)
    p.grad = grad
    opt = optim.SGD([p], lr=0.1)
    with pytest.raises(TypeError, match="set_to_none must be a bool"):
        opt.zero_grad("no")
    assert p.grad is grad
    opt.zero_grad(set_to_none=False)
    assert p.grad.dtype == np.float32 and p.grad.shape == (2, 3) and not p.grad.any()
    np.testing.assert_array_equal(grad, 1.0)  # the array the user holds is not zeroed
    opt.zero_grad()
    assert p.grad is None


BAD_GRADS = [
    ("abc", TypeError, "must be a real numeric array, got 'abc'"),
    (Tensor(np.ones(3)), TypeError, r"must be a real numeric array, got .*\(Tensor\)"),
    (np.ones(3, dtype=bool), TypeError, "must be a real numeric array"),
    (np.ones(3, dtype=complex), TypeError, "must be a real numeric array"),
    (np.ones(4), ValueError, r"grad of shape \(4,\) for a parameter of shape \(3,\)"),
]


@pytest.mark.parametrize("grad, error, message", BAD_GRADS, ids=range(len(BAD_GRADS)))
def test_step_checks_every_grad_before_moving_any_parameter(grad, error, message):
    first, second = _param((3,)), _param((3,))
    opt = optim.Adam([first, second], lr=0.1)
    first.grad = np.ones(3)
    opt.step()
    before = _snapshot(opt), first.data.copy()
    first.grad, second.grad = np.ones(3), grad
    with pytest.raises(error, match=message):
        opt.step()
    _assert_same(_snapshot(opt), before[0])
    np.testing.assert_array_equal(first.data, before[1])


# ------------------------------------------------------------------ load_state_dict, by hand

def _adam_after_a_step(dtype=np.float64, **kwargs):
    p = _param((2, 3), dtype)
    opt = optim.Adam([p], lr=0.1, **kwargs)
    p.grad = np.arange(6, dtype=dtype).reshape(2, 3)
    opt.step()
    return opt, p


def _snapshot(opt):
    """Everything a refused load must leave alone: options, parameters and state."""
    groups = [({k: v for k, v in g.items() if k != "params"}, [id(p) for p in g["params"]])
              for g in opt.param_groups]
    state = {k: (v.dtype, v.copy()) for k, v in opt.state_dict().items()}
    return groups, state


def _assert_same(a, b):
    assert a[0] == b[0]
    assert a[1].keys() == b[1].keys()
    for key in a[1]:
        assert a[1][key][0] == b[1][key][0], key
        np.testing.assert_array_equal(a[1][key][1], b[1][key][1])


def _sgd_dict():
    p = _param((2, 3))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.ones((2, 3))
    opt.step()
    return opt.state_dict()


def _adamw_dict():
    p = _param((2, 3))
    opt = optim.AdamW([p])
    p.grad = np.ones((2, 3))
    opt.step()
    return opt.state_dict()


DROP = object()  # as a value in _edit: remove the key


def _edit(**changes):
    """A function of a state dict that returns an edited copy; a keyword names a key
    with '__' for '.' (``state__0__step``)."""
    def edit(sd):
        sd = dict(sd)
        for key, value in changes.items():
            key = key.replace("__", ".")
            if value is DROP:
                del sd[key]
            else:
                sd[key] = value
        return sd
    return edit

BAD_LOADS = [
    (lambda sd: "opt.npz", TypeError, r"got the path 'opt\.npz'; read the file first"),
    (lambda sd: None, TypeError, "expected a state dict"),
    (lambda sd: list(sd.items()), TypeError, "expected a state dict"),
    (lambda sd: {**sd, 7: np.ones(1)}, TypeError, r"keys must be str, got 7 \(int\)"),
    (lambda sd: {**sd, "junk": 1}, ValueError, "unknown key 'junk'"),
    (lambda sd: {**sd, "state.x.step": 1}, ValueError, r"unknown key 'state\.x\.step'"),
    (lambda sd: {**sd, "state.00.step": 1}, ValueError, r"unknown key 'state\.00\.step'"),
    (lambda sd: {**sd, "param_groups.1.lr": 0.1}, ValueError, r"has 2 param group\(s\)"),
    (lambda sd: {**sd, "state.1.step": 1}, ValueError, "state for parameter 1, this optimizer"),
    (_edit(param_groups__0__lr=0.5, param_groups__0__eps="bad"), TypeError,
     r"param_groups\.0\.eps must be a real number, got 'bad'"),
    (_edit(param_groups__0__maximize=np.asarray("no")), TypeError,
     r"param_groups\.0\.maximize must be a bool"),
    (_edit(param_groups__0__lr=np.asarray(-1.0)), ValueError,
     r"param_groups\.0\.lr must be >= 0"),
    (_edit(param_groups__0__eps=np.asarray(NAN)), ValueError, "must be a finite number"),
    (_edit(param_groups__0__betas=np.asarray([0.9])), ValueError, "betas must be a pair"),
    (_edit(param_groups__0__betas=np.asarray([0.9, 1.5])), ValueError, r"betas\[1\]"),
    (_edit(param_groups__0__lr=DROP), ValueError, r"lacks \['param_groups\.0\.lr'\]"),
    (_edit(param_groups__0__momentum=0.9), ValueError, r"unknown \['param_groups\.0\.momentum"),
    (_edit(param_groups__0__params=np.array([1])), ValueError,
     r"params must be the indices \[0\]"),
    (_edit(param_groups__0__params=np.array([0.0])), ValueError, "must be the indices"),
    (_edit(param_groups__0__params=[[0], [1, 2]]), ValueError, "must be the indices"),
    (_edit(state__0__exp_avg=np.asarray(1.0)), ValueError,
     r"state\.0\.exp_avg: shape \(\), parameter 0 has shape \(2, 3\)"),
    (_edit(state__0__exp_avg=np.ones((3, 2))), ValueError, r"shape \(3, 2\)"),
    (_edit(state__0__exp_avg=np.ones((2, 3), dtype=bool)), TypeError, "dtype bool"),
    (_edit(state__0__exp_avg="bad"), TypeError, r"state\.0\.exp_avg must be a numeric array"),
    (_edit(state__0__exp_avg=[[1.0] * 3] * 2), TypeError, "must be a numeric array"),
    (_edit(state__0__step=np.asarray(1.5)), ValueError, "step must be a whole number >= 0"),
    (_edit(state__0__step=-1), ValueError, "step must be a whole number >= 0"),
    (_edit(state__0__step=np.ones(2)), TypeError, "step must be a step count"),
    (_edit(state__0__step=True), TypeError, "step must be a step count"),
    (_edit(state__0__exp_avg_sq=DROP), ValueError, r"lacks \['exp_avg_sq'\]"),
    (_edit(param_groups__0__amsgrad=True), ValueError, r"lacks \['max_exp_avg_sq'\]"),
    (_edit(state__0__momentum_buffer=np.ones((2, 3))), ValueError,
     r"Adam keeps only .* \['momentum_buffer'\] unknown"),
    (lambda sd: _sgd_dict(), ValueError, "this is a state dict of SGD, not of Adam"),
    (lambda sd: _adamw_dict(), ValueError, "is AdamW's .* this group is Adam's"),
]


@pytest.mark.parametrize("corrupt, error, message", BAD_LOADS, ids=range(len(BAD_LOADS)))
def test_a_refused_state_dict_changes_nothing(corrupt, error, message):
    opt, _ = _adam_after_a_step()
    before = _snapshot(opt)
    with pytest.raises(error, match=message):
        opt.load_state_dict(corrupt(opt.state_dict()))
    _assert_same(_snapshot(opt), before)


def test_a_state_dict_of_another_optimizer_names_the_state_both_keep():
    p = _param((2, 3))
    opt = optim.RMSprop([p], lr=0.1, momentum=0.9)
    sd = _sgd_dict()
    sd = {k: v for k, v in sd.items() if k.startswith("state")} | {
        k: v for k, v in opt.state_dict().items() if k.startswith("param_groups")}
    with pytest.raises(ValueError, match=r"lacks \['square_avg', 'step'\]"):
        opt.load_state_dict(sd)
    adam = _adam_after_a_step()[0].state_dict()
    sd = {k: v for k, v in adam.items() if k.startswith("state")} | {
        k: v for k, v in opt.state_dict().items() if k.startswith("param_groups")}
    with pytest.raises(ValueError, match=r"\(the state of Adam\), but RMSprop keeps only"):
        opt.load_state_dict(sd)


def test_loaded_state_takes_each_parameters_dtype_and_resumes_as_an_untouched_twin():
    opt, p = _adam_after_a_step(np.float32)
    twin, q = _adam_after_a_step(np.float32)
    saved = opt.state_dict()
    as_float64 = {k: (v.astype(np.float64) if k.startswith("state") else v)
                  for k, v in saved.items()}
    opt.load_state_dict(as_float64)
    for key, value in opt.state[id(p)].items():
        if key == "step":
            assert type(value) is int
        else:
            assert value.dtype == np.float32, key
    p.grad = q.grad = np.full((2, 3), 0.5, dtype=np.float32)
    opt.step()
    twin.step()
    assert p.data.dtype == np.float32
    np.testing.assert_array_equal(p.data, q.data)


def test_load_state_dict_copies_the_arrays_it_is_given():
    opt, p = _adam_after_a_step()
    sd = opt.state_dict()
    opt.load_state_dict(sd)
    sd["state.0.exp_avg"][:] = 99.0
    assert not np.any(opt.state[id(p)]["exp_avg"] == 99.0)


def test_an_options_only_dict_for_a_fresh_optimizer_is_accepted():
    p = _param((2, 3))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)  # no step yet: no state to save
    other = optim.SGD([_param((2, 3))], lr=0.5, momentum=0.0)
    other.load_state_dict(opt.state_dict())
    assert other.param_groups[0]["lr"] == 0.1 and other.param_groups[0]["momentum"] == 0.9


# ------------------------------------------------------- load_state_dict, as a property

SHAPES = [(3,), (2, 2), ()]

OPTIMIZERS = [
    (optim.SGD, dict(lr=0.1)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    (optim.Adam, dict(lr=0.05)),
    (optim.Adam, dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
    (optim.AdamW, dict(lr=0.05)),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.01)),
    (optim.RMSprop, dict(lr=0.01)),
    (optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True)),
]


def _trained(cls, kwargs, steps, two_groups, seed):
    """An optimizer on three parameters after ``steps`` steps, built the same for a seed."""
    rng = np.random.default_rng(seed)
    params = [Tensor(rng.standard_normal(s), requires_grad=True) for s in SHAPES]
    groups = ([{"params": params[:1]}, {"params": params[1:], "lr": 0.02}] if two_groups
              else [{"params": params}])
    opt = cls(groups, **kwargs)
    for _ in range(steps):
        for p in params:
            p.grad = rng.standard_normal(p.shape)
        opt.step()
    return opt, params


def _options(opt):
    return [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]


@st.composite
def corruptions(draw, sd, opt):
    """A copy of ``sd`` with one thing wrong that ``load_state_dict`` must refuse."""
    sd = dict(sd)
    group_keys = sorted(k for k in sd if k.startswith("param_groups"))
    option_keys = [k for k in group_keys if not k.endswith(".params")]
    state_keys = sorted(k for k in sd if k.startswith("state"))
    array_keys = [k for k in state_keys if not k.endswith(".step")]
    names_of = {}
    for key in state_keys:
        names_of.setdefault(key.split(".")[1], []).append(key)
    droppable = group_keys + [k for k in state_keys if len(names_of[k.split(".")[1]]) > 1]
    kinds = ["drop", "add", "bad type", "bad option", "other optimizer", "group count"]
    if array_keys:
        kinds += ["wrong shape", "bad state type"]
    if any(k.endswith(".step") for k in state_keys):
        kinds.append("bad step")
    kind = draw(st.sampled_from(kinds))
    if kind == "drop":
        del sd[draw(st.sampled_from(droppable))]
    elif kind == "add":
        extra = draw(st.sampled_from(["bogus", "state.0.bogus", "param_groups.0.bogus",
                                      "state.x.step", f"state.{len(SHAPES)}.step",
                                      "param_groups.9.lr", "param_groups.0", 3]))
        sd[extra] = np.ones(1)
    elif kind == "bad type":
        key = draw(st.sampled_from(option_keys))
        sd[key] = draw(st.sampled_from(["bad", None, np.asarray("no"), np.ones((2, 2)),
                                        [0.1, 0.2, 0.3]]))
    elif kind == "bad option":
        key = draw(st.sampled_from(option_keys))
        current = sd[key]
        if current.dtype == bool:
            bad = draw(st.sampled_from([1, 0, "no", np.asarray(1.0)]))
        elif current.ndim == 1:  # betas
            bad = draw(st.sampled_from([np.asarray([0.9]), np.asarray([0.9, 1.0]),
                                        np.asarray([-0.1, 0.9]), (0.9, NAN)]))
        else:
            bad = draw(st.sampled_from([-1.0, NAN, INF, np.asarray(-0.5)]))
        sd[key] = bad
    elif kind == "other optimizer":
        others = [c for c in (optim.SGD, optim.Adam, optim.AdamW, optim.Adagrad,
                              optim.RMSprop) if c is not type(opt)]
        cls = draw(st.sampled_from(others))
        sd = _trained(cls, {}, 2, len(opt.param_groups) == 2, seed=1)[0].state_dict()
    elif kind == "group count":
        if len(opt.param_groups) == 2:
            sd = {k: v for k, v in sd.items() if not k.startswith("param_groups.1.")}
        else:
            sd.update({k.replace("param_groups.0.", "param_groups.1."): v
                       for k, v in sd.items() if k.startswith("param_groups.0.")})
    elif kind == "wrong shape":
        key = draw(st.sampled_from(array_keys))
        sd[key] = draw(st.sampled_from([np.ones(sd[key].shape + (1,)), np.ones((4,)),
                                        np.ones((2, 2, 2))]))
    elif kind == "bad state type":
        key = draw(st.sampled_from(array_keys))
        sd[key] = draw(st.sampled_from(["bad", None, sd[key].astype(bool),
                                        sd[key].astype(np.complex128), sd[key].tolist()
                                        if sd[key].ndim else [1.0]]))
    else:  # bad step
        key = draw(st.sampled_from([k for k in state_keys if k.endswith(".step")]))
        sd[key] = draw(st.sampled_from([-1, 1.5, NAN, "3", np.ones(2), True]))
    return kind, sd


@settings(deadline=None, max_examples=150)
@given(data=st.data(), which=st.integers(0, len(OPTIMIZERS) - 1), steps=st.integers(1, 3),
       two_groups=st.booleans())
def test_every_corrupted_state_dict_is_refused_and_changes_nothing(data, which, steps,
                                                                   two_groups):
    cls, kwargs = OPTIMIZERS[which]
    opt, params = _trained(cls, kwargs, steps, two_groups, seed=0)
    twin, twin_params = _trained(cls, kwargs, steps, two_groups, seed=0)
    kind, bad = data.draw(corruptions(opt.state_dict(), opt), label="corruption")
    before = _snapshot(opt)
    with pytest.raises((ValueError, TypeError)):
        opt.load_state_dict(bad)
    _assert_same(_snapshot(opt), before)
    assert _options(opt) == _options(twin)
    # a later step is the one the untouched twin takes
    rng = np.random.default_rng(7)
    for p, q in zip(params, twin_params):
        p.grad = q.grad = rng.standard_normal(p.shape)
    opt.step()
    twin.step()
    for p, q in zip(params, twin_params):
        np.testing.assert_array_equal(p.data, q.data)


@settings(deadline=None, max_examples=30)
@given(which=st.integers(0, len(OPTIMIZERS) - 1), steps=st.integers(0, 3),
       two_groups=st.booleans())
def test_a_valid_state_dict_loads_into_a_fresh_optimizer_and_resumes_exactly(which, steps,
                                                                             two_groups):
    cls, kwargs = OPTIMIZERS[which]
    opt, params = _trained(cls, kwargs, steps, two_groups, seed=0)
    fresh_params = [Tensor(p.data.copy(), requires_grad=True) for p in params]
    groups = ([{"params": fresh_params[:1]}, {"params": fresh_params[1:]}] if two_groups
              else [{"params": fresh_params}])
    fresh = cls(groups, **kwargs)
    fresh.load_state_dict(opt.state_dict())
    assert _options(fresh) == _options(opt)
    rng = np.random.default_rng(3)
    for p, q in zip(params, fresh_params):
        p.grad = q.grad = rng.standard_normal(p.shape)
    opt.step()
    fresh.step()
    for p, q in zip(params, fresh_params):
        np.testing.assert_array_equal(p.data, q.data)
