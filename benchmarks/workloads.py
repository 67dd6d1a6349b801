"""The workloads the benchmarks time, written once for each implementation.

cugrad steps use the functional API on raw parameter tensors (``F.linear`` with the fused
activation, ``F.cross_entropy``, one fused ``kernels.sgd_step`` per tensor under ``no_grad``), so
they time the engine and kernels and nothing of the module layer. The twins are the obvious PyTorch
eager code and a flat NumPy step written as tightly as NumPy allows.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest

HEADLINE = (1024, 4096, 4096, 4096, 4096, 10)     # issue 6, batch 8192
HEADLINE_BATCH = 8192
CPU_MLP = (784, 1024, 1024, 10)                    # perf-notes' CPU case, batch 4096
CPU_MLP_BATCH = 4096
LR = 0.01


def init_params(sizes, seed=0, dtype=np.float32, bias=True, gain=1.0):
    """[(W (out, in), b (out,) or None)], PyTorch's default uniform(±gain/√fan_in) init, on the host.
    gain √6 is He-uniform: a deep ReLU stack keeps activations and gradients O(1) (with gain 1 the
    gradients of a 64-layer stack sink into float32 denormals, which OpenBLAS runs ~5× slower)."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = gain / math.sqrt(fan_in)
        w = _uniform(rng, (fan_out, fan_in), bound, dtype)
        b = _uniform(rng, (fan_out,), bound, dtype) if bias else None
        params.append((w, b))
    return params


def _uniform(rng, shape, bound, dtype):
    """uniform(-bound, bound) drawn directly in float32 (the 64 × 2048² deep MLP is 268 M numbers)."""
    a = rng.random(shape, dtype=np.float32)
    a *= np.float32(2 * bound)
    a -= np.float32(bound)
    return a.astype(dtype, copy=False)


def make_batch(batch, d_in, classes, seed=1, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((batch, d_in), dtype=np.float32).astype(dtype, copy=False),
            rng.integers(0, classes, batch).astype(np.int64))


# --------------------------------------------------------------------------- precision (cugrad)

def ours_precision(precision: str):
    """A context manager that runs cugrad at ``precision`` ("fp32", "tf32", "half"), or a skip
    naming the missing API: ``cugrad.set_matmul_precision("highest" | "high")`` (PyTorch's names)
    and ``cugrad.autocast(dtype=...)`` used as a context manager."""
    import cugrad

    if precision == "fp32":
        if hasattr(cugrad, "set_matmul_precision"):
            return _matmul_precision(cugrad, "highest")
        return contextlib.nullcontext()       # CuPy's default GEMM is full fp32 (unless CUPY_TF32=1)
    if precision == "tf32":
        if not hasattr(cugrad, "set_matmul_precision"):
            pytest.skip("cugrad.set_matmul_precision does not exist yet: no TF32 case for cugrad")
        return _matmul_precision(cugrad, "high")
    if precision == "half":
        if not hasattr(cugrad, "autocast"):
            pytest.skip("cugrad.autocast does not exist yet: no half-precision case for cugrad")
        return _ours_autocast(cugrad)
    raise ValueError(precision)


@contextlib.contextmanager
def _matmul_precision(cugrad, value):
    prev = cugrad.get_matmul_precision() if hasattr(cugrad, "get_matmul_precision") else "highest"
    cugrad.set_matmul_precision(value)
    try:
        yield value
    finally:
        cugrad.set_matmul_precision(prev)


@contextlib.contextmanager
def _ours_autocast(cugrad):
    """bfloat16 autocast, like the PyTorch twin (issue 6's baseline); float16 where bfloat16 is
    unavailable (it needs ml_dtypes). Yields the dtype name used."""
    last = None
    for dtype in ("bfloat16", "float16"):
        try:
            ctx = cugrad.autocast(dtype=dtype)
            ctx.__enter__()
        except (TypeError, ValueError, RuntimeError) as exc:
            last = exc
            continue
        try:
            yield dtype
        finally:
            ctx.__exit__(None, None, None)
        return
    pytest.skip(f"cugrad.autocast(dtype='bfloat16'/'float16') failed: {last}")


# --------------------------------------------------------------------------- cugrad

class OursMLP:
    """An MLP as raw cugrad parameter tensors; ``step()`` = forward + backward + SGD update."""

    def __init__(self, sizes, batch, device, seed=0, lr=LR, activation="relu", loss="xent", bias=True, opt="sgd"):
        import cugrad
        from cugrad import kernels
        from cugrad.nn import functional as F

        self.cugrad, self.kernels, self.F = cugrad, kernels, F
        self.lr, self.activation, self.loss_kind = lr, activation, loss
        self.layers = [(cugrad.Tensor(w, device=device, requires_grad=True),
                        None if b is None else cugrad.Tensor(b, device=device, requires_grad=True))
                       for w, b in init_params(sizes, seed, bias=bias)]
        self.params = [p for wb in self.layers for p in wb if p is not None]
        # "adam": cugrad.optim.Adam with its step count on the device, so compile_step can capture it
        self.opt = cugrad.optim.Adam(self.params, lr=lr, capturable=True) if opt == "adam" else None
        x, y = make_batch(batch, sizes[0], sizes[-1])
        self.x = cugrad.Tensor(x, device=device)
        if loss == "xent":
            self.y = cugrad.Tensor(y, device=device)
        else:  # squared loss against a dense target, as in the seeds
            self.y = cugrad.Tensor(np.random.default_rng(2).standard_normal((batch, sizes[-1])).astype(np.float32),
                                   device=device)

    def forward(self, x):
        F = self.F
        n = len(self.layers)
        for i, (w, b) in enumerate(self.layers):
            x = F.linear(x, w, b, activation=self.activation if i < n - 1 else None)
        return x

    def loss(self):
        out = self.forward(self.x)
        if self.loss_kind == "xent":
            return self.F.cross_entropy(out, self.y)
        return self.F.mse_loss(out, self.y, reduction="sum")

    def step(self):
        for p in self.params:
            p.grad = None
        loss = self.loss()
        loss.backward()
        if self.opt is not None:
            self.opt.step()
            return loss
        with self.cugrad.no_grad():
            for p in self.params:
                self.kernels.sgd_step(p.data, p.grad.data, None, self.lr)
        return loss


def gemm_shapes(sizes, batch):
    """The step's GEMMs as (m, k, n, op): forward x·Wᵀ, weight grad dzᵀ·x, input grad dz·W (none
    for the first layer, whose input needs no gradient)."""
    shapes = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes.append(("fwd", batch, fan_in, fan_out))
        shapes.append(("wgrad", fan_out, batch, fan_in))
        if i > 0:
            shapes.append(("dgrad", batch, fan_out, fan_in))
    return shapes


def gemm_step(xp, sizes, batch, dtype=np.float32, seed=0):
    """A callable running the step's GEMMs alone with ``xp`` (numpy or cupy), operands laid out as
    the engine lays them (transposed views, no copies), outputs preallocated."""
    # drawn where the arrays live: the headline's operands are 330 M numbers
    rng = np.random.default_rng(seed) if xp is np else xp.random.RandomState(seed)
    ops = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        x, w, dz = (xp.asarray(rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False))
                    for shape in ((batch, fan_in), (fan_out, fan_in), (batch, fan_out)))
        ops.append((x, w.T, xp.empty((batch, fan_out), dtype)))        # forward
        ops.append((dz.T, x, xp.empty((fan_out, fan_in), dtype)))       # weight grad
        if i > 0:
            ops.append((dz, w, xp.empty((batch, fan_in), dtype)))       # input grad

    def run():
        for a, b, out in ops:
            xp.matmul(a, b, out=out)
    return run


# --------------------------------------------------------------------------- flat NumPy

class NumpyMLP:
    """The same step in flat NumPy: in-place arithmetic, no autograd, preallocated buffers."""

    def __init__(self, sizes, batch, seed=0, lr=LR):
        self.layers = init_params(sizes, seed)
        self.x, self.y = make_batch(batch, sizes[0], sizes[-1])
        self.lr = lr
        self.rows = np.arange(batch)

    def step(self):
        n = len(self.layers)
        acts = [self.x]
        h = self.x
        for i, (w, b) in enumerate(self.layers):
            z = h @ w.T
            z += b
            if i < n - 1:
                np.maximum(z, 0, out=z)
            acts.append(z)
            h = z
        logits = acts[-1]
        m = logits.max(axis=1, keepdims=True)
        p = logits - m
        np.exp(p, out=p)
        s = p.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(s[:, 0]) + m[:, 0] - logits[self.rows, self.y]))
        p /= s
        p[self.rows, self.y] -= 1
        p /= logits.shape[0]
        g = p
        for i in range(n - 1, -1, -1):
            w, b = self.layers[i]
            h = acts[i]
            dw = g.T @ h
            db = g.sum(axis=0)
            if i > 0:
                g_prev = g @ w
                g_prev *= h > 0
            w -= self.lr * dw
            b -= self.lr * db
            if i > 0:
                g = g_prev
        return loss


# --------------------------------------------------------------------------- PyTorch

def torch_mlp(torch, sizes, device, activation="relu", bias=True, seed=0):
    layers = []
    n = len(sizes) - 1
    for i, (w, b) in enumerate(init_params(sizes, seed, bias=bias)):
        lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=bias)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
            if bias:
                lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if i < n - 1:
            layers.append(torch.nn.ReLU() if activation == "relu" else torch.nn.Sigmoid())
    return torch.nn.Sequential(*layers).to(device)


def torch_sgd(torch, params, lr=LR):
    """PyTorch's fastest plain SGD: fused where the build has it, else foreach."""
    params = list(params)
    for kw in ({"fused": True}, {"foreach": True}, {}):
        try:
            opt = torch.optim.SGD(params, lr=lr, **kw)
        except (RuntimeError, TypeError, ValueError):
            continue
        return opt, next(iter(kw), "for-loop")
    raise RuntimeError("torch.optim.SGD could not be built")


class TorchMLP:
    """``opt``: "sgd" (torch_sgd) or "adam" (foreach; ``capturable=True`` for a CUDA-graphed step)."""

    def __init__(self, torch, sizes, batch, device, lr=LR, activation="relu", loss="xent", bias=True, opt="sgd",
                 capturable=False):
        self.torch = torch
        self.model = torch_mlp(torch, sizes, device, activation, bias)
        if opt == "adam":
            self.opt = torch.optim.Adam(self.model.parameters(), lr=lr, foreach=True, capturable=capturable)
            self.opt_kind = "adam-foreach" + ("-capturable" if capturable else "")
        else:
            self.opt, self.opt_kind = torch_sgd(torch, self.model.parameters(), lr)
        x, y = make_batch(batch, sizes[0], sizes[-1])
        self.x = torch.from_numpy(x).to(device)
        self.loss_kind = loss
        if loss == "xent":
            self.y = torch.from_numpy(y).to(device)
        else:
            self.y = torch.from_numpy(np.random.default_rng(2).standard_normal((batch, sizes[-1])).astype(np.float32)).to(device)
        self.autocast = None

    def loss(self):
        out = self.model(self.x)
        F = self.torch.nn.functional
        if self.loss_kind == "xent":
            return F.cross_entropy(out.float(), self.y)
        return F.mse_loss(out, self.y, reduction="sum")

    def step(self):
        self.opt.zero_grad(set_to_none=True)
        if self.autocast is not None:
            with self.torch.autocast(self.x.device.type, dtype=self.autocast):
                loss = self.loss()
        else:
            loss = self.loss()
        loss.backward()
        self.opt.step()
        return loss


@contextlib.contextmanager
def torch_precision(torch, precision):
    """fp32: full-precision GEMMs; tf32: TF32 GEMMs; half: TF32 off, bf16 autocast set by the caller."""
    prev = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high" if precision == "tf32" else "highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(prev)


def torch_gemm_step(torch, sizes, batch, device, dtype):
    """PyTorch's own GEMMs of the step alone (same shapes and transposes as gemm_step)."""
    g = torch.Generator(device=device).manual_seed(0)
    ops = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        mk = lambda *s: torch.randn(*s, generator=g, device=device).to(dtype)  # noqa: E731
        x, w, dz = mk(batch, fan_in), mk(fan_out, fan_in), mk(batch, fan_out)
        ops.append((x, w.t(), torch.empty(batch, fan_out, device=device, dtype=dtype)))
        ops.append((dz.t(), x, torch.empty(fan_out, fan_in, device=device, dtype=dtype)))
        if i > 0:
            ops.append((dz, w, torch.empty(batch, fan_in, device=device, dtype=dtype)))

    def run():
        for a, b, out in ops:
            torch.matmul(a, b, out=out)
    return run
