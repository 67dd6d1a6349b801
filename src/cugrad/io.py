"""Checkpoints: ``save(obj, path)`` / ``load(path)`` in safetensors format — never pickle.

``obj`` is a nested structure of dicts, lists, tuples, strings, numbers, booleans, None, NumPy or
CuPy arrays and cugrad Tensors (a model's state_dict, an optimizer's, the step, RNG state, a
config). Arrays become safetensors tensors named by their dotted path (``model.0.weight``); the
rest of the structure is kept as JSON in the file's ``__metadata__`` with a format tag and version,
and a CRC-32 over the metadata and every tensor's name, dtype, shape and bytes, so a damaged file
(a flipped bit in a stored seed as much as in a weight) is caught on load.

Older formats still load: version 1 has no checksum, version 2 one of the tensor bytes only, so
damage to their metadata is not detected here (``cugrad train/eval`` still check the structure of
what they read).

Files are written atomically: a temp file ``.<name>.XXXXXXXX.tmp`` in the same directory, locked
while it is written, fsync, ``os.replace``, fsync of the directory — a crash mid-write leaves the
previous file intact. Temp files of ``<name>`` that a killed writer left behind (unlocked, older
than this process) are removed by the next save to ``<name>``. Anything that is not a cugrad
checkpoint, or is truncated or damaged, raises :class:`CheckpointError` naming the file and what
is wrong.
"""
from __future__ import annotations

import json
import os
import re
import struct
import tempfile
import time
import zlib

import numpy as np
import safetensors.numpy

from . import backend
from .tensor import Tensor

try:
    import fcntl                 # POSIX: locks mark a temp file whose writer is alive
except ImportError:              # Windows: no locks, so stale temp files are left alone
    fcntl = None

__all__ = ["save", "load", "CheckpointError", "FORMAT", "FORMAT_VERSION"]

FORMAT = "cugrad"
FORMAT_VERSION = 3          # 2: bfloat16 arrays (stored as their uint16 bits, the dtype in the structure)
                            # 3: the checksum covers the metadata and the tensors' dtypes and shapes
# markers inside the JSON structure; user dicts may not use these keys
_T, _TUPLE, _ITEMS, _BITS_OF = "__tensor__", "__tuple__", "__items__", "__bits_of__"
_RESERVED = (_T, _TUPLE, _ITEMS, _BITS_OF)
_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit
_STARTED = time.time()           # temp files older than this process cannot be its own writes


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: missing, truncated, foreign, damaged or mismatched."""


# --------------------------------------------------------------------------- save

def _as_numpy(value):
    """A host NumPy array for an array or Tensor, else None."""
    if isinstance(value, np.ndarray):
        return value
    if backend.is_array(value):  # cupy
        return backend.to_device(value, "cpu")
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


def _crc(tensors, meta=None) -> str:
    """CRC-32 of the tensors' names and bytes (format 2); given the metadata (all of it but the
    checksum), also of that and of each tensor's dtype and shape (format 3)."""
    crc = 0 if meta is None else zlib.crc32(json.dumps(meta, sort_keys=True).encode())
    for name in sorted(tensors):
        arr = tensors[name]
        crc = zlib.crc32(name.encode(), crc)
        if meta is not None:
            crc = zlib.crc32(f"{arr.dtype.str}{arr.shape}".encode(), crc)
        crc = zlib.crc32(arr.reshape(-1).view(np.uint8), crc)
    return f"{crc:08x}"


def to_bytes(obj) -> bytes:
    """The safetensors bytes ``save`` would write for ``obj``."""
    tensors = {}
    structure = _encode(obj, "", tensors)
    meta = {"format": FORMAT, "format_version": str(FORMAT_VERSION),
            "structure": json.dumps(structure, separators=(",", ":"))}
    meta["crc32"] = _crc(tensors, meta)
    return safetensors.numpy.save(tensors, metadata=meta)


def save(obj, path) -> None:
    """Write ``obj`` to ``path`` atomically in safetensors format (see the module docstring)."""
    atomic_write(path, to_bytes(obj))


def atomic_write(path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers see the old file or the new one, never a part.
    An OSError names ``path``, not the hidden temp file."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    _remove_stale_temps(folder, name)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            locked = _lock(f)  # held until the rename: other processes' saves see a live write
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            if not locked:
                f.close()      # where there is no lock (Windows) an open file cannot be renamed
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file normal permissions
            os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if isinstance(exc, OSError) and exc.errno is not None:
            raise OSError(exc.errno, exc.strerror, path) from None
        raise
    _fsync_dir(folder)


def _lock(f) -> bool:
    """Take an exclusive lock on open file ``f`` without waiting; False when another holds it, or
    where there are no locks (Windows)."""
    if fcntl is None:
        return False
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _remove_stale_temps(folder, name) -> None:
    """Delete temp files of ``name`` (``.<name>.XXXXXXXX.tmp``, as atomic_write makes them) that no
    live writer holds: unlocked, and last written before this process started."""
    pattern = re.compile(r"\." + re.escape(name) + r"\.[A-Za-z0-9_]{8}\.tmp")
    try:
        entries = [e for e in os.scandir(folder) if pattern.fullmatch(e.name) and e.is_file(follow_symlinks=False)]
    except OSError:
        return
    for entry in entries:
        try:
            if entry.stat(follow_symlinks=False).st_mtime >= _STARTED:
                continue
            with open(entry.path, "rb") as f:
                if _lock(f):
                    os.unlink(entry.path)
        except OSError:
            continue  # gone already, or not ours to remove


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
        raise CheckpointError(f"checkpoint {path!r} is corrupt or not a safetensors file (its header is not "
                              f"valid JSON)") from None
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
    ``device`` (e.g. "cuda") when given. Any other safetensors file (``safetensors.torch.save_file``
    of a PyTorch state_dict, a Hugging Face model) comes back as a flat dict, name → array, ready
    for ``Module.load_state_dict``. Raises :class:`CheckpointError` on any bad file."""
    path = os.fspath(path)
    header, data = read_header(path)
    meta = header.get("__metadata__") or {}
    dev = backend.get_device(device) if device is not None else None
    if meta.get("format") != FORMAT:
        if not set(meta) & {"format_version", "structure", "crc32"}:    # none of cugrad's own keys
            return _plain_tensors(path, header, data, dev)
        raise CheckpointError(f"checkpoint {path!r} is corrupt: its format tag is {meta.get('format')!r}, "
                              f"not {FORMAT!r}")
    try:
        version = int(meta.get("format_version", ""))
    except ValueError:
        version = 0
    if version < 1:
        raise CheckpointError(f"checkpoint {path!r} is corrupt: bad format version "
                              f"{meta.get('format_version')!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path!r} has format version {version}; this cugrad reads up to "
                              f"{FORMAT_VERSION} (upgrade cugrad)")
    try:
        tensors = safetensors.numpy.load(data)
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path!r} is corrupt: {exc}") from None
    if version >= 3:
        if "crc32" not in meta:
            raise CheckpointError(f"checkpoint {path!r} is corrupt: its checksum is missing")
        if _crc(tensors, {k: v for k, v in meta.items() if k != "crc32"}) != meta["crc32"]:
            raise CheckpointError(f"checkpoint {path!r} is corrupt: its metadata or tensor data fail the "
                                  f"CRC-32 check")
    elif "crc32" in meta and _crc(tensors) != meta["crc32"]:
        raise CheckpointError(f"checkpoint {path!r} is corrupt: its tensor data fails the CRC-32 check")
    try:
        structure = json.loads(meta["structure"])
    except (KeyError, ValueError):
        raise CheckpointError(f"checkpoint {path!r} is corrupt: its structure metadata is missing or not JSON") from None
    try:
        return _decode(structure, tensors, dev)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path!r} is corrupt: its structure does not match its tensors ({exc})") from None


# safetensors dtype codes -> NumPy dtype names ("bfloat16" through ml_dtypes, which NumPy lacks)
_PLAIN_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
                 "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}


def _plain_tensors(path, header, data, device):
    """A safetensors file cugrad did not write, as {name: array} in its stored order. Read here,
    not by safetensors.numpy, which has no bfloat16 (PyTorch's half-precision checkpoints)."""
    start = 8 + struct.unpack("<Q", data[:8])[0]
    entries = sorted(((k, v) for k, v in header.items() if k != "__metadata__"),
                     key=lambda kv: kv[1]["data_offsets"][0])
    out = {}
    for name, spec in entries:
        try:
            dtype = backend.resolve_dtype(_PLAIN_DTYPES[spec["dtype"]])
            shape = tuple(int(n) for n in spec["shape"])
            lo, hi = (int(n) for n in spec["data_offsets"])
        except KeyError as exc:
            raise CheckpointError(f"checkpoint {path!r}: tensor {name!r} has dtype {spec.get('dtype')!r}, which "
                                  f"cugrad does not read ({exc})") from None
        except TypeError as exc:
            raise CheckpointError(f"checkpoint {path!r}: tensor {name!r}: {exc}") from None
        count = int(np.prod(shape, dtype=np.int64))
        if hi - lo != count * dtype.itemsize:
            raise CheckpointError(f"checkpoint {path!r} is corrupt: tensor {name!r} of shape {shape} and dtype "
                                  f"{spec['dtype']} spans {hi - lo} bytes")
        arr = np.frombuffer(data, dtype=dtype.newbyteorder("<"), count=count, offset=start + lo).reshape(shape)
        arr = arr.astype(dtype)           # a writable copy in native byte order
        out[name] = backend.to_device(arr, device) if device is not None and device.type != "cpu" else arr
    return out


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
