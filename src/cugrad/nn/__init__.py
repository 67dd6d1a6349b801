"""``cugrad.nn``: modules, initialisers, losses and the functional API."""
from . import functional, init, parallel
from .layers import (
    ACTIVATIONS,
    GELU,
    MLP,
    Dropout,
    Identity,
    LayerNorm,
    LeakyReLU,
    Linear,
    ReLU,
    Sequential,
    Sigmoid,
    Softplus,
    Tanh,
)
from .loss import CrossEntropyLoss, HingeLoss, MSELoss
from .module import Module, Parameter

__all__ = [
    "functional", "init", "parallel", "Module", "Parameter", "Linear", "Identity", "ReLU", "LeakyReLU", "Sigmoid",
    "Tanh", "GELU", "Softplus", "Dropout", "LayerNorm", "Sequential", "MLP", "CrossEntropyLoss",
    "MSELoss", "HingeLoss", "ACTIVATIONS",
]
