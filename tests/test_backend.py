"""The backend: device names, dtypes, array modules, copies, memory statistics."""
import numpy as np
import pytest

import cugrad
from cugrad import backend


@pytest.mark.parametrize("spec, kind, index, text", [
    ("cpu", "cpu", None, "cpu"),
    ("cuda", "cuda", 0, "cuda:0"),
    ("cuda:3", "cuda", 3, "cuda:3"),
])
def test_device_names_parse_and_compare(spec, kind, index, text):
    dev = backend.Device(spec)
    assert (dev.type, dev.index, str(dev)) == (kind, index, text)
    assert dev == spec and dev == backend.Device(dev) and hash(dev) == hash(backend.Device(text))
    assert repr(dev) == f"device('{text}')"


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "cpu:0", "", "cuda:-1"])
def test_unknown_device_names_are_a_value_error(spec):
    with pytest.raises(ValueError, match=f"unknown device {spec!r}"):
        backend.Device(spec)


def test_a_device_must_be_a_string():
    with pytest.raises(TypeError, match="device must be a string"):
        backend.Device(0)


def test_cuda_without_a_gpu_names_the_reason(no_gpu):
    with pytest.raises(RuntimeError, match="device cuda:0 requested but CUDA is not available: "):
        backend.get_device("cuda")
    assert backend.cuda_unavailable_reason()
    assert backend.default_device() == "cpu"


def test_dtypes_resolve_from_names_and_types():
    assert backend.resolve_dtype(float) == np.float32
    assert backend.resolve_dtype(int) == np.int64
    assert backend.resolve_dtype(bool) == np.bool_
    assert backend.resolve_dtype("float64") == np.float64
    assert backend.resolve_dtype(np.float16) == np.float16
    for bad in ("complex64", "float128", "str", object):
        with pytest.raises(TypeError, match="dtype"):
            backend.resolve_dtype(bad)
    assert backend.is_floating(np.float32) and not backend.is_floating(np.int64)


def test_array_module_and_copies_on_the_cpu():
    a = np.arange(3.0)
    assert backend.array_module(a, 2.0) is np
    assert backend.is_array(a) and not backend.is_array([1.0])
    assert backend.device_of(a) == "cpu" and backend.device_of(1.5) == "cpu"
    assert backend.to_device(a, "cpu") is a  # no copy when it is already there
    np.testing.assert_array_equal(backend.to_device([1, 2], "cpu"), [1, 2])
    z = backend.zeros((2, 3), np.float32, backend.CPU)
    assert z.shape == (2, 3) and z.dtype == np.float32 and not z.any()
    assert backend.module_for("cpu") is np


def test_memory_statistics_are_zero_on_the_cpu():
    assert backend.memory_allocated("cpu") == 0
    assert backend.max_memory_allocated("cpu") == 0
    backend.synchronize("cpu")  # a no-op, not an error


@pytest.mark.gpu
def test_gpu_memory_statistics_track_live_arrays_and_their_peak():
    cp = backend.cupy()
    allocator = cp.cuda.get_allocator()
    cugrad.cuda.track_memory()
    try:
        before = cugrad.cuda.memory_allocated()
        cugrad.cuda.reset_peak_memory_stats()
        big = cp.ones(1 << 20, dtype=cp.float32)
        kept = cp.arange(1000, dtype=cp.float32)
        assert cugrad.cuda.memory_allocated() - before >= big.nbytes
        del big
        assert cugrad.cuda.max_memory_allocated() - before >= 4 << 20
        assert cugrad.cuda.memory_allocated() - before < 4 << 20
    finally:
        cugrad.cuda.stop_tracking_memory()
    assert cp.cuda.get_allocator() == allocator
    assert float(kept.sum()) == 999 * 1000 / 2           # allocated while counting, still valid
    del kept                                             # freed through the stopped counter
    with pytest.raises(RuntimeError, match="needs cugrad.cuda.track_memory"):
        cugrad.cuda.max_memory_allocated()


@pytest.mark.gpu
@pytest.mark.parametrize("tracked", [False, True], ids=["pool", "tracker"])
def test_gpu_memory_statistics_count_the_device_they_are_given(tracked):
    """memory_allocated(device) counts that GPU's arrays only, whichever GPU is current (CuPy's
    pool reports the current device's blocks; the tracker counts per device)."""
    if cugrad.cuda.device_count() < 2:
        pytest.skip("needs two GPUs")
    cp = backend.cupy()
    if tracked:
        cugrad.cuda.track_memory()
    try:
        with cp.cuda.Device(0):
            before = [cugrad.cuda.memory_allocated(f"cuda:{i}") for i in (0, 1)]
            for i in (0, 1):
                cugrad.cuda.reset_peak_memory_stats(f"cuda:{i}")
            with cp.cuda.Device(1):
                on_1 = cp.ones(1 << 18, dtype=cp.float32)                     # 1 MiB on cuda:1
            after = [cugrad.cuda.memory_allocated(f"cuda:{i}") for i in (0, 1)]
            assert after[0] == before[0]
            assert after[1] - before[1] == on_1.nbytes
            with cp.cuda.Device(1):
                assert cugrad.cuda.memory_allocated() == after[1]                # None: the current GPU
            if tracked:
                assert cugrad.cuda.max_memory_allocated("cuda:1") == after[1]
                del on_1
                assert cugrad.cuda.memory_allocated("cuda:1") == before[1]
                assert cugrad.cuda.max_memory_allocated("cuda:1") == after[1]
                assert cugrad.cuda.max_memory_allocated("cuda:0") == before[0]      # untouched by cuda:1
    finally:
        cugrad.cuda.stop_tracking_memory()
    with pytest.raises(ValueError, match=r"device cuda:7 requested but only \d GPU\(s\) are visible"):
        cugrad.cuda.memory_allocated("cuda:7")
