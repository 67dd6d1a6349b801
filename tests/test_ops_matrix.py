"""tril, triu and diagonal (ops/matrix.py), and clamp (clip's PyTorch name), against PyTorch CPU:
values and gradients in float64 over diagonals and dims (negative too), batches, non-square, empty
and non-contiguous inputs, NaN above the diagonal; gradchecks of both orders; the Tensor methods
and cugrad names; the GPU path of the stand-in's tril/triu; and the errors."""
from __future__ import annotations

import numpy as np
import pytest

import cugrad
from cugrad import ops
from gradchecks import gradcheck_two_orders

torch = pytest.importorskip("torch")

X = np.random.default_rng(18).standard_normal((2, 3, 4, 5))


def _compare(fn_c, fn_t, x):
    c, t = cugrad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, t_out = fn_c(c), fn_t(t)
    np.testing.assert_array_equal(out.numpy(), t_out.detach().numpy())
    cot = np.random.default_rng(1).standard_normal(tuple(t_out.shape))
    t_out.backward(torch.tensor(cot))
    (out * cugrad.tensor(cot)).sum().backward()
    np.testing.assert_array_equal(c.grad.numpy(), t.grad.numpy())


@pytest.mark.parametrize("k", [-5, -1, 0, 2, 6])
@pytest.mark.parametrize("x", [X, X[0, 0], X[0, :, ::2].T, np.zeros((3, 0)), np.zeros((0, 2, 2))],
                         ids=["batch", "matrix", "strided", "empty", "empty batch"])
def test_tril_triu_match_torch(x, k):
    _compare(lambda c: c.tril(k), lambda t: t.tril(k), x)
    _compare(lambda c: cugrad.triu(c, diagonal=k), lambda t: torch.triu(t, diagonal=k), x)


def test_tril_zeroes_nan_above_the_diagonal():
    x = np.full((3, 3), np.nan)
    np.testing.assert_array_equal(ops.tril(cugrad.tensor(x)).numpy(), torch.tril(torch.tensor(x)).numpy())


@pytest.mark.parametrize("offset", [-4, -1, 0, 1, 3, 7])
@pytest.mark.parametrize("dims", [(0, 1), (1, 0), (-1, -2), (0, 3), (2, -1), (3, 1)])
def test_diagonal_matches_torch(offset, dims):
    _compare(lambda c: c.diagonal(offset, *dims), lambda t: t.diagonal(offset, *dims), X)


def test_diagonal_of_matrix_empty_and_strided_tensors():
    _compare(lambda c: cugrad.diagonal(c), lambda t: torch.diagonal(t), X[0, 0])
    _compare(lambda c: c.diagonal(1), lambda t: t.diagonal(1), np.zeros((0, 3)))
    _compare(lambda c: c.diagonal(-1, 0, 2), lambda t: t.diagonal(-1, 0, 2), X[0, :, ::2].T)


def test_clamp_is_clip():
    """clamp is clip under PyTorch's name: the same op, min= and max= keywords, the same rule."""
    assert ops.clamp is ops.clip and cugrad.clamp is cugrad.clip
    x = np.linspace(-2, 2, 9)
    _compare(lambda c: c.clamp(min=-1.0), lambda t: t.clamp(min=-1.0), x)
    _compare(lambda c: c.clamp(max=0.5), lambda t: t.clamp(max=0.5), x)
    _compare(lambda c: cugrad.clamp(c, -0.5, 1.0), lambda t: torch.clamp(t, -0.5, 1.0), x)
    _compare(lambda c: c.clamp(1.0, -1.0), lambda t: t.clamp(1.0, -1.0), x)      # min > max: max
    with pytest.raises(ValueError, match=r"^clip: needs min or max .*clamp is clip's PyTorch name"):
        cugrad.tensor(x).clamp()


def test_gradchecks_two_orders():
    x = np.random.default_rng(6).standard_normal((2, 3, 4))
    gradcheck_two_orders(lambda t: t.tril(1), x, power=3)
    gradcheck_two_orders(lambda t: t.triu(-1), x, power=3)
    gradcheck_two_orders(lambda t: t.diagonal(1, 2, 0), x, power=3)


def test_errors():
    x = cugrad.tensor(X)
    with pytest.raises(ValueError, match=r"tril: needs a matrix or a batch of them \(2 or more dims\), got shape \(5,\)"):
        cugrad.tensor(X[0, 0, 0]).tril()
    with pytest.raises(ValueError, match=r"triu: needs a matrix .* got shape \(\)"):
        cugrad.tensor(1.0).triu()
    with pytest.raises(TypeError, match="tril: diagonal must be an int, got float"):
        x.tril(0.5)
    with pytest.raises(ValueError, match=r"diagonal: dim1 and dim2 name the same dim \(1, -3\) of a 4-d tensor"):
        x.diagonal(0, 1, -3)
    with pytest.raises(IndexError, match="diagonal: axis 4 is out of range for a 4-d tensor"):
        x.diagonal(0, 0, 4)
    with pytest.raises(IndexError, match="diagonal: axis 1 is out of range for a 1-d tensor"):
        cugrad.tensor(X[0, 0, 0]).diagonal()


@pytest.mark.gpu
def test_stand_in_tril_triu_argsort_follow_cupy():
    """The stand-in's cupy.tril/triu (a triangle over the last two dims of a batch) and argsort
    (stable; kind other than None/'stable' refused, as CuPy 14.2's core.pyx _check_kind_sort)."""
    import cupy
    a = cupy.asarray(X)
    np.testing.assert_array_equal(cupy.tril(a, 1).get(), np.tril(X, 1))
    np.testing.assert_array_equal(cupy.triu(a, -2).get(), np.triu(X, -2))
    ties = cupy.asarray(np.array([2.0, 1.0, 2.0, np.nan, 1.0]))
    np.testing.assert_array_equal(cupy.argsort(ties).get(), [1, 4, 0, 2, 3])
    np.testing.assert_array_equal(ties.argsort(kind="stable").get(), [1, 4, 0, 2, 3])
    with pytest.raises(ValueError, match="kind can only be None or 'stable'"):
        cupy.argsort(ties, kind="quicksort")
