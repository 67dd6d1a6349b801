"""The two GEMM questions perf-notes.md leaves open for the headline MLP (issue 6), measured so a
run on the GPU can settle them:

- weight gradient of a 4096→4096 layer at batch 8192: dW = dzᵀ·x (what Linear.backward runs now)
  against dWᵀ = xᵀ·dz returned transposed, against the same product into a preallocated
  ``out=`` buffer, and against dz transposed into a contiguous copy first (one extra pass over dz)
  so that cuBLAS runs the product in the non-transposed layout of the input-gradient GEMM, which
  perf-notes.md times at forward speed (all three others are the same transposed-operand GEMM);
- the tiny output layer, 4096 → 10: forward x·Wᵀ and its weight gradient, which cuBLAS runs with
  a poor kernel for N = 10.

Each case is a raw cuBLAS / BLAS call through the array library, timed under the current
matmul precision (TF32 with CUGRAD_BENCH_PRECISION=high). CPU sizes are smaller.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from harness import device_params, full_size, ours_sync, timeit


def _sizes(device, small):
    if full_size(device):
        return 8192, 4096, 4096
    return (64, 256, 256) if small else (1024, 1024, 1024)


def _setup(device):
    import cugrad
    from cugrad import backend

    cugrad.set_matmul_precision(os.environ.get("CUGRAD_BENCH_PRECISION", "highest"))
    xp = np if device == "cpu" else backend.cupy()
    rng = np.random.default_rng(0) if xp is np else xp.random.RandomState(0)
    return xp, rng


@pytest.fixture(autouse=True)
def _restore_precision():
    yield
    import cugrad

    cugrad.set_matmul_precision("highest")


@pytest.mark.parametrize("layout", ["dzT_x", "xT_dz_transposed", "dzT_x_out", "dzT_contiguous_x"])
@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_weight_grad_layout(benchmark, device, small, layout):
    xp, rng = _setup(device)
    batch, d_in, d_out = _sizes(device, small)
    x = rng.standard_normal((batch, d_in), dtype=np.float32)
    dz = rng.standard_normal((batch, d_out), dtype=np.float32)
    out = xp.empty((d_out, d_in), dtype=np.float32)
    run = {
        "dzT_x": lambda: dz.T @ x,
        "xT_dz_transposed": lambda: (x.T @ dz).T,
        "dzT_x_out": lambda: xp.matmul(dz.T, x, out=out),
        "dzT_contiguous_x": lambda: xp.ascontiguousarray(dz.T) @ x,
    }[layout]
    reference = (dz.T @ x)
    assert float(abs(run() - reference).max()) <= 1e-2 * float(abs(reference).max())
    timeit(benchmark, run, ours_sync(device), case="weight_grad", impl=f"cugrad-{layout}", device=device,
           flops=2 * batch * d_in * d_out)


@pytest.mark.parametrize("which", ["forward", "weight_grad"])
@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_output_layer_gemm(benchmark, device, small, which):
    xp, rng = _setup(device)
    batch, d_in, _ = _sizes(device, small)
    classes = 10
    x = rng.standard_normal((batch, d_in), dtype=np.float32)
    w = rng.standard_normal((classes, d_in), dtype=np.float32)
    dz = rng.standard_normal((batch, classes), dtype=np.float32)
    run = (lambda: x @ w.T) if which == "forward" else (lambda: dz.T @ x)
    timeit(benchmark, run, ours_sync(device), case=f"output_layer_{which}", impl="cugrad", device=device,
           flops=2 * batch * d_in * classes)
