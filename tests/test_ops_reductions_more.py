"""logsumexp, prod, cumsum, argmin, all and any (ops/reduce.py) against PyTorch CPU: values and
gradients in float64 on 0-d, empty and negative-axis cases, float64 gradchecks of first and second
order (prod with zeros in its input), the Tensor methods, and the errors."""
from __future__ import annotations

import numpy as np
import pytest

import cugrad
from cugrad.ops.axes import AxisError
from gradchecks import gradcheck_two_orders

torch = pytest.importorskip("torch")

# (shape, dim) cases: 0-d, empty along and across the axis, negative dims
CASES = [((), 0), ((), -1), ((0,), 0), ((0, 3), 0), ((3, 0), 1), ((2, 3), -1), ((2, 3, 4), -2), ((2, 3, 4), 0)]
DIFFERENTIABLE = ["logsumexp", "prod", "cumsum"]


def values(shape, seed=0, zeros=False):
    x = np.random.default_rng(seed).uniform(-2, 2, shape)
    if zeros and x.size:
        x.flat[:: 3] = 0.0       # one zero in some slices, several in others
    return x


def torch_call(name, t, dim, keepdim):
    return getattr(torch, name)(t, dim) if name == "cumsum" else getattr(torch, name)(t, dim, keepdim)


def cugrad_call(name, t, dim, keepdim):
    return getattr(cugrad, name)(t, dim=dim) if name == "cumsum" else getattr(cugrad, name)(t, dim=dim, keepdim=keepdim)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("shape,dim", CASES)
@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_values_and_gradients_match_torch(name, shape, dim, keepdim):
    x = values(shape, zeros=name == "prod")
    tx = torch.tensor(x, requires_grad=True)
    ty = torch_call(name, tx, dim, keepdim)
    g = np.random.default_rng(1).standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(g))
    t = cugrad.tensor(x, requires_grad=True)
    y = cugrad_call(name, t, dim, keepdim)
    assert y.shape == tuple(ty.shape) and y.dtype == np.float64
    y.backward(cugrad.tensor(g))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(t.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2), ()])
@pytest.mark.parametrize("name", ["logsumexp", "prod"])
def test_axis_tuples_and_none_match_numpy_composition(name, axis):
    x = values((2, 3, 2), seed=2)
    y = getattr(cugrad, name)(cugrad.tensor(x), axis)
    expect = np.prod(x, axis=axis) if name == "prod" else np.log(np.exp(x).sum(axis=axis))
    np.testing.assert_allclose(y.numpy(), expect, rtol=1e-13)


@pytest.mark.parametrize("name,axis", [(name, axis) for name in DIFFERENTIABLE for axis in (None, 1, (0, 1))
                                       if name != "cumsum" or not isinstance(axis, tuple)])   # a scan: one axis
def test_gradcheck_first_and_second_order(name, axis):
    x = values((3, 4), seed=3, zeros=name == "prod")

    def op(t):
        return getattr(cugrad, name)(t, axis)

    gradcheck_two_orders(op, x)


@pytest.mark.parametrize("zeros", [[0], [0, 4], [0, 1, 2, 3]])
def test_prod_second_derivative_with_zeros_matches_torch(zeros):
    x = values((5,), seed=4)
    x[zeros] = 0.0
    tx = torch.tensor(x, requires_grad=True)
    (tg,) = torch.autograd.grad(tx.prod(), tx, create_graph=True)
    (th,) = torch.autograd.grad(tg.sum(), tx)
    t = cugrad.tensor(x, requires_grad=True)
    (g,) = cugrad.grad(t.prod(), [t], create_graph=True)
    (h,) = cugrad.grad(g.sum(), [t])
    np.testing.assert_allclose(g.numpy(), tg.detach().numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(h.numpy(), th.numpy(), rtol=1e-13, atol=1e-15)


def test_logsumexp_is_stable_and_handles_infinities():
    x = np.array([[1e4, 1e4 + 1, -np.inf], [-np.inf, -np.inf, -np.inf], [np.inf, 0.0, 1.0]])
    y = cugrad.logsumexp(cugrad.tensor(x), 1)
    np.testing.assert_allclose(y.numpy(), torch.logsumexp(torch.tensor(x), 1).numpy(), rtol=1e-15)
    assert cugrad.logsumexp(cugrad.tensor(np.zeros((0, 2))), 0).numpy().tolist() == [-np.inf, -np.inf]


def test_integer_inputs():
    x = np.arange(1, 7).reshape(2, 3)
    assert cugrad.logsumexp(cugrad.tensor(x), 1).dtype == np.float32
    for name in ("prod", "cumsum"):
        y = getattr(cugrad, name)(cugrad.tensor(x), 1)
        assert y.dtype == np.int64
        np.testing.assert_array_equal(y.numpy(), getattr(torch, name)(torch.tensor(x), 1).numpy())
    np.testing.assert_array_equal(cugrad.cumsum(cugrad.tensor(x)).numpy(), np.cumsum(x))


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("shape,dim", [((), 0), ((), -1), ((5,), 0), ((3, 4), -1), ((3, 4), 0), ((2, 0), 0)])
@pytest.mark.parametrize("name", ["argmin", "all", "any"])
def test_non_differentiable_match_torch(name, shape, dim, keepdim):
    x = np.random.default_rng(5).integers(-1, 2, shape).astype(np.float64)   # ties and zeros
    expect = getattr(torch, name)(torch.tensor(x), dim, keepdim).numpy()
    got = getattr(cugrad, name)(cugrad.tensor(x), dim=dim, keepdim=keepdim)
    assert got.dtype == expect.dtype and got.shape == expect.shape
    np.testing.assert_array_equal(got.numpy(), expect)
    np.testing.assert_array_equal(getattr(cugrad.tensor(x), name)(dim, keepdim).numpy(), expect)


@pytest.mark.parametrize("name", ["all", "any"])
def test_all_any_over_every_axis_and_empty(name):
    for x in (np.array([[1.0, 0.0], [2.0, 3.0]]), np.zeros((0, 2)), np.ones(())):
        np.testing.assert_array_equal(getattr(cugrad, name)(cugrad.tensor(x)).numpy(), getattr(np, name)(x))
        np.testing.assert_array_equal(getattr(cugrad, name)(cugrad.tensor(x), (0, -1) if x.ndim else ()).numpy(),
                                      getattr(np, name)(x, axis=(0, -1) if x.ndim else ()))


def test_argmin_flattened_and_empty():
    x = np.array([[3.0, -1.0], [-1.0, 2.0]])
    assert cugrad.argmin(cugrad.tensor(x)).item() == torch.argmin(torch.tensor(x)).item() == 1
    with pytest.raises(ValueError, match="argmin"):
        cugrad.argmin(cugrad.tensor(np.zeros((2, 0))), 1)


def test_methods():
    x = values((2, 3), seed=6)
    t = cugrad.tensor(x)
    np.testing.assert_allclose(t.logsumexp(-1).numpy(), torch.tensor(x).logsumexp(-1).numpy(), rtol=1e-14)
    np.testing.assert_allclose(t.prod(dim=0, keepdim=True).numpy(), x.prod(0, keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(t.cumsum(dim=1).numpy(), x.cumsum(1), rtol=1e-14)
    assert t.argmin(1).numpy().tolist() == x.argmin(1).tolist()
    assert t.all().item() == bool(x.all()) and t.any(0).numpy().tolist() == x.any(0).tolist()


@pytest.mark.parametrize("name", ["logsumexp", "prod", "cumsum", "argmin", "all", "any"])
def test_errors(name):
    op = getattr(cugrad, name)
    t = cugrad.tensor(np.ones((2, 3)))
    with pytest.raises(AxisError, match=name):
        op(t, 2)
    with pytest.raises(TypeError, match=name):
        op(t, 1.5)
    with pytest.raises(TypeError, match=name):
        op(t, 0, dim=1)


@pytest.mark.parametrize("zero", [None, 5])
def test_prod_gradient_over_a_long_axis_is_linear_in_memory(zero):
    """A 200 000-long slice (an n² backward would need 3.2e11 bytes): each gradient is the
    product of the other factors, with and without a zero among them."""
    x = np.ones(200_000)
    x[3], x[9] = 2.0, 5.0
    if zero is not None:
        x[zero] = 0.0
    t = cugrad.tensor(x[None, :], requires_grad=True)
    cugrad.prod(t, axis=1).sum().backward()
    expected = np.full_like(x, 0.0 if zero is not None else 10.0)
    if zero is None:
        expected[3], expected[9] = 5.0, 2.0
    else:
        expected[zero] = 10.0
    np.testing.assert_array_equal(t.grad.numpy()[0], expected)
