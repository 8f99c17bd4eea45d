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
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from .tensor import Tensor

if TYPE_CHECKING:
    from typing import TypeAlias

    # tensors, or param groups: dicts with the key "params" (as torch's ParamsT)
    Params: TypeAlias = "Iterable[Tensor] | Iterable[dict[str, Any]]"


class Optimizer:
    """Base class: param groups, per-parameter state, ``zero_grad`` and ``step``.

    Subclasses set their defaults in ``__init__`` and implement
    ``_update(p, g, state, group)``, which changes ``p.data`` in place.
    """

    def __init__(self, params: Params, defaults: dict[str, Any]) -> None:
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of tensors "
                            f"(or of param-group dicts), got a single Tensor; wrap it in a list")
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self.state: dict[int, dict] = {}  # id(p) -> that parameter's state
        groups: list[Any] = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        """Add a dict with key 'params' (tensors); other keys override the defaults."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{type(self).__name__}: a param group must be a dict with a "
                            f"'params' key, got {group!r}")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: can only optimize Tensors, "
                                f"got {type(p).__name__}")
            if not p.requires_grad:
                raise ValueError(f"{type(self).__name__}: a tensor of shape {p.shape} does not "
                                 f"require grad, so it would never be updated")
            if p.data.dtype.kind != "f":
                raise TypeError(f"{type(self).__name__}: can only optimize floating-point "
                                f"tensors, got dtype {p.dtype}")
            if id(p) in seen:
                raise ValueError(f"{type(self).__name__}: a tensor appears in more than one "
                                 f"param group (or twice in one)")
            seen.add(id(p))
        unknown = set(group) - set(self.defaults) - {"params"}
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown option(s) {sorted(unknown)} "
                            f"in a param group; known: {sorted(self.defaults)}")
        full = {**self.defaults, **group, "params": params}
        self._check(full)
        self.param_groups.append(full)

    def _check(self, group: dict) -> None:
        """Validate hyperparameters (torch's messages): negative values make no sense."""
        for name in ("lr", "eps", "weight_decay", "momentum", "lr_decay",
                     "initial_accumulator_value", "alpha", "dampening"):
            if name in group and group[name] < 0:
                raise ValueError(f"{type(self).__name__}: invalid {name} {group[name]} "
                                 f"(must be >= 0)")

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to None (as torch's set_to_none=True)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient, once."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = np.asarray(p.grad)
                if g.shape != p.shape:
                    raise ValueError(f"{type(self).__name__}: grad of shape {g.shape} for a "
                                     f"parameter of shape {p.shape}")
                g = g.astype(p.data.dtype, copy=True)  # never change the user's .grad
                if group.get("maximize", False):
                    g = -g
                if group.get("weight_decay", 0) != 0 and not group.get("decoupled", False):
                    g = g + group["weight_decay"] * p.data
                state = self.state.setdefault(id(p), {})
                self._update(p, g, state, group)

    def _update(self, p: Tensor, g: np.ndarray, state: dict, group: dict) -> None:
        raise NotImplementedError

    # ----------------------------------------------------------------- checkpoints
    def _params(self) -> list:
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

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what ``state_dict()`` returned (for the same parameters, in the same
        groups). Everything is checked first; on any mismatch nothing changes."""
        name = type(self).__name__
        params = self._params()
        problems = []
        for g, group in enumerate(self.param_groups):
            stored = state_dict.get(f"param_groups.{g}.params")
            if stored is None or len(stored) != len(group["params"]):
                problems.append(f"param group {g} has {len(group['params'])} parameters, the "
                                f"state dict {'none' if stored is None else len(stored)}")
        new_state: dict[int, dict[str, np.ndarray]] = {}
        for key, value in state_dict.items():
            kind, index, field = key.split(".", 2)
            if kind == "state":
                i = int(index)
                if i >= len(params):
                    problems.append(f"{key}: there is no parameter {i}")
                    continue
                value = np.asarray(value)
                if value.ndim and value.shape != params[i].shape:
                    problems.append(f"{key}: shape {value.shape}, parameter {i} has shape "
                                    f"{params[i].shape}")
                new_state.setdefault(id(params[i]), {})[field] = value
            elif kind == "param_groups" and int(index) >= len(self.param_groups):
                problems.append(f"{key}: there is no param group {index}")
        if problems:
            raise ValueError(f"{name}.load_state_dict: the state dict does not fit this "
                             f"optimizer:\n  " + "\n  ".join(problems))
        for g, group in enumerate(self.param_groups):
            for option, value in group.items():
                key = f"param_groups.{g}.{option}"
                if option != "params" and key in state_dict:
                    group[option] = _as_option(state_dict[key], value)
        self.state = {}
        for p in params:
            stored = new_state.get(id(p), {})
            self.state[id(p)] = {k: (v.item() if v.ndim == 0 and k == "step" else
                                     v.astype(p.data.dtype, copy=True)) for k, v in stored.items()}

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in group.items() if k != "params"]
        return "\n".join(lines + [")"])


def _as_option(stored: np.ndarray, current: Any) -> Any:
    """A stored option back in the Python type it had (float, bool, tuple of floats)."""
    stored = np.asarray(stored)
    if isinstance(current, tuple):
        return tuple(stored.tolist())
    return type(current)(stored.item()) if current is not None else stored.item()


class SGD(Optimizer):
    """Stochastic gradient descent, with momentum, dampening and Nesterov as torch.

        b = g                                  at the first step with momentum
        b = momentum * b + (1 - dampening) * g  afterwards
        d = g + momentum * b  if nesterov,  else  d = b    (d = g without momentum)
        p = p - lr * d
    """

    def __init__(self, params: Params, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False, *,
                 maximize: bool = False) -> None:
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum > 0 and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _update(self, p: Tensor, g: np.ndarray, state: dict, group: dict) -> None:
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
    """

    def __init__(self, params: Params, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        for beta in betas:
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{type(self).__name__}: invalid betas {betas} "
                                 f"(each must be in [0, 1))")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, decoupled=False))

    def _update(self, p: Tensor, g: np.ndarray, state: dict, group: dict) -> None:
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

    def __init__(self, params: Params, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
        for group in self.param_groups:
            group["decoupled"] = True
        self.defaults["decoupled"] = True


class Adagrad(Optimizer):
    """Adagrad, as torch.optim.Adagrad.

        s = s + g^2          (s starts at initial_accumulator_value)
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)
    """

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

    def _update(self, p: Tensor, g: np.ndarray, state: dict, group: dict) -> None:
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

    def __init__(self, params: Params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _update(self, p: Tensor, g: np.ndarray, state: dict, group: dict) -> None:
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
