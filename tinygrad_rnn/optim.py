"""Optimizers with torch.optim's names, defaults and update rules.

An optimizer holds tensors, not a model: any ``Tensor`` with
``requires_grad=True`` can be optimized. ``step()`` reads each ``p.grad`` and
updates ``p.data`` in place, in ``p``'s own dtype (float32 stays float32);
tensors whose ``grad`` is None are skipped and keep their state untouched.

The rules below are torch's (its single-tensor code path), written for one
parameter ``p`` with gradient ``g`` at step ``t = 1, 2, ...``; ``wd`` is
weight_decay, and every rule starts with ``g = -g`` if ``maximize`` and then
``g = g + wd * p``.

``params`` is an iterable of tensors, or of dicts (param groups) as in torch:
``SGD([{"params": [w]}, {"params": [b], "lr": 0.1}], lr=0.01)``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .arguments import describe, flag, is_int, is_real, number
from .tensor import Tensor

if TYPE_CHECKING:
    from typing import TypeAlias

    # tensors, or param groups: dicts with the key "params" (as torch's ParamsT)
    Params: TypeAlias = "Iterable[Tensor] | Iterable[dict[str, Any]]"

# An option's check: (who refuses, the option's name as the user wrote it, value) ->
# the value as the optimizer keeps it (a float, a bool, a pair of floats).
Check = Callable[[str, str, Any], Any]


def _nonnegative(where: str, name: str, value: Any) -> float:
    """A finite real >= 0 (torch refuses negative lr, eps, weight decay, ...; NaN and
    inf would turn every parameter into NaN at the first step)."""
    return number(where, name, value, minimum=0.0)


def _betas(where: str, name: str, value: Any) -> tuple[float, float]:
    """A pair of finite reals, each in [0, 1)."""
    if isinstance(value, np.ndarray):  # as a state dict stores it
        value = value.tolist()
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"{where}: {name} must be a pair of floats in [0, 1), "
                        f"got {describe(value)}")
    if len(value) != 2:
        raise ValueError(f"{where}: {name} must be a pair of floats in [0, 1), got "
                         f"{len(value)} value(s): {describe(value)}")
    pair = tuple(number(where, f"{name}[{i}]", beta, minimum=0.0) for i, beta in enumerate(value))
    for i, beta in enumerate(pair):
        if beta >= 1.0:
            raise ValueError(f"{where}: {name}[{i}] must be in [0, 1), got {beta}")
    return pair[0], pair[1]


def _state_value(value: Any) -> Any:
    """A stored option as a plain Python value: 0-d arrays and numpy scalars unwrapped,
    1-d arrays as tuples, so that the option checks read it as they read arguments."""
    if isinstance(value, np.ndarray):
        return value.item() if value.ndim == 0 else tuple(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


class Optimizer:
    """Base class: param groups, per-parameter state, ``zero_grad`` and ``step``.

    Subclasses set their defaults in ``__init__``, declare how each option is
    checked (``OPTIONS``) and which state they keep (``STATE``), and implement
    ``_update(p, g, state, group)``, which changes ``p.data`` in place.

    Options are checked where they enter: in the constructor, ``add_param_group``
    and ``load_state_dict``, never in ``step``. Refused: options that are not
    finite reals >= 0 (lr, eps, weight_decay, ...), flags that are not bools
    (``maximize='no'``), parameters that are not floating-point leaf tensors
    requiring grad, a tensor in two groups.
    """

    OPTIONS: ClassVar[dict[str, Check]] = {}
    STATE: ClassVar[tuple[str, ...]] = ()  # every name a parameter's state may hold

    def __init__(self, params: Params, defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params must be an iterable of tensors "
                            f"(or of param-group dicts), got a single Tensor; wrap it in a list")
        if not isinstance(params, Iterable) or isinstance(params, (str, bytes, Mapping)):
            raise TypeError(f"{name}: params must be an iterable of tensors (or of "
                            f"param-group dicts), got {describe(params)}")
        self.defaults = self._checked_options(name, defaults, lambda option: option)
        self._check_together(name, self.defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[int, dict[str, Any]] = {}  # id(p) -> that parameter's state
        groups: list[Any] = list(params)
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a dict with key 'params' (tensors); other keys override the defaults.

        Refused, with nothing added: a group that is not such a dict, unknown or
        invalid options, parameters as the constructor refuses them."""
        name = type(self).__name__
        if not isinstance(param_group, dict) or "params" not in param_group:
            raise TypeError(f"{name}: a param group must be a dict with a 'params' key, "
                            f"got {describe(param_group)}")
        params = self._checked_params(param_group["params"])
        unknown = set(param_group) - set(self.defaults) - {"params"}
        if unknown:
            raise TypeError(f"{name}: unknown option(s) {sorted(unknown, key=repr)} in a "
                            f"param group; known: {sorted(self.defaults)}")
        index = len(self.param_groups)
        overrides = {k: v for k, v in param_group.items() if k != "params"}
        full = {**self.defaults,
                **self._checked_options(name, overrides, lambda o: f"{o} (param group {index})"),
                "params": params}
        self._check_together(f"{name}: param group {index}", full)
        self.param_groups.append(full)

    def _checked_params(self, params: Any) -> list[Tensor]:
        """The tensors of a group, each a floating-point leaf requiring grad, none seen before."""
        name = type(self).__name__
        if isinstance(params, Tensor):
            params = [params]
        elif not isinstance(params, Iterable) or isinstance(params, (str, bytes, Mapping)):
            raise TypeError(f"{name}: a param group's 'params' must be a Tensor or an "
                            f"iterable of Tensors, got {describe(params)}")
        params = list(params)
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, got {describe(p)}")
            if p.data.dtype.kind != "f":
                raise TypeError(f"{name}: can only optimize floating-point "
                                f"tensors, got dtype {p.dtype}")
            if not p.requires_grad:
                raise ValueError(f"{name}: a tensor of shape {p.shape} does not "
                                 f"require grad, so it would never be updated")
            if not p.is_leaf:
                fn = p.grad_fn.__name__ if p.grad_fn is not None else "an op"
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor (shape {p.shape}, "
                                 f"computed by {fn}); optimize the leaf tensors it came from")
            if id(p) in seen:
                raise ValueError(f"{name}: a tensor appears in more than one "
                                 f"param group (or twice in one)")
            seen.add(id(p))
        return params

    def _checked_options(self, where: str, options: Mapping[str, Any],
                         label: Callable[[str], str]) -> dict[str, Any]:
        """Each option through its check; ``label`` names it in a message."""
        return {option: self.OPTIONS[option](where, label(option), value)
                for option, value in options.items()}

    def _check_together(self, where: str, group: Mapping[str, Any]) -> None:
        """Rules between options of one group (SGD's Nesterov); none by default."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Set every parameter's ``.grad`` to None (torch's default), or to zeros with
        ``set_to_none=False`` (a new array: a ``.grad`` the user still holds keeps its values)."""
        set_to_none = flag(f"{type(self).__name__}.zero_grad", "set_to_none", set_to_none)
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad = np.zeros(np.shape(p.grad), dtype=np.asarray(p.grad).dtype)

    def step(self) -> None:
        """Update every parameter that has a gradient, once.

        Every gradient is checked before any parameter moves: one of another shape
        than its parameter (ValueError) or not a real numeric array (TypeError)
        refuses the whole step."""
        work = [(p, self._grad_of(p), group) for group in self.param_groups
                for p in group["params"] if p.grad is not None]
        for p, grad, group in work:
            g = grad.astype(p.data.dtype, copy=True)  # never change the user's .grad
            if group.get("maximize", False):
                g = -g
            if group.get("weight_decay", 0) != 0 and not group.get("decoupled", False):
                g = g + group["weight_decay"] * p.data
            state = self.state.setdefault(id(p), {})
            self._update(p, g, state, group)

    def _grad_of(self, p: Tensor) -> np.ndarray:
        """``p.grad`` as an array, checked against ``p`` (the ``isinstance`` first: a
        Tensor or a string must not reach ``np.asarray``)."""
        grad = p.grad
        g = np.asarray(grad) if isinstance(grad, (np.ndarray, np.generic, float, int)) else None
        if g is None or g.dtype.kind not in "fiu":
            raise TypeError(f"{type(self).__name__}: the grad of a parameter of shape {p.shape} "
                            f"must be a real numeric array, got {describe(grad)}")
        if g.shape != p.shape:
            raise ValueError(f"{type(self).__name__}: grad of shape {g.shape} for a "
                             f"parameter of shape {p.shape}")
        return g

    def _update(self, p: Tensor, g: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        raise NotImplementedError

    def _required_state(self, group: Mapping[str, Any]) -> set[str]:
        """The names a parameter's state holds once it has taken a step under these
        options (before its first step it holds none)."""
        return set()

    # ----------------------------------------------------------------- checkpoints
    def _params(self) -> list[Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict[str, np.ndarray]:
        """The optimizer's state as a flat dict of numpy arrays, ready for ``tr.save``.

        Keys: ``state.{i}.{name}`` for parameter i (counted over all groups, in
        order) and ``param_groups.{g}.{option}`` for each group's options (lr,
        betas, ...) with ``param_groups.{g}.params``, the indices of its parameters.
        The same information as torch's nested state dict, flattened so that it is
        stored without pickle.
        """
        out, index = {}, 0
        for g, group in enumerate(self.param_groups):
            out[f"param_groups.{g}.params"] = np.arange(index, index + len(group["params"]))
            for option, value in group.items():
                if option != "params":
                    out[f"param_groups.{g}.{option}"] = np.asarray(value)
            for p in group["params"]:
                for name, value in self.state.get(id(p), {}).items():
                    out[f"state.{index}.{name}"] = np.array(value)  # a copy, not the live buffer
                index += 1
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what ``state_dict()`` returned, for the same parameters in the same groups.

        Everything is checked before anything changes; a refused dict leaves the
        options and the state as they were. Refused (TypeError for a wrong type,
        ValueError otherwise): a path instead of a dict (load it with ``tr.load``),
        unknown or missing keys, another count of groups or of parameters, options
        the constructor would refuse, another optimizer's state dict, state names
        this optimizer does not keep, state of the wrong shape or of a non-numeric
        dtype. Loaded state is cast to its parameter's dtype.
        """
        options, state = self._read_state_dict(state_dict)
        for group, loaded in zip(self.param_groups, options):
            group.update(loaded)
        self.state = state

    def _read_state_dict(self, state_dict: Any) -> tuple[list[dict[str, Any]],
                                                         dict[int, dict[str, Any]]]:
        """The options of each group and the state of each parameter in ``state_dict``,
        checked; raises on the first problem and changes nothing."""
        where = f"{type(self).__name__}.load_state_dict"
        group_entries, state_entries = _split_state_dict(where, state_dict)
        if set(group_entries) != set(range(len(self.param_groups))):
            raise ValueError(f"{where}: the state dict has {len(group_entries)} param "
                             f"group(s) (numbered {sorted(group_entries)}), this optimizer "
                             f"has {len(self.param_groups)}")
        options = [self._read_group(where, g, group_entries[g])
                   for g in range(len(self.param_groups))]
        params = self._params()
        group_of = [options[g] for g, group in enumerate(self.param_groups)
                    for _ in group["params"]]
        unknown = sorted(i for i in state_entries if i >= len(params))
        if unknown:
            raise ValueError(f"{where}: the state dict has state for parameter {unknown[0]}, "
                             f"this optimizer has {len(params)} parameters")
        state: dict[int, dict[str, Any]] = {id(p): {} for p in params}
        for i, entries in state_entries.items():
            state[id(params[i])] = self._read_param_state(where, i, params[i], entries,
                                                          group_of[i])
        return options, state

    def _read_group(self, where: str, g: int, entries: dict[str, Any]) -> dict[str, Any]:
        """Group g's options from its entries (``params`` must index its parameters)."""
        group = self.param_groups[g]
        expected = set(self.OPTIONS) | {"params"}
        if set(entries) != expected:
            owner = _optimizer_with_options(set(entries) - {"params"})
            if owner is not None and owner is not type(self):
                raise ValueError(f"{where}: this is a state dict of {owner.__name__}, not of "
                                 f"{type(self).__name__}: its options {sorted(entries)} are "
                                 f"not {sorted(expected)}")
            missing, extra = sorted(expected - set(entries)), sorted(set(entries) - expected)
            raise ValueError(f"{where}: param group {g} of the state dict "
                             + (f"lacks {[f'param_groups.{g}.{k}' for k in missing]}"
                                if missing else "")
                             + (" and " if missing and extra else "")
                             + (f"has unknown {[f'param_groups.{g}.{k}' for k in extra]}"
                                if extra else ""))
        start = sum(len(earlier["params"]) for earlier in self.param_groups[:g])
        wanted = np.arange(start, start + len(group["params"]))
        if not _same_indices(entries["params"], wanted):
            raise ValueError(f"{where}: param_groups.{g}.params must be the indices "
                             f"{wanted.tolist()} of the group's {len(wanted)} parameter(s), "
                             f"got {describe(entries['params'])}")
        loaded = {option: self.OPTIONS[option](where, f"param_groups.{g}.{option}",
                                               _state_value(value))
                  for option, value in entries.items() if option != "params"}
        self._check_together(f"{where}: param group {g}", loaded)
        if loaded.get("decoupled") != group.get("decoupled"):  # Adam's and AdamW's dicts
            kinds = {True: "AdamW's (decoupled weight decay)", False: "Adam's"}
            raise ValueError(f"{where}: param group {g} of the state dict is "
                             f"{kinds[bool(loaded['decoupled'])]}, this group is "
                             f"{kinds[bool(group['decoupled'])]}")
        return loaded

    def _read_param_state(self, where: str, i: int, p: Tensor, entries: dict[str, Any],
                          options: Mapping[str, Any]) -> dict[str, Any]:
        """Parameter i's state: known names, all that its options need, each in shape and
        cast to the parameter's dtype (``step`` as an int)."""
        name = type(self).__name__
        strange = sorted(set(entries) - set(self.STATE))
        if strange:
            owner = _optimizer_with_state(set(entries))
            whose = f" (the state of {owner.__name__})" if owner is not None else ""
            raise ValueError(f"{where}: state {sorted(entries)} for parameter {i}{whose}, but "
                             f"{name} keeps only {list(self.STATE)}: {strange} unknown")
        missing = sorted(self._required_state(options) - set(entries))
        if missing:
            raise ValueError(f"{where}: the state of parameter {i} lacks {missing} "
                             f"(it has {sorted(entries)}), which {name} needs with these "
                             f"options")
        return {key: (_read_step(where, f"state.{i}.{key}", value) if key == "step" else
                      _read_array(where, f"state.{i}.{key}", value, p, f"parameter {i}"))
                for key, value in entries.items()}

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in group.items() if k != "params"]
        return "\n".join(lines + [")"])


def _split_state_dict(where: str, state_dict: Any) -> tuple[dict[int, dict[str, Any]],
                                                             dict[int, dict[str, Any]]]:
    """{group: {option: value}} and {parameter: {state name: value}} from the flat keys."""
    if isinstance(state_dict, (str, bytes, os.PathLike)):
        raise TypeError(f"{where}: expected a state dict (a mapping), got the path "
                        f"{describe(state_dict)}; read the file first: "
                        f"opt.load_state_dict(tr.load(path))")
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"{where}: expected a state dict (a mapping of str keys to arrays, "
                        f"as state_dict() returns), got {describe(state_dict)}")
    groups: dict[int, dict[str, Any]] = {}
    state: dict[int, dict[str, Any]] = {}
    for key, value in state_dict.items():
        if not isinstance(key, str):
            raise TypeError(f"{where}: state dict keys must be str, got {describe(key)}")
        parts = key.split(".", 2)
        if (len(parts) != 3 or parts[0] not in ("state", "param_groups")
                or not (parts[1].isascii() and parts[1].isdigit())
                or parts[1] != str(int(parts[1])) or not parts[2]):  # 'state.01.x' too
            raise ValueError(f"{where}: unknown key {key!r}: keys are 'state.<i>.<name>' "
                             f"and 'param_groups.<g>.<option>'")
        kind, index, field = parts[0], int(parts[1]), parts[2]
        (state if kind == "state" else groups).setdefault(index, {})[field] = value
    return groups, state


def _same_indices(stored: Any, wanted: np.ndarray) -> bool:
    """Whether ``stored`` holds the integers ``wanted`` (a ragged list is simply not)."""
    try:
        indices = np.asarray(stored)
    except (ValueError, TypeError):
        return False
    return indices.dtype.kind in "iu" and np.array_equal(indices, wanted)


def _read_step(where: str, key: str, value: Any) -> int:
    """A step counter: a whole number >= 0 (torch stores it as a float)."""
    value = _state_value(value.data if isinstance(value, Tensor) else value)
    if not (is_int(value) or is_real(value)):
        raise TypeError(f"{where}: {key} must be a step count (a whole number), "
                        f"got {describe(value)}")
    if not (math.isfinite(value) and value >= 0 and value == int(value)):
        raise ValueError(f"{where}: {key} must be a whole number >= 0, got {value}")
    return int(value)


def _read_array(where: str, key: str, value: Any, p: Tensor, label: str) -> np.ndarray:
    """A numeric array of ``p``'s shape, as a new array of ``p``'s dtype."""
    if isinstance(value, Tensor):
        value = value.data
    if not isinstance(value, (np.ndarray, np.generic)) and not is_real(value):
        raise TypeError(f"{where}: {key} must be a numeric array, got {describe(value)}")
    value = np.asarray(value)
    if value.dtype.kind not in "iuf":
        raise TypeError(f"{where}: {key} must be a numeric array, got dtype {value.dtype}")
    if value.shape != p.shape:
        raise ValueError(f"{where}: {key}: shape {value.shape}, {label} has shape {p.shape}")
    return value.astype(p.data.dtype, copy=True)


def _optimizers() -> list[type[Optimizer]]:
    """Every optimizer class defined so far (subclasses of subclasses too)."""
    found, todo = [], list(Optimizer.__subclasses__())
    while todo:
        cls = todo.pop(0)
        found.append(cls)
        todo += cls.__subclasses__()
    return found


def _optimizer_with_options(options: set[str]) -> type[Optimizer] | None:
    return next((c for c in _optimizers() if set(c.OPTIONS) == options), None)


def _optimizer_with_state(names: set[str]) -> type[Optimizer] | None:
    return next((c for c in _optimizers() if names <= set(c.STATE)), None)


class SGD(Optimizer):
    """Stochastic gradient descent, with momentum, dampening and Nesterov as torch.

        b = g                                  at the first step with momentum
        b = momentum * b + (1 - dampening) * g  afterwards
        d = g + momentum * b  if nesterov,  else  d = b    (d = g without momentum)
        p = p - lr * d

    Refused: nesterov with momentum 0 or with dampening (torch's rule).
    """

    OPTIONS: ClassVar[dict[str, Check]] = dict(
        lr=_nonnegative, momentum=_nonnegative, dampening=_nonnegative,
        weight_decay=_nonnegative, nesterov=flag, maximize=flag)
    STATE = ("momentum_buffer",)

    def __init__(self, params: Params, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _check_together(self, where: str, group: Mapping[str, Any]) -> None:
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"{where}: Nesterov momentum requires a momentum > 0 and zero "
                             f"dampening, got momentum={group['momentum']}, "
                             f"dampening={group['dampening']}")

    def _required_state(self, group: Mapping[str, Any]) -> set[str]:
        return {"momentum_buffer"} if group["momentum"] != 0 else set()

    def _update(self, p: Tensor, g: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        momentum = group["momentum"]
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                # np.array, not g.copy(): for a 0-d parameter g may be a numpy scalar,
                # and the in-place updates below must reach the stored buffer
                buf = state["momentum_buffer"] = np.array(g, dtype=p.data.dtype)
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * g
            g = g + momentum * buf if group["nesterov"] else buf
        p.data -= group["lr"] * g


class Adam(Optimizer):
    """Adam (Kingma & Ba), as torch.optim.Adam, with its AMSGrad option.

        m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g^2
        v_max = max(v_max, v)  and use v_max for v            if amsgrad
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    ``betas`` is a pair of floats, each in [0, 1).
    """

    OPTIONS: ClassVar[dict[str, Check]] = dict(
        lr=_nonnegative, betas=_betas, eps=_nonnegative, weight_decay=_nonnegative,
        amsgrad=flag, maximize=flag, decoupled=flag)
    STATE = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    DECOUPLED = False  # AdamW's weight decay (the option 'decoupled' of every group)

    def __init__(self, params: Params, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, decoupled=self.DECOUPLED))

    def _required_state(self, group: Mapping[str, Any]) -> set[str]:
        needed = {"step", "exp_avg", "exp_avg_sq"}
        return needed | {"max_exp_avg_sq"} if group["amsgrad"] else needed

    def _update(self, p: Tensor, g: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p.data)
            state["exp_avg_sq"] = np.zeros_like(p.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(p.data)
        beta1, beta2 = group["betas"]
        lr = group["lr"]
        state["step"] += 1
        t = state["step"]
        if group["decoupled"] and group["weight_decay"] != 0:  # AdamW: decay p itself
            p.data *= 1 - lr * group["weight_decay"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (1 - beta1) * (g - m)  # torch's lerp: m + (1 - beta1) (g - m)
        v *= beta2
        v += (1 - beta2) * g * g
        if group["amsgrad"]:
            np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        step_size = lr / (1 - beta1 ** t)
        denom = np.sqrt(v) / math.sqrt(1 - beta2 ** t) + group["eps"]
        p.data -= step_size * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay, as torch.optim.AdamW: before the Adam step,
    p = p * (1 - lr * weight_decay)  (the decay never enters m or v)."""

    DECOUPLED = True

    def __init__(self, params: Params, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)


class Adagrad(Optimizer):
    """Adagrad, as torch.optim.Adagrad.

        s = s + g^2          (s starts at initial_accumulator_value)
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)
    """

    OPTIONS: ClassVar[dict[str, Check]] = dict(
        lr=_nonnegative, lr_decay=_nonnegative, weight_decay=_nonnegative,
        initial_accumulator_value=_nonnegative, eps=_nonnegative, maximize=flag)
    STATE = ("step", "sum")

    def __init__(self, params: Params, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, *, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))
        # torch creates the accumulator at construction, so it exists before any step
        for group in self.param_groups:
            for p in group["params"]:
                self.state[id(p)] = {
                    "step": 0,
                    "sum": np.full_like(p.data, group["initial_accumulator_value"])}

    def _required_state(self, group: Mapping[str, Any]) -> set[str]:
        return {"step", "sum"}

    def _update(self, p: Tensor, g: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        if not state:  # a parameter added later with add_param_group
            state.update(step=0, sum=np.full_like(p.data, group["initial_accumulator_value"]))
        state["step"] += 1
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] += g * g
        p.data -= clr * (g / (np.sqrt(state["sum"]) + group["eps"]))


class RMSprop(Optimizer):
    """RMSprop, as torch.optim.RMSprop (eps added outside the square root).

        v = alpha * v + (1 - alpha) * g^2
        a = sqrt(v - gbar^2) + eps,  gbar = alpha * gbar + (1 - alpha) * g   if centered
        a = sqrt(v) + eps                                                    otherwise
        b = momentum * b + g / a;  p = p - lr * b     if momentum > 0
        p = p - lr * g / a                            otherwise
    """

    OPTIONS: ClassVar[dict[str, Check]] = dict(
        lr=_nonnegative, alpha=_nonnegative, eps=_nonnegative, weight_decay=_nonnegative,
        momentum=_nonnegative, centered=flag, maximize=flag)
    STATE = ("step", "square_avg", "momentum_buffer", "grad_avg")

    def __init__(self, params: Params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _required_state(self, group: Mapping[str, Any]) -> set[str]:
        return ({"step", "square_avg"} | ({"momentum_buffer"} if group["momentum"] > 0 else set())
                | ({"grad_avg"} if group["centered"] else set()))

    def _update(self, p: Tensor, g: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(p.data)
            if group["momentum"] > 0:
                state["momentum_buffer"] = np.zeros_like(p.data)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(p.data)
        state["step"] += 1
        alpha = group["alpha"]
        v = state["square_avg"]
        v *= alpha
        v += (1 - alpha) * g * g
        if group["centered"]:
            gbar = state["grad_avg"]
            gbar += (1 - alpha) * (g - gbar)
            avg = np.sqrt(v - gbar * gbar) + group["eps"]
        else:
            avg = np.sqrt(v) + group["eps"]
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf *= group["momentum"]
            buf += g / avg
            p.data -= group["lr"] * buf
        else:
            p.data -= group["lr"] * (g / avg)
