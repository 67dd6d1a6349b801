"""Engine overhead per op: forward + backward of a chain of N elementwise ops (mul, add, tanh in
turn) on 1-element tensors, cugrad CPU against PyTorch CPU in the same run. The arrays are so
small that the time is the engine's: building a node, dispatch, the backward sweep.

Both share the group "engine-per-op" (PyTorch first, the baseline): benchmarks/conftest.py prints
cugrad's median over PyTorch's at the end of the session (target: <= 0.5x); ``extra_info`` holds
µs per op (median / N). Run:

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=src python -m pytest benchmarks/test_bench_engine_overhead.py \
        --benchmark-min-rounds=200
"""
from __future__ import annotations

import numpy as np
import pytest

import cugrad

from harness import import_torch, record_median

N = 60
GROUP = "engine-per-op"


def chain(x, a, b, tanh):
    """N ops: y·a, y + b, tanh(y), repeated."""
    y = x
    for i in range(N):
        y = y * a if i % 3 == 0 else y + b if i % 3 == 1 else tanh(y)
    return y


def _record(benchmark, label):
    stats = getattr(benchmark, "stats", None)
    if stats is not None and not getattr(benchmark, "disabled", False):
        benchmark.extra_info["us_per_op"] = stats.stats.median / N * 1e6
    record_median(benchmark, label)


@pytest.mark.benchmark(group=GROUP)
def test_per_op_torch_cpu(benchmark):
    torch = import_torch()
    x = torch.tensor([0.3], requires_grad=True)
    a, b = torch.tensor([1.01]), torch.tensor([0.02])

    def step():
        x.grad = None
        y = chain(x, a, b, torch.tanh)
        y.backward(torch.ones(1))
        return x.grad

    grad = benchmark(step)
    assert torch.isfinite(grad).all()
    _record(benchmark, "PyTorch CPU")


@pytest.mark.benchmark(group=GROUP)
def test_per_op_cugrad_cpu(benchmark):
    x = cugrad.tensor([0.3], requires_grad=True)
    a, b = cugrad.tensor([1.01]), cugrad.tensor([0.02])
    ones = cugrad.tensor([1.0])

    def step():
        x.grad = None
        y = chain(x, a, b, cugrad.ops.tanh)
        y.backward(ones)
        return x.grad

    grad = benchmark(step)
    assert np.isfinite(grad.numpy()).all()
    _record(benchmark, "cugrad CPU")
