"""The engine (src/cugrad/autograd.py): Function/ctx, the backward sweep, cugrad.grad,
create_graph (Hessian-vector products, gradient-norm penalty) and grad modes."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import cugrad
from cugrad.nn import functional as F


def t64(values, device, requires_grad=True):
    return cugrad.tensor(np.asarray(values, dtype=np.float64), device=device, requires_grad=requires_grad)


def host(t):
    return t.numpy() if isinstance(t, cugrad.Tensor) else np.asarray(t)


# --------------------------------------------------------------------------- Function / ctx


class Multiply(cugrad.Function):
    """The seeds' example (seed 000, "class Multiply(torch.autograd.Function)"), with cugrad's names."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        z = x * y
        return z

    @staticmethod
    def backward(ctx, grad_z):
        x, y = ctx.saved_tensors
        grad_x = y * grad_z
        grad_y = x * grad_z
        return grad_x, grad_y


def test_seed_multiply_function(device):
    a = cugrad.tensor([2.0, -3.0], device=device, requires_grad=True)
    b = cugrad.tensor([5.0, 4.0], device=device, requires_grad=True)
    z = Multiply.apply(a, b)
    assert isinstance(z, cugrad.Tensor) and isinstance(z.grad_fn, Multiply)
    np.testing.assert_array_equal(host(z), [10.0, -12.0])
    z.backward(cugrad.tensor([1.0, 2.0], device=device))
    np.testing.assert_array_equal(host(a.grad), [5.0, 8.0])  # y * grad_z
    np.testing.assert_array_equal(host(b.grad), [2.0, -6.0])  # x * grad_z


def test_seed_multiply_scalars_match_seed_gate_example(device):
    # seed 003: x = 2, y = 3, z = xy = 6, upstream 5 -> dL/dx = 15, dL/dy = 10
    x = cugrad.tensor(2.0, device=device, requires_grad=True)
    y = cugrad.tensor(3.0, device=device, requires_grad=True)
    z = Multiply.apply(x, y)
    assert z.item() == 6.0
    z.backward(cugrad.tensor(5.0, device=device))
    assert x.grad.item() == 15.0 and y.grad.item() == 10.0


def test_function_on_raw_arrays_just_computes():
    out = Multiply.apply(np.array([2.0]), np.array([3.0]))
    assert isinstance(out, np.ndarray) and out[0] == 6.0


def test_function_without_requires_grad_records_nothing(device):
    a = cugrad.tensor([1.0, 2.0], device=device)
    z = Multiply.apply(a, a)
    assert z.grad_fn is None and not z.requires_grad


def test_custom_function_is_differentiable_twice(device):
    # under create_graph, saved_tensors come back as graph tensors: d²(xy)/dx dy = 1
    x = t64(3.0, device)
    y = t64(-2.0, device)
    z = Multiply.apply(x, y) * x  # x²y
    (gx,) = cugrad.grad(z, [x], create_graph=True)  # 2xy
    assert gx.item() == pytest.approx(-12.0)
    gxx, gxy = cugrad.grad(gx, [x, y])  # 2y, 2x
    assert gxx.item() == pytest.approx(-4.0) and gxy.item() == pytest.approx(6.0)


def test_needs_input_grad_and_python_constants(device):
    seen = {}

    class Scale(cugrad.Function):
        @staticmethod
        def forward(ctx, x, factor, bias):
            ctx.factor = factor
            return x * factor + bias

        @staticmethod
        def backward(ctx, g):
            seen["needs"] = ctx.needs_input_grad
            return g * ctx.factor, None, g

    x = cugrad.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = cugrad.tensor([0.5, 0.5], device=device)
    Scale.apply(x, 3.0, b).sum().backward()
    assert seen["needs"] == (True, False, False)
    np.testing.assert_array_equal(host(x.grad), [3.0, 3.0])
    assert b.grad is None


def test_backward_returning_wrong_shape_names_the_function(device):
    class Bad(cugrad.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g.sum()

    x = cugrad.tensor([1.0, 2.0], device=device, requires_grad=True)
    with pytest.raises(ValueError, match=r"Bad\.backward returned a gradient of shape \(\) for an input of shape \(2,\)"):
        Bad.apply(x).sum().backward()


def test_backward_returning_too_few_gradients(device):
    class Two(cugrad.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x + y

        @staticmethod
        def backward(ctx, g):
            return (g,)

    x = cugrad.tensor([1.0], device=device, requires_grad=True)
    with pytest.raises(ValueError, match=r"Two\.backward returned 1 gradients for 2 forward arguments"):
        Two.apply(x, x).sum().backward()


def test_multiple_outputs_only_one_used(device):
    class Split(cugrad.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, g2, g3):
            return 2 * g2 + 3 * g3

    x = cugrad.tensor([1.0, 1.0], device=device, requires_grad=True)
    a, b = Split.apply(x)
    b.sum().backward()  # a's gradient is zeros
    np.testing.assert_array_equal(host(x.grad), [3.0, 3.0])


# --------------------------------------------------------------------------- the sweep


def test_fan_out_gradients_sum(device):
    x = t64([1.5, -2.0], device)
    f = x * x + x + x.exp() * x  # x used four times
    f.sum().backward()
    xv = np.array([1.5, -2.0])
    np.testing.assert_allclose(host(x.grad), 2 * xv + 1 + np.exp(xv) * (xv + 1), rtol=1e-12)


def test_same_tensor_twice_in_one_op(device):
    x = t64([3.0], device)
    (x + x).sum().backward()
    assert x.grad.item() == 2.0
    x.grad = None
    (x * x).sum().backward()
    assert x.grad.item() == 6.0


def test_diamond_graph(device):
    # a -> (b, c) -> d: the shared node's gradient is the sum of both paths before it runs
    a = t64(2.0, device)
    h = a * 3.0
    d = h.exp() + h * h
    d.backward()
    assert a.grad.item() == pytest.approx(3 * np.exp(6.0) + 2 * 6.0 * 3)


def test_leaf_grad_accumulates_across_backward_calls(device):
    x = t64([1.0, 2.0], device)
    (x * 3.0).sum().backward()
    first = x.grad
    (x * x).sum().backward()
    np.testing.assert_array_equal(host(x.grad), [3.0 + 2.0, 3.0 + 4.0])
    np.testing.assert_array_equal(host(first), [3.0, 3.0])  # the first gradient was not mutated
    x.grad = None
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(host(x.grad), [3.0, 3.0])


def test_grad_dtype_matches_leaf(device):
    x = cugrad.tensor([1.0, 2.0], device=device, requires_grad=True)
    assert x.dtype == np.float32
    (x.to("float64") * 2.0).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(host(x.grad), [2.0, 2.0])


def test_hundred_thousand_node_chain(device):
    x = t64(1.0, device)
    y = x
    for _ in range(50_000):
        y = y * 1.0
        y = y + 0.0
    assert y.grad_fn is not None
    y.backward()
    assert x.grad.item() == 1.0
    del y  # freeing a 100 000-node graph must not overflow the stack either


def test_backward_on_leaf_scalar(device):
    x = t64(2.0, device)
    x.backward()
    assert x.grad.item() == 1.0


def test_backward_seeded_with_gradient(device):
    x = t64([1.0, 2.0, 3.0], device)
    y = x * x
    y.backward(cugrad.tensor([1.0, 0.5, 0.0], dtype="float64", device=device))
    np.testing.assert_array_equal(host(x.grad), [2.0, 2.0, 0.0])


def test_backward_seed_of_wrong_shape(device):
    x = t64([1.0, 2.0], device)
    with pytest.raises(ValueError, match=r"backward: gradient of shape \(3,\) for an output of shape \(2,\)"):
        (x * 2.0).backward(np.ones(3))


@pytest.mark.gpu
def test_backward_seed_on_another_device_is_refused_by_name():
    x = t64([1.0, 2.0], "cuda")
    with pytest.raises(RuntimeError, match=r"backward: the gradient is on cpu, its output on cuda:0; move it"):
        (x * 2.0).backward(cugrad.tensor([1.0, 1.0], dtype="float64"))
    (x * 2.0).backward(np.ones(2))          # a host array is copied over, as before
    np.testing.assert_array_equal(host(x.grad), [2.0, 2.0])


def test_backward_from_non_scalar_without_grad(device):
    x = t64([[1.0, 2.0]], device)
    with pytest.raises(RuntimeError, match=r"backward: grad can be implicitly created only for scalar outputs, got shape \(1, 2\)"):
        (x * 2.0).backward()


def test_backward_on_tensor_without_grad(device):
    x = cugrad.tensor([1.0], device=device)
    with pytest.raises(RuntimeError, match=r"backward: a tensor of shape \(\) does not require grad"):
        (x * 2.0).sum().backward()


# --------------------------------------------------------------------------- retain_graph


def test_second_backward_through_freed_graph_raises(device):
    x = t64([1.0, 2.0], device)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"Mul: trying to backward through the graph a second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_second_backward(device):
    x = t64([1.0, 2.0], device)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(host(x.grad), [4.0, 8.0])
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_saved_arrays_are_released_after_backward(device):
    x = t64([1.0, 2.0], device)
    y = x * x
    node = y.grad_fn
    assert len(node._saved) == 2
    y.sum().backward()
    assert node._saved == ()


# --------------------------------------------------------------------------- cugrad.grad


def test_grad_returns_gradients_and_leaves_dot_grad_alone(device):
    x = t64([1.0, 2.0], device)
    w = t64([3.0, -1.0], device)
    loss = (x * w).sum()
    gx, gw = cugrad.grad(loss, [x, w])
    np.testing.assert_array_equal(host(gx), [3.0, -1.0])
    np.testing.assert_array_equal(host(gw), [1.0, 2.0])
    assert x.grad is None and w.grad is None
    assert not gx.requires_grad


def test_grad_of_intermediate_and_single_input(device):
    x = t64([1.0, 2.0], device)
    h = x * 2.0
    loss = (h * h).sum()
    (gh,) = cugrad.grad(loss, h, retain_graph=True)
    np.testing.assert_array_equal(host(gh), 2 * host(h))
    (gx,) = cugrad.grad(loss, x)
    np.testing.assert_array_equal(host(gx), 8 * np.array([1.0, 2.0]))
    assert x.grad is None


def test_grad_unused_input(device):
    x = t64([1.0], device)
    z = t64([1.0], device)
    loss = (x * 2.0).sum()
    with pytest.raises(RuntimeError, match=r"grad: an input of shape \(1,\) was not used.*allow_unused=True"):
        cugrad.grad(loss, [x, z], retain_graph=True)
    gx, gz = cugrad.grad(loss, [x, z], allow_unused=True)
    assert gz is None and gx.item() == 2.0


def test_grad_with_grad_outputs(device):
    x = t64([1.0, 2.0], device)
    (g,) = cugrad.grad(x * x, x, grad_outputs=t64([1.0, -1.0], device, requires_grad=False))
    np.testing.assert_array_equal(host(g), [2.0, -4.0])


def test_grad_input_must_require_grad(device):
    x = t64([1.0], device)
    c = cugrad.tensor([1.0], device=device)
    with pytest.raises(RuntimeError, match="grad: every input must be a Tensor that requires grad"):
        cugrad.grad((x * c).sum(), [c])


# --------------------------------------------------------------------------- create_graph


def _f_and_hessian(xv):
    """f(x) = Σx³ + x0·x1·x2 + Σ log x + x0²·x2, its gradient and its Hessian (analytic)."""
    x0, x1, x2 = xv
    grad = 3 * xv**2 + np.array([x1 * x2, x0 * x2, x0 * x1]) + 1 / xv + np.array([2 * x0 * x2, 0, x0**2])
    hess = np.diag(6 * xv - 1 / xv**2)
    hess += np.array([[0, x2, x1], [x2, 0, x0], [x1, x0, 0]])
    hess += np.array([[2 * x2, 0, 2 * x0], [0, 0, 0], [2 * x0, 0, 0]])
    return grad, hess


def _f(x):
    return (x**3).sum() + x[0] * x[1] * x[2] + x.log().sum() + x[0] ** 2 * x[2]


def test_hessian_vector_product_matches_analytic_hessian(device):
    xv = np.array([0.7, 1.3, 2.1])
    v = np.array([0.3, -1.2, 0.5])
    grad, hess = _f_and_hessian(xv)
    x = t64(xv, device)
    (g,) = cugrad.grad(_f(x), x, create_graph=True)
    assert g.requires_grad
    np.testing.assert_allclose(host(g), grad, rtol=1e-12)
    (g * cugrad.tensor(v, device=device)).sum().backward()
    np.testing.assert_allclose(host(x.grad), hess @ v, rtol=1e-12)
    # every column of the Hessian, one HVP each
    for i in range(3):
        x = t64(xv, device)
        (g,) = cugrad.grad(_f(x), x, create_graph=True)
        (hcol,) = cugrad.grad(g[i], x)
        np.testing.assert_allclose(host(hcol), hess[i], rtol=1e-12)


def test_func_hvp_matches_analytic_hessian(device):
    xv = np.array([0.7, 1.3, 2.1])
    v = np.array([0.3, -1.2, 0.5])
    _, hess = _f_and_hessian(xv)
    value, (hv,) = cugrad.func.hvp(_f, (t64(xv, device, False),), (cugrad.tensor(v, device=device),))
    np.testing.assert_allclose(value.item(), (xv**3).sum() + xv.prod() + np.log(xv).sum() + xv[0] ** 2 * xv[2])
    np.testing.assert_allclose(host(hv), hess @ v, rtol=1e-12)


def test_hvp_of_quadratic_form_through_matmul(device):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 4))
    a = a + a.T
    xv, v = rng.standard_normal(4), rng.standard_normal(4)
    A = cugrad.tensor(a, device=device)
    _, (hv,) = cugrad.func.hvp(lambda x: 0.5 * (x @ (A @ x)), (t64(xv, device, False),), (cugrad.tensor(v, device=device),))
    np.testing.assert_allclose(host(hv), a @ v, rtol=1e-10)


def test_hvp_through_activations_and_losses_matches_finite_differences(device):
    rng = np.random.default_rng(2)
    xin = cugrad.tensor(rng.standard_normal((5, 3)), device=device)
    labels = cugrad.tensor(rng.integers(0, 4, 5), device=device)
    w0, v = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))

    def loss(w):
        h = F.tanh(xin @ w) + F.sigmoid(xin @ w) + F.softplus(xin @ w)
        return F.cross_entropy(h, labels) + F.mse_loss(F.gelu(h), h * 0.5) + F.log_softmax(h).sum() * 0.01

    def gradient(wv):
        w = t64(wv, device)
        (g,) = cugrad.grad(loss(w), w)
        return host(g)

    _, (hv,) = cugrad.func.hvp(loss, (t64(w0, device, False),), (cugrad.tensor(v, device=device),))
    eps = 1e-5
    numeric = (gradient(w0 + eps * v) - gradient(w0 - eps * v)) / (2 * eps)
    np.testing.assert_allclose(host(hv), numeric, rtol=1e-5, atol=1e-8)


def _data_loss(w, x, y):
    """L(W) = Σ (σ(xW) − y)²: a small smooth loss whose gradient norm we penalize."""
    d = F.sigmoid(x @ w) - y
    return (d * d).sum()


def _penalty(w, x, y):
    """R(W) = ‖∂L/∂W‖² (seed 004, gradient-norm regularization), kept differentiable."""
    (g,) = cugrad.grad(_data_loss(w, x, y), w, create_graph=True)
    return (g * g).sum()


def test_gradient_norm_penalty_matches_finite_differences(device):
    rng = np.random.default_rng(3)
    x = cugrad.tensor(rng.standard_normal((6, 3)), device=device)
    y = cugrad.tensor(rng.uniform(size=(6, 2)), device=device)
    w0 = rng.standard_normal((3, 2)) * 0.5
    w = t64(w0, device)
    total = _data_loss(w, x, y) + 0.1 * _penalty(w, x, y)
    total.backward()
    analytic = host(w.grad)

    def objective(wv):
        w = t64(wv, device)
        return _data_loss(w, x, y).item() + 0.1 * _penalty(w, x, y).item()

    eps = 1e-6
    numeric = np.zeros_like(w0)
    for idx in np.ndindex(*w0.shape):
        e = np.zeros_like(w0)
        e[idx] = eps
        numeric[idx] = (objective(w0 + e) - objective(w0 - e)) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_gradient_norm_penalty_of_least_squares_is_analytic(device):
    # L = ½‖Xw − y‖²: ∇L = Xᵀr (r = Xw − y), R = ‖Xᵀr‖², ∇R = 2 XᵀX Xᵀr
    rng = np.random.default_rng(4)
    xv, yv, wv = rng.standard_normal((5, 3)), rng.standard_normal(5), rng.standard_normal(3)
    X, Y, w = cugrad.tensor(xv, device=device), cugrad.tensor(yv, device=device), t64(wv, device)
    r = X @ w - Y
    (g,) = cugrad.grad(0.5 * (r * r).sum(), w, create_graph=True)
    R = (g * g).sum()
    R.backward()
    gradL = xv.T @ (xv @ wv - yv)
    assert R.item() == pytest.approx(gradL @ gradL, rel=1e-12)
    np.testing.assert_allclose(host(w.grad), 2 * xv.T @ xv @ gradL, rtol=1e-10)


def test_gradient_norm_penalty_scalar_seed_formula(device):
    # seed 004: ∂R/∂x0 = 2 (∂²L/∂x0²)(∂L/∂x0);  L = x0⁴ → L' = 4x0³, L'' = 12x0²
    x0 = t64(1.5, device)
    (g,) = cugrad.grad(x0**4, x0, create_graph=True)
    (g * g).backward()
    assert x0.grad.item() == pytest.approx(2 * 12 * 1.5**2 * 4 * 1.5**3)


def test_create_graph_backward_accumulates_differentiable_grad(device):
    x = t64(2.0, device)
    (x**3).backward(create_graph=True)
    assert x.grad.requires_grad and x.grad.item() == pytest.approx(12.0)
    (gg,) = cugrad.grad(x.grad, x)
    assert gg.item() == pytest.approx(12.0)


def test_third_derivative(device):
    x = t64(0.5, device)
    (g1,) = cugrad.grad(x.exp() * x, x, create_graph=True)  # (x+1)eˣ
    (g2,) = cugrad.grad(g1, x, create_graph=True)  # (x+2)eˣ
    (g3,) = cugrad.grad(g2, x)  # (x+3)eˣ
    assert g3.item() == pytest.approx(3.5 * np.exp(0.5), rel=1e-12)


# --------------------------------------------------------------------------- grad modes


def test_no_grad_context_manager(device):
    x = t64([1.0], device)
    assert cugrad.is_grad_enabled()
    with cugrad.no_grad():
        assert not cugrad.is_grad_enabled()
        y = x * 2.0
        with cugrad.enable_grad():
            assert cugrad.is_grad_enabled()
            z = x * 2.0
        assert not cugrad.is_grad_enabled()
    assert cugrad.is_grad_enabled()
    assert y.grad_fn is None and not y.requires_grad
    assert z.grad_fn is not None and z.requires_grad


def test_no_grad_restores_mode_after_exception():
    with pytest.raises(KeyError):
        with cugrad.no_grad():
            raise KeyError
    assert cugrad.is_grad_enabled()


def test_no_grad_and_enable_grad_as_decorators(device):
    x = t64([1.0], device)

    @cugrad.no_grad()
    def frozen(t):
        """doc"""
        return t * 2.0, cugrad.is_grad_enabled()

    @cugrad.enable_grad()
    def recorded(t):
        return t * 2.0

    y, mode = frozen(x)
    assert y.grad_fn is None and mode is False
    assert frozen.__name__ == "frozen" and frozen.__doc__ == "doc"
    with cugrad.no_grad():
        z = recorded(x)
        assert not cugrad.is_grad_enabled()
    assert z.grad_fn is not None
    assert cugrad.is_grad_enabled()


def test_no_grad_object_reused_and_nested():
    ng = cugrad.no_grad()
    with ng:
        with ng:
            assert not cugrad.is_grad_enabled()
        assert not cugrad.is_grad_enabled()
    assert cugrad.is_grad_enabled()


def test_grad_mode_is_thread_local(device):
    x = t64([1.0], device)
    entered, release = threading.Event(), threading.Event()
    seen = {}

    def worker():
        with cugrad.no_grad():
            seen["worker_mode"] = cugrad.is_grad_enabled()
            seen["worker_out"] = x * 2.0
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert entered.wait(10)
        # the worker sits inside no_grad; this thread still records
        assert cugrad.is_grad_enabled()
        y = x * 2.0
        assert y.grad_fn is not None
    finally:
        release.set()
        thread.join()
    assert seen["worker_mode"] is False and seen["worker_out"].grad_fn is None

    # and the other way round: a no_grad here does not switch recording off in a new thread
    with cugrad.no_grad():
        out = {}
        t = threading.Thread(target=lambda: out.setdefault("mode", cugrad.is_grad_enabled()))
        t.start()
        t.join()
    assert out["mode"] is True


def test_backward_inside_no_grad_still_computes_gradients(device):
    x = t64([1.0, 2.0], device)
    y = (x * x).sum()
    with cugrad.no_grad():
        y.backward()
    np.testing.assert_array_equal(host(x.grad), [2.0, 4.0])
    assert not x.grad.requires_grad
