"""Bandwidth of each fused elementwise kernel vs PyTorch's equivalent.

``bytes`` is what the operation must move at least (each input read once, each output written
once); GB/s = bytes / median time, for ours and PyTorch alike, and ``pct_of_copy`` compares it
with the device-to-device copy measured in the same run (the ``copy`` case). On the CPU the same
cases time cugrad's NumPy twins against PyTorch's CPU kernels.
"""
from __future__ import annotations

import numpy as np
import pytest

from harness import device_params, full_size, ours_sync, timeit, torch_device, torch_sync

GPU_N = 1 << 26          # 64 Mi float32 = 256 MiB per array: launch and sync costs < 2 %
GPU_ROWS, CLASSES = 65536, 1000
_copy_gbps: dict = {}     # device -> measured copy GB/s (filled by the copy case, which runs first)


def _n(device, small):
    if full_size(device):
        return GPU_N
    return 1 << 14 if small else 1 << 22


def _rows(device, small):
    if full_size(device):
        return GPU_ROWS
    return 64 if small else 4096


def _xp(device):
    from cugrad import backend
    return np if device == "cpu" else backend.cupy()


def _rng(xp, seed):
    """A generator whose standard_normal(size, dtype=float32) draws where xp's arrays live."""
    return np.random.default_rng(seed) if xp is np else xp.random.RandomState(seed)


def _arrays(xp, n, k, seed=0, positive=False):
    """k float32 arrays of n normal numbers, drawn where they live (host RNG is slow at 64 Mi)."""
    rng = _rng(xp, seed)
    out = []
    for _ in range(k):
        a = rng.standard_normal(n, dtype=np.float32)
        out.append(xp.abs(a) if positive else a)
    return out


def _tarrays(torch, dev, n, k, seed=0, positive=False):
    """The same for a PyTorch twin, drawn on its device."""
    gen = torch.Generator(device=dev).manual_seed(seed)
    out = []
    for _ in range(k):
        a = torch.randn(n, generator=gen, device=dev, dtype=torch.float32)
        out.append(a.abs_() if positive else a)
    return out


def _finish(benchmark, device):
    gbps = benchmark.extra_info.get("gbps")
    copy = _copy_gbps.get(device)
    if gbps and copy:
        benchmark.extra_info["pct_of_copy"] = round(100.0 * gbps / copy, 1)
        benchmark.extra_info["copy_gbps"] = copy


# --------------------------------------------------------------------------- the ceiling

@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_copy(benchmark, device, small):
    """Device-to-device copy (read + write): the ceiling the kernels are measured against."""
    xp = _xp(device)
    n = _n(device, small)
    src, dst = _arrays(xp, n, 2)
    timeit(benchmark, lambda: xp.copyto(dst, src), ours_sync(device), case="copy", impl="copy",
           device=device, n=n, bytes=2 * n * 4)
    if "gbps" in benchmark.extra_info:
        _copy_gbps[device] = benchmark.extra_info["gbps"]


# --------------------------------------------------------------------------- activation backward / forward

ACT_CASES = ["relu", "sigmoid"]


@pytest.mark.parametrize("act", ACT_CASES)
@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_act_backward_cugrad(benchmark, device, small, act):
    from cugrad import kernels

    xp, n = _xp(device), _n(device, small)
    g, y = _arrays(xp, n, 2, positive=(act == "sigmoid"))
    if act == "sigmoid":
        y = y / (1 + y)
    out = xp.empty_like(g)
    timeit(benchmark, lambda: kernels.activation_backward(g, y, act, out=out), ours_sync(device),
           case=f"{act}_backward", impl="cugrad", device=device, n=n, bytes=3 * n * 4)
    _finish(benchmark, device)


@pytest.mark.parametrize("act", ACT_CASES)
@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_act_backward_torch(benchmark, device, small, act):
    torch, dev = torch_device(device)
    n = _n(device, small)
    g, y = _tarrays(torch, dev, n, 2, positive=(act == "sigmoid"))
    if act == "sigmoid":
        y = y / (1 + y)
        fn = lambda: torch.ops.aten.sigmoid_backward(g, y)  # noqa: E731
    else:
        fn = lambda: torch.ops.aten.threshold_backward(g, y, 0)  # noqa: E731  (what relu's backward runs)
    timeit(benchmark, fn, torch_sync(device), case=f"{act}_backward", impl="torch", device=device, n=n,
           bytes=3 * n * 4)
    _finish(benchmark, device)


def _bias_shape(n):
    cols = 4096
    return n // cols, cols


@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_bias_relu_cugrad(benchmark, device, small):
    """y = relu(z + b) out of place (the fused epilogue after a GEMM)."""
    from cugrad import kernels

    xp = _xp(device)
    rows, cols = _bias_shape(_n(device, small))
    z = _arrays(xp, rows * cols, 1)[0].reshape(rows, cols)
    b = _arrays(xp, cols, 1, seed=3)[0]
    out = xp.empty_like(z)
    timeit(benchmark, lambda: kernels.bias_activation(z, b, "relu", out=out), ours_sync(device),
           case="bias_relu_forward", impl="cugrad", device=device, n=rows * cols, bytes=2 * rows * cols * 4)
    _finish(benchmark, device)


@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_bias_relu_torch(benchmark, device, small):
    """PyTorch eager: add then relu_ in place (two passes; nothing fuses them outside a GEMM)."""
    torch, dev = torch_device(device)
    rows, cols = _bias_shape(_n(device, small))
    z = _tarrays(torch, dev, rows * cols, 1)[0].reshape(rows, cols)
    b = _tarrays(torch, dev, cols, 1, seed=3)[0]
    out = torch.empty_like(z)
    timeit(benchmark, lambda: torch.add(z, b, out=out).relu_(), torch_sync(device),
           case="bias_relu_forward", impl="torch", device=device, n=rows * cols, bytes=2 * rows * cols * 4)
    _finish(benchmark, device)


# --------------------------------------------------------------------------- softmax cross-entropy

def _xent_inputs(xp, rows):
    logits = _rng(xp, 0).standard_normal((rows, CLASSES), dtype=np.float32)
    target = np.random.default_rng(1).integers(0, CLASSES, rows).astype(np.int64)
    return logits, xp.asarray(target)


@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_xent_forward_cugrad(benchmark, device, small):
    from cugrad import kernels

    xp, rows = _xp(device), _rows(device, small)
    logits, target = _xent_inputs(xp, rows)
    timeit(benchmark, lambda: kernels.softmax_xent_forward(logits, target), ours_sync(device),
           case="softmax_xent_forward", impl="cugrad", device=device, n=rows * CLASSES,
           bytes=rows * CLASSES * 4 + rows * 16)
    _finish(benchmark, device)


@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_xent_forward_torch(benchmark, device, small):
    torch, dev = torch_device(device)
    rows = _rows(device, small)
    logits, target = (torch.from_numpy(a).to(dev) for a in _xent_inputs(np, rows))
    F = torch.nn.functional
    timeit(benchmark, lambda: F.cross_entropy(logits, target, reduction="none"), torch_sync(device),
           case="softmax_xent_forward", impl="torch", device=device, n=rows * CLASSES,
           bytes=rows * CLASSES * 4 + rows * 16)
    _finish(benchmark, device)


@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_xent_backward_cugrad(benchmark, device, small):
    from cugrad import kernels

    xp, rows = _xp(device), _rows(device, small)
    logits, target = _xent_inputs(xp, rows)
    _, row_max, log_sum = kernels.softmax_xent_forward(logits, target)
    scale = xp.full((rows,), 1.0 / rows, np.float32)
    out = xp.empty_like(logits)
    timeit(benchmark, lambda: kernels.softmax_xent_backward(logits, row_max, log_sum, target, scale, out=out),
           ours_sync(device), case="softmax_xent_backward", impl="cugrad", device=device,
           n=rows * CLASSES, bytes=2 * rows * CLASSES * 4 + rows * 16)
    _finish(benchmark, device)


@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_xent_backward_torch(benchmark, device, small):
    """PyTorch's real backward of cross_entropy (nll_loss_backward + log_softmax_backward)."""
    torch, dev = torch_device(device)
    rows = _rows(device, small)
    logits, target = (torch.from_numpy(a).to(dev) for a in _xent_inputs(np, rows))
    logits.requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(logits, target)
    timeit(benchmark, lambda: torch.autograd.grad(loss, logits, retain_graph=True), torch_sync(device),
           case="softmax_xent_backward", impl="torch", device=device, n=rows * CLASSES,
           bytes=2 * rows * CLASSES * 4 + rows * 16)
    _finish(benchmark, device)


# --------------------------------------------------------------------------- optimizer steps

@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_sgd_momentum_cugrad(benchmark, device, small):
    from cugrad import kernels

    xp, n = _xp(device), _n(device, small)
    p, g, buf = _arrays(xp, n, 3)
    timeit(benchmark, lambda: kernels.sgd_step(p, g, buf, 1e-3, momentum=0.9), ours_sync(device),
           case="sgd_momentum_step", impl="cugrad", device=device, n=n, bytes=5 * n * 4)
    _finish(benchmark, device)


def _torch_opt(torch, cls, params, **kw):
    for extra in ({"fused": True}, {"foreach": True}, {}):
        try:
            return cls(params, **kw, **extra), next(iter(extra), "for-loop")
        except (RuntimeError, TypeError, ValueError):
            continue
    raise RuntimeError(f"{cls.__name__} could not be built")


@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_sgd_momentum_torch(benchmark, device, small):
    torch, dev = torch_device(device)
    n = _n(device, small)
    p, grad = _tarrays(torch, dev, n, 2)
    p.requires_grad_(True)
    p.grad = grad
    opt, kind = _torch_opt(torch, torch.optim.SGD, [p], lr=1e-3, momentum=0.9)
    opt.step()                                        # creates the momentum buffer
    timeit(benchmark, opt.step, torch_sync(device), case="sgd_momentum_step", impl="torch",
           device=device, n=n, bytes=5 * n * 4, optimizer=kind)
    _finish(benchmark, device)


@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_adam_cugrad(benchmark, device, small):
    from cugrad import kernels

    xp, n = _xp(device), _n(device, small)
    p, g = _arrays(xp, n, 2)
    m, v = xp.zeros_like(p), xp.zeros_like(p)
    timeit(benchmark, lambda: kernels.adam_step(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 0.0, 10, False),
           ours_sync(device), case="adam_step", impl="cugrad", device=device, n=n, bytes=7 * n * 4)
    _finish(benchmark, device)


@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_adam_torch(benchmark, device, small):
    torch, dev = torch_device(device)
    n = _n(device, small)
    p, grad = _tarrays(torch, dev, n, 2)
    p.requires_grad_(True)
    p.grad = grad
    opt, kind = _torch_opt(torch, torch.optim.Adam, [p], lr=1e-3)
    opt.step()
    timeit(benchmark, opt.step, torch_sync(device), case="adam_step", impl="torch", device=device, n=n,
           bytes=7 * n * 4, optimizer=kind)
    _finish(benchmark, device)

