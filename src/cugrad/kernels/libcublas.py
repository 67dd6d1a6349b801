"""The cuBLAS shared library, opened once with the C signatures :mod:`cugrad.kernels.gemm` calls.

The one place that touches the library: the CPU test suite's CuPy stand-in puts its own module under
this name in ``sys.modules`` (a NumPy cuBLAS that records into its captures), and nothing else in
cugrad knows. cuBLAS comes from where CuPy 14 loads it (``cuda.pathfinder``, a CuPy dependency:
the nvidia-cublas wheel of the ``cuda12``/``cuda13`` extra, conda, or the system's CUDA), so both
hold the same library.
"""
from __future__ import annotations

import ctypes

_VOID_P, _INT, _SIZE, _LL = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t, ctypes.c_longlong

# name -> argument types (cublas_api.h, CUDA 12/13; every function returns cublasStatus_t, an int)
SIGNATURES = {
    "cublasCreate_v2": [_VOID_P],
    "cublasDestroy_v2": [_VOID_P],
    "cublasSetStream_v2": [_VOID_P, _VOID_P],
    "cublasSetWorkspace_v2": [_VOID_P, _VOID_P, _SIZE],
    # handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta, C, Ctype, ldc,
    # computeType, algo
    "cublasGemmEx": [_VOID_P, _INT, _INT, _INT, _INT, _INT, _VOID_P, _VOID_P, _INT, _INT, _VOID_P, _INT, _INT,
                     _VOID_P, _VOID_P, _INT, _INT, _INT, _INT],
    # as cublasGemmEx with a stride after each matrix's leading dimension, and batchCount
    "cublasGemmStridedBatchedEx": [_VOID_P, _INT, _INT, _INT, _INT, _INT, _VOID_P, _VOID_P, _INT, _INT, _LL,
                                   _VOID_P, _INT, _INT, _LL, _VOID_P, _VOID_P, _INT, _INT, _LL, _INT, _INT, _INT],
}


def open_library():
    """libcublas as a ``ctypes.CDLL`` with :data:`SIGNATURES` declared (and
    ``cublasGetStatusString`` for error messages)."""
    from cuda import pathfinder   # CuPy's dependency: there only where CuPy is

    lib = ctypes.CDLL(pathfinder.load_nvidia_dynamic_lib("cublas").abs_path)
    for name, argtypes in SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = argtypes, ctypes.c_int
    lib.cublasGetStatusString.argtypes, lib.cublasGetStatusString.restype = [ctypes.c_int], ctypes.c_char_p
    return lib
