"""Layers and models: Module/Parameter, Linear, Embedding, Dropout, LayerNorm,
Sequential/ModuleDict, activation modules, the recurrent cells (one time step) and
sequence layers (RNN, LSTM, GRU), and the protocol for cells of your own
(RecurrentCell, Recurrent), all assembled from ops."""

from . import init, utils
from .builtin import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .layers import (
    ELU,
    GELU,
    Dropout,
    Embedding,
    Identity,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from .module import Module, ModuleDict, ModuleList, Parameter, Sequential
from .recurrent import Recurrent, RecurrentCell

__all__ = ["Module", "ModuleList", "Parameter", "Linear", "Embedding", "Dropout", "init", "utils",
           "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU", "RecurrentCell", "Recurrent",
           "LayerNorm", "Sequential", "ModuleDict", "Identity", "ReLU", "Tanh", "Sigmoid",
           "GELU", "SiLU", "Softplus", "LeakyReLU", "ELU", "Softmax", "LogSoftmax"]
