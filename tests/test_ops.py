"""Every op (src/cugrad/ops/*.py, cugrad.nn.functional): forward values against plain NumPy
formulas, gradients by cugrad.gradcheck in float64 (random inputs; random broadcastable shapes
from hypothesis for the binary ops; values used several times in one graph), jvp/vjp, and the
error messages."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from numpy.exceptions import AxisError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import cugrad
from cugrad.kernels import ACTIVATION_TABLE
from cugrad.nn import functional as F
from activation_refs import torch_forward
from kernel_cases import bf16_param

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def host(t):
    return t.numpy() if isinstance(t, cugrad.Tensor) else np.asarray(t)


def leaf(values, device, requires_grad=True):
    return cugrad.tensor(np.asarray(values, dtype=np.float64), device=device, requires_grad=requires_grad)


def const(values, device):
    return cugrad.tensor(np.asarray(values), device=device)


def check(fn, arrays, device, **kwargs):
    """gradcheck of ``fn`` at float64 leaves holding ``arrays``."""
    return cugrad.gradcheck(fn, [leaf(a, device) for a in arrays], **kwargs)


def away_from_zero(rng, shape, low=0.3, high=2.0):
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


def distinct(rng, shape, low=-2.0, high=2.0):
    """Values at least (high − low)/(2n) apart: no ties for max/min, no kinks for FD."""
    n = int(np.prod(shape, dtype=int))
    return rng.permutation(np.linspace(low, high, n)).reshape(shape) + rng.uniform(0, 0.1 / max(n, 1), shape)


# --------------------------------------------------------------------------- binary ops, broadcasting


def _pair(name, rng, sa, sb):
    if name == "div":
        return rng.uniform(-2, 2, sa), away_from_zero(rng, sb)
    if name == "pow":
        return rng.uniform(0.5, 2.0, sa), rng.uniform(-2, 2, sb)
    if name in ("maximum", "minimum"):
        while True:  # no ties anywhere in the broadcast (max/min have a kink there)
            a, b = rng.uniform(-2, 2, sa), rng.uniform(-2, 2, sb)
            if np.abs(np.subtract(a, b)).min() > 1e-2:
                return a, b
    return rng.uniform(-2, 2, sa), rng.uniform(-2, 2, sb)


BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
    "pow": (lambda a, b: a**b, np.power),
    "maximum": (cugrad.maximum, np.maximum),
    "minimum": (cugrad.minimum, np.minimum),
}
BROADCAST_SHAPES = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=3)


@pytest.mark.parametrize("name", sorted(BINARY))
@SETTINGS
@given(shapes=BROADCAST_SHAPES, seed=st.integers(0, 2**31 - 1))
def test_binary_op_broadcasting(name, shapes, seed, device):
    op, reference = BINARY[name]
    (sa, sb), _ = shapes
    a, b = _pair(name, np.random.default_rng(seed), sa, sb)
    out = op(leaf(a, device), leaf(b, device))
    np.testing.assert_allclose(host(out), reference(a, b), rtol=1e-12)
    assert out.shape == np.broadcast_shapes(sa, sb)
    assert check(op, [a, b], device)


@pytest.mark.parametrize("name", sorted(BINARY))
@SETTINGS
@given(shapes=BROADCAST_SHAPES, seed=st.integers(0, 2**31 - 1))
def test_binary_op_values_used_several_times(name, shapes, seed, device):
    op, _ = BINARY[name]
    (sa, sb), _ = shapes
    a, b = _pair(name, np.random.default_rng(seed), sa, sb)

    def fn(x, y):
        z = op(x, y)  # z fans out three ways, x two ways
        return z * z + x * z - z.exp() * 0.1

    assert check(fn, [a, b], device)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_op_with_python_scalar_either_side(name, device):
    op, reference = BINARY[name]
    rng = np.random.default_rng(5)
    x = rng.uniform(0.5, 2.0, (2, 3))
    for scalar in (1.7, 3):
        np.testing.assert_allclose(host(op(leaf(x, device), scalar)), reference(x, scalar), rtol=1e-12)
        np.testing.assert_allclose(host(op(scalar, leaf(x, device))), reference(scalar, x), rtol=1e-12)
        assert check(lambda t: op(t, scalar), [x], device)
        assert check(lambda t: op(scalar, t), [x], device)


def test_pow_forms(device):
    rng = np.random.default_rng(6)
    pos = rng.uniform(0.5, 2.0, (3, 2))
    signed = away_from_zero(rng, (3, 2))
    assert check(lambda t: t**2, [signed], device)  # integer exponent, negative base
    assert check(lambda t: t**2.5, [pos], device)  # scalar exponent
    assert check(lambda t: t**-1.5, [pos], device)
    assert check(lambda t: 2.0**t, [signed], device)  # scalar base
    assert check(lambda t, e: t**e, [pos, signed], device)  # tensor exponent
    assert check(lambda t, e: t**e, [pos, rng.uniform(-1, 1, (2,))], device)  # broadcast exponent
    np.testing.assert_allclose(host(2.0 ** leaf(signed, device)), 2.0**signed)


@pytest.mark.parametrize("exponent", [0, 1, 2, 3, 0.5, -1, 2.0])
def test_pow_python_exponent_gradients(exponent, device):
    """A Python exponent takes the unmasked rule g·b·a^(b−1) (0 for b = 0, as PyTorch's), first
    and second order, including at a = 0 for the integer exponents."""
    x = np.array([0.0, 0.5, 1.5, 2.0]) if exponent >= 1 or exponent == 0 else np.array([0.5, 1.5, 2.0])
    t = leaf(x, device)
    (g,) = cugrad.grad((t**exponent).sum(), [t], create_graph=True)
    np.testing.assert_allclose(host(g), 0.0 if exponent == 0 else exponent * x ** (exponent - 1), rtol=1e-12)
    if exponent not in (0, 1):
        (gg,) = cugrad.grad(g.sum(), [t])
        np.testing.assert_allclose(host(gg), exponent * (exponent - 1) * x ** (exponent - 2), rtol=1e-12)


def test_neg(device):
    x = np.random.default_rng(7).standard_normal((3, 4))
    np.testing.assert_array_equal(host(-leaf(x, device)), -x)
    np.testing.assert_array_equal(host(cugrad.ops.neg(leaf(x, device))), -x)
    assert check(lambda t: -t, [x], device)


# --------------------------------------------------------------------------- unary ops


def _gelu(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


UNARY = {
    # name: (cugrad fn, NumPy formula, input domain)
    "exp": (cugrad.exp, np.exp, "any"),
    "log": (cugrad.log, np.log, "positive"),
    "sqrt": (cugrad.sqrt, np.sqrt, "positive"),
    "abs": (cugrad.abs, np.abs, "nonzero"),
    "neg": (lambda t: -t, np.negative, "any"),
    "clip": (lambda t: cugrad.clip(t, -0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7), "distinct"),
    "clip_min": (lambda t: t.clip(min=-0.5), lambda x: np.maximum(x, -0.5), "distinct"),
    "clip_max": (lambda t: t.clip(max=0.7), lambda x: np.minimum(x, 0.7), "distinct"),
    "maximum_scalar": (lambda t: cugrad.maximum(t, 0.25), lambda x: np.maximum(x, 0.25), "distinct"),
    "minimum_scalar": (lambda t: cugrad.minimum(0.25, t), lambda x: np.minimum(0.25, x), "distinct"),
    # (the activation table's rows: tests/test_activations.py, against PyTorch)
    "softplus": (F.softplus, lambda x: np.log1p(np.exp(x)), "any"),
    "gelu": (F.gelu, _gelu, "any"),
}


def _unary_input(domain, rng, shape):
    if domain == "positive":
        return rng.uniform(0.3, 3.0, shape)
    if domain == "nonzero":
        return away_from_zero(rng, shape, 0.05, 2.0)
    if domain == "distinct":
        while True:
            x = distinct(rng, shape)
            if np.abs(x[..., None] - np.array([-0.5, 0.25, 0.7])).min() > 1e-3:
                return x
    return rng.uniform(-3, 3, shape)


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 4)])
def test_unary_op(name, shape, device):
    op, reference, domain = UNARY[name]
    x = _unary_input(domain, np.random.default_rng(8), shape)
    out = op(leaf(x, device))
    assert out.shape == shape and out.dtype == np.float64
    np.testing.assert_allclose(host(out), reference(x), rtol=1e-12, atol=1e-15)
    assert check(op, [x], device)
    assert check(lambda t: op(t) * t + op(t * 0.5 + t), [x], device)  # x and op(x) reused


def test_activations_float32_forward(device):
    x = np.linspace(-4, 4, 17, dtype=np.float32)
    t = cugrad.tensor(x, device=device)
    for name in ("softplus", "gelu"):
        op, reference, _ = UNARY[name]
        out = op(t)
        assert out.dtype == np.float32
        np.testing.assert_allclose(host(out), reference(x.astype(np.float64)), rtol=2e-6, atol=2e-7)


def test_sigmoid_gradient_finite_at_plus_minus_1000_float32(device):
    x = cugrad.tensor([-1000.0, -100.0, 0.0, 100.0, 1000.0], device=device, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings either
        y = F.sigmoid(x)
        y.sum().backward()
    np.testing.assert_allclose(host(y), [0.0, 0.0, 0.5, 1.0, 1.0], rtol=0, atol=1e-30)
    g = host(x.grad)
    assert x.grad.dtype == np.float32 and np.isfinite(g).all()
    np.testing.assert_allclose(g, [0.0, 0.0, 0.25, 0.0, 0.0], rtol=0, atol=1e-30)
    # and through a net's pre-activations of that size (the seed net's failure mode)
    w = cugrad.tensor(np.full((3, 2), 400.0, dtype=np.float32), device=device, requires_grad=True)
    xin = cugrad.tensor([[1.0, -2.0, 1.5], [-1.0, 2.0, -1.5]], device=device)
    F.sigmoid(xin @ w).sum().backward()
    assert np.isfinite(host(w.grad)).all()


def test_clip_min_above_max_is_max_and_no_bound_refused():
    """PyTorch's clamp: min applied first, then max, so clip(3, 0) gives 0 everywhere (with zero
    gradient); no bound at all is a mistake."""
    x = cugrad.tensor([-1.0, 1.0, 5.0], requires_grad=True)
    y = cugrad.clip(x, 3, 0)
    np.testing.assert_array_equal(y.numpy(), [0.0, 0.0, 0.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="clip: needs min or max"):
        cugrad.clip(x, None, None)
    with pytest.raises(ValueError, match="clip: needs min or max"):
        x.clip()


def test_maximum_minimum_route_to_winner_and_split_ties(device):
    a = leaf([1.0, 5.0, 2.0], device)
    b = leaf([3.0, 4.0, 2.0], device)
    cugrad.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(host(a.grad), [0.0, 1.0, 0.5])
    np.testing.assert_array_equal(host(b.grad), [1.0, 0.0, 0.5])
    a.grad = b.grad = None
    cugrad.minimum(a, b).sum().backward()
    np.testing.assert_array_equal(host(a.grad), [1.0, 0.0, 0.5])
    # seed 003 max gate: x = 4, y = 9, upstream 5 -> dx = 0, dy = 5
    x, y = leaf(4.0, device), leaf(9.0, device)
    z = cugrad.maximum(x, y)
    assert z.item() == 9.0
    z.backward(const(5.0, device))
    assert x.grad.item() == 0.0 and y.grad.item() == 5.0


@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3), seed=st.integers(0, 2**31 - 1))
def test_where(shapes, seed, device):
    (sc, sa, sb), result = shapes
    rng = np.random.default_rng(seed)
    cond, a, b = rng.uniform(size=sc) > 0.5, rng.standard_normal(sa), rng.standard_normal(sb)
    out = cugrad.where(const(cond, device), leaf(a, device), leaf(b, device))
    np.testing.assert_array_equal(host(out), np.where(cond, a, b))
    assert out.shape == result
    assert check(lambda x, y: cugrad.where(const(cond, device), x, y), [a, b], device)
    assert check(lambda x: cugrad.where(const(cond, device), x, x * x), [a], device)


def test_where_with_scalar_branch(device):
    x = np.array([-1.0, 2.0, -3.0])
    t = leaf(x, device)
    out = cugrad.where(t > 0, t, 0.0)
    np.testing.assert_array_equal(host(out), [0.0, 2.0, 0.0])
    assert check(lambda u: cugrad.where(const(x > 0, device), u, 0.0), [x], device)


@pytest.mark.parametrize("cond", [True, False, np.bool_(True)])
def test_where_with_a_scalar_condition(device, cond):
    """A Python or NumPy bool as the condition (CuPy's broadcast_to takes arrays only)."""
    x, y = np.array([-1.0, 2.0]), np.array([3.0, 4.0])
    out = cugrad.where(cond, leaf(x, device), leaf(y, device))
    np.testing.assert_array_equal(host(out), x if cond else y)
    assert check(lambda u, v: cugrad.where(cond, u, v), [x, y], device)


# --------------------------------------------------------------------------- matmul


MATMUL_SHAPES = [
    ((3, 4), (4, 5)),  # 2-D
    ((2, 3, 4), (2, 4, 5)),  # batched
    ((2, 1, 3, 4), (5, 4, 2)),  # broadcast batch
    ((3, 4), (2, 4, 5)),  # 2-D against a batch
    ((4,), (4, 5)),  # 1-D on the left
    ((3, 4), (4,)),  # 1-D on the right
    ((4,), (4,)),  # dot product
    ((2, 3, 4), (4,)),
    ((4,), (2, 4, 3)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul(sa, sb, device):
    rng = np.random.default_rng(9)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    out = cugrad.matmul(leaf(a, device), leaf(b, device))
    assert out.shape == np.matmul(a, b).shape
    np.testing.assert_allclose(host(out), np.matmul(a, b), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(host(leaf(a, device) @ leaf(b, device)), a @ b, rtol=1e-12, atol=1e-12)
    assert check(cugrad.matmul, [a, b], device)
    assert check(lambda x, y: (x @ y) * (x @ y), [a, b], device)


def test_matmul_backward_is_dy_wt_and_xt_dy(device):
    rng = np.random.default_rng(10)
    x, w, g = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal((3, 2))
    X, W = leaf(x, device), leaf(w, device)
    (X @ W).backward(const(g, device))
    np.testing.assert_allclose(host(X.grad), g @ w.T, rtol=1e-12)
    np.testing.assert_allclose(host(W.grad), x.T @ g, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float16", bf16_param("bfloat16")])
@pytest.mark.parametrize("sa, sb", [((5, 7), (7, 3)), ((2, 5, 7), (7, 3)), ((2, 5, 7), (2, 7, 3))])
def test_half_matmul_rounds_the_float32_product_once(device, dtype, sa, sb):
    """16-bit matmuls, 2-D and batched, forward and backward: the float32 product of the 16-bit
    operands rounded once to the dtype, as a cuBLAS half GEMM with fp32 accumulation writes it
    (CuPy's batched matmul has no bfloat16 GEMM: that case is formed in float32 by cugrad)."""
    dt = cugrad.backend.resolve_dtype(dtype)
    rng = np.random.default_rng(3)
    a32, b32 = (rng.standard_normal(s).astype(dt).astype(np.float32) for s in (sa, sb))   # 16-bit values
    g32 = rng.standard_normal(np.matmul(a32, b32).shape).astype(dt).astype(np.float32)
    a = cugrad.tensor(a32.astype(dt), device=device, requires_grad=True)
    b = cugrad.tensor(b32.astype(dt), device=device, requires_grad=True)
    out = a @ b
    assert out.dtype == dt
    tol = dict(rtol=1e-2, atol=1e-2)
    np.testing.assert_allclose(host(out).astype(np.float32), np.matmul(a32, b32).astype(dt).astype(np.float32), **tol)
    out.backward(cugrad.tensor(g32.astype(dt), device=device))
    ga = np.matmul(g32, np.swapaxes(b32, -1, -2))
    gb = np.matmul(np.swapaxes(a32, -1, -2), g32)
    if gb.ndim > len(sb):
        gb = gb.sum(axis=0)
    assert a.grad.dtype == dt and b.grad.dtype == dt
    np.testing.assert_allclose(host(a.grad).astype(np.float32), ga, **tol)
    np.testing.assert_allclose(host(b.grad).astype(np.float32), gb, **tol)


# --------------------------------------------------------------------------- reductions


AXES = [None, 0, 1, -1, (0, 2), (0, 1, 2), (-1, 0)]


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "var"])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(name, axis, keepdims, device):
    x = distinct(np.random.default_rng(11), (2, 3, 4))
    op = getattr(cugrad, name)
    out = op(leaf(x, device), axis=axis, keepdims=keepdims)
    np_axis = axis if axis is None or isinstance(axis, int) else tuple(axis)
    expected = getattr(np, name)(x, axis=np_axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(host(out), expected, rtol=1e-12)
    assert check(lambda t: op(t, axis=axis, keepdims=keepdims), [x], device)
    method = getattr(leaf(x, device), name)(axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(host(method), expected, rtol=1e-12)


def test_var_ddof(device):
    x = np.random.default_rng(12).standard_normal((4, 3))
    for axis in (None, 0, 1):
        np.testing.assert_allclose(host(cugrad.var(leaf(x, device), axis=axis, ddof=1)), np.var(x, axis=axis, ddof=1))
        assert check(lambda t: cugrad.var(t, axis=axis, ddof=1), [x], device)
    # n - ddof <= 0: PyTorch's divisor max(n - ddof, 0), so inf (nan for a constant row), silently
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = host(cugrad.var(leaf(np.array([[1.0, 2.0, 4.0], [5.0, 5.0, 5.0]]), device), axis=1, ddof=3))
    np.testing.assert_array_equal(got, [np.inf, np.nan])


def test_max_gradient_shared_by_ties(device):
    x = leaf([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]], device)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(host(x.grad), [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])


def test_reductions_reuse_input(device):
    x = distinct(np.random.default_rng(13), (3, 4))
    assert check(lambda t: (t - t.mean(axis=0)) / (t.var(axis=0) + 1.0) + t.max(axis=1, keepdims=True) * t, [x], device)


def test_reduction_axis_errors(device):
    x = leaf(np.ones((2, 3)), device)
    with pytest.raises(AxisError, match="sum: axis 2 is out of range for a 2-d tensor"):
        x.sum(axis=2)
    with pytest.raises(ValueError, match=r"mean: repeated axis in \(0, -2\)"):
        x.mean(axis=(0, -2))
    with pytest.raises(ValueError, match=r"max: cannot reduce an empty tensor of shape \(0,\) over axes \(0,\)"):
        cugrad.tensor(np.zeros(0), device=device).max()
    with pytest.raises(ValueError, match=r"min: cannot reduce an empty tensor of shape \(2, 0\) over axes \(0, 1\)"):
        cugrad.tensor(np.zeros((2, 0)), device=device).min(axis=(0, 1))


# --------------------------------------------------------------------------- shape ops


SHAPE_OPS = {
    "reshape": (lambda t: t.reshape(4, 6), lambda x: x.reshape(4, 6)),
    "reshape_infer": (lambda t: cugrad.reshape(t, (-1, 3)), lambda x: x.reshape(-1, 3)),
    "flatten": (lambda t: t.flatten(), lambda x: x.reshape(-1)),
    "transpose": (cugrad.transpose, np.transpose),
    "transpose_axes": (lambda t: t.transpose(1, 2, 0), lambda x: x.transpose(1, 2, 0)),
    "transpose_negative": (lambda t: cugrad.transpose(t, (-1, 0, 1)), lambda x: x.transpose(2, 0, 1)),
    "T": (lambda t: t.T, lambda x: x.T),
    "swapaxes": (lambda t: t.swapaxes(0, 2), lambda x: x.swapaxes(0, 2)),
    "broadcast_to": (lambda t: cugrad.ops.broadcast_to(t[:, :1, :], (3, 2, 3, 4)),
                     lambda x: np.broadcast_to(x[:, :1, :], (3, 2, 3, 4))),
    "getitem_slices": (lambda t: t[1:, ::-2, None, 1], lambda x: x[1:, ::-2, None, 1]),
    "getitem_ellipsis": (lambda t: t[..., -1], lambda x: x[..., -1]),
    "getitem_int_array": (lambda t: t[:, [2, 0, 2, 2]], lambda x: x[:, [2, 0, 2, 2]]),
    "getitem_2d_fancy": (lambda t: t[[0, 1, 0], [2, 2, 2]], lambda x: x[[0, 1, 0], [2, 2, 2]]),
    "getitem_mask": (lambda t: t[t > 0], lambda x: x[x > 0]),
}


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_op(name, device):
    op, reference = SHAPE_OPS[name]
    x = np.random.default_rng(14).standard_normal((2, 3, 4))
    out = op(leaf(x, device))
    np.testing.assert_array_equal(host(out), reference(x))
    assert check(op, [x], device)
    assert check(lambda t: op(t * 2.0) * op(t) + op(t), [x], device)  # x and op(x) reused


@pytest.mark.parametrize("dtype", ["float16", bf16_param("bfloat16")])
def test_repeated_index_gradient_of_a_half_tensor_sums_in_float32(device, dtype):
    """x[idx] with 3000 repeats of one position: its gradient is 3000 rounded once to the dtype (a
    float16 running sum stalls at 2048; cupy.add.at refuses bfloat16 outright)."""
    dt = cugrad.backend.resolve_dtype(dtype)
    x = cugrad.tensor(np.zeros(4, dtype=dt), device=device, requires_grad=True)
    index = np.array([1] * 3000 + [3] * 5)
    x[index].sum().backward()
    assert x.grad.dtype == dt
    np.testing.assert_array_equal(host(x.grad).astype(np.float32),
                                  np.array([0, 3000, 0, 5], np.float32).astype(dt).astype(np.float32))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["array", "2-d array", "tuple of arrays", "array then slice"])
def test_repeated_index_gradient_adds_every_repeat_without_warnings(device, dtype, kind):
    """The gradient of advanced indexing with repeats, summed by a Python loop over the picked
    positions; no warning on any device (CuPy's cupyx.scatter_add warns DeprecationWarning)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 4)).astype(dtype)
    rows = np.array([0, 3, 3, 1, 3, 0])
    index = {"array": rows, "2-d array": rows.reshape(2, 3), "tuple of arrays": (rows, rows % 4),
             "array then slice": (rows, slice(1, 3))}[kind]
    weights = rng.standard_normal(x[index].shape).astype(dtype)
    t = cugrad.tensor(x, device=device, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (t[index] * cugrad.tensor(weights, device=device)).sum().backward()
    want = np.zeros_like(x)
    positions = np.arange(x.size).reshape(x.shape)[index]
    for pos, w in zip(positions.ravel(), weights.ravel()):
        want.flat[pos] += w
    assert t.grad.dtype == dtype
    np.testing.assert_allclose(host(t.grad), want, rtol=1e-6)


@pytest.mark.parametrize("name", ["relu", "leaky_relu"])
def test_activations_of_integer_tensors_are_refused_alike_on_every_device(device, name):
    x = cugrad.tensor([-2, 3], device=device)
    with pytest.raises(TypeError, match=rf"^{name}: needs a floating-point tensor, got int64; cast it first"):
        getattr(F, name)(x)
    np.testing.assert_array_equal(host(getattr(F, name)(x.float())), host(getattr(F, name)(cugrad.tensor([-2.0, 3.0], device=device))))


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "softplus", "softmax", "log_softmax"])
def test_float_activations_of_integer_tensors_are_float32(device, name):
    """Float ops promote an integer tensor to the default float dtype, PyTorch's rule."""
    x = cugrad.tensor([-2, 3], device=device)
    got = getattr(F, name)(x)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(host(got), host(getattr(F, name)(cugrad.tensor([-2.0, 3.0], device=device))))


def test_broadcast_to(device):
    x = np.random.default_rng(15).standard_normal((3, 1))
    out = cugrad.ops.broadcast_to(leaf(x, device), (2, 3, 4))
    np.testing.assert_array_equal(host(out), np.broadcast_to(x, (2, 3, 4)))
    assert check(lambda t: cugrad.ops.broadcast_to(t, (2, 3, 4)), [x], device)
    with pytest.raises(ValueError, match=r"broadcast_to: cannot broadcast shape \(3, 1\) to \(3,\)"):
        cugrad.ops.broadcast_to(leaf(x, device), (3,))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate(axis, device):
    rng = np.random.default_rng(16)
    sizes = [1, 3, 2]
    arrays = [rng.standard_normal(tuple(s if i == axis % 2 else 2 for i in range(2))) for s in sizes]
    out = cugrad.concatenate([leaf(a, device) for a in arrays], axis=axis)
    np.testing.assert_array_equal(host(out), np.concatenate(arrays, axis=axis))
    assert check(lambda *ts: cugrad.concatenate(ts, axis=axis), arrays, device)
    assert check(lambda a, b: cugrad.concatenate([a, b, a], axis=axis), arrays[:2], device)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_stack(axis, device):
    rng = np.random.default_rng(17)
    arrays = [rng.standard_normal((2, 3)) for _ in range(3)]
    out = cugrad.stack([leaf(a, device) for a in arrays], axis=axis)
    np.testing.assert_array_equal(host(out), np.stack(arrays, axis=axis))
    assert check(lambda *ts: cugrad.stack(ts, axis=axis), arrays, device)
    assert check(lambda a: cugrad.stack([a, a * a, a], axis=axis), arrays[:1], device)


def test_shape_op_errors(device):
    x = leaf(np.ones((2, 3)), device)
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\) into \(4, 2\)"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match=r"transpose: axes \(0, 0\) are not a permutation"):
        x.transpose(0, 0)
    with pytest.raises(ValueError, match=r"concatenate: shapes \[\(2, 3\), \(2, 2\)\] differ outside axis 0"):
        cugrad.concatenate([x, leaf(np.ones((2, 2)), device)])
    with pytest.raises(ValueError, match=r"stack: all shapes must be equal, got \[\(2, 3\), \(3, 2\)\]"):
        cugrad.stack([x, x.T])
    with pytest.raises(ValueError, match=r"concatenate: all tensors need the same number of dimensions, got shapes \[\(2, 3\), \(3,\)\]"):
        cugrad.concatenate([x, leaf(np.ones(3), device)])


# --------------------------------------------------------------------------- softmax family and losses


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_and_log_softmax(axis, device):
    x = np.random.default_rng(18).standard_normal((3, 4)) * 3
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    p = e / e.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(host(F.softmax(leaf(x, device), axis=axis)), p, rtol=1e-12)
    np.testing.assert_allclose(host(F.log_softmax(leaf(x, device), axis=axis)), np.log(p), rtol=1e-12)
    assert check(lambda t: F.softmax(t, axis=axis), [x], device)
    assert check(lambda t: F.log_softmax(t, axis=axis), [x], device)
    assert check(lambda t: F.softmax(t, axis=axis) * F.log_softmax(t * t, axis=axis), [x], device)


def test_log_softmax_stable_for_large_logits(device):
    x = cugrad.tensor([[1000.0, 0.0, -1000.0]], device=device, requires_grad=True)
    y = F.log_softmax(x)
    np.testing.assert_allclose(host(y), [[0.0, -1000.0, -2000.0]])
    y.sum().backward()
    assert np.isfinite(host(x.grad)).all()
    assert np.isfinite(host(F.softmax(x))).all()


def _ce_reference(z, target, reduction):
    lse = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1)
    if target.dtype.kind in "iu":
        rows = lse - z[np.arange(len(z)), target]
    else:
        rows = lse - (target * z).sum(1)
    return {"none": rows, "sum": rows.sum(), "mean": rows.mean()}[reduction]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("target_kind", ["labels", "probabilities"])
def test_cross_entropy(reduction, target_kind, device):
    rng = np.random.default_rng(19)
    z = rng.standard_normal((5, 4)) * 2
    if target_kind == "labels":
        target = rng.integers(0, 4, 5)
    else:
        target = rng.uniform(size=(5, 4))
        target /= target.sum(1, keepdims=True)
    tgt = const(target, device)
    out = F.cross_entropy(leaf(z, device), tgt, reduction=reduction)
    np.testing.assert_allclose(host(out), _ce_reference(z, target, reduction), rtol=1e-12)
    assert check(lambda t: F.cross_entropy(t, tgt, reduction=reduction), [z], device)
    assert check(lambda t: F.cross_entropy(t * t, tgt, reduction=reduction) * t.sum(), [z], device)
    if target_kind == "probabilities":
        assert check(lambda t, y: F.cross_entropy(t, y, reduction=reduction), [z, target], device)
        # second order through the fused gradient, in both arguments
        @cugrad.enable_grad()  # gradcheck evaluates fn under no_grad for its finite differences
        def grad_of_loss(t, y):
            (gz,) = cugrad.grad(F.cross_entropy(t, y, reduction=reduction).sum(), [t], create_graph=True)
            return gz * gz
        assert check(grad_of_loss, [z, target], device)


def test_cross_entropy_gradient_is_p_minus_y(device):
    z = np.random.default_rng(20).standard_normal((4, 3))
    labels = np.array([0, 2, 1, 2])
    t = leaf(z, device)
    F.cross_entropy(t, const(labels, device), reduction="sum").backward()
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(host(t.grad), p - np.eye(3)[labels], rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(reduction, device):
    rng = np.random.default_rng(21)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    sq = (a - b) ** 2
    expected = {"none": sq, "sum": sq.sum(), "mean": sq.mean()}[reduction]
    np.testing.assert_allclose(host(F.mse_loss(leaf(a, device), leaf(b, device), reduction=reduction)), expected, rtol=1e-12)
    assert check(lambda x, y: F.mse_loss(x, y, reduction=reduction), [a, b], device)
    assert check(lambda x: F.mse_loss(x * x, x, reduction=reduction), [a], device)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_hinge_loss(reduction, device):
    rng = np.random.default_rng(22)
    labels = rng.integers(0, 4, 6)
    while True:  # keep every margin away from its kink at 0
        s = rng.standard_normal((6, 4)) * 2
        margins = s - s[np.arange(6), labels][:, None] + 1.0
        margins[np.arange(6), labels] = 5.0
        if np.abs(margins).min() > 0.05:
            break
    margins[np.arange(6), labels] = 0.0
    rows = np.maximum(0, margins).sum(1)
    expected = {"none": rows, "sum": rows.sum(), "mean": rows.mean()}[reduction]
    tgt = const(labels, device)
    np.testing.assert_allclose(host(F.hinge_loss(leaf(s, device), tgt, reduction=reduction)), expected, rtol=1e-12)
    assert check(lambda x: F.hinge_loss(x, tgt, reduction=reduction), [s], device)
    assert check(lambda x: F.hinge_loss(x, tgt, reduction=reduction) * x.sum(), [s], device)


def test_l2_penalty(device):
    rng = np.random.default_rng(23)
    w1, w2 = rng.standard_normal((3, 4)), rng.standard_normal(5)
    out = F.l2_penalty([leaf(w1, device), leaf(w2, device)], weight=0.3)
    np.testing.assert_allclose(out.item(), 0.3 * ((w1**2).sum() + (w2**2).sum()), rtol=1e-12)
    assert check(lambda a, b: F.l2_penalty([a, b], weight=0.3), [w1, w2], device)
    assert check(lambda a: F.l2_penalty([a, a * 2.0]), [w1], device)
    with pytest.raises(ValueError, match="l2_penalty: needs at least one tensor"):
        F.l2_penalty([])


def test_loss_reduction_validation(device):
    z = leaf(np.zeros((2, 3)), device)
    for loss, args in ((F.cross_entropy, (z, const([0, 1], device))), (F.mse_loss, (z, z)),
                       (F.hinge_loss, (z, const([0, 1], device)))):
        with pytest.raises(ValueError, match=r"unknown reduction 'avg'; expected one of mean, sum, none"):
            loss(*args, reduction="avg")


def test_loss_input_errors(device):
    z = leaf(np.zeros((2, 3)), device)
    with pytest.raises(ValueError, match=r"cross_entropy: labels must lie in \[0, 3\), got values in \[0, 3\]"):
        F.cross_entropy(z, const([0, 3], device) if device == "cpu" else const([0, 3], "cpu"))
    with pytest.raises(ValueError, match=r"cross_entropy: integer target must have shape \(2,\) for logits \(2, 3\), got \(3,\)"):
        F.cross_entropy(z, const([0, 1, 2], device))
    with pytest.raises(ValueError, match=r"cross_entropy: logits must be 2-D \(N, C\), got shape \(3,\)"):
        F.cross_entropy(leaf(np.zeros(3), device), const([0], device))
    with pytest.raises(ValueError, match=r"mse_loss: prediction shape \(2, 3\) differs from target shape \(3,\)"):
        F.mse_loss(z, leaf(np.zeros(3), device))


# --------------------------------------------------------------------------- linear


@pytest.mark.parametrize("activation", [None, *ACTIVATION_TABLE])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("x_shape", [(5, 3), (2, 4, 3), (3,)])
def test_linear(activation, bias, x_shape, device):
    rng = np.random.default_rng(24)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal((4, 3)), rng.standard_normal(4)
    z = x @ w.T + (b if bias else 0.0)
    assert np.abs(np.abs(z)[..., None] - [0, 3, 6]).min() > 0.01  # fixed seed: off the kinks (0, ±3, 6)
    expected = z if activation is None else torch_forward(activation, z)
    args = [x, w, b] if bias else [x, w]

    def fn(*ts):
        return F.linear(ts[0], ts[1], ts[2] if bias else None, activation=activation)

    out = fn(*[leaf(a, device) for a in args])
    assert out.shape == x_shape[:-1] + (4,)
    np.testing.assert_allclose(host(out), expected, rtol=1e-12, atol=1e-14)
    assert check(fn, args, device)
    assert check(lambda *ts: fn(*ts) * fn(*ts), args, device)


def test_linear_errors(device):
    x, w = leaf(np.ones((2, 3)), device), leaf(np.ones((4, 3)), device)
    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 5\) does not match weight of shape \(4, 3\) \(in = 3\)"):
        F.linear(leaf(np.ones((2, 5)), device), w)
    with pytest.raises(ValueError, match=r"linear: bias of shape \(3,\) does not match weight of shape \(4, 3\)"):
        F.linear(x, w, leaf(np.ones(3), device))
    with pytest.raises(ValueError, match=r"linear: unknown activation 'swish'"):
        F.linear(x, w, activation="swish")
    with pytest.raises(ValueError, match=r"leaky_relu: negative_slope must be >= 0, got -0.1"):
        F.leaky_relu(x, -0.1)


# --------------------------------------------------------------------------- dtypes through ops


def test_float32_stays_float32(device):
    x = cugrad.randn(3, 4, device=device, requires_grad=True)
    w = cugrad.randn(4, 2, device=device, requires_grad=True)
    y = F.log_softmax(F.tanh(x @ w) * 2.0 + 1.0)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


# --------------------------------------------------------------------------- vjp / jvp


def _vec_fn(x, w):
    return F.tanh(w @ x) * x.sum() + x[:2].exp().sum()


def test_jvp_matches_finite_differences(device):
    rng = np.random.default_rng(25)
    xv, wv, tx, tw = rng.standard_normal(3), rng.standard_normal((2, 3)), rng.standard_normal(3), rng.standard_normal((2, 3))
    out, jt = cugrad.func.jvp(_vec_fn, (leaf(xv, device, False), leaf(wv, device, False)),
                              (const(tx, device), const(tw, device)))

    def f(x, w):
        with cugrad.no_grad():
            return host(_vec_fn(leaf(x, device, False), leaf(w, device, False)))

    eps = 1e-6
    numeric = (f(xv + eps * tx, wv + eps * tw) - f(xv - eps * tx, wv - eps * tw)) / (2 * eps)
    np.testing.assert_allclose(host(out), f(xv, wv), rtol=1e-12)
    assert jt.shape == (2,)
    np.testing.assert_allclose(host(jt), numeric, rtol=1e-6, atol=1e-9)


def test_jvp_of_linear_map_is_exact(device):
    rng = np.random.default_rng(26)
    a, xv, tv = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal(3)
    A = const(a, device)
    _, jt = cugrad.func.jvp(lambda x: A @ x, (leaf(xv, device, False),), (const(tv, device),))
    np.testing.assert_allclose(host(jt), a @ tv, rtol=1e-12)
    with pytest.raises(ValueError, match="jvp: 1 primals but 2 tangents"):
        cugrad.func.jvp(lambda x: x, (leaf(xv, device),), (const(tv, device), const(tv, device)))


def test_vjp(device):
    rng = np.random.default_rng(27)
    a, xv, v = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal(4)
    A = const(a, device)
    x = leaf(xv, device, False)
    out, vjp_fn = cugrad.func.vjp(lambda t: (A @ t) * (A @ t), x)
    np.testing.assert_allclose(host(out), (a @ xv) ** 2, rtol=1e-12)
    assert not out.requires_grad
    (g,) = vjp_fn(const(v, device))
    np.testing.assert_allclose(host(g), a.T @ (2 * (a @ xv) * v), rtol=1e-12)
    (g2,) = vjp_fn(const(v, device))  # callable more than once
    np.testing.assert_allclose(host(g2), host(g))
    assert x.grad is None


def test_vjp_of_two_inputs_one_unused(device):
    xv = np.array([1.0, 2.0])
    _, vjp_fn = cugrad.func.vjp(lambda x, y: x * 3.0, leaf(xv, device), leaf(xv, device))
    gx, gy = vjp_fn(const([1.0, 1.0], device))
    np.testing.assert_array_equal(host(gx), [3.0, 3.0])
    np.testing.assert_array_equal(host(gy), [0.0, 0.0])


# --------------------------------------------------------------------------- errors


def test_matmul_shape_mismatch_message(device):
    a, b = leaf(np.ones((2, 3)), device), leaf(np.ones((4, 5)), device)
    with pytest.raises(ValueError, match=r"^matmul: shapes \(2, 3\) and \(4, 5\) are not aligned \(3 != 4\)$"):
        a @ b
    with pytest.raises(ValueError, match=r"matmul: shapes \(2,\) and \(3,\) cannot be broadcast together"):
        leaf(np.ones((2, 3, 4)), device) @ leaf(np.ones((3, 4, 5)), device)
    with pytest.raises(ValueError, match=r"matmul: shapes \(1, 3\) and \(4, 1\) are not aligned"):
        leaf(np.ones(3), device) @ leaf(np.ones(4), device)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_broadcast_mismatch_message(name, device):
    op, _ = BINARY[name]
    a, b = leaf(np.ones((2, 3)), device), leaf(np.ones((4,)), device)
    with pytest.raises(ValueError, match=rf"^{name}: shapes \(2, 3\) and \(4,\) cannot be broadcast together$"):
        op(a, b)


def test_where_broadcast_mismatch(device):
    with pytest.raises(ValueError, match=r"where: shapes \(2,\) and \(3,\) and \(3,\) cannot be broadcast together"):
        cugrad.where(const([True, False], device), leaf(np.ones(3), device), leaf(np.ones(3), device))


def test_errors_raised_before_any_work(device):
    # a failed op must not have recorded anything or touched the operands
    a = leaf(np.ones((2, 3)), device)
    with pytest.raises(ValueError):
        a + leaf(np.ones(4), device)
    a.sum().backward()
    np.testing.assert_array_equal(host(a.grad), np.ones((2, 3)))


def test_backward_from_non_scalar_without_grad_message(device):
    y = leaf(np.ones((2, 3)), device) * 2.0
    with pytest.raises(RuntimeError, match=r"backward: grad can be implicitly created only for scalar outputs, got shape \(2, 3\)"):
        y.backward()


def test_requires_grad_on_int_message(device):
    with pytest.raises(TypeError, match=r"only floating-point tensors can require grad, this one is int64"):
        cugrad.tensor([1, 2], device=device, requires_grad=True)


def test_unknown_dtype_and_device_messages():
    with pytest.raises(TypeError, match=r"unknown dtype 'float31': expected one of float16, bfloat16, float32, float64"):
        cugrad.zeros(2, dtype="float31")
    with pytest.raises(ValueError, match=r"unknown device 'gpu': expected 'cpu', 'cuda' or 'cuda:N'"):
        cugrad.zeros(2, device="gpu")
    with pytest.raises(TypeError, match="unknown dtype 'float31'"):
        cugrad.tensor([1.0]).to("float31")


def test_integer_results_are_not_differentiable(device):
    x = leaf([1.5, 2.5], device)
    labels = const([1, 0], device)
    y = labels * 2
    assert y.dtype == np.int64 and not y.requires_grad
    idx = x.argmax()
    assert not idx.requires_grad


@pytest.mark.parametrize("reduction, scale", [("sum", 2.0), ("mean", 2.0 / 6)])
def test_mse_loss_hessian_is_twice_the_identity_scaled(reduction, scale):
    p = cugrad.randn(2, 3, dtype="float64")
    t = cugrad.randn(2, 3, dtype="float64")
    v = cugrad.randn(2, 3, dtype="float64")
    _, (hv,) = cugrad.func.hvp(lambda q: F.mse_loss(q, t, reduction=reduction), (p,), (v,))
    np.testing.assert_allclose(hv.numpy(), scale * v.numpy(), rtol=1e-12)
