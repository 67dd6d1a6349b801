"""GEMMs a CUDA-graph capture can record: cuBLAS through a handle of cugrad's own.

CuPy refuses every cuBLAS call while the current stream captures: each wrapper in
``cupy_backends/cuda/libs/cublas.pyx`` (CuPy 14.2) first calls ``setStream``, which raises
NotImplementedError on a capturing stream, and CuPy has no cuBLASLt binding. cuBLAS itself records
into a capture as long as it need not allocate its workspace there. So a capture binds (before it
begins) one handle per GPU to its stream, with a preallocated workspace (``cublasSetStream``
first: it resets the workspace), and while it is bound the engine's matmuls on that stream come
here; compile_step binds it for its warm-up too, so the capture's GEMMs have run once eagerly.
Other eager matmuls stay on CuPy's path. Compute type and algorithm are the ones CuPy passes for
the same product (cupy/_core/_routines_linalg.pyx: ``tensordot_core_v11`` for 2-D, with
``get_compute_type``, so ``set_matmul_precision``/``CUPY_TF32`` hold; ``matmul``'s batched path,
which never uses TF32); alpha and beta are host values, fixed in the graph. The graphs of one GPU
share its workspace: replay them one at a time (on one stream), as cugrad does.

Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ: a row-major matrix is its transpose in cuBLAS's
column-major view, a column-major one (a transposed view such as ``W.T``) is passed as itself with
``OP_T``; any other layout is copied first.
"""
from __future__ import annotations

import contextlib
import ctypes
import math

import numpy as np

from .. import backend

# cublas_api.h and library_types.h
OP_N, OP_T = 0, 1
CUDA_R_32F, CUDA_R_64F, CUDA_R_16F, CUDA_R_16BF = 0, 1, 2, 14
COMPUTE_32F, COMPUTE_32F_PEDANTIC, COMPUTE_64F, COMPUTE_64F_PEDANTIC, COMPUTE_32F_FAST_TF32 = 68, 69, 70, 71, 77
GEMM_DEFAULT, GEMM_DEFAULT_TENSOR_OP = -1, 99

WORKSPACE_BYTES = 32 << 20      # cuBLAS's recommendation for Hopper (4 MiB suffice on older GPUs)
_INT_MAX = 2**31 - 1

_DATA_TYPES = {"float32": CUDA_R_32F, "float64": CUDA_R_64F, "float16": CUDA_R_16F, "bfloat16": CUDA_R_16BF}

_lib = None
_handles = {}                   # GPU index -> _Handle, created on its first bind, kept (graphs use its workspace)
_bound = {}                     # GPU index -> _Handle while a capture or compile_step warm-up there is bound


class CublasError(RuntimeError):
    """A cuBLAS call returned an error status."""


def _library():
    global _lib
    if _lib is None:
        from . import libcublas         # the stand-in's NumPy cuBLAS replaces this module in tests

        _lib = libcublas.open_library()
    return _lib


def _check(status, what):
    if status != 0:
        raise CublasError(f"{what}: cuBLAS status {status} ({_library().cublasGetStatusString(status).decode()})")


class _Handle:
    """A cuBLAS handle of one GPU with its workspace (made with that GPU current)."""

    def __init__(self, cp):
        lib = _library()
        handle = ctypes.c_void_p()
        _check(lib.cublasCreate_v2(ctypes.byref(handle)), "cublasCreate")
        self.ptr = handle.value
        self.workspace = cp.empty(WORKSPACE_BYTES, dtype=np.uint8)
        self.stream = None
        self.compute_capability = int(cp.cuda.Device().compute_capability)

    def bind(self, stream_ptr):
        lib = _library()
        _check(lib.cublasSetStream_v2(self.ptr, stream_ptr), "cublasSetStream")
        _check(lib.cublasSetWorkspace_v2(self.ptr, self.workspace.data.ptr, WORKSPACE_BYTES), "cublasSetWorkspace")
        self.stream = stream_ptr


def bind(stream) -> None:
    """Route the engine's matmuls on ``stream`` (a CuPy stream of the current GPU, about to capture)
    through a capture-safe handle until :func:`unbind`. Call before the capture begins: the handle
    is created, and its stream and workspace set, outside the capture."""
    cp = backend.cupy()
    index = cp.cuda.runtime.getDevice()
    if index in _bound:
        raise RuntimeError(f"cugrad.cuda.graph: cuda:{index}'s capture-safe cuBLAS handle is already bound (a capture "
                           "or compile_step warm-up is in progress there); captures on one GPU cannot overlap")
    handle = _handles.get(index)
    if handle is None:
        handle = _handles[index] = _Handle(cp)
    handle.bind(stream.ptr)
    _bound[index] = handle


def unbind(stream) -> None:
    """End the routing :func:`bind` began for ``stream``."""
    for index, handle in list(_bound.items()):
        if handle.stream == stream.ptr:
            del _bound[index]


@contextlib.contextmanager
def bound(stream):
    """:func:`bind` for the body, :func:`unbind` after it."""
    bind(stream)
    try:
        yield
    finally:
        unbind(stream)


def is_bound(a) -> bool:
    """True when a matmul of device array ``a`` runs on a stream bound to cugrad's handle (a capture,
    or compile_step's warm-up); cheap when nothing is bound, as in every other eager step."""
    if not _bound:
        return False
    handle = _bound.get(getattr(getattr(a, "device", None), "id", None))
    return handle is not None and handle.stream == backend.cupy().cuda.get_current_stream().ptr


def matmul(a, b):
    """``a @ b`` (2-D, or batched over broadcast leading axes) of floating CuPy arrays of one GPU,
    through the bound handle, allocated from the current allocator."""
    cp = backend.cupy()
    dtype = np.result_type(a.dtype, b.dtype)
    name = np.dtype(dtype).name
    if name not in _DATA_TYPES:
        return a @ b                    # integers: CuPy's own kernel, no cuBLAS
    a, b = a.astype(dtype, copy=False), b.astype(dtype, copy=False)
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    count = math.prod(batch)
    if max(m, n, k, count) > _INT_MAX:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} exceed cuBLAS's 32-bit sizes inside a CUDA graph")
    out = cp.empty(batch + (m, n), dtype)
    if out.size == 0:
        return out
    if k == 0:
        out.fill(0)
        return out
    handle = _bound[a.device.id]
    data_type = _DATA_TYPES[name]
    lib = _library()
    if not batch:
        compute, one, zero = _compute_type(dtype)
        cc = handle.compute_capability
        algo = GEMM_DEFAULT_TENSOR_OP if cc >= 80 or (cc >= 70 and name == "float16") else GEMM_DEFAULT
        bm, opb, ldb = _column_major(b)
        am, opa, lda = _column_major(a)
        _check(lib.cublasGemmEx(handle.ptr, opb, opa, n, m, k, ctypes.byref(one), bm.data.ptr, data_type, ldb,
                                am.data.ptr, data_type, lda, ctypes.byref(zero), out.data.ptr, data_type, n,
                                compute, algo), "cublasGemmEx")
        return out
    bm, strideb = _batched(cp, b, batch)
    am, stridea = _batched(cp, a, batch)
    compute, one, zero = (COMPUTE_64F, ctypes.c_double(1.0), ctypes.c_double(0.0)) if name == "float64" else \
        (COMPUTE_32F, ctypes.c_float(1.0), ctypes.c_float(0.0))
    _check(lib.cublasGemmStridedBatchedEx(handle.ptr, OP_N, OP_N, n, m, k, ctypes.byref(one), bm.data.ptr, data_type,
                                          n, strideb, am.data.ptr, data_type, k, stridea, ctypes.byref(zero),
                                          out.data.ptr, data_type, n, m * n, count, compute, GEMM_DEFAULT),
           "cublasGemmStridedBatchedEx")
    return out


def _compute_type(dtype):
    """CuPy's compute type for a 2-D product of ``dtype`` as a cuBLAS one, with alpha = 1 and
    beta = 0 in its scalar type (``tensordot_core_v11``)."""
    from cupy._core import _routines_linalg as linalg   # CuPy's internals: loaded on a GPU only

    chosen = linalg.get_compute_type(dtype)
    if np.dtype(dtype) == np.float64:
        compute = COMPUTE_64F_PEDANTIC if chosen == linalg.COMPUTE_TYPE_PEDANTIC else COMPUTE_64F
        return compute, ctypes.c_double(1.0), ctypes.c_double(0.0)
    if chosen == linalg.COMPUTE_TYPE_PEDANTIC:
        compute = COMPUTE_32F_PEDANTIC
    elif chosen == linalg.COMPUTE_TYPE_TF32 and np.dtype(dtype) == np.float32:
        compute = COMPUTE_32F_FAST_TF32
    else:
        compute = COMPUTE_32F         # half types accumulate in float32
    return compute, ctypes.c_float(1.0), ctypes.c_float(0.0)


def _column_major(x):
    """(array, op, ld) such that op(the column-major matrix at array's memory) is xᵀ."""
    rows, cols = x.shape
    s_row, s_col = (s // x.itemsize for s in x.strides)
    if s_col == 1 and (rows <= 1 or s_row >= cols):
        return x, OP_N, max(s_row if rows > 1 else cols, 1)
    if s_row == 1 and (cols <= 1 or s_col >= rows):
        return x, OP_T, max(s_col if cols > 1 else rows, 1)
    x = x.copy()                              # C order
    return x, OP_N, max(cols, 1)


def _batched(cp, x, batch):
    """``x`` as a C-contiguous stack of row-major matrices over ``batch`` and its batch stride (0 when
    one matrix serves every batch entry)."""
    if math.prod(x.shape[:-2]) == 1:
        return cp.ascontiguousarray(x.reshape(x.shape[-2:])), 0
    full = cp.ascontiguousarray(cp.broadcast_to(x, batch + x.shape[-2:]))
    return full, x.shape[-2] * x.shape[-1]
