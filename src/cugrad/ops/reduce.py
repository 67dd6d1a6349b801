"""Reductions with NumPy's ``axis``/``keepdims``: sum, mean, max, min, var."""
from __future__ import annotations

import builtins

from ..autograd import Function
from .shape import broadcast_to


def _normalize_axes(op, axis, ndim):
    """``axis`` as a sorted tuple of non-negative axes (all axes for None)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(a % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(out))


def _kept_shape(shape, axes):
    """``shape`` with the reduced axes set to 1 (the keepdims shape)."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    """y = Σ_axes x;  dL/dx = g broadcast back over the summed axes."""

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        axes = _normalize_axes("sum", axis, x.ndim)
        ctx.shape, ctx.kept = x.shape, _kept_shape(x.shape, axes)
        return x.sum(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        return broadcast_to(g.reshape(ctx.kept), ctx.shape), None, None


class _Extreme(Function):
    """max or min over axes; the gradient is shared evenly by the elements that attain it."""

    name = ""

    @classmethod
    def _reduce(cls, ctx, x, axis, keepdims):
        if x.size == 0:
            raise ValueError(f"{cls.name}: cannot reduce an empty tensor of shape {tuple(x.shape)}")
        axes = _normalize_axes(cls.name, axis, x.ndim)
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
    def forward(ctx, x, axis, keepdims):
        return Max._reduce(ctx, x, axis, keepdims)


class Min(_Extreme):
    """y = min_axes x;  dL/dx = g / k at the k elements equal to the min, 0 elsewhere."""

    name = "min"

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        return Min._reduce(ctx, x, axis, keepdims)


def sum(x, axis=None, keepdims=False):  # noqa: A001 - NumPy's name
    return Sum.apply(x, axis, keepdims)


def mean(x, axis=None, keepdims=False):
    """Σ x / n over ``axis`` (composed from sum, so its gradient is g / n)."""
    axes = _normalize_axes("mean", axis, x.ndim)
    count = 1
    for a in axes:
        count *= x.shape[a]
    return sum(x, axes, keepdims) / count


def max(x, axis=None, keepdims=False):  # noqa: A001
    return Max.apply(x, axis, keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001
    return Min.apply(x, axis, keepdims)


def var(x, axis=None, keepdims=False, ddof=0):
    """Σ (x - mean)² / (n - ddof) over ``axis`` (NumPy's default ddof=0)."""
    axes = _normalize_axes("var", axis, x.ndim)
    count = 1
    for a in axes:
        count *= x.shape[a]
    if count - ddof <= 0:
        raise ValueError(f"var: ddof={ddof} leaves no degrees of freedom for {count} elements")
    centered = x - mean(x, axes, keepdims=True)
    return sum(centered * centered, axes, keepdims) / (count - ddof)

