"""The arithmetic operators: add, sub, mul, div, neg, pow."""
from __future__ import annotations

from ..autograd import Function
from .broadcasting import broadcast_shape, shape_of, unbroadcast
from .elementwise import log


class _Binary(Function):
    """Checks that the two operands broadcast before any work, and remembers their shapes."""

    name = ""

    @classmethod
    def check(cls, ctx, a, b):
        sa, sb = shape_of(a), shape_of(b)
        if sa != sb:
            broadcast_shape(cls.name, sa, sb)
        ctx.shapes = (sa, sb)


class Add(_Binary):
    """z = a + b;  dL/da = g, dL/db = g (each summed back to its operand's shape)."""

    name = "add"

    @staticmethod
    def forward(ctx, a, b):
        Add.check(ctx, a, b)
        return a + b

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(g, sa) if need_a else None), (unbroadcast(g, sb) if need_b else None)


class Sub(_Binary):
    """z = a - b;  dL/da = g, dL/db = -g."""

    name = "sub"

    @staticmethod
    def forward(ctx, a, b):
        Sub.check(ctx, a, b)
        return a - b

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(g, sa) if need_a else None), (unbroadcast(-g, sb) if need_b else None)


class Mul(_Binary):
    """z = a * b;  dL/da = g * b, dL/db = g * a (the "swap multiplier")."""

    name = "mul"

    @staticmethod
    def forward(ctx, a, b):
        Mul.check(ctx, a, b)
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        sa, sb = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(g * b, sa) if need_a else None), (unbroadcast(g * a, sb) if need_b else None)


class Div(_Binary):
    """z = a / b;  dL/da = g / b, dL/db = -g * a / b²."""

    name = "div"

    @staticmethod
    def forward(ctx, a, b):
        Div.check(ctx, a, b)
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        sa, sb = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        ga = unbroadcast(g / b, sa) if need_a else None
        gb = unbroadcast(-g * a / (b * b), sb) if need_b else None
        return ga, gb


class Neg(Function):
    """z = -a;  dL/da = -g."""

    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


class Pow(_Binary):
    """z = a ** b;  dL/da = g * b * a^(b-1),  dL/db = g * z * ln(a)."""

    name = "pow"

    @staticmethod
    def forward(ctx, a, b):
        Pow.check(ctx, a, b)
        z = a**b
        ctx.save_for_backward(a, b, z)
        return z

    @staticmethod
    def backward(ctx, g):
        a, b, z = ctx.saved
        sa, sb = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        ga = gb = None
        if need_a:
            ga = unbroadcast(g * b * a ** (b - 1), sa)
        if need_b:
            gb = unbroadcast(g * z * log(a), sb)
        return ga, gb


def add(a, b):
    return Add.apply(a, b)


def sub(a, b):
    return Sub.apply(a, b)


def mul(a, b):
    return Mul.apply(a, b)


def div(a, b):
    return Div.apply(a, b)


def neg(a):
    return Neg.apply(a)


def pow(a, b):  # noqa: A001 - the operator's name
    return Pow.apply(a, b)
