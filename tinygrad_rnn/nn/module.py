"""``Parameter`` and ``Module``: the bookkeeping every layer shares.

A module's parameters and submodules are simply its attributes, found by
walking ``vars(self)`` in the order they were first assigned (Python dicts
keep insertion order), so names and order come out as torch gives them:
``weight_ih_l0``, ``layers.0.weight``. An attribute set to ``None`` (a layer
built with ``bias=False``) is skipped.
"""

from __future__ import annotations

import os
from collections import OrderedDict, namedtuple
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import arguments
from ..arguments import describe, flag, is_int
from ..tensor import Tensor

if TYPE_CHECKING:
    from numpy.typing import DTypeLike
    from typing_extensions import Self

    from ..tensor import TensorLike


class Parameter(Tensor):
    """A tensor that is a module's learnable weight: a leaf with ``requires_grad=True``."""

    def __init__(self, data: TensorLike, requires_grad: bool = True) -> None:
        requires_grad = flag("nn.Parameter", "requires_grad", requires_grad)
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of layers and models: subclasses assign parameters and
    submodules as attributes in ``__init__`` and define ``forward``."""

    training = True

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ----------------------------------------------------------------- walking the tree
    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module (named ``prefix``, "" at the top) and every descendant, depth first."""
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) in registration order; a shared parameter appears once."""
        seen = set()
        for module_name, module in self.named_modules(prefix):
            for name, value in vars(module).items():
                if isinstance(value, Parameter) and id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{module_name}.{name}" if module_name else name), value

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    # ----------------------------------------------------------------- state
    def zero_grad(self) -> None:
        """Forget accumulated gradients (``.grad = None``, as torch's default)."""
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> Self:
        """Training mode (dropout active) for this module and all its descendants.

        ``mode`` must be a bool: ``train('no')`` is refused (a truthy string would mean yes).
        """
        mode = flag(f"{type(self).__name__}.train", "mode", mode)
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> Self:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Self:
        """Switch gradient recording of every parameter on or off (a bool, nothing else)."""
        requires_grad = flag(f"{type(self).__name__}.requires_grad_", "requires_grad",
                             requires_grad)
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def state_dict(self) -> dict[str, np.ndarray]:
        """{dotted name: a copy of the parameter's values}, plain numpy arrays."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state_dict: Mapping[str, Any],
                        strict: bool = True) -> IncompatibleKeys:
        """Copy values into the parameters, cast to each parameter's dtype (as torch).

        Everything is checked before anything is written: if a key is missing or
        unexpected (with ``strict=True``), or a value has the wrong shape or is not
        real numbers (None, strings, objects, complex numbers, ragged lists), a
        ``RuntimeError`` lists every problem and no weight changes. A
        ``state_dict`` that is not a mapping with str keys (a file path included:
        load it with ``tr.load`` first) or a ``strict`` that is not a bool is a
        ``TypeError``. Values are copied into the existing arrays, so views of them
        stay valid.

        Returns:
            (missing_keys, unexpected_keys), both empty when ``strict`` passed.
        """
        where = f"{type(self).__name__}.load_state_dict"
        _check_state_dict(where, state_dict)
        strict = flag(where, "strict", strict)
        params = dict(self.named_parameters())
        missing = [k for k in params if k not in state_dict]
        unexpected = [k for k in state_dict if k not in params]
        problems = []
        values = {}
        for name, p in params.items():
            if name not in state_dict:
                continue
            value, problem = _numeric_array(state_dict[name])
            if problem:
                problems.append(f"{name}: {problem}")
            elif value.shape != p.shape:
                problems.append(f"{name}: shape {value.shape} in the state dict, "
                                f"but the parameter has shape {p.shape}")
            else:
                values[name] = value
        if strict:
            problems = ((["missing keys: " + ", ".join(missing)] if missing else [])
                        + (["unexpected keys: " + ", ".join(unexpected)] if unexpected else [])
                        + problems)
        if problems:
            raise RuntimeError(f"{type(self).__name__}.load_state_dict: error(s) in the state "
                               f"dict, so nothing was changed:\n  " + "\n  ".join(problems))
        for name, value in values.items():
            np.copyto(params[name].data, value, casting="unsafe")
        return IncompatibleKeys(missing, unexpected)

    def to(self, dtype: DTypeLike) -> Self:
        """Cast every parameter (and its gradient) to ``dtype``, in place; returns self.

        ``dtype`` must name a floating dtype (``np.float32``, ``"float64"``); None
        changes nothing, as torch's ``to(None)``. Anything else is a TypeError.
        """
        if dtype is None:
            return self
        dtype = arguments.float_dtype(f"{type(self).__name__}.to", dtype)
        for p in self.parameters():
            p.data = p.data.astype(dtype)
            if p.grad is not None:
                p.grad = p.grad.astype(dtype)
        return self

    def float(self) -> Self:
        return self.to(np.float32)

    def double(self) -> Self:
        return self.to(np.float64)

    # ----------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """The layer's own settings, shown inside its parentheses."""
        return ""

    def __repr__(self) -> str:
        children = [f"({name}): " + repr(child).replace("\n", "\n  ")
                    for name, child in self.named_children()]
        extra = self.extra_repr()
        if not children:
            return f"{type(self).__name__}({extra})"
        lines = ([extra] if extra else []) + children
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _check_state_dict(where: str, state_dict: Any) -> None:
    """Refuse what is not a mapping of str keys: a path (the file is not read here), None,
    a list of pairs, an int key."""
    if isinstance(state_dict, (str, bytes, os.PathLike)):
        raise TypeError(f"{where}: got a path ({describe(state_dict)}); load the file with "
                        f"tr.load(path) and pass the dict")
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"{where}: state_dict must be a dict of {{name: array}}, "
                        f"got {describe(state_dict)}")
    bad = [k for k in state_dict if not isinstance(k, str)]
    if bad:
        raise TypeError(f"{where}: state_dict keys must be str parameter names, "
                        f"got {describe(bad[0])}")


def _numeric_array(value: Any) -> tuple[np.ndarray, str]:
    """(``value`` as a numpy array, "") or (an empty array, what is wrong with it): a
    state dict's value must be real numbers (bool, int or float), as a Tensor, an array
    (torch's included) or a nested list of one shape."""
    if isinstance(value, Tensor):
        value = value.data
    if value is None or isinstance(value, (str, bytes)):
        return np.empty(0), f"expected an array of numbers, got {describe(value)}"
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):  # a ragged list: numpy's "inhomogeneous shape"
        return np.empty(0), "expected an array of numbers, got a ragged nested list"
    if array.dtype.kind not in "biuf":
        return np.empty(0), f"expected a numeric array, got dtype {array.dtype}"
    return array, ""


class ModuleList(Module):
    """A list of modules, registered as children ``"0"``, ``"1"``, ... (as torch)."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        if isinstance(modules, Module) or not isinstance(modules, Iterable):
            raise TypeError(f"ModuleList: modules must be an iterable of modules, "
                            f"got {describe(modules)}")
        modules = list(modules)
        for module in modules:  # every one checked before any is added
            _check_module(module)
        for module in modules:
            self.append(module)

    def append(self, module: Module) -> Self:
        _check_module(module)
        setattr(self, str(len(self)), module)
        return self

    def __len__(self) -> int:
        return sum(1 for _ in self.named_children())

    def __getitem__(self, index: int | slice) -> Module:
        items = list(self.children())
        if isinstance(index, slice):  # a ModuleList of those modules, as torch
            return ModuleList(items[index])
        if not is_int(index):
            raise TypeError(f"ModuleList indices must be ints, got {describe(index)}")
        if not -len(items) <= index < len(items):
            raise IndexError(f"ModuleList: index {index} is out of range for {len(items)} "
                             f"module(s)")
        return items[index]

    def __iter__(self) -> Iterator[Module]:
        return self.children()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleList has no forward(); iterate over its modules")


def _check_module(module: Any) -> None:
    if not isinstance(module, Module):
        raise TypeError(f"ModuleList holds modules, got {type(module).__name__}")


# ---- issue 15 (ops-func): Sequential, ModuleDict


def _add_child(owner: Module, where: str, name: Any, module: Any) -> None:
    """Register ``module`` as ``owner``'s child ``name``, as torch's add_module checks it:
    a Module, under a non-empty str name without a dot that is not already an attribute
    (a method or a setting: ``"forward"``, ``"training"``)."""
    if not isinstance(module, Module):
        raise TypeError(f"{where}: expected a Module, got {describe(module)}")
    if not isinstance(name, str):
        raise TypeError(f"{where}: module names must be str, got {describe(name)}")
    if not name or "." in name:
        raise KeyError(f"{where}: a module name must be non-empty and hold no '.', "
                       f"got {name!r}")
    if hasattr(owner, name) and not isinstance(vars(owner).get(name), Module):
        raise KeyError(f"{where}: {name!r} is already an attribute of "
                       f"{type(owner).__name__}; choose another name")
    setattr(owner, name, module)


class Sequential(Module):
    """Modules called in a chain: ``Sequential(a, b)(x) = b(a(x))`` (torch.nn.Sequential).

    Built from modules (children ``"0"``, ``"1"``, ...: parameters ``"0.weight"``, as
    torch) or from one OrderedDict of {name: module}. Indexing gives a module (a slice:
    a Sequential of those, their names kept), ``len``, iteration and ``append`` as torch;
    ``seq[i] = m``, ``del seq[i]``, ``pop``, ``insert`` and ``extend`` edit it in place
    as torch's (a deletion renames the rest ``"0"``, ``"1"``, ...).
    """

    def __init__(self, *args: Any) -> None:
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            items = list(args[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(args)]
        for name, module in items:  # every one checked before any is added
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: expected modules, got {describe(module)} "
                                f"as {name!r}")
        for name, module in items:
            _add_child(self, "Sequential", name, module)

    def forward(self, input: Any) -> Any:
        for module in self.children():
            input = module(input)
        return input

    def append(self, module: Module) -> Self:
        _add_child(self, "Sequential.append", str(len(self)), module)
        return self

    def __len__(self) -> int:
        return sum(1 for _ in self.named_children())

    def __iter__(self) -> Iterator[Module]:
        return self.children()

    def __getitem__(self, index: int | slice) -> Module:
        items = list(self.named_children())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        if not is_int(index):
            raise TypeError(f"Sequential indices must be ints or slices, got {describe(index)}")
        if not -len(items) <= index < len(items):
            raise IndexError(f"Sequential: index {index} is out of range for {len(items)} "
                             f"module(s)")
        return items[index][1]

    # ---- editing in place, as torch's (protocol-polish)
    def __setitem__(self, index: int, module: Module) -> None:
        """Replace the module at ``index``; it keeps that place and name, as torch's."""
        name = self._name_at("Sequential.__setitem__", index)
        _add_child(self, "Sequential.__setitem__", name, module)

    def __delitem__(self, index: int | slice) -> None:
        """Remove the module at ``index`` (or a slice of them); the rest are then named
        ``"0"``, ``"1"``, ... in order, as torch renumbers them."""
        if isinstance(index, slice):
            names = [name for name, _ in list(self.named_children())[index]]
        else:
            names = [self._name_at("Sequential.__delitem__", index)]
        for name in names:
            delattr(self, name)
        self._renumber(list(self.children()))

    def pop(self, index: int | slice) -> Module:
        """Remove the module at ``index`` (a slice: a Sequential of them) and return it."""
        popped = self[index]
        del self[index]
        return popped

    def insert(self, index: int, module: Module) -> Self:
        """Put ``module`` at ``index`` (-len <= index <= len), the modules from there on
        moving one place up, as torch's; they must be named ``"0"``, ``"1"``, ... (as
        torch's insert needs)."""
        where = "Sequential.insert"
        if not is_int(index):
            raise TypeError(f"{where}: index must be an int, got {describe(index)}")
        if not isinstance(module, Module):
            raise TypeError(f"{where}: expected a Module, got {describe(module)}")
        modules, n = list(self.named_children()), len(self)
        if not -n <= index <= n:
            raise IndexError(f"{where}: index {index} is out of range for {n} module(s) "
                             f"(expected {-n}..{n})")
        if [name for name, _ in modules] != [str(i) for i in range(n)]:
            raise KeyError(f"{where}: the modules must be named '0', '1', ... in order to "
                           f"insert, as torch's; these are named "
                           f"{[name for name, _ in modules]}")
        children = [m for _, m in modules]
        children.insert(int(index) + n if index < 0 else int(index), module)
        self._renumber(children)
        return self

    def extend(self, modules: Iterable[Module]) -> Self:
        """``append`` each of ``modules`` (a Sequential, a list ...) in turn, as torch's."""
        items = list(modules)  # (every one checked before any is added)
        for k, module in enumerate(items):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential.extend: expected modules, got {describe(module)} "
                                f"at position {k}")
        for module in items:
            self.append(module)
        return self

    def _name_at(self, where: str, index: Any) -> str:
        if not is_int(index):
            raise TypeError(f"{where}: index must be an int, got {describe(index)}")
        names, n = [name for name, _ in self.named_children()], len(self)
        if not -n <= index < n:
            raise IndexError(f"{where}: index {index} is out of range for {n} module(s)")
        return names[index]

    def _renumber(self, modules: list[Module]) -> None:
        """Make ``modules`` the children, named "0", "1", ... in order."""
        for name, _ in list(self.named_children()):
            delattr(self, name)
        for i, module in enumerate(modules):
            setattr(self, str(i), module)


class ModuleDict(Module):
    """Modules by name (torch.nn.ModuleDict): ``d["enc"]``, ``d["enc"] = m``, ``del``,
    ``in``, ``len``, iteration over the names, keys/values/items/update/pop/clear.
    Parameters are named ``"enc.weight"``, as torch. It has no forward."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None
                 = None) -> None:
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        if key not in self:
            raise KeyError(f"ModuleDict: no module named {key!r}")
        return vars(self)[key]

    def __setitem__(self, key: str, module: Module) -> None:
        _add_child(self, "ModuleDict", key, module)

    def __delitem__(self, key: str) -> None:
        self[key]  # (a KeyError in our words)
        delattr(self, key)

    def __contains__(self, key: object) -> bool:
        return isinstance(vars(self).get(key), Module)  # type: ignore[call-overload]

    def __len__(self) -> int:
        return sum(1 for _ in self.named_children())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def keys(self) -> list[str]:
        return [name for name, _ in self.named_children()]

    def values(self) -> list[Module]:
        return list(self.children())

    def items(self) -> list[tuple[str, Module]]:
        return list(self.named_children())

    def pop(self, key: str) -> Module:
        module = self[key]
        del self[key]
        return module

    def clear(self) -> None:
        for key in self.keys():
            del self[key]

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add (or replace) the modules of a mapping or of (name, module) pairs; every
        one is checked before any is added."""
        if isinstance(modules, Mapping):
            pairs = list(modules.items())
        elif isinstance(modules, Iterable) and not isinstance(modules, (str, Module)):
            pairs = list(modules)
            if not all(isinstance(p, (tuple, list)) and len(p) == 2 for p in pairs):
                raise TypeError("ModuleDict.update: expected a mapping or (name, module) "
                                "pairs")
        else:
            raise TypeError(f"ModuleDict.update: expected a mapping or (name, module) pairs, "
                            f"got {describe(modules)}")
        probe = Module()  # each name and module checked on a stand-in first
        for name, module in pairs:
            if name not in self:
                _add_child(probe, "ModuleDict", name, module)
                delattr(probe, name)
            elif not isinstance(module, Module):
                raise TypeError(f"ModuleDict: expected a Module, got {describe(module)}")
        for name, module in pairs:
            self[name] = module

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleDict has no forward(); call its modules by name")


def check_dtype(name: str, what: str, t: Tensor, dtype: DTypeLike) -> None:
    """Refuse a ``what`` (input, state) whose dtype is not the parameters' ``dtype``.

    As torch, a module computes in its parameters' dtype: numpy would silently
    promote a float32 module to float64 (or round a float64 input to float32).
    """
    if t.dtype != dtype:
        convert = {"float32": ".float()", "float64": ".double()"}.get(str(t.dtype),
                                                                    f".to(np.{t.dtype})")
        raise TypeError(f"{name}: the {what} has dtype {t.dtype} but the parameters have "
                        f"dtype {dtype}; convert the {what} (x.to(np.{dtype}) for a Tensor, "
                        f"x.astype(np.{dtype}) for an array) or the module ({convert})")
