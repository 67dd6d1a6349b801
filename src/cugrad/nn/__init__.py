"""``cugrad.nn``: modules, initialisers, losses and the functional API."""
from . import functional, init, layers, parallel
from .layers import ACTIVATIONS, GELU, MLP, Dropout, Identity, LayerNorm, Linear, Sequential, Softplus
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HingeLoss, HuberLoss, MSELoss, NLLLoss, SmoothL1Loss
from .module import Module, Parameter

# ReLU, LeakyReLU, Sigmoid, Tanh, SiLU, ELU, ...: the modules of the activation table's rows
globals().update({name: getattr(layers, name) for name in layers.__all__})

__all__ = [
    "functional", "init", "parallel", "Module", "Parameter", "Linear", "Identity", "GELU", "Softplus",
    "Dropout", "LayerNorm", "Sequential", "MLP", "CrossEntropyLoss", "NLLLoss", "MSELoss", "HuberLoss", "SmoothL1Loss", "BCEWithLogitsLoss", "HingeLoss", "ACTIVATIONS",
    "BCELoss",
] + [name for name in layers.__all__ if name not in ("Linear", "Identity", "GELU", "Softplus", "Dropout",
                                                      "LayerNorm", "Sequential", "MLP", "ACTIVATIONS")]
