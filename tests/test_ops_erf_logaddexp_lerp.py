"""erf, logaddexp and lerp (ops/elementwise.py) against PyTorch CPU: values and gradients of every
input in float64 on 0-d, empty and broadcast shapes, extremes (logaddexp at ±1000 and ±inf, erf in
its tails), gradchecks of both orders, float32 and integer inputs, the Tensor methods, the one erf
shared with the exact GELU, and the errors."""
from __future__ import annotations

import math

import numpy as np
import pytest

import cugrad
from cugrad import backend
from cugrad.kernels import activation_table
from gradchecks import gradcheck_two_orders

torch = pytest.importorskip("torch")


def _run(op, t_op, arrays, g_seed=0):
    """(cugrad outputs and grads, PyTorch outputs and grads) of op(*arrays) against cotangent g."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]  # (a drawn 0-d value is a Python float)
    c_in = [cugrad.tensor(a, requires_grad=True) for a in arrays]
    t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, t_out = op(*c_in), t_op(*t_in)
    g = np.random.default_rng(g_seed).standard_normal(tuple(t_out.shape))
    out.backward(cugrad.tensor(g))
    t_out.backward(torch.tensor(g))
    return (out, [t.grad for t in c_in]), (t_out, [t.grad for t in t_in])


def _assert_match(ours, theirs, rtol=1e-13):
    (out, grads), (t_out, t_grads) = ours, theirs
    assert out.shape == tuple(t_out.shape) and out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=rtol, atol=1e-300)
    for grad, t_grad in zip(grads, t_grads):
        np.testing.assert_allclose(grad.numpy(), t_grad.numpy(), rtol=rtol, atol=1e-300)


# --------------------------------------------------------------------------- erf

@pytest.mark.parametrize("shape", [(), (0,), (2, 5)])
def test_erf_matches_torch(shape):
    x = np.random.default_rng(1).uniform(-4, 4, shape)
    _assert_match(*_run(cugrad.erf, torch.erf, [x]))


def test_erf_tails_and_specials():
    x = np.array([-np.inf, -30.0, -6.0, -1e-300, 0.0, 1e-8, 6.0, 30.0, np.inf, np.nan])
    ours, theirs = _run(cugrad.erf, torch.erf, [x])
    np.testing.assert_array_equal(ours[0].numpy(), theirs[0].detach().numpy())
    np.testing.assert_allclose(ours[1][0].numpy(), theirs[1][0].numpy(), rtol=1e-14, atol=0)


def test_erf_gradcheck_two_orders():
    gradcheck_two_orders(cugrad.erf, np.random.default_rng(2).uniform(-2, 2, (7,)))


def test_erf_dtypes_and_method():
    x = np.linspace(-2, 2, 9)
    y32 = cugrad.tensor(x.astype(np.float32)).erf()
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32.numpy(), torch.erf(torch.tensor(x, dtype=torch.float32)).numpy(), rtol=1e-6)
    y_int = cugrad.erf(cugrad.tensor(np.arange(-2, 3)))
    assert y_int.dtype == np.float32
    np.testing.assert_allclose(y_int.numpy(), [math.erf(v) for v in range(-2, 3)], rtol=1e-6)


def test_one_erf_serves_the_op_and_the_exact_gelu():
    """The exact GELU's NumPy twin computes its Φ with backend.erf, the op's forward."""
    assert activation_table.erf is backend.erf
    x = np.linspace(-3, 3, 13)
    gelu = cugrad.nn.functional.gelu(cugrad.tensor(x), approximate="none").numpy()
    np.testing.assert_allclose(gelu, x * 0.5 * (1 + cugrad.erf(cugrad.tensor(x / math.sqrt(2))).numpy()), rtol=1e-15)


# --------------------------------------------------------------------------- logaddexp

@pytest.mark.parametrize("shapes", [((), ()), ((0,), (3, 0)), ((3, 1), (4,)), ((2, 3), ()), ((), (0,))])
def test_logaddexp_matches_torch_with_broadcasting(shapes):
    rng = np.random.default_rng(3)
    a, b = (rng.standard_normal(s) * 3 for s in shapes)
    _assert_match(*_run(cugrad.logaddexp, torch.logaddexp, [a, b]))


def test_logaddexp_extremes_do_not_overflow():
    a = np.array([1000.0, -1000.0, 1000.0, -1000.0, 0.0, -np.inf, np.inf, -np.inf, 5.0])
    b = np.array([-1000.0, 1000.0, 1000.0, -1000.0, 800.0, -np.inf, np.inf, 3.0, np.inf])
    ours, theirs = _run(cugrad.logaddexp, torch.logaddexp, [a, b])
    np.testing.assert_array_equal(ours[0].numpy(), theirs[0].detach().numpy())
    for grad, t_grad in zip(ours[1], theirs[1]):   # nan where both are the same infinity, as PyTorch
        np.testing.assert_allclose(grad.numpy(), t_grad.numpy(), rtol=1e-15, atol=0)
    np.testing.assert_array_equal(ours[0].numpy()[:5], [1000.0, 1000.0, 1000.0 + math.log(2), -1000.0 + math.log(2), 800.0])


def test_logaddexp_gradients_are_softmax_weights():
    a, b = np.array([0.3, -2.0, 7.0]), np.array([1.1, 4.0, 7.0])
    ta, tb = cugrad.tensor(a, requires_grad=True), cugrad.tensor(b, requires_grad=True)
    cugrad.logaddexp(ta, tb).sum().backward()
    np.testing.assert_allclose(ta.grad.numpy() + tb.grad.numpy(), 1.0, rtol=1e-15)
    np.testing.assert_allclose(ta.grad.numpy(), np.exp(a) / (np.exp(a) + np.exp(b)), rtol=1e-14)


def test_logaddexp_gradcheck_two_orders_and_method():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4,))
    gradcheck_two_orders(lambda t: cugrad.logaddexp(t, cugrad.tensor(b)), a)
    gradcheck_two_orders(lambda t: cugrad.tensor(a).logaddexp(t), b)
    np.testing.assert_array_equal(cugrad.tensor(a).logaddexp(2.0).numpy(), np.logaddexp(a, 2.0))


def test_logaddexp_keeps_float32_and_floats_integers():
    a = cugrad.tensor(np.array([1.0, 2.0], dtype=np.float32))
    assert cugrad.logaddexp(a, 1.5).dtype == np.float32
    out = cugrad.logaddexp(cugrad.tensor(np.array([1, 2])), cugrad.tensor(np.array([3, 0])))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), np.logaddexp([1, 2], [3, 0]), rtol=1e-6)


# --------------------------------------------------------------------------- lerp

@pytest.mark.parametrize("shapes", [((), (), ()), ((3,), (3,), ()), ((2, 1), (3,), (2, 3)), ((0, 2), (2,), (1,)),
                                    ((4,), (2, 4), (2, 1))])
def test_lerp_tensor_weight_matches_torch(shapes):
    rng = np.random.default_rng(5)
    start, end, weight = (rng.standard_normal(s) for s in shapes)
    _assert_match(*_run(cugrad.lerp, torch.lerp, [start, end, weight]))


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.5, 1.0, -2.0, 3.5])
def test_lerp_scalar_weight_matches_torch(weight):
    rng = np.random.default_rng(6)
    start, end = rng.standard_normal((3, 4)), rng.standard_normal((4,))
    ours, theirs = _run(lambda s, e: s.lerp(e, weight), lambda s, e: torch.lerp(s, e, weight), [start, end])
    _assert_match(ours, theirs, rtol=1e-15)


def test_lerp_ends_exactly():
    start, end = np.array([0.1, -3.0, 1e16]), np.array([0.7, 1e-17, 1.0])
    np.testing.assert_array_equal(cugrad.lerp(cugrad.tensor(start), cugrad.tensor(end), 1.0).numpy(), end)
    np.testing.assert_array_equal(cugrad.lerp(cugrad.tensor(start), cugrad.tensor(end), 0.0).numpy(), start)


def test_lerp_gradcheck_two_orders():
    rng = np.random.default_rng(7)
    s, e, w = rng.standard_normal((2, 3)), rng.standard_normal((3,)), rng.uniform(0, 1, (2, 1))
    gradcheck_two_orders(lambda t: cugrad.lerp(t, cugrad.tensor(e), cugrad.tensor(w)), s)
    gradcheck_two_orders(lambda t: cugrad.lerp(cugrad.tensor(s), t, cugrad.tensor(w)), e)
    gradcheck_two_orders(lambda t: cugrad.lerp(cugrad.tensor(s), cugrad.tensor(e), t), w)


def test_lerp_float32_stays_float32():
    out = cugrad.lerp(cugrad.tensor(np.zeros(2, np.float32)), cugrad.tensor(np.ones(2, np.float32)), 0.25)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.numpy(), [0.25, 0.25])


# --------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call, match", [
    (lambda: cugrad.logaddexp(cugrad.zeros(2, 3), cugrad.zeros(4)),
     r"logaddexp: shapes \(2, 3\) and \(4,\) cannot be broadcast"),
    (lambda: cugrad.lerp(cugrad.zeros(3), cugrad.zeros(3), cugrad.zeros(2)),
     r"lerp: shapes \(3,\) and \(3,\) and \(2,\) cannot be broadcast"),
    (lambda: cugrad.zeros(3).lerp(cugrad.zeros(2, 4), 0.5),
     r"lerp: shapes \(3,\) and \(2, 4\) and \(\) cannot be broadcast"),
])
def test_shape_errors_name_the_op(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------- masked gradients

@pytest.mark.parametrize("name", ["where", "masked_fill", "clip", "maximum", "minimum"])
def test_masked_gradients_are_selected_not_multiplied(name):
    """where, masked_fill, clip, maximum and minimum pass 0 (not g·0, nan for an infinite or nan g)
    where their mask is off, as PyTorch's: an all-ignored cross-entropy mean sends inf down to its
    masked rows."""
    x = np.array([-2.0, -0.5, 0.5, 2.0])
    mask = np.array([True, False, True, False])
    calls = {
        "where": (lambda t: cugrad.where(cugrad.tensor(mask), t, 0.0), lambda t: torch.where(torch.tensor(mask), t, 0.0)),
        "masked_fill": (lambda t: t.masked_fill(cugrad.tensor(mask), 1.0),
                        lambda t: t.masked_fill(torch.tensor(mask), 1.0)),
        "clip": (lambda t: t.clip(-1.0, 1.0), lambda t: t.clamp(-1.0, 1.0)),
        "maximum": (lambda t: cugrad.maximum(t, cugrad.tensor(mask * 9.0 - 4.0)),
                    lambda t: torch.maximum(t, torch.tensor(mask * 9.0 - 4.0))),
        "minimum": (lambda t: cugrad.minimum(t, cugrad.tensor(4.0 - mask * 9.0)),
                    lambda t: torch.minimum(t, torch.tensor(4.0 - mask * 9.0))),
    }
    ours, theirs = calls[name]
    g = np.array([np.inf, np.nan, -np.inf, np.nan])
    t, tt = cugrad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours(t).backward(cugrad.tensor(g))
    theirs(tt).backward(torch.tensor(g))
    np.testing.assert_array_equal(t.grad.numpy(), tt.grad.numpy())
    assert (t.grad.numpy() == 0).sum() == 2
