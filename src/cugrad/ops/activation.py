"""Activations: the kernel table's (relu, sigmoid, tanh, silu, elu, … each one fused kernel),
softplus, gelu, softmax, log_softmax."""
from __future__ import annotations

import math

from .. import backend, kernels
from ..autograd import Function
from .axes import axis_index, pick
from .elementwise import abs as _abs, exp, where
from .promotion import as_float
from .shape import broadcast_to
from ..tensor import Tensor

TABLE = kernels.ACTIVATION_TABLE


def activation_param(op, activation, p=None):
    """``activation``'s parameter as a float: ``p``, or the row's default where ``p`` is None (0 for
    a row without one); a ValueError naming ``op`` for a name not in the table or a bad ``p``."""
    row = TABLE.get(activation)
    if row is None:
        raise ValueError(f"{op}: unknown activation {activation!r}; expected one of {', '.join(TABLE)}")
    if p is None:
        return float(row.param[1]) if row.param else 0.0
    p = float(p)
    if row.check is not None and (msg := row.check(p)):
        raise ValueError(f"{activation}: {msg}")
    return p


class Activation(Function):
    """y = act(x) by one fused kernel (the table row's math); backward from the saved output y or
    input x, as the row says (see ActivationGrad)."""

    fp_quiet = True

    @staticmethod
    def forward(ctx, x, activation, p):
        y = kernels.bias_activation(x, None, activation, p)
        ctx.activation, ctx.p = activation, p
        ctx.save_for_backward(y if TABLE[activation].saves == "y" else x)
        return y

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved
        if not ctx.create_graph:                 # raw arrays: the kernel itself, no graph node
            return kernels.activation_backward(g, s, ctx.activation, ctx.p), None, None
        return ActivationGrad.apply(g, s, ctx.activation, ctx.p), None, None


class _Diff:
    """The differentiable ops a row's second derivative ``d2(s, p, m)`` is built from."""

    exp = staticmethod(exp)
    abs = staticmethod(_abs)

    @staticmethod
    def sigmoid(x):
        return _activate(x, "sigmoid", 0.0)

    @staticmethod
    def tanh(x):
        return _activate(x, "tanh", 0.0)

    @staticmethod
    def softplus(x):
        return Softplus.apply(x, 1.0, None)

    @staticmethod
    def mask(s, lo, hi):
        """The constant 1 where lo < s < hi, else 0 (piecewise constant: not differentiated)."""
        if isinstance(s, Tensor):
            return Tensor.from_array(_mask(s.data, lo, hi))
        return _mask(s, lo, hi)


def _mask(a, lo, hi):
    return ((a > lo) & (a < hi)).astype(a.dtype)


class ActivationGrad(Function):
    """dx = g ⊙ act'(s), s the saved output y or input x (the row's ``saves``; its ``grad``).

    Its own backward (for create_graph):  d/dg = act'(s);  d/ds = g·d act'(s)/ds, the row's ``d2``
    (None: 0 almost everywhere, as for the ReLUs); e.g. g(1 − 2y) for sigmoid, −2gy for tanh.
    """

    fp_quiet = True

    @staticmethod
    def forward(ctx, g, s, activation, p):
        ctx.activation, ctx.p = activation, p
        ctx.save_for_backward(g, s)
        return kernels.activation_backward(g, s, activation, p)

    @staticmethod
    def backward(ctx, gg):
        g, s = ctx.saved
        need_g, need_s = ctx.needs_input_grad[:2]
        dg = ActivationGrad.apply(gg, s, ctx.activation, ctx.p) if need_g else None
        d2 = TABLE[ctx.activation].d2
        ds = gg * g * d2(s, ctx.p, _Diff) if need_s and d2 is not None else None
        return dg, ds, None, None


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
    """y = ln(1 + e^(βx))/β (as logaddexp(0, βx)/β), and y = x where βx > threshold (if given);
    dL/dx = g·σ(βx) (g where βx > threshold)."""

    fp_quiet = True

    @staticmethod
    def forward(ctx, x, beta, threshold):
        xp = backend.array_module(x)
        bx = x * beta
        y = xp.asarray(xp.logaddexp(0, bx) / beta).astype(x.dtype, copy=False)
        ctx.beta, ctx.linear = beta, None if threshold is None else bx > threshold
        if ctx.linear is not None:
            y = xp.asarray(xp.where(ctx.linear, x, y))
        ctx.save_for_backward(x)
        return y

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        bx = x if ctx.beta == 1 else x * ctx.beta
        if type(bx) is not type(x):          # a NumPy scalar from a 0-d array
            bx = backend.array_module(x).asarray(bx)
        slope = _Diff.sigmoid(bx)
        return g * (slope if ctx.linear is None else where(ctx.linear, 1.0, slope)), None, None


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


def _activate(x, activation, p):
    """The fused activation kernel; an integer tensor becomes float32 (float ops), or is refused
    where the row says so (PyTorch keeps its integer dtype, which the kernels lack)."""
    dtype = getattr(x, "dtype", None)
    if dtype is not None and not backend.is_floating(dtype):
        if TABLE[activation].integers == "refuse":
            raise TypeError(f"{activation}: needs a floating-point tensor, got {dtype}; cast it first (x.float())")
        x = as_float(x)
    return Activation.apply(x, activation, p)


def _op(row):
    """The op of one table row: ``name(x)``, or ``name(x, <param>=default)``."""
    if row.param is None:
        def op(x):
            return _activate(x, row.name, 0.0)
    else:
        pname, default = row.param

        def op(x, *args, **kwargs):
            if len(args) + len(kwargs) > 1 or (kwargs and pname not in kwargs):
                raise TypeError(f"{row.name}: takes x and one parameter, {pname}; got {args} {kwargs}")
            p = activation_param(row.name, row.name, args[0] if args else kwargs.get(pname, default))
            return _activate(x, row.name, p)
    op.__name__ = op.__qualname__ = row.name
    op.__doc__ = row.math + ("" if row.param is None else f" ({row.param[0]} = {row.param[1]} by default)")
    return op


# relu, leaky_relu, sigmoid, tanh, silu, elu, ...: one op per row of the table (not identity; gelu below)
OPS = {name: _op(row) for name, row in TABLE.items() if name not in ("identity", "gelu")}
globals().update(OPS)


def bias_grad(dz):
    """Sum over every axis but the last: the gradient of a bias added along the last axis."""
    return BiasGrad.apply(dz)


def softplus(x, beta=1.0, threshold=None):
    """ln(1 + e^(βx))/β, exact everywhere by default; with a ``threshold`` (PyTorch's default is
    20) it reverts to x where βx > threshold, as PyTorch's."""
    if not beta > 0:
        raise ValueError(f"softplus: beta must be > 0, got {beta}")
    return Softplus.apply(as_float(x), float(beta), None if threshold is None else float(threshold))


def gelu(x, approximate="tanh"):
    """x·Φ(x): ``approximate="none"`` exact, ½x(1 + erf(x/√2)) (the table's fused kernel);
    ``"tanh"`` PyTorch's tanh form ½x(1 + tanh(√(2/π)(x + 0.044715x³))), composed from
    differentiable ops."""
    if approximate == "none":
        return _activate(x, "gelu", 0.0)
    if approximate != "tanh":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)
    return 0.5 * x * (1 + _Diff.tanh(inner))


OPS["gelu"] = gelu


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
