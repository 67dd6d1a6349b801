"""``cugrad train`` as one of several ranks (``mpiexec -n 4 cugrad train``, ``srun cugrad train``):
joining the job its launcher started, rank 0's decisions handed to every rank, metrics summed
over ranks, and a failure on any rank ending them all with one line."""
from __future__ import annotations

import sys
import time

import numpy as np

from .. import distributed as dist
from .parser import CLIError


def join() -> tuple[int, int, int]:
    """(rank, world size, local rank); joins the process group when a launcher started several."""
    if not dist.is_initialized() and dist.launch.from_environment().world_size > 1:
        dist.init_process_group("auto")
    return dist.get_rank(), dist.get_world_size(), dist.get_local_rank()


def is_leader() -> bool:
    """Rank 0, the one that prints and writes (always true for a single process)."""
    return dist.get_rank() == 0


def from_rank0(fn, *args):
    """``fn(*args)`` on rank 0 only; its result — or its CLIError — on every rank (for decisions
    that depend on the clock or the file system, such as the run folder's name)."""
    if dist.get_world_size() == 1:
        return fn(*args)
    outcome = None
    if is_leader():
        try:
            outcome = ("ok", fn(*args))
        except CLIError as exc:
            outcome = ("error", str(exc), exc.code)
    shared = [None] * dist.get_world_size()
    dist.all_gather_object(shared, outcome)
    if shared[0][0] == "error":
        raise CLIError(shared[0][1], code=shared[0][2])
    return shared[0][1]


def sum_over_ranks(*values) -> list[float]:
    """Each value summed over the ranks (float64; the values themselves on a single process)."""
    if dist.get_world_size() == 1:
        return list(values)
    total = np.array(values, np.float64)
    dist.all_reduce(total)
    return total.tolist()


def barrier() -> None:
    if dist.get_world_size() > 1:
        dist.barrier()


def fail(line: str, code: int) -> int:
    """Print ``line`` (the command's one error line) and, with several ranks, end them all.

    An error every rank meets (a bad flag) is printed by rank 0 alone: the others give it a moment
    to speak and end the job first; an error of one rank only is printed by that rank."""
    world = dist.get_world_size()
    if world > 1 and not is_leader():
        time.sleep(1.0)
    print(line if world == 1 else line.replace(": error: ", f": error: rank {dist.get_rank()} of {world}: ", 1),
          file=sys.stderr, flush=True)
    if world > 1:
        dist.abort(code)
    return code
