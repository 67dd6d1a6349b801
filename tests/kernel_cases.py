"""Inputs shared by the kernel tests: sizes, dtypes, tolerances, memory layouts."""
from __future__ import annotations

import numpy as np
import pytest


def _bfloat16():
    try:
        import ml_dtypes
    except ImportError:
        return None
    return np.dtype(ml_dtypes.bfloat16)


BFLOAT16 = _bfloat16()          # ml_dtypes.bfloat16, or None where ml_dtypes is not importable
BF16_MISSING = "bfloat16 cases need the ml_dtypes package (pip install ml_dtypes; it is in the dev extra)"


def bf16_param(value):
    """``value`` as the bfloat16 test parameter. Where ml_dtypes is missing it carries the
    `needs_ml_dtypes` marker, which conftest.py turns into a skip with the reason, or a failure
    when CI is set."""
    marks = () if BFLOAT16 is not None else pytest.mark.needs_ml_dtypes
    return pytest.param(value, id="bfloat16", marks=marks)


BF16 = bf16_param(BFLOAT16)

SIZES = [1, 3, 31, 33, 1023, 4097, 2**20 + 1]
DTYPES = [np.float64, np.float32, np.float16, BF16]
# bfloat16 keeps 8 significant bits: 1e-2 is one to two units in the last place, the most a float32
# computation rounded once can differ by between two float32 libms (expf, tanhf) or summation orders.
RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5, np.dtype(np.float16): 1e-2}
if BFLOAT16 is not None:
    RTOL[BFLOAT16] = 1e-2
LAYOUTS = ["aligned", "offset", "strided"]
ROWS = [1, 7, 1000]
CLASSES = [1, 10, 1000, 4097]


def tol(dtype):
    r = RTOL[np.dtype(dtype)]
    return dict(rtol=r, atol=r)


def place(a, layout):
    """A copy of ``a`` as a 16-byte aligned array, one shifted by one element (contiguous but
    misaligned), or a non-contiguous view (every other element of a wider buffer)."""
    a = np.asarray(a)
    n = a.size
    raw = np.empty(2 * n + 64 // a.itemsize + 2, a.dtype)
    start = (-raw.ctypes.data % 16) // a.itemsize
    if layout == "aligned":
        out = raw[start:start + n]
    elif layout == "offset":
        out = raw[start + 1:start + 1 + n]
    else:
        out = raw[start:start + 2 * n:2]
    out = out.reshape(a.shape)
    out[...] = a
    return out


def nan_like(a):
    out = place(np.empty(a.shape, a.dtype), "aligned")
    out.fill(np.nan)
    return out
