"""Simulated device memory: pools with CuPy's accounting, allocators, MemoryPointer.

Bytes are counted exactly as cupy/cuda/memory.pyx counts them (sizes rounded up to 512 bytes,
``_round_size``; a zero-byte request takes no block, ``SingleDeviceMemoryPool._malloc``; a freed
block stays in the pool until ``free_all_blocks``). Addresses are fake: the values live in NumPy
arrays owned by the stand-in's ndarray, so address reuse (a graph writing freed memory) is not
modelled. Each live allocation's bytes are registered under its address, so a raw device pointer
(a cuBLAS operand, a ``__cuda_array_interface__``) resolves to them.
"""
from __future__ import annotations

import bisect
import contextlib
import threading
import weakref

from . import runtime

ALLOCATION_UNIT_SIZE = 512
_next_address = [0x7000_0000_0000]


class OutOfMemoryError(MemoryError):
    pass


def _round_size(size):
    return -(-size // ALLOCATION_UNIT_SIZE) * ALLOCATION_UNIT_SIZE


def _new_address(size):
    """The start of a fresh range of ``size`` fake bytes, 512-aligned as CuPy's blocks are: ranges
    never overlap (a pointer into an array's bytes names that array alone) and are never reused."""
    ptr = _next_address[0]
    _next_address[0] += _round_size(size)
    return ptr


class BaseMemory:
    size = 0
    ptr = 0
    device_id = 0

    @property
    def device(self):
        return runtime.Device(self.device_id)


class Memory(BaseMemory):
    """A raw allocation (cudaMalloc), used when the allocator is set to None."""

    def __init__(self, size):
        self.size, self.device_id = size, runtime.getDevice()
        if size:
            self.ptr = _new_address(size)
            _raw[self.device_id] += size

    def __del__(self):
        if self.size:
            _raw[self.device_id] -= self.size


_raw = [0] * runtime.N_DEVICES      # bytes of raw (unpooled) allocations per device
_all_pools = weakref.WeakSet()       # every live pool, for memGetInfo
_live = {}     # address -> (the allocation's bytes as a flat uint8 NumPy view, a weak reference to its MemoryPointer)


def register(memptr, flat_bytes):
    """Make ``memptr``'s allocation (holding ``flat_bytes``) resolvable by address while it lives."""
    _live[memptr.ptr] = flat_bytes, weakref.ref(memptr)
    weakref.finalize(memptr, _live.pop, memptr.ptr, None)


def resolve(ptr, nbytes, what):
    """(the allocation's bytes, the byte offset of ``ptr`` in them, its MemoryPointer) for ``nbytes``
    read or written from ``ptr``; refused where no live allocation holds them all."""
    found = _live.get(ptr)
    candidates = [(ptr, found)] if found is not None else list(_live.items())
    for base, (buf, memptr) in candidates:
        if base <= ptr < base + buf.size:
            if ptr - base + nbytes > buf.size:
                raise IndexError(f"stand-in: {what} at {ptr:#x} needs {nbytes} bytes, past the end of its "
                                 f"allocation ({buf.size} bytes at {base:#x})")
            return buf, ptr - base, memptr()
    raise ValueError(f"stand-in: {what} pointer {ptr:#x} is not in any live device allocation")


class PooledMemory(BaseMemory):
    def __init__(self, pool, size, ptr):
        self.pool, self.size, self.ptr, self.device_id = pool, size, ptr, pool.device_id

    def __del__(self):
        self.pool._free(self.size)


class PythonFunctionAllocatorMemory(BaseMemory):
    """memory.pyx PythonFunctionAllocatorMemory: malloc_func(size, device_id) -> ptr on creation,
    free_func(ptr, device_id) when the memory dies."""

    def __init__(self, size, malloc_func, free_func, device_id):
        self._free_func, self.device_id, self.size = free_func, device_id, size
        self.ptr = malloc_func(size, device_id) if size > 0 else 0

    def __del__(self):
        if self.ptr:
            self._free_func(self.ptr, self.device_id)


class MemoryPointer:
    """memory.pyx MemoryPointer: ``mem``'s pointer plus ``offset`` bytes (none into a zero-byte one)."""

    def __init__(self, mem, offset):
        if not mem.ptr and offset:
            raise AssertionError("memory.pyx MemoryPointer._init: assert mem.ptr != 0 or offset == 0")
        self.mem, self.ptr = mem, mem.ptr + offset
        self.device_id = mem.device_id

    def __add__(self, offset):
        """memory.pyx MemoryPointer.__add__: the same allocation, ``offset`` bytes further."""
        return MemoryPointer(self.mem, self.ptr - self.mem.ptr + offset)

    def __sub__(self, offset):
        return self + -offset

    @property
    def device(self):
        return runtime.Device(self.device_id)

    def __int__(self):
        return self.ptr


class _DevicePool:
    """memory.pyx SingleDeviceMemoryPool, as far as its byte counts go: best-fit reuse of freed
    blocks (split when larger), new blocks counted in total_bytes."""

    def __init__(self, device_id):
        self.device_id = device_id
        self.used = 0
        self.free_blocks = []       # sizes of cached free blocks, sorted
        self.cached = 0             # their sum
        self.limit = 0

    def malloc(self, size):
        if size == 0:
            return MemoryPointer(Memory(0), 0)
        size = _round_size(size)
        i = bisect.bisect_left(self.free_blocks, size)
        if i < len(self.free_blocks):
            best = self.free_blocks.pop(i)
            self.cached -= best
            if best > size:
                bisect.insort(self.free_blocks, best - size)
                self.cached += best - size
        else:
            if runtime.TOTAL_MEMORY - bytes_held(self.device_id) < size or (self.limit and self.total() + size > self.limit):
                raise OutOfMemoryError(f"Out of memory allocating {size:,} bytes (allocated so far: "
                                       f"{self.total():,} bytes).")
        self.used += size
        return MemoryPointer(PooledMemory(self, size, _new_address(size)), 0)

    def _free(self, size):
        self.used -= size
        self.cached += size
        bisect.insort(self.free_blocks, size)

    def total(self):
        return self.used + self.cached


class MemoryPool:
    """cupy.cuda.MemoryPool: one pool per device; every count is the current device's
    (memory.pyx MemoryPool.device_pool)."""

    def __init__(self, allocator=None):
        if allocator is not None:
            raise NotImplementedError("cugrad stand-in: MemoryPool(allocator) is not simulated")
        self._pools = [_DevicePool(i) for i in range(runtime.N_DEVICES)]
        _all_pools.add(self)

    def device_pool(self):
        return self._pools[runtime.getDevice()]

    def malloc(self, size):
        return self.device_pool().malloc(size)

    def used_bytes(self):
        return self.device_pool().used

    def total_bytes(self):
        return self.device_pool().total()

    def free_bytes(self):
        return self.device_pool().cached

    def n_free_blocks(self):
        return len(self.device_pool().free_blocks)

    def free_all_blocks(self, stream=None):
        pool = self.device_pool()
        pool.free_blocks.clear()
        pool.cached = 0

    def set_limit(self, size=None, fraction=None):
        self.device_pool().limit = int(size or 0)

    def get_limit(self):
        return self.device_pool().limit




def bytes_held(device):
    """What every pool and raw allocation holds on ``device`` (for memGetInfo)."""
    return _raw[device] + sum(p._pools[device].total() for p in _all_pools)


class PythonFunctionAllocator:
    def __init__(self, malloc_func, free_func):
        self._malloc_func, self._free_func = malloc_func, free_func

    def malloc(self, size):
        return MemoryPointer(PythonFunctionAllocatorMemory(size, self._malloc_func, self._free_func,
                                                           runtime.getDevice()), 0)


_default_pool = MemoryPool()
_default_pinned = None


def get_default_memory_pool():
    return _default_pool


class _PinnedPool:
    def used_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


def get_default_pinned_memory_pool():
    global _default_pinned
    if _default_pinned is None:
        _default_pinned = _PinnedPool()
    return _default_pinned


def _malloc(size):
    return MemoryPointer(Memory(size), 0)


_current_allocator = _default_pool.malloc
_thread_local = threading.local()


def set_allocator(allocator=None):
    """memory.pyx set_allocator: refused inside using_allocator."""
    global _current_allocator
    if allocator is None:
        allocator = _malloc
    if getattr(_thread_local, "allocator", None) is not None:
        raise ValueError("Can't change the global allocator inside `using_allocator` context manager")
    _current_allocator = allocator


def get_allocator():
    allocator = getattr(_thread_local, "allocator", None)
    return _current_allocator if allocator is None else allocator


@contextlib.contextmanager
def using_allocator(allocator=None):
    """memory.pyx using_allocator: a thread-local allocator for the block."""
    previous = getattr(_thread_local, "allocator", None)
    _thread_local.allocator = allocator if allocator is not None else _malloc
    try:
        yield
    finally:
        _thread_local.allocator = previous


def alloc(size):
    """memory.pyx alloc: calls the current allocator (allocation during a capture is allowed, from
    that allocator: CuPy captures in relaxed mode, stream.pyx begin_capture)."""
    return get_allocator()(size)
