"""Piecewise-constant ops (sign, floor, ceil, round, trunc: gradient 0, as in PyTorch) and the
float predicates isnan, isinf, isfinite (boolean, never differentiated)."""
from __future__ import annotations

from .. import backend
from ..autograd import Function


class _Step(Function):
    """y = f(x) for a piecewise-constant f (``ufunc``: its NumPy/CuPy name);  dL/dx = 0.
    An integer x keeps its dtype (rounding it changes nothing), as in PyTorch."""

    @staticmethod
    def forward(ctx, x, ufunc):
        xp = backend.array_module(x)
        if ufunc != "sign" and x.dtype.kind in "iub":
            return xp.array(x, copy=True)
        y = xp.asarray(getattr(xp, ufunc)(x))
        if ufunc == "sign" and y.dtype.kind == "f":
            y[xp.isnan(y)] = 0                 # PyTorch's sign(NaN) is 0 (NumPy's is NaN)
        return y

    @staticmethod
    def backward(ctx, g):
        return g * 0, None


class _Predicate(Function):
    """A boolean test of each element (no gradient: the output is not a float)."""

    @staticmethod
    def forward(ctx, x, ufunc):
        xp = backend.array_module(x)
        return xp.asarray(getattr(xp, ufunc)(x))


def sign(x):
    """−1, 0 or 1 by the sign of x; 0 for NaN, as PyTorch's (NumPy gives NaN)."""
    return _Step.apply(x, "sign")


def floor(x):
    return _Step.apply(x, "floor")


def ceil(x):
    return _Step.apply(x, "ceil")


def round(x):  # noqa: A001 - NumPy's and PyTorch's name
    """Nearest integer, halves to even (NumPy's and PyTorch's rule)."""
    return _Step.apply(x, "rint")


def trunc(x):
    return _Step.apply(x, "trunc")


def isnan(x):
    return _Predicate.apply(x, "isnan")


def isinf(x):
    return _Predicate.apply(x, "isinf")


def isfinite(x):
    return _Predicate.apply(x, "isfinite")
