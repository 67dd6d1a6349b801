"""Precision modes: how float32 matmuls use tensor cores, and autocast to half precision."""
from __future__ import annotations

import contextlib
import threading

import numpy as np

from . import backend

MATMUL_PRECISIONS = ("highest", "high", "medium")
_matmul_precision = "highest"


def set_matmul_precision(precision: str) -> None:
    """How float32 matmuls run on a GPU (PyTorch's names):

    - "highest": strict fp32 (no tensor cores);
    - "high": TF32 tensor cores (10-bit mantissa inputs, fp32 accumulation);
    - "medium": bfloat16 tensor cores with fp32 accumulation.

    On the CPU NumPy always computes in full precision.
    """
    global _matmul_precision
    if precision not in MATMUL_PRECISIONS:
        raise ValueError(f"set_matmul_precision: unknown precision {precision!r}; expected one of {', '.join(MATMUL_PRECISIONS)}")
    cp = backend.cupy()
    if cp is not None:
        from cupy._core import _routines_linalg as linalg

        compute_type = {
            "highest": linalg.COMPUTE_TYPE_FP32,
            "high": linalg.COMPUTE_TYPE_TF32,
            "medium": linalg.COMPUTE_TYPE_BF16,
        }[precision]
        linalg.set_compute_type(np.float32, compute_type)
    _matmul_precision = precision


def get_matmul_precision() -> str:
    return _matmul_precision


class _AutocastState(threading.local):
    dtype = None


_autocast = _AutocastState()

AUTOCAST_DTYPES = ("float16", "bfloat16")


class autocast(contextlib.ContextDecorator):
    """Inside, matmuls and linear layers run in ``dtype`` ("float16", the default, or "bfloat16",
    which needs the ml_dtypes package) on fp32 master weights: operands are cast on the way in and
    gradients cast back on the way out. Losses and softmax stay in float32. Pair float16 with
    ``cugrad.amp.GradScaler`` (bfloat16 has float32's range and rarely needs one). Usable as a
    context manager or a decorator; thread-local."""

    def __init__(self, dtype="float16", enabled=True):
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
        self._previous = []

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
