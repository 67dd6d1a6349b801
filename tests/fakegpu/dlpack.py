"""DLPack on the stand-in: ``ndarray.__dlpack__`` / ``__dlpack_device__`` and ``cupy.from_dlpack``.

The stand-in's memory is NumPy's, so its capsule is a Python object that only its own
``from_dlpack`` reads (another library's capsule is refused, as is handing it one); what is checked
is the protocol as CuPy 14.2 runs it: the device tuple, the consumer's stream and the producer's
stream rule, the version and copy negotiation, one use per capsule, and the dtypes CuPy exports.
Citations: cupy/_core/core.pyx (ndarray.__dlpack__, __dlpack_device__) and cupy/_core/dlpack.pyx
(from_dlpack, DLPackMemory, get_dlpack_dtype_code_itemsize), tag v14.2.0.
"""
from __future__ import annotations

import warnings

from . import runtime

kDLCPU, kDLCUDA, kDLROCM, kDLCUDAManaged = 1, 2, 10, 13
STREAM_LEGACY = 1                 # cupy_backends runtime.streamLegacy (cudaStreamLegacy)
_VERSION = (1, 0)                 # dlpack.pyx IMPL_VER_MAJOR, IMPL_VER_MINOR


class Capsule:
    """What the stand-in's ``__dlpack__`` hands out: the exported array, consumed once."""

    def __init__(self, array, versioned):
        self.array, self.versioned, self.used = array, versioned, False


def device(a):
    """core.pyx __dlpack_device__ (dlpack.pyx get_dlpack_device): (kDLCUDA, the array's GPU)."""
    return kDLCUDA, a._mem.device_id


def export(a, *, stream=None, max_version=None, dl_device=None, copy=None):
    """core.pyx ndarray.__dlpack__: a capsule over ``a``'s memory. ``stream`` is the consumer's: when
    it is not CuPy's current stream, it waits for an event recorded on the current one (the
    stand-in runs work in issue order, so the wait orders nothing here but is asked for the same)."""
    versioned = max_version is not None and max_version[0] >= 1
    if dl_device is None or tuple(dl_device) == device(a):
        if copy is True:
            raise BufferError("copy=True only supported for copy to CPU.")
    elif tuple(dl_device) == (kDLCPU, 0):
        raise NotImplementedError("cugrad stand-in: __dlpack__(dl_device=CPU), a copy to the host, is not simulated")
    else:
        raise BufferError("unsupported device requested.")
    _check_dtype(a.dtype)
    current = runtime.get_current_stream()
    consumer = -2                                   # unset: neither None nor an int
    if stream is None:
        consumer = STREAM_LEGACY
    elif isinstance(stream, int):
        consumer = stream
    if consumer < -1:
        raise ValueError(f"On CUDA, the valid stream for the DLPack protocol is -1, 1, 2, or any larger value, "
                         f"but {stream} was provided")
    if consumer == 0:
        warnings.warn("Stream 0 is passed from a library that you are converting to; CuPy assumes 0 as a legacy "
                      "default stream. Please report this problem to the library as this violates the DLPack "
                      "protocol.")
        consumer = STREAM_LEGACY
    if consumer >= 0 and consumer != (current.ptr or STREAM_LEGACY):
        current.record()                            # the consumer stream waits for this event
    return Capsule(a, versioned)


def _check_dtype(dtype):
    """dlpack.pyx get_dlpack_dtype_code_itemsize: booleans, integers, floats, complex, bfloat16."""
    if dtype.kind not in "uifcb" and dtype.name != "bfloat16":
        raise BufferError("dtype is not supported for dlpack export")


def from_dlpack(array, *, device=None, copy=None):
    """dlpack.pyx from_dlpack: the producer's memory as a cupy array (no copy), asked for with
    CuPy's current stream of the producer's device; a bare capsule is read as it is."""
    if not hasattr(array, "__dlpack_device__"):
        return _consume(array)
    dev_type, dev_id = array.__dlpack_device__()
    if device is not None:
        raise NotImplementedError("from_dlpack() does not support device yet.")
    if dev_type in (kDLCUDA, kDLCUDAManaged):
        previous = runtime.getDevice()
        try:
            runtime.setDevice(dev_id)
            stream = runtime.get_current_stream().ptr or STREAM_LEGACY   # get_default_stream_ptr
            try:
                capsule = array.__dlpack__(stream=stream, max_version=_VERSION, copy=copy)
            except TypeError:                       # a producer without the DLPack 1.0 keywords
                if copy is not None:
                    raise
                capsule = array.__dlpack__(stream=stream)
        finally:
            runtime.setDevice(previous)
    elif dev_type == kDLROCM:
        raise NotImplementedError("cugrad stand-in: ROCm producers are not simulated")
    elif dev_type == kDLCPU:
        raise TypeError("CPU arrays cannot be directly imported to CuPy. "
                        "Use `cupy.array(numpy.from_dlpack(input))` instead.")
    else:
        raise TypeError(f"Unsupported array type: {dev_type}")
    return _consume(capsule)


def _consume(capsule):
    """dlpack.pyx DLPackMemory: a capsule is renamed "used" when read; a used one, or what is no
    capsule, is refused. Another library's capsule would hold real device memory: not simulated."""
    if type(capsule).__name__ == "PyCapsule":
        raise NotImplementedError("cugrad stand-in: another library's DLPack capsule cannot be read (the "
                                  "stand-in's GPU memory is NumPy's, so it shares only with itself)")
    if not isinstance(capsule, Capsule) or capsule.used:
        raise ValueError("A DLPack tensor object cannot be consumed multiple times "
                         f"(or object was not a DLPack capsule). Got: {capsule!r}")
    capsule.used = True
    return capsule.array._view(capsule.array._a)
