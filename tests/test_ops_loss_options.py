"""binary_cross_entropy (probabilities), weight and pos_weight of binary_cross_entropy_with_logits,
and label_smoothing / ignore_index of cross_entropy and nll_loss (ops/loss.py) against PyTorch CPU:
values and gradients in float64 for each reduction on 0-d, empty and non-empty shapes, the edges
(p = 0 and 1, logits of ±1000, every label ignored), gradchecks of both orders, the nn modules'
keywords, and the errors."""
from __future__ import annotations

import numpy as np
import pytest

import cugrad
from cugrad import nn
from cugrad.nn import functional as F
from gradchecks import gradcheck_two_orders

torch = pytest.importorskip("torch")
TF = torch.nn.functional

REDUCTIONS = ["mean", "sum", "none"]


def _compare(ours_fn, torch_fn, arrays, differentiable, rtol=1e-12):
    """Value and gradients (of the inputs flagged ``differentiable``) of both libraries' calls on
    ``arrays`` (NumPy arrays; integer ones become label tensors), for a random cotangent."""
    ours = [cugrad.tensor(a, requires_grad=d) for a, d in zip(arrays, differentiable)]
    theirs = [torch.tensor(a, requires_grad=d) for a, d in zip(arrays, differentiable)]
    out, t_out = ours_fn(*ours), torch_fn(*theirs)
    assert out.shape == tuple(t_out.shape)
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=rtol, atol=1e-14)
    if not any(differentiable):
        return
    g = np.asarray(np.random.default_rng(0).standard_normal(tuple(t_out.shape)))
    out.backward(cugrad.tensor(g))
    t_out.backward(torch.tensor(g))
    for mine, t, d in zip(ours, theirs, differentiable):
        if d:
            np.testing.assert_allclose(mine.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=1e-14)


# --------------------------------------------------------------------------- binary_cross_entropy

@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(), (0,), (0, 3), (7,), (3, 4)])
def test_bce_matches_torch(shape, reduction):
    rng = np.random.default_rng(len(shape))
    p, y = np.asarray(rng.uniform(0.01, 0.99, shape)), np.asarray(rng.random(shape))
    _compare(lambda p, y: F.binary_cross_entropy(p, y, reduction=reduction),
             lambda p, y: TF.binary_cross_entropy(p, y, reduction=reduction), [p, y], [True, True])


def test_bce_at_zero_and_one_is_clamped_like_torch():
    """Each log clamped at −100: finite losses at p = 0 and 1; dL/dp = (p − y)/max(p(1 − p), 1e-12)
    (±1e12 where p is certain and wrong); dL/dy = log(1 − p) − log p, infinite there."""
    p = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1e-13, 1 - 1e-13, 1e-300])
    y = np.array([0.0, 1.0, 0.0, 1.0, 0.3, 0.8, 0.0, 1.0, 1.0])
    _compare(lambda p, y: F.binary_cross_entropy(p, y, reduction="none"),
             lambda p, y: TF.binary_cross_entropy(p, y, reduction="none"), [p, y], [True, True], rtol=1e-14)
    out = F.binary_cross_entropy(cugrad.tensor(p), cugrad.tensor(y), reduction="none").numpy()
    np.testing.assert_allclose(out[:4], [0.0, 100.0, 100.0, 0.0])


@pytest.mark.parametrize("weight_shape", [(3, 4), (4,), (1, 4), (3, 1), ()])
def test_bce_weight_broadcasts_like_torch(weight_shape):
    rng = np.random.default_rng(9)
    p, y, w = rng.uniform(0.05, 0.95, (3, 4)), rng.random((3, 4)), np.asarray(rng.uniform(0, 2, weight_shape))
    for reduction in REDUCTIONS:
        _compare(lambda p, y, w: F.binary_cross_entropy(p, y, weight=w, reduction=reduction),
                 lambda p, y, w: TF.binary_cross_entropy(p, y, weight=w, reduction=reduction), [p, y, w],
                 [True, True, False])
        _compare(lambda p, y, w: nn.BCELoss(weight=w, reduction=reduction)(p, y),
                 lambda p, y, w: torch.nn.BCELoss(weight=w, reduction=reduction)(p, y), [p, y, w],
                 [True, False, False])


def test_bce_gradcheck_two_orders():
    rng = np.random.default_rng(10)
    p, y, w = rng.uniform(0.1, 0.9, (3, 4)), rng.random((3, 4)), rng.uniform(0.5, 2, (4,))
    for reduction in REDUCTIONS:
        gradcheck_two_orders(lambda t: F.binary_cross_entropy(t, cugrad.tensor(y), reduction=reduction), p)
        gradcheck_two_orders(lambda t: F.binary_cross_entropy(cugrad.tensor(p), t, reduction=reduction), y)
    gradcheck_two_orders(lambda t: F.binary_cross_entropy(cugrad.tensor(p), cugrad.tensor(y), weight=t), w)


def test_bce_float32_and_integer_target():
    p = cugrad.tensor(np.array([0.25, 0.5], np.float32))
    out = F.binary_cross_entropy(p, cugrad.tensor(np.array([1, 0])))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.item(), (np.log(4) + np.log(2)) / 2, rtol=1e-6)


@pytest.mark.parametrize("call, error, match", [
    (lambda: F.binary_cross_entropy(cugrad.tensor([0.5, 1.5]), cugrad.tensor([0.0, 1.0])), ValueError,
     r"binary_cross_entropy: prediction must hold probabilities in \[0, 1\], got values in \[0.5, 1.5\]"),
    (lambda: F.binary_cross_entropy(cugrad.tensor([-0.1]), cugrad.tensor([0.0])), ValueError, r"in \[0, 1\]"),
    (lambda: F.binary_cross_entropy(cugrad.tensor([np.nan]), cugrad.tensor([0.0])), ValueError, r"in \[0, 1\]"),
    (lambda: F.binary_cross_entropy(cugrad.tensor([0.5]), cugrad.tensor([0.0, 1.0])), ValueError,
     r"binary_cross_entropy: prediction shape \(1,\) differs from target shape \(2,\)"),
    (lambda: F.binary_cross_entropy(cugrad.tensor([0.5, 0.5]), cugrad.tensor([0.0, 1.0]), weight=cugrad.zeros(3)),
     ValueError, r"binary_cross_entropy: shapes \(3,\) and \(2,\) cannot be broadcast"),
    (lambda: F.binary_cross_entropy(cugrad.tensor([0.5, 0.5]), cugrad.tensor([0.0, 1.0]), weight=cugrad.zeros(2, 2)),
     ValueError, r"binary_cross_entropy: weight of shape \(2, 2\) does not broadcast to the input's shape \(2,\)"),
    (lambda: F.binary_cross_entropy(cugrad.tensor([0.5]), cugrad.tensor([0.0]), weight=2.0), TypeError,
     r"binary_cross_entropy: weight must be a tensor, got float"),
    (lambda: F.binary_cross_entropy(cugrad.tensor([0.5]), cugrad.tensor([0.0]), reduction="avg"), ValueError,
     r"binary_cross_entropy: unknown reduction 'avg'"),
])
def test_bce_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --------------------------------------------------------------------------- with logits: weight, pos_weight

@pytest.mark.parametrize("scale", [1.0, 1000.0])
@pytest.mark.parametrize("pos_shape", [(4,), (3, 4), ()])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_pos_weight_matches_torch(reduction, pos_shape, scale):
    rng = np.random.default_rng(11)
    x, y = rng.standard_normal((3, 4)) * scale, rng.random((3, 4))
    pw, w = np.asarray(rng.uniform(0.2, 4, pos_shape)), rng.uniform(0, 2, (3, 1))
    _compare(lambda x, y, pw: F.binary_cross_entropy_with_logits(x, y, reduction=reduction, pos_weight=pw),
             lambda x, y, pw: TF.binary_cross_entropy_with_logits(x, y, reduction=reduction, pos_weight=pw),
             [x, y, pw], [True, True, False])    # (PyTorch refuses a gradient of pos_weight; gradchecked below)
    _compare(lambda x, y, w, pw: nn.BCEWithLogitsLoss(reduction, weight=w, pos_weight=pw)(x, y),
             lambda x, y, w, pw: torch.nn.BCEWithLogitsLoss(weight=w, reduction=reduction, pos_weight=pw)(x, y),
             [x, y, w, pw], [True, True, False, False])
    out = F.binary_cross_entropy_with_logits(cugrad.tensor(x), cugrad.tensor(y), reduction="none",
                                             pos_weight=cugrad.tensor(pw))
    assert np.isfinite(out.numpy()).all()


def test_bce_with_logits_empty_and_0d_with_weights():
    for shape in [(), (0,), (0, 4)]:
        x, y = np.zeros(shape), np.full(shape, 0.5)
        for reduction in REDUCTIONS:
            _compare(lambda x, y: F.binary_cross_entropy_with_logits(
                         x, y, reduction=reduction, weight=cugrad.tensor(2.0), pos_weight=cugrad.tensor(3.0)),
                     lambda x, y: TF.binary_cross_entropy_with_logits(
                         x, y, reduction=reduction, weight=torch.tensor(2.0), pos_weight=torch.tensor(3.0)),
                     [x, y], [True, True])


def test_bce_with_logits_pos_weight_gradcheck_two_orders():
    rng = np.random.default_rng(12)
    x, y, pw = rng.standard_normal((3, 4)) * 3, rng.random((3, 4)), rng.uniform(0.5, 3, (4,))
    gradcheck_two_orders(lambda t: F.binary_cross_entropy_with_logits(t, cugrad.tensor(y), pos_weight=cugrad.tensor(pw)), x)
    gradcheck_two_orders(lambda t: F.binary_cross_entropy_with_logits(cugrad.tensor(x), t, pos_weight=cugrad.tensor(pw)), y)
    gradcheck_two_orders(lambda t: F.binary_cross_entropy_with_logits(cugrad.tensor(x), cugrad.tensor(y), pos_weight=t), pw)


def test_bce_with_logits_weight_errors():
    x, y = cugrad.zeros(2, 3), cugrad.zeros(2, 3)
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: pos_weight of shape \(2, 2, 3\) does not "
                                         r"broadcast to the input's shape \(2, 3\)"):
        F.binary_cross_entropy_with_logits(x, y, pos_weight=cugrad.zeros(2, 2, 3))
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: shapes \(4,\) and \(2, 3\) cannot be broadcast"):
        F.binary_cross_entropy_with_logits(x, y, pos_weight=cugrad.zeros(4))
    with pytest.raises(TypeError, match="binary_cross_entropy_with_logits: pos_weight must be a tensor, got list"):
        F.binary_cross_entropy_with_logits(x, y, pos_weight=[1.0, 2.0, 3.0])


# --------------------------------------------------------------------------- label_smoothing, ignore_index

def _labels(n, c, ignored=(), ignore_index=-100, seed=0):
    labels = np.random.default_rng(seed).integers(0, c, n)
    labels[list(ignored)] = ignore_index
    return labels


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("n, ignored, ignore_index", [(5, (), -100), (5, (1, 3), -100), (4, (0,), 2), (3, (0, 1, 2), -100),
                                                      (0, (), -100), (1, (), 0)])
def test_cross_entropy_options_match_torch(n, ignored, ignore_index, smoothing, reduction):
    c = 4
    z, t = np.random.default_rng(n).standard_normal((n, c)) * 3, _labels(n, c, ignored, ignore_index)
    _compare(lambda z, t: F.cross_entropy(z, t, reduction=reduction, ignore_index=ignore_index, label_smoothing=smoothing),
             lambda z, t: TF.cross_entropy(z, t, reduction=reduction, ignore_index=ignore_index, label_smoothing=smoothing),
             [z, t], [True, False])
    _compare(lambda z, t: nn.CrossEntropyLoss(reduction, ignore_index=ignore_index, label_smoothing=smoothing)(z, t),
             lambda z, t: torch.nn.CrossEntropyLoss(reduction=reduction, ignore_index=ignore_index,
                                                    label_smoothing=smoothing)(z, t), [z, t], [True, False])


def test_every_label_ignored_gives_nan_mean_and_zero_sum_like_torch():
    z, t = cugrad.tensor(np.ones((3, 2)), requires_grad=True), cugrad.tensor(np.full(3, -100))
    mean = F.cross_entropy(z, t, ignore_index=-100)
    assert np.isnan(mean.item()) and np.isnan(TF.cross_entropy(torch.ones(3, 2), torch.full((3,), -100)).item())
    assert F.cross_entropy(z, t, reduction="sum", ignore_index=-100).item() == 0.0
    total = F.nll_loss(z, t, reduction="sum", ignore_index=-100, label_smoothing=0.3)
    total.backward()
    assert total.item() == 0.0 and (z.grad.numpy() == 0).all()


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_cross_entropy_probability_target_smoothing_matches_torch(smoothing, reduction):
    rng = np.random.default_rng(13)
    z, y = rng.standard_normal((4, 3)), rng.dirichlet(np.ones(3), 4)
    _compare(lambda z, y: F.cross_entropy(z, y, reduction=reduction, label_smoothing=smoothing),
             lambda z, y: TF.cross_entropy(z, y, reduction=reduction, label_smoothing=smoothing), [z, y], [True, True])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ignored", [(), (2,), (0, 1, 2, 3)])
def test_nll_loss_ignore_index_matches_torch(ignored, reduction):
    x, t = np.log(np.random.default_rng(14).dirichlet(np.ones(3), 4)), _labels(4, 3, ignored, -1)
    _compare(lambda x, t: F.nll_loss(x, t, reduction=reduction, ignore_index=-1),
             lambda x, t: TF.nll_loss(x, t, reduction=reduction, ignore_index=-1), [x, t], [True, False])
    _compare(lambda x, t: nn.NLLLoss(reduction, ignore_index=-1)(x, t),
             lambda x, t: torch.nn.NLLLoss(reduction=reduction, ignore_index=-1)(x, t), [x, t], [True, False])


def _t_smoothed_nll(x, t, reduction, ignore_index, eps):
    """cross_entropy's smoothed terms on log-probabilities x, from PyTorch primitives."""
    keep = t != ignore_index
    rows = (1 - eps) * -x.gather(1, torch.where(keep, t, 0)[:, None])[:, 0] - eps * x.sum(1) / x.shape[1]
    rows = torch.where(keep, rows, 0.0)
    return {"none": rows, "sum": rows.sum(), "mean": rows.sum() / keep.sum()}[reduction]


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_label_smoothing_is_cross_entropys_on_log_probabilities(reduction):
    """PyTorch's nll_loss has no label_smoothing; cugrad's gives cross_entropy's terms on the
    log-probabilities x: its values are PyTorch's cross_entropy of x (log_softmax leaves
    log-probabilities as they are), its gradients those of the terms themselves."""
    x, t = np.log(np.random.default_rng(15).dirichlet(np.ones(3), 5)), _labels(5, 3, (1,), 7)
    _compare(lambda x, t: F.nll_loss(x, t, reduction=reduction, ignore_index=7, label_smoothing=0.2),
             lambda x, t: TF.cross_entropy(x, t, reduction=reduction, ignore_index=7, label_smoothing=0.2),
             [x, t], [False, False])
    _compare(lambda x, t: F.nll_loss(x, t, reduction=reduction, ignore_index=7, label_smoothing=0.2),
             lambda x, t: _t_smoothed_nll(x, t, reduction, 7, 0.2), [x, t], [True, False])


def test_options_gradcheck_two_orders():
    z, t = np.random.default_rng(16).standard_normal((4, 3)), cugrad.tensor(_labels(4, 3, (2,), -100))
    for reduction in REDUCTIONS:
        gradcheck_two_orders(lambda v: F.cross_entropy(v, t, reduction=reduction, ignore_index=-100,
                                                       label_smoothing=0.2), z)
        gradcheck_two_orders(lambda v: F.nll_loss(v, t, reduction=reduction, ignore_index=-100,
                                                  label_smoothing=0.3), z)


def test_plain_cross_entropy_keeps_the_fused_op():
    z, t = cugrad.tensor(np.zeros((2, 3)), requires_grad=True), cugrad.tensor(np.array([0, 2]))
    assert type(F.cross_entropy(z, t).grad_fn).__name__ == "SoftmaxCrossEntropy"
    assert type(F.cross_entropy(z, t, label_smoothing=0.1).grad_fn).__name__ != "SoftmaxCrossEntropy"


@pytest.mark.parametrize("call, error, match", [
    (lambda z, t: F.cross_entropy(z, t), ValueError,
     r"cross_entropy: labels must lie in \[0, 3\), got values in \[-100, 2\] \(-100 is PyTorch's default ignore_index: "
     r"pass ignore_index=-100"),
    (lambda z, t: F.cross_entropy(z, t, ignore_index=2), ValueError,
     r"cross_entropy: labels must lie in \[0, 3\), got values in \[-100, 1\]$"),
    (lambda z, t: F.nll_loss(z, t, ignore_index=-100, label_smoothing=-0.1), ValueError,
     r"nll_loss: label_smoothing must be a number in \[0, 1\], got -0.1"),
    (lambda z, t: F.cross_entropy(z, t, ignore_index=-100, label_smoothing=1.5), ValueError,
     r"cross_entropy: label_smoothing must be a number in \[0, 1\], got 1.5"),
    (lambda z, t: F.cross_entropy(z, t, ignore_index=-100.0), TypeError,
     r"cross_entropy: ignore_index must be an integer or None, got -100.0"),
    (lambda z, t: F.cross_entropy(z, cugrad.tensor(np.full((3, 3), 1 / 3)), ignore_index=0), ValueError,
     r"cross_entropy: ignore_index applies to integer labels, not to a probability target \(float64 of shape \(3, 3\)\)"),
    (lambda z, t: nn.NLLLoss(ignore_index=5)(z, t), ValueError, r"nll_loss: labels must lie in \[0, 3\)"),
])
def test_option_errors(call, error, match):
    z, t = cugrad.tensor(np.zeros((3, 3)), requires_grad=True), cugrad.tensor(np.array([-100, 1, 2]))
    with pytest.raises(error, match=match):
        call(z, t)
