"""pad (ops/padding.py) against PyTorch CPU: values and gradients in float64 in each mode, widths on
one to three dims, negative widths (cropping, constant mode), a value, 0-d, empty and non-contiguous inputs;
gradchecks of both orders; the nn.functional name; and the errors."""
from __future__ import annotations

import numpy as np
import pytest

import cugrad
from cugrad.nn import functional as F
from gradchecks import gradcheck_two_orders

torch = pytest.importorskip("torch")
TF = torch.nn.functional

X = np.random.default_rng(17).standard_normal((2, 3, 4, 5))


def _compare(x, *args, **kwargs):
    c, t = cugrad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, t_out = F.pad(c, *args, **kwargs), TF.pad(t, *args, **kwargs)
    np.testing.assert_array_equal(out.numpy(), t_out.detach().numpy())
    cot = np.random.default_rng(1).standard_normal(tuple(t_out.shape))
    t_out.backward(torch.tensor(cot))
    (out * cugrad.tensor(cot)).sum().backward()
    np.testing.assert_allclose(c.grad.numpy(), t.grad.numpy(), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("pad", [(1, 2), (0, 0, 3, 1), (2, 1, 0, 1, 1, 0), (1, 1, 1, 1, 1, 1, 1, 1),
                                 (-1, 2), (-2, -3, 1, -1), (0, -5)])
@pytest.mark.parametrize("value", [None, 0.0, -2.5])
def test_constant_matches_torch(pad, value):
    _compare(X, pad, "constant", value)


def test_constant_on_0d_empty_and_strided_tensors():
    _compare(np.array(1.5), ())
    _compare(np.zeros((0, 3)), (1, 1, 2, 0), value=4.0)
    _compare(X[:, ::2, :, 1:].transpose(0, 2, 1, 3), (1, -1, 0, 2))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad, shape", [((1, 3), (2, 3, 5)), ((2, 0, 1, 3), (1, 2, 4, 5)),
                                        ((1, 1, 0, 2, 2, 1), (1, 2, 3, 4, 5)), ((3, 2), (3, 4))])
def test_other_modes_match_torch(mode, pad, shape):
    x = X.reshape(-1)[:int(np.prod(shape))].reshape(shape)
    _compare(x, pad, mode)
    _compare(np.asarray(x.T).T, pad, mode=mode)      # (a column-major copy)


def test_other_modes_on_any_number_of_leading_dims():
    """PyTorch's reflect takes 2 or 3 dims for a pad of one dim; cugrad any number (the reference
    pads the 2-d rows and reshapes back)."""
    for mode in ("reflect", "replicate", "circular"):
        out = F.pad(cugrad.tensor(X), (2, 1), mode=mode)
        expected = TF.pad(torch.tensor(X.reshape(-1, 5)), (2, 1), mode=mode).reshape(2, 3, 4, 8)
        np.testing.assert_array_equal(out.numpy(), expected.numpy())
        np.testing.assert_array_equal(F.pad(cugrad.tensor(X[0, 0, 0]), (2, 1), mode=mode).numpy(),
                                      np.pad(X[0, 0, 0], (2, 1), mode={"reflect": "reflect", "replicate": "edge",
                                                                      "circular": "wrap"}[mode]))


def test_gradchecks_two_orders():
    x = np.random.default_rng(4).standard_normal((2, 4))
    for mode in ("constant", "reflect", "replicate", "circular"):
        gradcheck_two_orders(lambda t: F.pad(t, (2, 1, 1, 0), mode=mode), x, power=3)
    gradcheck_two_orders(lambda t: F.pad(t, (-1, 2), value=1.5), x, power=3)


def test_errors():
    x = cugrad.tensor(X)
    with pytest.raises(ValueError, match="pad: unknown mode 'mirror'; the modes are constant, reflect, replicate"):
        F.pad(x, (1, 1), mode="mirror")
    with pytest.raises(ValueError, match=r"pad: pad \(1, 1, 1\) must hold an even number of widths"):
        F.pad(x, (1, 1, 1))
    with pytest.raises(ValueError, match=r"pad: pad \(1, 1, 1, 1, 1, 1, 1, 1, 1, 1\) must hold .* at most 2 per dim of shape"):
        F.pad(x, (1,) * 10)
    with pytest.raises(TypeError, match=r"pad: pad must be a sequence of ints, got \(1.5, 1\)"):
        F.pad(x, (1.5, 1))
    with pytest.raises(ValueError, match=r"pad: widths \(-3, -3\) crop more than dim 3 of shape \(2, 3, 4, 5\) holds"):
        F.pad(x, (-3, -3))
    with pytest.raises(ValueError, match=r"pad: reflect widths \(5, 0\) do not fit dim 3 of shape \(2, 3, 4, 5\)"):
        F.pad(x, (5, 0), mode="reflect")
    with pytest.raises(ValueError, match=r"pad: circular widths \(0, 6\) do not fit dim 3"):
        F.pad(x, (0, 6), mode="circular")
    with pytest.raises(ValueError, match=r"pad: negative widths crop in constant mode only; got \(-2, 4\) for dim 3 in "
                                         "circular mode"):
        F.pad(x, (-2, 4), mode="circular")
    with pytest.raises(ValueError, match=r"pad: replicate widths \(1, 0\) do not fit dim 1 of shape \(2, 0\)"):
        F.pad(cugrad.tensor(np.zeros((2, 0))), (1, 0), mode="replicate")
    with pytest.raises(ValueError, match="pad: mode 'reflect' takes no value"):
        F.pad(x, (1, 1), mode="reflect", value=1.0)
