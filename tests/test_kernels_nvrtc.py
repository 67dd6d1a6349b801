"""The CUDA sources compile without a GPU: NVRTC (CuPy's binding, the loader's own options and
name expressions) for compute_80/90, ptxas -v for sm_80/90 with no local-memory spills, and an
nvcc --ptx syntax check. Each skips where its tool is missing, and fails instead when CI is set."""
from __future__ import annotations

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
