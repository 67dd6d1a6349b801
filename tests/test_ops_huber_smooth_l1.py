"""huber_loss and smooth_l1_loss (ops/loss.py, a where of the two branches) against PyTorch CPU:
values and gradients of prediction and target in float64 for each reduction on 0-d, empty and
non-empty shapes, gradchecks of both orders, the modules, and the errors."""
from __future__ import annotations

import numpy as np
import pytest

import cugrad
from cugrad import nn
from cugrad.nn import functional as F
from gradchecks import gradcheck_two_orders

torch = pytest.importorskip("torch")

LOSSES = [("huber_loss", "delta", nn.HuberLoss), ("smooth_l1_loss", "beta", nn.SmoothL1Loss)]


@pytest.mark.parametrize("name,param,module", LOSSES)
@pytest.mark.parametrize("size", [0.0, 0.5, 1.0, 2.5])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(), (0,), (0, 3), (7,), (3, 4)])
def test_values_and_gradients_match_torch(name, param, module, size, reduction, shape):
    if name == "huber_loss" and size == 0.0:
        pytest.skip("delta must be positive")
    rng = np.random.default_rng(len(shape))
    x, y = np.asarray(rng.standard_normal(shape) * 2), np.asarray(rng.standard_normal(shape))  # 0-d: float64 arrays
    tx, ty = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    tout = getattr(torch.nn.functional, name)(tx, ty, reduction=reduction, **{param: size})
    g = rng.standard_normal(tuple(tout.shape))
    tout.backward(torch.tensor(g))
    cx, cy = cugrad.tensor(x, requires_grad=True), cugrad.tensor(y, requires_grad=True)
    out = module(reduction=reduction, **{param: size})(cx, cy)
    out.backward(cugrad.tensor(g))
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(cy.grad.numpy(), ty.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name,param,module", LOSSES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradcheck_two_orders(name, param, module, reduction):
    target = cugrad.tensor(np.linspace(-1.0, 1.0, 12).reshape(3, 4))
    fn = getattr(F, name)
    x = np.random.default_rng(5).standard_normal((3, 4)) * 2  # |x − target| ≠ 0.8 (no kink)
    gradcheck_two_orders(lambda t: fn(t, target, reduction=reduction, **{param: 0.8}), x)
    gradcheck_two_orders(lambda t: fn(cugrad.tensor(x), t, reduction=reduction, **{param: 0.8}),
                         target.numpy())


def test_integer_inputs_are_float32():
    out = F.huber_loss(cugrad.tensor(np.array([0, 3])), cugrad.tensor(np.array([0, 0])), reduction="sum")
    assert out.dtype == np.float32 and out.item() == 2.5  # 0 + 1·(3 − ½)


@pytest.mark.parametrize("name,param,bad", [("huber_loss", "delta", 0.0), ("huber_loss", "delta", -1.0),
                                            ("smooth_l1_loss", "beta", -0.5)])
def test_bad_parameter(name, param, bad):
    with pytest.raises(ValueError, match=f"{name}: {param} must be"):
        getattr(F, name)(cugrad.tensor(np.zeros(2)), cugrad.tensor(np.zeros(2)), **{param: bad})


@pytest.mark.parametrize("name", ["huber_loss", "smooth_l1_loss"])
def test_shape_and_reduction_errors(name):
    with pytest.raises(ValueError, match=rf"{name}: prediction shape \(2,\) differs from target shape \(3,\)"):
        getattr(F, name)(cugrad.tensor(np.zeros(2)), cugrad.tensor(np.zeros(3)))
    with pytest.raises(ValueError, match=f"{name}: unknown reduction 'avg'"):
        getattr(F, name)(cugrad.tensor(np.zeros(2)), cugrad.tensor(np.zeros(2)), reduction="avg")


@pytest.mark.parametrize("name,param,module", LOSSES)
def test_second_derivative_at_the_kink_is_torchs(name, param, module):
    """|d| = 0.5 exactly: value and slope agree on both branches; the curvature is PyTorch's."""
    x, y = np.array([0.5, -0.5, 0.2]), np.zeros(3)
    tx = torch.tensor(x, requires_grad=True)
    (tg,) = torch.autograd.grad(getattr(torch.nn.functional, name)(tx, torch.tensor(y), reduction="sum", **{param: 0.5}),
                                tx, create_graph=True)
    (tgg,) = torch.autograd.grad((tg * tg).sum(), tx)
    cx = cugrad.tensor(x, requires_grad=True)
    (cg,) = cugrad.grad(getattr(F, name)(cx, cugrad.tensor(y), reduction="sum", **{param: 0.5}), [cx], create_graph=True)
    (cgg,) = cugrad.grad((cg * cg).sum(), [cx])
    np.testing.assert_allclose(cg.numpy(), tg.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(cgg.numpy(), tgg.numpy(), rtol=1e-12)
