"""Every worked example of the seed texts (shared/seeds/*.txt) reproduces their numbers.

The seeds print values rounded to 2-3 decimals; the asserts use that printed precision. Where a
seed's arithmetic is wrong the test computes and asserts the right value and says which line.
"""
from __future__ import annotations

import numpy as np
import pytest

import cugrad
from cugrad.nn import functional as F


def host(t):
    return t.numpy()


def scalar(value, device, dtype="float64"):
    return cugrad.tensor(value, dtype=dtype, device=device, requires_grad=True)


def test_add_mul_circuit(device):
    """Seeds 000/003/004: f = (x + y)·z at x = −2, y = 5, z = −4 → q = 3, f = −12;
    ∂f/∂x = −4, ∂f/∂y = −4, ∂f/∂z = 3."""
    x, y, z = scalar(-2.0, device), scalar(5.0, device), scalar(-4.0, device)
    q = x + y
    f = q * z
    assert q.item() == 3.0 and f.item() == -12.0
    f.backward()
    assert (x.grad.item(), y.grad.item(), z.grad.item()) == (-4.0, -4.0, 3.0)
    # seed 003's numerical check: bump x by 0.001 → f = −12.004, slope −4
    with cugrad.no_grad():
        bumped = ((x + 0.001) + y) * z
    assert bumped.item() == pytest.approx(-12.004, abs=1e-9)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_neuron(dtype, device):
    """Seeds 000/003/004: f = σ(w0·x0 + w1·x1 + w2) at (w0, x0, w1, x1, w2) = (2, −1, −3, −2, −3):
    s3 = 1, f ≈ 0.731, σ'·1 ≈ 0.197; dw0 = −0.20, dx0 = 0.39, dw1 = −0.39, dx1 = −0.59, dw2 = 0.20.

    Seed 003 rounds σ' before multiplying, so its code comments (003_c835d3c524f1e7c0.txt lines
    219-221: dx0 0.394, dw1 −0.394, dx1 −0.591) and its prose (line 106-107: 0.40, −0.40, −0.60) are
    off in the last printed digit; the exact values are 0.3932, −0.3932, −0.5898, asserted here."""
    w0, x0, w1, x1, w2 = (scalar(v, device, dtype) for v in (2.0, -1.0, -3.0, -2.0, -3.0))
    s0 = w0 * x0
    s1 = w1 * x1
    s2 = s0 + s1
    s3 = s2 + w2
    assert (s0.item(), s1.item(), s2.item(), s3.item()) == (-2.0, 6.0, 4.0, 1.0)
    L = F.sigmoid(s3)
    assert L.item() == pytest.approx(0.731, abs=5e-4)
    L.backward()
    grads = [t.grad.item() for t in (w0, x0, w1, x1, w2)]
    np.testing.assert_allclose(grads, [-0.197, 0.393, -0.393, -0.590, 0.197], atol=5e-4)
    np.testing.assert_allclose(grads, [-0.20, 0.39, -0.39, -0.59, 0.20], atol=5e-3)  # 2-decimal rounding
    # exactly: σ(1)(1 − σ(1)) times the other factor of each product
    local = 1 / (1 + np.exp(-1.0)) * (1 - 1 / (1 + np.exp(-1.0)))
    np.testing.assert_allclose(grads, local * np.array([-1.0, 2.0, -2.0, -3.0, 1.0]), rtol=1e-6)


def test_sigmoid_neuron_gate_by_gate(device):
    """Seed 000: the same neuron through −1·, exp, +1, 1/x gates; the gradient at the input of the
    "·(−1)" gate is 0.20, and the gates give the same answer as the single sigmoid gate."""
    w0, x0, w1, x1, w2 = (scalar(v, device) for v in (2.0, -1.0, -3.0, -2.0, -3.0))
    s3 = w0 * x0 + w1 * x1 + w2
    f = 1.0 / (1.0 + (-s3).exp())
    assert f.item() == pytest.approx(0.73, abs=5e-3)
    (gs3,) = cugrad.grad(f, [s3])
    assert gs3.item() == pytest.approx(0.20, abs=5e-3)
    assert gs3.item() == pytest.approx(0.1966119332, abs=1e-9)


def test_sigmoid_neuron_seed003_single_weight(device):
    """Seed 003: f = σ(w·x + b), w = 2, x = −1, b = 3 → f ≈ 0.731, df/dg ≈ −0.534, df/dw = −0.197,
    df/db = 0.197, df/dx = 0.393 (the seed prints 0.394 = 2 × 0.197, rounded before multiplying;
    exactly 2σ(1)(1 − σ(1)) = 0.3932)."""
    w, x, b = scalar(2.0, device), scalar(-1.0, device), scalar(3.0, device)
    a = w * x
    c = a + b
    d = -c
    e = d.exp()
    g = 1.0 + e
    f = 1.0 / g
    assert (a.item(), c.item(), d.item()) == (-2.0, 1.0, -1.0)
    assert e.item() == pytest.approx(0.368, abs=5e-4) and g.item() == pytest.approx(1.368, abs=5e-4)
    assert f.item() == pytest.approx(0.731, abs=5e-4)
    (dg,) = cugrad.grad(f, [g], retain_graph=True)
    assert dg.item() == pytest.approx(-0.534, abs=5e-4)
    f.backward()
    assert w.grad.item() == pytest.approx(-0.197, abs=5e-4)
    assert x.grad.item() == pytest.approx(0.393, abs=5e-4)
    assert b.grad.item() == pytest.approx(0.197, abs=5e-4)


def test_relu_vector(device):
    """Seeds 000/003/004: x = [1, −2, 3, −1], ReLU → [1, 0, 3, 0]; upstream [4, −1, 5, 9] →
    dL/dx = [4, 0, 5, 0]."""
    x = cugrad.tensor([1.0, -2.0, 3.0, -1.0], device=device, requires_grad=True)
    z = F.relu(x)
    np.testing.assert_array_equal(host(z), [1.0, 0.0, 3.0, 0.0])
    z.backward(cugrad.tensor([4.0, -1.0, 5.0, 9.0], device=device))
    np.testing.assert_array_equal(host(x.grad), [4.0, 0.0, 5.0, 0.0])
    x.grad = None
    cugrad.maximum(x, 0.0).backward(cugrad.tensor([4.0, -1.0, 5.0, 9.0], device=device))  # the max gate
    np.testing.assert_array_equal(host(x.grad), [4.0, 0.0, 5.0, 0.0])


def test_matmul_example(device):
    """Seeds 003/004: X (2×3) · W (3×4) with upstream dL/dY (2×4).

    Y = [[−1, −1, 2, 6], [5, 2, 11, 7]] — as seed 004 prints it (004_1b9a91e2a8cd4f69.txt line 539).
    Seed 003 (003_c835d3c524f1e7c0.txt line 150, "y = xW = [[13, 9, −2, −6], [5, 2, 17, 1]]")
    prints a WRONG Y: e.g. y₁₁ = 2·3 + 1·2 + (−3)·3 = −1, not 13. We assert the right one.
    Seed 004's gradient slices: dL/dx₁₁ = 0, dL/dx₂₃ = −30.
    """
    xv = np.array([[2.0, 1.0, -3.0], [-3.0, 4.0, 2.0]])
    wv = np.array([[3.0, 2.0, 1.0, -1.0], [2.0, 1.0, 3.0, 2.0], [3.0, 2.0, 1.0, -2.0]])
    dy = np.array([[2.0, 3.0, -3.0, 9.0], [-8.0, 1.0, 4.0, 6.0]])
    x = cugrad.tensor(xv, device=device, requires_grad=True)
    w = cugrad.tensor(wv, device=device, requires_grad=True)
    y = x @ w
    right_y = [[-1.0, -1.0, 2.0, 6.0], [5.0, 2.0, 11.0, 7.0]]
    seed003_y = [[13.0, 9.0, -2.0, -6.0], [5.0, 2.0, 17.0, 1.0]]
    np.testing.assert_array_equal(host(y), right_y)
    assert not np.array_equal(host(y), seed003_y)
    y.backward(cugrad.tensor(dy, device=device))
    dx, dw = host(x.grad), host(w.grad)
    assert dx[0, 0] == 0.0 and dx[1, 2] == -30.0
    np.testing.assert_array_equal(dx, dy @ wv.T)  # dL/dX = dL/dY · Wᵀ
    np.testing.assert_array_equal(dx, [[0.0, 16.0, -9.0], [-24.0, 9.0, -30.0]])
    np.testing.assert_array_equal(dw, xv.T @ dy)  # dL/dW = Xᵀ · dL/dY
    np.testing.assert_array_equal(dw, [[28.0, 3.0, -18.0, 0.0], [-30.0, 7.0, 13.0, 33.0], [-22.0, -7.0, 17.0, -15.0]])


def test_u_xy_v_u_plus_y_l_v_squared(device):
    """Seed 002: u = x·y, v = u + y, L = v²: ∂L/∂x = 2v·y, ∂L/∂y = 2v + 2v·x (y used twice)."""
    for xv, yv in ((3.0, 2.0), (-1.5, 0.5), (0.25, -4.0)):
        x, y = scalar(xv, device), scalar(yv, device)
        u = x * y
        v = u + y
        L = v * v
        L.backward()
        vv = xv * yv + yv
        assert L.item() == pytest.approx(vv**2)
        assert x.grad.item() == pytest.approx(2 * vv * yv)
        assert y.grad.item() == pytest.approx(2 * vv + 2 * vv * xv)
        assert y.grad.item() == pytest.approx(2 * yv * (xv + 1) ** 2)  # v = y(x + 1)
    x, y = scalar(3.0, device), scalar(2.0, device)
    L = (x * y + y) ** 2
    L.backward()
    assert (L.item(), x.grad.item(), y.grad.item()) == (64.0, 32.0, 64.0)


def test_practice_problem(device):
    """Seed 002 practice: a = x + y, b = x·a, L = b² → ∂L/∂x = 2x(x+y)(2x+y), ∂L/∂y = 2x²(x+y)."""
    for xv, yv in ((2.0, 1.0), (-1.0, 3.0), (0.5, -2.5)):
        x, y = scalar(xv, device), scalar(yv, device)
        a = x + y
        b = x * a
        L = b**2
        L.backward()
        assert x.grad.item() == pytest.approx(2 * xv * (xv + yv) * (2 * xv + yv))
        assert y.grad.item() == pytest.approx(2 * xv**2 * (xv + yv))
    x, y = scalar(2.0, device), scalar(1.0, device)
    L = (x * (x + y)) ** 2
    L.backward()
    assert (L.item(), x.grad.item(), y.grad.item()) == (36.0, 60.0, 24.0)


def test_affine_relu_example(device):
    """Seed 003: x = [[1, 2]], W = [[0.5, −0.3], [0.8, 0.1]], b = [[0.1, −0.2]], y = ReLU(xW + b):
    xW = [[2.1, −0.1]], +b = [[2.2, −0.3]], y = [[2.2, 0]]; upstream [[1, 1]] → dL/db = [[1, 0]],
    dL/dW = [[1, 0], [2, 0]], dL/dx = [[0.5, 0.8]]."""
    x = cugrad.tensor([[1.0, 2.0]], dtype="float64", device=device, requires_grad=True)
    W = cugrad.tensor([[0.5, -0.3], [0.8, 0.1]], dtype="float64", device=device, requires_grad=True)
    b = cugrad.tensor([[0.1, -0.2]], dtype="float64", device=device, requires_grad=True)
    xw = x @ W
    pre = xw + b
    y = F.relu(pre)
    np.testing.assert_allclose(host(xw), [[2.1, -0.1]], atol=1e-12)
    np.testing.assert_allclose(host(pre), [[2.2, -0.3]], atol=1e-12)
    np.testing.assert_allclose(host(y), [[2.2, 0.0]], atol=1e-12)
    y.backward(cugrad.tensor([[1.0, 1.0]], dtype="float64", device=device))
    np.testing.assert_allclose(host(b.grad), [[1.0, 0.0]])
    np.testing.assert_allclose(host(W.grad), [[1.0, 0.0], [2.0, 0.0]])
    np.testing.assert_allclose(host(x.grad), [[0.5, 0.8]])
    # the same layer through the fused linear op (weight as (out, in), bias 1-D)
    x2 = cugrad.tensor([[1.0, 2.0]], dtype="float64", device=device, requires_grad=True)
    Wt = cugrad.tensor(np.array([[0.5, -0.3], [0.8, 0.1]]).T, dtype="float64", device=device, requires_grad=True)
    b1 = cugrad.tensor([0.1, -0.2], dtype="float64", device=device, requires_grad=True)
    y2 = F.linear(x2, Wt, b1, activation="relu")
    np.testing.assert_allclose(host(y2), [[2.2, 0.0]], atol=1e-12)
    y2.sum().backward()
    np.testing.assert_allclose(host(b1.grad), [1.0, 0.0])
    np.testing.assert_allclose(host(Wt.grad), np.array([[1.0, 0.0], [2.0, 0.0]]).T)
    np.testing.assert_allclose(host(x2.grad), [[0.5, 0.8]])


@pytest.mark.parametrize("target_kind", ["labels", "one_hot", "probabilities"])
def test_softmax_cross_entropy_gradient_is_p_minus_y(target_kind, device):
    """Seeds 001/002: for softmax + cross-entropy, ∂L/∂z = p − y."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4, 5)) * 2
    labels = np.array([0, 3, 4, 1])
    y = {"labels": np.eye(5)[labels], "one_hot": np.eye(5)[labels], "probabilities": rng.dirichlet(np.ones(5), 4)}[target_kind]
    target = cugrad.tensor(labels if target_kind == "labels" else y, device=device)
    logits = cugrad.tensor(z, device=device, requires_grad=True)
    F.cross_entropy(logits, target, reduction="sum").backward()
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(host(logits.grad), p - y, rtol=1e-12, atol=1e-15)
    # and the same by composing softmax and −Σ y log p by hand (no fused op)
    logits.grad = None
    (-(target.astype("float64") if target_kind != "labels" else cugrad.tensor(y, device=device))
     * F.softmax(logits).log()).sum().backward()
    np.testing.assert_allclose(host(logits.grad), p - y, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- the two-layer net


N, D_in, H, D_out = 64, 1000, 100, 10


def _seed_data(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((N, D_in)), rng.standard_normal((N, D_out)),
            rng.standard_normal((D_in, H)), rng.standard_normal((H, D_out)))


def _flat_numpy_losses(x, y, w1, w2, steps):
    """Seed 000's 20-line network, exactly (its loop body), for ``steps`` steps."""
    w1, w2 = w1.copy(), w2.copy()
    losses = []
    for t in range(steps):
        h = 1 / (1 + np.exp(-x.dot(w1)))
        y_pred = h.dot(w2)
        loss = np.square(y_pred - y).sum()
        losses.append(loss)

        grad_y_pred = 2.0 * (y_pred - y)
        grad_w2 = h.T.dot(grad_y_pred)
        grad_h = grad_y_pred.dot(w2.T)
        grad_w1 = x.T.dot(grad_h * h * (1 - h))

        w1 -= 1e-4 * grad_w1
        w2 -= 1e-4 * grad_w2
    return losses, w1, w2


STEPS = 5


@pytest.mark.parametrize("forward", ["sigmoid", "seed_formula"])
def test_two_layer_net_matches_flat_numpy(forward, device):
    """Seed 000: N, D_in, H, D_out = 64, 1000, 100, 10; sigmoid hidden layer; squared loss;
    SGD lr 1e-4 — cugrad gives the flat NumPy code's losses and weights step for step (float64,
    same init)."""
    xv, yv, w1v, w2v = _seed_data()
    expected, w1_end, w2_end = _flat_numpy_losses(xv, yv, w1v, w2v, STEPS)
    x, y = cugrad.tensor(xv, device=device), cugrad.tensor(yv, device=device)
    w1 = cugrad.tensor(w1v, device=device, requires_grad=True)
    w2 = cugrad.tensor(w2v, device=device, requires_grad=True)
    losses = []
    for t in range(STEPS):
        if forward == "sigmoid":
            h = F.sigmoid(x @ w1)
        else:
            h = 1 / (1 + (-(x @ w1)).exp())
        y_pred = h @ w2
        loss = ((y_pred - y) ** 2).sum()
        losses.append(loss.item())
        loss.backward()
        with cugrad.no_grad():
            w1 -= 1e-4 * w1.grad
            w2 -= 1e-4 * w2.grad
        w1.grad = None
        w2.grad = None
    assert losses[-1] < losses[0]  # it trains
    np.testing.assert_allclose(losses, expected, rtol=1e-10)
    np.testing.assert_allclose(host(w1), w1_end, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(host(w2), w2_end, rtol=1e-9, atol=1e-12)


def test_two_layer_net_float32_stays_finite(device):
    """In float32 the pre-activations of this net reach |x·w1| ≈ 100: the sigmoid's gradient is
    taken from its output, so the step stays finite where e^−x overflows."""
    xv, yv, w1v, w2v = (a.astype(np.float32) for a in _seed_data(1))
    x, y = cugrad.tensor(xv, device=device), cugrad.tensor(yv, device=device)
    w1 = cugrad.tensor(w1v, device=device, requires_grad=True)
    w2 = cugrad.tensor(w2v, device=device, requires_grad=True)
    assert np.abs(xv @ w1v).max() > 89  # e^89 overflows float32
    expected, _, _ = _flat_numpy_losses(*(a.astype(np.float64) for a in (xv, yv, w1v, w2v)), 3)
    for step in range(3):
        loss = ((F.sigmoid(x @ w1) @ w2 - y) ** 2).sum()
        assert loss.item() == pytest.approx(expected[step], rel=1e-4)
        loss.backward()
        with cugrad.no_grad():
            w1 -= 1e-4 * w1.grad
            w2 -= 1e-4 * w2.grad
        w1.grad = w2.grad = None
        assert np.isfinite(host(w1)).all() and np.isfinite(host(w2)).all()
