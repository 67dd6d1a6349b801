"""The seeds' two-layer net, one SGD step: flat NumPy (seed 000's loop body, verbatim) against
cugrad on the CPU (forward, loss.backward(), update under no_grad), spelled two ways: with the
fused loss (``F.mse_loss``) and the way a user writes it, ``(((x @ w1).sigmoid() @ w2 - y) ** 2).sum()``.

N, D_in, H, D_out = 64, 1000, 100, 10; sigmoid hidden layer; squared loss; lr 1e-4; float32.
Both benchmarks share the group "seed-net-step"; benchmarks/conftest.py prints the ratio of their
medians at the end of the session (targets: cugrad <= 1.3x flat NumPy, the natural spelling
<= 1.25x). Run:

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=src python -m pytest benchmarks/test_bench_seed_net.py \
        --benchmark-min-rounds=200

On a small shared machine, prefix OPENBLAS_NUM_THREADS=1: with two BLAS threads competing with
other load the medians measure scheduling, not the step.

Every round is one step from the same initial weights (restored, untimed, before it), and every
contender runs the same ROUNDS: the weights drift as the net trains, and with them how many hidden
units saturate and how many of e^-x's results are float32 subnormals, which moved the flat step's
median between about 330 and 770 µs with the round count when each contender trained on.
"""
from __future__ import annotations

import numpy as np
import pytest

import cugrad
from cugrad.nn import functional as F

from harness import record_median

N, D_in, H, D_out = 64, 1000, 100, 10
GROUP = "seed-net-step"
ROUNDS = 300


def time_steps(benchmark, step, weights, initial):
    """Time ``step`` for ROUNDS rounds, each from ``initial`` (copied into the ``weights`` arrays
    untimed before it); the last round's result."""
    def restore():
        for w, w0 in zip(weights, initial):
            w[...] = w0
    return benchmark.pedantic(step, setup=restore, rounds=ROUNDS, iterations=1, warmup_rounds=3)


def sgd_update(*weights):
    """The seed's update, in place under no_grad, then the gradients cleared."""
    with cugrad.no_grad():
        for w in weights:
            w -= 1e-4 * w.grad
            w.grad = None


@pytest.fixture
def data():
    """Same float32 init for both contenders: x, y, w1, w2."""
    rng = np.random.default_rng(0)
    return tuple(rng.standard_normal(shape, dtype=np.float32)
                 for shape in ((N, D_in), (N, D_out), (D_in, H), (H, D_out)))


@pytest.mark.benchmark(group=GROUP)
def test_seed_net_step_flat_numpy(benchmark, data):
    x, y, w1, w2 = (a.copy() for a in data)

    def step():
        nonlocal w1, w2  # the seed's loop updates module-level names; here the closure's
        h = 1 / (1 + np.exp(-x.dot(w1)))
        y_pred = h.dot(w2)
        loss = np.square(y_pred - y).sum()

        grad_y_pred = 2.0 * (y_pred - y)
        grad_w2 = h.T.dot(grad_y_pred)
        grad_h = grad_y_pred.dot(w2.T)
        grad_w1 = x.T.dot(grad_h * h * (1 - h))

        w1 -= 1e-4 * grad_w1
        w2 -= 1e-4 * grad_w2
        return loss

    with np.errstate(over="ignore"):  # e^-x overflows to inf in float32; 1/(1+inf) = 0 is right
        loss = time_steps(benchmark, step, (w1, w2), data[2:])
    assert np.isfinite(loss)
    record_median(benchmark, "flat NumPy")


def time_cugrad_steps(benchmark, data, loss_of, label):
    """Time a cugrad step (``loss_of(x, y, w1, w2)``, backward, the seed's update) and record it."""
    x, y = cugrad.tensor(data[0]), cugrad.tensor(data[1])
    w1 = cugrad.tensor(data[2], requires_grad=True)
    w2 = cugrad.tensor(data[3], requires_grad=True)

    def step():
        loss = loss_of(x, y, w1, w2)
        loss.backward()
        sgd_update(w1, w2)
        return loss

    loss = time_steps(benchmark, step, (w1.data, w2.data), data[2:])
    assert np.isfinite(loss.item())
    record_median(benchmark, label)


@pytest.mark.benchmark(group=GROUP)
def test_seed_net_step_cugrad_cpu(benchmark, data):
    time_cugrad_steps(benchmark, data, lambda x, y, w1, w2: F.mse_loss(F.sigmoid(x @ w1) @ w2, y, reduction="sum"),
                      "cugrad CPU")


@pytest.mark.benchmark(group=GROUP)
def test_seed_net_step_cugrad_cpu_natural(benchmark, data):
    time_cugrad_steps(benchmark, data, lambda x, y, w1, w2: (((x @ w1).sigmoid() @ w2 - y) ** 2).sum(),
                      "cugrad CPU, natural spelling")
