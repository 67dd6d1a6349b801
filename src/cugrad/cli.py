"""The ``cugrad`` command: ``train``, ``eval``, ``info``, ``bench``.

This module parses the flags and dispatches; the runs themselves are in :mod:`cugrad.training`.
Every user error (bad flag, missing or malformed data, bad checkpoint, a run that diverges or does
not fit in memory) ends the command with a non-zero exit status and one line on stderr,
``cugrad: error: ...``, with no traceback. NumPy's floating-point warnings are off (the runs check
for NaN/inf themselves); any other warning is one ``cugrad: warning: ...`` line. Files are written
atomically, so an error or Ctrl-C never leaves a half-written checkpoint or picture.
Set CUGRAD_DEBUG=1 to see tracebacks of unexpected errors.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from . import nn, ranks, training
from .data import DataError
from .io import CheckpointError
from .onnx import DEFAULT_OPSET
from .runs import CLIError

PROG = "cugrad"


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
    m.add_argument("--activation", choices=list(nn.ACTIVATIONS), metavar="NAME",
                   help="hidden-layer activation: " + ", ".join(nn.ACTIVATIONS) + " (default: relu)")
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
                   help="float32 matmul precision on GPU: highest = fp32, high = TF32, "
                        "medium = bf16 where available, else TF32 (always TF32 through CuPy)")
    r.add_argument("--out", default=None, help="output directory (default: runs/)")
    r.add_argument("--name", help="run name (default: <data>-<date>-<time>); an existing run of that name is "
                                  "kept unless --overwrite")
    r.add_argument("--overwrite", action="store_true", help="replace the run already in --out/--name")
    r.add_argument("--resume", metavar="PATH", help="continue from a checkpoint written by cugrad train")
    r.add_argument("--no-plots", action="store_true", help="do not draw curves.png / boundary.png")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--tensorboard", metavar="DIR", help="also write loss, accuracy, learning rate and samples/s "
                   "per epoch as TensorBoard event files in DIR (pip install 'cugrad[tensorboard]')")

    e = sub.add_parser("eval", help="evaluate a checkpoint", description="Evaluate a checkpoint on its test "
                       "split, or on the data given with --data.")
    e.add_argument("checkpoint", metavar="CHECKPOINT")
    e.add_argument("--data", help="data set or file to evaluate on (default: the checkpoint's test split)")
    e.add_argument("--labels", help="labels file for .npy features")
    e.add_argument("--device", default="auto")
    e.add_argument("--batch-size", type=int, default=8192)

    x = sub.add_parser("export", help="write a checkpoint's model as ONNX",
                       description="Write the model of a 'cugrad train' checkpoint as an ONNX file (its input "
                                   "normalisation included, batch axis symbolic), for ONNX Runtime and others. "
                                   "Needs pip install 'cugrad[onnx]'.")
    x.add_argument("checkpoint", metavar="CHECKPOINT")
    x.add_argument("output", metavar="OUTPUT.onnx")
    x.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default: {DEFAULT_OPSET})")

    sub.add_parser("info", help="versions, devices and whether the CUDA kernels compile")
    b = sub.add_parser("bench", allow_abbrev=False, help="run the benchmarks and write a report (source checkout)",
                       description="Run the source checkout's benchmarks/ with pytest-benchmark and write "
                                   "OUT/results.json, OUT/report.md and OUT/report.png. Every other argument "
                                   "(or all after --) goes to pytest, e.g. -k mlp or --benchmark-min-rounds=3.")
    b.add_argument("--out", default="bench-report", help="output directory (default: bench-report/)")
    b.add_argument("--title", default="cugrad benchmarks: ours vs baseline", help="the report's title")
    return p


def main(argv=None) -> int:
    """Entry point of the ``cugrad`` console script; returns the exit status."""
    debug = bool(os.environ.get("CUGRAD_DEBUG"))
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if extra and args.command != "bench":  # only bench passes arguments on (to pytest)
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        if args.version:
            from . import __version__
            print(f"cugrad {__version__}")
            return 0
        if args.command is None:
            raise CLIError("missing command: train, eval, export, info or bench (see 'cugrad --help')", code=2)
        if args.command == "bench":
            return cmd_bench(args, extra[1:] if extra[:1] == ["--"] else extra)
        run = {"train": training.train, "eval": training.evaluate, "export": training.export_onnx,
               "info": cmd_info}[args.command]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return run(args)
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        if ranks.is_leader():  # mpiexec hands Ctrl-C to every rank
            _err("interrupted (the last checkpoint written is intact)")
        return 130
    except Exception as exc:  # noqa: BLE001 - every error becomes one line
        if debug:
            raise
        return ranks.fail(f"{PROG}: error: {_describe(exc)}", exc.code if isinstance(exc, CLIError) else 1)


def _describe(exc) -> str:
    if isinstance(exc, (CLIError, DataError, CheckpointError)):
        return str(exc)
    if isinstance(exc, MemoryError):
        return (f"out of memory ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                f"try a smaller --batch-size, --hidden or data set")
    if isinstance(exc, OSError):
        where = f" {exc.filename!r}" if exc.filename else ""
        return f"cannot access{where}: {exc.strerror or exc}"
    msg = str(exc).splitlines()[0] if str(exc) else ""
    return f"internal error: {type(exc).__name__}: {msg} (set CUGRAD_DEBUG=1 for the traceback)"


def _err(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line, without the source line Python would print under it."""
    text = str(message).splitlines()[0] if str(message) else ""
    print(f"{PROG}: warning: {category.__name__}: {text}", file=sys.stderr, flush=True)


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
    print(f"distributed: {_distributed_status(version)}")
    return 0


def _distributed_status(version) -> str:
    """Where this process stands in a job (from its launcher), and the MPI and NCCL it could use."""
    from . import distributed
    job = distributed.launch.from_environment()
    where = (f"rank {job.rank} of {job.world_size}, local rank {job.local_rank} (launched by {job.launcher})"
             if job.launcher != "none" else "a single process (rank 0 of 1)")
    mpi = f"mpi4py {version('mpi4py')}" + (f", mpich {version('mpich')}" if version("mpich") != "not installed" else "")
    try:
        nccl = "NCCL " + ".".join(map(str, distributed.nccl.version()))
    except ImportError:
        nccl = "no NCCL"
    return f"{where}; {mpi}; {nccl}"


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
        d = kernels.loader._driver()
        for fam in kernels.FAMILIES:
            d.module(fam).get_function(kernels.NAME_EXPRESSIONS[fam][0])
        return f"compile and load ({len(kernels.FAMILIES)} families, {time.perf_counter() - t0:.1f} s)"
    except Exception as exc:  # noqa: BLE001
        return f"FAIL: {str(exc).splitlines()[0]}"


def cmd_bench(args, pytest_args) -> int:
    """Run benchmarks/ under pytest-benchmark, then write its report with benchmarks/report.py.
    Both live in the source checkout, not in the wheel."""
    import cugrad

    src = Path(cugrad.__file__).resolve().parents[1]
    bench_dir = src.parent / "benchmarks"
    if not (bench_dir / "report.py").is_file():
        raise CLIError(f"'cugrad bench' needs the source checkout's benchmarks/ (not found at {bench_dir}); "
                       f"run it from a clone of the repository (PYTHONPATH=src or pip install -e .)")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.json"
    results.unlink(missing_ok=True)  # a stale file must not pass for this run's timings
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-m", "pytest", str(bench_dir), f"--benchmark-json={results}", *pytest_args]
    print("cugrad bench: " + " ".join(cmd), flush=True)
    status = subprocess.run(cmd, env=env).returncode
    if not results.is_file() or results.stat().st_size == 0:
        if status != 0:
            raise CLIError(f"the benchmarks failed (pytest exit status {status}) and recorded no timings")
        print("cugrad bench: no timings recorded (--benchmark-disable?), so no report", flush=True)
        return 0
    spec = importlib.util.spec_from_file_location("cugrad_bench_report", bench_dir / "report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    res = report.write_report([results], out, title=args.title)
    print(report.short_table(res["rows"], res["targets"]))
    print(f"wrote {results}, {res['markdown']}" + (f", {res['chart']}" if res["chart"] else ""), flush=True)
    if status != 0:
        raise CLIError(f"some benchmarks failed (pytest exit status {status}); the report covers those that ran")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
