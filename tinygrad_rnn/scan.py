"""The Scan node: a recorded step run over every time step as one graph node.

``replay.py`` records a step's ops once and generates its forward and backward
(a ``Program``). A ``Scan`` node runs them over time. Its forward calls the
step's forward at every time step, carrying the state; its backward calls the
step's backward from the last step to the first, handing each step's state
gradient to the step before: backpropagation through time, with every
derivative the ops' own. The weights' gradients pool over all steps (as
``OuterSum``s, one matmul per weight), and the rest adds up in the order the
engine would add it, so the results are those of the op-by-op graph, bit for bit.

The reference semantics, which the tests hold it to, is the loop a layer runs
op by op::

    for t in time order:
        state = step(x[t], *state, *fixed)
        outputs[t] = state[0]

A batch of sequences of different lengths, packed (``nn.utils.rnn``), runs the
same loop on a batch that shrinks as its sequences end. ``Batches`` is that
bookkeeping, written once: the layer runs its op-by-op loop with it, the Scan
node its forward, and the node's backward walks its inverse. A padded batch is
the packed batch whose size never changes, so one node class serves both.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import autograd
from .autograd import Context, Function, Gradient
from .speedups import OuterSum

if TYPE_CHECKING:
    from .replay import Program
    from .tensor import Tensor


class Batches:
    """Which rows of a batch run at each time step, and how its state follows them.

    A padded batch runs all its rows at every step: step t reads ``x[t]`` of a
    sequence x of shape (T, N, ...). A packed batch (``nn.utils.rnn``) runs
    ``sizes[t]`` rows at step t, the packed rows ``offset_t .. offset_t + sizes[t]``
    of a sequence of shape (sum of sizes, ...); its sequences are sorted longest
    first, so these are the first ``sizes[t]`` rows of the state. Forward in time
    the batch only shrinks: before step t, the sequences ``sizes[t]..`` leave it,
    their state set aside as their final state. In reverse it only grows: before
    step t, the sequences whose last step is t join it, from their initial state.

    ``order`` lists the steps in the order they run, ``rows[t]`` indexes step t's
    rows of a sequence (and of the outputs), and ``changes`` maps each step before
    which the batch changes size to the size it had until then (empty when padded).
    """

    def __init__(self, steps: int, sizes: tuple[int, ...] | None = None,
                 reverse: bool = False) -> None:
        self.sizes, self.reverse, self.padded = sizes, reverse, sizes is None
        # (tuples, not ranges: indexing a range computes the int)
        self.order = tuple(range(steps - 1, -1, -1) if reverse else range(steps))
        self.changes: dict[int, int] = {}
        # the first and last step's rows, if not all
        self.first_rows: int | None = None
        self.last_rows: int | None = None
        # a step of each batch size, and each step's index into them
        self.first_steps: tuple[int, ...] = (0,)
        self.size_index: tuple[int, ...] = (0,) * steps
        self.rows: Sequence[int | slice]
        if sizes is None:  # padded: step t reads x[t]
            self.rows = tuple(range(steps))
            return
        offsets = itertools.accumulate(sizes, initial=0)
        self.rows = [slice(o, o + b) for o, b in zip(offsets, sizes)]
        for before, t in itertools.pairwise(self.order):
            if sizes[t] != sizes[before]:
                self.changes[t] = sizes[before]
        first, last = sizes[self.order[0]], sizes[self.order[-1]]
        self.first_rows = first if first < sizes[0] else None  # (reverse: the longest only)
        self.last_rows = last if last < sizes[0] else None  # (forward: the longest only)
        distinct = sorted(set(sizes), reverse=True)
        self.first_steps = tuple(sizes.index(b) for b in distinct)
        self.size_index = tuple(distinct.index(b) for b in sizes)

    @staticmethod
    @functools.lru_cache(maxsize=256)
    def of(steps: int, sizes: tuple[int, ...] | None = None, reverse: bool = False) -> Batches:
        """``Batches(steps, sizes, reverse)``, made once for every layer call that needs it."""
        return Batches(steps, sizes, reverse)

    def per_step(self, values: Sequence[Any]) -> tuple:
        """Every step's value, from ``values[k]`` for the batch size of ``first_steps[k]``
        (a Program recorded for that size)."""
        if self.padded:
            return (values[0],) * len(self.rows)
        return tuple([values[k] for k in self.size_index])

    # ------------------------------------------------------------------ forward
    def run(self, step: Callable[[int, tuple], tuple], initial: tuple,
            concat: Callable[[list], Any]) -> tuple[list, tuple]:
        """(every step's output, in time order; the final state of every sequence):
        ``state = step(t, state)`` over the steps in order from ``initial`` (a tuple of
        arrays or tensors), the state cut or joined where the batch changes size; a
        step's output is the first part of its state. ``concat(parts)`` joins arrays or
        tensors along axis 0. (The Scan node's forward is this loop, inlined.)"""
        ended: list[tuple]
        outputs: list[Any]
        state, ended, outputs = self.first_state(initial), [], [None] * len(self.rows)
        for t in self.order:
            if t in self.changes:
                state = self.resize(t, state, initial, ended, concat)
            state = step(t, state)
            outputs[t] = state[0]
        return outputs, self.final_state(state, ended, concat)

    def first_state(self, initial: tuple) -> tuple:
        """The state the first step reads: all of ``initial`` but in reverse, where the
        longest sequences start alone."""
        return initial if self.first_rows is None else tuple(s[:self.first_rows] for s in initial)

    def resize(self, t: int, state: tuple, initial: tuple, ended: list[tuple],
               concat: Callable[[list], Any]) -> tuple:
        """The state step t reads, from the one the step before returned: cut where
        sequences ended (their state set aside in ``ended``), or joined by the initial
        state of sequences that start at step t."""
        # (only a packed batch, whose sizes are set, has changes)
        was, size = self.changes[t], self.sizes[t]  # type: ignore[index]
        if size < was:
            ended.append(tuple(s[size:] for s in state))
            return tuple(s[:size] for s in state)
        return tuple(concat([s, s0[was:size]]) for s, s0 in zip(state, initial))

    @staticmethod
    def final_state(state: tuple, ended: list[tuple], concat: Callable[[list], Any]) -> tuple:
        """Every sequence's final state, in batch order: the longest (still running) first."""
        if not ended:
            return state
        return tuple(concat([s, *(e[k] for e in reversed(ended))]) for k, s in enumerate(state))

    # ------------------------------------------------------------------ backward
    def last_state_grads(self, g_finals: tuple) -> tuple:
        """The gradient of the state the last step to run returned: its rows of the final
        states' gradients."""
        return g_finals if self.last_rows is None else tuple(g[:self.last_rows] for g in g_finals)

    def resize_back(self, t: int, carry: tuple, g_finals: tuple,
                    g_initial: list[np.ndarray]) -> tuple:
        """``resize`` backwards: ``carry``, the gradient of the state step t read, as the
        gradient of the state the step before returned. Rows that ended there get their
        final state's gradient; rows that started at step t hand theirs to ``g_initial``."""
        # (only a packed batch, whose sizes are set, has changes)
        was, size = self.changes[t], self.sizes[t]  # type: ignore[index]
        if size < was:
            return tuple(np.concatenate([g, g_final[size:was]])
                         for g, g_final in zip(carry, g_finals))
        for g_init, g in zip(g_initial, carry):
            g_init[was:size] = g[was:]
        return tuple(g[:was] for g in carry)


def run_scan(programs: tuple[Program, ...], batches: Batches, sequences: Sequence[Tensor],
             states: Sequence[Tensor], fixed: Sequence[Tensor]) -> tuple[Tensor, tuple]:
    """(the outputs, the final states): ``programs[t]`` (step t's Program) run over
    ``batches`` as one Scan node (of the class ``programs[0].node_class``), on tensors:
    ``sequences``, the initial ``states``, and ``fixed``, of which the node takes those
    the step reads.
    The caller vouches that the programs fit their inputs (``Program.can_scan``, shapes)."""
    varying = len(sequences) + len(states)
    used = programs[0].used
    inputs = (*sequences, *states, *[fixed[s - varying] for s in used[varying:]])
    if autograd.forward_levels():  # inside tr.func.jvp: the step and its tangents, one node
        from .scan_jvp import scan_carrying_tangents

        carried = scan_carrying_tangents(programs, batches, len(sequences), inputs)
        if carried is not None:
            return carried
    graph = autograd.is_grad_enabled() and any(t._requires_grad for t in inputs)  # (as apply asks)
    out = programs[0].node_class.apply(*inputs, programs=programs, batches=batches,
                                       n_seq=len(sequences), graph=graph)
    return out[0], out[1:]


class Scan(Function):
    """The base of every scanned step's node class (``replay`` makes one per step, named
    after it, ``LSTMScan``, with the step's Program as ``program``).

    Its forward runs step t's generated forward, ``programs[t].forward``, at every
    time step (``Batches.run``'s loop), one Context per step holding that step's
    ops' Contexts. Its backward runs the steps' generated backwards from the last
    step to the first, adding each step's output gradient to the state gradient
    carried back from the step after, pooling the fixed inputs' gradients
    (OuterSums: one matmul per weight for all steps) and writing the sequences'
    gradients step by step.
    """

    # (issue 17) Twice differentiable: under create_graph its backward re-expands the
    # steps op by op on the node's inputs and differentiates that graph
    # (``differentiable_backward``); the first-order backward below never meets it.
    twice_differentiable = True

    # Forward mode (tr.func.jvp): one more Scan node, whose step is this one's with its
    # tangents' rules recorded beside its ops (scan_jvp.py), or, for a step whose rules
    # cannot be replayed, the steps re-run op by op with the tangents active
    # (``expanded_jvp``). The first-order forward and backward never meet either.
    @staticmethod
    def jvp(ctx: Context, *tangents: Any) -> tuple[Any, ...]:
        from .scan_jvp import fused_jvp  # (it imports ops, which imports nothing of this)

        fused = fused_jvp(ctx, tangents)
        return expanded_jvp(ctx, tangents) if fused is None else fused

    @staticmethod
    def forward(ctx: Context, *arrays: np.ndarray, programs: tuple[Program, ...],
                batches: Batches, n_seq: int, graph: bool = True) -> tuple[np.ndarray, ...]:
        n_state = len(programs[0].outputs)
        sequences, initial = arrays[:n_seq], arrays[n_seq:n_seq + n_state]
        fixed, rows, changes = arrays[n_seq + n_state:], batches.rows, batches.changes
        contexts: list[Context | None] = [None] * len(rows)
        outputs: list[Any] = [None] * len(rows)
        new, sub = object.__new__, StepContext()  # (no graph: one Context for every op)
        which = "forward" if graph else "forward_without_graph"
        ended: list[tuple]
        state, ended = batches.first_state(initial), []
        step = getattr(programs[batches.order[0]], which)
        # Batches.run, inlined: a call per step would cost more than some steps' ops
        for t in batches.order:
            if t in changes:  # a new batch size: the state cut or joined, its own program
                state = batches.resize(t, state, initial, ended, np.concatenate)
                step = getattr(programs[t], which)
            if graph:  # a Context for the step, which keeps its ops' Contexts
                contexts[t] = sub = new(Context)
            if n_seq == 1:  # (RNN, LSTM: no list to build)
                state = step(sub, sequences[0][rows[t]], *state, *fixed)
            else:
                state = step(sub, *[q[rows[t]] for q in sequences], *state, *fixed)
            outputs[t] = state[0]
        ctx.programs, ctx.batches, ctx.n_seq = programs, batches, n_seq
        ctx.sequence_metas = [(q.shape, q.dtype) for q in sequences]
        # every step's Context, then the inputs, for a backward under create_graph, which
        # recomputes the steps from them (contexts[t] still indexes step t)
        ctx.saved_tensors = (*contexts, arrays)
        final = batches.final_state(state, ended, np.concatenate)
        return (np.array(outputs) if batches.padded else np.concatenate(outputs), *final)

    @staticmethod
    def backward(ctx: Context, grads: tuple[Gradient, ...]) -> tuple[Gradient, ...]:
        if type(grads[0]) is not np.ndarray:  # Tensors: create_graph
            return differentiable_backward(ctx, grads)
        programs, batches, n_seq, contexts = ctx.programs, ctx.batches, ctx.n_seq, ctx.saved_tensors
        needs, rows, changes = ctx.needs_input_grad, batches.rows, batches.changes
        g_outputs, g_finals = grads[0], grads[1:]
        varying = n_seq + len(g_finals)
        g_sequences = [np.empty(shape, dtype) if need else None
                       for (shape, dtype), need in zip(ctx.sequence_metas, needs)]
        g_fixed = [None] * (len(needs) - varying)
        g_initial = None if batches.first_rows is None else [np.zeros(g.shape, g.dtype)
                                                             for g in g_finals]
        # Every step's state but the first's is the step before's output, which needs a
        # gradient whenever the node records. h's gradient starts from its output's
        # share, as in the engine, where the outputs' node is the first to add to it
        # (seeded); after a cut or join, that node's sum comes first.
        later_needs = needs[:n_seq] + (True,) * (varying - n_seq) + needs[varying:]
        # (t + back: the step that ran before step t)
        first_t, back = batches.order[0], (1 if batches.reverse else -1)
        last_t = batches.order[-1]
        carry = batches.last_state_grads(g_finals)
        carry = (carry[0] + g_outputs[rows[last_t]], *carry[1:])  # h's: its output's share too
        later = programs[last_t].backward_for(later_needs, seeded=n_seq)
        for t in reversed(batches.order):
            upstream = carry if len(carry) > 1 else carry[0]
            if t == first_t:  # the first step: its state is the node's input
                d = programs[t].backward_for(needs)(contexts[t], upstream)
            elif t not in changes:
                d = later(contexts[t], upstream, g_outputs[rows[t + back]])
            else:  # the state step t read was cut or joined: the output's share comes after
                d = programs[t].backward_for(later_needs)(contexts[t], upstream)
            _collect(d, rows[t], g_sequences, g_fixed, varying)
            carry = d[n_seq:varying]  # the gradient of the state step t read
            if t in changes:  # ... as the gradient of the state the step before returned
                carry = batches.resize_back(t, carry, g_finals, g_initial)
                carry = (g_outputs[rows[t + back]] + carry[0], *carry[1:])
                later = programs[t + back].backward_for(later_needs, seeded=n_seq)
        if g_initial is not None:  # (reverse) the longest sequences' rows, read at the first step
            for g_init, g in zip(g_initial, carry):
                if g is not None:
                    g_init[:batches.first_rows] = g
            carry = [g if need else None for g, need in zip(g_initial, needs[n_seq:varying])]
        return (*g_sequences, *carry, *g_fixed)


def differentiable_backward(ctx: Context, grads: tuple[Any, ...]) -> tuple[Any, ...]:
    """A Scan node's backward under create_graph (``grads`` are Tensors): the steps
    re-expanded op by op from the node's programs (``Program.run_ops``) on its inputs,
    which recomputes the forward as a graph of ordinary ops connected to them, and that
    graph differentiated with a graph of its own (as ``tr.grad(..., create_graph=True)``),
    so that the gradients can be differentiated again. Every op of a recorded step is an
    ordinary op: the result is the op-by-op layer's (``replay.disabled()``)."""
    from .ops import Reshape  # (ops imports nothing of this)

    make = grads[0]._from_op
    # the inputs as tensors on the graph (a leaf itself, a computed input a handle on the
    # node that made it, as graph_walk shows a saved input), each behind a stand-in, a
    # reshape to its own shape (a view): the walk below stops at the stand-ins, so an
    # input computed from another input is not differentiated through twice (here, and
    # by the walk that called this backward)
    handles = [p if type(p) is not Context else make(a, p, i)
               for p, i, a in zip(ctx.parents, ctx.parent_indices, ctx.saved_tensors[-1])]
    stand_ins = [Reshape.apply(h, shape=h.shape) for h in handles]
    out, finals = _expanded(ctx, stand_ins, grads[0]._constant)
    wanted = [k for k, need in enumerate(ctx.needs_input_grad) if need]
    found = autograd.graph_walk([(out, grads[0]), *zip(finals, grads[1:])], retain_graph=True,
                                create_graph=True, inputs=[stand_ins[k] for k in wanted])
    in_grads: list[Any] = [None] * len(handles)
    for k, g in zip(wanted, found or ()):
        in_grads[k] = g
    return tuple(in_grads)


def expanded_jvp(ctx: Context, tangents: tuple[Any, ...]) -> tuple[Any, ...]:
    """A Scan node's forward-mode rule (``tr.func.jvp``): the steps re-run op by op from
    the node's programs on its inputs (``Program.run_ops``, as ``differentiable_backward``
    does), inside a jvp of its own carrying the inputs' tangents through every op's rule:
    the tangents of the outputs and final states are the op-by-op layer's. The rule runs
    with the outer jvp levels active, so the re-run ops carry theirs too (nesting), and
    are recorded when the inputs require grad (reverse over forward)."""
    from .func import jvp  # (func imports the layers' modules: no import at load time)

    inputs = ctx.jvp_inputs
    chosen = [k for k, t in enumerate(tangents) if t is not None]

    def expanded(*moving: Tensor) -> tuple:
        full = list(inputs)
        for k, x in zip(chosen, moving):
            full[k] = x
        out, finals = _expanded(ctx, full, inputs[0]._constant)
        return (out, *finals)

    _, t_outs = jvp(expanded, tuple(inputs[k] for k in chosen),
                    tuple(tangents[k] for k in chosen))
    return tuple(t_outs)


def _expanded(ctx: Context, inputs: Sequence[Any],
              constant: Callable[[Any], Tensor]) -> tuple[Any, tuple]:
    """(the outputs, the final states): the node's forward recomputed op by op on the
    tensors ``inputs`` (one per node input), each recorded op's ``apply`` in turn, a packed
    batch's state cut and joined as the forward did (``Batches.run``)."""
    from .ops import Concat, Split, Stack, Unbind  # (ops imports nothing of this)

    programs, batches, n_seq = ctx.programs, ctx.batches, ctx.n_seq
    n_state = len(programs[0].outputs)
    # each sequence cut into its steps by one node (a getitem per step would make the
    # backward quadratic in T): step t's rows are part t
    steps = [Unbind.apply(q, axis=0) if batches.padded
             else Split.apply(q, sizes=list(batches.sizes), axis=0) for q in inputs[:n_seq]]
    fixed = inputs[n_seq + n_state:]

    def concat(parts: list) -> Any:
        return Concat.apply(*parts, axis=0)

    def step(t: int, state: tuple) -> tuple:
        return programs[t].run_ops((*[q[t] for q in steps], *state, *fixed), constant)

    outputs, finals = batches.run(step, tuple(inputs[n_seq:n_seq + n_state]), concat)
    out = Stack.apply(*outputs, axis=0) if batches.padded else concat(outputs)
    return out, finals


def _collect(d: tuple, rows: int | slice, g_sequences: list, g_fixed: list,
             varying: int) -> None:
    """One step's input gradients ``d``: the sequences' go into their ``rows``, the fixed
    inputs' are pooled over the steps (OuterSums add their terms)."""
    for g_sequence, g in zip(g_sequences, d):
        if g_sequence is not None:
            g_sequence[rows] = g if type(g) is not OuterSum else g.array()
    for j, g in enumerate(d[varying:]):
        if g is not None:
            g_fixed[j] = g if g_fixed[j] is None else plus(g_fixed[j], g)


class StepContext(Context):
    """The Context of an op inside a scanned step: a node the engine never sees, so it
    needs no links, only what the op's forward saves (nothing, until it saves)."""

    saved_tensors = ()


def plus(a: Gradient, b: Gradient) -> Gradient:
    """a + b for two gradients of one value (either may be None or an OuterSum)."""
    if a is None or b is None:
        return b if a is None else a
    if type(a) is OuterSum or type(b) is OuterSum:
        return autograd.add_grads(a, b)
    return a + b
