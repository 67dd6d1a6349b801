"""DLPack and the CUDA array interface: zero-copy both ways with NumPy, PyTorch and CuPy, checked
by writing through one side and reading the other; the refusals name what cannot be shared."""
from __future__ import annotations

import numpy as np
import pytest
from optional import need

import cugrad


@pytest.fixture
def torch():
    return need("torch", "torch (the CPU wheel)")


DTYPES = ["float32", "float64", "float16", "int64", "int32", "int8", "uint8", "bool"]


def _values(shape, dtype):
    a = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape) - 3
    return (a % 2 == 0) if dtype == "bool" else a.astype(dtype)


# --------------------------------------------------------------------------- CPU

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 3), (), (0, 4), (5,)])
def test_numpy_reads_and_writes_a_cugrad_tensor(dtype, shape):
    t = cugrad.tensor(_values(shape, dtype))
    a = np.from_dlpack(t)
    assert a.dtype == t.dtype and a.shape == t.shape
    np.testing.assert_array_equal(a, t.numpy())
    if a.size:
        a.reshape(-1)[0] = 1
        assert t.numpy().reshape(-1)[0] == 1          # the write went through cugrad's memory
        t.data.reshape(-1)[-1] = 0
        assert a.reshape(-1)[-1] == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_and_cugrad_share_memory_both_ways(dtype, torch):
    t = cugrad.tensor(_values((3, 4), dtype))
    pt = torch.from_dlpack(t)
    assert str(pt.dtype) == f"torch.{dtype}" and tuple(pt.shape) == (3, 4)
    np.testing.assert_array_equal(pt.numpy(), t.numpy())
    pt[1, 2] = 1
    assert t.numpy()[1, 2] == 1

    source = torch.from_numpy(_values((4, 2), dtype))
    back = cugrad.from_dlpack(source)
    assert back.dtype == np.dtype(dtype) and back.shape == (4, 2) and back.device == "cpu"
    assert not back.requires_grad
    source[3, 1] = 0
    assert back.numpy()[3, 1] == 0
    back[0, 0] = 1
    assert source[0, 0].item() == 1


def test_from_dlpack_of_numpy_shares_memory():
    a = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    t = cugrad.from_dlpack(a)
    assert np.shares_memory(t.data, a)
    a[2, 3] = 7.5
    assert t[2, 3].item() == 7.5
    np.testing.assert_array_equal((t * 2).numpy(), a * 2)   # an ordinary tensor from here on


def test_non_contiguous_views_are_shared_with_their_strides(torch):
    base = torch.arange(24, dtype=torch.float64).reshape(4, 6)
    view = base.t()[1:5:2]                               # transposed and stepped
    t = cugrad.from_dlpack(view)
    np.testing.assert_array_equal(t.numpy(), view.numpy())
    view[0, 0] = -1
    assert t.numpy()[0, 0] == -1

    c = cugrad.tensor(np.arange(20, dtype=np.float32).reshape(4, 5)).T
    pt = torch.from_dlpack(c)
    np.testing.assert_array_equal(pt.numpy(), c.numpy())
    pt[4, 3] = 100
    assert c.numpy()[4, 3] == 100


def test_round_trip_through_torch_keeps_the_same_memory(torch):
    t = cugrad.tensor([[1.0, 2.0], [3.0, 4.0]])
    again = cugrad.from_dlpack(torch.from_dlpack(t))
    assert np.shares_memory(again.data, t.data)
    assert cugrad.from_dlpack(t).data.__array_interface__["data"][0] == t.data.__array_interface__["data"][0]


def test_dlpack_device_of_a_cpu_tensor(torch):
    t = cugrad.zeros(3)
    assert tuple(t.__dlpack_device__()) == (1, 0)
    assert tuple(t.__dlpack_device__()) == tuple(torch.zeros(1).__dlpack_device__())


@pytest.mark.parametrize("make", [lambda: cugrad.ones(3, requires_grad=True),
                                  lambda: cugrad.ones(3, requires_grad=True) * 2], ids=["leaf", "op-output"])
def test_tensor_that_requires_grad_is_refused_like_pytorch(make, torch):
    t = make()
    with pytest.raises(BufferError, match=r"__dlpack__: can't export tensors that require gradient, use tensor.detach\(\)"):
        np.from_dlpack(t)
    with pytest.raises(BufferError, match="require gradient"):
        torch.from_dlpack(t)
    shared = torch.from_dlpack(t.detach())
    np.testing.assert_array_equal(shared.numpy(), t.detach().numpy())


def test_bfloat16_on_the_cpu_is_refused_both_ways(torch):
    pytest.importorskip("ml_dtypes")
    t = cugrad.ones(2, dtype="bfloat16")
    with pytest.raises(BufferError, match=r"bfloat16 tensor on the CPU cannot be shared.*\.float\(\)"):
        torch.from_dlpack(t)
    with pytest.raises(BufferError, match=r"from_dlpack: cannot share the Tensor \(torch.bfloat16\).*no bfloat16"):
        cugrad.from_dlpack(torch.ones(2, dtype=torch.bfloat16))
    shared = cugrad.from_dlpack(torch.ones(2, dtype=torch.bfloat16).float())
    np.testing.assert_array_equal(shared.numpy(), [1, 1])


def test_objects_without_the_protocol_and_unsupported_dtypes_are_refused():
    with pytest.raises(TypeError, match="from_dlpack: a list has no __dlpack__"):
        cugrad.from_dlpack([1.0, 2.0])
    with pytest.raises(TypeError, match="from_dlpack: the ndarray has dtype complex64"):
        cugrad.from_dlpack(np.zeros(2, np.complex64))


def test_memory_cugrad_cannot_hold_is_refused_by_device_name():
    class OnMetal:
        def __dlpack_device__(self):
            return (8, 0)

        def __dlpack__(self, **kwargs):
            raise AssertionError("must not be asked for a capsule")

    with pytest.raises(BufferError, match="in Metal memory; cugrad shares only CPU and CUDA"):
        cugrad.from_dlpack(OnMetal())


def test_cuda_memory_without_cuda_is_a_clear_error():
    if cugrad.cuda.is_available():
        pytest.skip("a GPU is visible")

    class OnGPU:
        def __dlpack_device__(self):
            return (2, 0)

        def __dlpack__(self, **kwargs):
            raise AssertionError("must not be asked for a capsule")

    with pytest.raises(BufferError, match=r"in CUDA memory \(GPU 0\), but CUDA is not available"):
        cugrad.from_dlpack(OnGPU())


def test_cpu_tensor_has_no_cuda_array_interface():
    t = cugrad.zeros(2)
    assert not hasattr(t, "__cuda_array_interface__")
    with pytest.raises(AttributeError, match="on the CPU has no __cuda_array_interface__"):
        t.__cuda_array_interface__


# --------------------------------------------------------------------------- GPU
# (real CuPy, or in CI the CuPy stand-in, whose DLPack and CUDA array interface follow CuPy 14.2's rules)

@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES + ["bfloat16"])
def test_cupy_and_cugrad_share_gpu_memory_both_ways(dtype, cp):
    if dtype == "bfloat16":
        pytest.importorskip("ml_dtypes")
    t = cugrad.tensor(_values((3, 4), "float32"), device="cuda").to(dtype=dtype)
    c = cp.from_dlpack(t)
    assert c.data.ptr == t.data.data.ptr and c.dtype == t.dtype
    assert tuple(t.__dlpack_device__()) == (2, t.device.index)
    c[1, 2] = 1
    assert float(t.numpy()[1, 2]) == 1

    source = cp.arange(8, dtype=np.float32).reshape(2, 4)
    back = cugrad.from_dlpack(source)
    assert back.device == "cuda:0" and back.data.data.ptr == source.data.ptr
    source[1, 3] = -5
    assert back.numpy()[1, 3] == -5


@pytest.mark.gpu
def test_cuda_array_interface_is_cupys_and_shares_memory(cp):
    t = cugrad.arange(6, dtype="float32").to("cuda")
    cai = t.__cuda_array_interface__
    assert cai["data"][0] == t.data.data.ptr and cai["shape"] == (6,) and cai["typestr"] == "<f4"
    view = cp.asarray(_CAIHolder(cai))          # a consumer that knows only the interface
    view[0] = 42
    assert t.numpy()[0] == 42
    with pytest.raises(BufferError, match="require gradient"):
        cugrad.ones(2, device="cuda", requires_grad=True).__cuda_array_interface__


class _CAIHolder:
    def __init__(self, cai):
        self.__cuda_array_interface__ = cai


@pytest.mark.gpu
def test_consumer_stream_waits_for_the_producers_work(cp):
    """The DLPack stream rule: a consumer reading on its own stream sees the producer's queued work."""
    producer, consumer = cp.cuda.Stream(non_blocking=True), cp.cuda.Stream(non_blocking=True)
    with producer:
        x = cugrad.ones(1 << 24, device="cuda")
        for _ in range(20):                       # keep the producer busy
            x = x * 1.0 + 1.0
        expected = 21.0
        with consumer:
            got = cp.from_dlpack(x).sum()          # passes consumer's stream to __dlpack__
            consumer.synchronize()
    assert float(got) == expected * (1 << 24)


@pytest.mark.gpu
def test_torch_reads_a_gpu_tensor(torch, cp):
    if not torch.cuda.is_available():
        pytest.skip("this PyTorch has no CUDA")
    t = cugrad.tensor([[1.0, 2.0]], device="cuda")
    pt = torch.from_dlpack(t)
    assert pt.is_cuda and pt.data_ptr() == t.data.data.ptr
    pt.mul_(3)
    torch.cuda.synchronize()
    np.testing.assert_array_equal(t.numpy(), [[3.0, 6.0]])
    back = cugrad.from_dlpack(torch.full((2,), 7.0, device="cuda"))
    assert back.device.type == "cuda" and back.numpy().tolist() == [7.0, 7.0]
