"""The torch side of ``tr.to_torch`` and ``tr.from_torch`` (imports torch: only those two
functions import this module).

How a cell's own code runs on torch
-----------------------------------
A module of yours becomes an instance of a *twin class*: a class made, per conversion,
for each class of yours, whose bases are the twins of its bases (``nn.RecurrentCell`` ->
``TorchRecurrentCell`` below, ``nn.Linear`` -> ``torch.nn.Linear``, ``nn.Module`` ->
``torch.nn.Module``) and whose methods are your methods' *translations*: the same code
object, run with other globals. A translated function's globals are a copy-on-read view
of its module's: a name that resolves to something of the package resolves instead to
its torch twin (``F`` -> a namespace of torch's functions under our names, ``tr.stack``
-> ``torch.stack``, ``Tensor`` -> a maker of torch tensors, a helper function of yours
-> its translation) or to a *refusal* (numpy, a function of the package with no twin),
which raises ``ToTorchError`` naming itself and the line using it when it is used.
``super()`` works: a method's ``__class__`` cell is the twin class. Parameters are
torch Parameters under the same attribute names, so ``self.weight_ih`` is torch's;
``self.record(...)`` is a no-op.

Nothing shared is patched: the package's modules, classes and functions are untouched,
so our modules and their torch twins run side by side, in any threads. (A translated
function's globals are read from its module when first used: a module global your code
rebinds later is not seen by the twin, and one it assigns with ``global`` lands in the
twin's copy.)
"""

from __future__ import annotations

import builtins
import copy
import dis
import itertools
import sys
import threading
import types
from collections import OrderedDict
from typing import Any

import numpy as np
import torch
import torch.nn.functional as TF
from torch.nn.utils.rnn import PackedSequence as TorchPackedSequence

from . import autograd, functional as F, tensor as tensor_module
from .arguments import describe
from .nn import builtin, layers, module as module_module, recurrent
from .nn.module import Module, Parameter
from .tensor import Tensor
from .to_torch import ToTorchError

# ============================================================================ where

def _label(frame: Any) -> str | None:
    """"CIFGCell.step, line 12 of cells.py" for a frame of translated code, else None."""
    if not isinstance(frame.f_globals, _Globals):
        return None
    code = frame.f_code
    return f"{getattr(code, 'co_qualname', code.co_name)}, line {frame.f_lineno} of " \
        f"{code.co_filename}"


def _where() -> str:
    """The innermost line of translated code on the stack (what a refusal names)."""
    frame = sys._getframe(1)
    while frame is not None:
        label = _label(frame)
        if label is not None:
            return label
        frame = frame.f_back
    return "code run on torch"


class _Refused:
    """Stands in for something of ours with no faithful torch twin (numpy, a function of the
    package): using it in any way raises ToTorchError naming it and the line using it."""

    def __init__(self, what: str, why: str) -> None:
        self.__dict__.update(_what=what, _why=why)

    def _refuse(self, detail: str = "") -> Any:
        raise ToTorchError(f"to_torch: {self._what}{detail} is used in {_where()}; "
                           f"{self._why}")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):  # (copy, inspect, pickle probing)
            raise AttributeError(name)
        return self._refuse(f".{name}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._refuse("(...)")

    def __repr__(self) -> str:
        return f"<refused on torch: {self._what}>"


def _refusing(op: str) -> Any:
    def refuse(self: _Refused, *args: Any) -> Any:
        return self._refuse(f" ({op})")
    return refuse


for _op in ("__getitem__", "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
            "__truediv__", "__rtruediv__", "__matmul__", "__rmatmul__", "__pow__", "__neg__",
            "__bool__", "__iter__", "__len__", "__lt__", "__gt__", "__le__", "__ge__"):
    setattr(_Refused, _op, _refusing(_op))

_NUMPY_WHY = ("numpy works on arrays, not on torch tensors: write it with tensor ops "
              "(torch's names), or make the array a Parameter or a tensor attribute")


class _Namespace:
    """A module of the package as code run on torch sees it: the names that have a torch
    twin, each that twin; any other name refused where it is used."""

    def __init__(self, label: str, names: dict[str, Any]) -> None:
        self.__dict__.update(names)
        self.__dict__["_label"] = label

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        raise ToTorchError(f"to_torch: {self._label}.{name} has no torch twin here (used in "
                           f"{_where()}); the functions that have one: "
                           f"{', '.join(sorted(k for k in vars(self) if k != '_label'))}")

    def __repr__(self) -> str:
        return f"<{self._label} on torch>"


# ============================================================================ twins of our names


def _dim(fn: str, dim: int | None, axis: int | None, default: int) -> int:
    """Our ``dim=``/``axis=`` pair with our default, as torch's ``dim``."""
    if dim is not None and axis is not None:
        raise TypeError(f"{fn}: got dim={dim} and axis={axis}; give one")
    if dim is not None:
        return dim
    return default if axis is None else axis


def _softmax(input: Any, dim: int | None = None, *, axis: int | None = None) -> Any:
    return torch.softmax(input, _dim("softmax", dim, axis, -1))  # (our default: the last dim)


def _log_softmax(input: Any, dim: int | None = None, *, axis: int | None = None) -> Any:
    return torch.log_softmax(input, _dim("log_softmax", dim, axis, -1))


def _embedding(input: Any, weight: Any, padding_idx: int | None = None) -> Any:
    indices = input if isinstance(input, torch.Tensor) else torch.as_tensor(np.asarray(input))
    return TF.embedding(indices.to(device=weight.device), weight, padding_idx)


def _concat(tensors: Any, dim: int | None = None, *, axis: int | None = None) -> Any:
    return torch.cat(list(tensors), _dim("concat", dim, axis, 0))


def _stack(tensors: Any, dim: int | None = None, *, axis: int | None = None) -> Any:
    return torch.stack(list(tensors), _dim("stack", dim, axis, 0))


def _tensor_of(like: Any, value: Any) -> Any:
    return value if isinstance(value, torch.Tensor) else torch.as_tensor(
        value, dtype=like.dtype, device=like.device)


def _maximum(input: Any, other: Any) -> Any:
    return torch.maximum(input, _tensor_of(input, other))


def _minimum(input: Any, other: Any) -> Any:
    return torch.minimum(input, _tensor_of(input, other))


class _TensorMeta(type):
    """``isinstance(x, Tensor)`` in code run on torch: is x a torch tensor."""

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, torch.Tensor)

    def __getattr__(cls, name: str) -> Any:  # (Tensor.sigmoid(x) and the like)
        return getattr(torch.Tensor, name)


class TensorShim(metaclass=_TensorMeta):
    """``tr.Tensor(data, requires_grad=False, dtype=None, name=None)`` in code run on torch:
    a torch tensor of the values and dtype ours would hold (Python floats give float64,
    as numpy), on the CPU."""

    def __new__(cls, data: Any, requires_grad: bool = False, dtype: Any = None,
                name: str | None = None) -> Any:
        if isinstance(data, torch.Tensor):
            out = data.detach().clone()
        else:
            out = torch.from_numpy(np.array(Tensor(data, dtype=dtype).data))
        return out.requires_grad_(bool(requires_grad))


_FUNCTIONS: dict[Any, Any] = {
    # tinygrad_rnn.functional
    F.linear: TF.linear, F.embedding: _embedding, F.dropout: TF.dropout,
    F.softmax: _softmax, F.log_softmax: _log_softmax, F.layer_norm: TF.layer_norm,
    F.normalize: TF.normalize, F.softplus: TF.softplus, F.leaky_relu: TF.leaky_relu,
    F.elu: TF.elu, F.gelu: TF.gelu, F.silu: TF.silu, F.mse_loss: TF.mse_loss,
    F.l1_loss: TF.l1_loss, F.smooth_l1_loss: TF.smooth_l1_loss, F.huber_loss: TF.huber_loss,
    F.cross_entropy: TF.cross_entropy, F.nll_loss: TF.nll_loss,
    F.binary_cross_entropy: TF.binary_cross_entropy,
    F.binary_cross_entropy_with_logits: TF.binary_cross_entropy_with_logits,
    # tinygrad_rnn (tensor.py)
    tensor_module.addmm: torch.addmm, tensor_module.addcmul: torch.addcmul,
    tensor_module.lerp: torch.lerp, tensor_module.concat: _concat,
    tensor_module.stack: _stack, tensor_module.einsum: torch.einsum,
    tensor_module.where: torch.where, tensor_module.maximum: _maximum,
    tensor_module.minimum: _minimum, tensor_module.clamp: torch.clamp,
    # tinygrad_rnn.autograd
    autograd.no_grad: torch.no_grad, autograd.enable_grad: torch.enable_grad,
    autograd.set_grad_enabled: torch.set_grad_enabled,
    autograd.is_grad_enabled: torch.is_grad_enabled,
    Tensor: TensorShim,
}


def _namespace(label: str, module: Any) -> _Namespace:
    """The names of ``module`` that have a twin, as a namespace of the twins."""
    names = {name: _FUNCTIONS[value] for name, value in vars(module).items()
             if not name.startswith("_") and _hashable(value) and value in _FUNCTIONS}
    return _Namespace(label, names)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


_FUNCTIONAL = _namespace("tinygrad_rnn.functional", F)
_TR = _namespace("tinygrad_rnn", sys.modules["tinygrad_rnn"])
_TR.__dict__["functional"] = _FUNCTIONAL
_MODULES = {"tinygrad_rnn": _TR, "tinygrad_rnn.functional": _FUNCTIONAL}

# the package's own functions whose code runs on torch as it is (the built-in cells' steps)
_TRANSLATABLE_MODULES = ("tinygrad_rnn.nn.cells",)


# ============================================================================ translation


class _Globals(dict[str, Any]):
    """A translated function's globals: each name read from the original module's globals
    when first used, and translated (``Translator.value``)."""

    def __init__(self, original: dict[str, Any], translator: Translator) -> None:
        super().__init__(__builtins__=original.get("__builtins__", builtins),
                         __name__=original.get("__name__"))
        self._original, self._translator = original, translator

    def __missing__(self, name: str) -> Any:
        # (a KeyError here: Python then looks in the builtins)
        value = self._translator.value(self._original[name])
        self[name] = value
        return value


# the packages whose functions a translated function may call as they are
_LEFT_AS_THEY_ARE = frozenset(sys.stdlib_module_names) | {"torch", "builtins"}

# attributes whose value is a numpy array (or a number, for .size) with us and a tensor (a
# method) with torch: read in code run on torch, they would mean something else
_HAZARDS = {"data": "a numpy array here, a tensor in torch",
            "grad": "a numpy array here, a tensor in torch",
            "size": "the number of elements here (numpy's), a method in torch (x.size())",
            "numpy": "a way into numpy, which torch tensors that need gradients refuse"}


def _hazard(code: types.CodeType) -> tuple[str, int] | None:
    """(attribute, line) of the first read of a ``_HAZARDS`` attribute off a value (not off
    ``self``, whose attributes are the module's own), in ``code`` or code nested in it."""
    line, previous = code.co_firstlineno, None
    for ins in dis.get_instructions(code):
        if ins.starts_line is not None:
            line = ins.starts_line
        if (ins.opname in ("LOAD_ATTR", "LOAD_METHOD") and ins.argval in _HAZARDS
                and not (ins.argval == "size" and ins.opname == "LOAD_METHOD")
                and not (previous is not None and previous.opname == "LOAD_FAST"
                         and previous.argval == "self")):
            return ins.argval, line
        previous = ins
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found = _hazard(const)
            if found is not None:
                return found
    return None


def _refusing_function(fn: types.FunctionType, label: str, attribute: str, line: int) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ToTorchError(
            f"to_torch: {label} reads .{attribute} (line {line} of "
            f"{fn.__code__.co_filename}), which is {_HAZARDS[attribute]}; write it with "
            f"tensor ops (x.numel() for a size, x.detach() for a value without gradient)")
    refuse.__qualname__ = label
    return refuse


# methods of ours that are the Module's bookkeeping: the twin keeps torch.nn.Module's
_NOT_COPIED = {"__init__", "__init_subclass__", "__dict__", "__weakref__", "__module__",
               "__qualname__", "__repr__", "__setattr__", "__getattr__", "__call__",
               "__getstate__", "__setstate__", "__annotations__", "__slotnames__",
               "extra_repr", "reset_parameters", "train", "eval", "parameters",
               "named_parameters", "children", "named_children", "modules", "named_modules",
               "state_dict", "load_state_dict", "to", "float", "double", "zero_grad",
               "requires_grad_", "gate", "_class_recordings", "cell"}


class Translator:
    """The translations of one conversion: each function and class of yours translated
    once (so that a twin's methods share their globals), kept by the twins that use them
    and by nothing global, so that a twin dropped takes them with it."""

    def __init__(self) -> None:
        self.functions: dict[Any, Any] = {}
        self.classes: dict[type, Any] = {}
        self.lock = threading.RLock()  # (a twin may first read a global in two threads)

    def value(self, value: Any) -> Any:
        """What code run on torch sees in place of ``value`` (a global, a default, a plain
        attribute): the torch twin of something of ours, a refusal, or ``value`` itself."""
        if _hashable(value) and value in _FUNCTIONS:
            return _FUNCTIONS[value]
        if isinstance(value, types.ModuleType):
            name = value.__name__
            if name == "numpy" or name.startswith("numpy."):
                return _Refused(name, _NUMPY_WHY)
            if name in _MODULES:
                return _MODULES[name]
            if name.startswith("tinygrad_rnn"):
                return _Refused(f"the module {name}", "only tinygrad_rnn and "
                                "tinygrad_rnn.functional have torch twins here")
            return value
        if isinstance(value, np.ndarray):
            return _Refused(f"a numpy array of shape {value.shape}", _NUMPY_WHY)
        owner = getattr(value, "__module__", None) or ""
        if isinstance(value, types.FunctionType):
            if owner.split(".")[0] in _LEFT_AS_THEY_ARE:  # (they never name anything of ours)
                return value
            if owner.startswith("tinygrad_rnn") and owner not in _TRANSLATABLE_MODULES:
                return _Refused(f"{owner}.{value.__qualname__}",
                                "that function of the package has no torch twin")
            return self.function(value)
        if isinstance(value, type) and owner.startswith("tinygrad_rnn"):
            return _Refused(f"{owner}.{value.__qualname__}",
                            "classes of the package are not made in code run on torch")
        if owner == "numpy" or owner.startswith("numpy."):  # ufuncs, scalar types
            return _Refused(f"numpy's {getattr(value, '__name__', describe(value))}",
                            _NUMPY_WHY)
        if isinstance(value, Tensor):
            return torch.from_numpy(np.array(value.data))
        return value

    def function(self, fn: Any, owner: type | None = None, twin_owner: Any = None) -> Any:
        """``fn`` run with translated globals (and, for a method of ``owner``, ``super()``
        meaning the twin class ``twin_owner``); a function that refuses when called if its
        code reads an attribute that means something else on torch (``_HAZARDS``)."""
        cached = self.functions.get(fn)
        if cached is not None:
            return cached
        with self.lock:
            code, label = fn.__code__, fn.__qualname__
            hazard = _hazard(code)
            if hazard is not None:
                twin = _refusing_function(fn, label, *hazard)
            else:
                closure = None
                if fn.__closure__ is not None:
                    closure = tuple(
                        types.CellType(twin_owner if name == "__class__" and owner is not None
                                       and cell.cell_contents is owner else self._cell(cell))
                        for name, cell in zip(code.co_freevars, fn.__closure__))
                defaults = None if fn.__defaults__ is None else tuple(
                    self.value(d) for d in fn.__defaults__)
                twin = types.FunctionType(code, _Globals(fn.__globals__, self), fn.__name__,
                                          defaults, closure)
                if fn.__kwdefaults__:
                    twin.__kwdefaults__ = {k: self.value(v)
                                           for k, v in fn.__kwdefaults__.items()}
                twin.__qualname__, twin.__doc__ = label, fn.__doc__
                twin.__module__ = fn.__module__
            self.functions[fn] = twin
            return twin

    def _cell(self, cell: types.CellType) -> Any:
        try:
            return self.value(cell.cell_contents)
        except ValueError:  # (an empty cell: a name not bound yet)
            return None

    def twin_class(self, cls: type) -> Any:
        """The twin class of ``cls`` (see the module's docstring)."""
        known = _BASE_TWINS.get(cls)
        if known is not None:
            return known
        cached = self.classes.get(cls)
        if cached is not None:
            return cached
        if cls.__module__.startswith("tinygrad_rnn") and cls not in _TRANSLATABLE_CLASSES:
            raise ToTorchError(f"to_torch: {cls.__module__}.{cls.__qualname__} has no torch "
                               f"twin")
        with self.lock:
            bases = tuple(self.twin_class(b) for b in cls.__bases__ if b is not object) \
                or (object,)
            kept = {k: v for k, v in vars(cls).items()
                    if k not in _NOT_COPIED and not isinstance(
                        v, (types.FunctionType, staticmethod, classmethod, property))}
            kept["__doc__"], kept["__module__"] = cls.__doc__, cls.__module__
            twin = type(cls.__name__, bases, kept)
            twin.__qualname__ = f"torch twin of {cls.__qualname__}"
            for name, value in vars(cls).items():
                if name in _NOT_COPIED:
                    continue
                if isinstance(value, types.FunctionType):
                    setattr(twin, name, self.function(value, cls, twin))
                elif isinstance(value, (staticmethod, classmethod)):
                    setattr(twin, name, type(value)(self.function(value.__func__, cls, twin)))
                elif isinstance(value, property):
                    setattr(twin, name, property(*(
                        None if f is None else self.function(f, cls, twin)
                        for f in (value.fget, value.fset, value.fdel))))
            self.classes[cls] = twin
            return twin


# ============================================================================ the recurrent bases


def _state_tuple(cell: Any, result: Any, what: str = "step") -> tuple[Any, ...]:
    """What a twin cell's ``step`` (or ``initial_state``) returned, as a tuple of tensors."""
    names = cell.state_names
    state = (result,) if isinstance(result, torch.Tensor) else result
    if type(state) not in (tuple, list) or len(state) != len(names) or not all(
            isinstance(t, torch.Tensor) for t in state):
        raise TypeError(f"{type(cell).__name__}.{what} must return the state: a tuple of "
                        f"{len(names)} tensor(s) ({', '.join(names)}), got {describe(result)}")
    return tuple(state)


def _prepared(cell: Any) -> Any:
    """``cell``, or a shallow copy holding what its ``prepare`` made (not registered with
    torch: attributes of this call only)."""
    derived = cell.prepare()
    if not derived:
        return cell
    cell = copy.copy(cell)
    for name, value in derived.items():
        object.__setattr__(cell, name, value)
    return cell


class TorchRecurrentCell(torch.nn.Module):
    """The twin of ``nn.RecurrentCell``: the protocol's defaults, on torch. A cell of yours
    runs its own ``step`` (and overrides) on top of it.

    ``cell(x, state=None) -> new state``: x (N, I) or (I,), as ours."""

    gates: tuple[str, ...] = ()
    state_names: tuple[str, ...] = ("h",)

    def project_inputs(self, x: Any) -> Any:
        return TF.linear(x, self.weight_ih, self.bias_ih)

    def recurrent(self, h: Any) -> Any:
        return TF.linear(h, self.weight_hh, self.bias_hh)

    def prepare(self) -> dict[str, Any]:
        return {}

    def initial_state(self, batch: int) -> tuple[Any, ...]:
        return tuple(self.weight_ih.new_zeros(batch, self.hidden_size)
                     for _ in self.state_names)

    def step(self, xp: Any, state: tuple[Any, ...]) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define step(xp, state)")

    def record(self, **values: Any) -> None:
        """Ours reports values to tinygrad_rnn.trace; on torch nobody listens."""

    def forward(self, x: Any, state: Any = None) -> Any:
        name = type(self).__name__
        if x.dim() not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected input of shape (batch, {self.input_size}) or "
                             f"({self.input_size},), got {tuple(x.shape)}")
        unbatched = x.dim() == 1
        if unbatched:
            x = x.unsqueeze(0)
        if state is None:
            states = _state_tuple(self, self.initial_state(x.shape[0]), "initial_state")
        else:
            states = (state,) if isinstance(state, torch.Tensor) else tuple(state)
            if unbatched:
                states = tuple(s.unsqueeze(0) for s in states)
        cell = _prepared(self)
        new = _state_tuple(self, cell.step(cell.project_inputs(x), states))
        if unbatched:
            new = tuple(s.squeeze(0) for s in new)
        return new[0] if len(new) == 1 else new


class TorchRecurrent(torch.nn.Module):
    """The twin of ``nn.Recurrent``: its cells' twins run step by step, layer by layer,
    with our conventions (``out, state = layer(x, state=None)``; x (T, N, I), (N, T, I)
    with batch_first, (T, I) unbatched, or torch's ``PackedSequence``).

    The parameters are registered under our (torch's) layer names, ``weight_ih_l0``; the
    cells, which read them by their own names, are kept out of torch's module tree (a
    plain list, ``cells``), so that ``state_dict`` and ``named_parameters`` give those
    names alone. Each call first points the cells at the layer's current parameters (a
    ``load_state_dict(assign=True)`` or a conversion may have replaced them)."""

    cells: list[Any]
    _links: list[tuple[Any, str, str]]

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def cell(self, layer: int = 0, direction: int = 0) -> Any:
        """The twin cell of one layer and direction (0 forward, 1 backward)."""
        return self.cells[layer * self.num_directions + direction]

    def train(self, mode: bool = True) -> TorchRecurrent:
        super().train(mode)
        for cell in self.cells:
            cell.train(mode)
        return self

    def _apply(self, fn: Any, recurse: bool = True) -> Any:
        super()._apply(fn, recurse)
        for cell in self.cells:  # (buffers of their own; the shared parameters, again: a no-op)
            cell._apply(fn, recurse)
        return self

    def _sync(self) -> None:
        for owner, name, alias in self._links:
            p = self._parameters[alias]
            if owner._parameters.get(name) is not p:
                owner._parameters[name] = p

    def extra_repr(self) -> str:
        s = f"{self.cell_class.__name__}, {self.input_size}, {self.hidden_size}"
        for setting, default in (("num_layers", 1), ("bias", True), ("batch_first", False),
                                 ("dropout", 0.0), ("bidirectional", False)):
            if getattr(self, setting) != default:
                s += f", {setting}={getattr(self, setting)}"
        return s

    # ----------------------------------------------------------------- forward
    def forward(self, input: Any, state: Any = None) -> tuple[Any, Any]:
        self._sync()
        if isinstance(input, TorchPackedSequence):
            return self._forward_packed(input, state)
        name = type(self).__name__
        x = input
        if not isinstance(x, torch.Tensor) or x.dim() not in (2, 3) \
                or x.shape[-1] != self.input_size:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else describe(x)
            raise ValueError(f"{name}: expected a 3-D input (batch) or a 2-D one (unbatched) "
                             f"with {self.input_size} features, got {got}")
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        if x.shape[0] == 0:
            raise ValueError(f"{name}: the input sequence is empty (input shape "
                             f"{tuple(input.shape)})")
        initial = self._initial_states(state, x.shape[1], unbatched)
        out, finals = self._all_layers(x, initial, None)
        if unbatched:
            out = out.squeeze(1)
            finals = [s.squeeze(1) for s in finals]
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, finals[0] if len(finals) == 1 else tuple(finals)

    def _forward_packed(self, packed: Any, state: Any) -> tuple[Any, Any]:
        sizes = tuple(int(b) for b in packed.batch_sizes)
        initial = self._initial_states(state, sizes[0], False, packed.sorted_indices)
        out, finals = self._all_layers(packed.data, initial, sizes)
        if packed.unsorted_indices is not None:
            finals = [s.index_select(1, packed.unsorted_indices.to(s.device)) for s in finals]
        out = TorchPackedSequence(out, packed.batch_sizes, packed.sorted_indices,
                                  packed.unsorted_indices)
        return out, finals[0] if len(finals) == 1 else tuple(finals)

    def _initial_states(self, state: Any, batch: int, unbatched: bool,
                        order: Any = None) -> list[tuple[Any, ...]]:
        if state is None:
            return [_state_tuple(c, c.initial_state(batch), "initial_state")
                    for c in self.cells]
        names = self.cells[0].state_names
        states = (state,) if isinstance(state, torch.Tensor) else tuple(state)
        if len(states) != len(names):
            raise TypeError(f"{type(self).__name__}: the initial state must be "
                            f"{'one tensor' if len(names) == 1 else 'a tuple'} "
                            f"({', '.join(names)}), got {len(states)}")
        d_l = len(self.cells)
        for label, s in zip(names, states):
            if s.dim() != (2 if unbatched else 3) or s.shape[0] != d_l \
                    or (not unbatched and s.shape[1] != batch):
                raise ValueError(f"{type(self).__name__}: expected {label}0 of shape "
                                 f"({d_l}, {'' if unbatched else f'{batch}, '}H), "
                                 f"got {tuple(s.shape)}")
        if unbatched:
            states = tuple(s.unsqueeze(1) for s in states)
        if order is not None:
            states = tuple(s.index_select(1, order.to(s.device)) for s in states)
        return list(zip(*(s.unbind(0) for s in states)))

    def _all_layers(self, x: Any, initial: list[tuple[Any, ...]],
                    sizes: tuple[int, ...] | None) -> tuple[Any, list[Any]]:
        finals, d = [], self.num_directions
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(d):
                k = layer * d + direction
                out, last = self._run(self.cells[k], x, initial[k], sizes, bool(direction))
                outputs.append(out)
                finals.append(last)
            x = outputs[0] if d == 1 else torch.cat(outputs, dim=-1)
            if layer < self.num_layers - 1 and self.dropout:
                x = TF.dropout(x, self.dropout, self.training)
        return x, [torch.stack(list(s), dim=0) for s in zip(*finals)]

    def _run(self, cell: Any, x: Any, state: tuple[Any, ...], sizes: tuple[int, ...] | None,
             reverse: bool) -> tuple[Any, tuple[Any, ...]]:
        """One layer and direction: (every step's output, the final state), x padded (T, N,
        I) or a packed batch's rows (``sizes``: its batch sizes)."""
        cell = _prepared(cell)
        projected = cell.project_inputs(x)
        sequences = projected if isinstance(projected, tuple) else (projected,)
        steps = len(sizes) if sizes is not None else x.shape[0]
        order = range(steps - 1, -1, -1) if reverse else range(steps)
        offsets = list(itertools.accumulate(sizes, initial=0)) if sizes is not None else []
        initial, ended, outputs = state, [], [None] * steps
        if sizes is not None:
            state = tuple(s[:sizes[order[0]]] for s in state)
        for t in order:
            if sizes is None:
                parts = [q[t] for q in sequences]
            else:
                size, running = sizes[t], state[0].shape[0]
                if size < running:  # sequences that ended: their state is final
                    ended.append(tuple(s[size:] for s in state))
                    state = tuple(s[:size] for s in state)
                elif size > running:  # (reverse) sequences that start here
                    state = tuple(torch.cat([s, s0[running:size]])
                                  for s, s0 in zip(state, initial))
                parts = [q[offsets[t]:offsets[t] + size] for q in sequences]
            xp = parts[0] if len(parts) == 1 else tuple(parts)
            state = _state_tuple(cell, cell.step(xp, state))
            outputs[t] = state[0]
        if ended:
            state = tuple(torch.cat([s, *(e[k] for e in reversed(ended))])
                          for k, s in enumerate(state))
        out = torch.stack(outputs) if sizes is None else torch.cat(outputs)
        return out, state


# ============================================================================ conversion

_BASE_TWINS: dict[type, type] = {
    Module: torch.nn.Module, recurrent.RecurrentCell: TorchRecurrentCell,
    recurrent.Recurrent: TorchRecurrent,
    module_module.Sequential: torch.nn.Sequential, module_module.ModuleList: torch.nn.ModuleList,
    module_module.ModuleDict: torch.nn.ModuleDict,
    layers.Linear: torch.nn.Linear, layers.Embedding: torch.nn.Embedding,
    layers.LayerNorm: torch.nn.LayerNorm, layers.Dropout: torch.nn.Dropout,
    layers.Identity: torch.nn.Identity, layers.ReLU: torch.nn.ReLU, layers.Tanh: torch.nn.Tanh,
    layers.Sigmoid: torch.nn.Sigmoid, layers.GELU: torch.nn.GELU, layers.SiLU: torch.nn.SiLU,
    layers.Softplus: torch.nn.Softplus, layers.LeakyReLU: torch.nn.LeakyReLU,
    layers.ELU: torch.nn.ELU, layers.Softmax: torch.nn.Softmax,
    layers.LogSoftmax: torch.nn.LogSoftmax,
    builtin.RNN: torch.nn.RNN, builtin.LSTM: torch.nn.LSTM, builtin.GRU: torch.nn.GRU,
}
# the package's cells whose code runs on torch as it is (inside an nn.Recurrent, or
# subclassed); alone, nn.RNNCell and its kin become torch's own cells
_TRANSLATABLE_CLASSES = {builtin._BuiltinCell, builtin.RNNCell, builtin.LSTMCell,
                         builtin.GRUCell, builtin._RNNLayerCell, builtin._LSTMLayerCell,
                         builtin._GRULayerCell}
_TORCH_CELLS = {builtin.RNNCell: torch.nn.RNNCell, builtin.LSTMCell: torch.nn.LSTMCell,
                builtin.GRUCell: torch.nn.GRUCell}


def _dtype_of(module: Module) -> Any:
    p = next(module.parameters(), None)
    return torch.float64 if p is None else _TORCH_DTYPES[p.dtype.type]


_TORCH_DTYPES = {np.float64: torch.float64, np.float32: torch.float32,
                 np.float16: torch.float16}


def _leaf(module: Module, base: type) -> Any:
    """A torch module of torch's own for a module of ours of class ``base`` (or a subclass),
    its parameters not yet copied."""
    m: Any = module
    kind = {"dtype": _dtype_of(module)}
    if base in (builtin.RNN, builtin.LSTM, builtin.GRU):
        extra = {"nonlinearity": m.nonlinearity} if base is builtin.RNN else {}
        if base is builtin.LSTM:
            extra["proj_size"] = m.proj_size
        return _BASE_TWINS[base](m.input_size, m.hidden_size, num_layers=m.num_layers,
                                 bias=m.bias, batch_first=m.batch_first, dropout=m.dropout,
                                 bidirectional=m.bidirectional, **extra, **kind)
    if base in _TORCH_CELLS:
        extra = {"nonlinearity": m.nonlinearity} if base is builtin.RNNCell else {}
        return _TORCH_CELLS[base](m.input_size, m.hidden_size, bias=m.bias_ih is not None,
                                  **extra, **kind)
    if base is layers.Linear:
        return torch.nn.Linear(m.in_features, m.out_features, bias=m.bias is not None, **kind)
    if base is layers.Embedding:
        return torch.nn.Embedding(m.num_embeddings, m.embedding_dim, m.padding_idx, **kind)
    if base is layers.LayerNorm:
        return torch.nn.LayerNorm(m.normalized_shape, m.eps, m.elementwise_affine,
                                  bias=m.bias is not None, **kind)
    simple = {layers.Dropout: ("p",), layers.Identity: (), layers.ReLU: (), layers.Tanh: (),
              layers.Sigmoid: (), layers.GELU: ("approximate",), layers.SiLU: (),
              layers.Softplus: ("beta", "threshold"), layers.LeakyReLU: ("negative_slope",),
              layers.ELU: ("alpha",), layers.Softmax: ("dim",), layers.LogSoftmax: ("dim",)}
    return _BASE_TWINS[base](*(getattr(m, a) for a in simple[base]))


def _package_base(cls: type) -> type:
    """The first class of the package in ``cls``'s method order that has a twin."""
    for klass in cls.__mro__:
        if klass in _BASE_TWINS or klass in _TORCH_CELLS:
            return klass
    raise ToTorchError(f"to_torch: {cls.__qualname__} is not an nn.Module of the package")


class Converter:
    """One conversion: our module tree to torch's, each parameter and module converted
    once (shared ones stay shared)."""

    def __init__(self) -> None:
        self.params: dict[int, Any] = {}
        self.modules: dict[int, Any] = {}
        self.translator = Translator()

    def parameter(self, p: Parameter) -> Any:
        twin = self.params.get(id(p))
        if twin is None:
            twin = self.params[id(p)] = torch.nn.Parameter(
                torch.from_numpy(np.array(p.data)), requires_grad=p.requires_grad)
        return twin

    def convert(self, module: Module, in_layer: bool = False) -> Any:
        twin = self.modules.get(id(module))
        if twin is None:
            twin = self.modules[id(module)] = self._convert(module, in_layer)
        return twin

    def _convert(self, module: Module, in_layer: bool) -> Any:
        cls = type(module)
        base = _package_base(cls)
        if base in _TORCH_CELLS and cls is base and not in_layer:
            return self._torch_own(module, base)  # (alone or in a module: torch's own cell)
        if base in _TORCH_CELLS:  # in an nn.Recurrent, or subclassed: its step, translated
            base = recurrent.RecurrentCell
        if base in (Module, recurrent.RecurrentCell):
            twin_cls = self.translator.twin_class(cls)
            twin = twin_cls.__new__(twin_cls)
            torch.nn.Module.__init__(twin)
            self._fill(twin, module)
        elif base is recurrent.Recurrent:
            twin = self._recurrent(module, self.translator.twin_class(cls))
        elif cls is base:
            return self._torch_own(module, base)
        else:  # a subclass of one of ours that torch has: torch's, then the rest of yours
            twin = self._torch_own(module, base)
            twin.__class__ = self.translator.twin_class(cls)
            self._fill(twin, module, skip=set(vars(twin)) | set(twin._parameters)
                       | set(twin._modules) | set(twin._buffers))
        twin.train(module.training)
        return twin

    def _torch_own(self, module: Module, base: type) -> Any:
        """Our module as torch's own class, with our parameters' values (same names)."""
        if base in (module_module.Sequential, module_module.ModuleDict):
            children = OrderedDict((n, self.convert(c)) for n, c in module.named_children())
            twin = _BASE_TWINS[base](children)
        elif base is module_module.ModuleList:
            twin = torch.nn.ModuleList([self.convert(c) for c in module.children()])
        else:
            twin = _leaf(module, base)
            theirs = dict(twin.named_parameters())
            ours = dict(module.named_parameters())
            for name, p in ours.items():
                if name not in theirs or tuple(theirs[name].shape) != p.shape:
                    raise ToTorchError(f"to_torch: {type(module).__name__} has parameter "
                                       f"{name} {p.shape}, which torch's "
                                       f"{type(twin).__name__} does not have")
            with torch.no_grad():
                for name, p in ours.items():
                    shared = self.params.get(id(p))
                    if shared is not None:  # (met before: one Parameter, as ours)
                        *path, attr = name.split(".")
                        setattr(twin.get_submodule(".".join(path)), attr, shared)
                        continue
                    theirs[name].copy_(torch.from_numpy(np.array(p.data)))
                    theirs[name].requires_grad_(p.requires_grad)
                    self.params[id(p)] = theirs[name]
        twin.train(module.training)
        return twin

    def _fill(self, twin: Any, module: Module, skip: set[str] | None = None) -> None:
        """Every attribute of ``module`` on ``twin``: parameters as torch Parameters,
        modules as their twins, tensors as (non-persistent) buffers, the rest as it is."""
        for name, value in vars(module).items():
            if skip and name in skip or name == "training":
                continue
            if isinstance(value, Parameter):
                setattr(twin, name, self.parameter(value))
            elif isinstance(value, Module):
                setattr(twin, name, self.convert(value))
            elif isinstance(value, (Tensor, np.ndarray)):
                array = value.data if isinstance(value, Tensor) else value
                twin.register_buffer(name, torch.from_numpy(np.array(array)), persistent=False)
            else:
                object.__setattr__(twin, name, self._plain(value, f"{name}"))

    def _plain(self, value: Any, where: str) -> Any:
        if isinstance(value, (list, tuple)):
            items = [self._plain(v, where) for v in value]
            return type(value)(items) if type(value) in (list, tuple) else value
        if isinstance(value, dict):
            return {k: self._plain(v, where) for k, v in value.items()}
        if isinstance(value, Parameter):
            return self.parameter(value)
        if isinstance(value, Module):
            return self.convert(value)
        return self.translator.value(value)

    def _recurrent(self, layer: Any, twin_cls: Any) -> Any:
        twin = twin_cls.__new__(twin_cls)
        torch.nn.Module.__init__(twin)
        self._fill(twin, layer, skip={"cells", "_cell_tuple", "cell_class"})
        cells = [self.convert(c, in_layer=True) for c in layer._cell_tuple]
        object.__setattr__(twin, "cells", cells)  # (not registered: see TorchRecurrent)
        object.__setattr__(twin, "cell_class", layer.cell_class)
        links = []
        d = layer.num_directions
        for k, (ours, theirs) in enumerate(zip(layer._cell_tuple, cells)):
            suffix = f"_l{k // d}" + ("_reverse" if k % d else "")
            for name, _ in ours.named_parameters():
                *path, attr = name.split(".")
                owner = theirs
                for part in path:
                    owner = getattr(owner, part)
                links.append((owner, attr, name.replace(".", "_") + suffix))
        object.__setattr__(twin, "_links", links)
        return twin


# ============================================================================ checking a twin


def _eval_mode(module: Module) -> dict[int, bool]:
    modes = {id(m): m.training for m in module.modules()}
    module.train(False)
    return modes


def _restore_modes(module: Module, modes: dict[int, bool]) -> None:
    for m in module.modules():
        m.training = modes[id(m)]


# (the check puts a module in evaluation mode and back: one conversion at a time, so that
# two threads converting one module do not see each other's modes)
_ONE_AT_A_TIME = threading.Lock()


def _check(module: Module, twin: Any) -> None:
    """Run every recurrent cell of ``module`` (alone or in a layer) and its twin on one
    small random input, in evaluation mode, and refuse the twin when they disagree or the
    twin's code fails on torch: the refusal comes now, not in the middle of training."""
    in_layers = {id(c) for m in module.modules() if isinstance(m, recurrent.Recurrent)
                 for c in m._cell_tuple}
    for name, ours in module.named_modules():
        fused = type(ours) in (builtin.RNN, builtin.LSTM, builtin.GRU) or (
            type(ours) in _TORCH_CELLS)
        if isinstance(ours, (recurrent.Recurrent, recurrent.RecurrentCell)) and not fused \
                and id(ours) not in in_layers:
            theirs = twin.get_submodule(name) if name else twin
            what = type(ours).__name__
            if isinstance(ours, recurrent.Recurrent):
                what += f" of {ours.cell_class.__name__}"
            _check_one(what + (f" ({name!r})" if name else ""), ours, theirs)


def _check_one(label: str, ours: Any, theirs: Any) -> None:
    rng = np.random.default_rng(0)
    dtype = ours._dtype() if isinstance(ours, recurrent.Recurrent) else ours.weight_ih.dtype
    if isinstance(ours, recurrent.Recurrent):
        shape = (2, 3, ours.input_size) if ours.batch_first else (3, 2, ours.input_size)
    else:
        shape = (2, ours.input_size)
    x = rng.uniform(-1, 1, shape).astype(dtype)
    modes = _eval_mode(ours)
    theirs_training = theirs.training
    theirs.train(False)
    try:
        with autograd.no_grad():
            expected = ours(Tensor(x))
        try:
            with torch.no_grad():
                got = theirs(torch.from_numpy(x))
        except ToTorchError:
            raise
        except Exception as error:  # (any failure of your code on torch: said where)
            raise ToTorchError(f"to_torch: {label} fails on torch: "
                               f"{type(error).__name__}: {error} (in {_traceback_where(error)})"
                               ) from error
    finally:
        _restore_modes(ours, modes)
        theirs.train(theirs_training)
    ours_flat = [t.data for t in _flatten(expected)]
    theirs_flat = [t.detach().cpu().numpy() for t in _flatten(got)]
    tolerance = 1e-9 if dtype == np.float64 else 1e-4
    shapes_differ = [a.shape for a in ours_flat] != [b.shape for b in theirs_flat]
    worst = 0.0 if shapes_differ else max(
        (float(np.max(np.abs(a - b), initial=0.0)) for a, b in zip(ours_flat, theirs_flat)),
        default=0.0)
    if shapes_differ or not worst <= tolerance * max(1.0, *(
            float(np.max(np.abs(a), initial=0.0)) for a in ours_flat)):
        what = (f"shapes {[a.shape for a in ours_flat]} here, "
                f"{[b.shape for b in theirs_flat]} on torch") if shapes_differ else \
            f"values differ by up to {worst:.3g}"
        raise ToTorchError(f"to_torch: {label} gives other numbers on "
                           f"torch than here on a test input ({what}): its code uses something "
                           f"spelled alike that means something else in torch")


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _flatten(v)]
    return [value]


def _traceback_where(error: BaseException) -> str:
    """The innermost line of translated code in ``error``'s traceback."""
    tb, found = error.__traceback__, "code run on torch"
    while tb is not None:
        frame = tb.tb_frame
        if isinstance(frame.f_globals, _Globals):
            code = frame.f_code
            found = f"{getattr(code, 'co_qualname', code.co_name)}, line {tb.tb_lineno} of " \
                f"{code.co_filename}"
        tb = tb.tb_next
    return found


# ============================================================================ the public two


def to_torch(module: Any) -> Any:
    if not isinstance(module, Module):
        raise ToTorchError(f"to_torch: module must be an nn.Module of tinygrad_rnn, got "
                           f"{describe(module)}")
    with _ONE_AT_A_TIME:
        twin = Converter().convert(module)
        _check(module, twin)
    return twin


def from_torch(torch_module: Any, like: Any) -> Module:
    if not isinstance(torch_module, torch.nn.Module):
        raise ToTorchError(f"from_torch: torch_module must be a torch.nn.Module, got "
                           f"{describe(torch_module)}")
    if not isinstance(like, Module):
        raise ToTorchError(f"from_torch: like must be an nn.Module of tinygrad_rnn (the module "
                           f"to copy into), got {describe(like)}")
    ours = dict(like.named_parameters())
    theirs = dict(torch_module.named_parameters())
    params = {id(p) for p in torch_module.parameters()}
    extra = [k for k, v in torch_module.state_dict(keep_vars=True).items()
             if id(v) not in params]
    problems = [f"{name}: missing in torch_module" for name in ours if name not in theirs]
    problems += [f"{name}: in torch_module but not in like" for name in theirs
                 if name not in ours]
    problems += [f"{name}: a buffer of torch_module's, which like has no place for"
                 for name in extra]
    values = {}
    for name, p in ours.items():
        t = theirs.get(name)
        if t is None:
            continue
        dtype = _NUMPY_DTYPES.get(t.dtype)
        if tuple(t.shape) != p.shape:
            problems.append(f"{name}: shape {tuple(t.shape)} in torch_module, {p.shape} in like")
        elif dtype != p.dtype:
            problems.append(f"{name}: dtype {t.dtype} in torch_module, {p.dtype} in like")
        else:
            values[name] = t.detach().cpu().numpy()
    if problems:
        raise ToTorchError("from_torch: the weights do not fit like, so nothing was changed:\n  "
                           + "\n  ".join(problems))
    for name, value in values.items():
        np.copyto(ours[name].data, value)
    return like


_NUMPY_DTYPES = {torch.float64: np.dtype(np.float64), torch.float32: np.dtype(np.float32),
                 torch.float16: np.dtype(np.float16)}
