"""What ``cugrad train``, ``eval`` and ``export`` share: a run's configuration (its defaults, and the
checks that a flag and a checkpoint's copy of it both pass), its data and split, its model and its
scores, its folder and its checkpoint. User errors raise :class:`CLIError` naming the flag or file
at fault; a checkpoint whose contents fail the checks raises :class:`~cugrad.io.CheckpointError`
("corrupt").
"""
from __future__ import annotations

import math
import os
import time

import numpy as np

from .. import backend, io, nn
from ..autograd import no_grad
from ..data import BUILTIN_DATASETS, DataError, load_dataset, train_test_split
from ..nn import functional as F
from ..tensor import Tensor
from .parser import CLIError

CHECKPOINT_KIND = "cugrad-train"
CHECKPOINT_FILE = "model.safetensors"
PICTURES = ("curves.png", "boundary.png")

# `train` defaults, applied after parsing so that --resume can tell which flags were given
TRAIN_DEFAULTS = {
    "data": "spiral", "samples": None, "labels": None, "task": None, "hidden": "128,128",
    "activation": "relu", "dropout": 0.0, "batch_size": 128, "epochs": 30, "lr": None,
    "optimizer": "adam", "momentum": 0.9, "weight_decay": 0.0, "schedule": "cosine",
    "test_fraction": 0.2, "seed": 0, "checkpoint": "none",
}
DEFAULT_LR = {"sgd": 0.1, "adam": 1e-2, "adamw": 1e-2}
DEFAULT_SAMPLES = {"spiral": 1000, "donut": 500, "xor": 500, "blobs": 500, "regression": 2000}
MAX_SAMPLES = 100_000_000  # --samples: points per class of a built-in (toy) set
MAX_SEED = 2**63 - 1       # seeds go to NumPy's PCG64 and the GPU streams' 64-bit counters
# settings that define the model, the data and the update rule: a resumed run must keep them
RESUME_FIXED = ("data", "samples", "labels", "task", "hidden", "activation", "dropout", "batch_size",
                "optimizer", "lr", "momentum", "weight_decay", "schedule", "test_fraction", "seed")
TRAINING_STATE = ("config", "model", "optimizer", "scheduler", "loader", "rng", "normalize", "history")
HISTORY_KEYS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds")
# per epoch too, since the TensorBoard logs: the learning rate at its start and samples/s in it
# (checkpoints from before lack them; a run resumed from one leaves them empty for its old epochs)
HISTORY_LATER_KEYS = ("lr", "samples_per_s")


# --------------------------------------------------------------------------- flags

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
    except (TypeError, ValueError):
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


# --------------------------------------------------------------------------- the configuration's checks

def _is_int(v, lo, hi=None):
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v and (hi is None or v <= hi)


def _is_real(v, ok):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and ok(v)


def _one_of(*choices):
    return lambda v: isinstance(v, str) and v in choices


def _is_checkpoint(v):
    try:
        parse_checkpoint(v)
    except CLIError:
        return False
    return v is None or isinstance(v, str)


def _is_classes(v):
    return v is None or (isinstance(v, list) and len(v) > 0 and (all(isinstance(c, str) for c in v) or
                                                                  all(_is_int(c, -(2**63)) for c in v)))


# key: (check, what it must be). Flags are checked with these before a run; a checkpoint's
# configuration with all of them when it is read.
CONFIG_CHECKS = {
    "data": (lambda v: isinstance(v, str) and v != "", "a built-in data set or a file"),
    "samples": (lambda v: v is None or _is_int(v, 1, MAX_SAMPLES), f"an integer in [1, {MAX_SAMPLES:,}]"),
    "labels": (lambda v: v is None or isinstance(v, str), "a file name"),
    "task": (lambda v: v is None or _one_of("classification", "regression")(v), "classification or regression"),
    "hidden_sizes": (lambda v: isinstance(v, list) and all(_is_int(s, 1) for s in v), "a list of widths >= 1"),
    "activation": (_one_of(*nn.ACTIVATIONS), "one of " + ", ".join(nn.ACTIVATIONS)),
    "dropout": (lambda v: _is_real(v, lambda x: 0 <= x < 1), "in [0, 1)"),
    "batch_size": (lambda v: _is_int(v, 1), ">= 1"),
    "epochs": (lambda v: _is_int(v, 1), ">= 1"),
    "lr": (lambda v: _is_real(v, lambda x: x > 0), "a finite number > 0"),
    "optimizer": (_one_of(*DEFAULT_LR), "one of " + ", ".join(DEFAULT_LR)),
    "momentum": (lambda v: _is_real(v, lambda x: 0 <= x < 1), "in [0, 1)"),
    "weight_decay": (lambda v: _is_real(v, lambda x: x >= 0), "a finite number >= 0"),
    "schedule": (_one_of("cosine", "constant"), "cosine or constant"),
    "test_fraction": (lambda v: _is_real(v, lambda x: 0 < x < 1), "in (0, 1)"),
    "seed": (lambda v: _is_int(v, 0, MAX_SEED), "an integer in [0, 2**63)"),
    "checkpoint": (_is_checkpoint, "none, sqrt or a positive number of segments"),
}
# what a run adds from its data; only a checkpoint's configuration has these
DATA_CHECKS = {
    "task_kind": (_one_of("classification", "regression"), "classification or regression"),
    "n_features": (lambda v: _is_int(v, 1), "an integer >= 1"),
    "n_outputs": (lambda v: _is_int(v, 1), "an integer >= 1"),
    "classes": (_is_classes, "None or a list of class names or numbers"),
    "num_classes": (lambda v: v is None or _is_int(v, 1), "None or an integer >= 1"),
}


def check_flags(cfg) -> None:
    """Refuse a flag value outside its range (NaN, inf, negative sizes, ...), naming the flag."""
    for key, (ok, what) in CONFIG_CHECKS.items():
        if not ok(cfg[key]):
            flag = "--hidden" if key == "hidden_sizes" else "--" + key.replace("_", "-")
            raise CLIError(f"{flag} must be {what}, got {cfg[key]!r}")


def check_saved_config(cfg, path) -> None:
    """Refuse a checkpoint whose configuration is not one that ``cugrad train`` writes."""
    if not isinstance(cfg, dict):
        raise io.CheckpointError(f"checkpoint {path!r} is corrupt: its config is a {type(cfg).__name__}")
    for key, (ok, what) in {**CONFIG_CHECKS, **DATA_CHECKS}.items():
        if key not in cfg:
            raise io.CheckpointError(f"checkpoint {path!r} is corrupt: its config lacks {key!r}")
        if not ok(cfg[key]):
            raise io.CheckpointError(f"checkpoint {path!r} is corrupt: its config has {key} = {cfg[key]!r}, "
                                     f"which is not {what}")
    if cfg["classes"] is not None and len(cfg["classes"]) != cfg["n_outputs"]:
        raise io.CheckpointError(f"checkpoint {path!r} is corrupt: {len(cfg['classes'])} class names for "
                                 f"{cfg['n_outputs']} outputs")


def load_training_checkpoint(path) -> dict:
    """A checkpoint written by ``cugrad train``, its structure checked (not yet its optimizer,
    loader and RNG states, which their own load_state_dict checks on resume)."""
    ckpt = io.load(path)
    if not isinstance(ckpt, dict) or ckpt.get("kind") != CHECKPOINT_KIND:
        raise io.CheckpointError(f"checkpoint {path!r} was not written by 'cugrad train' (no training state in it)")
    missing = [k for k in TRAINING_STATE if k not in ckpt]
    if missing:
        raise io.CheckpointError(f"checkpoint {path!r} lacks {', '.join(missing)}")
    cfg = ckpt["config"]
    check_saved_config(cfg, path)

    def corrupt(what):
        return io.CheckpointError(f"checkpoint {path!r} is corrupt: {what}")

    model = ckpt["model"]
    if not isinstance(model, dict) or not all(isinstance(v, np.ndarray) for v in model.values()):
        raise corrupt("its model state is not a set of arrays")
    stored, implied = sum(v.size for v in model.values()), count_parameters(layer_sizes(cfg))
    if stored != implied:  # checked before an MLP of the configured size is allocated
        raise corrupt(f"its configuration (MLP {'→'.join(map(str, layer_sizes(cfg)))}, {implied:,} parameters) "
                      f"does not match its {stored:,} stored weights")
    for name, value in model.items():
        if value.dtype.kind in "fc" and not np.isfinite(value).all():
            raise corrupt(f"the model's {name!r} holds NaN/inf (written by a run that diverged?)")
    norm = ckpt["normalize"]
    shape = (cfg["n_features"],)
    if not (isinstance(norm, dict) and all(isinstance(norm.get(k), np.ndarray) and norm[k].shape == shape and
                                           np.isfinite(norm[k]).all() for k in ("mean", "std"))
            and (norm["std"] > 0).all()):
        raise corrupt(f"its normalization is not finite mean and positive std arrays of shape {shape}")
    history = ckpt["history"]
    keys = HISTORY_KEYS + tuple(k for k in HISTORY_LATER_KEYS if isinstance(history, dict) and k in history)
    if not (isinstance(history, dict) and all(isinstance(history.get(k), list) for k in keys)
            and len({len(history[k]) for k in keys}) == 1
            and all(v is None or _is_real(v, lambda x: True) for k in keys for v in history[k])):
        raise corrupt(f"its history is not lists of numbers of equal length for {', '.join(keys)}")
    return ckpt


# --------------------------------------------------------------------------- data, model, memory

def load_data(cfg, classes=None):
    """The run's data set: a built-in one (seeded, ``--samples`` points per class) or a file;
    ``classes`` maps a file's labels through a trained model's classes (eval, resume)."""
    name = cfg["data"]
    kwargs = {}
    if name in BUILTIN_DATASETS:
        kwargs["seed"] = cfg["seed"]
        n = DEFAULT_SAMPLES[name] if cfg["samples"] is None else cfg["samples"]
        kwargs["n_samples" if name == "regression" else "n_per_class"] = n
    elif cfg["samples"] is not None:
        raise CLIError("--samples applies to built-in data sets, not to data files")
    try:
        return load_dataset(name, labels=cfg["labels"], task=cfg["task"], classes=classes, **kwargs)
    except MemoryError:
        flag = f"--samples {kwargs.get('n_per_class', kwargs.get('n_samples'))}" if kwargs else f"--data {name}"
        raise CLIError(f"out of memory generating or loading the data ({flag}); use less data") from None


def model_classes(cfg):
    """The class list a classifier's labels are mapped through: its label values, or a range
    when the labels were the class indices themselves."""
    if cfg["task_kind"] != "classification":
        return None
    return cfg["classes"] if cfg["classes"] is not None else range(cfg["n_outputs"])


def split(ds, cfg):
    try:
        return train_test_split(ds, cfg["test_fraction"], seed=cfg["seed"])
    except DataError as exc:
        raise CLIError(f"{exc} (--test-fraction {cfg['test_fraction']:g})") from None


def layer_sizes(cfg) -> list[int]:
    return [cfg["n_features"], *cfg["hidden_sizes"], cfg["n_outputs"]]


def count_parameters(sizes) -> int:
    """Weights and biases of an MLP with these layer widths."""
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def build_model(cfg):
    sizes = layer_sizes(cfg)
    return nn.MLP(sizes, activation=cfg["activation"], dropout=cfg["dropout"],
                  checkpoint=parse_checkpoint(cfg.get("checkpoint")))


def trained_model(ckpt, path):
    """The MLP a training checkpoint (from load_training_checkpoint) describes, with its weights."""
    cfg = ckpt["config"]
    model = build_model({**cfg, "checkpoint": None})
    try:
        model.load_state_dict(ckpt["model"])
    except ValueError as exc:
        raise io.CheckpointError(f"checkpoint {path!r} does not match its own configuration "
                                 f"(MLP {cfg['hidden_sizes']}): {exc}") from None
    return model


def score(model, X, y, task, batch_size=8192):
    """(loss, accuracy or None) over device arrays X, y without recording."""
    was_training = model.training
    model.eval()
    total_loss, correct, n = 0.0, 0, len(X)
    with no_grad():
        for lo in range(0, n, batch_size):
            xb, yb = Tensor.from_array(X[lo:lo + batch_size]), Tensor.from_array(y[lo:lo + batch_size])
            out = model(xb)
            if task == "classification":
                total_loss += float(F.cross_entropy(out, yb, reduction="sum").item())
                correct += int((out.data.argmax(axis=1) == yb.data).sum())
            else:
                total_loss += float(F.mse_loss(out, yb, reduction="sum").item()) / out.shape[1]
    model.train(was_training)
    return total_loss / n, (correct / n if task == "classification" else None)


def result_line(task, acc, loss) -> str:
    return f"test accuracy: {acc:.3f}" if task == "classification" else f"test mse: {loss:.4g}"


def device_memory(device) -> int | None:
    """Bytes of memory on ``device`` (physical RAM for the CPU), or None where unknown."""
    try:
        if device.type == "cpu":
            return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        cp = backend.cupy()
        with cp.cuda.Device(device.index):
            return int(cp.cuda.runtime.memGetInfo()[1])
    except (AttributeError, ValueError, OSError):
        return None


def check_model_fits(cfg, device) -> None:
    """Refuse, before allocating, a model whose float32 weights, gradients and optimizer state
    (4 copies) cannot fit in the device's memory, naming --hidden."""
    sizes = layer_sizes(cfg)
    n_params = count_parameters(sizes)
    need, have = 16 * n_params, device_memory(device)
    if have is not None and need > have:
        arch = "→".join(map(str, sizes))
        raise CLIError(f"--hidden {','.join(map(str, cfg['hidden_sizes']))}: an MLP {arch} has {n_params:,} parameters "
                       f"and needs about {_gib(need)} for weights, gradients and optimizer state; {device} has "
                       f"{_gib(have)}")


def _gib(n) -> str:
    return f"{n / 2**30:,.1f} GiB"


def normalizer(X):
    """Per-feature mean and std (1 where a feature is constant), computed in float64."""
    X = X.astype(np.float64)
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    std[std < 1e-12] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


# --------------------------------------------------------------------------- the run's folder

def run_dir(args, cfg, resume_path) -> str:
    """The run's folder: the resumed checkpoint's, ``--out/--name``, or a fresh dated name. A
    folder that holds another run is refused unless --overwrite."""
    if args.out is None and args.name is None and resume_path is not None:
        return os.path.dirname(os.path.abspath(resume_path))
    out = args.out or "runs"
    if not args.name:
        stem = os.path.splitext(os.path.basename(str(cfg["data"])))[0] or "run"
        base = os.path.join(out, f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}")
        path, k = base, 2
        while os.path.exists(path):
            path, k = f"{base}-{k}", k + 1
        return path
    if os.sep in args.name or "/" in args.name or args.name in (".", ".."):
        raise CLIError(f"--name must be a plain name, got {args.name!r}")
    path = os.path.join(out, args.name)
    if os.path.exists(path) and not os.path.isdir(path):
        raise CLIError(f"--name {args.name}: {path!r} exists and is not a folder")
    if not os.path.isdir(path) or not os.listdir(path) or args.overwrite:
        return path
    continuing = resume_path is not None and os.path.samefile(os.path.dirname(os.path.abspath(resume_path)), path)
    if not continuing:
        raise CLIError(f"--name {args.name}: {path!r} already holds a run; pass --overwrite to replace it, "
                       f"or choose another --name")
    return path


def make_run_dir(path) -> list[str]:
    """Create the run's folder; returns the folders this made (removed again if the run fails
    before writing anything)."""
    made, p = [], os.path.abspath(path)
    while not os.path.exists(p):
        made.append(p)
        p = os.path.dirname(p)
    os.makedirs(path, exist_ok=True)
    return made


def remove_empty(folders) -> None:
    for folder in folders:  # deepest first
        try:
            os.rmdir(folder)
        except OSError:
            return
