"""The bias gradient of a linear layer, db = Σ_rows dz, three ways (issue 3 asks which is fastest):
cugrad's column-reduction kernel (``kernels.bias_grad``, its NumPy twin on the CPU), a GEMV with a
ones vector (cuBLAS / BLAS), and the array library's own ``sum(axis=0)``; PyTorch's ``sum(0)`` as
the reference. A fourth variant, ``fused_act_backward``, is the bias gradient accumulated inside the
activation backward (``kernels.activation_backward(g, y, "relu", bias_grad=True)``): that call also
computes and writes dz, so it is not comparable with the three reductions alone (its bytes are the
fused pass's: read g and y, write dz and db). The fair comparison is the second group,
``act_backward_plus_bias_grad``: ``cugrad-separate`` (activation_backward, then bias_grad) against
``cugrad-fused`` (one call), both given the bytes the job needs at least (read g and y, write dz
and db; the separate pair also reads dz back). Shapes: the headline MLP's hidden layer,
8192 × 4096 float32, on a GPU; 4096 × 1024 on the CPU (64 × 1024 under --benchmark-disable)."""
from __future__ import annotations

import numpy as np
import pytest

from harness import device_params, full_size, ours_sync, timeit, torch_device, torch_sync


def _shape(device, small):
    if full_size(device):
        return 8192, 4096
    return (64, 1024) if small else (4096, 1024)


def _dz(device, small):
    from cugrad import backend

    xp = np if device == "cpu" else backend.cupy()
    rows, cols = _shape(device, small)
    rng = np.random.default_rng(0) if xp is np else xp.random.RandomState(0)
    return xp, rng.standard_normal((rows, cols), dtype=np.float32)


def _relu_out(xp, shape):
    """A saved ReLU output: about half zeros."""
    rng = np.random.default_rng(1) if xp is np else xp.random.RandomState(1)
    return xp.maximum(rng.standard_normal(shape, dtype=np.float32), 0)


def _variants():
    from cugrad import kernels

    return {
        "kernel": kernels.bias_grad,
        "gemv_ones": lambda dz, ones: ones @ dz,
        "sum_axis0": lambda dz: dz.sum(axis=0),
        "fused_act_backward": lambda g, y: kernels.activation_backward(g, y, "relu", bias_grad=True),
    }


@pytest.mark.parametrize("variant", ["kernel", "gemv_ones", "sum_axis0", "fused_act_backward"])
@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_bias_grad_cugrad(benchmark, device, small, variant):
    xp, dz = _dz(device, small)
    rows, cols = dz.shape
    fn = _variants()[variant]
    nbytes = (rows * cols + cols) * 4
    if variant == "gemv_ones":
        ones = xp.ones(rows, dtype=dz.dtype)
        call = lambda: fn(dz, ones)  # noqa: E731
        want = _host(dz).sum(axis=0, dtype=np.float64)
    elif variant == "fused_act_backward":
        y = _relu_out(xp, dz.shape)
        call = lambda: fn(dz, y)[1]  # noqa: E731
        want = (_host(dz) * (_host(y) > 0)).sum(axis=0, dtype=np.float64)
        nbytes = (3 * rows * cols + cols) * 4
    else:
        call = lambda: fn(dz)  # noqa: E731
        want = _host(dz).sum(axis=0, dtype=np.float64)
    np.testing.assert_allclose(_host(call()), want, rtol=1e-3, atol=1e-2)
    timeit(benchmark, call, ours_sync(device), case="bias_grad", impl=f"cugrad-{variant}", device=device,
           n=rows * cols, bytes=nbytes)


@pytest.mark.parametrize("variant", ["separate", "fused"])
@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_act_backward_plus_bias_grad(benchmark, device, small, variant):
    """dz = relu'(y)·g and db = Σ_rows dz: two kernels (dz written, then read back) or one pass."""
    from cugrad import kernels

    xp, g = _dz(device, small)
    rows, cols = g.shape
    y = _relu_out(xp, g.shape)
    if variant == "separate":
        def call():
            dz = kernels.activation_backward(g, y, "relu")
            return dz, kernels.bias_grad(dz)
    else:
        call = lambda: kernels.activation_backward(g, y, "relu", bias_grad=True)  # noqa: E731
    dz, db = call()
    want = _host(g) * (_host(y) > 0)
    np.testing.assert_array_equal(_host(dz), want)
    np.testing.assert_allclose(_host(db), want.sum(axis=0, dtype=np.float64), rtol=1e-3, atol=1e-2)
    timeit(benchmark, call, ours_sync(device), case="act_backward_plus_bias_grad", impl=f"cugrad-{variant}",
           device=device, n=rows * cols, bytes=(3 * rows * cols + cols) * 4)


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
