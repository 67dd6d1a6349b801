"""cugrad.distributed and DistributedDataParallel.

Multi-process cases run ranks under ``mpiexec`` (the one next to this Python first: the ``dist``
extra's MPICH wheel puts it there) with OPENBLAS_NUM_THREADS=1 and a timeout; without mpiexec they
skip, or fail when CI is set. Each launch runs every case of tests/distributed_worker.py, so a
world size costs one start-up.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import cugrad
import cugrad.distributed as dist
from cugrad import autograd, nn
from cugrad.distributed import launch, rendezvous

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"


def mpiexec():
    found = Path(sys.executable).with_name("mpiexec")
    path = str(found) if found.exists() else shutil.which("mpiexec")
    if path is None:
        message = "mpiexec not found: pip install 'cugrad[dist]'"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set)")
        pytest.skip(message)
    return path


def run_ranks(n, *args, timeout=120):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               # an Open MPI mpiexec refuses root without these (MPICH's ignores them)
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    start = time.monotonic()
    proc = subprocess.run([mpiexec(), "-n", str(n), sys.executable, *args], env=env, capture_output=True,
                          text=True, timeout=timeout)
    return proc, time.monotonic() - start


@pytest.fixture(scope="module", params=[2, 3, 4])
def results(request):
    proc, _ = run_ranks(request.param, str(HERE / "distributed_worker.py"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = {}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            item = json.loads(line[len("RESULT "):])
            found[item["case"]] = item
    assert found, proc.stdout + proc.stderr
    return request.param, found


@pytest.mark.parametrize("case", ["sgd_bucketed", "sgd_one_bucket", "adam_bucketed", "adam_one_bucket",
                                  "sgd_bucketed_vs_one", "adam_bucketed_vs_one", "checkpoint_sgd", "no_sync"])
def test_ddp_matches_one_process(results, case):
    """30 float64 steps on W ranks end with one process's weights (every rank checked)."""
    world, found = results
    values = found[case]["value"]
    assert len(values) == world
    assert max(values) <= 1e-12, found[case]


def test_ddp_buckets_are_reverse_order_and_capped(results):
    world, found = results
    assert found["sgd_bucketed"]["buckets"] == [1, 2, 1, 1, 1]   # last bias (3 values) + weight, ...
    assert found["sgd_one_bucket"]["buckets"] == [6]


def test_unused_parameters(results):
    world, found = results
    for rank, item in enumerate(found["unused"]["value"]):
        assert item["message"].startswith("DistributedDataParallel: parameter(s) unused_head.weight, "
                                          f"unused_head.bias got no gradient in this backward on rank {rank}")
        assert item["zero_filled_max"] == 0.0
        assert item["body_grad"] == 32.0   # d(sum(W x + b))/dW summed: 2 rows of ones, 4 outputs each


def test_mismatched_models_refused_by_name(results):
    world, found = results
    last = world - 1
    expected = (f"DistributedDataParallel: rank {last}'s model differs from rank 0's at parameter 0: rank 0 has "
                f"'0.weight' float64 (8, 4), rank {last} has '0.weight' float64 (9, 4)")
    assert found["mismatch"]["value"] == [expected] * world


def test_weights_synchronised_then_rng_forked(results):
    world, found = results
    items = found["sync_rng"]["value"]
    assert all(item["weights"] == items[0]["weights"] for item in items)
    draws = [tuple(item["draw"]) for item in items]
    assert len(set(draws)) == world


@pytest.mark.skipif(cugrad.cuda.is_available(), reason="checks the error where no GPU is visible")
def test_nccl_without_a_gpu_refused_on_every_rank(results):
    world, found = results
    messages = found["nccl_without_gpu"]["value"]
    assert len(messages) == world
    assert all(m.startswith("init_process_group: backend 'nccl' needs a visible GPU") for m in messages)


def test_collectives_values(results):
    world, found = results
    item = found["collectives"]["value"][0]
    total = sum(np.arange(5) + r for r in range(world)).astype(float).tolist()
    for name in ("float16", "bfloat16", "float32", "int64", "int32"):
        assert item[name] == [name, total]
    assert item["zero_d"] == sum(range(world)) / world
    assert item["empty"] == [0, 3]
    base = np.arange(12.0).reshape(3, 4)
    expected = base.copy()
    expected[:, 1::2] *= sum(r + 1 for r in range(world))
    assert item["view"] == expected.tolist()
    assert item["flags"] == [True, False, True]
    assert item["avg_int"] == "cugrad.distributed.all_reduce: op='avg' needs a floating dtype, got int64"


def test_a_failing_rank_ends_the_job():
    proc, seconds = run_ranks(2, str(HERE / "distributed_worker.py"), "fail", timeout=60)
    assert proc.returncode != 0
    assert seconds < 30
    assert "cugrad: rank 1 failed (ValueError: rank 1 broke on purpose); ending all 2 ranks" in proc.stderr


# ---------------------------------------------------------------- launcher environments


@pytest.mark.parametrize("env, expected", [
    ({}, (0, 1, 0, "none", False)),
    ({"OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "8", "OMPI_COMM_WORLD_LOCAL_RANK": "1"},
     (3, 8, 1, "Open MPI", True)),
    ({"PMI_RANK": "2", "PMI_SIZE": "4", "MPI_LOCALRANKID": "0"}, (2, 4, 0, "PMI", True)),
    ({"SLURM_PROCID": "5", "SLURM_STEP_NUM_TASKS": "6", "SLURM_LOCALID": "1"}, (5, 6, 1, "Slurm", True)),
    ({"SLURM_PROCID": "0", "SLURM_NTASKS": "6"}, (0, 1, 0, "none", False)),   # sbatch script, no step
    ({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}, (1, 2, 1, "RANK/WORLD_SIZE", False)),
    ({"RANK": "1", "WORLD_SIZE": "2"}, (1, 2, 1, "RANK/WORLD_SIZE", False)),
])
def test_launch_from_environment(env, expected):
    got = launch.from_environment(env)
    assert (got.rank, got.world_size, got.local_rank, got.launcher, got.mpi) == expected


@pytest.mark.parametrize("env, message", [
    ({"RANK": "2", "WORLD_SIZE": "2"}, "RANK/WORLD_SIZE says rank 2 of 2 (RANK, WORLD_SIZE): not a valid rank"),
    ({"PMI_RANK": "x", "PMI_SIZE": "2"}, "PMI_RANK='x' is not an integer"),
])
def test_launch_environment_errors(env, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        launch.from_environment(env)


# ---------------------------------------------------------------- one process


def test_single_process_group_and_errors():
    assert (dist.get_rank(), dist.get_world_size(), dist.get_local_rank()) == (0, 1, 0)
    with pytest.raises(RuntimeError, match=r"cugrad.distributed.barrier: call init_process_group\(\) first"):
        dist.barrier()
    with pytest.raises(ValueError, match="unknown backend 'gloo'"):
        dist.init_process_group("gloo")
    pytest.importorskip("mpi4py")
    dist.init_process_group("mpi")
    try:
        assert dist.is_initialized() and dist.get_backend() == "mpi"
        t = cugrad.tensor([1.0, 2.0], dtype="float64")
        dist.all_reduce(t, "avg")
        assert t.numpy().tolist() == [1.0, 2.0]
        with pytest.raises(ValueError, match="op must be 'sum' or 'avg', got 'max'"):
            dist.all_reduce(t, "max")
        with pytest.raises(ValueError, match="src=1 is not a rank of 1"):
            dist.broadcast(t, 1)
        with pytest.raises(TypeError, match="expected a Tensor or an array, got list"):
            dist.all_reduce([1.0])
        with pytest.raises(RuntimeError, match="already initialized"):
            dist.init_process_group()
    finally:
        dist.destroy_process_group()
    assert not dist.is_initialized()


def test_ddp_needs_a_process_group():
    with pytest.raises(RuntimeError, match=r"DistributedDataParallel: call cugrad.distributed.init_process_group\(\) first"):
        nn.parallel.DistributedDataParallel(nn.Linear(2, 2))


# ---------------------------------------------------------------- NCCL without a GPU


@pytest.mark.cuda_libs("nccl")
def test_nccl_library_version_and_unique_id():
    nccl = dist.nccl.load_nccl()
    major, minor, patch = dist.nccl.version()
    assert (major, minor) >= (2, 10)   # ncclAvg and bfloat16
    assert nccl.get_version() == major * 10000 + minor * 100 + patch
    a, b = dist.nccl.unique_id(), dist.nccl.unique_id()
    assert isinstance(a, bytes) and len(a) == 128 and a != b


@pytest.fixture
def cupy_without_nccl(monkeypatch):
    """CuPy as it is where libnccl does not load: cupy/cuda/nccl.py (CuPy 14.2) then holds only
    ``available = False``."""
    import types

    cp = cugrad.backend.cupy()
    unavailable = types.ModuleType("cupy.cuda.nccl")
    unavailable.available = False
    monkeypatch.setattr(cp.cuda, "nccl", unavailable, raising=False)
    monkeypatch.setitem(sys.modules, "cupy.cuda.nccl", unavailable)


@pytest.mark.gpu
def test_nccl_missing_is_a_clear_error_where_a_gpu_is_visible(cupy_without_nccl, capsys):
    """Backend 'nccl' (and what else asks for NCCL) names the wheel to install; `cugrad info` says so."""
    from cugrad.cli import main

    wanted = r"backend 'nccl' needs the NCCL library, which CuPy could not load: pip install nvidia-nccl-cu12"
    with pytest.raises(ImportError, match=wanted):
        dist.init_process_group("nccl")
    assert not dist.is_initialized()
    for call in (dist.nccl.version, dist.nccl.unique_id):
        with pytest.raises(ImportError, match=wanted):
            call()
    assert main(["info"]) == 0
    assert "; no NCCL" in capsys.readouterr().out


@pytest.mark.skipif(cugrad.cuda.is_available(), reason="checks the error where no GPU is visible")
def test_nccl_without_a_gpu_is_a_clear_error():
    with pytest.raises(RuntimeError, match="init_process_group: backend 'nccl' needs a visible GPU"):
        dist.init_process_group("nccl")
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match="backend 'nccl' needs a visible GPU"):
        dist.nccl.NCCLBackend(0, 1, 0, b"\0" * 128)


def test_nccl_dtype_table_refuses_by_name():
    with pytest.raises(TypeError, match="all_reduce: NCCL has no type for complex64"):
        dist.nccl.nccl_dtype(object(), np.complex64, "all_reduce")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_rendezvous_hands_rank0_blob_to_every_rank():
    port, blob, world = _free_port(), bytes(range(128)), 4
    got = [None] * world

    def rank(r):
        got[r] = rendezvous.exchange(blob if r == 0 else None, r, world, "127.0.0.1", port, timeout=20)

    threads = [threading.Thread(target=rank, args=(r,)) for r in (3, 1, 0, 2)]   # clients may come first
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert got == [blob] * world


def test_rendezvous_times_out_clearly():
    with pytest.raises(TimeoutError, match=r"rank 1 found no rendezvous at 127.0.0.1:\d+ within 0 s"):
        rendezvous.exchange(None, 1, 2, "127.0.0.1", _free_port(), timeout=0.3)


@pytest.mark.gpu
@pytest.mark.gpu_hardware("NCCL collectives run on a real GPU: the CuPy stand-in has no NCCL communicator")
def test_nccl_world_of_one_on_a_gpu(monkeypatch):
    """World size 1 smoke test on the first GPU (torchrun-style environment, no MPI)."""
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    dist.init_process_group("nccl")
    try:
        for dtype in ("float32", "float64", "float16", "bfloat16"):
            t = cugrad.tensor([1.0, 2.0, 3.0], dtype=dtype, device="cuda:0")
            dist.all_reduce(t, "avg")
            dist.broadcast(t, 0)
            out = [cugrad.zeros(3, dtype=dtype, device="cuda:0")]
            dist.all_gather(out, t)
            assert out[0].numpy().astype(float).tolist() == [1.0, 2.0, 3.0]
        dist.barrier()
    finally:
        dist.destroy_process_group()


# ---------------------------------------------------------------- engine hooks


def _leaf(values):
    return cugrad.tensor(np.asarray(values, np.float64), requires_grad=True)


def test_post_accumulate_hook_fires_once_with_the_complete_gradient():
    a, b = _leaf([1.0, 2.0]), _leaf([3.0, 4.0])
    seen = []
    a.register_post_accumulate_grad_hook(lambda t: seen.append(("a", t.grad.numpy().tolist())))
    handle = b.register_post_accumulate_grad_hook(lambda t: seen.append(("b", t.grad.numpy().tolist())))
    ((a * b).sum() + (a * a).sum() + cugrad.checkpoint(lambda x: (x * b).sum(), a)).backward()
    # a: b + 2a + b = [8, 12]; b: a + a = [2, 4]; each hook once, after its last contribution
    assert sorted(seen) == [("a", [8.0, 12.0]), ("b", [2.0, 4.0])]
    handle.remove()
    seen.clear()
    (a * b).sum().backward()
    assert seen == [("a", [11.0, 16.0])]   # accumulated into .grad, b's hook removed


def test_post_accumulate_hook_on_a_root_leaf_and_an_unreached_leaf():
    a, unused = _leaf([1.0]), _leaf([2.0])
    seen = []
    for t in (a, unused):
        t.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.numpy().tolist()))
    a.backward(cugrad.tensor([5.0], dtype="float64"))
    assert seen == [[5.0]]
    seen.clear()
    y = a * 2 + unused.detach()
    y.backward(cugrad.tensor([1.0], dtype="float64"))
    assert seen == [[7.0]]


def test_post_accumulate_hook_not_fired_by_grad():
    a = _leaf([1.0, 2.0])
    seen = []
    a.register_post_accumulate_grad_hook(seen.append)
    (g,) = cugrad.grad((a * a).sum(), a)
    assert g.numpy().tolist() == [2.0, 4.0] and seen == [] and a.grad is None


def test_hook_registration_errors():
    x = _leaf([1.0])
    with pytest.raises(RuntimeError, match=r"only leaf tensors that require grad accumulate a gradient \(this one of shape \(1,\) is not a leaf\)"):
        (x * 2).register_post_accumulate_grad_hook(print)
    with pytest.raises(RuntimeError, match="is not requiring grad"):
        cugrad.tensor([1.0]).register_post_accumulate_grad_hook(print)
    with pytest.raises(TypeError, match="the hook must be callable, got int"):
        x.register_post_accumulate_grad_hook(3)
    with pytest.raises(RuntimeError, match=r"queue_callback: no backward is running \(call it from a hook\)"):
        autograd.queue_callback(print)


def test_queued_callback_runs_once_after_the_outermost_backward():
    a, b = _leaf([1.0]), _leaf([2.0])
    events = []

    def hook(t):
        events.append(("hook", None if b.grad is None else b.grad.numpy().tolist()))
        autograd.queue_callback(lambda: events.append(("end", b.grad.numpy().tolist())))

    a.register_post_accumulate_grad_hook(hook)
    cugrad.checkpoint(lambda x, y: x * y, a, b).sum().backward()
    assert [e[0] for e in events] == ["hook", "end"] and events[-1] == ("end", [1.0])


# ---------------------------------------------------------------- sharded DataLoader


@pytest.mark.parametrize("n, batch, world, drop_last", [(50, 12, 2, False), (50, 12, 3, False), (50, 12, 4, False),
                                                        (50, 12, 4, True), (49, 12, 3, False), (10, 4, 4, False)])
def test_shards_cover_each_global_batch_once(n, batch, world, drop_last):
    data = np.arange(n)
    one = cugrad.DataLoader(data, batch, seed=3, drop_last=drop_last, as_tensors=False)
    ranks = [cugrad.DataLoader(data, batch, seed=3, drop_last=drop_last, as_tensors=False, rank=r, world_size=world)
             for r in range(world)]
    assert len({len(r) for r in ranks}) == 1
    for epoch in range(2):   # the permutation moves on by itself: no set_epoch to forget
        whole = list(one)
        shards = [list(r) for r in ranks]
        kept = [b for b in whole if len(b) >= world]   # a last batch smaller than the world is dropped
        assert len(shards[0]) == len(kept)
        for i, b in enumerate(kept):
            parts = [shards[r][i] for r in range(world)]
            assert np.concatenate(parts).tolist() == b.tolist()
            assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert ranks[0].epoch == 2


def test_sharded_loader_errors():
    with pytest.raises(ValueError, match="the global batch size 10 is not divisible by the world size 4"):
        cugrad.DataLoader(np.arange(8), 10, seed=0, rank=0, world_size=4)
    with pytest.raises(ValueError, match=r"rank must be in \[0, 2\), got 2"):
        cugrad.DataLoader(np.arange(8), 4, seed=0, rank=2, world_size=2)
    with pytest.raises(ValueError, match="pass the same seed on every rank"):
        cugrad.DataLoader(np.arange(8), 4, rank=0, world_size=2)


def test_fork_for_rank_is_reproducible_and_distinct():
    draws = []
    for rank in (0, 1, 0):
        cugrad.manual_seed(7)
        cugrad.random.fork_for_rank(rank)
        draws.append(cugrad.rand(4, dtype="float64").numpy().tolist())
    assert draws[0] == draws[2] and draws[0] != draws[1]


def test_ddp_hooks_keep_neither_wrapper_nor_parameters_alive():
    import gc
    import weakref

    pytest.importorskip("mpi4py")
    dist.init_process_group("mpi")
    try:
        model = nn.Linear(3, 2, dtype="float64")
        ddp = nn.parallel.DistributedDataParallel(model)
        ddp(cugrad.ones((2, 3), dtype="float64")).sum().backward()
        assert model.weight.grad.numpy().tolist() == [[2.0] * 3] * 2   # averaged over one rank
        wrapper, weight = weakref.ref(ddp), weakref.ref(model.weight)
        del ddp
        gc.collect()
        assert wrapper() is None
        del model
        gc.collect()
        assert weight() is None
    finally:
        dist.destroy_process_group()


def test_post_accumulate_hook_fires_during_backward_not_after():
    """The last layer's weight is complete before the first layer's gradient exists: its hook runs
    then (so a bucket can start while backward goes on)."""
    x = cugrad.tensor(np.ones((2, 3)))
    w1, w2 = _leaf(np.full((3, 4), 0.5)), _leaf(np.full((4, 1), 2.0))
    seen = []
    w2.register_post_accumulate_grad_hook(lambda t: seen.append(w1.grad is None))
    ((x @ w1).tanh() @ w2).sum().backward()
    assert seen == [True]


class _NoGradForFirst(cugrad.Function):
    """y = a + b; gives no gradient to a (None), g to b."""

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, g):
        return None, g


def test_post_accumulate_hook_when_an_edge_delivers_nothing():
    a = _leaf([1.0, 2.0])
    seen = []
    a.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.numpy().tolist()))
    (_NoGradForFirst.apply(a, a * 3) + a).sum().backward()   # edges into a: None, 3, 1
    assert seen == [[4.0, 4.0]]
