"""Hand-derived numpy forward passes and BPTT for RNN, LSTM and GRU.

This is the "by hand" side of every hand-vs-autograd comparison: each
derivation step is written out with its equation, in plain numpy, with no
autograd. Parameters use PyTorch's layout and names (``weight_ih``,
``weight_hh``, ``bias_ih``, ``bias_hh``, gates stacked in rows: LSTM i, f, g, o;
GRU r, z, n), so a one-layer, one-direction layer's ``state_dict()`` feeds them
directly (the ``_l0`` suffix is accepted and ignored).

Shapes: x is (T, N, I) (time first), h0/c0 are (N, H), outputs are (T, N, H).
Every ``*_backward`` takes dL/d(outputs) of shape (T, N, H) (and optionally
dL/dh_T, dL/dc_T for the final states) and returns a dict of gradients with the
parameter names, plus ``"x"`` and ``"h0"`` (and ``"c0"``). Every ``*_step_grads``
takes the same arguments and returns the same BPTT step by step, as a
``tr.trace.StepGrads``: dL/dh_t (and dL/dc_t), each gate's pre-activation
gradient and each step's share of every parameter gradient, the quantities
``tr.trace.step_grads`` reads off autograd.

``notebook`` holds the seed notebook's own training step, reproduced exactly as
written (bugs included) beside the corrected one.
"""

from .gru import gru_backward, gru_forward, gru_step_grads
from .lstm import lstm_backward, lstm_forward, lstm_step_grads
from .rnn import rnn_backward, rnn_forward, rnn_step_grads

__all__ = ["rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward",
           "gru_forward", "gru_backward", "rnn_step_grads", "lstm_step_grads",
           "gru_step_grads"]
