"""Type promotion, PyTorch's rule, in one place (NumPy's own would give float64 in each case below).

- A Python or NumPy scalar never changes a tensor's dtype within its category (bool < int <
  float): ``float32 * np.float64(2)`` is float32, ``int64 + 1`` is int64. A scalar of a higher
  category takes the default float dtype: ``int64 * 0.5`` is float32.
- Between arrays of different categories the higher one's dtype wins: ``int64 + float32`` is
  float32. Within one category NumPy's rule holds: ``float32 + float64`` is float64.
- Float ops (division, exp, log, sqrt, mean, the activations and losses) turn integer and
  boolean inputs into the default float dtype, float32.
"""
from __future__ import annotations

import numpy as np

from .. import backend

_SCALARS = (bool, int, float)


def _category(dtype) -> int:
    if dtype.kind == "b":
        return 0
    return 2 if backend.is_floating(dtype) else 1


def _scalar_category(value) -> int:
    return 0 if isinstance(value, bool) else 1 if isinstance(value, int) else 2


def promote(*operands, to_float=False):
    """``operands`` (arrays and scalars) brought to their common dtype by the rule above; NumPy
    scalars become Python scalars (NumPy 2 would let a NumPy float64 promote a float32 array).
    ``to_float``: the result must be floating (division and other float ops)."""
    operands = [v.item() if isinstance(v, np.generic) else v for v in operands]
    arrays = [v for v in operands if backend.is_array(v)]
    if not arrays:
        return operands
    top = max(_category(a.dtype) for a in arrays)
    scalar_top = max((_scalar_category(v) for v in operands if isinstance(v, _SCALARS)), default=0)
    if to_float and top < 2 or scalar_top > top:
        target = backend.DEFAULT_FLOAT if to_float or scalar_top == 2 else np.dtype(np.int64)
    elif any(_category(a.dtype) < top for a in arrays):
        target = np.result_type(*[a.dtype for a in arrays if _category(a.dtype) == top])
    else:
        return operands
    return [v.astype(target) if backend.is_array(v) and _category(v.dtype) < _category(target) else v
            for v in operands]


def as_float(x):
    """``x`` (an array or a Tensor) in the default float dtype unless it is floating already (or a
    Python number): the input of a float op. An integer tensor never requires grad, so the cast
    loses nothing."""
    dtype = getattr(x, "dtype", None)
    return x if dtype is None or backend.is_floating(dtype) else x.astype(backend.DEFAULT_FLOAT)
