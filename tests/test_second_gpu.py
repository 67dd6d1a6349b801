"""Every op family on the second GPU while the first is current: CuPy runs kernels and allocates
on the *current* GPU, so each op must switch to its tensors' device (forward and backward) and
leave its results there; values and gradients match the CPU run."""
from __future__ import annotations

import numpy as np
import pytest

import cugrad
import cugrad.nn.functional as F

rng = np.random.default_rng(3)
A = rng.standard_normal((4, 5))
B = rng.standard_normal((5, 3))
LABELS = np.array([0, 2, 1, 2])

OPS = {
    "arithmetic": lambda a, b: (a * 2.0 + a / 3.0 - a ** 2) @ b,
    "matmul": lambda a, b: cugrad.matmul(a, b),
    "linear": lambda a, b: F.linear(a, b.T, None),
    "reductions": lambda a, b: a.sum(axis=0) + a.mean(axis=0) + a.max(axis=0) + cugrad.var(a, axis=0),
    "shape": lambda a, b: cugrad.concatenate([a.reshape(5, 4), cugrad.transpose(a)], axis=0),
    "fancy_index": lambda a, b: a[np.array([0, 0, 3])],            # scatter-add backward, repeated rows
    "elementwise": lambda a, b: cugrad.where(a > 0, cugrad.exp(a), cugrad.abs(a)) + cugrad.clip(a, -0.5, 0.5),
    "kernel_activations": lambda a, b: F.relu(a) + F.gelu(a) + F.sigmoid(a) + F.tanh(a) + F.softplus(a),
    "softmax": lambda a, b: F.softmax(a, axis=1) + F.log_softmax(a, axis=1),
    "losses": lambda a, b: F.cross_entropy(a @ b, LABELS_T[a.device]) + F.mse_loss(a @ b, a[:, :3])
    + F.hinge_loss(a @ b, LABELS_T[a.device]),
}
LABELS_T = {}


@pytest.mark.gpu
@pytest.mark.parametrize("op", sorted(OPS))
def test_ops_run_on_the_second_gpu_while_the_first_is_current(op):
    if cugrad.cuda.device_count() < 2:
        pytest.skip("needs two GPUs")
    cp = cugrad.backend.cupy()
    results = {}
    for device in ("cpu", "cuda:1"):
        dev = cugrad.device(device)
        LABELS_T[dev] = cugrad.tensor(LABELS, device=device)
        a = cugrad.tensor(A, device=device, requires_grad=True)
        b = cugrad.tensor(B, device=device, requires_grad=True)
        with cp.cuda.Device(0):
            out = OPS[op](a, b)
            out.sum().backward()
        assert out.device == dev
        if device != "cpu":
            assert out.data.device.id == 1 and a.grad.data.device.id == 1
            assert b.grad is None or b.grad.data.device.id == 1
        results[device] = (out.numpy(), a.grad.numpy(), None if b.grad is None else b.grad.numpy())
    for got, want in zip(results["cuda:1"], results["cpu"]):
        if want is not None:
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.gpu
def test_tensor_methods_on_raw_arrays_run_on_the_second_gpu():
    """In-place arithmetic, assignment, comparisons and argmax work on the tensor's own GPU."""
    if cugrad.cuda.device_count() < 2:
        pytest.skip("needs two GPUs")
    cp = cugrad.backend.cupy()
    results = {}
    for device in ("cpu", "cuda:1"):
        t = cugrad.tensor(A, device=device)
        other = cugrad.tensor(A[::-1].copy(), device=device)
        with cp.cuda.Device(0):
            t += other
            t *= 2.0
            t[1:3] = other[0:2]
            t[0] = 5.0
            flags = (t > 0, t == other, t <= 1.0)
            arg = t.argmax(axis=1)
        if device != "cpu":
            assert all(f.data.device.id == 1 for f in flags) and arg.data.device.id == 1 and t.data.device.id == 1
        results[device] = [t.numpy(), arg.numpy()] + [f.numpy() for f in flags]
    for got, want in zip(results["cuda:1"], results["cpu"]):
        np.testing.assert_array_equal(got, want)


@pytest.mark.gpu
@pytest.mark.parametrize("overflow", [False, True])
def test_grad_scaler_and_zero_grad_on_the_second_gpu(overflow):
    """GradScaler unscales and checks each gradient on its GPU; zero_grad(set_to_none=False)
    clears gradients there."""
    if cugrad.cuda.device_count() < 2:
        pytest.skip("needs two GPUs")
    cp = cugrad.backend.cupy()
    results = {}
    for device in ("cpu", "cuda:1"):
        cugrad.manual_seed(0)
        model = cugrad.nn.Linear(5, 3).to(device)
        opt = cugrad.optim.SGD(model.parameters(), lr=0.1)
        scaler = cugrad.amp.GradScaler(init_scale=2.0 ** 10)
        x = cugrad.tensor(A * (1e38 if overflow else 1.0), device=device)
        with cp.cuda.Device(0):
            loss = (model(x) ** 2).sum()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            model.zero_grad(set_to_none=False)
        assert all(p.data.device.id == 1 for p in model.parameters()) if device != "cpu" else True
        results[device] = [p.numpy() for p in model.parameters()] + [p.grad.numpy() for p in model.parameters()]
    for got, want in zip(results["cuda:1"], results["cpu"]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
