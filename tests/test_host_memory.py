"""backend.keep_host_memory: on glibc, importing cugrad fixes malloc's mmap and trim thresholds, so
a training step that frees its gradients and temporaries and allocates them again next step reuses
the same memory instead of faulting fresh pages in every step."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import pytest

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")

# The seeds' net (64×1000 → 100 → 10) trained with the natural spelling: each step frees w.grad
# (400 kB for w1) and the update's temporary, and allocates both again.
STEP_FAULTS = textwrap.dedent("""
    import resource
    import numpy as np
    import cugrad
    rng = np.random.default_rng(0)
    x, y, w1, w2 = (rng.standard_normal(s, dtype=np.float32) for s in ((64, 1000), (64, 10), (1000, 100), (100, 10)))
    x, y = cugrad.tensor(x), cugrad.tensor(y)
    w1, w2 = cugrad.tensor(w1, requires_grad=True), cugrad.tensor(w2, requires_grad=True)

    def step():
        loss = (((x @ w1).sigmoid() @ w2 - y) ** 2).sum()
        loss.backward()
        with cugrad.no_grad():
            for w in (w1, w2):
                w -= 1e-4 * w.grad
                w.grad = None

    for _ in range(50):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(100):
        step()
    print(cugrad.backend.HOST_MEMORY_KEPT, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 100)
""")


def run_steps(keep: str):
    env = dict(os.environ, CUGRAD_KEEP_HOST_MEMORY=keep, OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", STEP_FAULTS], env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    return out[0] == "True", float(out[1])


@glibc_only
def test_a_training_step_reuses_its_memory():
    kept, faults_per_step = run_steps("1")
    assert kept
    assert faults_per_step < 2      # 169 a step with glibc's default thresholds (measured on Linux x86-64)


@glibc_only
def test_the_environment_variable_leaves_malloc_alone():
    kept, _ = run_steps("0")
    assert not kept
