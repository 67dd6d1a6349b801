"""``cugrad eval``: a training checkpoint's loss and accuracy on its test split or on other data."""
from __future__ import annotations

import os

import numpy as np

from .. import backend
from ..data import load_dataset
from .parser import CLIError
from .runs import (load_data, load_training_checkpoint, model_classes, resolve_device, result_line, score, split,
                   trained_model)


def run(args) -> int:
    """A checkpoint's loss and accuracy on its test split or on ``--data``, whose labels are mapped
    through the checkpoint's classes (a label it does not know is an error)."""
    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.labels and args.data is None:
        raise CLIError("--labels needs --data")
    ckpt = load_training_checkpoint(args.checkpoint)
    cfg = ckpt["config"]
    device = resolve_device(args.device)
    model = trained_model(ckpt, args.checkpoint)
    model.to(device)
    if args.data is None:
        _, ds = split(load_data(cfg, model_classes(cfg)), cfg)
        label = "test"
    else:
        ds = load_dataset(args.data, labels=args.labels, task=cfg["task_kind"], classes=model_classes(cfg))
        label = os.path.basename(args.data)
    if ds.n_features != cfg["n_features"]:
        raise CLIError(f"{args.data or cfg['data']!r} has {ds.n_features} feature(s); the model in "
                       f"{args.checkpoint!r} expects {cfg['n_features']}")
    if ds.n_outputs != cfg["n_outputs"]:
        raise CLIError(f"{args.data!r} has {ds.n_outputs} target column(s); the model in {args.checkpoint!r} "
                       f"predicts {cfg['n_outputs']}")
    norm = ckpt["normalize"]
    X = (ds.X - norm["mean"]) / norm["std"]
    with backend.device_context(device):
        Xd, yd = backend.to_device(X.astype(np.float32), device), backend.to_device(ds.y, device)
        loss, acc = score(model, Xd, yd, ds.task, args.batch_size)
    print(f"{label}: {len(ds)} samples, loss {loss:.4f}")
    if label == "test":
        print(result_line(ds.task, acc, loss))
    else:
        print(f"accuracy: {acc:.3f}" if ds.task == "classification" else f"mse: {loss:.4g}")
    return 0
