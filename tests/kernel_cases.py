"""Inputs shared by the kernel tests: sizes, dtypes, tolerances, memory layouts."""
from __future__ import annotations

import numpy as np

SIZES = [1, 3, 31, 33, 1023, 4097, 2**20 + 1]
DTYPES = [np.float64, np.float32, np.float16]
RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5, np.dtype(np.float16): 1e-2}
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
