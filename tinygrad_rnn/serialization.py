"""Save and load state dicts as ``.npz`` archives, never with pickle.

``save(obj, path)`` writes each array as ``<name>.npy`` inside a zip archive,
exactly the layout of ``np.savez``, so numpy, torch users and other tools can
read it. ``load(path)`` reads every array at once with ``allow_pickle=False``
and closes the file; an archive holding object arrays (which only pickle can
decode, and whose decoding can run arbitrary code) is refused.

Paths: as ``np.savez`` does, ``.npz`` is appended to a path that does not end
in it -- and ``load`` applies the same rule, so ``save(sd, "ckpt")`` writes
``ckpt.npz`` and ``load("ckpt")`` reads it back.
"""

from __future__ import annotations

import os
import pathlib
import uuid
import zipfile
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from .tensor import Tensor

__all__ = ["save", "load"]


def _npz_path(path: str | os.PathLike[str]) -> pathlib.Path:
    path = pathlib.Path(os.fspath(path))
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


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


def save(obj: Any, path: str | os.PathLike[str]) -> pathlib.Path:
    """Write a state dict ``{name: array}`` (or anything with ``.state_dict()``) to ``path``.

    Arguments:
        obj: a mapping from str names to numpy arrays, Tensors or numbers, or an
            object with a ``state_dict()`` method returning one (an ``nn.Module``).
        path: str or os.PathLike; ``.npz`` is appended when missing.

    Returns:
        the path written. The file is written to a temporary name first and
        then moved into place, so a failed save never leaves half a checkpoint.
    """
    if not isinstance(obj, Mapping) and callable(getattr(obj, "state_dict", None)):
        obj = obj.state_dict()
    if not isinstance(obj, Mapping):
        raise TypeError(f"save: expected a state dict (a mapping of names to arrays) or an "
                        f"object with a state_dict() method, got {type(obj).__name__}")
    arrays = {}
    for name, value in obj.items():
        if not isinstance(name, str):
            raise TypeError(f"save: state dict keys must be strings, got {name!r}")
        arrays[name] = _as_array(name, value)
    target = _npz_path(path)
    if not target.parent.is_dir():
        raise FileNotFoundError(f"save: cannot write {str(target)!r}: the directory "
                                f"{str(target.parent)!r} does not exist")
    # a fresh name beside the target ('x' mode: never clobbers), created with the usual
    # umask permissions, unlike tempfile.mkstemp's private 0600
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED,
                                                   allowZip64=True) as zf:
            for name, array in arrays.items():
                # np.savez's own layout, written directly so that no key can clash with
                # savez's keyword arguments ('file', 'allow_pickle')
                with zf.open(name + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return target


# What numpy and zipfile raise for a file cut short or damaged (a save killed mid-write
# by an older version, a partial download): told in load's words, as a ValueError.
_DAMAGED = (EOFError, zipfile.BadZipFile, zlib.error)


def _damaged(target: pathlib.Path, err: Exception) -> ValueError:
    return ValueError(f"load: {str(target)!r} is not a complete .npz archive: it is cut short "
                      f"or damaged ({type(err).__name__}: {err})")


def load(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a file written by ``save`` (or by ``np.savez``) into ``{name: np.ndarray}``.

    Every array is read into memory and the file is closed before returning.
    Nothing is ever unpickled: a file holding object arrays raises ValueError.

    Raises:
        FileNotFoundError: no file at the path (after appending ``.npz``).
        ValueError: not an ``.npz`` archive (empty, cut short, damaged), or it holds
            pickled objects.
    """
    target = _npz_path(path)
    if not target.is_file():
        given = os.fspath(path)
        note = "" if str(target) == given else f" (the path {given!r} with .npz appended)"
        raise FileNotFoundError(f"load: no such file {str(target)!r}{note}")
    if target.stat().st_size == 0:
        raise ValueError(f"load: {str(target)!r} is empty (0 bytes), not an .npz archive")
    try:
        archive = np.load(target, allow_pickle=False)
    except _DAMAGED as err:
        raise _damaged(target, err) from None
    except ValueError as err:
        raise ValueError(f"load: {str(target)!r} is not an .npz archive that can be read "
                         f"without pickle ({err}); pickled objects are refused") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"load: {str(target)!r} holds a single .npy array, not an .npz "
                         f"archive of named arrays")
    result = {}
    with archive:
        for name in archive.files:
            try:
                value = archive[name]
            except _DAMAGED as err:
                raise _damaged(target, err) from None
            except ValueError as err:
                if "pickle" not in str(err):  # (numpy's own words for an object array)
                    raise _damaged(target, err) from None
                raise ValueError(f"load: refusing {str(target)!r}: the entry {name!r} holds "
                                 f"pickled objects (an object array), and pickled objects are "
                                 f"refused because unpickling can run code ({err})") from None
            if not isinstance(value, np.ndarray):
                raise ValueError(f"load: refusing {str(target)!r}: the entry {name!r} is not "
                                 f"a numpy array")
            result[name] = value
    return result
