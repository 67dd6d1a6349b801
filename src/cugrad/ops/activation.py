"""Activations: relu, leaky_relu, sigmoid, tanh (fused kernels), softplus, gelu, softmax, log_softmax."""
from __future__ import annotations

import math

from .. import backend, kernels
from ..autograd import Function
from .axes import axis_index, pick
from .elementwise import exp
from .promotion import as_float
from .shape import broadcast_to

FUSED_ACTIVATIONS = ("identity", "relu", "leaky_relu", "sigmoid", "tanh")


def check_activation(op, activation, negative_slope=0.01):
    if activation not in FUSED_ACTIVATIONS:
        raise ValueError(f"{op}: unknown activation {activation!r}; expected one of {', '.join(FUSED_ACTIVATIONS)}")
    if activation == "leaky_relu" and not negative_slope >= 0:
        raise ValueError(f"{op}: negative_slope must be >= 0, got {negative_slope}")
    return activation


class Activation(Function):
    """y = act(x) by one fused kernel; backward from the saved output y (see ActivationGrad)."""

    fp_quiet = True

    @staticmethod
    def forward(ctx, x, activation, negative_slope):
        y = kernels.bias_activation(x, None, activation, negative_slope)
        ctx.activation, ctx.negative_slope = activation, negative_slope
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return ActivationGrad.apply(g, y, ctx.activation, ctx.negative_slope), None, None


class ActivationGrad(Function):
    """dx = g ⊙ act'(y), written from the output y:
    relu: g·[y > 0];  leaky_relu: g·(1 if y > 0 else slope);  sigmoid: g·y(1 − y);  tanh: g·(1 − y²).

    Its own backward (for create_graph):  d/dg = act'(y);  d/dy = g·act''(y), i.e. 0 for the ReLUs,
    g(1 − 2y) for sigmoid, −2gy for tanh.
    """

    fp_quiet = True

    @staticmethod
    def forward(ctx, g, y, activation, negative_slope):
        ctx.activation, ctx.negative_slope = activation, negative_slope
        ctx.save_for_backward(g, y)
        return kernels.activation_backward(g, y, activation, negative_slope)

    @staticmethod
    def backward(ctx, gg):
        g, y = ctx.saved
        need_g, need_y = ctx.needs_input_grad[:2]
        dg = ActivationGrad.apply(gg, y, ctx.activation, ctx.negative_slope) if need_g else None
        dy = None
        if need_y and ctx.activation == "sigmoid":
            dy = gg * g * (1 - 2 * y)
        elif need_y and ctx.activation == "tanh":
            dy = -2 * gg * g * y
        return dg, dy, None, None


class BiasGrad(Function):
    """db = Σ over all axes but the last of dz;  its backward broadcasts back: d/d(dz) = gb."""

    fp_quiet = True

    @staticmethod
    def forward(ctx, dz):
        ctx.shape = dz.shape
        return kernels.bias_grad(dz)

    @staticmethod
    def backward(ctx, gb):
        return broadcast_to(gb, ctx.shape)


class Softplus(Function):
    """y = ln(1 + eˣ) (computed as logaddexp(0, x));  dL/dx = g·σ(x)."""

    fp_quiet = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return backend.array_module(x).logaddexp(0, x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g * sigmoid(x)


class Softmax(Function):
    """yᵢ = e^(xᵢ − max) / Σⱼ e^(xⱼ − max);  dL/dx = y ⊙ (g − Σ(g ⊙ y)).

    ``axis`` is a tuple of one axis, or () for a 0-d tensor (whose softmax is 1, as in PyTorch)."""

    fp_quiet = True

    @staticmethod
    def forward(ctx, x, axis):
        xp = backend.array_module(x)
        y = xp.asarray(x - _row_max(x, axis))  # an array, not a NumPy scalar, for a 0-d x
        xp.exp(y, out=y)
        y /= y.sum(axis=axis, keepdims=True)
        ctx.axis = axis
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return y * (g - (g * y).sum(axis=ctx.axis, keepdims=True)), None


class LogSoftmax(Function):
    """y = (x − max) − logΣexp(x − max) (shifted first, so a large common offset cancels
    exactly);  dL/dx = g − e^y ⊙ Σ g.  A 0-d tensor's log_softmax is 0."""

    fp_quiet = True

    @staticmethod
    def forward(ctx, x, axis):
        xp = backend.array_module(x)
        shifted = x - _row_max(x, axis)
        y = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.axis = axis
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g - exp(y) * g.sum(axis=ctx.axis, keepdims=True), None


def _row_max(x, axis):
    """max over ``axis``, kept; zeros when that axis is empty (the result is empty anyway)."""
    if x.size == 0:
        return backend.array_module(x).zeros((), x.dtype)
    return x.max(axis=axis, keepdims=True)


def relu(x):
    """max(0, x)."""
    return _activate(x, "relu", 0.0)


def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, negative_slope·x otherwise (negative_slope >= 0)."""
    check_activation("leaky_relu", "leaky_relu", negative_slope)
    return _activate(x, "leaky_relu", float(negative_slope))


def sigmoid(x):
    """1 / (1 + e^−x), overflow-safe; its gradient comes from the output, so it stays finite."""
    return _activate(x, "sigmoid", 0.0)


def tanh(x):
    return _activate(x, "tanh", 0.0)


def _activate(x, activation, negative_slope):
    """The fused activation kernel; sigmoid and tanh of an integer tensor are float32 (float ops),
    relu and leaky_relu refuse one (PyTorch keeps its integer dtype, which the kernels lack)."""
    dtype = getattr(x, "dtype", None)
    if dtype is not None and not backend.is_floating(dtype):
        if activation in ("relu", "leaky_relu"):
            raise TypeError(f"{activation}: needs a floating-point tensor, got {dtype}; cast it first (x.float())")
        x = as_float(x)
    return Activation.apply(x, activation, negative_slope)


def bias_grad(dz):
    """Sum over every axis but the last: the gradient of a bias added along the last axis."""
    return BiasGrad.apply(dz)


def softplus(x):
    return Softplus.apply(as_float(x))


def gelu(x, approximate="tanh"):
    """x·Φ(x) in PyTorch's tanh form: ½x(1 + tanh(√(2/π)(x + 0.044715x³))), composed from
    differentiable ops. (``approximate="tanh"`` is the only form: NumPy has no erf.)"""
    if approximate != "tanh":
        raise ValueError(f"gelu: only approximate='tanh' is supported, got {approximate!r}")
    inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)
    return 0.5 * x * (1 + tanh(inner))


def softmax(x, axis=None, *, dim=None):
    """e^x / Σ e^x along ``axis`` (or ``dim``; default -1)."""
    return Softmax.apply(as_float(x), _softmax_axis("softmax", x, axis, dim))


def log_softmax(x, axis=None, *, dim=None):
    """x − logΣe^x along ``axis`` (or ``dim``; default -1)."""
    return LogSoftmax.apply(as_float(x), _softmax_axis("log_softmax", x, axis, dim))


def _softmax_axis(op, x, axis, dim):
    """The one axis (as a 1-tuple; () for a 0-d tensor) that softmax normalises over."""
    axis = pick(op, "axis", axis, None, "dim", dim)
    axis = axis_index(op, -1 if axis is None else axis, x.ndim)
    return (axis,) if x.ndim else ()
