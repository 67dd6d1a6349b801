"""gradcheck itself: it passes correct gradients and catches a wrong one, naming where."""
import numpy as np
import pytest

import cugrad
from cugrad import Function, GradcheckError


class _WrongSquare(Function):
    """y = x², with a backward that is wrong at one element (to prove gradcheck notices)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        grad = 2 * x * g
        grad.reshape(-1)[-1] += 0.5
        return grad


def test_a_correct_gradient_passes_in_float64_even_from_float32_inputs():
    x = cugrad.randn(3, 4, requires_grad=True)  # float32: gradcheck works on float64 copies
    y = cugrad.randn(4, 2, dtype="float64", requires_grad=True)
    assert cugrad.gradcheck(lambda a, b: (a @ b).tanh(), [x, y]) is True
    assert x.grad is None and y.grad is None  # gradcheck does not touch .grad


def test_a_wrong_gradient_is_caught_and_located():
    x = cugrad.randn(2, 3, dtype="float64", requires_grad=True)
    with pytest.raises(GradcheckError, match=r"input 0 \(shape \(2, 3\)\), element \(1, 2\)"):
        cugrad.gradcheck(lambda a: _WrongSquare.apply(a).sum(), [x])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_non_contiguous_inputs_are_perturbed_and_left_untouched(dtype):
    """A transposed (Fortran-ordered) leaf: the finite differences see its perturbations, and
    the caller's array is never written."""
    data = np.asfortranarray(np.arange(1.0, 7.0).reshape(2, 3)).astype(dtype, order="K")
    x = cugrad.tensor(data, requires_grad=True)
    kept = x.numpy().copy()
    assert cugrad.gradcheck(lambda a: (a * a * a).sum(), [x]) is True
    with pytest.raises(GradcheckError, match="element"):
        cugrad.gradcheck(lambda a: _WrongSquare.apply(a).sum(), [x])
    np.testing.assert_array_equal(x.numpy(), kept)


def test_only_inputs_that_require_grad_are_checked():
    x = cugrad.randn(3, dtype="float64", requires_grad=True)
    wrong_but_constant = cugrad.randn(3, dtype="float64")
    assert cugrad.gradcheck(lambda a, b: (a * _WrongSquare.apply(b)).sum(), [x, wrong_but_constant])
    with pytest.raises(ValueError, match="no input requires grad"):
        cugrad.gradcheck(lambda a: a.sum(), [wrong_but_constant])


def test_relative_error_is_the_seeds_formula():
    # backprop 1.0 vs finite difference 1.0 + d: relative error d / (2 + d) must beat rtol=1e-3
    class Off(Function):
        @staticmethod
        def forward(ctx, x):
            return x.copy()

        @staticmethod
        def backward(ctx, g):
            return g * 1.003

    x = cugrad.tensor([1.0], dtype="float64", requires_grad=True)
    with pytest.raises(GradcheckError, match="relative error 0.0015"):
        cugrad.gradcheck(lambda a: Off.apply(a).sum(), [x], atol=1e-6)
    assert cugrad.gradcheck(lambda a: Off.apply(a).sum(), [x], atol=1e-6, rtol=2e-3)
