"""Unary ops and the ops that pick or blend between operands: exp, exp2, log, log2, log10, sqrt,
rsqrt, erf, abs, clip (clamp), maximum, minimum, logaddexp, where, lerp."""
from __future__ import annotations

import math

from .. import backend
from ..autograd import Function
from .broadcasting import broadcast_shape, shape_of, unbroadcast
from .promotion import as_float, promote, saved_like

_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)


class UfuncOp(Function):
    """y = f(x) by the array library's ufunc ``ufunc``, saving x, or y where ``saves_output``;
    backward is ``grad(g, saved)``, each subclass's rule in its docstring."""

    fp_quiet = True
    ufunc = ""
    saves_output = False

    @classmethod
    def forward(cls, ctx, x):
        x = as_float(x)
        y = getattr(backend.array_module(x), cls.ufunc)(x)
        ctx.save_for_backward(y if cls.saves_output else x)
        return y

    @classmethod
    def backward(cls, ctx, g):
        (saved,) = ctx.saved
        return cls.grad(g, saved)


class Exp(UfuncOp):
    """y = e^x;  dL/dx = g * y."""

    ufunc, saves_output = "exp", True
    grad = staticmethod(lambda g, y: g * y)


class Log(UfuncOp):
    """y = ln x;  dL/dx = g / x."""

    ufunc = "log"
    grad = staticmethod(lambda g, x: g / x)


class Sqrt(UfuncOp):
    """y = √x;  dL/dx = g / (2y)."""

    ufunc, saves_output = "sqrt", True
    grad = staticmethod(lambda g, y: g / (2 * y))


class Exp2(UfuncOp):
    """y = 2^x;  dL/dx = g·y·ln 2."""

    ufunc, saves_output = "exp2", True
    grad = staticmethod(lambda g, y: g * y * math.log(2))


class LogBase(Function):
    """y = log_b x = ln x / ln b (b = 2 or 10);  dL/dx = g / (x·ln b)."""

    fp_quiet = True

    @staticmethod
    def forward(ctx, x, base):
        x = as_float(x)
        ctx.base = base
        ctx.save_for_backward(x)
        xp = backend.array_module(x)
        return xp.log2(x) if base == 2 else xp.log10(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g / (x * math.log(ctx.base)), None


class Rsqrt(Function):
    """y = 1/√x;  dL/dx = −g·y³/2."""

    fp_quiet = True

    @staticmethod
    def forward(ctx, x):
        xp = backend.array_module(x)
        y = xp.asarray(1 / xp.sqrt(as_float(x)))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return -0.5 * g * y * y * y


class Erf(UfuncOp):
    """y = erf x = 2/√π ∫₀ˣ e^(−t²) dt;  dL/dx = g·(2/√π)·e^(−x²) (itself built from exp, so
    create_graph gives every higher derivative). The forward is backend.erf, the one erf shared
    with the exact GELU's NumPy twin."""

    @staticmethod
    def forward(ctx, x):
        x = as_float(x)
        ctx.save_for_backward(x)
        return backend.erf(x)

    grad = staticmethod(lambda g, x: g * (_TWO_OVER_SQRT_PI * exp(-(x * x))))


class Abs(Function):
    """y = |x|;  dL/dx = g * sign(x)  (0 at x = 0)."""

    @staticmethod
    def forward(ctx, x):
        xp = backend.array_module(x)
        ctx.save_for_backward(xp.sign(x))
        return xp.abs(x)

    @staticmethod
    def backward(ctx, g):
        (sign,) = ctx.saved
        return g * sign


class Clip(Function):
    """y = min(max(x, lo), hi) — in that order, as in PyTorch, so lo > hi gives hi everywhere;
    dL/dx = g where lo <= x <= hi, else 0 (selected: 0 even where g is inf or nan)."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        x, lo, hi = promote(x, lo, hi)
        xp = backend.array_module(x)
        y = x
        inside = xp.ones(x.shape, dtype=bool)
        if lo is not None:
            inside &= x >= lo
            y = xp.maximum(y, lo)
        if hi is not None:
            inside &= x <= hi
            y = xp.minimum(y, hi)
        ctx.save_for_backward(inside)
        return y

    @staticmethod
    def backward(ctx, g):
        (inside,) = ctx.saved
        return _pick(ctx, inside, g, 0), None, None


class _Select(Function):
    """Elementwise max or min of two operands, NaN-propagating; the gradient goes to the winner,
    split evenly at ties, and to both where either is NaN (PyTorch's rule); the loser gets 0 selected,
    not g·0 (see _pick)."""

    name = ""

    @classmethod
    def _select(cls, ctx, a, b, wins, pick):
        sa, sb = shape_of(a), shape_of(b)
        broadcast_shape(cls.name, sa, sb)
        ctx.shapes = (sa, sb)
        a, b = promote(a, b)
        xp = backend.array_module(a, b)
        dtype = xp.result_type(a, b)
        tie, unordered = a == b, (a != a) | (b != b)
        a_share = xp.asarray(wins(a, b) + 0.5 * tie + unordered, dtype=dtype)
        b_share = xp.asarray(wins(b, a) + 0.5 * tie + unordered, dtype=dtype)
        ctx.save_for_backward(a_share, b_share)
        return pick(a, b)

    @staticmethod
    def backward(ctx, g):
        a_share, b_share = ctx.saved
        sa, sb = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        ga = unbroadcast(_pick(ctx, a_share != 0, g * a_share, 0), sa) if need_a else None
        gb = unbroadcast(_pick(ctx, b_share != 0, g * b_share, 0), sb) if need_b else None
        return ga, gb


class Maximum(_Select):
    """z = max(a, b) (NaN if either is);  dL/da = g where a > b, dL/db = g where b > a, g/2 each at
    ties, g each where either is NaN."""

    name = "maximum"

    @staticmethod
    def forward(ctx, a, b):
        return Maximum._select(ctx, a, b, lambda a, b: a > b, backend.array_module(a, b).maximum)


class Minimum(_Select):
    """z = min(a, b) (NaN if either is);  dL/da = g where a < b, dL/db = g where b < a, g/2 each at
    ties, g each where either is NaN."""

    name = "minimum"

    @staticmethod
    def forward(ctx, a, b):
        return Minimum._select(ctx, a, b, lambda a, b: a < b, backend.array_module(a, b).minimum)


class LogAddExp(Function):
    """z = log(eᵃ + eᵇ) = max(a, b) + log1p(e^−|a − b|) (the array library's logaddexp: no overflow
    for any finite a, b); broadcasting like the arithmetic operators.

    dL/da = g·eᵃ⁻ᶻ = g·σ(a − b) = g / (1 + e^(b − a)),  dL/db = g / (1 + e^(a − b)): the softmax
    weights of (a, b), summing to 1. An overflowing e^(b − a) gives the exact 0; two equal infinite
    operands give nan, as PyTorch's. Built from exp and division, so create_graph works.
    """

    fp_quiet = True

    @staticmethod
    def forward(ctx, a, b):
        sa, sb = shape_of(a), shape_of(b)
        broadcast_shape("logaddexp", sa, sb)
        ctx.shapes = (sa, sb)
        a, b = promote(a, b, to_float=True)
        z = backend.array_module(a, b).logaddexp(a, b)
        ctx.save_for_backward(*saved_like(z, a, b))
        return z

    @staticmethod
    def backward(ctx, g):
        need_a, need_b = ctx.needs_input_grad
        a, b = ctx.saved
        sa, sb = ctx.shapes
        ga = unbroadcast(g / (1 + exp(b - a)), sa) if need_a else None
        gb = unbroadcast(g / (1 + exp(a - b)), sb) if need_b else None
        return ga, gb


class Lerp(Function):
    """z = start + w·(end − start), evaluated as end − (end − start)·(1 − w) where |w| ≥ ½ (exactly
    ``end`` at w = 1, rounded as PyTorch's); the three operands broadcast together.

    dL/dstart = g·(1 − w),  dL/dend = g·w,  dL/dw = g·(end − start), each summed back to its
    operand's shape.
    """

    fp_quiet = True

    @staticmethod
    def forward(ctx, start, end, weight):
        shapes = tuple(shape_of(v) for v in (start, end, weight))
        broadcast_shape("lerp", *shapes)
        ctx.shapes = shapes
        start, end, weight = promote(start, end, weight, to_float=True)
        xp = backend.array_module(start, end, weight)
        diff = end - start
        z = xp.asarray(xp.where(xp.abs(weight) < 0.5, start + weight * diff, end - diff * (1 - weight)))
        ctx.save_for_backward(*saved_like(z, start, end, weight))
        return z

    @staticmethod
    def backward(ctx, g):
        start, end, weight = ctx.saved
        s_start, s_end, s_weight = ctx.shapes
        need_start, need_end, need_weight = ctx.needs_input_grad
        g_start = unbroadcast(g * (1 - weight), s_start) if need_start else None
        g_end = unbroadcast(g * weight, s_end) if need_end else None
        g_weight = unbroadcast(g * (end - start), s_weight) if need_weight else None
        return g_start, g_end, g_weight


class Where(Function):
    """z = a where cond else b;  dL/da = g where cond, dL/db = g elsewhere, 0 in the other places
    (selected: 0 even where g is inf or nan)."""

    @staticmethod
    def forward(ctx, cond, a, b):
        shape = broadcast_shape("where", shape_of(cond), shape_of(a), shape_of(b))
        python_numbers = type(a) in (bool, int, float) and type(b) in (bool, int, float)  # np.float64 is a float
        a, b = promote(a, b)
        xp = backend.array_module(cond, a, b)
        ctx.shapes = (shape_of(a), shape_of(b))
        # a scalar condition (x ** 2's backward asks where(2 == 0, ...)) is filled, not broadcast:
        # cupy.broadcast_to takes arrays only, and a fill needs no host copy (capture-safe)
        ctx.save_for_backward(xp.broadcast_to(cond, shape) if backend.is_array(cond) else xp.full(shape, bool(cond)))
        z = xp.where(cond, a, b)
        if python_numbers and z.dtype.kind == "f":
            z = z.astype(backend.DEFAULT_FLOAT)  # two Python numbers: the default float dtype
        return z

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved
        sa, sb = ctx.shapes
        _, need_a, need_b = ctx.needs_input_grad
        ga = unbroadcast(_pick(ctx, cond, g, 0), sa) if need_a else None
        gb = unbroadcast(_pick(ctx, cond, 0, g), sb) if need_b else None
        return None, ga, gb


def _pick(ctx, cond, a, b):
    """a where cond, else b: a gradient masked by selection, not by a product with the mask (which
    is nan where the gradient is ±inf or nan: an all-ignored mean's, say), as PyTorch's where and
    clamp do. Differentiable under create_graph."""
    if ctx.create_graph:
        return Where.apply(cond, a, b)
    return backend.array_module(cond).where(cond, a, b)


def exp(x):
    return Exp.apply(x)


def log(x):
    return Log.apply(x)


def sqrt(x):
    return Sqrt.apply(x)


def exp2(x):
    return Exp2.apply(x)


def log2(x):
    return LogBase.apply(x, 2)


def log10(x):
    return LogBase.apply(x, 10)


def rsqrt(x):
    return Rsqrt.apply(x)


def erf(x):
    return Erf.apply(x)


def abs(x):  # noqa: A001 - NumPy's name
    return Abs.apply(x)


def clip(x, min=None, max=None):  # noqa: A002 - NumPy's names
    """Values below ``min`` raised to it, then values above ``max`` lowered to it (PyTorch's clamp)."""
    if min is None and max is None:
        raise ValueError("clip: needs min or max (or both); got neither (clamp is clip's PyTorch name)")
    return Clip.apply(x, min, max)


clamp = clip  # PyTorch's name for it


def maximum(a, b):
    return Maximum.apply(a, b)


def minimum(a, b):
    return Minimum.apply(a, b)


def logaddexp(a, b):
    """log(eᵃ + eᵇ) elementwise, without overflow (a two-operand logsumexp)."""
    return LogAddExp.apply(a, b)


def lerp(start, end, weight):
    """start + weight·(end − start): ``weight`` a number or a tensor, all three broadcast together."""
    return Lerp.apply(start, end, weight)


def where(cond, a, b):
    """Elementwise ``a if cond else b`` (``cond`` is a boolean tensor or array, never differentiated)."""
    return Where.apply(cond, a, b)


def masked_fill(x, mask, value):
    """``value`` (a number or a 0-d tensor) where the boolean ``mask`` is True, x elsewhere, the two
    broadcast together as in PyTorch's out-of-place masked_fill: where(mask, value, x), so dL/dx = g
    where the mask is False, dL/dvalue = Σ g where it is True."""
    if getattr(mask, "dtype", None) != bool:
        raise TypeError(f"masked_fill: mask must be a bool tensor, got {getattr(mask, 'dtype', type(mask).__name__)}")
    if shape_of(value) != ():
        raise ValueError(f"masked_fill: value must be a number or a 0-d tensor, got shape {shape_of(value)}")
    broadcast_shape("masked_fill", shape_of(mask), shape_of(x))   # the error names this op, not where
    return Where.apply(mask, value, x)
