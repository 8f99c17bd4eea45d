"""Issue 14, the ``nn`` package: every bad argument is refused at the door (a
constructor, a load, a layer's or packing function's entry) in the package's own
words, naming the argument, and a refused call changes nothing.

Each table row is (call, expected exception, fragment of its message).
"""

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, nn

rnn_utils = nn.utils.rnn


def refuses(call, exception, fragment):
    with pytest.raises(exception) as info:
        call()
    assert fragment in str(info.value), str(info.value)
    assert info.type is exception or exception is ValueError  # (ShapeError is a ValueError)


# --------------------------------------------------------------------------- constructors

CONSTRUCTORS = [
    (lambda: nn.LSTM(4, 2.5), TypeError, "nn.LSTM: hidden_size must be an int, got 2.5"),
    (lambda: nn.LSTM(4, None), TypeError, "hidden_size must be an int, got None"),
    (lambda: nn.LSTM(4, True), TypeError, "hidden_size must be an int, got True"),
    (lambda: nn.GRU(4.0, 3), TypeError, "nn.GRU: input_size must be an int"),
    (lambda: nn.RNN(0, 3), ValueError, "input_size must be an int >= 1, got 0"),
    (lambda: nn.LSTM(4, 3, num_layers=0), ValueError, "num_layers must be an int >= 1"),
    (lambda: nn.LSTM(4, 3, num_layers=2.0), TypeError, "num_layers must be an int"),
    (lambda: nn.LSTM(4, 3, bidirectional="no"), TypeError, "bidirectional must be a bool"),
    (lambda: nn.LSTM(4, 3, batch_first=1), TypeError, "batch_first must be a bool"),
    (lambda: nn.GRU(4, 3, bias="x"), TypeError, "bias must be a bool"),
    (lambda: nn.LSTM(4, 3, dropout="a"), TypeError, "dropout must be a real number"),
    (lambda: nn.LSTM(4, 3, dropout=True), TypeError, "dropout must be a real number"),
    (lambda: nn.LSTM(4, 3, dropout=1.5), ValueError, "dropout must be in [0, 1]"),
    (lambda: nn.LSTM(4, 3, dropout=float("nan")), ValueError, "dropout must be a finite"),
    (lambda: nn.LSTM(4, 3, proj_size=1.0), TypeError, "proj_size must be an int"),
    (lambda: nn.LSTM(4, 3, proj_size=-1), ValueError, "proj_size must be an int >= 0"),
    (lambda: nn.LSTM(4, 3, proj_size=3), ValueError, "proj_size must be in [0, hidden_size)"),
    (lambda: nn.GRU(4, 3, proj_size=1), ValueError, "only supported for LSTM"),
    (lambda: nn.RNN(4, 3, nonlinearity=None), ValueError, "nonlinearity must be one of"),
    (lambda: nn.RNN(4, 3, nonlinearity=["tanh"]), ValueError, "nonlinearity must be one of"),
    (lambda: nn.LSTMCell(4, -1), ValueError, "nn.LSTMCell: hidden_size must be an int >= 0"),
    (lambda: nn.GRUCell(4, 2.0), TypeError, "nn.GRUCell: hidden_size must be an int"),
    (lambda: nn.RNNCell(4, 2, bias="x"), TypeError, "nn.RNNCell: bias must be a bool"),
    (lambda: nn.RNNCell(4, 2, nonlinearity=1), ValueError, "nonlinearity must be one of"),
    (lambda: nn.Linear(-1, 3), ValueError, "nn.Linear: in_features must be an int >= 0, got -1"),
    (lambda: nn.Linear(2.0, 3), TypeError, "in_features must be an int, got 2.0"),
    (lambda: nn.Linear(2, np.float64(3)), TypeError, "out_features must be an int"),
    (lambda: nn.Linear(2, 3, bias="no"), TypeError, "nn.Linear: bias must be a bool"),
    (lambda: nn.Embedding(-3, 2), ValueError, "num_embeddings must be an int >= 0"),
    (lambda: nn.Embedding(3, None), TypeError, "embedding_dim must be an int"),
    (lambda: nn.Embedding(3, 2, padding_idx=1.5), TypeError, "padding_idx must be an int or None"),
    (lambda: nn.Embedding(3, 2, padding_idx=True), TypeError, "padding_idx must be an int"),
    (lambda: nn.Embedding(3, 2, padding_idx=3), ValueError, "padding_idx must lie in [-3, 3)"),
    (lambda: nn.Dropout("a"), TypeError, "nn.Dropout: p must be a real number"),
    (lambda: nn.Dropout(float("nan")), ValueError, "p must be a finite number"),
    (lambda: nn.Dropout(-0.1), ValueError, "p must be in [0, 1]"),
    (lambda: nn.ModuleList(5), TypeError, "ModuleList: modules must be an iterable"),
    (lambda: nn.ModuleList([nn.Linear(1, 1), 3]), TypeError, "ModuleList holds modules"),
]


@pytest.mark.parametrize("call, exception, fragment", CONSTRUCTORS)
def test_bad_constructor_arguments_are_refused(call, exception, fragment):
    refuses(call, exception, fragment)


def test_numpy_ints_are_sizes_and_zero_features_are_allowed_as_torch():
    lstm = nn.LSTM(np.int64(3), np.int32(4), num_layers=np.int64(2), proj_size=np.int64(2))
    assert (lstm.input_size, lstm.hidden_size, lstm.num_layers) == (3, 4, 2)
    assert type(lstm.hidden_size) is int
    assert nn.Linear(0, 3).weight.shape == (3, 0)
    assert nn.Linear(3, 0).weight.shape == (0, 3)
    assert nn.Embedding(0, 2).weight.shape == (0, 2)
    assert nn.Embedding(3, 0).weight.shape == (3, 0)
    assert nn.Embedding(3, 2, padding_idx=np.int64(-1)).padding_idx == 2
    assert nn.LSTM(4, 3, bidirectional=np.bool_(True)).bidirectional is True


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
def test_zero_feature_layers_are_accepted_by_torch_too():
    torch = pytest.importorskip("torch")
    for build in ("Linear(0, 3)", "Linear(3, 0)", "Embedding(0, 2)", "Embedding(3, 0)"):
        eval(f"torch.nn.{build}", {"torch": torch})
        eval(f"nn.{build}", {"nn": nn})


# --------------------------------------------------------------------------- module state


def _snapshot(module):
    return ({k: v.copy() for k, v in module.state_dict().items()},
            [m.training for m in module.modules()],
            [(p.requires_grad, p.dtype) for p in module.parameters()])


def _assert_unchanged(module, before):
    after = _snapshot(module)
    assert after[1:] == before[1:]
    assert after[0].keys() == before[0].keys()
    for k, v in before[0].items():
        np.testing.assert_array_equal(after[0][k], v)
        assert after[0][k].dtype == v.dtype


def _two_layer():
    return nn.LSTM(2, 3, num_layers=2)


MODULE_CALLS = [
    (lambda m: m.train("no"), TypeError, "LSTM.train: mode must be a bool"),
    (lambda m: m.train(1), TypeError, "mode must be a bool"),
    (lambda m: m.requires_grad_("x"), TypeError, "requires_grad must be a bool"),
    (lambda m: m.to(np.int64), TypeError, "dtype must be a floating numpy dtype"),
    (lambda m: m.to(np.complex128), TypeError, "dtype must be a floating numpy dtype"),
    (lambda m: m.to("garbage"), TypeError, "dtype must be a floating numpy dtype"),
    (lambda m: m.to(object), TypeError, "dtype must be a floating numpy dtype"),
    (lambda m: m.load_state_dict(None), TypeError, "state_dict must be a dict"),
    (lambda m: m.load_state_dict([("weight_ih_l0", np.zeros((12, 2)))]), TypeError,
     "state_dict must be a dict"),
    (lambda m: m.load_state_dict("model.npz", strict=False), TypeError,
     "got a path ('model.npz'); load the file with tr.load(path) and pass the dict"),
    (lambda m: m.load_state_dict(__import__("pathlib").Path("m.npz")), TypeError, "got a path"),
    (lambda m: m.load_state_dict({1: np.zeros(3)}, strict=False), TypeError,
     "keys must be str parameter names, got 1"),
    (lambda m: m.load_state_dict(m.state_dict(), strict="x"), TypeError,
     "strict must be a bool"),
    (lambda m: m.load_state_dict(dict(m.state_dict(), weight_ih_l1=None)), RuntimeError,
     "weight_ih_l1: expected an array of numbers, got None"),
    (lambda m: m.load_state_dict(dict(m.state_dict(), weight_ih_l1="abc")), RuntimeError,
     "weight_ih_l1: expected an array of numbers"),
    (lambda m: m.load_state_dict(dict(m.state_dict(), bias_hh_l0=[[1.0], [1.0, 2.0]])),
     RuntimeError, "bias_hh_l0: expected an array of numbers, got a ragged nested list"),
    (lambda m: m.load_state_dict(dict(m.state_dict(), bias_hh_l0=np.zeros(12, complex))),
     RuntimeError, "bias_hh_l0: expected a numeric array, got dtype complex128"),
    (lambda m: m.load_state_dict(dict(m.state_dict(), bias_hh_l0=np.array(["a"] * 12))),
     RuntimeError, "got dtype <U1"),
    (lambda m: m.load_state_dict(dict(m.state_dict(), bias_hh_l0=np.zeros(13))),
     RuntimeError, "bias_hh_l0: shape (13,) in the state dict"),
    (lambda m: m.gate("i", layer=1.0), TypeError, "LSTM.gate: layer must be an int, got 1.0"),
    (lambda m: m.gate("i", layer=True), TypeError, "layer must be an int, got True"),
    (lambda m: m.gate("i", direction="a"), TypeError, "direction must be an int"),
    (lambda m: m.gate("i", layer=2), IndexError, "no layer 2"),
    (lambda m: m.gate("i", direction=1), IndexError, "direction 1"),
    (lambda m: m.gate(1), TypeError, "the gate name must be a str such as 'i', got 1"),
    (lambda m: m.gate("z"), ValueError, "unknown gate 'z'"),
]


@pytest.mark.parametrize("call, exception, fragment", MODULE_CALLS)
def test_a_refused_module_call_changes_nothing(call, exception, fragment):
    module = _two_layer()
    module.train(False)
    before = _snapshot(module)
    refuses(lambda: call(module), exception, fragment)
    _assert_unchanged(module, before)


def test_a_good_value_beside_a_bad_one_is_not_written():
    lin = nn.Linear(2, 3)
    before = _snapshot(lin)
    with pytest.raises(RuntimeError, match="bias: expected an array of numbers"):
        lin.load_state_dict({"weight": np.full((3, 2), 7.0), "bias": None})
    _assert_unchanged(lin, before)


def test_state_dict_values_are_cast_to_each_parameters_dtype_as_torch():
    lin = nn.Linear(2, 3).float()
    lin.load_state_dict({"weight": np.ones((3, 2), dtype=np.int64),
                         "bias": np.array([True, False, True])})
    assert lin.weight.dtype == np.float32 and lin.bias.dtype == np.float32
    np.testing.assert_array_equal(lin.bias.data, [1.0, 0.0, 1.0])
    lin.load_state_dict({"weight": [[1, 2], [3, 4], [5, 6]], "bias": Tensor([0.5, 1, 2])})
    np.testing.assert_array_equal(lin.weight.data, [[1, 2], [3, 4], [5, 6]])


def test_int_and_bool_state_dict_values_are_accepted_by_torch_too():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Linear(2, 3)
    theirs.load_state_dict({"weight": torch.ones(3, 2, dtype=torch.int64),
                            "bias": torch.tensor([True, False, True])})
    assert theirs.bias.dtype == torch.float32


def test_to_none_changes_nothing_as_torch():
    lin = nn.Linear(2, 3).float()
    assert lin.to(None) is lin and lin.weight.dtype == np.float32


def test_module_list_indexing():
    layers = nn.ModuleList([nn.Linear(1, 1), nn.Linear(1, 2)])
    assert layers[-1].out_features == 2
    assert [m.out_features for m in layers[1:]] == [2]
    refuses(lambda: layers[2], IndexError, "index 2 is out of range for 2 module(s)")
    refuses(lambda: layers["0"], TypeError, "ModuleList indices must be ints")


# --------------------------------------------------------------------------- the shared cache


def test_a_refused_gate_call_does_not_poison_a_later_model():
    """A float layer number once went into ``_weight_names``' cache, shared by all models:
    1.0 == 1, so every later layer 1 looked for the weights "weight_ih_l1.0"."""
    lstm = nn.LSTM(3, 4, num_layers=2)
    with pytest.raises(TypeError, match="layer must be an int"):
        lstm.gate("i", layer=1.0)
    with pytest.raises(TypeError, match="direction must be an int"):
        lstm.gate("i", direction=0.0)
    rnn = nn.RNN(3, 4, num_layers=2, batch_first=True)
    out, h = rnn(np.ones((2, 5, 3)))
    assert out.shape == (2, 5, 4) and h.shape == (2, 2, 4)
    np.testing.assert_array_equal(lstm.gate("i", layer=np.int64(1)).bias_hh,
                                  lstm.bias_hh_l1.data[:4])


# --------------------------------------------------------------------------- layer entries

X = np.zeros((2, 1, 3))

ENTRIES = [
    (lambda: nn.RNN(3, 4)("abc"), TypeError, "RNN: the input must be a Tensor or an array"),
    (lambda: nn.RNN(3, 4)(None), TypeError, "RNN: the input must be a Tensor or an array"),
    (lambda: nn.GRU(3, 4)([[[1.0, 2.0, 3.0]], [[1.0]]]), TypeError, "GRU: the input must be"),
    (lambda: nn.GRU(3, 4)(np.zeros((2, 1, 1, 3))), ValueError, "GRU: expected a 3-D input"),
    (lambda: nn.LSTM(3, 4)(np.zeros((2, 1, 5))), ValueError, "expected input with 3 features"),
    (lambda: nn.RNN(3, 4)(Tensor(np.zeros((2, 1, 3)), dtype=np.int64)), TypeError,
     "RNN: the input has dtype int64 but the parameters have dtype float64"),
    (lambda: nn.RNN(3, 4)(np.zeros((0, 1, 3))), ValueError, "the input sequence is empty"),
    (lambda: nn.RNN(3, 4)(X, (np.zeros((1, 1, 4)),)), TypeError,
     "RNN: the initial state must be one tensor h0, not a tuple of 1"),
    (lambda: nn.LSTM(3, 4)(X, Tensor(np.zeros((1, 1, 4)))), TypeError,
     "LSTM: the initial state must be a tuple (h0, c0), got Tensor"),
    (lambda: nn.LSTM(3, 4)(X, (np.zeros((1, 1, 4)),)), TypeError,
     "must be a tuple (h0, c0), got a tuple of 1"),
    (lambda: nn.RNN(3, 4)(X, np.zeros((1, 2, 4))), ValueError,
     "RNN: expected h0 of shape (1, 1, 4), got (1, 2, 4)"),
    (lambda: nn.RNN(3, 4)(X, "abc"), TypeError, "RNN: the initial state h0 must be a Tensor"),
    (lambda: nn.RNN(3, 4)(X, [[1.0], [2.0, 3.0]]), TypeError, "initial state h0 must be"),
    (lambda: nn.LSTM(3, 4)(X, (np.zeros((1, 1, 4)), None)), TypeError,
     "LSTM: the initial state c0 must be a Tensor"),
    (lambda: nn.LSTMCell(3, 4)(np.zeros((2, 3)), (np.zeros((2, 4)),)), TypeError,
     "LSTMCell: the state must be a tuple (h, c), got a tuple of 1"),
    (lambda: nn.GRUCell(3, 4)(np.zeros((2, 3)), np.zeros((3, 4))), ValueError,
     "GRUCell: expected h of shape (2, 4), got (3, 4)"),
    (lambda: nn.RNNCell(3, 4)(None), TypeError, "RNNCell: the input must be a Tensor"),
    (lambda: nn.RNNCell(3, 4)(np.zeros((1, 1, 3))), ValueError, "RNNCell: expected input"),
    (lambda: nn.Linear(3, 4)("abc"), TypeError, "Linear: the input must be a Tensor"),
    (lambda: nn.Linear(3, 4)(np.float64(1.0)), ValueError, "Linear: expected input of shape"),
    (lambda: nn.Linear(3, 4)(np.zeros((2, 2))), ValueError, "expected input with 3 features"),
    (lambda: nn.Embedding(3, 2)(np.array([1.5])), TypeError, "Embedding: indices must be integ"),
    (lambda: nn.Embedding(3, 2)(np.array([np.nan])), TypeError, "indices must be integers"),
    (lambda: nn.Embedding(3, 2)(np.array([True])), TypeError, "indices must be integers"),
    (lambda: nn.Embedding(3, 2)("a"), TypeError, "indices must be integers"),
    (lambda: nn.Embedding(3, 2)([[1], [1, 2]]), TypeError, "ragged nested list"),
    (lambda: nn.Embedding(3, 2)(np.array([-1])), IndexError, "Embedding: indices must lie in"),
    (lambda: nn.Embedding(3, 2)(np.array([0, 3])), IndexError, "[0, 3), got values from 0 to 3"),
    (lambda: tr.functional.embedding([[1], [1, 2]], np.zeros((3, 2))), TypeError,
     "embedding: indices must be an integer array"),
]


@pytest.mark.parametrize("call, exception, fragment", ENTRIES)
def test_bad_layer_inputs_are_refused_naming_the_layer_and_argument(call, exception, fragment):
    refuses(call, exception, fragment)


def test_a_batch_of_zero_runs_as_torch():
    out, h = nn.GRU(3, 4)(np.zeros((2, 0, 3)))
    assert out.shape == (2, 0, 4) and h.shape == (1, 0, 4)
    assert nn.LSTMCell(3, 4)(np.zeros((0, 3)))[0].shape == (0, 4)


def test_a_refused_cell_call_leaves_no_trace_in_a_recording():
    cell = nn.LSTMCell(3, 4)
    with tr.trace.record_gates() as recorder:
        with pytest.raises(TypeError):
            cell(np.zeros((2, 3)), np.zeros((2, 4)))  # one state for an LSTM cell
        assert recorder.runs == []
        cell(np.zeros((2, 3)))
    assert len(recorder.runs) == 1


# --------------------------------------------------------------------------- packing

PAD = np.zeros((3, 2, 1))


def _packed(data_rows, batch_sizes, sorted_indices=None, unsorted_indices=None):
    return rnn_utils.PackedSequence(Tensor(np.zeros((data_rows, 1))), np.array(batch_sizes),
                                    sorted_indices, unsorted_indices)


PACKING = [
    (lambda: rnn_utils.pack_padded_sequence(PAD, [3, 0]), ValueError,
     "every length must be in [1, 3]"),
    (lambda: rnn_utils.pack_padded_sequence(PAD, [3, -1]), ValueError, "in [1, 3]"),
    (lambda: rnn_utils.pack_padded_sequence(PAD, [4, 1]), ValueError, "in [1, 3]"),
    (lambda: rnn_utils.pack_padded_sequence(np.zeros((3, 0, 1)), []), ValueError,
     "cannot pack empty tensors"),
    (lambda: rnn_utils.pack_padded_sequence(np.zeros((0, 2, 1)), [1, 1]), ValueError,
     "cannot pack empty tensors"),
    (lambda: rnn_utils.pack_padded_sequence(PAD, [3, 1.5]), TypeError, "lengths must be integ"),
    (lambda: rnn_utils.pack_padded_sequence(PAD, Tensor([3.0, 1.5])), TypeError, "integers"),
    (lambda: rnn_utils.pack_padded_sequence(PAD, [True, True]), TypeError, "integers"),
    (lambda: rnn_utils.pack_padded_sequence(PAD, None), TypeError, "lengths must be a 1-D"),
    (lambda: rnn_utils.pack_padded_sequence(PAD, "ab"), TypeError, "lengths must be a 1-D"),
    (lambda: rnn_utils.pack_padded_sequence(PAD, [[3, 1]]), ValueError, "lengths must be 1-D"),
    (lambda: rnn_utils.pack_padded_sequence(PAD, [3]), ValueError,
     "lengths must be 2 integers, one per sequence, got 1"),
    (lambda: rnn_utils.pack_padded_sequence(PAD, [1, 3]), ValueError,
     "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True"),
    (lambda: rnn_utils.pack_padded_sequence(PAD, [3, 1], batch_first="x"), TypeError,
     "batch_first must be a bool"),
    (lambda: rnn_utils.pack_padded_sequence(PAD, [3, 1], enforce_sorted="x"), TypeError,
     "enforce_sorted must be a bool"),
    (lambda: rnn_utils.pack_padded_sequence(None, [3, 1]), TypeError, "input must be a Tensor"),
    (lambda: rnn_utils.pack_sequence([]), ValueError,
     "pack_sequence: received an empty list of sequences"),
    (lambda: rnn_utils.pack_sequence(np.zeros((2, 1))), TypeError, "sequences must be a list"),
    (lambda: rnn_utils.pad_sequence([]), ValueError, "received an empty list of sequences"),
    (lambda: rnn_utils.pad_sequence([np.float64(1.0)]), ValueError, "sequence 0 is 0-d"),
    (lambda: rnn_utils.pad_sequence([np.zeros((2, 3)), np.zeros((2, 4))]), ValueError,
     "sequence 1 has (4,)"),
    (lambda: rnn_utils.pad_sequence([np.zeros((2, 3))], padding_value="a"), TypeError,
     "padding_value must be a real number"),
    (lambda: rnn_utils.pad_packed_sequence(None), TypeError, "expected a PackedSequence"),
    (lambda: rnn_utils.pad_packed_sequence(_packed(2, [1, 1]), total_length=2.5), TypeError,
     "total_length must be an int"),
    (lambda: rnn_utils.pad_packed_sequence(_packed(2, [1, 1]), total_length=1), ValueError,
     "total_length 1 is shorter"),
    (lambda: rnn_utils.pad_packed_sequence(_packed(2, [1, 1]), batch_first="a"), TypeError,
     "batch_first must be a bool"),
    (lambda: rnn_utils.pad_packed_sequence(_packed(3, [1, 2])), ValueError,
     "pad_packed_sequence: batch_sizes must be positive and non-increasing"),
    (lambda: nn.RNN(1, 2)(_packed(3, [2, 1], np.array([0, 0]))), ValueError,
     "RNN: sorted_indices must be a permutation of 0..1"),
    (lambda: nn.RNN(1, 2)(_packed(3, [2, 1], np.array([0, 2]))), ValueError,
     "sorted_indices must be a permutation"),
    (lambda: nn.RNN(1, 2)(_packed(3, [2, 1], np.array([1, 0]), np.array([0, 1]))), ValueError,
     "unsorted_indices must undo sorted_indices"),
    (lambda: nn.RNN(1, 2)(_packed(3, [2, 1], None, np.array([1, 0]))), ValueError,
     "unsorted_indices without sorted_indices"),
    (lambda: nn.LSTM(1, 2)(_packed(3, [1, 2])), ValueError,
     "LSTM: batch_sizes must be positive and non-increasing"),
    (lambda: nn.GRU(1, 2)(_packed(3, [2, 0, 1])), ValueError, "positive and non-increasing"),
    (lambda: nn.GRU(1, 2)(_packed(0, [])), ValueError, "positive and non-increasing"),
    (lambda: nn.RNN(1, 2)(_packed(4, [2, 1])), ValueError,
     "RNN: batch_sizes add up to 3 rows, but the packed data has 4"),
    (lambda: nn.RNN(1, 2)(_packed(3, [2.5, 0.5])), TypeError, "batch_sizes must be integers"),
]


@pytest.mark.parametrize("call, exception, fragment", PACKING)
def test_bad_packing_arguments_are_refused(call, exception, fragment):
    refuses(call, exception, fragment)


def test_lengths_as_a_float_tensor_of_whole_numbers_pack_as_torch():
    packed = rnn_utils.pack_padded_sequence(PAD, Tensor([3.0, 1.0]))
    np.testing.assert_array_equal(packed.batch_sizes, [2, 1, 1])
    torch = pytest.importorskip("torch")
    theirs = torch.nn.utils.rnn.pack_padded_sequence(torch.zeros(3, 2, 1),
                                                     torch.tensor([3.0, 1.0]))
    np.testing.assert_array_equal(packed.batch_sizes, theirs.batch_sizes.numpy())


def test_a_hand_built_packed_batch_without_unsorted_indices_gets_them_as_torch():
    """Without unsorted_indices, h_n came back in the sorted order, silently."""
    gru = nn.GRU(1, 2)
    x = np.random.default_rng(0).standard_normal((3, 2, 1))
    full = rnn_utils.pack_padded_sequence(x, [1, 3], enforce_sorted=False)
    given = gru(full)[1]
    derived = gru(full._replace(unsorted_indices=None))[1]
    np.testing.assert_array_equal(derived.data, given.data)
    padded, lengths = rnn_utils.pad_packed_sequence(full._replace(unsorted_indices=None))
    np.testing.assert_array_equal(lengths, [1, 3])


# --------------------------------------------------------------------------- init


def _weight():
    return nn.Parameter(np.full((3, 2), 5.0))


INIT = [
    (lambda w: nn.init.uniform_(None), TypeError, "init: expected a Tensor, Parameter or numpy"),
    (lambda w: nn.init.uniform_([1.0, 2.0]), TypeError, "got [1.0, 2.0] (list)"),
    (lambda w: nn.init.uniform_(np.zeros((2, 2), int)), TypeError, "floating point tensor"),
    (lambda w: nn.init.uniform_(w, "x"), TypeError, "init.uniform_: a must be a real number"),
    (lambda w: nn.init.uniform_(w, 2, 1), ValueError, "expects a <= b, got a=2.0 > b=1.0"),
    (lambda w: nn.init.uniform_(w, float("nan"), 1), ValueError, "a must be a finite number"),
    (lambda w: nn.init.normal_(w, 0, -1), ValueError, "init.normal_: std must be >= 0"),
    (lambda w: nn.init.normal_(w, "0"), TypeError, "mean must be a real number"),
    (lambda w: nn.init.constant_(w, None), TypeError, "init.constant_: val must be a real"),
    (lambda w: nn.init.xavier_uniform_(w, "a"), TypeError, "gain must be a real number"),
    (lambda w: nn.init.xavier_normal_(w, None), TypeError, "gain must be a real number"),
    (lambda w: nn.init.orthogonal_(w, gain="a"), TypeError, "gain must be a real number"),
    (lambda w: nn.Parameter(np.zeros(2), requires_grad="x"), TypeError,
     "nn.Parameter: requires_grad must be a bool"),
]


@pytest.mark.parametrize("call, exception, fragment", INIT)
def test_bad_init_arguments_are_refused_and_the_weight_is_untouched(call, exception, fragment):
    weight = _weight()
    refuses(lambda: call(weight), exception, fragment)
    np.testing.assert_array_equal(weight.data, 5.0)


def test_init_of_a_tensor_without_elements_does_nothing_as_torch():
    for fill in (nn.init.xavier_uniform_, nn.init.xavier_normal_, nn.init.orthogonal_):
        assert fill(nn.Parameter(np.zeros((0, 0)))).shape == (0, 0)
    assert nn.init.constant_(nn.Parameter(np.zeros(2)), float("inf")).data[0] == np.inf


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_a_cell_without_input_features_runs_as_torch(kind):
    torch = pytest.importorskip("torch")
    theirs = getattr(torch.nn, kind)(0, 2)(torch.zeros(3, 0))
    ours = getattr(nn, kind)(0, 2)(np.zeros((3, 0)))
    theirs, ours = (theirs[0], ours[0]) if kind == "LSTMCell" else (theirs, ours)
    assert ours.shape == tuple(theirs.shape) == (3, 2)


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_a_cell_with_an_empty_state_runs_as_torch(kind):
    torch = pytest.importorskip("torch")
    theirs = getattr(torch.nn, kind)(2, 0)(torch.ones(3, 2))
    x = Tensor(np.ones((3, 2)), requires_grad=True)
    ours = getattr(nn, kind)(2, 0)(x)
    theirs, ours = (theirs[0], ours[0]) if kind == "LSTMCell" else (theirs, ours)
    assert ours.shape == tuple(theirs.shape) == (3, 0)
    (ours.sum() + x.sum()).backward()  # the empty state passes no gradient back
    np.testing.assert_array_equal(x.grad, np.ones((3, 2)))


def test_a_refused_load_names_the_module_and_its_method():
    m = tr.nn.Linear(3, 2)
    sd = m.state_dict()
    sd["weight"] = np.ones(7)
    with pytest.raises(RuntimeError, match=r"^Linear\.load_state_dict: error\(s\) in the state "
                                           r"dict, so nothing was changed:\n  weight: shape"):
        m.load_state_dict(sd)
