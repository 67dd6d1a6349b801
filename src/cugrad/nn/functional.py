"""``cugrad.nn.functional``: activations, losses, the fused linear op and dropout."""
from ..ops.activation import gelu, leaky_relu, log_softmax, relu, sigmoid, softmax, softplus, tanh
from ..ops.dropout import dropout
from ..ops.linalg import linear
from ..ops.loss import cross_entropy, hinge_loss, l2_penalty, mse_loss

__all__ = [
    "cross_entropy", "dropout", "gelu", "hinge_loss", "l2_penalty", "leaky_relu", "linear",
    "log_softmax", "mse_loss", "relu", "sigmoid", "softmax", "softplus", "tanh",
]
