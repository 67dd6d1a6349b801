"""sort and topk (ops/sorting.py) against PyTorch CPU: values, indices and gradients in float64 over
dims (negative too), both directions, ties (stable order), NaN, 0-d, empty and non-contiguous
inputs, every k; gradchecks of both orders; the Tensor methods and cugrad names; and the errors."""
from __future__ import annotations

import numpy as np
import pytest

import cugrad
from cugrad import ops
from gradchecks import gradcheck_two_orders

torch = pytest.importorskip("torch")

TIES = np.random.default_rng(4).integers(-2, 3, (3, 4, 5)).astype(np.float64)


def _compare(fn_c, fn_t, x):
    """(values, indices) and the gradient of Σ values · c in both libraries."""
    c, t = cugrad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (values, indices), (t_values, t_indices) = fn_c(c), fn_t(t)
    np.testing.assert_array_equal(values.numpy(), t_values.detach().numpy())
    np.testing.assert_array_equal(indices.numpy(), t_indices.numpy())
    assert indices.dtype == np.int64 and not indices.requires_grad
    cot = np.random.default_rng(2).standard_normal(tuple(t_values.shape))
    t_values.backward(torch.tensor(cot))
    (values * cugrad.tensor(cot)).sum().backward()
    np.testing.assert_array_equal(c.grad.numpy(), t.grad.numpy())


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("dim", [0, 1, 2, -1, -2])
def test_sort_with_ties_matches_torch_stable_sort(dim, descending):
    _compare(lambda x: x.sort(dim, descending), lambda x: x.sort(dim=dim, descending=descending, stable=True), TIES)


@pytest.mark.parametrize("descending", [False, True])
def test_sort_puts_nan_above_every_number(descending):
    x = np.array([[1.0, np.nan, -np.inf, 1.0, np.nan, np.inf, 0.0]])
    _compare(lambda x: cugrad.sort(x, -1, descending), lambda x: torch.sort(x, dim=-1, descending=descending, stable=True), x)


@pytest.mark.parametrize("x", [np.array(1.5), np.zeros((0, 3)), np.zeros((3, 0)),
                               (np.random.default_rng(3).permutation(40).reshape(5, 8) / 3.0).T[::2]],
                         ids=["0-d", "empty rows", "empty dim", "strided"])   # (distinct values: see topk's ties test)
def test_sort_and_topk_edges(x):
    _compare(lambda x: ops.sort(x, -1), lambda x: torch.sort(x, dim=-1, stable=True), x)
    _compare(lambda x: ops.sort(x, 0, descending=True), lambda x: torch.sort(x, dim=0, descending=True, stable=True), x)
    n = x.shape[-1] if x.ndim else 1
    for k in range(n + 1):
        _compare(lambda x: ops.topk(x, k), lambda x: torch.topk(x, k), x)


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_topk_matches_torch(dim, largest):
    x = np.random.default_rng(dim + 5).permutation(60).reshape(3, 4, 5) / 7.0     # distinct values
    for k in range(x.shape[dim] + 1):
        _compare(lambda c: c.topk(k, dim, largest), lambda t: t.topk(k, dim, largest), x)


def test_topk_of_ties_keeps_the_first_of_equal_elements():
    values, indices = cugrad.topk(cugrad.tensor([1.0, 3.0, 2.0, 3.0, 1.0]), 3)
    np.testing.assert_array_equal(indices.numpy(), [1, 3, 2])
    values, indices = cugrad.topk(cugrad.tensor([1.0, 3.0, 2.0, 3.0, 1.0]), 2, largest=False)
    np.testing.assert_array_equal(indices.numpy(), [0, 4])


def test_sort_of_integers_and_bools():
    x = np.array([[3, -1, 3, 0], [1, 1, 0, 2]])
    for dtype in ("int64", "int32", "bool"):
        values, indices = cugrad.tensor(x, dtype=dtype).sort(1, descending=True)
        t_values, t_indices = torch.tensor(x).to(getattr(torch, dtype)).sort(dim=1, descending=True, stable=True)
        np.testing.assert_array_equal(values.numpy(), t_values.numpy())
        np.testing.assert_array_equal(indices.numpy(), t_indices.numpy())


def test_gradchecks_two_orders():
    x = np.random.default_rng(8).permutation(12).reshape(3, 4) / 5.0
    gradcheck_two_orders(lambda t: t.sort(1, descending=True)[0], x, power=3)
    gradcheck_two_orders(lambda t: t.topk(2, 0)[0], x, power=3)


def test_errors():
    x = cugrad.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"topk: k=4 is out of range \[0, 3\] for dim 1 of shape \(2, 3\)"):
        x.topk(4, 1)
    with pytest.raises(ValueError, match=r"topk: k=-1 is out of range"):
        x.topk(-1)
    with pytest.raises(TypeError, match="topk: k must be an int, got float"):
        x.topk(1.0)
    with pytest.raises(IndexError, match="sort: axis 2 is out of range for a 2-d tensor"):
        x.sort(2)
    with pytest.raises(IndexError, match="topk: axis -3 is out of range for a 2-d tensor"):
        x.topk(1, -3)
