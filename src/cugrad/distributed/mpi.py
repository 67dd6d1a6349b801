"""The MPI backend: mpi4py collectives on host buffers.

CPU arrays are reduced where they are. GPU arrays are copied to the host and back (MPI builds that
are CUDA-aware are not relied on: which ones are cannot be asked portably). float16 and bfloat16
are summed in float32 (MPI has no such types), everything else in its own dtype; broadcast and
all-gather move raw bytes, so any dtype goes through exactly.
"""
from __future__ import annotations

import sys
import time

import numpy as np

from .. import backend

ABORT_GRACE_SECONDS = 0.5  # how long a rank waits after its last words before MPI_Abort


def load_mpi():
    """The ``mpi4py.MPI`` module, or an ImportError saying how to get it."""
    try:
        from mpi4py import MPI   # optional: the dist extra
    except ImportError as exc:
        raise ImportError("cugrad.distributed: the MPI backend needs mpi4py and an MPI library: "
                          f"pip install 'cugrad[dist]' ({exc})") from None
    return MPI


class _Work:
    """An MPI request and what finishes it: the handle that ``async_op=True`` returns."""

    def __init__(self, request, finish=None):
        self._request, self._finish = request, finish

    def wait(self):
        if self._request is not None:
            self._request.Wait()
            self._request = None
            if self._finish is not None:
                self._finish()
        return True

    def is_completed(self) -> bool:
        return self._request is None or bool(self._request.Test())


class MPIBackend:
    """Collectives over an mpi4py communicator (COMM_WORLD unless told)."""

    name = "mpi"

    def __init__(self, comm=None):
        MPI = load_mpi()
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank = self.comm.Get_rank()
        self.world_size = self.comm.Get_size()

    def local_rank(self) -> int:
        """Rank among the processes on this machine (shared-memory neighbours)."""
        node = self.comm.Split_type(self.MPI.COMM_TYPE_SHARED)
        try:
            return node.Get_rank()
        finally:
            node.Free()

    def all_reduce(self, array, op):
        host, copy_back = _host_view(array)
        buf = host.astype(np.float32) if _narrow_float(host.dtype) else host
        request = self.comm.Iallreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM)
        world = self.world_size

        def finish():
            if op == "avg":
                np.divide(buf, world, out=buf, casting="unsafe")
            if buf is not host:
                host[...] = buf.astype(host.dtype)
            copy_back()

        return _Work(request, finish)

    def broadcast(self, array, src):
        host, copy_back = _host_view(array)
        return _Work(self.comm.Ibcast(_bytes(host), root=src), copy_back)

    def all_gather(self, out, array):
        """``out[r] = array`` of rank r; ``out`` has shape (world, *array.shape)."""
        host, _ = _host_view(array)
        gathered, copy_back = _host_view(out)
        return _Work(self.comm.Iallgather(_bytes(host), _bytes(gathered)), copy_back)

    def barrier(self):
        self.comm.Barrier()

    def abort(self, code: int):
        # The launcher forwards each rank's output through a pipe it stops reading once the abort
        # reaches it: a moment first, so what this rank printed last arrives (seen lost under load).
        time.sleep(ABORT_GRACE_SECONDS)
        self.comm.Abort(code)

    def close(self):
        pass  # COMM_WORLD lives until the interpreter exits (mpi4py finalizes MPI then)


def _narrow_float(dtype) -> bool:
    return dtype == np.float16 or backend.is_bfloat16(dtype)


def _bytes(host):
    return host.reshape(-1).view(np.uint8)


def _host_view(array):
    """A contiguous host array with ``array``'s values, and a function that writes it back when it
    is a copy (GPU arrays, non-contiguous views)."""
    if isinstance(array, np.ndarray):
        if array.flags.c_contiguous:
            return array, _nothing
        host = np.ascontiguousarray(array)

        def copy_back():
            array[...] = host
        return host, copy_back
    host = np.ascontiguousarray(backend.to_device(array, backend.CPU))

    def upload():
        with backend.device_context(backend.device_of(array)):
            array[...] = backend.to_device(host, backend.device_of(array))
    return host, upload


def _nothing():
    pass


def install_abort_hook(mpi_backend):
    """Make an uncaught exception on any rank end every rank (MPI_Abort) instead of leaving the
    others waiting in a collective forever."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        if mpi_backend.world_size > 1:
            print(f"cugrad: rank {mpi_backend.rank} failed ({kind.__name__}: {value}); ending all "
                  f"{mpi_backend.world_size} ranks", file=sys.stderr, flush=True)
            mpi_backend.abort(1)

    sys.excepthook = hook
    return previous
