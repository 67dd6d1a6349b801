"""Who this process is in a job: rank, world size and local rank, from the launcher's environment.

``mpiexec``/``mpirun`` (MPICH, Intel MPI: ``PMI_*``; Open MPI: ``OMPI_COMM_WORLD_*``; PMIx),
``srun`` (``SLURM_PROCID`` with ``SLURM_STEP_NUM_TASKS``: a batch script's own environment has no
step, so a plain ``python`` inside ``sbatch`` stays a single process) and torchrun-style
``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` with ``MASTER_ADDR``/``MASTER_PORT``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

# (launcher, rank variable, world-size variable, local-rank variable, started by an MPI launcher)
_LAUNCHERS = (
    ("Open MPI", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", True),
    ("PMI", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", True),
    ("PMIx", "PMIX_RANK", "PMIX_SIZE", "PMIX_LOCAL_RANK", True),
    ("Slurm", "SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_LOCALID", True),
    ("RANK/WORLD_SIZE", "RANK", "WORLD_SIZE", "LOCAL_RANK", False),
)


@dataclass(frozen=True)
class Launch:
    """This process's place in the job as its launcher describes it."""

    rank: int
    world_size: int
    local_rank: int
    launcher: str           # "none" when no launcher variable is set
    mpi: bool               # started by an MPI launcher (so MPI can connect the ranks)


def from_environment(environ=None) -> Launch:
    """The launch described by ``environ`` (os.environ by default); a single process when none."""
    env = os.environ if environ is None else environ
    for launcher, rank_var, size_var, local_var, mpi in _LAUNCHERS:
        if rank_var not in env or size_var not in env:
            continue
        rank = _int(env, rank_var)
        world = _int(env, size_var)
        if world < 1 or not 0 <= rank < world:
            raise ValueError(f"cugrad.distributed: {launcher} says rank {rank} of {world} "
                             f"({rank_var}, {size_var}): not a valid rank")
        local = _int(env, local_var) if local_var in env else rank
        return Launch(rank, world, local, launcher, mpi)
    return Launch(0, 1, 0, "none", False)


def _int(env, name) -> int:
    value = env[name]
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"cugrad.distributed: {name}={value!r} is not an integer") from None
