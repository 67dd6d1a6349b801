"""Run kernels/*.cu on the host: the .cu text is compiled as C++20 against shim.hpp into a shared
library, and launched through ctypes with the call shape of ``cupy.RawModule``:
``EmulatedModule(code, options, name_expressions).get_function(name)(grid, block, args)``.

``EmulatorDriver`` plugs that into ``cugrad.kernels.use_driver`` so the real wrappers run on it.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHIM = HERE / "shim.hpp"
CXXFLAGS = ["-std=c++20", "-O1", "-shared", "-fPIC", "-pthread", "-w"]
WORKERS = int(os.environ.get("CUGRAD_EMU_THREADS", os.cpu_count() or 1))


def find_compiler():
    """A C++20 compiler (env CXX, else g++ / clang++), or None."""
    for cand in ([os.environ["CXX"]] if os.environ.get("CXX") else []) + ["g++", "clang++"]:
        path = shutil.which(cand)
        if path and _supports_cxx20(path):
            return path
    return None


def _supports_cxx20(cxx):
    try:
        r = subprocess.run([cxx, "-std=c++20", "-x", "c++", "-fsyntax-only", "-"], input=b"#include <atomic>\nint main(){}",
                           capture_output=True, timeout=60)
        return r.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _cache_dir():
    d = Path(os.environ.get("CUGRAD_EMU_CACHE", Path(tempfile.gettempdir()) / "cugrad-emu-cache"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _trampolines(name_expressions):
    lines = [f'#include "{SHIM}"', '#include "kernel.cu"']
    for i, expr in enumerate(name_expressions):
        lines.append(f'extern "C" int cg_launch_{i}(const unsigned* g, const unsigned* b, void** a, int w, int r) '
                     f'{{ return cg_emu::launch(&{expr}, g, b, a, w, r); }}')
        lines.append(f'extern "C" int cg_sig_{i}(int* s, int* p) {{ return cg_emu::signature(&{expr}, s, p); }}')
    return "\n".join(lines) + "\n"


def build(code, name_expressions, cxx=None):
    """Compile (or reuse, keyed by a hash of everything that goes in) and return the .so path."""
    cxx = cxx or find_compiler()
    if cxx is None:
        raise RuntimeError("no C++20 compiler found for the kernel emulator (set CXX)")
    tramp = _trampolines(name_expressions)
    key = hashlib.sha256("\0".join([SHIM.read_text(), code, tramp, cxx, *CXXFLAGS]).encode()).hexdigest()[:24]
    so = _cache_dir() / f"emu_{key}.so"
    if so.exists():
        return so
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "kernel.cu").write_text(code)
        (Path(tmp) / "launch.cpp").write_text(tramp)
        out = Path(tmp) / "k.so"
        r = subprocess.run([cxx, *CXXFLAGS, "-I", tmp, "-o", str(out), str(Path(tmp) / "launch.cpp")],
                           capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"emulator build failed:\n{r.stderr[-6000:]}")
        part = f"{so}.{os.getpid()}"          # atomic publish: concurrent builders cannot clash
        shutil.move(str(out), part)
        os.replace(part, so)
    return so


class EmulatedFunction:
    def __init__(self, lib, index, name):
        self.name = name
        self._launch = getattr(lib, f"cg_launch_{index}")
        self._launch.restype = ctypes.c_int
        sizes, isptr = (ctypes.c_int * 64)(), (ctypes.c_int * 64)()
        n = getattr(lib, f"cg_sig_{index}")(sizes, isptr)
        self.params = [(sizes[i], bool(isptr[i])) for i in range(n)]
        self.launches = 0
        self.reverse_threads = False    # the module's setting, handed over by get_function

    def check(self, grid, block, args):
        """Refuse a launch a GPU would get wrong: bad grid/block, an argument count or size that
        is not the kernel's (cuLaunchKernel reads sizeof(parameter) bytes from each argument).
        Returns the grid and block padded to 3-D."""
        grid, block = tuple(grid) + (1,) * (3 - len(grid)), tuple(block) + (1,) * (3 - len(block))
        if len(args) != len(self.params):
            raise TypeError(f"{self.name}: {len(args)} arguments for {len(self.params)} parameters")
        if not 0 < block[0] * block[1] * block[2] <= 1024 or min(grid) < 1:
            raise ValueError(f"{self.name}: bad launch grid={grid} block={block}")
        for i, (a, (size, isptr)) in enumerate(zip(args, self.params)):
            if isinstance(a, np.ndarray):
                if not isptr:
                    raise TypeError(f"{self.name}: argument {i} is an array, parameter is a {size}-byte value")
                if a.itemsize != size:
                    raise TypeError(f"{self.name}: argument {i} is a {a.dtype} array ({a.itemsize}-byte elements), "
                                    f"parameter points to {size}-byte elements")
                if not a.flags.c_contiguous:
                    raise ValueError(f"{self.name}: argument {i} is not contiguous")
            elif isinstance(a, np.generic):
                if isptr or a.nbytes != size:
                    raise TypeError(f"{self.name}: argument {i} is {a.dtype} ({a.nbytes} bytes), parameter is "
                                    f"{'a pointer' if isptr else f'{size} bytes'}")
            else:
                raise TypeError(f"{self.name}: argument {i} must be a NumPy array or NumPy scalar, got {type(a).__name__}")
        return grid, block

    def __call__(self, grid, block, args, shared_mem=0):
        grid, block = self.check(grid, block, args)
        keep, ptrs = [], (ctypes.c_void_p * len(args))()
        for i, a in enumerate(args):
            if isinstance(a, np.ndarray):
                buf = ctypes.c_void_p(a.ctypes.data)       # the parameter is the pointer value
            else:
                buf = ctypes.create_string_buffer(a.tobytes(), a.nbytes)
            keep.append(buf)
            ptrs[i] = ctypes.addressof(buf)               # like cuLaunchKernel's kernelParams
        g, b = (ctypes.c_uint * 3)(*grid), (ctypes.c_uint * 3)(*block)
        self.launches += 1
        failure = self._launch(g, b, ptrs, WORKERS, int(self.reverse_threads))
        if failure == 1:
            raise RuntimeError(f"{self.name}: deadlock — a barrier not reached by every thread of a block")
        if failure == 2:
            raise RuntimeError(f"{self.name}: a warp shuffle's member mask names lanes the warp does not have "
                               f"(block {block}: not a multiple of 32 threads?) — undefined on a GPU")


class EmulatedModule:
    """Same call shape as cupy.RawModule(code=..., options=..., name_expressions=...)."""

    def __init__(self, code, options=(), name_expressions=(), cxx=None):
        self.name_expressions = list(name_expressions)
        self._lib = ctypes.CDLL(str(build(code, self.name_expressions, cxx)))
        self._funcs = {}
        self.reverse_threads = False    # run each block's threads last-to-first between barriers

    def get_function(self, name):
        if name not in self._funcs:
            if name not in self.name_expressions:
                raise KeyError(f"{name!r} is not one of this module's name expressions")
            self._funcs[name] = EmulatedFunction(self._lib, self.name_expressions.index(name), name)
        f = self._funcs[name]
        f.reverse_threads = self.reverse_threads
        return f


class EmulatorDriver:
    """A cugrad.kernels driver backed by the emulator: NumPy allocation (NaN-poisoned when
    ``poison``), a fixed multiprocessor count for grid sizing, ``grid`` to force a block count,
    ``reverse_threads`` to run every block's threads in the opposite order."""

    xp = np

    def __init__(self, multiprocessors=4, poison=True, cxx=None):
        from cugrad import kernels
        self._kernels = kernels
        self.multiprocessors = multiprocessors
        self.poison = poison
        self.grid = None
        self.cxx = cxx
        self._modules = {}
        self.reverse_threads = False

    def module(self, family):
        if family not in self._modules:
            k = self._kernels
            self._modules[family] = EmulatedModule(k.kernel_source(family), k.compile_options(),
                                                   k.NAME_EXPRESSIONS[family], self.cxx)
        mod = self._modules[family]
        mod.reverse_threads = self.reverse_threads
        return mod

    def empty(self, shape, dtype):
        a = np.empty(shape, dtype)
        if self.poison and a.dtype.kind == "f":
            a.fill(np.nan)
        return a
