"""The unary math ops (trig.py, rounding.py, exp2/log2/log10/rsqrt in elementwise.py) against
PyTorch CPU by name: values and gradients in float64, gradcheck first and second order (the
differentiable ones), edge values, integer inputs, Tensor methods."""
from __future__ import annotations

import numpy as np
import pytest

import cugrad

torch = pytest.importorskip("torch")

# name -> (domain of the float64 test points, differentiable)
SMOOTH = {"sin": (-3, 3), "cos": (-3, 3), "tan": (-1.2, 1.2), "sinh": (-3, 3), "cosh": (-3, 3),
          "exp2": (-3, 3), "log2": (0.2, 4), "log10": (0.2, 4), "rsqrt": (0.2, 4)}
STEPS = ["sign", "floor", "ceil", "round", "trunc"]
PREDICATES = ["isnan", "isinf", "isfinite"]


def torch_op(name):
    return getattr(torch, name)


@pytest.mark.parametrize("shape", [(), (0,), (3, 4)])
@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_smooth_ops_match_torch(name, shape):
    lo, hi = SMOOTH[name]
    rng = np.random.default_rng(11)
    x, g = rng.uniform(lo, hi, shape), rng.standard_normal(shape)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch_op(name)(tx)
    ty.backward(torch.tensor(g))
    t = cugrad.tensor(x, requires_grad=True)
    y = getattr(cugrad, name)(t)
    assert y.shape == shape and y.dtype == np.float64
    y.backward(cugrad.tensor(g))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(t.grad.numpy(), tx.grad.numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(getattr(cugrad.tensor(x), name)().numpy(), y.numpy())


@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_smooth_ops_gradcheck_first_and_second_order(name):
    lo, hi = SMOOTH[name]
    x = np.random.default_rng(12).uniform(lo, hi, (6,))
    op = getattr(cugrad, name)
    assert cugrad.gradcheck(op, [cugrad.tensor(x, requires_grad=True)])

    @cugrad.enable_grad()  # gradcheck evaluates fn under no_grad for its finite differences
    def first(t):
        (gx,) = cugrad.grad(op(t).sum(), [t], create_graph=True)
        return gx
    assert cugrad.gradcheck(first, [cugrad.tensor(x, requires_grad=True)])


@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_smooth_ops_float32_and_integer_input(name):
    lo, hi = SMOOTH[name]
    x = np.linspace(lo, hi, 7)
    y = getattr(cugrad, name)(cugrad.tensor(x.astype(np.float32)))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), torch_op(name)(torch.tensor(x)).numpy(), rtol=3e-6, atol=1e-6)
    ints = np.array([1, 2, 3])
    yi = getattr(cugrad, name)(cugrad.tensor(ints))
    assert yi.dtype == np.float32                      # float ops make integer tensors float32
    np.testing.assert_allclose(yi.numpy(), torch_op(name)(torch.tensor(ints)).numpy(), rtol=3e-6)


EDGES = np.array([-2.5, -1.5, -0.5, -0.0, 0.0, 0.5, 1.5, 2.5, 0.49999999999999994, -3.7, 3.7,
                  np.inf, -np.inf, np.nan])


@pytest.mark.parametrize("name", STEPS)
def test_step_ops_match_torch_and_have_zero_gradient(name):
    tx = torch.tensor(EDGES, requires_grad=True)
    ty = torch_op(name)(tx)
    ty.sum().backward()
    t = cugrad.tensor(EDGES, requires_grad=True)
    y = getattr(cugrad, name)(t)
    y.sum().backward()
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())    # halves to even, signed zeros
    np.testing.assert_array_equal(np.signbit(y.numpy()), np.signbit(ty.detach().numpy()))
    np.testing.assert_array_equal(t.grad.numpy(), tx.grad.numpy())
    ints = np.array([-3, 0, 4])
    yi = getattr(cugrad, name)(cugrad.tensor(ints))
    want = torch_op(name)(torch.tensor(ints)).numpy()
    assert yi.dtype == want.dtype
    np.testing.assert_array_equal(yi.numpy(), want)


@pytest.mark.parametrize("name", PREDICATES)
def test_predicates_match_torch(name):
    for values in (EDGES, np.array([1, 2]), np.zeros((0, 3))):
        y = getattr(cugrad, name)(cugrad.tensor(values, requires_grad=values.dtype.kind == "f"))
        assert y.dtype == np.bool_ and not y.requires_grad
        np.testing.assert_array_equal(y.numpy(), torch_op(name)(torch.tensor(values)).numpy())
        np.testing.assert_array_equal(getattr(cugrad.tensor(values), name)().numpy(), y.numpy())
