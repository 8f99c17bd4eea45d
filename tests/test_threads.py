"""Modes are per thread, as in torch: grad mode (``no_grad``, ``enable_grad``,
``set_grad_enabled``), ``replay.disabled()``, ``autograd.noting_ops()``, the trace
recorder and anomaly mode. A thread's mode never leaks into another thread, a new
thread starts with the defaults, and threads training their own models get, bit
for bit, what each gets alone.

The interleavings of the unit tests are forced with Events, so each test fails
deterministically when a mode is process-wide; the training test runs four
threads at once, twenty times, with a short switch interval.
"""

import gc
import sys
import threading

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, autograd, nn, replay, speedups, trace
from tinygrad_rnn.nn import cells

TIMEOUT = 10  # seconds; an Event that never comes fails the test rather than hanging it


def run_in_thread(target):
    """Run ``target()`` in a new thread; return what it returned, or raise what it raised."""
    outcome = {}

    def body():
        try:
            outcome["value"] = target()
        except BaseException as err:  # noqa: BLE001  (handed back to the test's thread)
            outcome["error"] = err

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(TIMEOUT)
    assert not thread.is_alive(), "the thread did not finish"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def defaults():
    """This thread's modes, as the names a user reads them by."""
    return {"grad": tr.is_grad_enabled(), "replay": replay.is_enabled(),
            "noting": autograd.noting_ops.active(), "recorder": cells.tracing.recorder,
            "anomaly": autograd.is_anomaly_enabled()}


# --------------------------------------------------------------------------- one mode, two threads


def test_no_grad_in_one_thread_leaves_another_recording():
    inside, checked = threading.Event(), threading.Event()
    seen = {}

    def thread_a():
        with tr.no_grad():
            inside.set()
            assert checked.wait(TIMEOUT)
            seen["a"] = tr.is_grad_enabled(), (Tensor([1.0], requires_grad=True) * 2).requires_grad

    def thread_b():
        assert inside.wait(TIMEOUT)  # A is inside its no_grad now
        x = Tensor([1.0, 2.0], requires_grad=True)
        (x * 2).sum().backward()  # failed with "does not require grad" when the mode was global
        seen["b"] = tr.is_grad_enabled(), x.grad.tolist()
        checked.set()

    threads = [threading.Thread(target=thread_a), threading.Thread(target=thread_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert seen == {"a": (False, False), "b": (True, [2.0, 2.0])}
    assert tr.is_grad_enabled()


def test_overlapping_no_grad_blocks_of_two_threads_leave_grad_on():
    # A enters, B enters, A leaves, B leaves: with one global switch, B restored "off",
    # the value it saw on entering, and grad mode stayed off for the whole process.
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def thread_a():
        with tr.no_grad():
            a_in.set()
            assert b_in.wait(TIMEOUT)
        a_out.set()
        return tr.is_grad_enabled()

    def thread_b():
        assert a_in.wait(TIMEOUT)
        with tr.no_grad():
            b_in.set()
            assert a_out.wait(TIMEOUT)
            inside = tr.is_grad_enabled()
        return inside, tr.is_grad_enabled()

    results = {}
    threads = [threading.Thread(target=lambda: results.setdefault("a", thread_a())),
               threading.Thread(target=lambda: results.setdefault("b", thread_b()))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert results == {"a": True, "b": (False, True)}
    assert tr.is_grad_enabled()


def test_a_new_thread_starts_with_every_mode_at_its_default():
    expected = run_in_thread(defaults)
    assert expected == {"grad": True, "replay": speedups.installed(), "noting": False,
                        "recorder": None, "anomaly": False}
    with tr.no_grad(), replay.disabled(), autograd.noting_ops(), trace.record_gates(), \
            tr.detect_anomaly():
        assert defaults() != expected  # every mode is changed here ...
        assert run_in_thread(defaults) == expected  # ... and in none of them in a new thread
    assert defaults() == expected


def test_set_grad_enabled_in_a_thread_stays_in_that_thread():
    def turn_off():
        tr.set_grad_enabled(False)  # the function form, never restored
        return tr.is_grad_enabled()

    assert run_in_thread(turn_off) is False
    assert tr.is_grad_enabled()


def test_replay_disabled_in_one_thread_leaves_another_scanning():
    if not replay.is_enabled():
        pytest.skip("layers run op by op everywhere (TINYGRAD_RNN_PLAIN=1)")
    inside, checked = threading.Event(), threading.Event()
    lstm = nn.LSTM(2, 3)
    x = Tensor(np.ones((4, 1, 2)))

    def thread_a():
        with replay.disabled():
            inside.set()
            assert checked.wait(TIMEOUT)
            return lstm(x)[0].grad_fn.__name__

    def thread_b():
        assert inside.wait(TIMEOUT)
        try:
            return lstm(x)[0].grad_fn.__name__
        finally:
            checked.set()

    results = {}
    threads = [threading.Thread(target=lambda: results.setdefault("a", thread_a())),
               threading.Thread(target=lambda: results.setdefault("b", thread_b()))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert results["b"] == "LSTMScan" and results["a"] != "LSTMScan"


def test_noting_ops_notes_only_its_own_threads_ops():
    inside, done = threading.Event(), threading.Event()

    def other():
        assert inside.wait(TIMEOUT)
        Tensor([1.0]).exp()  # not this test's op
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    x = Tensor([1.0])
    with autograd.noting_ops() as log:
        inside.set()
        assert done.wait(TIMEOUT)
        x.tanh()
    thread.join(TIMEOUT)
    assert [fn.__name__ for fn, *_ in log] == ["Tanh"]


def test_record_gates_records_only_its_own_threads_steps():
    inside, done = threading.Event(), threading.Event()
    mine, theirs = nn.GRU(2, 3), nn.RNN(2, 3)
    x = Tensor(np.ones((3, 1, 2)))

    def other():
        assert inside.wait(TIMEOUT)
        theirs(x)
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    with trace.record_gates() as rec:
        inside.set()
        assert done.wait(TIMEOUT)
        mine(x)
    thread.join(TIMEOUT)
    assert rec.modules() == [mine]


def test_gc_pauses_of_threads_are_counted():
    # A pauses, B pauses, A leaves: the collector stays off until B leaves too.
    was = gc.isenabled()
    gc.enable()
    try:
        a = speedups.gc_paused()
        b = speedups.gc_paused()
        a.__enter__()
        run_in_thread(b.__enter__)
        a.__exit__(None, None, None)
        assert not gc.isenabled()  # B is still building its graph
        run_in_thread(lambda: b.__exit__(None, None, None))
        assert gc.isenabled()
        gc.disable()  # off before the first pause: off after the last
        with speedups.gc_paused():
            run_in_thread(lambda: speedups.gc_paused().__enter__())
            # (that thread never left: the count still holds it)
        assert not gc.isenabled()
    finally:
        while speedups._pauses.inside:  # (the thread above that never left)
            speedups.gc_paused().__exit__(None, None, None)
        gc.enable() if was else gc.disable()


# --------------------------------------------------------------------------- set_grad_enabled


def test_set_grad_enabled_as_a_function_call():
    x = Tensor([1.0], requires_grad=True)
    try:
        tr.set_grad_enabled(False)
        assert not tr.is_grad_enabled() and not (x * 2).requires_grad
        tr.set_grad_enabled(True)
        assert tr.is_grad_enabled() and (x * 2).requires_grad
    finally:
        tr.set_grad_enabled(True)


@pytest.mark.parametrize("mode", [False, True, np.bool_(False)])
def test_set_grad_enabled_as_a_context_manager_restores_the_previous_mode(mode):
    x = Tensor([1.0], requires_grad=True)
    for outer in (tr.enable_grad, tr.no_grad):
        with outer():
            before = tr.is_grad_enabled()
            with tr.set_grad_enabled(mode):
                assert tr.is_grad_enabled() is bool(mode)
                assert (x * 2).requires_grad is bool(mode)
            assert tr.is_grad_enabled() is before


def test_set_grad_enabled_as_a_decorator():
    @tr.set_grad_enabled(False)
    def double(t):
        """doubles"""
        return t * 2

    assert tr.is_grad_enabled()  # decorating changes nothing now
    x = Tensor([1.0], requires_grad=True)
    assert not double(x).requires_grad and double.__name__ == "double"
    assert tr.is_grad_enabled() and (x * 2).requires_grad


def test_nested_modes_restore_in_order_and_after_an_exception():
    with tr.no_grad():
        with tr.enable_grad():
            with tr.set_grad_enabled(False):
                assert not tr.is_grad_enabled()
            assert tr.is_grad_enabled()
        assert not tr.is_grad_enabled()
        with pytest.raises(ZeroDivisionError), tr.set_grad_enabled(True):
            1 / 0  # noqa: B018  (the error it raises is the point)
        assert not tr.is_grad_enabled()
        with pytest.raises(ZeroDivisionError), replay.disabled():
            1 / 0  # noqa: B018
    assert tr.is_grad_enabled() and replay.is_enabled() == speedups.installed()


@pytest.mark.parametrize("mode", [1, 0, "no", None, 1.0])
def test_set_grad_enabled_refuses_what_is_not_a_bool_and_changes_nothing(mode):
    with tr.no_grad():
        with pytest.raises(TypeError, match=r"set_grad_enabled: mode must be a bool .*got"):
            tr.set_grad_enabled(mode)
        assert not tr.is_grad_enabled()


# --------------------------------------------------------------------------- threads training


def make_models():
    """Four models of different shapes, made the same way every time (a fixed seed)."""
    tr.manual_seed(7)
    rnn = nn.RNN(3, 5, num_layers=2)
    lstm = nn.LSTM(4, 6, batch_first=True)
    gru = nn.GRU(2, 3, bidirectional=True)
    mlp = [nn.Linear(5, 8), nn.Linear(8, 2)]  # op by op: no recurrent layer at all
    return {"rnn": rnn, "lstm": lstm, "gru": gru, "mlp": mlp}


def parameters(model):
    return [p for m in (model if isinstance(model, list) else [model]) for p in m.parameters()]


STEPS = 3


def train(kind, model):
    """A few optimizer steps on random data of the model's own generator. The RNN's steps
    happen inside one long ``no_grad`` block, ``enable_grad`` only around each training
    step, with eval forwards in between; the LSTM's inside ``replay.disabled()``."""
    rng = np.random.default_rng(hash(kind) % 2**32)
    params = parameters(model)
    opt = (tr.optim.Adam if kind in ("lstm", "mlp") else tr.optim.SGD)(params, lr=0.05)

    def step(x, y, forward):
        opt.zero_grad()
        loss = ((forward(Tensor(x)) - Tensor(y)) ** 2).mean()
        loss.backward()
        opt.step()

    if kind == "rnn":
        with tr.no_grad():
            for _ in range(STEPS):
                with tr.enable_grad():
                    step(rng.normal(size=(6, 2, 3)), rng.normal(size=(6, 2, 5)),
                         lambda x: model(x)[0])
                for _ in range(2):
                    assert not model(Tensor(rng.normal(size=(4, 2, 3))))[0].requires_grad
    elif kind == "lstm":
        with replay.disabled():
            for _ in range(STEPS):
                step(rng.normal(size=(2, 7, 4)), rng.normal(size=(2, 7, 6)),
                     lambda x: model(x)[0])
    elif kind == "gru":
        for _ in range(STEPS):
            step(rng.normal(size=(5, 3, 2)), rng.normal(size=(5, 3, 6)), lambda x: model(x)[0])
    else:
        for _ in range(STEPS):
            step(rng.normal(size=(4, 5)), rng.normal(size=(4, 2)),
                 lambda x: model[1](model[0](x).tanh()))
    return [p.data.copy() for p in params]


def test_threads_training_their_own_models_match_their_runs_alone():
    alone = {kind: train(kind, model) for kind, model in make_models().items()}
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often: many interleavings
    try:
        for repetition in range(20):
            models = make_models()
            barrier = threading.Barrier(len(models), timeout=TIMEOUT)
            results, errors = {}, []

            def worker(kind, model, barrier=barrier, results=results, errors=errors):
                try:
                    barrier.wait()
                    results[kind] = train(kind, model)
                except BaseException as err:  # noqa: BLE001  (reported below)
                    errors.append((kind, err))

            threads = [threading.Thread(target=worker, args=item) for item in models.items()]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert not errors, f"repetition {repetition}: {errors}"
            for kind, weights in alone.items():
                assert len(results[kind]) == len(weights)
                assert all(np.array_equal(a, b) for a, b in zip(results[kind], weights)), (
                    f"repetition {repetition}: {kind}'s weights differ from its run alone")
    finally:
        sys.setswitchinterval(switch)
    assert tr.is_grad_enabled() and gc.isenabled()


def test_threads_recording_the_same_layer_shape_at_once_share_a_sound_program():
    from tinygrad_rnn.nn import recurrent as recurrent_module

    def run(lstm, x):
        out, _ = lstm(Tensor(x))
        out.sum().backward()
        return [out.data] + [p.grad for p in lstm.parameters()]

    x = np.random.default_rng(1).normal(size=(5, 2, 3))
    tr.manual_seed(3)
    expected = run(nn.LSTM(3, 4), x)
    for _ in range(5):
        recurrent_module._PROGRAMS.clear()  # every thread records the step anew, at once
        tr.manual_seed(3)
        layers = [nn.LSTM(3, 4) for _ in range(4)]
        for layer in layers[1:]:
            layer.load_state_dict(layers[0].state_dict())
        barrier = threading.Barrier(len(layers), timeout=TIMEOUT)
        results = [None] * len(layers)

        def worker(k, barrier=barrier, results=results, layers=layers):
            barrier.wait()
            results[k] = run(layers[k], x)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(layers))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT)
        for got in results:
            assert got is not None
            assert all(np.array_equal(a, b) for a, b in zip(got, expected))
