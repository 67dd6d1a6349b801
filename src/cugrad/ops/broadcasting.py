"""Operand helpers shared by every op: shapes, broadcast checks, and gradients summed back to an
input's shape."""
from __future__ import annotations

import numpy as np


def shape_of(value) -> tuple:
    """The shape of an array, Tensor, nested list or Python scalar (``()``)."""
    shape = getattr(value, "shape", None)
    if shape is None:
        return np.shape(value) if isinstance(value, (list, tuple)) else ()
    return tuple(shape)


def require_tensor(op, name, value):
    """A TypeError naming ``op`` unless ``value`` is a Tensor or an array (has shape and dtype)."""
    if not (hasattr(value, "shape") and hasattr(value, "dtype")):
        raise TypeError(f"{op}: {name} must be a tensor, got {type(value).__name__}")


def broadcast_shape(op: str, *shapes) -> tuple:
    """The broadcast of ``shapes``; a ValueError naming ``op`` and the shapes when there is none."""
    if len(shapes) == 2:  # the common cases, without np.broadcast_shapes (it costs microseconds)
        a, b = tuple(shapes[0]), tuple(shapes[1])
        if a == b or not b:
            return a
        if not a:
            return b
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        listed = " and ".join(str(tuple(s)) for s in shapes)
        raise ValueError(f"{op}: shapes {listed} cannot be broadcast together") from None


def unbroadcast(grad, shape):
    """Sum ``grad`` (an array or a Tensor) over the axes along which ``shape`` was broadcast.

    The gradient of a broadcast input is the sum of the output gradient over every position that
    read the same input element: the leading axes broadcasting added, and the axes of length 1.
    """
    if grad.shape == shape:   # nothing was broadcast (both tuples: the common case, quickly)
        return grad
    shape = tuple(shape)
    if tuple(grad.shape) == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1
    )
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)
