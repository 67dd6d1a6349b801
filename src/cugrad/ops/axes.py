"""Axis arguments, in one place: NumPy's ``axis``/``keepdims`` or PyTorch's ``dim``/``keepdim``,
normalised and range-checked the same way by every op that takes one.

An out-of-range axis is NumPy's ``AxisError`` (an IndexError and a ValueError) naming the op. As in
PyTorch, a 0-d tensor accepts axis 0 and -1 (there is nothing to reduce or normalise over).
"""
from __future__ import annotations

import operator

try:
    from numpy.exceptions import AxisError
except ImportError:  # NumPy < 1.25
    from numpy import AxisError


def pick(op, numpy_name, numpy_value, numpy_default, torch_name, torch_value):
    """The value of an argument that has a NumPy name and a PyTorch name (``axis``/``dim``,
    ``keepdims``/``keepdim``); giving both is a TypeError."""
    if torch_value is None:
        return numpy_value
    if numpy_value != numpy_default:
        raise TypeError(f"{op}: got both {numpy_name}= and {torch_name}=; pass one")
    return torch_value


def axis_index(op, axis, ndim, allow_0d=True):
    """``axis`` as an index in [0, ndim) (0 for a 0-d tensor when ``allow_0d``)."""
    try:
        a = operator.index(axis)
    except TypeError:
        raise TypeError(f"{op}: axis must be an int, got {type(axis).__name__}") from None
    if isinstance(axis, bool):
        raise TypeError(f"{op}: axis must be an int, got bool")
    bound = 1 if ndim == 0 and allow_0d else ndim
    if not -bound <= a < bound:
        what = f"a {ndim}-d tensor" + (" (valid: -1, 0)" if ndim == 0 and allow_0d else "")
        raise AxisError(f"{op}: axis {axis} is out of range for {what}")
    return a % bound if ndim else 0


def axis_tuple(op, axis, ndim):
    """``axis`` (None, an int or a sequence of ints) as a sorted tuple of distinct axes in
    [0, ndim); all axes for None. On a 0-d tensor every accepted axis names no axis: ``()``."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if not isinstance(axis, (tuple, list)) else tuple(axis)
    out = [axis_index(op, a, ndim) for a in axes]
    if ndim == 0:
        return ()
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(out))
