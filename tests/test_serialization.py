"""tr.save / tr.load: .npz round trips, and pickled objects refused without running anything."""

import os
import pathlib
import signal
import stat
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, serialization


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



def _same_arrays(loaded: dict, state: dict) -> bool:
    return list(loaded) == list(state) and all(
        loaded[k].dtype == state[k].dtype and loaded[k].shape == state[k].shape
        and loaded[k].tobytes() == state[k].tobytes() for k in state)


@pytest.mark.parametrize("xor", [0xFF, 0x01])
def test_a_damaged_byte_anywhere_is_refused_or_harmless(tmp_path, xor):
    # every byte of the file, one at a time: the entries, their headers, the zip
    # directory (where a damaged byte could hide an entry) and the manifest
    whole, state = _saved_bytes(tmp_path)
    damaged_file = tmp_path / "damaged.npz"
    outcomes = set()
    for position in range(len(whole)):
        damaged = bytearray(whole)
        damaged[position] ^= xor
        damaged_file.write_bytes(bytes(damaged))
        try:
            loaded = tr.load(damaged_file)
        except ValueError as err:
            assert str(err).startswith(f"load: {str(damaged_file)!r}"), (position, err)
            outcomes.add("refused")
        else:
            assert _same_arrays(loaded, state), position
            outcomes.add("same")
    assert outcomes == {"refused", "same"}


@pytest.mark.parametrize("write", [
    lambda path, state: np.savez(path, **state),
    lambda path, state: np.savez_compressed(path, **state),
])
def test_files_without_a_manifest_still_load(tmp_path, write):
    state = {"weight": np.arange(6.0).reshape(2, 3), "steps": np.array(3)}
    write(tmp_path / "plain.npz", state)
    assert zipfile.ZipFile(tmp_path / "plain.npz").comment == b""
    assert _same_arrays(tr.load(tmp_path / "plain.npz"), state)


@pytest.mark.parametrize("bad, error, message", [
    ({"a\x00b": np.ones(2)}, ValueError, r"cannot contain the NUL character.*'a\\x00b'"),
    ({"w": np.ones(2), None: np.ones(2)}, TypeError, "keys must be strings, got None"),
    ({"w": np.ones(2), "empty": None}, TypeError, r"'empty' is a NoneType"),
    ({"w": np.ones(2), "ragged": [[1, 2], [3]]}, TypeError, r"'ragged' is a list"),
    ({"w": np.ones(2), "huge": 2 ** 70}, TypeError, r"'huge' has dtype object"),
])
def test_bad_keys_and_values_change_nothing_on_disk(tmp_path, bad, error, message):
    tr.save({"w": np.ones(2)}, tmp_path / "ckpt.npz")
    before = (tmp_path / "ckpt.npz").read_bytes()
    with pytest.raises(error, match=message):
        tr.save(bad, tmp_path / "ckpt.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]
    assert (tmp_path / "ckpt.npz").read_bytes() == before


# --------------------------------------------------------------------------- atomic saves


def _temporaries(folder):
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


@pytest.mark.parametrize("interruption", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_an_exception_inside_save_leaves_no_temporary_file(tmp_path, monkeypatch, interruption):
    tr.save({"w": np.ones(2)}, tmp_path / "ckpt.npz")
    real_write = np.lib.format.write_array
    calls = []

    def write_then_fail(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the first array is written, the second fails
            raise interruption
        return real_write(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", write_then_fail)
    with pytest.raises(type(interruption)):
        tr.save({"a": np.zeros(3), "b": np.zeros(3)}, tmp_path / "ckpt.npz")
    assert len(calls) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]
    np.testing.assert_array_equal(tr.load(tmp_path / "ckpt.npz")["w"], np.ones(2))


def test_save_flushes_the_file_and_the_folder_to_disk(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    tr.save({"w": np.ones(2)}, tmp_path / "ckpt.npz")
    assert False in synced  # the temporary file, before the rename
    if os.name == "posix":
        assert synced[-1] is True  # the folder, after it


_KILLED_SAVE = """
import sys, time
import numpy as np
import tinygrad_rnn as tr
real_write = np.lib.format.write_array
def write_and_hang(member, array, **kwargs):
    real_write(member, array, **kwargs)  # half the checkpoint is on disk...
    print("writing", flush=True)
    time.sleep(60)                        # ...when the process is killed
np.lib.format.write_array = write_and_hang
tr.save({"a": np.zeros(100_000), "b": np.zeros(100_000)}, sys.argv[1])
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_killed_save_keeps_the_checkpoint_and_its_orphan_is_removed_next_time(tmp_path):
    target = tmp_path / "ckpt.npz"
    tr.save({"w": np.ones(2)}, target)
    env = {**os.environ, "PYTHONPATH": str(pathlib.Path(tr.__file__).parent.parent)}
    child = subprocess.Popen([sys.executable, "-c", _KILLED_SAVE, str(target)],
                             stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout.readline() == "writing\n"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    orphans = _temporaries(tmp_path)
    assert len(orphans) == 1 and f"-{child.pid}-" in orphans[0]  # a killed save's leftover
    np.testing.assert_array_equal(tr.load(target)["w"], np.ones(2))  # the checkpoint: intact

    tr.save({"w": np.zeros(2)}, target)
    assert _temporaries(tmp_path) == []
    np.testing.assert_array_equal(tr.load(target)["w"], np.zeros(2))


@pytest.mark.skipif(os.name != "posix", reason="pids are checked on POSIX")
def test_only_temporary_files_of_dead_saves_to_the_same_path_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host, hour_ago = serialization._HOST, time.time() - 2 * 3600
    hex32 = "0123456789abcdef" * 2
    files = {  # name: (last modified, removed?)
        f".ckpt.npz.tmp-{host}-{dead.pid}-{hex32}": (None, True),      # its save died
        f".ckpt.npz.tmp-{host}-{os.getpid()}-{hex32}": (None, False),  # a live save
        f".ckpt.npz.tmp-otherhost-{dead.pid}-{hex32}": (None, False),  # may be alive there
        f".ckpt.npz.tmp-otherhost-{dead.pid}-{'f' * 32}": (hour_ago, True),  # long dead
        f".ckpt.npz.{dead.pid}.{hex32}.tmp": (hour_ago, True),   # an earlier version's
        f".ckpt.npz.{dead.pid}.{'f' * 32}.tmp": (None, False),   # ...written just now
        f".other.npz.tmp-{host}-{dead.pid}-{hex32}": (None, False),  # another checkpoint's
        "ckpt.npz.tmp": (hour_ago, False),                           # not ours at all
    }
    for name, (modified, _) in files.items():
        (tmp_path / name).write_bytes(b"partial")
        if modified is not None:
            os.utime(tmp_path / name, (modified, modified))
    tr.save({"w": np.ones(2)}, tmp_path / "ckpt.npz")
    kept = {p.name for p in tmp_path.iterdir()} - {"ckpt.npz"}
    assert kept == {name for name, (_, removed) in files.items() if not removed}


@pytest.mark.parametrize("fn", ["save", "load"])
@pytest.mark.parametrize("path, error, words", [
    (None, TypeError, "path must be a str or os.PathLike, got None"),
    (3, TypeError, "path must be a str or os.PathLike, got 3 (int)"),
    (b"ck.npz", TypeError, "path must be a str or os.PathLike"),
    ("", ValueError, "path must name a file, got '', which is empty"),
])
def test_a_path_that_names_no_file_is_refused_in_the_callers_words(fn, path, error, words):
    call = (lambda: tr.save({"w": np.ones(2)}, path)) if fn == "save" else (lambda: tr.load(path))
    with pytest.raises(error, match=f"^{fn}: ") as info:
        call()
    assert words in str(info.value)


@pytest.mark.parametrize("fn", ["save", "load"])
def test_a_folder_is_not_a_file_name(tmp_path, fn):
    before = sorted(tmp_path.parent.iterdir())
    with pytest.raises(ValueError, match=f"^{fn}: path must name a file, got .*which is a folder"):
        tr.save({"w": np.ones(2)}, tmp_path) if fn == "save" else tr.load(tmp_path)
    assert sorted(tmp_path.parent.iterdir()) == before  # no 'folder.npz' written beside it
