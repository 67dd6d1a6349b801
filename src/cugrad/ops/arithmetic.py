"""The arithmetic operators: add, sub, mul, div, neg, pow."""
from __future__ import annotations

from ..autograd import Function
from .broadcasting import broadcast_shape, shape_of, unbroadcast
from .elementwise import log, where
from .promotion import promote, saved_like


class _Binary(Function):
    """Checks that the two operands broadcast before any work, remembers their shapes, and brings
    them to one dtype by the promotion rule (see promotion.py)."""

    name = ""
    to_float = False  # true division: integer operands give float32

    @classmethod
    def check(cls, ctx, a, b):
        same = type(a) is type(b) and hasattr(a, "dtype") and a.dtype == b.dtype  # the common case
        sa, sb = (a.shape, b.shape) if same else (shape_of(a), shape_of(b))
        if sa != sb:
            broadcast_shape(cls.name, sa, sb)
        ctx.shapes = (sa, sb)
        if same and (a.dtype.kind == "f" or not cls.to_float):  # nothing to promote, quickly
            return a, b
        return promote(a, b, to_float=cls.to_float)


class Add(_Binary):
    """z = a + b;  dL/da = g, dL/db = g (each summed back to its operand's shape)."""

    name = "add"
    fp_quiet = True

    @staticmethod
    def forward(ctx, a, b):
        a, b = Add.check(ctx, a, b)
        return a + b

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(g, sa) if need_a else None), (unbroadcast(g, sb) if need_b else None)


class Sub(_Binary):
    """z = a - b;  dL/da = g, dL/db = -g."""

    name = "sub"
    fp_quiet = True

    @staticmethod
    def forward(ctx, a, b):
        a, b = Sub.check(ctx, a, b)
        return a - b

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(g, sa) if need_a else None), (unbroadcast(-g, sb) if need_b else None)


class Mul(_Binary):
    """z = a * b;  dL/da = g * b, dL/db = g * a (the "swap multiplier")."""

    name = "mul"
    fp_quiet = True

    @staticmethod
    def forward(ctx, a, b):
        a, b = Mul.check(ctx, a, b)
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        sa, sb = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        return (unbroadcast(g * b, sa) if need_a else None), (unbroadcast(g * a, sb) if need_b else None)


class Div(_Binary):
    """z = a / b;  dL/da = g / b, dL/db = -g * (a / b) / b  (not a / b², whose b² under- or
    overflows where the gradient does not)."""

    name = "div"
    to_float = True
    fp_quiet = True

    @staticmethod
    def forward(ctx, a, b):
        a, b = Div.check(ctx, a, b)
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        sa, sb = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        ga = unbroadcast(g / b, sa) if need_a else None
        gb = unbroadcast(-g * ((a / b) / b), sb) if need_b else None
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
    """z = a ** b;  dL/da = g·b·a^(b−1), taken as 0 where b = 0;  dL/db = g·z·ln(a), taken as 0
    where a = 0 and b >= 0 (PyTorch's conventions: a^0 is constant in a, and 0^b for b >= 0 is
    0 or 1 on either side of b, so neither has an infinite slope there). The formulas read a base
    of 1 at those points, so their own derivatives (create_graph) are 0 there too, not 0·∞."""

    name = "pow"
    fp_quiet = True

    @staticmethod
    def forward(ctx, a, b):
        a, b = Pow.check(ctx, a, b)
        try:
            z = a**b
        except ValueError as exc:  # NumPy: integers to negative integer powers
            raise ValueError(f"pow: {exc}") from None
        # a Python-number operand saved as an array of z's dtype: backward's where() would make
        # two Python numbers the default float32 and lose digits of ln(a)
        ctx.save_for_backward(*saved_like(z, a, b))
        return z

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        sa, sb = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        ga = gb = None
        if need_a and not ctx.create_graph and b.ndim == 0 and b != 0:  # x ** 2: nothing to mask
            ga = unbroadcast(g * (b * a ** (b - 1)), sa)
        elif need_a:
            flat = b == 0
            ga = unbroadcast(where(flat, 0.0, g * b * where(flat, 1.0, a) ** (b - 1)), sa)
        if need_b:
            flat = (a == 0) & (b >= 0)
            base = where(flat, 1.0, a)
            gb = unbroadcast(where(flat, 0.0, g * base**b * log(base)), sb)
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
