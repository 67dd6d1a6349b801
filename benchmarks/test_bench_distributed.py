"""Data parallelism: one DDP training step and the gradient all-reduce alone, on as many ranks as
this pytest runs in.

CPU: the 784 → 1024 → 1024 → 10 MLP at a fixed *global* batch (strong scaling):

    OPENBLAS_NUM_THREADS=2 PYTHONPATH=src python -m pytest benchmarks/test_bench_distributed.py -m "not gpu"
    OPENBLAS_NUM_THREADS=1 PYTHONPATH=src mpiexec -n 2 python -m pytest benchmarks/test_bench_distributed.py -m "not gpu"

GPU (``gpu`` marker, one GPU per rank, NCCL): the headline MLP at TF32 with 8192 samples per GPU
(weak scaling, as benchmarks/allreduce_model.py predicts it); gpu_check.sh runs it on 1 and on all
visible GPUs and compares the two with the model.

Rounds are fixed (``benchmark.pedantic``), so every rank runs the same collectives the same number
of times: pytest-benchmark's own calibration could pick different counts per rank and hang. Each
rank reports its own table; rank 0's is the one to read (extra_info holds rank and world).
"""
from __future__ import annotations

import numpy as np
import pytest

import cugrad
import cugrad.distributed as dist
from cugrad import nn, optim
from cugrad.nn.parallel import DistributedDataParallel

from harness import full_size
from workloads import CPU_MLP, HEADLINE, HEADLINE_BATCH, ours_precision

GLOBAL_BATCH = 1024
ROUNDS, WARMUP = 10, 2


def _joined(backend):
    pytest.importorskip("mpi4py")
    owned = not dist.is_initialized()
    if owned:
        dist.init_process_group(backend)
    yield dist.get_rank(), dist.get_world_size()
    if owned:
        dist.destroy_process_group()


@pytest.fixture
def group():
    """The CPU cases' process group: MPI (NCCL would only be set up and left unused)."""
    yield from _joined("mpi")


@pytest.fixture
def gpu_group():
    """The GPU cases' process group: "auto" (NCCL for GPU tensors) on a real GPU; MPI, staging GPU
    arrays through the host, on the CuPy stand-in, which has no NCCL communicator."""
    yield from _joined("auto" if full_size("cuda") else "mpi")


def _run(benchmark, fn, **info):
    benchmark.extra_info.update(rank=dist.get_rank(), world=dist.get_world_size(), **info)
    benchmark.group = f"{info['case']} [world {dist.get_world_size()}]"
    if benchmark.disabled:
        benchmark(fn)
    else:
        benchmark.pedantic(fn, rounds=ROUNDS, iterations=1, warmup_rounds=WARMUP)


def test_ddp_mlp_step(benchmark, group, small):
    rank, world = group
    batch = (128 if small else GLOBAL_BATCH)
    if batch % world:
        pytest.skip(f"global batch {batch} does not split over {world} ranks")
    local = batch // world
    rng = np.random.default_rng(rank)
    x = cugrad.tensor(rng.standard_normal((local, CPU_MLP[0]), dtype=np.float32))
    y = cugrad.tensor(rng.integers(0, CPU_MLP[-1], local))
    cugrad.manual_seed(0)
    model = DistributedDataParallel(nn.MLP(CPU_MLP))
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    assert np.isfinite(step().item())
    _run(benchmark, step, case="ddp_mlp_step", global_batch=batch, local_batch=local,
         buckets=model.bucket_sizes)


def test_all_reduce_alone(benchmark, group):
    """The average all-reduce of the MLP's gradient size in float32, one message (7.5 MB)."""
    count = sum(a * b + b for a, b in zip(CPU_MLP[:-1], CPU_MLP[1:]))
    grads = np.ones(count, np.float32)
    _run(benchmark, lambda: dist.all_reduce(grads, "avg"), case="all_reduce", bytes=grads.nbytes)
    assert grads[0] == 1.0


@pytest.mark.gpu
def test_ddp_headline_step_gpu(benchmark, gpu_group, cuda):
    device = f"cuda:{dist.get_local_rank()}"
    sizes, batch = (HEADLINE, HEADLINE_BATCH) if full_size("cuda") else (CPU_MLP, 128)   # small on the stand-in
    with cuda.cuda.Device(dist.get_local_rank()), ours_precision("tf32"):
        rng = np.random.default_rng(dist.get_rank())
        x = cugrad.tensor(rng.standard_normal((batch, sizes[0]), dtype=np.float32), device=device)
        y = cugrad.tensor(rng.integers(0, sizes[-1], batch), device=device)
        cugrad.manual_seed(0)
        model = DistributedDataParallel(nn.MLP(sizes, device=device))
        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()
        sync = cuda.cuda.get_current_stream().synchronize

        def step():
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            sync()
            return loss

        assert np.isfinite(step().item())
        _run(benchmark, step, case="ddp_headline_step_tf32", local_batch=batch, buckets=model.bucket_sizes)


@pytest.mark.gpu
def test_all_reduce_alone_gpu(benchmark, gpu_group, cuda):
    """The headline MLP's 218 MB of fp32 gradients in one NCCL all-reduce."""
    count = sum(a * b + b for a, b in zip(HEADLINE[:-1], HEADLINE[1:]))
    with cuda.cuda.Device(dist.get_local_rank()):
        grads = cuda.ones(count, np.float32)
        sync = cuda.cuda.get_current_stream().synchronize
        _run(benchmark, lambda: (dist.all_reduce(grads, "avg"), sync()), case="all_reduce_gpu", bytes=grads.nbytes)
