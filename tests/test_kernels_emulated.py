"""Every CUDA kernel, run on the host emulator through the real wrappers of cugrad.kernels,
against its NumPy twin (and the optimizers against the textbook update)."""
from __future__ import annotations

import numpy as np
import pytest

from cugrad import kernels as K
from cugrad.kernels import activations, optim, softmax_xent
from kernel_cases import BF16, CLASSES, DTYPES, LAYOUTS, ROWS, SIZES, nan_like, place, tol

ACTS = list(K.ACTIVATIONS)
rng = np.random.default_rng(1234)


def randn(shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def shape_for(n):
    return (3, n) if n < 5000 else (1, n)


# --------------------------------------------------------------------------- activations

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_bias_activation(on_emu, n, dtype):
    shape = shape_for(n)
    x0, b0 = randn(shape, dtype, 3), randn(shape[-1], dtype)
    for layout in LAYOUTS:
        x, b = place(x0, layout), place(b0, layout)
        for act in ACTS:
            want = activations._np_bias_activation(x0, b0, K.ACTIVATIONS[act], 0.1, None)
            np.testing.assert_allclose(K.bias_activation(x, b, act, 0.1), want, **tol(dtype), err_msg=f"{act} {layout}")
            out = nan_like(x0)
            K.bias_activation(x, b, act, 0.1, out=out)
            np.testing.assert_allclose(out, want, **tol(dtype), err_msg=f"{act} {layout} out=")
    for act in ACTS:                                      # no bias; in place on x
        x = place(x0, "aligned")
        want = activations._np_bias_activation(x0, None, K.ACTIVATIONS[act], 0.01, None)
        assert K.bias_activation(x, None, act, out=x) is x
        np.testing.assert_allclose(x, want, **tol(dtype), err_msg=act)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_activation_backward(on_emu, n, dtype):
    shape = shape_for(n)
    g0, z = randn(shape, dtype), randn(shape, dtype, 2)
    for act in ACTS:
        y0 = activations._np_bias_activation(z, None, K.ACTIVATIONS[act], 0.1, None)
        want = activations._np_activation_backward(g0, y0, K.ACTIVATIONS[act], 0.1, None)
        for layout in LAYOUTS:
            g, y = place(g0, layout), place(y0, layout)
            np.testing.assert_allclose(K.activation_backward(g, y, act, 0.1), want, **tol(dtype), err_msg=f"{act} {layout}")
            out = place(nan_like(g0), layout)
            K.activation_backward(g, y, act, 0.1, out=out)
            np.testing.assert_allclose(out, want, **tol(dtype), err_msg=f"{act} {layout} out=")


@pytest.mark.parametrize("shift", [1, 4])
@pytest.mark.parametrize("kernel", ["bias_activation", "activation_backward"])
def test_out_overlapping_an_input_gives_the_twins_result(on_emu, kernel, shift):
    """out = buf[shift:] over x = buf[:-shift]: both C-contiguous, overlapping at another offset.
    NumPy buffers the overlap; the kernel (threads reading what others write) goes through a
    stand-in buffer. shift 4 keeps both 16-byte aligned for float32 (the vector path)."""
    rows, cols = 3, 1000
    buf = randn(rows * cols + shift, np.float32, 3)
    x = buf[:-shift].reshape(rows, cols)
    out = buf[shift:].reshape(rows, cols)
    other = randn((rows, cols), np.float32)
    if kernel == "bias_activation":
        bias = randn(cols, np.float32)
        want = activations._np_bias_activation(x.copy(), bias, K.ACTIVATIONS["tanh"], 0.1, None)
        got = K.bias_activation(x, bias, "tanh", 0.1, out=out)
    else:
        want = activations._np_activation_backward(x.copy(), other, K.ACTIVATIONS["sigmoid"], 0.1, None)
        got = K.activation_backward(x, other, "sigmoid", 0.1, out=out)
    assert got is out
    np.testing.assert_allclose(out, want, **tol(np.float32))


@pytest.mark.parametrize("grid", ["small", "large"])
@pytest.mark.parametrize("n", [33, 4097])
def test_elementwise_grid_sizes(on_emu, n, grid):
    """Grid-stride loops stay right with one block and with more blocks than work."""
    on_emu.grid = 1 if grid == "small" else n // 256 + 7
    x, b, g = randn((2, n), np.float32), randn(n, np.float32), randn((2, n), np.float32)
    for act in ACTS:
        y = K.bias_activation(x, b, act)
        np.testing.assert_allclose(y, activations._np_bias_activation(x, b, K.ACTIVATIONS[act], 0.01, None),
                                   **tol(np.float32))
        np.testing.assert_allclose(K.activation_backward(g, y, act),
                                   activations._np_activation_backward(g, y, K.ACTIVATIONS[act], 0.01, None),
                                   **tol(np.float32))
    np.testing.assert_allclose(K.bias_grad(x), activations._np_bias_grad(x, 2, n), **tol(np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cols", CLASSES)
@pytest.mark.parametrize("rows", ROWS)
def test_bias_grad(on_emu, rows, cols, dtype):
    g0 = randn((rows, cols), dtype)
    want = activations._np_bias_grad(g0, rows, cols)
    scale = np.sqrt(rows)                      # sums of `rows` unit normals: absolute error scale
    r = tol(dtype)["rtol"]
    for layout in LAYOUTS:
        got = K.bias_grad(place(g0, layout))
        assert got.shape == (cols,) and got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=r, atol=r * scale, err_msg=layout)
    if rows % 2 == 0:                          # 3-D input: sum over the leading two axes
        np.testing.assert_allclose(K.bias_grad(g0.reshape(2, rows // 2, cols)), want, rtol=r, atol=r * scale)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cols", [1, 7, 1000, 4097])
@pytest.mark.parametrize("rows", [1, 3, 1000])
def test_activation_backward_bias_grad(on_emu, rows, cols, dtype):
    """The fused kernel (dx and its column sums in one pass) against the twin: dx as
    activation_backward, db as _np_bias_grad(dx). Activations and layouts cycle over the cases."""
    k = rows + cols + np.dtype(dtype).itemsize
    act, layout = ACTS[k % len(ACTS)], LAYOUTS[k % len(LAYOUTS)]
    g0, z = randn((rows, cols), dtype), randn((rows, cols), dtype, 2)
    y0 = activations._np_bias_activation(z, None, K.ACTIVATIONS[act], 0.1, None)
    dx_w = activations._np_activation_backward(g0, y0, K.ACTIVATIONS[act], 0.1, None)
    db_w = activations._np_bias_grad(dx_w, rows, cols)
    r = tol(dtype)["rtol"]
    g, y = place(g0, layout), place(y0, layout)
    out = place(nan_like(g0), layout)
    dx, db = K.activation_backward(g, y, act, 0.1, out=out, bias_grad=True)
    assert dx is out and db.shape == (cols,) and db.dtype == dtype
    np.testing.assert_allclose(dx, dx_w, **tol(dtype), err_msg=f"{act} {layout}")
    np.testing.assert_allclose(db, db_w, rtol=r, atol=r * np.sqrt(rows), err_msg=f"{act} {layout}")
    if rows == 1000:                           # 3-D, fresh output: sum over both leading axes
        dx, db = K.activation_backward(g0.reshape(10, 100, cols), y0.reshape(10, 100, cols), act, 0.1,
                                       bias_grad=True)
        np.testing.assert_allclose(dx.reshape(rows, cols), dx_w, **tol(dtype), err_msg=act)
        np.testing.assert_allclose(db, db_w, rtol=r, atol=r * np.sqrt(rows), err_msg=act)


@pytest.mark.parametrize("grid", ["small", "large"])
@pytest.mark.parametrize("rows,cols", [(3, 33), (1000, 7), (37, 300)])
def test_activation_backward_bias_grad_grid_sizes(on_emu, rows, cols, grid):
    """One block for everything (one row chunk: the fused kernel writes db itself), and more column
    blocks than column tiles, and more row chunks than rows where rows < 60 (empty chunks add zero
    partials)."""
    on_emu.grid = 1 if grid == "small" else min(rows, 64) + cols // 32 + 5
    g, y = randn((rows, cols), np.float32), randn((rows, cols), np.float32)
    for act in ACTS:
        dx_w = activations._np_activation_backward(g, y, K.ACTIVATIONS[act], 0.01, None)
        gi = g.copy()                                      # in place over g
        dx, db = K.activation_backward(gi, y, act, out=gi, bias_grad=True)
        assert dx is gi
        np.testing.assert_allclose(dx, dx_w, **tol(np.float32), err_msg=act)
        np.testing.assert_allclose(db, activations._np_bias_grad(dx_w, rows, cols), rtol=1e-5,
                                   atol=1e-5 * np.sqrt(rows), err_msg=act)


def test_activation_backward_bias_grad_empty(on_emu):
    for shape in [(0, 5), (4, 0), (2, 0, 3)]:
        g = np.zeros(shape, np.float32)
        dx, db = K.activation_backward(g, g, "relu", bias_grad=True)
        assert dx.shape == shape and db.shape == (shape[-1],)
        np.testing.assert_array_equal(db, 0)


@pytest.mark.parametrize("bf16", [BF16])
def test_bfloat16_conversions_bit_exact(on_emu, bf16):
    """cg_bf16 against ml_dtypes, bit for bit: col_sum<float, cg_bf16> over one row rounds each
    float32 once (ties to even both ways, the largest finite floats to inf, infinities, NaN of
    either sign kept NaN with its sign, subnormals, random values; not -0.0, which the sum's
    +0.0 start turns into +0.0), and
    col_sum<cg_bf16, float> widens back exactly. The emulator adds in IEEE arithmetic; on a GPU
    the sum runs under CuPy's -ftz=true, where the three float32 subnormals here flush to 0 first:
    this checks the conversion code, which is integer arithmetic on the bits."""
    z = np.array([1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8, 1 + 2.0 ** -8 + 2.0 ** -20, -1 - 2.0 ** -8,
                  3.3895314e38, 3.3961776e38, -3.3961776e38, np.inf, -np.inf, np.nan, -np.nan,
                  1e-40, -1e-40, 2.0 ** -133 + 2.0 ** -140, 0.0, 1.5 - 2.0 ** -9], np.float32)
    z = np.concatenate([z, (rng.standard_normal(4000) * 100).astype(np.float32)])
    mod = on_emu.module("activations")
    grid, n = (-(-z.size // 32), 1), np.int64(z.size)
    got = np.empty(z.size, bf16)
    mod.get_function("col_sum<float, cg_bf16>")(grid, (256,), (z, got, np.int64(1), n))
    want, nan = z.astype(bf16), np.isnan(z)
    np.testing.assert_array_equal(got.view(np.uint16)[~nan], want.view(np.uint16)[~nan])
    assert np.isnan(got[nan]).all()
    np.testing.assert_array_equal(np.signbit(got[nan]), np.signbit(z[nan]))
    back = np.empty(z.size, np.float32)
    mod.get_function("col_sum<cg_bf16, float>")(grid, (256,), (want, back, np.int64(1), n))
    np.testing.assert_array_equal(back.view(np.uint32)[~nan], want.astype(np.float32).view(np.uint32)[~nan])


# --------------------------------------------------------------------------- softmax cross-entropy

def xent_inputs(rows, cols, dtype, offset=0.0):
    return (randn((rows, cols), dtype, 3) + np.asarray(offset, dtype)).astype(dtype), rng.integers(0, cols, rows)


@pytest.mark.parametrize("offset", [0.0, -1e4])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cols", CLASSES)
@pytest.mark.parametrize("rows", ROWS)
def test_softmax_xent(on_emu, rows, cols, dtype, offset):
    x0, t0 = xent_inputs(rows, cols, dtype, offset if dtype in (np.float32, np.float64) else 0.0)
    layout = LAYOUTS[(rows + cols) % 3]        # cycle the layouts over the grid of cases
    x, t = place(x0, layout), place(t0, layout)
    want = softmax_xent._np_softmax_xent_forward(x0, t0)
    got = K.softmax_xent_forward(x, t)
    acc = np.float64 if dtype == np.float64 else np.float32
    for g, w in zip(got, want):
        assert g.dtype == acc
        np.testing.assert_allclose(g, w, **tol(dtype))
    scale = (rng.random(rows) + 0.5).astype(acc)
    want_d = softmax_xent._np_softmax_xent_backward(x0, *want[1:], t0, scale, None)
    out = place(nan_like(x0), layout)
    got_d = K.softmax_xent_backward(x, place(want[1], layout), place(want[2], layout), t, scale, out=out)
    assert got_d is out
    np.testing.assert_allclose(out, want_d, **tol(dtype))


def test_softmax_xent_kernel_keeps_float32_digits_under_a_large_shared_offset(on_emu):
    """The kernel's math, not only the twin's: with every logit near -1e4 (or 1e6), loss and gradient
    agree with the float64 values of the offset-free row to float32 precision (issue 13: lse − x_t
    gave 1.2939453 for 1.2943768)."""
    for offset in (-1e4, 1e6):
        x = (np.array([[0.5, 0.0, 0.0]] * 3) + offset).astype(np.float32)
        t = np.array([2, 0, 1])
        shifted = x.astype(np.float64) - x.astype(np.float64).max(1, keepdims=True)
        log_sum = np.log(np.exp(shifted).sum(1))
        loss, m, ls = K.softmax_xent_forward(x, t)
        np.testing.assert_allclose(loss, log_sum - shifted[np.arange(3), t], rtol=2e-7)
        d = K.softmax_xent_backward(x, m, ls, t, np.ones(3, np.float32))
        np.testing.assert_allclose(d, np.exp(shifted - log_sum[:, None]) - np.eye(3)[t], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("grid", ["small", "large"])
def test_softmax_xent_grid_sizes(on_emu, grid):
    rows, cols = 37, 300
    on_emu.grid = 3 if grid == "small" else rows + 5
    x, t = xent_inputs(rows, cols, np.float32)
    got, want = K.softmax_xent_forward(x, t), softmax_xent._np_softmax_xent_forward(x, t)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, **tol(np.float32))
    s = np.ones(rows, np.float32)
    np.testing.assert_allclose(K.softmax_xent_backward(x, *got[1:], t, s),
                               softmax_xent._np_softmax_xent_backward(x, *want[1:], t, s, None), **tol(np.float32))


def test_softmax_xent_bad_label_is_nan(on_emu):
    x, t = xent_inputs(4, 5, np.float32)
    t[1], t[3] = -1, 5
    loss, m, log_sum = K.softmax_xent_forward(x, t)
    assert np.isnan(loss[[1, 3]]).all() and np.isfinite(loss[[0, 2]]).all()
    assert np.isfinite(m).all() and np.isfinite(log_sum).all()
    d = K.softmax_xent_backward(x, m, log_sum, t, np.ones(4, np.float32))
    assert np.isnan(d[[1, 3]]).all() and np.isfinite(d[[0, 2]]).all()


def test_softmax_xent_backward_checks_its_per_row_arrays(on_emu):
    """row_max, log_sum and row_scale are read at [row] by the kernel: a wrong length would read past them."""
    x, t = xent_inputs(4, 5, np.float32)
    _, m, log_sum = K.softmax_xent_forward(x, t)
    with pytest.raises(ValueError, match=r"row_scale shape \(\) != \(4,\), one per row"):
        K.softmax_xent_backward(x, m, log_sum, t, np.float32(1.0).reshape(()))
    with pytest.raises(ValueError, match=r"row_max shape \(3,\) != \(4,\)"):
        K.softmax_xent_backward(x, m[:3], log_sum, t, np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"log_sum shape \(3,\) != \(4,\)"):
        K.softmax_xent_backward(x, m, log_sum[:3], t, np.ones(4, np.float32))


# --------------------------------------------------------------------------- thread order

def test_block_reductions_hold_with_threads_run_last_to_first(on_emu):
    """The kernels with shared memory and barriers (column sums, the fused activation backward,
    softmax-CE over multi-warp rows, several rows per block) again, each block's warps run last to
    first and as far as each can go: a warp racing ahead to overwrite shared memory that another
    has still to read. Checked by breaking the kernels: without the second __syncthreads of
    column_chunk_sums, or the first of block_lse, this test fails while every default-order test
    passes."""
    on_emu.reverse_threads = True
    g = randn((1000, 1000), np.float32)
    y = activations._np_bias_activation(randn((1000, 1000), np.float32), None, K.ACTIVATIONS["relu"], 0.0, None)
    column_sum = dict(rtol=1e-5, atol=1e-4)     # 1000 terms of size ~1 summed in another order
    np.testing.assert_allclose(K.bias_grad(g), activations._np_bias_grad(g, 1000, 1000), **column_sum)
    dx, db = K.activation_backward(g, y, "relu", bias_grad=True)
    want_dx = activations._np_activation_backward(g, y, K.ACTIVATIONS["relu"], 0.0, None)
    np.testing.assert_allclose(dx, want_dx, **tol(np.float32))
    np.testing.assert_allclose(db, activations._np_bias_grad(want_dx, 1000, 1000), **column_sum)
    on_emu.grid = 3                             # several rows per block: shared scratch is reused
    x, t = xent_inputs(64, 4097, np.float32)
    got, want = K.softmax_xent_forward(x, t), softmax_xent._np_softmax_xent_forward(x, t)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, **tol(np.float32))
    s = np.full(64, 0.5, np.float32)
    np.testing.assert_allclose(K.softmax_xent_backward(x, *got[1:], t, s),
                               softmax_xent._np_softmax_xent_backward(x, *want[1:], t, s, None), **tol(np.float32))


# --------------------------------------------------------------------------- optimizers

SGD_CONFIGS = [dict(momentum=0.0), dict(momentum=0.0, weight_decay=0.1),
               dict(momentum=0.9), dict(momentum=0.9, dampening=0.5, weight_decay=0.01),
               dict(momentum=0.8, nesterov=True, weight_decay=0.05)]


def textbook_sgd(p, grads, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    p, buf = p.astype(np.float64), None
    for k, g in enumerate(grads):
        g = g + weight_decay * p
        if momentum:
            buf = g.copy() if k == 0 else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


def textbook_adam(p, grads, lr, b1, b2, eps, wd, decoupled):
    p, m, v = p.astype(np.float64), 0.0, 0.0
    for t, g in enumerate(grads, 1):
        if decoupled:
            p = p * (1 - lr * wd)
        else:
            g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat, vhat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        p = p - lr * mhat / (np.sqrt(vhat) + eps)
    return p


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 3, 33, 4097, 2**20 + 1])
@pytest.mark.parametrize("cfg", range(len(SGD_CONFIGS)))
def test_sgd_step(on_emu, cfg, n, dtype):
    cfg = SGD_CONFIGS[cfg]
    layout = "offset" if n % 2 else "aligned"
    p0 = randn(n, dtype)
    grads = [randn(n, dtype) for _ in range(3)]
    p, buf = place(p0, layout), place(np.zeros(n, dtype), layout)
    pt, buft = p0.copy(), np.zeros(n, dtype)
    for k, g in enumerate(grads):
        gk = place(g, "strided")
        K.sgd_step(p, gk, buf if cfg["momentum"] else None, 0.1, first_step=k == 0, **cfg)
        optim._np_sgd_step(pt, g, buft if cfg["momentum"] else None, 0.1, cfg["momentum"], cfg.get("dampening", 0.0),
                       cfg.get("nesterov", False), cfg.get("weight_decay", 0.0), k == 0)
        np.testing.assert_array_equal(gk, g)           # grad untouched
    np.testing.assert_allclose(p, pt, **tol(dtype))
    if dtype == np.float64:
        np.testing.assert_allclose(p, textbook_sgd(p0, grads, 0.1, **cfg), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 3, 33, 4097, 2**20 + 1])
@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("counted", [False, True], ids=["host-step", "device-counter"])
def test_adam_step(on_emu, decoupled, n, dtype, counted):
    """adam_step, and adam_step_counted (the step count read by the kernel from a float64 counter
    of the steps before, advanced by the caller), against the NumPy twin with an int step."""
    layout = "offset" if n % 2 else "aligned"
    p0 = randn(n, dtype)
    grads = [randn(n, dtype) for _ in range(4)]
    p, m, v = (place(a, layout) for a in (p0, np.zeros(n, dtype), np.zeros(n, dtype)))
    pt, mt, vt = p0.copy(), np.zeros(n, dtype), np.zeros(n, dtype)
    hp = dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, decoupled=decoupled)
    counter = np.zeros((), np.float64)
    for step, g in enumerate(grads, 1):
        K.adam_step(p, place(g, "strided"), m, v, step=counter if counted else step, **hp)
        counter += 1
        with K.use_driver(None):                        # the NumPy twin
            K.adam_step(pt, g, mt, vt, step=step, **hp)
    np.testing.assert_allclose(p, pt, **tol(dtype))
    np.testing.assert_allclose(m, mt, **tol(dtype))
    if dtype == np.float64:
        want = textbook_adam(p0, grads, 1e-2, 0.9, 0.999, 1e-8, 0.01, decoupled)
        np.testing.assert_allclose(p, want, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- random numbers

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 3, 33, 4097, 2**20 + 1])
def test_uniform_bit_identical(on_emu, n, dtype):
    for seed, offset in [(0, 0), (12345, 7), (2**63 + 5, 2**40 + 3)]:
        got = K.uniform(seed, offset, n, dtype)
        with K.use_driver(None):
            want = K.uniform(seed, offset, n, dtype)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))
        assert got.min() >= 0 and got.max() < 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 3, 4097, 2**20 + 1])
def test_normal(on_emu, n, dtype):
    got = K.normal(99, 10, n, dtype)
    with K.use_driver(None):
        want = K.normal(99, 10, n, dtype)
    np.testing.assert_allclose(got, want, **tol(dtype))   # libm sin/cos/log may differ by ulps


@pytest.mark.parametrize("grid", [1, 40])
def test_random_grid_sizes(on_emu, grid):
    on_emu.grid = grid
    got = K.uniform(5, 0, 3000, np.float32)
    with K.use_driver(None):
        want = K.uniform(5, 0, 3000, np.float32)
    np.testing.assert_array_equal(got, want)


def test_emulator_checks_argument_packing(on_emu):
    """A wrong scalar width (np.int32 for a long long) is caught as it would corrupt a GPU launch."""
    f = on_emu.module("random").get_function("rand_uniform<float>")
    out = np.empty(4, np.float32)
    with pytest.raises(TypeError):
        f((1,), (32,), (out, np.int32(4), np.uint64(1), np.uint64(0)))
    with pytest.raises(TypeError):
        f((1,), (32,), (out, 4, np.uint64(1), np.uint64(0)))
    with pytest.raises(TypeError, match="2-byte elements"):           # float16 array for a float*
        f((1,), (32,), (np.zeros(4, np.float16), np.int64(4), np.uint64(1), np.uint64(0)))


def test_emulator_refuses_a_full_mask_shuffle_in_a_partial_warp(on_emu):
    """softmax-CE's row reduction shuffles with a full member mask: a 48-thread block's second warp
    has 16 lanes, which is undefined on a GPU; the emulator says so instead of computing."""
    x, t = xent_inputs(2, 40, np.float32)
    loss, m, log_sum = np.empty(2, np.float32), np.empty(2, np.float32), np.empty(2, np.float32)
    f = on_emu.module("softmax_xent").get_function("xent_fwd<float>")
    with pytest.raises(RuntimeError, match=r"member mask names lanes the warp does not have \(block \(48, 1, 1\)"):
        f((2,), (48,), (x, t, loss, m, log_sum, np.int64(2), np.int64(40)))
    f((2,), (64,), (x, t, loss, m, log_sum, np.int64(2), np.int64(40)))        # whole warps: fine
    np.testing.assert_allclose(loss, softmax_xent._np_softmax_xent_forward(x, t)[0], **tol(np.float32))
