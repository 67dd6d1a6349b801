"""The factories eye, linspace, randint and empty (creation.py) against PyTorch CPU: values, dtypes,
shapes with zeros in them, dtype/device/requires_grad keywords, randint's seeded reproducibility,
and the errors, which name the factory."""
from __future__ import annotations

import numpy as np
import pytest

import cugrad

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("n, m", [(0, None), (1, None), (3, None), (2, 4), (4, 2), (3, 0)])
def test_eye_matches_torch(n, m):
    ours = cugrad.eye(n, m)
    theirs = torch.eye(n) if m is None else torch.eye(n, m)
    assert ours.dtype == np.float32 and ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert cugrad.eye(n, m, dtype="int64").dtype == np.int64


@pytest.mark.parametrize("start, end, steps", [(0, 1, 5), (-1, 1, 4), (2.5, 2.5, 3), (3, -7, 6), (0, 1, 1),
                                               (0, 1, 0), (1e-3, 1e3, 7)])
@pytest.mark.parametrize("dtype", [None, "float64"])
def test_linspace_matches_torch(start, end, steps, dtype):
    ours = cugrad.linspace(start, end, steps, dtype=dtype)
    theirs = torch.linspace(start, end, steps, dtype=torch.float64 if dtype else torch.float32)
    assert ours.dtype == (np.float64 if dtype else np.float32) and ours.shape == (steps,)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6 if dtype is None else 1e-15, atol=1e-15)
    if steps > 1:
        assert ours.numpy()[0] == np.asarray(start, ours.dtype) and ours.numpy()[-1] == np.asarray(end, ours.dtype)


def test_linspace_integer_dtype_truncates_like_torch():
    for start, end, steps in ((0, 7, 4), (0, 10, 3), (-7, 0, 4)):
        np.testing.assert_array_equal(cugrad.linspace(start, end, steps, dtype="int64").numpy(),
                                      torch.linspace(start, end, steps, dtype=torch.int64).numpy())


def test_randint_reproduces_under_manual_seed_and_covers_its_range():
    cugrad.manual_seed(123)
    first = cugrad.randint(-3, 4, (200,))
    cugrad.manual_seed(123)
    second = cugrad.randint(-3, 4, (200,))
    assert first.dtype == np.int64 and first.shape == (200,)
    np.testing.assert_array_equal(first.numpy(), second.numpy())
    assert set(first.numpy().tolist()) == set(range(-3, 4))        # 200 draws of 7 values reach all
    third = cugrad.randint(-3, 4, (200,))
    assert (third.numpy() != first.numpy()).any()                  # the stream moved on


def test_randint_forms_and_keywords():
    cugrad.manual_seed(0)
    a = cugrad.randint(5, (2, 3))                                   # PyTorch's randint(high, size)
    assert a.shape == (2, 3) and a.numpy().min() >= 0 and a.numpy().max() < 5
    assert cugrad.randint(0, 2, 4).shape == (4,)
    assert cugrad.randint(0, 2, (0, 3)).shape == (0, 3)
    assert cugrad.randint(0, 9, (3,), dtype="int32").dtype == np.int32
    assert cugrad.randint(0, 9, (3,), dtype="float64").dtype == np.float64
    assert cugrad.randint(7, 8, (3,)).numpy().tolist() == [7, 7, 7]


@pytest.mark.parametrize("shape", [(2, 3), ((2, 3),), (0,), ()])
def test_empty_is_zeros_of_the_shape(shape):
    t = cugrad.empty(*shape, dtype="float64", requires_grad=True)
    expected = shape[0] if shape and isinstance(shape[0], tuple) else shape
    assert t.shape == expected == tuple(torch.empty(expected).shape) and t.dtype == np.float64 and t.requires_grad
    np.testing.assert_array_equal(t.numpy(), np.zeros(expected))


def test_namespace_and_device_keyword():
    for name in ("eye", "linspace", "randint", "empty"):
        assert name in cugrad.__all__ and callable(getattr(cugrad, name))
    assert cugrad.eye(2, device="cpu").device == cugrad.device("cpu")
    assert cugrad.linspace(0, 1, 3, requires_grad=True).requires_grad


@pytest.mark.parametrize("call, error, match", [
    (lambda: cugrad.eye(-1), ValueError, r"eye: n must be a non-negative integer, got -1"),
    (lambda: cugrad.eye(2, 1.5), ValueError, r"eye: m must be a non-negative integer, got 1.5"),
    (lambda: cugrad.linspace(0, 1, -1), ValueError, r"linspace: steps must be a non-negative integer, got -1"),
    (lambda: cugrad.linspace(0, 1, 2.0), ValueError, r"linspace: steps must be a non-negative integer, got 2.0"),
    (lambda: cugrad.linspace("a", 1, 2), TypeError, r"linspace: start must be a number, got str"),
    (lambda: cugrad.randint(5, 3, (2,)), ValueError, r"randint: low \(5\) must be below high \(3\)"),
    (lambda: cugrad.randint(0, 2.5, (2,)), TypeError, r"randint: high must be an integer, got 2.5"),
    (lambda: cugrad.randint(0, 3), TypeError, r"randint: needs high and size"),
    (lambda: cugrad.randint(0, 3, (-1,)), ValueError, r"randint: a shape holds non-negative integers"),
    (lambda: cugrad.empty(2, -3), ValueError, r"empty: a shape holds non-negative integers, got \(2, -3\)"),
    (lambda: cugrad.eye(2, dtype="complex64"), TypeError, r"unsupported dtype 'complex64'"),
])
def test_errors_name_the_factory(call, error, match):
    with pytest.raises(error, match=match):
        call()
