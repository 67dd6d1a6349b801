"""Every activation of the table (kernels.ACTIVATION_TABLE), read from the table: values and
gradients against PyTorch CPU in float64 (kinks and extremes included), gradcheck of the first and
second derivative, the fused linear op, the nn modules, the Tensor methods, integer inputs and the
parameter checks. A new row is tested here without an edit."""
from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import cugrad
from cugrad import kernels, nn
from cugrad.kernels import ACTIVATION_TABLE, kernel_dir
from cugrad.nn import functional as F
from activation_refs import cugrad_fn, grad_tol, param_values, require_torch, torch_fn, torch_forward, torch_grad

NAMES = [name for name in ACTIVATION_TABLE if name != "identity"]
# a parameter unlike the default and not 0 (leaky_relu's slope, elu's and celu's alpha)
PARAM = {name: next(p for p in param_values(name)[1:] if p) for name in NAMES if ACTIVATION_TABLE[name].param}
EDGES = [0.0, -0.0, 3.0, -3.0, 6.0, -6.0, 1e-8, -1e-8, 30.0, -30.0, 700.0, -700.0]


def call(name, x):
    """cugrad's op with the test parameter, and its float64 leaf's gradient helper."""
    op = cugrad_fn(name)
    return op(x, PARAM[name]) if name in PARAM else op(x)


def smooth_points(rng, shape):
    """Values at least 0.05 from every kink (0, ±3, 6): finite differences see one piece."""
    x = rng.uniform(-5, 7, shape)
    for k in (0.0, -3.0, 3.0, 6.0):
        x = np.where(np.abs(x - k) < 0.05, x + 0.1, x)
    return x


def test_the_table_and_the_kernel_enum_list_the_same_activations():
    text = (kernel_dir() / "activations.cu").read_text()
    enum = dict(re.findall(r"\bACT_(\w+)\s*=\s*(\d+)", text))
    assert {k.lower() for k in enum} == set(ACTIVATION_TABLE) == set(kernels.ACTIVATIONS)
    assert sorted(int(v) for v in enum.values()) == list(range(len(enum)))     # distinct codes
    assert all(kernels.ACTIVATIONS[k.lower()] == int(v) for k, v in enum.items())


@pytest.mark.parametrize("shape", [(), (0,), (3, 4)])
@pytest.mark.parametrize("name", NAMES)
def test_values_and_gradients_match_torch(name, shape, device):
    """On "cuda" (a GPU, or the suite's stand-in running the kernels on the host emulator) the
    fused kernels themselves."""
    rng = np.random.default_rng(3)
    x = rng.uniform(-8, 8, shape)
    g = rng.standard_normal(shape)
    p = PARAM.get(name)
    t = cugrad.tensor(x, requires_grad=True, device=device)
    y = call(name, t)
    assert y.shape == shape and y.dtype == np.float64
    np.testing.assert_allclose(y.numpy(), torch_forward(name, x, p), rtol=1e-12, atol=1e-15)
    y.backward(cugrad.tensor(g, device=device))
    np.testing.assert_allclose(t.grad.numpy(), torch_grad(name, g, x if ACTIVATION_TABLE[name].saves == "x"
                                                          else y.numpy(), p), **grad_tol(name, np.float64))


@pytest.mark.parametrize("name", NAMES)
def test_float32_values_match_torch(name, device):
    x = np.linspace(-4, 4, 17, dtype=np.float32)
    y = call(name, cugrad.tensor(x, device=device))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), torch_forward(name, x, PARAM.get(name)), rtol=2e-6, atol=2e-7)


@pytest.mark.parametrize("name", NAMES)
def test_kinks_and_extremes_match_torch(name):
    """At 0, ±3, 6, tiny and huge inputs: the one-sided choices and overflow handling of PyTorch."""
    x = np.array(EDGES)
    p = PARAM.get(name)
    torch = require_torch()
    tx = torch.tensor(x, requires_grad=True)
    ty = torch_fn(name, p)(tx)
    ty.sum().backward()
    t = cugrad.tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)      # overflow is handled, never warned about
        y = call(name, t)
        y.sum().backward()
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(t.grad.numpy(), tx.grad.numpy(), **grad_tol(name, np.float64))


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_first_and_second_derivative(name):
    x = smooth_points(np.random.default_rng(5), (7,))
    assert cugrad.gradcheck(lambda t: call(name, t), [cugrad.tensor(x, requires_grad=True)])
    assert cugrad.gradcheck(lambda t: call(name, t) * t + call(name, t), [cugrad.tensor(x, requires_grad=True)])

    @cugrad.enable_grad()  # gradcheck evaluates fn under no_grad for its finite differences
    def first(t):
        (gx,) = cugrad.grad(call(name, t).sum(), [t], create_graph=True)
        return gx * t                                    # * t: a graph even where act'' = 0
    assert cugrad.gradcheck(first, [cugrad.tensor(x, requires_grad=True)])


@pytest.mark.parametrize("name", [n for n in NAMES if n != "hardsigmoid"])  # torch: not implemented
def test_second_derivative_matches_torch(name, device):
    torch = require_torch()
    x = smooth_points(np.random.default_rng(6), (9,))
    p = PARAM.get(name)
    tx = torch.tensor(x, requires_grad=True)
    (tg,) = torch.autograd.grad(torch_fn(name, p)(tx).sum(), [tx], create_graph=True)
    (tgg,) = torch.autograd.grad((tg * tg * tx).sum(), [tx])    # * x: a graph even where act'' = 0
    t = cugrad.tensor(x, requires_grad=True, device=device)
    (g,) = cugrad.grad(call(name, t).sum(), [t], create_graph=True)
    (gg,) = cugrad.grad((g * g * t).sum(), [t])
    np.testing.assert_allclose(gg.numpy(), tgg.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", [n for n in NAMES if n != "gelu"])
def test_fused_linear_matches_torch(name):
    """linear(x, W, b, activation) in one op (saving y or z = xWᵀ + b, as the row says)."""
    torch = require_torch()
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal((5, 4)) * 2, rng.standard_normal((3, 4)), rng.standard_normal(3)
    p = PARAM.get(name)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    torch_fn(name, p)(torch.nn.functional.linear(tx, tw, tb)).sum().backward()
    cx, cw, cb = (cugrad.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.linear(cx, cw, cb, activation=name, negative_slope=p)
    y.sum().backward()
    with torch.no_grad():
        want = torch_fn(name, p)(torch.nn.functional.linear(tx, tw, tb)).numpy()
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-12, atol=1e-14)
    for ours, theirs in ((cx, tx), (cw, tw), (cb, tb)):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("name", [n for n in NAMES if n != "hardsigmoid"])  # torch: not implemented
def test_fused_linear_second_derivative_matches_torch(name):
    """Under create_graph, act'(z) has the graph of x, W and b (z is recomputed where it was saved)."""
    torch = require_torch()
    rng = np.random.default_rng(8)
    arrays = rng.standard_normal((5, 4)), rng.standard_normal((3, 4)), rng.standard_normal(3)
    p = PARAM.get(name)
    tx = [torch.tensor(a, requires_grad=True) for a in arrays]
    tg = torch.autograd.grad(torch_fn(name, p)(torch.nn.functional.linear(*tx)).sum(), tx, create_graph=True)
    want = torch.autograd.grad(sum((g * g).sum() for g in tg), tx)
    cx = [cugrad.tensor(a, requires_grad=True) for a in arrays]
    cg = cugrad.grad(F.linear(*cx, activation=name, negative_slope=p).sum(), cx, create_graph=True)
    got = cugrad.grad(sum((g * g).sum() for g in cg), cx, allow_unused=True)   # relu's b: unused
    for ours, theirs in zip(got, want):
        np.testing.assert_allclose(0 * theirs.numpy() if ours is None else ours.numpy(), theirs.numpy(),
                                   rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_module_method_and_functional_agree(name):
    x = cugrad.tensor(np.linspace(-5, 7, 13))
    want = F.gelu(x, approximate="none") if name == "gelu" else getattr(F, name)(x)
    module = nn.GELU("none") if name == "gelu" else nn.ACTIVATIONS[name]()
    np.testing.assert_array_equal(module(x).numpy(), want.numpy())
    method = getattr(x, name)(approximate="none") if name == "gelu" else getattr(x, name)()
    np.testing.assert_array_equal(method.numpy(), want.numpy())
    assert type(module).__name__ == (ACTIVATION_TABLE[name].module if name != "gelu" else "GELU")
    assert name in nn.ACTIVATIONS and name in F.__all__ and name in cugrad.ops.__all__


@pytest.mark.parametrize("name", [n for n in NAMES if n != "gelu"])
def test_mlp_with_each_activation_trains_one_step(name):
    """The MLP (and the CLI's --activation) accept every row; the loss falls after a step."""
    cugrad.manual_seed(0)
    model = nn.MLP([3, 8, 2], activation=name, dtype="float64")
    x = cugrad.tensor(np.random.default_rng(1).standard_normal((16, 3)))
    y = cugrad.tensor(np.random.default_rng(2).standard_normal((16, 2)))
    opt = cugrad.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    for _ in range(2):
        loss = F.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[1] < losses[0]


@pytest.mark.parametrize("name", NAMES)
def test_integer_input(name):
    x = cugrad.tensor(np.array([-2, 0, 3]))
    if ACTIVATION_TABLE[name].integers == "refuse":
        with pytest.raises(TypeError, match=rf"{name}: needs a floating-point tensor, got int64"):
            call(name, x)
    else:
        y = call(name, x)
        assert y.dtype == np.float32
        np.testing.assert_allclose(y.numpy(), torch_forward(name, [-2.0, 0.0, 3.0], PARAM.get(name)), rtol=1e-6,
                                   atol=1e-7)


def test_parameter_checks_name_the_activation():
    x = cugrad.tensor([1.0])
    with pytest.raises(ValueError, match=r"leaky_relu: negative_slope must be >= 0, got -0.1"):
        F.leaky_relu(x, -0.1)
    with pytest.raises(ValueError, match=r"celu: alpha must not be 0"):
        F.celu(x, alpha=0.0)
    with pytest.raises(ValueError, match=r"celu: alpha must not be 0"):
        nn.CELU(0.0)
    with pytest.raises(TypeError, match=r"elu: takes x and one parameter, alpha"):
        F.elu(x, beta=2.0)
    with pytest.raises(ValueError, match=r"linear: unknown activation 'swish'"):
        F.linear(x.reshape(1, 1), cugrad.tensor([[1.0]]), activation="swish")


def test_readme_lists_every_activation():
    """In the functional list, the nn module list and the CLI's --activation choices."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    functional, modules = readme.split("- `cugrad.nn.functional`:")[1].split("- `cugrad.nn`:")
    cli = readme.split("`--activation NAME`")[1].split(")")[0]
    for name in NAMES:
        assert re.search(rf"`{name}[`(]", functional) and f"`{ACTIVATION_TABLE[name].module}`" in modules
        assert re.search(rf"\b{name}\b", cli), name


def test_init_gain_comes_from_the_table():
    assert nn.init.calculate_gain("selu") == 0.75
    assert nn.init.calculate_gain("tanh") == 5.0 / 3.0
    assert nn.init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2.0 / 1.04)
    assert nn.init.calculate_gain("silu") == math.sqrt(2.0)


@pytest.mark.parametrize("beta,threshold", [(1.0, 20.0), (2.0, 5.0), (0.5, 1.0)])
def test_softplus_beta_threshold_matches_torch(beta, threshold):
    torch = require_torch()
    x = np.array([-30.0, -2.0, 0.0, 0.4, 1.9, 2.1, 2.6, 10.0, 30.0])
    tx = torch.tensor(x, requires_grad=True)
    want = torch.nn.functional.softplus(tx, beta=beta, threshold=threshold)
    want.sum().backward()
    t = cugrad.tensor(x, requires_grad=True)
    y = F.softplus(t, beta, threshold)
    y.sum().backward()
    np.testing.assert_allclose(y.numpy(), want.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(t.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-15)
    xs = np.array([-1.3, 0.2, 1.1])
    assert cugrad.gradcheck(lambda v: F.softplus(v, beta, 20.0), [cugrad.tensor(xs, requires_grad=True)])


def test_softplus_default_is_exact_everywhere():
    """No threshold by default (an intended difference from PyTorch, README): ln(1 + eˣ) at 25."""
    t = cugrad.tensor(np.array([25.0, 40.0]), requires_grad=True)
    y = F.softplus(t)
    y.sum().backward()
    np.testing.assert_allclose(y.numpy(), np.logaddexp(0, [25.0, 40.0]), rtol=1e-15)
    assert y.numpy()[0] != 25.0
    np.testing.assert_allclose(t.grad.numpy(), 1 / (1 + np.exp([-25.0, -40.0])), rtol=1e-15)
