"""kernels/softmax_xent.cu: fused softmax cross-entropy against class labels, forward (per-row loss,
max and log-sum-exp of the shifted row) and backward (one pass, no N x C temporaries), each beside
its NumPy twin."""
from __future__ import annotations

import numpy as np

from .launch import acc_dtype, contiguous, ctype, finish_output, grid_for, is_16bit, output_buffer, row_block
from .loader import driver, on_device


def _check(fn, logits, target):
    if logits.ndim != 2:
        raise ValueError(f"{fn}: logits must be (N, C), got shape {logits.shape}")
    if target.ndim != 1 or not np.issubdtype(target.dtype, np.integer):
        raise TypeError(f"{fn}: target must be 1-D integer class labels, got {target.dtype} of shape {target.shape}")
    if target.shape[0] != logits.shape[0]:
        raise ValueError(f"{fn}: target shape {target.shape} does not match logits {logits.shape}")


def softmax_xent_forward(logits, target):
    """(loss_rows, row_max, log_sum) for logits (N, C) and int64 class labels t (N,):
    row_max[i] = max_c logits[i,c], log_sum[i] = log sum_c exp(logits[i,c] - row_max[i]), and
    loss_rows[i] = log_sum[i] - (logits[i,t] - row_max[i]), all from the shifted logits, so a large
    offset shared by a row cancels exactly instead of eating float32's digits. Outputs are float32
    for float16/bfloat16 logits, else the logits dtype. An out-of-range label gives NaN for its row."""
    _check("softmax_xent_forward", logits, target)
    if not on_device(logits, target):
        return _np_softmax_xent_forward(logits, target)
    d = driver()
    ct = ctype(logits.dtype, "softmax_xent_forward")
    rows, cols = logits.shape
    acc = acc_dtype(logits.dtype)
    loss, row_max, log_sum = d.empty((rows,), acc), d.empty((rows,), acc), d.empty((rows,), acc)
    if rows:
        x = contiguous(d, logits)
        t = contiguous(d, target, np.int64)
        d.module("softmax_xent").get_function(f"xent_fwd<{ct}>")(
            grid_for(d, rows, 1), (row_block(cols),), (x, t, loss, row_max, log_sum, np.int64(rows), np.int64(cols)))
    return loss, row_max, log_sum


def _np_softmax_xent_forward(logits, target):
    x = logits.astype(np.float32) if is_16bit(logits.dtype) else logits
    m = x.max(axis=1) if x.shape[1] else np.zeros(x.shape[0], x.dtype)
    e = np.subtract(x, m[:, None])
    np.exp(e, out=e)
    log_sum = np.log(e.sum(axis=1))
    rows = np.arange(x.shape[0])
    t = target.astype(np.int64, copy=False)
    ok = (t >= 0) & (t < x.shape[1])
    picked = x[rows, np.where(ok, t, 0)] - m if x.shape[1] else np.zeros(x.shape[0], x.dtype)
    picked[~ok] = np.nan
    return log_sum - picked, m, log_sum


def softmax_xent_backward(logits, row_max, log_sum, target, row_scale, out=None):
    """dlogits[i,c] = (exp((logits[i,c] - row_max[i]) - log_sum[i]) - [c == t_i]) * row_scale[i], in
    one pass with no N x C temporaries. row_max, log_sum: from the forward; row_scale: (N,)."""
    _check("softmax_xent_backward", logits, target)
    for name, a in (("row_max", row_max), ("log_sum", log_sum), ("row_scale", row_scale)):
        if tuple(a.shape) != logits.shape[:1]:
            raise ValueError(f"softmax_xent_backward: {name} shape {tuple(a.shape)} != ({logits.shape[0]},), one per row")
    if not on_device(logits, row_max, log_sum, target, row_scale, out):
        return _np_softmax_xent_backward(logits, row_max, log_sum, target, row_scale, out)
    d = driver()
    ct = ctype(logits.dtype, "softmax_xent_backward")
    rows, cols = logits.shape
    acc = acc_dtype(logits.dtype)
    dst, final = output_buffer(d, out, logits.shape, logits.dtype, "softmax_xent_backward",
                               inputs=(logits, row_max, log_sum, target, row_scale))
    if logits.size:
        d.module("softmax_xent").get_function(f"xent_bwd<{ct}>")(
            grid_for(d, rows, 1), (row_block(cols),),
            (contiguous(d, logits), contiguous(d, row_max, acc), contiguous(d, log_sum, acc),
             contiguous(d, target, np.int64), contiguous(d, row_scale, acc), dst, np.int64(rows), np.int64(cols)))
    return finish_output(dst, final)


def _np_softmax_xent_backward(logits, row_max, log_sum, target, row_scale, out):
    acc = acc_dtype(logits.dtype)
    if out is None:
        out = np.empty_like(logits)
    half = is_16bit(logits.dtype)
    p = np.empty(logits.shape, np.float32) if half else out      # 16-bit: one float32 temporary
    np.subtract(logits, row_max.astype(acc, copy=False)[:, None], out=p)
    p -= log_sum.astype(acc, copy=False)[:, None]
    np.exp(p, out=p)
    rows = np.arange(logits.shape[0])
    t = target.astype(np.int64, copy=False)
    ok = (t >= 0) & (t < logits.shape[1])
    p[rows[ok], t[ok]] -= 1
    p[~ok] = np.nan
    np.multiply(p, row_scale.astype(acc, copy=False)[:, None], out=p)
    if half:
        np.copyto(out, p, casting="unsafe")
    return out
