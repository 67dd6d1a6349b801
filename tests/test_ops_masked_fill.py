"""masked_fill (ops/elementwise.py, a where) against PyTorch CPU: values and gradients of x and of a
0-d value in float64 on 0-d, empty and broadcast masks, gradchecks of both orders, the Tensor
method, dtypes, and the errors."""
from __future__ import annotations

import numpy as np
import pytest

import cugrad
from gradchecks import gradcheck_two_orders

torch = pytest.importorskip("torch")

SHAPES = [((), ()), ((), (1,)), ((0,), (0,)), ((0, 3), (3,)), ((2, 3), (3,)), ((2, 3), (2, 1)), ((2, 1), (1, 3))]


@pytest.mark.parametrize("tensor_value", [False, True])
@pytest.mark.parametrize("sx,sm", SHAPES)
def test_values_and_gradients_match_torch(sx, sm, tensor_value):
    rng = np.random.default_rng(0)
    x, mask = rng.standard_normal(sx), rng.random(sm) < 0.5
    tx, tv = torch.tensor(x, requires_grad=True), torch.tensor(-2.5, dtype=torch.float64, requires_grad=True)
    ty = torch.masked_fill(tx, torch.tensor(mask), tv if tensor_value else -2.5)
    g = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(g))
    t, v = cugrad.tensor(x, requires_grad=True), cugrad.tensor(np.array(-2.5), requires_grad=True)
    y = cugrad.masked_fill(t, cugrad.tensor(mask), v if tensor_value else -2.5)
    y.backward(cugrad.tensor(g))
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(t.grad.numpy(), tx.grad.numpy())
    if tensor_value:
        np.testing.assert_allclose(v.grad.numpy(), tv.grad.numpy(), rtol=1e-14)


def test_gradcheck_first_and_second_order():
    x = np.random.default_rng(1).standard_normal((3, 4))
    mask = cugrad.tensor(np.random.default_rng(2).random((3, 4)) < 0.5)
    gradcheck_two_orders(lambda t: cugrad.masked_fill(t, mask, 0.25), x, power=3)


def test_method_and_dtype():
    x = cugrad.tensor(np.ones((2, 2), np.float32))
    y = x.masked_fill(cugrad.tensor(np.array([True, False])), 7)
    assert y.dtype == np.float32 and y.numpy().tolist() == [[7, 1], [7, 1]]


@pytest.mark.parametrize("mask,value,error", [
    (np.array([1, 0]), 0.0, TypeError),                  # not bool
    (np.array([True, False, True]), 0.0, ValueError),    # does not broadcast
    (np.array([True, False]), np.zeros(2), ValueError),  # value not 0-d
])
def test_errors(mask, value, error):
    with pytest.raises(error, match="masked_fill"):
        cugrad.masked_fill(cugrad.tensor(np.ones((2, 2))), cugrad.tensor(mask), value)
