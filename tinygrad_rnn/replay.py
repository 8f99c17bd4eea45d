"""A layer's step recorded once, then run over every time step as one graph node.

A recurrent layer calls the same step function at every time step, on arrays
of the same shapes. Op by op, every step costs the engine a Tensor, a graph
node and its bookkeeping for each op, forward and backward: at small sizes
more than the arithmetic. So a layer records its step once:

``record(call, inputs)`` runs ``call()`` as usual and writes down every op it
called: the Function, where each of its inputs came from (one of ``inputs``,
an earlier op's output, or a constant) and its keyword parameters. That list
is a ``Program``. ``program.scan(sequences, states, fixed)`` then runs it over
time as *one* node, a ``Scan``: its forward runs each op's own ``forward`` at
every step, carrying the state; its backward runs each op's own ``backward``
in reverse, last step first, checking every gradient's shape and adding the
gradients of a value used twice in the order the engine would, so the results
are the same bit for bit. Nothing is differentiated by hand: the derivatives
are the ops', the routing is the recorded graph's (torch.jit.trace and
jax.lax.scan do the same).

The step's forward and backward are generated as straight-line Python, since
a loop interpreting the list would spend what replaying saves.
``program.source()`` prints them: backpropagation through one step, as code.

A step can be replayed only if it reaches its inputs through ops alone, calls
the same ops for inputs of the same shapes, and reads no tensor but
``inputs``: a number or array it hands an op, or a tensor it makes (a dropout
mask), is taken as a constant, the same at every step. The layers in
``nn/rnn.py`` scan their own steps only, never a subclass's, and run op by op
inside ``disabled()`` and while ``trace`` records gates. A packed batch, whose
state shrinks as its sequences end, is scanned with a program per batch size
(``scan_packed``). ``scan(step, sequences, states, fixed)`` does all of this for
a step of your own.
"""

from __future__ import annotations

import contextlib
import functools
import weakref

import numpy as np

from . import autograd
from .autograd import _conform
from .ops import stack
from .scan import Batches, Scan, StepContext, plus, run_scan
from .speedups import OuterSum
from .tensor import Tensor, no_grad


_enabled = True


def is_enabled() -> bool:
    """Do recurrent layers (and ``scan``) run as one Scan node? The one place that decides:
    False inside ``disabled()``."""
    return _enabled


class disabled:
    """Context manager (and decorator) in which recurrent layers run op by op.

    By default ``nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` run each layer and direction
    as one ``Scan`` node. Inside this block they make one graph node per op of
    every step instead, as their cells do: the graph to draw or narrate
    (``viz.to_dot``, ``viz.explain_backward``) op by op. Outputs and gradients
    are the same, bit for bit (the tests check it).

    >>> with replay.disabled():
    ...     out, h = rnn(x)      # tanh and addmm nodes at every step
    """

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        return self if fn is None else self(fn)  # bare @disabled, as no_grad allows

    def __enter__(self):
        global _enabled
        self._previous, _enabled = _enabled, False

    def __exit__(self, *exc_info):
        global _enabled
        _enabled = self._previous

    def __call__(self, fn):
        def wrapper(*args, **kwargs):
            with disabled():
                return fn(*args, **kwargs)

        return functools.wraps(fn)(wrapper)


class Op:
    """One recorded op call: ``fn``'s forward read slots ``inputs`` and wrote ``outputs``."""

    __slots__ = ("fn", "inputs", "params", "outputs", "tuple_output")

    def __init__(self, fn, inputs: tuple, params: dict, outputs: tuple, tuple_output: bool):
        self.fn, self.inputs, self.params = fn, inputs, params
        self.outputs, self.tuple_output = outputs, tuple_output


def signature(values) -> tuple:
    """The (shape, dtype) of each tensor or array, None for None: what a recorded step's
    inputs must keep for it to be replayed."""
    return tuple([None if v is None else (v.shape, v.dtype) for v in values])


def record(call, inputs, name: str = "Step"):
    """``(call(), Program or None)``: run the step ``call`` and write its ops down.

    ``inputs`` lists the tensors the step may read (None entries are allowed and
    stay unused); its result must be a tuple of tensors its ops made. The Program
    is None when the step cannot be replayed: it read a tensor that requires grad
    or was computed outside it but is not among ``inputs``, or it returned
    something its ops did not make.
    """
    with _noting_ops() as log:
        result = call()
    if log is None:  # inside another recording, which writes these ops down
        return result, None
    return result, Program.build(inputs, log, result, name)


@contextlib.contextmanager
def _noting_ops():
    """The engine's one hook for replay: yields the list into which ``Function.apply``
    writes every op call of the block, as (fn, input tensors, params, result); None
    inside another recording (the outer one notes the ops). Every use of
    ``autograd._op_log`` is here."""
    if autograd._op_log is not None:
        yield None
        return
    log = autograd._op_log = []
    try:
        yield log
    finally:
        autograd._op_log = None


class Program:
    """The ops of one step, their generated forward and backward, and ``scan``.

    Slots number every value of the step: first the inputs, then constants and
    op outputs in the order they were made. ``metas[s]`` is slot s's (shape, dtype).
    """

    def __init__(self, name: str, num_inputs: int, ops: list, outputs: tuple, metas: list,
                 constants: dict):
        self.name, self.num_inputs, self.ops = name, num_inputs, ops
        self.outputs, self.metas, self.constants = outputs, metas, constants
        # the inputs some op reads, which the generated forward takes, in this order
        self.used = tuple(sorted({s for op in ops for s in op.inputs if s < num_inputs}))
        self.backwards: dict = {}  # (needs_input_grad, seeded) -> generated backward
        self.forward = self._compile(self.forward_source(), "forward")
        # (inference: no graph will be recorded, so no Context per op is kept)
        self.forward_without_graph = self._compile(self.forward_source(graph=False), "forward")
        op_names = ", ".join(op.fn.__name__.lower() for op in ops)
        # the class of this step's Scan nodes, ``<name>Scan``: what a graph shows
        self.node_class = type(f"{name}Scan", (Scan,), {"__doc__": (
            f"outputs, state_T = the {name} step ({op_names}) run over every time step, "
            f"state_t = step(x_t, state_t-1).   d(inputs) = the step's ops' own backwards, "
            f"last step first, each step's state gradient carried to the step before "
            f"(backpropagation through time; see scan.py).")})

    @classmethod
    def build(cls, inputs, log: list, result, name: str = "Step") -> "Program | None":
        metas = list(signature(inputs))
        slot_of = {}  # id(tensor) -> slot (the log holds every tensor: ids stay unique)
        for i, t in enumerate(inputs):
            if t is not None:
                slot_of.setdefault(id(t), i)
        constants, ops = {}, []
        for fn, op_inputs, params, out in log:
            slots = []
            for t in op_inputs:
                s = slot_of.get(id(t))
                if s is None:
                    if t._node is not None or t._requires_grad:
                        return None  # a tensor from outside the step, not among its inputs
                    s = slot_of[id(t)] = len(metas)
                    metas.append((t.shape, t.dtype))
                    constants[s] = t.data
                slots.append(s)
            outs = out if type(out) is tuple else (out,)
            for t in outs:
                slot_of[id(t)] = len(metas)
                metas.append((t.shape, t.dtype))
            ops.append(Op(fn, tuple(slots), params,
                          tuple(slot_of[id(t)] for t in outs), type(out) is tuple))
        made = {s for op in ops for s in op.outputs}
        if type(result) is not tuple or not result or not all(
                isinstance(t, Tensor) and slot_of.get(id(t)) in made for t in result):
            return None
        return cls(name, len(inputs), ops, tuple(slot_of[id(t)] for t in result), metas,
                   constants)

    # ----------------------------------------------------------------- code generation
    def _namespace(self) -> dict:
        """The names the generated code reads: the ops (F), their parameters (P),
        constants (v), every value's shape and dtype (S, D), and the helpers below."""
        names = {"Context": StepContext, "new": object.__new__, "ndarray": np.ndarray,
                 "OuterSum": OuterSum, "zeros": np.zeros, "fit": _fit,
                 "fit_value": _fit_value, "plus": plus, "_one": _one}
        for k, op in enumerate(self.ops):
            names[f"F{k}"], names[f"P{k}"] = op.fn, op.params
        for s, array in self.constants.items():
            names[f"v{s}"] = array
        for s, meta in enumerate(self.metas):
            if meta is not None:
                names[f"S{s}"], names[f"D{s}"] = meta
        return names

    def forward_source(self, graph: bool = True) -> str:
        """The step's forward: each op's forward, one Context each, which ``ctx`` keeps
        for backward; or, without a ``graph`` to record, ``ctx`` lent to every op."""
        lines = [f"def forward(ctx, {', '.join(f'v{s}' for s in self.used)}):"]
        for k, op in enumerate(self.ops):
            args = ", ".join([f"c{k}" if graph else "ctx"] + [f"v{s}" for s in op.inputs])
            if op.params:
                args += f", **P{k}"
            outs = ", ".join(f"v{s}" for s in op.outputs) + ("," if op.tuple_output else "")
            if graph:
                lines.append(f"    c{k} = new(Context)  # {op.fn.__name__}")
            lines.append(f"    {outs} = F{k}.forward({args})" + ("" if graph else
                                                                 f"  # {op.fn.__name__}"))
        if graph:
            lines.append(f"    ctx.saved_tensors = ({''.join(f'c{k}, ' for k in range(len(self.ops)))})")
        lines.append("    return " + "".join(f"v{s}, " for s in self.outputs).rstrip())
        return "\n".join(lines) + "\n"

    def backward_source(self, needs: tuple, seeded: int | None = None) -> str:
        """The step's backward for inputs ``needs`` (the node's needs_input_grad): each
        op's backward in reverse, skipping ops no gradient reaches or needs. The gradient
        of input slot ``seeded`` starts from ``seed`` (a gradient that reached that
        input's value from elsewhere first, as the engine adds them), when not None."""
        requires = dict(zip(self.used, needs))  # slot -> does its value require grad?
        for op in self.ops:
            wanted = any(requires.get(s, False) for s in op.inputs)
            requires.update((s, wanted) for s in op.outputs)
        outputs = ", ".join(f"g{s}" for s in self.outputs) + ("," if len(self.outputs) > 1 else "")
        lines = ["def backward(ctx, grad, seed=None):",
                 f"    {''.join(f'c{k}, ' for k in range(len(self.ops)))}= ctx.saved_tensors",
                 f"    {outputs} = grad"]
        has_grad = {s for s in self.outputs if requires[s]}  # slots whose g{s} is assigned
        for k in reversed(range(len(self.ops))):
            op = self.ops[k]
            op_needs = tuple(requires.get(s, False) for s in op.inputs)
            if not has_grad.intersection(op.outputs) or True not in op_needs:
                continue
            if op.tuple_output:  # an output nobody used gets zeros, as the engine gives it
                upstream = "(" + "".join(f"g{s}, " if s in has_grad else f"zeros(S{s}, D{s}), "
                                         for s in op.outputs) + ")"
            else:
                upstream = f"g{op.outputs[0]}"
            grads = [f"d{j}" for j in range(len(op.inputs))]
            lines += [f"    c{k}.needs_input_grad = {op_needs!r}  # {op.fn.__name__}",
                      f"    {', '.join(grads)} = "
                      + (f"F{k}.backward(c{k}, {upstream})" if len(grads) > 1 else
                         f"_one(F{k}.backward(c{k}, {upstream}))")]
            for d, s, need in zip(grads, op.inputs, op_needs):
                if not need:
                    continue
                if s < self.num_inputs:  # an input's gradient may stay an OuterSum, as in the engine
                    lines.append(f"    if (type({d}) is not ndarray and type({d}) is not OuterSum) "
                                 f"or {d}.shape != S{s} or {d}.dtype is not D{s}: "
                                 f"{d} = fit({d}, S{s}, D{s}, F{k})")
                else:  # a value inside the step: the next op's backward reads it as an array
                    lines.append(f"    if type({d}) is not ndarray or {d}.shape != S{s} or "
                                 f"{d}.dtype is not D{s}: {d} = fit_value({d}, S{s}, D{s}, F{k})")
                if s not in has_grad:
                    lines.append(f"    g{s} = plus(seed, {d})" if s == seeded else f"    g{s} = {d}")
                elif s < self.num_inputs:
                    lines.append(f"    g{s} = plus(g{s}, {d})")
                else:
                    lines.append(f"    g{s} = g{s} + {d}")
                has_grad.add(s)
        lines.append("    return " + "".join(f"g{s}, " if s in has_grad else "None, "
                                             for s in self.used).rstrip(", ") +
                     ("," if len(self.used) == 1 else ""))
        return "\n".join(lines) + "\n"

    def source(self, needs: tuple | None = None, seeded: int | None = None) -> str:
        """The Python that replays the step: forward, and backward for ``needs`` (every
        input wanting a gradient when not given)."""
        return self.forward_source() + "\n" + self.backward_source(
            needs if needs is not None else (True,) * len(self.used), seeded)

    def _compile(self, source: str, name: str):
        names = self._namespace()
        exec(compile(source, f"<replayed {self.name}>", "exec"), names)
        return names[name]

    def backward_for(self, needs: tuple, seeded: int | None = None):
        """The generated backward for ``needs`` and ``seeded``, compiled at its first use."""
        backward = self.backwards.get((needs, seeded))
        if backward is None:
            backward = self.backwards[needs, seeded] = self._compile(
                self.backward_source(needs, seeded), "backward")
        return backward

    # ----------------------------------------------------------------- scanning
    def scan(self, sequences, states, fixed, reverse: bool = False):
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
    def signature(sequences, states, fixed) -> tuple:
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

    def scan_unchecked(self, sequences, states, fixed, reverse: bool = False):
        """``scan`` for inputs known to fit, as a layer that looked this program up by
        their ``signature`` knows them to: the checks cost a microsecond or two."""
        batches = Batches.of(len(sequences[0]), None, reverse)
        return run_scan(batches.per_step([self]), batches, sequences, states, fixed)


def scan(step, sequences, states, fixed=(), reverse: bool = False):
    """Run your own step over time as one node: ``step(*x_t, *state)`` returns the new
    state (a tuple of tensors, or one tensor for a state of one), where x_t are the ``sequences``' slices at step t (along
    axis 0) and ``fixed`` lists every other tensor it reads (a cell's parameters).

    Returns (the first state output of every step, stacked along axis 0; the last
    state, a tuple): what the op-by-op loop gives, to the bit, except that a leaf in
    ``fixed`` (a Parameter) gets the gradient of all steps as one matmul, where op by
    op each step's share is added to its ``.grad`` in turn (the same sum, rounded in
    another order). The step is recorded at the first call for inputs of these shapes
    and replayed after; pass the same function (or cell) to reuse the recording. A
    step that reads a tensor requiring grad that is not in ``fixed``, or returns
    something its ops did not make, runs op by op, as everything does inside
    ``disabled()``. What the step computes in Python is recorded as it was at the
    first call: a number it uses (a closure's ``scale``, a cell attribute), or a
    random draw (a dropout mask), is a constant from then on. Pass what changes as
    a tensor: in ``fixed``, or as a sequence.

    >>> out, (h, c) = replay.scan(lambda x, h, c: cell(x, (h, c)), [x], [h0, c0],
    ...                           fixed=list(cell.parameters()))
    """
    sequences = tuple(q if isinstance(q, Tensor) else Tensor(q) for q in sequences)
    states = tuple(s if isinstance(s, Tensor) else Tensor(s) for s in states)
    fixed = tuple(fixed)
    if not sequences or len({q.shape[:1] for q in sequences}) != 1 or not sequences[0].ndim \
            or not len(sequences[0]):
        raise ValueError(f"replay.scan: the sequences need one length along axis 0, at least "
                         f"1, got shapes {[q.shape for q in sequences]}")
    if not states or not all(isinstance(t, Tensor) for t in fixed):
        raise TypeError("replay.scan: give the state as a list of tensors, and as fixed the "
                        "tensors the step reads (the very objects, e.g. a cell's parameters)")
    program = is_enabled() and _program_of(step, sequences, states, fixed)
    if program:
        return program.scan_unchecked(sequences, states, fixed, reverse)
    pieces = [q.unbind(0) for q in sequences]  # op by op: the reference loop
    outputs, states = Batches.of(len(sequences[0]), None, reverse).run(
        lambda t, state: _new_state(step(*[p[t] for p in pieces], *state), len(state)),
        states, None)
    return stack(outputs, axis=0), states


def _new_state(result, count: int) -> tuple:
    """What a step returned, as the state tuple (a lone tensor is a state of one)."""
    state = (result,) if isinstance(result, Tensor) else result
    if type(state) not in (tuple, list) or len(state) != count or not all(
            isinstance(t, Tensor) for t in state):
        raise TypeError(f"replay.scan: the step must return the new state, {count} tensor(s) "
                        f"like the state it was given, got {type(result).__name__}")
    return tuple(state)


# step function -> {(number of sequences, signature): Program, or False}; weak, so that a
# cell or function nobody holds any more takes its recordings with it
_STEPS = weakref.WeakKeyDictionary()


def _program_of(step, sequences, states, fixed):
    """``step``'s Program for inputs of these shapes, recorded at the first call, or False."""
    try:
        programs = _STEPS.setdefault(step, {})
    except TypeError:  # a step that cannot be weakly referenced is recorded at every call
        programs = {}
    key = (len(sequences), Program.signature(sequences, states, fixed))
    program = programs.get(key)
    if program is None:
        name = getattr(step, "__name__", type(step).__name__)
        program = programs[key] = record_step(
            step, [q.data[0] for q in sequences] + [s.data for s in states], len(states),
            fixed, name if name.isidentifier() else "Step")
    return program


def record_step(step, step_inputs, n_states: int, fixed, name: str):
    """The Program of ``step(*x_t, *state)``, recorded without a graph (only the ops
    matter) on stand-ins for one step's inputs ``step_inputs`` (arrays: its sequences'
    slices, then its ``n_states`` states; one tensor each, even where two are one
    object), or False when it cannot be scanned."""
    inputs = [Tensor(a) for a in step_inputs]
    with no_grad():
        _, program = record(lambda: _new_state(step(*inputs), n_states), (*inputs, *fixed), name)
    n_seq = len(inputs) - n_states
    return program if program is not None and program.can_scan(n_seq, n_states) else False


def scan_packed(programs: dict, sequences, states, fixed, sizes, reverse: bool = False):
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




def _one(grads):
    """The single gradient of a one-input op (which may return it alone or in a tuple)."""
    return grads[0] if type(grads) is tuple else grads


def _fit(g, shape, dtype, fn):
    """An input's gradient from op ``fn`` as the input's shape and dtype (an OuterSum of
    them stays one, for the engine to pool across steps), or the engine's error."""
    return g if g is None else _conform(_Named(fn), shape, dtype, g)


def _fit_value(g, shape, dtype, fn):
    """As ``_fit``, for a value inside the step, which the next op's backward reads: an array."""
    if g is None:
        return g
    g = _conform(_Named(fn), shape, dtype, g)
    return g.array() if type(g) is OuterSum else g


class _Named:
    """What ``autograd._conform`` reads of a node for its error message: the op."""

    def __init__(self, fn):
        self.fn = fn
