"""pad: torch.nn.functional.pad's widths (pairs from the last dim backwards) and its four modes."""
from __future__ import annotations

import operator

from .. import backend
from ..autograd import Function
from .broadcasting import require_tensor
from .shape import broadcast_to, concatenate

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


def _extend(x, d, before, after, mode):
    """x along dim d extended by ``before`` and ``after`` copies of its own elements: mirrored about
    the edge element (reflect), the edge element repeated (replicate), or the other end's elements
    (circular). Slices, a broadcast and a concatenation, so the gradient adds each copy's share back
    by their rules."""
    lead = (slice(None),) * d
    n = x.shape[d]

    def part(start, stop, step=1):
        return x[lead + (slice(start, stop, step),)]

    def edge(i, count):
        return broadcast_to(part(i, i + 1), x.shape[:d] + (count,) + x.shape[d + 1:])

    if mode == "reflect":                           # x[before], …, x[1]; then x[n−2], …, x[n−1−after]
        left = part(before, 0, -1)
        right = part(n - 2, n - 2 - after if n - 2 - after >= 0 else None, -1) if after else part(0, 0)
    elif mode == "replicate":
        left, right = edge(0, before), edge(n - 1, after)
    else:
        left, right = part(n - before, n), part(0, after)
    return concatenate([left, x, right], axis=d)


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
    one before it, …. In "constant" mode the new elements are ``value`` (0 by default) and negative
    widths crop; in "reflect" (mirror, edge not repeated: width < size), "replicate" (edge repeated)
    and "circular" (wrapped: width ≤ size) mode they are copies of x's own elements, whose gradients
    add up. Unlike PyTorch the last three modes take any number of leading dims, and no negative
    widths."""
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
        if min(b, a) < 0:
            raise ValueError(f"pad: negative widths crop in constant mode only; got ({b}, {a}) for dim {d} in {mode} mode")
        if max(b, a) > {"reflect": n - 1, "replicate": n - 1 + max(b, a), "circular": n}[mode]:
            raise ValueError(f"pad: {mode} widths ({b}, {a}) do not fit dim {d} of shape {tuple(x.shape)}: reflect "
                             "needs each width < the size, circular ≤ the size, replicate a non-empty dim")
    if mode == "constant":
        return ConstantPad.apply(x, widths, 0 if value is None else value)
    for d, (b, a) in enumerate(widths):
        if (b, a) != (0, 0):
            x = _extend(x, d, b, a, mode)
    return x
