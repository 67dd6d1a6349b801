"""Tensor factories: zeros, ones, full, arange, rand, randn and their ``*_like`` forms."""
from __future__ import annotations

import numpy as np

from . import backend, random
from .tensor import Tensor


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for n in shape:
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"a shape holds non-negative integers, got {shape}")
    return tuple(int(n) for n in shape)


def _make(array, requires_grad):
    t = Tensor.from_array(array)
    t.requires_grad = requires_grad
    return t


def full(shape, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape = _shape((shape,) if isinstance(shape, (int, np.integer)) else (shape,))
    dtype = backend.resolve_dtype(dtype) if dtype is not None else backend.DEFAULT_FLOAT
    device = backend.get_device(device)
    with backend.device_context(device):  # cupy allocates on the current GPU, not on `device`
        array = backend.module_for(device).full(shape, fill_value, dtype)
    return _make(array, requires_grad)


def zeros(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    return full(_shape(shape), 0, dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    return full(_shape(shape), 1, dtype, device, requires_grad)


def arange(start, stop=None, step=1, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Like numpy.arange; int64 for integer arguments, float32 otherwise (PyTorch's rule)."""
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        integral = all(isinstance(v, (int, np.integer)) for v in (start, stop, step))
        dtype = np.int64 if integral else backend.DEFAULT_FLOAT
    device = backend.get_device(device)
    with backend.device_context(device):
        array = backend.module_for(device).arange(start, stop, step, dtype=backend.resolve_dtype(dtype))
    return _make(array, requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform numbers in [0, 1) from cugrad's seeded stream."""
    device = backend.get_device(device)
    return _make(random.uniform(_shape(shape), dtype or "float32", device), requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard-normal numbers from cugrad's seeded stream."""
    device = backend.get_device(device)
    return _make(random.normal(_shape(shape), dtype or "float32", device), requires_grad)


def _like(factory, t, dtype, device, requires_grad, *args):
    return factory(t.shape, *args, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like(zeros, t, dtype, device, requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like(ones, t, dtype, device, requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def rand_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like(rand, t, dtype, device, requires_grad)


def randn_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like(randn, t, dtype, device, requires_grad)
