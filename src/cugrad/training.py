"""The training and evaluation runs behind ``cugrad train`` and ``cugrad eval``.

From parsed flags to a model: the run's configuration (and what a resumed run must keep), the data
and its split, the MLP and its optimizer, the loop with its progress bar, and a checkpoint written
atomically after every epoch. User errors raise :class:`CLIError` naming the flag or file at fault.
"""
from __future__ import annotations

import math
import os
import sys
import time

import numpy as np
from tqdm.auto import tqdm

from . import backend, io, nn, optim, plots
from . import random as cg_random
from .autograd import no_grad
from .data import BUILTIN_DATASETS, DataLoader, load_dataset, train_test_split
from .nn import functional as F
from .optim import lr_scheduler
from .precision import set_matmul_precision
from .tensor import Tensor

CHECKPOINT_KIND = "cugrad-train"
CHECKPOINT_FILE = "model.safetensors"

# `train` defaults, applied after parsing so that --resume can tell which flags were given
TRAIN_DEFAULTS = {
    "data": "spiral", "samples": None, "labels": None, "task": None, "hidden": "128,128",
    "activation": "relu", "dropout": 0.0, "batch_size": 128, "epochs": 30, "lr": None,
    "optimizer": "adam", "momentum": 0.9, "weight_decay": 0.0, "schedule": "cosine",
    "test_fraction": 0.2, "seed": 0, "checkpoint": "none",
}
DEFAULT_LR = {"sgd": 0.1, "adam": 1e-2, "adamw": 1e-2}
DEFAULT_SAMPLES = {"spiral": 1000, "donut": 500, "xor": 500, "blobs": 500, "regression": 2000}
# settings that define the model, the data and the update rule: a resumed run must keep them
RESUME_FIXED = ("data", "samples", "labels", "task", "hidden", "activation", "dropout", "batch_size",
                "optimizer", "lr", "momentum", "weight_decay", "schedule", "test_fraction", "seed")


class CLIError(Exception):
    """A user error: printed as one line, exit status ``code``."""

    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


def _note(message: str) -> None:
    print(f"cugrad: note: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- shared by train and eval

def parse_hidden(values) -> list[int]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    parts = [p for v in values for p in v.replace(",", " ").split()]
    if parts in ([], ["none"], ["0"]):
        return []
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        raise CLIError(f"--hidden expects positive integers such as 64,64, got {' '.join(values)!r}") from None
    if any(s < 1 for s in sizes):
        raise CLIError(f"--hidden sizes must be >= 1, got {sizes}")
    return sizes


def parse_checkpoint(value):
    if value in (None, "none", "0"):
        return None
    if value == "sqrt":
        return "sqrt"
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise CLIError(f"--checkpoint expects none, sqrt or a positive number of segments, got {value!r}")
    return n


def resolve_device(spec: str):
    if spec in (None, "auto"):
        return backend.default_device()
    try:
        return backend.get_device(spec)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise CLIError(f"--device {spec}: {exc}") from None


def _load_data(cfg):
    name = cfg["data"]
    kwargs = {}
    if name in BUILTIN_DATASETS:
        kwargs["seed"] = cfg["seed"]
        n = cfg["samples"] or DEFAULT_SAMPLES[name]
        if n < 1:
            raise CLIError(f"--samples must be >= 1, got {n}")
        kwargs["n_samples" if name == "regression" else "n_per_class"] = n
    elif cfg["samples"] is not None:
        raise CLIError("--samples applies to built-in data sets, not to data files")
    return load_dataset(name, labels=cfg["labels"], task=cfg["task"], **kwargs)


def _split(ds, cfg):
    if not 0.0 < cfg["test_fraction"] < 1.0:
        raise CLIError(f"--test-fraction must lie in (0, 1), got {cfg['test_fraction']}")
    if len(ds) < 2:
        raise CLIError(f"data set {cfg['data']!r} has {len(ds)} sample(s); training needs at least 2")
    return train_test_split(ds, cfg["test_fraction"], seed=cfg["seed"])


def _build_model(cfg):
    sizes = [cfg["n_features"], *cfg["hidden_sizes"], cfg["n_outputs"]]
    return nn.MLP(sizes, activation=cfg["activation"], dropout=cfg["dropout"],
                  checkpoint=parse_checkpoint(cfg.get("checkpoint")))


def _score(model, X, y, task, batch_size=8192):
    """(loss, accuracy or None) over device arrays X, y without recording."""
    was_training = model.training
    model.eval()
    total_loss, correct, n = 0.0, 0, len(X)
    with no_grad():
        for lo in range(0, n, batch_size):
            xb, yb = Tensor._wrap(X[lo:lo + batch_size]), Tensor._wrap(y[lo:lo + batch_size])
            out = model(xb)
            if task == "classification":
                total_loss += float(F.cross_entropy(out, yb, reduction="sum").item())
                correct += int((out.data.argmax(axis=1) == yb.data).sum())
            else:
                total_loss += float(F.mse_loss(out, yb, reduction="sum").item()) / out.shape[1]
    model.train(was_training)
    return total_loss / n, (correct / n if task == "classification" else None)


def _normalizer(X):
    mean = X.mean(axis=0).astype(np.float32)
    std = X.std(axis=0).astype(np.float32)
    std[std < 1e-12] = 1.0
    return mean, std


def _result_line(task, acc, loss) -> str:
    return f"test accuracy: {acc:.3f}" if task == "classification" else f"test mse: {loss:.4g}"


# --------------------------------------------------------------------------- train

def _train_config(args, resumed):
    given = {k: getattr(args, k) for k in TRAIN_DEFAULTS if getattr(args, k, None) is not None}
    if resumed is not None:
        old = resumed["config"]
        for key in RESUME_FIXED:
            if key in given:
                new = parse_hidden(given[key]) if key == "hidden" else given[key]
                was = old["hidden_sizes"] if key == "hidden" else old.get(key)
                if new != was:
                    flag = "--" + key.replace("_", "-")
                    raise CLIError(f"{flag} {new} does not match the checkpoint being resumed ({was}); "
                                   f"leave it out to keep the checkpoint's setting")
        cfg = dict(old)
        for key in ("epochs", "checkpoint"):
            if key in given:
                cfg[key] = given[key]
        return cfg
    cfg = {**TRAIN_DEFAULTS, **given}
    cfg["hidden_sizes"] = parse_hidden(cfg.pop("hidden"))
    if cfg["lr"] is None:
        cfg["lr"] = DEFAULT_LR[cfg["optimizer"]]
    return cfg


def _validate(cfg):
    checks = [
        (cfg["epochs"] >= 1, f"--epochs must be >= 1, got {cfg['epochs']}"),
        (cfg["batch_size"] >= 1, f"--batch-size must be >= 1, got {cfg['batch_size']}"),
        (math.isfinite(cfg["lr"]) and cfg["lr"] > 0, f"--lr must be > 0, got {cfg['lr']}"),
        (0.0 <= cfg["momentum"] < 1.0, f"--momentum must lie in [0, 1), got {cfg['momentum']}"),
        (cfg["weight_decay"] >= 0, f"--weight-decay must be >= 0, got {cfg['weight_decay']}"),
        (0.0 <= cfg["dropout"] < 1.0, f"--dropout must lie in [0, 1), got {cfg['dropout']}"),
    ]
    for ok, msg in checks:
        if not ok:
            raise CLIError(msg)
    parse_checkpoint(cfg["checkpoint"])


def _make_optimizer(cfg, params):
    if cfg["optimizer"] == "sgd":
        return optim.SGD(params, lr=cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["weight_decay"])
    cls = optim.Adam if cfg["optimizer"] == "adam" else optim.AdamW
    return cls(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])


def _run_dir(args, cfg, resume_path):
    if args.out is None and args.name is None and resume_path is not None:
        return os.path.dirname(os.path.abspath(resume_path))
    out = args.out or "runs"
    if args.name:
        if os.sep in args.name or args.name in (".", ".."):
            raise CLIError(f"--name must be a plain name, got {args.name!r}")
        return os.path.join(out, args.name)
    stem = os.path.splitext(os.path.basename(str(cfg["data"])))[0] or "run"
    base = os.path.join(out, f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}")
    path, k = base, 2
    while os.path.exists(path):
        path, k = f"{base}-{k}", k + 1
    return path


def _load_training_checkpoint(path):
    ckpt = io.load(path)
    if not isinstance(ckpt, dict) or ckpt.get("kind") != CHECKPOINT_KIND:
        raise io.CheckpointError(f"checkpoint {path!r} was not written by 'cugrad train' (no training state in it)")
    missing = [k for k in ("config", "model", "optimizer", "loader", "rng", "normalize", "history") if k not in ckpt]
    if missing:
        raise io.CheckpointError(f"checkpoint {path!r} lacks {', '.join(missing)}")
    return ckpt


def train(args) -> int:
    """``cugrad train``: train (or resume) a run, write its checkpoint every epoch and its pictures."""
    resumed = _load_training_checkpoint(args.resume) if args.resume else None
    cfg = _train_config(args, resumed)
    _validate(cfg)
    device = resolve_device(args.device)
    set_matmul_precision(args.precision)  # float32 matmuls on GPU; the CPU always computes in fp32

    ds = _load_data(cfg)
    train_ds, test_ds = _split(ds, cfg)
    task = ds.task
    if resumed is None:
        cfg.update(task_kind=task, n_features=ds.n_features, n_outputs=ds.n_outputs, classes=ds.classes,
                   num_classes=ds.num_classes)
        mean, std = _normalizer(train_ds.X)
    else:
        if ds.n_features != cfg["n_features"] or ds.n_outputs != cfg["n_outputs"]:
            raise CLIError(f"data {cfg['data']!r} now has {ds.n_features} features / {ds.n_outputs} outputs, "
                           f"the checkpoint's model has {cfg['n_features']} / {cfg['n_outputs']}")
        mean, std = resumed["normalize"]["mean"], resumed["normalize"]["std"]

    cg_random.manual_seed(cfg["seed"])
    model = _build_model(cfg)
    model.to(device)
    opt = _make_optimizer(cfg, model.parameters())
    Xtr = (train_ds.X - mean) / std
    Xte = (test_ds.X - mean) / std
    loader = DataLoader((Xtr, train_ds.y), cfg["batch_size"], shuffle=True, seed=cfg["seed"], device=device)
    steps_per_epoch = len(loader)
    if cfg["schedule"] == "cosine":
        sched = lr_scheduler.CosineAnnealingLR(opt, T_max=cfg["epochs"] * steps_per_epoch)
    else:
        sched = lr_scheduler.ConstantLR(opt)
    history = {"epoch": [], "train_loss": [], "train_acc": [], "test_loss": [], "test_acc": [], "seconds": []}
    start_epoch = 0
    if resumed is not None:
        try:
            model.load_state_dict(resumed["model"])
            opt.load_state_dict(resumed["optimizer"])
            loader.load_state_dict(resumed["loader"])
        except ValueError as exc:
            raise CLIError(f"cannot resume from {args.resume!r}: {exc}") from None
        sched.load_state_dict(resumed["scheduler"])
        cg_random.set_rng_state(resumed["rng"])
        history = {k: list(v) for k, v in resumed["history"].items()}
        start_epoch = loader.epoch
        if start_epoch >= cfg["epochs"]:
            raise CLIError(f"checkpoint {args.resume!r} already has {start_epoch} epochs; pass --epochs N with "
                           f"N > {start_epoch} to train further")

    with backend.device_context(device):
        Xte_d, yte_d = backend.to_device(Xte, device), backend.to_device(test_ds.y, device)
    run_dir = _run_dir(args, cfg, args.resume)
    ckpt_path = os.path.join(run_dir, CHECKPOINT_FILE)
    n_params = model.num_parameters()
    arch = "→".join(str(s) for s in [cfg["n_features"], *cfg["hidden_sizes"], cfg["n_outputs"]])
    what = f"{cfg['num_classes']} classes" if task == "classification" else f"{cfg['n_outputs']} target(s)"
    print(f"cugrad train: {cfg['data']} ({len(train_ds)} train / {len(test_ds)} test, {cfg['n_features']} features, "
          f"{what}) · MLP {arch} {cfg['activation']} ({n_params:,} parameters) · {cfg['optimizer']} lr {cfg['lr']:g} "
          f"· batch {cfg['batch_size']} · {cfg['epochs']} epochs · device {device}", flush=True)
    if resumed is not None:
        print(f"resuming from {args.resume} at epoch {start_epoch}, batch {loader.position}", flush=True)

    total_steps = cfg["epochs"] * steps_per_epoch
    done_steps = start_epoch * steps_per_epoch + loader.position
    bar = tqdm(total=total_steps, initial=done_steps, disable=args.no_progress, unit="step", dynamic_ncols=True,
               file=sys.stderr, leave=False)
    os.makedirs(run_dir, exist_ok=True)
    train_seconds, samples_seen = 0.0, 0
    try:
        with backend.device_context(device):   # every array of the run lives on it
            for epoch in range(start_epoch, cfg["epochs"]):
                progress = _Progress(bar, epoch, cfg["epochs"], task, samples_seen, train_seconds)
                train_loss, train_acc, seen, dt = _run_epoch(model, loader, opt, sched, task, device, progress)
                train_seconds += dt
                samples_seen += seen
                if not math.isfinite(train_loss):
                    raise CLIError(f"training diverged: the loss is {train_loss} in epoch {epoch + 1} "
                                   f"(try a lower --lr than {cfg['lr']:g})")
                test_loss, test_acc = _score(model, Xte_d, yte_d, task)
                for key, value in (("epoch", epoch + 1), ("train_loss", train_loss), ("train_acc", train_acc),
                                   ("test_loss", test_loss), ("test_acc", test_acc), ("seconds", dt)):
                    history[key].append(value)
                io.save({"kind": CHECKPOINT_KIND, "config": cfg, "model": model.state_dict(),
                         "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                         "loader": loader.state_dict(), "rng": cg_random.get_rng_state(),
                         "normalize": {"mean": mean, "std": std}, "history": history}, ckpt_path)
    finally:
        bar.close()

    rate = samples_seen / train_seconds if train_seconds else float("nan")
    written = [ckpt_path]
    if not args.no_plots:
        pictures = plots.draw_run(run_dir, history, model, ds, test_ds, mean, std, device, cfg)
        if pictures is None:
            _note("matplotlib is not installed, so no pictures (pip install 'cugrad[plot]')")
        written += pictures or []
    print(f"trained {cfg['epochs'] - start_epoch} epoch(s) in {train_seconds:.1f} s ({rate:,.0f} samples/s); "
          f"wrote {', '.join(written)}")
    print(_result_line(task, history["test_acc"][-1], history["test_loss"][-1]), flush=True)
    return 0


class _Progress:
    """The progress bar's postfix: epoch, running loss and accuracy, samples/s over the whole run."""

    def __init__(self, bar, epoch, epochs, task, samples_before, seconds_before):
        self.bar, self.epoch, self.epochs, self.task = bar, epoch, epochs, task
        self.samples_before, self.seconds_before = samples_before, seconds_before

    def show(self, loss_sum, correct, seen, seconds):
        rate = (self.samples_before + seen) / max(self.seconds_before + seconds, 1e-9)
        post = {"epoch": f"{self.epoch + 1}/{self.epochs}", "loss": f"{float(loss_sum) / seen:.4f}"}
        if self.task == "classification":
            post["acc"] = f"{int(correct) / seen:.3f}"
        post["samples/s"] = f"{rate:,.0f}"
        self.bar.set_postfix(post, refresh=False)


def _run_epoch(model, loader, opt, sched, task, device, progress):
    """One pass over the loader; returns (mean loss, accuracy or None, samples, seconds).
    Loss and hits are summed on the device, so the loop never waits for the GPU but to report."""
    t0 = time.perf_counter()
    xp = backend.module_for(device)
    loss_sum = xp.zeros((), dtype=np.float64)
    correct = xp.zeros((), dtype=np.int64)
    seen = 0
    for i, (xb, yb) in enumerate(loader):
        out = model(xb)
        loss = F.cross_entropy(out, yb) if task == "classification" else F.mse_loss(out, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        n = xb.shape[0]
        seen += n
        loss_sum += loss.data * n
        if task == "classification":
            correct += (out.data.argmax(axis=1) == yb.data).sum()
        progress.bar.update(1)
        if i % 25 == 0 or loader.position == 0:
            backend.synchronize(device)
            progress.show(loss_sum, correct, seen, time.perf_counter() - t0)
    backend.synchronize(device)
    seen_or_one = max(seen, 1)
    accuracy = int(correct) / seen_or_one if task == "classification" else None
    return float(loss_sum) / seen_or_one, accuracy, seen, time.perf_counter() - t0


# --------------------------------------------------------------------------- eval

def evaluate(args) -> int:
    """``cugrad eval``: a checkpoint's loss and accuracy on its test split or on ``--data``."""
    ckpt = _load_training_checkpoint(args.checkpoint)
    cfg = ckpt["config"]
    device = resolve_device(args.device)
    model = _build_model({**cfg, "checkpoint": None})
    try:
        model.load_state_dict(ckpt["model"])
    except ValueError as exc:
        raise io.CheckpointError(f"checkpoint {args.checkpoint!r} does not match its own configuration "
                                 f"(MLP {cfg['hidden_sizes']}): {exc}") from None
    model.to(device)
    if args.data is None:
        if args.labels:
            raise CLIError("--labels needs --data")
        ds = _load_data(cfg)
        _, ds = _split(ds, cfg)
        label = "test"
    else:
        ds = load_dataset(args.data, labels=args.labels, task=cfg["task_kind"])
        label = os.path.basename(args.data)
    if ds.n_features != cfg["n_features"]:
        raise CLIError(f"{args.data or cfg['data']!r} has {ds.n_features} feature(s); the model in "
                       f"{args.checkpoint!r} expects {cfg['n_features']}")
    if ds.task == "classification" and ds.num_classes > cfg["n_outputs"]:
        raise CLIError(f"{args.data!r} has labels up to {ds.num_classes - 1}; the model knows {cfg['n_outputs']} classes")
    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be >= 1, got {args.batch_size}")
    norm = ckpt["normalize"]
    X = (ds.X - norm["mean"]) / norm["std"]
    with backend.device_context(device):
        Xd, yd = backend.to_device(X.astype(np.float32), device), backend.to_device(ds.y, device)
        loss, acc = _score(model, Xd, yd, ds.task, args.batch_size)
    print(f"{label}: {len(ds)} samples, loss {loss:.4f}")
    if label == "test":
        print(_result_line(ds.task, acc, loss))
    else:
        print(f"accuracy: {acc:.3f}" if ds.task == "classification" else f"mse: {loss:.4g}")
    return 0
