"""A run's per-epoch metrics outside its checkpoint: ``metrics.csv`` and TensorBoard event files.

``write_csv(path, history)`` rewrites the CSV from the whole history (atomically, so a resumed
run's file is whole too). ``TensorBoardLog(logdir)`` writes an epoch's scalars through
tensorboardX (``pip install 'cugrad[tensorboard]'``); use it from any training loop::

    with cugrad.runlog.TensorBoardLog("tb/run1") as tb:
        for epoch in range(1, epochs + 1):
            ...
            tb.write(epoch, {"loss/train": loss, "learning_rate": opt.param_groups[0]["lr"]})
"""
from __future__ import annotations

import csv
import io as _stringio
import math
import os

from .io import atomic_write

__all__ = ["CSV_FILE", "TAGS", "write_csv", "TensorBoardLog", "require_tensorboard"]

CSV_FILE = "metrics.csv"
# history key -> TensorBoard tag
TAGS = {"train_loss": "loss/train", "test_loss": "loss/test", "train_acc": "accuracy/train",
        "test_acc": "accuracy/test", "lr": "learning_rate", "samples_per_s": "samples_per_s"}


def write_csv(path, history: dict) -> None:
    """``history`` (key → list, one entry per epoch) as CSV with a header row; None is left empty."""
    keys = list(history)
    out = _stringio.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(keys)
    for row in zip(*(history[k] for k in keys)):
        w.writerow(["" if v is None else repr(float(v)) if isinstance(v, float) else v for v in row])
    atomic_write(path, out.getvalue().encode())


def require_tensorboard():
    """tensorboardX's SummaryWriter, or an ImportError saying which extra brings it."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise ImportError("TensorBoard logging needs the tensorboardX package: "
                          "pip install 'cugrad[tensorboard]'") from None
    return SummaryWriter


class TensorBoardLog:
    """Scalars per step as TensorBoard event files in ``logdir`` (made on the first write)."""

    def __init__(self, logdir):
        self._writer_class = require_tensorboard()
        self.logdir = os.fspath(logdir)
        self._writer = None

    def write(self, step: int, scalars: dict) -> None:
        """Record each of ``scalars`` (tag → number; None and non-finite values are left out) at ``step``."""
        if self._writer is None:
            self._writer = self._writer_class(logdir=self.logdir)
        for tag, value in scalars.items():
            if value is not None and math.isfinite(float(value)):
                self._writer.add_scalar(tag, float(value), int(step))
        self._writer.flush()

    def write_epoch(self, history: dict, index: int = -1) -> None:
        """Record epoch ``history["epoch"][index]`` of a cugrad-train history under :data:`TAGS`."""
        self.write(history["epoch"][index], {tag: history[key][index] for key, tag in TAGS.items() if key in history})

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
