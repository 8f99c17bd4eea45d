"""Save and load state dicts as ``.npz`` archives, never with pickle.

``save(obj, path)`` writes each array as ``<name>.npy`` inside a zip archive,
exactly the layout of ``np.savez``, so numpy, torch users and other tools can
read it. ``load(path)`` reads every array at once with ``allow_pickle=False``
and closes the file; an archive holding object arrays (which only pickle can
decode, and whose decoding can run arbitrary code) is refused.

Damage: ``save`` also writes a manifest into the archive's comment (the number
of arrays and a digest of their names; numpy ignores it), and ``load`` reads
every entry to its end, so that zip's CRC of each entry is checked. A damaged
byte anywhere in a saved file is then either refused (ValueError naming the
file) or harmless (the same arrays). Files without a manifest (``np.savez``'s,
earlier versions') still load, every entry's CRC checked.

Paths: as ``np.savez`` does, ``.npz`` is appended to a path that does not end
in it -- and ``load`` applies the same rule, so ``save(sd, "ckpt")`` writes
``ckpt.npz`` and ``load("ckpt")`` reads it back.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pathlib
import re
import socket
import time
import uuid
import zipfile
from collections.abc import Mapping
from typing import Any, BinaryIO

import numpy as np

from .arguments import describe
from .tensor import Tensor

__all__ = ["save", "load"]


def _npz_path(fn: str, path: Any) -> pathlib.Path:
    """``path`` as the archive ``fn`` (save or load) reads or writes: ``.npz`` appended
    when missing. Refuses what is not a file name: a non-path, an empty path, a folder."""
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{fn}: path must be a str or os.PathLike, got {describe(path)}")
    text = os.fspath(path)
    if not isinstance(text, str) or not text or os.path.isdir(text):
        what = "a folder" if isinstance(text, str) and text else "empty"
        raise ValueError(f"{fn}: path must name a file, got {text!r}, which is {what}")
    resolved = pathlib.Path(text)
    return resolved if resolved.suffix == ".npz" else resolved.with_name(resolved.name + ".npz")


def _as_array(name: str, value: Any) -> np.ndarray:
    """A tensor's or array's values; anything that would need pickle is refused."""
    if isinstance(value, Tensor):
        value = value.data
    elif isinstance(value, (bool, int, float, np.generic)):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray):
        raise TypeError(f"save: the value of {name!r} is a {type(value).__name__}; only numpy "
                        f"arrays, Tensors and numbers can be saved (no nested dicts, strings "
                        f"or objects, which would need pickle)")
    if value.dtype.kind not in "biufc" or value.dtype.hasobject:
        raise TypeError(f"save: the array {name!r} has dtype {value.dtype}; only boolean and "
                        f"numeric arrays can be saved without pickle")
    return value


def _checked_arrays(obj: Any) -> dict[str, np.ndarray]:
    """``obj``'s arrays by name, every key and value checked before anything is written."""
    if not isinstance(obj, Mapping) and callable(getattr(obj, "state_dict", None)):
        obj = obj.state_dict()
    if not isinstance(obj, Mapping):
        raise TypeError(f"save: expected a state dict (a mapping of names to arrays) or an "
                        f"object with a state_dict() method, got {type(obj).__name__}")
    arrays = {}
    for name, value in obj.items():
        if not isinstance(name, str):
            raise TypeError(f"save: state dict keys must be strings, got {name!r}")
        if "\x00" in name:  # a zip entry's name ends at NUL: 'a\x00b' would load as 'a'
            raise ValueError(f"save: state dict keys cannot contain the NUL character "
                             f"'\\x00', got {name!r}")
        arrays[name] = _as_array(name, value)
    return arrays


def save(obj: Any, path: str | os.PathLike[str]) -> pathlib.Path:
    """Write a state dict ``{name: array}`` (or anything with ``.state_dict()``) to ``path``.

    Arguments:
        obj: a mapping from str names (without NUL) to numpy arrays, Tensors or
            numbers, or an object with a ``state_dict()`` method returning one
            (an ``nn.Module``).
        path: str or os.PathLike; ``.npz`` is appended when missing.

    Returns:
        the path written.

    Every key and value is checked before anything is written: a non-str key,
    a key with NUL, or a value that is not a numeric array, Tensor or number
    (None, a list, a dict, a string, an object array) raises and leaves the
    disk as it was. The file is written to a temporary file beside it
    (``.<name>.tmp-<host>-<pid>-<random>``), flushed to disk, renamed into place
    and the folder flushed, so a killed or failed save never leaves half a
    checkpoint; the temporary file is removed on any exception, and the
    temporary files of earlier saves to the same path that were killed are
    removed after a successful save (see ``_remove_stale_temporaries``).
    The archive's comment records how many arrays and which names it holds,
    which ``load`` checks.
    """
    arrays = _checked_arrays(obj)
    target = _npz_path("save", path)
    if not target.parent.is_dir():
        raise FileNotFoundError(f"save: cannot write {str(target)!r}: the directory "
                                f"{str(target.parent)!r} does not exist")
    # a fresh name beside the target ('x' mode: never clobbers), created with the usual
    # umask permissions, unlike tempfile.mkstemp's private 0600
    tmp = target.with_name(f"{_temporary_prefix(target)}{_HOST}-{os.getpid()}-"
                           f"{uuid.uuid4().hex}")
    try:
        with open(tmp, "xb") as f:
            _write_archive(f, arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:  # KeyboardInterrupt too: no temporary file is left behind
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_folder(target.parent)
    _remove_stale_temporaries(target)
    return target


def _write_archive(f: BinaryIO, arrays: dict[str, np.ndarray]) -> None:
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, array in arrays.items():
            # np.savez's own layout, written directly so that no key can clash with
            # savez's keyword arguments ('file', 'allow_pickle')
            with zf.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
        zf.comment = _manifest(list(arrays))


def _fsync_folder(folder: pathlib.Path) -> None:
    """Flush the folder's entry for the renamed file to disk (POSIX; elsewhere, and on
    file systems that cannot, the rename is as durable as the system makes it)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- temporary files

_HOST = re.sub(r"[^A-Za-z0-9.]", "", socket.gethostname())[:32] or "host"
# a temporary file untouched this long belongs to a save that died (a live save writes
# its arrays without pause, then renames at once)
_STALE_SECONDS = 3600.0


def _temporary_prefix(target: pathlib.Path) -> str:
    return f".{target.name[:100]}.tmp-"


def _remove_stale_temporaries(target: pathlib.Path) -> None:
    """Remove the temporary files that earlier saves to ``target`` left when killed.

    A temporary file is removed when the process that wrote it is known to be dead
    (same host, POSIX: ``os.kill(pid, 0)``; a reused pid only keeps a file longer),
    or when it has not been modified for an hour, whoever wrote it. A file that
    another live save is writing now is never removed. Also the names of earlier
    versions (``.<name>.<pid>.<hex>.tmp``), by age only. Best effort: errors ignored.
    """
    ours = re.compile(re.escape(_temporary_prefix(target))
                      + r"(?P<host>[A-Za-z0-9.]+)-(?P<pid>\d+)-[0-9a-f]{32}")
    earlier = re.compile(re.escape(f".{target.name}.") + r"\d+\.[0-9a-f]{32}\.tmp")
    now = time.time()
    try:
        candidates = list(target.parent.iterdir())
    except OSError:
        return
    for candidate in candidates:
        match = ours.fullmatch(candidate.name)
        if match is None and earlier.fullmatch(candidate.name) is None:
            continue
        try:
            dead = match is not None and match["host"] == _HOST and _is_dead(int(match["pid"]))
            if dead or now - candidate.stat().st_mtime > _STALE_SECONDS:
                candidate.unlink()
        except OSError:
            pass


def _is_dead(pid: int) -> bool:
    """Whether no process ``pid`` exists on this host (False whenever unsure)."""
    if os.name != "posix" or pid == os.getpid():
        return False  # (on Windows, os.kill(pid, 0) would terminate the process)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: alive, another user's
        return False
    return False


# --------------------------------------------------------------------------- the manifest

# The archive comment of a file written by save: how many arrays and a digest of their
# names in order. The zip CRC of each entry guards its bytes, which load reads to the
# end; the manifest guards the directory, where a damaged byte can hide entries.
_MANIFEST_TAG = b"tinygrad_rnn.save 1 "


def _names_digest(names: list[str]) -> str:
    return hashlib.sha256(json.dumps(names).encode()).hexdigest()


def _manifest(names: list[str]) -> bytes:
    return _MANIFEST_TAG + json.dumps({"arrays": len(names),
                                       "names_sha256": _names_digest(names)}).encode()


def _check_manifest(target: pathlib.Path, comment: bytes, names: list[str]) -> None:
    """Refuse an archive whose entries are not those its manifest lists. A file with
    no manifest (written by np.savez or an earlier version of save) is read as is."""
    if not comment.startswith(_MANIFEST_TAG):
        return
    try:
        manifest = json.loads(comment[len(_MANIFEST_TAG):])
        expected = (manifest["arrays"], manifest["names_sha256"])
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"load: {str(target)!r} is damaged: the list of arrays that save "
                         f"wrote into it cannot be read") from None
    if expected != (len(names), _names_digest(names)):
        raise ValueError(f"load: {str(target)!r} is damaged: save wrote {expected[0]} "
                         f"arrays into it, but {len(names)} can be read ({names!r:.200}), "
                         f"or their names differ")


# --------------------------------------------------------------------------- load


def _damaged(target: pathlib.Path, err: BaseException) -> ValueError:
    return ValueError(f"load: {str(target)!r} is not a complete .npz archive: it is cut short "
                      f"or damaged ({type(err).__name__}: {err})")


class _PickledObjects(Exception):
    """An entry holds an object array: numpy refuses it without pickle."""


def load(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a file written by ``save`` (or by ``np.savez``) into ``{name: np.ndarray}``.

    Every array is read into memory, each entry to its end so that its zip CRC is
    checked, and the file is closed before returning. Files written by ``save``
    carry a manifest (the archive comment: the number of arrays and a digest of
    their names), checked here; files without one (``np.savez``'s, or those of
    earlier versions of ``save``) load as before, with every entry's CRC checked.
    Nothing is ever unpickled: a file holding object arrays raises ValueError.

    Raises:
        FileNotFoundError: no file at the path (after appending ``.npz``).
        ValueError: naming the file: empty, not an ``.npz`` archive (a single
            ``.npy``, a pickle), cut short or damaged anywhere (a damaged byte is
            either detected or harmless: the same arrays are returned), an entry
            that is not an ``.npy`` array, or pickled objects.
    """
    target = _npz_path("load", path)
    if not target.is_file():
        given = os.fspath(path)
        note = "" if str(target) == given else f" (the path {given!r} with .npz appended)"
        raise FileNotFoundError(f"load: no such file {str(target)!r}{note}")
    with open(target, "rb") as f:
        head = f.read(6)
    if not head:
        raise ValueError(f"load: {str(target)!r} is empty (0 bytes), not an .npz archive")
    if head.startswith(b"\x93NUMPY"):
        raise ValueError(f"load: {str(target)!r} holds a single .npy array, not an .npz "
                         f"archive of named arrays")
    if not head.startswith(b"PK"):
        raise ValueError(f"load: {str(target)!r} is not an .npz archive (it does not begin "
                         f"as a zip archive does); pickle files are refused, since "
                         f"unpickling can run code")
    try:
        return _read_archive(target)
    except _PickledObjects as err:
        raise ValueError(f"load: refusing {str(target)!r}: the entry {str(err)!r} holds "
                         f"pickled objects (an object array), and pickled objects are "
                         f"refused because unpickling can run code") from None


def _read_archive(target: pathlib.Path) -> dict[str, np.ndarray]:
    # Whatever zipfile or numpy raise while reading means the file is damaged: zipfile
    # alone raises BadZipFile, EOFError, OSError, zlib and lzma errors, NotImplementedError
    # (a method or version byte), RuntimeError ('encrypted': a flag bit).
    try:
        with zipfile.ZipFile(target) as zf:
            _check_the_end(target, zf.comment)
            result = {}
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    raise ValueError(f"load: {str(target)!r} holds the entry "
                                     f"{info.filename!r}, which is not an .npy array")
                result[info.filename[:-4]] = _read_entry(zf, info)
            _check_manifest(target, zf.comment, [i.filename[:-4] for i in zf.infolist()])
    except (ValueError, _PickledObjects) as err:
        if str(err).startswith("load: ") or isinstance(err, _PickledObjects):
            raise
        raise _damaged(target, err) from None
    except MemoryError:  # a whole file too large for memory is not a damaged one
        raise
    except Exception as err:
        raise _damaged(target, err) from None
    return result


def _check_the_end(target: pathlib.Path, comment: bytes) -> None:
    """The file ends with its end-of-directory record and the whole comment that record
    announces: zipfile accepts a comment cut short (and with it, the manifest)."""
    record = 22  # the end-of-central-directory record, without its comment
    with open(target, "rb") as f:
        f.seek(-(record + len(comment)), os.SEEK_END)
        end = f.read(record)
    if end[:4] != b"PK\x05\x06" or int.from_bytes(end[20:22], "little") != len(comment):
        raise ValueError("the archive's comment is cut short, or bytes follow it")


def _read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """One entry's array, read to its end (which checks its CRC), after checking that
    its header's shape and dtype account for exactly the entry's size (a damaged
    header could otherwise ask for a huge array)."""
    read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}
    with zf.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version in read_header:  # (3.0, for unicode field names: read_array checks)
            shape, _, dtype = read_header[version](member)
            if dtype.hasobject:
                raise _PickledObjects(info.filename[:-4])
            expected = member.tell() + math.prod(shape) * dtype.itemsize
            if expected != info.file_size:
                raise ValueError(f"its header describes {expected} bytes, the entry "
                                 f"holds {info.file_size}")
    with zf.open(info) as member:
        try:
            array = np.lib.format.read_array(member, allow_pickle=False)
        except ValueError as err:
            if "allow_pickle" in str(err):  # (numpy's words for an object array)
                raise _PickledObjects(info.filename[:-4]) from None
            raise
        if member.read(1):
            raise ValueError("bytes after the array")
    if not isinstance(array, np.ndarray):
        raise ValueError("not a numpy array")
    return array
