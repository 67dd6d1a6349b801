"""Tensor (src/cugrad/tensor.py) and its factories (src/cugrad/creation.py): construction, dtypes,
conversion, operators, in-place updates, comparisons and indexing."""
from __future__ import annotations

import numpy as np
import pytest

import cugrad


def host(t):
    return t.numpy() if isinstance(t, cugrad.Tensor) else np.asarray(t)


# --------------------------------------------------------------------------- construction and dtypes


def test_tensor_from_python_data_defaults(device):
    f = cugrad.tensor([1.0, 2.5], device=device)
    assert f.dtype == np.float32 and f.shape == (2,) and f.ndim == 1 and f.device == device
    i = cugrad.tensor([1, 2, 3], device=device)
    assert i.dtype == np.int64
    s = cugrad.tensor(3.0, device=device)
    assert s.shape == () and s.dtype == np.float32
    b = cugrad.tensor([True, False], device=device)
    assert b.dtype == np.bool_


def test_tensor_dtype_when_asked(device):
    assert cugrad.tensor([1.0], dtype="float64", device=device).dtype == np.float64
    assert cugrad.tensor([1.0], dtype=np.float64, device=device).dtype == np.float64
    assert cugrad.tensor([1, 2], dtype="float32", device=device).dtype == np.float32
    assert cugrad.tensor([1.5], dtype=float, device=device).dtype == np.float32
    assert cugrad.tensor([1], dtype=int, device=device).dtype == np.int64


def test_tensor_from_numpy_keeps_its_dtype_and_copies(device):
    a = np.array([1.0, 2.0])
    t = cugrad.tensor(a, device=device)
    assert t.dtype == np.float64
    a[0] = 99.0
    assert host(t)[0] == 1.0
    assert cugrad.tensor(np.array([1, 2], dtype=np.int32), device=device).dtype == np.int32


def test_requires_grad_on_integer_tensor_raises(device):
    with pytest.raises(TypeError, match="only floating-point tensors can require grad, this one is int64"):
        cugrad.tensor([1, 2], device=device, requires_grad=True)
    labels = cugrad.tensor([0, 1], device=device)
    with pytest.raises(TypeError, match="int64"):
        labels.requires_grad = True
    with pytest.raises(TypeError, match="bool"):
        cugrad.tensor([True], device=device).requires_grad_()
    with pytest.raises(TypeError, match="int64"):
        cugrad.arange(3, device=device, requires_grad=True)


def test_unknown_dtype_and_device():
    with pytest.raises(TypeError, match=r"unsupported dtype 'complex64'"):
        cugrad.tensor([1.0], dtype="complex64")
    with pytest.raises(TypeError, match=r"unknown dtype 'floaty'"):
        cugrad.tensor([1.0], dtype="floaty")
    with pytest.raises(ValueError, match=r"unknown device 'tpu'"):
        cugrad.tensor([1.0], device="tpu")
    with pytest.raises(ValueError, match=r"unknown device 'cuda:x'"):
        cugrad.zeros(2, device="cuda:x")
    with pytest.raises(TypeError, match="ragged"):
        cugrad.tensor([[1.0], [1.0, 2.0]])


def test_cuda_without_gpu_is_a_clear_error(no_gpu):
    with pytest.raises(RuntimeError, match="device cuda:0 requested but CUDA is not available"):
        cugrad.tensor([1.0], device="cuda")


def test_requires_grad_off_only_on_leaves(device):
    x = cugrad.tensor([1.0], device=device, requires_grad=True)
    y = x * 2.0
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad = False
    x.requires_grad = False
    assert not x.requires_grad and x.is_leaf and not y.is_leaf


# --------------------------------------------------------------------------- factories


def test_factories(device):
    z = cugrad.zeros(2, 3, device=device)
    assert z.shape == (2, 3) and z.dtype == np.float32 and not host(z).any() and z.device == device
    assert cugrad.zeros((2, 3), device=device).shape == (2, 3)
    o = cugrad.ones(4, dtype="float64", device=device, requires_grad=True)
    assert o.dtype == np.float64 and o.requires_grad and (host(o) == 1).all()
    f = cugrad.full((2, 2), 7.5, device=device)
    assert (host(f) == 7.5).all() and f.dtype == np.float32
    a = cugrad.arange(5, device=device)
    assert a.dtype == np.int64 and host(a).tolist() == [0, 1, 2, 3, 4]
    b = cugrad.arange(0, 1, 0.25, device=device)
    assert b.dtype == np.float32 and host(b).tolist() == [0.0, 0.25, 0.5, 0.75]
    assert host(cugrad.arange(2, 8, 3, device=device)).tolist() == [2, 5]


def test_like_factories(device):
    x = cugrad.tensor([[1.0, 2.0, 3.0]], dtype="float64", device=device)
    for fn, value in ((cugrad.zeros_like, 0.0), (cugrad.ones_like, 1.0)):
        y = fn(x)
        assert y.shape == x.shape and y.dtype == np.float64 and (host(y) == value).all() and y.device == device
    assert (host(cugrad.full_like(x, 3.0)) == 3.0).all()
    assert cugrad.zeros_like(x, dtype="float32").dtype == np.float32
    r = cugrad.rand_like(x)
    assert r.shape == (1, 3) and r.dtype == np.float64
    assert cugrad.randn_like(x, requires_grad=True).requires_grad


def test_random_factories_are_seeded(device):
    cugrad.manual_seed(123)
    a, n = cugrad.rand(1000, device=device), cugrad.randn(1000, device=device)
    assert a.dtype == np.float32 and n.dtype == np.float32
    av, nv = host(a), host(n)
    assert av.min() >= 0 and av.max() < 1 and 0.4 < av.mean() < 0.6
    assert abs(nv.mean()) < 0.15 and 0.85 < nv.std() < 1.15
    cugrad.manual_seed(123)
    np.testing.assert_array_equal(host(cugrad.rand(1000, device=device)), av)
    state = cugrad.get_rng_state()
    first = host(cugrad.randn(3, 2, dtype="float64", device=device))
    cugrad.set_rng_state(state)
    np.testing.assert_array_equal(host(cugrad.randn(3, 2, dtype="float64", device=device)), first)


def test_bad_shape():
    with pytest.raises(ValueError, match="non-negative integers"):
        cugrad.zeros(2, -1)
    with pytest.raises(ValueError, match="non-negative integers"):
        cugrad.ones(2.5)


# --------------------------------------------------------------------------- conversion


def test_numpy_item_tolist(device):
    x = cugrad.tensor([[1.0, 2.0]], device=device)
    a = x.numpy()
    assert isinstance(a, np.ndarray) and a.tolist() == [[1.0, 2.0]]
    assert x.tolist() == [[1.0, 2.0]]
    assert cugrad.tensor([[4.5]], device=device).item() == 4.5
    assert isinstance(cugrad.tensor(3, device=device).item(), int)
    with pytest.raises(ValueError, match=r"item\(\) needs a tensor with one element, this one has shape \(1, 2\)"):
        x.item()
    assert float(cugrad.tensor(2.0, device=device)) == 2.0 and int(cugrad.tensor(7, device=device)) == 7
    assert len(x) == 1 and x.size == 2 and x.numel() == 2


def test_numpy_shares_memory_on_cpu():
    x = cugrad.tensor([1.0, 2.0])
    x.numpy()[0] = 5.0
    assert host(x)[0] == 5.0


def test_detach(device):
    x = cugrad.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x * 2.0
    d = y.detach()
    assert d.grad_fn is None and not d.requires_grad and d.is_leaf
    assert d.data is y.data
    (d * 3.0).sum()  # nothing recorded, nothing raised


def test_to_dtype_and_device(device):
    x = cugrad.tensor([1.0, 2.0], device=device, requires_grad=True)
    assert x.to(device) is x
    y = x.to("float64")
    assert y.dtype == np.float64 and y.device == device and y.grad_fn is not None
    assert x.to(dtype="float64").dtype == np.float64
    assert x.double().dtype == np.float64 and x.double().float().dtype == np.float32
    assert x.astype("float64").dtype == np.float64
    c = x.to("cpu")
    assert c.device == "cpu"
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(host(x.grad), [2.0, 4.0])


@pytest.mark.gpu
def test_to_cuda_and_back_is_differentiable():
    x = cugrad.tensor([1.0, 2.0], requires_grad=True)
    g = x.to("cuda")
    assert g.device == "cuda:0"
    back = (g * g).cpu()
    assert back.device == "cpu"
    back.sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_array_equal(host(x.grad), [2.0, 4.0])


@pytest.mark.gpu
def test_cpu_and_gpu_tensors_in_one_op_raise():
    a = cugrad.tensor([1.0])
    b = cugrad.tensor([1.0], device="cuda")
    with pytest.raises(RuntimeError, match=r"Add: expected all tensors on one device, got cpu and cuda:0"):
        a + b


def test_repr(device):
    x = cugrad.tensor([1.0, 2.0], device=device, requires_grad=True)
    assert repr(x).startswith("tensor([1., 2.]") and "requires_grad=True" in repr(x)
    assert "grad_fn=<Mul>" in repr(x * 2.0)
    assert "dtype=float64" in repr(cugrad.tensor([1.0], dtype="float64", device=device))


# --------------------------------------------------------------------------- operators


def test_binary_operators_forward_and_backward(device):
    av, bv = np.array([1.5, -2.0, 3.0]), np.array([0.5, 4.0, -1.0])
    a = cugrad.tensor(av, device=device, requires_grad=True)
    b = cugrad.tensor(bv, device=device, requires_grad=True)
    np.testing.assert_allclose(host(a + b), av + bv)
    np.testing.assert_allclose(host(a - b), av - bv)
    np.testing.assert_allclose(host(a * b), av * bv)
    np.testing.assert_allclose(host(a / b), av / bv)
    np.testing.assert_allclose(host(-a), -av)
    np.testing.assert_allclose(host(+a), av)
    np.testing.assert_allclose(host(abs(b)), np.abs(bv))
    np.testing.assert_allclose(host(a**2), av**2)
    np.testing.assert_allclose(host(abs(a) ** b), np.abs(av) ** bv)
    np.testing.assert_allclose(host(a @ b), av @ bv)
    (a * b + a / b - b).sum().backward()
    np.testing.assert_allclose(host(a.grad), bv + 1 / bv)
    np.testing.assert_allclose(host(b.grad), av - av / bv**2 - 1)


def test_reflected_operators_with_python_scalars(device):
    xv = np.array([0.5, 2.0])
    x = cugrad.tensor(xv, dtype="float32", device=device, requires_grad=True)
    cases = [
        (lambda t: 3 + t, 3 + xv, 1.0),
        (lambda t: 3 - t, 3 - xv, -1.0),
        (lambda t: 3 * t, 3 * xv, 3.0),
        (lambda t: 3 / t, 3 / xv, -3 / xv**2),
        (lambda t: 2.0**t, 2.0**xv, np.log(2.0) * 2.0**xv),
        (lambda t: t + 3, xv + 3, 1.0),
        (lambda t: t - 3, xv - 3, 1.0),
        (lambda t: t * 3, xv * 3, 3.0),
        (lambda t: t / 4, xv / 4, 0.25),
        (lambda t: t**3, xv**3, 3 * xv**2),
    ]
    for fn, value, slope in cases:
        x.grad = None
        y = fn(x)
        assert isinstance(y, cugrad.Tensor) and y.dtype == np.float32  # a Python scalar keeps float32
        np.testing.assert_allclose(host(y), value, rtol=1e-6)
        y.sum().backward()
        np.testing.assert_allclose(host(x.grad), np.broadcast_to(slope, xv.shape), rtol=1e-6)


def test_reflected_operators_with_numpy_arrays(device):
    if device != "cpu":
        pytest.skip("NumPy operands live on the CPU")
    xv = np.array([[1.0, 2.0], [3.0, 4.0]])
    x = cugrad.tensor(xv, device=device, requires_grad=True)
    arr = np.array([[2.0, -1.0], [0.5, 3.0]])
    for fn, value in (
        (lambda t: arr + t, arr + xv),
        (lambda t: arr - t, arr - xv),
        (lambda t: arr * t, arr * xv),
        (lambda t: arr / t, arr / xv),
        (lambda t: arr @ t, arr @ xv),
        (lambda t: t @ arr, xv @ arr),
        (lambda t: t - arr, xv - arr),
    ):
        y = fn(x)
        assert isinstance(y, cugrad.Tensor), type(y)
        np.testing.assert_allclose(host(y), value)
    x.grad = None
    (arr @ x).sum().backward()
    np.testing.assert_allclose(host(x.grad), arr.T @ np.ones((2, 2)))


def test_broadcasting_operators(device):
    a = cugrad.tensor(np.ones((2, 3)), device=device, requires_grad=True)
    b = cugrad.tensor(np.array([1.0, 2.0, 3.0]), device=device, requires_grad=True)
    c = cugrad.tensor(np.array([[2.0], [3.0]]), device=device, requires_grad=True)
    ((a + b) * c).sum().backward()
    assert a.grad.shape == (2, 3) and b.grad.shape == (3,) and c.grad.shape == (2, 1)
    np.testing.assert_allclose(host(b.grad), [5.0, 5.0, 5.0])
    np.testing.assert_allclose(host(c.grad), [[9.0], [9.0]])


# --------------------------------------------------------------------------- in place


def test_inplace_on_leaves_inside_no_grad(device):
    w = cugrad.tensor([1.0, 2.0], device=device, requires_grad=True)
    data = w.data
    with cugrad.no_grad():
        w -= 0.5
        w += cugrad.tensor([1.0, 1.0], device=device)
        w *= 2.0
        w /= 4.0
    assert w.data is data and w.is_leaf and w.requires_grad
    np.testing.assert_allclose(host(w), [0.75, 1.25])
    (w * w).sum().backward()
    np.testing.assert_allclose(host(w.grad), [1.5, 2.5])


def test_inplace_sgd_step_with_grad(device):
    w = cugrad.tensor([1.0, -1.0], device=device, requires_grad=True)
    (w * w).sum().backward()
    with cugrad.no_grad():
        w -= 0.1 * w.grad
    np.testing.assert_allclose(host(w), [0.8, -0.8], rtol=1e-6)
    assert w.grad_fn is None


def test_inplace_outside_no_grad_raises(device):
    w = cugrad.tensor([1.0, 2.0], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"in-place -= on a tensor that requires grad is only allowed inside cugrad.no_grad\(\)"):
        w -= 1.0
    with pytest.raises(RuntimeError, match=r"in-place \+="):
        w += 1.0
    np.testing.assert_array_equal(host(w), [1.0, 2.0])  # untouched
    plain = cugrad.tensor([1.0], device=device)
    with pytest.raises(RuntimeError, match="in-place"):
        plain += w  # the right operand requires grad
    plain += 1.0  # fine: nothing requires grad
    assert host(plain)[0] == 2.0


# --------------------------------------------------------------------------- comparisons


def test_comparisons_are_not_differentiable(device):
    x = cugrad.tensor([1.0, -2.0, 3.0], device=device, requires_grad=True)
    y = cugrad.tensor([1.0, 0.0, 5.0], device=device)
    for result, expected in (
        (x > 0, [True, False, True]),
        (x >= 1, [True, False, True]),
        (x < y, [False, True, True]),
        (x <= y, [True, True, True]),
        (x == y, [True, False, False]),
        (x != y, [False, True, True]),
        (~(x > 0), [False, True, False]),
    ):
        assert result.dtype == np.bool_ and not result.requires_grad and result.grad_fn is None
        assert host(result).tolist() == expected
    mask = (x > 0).astype("float32")
    assert not mask.requires_grad
    (x * mask).sum().backward()
    np.testing.assert_array_equal(host(x.grad), [1.0, 0.0, 1.0])
    assert {x, y} and hash(x) != hash(y)  # tensors stay hashable despite elementwise ==


def test_0d_results_are_arrays_not_numpy_scalars():
    """NumPy gives a scalar for a 0-d result; a tensor must hold an array (a scalar made ``where``
    refuse it as 'a NumPy array meets tensors', and kernels fail on it)."""
    x = cugrad.tensor(np.array(2.0), dtype="float64", requires_grad=True)
    for t in (x == 2, ~(x == 2), (x > 0) & (x < 3), cugrad.tensor([1.0, 3.0]).argmax(0)):
        assert isinstance(t.data, np.ndarray), type(t.data)
    # gradients summed over a fan-out (x used twice) and captured by cugrad.grad: 0-d arrays too
    (g,) = cugrad.grad(x * x + x, [x], create_graph=True)
    assert isinstance(g.data, np.ndarray) and g.item() == 5.0
    (h,) = cugrad.grad(cugrad.ops.where(x == 2, g, 0.0), [x])
    assert isinstance(h.data, np.ndarray) and h.item() == 2.0
    x.grad = None
    (x * x + x).backward()
    assert isinstance(x.grad.data, np.ndarray) and x.grad.item() == 5.0


# --------------------------------------------------------------------------- indexing


def test_indexing_slices_none_and_ints(device):
    xv = np.arange(24.0).reshape(2, 3, 4)
    x = cugrad.tensor(xv, device=device, requires_grad=True)
    for index in (
        1,
        (0, 2),
        (slice(None), 1),
        (slice(None, None, -1), slice(1, 3)),
        (Ellipsis, 2),
        (None, 0, slice(None), None),
        (1, -1, slice(0, 4, 2)),
    ):
        np.testing.assert_array_equal(host(x[index]), xv[index])
    x[:, 1:, ::2].sum().backward()
    expected = np.zeros_like(xv)
    expected[:, 1:, ::2] = 1.0
    np.testing.assert_array_equal(host(x.grad), expected)


def test_indexing_with_integer_arrays_accumulates_repeats(device):
    x = cugrad.tensor([10.0, 20.0, 30.0], device=device, requires_grad=True)
    y = x[[0, 0, 2, 0]]
    np.testing.assert_array_equal(host(y), [10.0, 10.0, 30.0, 10.0])
    (y * cugrad.tensor([1.0, 2.0, 3.0, 4.0], device=device)).sum().backward()
    np.testing.assert_array_equal(host(x.grad), [7.0, 0.0, 3.0])


def test_indexing_with_integer_tensors_and_2d_fancy(device):
    xv = np.arange(12.0).reshape(3, 4)
    x = cugrad.tensor(xv, device=device, requires_grad=True)
    rows = cugrad.tensor([0, 2, 0], device=device)
    cols = cugrad.tensor([1, 3, 1], device=device)
    picked = x[rows, cols]
    np.testing.assert_array_equal(host(picked), [1.0, 11.0, 1.0])
    picked.sum().backward()
    expected = np.zeros((3, 4))
    expected[0, 1] = 2.0
    expected[2, 3] = 1.0
    np.testing.assert_array_equal(host(x.grad), expected)
    x.grad = None
    x[cugrad.tensor([2, 2], device=device)].sum().backward()
    np.testing.assert_array_equal(host(x.grad), np.vstack([np.zeros((2, 4)), 2 * np.ones((1, 4))]))


def test_indexing_with_boolean_mask(device):
    x = cugrad.tensor([1.0, -2.0, 3.0], device=device, requires_grad=True)
    y = x[x > 0]
    np.testing.assert_array_equal(host(y), [1.0, 3.0])
    y.sum().backward()
    np.testing.assert_array_equal(host(x.grad), [1.0, 0.0, 1.0])


def test_index_out_of_range_names_shape(device):
    x = cugrad.tensor([[1.0, 2.0]], device=device)
    with pytest.raises(IndexError, match=r"getitem: .*\(tensor of shape \(1, 2\)\)"):
        x[3]


# --------------------------------------------------------------------------- methods


def test_tensor_methods_delegate(device):
    xv = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]])
    x = cugrad.tensor(xv, device=device)
    np.testing.assert_allclose(host(x.sum(axis=0)), xv.sum(axis=0))
    np.testing.assert_allclose(host(x.mean(axis=1, keepdims=True)), xv.mean(axis=1, keepdims=True))
    np.testing.assert_allclose(host(x.max(axis=1)), xv.max(axis=1))
    np.testing.assert_allclose(host(x.min()), xv.min())
    np.testing.assert_allclose(host(x.var(axis=0, ddof=1)), xv.var(axis=0, ddof=1))
    np.testing.assert_array_equal(host(x.argmax(axis=1)), xv.argmax(axis=1))
    np.testing.assert_allclose(host(x.relu()), np.maximum(xv, 0))
    np.testing.assert_allclose(host(x.sigmoid()), 1 / (1 + np.exp(-xv)), rtol=1e-6)
    np.testing.assert_allclose(host(x.tanh()), np.tanh(xv), rtol=1e-6)
    np.testing.assert_allclose(host(x.abs()), np.abs(xv))
    np.testing.assert_allclose(host(x.abs().sqrt()), np.sqrt(np.abs(xv)), rtol=1e-6)
    np.testing.assert_allclose(host(x.exp().log()), xv, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(host(x.clip(-1, 1)), np.clip(xv, -1, 1))
    np.testing.assert_allclose(host(x.reshape(3, 2)), xv.reshape(3, 2))
    np.testing.assert_allclose(host(x.reshape((6,))), xv.reshape(6))
    np.testing.assert_allclose(host(x.flatten()), xv.reshape(-1))
    np.testing.assert_allclose(host(x.transpose()), xv.T)
    np.testing.assert_allclose(host(x.transpose(1, 0)), xv.T)
    np.testing.assert_allclose(host(x.T), xv.T)
    np.testing.assert_allclose(host(x.swapaxes(0, 1)), xv.T)
    np.testing.assert_allclose(host(x.softmax()), np.exp(xv) / np.exp(xv).sum(-1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(host(x.log_softmax(axis=0)), xv - np.log(np.exp(xv).sum(0, keepdims=True)), rtol=1e-6)


def test_zero_grad_and_grad_assignable(device):
    x = cugrad.tensor([1.0], device=device, requires_grad=True)
    (x * 2.0).sum().backward()
    x.zero_grad()
    assert x.grad is None
    x.grad = cugrad.tensor([5.0], device=device)
    (x * 2.0).sum().backward()
    assert x.grad.item() == 7.0


@pytest.mark.gpu
def test_numpy_index_arrays_move_to_the_gpu_and_raw_numpy_operands_are_refused():
    x = cugrad.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], device="cuda", requires_grad=True)
    rows = np.array([2, 0, 2])
    picked = x[rows]
    np.testing.assert_array_equal(picked.numpy(), [[5.0, 6.0], [1.0, 2.0], [5.0, 6.0]])
    picked.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]])
    with pytest.raises(RuntimeError, match=r"a NumPy array of shape \(2,\) meets tensors on cuda:0"):
        x[0] + np.ones(2, dtype=np.float32)


def test_item_assignment_follows_the_in_place_rules():
    x = cugrad.zeros(3, 2)
    x[1] = 5.0
    x[np.array([0, 2]), 1] = cugrad.tensor([7.0, 8.0])
    np.testing.assert_array_equal(x.numpy(), [[0, 7], [5, 5], [0, 8]])
    w = cugrad.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="only allowed inside cugrad.no_grad"):
        w[0] = 3.0
    with cugrad.no_grad():
        w[0] = 3.0
    np.testing.assert_array_equal(w.numpy(), [3.0, 1.0])


def test_numpy_asarray_of_a_cpu_tensor_shares_its_values():
    t = cugrad.tensor([1.0, 2.0])
    assert np.asarray(t) is t.data                     # not an object array of 0-d tensors
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    copied = np.array(t)
    copied[0] = 9.0
    assert t.data[0] == 1.0
    with pytest.raises(ValueError, match="a cast needs a copy"):
        np.asarray(t, dtype=np.float64, copy=False)
    assert isinstance(np.ones(2) + t, cugrad.Tensor)   # NumPy still defers arithmetic to the tensor


def test_numpy_reductions_of_a_tensor_use_its_methods():
    t = cugrad.tensor([[1.0, 2.0], [3.0, 5.0]], requires_grad=True)
    total = np.sum(t)
    assert isinstance(total, cugrad.Tensor) and total.item() == 11.0
    total.backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.ones((2, 2)))
    np.testing.assert_array_equal(np.mean(t, axis=0).numpy(), [2.0, 3.5])
    assert np.max(t).item() == 5.0 and np.min(t).item() == 1.0
    assert np.sum(t, dtype=np.float64).dtype == np.float64
    with pytest.raises(TypeError, match="sum: out= is not supported"):
        np.sum(t, out=np.empty(()))
    x = np.array([[1.0, 2.0], [3.0, 5.0]])
    np.testing.assert_allclose(np.var(t).item(), np.var(x), rtol=1e-6)
    np.testing.assert_allclose(np.std(t, axis=0, ddof=1).numpy(), np.std(x, axis=0, ddof=1), rtol=1e-6)
    assert np.argmax(t).item() == 3 and np.argmax(t, axis=1).tolist() == [1, 1]
    with pytest.raises(TypeError, match="std: out= is not supported"):
        np.std(t, out=np.empty(()))


@pytest.mark.gpu
def test_numpy_asarray_of_a_gpu_tensor_is_refused_by_name():
    with pytest.raises(TypeError, match=r"a tensor on cuda:0 does not become a NumPy array implicitly; call \.numpy\(\)"):
        np.asarray(cugrad.ones(2, device="cuda"))


def test_assignment_takes_host_values_on_any_device(device):
    """Lists, NumPy arrays and CPU tensors are copied onto the tensor's device, as PyTorch's
    assignment copies (CuPy itself refuses a host array in a slice assignment)."""
    exact = cugrad.zeros(2, dtype="float64", device=device)
    exact[:] = [0.1, 1 / 3]                       # not rounded through float32 on the way
    np.testing.assert_array_equal(host(exact), [0.1, 1 / 3])
    x = cugrad.zeros(4, device=device)
    x[0:2] = [1.0, 2.0]
    x[2:] = np.array([3.0, 4.0])
    np.testing.assert_array_equal(host(x), [1, 2, 3, 4])
    x[:] = cugrad.tensor([5.0, 6.0, 7.0, 8.0])                       # a CPU tensor
    x[np.array([0, 3])] = np.array([0.5, 0.25])
    np.testing.assert_array_equal(host(x), [0.5, 6, 7, 0.25])
    assert x.device == cugrad.device(device)


def test_in_place_arithmetic_and_comparisons_take_lists_and_same_device_operands(device):
    x = cugrad.tensor([1.0, 2.0, 3.0], device=device)
    x += [1.0, 1.0, 1.0]
    x *= cugrad.tensor([2.0, 2.0, 2.0], device=device)
    np.testing.assert_array_equal(host(x), [4, 6, 8])
    np.testing.assert_array_equal(host(x == [4.0, 0.0, 8.0]), [True, False, True])
    assert (x == None) is False  # noqa: E711  (Python's rule for objects, not an elementwise test)


@pytest.mark.gpu
def test_in_place_arithmetic_and_comparisons_across_devices_are_refused_by_name():
    x = cugrad.tensor([1.0, 2.0], device="cuda")
    with pytest.raises(RuntimeError, match=r"in-place \+=: a tensor on cuda:0 and a tensor on cpu; move it first"):
        x += cugrad.tensor([1.0, 1.0])
    with pytest.raises(RuntimeError, match=r"comparison __lt__: a tensor on cuda:0 and an array on cpu"):
        _ = x < np.array([0.0, 3.0])
    with pytest.raises(RuntimeError, match=r"in-place \*=: a tensor on cpu and a tensor on cuda:0"):
        y = cugrad.tensor([1.0, 2.0])
        y *= x
    np.testing.assert_array_equal(host(x), [1.0, 2.0])


def test_in_place_on_a_tensor_the_graph_made_is_refused_even_under_no_grad():
    w = cugrad.tensor([1.0, 2.0], requires_grad=True)
    y = w * w
    with cugrad.no_grad():
        with pytest.raises(RuntimeError, match="in-place \\+= on a tensor made by Mul would change values"):
            y += 1.0
        with pytest.raises(RuntimeError, match="in-place assignment on a tensor made by Mul"):
            y[0] = 0.0
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 4.0])  # the graph was left intact
