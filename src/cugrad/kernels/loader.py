"""Where the kernels come from: the .cu sources, the NVRTC options and name expressions, and the
*driver* that compiles and caches one module per family (``CupyDriver`` on a GPU).

``use_driver(...)`` swaps the driver for the test bench's host emulator; the override lives here
and only here, and ``on_device`` is how every wrapper asks whether the kernel path runs.
"""
from __future__ import annotations

import contextlib
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from .. import backend

FAMILIES = ("activations", "softmax_xent", "optim", "random")

_FLOATS = ("float", "double", "cg_half", "cg_bf16")   # cg_half / cg_bf16: 16-bit raw-bits types


def _instances(template, types):
    return [f"{template}<{t}>" for t in types]


NAME_EXPRESSIONS = {
    "activations": _instances("bias_act", _FLOATS) + _instances("act_backward", _FLOATS)
    + _instances("col_sum", ["float, float", "double, double", "cg_half, cg_half", "cg_half, float",
                             "float, cg_half", "cg_bf16, cg_bf16", "cg_bf16, float", "float, cg_bf16"])
    + _instances("act_backward_colsum", ["float, float", "double, double", "cg_half, cg_half", "cg_half, float",
                                         "cg_bf16, cg_bf16", "cg_bf16, float"]),
    "softmax_xent": _instances("xent_fwd", _FLOATS) + _instances("xent_bwd", _FLOATS),
    "optim": _instances("sgd_step", _FLOATS) + _instances("adam_step", _FLOATS)
    + _instances("adam_step_counted", _FLOATS),
    "random": _instances("rand_uniform", ["float", "double"]) + _instances("rand_normal", ["float", "double"]),
}


# --------------------------------------------------------------------------- sources and compiling

def kernel_dir(here: Path = Path(__file__).resolve().parent) -> Path:
    """Where the .cu files are: a folder named kernels/ — this one, ``here``, in an installed wheel
    (pyproject's force-include puts them beside their wrappers), else the source checkout's
    top-level kernels/ (``here`` being src/cugrad/kernels)."""
    candidates = (here, here.parents[2] / here.name)
    for cand in candidates:
        if (cand / "common.cuh").is_file():
            return cand
    raise FileNotFoundError(f"cugrad: CUDA kernel sources not found in {candidates[0]} nor {candidates[1]}")


@lru_cache(maxsize=None)
def kernel_source(family: str) -> str:
    """The text of kernels/<family>.cu with its local #include "x.cuh" lines pasted in, so the text
    alone determines the compiled module (CuPy's cache key) and needs no include path."""
    if family not in FAMILIES:
        raise ValueError(f"unknown kernel family {family!r}; expected one of {FAMILIES}")
    root = kernel_dir()

    def paste(text, seen):
        def sub(m):
            name = m.group(1)
            if name in seen:
                return ""
            seen.add(name)
            return paste((root / name).read_text(), seen)
        return re.sub(r'^\s*#\s*include\s+"([^"]+)"\s*$', sub, text, flags=re.M)

    return paste((root / f"{family}.cu").read_text(), set())


def compile_options(arch: str | None = None) -> tuple:
    """NVRTC options shared by the runtime loader and the compile tests (arch: e.g. "compute_90";
    None lets CuPy pick the device's). CuPy appends ``-ftz=true`` to every compile (float32
    denormal results flush to zero; the last -ftz given wins), so it is stated here too: the CI
    compile checks then build exactly what runs on the GPU."""
    opts = ("-std=c++17", "-ftz=true")
    if arch is not None:
        opts += (f"--gpu-architecture={arch}",)
    return opts


def compile_ptx(family: str, arch: str) -> tuple[str, dict]:
    """Compile one family through CuPy's NVRTC binding with the loader's source, options and name
    expressions (no GPU needed). Returns (ptx, {name expression: lowered name})."""
    from cupy.cuda import nvrtc   # optional: CuPy's NVRTC binding compiles without a GPU

    prog = nvrtc.createProgram(kernel_source(family), f"{family}.cu", [], [])
    try:
        for expr in NAME_EXPRESSIONS[family]:
            nvrtc.addNameExpression(prog, expr)
        try:
            nvrtc.compileProgram(prog, list(compile_options(arch)))
        except nvrtc.NVRTCError as exc:
            raise RuntimeError(f"NVRTC failed on {family}.cu for {arch}:\n{nvrtc.getProgramLog(prog)}") from exc
        names = {e: nvrtc.getLoweredName(prog, e) for e in NAME_EXPRESSIONS[family]}
        ptx = nvrtc.getPTX(prog)
        return (ptx.decode() if isinstance(ptx, bytes) else ptx).rstrip("\0"), names
    finally:
        nvrtc.destroyProgram(prog)


class CupyDriver:
    """The GPU driver: compiled RawModules (one per family, cached), allocation, grid sizing."""

    def __init__(self, cp):
        self.xp = cp
        self.grid = None          # force this many blocks (tests); None sizes grids from the data
        self._modules = {}
        self._sms = {}

    def module(self, family):
        mod = self._modules.get(family)
        if mod is None:
            mod = self._modules[family] = _KernelTable(self.xp.RawModule(
                code=kernel_source(family), options=compile_options(), name_expressions=NAME_EXPRESSIONS[family]))
        return mod

    def empty(self, shape, dtype):
        return self.xp.empty(shape, dtype)

    @property
    def multiprocessors(self):
        dev = self.xp.cuda.Device().id
        if dev not in self._sms:
            self._sms[dev] = self.xp.cuda.runtime.getDeviceProperties(dev)["multiProcessorCount"]
        return self._sms[dev]


class _KernelTable:
    """A RawModule whose kernels are looked up once: ``RawModule.get_function`` builds a new
    ``RawKernel`` on every call, a cost each launch would otherwise pay. (A RawKernel finds the
    current device's function itself, so one object serves every device.)"""

    def __init__(self, raw_module):
        self._raw = raw_module
        self._kernels = {}

    def get_function(self, name):
        kernel = self._kernels.get(name)
        if kernel is None:
            kernel = self._kernels[name] = self._raw.get_function(name)
        return kernel


_override = None
_cupy_driver = None


@contextlib.contextmanager
def use_driver(replacement):
    """Route every call, NumPy arrays included, through ``replacement`` (the test bench's emulator)."""
    global _override
    prev, _override = _override, replacement
    try:
        yield replacement
    finally:
        _override = prev


def driver():
    """The driver every wrapper launches through: the override, else the GPU's (made on first use)."""
    global _cupy_driver
    if _override is not None:
        return _override
    if _cupy_driver is None:
        _cupy_driver = CupyDriver(backend.cupy())
    return _cupy_driver


def on_device(*arrays) -> bool:
    """True when the kernel path runs: a driver override is active or an input is not NumPy."""
    if _override is not None:
        return True
    for a in arrays:   # a loop, not any(generator): this runs on every op on the CPU
        if a is not None and not isinstance(a, np.ndarray):
            return True
    return False
