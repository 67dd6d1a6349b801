"""pad: torch.nn.functional.pad's widths (pairs from the last dim backwards) and its four modes."""
from __future__ import annotations

import operator

import numpy as np

from .. import backend
from ..autograd import Function
from .broadcasting import require_tensor
from .shape import getitem

MODES = ("constant", "reflect", "replicate", "circular")


class ConstantPad(Function):
    """y = x with ``before[i]`` and ``after[i]`` elements of ``value`` added on either side of dim i
    (a negative count crops instead);  dL/dx = g with the opposite widths (the padding cropped off,
    zeros where x was cropped)."""

    @staticmethod
    def forward(ctx, x, widths, value):
        ctx.widths = widths
        xp = backend.array_module(x)
        out = xp.full(tuple(n + b + a for n, (b, a) in zip(x.shape, widths)), value, dtype=x.dtype)
        src, dst = [], []
        for n, (b, a) in zip(x.shape, widths):
            start = max(-b, 0)
            length = n - start - max(-a, 0)
            src.append(slice(start, start + length))
            dst.append(slice(max(b, 0), max(b, 0) + length))
        out[tuple(dst)] = x[tuple(src)]
        return out

    @staticmethod
    def backward(ctx, g):
        return ConstantPad.apply(g, tuple((-b, -a) for b, a in ctx.widths), 0), None, None


def _source_positions(mode, n, before, after):
    """For each output position along a dim of size n padded by (before, after), the input
    position it copies: reflect mirrors about the edge element, replicate repeats it, circular wraps."""
    p = np.arange(-before, n + after)
    if mode == "reflect":
        return np.abs((p + n - 1) % (2 * n - 2) - (n - 1)) if n > 1 else np.zeros_like(p)
    if mode == "replicate":
        return np.clip(p, 0, n - 1)
    return p % n


def _widths(x, pad):
    """((before, after) for each dim of x) from PyTorch's flat ``pad``, last dim first."""
    try:
        pad = [operator.index(p) for p in pad]
    except TypeError:
        raise TypeError(f"pad: pad must be a sequence of ints, got {pad!r}") from None
    if len(pad) % 2 or len(pad) > 2 * x.ndim:
        raise ValueError(f"pad: pad {tuple(pad)} must hold an even number of widths, at most 2 per dim of "
                         f"shape {tuple(x.shape)}")
    pairs = [(pad[i], pad[i + 1]) for i in range(0, len(pad), 2)][::-1]
    return ((0, 0),) * (x.ndim - len(pairs)) + tuple(pairs)


def pad(x, pad, mode="constant", value=None):  # noqa: A002 - PyTorch's names
    """x padded as torch.nn.functional.pad: ``pad`` = (before, after) of the last dim, then of the
    one before it, …; in "constant" mode with ``value`` (0 by default; negative widths crop), in
    "reflect" (mirror, edge not repeated: width < size), "replicate" (edge repeated) or "circular"
    (wrapped: width ≤ size) mode by indexing, whose gradient adds up the copies. Unlike PyTorch the
    last three modes take any number of leading dims."""
    require_tensor("pad", "x", x)
    if mode not in MODES:
        raise ValueError(f"pad: unknown mode {mode!r}; the modes are {', '.join(MODES)}")
    if mode != "constant" and value is not None:
        raise ValueError(f"pad: mode {mode!r} takes no value (got {value})")
    widths = _widths(x, pad)
    for d, (n, (b, a)) in enumerate(zip(x.shape, widths)):
        if n - max(-b, 0) - max(-a, 0) < 0:
            raise ValueError(f"pad: widths ({b}, {a}) crop more than dim {d} of shape {tuple(x.shape)} holds")
        if mode == "constant" or (b, a) == (0, 0):
            continue
        limit = {"reflect": n - 1, "replicate": None, "circular": n}[mode]
        if n == 0 or limit is not None and max(b, a) > limit:
            raise ValueError(f"pad: {mode} widths ({b}, {a}) do not fit dim {d} of shape {tuple(x.shape)} (reflect "
                             "needs each width < the size, circular ≤ the size, replicate a non-empty dim)")
    if mode == "constant":
        return ConstantPad.apply(x, widths, 0 if value is None else value)
    for d, (b, a) in enumerate(widths):
        if (b, a) != (0, 0):
            x = getitem(x, (slice(None),) * d + (_source_positions(mode, x.shape[d], b, a),))
    return x
