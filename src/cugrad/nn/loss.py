"""Loss modules: thin wrappers over nn.functional."""
from __future__ import annotations

from . import functional as F
from .module import Module

__all__ = ["CrossEntropyLoss", "NLLLoss", "MSELoss", "HuberLoss", "SmoothL1Loss", "HingeLoss", "BCEWithLogitsLoss",
           "BCELoss"]


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"{type(self).__name__}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.reduction = reduction

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class _LabelLoss(_Loss):
    """A loss of class labels with PyTorch's ``ignore_index`` (None: no label is ignored) and
    ``label_smoothing``."""

    def __init__(self, reduction: str = "mean", ignore_index=None, label_smoothing: float = 0.0):
        super().__init__(reduction)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def extra_repr(self):
        return f"{super().extra_repr()}, ignore_index={self.ignore_index}, label_smoothing={self.label_smoothing}"


class CrossEntropyLoss(_LabelLoss):
    """Softmax cross-entropy of logits (N, C) against labels (N,) or probabilities (N, C)."""

    def forward(self, logits, target):
        return F.cross_entropy(logits, target, reduction=self.reduction, ignore_index=self.ignore_index,
                               label_smoothing=self.label_smoothing)


class NLLLoss(_LabelLoss):
    """Negative log-likelihood −x_{i,tᵢ} of log-probabilities (N, C) at labels (N,)."""

    def forward(self, log_probs, target):
        return F.nll_loss(log_probs, target, reduction=self.reduction, ignore_index=self.ignore_index,
                          label_smoothing=self.label_smoothing)


class MSELoss(_Loss):
    def forward(self, prediction, target):
        return F.mse_loss(prediction, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """½d² where |d| ≤ delta, else delta·(|d| − ½delta), for d = prediction − target."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction)
        self.delta = delta

    def forward(self, prediction, target):
        return F.huber_loss(prediction, target, reduction=self.reduction, delta=self.delta)


class SmoothL1Loss(_Loss):
    """½d²/beta where |d| < beta, else |d| − ½beta, for d = prediction − target."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0):
        super().__init__(reduction)
        self.beta = beta

    def forward(self, prediction, target):
        return F.smooth_l1_loss(prediction, target, reduction=self.reduction, beta=self.beta)


class HingeLoss(_Loss):
    """Multiclass SVM loss Σ_{j≠y} max(0, s_j − s_y + margin)."""

    def __init__(self, margin: float = 1.0, reduction: str = "mean"):
        super().__init__(reduction)
        self.margin = margin

    def forward(self, scores, target):
        return F.hinge_loss(scores, target, margin=self.margin, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits x against targets y: softplus(x) − x·y, overflow-free;
    ``weight`` scales each element, ``pos_weight`` the positive term (tensors broadcasting to x's
    shape, kept where they were made: give them the inputs' device)."""

    def __init__(self, reduction: str = "mean", weight=None, pos_weight=None):
        super().__init__(reduction)
        self.weight, self.pos_weight = weight, pos_weight

    def forward(self, logits, target):
        return F.binary_cross_entropy_with_logits(logits, target, reduction=self.reduction, weight=self.weight,
                                                  pos_weight=self.pos_weight)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities p ∈ [0, 1] against targets y, each log clamped at −100;
    ``weight`` (a tensor broadcasting to p's shape) scales each element."""

    def __init__(self, weight=None, reduction: str = "mean"):
        super().__init__(reduction)
        self.weight = weight

    def forward(self, prediction, target):
        return F.binary_cross_entropy(prediction, target, weight=self.weight, reduction=self.reduction)
