"""Checkpoints: ``save(obj, path)`` / ``load(path)`` in safetensors format — never pickle.

``obj`` is a nested structure of dicts, lists, tuples, strings, numbers, booleans, None, NumPy or
CuPy arrays and cugrad Tensors (a model's state_dict, an optimizer's, the step, RNG state, a
config). Arrays become safetensors tensors named by their dotted path (``model.0.weight``); the
rest of the structure is kept as JSON in the file's ``__metadata__`` with a format tag and version,
and a CRC-32 of the tensor bytes so a damaged file is caught on load.

Files are written atomically: a temp file in the same directory, fsync, ``os.replace``, fsync of
the directory — a crash mid-write leaves the previous file intact. Anything that is not a cugrad
checkpoint, or is truncated or damaged, raises :class:`CheckpointError` naming the file and what
is wrong.
"""
from __future__ import annotations

import json
import os
import struct
import tempfile
import zlib

import numpy as np

from . import backend

__all__ = ["save", "load", "CheckpointError", "FORMAT", "FORMAT_VERSION"]

FORMAT = "cugrad"
FORMAT_VERSION = 2          # 2: bfloat16 arrays (stored as their uint16 bits, the dtype in the structure)
# markers inside the JSON structure; user dicts may not use these keys
_T, _TUPLE, _ITEMS, _BITS_OF = "__tensor__", "__tuple__", "__items__", "__bits_of__"
_RESERVED = (_T, _TUPLE, _ITEMS, _BITS_OF)
_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: missing, truncated, foreign, damaged or mismatched."""


# --------------------------------------------------------------------------- save

def _as_numpy(value):
    """A host NumPy array for an array or Tensor, else None."""
    if isinstance(value, np.ndarray):
        return value
    if backend.is_array(value):  # cupy
        return backend.to_device(value, "cpu")
    from .tensor import Tensor  # io sits above tensor in the layering; imported late to stay light

    if isinstance(value, Tensor):
        return backend.to_device(value.data, "cpu")
    return None


def _encode(value, path, tensors):
    """JSON-able structure for ``value``; arrays go into ``tensors`` under a dotted name."""
    arr = _as_numpy(value)
    if arr is not None:
        name = path or "tensor"
        if name in tensors:  # two paths flatten to one name (a key with a dot in it)
            k = 1
            while f"{name}~{k}" in tensors:
                k += 1
            name = f"{name}~{k}"
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        arr = arr if arr.flags.c_contiguous else np.array(arr, order="C")
        if backend.is_bfloat16(arr.dtype):     # safetensors' NumPy reader has no BF16: keep the bits
            tensors[name] = arr.view(np.uint16)
            return {_T: name, _BITS_OF: "bfloat16"}
        tensors[name] = arr
        return {_T: name}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            bad = [k for k in value if k in _RESERVED]
            if bad:
                raise ValueError(f"cugrad.save: dict key {bad[0]!r} at {path or 'top level'!r} is reserved")
            return {k: _encode(v, f"{path}.{k}" if path else k, tensors) for k, v in value.items()}
        items = []
        for k, v in value.items():
            if isinstance(k, np.generic):
                k = k.item()
            if not (k is None or isinstance(k, (bool, int, float, str))):
                raise TypeError(f"cugrad.save: dict key {k!r} at {path or 'top level'!r} must be a str, int, "
                                f"float, bool or None, got {type(k).__name__}")
            items.append([k, _encode(v, f"{path}.{k}" if path else str(k), tensors)])
        return {_ITEMS: items}
    if isinstance(value, (list, tuple)):
        enc = [_encode(v, f"{path}.{i}" if path else str(i), tensors) for i, v in enumerate(value)]
        return {_TUPLE: enc} if isinstance(value, tuple) else enc
    raise TypeError(f"cugrad.save: cannot store {type(value).__name__} at {path or 'top level'!r}; "
                    f"expected arrays, Tensors, numbers, strings, None, lists, tuples and dicts")


def _crc(tensors) -> str:
    crc = 0
    for name in sorted(tensors):
        crc = zlib.crc32(name.encode(), crc)
        crc = zlib.crc32(tensors[name].reshape(-1).view(np.uint8), crc)
    return f"{crc:08x}"


def to_bytes(obj) -> bytes:
    """The safetensors bytes ``save`` would write for ``obj``."""
    import safetensors.numpy

    tensors = {}
    structure = _encode(obj, "", tensors)
    meta = {"format": FORMAT, "format_version": str(FORMAT_VERSION),
            "structure": json.dumps(structure, separators=(",", ":")), "crc32": _crc(tensors)}
    return safetensors.numpy.save(tensors, metadata=meta)


def save(obj, path) -> None:
    """Write ``obj`` to ``path`` atomically in safetensors format (see the module docstring)."""
    atomic_write(path, to_bytes(obj))


def atomic_write(path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers see the old file or the new one, never a part."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)


def _fsync_dir(folder) -> None:
    if not hasattr(os, "O_DIRECTORY"):
        return  # Windows: directories cannot be opened for fsync
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- load

def read_header(path) -> tuple[dict, bytes]:
    """(header dict, file bytes) of a safetensors file, with CheckpointError for anything else."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path!r} not found") from None
    except IsADirectoryError:
        raise CheckpointError(f"checkpoint {path!r} is a directory, not a file") from None
    except OSError as exc:
        raise CheckpointError(f"checkpoint {path!r} cannot be read: {exc.strerror or exc}") from None
    if len(data) == 0:
        raise CheckpointError(f"checkpoint {path!r} is empty")
    if len(data) < 8:
        raise CheckpointError(f"checkpoint {path!r} is truncated or not a safetensors file ({len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER or (8 + n > len(data) and data[8:9] != b"{"):
        raise CheckpointError(f"checkpoint {path!r} is not a safetensors file")
    if 8 + n > len(data):
        raise CheckpointError(f"checkpoint {path!r} is truncated: its header needs {8 + n} bytes, "
                              f"the file has {len(data)}")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
    except (UnicodeDecodeError, ValueError):
        raise CheckpointError(f"checkpoint {path!r} is not a safetensors file (its header is not JSON)") from None
    end = 8 + n
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        try:
            stop = int(spec["data_offsets"][1])
        except (TypeError, KeyError, IndexError, ValueError):
            raise CheckpointError(f"checkpoint {path!r} is corrupt: bad header entry for {name!r}") from None
        if 8 + n + stop > len(data):
            raise CheckpointError(f"checkpoint {path!r} is truncated: tensor {name!r} ends at byte "
                                  f"{8 + n + stop}, the file has {len(data)}")
        end = max(end, 8 + n + stop)
    return header, data


def load(path, device=None):
    """Read a checkpoint written by :func:`save`; arrays come back as NumPy arrays, or on
    ``device`` (e.g. "cuda") when given. Raises :class:`CheckpointError` on any bad file."""
    import safetensors.numpy

    path = os.fspath(path)
    header, data = read_header(path)
    meta = header.get("__metadata__") or {}
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path!r} is a safetensors file but not a cugrad checkpoint "
                              f"(no format tag {FORMAT!r} in its metadata)")
    try:
        version = int(meta.get("format_version", ""))
    except ValueError:
        raise CheckpointError(f"checkpoint {path!r} has a bad format version "
                              f"{meta.get('format_version')!r}") from None
    if version > FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path!r} has format version {version}; this cugrad reads up to "
                              f"{FORMAT_VERSION} (upgrade cugrad)")
    try:
        tensors = safetensors.numpy.load(data)
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path!r} is corrupt: {exc}") from None
    if "crc32" in meta and _crc(tensors) != meta["crc32"]:
        raise CheckpointError(f"checkpoint {path!r} is corrupt: its tensor data fails the CRC-32 check")
    try:
        structure = json.loads(meta["structure"])
    except (KeyError, ValueError):
        raise CheckpointError(f"checkpoint {path!r} is corrupt: its structure metadata is missing or not JSON") from None
    dev = backend.get_device(device) if device is not None else None
    try:
        return _decode(structure, tensors, dev)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path!r} is corrupt: its structure does not match its tensors ({exc})") from None


def _decode(node, tensors, device):
    if isinstance(node, list):
        return [_decode(v, tensors, device) for v in node]
    if isinstance(node, dict):
        if _T in node and (len(node) == 1 or (len(node) == 2 and node.get(_BITS_OF) == "bfloat16")):
            arr = tensors[node[_T]]
            if _BITS_OF in node:
                arr = arr.view(backend.bfloat16_dtype())
            return backend.to_device(arr, device) if device is not None and device.type != "cpu" else arr
        if _TUPLE in node and len(node) == 1:
            return tuple(_decode(v, tensors, device) for v in node[_TUPLE])
        if _ITEMS in node and len(node) == 1:
            return {k: _decode(v, tensors, device) for k, v in node[_ITEMS]}
        return {k: _decode(v, tensors, device) for k, v in node.items()}
    return node
