"""A Scan node's forward-mode rule as a Scan of its own: the step and its tangents.

Forward mode through a recurrence is itself a recurrence. With tangents on its
inputs, step t computes the new state and, by each op's own ``jvp`` rule, the
new state's tangent from the input's and the old state's tangents::

    state_t,  t_state_t  =  step(x_t, state_t-1, fixed),
                            J_x t_x_t + J_state t_state_t-1 + J_fixed t_fixed

So the rule of a Scan node is one more Scan node, whose step is the old step with
its tangents' rules written down beside its ops (``jvp_program``): it runs on the
replay's generated code, and the engine's first-order backward differentiates it
as it does any scanned layer (reverse over forward: ``tr.func.hvp``).

The new step carries the first state and its tangent side by side, concatenated
along the last axis, so that the node's output sequence (its first state at every
step) holds both; the node's callers split them. A step whose rules cannot be
replayed (a rule reads a mask its forward derived, which a recording would freeze)
falls back to ``scan.expanded_jvp``: the steps re-run op by op, tangents and all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import autograd
from .autograd import Context, no_grad
from .ops import Concat, Split

if TYPE_CHECKING:
    from .replay import Program, Unscannable
    from .scan import Batches
    from .tensor import Tensor


def scan_carrying_tangents(programs: tuple[Program, ...], batches: Batches, n_seq: int,
                           inputs: Sequence[Tensor]) -> tuple[Tensor, tuple] | None:
    """``run_scan`` inside a jvp whose innermost level has tangents for the node's
    ``inputs``: (the outputs, the final states), from one Scan node that runs the step
    with its tangents' rules, their tangents set at that level; None when the inputs
    carry no tangent there, or the step's rules cannot be replayed. (One node, not the
    step's node and a node for its rule: half the work forward, and backward.)"""
    levels = autograd.forward_levels()
    level = levels[-1]
    tangents = [level.tangent(x) for x in inputs]
    if all(t is None for t in tangents):
        return None
    with autograd.forward_levels_only(levels[:-1]):  # (the new node's rule: outer levels')
        carried = _run_fused(programs, batches, n_seq, inputs, tangents)
    if carried is None:
        return None
    values, t_values = carried
    for value, tangent in zip(values, t_values):
        level.set_tangent(value, tangent)
    return values[0], values[1:]


def fused_jvp(ctx: Context, tangents: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """A Scan node's forward-mode rule: the tangents of its outputs (its output sequence,
    then its final states) from its inputs' ``tangents`` (None: zero), by one Scan node
    running the step with its tangents' rules; None when they cannot be replayed."""
    carried = _run_fused(ctx.programs, ctx.batches, ctx.n_seq, ctx.jvp_inputs, tangents)
    return None if carried is None else carried[1]


def _run_fused(programs: tuple[Program, ...], batches: Batches, n_seq: int,
               inputs: Sequence[Tensor],
               tangents: Sequence[Any]) -> tuple[tuple, tuple] | None:
    """((the output sequence, the final states), their tangents) from the Scan node of
    the step with its tangents' rules (``jvp_program``) on a node's ``inputs`` and their
    ``tangents``; None when the step cannot be so replayed."""
    from .replay import Program  # (replay imports scan, which imports this when run)
    from .scan import run_scan

    n_state = len(programs[0].outputs)
    varying = n_seq + n_state
    first = inputs[n_seq]
    if first.ndim < 2:  # (the pair is side by side along the last axis, the batch's first)
        return None
    moving_sequences = tuple(t is not None for t in tangents[:n_seq])
    moving_fixed = tuple(t is not None for t in tangents[varying:])
    key = (moving_sequences, moving_fixed)
    fused: list[Program] = []  # the new step for each batch size (one, when padded)
    for t in batches.first_steps:
        program = programs[t]
        made = program.jvp_programs.get(key)
        if made is None:
            made = program.jvp_programs[key] = jvp_program(
                program, _step_values(inputs, batches, t, n_seq, n_state),
                _step_values(tangents, batches, t, n_seq, n_state),
                n_seq, n_state, moving_sequences, moving_fixed)
        if not isinstance(made, Program):  # (an Unscannable: the rules cannot be replayed)
            return None
        fused.append(made)
    t_states = _zero_filled(tangents[n_seq:varying], inputs[n_seq:varying])
    sequences = [*inputs[:n_seq], *[t for t in tangents[:n_seq] if t is not None]]
    states = [Concat.apply(first, t_states[0], axis=-1), *inputs[n_seq + 1:varying],
              *t_states[1:]]
    fixed = [*inputs[varying:], *[t for t in tangents[varying:] if t is not None]]
    out_pair, finals = run_scan(batches.per_step(fused), batches, sequences, states, fixed)
    # (the node's output sequence and first state hold value and tangent side by side;
    # its other states are the step's, then their tangents)
    width = first.shape[-1]
    out, t_out = _halves(out_pair, width)
    first_final, t_first_final = _halves(finals[0], width)
    return ((out, first_final, *finals[1:n_state]),
            (t_out, t_first_final, *finals[n_state:]))


def _halves(pair: Tensor, width: int) -> tuple[Tensor, Tensor]:
    """A value and its tangent, from the two side by side (``width`` columns each)."""
    value, tangent = Split.apply(pair, sizes=[width, width], axis=-1)
    return value, tangent


def _zero_filled(tangents: Sequence[Any], inputs: Sequence[Tensor]) -> list[Any]:
    """The tangents, a zero tangent (a constant) for each None."""
    return [t if t is not None else x._constant(np.zeros(x.shape, x.dtype))
            for t, x in zip(tangents, inputs)]


def _step_values(values: Sequence[Any], batches: Batches, t: int, n_seq: int,
                 n_state: int) -> list[np.ndarray | None]:
    """Step t's arrays from the node's inputs or tangents (None stays None): sequences
    cut to its rows, states to its batch size. Values to record the step on."""
    size = None if batches.padded else batches.sizes[t]  # type: ignore[index]
    rows = batches.rows[t]
    cut = [*[rows] * n_seq, *[slice(size)] * n_state]
    return [None if v is None else v.data[cut[k]] if k < len(cut) else v.data
            for k, v in enumerate(values)]


def jvp_program(program: Program, step_values: Sequence[Any], step_tangents: Sequence[Any],
                n_seq: int, n_state: int, moving_sequences: tuple[bool, ...],
                moving_fixed: tuple[bool, ...]) -> Program | Unscannable:
    """The Program of ``program``'s step with its tangents' rules, recorded on one step's
    arrays (``step_values`` and their ``step_tangents``, None for a zero tangent, as the
    node's inputs: the sequences, the states, the fixed inputs the step reads), or why
    it cannot be.

    It reads (the sequences, the tangents of the ``moving_sequences``; the first state
    and its tangent side by side, the other states, their tangents; the fixed inputs,
    the tangents of the ``moving_fixed``) and returns (the first state and its tangent
    side by side, the other states, their tangents)."""
    from .replay import Program, Unscannable, _recorded
    from .tensor import Tensor

    varying = n_seq + n_state
    names = [program.names[s] for s in program.used]
    values = [Tensor(a) for a in step_values]
    moving = [*moving_sequences, *(True,) * n_state, *moving_fixed]
    tangents = [None if not m else Tensor(np.zeros_like(x.data) if t is None else t)
                for t, x, m in zip(step_tangents, values, moving)]
    sequences, states, fixed = values[:n_seq], values[n_seq:varying], values[varying:]
    t_sequences, t_fixed = tangents[:n_seq], tangents[varying:]
    t_states = [t for t in tangents[n_seq:varying] if t is not None]  # (every state has one)
    width = states[0].shape[-1]
    pair = Tensor(np.concatenate([states[0].data, t_states[0].data], axis=-1))
    inputs = [*sequences, *_present(t_sequences), pair, *states[1:], *t_states[1:],
              *fixed, *_present(t_fixed)]
    t_names = [f"t_{n}" for n in names]
    input_names = [*names[:n_seq], *_present(t_names[:n_seq], moving_sequences),
                   f"{names[n_seq]}_and_t", *names[n_seq + 1:varying],
                   *t_names[n_seq + 1:varying], *names[varying:],
                   *_present(t_names[varying:], moving_fixed)]

    def step() -> tuple:
        value, t_value = Split.apply(pair, sizes=[width, width], axis=-1)
        primals = [*sequences, value, *states[1:], *fixed]
        with autograd.noted_forward_level() as level:
            for x, t in zip(primals, [*t_sequences, t_value, *t_states[1:], *t_fixed]):
                if t is not None:
                    level.set_tangent(x, t)
            new = program.run_ops(primals, pair._constant)
            t_new = [level.tangent(s) for s in new]
        if any(t is None for t in t_new):
            return ()  # (a state with no tangent: not a step Program.build takes)
        return (Concat.apply(new[0], t_new[0], axis=-1), *new[1:], *t_new[1:])

    n_sequences, n_states = n_seq + sum(moving_sequences), 2 * n_state - 1
    with no_grad(), np.errstate(all="ignore"):  # (the values only have to be plausible)
        _, made = _recorded(step, inputs, f"{program.name}Jvp", input_names,
                            where=f"jvp of {program.name}", varying=n_sequences + n_states)
    if not isinstance(made, Program):
        return made
    reason = made.why_not_scannable(n_sequences, n_states)
    return made if reason is None else Unscannable(reason)


def _present(values: Sequence[Any], which: Sequence[bool] | None = None) -> list[Any]:
    """The values that are not None (or those ``which`` marks)."""
    if which is None:
        return [v for v in values if v is not None]
    return [v for v, keep in zip(values, which) if keep]
