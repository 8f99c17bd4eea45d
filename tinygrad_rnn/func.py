"""Function transforms, as torch.func: ``vjp``, ``jvp``, ``jacrev``, ``jacfwd``, ``hessian``,
``grad``, and ``hvp``; and ``functional_call``, a module as a function of its parameters.

Two ways to differentiate a function f at x:

- **reverse mode** (``vjp``, ``grad``, ``jacrev``): run f, then walk its graph backwards
  from a cotangent v of the output, giving v^T J, a row of the Jacobian J per walk;
- **forward mode** (``jvp``, ``jacfwd``): carry a tangent u along with every value of
  f's forward pass, by each op's own ``jvp`` rule, giving J u, a column per pass, with
  no graph and no backward (``autograd.carry_tangents``).

The transforms nest as torch.func's do (``jacrev(jacrev(f))``, ``jacfwd(jacrev(f))`` is
``hessian``, ``grad(grad(f))``): a reverse transform builds its gradient as a graph
(``create_graph=True``) whenever something outside it may differentiate the result, and
forward mode keeps one tangent per ``jvp`` level. Inputs may be Tensors, arrays or
numbers; outputs are Tensors. Functions may return a Tensor or a tuple of Tensors.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from . import autograd, ops
from .arguments import describe, is_int, one_of, size
from .autograd import NotForwardDifferentiableError, enable_grad
from .tensor import Tensor, grad as autograd_grad, stack

__all__ = ["vjp", "jvp", "jacrev", "jacfwd", "hessian", "hvp", "grad", "functional_call",
           "NotForwardDifferentiableError"]

Argnums = int | tuple[int, ...]


# --------------------------------------------------------------------------- arguments


def _as_tensor(where: str, name: str, value: Any) -> Tensor:
    """A Tensor, or a number or numeric array made one (float64 for ints, as Tensor())."""
    if isinstance(value, Tensor):
        return value
    try:
        return Tensor(value)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: {name} must be a Tensor, a number or a numeric array, got "
                        f"{describe(value)}") from None


def _tensor_tuple(where: str, name: str, value: Any) -> tuple[Tensor, ...]:
    """A tuple (or list) of Tensors, arrays or numbers, as Tensors (torch.func's jvp wants a
    tuple; a lone Tensor or array is taken too)."""
    if isinstance(value, (Tensor, np.ndarray)):
        value = (value,)
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"{where}: {name} must be a tuple of Tensors, got {describe(value)}")
    return tuple(_as_tensor(where, f"{name}[{k}]", v) for k, v in enumerate(value))


def _outputs(where: str, result: Any) -> tuple[list[Tensor], bool]:
    """A function's output as a list of Tensors, and whether it was a single Tensor."""
    if isinstance(result, Tensor):
        return [result], True
    if isinstance(result, (tuple, list)) and result and all(isinstance(r, Tensor) for r in result):
        return list(result), False
    raise TypeError(f"{where}: the function must return a Tensor or a tuple of Tensors, got "
                    f"{describe(result)}")


def _split_aux(where: str, result: Any, has_aux: bool) -> tuple[Any, Any]:
    """(output, aux) of a function called with ``has_aux``: it returns a pair."""
    if not has_aux:
        return result, None
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError(f"{where}: with has_aux=True the function must return a pair "
                        f"(output, aux), got {describe(result)}")
    return result


def _argnums(where: str, argnums: Any, n_args: int) -> tuple[int, ...]:
    """``argnums`` (an int or a tuple of ints) as a tuple of positions in range."""
    nums = (argnums,) if is_int(argnums) else argnums
    if not (isinstance(nums, tuple) and nums and all(is_int(a) for a in nums)):
        raise TypeError(f"{where}: argnums must be an int or a non-empty tuple of ints, got "
                        f"{describe(argnums)}")
    for a in nums:
        if not -n_args <= a < n_args:
            raise ValueError(f"{where}: argnums {a} is out of range for a function called "
                             f"with {n_args} positional argument{'s' * (n_args != 1)}")
    return tuple(int(a) % n_args for a in nums)


def _with_args(func: Callable[..., Any], args: Sequence[Any],
               nums: tuple[int, ...]) -> Callable[..., Any]:
    """``func`` as a function of the arguments at ``nums`` alone, the others fixed (a
    numpy array among them as a Tensor; numbers and other objects as they are)."""
    fixed = [Tensor(a) if isinstance(a, np.ndarray) else a for a in args]

    def partial(*chosen: Any) -> Any:
        full = list(fixed)
        for a, value in zip(nums, chosen):
            full[a] = value
        return func(*full)
    return partial


def _chosen(where: str, func: Callable[..., Any], args: Sequence[Any],
            argnums: Any) -> tuple[tuple[int, ...], tuple[Tensor, ...], Callable[..., Any]]:
    """(the positions ``argnums`` picks, the arguments there as Tensors, ``func`` as a
    function of those alone): what a transform with ``argnums`` differentiates."""
    nums = _argnums(where, argnums, len(args))
    points = tuple(_as_tensor(where, f"argument {a}", args[a]) for a in nums)
    return nums, points, _with_args(func, args, nums)


# --------------------------------------------------------------------------- reverse mode

_reverse = threading.local()  # .depth: reverse transforms whose function runs, in this thread


@contextmanager
def _inside_reverse() -> Iterator[None]:
    _reverse.depth = getattr(_reverse, "depth", 0) + 1
    try:
        yield
    finally:
        _reverse.depth -= 1


def _differentiated_outside(primals: Sequence[Tensor]) -> bool:
    """May something outside this transform differentiate its result? Then its gradients
    must be built as a graph (create_graph): inside another reverse transform, inside a
    jvp (forward over reverse), or when a primal requires grad itself."""
    return (getattr(_reverse, "depth", 0) > 0 or bool(autograd.forward_levels())
            or any(p.requires_grad for p in primals))


def _has_tangent(t: Tensor) -> bool:
    return any(level.tangent(t) is not None for level in autograd.forward_levels())


def _reverse_input(x: Tensor) -> Tensor:
    """A tensor to differentiate against, standing for ``x``: a differentiable copy of it
    when x requires grad (an outer gradient flows through), else a new leaf over the same
    values (over x's own array when x has a tangent, which is kept by its array: forward
    over reverse; over a view otherwise, so that a constant over x's array stays apart)."""
    if x.dtype.kind != "f":
        raise TypeError(f"func: only floating-point inputs can be differentiated, got a "
                        f"Tensor of dtype {x.dtype}")
    if x.requires_grad:
        return ops.Reshape.apply(x, shape=x.shape)
    return Tensor(x.data if _has_tangent(x) else x.data.view(), requires_grad=True)


class _Pullback:
    """What a vjp needs after the forward pass: the outputs, the inputs, how to walk."""

    def __init__(self, outs: list[Tensor], inputs: list[Tensor], create_graph: bool) -> None:
        self.outs, self.inputs, self.create_graph = outs, inputs, create_graph

    def __call__(self, cotangents: Sequence[Any]) -> tuple[Tensor, ...]:
        """v^T J for cotangent v (one per output; None: zero), one gradient per input."""
        pairs = [(o, v) for o, v in zip(self.outs, cotangents)
                 if v is not None and o.requires_grad]
        if not pairs:
            return tuple(_zeros(x) for x in self.inputs)
        found = autograd_grad([o for o, _ in pairs], self.inputs,
                              [_as_tensor("vjp", "cotangent", v) for _, v in pairs],
                              retain_graph=True, create_graph=self.create_graph,
                              allow_unused=True)
        return tuple(_zeros(x) if g is None else g for g, x in zip(found, self.inputs))


def _zeros(x: Tensor) -> Tensor:
    return Tensor(np.zeros(x.shape, x.dtype))


def _forward_for_reverse(where: str, func: Callable[..., Any], primals: tuple[Tensor, ...],
                         has_aux: bool) -> tuple[Any, Any, _Pullback, bool]:
    """Run ``func`` on stand-ins of ``primals`` with grad on: (output, aux, its pullback,
    whether the output was a single Tensor)."""
    create = _differentiated_outside(primals)
    inputs = [_reverse_input(p) for p in primals]
    with _inside_reverse(), enable_grad():
        output, aux = _split_aux(where, func(*inputs), has_aux)
    outs, single = _outputs(where, output)
    return output, aux, _Pullback(outs, inputs, create), single


def _plain(output: Any, keep: bool) -> Any:
    """An output as a transform returns it: as it is when something outside may
    differentiate it, else detached (as torch.func returns plain tensors)."""
    if keep:
        return output
    if isinstance(output, Tensor):
        return output.detach()
    return type(output)(o.detach() for o in output)


def vjp(func: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """``(func(*primals), vjp_fn)``, as torch.func.vjp: ``vjp_fn(cotangents)`` returns
    v^T J, one gradient per primal (a tuple), for a cotangent v of the output's
    structure (a Tensor or array, or a tuple of them for a tuple output).

    Arguments:
        func: a function of Tensors returning a Tensor or a tuple of Tensors (and, with
            ``has_aux``, a pair (output, aux): aux is returned third, untouched).
        primals: the point: Tensors, arrays or numbers.
    """
    where = "vjp"
    points = tuple(_as_tensor(where, f"primals[{k}]", p) for k, p in enumerate(primals))
    if not points:
        raise TypeError(f"{where}: needs at least one primal to differentiate against")
    output, aux, pull, single = _forward_for_reverse(where, func, points, has_aux)

    def vjp_fn(cotangents: Any) -> tuple[Tensor, ...]:
        cots = [cotangents] if single else list(cotangents)
        if len(cots) != len(pull.outs):
            raise ValueError(f"vjp_fn: expected {len(pull.outs)} cotangents, one per output, "
                             f"got {len(cots)}")
        for k, (v, o) in enumerate(zip(cots, pull.outs)):
            if np.shape(v.data if isinstance(v, Tensor) else v) != o.shape:
                raise ValueError(f"vjp_fn: cotangent {k} has shape {np.shape(v)}, but the "
                                 f"output has shape {o.shape}")
        return pull(cots)

    output = _plain(output, pull.create_graph)
    return (output, vjp_fn, aux) if has_aux else (output, vjp_fn)


def grad(func: Callable[..., Any], argnums: Argnums = 0,
         has_aux: bool = False) -> Callable[..., Any]:
    """The gradient of ``func`` as a function, as torch.func.grad: ``grad(f)(x)`` is
    df/dx for an f returning one element (a loss).

    Arguments:
        func: a function of Tensors returning a one-element Tensor (with ``has_aux``, a
            pair (output, aux); the transform then returns (gradient, aux)).
        argnums: which positional argument(s) to differentiate against: an int (the
            gradient is a Tensor) or a tuple of ints (a tuple of gradients).
    """
    def grad_fn(*args: Any) -> Any:
        where = "grad"
        _, points, partial = _chosen(where, func, args, argnums)
        output, aux, pull, single = _forward_for_reverse(where, partial, points, has_aux)
        if not single or output.size != 1:
            raise RuntimeError(f"{where}: the function must return a Tensor of one element "
                               f"(a loss), got {_shape_of(output)}")
        grads = pull([np.ones(output.shape, output.dtype)])
        result = grads[0] if is_int(argnums) else grads
        return (result, aux) if has_aux else result

    return grad_fn


def _shape_of(output: Any) -> str:
    if isinstance(output, Tensor):
        return f"shape {output.shape}"
    return f"a {type(output).__name__} of {len(output)}"


def jacrev(func: Callable[..., Any], argnums: Argnums = 0, *, has_aux: bool = False,
           chunk_size: int | None = None) -> Callable[..., Any]:
    """The Jacobian of ``func`` by reverse mode, as torch.func.jacrev: one backward walk
    per output element, each giving a row. ``jacrev(f)(x)`` has shape
    ``f(x).shape + x.shape``; a tuple ``argnums`` gives a tuple of Jacobians, a tuple
    output a tuple (per output) of them. ``chunk_size`` (None or a positive int) is
    accepted for torch's signature: every chunk size gives the same Jacobian, and the
    rows are computed one at a time."""
    if chunk_size is not None:
        size("jacrev", "chunk_size", chunk_size, minimum=1)

    def jacobian(*args: Any) -> Any:
        where = "jacrev"
        nums, points, partial = _chosen(where, func, args, argnums)
        _, aux, pull, single = _forward_for_reverse(where, partial, points, has_aux)
        per_output = []
        for k, out in enumerate(pull.outs):
            rows: list[list[Tensor]] = [[] for _ in nums]
            for i in range(out.size):
                one_hot = np.zeros(out.size, out.dtype)
                one_hot[i] = 1.0
                cots: list[Any] = [None] * len(pull.outs)
                cots[k] = one_hot.reshape(out.shape)
                for j, g in enumerate(pull(cots)):
                    rows[j].append(g)
            jacs = tuple(_assemble(r, out.shape, x.shape, x.dtype, rows_first=True)
                         for r, x in zip(rows, points))
            per_output.append(jacs[0] if is_int(argnums) else jacs)
        result = per_output[0] if single else tuple(per_output)
        return (result, aux) if has_aux else result

    return jacobian


def _assemble(parts: list[Tensor], out_shape: tuple[int, ...], in_shape: tuple[int, ...],
              dtype: np.dtype, rows_first: bool) -> Tensor:
    """A Jacobian of shape out_shape + in_shape from its rows (one per output element,
    of in_shape) or its columns (one per input element, of out_shape), by Tensor ops,
    so that a transform outside differentiates it too."""
    if not parts:  # an empty output or input
        return Tensor(np.zeros(out_shape + in_shape, dtype))
    stacked = stack(parts, dim=0 if rows_first else -1)
    return stacked.reshape(out_shape + in_shape)


# --------------------------------------------------------------------------- forward mode


def _forward_input(x: Tensor) -> Tensor:
    """A tensor standing for primal ``x`` in a new jvp level: a differentiable copy when x
    requires grad or carries an outer level's tangent (both must flow through), else a
    new tensor over a view of x's values (tangents are kept by the array: a view keeps
    this one apart from any constant over x's own array)."""
    if x.dtype.kind != "f":
        raise TypeError(f"jvp: only floating-point primals can carry a tangent, got a "
                        f"Tensor of dtype {x.dtype}")
    if x.requires_grad or _has_tangent(x):
        return ops.Reshape.apply(x, shape=x.shape)
    return Tensor(x.data.view())


def _primals_and_tangents(where: str, primals: Any,
                          tangents: Any) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
    """The primals and their tangents as Tensors: one tangent per primal, of its shape."""
    points = _tensor_tuple(where, "primals", primals)
    ts = _tensor_tuple(where, "tangents", tangents)
    if len(ts) != len(points) or not points:
        raise ValueError(f"{where}: expected one tangent per primal ({len(points)} primals), "
                         f"got {len(ts)} tangents")
    for k, (p, t) in enumerate(zip(points, ts)):
        if p.shape != t.shape:
            raise ValueError(f"{where}: tangents[{k}] has shape {t.shape}, but primals[{k}] "
                             f"has shape {p.shape}")
    return points, ts


def jvp(func: Callable[..., Any], primals: Any, tangents: Any, *, strict: bool = False,
        has_aux: bool = False) -> tuple[Any, ...]:
    """``(func(*primals), J u)``, as torch.func.jvp: the output and its tangent for
    tangents u of the primals, carried through each op's forward-mode rule in one forward
    pass (no backward).

    Arguments:
        func: a function of Tensors returning a Tensor or a tuple of Tensors (with
            ``has_aux``, a pair (output, aux): aux is returned third).
        primals: a tuple of Tensors, arrays or numbers: the point.
        tangents: a tuple of the same length, each of its primal's shape.
        strict: accepted for torch's signature.

    Raises NotForwardDifferentiableError naming an op on the way that has no
    forward-mode rule.
    """
    where = "jvp"
    points, ts = _primals_and_tangents(where, primals, tangents)
    duals = [_forward_input(p) for p in points]  # (before the new level: outer ones carry)
    with autograd.forward_level() as level:
        for d, t in zip(duals, ts):
            level.set_tangent(d, t if t.dtype == d.dtype else t.to(d.dtype))
        output, aux = _split_aux(where, func(*duals), has_aux)
    outs, single = _outputs(where, output)
    tangent_outs = [level.tangent(o) for o in outs]
    tangent_outs = [_zeros(o) if t is None else t for t, o in zip(tangent_outs, outs)]
    tangent_out = tangent_outs[0] if single else type(output)(tangent_outs)
    return (output, tangent_out, aux) if has_aux else (output, tangent_out)


def jacfwd(func: Callable[..., Any], argnums: Argnums = 0, has_aux: bool = False, *,
           randomness: str = "error") -> Callable[..., Any]:
    """The Jacobian of ``func`` by forward mode, as torch.func.jacfwd: one jvp per input
    element, each giving a column. Shapes and ``argnums`` as ``jacrev``; ``randomness``
    ("error", "different" or "same", as torch) is accepted for torch's signature: with
    no vmap, the columns are separate calls, and a random draw inside is the caller's."""
    one_of("jacfwd", "randomness", randomness, ("error", "different", "same"))

    def jacobian(*args: Any) -> Any:
        where = "jacfwd"
        nums, points, partial = _chosen(where, func, args, argnums)
        columns: list[list[list[Tensor]]] = []  # [argument][output][column]
        output: Any = None
        aux: Any = None
        for j, x in enumerate(points):
            per_output: list[list[Tensor]] | None = None
            for i in range(x.size):
                basis = [np.zeros(p.shape, p.dtype) for p in points]
                basis[j].reshape(-1)[i] = 1.0
                result = jvp(partial, points, tuple(basis), has_aux=has_aux)
                output, t_out = result[0], result[1]
                aux = result[2] if has_aux else None
                outs, _ = _outputs(where, t_out)
                per_output = per_output or [[] for _ in outs]
                for k, t in enumerate(outs):
                    per_output[k].append(t)
            columns.append(per_output or [])
        if output is None:  # every argument is empty: run once for the output's shape
            output = partial(*points)
            output, aux = _split_aux(where, output, has_aux)
        outs, single = _outputs(where, output)
        per_out = []
        for k, out in enumerate(outs):
            jacs = tuple(_assemble(columns[j][k] if columns[j] else [], out.shape, x.shape,
                                   out.dtype, rows_first=False)
                         for j, x in enumerate(points))
            per_out.append(jacs[0] if is_int(argnums) else jacs)
        result = per_out[0] if single else tuple(per_out)
        return (result, aux) if has_aux else result

    return jacobian


def hessian(func: Callable[..., Any], argnums: Argnums = 0) -> Callable[..., Any]:
    """The Hessian of ``func`` (returning one element), as torch.func.hessian:
    ``jacfwd(jacrev(func, argnums), argnums)``, forward over reverse.
    ``hessian(f)(x)`` has shape ``x.shape + x.shape``."""
    return jacfwd(jacrev(func, argnums), argnums)


def hvp(func: Callable[..., Any], primals: Any,
        tangents: Any) -> tuple[Tensor, tuple[Tensor, ...] | Tensor]:
    """``(func(*primals), H v)``: the Hessian of ``func`` (returning one element) times
    the tangents v, without forming H, as the gradient of the directional derivative
    (reverse over forward): grad_x <grad f(x), v> = H v. One forward pass carries v
    (``jvp``), recording the tangents' ops, and one first-order backward walks them. The
    other way round, the jvp of the gradient, would run the backward as ops carrying
    tangents; this way the backward is the engine's fast one (a scanned layer's forward
    rule is a Scan node too, ``scan_jvp.py``). H is symmetric, so both give H v.

    Arguments:
        func: a function of Tensors returning a one-element Tensor (a loss).
        primals: a tuple of Tensors, arrays or numbers: the point (or one Tensor or array).
        tangents: a tuple of the same length, each of its primal's shape.

    Returns the value and a tuple with one product per primal, or the product alone for
    a lone Tensor or array ``primals`` (torch.func has no hvp;
    torch.autograd.functional.hvp returns the same pair).
    """
    points, ts = _primals_and_tangents("hvp", primals, tangents)
    lone = isinstance(primals, (Tensor, np.ndarray))

    def directional(*xs: Tensor) -> tuple[Tensor, Tensor]:
        value, slope = jvp(func, xs, ts)
        if value.size != 1:
            raise RuntimeError(f"hvp: the function must return a Tensor of one element (a "
                               f"loss), got {_shape_of(value)}")
        return slope, value

    products, value = grad(directional, argnums=tuple(range(len(points))), has_aux=True)(*points)
    return _plain(value, _differentiated_outside(points)), products[0] if lone else products


# --------------------------------------------------------------------------- modules


def functional_call(module: Any, parameter_and_buffer_dicts: Any, args: Any = (),
                    kwargs: dict[str, Any] | None = None, *, tie_weights: bool = True,
                    strict: bool = False) -> Any:
    """``module(*args, **kwargs)`` with the given tensors in place of the parameters they
    name, as torch.func.functional_call: the way to differentiate a module with respect to
    its parameters by the transforms (``hvp(lambda *w: loss(functional_call(layer,
    dict(zip(names, w)), x)), weights, vs)``).

    Arguments:
        module: an ``nn.Module``.
        parameter_and_buffer_dicts: {dotted name: Tensor or array} (or a tuple of such
            dicts), each of its parameter's shape. A name the module has not is refused.
        args: the positional arguments (a tuple; a lone value is one argument).
        kwargs: the keyword arguments.
        tie_weights: a parameter that appears under several names (a layer and its
            cells share theirs) is replaced under all of them (torch's default); False:
            only under the name given.
        strict: every parameter must be given.

    The module's attributes are swapped for the call and put back after it, even when it
    raises (as torch does): another thread calling the same module meanwhile sees the
    swapped tensors.
    """
    where = "functional_call"
    given = _parameter_dict(where, parameter_and_buffer_dicts)
    named = dict(module.named_parameters())
    unknown = [n for n in given if n not in named]
    if unknown:
        raise ValueError(f"{where}: {type(module).__name__} has no parameter "
                         f"{', '.join(map(repr, unknown))}; its parameters are "
                         f"{', '.join(named) or 'none'}")
    missing = [n for n in named if n not in given]
    if strict and missing:
        raise ValueError(f"{where}: strict=True, but no tensor is given for "
                         f"{', '.join(map(repr, missing))}")
    values = {n: _as_tensor(where, f"the value of {n!r}", v) for n, v in given.items()}
    for n, v in values.items():
        if v.shape != named[n].shape:
            raise ValueError(f"{where}: {n!r} has shape {named[n].shape}, got a tensor of "
                             f"shape {v.shape}")
    args = args if isinstance(args, tuple) else (args,)
    replacing = {id(named[n]): v for n, v in values.items()}
    swaps = _swaps(module, replacing, values, tie_weights)
    for owner, attribute, new, _ in swaps:
        vars(owner)[attribute] = new
    try:
        return module(*args, **(kwargs or {}))
    finally:
        for owner, attribute, _, old in swaps:
            vars(owner)[attribute] = old


def _parameter_dict(where: str, dicts: Any) -> dict[str, Any]:
    """One {name: value} from a dict or a tuple of dicts (a name given twice is refused)."""
    parts = dicts if isinstance(dicts, (tuple, list)) else (dicts,)
    merged: dict[str, Any] = {}
    for part in parts:
        if not isinstance(part, dict):
            raise TypeError(f"{where}: parameter_and_buffer_dicts must be a dict of "
                            f"{{name: Tensor}} or a tuple of them, got {describe(part)}")
        for name, value in part.items():
            if name in merged:
                raise ValueError(f"{where}: {name!r} is given in more than one dict")
            merged[name] = value
    return merged


def _swaps(module: Any, by_id: dict[int, Tensor], by_name: dict[str, Tensor],
           tie_weights: bool) -> list[tuple[Any, str, Tensor, Any]]:
    """(owner module, attribute, new value, old value) for every attribute to swap: every
    one holding a replaced parameter when ``tie_weights``, else those at the given names."""
    swaps = []
    for prefix, owner in module.named_modules():
        for attribute, value in vars(owner).items():
            name = f"{prefix}.{attribute}" if prefix else attribute
            if tie_weights and isinstance(value, Tensor) and id(value) in by_id:
                swaps.append((owner, attribute, by_id[id(value)], value))
            elif not tie_weights and name in by_name:
                swaps.append((owner, attribute, by_name[name], value))
    return swaps
