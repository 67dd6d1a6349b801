"""binary_cross_entropy_with_logits (ops/loss.py, softplus(x) − x·y) against PyTorch CPU: values and
gradients of logits and target in float64 for each reduction on 0-d, empty and non-empty shapes,
large logits (no overflow), gradchecks of both orders, the module, and the errors."""
from __future__ import annotations

import numpy as np
import pytest

import cugrad
from cugrad import nn
from cugrad.nn import functional as F
from gradchecks import gradcheck_two_orders

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("scale", [1.0, 800.0])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(), (0,), (0, 3), (7,), (3, 4)])
def test_values_and_gradients_match_torch(shape, reduction, scale):
    rng = np.random.default_rng(len(shape))
    x, y = np.asarray(rng.standard_normal(shape) * scale), np.asarray(rng.random(shape))
    tx, ty = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    tout = torch.nn.functional.binary_cross_entropy_with_logits(tx, ty, reduction=reduction)
    g = rng.standard_normal(tuple(tout.shape))
    tout.backward(torch.tensor(g))
    cx, cy = cugrad.tensor(x, requires_grad=True), cugrad.tensor(y, requires_grad=True)
    out = nn.BCEWithLogitsLoss(reduction=reduction)(cx, cy)
    out.backward(cugrad.tensor(g))
    assert np.isfinite(out.numpy()).all() or not x.size  # the mean of nothing is nan
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(cy.grad.numpy(), ty.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradcheck_two_orders(reduction):
    x = np.random.default_rng(5).standard_normal((3, 4)) * 3
    y = np.random.default_rng(6).random((3, 4))
    gradcheck_two_orders(lambda t: F.binary_cross_entropy_with_logits(t, cugrad.tensor(y), reduction=reduction), x)
    gradcheck_two_orders(lambda t: F.binary_cross_entropy_with_logits(cugrad.tensor(x), t, reduction=reduction), y)


def test_errors():
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: prediction shape \(2,\) differs"):
        F.binary_cross_entropy_with_logits(cugrad.tensor(np.zeros(2)), cugrad.tensor(np.zeros(3)))
    with pytest.raises(ValueError, match="binary_cross_entropy_with_logits: unknown reduction 'avg'"):
        F.binary_cross_entropy_with_logits(cugrad.tensor(np.zeros(2)), cugrad.tensor(np.zeros(2)), reduction="avg")
