"""Gradient checkpointing (issue 5): peak memory above the start of a step, and step time, without
and with √n checkpointing, ours vs ``torch.utils.checkpoint.checkpoint_sequential``.

Workload: 64 × (Linear(2048, 2048) + ReLU), batch 8192, float32, one forward + backward of
``out.sum()`` (no update; gradients reset to None first, as ``zero_grad(set_to_none=True)``) on the
GPU; a small deep MLP on the CPU. ``peak_bytes`` = peak bytes in use during one step, minus bytes in
use at its start (parameters, input), minus the new gradient buffers (one per parameter, the
parameters' size): what activations and temporaries cost, the quantity checkpointing cuts.
GPU: cugrad.cuda.track_memory / torch.cuda.max_memory_allocated; CPU: tracemalloc (NumPy reports
its buffers to it; PyTorch's CPU allocator does not, so the CPU torch twin records time only).

The GPU peak is measured under track_memory (a Python allocator), which is stopped before the
steps are timed.
"""
from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from harness import device_params, full_size, ours_sync, timeit, torch_device, torch_sync
from workloads import init_params


MODES = ["none", "sqrt"]
HE_GAIN = math.sqrt(6.0)     # He-uniform: the 64-layer ReLU stack stays out of denormals


def _config(device, small):
    if full_size(device):
        return 64, 2048, 8192
    return (16, 64, 128) if small else (64, 256, 512)


def _segments(depth):
    return math.ceil(math.sqrt(depth))


def _input(batch, width):
    return np.random.default_rng(1).standard_normal((batch, width)).astype(np.float32)


class OursDeep:
    def __init__(self, depth, width, batch, device, mode):
        import cugrad
        from cugrad.nn import functional as F

        if mode == "sqrt" and not hasattr(cugrad, "checkpoint_sequential"):
            pytest.skip("cugrad.checkpoint_sequential does not exist yet (issue 5)")
        self.cugrad, self.mode, self.depth = cugrad, mode, depth
        self.params = []
        self.functions = []
        for w, b in init_params([width] * (depth + 1), seed=0, gain=HE_GAIN):
            w = cugrad.Tensor(w, device=device, requires_grad=True)
            b = cugrad.Tensor(b, device=device, requires_grad=True)
            self.params += [w, b]
            self.functions.append(lambda h, w=w, b=b: F.linear(h, w, b, activation="relu"))
        self.x = cugrad.Tensor(_input(batch, width), device=device)

    def step(self):
        for p in self.params:
            p.grad = None
        if self.mode == "sqrt":
            out = self.cugrad.checkpoint_sequential(self.functions, _segments(self.depth), self.x)
        else:
            out = self.x
            for f in self.functions:
                out = f(out)
        loss = self.cugrad.sum(out)
        loss.backward()
        return loss


class TorchDeep:
    def __init__(self, torch, depth, width, batch, device, mode):
        from torch.utils.checkpoint import checkpoint_sequential

        layers = []
        for w, b in init_params([width] * (depth + 1), seed=0, gain=HE_GAIN):
            lin = torch.nn.Linear(width, width)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(w))
                lin.bias.copy_(torch.from_numpy(b))
            layers += [lin, torch.nn.ReLU()]
        self.model = torch.nn.Sequential(*layers).to(device)
        self.x = torch.from_numpy(_input(batch, width)).to(device)
        self.mode, self.depth, self.cs = mode, depth, checkpoint_sequential

    def step(self):
        self.model.zero_grad(set_to_none=True)
        if self.mode == "sqrt":
            # segments over the 2·depth modules: ⌈√depth⌉ segments, each whole Linear+ReLU pairs
            out = self.cs(self.model, _segments(self.depth), self.x, use_reentrant=False)
        else:
            out = self.model(self.x)
        loss = out.sum()
        loss.backward()
        return loss


def _params_bytes(depth, width):
    return depth * (width * width + width) * 4


# --------------------------------------------------------------------------- memory probes

def _ours_peak(net, device):
    """Peak bytes above the start of one step, gradient buffers included (callers subtract them).
    CPU: tracemalloc sees only blocks allocated after it starts, so the step starts with no grads."""
    if device == "cuda":
        from cugrad import cuda as cgcuda
        cgcuda.synchronize()
        start = cgcuda.memory_allocated()
        cgcuda.reset_peak_memory_stats()
        net.step()
        cgcuda.synchronize()
        return cgcuda.max_memory_allocated() - start
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        net.step()
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


def _torch_peak(torch, net, device):
    if device != "cuda":
        return None
    torch.cuda.synchronize()
    start = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    net.step()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - start


# --------------------------------------------------------------------------- cases

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_checkpoint_cugrad(benchmark, device, small, mode):
    from cugrad import cuda as cgcuda

    if device == "cuda":
        cgcuda.track_memory()                # before the parameters are allocated
    try:
        depth, width, batch = _config(device, small)
        net = OursDeep(depth, width, batch, device, mode)
        net.step()                           # warm-up (kernel compilation, pools)
        peak = _ours_peak(net, device) - _params_bytes(depth, width)
    finally:
        cgcuda.stop_tracking_memory()        # time the steps with CuPy's own allocator
    timeit(benchmark, net.step, ours_sync(device), case=f"checkpoint_{mode}", impl="cugrad", device=device,
           depth=depth, width=width, batch=batch, peak_bytes=int(peak),
           params_bytes=_params_bytes(depth, width))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_checkpoint_torch(benchmark, device, small, mode):
    torch, dev = torch_device(device)
    depth, width, batch = _config(device, small)
    net = TorchDeep(torch, depth, width, batch, dev, mode)
    net.step()
    peak = _torch_peak(torch, net, device)
    if peak is not None:
        peak -= _params_bytes(depth, width)
    info = dict(case=f"checkpoint_{mode}", impl="torch", device=device, depth=depth, width=width,
                batch=batch, params_bytes=_params_bytes(depth, width))
    if peak is not None:
        info["peak_bytes"] = int(peak)
    timeit(benchmark, net.step, torch_sync(device), **info)


def test_checkpoint_cpu_memory_falls(small):
    """Not a timing: on the CPU the √n-checkpointed step's peak is well below the plain one's, with
    equal gradients. A sanity floor of 2× at 64 layers (√n segments with the last one run plainly
    keep ~2√n activations, so ~√n/2 = 4× is the ideal; issue 5's own test owns the ≥ 3× target)."""
    import cugrad
    if not hasattr(cugrad, "checkpoint_sequential"):
        pytest.skip("cugrad.checkpoint_sequential does not exist yet (issue 5)")
    depth, width, batch = 64, 128, 512
    plain, ckpt = (OursDeep(depth, width, batch, "cpu", m) for m in MODES)
    grads = _params_bytes(depth, width)
    p_plain, p_ckpt = _ours_peak(plain, "cpu") - grads, _ours_peak(ckpt, "cpu") - grads
    for a, b in zip(plain.params, ckpt.params):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())
    assert p_ckpt * 2 <= p_plain, (p_plain, p_ckpt)
