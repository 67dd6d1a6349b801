"""Layers: Linear (the fused linear op), activations, Dropout, LayerNorm, containers and MLP."""
from __future__ import annotations

import functools

import numpy as np

from .. import autograd, backend
from ..checkpoint import checkpoint_sequential, segments_for
from ..kernels import ACTIVATION_TABLE
from ..ops.activation import activation_param
from . import functional as F
from . import init
from .module import Module, Parameter

# activations the fused linear op applies in its epilogue: every kernel row (gelu: its exact form)
_FUSABLE = tuple(name for name in ACTIVATION_TABLE if name not in ("identity", "gelu"))


class Linear(Module):
    """y = act(x·Wᵀ + b), W of shape (out_features, in_features) like PyTorch, in one fused op.

    ``activation`` (None or a kernel row: relu, leaky_relu, sigmoid, tanh, silu, elu, ...) is applied
    by the same op, ``negative_slope`` its parameter (leaky_relu's slope, elu's and celu's alpha).
    Weights: He normal where the row's ``init`` says "kaiming" (the ReLU family: Var = gain²/fan_in
    keeps activations from shrinking), Xavier uniform with the row's gain otherwise; bias zeros.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str | None = None,
                 negative_slope: float | None = None, dtype="float32", device=None, init_for: str | None = None):
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
        row = ACTIVATION_TABLE.get(nonlinearity)
        if row is not None and row.init == "kaiming":
            init.kaiming_normal_(self.weight, a=self.negative_slope, nonlinearity=nonlinearity)
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
    return np.zeros(shape, dtype=backend.resolve_dtype(dtype))


class Identity(Module):
    def forward(self, x):
        return x


class _Activation(Module):
    """One row of the activation table as a module (its parameter, if any, set at construction)."""

    activation: str = ""

    def __init__(self, *args, **kwargs):
        super().__init__()
        row = ACTIVATION_TABLE[self.activation]
        if row.param is None and (args or kwargs):
            raise TypeError(f"{type(self).__name__}: takes no arguments, got {args} {kwargs}")
        self.kwargs = {}
        if row.param is not None:
            self.kwargs = {row.param[0]: args[0] if args else kwargs.pop(row.param[0], row.param[1])}
            if len(args) > 1 or kwargs:
                raise TypeError(f"{type(self).__name__}: takes one parameter, {row.param[0]}; got {args} {kwargs}")
            activation_param(type(self).__name__, self.activation, self.kwargs[row.param[0]])

    def forward(self, x):
        return getattr(F, self.activation)(x, **self.kwargs)

    def extra_repr(self):
        return ", ".join(f"{k}={v}" for k, v in self.kwargs.items())


class GELU(Module):
    def __init__(self, approximate: str = "tanh"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, approximate=self.approximate)


class Softplus(Module):
    def __init__(self, beta: float = 1.0, threshold: float | None = None):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)


# ReLU, LeakyReLU, Sigmoid, Tanh, SiLU, ELU, ...: one module per row of the activation table
_MODULES = {name: type(row.module, (_Activation,), {"activation": name, "__doc__": row.math, "__module__": __name__})
            for name, row in ACTIVATION_TABLE.items() if name not in ("identity", "gelu")}
globals().update({cls.__name__: cls for cls in _MODULES.values()})

# the MLP's (and the CLI's) hidden-layer activations, by name
ACTIVATIONS = {**_MODULES, "gelu": GELU, "softplus": Softplus}

__all__ = ["Linear", "Identity", "GELU", "Softplus", "Dropout", "LayerNorm", "Sequential", "MLP",
           "ACTIVATIONS"] + [cls.__name__ for cls in _MODULES.values()]
_FUSED_BY_TYPE = {cls: name for name, cls in _MODULES.items()}   # module type -> F.linear's activation


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
        stages = self._stages()
        if self.checkpoint is not None and self.training and autograd.is_grad_enabled() and len(stages) > 1:
            return checkpoint_sequential(stages, self.checkpoint, x)
        for stage in stages:
            x = stage(x)
        return x

    def _stages(self) -> list:
        """The modules as calls, a Linear without its own activation and the activation module
        after it (a kernel row: ReLU, LeakyReLU, SiLU, ...) made one fused linear call: the kernel applies the
        activation in its epilogue, while the modules (and so the state_dict names) stay laid out
        as in PyTorch."""
        mods = list(self._modules.values())
        stages, i = [], 0
        while i < len(mods):
            m = mods[i]
            fused = _FUSED_BY_TYPE.get(type(mods[i + 1])) if i + 1 < len(mods) else None
            if fused is not None and type(m) is Linear and m.activation is None:
                slope = next(iter(mods[i + 1].kwargs.values()), None)    # its parameter, if any
                stages.append(functools.partial(F.linear, weight=m.weight, bias=m.bias, activation=fused,
                                                negative_slope=slope))
                i += 2
            else:
                stages.append(m)
                i += 1
        return stages


class MLP(Sequential):
    """A multi-layer perceptron: ``MLP([64, 128, 10])`` is Linear(64→128), ReLU, Linear(128→10).

    ``sizes`` lists the input width, the hidden widths and the output width. The modules are laid
    out as the same ``torch.nn.Sequential`` (Linear, activation, [Dropout], Linear, …), so the
    state_dict names are PyTorch's ("0.weight", "0.bias", "2.weight", …); an activation that is a
    kernel row still runs fused into its Linear (see Sequential). ``dropout`` > 0 adds Dropout after
    each hidden activation. The output layer has no activation (logits).
    """

    def __init__(self, sizes, activation: str = "relu", dropout: float = 0.0, checkpoint=None,
                 dtype="float32", device=None):
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"MLP: sizes must list at least an input and an output width, all >= 1, got {sizes}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"MLP: unknown activation {activation!r}; expected one of {', '.join(ACTIVATIONS)}")
        layers = []
        for a, b in zip(sizes[:-2], sizes[1:-1]):
            layers += [Linear(a, b, dtype=dtype, device=device, init_for=activation), ACTIVATIONS[activation]()]
            if dropout:
                layers.append(Dropout(dropout))
        layers.append(Linear(sizes[-2], sizes[-1], dtype=dtype, device=device))
        super().__init__(*layers, checkpoint=checkpoint)
        self.sizes, self.activation_name, self.dropout = sizes, activation, dropout

    def load_state_dict(self, state_dict, strict: bool = True) -> None:
        """As Module.load_state_dict; also takes the names of checkpoints written before the
        PyTorch layout, where a fused activation had no index ("1.weight" for the second Linear)."""
        super().load_state_dict(self._from_fused_layout(state_dict), strict)

    def _from_fused_layout(self, state_dict):
        """``state_dict`` renamed to this layout when its keys are exactly those of the older one."""
        if self.activation_name not in _FUSABLE:
            return state_dict                   # the older layout had the activation modules too
        step = 1 + (1 if self.dropout else 0)
        linears = [name for name, m in self._modules.items() if isinstance(m, Linear)]
        older = {f"{k * step}.{p}": f"{name}.{p}" for k, name in enumerate(linears) for p in ("weight", "bias")}
        if set(state_dict) != set(older) or set(older) == set(older.values()):
            return state_dict
        return {older[key]: value for key, value in state_dict.items()}
