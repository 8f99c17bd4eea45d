"""The engine: recording ops as graph nodes, and the backward pass over them.

Every differentiable operation is a ``Function`` subclass (see ``ops.py``).
``SomeOp.apply(a, b)`` runs its ``forward`` on the numpy arrays and, when
gradients are wanted, records a graph node (a ``Context``) that remembers the
op, where its inputs came from and whatever ``forward`` saved. ``backward(root,
grad)`` walks those nodes from the root back to the leaves, calls each op's
``backward`` exactly once, and adds up the gradients that reach each tensor.

Read this file top to bottom: the modes (grad mode and the others, one set per
thread), Context, Function, backward, anomaly mode. The walk calls five small
functions by name (``backward_of``, ``conform``, ``add_grads``, ``as_array``,
``gc_paused``), defined here in their obvious form; ``speedups.py`` swaps in
faster ones that give the same gradients, unless the environment variable
``TINYGRAD_RNN_PLAIN=1`` is set.

This module imports nothing else of the package: ``tensor.py`` builds on it,
and ``Function.apply`` wraps its results in the class of its Tensor inputs.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import linecache
import os
import sys
import threading
import weakref
from collections.abc import Callable
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

import numpy as np

if TYPE_CHECKING:
    from typing_extensions import Self

    # tensor.py's Tensor, in annotations. This module imports nothing of the package, not
    # even for mypy, to which a Tensor here is therefore Any.
    Tensor = Any

_F = TypeVar("_F", bound=Callable[..., Any])

# --------------------------------------------------------------------------- modes, per thread


class Modes:
    """One thread's modes: grad mode, the op log of ``noting_ops`` and anomaly detection.

    Each thread has its own (``modes()``), as in torch: a ``no_grad`` block in one
    thread leaves every other thread recording. A new thread starts with grad
    enabled, no op log and anomaly detection off. ``Function.apply`` reads the
    thread's Modes once per op (one thread-local lookup), then plain slots.
    """

    __slots__ = ("grad_enabled", "op_log", "anomaly", "check_nan", "forward_levels")

    def __init__(self) -> None:
        self.grad_enabled = True
        self.op_log: OpLog | None = None  # a list while noting_ops() runs
        self.anomaly = False  # inside detect_anomaly()
        self.check_nan = True  # ... and checking values for nan and inf
        # inside tr.func.jvp: its ForwardLevels, outermost first (forward mode, below)
        self.forward_levels: tuple[ForwardLevel, ...] | None = None


class _PerThread(threading.local):
    def __init__(self) -> None:  # (threading.local runs this once in every thread)
        self.modes = Modes()


_per_thread = _PerThread()


def modes() -> Modes:
    """This thread's modes."""
    return _per_thread.modes


def is_grad_enabled() -> bool:
    """Is this thread recording graphs (not inside ``no_grad``)?"""
    return _per_thread.modes.grad_enabled


class _ModeSwitch:
    """A context manager that is also a decorator: the function runs inside a new one."""

    def __enter__(self) -> None:
        raise NotImplementedError

    def __exit__(self, *exc_info: object) -> None:
        raise NotImplementedError

    def __call__(self, fn: _F) -> _F:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._again():  # a new one per call: calls may overlap (threads, recursion)
                return fn(*args, **kwargs)

        return cast(_F, functools.wraps(fn)(wrapper))

    def _again(self) -> Any:
        return self.__class__()


class no_grad(_ModeSwitch):
    """Context manager (and decorator) in which this thread records no graph.

    >>> with no_grad():
    ...     y = x * 2          # y.requires_grad is False, nothing is saved
    """

    _enabled_inside = False

    @overload
    def __new__(cls, fn: None = None) -> Self: ...
    @overload  # (mypy wants __new__ to make an instance; the decorator form returns fn)
    def __new__(cls, fn: _F) -> _F: ...  # type: ignore[misc]

    def __new__(cls, fn: Callable[..., Any] | None = None) -> Any:
        self = super().__new__(cls)
        return self if fn is None else self(fn)  # bare @no_grad, as torch allows

    def __enter__(self) -> None:
        modes = _per_thread.modes
        self._previous = modes.grad_enabled
        modes.grad_enabled = self._enabled_inside

    def __exit__(self, *exc_info: object) -> None:
        _per_thread.modes.grad_enabled = self._previous


class enable_grad(no_grad):
    """Context manager (and decorator) that turns recording back on inside ``no_grad``."""

    _enabled_inside = True


class set_grad_enabled:
    """Turn this thread's grad mode on or off, as torch's: called alone it sets the mode
    until changed (``set_grad_enabled(False)``); as a context manager it also restores
    the previous mode on leaving the block; as a decorator, the mode holds inside the
    function only. Refuses a ``mode`` that is not a bool.

    >>> with set_grad_enabled(is_training):
    ...     loss = model(x)
    """

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"set_grad_enabled: mode must be a bool (True or False), "
                            f"got {mode!r} ({type(mode).__name__})")
        modes = _per_thread.modes
        self._mode, self._previous = bool(mode), modes.grad_enabled
        modes.grad_enabled = self._mode

    def __enter__(self) -> None:
        pass  # (already set, by __init__)

    def __exit__(self, *exc_info: object) -> None:
        _per_thread.modes.grad_enabled = self._previous

    def __call__(self, fn: _F) -> _F:
        _per_thread.modes.grad_enabled = self._previous  # a decorator changes nothing now
        mode = self._mode

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return cast(_F, functools.wraps(fn)(wrapper))


# --------------------------------------------------------------------------- graph nodes

_creation_order = itertools.count()


class Context:
    """One node of the graph: the op that ran, where its inputs came from, what it saved.

    ``Function.apply`` makes one per op call. ``forward`` receives it as ``ctx``
    and may store anything on it (``ctx.axis = axis``) but the engine's own
    fields, the names in ``__slots__`` (a Function whose forward or backward
    stores one is refused when its class is defined); ``save_for_backward`` is
    the place for arrays. Once backward has run, ``saved_tensors`` is ``FREED``
    (unless retain_graph=True).

    ``seq`` numbers nodes in the order they were created, which backward uses.
    A node does not keep its input *tensors*, only links to their parents:
    ``parents[k]`` is the node that computed input k (and ``parent_indices[k]``
    which of its outputs it was), or input k itself when it is a leaf. So an
    intermediate array lives only as long as the user holds its tensor or an
    op saved it for backward. ``output_meta`` gives the (shape, dtype) of each
    output, all backward needs to know about a gradient's destination.
    """

    __slots__ = ("fn", "seq", "parents", "parent_indices", "needs_input_grad", "saved_tensors",
                 "output_meta", "tuple_output", "output_ids", "__dict__")
    fn: type[Function]
    seq: int
    parents: tuple[Any, ...]  # a Context, or the leaf Tensor itself
    parent_indices: tuple[int, ...]
    needs_input_grad: tuple[bool, ...]
    saved_tensors: tuple[Any, ...]
    output_meta: tuple[tuple[tuple[int, ...], np.dtype], ...]
    tuple_output: bool
    # id() of each output's array: which saved array is which, for a backward that builds
    # a graph (create_graph; an input's is its parent node's, or a leaf's .data). Ids,
    # not arrays: nothing is kept alive.
    output_ids: tuple[int, ...]

    # Most nodes never set these, so they are class defaults, not work for every node.
    # {output index: Tensor} for outputs that called retain_grad()
    retained: dict[int, Tensor] | None = None
    # {output index: name} for outputs given a name (viz shows them)
    names: dict[int, str | None] | None = None
    # (file, line) of the user's code that made the node; noted inside detect_anomaly only
    made_at: tuple[str, int] | None = None

    if TYPE_CHECKING:  # and forward may store anything else on its ctx (ctx.axis = axis)
        def __getattr__(self, name: str) -> Any: ...
        def __setattr__(self, name: str, value: Any) -> None: ...

    def record(self, inputs: tuple[Tensor, ...], out: Any) -> bool:
        """Number the node, link it to its inputs' parents, note its outputs' shapes and
        dtypes (``out``: forward's array, or its tuple of arrays). When no input requires
        grad, record nothing and return False. (``apply`` notes ``output_ids``.)"""
        parents, indices, needs = [], [], []
        for t in inputs:  # (one loop: in Python 3.11 each comprehension is a call)
            parents.append(t._node or t)  # a leaf is its own parent
            indices.append(t._index)
            needs.append(t._requires_grad)
        if True not in needs:
            return False
        self.seq = next(_creation_order)
        self.parents = tuple(parents)
        self.parent_indices = tuple(indices)
        needs = tuple(needs)
        self.needs_input_grad = needs
        self.tuple_output = type(out) is tuple  # (a tuple of one output stays a tuple)
        if self.tuple_output:
            self.output_meta = tuple([(o.shape, o.dtype) for o in out])
        else:
            self.output_meta = ((out.shape, out.dtype),)
        return True

    @property
    def num_outputs(self) -> int:
        return len(self.output_meta)

    @property
    def inputs(self) -> tuple:
        """Input k as the leaf Tensor, or as an ``OpOutput`` (its ``_node`` and ``_index``)."""
        return tuple(p if type(p) is not Context else OpOutput(p, i)
                     for p, i in zip(self.parents, self.parent_indices))

    def save_for_backward(self, *arrays: Any) -> None:
        self.saved_tensors = arrays


class _Freed(tuple):
    """The type of ``FREED``: an empty tuple that is not ``()`` itself."""


FREED = _Freed()  # a freed node's saved_tensors


class OpOutput:
    """Output ``_index`` of node ``_node``: what ``Context.inputs`` shows for a computed input."""

    __slots__ = ("_node", "_index")

    def __init__(self, node: Context, index: int) -> None:
        self._node, self._index = node, index

    def __repr__(self) -> str:
        return f"OpOutput({self._node.fn.__name__}, {self._index})"


class Function:
    """Base class of every op: a static ``forward`` and a static ``backward``.

    ``forward(ctx, *arrays, **params)`` gets numpy arrays (one per Tensor input)
    and returns a numpy array, or a tuple of arrays for an op with several
    outputs. ``backward(ctx, grad)`` gets the gradient of the loss with respect
    to the output (a tuple of them for several outputs) and returns one gradient
    per input, each either of the input's shape or of the broadcast shape (the
    engine sums broadcast dimensions away), or None where no gradient is needed.
    Keyword arguments to ``apply`` are passed to ``forward`` as plain parameters.
    """

    # Elementwise ops with numpy broadcasting say so, for a clearer shape error.
    broadcasts = False
    # False for an op no gradient flows through (a comparison: its output is boolean);
    # such an op records no node, and a replayed step's backward passes it by.
    differentiable = True
    # True for an op whose backward can itself be differentiated (create_graph=True): it
    # is written so that it also runs on Tensors (docs/engine.md, "Gradients of
    # gradients"). False, the default, for a user's Function until it says otherwise.
    twice_differentiable = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _refuse_engine_names(cls)

    # (Any, so that each op declares its own inputs and gradients: ops.py's are arrays)
    @staticmethod
    def forward(ctx: Context, *arrays: Any, **params: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Any, **params: Any) -> Any:
        """Run ``forward`` on the inputs' arrays; record a node if a gradient will be wanted.

        Numbers and arrays among the inputs become constant tensors. The outputs are
        made by the inputs' own ``_from_op`` (``Tensor``'s, in tensor.py, which
        imports this module rather than the other way round)."""
        for x in inputs or (None,):
            if not hasattr(x, "_from_op"):  # a number or an array among them (or nothing)
                inputs = _as_tensors(cls, inputs)
                break
        ctx = _new_node(Context)
        ctx.fn, ctx.saved_tensors = cls, ()
        try:
            out = cls.forward(ctx, *[t.data for t in inputs], **params)
        except ShapeError:
            raise  # already in the user's words
        except ValueError as err:
            raise _shape_error(cls, inputs, err) from None
        modes = _per_thread.modes  # this thread's, read once
        node = ctx if modes.grad_enabled and ctx.record(inputs, out) else None
        if modes.anomaly:  # inside detect_anomaly(): the values checked, the line noted
            _watch_forward(cls, inputs, out, node, modes.check_nan)
        make = inputs[0]._from_op
        if type(out) is tuple:
            result = tuple([make(o, node, i) for i, o in enumerate(out)])
            if node is not None:  # (the arrays the outputs hold: a numpy scalar became one)
                node.output_ids = tuple([id(t.data) for t in result])
        else:
            result = make(out, node, 0)
            if node is not None:
                node.output_ids = (id(result.data),)
                if result.data is not out:  # a numpy scalar (0-d forward), which it may save
                    node.scalar_output_id = id(out)
        if modes.op_log is not None:
            modes.op_log.append((cls, inputs, params, result))
        if modes.forward_levels is not None:  # inside tr.func.jvp: tangents carried too
            carry_tangents(cls, ctx, inputs, params, out, result, modes)
        if node is None:
            ctx.saved_tensors = ()  # nothing will call backward: let the arrays go now
        return result


_new_node = object.__new__  # (a Context has no __init__; this skips looking for one)


def _as_tensors(fn: type[Function], inputs: tuple) -> tuple[Tensor, ...]:
    """``inputs``, every number or array among them made a constant tensor by a tensor
    among them (``Tensor._constant``)."""
    tensors = [x for x in inputs if hasattr(x, "_from_op")]
    if not tensors:
        raise TypeError(f"{fn.__name__}.apply: needs at least one Tensor among its inputs, "
                        f"got {', '.join(type(x).__name__ for x in inputs) or 'none'}")
    return tuple([x if hasattr(x, "_from_op") else tensors[0]._constant(x) for x in inputs])


class ShapeError(ValueError):
    """Inputs whose shapes an op cannot take; the message names the op and the shapes."""


def _shape_error(fn: type[Function], tensors: tuple[Tensor, ...], err: ValueError) -> ShapeError:
    """Retell numpy's shape complaint in the user's words: the op and the shapes."""
    shapes = " and ".join(str(t.shape) for t in tensors)
    if fn.broadcasts and "broadcast" in str(err):
        return ShapeError(f"{fn.__name__.lower()}: shapes {shapes} cannot be broadcast together")
    return ShapeError(f"{fn.__name__.lower()}: {err} (input shapes {shapes})")


# --------------------------------------------------------------------------- the one hook

class OpLog(list):
    """The ops ``noting_ops`` noted, in order, as ``(fn, inputs, params, outputs)``.
    ``frozen`` says why replaying them would be wrong (None: it would not): an op's
    code made a constant of numbers it computed from the step's values (a mask of
    ``x > 0`` saved by a forward and read by a forward-mode rule), which a replay
    would keep at the recorded step's numbers."""

    frozen: str | None = None


def note_frozen(why: str) -> None:
    """Tell the ops being noted (if any) that a constant was just made of a value's
    numbers (``why`` names it): their recording must not be replayed."""
    log = _per_thread.modes.op_log
    if log is not None and log.frozen is None:
        log.frozen = why


class noting_ops:
    """Context manager: every op this thread applies inside is appended, as ``(fn,
    inputs, params, outputs)``, to the list it returns (an ``OpLog``). ``replay.py``
    records a recurrent step this way; it is the only thing the engine does for it.
    Ops of other threads are not noted.

    >>> with noting_ops() as log:
    ...     y = (x * 2).tanh()      # log: [(Mul, ...), (Tanh, ...)]
    """

    def __enter__(self) -> OpLog:
        modes = _per_thread.modes
        if modes.op_log is not None:
            raise RuntimeError("noting_ops: already noting the ops of another block")
        modes.op_log = OpLog()
        return modes.op_log

    def __exit__(self, *exc_info: object) -> None:
        _per_thread.modes.op_log = None

    @staticmethod
    def active() -> bool:
        return _per_thread.modes.op_log is not None


# --------------------------------------------------------------------------- backward

# A gradient as the walk carries it: a numpy array or, behind speedups.py's doors, a lazy
# sum that as_array turns into one (anything with a .shape and a .dtype); None in an
# output's slot until a gradient reaches it.
Gradient = Any


def backward(root: Tensor, grad: np.ndarray, retain_graph: bool = False) -> None:
    """Propagate ``grad`` (dL/droot) to every leaf that requires grad.

    A node may run only after every consumer of its outputs has added its share
    of their gradient. Every consumer was created after the node (an op's
    inputs exist before it), so running nodes from the most recently created
    to the oldest is such an order: a reverse topological order, with no
    search of the graph to find it. ``ready`` is a heap of the nodes that have
    received a gradient, the newest (highest ``seq``) first; ``pending`` holds
    each such node's output gradients, summed over every path seen so far (one
    slot per output). A node no gradient reaches is never visited.
    """
    pending: dict[Context, list[Gradient]] = {root._node: [None] * root._node.num_outputs}
    pending[root._node][root._index] = grad
    ready = [(-root._node.seq, root._node)]
    modes = _per_thread.modes  # (read once: inside detect_anomaly, every node is watched)
    call_backward = _watched_backward(modes.check_nan) if modes.anomaly else _call_backward
    with gc_paused():
        while ready:
            node = heappop(ready)[1]
            in_grads = call_backward(node, pending.pop(node))
            for parent, index, g, needed in zip(node.parents, node.parent_indices, in_grads,
                                                node.needs_input_grad):
                if g is None or not needed:
                    continue
                if type(parent) is not Context:  # a leaf: gradients add up across backward() calls
                    _accumulate_into_leaf(node, parent, g)
                    continue
                shape, dtype = parent.output_meta[index]
                if type(g) is not np.ndarray or g.shape != shape or g.dtype != dtype:
                    g = conform(node, shape, dtype, g)  # a broadcast to undo, a number, a cast
                slots = pending.get(parent)
                if slots is None:  # its first gradient: the parent joins the heap
                    slots = pending[parent] = [None] * len(parent.output_meta)
                    heappush(ready, (-parent.seq, parent))
                if slots[index] is None:
                    slots[index] = g
                else:  # a reused tensor: gradients of all its uses add, never overwrite
                    slots[index] = add_grads(slots[index], g)
            if not retain_graph and node.saved_tensors:
                # drop the saved arrays; a node that saved none stays usable, as in torch
                node.saved_tensors = FREED


def _call_backward(node: Context, out_grads: list[Gradient]) -> tuple:
    """The op's backward on its outputs' gradients: one gradient (or None) per input."""
    if node.saved_tensors is FREED:
        raise RuntimeError(
            f"backward through the graph a second time: the saved values of "
            f"{node.fn.__name__} were freed after the first backward(). "
            f"Pass retain_graph=True to the first backward() to keep them.")
    if node.tuple_output or node.retained is not None:
        upstream = _gather(node, out_grads)
    else:  # one output, the case of most nodes
        upstream = out_grads[0]
        if type(upstream) is not np.ndarray:  # a lazy sum of speedups.py: its product now
            upstream = as_array(upstream)
    in_grads = backward_of(node.fn)(node, upstream)
    if type(in_grads) is not tuple:
        in_grads = (in_grads,)
    if len(in_grads) != len(node.parents):
        raise RuntimeError(f"{node.fn.__name__}.backward returned {len(in_grads)} "
                           f"gradients for {len(node.parents)} inputs")
    return in_grads


def _gather(node: Context, out_grads: list[Gradient]) -> Any:
    """The gradients of a node's outputs as its backward takes them (a tuple for several,
    zeros for an output nobody used), kept in ``.grad`` for outputs that retain it."""
    out_grads = [as_array(g) for g in out_grads]
    if node.retained is not None:
        for i, t in node.retained.items():
            if out_grads[i] is not None:
                # a copy: the array may be shared with other tensors, or a read-only view
                t.grad = out_grads[i].copy() if t.grad is None else t.grad + out_grads[i]
    if not node.tuple_output:
        return out_grads[0]
    return tuple(g if g is not None else np.zeros(shape, dtype)
                 for g, (shape, dtype) in zip(out_grads, node.output_meta))


def _accumulate_into_leaf(node: Context, leaf: Tensor, g: Gradient) -> None:
    """Add ``g`` (from ``node``) into ``leaf.grad``."""
    data = leaf.data
    if type(g) is not np.ndarray or g.shape != data.shape or g.dtype != data.dtype:
        g = as_array(conform(node, data.shape, data.dtype, g))
    if leaf.grad is None:
        # a copy, because g may be shared with other inputs (add passes grad to both)
        # and optimizers update .grad in place
        leaf.grad = g.copy()
    elif type(leaf.grad) is np.ndarray:
        leaf.grad = add_grads(leaf.grad, g)
    else:  # a Tensor left in .grad by backward(create_graph=True)
        leaf.grad = leaf.grad + g


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` down to ``shape``, undoing numpy broadcasting.

    Broadcasting copies an input along new leading axes and along axes of
    size 1; each copy received its own gradient, so the copies' gradients add.
    This is the only place in the engine where broadcasting is undone.
    """
    extra = grad.ndim - len(shape)
    if extra < 0:  # fewer axes than the input: not a broadcast; the caller reports it
        return grad
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def conform(node: Context, shape: tuple, dtype: np.dtype, g: Gradient) -> Gradient:
    """Gradient ``g`` from ``node`` as a gradient of an input of ``shape`` and ``dtype``:
    broadcast axes summed away, cast to the input's dtype."""
    g = np.asarray(as_array(g))
    if g.shape != shape:
        g = unbroadcast(g, shape)
        if g.shape != shape:
            raise RuntimeError(f"{node.fn.__name__}.backward returned a gradient of shape "
                               f"{g.shape} for an input of shape {shape}")
    if g.dtype != dtype:
        g = g.astype(dtype)
    return g


# --------------------------------------------------------------------------- gradients of gradients
# ``backward(create_graph=True)`` and ``grad()`` walk the graph as ``backward`` does, newest
# node first, in a loop of their own: the walk above stays as fast as it is. Under
# create_graph the gradients are Tensors, and each node's backward, the same function the
# fast walk calls, runs with grad mode on, on Tensors, so that its ops are recorded: the
# gradient gets a graph of its own, which can be differentiated again. The node's saved
# arrays are shown to it as Tensors on the graph: a saved input as that input (a leaf
# itself, a computed input as a handle on its node), a saved output as a handle on the
# node's output (``Context.output_ids`` tells which is which); integer and boolean arrays
# and numbers stay constants. An op must say it may be differentiated this way
# (``Function.twice_differentiable``): any other meets a clear error, never a silent
# constant.


class NotTwiceDifferentiableError(RuntimeError):
    """create_graph=True through an op whose backward runs on numpy arrays only."""


def _not_twice_differentiable(node: Context) -> NotTwiceDifferentiableError:
    name = node.fn.__name__
    hint = getattr(node.fn, "create_graph_hint", None) or (
        "its backward runs on numpy arrays only. To make it twice differentiable, write its "
        "backward with operators and numpy functions that Tensors also take, recompute any "
        "float value its forward derived from the inputs, and set "
        "twice_differentiable = True on the class (docs/engine.md, \"Gradients of "
        "gradients\")")
    return NotTwiceDifferentiableError(
        f"create_graph=True: {name}.backward is not twice differentiable: {hint}")


def graph_walk(roots: list[tuple[Tensor, Any]], retain_graph: bool, create_graph: bool,
               inputs: list[Tensor] | None = None) -> list[Any] | None:
    """Propagate each root's gradient (dL/droot) back through the graph.

    ``inputs`` None: into ``.grad`` of every leaf that requires grad (and of the
    outputs that retain it), as ``backward`` does. Otherwise the gradient of each
    tensor of ``inputs`` is returned, one per input (None where none reached it),
    ``.grad`` is left alone, and only the nodes on a path to an input run.
    ``create_graph``: the gradients are Tensors (with a graph) and ``roots``' gradients
    must be Tensors; otherwise arrays, as in ``backward``.
    """
    make, constant = roots[0][0]._from_op, roots[0][0]._constant
    wanted: dict[Any, int] = {}  # id(leaf) or (node, index) -> its position in inputs
    for k, t in enumerate(inputs or ()):
        wanted.setdefault(id(t) if t._node is None else (t._node, t._index), k)
    through = None if inputs is None else _nodes_leading_to(roots, wanted)
    found: list[Any] = [None] * len(inputs or ())
    pending: dict[Context, list[Any]] = {}
    ready: list[tuple[int, Context]] = []

    def add(slots: list[Any], index: int, g: Any) -> None:
        if slots[index] is None:
            slots[index] = g
        elif create_graph:
            slots[index] = slots[index] + g
        else:  # (the container's item itself: see speedups.add_grads)
            slots[index] = add_grads(slots[index], g)

    def reach(parent: Any, index: int, g: Any) -> None:
        """Hand ``g`` to output ``index`` of ``parent`` (a node, or a leaf tensor)."""
        if type(parent) is not Context:  # a leaf
            if through is None:
                _deposit(parent, g, create_graph)
            elif id(parent) in wanted:
                k = wanted[id(parent)]
                found[k] = g if found[k] is None else _plus(found[k], g, create_graph)
            return
        if through is not None and parent not in through and (parent, index) not in wanted:
            return  # no input lies behind it
        slots = pending.get(parent)
        if slots is None:
            slots = pending[parent] = [None] * len(parent.output_meta)
            heappush(ready, (-parent.seq, parent))
        add(slots, index, g)

    for root, g in roots:
        reach(root._node or root, root._index, g)
    with gc_paused():
        while ready:
            node = heappop(ready)[1]
            out_grads = pending.pop(node)
            if through is not None:
                for i, g in enumerate(out_grads):
                    if g is not None and (node, i) in wanted:
                        found[wanted[node, i]] = g
                if node not in through:
                    continue  # an input itself, with nothing wanted behind it
            elif node.retained is not None and create_graph:
                for i, t in node.retained.items():
                    if out_grads[i] is not None:
                        t.grad = out_grads[i] if t.grad is None else t.grad + out_grads[i]
            if create_graph:
                in_grads = _graph_backward(node, out_grads, make, constant)
            else:
                in_grads = _call_backward(node, out_grads)
            for parent, index, g, needed in zip(node.parents, node.parent_indices, in_grads,
                                                node.needs_input_grad):
                if g is None or not needed:
                    continue
                shape, dtype = (parent.shape, parent.dtype) if type(parent) is not Context \
                    else parent.output_meta[index]
                if create_graph:
                    g = _graph_conform(node, shape, dtype, g, constant)
                elif type(g) is not np.ndarray or g.shape != shape or g.dtype != dtype:
                    g = conform(node, shape, dtype, g)
                reach(parent, index, g)
            if not retain_graph and node.saved_tensors:
                node.saved_tensors = FREED
    if inputs is None:
        return None
    return [g if g is None or create_graph else as_array(g) for g in found]


def _plus(a: Any, b: Any, create_graph: bool) -> Any:
    return a + b if create_graph else as_array(a) + as_array(b)


def _deposit(leaf: Tensor, g: Any, create_graph: bool) -> None:
    """Add ``g`` into ``leaf.grad`` (a Tensor with its graph under create_graph)."""
    if not create_graph:
        g = as_array(g)
        leaf.grad = g.copy() if leaf.grad is None else leaf.grad + g
    else:
        leaf.grad = g if leaf.grad is None else leaf.grad + g


def _nodes_leading_to(roots: list[tuple[Tensor, Any]], wanted: dict[Any, int]) -> set[Context]:
    """The nodes from which a path leads to a wanted tensor (a leaf in ``wanted`` by id, a
    computed one by (node, index)) through an input. Nodes in creation order: a node's
    parents come before it, so one pass settles each from its parents."""
    seen: set[Context] = set()
    stack = [r._node for r, _ in roots if r._node is not None]
    while stack:  # (a loop, not a recursion: graphs are deep)
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(p for p in node.parents if type(p) is Context and p not in seen)
    through: set[Context] = set()
    for node in sorted(seen, key=lambda n: n.seq):
        for parent, index, needed in zip(node.parents, node.parent_indices,
                                         node.needs_input_grad):
            if needed and ((id(parent) if type(parent) is not Context else (parent, index))
                           in wanted or parent in through):
                through.add(node)
                break
    return through


def _graph_backward(node: Context, out_grads: list[Any], make: Callable[..., Any],
                    constant: Callable[[Any], Any]) -> tuple:
    """The node's own backward, run on Tensors with grad mode on, its saved arrays shown
    as Tensors on the graph: its ops are recorded, so its result can be differentiated."""
    if not node.fn.twice_differentiable:
        raise _not_twice_differentiable(node)
    saved = node.saved_tensors
    if saved is FREED:
        return _call_backward(node, out_grads)  # (raises the freed-graph error)
    if node.tuple_output:
        upstream: Any = tuple(constant(np.zeros(shape, dtype)) if g is None else g
                              for g, (shape, dtype) in zip(out_grads, node.output_meta))
    else:
        upstream = out_grads[0]
    node.saved_tensors = tuple(_on_graph(node, s, make) for s in saved)
    modes = _per_thread.modes
    previous = modes.grad_enabled
    modes.grad_enabled = True
    try:
        in_grads = node.fn.backward(node, upstream)
    finally:
        node.saved_tensors, modes.grad_enabled = saved, previous
    if type(in_grads) is not tuple:
        in_grads = (in_grads,)
    if len(in_grads) != len(node.parents):
        raise RuntimeError(f"{node.fn.__name__}.backward returned {len(in_grads)} "
                           f"gradients for {len(node.parents)} inputs")
    return in_grads


def _on_graph(node: Context, value: Any, make: Callable[..., Any]) -> Any:
    """A saved value as a twice-differentiable backward sees it under create_graph."""
    if type(value) is not np.ndarray:
        if isinstance(value, np.generic) and getattr(node, "scalar_output_id", None) == id(value):
            return make(np.asarray(value), node, 0)  # the output, which a 0-d forward saved
        return value  # a number, None, a tuple of indices: a constant
    owners = {(parent, index) for parent, index in zip(node.parents, node.parent_indices)
              if _array_id(parent, index) == id(value)}
    if len(owners) > 1:  # one array, two different inputs (x * x.detach())
        raise NotTwiceDifferentiableError(
            f"create_graph=True: {node.fn.__name__} was given one array as two different "
            f"inputs (a tensor and a detached copy of it?), so its saved value cannot be told "
            f"apart; pass a copy (x.detach() * 1.0) for the constant one")
    if owners:
        parent, index = owners.pop()
        return parent if type(parent) is not Context else make(value, parent, index)
    for j, i in enumerate(node.output_ids):
        if i == id(value):
            return make(value, node, j)
    if value.dtype.kind in "fc":
        raise NotTwiceDifferentiableError(
            f"create_graph=True: {node.fn.__name__}.backward is marked twice differentiable, "
            f"but its forward saved a float array of shape {value.shape} that is neither an "
            f"input nor an output: a constant here would give wrong second derivatives. "
            f"Save the inputs (or outputs) and recompute it in backward")
    return value  # integer indices, a boolean mask: constants indeed


def _array_id(parent: Any, index: int) -> int | None:
    """The id of the array an input was: a leaf's ``.data``, or output ``index`` of the
    node that computed it (noted by ``record``; None for a node made otherwise)."""
    if type(parent) is not Context:
        return id(parent.data)
    ids = getattr(parent, "output_ids", None)
    return None if ids is None else ids[index]


def _graph_conform(node: Context, shape: tuple, dtype: np.dtype, g: Any,
                   constant: Callable[[Any], Any]) -> Any:
    """``conform`` for a Tensor gradient: broadcast axes summed away by Tensor ops (so
    that the sum is recorded), cast by ``to``; an array a backward returned is a constant."""
    g = g if hasattr(g, "_from_op") else constant(np.asarray(g))
    if g.shape != shape:
        g = unbroadcast(g, shape)
        if g.shape != shape:
            raise RuntimeError(f"{node.fn.__name__}.backward returned a gradient of shape "
                               f"{g.shape} for an input of shape {shape}")
    if g.dtype != dtype:
        g = g.to(dtype)  # type: ignore[union-attr]  # (a Tensor: this module knows it as Any)
    return g


# --------------------------------------------------------------------------- forward mode
# Inside tr.func.jvp (func.py), every op carries tangents as well as values: after its
# forward, ``apply`` calls ``carry_tangents``, which runs the op's own forward-mode rule,
# its static ``jvp(ctx, *tangents)``, on the inputs' tangents, and notes the result as the
# tangent of the op's output. One forward pass, no backward. A tangent belongs to a
# ForwardLevel (one per jvp call; nested calls stack them), and is kept by the id of the
# array it is the tangent of, so that every Tensor over that array shares it (a backward
# under create_graph shows its saved arrays as new Tensors over them: forward over
# reverse needs no more). Outside jvp, apply reads one slot of the modes it reads anyway.


class NotForwardDifferentiableError(RuntimeError):
    """tr.func.jvp (or jacfwd, hessian, hvp) through an op that has no forward-mode rule."""


class ForwardLevel:
    """One ``tr.func.jvp`` call: the tangent (a Tensor) of each array computed inside it,
    keyed by the array's id. An entry leaves with its array (a weak reference's callback
    drops it), so the tangents live as long as the values they belong to, no longer."""

    __slots__ = ("tangents", "noted", "__weakref__")

    def __init__(self, noted: bool = False) -> None:
        self.tangents: dict[int, tuple[weakref.ref, Tensor]] = {}
        # Its rules' ops are noted after each op's own (``noted_forward_level``)?
        self.noted = noted

    def tangent(self, t: Tensor) -> Tensor | None:
        """The tangent of ``t`` at this level (None: none, a zero tangent)."""
        entry = self.tangents.get(id(t.data))
        return None if entry is None else entry[1]

    def set_tangent(self, t: Tensor, tangent: Tensor) -> None:
        key, level = id(t.data), weakref.ref(self)

        def forget(_: object) -> None:  # the array is gone (a later one may take its id)
            alive = level()
            if alive is not None:
                alive.tangents.pop(key, None)

        self.tangents[key] = (weakref.ref(t.data, forget), tangent)


def forward_levels() -> tuple[ForwardLevel, ...]:
    """This thread's jvp levels, outermost first (empty outside tr.func.jvp)."""
    return _per_thread.modes.forward_levels or ()


@contextlib.contextmanager
def forward_levels_only(levels: tuple[ForwardLevel, ...]) -> Any:
    """Only ``levels`` active in the block, this thread's levels as they were after it
    (the innermost hidden while its own tangents are worked out by hand: ``scan_jvp.py``)."""
    modes = _per_thread.modes
    previous = modes.forward_levels
    modes.forward_levels = levels or None
    try:
        yield
    finally:
        modes.forward_levels = previous


@contextlib.contextmanager
def forward_level() -> Any:
    """A new innermost jvp level for the block (what ``tr.func.jvp`` runs its function in)."""
    level = ForwardLevel()
    with forward_levels_only(forward_levels() + (level,)):
        yield level


@contextlib.contextmanager
def noted_forward_level() -> Any:
    """The one jvp level of the block (outer levels hidden), whose rules' ops
    ``noting_ops`` notes after each op's own: a step and its tangents' rules written
    down together, to be replayed as one step (``scan_jvp.py``). A rule that reads a
    value its op's forward derived and saved (a mask) marks the notes ``frozen``."""
    level = ForwardLevel(noted=True)
    with forward_levels_only((level,)):
        yield level


def carry_tangents(fn: type[Function], ctx: Context, inputs: tuple[Tensor, ...],
                   params: dict[str, Any], out: Any, result: Any, modes: Modes) -> None:
    """After ``fn``'s forward made ``result`` (from forward's ``out``): at each jvp level,
    outermost first, the outputs' tangents by the op's ``jvp`` rule. A level's rule runs
    with only the levels outside it active, on Tensors, so that its own ops carry the
    outer levels' tangents (jvp of jvp), and are recorded when a gradient is wanted
    (reverse over forward). The saved arrays the rule reads are shown to it as the input
    and output Tensors they are; ``ctx.jvp_params`` holds apply's keyword parameters and
    ``ctx.jvp_inputs`` the input Tensors (for their shapes)."""
    levels = modes.forward_levels
    assert levels is not None
    outputs = result if type(result) is tuple else (result,)
    for depth, level in enumerate(levels):
        tangents = [level.tangent(t) for t in inputs]
        if not fn.differentiable or all(t is None for t in tangents):
            continue
        rule = getattr(fn, "jvp", None)
        if rule is None:
            raise _no_forward_rule(fn)
        saved, op_log = ctx.saved_tensors, modes.op_log
        ctx.saved_tensors = tuple(_as_primal(s, inputs, out, outputs) for s in saved)
        ctx.jvp_params, ctx.jvp_inputs = params, inputs
        if level.noted and any(type(s) is np.ndarray for s in ctx.saved_tensors):
            note_frozen(f"{fn.__name__}'s forward-mode rule reads an array its forward derived")
        # (op_log off unless the level is noted: a step being recorded for replay inside
        # a jvp must not note the rules' ops)
        modes.forward_levels = levels[:depth] or None
        modes.op_log = op_log if level.noted else None
        try:
            out_tangents = rule(ctx, *tangents)
        finally:
            ctx.saved_tensors, modes.forward_levels, modes.op_log = saved, levels, op_log
            del ctx.jvp_params, ctx.jvp_inputs
        if type(out_tangents) is not tuple:
            out_tangents = (out_tangents,)
        if len(out_tangents) != len(outputs):
            raise RuntimeError(f"{fn.__name__}.jvp returned {len(out_tangents)} tangents "
                               f"for {len(outputs)} outputs")
        for o, t in zip(outputs, out_tangents):
            if t is not None:
                level.set_tangent(o, _fitted_tangent(fn, o, t))


def _as_primal(saved: Any, inputs: tuple[Tensor, ...], out: Any,
               outputs: tuple[Tensor, ...]) -> Any:
    """A saved value as a jvp rule sees it: an input's or output's array as that Tensor
    (forward's numpy scalar output too); anything else as it is."""
    if type(saved) is np.ndarray:
        for t in inputs:
            if t.data is saved:
                return t
        for o in outputs:
            if o.data is saved:
                return o
    elif isinstance(saved, np.generic):  # a 0-d forward's output, before apply made it an array
        forward_outputs = out if type(out) is tuple else (out,)
        for o, f in zip(outputs, forward_outputs):
            if f is saved:
                return o
    return saved


def _fitted_tangent(fn: type[Function], output: Tensor, t: Any) -> Tensor:
    """A rule's tangent as a Tensor of the output's shape and dtype (a tangent of a
    broadcast input is expanded; an array a rule returned is a constant)."""
    if not hasattr(t, "_from_op"):
        t = output._constant(np.asarray(t))
    if t.shape != output.shape:
        try:
            t = t.expand(output.shape)
        except (ValueError, RuntimeError):
            raise RuntimeError(f"{fn.__name__}.jvp returned a tangent of shape {t.shape} "
                               f"for an output of shape {output.shape}") from None
    if t.dtype != output.dtype:
        t = t.to(output.dtype)
    return cast(Any, t)


def _no_forward_rule(fn: type[Function]) -> NotForwardDifferentiableError:
    name = fn.__name__
    hint = getattr(fn, "jvp_hint", None)
    return NotForwardDifferentiableError(
        f"jvp: {name} has no forward-mode rule (a static jvp method) yet: "
        + (hint or "write one next to its backward, jvp(ctx, *tangents) returning the "
                   "tangent of the output (docs/engine.md, \"Forward mode\")"))


# --------------------------------------------------------------------------- anomaly mode
# Inside detect_anomaly() (this thread only), apply calls _watch_forward for every op and
# backward calls each node's backward through _watched_backward. Outside it, neither runs:
# apply reads one slot it reads anyway, and backward picks its call once per walk.


class AnomalyError(RuntimeError):
    """``detect_anomaly`` caught an op making nan or inf from finite values: the message
    names the op, the shapes and the line of your code that called it."""


class detect_anomaly(_ModeSwitch):
    """Context manager (and decorator) that watches this thread's ops for nan and inf.

    Inside it, the first op whose forward turns finite inputs into nan or inf, and
    the first node whose backward turns finite gradients into a nan or inf
    gradient, raise ``AnomalyError`` naming the op, the shapes and the line of
    your code that called the op (for backward: where its node was made in the
    forward pass, which is noted on every node made inside this block). Any other
    error raised by a node's backward gets that line as a note (Python 3.11+). With
    ``check_nan=False`` the lines are noted but no value is checked.

    It is slow (every value is checked) and runs recurrent layers op by op
    (``replay.is_enabled()`` is False inside it), so that every op is seen. Outside
    it nothing is checked and nothing is noted: it costs nothing.

    >>> with detect_anomaly():
    ...     loss = model(x)       # AnomalyError at the op that made nan ...
    ...     loss.backward()       # ... or at the node whose backward did
    """

    def __init__(self, check_nan: bool = True) -> None:
        if not isinstance(check_nan, (bool, np.bool_)):
            raise TypeError(f"detect_anomaly: check_nan must be a bool (True or False), "
                            f"got {check_nan!r} ({type(check_nan).__name__})")
        self.check_nan = bool(check_nan)

    def __enter__(self) -> None:
        modes = _per_thread.modes
        self._previous = modes.anomaly, modes.check_nan
        modes.anomaly, modes.check_nan = True, self.check_nan

    def __exit__(self, *exc_info: object) -> None:
        modes = _per_thread.modes
        modes.anomaly, modes.check_nan = self._previous

    def _again(self) -> detect_anomaly:
        return detect_anomaly(self.check_nan)


class set_detect_anomaly:
    """Turn anomaly detection (``detect_anomaly``) on or off for this thread, as torch's:
    called alone it holds until changed; as a context manager the previous mode
    comes back on leaving the block. Refuses a ``mode`` or ``check_nan`` that is not
    a bool."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        for name, value in (("mode", mode), ("check_nan", check_nan)):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"set_detect_anomaly: {name} must be a bool (True or False), "
                                f"got {value!r} ({type(value).__name__})")
        modes = _per_thread.modes
        self._previous = modes.anomaly, modes.check_nan
        modes.anomaly, modes.check_nan = bool(mode), bool(check_nan)

    def __enter__(self) -> None:
        pass  # (already set, by __init__)

    def __exit__(self, *exc_info: object) -> None:
        modes = _per_thread.modes
        modes.anomaly, modes.check_nan = self._previous


def is_anomaly_enabled() -> bool:
    """Is this thread inside ``detect_anomaly`` (or ``set_detect_anomaly(True)``)?"""
    return _per_thread.modes.anomaly


def is_anomaly_check_nan_enabled() -> bool:
    """... and checking values for nan and inf (``check_nan``)?"""
    modes = _per_thread.modes
    return modes.anomaly and modes.check_nan


def _watch_forward(fn: type[Function], inputs: tuple[Tensor, ...], out: Any,
                   node: Context | None, check_nan: bool) -> None:
    """In anomaly mode, after ``fn``'s forward: note the user's line on the node, and
    refuse outputs with nan or inf made from finite inputs."""
    where = _user_line()
    if node is not None:
        node.made_at = where
    outputs = out if type(out) is tuple else (out,)
    if not check_nan or all(_finite(o) for o in outputs):
        return
    if not all(_finite(t.data) for t in inputs):
        return  # (nan in, nan out: the op that made the first one was reported)
    raise AnomalyError(
        f"detect_anomaly: {fn.__name__.lower()} produced {_non_finite(outputs)} from finite "
        f"inputs (input shapes {_shapes(t.shape for t in inputs)}, output shape"
        f"{'s' if len(outputs) > 1 else ''} {_shapes(np.shape(o) for o in outputs)}), "
        f"at {_describe_line(where)}")


def _watched_backward(check_nan: bool) -> Callable[[Context, list[Gradient]], tuple]:
    """``_call_backward`` for the walk in anomaly mode: a node's error gets the line that
    made the node as a note, and (``check_nan``) a nan or inf gradient made from finite
    ones raises AnomalyError."""

    def call_backward(node: Context, out_grads: list[Gradient]) -> tuple:
        finite_in = check_nan and all(g is None or _finite(as_array(g)) for g in out_grads)
        try:
            in_grads = _call_backward(node, out_grads)
        except Exception as err:
            add_note = getattr(err, "add_note", None)  # (Python 3.11 and later)
            if add_note is not None:
                add_note(f"detect_anomaly: the failing node, {node.fn.__name__.lower()}, was "
                         f"made at {_describe_line(node.made_at)}")
            raise
        if finite_in:
            for k, g in enumerate(in_grads):
                if g is not None and node.needs_input_grad[k] and not _finite(as_array(g)):
                    raise _backward_anomaly(node, k, as_array(g))
        return in_grads

    return call_backward


def _backward_anomaly(node: Context, k: int, g: np.ndarray) -> AnomalyError:
    name = node.fn.__name__.lower()
    inputs = [p.output_meta[i][0] if type(p) is Context else p.shape
              for p, i in zip(node.parents, node.parent_indices)]
    outputs = [shape for shape, _ in node.output_meta]
    return AnomalyError(
        f"detect_anomaly: the backward of {name} returned {_non_finite((g,))} in the gradient "
        f"of its input {k} from finite output gradients (input shapes {_shapes(inputs)}, "
        f"output shape{'s' if len(outputs) > 1 else ''} {_shapes(outputs)}); the {name} was "
        f"made at {_describe_line(node.made_at)}")


def _finite(a: Any) -> bool:
    a = np.asarray(a)
    return a.dtype.kind not in "fc" or bool(np.isfinite(a).all())


def _non_finite(arrays: Any) -> str:
    """"nan", "inf" or "nan and inf": what the arrays hold that is not finite."""
    nan = any(np.isnan(a).any() for a in map(np.asarray, arrays) if a.dtype.kind in "fc")
    inf = any(np.isinf(a).any() for a in map(np.asarray, arrays) if a.dtype.kind in "fc")
    return " and ".join(word for word, found in (("nan", nan), ("inf", inf)) if found)


def _shapes(shapes: Any) -> str:
    """``(2, 3), (3,) and (1,)``."""
    texts = [str(tuple(s)) for s in shapes]
    return (", ".join(texts[:-1]) + " and " + texts[-1]) if len(texts) > 1 else (
        texts[0] if texts else "none")


# this package's folder: frames in it are the package's, not the user's
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _user_line() -> tuple[str, int] | None:
    """(file, line) of the innermost frame outside this package: the user's call."""
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame = frame.f_back
    return None if frame is None else (frame.f_code.co_filename, frame.f_lineno)


def _describe_line(where: tuple[str, int] | None) -> str:
    """``train.py:12: y = x.log()``, the file relative to the working folder when inside it."""
    if where is None:
        return "an unknown line (the node was made outside detect_anomaly)"
    filename, line = where
    try:
        shown = os.path.relpath(filename)
    except ValueError:  # (another drive, on Windows)
        shown = filename
    if shown.startswith(".."):
        shown = filename
    code = linecache.getline(filename, line).strip()
    return f"{shown}:{line}" + (f": {code}" if code else "")


# --------------------------------------------------------------------------- the speed doors
# The walk above calls five functions by name: ``conform`` (with the walk, since undoing
# broadcasting is part of the algorithm) and these four, as plain as they can be.
# speedups.install() (run when the package is imported, unless TINYGRAD_RNN_PLAIN=1)
# replaces all five with versions that give the same gradients faster.


def backward_of(fn: type[Function]) -> Callable[[Context, Any], Any]:
    """The backward the walk calls for op class ``fn``: its own."""
    return fn.backward


def add_grads(previous: Gradient, g: Gradient) -> Gradient:
    """The sum of two gradients of one tensor."""
    return previous + g


def as_array(g: Gradient) -> np.ndarray:
    """A gradient as an array (the fast path may keep one lazy)."""
    return g


gc_paused = contextlib.nullcontext  # the fast path pauses the cyclic garbage collector


# --------------------------------------------------------------------------- a guard

# What the engine stores on a node, and why, for the error below.
_ENGINE_FIELDS = {
    "fn": "the op's class", "seq": "the node's creation number, which orders backward",
    "parents": "the links to the inputs' nodes", "parent_indices": "which output of each",
    "needs_input_grad": "which inputs want a gradient", "output_meta": "the outputs' shapes",
    "tuple_output": "whether forward returned a tuple", "retained": "retain_grad()'s tensors",
    "names": "the outputs' names", "output_ids": "which saved array is which (create_graph)",
    "made_at": "the line that made the node (detect_anomaly)",
    "jvp_params": "apply's keyword parameters (forward mode)",
    "jvp_inputs": "the input Tensors (forward mode)",
}


def _refuse_engine_names(fn_class: type[Function]) -> None:
    """A forward or backward that stores one of the engine's own names on ctx
    (``ctx.seq = ...``) would be overwritten by the engine, or worse, would reorder or
    relink the graph without a word: refuse it when the class is defined. (This reads
    the methods' bytecode for stores on their first argument, so it costs nothing per
    call; a name set some other way, through setattr or a helper, is not seen.)"""
    import dis  # (only here: reading bytecode is this guard's business alone)

    for method in ("forward", "backward"):
        code = getattr(getattr(fn_class, method, None), "__code__", None)
        if code is None or code.co_argcount == 0 or _ENGINE_FIELDS.keys().isdisjoint(code.co_names):
            continue  # (no such name anywhere in the method: nothing to disassemble)
        ctx_name, previous = code.co_varnames[0], None
        for instruction in dis.get_instructions(code):
            if (instruction.opname == "STORE_ATTR" and instruction.argval in _ENGINE_FIELDS
                    and previous is not None and previous.opname.startswith("LOAD_FAST")
                    and ctx_name in (previous.argval if isinstance(previous.argval, tuple)
                                     else (previous.argval,))):
                field = instruction.argval
                raise TypeError(
                    f"{fn_class.__name__}.{method} sets {ctx_name}.{field}, a name the engine "
                    f"uses ({_ENGINE_FIELDS[field]}) and would overwrite; keep the value under "
                    f"another name, e.g. {ctx_name}.my_{field}")
            previous = instruction
