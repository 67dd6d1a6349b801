"""Type promotion, PyTorch's rule, in one place (NumPy's own would give float64 in each case below).

- A Python or NumPy scalar never changes a tensor's dtype within its category (bool < int <
  float): ``float32 * np.float64(2)`` is float32, ``int64 + 1`` is int64. A scalar of a higher
  category gives that category's default dtype: ``int64 * 0.5`` is float32, ``bool + 1`` int64.
- Between arrays of different categories the higher one's dtype wins: ``int64 + float32`` is
  float32. Within one category NumPy's rule holds: ``float32 + float64`` is float64.
- Float ops (division, exp, log, sqrt, mean, the activations and losses) turn integer and
  boolean inputs into the default float dtype, float32.
"""
from __future__ import annotations

import numpy as np

from .. import backend


def _category(dtype) -> int:
    kind = dtype.kind
    if kind == "f":
        return 2
    if kind == "b":
        return 0
    return 2 if backend.is_floating(dtype) else 1   # bfloat16 (ml_dtypes) is kind "V"


def promote(*operands, to_float=False):
    """``operands`` (arrays and scalars) brought to their common dtype by the rule above; NumPy
    scalars become Python scalars (NumPy 2 would let a NumPy float64 promote a float32 array).
    ``to_float``: the result must be floating (division and other float ops)."""
    out, arrays, scalar_top = [], [], 0
    for v in operands:
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float):
            scalar_top = 2
        elif isinstance(v, int) and not isinstance(v, bool):
            scalar_top = max(scalar_top, 1)
        elif hasattr(v, "dtype"):
            arrays.append(v)
        out.append(v)
    if not arrays:
        return out
    categories = [_category(a.dtype) for a in arrays]
    top = max(categories)
    if to_float and top < 2 or scalar_top > top:
        target = backend.DEFAULT_FLOAT if to_float or scalar_top == 2 else np.dtype(np.int64)
    elif min(categories) < top:
        target = np.result_type(*[a.dtype for a, c in zip(arrays, categories) if c == top])
    else:
        return out
    low = _category(target)
    return [v.astype(target) if hasattr(v, "dtype") and _category(v.dtype) < low else v for v in out]


def as_float(x):
    """``x`` (an array or a Tensor) in the default float dtype unless it is floating already (or a
    Python number): the input of a float op. An integer tensor never requires grad, so the cast
    loses nothing."""
    dtype = getattr(x, "dtype", None)
    return x if dtype is None or backend.is_floating(dtype) else x.astype(backend.DEFAULT_FLOAT)


def saved_like(z, *operands):
    """``operands`` as arrays for a backward rule: a Python number becomes an array of the result
    ``z``'s dtype (backward arithmetic between two Python numbers would fall to float32 and lose
    digits)."""
    xp = backend.array_module(z)
    return tuple(v if backend.is_array(v) else xp.asarray(v, z.dtype) for v in operands)
