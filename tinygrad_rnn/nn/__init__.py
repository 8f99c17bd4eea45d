"""Layers and models: Module/Parameter, Linear, Embedding, Dropout, the recurrent
cells (one time step) and sequence layers (RNN, LSTM, GRU), and the protocol
for cells of your own (RecurrentCell, Recurrent), all assembled from ops."""

from . import init, utils
from .cells import GRUCell, LSTMCell, RNNCell
from .layers import Dropout, Embedding, Linear
from .module import Module, ModuleList, Parameter
from .recurrent import Recurrent, RecurrentCell
from .rnn import GRU, LSTM, RNN

__all__ = ["Module", "ModuleList", "Parameter", "Linear", "Embedding", "Dropout", "init", "utils",
           "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU", "RecurrentCell", "Recurrent"]
