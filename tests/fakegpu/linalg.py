"""cuBLAS on the stand-in: matmul and dot in NumPy with CuPy 14.2's dtype, shape, precision and
capture rules (cupy/_core/_routines_linalg.pyx; cupy_backends/cuda/libs/cublas.pyx)."""
from __future__ import annotations

import os

import numpy as np

from . import runtime
from .array import _MODULE_FUNCTIONS, _check_device, _kernel, _unsupported, ndarray

# _routines_linalg.pyx compute types
COMPUTE_TYPE_TBD, COMPUTE_TYPE_DEFAULT, COMPUTE_TYPE_PEDANTIC, COMPUTE_TYPE_FP16 = 0, 1, 2, 3
COMPUTE_TYPE_FP32, COMPUTE_TYPE_FP64, COMPUTE_TYPE_BF16, COMPUTE_TYPE_TF32 = 4, 5, 6, 7
_compute_types = [COMPUTE_TYPE_TBD] * 4          # bfloat16, float16, float32, float64


def _index(dtype):
    """_routines_linalg.pyx to_compute_type_index."""
    dtype = np.dtype(dtype)
    if dtype.char == "e":
        return 1
    if dtype.char in "fF":
        return 2
    if dtype.char in "dD":
        return 3
    if dtype.name == "bfloat16":
        return 0
    raise TypeError(f"dtype is not supported: {dtype}")


def set_compute_type(dtype, compute_type):
    """_routines_linalg.pyx set_compute_type (TF32/BF16 need compute capability 8.0: the stand-in
    is a 9.0 device, so they are always taken)."""
    if compute_type not in range(8):
        raise ValueError(f"Unknown compute type: {compute_type}")
    _compute_types[_index(dtype)] = compute_type


def get_compute_type(dtype):
    """_routines_linalg.pyx get_compute_type: CUPY_TF32 is read once per dtype, at its first use,
    as ``int(os.getenv('CUPY_TF32', '0')) > 0`` (a non-integer value raises ValueError there)."""
    i = _index(dtype)
    if _compute_types[i] == COMPUTE_TYPE_TBD:
        compute_type = COMPUTE_TYPE_DEFAULT
        if np.dtype(dtype).char in "fF" and int(os.getenv("CUPY_TF32", "0")) > 0:
            compute_type = COMPUTE_TYPE_TF32
        set_compute_type(dtype, compute_type)
    return _compute_types[i]


def _reset_compute_types():
    """Forget every compute type (tests of the stand-in; a fresh CuPy process starts so)."""
    _compute_types[:] = [COMPUTE_TYPE_TBD] * 4


def round_to_tf32(x):
    """float32 values rounded to TF32 (a 10-bit mantissa, round to nearest, ties away from zero:
    cvt.rna.tf32.f32, what cuBLAS's FAST_TF32 compute does to each operand)."""
    bits = np.asarray(x, dtype=np.float32).view(np.uint32)
    finite = (bits & 0x7F800000) != 0x7F800000
    rounded = (bits + np.uint32(0x1000)) & np.uint32(0xFFFFE000)
    return np.where(finite, rounded, bits).astype(np.uint32).view(np.float32)


def _refuse_in_capture():
    """cupy_backends/cuda/libs/cublas.pyx setStream, which every CuPy GEMM calls first."""
    if runtime.capturing_stream() is not None:
        raise NotImplementedError("calling cuBLAS API during stream capture is currently unsupported")


def _operands(a, b, op):
    for x in (a, b):
        if not isinstance(x, ndarray):
            raise _unsupported(x)
    dev = runtime.getDevice()
    # a GEMM reads both operands on the current GPU: another GPU's memory is not reachable without
    # peer access (the same refusal as _kernel.pyx _check_peer_access)
    _check_device(a, dev)
    _check_device(b, dev)


def _floating(dtype):
    """float16/32/64, complex, and ml_dtypes' bfloat16 (whose NumPy kind is 'V')."""
    return dtype.kind in "fc" or dtype.name == "bfloat16"


def _gemm(a, b, dtype, tf32):
    """The product as cuBLAS forms it: 16-bit types accumulate in float32 (gemmEx with
    CUDA_R_32F compute), float32 operands rounded to TF32 when that compute type is in force."""
    if not _floating(dtype):
        return np.matmul(a, b)
    if dtype.itemsize == 2:
        return np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(dtype)
    if tf32:
        return np.matmul(round_to_tf32(a), round_to_tf32(b))
    return np.matmul(a, b)


def matmul(a, b, out=None):
    """_routines_linalg.pyx matmul: 2-D (and 1-D) products go to tensordot_core (cuBLAS gemmEx
    with the dtype's compute type); batched products (either operand above 2-D) to
    gemmStridedBatchedEx / sgemmBatched with no TF32 (CuPy sets no compute type there)."""
    _operands(a, b, "matmul")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("Scalar operands are not allowed, use '*' instead")
    dtype = np.promote_types(a.dtype, b.dtype)
    batched = max(a.ndim, b.ndim) > 2
    if batched and dtype.name == "bfloat16":
        # matmul: dtype.char 'E' (ml_dtypes' bfloat16) is not in 'efdFD', so CuPy 14.2 sends it to
        # its integer GEMM kernel (_integral_tensordot_core_strided_batched, bfloat16 accumulation),
        # not to cuBLAS; cugrad must not rely on that path, so the stand-in refuses it.
        raise TypeError(f"dtype is not supported: {dtype} (CuPy's batched matmul has no bfloat16 cuBLAS GEMM)")
    ka = a.shape[-1]
    kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if ka != kb:
        raise ValueError(f"shape mismatch: {a.shape} @ {b.shape}")
    uses_cublas = _floating(dtype) and a.size and b.size and not (a.ndim == 1 and b.ndim == 1)
    if uses_cublas:
        _refuse_in_capture()
    tf32 = not batched and dtype == np.float32 and get_compute_type(dtype) == COMPUTE_TYPE_TF32
    if out is not None and tuple(out.shape) != np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + \
            ((a.shape[-2],) if a.ndim > 1 else ()) + ((b.shape[-1],) if b.ndim > 1 else ()):
        raise ValueError("Output array has an invalid size")

    def product(x, y, out=None):
        c = _gemm(x, y, dtype, tf32)
        return c if out is None else np.copyto(out, c, casting="unsafe")
    return _kernel(product, [a, b], out=out)


def dot(a, b, out=None):
    """_routines_linalg.pyx dot: tensordot_core (cuBLAS) for 2-D operands."""
    _operands(a, b, "dot")
    if a.ndim > 2 or b.ndim > 2:
        raise NotImplementedError("cugrad stand-in: dot of operands above 2-D is not simulated")
    if a.ndim == 0 or b.ndim == 0:
        return _kernel(np.multiply, [a, b], out=out)
    return matmul(a, b, out)


ndarray.dot = lambda self, b, out=None: dot(self, b, out)
ndarray.__matmul__ = lambda self, other: matmul(self, other)
ndarray.__rmatmul__ = lambda self, other: matmul(other, self)
_MODULE_FUNCTIONS.update(matmul=matmul, dot=dot)
