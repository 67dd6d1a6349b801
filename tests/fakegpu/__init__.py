"""A strict, NumPy-backed stand-in for the parts of CuPy 14.2 that cugrad uses (test code only).

``install()`` puts it into ``sys.modules`` as ``cupy``, ``cupyx`` and ``cupy_backends`` (and the
submodules cugrad imports) so the ``gpu``-marked tests run where no GPU is visible; it is never
installed where a real GPU is, nor with ``CUGRAD_FAKEGPU=0``. Two simulated H100-like GPUs without
peer access; arrays are not NumPy arrays; kernels compile through NVRTC and run on the host
emulator; cuBLAS products round to TF32 when that is in force; capture records instead of running.
Every refusal cites the CuPy 14.2.0 source it mirrors; whatever is not implemented raises.
"""
from __future__ import annotations

import os
import sys
import types
import warnings

HEADER = ("GPU tests run on the NumPy-backed CuPy stand-in (tests/fakegpu, 2 simulated GPUs): it checks "
          "CuPy's API rules, devices, copies, kernel arguments (NVRTC + host emulator), TF32 rounding, capture "
          "and pool accounting; it cannot check timing, bandwidth, real SASS, memory races between streams, "
          "address reuse, or multi-process NCCL")


class _StrictModule(types.ModuleType):
    """A module whose missing names fail loudly, naming the stand-in."""

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r} "
                             f"(not implemented by cugrad's CuPy stand-in, tests/fakegpu)")


def _module(name, **attrs):
    mod = _StrictModule(name)
    mod.__dict__.update(attrs)
    mod._cugrad_stand_in = True
    return mod


def real_gpu_visible() -> bool:
    """True when the real CuPy imports and sees a GPU."""
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def installed() -> bool:
    return getattr(sys.modules.get("cupy"), "_cugrad_stand_in", False)


def install_unless_gpu() -> bool:
    """Install the stand-in unless a real GPU is visible or CUGRAD_FAKEGPU=0; True when installed."""
    if installed():
        return True
    if os.environ.get("CUGRAD_FAKEGPU", "1") == "0" or real_gpu_visible():
        return False
    install()
    return True


def _scatter_add(a, slices, value):
    # cupyx/_scatter.py scatter_add → core.pyx ndarray.scatter_add (deprecated in CuPy 14)
    warnings.warn("`cupyx.scatter_add` is deprecated. Please use `cupy.add.at` instead.", DeprecationWarning,
                  stacklevel=2)
    from .array import add
    add.at(a, slices, value)


def _nccl_module(real):
    """The stand-in's ``cupy.cuda.nccl`` from CuPy's own ``real`` one. CuPy 14.2's cupy/cuda/nccl.py
    sets ``available = False`` when libnccl does not load (``_preload_library('nccl')`` finds no
    nvidia-nccl wheel, then the ``from cupy_backends.cuda.libs.nccl import *`` fails), and the module
    then holds nothing else: so does this one. Where NCCL loads, what needs no GPU is CuPy's: the
    version, unique ids, the type and operation codes; a communicator needs real GPUs, so creating
    one refuses (the tests that do are gpu_hardware)."""
    if not real.available:
        return _module("cupy.cuda.nccl", available=False)

    def no_communicator(*args, **kwargs):
        raise NotImplementedError("the CuPy stand-in has no NCCL communicator: NCCL collectives need real GPUs")

    names = {n: getattr(real, n) for n in dir(real) if n.startswith("NCCL_")}
    return _module("cupy.cuda.nccl", available=True, NcclCommunicator=no_communicator,
                   get_version=real.get_version, get_unique_id=real.get_unique_id, **names)


def install():
    """Replace cupy, cupyx and cupy_backends in sys.modules by the stand-in. CuPy's real NVRTC
    binding (no GPU needed) is kept as ``cupy.cuda.nvrtc``, and what of its NCCL binding needs no
    GPU as ``cupy.cuda.nccl`` (see ``_nccl_module``)."""
    from cupy.cuda import nvrtc as real_nvrtc

    real_nvrtc.getVersion()       # loads libnvrtc now: its loader imports real cupy submodules
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # CuPy warns when libnccl is missing; `available` says so
        from cupy.cuda import nccl as real_nccl
    nccl = _nccl_module(real_nccl)

    for name in list(sys.modules):
        if name.split(".")[0] in ("cupy", "cupyx", "cupy_backends"):
            del sys.modules[name]

    import numpy as np

    from . import array, dlpack, kernels, linalg, memory, runtime, special

    kernels.nvrtc = real_nvrtc
    rt = _module("cupy.cuda.runtime", **{n: getattr(runtime, n) for n in (
        "getDeviceCount", "getDevice", "setDevice", "runtimeGetVersion", "driverGetVersion", "getDeviceProperties",
        "memGetInfo", "deviceCanAccessPeer", "deviceSynchronize", "CUDARuntimeError")})
    mem = _module("cupy.cuda.memory", **{n: getattr(memory, n) for n in (
        "MemoryPool", "MemoryPointer", "Memory", "PooledMemory", "BaseMemory", "PythonFunctionAllocator",
        "PythonFunctionAllocatorMemory", "OutOfMemoryError", "set_allocator", "get_allocator", "using_allocator",
        "alloc", "get_default_memory_pool", "ALLOCATION_UNIT_SIZE")})
    graph = _module("cupy.cuda.graph", Graph=runtime.Graph)
    stream = _module("cupy.cuda.stream", Stream=runtime.Stream, Event=runtime.Event,
                     get_current_stream=runtime.get_current_stream)
    device = _module("cupy.cuda.device", Device=runtime.Device, get_device_id=runtime.get_device_id)
    cuda = _module("cupy.cuda", runtime=rt, memory=mem, graph=graph, stream=stream, device=device, nvrtc=real_nvrtc,
                   nccl=nccl,
                   Device=runtime.Device, Stream=runtime.Stream, Event=runtime.Event,
                   ExternalStream=runtime.ExternalStream, get_current_stream=runtime.get_current_stream,
                   get_device_id=runtime.get_device_id, is_available=runtime.is_available,
                   MemoryPool=memory.MemoryPool, MemoryPointer=memory.MemoryPointer,
                   PythonFunctionAllocator=memory.PythonFunctionAllocator, set_allocator=memory.set_allocator,
                   get_allocator=memory.get_allocator, using_allocator=memory.using_allocator, alloc=memory.alloc,
                   OutOfMemoryError=memory.OutOfMemoryError, compiler=_module(
                       "cupy.cuda.compiler", CompileException=kernels.CompileException))
    routines_linalg = _module("cupy._core._routines_linalg", **{n: getattr(linalg, n) for n in dir(linalg)
                                                                  if n.startswith("COMPUTE_TYPE_")},
                              set_compute_type=linalg.set_compute_type, get_compute_type=linalg.get_compute_type)
    core = _module("cupy._core", _routines_linalg=routines_linalg, ndarray=array.ndarray)

    names = {n: getattr(array, n) for n in (
        "ndarray", "ufunc", "asarray", "array", "ascontiguousarray", "asnumpy", "zeros", "ones", "empty", "full",
        "zeros_like", "ones_like", "empty_like", "full_like", "arange", "eye", "linspace", "where", "nonzero",
        "clip", "stack", "concatenate", "broadcast_to", "expand_dims", "squeeze", "reshape", "transpose",
        "swapaxes", "ravel", "copyto", "may_share_memory", "shares_memory", "result_type", "cumsum", "cumprod", "flip", "argsort", "tril", "triu", "around",
        "isscalar", "shape", "ndim", "size", "allclose", "array_equal", "einsum", "outer")}
    names.update(array._UFUNCS)
    names.update(array.REDUCTIONS)
    names.update({n: getattr(np, n) for n in (
        "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
        "bool_", "complex64", "complex128", "dtype", "nan", "inf", "pi", "e", "newaxis", "finfo", "iinfo")})
    names.update(from_dlpack=dlpack.from_dlpack, matmul=linalg.matmul, dot=linalg.dot, RawModule=kernels.RawModule, RawKernel=kernels.RawKernel,
                 get_default_memory_pool=memory.get_default_memory_pool,
                 get_default_pinned_memory_pool=memory.get_default_pinned_memory_pool,
                 get_array_module=lambda *a: cupy if any(isinstance(x, array.ndarray) for x in a) else np,
                 cuda=cuda, _core=core, random=_module("cupy.random", RandomState=array.RandomState),
                 __version__="14.2.0")
    cupy = _module("cupy", **names)

    backends_rt = _module("cupy_backends.cuda.api.runtime", CUDARuntimeError=runtime.CUDARuntimeError)
    backends_drv = _module("cupy_backends.cuda.api.driver", CUDADriverError=runtime.CUDADriverError)
    backends_api = _module("cupy_backends.cuda.api", runtime=backends_rt, driver=backends_drv)
    backends_cuda = _module("cupy_backends.cuda", api=backends_api)
    backends = _module("cupy_backends", cuda=backends_cuda)
    cupyx_special = _module("cupyx.scipy.special", erf=special.erf)
    cupyx_scipy = _module("cupyx.scipy", special=cupyx_special)
    cupyx = _module("cupyx", scatter_add=_scatter_add, scipy=cupyx_scipy)

    for mod in (cupy, cupy.random, cuda, rt, mem, graph, stream, device, core, routines_linalg, cuda.compiler, cupyx, cupyx_scipy,
                cupyx_special, backends,
                backends_cuda, backends_api, backends_rt, backends_drv):
        sys.modules[mod.__name__] = mod
    sys.modules["cupy.cuda.nvrtc"] = real_nvrtc
    sys.modules["cupy.cuda.nccl"] = nccl

    from . import cublas_lib            # cugrad's own cuBLAS seam (cugrad.kernels.libcublas), in NumPy
    cublas_lib.install()
