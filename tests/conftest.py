"""Fixtures of the kernel test bench (tests/test_kernels*.py)."""
from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


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
    """Route cugrad.kernels through the emulator for one test (grid sizing reset after)."""
    from cugrad import kernels

    emu.grid = None
    with kernels.use_driver(emu):
        yield emu
    emu.grid = None


@pytest.fixture
def cp():
    """The cupy module when a GPU is visible (gpu tests)."""
    from cugrad import backend

    mod = backend.cupy()
    if mod is None:
        pytest.skip("no GPU visible")
    return mod
