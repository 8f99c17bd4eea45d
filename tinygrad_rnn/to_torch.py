"""``tr.to_torch(module)`` and ``tr.from_torch(torch_module, like=module)``: a model of the
package as a ``torch.nn.Module`` with the same parameters, and the weights back.

The built-in layers become torch's own (``nn.LSTM`` -> ``torch.nn.LSTM``, fused
kernels, the same ``state_dict`` names). A cell of the protocol (``nn.RecurrentCell``)
and any ``Module`` of your own keep their code: the torch module runs the same
``step``, ``project_inputs``, ``forward`` ... on torch tensors, through a shim that
maps the package's functions (``F.linear``, ``tr.stack``, ``tr.Tensor``) to torch's;
Tensor methods are torch's names already. What torch spells differently or lacks
(numpy, a function of the package without a torch twin, ``.data`` read as a numpy
array) is refused with ``ToTorchError``, naming it and the line that uses it, never
turned into a different model. ``to_torch`` runs every recurrent cell once on a
small input, ours and torch's side by side, so that such a refusal, or any
difference, shows at conversion rather than later.

torch is imported only when these functions run: importing the package never
imports it (``pip install "tinygrad-rnn[torch]"`` installs it). The work lives in
``_torch_side.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .nn.module import Module

__all__ = ["ToTorchError", "to_torch", "from_torch"]


class ToTorchError(TypeError):
    """``to_torch`` or ``from_torch`` refused: the module (or code it runs) has no
    faithful torch twin, or the weights do not fit. The message names what, and where
    (the cell class, method and line) or which parameter. Nothing was changed."""


def _torch_side() -> Any:
    """The module that does the work, which imports torch: a clear ModuleNotFoundError
    (named "torch", so that optional-extra checks recognise it) when torch is missing."""
    try:
        import torch  # noqa: F401  (only to say clearly that it is missing)
    except ModuleNotFoundError:
        raise ModuleNotFoundError("to_torch and from_torch need torch: pip install torch "
                                  "(or the extra: pip install \"tinygrad-rnn[torch]\")",
                                  name="torch") from None
    from . import _torch_side

    return _torch_side


def to_torch(module: Module) -> Any:
    """A ``torch.nn.Module`` doing what ``module`` does, with the same parameters (copied,
    same names, dtypes kept: float64 stays float64).

    Arguments:
        module: an ``nn.Module`` of the package: ``nn.RNN``/``LSTM``/``GRU`` (become
            ``torch.nn.RNN``/``LSTM``/``GRU``), ``nn.RNNCell``/``LSTMCell``/``GRUCell``
            (torch's cells), ``nn.Recurrent`` of any ``nn.RecurrentCell`` (its cells'
            own code run on torch, with our output conventions: padded or torch's
            ``PackedSequence``, batch-first, unbatched, multi-layer, bidirectional),
            ``Linear``, ``Embedding``, ``LayerNorm``, ``Dropout``, the activations,
            ``Sequential``/``ModuleList``/``ModuleDict``, and any Module of your own made
            of those (its ``forward`` run as it is written, on torch tensors).

    Returns:
        the torch module, on the CPU, in ``module``'s training mode.

    Raises:
        ToTorchError: something in the module or its code has no faithful torch twin
            (the message names it and where it is used), or a recurrent cell's torch
            twin does not give our numbers on a small test input. ``module`` is never
            changed (the test input runs through it in evaluation mode, its modes put
            back after: do not train it in another thread meanwhile).
    """
    return _torch_side().to_torch(module)


def from_torch(torch_module: Any, like: Module) -> Module:
    """Copy the weights of ``torch_module`` into ``like`` (in place) and return ``like``.

    Arguments:
        torch_module: a ``torch.nn.Module``, typically made by ``to_torch(like)`` and
            trained since (on any device: values are copied to the CPU).
        like: the module of the package to copy into.

    Every parameter of ``like`` must have a parameter of the same name, shape and dtype in
    ``torch_module`` and the other way round (persistent buffers of torch's included,
    which would have nowhere to go): otherwise ``ToTorchError`` lists every mismatch and
    nothing is changed. Values are copied bit for bit.
    """
    return _torch_side().from_torch(torch_module, like)
