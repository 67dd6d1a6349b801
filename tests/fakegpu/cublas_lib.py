"""The stand-in's libcublas: what ``cugrad.kernels.libcublas.open_library()`` hands cugrad on the CPU.

``install()`` puts this module into ``sys.modules`` as ``cugrad.kernels.libcublas`` (cugrad's one seam
to the shared library), so cugrad's capture-safe GEMMs (``cugrad.kernels.gemm``) run their real
argument marshalling (handles, streams, workspaces, column-major operands, leading dimensions,
transposes, compute types, host alpha/beta) against a NumPy cuBLAS. Device pointers are resolved to
the stand-in's arrays; a GEMM runs at once, or is recorded into the capture of the handle's stream
and runs on each replay. The C constants below are written from cublas_api.h and library_types.h,
not taken from cugrad, so a wrong constant there fails here.

Rules, each what cuBLAS does (cuBLAS docs, "cuBLAS Helper Function Reference", "CUDA Graphs
Support") or where its behaviour is undefined and the stand-in refuses:
- a handle belongs to the device current at ``cublasCreate``; using it with another current device
  is refused;
- ``cublasSetStream`` resets the handle's workspace to cuBLAS's own pool: a GEMM on a capturing
  stream without a workspace set after the stream is refused (NOT_SUPPORTED), since cuBLAS would
  allocate its workspace during the capture (cudaMalloc before CUDA 12.2);
- leading dimensions below the stored rows are INVALID_VALUE; a matrix reaching past its allocation
  raises (a real GPU reads out of bounds);
- only the type combinations cugrad uses are taken (A, B, C of one type; 32F compute for half,
  bfloat16 and float32 data, FAST_TF32 for float32 only, 64F for float64), others NOT_SUPPORTED;
- alpha and beta are read from host memory in the compute type's scalar type (float for 32F
  computes, double for 64F): a ctypes scalar of the other width is refused;
- FAST_TF32 rounds each operand to TF32 as the stand-in's CuPy matmul does.
"""
from __future__ import annotations

import ctypes
import itertools
import sys

import numpy as np

from . import memory, runtime
from .linalg import round_to_tf32

# cublas_api.h: cublasStatus_t, cublasOperation_t, cublasComputeType_t; library_types.h: cudaDataType
STATUS_SUCCESS, STATUS_INVALID_VALUE, STATUS_NOT_SUPPORTED = 0, 7, 15
_STATUS_TEXT = {STATUS_SUCCESS: "success", STATUS_INVALID_VALUE: "an invalid numeric value was used as an argument",
                STATUS_NOT_SUPPORTED: "the functionality requested is not supported"}
_OPS = {0: False, 1: True}                              # CUBLAS_OP_N, CUBLAS_OP_T -> transposed?
_TYPES = {0: np.dtype(np.float32), 1: np.dtype(np.float64), 2: np.dtype(np.float16), 14: "bfloat16"}
_COMPUTE_32F, _COMPUTE_32F_PEDANTIC, _COMPUTE_64F, _COMPUTE_64F_PEDANTIC, _COMPUTE_32F_FAST_TF32 = 68, 69, 70, 71, 77
_COMPUTES = {_COMPUTE_32F: ("32F", ctypes.c_float), _COMPUTE_32F_PEDANTIC: ("32F", ctypes.c_float),
             _COMPUTE_32F_FAST_TF32: ("TF32", ctypes.c_float), _COMPUTE_64F: ("64F", ctypes.c_double),
             _COMPUTE_64F_PEDANTIC: ("64F", ctypes.c_double)}
_ALGOS = {-1, 99}                                       # CUBLAS_GEMM_DEFAULT, CUBLAS_GEMM_DEFAULT_TENSOR_OP

_handles = {}           # handle value -> _Handle
_next_handle = itertools.count(0x5000)


class _Handle:
    def __init__(self):
        self.device = runtime.getDevice()
        self.stream = 0                         # cuBLAS starts on the legacy default stream
        self.workspace = None                   # (pointer, bytes) set by cublasSetWorkspace


def install():
    """Serve cugrad's cuBLAS seam from this module."""
    sys.modules["cugrad.kernels.libcublas"] = sys.modules[__name__]


def open_library():
    """cugrad.kernels.libcublas.open_library on the stand-in: this module is the library."""
    return sys.modules[__name__]


def cublasGetStatusString(status):
    return _STATUS_TEXT.get(status, f"cuBLAS status {status}").encode()


def cublasCreate_v2(handle_out):
    value = next(_next_handle)
    _handles[value] = _Handle()
    handle_out._obj.value = value
    return STATUS_SUCCESS


def cublasDestroy_v2(handle):
    del _handles[handle]
    return STATUS_SUCCESS


def cublasSetStream_v2(handle, stream):
    h = _handles[handle]
    h.stream, h.workspace = stream or 0, None   # resets the workspace to cuBLAS's default pool
    return STATUS_SUCCESS


def cublasSetWorkspace_v2(handle, workspace, size):
    memory.resolve(workspace, size, "cuBLAS workspace")
    _handles[handle].workspace = workspace, size
    return STATUS_SUCCESS


def cublasGemmEx(handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta, C, Ctype, ldc,
                 compute, algo):
    return _gemm(handle, transa, transb, m, n, k, alpha, (A, lda, 0), (B, ldb, 0), beta, (C, ldc, 0),
                 (Atype, Btype, Ctype), compute, algo, 1)


def cublasGemmStridedBatchedEx(handle, transa, transb, m, n, k, alpha, A, Atype, lda, strideA, B, Btype, ldb,
                               strideB, beta, C, Ctype, ldc, strideC, count, compute, algo):
    return _gemm(handle, transa, transb, m, n, k, alpha, (A, lda, strideA), (B, ldb, strideB), beta,
                 (C, ldc, strideC), (Atype, Btype, Ctype), compute, algo, count)


def _gemm(handle, transa, transb, m, n, k, alpha, a, b, beta, c, types, compute, algo, count):
    """C = alpha·op(A)·op(B) + beta·C for each of ``count`` column-major matrices."""
    h = _handles[handle]
    if runtime.getDevice() != h.device:
        raise RuntimeError(f"stand-in cuBLAS: a handle made on device {h.device} used while device "
                           f"{runtime.getDevice()} is current (undefined in cuBLAS)")
    stream = runtime.get_current_stream()
    if stream.ptr != h.stream:
        raise NotImplementedError("stand-in cuBLAS: work on a stream other than the current one is not simulated")
    if runtime.capturing_stream() is not None and h.workspace is None:
        return STATUS_NOT_SUPPORTED
    if (len(set(types)) != 1 or types[0] not in _TYPES or transa not in _OPS or transb not in _OPS
            or compute not in _COMPUTES or algo not in _ALGOS):
        return STATUS_NOT_SUPPORTED
    dtype = _dtype(types[0])
    kind, scalar = _COMPUTES[compute]
    if (kind == "64F") != (dtype == np.float64) or (kind == "TF32" and dtype != np.float32):
        return STATUS_NOT_SUPPORTED
    for name, value in (("alpha", alpha), ("beta", beta)):
        if type(value._obj) is not scalar:
            raise TypeError(f"stand-in cuBLAS: {name} must point to a {scalar.__name__} for this compute type, "
                            f"got {type(value._obj).__name__}")
    if min(m, n, k, count) < 0:
        return STATUS_INVALID_VALUE
    a_rows, b_rows = (k if transa else m), (n if transb else k)
    if a[1] < max(1, a_rows) or b[1] < max(1, b_rows) or c[1] < max(1, m):
        return STATUS_INVALID_VALUE
    if m == 0 or n == 0 or count == 0:
        return STATUS_SUCCESS
    av = _matrices(a, a_rows, m if transa else k, count, dtype, "A")
    bv = _matrices(b, b_rows, k if transb else n, count, dtype, "B")
    cv = _matrices(c, m, n, count, dtype, "C")
    av, bv = (av.swapaxes(1, 2) if transa else av), (bv.swapaxes(1, 2) if transb else bv)
    wide = np.float64 if kind == "64F" else np.float32
    al, be = alpha._obj.value, beta._obj.value

    def work():
        x, y = av.astype(wide), bv.astype(wide)
        if kind == "TF32":
            x, y = round_to_tf32(x), round_to_tf32(y)
        # (op(B)ᵀ·op(A)ᵀ)ᵀ: for a row-major caller (C = A·B passed as Cᵀ = Bᵀ·Aᵀ) NumPy gets that
        # caller's own operands and layouts, so it sums as the stand-in's eager matmul does
        result = al * np.matmul(y.swapaxes(1, 2), x.swapaxes(1, 2)).swapaxes(1, 2)
        if be != 0:                                 # beta == 0: C is not read (it may hold NaN)
            result += be * cv.astype(wide)
        cv[...] = result.astype(dtype)

    runtime.enqueue(work, "cuBLAS GEMM")
    return STATUS_SUCCESS


def _dtype(code):
    if _TYPES[code] == "bfloat16":
        import ml_dtypes
        return np.dtype(ml_dtypes.bfloat16)
    return _TYPES[code]


def _matrices(spec, rows, cols, count, dtype, what):
    """The ``count`` column-major rows×cols matrices at (pointer, ld, stride) as a writable
    (count, rows, cols) NumPy view of the device memory."""
    ptr, ld, stride = spec
    item = dtype.itemsize
    extent = ((count - 1) * stride + (cols - 1) * ld + rows) * item
    buf, offset, _ = memory.resolve(ptr, extent, f"cuBLAS {what}")
    return np.ndarray((count, rows, cols), dtype, buffer=buf, offset=offset, strides=(stride * item, item, ld * item))
