"""``cugrad.nn.functional``: activations, losses, the fused linear op, dropout, one_hot and pad."""
from ..ops.activation import OPS as _ACTIVATION_OPS
from ..ops.activation import log_softmax, softmax, softplus
from ..ops.dropout import dropout
from ..ops.linalg import linear
from ..ops.indexing import one_hot
from ..ops.padding import pad
from ..ops.loss import binary_cross_entropy_with_logits, cross_entropy, hinge_loss, huber_loss, l2_penalty, mse_loss, nll_loss, smooth_l1_loss
from ..ops.loss import binary_cross_entropy

__all__ = [
    "binary_cross_entropy_with_logits", "cross_entropy", "dropout", "hinge_loss", "huber_loss", "l2_penalty", "linear",
    "log_softmax", "mse_loss", "nll_loss", "smooth_l1_loss", "softmax", "softplus",
    "binary_cross_entropy",
] + ["one_hot", "pad"] + list(_ACTIVATION_OPS)
globals().update(_ACTIVATION_OPS)  # relu, sigmoid, silu, ...: one per row of kernels.ACTIVATION_TABLE
