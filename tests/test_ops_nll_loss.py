"""nll_loss (ops/loss.py, a gather by indexing) against PyTorch CPU: values and input gradients in
float64 for each reduction on empty and non-empty batches, gradchecks of both orders, the NLLLoss
module, integer input, and the errors."""
from __future__ import annotations

import numpy as np
import pytest

import cugrad
from cugrad import nn
from cugrad.nn import functional as F
from gradchecks import gradcheck_two_orders

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("n,c", [(0, 3), (1, 1), (4, 3), (5, 7)])
def test_values_and_gradients_match_torch(n, c, reduction):
    rng = np.random.default_rng(n * 10 + c)
    x, labels = rng.standard_normal((n, c)), rng.integers(0, c, n)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.nll_loss(tx, torch.tensor(labels), reduction=reduction)
    g = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(g))
    t = cugrad.tensor(x, requires_grad=True)
    y = nn.NLLLoss(reduction=reduction)(t, cugrad.tensor(labels))
    y.backward(cugrad.tensor(g))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(t.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradcheck_two_orders(reduction):
    labels = cugrad.tensor(np.array([2, 0, 2, 1]))
    gradcheck_two_orders(lambda t: F.nll_loss(t, labels, reduction=reduction),
                         np.random.default_rng(1).standard_normal((4, 3)))


def test_composes_with_log_softmax_into_cross_entropy():
    x, labels = np.random.default_rng(2).standard_normal((6, 5)), np.array([0, 4, 1, 1, 3, 2])
    via_nll = F.nll_loss(F.log_softmax(cugrad.tensor(x), axis=1), cugrad.tensor(labels))
    np.testing.assert_allclose(via_nll.item(), F.cross_entropy(cugrad.tensor(x), cugrad.tensor(labels)).item(), rtol=1e-12)


def test_integer_input_is_float32():
    out = F.nll_loss(cugrad.tensor(np.array([[1, 2], [3, 4]])), cugrad.tensor(np.array([1, 0])))
    assert out.dtype == np.float32 and out.item() == -2.5  # −(x[0,1] + x[1,0]) / 2


@pytest.mark.parametrize("x,target,error,match", [
    (np.zeros(3), np.array([0, 1, 2]), ValueError, r"nll_loss: input must be 2-D"),
    (np.zeros((2, 3)), np.array([0.0, 1.0]), TypeError, r"nll_loss: target must be integer labels, got float64"),
    (np.zeros((2, 3)), np.array([0, 1, 2]), ValueError, r"nll_loss: target must have shape \(2,\)"),
    (np.zeros((2, 3)), np.array([0, 3]), ValueError, r"nll_loss: labels must lie in \[0, 3\)"),
    (np.zeros((2, 3)), np.array([-1, 0]), ValueError, r"nll_loss: labels must lie in \[0, 3\)"),
])
def test_errors(x, target, error, match):
    with pytest.raises(error, match=match):
        F.nll_loss(cugrad.tensor(x), cugrad.tensor(target))


def test_bad_reduction():
    with pytest.raises(ValueError, match="nll_loss: unknown reduction 'avg'"):
        F.nll_loss(cugrad.tensor(np.zeros((1, 2))), cugrad.tensor(np.array([0])), reduction="avg")
    with pytest.raises(ValueError, match="NLLLoss: reduction must be"):
        nn.NLLLoss(reduction="avg")
