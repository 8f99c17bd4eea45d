"""Torch as the reference for our recurrent cells and layers.

Run ``python tests/make_golden.py`` (torch needed) to regenerate
``tests/golden/*.npz``: for each config in ``GOLDEN_CONFIGS``, torch's weights,
the inputs and upstream gradients, and torch's outputs and gradients (input,
initial states, every parameter). ``test_rnn_layers.py`` reads them with
``allow_pickle=False``, so a machine without torch still checks parity.

The same ``torch_reference`` drives the live parity tests when torch is installed.
"""

from __future__ import annotations

import json
import pathlib
import sys

import numpy as np

GOLDEN_DIR = pathlib.Path(__file__).parent / "golden"

# name -> (kind, constructor kwargs, input shape, given initial state?)
# kind is one of RNN, LSTM, GRU (sequence layers) or RNNCell, LSTMCell, GRUCell.
GOLDEN_CONFIGS = {
    "rnn_tanh_2layer_bidir": ("RNN", dict(input_size=3, hidden_size=4, num_layers=2,
                                          bidirectional=True), (5, 2, 3), True),
    "rnn_relu_batch_first": ("RNN", dict(input_size=2, hidden_size=3, nonlinearity="relu",
                                         batch_first=True), (2, 4, 2), False),
    "lstm_2layer_bidir": ("LSTM", dict(input_size=3, hidden_size=4, num_layers=2,
                                       bidirectional=True), (5, 2, 3), True),
    "lstm_proj_nobias": ("LSTM", dict(input_size=2, hidden_size=5, proj_size=3, bias=False,
                                      num_layers=2, batch_first=True), (2, 4, 2), True),
    "lstm_unbatched": ("LSTM", dict(input_size=3, hidden_size=3), (6, 3), False),
    "gru_2layer_bidir_batch_first": ("GRU", dict(input_size=3, hidden_size=4, num_layers=2,
                                                 bidirectional=True, batch_first=True),
                                     (2, 5, 3), True),
    "gru_nobias_unbatched": ("GRU", dict(input_size=2, hidden_size=3, bias=False), (4, 2), True),
    "rnncell_relu": ("RNNCell", dict(input_size=3, hidden_size=4, nonlinearity="relu"),
                     (2, 3), True),
    "lstmcell": ("LSTMCell", dict(input_size=3, hidden_size=4), (2, 3), True),
    "grucell_unbatched": ("GRUCell", dict(input_size=3, hidden_size=4), (3,), True),
}


def state_shapes(kind: str, kwargs: dict, x_shape: tuple) -> list[tuple]:
    """Shapes of the initial states torch expects: [h0] or [h0, c0]."""
    hidden = kwargs["hidden_size"]
    if kind.endswith("Cell"):
        batch = x_shape[:-1]
        return [(*batch, hidden)] * (2 if kind == "LSTMCell" else 1)
    d_l = (2 if kwargs.get("bidirectional") else 1) * kwargs.get("num_layers", 1)
    h_out = kwargs.get("proj_size", 0) or hidden
    if len(x_shape) == 2:
        batch = ()
    else:
        batch = (x_shape[0] if kwargs.get("batch_first") else x_shape[1],)
    shapes = [(d_l, *batch, h_out)]
    if kind == "LSTM":
        shapes.append((d_l, *batch, hidden))
    return shapes


def flatten(out) -> list:
    """(output, h_n) / (output, (h_n, c_n)) / (h, c) / h  ->  a flat list."""
    if isinstance(out, (tuple, list)):
        return [t for item in out for t in flatten(item)]
    return [out]


def torch_reference(kind, kwargs, state_dict, x, states, upstream) -> dict:
    """Torch's outputs and gradients of sum_k sum(upstream[k] * outputs[k]), float64.

    Arguments:
        kind: "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell" or "GRUCell".
        kwargs: the constructor's keyword arguments (torch's names).
        state_dict: {name: np.ndarray}, loaded into the torch module.
        x: the input; states: [] for default states, or [h0] / [h0, c0].
        upstream: one array per flattened output.

    Returns:
        {"outputs": [...], "grad_x": ..., "grad_states": [...], "grad_params": {name: ...}}
    """
    import torch

    module = getattr(torch.nn, kind)(**kwargs).double()
    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state_dict.items()})
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    ts = [torch.tensor(s, dtype=torch.float64, requires_grad=True) for s in states]
    if not ts:
        out = module(tx)
    elif kind in ("LSTM", "LSTMCell"):
        out = module(tx, tuple(ts))
    else:
        out = module(tx, ts[0])
    outs = flatten(out)
    loss = sum((o * torch.from_numpy(v)).sum() for o, v in zip(outs, upstream))
    loss.backward()
    return {
        "outputs": [o.detach().numpy() for o in outs],
        "grad_x": tx.grad.numpy(),
        "grad_states": [s.grad.numpy() for s in ts],
        "grad_params": {n: p.grad.numpy() for n, p in module.named_parameters()},
    }


def make_case(kind, kwargs, x_shape, given_state, seed):
    """Torch-initialized weights, random inputs and upstream gradients, and torch's answer."""
    import torch

    torch.manual_seed(seed)
    module = getattr(torch.nn, kind)(**kwargs).double()
    state_dict = {k: v.numpy() for k, v in module.state_dict().items()}
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape)
    states = ([rng.standard_normal(s) for s in state_shapes(kind, kwargs, x_shape)]
              if given_state else [])
    with torch.no_grad():
        shapes = [o.shape for o in flatten(module(torch.from_numpy(x)))]
    upstream = [rng.standard_normal(tuple(s)) for s in shapes]
    reference = torch_reference(kind, kwargs, state_dict, x, states, upstream)
    return state_dict, x, states, upstream, reference


def main() -> int:
    GOLDEN_DIR.mkdir(exist_ok=True)
    for seed, (name, (kind, kwargs, x_shape, given)) in enumerate(sorted(GOLDEN_CONFIGS.items())):
        state_dict, x, states, upstream, ref = make_case(kind, kwargs, x_shape, given, seed)
        arrays = {"config": np.array(json.dumps({"kind": kind, "kwargs": kwargs})), "x": x,
                  "grad_x": ref["grad_x"]}
        for k, v in state_dict.items():
            arrays[f"param.{k}"] = v
            arrays[f"grad_param.{k}"] = ref["grad_params"][k]
        for i, (s, g) in enumerate(zip(states, ref["grad_states"])):
            arrays[f"state.{i}"], arrays[f"grad_state.{i}"] = s, g
        for i, (v, o) in enumerate(zip(upstream, ref["outputs"])):
            arrays[f"upstream.{i}"], arrays[f"output.{i}"] = v, o
        np.savez_compressed(GOLDEN_DIR / f"{name}.npz", **arrays)
        print(f"wrote {name}.npz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
