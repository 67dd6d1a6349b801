"""Fixtures of the benchmark suite (pytest-benchmark).

- Runs from a source checkout: ``src/`` is put on sys.path when cugrad is not importable.
- Devices: ``"cpu"`` always; ``"cuda"`` cases carry the ``gpu`` marker and skip when no GPU is visible;
  without a GPU they run on the CuPy stand-in (tests/fakegpu) at the small sizes.
- PyTorch twins skip when torch does not import (or has no CUDA for a GPU case).
- A GPU timing synchronizes the device *inside* the timed function (see ``harness.timeit``).
- ``--benchmark-disable`` (CI) or ``CUGRAD_BENCH_SMALL=1`` shrinks the CPU sizes so the whole suite
  runs each case once in seconds; the GPU sizes shrink only on the stand-in (``harness.full_size``).

Every case timed through ``timeit`` records in ``benchmark.extra_info``: ``case`` (what is
compared), ``impl`` (``cugrad``, ``torch``, ``numpy``, ``gemm``, ``torch-gemm``, ``copy``),
``device``, and where it applies ``bytes`` (bytes a kernel must move; the report,
cugrad.cli.bench_report, turns it into GB/s), ``gbps``, ``pct_of_copy``, ``peak_bytes``.
``record_median`` (used by test_bench_seed_net.py) prints ratios of medians within a group at the
end of the session.
"""
from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent

# Before cugrad probes its backend: without a GPU, the CuPy stand-in (tests/fakegpu), so the GPU
# cases run once at their small sizes and cannot rot.
sys.path.append(str(ROOT / "tests"))
import fakegpu  # noqa: E402

fakegpu.install_unless_gpu()
try:
    import cugrad  # noqa: F401
except ImportError:
    sys.path.insert(0, str(ROOT / "src"))
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from harness import MEDIANS, gpu_available  # noqa: E402


def pytest_configure(config):
    # the suite is normally run as `pytest benchmarks`, where pyproject's --strict-markers applies
    config.addinivalue_line("markers", "gpu: needs a visible CUDA GPU (skipped only when none is visible)")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


def pytest_benchmark_update_machine_info(config, machine_info):
    """Versions and the GPU into the JSON's machine_info (the report prints them)."""
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


def pytest_terminal_summary(terminalreporter):
    """Ratios of medians within a group, as harness.record_median collected them."""
    for group, medians in MEDIANS.items():
        if len(medians) < 2:
            continue
        (base_label, base), *others = medians.items()
        terminalreporter.section(f"benchmark ratios: {group}")
        terminalreporter.write_line(f"{base_label}: median {base * 1e6:.1f} us (baseline)")
        for label, median in others:
            terminalreporter.write_line(f"{label}: median {median * 1e6:.1f} us = {median / base:.2f}x {base_label}")
