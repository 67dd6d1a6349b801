"""Tensor factories: zeros, ones, full, empty, eye, arange, linspace, rand, randn, randint and the
``*_like`` forms."""
from __future__ import annotations

import numpy as np

from . import backend, random
from .tensor import Tensor


def _shape(shape, op=None):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for n in shape:
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"{op + ': ' if op else ''}a shape holds non-negative integers, got {shape}")
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


def empty(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of ``shape`` whose values are not to be relied on (PyTorch's empty). It is zeros
    here: a fill costs little next to what is then written into it, and no stale memory leaks out."""
    return full(_shape(shape, "empty"), 0, dtype, device, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """The n × m (n × n without ``m``) matrix with ones on the main diagonal, zeros elsewhere."""
    for name, size in (("n", n), ("m", m)):
        if size is not None and (isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0):
            raise ValueError(f"eye: {name} must be a non-negative integer, got {size!r}")
    rows, cols = int(n), int(n if m is None else m)
    dtype = backend.resolve_dtype(dtype) if dtype is not None else backend.DEFAULT_FLOAT
    device = backend.get_device(device)
    with backend.device_context(device):
        array = backend.module_for(device).eye(rows, cols, dtype=dtype)
    return _make(array, requires_grad)


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


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``steps`` evenly spaced numbers from ``start`` to ``end``, both included (just ``start`` for
    one step), float32 unless ``dtype`` says otherwise. Computed in float64, then cast (an integer
    dtype truncates toward zero)."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative integer, got {steps!r}")
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"linspace: {name} must be a number, got {type(value).__name__}")
    dtype = backend.resolve_dtype(dtype) if dtype is not None else backend.DEFAULT_FLOAT
    device = backend.get_device(device)
    with backend.device_context(device):
        values = backend.module_for(device).linspace(float(start), float(end), int(steps), dtype=np.float64)
        array = values.astype(dtype, copy=False)
    return _make(array, requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform numbers in [0, 1) from cugrad's seeded stream."""
    device = backend.get_device(device)
    return _make(random.uniform(_shape(shape), dtype or "float32", device), requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard-normal numbers from cugrad's seeded stream."""
    device = backend.get_device(device)
    return _make(random.normal(_shape(shape), dtype or "float32", device), requires_grad)


def randint(low, high=None, size=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Integers drawn uniformly from [low, high), int64 unless ``dtype`` says otherwise, from
    cugrad's seeded CPU stream (so manual_seed reproduces them on every device). Like PyTorch,
    ``randint(high, size)`` draws from [0, high)."""
    if size is None and isinstance(high, (tuple, list)):
        low, high, size = 0, low, high
    if high is None or size is None:
        raise TypeError("randint: needs high and size: randint(low, high, size) or randint(high, size)")
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"randint: {name} must be an integer, got {value!r}")
    if low >= high:
        raise ValueError(f"randint: low ({low}) must be below high ({high})")
    shape = _shape((size,) if isinstance(size, (int, np.integer)) else (size,), "randint")
    dtype = backend.resolve_dtype(dtype) if dtype is not None else np.dtype(np.int64)
    device = backend.get_device(device)
    array = random.integers(int(low), int(high), shape, device)
    with backend.device_context(device):
        array = array.astype(dtype, copy=False)
    return _make(array, requires_grad)


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
