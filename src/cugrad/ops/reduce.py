"""Reductions over ``axis`` (or ``dim``) with ``keepdims`` (or ``keepdim``): sum, mean, max, min,
var, std, logsumexp, prod, cumsum (a scan along one axis), and argmax, argmin, all, any (not
differentiable).

Empty inputs follow PyTorch: a sum over nothing is 0, a prod 1, a logsumexp −inf, a mean nan, a
max, min, argmax or argmin an error. var and
std divide by max(n − ddof, 0), so n − ddof ≤ 0 gives inf (or nan when all terms are 0), as in
PyTorch, without a warning.
"""
from __future__ import annotations

import builtins
import math

from .. import backend
from .. import tensor as _tensor
from ..autograd import Function
from .axes import axis_index, axis_tuple, pick
from .elementwise import exp, where
from .promotion import as_float
from .shape import broadcast_to, reshape, transpose


def _kept_shape(shape, axes):
    """``shape`` with the reduced axes set to 1 (the keepdims shape)."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _args(op, x, axis, keepdims, dim, keepdim):
    """(axes, keepdims) from NumPy's or PyTorch's names, checked against ``x``."""
    axes = axis_tuple(op, pick(op, "axis", axis, None, "dim", dim), x.ndim)
    return axes, bool(pick(op, "keepdims", keepdims, False, "keepdim", keepdim))


def _count(shape, axes):
    return math.prod(shape[a] for a in axes)


class Sum(Function):
    """y = Σ_axes x;  dL/dx = g broadcast back over the summed axes."""

    fp_quiet = True

    @staticmethod
    def forward(ctx, x, axes, keepdims):
        ctx.shape, ctx.kept = x.shape, _kept_shape(x.shape, axes)
        return x.sum(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        return broadcast_to(g.reshape(ctx.kept), ctx.shape), None, None


class _Extreme(Function):
    """max or min over axes; the gradient is shared evenly by the elements that attain it (a NaN
    result attains nothing: its gradient is NaN, as PyTorch's amax/amin over a dim)."""

    name = ""
    fp_quiet = True

    @classmethod
    def _reduce(cls, ctx, x, axes, keepdims):
        ctx.shape, ctx.kept = x.shape, _kept_shape(x.shape, axes)
        y = getattr(x, cls.name)(axis=axes, keepdims=True)
        hits = x == y
        share = hits / hits.sum(axis=axes, keepdims=True)
        ctx.save_for_backward(share.astype(x.dtype, copy=False))
        return y if keepdims else y.reshape([n for i, n in enumerate(x.shape) if i not in axes])

    @staticmethod
    def backward(ctx, g):
        (share,) = ctx.saved
        return g.reshape(ctx.kept) * share, None, None


class Max(_Extreme):
    """y = max_axes x;  dL/dx = g / k at the k elements equal to the max, 0 elsewhere."""

    name = "max"

    @staticmethod
    def forward(ctx, x, axes, keepdims):
        return Max._reduce(ctx, x, axes, keepdims)


class Min(_Extreme):
    """y = min_axes x;  dL/dx = g / k at the k elements equal to the min, 0 elsewhere."""

    name = "min"

    @staticmethod
    def forward(ctx, x, axes, keepdims):
        return Min._reduce(ctx, x, axes, keepdims)


def sum(x, axis=None, keepdims=False, *, dim=None, keepdim=None):  # noqa: A001 - NumPy's name
    """Σ x over ``axis`` (all axes for None); 0 over an empty axis."""
    axes, keepdims = _args("sum", x, axis, keepdims, dim, keepdim)
    return Sum.apply(x, axes, keepdims)


def mean(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Σ x / n over ``axis`` (composed from sum, so its gradient is g / n); nan over an empty axis.
    Integer input gives float32."""
    axes, keepdims = _args("mean", x, axis, keepdims, dim, keepdim)
    return Sum.apply(as_float(x), axes, keepdims) / _count(x.shape, axes)


def _extreme(cls, x, axis, keepdims, dim, keepdim):
    axes, keepdims = _args(cls.name, x, axis, keepdims, dim, keepdim)
    if _count(x.shape, axes) == 0:
        raise ValueError(f"{cls.name}: cannot reduce an empty tensor of shape {tuple(x.shape)} over axes {axes}"
                         " (max and min of nothing are undefined)")
    return cls.apply(x, axes, keepdims)


def max(x, axis=None, keepdims=False, *, dim=None, keepdim=None):  # noqa: A001
    return _extreme(Max, x, axis, keepdims, dim, keepdim)


def min(x, axis=None, keepdims=False, *, dim=None, keepdim=None):  # noqa: A001
    return _extreme(Min, x, axis, keepdims, dim, keepdim)


def var(x, axis=None, keepdims=False, ddof=0, *, dim=None, keepdim=None, correction=None):
    """Σ (x − mean)² / max(n − ddof, 0) over ``axis`` (NumPy's default ddof=0; PyTorch's
    ``correction`` is the same number). Integer input gives float32."""
    return _var("var", x, axis, keepdims, ddof, dim, keepdim, correction)


def std(x, axis=None, keepdims=False, ddof=0, *, dim=None, keepdim=None, correction=None):
    """√var: the standard deviation, with the same arguments as var."""
    return StdFromVar.apply(_var("std", x, axis, keepdims, ddof, dim, keepdim, correction))


class StdFromVar(Function):
    """y = √v;  dL/dv = g / (2y), and 0 where y = 0 (PyTorch's std: a constant's gradient is 0, not
    the nan that √'s infinite slope at 0 times a zero deviation would give)."""

    @staticmethod
    def forward(ctx, v):
        y = backend.array_module(v).sqrt(v)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return where(y == 0, 0.0, g / (2 * y))


def _var(op, x, axis, keepdims, ddof, dim, keepdim, correction):
    axes, keepdims = _args(op, x, axis, keepdims, dim, keepdim)
    ddof = pick(op, "ddof", ddof, 0, "correction", correction)
    x = as_float(x)
    centered = x - mean(x, axes, keepdims=True)
    return Sum.apply(centered * centered, axes, keepdims) / builtins.max(_count(x.shape, axes) - ddof, 0)


def argmax(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Index of the first maximum along ``axis`` (in the flattened tensor for None), as an int64
    tensor; not differentiable."""
    return _arg("argmax", "maximum", x, axis, keepdims, dim, keepdim)


def argmin(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Index of the first minimum along ``axis`` (in the flattened tensor for None), as an int64
    tensor; not differentiable."""
    return _arg("argmin", "minimum", x, axis, keepdims, dim, keepdim)


def _arg(op, what, x, axis, keepdims, dim, keepdim):
    axis = pick(op, "axis", axis, None, "dim", dim)
    keepdims = bool(pick(op, "keepdims", keepdims, False, "keepdim", keepdim))
    data = x.data
    if axis is not None:
        axis = axis_index(op, axis, data.ndim)
    if data.size == 0 and (axis is None or data.shape[axis] == 0):
        raise ValueError(f"{op}: no {what} in an empty tensor of shape {tuple(data.shape)}")
    with backend.device_context(x.device):          # CuPy runs kernels on the current GPU
        if axis is None or data.ndim == 0:
            index = getattr(data, op)().reshape((1,) * data.ndim if keepdims else ())
        else:
            index = getattr(data, op)(axis=axis)
            if keepdims:
                index = backend.array_module(data).expand_dims(index, axis)
    return _tensor.Tensor.from_array(backend.ensure_array(index))


def all(x, axis=None, keepdims=False, *, dim=None, keepdim=None):  # noqa: A001 - NumPy's name
    """True where every element along ``axis`` is nonzero (True over an empty axis); a bool
    tensor, not differentiable."""
    return _logical("all", x, axis, keepdims, dim, keepdim)


def any(x, axis=None, keepdims=False, *, dim=None, keepdim=None):  # noqa: A001 - NumPy's name
    """True where some element along ``axis`` is nonzero (False over an empty axis); a bool
    tensor, not differentiable."""
    return _logical("any", x, axis, keepdims, dim, keepdim)


def _logical(op, x, axis, keepdims, dim, keepdim):
    axes, keepdims = _args(op, x, axis, keepdims, dim, keepdim)
    data = x.data
    with backend.device_context(x.device):
        out = getattr(data, op)(axis=axes, keepdims=keepdims)
    return _tensor.Tensor.from_array(backend.ensure_array(out))


class LogSumExp(Function):
    """y = m + log Σ_axes e^(x − m), m the (finite) max over the axes, kept: no overflow, and a
    large common offset cancels exactly;  dL/dx = g ⊙ e^(x − y) (the softmax over the axes)."""

    fp_quiet = True

    @staticmethod
    def forward(ctx, x, axes):
        xp = backend.array_module(x)
        if x.size == 0:
            m = xp.zeros((), x.dtype)
        else:
            m = x.max(axis=axes, keepdims=True)
            m = xp.where(xp.isfinite(m), m, 0).astype(x.dtype, copy=False)
        y = xp.log(xp.exp(x - m).sum(axis=axes, keepdims=True)) + m
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved
        return g * exp(x - y), None


def logsumexp(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """log Σ e^x over ``axis`` (all axes for None), computed without overflow; −inf over an empty
    axis. Integer input gives float32."""
    axes, keepdims = _args("logsumexp", x, axis, keepdims, dim, keepdim)
    y = LogSumExp.apply(as_float(x), axes)
    return y if keepdims else reshape(y, [n for i, n in enumerate(x.shape) if i not in axes])


class Prod(Function):
    """y = Π_axes x;  dL/dx_i = g · Π_{j≠i} x_j over the reduced axes (the product of the others,
    see ``_others``: right where x has zeros, where g·y/x would be 0/0)."""

    fp_quiet = True

    @staticmethod
    def forward(ctx, x, axes, keepdims):
        ctx.axes, ctx.kept = axes, _kept_shape(x.shape, axes)
        ctx.save_for_backward(x)
        return x.prod(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        others = _others(x, ctx.axes) if ctx.create_graph else _others_by_scans(x, ctx.axes)
        return g.reshape(ctx.kept) * others, None, None


def _slices_last(x, axes):
    """x with the reduced ``axes`` moved last and flattened into one: (lead..., n), and the
    permutation used."""
    keep = [a for a in range(x.ndim) if a not in axes]
    order = keep + list(axes)
    moved = x.transpose(order) if x.ndim else x
    return moved.reshape([x.shape[a] for a in keep] + [_count(x.shape, axes)]), order


def _others_by_scans(x, axes):
    """Π_{j≠i} x_j over ``axes`` on raw arrays (no create_graph): the product of the exclusive
    prefix and suffix products of each slice, O(n) and exact where x has zeros."""
    xp = backend.array_module(x)
    flat, order = _slices_last(x, axes)
    ones = xp.ones(flat.shape[:-1] + (1,), dtype=x.dtype)
    before = xp.cumprod(xp.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    after = xp.cumprod(xp.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    others = (before * after)[..., :flat.shape[-1]].reshape([x.shape[a] for a in order])
    return others.transpose([order.index(a) for a in range(x.ndim)]) if x.ndim else others


def _others(x, axes):
    """Π_{j≠i} x_j over ``axes``, for each element i of x: the product of the slice with x_i set to
    1. Written as a prod of n masked copies of each slice (n the slice's length: n² work), a Prod
    itself, so every order of derivative is right, zeros included (create_graph only)."""
    keep = [a for a in range(x.ndim) if a not in axes]
    order = keep + list(axes)
    moved = transpose(x, order) if x.ndim else x
    lead = [x.shape[a] for a in keep]
    n = _count(x.shape, axes)
    flat = reshape(moved, lead + [1, n])
    eye = backend.array_module(x.data if isinstance(x, _tensor.Tensor) else x).eye(n, dtype=bool)
    others = Prod.apply(where(eye, 1.0, flat), (len(lead) + 1,), False)
    others = reshape(others, [x.shape[a] for a in order])
    inverse = [order.index(a) for a in range(x.ndim)]
    return transpose(others, inverse) if x.ndim else others


def prod(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Π x over ``axis`` (all axes for None); 1 over an empty axis. Integer input stays integer
    (int64), as in PyTorch, and is not differentiable."""
    axes, keepdims = _args("prod", x, axis, keepdims, dim, keepdim)
    return Prod.apply(x, axes, keepdims)


class Cumsum(Function):
    """y_i = Σ_{j≤i} x_j along ``axis`` (or Σ_{j≥i} when ``reverse``);  dL/dx is the reverse scan
    of g: dL/dx_j = Σ_{i≥j} g_i. Linear, so every higher derivative is the same scan."""

    @staticmethod
    def forward(ctx, x, axis, reverse):
        ctx.axis, ctx.reverse = axis, reverse
        xp = backend.array_module(x)
        if not reverse:
            return xp.cumsum(x, axis=axis)
        return xp.flip(xp.cumsum(xp.flip(x, axis), axis=axis), axis)

    @staticmethod
    def backward(ctx, g):
        return Cumsum.apply(g, ctx.axis, not ctx.reverse), None, None


def cumsum(x, axis=None, *, dim=None):
    """Running sum along ``axis`` (PyTorch's ``dim``; NumPy's None scans the flattened tensor).
    A 0-d tensor's cumsum is itself; integer input gives int64."""
    axis = pick("cumsum", "axis", axis, None, "dim", dim)
    if axis is None:
        return Cumsum.apply(reshape(x, -1), 0, False)
    axis = axis_index("cumsum", axis, x.ndim)
    if x.ndim == 0:
        return reshape(Cumsum.apply(reshape(x, 1), 0, False), ())
    return Cumsum.apply(x, axis, False)
