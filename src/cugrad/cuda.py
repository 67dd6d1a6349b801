"""``cugrad.cuda``: GPU availability, synchronization, memory statistics and CUDA-graph capture."""
from __future__ import annotations

from . import backend
from .backend import (  # noqa: F401  (re-exported)
    max_memory_allocated,
    memory_allocated,
    reset_peak_memory_stats,
    stop_tracking_memory,
    synchronize,
    track_memory,
)
from .graphs import CUDAGraph, GraphCaptureError, graph, is_capturing  # noqa: F401  (re-exported)


def is_available() -> bool:
    """True when CuPy imports and sees a GPU."""
    return backend.is_cuda_available()


def device_count() -> int:
    cp = backend.cupy()
    return cp.cuda.runtime.getDeviceCount() if cp is not None else 0


def get_device_name(index: int = 0) -> str:
    cp = backend.cupy()
    if cp is None:
        raise RuntimeError(f"no GPU: {backend.cuda_unavailable_reason()}")
    return cp.cuda.runtime.getDeviceProperties(index)["name"].decode()
