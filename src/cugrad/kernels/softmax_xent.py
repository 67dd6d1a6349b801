"""kernels/softmax_xent.cu: fused softmax cross-entropy, forward (per-row loss and log-sum-exp)
and backward (one pass, no N x C temporaries), each beside its NumPy twin."""
from __future__ import annotations

import numpy as np

from .launch import _acc, _contig, _ctype, _finish, _grid, _is_16bit, _output, _row_block
from .loader import _driver, _on_device


def _xent_target(fn, logits, target):
    if logits.ndim != 2:
        raise ValueError(f"{fn}: logits must be (N, C), got shape {logits.shape}")
    if target.ndim == 1 and np.issubdtype(target.dtype, np.integer):
        if target.shape[0] != logits.shape[0]:
            raise ValueError(f"{fn}: target shape {target.shape} does not match logits {logits.shape}")
        return True
    if target.shape != logits.shape:
        raise ValueError(f"{fn}: probability target shape {target.shape} != logits shape {logits.shape}")
    return False


def softmax_xent_forward(logits, target):
    """(loss_rows, lse) for logits (N, C) and target int64 (N,) class indices or float (N, C)
    probabilities: lse[i] = log sum_c exp(logits[i,c]) (max-shifted), loss_rows[i] = lse[i] -
    sum_c y[i,c] logits[i,c]. Outputs are float32 for float16/bfloat16 logits, else the logits dtype. An
    out-of-range label gives NaN for its row."""
    by_index = _xent_target("softmax_xent_forward", logits, target)
    if not _on_device(logits, target):
        return _np_softmax_xent_forward(logits, target, by_index)
    d = _driver()
    ct = _ctype(logits.dtype, "softmax_xent_forward")
    rows, cols = logits.shape
    acc = _acc(logits.dtype)
    loss, lse = d.empty((rows,), acc), d.empty((rows,), acc)
    if rows:
        x = _contig(d, logits)
        t = _contig(d, target, np.int64 if by_index else logits.dtype)
        name = f"xent_fwd<{ct}, {'long long' if by_index else ct}>"
        d.module("softmax_xent").get_function(name)(
            _grid(d, rows, 1), (_row_block(cols),), (x, t, loss, lse, np.int64(rows), np.int64(cols)))
    return loss, lse


def _np_softmax_xent_forward(logits, target, by_index):
    x = logits.astype(np.float32) if _is_16bit(logits.dtype) else logits
    m = x.max(axis=1) if x.shape[1] else np.full(x.shape[0], -np.inf, x.dtype)
    e = np.subtract(x, m[:, None])
    np.exp(e, out=e)
    lse = np.log(e.sum(axis=1))
    lse += m
    if by_index:
        rows = np.arange(x.shape[0])
        t = target.astype(np.int64, copy=False)
        ok = (t >= 0) & (t < x.shape[1])
        picked = x[rows, np.where(ok, t, 0)] if x.shape[1] else np.zeros(x.shape[0], x.dtype)
        picked[~ok] = np.nan
    else:
        y = target.astype(x.dtype, copy=False)
        picked = np.einsum("ij,ij->i", y, x)
    return lse - picked, lse


def softmax_xent_backward(logits, lse, target, row_scale, out=None):
    """dlogits[i,c] = (exp(logits[i,c] - lse[i]) - y[i,c]) * row_scale[i], in one pass with no
    N x C temporaries (y = one-hot of the label, or the probability target). row_scale: (N,)."""
    by_index = _xent_target("softmax_xent_backward", logits, target)
    for name, a in (("lse", lse), ("row_scale", row_scale)):
        if tuple(a.shape) != logits.shape[:1]:
            raise ValueError(f"softmax_xent_backward: {name} shape {tuple(a.shape)} != ({logits.shape[0]},), one per row")
    if not _on_device(logits, lse, target, row_scale, out):
        return _np_softmax_xent_backward(logits, lse, target, row_scale, out, by_index)
    d = _driver()
    ct = _ctype(logits.dtype, "softmax_xent_backward")
    rows, cols = logits.shape
    acc = _acc(logits.dtype)
    dst, final = _output(d, out, logits.shape, logits.dtype, "softmax_xent_backward",
                         inputs=(logits, lse, target, row_scale))
    if logits.size:
        x = _contig(d, logits)
        t = _contig(d, target, np.int64 if by_index else logits.dtype)
        name = f"xent_bwd<{ct}, {'long long' if by_index else ct}>"
        d.module("softmax_xent").get_function(name)(
            _grid(d, rows, 1), (_row_block(cols),),
            (x, _contig(d, lse, acc), t, _contig(d, row_scale, acc), dst, np.int64(rows), np.int64(cols)))
    return _finish(dst, final)


def _np_softmax_xent_backward(logits, lse, target, row_scale, out, by_index):
    acc = _acc(logits.dtype)
    if out is None:
        out = np.empty_like(logits)
    half = _is_16bit(logits.dtype)
    p = np.empty(logits.shape, np.float32) if half else out      # 16-bit: one float32 temporary
    np.subtract(logits, lse.astype(acc, copy=False)[:, None], out=p)
    np.exp(p, out=p)
    if by_index:
        rows = np.arange(logits.shape[0])
        t = target.astype(np.int64, copy=False)
        ok = (t >= 0) & (t < logits.shape[1])
        p[rows[ok], t[ok]] -= 1
        p[~ok] = np.nan
    else:
        np.subtract(p, target.astype(np.float32) if half else target, out=p, casting="unsafe")
    np.multiply(p, row_scale.astype(acc, copy=False)[:, None], out=p)
    if half:
        np.copyto(out, p, casting="unsafe")
    return out
