"""squeeze, unsqueeze, flatten(start_dim, end_dim), unflatten and flip (ops/shape.py, views built
on reshape and indexing) against PyTorch CPU: values and gradients in float64 on 0-d, empty and
negative-dim cases, float64 gradchecks of first and second order, Tensor methods, and errors."""
from __future__ import annotations

import numpy as np
import pytest

import cugrad
from cugrad.ops.axes import AxisError
from gradchecks import gradcheck_two_orders

torch = pytest.importorskip("torch")

# name -> [(shape, args)]: the same call in both libraries
CASES = {
    "squeeze": [((), ()), ((), (0,)), ((1, 3, 1), ()), ((1, 3, 1), (-1,)), ((1, 3, 1), (1,)),
                ((1, 0, 1), ((0, 2),)), ((2, 1, 1), ((1, -1),))],
    "unsqueeze": [((), (0,)), ((), (-1,)), ((2, 3), (0,)), ((2, 3), (2,)), ((2, 3), (-1,)), ((0, 3), (-2,))],
    "flatten": [((), ()), ((2, 3, 4), ()), ((2, 3, 4), (1,)), ((2, 3, 4), (0, 1)), ((2, 3, 4), (-2, -1)),
                ((2, 0, 4), (1, 2)), ((2, 3, 4), (1, 1))],
    "unflatten": [((6,), (0, (2, 3))), ((2, 6), (-1, (3, -1))), ((2, 0), (1, (0, 5))), ((4, 2), (0, (1, 4, 1))), ((2, 0), (1, (-1, 1)))],
    "flip": [((), ((),)), ((3,), ((0,),)), ((2, 3, 4), ((0, -1),)), ((2, 0), ((1,),)), ((2, 3), ((-2,),))],
}
FLAT = [(name, shape, args) for name, cases in CASES.items() for shape, args in cases]


@pytest.mark.parametrize("name,shape,args", FLAT)
def test_values_and_gradients_match_torch(name, shape, args):
    x = np.random.default_rng(0).standard_normal(shape)
    tx = torch.tensor(x, requires_grad=True)
    ty = getattr(torch, name)(tx, *args)
    g = np.random.default_rng(1).standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(g))
    t = cugrad.tensor(x, requires_grad=True)
    y = getattr(cugrad, name)(t, *args)
    assert y.shape == tuple(ty.shape)
    y.backward(cugrad.tensor(g))
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(t.grad.numpy(), tx.grad.numpy())
    np.testing.assert_array_equal(getattr(cugrad.tensor(x), name)(*args).numpy(), y.numpy())


@pytest.mark.parametrize("name,shape,args", [(n, s, a) for n, s, a in FLAT if 0 not in s])
def test_gradcheck_first_and_second_order(name, shape, args):
    x = np.random.default_rng(2).standard_normal(shape)

    def op(t):
        return getattr(cugrad, name)(t, *args)

    gradcheck_two_orders(op, x, power=3)


def test_names_and_method_spellings():
    t = cugrad.tensor(np.arange(6.0).reshape(1, 2, 3))
    assert cugrad.squeeze(t, dim=0).shape == (2, 3) and cugrad.flip(t, dims=(2,)).numpy()[0, 0].tolist() == [2, 1, 0]
    np.testing.assert_array_equal(t.flip(1, 2).numpy(), t.numpy()[:, ::-1, ::-1])
    np.testing.assert_array_equal(cugrad.flip(t).numpy(), np.flip(t.numpy()))
    np.testing.assert_array_equal(t.flip().numpy(), np.flip(t.numpy()))
    assert t.flatten().shape == (6,) and t.flatten(1).shape == (1, 6)


@pytest.mark.parametrize("call,error", [
    (lambda t: cugrad.squeeze(t, 3), AxisError),
    (lambda t: cugrad.unsqueeze(t, 4), AxisError),
    (lambda t: cugrad.unsqueeze(t, -5), AxisError),
    (lambda t: cugrad.flatten(t, 3), AxisError),
    (lambda t: cugrad.flatten(t, 2, 1), ValueError),
    (lambda t: cugrad.unflatten(t, 1, (4,)), ValueError),
    (lambda t: cugrad.unflatten(t, 1, (-1, -1)), ValueError),
    (lambda t: cugrad.unflatten(t, 1, (5, -1)), ValueError),
    (lambda t: cugrad.unflatten(t, 3, (1, 1)), AxisError),
    (lambda t: cugrad.flip(t, (0, 0)), ValueError),
    (lambda t: cugrad.flip(t, 1.0), TypeError),
    (lambda t: cugrad.squeeze(t, 0, dim=1), TypeError),
])
def test_errors(call, error):
    t = cugrad.tensor(np.ones((1, 2, 3)))
    with pytest.raises(error):
        call(t)
