"""A run's metrics outside its checkpoint: metrics.csv, and TensorBoard event files read back with
TensorBoard's own event reader, both equal to the history the checkpoint holds."""
from __future__ import annotations

import csv
import os

import numpy as np
import pytest
from optional import need

from cugrad import io, runlog
from cugrad.cli import main

FAST = ["--samples", "60", "--epochs", "3", "--hidden", "8", "--no-progress", "--no-plots"]


def _events(logdir):
    """{tag: [(step, value)]} through TensorBoard's EventAccumulator."""
    ea_module = need("tensorboard.backend.event_processing.event_accumulator", "tensorboard")
    acc = ea_module.EventAccumulator(str(logdir), size_guidance={ea_module.SCALARS: 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _history(run):
    return io.load(os.path.join(run, "model.safetensors"))["history"]


def _csv(run):
    with open(os.path.join(run, "metrics.csv"), newline="") as f:
        return list(csv.DictReader(f))


def test_train_writes_tensorboard_events_equal_to_its_history(workdir):
    need("tensorboardX", "'.[tensorboard]'")
    assert main(["train", "--data", "xor", *FAST, "--name", "tb", "--tensorboard", "tb-logs/run1"]) == 0
    history = _history("runs/tb")
    events = _events(workdir / "tb-logs" / "run1")
    assert set(events) == {"loss/train", "loss/test", "accuracy/train", "accuracy/test", "learning_rate",
                           "samples_per_s"}
    for key, tag in runlog.TAGS.items():
        steps = [s for s, _ in events[tag]]
        values = np.array([v for _, v in events[tag]])
        assert steps == history["epoch"] == [1, 2, 3]
        np.testing.assert_array_equal(values, np.float32(history[key]))    # TensorBoard keeps float32
    assert history["lr"][0] == 0.01 and history["lr"][1] < history["lr"][0]   # cosine schedule, per epoch
    assert all(r > 0 for r in history["samples_per_s"])


def test_metrics_csv_is_the_history_and_grows_on_resume(workdir):
    assert main(["train", "--data", "regression", *FAST, "--epochs", "2", "--name", "m"]) == 0
    rows = _csv("runs/m")
    history = _history("runs/m")
    assert list(rows[0]) == list(history)
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    for key in ("train_loss", "test_loss", "lr", "samples_per_s", "seconds"):
        assert [float(r[key]) for r in rows] == history[key]        # repr() round-trips exactly
    assert [r["train_acc"] for r in rows] == ["", ""]               # regression: no accuracy
    assert main(["train", "--resume", "runs/m/model.safetensors", "--epochs", "3", "--no-progress",
                 "--no-plots"]) == 0
    assert [int(r["epoch"]) for r in _csv("runs/m")] == [1, 2, 3]


def test_resuming_a_checkpoint_without_lr_columns_leaves_them_empty(workdir):
    assert main(["train", "--data", "xor", *FAST, "--epochs", "1", "--name", "old"]) == 0
    path = "runs/old/model.safetensors"
    ckpt = io.load(path)
    for key in ("lr", "samples_per_s"):
        del ckpt["history"][key]
    io.save(ckpt, path)
    assert main(["train", "--resume", path, "--epochs", "2", "--no-progress", "--no-plots"]) == 0
    rows = _csv("runs/old")
    assert [r["lr"] for r in rows][0] == "" and float(rows[1]["lr"]) > 0


@pytest.mark.parametrize("lr", [[0.01], ["fast", 0.01]], ids=["short", "text"])
def test_a_damaged_lr_column_is_a_corrupt_checkpoint(workdir, capsys, lr):
    assert main(["train", "--data", "xor", *FAST, "--epochs", "2", "--name", "bad"]) == 0
    path = "runs/bad/model.safetensors"
    ckpt = io.load(path)
    ckpt["history"]["lr"] = lr
    io.save(ckpt, path)
    capsys.readouterr()
    assert main(["eval", path]) == 1
    assert "its history is not lists of numbers of equal length for epoch, train_loss, train_acc, test_loss, " \
           "test_acc, seconds, lr, samples_per_s" in capsys.readouterr().err


def test_missing_tensorboardx_is_one_clear_error_and_writes_nothing(workdir, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_tensorboardx(name, *args, **kwargs):
        if name.startswith("tensorboardX"):
            raise ImportError("No module named 'tensorboardX'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboardx)
    assert main(["train", "--data", "xor", *FAST, "--name", "x", "--tensorboard", "tb"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["cugrad: error: --tensorboard: TensorBoard logging needs the tensorboardX package: "
                   "pip install 'cugrad[tensorboard]'"]
    assert not (workdir / "runs").exists() and not (workdir / "tb").exists()


def test_tensorboard_log_from_a_python_loop(tmp_path):
    need("tensorboardX", "'.[tensorboard]'")
    with runlog.TensorBoardLog(tmp_path / "loop") as tb:
        for step, loss in enumerate([0.9, 0.5, float("nan"), 0.25], start=1):
            tb.write(step, {"loss": loss, "skipped": None})
    assert _events(tmp_path / "loop") == {"loss": [(1, np.float32(0.9)), (2, 0.5), (4, 0.25)]}
