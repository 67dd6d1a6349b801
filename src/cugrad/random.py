"""Seeded random streams: NumPy's PCG64 on the CPU; on GPUs a counter-based hash whose whole state
is (seed, offset), so it can be saved, restored and replayed exactly (checkpoint recompute, resume)."""
from __future__ import annotations

import math

import numpy as np

from . import backend, kernels

_cpu = np.random.default_rng()
_gpu = {"seed": int(np.random.SeedSequence().generate_state(1)[0]), "offset": 0}


def manual_seed(seed: int) -> None:
    """Seed every device's random stream (like torch.manual_seed)."""
    global _cpu
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed expects an integer, got {type(seed).__name__}")
    _cpu = np.random.default_rng(int(seed))
    _gpu.update(seed=int(seed), offset=0)


def get_rng_state() -> dict:
    """A snapshot of every random stream as plain JSON-able data."""
    return {"cpu": _cpu.bit_generator.state, "cuda": dict(_gpu)}


def set_rng_state(state: dict) -> None:
    """Restore a snapshot taken by get_rng_state()."""
    global _cpu
    try:
        bit_generator = np.random.PCG64()
        bit_generator.state = state["cpu"]
        seed, offset = int(state["cuda"]["seed"]), int(state["cuda"]["offset"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"set_rng_state: not a state from get_rng_state() ({exc})") from None
    _cpu = np.random.Generator(bit_generator)
    _gpu.update(seed=seed, offset=offset)


def _draw(kind, shape, dtype, device):
    dtype = backend.resolve_dtype(dtype)
    if not backend.is_floating(dtype):
        raise TypeError(f"random {kind} numbers need a floating dtype, got {dtype.name}")
    device = backend.Device(device)
    if device.type == "cpu":
        native = dtype if dtype in (np.float32, np.float64) else np.dtype(np.float32)
        out = _cpu.random(shape, native) if kind == "uniform" else _cpu.standard_normal(shape, native)
        return out.astype(dtype, copy=False)
    cp = backend.cupy()
    with cp.cuda.Device(device.index):
        draw = kernels.uniform if kind == "uniform" else kernels.normal
        out = draw(_gpu["seed"], _gpu["offset"], shape, dtype, xp=cp)
    _gpu["offset"] += kernels.counters_used(math.prod(shape), kind)
    return out


def uniform(shape, dtype="float32", device="cpu"):
    """An array of numbers in [0, 1) on ``device``."""
    return _draw("uniform", tuple(shape), dtype, device)


def normal(shape, dtype="float32", device="cpu"):
    """An array of standard-normal numbers on ``device``."""
    return _draw("normal", tuple(shape), dtype, device)


def integers(low, high, shape, device="cpu"):
    """An int64 array of integers in [low, high), drawn on the CPU stream."""
    return backend.to_device(_cpu.integers(low, high, size=shape, dtype=np.int64), backend.Device(device))


def permutation(n: int):
    """A random permutation of range(n) from the CPU stream (for shuffling data)."""
    return _cpu.permutation(n)


def fork_for_rank(rank: int) -> None:
    """Give this process streams of its own, derived from the current ones and ``rank``: ranks
    seeded alike (so that they built the same weights) then draw different dropout masks, and the
    job as a whole is still reproducible from the one seed."""
    base = int(_cpu.integers(0, 1 << 62))
    manual_seed(int(np.random.SeedSequence([base, int(rank)]).generate_state(1, np.uint64)[0] >> 2))
