"""Losses: softmax cross-entropy (fused), mean squared error, multiclass hinge, L2 penalty.

Each takes ``reduction="mean" | "sum" | "none"`` like PyTorch.
"""
from __future__ import annotations

from .. import backend, kernels, precision
from .. import tensor as _tensor
from ..autograd import Function
from .activation import relu, softmax
from .reduce import sum as _sum
from .shape import astype, broadcast_to

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(op, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: unknown reduction {reduction!r}; expected one of {', '.join(REDUCTIONS)}")


def _reduce(op, rows, reduction):
    _check_reduction(op, reduction)
    if reduction == "none":
        return rows
    total = _sum(rows)
    return total / rows.shape[0] if reduction == "mean" else total


class SoftmaxCrossEntropy(Function):
    """Lᵢ = logΣⱼe^(zᵢⱼ) − Σⱼ yᵢⱼ zᵢⱼ for logits z (N, C) and labels y (class indices or probabilities).

    dL/dz = (softmax(z) − y) · sᵢ with sᵢ the upstream gradient of row i (g/N for "mean"): one pass
    that writes dz directly, no N×C temporary (see SoftmaxCrossEntropyGrad).
    """

    @staticmethod
    def forward(ctx, logits, target, reduction):
        rows, lse = kernels.softmax_xent_forward(logits, target)
        ctx.reduction = reduction
        ctx.save_for_backward(logits, target, lse)
        if reduction == "none":
            return rows.astype(logits.dtype, copy=False)
        total = rows.sum(dtype=rows.dtype)
        return (total / rows.shape[0] if reduction == "mean" else total).astype(logits.dtype)

    @staticmethod
    def backward(ctx, g):
        logits, target, lse = ctx.saved
        n = logits.shape[0]
        if ctx.reduction == "none":
            row_scale = g
        else:
            row_scale = broadcast_rows(g / n if ctx.reduction == "mean" else g, n)
        need_logits, need_target = ctx.needs_input_grad[:2]
        dlogits = SoftmaxCrossEntropyGrad.apply(logits, target, row_scale, lse) if need_logits else None
        dtarget = -logits * row_scale.reshape(n, 1) if need_target else None  # dLᵢ/dyᵢⱼ = −zᵢⱼ
        return dlogits, dtarget, None


class SoftmaxCrossEntropyGrad(Function):
    """dz = (p − y) ⊙ s, p = softmax(z), by the fused kernel.

    Its own backward (create_graph): for upstream h,  d/dz = p ⊙ (h·s − Σⱼ p ⊙ h·s),
    d/ds = Σⱼ h ⊙ (p − y);  p is recomputed from z so higher orders stay exact.
    """

    @staticmethod
    def forward(ctx, logits, target, row_scale, lse):
        ctx.save_for_backward(logits, target, row_scale)
        return kernels.softmax_xent_backward(logits, lse, target, row_scale)

    @staticmethod
    def backward(ctx, h):
        logits, target, row_scale = ctx.saved
        need_logits, need_target, need_scale = ctx.needs_input_grad[:3]
        n = logits.shape[0]
        p = softmax(logits)
        scaled = h * row_scale.reshape(n, 1)
        dlogits = p * (scaled - (p * scaled).sum(axis=1, keepdims=True)) if need_logits else None
        dtarget = -scaled if need_target else None  # probability targets: d/dy = −h·s
        dscale = None
        if need_scale:
            hp = (h * p).sum(axis=1)
            if _is_index_target(target):
                dscale = hp - h[backend.array_module(_data(target)).arange(n), target]
            else:
                dscale = hp - (h * target).sum(axis=1)
        return dlogits, dtarget, dscale, None


def broadcast_rows(g, n):
    """The scalar upstream gradient ``g`` repeated for ``n`` rows (an (n,) array or Tensor)."""
    return broadcast_to(g.reshape(1), (n,))


def _data(x):
    return x.data if isinstance(x, _tensor.Tensor) else x


def _is_index_target(target) -> bool:
    return _data(target).dtype.kind in "iu"


def cross_entropy(logits, target, reduction="mean"):
    """Softmax cross-entropy of ``logits`` (N, C) against integer labels (N,) or probabilities (N, C)."""
    _check_reduction("cross_entropy", reduction)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must be 2-D (N, C), got shape {logits.shape}")
    if precision.autocast_dtype() is not None and logits.dtype.itemsize < 4:
        logits = astype(logits, backend.DEFAULT_FLOAT)  # losses run in float32 under autocast
    n, c = logits.shape
    target_data = _data(target)
    if not backend.is_array(target_data):
        raise TypeError(f"cross_entropy: target must be a tensor or array, got {type(target).__name__}")
    if target_data.dtype.kind in "iu":
        if tuple(target_data.shape) != (n,):
            raise ValueError(f"cross_entropy: integer target must have shape ({n},) for logits {logits.shape}, got {tuple(target_data.shape)}")
        if backend.device_of(target_data).type == "cpu" and n and (target_data.min() < 0 or target_data.max() >= c):
            raise ValueError(f"cross_entropy: labels must lie in [0, {c}), got values in [{target_data.min()}, {target_data.max()}]")
    elif target_data.dtype.kind == "f":
        if tuple(target_data.shape) != (n, c):
            raise ValueError(f"cross_entropy: probability target must have the logits' shape {logits.shape}, got {tuple(target_data.shape)}")
    else:
        raise TypeError(f"cross_entropy: target must hold integer labels or float probabilities, got {target_data.dtype}")
    return SoftmaxCrossEntropy.apply(logits, target, reduction)


def mse_loss(prediction, target, reduction="mean"):
    """(prediction − target)², reduced over every element like PyTorch's mse_loss."""
    _check_reduction("mse_loss", reduction)
    if tuple(prediction.shape) != tuple(target.shape):
        raise ValueError(f"mse_loss: prediction shape {prediction.shape} differs from target shape {tuple(target.shape)}")
    if reduction == "none":
        diff = prediction - target
        return diff * diff
    return SquaredError.apply(prediction, target, reduction)


class SquaredError(Function):
    """L = s · Σ (p − t)² with s = 1 ("sum") or 1/n ("mean");  dL/dp = 2s·g·(p − t) = −dL/dt."""

    @staticmethod
    def forward(ctx, prediction, target, reduction):
        diff = prediction - target
        ctx.scale = 1.0 / max(diff.size, 1) if reduction == "mean" else 1.0
        ctx.save_for_backward(prediction, target, diff)
        return backend.array_module(diff).asarray((diff * diff).sum() * ctx.scale, dtype=diff.dtype)

    @staticmethod
    def backward(ctx, g):
        prediction, target, diff = ctx.saved
        if ctx.create_graph:  # diff rebuilt from the inputs, so higher derivatives reach them
            diff = prediction - target
        need_prediction, need_target = ctx.needs_input_grad[:2]
        grad = diff * (g * (2.0 * ctx.scale))
        return (grad if need_prediction else None), (-grad if need_target else None), None


def hinge_loss(scores, target, margin=1.0, reduction="mean"):
    """Multiclass SVM loss: Lᵢ = Σ_{j≠yᵢ} max(0, sⱼ − s_yᵢ + margin)."""
    _check_reduction("hinge_loss", reduction)
    if scores.ndim != 2:
        raise ValueError(f"hinge_loss: scores must be 2-D (N, C), got shape {scores.shape}")
    n, c = scores.shape
    labels = _data(target)
    if labels.dtype.kind not in "iu" or tuple(labels.shape) != (n,):
        raise ValueError(f"hinge_loss: target must be integer labels of shape ({n},), got {labels.dtype} {tuple(labels.shape)}")
    xp = backend.array_module(labels)
    rows = xp.arange(n)
    correct = scores[rows, labels].reshape(n, 1)
    others = xp.ones((n, c), dtype=scores.dtype)
    others[rows, labels] = 0
    margins = relu(scores - correct + margin) * others
    return _reduce("hinge_loss", margins.sum(axis=1), reduction)


def l2_penalty(tensors, weight=1.0):
    """weight · Σ w² over every tensor given (the L2 regularisation term R(W) = Σ W²)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("l2_penalty: needs at least one tensor")
    total = _sum(tensors[0] * tensors[0])
    for t in tensors[1:]:
        total = total + _sum(t * t)
    return total * weight
