"""Fixtures of the benchmark suite (pytest-benchmark).

- Runs from a source checkout: ``src/`` is put on sys.path when cugrad is not importable.
- Devices: ``"cpu"`` always; ``"cuda"`` cases carry the ``gpu`` marker and skip when no GPU is visible.
- PyTorch twins skip when torch does not import (or has no CUDA for a GPU case).
- A GPU timing synchronizes the device *inside* the timed function (see ``timeit``).
- ``--benchmark-disable`` (CI) or ``CUGRAD_BENCH_SMALL=1`` shrinks the CPU sizes so the whole suite
  runs each case once in seconds; the GPU sizes never shrink (they are the point of the GPU run).

Every case timed through ``timeit`` records in ``benchmark.extra_info``: ``case`` (what is
compared), ``impl`` (``cugrad``, ``torch``, ``numpy``, ``gemm``, ``torch-gemm``, ``copy``),
``device``, and where it applies ``bytes`` (bytes a kernel must move; report.py turns it into
GB/s), ``gbps``, ``pct_of_copy``, ``peak_bytes``. ``record_median`` (used by
test_bench_seed_net.py) prints ratios of medians within a group at the end of the session.
"""
from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
try:
    import cugrad  # noqa: F401
except ImportError:
    sys.path.insert(0, str(ROOT / "src"))
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

WARMUP = int(os.environ.get("CUGRAD_BENCH_WARMUP", "2"))


def pytest_configure(config):
    # the suite is normally run as `pytest benchmarks`, where pyproject's --strict-markers applies
    config.addinivalue_line("markers", "gpu: needs a visible CUDA GPU (skipped only when none is visible)")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    config.addinivalue_line("markers", "memory: measures peak memory; runs last (installs a tracking allocator)")


def pytest_collection_modifyitems(config, items):
    """Memory cases last: cugrad.cuda.track_memory() routes every later CuPy allocation through a
    Python callback, which would slow the launch-bound cases that follow it."""
    items.sort(key=lambda item: item.get_closest_marker("memory") is not None)


def pytest_benchmark_update_machine_info(config, machine_info):
    """Versions and the GPU into the JSON's machine_info (report.py prints them)."""
    import numpy
    versions = {"numpy": numpy.__version__}
    try:
        import cugrad
        versions["cugrad"] = cugrad.__version__
        from cugrad import backend
        cp = backend.cupy()
        if cp is not None:
            versions["cupy"] = cp.__version__
            versions["cuda_runtime"] = cp.cuda.runtime.runtimeGetVersion()
            machine_info["gpu"] = cugrad.cuda.get_device_name()
        else:
            machine_info["gpu"] = f"none ({backend.cuda_unavailable_reason()})"
    except Exception as exc:  # never lose a run over its metadata
        versions["error"] = repr(exc)
    try:
        import torch
        versions["torch"] = torch.__version__
    except Exception:
        versions["torch"] = None
    machine_info["versions"] = versions


# --------------------------------------------------------------------------- sizes

@pytest.fixture(scope="session")
def small(request) -> bool:
    """True when benchmarks run once for correctness only (CI): CPU sizes shrink."""
    disabled = bool(request.config.getoption("benchmark_disable", default=False))
    return disabled or os.environ.get("CUGRAD_BENCH_SMALL", "") not in ("", "0")


# --------------------------------------------------------------------------- devices

def gpu_available() -> bool:
    from cugrad import backend
    return backend.is_cuda_available()


def device_params():
    """``["cpu", "cuda"]`` for parametrize(..., indirect=True), the cuda one marked ``gpu``."""
    return ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


@pytest.fixture
def device(request):
    """The device of a case parametrized by ``device_params()``; skips cuda without a GPU."""
    dev = request.param
    if dev == "cuda" and not gpu_available():
        from cugrad import backend
        pytest.skip(f"no GPU visible: {backend.cuda_unavailable_reason()}")
    return dev


@pytest.fixture
def cuda():
    """The cupy module, for GPU-only cases (skips without a GPU)."""
    from cugrad import backend
    cp = backend.cupy()
    if cp is None:
        pytest.skip(f"no GPU visible: {backend.cuda_unavailable_reason()}")
    return cp


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


@pytest.fixture(autouse=True)
def _free_device_memory():
    """Give pooled GPU memory back after each case so ours and torch's caches don't pile up."""
    yield
    gc.collect()
    if "cupy" in sys.modules:
        from cugrad import backend
        cp = backend.cupy()
        if cp is not None:
            cp.get_default_memory_pool().free_all_blocks()
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


# --------------------------------------------------------------------------- ratios within a group
# (written by the issue-2 benchmark, test_bench_seed_net.py; kept as it was)

_MEDIANS: dict[str, dict[str, float]] = {}


def record_median(benchmark, label: str) -> None:
    """Remember ``benchmark``'s median under its group (nothing when benchmarks are disabled)."""
    stats = getattr(benchmark, "stats", None)
    if stats is None or getattr(benchmark, "disabled", False):
        return
    group = benchmark.group or "default"
    median = stats.stats.median
    baseline = next(iter(_MEDIANS.get(group, {}).values()), None)
    _MEDIANS.setdefault(group, {})[label] = median
    if baseline:
        benchmark.extra_info["ratio_to_first_in_group"] = median / baseline


def pytest_terminal_summary(terminalreporter):
    for group, medians in _MEDIANS.items():
        if len(medians) < 2:
            continue
        (base_label, base), *others = medians.items()
        terminalreporter.section(f"benchmark ratios: {group}")
        terminalreporter.write_line(f"{base_label}: median {base * 1e6:.1f} us (baseline)")
        for label, median in others:
            terminalreporter.write_line(f"{label}: median {median * 1e6:.1f} us = {median / base:.2f}x {base_label}")
