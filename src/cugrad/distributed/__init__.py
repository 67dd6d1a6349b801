"""``cugrad.distributed``: a process group over MPI (mpi4py) or NCCL (CuPy), with PyTorch's names.

Start every rank with a launcher (``mpiexec -n 4 python train.py``, ``srun``, or any tool that sets
``RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT``), then ``init_process_group()``. Collectives
work in place on Tensors (or raw NumPy/CuPy arrays) and, with ``async_op=True``, return a handle
whose ``wait()`` finishes them.

Backends: "mpi" reduces host buffers (GPU arrays are staged through the host); "nccl" runs NCCL
on a communication stream of each rank's GPU ``cuda:{local_rank}``; "auto" takes MPI when launched
by an MPI launcher (or alone) and adds NCCL for GPU tensors when a GPU and NCCL are there, and takes
NCCL alone for ``RANK``/``WORLD_SIZE`` launches. This layer imports only ``backend``.
"""
from __future__ import annotations

import os
import pickle
import sys

import numpy as np

from .. import backend as _backend
from . import launch, mpi, nccl, rendezvous
from .launch import Launch

__all__ = ["init_process_group", "destroy_process_group", "is_initialized", "get_rank", "get_world_size",
           "get_local_rank", "get_backend", "barrier", "all_reduce", "broadcast", "all_gather",
           "all_gather_object", "abort", "ReduceOp", "Launch"]


class ReduceOp:
    SUM = "sum"
    AVG = "avg"


class _Group:
    """The process group: the host backend (MPI, or None) and the GPU backend (NCCL, or None)."""

    def __init__(self, name, rank, world_size, local_rank, host, gpu):
        self.name, self.rank, self.world_size, self.local_rank = name, rank, world_size, local_rank
        self.host, self.gpu = host, gpu
        self.previous_excepthook = None

    def for_array(self, array, where):
        if _backend.device_of(array).type == "cuda" and self.gpu is not None:
            return self.gpu
        if self.host is None:
            raise RuntimeError(f"cugrad.distributed.{where}: backend 'nccl' moves GPU tensors only, this one "
                               f"is on {_backend.device_of(array)}; launch with mpiexec and use backend='auto' "
                               "for CPU tensors")
        return self.host


_group: _Group | None = None


def init_process_group(backend: str = "auto", timeout: float = 300.0):
    """Join the job's process group (one per process). ``backend``: "auto", "mpi" or "nccl".

    Rank, world size and local rank come from MPI when launched by an MPI launcher, else from the
    launcher's environment (see ``launch``)."""
    global _group
    name = backend
    if name not in ("auto", "mpi", "nccl"):
        raise ValueError(f"init_process_group: unknown backend {name!r}; expected 'auto', 'mpi' or 'nccl'")
    if _group is not None:
        raise RuntimeError("init_process_group: already initialized (call destroy_process_group first)")
    env = launch.from_environment()
    use_mpi = name == "mpi" or env.mpi or (name == "auto" and env.launcher == "none")
    host = _mpi_group(env) if use_mpi else None
    previous_hook = None
    if host is not None:
        # from here on an uncaught error on one rank (a failed NCCL setup included) ends them all
        previous_hook = mpi.install_abort_hook(host)
        rank, world, local = host.rank, host.world_size, host.local_rank()
    else:
        rank, world, local = env.rank, env.world_size, env.local_rank
    gpu = None
    if name == "nccl" or (name == "auto" and host is None):
        gpu = _nccl_group(rank, world, local, host, timeout)
    elif name == "auto" and _gpu_collectives_possible():
        gpu = _nccl_group(rank, world, local, host, timeout)
    _group = _Group(name, rank, world, local, host, gpu)
    _group.previous_excepthook = previous_hook
    return _group


def _mpi_group(env: Launch):
    group = mpi.MPIBackend()
    if env.launcher != "none" and group.world_size != env.world_size:
        raise RuntimeError(f"init_process_group: {env.launcher} started {env.world_size} ranks but MPI connects "
                           f"{group.world_size}; this mpi4py's MPI does not match the launcher (under srun, "
                           "try srun --mpi=pmix or pmi2; under mpiexec, use the mpiexec of the MPI mpi4py uses)")
    return group


def _gpu_collectives_possible() -> bool:
    if _backend.cupy() is None:
        return False
    try:
        nccl.load_nccl()
    except ImportError:
        return False
    return True


def _nccl_group(rank, world, local, host, timeout):
    if _backend.cupy() is None:   # before any id exchange, so every rank fails alike and at once
        raise RuntimeError(f"init_process_group: backend 'nccl' needs a visible GPU, and "
                           f"{_backend.cuda_unavailable_reason()}; launch CPU ranks with mpiexec and "
                           "backend 'mpi' (or 'auto')")
    nccl.load_nccl()
    if world == 1:
        uid = nccl.unique_id()
    elif host is not None:
        uid = host.comm.bcast(nccl.unique_id() if rank == 0 else None, root=0)
    else:
        addr, port = os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT")
        if not addr or not port:
            raise RuntimeError("init_process_group: without an MPI launcher, NCCL needs MASTER_ADDR and "
                               "MASTER_PORT to exchange its id")
        uid = rendezvous.exchange(nccl.unique_id() if rank == 0 else None, rank, world, addr, int(port), timeout)
    return nccl.NCCLBackend(rank, world, local, uid)


def destroy_process_group():
    """Leave the process group (its communicators are closed; the MPI abort hook is removed)."""
    global _group
    group = _require("destroy_process_group")
    if group.previous_excepthook is not None:
        sys.excepthook = group.previous_excepthook
    for part in (group.gpu, group.host):
        if part is not None:
            part.close()
    _group = None


def is_initialized() -> bool:
    return _group is not None


def _require(where) -> _Group:
    if _group is None:
        raise RuntimeError(f"cugrad.distributed.{where}: call init_process_group() first")
    return _group


def get_rank() -> int:
    """This process's rank (0 when no process group is initialized, as a single process is rank 0)."""
    return 0 if _group is None else _group.rank


def get_world_size() -> int:
    return 1 if _group is None else _group.world_size


def get_local_rank() -> int:
    """Rank among the processes on this machine: GPU ranks use ``cuda:{local_rank}``."""
    return 0 if _group is None else _group.local_rank


def get_backend() -> str:
    """The backend that moves host arrays: "mpi", or "nccl" when there is no MPI."""
    group = _require("get_backend")
    return group.host.name if group.host is not None else group.gpu.name


def barrier():
    group = _require("barrier")
    (group.host or group.gpu).barrier()


def all_reduce(tensor, op: str = ReduceOp.SUM, async_op: bool = False):
    """Sum (or average: ``op="avg"``) ``tensor`` across ranks, in place on every rank."""
    group = _require("all_reduce")
    array = _array(tensor)
    if op not in (ReduceOp.SUM, ReduceOp.AVG):
        raise ValueError(f"cugrad.distributed.all_reduce: op must be 'sum' or 'avg', got {op!r}")
    if op == ReduceOp.AVG and not _backend.is_floating(array.dtype):
        raise TypeError(f"cugrad.distributed.all_reduce: op='avg' needs a floating dtype, got {array.dtype.name}")
    return _finish(group.for_array(array, "all_reduce").all_reduce(array, op), async_op)


def broadcast(tensor, src: int = 0, async_op: bool = False):
    """Overwrite ``tensor`` on every rank with rank ``src``'s values."""
    group = _require("broadcast")
    if not 0 <= src < group.world_size:
        raise ValueError(f"cugrad.distributed.broadcast: src={src} is not a rank of {group.world_size}")
    array = _array(tensor)
    return _finish(group.for_array(array, "broadcast").broadcast(array, src), async_op)


def all_gather(tensor_list, tensor, async_op: bool = False):
    """Fill ``tensor_list[r]`` with rank r's ``tensor`` (PyTorch's signature)."""
    group = _require("all_gather")
    array = _array(tensor)
    if len(tensor_list) != group.world_size:
        raise ValueError(f"cugrad.distributed.all_gather: tensor_list has {len(tensor_list)} entries for "
                         f"{group.world_size} ranks")
    for i, t in enumerate(tensor_list):
        out = _array(t)
        if out.shape != array.shape or out.dtype != array.dtype:
            raise ValueError(f"cugrad.distributed.all_gather: tensor_list[{i}] is {out.dtype.name}{list(out.shape)}, "
                             f"the tensor {array.dtype.name}{list(array.shape)}")
    xp = _backend.array_module(array)
    with _backend.device_context(_backend.device_of(array)):
        gathered = xp.empty((group.world_size, *array.shape), array.dtype)
        work = group.for_array(array, "all_gather").all_gather(gathered, xp.ascontiguousarray(array))

    class _Scatter:
        def wait(self):
            work.wait()
            with _backend.device_context(_backend.device_of(array)):
                for r, t in enumerate(tensor_list):
                    _array(t)[...] = gathered[r]
            return True

    return _finish(_Scatter(), async_op)


def all_gather_object(object_list, obj):
    """Fill ``object_list`` (one entry per rank) with every rank's picklable ``obj``.

    Only for values the ranks of one job made themselves: unpickling runs code."""
    group = _require("all_gather_object")
    device = _backend.CPU if group.host is not None else group.gpu.device   # where the bytes can travel
    payload = np.frombuffer(pickle.dumps(obj), np.uint8)
    with _backend.device_context(device):
        size = _backend.to_device(np.array([payload.size], np.int64), device)
        sizes = [size.copy() for _ in range(group.world_size)]
        all_gather(sizes, size)
        sizes = [int(s[0]) for s in sizes]
        padded = np.zeros(max(sizes), np.uint8)
        padded[:payload.size] = payload
        padded = _backend.to_device(padded, device)
        pieces = [padded.copy() for _ in range(group.world_size)]
        all_gather(pieces, padded)
        pieces = [_backend.to_device(p, _backend.CPU) for p in pieces]
    object_list[:] = [pickle.loads(p[:n].tobytes()) for p, n in zip(pieces, sizes)]
    return object_list


def abort(code: int = 1):
    """End every rank of the job now (after this rank printed why): MPI_Abort, never a hang."""
    group = _group
    if group is None or group.world_size == 1:
        raise SystemExit(code)
    (group.host or group.gpu).abort(code)


def _array(tensor):
    data = getattr(tensor, "data", None)
    if _backend.is_array(data):
        return data
    if _backend.is_array(tensor):
        return tensor
    raise TypeError(f"cugrad.distributed: expected a Tensor or an array, got {type(tensor).__name__}")


def _finish(work, async_op):
    if async_op:
        return work
    work.wait()
    return None
