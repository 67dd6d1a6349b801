"""The CUDA sources compile without a GPU: NVRTC (CuPy's binding, the loader's own options and
name expressions) for compute_80/90, ptxas -v for sm_80/90 with no local-memory spills, and an
nvcc --ptx syntax check. Each skips where its tool is missing, and fails instead when CI is set."""
from __future__ import annotations

from pathlib import Path

import pytest

from cugrad import kernels as K
import kernel_tools as T

ARCHS = T.ARCHS


def need(ok, what):
    if not ok:
        if T.ci():
            pytest.fail(f"{what} is missing and CI is set")
        pytest.skip(f"{what} is missing")


@pytest.fixture(scope="module")
def nvrtc():
    try:
        from cupy.cuda import nvrtc as mod
        mod.getVersion()
    except Exception as exc:  # cupy absent, or its NVRTC library not found
        need(False, f"cupy's NVRTC ({type(exc).__name__}: {exc})")
    return mod


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("family", K.FAMILIES)
def test_nvrtc_compiles_every_instantiation(nvrtc, family, arch):
    ptx, names = K.compile_ptx(family, f"compute_{arch}")
    assert set(names) == set(K.NAME_EXPRESSIONS[family])
    for expr, lowered in names.items():
        assert f".entry {lowered}(" in ptx, expr


def test_loader_options_are_the_compile_options():
    assert K.compile_options("compute_90")[:-1] == K.compile_options()
    import re
    for family in K.FAMILIES:                                  # includes are pasted by the loader
        assert not re.search(r'^\s*#\s*include', K.kernel_source(family), re.M)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("family", K.FAMILIES)
def test_ptxas_no_spills(nvrtc, family, arch):
    need(T.ptxas_path(), "ptxas")
    report = T.ptxas_report(family, arch)
    assert set(report) == set(K.NAME_EXPRESSIONS[family])
    for name, r in report.items():
        assert r["spill_stores"] == 0 and r["spill_loads"] == 0, f"{name} spills on sm_{arch}: {r}"
        assert r["stack"] == 0, f"{name} uses local memory on sm_{arch}: {r}"
        assert r["registers"] <= 64, f"{name} needs {r['registers']} registers on sm_{arch}"


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("family", K.FAMILIES)
def test_nvcc_ptx_syntax(family, arch):
    need(T.nvcc_path(), "nvcc")
    T.nvcc_ptx_check(family, arch)


def test_cupy_driver_builds_each_module_once_and_looks_each_kernel_up_once():
    """CupyDriver hands CuPy the loader's source, options and name expressions, compiles a family
    once, and asks RawModule.get_function (which builds a new RawKernel per call) once per kernel."""
    made, lookups = [], []

    class RawModule:
        def __init__(self, code, options, name_expressions):
            made.append((code, options, name_expressions))

        def get_function(self, name):
            lookups.append(name)
            return f"kernel {name}"

    class FakeCupy:
        pass

    FakeCupy.RawModule = RawModule
    driver = K.CupyDriver(FakeCupy)
    for _ in range(3):
        assert driver.module("optim").get_function("sgd_step<float>") == "kernel sgd_step<float>"
    driver.module("optim").get_function("adam_step<float>")
    assert made == [(K.kernel_source("optim"), K.compile_options(), K.NAME_EXPRESSIONS["optim"])]
    assert lookups == ["sgd_step<float>", "adam_step<float>"]


def test_cupy_finds_the_cuda_headers_it_compiles_against():
    """CuPy 14 compiles every kernel (its own and ours) with the CUDA runtime headers on the include
    path, and refuses to compile without them: the cuda12/cuda13 extras must bring them."""
    try:
        from cuda.pathfinder import find_nvidia_header_directory
    except ImportError as exc:
        need(False, f"cuda.pathfinder, CuPy's header finder ({exc})")
    include = find_nvidia_header_directory("cudart")
    assert include is not None, "no CUDA runtime headers: install cugrad[cuda12] (cupy-cuda12x[ctk]) or set CUDA_PATH"
    assert (Path(include) / "cuda_runtime.h").is_file()
