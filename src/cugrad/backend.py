"""The one place that knows NumPy from CuPy: devices, dtypes, array modules, memory stats.

CuPy is used only when it imports *and* a GPU is visible; with cupy installed and no GPU
everything runs on the CPU through NumPy.
"""
from __future__ import annotations

import ctypes
import math
import os
import warnings

import numpy as np

_cupy = None
_cupy_checked = False
_cupy_unavailable_reason = "cupy is not installed"


def cupy():
    """The cupy module when it imports and sees a GPU, else None (probed once)."""
    global _cupy, _cupy_checked, _cupy_unavailable_reason
    if not _cupy_checked:
        _cupy_checked = True
        try:
            import cupy as cp   # optional: the GPU backend
        except ImportError:
            return None
        except Exception as exc:  # a broken CUDA install must not break the CPU path
            _cupy_unavailable_reason = f"cupy failed to import ({type(exc).__name__}: {exc})"
            warnings.warn(f"cugrad: {_cupy_unavailable_reason}; running on the CPU", stacklevel=2)
            return None
        try:
            count = cp.cuda.runtime.getDeviceCount()
        except Exception as exc:
            count = 0
            _cupy_unavailable_reason = f"cupy is installed but no GPU is visible ({exc})"
        else:
            if count == 0:
                _cupy_unavailable_reason = "cupy is installed but no GPU is visible"
        if count > 0:
            _cupy = cp
    return _cupy


def cuda_unavailable_reason() -> str:
    """Why the CUDA path is off (empty when it is on)."""
    return "" if cupy() is not None else _cupy_unavailable_reason


def is_cuda_available() -> bool:
    return cupy() is not None


# --------------------------------------------------------------------------- devices

class Device:
    """A device: ``Device("cpu")``, ``Device("cuda")``, ``Device("cuda:1")``."""

    __slots__ = ("type", "index")

    def __init__(self, spec: "str | Device" = "cpu"):
        if isinstance(spec, Device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise TypeError(f"device must be a string such as 'cpu' or 'cuda:0', got {type(spec).__name__}")
        kind, _, idx = spec.partition(":")
        if kind == "cpu" and not idx:
            self.type, self.index = "cpu", None
        elif kind == "cuda" and (not idx or idx.isdigit()):
            self.type, self.index = "cuda", int(idx) if idx else 0
        else:
            raise ValueError(f"unknown device {spec!r}: expected 'cpu', 'cuda' or 'cuda:N'")

    def __eq__(self, other):
        if isinstance(other, Device):  # the common case (every multi-input op compares devices)
            return self.type == other.type and self.index == other.index
        try:
            other = Device(other)
        except (TypeError, ValueError):
            return NotImplemented
        return (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.type == "cpu" else f"cuda:{self.index}"

    def __repr__(self):
        return f"device('{self}')"


CPU = Device("cpu")
_GPUS = {}  # index -> Device, so the per-op device check does not parse strings


def get_device(spec=None) -> Device:
    """Resolve a device spec; None means the CPU. Asking for CUDA without a GPU is an error."""
    if spec is None:
        return CPU
    dev = Device(spec)
    if dev.type == "cuda":
        cp = cupy()
        if cp is None:
            raise RuntimeError(f"device {dev} requested but CUDA is not available: {cuda_unavailable_reason()}")
        count = cp.cuda.runtime.getDeviceCount()
        if dev.index >= count:
            raise ValueError(f"device {dev} requested but only {count} GPU(s) are visible")
    return dev


def default_device() -> Device:
    """The GPU when one is visible, else the CPU."""
    return Device("cuda:0") if is_cuda_available() else CPU


def device_of(array) -> Device:
    if isinstance(array, np.ndarray) or np.isscalar(array):
        return CPU
    cp = cupy()
    if cp is not None and isinstance(array, cp.ndarray):
        index = array.device.id
        device = _GPUS.get(index)
        if device is None:
            device = _GPUS[index] = Device(f"cuda:{index}")
        return device
    return CPU


def array_module(*arrays):
    """numpy or cupy: cupy when any argument is a cupy array."""
    cp = cupy()
    if cp is not None:
        for a in arrays:
            if isinstance(a, cp.ndarray):
                return cp
    return np


def is_array(obj) -> bool:
    if isinstance(obj, np.ndarray):
        return True
    cp = cupy()
    return cp is not None and isinstance(obj, cp.ndarray)


def ensure_array(value):
    """``value``, or a 0-d array for a NumPy scalar: NumPy turns 0-d results into scalars, which
    a Tensor must not hold (kernels and device checks take arrays)."""
    return np.asarray(value) if isinstance(value, np.generic) else value


def to_device(array, device: Device):
    """Copy (only if needed) ``array`` onto ``device``."""
    device = Device(device)
    if device.type == "cpu":
        if isinstance(array, np.ndarray):
            return array
        cp = cupy()
        if cp is not None and isinstance(array, cp.ndarray):
            return cp.asnumpy(array)
        return np.asarray(array)
    cp = cupy()
    with cp.cuda.Device(device.index):
        # an array already there comes back as is; one on another GPU is copied to this, the
        # current, device (CuPy 14.2 core.pyx, _array_from_cupy_ndarray); host values are uploaded
        return cp.asarray(array)


def module_for(device: Device):
    """numpy for the CPU, cupy for a GPU."""
    return np if Device(device).type == "cpu" else cupy()


def zeros(shape, dtype, device: Device):
    """A zero-filled array on ``device``."""
    device = Device(device)
    with device_context(device):
        return module_for(device).zeros(shape, dtype)


def ones(shape, dtype, device: Device):
    """An array of ones on ``device``."""
    device = Device(device)
    with device_context(device):
        return module_for(device).ones(shape, dtype)


def device_context(device: Device):
    """A context manager that makes ``device`` current: CuPy runs kernels and allocates on the
    current GPU, whatever GPU the operands are on. A no-op on the CPU and when already current."""
    if device.type == "cuda":
        cp = cupy()
        if cp.cuda.runtime.getDevice() != device.index:
            return cp.cuda.Device(device.index)
    return _NO_SWITCH


class _NullContext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_NO_SWITCH = _NullContext()     # stateless, so one instance serves every caller


def synchronize(device=None) -> None:
    """Wait for all work queued on a GPU (a no-op on the CPU)."""
    cp = cupy()
    if cp is None:
        return
    dev = Device(device) if device is not None else Device("cuda")
    if dev.type == "cuda":
        if cp.cuda.get_current_stream().is_capturing():
            raise RuntimeError("cugrad.cuda.synchronize: the current stream is capturing a CUDA graph, "
                               "which cannot record a host sync")
        with cp.cuda.Device(dev.index):
            cp.cuda.Stream.null.synchronize()
            cp.cuda.get_current_stream().synchronize()


# --------------------------------------------------------------------------- special functions

_host_erf = np.frompyfunc(math.erf, 1, 1)


def erf(x):
    """erf(x) = 2/√π ∫₀ˣ e^(−t²) dt elementwise, in ``x``'s float dtype (an array, even 0-d). NumPy
    has no erf: the CPU takes math.erf per element (double precision); CuPy has it as the ufunc
    ``cupyx.scipy.special.erf`` (CuPy 14.2 cupyx/scipy/special/_erf.py: float16 in, float64 out)."""
    xp = array_module(x)
    if xp is np:
        return np.asarray(_host_erf(x), dtype=x.dtype)
    from cupyx.scipy import special   # optional dependency: only where cupy is

    return special.erf(x).astype(x.dtype, copy=False)


# --------------------------------------------------------------------------- dtypes

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
_DTYPE_NAMES = FLOAT_DTYPES + ("int8", "int16", "int32", "int64", "uint8", "bool")
DEFAULT_FLOAT = np.dtype(np.float32)


def resolve_dtype(dtype) -> np.dtype:
    """A NumPy dtype from a name, a NumPy dtype or a Python type; unknown ones are a TypeError."""
    if dtype is float:
        return DEFAULT_FLOAT
    if dtype is int:
        return np.dtype(np.int64)
    if dtype is bool:
        return np.dtype(np.bool_)
    if dtype == "bfloat16" or getattr(dtype, "name", None) == "bfloat16":
        return bfloat16_dtype()
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"unknown dtype {dtype!r}: expected one of {', '.join(_DTYPE_NAMES)}") from None
    if resolved.name not in _DTYPE_NAMES:
        raise TypeError(f"unsupported dtype {resolved.name!r}: expected one of {', '.join(_DTYPE_NAMES)}")
    return resolved


def bfloat16_dtype() -> np.dtype:
    try:
        import ml_dtypes   # optional: bfloat16
    except ImportError:
        raise TypeError("dtype 'bfloat16' needs the ml_dtypes package (pip install ml_dtypes)") from None
    return np.dtype(ml_dtypes.bfloat16)


_NAMES: dict = {}  # dtype -> its name: np.dtype(...).name costs microseconds, and every op asks


def _dtype_name(dtype) -> str:
    try:
        return _NAMES[dtype]
    except (KeyError, TypeError):  # TypeError: an unhashable spec
        name = np.dtype(dtype).name
        if isinstance(dtype, np.dtype):
            _NAMES[dtype] = name
        return name


def is_bfloat16(dtype) -> bool:
    """ml_dtypes.bfloat16 (checked by name: that package is optional)."""
    return _dtype_name(dtype) == "bfloat16"


def is_floating(dtype) -> bool:
    return _dtype_name(dtype) in FLOAT_DTYPES


# --------------------------------------------------------------------------- memory

class _PeakTracker:
    """Wraps CuPy's memory pool to count bytes in use and their peak, per GPU (CuPy calls an
    allocator with the id of the current device, where the pool then allocates)."""

    def __init__(self, cp):
        self.pool = cp.get_default_memory_pool()
        self.live = {}              # pointer -> (pool memory, device id); pointers are unique (UVA)
        self.in_use = {}            # device id -> bytes
        self.peak = {}
        self.previous = cp.cuda.get_allocator()
        self.allocator = cp.cuda.memory.PythonFunctionAllocator(self._malloc, self._free)
        _set_allocator(cp, self.allocator.malloc, "track_memory")

    def _malloc(self, size, device_id):
        mem = self.pool.malloc(size)
        self.live[mem.ptr] = mem, device_id
        self.in_use[device_id] = used = self.in_use.get(device_id, 0) + mem.mem.size
        self.peak[device_id] = max(self.peak.get(device_id, 0), used)
        return mem.ptr

    def _free(self, ptr, device_id):
        mem, device_id = self.live.pop(ptr)
        self.in_use[device_id] -= mem.mem.size


_tracker = None


def track_memory() -> None:
    """Start counting GPU bytes in use and their peak on each GPU (call before allocating what to
    measure). Every allocation then passes through a Python function: call stop_tracking_memory()
    before timing anything. Allocations inside a CUDA-graph capture use the graph's own pool,
    uncounted, and starting or stopping inside a captured step or its warm-up is a RuntimeError."""
    global _tracker
    cp = cupy()
    if cp is not None and _tracker is None:
        _tracker = _PeakTracker(cp)


def stop_tracking_memory() -> None:
    """Stop counting: the allocator in use before track_memory() again. Arrays allocated while
    counting stay valid; memory_allocated() is the pool's count again."""
    global _tracker
    if _tracker is not None:
        _set_allocator(cupy(), _tracker.previous, "stop_tracking_memory")
        _tracker = None


def _set_allocator(cp, allocator, what):
    """cupy.cuda.set_allocator, refused with a message saying where and why when CuPy refuses it:
    CuPy raises a bare ValueError inside ``cupy.cuda.using_allocator`` (cupy/cuda/memory.pyx,
    set_allocator), which is how a compile_step warm-up or a capture allocates from the graph's
    private memory pool."""
    try:
        cp.cuda.set_allocator(allocator)
    except ValueError:
        raise RuntimeError(f"{what}: called inside cupy.cuda.using_allocator, as in a compiled step (compile_step) "
                           "or a cugrad.cuda.graph body, which allocate from the graph's private memory pool; call "
                           "it outside the step") from None


def _gpu_index(cp, device) -> "int | None":
    """The GPU index ``device`` names (None: the current GPU), or None for the CPU."""
    if device is None:
        return cp.cuda.runtime.getDevice()
    dev = get_device(device)
    return None if dev.type == "cpu" else dev.index


def memory_allocated(device=None) -> int:
    """Bytes of memory held by live arrays on ``device`` (default: the current GPU; 0 on the CPU):
    the tracker's count since track_memory(), else the CuPy pool's count for that GPU."""
    cp = cupy()
    index = None if cp is None else _gpu_index(cp, device)
    if index is None:
        return 0
    if _tracker is not None:
        return _tracker.in_use.get(index, 0)
    with cp.cuda.Device(index):                 # the pool reports the current device's blocks
        return cp.get_default_memory_pool().used_bytes()


def max_memory_allocated(device=None) -> int:
    """Peak of memory_allocated(device) since reset_peak_memory_stats (needs track_memory() first)."""
    cp = cupy()
    index = None if cp is None else _gpu_index(cp, device)
    if index is None:
        return 0
    if _tracker is None:
        raise RuntimeError("max_memory_allocated needs cugrad.cuda.track_memory() called before the allocations")
    return _tracker.peak.get(index, 0)


def reset_peak_memory_stats(device=None) -> None:
    """Start the peak of ``device`` (default: the current GPU) over from what is in use now."""
    cp = cupy()
    index = None if cp is None else _gpu_index(cp, device)
    if _tracker is not None and index is not None:
        _tracker.peak[index] = _tracker.in_use.get(index, 0)


# --------------------------------------------------------------------------- host memory

# glibc's malloc hands an allocation above its mmap threshold its own pages and gives freed memory
# at the top of the heap back to the OS once more than the trim threshold is free. A training step
# frees arrays of the same sizes it allocates again next step (``w.grad = None``, the update's
# temporaries), so with the defaults it can fault those pages back in every step: measured on the
# seeds' net (64×1000 → 100 → 10), 169 page faults and ~250 µs of system time a step, half the
# step. Fixed thresholds keep such memory in the process, as CuPy's pool keeps GPU memory.
HOST_MMAP_THRESHOLD = 32 << 20   # glibc's largest (64-bit): bigger arrays still get their own pages
HOST_TRIM_THRESHOLD = 64 << 20   # free memory the heap keeps before returning any to the OS


def keep_host_memory() -> bool:
    """Set glibc's mmap and trim thresholds above (once, at import; CUGRAD_KEEP_HOST_MEMORY=0 leaves
    malloc as it is). False where the C library is not glibc or it refuses."""
    if os.environ.get("CUGRAD_KEEP_HOST_MEMORY", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
        libc.gnu_get_libc_version   # only glibc has both (musl has no mallopt)
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3   # <malloc.h>
    return bool(mallopt(M_MMAP_THRESHOLD, HOST_MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, HOST_TRIM_THRESHOLD))


HOST_MEMORY_KEPT = keep_host_memory()
