"""The bias gradient of a linear layer, db = Σ_rows dz, three ways (issue 3 asks which is fastest):
cugrad's column-reduction kernel (``kernels.bias_grad``, its NumPy twin on the CPU), a GEMV with a
ones vector (cuBLAS / BLAS), and the array library's own ``sum(axis=0)``; PyTorch's ``sum(0)`` as
the reference. Shapes: the headline MLP's hidden layer, 8192 × 4096 float32, on a GPU; 4096 × 1024
on the CPU (64 × 1024 under --benchmark-disable)."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import device_params, ours_sync, timeit, torch_device, torch_sync


def _shape(device, small):
    if device == "cuda":
        return 8192, 4096
    return (64, 1024) if small else (4096, 1024)


def _dz(device, small):
    from cugrad import backend

    xp = np if device == "cpu" else backend.cupy()
    rows, cols = _shape(device, small)
    rng = np.random.default_rng(0) if xp is np else xp.random.RandomState(0)
    return xp, rng.standard_normal((rows, cols), dtype=np.float32)


def _variants():
    from cugrad import kernels

    return {
        "kernel": kernels.bias_grad,
        "gemv_ones": lambda dz, ones: ones @ dz,
        "sum_axis0": lambda dz: dz.sum(axis=0),
    }


@pytest.mark.parametrize("variant", ["kernel", "gemv_ones", "sum_axis0"])
@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_bias_grad_cugrad(benchmark, device, small, variant):
    xp, dz = _dz(device, small)
    rows, cols = dz.shape
    fn = _variants()[variant]
    if variant == "gemv_ones":
        ones = xp.ones(rows, dtype=dz.dtype)
        call = lambda: fn(dz, ones)  # noqa: E731
    else:
        call = lambda: fn(dz)  # noqa: E731
    np.testing.assert_allclose(_host(call()), _host(dz).sum(axis=0, dtype=np.float64), rtol=1e-3, atol=1e-2)
    timeit(benchmark, call, ours_sync(device), case="bias_grad", impl=f"cugrad-{variant}", device=device,
           n=rows * cols, bytes=(rows * cols + cols) * 4)


@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_bias_grad_torch(benchmark, device, small):
    torch, dev = torch_device(device)
    rows, cols = _shape(device, small)
    dz = torch.randn(rows, cols, device=dev, dtype=torch.float32)
    timeit(benchmark, lambda: dz.sum(0), torch_sync(device), case="bias_grad", impl="torch", device=device,
           n=rows * cols, bytes=(rows * cols + cols) * 4)


def _host(a):
    from cugrad import backend

    return backend.to_device(a, backend.CPU)
