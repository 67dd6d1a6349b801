"""kernels/random.cu: counter-based uniform and normal numbers (a SplitMix64 hash of seed and
counter), with a bit-identical NumPy twin."""
from __future__ import annotations

import math

import numpy as np

from .launch import BLOCK, grid_for
from .loader import driver, on_device


_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix64_int(z: int) -> int:
    z &= _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _mix64(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def counters_used(n: int, kind: str) -> int:
    """How far a draw of n numbers advances the stream offset: n for "uniform", n rounded up to
    even for "normal" (Box-Muller pairs)."""
    return n if kind == "uniform" else n + (n & 1)


def _rng_bits(key, first, count):
    ctr = np.arange(count, dtype=np.uint64)
    ctr += np.uint64(first & _M64)
    ctr *= np.uint64(_GOLDEN)
    ctr += np.uint64(key)
    return _mix64(ctr)


def _np_u01(bits, dtype):
    if dtype == np.float32:
        return (bits >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24)
    return (bits >> np.uint64(11)).astype(np.float64) * (2.0 ** -53)


def _random(kind, seed, offset, shape, dtype, xp):
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    n = math.prod(shape)
    gen = np.float64 if dtype == np.float64 else np.float32       # float16 etc. cast from float32
    key = _mix64_int(int(seed))
    if xp is np and not on_device():
        if kind == "uniform":
            r = _np_u01(_rng_bits(key, offset, n), gen)
        else:
            pairs = -(-n // 2)
            bits = _rng_bits(key, offset, 2 * pairs).reshape(pairs, 2)
            u1 = np.subtract(gen(1), _np_u01(bits[:, 0], gen))
            u2 = _np_u01(bits[:, 1], gen)
            rad = np.sqrt(gen(-2) * np.log(u1))
            ang = gen(2 * np.pi) * u2
            r = np.empty((pairs, 2), gen)
            np.multiply(rad, np.cos(ang), out=r[:, 0])
            np.multiply(rad, np.sin(ang), out=r[:, 1])
            r = r.reshape(-1)[:n]
        return r.reshape(shape).astype(dtype, copy=False)
    d = driver()
    out = d.empty(shape, gen)
    if n:
        name = f"rand_{kind}<{'double' if gen is np.float64 else 'float'}>"
        d.module("random").get_function(name)(
            grid_for(d, n), (BLOCK,), (out, np.int64(n), np.uint64(key), np.uint64(offset & _M64)))
    return out if out.dtype == dtype else out.astype(dtype)


def uniform(seed, offset, shape, dtype=np.float32, xp=np):
    """Numbers in [0, 1): element i is a hash of (seed, offset + i) with 24 (float32) or 53
    (float64) random bits; the NumPy twin is bit-identical. Advance the offset by
    counters_used(n, "uniform") = n. xp (numpy or cupy) picks where the result lives."""
    return _random("uniform", seed, offset, shape, dtype, xp)


def normal(seed, offset, shape, dtype=np.float32, xp=np):
    """Standard normal numbers by Box-Muller on counter pairs (offset + 2k, offset + 2k + 1):
    element 2k takes the cosine, 2k+1 the sine. Advance the offset by counters_used(n, "normal")."""
    return _random("normal", seed, offset, shape, dtype, xp)
