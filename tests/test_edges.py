"""Right answers at the edges (issue 13), each rule tested across its class of ops against PyTorch
CPU in float64: axis validation, 0-d and empty tensors, var/std without degrees of freedom, clip,
powers and other ops at their singular points (values, gradients, no RuntimeWarning), type
promotion, and PyTorch's dim=/keepdim= names."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from numpy.exceptions import AxisError

import cugrad
from cugrad.nn import functional as F


@pytest.fixture(scope="module")
def torch():
    """PyTorch CPU, the reference (a failure instead of a skip when CI is set: CI installs it)."""
    try:
        import torch
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("torch is not installed (CI is set)")
        pytest.skip("torch is not installed")
    return torch


def t64(values, requires_grad=True):
    return cugrad.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


def same(got, want):
    """Equal to PyTorch's float64 result up to rounding, nan and ±inf included, shape included."""
    got = got.numpy() if isinstance(got, cugrad.Tensor) else np.asarray(got)
    want = want.detach().numpy() if hasattr(want, "detach") else np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300, equal_nan=True)


def both(torch, fn_ours, fn_torch, *arrays):
    """Value and the gradient of out.sum() w.r.t. every input, ours against PyTorch's (float64);
    raises if either leaks a RuntimeWarning."""
    ours = [t64(a) for a in arrays]
    theirs = [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out = fn_ours(*ours)
        out.sum().backward()
    ref = fn_torch(*theirs)
    ref.sum().backward()
    same(out, ref)
    for o, t in zip(ours, theirs):
        same(o.grad if o.grad is not None else np.zeros(o.shape), t.grad if t.grad is not None else np.zeros(t.shape))


# --------------------------------------------------------------------------- axis validation

AXIS_OPS = {  # name: (call with an axis on a 2-d tensor x, how many axes the op accepts beyond x.ndim)
    "sum": (lambda x, a: x.sum(axis=a), 0),
    "mean": (lambda x, a: cugrad.mean(x, axis=a), 0),
    "max": (lambda x, a: x.max(axis=a), 0),
    "min": (lambda x, a: cugrad.min(x, axis=a), 0),
    "var": (lambda x, a: x.var(axis=a), 0),
    "std": (lambda x, a: cugrad.std(x, axis=a), 0),
    "argmax": (lambda x, a: x.argmax(axis=a), 0),
    "softmax": (lambda x, a: F.softmax(x, axis=a), 0),
    "log_softmax": (lambda x, a: F.log_softmax(x, axis=a), 0),
    "swapaxes": (lambda x, a: x.swapaxes(0, a), 0),
    "transpose": (lambda x, a: x.transpose(a, 0), 0),
    "concatenate": (lambda x, a: cugrad.concatenate([x, x], axis=a), 0),
    "stack": (lambda x, a: cugrad.stack([x, x], axis=a), 1),
}


@pytest.mark.parametrize("name", sorted(AXIS_OPS))
@pytest.mark.parametrize("offset", [0, 5, 75])
def test_out_of_range_axis_is_numpys_axis_error_naming_the_op(name, offset):
    fn, extra = AXIS_OPS[name]
    x = cugrad.ones(2, 3)
    top = 2 + extra
    for axis in (top + offset, -top - 1 - offset):
        with pytest.raises(AxisError, match=rf"^{name}: axis {axis} is out of range for a {top}-d tensor") as info:
            fn(x, axis)
        assert isinstance(info.value, IndexError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("name", sorted(AXIS_OPS))
def test_every_in_range_axis_matches_numpy(name):
    """The same ops accept each in-range axis, negative ones included (the old stack wrapped 77)."""
    fn, extra = AXIS_OPS[name]
    x = np.arange(6.0).reshape(2, 3)
    reference = {
        "sum": lambda a: x.sum(axis=a), "mean": lambda a: x.mean(axis=a), "max": lambda a: x.max(axis=a),
        "min": lambda a: x.min(axis=a), "var": lambda a: x.var(axis=a), "std": lambda a: x.std(axis=a),
        "argmax": lambda a: x.argmax(axis=a),
        "softmax": lambda a: np.exp(x) / np.exp(x).sum(axis=a, keepdims=True),
        "log_softmax": lambda a: x - np.log(np.exp(x).sum(axis=a, keepdims=True)),
        "swapaxes": lambda a: np.swapaxes(x, 0, a), "transpose": lambda a: np.swapaxes(x, a, 0) if a % 2 else x,
        "concatenate": lambda a: np.concatenate([x, x], axis=a), "stack": lambda a: np.stack([x, x], axis=a),
    }[name]
    for axis in range(-2 - extra, 2 + extra):
        if name == "transpose" and axis % 2 == 0:
            continue                                  # (0, 0) is no permutation
        np.testing.assert_allclose(fn(t64(x, False), axis).numpy(), reference(axis), rtol=1e-12)


@pytest.mark.parametrize("bad", [1.0, "0", True])
def test_non_integer_axis_is_a_type_error(bad):
    x = cugrad.ones(2, 3)
    for fn in (lambda: cugrad.stack([x, x], axis=bad), lambda: F.softmax(x, axis=bad), lambda: x.swapaxes(bad, 0),
               lambda: x.sum(axis=(0, bad))):
        with pytest.raises(TypeError, match="axis must be an int"):
            fn()


def test_repeated_axis_is_a_value_error():
    with pytest.raises(ValueError, match=r"^sum: repeated axis in \(1, -1\)"):
        cugrad.ones(2, 3).sum(axis=(1, -1))


# --------------------------------------------------------------------------- 0-d tensors

ZERO_D_REDUCTIONS = {
    "sum": (lambda x, **k: x.sum(**k), lambda x, **k: x.sum(**k)),
    "mean": (lambda x, **k: x.mean(**k), lambda x, **k: x.mean(**k)),
    "max": (lambda x, **k: x.max(**k), lambda x, **k: x.amax(**k)),
    "min": (lambda x, **k: x.min(**k), lambda x, **k: x.amin(**k)),
    "softmax": (lambda x, **k: F.softmax(x, **k), lambda x, **k: x.softmax(**k)),
    "log_softmax": (lambda x, **k: F.log_softmax(x, **k), lambda x, **k: x.log_softmax(**k)),
}


@pytest.mark.parametrize("name", sorted(ZERO_D_REDUCTIONS))
@pytest.mark.parametrize("dim", [0, -1])
def test_0d_tensor_takes_axis_0_and_minus_1_like_pytorch(torch, name, dim):
    ours, theirs = ZERO_D_REDUCTIONS[name]
    kwargs = {"dim": dim} if name in ("softmax", "log_softmax") else {"dim": dim, "keepdim": dim == 0}
    both(torch, lambda x: ours(x, **kwargs), lambda x: theirs(x, **kwargs), 2.5)
    with pytest.raises(AxisError, match=rf"^{name}: axis 1 is out of range for a 0-d tensor \(valid: -1, 0\)"):
        ours(t64(2.5), dim=1)


def test_softmax_of_0d_is_one_and_log_softmax_zero():
    np.testing.assert_array_equal(F.softmax(cugrad.tensor(7.0)).numpy(), 1.0)
    np.testing.assert_array_equal(F.log_softmax(cugrad.tensor(-3.0)).numpy(), 0.0)


@pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0:UserWarning")  # PyTorch's own warning
def test_var_std_argmax_swapaxes_of_0d(torch):
    both(torch, lambda x: x.var(axis=0), lambda x: x.var(dim=0, correction=0), 2.5)
    both(torch, lambda x: x.std(axis=-1, ddof=1), lambda x: x.std(dim=-1), 2.5)   # nan, as PyTorch
    assert cugrad.tensor(4.0).argmax(axis=0).item() == 0
    both(torch, lambda x: x.swapaxes(0, -1) * 3, lambda x: x.transpose(0, -1) * 3, 2.5)


def test_stack_of_0d_works_and_concatenate_refuses_clearly(torch):
    both(torch, lambda a, b: cugrad.stack([a, b]) * t64([1.0, 2.0], False),
         lambda a, b: torch.stack([a, b]) * torch.tensor([1.0, 2.0], dtype=torch.float64), 2.0, 3.0)
    both(torch, lambda a, b: cugrad.stack([a, b], axis=-1), lambda a, b: torch.stack([a, b], dim=-1), 2.0, 3.0)
    with pytest.raises(AxisError, match=r"^stack: axis 1 is out of range for a 1-d tensor"):
        cugrad.stack([t64(2.0), t64(3.0)], axis=1)
    with pytest.raises(ValueError, match=r"^concatenate: 0-d tensors cannot be concatenated"):
        cugrad.concatenate([t64(2.0), t64(3.0)])


# --------------------------------------------------------------------------- empty tensors

@pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0:UserWarning")  # PyTorch's own warning
@pytest.mark.parametrize("shape,axis", [((0,), None), ((0,), 0), ((0, 3), 0), ((0, 3), 1), ((3, 0), 1), ((3, 0), None)])
@pytest.mark.parametrize("name", ["sum", "mean", "var", "std", "max", "min"])
def test_reductions_of_empty_tensors_follow_pytorch(torch, name, shape, axis):
    """Sum of nothing 0, mean/var/std nan, max/min of nothing an error; reducing a non-empty axis
    of an empty tensor gives an empty result."""
    x = np.zeros(shape)
    kw = {} if axis is None else {"dim": axis}
    ref_fn = {"max": "amax", "min": "amin"}.get(name, name)
    if name in ("var", "std"):
        kw_t = dict(kw, correction=0)
    else:
        kw_t = kw
    try:
        getattr(torch.zeros(shape, dtype=torch.float64), ref_fn)(**kw_t)
    except (RuntimeError, IndexError):
        with pytest.raises(ValueError, match=rf"^{name}: cannot reduce an empty tensor of shape"):
            getattr(cugrad, name)(t64(x), axis=axis)
        return
    both(torch, lambda t: getattr(cugrad, name)(t, **kw), lambda t: getattr(t, ref_fn)(**kw_t), x)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_of_empty_is_empty(torch, name):
    for shape, axis in (((0, 3), 1), ((0, 3), 0), ((3, 0), 1)):
        both(torch, lambda t: getattr(F, name)(t, dim=axis), lambda t: getattr(t, name)(dim=axis), np.zeros(shape))


def test_argmax_of_empty_refuses():
    with pytest.raises(ValueError, match=r"^argmax: no maximum in an empty tensor of shape \(0, 3\)"):
        cugrad.zeros(0, 3).argmax(axis=0)
    assert cugrad.zeros(0, 3).argmax(axis=1).shape == (0,)


# --------------------------------------------------------------------------- var / std

@pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0:UserWarning")  # PyTorch's own warning
@pytest.mark.parametrize("ddof", [0, 1, 2, 3])
@pytest.mark.parametrize("values", [[1.0, 2.0], [5.0], [3.0, 3.0], [[1.0, 2.0, 4.0], [5.0, 5.0, 5.0]]])
def test_var_std_match_pytorch_including_no_degrees_of_freedom(torch, values, ddof):
    """max(n − ddof, 0) divides: inf, or nan for a constant, with no warning. Gradients are
    compared where PyTorch's are finite (its var/std gradients at dof <= 0 come from another
    formula)."""
    for name in ("var", "std"):
        ours = getattr(cugrad, name)(t64(values), axis=-1, ddof=ddof)
        ref = getattr(torch.tensor(values, dtype=torch.float64), name)(dim=-1, correction=ddof)
        same(ours, ref)
    if ddof < np.shape(values)[-1]:
        for name in ("var", "std"):
            both(torch, lambda t: getattr(t, name)(axis=-1, ddof=ddof),
                 lambda t: getattr(t, name)(dim=-1, correction=ddof), values)


def test_std_of_a_constant_has_zero_gradient(torch):
    both(torch, lambda t: t.std(), lambda t: t.std(correction=0), [2.0, 2.0, 2.0])
    both(torch, lambda t: t.std(axis=0, keepdims=True, ddof=1), lambda t: t.std(dim=0, keepdim=True),
         [[1.0, 2.0], [1.0, 4.0]])


def test_var_takes_pytorchs_correction_name():
    x = t64([1.0, 2.0, 4.0])
    np.testing.assert_allclose(x.var(correction=1).item(), np.var([1.0, 2.0, 4.0], ddof=1))
    with pytest.raises(TypeError, match="^var: got both ddof= and correction="):
        x.var(ddof=1, correction=1)


# --------------------------------------------------------------------------- clip

@pytest.mark.parametrize("lo,hi", [(3.0, 0.0), (-1.0, 1.0), (None, 0.5), (0.5, None), (1.0, 1.0), (2.0, 2.0)])
def test_clip_is_pytorchs_clamp(torch, lo, hi):
    values = [-2.0, -1.0, 0.0, 0.5, 1.0, 2.0, 5.0]
    both(torch, lambda t: t.clip(lo, hi), lambda t: t.clamp(lo, hi), values)


def test_clip_without_bounds_refuses():
    with pytest.raises(ValueError, match=r"^clip: needs min or max"):
        cugrad.clip(t64([1.0]), None, None)


# --------------------------------------------------------------------------- singular points

BASES = [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.5]
EXPONENTS = [0.0, 1.0, 0.3, 2.0, -1.0, 0.0, 0.0, -0.5]


def test_pow_gradients_at_zero_match_pytorch(torch):
    """x**0 has slope 0 at x = 0, 0**y has slope 0 in y for y >= 0, x**0.3 at 0 is inf in x."""
    both(torch, lambda a, b: a ** b, lambda a, b: a ** b, BASES, EXPONENTS)


@pytest.mark.parametrize("exponent", [0.0, 0.3, 1.0, 2.0, -1.0, 3])
def test_pow_with_a_scalar_exponent_at_zero(torch, exponent):
    both(torch, lambda a: a ** exponent, lambda a: a ** exponent, [0.0, 1.0, -2.0, 0.5])


@pytest.mark.parametrize("base", [0.0, 2.0, 0.5])
def test_pow_with_a_scalar_base(torch, base):
    both(torch, lambda b: base ** b, lambda b: base ** b, [0.0, 1.0, 0.3, -1.0, 2.0])


SINGULAR = {  # op at points where it is infinite, undefined or overflows: (ours, torch, inputs)
    "log": (cugrad.log, lambda t: t.log(), [[0.0, -1.0, 1.0]]),
    "sqrt": (cugrad.sqrt, lambda t: t.sqrt(), [[0.0, -1.0, 4.0]]),
    "div": (lambda a, b: a / b, lambda a, b: a / b, [[1.0, 0.0, -1.0], [0.0, 0.0, 0.0]]),
    "exp": (cugrad.exp, lambda t: t.exp(), [[1000.0, -1000.0, 0.0]]),
    "mul": (lambda a, b: a * b, lambda a, b: a * b, [[1e300, np.inf, 0.0], [1e300, 0.0, np.inf]]),
    "sub": (lambda a, b: a - b, lambda a, b: a - b, [[np.inf, 1.0], [np.inf, 1.0]]),
    "softmax": (lambda t: F.softmax(t, dim=-1), lambda t: t.softmax(dim=-1), [[[-np.inf, -np.inf], [0.0, -np.inf]]]),
    "log_softmax": (lambda t: F.log_softmax(t, dim=-1), lambda t: t.log_softmax(dim=-1),
                    [[[-np.inf, -np.inf], [0.0, 1.0]]]),
    "abs": (cugrad.abs, lambda t: t.abs(), [[0.0, -1.0]]),
    "maximum": (cugrad.maximum, lambda a, b: a.maximum(b), [[0.0, 1.0], [0.0, 2.0]]),
    "minimum": (cugrad.minimum, lambda a, b: a.minimum(b), [[0.0, 1.0, 3.0], [0.0, 2.0, -1.0]]),
    "relu": (F.relu, lambda t: t.relu(), [[0.0, -0.0, 1.0, -1.0]]),
    "leaky_relu": (lambda t: F.leaky_relu(t, 0.1), lambda t: torch_leaky_relu(t, 0.1), [[0.0, -0.0, 1.0, -1.0]]),
    "max ties": (lambda t: t.max(axis=1), lambda t: t.amax(dim=1), [[[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]]),
    "min ties": (lambda t: t.min(), lambda t: t.amin(), [[[1.0, 3.0, 1.0], [2.0, 1.0, 2.0]]]),
    "maximum nan": (cugrad.maximum, lambda a, b: a.maximum(b), [[np.nan, 1.0, np.nan, 2.0, 1.0], [1.0, np.nan, np.nan, 1.0, 1.0]]),
    "minimum nan": (cugrad.minimum, lambda a, b: a.minimum(b), [[np.nan, 1.0, np.nan, 2.0, 1.0], [1.0, np.nan, np.nan, 1.0, 1.0]]),
    "max nan": (lambda t: t.max(axis=1), lambda t: t.amax(dim=1), [[[np.nan, 1.0, 2.0], [1.0, 2.0, 2.0]]]),
    "min nan": (lambda t: t.min(axis=0), lambda t: t.amin(dim=0), [[[np.nan, 1.0], [0.0, 2.0]]]),
    "softmax inf": (lambda t: F.softmax(t, dim=-1), lambda t: t.softmax(-1), [[[np.inf, 1.0, -np.inf], [-np.inf, 1.0, 2.0]]]),
    "cross_entropy inf": (lambda t: F.cross_entropy(t, cugrad.tensor([1, 0])),
                          lambda t: torch_cross_entropy(t, [1, 0]), [[[np.inf, 1.0, 2.0], [-np.inf, -np.inf, -np.inf]]]),
    "tanh": (F.tanh, lambda t: t.tanh(), [[0.0, 30.0, -30.0]]),
    "sigmoid": (F.sigmoid, lambda t: t.sigmoid(), [[0.0, 800.0, -800.0]]),
    "softplus": (F.softplus, lambda t: torch_softplus(t), [[0.0, 800.0, -800.0]]),
}


def torch_leaky_relu(t, slope):
    import torch
    return torch.nn.functional.leaky_relu(t, slope)


def torch_cross_entropy(t, labels):
    import torch
    return torch.nn.functional.cross_entropy(t, torch.tensor(labels))


def torch_softplus(t):
    """PyTorch's softplus switches to x above 20; this is its exact formula, log1p(exp(x)), stably."""
    import torch
    return torch.logaddexp(torch.zeros_like(t), t)


@pytest.mark.parametrize("name", sorted(SINGULAR))
def test_singular_points_match_pytorch_without_warnings(torch, name):
    ours, theirs, inputs = SINGULAR[name]
    both(torch, ours, theirs, *inputs)


EXTREME_OPS = {
    "sum": lambda t: t.sum(), "mean": lambda t: t.mean(), "var": lambda t: t.var(), "std": lambda t: t.std(),
    "astype": lambda t: t.astype("float16"), "sigmoid": F.sigmoid, "tanh": F.tanh, "softplus": F.softplus,
    "gelu": F.gelu, "relu": F.relu, "leaky_relu": F.leaky_relu, "mse_loss": lambda t: F.mse_loss(t, t * 0),
    "exp": cugrad.exp, "log": cugrad.log, "sqrt": cugrad.sqrt, "softmax": lambda t: F.softmax(t, dim=0),
    "log_softmax": lambda t: F.log_softmax(t, dim=0), "cross_entropy": lambda t: F.cross_entropy(t.reshape(1, 5), cugrad.tensor([0])),
    "cross_entropy_prob": lambda t: F.cross_entropy(t.reshape(1, 5), cugrad.ones(1, 5)),
    "hinge_loss": lambda t: F.hinge_loss(t.reshape(1, 5), cugrad.tensor([0])),
    "linear": lambda t: F.linear(t.reshape(1, 5), cugrad.ones(2, 5) * 10), "matmul": lambda t: t.reshape(1, 5) @ (cugrad.ones(5, 1) * 10),
    "pow": lambda t: t ** 2, "rpow": lambda t: 2.0 ** t, "div": lambda t: 1 / t, "max": lambda t: t.max(), "abs": cugrad.abs,
    "clip": lambda t: t.clip(-1e38, 1e38), "maximum": lambda t: cugrad.maximum(t, t * 2), "l2_penalty": lambda t: F.l2_penalty([t]),
    "dropout": lambda t: F.dropout(t, 0.5), "layer_norm": lambda t: cugrad.nn.LayerNorm(5)(t.reshape(1, 5)),
}


@pytest.mark.parametrize("name", sorted(EXTREME_OPS))
def test_no_runtime_warning_at_float32_extremes(name):
    """±3e38, 0 and −0 in float32 overflow, divide by zero and leave domains somewhere in each op's
    forward or backward: PyTorch answers inf/nan silently, and so do we."""
    x = cugrad.tensor(np.array([3e38, -3e38, 1.0, 0.0, -0.0], np.float32), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = EXTREME_OPS[name](x)
        y.sum().backward()
    assert x.grad is not None


def test_in_place_ops_leak_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with cugrad.no_grad():
            t = cugrad.tensor([1.0, 0.0, 3e38])
            t /= 0.0
            t *= 1e38
            t -= np.inf
    assert np.isnan(t.numpy()).all()


def test_float32_overflow_and_empty_mean_leak_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = cugrad.tensor([3e38, 1.0], requires_grad=True)
        y = (x * x + x * 10 - x / 0.0).sum()
        y.backward()
        assert np.isinf(y.item()) or np.isnan(y.item())
        assert np.isnan(cugrad.zeros(0).mean().item())


# --------------------------------------------------------------------------- type promotion

def test_scalars_never_promote_a_tensors_float_dtype():
    for dt in ("float32", "float16", "float64"):
        x = cugrad.ones(3, dtype=dt)
        for s in (0.5, 2, np.float64(0.5), np.float32(0.5), np.int64(3), True):
            for out in (x * s, s * x, x + s, x - s, s - x, x / s, s / x, x ** s, cugrad.maximum(x, s),
                        cugrad.minimum(s, x), cugrad.where(x > 0, x, s), x.clip(s, None)):
                assert out.dtype == np.dtype(dt), (dt, s, out.dtype)


def test_integer_tensors_promote_to_float32_in_float_ops():
    i = cugrad.tensor([1, 2, 4])
    b = cugrad.tensor([True, False, True])
    cases = {
        "int * 0.5": i * 0.5, "int / int": i / i, "int / 2": i / 2, "2 / int": 2 / i, "int ** 0.5": i ** 0.5,
        "exp": cugrad.exp(i), "log": cugrad.log(i), "sqrt": cugrad.sqrt(i), "sigmoid": F.sigmoid(i),
        "tanh": F.tanh(i), "softplus": F.softplus(i), "gelu": F.gelu(i), "softmax": F.softmax(i),
        "mean": i.mean(), "var": i.var(), "std": i.std(), "bool * 0.5": b * 0.5,
        "maximum(int, 0.5)": cugrad.maximum(i, 0.5), "clip(int, 0.5)": i.clip(0.5, None),
        "where(int, 0.5)": cugrad.where(b, i, 0.5), "int * np.float64": i * np.float64(0.5),
    }
    for name, out in cases.items():
        assert out.dtype == np.float32, (name, out.dtype)
    np.testing.assert_allclose(cases["int ** 0.5"].numpy(), np.sqrt([1, 2, 4]), rtol=1e-6)
    np.testing.assert_allclose(cases["mean"].item(), 7 / 3, rtol=1e-6)
    np.testing.assert_allclose(cases["int / int"].numpy(), np.ones(3))
    for out in (i + 1, i * 2, i - np.int64(1), -i, i.sum(), i.max(), abs(i), i ** 2, cugrad.where(b, 1, 2)):
        assert out.dtype == np.int64
    assert cugrad.where(b, 0.5, 2).dtype == np.float32     # Python numbers alone: the default float
    assert (b + 1).dtype == np.int64


def test_int_and_float_tensors_give_the_float_tensors_dtype():
    i = cugrad.tensor([1, 2])
    for dt in ("float32", "float64", "float16"):
        f = cugrad.tensor([0.5, 0.25], dtype=dt)
        for out in (i * f, f + i, i / f, f ** i, cugrad.maximum(i, f), cugrad.concatenate([i, f]),
                    cugrad.stack([f, i]), cugrad.where(i > 1, i, f)):
            assert out.dtype == np.dtype(dt), (dt, out.dtype)
    assert (cugrad.ones(2, 2, dtype="int64") @ cugrad.ones(2, 2)).dtype == np.float32


def test_float32_linear_never_computes_in_float64():
    layer = cugrad.nn.Linear(2, 3)
    for x in (cugrad.tensor([[1, 2]]), cugrad.tensor(np.array([[1.0, 2.0]]))):
        y = layer(x)
        assert y.dtype == np.float32
        np.testing.assert_allclose(y.numpy(), layer(cugrad.tensor([[1.0, 2.0]])).numpy())
    x = cugrad.tensor(np.array([[1.0, 2.0]]), requires_grad=True)
    layer(x).sum().backward()
    assert x.grad.dtype == np.float64 and layer.weight.grad.dtype == np.float32


# --------------------------------------------------------------------------- dim= / keepdim=

def test_pytorch_names_dim_and_keepdim_everywhere(torch):
    x = np.arange(12.0).reshape(3, 4) / 7
    t = torch.tensor(x)
    same(F.softmax(t64(x), dim=0), torch.softmax(t, dim=0))
    same(F.log_softmax(t64(x), dim=-1), torch.log_softmax(t, dim=-1))
    same(t64(x).softmax(dim=0), t.softmax(dim=0))
    same(t64(x).log_softmax(dim=0), t.log_softmax(dim=0))
    for name, ref in (("sum", "sum"), ("mean", "mean"), ("max", "amax"), ("min", "amin")):
        same(getattr(t64(x), name)(dim=1, keepdim=True), getattr(t, ref)(dim=1, keepdim=True))
        same(getattr(cugrad, name)(t64(x), dim=(0, 1)), getattr(t, ref)(dim=(0, 1)))
    same(t64(x).var(dim=0, keepdim=True, correction=1), t.var(dim=0, keepdim=True))
    same(cugrad.std(t64(x), dim=1), t.std(dim=1, correction=0))
    same(cugrad.concatenate([t64(x), t64(x)], dim=1), torch.cat([t, t], dim=1))
    same(cugrad.stack([t64(x), t64(x)], dim=2), torch.stack([t, t], dim=2))
    same(t64(x).argmax(dim=1, keepdim=True), t.argmax(dim=1, keepdim=True))


@pytest.mark.parametrize("call", [
    lambda x: x.sum(axis=0, dim=0), lambda x: cugrad.mean(x, 1, dim=1), lambda x: x.max(keepdims=True, keepdim=True),
    lambda x: F.softmax(x, axis=0, dim=0), lambda x: x.log_softmax(0, dim=0), lambda x: cugrad.stack([x], axis=1, dim=1),
    lambda x: cugrad.concatenate([x], axis=1, dim=1), lambda x: x.var(axis=0, dim=0), lambda x: x.argmax(axis=0, dim=0),
])
def test_both_numpy_and_pytorch_names_is_a_type_error(call):
    with pytest.raises(TypeError, match=r": got both (axis= and dim=|keepdims= and keepdim=); pass one"):
        call(cugrad.ones(2, 3))


# --------------------------------------------------------------------------- cross-entropy

@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("target", [
    [[0.5, 0.5, 0.5]],                                       # the issue's row: does not sum to 1
    [[0.2, 0.3, 0.5]], [[0.0, 0.0, 0.0]], [[2.0, -1.0, 0.25]],
    [[0.1, 0.2, 0.7], [1.5, 0.0, 0.0], [0.3, 0.3, 0.3]],
])
def test_cross_entropy_with_probability_targets_is_pytorchs(torch, target, reduction):
    """Σ_c −y_c·log_softmax(x)_c: value, gradient w.r.t. the logits and w.r.t. the target."""
    logits = (np.arange(np.size(target), dtype=np.float64).reshape(np.shape(target)) * 0.7 - 1.0) % 3.1
    both(torch, lambda x, y: F.cross_entropy(x, y, reduction=reduction),
         lambda x, y: torch.nn.functional.cross_entropy(x, y, reduction=reduction), logits, target)


def test_cross_entropy_with_probability_targets_issue_reproducer(torch):
    x, y = t64([[1.0, 2.0, 3.0]]), t64([[0.5, 0.5, 0.5]])
    loss = F.cross_entropy(x, y)
    np.testing.assert_allclose(loss.item(), 1.5 * np.log(np.exp([1.0, 2.0, 3.0]).sum()) - 3.0, rtol=1e-14)  # 2.1114
    loss.backward()
    xt = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    same(y.grad, -torch.log_softmax(xt, dim=1))                  # was −x
    y2 = t64([[0.2, 0.3, 0.5]])
    F.cross_entropy(t64([[1.0, 2.0, 3.0]]), y2).backward()
    same(y2.grad, -torch.log_softmax(xt, dim=1))


def test_cross_entropy_probability_target_higher_order(torch):
    """Composed from log_softmax, so create_graph reaches both inputs."""
    x, y = t64([[0.3, -1.0, 2.0], [1.0, 1.0, 0.0]]), t64([[0.2, 0.3, 0.6], [1.0, 0.0, 0.5]])
    (gx,) = cugrad.grad(F.cross_entropy(x, y), [x], create_graph=True)
    (gx * gx).sum().backward()
    xt, yt = (torch.tensor(v.numpy(), requires_grad=True) for v in (x, y))
    (gxt,) = torch.autograd.grad(torch.nn.functional.cross_entropy(xt, yt), [xt], create_graph=True)
    (gxt * gxt).sum().backward()
    same(x.grad, xt.grad)
    same(y.grad, yt.grad)


@pytest.mark.parametrize("offset", [-1e4, 1e4, 1e6, -1e6])
@pytest.mark.parametrize("kind", ["index", "prob"])
def test_float32_cross_entropy_does_not_cancel_under_a_large_shared_offset(torch, offset, kind):
    """Every logit near ``offset``: float32 keeps no fraction digits of lse and x_t; computed from
    the shifted logits the loss and gradient match float64 to float32 precision (issue 13:
    1.2939453 for 1.2943768 at −1e4, 1.4 % off at 1e6)."""
    base = np.array([[0.5, 0.0, 0.0], [0.0, 2.0, -1.0]])
    x32 = (base + offset).astype(np.float32)
    x64 = x32.astype(np.float64)                                 # the same numbers, in float64
    labels = np.array([2, 1])
    target = labels if kind == "index" else np.array([[0.1, 0.2, 0.7], [0.0, 1.0, 0.0]])
    ours = cugrad.tensor(x32, requires_grad=True)
    loss = F.cross_entropy(ours, cugrad.tensor(target if kind == "index" else target.astype(np.float32)))
    loss.backward()
    ref_x = torch.tensor(x64, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(ref_x, torch.tensor(target))
    ref.backward()
    assert loss.dtype == np.float32
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=3e-7)
    np.testing.assert_allclose(ours.grad.numpy(), ref_x.grad.numpy(), rtol=2e-6, atol=1e-7)


def test_cross_entropy_issue_offset_reproducer():
    loss = F.cross_entropy(cugrad.tensor([[-1e4 + 0.5, -1e4, -1e4]]), cugrad.tensor([2]))
    np.testing.assert_allclose(loss.item(), 1.2943768, rtol=1e-7)


def test_other_losses_and_log_softmax_hold_under_a_large_offset(torch):
    """The same class: log_softmax, softmax, hinge and mse work on differences, so a shared offset
    costs them nothing beyond float32's rounding of the inputs themselves."""
    x32 = (np.array([[0.5, 0.0, -0.25]]) - 1e4).astype(np.float32)
    x64 = torch.tensor(x32.astype(np.float64))
    np.testing.assert_allclose(F.log_softmax(cugrad.tensor(x32)).numpy(), torch.log_softmax(x64, 1).numpy(), rtol=1e-6)
    np.testing.assert_allclose(F.softmax(cugrad.tensor(x32)).numpy(), torch.softmax(x64, 1).numpy(), rtol=1e-6)
    hinge = F.hinge_loss(cugrad.tensor(x32), cugrad.tensor([1])).item()
    np.testing.assert_allclose(hinge, (1.5 + 0.75) / 1, rtol=1e-6)
    mse = F.mse_loss(cugrad.tensor(x32), cugrad.tensor(x32 + np.float32(0.5))).item()
    np.testing.assert_allclose(mse, 0.25, rtol=1e-6)


def test_losses_of_integer_inputs_are_float32():
    i = cugrad.tensor([[1, 2, 3]])
    assert F.cross_entropy(i, cugrad.tensor([2])).dtype == np.float32
    assert F.cross_entropy(i, cugrad.tensor([[0.2, 0.3, 0.5]])).dtype == np.float32
    assert F.mse_loss(i, cugrad.tensor([[1, 1, 1]])).dtype == np.float32
    assert F.hinge_loss(i, cugrad.tensor([0])).dtype == np.float32
    np.testing.assert_allclose(F.mse_loss(i, cugrad.tensor([[1, 1, 1]])).item(), 5 / 3, rtol=1e-6)


# --------------------------------------------------------------------------- exception types

SHAPE_MISTAKES = {
    "add": lambda: cugrad.ones(2, 3) + cugrad.ones(4),
    "add (list)": lambda: cugrad.ones(2, 3) + [1.0, 2.0],
    "maximum": lambda: cugrad.maximum(cugrad.ones(2, 3), cugrad.ones(4)),
    "where": lambda: cugrad.where(cugrad.ones(2) > 0, cugrad.ones(2), cugrad.ones(3)),
    "matmul": lambda: cugrad.ones(2, 3) @ cugrad.ones(2, 3),
    "linear": lambda: F.linear(cugrad.ones(2, 3), cugrad.ones(4, 2)),
    "concatenate": lambda: cugrad.concatenate([cugrad.ones(2, 3), cugrad.ones(3, 2)]),
    "stack": lambda: cugrad.stack([cugrad.ones(2, 3), cugrad.ones(3, 2)]),
    "reshape": lambda: cugrad.ones(2, 3).reshape(4, 4),
    "mse_loss": lambda: F.mse_loss(cugrad.ones(2, 3), cugrad.ones(3, 2)),
    "cross_entropy": lambda: F.cross_entropy(cugrad.ones(2, 3), cugrad.tensor([0, 1, 2])),
    "hinge_loss": lambda: F.hinge_loss(cugrad.ones(2, 3), cugrad.tensor([0, 1, 2])),
    "backward": lambda: (cugrad.ones(2, requires_grad=True) * 2).backward(cugrad.ones(3)),
}


@pytest.mark.parametrize("name", sorted(SHAPE_MISTAKES))
def test_a_shape_mismatch_is_a_value_error_everywhere(name):
    with pytest.raises(ValueError, match=rf"^{name.split()[0]}: .*\(") as info:
        SHAPE_MISTAKES[name]()
    assert not isinstance(info.value, IndexError)             # an AxisError is for axes only


def test_integer_to_a_negative_integer_power_names_pow():
    with pytest.raises(ValueError, match="^pow: Integers to negative integer powers are not allowed"):
        cugrad.tensor([2, 3]) ** cugrad.tensor([-1, 1])


TYPE_MISTAKES = {
    "mse_loss": lambda: F.mse_loss(cugrad.ones(2), 3.0),
    "linear": lambda: F.linear([[1.0, 2.0]], cugrad.ones(3, 2)),
    "matmul": lambda: cugrad.ones(2, 2) @ [[1.0], [2.0]],
    "stack": lambda: cugrad.stack([cugrad.ones(2), 1.0]),
    "concatenate": lambda: cugrad.concatenate([cugrad.ones(2), [1.0]]),
    "cross_entropy": lambda: F.cross_entropy(cugrad.ones(2, 3), [0, 1]),
    "hinge_loss": lambda: F.hinge_loss(cugrad.ones(2, 3), cugrad.tensor([0.0, 1.0])),
    "sum": lambda: cugrad.ones(2).sum(axis=0.0),
    "softmax": lambda: F.softmax(cugrad.ones(2), dim="a"),
    "relu": lambda: F.relu(cugrad.tensor([1, 2])),
}


@pytest.mark.parametrize("name", sorted(TYPE_MISTAKES))
def test_a_wrong_type_is_a_type_error_naming_the_op(name):
    with pytest.raises(TypeError, match=rf"^{name}: "):
        TYPE_MISTAKES[name]()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_of_an_empty_batch_follow_pytorch(torch, reduction):
    """mean over no rows is nan (mse_loss gave 0), sum 0, none empty; no warning, empty gradients."""
    tf = torch.nn.functional
    labels = np.zeros(0, np.int64)
    cases = (
        (lambda x: F.cross_entropy(x, cugrad.tensor(labels), reduction=reduction),
         lambda x: tf.cross_entropy(x, torch.tensor(labels), reduction=reduction)),
        (lambda x: F.cross_entropy(x, cugrad.zeros(0, 3, dtype="float64"), reduction=reduction),
         lambda x: tf.cross_entropy(x, torch.zeros(0, 3, dtype=torch.float64), reduction=reduction)),
        (lambda x: F.mse_loss(x, cugrad.zeros(0, 3, dtype="float64"), reduction=reduction),
         lambda x: tf.mse_loss(x, torch.zeros(0, 3, dtype=torch.float64), reduction=reduction)),
    )
    for ours, theirs in cases:
        both(torch, ours, theirs, np.zeros((0, 3)))


@pytest.mark.parametrize("name, expected", [("relu", 0.0), ("relu6", 0.0), ("elu", np.nan), ("abs", np.nan)])
def test_gradient_at_a_nan_input_follows_the_documented_rule(name, expected):
    """README, intended differences: NaN is not > 0, so relu-like masks drop it; elu and abs propagate it."""
    x = cugrad.tensor(np.array([np.nan, 2.0]), requires_grad=True)
    op = getattr(F, name, None) or getattr(cugrad, name)
    op(x).sum().backward()
    np.testing.assert_equal(x.grad.numpy(), [expected, 1.0])
