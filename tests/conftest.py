"""Shared fixtures: device parametrization, the GPU skip rule, and the kernel test bench."""
from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Before cugrad probes its backend (the probe is cached): without a GPU, the CuPy stand-in.
import fakegpu  # noqa: E402

STAND_IN = fakegpu.install_unless_gpu()

import cugrad  # noqa: E402

GPU = cugrad.cuda.is_available()
# the cuda case carries the gpu marker, so `pytest -m gpu` selects it and a CPU-only run skips it
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


# hypothesis profiles. "ci", the default, is fixed: derandomized (the same cases every run) and
# bounded, which keeps tests/test_differential.py to about a minute on two cores.
# `--hypothesis-profile=deep` draws fresh cases, many more of them: a long hunt, not a CI run.
_SUPPRESSED = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
               HealthCheck.filter_too_much]
settings.register_profile("ci", derandomize=True, max_examples=30, deadline=None, print_blob=True,
                          suppress_health_check=_SUPPRESSED)
settings.register_profile("deep", max_examples=3000, deadline=None, print_blob=True,
                          suppress_health_check=_SUPPRESSED)
settings.load_profile("ci")


def pytest_report_header(config):
    return fakegpu.HEADER if STAND_IN else None


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_ml_dtypes: a bfloat16 case where ml_dtypes is missing "
                            "(skipped, or failed when CI is set; see kernel_cases.bf16_param)")


# the wheel that carries each library a `cuda_libs` test loads (CUDA 12: cpu-dev's CuPy is cupy-cuda12x)
_CUDA_LIB_WHEELS = {"nccl": "nvidia-nccl-cu12", "cublas": "nvidia-cublas-cu12"}


def _missing_cuda_libs(names) -> list:
    """Which of the CUDA libraries ``names`` cannot be loaded as CuPy and cugrad load them
    (``cuda.pathfinder``: the NVIDIA wheels, conda, then the system's CUDA), each with its wheel."""
    from cuda import pathfinder     # a CuPy dependency

    missing = []
    for name in names:
        try:
            pathfinder.load_nvidia_dynamic_lib(name)
        except pathfinder.DynamicLibNotFoundError:
            missing.append(f"lib{name} (wheel {_CUDA_LIB_WHEELS[name]})")
    return missing


def pytest_runtest_setup(item):
    if item.get_closest_marker("needs_ml_dtypes"):
        from kernel_cases import BF16_MISSING

        if os.environ.get("CI"):
            pytest.fail(BF16_MISSING + " (CI is set)")
        pytest.skip(BF16_MISSING)
    libs = item.get_closest_marker("cuda_libs")
    if libs is not None:
        missing = _missing_cuda_libs(libs.args)
        if missing:
            msg = f"needs {', '.join(missing)}: pip install -e '.[cpu-dev,cuda-libs]'"
            if os.environ.get("CUGRAD_REQUIRE_CUDA_LIBS") == "1":
                pytest.fail(msg + " (CUGRAD_REQUIRE_CUDA_LIBS=1)")
            pytest.skip(msg)


def pytest_collection_modifyitems(config, items):
    """Skip `gpu`-marked tests only where no GPU is visible (the stand-in counts as one), and
    `gpu_hardware`-marked ones unless the GPU is real."""
    skip = pytest.mark.skip(reason="no GPU visible (cugrad.cuda.is_available() is False)")
    for item in items:
        hardware = item.get_closest_marker("gpu_hardware")
        if hardware is not None and STAND_IN:
            item.add_marker(pytest.mark.skip(reason="needs a real GPU: " + (hardware.args[0] if hardware.args else "")))
        elif not GPU and item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


@pytest.fixture(params=DEVICES)
def device(request):
    """Runs a test on the CPU, and on the GPU (a `gpu`-marked case, skipped where none is visible)."""
    return request.param


@pytest.fixture(autouse=True)
def _seeded():
    cugrad.manual_seed(0)


@pytest.fixture(scope="session")
def emu():
    """An EmulatorDriver with every kernel family built (in parallel). Skips where no C++20
    compiler is found, and fails instead when the CI environment variable is set."""
    from emulator import EmulatorDriver, find_compiler
    from cugrad import kernels

    cxx = find_compiler()
    if cxx is None:
        msg = "no C++20 compiler for the kernel emulator"
        if os.environ.get("CI"):
            pytest.fail(msg + " (CI is set)")
        pytest.skip(msg)
    drv = EmulatorDriver(cxx=cxx)
    with ThreadPoolExecutor(len(kernels.FAMILIES)) as pool:
        list(pool.map(drv.module, kernels.FAMILIES))
    return drv


@pytest.fixture
def on_emu(emu):
    """Route cugrad.kernels through the emulator for one test (grid sizing and thread order reset
    after)."""
    from cugrad import kernels

    emu.grid, emu.reverse_threads = None, False
    with kernels.use_driver(emu):
        yield emu
    emu.grid, emu.reverse_threads = None, False


@pytest.fixture
def no_gpu(monkeypatch):
    """The no-GPU path, also where a GPU or the CuPy stand-in is visible: the backend's cached
    probe says CuPy is installed but sees no GPU, for one test."""
    from cugrad import backend

    monkeypatch.setattr(backend, "_cupy_checked", True)
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_unavailable_reason", "cupy is installed but no GPU is visible")


@pytest.fixture
def cp():
    """The cupy module when a GPU is visible (gpu tests)."""
    from cugrad import backend

    mod = backend.cupy()
    if mod is None:
        pytest.skip("no GPU visible")
    return mod
