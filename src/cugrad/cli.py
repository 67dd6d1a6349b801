"""The ``cugrad`` command: ``train``, ``eval``, ``info``, ``bench``.

Every user error (bad flag, missing or malformed data, bad checkpoint) ends the command with a
non-zero exit status and one line on stderr, ``cugrad: error: ...``, with no traceback. Files are
written atomically, so an error or Ctrl-C never leaves a half-written checkpoint or picture.
Set CUGRAD_DEBUG=1 to see tracebacks of unexpected errors.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time

import numpy as np

PROG = "cugrad"
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


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise CLIError(f"{message} (see '{self.prog} --help')", code=2)


# --------------------------------------------------------------------------- parsing

def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Train and evaluate MLPs with cugrad (NumPy on CPU, CuPy on NVIDIA GPUs).")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="{train,eval,info,bench}")

    t = sub.add_parser("train", help="train an MLP (default: the spiral data set)",
                       description="Train an MLP classifier (or regressor) and write runs/<name>/.")
    d = t.add_argument_group("data")
    d.add_argument("--data", help="built-in set (spiral, donut, xor, blobs, regression) or a .npy/.npz/.csv "
                                  "file (default: spiral)")
    d.add_argument("--labels", help="labels file for .npy features (default: <stem>_labels.npy next to them)")
    d.add_argument("--task", choices=["classification", "regression"], help="for data files (default: classification)")
    d.add_argument("--samples", type=int, help="points per class of a built-in set (spiral: 1000)")
    d.add_argument("--test-fraction", type=float, help="share held out for testing (default: 0.2)")
    m = t.add_argument_group("model")
    m.add_argument("--hidden", nargs="+", help="hidden widths: 64,64 or 64 64 (default: 128,128); 'none' for no hidden layer")
    m.add_argument("--activation", choices=["relu", "leaky_relu", "tanh", "sigmoid", "gelu", "softplus"])
    m.add_argument("--dropout", type=float, help="dropout after each hidden layer (default: 0)")
    m.add_argument("--checkpoint", help="gradient checkpointing: none, sqrt or a number of segments")
    o = t.add_argument_group("optimisation")
    o.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], help="default: adam")
    o.add_argument("--lr", type=float, help="learning rate (default: 0.01 for adam/adamw, 0.1 for sgd)")
    o.add_argument("--momentum", type=float, help="SGD momentum (default: 0.9)")
    o.add_argument("--weight-decay", type=float, help="default: 0")
    o.add_argument("--schedule", choices=["cosine", "constant"], help="lr schedule over the run (default: cosine)")
    o.add_argument("--batch-size", type=int, help="default: 128")
    o.add_argument("--epochs", type=int, help="total epochs (default: 30; with --resume, the new total)")
    o.add_argument("--seed", type=int, help="seeds the data, the weights and the batch order (default: 0)")
    r = t.add_argument_group("run")
    r.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda or cuda:N")
    r.add_argument("--precision", choices=["highest", "high", "medium"], default="highest",
                   help="float32 matmul precision on GPU: highest = fp32, high = TF32, medium = bf16")
    r.add_argument("--out", default=None, help="output directory (default: runs/)")
    r.add_argument("--name", help="run name (default: <data>-<date>-<time>)")
    r.add_argument("--resume", metavar="PATH", help="continue from a checkpoint written by cugrad train")
    r.add_argument("--no-plots", action="store_true", help="do not draw curves.png / boundary.png")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")

    e = sub.add_parser("eval", help="evaluate a checkpoint", description="Evaluate a checkpoint on its test "
                       "split, or on the data given with --data.")
    e.add_argument("checkpoint", metavar="CHECKPOINT")
    e.add_argument("--data", help="data set or file to evaluate on (default: the checkpoint's test split)")
    e.add_argument("--labels", help="labels file for .npy features")
    e.add_argument("--device", default="auto")
    e.add_argument("--batch-size", type=int, default=8192)

    sub.add_parser("info", help="versions, devices and whether the CUDA kernels compile")
    sub.add_parser("bench", help="how to run the benchmarks")
    return p


def main(argv=None) -> int:
    """Entry point of the ``cugrad`` console script; returns the exit status."""
    debug = bool(os.environ.get("CUGRAD_DEBUG"))
    try:
        args = build_parser().parse_args(argv)
        if args.version:
            from . import __version__
            print(f"cugrad {__version__}")
            return 0
        if args.command is None:
            raise CLIError("missing command: train, eval, info or bench (see 'cugrad --help')", code=2)
        return {"train": cmd_train, "eval": cmd_eval, "info": cmd_info, "bench": cmd_bench}[args.command](args)
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        _err("interrupted (the last checkpoint written is intact)")
        return 130
    except Exception as exc:  # noqa: BLE001 - every error becomes one line
        if debug:
            raise
        _err(_describe(exc))
        return exc.code if isinstance(exc, CLIError) else 1


def _describe(exc) -> str:
    from .data import DataError
    from .io import CheckpointError

    if isinstance(exc, (CLIError, DataError, CheckpointError)):
        return str(exc)
    if isinstance(exc, OSError):
        where = f" {exc.filename!r}" if exc.filename else ""
        return f"cannot access{where}: {exc.strerror or exc}"
    msg = str(exc).splitlines()[0] if str(exc) else ""
    return f"internal error: {type(exc).__name__}: {msg} (set CUGRAD_DEBUG=1 for the traceback)"


def _err(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)


def _note(message: str) -> None:
    print(f"{PROG}: note: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- shared helpers

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
    from . import backend

    if spec in (None, "auto"):
        return backend.default_device()
    try:
        return backend.get_device(spec)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise CLIError(f"--device {spec}: {exc}") from None


def apply_precision(precision: str, device) -> None:
    """Set the float32 matmul precision (GPU tensor cores; the CPU always computes in fp32)."""
    try:
        from .precision import set_matmul_precision
    except ImportError:
        if precision != "highest" and device.type == "cuda":
            _note(f"--precision {precision} is not supported by this build; using full float32")
        return
    set_matmul_precision(precision)


def _load_data(cfg):
    from .data import load_dataset

    name = cfg["data"]
    kwargs = {}
    from .data import BUILTIN_DATASETS
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
    from .data import train_test_split

    if not 0.0 < cfg["test_fraction"] < 1.0:
        raise CLIError(f"--test-fraction must lie in (0, 1), got {cfg['test_fraction']}")
    if len(ds) < 2:
        raise CLIError(f"data set {cfg['data']!r} has {len(ds)} sample(s); training needs at least 2")
    return train_test_split(ds, cfg["test_fraction"], seed=cfg["seed"])


def _build_model(cfg):
    from . import nn

    sizes = [cfg["n_features"], *cfg["hidden_sizes"], cfg["n_outputs"]]
    return nn.MLP(sizes, activation=cfg["activation"], dropout=cfg["dropout"],
                  checkpoint=parse_checkpoint(cfg.get("checkpoint")))


def _evaluate(model, X, y, task, batch_size=8192):
    """(loss, accuracy or None) over device arrays X, y without recording."""
    from . import no_grad
    from .nn import functional as F
    from .tensor import Tensor

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
    from . import optim

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
    from .io import CheckpointError, load

    ckpt = load(path)
    if not isinstance(ckpt, dict) or ckpt.get("kind") != CHECKPOINT_KIND:
        raise CheckpointError(f"checkpoint {path!r} was not written by 'cugrad train' (no training state in it)")
    missing = [k for k in ("config", "model", "optimizer", "loader", "rng", "normalize", "history") if k not in ckpt]
    if missing:
        raise CheckpointError(f"checkpoint {path!r} lacks {', '.join(missing)}")
    return ckpt


def cmd_train(args) -> int:
    from . import backend, io
    from . import random as cg_random
    from .data import DataLoader
    from .nn import functional as F
    from .optim import lr_scheduler
    from .tensor import Tensor

    resumed = _load_training_checkpoint(args.resume) if args.resume else None
    cfg = _train_config(args, resumed)
    _validate(cfg)
    device = resolve_device(args.device)
    apply_precision(args.precision, device)

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

    from tqdm.auto import tqdm

    total_steps = cfg["epochs"] * steps_per_epoch
    done_steps = start_epoch * steps_per_epoch + loader.position
    bar = tqdm(total=total_steps, initial=done_steps, disable=args.no_progress, unit="step", dynamic_ncols=True,
               file=sys.stderr, leave=False)
    os.makedirs(run_dir, exist_ok=True)
    train_seconds, samples_seen = 0.0, 0
    try:
        for epoch in range(start_epoch, cfg["epochs"]):
            t0 = time.perf_counter()
            xp = backend.array_module(Xte_d)
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
                bar.update(1)
                if i % 25 == 0 or loader.position == 0:
                    backend.synchronize(device)
                    rate = (samples_seen + seen) / max(train_seconds + time.perf_counter() - t0, 1e-9)
                    post = {"epoch": f"{epoch + 1}/{cfg['epochs']}", "loss": f"{float(loss_sum) / seen:.4f}"}
                    if task == "classification":
                        post["acc"] = f"{int(correct) / seen:.3f}"
                    post["samples/s"] = f"{rate:,.0f}"
                    bar.set_postfix(post, refresh=False)
            backend.synchronize(device)
            dt = time.perf_counter() - t0
            train_seconds += dt
            samples_seen += seen
            train_loss = float(loss_sum) / max(seen, 1)
            if not math.isfinite(train_loss):
                raise CLIError(f"training diverged: the loss is {train_loss} in epoch {epoch + 1} "
                               f"(try a lower --lr than {cfg['lr']:g})")
            test_loss, test_acc = _evaluate(model, Xte_d, yte_d, task)
            history["epoch"].append(epoch + 1)
            history["train_loss"].append(train_loss)
            history["train_acc"].append(int(correct) / max(seen, 1) if task == "classification" else None)
            history["test_loss"].append(test_loss)
            history["test_acc"].append(test_acc)
            history["seconds"].append(dt)
            io.save({"kind": CHECKPOINT_KIND, "config": cfg, "model": model.state_dict(),
                     "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                     "loader": loader.state_dict(), "rng": cg_random.get_rng_state(),
                     "normalize": {"mean": mean, "std": std}, "history": history}, ckpt_path)
    finally:
        bar.close()

    rate = samples_seen / train_seconds if train_seconds else float("nan")
    written = [ckpt_path]
    if not args.no_plots:
        written += _plots(run_dir, history, model, task, ds, test_ds, mean, std, device, cfg)
    print(f"trained {cfg['epochs'] - start_epoch} epoch(s) in {train_seconds:.1f} s ({rate:,.0f} samples/s); "
          f"wrote {', '.join(written)}")
    print(_result_line(task, history["test_acc"][-1], history["test_loss"][-1]), flush=True)
    return 0


# --------------------------------------------------------------------------- pictures

def _plots(run_dir, history, model, task, ds, test_ds, mean, std, device, cfg):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        _note("matplotlib is not installed, so no pictures (pip install 'cugrad[plot]')")
        return []
    from .io import atomic_write

    def save(fig, name):
        import io as _io
        FigureCanvasAgg(fig)
        buf = _io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        path = os.path.join(run_dir, name)
        atomic_write(path, buf.getvalue())
        return path

    written = []
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    ep = history["epoch"]
    ax1.plot(ep, history["train_loss"], label="train")
    ax1.plot(ep, history["test_loss"], label="test")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy" if task == "classification" else "mse")
    ax1.set_yscale("log")
    ax1.set_title("loss")
    ax1.legend()
    if task == "classification":
        ax2.plot(ep, history["train_acc"], label="train")
        ax2.plot(ep, history["test_acc"], label="test")
        ax2.set_ylabel("accuracy")
        ax2.set_title(f"accuracy (test {history['test_acc'][-1]:.3f})")
        ax2.legend()
    else:
        ax2.plot(ep, history["seconds"])
        ax2.set_ylabel("seconds per epoch")
        ax2.set_title("time")
    ax2.set_xlabel("epoch")
    written.append(save(fig, "curves.png"))

    if task == "classification" and ds.n_features == 2:
        written.append(save(_boundary_figure(model, ds, test_ds, mean, std, device, cfg), "boundary.png"))
    return written


def _boundary_figure(model, ds, test_ds, mean, std, device, cfg):
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    from . import backend, no_grad
    from .tensor import Tensor

    X = ds.X
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = 0.08 * (hi - lo) + 1e-3
    res = 300
    gx, gy = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], res),
                         np.linspace(lo[1] - pad[1], hi[1] + pad[1], res))
    grid = ((np.c_[gx.ravel(), gy.ravel()].astype(np.float32) - mean) / std).astype(np.float32)
    model.eval()
    preds = []
    with no_grad():
        for s in range(0, len(grid), 16384):
            with backend.device_context(device):
                out = model(Tensor(backend.to_device(grid[s:s + 16384], device)))
            preds.append(backend.to_device(out.data.argmax(axis=1), "cpu"))
    model.train()
    zz = np.concatenate(preds).reshape(gx.shape)
    k = cfg["num_classes"]
    base = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf"]
    colors = [base[i % len(base)] for i in range(k)]
    cmap = ListedColormap(colors)
    fig = Figure(figsize=(6, 6), layout="constrained")
    ax = fig.subplots()
    ax.contourf(gx, gy, zz, levels=np.arange(k + 1) - 0.5, cmap=cmap, alpha=0.3)
    ax.scatter(test_ds.X[:, 0], test_ds.X[:, 1], c=test_ds.y, cmap=cmap, vmin=-0.5, vmax=k - 0.5, s=8,
               edgecolors="k", linewidths=0.2)
    ax.set_title(f"{cfg['data']}: decision regions, test points")
    ax.set_aspect("equal", adjustable="box")
    return fig


# --------------------------------------------------------------------------- eval

def cmd_eval(args) -> int:
    from . import backend, io
    from .data import load_dataset

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
    loss, acc = _evaluate(model, Xd, yd, ds.task, args.batch_size)
    print(f"{label}: {len(ds)} samples, loss {loss:.4f}")
    if label == "test":
        print(_result_line(ds.task, acc, loss))
    else:
        print(f"accuracy: {acc:.3f}" if ds.task == "classification" else f"mse: {loss:.4g}")
    return 0


# --------------------------------------------------------------------------- info, bench

def cmd_info(args) -> int:
    from importlib import metadata

    from . import __version__, backend

    def version(pkg):
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "not installed"

    print(f"cugrad {__version__}")
    print(f"python {platform.python_version()} ({platform.system()} {platform.machine()})")
    print(f"numpy {np.__version__}")
    cupy_pkgs = [d for d in ("cupy-cuda13x", "cupy-cuda12x", "cupy-cuda11x", "cupy") if version(d) != "not installed"]
    print(f"cupy {version(cupy_pkgs[0]) + ' (' + cupy_pkgs[0] + ')' if cupy_pkgs else 'not installed'}")
    for pkg in ("safetensors", "tqdm", "matplotlib"):
        print(f"{pkg} {version(pkg)}")
    cp = backend.cupy()
    print(f"default device: {backend.default_device()}")
    if cp is None:
        print(f"GPU: none ({backend.cuda_unavailable_reason()})")
    else:
        for i in range(cp.cuda.runtime.getDeviceCount()):
            props = cp.cuda.runtime.getDeviceProperties(i)
            name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
            with cp.cuda.Device(i):
                free, total = cp.cuda.runtime.memGetInfo()
            print(f"GPU {i}: {name}, {total / 2**30:.1f} GiB ({free / 2**30:.1f} GiB free), "
                  f"compute capability {props['major']}.{props['minor']}")
    print(f"CUDA kernels: {_kernel_status(cp)}")
    return 0


def _kernel_status(cp) -> str:
    try:
        from . import kernels
    except Exception as exc:  # noqa: BLE001
        return f"unavailable ({type(exc).__name__}: {exc})"
    try:
        kernels.kernel_dir()
    except Exception as exc:  # noqa: BLE001
        return f"sources missing ({exc})"
    if cp is None:
        try:
            from cupy.cuda import nvrtc  # noqa: F401
        except Exception:  # noqa: BLE001
            return "not checked (needs CuPy; the CPU path uses the NumPy twins)"
        try:
            for fam in kernels.FAMILIES:
                kernels.compile_ptx(fam, "compute_80")
            return f"compile (NVRTC, {len(kernels.FAMILIES)} families, no GPU to run them)"
        except Exception as exc:  # noqa: BLE001
            return f"FAIL to compile: {str(exc).splitlines()[0]}"
    try:
        t0 = time.perf_counter()
        d = kernels._driver()
        for fam in kernels.FAMILIES:
            d.module(fam).get_function(kernels.NAME_EXPRESSIONS[fam][0])
        return f"compile and load ({len(kernels.FAMILIES)} families, {time.perf_counter() - t0:.1f} s)"
    except Exception as exc:  # noqa: BLE001
        return f"FAIL: {str(exc).splitlines()[0]}"


def cmd_bench(args) -> int:
    print("The benchmarks live in benchmarks/ (pytest-benchmark). From a source checkout:\n"
          "  PYTHONPATH=src python -m pytest benchmarks --benchmark-only\n"
          "GPU: benchmarks/gpu_check.sh runs the GPU tests and benchmarks in one go.")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
