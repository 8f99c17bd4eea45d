"""Layers and models: Module/Parameter, Linear, Embedding, Dropout, the recurrent
cells (one time step) and sequence layers (RNN, LSTM, GRU), all assembled from ops."""

from . import init, utils
from .cells import GRUCell, LSTMCell, RNNCell
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
from .rnn import GRU, LSTM, RNN

__all__ = ["Module", "ModuleList", "Parameter", "Linear", "Embedding", "Dropout", "init", "utils",
           "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU",
           # issue 15 (ops-func)
           "LayerNorm", "Sequential", "ModuleDict", "Identity", "ReLU", "Tanh", "Sigmoid",
           "GELU", "SiLU", "Softplus", "LeakyReLU", "ELU", "Softmax", "LogSoftmax"]
