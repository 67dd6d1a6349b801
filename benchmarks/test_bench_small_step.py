"""The seeds' net as a launch-bound step: N, D_in, H, D_out = 64, 1000, 100, 10; sigmoid hidden
layer, no biases, squared loss (sum), plain SGD at lr 1e-4 — forward + backward + update.

On a GPU each step is a few dozen tiny kernels, so Python and launch overhead decide the time:
eager cugrad vs eager PyTorch (0.65 ms/step on the lent H100). The captured step (CUDA-graph
replay) is timed in test_bench_captured_step.py.
"""
from __future__ import annotations

import numpy as np
import pytest

from harness import device_params, ours_sync, timeit, torch_device, torch_sync
from workloads import OursMLP, TorchMLP, init_params, make_batch

SEEDS_NET = (1000, 100, 10)
BATCH = 64
LR = 1e-4


def _ours(device):
    return OursMLP(SEEDS_NET, BATCH, device, lr=LR, activation="sigmoid", loss="mse", bias=False)


def _torch(torch, device, **kw):
    return TorchMLP(torch, SEEDS_NET, BATCH, device, lr=LR, activation="sigmoid", loss="mse", bias=False)


class NumpySeeds:
    """The seeds' 20 lines of NumPy, with W stored (out, in) like the others."""

    def __init__(self):
        (self.w1, _), (self.w2, _) = init_params(SEEDS_NET, bias=False)
        self.x, _ = make_batch(BATCH, SEEDS_NET[0], SEEDS_NET[-1])
        self.y = np.random.default_rng(2).standard_normal((BATCH, SEEDS_NET[-1])).astype(np.float32)

    def step(self):
        h = self.x @ self.w1.T
        np.negative(h, out=h)
        np.exp(h, out=h)
        h += 1
        np.reciprocal(h, out=h)
        y_pred = h @ self.w2.T
        grad = y_pred - self.y
        loss = float(np.square(grad).sum())
        grad *= 2
        gw2 = grad.T @ h
        gh = grad @ self.w2
        gh *= h
        gh *= 1 - h
        gw1 = gh.T @ self.x
        self.w1 -= LR * gw1
        self.w2 -= LR * gw2
        return loss


@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_small_step_cugrad(benchmark, device):
    net = _ours(device)
    net.step()
    timeit(benchmark, net.step, ours_sync(device), warmup=5, case="small_step", impl="cugrad",
           device=device, mode="eager")


@pytest.mark.parametrize("device", device_params(), indirect=True)
def test_small_step_torch(benchmark, device):
    torch, dev = torch_device(device)
    net = _torch(torch, dev)
    net.step()
    timeit(benchmark, net.step, torch_sync(device), warmup=5, case="small_step", impl="torch",
           device=device, mode="eager", optimizer=net.opt_kind)


def test_small_step_numpy(benchmark):
    net = NumpySeeds()
    timeit(benchmark, net.step, ours_sync("cpu"), warmup=5, case="small_step", impl="numpy",
           device="cpu", mode="eager")


def test_seeds_step_matches_numpy():
    """Not a timing: cugrad's seeds step equals the seeds' NumPy code from the same start."""
    ours, ref = _ours("cpu"), NumpySeeds()
    for _ in range(3):
        loss_ours, loss_ref = float(ours.step().item()), ref.step()
        assert loss_ours == pytest.approx(loss_ref, rel=1e-4)
    np.testing.assert_allclose(ours.layers[0][0].numpy(), ref.w1, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours.layers[1][0].numpy(), ref.w2, rtol=1e-4, atol=1e-6)
