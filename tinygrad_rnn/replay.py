"""A layer's step recorded once, then run over every time step as one graph node.

A recurrent layer calls the same step function at every time step, on arrays
of the same shapes. Op by op, every step costs the engine a Tensor, a graph
node and its bookkeeping for each op, forward and backward: at small sizes
more than the arithmetic. So a layer records its step once:

``record(call, inputs)`` runs ``call()`` as usual and writes down every op it
called: the Function, where each of its inputs came from (one of ``inputs``,
an earlier op's output, or a constant) and its keyword parameters. That list
is a ``Program``. It generates the step's forward and backward as
straight-line Python, since a loop interpreting the list would spend what
replaying saves: each op's own ``forward`` in turn, then each op's own
``backward`` in reverse, adding the gradients of a value used twice in the
order the engine would. ``program.source(checks=False)`` prints them as one
would write them by hand, values named after the step's arguments and ops
(``h``, ``c``, ``i_gate``, ``tanh_c_new``; ``dh`` is h's gradient):
backpropagation through one step, as code. What runs also checks every
gradient's shape and dtype, as the engine does (``source()``).

``program.scan(sequences, states, fixed)`` runs the program over time as *one*
node, a ``Scan`` (``scan.py``), to the same bits as op by op. Nothing is
differentiated by hand: the derivatives are the ops', the routing is the
recorded graph's (torch.jit.trace and jax.lax.scan do the same).

A step can be replayed only if it reaches its inputs through ops alone, calls
the same ops for inputs of the same shapes, and reads no tensor but
``inputs``: a number or array it hands an op, or a tensor it makes (a dropout
mask), is taken as a constant, the same at every step. The sequence
layers (``nn.Recurrent``, RNN, LSTM, GRU) scan their cells' steps, and run op by op
inside ``disabled()`` and while ``trace`` records gates. A packed batch, whose
state shrinks as its sequences end, is scanned with a program per batch size
(``scan_packed``). ``scan(step, sequences, states, fixed)`` does all of this for
a step of your own.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import keyword
import math
import os
import re
import threading
import types
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast, overload

import numpy as np

from . import autograd, rng, speedups
from .arguments import describe, flag
from .scan import Batches, Scan, StepContext, plus, run_scan
from .speedups import OuterSum
from .tensor import Tensor, no_grad, stack

if TYPE_CHECKING:
    from typing_extensions import Self

    from .tensor import TensorLike

_F = TypeVar("_F", bound=Callable[..., Any])

# --------------------------------------------------------------------------- on and off

class _Replaying(threading.local):
    enabled = True  # False inside disabled(); a new thread starts with True (class default)


_replaying = _Replaying()


def is_enabled() -> bool:
    """Do recurrent layers (and ``scan``) run as one Scan node, in this thread? The one
    place that decides: False inside ``disabled()`` (in this thread only), inside
    ``detect_anomaly()`` (which must see every op), and with the engine's plain doors
    (``TINYGRAD_RNN_PLAIN=1``, see speedups.py), where everything runs op by op."""
    return (_replaying.enabled and not autograd.is_anomaly_enabled()
            and speedups.installed())


class disabled:
    """Context manager (and decorator) in which this thread's recurrent layers run op by op.

    By default ``nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` run each layer and direction
    as one ``Scan`` node. Inside this block they make one graph node per op of
    every step instead, as their cells do: the graph to draw or narrate
    (``viz.to_dot``, ``viz.explain_backward``) op by op. Outputs and gradients
    are the same, bit for bit (the tests check it).

    >>> with replay.disabled():
    ...     out, h = rnn(x)      # tanh and addmm nodes at every step
    """

    @overload
    def __new__(cls, fn: None = None) -> Self: ...
    @overload  # (mypy wants __new__ to make an instance; the decorator form returns fn)
    def __new__(cls, fn: _F) -> _F: ...  # type: ignore[misc]

    def __new__(cls, fn: Callable[..., Any] | None = None) -> Any:
        self = super().__new__(cls)
        return self if fn is None else self(fn)  # bare @disabled, as no_grad allows

    def __enter__(self) -> None:
        self._previous, _replaying.enabled = _replaying.enabled, False

    def __exit__(self, *exc_info: object) -> None:
        _replaying.enabled = self._previous

    def __call__(self, fn: _F) -> _F:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with disabled():
                return fn(*args, **kwargs)

        return cast(_F, functools.wraps(fn)(wrapper))


# --------------------------------------------------------------------------- recording

class ScanFallbackWarning(UserWarning):
    """``replay.scan`` runs a step op by op instead of as one Scan node; the message says
    why (a tensor the step reads that is not in ``fixed``, by name and shape, ...). Once
    per step and shapes. The results are the same, only slower: silence it with
    ``warnings.filterwarnings("ignore", category=replay.ScanFallbackWarning)``."""


class Unscannable:
    """Why a recorded step cannot be replayed: falsy, where a Program would be.
    ``reason`` is a sentence (None: inside another recording, which notes the ops
    itself); ``tensor`` the tensor from outside the step it read, when that is why."""

    __slots__ = ("reason", "tensor")

    def __init__(self, reason: str | None, tensor: Tensor | None = None) -> None:
        self.reason, self.tensor = reason, tensor

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"Unscannable({self.reason!r})"


class Op:
    """One recorded op call: ``fn``'s forward read slots ``inputs`` and wrote ``outputs``."""

    __slots__ = ("fn", "inputs", "params", "outputs", "tuple_output")

    def __init__(self, fn: type[autograd.Function], inputs: tuple[int, ...],
                 params: dict[str, Any], outputs: tuple[int, ...], tuple_output: bool) -> None:
        self.fn, self.inputs, self.params = fn, inputs, params
        self.outputs, self.tuple_output = outputs, tuple_output


def signature(values: Iterable[Any]) -> tuple:
    """The (shape, dtype) of each tensor or array, None for None: what a recorded step's
    inputs must keep for it to be replayed."""
    return tuple([None if v is None else (v.shape, v.dtype) for v in values])


def record(call: Callable[[], Any], inputs: Sequence[Tensor | None], name: str = "Step", *,
           names: Sequence[str | None] = (),
           result_names: Sequence[str | None] = ()) -> tuple[Any, Program | None]:
    """``(call(), Program or None)``: run the step ``call`` and write its ops down.

    ``inputs`` lists the tensors the step may read (None entries are allowed and
    stay unused); its result must be a tuple of tensors its ops made. The Program
    is None when the step cannot be replayed: it read a tensor that requires grad
    or was computed outside it but is not among ``inputs``, or it returned
    something its ops did not make. ``names`` (for the inputs) and ``result_names``
    name the values in the generated code, before the tensors' own ``.name``;
    the rest are named after the ops that made them.
    """
    result, program = _recorded(call, inputs, name, names, result_names)
    return result, program if isinstance(program, Program) else None


def _recorded(call: Callable[[], Any], inputs: Sequence[Tensor | None], name: str,
              names: Sequence[str | None] = (), result_names: Sequence[str | None] = (),
              where: str = "replay.record",
              varying: int | None = None) -> tuple[Any, Program | Unscannable]:
    """``record``, with the reason when there is no Program. A random draw while the
    step runs is refused (RuntimeError): the recording would replay it at every step.
    ``varying``: how many of the first inputs change from step to step (all when None;
    the rest are fixed, the same at every step)."""
    refusal = (f"{where}: the step draws random numbers (dropout?) while it is recorded, "
               f"and a recording would replay the same draw at every step; draw the mask "
               f"outside and pass it as a sequence (or run op by op, in replay.disabled())")
    with _noting_ops() as log, rng.refusing_draws(refusal):
        result = call()
    if log is None:  # inside another recording, which writes these ops down
        return result, Unscannable(None)
    return result, Program.build(inputs, log, result, name, names, result_names, varying)


@contextlib.contextmanager
def _noting_ops() -> Iterator[list | None]:
    """The engine's one hook for replay: yields the list into which ``Function.apply``
    writes every op call of the block, as (fn, input tensors, params, result); None
    inside another recording (the outer one notes the ops)."""
    if autograd.noting_ops.active():
        yield None
        return
    with autograd.noting_ops() as log:
        yield log


# --------------------------------------------------------------------------- Program

class Program:
    """The ops of one step, their generated forward and backward, and ``scan``.

    Slots number every value of the step: first the inputs, then constants and
    op outputs in the order they were made. ``metas[s]`` is slot s's (shape, dtype)
    and ``names[s]`` its name in the generated code.
    """

    def __init__(self, name: str, num_inputs: int, ops: list, outputs: tuple, metas: list,
                 constants: dict, labels: list | None = None) -> None:
        self.name, self.num_inputs, self.ops = name, num_inputs, ops
        self.outputs, self.metas, self.constants = outputs, metas, constants
        # the inputs some op reads, which the generated forward takes, in this order
        self.used = tuple(sorted({s for op in ops for s in op.inputs if s < num_inputs}))
        self._names = _Names.of_program(self, labels or [None] * len(metas))
        self.names = self._names.values
        self.backwards: dict = {}  # (needs_input_grad, seeded) -> generated backward
        # which inputs carry tangents -> the step with its tangents' rules (scan_jvp.py)
        self.jvp_programs: dict = {}
        self.forward = self._compile(self.forward_source(), "forward")
        # (inference: no graph will be recorded, so no Context per op is kept)
        self.forward_without_graph = self._compile(self.forward_source(graph=False), "forward")
        op_names = ", ".join(op.fn.__name__.lower() for op in ops)
        # the class of this step's Scan nodes, ``<name>Scan``: what a graph shows
        self.node_class: type[Scan] = type(f"{name}Scan", (Scan,), {"program": self, "__doc__": (
            f"outputs, state_T = the {name} step ({op_names}) run over every time step, "
            f"state_t = step(x_t, state_t-1).   d(inputs) = the step's ops' own backwards, "
            f"last step first, each step's state gradient carried to the step before "
            f"(backpropagation through time; see scan.py).")})

    @classmethod
    def build(cls, inputs: Sequence[Tensor | None], log: list, result: Any, name: str = "Step",
              names: Sequence[str | None] = (), result_names: Sequence[str | None] = (),
              varying: int | None = None) -> Program | Unscannable:
        """The Program of the ops in ``log`` (``record``), or why it cannot be replayed
        (``varying``: as ``_recorded``'s)."""
        metas = list(signature(inputs))
        labels = [given or getattr(t, "name", None) for given, t in _paired(names, inputs)]
        # id(tensor) -> slot (the log holds every tensor: ids stay unique)
        slot_of: dict[int, int] = {}
        for i, t in enumerate(inputs):
            if t is not None:
                slot_of.setdefault(id(t), i)
        if getattr(log, "frozen", None) is not None:  # (an OpLog knows: see note_frozen)
            return Unscannable(_FROZEN)
        constants, ops = {}, []
        # the arrays of the values that change from step to step: a constant made from
        # one of them (Tensor(h.data)) would be frozen at this step's numbers
        stepping = [t.data for t in inputs[:varying] if t is not None]
        for fn, op_inputs, params, out in log:
            slots = []
            for t in op_inputs:
                s = slot_of.get(id(t))
                if s is None:
                    if t._node is not None or t._requires_grad:  # from outside the step
                        return Unscannable(_outsider(t), t)
                    if any(np.may_share_memory(t.data, a) for a in stepping):
                        return Unscannable(_FROZEN)
                    s = slot_of[id(t)] = len(metas)
                    metas.append((t.shape, t.dtype))
                    labels.append(t.name)
                    constants[s] = t.data
                slots.append(s)
            outs = out if type(out) is tuple else (out,)
            for t in outs:
                stepping.append(t.data)
                slot_of[id(t)] = len(metas)
                metas.append((t.shape, t.dtype))
                labels.append(t.name)
            ops.append(Op(fn, tuple(slots), params,
                          tuple(slot_of[id(t)] for t in outs), type(out) is tuple))
        made = {s for op in ops for s in op.outputs}
        if type(result) is not tuple or not result or not all(
                isinstance(t, Tensor) and slot_of.get(id(t)) in made for t in result):
            return Unscannable("it returns something its ops did not make (a state "
                               "unchanged, or a tensor made outside the step)")
        outputs = tuple(slot_of[id(t)] for t in result)
        for s, (given, t) in zip(outputs, _paired(result_names, result)):
            labels[s] = t.name or given or labels[s]
        return cls(name, len(inputs), ops, outputs, metas, constants, labels)

    # ----------------------------------------------------------------- code generation
    def forward_source(self, graph: bool = True) -> str:
        """The step's forward: each op's forward, one Context each, which ``ctx`` keeps
        for backward; or, without a ``graph`` to record, ``ctx`` lent to every op."""
        name = self.names
        lines = [f"def forward(ctx, {', '.join(name[s] for s in self.used)}):"]
        for k, op in enumerate(self.ops):
            context = self._names.contexts[k] if graph else "ctx"
            args = ", ".join([context, *(name[s] for s in op.inputs), *self._names.params[k]])
            outs = ", ".join(name[s] for s in op.outputs) + (
                "," if op.tuple_output and len(op.outputs) == 1 else "")
            if graph:
                lines.append(f"    {context} = new(Context)")
            lines.append(f"    {outs} = {self._names.ops[op.fn]}.forward({args})")
        if graph:
            lines.append(_wrapped("    ctx.saved_tensors = (", self._names.contexts, ")"))
        lines.append(_returned([name[s] for s in self.outputs]))
        return "\n".join(lines) + "\n"

    def backward_source(self, needs: tuple, seeded: int | None = None,
                        checks: bool = True) -> str:
        """The step's backward for inputs ``needs`` (the node's needs_input_grad): each
        op's backward in reverse, skipping ops no gradient reaches or needs. The gradient
        of input slot ``seeded`` starts from ``seed`` (a gradient that reached that
        input's value from elsewhere first, as the engine adds them), when not None.
        Without ``checks``, as one would write it by hand: no shape and dtype checks, no
        ``needs_input_grad`` for the ops (the gradients not needed are ``_``)."""
        return _BackwardWriter(self, needs, seeded, checks).source()

    def source(self, needs: tuple | None = None, seeded: int | None = None,
               checks: bool = True) -> str:
        """The Python that replays the step: forward, and backward for ``needs`` (every
        input wanting a gradient when not given); with ``checks`` as it runs, without as
        a student would write it (``backward_source``)."""
        return self.forward_source() + "\n" + self.backward_source(
            needs if needs is not None else (True,) * len(self.used), seeded, checks)

    def _compile(self, source: str, name: str) -> Callable[..., Any]:
        names = self._names.namespace(self)
        exec(compile(source, f"<replayed {self.name}>", "exec"), names)
        return names[name]

    def backward_for(self, needs: tuple, seeded: int | None = None) -> Callable[..., Any]:
        """The generated backward for ``needs`` and ``seeded``, compiled at its first use."""
        backward = self.backwards.get((needs, seeded))
        if backward is None:
            backward = self.backwards[needs, seeded] = self._compile(
                self.backward_source(needs, seeded), "backward")
        return backward

    def run_ops(self, inputs: Sequence[Tensor], constant: Callable[[Any], Tensor]) -> tuple:
        """The step op by op on tensors: each recorded op's ``apply`` (so that it is
        recorded, if grad mode is on) on ``inputs`` (one per ``used`` input, as the
        generated forward takes them) and the recorded constants (made tensors by
        ``constant``). Returns the step's outputs, tensors. (A Scan's differentiable
        backward re-expands its steps so, under create_graph.)"""
        values: dict[int, Any] = dict(zip(self.used, inputs))
        for s, array in self.constants.items():
            values[s] = constant(array)
        for op in self.ops:
            out = op.fn.apply(*[values[s] for s in op.inputs], **op.params)
            for s, t in zip(op.outputs, out if op.tuple_output else (out,)):
                values[s] = t
        return tuple([values[s] for s in self.outputs])

    # ----------------------------------------------------------------- scanning
    def scan(self, sequences: Sequence[Tensor], states: Sequence[Tensor],
             fixed: Sequence[Tensor], reverse: bool = False) -> tuple[Tensor, tuple] | None:
        """The step run over time as one node (``Scan``): at step t it reads
        ``sequences[k][t]`` (along axis 0), the state (``states`` at the first step, its
        own result after) and ``fixed`` (the same at every step), in the order the
        inputs were recorded. Returns (every step's first state output, stacked along
        axis 0; the last state, a tuple), or None when the step cannot be scanned so:
        it must read every sequence and state input and return states of their shapes,
        the inputs must have the shapes and dtypes of the recorded step's, and the
        sequences one length, at least 1.
        """
        if (not sequences or len({len(s) for s in sequences}) != 1 or not len(sequences[0])
                or not self.can_scan(len(sequences), len(states))
                or self.signature(sequences, states, fixed) != self.recorded_signature):
            return None  # (no sequence, sequences of different or no length, ...)
        return self.scan_unchecked(sequences, states, fixed, reverse)

    @staticmethod
    def signature(sequences: Sequence[Tensor], states: Sequence[Tensor],
                  fixed: Sequence[Tensor]) -> tuple:
        """The (shape, dtype) of one step's inputs (None for a None input)."""
        return (tuple([(s.data.shape[1:], s.data.dtype) for s in sequences])
                + signature(states) + signature(fixed))

    @property
    def recorded_signature(self) -> tuple:
        return tuple(self.metas[:self.num_inputs])

    def can_scan(self, n_seq: int, n_state: int) -> bool:
        """Does the step read all its first ``n_seq + n_state`` inputs, and return
        ``n_state`` states of the shapes and dtypes of the inputs after the sequences?"""
        varying = n_seq + n_state
        return (self.used[:varying] == tuple(range(varying)) and len(self.outputs) == n_state
                and [self.metas[s] for s in self.outputs] == self.metas[n_seq:varying])

    def why_not_scannable(self, n_seq: int, n_state: int) -> str | None:
        """Why ``can_scan(n_seq, n_state)`` is False, as a sentence; None when it is True."""
        varying = n_seq + n_state
        unread = [self.names[k] for k in range(varying) if k not in self.used]
        if unread:
            return (f"it does not read its input(s) {', '.join(map(str, unread))} (or reads "
                    f"two as one object), and a scan feeds every input")
        for k, s in enumerate(self.outputs):
            given, got = self.metas[n_seq + k], self.metas[s]
            if got != given:
                return (f"it returns state {k} as {_meta(got)} but was given it as "
                        f"{_meta(given)}; a scan carries a state unchanged in shape and dtype")
        return None

    def scan_unchecked(self, sequences: Sequence[Tensor], states: Sequence[Tensor],
                       fixed: Sequence[Tensor], reverse: bool = False) -> tuple[Tensor, tuple]:
        """``scan`` for inputs known to fit, as a layer that looked this program up by
        their ``signature`` knows them to: the checks cost a microsecond or two."""
        batches = Batches.of(len(sequences[0]), None, reverse)
        return run_scan(batches.per_step([self]), batches, sequences, states, fixed)


class _BackwardWriter:
    """Writes a step's backward (``Program.backward_source``), one op at a time, last op
    first. Each op's backward gives its inputs' gradients: the first to reach a value
    is its gradient (``dh``), a later one is added to it (``dh = dh + dh_2``), in the
    order the engine adds them."""

    def __init__(self, program: Program, needs: tuple, seeded: int | None,
                 checks: bool) -> None:
        self.program, self.seeded, self.checks = program, seeded, checks
        self.names = program._names.copy()  # for the gradients' second shares
        self.requires = dict(zip(program.used, needs))  # slot -> does its value need a grad?
        for op in program.ops:  # (no gradient flows through a comparison's boolean output)
            wanted = op.fn.differentiable and any(self.requires.get(s, False) for s in op.inputs)
            self.requires.update((s, wanted) for s in op.outputs)
        # the slots whose gradient is assigned: the outputs', given
        self.has_grad = {s for s in program.outputs if self.requires[s]}
        self.lines: list[str] = []

    def source(self) -> str:
        p, d = self.program, self.grad
        contexts = p._names.contexts
        self.lines += ["def backward(ctx, grad, seed=None):",
                       _wrapped("    (", contexts, ") = ctx.saved_tensors"),
                       f"    {', '.join(d(s) for s in p.outputs)} = grad"]
        for k in reversed(range(len(p.ops))):
            self.op(k)
        returned = [d(s) if s in self.has_grad else "seed" if s == self.seeded else "None"
                    for s in p.used]
        self.lines.append(_returned(returned))
        return "\n".join(self.lines) + "\n"

    def grad(self, s: int) -> str:
        return f"d{self.program.names[s]}"

    def op(self, k: int) -> None:
        """Op k's backward, if a gradient reaches it and one of its inputs needs one."""
        p, names = self.program, self.program._names
        op = p.ops[k]
        needs = tuple(self.requires.get(s, False) for s in op.inputs)
        if not self.has_grad.intersection(op.outputs) or True not in needs:
            return
        if op.tuple_output:  # an output nobody used gets zeros, as the engine gives it
            upstream = "(" + _tuple([self.grad(s) if s in self.has_grad else
                                     f"zeros({names.shape(s)}, {names.dtype(s)})"
                                     for s in op.outputs]) + ")"
        else:
            upstream = self.grad(op.outputs[0])
        # where each needed gradient goes: the value's gradient, or a second share of it
        targets: list[str] = []
        for s, need in zip(op.inputs, needs):
            first = need and s not in self.has_grad and s not in op.inputs[:len(targets)]
            targets.append("_" if not need else self.grad(s) if first else
                           self.names.claim(self.grad(s)))  # (taken: dh_2, dh_3, ...)
        context = names.contexts[k]
        if self.checks:
            self.lines.append(f"    {context}.needs_input_grad = {needs!r}")
        self.lines.append(f"    {', '.join(targets)} = {names.ops[op.fn]}.backward({context}, "
                          f"{upstream})")
        for s, target in zip(op.inputs, targets):
            if target != "_":
                self.receive(s, target, names.ops[op.fn])

    def receive(self, s: int, g: str, op_name: str) -> None:
        """Gradient ``g`` of slot s from op ``op_name``: checked, then kept or added."""
        names, d = self.program._names, self.grad(s)
        shape, dtype = names.shape(s), names.dtype(s)
        if self.checks and s < self.program.num_inputs:  # an input's may stay an OuterSum
            self.lines.append(f"    if (type({g}) is not ndarray and type({g}) is not OuterSum) "
                              f"or {g}.shape != {shape} or {g}.dtype is not {dtype}: "
                              f"{g} = fit({g}, {shape}, {dtype}, {op_name})")
        elif self.checks:  # a value inside the step: the next op's backward reads an array
            self.lines.append(f"    if type({g}) is not ndarray or {g}.shape != {shape} or "
                              f"{g}.dtype is not {dtype}: {g} = fit_value({g}, {shape}, {dtype}, "
                              f"{op_name})")
        if s not in self.has_grad:
            if s == self.seeded:
                self.lines.append(f"    {d} = {self.add('seed', d, s)}")
            self.has_grad.add(s)
        else:
            self.lines.append(f"    {d} = {self.add(d, g, s)}")

    def add(self, a: str, b: str, s: int) -> str:
        """a + b, two gradients of slot s: ``plus`` for an input's, which may be None or an
        OuterSum (not to the reader, who sees a + b)."""
        return f"plus({a}, {b})" if self.checks and s < self.program.num_inputs else f"{a} + {b}"


# --------------------------------------------------------------------------- names

class _Names:
    """The names of the generated code, unique and readable.

    A value is named after what the recording knew of it: an input after the
    step's argument (``h``), an op's output after its tensor's ``.name`` if set
    (``i_gate``), else after its op, and the op's input if that one has a name of
    its own (``tanh_c_new``; ``addmm``, ``split_0``). From a value's name ``v``
    come ``dv``, its gradient, ``ctx_v``, the Context of the op that made it, and
    ``v_shape``, ``v_dtype``, what it was recorded with. An op class is called by
    its own name (``Tanh.forward``, ``Tanh.backward``).
    """

    # the generated code's own names, and the builtins it uses
    RESERVED = {"ctx", "grad", "seed", "new", "Context", "ndarray", "OuterSum", "zeros", "fit",
                "fit_value", "plus", "type", "slice", "Ellipsis", "_"}
    DERIVED = ("d{}", "ctx_{}", "{}_shape", "{}_dtype")  # what each value's name brings along

    def __init__(self) -> None:
        self.taken = set(self.RESERVED)
        self.values: list[str | None] = []  # (None until of_program names the value)
        self.contexts: list[str] = []
        self.params: list[list[str]] = []
        self.ops: dict = {}  # op class -> the name it is called by
        self.objects: dict = {}  # name -> constant array or parameter dict, for the namespace

    def claim(self, base: str, derived: tuple = ()) -> str:
        """``base`` as a new Python name (``base_2``, ``base_3`` ... if taken), with its
        ``derived`` forms free too."""
        base = _identifier(base)
        name, k = base, 1
        while name in self.taken or any(f.format(name) in self.taken for f in derived):
            k += 1
            name = f"{base}_{k}"
        self.taken.add(name)
        self.taken.update(f.format(name) for f in derived)
        return name

    def copy(self) -> _Names:
        other = _Names()
        other.taken = set(self.taken)
        return other

    def shape(self, s: int) -> str:
        return f"{self.values[s]}_shape"

    def dtype(self, s: int) -> str:
        return f"{self.values[s]}_dtype"

    @classmethod
    def of_program(cls, program: Program, labels: list) -> _Names:
        """The names of ``program``'s values, contexts, ops and parameters; ``labels[s]``
        is what the recording knew of slot s's name (None: nothing)."""
        self = cls()
        for fn in dict.fromkeys(op.fn for op in program.ops):
            self.ops[fn] = self.claim(fn.__name__)
        self.values = [None] * len(labels)
        for s in range(program.num_inputs):
            self.values[s] = self.claim(labels[s] or "input", self.DERIVED)
        for op in program.ops:
            for s in op.inputs:
                if self.values[s] is None:  # a constant
                    self.values[s] = self.claim(labels[s] or "const", self.DERIVED)
                    self.objects[self.values[s]] = program.constants[s]
            self._name_outputs(op, labels)
            self.params.append(self._params(op))
        return self

    def _name_outputs(self, op: Op, labels: list) -> None:
        """Name op's outputs and its Context."""
        base = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", op.fn.__name__).lower()  # GetItem: get_item
        if op.tuple_output:
            for j, s in enumerate(op.outputs):
                self.values[s] = self.claim(labels[s] or f"{base}_{j}", self.DERIVED)
            self.contexts.append(self.claim(f"ctx_{base}"))
            return
        (s,) = op.outputs
        name = labels[s] or base
        if labels[s] is None and len(op.inputs) == 1 and labels[op.inputs[0]] is not None:
            name = f"{base}_{self.values[op.inputs[0]]}"  # of a value with a name of its own
        self.values[s] = self.claim(name, self.DERIVED)
        self.contexts.append(f"ctx_{self.values[s]}")

    def _params(self, op: Op) -> list:
        """op's keyword parameters as the generated call passes them: as literals
        (``axis=-1``), or from the namespace if any is not one."""
        literals = {key: _literal(value) for key, value in op.params.items()}
        if None not in literals.values():
            return [f"{key}={text}" for key, text in literals.items()]
        name = self.claim(f"{op.fn.__name__.lower()}_params")
        self.objects[name] = op.params
        return [f"**{name}"]

    def namespace(self, program: Program) -> dict:
        """The globals of the generated code: the ops, constants, parameters, every
        value's shape and dtype, and the helpers it calls."""
        names = {"Context": StepContext, "new": object.__new__, "ndarray": np.ndarray,
                 "OuterSum": OuterSum, "zeros": np.zeros, "fit": _fit,
                 "fit_value": _fit_value, "plus": plus, **self.objects}
        for fn, name in self.ops.items():
            names[name] = _OpCalls(fn)
        for s, meta in enumerate(program.metas):
            if meta is not None and self.values[s] is not None:
                names[self.shape(s)], names[self.dtype(s)] = meta
        return names


def _identifier(text: str) -> str:
    """``text`` as a Python identifier: other characters as ``_``, a keyword with ``_``."""
    name = re.sub(r"\W", "_", text) or "value"
    if name[0].isdigit():
        name = "v" + name
    return name + "_" if keyword.iskeyword(name) else name


def _literal(value: Any) -> str | None:
    """Python source for ``value`` if it is a plain literal (numbers, strings, None,
    slices, and tuples or lists of them), else None."""
    if value is None or value is Ellipsis or type(value) in (bool, int, str):
        return repr(value)
    if type(value) is float:
        return repr(value) if math.isfinite(value) else None
    if type(value) is slice:
        value = (value.start, value.stop, value.step)
        parts = [_literal(v) for v in value]
        # (the join sees no None: the test comes first)
        return None if None in parts else f"slice({', '.join(parts)})"  # type: ignore[arg-type]
    if type(value) in (tuple, list):
        parts = [_literal(v) for v in value]
        if None in parts:
            return None
        if type(value) is list:
            return f"[{', '.join(parts)}]"  # type: ignore[arg-type]  # (no None: checked above)
        return f"({_tuple(parts)})"
    return None


def _tuple(items: list) -> str:
    """``a, b``, the items of a tuple as code: ``a,`` for one item."""
    return f"{items[0]}," if len(items) == 1 else ", ".join(items)


def _returned(items: list) -> str:
    """``return a, b``, in parentheses over several lines if long."""
    line = f"    return {_tuple(items)}"
    return line if len(line) <= 92 else _wrapped("    return (", items, ")")


def _wrapped(head: str, items: list, tail: str, width: int = 92) -> str:
    """``head + "a, b, c" + tail``, broken after a comma where a line would pass ``width``
    (the items of a one-item tuple are ``a,``)."""
    lines, line = [], head
    for k, item in enumerate(items):
        last = k == len(items) - 1
        piece = item + ("," if not last or len(items) == 1 else "") + (tail if last else "")
        if k and len(line) + 1 + len(piece) > width:
            lines.append(line)
            line = " " * len(head) + piece
        else:
            line += (" " if k else "") + piece
    return "\n".join([*lines, line])


def _paired(given: Sequence[Any], values: Sequence[Any]) -> list:
    """(given[i], values[i]) for every value, given[i] None where ``given`` is shorter."""
    given = list(given) + [None] * (len(values) - len(given))
    return list(zip(given, values))


# --------------------------------------------------------------------------- your own step

def scan(step: Callable[..., Any], sequences: Iterable[TensorLike],
         states: Iterable[TensorLike], fixed: Iterable[Tensor] | dict[str, Tensor] = (),
         reverse: bool = False) -> tuple[Tensor, tuple]:
    """Run your own step over time as one node: ``step(*x_t, *state)`` returns the new
    state (a tuple of tensors, or one tensor for a state of one), where x_t are the
    ``sequences``' slices at step t (along axis 0) and ``fixed`` lists every other
    tensor it reads (a cell's parameters).

    ``fixed`` may be a dict (``dict(cell.named_parameters())``), whose keys then name
    the tensors in the generated code (``out.grad_fn.program.source()``), or a Module,
    for its parameters by name.

    Returns (the first state output of every step, stacked along axis 0; the last
    state, a tuple): what the op-by-op loop gives, to the bit, except that a leaf in
    ``fixed`` (a Parameter) gets the gradient of all steps as one matmul, where op by
    op each step's share is added to its ``.grad`` in turn (the same sum, rounded in
    another order). The step is recorded at the first call for inputs of these shapes
    and replayed after. Recordings are kept by the step's code and the very objects it
    closes over (its closure's values, default arguments, a bound method's object; a
    callable object by itself), so a lambda written inline, a new function at every
    call, is recorded once as long as it closes over the same objects. A step that
    reads a tensor requiring grad that is not in ``fixed``, makes a constant of a step
    value's numbers (``Tensor(h.data)``, which a recording would freeze at the first
    step's), or returns something its ops did not make, runs op by op, as everything
    does inside ``disabled()``, with a ``ScanFallbackWarning`` naming the reason (once
    per step and shapes). What the step computes in Python is recorded as it was at
    the first call: a number it reads from an object (a cell attribute) is a constant
    from then on; pass what changes as a tensor, in ``fixed``, or as a sequence. A
    random draw while the step is recorded (``F.dropout`` in training) is refused
    with a RuntimeError, since the recording would replay one mask at every step:
    draw the mask outside and pass it as a sequence (op by op, inside
    ``disabled()``, the step may draw).

    Refused before the step runs (TypeError): ``sequences`` and ``states`` that are
    not lists of tensors or arrays (a lone tensor too: write ``[h0]``), a ``fixed``
    that is not a list, dict or Module of tensors, a step that cannot be called with
    one argument per sequence then one per state; (ValueError) sequences of no common
    length along axis 0. After the first step: a step that does not return as many
    tensors as there are states (TypeError), or of other shapes (ValueError); these
    messages name the step.

    >>> out, (h, c) = replay.scan(lambda x, h, c: cell(x, (h, c)), [x], [h0, c0],
    ...                           fixed=list(cell.parameters()))
    """
    sequences = _tensors(_listed("sequences", sequences, "[x]"), "sequences")
    states = _tensors(_listed("states", states, "[h0]"), "states")
    fixed_names, fixed = _fixed_tensors(fixed)
    flag("replay.scan", "reverse", reverse)
    if not sequences or len({q.shape[:1] for q in sequences}) != 1 or not sequences[0].ndim \
            or not len(sequences[0]):
        raise ValueError(f"replay.scan: the sequences need one length along axis 0, at least "
                         f"1, got shapes {[q.shape for q in sequences]}")
    if not states:
        raise ValueError("replay.scan: states must hold at least one tensor, the initial state")
    _check_arity(step, len(sequences), len(states))
    program = is_enabled() and _program_of(step, sequences, states, fixed, fixed_names)
    if isinstance(program, Program):
        return program.scan_unchecked(sequences, states, fixed, reverse)
    pieces = [q.unbind(0) for q in sequences]  # op by op: the reference loop
    unchecked = [tuple(s.shape for s in states)]  # the shapes the first step must keep

    def advance(t: int, state: tuple) -> tuple:
        new = _new_state(step(*[p[t] for p in pieces], *state), len(state), step)
        if unchecked:  # once: a step given the same shapes again returns the same shapes
            _check_state_shapes(new, unchecked.pop(), step)
        return new

    outputs, states = Batches.of(len(sequences[0]), None, reverse).run(
        advance, states, None)  # type: ignore[arg-type]  # (padded: run never concatenates)
    return stack(outputs, dim=0), states


def _listed(name: str, values: Any, example: str) -> list:
    """``values`` (sequences or states) as a list: any iterable but a lone tensor or array."""
    if isinstance(values, (Tensor, np.ndarray)):
        raise TypeError(f"replay.scan: {name} must be a list or tuple of tensors; got a "
                        f"single {type(values).__name__}, write {example}")
    if isinstance(values, (str, bytes, dict)) or not isinstance(values, Iterable):
        raise TypeError(f"replay.scan: {name} must be a list or tuple of tensors, "
                        f"got {describe(values)}")
    return list(values)


def _tensors(values: Sequence[TensorLike], name: str = "values") -> tuple[Tensor, ...]:
    """``values`` as tensors (an array becomes a new Tensor); anything else is refused."""
    for k, v in enumerate(values):
        if not isinstance(v, (Tensor, np.ndarray)):
            raise TypeError(f"replay.scan: {name}[{k}] must be a Tensor or an array, "
                            f"got {describe(v)}")
    return tuple(v if isinstance(v, Tensor) else Tensor(v) for v in values)


def _fixed_tensors(fixed: Any) -> tuple[list[str], tuple[Tensor, ...]]:
    """(the names given by a dict or a Module's parameters, or []; the tensors) of scan's
    ``fixed``."""
    if callable(getattr(fixed, "named_parameters", None)) and not isinstance(fixed, dict):
        fixed = dict(fixed.named_parameters())  # a Module: its parameters, by name
    if isinstance(fixed, dict):
        for key in fixed:
            if not isinstance(key, str):
                raise TypeError(f"replay.scan: the keys of fixed must be str (they name the "
                                f"tensors in the generated code), got {describe(key)}")
        names, values = list(fixed), list(fixed.values())
    else:
        names, values = [], _listed("fixed", fixed, "[w]")
    for k, t in enumerate(values):
        if not isinstance(t, Tensor):
            where = f"fixed[{names[k]!r}]" if names else f"fixed[{k}]"
            raise TypeError(f"replay.scan: {where} must be a Tensor, one of the very objects "
                            f"the step reads (e.g. a cell's parameters), got "
                            f"{type(t).__name__}")
    return names, tuple(values)


def _meta(meta: tuple) -> str:
    shape, dtype = meta
    return f"shape {shape}, dtype {dtype}"


_FROZEN = ("it makes a constant of a step value's numbers (a Tensor of h.data, say), "
           "which a recording would freeze at the first step's; use the tensor itself, "
           "or h.detach() for its values without a gradient")


def _outsider(t: Tensor, label: str | None = None) -> str:
    """Why a tensor the step read (``label``, as the step reaches it) stops it from
    being replayed."""
    what = "requires grad" if t._requires_grad else "was computed outside the step"
    named = f" ({label})" if label else ""
    return (f"it reads a tensor of shape {t.shape}{named} that {what} but is neither a "
            f"sequence slice, a state nor in fixed")


def _step_name(step: Any) -> str:
    """``step`` as a message names it: ``rnn_step``, ``the lambda at cells.py:12``, or
    its class for an object (a Module)."""
    code = getattr(getattr(step, "__func__", step), "__code__", None)
    name = getattr(step, "__qualname__", None) or getattr(step, "__name__", None)
    if code is not None and (name is None or "<lambda>" in name):
        return f"the lambda at {os.path.basename(code.co_filename)}:{code.co_firstlineno}"
    return name if isinstance(name, str) else type(step).__name__


def _check_arity(step: Any, n_seq: int, n_states: int) -> None:
    """Refuse a step that cannot take ``n_seq + n_states`` positional arguments (a Module by
    its ``forward``), when Python can tell its signature."""
    if not callable(step):
        raise TypeError(f"replay.scan: step must be callable, got {describe(step)}")
    try:
        signature = inspect.signature(step)
        if any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values()) \
                and callable(getattr(step, "forward", None)):
            signature = inspect.signature(step.forward)  # a Module's __call__ takes *args
    except (TypeError, ValueError):  # a builtin or an object without a signature
        return
    count = n_seq + n_states
    try:
        signature.bind(*range(count))
    except TypeError:
        name = getattr(step, "__name__", type(step).__name__)
        raise TypeError(f"replay.scan: the step is called as step(*x_t, *state) with {count} "
                        f"positional argument(s), {n_seq} sequence slice(s) then {n_states} "
                        f"state tensor(s), but its signature is {name}{signature}") from None


def _check_state_shapes(state: tuple, shapes: tuple, step: Any) -> None:
    """The new state of the first step has the shapes of the initial state."""
    for k, (t, shape) in enumerate(zip(state, shapes)):
        if t.shape != shape:
            raise ValueError(f"replay.scan: the step returned state {k} of shape {t.shape}, "
                             f"but the initial state {k} has shape {shape}; a step must keep "
                             f"its state's shapes (step: {_step_name(step)})")


def _new_state(result: Any, count: int, step: Any) -> tuple:
    """What a step returned, as the state tuple (a lone tensor is a state of one)."""
    state = (result,) if isinstance(result, Tensor) else result
    if type(state) not in (tuple, list) or len(state) != count or not all(
            isinstance(t, Tensor) for t in state):
        got = (f"{len(state)} values" if type(state) in (tuple, list)
               else type(result).__name__)
        raise TypeError(f"replay.scan: the step must return the new state, {count} tensor(s) "
                        f"like the state it was given, got {got} (step: {_step_name(step)})")
    return tuple(state)


# --------------------------------------------------------------------------- recordings kept

class _Kept:
    """One object a step closes over, as a recording keeps it: weakly when it can be
    (a tensor, a module: the recording does not keep it alive), else itself (a number,
    a list). ``kept() is obj`` tells whether ``obj`` is that very object, even after
    its id was reused: the id alone could alias a dead object's recordings."""

    __slots__ = ("ref", "obj")

    def __init__(self, obj: Any, on_death: Callable[[Any], None]) -> None:
        try:
            self.ref: weakref.ref | None = weakref.ref(obj, on_death)
            self.obj = None
        except TypeError:  # not weakly referenceable: held, so its id cannot be reused
            self.ref, self.obj = None, obj

    def __call__(self) -> Any:
        return self.obj if self.ref is None else self.ref()


class _Recordings:
    """A step's recordings, ``programs[(number of sequences, signature)]``: a Program, or
    why the step cannot be replayed (an ``Unscannable``), under the objects the step
    closes over."""

    __slots__ = ("kept", "programs", "__weakref__")

    def __init__(self, key: tuple, referents: list) -> None:
        entry = weakref.ref(self)

        def forget(_: Any) -> None:  # an object kept weakly died: so do these recordings
            if _STEPS.get(key) is entry() is not None:  # (not a newer entry of that key)
                del _STEPS[key]

        self.kept = [_Kept(obj, forget) for obj in referents]
        self.programs: dict[tuple, Program | Unscannable] = {}

    def holds(self, referents: list) -> bool:
        return len(referents) == len(self.kept) and all(
            k() is obj for k, obj in zip(self.kept, referents))


_EMPTY_CELL = object()


def _identity(step: Any) -> tuple[Any, list]:
    """(the step's code, the objects it closes over): a function by its code, closure
    values and defaults; a bound method by its function's and its object; any other
    callable (a Module, a partial) by itself."""
    if isinstance(step, types.MethodType):
        code, referents = _identity(step.__func__)
        return code, [step.__self__, *referents]
    if isinstance(step, types.FunctionType):
        closure = []
        for cell in step.__closure__ or ():
            try:
                closure.append(cell.cell_contents)
            except ValueError:  # a variable not bound yet
                closure.append(_EMPTY_CELL)
        return step.__code__, [*closure, *(step.__defaults__ or ()),
                               *(step.__kwdefaults__ or {}).values()]
    return None, [step]


# (the step's code, the ids of what it closes over) -> its recordings; an entry is dropped
# when an object it keeps weakly dies, and checked by identity on every hit
_STEPS: dict[tuple, _Recordings] = {}
_MAX_STEPS = 1000  # (ever new steps, e.g. closures over ever new numbers: start again)


def _recordings(step: Any) -> _Recordings:
    """The recordings of ``step``, found by its code and what it closes over."""
    code, referents = _identity(step)
    key = (code, tuple([id(obj) for obj in referents]))
    entry = _STEPS.get(key)
    if entry is None or not entry.holds(referents):  # (new, or an id reused by another)
        if len(_STEPS) >= _MAX_STEPS:
            _STEPS.clear()
        entry = _STEPS[key] = _Recordings(key, referents)
    return entry


def _program_of(step: Callable[..., Any], sequences: Sequence[Tensor],
                states: Sequence[Tensor], fixed: Sequence[Tensor],
                fixed_names: Sequence[str | None] = ()) -> Program | Unscannable:
    """``step``'s Program for inputs of these shapes, recorded at the first call, or why
    it cannot be scanned (then said once, as a ``ScanFallbackWarning``)."""
    programs = _recordings(step).programs
    key = (len(sequences), Program.signature(sequences, states, fixed))
    program = programs.get(key)
    if program is None:
        name = getattr(step, "__name__", type(step).__name__)
        names = (_argument_names(step, len(sequences) + len(states))
                 + _fixed_names(step, fixed, fixed_names))
        program = recorded_step(
            step, [q.data[0] for q in sequences] + [s.data for s in states], len(states),
            fixed, name if name.isidentifier() else "Step", names, where="replay.scan")
        if isinstance(program, Program):
            programs[key] = program
        elif program.reason is not None:  # (None: inside another recording, not kept)
            programs[key] = program
            warnings.warn(f"replay.scan runs {_step_name(step)} op by op, not as one Scan "
                          f"node: {program.reason}", ScanFallbackWarning, stacklevel=3)
    return program


def _argument_names(step: Callable[..., Any], count: int) -> list:
    """The names of ``step``'s first ``count`` arguments (of its ``forward`` for a module
    called through ``*args``), None where it has none."""
    # (no forward: None, whose signature raises the TypeError caught below)
    candidates: tuple[Any, ...] = (step, getattr(step, "forward", None))
    for function in candidates:
        try:
            parameters = inspect.signature(function).parameters.values()
        except (TypeError, ValueError):  # not a function, or one without a signature
            continue
        names = [p.name for p in parameters
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if names:
            return (names + [None] * count)[:count]
    return [None] * count


def _fixed_names(step: Callable[..., Any], fixed: Sequence[Tensor],
                 given: Sequence[str | None] = ()) -> list:
    """The fixed inputs' names: ``given`` (the keys of a dict), a tensor's ``.name``, or a
    module step's name for its parameter (``w_f``, ``cell.weight``), else None."""
    named = getattr(step, "named_parameters", None)
    owned = {id(p): n for n, p in named()} if callable(named) else {}
    return [name or t.name or owned.get(id(t)) for name, t in _paired(given, fixed)]


def record_step(step: Callable[..., Any], step_inputs: Sequence[np.ndarray], n_states: int,
                fixed: Sequence[Tensor], name: str,
                names: Sequence[str | None] = ()) -> Program | Literal[False]:
    """The Program of ``step(*x_t, *state)``, recorded without a graph (only the ops
    matter) on stand-ins for one step's inputs ``step_inputs`` (arrays: its sequences'
    slices, then its ``n_states`` states; one tensor each, even where two are one
    object), or False when it cannot be scanned (``recorded_step`` says why).
    ``names`` name the step's inputs, then ``fixed``'s, in the generated code (None:
    ``x``, ``state``, ``w``); the new states are named after theirs (``h_new``). A
    random draw in the step is refused (RuntimeError)."""
    program = recorded_step(step, step_inputs, n_states, fixed, name, names)
    return program if isinstance(program, Program) else False


def recorded_step(step: Callable[..., Any], step_inputs: Sequence[np.ndarray], n_states: int,
                  fixed: Sequence[Tensor], name: str, names: Sequence[str | None] = (), *,
                  where: str | None = None,
                  hint: str = "pass it in fixed to scan the step") -> Program | Unscannable:
    """``record_step``, with the reason (``Unscannable``) when there is no Program; a
    tensor from outside that stopped it is named as the step knows it (``cell.w_h``).
    ``where`` begins the message of a refused random draw (``{name}.step``); ``hint``
    ends the reason when it is a tensor from outside."""
    inputs = [Tensor(a) for a in step_inputs]
    n_seq = len(inputs) - n_states
    defaults = ["x"] * n_seq + ["state"] * n_states + ["w"] * len(fixed)
    names = [given or default for given, default in _paired(names, defaults)]
    states = names[n_seq:n_seq + n_states]
    with no_grad():
        _, program = _recorded(lambda: _new_state(step(*inputs), n_states, step),
                               (*inputs, *fixed), name, names,
                               [f"{n}_new" for n in states], where or f"{name}.step",
                               varying=len(inputs))
    if not isinstance(program, Program):
        if program.tensor is not None:  # (the reason alone: a recording keeps no tensor)
            program = Unscannable(f"{_outsider(program.tensor, _label_in(step, program.tensor))}"
                                  f"; {hint}")
        return program
    reason = program.why_not_scannable(n_seq, n_states)
    return program if reason is None else Unscannable(reason)


def _label_in(step: Any, tensor: Tensor) -> str | None:
    """How ``step`` reaches ``tensor``, for a message: a variable it closes over or a
    global it reads (``w``), a parameter of itself or of a module it closes over
    (``cell.w_h``), or the tensor's own ``.name``; None if none of these."""
    function = getattr(step, "__func__", step)
    code = getattr(function, "__code__", None)
    places: list[tuple[str, Any]] = []
    if isinstance(step, types.MethodType):
        places.append(("self", step.__self__))
    if code is not None:
        for var, cell in zip(code.co_freevars, function.__closure__ or ()):
            with contextlib.suppress(ValueError):  # (an unbound variable)
                places.append((var, cell.cell_contents))
        module_globals = getattr(function, "__globals__", {})
        places += [(var, module_globals[var]) for var in code.co_names if var in module_globals]
    else:
        places.append(("", step))  # a callable object: its own parameters
    for var, value in places:
        if value is tensor:
            return var
        named = getattr(value, "named_parameters", None)
        if callable(named) and not isinstance(value, type):
            for pname, p in named():
                if p is tensor:
                    return f"{var}.{pname}" if var else pname
    return tensor.name


def scan_packed(programs: dict[int, Program], sequences: Sequence[Tensor],
                states: Sequence[Tensor], fixed: Sequence[Tensor], sizes: Sequence[int],
                reverse: bool = False) -> tuple[Tensor, tuple]:
    """``Program.scan`` for a packed batch (``nn.utils.rnn``): step t reads rows
    ``offset_t .. offset_t + sizes[t]`` of each sequence (the packed rows of step t)
    and the first ``sizes[t]`` rows of the state, with ``programs[sizes[t]]``, the
    step recorded for that batch size. ``sizes`` does not grow; ``states`` have
    ``sizes[0]`` rows. Forward in time, a sequence that ends keeps its last state;
    with ``reverse``, one joins the batch at its own last step, from its initial
    state (``scan.Batches``). Returns (the packed outputs, the final states of every
    sequence), as ``nn.RNN`` computes them op by op, to the bit. The caller vouches
    that each program fits its batch size (``Program.can_scan``, shapes), as a layer
    that looked them up by signature does.
    """
    batches = Batches.of(len(sizes), tuple(sizes), reverse)
    step_programs = batches.per_step([programs[sizes[t]] for t in batches.first_steps])
    return run_scan(step_programs, batches, sequences, states, fixed)


# --------------------------------------------------------------------------- what the code calls

class _OpCalls:
    """An op as the generated code calls it: ``Tanh.forward(ctx, x)``,
    ``Tanh.backward(ctx, grad)``. ``fn``, the op, names it in error messages
    (``autograd.conform`` reads a node's ``fn``)."""

    __slots__ = ("fn", "forward", "backward")

    def __init__(self, fn: type[autograd.Function]) -> None:
        self.fn, self.forward, self.backward = fn, fn.forward, _backward_of(fn)


def _backward_of(fn: type[autograd.Function]) -> Callable[[autograd.Context, Any], Any]:
    """The backward the generated code calls for op ``fn``: the engine's door,
    ``autograd.backward_of`` (with speedups installed, Matmul's, Addmm's and Linear's
    weight gradients come as OuterSums, pooled over all steps)."""
    return autograd.backward_of(fn)


def _fit(g: autograd.Gradient, shape: tuple, dtype: np.dtype,
         op: _OpCalls) -> autograd.Gradient:
    """An input's gradient from ``op`` as the input's shape and dtype (an OuterSum of
    them stays one, for the engine to pool across steps), or the engine's error. (An op
    of one input may return its gradient alone or in a tuple.)"""
    if type(g) is tuple and len(g) == 1:
        (g,) = g
    # (conform reads only the node's fn, which _OpCalls has)
    return g if g is None else autograd.conform(op, shape, dtype, g)  # type: ignore[arg-type]


def _fit_value(g: autograd.Gradient, shape: tuple, dtype: np.dtype,
               op: _OpCalls) -> autograd.Gradient:
    """As ``_fit``, for a value inside the step, which the next op's backward reads: an array."""
    g = _fit(g, shape, dtype, op)
    return g.array() if type(g) is OuterSum else g
