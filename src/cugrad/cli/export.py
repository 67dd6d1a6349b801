"""``cugrad export``: a training checkpoint's model as an ONNX file."""
from __future__ import annotations

import json

import numpy as np

from .. import onnx
from .parser import CLIError
from .runs import layer_sizes, load_training_checkpoint, trained_model


def run(args) -> int:
    """A training checkpoint's model, with its input normalisation in front, as an ONNX file (batch
    axis symbolic)."""
    if args.opset < onnx.MIN_OPSET:
        raise CLIError(f"--opset must be >= {onnx.MIN_OPSET} (LayerNormalization), got {args.opset}")
    ckpt = load_training_checkpoint(args.checkpoint)
    cfg = ckpt["config"]
    model = trained_model(ckpt, args.checkpoint)
    meta = {"cugrad.task": cfg["task_kind"], "cugrad.activation": cfg["activation"]}
    if cfg.get("classes") is not None:
        meta["cugrad.classes"] = json.dumps([str(c) for c in cfg["classes"]])
    try:
        onnx.export(model, args.output, np.zeros((1, cfg["n_features"]), np.float32), opset=args.opset,
                    normalize=(ckpt["normalize"]["mean"], ckpt["normalize"]["std"]), metadata=meta)
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    arch = "→".join(map(str, layer_sizes(cfg)))
    what = "logits" if cfg["task_kind"] == "classification" else "predictions"
    print(f"wrote {args.output}: MLP {arch} {cfg['activation']}; input 'input' (batch, {cfg['n_features']}) of raw "
          f"features, output 'output' (batch, {cfg['n_outputs']}) of {what}; opset {args.opset}")
    return 0
