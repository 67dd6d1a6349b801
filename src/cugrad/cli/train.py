"""``cugrad train``: the training run behind the command: its configuration from the flags (or the
checkpoint it resumes), the loop with its progress bar, a checkpoint written atomically after every
epoch in which the run stays finite, the metrics and the pictures. What train shares with eval and
export (configuration checks, data, model, run folder, scores) is in :mod:`cugrad.cli.runs`.
"""
from __future__ import annotations

import math
import os
import sys
import time

import numpy as np
from tqdm.auto import tqdm

from .. import backend, io, optim, runlog
from .. import random as cg_random
from ..data import DataLoader
from ..nn import functional as F
from ..nn.parallel import DistributedDataParallel
from ..optim import lr_scheduler
from ..precision import set_matmul_precision
from . import plots, ranks
from .parser import CLIError
from .runs import (CHECKPOINT_FILE, CHECKPOINT_KIND, DEFAULT_LR, HISTORY_KEYS, HISTORY_LATER_KEYS, PICTURES,
                   RESUME_FIXED, TRAIN_DEFAULTS, build_model, check_flags, check_model_fits, layer_sizes, load_data,
                   load_training_checkpoint, make_run_dir, model_classes, normalizer, parse_hidden, remove_empty,
                   resolve_device, result_line, run_dir, score, split)


def _note(message: str) -> None:
    print(f"cugrad: note: {message}", file=sys.stderr, flush=True)


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


def _make_optimizer(cfg, params):
    if cfg["optimizer"] == "sgd":
        return optim.SGD(params, lr=cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["weight_decay"])
    cls = optim.Adam if cfg["optimizer"] == "adam" else optim.AdamW
    return cls(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])


def _restore(resumed, path, model, opt, loader, sched):
    """Load a resumed run's states; anything that does not load means a damaged checkpoint."""
    for part, load in (("model", model.load_state_dict), ("optimizer", opt.load_state_dict),
                       ("loader", loader.load_state_dict), ("scheduler", sched.load_state_dict),
                       ("rng", cg_random.set_rng_state)):
        try:
            load(resumed[part])
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise io.CheckpointError(f"checkpoint {path!r} is corrupt: its {part} state does not load "
                                     f"({type(exc).__name__}: {exc})") from None


def _divergence(train_loss, test_loss, model) -> str | None:
    """What is not finite after an epoch (the losses, then the weights), or None."""
    if not math.isfinite(train_loss):
        return f"the training loss is {train_loss}"
    if not math.isfinite(test_loss):
        return f"the test loss is {test_loss}"
    for name, p in model.named_parameters():
        if not bool(backend.array_module(p.data).isfinite(p.data).all()):
            return f"the weights {name!r} hold NaN/inf"
    return None


def _remedy(cfg) -> str:
    tries = [f"a lower --lr than {cfg['lr']:g}"]
    if cfg["weight_decay"] > 0:
        tries.append(f"a smaller --weight-decay than {cfg['weight_decay']:g}")
    if cfg["task_kind"] == "regression":
        tries.append("targets of smaller magnitude")
    return "try " + ", or ".join(tries)


def run(args) -> int:
    """Train (or resume) a run, write its checkpoint every epoch and its pictures.
    Everything the flags and the data decide is checked before the run folder is made; a run that
    fails before its first checkpoint leaves no folder behind.

    Started as several ranks (mpiexec, srun), each trains a replica on its share of every global
    batch of ``--batch-size`` (DistributedDataParallel), so the result does not depend on how many
    ranks ran; rank 0 alone prints, shows progress and writes; every rank reads ``--resume``."""
    rank, world, local_rank = ranks.join()
    leader = ranks.is_leader()
    resumed = load_training_checkpoint(args.resume) if args.resume else None
    cfg = _train_config(args, resumed)
    check_flags(cfg)
    if cfg["batch_size"] % world:
        raise CLIError(f"--batch-size {cfg['batch_size']} is the global batch and must be divisible by the "
                       f"{world} ranks; try {cfg['batch_size'] // world * world or world} or "
                       f"{(cfg['batch_size'] // world + 1) * world}")
    device = resolve_device(args.device)
    if world > 1 and device.type == "cuda" and args.device in (None, "auto", "cuda"):
        device = backend.Device(f"cuda:{local_rank}")   # one GPU per rank on each machine
    set_matmul_precision(args.precision)  # float32 matmuls on GPU; the CPU always computes in fp32
    tensorboard = None
    if getattr(args, "tensorboard", None):    # checked on every rank; rank 0 alone writes
        try:
            tensorboard = runlog.TensorBoardLog(args.tensorboard)   # its folder is made at the first epoch
        except ImportError as exc:
            raise CLIError(f"--tensorboard: {exc}") from None

    ds = load_data(cfg, model_classes(cfg) if resumed is not None else None)
    train_ds, test_ds = split(ds, cfg)
    task = ds.task
    if resumed is None:
        cfg.update(task_kind=task, n_features=ds.n_features, n_outputs=ds.n_outputs, classes=ds.classes,
                   num_classes=ds.num_classes)
        check_model_fits(cfg, device)
        mean, std = normalizer(train_ds.X)
    else:
        if ds.n_features != cfg["n_features"] or ds.n_outputs != cfg["n_outputs"]:
            raise CLIError(f"data {cfg['data']!r} now has {ds.n_features} features / {ds.n_outputs} outputs, "
                           f"the checkpoint's model has {cfg['n_features']} / {cfg['n_outputs']}")
        mean, std = resumed["normalize"]["mean"], resumed["normalize"]["std"]
    path = ranks.from_rank0(run_dir, args, cfg, args.resume)   # a dated name must be the same everywhere
    ckpt_path = os.path.join(path, CHECKPOINT_FILE)

    cg_random.manual_seed(cfg["seed"])
    net = build_model(cfg)
    net.to(device)
    model = DistributedDataParallel(net) if world > 1 else net   # broadcasts rank 0's weights
    opt = _make_optimizer(cfg, model.parameters())
    Xtr = (train_ds.X - mean) / std
    Xte = (test_ds.X - mean) / std
    loader = DataLoader((Xtr, train_ds.y), cfg["batch_size"], shuffle=True, seed=cfg["seed"], device=device,
                        rank=rank, world_size=world)
    steps_per_epoch = len(loader)
    if cfg["schedule"] == "cosine":
        sched = lr_scheduler.CosineAnnealingLR(opt, T_max=cfg["epochs"] * steps_per_epoch)
    else:
        sched = lr_scheduler.ConstantLR(opt)
    history = {key: [] for key in HISTORY_KEYS + HISTORY_LATER_KEYS}
    start_epoch = 0
    if resumed is not None:
        _restore(resumed, args.resume, net, opt, loader, sched)
        if world > 1:
            cg_random.fork_for_rank(rank)   # the saved streams are rank 0's: each rank its own again
        history = {k: list(v) for k, v in resumed["history"].items()}
        for key in HISTORY_LATER_KEYS:            # checkpoints older than these columns
            history.setdefault(key, [None] * len(history["epoch"]))
        start_epoch = loader.epoch
        if start_epoch >= cfg["epochs"]:
            raise CLIError(f"checkpoint {args.resume!r} already has {start_epoch} epochs; pass --epochs N with "
                           f"N > {start_epoch} to train further")

    with backend.device_context(device):
        Xte_d, yte_d = backend.to_device(Xte, device), backend.to_device(test_ds.y, device)
    n_params = net.num_parameters()
    arch = "→".join(map(str, layer_sizes(cfg)))
    what = f"{cfg['num_classes']} classes" if task == "classification" else f"{cfg['n_outputs']} target(s)"
    ranks_note = f" · {world} ranks (device {device} on rank 0)" if world > 1 else f" · device {device}"
    if leader:
        print(f"cugrad train: {cfg['data']} ({len(train_ds)} train / {len(test_ds)} test, {cfg['n_features']} "
              f"features, {what}) · MLP {arch} {cfg['activation']} ({n_params:,} parameters) · {cfg['optimizer']} "
              f"lr {cfg['lr']:g} · batch {cfg['batch_size']} · {cfg['epochs']} epochs{ranks_note}", flush=True)
    if resumed is not None and leader:
        print(f"resuming from {args.resume} at epoch {start_epoch}, batch {loader.position}", flush=True)

    total_steps = cfg["epochs"] * steps_per_epoch
    done_steps = start_epoch * steps_per_epoch + loader.position
    made = make_run_dir(path) if leader else []
    bar = tqdm(total=total_steps, initial=done_steps, disable=args.no_progress or not leader, unit="step",
               dynamic_ncols=True, file=sys.stderr, leave=False)
    train_seconds, samples_seen, saved = 0.0, 0, False
    try:
        with backend.device_context(device):   # every array of the run lives on it
            for epoch in range(start_epoch, cfg["epochs"]):
                progress = _Progress(bar, epoch, cfg["epochs"], task, samples_seen, train_seconds)
                lr = opt.param_groups[0]["lr"]
                train_loss, train_acc, seen, dt = _run_epoch(model, loader, opt, sched, task, device, progress)
                if world > 1:   # the whole global batch's figures, as one process would report them
                    loss_sum, hits, seen = ranks.sum_over_ranks(train_loss * seen, (train_acc or 0.0) * seen, seen)
                    train_loss, seen = loss_sum / max(seen, 1), int(seen)
                    train_acc = round(hits) / max(seen, 1) if task == "classification" else None
                train_seconds += dt
                samples_seen += seen
                test_loss, test_acc = score(net, Xte_d, yte_d, task)
                problem = _divergence(train_loss, test_loss, net)
                if problem is not None:
                    kept = (f"{ckpt_path} keeps epoch {history['epoch'][-1]}" if history["epoch"]
                            else "no checkpoint was written")
                    raise CLIError(f"training diverged in epoch {epoch + 1}: {problem} ({_remedy(cfg)}); {kept}")
                for key, value in (("epoch", epoch + 1), ("train_loss", train_loss), ("train_acc", train_acc),
                                   ("test_loss", test_loss), ("test_acc", test_acc), ("seconds", dt),
                                   ("lr", lr), ("samples_per_s", seen / dt if dt > 0 else None)):
                    history[key].append(value)
                if leader:
                    io.save({"kind": CHECKPOINT_KIND, "config": cfg, "model": net.state_dict(),
                             "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                             "loader": loader.state_dict(), "rng": cg_random.get_rng_state(),
                             "normalize": {"mean": mean, "std": std}, "history": history}, ckpt_path)
                if not saved and args.overwrite and leader:  # the replaced run's pictures describe another model
                    for name in PICTURES:
                        if os.path.isfile(os.path.join(path, name)):
                            os.unlink(os.path.join(path, name))
                saved = True
                if leader:
                    runlog.write_csv(os.path.join(path, runlog.CSV_FILE), history)
                    if tensorboard is not None:
                        tensorboard.write_epoch(history)
    finally:
        bar.close()
        if tensorboard is not None:
            tensorboard.close()
        if not saved:
            remove_empty(made)

    rate = samples_seen / train_seconds if train_seconds else float("nan")
    written = [ckpt_path, os.path.join(path, runlog.CSV_FILE)]
    if not args.no_plots and leader:
        pictures = plots.draw_run(path, history, net, ds, test_ds, mean, std, device, cfg)
        if pictures is None:
            _note("matplotlib is not installed, so no pictures (pip install 'cugrad[plot]')")
        written += pictures or []
    if leader:
        print(f"trained {cfg['epochs'] - start_epoch} epoch(s) in {train_seconds:.1f} s ({rate:,.0f} samples/s); "
              f"wrote {', '.join(written)}")
        print(result_line(task, history["test_acc"][-1], history["test_loss"][-1]), flush=True)
    ranks.barrier()   # no rank leaves (and no launcher tears down) before rank 0 has written
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
