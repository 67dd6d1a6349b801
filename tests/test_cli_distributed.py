"""``mpiexec -n 2 cugrad train``: the same run as one process, one set of outputs, resume from every
rank, and one error line when any rank fails (the mpiexec helpers are test_distributed's)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from cugrad.cli.runs import load_training_checkpoint
from test_distributed import SRC, mpiexec

FLAGS = ["--samples", "200", "--hidden", "32,32", "--schedule", "constant", "--batch-size", "64", "--no-progress", "--seed", "3"]


def _env():
    return dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
                OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))


def cugrad(*args, ranks=None, timeout=120, prefix=()):
    cmd = [*prefix, sys.executable, "-m", "cugrad", *args]
    if ranks is not None:
        cmd = [mpiexec(), "-n", str(ranks), *cmd]
    start = time.monotonic()
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=timeout)
    return proc, time.monotonic() - start


def _history(path):
    ckpt = load_training_checkpoint(str(path / "model.safetensors"))
    return ckpt["history"], ckpt["model"]


def test_two_ranks_train_and_resume_like_one_process(tmp_path):
    one, _ = cugrad("train", *FLAGS, "--epochs", "4", "--no-plots", "--out", str(tmp_path), "--name", "one")
    assert one.returncode == 0, one.stderr
    two, _ = cugrad("train", *FLAGS, "--epochs", "2", "--out", str(tmp_path), "--name", "two", ranks=2)
    assert two.returncode == 0, two.stderr
    # one set of outputs: rank 0's lines once, its files only
    assert two.stdout.count("cugrad train: spiral") == 1 and two.stdout.count("test accuracy:") == 1
    assert " · 2 ranks (device cpu on rank 0)" in two.stdout
    assert sorted(os.listdir(tmp_path / "two")) == ["boundary.png", "curves.png", "metrics.csv", "model.safetensors"]
    resumed, _ = cugrad("train", "--resume", str(tmp_path / "two" / "model.safetensors"), "--epochs", "4",
                        "--no-plots", "--no-progress", ranks=2)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.count("resuming from") == 1
    h1, w1 = _history(tmp_path / "one")
    h2, w2 = _history(tmp_path / "two")
    assert h2["epoch"] == h1["epoch"] == [1, 2, 3, 4]
    assert h2["test_acc"] == h1["test_acc"]
    np.testing.assert_allclose(h2["test_loss"], h1["test_loss"], rtol=1e-5)
    np.testing.assert_allclose(h2["train_loss"], h1["train_loss"], rtol=1e-5)
    np.testing.assert_allclose(h2["train_acc"], h1["train_acc"], rtol=0, atol=1e-12)
    for name in w1:
        np.testing.assert_allclose(np.asarray(w2[name]), np.asarray(w1[name]), rtol=0, atol=1e-5)


def test_batch_not_divisible_by_ranks_is_one_error_line(tmp_path):
    proc, seconds = cugrad("train", *FLAGS[:-5], "--batch-size", "63", "--out", str(tmp_path), ranks=2)
    assert proc.returncode != 0 and seconds < 30
    lines = [line for line in proc.stderr.splitlines() if line.startswith("cugrad:")]
    assert lines == ["cugrad: error: rank 0 of 2: --batch-size 63 is the global batch and must be divisible by "
                     "the 2 ranks; try 62 or 64"]
    assert not os.listdir(tmp_path)


def test_a_rank_failing_alone_ends_every_rank(tmp_path):
    """Rank 1 cannot read its data while rank 0 waits for it in a collective."""
    script = ('if [ "${PMI_RANK:-$OMPI_COMM_WORLD_RANK}" = 1 ]; then set -- "$@" --data "$0/missing.csv"; fi; '
              'exec "$@"')
    proc, seconds = cugrad("train", *FLAGS[2:], "--epochs", "1", "--out", str(tmp_path), ranks=2,
                           prefix=("sh", "-c", script, str(tmp_path)))
    assert proc.returncode != 0 and seconds < 30
    lines = [line for line in proc.stderr.splitlines() if line.startswith("cugrad:")]
    assert len(lines) == 1 and lines[0].startswith("cugrad: error: rank 1 of 2: "), proc.stderr
    assert "missing.csv" in lines[0]
