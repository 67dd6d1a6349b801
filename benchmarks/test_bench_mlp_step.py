"""The headline training step: forward + backward + SGD update of an MLP, ours vs PyTorch eager.

GPU (issue 6): MLP 1024 → 4096 ×4 → 10, ReLU, softmax-CE, SGD, batch 8192, at fp32 / TF32 / half,
plus the step's GEMMs timed alone (engine-overhead target: step ≤ 1.25 × GEMM sum).
CPU: MLP 784 → 1024 → 1024 → 10, batch 4096 (perf-notes' CPU case): ours vs flat NumPy vs PyTorch.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import cugrad

from harness import full_size, ours_sync, timeit, torch_device, torch_sync
from workloads import (CPU_MLP, CPU_MLP_BATCH, HEADLINE, HEADLINE_BATCH, NumpyMLP, OursMLP, TorchMLP,
                       gemm_step, ours_precision, torch_gemm_step, torch_precision)

PRECISIONS = ["fp32", "tf32", "half"]


def _flops(sizes, batch):
    """FLOPs of one step: 3 GEMMs per layer (2 for the first)."""
    f = 0
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        f += 2 * batch * a * b * (3 if i else 2)
    return f


def _cpu_config(small):
    return (CPU_MLP, 256) if small else (CPU_MLP, CPU_MLP_BATCH)


def _gpu_config():
    """The headline net on a GPU; the small CPU net on the CuPy stand-in (a check, not a timing)."""
    return (HEADLINE, HEADLINE_BATCH) if full_size("cuda") else _cpu_config(True)


def _check(loss):
    value = float(loss.item() if hasattr(loss, "item") else loss)
    assert math.isfinite(value), f"loss is {value}"


# --------------------------------------------------------------------------- GPU: the headline

@pytest.mark.gpu
@pytest.mark.parametrize("precision", PRECISIONS)
def test_mlp_step_gpu_cugrad(benchmark, cuda, precision):
    sizes, batch = _gpu_config()
    with ours_precision(precision) as used:
        net = OursMLP(sizes, batch, "cuda")
        _check(net.step())
        timeit(benchmark, net.step, ours_sync("cuda"), case=f"mlp_step_{precision}", impl="cugrad",
               device="cuda", precision=str(used or precision), flops=_flops(sizes, batch))


@pytest.mark.gpu
@pytest.mark.parametrize("precision", PRECISIONS)
def test_mlp_step_gpu_torch(benchmark, precision):
    sizes, batch = _gpu_config()
    torch, dev = torch_device("cuda")
    net = TorchMLP(torch, sizes, batch, dev)
    if precision == "half":
        net.autocast = torch.bfloat16
    with torch_precision(torch, precision):
        _check(net.step())
        timeit(benchmark, net.step, torch_sync("cuda"), case=f"mlp_step_{precision}", impl="torch",
               device="cuda", precision="bf16-autocast" if precision == "half" else precision,
               optimizer=net.opt_kind, flops=_flops(sizes, batch))


@pytest.mark.gpu
@pytest.mark.parametrize("precision", PRECISIONS)
def test_mlp_gemms_gpu_cugrad(benchmark, cuda, precision):
    """The step's GEMMs alone through CuPy, at the precision cugrad's step runs at."""
    sizes, batch = _gpu_config()
    with ours_precision(precision) as used:
        dtype = cugrad.backend.resolve_dtype(used) if precision == "half" else np.float32
        run = gemm_step(cuda, sizes, batch, dtype)
        timeit(benchmark, run, ours_sync("cuda"), case=f"mlp_step_{precision}", impl="gemm",
               device="cuda", precision=str(used or precision), flops=_flops(sizes, batch))


@pytest.mark.gpu
@pytest.mark.parametrize("precision", PRECISIONS)
def test_mlp_gemms_gpu_torch(benchmark, precision):
    sizes, batch = _gpu_config()
    torch, dev = torch_device("cuda")
    dtype = torch.bfloat16 if precision == "half" else torch.float32
    with torch_precision(torch, precision):
        run = torch_gemm_step(torch, sizes, batch, dev, dtype)
        timeit(benchmark, run, torch_sync("cuda"), case=f"mlp_step_{precision}", impl="torch-gemm",
               device="cuda", precision=precision, flops=_flops(sizes, batch))


# --------------------------------------------------------------------------- CPU: perf-notes' large-batch case

def test_mlp_step_cpu_cugrad(benchmark, small):
    sizes, batch = _cpu_config(small)
    net = OursMLP(sizes, batch, "cpu")
    _check(net.step())
    timeit(benchmark, net.step, ours_sync("cpu"), case="mlp_step_cpu", impl="cugrad", device="cpu",
           batch=batch, flops=_flops(sizes, batch))


def test_mlp_step_cpu_numpy(benchmark, small):
    sizes, batch = _cpu_config(small)
    net = NumpyMLP(sizes, batch)
    _check(net.step())
    timeit(benchmark, net.step, ours_sync("cpu"), case="mlp_step_cpu", impl="numpy", device="cpu",
           batch=batch, flops=_flops(sizes, batch))


def test_mlp_step_cpu_torch(benchmark, small):
    torch, dev = torch_device("cpu")
    sizes, batch = _cpu_config(small)
    net = TorchMLP(torch, sizes, batch, dev)
    _check(net.step())
    timeit(benchmark, net.step, torch_sync("cpu"), case="mlp_step_cpu", impl="torch", device="cpu",
           batch=batch, threads=torch.get_num_threads(), optimizer=net.opt_kind, flops=_flops(sizes, batch))


def test_mlp_gemms_cpu(benchmark, small):
    sizes, batch = _cpu_config(small)
    run = gemm_step(np, sizes, batch)
    timeit(benchmark, run, ours_sync("cpu"), case="mlp_step_cpu", impl="gemm", device="cpu",
           batch=batch, flops=_flops(sizes, batch))


def test_cpu_step_matches_numpy():
    """Not a timing: one cugrad step and one flat-NumPy step from the same start agree, so the two
    CPU timings above compare the same work."""
    sizes, batch = (32, 64, 48, 10), 128
    ours, ref = OursMLP(sizes, batch, "cpu"), NumpyMLP(sizes, batch)
    loss_ours, loss_ref = float(ours.step().item()), ref.step()
    assert loss_ours == pytest.approx(loss_ref, rel=1e-5)
    for (w, b), (w_ref, b_ref) in zip(ours.layers, ref.layers):
        np.testing.assert_allclose(w.numpy(), w_ref, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(b.numpy(), b_ref, rtol=1e-4, atol=1e-6)
