"""Weight initialisers, in place, drawn from cugrad's seeded random streams.

Xavier/Glorot keeps the activation variance constant through tanh/sigmoid layers
(Var(W) = 2 / (fan_in + fan_out)); He/Kaiming does the same for ReLU layers, which zero half their
input (Var(W) = 2 / fan_in). A weight is (out, in) like PyTorch: fan_in = shape[1].
"""
from __future__ import annotations

import math

from .. import backend, random
from ..autograd import no_grad
from ..kernels import ACTIVATION_TABLE

__all__ = ["calculate_gain", "xavier_uniform_", "xavier_normal_", "kaiming_normal_", "kaiming_uniform_",
           "uniform_", "normal_", "zeros_", "ones_", "constant_"]


def _fans(tensor):
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError(f"fan in/out needs a tensor with at least 2 dimensions, got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended std gain for ``nonlinearity``: the activation table's row (PyTorch's values
    where PyTorch has one), 1 for "linear" and for softplus (which PyTorch has no gain for)."""
    if nonlinearity in ("linear", "softplus", None):
        return 1.0
    if nonlinearity in ACTIVATION_TABLE:
        row = ACTIVATION_TABLE[nonlinearity]
        return row.gain(row.param[1] if param is None and row.param else param)
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def _fill(tensor, array):
    xp = backend.array_module(tensor.data)
    with no_grad():
        xp.copyto(tensor.data, array.astype(tensor.data.dtype, copy=False))
    return tensor


def uniform_(tensor, a: float = 0.0, b: float = 1.0):
    u = random.uniform(tensor.shape, _draw_dtype(tensor), tensor.device)
    with backend.device_context(tensor.device):
        return _fill(tensor, u * (b - a) + a)


def normal_(tensor, mean: float = 0.0, std: float = 1.0):
    z = random.normal(tensor.shape, _draw_dtype(tensor), tensor.device)
    with backend.device_context(tensor.device):
        return _fill(tensor, z * std + mean)


def _draw_dtype(tensor):
    return tensor.dtype if tensor.dtype.name in ("float32", "float64") else "float32"


def xavier_uniform_(tensor, gain: float = 1.0):
    """U(−a, a) with a = gain · √(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(tensor)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a)


def xavier_normal_(tensor, gain: float = 1.0):
    """N(0, std²) with std = gain · √(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_normal_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "relu"):
    """He init: N(0, std²) with std = gain / √fan (fan_in keeps forward variance)."""
    fan = _fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    return normal_(tensor, 0.0, gain / math.sqrt(fan))


def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "relu"):
    """He init, uniform: U(−b, b) with b = gain · √(3 / fan)."""
    fan = _fan(tensor, mode)
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(tensor, -bound, bound)


def _fan(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(tensor)
    return fan_in if mode == "fan_in" else fan_out


def constant_(tensor, value: float):
    with no_grad():
        tensor.data.fill(value)
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)
