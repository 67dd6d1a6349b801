"""Precision modes: matmul precision, autocast, and the dynamic loss scaler."""
import sys

import numpy as np
import pytest

import cugrad
import cugrad.nn.functional as F
from cugrad.amp import GradScaler
from kernel_cases import bf16_param

AUTOCAST = ["float16", bf16_param("bfloat16")]


@pytest.fixture(autouse=True)
def _restore_precision():
    yield
    cugrad.set_matmul_precision("highest")


def test_matmul_precision_names_and_errors():
    for name in ("high", "medium", "highest"):
        cugrad.set_matmul_precision(name)
        assert cugrad.get_matmul_precision() == name
    with pytest.raises(ValueError, match="unknown precision 'low'"):
        cugrad.set_matmul_precision("low")


def test_autocast_none_is_off_and_restores_what_was_on():
    from cugrad.precision import autocast_dtype

    with cugrad.autocast("float16"):
        saved = autocast_dtype()
        with cugrad.autocast(None):
            assert autocast_dtype() is None
            with cugrad.autocast(saved):          # a state read earlier, entered again
                assert autocast_dtype() == np.float16
        assert autocast_dtype() == np.float16
    assert autocast_dtype() is None


@pytest.fixture
def cupy_default(monkeypatch):
    """No precision set and CUPY_TF32 not read yet, by cugrad or (where a GPU is visible) by CuPy:
    ``COMPUTE_TYPE_TBD`` is CuPy's own "not decided" state, accepted by its set_compute_type."""
    from cugrad import backend, precision

    monkeypatch.setattr(precision, "_matmul_precision", None)
    monkeypatch.setattr(precision, "_env_tf32", None)
    cp = backend.cupy()
    if cp is not None:
        from cupy._core import _routines_linalg as linalg

        linalg.set_compute_type(np.float32, linalg.COMPUTE_TYPE_TBD)
    return monkeypatch


@pytest.mark.parametrize("env, expected", [(None, "highest"), ("0", "highest"), ("-1", "highest"), ("1", "high"),
                                           (" 2 ", "high")])
def test_matmul_precision_before_any_set_is_cupys_default(cupy_default, env, expected):
    """CuPy runs float32 GEMMs as TF32 when int(CUPY_TF32) > 0: until the precision is set,
    get_matmul_precision reports what CuPy will do."""
    if env is None:
        cupy_default.delenv("CUPY_TF32", raising=False)
    else:
        cupy_default.setenv("CUPY_TF32", env)
    assert cugrad.get_matmul_precision() == expected


def test_cupy_tf32_is_read_once_like_cupy(cupy_default):
    cupy_default.setenv("CUPY_TF32", "1")
    assert cugrad.get_matmul_precision() == "high"
    cupy_default.setenv("CUPY_TF32", "0")             # CuPy has kept its first reading
    assert cugrad.get_matmul_precision() == "high"
    cugrad.set_matmul_precision("highest")
    assert cugrad.get_matmul_precision() == "highest"


@pytest.mark.parametrize("env", ["yes", "true", "1.0", ""])
def test_cupy_tf32_that_is_not_an_integer_is_an_error_naming_it(cupy_default, env):
    """CuPy's int(os.getenv('CUPY_TF32', '0')) raises ValueError at the first float32 matmul for
    these; cugrad says so by name instead of guessing a precision. Setting one clears it."""
    cupy_default.setenv("CUPY_TF32", env)
    with pytest.raises(ValueError, match=rf"get_matmul_precision: CUPY_TF32='{env}' is not an integer; CuPy "):
        cugrad.get_matmul_precision()
    cugrad.set_matmul_precision("high")
    assert cugrad.get_matmul_precision() == "high"


def test_autocast_runs_linear_in_half_and_returns_float32_gradients(device):
    x = cugrad.randn(8, 5, device=device)
    w = cugrad.randn(4, 5, device=device, requires_grad=True)
    b = cugrad.zeros(4, device=device, requires_grad=True)
    with cugrad.autocast():
        h = F.linear(x, w, b, activation="relu")
        loss = F.cross_entropy(h, cugrad.tensor([0, 1, 2, 3, 0, 1, 2, 3], device=device))
    assert h.dtype == np.float16
    assert loss.dtype == np.float32
    loss.backward()
    assert w.grad.dtype == np.float32 and b.grad.dtype == np.float32

    # the same gradients as float32, to float16 accuracy
    w32, b32 = w.detach().requires_grad_(), b.detach().requires_grad_()
    F.cross_entropy(F.linear(x, w32, b32, activation="relu"), cugrad.tensor([0, 1, 2, 3, 0, 1, 2, 3], device=device)).backward()
    np.testing.assert_allclose(w.grad.numpy(), w32.grad.numpy(), rtol=2e-2, atol=2e-3)


@pytest.mark.parametrize("dtype", [bf16_param("bfloat16")])
def test_autocast_bfloat16_linear_cross_entropy_matches_float32(device, dtype):
    """bfloat16 autocast: the linear layer (matmul, fused bias+activation, its backward, the bias
    gradient) runs in bfloat16, the loss in float32, and the float32 master weights get float32
    gradients within bfloat16 accuracy (8 significant bits) of the float32 ones."""
    bf16 = cugrad.backend.resolve_dtype(dtype)
    x = cugrad.randn(64, 20, device=device)
    w = cugrad.tensor(np.random.default_rng(1).standard_normal((10, 20)) * 0.3, dtype="float32", device=device,
                      requires_grad=True)
    b = cugrad.zeros(10, device=device, requires_grad=True)
    labels = cugrad.tensor(np.arange(64) % 10, device=device)
    with cugrad.autocast(dtype):
        h = F.linear(x, w, b, activation="tanh")
        loss = F.cross_entropy(h, labels)
    assert h.dtype == bf16 and loss.dtype == np.float32
    loss.backward()
    assert w.grad.dtype == np.float32 and b.grad.dtype == np.float32

    w32, b32 = w.detach().requires_grad_(), b.detach().requires_grad_()
    loss32 = F.cross_entropy(F.linear(x, w32, b32, activation="tanh"), labels)
    loss32.backward()
    np.testing.assert_allclose(loss.item(), loss32.item(), rtol=1e-2)
    for got, want in ((w.grad, w32.grad), (b.grad, b32.grad)):
        want = want.numpy()
        np.testing.assert_allclose(got.numpy(), want, rtol=5e-2, atol=2e-2 * np.abs(want).max())


def test_autocast_bfloat16_without_ml_dtypes_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ml_dtypes", None)      # `import ml_dtypes` now fails
    with pytest.raises(ValueError, match="autocast: dtype 'bfloat16' needs the ml_dtypes package"):
        cugrad.autocast("bfloat16")
    assert cugrad.autocast().dtype == np.float16                 # float16 stays the default


def test_autocast_is_off_outside_and_as_a_decorator():
    x, w = cugrad.randn(2, 3), cugrad.randn(3, 3)

    @cugrad.autocast()
    def half_product():
        return x @ w

    assert half_product().dtype == np.float16
    assert (x @ w).dtype == np.float32
    with pytest.raises(ValueError, match="autocast: dtype must be one of"):
        cugrad.autocast("int8")


class _SGD:
    """The smallest optimizer GradScaler can drive: param_groups plus step()."""

    def __init__(self, params, lr):
        self.param_groups = [{"params": list(params)}]
        self.lr = lr
        self.steps = 0

    def step(self):
        self.steps += 1
        with cugrad.no_grad():
            for p in self.param_groups[0]["params"]:
                p -= self.lr * p.grad


def test_grad_scaler_unscales_skips_overflow_and_adapts_the_scale():
    w = cugrad.tensor([1.0, 2.0], requires_grad=True)
    opt = _SGD([w], lr=0.1)
    scaler = GradScaler(init_scale=8.0, growth_interval=2)

    scaler.scale((w * w).sum()).backward()  # d/dw = 2w, scaled by 8
    np.testing.assert_array_equal(w.grad.numpy(), [16.0, 32.0])
    scaler.step(opt)
    np.testing.assert_allclose(w.numpy(), [1.0 - 0.1 * 2.0, 2.0 - 0.1 * 4.0])
    scaler.update()
    assert scaler.get_scale() == 8.0

    w.grad = None
    scaler.scale((w * w).sum()).backward()
    scaler.step(opt)
    scaler.update()
    assert scaler.get_scale() == 16.0  # two clean steps: grown

    before = w.numpy().copy()
    w.grad = cugrad.tensor([np.inf, 1.0])
    scaler.step(opt)
    scaler.update()
    np.testing.assert_array_equal(w.numpy(), before)  # the overflowing step was skipped
    assert opt.steps == 2
    assert scaler.get_scale() == 8.0


def _train_small_mlp(device, use_autocast, steps=300, dtype="float16"):
    """A 2-32-2 tanh MLP on the quadrant-XOR problem; returns (final loss, accuracy). Autocast
    to float16 goes with a loss scaler, to bfloat16 (float32's exponent range) without one."""
    cugrad.manual_seed(0)
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((256, 2)).astype(np.float32)
    x = cugrad.tensor(xs, device=device)
    labels = cugrad.tensor((xs[:, 0] * xs[:, 1] > 0).astype(np.int64), device=device)
    w1 = cugrad.tensor(rng.standard_normal((32, 2)) * 0.7, dtype="float32", device=device, requires_grad=True)
    b1 = cugrad.zeros(32, device=device, requires_grad=True)
    w2 = cugrad.tensor(rng.standard_normal((2, 32)) * 0.2, dtype="float32", device=device, requires_grad=True)
    b2 = cugrad.zeros(2, device=device, requires_grad=True)
    params = [w1, b1, w2, b2]
    opt = _SGD(params, lr=0.5)
    scaler = GradScaler(enabled=use_autocast and dtype == "float16")
    for _ in range(steps):
        for p in params:
            p.grad = None
        with cugrad.autocast(dtype, enabled=use_autocast):
            logits = F.linear(F.linear(x, w1, b1, activation="tanh"), w2, b2)
            loss = F.cross_entropy(logits, labels)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    accuracy = float((logits.numpy().argmax(1) == labels.numpy()).mean())
    return loss.item(), accuracy


@pytest.mark.parametrize("dtype", AUTOCAST)
def test_autocast_training_converges_like_float32(device, dtype):
    loss32, acc32 = _train_small_mlp(device, False)
    loss16, acc16 = _train_small_mlp(device, True, dtype=dtype)
    assert acc32 > 0.95
    assert acc16 > 0.95
    assert abs(loss16 - loss32) < 0.05


@pytest.mark.gpu
def test_tf32_matmuls_engage_and_stay_close_to_fp32():
    """fp32 is exact to ~1e-6 here; TF32 (10-bit mantissa inputs) errs by ~1e-4: "high" and
    "medium" must show that error (else the mode did not reach cuBLAS) and stay within 5e-3."""
    a = cugrad.randn(512, 512, device="cuda")
    b = cugrad.randn(512, 512, device="cuda")
    exact = (a.double() @ b.double()).numpy()
    for name, low, high in (("highest", 0.0, 1e-5), ("high", 1e-5, 5e-3), ("medium", 1e-5, 5e-3)):
        cugrad.set_matmul_precision(name)
        got = (a @ b).numpy()
        rel = np.abs(got - exact).max() / np.abs(exact).max()
        assert low <= rel < high, f"{name}: relative error {rel}"


def test_grad_scaler_unscales_shared_and_broadcast_gradients_once(device):
    """z = a + b hands a and b one gradient array, and sum() a read-only broadcast view: each
    gradient is divided by the scale exactly once, and nothing is written through a view."""
    a = cugrad.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = cugrad.tensor([3.0, 4.0], device=device, requires_grad=True)
    c = cugrad.tensor([5.0, 6.0], device=device, requires_grad=True)
    ((a + b) * 1.0).sum().backward()
    c.sum().backward()
    scaler = GradScaler(init_scale=4.0)
    assert scaler.unscale_(_SGD([a, b, c], lr=0.0)) is False
    for p in (a, b, c):
        np.testing.assert_array_equal(p.grad.numpy(), [0.25, 0.25])
