"""The CuPy stand-in's rules (tests/fakegpu), one test per rule: each shows the refusal or the
behaviour it mirrors from CuPy 14.2 (the citation is at the rule in tests/fakegpu)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import fakegpu

pytestmark = pytest.mark.skipif(not fakegpu.installed(), reason="the CuPy stand-in is not installed (a real GPU, or CUGRAD_FAKEGPU=0)")


@pytest.fixture
def cp():
    import cupy
    assert fakegpu.installed()
    return cupy


@pytest.fixture
def stream(cp):
    """A non-blocking stream made current (capture needs one)."""
    s = cp.cuda.Stream(non_blocking=True)
    with s:
        yield s


# --------------------------------------------------------------------------- not NumPy arrays

def test_np_asarray_of_a_device_array_is_refused(cp):
    a = cp.arange(3)
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
        np.asarray(a)
    np.testing.assert_array_equal(a.get(), [0, 1, 2])
    np.testing.assert_array_equal(cp.asnumpy(a), [0, 1, 2])


@pytest.mark.parametrize("order", ["gpu_first", "host_first", "function"])
def test_a_host_array_in_a_gpu_ufunc_is_refused(cp, order):
    a, h = cp.ones(3, np.float32), np.ones(3, np.float32)
    with pytest.raises(TypeError, match="Unsupported type <class 'numpy.ndarray'>"):
        if order == "gpu_first":
            a + h
        elif order == "host_first":
            h * a
        else:
            cp.maximum(a, h)
    np.testing.assert_array_equal((a + 2.0 + np.float32(1)).get(), [4, 4, 4])   # scalars are fine


def test_slice_assignment_of_a_host_array_is_refused_but_scalars_fill(cp):
    a = cp.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray cannot be used for fill"):
        a[...] = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray cannot be used for fill"):
        a[0] = [1.0, 2.0, 3.0]
    a[1, 1:] = 5
    a[0] = np.float32(2)
    np.testing.assert_array_equal(a.get(), [[2, 2, 2], [0, 5, 5]])


def test_integer_array_index_from_the_host_is_copied_to_the_device(cp):
    a = cp.zeros(4, np.float32)
    a[np.array([1, 3])] = np.array([7.0, 9.0])          # _scatter_op_single: core.array(value)
    np.testing.assert_array_equal(a.get(), [0, 7, 0, 9])
    np.testing.assert_array_equal(a[[3, 1]].get(), [9, 7])


def test_numpy_functions_dispatch_to_cupy_or_refuse(cp):
    a = cp.arange(4, dtype=np.float32)
    assert isinstance(np.sum(a), cp.ndarray) and float(np.sum(a)) == 6.0
    with pytest.raises(TypeError):
        np.fft.fft(a)                                   # not implemented: refused, not computed on the host


def test_unimplemented_names_raise_at_once(cp):
    with pytest.raises(AttributeError, match="not implemented by cugrad's CuPy stand-in"):
        cp.fft
    with pytest.raises(AttributeError):
        cp.arange(3).searchsorted


def test_bool_float_and_repr_read_the_device(cp):
    a = cp.full((), 2.5, np.float32)
    assert float(a) == 2.5 and bool(a) and repr(a) == "array(2.5, dtype=float32)"


# --------------------------------------------------------------------------- devices

def test_two_devices_and_the_current_one(cp):
    assert cp.cuda.runtime.getDeviceCount() == 2
    assert cp.cuda.runtime.getDevice() == 0
    with cp.cuda.Device(1):
        assert cp.cuda.runtime.getDevice() == 1
        b = cp.zeros(3)
        with cp.cuda.Device(0):
            assert cp.cuda.Device().id == 0
        assert cp.cuda.runtime.getDevice() == 1
    assert cp.cuda.runtime.getDevice() == 0
    assert b.device.id == 1 and cp.zeros(3).device.id == 0
    try:
        cp.cuda.Device(1).use()
        assert cp.cuda.runtime.getDevice() == 1 and cp.ones(2).device.id == 1
    finally:
        cp.cuda.Device(0).use()
    with pytest.raises(cp.cuda.runtime.CUDARuntimeError, match="invalid device ordinal"):
        cp.cuda.Device(2)


def test_an_op_on_another_devices_array_is_refused(cp):
    with cp.cuda.Device(1):
        b = cp.ones(3, np.float32)
    a = cp.ones(3, np.float32)
    for op in (lambda: a + b, lambda: b * 2, lambda: b.sum(), lambda: b.astype(np.float64), lambda: a @ b):
        with pytest.raises(ValueError, match=r"resides \(1\) is different from the current device \(0\)"):
            op()
    with cp.cuda.Device(1):
        np.testing.assert_array_equal((b * 2).get(), [2, 2, 2])


def test_copies_between_devices_land_on_the_current_one(cp):
    with cp.cuda.Device(1):
        b = cp.arange(3, dtype=np.float32)
    c = b.copy()                                        # core.pyx ndarray.copy: to the current device
    d = cp.asarray(b)                                   # _array_from_cupy_ndarray: copied, not handed back
    assert c.device.id == 0 and d.device.id == 0 and d is not b
    a = cp.zeros(3, np.float32)
    a[...] = b                                          # same layout: a memcpy across devices
    np.testing.assert_array_equal(a.get(), [0, 1, 2])
    with pytest.raises(ValueError, match="different from the current device"):
        cp.zeros((2, 3), np.float32)[...] = b           # broadcast: an elementwise kernel reading GPU 1


# --------------------------------------------------------------------------- kernels

KERNEL = r"""
template <typename T>
__global__ void axpy(T* y, const T* x, T a, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] += a * x[i];
}
"""
NAMES = ("axpy<float>", "axpy<double>")


@pytest.fixture
def axpy(cp):
    return cp.RawModule(code=KERNEL, options=("-std=c++17",), name_expressions=NAMES).get_function("axpy<float>")


def test_raw_module_compiles_with_nvrtc_and_runs_on_the_emulator(cp, axpy):
    y, x = cp.ones(5, np.float32), cp.arange(5, dtype=np.float32)
    axpy((1,), (32,), (y, x, np.float32(2), np.int32(5)))
    np.testing.assert_array_equal(y.get(), 1 + 2 * np.arange(5))


def test_raw_module_refuses_what_cupy_refuses(cp, axpy):
    with pytest.raises(TypeError, match="options"):
        cp.RawModule(code=KERNEL, options=["-std=c++17"], name_expressions=NAMES)
    with pytest.raises(cp.cuda.compiler.CompileException):
        cp.RawModule(code="__global__ void k() { undeclared(); }", options=())
    with pytest.raises(fakegpu.runtime.CUDADriverError, match="named symbol not found"):
        cp.RawModule(code=KERNEL, options=(), name_expressions=NAMES).get_function("axpy<int>")
    y, x = cp.ones(5, np.float32), cp.ones(5, np.float32)
    with pytest.raises(TypeError, match="'grid' has incorrect type"):
        axpy([1], (32,), (y, x, np.float32(2), np.int32(5)))
    with pytest.raises(TypeError, match="Only numpy.ndarrays of size one"):
        axpy((1,), (32,), (y, np.ones(5, np.float32), np.float32(2), np.int32(5)))
    with pytest.raises(TypeError, match="Unsupported type"):
        axpy((1,), (32,), (y, x, "2", np.int32(5)))


def test_kernel_arguments_are_passed_at_cupys_sizes(cp, axpy):
    """A Python int is an int64 and a Python float a float64 (_scalar.pyx): wrong for int / float
    parameters, and the stand-in says so instead of reading half of them."""
    y, x = cp.ones(5, np.float32), cp.ones(5, np.float32)
    with pytest.raises(TypeError, match="argument 3 is int64 \\(8 bytes\\), parameter is 4 bytes"):
        axpy((1,), (32,), (y, x, np.float32(2), 5))
    with pytest.raises(TypeError, match="argument 2 is float64"):
        axpy((1,), (32,), (y, x, 2.0, np.int32(5)))
    with pytest.raises(TypeError, match="float64 array"):
        axpy((1,), (32,), (y, cp.ones(5), np.float32(2), np.int32(5)))
    np.testing.assert_array_equal(y.get(), np.ones(5))       # nothing ran


def test_a_kernel_given_another_devices_array_fails(cp, axpy):
    with cp.cuda.Device(1):
        x = cp.ones(5, np.float32)
    y = cp.ones(5, np.float32)
    with pytest.raises(fakegpu.runtime.CUDADriverError, match="ILLEGAL_ADDRESS"):
        axpy((1,), (32,), (y, x, np.float32(2), np.int32(5)))


# --------------------------------------------------------------------------- cuBLAS

@pytest.fixture
def compute_types():
    from fakegpu import linalg
    linalg._reset_compute_types()
    yield linalg
    linalg._reset_compute_types()


def test_tf32_rounds_float32_operands_to_ten_mantissa_bits(cp, compute_types):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((8, 16)).astype(np.float32), rng.standard_normal((16, 4)).astype(np.float32)
    exact = (cp.asarray(a) @ cp.asarray(b)).get()
    np.testing.assert_allclose(exact, a @ b, rtol=1e-6)
    compute_types.set_compute_type(np.float32, compute_types.COMPUTE_TYPE_TF32)
    tf32 = (cp.asarray(a) @ cp.asarray(b)).get()
    rounded = compute_types.round_to_tf32
    np.testing.assert_allclose(tf32, rounded(a) @ rounded(b), rtol=1e-6)
    assert np.abs(tf32 - a @ b).max() > 1e-4                  # TF32 is measurably coarser
    assert rounded(np.float32(1 + 2 ** -12)) == 1.0 and rounded(np.float32(1 + 2 ** -11)) == 1 + 2 ** -10  # ties away
    batched = (cp.asarray(a[None]) @ cp.asarray(b[None])).get()[0]
    np.testing.assert_allclose(batched, a @ b, rtol=1e-6)     # batched GEMMs take no compute type


def test_cupy_tf32_is_read_once_as_an_integer(cp, compute_types, monkeypatch):
    a = cp.ones((2, 2), np.float32)
    monkeypatch.setenv("CUPY_TF32", "yes")
    with pytest.raises(ValueError):
        a @ a
    monkeypatch.setenv("CUPY_TF32", "1")
    a @ a
    assert compute_types.get_compute_type(np.float32) == compute_types.COMPUTE_TYPE_TF32
    monkeypatch.setenv("CUPY_TF32", "0")                       # cached: a later change is not seen
    assert compute_types.get_compute_type(np.float32) == compute_types.COMPUTE_TYPE_TF32


def test_matmul_refusals(cp):
    pytest.importorskip("ml_dtypes")
    import ml_dtypes
    with pytest.raises(ValueError, match="Scalar operands are not allowed"):
        cp.matmul(cp.ones(()), cp.ones(3))
    bf = cp.ones((2, 3, 3), ml_dtypes.bfloat16)
    with pytest.raises(TypeError, match="bfloat16"):
        bf @ bf
    half = cp.ones((3, 3), np.float16) @ cp.ones((3, 3), np.float16)
    assert half.dtype == np.float16 and float(half[0, 0]) == 3.0


# --------------------------------------------------------------------------- streams and capture

def test_capture_records_and_replay_runs(cp, stream):
    a = cp.arange(3, dtype=np.float32)
    stream.begin_capture()
    b = a * 2                                           # allocation during capture is allowed
    b += 1
    g = stream.end_capture()
    assert np.isnan(b.get()).all()                      # nothing ran during the capture
    g.launch()
    np.testing.assert_array_equal(b.get(), [1, 3, 5])
    a[...] = 10
    g.launch()                                          # replays read the inputs' current values
    np.testing.assert_array_equal(b.get(), [21, 21, 21])


def test_capture_refuses_host_transfers(cp, stream):
    a = cp.ones(3, np.float32)
    stream.begin_capture()
    with pytest.raises(RuntimeError, match="D2H transfers are disallowed"):
        a.get()
    with pytest.raises(RuntimeError, match="D2H transfers are disallowed"):
        float(a.sum())
    with pytest.raises(RuntimeError, match="H2D transfers are disallowed"):
        cp.asarray(np.ones(3))
    assert stream.is_capturing()                        # refused before CUDA saw it: still capturing
    stream.end_capture()


def test_synchronize_invalidates_the_capture(cp, stream):
    stream.begin_capture()
    with pytest.raises(cp.cuda.runtime.CUDARuntimeError, match="not permitted when stream is capturing"):
        stream.synchronize()
    with pytest.raises(RuntimeError, match="invalidated the capture sequence"):
        stream.is_capturing()
    with pytest.raises(cp.cuda.runtime.CUDARuntimeError, match="Invalidated"):
        stream.end_capture()
    assert not stream.is_capturing()


def test_cublas_inside_a_capture_is_refused(cp, stream):
    a = cp.ones((2, 2), np.float32)
    stream.begin_capture()
    with pytest.raises(NotImplementedError, match="calling cuBLAS API during stream capture is currently unsupported"):
        a @ a
    cp.ones((2, 2), np.int32) @ cp.ones((2, 2), np.int32)   # integer products use CuPy's own kernel
    stream.end_capture()


def test_the_legacy_stream_cannot_capture(cp):
    with pytest.raises(RuntimeError, match="cannot capture on the default"):
        cp.cuda.Stream.null.begin_capture()


def test_kernel_launches_are_captured(cp, stream, axpy):
    y, x = cp.ones(5, np.float32), cp.ones(5, np.float32)
    stream.begin_capture()
    axpy((1,), (32,), (y, x, np.float32(2), np.int32(5)))
    g = stream.end_capture()
    np.testing.assert_array_equal(y.get(), np.ones(5))
    g.launch()
    g.launch()
    np.testing.assert_array_equal(y.get(), np.full(5, 5.0))


# --------------------------------------------------------------------------- memory

def test_pool_counts_follow_live_arrays(cp):
    pool = cp.get_default_memory_pool()
    pool.free_all_blocks()
    base = pool.used_bytes()
    a = cp.empty(1000, np.float32)                      # 4000 bytes, a 4096-byte block (512-byte units)
    assert pool.used_bytes() - base == 4096
    v = a[10:]                                          # a view takes no memory
    assert pool.used_bytes() - base == 4096
    del a
    assert pool.used_bytes() - base == 4096            # the view keeps the block
    del v
    assert pool.used_bytes() == base and pool.total_bytes() >= base + 4096
    pool.free_all_blocks()
    assert pool.total_bytes() == base
    assert cp.zeros(0).nbytes == 0 and pool.used_bytes() == base
    with cp.cuda.Device(1):
        b = cp.empty(10, np.float32)
        assert pool.used_bytes() >= 512
    assert pool.used_bytes() == base
    free, total = cp.cuda.runtime.memGetInfo()
    assert total == 80 * 1024 ** 3 and free <= total
    del b


def test_a_views_pointer_carries_its_byte_offset(cp):
    """ndarray.data of a view is its base's MemoryPointer plus the offset of its first element, and
    MemoryPointer arithmetic keeps the allocation and device (memory.pyx __add__/__sub__)."""
    a = cp.empty((4, 6), np.float32)
    base = a.data.ptr
    assert a[1:].data.ptr - base == a.strides[0] == 24
    assert a[:, 2:].data.ptr - base == 8
    assert a[2:, 3:][1:, 1:].data.ptr - base == 3 * 24 + 4 * 4    # a view of a view
    assert a[::-1].data.ptr - base == 3 * 24                      # the first element is the last row
    assert a.T.data.ptr == a.reshape(24)[:1].data.ptr == base
    assert a[1:].data.mem is a.data.mem and a[1:].data.device_id == 0
    assert (a.data + 8).ptr == base + 8 and (a[1:].data - 24).ptr == base
    with cp.cuda.Device(1):
        b = cp.empty(3, np.float64)
    assert b[1:].data.ptr - b.data.ptr == 8 and b[1:].data.device_id == 1
    assert cp.empty(0).data.ptr == 0


def test_allocations_never_share_addresses(cp):
    """Each allocation gets its own address range (a pointer names one array's bytes), whichever
    allocator and size."""
    sizes = [4096, 8, 100_000, 1, 512, 3000]
    arrays = [cp.empty(n, np.uint8) for n in sizes]
    with cp.cuda.using_allocator(None):                  # raw allocations (cudaMalloc)
        arrays += [cp.empty(n, np.uint8) for n in sizes]
    spans = sorted((x.data.ptr, x.data.ptr + x.nbytes) for x in arrays)
    assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:]))
    assert all(start % 512 == 0 for start, _ in spans)


# --------------------------------------------------------------------------- sharing

def test_dlpack_shares_memory_once_per_capsule(cp):
    with cp.cuda.Device(1):
        a = cp.asarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert a.__dlpack_device__() == (2, 1)
    b = cp.from_dlpack(a)                                # asks on device 1, then restores device 0
    assert cp.cuda.runtime.getDevice() == 0 and b.device.id == 1 and b.data.ptr == a.data.ptr
    with cp.cuda.Device(1):
        b[1, 2] = -1
    assert a.get()[1, 2] == -1
    assert cp.from_dlpack(a[:, 1:]).data.ptr == a[:, 1:].data.ptr
    capsule = a.__dlpack__()
    cp.from_dlpack(capsule)
    with pytest.raises(ValueError, match="cannot be consumed multiple times"):
        cp.from_dlpack(capsule)
    with pytest.raises(TypeError, match="CPU arrays cannot be directly imported to CuPy"):
        cp.from_dlpack(np.zeros(2))
    with pytest.raises(NotImplementedError, match="does not support device yet"):
        cp.from_dlpack(a, device=(2, 1))
    with pytest.raises(BufferError, match="copy=True only supported for copy to CPU"):
        a.__dlpack__(copy=True)
    with pytest.raises(BufferError, match="unsupported device requested"):
        a.__dlpack__(dl_device=(2, 0))


def test_dlpack_stream_rule(cp, monkeypatch):
    """The consumer names its stream; the producer's current stream records an event for it to wait
    on unless it is that stream (0 is taken as the legacy stream, with a warning; below -1 refused)."""
    recorded = []
    original = cp.cuda.Stream.record
    monkeypatch.setattr(cp.cuda.Stream, "record", lambda self, event=None: recorded.append(self.ptr) or
                        original(self, event))
    a = cp.zeros(3)
    other = cp.cuda.Stream(non_blocking=True)
    a.__dlpack__(stream=other.ptr)
    assert recorded == [0]                               # the legacy stream, current, records
    a.__dlpack__(stream=1)                               # the legacy stream itself: no event
    a.__dlpack__(stream=-1)                              # "no order wanted"
    with other:
        a.__dlpack__(stream=other.ptr)
    assert recorded == [0]
    with pytest.warns(UserWarning, match="Stream 0 is passed"):
        a.__dlpack__(stream=0)
    with pytest.raises(ValueError, match="valid stream for the DLPack protocol is -1, 1, 2"):
        a.__dlpack__(stream=-2)


class _Interface:
    def __init__(self, cai):
        self.__cuda_array_interface__ = cai


def test_cuda_array_interface_both_ways(cp):
    a = cp.asarray(np.arange(15, dtype=np.float32).reshape(5, 3))
    cai = a.__cuda_array_interface__
    assert cai == {"shape": (5, 3), "typestr": "<f4", "descr": [("", "<f4")], "stream": 1, "version": 3,
                   "strides": None, "data": (a.data.ptr, False)}
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        assert a.__cuda_array_interface__["stream"] == stream.ptr
    assert cp.empty((0, 3)).__cuda_array_interface__["data"] == (0, False)
    for view in (a, a[:, 2:3], a[1:, ::2], a[::-1], a.T):
        shared = cp.asarray(_Interface(view.__cuda_array_interface__))
        assert shared.data.ptr == view.data.ptr and shared.strides == view.strides
        np.testing.assert_array_equal(shared.get(), view.get())
    cp.asarray(_Interface(a[2:].__cuda_array_interface__))[0, 0] = 42
    assert a.get()[2, 0] == 42
    with pytest.raises(IndexError, match="reaches past its allocation"):
        cp.asarray(_Interface(dict(cai, shape=(6, 3))))
    with pytest.raises(ValueError, match="not in any live device allocation"):
        cp.asarray(_Interface(dict(cai, data=(0x10, False))))
    with pytest.raises(ValueError, match="big-endian"):
        cp.asarray(_Interface(dict(cai, typestr=">f4")))


def _libnccl_loads():
    from cuda import pathfinder

    try:
        pathfinder.load_nvidia_dynamic_lib("nccl")
    except pathfinder.DynamicLibNotFoundError:
        return False
    return True


@pytest.mark.cuda_libs("nccl")
def test_nccl_binding_where_libnccl_loads(cp):
    """CuPy's own binding for what needs no GPU: the version, unique ids, the codes; a communicator
    needs real GPUs."""
    nccl = cp.cuda.nccl
    assert nccl.available is True
    assert nccl.get_version() >= 21000 and len(bytes(nccl.get_unique_id())) == 128
    assert isinstance(nccl.NCCL_FLOAT32, int)
    with pytest.raises(NotImplementedError, match="no NCCL communicator"):
        nccl.NcclCommunicator(1, nccl.get_unique_id(), 0)


@pytest.mark.skipif(_libnccl_loads(), reason="libnccl is installed: this is the case without it")
def test_nccl_binding_without_libnccl_is_cupys_empty_module(cp):
    """cupy/cuda/nccl.py (CuPy 14.2) where libnccl does not load: ``available = False``, nothing else."""
    nccl = cp.cuda.nccl
    assert nccl.available is False
    for name in ("get_version", "get_unique_id", "NcclCommunicator", "NCCL_FLOAT32"):
        with pytest.raises(AttributeError):
            getattr(nccl, name)


def test_allocators(cp):
    seen = []
    pool = cp.cuda.MemoryPool()

    def malloc(size, device_id):
        mem = pool.malloc(size)
        seen.append(("malloc", size, device_id))
        keep[mem.ptr] = mem
        return mem.ptr

    def free(ptr, device_id):
        seen.append(("free", device_id))
        del keep[ptr]
    keep = {}
    previous = cp.cuda.get_allocator()
    cp.cuda.set_allocator(cp.cuda.memory.PythonFunctionAllocator(malloc, free).malloc)
    try:
        a = cp.empty(100, np.float32)
        assert pool.used_bytes() == 512
        del a
        assert seen == [("malloc", 400, 0), ("free", 0)] and pool.used_bytes() == 0
        other = cp.cuda.MemoryPool()
        with cp.cuda.using_allocator(other.malloc):
            b = cp.empty(10)
            assert other.used_bytes() == 512
            with pytest.raises(ValueError, match="Can't change the global allocator inside"):
                cp.cuda.set_allocator(None)
        del b
    finally:
        cp.cuda.set_allocator(previous)


def test_runtime_records(cp):
    props = cp.cuda.runtime.getDeviceProperties(1)
    assert props["name"].startswith(b"NVIDIA H100") and props["multiProcessorCount"] == 132
    assert props["major"] == 9 and cp.cuda.is_available()


def test_scatter_add_warns_as_cupy_14_does(cp):
    import cupyx
    a = cp.zeros(3, np.float32)
    with pytest.warns(DeprecationWarning, match="cupy.add.at"):
        cupyx.scatter_add(a, cp.asarray(np.array([0, 0, 2])), cp.ones(3, np.float32))
    np.testing.assert_array_equal(a.get(), [2, 0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cp.add.at(a, cp.asarray(np.array([1])), cp.ones(1, np.float32))
    np.testing.assert_array_equal(a.get(), [2, 1, 1])
