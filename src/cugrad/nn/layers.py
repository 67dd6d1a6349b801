"""Layers: Linear (the fused linear op), activations, Dropout, LayerNorm, containers and MLP."""
from __future__ import annotations

from .. import autograd
from ..checkpoint import checkpoint_sequential, segments_for
from . import functional as F
from . import init
from .module import Module, Parameter

__all__ = ["Linear", "Identity", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softplus", "Dropout",
           "LayerNorm", "Sequential", "MLP", "ACTIVATIONS"]

# activations the fused linear kernel applies in its epilogue
_FUSABLE = ("relu", "leaky_relu", "sigmoid", "tanh")


class Linear(Module):
    """y = act(x·Wᵀ + b), W of shape (out_features, in_features) like PyTorch, in one fused op.

    ``activation`` (None, "relu", "leaky_relu", "sigmoid", "tanh") is applied by the same kernel.
    Weights: He normal for the ReLU family (Var = 2/fan_in, keeps ReLU activations from shrinking),
    Xavier uniform otherwise; bias zeros.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str | None = None,
                 negative_slope: float = 0.01, dtype="float32", device=None, init_for: str | None = None):
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"Linear: {name} must be a positive int, got {v!r}")
        if activation is not None and activation not in _FUSABLE:
            raise ValueError(f"Linear: activation must be None or one of {', '.join(_FUSABLE)}, got {activation!r}")
        self.in_features, self.out_features = in_features, out_features
        self.activation, self.negative_slope = activation, negative_slope
        self.weight = Parameter(_empty((out_features, in_features), dtype), device=device)
        self.bias = Parameter(_empty((out_features,), dtype), device=device) if bias else None
        self.reset_parameters(init_for or activation)

    def reset_parameters(self, nonlinearity: str | None = None) -> None:
        if nonlinearity in ("relu", "leaky_relu", "gelu"):
            init.kaiming_normal_(self.weight, a=self.negative_slope if nonlinearity == "leaky_relu" else 0.0,
                                 nonlinearity="leaky_relu" if nonlinearity == "leaky_relu" else "relu")
        else:
            init.xavier_uniform_(self.weight, gain=init.calculate_gain(nonlinearity or "linear"))
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias, activation=self.activation, negative_slope=self.negative_slope)

    def extra_repr(self):
        act = f", activation={self.activation!r}" if self.activation else ""
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}{act}"


def _empty(shape, dtype):
    import numpy as np
    from .. import backend
    return np.zeros(shape, dtype=backend.resolve_dtype(dtype))


class Identity(Module):
    def forward(self, x):
        return x


class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class GELU(Module):
    def __init__(self, approximate: str = "tanh"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, approximate=self.approximate)


class Softplus(Module):
    def forward(self, x):
        return F.softplus(x)


ACTIVATIONS = {"relu": ReLU, "leaky_relu": LeakyReLU, "sigmoid": Sigmoid, "tanh": Tanh, "gelu": GELU,
               "softplus": Softplus}


class Dropout(Module):
    """Zero each element with probability p while training (scaling the rest by 1/(1−p))."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must lie in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class LayerNorm(Module):
    """y = (x − mean) / √(var + eps) · γ + β over the last axis (composite ops, so autograd
    derives the backward)."""

    def __init__(self, normalized_shape: int, eps: float = 1e-5, elementwise_affine: bool = True,
                 dtype="float32", device=None):
        super().__init__()
        if isinstance(normalized_shape, (tuple, list)):
            if len(normalized_shape) != 1:
                raise ValueError("LayerNorm: only normalisation over the last axis is supported")
            normalized_shape = normalized_shape[0]
        self.normalized_shape, self.eps = int(normalized_shape), eps
        if elementwise_affine:
            self.weight = Parameter(_empty((self.normalized_shape,), dtype), device=device)
            self.bias = Parameter(_empty((self.normalized_shape,), dtype), device=device)
            init.ones_(self.weight)
            init.zeros_(self.bias)
        else:
            self.weight = self.bias = None

    def forward(self, x):
        if x.shape[-1] != self.normalized_shape:
            raise ValueError(f"LayerNorm: input of shape {x.shape} does not end in {self.normalized_shape}")
        mean = x.mean(axis=-1, keepdims=True)
        centred = x - mean
        var = (centred * centred).mean(axis=-1, keepdims=True)
        y = centred / (var + self.eps).sqrt()
        if self.weight is not None:
            y = y * self.weight + self.bias
        return y

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"


class Sequential(Module):
    """Modules applied in order. ``checkpoint`` = None | int | "sqrt": while training with grad on,
    keep only the boundaries of that many segments and recompute the rest in backward
    (cugrad.checkpoint_sequential), trading one extra forward for O(√n) activation memory."""

    def __init__(self, *modules, checkpoint=None):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            items = list(modules[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(modules)]
        for name, m in items:
            self.add_module(name, m)
        if checkpoint is not None and items:
            segments_for(checkpoint, len(items))  # validate now, not at the first forward
        self.checkpoint = checkpoint

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        mods = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*mods[index])
        return mods[index]

    def append(self, module: Module) -> "Sequential":
        self.add_module(str(len(self._modules)), module)
        return self

    def forward(self, x):
        mods = list(self._modules.values())
        if self.checkpoint is not None and self.training and autograd.is_grad_enabled() and len(mods) > 1:
            return checkpoint_sequential(mods, self.checkpoint, x)
        for m in mods:
            x = m(x)
        return x


class MLP(Sequential):
    """A multi-layer perceptron: ``MLP([64, 128, 10])`` is Linear(64→128) + ReLU, Linear(128→10).

    ``sizes`` lists the input width, the hidden widths and the output width. The hidden
    activation is fused into its Linear where the kernel supports it (relu, leaky_relu, sigmoid,
    tanh); GELU/softplus run as separate modules. ``dropout`` > 0 adds Dropout after each hidden
    layer. The output layer has no activation (logits).
    """

    def __init__(self, sizes, activation: str = "relu", dropout: float = 0.0, checkpoint=None,
                 dtype="float32", device=None):
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"MLP: sizes must list at least an input and an output width, all >= 1, got {sizes}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"MLP: unknown activation {activation!r}; expected one of {', '.join(ACTIVATIONS)}")
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            last = i == len(sizes) - 2
            if last:
                layers.append(Linear(a, b, dtype=dtype, device=device, init_for=None))
                break
            fused = activation if activation in _FUSABLE else None
            layers.append(Linear(a, b, activation=fused, dtype=dtype, device=device, init_for=activation))
            if fused is None:
                layers.append(ACTIVATIONS[activation]())
            if dropout:
                layers.append(Dropout(dropout))
        super().__init__(*layers, checkpoint=checkpoint)
        self.sizes, self.activation_name, self.dropout = sizes, activation, dropout
