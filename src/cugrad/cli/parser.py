"""The ``cugrad`` command's flags, and :class:`CLIError`, the user error every command raises.

A parse error is a :class:`CLIError` too (exit status 2), so it prints as the same one line."""
from __future__ import annotations

import argparse

from .. import nn
from ..onnx import DEFAULT_OPSET

PROG = "cugrad"


class CLIError(Exception):
    """A user error: printed as one line, exit status ``code``."""

    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise CLIError(f"{message} (see '{self.prog} --help')", code=2)


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
