"""The engine's hot path (src/cugrad/autograd.py), by the properties its speed relies on: the sweep
runs nodes in decreasing creation order, each once, after every gradient it gets has arrived;
fan-in sums add in place only into buffers the engine allocated; fp_quiet forwards are quiet per
class, inherited or not; Tensor.from_array wraps without a copy."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import cugrad
from cugrad.ops.arithmetic import Mul


def host(t):
    return t.numpy() if isinstance(t, cugrad.Tensor) else np.asarray(t)


class Probe(cugrad.Function):
    """y = x; counts how often each instance's backward runs, and checks its gradient is whole."""

    calls = []

    @staticmethod
    def forward(ctx, x):
        return x

    @staticmethod
    def backward(ctx, g):
        Probe.calls.append(ctx)
        return g


class Split(cugrad.Function):
    """(y₁, y₂) = (2x, −x): a node with two outputs, each of which may be used at another depth."""

    @staticmethod
    def forward(ctx, x):
        return 2 * x, -x

    @staticmethod
    def backward(ctx, g1, g2):
        return 2 * g1 - g2


def _random_dag(x, rng, n_nodes):
    """A graph of probes over sums, products and splits of earlier values picked at random, so that
    values feed nodes created much later, several times, and through both outputs of a split."""
    values = [x]
    for _ in range(n_nodes):
        kind = rng.integers(3)
        a = values[rng.integers(len(values))]
        b = values[rng.integers(len(values))]
        if kind == 0:
            values.append(Probe.apply(a + b * 0.5))
        elif kind == 1:
            values.append(Probe.apply(a * 0.75 - b))
        else:
            values.extend(Probe.apply(v) for v in Split.apply(a))
    return values


@pytest.mark.parametrize("seed", range(6))
def test_every_node_runs_once_with_all_its_gradient(device, seed):
    """Against the same graph differentiated by finite differences: a node run before all its
    gradient had arrived would run twice (or lose a contribution)."""
    rng = np.random.default_rng(seed)
    values = [1.3, -0.4]
    x = cugrad.tensor(np.array(values), device=device, requires_grad=True)
    Probe.calls = []
    outs = _random_dag(x, np.random.default_rng(seed), 25)
    roots = [outs[-1], outs[len(outs) // 2]]
    weights = rng.standard_normal((2, 2))
    loss = (roots[0] * cugrad.tensor(weights[0], device=device)).sum() \
        + (roots[1] * cugrad.tensor(weights[1], device=device)).sum()
    loss.backward()
    probes = {id(o.grad_fn) for o in outs[1:] if isinstance(o.grad_fn, Probe)}
    ran = [id(c) for c in Probe.calls]
    assert len(ran) == len(set(ran)), "a node's backward ran twice"
    assert set(ran) <= probes

    def f(v):
        y = _random_dag(cugrad.tensor(v), np.random.default_rng(seed), 25)
        return float((host(y[-1]) * weights[0]).sum() + (host(y[len(y) // 2]) * weights[1]).sum())

    # the graph is affine in x, so central differences are exact up to rounding
    fd = [(f(np.array(values) + e) - f(np.array(values) - e)) / 2 for e in np.eye(2)]
    np.testing.assert_allclose(host(x.grad), fd, rtol=1e-9, atol=1e-9)


def test_backward_of_several_roots_sharing_a_graph(device):
    x = cugrad.tensor([2.0, 3.0], dtype="float64", device=device, requires_grad=True)
    h = x * x
    a, b = h.sum(), (h * x).sum()        # b is created after a, and both reach h
    cugrad.autograd.backward([b, a])
    np.testing.assert_allclose(host(x.grad), 3 * np.array([4.0, 9.0]) + 2 * np.array([2.0, 3.0]))


class AliasGrad(cugrad.Function):
    """y = 2x; its backward hands back an array it does not own (the saved ``two``, itself)."""

    @staticmethod
    def forward(ctx, x):
        two = np.full(x.shape, 2.0, x.dtype) if isinstance(x, np.ndarray) else x * 0 + 2
        ctx.save_for_backward(two)
        return 2 * x

    @staticmethod
    def backward(ctx, g):
        (two,) = ctx.saved
        return two


def test_fan_in_never_adds_into_an_array_a_backward_returned(device):
    """Three contributions to one leaf, each the very array a backward saved: the sum goes into a
    fresh buffer, the saved arrays keep their values (a second backward sees them intact)."""
    x = cugrad.tensor([1.0, -1.0], dtype="float64", device=device, requires_grad=True)
    y = AliasGrad.apply(x)
    total = y + y + y                    # y's node gets three gradients
    parts = [AliasGrad.apply(total) for _ in range(3)]   # and total's three saved arrays
    z = parts[0] + parts[1] + parts[2]
    seed = cugrad.tensor([1.0, 1.0], dtype="float64", device=device)
    z.backward(seed, retain_graph=True)
    for node in [y.grad_fn] + [p.grad_fn for p in parts]:
        np.testing.assert_array_equal(cugrad.Tensor.from_array(node.saved[0]).numpy(), [2.0, 2.0])
    np.testing.assert_array_equal(host(x.grad), [2.0, 2.0])   # dz/dx's own factor: y's saved 2s
    x.grad = None
    z.backward(seed)                     # the same graph again: nothing it saved was overwritten
    np.testing.assert_array_equal(host(x.grad), [2.0, 2.0])


class QuietDivide(cugrad.Function):
    fp_quiet = True

    @staticmethod
    def forward(ctx, a):
        return a / 0.0

    @staticmethod
    def backward(ctx, g):
        return g * np.inf


class InheritsQuiet(QuietDivide):
    """Inherits both forward and fp_quiet."""


class LoudDivide(QuietDivide):
    """Inherits forward, turns fp_quiet off: NumPy's warnings are the user's again."""

    fp_quiet = False


class QuietAgain(LoudDivide):
    """Its own forward, quiet again."""

    fp_quiet = True

    @staticmethod
    def forward(ctx, a):
        return np.log(a * 0.0)


@pytest.mark.parametrize("op", [QuietDivide, InheritsQuiet, QuietAgain])
@pytest.mark.parametrize("as_tensor", [True, False])
def test_fp_quiet_forward_is_quiet_per_class(op, as_tensor):
    a = np.array([1.0, 0.0])
    arg = cugrad.tensor(a, requires_grad=True) if as_tensor else a
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out = op.apply(arg)
    values = host(out)
    assert np.isinf(values[0]) and (np.isnan(values[1]) or np.isinf(values[1]))


@pytest.mark.parametrize("as_tensor", [True, False])
def test_fp_quiet_off_in_a_subclass_lets_numpy_warn(as_tensor):
    a = np.array([1.0, 0.0])
    arg = cugrad.tensor(a) if as_tensor else a
    with pytest.warns(RuntimeWarning):
        LoudDivide.apply(arg)
    with np.errstate(all="raise"), pytest.raises(FloatingPointError):
        LoudDivide.apply(arg)


def test_fp_quiet_forward_restores_the_callers_error_state():
    with np.errstate(all="raise"):
        QuietDivide.apply(cugrad.tensor([1.0]))
        with pytest.raises(FloatingPointError):
            np.array([1.0]) / 0.0
    assert Mul.fp_quiet  # the arithmetic ops are among the quiet ones


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int64", "bool"])
@pytest.mark.parametrize("shape", [(), (0,), (3, 2)])
def test_from_array_wraps_without_a_copy(dtype, shape):
    array = np.zeros(shape, dtype)
    t = cugrad.Tensor.from_array(array)
    assert t.data is array and t.dtype == array.dtype and t.shape == shape
    assert t.is_leaf and not t.requires_grad and t.grad is None
    if array.size:
        array.flat[0] = 1
        assert host(t).flat[0] == 1      # the memory is shared


def test_from_array_keeps_a_gpu_array_on_its_device(device):
    base = cugrad.ones(2, 3, device=device)
    t = cugrad.Tensor.from_array(base.data)
    assert t.device == base.device and t.data is base.data
