"""Dropout: zero each element with probability p and scale the rest by 1/(1 − p)."""
from __future__ import annotations

from .. import random


def dropout(x, p=0.5, training=True):
    """x ⊙ m / (1 − p) with m ~ Bernoulli(1 − p) drawn from cugrad's seeded stream (identity when
    not training or p = 0); the gradient is g ⊙ m / (1 − p)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must lie in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    mask = (random.uniform(x.shape, x.dtype, x.device) >= p).astype(x.dtype)
    mask *= 1.0 / (1.0 - p)  # in x's dtype: no float64 temporary (bool * float is float64)
    return x * mask
