"""Zero-copy exchange with other array libraries through DLPack: ``cugrad.from_dlpack(obj)``.

The export side is ``Tensor.__dlpack__`` / ``__dlpack_device__`` / ``__cuda_array_interface__``
(tensor.py). Both sides hand the work to NumPy (CPU memory) or CuPy (GPU memory), which implement
the protocol's stream rule on the GPU: the consumer names the stream it will read on, and the
producer makes that stream wait for the work queued on its own before the memory is shared.
"""
from __future__ import annotations

import numpy as np

from . import backend
from .tensor import Tensor

__all__ = ["from_dlpack", "DEVICE_CPU", "DEVICE_CUDA"]

# DLPack's DLDeviceType codes for the memory cugrad can hold
DEVICE_CPU, DEVICE_CUDA, DEVICE_CUDA_HOST, DEVICE_CUDA_MANAGED = 1, 2, 3, 13
_DEVICE_NAMES = {1: "CPU", 2: "CUDA", 3: "CUDA host (pinned)", 4: "OpenCL", 7: "Vulkan", 8: "Metal",
                 10: "ROCm", 13: "CUDA managed", 14: "oneAPI"}


def from_dlpack(obj) -> Tensor:
    """A tensor sharing ``obj``'s memory (no copy): a NumPy array, a PyTorch, JAX or CuPy tensor,
    another cugrad tensor — anything with ``__dlpack__``. It lands on ``obj``'s device (CPU memory
    becomes a CPU tensor, CUDA memory a GPU tensor on the same GPU) and does not require grad.
    Writes through either side are seen by the other."""
    name = type(obj).__name__
    if not (hasattr(obj, "__dlpack__") and hasattr(obj, "__dlpack_device__")):
        raise TypeError(f"cugrad.from_dlpack: a {name} has no __dlpack__/__dlpack_device__ (the DLPack protocol); "
                        "pass a NumPy array, a PyTorch/JAX/CuPy tensor or another object that implements it")
    kind, index = (int(v) for v in obj.__dlpack_device__())
    if kind == DEVICE_CPU:
        array = _import(np, obj, name, "NumPy")
    elif kind in (DEVICE_CUDA, DEVICE_CUDA_MANAGED):
        cp = backend.cupy()
        if cp is None:
            raise BufferError(f"cugrad.from_dlpack: the {name} is in CUDA memory (GPU {index}), but CUDA is not "
                              f"available here: {backend.cuda_unavailable_reason()}")
        with cp.cuda.Device(index):   # CuPy passes its current stream, so the producer can order its work
            array = _import(cp, obj, name, "CuPy")
    else:
        raise BufferError(f"cugrad.from_dlpack: the {name} is in {_DEVICE_NAMES.get(kind, f'device type {kind}')} "
                          "memory; cugrad shares only CPU and CUDA memory (copy it to one of those first)")
    try:
        backend.resolve_dtype(array.dtype)
    except TypeError as exc:
        raise TypeError(f"cugrad.from_dlpack: the {name} has dtype {array.dtype}, which cugrad does not support "
                        f"({exc})") from None
    return Tensor.from_array(array)


def _import(xp, obj, name, reader):
    """``xp.from_dlpack(obj)`` with the reader's refusals (a dtype it lacks, a tensor that
    requires grad) reworded to name cugrad's call and the object."""
    try:
        return xp.from_dlpack(obj)
    except (BufferError, RuntimeError, TypeError, ValueError) as exc:
        dtype = str(getattr(obj, "dtype", ""))
        hint = ""
        if "bfloat16" in dtype:
            hint = f"; {reader}'s DLPack reader has no bfloat16: convert to float32 first"
        raise BufferError(f"cugrad.from_dlpack: cannot share the {name}{f' ({dtype})' if dtype else ''}: "
                          f"{exc}{hint}") from None
