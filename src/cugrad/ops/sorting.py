"""Ordering along one dim: sort and topk, each (values, indices) as in PyTorch.

The indices come from a stable argsort (NumPy's and CuPy's ``kind="stable"``; NaN above every
number); the values are ``gather(x, dim, indices)``, so the gradient of the values is routed back
through the indices by gather's rule (dL/dx = zeros with g added at the picked positions).
"""
from __future__ import annotations

import operator

from .. import backend
from .. import tensor as _tensor
from .axes import axis_index
from .broadcasting import require_tensor
from .indexing import gather


def _argsort(data, axis, descending):
    """Indices that sort ``data`` along ``axis``, stably: equal elements keep their order (also when
    descending: the ascending stable order of the reversed array, reversed and mapped back)."""
    xp = backend.array_module(data)
    with backend.device_context(backend.device_of(data)):
        if not descending:
            return xp.argsort(data, axis=axis, kind="stable")
        flip = (slice(None),) * axis + (slice(None, None, -1),)
        return (data.shape[axis] - 1 - xp.argsort(data[flip], axis=axis, kind="stable"))[flip]


def _order(op, x, dim, descending):
    """(axis, sorting indices as an int64 Tensor); a 0-d tensor sorts as one element."""
    require_tensor(op, "x", x)
    axis = axis_index(op, dim, x.ndim)
    data = x.data
    if x.ndim == 0:
        return axis, _tensor.Tensor.from_array(backend.zeros((), "int64", x.device))
    return axis, _tensor.Tensor.from_array(_argsort(data, axis, descending).astype("int64", copy=False))


def sort(x, dim=-1, descending=False, *, stable=True):
    """(values, indices): x sorted along ``dim``, ascending unless ``descending``; equal elements keep
    their order (always: ``stable`` is accepted for PyTorch's signature) and NaN sorts above every
    number, as in PyTorch. values = gather(x, dim, indices): dL/dx = g scattered back to where each
    value came from."""
    axis, indices = _order("sort", x, dim, descending)
    return gather(x, axis, indices), indices


def topk(x, k, dim=-1, largest=True, sorted=True):  # noqa: A002 - PyTorch's name
    """(values, indices) of the ``k`` largest (or smallest, ``largest=False``) elements along
    ``dim``, always in sorted order (``sorted=False`` leaves PyTorch free to pick any order; cugrad
    keeps this one); of equal elements the first comes first. Gradient as sort's."""
    require_tensor("topk", "x", x)
    n = x.shape[axis_index("topk", dim, x.ndim)] if x.ndim else 1
    try:
        k = operator.index(k)
    except TypeError:
        raise TypeError(f"topk: k must be an int, got {type(k).__name__}") from None
    if not 0 <= k <= n:
        raise ValueError(f"topk: k={k} is out of range [0, {n}] for dim {dim} of shape {tuple(x.shape)}")
    axis, indices = _order("topk", x, dim, largest)
    if x.ndim:
        indices = indices[(slice(None),) * axis + (slice(0, k),)]
    return gather(x, axis, indices), indices
