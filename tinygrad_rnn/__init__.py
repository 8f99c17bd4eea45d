"""tinygrad_rnn: a small reverse-mode autograd engine on numpy, and recurrent
networks built from its ops alone, with every gradient checked."""

# The imports read as a tour of the package, the engine first, so isort leaves them be.
# isort: off
from .tensor import Tensor  # first: the engine (autograd) and the ops build on it
from . import autograd  # tr.autograd: the engine; set_detect_anomaly, is_anomaly_enabled
from .autograd import (AnomalyError, Context, Function, ShapeError, detect_anomaly, enable_grad,
                       is_grad_enabled, no_grad, set_grad_enabled)
from . import speedups  # noqa: F401  (installs the fast paths, unless TINYGRAD_RNN_PLAIN=1)
from .tensor import addcmul, addmm, concat, einsum, lerp, stack
from .tensor import clamp, maximum, minimum, where  # issue 15 (ops-elem)
from .rng import manual_seed
from .compare import GradComparison, compare_grads
from .gradcheck import GradcheckError, GradcheckReport, gradcheck, gradcheck_report, numerical_grad
from .tensor import grad  # issue 17: gradients of gradients (and Tensor.backward(create_graph=))
from .gradcheck import gradgradcheck, gradgradcheck_report
from .autograd import NotTwiceDifferentiableError
from . import func  # issue 17: tr.func (vjp, jvp, jacrev, jacfwd, hessian, hvp, grad)
from .autograd import NotForwardDifferentiableError
from . import functional, optim
from .serialization import load, save
from . import nn
from . import replay  # layers as one Scan node per layer and direction; replay.disabled()
from . import trace  # gate traces, gradient flow through time
from . import viz  # graphs as DOT text, explain_backward
from . import plots  # matplotlib figures; matplotlib itself loads only when a plot is drawn
from . import layercheck
from .layercheck import gradcheck_layer
from . import rtrl  # issue 17: real-time recurrent learning (forward mode) beside BPTT
from .to_torch import ToTorchError, from_torch, to_torch  # issue 19 (torch imported on use)
# isort: on

__version__ = "0.1.0"

__all__ = [
    "Tensor", "Function", "Context", "ShapeError", "no_grad", "enable_grad", "is_grad_enabled",
    "set_grad_enabled", "detect_anomaly", "AnomalyError", "autograd",
    "addmm", "addcmul", "lerp", "concat", "stack", "einsum", "gradcheck", "gradcheck_report",
    "where", "maximum", "minimum", "clamp",
    "numerical_grad", "GradcheckError",
    "GradcheckReport", "manual_seed", "compare_grads", "GradComparison",
    "functional", "optim", "save", "load", "layercheck", "gradcheck_layer",
    "nn", "replay", "trace", "viz", "plots",
    "grad", "gradgradcheck", "gradgradcheck_report", "NotTwiceDifferentiableError",
    "func", "NotForwardDifferentiableError",
    "rtrl",
    "to_torch", "from_torch", "ToTorchError",
]
