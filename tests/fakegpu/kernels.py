"""``cupy.RawModule`` on the stand-in: the real source compiled with the real options by NVRTC
(CuPy's own binding, which needs no GPU), then run by the host emulator (tests/emulator/) with
CuPy's kernel-argument rules (cupy/_core/raw.pyx, cupy/cuda/function.pyx in CuPy 14.2.0)."""
from __future__ import annotations

import numpy as np

from . import runtime
from .array import ndarray

ARCH = "compute_90"            # what CuPy passes for the stand-in's 9.0 device
nvrtc = None                   # CuPy's real NVRTC binding, set by fakegpu.install()
_compiled = {}                 # (code, options, names) -> {name expression: lowered name}
_emulated = {}                 # the same key -> EmulatedModule


def _compile(code, options, names):
    """NVRTC with the module's exact source, options and name expressions (as CuPy's
    compile_with_cache does, plus the device's architecture). A compile error is raised as CuPy
    raises it (cupy.cuda.compiler.CompileException is a subclass of Exception; the log included)."""
    key = (code, options, names)
    if key not in _compiled:
        prog = nvrtc.createProgram(code, "kernel.cu", [], [])
        try:
            for expr in names:
                nvrtc.addNameExpression(prog, expr)
            try:
                nvrtc.compileProgram(prog, list(options) + [f"--gpu-architecture={ARCH}"])
            except nvrtc.NVRTCError as exc:
                raise CompileException(f"{exc}\n{nvrtc.getProgramLog(prog)}") from exc
            _compiled[key] = {e: nvrtc.getLoweredName(prog, e) for e in names}
        finally:
            nvrtc.destroyProgram(prog)
    return _compiled[key]


class CompileException(Exception):
    """cupy.cuda.compiler.CompileException."""


def _emulated_module(code, options, names):
    key = (code, options, names)
    if key not in _emulated:
        from emulator import EmulatedModule

        _emulated[key] = EmulatedModule(code, options, names)
    return _emulated[key]


class RawModule:
    """raw.pyx RawModule.__init__: keyword-only; ``options`` must be a tuple (a Cython-typed
    argument); ``name_expressions`` name the template instances get_function may ask for."""

    def __init__(self, *, code=None, path=None, options=(), backend="nvrtc", translate_cucomplex=False,
                 enable_cooperative_groups=False, name_expressions=None, jitify=None):
        if (code is None) == (path is None):
            raise TypeError("Exactly one of `code` and `path` keyword arguments must be given.")
        if path is not None or backend != "nvrtc" or jitify or enable_cooperative_groups:
            raise NotImplementedError("cugrad stand-in: RawModule takes code= with the nvrtc backend only")
        if not isinstance(code, str):
            raise TypeError(f"Argument 'code' has incorrect type (expected str, got {type(code).__name__})")
        if not isinstance(options, tuple):
            raise TypeError(f"Argument 'options' has incorrect type (expected tuple, got {type(options).__name__})")
        self.code, self.options = code, options
        self.name_expressions = tuple(name_expressions) if name_expressions is not None else ()
        self._lowered = _compile(code, options, self.name_expressions)
        self._module = None

    def get_function(self, name):
        """raw.pyx get_function: a name expression maps to its lowered name; any other name is
        looked up as given (the driver's cuModuleGetFunction fails when no kernel has it)."""
        if not isinstance(name, str):
            raise TypeError(f"Argument 'name' has incorrect type (expected str, got {type(name).__name__})")
        if name not in self._lowered and name not in self._lowered.values():
            raise runtime.CUDADriverError("CUDA_ERROR_NOT_FOUND: named symbol not found")
        expr = name if name in self._lowered else next(e for e, m in self._lowered.items() if m == name)
        if self._module is None:
            self._module = _emulated_module(self.code, self.options, self.name_expressions)
        return RawKernel._of(self._module.get_function(expr), expr)


def _pointer(x, i, name):
    """function.pyx _pointer: how each kernel argument is passed."""
    if isinstance(x, ndarray):
        if x._mem.device_id != runtime.getDevice():
            # function.pyx does not check: the kernel dereferences another GPU's address, which
            # without peer access is an illegal address (reported at the next sync on a GPU)
            raise runtime.CUDADriverError(
                f"CUDA_ERROR_ILLEGAL_ADDRESS: an illegal memory access was encountered ({name}: argument {i} "
                f"is an array on device {x._mem.device_id}, the kernel runs on device {runtime.getDevice()})")
        return x._a
    if x is None:
        raise NotImplementedError("cugrad stand-in: a null pointer kernel argument is not simulated")
    if isinstance(x, np.ndarray):
        if x.size == 1:                          # CNumpyArray: a size-one host array by value
            return x.reshape(()).copy()[()]
        raise TypeError(f"You are trying to pass a numpy.ndarray of shape {x.shape} as a kernel parameter. Only "
                        "numpy.ndarrays of size one can be passed by value. If you meant to pass a pointer to "
                        "__global__ memory, you need to pass a cupy.ndarray instead.")
    # _scalar.pyx CScalar / numpy_dtype_from_pyscalar: Python scalars become 64-bit
    if type(x) is bool:
        return np.bool_(x)
    if type(x) is int:
        return np.uint64(x) if x >= 0x8000000000000000 else np.int64(x)
    if type(x) is float:
        return np.float64(x)
    if type(x) is complex:
        return np.complex128(x)
    if isinstance(x, np.generic):
        return x
    raise TypeError(f"Unsupported type {type(x)}")


class RawKernel:
    @classmethod
    def _of(cls, function, name):
        k = cls.__new__(cls)
        k._function, k.name = function, name
        return k

    def __call__(self, grid, block, args, shared_mem=0, stream=None):
        """function.pyx Function.__call__: grid and block are tuples (Cython-typed), padded to 3-D.
        The emulator then refuses an argument whose size is not its parameter's: cuLaunchKernel
        reads sizeof(parameter) bytes from each argument, so a 64-bit int for an int parameter
        is undefined behaviour that CuPy does not check."""
        if not isinstance(grid, tuple):
            raise TypeError(f"Argument 'grid' has incorrect type (expected tuple, got {type(grid).__name__})")
        if not isinstance(block, tuple):
            raise TypeError(f"Argument 'block' has incorrect type (expected tuple, got {type(block).__name__})")
        if shared_mem < 0:
            raise OverflowError("can't convert negative value to size_t")
        if shared_mem > 48 * 1024:
            raise runtime.CUDADriverError("CUDA_ERROR_INVALID_VALUE: invalid argument (shared_mem over 48 KiB "
                                          "without cudaFuncAttributeMaxDynamicSharedMemorySize)")
        converted = [_pointer(a, i, self.name) for i, a in enumerate(args)]
        fn = self._function
        fn.check(grid, block, converted)
        runtime.enqueue(lambda: fn(grid, block, converted, shared_mem), f"kernel {self.name}")
