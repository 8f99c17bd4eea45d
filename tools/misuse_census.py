"""A census of misuse: draw random calls across the public API, valid and clearly
invalid (labelled by construction), run each, and count how the package answered.

    python tools/misuse_census.py [--n 2000] [--seed 0] [--examples 5] [--area NAME]

Every call is a line of Python (``setup; call``) run against the names of
``PRELUDE``, so each example printed is a reproducer to paste. A call ends as

    valid-ok              a valid call that worked
    valid-refused         a valid call that raised (bad)
    invalid-refused       an invalid call refused on purpose, nothing changed
    invalid-leaked        an invalid call that raised an internal error: an exception type
                          outside the documented ones (docs/errors.md), a message that does
                          not start with the refusing name, a chained lower exception, or
                          one raised elsewhere than on a ``raise`` line of tinygrad_rnn
    invalid-accepted      an invalid call that was silently accepted (bad)
    refused-but-changed   refused on purpose, but a module, optimizer, tensor, file, grad or
                          replay mode, the RNG, or a later valid call changed (bad)
    ambiguous-ok/-refused torch itself differs or the issue leaves it open: either is fine
    hang                  no answer within the time limit (bad)

tests/test_fuzz.py drives the same catalog with Hypothesis, so that the suite holds
the package to what this census measures. No torch needed.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import linecache
import pathlib
import random
import re
import shutil
import signal
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn import rng

T = TypeVar("T")
Pick = Callable[[Sequence[Any]], Any]  # chooses one of the options (random, or Hypothesis)

PRELUDE = ("import numpy as np, pathlib, tempfile, tinygrad_rnn as tr; "
           "from tinygrad_rnn import nn, functional as F, optim, replay; "
           "from tinygrad_rnn.nn.utils.rnn import PackedSequence; "
           "nan, inf = float('nan'), float('inf')")

# --------------------------------------------------------------------------- what "on purpose" is

# The exception types the package documents for misuse (docs/errors.md). ShapeError is a
# ValueError, GradcheckError a RuntimeError.
DOCUMENTED = (TypeError, ValueError, IndexError, RuntimeError, FileNotFoundError)
PACKAGE_DIR = pathlib.Path(tr.__file__).resolve().parent
# "nn.LSTM: ...", "Adam.load_state_dict: ...", "backward(): ...", "getitem: ..."
OWN_NAME = re.compile(r"[A-Za-z_][\w.]*(\(\))?: ")


def leak_reason(err: BaseException) -> str | None:
    """Why ``err`` is not a refusal raised on purpose by the package, or None if it is.

    On purpose means: a documented type; a message that starts with the public name of
    what refused ("nn.LSTM: ..."); no lower exception chained behind it; and raised by a
    ``raise`` statement of tinygrad_rnn itself (a numpy function failing under one of our
    lines would leave a line that is not a raise, or a frame inside numpy).
    """
    if not isinstance(err, DOCUMENTED):
        return f"{type(err).__name__} is not a documented exception type"
    verdict = isinstance(err, tr.GradcheckError)  # a check's failure, not a refusal
    if not verdict and not OWN_NAME.match(str(err)):
        return "its message does not start with the name of what refused"
    if err.__cause__ is not None or (err.__context__ is not None
                                     and not err.__suppress_context__):
        inner = err.__cause__ or err.__context__
        return f"a {type(inner).__name__} is chained behind it"
    tb = err.__traceback__
    if tb is None:
        return "it has no traceback"
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename = tb.tb_frame.f_code.co_filename
    where = f"{pathlib.Path(filename).name}:{tb.tb_lineno}"
    if not pathlib.Path(filename).resolve().is_relative_to(PACKAGE_DIR):
        return f"raised outside tinygrad_rnn, at {where}"
    if not linecache.getline(filename, tb.tb_lineno).lstrip().startswith("raise"):
        return f"raised by a line of tinygrad_rnn that is not a raise statement, at {where}"
    return None


# --------------------------------------------------------------------------- what must not change


def freeze(value: Any) -> Any:
    """A comparable, deep copy of everything a refused call must leave as it was."""
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape,
                value.tobytes() if value.dtype.kind not in "OV" else repr(value))
    if isinstance(value, tr.Tensor):
        return ("tensor", freeze(value.data), freeze(value.grad), value.requires_grad)
    if isinstance(value, tr.nn.Module):
        return ("module", value.training, tuple(
            (name, freeze(p)) for name, p in value.named_parameters()),
            tuple(sorted((k, repr(v)) for k, v in vars(value).items()
                         if isinstance(v, (bool, int, float, str, type(None))))))
    if isinstance(value, tr.optim.Optimizer):
        return ("optimizer", freeze(value.state_dict()),
                tuple(freeze({k: v for k, v in g.items() if k != "params"})
                      for g in value.param_groups))
    if isinstance(value, dict):
        return ("dict", tuple((repr(k), freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(freeze(v) for v in value))
    if isinstance(value, (float, np.floating)):
        return ("float", repr(value))
    if isinstance(value, (bool, int, str, bytes, type(None), np.generic)):
        return value
    return ("object", id(value))


def global_state(scratch: str | None) -> dict[str, Any]:
    """Grad mode, replay mode, the package's RNG and numpy's, and the scratch folder."""
    state: dict[str, Any] = {
        "grad mode": tr.is_grad_enabled(),
        "replay mode": tr.replay.is_enabled(),
        "tr RNG": repr(rng.generator().bit_generator.state),
        "numpy RNG": repr(np.random.get_state()[1].tobytes()),
    }
    if scratch is not None and pathlib.Path(scratch).is_dir():
        state["scratch folder"] = sorted(
            (p.name, p.stat().st_size) for p in pathlib.Path(scratch).iterdir())
    return state


def objects_of(names: dict[str, Any]) -> dict[str, Any]:
    """The user's objects among ``names``: what a refused call must not touch."""
    kept = (tr.Tensor, tr.nn.Module, tr.optim.Optimizer, dict, list, tuple, np.ndarray)
    return {k: freeze(v) for k, v in names.items()
            if not k.startswith("__") and isinstance(v, kept)}


def canary() -> bytes:
    """A later valid call: a fresh 2-layer RNN with fixed weights, run forward and
    backward. A refusal that leaves a poisoned cache behind changes (or breaks) it."""
    generator = rng.generator()
    saved = generator.bit_generator.state
    try:
        model = tr.nn.RNN(3, 4, num_layers=2, batch_first=True)
        for i, p in enumerate(model.parameters()):
            p.data[...] = np.sin(np.arange(p.data.size) + i).reshape(p.shape) / 3
        x = tr.Tensor(np.cos(np.arange(12.0)).reshape(2, 2, 3), requires_grad=True)
        out, h = model(x)
        (out.sum() + h.sum()).backward()
        assert x.grad is not None
        return out.data.tobytes() + h.data.tobytes() + x.grad.tobytes()
    finally:
        generator.bit_generator.state = saved


_CANARY: list[bytes] = []


def _canary_reference() -> bytes:
    """The later valid call's answer in a fresh process: computing it here would fill the
    package's caches first, and a refusal that poisons a cache entry (a float layer
    number) would then find it filled and go unseen."""
    import subprocess
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import misuse_census; "
            "sys.stdout.write(misuse_census.canary().hex())")
    done = subprocess.run([sys.executable, "-c", code, str(pathlib.Path(__file__).parent)],
                          capture_output=True, text=True, check=True)
    return bytes.fromhex(done.stdout)


def canary_still_sings() -> str | None:
    """None if the later valid call gives what it gives in a fresh process, else what
    went wrong."""
    if not _CANARY:
        _CANARY.append(_canary_reference())
    try:
        now = canary()
    except Exception as err:  # noqa: BLE001  (any failure of a valid call is the finding)
        return f"a later valid call fails: {type(err).__name__}: {_short(str(err))}"
    return None if now == _CANARY[0] else "a later valid call gives another result"


# --------------------------------------------------------------------------- running one case


@dataclass(frozen=True)
class Case:
    """``setup`` (statements) then ``call`` (the statement under test); ``expect`` is
    "ok" (valid), "refuse" (clearly invalid) or "either" (torch differs, or left open)."""

    area: str
    setup: str
    call: str
    expect: str

    @property
    def reproducer(self) -> str:
        return f"{self.setup}; {self.call}" if self.setup else self.call


@dataclass(frozen=True)
class Outcome:
    kind: str
    detail: str = ""


BAD_KINDS = ("valid-refused", "invalid-leaked", "invalid-accepted", "refused-but-changed",
             "hang")


class _Timeout(BaseException):
    """Raised by the alarm (a BaseException, so that no ``except Exception`` eats it)."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise _Timeout after ``seconds`` (main thread only; elsewhere no limit)."""
    import threading
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def ring(signum: int, frame: Any) -> None:
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def namespace() -> dict[str, Any]:
    names: dict[str, Any] = {}
    exec(PRELUDE, names)
    return names


def run_case(case: Case, timeout: float = 20.0) -> Outcome:
    """Run ``case`` and classify its outcome (see the module's docstring)."""
    names = namespace()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(case.setup, names)
            scratch = names.get("tmp")
            before = (objects_of(names), global_state(scratch))
            try:
                with time_limit(timeout):
                    exec(case.call, names)
            except _Timeout:
                return Outcome("hang", f"no answer in {timeout} s")
            except Exception as err:  # noqa: BLE001  (classified below)
                return _refused(case, err, names, before)
            return Outcome({"ok": "valid-ok", "refuse": "invalid-accepted",
                            "either": "ambiguous-ok"}[case.expect])
    finally:
        if isinstance(names.get("tmp"), str):
            shutil.rmtree(names["tmp"], ignore_errors=True)


def _refused(case: Case, err: Exception, names: dict[str, Any],
             before: tuple[dict[str, Any], dict[str, Any]]) -> Outcome:
    said = f"{type(err).__name__}: {_short(str(err))}"
    if case.expect == "ok":
        return Outcome("valid-refused", said)
    reason = leak_reason(err)
    if reason is not None:
        return Outcome("invalid-leaked", f"{said}  [{reason}]")
    objects, modes = before
    try:
        after = (objects_of(names), global_state(names.get("tmp")))
    except Exception as state_err:  # noqa: BLE001  (an object left broken)
        return Outcome("refused-but-changed", f"{said}  [state unreadable: {state_err!r}]")
    changed = [k for k in objects if after[0].get(k) != objects[k]]
    changed += [k for k in modes if after[1].get(k) != modes[k]]
    if changed:
        return Outcome("refused-but-changed", f"{said}  [changed: {', '.join(changed)}]")
    poisoned = canary_still_sings()
    if poisoned:
        return Outcome("refused-but-changed", f"{said}  [{poisoned}]")
    return Outcome("ambiguous-refused" if case.expect == "either" else "invalid-refused", said)


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- the catalog


@dataclass(frozen=True)
class Arg:
    """One argument: source texts of good and of clearly bad values. ``""`` among the good
    ones means "left out" (its default); a bad value starting with ``?`` is ambiguous
    (torch accepts it, or the issue leaves it open): either outcome is fine."""

    name: str
    good: tuple[str, ...]
    bad: tuple[str, ...]
    positional: bool = False


def call_of(pick: Pick, area: str, setup: str, fn: str, args: Sequence[Arg],
            after: str = "") -> Case:
    """``fn(args)`` with at most one argument spoiled: which one is drawn first, "none"
    (a valid call) being the first choice, so that Hypothesis shrinks towards it."""
    spoiled = pick(["none"] + [a.name for a in args if a.bad])
    parts, refused, ambiguous = [], False, False
    for a in args:
        value = pick(a.bad if a.name == spoiled else a.good)
        if value.startswith("?"):
            ambiguous, value = True, value[1:]
        elif a.name == spoiled:
            refused = True
        if value:
            parts.append(value if a.positional else f"{a.name}={value}")
    expect = "refuse" if refused else "either" if ambiguous else "ok"
    return Case(area, setup, f"{fn}({', '.join(parts)}){after}", expect)


def statement_of(pick: Pick, area: str, setup: str, good: Sequence[str],
                 bad: Sequence[str], call: str) -> Case:
    """``setup; <one statement of good or bad>; call``: for a spoiled object (a state
    dict, a file) rather than a spoiled argument."""
    spoil = pick(["valid", "spoiled"])
    change = pick(good if spoil == "valid" else bad)
    expect = "ok" if spoil == "valid" else ("either" if change.startswith("?") else "refuse")
    change = change.lstrip("?")
    return Case(area, f"{setup}; {change}" if change else setup, call, expect)


# values that are clearly not what an argument of each kind takes
NOT_A_SIZE = ("2.5", "None", "'3'", "True", "-1", "np.float64(3.0)", "[3]")
NOT_A_FLAG = ("'no'", "None", "0.5", "'False'", "[]")
NOT_A_PROBABILITY = ("-0.1", "1.5", "nan", "'0.5'", "None", "inf")
NOT_A_RATE = ("-1.0", "nan", "inf", "'0.1'", "None", "[0.1]")
NOT_NON_NEGATIVE = ("-0.5", "nan", "inf", "'x'", "None")
FLAG = ("", "True", "False")


def _recurrent_constructor(pick: Pick) -> Case:
    kind = pick(["nn.LSTM", "nn.GRU", "nn.RNN"])
    args = [Arg("input_size", ("3", "np.int64(3)"), NOT_A_SIZE + ("?0",), positional=True),
            Arg("hidden_size", ("2", "4"), NOT_A_SIZE + ("0",), positional=True),
            Arg("num_layers", ("", "1", "2"), NOT_A_SIZE + ("0",)),
            Arg("bias", FLAG, NOT_A_FLAG),
            Arg("batch_first", FLAG, NOT_A_FLAG),
            Arg("dropout", ("", "0.0"), NOT_A_PROBABILITY),
            Arg("bidirectional", FLAG, NOT_A_FLAG)]
    if kind == "nn.LSTM":
        args.append(Arg("proj_size", ("", "0", "1"), ("-1", "2.5", "None", "4", "True")))
    if kind == "nn.RNN":
        args.append(Arg("nonlinearity", ("", "'tanh'", "'relu'"),
                        ("'sigmoid'", "None", "1", "'TANH'")))
    return call_of(pick, "constructors", "", kind, args)


def _cell_constructor(pick: Pick) -> Case:
    kind = pick(["nn.LSTMCell", "nn.GRUCell", "nn.RNNCell"])
    args = [Arg("input_size", ("3",), NOT_A_SIZE, positional=True),
            Arg("hidden_size", ("2", "0"), NOT_A_SIZE, positional=True),  # 0: as torch
            Arg("bias", FLAG, NOT_A_FLAG)]
    if kind == "nn.RNNCell":
        args.append(Arg("nonlinearity", ("", "'relu'"), ("'sigmoid'", "None", "1")))
    return call_of(pick, "constructors", "", kind, args)


def _layer_constructor(pick: Pick) -> Case:
    kind = pick(["nn.Linear", "nn.Embedding", "nn.Dropout"])
    if kind == "nn.Linear":
        args = [Arg("in_features", ("3", "np.int32(3)", "0"), NOT_A_SIZE, positional=True),
                Arg("out_features", ("2",), NOT_A_SIZE, positional=True),
                Arg("bias", FLAG, NOT_A_FLAG)]
    elif kind == "nn.Embedding":
        args = [Arg("num_embeddings", ("5",), NOT_A_SIZE, positional=True),
                Arg("embedding_dim", ("2",), NOT_A_SIZE, positional=True),
                Arg("padding_idx", ("", "None", "1", "-1"), ("1.5", "5", "-6", "'0'", "True"))]
    else:
        args = [Arg("p", ("", "0.0", "0.5", "1.0"), NOT_A_PROBABILITY, positional=True)]
    return call_of(pick, "constructors", "", kind, args)


PARAM = "p = tr.Tensor(np.ones(3), requires_grad=True)"
PARAMS = Arg("params", ("[p]", "[{'params': [p]}]"),
             ("p", "[]", "[1.0]", "[tr.Tensor(np.ones(2))]", "[p, p]", "[p * 2]", "None",
              "[{'lr': 0.1}]", "[{'params': [p], 'foo': 1}]", "3"), positional=True)
BETAS = ("(0.9, 0.999)", "(0.0, 0.5)")
NOT_BETAS = ("(0.9,)", "(0.9, 1.0)", "(1.5, 0.9)", "0.9", "(0.9, 'x')", "(nan, 0.9)", "None",
             "(0.9, 0.99, 0.9)")


def _optimizer_constructor(pick: Pick) -> Case:
    kind = pick(["optim.SGD", "optim.Adam", "optim.AdamW", "optim.Adagrad", "optim.RMSprop"])
    args = [PARAMS, Arg("lr", ("0.1", "1e-3"), NOT_A_RATE),
            Arg("weight_decay", ("", "0.0", "0.01"), NOT_NON_NEGATIVE),
            Arg("maximize", FLAG, NOT_A_FLAG)]
    if kind == "optim.SGD":
        args += [Arg("momentum", ("", "0.0", "0.9"), NOT_NON_NEGATIVE),
                 Arg("dampening", ("", "0.0"), NOT_NON_NEGATIVE),
                 Arg("nesterov", ("", "False"), NOT_A_FLAG)]
    elif kind in ("optim.Adam", "optim.AdamW"):
        args += [Arg("betas", ("",) + BETAS, NOT_BETAS),
                 Arg("eps", ("", "1e-8"), ("-1e-8",) + NOT_NON_NEGATIVE[1:]),
                 Arg("amsgrad", FLAG, NOT_A_FLAG)]
    elif kind == "optim.Adagrad":
        args += [Arg("lr_decay", ("", "0.0", "0.1"), NOT_NON_NEGATIVE),
                 Arg("initial_accumulator_value", ("", "0.1"), NOT_NON_NEGATIVE),
                 Arg("eps", ("", "1e-10"), NOT_NON_NEGATIVE)]
    else:
        args += [Arg("alpha", ("", "0.99"), NOT_NON_NEGATIVE),
                 Arg("momentum", ("", "0.5"), NOT_NON_NEGATIVE),
                 Arg("centered", FLAG, NOT_A_FLAG)]
    return call_of(pick, "optimizers", PARAM, kind, args)


def _clipping(pick: Pick) -> Case:
    setup = f"{PARAM}; (p * p).sum().backward()"
    if pick(["norm", "value"]) == "norm":
        args = [Arg("parameters", ("[p]", "p"), ("?None", "['a']", "3"), positional=True),
                Arg("max_norm", ("1.0", "0.5"), ("nan", "?-1.0", "'x'", "None"), positional=True),
                Arg("norm_type", ("", "2.0", "1", "'inf'", "inf"), ("0", "-1", "'fro'", "None",
                                                                      "nan")),
                Arg("error_if_nonfinite", FLAG, NOT_A_FLAG)]
        return call_of(pick, "optimizers", setup, "nn.utils.clip_grad_norm_", args)
    args = [Arg("parameters", ("[p]", "p"), ("['a']", "3"), positional=True),
            Arg("clip_value", ("0.5", "0.0"), ("nan", "-1.0", "'x'", "None"), positional=True)]
    return call_of(pick, "optimizers", setup, "nn.utils.clip_grad_value_", args)


OPTIMIZER_SETUPS = {
    "Adam": ("optim.Adam([p], lr=0.1)", "exp_avg"),
    "SGD": ("optim.SGD([p], lr=0.1, momentum=0.9)", "momentum_buffer"),
    "RMSprop": ("optim.RMSprop([p], lr=0.1)", "square_avg"),
}


def _optimizer_load(pick: Pick) -> Case:
    kind = pick(list(OPTIMIZER_SETUPS))
    make, buffer = OPTIMIZER_SETUPS[kind]
    setup = (f"{PARAM}; opt = {make}; (p * p).sum().backward(); opt.step(); "
             f"sd = opt.state_dict()")
    good = ("", "sd['param_groups.0.lr'] = np.array(0.5)", "sd['param_groups.0.lr'] = 0.5",
            f"sd['state.0.{buffer}'] = sd['state.0.{buffer}'].astype(np.float32)")
    other = "optim.SGD([p], lr=0.1)" if kind != "SGD" else "optim.Adam([p], lr=0.1)"
    bad = ("sd['param_groups.0.lr'] = np.array(-1.0)", "sd['param_groups.0.lr'] = 'bad'",
           "sd['param_groups.0.lr'] = 0.5; sd['param_groups.0.weight_decay'] = 'bad'",
           "sd['param_groups.0.lr'] = np.array(nan)",
           "sd['param_groups.0.maximize'] = 'no'", "sd['param_groups.0.lr'] = np.ones(2)",
           "sd['param_groups.0.foo'] = np.array(1.0)",
           f"sd['state.0.{buffer}'] = np.array(1.0)", f"sd['state.0.{buffer}'] = np.ones(4)",
           f"sd['state.0.{buffer}'] = np.array(['a', 'b', 'c'])",
           f"sd['state.0.{buffer}'] = None", "sd['state.5.step'] = np.array(1)",
           "sd['garbage'] = 1", "sd[1] = 2", "del sd['param_groups.0.params']",
           "sd['param_groups.1.lr'] = np.array(0.1)",
           "sd['param_groups.0.params'] = np.array([0, 1])",
           "sd['param_groups.0.params'] = np.array([0.5])",
           # (SGD keeps no momentum buffer for a parameter not stepped yet, as torch)
           f"{'?' if kind == 'SGD' else ''}del sd['state.0.{buffer}']",
           "sd = None", "sd = 'opt.npz'", "sd = [1, 2]",
           f"sd = {other}.state_dict()")
    return statement_of(pick, "state dicts", setup, good, bad, "opt.load_state_dict(sd)")


def _module_load(pick: Pick) -> Case:
    make = pick(["nn.Linear(3, 2)", "nn.LSTM(3, 2)", "nn.Embedding(4, 2)"])
    strict = pick(["", "True", "False"])
    loose = strict == "False"
    setup = f"m = {make}; sd = m.state_dict(); k = next(iter(sd))"
    good = ("", "sd[k] = sd[k].astype(np.float32)", "sd[k] = tr.Tensor(sd[k])",
            "sd[k] = np.full_like(sd[k], nan)", "sd[k] = sd[k].astype(np.int64)")
    bad = ("sd[k] = np.ones(7)", "sd[k] = 'str'", "sd[k] = None", "sd[k] = np.array(['a'])",
           "sd[k] = sd[k].astype(object)", "sd[1] = np.ones(1)", "sd = None", "sd = 'm.npz'",
           "sd = [1, 2]", "sd[k] = [[1, 2]]", "sd[k] = sd[k].astype(complex)")
    key_changes = ("del sd[k]", "sd['extra'] = np.ones(1)")
    good, bad = (good + key_changes, bad) if loose else (good, bad + key_changes)
    call = "m.load_state_dict(sd" + (f", strict={strict})" if strict else ")")
    if pick(["plain", "bad strict"]) == "bad strict":
        return Case("state dicts", setup, f"m.load_state_dict(sd, strict={pick(NOT_A_FLAG)})",
                    "refuse")
    return statement_of(pick, "state dicts", setup, good, bad, call)


def _forward_recurrent(pick: Pick) -> Case:
    kind = pick(["LSTM", "GRU", "RNN"])
    states = "(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))" if kind == "LSTM" else \
        "np.zeros((2, 2, 2))"
    not_states = ("(np.zeros((1, 2, 2)),) * 2" if kind == "LSTM" else "np.zeros((1, 2, 2))",
                  "('a', 'b')", "3", "'h'",
                  "np.zeros((2, 2, 2))" if kind == "LSTM" else "(np.zeros((2, 2, 2)),) * 2",
                  "(np.zeros((2, 2, 2)),)" if kind == "LSTM" else "np.zeros((2, 3, 2))")
    args = [Arg("x", ("np.ones((4, 2, 3))", "tr.Tensor(np.ones((4, 2, 3)), requires_grad=True)",
                      "?np.ones((4, 2, 3), dtype=np.float32)"),
                ("np.ones((4, 2, 5))", "np.ones(3)", "np.ones((4, 2, 3, 1))", "'abc'", "None",
                 "np.ones((0, 2, 3))", "[[1, 2], [3]]", "np.ones((4, 2, 3), dtype=object)",
                 "?np.ones((4, 2, 3), dtype=np.int64)", "?np.full((4, 2, 3), nan)"),
                positional=True),
            Arg("hx", ("", "None", states), not_states, positional=True)]
    return call_of(pick, "forward", f"m = nn.{kind}(3, 2, num_layers=2)", "m", args)


def _forward_other(pick: Pick) -> Case:
    kind = pick(["LSTMCell", "GRUCell", "Linear", "Embedding"])
    if kind in ("LSTMCell", "GRUCell"):
        state = "(np.zeros((2, 2)), np.zeros((2, 2)))" if kind == "LSTMCell" else "np.zeros((2, 2))"
        args = [Arg("x", ("np.ones((2, 3))", "tr.Tensor(np.ones((2, 3)), requires_grad=True)"),
                    ("np.ones((2, 4))", "np.ones((1, 2, 3))", "'x'", "None", "[[1], [2, 3]]"),
                    positional=True),
                Arg("hx", ("", "None", state), ("np.zeros((3, 2))", "'h'", "3",
                                                "(np.zeros((2, 2)),) * 3"), positional=True)]
        return call_of(pick, "forward", f"m = nn.{kind}(3, 2)", "m", args)
    if kind == "Linear":
        args = [Arg("x", ("np.ones((4, 3))", "np.ones(3)", "np.ones((2, 4, 3))"),
                    ("np.ones((4, 2))", "np.ones(())", "'abc'", "None", "[[1, 2], [3]]"),
                    positional=True)]
        return call_of(pick, "forward", "m = nn.Linear(3, 2)", "m", args)
    args = [Arg("indices", ("np.array([0, 4])", "[[1, 2]]", "np.array(3)"),
                ("np.array([0.5])", "np.array([5])", "np.array([-1])", "'a'", "None",
                 "[1.5, 2]", "np.array(['a'])"), positional=True)]
    return call_of(pick, "forward", "m = nn.Embedding(5, 2, padding_idx=0)", "m", args)


def _module_methods(pick: Pick) -> Case:
    setup = "m = nn.LSTM(3, 2, num_layers=2)"
    method = pick(["train", "gate", "to", "requires_grad_", "gate twice spoiled"])
    if method == "gate twice spoiled":  # the poisoned cache: a float layer, a bad name
        return Case("forward", setup, f"m.gate({pick(['I', 'x'])!r}, layer={pick(['1.0', '0.0'])})",
                    "refuse")
    if method == "train":
        args = [Arg("mode", FLAG, NOT_A_FLAG, positional=True)]
    elif method == "gate":
        args = [Arg("name", ("'i'", "'f'", "'g'", "'o'"), ("'x'", "None", "3"), positional=True),
                Arg("layer", ("", "0", "1"), ("1.0", "2", "-1", "'0'", "None", "True")),
                Arg("direction", ("", "0"), ("1", "0.0", "None", "-1"))]
    elif method == "to":
        args = [Arg("dtype", ("np.float32", "'float64'", "None"),  # to(None): as torch, a no-op
                    ("np.int64", "'int32'", "'abc'", "object", "3"), positional=True)]
    else:
        args = [Arg("requires_grad", FLAG, NOT_A_FLAG, positional=True)]
    return call_of(pick, "forward", setup, f"m.{method}", args)


X = "x = tr.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)"
DIM = ("0", "1", "-1", "-2")
NOT_A_DIM = ("2", "-3", "5", "1.0", "'0'", "?[0]")
REDUCTION = ("", "'mean'", "'sum'", "'none'")
NOT_A_REDUCTION = ("'avg'", "None", "1", "'MEAN'")


def _functional_dims(pick: Pick) -> Case:
    fn, first = pick([("F.softmax", "x"), ("F.log_softmax", "x"), ("x.sum", ""),
                      ("x.mean", ""), ("x.unbind", ""), ("tr.concat", "[x, x]"),
                      ("x.split", "1"), ("x.chunk", "2")])
    args = [Arg("first", (first,), (), positional=True)] if first else []
    return call_of(pick, "functional", X, fn, args + [Arg("dim", DIM, NOT_A_DIM)])


def _functional_shapes(pick: Pick) -> Case:
    method = pick(["split", "chunk", "reshape", "transpose", "permute", "getitem", "stack"])
    if method == "split":
        args = [Arg("split_size", ("1", "[1, 1]", "2"),
                    ("0", "-1", "1.5", "[1, 2]", "'1'", "None"), positional=True)]
    elif method == "chunk":
        args = [Arg("chunks", ("1", "2", "3"), ("0", "-1", "2.5", "None", "'2'"), positional=True)]
    elif method == "reshape":
        args = [Arg("shape", ("3, 2", "6", "-1, 2", "(2, 3)"),
                    ("4, 2", "'a'", "2.5, 2", "None", "-1, -1"), positional=True)]
    elif method == "transpose":
        args = [Arg("dim0", DIM, NOT_A_DIM, positional=True),
                Arg("dim1", DIM, NOT_A_DIM, positional=True)]
    elif method == "permute":
        args = [Arg("dims", ("1, 0", "0, 1"), ("0, 0", "0", "2, 0", "'a'", "0, 1, 2"),
                    positional=True)]
    elif method == "stack":
        args = [Arg("tensors", ("[x, x]", "(x, x)"), ("x", "[]", "[x, 'a']", "None",
                                                       "[x, np.ones((3, 2))]"), positional=True),
                Arg("dim", ("", "0", "2", "-3"), ("3", "-4", "1.0", "'0'"))]
        return call_of(pick, "functional", X, "tr.stack", args)
    else:
        args = [Arg("index", ("0", "1, 2", "slice(0, 1)", "-1", "None"),
                    ("5", "0, 7", "-3", "'a'", "1.5", "0, 0, 0"), positional=True)]
        case = call_of(pick, "functional", X, "x.__getitem__", args)
        index = case.call[len("x.__getitem__("):-1]
        return Case(case.area, case.setup, f"x[{index}]", case.expect)
    return call_of(pick, "functional", X, f"x.{method}", args)


def _functional_losses(pick: Pick) -> Case:
    fn = pick(["F.cross_entropy", "F.mse_loss", "F.dropout", "F.linear", "F.embedding"])
    if fn == "F.cross_entropy":
        args = [Arg("input", ("x",), ("'x'", "None", "np.ones((2, 3, 4, 0))"), positional=True),
                Arg("target", ("np.array([0, 2])", "[1, 1]"),
                    ("np.array([0.5, 1.0])", "np.array([0, 3])", "np.array([0])",
                     "np.array([[0, 1]])", "'ab'", "None", "np.array([-2, 0])"), positional=True),
                Arg("weight", ("", "None", "np.ones(3)"), ("np.ones(2)", "'w'", "np.ones((3, 1))")),
                Arg("ignore_index", ("", "-100", "1"), ("1.5", "'x'", "None")),
                Arg("reduction", REDUCTION, NOT_A_REDUCTION),
                Arg("label_smoothing", ("", "0.0", "0.1"), NOT_A_PROBABILITY)]
    elif fn == "F.mse_loss":
        args = [Arg("input", ("x",), ("'x'", "None"), positional=True),
                Arg("target", ("np.zeros((2, 3))", "tr.Tensor(np.zeros((2, 3)))"),
                    ("np.zeros((3, 2))", "'y'", "None", "?np.zeros(3)"), positional=True),
                Arg("reduction", REDUCTION, NOT_A_REDUCTION)]
    elif fn == "F.dropout":
        args = [Arg("input", ("x",), ("'x'", "None"), positional=True),
                Arg("p", ("", "0.0", "0.5", "1.0"), NOT_A_PROBABILITY),
                Arg("training", FLAG, NOT_A_FLAG)]
    elif fn == "F.linear":
        args = [Arg("input", ("x",), ("'x'", "None", "np.ones((2, 4))"), positional=True),
                Arg("weight", ("np.ones((4, 3))",), ("np.ones((3, 4))", "np.ones(3)", "'w'",
                                                     "None"), positional=True),
                Arg("bias", ("", "None", "np.ones(4)"), ("np.ones(3)", "'b'", "np.ones((4, 1))"))]
    else:
        args = [Arg("input", ("np.array([0, 3])", "[[1]]"),
                    ("np.array([0.5])", "np.array([4])", "'a'", "None"), positional=True),
                Arg("weight", ("np.ones((4, 2))",), ("np.ones(4)", "'w'", "None"),
                    positional=True),
                Arg("padding_idx", ("", "None", "0", "-1"), ("4", "-5", "1.5", "'0'"))]
    return call_of(pick, "functional", X, fn, args)


def _tensor_construction(pick: Pick) -> Case:
    args = [Arg("data", ("[1.0, 2.0]", "np.ones((2, 3))", "3", "[[1, 2], [3, 4]]", "np.arange(3)",
                         "[]", "np.float32(1.5)", "[True, False]", "[nan, inf]"),
                ("[[1, 2], [3]]", "None", "'abc'", "[1.0, 'a']", "{}", "object()", "[None]",
                 "{'a': 1}", "np.array([1, 2], dtype=object)", "b'ab'", "?[1j]", "[[1.0], 2.0]"),
                positional=True),
            Arg("dtype", ("", "None", "np.float32", "'float64'"),
                ("object", "'str'", "'abc'", "3", "?np.complex128")),
            Arg("requires_grad", FLAG, NOT_A_FLAG)]
    return call_of(pick, "tensors", "", "tr.Tensor", args)


def _tensor_methods(pick: Pick) -> Case:
    setup = f"{X}; y = x * 2"
    method = pick(["pow", "concat", "item", "to", "backward", "addcmul", "requires_grad",
                   "where", "setitem"])
    if method == "pow":  # (a tensor or array exponent that broadcasts is a tensor power)
        return call_of(pick, "tensors", setup, "x.__pow__",
                       [Arg("exponent", ("2", "0.5", "np.float64(2.0)", "-1", "x", "np.ones(3)"),
                            ("'2'", "None", "[2]", "np.array([1.0, 2.0])"), positional=True)])
    if method == "where":  # (a boolean mask only, as torch)
        fn = pick(["tr.where", "x.masked_fill"])
        mask = Arg("mask" if fn == "x.masked_fill" else "condition",
                   ("x > 2", "np.ones((2, 3), dtype=bool)", "y <= x"),
                   ("x", "np.ones((2, 3))", "'m'", "None", "np.ones(4, dtype=bool)"),
                   positional=True)
        if fn == "x.masked_fill":
            return call_of(pick, "tensors", setup, fn, [mask, Arg(
                "value", ("0.5", "tr.Tensor(1.0)"), ("'a'", "x", "None"), positional=True)])
        return call_of(pick, "tensors", setup, fn, [mask, Arg(
            "input", ("x", "0.5"), ("'a'",), positional=True), Arg(
            "other", ("y", "np.zeros(3)", "1"), ("np.zeros(4)",), positional=True)])
    if method == "setitem":  # refused, pointing to where, masked_fill and concat
        return Case("tensors", setup, pick(["x[0] = 1.0", "y[:, 1] = x[:, 0]"]), "refuse")
    if method == "concat":
        return call_of(pick, "tensors", setup, "tr.concat",
                       [Arg("tensors", ("[x, x]", "(x, y)"),
                            ("x", "[]", "[x, 'a']", "None", "[x, np.ones((2, 2, 2))]", "3"),
                            positional=True)])
    if method == "item":
        call = pick(["x.sum().item()", "x[0, 1].item()", "x.item()", "x[:0].item()"])
        return Case("tensors", setup, call, "ok" if call.startswith(("x.sum", "x[0")) else "refuse")
    if method == "to":
        return call_of(pick, "tensors", setup, "y.to",
                       [Arg("dtype", ("np.float32", "'float64'", "None"),  # None: as torch
                            ("np.int64", "'abc'", "3"), positional=True)])
    if method == "backward":
        return call_of(pick, "tensors", setup, "y.backward",
                       [Arg("gradient", ("np.ones((2, 3))", "tr.Tensor(np.ones((2, 3)))"),
                            ("np.ones(3)", "'g'", "None", "np.ones((3, 2))"), positional=True)])
    if method == "addcmul":
        return call_of(pick, "tensors", setup, "tr.addcmul",
                       [Arg("input", ("x",), ("'x'", "None"), positional=True),
                        Arg("tensor1", ("y",), ("np.ones((3, 2))",), positional=True),
                        Arg("tensor2", ("x",), ("'x'",), positional=True),
                        Arg("value", ("", "2.0"), ("'a'", "None", "x"))])
    value = pick(["True", "False"] + list(NOT_A_FLAG))
    return Case("tensors", f"{setup}; z = tr.Tensor(np.ones(2))", f"z.requires_grad = {value}",
                "ok" if value in ("True", "False") else "refuse")


def _save(pick: Pick) -> Case:
    args = [Arg("obj", ("{'w': np.ones(3)}", "m", "{'a': 1.0, 'b': np.arange(3)}",
                        "{'w': tr.Tensor(np.ones(2))}"),
                ("{1: np.ones(3)}", "{'a\\x00b': np.ones(1)}", "{'a': {'b': np.ones(1)}}",
                 "{'a': 'text'}", "{'a': np.array([1, 'x'], dtype=object)}", "None",
                 "[np.ones(3)]", "{'a': None}", "?{'': np.ones(1)}"), positional=True),
            Arg("path", ("tmp + '/ck.npz'", "tmp + '/ck'", "pathlib.Path(tmp) / 'ck.npz'"),
                ("tmp + '/missing/ck.npz'", "None", "3", "tmp", "''"), positional=True)]
    return call_of(pick, "files", "tmp = tempfile.mkdtemp(); m = nn.Linear(2, 1)", "tr.save",
                   args)


def _load(pick: Pick) -> Case:
    setup = ("tmp = tempfile.mkdtemp(); f = pathlib.Path(tmp, 'ck.npz'); "
             "tr.save({'w': np.ones(3), 'b': np.zeros(2)}, f); data = f.read_bytes()")
    bad = ("f.write_bytes(b'')", "f.write_bytes(data[:40])", "f.write_bytes(data[:len(data) // 2])",
           "f.write_bytes(data[:-10])", "f.write_bytes(b'not an archive at all')",
           "f.write_bytes(data[:100] + bytes(40) + data[140:])",
           "np.save(open(f, 'wb'), np.ones(3))",
           "np.savez(f, w=np.array([object()], dtype=object))",
           "f.write_bytes(b'PK\\x03\\x04' + bytes(100))", "f.unlink()", "f.unlink(); f.mkdir()")
    if pick(["file", "path"]) == "path":
        path = pick(["f", "str(f)", "tmp", "None", "3", "tmp + '/nope.npz'"])
        return Case("files", setup, f"tr.load({path})",
                    "ok" if path in ("f", "str(f)") else "refuse")
    return statement_of(pick, "files", setup, ("", "f.write_bytes(data)"), bad, "tr.load(f)")


SEQS = "x = tr.Tensor(np.ones((3, 2, 1)), requires_grad=True)"


def _pack(pick: Pick) -> Case:
    sort = pick(["", "True", "False"])
    unsorted = ("[1, 3]", "np.array([2, 3])")
    args = [Arg("input", ("x",), ("'x'", "None", "np.ones(3)"), positional=True),
            Arg("lengths", ("[3, 2]", "np.array([3, 1])", "tr.Tensor([2, 2])")
                + (unsorted if sort == "False" else ()),
                ("[0, 1]", "[]", "[4, 1]", "[2.5, 1]", "[[3], [1]]", "'ab'", "None", "[3]",
                 "[3, 2, 1]", "[-1, 2]", "[3, nan]") + (unsorted if sort != "False" else ()),
                positional=True),
            Arg("batch_first", ("", "False"), NOT_A_FLAG)]
    case = call_of(pick, "packing", SEQS, "nn.utils.rnn.pack_padded_sequence", args)
    if sort:
        return Case(case.area, case.setup, case.call[:-1] + f", enforce_sorted={sort})",
                    case.expect)
    if pick(["fine", "bad flag"]) == "bad flag":
        return Case(case.area, case.setup, case.call[:-1] + f", enforce_sorted={pick(NOT_A_FLAG)})",
                    "refuse")
    return case


def _packed_by_hand(pick: Pick) -> Case:
    spoiled = pick(["none", "data", "batch_sizes", "indices"])
    data = pick(["tr.Tensor(np.ones((5, 1)))"] if spoiled != "data" else
                ["tr.Tensor(np.ones((4, 1)))", "?np.ones((5, 1))", "'d'", "None",
                 "tr.Tensor(np.ones((6, 1)))"])
    sizes = pick(["np.array([2, 2, 1])"] if spoiled != "batch_sizes" else
                 ["np.array([1, 2, 2])", "np.array([2, 0, 1, 2])", "np.array([2, 2, 2])",
                  "?np.array([2.0, 2.0, 1.0])", "?[2, 2, 1]", "np.array([])", "None",
                  "np.array([-2, 2, 5])"])
    indices = pick(["None, None", "np.array([1, 0]), np.array([1, 0])",
                    "np.array([0, 1]), np.array([0, 1])"] if spoiled != "indices" else
                   ["np.array([0, 0]), np.array([0, 0])", "?np.array([1, 0]), None",
                    "np.array([0, 2]), np.array([0, 2])", "np.array([1, 0]), np.array([0, 1])",
                    "?np.array([0.0, 1.0]), np.array([0, 1])", "np.array([0]), np.array([0])"])
    expect = "ok" if spoiled == "none" else "refuse"
    for part in (data, sizes, indices):
        if part.startswith("?"):
            expect = "either"
    model, use = pick([("", "nn.utils.rnn.pad_packed_sequence(ps)"),
                       ("m = nn.GRU(1, 2); ", "m(ps)"),
                       ("m = nn.LSTM(1, 2, bidirectional=True); ", "m(ps)")])
    setup = f"{model}ps = PackedSequence({data}, {sizes}, {indices})".replace("?", "")
    return Case("packing", setup, use, expect)


def _padding(pick: Pick) -> Case:
    fn = pick(["pad_packed_sequence", "pad_sequence", "pack_sequence"])
    if fn == "pad_packed_sequence":
        setup = f"{SEQS}; ps = nn.utils.rnn.pack_padded_sequence(x, [3, 2])"
        args = [Arg("sequence", ("ps",), ("x", "None", "(1, 2)"), positional=True),
                Arg("batch_first", FLAG, NOT_A_FLAG),
                Arg("padding_value", ("", "0.0", "-1.0"), ("'x'", "None", "[1.0]")),
                Arg("total_length", ("", "None", "3", "5"), ("2", "2.5", "'3'", "-1", "True"))]
        return call_of(pick, "packing", setup, "nn.utils.rnn.pad_packed_sequence", args)
    if fn == "pad_sequence":
        args = [Arg("sequences", ("[np.ones((3, 2)), np.ones((1, 2))]", "[tr.Tensor(np.ones(2))]"),
                    ("[]", "[np.ones((3, 2)), np.ones((1, 3))]", "None", "[np.ones(())]",
                     "['ab']", "3"), positional=True),
                Arg("batch_first", FLAG, NOT_A_FLAG),
                Arg("padding_value", ("", "0.0"), ("'x'", "None"))]
        return call_of(pick, "packing", "", "nn.utils.rnn.pad_sequence", args)
    args = [Arg("sequences", ("[np.ones((3, 2)), np.ones((1, 2))]",),
                ("[np.ones((1, 2)), np.ones((3, 2))]", "[]", "[np.ones((0, 2))]", "None",
                 "[np.ones((3, 2)), np.ones((1, 3))]"), positional=True),
            Arg("enforce_sorted", ("", "True"), NOT_A_FLAG)]
    return call_of(pick, "packing", "", "nn.utils.rnn.pack_sequence", args)


SCAN_SETUP = ("x = tr.Tensor(np.ones((4, 2, 3)), requires_grad=True); "
              "h = tr.Tensor(np.zeros((2, 3))); c = tr.Tensor(np.zeros((2, 3))); "
              "w = tr.Tensor(np.full(3, 0.5), requires_grad=True); "
              "one = lambda x, h: (x + h * w).tanh(); two = lambda x, h, c: (x + h * w, c * w)")


def _scan(pick: Pick) -> Case:
    step = pick(["one", "two"])
    states = "[h]" if step == "one" else "[h, c]"
    wrong = "[h, c]" if step == "one" else "[h]"
    args = [Arg("step", (step,), ("None", "3", "lambda x: x", "lambda x, h, c=None: 'x'"),
                positional=True),
            Arg("sequences", ("[x]", "(x,)", "[np.ones((4, 2, 3))]"),
                ("[]", "None", "x", "[x, tr.Tensor(np.ones((5, 2, 3)))]", "[tr.Tensor(1.0)]",
                 "[tr.Tensor(np.ones((0, 2, 3)))]", "['abc']"), positional=True),
            Arg("states", (states, f"tuple({states})"),
                ("None", "[]", wrong, "[tr.Tensor(np.zeros((2, 4)))] * "
                 + ("1" if step == "one" else "2"), "['a']", "h"), positional=True),
            Arg("fixed", ("", "[w]", "()", "{'w': w}"),
                ("[1.0]", "[np.ones(3)]", "None", "w", "{'w': 1.0}")),
            Arg("reverse", FLAG, NOT_A_FLAG)]
    return call_of(pick, "scan", SCAN_SETUP, "replay.scan", args)


def _gradcheck(pick: Pick) -> Case:
    fn = pick(["tr.gradcheck", "tr.numerical_grad"])
    args = [Arg("fn", ("lambda a: (a * a).sum()", "lambda a: a.tanh()"),
                ("None", "lambda a: 3.0", "lambda a: a.numpy()")
                # an input the output does not reach fails the check (a graph that reaches
                # it with a zero gradient, as a.sum() * 0, is a valid check that passes)
                + (("lambda a: a.detach() * 0",) if fn == "tr.gradcheck" else ()),
                positional=True),
            # (numerical_grad of nothing to differentiate is [], by its contract)
            Arg("inputs", ("[t]", "(t,)"), ("[np.ones(2)]", "[t, 'a']", "None", "?t", "3")
                + (("[tr.Tensor([1.0])]", "[]") if fn == "tr.gradcheck" else ()),
                positional=True),
            Arg("eps", ("", "1e-6", "1e-4"), ("0", "-1e-6", "nan", "'x'", "None", "inf"))]
    if fn == "tr.gradcheck":
        args += [Arg("atol", ("", "1e-5"), ("-1.0", "nan", "'x'")),
                 Arg("rtol", ("", "1e-3"), ("-1.0", "nan", "'x'")),
                 # (False would turn a failed check into a returned False, not a refusal)
                 Arg("raise_exception", ("", "True"), NOT_A_FLAG)]
    return call_of(pick, "gradcheck", "t = tr.Tensor(np.array([0.3, -0.2]), requires_grad=True)",
                   fn, args)


AREAS: dict[str, tuple[Callable[[Pick], Case], ...]] = {
    "constructors": (_recurrent_constructor, _cell_constructor, _layer_constructor),
    "optimizers": (_optimizer_constructor, _clipping),
    "forward": (_forward_recurrent, _forward_other, _module_methods),
    "functional": (_functional_dims, _functional_shapes, _functional_losses),
    "tensors": (_tensor_construction, _tensor_methods),
    "state dicts": (_optimizer_load, _module_load),
    "files": (_save, _load),
    "packing": (_pack, _packed_by_hand, _padding),
    "scan": (_scan,),
    "gradcheck": (_gradcheck,),
}


def draw(pick: Pick, area: str | None = None) -> Case:
    """One case of ``area`` (or of any area)."""
    drawers = AREAS[area] if area else tuple(d for ds in AREAS.values() for d in ds)
    return pick(drawers)(pick)


# --------------------------------------------------------------------------- the census


def census(n: int, seed: int, area: str | None = None) -> list[tuple[Case, Outcome]]:
    chooser = random.Random(seed)
    tr.manual_seed(seed)
    _CANARY.append(_canary_reference())
    return [(case, run_case(case)) for case in
            (draw(chooser.choice, area) for _ in range(n))]


COLUMNS = ("valid-ok", "valid-refused", "invalid-refused", "invalid-leaked", "invalid-accepted",
           "refused-but-changed", "hang", "ambiguous-ok", "ambiguous-refused")


def table(results: list[tuple[Case, Outcome]]) -> str:
    by_area: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for case, outcome in results:
        by_area[case.area][outcome.kind] += 1
        by_area["ALL"][outcome.kind] += 1
    short = ("v-ok", "v-refused", "i-refused", "i-leaked", "i-accepted", "i-changed", "hang",
             "amb-ok", "amb-ref")
    lines = [f"{'area':<13}{'calls':>6}" + "".join(f"{s:>11}" for s in short)
             + f"{'bad/invalid':>13}"]
    for name, counts in [*sorted((k, v) for k, v in by_area.items() if k != "ALL"),
                         ("ALL", by_area["ALL"])]:
        total = sum(counts.values())
        invalid = sum(counts[k] for k in COLUMNS[2:6])
        bad = sum(counts[k] for k in ("invalid-leaked", "invalid-accepted",
                                      "refused-but-changed"))
        cells = "".join(f"{counts[k]:>5} {100 * counts[k] / total:>4.0f}%" for k in COLUMNS)
        ratio = f"{100 * bad / invalid:.1f}%" if invalid else "-"
        lines.append(f"{name:<13}{total:>6}{cells}{ratio:>13}")
    return "\n".join(lines)


def examples(results: list[tuple[Case, Outcome]], k: int) -> str:
    lines = []
    for kind in BAD_KINDS:
        found = [(c, o) for c, o in results if o.kind == kind]
        if not found:
            continue
        lines.append(f"\n{kind}: {len(found)} call(s); up to {k} distinct examples")
        seen: set[str] = set()
        for case, outcome in found:
            if case.reproducer in seen:
                continue
            seen.add(case.reproducer)
            lines.append(f"  {case.reproducer}\n      -> {outcome.detail}")
            if len(seen) == k:
                break
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="number of calls (default 2000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--examples", type=int, default=5, help="examples per bad class")
    parser.add_argument("--area", choices=sorted(AREAS), default=None)
    args = parser.parse_args(argv)
    results = census(args.n, args.seed, args.area)
    print(f"{args.n} calls, seed {args.seed}; reproducers run after:\n  {PRELUDE}\n")
    print(table(results))
    print(examples(results, args.examples))
    return 1 if any(o.kind in BAD_KINDS for _, o in results) else 0


if __name__ == "__main__":
    sys.exit(main())
