"""Losses: softmax cross-entropy (fused), negative log-likelihood, binary cross-entropy of logits,
mean squared error, Huber and smooth L1, multiclass hinge, L2 penalty.

Each takes ``reduction="mean" | "sum" | "none"`` like PyTorch.
"""
from __future__ import annotations

from .. import backend, kernels, precision
from .. import tensor as _tensor
from ..autograd import Function
from .activation import log_softmax, relu, softmax, softplus
from .broadcasting import require_tensor
from .elementwise import abs as _abs
from .elementwise import where
from .promotion import as_float
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
    """Lᵢ = −log softmax(zᵢ)_{tᵢ} = log Σⱼ e^(zᵢⱼ − mᵢ) − (z_{i,tᵢ} − mᵢ) for logits z (N, C), class
    labels t (N,) and row maxima m — from the shifted logits, so a large offset shared by a row
    cancels exactly (lse − z_t would lose float32's digits to it).

    dL/dz = (softmax(z) − onehot(t)) · sᵢ with sᵢ the upstream gradient of row i (g/N for "mean"):
    one pass that writes dz directly, no N×C temporary (see SoftmaxCrossEntropyGrad).
    """

    fp_quiet = True

    @staticmethod
    def forward(ctx, logits, target, reduction):
        rows, row_max, log_sum = kernels.softmax_xent_forward(logits, target)
        ctx.reduction = reduction
        ctx.save_for_backward(logits, target, row_max, log_sum)
        if reduction == "none":
            return rows.astype(logits.dtype, copy=False)
        total = rows.sum(dtype=rows.dtype)
        return (total / rows.shape[0] if reduction == "mean" else total).astype(logits.dtype)

    @staticmethod
    def backward(ctx, g):
        logits, target, row_max, log_sum = ctx.saved
        n = logits.shape[0]
        if ctx.reduction == "none":
            row_scale = g
        else:
            row_scale = broadcast_rows(g / n if ctx.reduction == "mean" else g, n)
        return SoftmaxCrossEntropyGrad.apply(logits, target, row_scale, row_max, log_sum), None, None


class SoftmaxCrossEntropyGrad(Function):
    """dz = (p − onehot(t)) ⊙ s, p = softmax(z), by the fused kernel.

    Its own backward (create_graph): for upstream h,  d/dz = p ⊙ (h·s − Σⱼ p ⊙ h·s),
    d/ds = Σⱼ h ⊙ p − h_t;  p is recomputed from z so higher orders stay exact.
    """

    fp_quiet = True

    @staticmethod
    def forward(ctx, logits, target, row_scale, row_max, log_sum):
        ctx.save_for_backward(logits, target, row_scale)
        return kernels.softmax_xent_backward(logits, row_max, log_sum, target, row_scale)

    @staticmethod
    def backward(ctx, h):
        logits, target, row_scale = ctx.saved
        need_logits, _, need_scale = ctx.needs_input_grad[:3]
        n = logits.shape[0]
        p = softmax(logits, axis=1)
        scaled = h * row_scale.reshape(n, 1)
        dlogits = p * (scaled - (p * scaled).sum(axis=1, keepdims=True)) if need_logits else None
        dscale = None
        if need_scale:
            dscale = (h * p).sum(axis=1) - h[backend.array_module(_data(target)).arange(n), target]
        return dlogits, None, dscale, None, None


def broadcast_rows(g, n):
    """The scalar upstream gradient ``g`` repeated for ``n`` rows (an (n,) array or Tensor)."""
    return broadcast_to(g.reshape(1), (n,))


def _data(x):
    return x.data if isinstance(x, _tensor.Tensor) else x


def cross_entropy(logits, target, reduction="mean"):
    """Softmax cross-entropy of ``logits`` (N, C) against integer labels (N,) or probabilities (N, C).

    Labels: Lᵢ = −log softmax(zᵢ)_{tᵢ} by the fused kernel. Probabilities (PyTorch's semantics, right
    for rows that do not sum to 1 too): Lᵢ = −Σⱼ yᵢⱼ · log_softmax(zᵢ)ⱼ, composed from log_softmax,
    so dL/dz = (Σⱼ yᵢⱼ)·softmax(zᵢ) − yᵢ and dL/dy = −log_softmax(z). "mean" divides by N.
    Integer logits are float32; the target is cast to the logits' dtype.
    """
    _check_reduction("cross_entropy", reduction)
    require_tensor("cross_entropy", "logits", logits)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must be 2-D (N, C), got shape {logits.shape}")
    logits = as_float(logits)
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
        return SoftmaxCrossEntropy.apply(logits, target, reduction)
    if not backend.is_floating(target_data.dtype):
        raise TypeError(f"cross_entropy: target must hold integer labels or float probabilities, got {target_data.dtype}")
    if tuple(target_data.shape) != (n, c):
        raise ValueError(f"cross_entropy: probability target must have the logits' shape {logits.shape}, got {tuple(target_data.shape)}")
    if target_data.dtype != logits.dtype:
        target = astype(target, logits.dtype)
    rows = -_sum(target * log_softmax(logits, axis=1), axis=1)
    return _reduce("cross_entropy", rows, reduction)


def _class_labels(op, name, x, target):
    """The label array of ``target`` after checking ``x`` is a 2-D (N, C) tensor and ``target`` integer (N,)."""
    require_tensor(op, name, x)
    if x.ndim != 2:
        raise ValueError(f"{op}: {name} must be 2-D (N, C), got shape {x.shape}")
    labels = _data(target)
    if not backend.is_array(labels) or labels.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must be integer labels, got {getattr(labels, 'dtype', type(labels).__name__)}")
    if tuple(labels.shape) != (x.shape[0],):
        raise ValueError(f"{op}: target must have shape ({x.shape[0]},) for {name} {x.shape}, got {tuple(labels.shape)}")
    return labels


def nll_loss(log_probs, target, reduction="mean"):
    """Negative log-likelihood of log-probabilities x (N, C) at integer labels t (N,): Lᵢ = −x_{i,tᵢ}.

    A gather by indexing, so dL/dx is −g at (i, tᵢ) and 0 elsewhere ("mean" divides by N: nan for
    N = 0, as PyTorch). Integer input is float32.
    """
    _check_reduction("nll_loss", reduction)
    labels = _class_labels("nll_loss", "input", log_probs, target)
    n, c = log_probs.shape
    if backend.device_of(labels).type == "cpu" and n and (labels.min() < 0 or labels.max() >= c):
        raise ValueError(f"nll_loss: labels must lie in [0, {c}), got values in [{labels.min()}, {labels.max()}]")
    log_probs = as_float(log_probs)
    with backend.device_context(log_probs.device):  # CuPy allocates on the current GPU
        rows = backend.array_module(labels).arange(n)
    return _reduce("nll_loss", -log_probs[rows, labels], reduction)


def mse_loss(prediction, target, reduction="mean"):
    """(prediction − target)², reduced over every element like PyTorch's mse_loss."""
    _check_reduction("mse_loss", reduction)
    require_tensor("mse_loss", "prediction", prediction)
    require_tensor("mse_loss", "target", target)
    if tuple(prediction.shape) != tuple(target.shape):
        raise ValueError(f"mse_loss: prediction shape {prediction.shape} differs from target shape {tuple(target.shape)}")
    prediction, target = as_float(prediction), as_float(target)
    if reduction == "none":
        diff = prediction - target
        return diff * diff
    return SquaredError.apply(prediction, target, reduction)


class SquaredError(Function):
    """L = s · Σ (p − t)² with s = 1 ("sum") or 1/n ("mean": nan for n = 0, as in PyTorch);
    dL/dp = 2s·g·(p − t) = −dL/dt."""

    fp_quiet = True

    @staticmethod
    def forward(ctx, prediction, target, reduction):
        diff = prediction - target
        n = diff.size
        ctx.scale = (1.0 / n if n else float("nan")) if reduction == "mean" else 1.0
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


def huber_loss(prediction, target, reduction="mean", delta=1.0):
    """Huber loss of d = prediction − target: ½d² where |d| < δ, else δ(|d| − ½δ), reduced over
    every element like mse_loss. dL/dp = d (clipped to ±δ outside) = −dL/dt. δ must be positive."""
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    return _reduce_elements("huber_loss", _huber(_difference("huber_loss", prediction, target, reduction), delta), reduction)


def smooth_l1_loss(prediction, target, reduction="mean", beta=1.0):
    """Smooth L1 loss of d = prediction − target: ½d²/β where |d| < β, else |d| − ½β (Huber with
    δ = β, divided by β; |d| for β = 0), reduced over every element. β must not be negative."""
    if not beta >= 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    diff = _difference("smooth_l1_loss", prediction, target, reduction)
    return _reduce_elements("smooth_l1_loss", _huber(diff, beta) / beta if beta else _abs(diff), reduction)


def binary_cross_entropy_with_logits(logits, target, reduction="mean"):
    """−[y·log σ(x) + (1 − y)·log(1 − σ(x))] = softplus(x) − x·y = max(x, 0) − x·y + log1p(e^−|x|),
    never exponentiating a positive number; reduced over every element. dL/dx = σ(x) − y,
    dL/dy = −x."""
    logits, target = _float_pair("binary_cross_entropy_with_logits", logits, target, reduction)
    return _reduce_elements("binary_cross_entropy_with_logits", softplus(logits) - logits * target, reduction)


def _huber(diff, delta):
    """½d² where |d| < δ, else δ(|d| − ½δ), elementwise. The branches meet at |d| = δ in value and
    slope; the outer one's curvature 0 there is PyTorch's second derivative."""
    size = _abs(diff)
    return where(size < delta, 0.5 * diff * diff, delta * (size - 0.5 * delta))


def _difference(op, prediction, target, reduction):
    """prediction − target of _float_pair."""
    prediction, target = _float_pair(op, prediction, target, reduction)
    return prediction - target


def _float_pair(op, prediction, target, reduction):
    """prediction and target as floats after checking both are tensors of one shape."""
    _check_reduction(op, reduction)
    require_tensor(op, "prediction", prediction)
    require_tensor(op, "target", target)
    if tuple(prediction.shape) != tuple(target.shape):
        raise ValueError(f"{op}: prediction shape {prediction.shape} differs from target shape {tuple(target.shape)}")
    return as_float(prediction), as_float(target)


def _reduce_elements(op, values, reduction):
    """values as they are ("none"), or their sum, or their mean over every element (nan for none)."""
    if reduction == "none":
        return values
    total = _sum(values)
    return total / values.size if reduction == "mean" else total


def hinge_loss(scores, target, margin=1.0, reduction="mean"):
    """Multiclass SVM loss: Lᵢ = Σ_{j≠yᵢ} max(0, sⱼ − s_yᵢ + margin)."""
    _check_reduction("hinge_loss", reduction)
    labels = _class_labels("hinge_loss", "scores", scores, target)
    n, c = scores.shape
    scores = as_float(scores)
    xp = backend.array_module(labels)
    with backend.device_context(scores.device):      # CuPy allocates on the current GPU
        rows = xp.arange(n)
        others = xp.ones((n, c), dtype=scores.dtype)
        others[rows, labels] = 0
    correct = scores[rows, labels].reshape(n, 1)
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
