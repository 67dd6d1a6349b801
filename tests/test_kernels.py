"""The NumPy twins of cugrad.kernels (the CPU path) against plain reference formulas, and, on a
GPU, every CUDA kernel against its twin."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from cugrad import kernels as K
from activation_refs import grad_tol, saved, torch_forward, torch_grad
from kernel_cases import DTYPES, LAYOUTS, SIZES, tol

rng = np.random.default_rng(7)
ACTS = list(K.ACTIVATIONS)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
def test_bias_activation_twin(act, dtype):
    x, b = rng.standard_normal((50, 7)).astype(dtype) * 3, rng.standard_normal(7).astype(dtype)
    want = torch_forward(act, x.astype(np.float64) + b, 0.2)
    got = K.bias_activation(x, b, act, 0.2)
    assert got.dtype == dtype and got.shape == x.shape
    np.testing.assert_allclose(got, want, rtol=tol(dtype)["rtol"] * 4, atol=tol(dtype)["atol"] * 4)
    y = x.copy()
    assert K.bias_activation(y, None, act, 0.2, out=y) is y
    np.testing.assert_allclose(y, torch_forward(act, x, 0.2), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_is_finite_at_extremes(dtype):
    x = np.array([-1000, -100, -20, 0, 20, 100, 1000], dtype)
    y = K.bias_activation(x, None, "sigmoid")
    assert np.isfinite(y).all()
    assert 0 <= y[0] < (2e-5 if dtype == np.float16 else 1e-37) and y[-1] == 1 and y[3] == 0.5
    if dtype != np.float16:
        r = max(1e-5, tol(dtype)["rtol"])                               # bfloat16: its own rounding
        np.testing.assert_allclose(y[2], np.exp(-20.0), rtol=r)        # no cancellation for z < 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
def test_activation_backward_twin(act, dtype):
    z = rng.standard_normal(200).astype(dtype) * 2
    g = rng.standard_normal(200).astype(dtype)
    s = saved(act, z, K.bias_activation(z, None, act, 0.25))
    want = torch_grad(act, g, s, 0.25)
    np.testing.assert_allclose(K.activation_backward(g, s, act, 0.25), want, **grad_tol(act, dtype))
    out = g.copy()                                   # in place over g
    K.activation_backward(out, s, act, 0.25, out=out)
    np.testing.assert_allclose(out, want, **grad_tol(act, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
def test_activation_backward_bias_grad_twin(act, dtype):
    z = rng.standard_normal((3, 40, 9)).astype(dtype) * 2
    g = rng.standard_normal((3, 40, 9)).astype(dtype)
    y = saved(act, z, K.bias_activation(z, None, act, 0.25))
    want = torch_grad(act, g, y, 0.25)
    dx, db = K.activation_backward(g, y, act, 0.25, bias_grad=True)
    assert dx.dtype == dtype and dx.shape == g.shape and db.dtype == dtype and db.shape == (9,)
    np.testing.assert_allclose(dx, want, **grad_tol(act, dtype))
    np.testing.assert_allclose(db, want.sum(axis=(0, 1)), rtol=tol(dtype)["rtol"],
                               atol=0.1 if np.dtype(dtype).itemsize == 2 else 1e-5)
    out = g.copy()                                   # in place over g
    assert K.activation_backward(out, y, act, 0.25, out=out, bias_grad=True)[0] is out
    np.testing.assert_allclose(out, want, **grad_tol(act, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_bias_grad_twin(dtype):
    g = rng.standard_normal((4, 30, 9)).astype(dtype)
    got = K.bias_grad(g)
    assert got.shape == (9,) and got.dtype == dtype
    np.testing.assert_allclose(got, g.astype(np.float64).sum(axis=(0, 1)), rtol=tol(dtype)["rtol"], atol=0.1 if np.dtype(dtype).itemsize == 2 else 1e-5)


def ref_xent(x, t):
    """float64 reference: (loss, row max, log-sum of the shifted row, softmax)."""
    x = x.astype(np.float64)
    m = x.max(1)
    log_sum = np.log(np.exp(x - m[:, None]).sum(1))
    return log_sum - (x[np.arange(len(t)), t] - m), m, log_sum, np.exp(x - m[:, None] - log_sum[:, None])


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_xent_twin(dtype):
    x = (rng.standard_normal((13, 6)) * 4).astype(dtype)
    x[0, 0] = 80                                       # exp overflow without the max shift (float16/32)
    t = rng.integers(0, 6, 13)
    loss_w, m_w, log_sum_w, p = ref_xent(x, t)
    loss, m, log_sum = K.softmax_xent_forward(x, t)
    acc = np.float64 if dtype == np.float64 else np.float32
    assert loss.dtype == m.dtype == log_sum.dtype == acc
    np.testing.assert_allclose(m, m_w, **tol(dtype))
    np.testing.assert_allclose(log_sum, log_sum_w, **tol(dtype))
    np.testing.assert_allclose(loss, loss_w, rtol=tol(dtype)["rtol"], atol=tol(dtype)["atol"] * 10)
    scale = rng.random(13)
    d = K.softmax_xent_backward(x, m, log_sum, t, scale)
    assert d.dtype == dtype
    np.testing.assert_allclose(d, (p - np.eye(6)[t]) * scale[:, None], **tol(dtype))


@pytest.mark.parametrize("offset", [1e4, 1e6, -1e6])
def test_softmax_xent_twin_keeps_float32_digits_under_a_large_shared_offset(offset):
    """lse − x_t cancels when every logit of a row is near ``offset`` (issue 13: 1.2939 for 1.2944 at
    −1e4); the twin works from the shifted row, so float32 loses nothing to the offset."""
    base = np.array([[0.5, 0.0, 0.0], [0.25, -1.0, 2.0]])
    x = (base + offset).astype(np.float32)
    shift = x.astype(np.float64) - x.astype(np.float64).max(1, keepdims=True)  # exact in float64
    t = np.array([2, 0])
    loss_w, _, log_sum_w, p = ref_xent(shift, t)
    loss, m, log_sum = K.softmax_xent_forward(x, t)
    np.testing.assert_allclose(loss, loss_w, rtol=2e-7)
    d = K.softmax_xent_backward(x, m, log_sum, t, np.ones(2, np.float32))
    np.testing.assert_allclose(d, p - np.eye(3)[t], rtol=1e-6, atol=1e-7)


def test_softmax_xent_refuses_probability_targets():
    """Probability targets are composed from log_softmax (ops/loss.py); the kernel takes labels only."""
    with pytest.raises(TypeError, match=r"softmax_xent_forward: target must be 1-D integer class labels, got float32"):
        K.softmax_xent_forward(np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32))


def test_softmax_xent_backward_is_the_gradient():
    """Central differences of sum_i scale_i * loss_i."""
    x, t = rng.standard_normal((3, 5)), np.array([4, 0, 2])
    s = np.array([0.5, 1.0, 2.0])
    d = K.softmax_xent_backward(x, *K.softmax_xent_forward(x, t)[1:], t, s)
    f = lambda z: (K.softmax_xent_forward(z, t)[0] * s).sum()
    num = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[idx] = 1e-6
        num[idx] = (f(x + e) - f(x - e)) / 2e-6
    np.testing.assert_allclose(d, num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_twin_textbook(nesterov):
    from test_kernels_emulated import textbook_sgd
    p0 = rng.standard_normal(20)
    grads = [rng.standard_normal(20) for _ in range(4)]
    for cfg in [dict(momentum=0.0), dict(momentum=0.9, dampening=0.1, weight_decay=0.01, nesterov=nesterov)]:
        p, buf = p0.copy(), np.zeros(20)
        for k, g in enumerate(grads):
            gc = g.copy()
            K.sgd_step(p, g, buf if cfg["momentum"] else None, 0.05, first_step=k == 0, **cfg)
            np.testing.assert_array_equal(g, gc)
        np.testing.assert_allclose(p, textbook_sgd(p0, grads, 0.05, **cfg), rtol=1e-13)


@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_twin_textbook(decoupled):
    from test_kernels_emulated import textbook_adam
    p0 = rng.standard_normal(20)
    grads = [rng.standard_normal(20) for _ in range(5)]
    p, m, v = p0.copy(), np.zeros(20), np.zeros(20)
    for step, g in enumerate(grads, 1):
        K.adam_step(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 0.1, step, decoupled)
    np.testing.assert_allclose(p, textbook_adam(p0, grads, 1e-3, 0.9, 0.999, 1e-8, 0.1, decoupled), rtol=1e-13)


def test_random_twin_stream():
    u = K.uniform(3, 0, 1000, np.float64)
    np.testing.assert_array_equal(u[10:], K.uniform(3, 10, 990, np.float64))     # counter-based
    assert 0.45 < u.mean() < 0.55 and u.min() >= 0 and u.max() < 1
    z = K.normal(3, 0, 200001, np.float64)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    np.testing.assert_array_equal(z[2:100], K.normal(3, 2, 98, np.float64))
    assert K.counters_used(5, "normal") == 6 and K.counters_used(5, "uniform") == 5
    assert K.uniform(1, 0, (2, 3), np.float16).dtype == np.float16
    assert not np.array_equal(K.uniform(1, 0, 50), K.uniform(2, 0, 50))


# --------------------------------------------------------------------------- the GPU against the twins

def _gpu_inputs(cp, a, layout):
    d = cp.asarray(a)
    if layout == "strided":
        wide = cp.empty((2 * a.size,), a.dtype)
        wide[::2] = d.ravel()
        return wide[::2].reshape(a.shape)
    if layout == "offset":
        buf = cp.empty((a.size + 1,), a.dtype)
        buf[1:] = d.ravel()
        return buf[1:].reshape(a.shape)
    return d


# Cases of 4M+ elements through several kernels each: milliseconds on a GPU, minutes on the stand-in's
# host emulator (the same kernels and wrappers run at the smaller sizes there).
GPU_SIZED = pytest.mark.gpu_hardware("GPU-sized: millions of elements through the host emulator take minutes")


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [pytest.param(n, marks=GPU_SIZED) if n > 10**6 else n for n in SIZES])
def test_gpu_elementwise(cp, n, dtype):
    shape = (3, n) if n < 5000 else (1, n)
    x, b, g = (rng.standard_normal(s).astype(dtype) for s in (shape, shape[-1], shape))
    for layout in LAYOUTS:
        xd, bd, gd = (_gpu_inputs(cp, a, layout) for a in (x, b, g))
        for act in ACTS:
            want = K.bias_activation(x, b, act, 0.1)
            out = cp.full(shape, cp.nan, dtype)
            K.bias_activation(xd, bd, act, 0.1, out=out)
            np.testing.assert_allclose(cp.asnumpy(out), want, **tol(dtype))
            yd = cp.asarray(want)
            np.testing.assert_allclose(cp.asnumpy(K.activation_backward(gd, yd, act, 0.1)),
                                       K.activation_backward(g, want, act, 0.1), **tol(dtype))
        r = tol(dtype)["rtol"]
        np.testing.assert_allclose(cp.asnumpy(K.bias_grad(gd)), K.bias_grad(g), rtol=r, atol=r * 3)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows,cols", [(1, 1), (3, 7), (1000, 1000), (1000, 4097), (8192, 10),
                                       pytest.param(8192, 4096, marks=GPU_SIZED)])
def test_gpu_activation_backward_bias_grad(cp, rows, cols, dtype):
    g, z = (rng.standard_normal((rows, cols)).astype(dtype) for _ in range(2))
    r = tol(dtype)["rtol"]
    for k, act in enumerate(ACTS):
        y = K.bias_activation(z, None, act, 0.1)
        dx_w, db_w = K.activation_backward(g, y, act, 0.1, bias_grad=True)
        layout = LAYOUTS[k % len(LAYOUTS)]
        out = cp.full((rows, cols), cp.nan, dtype)
        dx, db = K.activation_backward(_gpu_inputs(cp, g, layout), _gpu_inputs(cp, y, layout), act, 0.1,
                                       out=out, bias_grad=True)
        assert dx is out and db.dtype == dtype and db.shape == (cols,)
        np.testing.assert_allclose(cp.asnumpy(dx), dx_w, **tol(dtype))
        np.testing.assert_allclose(cp.asnumpy(db), db_w, rtol=r, atol=r * np.sqrt(rows))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("offset", [0.0, 1e4])
@pytest.mark.parametrize("rows,cols", [(1, 1), (7, 10), (1000, 1000), (1000, 4097), (8192, 10)])
def test_gpu_softmax_xent(cp, rows, cols, offset, dtype):
    x = (rng.standard_normal((rows, cols)) * 3 + offset).astype(dtype)
    t = rng.integers(0, cols, rows)
    want = K.softmax_xent_forward(x, t)
    got = K.softmax_xent_forward(cp.asarray(x), cp.asarray(t))
    for g, w in zip(got, want):
        np.testing.assert_allclose(cp.asnumpy(g), w, **tol(dtype))
    s = rng.random(rows).astype(want[0].dtype)
    out = cp.full((rows, cols), cp.nan, dtype)
    K.softmax_xent_backward(cp.asarray(x), got[1], got[2], cp.asarray(t), cp.asarray(s), out=out)
    np.testing.assert_allclose(cp.asnumpy(out), K.softmax_xent_backward(x, *want[1:], t, s), **tol(dtype))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 3, 1023, 2**20 + 1])
def test_gpu_optim(cp, n, dtype):
    p0, grads = rng.standard_normal(n).astype(dtype), [rng.standard_normal(n).astype(dtype) for _ in range(3)]
    p, buf, pd, bd = p0.copy(), np.zeros(n, dtype), cp.asarray(p0), cp.zeros(n, dtype)
    for k, g in enumerate(grads):
        K.sgd_step(p, g, buf, 0.1, momentum=0.9, nesterov=True, weight_decay=0.01, first_step=k == 0)
        K.sgd_step(pd, cp.asarray(g), bd, 0.1, momentum=0.9, nesterov=True, weight_decay=0.01, first_step=k == 0)
    np.testing.assert_allclose(cp.asnumpy(pd), p, **tol(dtype))
    p, m, v = p0.copy(), np.zeros(n, dtype), np.zeros(n, dtype)
    pd, md, vd = cp.asarray(p0), cp.zeros(n, dtype), cp.zeros(n, dtype)
    for k, g in enumerate(grads, 1):
        K.adam_step(p, g, m, v, 1e-2, 0.9, 0.999, 1e-8, 0.01, k, True)
        K.adam_step(pd, cp.asarray(g), md, vd, 1e-2, 0.9, 0.999, 1e-8, 0.01, k, True)
    np.testing.assert_allclose(cp.asnumpy(pd), p, **tol(dtype))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_random(cp, dtype):
    n = 2**20 + 1
    np.testing.assert_array_equal(cp.asnumpy(K.uniform(11, 5, n, dtype, xp=cp)), K.uniform(11, 5, n, dtype))
    np.testing.assert_allclose(cp.asnumpy(K.normal(11, 5, n, dtype, xp=cp)), K.normal(11, 5, n, dtype), **tol(dtype))


def test_the_wheel_and_the_checkout_keep_the_sources_in_a_folder_named_kernels(tmp_path):
    """pyproject's force-include puts the top-level kernels/ beside the wrappers (cugrad/kernels/ in
    the wheel), where kernel_dir looks first; in a checkout it finds the top-level kernels/."""
    root = Path(__file__).resolve().parents[1]
    include = re.findall(r'^"(\w+)" = "([\w/]+)"', (root / "pyproject.toml").read_text(), re.M)
    wrappers = Path(K.loader.__file__).resolve().parent
    assert include == [("kernels", "cugrad/kernels")] == [(wrappers.name, wrappers.relative_to(root / "src").as_posix())]
    assert K.kernel_dir() == root / "kernels"
    installed = tmp_path / "site-packages" / "cugrad" / "kernels"
    shutil.copytree(root / "kernels", installed)
    assert K.kernel_dir(installed) == installed
    bare = tmp_path / "a" / "cugrad" / "kernels"
    bare.mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=rf"not found in {re.escape(str(bare))} nor {re.escape(str(tmp_path / 'kernels'))}$"):
        K.kernel_dir(bare)
