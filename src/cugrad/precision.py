"""Precision modes: how float32 matmuls use tensor cores, and autocast to half precision."""
from __future__ import annotations

import contextlib
import os
import threading

import numpy as np

from . import backend

MATMUL_PRECISIONS = ("highest", "high", "medium")
_matmul_precision = None        # None: never set, CuPy's own default applies


def set_matmul_precision(precision: str) -> None:
    """How float32 matmuls run on a GPU (PyTorch's names and meanings):

    - "highest": strict fp32 (no tensor cores);
    - "high": TF32 tensor cores (inputs rounded to a 10-bit mantissa, fp32 accumulation);
    - "medium": bfloat16 internal products where a fast kernel for them exists, else as "high".
      The cuBLAS calls CuPy makes offer no bfloat16 compute type for float32 data, so on CuPy
      "medium" runs as "high" (PyTorch's own fallback).

    Applies to 2-D products, which every linear layer is; CuPy's batched matmul (3-D and up) stays
    in fp32. On the CPU NumPy always computes in full precision.
    """
    global _matmul_precision
    if precision not in MATMUL_PRECISIONS:
        raise ValueError(f"set_matmul_precision: unknown precision {precision!r}; expected one of {', '.join(MATMUL_PRECISIONS)}")
    cp = backend.cupy()
    if cp is not None:
        from cupy._core import _routines_linalg as linalg   # CuPy's internals: only with CuPy

        compute_type = linalg.COMPUTE_TYPE_FP32 if precision == "highest" else linalg.COMPUTE_TYPE_TF32
        linalg.set_compute_type(np.float32, compute_type)
    _matmul_precision = precision


def get_matmul_precision() -> str:
    """The precision set last; before any set, what CuPy will do: "high" (TF32) when the CUPY_TF32
    environment variable is a positive integer, else "highest".

    CuPy reads CUPY_TF32 once, at the first float32 GEMM, as ``int(value) > 0`` and keeps the answer
    (``cupy/_core/_routines_linalg.pyx``, ``get_compute_type``); a value int() refuses, such as
    "yes", makes every float32 matmul raise ValueError until a precision is set. So does this
    function, and it settles the answer the same way (later changes of the variable are ignored)."""
    if _matmul_precision is not None:
        return _matmul_precision
    return "high" if _cupy_default_is_tf32() else "highest"


_env_tf32 = None                # CUPY_TF32 as read once when no GPU is visible (None: not read yet)


def _cupy_default_is_tf32() -> bool:
    """CuPy's float32 compute type before any set_matmul_precision: asked of CuPy when a GPU is
    visible (it also knows a GPU older than sm_80 falls back to fp32), else read as CuPy reads it."""
    global _env_tf32
    try:
        cp = backend.cupy()
        if cp is not None:
            from cupy._core import _routines_linalg as linalg   # CuPy's internals: only with CuPy

            return linalg.get_compute_type(np.float32) == linalg.COMPUTE_TYPE_TF32
        if _env_tf32 is None:
            _env_tf32 = int(os.getenv("CUPY_TF32", "0")) > 0
        return _env_tf32
    except ValueError:
        raise ValueError(f"get_matmul_precision: CUPY_TF32={os.getenv('CUPY_TF32')!r} is not an integer; CuPy reads "
                         "it with int() at the first float32 matmul and raises ValueError there. Set it to 0 "
                         "(fp32) or 1 (TF32), or call cugrad.set_matmul_precision()") from None


class _AutocastState(threading.local):
    dtype = None


_autocast = _AutocastState()

AUTOCAST_DTYPES = ("float16", "bfloat16")


class autocast(contextlib.ContextDecorator):
    """Inside, matmuls and linear layers run in ``dtype`` ("float16", the default, or "bfloat16",
    which needs the ml_dtypes package) on fp32 master weights: operands are cast on the way in and
    gradients cast back on the way out. Losses and softmax stay in float32. Pair float16 with
    ``cugrad.amp.GradScaler`` (bfloat16 has float32's range and rarely needs one). Usable as a
    context manager or a decorator; thread-local. ``dtype=None`` is autocast off — the value
    ``autocast_dtype()`` has outside autocast — so a state read earlier can be entered again."""

    def __init__(self, dtype="float16", enabled=True):
        self._previous = []
        if dtype is None:
            self.dtype = None
            return
        try:                                                  # a name, a NumPy dtype or scalar type
            name = dtype if isinstance(dtype, str) else np.dtype(dtype).name
        except TypeError:
            name = None
        if name not in AUTOCAST_DTYPES:
            raise ValueError(f"autocast: dtype must be one of {', '.join(AUTOCAST_DTYPES)}, got {dtype!r}")
        if name == "bfloat16":
            try:
                backend.bfloat16_dtype()
            except TypeError:
                raise ValueError("autocast: dtype 'bfloat16' needs the ml_dtypes package (pip install ml_dtypes)") from None
        self.dtype = backend.resolve_dtype(name) if enabled else None

    def __enter__(self):
        self._previous.append(_autocast.dtype)
        _autocast.dtype = self.dtype
        return self

    def __exit__(self, *exc):
        _autocast.dtype = self._previous.pop()
        return False


def autocast_dtype():
    """The dtype matmuls are cast to right now, or None outside autocast."""
    return _autocast.dtype
