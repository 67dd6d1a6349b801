"""Captured training steps: cugrad's ``compile_step`` replay against PyTorch eager and PyTorch's own
CUDA-graphed step (``torch.cuda.graph``), forward + backward + update, float32 (no TF32).

Nets: the seeds' 64×1000→100→10 (sigmoid, squared loss, no biases, lr 1e-4) and the headline
1024→4096×4→10 at batch 8192 (ReLU, softmax-CE); each with SGD and with Adam (lr 1e-3; cugrad's
and PyTorch's graphed step with ``capturable=True``, PyTorch eager without). Every case group
``captured_<net>_<opt>`` holds impl ``cugrad`` (replays), ``torch`` (eager) and ``torch-graphed``;
the report (cugrad.cli.bench_report) gives ours / PyTorch eager as the ratio, the graphed time in
the notes, and checks the issue's target (seeds' net, SGD: captured ≥ 4× faster than PyTorch eager).

On the CPU (the .ci/run dry run of gpu_check.sh) and on the CuPy stand-in the headline shrinks
(harness.full_size); on the CPU compile_step runs the step eagerly and PyTorch's cases that need
CUDA skip.
"""
from __future__ import annotations

import math

import pytest

from harness import device_params, full_size, ours_sync, timeit, torch_device, torch_sync
from workloads import HEADLINE, HEADLINE_BATCH, OursMLP, TorchMLP, ours_precision, torch_precision

NETS = {
    "seeds": dict(sizes=(1000, 100, 10), batch=64, activation="sigmoid", loss="mse", bias=False),
    "headline": dict(sizes=HEADLINE, batch=HEADLINE_BATCH, activation="relu", loss="xent", bias=True),
}
SMALL_NETS = {"seeds": NETS["seeds"], "headline": dict(NETS["headline"], sizes=(64, 128, 128, 10), batch=64)}
LR = {"sgd": 1e-4, "adam": 1e-3}
CASES = [(net, opt) for net in NETS for opt in LR]
WARMUP_STEPS = 3


def _config(device, net, opt):
    cfg = dict((NETS if full_size(device) else SMALL_NETS)[net])
    return cfg.pop("sizes"), cfg.pop("batch"), dict(cfg, lr=LR[opt], opt=opt)


def _finite(loss):
    value = float(loss.item())
    assert math.isfinite(value), f"loss is {value}"


@pytest.mark.parametrize("net, opt", CASES)
@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_captured_step_cugrad(benchmark, device, net, opt):
    import cugrad

    sizes, batch, kw = _config(device, net, opt)
    with ours_precision("fp32"):
        model = OursMLP(sizes, batch, device, **kw)
        step = cugrad.compile_step(model.step)
        for _ in range(WARMUP_STEPS):       # warm-up, capture (+ its first replay), one more replay
            loss = step()
        _finite(loss)
        assert step.captured == (device == "cuda")
        timeit(benchmark, step, ours_sync(device), case=f"captured_{net}_{opt}", impl="cugrad", device=device,
               mode="compile_step")


@pytest.mark.parametrize("net, opt", CASES)
@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_captured_step_torch_eager(benchmark, device, net, opt):
    torch, dev = torch_device(device)
    sizes, batch, kw = _config(device, net, opt)
    with torch_precision(torch, "fp32"):
        model = TorchMLP(torch, sizes, batch, dev, **kw)
        _finite(model.step())
        timeit(benchmark, model.step, torch_sync(device), case=f"captured_{net}_{opt}", impl="torch", device=device,
               mode="eager", optimizer=model.opt_kind)


@pytest.mark.parametrize("net, opt", CASES)
@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_captured_step_torch_graphed(benchmark, device, net, opt):
    """PyTorch's documented whole-step capture: warm up on a side stream, capture, replay."""
    if device != "cuda":
        pytest.skip("torch.cuda.graph needs a CUDA device")
    torch, dev = torch_device(device)
    sizes, batch, kw = _config(device, net, opt)
    with torch_precision(torch, "fp32"):
        model = TorchMLP(torch, sizes, batch, dev, capturable=True, **kw)
        if opt == "sgd":
            model.opt = torch.optim.SGD(model.model.parameters(), lr=kw["lr"], foreach=True)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARMUP_STEPS):
                model.step()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        model.opt.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph):
            loss = model.loss()
            loss.backward()
            model.opt.step()
        graph.replay()
        _finite(loss)
        timeit(benchmark, graph.replay, torch_sync(device), case=f"captured_{net}_{opt}", impl="torch-graphed",
               device=device, mode="torch.cuda.graph")
