"""The NCCL backend: CuPy's binding of NCCL (``cupy.cuda.nccl``; the library comes from the
``nvidia-nccl-cu12``/``-cu13`` wheels).

Every collective runs on this backend's own communication stream, ordered after the work already
queued on the compute (current) stream by an event; ``wait()`` makes the compute stream wait for
the collective in turn — the host never blocks, and backward keeps queueing kernels meanwhile.
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import backend


def load_nccl():
    """``cupy.cuda.nccl``, or an ImportError saying what is missing."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # CuPy warns when libnccl is missing; we raise instead
            from cupy.cuda import nccl
    except ImportError as exc:
        raise ImportError(f"cugrad.distributed: backend 'nccl' needs CuPy: pip install 'cugrad[cuda12]' ({exc})") from None
    if not nccl.available:
        raise ImportError("cugrad.distributed: backend 'nccl' needs the NCCL library, which CuPy could not "
                          "load: pip install nvidia-nccl-cu12 (or -cu13, matching your CuPy)")
    return nccl


def version() -> tuple:
    """The loaded NCCL library's version as (major, minor, patch)."""
    code = load_nccl().get_version()
    return (code // 10000, code // 100 % 100, code % 100) if code >= 10000 else (code // 1000, code // 100 % 10, code % 100)


def unique_id() -> bytes:
    """A fresh NCCL unique id (rank 0 makes it; every rank needs the same one). No GPU needed."""
    return bytes(load_nccl().get_unique_id())


_DTYPES = {"float16": "NCCL_FLOAT16", "bfloat16": "NCCL_BFLOAT16", "float32": "NCCL_FLOAT32",
           "float64": "NCCL_FLOAT64", "int8": "NCCL_INT8", "uint8": "NCCL_UINT8", "int32": "NCCL_INT32",
           "uint32": "NCCL_UINT32", "int64": "NCCL_INT64", "uint64": "NCCL_UINT64", "bool": "NCCL_UINT8"}


def nccl_dtype(nccl, dtype, where: str) -> int:
    name = np.dtype(dtype).name
    if name not in _DTYPES:
        raise TypeError(f"cugrad.distributed.{where}: NCCL has no type for {name}; "
                        f"supported: {', '.join(sorted(_DTYPES))}")
    return getattr(nccl, _DTYPES[name])


class _Work:
    """A collective queued on the communication stream; ``wait()`` orders the current stream after it."""

    def __init__(self, device_index, done_event, keep):
        self._device, self._done, self._keep = device_index, done_event, keep

    def wait(self):
        if self._done is not None:
            cp = backend.cupy()
            with cp.cuda.Device(self._device):   # the current stream of the communicator's GPU
                cp.cuda.get_current_stream().wait_event(self._done)
            self._done = self._keep = None
        return True

    def is_completed(self) -> bool:
        return self._done is None or self._done.done


class NCCLBackend:
    """One NCCL communicator for this process's GPU (``cuda:{device_index}``)."""

    name = "nccl"

    def __init__(self, rank: int, world_size: int, device_index: int, uid: bytes):
        cp = backend.cupy()
        if cp is None:
            raise RuntimeError(f"cugrad.distributed: backend 'nccl' needs a visible GPU, and "
                               f"{backend.cuda_unavailable_reason()}; use backend='mpi' for CPU ranks")
        count = cp.cuda.runtime.getDeviceCount()
        if not 0 <= device_index < count:
            raise RuntimeError(f"cugrad.distributed: local rank {device_index} wants cuda:{device_index}, but "
                               f"{count} GPU(s) are visible; start at most {count} ranks per machine")
        nccl = load_nccl()
        self.nccl, self.cp = nccl, cp
        self.rank, self.world_size = rank, world_size
        self.device = backend.Device(f"cuda:{device_index}")
        with cp.cuda.Device(device_index):
            self.comm = nccl.NcclCommunicator(world_size, uid, rank)
            self.stream = cp.cuda.Stream(non_blocking=True)

    def _launch(self, arrays, call):
        """Run ``call(stream_ptr)`` on the communication stream after the compute stream's work."""
        with self.cp.cuda.Device(self.device.index):
            self.stream.wait_event(self.cp.cuda.get_current_stream().record())
            call(self.stream.ptr)
            return _Work(self.device.index, self.stream.record(), arrays)

    def _check(self, array, where):
        if backend.device_of(array) != self.device:
            raise RuntimeError(f"cugrad.distributed.{where}: the tensor is on {backend.device_of(array)}, "
                               f"this rank's NCCL communicator on {self.device}")
        if not array.flags.c_contiguous:
            raise ValueError(f"cugrad.distributed.{where}: NCCL needs a contiguous array")

    def all_reduce(self, array, op):
        self._check(array, "all_reduce")
        kind = nccl_dtype(self.nccl, array.dtype, "all_reduce")
        code = self.nccl.NCCL_AVG if op == "avg" else self.nccl.NCCL_SUM
        ptr = array.data.ptr
        return self._launch(array, lambda s: self.comm.allReduce(ptr, ptr, array.size, kind, code, s))

    def broadcast(self, array, src):
        self._check(array, "broadcast")
        raw = array.view(np.uint8) if array.dtype == np.bool_ else array
        kind = nccl_dtype(self.nccl, raw.dtype, "broadcast")
        ptr = array.data.ptr
        return self._launch(array, lambda s: self.comm.broadcast(ptr, ptr, array.size, kind, src, s))

    def all_gather(self, out, array):
        self._check(array, "all_gather")
        self._check(out, "all_gather")
        kind = nccl_dtype(self.nccl, array.dtype, "all_gather")
        return self._launch((out, array), lambda s: self.comm.allGather(
            array.data.ptr, out.data.ptr, array.size, kind, s))

    def barrier(self):
        with self.cp.cuda.Device(self.device.index):
            token = self.cp.zeros(1, np.float32)
            self.all_reduce(token, "sum").wait()
            self.cp.cuda.get_current_stream().synchronize()

    def abort(self, code: int):
        """End this rank. Without MPI nothing ends the others (they wait in their next collective
        until their launcher stops them): launch with mpiexec or srun where you can."""
        self.comm.abort()
        raise SystemExit(code)

    def close(self):
        self.comm.destroy()
