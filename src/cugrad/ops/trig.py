"""Trigonometric and hyperbolic functions: sin, cos, tan, sinh, cosh. Each backward is built from
these differentiable ops, so create_graph gives every higher derivative."""
from __future__ import annotations

from .. import backend
from ..autograd import Function
from .promotion import as_float


class _OfX(Function):
    """y = f(x) by the array library's ufunc ``name``, saving x;  dL/dx = g·f'(x) (``slope``)."""

    fp_quiet = True
    name = ""

    @classmethod
    def forward(cls, ctx, x):
        x = as_float(x)
        ctx.save_for_backward(x)
        return getattr(backend.array_module(x), cls.name)(x)

    @classmethod
    def backward(cls, ctx, g):
        (x,) = ctx.saved
        return g * cls.slope(x)


class Sin(_OfX):
    """y = sin x;  dL/dx = g·cos x."""

    name = "sin"
    slope = staticmethod(lambda x: cos(x))


class Cos(_OfX):
    """y = cos x;  dL/dx = −g·sin x."""

    name = "cos"
    slope = staticmethod(lambda x: -sin(x))


class Sinh(_OfX):
    """y = sinh x;  dL/dx = g·cosh x."""

    name = "sinh"
    slope = staticmethod(lambda x: cosh(x))


class Cosh(_OfX):
    """y = cosh x;  dL/dx = g·sinh x."""

    name = "cosh"
    slope = staticmethod(lambda x: sinh(x))


class Tan(Function):
    """y = tan x;  dL/dx = g·(1 + y²)."""

    fp_quiet = True

    @staticmethod
    def forward(ctx, x):
        y = backend.array_module(x).tan(as_float(x))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g * (1 + y * y)


def sin(x):
    return Sin.apply(x)


def cos(x):
    return Cos.apply(x)


def tan(x):
    return Tan.apply(x)


def sinh(x):
    return Sinh.apply(x)


def cosh(x):
    return Cosh.apply(x)
