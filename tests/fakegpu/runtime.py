"""Simulated CUDA runtime: two GPUs, the current device, streams, events and stream capture.

Work is "enqueued" through :func:`enqueue`: it runs at once, unless the current stream is
capturing, in which case it is recorded into the capture and runs only when the graph is launched.
Citations are to CuPy 14.2.0's source (git tag v14.2.0 of github.com/cupy/cupy).
"""
from __future__ import annotations

import threading

N_DEVICES = 2
TOTAL_MEMORY = 80 * 1024 ** 3          # an H100 SXM's 80 GiB
COMPUTE_CAPABILITY = "90"


class CUDARuntimeError(RuntimeError):
    """cupy_backends.cuda.api.runtime.CUDARuntimeError (a RuntimeError subclass there too)."""


class CUDADriverError(RuntimeError):
    """cupy_backends.cuda.api.driver.CUDADriverError."""


class _Thread(threading.local):
    device = 0                 # cudaSetDevice is per host thread
    streams = None             # device id -> current Stream (CuPy keeps one per device and thread)


_t = _Thread()


# --------------------------------------------------------------------------- devices

def getDeviceCount():
    return N_DEVICES


def getDevice():
    return _t.device


def setDevice(device):
    device = int(device)
    if not 0 <= device < N_DEVICES:
        # cudaSetDevice on a missing ordinal: cudaErrorInvalidDevice
        raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
    _t.device = device


def runtimeGetVersion():
    return 12080


def driverGetVersion():
    return 12080


def getDeviceProperties(device):
    """An H100-like record (the keys and bytes-valued name of cudaDeviceProp as CuPy returns it,
    cupy_backends/cuda/api/runtime.pyx getDeviceProperties)."""
    if not 0 <= int(device) < N_DEVICES:
        raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
    return {"name": b"NVIDIA H100 80GB HBM3 (cugrad stand-in)", "totalGlobalMem": TOTAL_MEMORY,
            "multiProcessorCount": 132, "major": 9, "minor": 0, "warpSize": 32,
            "maxThreadsPerBlock": 1024, "sharedMemPerBlock": 49152, "sharedMemPerBlockOptin": 232448,
            "regsPerBlock": 65536, "clockRate": 1980000, "memoryClockRate": 2619000,
            "memoryBusWidth": 5120, "l2CacheSize": 52428800, "pciDeviceID": int(device),
            "maxGridSize": (2147483647, 65535, 65535), "maxThreadsDim": (1024, 1024, 64)}


def memGetInfo():
    """(free, total) of the current device: total minus what the device's pools hold."""
    from . import memory
    held = memory.bytes_held(_t.device)
    return TOTAL_MEMORY - held, TOTAL_MEMORY


def deviceCanAccessPeer(device, peer):
    # The simulated GPUs have no peer access (PCIe cards without P2P), so every cross-device
    # kernel argument is refused as CuPy refuses it then (see array._check_device).
    return 0


def deviceSynchronize():
    _sync_device(_t.device)


class Device:
    """cupy.cuda.Device: ``with Device(1):`` makes GPU 1 current and restores the previous one on
    exit; ``.use()`` makes it current for good (cupy/cuda/device.pyx, Device.__enter__/use)."""

    def __init__(self, device=None):
        if device is None:
            device = _t.device
        self.id = int(device)
        if not 0 <= self.id < N_DEVICES:
            raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
        self._previous = []

    def __enter__(self):
        self._previous.append(_t.device)
        _t.device = self.id
        return self

    def __exit__(self, *exc):
        _t.device = self._previous.pop()
        return False

    def use(self):
        _t.device = self.id

    def synchronize(self):
        _sync_device(self.id)

    @property
    def compute_capability(self):
        return COMPUTE_CAPABILITY

    def __int__(self):
        return self.id

    def __index__(self):
        return self.id

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(("device", self.id))

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


def get_device_id():
    return _t.device


def is_available():
    return True


# --------------------------------------------------------------------------- streams

_next_ptr = [0x7F0000000000]


class Event:
    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.done = True
        self.device = None

    def record(self, stream=None):
        (stream or get_current_stream()).record(self)

    def synchronize(self):
        pass

    @property
    def ptr(self):
        return id(self)


class Stream:
    """cupy.cuda.Stream. ``with stream:`` makes it the current stream of the current device."""

    null = None            # the legacy default stream, set below

    def __init__(self, null=False, non_blocking=False, ptds=False, priority=None):
        if null:
            self.ptr = 0
        else:
            _next_ptr[0] += 0x1000
            self.ptr = _next_ptr[0]
        self.device_id = _t.device
        self._capture = None           # the Graph being recorded, while capturing
        self._invalidated = None       # why the capture was invalidated
        self._previous = []

    # --- current stream
    def __enter__(self):
        streams = _current_streams()
        self._previous.append(streams.get(_t.device))
        streams[_t.device] = self
        return self

    def __exit__(self, *exc):
        _current_streams()[_t.device] = self._previous.pop()
        return False

    def use(self):
        _current_streams()[_t.device] = self
        return self

    # --- ordering (work runs in issue order here, so these only check what CUDA forbids)
    def record(self, event=None):
        event = event or Event()
        event.device = self.device_id
        return event

    def wait_event(self, event):
        pass

    def synchronize(self):
        """cudaStreamSynchronize on a capturing stream is illegal and invalidates the capture
        (CUDA Programming Guide, "Prohibited and Unhandled Operations")."""
        if self._capture is not None:
            self._invalidate("cudaStreamSynchronize")
        if self.ptr == 0:
            _sync_device(self.device_id)

    @property
    def done(self):
        return True

    # --- capture: cupy/cuda/stream.pyx, Stream.begin_capture / end_capture / is_capturing
    def begin_capture(self, mode=None):
        if self.ptr == 0:
            # stream.pyx begin_capture: the legacy default stream cannot capture
            raise RuntimeError("cannot capture on the default (legacy) stream")
        if self._capture is not None or self._invalidated is not None:
            raise CUDARuntimeError("cudaErrorIllegalState: operation would make the legacy stream depend on "
                                   "a capturing blocking stream")
        self._capture = Graph._new(self.device_id)

    def end_capture(self):
        if self._invalidated is not None:
            why, self._invalidated, self._capture = self._invalidated, None, None
            # cudaStreamEndCapture after an invalidating call
            raise CUDARuntimeError(f"cudaErrorStreamCaptureInvalidated: operation failed due to a previous error "
                                   f"during capture ({why})")
        if self._capture is None:
            raise CUDARuntimeError("cudaErrorIllegalState: the stream is not capturing")
        graph, self._capture = self._capture, None
        return graph

    def is_capturing(self):
        if self._invalidated is not None:
            # cupy_backends/cuda/api/runtime.pyx streamIsCapturing
            raise RuntimeError("the stream was capturing, but an error has invalidated the capture sequence")
        return self._capture is not None

    def _invalidate(self, call):
        self._invalidated = call
        self._capture = None
        raise CUDARuntimeError(f"cudaErrorStreamCaptureUnsupported: operation not permitted when stream is "
                               f"capturing ({call})")

    def launch_host_func(self, callback, arg):
        enqueue(lambda: callback(arg))

    def __repr__(self):
        return f"<Stream {self.ptr:#x} (device {self.device_id})>"


Stream.null = Stream(null=True)


class ExternalStream(Stream):
    def __init__(self, ptr, device_id=-1):
        raise NotImplementedError("cugrad stand-in: cupy.cuda.ExternalStream is not simulated")


def _current_streams():
    if _t.streams is None:
        _t.streams = {}
    return _t.streams


def get_current_stream(device_id=-1):
    dev = _t.device if device_id == -1 else device_id
    return _current_streams().get(dev) or Stream.null


def _sync_device(device):
    """A device-wide sync while a stream of that device captures: implicit synchronization with a
    capturing stream is prohibited and invalidates that capture (cudaErrorStreamCaptureImplicit)."""
    for s in list(_capturing_streams()):
        if s.device_id == device:
            s._invalidate("device synchronization")


def _capturing_streams():
    return [s for s in (_current_streams().values()) if s is not None and s._capture is not None]


def capturing_stream():
    """The current stream when it is capturing, else None (raises when its capture was invalidated,
    as cudaStreamIsCapturing does)."""
    s = get_current_stream()
    return s if s.is_capturing() else None


def enqueue(work, what="kernel"):
    """Run ``work`` now, or record it when the current stream is capturing."""
    s = capturing_stream()
    if s is None:
        work()
    else:
        if s.device_id != _t.device:
            # a stream belongs to the device current at its creation; launching on it while
            # another device is current is cudaErrorInvalidResourceHandle
            raise CUDARuntimeError(f"cudaErrorInvalidResourceHandle: {what} on a stream of device "
                                   f"{s.device_id} while device {_t.device} is current")
        s._capture._work.append(work)


def refuse_transfer(kind):
    """cupy/cuda/memory.pyx MemoryPointer.copy_to_host_async / copy_from_host_async: no host
    transfers on a capturing stream."""
    if capturing_stream() is not None:
        raise RuntimeError(f"the current stream is capturing, so {kind} transfers are disallowed")


# --------------------------------------------------------------------------- graphs

class Graph:
    """cupy.cuda.graph.Graph: only made by Stream.end_capture (graph.pyx Graph.__init__ refuses)."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError("currently this class cannot be initiated by the user and must be created via "
                                  "stream capture")

    @classmethod
    def _new(cls, device):
        g = cls.__new__(cls)
        g._work, g._device, g.launches = [], device, 0
        return g

    def launch(self, stream=None):
        """Replays the recorded work, in order, on the graph's device."""
        if _t.device != self._device:
            raise CUDARuntimeError(f"cudaErrorInvalidResourceHandle: graph of device {self._device} launched "
                                   f"while device {_t.device} is current")
        self.launches += 1
        enqueue(self._replay, "graph launch")

    def _replay(self):
        for work in self._work:
            work()

    def upload(self, stream=None):
        pass
