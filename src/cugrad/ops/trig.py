"""Trigonometric and hyperbolic functions: sin, cos, tan, sinh, cosh. Each backward is built from
these differentiable ops, so create_graph gives every higher derivative."""
from __future__ import annotations

from .elementwise import UfuncOp


class Sin(UfuncOp):
    """y = sin x;  dL/dx = g·cos x."""

    ufunc = "sin"
    grad = staticmethod(lambda g, x: g * cos(x))


class Cos(UfuncOp):
    """y = cos x;  dL/dx = −g·sin x."""

    ufunc = "cos"
    grad = staticmethod(lambda g, x: g * -sin(x))


class Sinh(UfuncOp):
    """y = sinh x;  dL/dx = g·cosh x."""

    ufunc = "sinh"
    grad = staticmethod(lambda g, x: g * cosh(x))


class Cosh(UfuncOp):
    """y = cosh x;  dL/dx = g·sinh x."""

    ufunc = "cosh"
    grad = staticmethod(lambda g, x: g * sinh(x))


class Tan(UfuncOp):
    """y = tan x;  dL/dx = g·(1 + y²)."""

    ufunc, saves_output = "tan", True
    grad = staticmethod(lambda g, y: g * (1 + y * y))


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
