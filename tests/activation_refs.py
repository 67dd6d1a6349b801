"""PyTorch's activations as the tests' reference, found by the table's names (torch.nn.functional
has every row under the same name, its parameter under the row's parameter name): adding a row
adds its tests without an edit here."""
from __future__ import annotations

import os

import numpy as np
import pytest

import cugrad
from cugrad.kernels import ACTIVATION_TABLE
from kernel_cases import RTOL

try:
    import torch
except ImportError:
    torch = None


def require_torch():
    """PyTorch, or a skip (a failure when CI is set: CI installs it)."""
    if torch is None:
        if os.environ.get("CI"):
            pytest.fail("torch is not installed (CI is set)")
        pytest.skip("torch is not installed")
    return torch


# PyTorch's float64 hardsigmoid backward multiplies by 1/6 rounded to float32 (0.1666666716...):
# a relative error of 3e-8 in its gradient, which ours (g/6) does not have.
GRAD_RTOL = {"hardsigmoid": 1e-7}


def grad_tol(name, dtype):
    """assert_allclose's tolerances for a gradient compared with torch_grad in ``dtype``."""
    r = max(RTOL[np.dtype(dtype)], GRAD_RTOL.get(name, 0.0))
    return dict(rtol=r, atol=r)


def _inverse(name, y):
    """x from the saved output y, for the rows whose backward reads y (relu and leaky_relu: the
    sign is all their derivative reads)."""
    return {"sigmoid": torch.logit, "tanh": torch.atanh}.get(name, lambda v: v)(y)


def param_values(name):
    """Values of row ``name``'s parameter to test: its default, then 0, ¼, ½ and 2 where the row
    accepts them (all exact in float32: PyTorch's float64 celu takes 1/alpha in float32)."""
    row = ACTIVATION_TABLE[name]
    candidates = dict.fromkeys((float(row.param[1]), 0.0, 0.25, 0.5, 2.0))
    return [p for p in candidates if row.check is None or row.check(p) is None]


def cugrad_fn(name):
    """cugrad's op for row ``name`` as a user calls it (the gelu row: ``gelu(approximate="none")``,
    gelu's default being the tanh form)."""
    if name == "gelu":
        return lambda x: cugrad.ops.gelu(x, approximate="none")
    return cugrad.ops.ACTIVATION_OPS[name]


def torch_fn(name, p=None):
    """x -> PyTorch's ``name``(x) with the row's parameter p (its default when None)."""
    require_torch()
    if name == "identity":
        return lambda x: x
    row = ACTIVATION_TABLE[name]
    kwargs = {} if row.param is None else {row.param[0]: row.param[1] if p is None else p}
    return lambda x: getattr(torch.nn.functional, name)(x, **kwargs)


def torch_forward(name, z, p=None):
    """act(z) in float64 by PyTorch."""
    fn = torch_fn(name, p)
    with torch.no_grad():
        return fn(torch.from_numpy(np.asarray(z, np.float64))).numpy()


def torch_grad(name, g, s, p=None):
    """g·act'(x) in float64 by PyTorch's autograd, from the saved array s (y or x, as the row says)."""
    s = require_torch().from_numpy(np.asarray(s, np.float64))
    x = _inverse(name, s) if ACTIVATION_TABLE[name].saves == "y" else s
    x = x.detach().requires_grad_(True)
    torch_fn(name, p)(x).backward(torch.from_numpy(np.asarray(g, np.float64)))
    return x.grad.numpy()


def saved(name, x, y):
    """The array the row's backward reads: its output y or its input x."""
    return y if ACTIVATION_TABLE[name].saves == "y" else x
