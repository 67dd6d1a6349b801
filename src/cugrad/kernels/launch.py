"""What every wrapper does around a launch: the kernel's C type and accumulation dtype for an
array dtype, grid sizing, contiguous inputs, and the ``out=`` buffer protocol."""
from __future__ import annotations

import numpy as np

from ..backend import is_bfloat16

# C type of each supported array dtype inside the kernels (cg_half: IEEE half as raw bits;
# bfloat16, ml_dtypes' dtype when that package is installed, is cg_bf16 and found by name).
_CTYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double", np.dtype(np.float16): "cg_half"}

BLOCK = 256            # threads per block of the elementwise and column-sum kernels
BLOCKS_PER_SM = 32     # cap of the grid-stride grids, in blocks per multiprocessor


def grid_for(d, units, block=BLOCK):
    """Blocks for a grid-stride launch over ``units`` work items (one per thread)."""
    if d.grid is not None:
        return (int(d.grid),)
    return (max(1, min(-(-units // block), d.multiprocessors * BLOCKS_PER_SM)),)


def vector_grid(d, n, itemsize):
    """Blocks for an elementwise kernel whose threads each handle one 16-byte vector."""
    return grid_for(d, -(-n // (16 // itemsize)))


def row_block(cols):
    return 32 if cols <= 32 else 128 if cols <= 1024 else 256


def ctype(dtype, fn):
    dt = np.dtype(dtype)
    ct = _CTYPE.get(dt)
    if ct is None and is_bfloat16(dt):
        ct = "cg_bf16"
    if ct is None:
        raise TypeError(f"{fn}: unsupported dtype {dt} (float16, bfloat16, float32, float64 only)")
    return ct


def is_16bit(dtype) -> bool:
    """float16 or bfloat16: the NumPy twins compute these in float32, as the kernels do."""
    dt = np.dtype(dtype)
    return dt.itemsize == 2 and (dt == np.float16 or is_bfloat16(dt))


def acc_dtype(dtype):
    """Accumulation/scalar dtype of a kernel instantiation: float64 for float64, else float32."""
    return np.float64 if np.dtype(dtype) == np.float64 else np.float32


def from_f32(y, dtype, out):
    """A float32 twin result rounded (to nearest even) to a 16-bit ``dtype``, into ``out`` if given."""
    if out is None:
        return y.astype(dtype)
    np.copyto(out, y, casting="unsafe")
    return out


def contiguous(d, a, dtype=None):
    a = d.xp.ascontiguousarray(a)
    return a if dtype is None or a.dtype == dtype else a.astype(dtype)


def check_inplace(fn, name, a):
    if not a.flags.c_contiguous:
        raise ValueError(f"{fn}: {name} must be C-contiguous for an in-place update (shape {a.shape}, strides {a.strides})")


def output_buffer(d, out, shape, dtype, fn, inputs=()):
    """(buffer the kernel writes, final array): a fresh buffer, ``out`` itself, or a contiguous
    stand-in copied into ``out`` afterwards — when ``out`` is not contiguous, or overlaps one of
    ``inputs`` other than being that very array (each thread would write what another reads;
    NumPy buffers such overlaps, the GPU races)."""
    if out is None:
        return d.empty(shape, dtype), None
    if tuple(out.shape) != tuple(shape) or out.dtype != dtype:
        raise ValueError(f"{fn}: out has shape {out.shape} dtype {out.dtype}, expected {tuple(shape)} {np.dtype(dtype)}")
    overlaps = any(a is not None and a is not out and d.xp.may_share_memory(a, out) for a in inputs)
    if out.flags.c_contiguous and not overlaps:
        return out, None
    return d.empty(shape, dtype), out


def finish_output(buf, out):
    if out is None:
        return buf
    out[...] = buf
    return out
