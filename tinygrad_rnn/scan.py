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

import numpy as np

from . import autograd
from .autograd import Context, Function
from .speedups import OuterSum, add_grads


class Batches:
    """Which rows of a batch run at each time step, and how its state follows them.

    A padded batch runs all its rows at every step: step t reads ``x[t]`` of a
    sequence x of shape (T, N, ...). A packed batch (``nn.utils.rnn``) runs
    ``sizes[t]`` rows at step t, the packed rows ``offset_t .. offset_t + sizes[t]``
    of a sequence of shape (sum of sizes, ...); its sequences are sorted longest
    first, so these are the first ``sizes[t]`` rows of the state. Forward in time
    the batch only shrinks: before step t, the sequences ``sizes[t]..`` leave it,
    their state set aside as their final state. In reverse it only grows: before
    step t, the sequences ending at step t join it, from their initial state.

    ``order`` lists the steps in the order they run, ``rows[t]`` indexes step t's
    rows of a sequence (and of the outputs), and ``changes`` maps each step before
    which the batch changes size to the size it had until then.
    """

    def __init__(self, steps: int, sizes: tuple | None = None, reverse: bool = False):
        self.sizes, self.reverse, self.padded = sizes, reverse, sizes is None
        self.order = range(steps - 1, -1, -1) if reverse else range(steps)
        self.changes: dict = {}
        self.first_rows = None  # the rows of the first step's state, when not all of them
        if sizes is None:  # padded: step t reads x[t]
            self.rows = range(steps)
            return
        offsets = itertools.accumulate(sizes, initial=0)
        self.rows = [slice(o, o + b) for o, b in zip(offsets, sizes)]
        for before, t in itertools.pairwise(self.order):
            if sizes[t] != sizes[before]:
                self.changes[t] = sizes[before]
        if sizes[self.order[0]] < sizes[0]:  # (reverse) only the longest start at step T - 1
            self.first_rows = sizes[self.order[0]]

    @staticmethod
    @functools.lru_cache(maxsize=256)
    def of(steps: int, sizes: tuple | None = None, reverse: bool = False) -> "Batches":
        """``Batches(steps, sizes, reverse)``, made once for every layer call that needs it."""
        return Batches(steps, sizes, reverse)

    def per_step(self, make) -> tuple | None:
        """(``make(t)`` for every step t), calling ``make`` once for each batch size (the
        steps of one size share its result); None if a result is false."""
        if self.padded:
            made = make(0)
            return (made,) * len(self.rows) if made else None
        by_size: dict = {}
        for t, size in enumerate(self.sizes):
            if size not in by_size:
                by_size[size] = make(t)
                if not by_size[size]:
                    return None
        return tuple([by_size[size] for size in self.sizes])

    # ------------------------------------------------------------------ forward
    def run(self, step, initial: tuple, concat) -> tuple:
        """(every step's output, in time order; the final state of every sequence):
        ``state = step(t, state)`` over the steps in order from ``initial`` (a tuple of
        arrays or tensors), the state cut or joined where the batch changes size. A
        step's output is the first part of its state. ``concat(parts)`` joins arrays or
        tensors along axis 0."""
        state = initial if self.first_rows is None else tuple(s[:self.first_rows] for s in initial)
        ended, outputs, changes = [], [None] * len(self.rows), self.changes
        for t in self.order:
            if t in changes:
                state = self._resize(state, changes[t], self.sizes[t], initial, ended, concat)
            state = step(t, state)
            outputs[t] = state[0]
        if ended:  # every sequence's final state, in batch order: the longest first
            state = tuple(concat([s, *(e[k] for e in reversed(ended))]) for k, s in enumerate(state))
        return outputs, state

    @staticmethod
    def _resize(state: tuple, was: int, size: int, initial: tuple, ended: list, concat) -> tuple:
        """The state of ``was`` rows cut (forward in time) or grown (reverse) to ``size`` rows."""
        if size < was:  # the sequences size.. ended at the step before: set their state aside
            ended.append(tuple(s[size:] for s in state))
            return tuple(s[:size] for s in state)
        # the sequences was..size start here, at their last step, from their initial state
        return tuple(concat([s, s0[was:size]]) for s, s0 in zip(state, initial))

    # ------------------------------------------------------------------ backward
    def last_state_grads(self, g_finals: tuple) -> list:
        """The gradient of the state the last step to run returned: its rows of the final
        states' gradients (the sequences that ended there, or all of them)."""
        rows = self.sizes[self.order[-1]] if not self.padded else None
        return [g if rows is None or rows == len(g) else g[:rows] for g in g_finals]

    def resize_back(self, t: int, carry: list, g_finals: tuple, g_initial: list) -> list:
        """``_resize`` backwards: ``carry``, the gradient of the state step t read, as
        the gradient of the state the step before it returned, where the batch changed
        size between them. Rows that ended get their final state's gradient; rows that
        started at step t hand theirs to the initial state's, ``g_initial``."""
        was, size = self.changes[t], self.sizes[t]
        if size < was:
            return [np.concatenate([g, g_final[size:was]]) for g, g_final in zip(carry, g_finals)]
        for g_init, g in zip(g_initial, carry):
            g_init[was:size] = g[was:]
        return [g[:was] for g in carry]


def run_scan(node_class, programs: tuple, batches: Batches, sequences, states, fixed) -> tuple:
    """(the outputs, the final states): ``programs[t]`` (step t's Program) run over
    ``batches`` as one ``node_class`` node (a Scan), on tensors: ``sequences``, the
    initial ``states``, and ``fixed``, of which the node takes those the step reads.
    The caller vouches that the programs fit their inputs (``Program.can_scan``, shapes)."""
    varying = len(sequences) + len(states)
    used = programs[0].used
    inputs = (*sequences, *states, *[fixed[s - varying] for s in used[varying:]])
    graph = autograd._grad_enabled and any(t._requires_grad for t in inputs)  # (as apply asks)
    out = node_class.apply(*inputs, programs=programs, batches=batches, n_seq=len(sequences),
                           graph=graph)
    return out[0], out[1:]


class Scan(Function):
    """The base of every scanned step's node class (``replay`` makes one per step, named
    after it: ``LSTMScan``).

    Its forward runs step t's generated forward, ``programs[t].forward``, at every
    time step (``Batches.run``), one Context per step holding that step's ops'
    Contexts. Its backward runs the steps' generated backwards from the last step
    to the first, adding each step's output gradient to the state gradient carried
    back from the step after, pooling the fixed inputs' gradients (OuterSums: one
    matmul per weight for all steps) and writing the sequences' gradients step by step.
    """

    @staticmethod
    def forward(ctx, *arrays, programs, batches, n_seq, graph=True):
        n_state = len(programs[0].outputs)
        sequences, initial = arrays[:n_seq], arrays[n_seq:n_seq + n_state]
        fixed, rows = arrays[n_seq + n_state:], batches.rows
        contexts = [None] * len(rows)
        if graph:
            new = object.__new__

            def step(t, state):  # one Context per step, which keeps its ops' Contexts
                sub = contexts[t] = new(Context)
                return programs[t].forward(sub, *[q[rows[t]] for q in sequences], *state, *fixed)
        else:  # no graph to record: one Context lent to every op of every step
            sub = StepContext()

            def step(t, state):
                return programs[t].forward_without_graph(
                    sub, *[q[rows[t]] for q in sequences], *state, *fixed)

        outputs, final = batches.run(step, initial, np.concatenate)
        ctx.programs, ctx.batches, ctx.n_seq = programs, batches, n_seq
        ctx.sequence_metas = [(q.shape, q.dtype) for q in sequences]
        ctx.saved_tensors = tuple(contexts)
        return (np.array(outputs) if batches.padded else np.concatenate(outputs), *final)

    @staticmethod
    def backward(ctx, grads):
        programs, batches, n_seq, contexts = ctx.programs, ctx.batches, ctx.n_seq, ctx.saved_tensors
        needs, rows, changes = ctx.needs_input_grad, batches.rows, batches.changes
        g_outputs, g_finals = grads[0], grads[1:]
        varying = n_seq + len(g_finals)
        # every step's state but the first's is the step before's output, which needs a
        # gradient whenever the node records
        later_needs = needs[:n_seq] + (True,) * (varying - n_seq) + needs[varying:]
        g_sequences = [np.empty(shape, dtype) if need else None
                       for (shape, dtype), need in zip(ctx.sequence_metas, needs)]
        g_fixed = [None] * (len(needs) - varying)
        g_initial = None if batches.first_rows is None else [np.zeros(g.shape, g.dtype)
                                                             for g in g_finals]
        # the order backward visits the steps, each with the one that ran before it
        order = batches.order[::-1]
        carry = batches.last_state_grads(g_finals)
        carry[0] = carry[0] + g_outputs[rows[order[0]]]  # (h's gradient: plus its output's)
        for t, before in itertools.zip_longest(order, order[1:]):
            upstream = carry[0] if len(carry) == 1 else tuple(carry)
            if before is None:  # the first step: its state is the node's input
                d = programs[t].backward_for(needs)(contexts[t], upstream)
            elif t not in changes:  # h's gradient starts from its output's share, as in the
                # engine, where the outputs' node is the first to add to it: the same sums
                d = programs[t].backward_for(later_needs, seeded=n_seq)(
                    contexts[t], upstream, g_outputs[rows[before]])
            else:  # h was cut or joined: its share comes after that node's sum
                d = programs[t].backward_for(later_needs)(contexts[t], upstream)
            _collect(d, rows[t], g_sequences, g_fixed, varying)
            carry = list(d[n_seq:varying])  # the gradient of the state step t read
            if before is not None and t in changes:
                carry = batches.resize_back(t, carry, g_finals, g_initial)
                carry[0] = g_outputs[rows[before]] + carry[0]
        if g_initial is not None:  # (reverse) the longest sequences' rows, read at the first step
            for g_init, g in zip(g_initial, carry):
                if g is not None:
                    g_init[:batches.first_rows] = g
            carry = g_initial
        return (*g_sequences, *[g if need else None for g, need in
                                zip(carry, needs[n_seq:varying])], *g_fixed)


def _collect(d: tuple, rows, g_sequences: list, g_fixed: list, varying: int) -> None:
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


def plus(a, b):
    """a + b for two gradients of one value (either may be None or an OuterSum)."""
    if a is None or b is None:
        return b if a is None else a
    if type(a) is OuterSum or type(b) is OuterSum:
        return add_grads(a, b)
    return a + b
