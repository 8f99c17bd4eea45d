"""tr.save / tr.load: .npz round trips, and pickled objects refused without running anything."""

import pathlib
import zipfile

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor


def _write_marker(path):
    """What unpickling the crafted object would do: leave a file behind."""
    pathlib.Path(path).write_text("unpickled!")
    return 0


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (_write_marker, (str(self.marker),))


def _state():
    rng = np.random.default_rng(0)
    return {
        "weight_ih_l0": rng.standard_normal((8, 3)).astype(np.float32),
        "bias": rng.standard_normal(8),
        "scalar": np.float64(2.5),
        "zero_d": np.array(7, dtype=np.int64),
        "empty": np.zeros((0, 4), dtype=np.float32),
        "mask": np.array([True, False]),
        "counts": np.arange(6, dtype=np.int32).reshape(2, 3),
        "layer.0.weight": Tensor(rng.standard_normal((2, 2)), requires_grad=True),
        "file": np.ones(1),  # the name of np.savez's own first argument
    }


def _expected(value):
    return value.data if isinstance(value, Tensor) else np.asarray(value)


def test_round_trip_keeps_names_values_dtypes_and_shapes(tmp_path):
    state = _state()
    written = tr.save(state, tmp_path / "ckpt.npz")
    assert written == tmp_path / "ckpt.npz" and written.is_file()
    loaded = tr.load(tmp_path / "ckpt.npz")
    assert type(loaded) is dict and list(loaded) == list(state)
    for name, value in state.items():
        expected = _expected(value)
        assert isinstance(loaded[name], np.ndarray)
        assert loaded[name].dtype == expected.dtype, name
        assert loaded[name].shape == expected.shape, name
        np.testing.assert_array_equal(loaded[name], expected)


def test_file_is_a_plain_npz_that_numpy_reads(tmp_path):
    state = {"a": np.arange(3.0), "b": np.ones((2, 2), dtype=np.float32)}
    tr.save(state, str(tmp_path / "plain.npz"))
    with np.load(tmp_path / "plain.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == ["a", "b"]
        np.testing.assert_array_equal(npz["a"], state["a"])
    np.savez(tmp_path / "by_numpy.npz", x=np.arange(4, dtype=np.int16))
    np.testing.assert_array_equal(tr.load(tmp_path / "by_numpy.npz")["x"], np.arange(4))


def test_path_without_suffix_round_trips_through_the_same_name(tmp_path):
    state = {"w": np.arange(4.0)}
    written = tr.save(state, tmp_path / "ckpt")
    assert written == tmp_path / "ckpt.npz" and not (tmp_path / "ckpt").exists()
    np.testing.assert_array_equal(tr.load(tmp_path / "ckpt")["w"], state["w"])
    np.testing.assert_array_equal(tr.load(str(tmp_path / "ckpt.npz"))["w"], state["w"])


def test_anything_with_a_state_dict_is_saved_through_it(tmp_path):
    class Model:  # duck-typed: an nn.Module or anything else with state_dict()
        def state_dict(self):
            return {"linear.weight": np.eye(2), "linear.bias": np.zeros(2, dtype=np.float32)}

    tr.save(Model(), tmp_path / "model.npz")
    loaded = tr.load(tmp_path / "model.npz")
    assert sorted(loaded) == ["linear.bias", "linear.weight"]
    assert loaded["linear.bias"].dtype == np.float32


def test_nn_module_round_trip(tmp_path):
    nn = pytest.importorskip("tinygrad_rnn.nn")
    if not hasattr(nn, "Linear"):
        pytest.skip("nn.Linear not available yet")
    tr.manual_seed(0)
    layer = nn.Linear(3, 2)
    tr.save(layer, tmp_path / "linear")
    loaded = tr.load(tmp_path / "linear")
    assert loaded.keys() == layer.state_dict().keys()
    for name, value in layer.state_dict().items():
        np.testing.assert_array_equal(loaded[name], value)


def test_object_array_file_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "marker.txt"
    evil = tmp_path / "evil.npz"
    np.savez(evil, weight=np.ones(2), payload=np.array([_Payload(marker)], dtype=object))
    # the crafted file really is dangerous: numpy with pickle allowed runs the payload
    with np.load(evil, allow_pickle=True) as npz:
        npz["payload"]
    assert marker.exists()
    marker.unlink()

    with pytest.raises(ValueError, match=r"evil\.npz.*pickled objects.*refused"):
        tr.load(evil)
    assert not marker.exists()


def test_a_raw_pickle_file_is_refused_and_runs_nothing(tmp_path):
    import pickle

    marker = tmp_path / "marker.txt"
    evil = tmp_path / "evil.npz"
    evil.write_bytes(pickle.dumps({"w": _Payload(marker)}))
    with pytest.raises(ValueError, match=r"evil\.npz.*pickle"):
        tr.load(evil)
    assert not marker.exists()


def test_non_array_members_and_single_npy_are_refused(tmp_path):
    odd = tmp_path / "odd.npz"
    with zipfile.ZipFile(odd, "w") as zf:
        zf.writestr("w.npy", b"this is not an npy file")
    with pytest.raises(ValueError, match=r"odd\.npz"):
        tr.load(odd)
    single = tmp_path / "single.npz"
    with open(single, "wb") as f:
        np.save(f, np.ones(3))
    with pytest.raises(ValueError, match="single .npy array"):
        tr.load(single)


@pytest.mark.parametrize("bad, message", [
    ({"name": "a string"}, r"'name' is a str"),
    ({"nested": {"w": np.ones(2)}}, r"'nested' is a dict"),
    ({"objs": np.array([object()], dtype=object)}, r"'objs' has dtype object"),
    ({"text": np.array(["a", "b"])}, r"'text' has dtype <U1"),
    ({3: np.ones(2)}, "keys must be strings"),
    ([np.ones(2)], "expected a state dict"),
])
def test_non_array_values_are_refused_and_nothing_is_written(tmp_path, bad, message):
    with pytest.raises(TypeError, match=message):
        tr.save(bad, tmp_path / "bad.npz")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path):
    tr.save({"w": np.ones(2)}, tmp_path / "ckpt.npz")
    with pytest.raises(TypeError):
        tr.save({"w": np.zeros(2), "oops": "text"}, tmp_path / "ckpt.npz")
    np.testing.assert_array_equal(tr.load(tmp_path / "ckpt.npz")["w"], np.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing_here\.npz"):
        tr.load(tmp_path / "nothing_here.npz")
    with pytest.raises(FileNotFoundError, match=r"nothing_here\.npz.*\.npz appended"):
        tr.load(str(tmp_path / "nothing_here"))


def test_loaded_arrays_are_in_memory_and_the_file_is_closed(tmp_path):
    path = tr.save({"w": np.arange(5.0)}, tmp_path / "ckpt.npz")
    loaded = tr.load(path)
    path.unlink()  # nothing is read lazily from the file afterwards
    np.testing.assert_array_equal(loaded["w"], np.arange(5.0))
    loaded["w"][0] = 10.0  # a writable, ordinary array


def test_saved_file_has_ordinary_permissions_and_missing_directory_is_named(tmp_path):
    path = tr.save({"w": np.ones(1)}, tmp_path / "ckpt.npz")
    (tmp_path / "other").write_bytes(b"")  # what any ordinary file gets under this umask
    assert path.stat().st_mode == (tmp_path / "other").stat().st_mode
    with pytest.raises(FileNotFoundError, match=r"directory .*no_such_dir.* does not exist"):
        tr.save({"w": np.ones(1)}, tmp_path / "no_such_dir" / "ckpt.npz")


# --------------------------------------------------------------------------- damaged files

def _saved_bytes(tmp_path) -> tuple[bytes, dict]:
    state = {"weight": np.arange(60.0).reshape(6, 10), "bias": np.linspace(-1, 1, 6)}
    path = tmp_path / "whole.npz"
    tr.save(state, path)
    return path.read_bytes(), state


def test_a_file_cut_short_anywhere_is_refused_in_loads_words(tmp_path):
    whole, _ = _saved_bytes(tmp_path)
    cut_file = tmp_path / "cut.npz"
    for length in sorted({0, 1, 4, 30, len(whole) // 2, len(whole) - 22, len(whole) - 1,
                          *range(0, len(whole), max(1, len(whole) // 40))}):
        cut_file.write_bytes(whole[:length])
        with pytest.raises(ValueError, match=r"^load: .*(empty|not a complete|not an \.npz)"):
            tr.load(cut_file)

