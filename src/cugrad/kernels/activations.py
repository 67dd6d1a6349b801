"""kernels/activations.cu: bias + activation forward, activation backward from the saved output,
and the bias gradient (a column sum), each beside its NumPy twin."""
from __future__ import annotations

import numpy as np

from .launch import (BLOCK, acc_dtype, contiguous, ctype, finish_output, from_f32, is_16bit, output_buffer,
                     vector_grid)
from .activation_table import CODES, TABLE
from .loader import driver, on_device

ACTIVATIONS = CODES  # name -> the kernel's code (the .cu's enum)
_ROWS = {code: TABLE[name] for name, code in CODES.items()}


def _act_code(activation, fn):
    try:
        return ACTIVATIONS[activation or "identity"]
    except KeyError:
        raise ValueError(f"{fn}: unknown activation {activation!r}; expected one of {list(ACTIVATIONS)}") from None


def bias_activation(x, bias, activation, negative_slope=0.01, out=None):
    """y = act(x + bias), bias None or 1-D of length x.shape[-1] broadcast over rows.

    activation: a name of ``ACTIVATIONS`` (the rows of activation_table); ``negative_slope`` is
    its parameter (leaky_relu's slope, elu's and celu's alpha). ``out`` may be ``x`` itself (in
    place on a GEMM result)."""
    act = _act_code(activation, "bias_activation")
    ct = ctype(x.dtype, "bias_activation")          # floating dtypes only, on either path
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != (x.shape[-1] if x.ndim else 1)):
        raise ValueError(f"bias_activation: bias shape {bias.shape} does not match x shape {x.shape}")
    if not on_device(x, bias, out):
        return _np_bias_activation(x, bias, act, negative_slope, out)
    d = driver()
    dst, final = output_buffer(d, out, x.shape, x.dtype, "bias_activation", inputs=(x, bias))
    if out is not None and out is x and final is None:
        xc = x
    else:
        xc = contiguous(d, x)
    n = x.size
    if n:
        b = contiguous(d, bias, x.dtype) if bias is not None else xc
        f = d.module("activations").get_function(f"bias_act<{ct}>")
        f(vector_grid(d, n, x.itemsize), (BLOCK,),
          (xc, b, dst, np.int64(n), np.int64(x.shape[-1] if x.ndim else 1), np.int32(bias is not None),
           np.int32(act), acc_dtype(x.dtype)(negative_slope)))
    return finish_output(dst, final)


def _np_bias_activation(x, bias, act, slope, out):
    if is_16bit(x.dtype):          # float16/bfloat16: in float32, rounded once, like the kernel
        y = _np_bias_activation(x.astype(np.float32), None if bias is None else bias.astype(np.float32),
                                act, slope, None)
        return from_f32(y, x.dtype, out)
    if out is None:
        y = np.add(x, bias) if bias is not None else x.copy()
    else:
        if bias is not None:
            np.add(x, bias, out=out)
        elif out is not x:
            np.copyto(out, x)
        y = out
    r = _ROWS[act].forward(y, slope)
    if r is not y:
        np.copyto(y, r)
    return y


def activation_backward(g, y, activation, negative_slope=0.01, out=None, bias_grad=False):
    """dx = g·act'(x) from the upstream gradient g and the saved array y, in one pass: the
    activation's output where its table row ``saves`` "y" (identity, relu, leaky_relu, sigmoid,
    tanh), its input otherwise.

    bias_grad=True returns ``(dx, db)``, db the bias gradient of dx (``bias_grad(dx)``: the sum over
    every axis but the last, shape (g.shape[-1],)); on the GPU accumulated in the same pass that
    writes dx (``act_backward_colsum``), then a reduction of its per-row-chunk partial sums."""
    act = _act_code(activation, "activation_backward")
    if g.shape != y.shape:
        raise ValueError(f"activation_backward: g shape {g.shape} != y shape {y.shape}")
    if not on_device(g, y, out):
        dx = _np_activation_backward(g, y, act, negative_slope, out)
        if not bias_grad:
            return dx
        rows, cols = _rows_cols(g)
        return dx, _np_bias_grad(dx, rows, cols)
    d = driver()
    ct = ctype(g.dtype, "activation_backward")
    dst, final = output_buffer(d, out, g.shape, g.dtype, "activation_backward", inputs=(g, y))
    n = g.size
    if bias_grad:
        db = _act_backward_colsum(d, ct, g, y, dst, act, negative_slope)
        return finish_output(dst, final), db
    if n:
        gc, yc = contiguous(d, g), contiguous(d, y, g.dtype)
        f = d.module("activations").get_function(f"act_backward<{ct}>")
        f(vector_grid(d, n, g.itemsize), (BLOCK,),
          (gc, yc, dst, np.int64(n), np.int32(act), acc_dtype(g.dtype)(negative_slope)))
    return finish_output(dst, final)


def _rows_cols(g):
    cols = g.shape[-1] if g.ndim else 1
    return (g.size // cols if cols else 0), cols


def _act_backward_colsum(d, ct, g, y, dst, act, slope):
    """Kernel path of activation_backward(..., bias_grad=True): dx into ``dst`` (contiguous) and
    the bias gradient, returned. More row chunks than bias_grad (the pass also writes dx, so it
    wants the occupancy of an elementwise kernel)."""
    rows, cols = _rows_cols(g)
    arrays = (contiguous(d, g), contiguous(d, y, g.dtype), dst)
    tail = (np.int64(rows), np.int64(cols), np.int32(act), acc_dtype(g.dtype)(slope))
    return _column_sums(d, "act_backward_colsum", ct, g, arrays, tail, blocks_per_sm=8, rows_per_lane=4)


def _column_sums(d, kernel, ct, g, arrays, tail, blocks_per_sm, rows_per_lane):
    """Sums over every axis but the last of what ``kernel<T, Out>`` (built on column_chunk_sums)
    adds up for ``g``'s shape (C type ``ct``), on the GPU: its launch over row chunks writes one
    partial row per chunk, then col_sum reduces those; with one chunk it writes the result.
    ``arrays`` are the kernel's arguments before its output, ``tail`` those after it. Chunks: up
    to ``blocks_per_sm`` blocks per multiprocessor, at least ``rows_per_lane`` rows per row lane."""
    rows, cols = _rows_cols(g)
    out = d.empty((cols,), g.dtype)
    if rows == 0 or cols == 0:
        out[...] = 0
        return out
    mod = d.module("activations")
    colblocks = -(-cols // 32)
    if d.grid is not None:                  # tests: this many column blocks and row chunks
        gx = int(d.grid)
        chunks = min(gx, 65535)
    else:
        gx = colblocks
        chunks = max(1, min(d.multiprocessors * blocks_per_sm // colblocks,
                            rows // (rows_per_lane * (BLOCK // 32)), 65535))
    if chunks == 1:
        mod.get_function(f"{kernel}<{ct}, {ct}>")((gx, 1), (BLOCK,), arrays + (out,) + tail)
        return out
    acc = acc_dtype(g.dtype)
    at = "double" if acc is np.float64 else "float"
    part = d.empty((chunks, cols), acc)
    mod.get_function(f"{kernel}<{ct}, {at}>")((gx, chunks), (BLOCK,), arrays + (part,) + tail)
    mod.get_function(f"col_sum<{at}, {ct}>")((min(gx, colblocks), 1), (BLOCK,),
                                             (part, out, np.int64(chunks), np.int64(cols)))
    return out


def _np_activation_backward(g, y, act, slope, out):
    if is_16bit(g.dtype):          # float16/bfloat16: in float32, rounded once, like the kernel
        r = _np_activation_backward(g.astype(np.float32), y.astype(np.float32), act, slope, None)
        return from_f32(r, g.dtype, out)
    r = _ROWS[act].grad(g, y, slope)
    if out is None:
        return np.asarray(r, dtype=g.dtype)
    np.copyto(out, r)
    return out


def bias_grad(g):
    """db[c] = sum of g over every axis but the last; shape (g.shape[-1],), dtype g.dtype
    (float32 accumulation for float16 and bfloat16). GPU: a two-stage column reduction (row chunks, then
    their partial sums). ``activation_backward(..., bias_grad=True)`` fuses it into dx's pass."""
    rows, cols = _rows_cols(g)
    if not on_device(g):
        return _np_bias_grad(g, rows, cols)
    d = driver()
    ct = ctype(g.dtype, "bias_grad")
    tail = (np.int64(rows), np.int64(cols))
    return _column_sums(d, "col_sum", ct, g, (contiguous(d, g),), tail, blocks_per_sm=4, rows_per_lane=16)


def _np_bias_grad(g, rows, cols):
    g2 = g.reshape(rows, cols)
    if is_16bit(g.dtype):
        return g2.astype(np.float32).sum(axis=0).astype(g.dtype)
    # a GEMV with a ones vector: BLAS reads g once, ~1.5x faster than sum(axis=0) on 4096 x 1024
    # (benchmarks/test_bench_bias_grad.py)
    return np.ones(rows, g.dtype) @ g2
