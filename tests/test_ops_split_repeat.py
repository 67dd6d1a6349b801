"""split, chunk, repeat and tile (ops/shape.py) against PyTorch CPU: values and gradients in float64
over dims (negative too), uneven and zero-size pieces, unused pieces, 0-d, empty and non-contiguous
inputs; gradchecks of both orders; the Tensor methods and cugrad names; and the errors."""
from __future__ import annotations

import numpy as np
import pytest

import cugrad
from cugrad import ops
from gradchecks import gradcheck_two_orders

torch = pytest.importorskip("torch")

X = np.random.default_rng(16).standard_normal((3, 5, 4))


def _pieces(fn_c, fn_t, x, used=slice(None)):
    """The pieces in both libraries, and the gradient of Σ (used pieces) · c."""
    c, t = cugrad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    pieces, t_pieces = fn_c(c), fn_t(t)
    assert isinstance(pieces, tuple) and len(pieces) == len(t_pieces)
    for p, tp in zip(pieces, t_pieces):
        np.testing.assert_array_equal(p.numpy(), tp.detach().numpy())
    rng = np.random.default_rng(0)
    total, t_total = 0.0, 0.0
    for p, tp in list(zip(pieces, t_pieces))[used]:
        cot = rng.standard_normal(tuple(tp.shape))
        total, t_total = total + (p * cugrad.tensor(cot)).sum(), t_total + (tp * torch.tensor(cot)).sum()
    if isinstance(t_total, float):
        return
    t_total.backward()
    total.backward()
    np.testing.assert_array_equal(c.grad.numpy(), t.grad.numpy())


@pytest.mark.parametrize("how", [1, 2, 3, 5, 7, [5], [2, 0, 3], [0, 5, 0]])
@pytest.mark.parametrize("used", [slice(None), slice(None, None, 2), slice(-1, None)])
def test_split_matches_torch(how, used):
    _pieces(lambda x: x.split(how, 1), lambda x: x.split(how, 1), X, used)
    _pieces(lambda x: cugrad.split(x, how, dim=-2), lambda x: torch.split(x, how, dim=-2), X, used)


@pytest.mark.parametrize("chunks", [1, 2, 3, 4, 5, 6])
def test_chunk_matches_torch(chunks):
    """Uneven chunks (⌈5/3⌉ = 2: 2, 2, 1) and fewer pieces than asked (6 into 4: 2, 2, 2)."""
    _pieces(lambda x: x.chunk(chunks, 1), lambda x: x.chunk(chunks, 1), X, slice(None, None, 2))
    _pieces(lambda x: ops.chunk(x, chunks, -1), lambda x: torch.chunk(x, chunks, -1), X)


def test_split_and_chunk_of_empty_and_strided_tensors():
    _pieces(lambda x: x.split(2, 0), lambda x: x.split(2, 0), np.zeros((0, 3)))
    _pieces(lambda x: x.split(0, 0), lambda x: x.split(0, 0), np.zeros((0, 3)))
    _pieces(lambda x: x.chunk(3, 0), lambda x: x.chunk(3, 0), np.zeros((0, 3)))
    _pieces(lambda x: x.T[::2].split([2, 3], 1), lambda x: x.T[::2].split([2, 3], 1), X[0])


@pytest.mark.parametrize("sizes", [(2, 1, 3), (1, 1, 1), (2, 0, 1), (2, 3, 1, 2), ((2, 2, 2),)])
def test_repeat_matches_torch(sizes):
    c, t = cugrad.tensor(X, requires_grad=True), torch.tensor(X, requires_grad=True)
    out, t_out = c.repeat(*sizes), t.repeat(*sizes)
    np.testing.assert_array_equal(out.numpy(), t_out.detach().numpy())
    cot = np.random.default_rng(1).standard_normal(tuple(t_out.shape))
    t_out.backward(torch.tensor(cot))
    (out * cugrad.tensor(cot)).sum().backward()
    np.testing.assert_allclose(c.grad.numpy(), t.grad.numpy(), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("x", [np.array(2.0), np.zeros((0, 2)), X[:, ::2, 1:], X[0].T])
@pytest.mark.parametrize("reps", [(), (2,), (3, 1), (1, 2, 2, 2), 2])
def test_tile_matches_torch_and_numpy(x, reps):
    c, t = cugrad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = cugrad.tile(c, reps)
    t_out = torch.tile(t, reps if isinstance(reps, tuple) else (reps,))
    np.testing.assert_array_equal(out.numpy(), t_out.detach().numpy())
    np.testing.assert_array_equal(out.numpy(), np.tile(x, reps))
    cot = np.random.default_rng(1).standard_normal(tuple(t_out.shape))
    t_out.backward(torch.tensor(cot))
    (out * cugrad.tensor(cot)).sum().backward()
    np.testing.assert_allclose(c.grad.numpy(), t.grad.numpy(), rtol=1e-14, atol=1e-15)


def test_repeat_of_a_0d_tensor():
    np.testing.assert_array_equal(cugrad.tensor(2.0).repeat(()).numpy(), torch.tensor(2.0).repeat(()).numpy())
    np.testing.assert_array_equal(cugrad.tensor(2.0).repeat(3, 1).numpy(), torch.tensor(2.0).repeat(3, 1).numpy())


def test_gradchecks_two_orders():
    x = np.random.default_rng(9).standard_normal((2, 5))
    gradcheck_two_orders(lambda t: t.split([2, 3], 1)[1], x, power=3)
    gradcheck_two_orders(lambda t: t.chunk(2, 1)[0][:, 1:] * t.chunk(2, 1)[1], x, power=3)
    gradcheck_two_orders(lambda t: t.repeat(2, 1, 2), x, power=3)
    gradcheck_two_orders(lambda t: cugrad.tile(t, (3, 1)), x, power=3)


def test_errors():
    x = cugrad.tensor(X)
    with pytest.raises(ValueError, match=r"split: sizes \(2, 2\) do not sum to the size 5 of dim 1 of shape \(3, 5, 4\)"):
        x.split([2, 2], 1)
    with pytest.raises(ValueError, match=r"split: sizes must be non-negative, got \(2, -1, 4\)"):
        x.split([2, -1, 4], 1)
    with pytest.raises(ValueError, match="split: split size 0 cannot cut dim 0 of size 3"):
        x.split(0)
    with pytest.raises(TypeError, match="split: sizes must be ints, got 1.5"):
        x.split(1.5)
    with pytest.raises(ValueError, match="split: a 0-d tensor has no dim to cut"):
        cugrad.tensor(1.0).split(1)
    with pytest.raises(IndexError, match="split: axis 3 is out of range for a 3-d tensor"):
        x.split(1, 3)
    with pytest.raises(ValueError, match="chunk: chunks must be at least 1, got 0"):
        x.chunk(0)
    with pytest.raises(ValueError, match=r"chunk: sizes must be non-negative, got \(-2,\)"):
        x.chunk(-2)
    with pytest.raises(ValueError, match=r"repeat: 2 sizes \(2, 2\) for a tensor of shape \(3, 5, 4\)"):
        x.repeat(2, 2)
    with pytest.raises(ValueError, match=r"repeat: sizes must be non-negative, got \(1, -1, 1\)"):
        x.repeat(1, -1, 1)
    with pytest.raises(TypeError, match="repeat: missing the sizes"):
        x.repeat()
    with pytest.raises(ValueError, match=r"tile: sizes must be non-negative, got \(-1,\)"):
        cugrad.tile(x, -1)
    with pytest.raises(TypeError, match="tile: sizes must be ints, got True"):
        cugrad.tile(x, (True,))
