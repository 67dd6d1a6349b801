"""Run under ``mpiexec -n W``: data-parallel cases, each compared on every rank with one process
training on the same global batches. Rank 0 prints one ``RESULT {json}`` line per case with the
largest difference seen on any rank. ``python distributed_worker.py fail`` is the crash case."""
from __future__ import annotations

import json
import sys
import time

import numpy as np

import cugrad
import cugrad.distributed as dist
from cugrad import nn, optim
from cugrad.nn.parallel import DistributedDataParallel as DDP

SIZES = [7, 16, 16, 3]
GLOBAL_BATCH = 24          # divisible by 2, 3 and 4
N = 24 * 10 + 14           # ten full batches and a partial one (split unevenly on 4 ranks)


def data():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((N, SIZES[0]))
    y = rng.integers(0, SIZES[-1], N)
    return X, y


def model(checkpoint=None):
    cugrad.manual_seed(11)
    return nn.MLP(SIZES, activation="tanh", dtype="float64", checkpoint=checkpoint)


def make_opt(kind, params):
    if kind == "sgd":
        return optim.SGD(params, lr=0.1, momentum=0.9)
    return optim.Adam(params, lr=0.01)


def train(net, kind, steps, rank, world):
    """``steps`` optimizer steps over the sharded loader; the loss is each rank's mean, and DDP
    averages over ranks, which is the global mean when shards are equal."""
    X, y = data()
    loader = cugrad.DataLoader((X, y), GLOBAL_BATCH, shuffle=True, seed=5, rank=rank, world_size=world,
                               drop_last=True)
    opt = make_opt(kind, net.parameters())
    loss_fn = nn.CrossEntropyLoss()
    done = 0
    while done < steps:
        for xb, yb in loader:
            opt.zero_grad()
            loss_fn(net(xb), yb).backward()
            opt.step()
            done += 1
            if done == steps:
                break
    return net


def max_delta(a, b):
    return max(float(np.max(np.abs(p.numpy() - q.numpy()))) for p, q in zip(a.parameters(), b.parameters()))


def report(case, value, **extra):
    values = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    if dist.get_rank() == 0:
        print("RESULT " + json.dumps({"case": case, "world": dist.get_world_size(), "value": values, **extra}),
              flush=True)


def case_equivalence(rank, world):
    for kind in ("sgd", "adam"):
        single = train(model(), kind, 30, 0, 1)
        for label, cap, first in (("bucketed", 0.0005, 0.0002), ("one_bucket", 1000, 1000)):
            ddp = DDP(model(), bucket_cap_mb=cap, first_bucket_mb=first)
            train(ddp, kind, 30, rank, world)
            report(f"{kind}_{label}", max_delta(single, ddp.module), buckets=ddp.bucket_sizes)
            if label == "bucketed":
                bucketed = ddp.module
            else:
                report(f"{kind}_bucketed_vs_one", max_delta(bucketed, ddp.module))


def case_checkpoint(rank, world):
    """Post-accumulate hooks still fire for parameters inside checkpointed segments."""
    single = train(model(), "sgd", 5, 0, 1)
    ddp = DDP(model(checkpoint=2), bucket_cap_mb=0.0005, first_bucket_mb=0.0002)
    train(ddp, "sgd", 5, rank, world)
    report("checkpoint_sgd", max_delta(single, ddp.module))


def case_no_sync(rank, world):
    """Two micro-batches under no_sync and one outside equal one batch three times as large."""
    X, y = data()
    big = 3 * GLOBAL_BATCH
    loss_fn = nn.CrossEntropyLoss()
    single = model()
    loss_fn(single(cugrad.tensor(X[:big])), cugrad.tensor(y[:big])).backward()
    ddp = DDP(model(), bucket_cap_mb=0.0005, first_bucket_mb=0.0002)
    for m in range(3):
        lo = m * GLOBAL_BATCH + GLOBAL_BATCH * rank // world
        hi = m * GLOBAL_BATCH + GLOBAL_BATCH * (rank + 1) // world
        loss = loss_fn(ddp(cugrad.tensor(X[lo:hi])), cugrad.tensor(y[lo:hi])) * (1 / 3)
        if m < 2:
            with ddp.no_sync():
                loss.backward()
        else:
            loss.backward()
    delta = max(float(np.max(np.abs(p.grad.numpy() - q.grad.numpy())))
                for p, q in zip(single.parameters(), ddp.module.parameters()))
    report("no_sync", delta)


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 4, dtype="float64")
        self.unused_head = nn.Linear(4, 2, dtype="float64")

    def forward(self, x):
        return self.body(x)


def case_unused(rank, world):
    x = cugrad.tensor(np.ones((2, 4)))
    ddp = DDP(TwoHeads())
    try:
        ddp(x).sum().backward()
        message = None
    except RuntimeError as exc:
        message = str(exc)
    ddp = DDP(TwoHeads(), find_unused_parameters=True)
    ddp(x).sum().backward()
    zero = float(np.max(np.abs(ddp.module.unused_head.weight.grad.numpy())))
    report("unused", {"message": message, "zero_filled_max": zero,
                      "body_grad": ddp.module.body.weight.grad.numpy().sum().item()})


def case_mismatch(rank, world):
    cugrad.manual_seed(rank)
    net = nn.MLP([4, 8 + (rank == world - 1), 2], dtype="float64")
    try:
        DDP(net)
        message = None
    except ValueError as exc:
        message = str(exc)
    report("mismatch", message)


def case_sync_and_rng(rank, world):
    """Different initial weights become rank 0's; the random streams then differ per rank."""
    cugrad.manual_seed(100 + rank)
    net = nn.MLP([4, 8, 2], dtype="float64")
    ref = net.layers[0].weight.numpy().copy() if hasattr(net, "layers") else None
    DDP(net)
    weights = [p.numpy().tolist() for p in net.parameters()]
    draw = cugrad.rand(3, dtype="float64").numpy().tolist()
    report("sync_rng", {"weights": weights, "draw": draw, "ref": ref is not None})


def case_collectives(rank, world):
    """Values other than float64 gradients: narrow floats summed in float32, ints, 0-d, empty,
    non-contiguous views, broadcast of raw bytes; avg of ints refused by name."""
    out = {}
    for name in ("float16", "bfloat16", "float32", "int64", "int32"):
        dtype = cugrad.backend.resolve_dtype(name)
        t = cugrad.tensor((np.arange(5) + rank).astype(dtype))
        dist.all_reduce(t)
        out[name] = [t.dtype.name, t.numpy().astype(np.float64).tolist()]
    zero_d = np.array(float(rank))
    dist.all_reduce(zero_d, "avg")
    empty = np.zeros((0, 3))
    dist.all_reduce(empty)
    base = np.arange(12.0).reshape(3, 4) * (rank + 1)
    view = base[:, 1::2]
    dist.all_reduce(view)
    flags = np.array([rank == 0, rank == 1, True])
    dist.broadcast(flags, src=0)
    try:
        dist.all_reduce(np.ones(2, np.int64), "avg")
        avg_int = None
    except TypeError as exc:
        avg_int = str(exc)
    out.update(zero_d=zero_d.item(), empty=list(empty.shape), view=base.tolist(), flags=flags.tolist(),
               avg_int=avg_int)
    report("collectives", out)


def fail():
    """Rank 1 raises mid-epoch while the others wait in a collective: the job must end."""
    dist.init_process_group()
    if dist.get_rank() == 1:
        time.sleep(0.5)
        raise ValueError("rank 1 broke on purpose")
    buf = np.zeros(1)
    for _ in range(10 ** 6):
        dist.all_reduce(buf)


def main():
    if sys.argv[1:] == ["fail"]:
        fail()
        return
    nccl_error = None
    if not cugrad.cuda.is_available():   # every rank must refuse alike, before any id exchange
        try:
            dist.init_process_group("nccl")
        except RuntimeError as exc:
            nccl_error = str(exc)
    dist.init_process_group()
    rank, world = dist.get_rank(), dist.get_world_size()
    report("nccl_without_gpu", nccl_error)
    for case in (case_collectives, case_equivalence, case_checkpoint, case_no_sync, case_unused, case_mismatch, case_sync_and_rng):
        case(rank, world)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
