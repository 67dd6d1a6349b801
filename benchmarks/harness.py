"""What the benchmark cases share (imported by name, never through ``conftest``, so that
``pytest tests benchmarks`` in either order finds it): device parameters, the PyTorch twin's
import and device, synchronization, and ``timeit`` — pytest-benchmark with the device synchronized
inside the timed call.
"""
from __future__ import annotations

import os
import sys

import pytest

WARMUP = int(os.environ.get("CUGRAD_BENCH_WARMUP", "2"))


# --------------------------------------------------------------------------- devices

def full_size(device) -> bool:
    """True for a GPU case on a real GPU: its sizes are the point of the run. On the CPU and on
    the CuPy stand-in (tests/fakegpu) cases take their small sizes."""
    return device == "cuda" and not getattr(sys.modules.get("cupy"), "_cugrad_stand_in", False)


def gpu_available() -> bool:
    from cugrad import backend
    return backend.is_cuda_available()


def device_params():
    """``["cpu", "cuda"]`` for parametrize(..., indirect=True), the cuda one marked ``gpu``."""
    return ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def import_torch():
    try:
        import torch
    except Exception as exc:  # ImportError, or a broken install
        pytest.skip(f"PyTorch twin skipped: torch does not import ({type(exc).__name__}: {exc})")
    return torch


def torch_device(dev: str):
    """torch and its device for ``dev`` ("cpu"/"cuda"); skips when torch or torch's CUDA is missing."""
    torch = import_torch()
    if dev == "cuda" and not torch.cuda.is_available():
        pytest.skip("PyTorch twin skipped: torch has no CUDA device")
    return torch, torch.device(dev)


# --------------------------------------------------------------------------- synchronization and timing

def ours_sync(dev: str):
    """A callable that waits for cugrad's queued GPU work (a no-op on the CPU)."""
    if dev == "cpu":
        return lambda: None
    from cugrad import backend
    cp = backend.cupy()
    return cp.cuda.get_current_stream().synchronize


def torch_sync(dev: str):
    if dev == "cpu":
        return lambda: None
    import torch
    return torch.cuda.synchronize


def timeit(benchmark, fn, sync, *, warmup: int | None = None, **info):
    """Benchmark ``fn`` with the device synchronized inside the timed call, after ``warmup`` untimed
    calls (kernel compilation, cuBLAS heuristics, allocator pools). ``info`` goes to extra_info;
    when ``bytes`` is given, ``gbps`` is filled in from the median after the run."""
    warmup = WARMUP if warmup is None else warmup
    if benchmark.disabled:
        warmup = 0

    def timed():
        out = fn()
        sync()
        return out

    for _ in range(warmup):
        timed()
    benchmark.extra_info.update(info)
    if "case" in info:
        benchmark.group = f"{info['case']} [{info.get('device', '?')}]"
    result = benchmark(timed)
    median = median_s(benchmark)
    if median and info.get("bytes"):
        benchmark.extra_info["gbps"] = round(info["bytes"] / median / 1e9, 2)
    return result


def median_s(benchmark):
    """The median of the run just made, or None under --benchmark-disable."""
    stats = getattr(benchmark, "stats", None)
    if stats is None or getattr(benchmark, "disabled", False):
        return None
    return stats.stats.median


# --------------------------------------------------------------------------- ratios within a group
# (written by the issue-2 benchmark, test_bench_seed_net.py; conftest prints them at the end)

MEDIANS: dict[str, dict[str, float]] = {}


def record_median(benchmark, label: str) -> None:
    """Remember ``benchmark``'s median under its group (nothing when benchmarks are disabled)."""
    stats = getattr(benchmark, "stats", None)
    if stats is None or getattr(benchmark, "disabled", False):
        return
    group = benchmark.group or "default"
    median = stats.stats.median
    baseline = next(iter(MEDIANS.get(group, {}).values()), None)
    MEDIANS.setdefault(group, {})[label] = median
    if baseline:
        benchmark.extra_info["ratio_to_first_in_group"] = median / baseline
