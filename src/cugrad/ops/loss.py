"""Losses: softmax cross-entropy (fused; label smoothing and ignored labels composed), negative
log-likelihood, binary cross-entropy of probabilities and of logits, mean squared error, Huber and
smooth L1, multiclass hinge, L2 penalty.

Each takes ``reduction="mean" | "sum" | "none"`` like PyTorch.
"""
from __future__ import annotations

import numpy as np

from .. import backend, kernels, precision
from .. import tensor as _tensor
from ..autograd import Function
from .activation import log_softmax, relu, softmax, softplus
from .broadcasting import broadcast_shape, require_tensor, shape_of
from .elementwise import abs as _abs
from .elementwise import log, maximum, where
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


def cross_entropy(logits, target, reduction="mean", ignore_index=None, label_smoothing=0.0):
    """Softmax cross-entropy of ``logits`` (N, C) against integer labels (N,) or probabilities (N, C).

    Labels: Lᵢ = −log softmax(zᵢ)_{tᵢ} by the fused kernel. Probabilities (PyTorch's semantics, right
    for rows that do not sum to 1 too): Lᵢ = −Σⱼ yᵢⱼ · log_softmax(zᵢ)ⱼ, composed from log_softmax,
    so dL/dz = (Σⱼ yᵢⱼ)·softmax(zᵢ) − yᵢ and dL/dy = −log_softmax(z). "mean" divides by N.
    Integer logits are float32; the target is cast to the logits' dtype.

    ``label_smoothing`` ε ∈ [0, 1] and ``ignore_index`` (labels only; None: no label is ignored,
    where PyTorch's default is −100) are PyTorch's: the terms of nll_loss on log_softmax(z), and
    probabilities become (1 − ε)·y + ε/C. Either option takes the composed path.
    """
    _check_reduction("cross_entropy", reduction)
    _check_label_options("cross_entropy", ignore_index, label_smoothing)
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
        _check_label_range("cross_entropy", target_data, c, ignore_index)
        if ignore_index is None and not label_smoothing:
            return SoftmaxCrossEntropy.apply(logits, target, reduction)
        return _label_nll(log_softmax(logits, axis=1), target_data, reduction, ignore_index, label_smoothing)
    if not backend.is_floating(target_data.dtype):
        raise TypeError(f"cross_entropy: target must hold integer labels or float probabilities, got {target_data.dtype}")
    if tuple(target_data.shape) != (n, c):
        raise ValueError(f"cross_entropy: probability target must have the logits' shape {logits.shape}, got {tuple(target_data.shape)}")
    if ignore_index is not None:
        raise ValueError(f"cross_entropy: ignore_index applies to integer labels, not to a probability target "
                         f"({target_data.dtype} of shape {tuple(target_data.shape)})")
    if target_data.dtype != logits.dtype:
        target = astype(target, logits.dtype)
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + label_smoothing / c
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


def _check_label_options(op, ignore_index, label_smoothing):
    if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer))):
        raise TypeError(f"{op}: ignore_index must be an integer or None, got {ignore_index!r}")
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) or not 0 <= label_smoothing <= 1:
        raise ValueError(f"{op}: label_smoothing must be a number in [0, 1], got {label_smoothing!r}")


def _check_label_range(op, labels, c, ignore_index):
    """A ValueError unless every label but ``ignore_index`` lies in [0, C) (checked on the CPU only:
    on a GPU it would wait for the device)."""
    if backend.device_of(labels).type != "cpu" or not labels.size:
        return
    counted = labels if ignore_index is None else labels[labels != ignore_index]
    if counted.size and (counted.min() < 0 or counted.max() >= c):
        hint = ""
        if ignore_index is None and (counted == -100).any():
            hint = " (-100 is PyTorch's default ignore_index: pass ignore_index=-100 to skip those rows)"
        raise ValueError(f"{op}: labels must lie in [0, {c}), got values in [{counted.min()}, {counted.max()}]{hint}")


def _label_nll(log_probs, labels, reduction, ignore_index=None, label_smoothing=0.0):
    """Lᵢ = (1 − ε)·(−x_{i,tᵢ}) + ε·(−Σⱼ xᵢⱼ / C) of log-probabilities x (N, C) at labels t, and 0
    where tᵢ = ignore_index (PyTorch's cross-entropy terms). The pick is a gather by indexing, so
    dL/dx is −(1 − ε)g at (i, tᵢ) and −εg/C across row i, 0 on ignored rows; "mean" divides by
    the number of rows not ignored (nan when there are none, as PyTorch)."""
    n, c = log_probs.shape
    xp = backend.array_module(labels)
    with backend.device_context(log_probs.device):  # CuPy allocates on the current GPU
        rows = xp.arange(n)
        keep = None if ignore_index is None else labels != ignore_index
        picked = labels if keep is None else xp.where(keep, labels, 0)
    loss = -log_probs[rows, picked]
    if label_smoothing:
        loss = (1.0 - label_smoothing) * loss - (label_smoothing / c) * _sum(log_probs, axis=1)
    if keep is None:
        return _reduce("nll_loss", loss, reduction)
    loss = where(keep, loss, 0.0)
    if reduction == "none":
        return loss
    total = _sum(loss)
    return total / keep.sum() if reduction == "mean" else total


def nll_loss(log_probs, target, reduction="mean", ignore_index=None, label_smoothing=0.0):
    """Negative log-likelihood of log-probabilities x (N, C) at integer labels t (N,): Lᵢ = −x_{i,tᵢ}.

    A gather by indexing, so dL/dx is −g at (i, tᵢ) and 0 elsewhere ("mean" divides by N: nan for
    N = 0, as PyTorch). Integer input is float32. ``ignore_index`` as PyTorch's (None: no label
    is ignored; PyTorch's default is −100): those rows give 0 and "mean" divides by the rest.
    ``label_smoothing`` ε (PyTorch's nll_loss has none): cross_entropy's smoothed terms on the
    given log-probabilities, (1 − ε)·(−x_{i,tᵢ}) − ε·Σⱼ xᵢⱼ / C.
    """
    _check_reduction("nll_loss", reduction)
    _check_label_options("nll_loss", ignore_index, label_smoothing)
    labels = _class_labels("nll_loss", "input", log_probs, target)
    _check_label_range("nll_loss", labels, log_probs.shape[1], ignore_index)
    return _label_nll(as_float(log_probs), labels, reduction, ignore_index, label_smoothing)


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


class BinaryCrossEntropy(Function):
    """Lᵢ = −[yᵢ·max(log pᵢ, −100) + (1 − yᵢ)·max(log(1 − pᵢ), −100)] of probabilities p, elementwise:
    PyTorch's clamp keeps p = 0 and p = 1 finite.

    dL/dp = g·(p − y) / max(p(1 − p), 10⁻¹²) and dL/dy = g·(log(1 − p) − log p) (unclamped: ±inf
    at p = 0, 1), PyTorch's rules; built from differentiable ops, so create_graph differentiates
    them (PyTorch's own second derivative adds its 10⁻¹² elsewhere: a difference below 1e-10 only
    for p within about 1e-2 of 0 or 1).
    """

    fp_quiet = True

    @staticmethod
    def forward(ctx, p, y):
        xp = backend.array_module(p, y)
        ctx.save_for_backward(p, y)
        return -(y * xp.maximum(xp.log(p), -100.0) + (1 - y) * xp.maximum(xp.log1p(-p), -100.0))

    @staticmethod
    def backward(ctx, g):
        p, y = ctx.saved
        need_p, need_y = ctx.needs_input_grad
        gp = g * (p - y) / maximum(p * (1 - p), _BCE_EPS) if need_p else None
        gy = g * (log(1 - p) - log(p)) if need_y else None
        return gp, gy


_BCE_EPS = float(np.float32(1e-12))   # PyTorch's ε: 1e-12 held in a float


def binary_cross_entropy(prediction, target, weight=None, reduction="mean"):
    """Binary cross-entropy of probabilities p ∈ [0, 1] against targets y, times ``weight`` (a
    tensor broadcasting to p's shape) when given, reduced over every element (BinaryCrossEntropy).
    p outside [0, 1] is a ValueError (checked on the CPU; on a GPU it gives nan)."""
    prediction, target = _float_pair("binary_cross_entropy", prediction, target, reduction)
    data = _data(prediction)
    if backend.device_of(data).type == "cpu" and data.size and not ((data >= 0) & (data <= 1)).all():
        raise ValueError(f"binary_cross_entropy: prediction must hold probabilities in [0, 1], got values in "
                         f"[{data.min()}, {data.max()}]")
    loss = BinaryCrossEntropy.apply(prediction, target)
    return _reduce_elements("binary_cross_entropy", _weighted("binary_cross_entropy", loss, weight), reduction)


def binary_cross_entropy_with_logits(logits, target, reduction="mean", weight=None, pos_weight=None):
    """−[w⁺·y·log σ(x) + (1 − y)·log(1 − σ(x))] = (1 − y)·x + (1 + (w⁺ − 1)·y)·softplus(−x), times
    ``weight`` when given, reduced over every element; w⁺ = ``pos_weight`` (a tensor broadcasting to
    x's shape, e.g. one per class) weighs the positive term. Without it this is softplus(x) − x·y =
    max(x, 0) − x·y + log1p(e^−|x|): no exponent of a positive number, for any x. dL/dx = σ(x) − y
    without pos_weight, (1 + (w⁺ − 1)y)·σ(x) − w⁺·y with it; dL/dy = −x, resp. −x + (w⁺ − 1)·softplus(−x)."""
    op = "binary_cross_entropy_with_logits"
    logits, target = _float_pair(op, logits, target, reduction)
    if pos_weight is None:
        loss = softplus(logits) - logits * target
    else:
        _check_weight(op, "pos_weight", pos_weight, logits.shape)
        loss = (1 - target) * logits + (1 + (pos_weight - 1) * target) * softplus(-logits)
    return _reduce_elements(op, _weighted(op, loss, weight), reduction)


def _check_weight(op, name, weight, shape):
    """A TypeError unless ``weight`` is a tensor, a ValueError unless it broadcasts to ``shape``."""
    require_tensor(op, name, weight)
    if broadcast_shape(op, shape_of(weight), shape) != tuple(shape):
        raise ValueError(f"{op}: {name} of shape {shape_of(weight)} does not broadcast to the input's shape {tuple(shape)}")


def _weighted(op, loss, weight):
    """``loss`` times ``weight`` (a tensor broadcasting to its shape), or ``loss`` without one."""
    if weight is None:
        return loss
    _check_weight(op, "weight", weight, loss.shape)
    return loss * weight


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
