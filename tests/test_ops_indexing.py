"""gather, scatter_add and one_hot (ops/indexing.py) against PyTorch CPU: values and gradients in
float64 over dims (negative too), repeated indices, 0-d, empty and non-contiguous inputs, a src
larger than the index; gradchecks of both orders; the Tensor methods, cugrad and nn.functional
names; and the errors."""
from __future__ import annotations

import numpy as np
import pytest

import cugrad
from cugrad import ops
from cugrad.nn import functional as F
from gradchecks import gradcheck_two_orders

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(15)
X = RNG.standard_normal((3, 4, 5))


def _grads(fn_c, fn_t, *arrays):
    """Value and input gradients of fn(*arrays) · c in both libraries, for a random cotangent c."""
    cs = [cugrad.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    tout = fn_t(*ts)
    cot = np.random.default_rng(1).standard_normal(tuple(tout.shape))
    tout.backward(torch.tensor(cot))
    out = fn_c(*cs)
    (out * cugrad.tensor(cot)).sum().backward()
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-15, atol=0)
    for c, t in zip(cs, ts):
        np.testing.assert_allclose(c.grad.numpy(), t.grad.numpy(), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
@pytest.mark.parametrize("index_shape", [(3, 4, 5), (2, 3, 7), (1, 1, 1), (0, 2, 2)])
def test_gather_matches_torch(dim, index_shape):
    shape = [min(n, m) for n, m in zip(index_shape, X.shape)]
    shape[dim] = index_shape[dim]
    index = np.random.default_rng(dim + 7).integers(0, X.shape[dim], shape)   # repeats included
    _grads(lambda x: x.gather(dim, cugrad.tensor(index)), lambda x: x.gather(dim, torch.tensor(index)), X)


def test_gather_of_a_non_contiguous_view_and_a_numpy_index():
    index = np.array([[0, 0], [1, 0], [1, 1]])
    _grads(lambda x: ops.gather(x.T[:, ::2], 1, index), lambda x: torch.gather(x.T[:, ::2], 1, torch.tensor(index)),
           RNG.standard_normal((4, 3)))


def test_gather_and_scatter_add_on_a_0d_tensor():
    _grads(lambda x: cugrad.gather(x, 0, cugrad.tensor(np.array(0))),
           lambda x: torch.gather(x, 0, torch.tensor(0)), np.array(2.5))
    _grads(lambda x, s: cugrad.scatter_add(x, -1, cugrad.tensor(np.array(0)), s),
           lambda x, s: torch.scatter_add(x, -1, torch.tensor(0), s), np.array(2.5), np.array(-1.0))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter_add_matches_torch(dim):
    index = np.random.default_rng(dim + 3).integers(0, X.shape[dim], (3, 2, 2))   # repeats add up
    src = RNG.standard_normal((3, 2, 2))
    _grads(lambda x, s: x.scatter_add(dim, cugrad.tensor(index), s),
           lambda x, s: x.scatter_add(dim, torch.tensor(index), s), X, src)


def test_scatter_add_uses_only_the_index_shaped_part_of_src():
    """src larger than index: the rest gets a zero gradient (PyTorch's own backward refuses this
    case, so the reference is its forward with a sliced src)."""
    index = np.array([[1, 0], [3, 3]])
    src = RNG.standard_normal((3, 4))
    x = cugrad.tensor(X[0], requires_grad=True)
    s = cugrad.tensor(src, requires_grad=True)
    out = x.scatter_add(0, cugrad.tensor(index), s)
    expected = torch.tensor(X[0]).scatter_add(0, torch.tensor(index), torch.tensor(src[:2, :2]))
    np.testing.assert_array_equal(out.numpy(), expected.numpy())
    (out * cugrad.tensor(np.arange(20.0).reshape(4, 5))).sum().backward()
    grad = np.zeros((3, 4))
    grad[:2, :2] = np.arange(20.0).reshape(4, 5)[index, [[0, 1], [0, 1]]]
    np.testing.assert_array_equal(s.grad.numpy(), grad)
    np.testing.assert_array_equal(x.grad.numpy(), np.arange(20.0).reshape(4, 5))


def test_scatter_add_with_an_empty_index_is_x():
    x = cugrad.tensor(X, requires_grad=True)
    out = cugrad.scatter_add(x, 1, cugrad.tensor(np.zeros((3, 0, 5), np.int64)), cugrad.tensor(np.zeros((3, 0, 5))))
    np.testing.assert_array_equal(out.numpy(), X)


def test_gradchecks_two_orders():
    index = np.array([[2, 0, 2, 1], [1, 1, 0, 0]])
    gradcheck_two_orders(lambda t: t.gather(1, cugrad.tensor(index)), RNG.standard_normal((2, 3)), power=3)
    src = RNG.standard_normal((2, 4))
    gradcheck_two_orders(lambda t: t.scatter_add(1, cugrad.tensor(index), cugrad.tensor(src)),
                         RNG.standard_normal((2, 3)), power=3)
    gradcheck_two_orders(lambda s: cugrad.tensor(np.ones((2, 3))).scatter_add(1, cugrad.tensor(index), s), src,
                         power=3)


@pytest.mark.parametrize("shape, num_classes", [(shape, n) for shape in [(), (5,), (2, 3), (0, 2)]
                                                 for n in [-1, 4, 7] if shape != (0, 2) or n != -1])
def test_one_hot_matches_torch(shape, num_classes):
    index = np.random.default_rng(len(shape)).integers(0, 4, shape)
    out = F.one_hot(cugrad.tensor(index), num_classes)
    expected = torch.nn.functional.one_hot(torch.tensor(index), num_classes)
    assert out.dtype == np.int64 and not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), expected.numpy())
    np.testing.assert_array_equal(ops.one_hot(index, num_classes).numpy(), expected.numpy())


def test_one_hot_errors():
    with pytest.raises(ValueError, match=r"one_hot: index 4 is out of range \[0, 3\) for num_classes=3"):
        F.one_hot(cugrad.tensor(np.array([0, 4])), 3)
    with pytest.raises(ValueError, match=r"one_hot: index -1 is out of range"):
        F.one_hot(cugrad.tensor(np.array([0, -1])))
    with pytest.raises(ValueError, match="one_hot: cannot infer num_classes from an empty index"):
        F.one_hot(cugrad.tensor(np.zeros(0, np.int64)))
    with pytest.raises(ValueError, match="one_hot: num_classes must be positive"):
        F.one_hot(cugrad.tensor(np.array([0])), 0)
    with pytest.raises(TypeError, match="one_hot: index must hold integers, got dtype float32"):
        F.one_hot(cugrad.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="one_hot: num_classes must be an int"):
        F.one_hot(cugrad.tensor(np.array([0])), 2.0)


def test_gather_and_scatter_add_errors():
    x, index = cugrad.tensor(X), cugrad.tensor(np.zeros((3, 4, 5), np.int64))
    with pytest.raises(IndexError, match=r"gather: index 4 is out of range \[0, 4\) for dim 1 of shape \(3, 4, 5\)"):
        x.gather(1, cugrad.tensor(np.full((1, 1, 1), 4)))
    with pytest.raises(IndexError, match=r"gather: index -1 is out of range"):
        x.gather(-1, cugrad.tensor(np.full((1, 1, 1), -1)))
    with pytest.raises(IndexError, match="gather: axis 3 is out of range for a 3-d tensor"):
        x.gather(3, index)
    with pytest.raises(TypeError, match="gather: index must hold integers, got dtype float32"):
        x.gather(0, cugrad.tensor(np.zeros((3, 4, 5), np.float32)))
    with pytest.raises(TypeError, match="gather: index must be an integer tensor, got list"):
        x.gather(0, [[[0]]])
    with pytest.raises(ValueError, match=r"gather: index has 2 dims and x 3 \(shapes \(3, 4\) and \(3, 4, 5\)\)"):
        x.gather(0, cugrad.tensor(np.zeros((3, 4), np.int64)))
    with pytest.raises(ValueError, match=r"gather: index shape \(3, 5, 5\) exceeds x's shape \(3, 4, 5\) at dim 1"):
        x.gather(0, cugrad.tensor(np.zeros((3, 5, 5), np.int64)))
    with pytest.raises(TypeError, match="scatter_add: src has dtype float32 and x float64"):
        cugrad.tensor(X, dtype="float64").scatter_add(0, index, cugrad.tensor(X, dtype="float32"))
    with pytest.raises(ValueError, match=r"scatter_add: index shape \(3, 4, 5\) exceeds src's shape \(3, 4, 4\)"):
        x.scatter_add(0, index, cugrad.tensor(np.zeros((3, 4, 4))))
    with pytest.raises(IndexError, match=r"scatter_add: index 3 is out of range \[0, 3\) for dim 0"):
        x.scatter_add(0, cugrad.tensor(np.full((1, 1, 1), 3)), x)


@pytest.mark.gpu
def test_gather_index_on_another_device_is_refused():
    with pytest.raises(RuntimeError, match="gather: index is on cpu and the tensor on cuda:0"):
        cugrad.tensor(X, device="cuda").gather(0, cugrad.tensor(np.zeros((1, 1, 1), np.int64)))
