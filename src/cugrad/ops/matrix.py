"""Parts of matrices: tril and triu over the last two dims, diagonal over any two (PyTorch's names
and semantics; batches of matrices in the leading dims)."""
from __future__ import annotations

import operator

from .. import backend
from ..autograd import Function
from .axes import axis_index
from .broadcasting import require_tensor
from .shape import GetItem, Transpose


class Triangle(Function):
    """y = x with the elements above diagonal k (tril: kept where col − row ≤ k) or below it (triu:
    kept where col − row ≥ k) set to 0, over the last two dims;  dL/dx = the same triangle of g."""

    @staticmethod
    def forward(ctx, x, upper, k):
        ctx.upper, ctx.k = upper, k
        xp = backend.array_module(x)
        return (xp.triu if upper else xp.tril)(x, k)

    @staticmethod
    def backward(ctx, g):
        return Triangle.apply(g, ctx.upper, ctx.k), None, None


def _diagonal_offset(op, k):
    if isinstance(k, bool):
        raise TypeError(f"{op}: diagonal must be an int, got bool")
    try:
        return operator.index(k)
    except TypeError:
        raise TypeError(f"{op}: diagonal must be an int, got {type(k).__name__}") from None


def _triangle(op, x, diagonal, upper):
    require_tensor(op, "x", x)
    if x.ndim < 2:
        raise ValueError(f"{op}: needs a matrix or a batch of them (2 or more dims), got shape {tuple(x.shape)}")
    return Triangle.apply(x, upper, _diagonal_offset(op, diagonal))


def tril(x, diagonal=0):
    """The lower triangle of (each matrix in) x: elements on and below diagonal ``diagonal`` (0 the
    main one, positive above it), zeros elsewhere."""
    return _triangle("tril", x, diagonal, upper=False)


def triu(x, diagonal=0):
    """The upper triangle of (each matrix in) x: elements on and above diagonal ``diagonal``."""
    return _triangle("triu", x, diagonal, upper=True)


def diagonal(x, offset=0, dim1=0, dim2=1):
    """The diagonal of x over dims ``dim1`` and ``dim2``, out[..., i] = x[..., i, i + offset] (with
    those two dims moved last; offset < 0 starts below), as a new last dim: torch.diagonal.

    A transpose and indexing by (rows, cols): dL/dx = zeros with g on that diagonal."""
    require_tensor("diagonal", "x", x)
    offset = _diagonal_offset("diagonal", offset)
    d1, d2 = (axis_index("diagonal", d, x.ndim, allow_0d=False) for d in (dim1, dim2))
    if d1 == d2:
        raise ValueError(f"diagonal: dim1 and dim2 name the same dim ({dim1}, {dim2}) of a {x.ndim}-d tensor")
    rest = tuple(d for d in range(x.ndim) if d not in (d1, d2))
    row0, col0 = max(-offset, 0), max(offset, 0)
    length = max(0, min(x.shape[d1] - row0, x.shape[d2] - col0))
    xp = backend.module_for(x.device)
    with backend.device_context(x.device):
        rows, cols = xp.arange(row0, row0 + length), xp.arange(col0, col0 + length)
    return GetItem.apply(Transpose.apply(x, rest + (d1, d2)), (Ellipsis, rows, cols))
