"""The seeds' net trained continuously, as issue 15 measured it: 2000 SGD steps from the same init,
flat NumPy (the seed's loop body) against cugrad's natural spelling, CPU time, best of 3 runs.
(test_bench_seed_net.py times single steps from fixed weights under pytest-benchmark; this one keeps
training, so it also sees what a long run does to memory.) Run:

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=src python benchmarks/seed_net_continuous.py
"""
from __future__ import annotations

import time

import numpy as np

import cugrad

N, D_in, H, D_out = 64, 1000, 100, 10
STEPS, RUNS = 2000, 3
LR = 1e-4


def initial_arrays():
    """x, y, w1, w2 in float32, the same for both contenders."""
    rng = np.random.default_rng(0)
    return tuple(rng.standard_normal(shape, dtype=np.float32)
                 for shape in ((N, D_in), (N, D_out), (D_in, H), (H, D_out)))


def flat_numpy() -> float:
    x, y, w1, w2 = initial_arrays()
    start = time.process_time()
    with np.errstate(over="ignore"):   # e^-x overflows to inf in float32; 1/(1+inf) = 0 is right
        for _ in range(STEPS):
            h = 1 / (1 + np.exp(-x.dot(w1)))
            y_pred = h.dot(w2)
            loss = np.square(y_pred - y).sum()   # noqa: F841 - the seed computes it; so does cugrad
            grad_y_pred = 2.0 * (y_pred - y)
            grad_w2 = h.T.dot(grad_y_pred)
            grad_h = grad_y_pred.dot(w2.T)
            grad_w1 = x.T.dot(grad_h * h * (1 - h))
            w1 -= LR * grad_w1
            w2 -= LR * grad_w2
    return time.process_time() - start


def cugrad_natural() -> float:
    x, y, w1, w2 = initial_arrays()
    x, y = cugrad.tensor(x), cugrad.tensor(y)
    w1, w2 = cugrad.tensor(w1, requires_grad=True), cugrad.tensor(w2, requires_grad=True)
    start = time.process_time()
    for _ in range(STEPS):
        loss = (((x @ w1).sigmoid() @ w2 - y) ** 2).sum()
        loss.backward()
        with cugrad.no_grad():
            for w in (w1, w2):
                w -= LR * w.grad
                w.grad = None
    return time.process_time() - start


if __name__ == "__main__":
    flat = min(flat_numpy() for _ in range(RUNS))
    natural = min(cugrad_natural() for _ in range(RUNS))
    print(f"{STEPS} steps: flat NumPy {flat:.3f} s, cugrad natural spelling {natural:.3f} s "
          f"= {natural / flat:.2f}x")
